package server_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"tzportal/portal"
	"tzportal/portal/testkit"
)

// faultyStore fails or panics in ListCases when told to.
type faultyStore struct {
	portal.Store
	mode *atomic.Value // "", "panic", "error"
}

func (s faultyStore) ListCases(ctx context.Context, f portal.CaseFilter) ([]portal.Case, error) {
	switch s.mode.Load() {
	case "panic":
		var m map[string]int
		m["boom"]++ // a nil map write: a real bug's panic
	case "error":
		return nil, errors.New(`pq: relation "cases" does not exist (SELECT id, case_no FROM cases WHERE applicant_id = $1)`)
	}
	return s.Store.ListCases(ctx, f)
}

// syncBuffer is a log sink the server's goroutines share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
func (w *syncBuffer) String() string { w.mu.Lock(); defer w.mu.Unlock(); return w.b.String() }

// A bug (a panic) or a database error in a handler gives a generic,
// localized answer with a request id — no SQL, no stack — and the process
// serves the next request; the log has the details under the same id.
func TestHandlerFailuresAreGeneric(t *testing.T) {
	mode := &atomic.Value{}
	mode.Store("")
	logs := &syncBuffer{}
	p := testkit.StartWith(t, testkit.Options{
		Logger:    slog.New(slog.NewJSONHandler(logs, nil)),
		WrapStore: func(s portal.Store) portal.Store { return faultyStore{Store: s, mode: mode} },
	})
	p.MustApplicant(t, testkit.Applicants[0])
	c := p.NewClient(t)
	c.Login(testkit.Applicants[0].Mobile)
	for _, m := range []string{"panic", "error"} {
		mode.Store(m)
		r := c.Do("GET", "/api/v1/cases", nil)
		body := r.JSON(t)
		rid, _ := body["request_id"].(string)
		if r.Status != 500 || body["code"] != "internal" || rid == "" {
			t.Fatalf("%s: %d %s", m, r.Status, r.Body)
		}
		page := c.Get("/cases")
		for _, leak := range []string{"pq:", "SELECT", "goroutine", "nil map", "panic", ".go:"} {
			if strings.Contains(r.Text(), leak) || strings.Contains(page.Text(), leak) {
				t.Errorf("%s: the answer shows %q", m, leak)
			}
		}
		if page.Status != 500 || !strings.Contains(page.Text(), "系统出错了") || !strings.Contains(page.Text(), "请求编号") {
			t.Errorf("%s page: %d", m, page.Status)
		}
		if !strings.Contains(logs.String(), rid) {
			t.Errorf("%s: the log has nothing under request id %s", m, rid)
		}
		mode.Store("")
		if r := c.Do("GET", "/api/v1/cases", nil); r.Status != 200 {
			t.Errorf("after the %s, the next request: %d", m, r.Status)
		}
	}
	if !strings.Contains(logs.String(), "nil map") || !strings.Contains(logs.String(), "goroutine") {
		t.Error("the panic and its stack are not in the log")
	}
}

// A ciphertext changed in the database is an integrity error, audited, not
// a crash and never a wrong number; everything else keeps working.
func TestTamperedIDNumber(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		p := testkit.Start(t, b, nil)
		a := testkit.Applicants[0]
		p.MustApplicant(t, a)
		p.MustStaff(t, "clerk1", "street_clerk", "321202001")
		app, clerk := p.NewClient(t), p.NewClient(t)
		app.Login(a.Mobile)
		clerk.Login("clerk1")
		if got := app.Do("GET", "/api/v1/session", nil).JSON(t)["id_number"]; got != a.IDNumber {
			t.Errorf("the applicant's own ID number: %v", got)
		}
		wantText(t, app.Get("/account"), "account page", a.IDNumber)
		no := app.Do("POST", "/api/v1/cases", map[string]any{"service": "residence-permit", "form": testkit.ResidenceForm()}).JSON(t)["case_no"].(string)
		app.AttachAll(no)
		app.Do("POST", "/api/v1/cases/"+no+"/events/submit", nil)
		if m := clerk.Do("GET", "/api/v1/cases/"+no, nil).JSON(t); m["applicant"].(map[string]any)["id_number"] != "321202********0017" {
			t.Errorf("staff see: %v", m["applicant"])
		}
		// Flip one byte of the ciphertext.
		if b.Postgres {
			_, err := p.DB.SQL().Exec("UPDATE users SET id_cipher = set_byte(id_cipher, 20, get_byte(id_cipher, 20) # 1) WHERE mobile = $1", a.Mobile)
			if err != nil {
				t.Fatal(err)
			}
		} else {
			var c []byte
			p.DB.SQL().QueryRow("SELECT id_cipher FROM users WHERE mobile = $1", a.Mobile).Scan(&c)
			c[20] ^= 1
			if _, err := p.DB.SQL().Exec("UPDATE users SET id_cipher = $1 WHERE mobile = $2", c, a.Mobile); err != nil {
				t.Fatal(err)
			}
		}
		r := clerk.Do("POST", "/api/v1/cases/"+no+"/reveal", nil)
		if r.Status != 500 || !strings.Contains(r.Text(), "完整性校验") || strings.Contains(r.Text(), "cipher") {
			t.Errorf("reveal of a tampered number: %d %s", r.Status, r.Body)
		}
		if got := p.Count(t, "SELECT count(*) FROM audit_log WHERE action = 'idnumber.reveal' AND result = 'failed'"); got != 1 {
			t.Errorf("failed reveal audited: %d", got)
		}
		if m := clerk.Do("GET", "/api/v1/cases/"+no, nil); m.Status != 200 || !strings.Contains(m.Text(), "******************") {
			t.Errorf("the case page with a tampered number: %d", m.Status)
		}
		if r := app.Do("GET", "/api/v1/session", nil); r.Status != 200 || r.JSON(t)["id_number"] != nil {
			t.Errorf("the session with a tampered number: %d %s", r.Status, r.Body)
		}
		if r := app.Get("/account"); r.Status != 500 || !strings.Contains(r.Text(), "完整性校验") {
			t.Errorf("the applicant's account page: %d", r.Status)
		}
	})
}

// TestIdleConnectionIsNotAnError: a connection that sends no request within
// the read timeout gets HTTP's bare 408, and the log no error.
func TestIdleConnectionIsNotAnError(t *testing.T) {
	var logs syncBuffer
	p := testkit.StartWith(t, testkit.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	// fasthttp hands a read timeout to the app's error handler with a
	// context that holds no request.
	app := p.Server.App()
	c := app.AcquireCtx(&fasthttp.RequestCtx{})
	defer app.ReleaseCtx(c)
	if err := app.ErrorHandler(c, fiber.ErrRequestTimeout); err != nil {
		t.Fatal(err)
	}
	if st, body := c.Response().StatusCode(), string(c.Response().Body()); st != fiber.StatusRequestTimeout || strings.Contains(body, "<html") {
		t.Errorf("idle connection: %d %q", st, body)
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("an idle connection logged an error:\n%s", logs.String())
	}
}
