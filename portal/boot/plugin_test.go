package boot_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"tzportal/portal/boot"
	"tzportal/portal/testkit"
	"tzportal/portal/validate"
	"tzportal/portal/workflow"
)

// addressProof is a citizen service written for this test only: its Go code
// is this type, and its workflow file, texts and templates are the folder
// testdata/address-proof. Nothing else of the portal knows it.
type addressProof struct {
	workflow.Plain
	v *validate.Validator
}

type addressProofForm struct {
	Division string `json:"division" validate:"required,division"`
	Address  string `json:"address" validate:"required,min=5,max=200"`
	Purpose  string `json:"purpose" validate:"required,oneof=school work"`
}

func (addressProof) ID() string                           { return "address-proof" }
func (addressProof) Configure(*workflow.Definition) error { return nil }
func (addressProof) Example() json.RawMessage {
	return json.RawMessage(`{"division":"321202001","address":"海陵区东进东路18号3幢201室","purpose":"school"}`)
}
func (addressProof) Pages() []workflow.Page {
	return []workflow.Page{{ID: "application", Fields: []workflow.Field{
		{Name: "division", Kind: workflow.KindDivision}, {Name: "address", Kind: workflow.KindText},
		{Name: "purpose", Kind: workflow.KindChoice, Options: []string{"school", "work"}}}}}
}
func (s addressProof) Form(_ context.Context, in workflow.FormInput) (json.RawMessage, string, error) {
	var f addressProofForm
	if err := validate.DecodeForm(in.Raw, &f); err != nil {
		return nil, "", err
	}
	if err := s.v.Struct(f); err != nil {
		return nil, "", err
	}
	b, _ := json.Marshal(f)
	return b, f.Division, nil
}
func (addressProof) Hooks() workflow.Hooks {
	return workflow.Hooks{Actions: map[string]workflow.Action{"number": func(_ context.Context, f *workflow.Firing) error {
		f.Case.Result = json.RawMessage(fmt.Sprintf(`{"certificate_no":"JZZM%s"}`, f.Case.No[4:]))
		return nil
	}}}
}

// TestAServiceIsItsOwnFiles loads a service from a folder of its own, with
// no change anywhere else, and uses it as people would: the home page and
// its guide list it, its form and its result panel render, the API and the
// permissions derived from its workflow file apply, its texts are complete.
func TestAServiceIsItsOwnFiles(t *testing.T) {
	testkit.EachBackend(t, testAServiceIsItsOwnFiles)
}

func testAServiceIsItsOwnFiles(t *testing.T, b testkit.Backend) {
	p := testkit.StartWith(t, testkit.Options{Backend: b, Plugins: []boot.Plugin{{
		New:   func(d boot.Deps) workflow.Service { return addressProof{v: d.Validator} },
		Files: os.DirFS("testdata/address-proof"),
	}}})
	if missing := p.MissingTexts(); len(missing) > 0 {
		t.Errorf("texts missing: %v", missing)
	}
	if _, ok := p.Registry.Definition("address-proof"); !ok {
		t.Fatal("the service is not in the registry")
	}
	p.MustStaff(t, "clerk1", "street_clerk", "321202001")
	_, app := p.NewApplicant(t, "申请人")
	anon := p.NewClient(t)

	home := anon.Get("/")
	if !strings.Contains(home.Text(), "居住证明开具") || !strings.Contains(home.Text(), `href="/cases/new?service=address-proof"`) {
		t.Errorf("the home page does not offer the new service")
	}
	if g := anon.Get("/services/address-proof"); g.Status != 200 || !strings.Contains(g.Text(), "在泰州有住址") || !strings.Contains(g.Text(), "3个工作日") {
		t.Errorf("its guide: %d", g.Status)
	}
	svcs := anon.Do("GET", "/api/v1/services", nil).Text()
	if !strings.Contains(svcs, `"id":"address-proof"`) || !strings.Contains(svcs, `"name":"refuse"`) {
		t.Errorf("/api/v1/services does not describe it")
	}

	// Its form, through the HTML pages: a bad choice kept and named, then saved.
	form := app.Get("/cases/new?service=address-proof")
	if form.Status != 200 || !strings.Contains(form.Text(), `name="purpose" value="school"`) || !strings.Contains(form.Text(), "子女入学") {
		t.Fatalf("its form page: %d", form.Status)
	}
	idem := testkit.FormField(form.Text(), "_idem")
	if idem == "" {
		t.Fatal("its form page has no _idem field: a resent form would make a second case")
	}
	fields := []string{"_csrf", testkit.FormToken(t, form.Text()), "_idem", idem, "service", "address-proof", "step", "application",
		"division", "321202001", "address", "海陵区东进东路18号", "purpose", "travel"}
	r := app.Post("/cases", fields...)
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Text(), "请选择用途") || !strings.Contains(r.Text(), `value="海陵区东进东路18号"`) {
		t.Errorf("a choice not offered: %d", r.Status)
	}
	fields[len(fields)-1] = "work"
	r = app.Post("/cases", fields...)
	no := regexp.MustCompile(`/cases/(TZAP\d{14})`).FindStringSubmatch(r.Header.Get("Location"))
	if r.Status != http.StatusSeeOther || no == nil {
		t.Fatalf("create: %d %s", r.Status, r.Header.Get("Location"))
	}
	check := app.Get("/cases/" + no[1])
	if !strings.Contains(check.Text(), "核对您的申请信息") || !strings.Contains(check.Text(), "求职") || !strings.Contains(check.Text(), "草稿") {
		t.Errorf("its check-your-answers page")
	}
	// Its form is decoded strictly: a field it does not have is refused by name.
	sneaky := `{"division":"321202001","address":"海陵区东进东路18号3幢201室","purpose":"school","state":"issued"}`
	if r := app.Do("POST", "/api/v1/cases", map[string]any{"service": "address-proof", "form": json.RawMessage(sneaky)}); r.Status != http.StatusUnprocessableEntity ||
		!strings.Contains(r.Text(), `"field":"state","rule":"unknown_field"`) {
		t.Errorf("a field the form does not have: %d %s", r.Status, r.Body)
	}
	// One open application per applicant, as its workflow file says.
	if r := app.Do("POST", "/api/v1/cases", map[string]any{"service": "address-proof", "form": json.RawMessage(addressProof{}.Example())}); r.Status != http.StatusConflict {
		t.Errorf("a second open application: %d", r.Status)
	}
	if r := app.Do("POST", "/api/v1/cases/"+no[1]+"/events/submit", nil); r.Status != 200 {
		t.Fatalf("submit: %d %s", r.Status, r.Body)
	}
	// Its permissions come from its workflow file: the applicant cannot issue.
	if r := app.Do("POST", "/api/v1/cases/"+no[1]+"/events/issue", nil); r.Status != http.StatusForbidden {
		t.Errorf("the applicant issues: %d", r.Status)
	}
	clerk := p.NewClient(t)
	clerk.Login("clerk1")
	if r := clerk.Do("POST", "/api/v1/cases/"+no[1]+"/events/refuse", map[string]any{}); r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Text(), `"field":"reason"`) {
		t.Errorf("refuse without its declared input: %d %s", r.Status, r.Body)
	}
	if r := clerk.Do("POST", "/api/v1/cases/"+no[1]+"/events/issue", nil); r.Status != 200 || r.JSON(t)["state"] != "issued" {
		t.Fatalf("issue: %d %s", r.Status, r.Body)
	}
	done := app.Get("/cases/" + no[1])
	if !strings.Contains(done.Text(), "居住证明已开具") || !strings.Contains(done.Text(), "JZZM") || !strings.Contains(done.Text(), "已开具") {
		t.Errorf("its result panel does not show")
	}
	if acc := app.Get("/account"); !strings.Contains(acc.Text(), "居住证明已开具") {
		t.Errorf("the account page does not list what was granted")
	}
}
