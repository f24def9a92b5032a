// Package housing is housing security (住房保障, service id
// housing-security): a household without a home in Taizhou, or with less
// room than the standard, applies for public rental housing (公共租赁住房),
// affordable rental housing (保障性租赁住房) or shared ownership
// (共有产权房). Its form (the household, its income, its home, its
// priority), the rules of each kind (settings in
// workflows/housing-security.yaml, each with the clause it comes from, the
// same for registered residents and new residents but for the two that only
// concern those without a Taizhou hukou), the public notice (公示) anyone
// may object to without an account, the recheck (复核) of a refusal, and
// the waiting list (轮候) each household sees its place on. The draws that
// offer units (摇号) move whole lists (draw.go, the draw event).
//
// Family members' ID numbers are personal data of other people, children's
// among them: the stored form keeps each one sealed (AES-GCM) with its blind
// index, the applicant sees them in clear, staff see them masked unless they
// ask (an audited reveal). Nothing public shows an ID number, an income or
// an address.
package housing

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"tzportal/portal"
	"tzportal/portal/pii"
	"tzportal/portal/validate"
	"tzportal/portal/workflow"
)

// ServiceID is the id of this service in workflows/ and the API.
const ServiceID = "housing-security"

// Form fields the code names (the API contract).
const (
	fieldKind       = "kind"
	fieldHukouLocal = "hukou_local"
	fieldPermitNo   = "residence_permit_no"
	fieldIncome     = "income_monthly"
	fieldInsurance  = "insurance_months"
	fieldMembers    = "members"
	fieldOwnsHome   = "owns_home_in_city"
	fieldHomeArea   = "home_area_m2"
	fieldFamily     = "family_migrated"
	fieldElderly    = "elderly"
	fieldDisabled   = "disabled"
	fieldIDNumber   = "id_number"
	relationSpouse  = "spouse"
)

// The choices of the form, read once from the oneof tags of the checks, so
// that the form's options and its validation are one list.
var (
	kindOptions     = validate.OneOf(check{}, "Kind")
	relationOptions = validate.OneOf(checkMember{}, "Relation")
)

// application is the form (the field names are the API's). The stored form
// holds the members' ID numbers sealed, never in clear.
type application struct {
	Kind              string   `json:"kind,omitempty"`
	Division          string   `json:"division"`
	Address           string   `json:"address,omitempty"`
	HukouLocal        *bool    `json:"hukou_local,omitempty"`
	ResidencePermitNo string   `json:"residence_permit_no,omitempty"`
	IncomeMonthly     *int     `json:"income_monthly,omitempty"`
	InsuranceMonths   *int     `json:"insurance_months,omitempty"`
	Members           []member `json:"members,omitempty"`
	OwnsHomeInCity    *bool    `json:"owns_home_in_city,omitempty"`
	HomeAreaM2        *area    `json:"home_area_m2,omitempty"`
	FamilyMigrated    *bool    `json:"family_migrated,omitempty"`
	Elderly           *bool    `json:"elderly,omitempty"`
	Disabled          *bool    `json:"disabled,omitempty"`
}

// member is one person of the household besides the applicant: a spouse,
// a child or a parent living with them, and their monthly income.
type member struct {
	Relation string `json:"relation"`
	Name     string `json:"name"`
	pii.SealedID
	IncomeMonthly *int `json:"income_monthly,omitempty"`
}

// area is a floor area in square metres: a JSON number, or the text of one
// as an HTML form sends it ("89.56", copied from a property certificate).
// It is stored as a number; a text that is not one is kept, for the check
// to name the field.
type area struct {
	m2  float64
	bad string // what was sent, when it is not a number
}

func (a area) MarshalJSON() ([]byte, error) {
	if a.bad != "" {
		return json.Marshal(a.bad)
	}
	return json.Marshal(a.m2)
}

func (a *area) UnmarshalJSON(b []byte) error {
	var n float64
	if err := json.Unmarshal(b, &n); err == nil {
		*a = area{m2: n}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return &json.UnmarshalTypeError{Value: "not a number", Type: reflect.TypeOf(n)}
	}
	s = strings.TrimSpace(s)
	// Digits and a point only: no "1e3", "NaN" or "Inf" from a form.
	if n, err := strconv.ParseFloat(s, 64); err == nil && strings.Trim(s, "0123456789.") == "" {
		*a = area{m2: n}
		return nil
	}
	*a = area{bad: s}
	return nil
}

// valid reports whether the area is a number of square metres.
func (a *area) valid() bool { return a != nil && a.bad == "" }

// size is the household's size: the applicant and the members.
func (f *application) size() int { return 1 + len(f.Members) }

// isTrue reads a yes/no answer (no answer: no).
func isTrue(b *bool) bool { return b != nil && *b }

// Service implements workflow.Service.
type Service struct {
	v      *validate.Validator
	sealer *pii.Sealer
	set    settings
	draws  *drawsRead // the revealed draws read, this portal's
}

// New returns the service: forms validated with v, members' ID numbers
// sealed with sealer.
func New(v *validate.Validator, sealer *pii.Sealer) *Service {
	return &Service{v: v, sealer: sealer, draws: newDrawsRead()}
}

// ID returns "housing-security".
func (s *Service) ID() string { return ServiceID }

// Pages are the form's pages on a phone: the kind asked for and where the
// household lives (the case belongs to that street from its first save),
// the household, its income, its home in the city, and its priority.
// Fields that depend on a yes/no answer are optional on their page and
// required by the rules that need them (the permit and the insurance of
// those without a Taizhou hukou, the area of a home owned).
func (s *Service) Pages() []workflow.Page {
	return []workflow.Page{
		{ID: "application", Fields: []workflow.Field{
			{Name: fieldKind, Kind: workflow.KindChoice, Options: kindOptions},
			{Name: "division", Kind: workflow.KindDivision},
			{Name: "address", Kind: workflow.KindText},
			{Name: fieldHukouLocal, Kind: workflow.KindBool},
			{Name: fieldPermitNo, Kind: workflow.KindText, Optional: true},
		}},
		{ID: "household", List: fieldMembers, Max: s.set.MaxMembers, Fields: []workflow.Field{
			{Name: "relation", Kind: workflow.KindChoice, Options: relationOptions},
			{Name: "name", Kind: workflow.KindText},
			{Name: fieldIDNumber, Kind: workflow.KindIDNumber},
			{Name: fieldIncome, Kind: workflow.KindNumber},
		}},
		{ID: "income", Fields: []workflow.Field{
			{Name: fieldIncome, Kind: workflow.KindNumber},
			{Name: fieldInsurance, Kind: workflow.KindNumber, Optional: true},
		}},
		{ID: "home", Fields: []workflow.Field{
			{Name: fieldOwnsHome, Kind: workflow.KindBool},
			{Name: fieldHomeArea, Kind: workflow.KindText, Optional: true},
		}},
		{ID: "priority", Fields: []workflow.Field{
			{Name: fieldFamily, Kind: workflow.KindBool},
			{Name: fieldElderly, Kind: workflow.KindBool},
			{Name: fieldDisabled, Kind: workflow.KindBool},
		}},
	}
}

// Example is a complete application for public rental housing of a young
// man from elsewhere living alone in 海陵区: 2,400 yuan a month, no home in
// the city, 40 months of social insurance in Taizhou. It lists no family
// members: anyone may apply with it, as often as the tests need, without
// claiming someone else's place (a household is in one open application).
func (s *Service) Example() json.RawMessage {
	return json.RawMessage(`{"kind":"public_rental","division":"321202001","address":"海陵区东进东路18号3幢201室",` +
		`"hukou_local":false,"residence_permit_no":"JZ3212022025000077","income_monthly":2400,"insurance_months":40,` +
		`"owns_home_in_city":false,"family_migrated":false,"elderly":false,"disabled":false}`)
}

// check is the validation of the form's plain fields (validator tags: the
// messages are the forms' own).
type check struct {
	Kind     string `json:"kind" validate:"required,oneof=public_rental affordable_rental shared_ownership"`
	Division string `json:"division" validate:"required,division"`
	Address  string `json:"address" validate:"required,min=5,max=200"`
}

// checkPermit is the residence permit's number of those without a
// Taizhou hukou.
type checkPermit struct {
	ResidencePermitNo string `json:"residence_permit_no" validate:"required,min=6,max=32"`
}

type checkMember struct {
	Relation string `json:"relation" validate:"required,oneof=spouse child parent"`
	Name     string `json:"name" validate:"required,min=2,max=50"`
	IDNumber string `json:"id_number" validate:"required,idnumber"`
}

// Bounds of the numbers: typing slips, not rules.
const (
	maxInsuranceMonths = 600       // fifty years
	maxIncome          = 1_000_000 // yuan a month
	maxArea            = 10_000    // square metres
)

// numberRE is a document number as printed: letters, digits and dashes.
var numberRE = regexp.MustCompile(`^[0-9A-Z-]+$`)

// Form decodes and validates an applicant's form, seals the members' ID
// numbers and returns the form to store. A draft may leave out what later
// pages ask (its first page it must have: the case belongs to the street of
// that address); what is filled in must be right. An applicant who settled
// in Taizhou through the portal has a Taizhou hukou whatever the form says:
// the answer is fixed to yes (and the permit and insurance, asked only of
// those without one, are dropped).
func (s *Service) Form(ctx context.Context, in workflow.FormInput) (json.RawMessage, string, error) {
	f, err := decode(in.Raw, false)
	if err != nil {
		return nil, "", err
	}
	var applicantID int64
	if in.Applicant != nil {
		applicantID = in.Applicant.ID
	}
	return s.form(ctx, f, in, applicantID)
}

// form validates a decoded form (in clear) and returns it sealed for
// storage. applicantID (0: unknown) finds a settlement in the portal.
func (s *Service) form(ctx context.Context, f *application, in workflow.FormInput, applicantID int64) (json.RawMessage, string, error) {
	if in.Store != nil && applicantID != 0 {
		no, err := s.settledCase(ctx, in.Store, applicantID)
		if err != nil {
			return nil, "", err
		}
		if no != "" {
			yes := true
			f.HukouLocal = &yes
		}
	}
	f.normalize()
	fields, err := s.validate(f, in)
	if err != nil {
		return nil, "", err
	}
	if in.Mode == workflow.Draft {
		// Pages not reached yet: only their missing answers are forgiven,
		// never those of the first page, nor of a list entry.
		first := s.Pages()[0].Fields
		fields = slices.DeleteFunc(fields, func(fe portal.FieldError) bool {
			return fe.Rule == "required" && !strings.Contains(fe.Field, "[") &&
				!slices.ContainsFunc(first, func(pf workflow.Field) bool { return pf.Name == fe.Field })
		})
	}
	if len(fields) > 0 {
		e := portal.Invalid(fields...)
		e.Labels = ServiceID + ".field"
		return nil, "", e
	}
	if err := s.seal(f); err != nil {
		return nil, "", err
	}
	b, err := json.Marshal(f)
	if err != nil {
		return nil, "", fmt.Errorf("housing.Form: %w", err)
	}
	return b, f.Division, nil
}

// settledCase returns the number of the applicant's hukou transfer that
// settled them in Taizhou through the portal, "" if none.
func (s *Service) settledCase(ctx context.Context, r portal.Reader, applicantID int64) (string, error) {
	cases, err := r.ListCases(ctx, portal.CaseFilter{ApplicantID: applicantID, Service: s.set.HukouService,
		States: s.set.HukouSettledStates, Desc: true, Limit: 1, NoForm: true})
	if err != nil || len(cases) == 0 {
		return "", err
	}
	return cases[0].No, nil
}

// decode parses a form strictly (unknown fields are refused, so nothing
// but the form can be set). Only a stored form may hold sealed ID numbers:
// a client never sees them, and may not send them.
func decode(raw json.RawMessage, stored bool) (*application, error) {
	var f application
	if err := validate.DecodeForm(raw, &f); err != nil {
		return nil, err
	}
	if !stored {
		for i, m := range f.Members {
			if m.IDSealed != "" || m.IDIndex != "" {
				return nil, portal.Invalid(portal.FieldError{Field: fmt.Sprintf("members[%d].id_sealed", i), Rule: "unknown_field"})
			}
		}
	}
	return &f, nil
}

// normalize trims every field, writes document numbers as printed and keeps
// only what the answers given ask for (collect only what a rule needs): the
// permit and the insurance months of those without a Taizhou hukou, the
// area of a home owned.
func (f *application) normalize() {
	for _, p := range []*string{&f.Kind, &f.Division, &f.Address, &f.ResidencePermitNo} {
		*p = strings.TrimSpace(*p)
	}
	f.ResidencePermitNo = strings.ToUpper(f.ResidencePermitNo)
	if isTrue(f.HukouLocal) {
		f.ResidencePermitNo, f.InsuranceMonths = "", nil
	}
	if f.OwnsHomeInCity != nil && !*f.OwnsHomeInCity {
		f.HomeAreaM2 = nil
	}
	for i := range f.Members {
		m := &f.Members[i]
		m.Relation, m.Name, m.IDNumber = strings.TrimSpace(m.Relation), strings.TrimSpace(m.Name), strings.ToUpper(strings.TrimSpace(m.IDNumber))
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

// prefix names the fields of a list entry: members[1].id_number.
func prefix(list string, i int, fields []portal.FieldError) []portal.FieldError {
	for j := range fields {
		fields[j].Field = fmt.Sprintf("%s[%d].%s", list, i, fields[j].Field)
	}
	return fields
}

// money checks a monthly income in whole yuan: given, and within bounds.
func money(field string, n *int) []portal.FieldError {
	switch {
	case n == nil:
		return []portal.FieldError{{Field: field, Rule: "required"}}
	case *n < 0 || *n > maxIncome:
		return []portal.FieldError{{Field: field, Rule: "income", Param: strconv.Itoa(maxIncome)}}
	}
	return nil
}

// validate checks every field of the form: formats, what the answers ask
// for, and each member (ID checksum, none twice, not the applicant, one
// spouse at most).
func (s *Service) validate(f *application, in workflow.FormInput) ([]portal.FieldError, error) {
	var out []portal.FieldError
	fields, err := fieldErrors(s.v.Struct(check{Kind: f.Kind, Division: f.Division, Address: f.Address}))
	if err != nil {
		return nil, err
	}
	out = append(out, fields...)
	required := func(field string, answered bool) {
		if !answered {
			out = append(out, portal.FieldError{Field: field, Rule: "required"})
		}
	}
	required(fieldHukouLocal, f.HukouLocal != nil)
	if f.HukouLocal != nil && !*f.HukouLocal {
		fields, err := fieldErrors(s.v.Struct(checkPermit{ResidencePermitNo: f.ResidencePermitNo}))
		if err != nil {
			return nil, err
		}
		out = append(out, fields...)
		if f.ResidencePermitNo != "" && len(fields) == 0 && !numberRE.MatchString(f.ResidencePermitNo) {
			out = append(out, portal.FieldError{Field: fieldPermitNo, Rule: "document_no"})
		}
		switch m := f.InsuranceMonths; {
		case m == nil:
			out = append(out, portal.FieldError{Field: fieldInsurance, Rule: "required"})
		case *m < 0 || *m > maxInsuranceMonths:
			out = append(out, portal.FieldError{Field: fieldInsurance, Rule: "months", Param: strconv.Itoa(maxInsuranceMonths)})
		}
	}
	out = append(out, money(fieldIncome, f.IncomeMonthly)...)
	required(fieldOwnsHome, f.OwnsHomeInCity != nil)
	if isTrue(f.OwnsHomeInCity) {
		switch a := f.HomeAreaM2; {
		case a == nil:
			out = append(out, portal.FieldError{Field: fieldHomeArea, Rule: "required"})
		case !a.valid() || a.m2 <= 0 || a.m2 > maxArea:
			out = append(out, portal.FieldError{Field: fieldHomeArea, Rule: "area", Param: strconv.Itoa(maxArea)})
		}
	}
	required(fieldFamily, f.FamilyMigrated != nil)
	required(fieldElderly, f.Elderly != nil)
	required(fieldDisabled, f.Disabled != nil)
	if len(f.Members) > s.set.MaxMembers {
		out = append(out, portal.FieldError{Field: fieldMembers, Rule: "max_items", Param: strconv.Itoa(s.set.MaxMembers)})
	}
	self := ""
	if in.Applicant != nil {
		self = in.Applicant.IDIndex
	}
	seen := map[string]int{}
	spouse := -1
	for i, m := range f.Members {
		fields, err := fieldErrors(s.v.Struct(checkMember{Relation: m.Relation, Name: m.Name, IDNumber: m.IDNumber}))
		if err != nil {
			return nil, err
		}
		if len(fields) == 0 {
			idx := s.sealer.Index(m.IDNumber)
			switch j, twice := seen[idx]; {
			case self != "" && idx == self:
				fields = append(fields, portal.FieldError{Field: fieldIDNumber, Rule: "self"})
			case twice:
				fields = append(fields, portal.FieldError{Field: fieldIDNumber, Rule: "twice", Param: strconv.Itoa(j + 1)})
			default:
				seen[idx] = i
			}
		}
		if m.Relation == relationSpouse {
			if spouse >= 0 {
				fields = append(fields, portal.FieldError{Field: "relation", Rule: "one_spouse", Param: strconv.Itoa(spouse + 1)})
			} else {
				spouse = i
			}
		}
		fields = append(fields, money(fieldIncome, m.IncomeMonthly)...)
		out = append(out, prefix(fieldMembers, i, fields)...)
	}
	return out, nil
}

// seal replaces each member's ID number with its sealed form and index.
func (s *Service) seal(f *application) error {
	for i := range f.Members {
		if err := s.sealer.SealID(&f.Members[i].SealedID); err != nil {
			return fmt.Errorf("housing.seal: %w", err)
		}
	}
	return nil
}

// open reads a stored form back in clear. A ciphertext that does not open
// is an integrity error, never a wrong number.
func (s *Service) open(stored json.RawMessage) (*application, error) {
	f, err := decode(stored, true)
	if err != nil {
		return nil, fmt.Errorf("housing.open: %w", err)
	}
	for i := range f.Members {
		if err := s.sealer.OpenID(&f.Members[i].SealedID); err != nil {
			return nil, &portal.Error{Code: portal.EINTERNAL, Message: "error.integrity", Err: fmt.Errorf("housing.open: member %d: %w", i, err)}
		}
	}
	return f, nil
}

// stored reads a stored form without opening the ID numbers: what the
// rules, the notice and the waiting list need.
func stored(c *portal.Case) (*application, error) {
	var f application
	if err := json.Unmarshal(c.Form, &f); err != nil {
		return nil, fmt.Errorf("housing: form of %s: %w", c.No, err)
	}
	return &f, nil
}

// Show returns the stored form as its viewer may see it: the applicant
// their family's ID numbers in clear, everyone else masked.
func (s *Service) Show(form json.RawMessage, owner bool) (json.RawMessage, error) {
	f, err := s.open(form)
	if err != nil {
		return nil, err
	}
	if !owner {
		for i := range f.Members {
			f.Members[i].IDNumber = pii.MaskID(f.Members[i].IDNumber)
		}
	}
	return json.Marshal(f)
}

var sealedFieldRE = regexp.MustCompile(`^members\[(\d+)\]\.id_number$`)

// Reveal returns a member's ID number in clear ("members[0].id_number");
// the caller audits.
func (s *Service) Reveal(form json.RawMessage, field string) (string, error) {
	m := sealedFieldRE.FindStringSubmatch(field)
	if m == nil {
		return "", portal.NotFound(fmt.Errorf("housing.Reveal: no sealed field %q", field))
	}
	f, err := s.open(form)
	if err != nil {
		return "", err
	}
	i, _ := strconv.Atoi(m[1])
	if i >= len(f.Members) {
		return "", portal.NotFound(fmt.Errorf("housing.Reveal: no member %d", i))
	}
	return f.Members[i].IDNumber, nil
}

// Prefill fills a new application from the applicant's valid residence
// permit: its number, where they live, and that their hukou is elsewhere
// (a registered resident holds no permit).
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
		return nil, fmt.Errorf("housing.Prefill(%s): %w", permit.No, err)
	}
	no := resultText(permit.Result, "permit_no")
	if no == "" {
		return json.RawMessage("{}"), nil
	}
	local := false
	return json.Marshal(struct {
		Division          string `json:"division,omitempty"`
		Address           string `json:"address,omitempty"`
		HukouLocal        *bool  `json:"hukou_local"`
		ResidencePermitNo string `json:"residence_permit_no"`
	}{from.Division, from.Address, &local, no})
}

// persons claims the applicant and every member of the household, by the
// blind index of their ID number: nobody is in two open applications
// (a couple applies once, not each on their own).
func persons(c *portal.Case, applicant *portal.User) ([]workflow.ClaimKey, error) {
	f, err := stored(c)
	if err != nil {
		return nil, err
	}
	var keys []workflow.ClaimKey
	if applicant != nil && applicant.IDIndex != "" {
		keys = append(keys, workflow.ClaimKey{Key: "person:" + applicant.IDIndex})
	}
	for i, m := range f.Members {
		if m.IDIndex != "" {
			keys = append(keys, workflow.ClaimKey{Key: "person:" + m.IDIndex, Field: fmt.Sprintf("members[%d].id_number", i)})
		}
	}
	return keys, nil
}

// resultText is a text of a case's result ("" if none).
func resultText(result json.RawMessage, key string) string {
	var m map[string]any
	_ = json.Unmarshal(result, &m)
	s, _ := m[key].(string)
	return s
}

// readResult decodes a case's result ({} if empty).
func readResult(c *portal.Case) (map[string]any, error) {
	m := map[string]any{}
	if len(c.Result) > 0 {
		if err := json.Unmarshal(c.Result, &m); err != nil {
			return nil, fmt.Errorf("housing: result of %s: %w", c.No, err)
		}
	}
	return m, nil
}

// dropResult removes keys from a case's result.
func dropResult(c *portal.Case, keys ...string) error {
	m, err := readResult(c)
	if err != nil {
		return err
	}
	for _, k := range keys {
		delete(m, k)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("housing: result of %s: %w", c.No, err)
	}
	c.Result = b
	return nil
}
