package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"tzportal/portal/testkit"
)

// permitOf takes an application through to the permit and returns its
// case number and the certificate's token.
func permitOf(t *testing.T, j *journey, c *testkit.Client) (string, map[string]any) {
	t.Helper()
	no := draft(t, c)
	c.AttachAll(no)
	fire(t, c, no, "submit", nil, 200)
	fire(t, j.clerk, no, "accept", nil, 200)
	fire(t, j.clerk, no, "approve", nil, 200)
	return no, c.Get("/api/v1/cases/" + no + "/certificate").JSON(t)
}

func tokenOf(cert map[string]any) string {
	u := cert["verify_url"].(string)
	return u[strings.LastIndex(u, "/")+1:]
}

func verifyStatus(t *testing.T, p *testkit.Portal, token string) map[string]any {
	t.Helper()
	r := p.NewClient(t).Get("/api/v1/verify/" + token)
	if r.Status != 200 {
		t.Fatalf("verify: %d %s", r.Status, r.Body)
	}
	return r.JSON(t)
}

// request files and submits an endorsement or replacement request; it
// returns the case number and the submit's status.
func request(t *testing.T, c *testkit.Client, form map[string]string) (string, *testkit.Response) {
	t.Helper()
	r := c.Do("POST", "/api/v1/cases", map[string]any{"service": "permit-endorsement", "form": form})
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	no := r.JSON(t)["case_no"].(string)
	return no, c.Do("POST", "/api/v1/cases/"+no+"/events/submit", nil)
}

// notice returns the applicant's newest notice of kind, or nil.
func notice(t *testing.T, c *testkit.Client, kind string) map[string]any {
	t.Helper()
	for _, it := range c.Get("/api/v1/notifications").JSON(t)["items"].([]any) {
		if n := it.(map[string]any); n["kind"] == kind {
			return n
		}
	}
	return nil
}

// runTimers fires the due timers and wants n fired.
func runTimers(t *testing.T, p *testkit.Portal, want int) {
	t.Helper()
	if n, err := p.Engine.RunDueTimers(context.Background()); err != nil || n != want {
		t.Fatalf("timers: fired %d (want %d), %v", n, want, err)
	}
}

func TestPermitAfterIssue(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		j := newJourney(t, b)
		rp, cert := permitOf(t, j, j.alice)
		token, number := tokenOf(cert), cert["number"].(string)
		form := map[string]string{"request": "endorsement", "permit_no": number, "division": "321202001"}
		relogin := func() {
			j.alice.Login(testkit.Applicants[0].Mobile)
			j.clerk.Login("clerk1")
		}

		// Too early: endorsement opens a month before the anniversary.
		no, r := request(t, j.alice, form)
		if r.Status != 422 || !strings.Contains(r.Text(), "endorsement_due") || !strings.Contains(r.Text(), "2027-10-30") {
			t.Fatalf("early endorsement: %d %s", r.Status, r.Body)
		}
		fire(t, j.alice, no, "discard", nil, 200)

		// The reminder and the suspension wait as timers.
		pending := func() int {
			return j.p.Count(t, `SELECT count(*) FROM jobs j JOIN cases c ON c.id = j.case_id
				WHERE c.case_no = $1 AND j.done_at IS NULL AND j.event LIKE 'certificate.%'`, rp)
		}
		if n := pending(); n != 2 {
			t.Fatalf("certificate timers after issue: %d, want the reminder and the suspension", n)
		}
		runTimers(t, j.p, 0)

		// A month before the anniversary, at nine: the holder is told, in
		// the inbox and by SMS, that the endorsement is open.
		j.p.Clock.Advance(334*24*time.Hour + 10*time.Hour) // 2027-10-30 ~10:00
		runTimers(t, j.p, 1)
		runTimers(t, j.p, 0)
		relogin()
		due := notice(t, j.alice, "residence-permit.endorsement_due")
		if due == nil || !strings.Contains(due["body"].(string), "2027-11-29") || due["case_no"] != rp {
			t.Fatalf("endorsement due notice: %v", due)
		}
		if n := j.p.Count(t, `SELECT count(*) FROM deliveries d JOIN notifications n ON n.id = d.notification_id
			WHERE n.kind = 'residence-permit.endorsement_due' AND d.channel = 'sms' AND d.body LIKE '%2027-11-29%'`); n != 1 {
			t.Errorf("endorsement due SMS: %d", n)
		}

		// In the month before: endorsed, valid a year more.
		j.p.Clock.Advance(6 * 24 * time.Hour) // 2027-11-05
		relogin()
		no, r = request(t, j.alice, form)
		if r.Status != 200 {
			t.Fatalf("endorsement: %d %s", r.Status, r.Body)
		}
		fire(t, j.clerk, no, "approve", nil, 200)
		v := verifyStatus(t, j.p, token)
		if v["status"] != "valid" || v["valid_until"] != "2028-11-29" {
			t.Fatalf("after the endorsement: %v", v)
		}
		if res := j.alice.Get("/api/v1/cases/" + rp).JSON(t)["result"].(map[string]any); res["valid_until"] != "2028-11-29" || res["endorsed_on"] != "2027-11-05" {
			t.Errorf("the permit after the endorsement: %v", res)
		}

		if n := pending(); n != 2 {
			t.Fatalf("certificate timers after the endorsement: %d, want the next reminder and suspension", n)
		}

		// Not endorsed by the next anniversary: suspended — at once on the
		// verify page, and by the timer in the register, with a notice. A
		// reminder whose date has passed is not sent late.
		j.p.Clock.Advance(400 * 24 * time.Hour) // 2028-12-09
		relogin()
		if v := verifyStatus(t, j.p, token); v["status"] != "suspended" {
			t.Fatalf("after a missed anniversary: %v", v)
		}
		runTimers(t, j.p, 1)
		runTimers(t, j.p, 0)
		if n := j.p.Count(t, `SELECT count(*) FROM certificates WHERE number = $1 AND status = 'suspended'`, number); n != 1 {
			t.Errorf("the register does not hold the permit as suspended")
		}
		if n := j.p.Count(t, `SELECT count(*) FROM audit_log WHERE action = 'certificate.suspend' AND object = $1 AND actor = 'scheduler'`, "certificate:"+number); n != 1 {
			t.Errorf("suspension audit entries: %d", n)
		}
		if n := notice(t, j.alice, "residence-permit.suspended"); n == nil || !strings.Contains(n["body"].(string), "2028-11-29") {
			t.Errorf("suspension notice: %v", n)
		}
		if n := j.p.Count(t, `SELECT count(*) FROM notifications WHERE kind = 'residence-permit.endorsement_due'`); n != 1 {
			t.Errorf("endorsement due notices: %d, want only the first year's", n)
		}
		// A late endorsement restores it; the continuous years start again.
		no, r = request(t, j.alice, form)
		if r.Status != 200 {
			t.Fatalf("late endorsement: %d %s", r.Status, r.Body)
		}
		fire(t, j.clerk, no, "approve", nil, 200)
		if v := verifyStatus(t, j.p, token); v["status"] != "valid" || v["valid_until"] != "2029-12-08" {
			t.Fatalf("after the late endorsement: %v", v)
		}
		if n := j.p.Count(t, `SELECT count(*) FROM certificates WHERE number = $1 AND status = 'valid'`, number); n != 1 {
			t.Errorf("the late endorsement did not restore the permit in the register")
		}
		if page := j.alice.Get("/cases/" + rp + "/certificate").Text(); !strings.Contains(page, "2028-12-09") {
			t.Error("the certificate does not show the restarted count of continuous years")
		}

		// Lost: a new number; the old token answers revoked.
		no, r = request(t, j.alice, map[string]string{"request": "replacement", "permit_no": number, "division": "321202001", "replacement_reason": "lost"})
		if r.Status != 200 {
			t.Fatalf("replacement: %d %s", r.Status, r.Body)
		}
		fire(t, j.clerk, no, "approve", nil, 200)
		if v := verifyStatus(t, j.p, token); v["status"] != "revoked" {
			t.Errorf("the lost permit's token: %v", v)
		}
		cert2 := j.alice.Get("/api/v1/cases/" + rp + "/certificate").JSON(t)
		if cert2["number"] == number || cert2["status"] != "valid" || cert2["valid_until"] != "2029-12-08" {
			t.Fatalf("the replacement: %v", cert2)
		}
		token2 := tokenOf(cert2)
		if v := verifyStatus(t, j.p, token2); v["status"] != "valid" || v["number"] != cert2["number"] {
			t.Errorf("the new token: %v", v)
		}

		// Cancellation by the window, with a reason: only staff of the street.
		if r := j.alice.Do("POST", "/api/v1/cases/"+rp+"/certificate/cancel", map[string]any{"reason": "x"}); r.Status != 403 {
			t.Errorf("the holder cancelling: %d", r.Status)
		}
		j.otherClerk.Login("westclerk")
		if r := j.otherClerk.Do("POST", "/api/v1/cases/"+rp+"/certificate/cancel", map[string]any{"reason": "x"}); r.Status != 404 {
			t.Errorf("a clerk of another street: %d", r.Status)
		}
		if r := j.clerk.Do("POST", "/api/v1/cases/"+rp+"/certificate/cancel", map[string]any{"reason": ""}); r.Status != 422 {
			t.Errorf("no reason: %d", r.Status)
		}
		r = j.clerk.Do("POST", "/api/v1/cases/"+rp+"/certificate/cancel", map[string]any{"reason": "持证人已离开泰州"})
		if r.Status != 200 || r.JSON(t)["status"] != "revoked" {
			t.Fatalf("cancel: %d %s", r.Status, r.Body)
		}
		if v := verifyStatus(t, j.p, token2); v["status"] != "revoked" {
			t.Errorf("the cancelled permit's token: %v", v)
		}
		if n := pending(); n != 0 {
			t.Errorf("a cancelled permit still has %d timers", n)
		}
		if page := j.alice.Get("/cases/" + rp).Text(); !strings.Contains(page, "持证人已离开泰州") {
			t.Error("the holder does not see why the permit was cancelled")
		}
		if r := j.clerk.Do("POST", "/api/v1/cases/"+rp+"/certificate/cancel", map[string]any{"reason": "again"}); r.Status != 409 {
			t.Errorf("cancelling twice: %d", r.Status)
		}
	})
}
