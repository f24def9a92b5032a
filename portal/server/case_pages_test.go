package server_test

import (
	"net/http"
	"strings"
	"testing"

	"tzportal/portal/testkit"
)

// TestWorklistFilterNamesTheService: both services have a "submitted"; the
// clerk who picks 户口迁移 › 已提交 sees the transfers only, with that one
// option chosen.
func TestWorklistFilterNamesTheService(t *testing.T) {
	r := newHukouRig(t, testkit.Options{})
	_, a := r.p.NewApplicant(t, "王芳")
	rp := (&journey{}).create(t, a, testkit.ResidenceForm())
	fire(t, a, rp, "submit", nil, http.StatusOK)
	_, b := r.p.NewApplicant(t, "陈静")
	hk := r.apply(t, b, r.hukouForm(t))

	page := r.clerk.Get("/cases?state=hukou-transfer:submitted")
	if page.Status != http.StatusOK || !strings.Contains(page.Text(), hk) || strings.Contains(page.Text(), rp) {
		t.Errorf("transfers handed in: %d, shows the transfer %v, the permit %v", page.Status, strings.Contains(page.Text(), hk), strings.Contains(page.Text(), rp))
	}
	if n := strings.Count(page.Text(), " selected>"); n != 1 || !strings.Contains(page.Text(), `<option value="hukou-transfer:submitted" selected>`) {
		t.Errorf("%d options chosen, want the transfers' 已提交", n)
	}
	all := r.clerk.Get("/cases?state=residence-permit:submitted")
	if !strings.Contains(all.Text(), rp) || strings.Contains(all.Text(), hk) {
		t.Errorf("permits handed in: shows the permit %v, the transfer %v", strings.Contains(all.Text(), rp), strings.Contains(all.Text(), hk))
	}
	// The API's filter is unchanged: a state of any service.
	api := r.clerk.Do("GET", "/api/v1/cases?state=submitted", nil)
	if items := api.JSON(t)["items"].([]any); len(items) != 2 {
		t.Errorf("API, state=submitted: %d cases, want both", len(items))
	}
}

// TestActionErrorsLinkToTheirInputs: the summary of a refused action links
// to the input beside which the error is shown (<event>-<input>).
func TestActionErrorsLinkToTheirInputs(t *testing.T) {
	r := newHukouRig(t, testkit.Options{})
	_, b := r.p.NewApplicant(t, "陈静")
	no := r.apply(t, b, r.hukouForm(t))
	page := r.clerk.Get("/cases/" + no)
	res := r.clerk.Post("/cases/"+no+"/events/reject", "_csrf", testkit.FormToken(t, page.Text()), "version", "2", "reason", "")
	wantStatus(t, res, http.StatusUnprocessableEntity, "a refusal without its reason")
	wantText(t, res, "the summary links to the reason", `href="#reject-reason"`, `id="reject-reason"`)
}

// TestAMembersRevealSaysWhose: a family member's place in the list may
// change (the applicant edits it in a correction); the audit entry of a
// reveal keeps whose number was seen: its blind index.
func TestAMembersRevealSaysWhose(t *testing.T) {
	r := newHukouRig(t, testkit.Options{})
	_, b := r.p.NewApplicant(t, "陈静")
	spouse := testkit.IDNumber("32032119900215004")
	no := r.apply(t, b, r.hukouForm(t, "members", []any{member("spouse", "王芳", spouse)}))
	if rv := r.clerk.Do("POST", "/api/v1/cases/"+no+"/reveal", map[string]string{"field": "members[0].id_number"}); rv.Status != http.StatusOK {
		t.Fatalf("reveal: %d %s", rv.Status, rv.Body)
	}
	want := `"id_index":"` + r.p.Accounts.Sealer.Index(spouse) + `"`
	if n := r.p.Count(t, `SELECT count(*) FROM audit_log WHERE action = 'idnumber.reveal' AND object = $1 AND result = 'ok' AND detail LIKE $2`,
		"case:"+no, "%"+want+"%"); n != 1 {
		t.Errorf("reveal entries naming whose number: %d, want 1 (%s)", n, want)
	}
}
