// Package endorsement is the yearly endorsement and the replacement of a
// residence permit (居住证签注、补领; service id permit-endorsement). The
// holder asks; the street's window approves; the approval changes the
// permit's case (an amend step in its timeline) and its e-certificate in
// the same transaction: an endorsement extends it by a year — a late one
// restores a suspended permit and restarts its count of continuous years —
// and a replacement gives it a new number, the old certificate answering
// "revoked" from then on. The workflow is workflows/permit-endorsement.yaml.
package endorsement

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
const ServiceID = "permit-endorsement"

// Requests are the values of Form.Request.
const (
	RequestEndorsement = "endorsement"
	RequestReplacement = "replacement"
)

// Form is the holder's request.
type Form struct {
	Request  string `json:"request" validate:"required,oneof=endorsement replacement"`
	PermitNo string `json:"permit_no" validate:"required,min=6,max=32"`
	// Division is the street or town where the holder lives now: its
	// window handles the request.
	Division string `json:"division" validate:"required,division"`
	// ReplacementReason says why a new card is needed.
	ReplacementReason string `json:"replacement_reason" validate:"required_if=Request replacement,omitempty,oneof=lost damaged"`
}

var pages = []workflow.Page{{ID: "request", Fields: []workflow.Field{
	{Name: "request", Kind: workflow.KindChoice, Options: []string{RequestEndorsement, RequestReplacement}},
	{Name: "permit_no", Kind: workflow.KindText},
	{Name: "division", Kind: workflow.KindDivision},
	{Name: "replacement_reason", Kind: workflow.KindChoice, Options: []string{"lost", "damaged"}, If: "request=" + RequestReplacement},
}}}

type settings struct {
	PermitService     string `yaml:"permit_service"`
	OpensMonthsBefore int    `yaml:"opens_months_before"`
	ExtendsMonths     int    `yaml:"extends_months"`
	PermitPrefix      string `yaml:"permit_prefix"`
	ReasonMaxChars    int    `yaml:"reason_max_chars"` // read by the engine
}

// Service implements workflow.Service.
type Service struct {
	workflow.Plain
	v   *validate.Validator
	set settings
}

// New returns the service, validating forms with v.
func New(v *validate.Validator) *Service { return &Service{v: v} }

// ID returns "permit-endorsement".
func (s *Service) ID() string { return ServiceID }

// Configure reads the settings.
func (s *Service) Configure(d *workflow.Definition) error {
	if err := d.DecodeSettings(&s.set); err != nil {
		return err
	}
	if s.set.PermitService == "" || s.set.OpensMonthsBefore <= 0 || s.set.ExtendsMonths <= 0 || s.set.PermitPrefix == "" {
		return fmt.Errorf("%s: settings permit_service, opens_months_before, extends_months and permit_prefix are all needed", d.File)
	}
	return nil
}

// Hooks returns the guards and actions the workflow file names.
func (s *Service) Hooks() workflow.Hooks {
	return workflow.Hooks{
		Guards: map[string]workflow.Guard{
			"form_complete":   s.formComplete,
			"permit_held":     s.permitHeld,
			"endorsement_due": s.endorsementDue,
		},
		Actions: map[string]workflow.Action{"endorse": s.endorse},
	}
}

// Pages returns the form's one page.
func (s *Service) Pages() []workflow.Page { return pages }

// Example is a complete request (the permit must exist to pass the guards).
func (s *Service) Example() json.RawMessage {
	return json.RawMessage(`{"request":"endorsement","permit_no":"JZ3212022026000001","division":"321202001"}`)
}

// Prefill fills a new request from the holder's valid permit.
func (s *Service) Prefill(ctx context.Context, valid func(ctx context.Context, service string) (*portal.Case, error)) (json.RawMessage, error) {
	permit, err := valid(ctx, s.set.PermitService)
	switch {
	case portal.ErrorCode(err) == portal.ENOTFOUND:
		return json.RawMessage(`{"request":"endorsement"}`), nil
	case err != nil:
		return nil, err
	}
	var form struct {
		Division string `json:"division"`
	}
	var res struct {
		PermitNo string `json:"permit_no"`
	}
	if err := json.Unmarshal(permit.Form, &form); err != nil {
		return nil, fmt.Errorf("endorsement.Prefill(%s): %w", permit.No, err)
	}
	if err := json.Unmarshal(permit.Result, &res); err != nil {
		return nil, fmt.Errorf("endorsement.Prefill(%s): %w", permit.No, err)
	}
	return json.Marshal(Form{Request: RequestEndorsement, PermitNo: res.PermitNo, Division: form.Division})
}

// Form decodes, trims and validates the request.
func (s *Service) Form(_ context.Context, in workflow.FormInput) (json.RawMessage, string, error) {
	return s.form(in.Raw)
}

func (s *Service) form(raw json.RawMessage) (json.RawMessage, string, error) {
	var f Form
	if err := validate.DecodeForm(raw, &f); err != nil {
		return nil, "", err
	}
	for _, p := range []*string{&f.Request, &f.PermitNo, &f.Division, &f.ReplacementReason} {
		*p = strings.TrimSpace(*p)
	}
	f.PermitNo = strings.ToUpper(f.PermitNo)
	if f.Request != RequestReplacement {
		f.ReplacementReason = ""
	}
	if err := s.v.Struct(&f); err != nil {
		return nil, "", err
	}
	b, err := json.Marshal(f)
	if err != nil {
		return nil, "", fmt.Errorf("endorsement.Form: %w", err)
	}
	return b, f.Division, nil
}

func (s *Service) formComplete(_ context.Context, f *workflow.Firing) error {
	_, _, err := s.form(f.Case.Form)
	return err
}

func decode(c *portal.Case) (*Form, error) {
	var f Form
	if err := json.Unmarshal(c.Form, &f); err != nil {
		return nil, fmt.Errorf("endorsement: form of %s: %w", c.No, err)
	}
	return &f, nil
}

// permit is the holder's permit a request names.
type permit struct {
	c      *portal.Case
	result map[string]any
}

func (p permit) text(key string) string { s, _ := p.result[key].(string); return s }

// held finds the applicant's permit whose number the form names; it is
// theirs, granted and not cancelled (a lapsed one may be endorsed late).
func (s *Service) held(ctx context.Context, f *workflow.Firing) (*Form, *permit, error) {
	form, err := decode(f.Case)
	if err != nil {
		return nil, nil, err
	}
	cases, err := f.GrantedCases(ctx, s.set.PermitService)
	if err != nil {
		return nil, nil, err
	}
	for i := range cases {
		p := &permit{c: &cases[i]}
		if err := json.Unmarshal(cases[i].Result, &p.result); err != nil {
			return nil, nil, fmt.Errorf("endorsement: result of %s: %w", cases[i].No, err)
		}
		if p.text("permit_no") == form.PermitNo && p.text(portal.ResultCancelledBy) == "" {
			return form, p, nil
		}
	}
	return nil, nil, portal.RuleError("permit_held", "permit-endorsement.rule.permit_held", map[string]any{"PermitNo": form.PermitNo})
}

func (s *Service) permitHeld(ctx context.Context, f *workflow.Firing) error {
	_, _, err := s.held(ctx, f)
	return err
}

// endorsementDue lets an endorsement through from opens_months_before its
// anniversary (the day after valid_until) on — late ones too, which
// restore a suspended permit. Replacements are always due.
func (s *Service) endorsementDue(ctx context.Context, f *workflow.Firing) error {
	form, p, err := s.held(ctx, f)
	if err != nil || form.Request != RequestEndorsement {
		return err
	}
	until, err := time.ParseInLocation(time.DateOnly, p.text("valid_until"), f.Cal.Zone)
	if err != nil {
		return fmt.Errorf("endorsement: valid_until of %s: %w", p.c.No, err)
	}
	opens := workflow.AddMonths(until.AddDate(0, 0, 1), -s.set.OpensMonthsBefore)
	if today := f.Now.In(f.Cal.Zone).Format(time.DateOnly); today < opens.Format(time.DateOnly) {
		return portal.RuleError("endorsement_due", "permit-endorsement.rule.endorsement_due",
			map[string]any{"Opens": opens.Format(time.DateOnly), "ValidUntil": p.text("valid_until")})
	}
	return nil
}

// endorse changes the permit as the request asks, in this transaction.
func (s *Service) endorse(ctx context.Context, f *workflow.Firing) error {
	form, p, err := s.held(ctx, f)
	if err != nil {
		return err
	}
	today := f.Now.In(f.Cal.Zone)
	day := today.Format(time.DateOnly)
	switch form.Request {
	case RequestReplacement:
		year := today.Format("2006")
		seq, err := f.Tx.NextSeq(ctx, "permit:"+p.c.District, year)
		if err != nil {
			return err
		}
		number := fmt.Sprintf("%s%s%s%06d", s.set.PermitPrefix, p.c.District, year, seq)
		if err := f.Amend(ctx, p.c.No, map[string]string{"permit_no": number, "replaces": form.PermitNo, "replaced_on": day}); err != nil {
			return err
		}
		if _, err := f.Reissue(ctx, p.c, number); err != nil {
			return err
		}
		return workflow.SetResult(f.Case, map[string]any{"permit_case": p.c.No, "permit_no": number, "replaces": form.PermitNo})
	default:
		until, err := time.ParseInLocation(time.DateOnly, p.text("valid_until"), f.Cal.Zone)
		if err != nil {
			return fmt.Errorf("endorsement: valid_until of %s: %w", p.c.No, err)
		}
		from := until.AddDate(0, 0, 1)
		certs, err := f.Certificates(ctx, p.c)
		if err != nil {
			return err
		}
		yearsSince := ""
		if len(certs) > 0 {
			yearsSince = certs[0].YearsSince
		}
		if late := day > p.text("valid_until"); late {
			// Suspended since its anniversary: restored from today, and the
			// count of continuous years starts again.
			from = time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, f.Cal.Zone)
			yearsSince = day
		}
		newUntil := workflow.PeriodEnd(from, s.set.ExtendsMonths).Format(time.DateOnly)
		set := map[string]string{"valid_until": newUntil, "endorsed_on": day}
		if yearsSince != "" {
			set["years_since"] = yearsSince
		}
		if err := f.Amend(ctx, p.c.No, set); err != nil {
			return err
		}
		for i := range certs {
			if certs[i].Status != portal.CertValid && certs[i].Status != portal.CertSuspended {
				continue // revoked or replaced certificates stay as they are
			}
			// A suspended permit is valid again from a late endorsement.
			certs[i].Status, certs[i].ValidUntil, certs[i].YearsSince = portal.CertValid, newUntil, yearsSince
			if err := f.UpdateCertificate(ctx, p.c, &certs[i], "endorse"); err != nil {
				return err
			}
		}
		return workflow.SetResult(f.Case, map[string]any{"permit_case": p.c.No, "permit_no": form.PermitNo,
			"valid_until": newUntil, "years_since": yearsSince})
	}
}
