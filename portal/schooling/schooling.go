// Package schooling is the school enrollment of migrant children (随迁子女入学,
// service id school-enrollment): a parent or guardian living in Taizhou
// applies for a grade-1 or grade-7 place in a public school of the district
// where the family lives. Its form (the child, the guardian's basis, the
// home, up to three schools in order), the rules that decide who may apply
// (settings in workflows/school-enrollment.yaml, each with the clause it
// comes from), the points that order the children (data in the same file,
// every score showing its parts), and the steps a district officer takes on
// one case: verifying, placing a child by hand, confirming the enrollment.
// The published list and the allocation move whole cohorts (cohort.go).
//
// A child's data is sensitive personal information (PIPL art. 28, 31): the
// stored form keeps the child's ID number sealed (AES-GCM) with its blind
// index, the applicant sees it in clear, staff see it masked unless they ask
// (an audited reveal).
package schooling

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"tzportal/portal"
	"tzportal/portal/pii"
	"tzportal/portal/validate"
	"tzportal/portal/workflow"
)

// ServiceID is the id of this service in workflows/ and the API.
const ServiceID = "school-enrollment"

// Form fields the code names (the API contract).
const (
	fieldChildID     = "child_id_number"
	fieldPreferences = "preferences"
	fieldYear        = "year"
	fieldFamily      = "family_migrated"
	fieldInsurance   = "insurance_months"
	gradeFirst       = "1"
	gradeSeventh     = "7"
	basisInsurance   = "insurance"
	basisLicence     = "business_licence"
	housingOwn       = "own"
)

// The choices of the form, read once from the oneof tags of the checks, so
// that the form's options and its validation are one list.
var (
	gradeOptions   = validate.OneOf(check{}, "Grade")
	basisOptions   = validate.OneOf(check{}, "GuardianBasis")
	housingOptions = validate.OneOf(check{}, "Housing")
)

// cst is China Standard Time, the city's civil calendar for the year of a
// form (China has no daylight saving: a fixed zone is exact).
var cst = time.FixedZone("CST", 8*3600)

// application is the form (the field names are the API's). The stored form
// holds the child's ID number sealed (ChildIDSealed, ChildIDIndex), never in
// clear.
type application struct {
	Year              int      `json:"year,omitempty"`
	ChildName         string   `json:"child_name,omitempty"`
	ChildIDNumber     string   `json:"child_id_number,omitempty"`
	ChildIDSealed     string   `json:"child_id_sealed,omitempty"`
	ChildIDIndex      string   `json:"child_id_index,omitempty"`
	Grade             string   `json:"grade,omitempty"`
	PrimaryRecordNo   string   `json:"primary_record_no,omitempty"`
	GuardianBasis     string   `json:"guardian_basis,omitempty"`
	InsuranceMonths   *int     `json:"insurance_months,omitempty"`
	LicenceNo         string   `json:"licence_no,omitempty"`
	ResidencePermitNo string   `json:"residence_permit_no,omitempty"`
	Housing           string   `json:"housing,omitempty"`
	Division          string   `json:"division"`
	Address           string   `json:"address,omitempty"`
	Preferences       []string `json:"preferences,omitempty"`
	FamilyMigrated    *bool    `json:"family_migrated,omitempty"`
}

// district is the county-level unit of the form's street or town, whose
// schools the child may ask for ("" while the division is not a code).
func (f *application) district() string {
	if len(f.Division) != 9 {
		return ""
	}
	return f.Division[:6]
}

// Service implements workflow.Service.
type Service struct {
	v      *validate.Validator
	sealer *pii.Sealer
	set    settings
}

// New returns the service: forms validated with v, the child's ID number
// sealed with sealer.
func New(v *validate.Validator, sealer *pii.Sealer) *Service {
	return &Service{v: v, sealer: sealer}
}

// ID returns "school-enrollment".
func (s *Service) ID() string { return ServiceID }

// Hooks returns the guards, conditions, actions and claims the workflow
// file names.
func (s *Service) Hooks() workflow.Hooks {
	return workflow.Hooks{
		Guards: map[string]workflow.Guard{
			"form_complete":     s.formComplete,
			"enrollment_window": s.enrollmentWindow,
			"eligible":          s.eligible,
			"appeal_window":     s.appealWindow,
			"appeal_decision":   s.appealDecision,
		},
		Conditions: map[string]workflow.Condition{"school_assigned": schoolAssigned},
		Actions: map[string]workflow.Action{
			"score":            s.scoreAction,
			"open_appeals":     s.openAppeals,
			"amend_score":      s.amendScore,
			"place_in_school":  s.placeInSchool,
			"number_placement": s.numberPlacement,
		},
		Claims: map[string]workflow.Claim{"child": childClaim},
	}
}

// Pages are the form's pages on a phone: the home first (the case belongs
// to the street of that address from its first save, and the schools a
// child may ask for are the district's), then the child, the guardian's
// basis, and the schools in order.
func (s *Service) Pages() []workflow.Page {
	return []workflow.Page{
		{ID: "home", Fields: []workflow.Field{
			{Name: "division", Kind: workflow.KindDivision},
			{Name: "address", Kind: workflow.KindText},
			{Name: "housing", Kind: workflow.KindChoice, Options: housingOptions},
			{Name: fieldFamily, Kind: workflow.KindBool},
		}},
		{ID: "child", Fields: []workflow.Field{
			{Name: fieldYear, Kind: workflow.KindNumber},
			{Name: "grade", Kind: workflow.KindChoice, Options: gradeOptions},
			{Name: "primary_record_no", Kind: workflow.KindText, If: "grade=" + gradeSeventh},
			{Name: "child_name", Kind: workflow.KindText},
			{Name: fieldChildID, Kind: workflow.KindIDNumber},
		}},
		{ID: "guardian", Fields: []workflow.Field{
			{Name: "guardian_basis", Kind: workflow.KindChoice, Options: basisOptions},
			{Name: fieldInsurance, Kind: workflow.KindNumber, If: "guardian_basis=" + basisInsurance},
			{Name: "licence_no", Kind: workflow.KindText, If: "guardian_basis=" + basisLicence},
			{Name: "residence_permit_no", Kind: workflow.KindText},
		}},
		{ID: "schools", Fields: []workflow.Field{
			{Name: fieldPreferences, Kind: workflow.KindRanked, Max: s.set.PreferencesMax},
		}},
	}
}

// Example is a complete application for a girl born in May 2020 (seven on
// 31 August 2027) starting grade 1 in 2027 in 海陵区, her mother insured for
// three years: the schools are those the tests import.
func (s *Service) Example() json.RawMessage {
	return json.RawMessage(`{"year":2027,"child_name":"李小雨","child_id_number":"320321202005150023","grade":"1",` +
		`"guardian_basis":"insurance","insurance_months":36,"residence_permit_no":"JZ3212022026000001",` +
		`"housing":"rented","division":"321202001","address":"海陵区东进东路18号3幢201室",` +
		`"preferences":["HL-CD-01","HL-CD-02","HL-FX-01"],"family_migrated":true}`)
}

// check is the validation of the form's plain fields (validator tags: the
// messages are the forms' own).
type check struct {
	ChildName         string `json:"child_name" validate:"required,min=2,max=50"`
	ChildIDNumber     string `json:"child_id_number" validate:"required,idnumber"`
	Grade             string `json:"grade" validate:"required,oneof=1 7"`
	GuardianBasis     string `json:"guardian_basis" validate:"required,oneof=insurance business_licence"`
	ResidencePermitNo string `json:"residence_permit_no" validate:"required,min=6,max=32"`
	Housing           string `json:"housing" validate:"required,oneof=own rented"`
	Division          string `json:"division" validate:"required,division"`
	Address           string `json:"address" validate:"required,min=5,max=200"`
}

// checkRecord is grade 7's primary-school record number (学籍号: G and the
// child's ID number, or an older local number).
type checkRecord struct {
	PrimaryRecordNo string `json:"primary_record_no" validate:"required,min=6,max=32"`
}

// checkLicence is the business licence's number (统一社会信用代码, or the
// registration number of an older licence).
type checkLicence struct {
	LicenceNo string `json:"licence_no" validate:"required,min=6,max=32"`
}

// maxInsuranceMonths bounds the months of social insurance at fifty years:
// a typing slip, not a rule.
const maxInsuranceMonths = 600

// maxSchoolCode is the longest school code (the schools file's format).
const maxSchoolCode = 32

// yearsAhead is how many years after this one a child may be applied for:
// places are asked for the coming September, a window opening early in the
// year for it.
const yearsAhead = 2

// numberRE is a document number as printed: letters, digits and dashes.
var numberRE = regexp.MustCompile(`^[0-9A-Z-]+$`)

// Form decodes and validates an applicant's form, seals the child's ID
// number and returns the form to store. A draft may leave out what later
// pages ask (its first page it must have: the case belongs to the street of
// that address); what is filled in must be right.
func (s *Service) Form(ctx context.Context, in workflow.FormInput) (json.RawMessage, string, error) {
	f, err := decode(in.Raw, false)
	if err != nil {
		return nil, "", err
	}
	return s.form(ctx, f, in)
}

// form validates a decoded form (in clear) and returns it sealed for storage.
func (s *Service) form(ctx context.Context, f *application, in workflow.FormInput) (json.RawMessage, string, error) {
	f.normalize()
	fields, err := s.validate(ctx, f, in)
	if err != nil {
		return nil, "", err
	}
	if in.Mode == workflow.Draft {
		// Pages not reached yet: only their missing answers are forgiven,
		// never those of the first page, nor an entry of a list.
		first := s.Pages()[0].Fields
		fields = slices.DeleteFunc(fields, func(fe portal.FieldError) bool {
			return fe.Rule == "required" && !strings.Contains(fe.Field, "[") &&
				!slices.ContainsFunc(first, func(pf workflow.Field) bool { return pf.Name == fe.Field && !pf.Optional })
		})
	}
	if len(fields) > 0 {
		// Named with the form's labels, also when a guard re-checks it.
		e := portal.Invalid(fields...)
		e.Labels = ServiceID + ".field"
		return nil, "", e
	}
	if err := s.childRules(f, in.Mode == workflow.Complete); err != nil {
		return nil, "", err
	}
	if err := s.seal(f); err != nil {
		return nil, "", err
	}
	b, err := json.Marshal(f)
	if err != nil {
		return nil, "", fmt.Errorf("schooling.Form: %w", err)
	}
	return b, f.Division, nil
}

// decode parses a form strictly (unknown fields are refused, so nothing but
// the form can be set). Only a stored form may hold the sealed ID number: a
// client never sees it, and may not send it.
func decode(raw json.RawMessage, stored bool) (*application, error) {
	var f application
	if err := validate.DecodeForm(raw, &f); err != nil {
		return nil, err
	}
	switch {
	case stored:
	case f.ChildIDSealed != "":
		return nil, portal.Invalid(portal.FieldError{Field: "child_id_sealed", Rule: "unknown_field"})
	case f.ChildIDIndex != "":
		return nil, portal.Invalid(portal.FieldError{Field: "child_id_index", Rule: "unknown_field"})
	}
	return &f, nil
}

// normalize trims every field, writes document numbers as printed (upper
// case) and keeps only what the answers given ask for (collect only what a
// rule needs): the record number for grade 7, the insurance months or the
// licence number of the guardian's basis.
func (f *application) normalize() {
	for _, p := range []*string{&f.ChildName, &f.ChildIDNumber, &f.Grade, &f.PrimaryRecordNo, &f.GuardianBasis, &f.LicenceNo,
		&f.ResidencePermitNo, &f.Housing, &f.Division, &f.Address} {
		*p = strings.TrimSpace(*p)
	}
	f.ChildIDNumber = strings.ToUpper(f.ChildIDNumber)
	f.PrimaryRecordNo = strings.ToUpper(f.PrimaryRecordNo)
	f.LicenceNo = strings.ToUpper(f.LicenceNo)
	f.ResidencePermitNo = strings.ToUpper(f.ResidencePermitNo)
	for i := range f.Preferences {
		f.Preferences[i] = strings.TrimSpace(f.Preferences[i])
	}
	if f.Grade != gradeSeventh {
		f.PrimaryRecordNo = ""
	}
	if f.GuardianBasis != basisInsurance {
		f.InsuranceMonths = nil
	}
	if f.GuardianBasis != basisLicence {
		f.LicenceNo = ""
	}
}

// fieldErrors returns the field errors of a validator's answer. Any other
// error — EINTERNAL, e.g. a tag without a translation — is a bug of this
// file and is returned as such, never shown as the applicant's mistake.
func fieldErrors(err error) ([]portal.FieldError, error) {
	if err == nil {
		return nil, nil
	}
	if e := portal.AsError(err); e != nil && e.Code == portal.EINVALID {
		return e.Fields, nil
	}
	return nil, err
}

// validate checks every field of the form: formats, the details of the
// grade and of the guardian's basis, the child (not the applicant), and the
// schools (distinct, at most preferences_max, each a school of the
// district taking the grade that year).
func (s *Service) validate(ctx context.Context, f *application, in workflow.FormInput) ([]portal.FieldError, error) {
	var out []portal.FieldError
	add := func(err error) error {
		fields, err := fieldErrors(err)
		out = append(out, fields...)
		return err
	}
	if err := add(s.v.Struct(check{ChildName: f.ChildName, ChildIDNumber: f.ChildIDNumber, Grade: f.Grade, GuardianBasis: f.GuardianBasis,
		ResidencePermitNo: f.ResidencePermitNo, Housing: f.Housing, Division: f.Division, Address: f.Address})); err != nil {
		return nil, err
	}
	now := in.Now
	if now.IsZero() {
		now = time.Now()
	}
	this := now.In(cst).Year()
	switch {
	case f.Year == 0:
		out = append(out, portal.FieldError{Field: fieldYear, Rule: "required"})
	case f.Year < this || f.Year > this+yearsAhead:
		out = append(out, portal.FieldError{Field: fieldYear, Rule: "school_year", Param: fmt.Sprintf("%d–%d", this, this+yearsAhead)})
	}
	if f.FamilyMigrated == nil {
		out = append(out, portal.FieldError{Field: fieldFamily, Rule: "required"})
	}
	if f.ResidencePermitNo != "" && !numberRE.MatchString(f.ResidencePermitNo) {
		out = append(out, portal.FieldError{Field: "residence_permit_no", Rule: "document_no"})
	}
	switch f.Grade {
	case gradeSeventh:
		if err := add(s.v.Struct(checkRecord{PrimaryRecordNo: f.PrimaryRecordNo})); err != nil {
			return nil, err
		}
		if f.PrimaryRecordNo != "" && !numberRE.MatchString(f.PrimaryRecordNo) {
			out = append(out, portal.FieldError{Field: "primary_record_no", Rule: "document_no"})
		}
	}
	switch f.GuardianBasis {
	case basisInsurance:
		switch m := f.InsuranceMonths; {
		case m == nil:
			out = append(out, portal.FieldError{Field: fieldInsurance, Rule: "required"})
		case *m < 0 || *m > maxInsuranceMonths:
			out = append(out, portal.FieldError{Field: fieldInsurance, Rule: "months", Param: strconv.Itoa(maxInsuranceMonths)})
		}
	case basisLicence:
		if err := add(s.v.Struct(checkLicence{LicenceNo: f.LicenceNo})); err != nil {
			return nil, err
		}
		if f.LicenceNo != "" && !numberRE.MatchString(f.LicenceNo) {
			out = append(out, portal.FieldError{Field: "licence_no", Rule: "document_no"})
		}
	}
	if f.ChildIDNumber != "" && in.Applicant != nil && in.Applicant.IDIndex != "" && s.sealer.Index(f.ChildIDNumber) == in.Applicant.IDIndex {
		out = append(out, portal.FieldError{Field: fieldChildID, Rule: "self"})
	}
	prefs, err := s.validatePreferences(ctx, f, in, out)
	if err != nil {
		return nil, err
	}
	return append(out, prefs...), nil
}

// validatePreferences checks the schools asked for: entries not empty and
// distinct, at most preferences_max, and — when the case is handed in, with
// the store at hand — each a school of the district taking the grade that
// year, refused by its place. A draft keeps a school that is not (yet): the
// grade, the year or the street may change on another page, and the page
// saving that change must not be stopped by one it does not show; handing
// the case in tells which choice to make again.
func (s *Service) validatePreferences(ctx context.Context, f *application, in workflow.FormInput, others []portal.FieldError) ([]portal.FieldError, error) {
	var out []portal.FieldError
	if len(f.Preferences) > s.set.PreferencesMax {
		out = append(out, portal.FieldError{Field: fieldPreferences, Rule: "max_items", Param: strconv.Itoa(s.set.PreferencesMax)})
	}
	if in.Mode == workflow.Complete && len(f.Preferences) == 0 {
		out = append(out, portal.FieldError{Field: fieldPreferences, Rule: "required"})
	}
	entry := func(i int) string { return fmt.Sprintf("%s[%d]", fieldPreferences, i) }
	seen := map[string]int{}
	for i, code := range f.Preferences {
		switch j, twice := seen[code]; {
		case code == "":
			out = append(out, portal.FieldError{Field: entry(i), Rule: "required"})
		case !validate.CleanLine(code) || len(code) > maxSchoolCode:
			out = append(out, portal.FieldError{Field: entry(i), Rule: "school"})
		case twice:
			out = append(out, portal.FieldError{Field: entry(i), Rule: "twice", Param: strconv.Itoa(j + 1)})
		default:
			seen[code] = i
		}
	}
	// Whether the schools exist can be asked only of a known district, year
	// and grade.
	known := in.Mode == workflow.Complete && in.Store != nil && len(out) == 0 && len(f.Preferences) > 0 &&
		f.district() != "" && f.Year != 0 && slices.Contains(gradeOptions, f.Grade) &&
		!slices.ContainsFunc(others, func(fe portal.FieldError) bool {
			return fe.Field == "division" || fe.Field == fieldYear || fe.Field == "grade"
		})
	if !known {
		return out, nil
	}
	schools, err := in.Store.Schools(ctx, f.district(), f.Year)
	if err != nil {
		return nil, err
	}
	for i, code := range f.Preferences {
		if !slices.ContainsFunc(schools, func(sc portal.School) bool { return sc.Code == code && sc.Grade == f.Grade }) {
			out = append(out, portal.FieldError{Field: entry(i), Rule: "school"})
		}
	}
	return out, nil
}

// seal replaces the child's ID number with its sealed form and index.
func (s *Service) seal(f *application) error {
	if f.ChildIDNumber == "" {
		return nil
	}
	sealed, index, err := s.sealer.SealText(f.ChildIDNumber)
	if err != nil {
		return fmt.Errorf("schooling.seal: %w", err)
	}
	f.ChildIDSealed, f.ChildIDIndex, f.ChildIDNumber = sealed, index, ""
	return nil
}

// open reads a stored form back with the child's ID number in clear. A
// ciphertext that does not open is an integrity error, never a wrong
// number.
func (s *Service) open(stored json.RawMessage) (*application, error) {
	f, err := decode(stored, true)
	if err != nil {
		return nil, fmt.Errorf("schooling.open: %w", err)
	}
	if f.ChildIDSealed == "" {
		return f, nil
	}
	id, err := s.sealer.OpenText(f.ChildIDSealed, f.ChildIDIndex)
	if err != nil {
		return nil, &portal.Error{Code: portal.EINTERNAL, Message: "error.integrity", Err: fmt.Errorf("schooling.open: %w", err)}
	}
	f.ChildIDNumber, f.ChildIDSealed, f.ChildIDIndex = id, "", ""
	return f, nil
}

// stored reads a stored form without opening the child's ID number: what
// the points, the places and the claims need.
func stored(c *portal.Case) (*application, error) {
	var f application
	if err := json.Unmarshal(c.Form, &f); err != nil {
		return nil, fmt.Errorf("schooling: form of %s: %w", c.No, err)
	}
	return &f, nil
}

// Show returns the stored form as its viewer may see it: the applicant the
// child's ID number in clear, everyone else masked.
func (s *Service) Show(form json.RawMessage, owner bool) (json.RawMessage, error) {
	f, err := s.open(form)
	if err != nil {
		return nil, err
	}
	if !owner && f.ChildIDNumber != "" {
		f.ChildIDNumber = pii.MaskID(f.ChildIDNumber)
	}
	return json.Marshal(f)
}

// Reveal returns the child's ID number in clear ("child_id_number"); the
// caller audits.
func (s *Service) Reveal(form json.RawMessage, field string) (string, error) {
	if field != fieldChildID {
		return "", portal.NotFound(fmt.Errorf("schooling.Reveal: no sealed field %q", field))
	}
	f, err := s.open(form)
	if err != nil {
		return "", err
	}
	if f.ChildIDNumber == "" {
		return "", portal.NotFound(fmt.Errorf("schooling.Reveal: no child ID number"))
	}
	return f.ChildIDNumber, nil
}

// Prefill fills a new application from the guardian's valid residence
// permit: its number, and where they live.
func (s *Service) Prefill(ctx context.Context, valid func(ctx context.Context, service string) (*portal.Case, error)) (json.RawMessage, error) {
	permit, err := valid(ctx, s.set.PermitService)
	switch {
	case portal.ErrorCode(err) == portal.ENOTFOUND:
		return json.RawMessage("{}"), nil
	case err != nil:
		return nil, err
	}
	var from struct {
		Division string `json:"division"`
		Address  string `json:"address"`
	}
	if err := json.Unmarshal(permit.Form, &from); err != nil {
		return nil, fmt.Errorf("schooling.Prefill(%s): %w", permit.No, err)
	}
	var res struct {
		PermitNo string `json:"permit_no"`
	}
	if err := json.Unmarshal(permit.Result, &res); err != nil {
		return nil, fmt.Errorf("schooling.Prefill(%s): %w", permit.No, err)
	}
	return json.Marshal(struct {
		ResidencePermitNo string `json:"residence_permit_no,omitempty"`
		Division          string `json:"division,omitempty"`
		Address           string `json:"address,omitempty"`
	}{res.PermitNo, from.Division, from.Address})
}

// childClaim claims the child, by the blind index of their ID number, for
// the year asked: a child is in one open application a year, whoever of
// the family applies (two would hold two places).
func childClaim(c *portal.Case, _ *portal.User) ([]workflow.ClaimKey, error) {
	f, err := stored(c)
	if err != nil {
		return nil, err
	}
	if f.ChildIDIndex == "" {
		return nil, nil
	}
	return []workflow.ClaimKey{{Key: "child:" + f.ChildIDIndex + "/" + strconv.Itoa(f.Year), Field: fieldChildID}}, nil
}
