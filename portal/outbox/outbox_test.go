package outbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"tzportal/portal"
	"tzportal/portal/notify"
	"tzportal/portal/testkit"
)

func notifyMessage(d portal.Delivery) notify.Message {
	return notify.Message{ID: d.ID, To: d.Recipient, Subject: d.Subject, Body: d.Body}
}

// gateway stands in for the SMS gateway: it fails the first tries with 503,
// then accepts, and records what it accepted and how often it was asked.
type gateway struct {
	mu       sync.Mutex
	failures int // 503s still to give
	tries    int
	accepted []map[string]string
	keys     []string
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.tries++
	if g.failures > 0 {
		g.failures--
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	var m map[string]string
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	g.accepted = append(g.accepted, m)
	g.keys = append(g.keys, r.Header.Get("Idempotency-Key"))
	w.WriteHeader(http.StatusAccepted)
}

func (g *gateway) snapshot() (tries int, accepted []map[string]string, keys []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.tries, append([]map[string]string(nil), g.accepted...), append([]string(nil), g.keys...)
}

// mailServer is a real SMTP server (emersion/go-smtp) that keeps what it receives.
type mailServer struct {
	mu   sync.Mutex
	msgs []string
	rcpt []string
}

func (m *mailServer) NewSession(*smtp.Conn) (smtp.Session, error) { return &mailSession{m: m}, nil }

type mailSession struct {
	m    *mailServer
	rcpt string
}

func (s *mailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.rcpt = to
	return nil
}
func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	s.m.msgs = append(s.m.msgs, string(b))
	s.m.rcpt = append(s.m.rcpt, s.rcpt)
	return nil
}
func (s *mailSession) Reset()        {}
func (s *mailSession) Logout() error { return nil }

func startSMTP(t *testing.T) (*mailServer, string) {
	t.Helper()
	m := &mailServer{}
	srv := smtp.NewServer(m)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return m, ln.Addr().String()
}

// submitted makes an applicant (with an email address) hand in a residence
// permit application: its receipt is in the outbox.
func submitted(t *testing.T, p *testkit.Portal) string {
	t.Helper()
	u := p.MustApplicant(t, testkit.Applicants[0])
	if _, err := p.DB.SQL().Exec(`UPDATE users SET email = 'zhang.san@example.cn' WHERE id = $1`, u.ID); err != nil {
		t.Fatal(err)
	}
	c := p.NewClient(t)
	c.Login(testkit.Applicants[0].Mobile)
	r := c.Do("POST", "/api/v1/cases", map[string]any{"service": "residence-permit", "form": testkit.ResidenceForm()})
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	no := r.JSON(t)["case_no"].(string)
	c.AttachAll(no)
	if r := c.Do("POST", "/api/v1/cases/"+no+"/events/submit", nil); r.Status != 200 {
		t.Fatalf("submit: %d %s", r.Status, r.Body)
	}
	return no
}

func TestDeliveriesRetryThenSendOnce(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		gw := &gateway{failures: 2}
		hs := httptest.NewServer(gw)
		defer hs.Close()
		mail, addr := startSMTP(t)
		p := testkit.StartWith(t, testkit.Options{Backend: b, Env: map[string]string{
			"PORTAL_SMS_URL": hs.URL + "/send", "PORTAL_SMTP_URL": "smtp://" + addr + "?from=portal@taizhou.example.cn"}})
		submitted(t, p)
		ctx := context.Background()

		// First run: the SMS gateway is busy (503), the email goes out.
		sent, err := p.Outbox.RunOnce(ctx)
		if err != nil || sent != 1 {
			t.Fatalf("first run: sent %d, %v", sent, err)
		}
		// Not due again before its backoff ends.
		if sent, _ := p.Outbox.RunOnce(ctx); sent != 0 {
			t.Fatalf("a retry before its backoff: sent %d", sent)
		}
		for i := 0; i < 2; i++ {
			p.Clock.Advance(2 * time.Hour)
			if _, err := p.Outbox.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
		}
		tries, accepted, keys := gw.snapshot()
		if tries != 3 || len(accepted) != 1 {
			t.Fatalf("gateway: %d tries, %d accepted; want 3 tries (two 503s, retried) and one delivery", tries, len(accepted))
		}
		if accepted[0]["to"] != testkit.Applicants[0].Mobile || !strings.Contains(accepted[0]["text"], "张") || strings.Contains(accepted[0]["text"], "张三") ||
			strings.Contains(accepted[0]["text"], testkit.Applicants[0].IDNumber) || !strings.HasPrefix(keys[0], "notify-") {
			t.Errorf("SMS sent: %v %v", accepted[0], keys)
		}
		// Nothing more to send, however often the worker runs.
		p.Clock.Advance(24 * time.Hour)
		if sent, _ := p.Outbox.RunOnce(ctx); sent != 0 {
			t.Errorf("sent again: %d", sent)
		}
		if n := p.Count(t, `SELECT count(*) FROM deliveries WHERE status = 'sent'`); n != 2 {
			t.Errorf("sent deliveries: %d, want 2 (SMS and email)", n)
		}
		mail.mu.Lock()
		defer mail.mu.Unlock()
		if len(mail.msgs) != 1 || mail.rcpt[0] != "zhang.san@example.cn" || !strings.Contains(mail.msgs[0], "Message-ID: <notify-") {
			t.Fatalf("email: %v %v", mail.rcpt, mail.msgs)
		}
	})
}

func TestDeliveryFailsForGoodOn4xx(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "unknown number", http.StatusBadRequest)
		}))
		defer hs.Close()
		p := testkit.StartWith(t, testkit.Options{Backend: b, Env: map[string]string{"PORTAL_SMS_URL": hs.URL}})
		submitted(t, p)
		if _, err := p.Outbox.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		failed, err := p.DB.Deliveries(context.Background(), 0, portal.DeliveryFailed, 10)
		if err != nil || len(failed) != 1 || failed[0].Attempts != 1 || !strings.Contains(failed[0].LastError, "400") {
			t.Fatalf("a 4xx is not retried and stays visible as failed: %+v %v", failed, err)
		}
	})
}

// TestWorkerDiesBetweenSendAndAck: a worker claims a delivery, sends it and
// dies before recording it. The next worker sends it once more when the
// lease ends (the gateway sees the same idempotency key twice), then never
// again; the inbox shows the notice once.
func TestWorkerDiesBetweenSendAndAck(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		gw := &gateway{}
		hs := httptest.NewServer(gw)
		defer hs.Close()
		p := testkit.StartWith(t, testkit.Options{Backend: b, Env: map[string]string{"PORTAL_SMS_URL": hs.URL}})
		no := submitted(t, p)
		ctx := context.Background()

		// The dying worker: claim and send, no acknowledgement.
		var claimed []portal.Delivery
		now := p.Clock.Now()
		if err := p.DB.Tx(ctx, func(tx portal.Tx) error {
			var err error
			claimed, err = tx.ClaimDeliveries(ctx, now, now.Add(2*time.Minute), 10)
			return err
		}); err != nil || len(claimed) != 1 {
			t.Fatalf("claim: %v %v", claimed, err)
		}
		sms := p.Outbox.Senders["sms"]
		if err := sms.Send(ctx, notifyMessage(claimed[0])); err != nil {
			t.Fatal(err)
		}
		// While its lease runs, nobody else takes it.
		if sent, err := p.Outbox.RunOnce(ctx); err != nil || sent != 0 {
			t.Fatalf("during the lease: sent %d %v", sent, err)
		}
		p.Clock.Advance(3 * time.Minute)
		if sent, err := p.Outbox.RunOnce(ctx); err != nil || sent != 1 {
			t.Fatalf("after the lease: sent %d %v", sent, err)
		}
		p.Clock.Advance(time.Hour)
		if sent, _ := p.Outbox.RunOnce(ctx); sent != 0 {
			t.Fatalf("sent a third time")
		}
		_, accepted, keys := gw.snapshot()
		if len(accepted) != 2 || keys[0] != keys[1] {
			t.Errorf("gateway saw %d sends with keys %v: want 2 with one key", len(accepted), keys)
		}
		if n := p.Count(t, `SELECT count(*) FROM notifications n JOIN cases c ON c.id = n.case_id WHERE c.case_no = $1`, no); n != 1 {
			t.Errorf("inbox entries for the receipt: %d, want 1", n)
		}
	})
}

func TestClaimsDoNotOverlap(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		p := testkit.StartWith(t, testkit.Options{Backend: b})
		for i := 0; i < 3; i++ {
			_, c := p.NewApplicant(t, "申请人")
			r := c.Do("POST", "/api/v1/cases", map[string]any{"service": "residence-permit", "form": testkit.ResidenceForm()})
			no := r.JSON(t)["case_no"].(string)
			c.AttachAll(no)
			c.Do("POST", "/api/v1/cases/"+no+"/events/submit", nil)
		}
		ctx := context.Background()
		now := p.Clock.Now()
		var mu sync.Mutex
		seen := map[int64]int{}
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var got []portal.Delivery
				err := p.DB.Tx(ctx, func(tx portal.Tx) error {
					var err error
					got, err = tx.ClaimDeliveries(ctx, now, now.Add(time.Minute), 1)
					return err
				})
				if err != nil && !errors.Is(err, context.Canceled) {
					t.Error(err)
				}
				mu.Lock()
				for _, d := range got {
					seen[d.ID]++
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
		for id, n := range seen {
			if n != 1 {
				t.Errorf("delivery %d claimed %d times", id, n)
			}
		}
		if len(seen) != 3 {
			t.Errorf("4 workers claiming one each took %d of the 3 deliveries", len(seen))
		}
	})
}
