package server_test

import (
	"net/http"
	"strings"
	"testing"

	"tzportal/portal/testkit"
)

// submitTransfer drafts a transfer, uploads its materials and tries to hand
// it in; it returns the draft's number and the hand-in's response.
func (r *hukouRig) submitTransfer(t *testing.T, c *testkit.Client, form map[string]any) (string, *testkit.Response) {
	t.Helper()
	res := c.Do("POST", "/api/v1/cases", map[string]any{"service": "hukou-transfer", "form": form})
	if res.Status != http.StatusCreated {
		t.Fatalf("draft: %d %s", res.Status, res.Body)
	}
	no := res.JSON(t)["case_no"].(string)
	c.AttachAll(no) // the checklist's materials: what is refused is the hand-in itself
	return no, c.Do("POST", "/api/v1/cases/"+no+"/events/submit", nil)
}

// TestHukouCorrectionAndResubmit: the street returns a family's
// application with a checklist; while it waits on the applicant nobody in
// it can be handed in by another family; the applicant sees the checklist,
// may not add someone who is in another open transfer (409, the member
// named, the other case not), corrects and hands in again, and the street
// goes on with it.
func TestHukouCorrectionAndResubmit(t *testing.T) {
	testkit.EachBackend(t, testHukouCorrectionAndResubmit)
}

func testHukouCorrectionAndResubmit(t *testing.T, b testkit.Backend) {
	r := newHukouRig(t, testkit.Options{Backend: b})
	_, alice := r.p.NewApplicant(t, "沈一")
	_, bob := r.p.NewApplicant(t, "沈二")
	_, carol := r.p.NewApplicant(t, "沈三")
	child := testkit.IDNumber("32032120160303003")
	bobsWife := testkit.IDNumber("32032119910404004")
	parent := testkit.IDNumber("32032119620505005")
	no := r.apply(t, alice, r.hukouForm(t, "members", []any{member("child", "沈小一", child)}))
	bobNo := r.apply(t, bob, r.hukouForm(t, "members", []any{member("spouse", "周芳", bobsWife)}))

	m := fire(t, r.clerk, no, "request_correction", map[string]any{"reason": "请补充子女的出生医学证明", "items": []string{"kinship_proof"}}, http.StatusOK)
	if m["state"] != "correction" {
		t.Fatalf("after request_correction: %v", m["state"])
	}
	page := alice.Get("/cases/" + no)
	wantText(t, page, "the applicant's page in correction", "需补正", "需要补正的内容（一次性告知）", "请补充子女的出生医学证明",
		"随迁家庭成员的亲属关系证明（结婚证、出生医学证明、户口簿等，每人一份）", "请按下面的清单补正材料，修改申请后重新提交。", "剩余 31 天（截至 2026-12-30）")

	// The child is still claimed by Alice's case while it waits on her.
	carolNo, res := r.submitTransfer(t, carol, r.hukouForm(t, "members", []any{member("child", "沈小一", child)}))
	if res.Status != http.StatusConflict || !strings.Contains(res.Text(), `"field":"members[0].id_number"`) {
		t.Errorf("another family hands in the child of a case in correction: %d %s", res.Status, res.Body)
	}

	// Alice adds Bob's wife, who is in Bob's open transfer: refused, naming
	// the member and not Bob's case; her case is as it was.
	before := alice.Do("GET", "/api/v1/cases/"+no, nil).JSON(t)
	res = alice.Do("PUT", "/api/v1/cases/"+no+"/form", map[string]any{"form": r.hukouForm(t,
		"members", []any{member("child", "沈小一", child), member("spouse", "周芳", bobsWife)})})
	if res.Status != http.StatusConflict || !strings.Contains(res.Text(), `"field":"members[1].id_number"`) || strings.Contains(res.Text(), bobNo) {
		t.Errorf("adding a member of another open transfer during correction: %d %s", res.Status, res.Body)
	}
	after := alice.Do("GET", "/api/v1/cases/"+no, nil).JSON(t)
	if after["version"] != before["version"] || len(after["form"].(map[string]any)["members"].([]any)) != 1 {
		t.Errorf("the refused edit changed the case: version %v → %v, members %v", before["version"], after["version"], after["form"].(map[string]any)["members"])
	}
	if n := r.p.Count(t, "SELECT count(*) FROM audit_log WHERE action = 'case.claim' AND result = 'denied' AND object = $1", "case:"+no); n != 1 {
		t.Errorf("the refused claim in the audit trail: %d entries", n)
	}

	// She corrects (a parent joins, with the parent's kinship proof) and
	// hands in again.
	res = alice.Do("PUT", "/api/v1/cases/"+no+"/form", map[string]any{"form": r.hukouForm(t,
		"members", []any{member("child", "沈小一", child), member("parent", "沈父", parent)})})
	if res.Status != http.StatusOK || res.JSON(t)["state"] != "correction" {
		t.Fatalf("the correction: %d %s", res.Status, res.Body)
	}
	alice.AttachAll(no)
	if m := fire(t, alice, no, "submit", nil, http.StatusOK); m["state"] != "submitted" {
		t.Fatalf("handed in again: %v", m["state"])
	}
	// Both the child and the parent who joined are claimed by her case now.
	fire(t, carol, carolNo, "discard", nil, http.StatusOK)
	for _, who := range []map[string]any{member("child", "沈小一", child), member("parent", "沈父", parent)} {
		no2, res := r.submitTransfer(t, carol, r.hukouForm(t, "members", []any{who}))
		if res.Status != http.StatusConflict {
			t.Errorf("another family hands in %s of a case handed in again: %d %s", who["name"], res.Status, res.Body)
		}
		fire(t, carol, no2, "discard", nil, http.StatusOK)
	}
	doc := fire(t, r.clerk, no, "accept", nil, http.StatusOK)
	var events []string
	for _, s := range doc["timeline"].([]any) {
		events = append(events, s.(map[string]any)["event"].(string))
	}
	if got := strings.Join(events, " "); got != "create submit request_correction edit submit accept" {
		t.Errorf("the timeline: %s", got)
	}
	if doc["state"] != "district_review" {
		t.Errorf("accepted after the correction: %v", doc["state"])
	}
	checkFsck(t, r.p)
}

// TestHukouWithdrawFromDistrictReview: the applicant withdraws, on the case
// page, while the district reviews; the district can no longer decide, and
// the family is free to apply again.
func TestHukouWithdrawFromDistrictReview(t *testing.T) {
	testkit.EachBackend(t, testHukouWithdrawFromDistrictReview)
}

func testHukouWithdrawFromDistrictReview(t *testing.T, b testkit.Backend) {
	r := newHukouRig(t, testkit.Options{Backend: b})
	_, web := r.p.NewApplicant(t, "杨五")
	child := testkit.IDNumber("32032120170808008")
	form := r.hukouForm(t, "members", []any{member("child", "杨小五", child)})
	no := r.apply(t, web, form)
	fire(t, r.clerk, no, "accept", nil, http.StatusOK)

	page := web.Get("/cases/" + no)
	wantText(t, page, "in district review", "区级审核中", `<details class="confirm">`, "撤回申请", "确认撤回")
	wantRedirect(t, web.Post("/cases/"+no+"/events/withdraw", "_csrf", testkit.FormToken(t, page.Text()),
		"version", testkit.FormField(page.Text(), "version")), "/cases/"+no, "withdraw")
	page = web.Get("/cases/" + no)
	wantText(t, page, "withdrawn", "已撤回", "申请已撤回。如仍需办理，可以重新申请。")
	if strings.Contains(page.Text(), "确认撤回") {
		t.Error("a withdrawn case still offers to withdraw")
	}
	if res := r.officer.Do("POST", "/api/v1/cases/"+no+"/events/approve", nil); res.Status != http.StatusConflict {
		t.Errorf("the district approves a withdrawn case: %d %s", res.Status, res.Body)
	}
	// The applicant and the child are free again: a new transfer is handed in.
	again := r.apply(t, web, form)
	if again == no {
		t.Errorf("applying again gave the withdrawn case back")
	}
}

// TestHukouRefusalsAsTheApplicantSeesThem: refused at the street's precheck
// and at the district's review, the applicant's case page shows the
// decision, the reason the staff wrote and how to appeal; the family is
// free to apply again.
func TestHukouRefusalsAsTheApplicantSeesThem(t *testing.T) {
	testkit.EachBackend(t, testHukouRefusalsAsTheApplicantSeesThem)
}

func testHukouRefusalsAsTheApplicantSeesThem(t *testing.T, b testkit.Backend) {
	r := newHukouRig(t, testkit.Options{Backend: b})
	for _, tc := range []struct {
		name, reason, child string
		decide              func(t *testing.T, no, reason string)
	}{
		{"at the street", "所填住址不在城东街道辖区", testkit.IDNumber("32032120180909009"), func(t *testing.T, no, reason string) {
			// The clerk refuses on the case page.
			clerk := r.p.NewClient(t)
			wantRedirect(t, clerk.LoginHTML("clerk1"), "/cases", "clerk login")
			cp := clerk.Get("/cases/" + no)
			wantRedirect(t, clerk.Post("/cases/"+no+"/events/reject", "_csrf", testkit.FormToken(t, cp.Text()),
				"version", testkit.FormField(cp.Text(), "version"), "reason", reason), "/cases/"+no, "the street refuses")
		}},
		{"at the district", "经核查，申报的租赁备案编号与登记信息不符", testkit.IDNumber("32032120181010010"), func(t *testing.T, no, reason string) {
			fire(t, r.clerk, no, "accept", nil, http.StatusOK)
			fire(t, r.officer, no, "reject", map[string]any{}, http.StatusUnprocessableEntity) // a refusal gives its reason
			fire(t, r.officer, no, "reject", map[string]any{"reason": reason}, http.StatusOK)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, web := r.p.NewApplicant(t, "朱"+tc.name)
			form := r.hukouForm(t, "members", []any{member("child", "朱小", tc.child)})
			no := r.apply(t, web, form)
			tc.decide(t, no, tc.reason)
			page := web.Get("/cases/" + no)
			wantText(t, page, "the applicant's page", "不予办理", "不予办理决定", "理由：</strong> "+tc.reason,
				"您的申请未获批准，原因和救济途径见下面。", "行政复议", "行政诉讼")
			if strings.Contains(page.Text(), "撤回申请") {
				t.Error("a refused case still offers to withdraw")
			}
			if doc := web.Do("GET", "/api/v1/cases/"+no, nil).JSON(t); doc["state"] != "rejected" {
				t.Errorf("refused %s: %v", tc.name, doc["state"])
			}
			// A refusal ends the case: the same family may apply again.
			r.apply(t, web, form)
		})
	}
}
