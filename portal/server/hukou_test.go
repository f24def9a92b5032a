package server_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tzportal/portal"
	"tzportal/portal/pii"
	"tzportal/portal/testkit"
)

// hukouRig is a portal with the people a hukou transfer meets: the street
// clerk of 城东街道, two district officers of 海陵区, an officer of another
// district, one person holding both a street and a district grant, a
// supervisor, and the origin registry's system account.
type hukouRig struct {
	p                               *testkit.Portal
	clerk, officer, officer2, other *testkit.Client
	both, sup                       *testkit.Client
	token                           string
}

func newHukouRig(t *testing.T, o testkit.Options) *hukouRig {
	t.Helper()
	p := testkit.StartWith(t, o)
	r := &hukouRig{p: p}
	p.MustStaff(t, "clerk1", "street_clerk", "321202001")
	p.MustStaff(t, "officer", "district_officer", "321202")
	p.MustStaff(t, "officer2", "district_officer", "321202")
	p.MustStaff(t, "gaogang", "district_officer", "321203")
	p.MustStaff(t, "sup", "supervisor", "321200")
	p.MustStaff(t, "both", "street_clerk", "321202001")
	if err := p.Accounts.Grant(context.Background(), portalActor(), "both", portal.Grant{Role: "district_officer", Division: "321202"}); err != nil {
		t.Fatal(err)
	}
	login := func(l string) *testkit.Client { c := p.NewClient(t); c.Login(l); return c }
	r.clerk, r.officer, r.officer2, r.other, r.both, r.sup = login("clerk1"), login("officer"), login("officer2"), login("gaogang"), login("both"), login("sup")
	_, token, err := p.Accounts.AddSystem(context.Background(), portalActor(), "registry", "江苏省徐州市丰县公安局户籍系统", "origin_registry", "321200")
	if err != nil {
		t.Fatal(err)
	}
	r.token = token
	return r
}

// system calls the API as the origin registry: a bearer token, no cookie.
func (r *hukouRig) system(t *testing.T, method, path string, body any, headers ...string) *testkit.Response {
	t.Helper()
	return r.p.NewClient(t).Do(method, path, body, append([]string{"Authorization", "Bearer " + r.token}, headers...)...)
}

// hukouForm is the example form with changes (nil deletes a key).
func (r *hukouRig) hukouForm(t *testing.T, kv ...any) map[string]any {
	t.Helper()
	f := r.p.Example(t, "hukou-transfer")
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(f, kv[i].(string))
		} else {
			f[kv[i].(string)] = kv[i+1]
		}
	}
	return f
}

// apply creates a transfer, uploads its materials and submits it; it
// returns the case number.
func (r *hukouRig) apply(t *testing.T, c *testkit.Client, form map[string]any) string {
	t.Helper()
	res := c.Do("POST", "/api/v1/cases", map[string]any{"service": "hukou-transfer", "form": form})
	if res.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", res.Status, res.Body)
	}
	no := res.JSON(t)["case_no"].(string)
	c.AttachAll(no) // the checklist's materials, key and non-key
	fire(t, c, no, "submit", nil, http.StatusOK)
	return no
}

// member is a family member for a form.
func member(relation, name, id string) map[string]any {
	return map[string]any{"relation": relation, "name": name, "id_number": id}
}

// permit gives an applicant a valid residence permit (approved by the clerk).
func (r *hukouRig) permit(t *testing.T, c *testkit.Client) string {
	t.Helper()
	no := (&journey{}).create(t, c, testkit.ResidenceForm("address", "海陵区东进东路18号3幢201室", "resided_since", "2024-05-01"))
	fire(t, c, no, "submit", nil, http.StatusOK)
	fire(t, r.clerk, no, "accept", nil, http.StatusOK)
	fire(t, r.clerk, no, "approve", nil, http.StatusOK)
	return no
}

func TestHukouTransferAcrossRegions(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		r := newHukouRig(t, testkit.Options{Backend: b})
		_, app := r.p.NewApplicant(t, "李明")
		permit := r.permit(t, app)
		spouse := testkit.IDNumber("32032119900215004")
		child := testkit.IDNumber("32032120150610003")
		badChild := testkit.BadIDNumber(child)
		form := r.hukouForm(t, "members", []any{member("spouse", "王芳", spouse), member("child", "李小明", badChild)},
			"prior_residence", []any{map[string]any{"city": "320100", "from": "2018-03-01", "to": "2021-02-28"}})

		// A family of two, the child's ID number mistyped: the error names the member.
		res := app.Do("POST", "/api/v1/cases", map[string]any{"service": "hukou-transfer", "form": form})
		if res.Status != http.StatusUnprocessableEntity || !strings.Contains(res.Text(), `"field":"members[1].id_number"`) ||
			!strings.Contains(res.Text(), "第2位家庭成员的公民身份号码") {
			t.Fatalf("a bad checksum for member 2: %d %s", res.Status, res.Body)
		}
		form["members"] = []any{member("spouse", "王芳", spouse), member("child", "李小明", child)}
		// Sent twice with one key (a lost answer, a double tap): one case,
		// though its sealed ID numbers differ each time they are sealed.
		first := app.Do("POST", "/api/v1/cases", map[string]any{"service": "hukou-transfer", "form": form}, "Idempotency-Key", "family-1")
		again := app.Do("POST", "/api/v1/cases", map[string]any{"service": "hukou-transfer", "form": form}, "Idempotency-Key", "family-1")
		if first.Status != http.StatusCreated || again.Status != http.StatusCreated || first.JSON(t)["case_no"] != again.JSON(t)["case_no"] {
			t.Fatalf("one key twice: %d %s / %d %s", first.Status, first.Body, again.Status, again.Body)
		}
		no := first.JSON(t)["case_no"].(string)
		app.AttachAll(no) // the checklist's materials, a kinship proof per member
		fire(t, app, no, "submit", nil, http.StatusOK)
		if !strings.HasPrefix(no, "TZHK20261130") {
			t.Errorf("case number %s: want TZHK + the day", no)
		}

		// Staff see the family members masked; the applicant in clear.
		staffView := r.clerk.Do("GET", "/api/v1/cases/"+no, nil).JSON(t)
		members := staffView["form"].(map[string]any)["members"].([]any)
		if got := members[0].(map[string]any)["id_number"]; got != pii.MaskID(spouse) {
			t.Errorf("the clerk sees member 1's ID number as %v, want %s", got, pii.MaskID(spouse))
		}
		if strings.Contains(string(r.clerk.Do("GET", "/api/v1/cases/"+no, nil).Body), spouse) {
			t.Error("the clerk's view holds a member's full ID number")
		}
		own := app.Do("GET", "/api/v1/cases/"+no, nil).JSON(t)["form"].(map[string]any)["members"].([]any)
		if own[1].(map[string]any)["id_number"] != child {
			t.Errorf("the applicant sees her child's number as %v", own[1])
		}
		stored := ""
		if err := r.p.DB.SQL().QueryRow("SELECT form FROM cases WHERE case_no = $1", no).Scan(&stored); err != nil || !strings.Contains(stored, "王芳") {
			t.Fatalf("the stored form of %s: %v %.300s", no, err, stored) // else the check below would pass on nothing
		}
		if strings.Contains(stored, spouse) || strings.Contains(stored, child) {
			t.Error("a family member's ID number is stored in clear")
		}
		// Revealing one is possible for the clerk, and audited.
		rv := r.clerk.Do("POST", "/api/v1/cases/"+no+"/reveal", map[string]string{"field": "members[0].id_number"})
		if rv.Status != http.StatusOK || rv.JSON(t)["id_number"] != spouse {
			t.Errorf("reveal member 1: %d %s", rv.Status, rv.Body)
		}
		if n := r.p.Count(t, `SELECT count(*) FROM audit_log WHERE action = 'idnumber.reveal' AND object = $1 AND result = 'ok'`, "case:"+no); n != 1 {
			t.Errorf("reveal audit entries: %d", n)
		}

		// The street accepts; the district decides; nobody else.
		if res := r.system(t, "POST", "/api/v1/cases/"+no+"/events/accept", nil); res.Status != http.StatusForbidden {
			t.Errorf("the registry accepts at the street: %d", res.Status)
		}
		fire(t, r.clerk, no, "accept", nil, http.StatusOK)
		fire(t, r.clerk, no, "approve", nil, http.StatusForbidden) // the street clerk: not the district's decision
		fire(t, r.other, no, "approve", nil, http.StatusNotFound)  // another district: out of reach
		// The registry fires its own event only: 403 for any other, on every case.
		if res := r.system(t, "POST", "/api/v1/cases/"+no+"/events/approve", nil); res.Status != http.StatusForbidden {
			t.Errorf("the registry approves a case that does not wait on it: %d", res.Status)
		}
		if res := r.system(t, "GET", "/api/v1/cases/"+no, nil); res.Status != http.StatusNotFound {
			t.Errorf("the registry reads a case that does not wait on it: %d", res.Status)
		}
		doc := fire(t, r.officer, no, "approve", nil, http.StatusOK)
		result := doc["result"].(map[string]any)
		if doc["state"] != "awaiting_move_out" || !regexp.MustCompile(`^ZQ3212022026\d{6}$`).MatchString(fmt.Sprint(result["transfer_permit_no"])) ||
			result["settle_into"] != "address" || result["members"] != float64(3) {
			t.Fatalf("approved from another province: %v, result %v", doc["state"], result)
		}
		if due := doc["due"].(map[string]any); due["working_days"] != false || due["last_day"] != "2026-12-30" {
			t.Errorf("waiting for the move-out: due %v (30 days)", due)
		}

		// The registry sees what waits on it, and nothing else.
		list := r.system(t, "GET", "/api/v1/cases?state=awaiting_move_out", nil)
		if items := list.JSON(t)["items"].([]any); list.Status != 200 || len(items) != 1 || items[0].(map[string]any)["case_no"] != no {
			t.Fatalf("the registry's list: %d %s", list.Status, list.Body)
		}
		for _, ev := range []string{"accept", "approve", "record_move_out"} {
			if res := r.system(t, "POST", "/api/v1/cases/"+no+"/events/"+ev, map[string]any{}); res.Status != http.StatusForbidden {
				t.Errorf("the registry fires %s: %d %s", ev, res.Status, res.Body)
			}
		}
		// It confirms the move-out: no session, no CSRF token, no cookie.
		body := map[string]any{"reference": "丰公户迁字〔2026〕第1138号", "confirmed_on": "2026-11-30"}
		res = r.system(t, "POST", "/api/v1/cases/"+no+"/events/confirm_move_out", body, "Idempotency-Key", "confirm-"+no)
		if res.Status != http.StatusOK || res.JSON(t)["state"] != "settled" || res.Header.Get("Set-Cookie") != "" {
			t.Fatalf("confirm_move_out: %d %s (Set-Cookie %q)", res.Status, res.Body, res.Header.Get("Set-Cookie"))
		}
		settled := res.JSON(t)
		version := settled["version"]
		// Sent again, with the same key or the same reference, it answers as the first did.
		for what, h := range map[string][]string{"same key": {"Idempotency-Key", "confirm-" + no}, "same reference": nil} {
			again := r.system(t, "POST", "/api/v1/cases/"+no+"/events/confirm_move_out", body, h...)
			if again.Status != http.StatusOK || again.JSON(t)["state"] != "settled" || again.JSON(t)["version"] != version {
				t.Errorf("confirmation again (%s): %d %s", what, again.Status, again.Body)
			} else if !reflect.DeepEqual(again.JSON(t), settled) {
				t.Errorf("confirmation again (%s) answers otherwise than the first:\n%s\n%s", what, res.Body, again.Body)
			}
		}
		if res := r.system(t, "POST", "/api/v1/cases/"+no+"/events/confirm_move_out", map[string]any{"reference": "另一个", "confirmed_on": "2026-11-30"}); res.Status != http.StatusConflict {
			t.Errorf("another reference after the first: %d %s", res.Status, res.Body)
		}
		if res := r.system(t, "POST", "/api/v1/cases/"+no+"/events/confirm_move_out", body, "Idempotency-Key", "confirm-"+no+"-x"); res.Status != http.StatusOK {
			t.Errorf("the same reference with a new key: %d %s", res.Status, res.Body)
		}
		if n := r.p.Count(t, "SELECT count(*) FROM case_history WHERE event = 'confirm_move_out'"); n != 1 {
			t.Errorf("confirmations recorded: %d, want 1", n)
		}
		if n := r.p.Count(t, "SELECT count(*) FROM audit_log WHERE actor = 'system:registry' AND action = 'case.confirm_move_out'"); n != 1 {
			t.Errorf("the confirmation in the audit trail under the system's name: %d", n)
		}
		if n := r.p.Count(t, "SELECT count(*) FROM audit_log WHERE actor = 'system:registry' AND action LIKE 'api.%'"); n < 8 {
			t.Errorf("the system's calls audited: %d", n)
		}
		tl := settled["timeline"].([]any)
		last := tl[len(tl)-1].(map[string]any)
		if last["event"] != "confirm_move_out" || last["actor_role"] != "origin_registry" ||
			last["inputs"].(map[string]any)["reference"] != body["reference"] {
			t.Errorf("the last step: %v", last)
		}
		// Its token reads the case it settled, not the permit that settlement
		// cancelled, and counts on the API only: pages know no token.
		if res := r.system(t, "GET", "/api/v1/cases/"+permit, nil); res.Status != http.StatusNotFound {
			t.Errorf("the registry reads the cancelled residence permit: %d", res.Status)
		}
		if res := r.system(t, "GET", "/api/v1/cases/"+no, nil); res.Status != http.StatusOK {
			t.Errorf("the registry reads back its confirmation: %d", res.Status)
		}
		if res := r.system(t, "GET", "/account", nil); res.Status != http.StatusSeeOther {
			t.Errorf("a page with the registry's token: %d, want the login page", res.Status)
		}
		// A disabled system account's token is refused.
		if err := r.p.Accounts.DisableStaff(context.Background(), portalActor(), "registry"); err != nil {
			t.Fatal(err)
		}
		if res := r.system(t, "GET", "/api/v1/cases", nil); res.Status != http.StatusUnauthorized {
			t.Errorf("a disabled system's token: %d", res.Status)
		}
		// The applicant's account shows the settlement.
		acc := app.Get("/account")
		if !strings.Contains(acc.Text(), "已落户泰州") || !strings.Contains(acc.Text(), fmt.Sprint(result["transfer_permit_no"])) {
			t.Errorf("the account page does not show the settlement:\n%.2000s", acc.Text())
		}
		if n, err := r.p.Audit.Verify(context.Background(), r.p.DB); err != nil {
			t.Errorf("audit chain (%d): %v", n, err)
		}
		checkFsck(t, r.p)
	})
}

func TestHukouWithinTaizhouSettlesAndCancelsThePermit(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		r := newHukouRig(t, testkit.Options{Backend: b})
		_, app := r.p.NewApplicant(t, "赵强")
		permit := r.permit(t, app)

		// The new form starts from the permit: where they live, since when.
		page := app.Get("/cases/new?service=hukou-transfer")
		for _, want := range []string{`value="321202001" selected`, `value="海陵区东进东路18号3幢201室"`, `value="2024-05-01"`} {
			if !strings.Contains(page.Text(), want) {
				t.Errorf("the new form is not prefilled from the permit: no %s", want)
			}
		}
		// From 兴化市, a county of Taizhou: a move within the city.
		no := r.apply(t, app, r.hukouForm(t, "origin_county", "321281", "origin_address", "兴化市昭阳街道英武路1号", "basis", "rental",
			"lease_no", "泰房租备2026-0815", "employer", nil, "contract_start", nil, "insurance_months", nil))
		fire(t, r.clerk, no, "accept", nil, http.StatusOK)
		doc := fire(t, r.officer, no, "approve", nil, http.StatusOK)
		result := doc["result"].(map[string]any)
		if doc["state"] != "settled" || result["settle_into"] != "collective" || result["cancelled_permit"] != permit || result["settled_on"] != "2026-11-30" {
			t.Fatalf("a move within Taizhou settles at once: %v %v", doc["state"], result)
		}
		pm := app.Do("GET", "/api/v1/cases/"+permit, nil).JSON(t)
		if pr := pm["result"].(map[string]any); pr["cancelled_by"] != no || pr["cancelled_on"] != "2026-11-30" || pm["state"] != "approved" {
			t.Errorf("the residence permit after settlement: %v %v", pm["state"], pr)
		}
		tl := pm["timeline"].([]any)
		if last := tl[len(tl)-1].(map[string]any); last["event"] != "amend" || last["inputs"].(map[string]any)["cancelled_by"] != no {
			t.Errorf("the permit's timeline does not record the cancellation: %v", last)
		}
		if page := app.Get("/cases/" + permit); !strings.Contains(page.Text(), "居住证已注销") || !strings.Contains(page.Text(), no) {
			t.Errorf("the permit's page does not say it was cancelled")
		}
		if n := r.p.Count(t, "SELECT count(*) FROM audit_log WHERE action = 'case.amend' AND object = $1", "case:"+permit); n != 1 {
			t.Errorf("the cancellation's audit entries: %d", n)
		}
		// A cancelled permit is no longer valid, though its valid_until has
		// not passed: a new form starts empty instead of from it, and a new
		// residence-permit application is not refused for it (while_valid).
		page = app.Get("/cases/new?service=hukou-transfer")
		wantStatus(t, page, http.StatusOK, "a new transfer form after settlement")
		for _, stale := range []string{`value="海陵区东进东路18号3幢201室"`, `value="2024-05-01"`} {
			if strings.Contains(page.Text(), stale) {
				t.Errorf("a new transfer form is prefilled from the cancelled permit: %s", stale)
			}
		}
		res := app.Do("POST", "/api/v1/cases", map[string]any{"service": "residence-permit", "form": testkit.ResidenceForm()})
		if res.Status != http.StatusCreated {
			t.Errorf("a residence permit after the first was cancelled by settlement: %d %s", res.Status, res.Body)
		}
		checkFsck(t, r.p)
	})
}

// amendFault fails the audit entry of an armed event, after the linked
// residence permit was already amended in the same transaction.
type amendFault struct {
	portal.Store
	armed *atomic.Bool
}

func (s amendFault) Tx(ctx context.Context, fn func(portal.Tx) error) error {
	return s.Store.Tx(ctx, func(tx portal.Tx) error { return fn(faultTx{tx, s.armed}) })
}

type faultTx struct {
	portal.Tx
	armed *atomic.Bool
}

func (t faultTx) AppendAudit(ctx context.Context, e *portal.AuditEntry) error {
	if t.armed.Load() && e.Action == "case.approve" {
		return errors.New("injected: the disk is full")
	}
	return t.Tx.AppendAudit(ctx, e)
}

func TestHukouSettlementIsOneTransaction(t *testing.T) {
	testkit.EachBackend(t, testHukouSettlementIsOneTransaction)
}

func testHukouSettlementIsOneTransaction(t *testing.T, b testkit.Backend) {
	armed := &atomic.Bool{}
	r := newHukouRig(t, testkit.Options{Backend: b, WrapStore: func(s portal.Store) portal.Store { return amendFault{s, armed} }})
	_, app := r.p.NewApplicant(t, "钱多")
	permit := r.permit(t, app)
	no := r.apply(t, app, r.hukouForm(t, "origin_county", "321281"))
	fire(t, r.clerk, no, "accept", nil, http.StatusOK)
	armed.Store(true)
	if res := r.officer.Do("POST", "/api/v1/cases/"+no+"/events/approve", nil); res.Status != http.StatusInternalServerError {
		t.Fatalf("approve with the audit append failing: %d %s", res.Status, res.Body)
	}
	var permitResult string
	var permitVersion int
	if err := r.p.DB.SQL().QueryRow("SELECT result, version FROM cases WHERE case_no = $1", permit).Scan(&permitResult, &permitVersion); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(permitResult, "cancelled_by") || permitVersion != 4 {
		t.Errorf("the permit was changed by a settlement that failed: version %d, result %s", permitVersion, permitResult)
	}
	if m := r.officer.Do("GET", "/api/v1/cases/"+no, nil).JSON(t); m["state"] != "district_review" {
		t.Errorf("the transfer after the failure: %v", m["state"])
	}
	armed.Store(false)
	if m := fire(t, r.officer, no, "approve", nil, http.StatusOK); m["state"] != "settled" {
		t.Fatalf("approve again: %v", m["state"])
	}
	if err := r.p.DB.SQL().QueryRow("SELECT result, version FROM cases WHERE case_no = $1", permit).Scan(&permitResult, &permitVersion); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(permitResult, no) || permitVersion != 5 {
		t.Errorf("the permit after the settlement: version %d, result %s", permitVersion, permitResult)
	}
	checkFsck(t, r.p)
}

func TestHukouSeparationOfDuties(t *testing.T) {
	testkit.EachBackend(t, testHukouSeparationOfDuties)
}

func testHukouSeparationOfDuties(t *testing.T, b testkit.Backend) {
	r := newHukouRig(t, testkit.Options{Backend: b})
	_, app := r.p.NewApplicant(t, "孙丽")
	no := r.apply(t, app, r.hukouForm(t))
	fire(t, r.both, no, "accept", nil, http.StatusOK) // as the street clerk
	res := r.both.Do("POST", "/api/v1/cases/"+no+"/events/approve", nil)
	if res.Status != http.StatusForbidden || res.JSON(t)["rule"] != "separation_of_duties" || !strings.Contains(res.Text(), "街道受理") {
		t.Errorf("the one who accepted approves: %d %s", res.Status, res.Body)
	}
	if res := r.both.Do("POST", "/api/v1/cases/"+no+"/events/reject", map[string]any{"reason": "不符合条件"}); res.Status != http.StatusForbidden {
		t.Errorf("the one who accepted refuses at review: %d %s", res.Status, res.Body)
	}
	if v := r.both.Do("GET", "/api/v1/cases/"+no, nil).JSON(t); strings.Contains(fmt.Sprint(v["allowed_events"]), "approve") {
		t.Errorf("approve is offered to the one who accepted: %v", v["allowed_events"])
	}
	// A paper confirmation by another officer, with its reason.
	fire(t, r.officer, no, "approve", nil, http.StatusOK)
	fire(t, r.officer, no, "record_move_out", map[string]any{"reference": "纸质迁移证001", "confirmed_on": "2026-11-30"}, http.StatusUnprocessableEntity)
	m := fire(t, r.officer, no, "record_move_out", map[string]any{"reference": "纸质迁移证001", "confirmed_on": "2026-11-30",
		"reason": "迁出地系统故障，申请人交来纸质迁移证"}, http.StatusOK)
	if m["state"] != "settled" || m["result"].(map[string]any)["move_out_reference"] != "纸质迁移证001" {
		t.Errorf("after the paper confirmation: %v %v", m["state"], m["result"])
	}
}

func TestHukouOneOpenTransferPerPerson(t *testing.T) {
	testkit.EachBackend(t, testHukouOneOpenTransferPerPerson)
}

func testHukouOneOpenTransferPerPerson(t *testing.T, b testkit.Backend) {
	r := newHukouRig(t, testkit.Options{Backend: b})
	aliceUser, alice := r.p.NewApplicant(t, "周一")
	bob, bobClient := r.p.NewApplicant(t, "吴二")
	bobID, err := r.p.Accounts.IDNumber(bob)
	if err != nil {
		t.Fatal(err)
	}
	child := testkit.IDNumber("32032120160101001")
	first := r.apply(t, alice, r.hukouForm(t, "members", []any{member("child", "周小", child)}))
	// Alice again: her first case, linked.
	res := alice.Do("POST", "/api/v1/cases", map[string]any{"service": "hukou-transfer", "form": r.hukouForm(t)})
	if res.Status != http.StatusConflict || res.JSON(t)["case_no"] != first {
		t.Errorf("a second transfer of the same applicant: %d %s", res.Status, res.Body)
	}
	// Bob may draft, but not hand in, a transfer with the same child.
	res = bobClient.Do("POST", "/api/v1/cases", map[string]any{"service": "hukou-transfer", "form": r.hukouForm(t, "members", []any{member("child", "周小", child)})})
	if res.Status != http.StatusCreated {
		t.Fatalf("bob's draft: %d %s", res.Status, res.Body)
	}
	draft := res.JSON(t)["case_no"].(string)
	bobClient.AttachAll(draft) // what is refused is the claim, not missing materials
	res = bobClient.Do("POST", "/api/v1/cases/"+draft+"/events/submit", nil)
	if res.Status != http.StatusConflict || !strings.Contains(res.Text(), `"field":"members[0].id_number"`) || strings.Contains(res.Text(), first) {
		t.Errorf("a child already in an open transfer: %d %s (must not name the other family's case)", res.Status, res.Body)
	}
	if n := r.p.Count(t, "SELECT count(*) FROM audit_log WHERE action = 'case.claim' AND result = 'denied' AND object = $1", "case:"+draft); n != 1 {
		t.Errorf("the refused claim is audited: %d entries", n)
	}
	// Nor add himself to Alice's… he is not; but Alice cannot add Bob while
	// Bob's own transfer is open.
	fire(t, bobClient, draft, "discard", nil, http.StatusOK)
	bobNo := r.apply(t, bobClient, r.hukouForm(t))
	fire(t, alice, first, "withdraw", nil, http.StatusOK)
	no := alice.Do("POST", "/api/v1/cases", map[string]any{"service": "hukou-transfer", "form": r.hukouForm(t, "members", []any{member("spouse", "吴二", bobID)})}).JSON(t)["case_no"].(string)
	alice.AttachAll(no) // what is refused is the claim, not missing materials
	res = alice.Do("POST", "/api/v1/cases/"+no+"/events/submit", nil)
	if res.Status != http.StatusConflict {
		t.Errorf("a spouse whose own transfer is open (%s): %d %s", bobNo, res.Status, res.Body)
	}
	// A child of 18 or more cannot follow as a child: the rule is named.
	adult := testkit.IDNumber("32032120050101002")
	res = alice.Do("PUT", "/api/v1/cases/"+no+"/form", map[string]any{"form": r.hukouForm(t, "members", []any{member("child", "周大", adult)})})
	if res.Status != http.StatusUnprocessableEntity || res.JSON(t)["rule"] != "child_age" || !strings.Contains(res.Text(), "members[0].id_number") {
		t.Errorf("an adult child: %d %s", res.Status, res.Body)
	}
	// The applicant cannot add themself, nor anyone twice.
	aliceID, err := r.p.Accounts.IDNumber(aliceUser)
	if err != nil {
		t.Fatal(err)
	}
	res = alice.Do("PUT", "/api/v1/cases/"+no+"/form", map[string]any{"form": r.hukouForm(t, "members", []any{member("spouse", "周一", aliceID)})})
	if res.Status != http.StatusUnprocessableEntity || !strings.Contains(res.Text(), `"field":"members[0].id_number","rule":"self"`) {
		t.Errorf("the applicant as her own family member: %d %s", res.Status, res.Body)
	}
	res = alice.Do("PUT", "/api/v1/cases/"+no+"/form", map[string]any{"form": r.hukouForm(t, "members", []any{member("child", "周小", child), member("child", "周小", child)})})
	if res.Status != http.StatusUnprocessableEntity || !strings.Contains(res.Text(), `"field":"members[1].id_number","rule":"twice"`) {
		t.Errorf("one child twice: %d %s", res.Status, res.Body)
	}
}

func TestResidencePermitOnceWhileValid(t *testing.T) {
	testkit.EachBackend(t, testResidencePermitOnceWhileValid)
}

func testResidencePermitOnceWhileValid(t *testing.T, b testkit.Backend) {
	r := newHukouRig(t, testkit.Options{Backend: b})
	_, app := r.p.NewApplicant(t, "郑三")
	permit := r.permit(t, app)
	res := app.Do("POST", "/api/v1/cases", map[string]any{"service": "residence-permit", "form": testkit.ResidenceForm()})
	if res.Status != http.StatusConflict || res.JSON(t)["rule"] != "while_valid" || res.JSON(t)["case_no"] != permit ||
		!strings.Contains(res.Text(), "2027-11-29") {
		t.Errorf("a second permit while the first is valid: %d %s", res.Status, res.Body)
	}
	// The page links to the permit held.
	page := app.Submit("/cases/new?service=residence-permit", "/cases", append([]string{"service", "residence-permit"}, flatten(testkit.ResidenceForm())...)...)
	if page.Status != http.StatusConflict || !strings.Contains(page.Text(), `href="/cases/`+permit+`"`) {
		t.Errorf("the form does not link to the permit held: %d", page.Status)
	}
}

func flatten(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k, v)
	}
	return out
}

func TestHukouOverdueWhileWaitingForTheMoveOut(t *testing.T) {
	testkit.EachBackend(t, testHukouOverdueWhileWaitingForTheMoveOut)
}

func testHukouOverdueWhileWaitingForTheMoveOut(t *testing.T, b testkit.Backend) {
	r := newHukouRig(t, testkit.Options{Backend: b})
	_, app := r.p.NewApplicant(t, "冯四")
	no := r.apply(t, app, r.hukouForm(t))
	fire(t, r.clerk, no, "accept", nil, http.StatusOK)
	fire(t, r.officer, no, "approve", nil, http.StatusOK)
	if items := r.sup.Do("GET", "/api/v1/cases?overdue=1", nil).JSON(t)["items"].([]any); len(items) != 0 {
		t.Errorf("overdue before 30 days: %d", len(items))
	}
	r.p.Clock.Advance(31 * 24 * time.Hour)
	r.sup.Login("sup")
	items := r.sup.Do("GET", "/api/v1/cases?overdue=1&state=awaiting_move_out", nil).JSON(t)["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["case_no"] != no {
		t.Errorf("waiting more than 30 days for the move-out is overdue: %v", items)
	}
}

// TestHukouConcurrentFamiliesOneWins: four applicants hand in, at once,
// applications that list the same child: exactly one is handed in, the
// others are told, and the claims hold one case.
func TestHukouConcurrentFamiliesOneWins(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		r := newHukouRig(t, testkit.Options{Backend: b})
		child := testkit.IDNumber("32032120170707007")
		type draft struct {
			no string
			c  *testkit.Client
		}
		var drafts []draft
		for i := 0; i < 4; i++ {
			_, c := r.p.NewApplicant(t, fmt.Sprintf("家长%d", i))
			res := c.Do("POST", "/api/v1/cases", map[string]any{"service": "hukou-transfer",
				"form": r.hukouForm(t, "members", []any{member("child", "孩子", child)})})
			if res.Status != http.StatusCreated {
				t.Fatalf("draft %d: %d %s", i, res.Status, res.Body)
			}
			no := res.JSON(t)["case_no"].(string)
			c.AttachAll(no) // each family's materials: what races is the claim on the child
			drafts = append(drafts, draft{no, c})
		}
		statuses := make(chan int, len(drafts))
		for _, d := range drafts {
			go func() { statuses <- d.c.Do("POST", "/api/v1/cases/"+d.no+"/events/submit", nil).Status }()
		}
		count := map[int]int{}
		for range drafts {
			count[<-statuses]++
		}
		if count[http.StatusOK] != 1 || count[http.StatusConflict] != 3 {
			t.Errorf("four families hand in the same child at once: %v, want one 200 and three 409", count)
		}
		if n := r.p.Count(t, "SELECT count(*) FROM case_claims WHERE claim LIKE 'hukou-transfer|person:%' AND case_id IN (SELECT id FROM cases WHERE state = 'submitted')"); n != 2 {
			t.Errorf("claims of the case handed in: %d, want 2 (the applicant and the child)", n)
		}
		checkFsck(t, r.p)
	})
}
