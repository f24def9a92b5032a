package server_test

import (
	"context"
	"net/http"
	"testing"

	"tzportal/portal"
	"tzportal/portal/testkit"
)

// Two installations — each its own database — share one Redis under the
// same key prefix, as staging and training might, or a database re-created
// beside an old Redis. Their accounts have the same ids, yet neither
// touches the other's keys: a clerk locked out of one logs in to the other
// with the same id, and the sessions one installation ends (an account
// disabled) are only its own.
func TestInstallationsShareNoKeys(t *testing.T) {
	if !testkit.External() {
		t.Skip("PORTAL_TEST_EXTERNAL=off: skipping a Redis test")
	}
	redisURL, prefix := testkit.Redis(t)
	start := func() *testkit.Portal {
		return testkit.StartWith(t, testkit.Options{Backend: testkit.Backend{Redis: true}, RedisURL: redisURL, RedisPrefix: prefix})
	}
	a, b := start(), start()
	ua, ub := a.MustStaff(t, "clerk", "street_clerk", "321202001"), b.MustStaff(t, "clerk", "street_clerk", "321202001")
	if ua.ID != ub.ID {
		t.Fatalf("the two clerks have ids %d and %d: the test needs the same id in both", ua.ID, ub.ID)
	}
	inB := b.NewClient(t)
	inB.Login("clerk")
	inA := a.NewClient(t)
	inA.Login("clerk")

	// Locked out of A: five wrong passwords.
	wrong := a.NewClient(t)
	for range 5 {
		if r := wrong.Do("POST", "/api/v1/session", map[string]string{"login": "clerk", "password": "not the password"}); r.Status == http.StatusOK {
			t.Fatalf("a wrong password logged in: %s", r.Body)
		}
	}
	if r := a.NewClient(t).Do("POST", "/api/v1/session", map[string]string{"login": "clerk", "password": testkit.Password,
		"otp": a.OTP(t, "clerk")}); r.Status == http.StatusOK {
		t.Fatalf("A's clerk logged in while locked out")
	}
	// B's clerk, with the same id, is not.
	fresh := b.NewClient(t)
	fresh.Login("clerk")

	// A disables its clerk: A's sessions end, B's go on.
	if err := a.Accounts.DisableStaff(context.Background(), portal.Actor{System: "test"}, "clerk"); err != nil {
		t.Fatal(err)
	}
	if r := inA.Get("/api/v1/cases"); r.Status != http.StatusUnauthorized {
		t.Errorf("A's session after A disabled its clerk: %d", r.Status)
	}
	for _, c := range []*testkit.Client{inB, fresh} {
		if r := c.Get("/api/v1/cases"); r.Status != http.StatusOK {
			t.Errorf("B's session after A disabled its own clerk: %d %s", r.Status, r.Body)
		}
	}
}
