// Package hukou is the household-registration transfer service (户口迁移落户,
// service id hukou-transfer): a family settles its hukou in Taizhou. Its form
// (who moves, where to, on what basis, from where), the rules that decide
// who may settle (settings in workflows/hukou-transfer.yaml, each with the
// clause it comes from), the move-in permit, and the settlement, which
// cancels the applicant's residence permit in the same transaction. The
// workflow itself is workflows/hukou-transfer.yaml; the decision is the
// district's, and the origin registry confirms the move-out through the API.
//
// Family members' ID numbers are personal data of other people, children's
// among them: the stored form keeps each one sealed (AES-GCM) with its blind
// index, the applicant sees them in clear, staff see them masked unless they
// ask (an audited reveal).
package hukou

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

// serviceID is the id of this service in workflows/ and the API.
const serviceID = "hukou-transfer"

// The bases of a settlement, and the relations of family members, as the
// form names them (the API contract): the oneof tags of the checks, read
// once, so that the form's choices and its validation are one list. Which
// of them qualify is a rule.
var (
	basisOptions    = validate.OneOf(check{}, "Basis")
	relationOptions = validate.OneOf(checkMember{}, "Relation")
)

// application is what the applicant fills in (the field names are the API's).
type application struct {
	Division        string   `json:"division"`
	Address         string   `json:"address"`
	ResidedSince    string   `json:"resided_since,omitempty"` // since when they live at the address (counts towards a residence rule)
	Basis           string   `json:"basis"`
	PropertyCertNo  string   `json:"property_cert_no,omitempty"`
	LeaseNo         string   `json:"lease_no,omitempty"`
	Employer        string   `json:"employer,omitempty"`
	ContractStart   string   `json:"contract_start,omitempty"`
	InsuranceMonths *int     `json:"insurance_months,omitempty"`
	OriginCounty    string   `json:"origin_county"`
	OriginAddress   string   `json:"origin_address"`
	OriginBookletNo string   `json:"origin_booklet_no"`
	Members         []member `json:"members,omitempty"`
	PriorResidence  []period `json:"prior_residence,omitempty"`
}

// member is a family member moving with the applicant. The stored form
// holds the ID number sealed (IDSealed, IDIndex), never in clear.
type member struct {
	Relation string `json:"relation"`
	Name     string `json:"name"`
	pii.SealedID
}

// period is a time of residence in another Yangtze-Delta city.
type period struct {
	City string `json:"city"`
	From string `json:"from"`
	To   string `json:"to"`
}

// settlementRule is one settlement rule: its values and the clause it
// comes from. Bases are the bases a months rule applies to (only
// min_insurance_months has them: insurance months are asked of those bases).
type settlementRule struct {
	Clause      string   `yaml:"clause"`
	Allowed     []string `yaml:"allowed"`
	Months      int      `yaml:"months"`
	ChildMaxAge int      `yaml:"child_max_age"`
	Bases       []string `yaml:"bases"`
}

// settings are the service's settings (workflows/hukou-transfer.yaml).
type settings struct {
	MaxMembers     int                       `yaml:"max_members"`
	MaxPeriods     int                       `yaml:"max_periods"`
	HomeCity       string                    `yaml:"home_city"`
	IntraCityFree  bool                      `yaml:"intra_city_free"`
	DeltaProvinces []string                  `yaml:"delta_provinces"`
	Cancels        string                    `yaml:"cancels"`
	PermitPrefix   string                    `yaml:"permit_prefix"`
	Rules          map[string]settlementRule `yaml:"rules"`
	// Limits of the event inputs, read by the engine.
	ReasonMaxChars    int `yaml:"reason_max_chars"`
	ItemsMax          int `yaml:"items_max"`
	ItemMaxChars      int `yaml:"item_max_chars"`
	ReferenceMaxChars int `yaml:"reference_max_chars"`
	// Limits of materials, read by the engine.
	MaterialMaxMiB        int `yaml:"material_max_mib"`
	MaterialMaxMegapixels int `yaml:"material_max_megapixels"`
	MaterialsMax          int `yaml:"materials_max"`
}

// Rule names (the rules: section of the settings; each refusal names one).
const (
	ruleBases          = "bases"
	ruleInsurance      = "min_insurance_months"
	ruleResidence      = "min_residence_months"
	ruleRelations      = "relations"
	ruleChildAge       = "child_age"
	relationChild      = "child"
	basisOwnHome       = "own_home"
	basisRental        = "rental"
	basisEmployment    = "employment"
	settleCollective   = "collective" // a renter settles into the community collective hukou (社区公共户)
	settleOwnAddress   = "address"
	fieldIDNumber      = "id_number"
	sealedFieldPattern = `^members\[(\d+)\]\.id_number$`
)

var sealedFieldRE = regexp.MustCompile(sealedFieldPattern)

// Service implements workflow.Service.
type Service struct {
	v        *validate.Validator
	sealer   *pii.Sealer
	counties *portal.Counties
	set      settings
	delta    []string // codes of the Yangtze-Delta cities but the home city
}

// New returns the service: forms validated with v, family members' ID
// numbers sealed with sealer, origins checked against counties.
func New(v *validate.Validator, sealer *pii.Sealer, counties *portal.Counties) *Service {
	return &Service{v: v, sealer: sealer, counties: counties}
}

// ID returns "hukou-transfer".
func (s *Service) ID() string { return serviceID }

// Configure reads the settings and the rules, refusing what the service
// could not apply.
func (s *Service) Configure(d *workflow.Definition) error {
	var set settings
	if err := d.DecodeSettings(&set); err != nil {
		return err
	}
	var problems []string
	if set.MaxMembers <= 0 || set.MaxPeriods <= 0 {
		problems = append(problems, "max_members and max_periods must be positive")
	}
	if len(set.HomeCity) != 6 || len(set.DeltaProvinces) == 0 {
		problems = append(problems, "home_city (6 digits) and delta_provinces are needed")
	}
	if set.PermitPrefix == "" {
		problems = append(problems, "permit_prefix is needed")
	}
	for _, name := range []string{ruleBases, ruleInsurance, ruleResidence, ruleRelations} {
		r, ok := set.Rules[name]
		switch {
		case !ok:
			problems = append(problems, "rules."+name+" is missing")
		case r.Clause == "":
			problems = append(problems, "rules."+name+" needs the clause it comes from")
		case r.Months < 0 || r.ChildMaxAge < 0:
			problems = append(problems, "rules."+name+": negative numbers")
		}
		if len(r.Bases) > 0 && name != ruleInsurance {
			problems = append(problems, "rules."+name+": bases is read only for "+ruleInsurance)
		}
	}
	for _, b := range set.Rules[ruleBases].Allowed {
		if !slices.Contains(basisOptions, b) {
			problems = append(problems, fmt.Sprintf("rules.bases: %q is not a basis of the form (%v)", b, basisOptions))
		}
	}
	// Insurance months are asked only of the bases whose page shows the
	// field: a rule on any other basis could never be met.
	asked := s.asksInsurance()
	if b := set.Rules[ruleInsurance].Bases; len(b) == 0 {
		problems = append(problems, fmt.Sprintf("rules.%s.bases: name the bases it applies to (of %v)", ruleInsurance, asked))
	}
	for _, b := range set.Rules[ruleInsurance].Bases {
		if !slices.Contains(asked, b) {
			problems = append(problems, fmt.Sprintf("rules.%s.bases: the form asks no insurance months of %q (only of %v)", ruleInsurance, b, asked))
		}
	}
	for _, r := range set.Rules[ruleRelations].Allowed {
		if !slices.Contains(relationOptions, r) {
			problems = append(problems, fmt.Sprintf("rules.relations: %q is not a relation of the form (%v)", r, relationOptions))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s: settings: %s", d.File, strings.Join(problems, "; "))
	}
	s.set = set
	s.delta = nil
	for _, c := range s.counties.CitiesIn(set.DeltaProvinces) {
		if c.Code != set.HomeCity {
			s.delta = append(s.delta, c.Code)
		}
	}
	return nil
}

// asksInsurance returns the bases whose form page asks insurance_months.
func (s *Service) asksInsurance() []string {
	var out []string
	for _, p := range s.Pages() {
		for _, f := range p.Fields {
			if f.Name != "insurance_months" {
				continue
			}
			for _, b := range basisOptions {
				if f.Applies(map[string]any{"basis": b}) {
					out = append(out, b)
				}
			}
		}
	}
	return out
}

// Hooks returns the guards, conditions, actions and claims the workflow
// file names.
func (s *Service) Hooks() workflow.Hooks {
	return workflow.Hooks{
		Guards: map[string]workflow.Guard{
			"form_complete": s.formComplete,
			"eligible":      s.eligible,
		},
		Conditions: map[string]workflow.Condition{"within_city": s.withinCity},
		Actions: map[string]workflow.Action{
			"issue_transfer_permit": s.issueTransferPermit,
			"settle":                s.settle,
		},
		Claims: map[string]workflow.Claim{"persons": s.persons},
	}
}

// Pages are the form's pages on a phone: where to, who moves, the basis,
// the origin, and the time spent in other Yangtze-Delta cities. The first
// makes the draft: the case belongs to the street of the new address from
// its first save.
func (s *Service) Pages() []workflow.Page {
	return []workflow.Page{
		{ID: "where", Fields: []workflow.Field{
			{Name: "division", Kind: workflow.KindDivision},
			{Name: "address", Kind: workflow.KindText},
			{Name: "resided_since", Kind: workflow.KindDate, Optional: true},
		}},
		{ID: "members", List: "members", Max: s.set.MaxMembers, Fields: []workflow.Field{
			{Name: "relation", Kind: workflow.KindChoice, Options: relationOptions},
			{Name: "name", Kind: workflow.KindText},
			{Name: "id_number", Kind: workflow.KindIDNumber},
		}},
		{ID: "basis", Fields: []workflow.Field{
			{Name: "basis", Kind: workflow.KindChoice, Options: basisOptions},
			{Name: "property_cert_no", Kind: workflow.KindText, If: "basis=own_home"},
			{Name: "lease_no", Kind: workflow.KindText, If: "basis=rental"},
			{Name: "employer", Kind: workflow.KindText, If: "basis=employment"},
			{Name: "contract_start", Kind: workflow.KindDate, If: "basis=employment"},
			{Name: "insurance_months", Kind: workflow.KindNumber, If: "basis=employment"},
		}},
		{ID: "origin", Fields: []workflow.Field{
			{Name: "origin_county", Kind: workflow.KindCounty},
			{Name: "origin_address", Kind: workflow.KindText},
			{Name: "origin_booklet_no", Kind: workflow.KindText},
		}},
		{ID: "prior", List: "prior_residence", Max: s.set.MaxPeriods, Fields: []workflow.Field{
			{Name: "city", Kind: workflow.KindCity, Options: s.delta},
			{Name: "from", Kind: workflow.KindDate},
			{Name: "to", Kind: workflow.KindDate},
		}},
	}
}

// Example is a complete application of someone moving alone from 丰县
// (Xuzhou) to a job in 海陵区 城东街道: the case goes to the origin
// registry after approval.
func (s *Service) Example() json.RawMessage {
	return json.RawMessage(`{"division":"321202001","address":"海陵区东进东路18号3幢201室","basis":"employment",` +
		`"employer":"泰州市某机械有限公司","contract_start":"2024-03-01","insurance_months":20,` +
		`"origin_county":"320321","origin_address":"江苏省徐州市丰县凤城街道中阳里128号","origin_booklet_no":"320321004512"}`)
}

// check is the validation of a form's fields (validator tags: the
// messages are the forms' own).
type check struct {
	Division        string `json:"division" validate:"required,division"`
	Address         string `json:"address" validate:"required,min=5,max=200"`
	ResidedSince    string `json:"resided_since" validate:"omitempty,date,notfuture"`
	Basis           string `json:"basis" validate:"required,oneof=own_home rental employment"`
	OriginCounty    string `json:"origin_county" validate:"required,county"`
	OriginAddress   string `json:"origin_address" validate:"required,min=5,max=200"`
	OriginBookletNo string `json:"origin_booklet_no" validate:"required,min=6,max=20"`
}

type checkOwnHome struct {
	PropertyCertNo string `json:"property_cert_no" validate:"required,min=2,max=50"`
}

type checkRental struct {
	LeaseNo string `json:"lease_no" validate:"required,min=2,max=50"`
}

// checkEmployment bounds insurance months at a hundred years: a typing
// slip, not a rule. Its min and max are reported as the service's own rule
// "months" (the portal's min and max messages count characters).
type checkEmployment struct {
	Employer        string `json:"employer" validate:"required,min=2,max=100"`
	ContractStart   string `json:"contract_start" validate:"required,date,notfuture"`
	InsuranceMonths *int   `json:"insurance_months" validate:"required,min=0,max=1200"`
}

type checkMember struct {
	Relation string `json:"relation" validate:"required,oneof=spouse child parent"`
	Name     string `json:"name" validate:"required,min=2,max=50"`
	IDNumber string `json:"id_number" validate:"required,idnumber"`
}

type checkPeriod struct {
	City string `json:"city" validate:"required,len=6"`
	From string `json:"from" validate:"required,date,notfuture"`
	To   string `json:"to" validate:"required,date,notfuture"`
}

// maxInsuranceMonths is the max of checkEmployment's tag, for the message.
var maxInsuranceMonths = validate.TagParam(checkEmployment{}, "InsuranceMonths", "max")

var bookletRE = regexp.MustCompile(`^[0-9A-Za-z-]+$`)

// Form decodes and validates an applicant's form, seals the family
// members' ID numbers and returns the form to store. A draft may leave out
// what later pages ask (its first page it must have: the case belongs to
// the street of that address); what is filled in must be right.
func (s *Service) Form(_ context.Context, in workflow.FormInput) (json.RawMessage, string, error) {
	f, err := decode(in.Raw, false)
	if err != nil {
		return nil, "", err
	}
	return s.form(f, in)
}

// form validates a decoded form (in clear) and returns it sealed for storage.
func (s *Service) form(f *application, in workflow.FormInput) (json.RawMessage, string, error) {
	f.normalize()
	fields, err := s.validate(f, in)
	if err != nil {
		return nil, "", err
	}
	if in.Mode == workflow.Draft {
		// Pages not reached yet: only their missing answers are forgiven,
		// never those of the first page, nor of a list entry being added.
		first := s.Pages()[0].Fields
		fields = slices.DeleteFunc(fields, func(fe portal.FieldError) bool {
			return fe.Rule == "required" && !strings.Contains(fe.Field, "[") &&
				!slices.ContainsFunc(first, func(pf workflow.Field) bool { return pf.Name == fe.Field && !pf.Optional })
		})
	}
	if len(fields) > 0 {
		return nil, "", portal.Invalid(fields...)
	}
	if err := s.personRules(f, in.Now); err != nil {
		return nil, "", err
	}
	if err := s.seal(f); err != nil {
		return nil, "", err
	}
	b, err := json.Marshal(f)
	if err != nil {
		return nil, "", fmt.Errorf("hukou.Form: %w", err)
	}
	return b, f.Division, nil
}

// decode parses a form strictly (unknown fields are refused, so nothing
// but the form can be set) and trims it. Only a stored form may hold sealed
// ID numbers: a client never sees them, and may not send them.
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

// normalize trims every field and keeps only the basis's own details
// (collect only what a rule needs).
func (f *application) normalize() {
	for _, p := range []*string{&f.Division, &f.Address, &f.ResidedSince, &f.Basis, &f.PropertyCertNo, &f.LeaseNo, &f.Employer,
		&f.ContractStart, &f.OriginCounty, &f.OriginAddress, &f.OriginBookletNo} {
		*p = strings.TrimSpace(*p)
	}
	if f.Basis != basisOwnHome {
		f.PropertyCertNo = ""
	}
	if f.Basis != basisRental {
		f.LeaseNo = ""
	}
	if f.Basis != basisEmployment {
		f.Employer, f.ContractStart, f.InsuranceMonths = "", "", nil
	}
	for i := range f.Members {
		m := &f.Members[i]
		m.Relation, m.Name, m.IDNumber = strings.TrimSpace(m.Relation), strings.TrimSpace(m.Name), strings.ToUpper(strings.TrimSpace(m.IDNumber))
	}
	for i := range f.PriorResidence {
		p := &f.PriorResidence[i]
		p.City, p.From, p.To = strings.TrimSpace(p.City), strings.TrimSpace(p.From), strings.TrimSpace(p.To)
	}
}

// prefix names the fields of a list entry: members[1].id_number.
func prefix(list string, i int, fields []portal.FieldError) []portal.FieldError {
	for j := range fields {
		fields[j].Field = fmt.Sprintf("%s[%d].%s", list, i, fields[j].Field)
	}
	return fields
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

// validate checks every field of the form: formats, the basis's details,
// each family member (ID checksum, none twice, not the applicant) and each
// period (a Yangtze-Delta city, from before to). It writes the code of an
// origin county given by its name into the form.
func (s *Service) validate(f *application, in workflow.FormInput) ([]portal.FieldError, error) {
	var out []portal.FieldError
	add := func(err error) error {
		fields, err := fieldErrors(err)
		out = append(out, fields...)
		return err
	}
	county := s.resolveCounty(f)
	if err := add(s.v.Struct(check{Division: f.Division, Address: f.Address, ResidedSince: f.ResidedSince, Basis: f.Basis,
		OriginCounty: f.OriginCounty, OriginAddress: f.OriginAddress, OriginBookletNo: f.OriginBookletNo})); err != nil {
		return nil, err
	}
	if county != nil {
		// A name of several counties: the list of them says more than "not a code".
		out = append(slices.DeleteFunc(out, func(fe portal.FieldError) bool { return fe.Field == "origin_county" }), *county)
	}
	if f.OriginBookletNo != "" && !bookletRE.MatchString(f.OriginBookletNo) {
		out = append(out, portal.FieldError{Field: "origin_booklet_no", Rule: "booklet"})
	}
	var err error
	switch f.Basis {
	case basisOwnHome:
		err = add(s.v.Struct(checkOwnHome{PropertyCertNo: f.PropertyCertNo}))
	case basisRental:
		err = add(s.v.Struct(checkRental{LeaseNo: f.LeaseNo}))
	case basisEmployment:
		err = add(s.v.Struct(checkEmployment{Employer: f.Employer, ContractStart: f.ContractStart, InsuranceMonths: f.InsuranceMonths}))
		for i, fe := range out {
			if fe.Field == "insurance_months" && (fe.Rule == "min" || fe.Rule == "max") {
				out[i] = portal.FieldError{Field: fe.Field, Rule: "months", Param: maxInsuranceMonths}
			}
		}
	}
	if err != nil {
		return nil, err
	}
	if len(f.Members) > s.set.MaxMembers {
		out = append(out, portal.FieldError{Field: "members", Rule: "max_items", Param: strconv.Itoa(s.set.MaxMembers)})
	}
	self := ""
	if in.Applicant != nil {
		self = in.Applicant.IDIndex
	}
	seen := map[string]int{}
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
		out = append(out, prefix("members", i, fields)...)
	}
	if len(f.PriorResidence) > s.set.MaxPeriods {
		out = append(out, portal.FieldError{Field: "prior_residence", Rule: "max_items", Param: strconv.Itoa(s.set.MaxPeriods)})
	}
	for i, p := range f.PriorResidence {
		fields, err := fieldErrors(s.v.Struct(checkPeriod(p)))
		if err != nil {
			return nil, err
		}
		if p.City != "" && !slices.Contains(s.delta, p.City) {
			fields = append(fields, portal.FieldError{Field: "city", Rule: "delta_city"})
		}
		if len(fields) == 0 && p.From > p.To {
			fields = append(fields, portal.FieldError{Field: "to", Rule: "after_from"})
		}
		out = append(out, prefix("prior_residence", i, fields)...)
	}
	return out, nil
}

// resolveCounty writes the code of the origin county into the form when
// the applicant wrote its name, so that the stored form and the API hold a
// code as ever. A name of several counties (朝阳区: Beijing's and
// Changchun's) is not guessed: the error lists them, in full. An unknown
// name is left for the county check to refuse.
func (s *Service) resolveCounty(f *application) *portal.FieldError {
	name := strings.Join(strings.Fields(f.OriginCounty), "")
	if name == "" || strings.Trim(name, "0123456789") == "" {
		return nil // a code, right or wrong
	}
	codes := s.counties.Named(name)
	switch len(codes) {
	case 0:
		return nil
	case 1:
		f.OriginCounty = codes[0]
		return nil
	}
	full := make([]string, len(codes))
	for i, code := range codes {
		full[i] = s.counties.FullName(code)
	}
	return &portal.FieldError{Field: "origin_county", Rule: "county_ambiguous", Param: strings.Join(full, "、")}
}

// personRules applies the rules about who may follow: the relations that
// qualify, and a child's age by the birth date in the ID number. A refusal
// names its rule, its clause and the member.
func (s *Service) personRules(f *application, now time.Time) error {
	rel := s.set.Rules[ruleRelations]
	for i, m := range f.Members {
		if !slices.Contains(rel.Allowed, m.Relation) {
			return s.refuse(ruleRelations, map[string]any{"N": i + 1, "Relation": m.Relation, "Allowed": rel.Allowed, "Max": rel.ChildMaxAge},
				portal.FieldError{Field: fmt.Sprintf("members[%d].relation", i), Rule: "relation"})
		}
		if m.Relation == relationChild && rel.ChildMaxAge > 0 {
			if age := ageOn(m.IDNumber, now); age >= rel.ChildMaxAge {
				return s.refuse(ruleChildAge, map[string]any{"N": i + 1, "Age": age, "Max": rel.ChildMaxAge},
					portal.FieldError{Field: fmt.Sprintf("members[%d].id_number", i), Rule: "child_age", Param: strconv.Itoa(rel.ChildMaxAge)})
			}
		}
	}
	return nil
}

// refuse is a rule's refusal: 422, the rule named, its message
// hukou-transfer.rule.<rule> with the clause it comes from (child_age is a
// part of the relations rule), and the fields it is about.
func (s *Service) refuse(rule string, data map[string]any, fields ...portal.FieldError) error {
	from := rule
	if rule == ruleChildAge {
		from = ruleRelations
	}
	data["Clause"] = s.set.Rules[from].Clause
	e := portal.RuleError(rule, serviceID+".rule."+rule, data)
	e.Fields, e.Labels = fields, serviceID+".field"
	return e
}

// ageOn is a person's age in whole years on the day now, by the birth date
// in their ID number (characters 7–14; validate.IDNumber checked them but
// does not return the date).
func ageOn(id string, now time.Time) int {
	birth, err := time.Parse("20060102", id[6:14])
	if err != nil {
		return 0
	}
	y, m, d := now.Date()
	age := y - birth.Year()
	if m < birth.Month() || m == birth.Month() && d < birth.Day() {
		age--
	}
	return age
}

// seal replaces each member's ID number with its sealed form and index.
func (s *Service) seal(f *application) error {
	for i := range f.Members {
		if err := s.sealer.SealID(&f.Members[i].SealedID); err != nil {
			return fmt.Errorf("hukou.seal: %w", err)
		}
	}
	return nil
}

// open reads a stored form back in clear.
func (s *Service) open(stored json.RawMessage) (*application, error) {
	f, err := decode(stored, true)
	if err != nil {
		return nil, fmt.Errorf("hukou.open: %w", err)
	}
	for i := range f.Members {
		if err := s.sealer.OpenID(&f.Members[i].SealedID); err != nil {
			return nil, &portal.Error{Code: portal.EINTERNAL, Message: "error.integrity", Err: fmt.Errorf("hukou.open: member %d: %w", i, err)}
		}
	}
	return f, nil
}

// Show returns the stored form as its viewer may see it: the applicant
// their family's ID numbers in clear, everyone else masked.
func (s *Service) Show(stored json.RawMessage, owner bool) (json.RawMessage, error) {
	f, err := s.open(stored)
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

// Reveal returns a family member's ID number in clear
// ("members[0].id_number"); the caller audits.
func (s *Service) Reveal(stored json.RawMessage, field string) (string, error) {
	m := sealedFieldRE.FindStringSubmatch(field)
	if m == nil {
		return "", portal.NotFound(fmt.Errorf("hukou.Reveal: no sealed field %q", field))
	}
	f, err := s.open(stored)
	if err != nil {
		return "", err
	}
	i, _ := strconv.Atoi(m[1])
	if i >= len(f.Members) {
		return "", portal.NotFound(fmt.Errorf("hukou.Reveal: no member %d", i))
	}
	return f.Members[i].IDNumber, nil
}

// Prefill fills a new application from the applicant's valid residence
// permit: where they live, and since when.
func (s *Service) Prefill(ctx context.Context, valid func(ctx context.Context, service string) (*portal.Case, error)) (json.RawMessage, error) {
	permit, err := valid(ctx, s.set.Cancels)
	switch {
	case portal.ErrorCode(err) == portal.ENOTFOUND:
		return json.RawMessage("{}"), nil
	case err != nil:
		return nil, err
	}
	var from struct {
		Division     string `json:"division"`
		Address      string `json:"address"`
		ResidedSince string `json:"resided_since"`
	}
	if err := json.Unmarshal(permit.Form, &from); err != nil {
		return nil, fmt.Errorf("hukou.Prefill(%s): %w", permit.No, err)
	}
	return json.Marshal(from)
}

// formComplete re-validates the stored form as complete: the rules may
// have changed since the draft was saved, and time has passed (a child may
// have turned 18).
func (s *Service) formComplete(_ context.Context, f *workflow.Firing) error {
	form, err := s.open(f.Case.Form)
	if err != nil {
		return err
	}
	_, _, err = s.form(form, workflow.FormInput{Mode: workflow.Complete, Applicant: f.Case.Applicant, Now: f.Now})
	return err
}

// eligible applies the settlement rules: a basis that qualifies, and the
// months of social insurance and of residence they ask for, counted with
// the months spent in other Yangtze-Delta cities (累计互认). A move within
// Taizhou is free (市域通迁) when the settings say so.
func (s *Service) eligible(_ context.Context, f *workflow.Firing) error {
	form, err := s.open(f.Case.Form)
	if err != nil {
		return err
	}
	if err := s.personRules(form, handedIn(f)); err != nil {
		return err
	}
	if s.set.IntraCityFree && s.withinTaizhou(form) {
		return nil
	}
	if b := s.set.Rules[ruleBases]; !slices.Contains(b.Allowed, form.Basis) {
		return s.refuse(ruleBases, map[string]any{"Basis": form.Basis},
			portal.FieldError{Field: "basis", Rule: "basis", Param: form.Basis})
	}
	today := f.Now.In(f.Cal.Zone)
	delta := deltaMonths(form.PriorResidence)
	if r := s.set.Rules[ruleInsurance]; r.Months > 0 && slices.Contains(r.Bases, form.Basis) {
		have := delta
		if form.InsuranceMonths != nil {
			have += *form.InsuranceMonths
		}
		if have < r.Months {
			return s.refuse(ruleInsurance, map[string]any{"Min": r.Months, "Have": have, "Delta": delta})
		}
	}
	if min := s.set.Rules[ruleResidence].Months; min > 0 {
		// Months here and in the Delta, a month that is both counted once.
		lived := form.PriorResidence
		if _, err := time.Parse(time.DateOnly, form.ResidedSince); err == nil {
			lived = append(slices.Clone(lived), period{From: form.ResidedSince, To: today.AddDate(0, 0, -1).Format(time.DateOnly)})
		}
		have := deltaMonths(lived)
		if have < min {
			return s.refuse(ruleResidence, map[string]any{"Min": min, "Have": have, "Delta": delta})
		}
	}
	return nil
}

// handedIn is when the application was handed in: now, when the firing
// hands it in; else the last step that did. A family is judged as it was
// then: a child who turns 18 while the district decides still follows.
func handedIn(f *workflow.Firing) time.Time {
	if f.Def.HandsIn(f.Event) {
		return f.Now
	}
	for i := len(f.History) - 1; i >= 0; i-- {
		if f.Def.HandsIn(f.History[i].Event) {
			return f.History[i].At
		}
	}
	return f.Now
}

// deltaMonths is the whole months of the periods in other Yangtze-Delta
// cities, each counted from its first day to its last, as the law counts
// months (workflow.MonthsBetween). Periods that overlap or touch are joined
// first: a month lived once counts once, however many cities it is written
// under.
func deltaMonths(periods []period) int {
	type span struct{ from, end time.Time } // end: the day after the last
	var spans []span
	for _, p := range periods {
		from, err1 := time.Parse(time.DateOnly, p.From)
		to, err2 := time.Parse(time.DateOnly, p.To)
		if err1 == nil && err2 == nil && !to.Before(from) {
			spans = append(spans, span{from, to.AddDate(0, 0, 1)})
		}
	}
	slices.SortFunc(spans, func(a, b span) int { return a.from.Compare(b.from) })
	n := 0
	for i := 0; i < len(spans); {
		cur := spans[i]
		for i++; i < len(spans) && !spans[i].from.After(cur.end); i++ {
			if spans[i].end.After(cur.end) {
				cur.end = spans[i].end
			}
		}
		n += workflow.MonthsBetween(cur.from, cur.end)
	}
	return n
}

// withinTaizhou reports a move from a county of the home city.
func (s *Service) withinTaizhou(f *application) bool {
	c, ok := s.counties.Get(f.OriginCounty)
	return ok && c.CityCode == s.set.HomeCity
}

// withinCity is the condition of approve's branch: a move within Taizhou
// settles at once; any other waits for the origin registry.
func (s *Service) withinCity(_ context.Context, f *workflow.Firing) (bool, error) {
	form, err := decode(f.Case.Form, true)
	if err != nil {
		return false, err
	}
	return s.withinTaizhou(form), nil
}

// issueTransferPermit numbers the move-in permit (准迁证): the prefix, the
// district, the year and a six-digit sequence per district and year. A
// renter settles into the community collective hukou of the street.
func (s *Service) issueTransferPermit(ctx context.Context, f *workflow.Firing) error {
	form, err := decode(f.Case.Form, true)
	if err != nil {
		return err
	}
	today := f.Now.In(f.Cal.Zone)
	year := today.Format("2006")
	seq, err := f.Tx.NextSeq(ctx, "transfer:"+f.Case.District, year)
	if err != nil {
		return err
	}
	into := settleOwnAddress
	if form.Basis == basisRental {
		into = settleCollective
	}
	return workflow.SetResult(f.Case, map[string]any{
		"transfer_permit_no": fmt.Sprintf("%s%s%s%06d", s.set.PermitPrefix, f.Case.District, year, seq),
		"approved_on":        today.Format(time.DateOnly),
		"approved_by":        f.Case.District,
		"settle_into":        into,
		"members":            len(form.Members) + 1,
	})
}

// settle records the settlement, whichever way the case reached it, and
// cancels the applicant's residence permit in the same transaction: it is
// no longer needed, and a settled resident cannot hold one.
func (s *Service) settle(ctx context.Context, f *workflow.Firing) error {
	today := f.Now.In(f.Cal.Zone).Format(time.DateOnly)
	set := map[string]any{"settled_on": today}
	if ref := f.Input.Values.Text("reference"); ref != "" {
		set["move_out_reference"] = ref
		set["moved_out_on"] = f.Input.Values.Text("confirmed_on")
	}
	permit, err := f.ValidGrant(ctx, s.set.Cancels)
	switch {
	case err == nil:
		if err := f.Amend(ctx, permit.No, map[string]string{portal.ResultCancelledBy: f.Case.No, portal.ResultCancelledOn: today}); err != nil {
			return err
		}
		// Its certificate answers "revoked" to anyone who verifies it.
		if err := f.SetCertificates(ctx, permit, portal.CertRevoked); err != nil {
			return err
		}
		set["cancelled_permit"] = permit.No
	case portal.ErrorCode(err) != portal.ENOTFOUND:
		return err
	}
	// The move-in permit has done its work.
	if err := f.SetCertificates(ctx, f.Case, portal.CertUsed); err != nil {
		return err
	}
	return workflow.SetResult(f.Case, set)
}

// persons claims every family member moving, by the blind index of their
// ID number, and the applicant themself: nobody is in two open transfers.
func (s *Service) persons(c *portal.Case, applicant *portal.User) ([]workflow.ClaimKey, error) {
	f, err := decode(c.Form, true)
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
