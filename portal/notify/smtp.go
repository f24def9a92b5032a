package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strconv"
	"strings"

	gomail "github.com/wneessen/go-mail"
)

// SMTP sends email through one SMTP server, one connection per message. It is
// safe for concurrent use.
type SMTP struct {
	host   string
	opts   []gomail.Option
	from   *mail.Address
	domain string // of from: the right-hand side of every Message-ID
}

// NewSMTP configures an SMTP sender from a URL:
//
//	smtp://user:pass@host:port?from=portal@example.gov.cn   STARTTLS when offered, port 587 by default
//	smtps://user:pass@host:port?from=portal@example.gov.cn  implicit TLS, port 465 by default
//
// from is required. Without user and password there is no authentication;
// with them, AUTH PLAIN, which go-mail sends only over TLS or to localhost.
// tls=skip-verify turns certificate verification off, for test servers only.
func NewSMTP(rawURL string) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// A *url.Error repeats the URL, password included.
		return nil, fmt.Errorf("notify.NewSMTP: %w", redactURL(err))
	}
	var port int
	var opts []gomail.Option
	switch u.Scheme {
	case "smtp":
		port = gomail.DefaultPortTLS
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	case "smtps":
		port = gomail.DefaultPortSSL
		opts = append(opts, gomail.WithSSL())
	default:
		return nil, fmt.Errorf("notify.NewSMTP: scheme %q: want smtp or smtps", u.Scheme)
	}
	host := u.Hostname()
	if host == "" {
		return nil, errors.New("notify.NewSMTP: no host")
	}
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("notify.NewSMTP: port %q: %w", p, err)
		}
	}
	opts = append(opts, gomail.WithPort(port))

	q := u.Query()
	tlsConf := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	for k, v := range q {
		switch {
		case k == "from":
		case k == "tls" && len(v) == 1 && v[0] == "skip-verify":
			tlsConf.InsecureSkipVerify = true
		default:
			// A misspelt option would otherwise be ignored silently.
			return nil, fmt.Errorf("notify.NewSMTP: unknown query parameter %s=%s", k, strings.Join(v, ","))
		}
	}
	opts = append(opts, gomail.WithTLSConfig(tlsConf))
	if q.Get("from") == "" {
		return nil, errors.New("notify.NewSMTP: the from query parameter (the sender address) is required")
	}
	from, err := mail.ParseAddress(q.Get("from"))
	if err != nil {
		return nil, fmt.Errorf("notify.NewSMTP: from: %w", err)
	}
	domain := from.Address[strings.LastIndex(from.Address, "@")+1:]

	if user := u.User.Username(); user != "" {
		pass, _ := u.User.Password()
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthPlain),
			gomail.WithUsername(user), gomail.WithPassword(pass))
	}

	s := &SMTP{host: host, opts: opts, from: from, domain: domain}
	// Build one client now so that a bad option fails at start-up, not on the
	// first delivery.
	if _, err := s.client(); err != nil {
		return nil, fmt.Errorf("notify.NewSMTP: %w", err)
	}
	return s, nil
}

// client returns a fresh go-mail client. Send builds one per message because
// a go-mail Client holds per-connection state behind its own locks; a fresh
// one keeps concurrent sends independent.
func (s *SMTP) client() (*gomail.Client, error) {
	return gomail.NewClient(s.host, s.opts...)
}

// MessageID returns the Message-ID of delivery id, without angle brackets: a
// resend carries the same one, so that mail clients and servers can tell it
// is the same message.
func (s *SMTP) MessageID(id int64) string {
	return fmt.Sprintf("notify-%d@%s", id, s.domain)
}

// Send delivers m as a UTF-8 plain-text email in one SMTP session. A 5xx reply
// to the recipient or the data (a refused recipient, a rejected message) is
// permanent, and so is an unparsable recipient address. 4xx replies and
// connection, TLS, authentication and sender failures are temporary: they are
// about the server or our configuration, not this message, and a later attempt
// can succeed. ctx bounds the connection set-up; each command after it is
// bounded by go-mail's own timeout (15 s).
func (s *SMTP) Send(ctx context.Context, m Message) error {
	c, err := s.client()
	if err != nil {
		return fmt.Errorf("notify.SMTP.Send: %w", err)
	}
	// UTF-8 and quoted-printable (go-mail's defaults) need no 8BITMIME. The
	// default User-Agent would advertise the mail library and its version.
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(s.from)
	if err := msg.To(m.To); err != nil {
		return Permanent(fmt.Errorf("notify.SMTP.Send: recipient: %w", err))
	}
	msg.Subject(m.Subject)
	msg.SetBodyString(gomail.TypeTextPlain, m.Body)
	msg.SetMessageIDWithValue(s.MessageID(m.ID))
	msg.SetDate()

	err = c.DialAndSendWithContext(ctx, msg)
	if err == nil || msg.IsDelivered() {
		// The server accepted the message; a failing RSET or QUIT afterwards
		// must not make the worker send it a second time.
		return nil
	}
	if refused(err) {
		return Permanent(fmt.Errorf("notify.SMTP.Send: %w", err))
	}
	return fmt.Errorf("notify.SMTP.Send: %w", err)
}

// refused reports whether the server refused this message for good: a 5xx
// reply to RCPT TO or to the data. A 5xx to MAIL FROM is not counted: the
// sender is the same for every message, so that refusal (authentication
// required, sender not allowed) is about our configuration, and the delivery
// can go out once it is fixed.
func refused(err error) bool {
	var se *gomail.SendError
	if !errors.As(err, &se) || se.ErrorCode() < 500 || se.ErrorCode() > 599 {
		return false
	}
	switch se.Reason {
	case gomail.ErrSMTPRcptTo, gomail.ErrSMTPData, gomail.ErrSMTPDataClose:
		return true
	}
	return false
}
