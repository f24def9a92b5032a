// Package residence is the residence-permit service (居住证, service id
// residence-permit): its form, the rules that guard its events, and the
// action that issues the permit. The workflow itself is
// workflows/residence-permit.yaml.
package residence

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"tzportal/portal"
	"tzportal/portal/validate"
	"tzportal/portal/workflow"
)

// ServiceID is the id of this service in workflows/ and the API.
const ServiceID = "residence-permit"

// Form is what the applicant fills in. Name and ID number come from the
// account; the form asks only what the rules need (PIPL: collect the minimum).
type Form struct {
	Division     string `json:"division" validate:"required,division"`                      // 9-digit street/town where they live
	Address      string `json:"address" validate:"required,min=5,max=200"`                  // street address in Taizhou
	ResidedSince string `json:"resided_since" validate:"required,date,notfuture"`           // residence registration date
	Basis        string `json:"basis" validate:"required,oneof=employment residence study"` // legal stable employment, residence, or study
	BasisDetail  string `json:"basis_detail" validate:"required,min=2,max=100"`             // employer, landlord/certificate no., or school
	Phone        string `json:"phone" validate:"required,mobile"`
}

// Bases are the values of Form.Basis, in display order.
var Bases = []string{"employment", "residence", "study"}

// pages is the form: one page (the answers are checked on the case page).
var pages = []workflow.Page{{ID: "application", Fields: []workflow.Field{
	{Name: "division", Kind: workflow.KindDivision},
	{Name: "address", Kind: workflow.KindText},
	{Name: "resided_since", Kind: workflow.KindDate},
	{Name: "basis", Kind: workflow.KindChoice, Options: Bases},
	{Name: "basis_detail", Kind: workflow.KindText},
	{Name: "phone", Kind: workflow.KindMobile},
}}}

// Service implements workflow.Service.
type Service struct {
	workflow.Plain // nothing sealed in the form
	v              *validate.Validator

	minMonths   int
	validMonths int
}

// New returns the service, validating forms with v.
func New(v *validate.Validator) *Service { return &Service{v: v} }

// ID returns "residence-permit".
func (s *Service) ID() string { return ServiceID }

// Configure reads the service's settings from its workflow definition.
func (s *Service) Configure(d *workflow.Definition) error {
	var err error
	if s.minMonths, err = intSetting(d, "min_residence_months"); err != nil {
		return err
	}
	s.validMonths, err = intSetting(d, "permit_valid_months")
	return err
}

func intSetting(d *workflow.Definition, key string) (int, error) {
	v, ok := d.Settings[key].(int)
	if !ok || v <= 0 {
		return 0, fmt.Errorf("%s: settings.%s must be a positive whole number", d.File, key)
	}
	return v, nil
}

// Hooks returns the guards and actions the workflow file may name.
func (s *Service) Hooks() workflow.Hooks {
	return workflow.Hooks{
		Guards: map[string]workflow.Guard{
			"form_complete": s.formComplete,
			"min_residence": s.minResidence,
		},
		Actions: map[string]workflow.Action{"issue_permit": s.issuePermit},
	}
}

// Pages returns the form's one page.
func (s *Service) Pages() []workflow.Page { return pages }

// Example is a complete form of someone who has lived in Taizhou long enough.
func (s *Service) Example() json.RawMessage {
	return json.RawMessage(`{"division":"321202001","address":"海陵区东进东路18号3幢201室","resided_since":"2025-01-01",` +
		`"basis":"employment","basis_detail":"泰州市某机械有限公司","phone":"13912345678"}`)
}

// Form decodes, trims, validates and normalizes the applicant's form. The
// form is one page, so a draft is as complete as a submission. Unknown
// fields are refused, so that nothing but the form can be set.
func (s *Service) Form(_ context.Context, in workflow.FormInput) (json.RawMessage, string, error) {
	return s.form(in.Raw)
}

func (s *Service) form(raw json.RawMessage) (json.RawMessage, string, error) {
	f, err := Decode(raw)
	if err != nil {
		return nil, "", err
	}
	if err := s.v.Struct(f); err != nil {
		return nil, "", err
	}
	f.Phone, _ = validate.Mobile(f.Phone)
	b, err := json.Marshal(f)
	if err != nil {
		return nil, "", fmt.Errorf("residence.Form: %w", err)
	}
	return b, f.Division, nil
}

// Decode parses a form strictly and trims every field. It does not validate.
func Decode(raw json.RawMessage) (*Form, error) {
	var f Form
	if err := validate.DecodeForm(raw, &f); err != nil {
		return nil, err
	}
	for _, p := range []*string{&f.Division, &f.Address, &f.ResidedSince, &f.Basis, &f.BasisDetail, &f.Phone} {
		*p = strings.TrimSpace(*p)
	}
	return &f, nil
}

// formComplete re-validates the stored form: the rules may have changed
// since the draft was saved.
func (s *Service) formComplete(_ context.Context, f *workflow.Firing) error {
	_, _, err := s.form(f.Case.Form)
	return err
}

// minResidence refuses applicants who have lived in Taizhou less than the
// minimum (条例 art. 2: six months), naming the date they become eligible.
func (s *Service) minResidence(_ context.Context, f *workflow.Firing) error {
	var form Form
	if err := json.Unmarshal(f.Case.Form, &form); err != nil {
		return fmt.Errorf("residence.minResidence(%s): %w", f.Case.No, err)
	}
	since, err := time.ParseInLocation(time.DateOnly, form.ResidedSince, f.Cal.Zone)
	if err != nil {
		return portal.Invalid(portal.FieldError{Field: "resided_since", Rule: "date"})
	}
	eligible := workflow.AddMonths(since, s.minMonths)
	today := f.Now.In(f.Cal.Zone)
	if today.Before(eligible) {
		return portal.RuleError("min_residence", "residence-permit.rule.min_residence", map[string]any{
			"Months": s.minMonths, "Since": form.ResidedSince, "Eligible": eligible.Format(time.DateOnly),
		})
	}
	return nil
}

// Result is what an approved residence permit carries.
type Result struct {
	PermitNo   string `json:"permit_no"`
	ValidFrom  string `json:"valid_from"`
	ValidUntil string `json:"valid_until"`
	IssuedBy   string `json:"issued_by"` // division code of the issuing street
}

// issuePermit numbers the permit: JZ + district code + year + a six-digit
// sequence per district and year, valid from today for the configured months.
func (s *Service) issuePermit(ctx context.Context, f *workflow.Firing) error {
	today := f.Now.In(f.Cal.Zone)
	year := today.Format("2006")
	seq, err := f.Tx.NextSeq(ctx, "permit:"+f.Case.District, year)
	if err != nil {
		return err
	}
	from := time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, f.Cal.Zone)
	r := Result{
		PermitNo:   fmt.Sprintf("JZ%s%s%06d", f.Case.District, year, seq),
		ValidFrom:  from.Format(time.DateOnly),
		ValidUntil: workflow.PeriodEnd(from, s.validMonths).Format(time.DateOnly),
		IssuedBy:   f.Case.Division,
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("residence.issuePermit: %w", err)
	}
	f.Case.Result = b
	return nil
}
