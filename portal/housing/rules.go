package housing

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"tzportal/portal"
	"tzportal/portal/workflow"
)

// settings are the service's settings (workflows/housing-security.yaml).
type settings struct {
	// PermitService is the residence permit's service: the permit the form
	// is prefilled from and checked against.
	PermitService string `yaml:"permit_service"`
	// HukouService and HukouSettledStates find a settlement in Taizhou
	// through the portal: the applicant's hukou is local, whatever the form
	// says.
	HukouService       string   `yaml:"hukou_service"`
	HukouSettledStates []string `yaml:"hukou_settled_states"`
	// MaxMembers bounds the household's members besides the applicant.
	MaxMembers int `yaml:"max_members"`
	// NoticeDays is how long the public notice (公示) lasts, in days.
	NoticeDays int `yaml:"notice_days"`
	// RecheckDays is how many working days after a refusal the applicant
	// may ask for a recheck (复核).
	RecheckDays int               `yaml:"recheck_days"`
	Objections  objectionSettings `yaml:"objections"`
	// Priority are the priority classes of the waiting list, the first
	// served first: a household's class is the first of these flags it
	// has; households with none are the class general, after them.
	Priority []string        `yaml:"priority"`
	Declines declineSettings `yaml:"declines"`
	// Rules are who may have each kind, as data; each rule names its clause.
	Rules     map[string]kindRules `yaml:"rules"`
	Indicator indicatorSettings    `yaml:"indicator"`
	// Draws are the draws' own settings (draw.go reads them).
	Draws yaml.Node `yaml:"draws"`
	// Limits of the event inputs, read by the engine.
	ReasonMaxChars int `yaml:"reason_max_chars"`
	ItemsMax       int `yaml:"items_max"`
	ItemMaxChars   int `yaml:"item_max_chars"`
	// Limits of materials, read by the engine.
	MaterialMaxMiB        int `yaml:"material_max_mib"`
	MaterialMaxMegapixels int `yaml:"material_max_megapixels"`
	MaterialsMax          int `yaml:"materials_max"`
}

// objectionSettings bound the objections anyone may raise to a notice.
type objectionSettings struct {
	PerMinute       int `yaml:"per_minute"` // objections one address may post a minute
	ReasonMinChars  int `yaml:"reason_min_chars"`
	ReasonMaxChars  int `yaml:"reason_max_chars"`
	ContactMaxChars int `yaml:"contact_max_chars"`
}

// declineSettings are the decline penalty: a declined offer puts the
// household at the end of the list (ToEndOfList), and the RemovalAt-th
// decline takes it off the list.
type declineSettings struct {
	ToEndOfList bool `yaml:"to_end_of_list"`
	RemovalAt   int  `yaml:"removal_at"`
}

// indicatorSettings are the plan's indicator: households covered by
// housing security over the urban permanent residents' households of each
// district (the statistics bureau's figures).
type indicatorSettings struct {
	Baseline   float64        `yaml:"baseline"`
	Target     float64        `yaml:"target"`
	Households map[string]int `yaml:"households"`
}

// kindRules are the rules of one kind of housing; a rule left out does not
// apply to it.
type kindRules struct {
	IncomePerHead   *incomeRule `yaml:"income_per_head"`
	Home            *homeRule   `yaml:"home"`
	InsuranceMonths *monthsRule `yaml:"insurance_months"`
	ResidencePermit *plainRule  `yaml:"residence_permit"`
}

// incomeRule: the household's monthly income per head is below Below yuan.
type incomeRule struct {
	Below  int    `yaml:"below"`
	Clause string `yaml:"clause"`
}

// homeRule: no home in the city, or — when AreaPerHeadBelow is more than
// 0 — one with less floor area per head than it.
type homeRule struct {
	AreaPerHeadBelow float64 `yaml:"area_per_head_below"`
	Clause           string  `yaml:"clause"`
}

// monthsRule: at least Min months of social insurance paid in Taizhou (of
// applicants without a Taizhou hukou).
type monthsRule struct {
	Min    int    `yaml:"min"`
	Clause string `yaml:"clause"`
}

// plainRule is a rule with nothing to set but its clause.
type plainRule struct {
	Clause string `yaml:"clause"`
}

// Rule names: each refusal names one (texts housing-security.rule.<rule>),
// and the case page explains each (housing-security.check.<rule>).
const (
	ruleIncome    = "income_per_head"
	ruleHome      = "home"
	ruleInsurance = "insurance_months"
	rulePermit    = "residence_permit"
)

// ClassGeneral is the waiting list's class of households with no priority.
const ClassGeneral = "general"

// priorityFlags are the form's answers a priority class may be.
var priorityFlags = []string{fieldFamily, fieldElderly, fieldDisabled}

var (
	districtRE = regexp.MustCompile(`^\d{6}$`)
	stateRE    = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
)

// Configure reads the settings and the rules, refusing what the service
// could not apply: every problem at once.
func (s *Service) Configure(d *workflow.Definition) error {
	var set settings
	if err := d.DecodeSettings(&set); err != nil {
		return err
	}
	if problems := set.check(); len(problems) > 0 {
		return fmt.Errorf("%s: settings: %s", d.File, strings.Join(problems, "; "))
	}
	s.set = set
	return nil
}

// check lists what is wrong with the settings.
func (set *settings) check() []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if set.PermitService == "" || set.HukouService == "" {
		bad("permit_service and hukou_service are needed")
	}
	if len(set.HukouSettledStates) == 0 || slices.ContainsFunc(set.HukouSettledStates, func(st string) bool { return !stateRE.MatchString(st) }) {
		bad("hukou_settled_states: the states of %s that settle a family (lower_snake_case)", set.HukouService)
	}
	if set.MaxMembers < 1 || set.MaxMembers > 20 {
		bad("max_members must be 1 to 20")
	}
	if set.NoticeDays < 1 || set.NoticeDays > 60 {
		bad("notice_days must be 1 to 60")
	}
	if set.RecheckDays < 1 || set.RecheckDays > 60 {
		bad("recheck_days must be 1 to 60 (working days)")
	}
	o := set.Objections
	if o.PerMinute < 1 {
		bad("objections.per_minute must be at least 1")
	}
	if o.ReasonMinChars < 1 || o.ReasonMaxChars < o.ReasonMinChars || o.ReasonMaxChars > 5000 {
		bad("objections: 1 <= reason_min_chars <= reason_max_chars <= 5000")
	}
	if o.ContactMaxChars < 5 || o.ContactMaxChars > 200 {
		bad("objections.contact_max_chars must be 5 to 200")
	}
	seen := map[string]bool{}
	for _, p := range set.Priority {
		if !slices.Contains(priorityFlags, p) || seen[p] {
			bad("priority: %q is not one of %v, or is listed twice", p, priorityFlags)
		}
		seen[p] = true
	}
	if set.Declines.RemovalAt < 1 {
		bad("declines.removal_at must be at least 1 (the decline that takes a household off the list)")
	}
	for kind := range set.Rules {
		if !slices.Contains(kindOptions, kind) {
			bad("rules.%s: not a kind of the form (%v)", kind, kindOptions)
		}
	}
	for _, kind := range kindOptions {
		r, ok := set.Rules[kind]
		if !ok {
			bad("rules.%s is missing: every kind of the form needs its rules", kind)
			continue
		}
		clause := func(rule, c string) {
			if strings.TrimSpace(c) == "" {
				bad("rules.%s.%s needs the clause it comes from", kind, rule)
			}
		}
		if r.IncomePerHead != nil {
			clause(ruleIncome, r.IncomePerHead.Clause)
			if r.IncomePerHead.Below <= 0 || r.IncomePerHead.Below > maxIncome {
				bad("rules.%s.%s.below: yuan a month, 1 to %d", kind, ruleIncome, maxIncome)
			}
		}
		if r.Home != nil {
			clause(ruleHome, r.Home.Clause)
			if r.Home.AreaPerHeadBelow < 0 || r.Home.AreaPerHeadBelow > maxArea {
				bad("rules.%s.%s.area_per_head_below: square metres, 0 (no home at all) to %d", kind, ruleHome, maxArea)
			}
		}
		if r.InsuranceMonths != nil {
			clause(ruleInsurance, r.InsuranceMonths.Clause)
			if r.InsuranceMonths.Min < 0 || r.InsuranceMonths.Min > maxInsuranceMonths {
				bad("rules.%s.%s.min: 0 to %d", kind, ruleInsurance, maxInsuranceMonths)
			}
		}
		if r.ResidencePermit != nil {
			clause(rulePermit, r.ResidencePermit.Clause)
		}
	}
	in := set.Indicator
	if in.Baseline < 0 || in.Baseline > 1 || in.Target < 0 || in.Target > 1 {
		bad("indicator: baseline and target are shares, 0 to 1")
	}
	if len(in.Households) == 0 {
		bad("indicator.households: the urban permanent residents' households of each district")
	}
	for d, n := range in.Households {
		if !districtRE.MatchString(d) || n <= 0 {
			bad("indicator.households: %q: a district's 6-digit code and a positive number", d)
		}
	}
	return problems
}

// Check is one rule applied to a household, for the case page: whether
// it applies (the insurance and the permit only to those without a
// Taizhou hukou), whether it is met, the household's figure and the rule's
// as people read them, and the clause.
type Check struct {
	Rule    string `json:"rule"`
	Applies bool   `json:"applies"`
	OK      bool   `json:"ok"`
	Have    string `json:"have"`
	Limit   string `json:"limit"`
	Clause  string `json:"clause"`
}

// Assessment is the rules of a kind applied to a household
// (result.eligibility): the figures they read and each rule's outcome.
type Assessment struct {
	Kind          string  `json:"kind"`
	HouseholdSize int     `json:"household_size"`
	IncomeTotal   int     `json:"income_total"`
	IncomePerHead float64 `json:"income_per_head"` // yuan a month, to the fen
	HukouLocal    bool    `json:"hukou_local"`
	Eligible      bool    `json:"eligible"`
	Checks        []Check `json:"checks"`
	// Preview: worked out from a draft on the case page, not yet checked
	// against the permit the portal holds.
	Preview bool `json:"preview,omitempty"`
}

// assess applies the rules of the form's kind. permitHeld is the number of
// the applicant's valid residence permit on the portal ("" if none: the
// number stated is taken, and its copy among the materials proves it).
// The same rules apply to everyone; the insurance months and the permit
// only concern an applicant without a Taizhou hukou.
func (s *Service) assess(f *application, permitHeld string) *Assessment {
	rules := s.set.Rules[f.Kind]
	a := &Assessment{Kind: f.Kind, HouseholdSize: f.size(), HukouLocal: isTrue(f.HukouLocal), Eligible: true}
	if f.IncomeMonthly != nil {
		a.IncomeTotal = *f.IncomeMonthly
	}
	for _, m := range f.Members {
		if m.IncomeMonthly != nil {
			a.IncomeTotal += *m.IncomeMonthly
		}
	}
	a.IncomePerHead = math.Round(float64(a.IncomeTotal)/float64(a.HouseholdSize)*100) / 100
	add := func(c Check) {
		a.Checks = append(a.Checks, c)
		a.Eligible = a.Eligible && c.OK
	}
	if r := rules.IncomePerHead; r != nil {
		// Compared in whole yuan: the total against the limit times the
		// household, no rounding on the way.
		add(Check{Rule: ruleIncome, Applies: true, OK: a.IncomeTotal < r.Below*a.HouseholdSize,
			Have: number(a.IncomePerHead), Limit: number(float64(r.Below)), Clause: r.Clause})
	}
	if r := rules.Home; r != nil {
		c := Check{Rule: ruleHome, Applies: true, OK: true, Limit: number(r.AreaPerHeadBelow), Clause: r.Clause}
		if isTrue(f.OwnsHomeInCity) {
			m2 := 0.0
			if f.HomeAreaM2.valid() {
				m2 = f.HomeAreaM2.m2
			}
			c.Have = number(math.Round(m2/float64(a.HouseholdSize)*100) / 100)
			c.OK = r.AreaPerHeadBelow > 0 && m2 < r.AreaPerHeadBelow*float64(a.HouseholdSize)
		}
		add(c)
	}
	if r := rules.InsuranceMonths; r != nil {
		c := Check{Rule: ruleInsurance, Applies: !a.HukouLocal, OK: true, Limit: strconv.Itoa(r.Min), Clause: r.Clause}
		if c.Applies {
			have := 0
			if f.InsuranceMonths != nil {
				have = *f.InsuranceMonths
			}
			c.Have, c.OK = strconv.Itoa(have), have >= r.Min
		}
		add(c)
	}
	if r := rules.ResidencePermit; r != nil {
		c := Check{Rule: rulePermit, Applies: !a.HukouLocal, OK: true, Clause: r.Clause}
		if c.Applies {
			c.Have, c.Limit = f.ResidencePermitNo, permitHeld
			c.OK = f.ResidencePermitNo != "" && (permitHeld == "" || permitHeld == f.ResidencePermitNo)
		}
		add(c)
	}
	return a
}

// refusal is the refusal of the first rule an assessment does not meet
// (nil if it meets them all): 422, the rule named, its message
// housing-security.rule.<rule> with the figures and the clause, and the
// form's field to look at.
func (a *Assessment) refusal() *portal.Error {
	for _, c := range a.Checks {
		if c.OK {
			continue
		}
		data := map[string]any{"Kind": a.Kind, "Have": c.Have, "Limit": c.Limit, "Clause": c.Clause, "Size": a.HouseholdSize}
		var field portal.FieldError
		switch c.Rule {
		case ruleIncome:
			data["Total"] = number(float64(a.IncomeTotal))
			data["Equal"] = c.Have == c.Limit
			field = portal.FieldError{Field: fieldIncome, Rule: "income_limit", Param: c.Limit}
		case ruleHome:
			data["None"] = c.Limit == "0"
			field = portal.FieldError{Field: fieldOwnsHome, Rule: "home_limit"}
		case ruleInsurance:
			field = portal.FieldError{Field: fieldInsurance, Rule: "min_months", Param: c.Limit}
		case rulePermit:
			field = portal.FieldError{Field: fieldPermitNo, Rule: "permit_held", Param: c.Limit}
		}
		e := portal.RuleError(c.Rule, ServiceID+".rule."+c.Rule, data)
		e.Fields, e.Labels = []portal.FieldError{field}, ServiceID+".field"
		return e
	}
	return nil
}

// number writes an amount as people read it: thousands separated, at most
// two decimals, none when whole (3150 → "3,150", 3150.5 → "3,150.5").
func number(v float64) string {
	neg := v < 0
	v = math.Abs(math.Round(v*100) / 100)
	whole := int64(v)
	frac := strings.TrimRight(strings.TrimPrefix(strconv.FormatFloat(v-float64(whole), 'f', 2, 64), "0"), "0")
	if frac == "." {
		frac = ""
	}
	digits := strconv.FormatInt(whole, 10)
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, d := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	return b.String() + frac
}
