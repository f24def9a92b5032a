package server_test

import (
	"net/http"
	"strings"
	"testing"

	"tzportal/portal/testkit"
)

// wantKeyReused checks a refusal of an Idempotency-Key sent again with
// another request: 422, naming the header and the rule, in the client's
// language.
func wantKeyReused(t *testing.T, what string, r *testkit.Response) {
	t.Helper()
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Text(), `"field":"Idempotency-Key","rule":"idempotency_reused"`) ||
		!strings.Contains(r.Text(), "已用于另一份申请") {
		t.Errorf("%s: %d %s, want 422 naming Idempotency-Key and idempotency_reused", what, r.Status, r.Body)
	}
}

// TestIdempotencyKeyReusedForAnotherRequest: a key answers only the request
// it was first sent with. Sent again with another body — another form for a
// new application, another move-out reference for a confirmation — it is
// refused (422), and nothing changes: no second case, no second step, the
// first answer's data kept.
func TestIdempotencyKeyReusedForAnotherRequest(t *testing.T) {
	testkit.EachBackend(t, testIdempotencyKeyReusedForAnotherRequest)
}

func testIdempotencyKeyReusedForAnotherRequest(t *testing.T, b testkit.Backend) {
	r := newHukouRig(t, testkit.Options{Backend: b})
	_, app := r.p.NewApplicant(t, "卫六")

	// A new application, then another form under the same key.
	create := func(form map[string]any) *testkit.Response {
		return app.Do("POST", "/api/v1/cases", map[string]any{"service": "hukou-transfer", "form": form}, "Idempotency-Key", "apply-1")
	}
	first := create(r.hukouForm(t))
	if first.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", first.Status, first.Body)
	}
	no := first.JSON(t)["case_no"].(string)
	wantKeyReused(t, "another form under the same key", create(r.hukouForm(t, "address", "海陵区凤凰路99号")))
	if n := r.p.Count(t, "SELECT count(*) FROM cases WHERE service = 'hukou-transfer'"); n != 1 {
		t.Errorf("cases after the key was reused: %d, want 1", n)
	}
	if n := r.p.Count(t, "SELECT count(*) FROM audit_log WHERE action = 'case.create'"); n != 1 {
		t.Errorf("case.create audit entries: %d, want 1", n)
	}
	doc := app.Do("GET", "/api/v1/cases/"+no, nil).JSON(t)
	if doc["version"] != float64(1) || doc["form"].(map[string]any)["address"] != r.hukouForm(t)["address"] {
		t.Errorf("the first case after the key was reused: version %v, form %v", doc["version"], doc["form"])
	}
	// The first form under its key still answers as the first time did.
	if again := create(r.hukouForm(t)); again.Status != http.StatusCreated || again.JSON(t)["case_no"] != no {
		t.Errorf("the same form under its key: %d %s", again.Status, again.Body)
	}

	// A confirmation of the move-out, then another reference under its key.
	app.AttachAll(no)
	fire(t, app, no, "submit", nil, http.StatusOK)
	fire(t, r.clerk, no, "accept", nil, http.StatusOK)
	if m := fire(t, r.officer, no, "approve", nil, http.StatusOK); m["state"] != "awaiting_move_out" {
		t.Fatalf("approved: %v", m["state"])
	}
	confirm := func(reference string) *testkit.Response {
		return r.system(t, "POST", "/api/v1/cases/"+no+"/events/confirm_move_out",
			map[string]any{"reference": reference, "confirmed_on": "2026-11-30"}, "Idempotency-Key", "confirm-1")
	}
	res := confirm("丰公户迁字〔2026〕第2001号")
	if res.Status != http.StatusOK || res.JSON(t)["state"] != "settled" {
		t.Fatalf("confirm_move_out: %d %s", res.Status, res.Body)
	}
	version := res.JSON(t)["version"]
	wantKeyReused(t, "another reference under the same key", confirm("丰公户迁字〔2026〕第2002号"))
	if n := r.p.Count(t, "SELECT count(*) FROM case_history WHERE event = 'confirm_move_out'"); n != 1 {
		t.Errorf("confirmations recorded: %d, want 1", n)
	}
	doc = app.Do("GET", "/api/v1/cases/"+no, nil).JSON(t)
	if doc["state"] != "settled" || doc["version"] != version || doc["result"].(map[string]any)["move_out_reference"] != "丰公户迁字〔2026〕第2001号" {
		t.Errorf("the case after the key was reused: %v v%v, result %v", doc["state"], doc["version"], doc["result"])
	}
}
