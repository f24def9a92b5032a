package notify_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/google/go-cmp/cmp"

	"tzportal/portal/notify"
)

// received is one message the test server accepted.
type received struct {
	From   string
	To     []string
	Data   []byte
	TLS    bool // the session was encrypted
	Authed bool // the client authenticated
}

// mailServer is a real SMTP server that records what it accepts. With a user
// set it requires AUTH PLAIN; recipients at refused.example and
// busy.example are rejected with 550 and 451.
type mailServer struct {
	user, pass string

	mu   sync.Mutex
	msgs []received
}

func (b *mailServer) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{b: b, conn: c}, nil
}

func (b *mailServer) messages() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]received(nil), b.msgs...)
}

type session struct {
	b      *mailServer
	conn   *smtp.Conn
	authed bool
	cur    received
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if s.b.user == "" || user != s.b.user || pass != s.b.pass {
			return smtp.ErrAuthFailed
		}
		s.authed = true
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.b.user != "" && !s.authed {
		return smtp.ErrAuthRequired
	}
	s.cur = received{From: from}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	switch {
	case strings.HasSuffix(to, "@refused.example"):
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
	case strings.HasSuffix(to, "@busy.example"):
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
	}
	s.cur.To = append(s.cur.To, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.Data = data
	_, s.cur.TLS = s.conn.TLSConnectionState()
	s.cur.Authed = s.authed
	s.b.mu.Lock()
	s.b.msgs = append(s.b.msgs, s.cur)
	s.b.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.cur = received{} }
func (s *session) Logout() error { return nil }

// startSMTP serves b on 127.0.0.1 and returns the address. With implicitTLS
// the listener speaks TLS from the first byte (smtps); with startTLS the
// server offers STARTTLS. Both use a self-signed certificate.
func startSMTP(t *testing.T, b *mailServer, implicitTLS, startTLS bool) string {
	t.Helper()
	srv := smtp.NewServer(b)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0) // the refused-certificate test makes it complain
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if implicitTLS || startTLS {
		conf := &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}
		if implicitTLS {
			l = tls.NewListener(l, conf)
		} else {
			srv.TLSConfig = conf
		}
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// selfSigned returns a throwaway certificate for 127.0.0.1.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "notify test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// email is the message every delivery test sends.
var email = notify.Message{
	ID:      42,
	To:      "zhang.san@example.com",
	Subject: "户口迁移申请已受理",
	Body:    "张三，您好：\n您的户口迁移申请 TZ-2026-0001 已受理。\n泰州市公安局",
}

// parsed is what a recipient sees of a received message.
type parsed struct {
	TLS, Authed  bool
	EnvelopeFrom string
	EnvelopeTo   []string
	From         string
	To           string
	Subject      string
	MessageID    string
	Body         string
}

func parse(t *testing.T, r received) parsed {
	t.Helper()
	m, err := netmail.ReadMessage(strings.NewReader(string(r.Data)))
	if err != nil {
		t.Fatalf("received message: %v\n%s", err, r.Data)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatalf("Subject %q: %v", m.Header.Get("Subject"), err)
	}
	if ct := m.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") || !strings.Contains(strings.ToLower(ct), "utf-8") {
		t.Errorf("Content-Type = %q, want UTF-8 plain text", ct)
	}
	var body io.Reader = m.Body
	if strings.EqualFold(m.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	text, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	return parsed{
		TLS:          r.TLS,
		Authed:       r.Authed,
		EnvelopeFrom: r.From,
		EnvelopeTo:   r.To,
		From:         m.Header.Get("From"),
		To:           m.Header.Get("To"),
		Subject:      subject,
		MessageID:    m.Header.Get("Message-ID"),
		// The line ending go-mail puts after the last line is not the body's.
		Body: strings.TrimSuffix(strings.ReplaceAll(string(text), "\r\n", "\n"), "\n"),
	}
}

func TestSMTPDelivers(t *testing.T) {
	tests := []struct {
		name          string
		user, pass    string
		implicit, tls bool
		url           string // %s is the server's address
	}{
		{"plain no auth", "", "", false, false, "smtp://%s?from=portal@example.gov.cn"},
		// go-mail sends PLAIN credentials without TLS only to localhost.
		{"plain auth to localhost", "portal", "pa:ss@word", false, false,
			"smtp://portal:pa%%3Ass%%40word@%s?from=portal@example.gov.cn"},
		{"starttls auth", "portal", "secret", false, true,
			"smtp://portal:secret@%s?from=portal@example.gov.cn&tls=skip-verify"},
		{"smtps auth", "portal", "secret", true, false,
			"smtps://portal:secret@%s?from=portal@example.gov.cn&tls=skip-verify"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &mailServer{user: tt.user, pass: tt.pass}
			s, err := notify.NewSMTP(fmt.Sprintf(tt.url, startSMTP(t, b, tt.implicit, tt.tls)))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Send(context.Background(), email); err != nil {
				t.Fatalf("Send: %v", err)
			}
			msgs := b.messages()
			if len(msgs) != 1 {
				t.Fatalf("server received %d messages, want 1", len(msgs))
			}
			want := parsed{
				TLS:          tt.implicit || tt.tls,
				Authed:       tt.user != "",
				EnvelopeFrom: "portal@example.gov.cn",
				EnvelopeTo:   []string{"zhang.san@example.com"},
				From:         "<portal@example.gov.cn>",
				To:           "<zhang.san@example.com>",
				Subject:      email.Subject,
				MessageID:    "<notify-42@example.gov.cn>",
				Body:         email.Body,
			}
			if diff := cmp.Diff(want, parse(t, msgs[0])); diff != "" {
				t.Errorf("received message (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSMTPResendKeepsMessageID(t *testing.T) {
	b := &mailServer{}
	s, err := notify.NewSMTP("smtp://" + startSMTP(t, b, false, false) + "?from=" +
		"%E6%B3%B0%E5%B7%9E%E6%94%BF%E5%8A%A1+%3Cportal@example.gov.cn%3E") // 泰州政务 <portal@…>
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.Send(context.Background(), email); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	msgs := b.messages()
	if len(msgs) != 2 {
		t.Fatalf("server received %d messages, want 2", len(msgs))
	}
	first, second := parse(t, msgs[0]), parse(t, msgs[1])
	if first.MessageID != "<notify-42@example.gov.cn>" || second.MessageID != first.MessageID {
		t.Errorf("Message-IDs = %q, %q, want <notify-42@example.gov.cn> twice", first.MessageID, second.MessageID)
	}
	if from, err := (&netmail.AddressParser{WordDecoder: new(mime.WordDecoder)}).Parse(first.From); err != nil ||
		from.Name != "泰州政务" || from.Address != "portal@example.gov.cn" {
		t.Errorf("From = %q (%v), want 泰州政务 <portal@example.gov.cn>", first.From, err)
	}
}

func TestSMTPFailures(t *testing.T) {
	tests := []struct {
		name          string
		user, pass    string // the server's
		url           string // %s is the server's address
		to            string
		wantPermanent bool
	}{
		{"recipient refused 550", "", "", "smtp://%s?from=portal@example.gov.cn", "nobody@refused.example", true},
		{"recipient deferred 451", "", "", "smtp://%s?from=portal@example.gov.cn", "someone@busy.example", false},
		{"bad recipient address", "", "", "smtp://%s?from=portal@example.gov.cn", "not an address", true},
		// A wrong password is our configuration, not this message: once it is
		// fixed the delivery can go out.
		{"wrong password", "portal", "secret", "smtp://portal:wr0ngpass@%s?from=portal@example.gov.cn", email.To, false},
		// So is a 5xx to MAIL FROM: the sender is the same for every message.
		{"auth required", "portal", "secret", "smtp://%s?from=portal@example.gov.cn", email.To, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &mailServer{user: tt.user, pass: tt.pass}
			s, err := notify.NewSMTP(fmt.Sprintf(tt.url, startSMTP(t, b, false, false)))
			if err != nil {
				t.Fatal(err)
			}
			m := email
			m.To = tt.to
			err = s.Send(context.Background(), m)
			if err == nil || notify.IsPermanent(err) != tt.wantPermanent {
				t.Fatalf("Send = %v (permanent %v), want an error, permanent %v", err, notify.IsPermanent(err), tt.wantPermanent)
			}
			if !strings.HasPrefix(err.Error(), "notify.SMTP.Send: ") {
				t.Errorf("error %q does not name the operation", err)
			}
			if strings.Contains(err.Error(), "wr0ngpass") {
				t.Errorf("error %q holds a password", err)
			}
			if n := len(b.messages()); n != 0 {
				t.Errorf("server accepted %d messages, want none", n)
			}
		})
	}
}

func TestSMTPTemporaryConnectionFailures(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	tlsAddr := startSMTP(t, &mailServer{}, true, false)
	tests := []struct{ name, url string }{
		{"connection refused", "smtp://" + closed + "?from=portal@example.gov.cn"},
		// Without tls=skip-verify the self-signed certificate is refused.
		{"unverified certificate", "smtps://" + tlsAddr + "?from=portal@example.gov.cn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := notify.NewSMTP(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			err = s.Send(context.Background(), email)
			if err == nil || notify.IsPermanent(err) {
				t.Fatalf("Send = %v, want a temporary error", err)
			}
		})
	}
}

func TestNewSMTPRejects(t *testing.T) {
	tests := []struct{ name, url, want string }{
		{"no from", "smtp://mail.example.gov.cn", "from"},
		{"bad from", "smtp://mail.example.gov.cn?from=portal", "from"},
		{"scheme", "http://mail.example.gov.cn?from=portal@example.gov.cn", "scheme"},
		{"no host", "smtp://?from=portal@example.gov.cn", "host"},
		{"bad port", "smtp://mail.example.gov.cn:0?from=portal@example.gov.cn", "port"},
		{"unknown parameter", "smtp://mail.example.gov.cn?from=portal@example.gov.cn&tls=off", "tls"},
		{"unparsable", "smtp://portal:hunter2@mail.example.gov.cn:port?from=portal@example.gov.cn", "port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := notify.NewSMTP(tt.url)
			if err == nil {
				t.Fatalf("NewSMTP(%q) = nil error", tt.url)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "notify.NewSMTP: ") || !strings.Contains(msg, tt.want) {
				t.Errorf("NewSMTP(%q) = %q, want it to name %q", tt.url, msg, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q holds the password", err)
			}
		})
	}
}

func TestSMTPMessageID(t *testing.T) {
	s, err := notify.NewSMTP("smtps://mail.example.gov.cn?from=portal@example.gov.cn")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.MessageID(42); got != "notify-42@example.gov.cn" {
		t.Errorf("MessageID(42) = %q", got)
	}
}
