package schooling

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"tzportal/portal"
	"tzportal/portal/workflow"
)

// settings are the service's settings (workflows/school-enrollment.yaml).
type settings struct {
	// PermitService is the residence permit's service: the guardian's
	// permit the form is prefilled from, checked against and counted in
	// years for points.
	PermitService string `yaml:"permit_service"`
	// PreferencesMax is how many schools a child may ask for, in order.
	PreferencesMax int `yaml:"preferences_max"`
	// PlacementPrefix starts a placement notice's number: prefix, district,
	// year and a six-digit sequence.
	PlacementPrefix string `yaml:"placement_prefix"`
	// IndicatorTarget is the plan's target share of eligible migrant
	// children placed in public schools (0–1).
	IndicatorTarget float64 `yaml:"indicator_target"`
	// IndicatorBaseline is the plan's starting share (2020).
	IndicatorBaseline float64 `yaml:"indicator_baseline"`
	// CohortBatch is how many cases one transaction of a cohort operation
	// moves.
	CohortBatch int         `yaml:"cohort_batch"`
	Rules       ruleSet     `yaml:"rules"`
	Points      []pointItem `yaml:"points"`
	// Limits of the event inputs, read by the engine.
	ReasonMaxChars int `yaml:"reason_max_chars"`
	ItemsMax       int `yaml:"items_max"`
	ItemMaxChars   int `yaml:"item_max_chars"`
	PointsMaxChars int `yaml:"points_max_chars"`
	SchoolMaxChars int `yaml:"school_max_chars"`
	// Limits of materials, read by the engine.
	MaterialMaxMiB        int `yaml:"material_max_mib"`
	MaterialMaxMegapixels int `yaml:"material_max_megapixels"`
	MaterialsMax          int `yaml:"materials_max"`
}

// ruleSet is who may apply. Each rule names the clause it comes from; a
// refusal quotes it.
type ruleSet struct {
	ChildAge        ageRule    `yaml:"child_age"`
	PrimaryRecord   recordRule `yaml:"primary_record"`
	ResidencePermit plainRule  `yaml:"residence_permit"`
	GuardianBasis   basisRule  `yaml:"guardian_basis"`
}

// ageRule: a child of Grade is between MinAge and MaxAge (whole years, both
// included) on AgeOn ("MM-DD") of the year they start.
type ageRule struct {
	Grade  string `yaml:"grade"`
	AgeOn  string `yaml:"age_on"`
	MinAge int    `yaml:"min_age"`
	MaxAge int    `yaml:"max_age"`
	Clause string `yaml:"clause"`
}

// recordRule: a child of Grade holds a primary-school record (学籍).
type recordRule struct {
	Grade  string `yaml:"grade"`
	Clause string `yaml:"clause"`
}

// plainRule is a rule with nothing to set but its clause.
type plainRule struct {
	Clause string `yaml:"clause"`
}

// basisRule: the guardian has a business licence, or at least
// MinInsuranceMonths of local social insurance.
type basisRule struct {
	MinInsuranceMonths int    `yaml:"min_insurance_months"`
	Clause             string `yaml:"clause"`
}

// Rule names: each refusal names one (texts school-enrollment.rule.<rule>).
const (
	ruleChildAge        = "child_age"
	rulePrimaryRecord   = "primary_record"
	ruleResidencePermit = "residence_permit"
	ruleGuardianBasis   = "guardian_basis"
	ruleWindow          = "enrollment_window"
	ruleAppealWindow    = "appeal_window"
	ruleSeatFree        = "seat_free"
	ruleSchoolUnknown   = "school_unknown"
)

// Events and states the code reads history or counts seats by.
const (
	eventPublished = "publish"
	stateAssigned  = "assigned"
	stateEnrolled  = "enrolled"
)

// The outcomes of a decided appeal (the API contract): the score amended
// to the points given, or the appeal dismissed.
const (
	outcomeAmended   = "amended"
	outcomeDismissed = "dismissed"
)

var (
	itemRE   = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	prefixRE = regexp.MustCompile(`^[A-Z]{1,4}$`)
)

// Configure reads the settings, the rules and the points, refusing what
// the service could not apply.
func (s *Service) Configure(d *workflow.Definition) error {
	var set settings
	if err := d.DecodeSettings(&set); err != nil {
		return err
	}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if set.PermitService == "" {
		bad("permit_service is needed")
	}
	if set.PreferencesMax < 1 || set.PreferencesMax > 10 {
		bad("preferences_max must be 1 to 10")
	}
	if !prefixRE.MatchString(set.PlacementPrefix) {
		bad("placement_prefix: one to four capital letters")
	}
	r := set.Rules
	for name, clause := range map[string]string{ruleChildAge: r.ChildAge.Clause, rulePrimaryRecord: r.PrimaryRecord.Clause,
		ruleResidencePermit: r.ResidencePermit.Clause, ruleGuardianBasis: r.GuardianBasis.Clause} {
		if clause == "" {
			bad("rules.%s needs the clause it comes from", name)
		}
	}
	if !slices.Contains(gradeOptions, r.ChildAge.Grade) || !slices.Contains(gradeOptions, r.PrimaryRecord.Grade) {
		bad("rules.child_age.grade and rules.primary_record.grade: one of %v", gradeOptions)
	}
	if _, err := time.Parse("01-02", r.ChildAge.AgeOn); err != nil {
		bad("rules.child_age.age_on: a day of the year as MM-DD, e.g. \"08-31\"")
	}
	if r.ChildAge.MinAge < 0 || r.ChildAge.MaxAge < r.ChildAge.MinAge {
		bad("rules.child_age: 0 <= min_age <= max_age")
	}
	if r.GuardianBasis.MinInsuranceMonths < 0 || r.GuardianBasis.MinInsuranceMonths > maxInsuranceMonths {
		bad("rules.guardian_basis.min_insurance_months: 0 to %d", maxInsuranceMonths)
	}
	problems = append(problems, checkPoints(set.Points)...)
	if len(problems) > 0 {
		return fmt.Errorf("%s: settings: %s", d.File, strings.Join(problems, "; "))
	}
	s.set = set
	return nil
}

// refuse is a rule's refusal: 422, the rule named, its message
// school-enrollment.rule.<rule> with the clause it comes from when it has
// one, and the form's fields it is about.
func refuse(rule, clause string, data map[string]any, fields ...portal.FieldError) *portal.Error {
	if clause != "" {
		data["Clause"] = clause
	}
	e := portal.RuleError(rule, ServiceID+".rule."+rule, data)
	if len(fields) > 0 {
		e.Fields, e.Labels = fields, ServiceID+".field"
	}
	return e
}

// refuseInput is a rule's refusal about an event's input (labels
// school-enrollment.input.<name>).
func refuseInput(rule string, data map[string]any, input string) *portal.Error {
	e := refuse(rule, "", data, portal.FieldError{Field: input, Rule: rule})
	e.Labels = ServiceID + ".input"
	return e
}

// childRules are the rules that read only the child and the grade: a
// grade-1 child's age on the day of the year the settings name, a grade-7
// child's primary-school record (asked of a complete form only: a draft
// may give it later). The form applies them as soon as it has what they
// need, so a parent learns it on the page they fill in; handing the case in
// applies them again (the settings may have changed).
func (s *Service) childRules(f *application, complete bool) error {
	r := s.set.Rules
	if f.Grade == r.ChildAge.Grade && f.Year != 0 && len(f.ChildIDNumber) == 18 {
		born, err := time.Parse("20060102", f.ChildIDNumber[6:14])
		on, err2 := time.Parse("2006-01-02", fmt.Sprintf("%04d-%s", f.Year, r.ChildAge.AgeOn))
		if err == nil && err2 == nil {
			age := ageOn(born, on)
			if age < r.ChildAge.MinAge || age > r.ChildAge.MaxAge {
				// The first year the child is old enough, for "apply then".
				from := born.Year() + r.ChildAge.MinAge
				if ageOn(born, time.Date(from, on.Month(), on.Day(), 0, 0, 0, 0, time.UTC)) < r.ChildAge.MinAge {
					from++
				}
				return refuse(ruleChildAge, r.ChildAge.Clause, map[string]any{"Age": age, "Min": r.ChildAge.MinAge, "Max": r.ChildAge.MaxAge,
					"On": on.Format(time.DateOnly), "Born": born.Format(time.DateOnly), "From": from, "Year": f.Year},
					portal.FieldError{Field: fieldChildID, Rule: "child_age"})
			}
		}
	}
	if complete && f.Grade == r.PrimaryRecord.Grade && f.PrimaryRecordNo == "" {
		return refuse(rulePrimaryRecord, r.PrimaryRecord.Clause, map[string]any{"Grade": f.Grade},
			portal.FieldError{Field: "primary_record_no", Rule: "required"})
	}
	return nil
}

// ageOn is the age in whole years on the day on of someone born on born.
func ageOn(born, on time.Time) int {
	age := on.Year() - born.Year()
	if on.Month() < born.Month() || on.Month() == born.Month() && on.Day() < born.Day() {
		age--
	}
	return age
}

// eligibility applies the rules about the guardian, given the valid
// residence permit the portal holds for them (nil: none, and the number
// stated is taken as it is; the checklist's copy of the permit proves it):
// the permit stated is the one held, and the guardian has a business
// licence or enough months of social insurance.
func (s *Service) eligibility(f *application, permit *portal.Case) error {
	if err := s.childRules(f, true); err != nil {
		return err
	}
	r := s.set.Rules
	if permit != nil {
		if held := resultText(permit.Result, "permit_no"); held != "" && held != f.ResidencePermitNo {
			return refuse(ruleResidencePermit, r.ResidencePermit.Clause, map[string]any{"Stated": f.ResidencePermitNo, "Held": held},
				portal.FieldError{Field: "residence_permit_no", Rule: "permit_held", Param: held})
		}
	}
	if f.GuardianBasis == basisInsurance {
		have := 0
		if f.InsuranceMonths != nil {
			have = *f.InsuranceMonths
		}
		if have < r.GuardianBasis.MinInsuranceMonths {
			return refuse(ruleGuardianBasis, r.GuardianBasis.Clause, map[string]any{"Have": have, "Min": r.GuardianBasis.MinInsuranceMonths},
				portal.FieldError{Field: fieldInsurance, Rule: "min_months", Param: strconv.Itoa(r.GuardianBasis.MinInsuranceMonths)})
		}
	}
	return nil
}

// validPermit returns the applicant's valid residence permit in the
// portal, nil if they hold none.
func (s *Service) validPermit(ctx context.Context, f *workflow.Firing) (*portal.Case, error) {
	permit, err := f.ValidGrant(ctx, s.set.PermitService)
	switch {
	case portal.ErrorCode(err) == portal.ENOTFOUND:
		return nil, nil
	case err != nil:
		return nil, err
	}
	return permit, nil
}

// formComplete re-validates the stored form as complete, the schools
// against the district's as they are now: the rules and the schools may
// have changed since the draft was saved.
func (s *Service) formComplete(ctx context.Context, f *workflow.Firing) error {
	form, err := s.open(f.Case.Form)
	if err != nil {
		return err
	}
	_, _, err = s.form(ctx, form, workflow.FormInput{Mode: workflow.Complete, Applicant: f.Case.Applicant, Now: f.Now, Store: f.Tx})
	return err
}

// eligible applies every rule of who may apply.
func (s *Service) eligible(ctx context.Context, f *workflow.Firing) error {
	form, err := s.open(f.Case.Form)
	if err != nil {
		return err
	}
	permit, err := s.validPermit(ctx, f)
	if err != nil {
		return err
	}
	return s.eligibility(form, permit)
}

// enrollmentWindow lets an application in only while its district's window
// for the year is open (the city's dates, both days included). A case
// handed in within the window and returned for correction may come back
// after it closed: the correction is part of the application made in time.
func (s *Service) enrollmentWindow(ctx context.Context, f *workflow.Firing) error {
	for _, h := range f.History {
		if f.Def.HandsIn(h.Event) {
			return nil
		}
	}
	form, err := stored(f.Case)
	if err != nil {
		return err
	}
	today := f.Now.In(f.Cal.Zone).Format(time.DateOnly)
	w, err := f.Tx.EnrollmentWindow(ctx, f.Case.District, form.Year)
	switch {
	case portal.ErrorCode(err) == portal.ENOTFOUND:
		return refuse(ruleWindow, "", map[string]any{"Status": "none", "Year": form.Year})
	case err != nil:
		return err
	case today < w.Opens:
		return refuse(ruleWindow, "", map[string]any{"Status": "early", "Year": form.Year, "Opens": w.Opens, "Closes": w.Closes})
	case today > w.Closes:
		return refuse(ruleWindow, "", map[string]any{"Status": "closed", "Year": form.Year, "Opens": w.Opens, "Closes": w.Closes})
	}
	return nil
}

// appealWindow lets an applicant appeal against the published list within
// the district's appeal days (working days) after the day the list
// published their child; the message says until when.
func (s *Service) appealWindow(ctx context.Context, f *workflow.Firing) error {
	var published time.Time
	for i := len(f.History) - 1; i >= 0; i-- {
		if f.History[i].Event == eventPublished {
			published = f.History[i].At
			break
		}
	}
	if published.IsZero() {
		return fmt.Errorf("schooling.appealWindow(%s): no publish step in the history", f.Case.No)
	}
	due, w, err := appealDue(ctx, f, published)
	if err != nil {
		return err
	}
	if !f.Now.Before(due) {
		return refuse(ruleAppealWindow, "", map[string]any{"Days": w.AppealDays,
			"Published": published.In(f.Cal.Zone).Format(time.DateOnly),
			"Until":     f.Cal.LastDay(due).In(f.Cal.Zone).Format(time.DateOnly)})
	}
	return nil
}

// openAppeals records, when the list publishes a child, the day and the
// last day an appeal may be made (the same reckoning as appeal_window's),
// for the family to read on the case page.
func (s *Service) openAppeals(ctx context.Context, f *workflow.Firing) error {
	due, _, err := appealDue(ctx, f, f.Now)
	if err != nil {
		return err
	}
	return workflow.SetResult(f.Case, map[string]any{"published_on": f.Now.In(f.Cal.Zone).Format(time.DateOnly),
		"appeal_until": f.Cal.LastDay(due).In(f.Cal.Zone).Format(time.DateOnly)})
}

// appealDecision checks the decision on an appeal: amended or dismissed, the corrected total (a whole number, not the total as it
// stands) when the score is amended and none when the appeal is dismissed.
// Each mistake names its input, as the engine's own checks do.
func (s *Service) appealDecision(_ context.Context, f *workflow.Firing) error {
	in := f.Input.Values
	outcome, points := in.Text("outcome"), in.Text("points")
	var bad []portal.FieldError
	switch outcome {
	case outcomeAmended:
		n, err := strconv.Atoi(points)
		switch {
		case points == "":
			bad = append(bad, portal.FieldError{Field: "points", Rule: "required"})
		case err != nil || n < 0 || strings.TrimLeft(points, "0123456789") != "":
			bad = append(bad, portal.FieldError{Field: "points", Rule: "points"})
		default:
			res, err := ReadResult(f.Case)
			if err != nil {
				return err
			}
			if res.Score != nil && res.Score.Total == n {
				bad = append(bad, portal.FieldError{Field: "points", Rule: "points_same", Param: strconv.Itoa(n)})
			}
		}
	case outcomeDismissed:
		if points != "" {
			bad = append(bad, portal.FieldError{Field: "points", Rule: "points_unused"})
		}
	default:
		bad = append(bad, portal.FieldError{Field: "outcome", Rule: "outcome"})
	}
	if len(bad) > 0 {
		return &portal.Error{Code: portal.EINVALID, Message: "error.invalid", Fields: bad, Labels: ServiceID + ".input"}
	}
	return nil
}

// amendScore carries out an amended appeal: the total becomes the points
// the district decided, and a part "appeal" holds the difference with the
// reason, so the parts still add up to the total. A dismissed appeal
// changes no points. Either way the result records the outcome.
func (s *Service) amendScore(_ context.Context, f *workflow.Firing) error {
	in := f.Input.Values
	set := map[string]any{"appeal_outcome": in.Text("outcome"), "appeal_decided_on": f.Now.In(f.Cal.Zone).Format(time.DateOnly)}
	if in.Text("outcome") == outcomeAmended {
		n, err := strconv.Atoi(in.Text("points"))
		if err != nil {
			return fmt.Errorf("schooling.amendScore(%s): %w", f.Case.No, err) // appeal_decision let it through
		}
		res, err := ReadResult(f.Case)
		if err != nil {
			return err
		}
		sc := Score{Parts: []Part{}}
		if res.Score != nil {
			sc = *res.Score
		}
		sc.Parts = append(sc.Parts, Part{Item: PartAppeal, Points: n - sc.Total, Basis: in.Text("reason")})
		sc.Total = n
		set["score"] = sc
	}
	return workflow.SetResult(f.Case, set)
}

// schoolAssigned is allocate's condition: the allocation named a school
// (result.school, set by the cohort operation before the event fires).
func schoolAssigned(_ context.Context, f *workflow.Firing) (bool, error) {
	res, err := ReadResult(f.Case)
	if err != nil {
		return false, err
	}
	return res.School != "", nil
}

// casesPage is how many cases one read counts seats over.
const casesPage = 500

// placeInSchool places an unassigned child by hand in a school of the
// case's district taking its grade that year, with a seat still free.
// Placements into one school are serialized by the school's counter row,
// locked first: two officers placing the last seat at once cannot both
// have it.
func (s *Service) placeInSchool(ctx context.Context, f *workflow.Firing) error {
	code := f.Input.Values.Text("school")
	form, err := stored(f.Case)
	if err != nil {
		return err
	}
	schools, err := f.Tx.Schools(ctx, f.Case.District, form.Year)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(schools, func(sc portal.School) bool { return sc.Code == code && sc.Grade == form.Grade })
	if i < 0 {
		return refuseInput(ruleSchoolUnknown, map[string]any{"School": code, "Year": form.Year, "Grade": form.Grade}, "school")
	}
	school := schools[i]
	// Placements into one school wait for each other here (the counter's
	// row lock), so two officers cannot both take its last seat.
	if _, err := f.Tx.NextSeq(ctx, "se-place:"+code, strconv.Itoa(form.Year)); err != nil {
		return err
	}
	taken, err := seatsTaken(ctx, f.Tx, f.Case.District, school.Code, form.Year, form.Grade)
	if err != nil {
		return err
	}
	if taken >= school.Seats {
		return refuseInput(ruleSeatFree, map[string]any{"School": school.Code, "Name": school.Name, "Seats": school.Seats}, "school")
	}
	return workflow.SetResult(f.Case, map[string]any{"school": school.Code, "school_name": school.Name, "placed_by_hand": true,
		"placed_on": f.Now.In(f.Cal.Zone).Format(time.DateOnly)})
}

// seatsTaken counts the children of a district placed in a school for a
// year and grade: its cases assigned there or enrolled there.
func seatsTaken(ctx context.Context, r portal.Reader, district, school string, year int, grade string) (int, error) {
	n := 0
	for _, state := range []string{stateAssigned, stateEnrolled} {
		var after int64
		for {
			page, err := r.CasesInState(ctx, ServiceID, district, state, after, casesPage)
			if err != nil {
				return 0, err
			}
			for i := range page {
				c := &page[i]
				form, err := stored(c)
				if err != nil {
					return 0, err
				}
				res, err := ReadResult(c)
				if err != nil {
					return 0, err
				}
				if res.School == school && form.Year == year && form.Grade == grade {
					n++
				}
			}
			if len(page) < casesPage {
				break
			}
			after = page[len(page)-1].ID
		}
	}
	return n, nil
}

// numberPlacement numbers the placement notice (入学通知) when the school
// confirms the enrollment: the prefix, the district, the school year and a
// six-digit sequence per district and year. issue_certificate, after it,
// makes the notice verifiable.
func (s *Service) numberPlacement(ctx context.Context, f *workflow.Firing) error {
	form, err := stored(f.Case)
	if err != nil {
		return err
	}
	year := strconv.Itoa(form.Year)
	seq, err := f.Tx.NextSeq(ctx, "placement:"+f.Case.District, year)
	if err != nil {
		return err
	}
	return workflow.SetResult(f.Case, map[string]any{
		"placement_no": fmt.Sprintf("%s%s%s%06d", s.set.PlacementPrefix, f.Case.District, year, seq),
		"enrolled_on":  f.Now.In(f.Cal.Zone).Format(time.DateOnly),
	})
}

// appealDue is when the appeal days after a publication end: the window's
// appeal_days working days.
func appealDue(ctx context.Context, f *workflow.Firing, published time.Time) (time.Time, *portal.EnrollmentWindow, error) {
	form, err := stored(f.Case)
	if err != nil {
		return time.Time{}, nil, err
	}
	w, err := f.Tx.EnrollmentWindow(ctx, f.Case.District, form.Year)
	if err != nil {
		return time.Time{}, nil, err
	}
	return f.Cal.Due(published, workflow.Deadline{N: w.AppealDays, Working: true}), w, nil
}
