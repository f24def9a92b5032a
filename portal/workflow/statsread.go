package workflow

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"

	"tzportal/portal"
)

// The dashboards' figures, from the rollups (stats.go), within the
// reader's reach (policy "stats, read").

// StatsQuery narrows a dashboard: a division (a street, or a district;
// "" the whole reach), a service ("" all) and months From..To (YYYY-MM,
// or a date YYYY-MM-DD standing for its month; "" the default range).
type StatsQuery struct {
	Division, Service, From, To string
}

// Rate is a share (0..1), nil when there is nothing to share.
func Rate(part, whole int64) *float64 {
	if whole == 0 {
		return nil
	}
	r := float64(part) / float64(whole)
	return &r
}

// ServiceFigures are one service's figures (Service "" for all).
type ServiceFigures struct {
	Service string `json:"service,omitempty"`
	// HandedIn cases in the months; of those, Open now (not final) and
	// Completed (final), by outcome.
	HandedIn       int64    `json:"handed_in"`
	Open           int64    `json:"open"`
	Completed      int64    `json:"completed"`
	Granted        int64    `json:"granted"`
	Refused        int64    `json:"refused"`
	Withdrawn      int64    `json:"withdrawn"`
	Terminated     int64    `json:"terminated"`
	CompletionRate *float64 `json:"completion_rate"`
	// Decided: cases granted or refused in the months, with their
	// processing time's median and 90th percentile in working days.
	Decided    int64 `json:"decided"`
	MedianDays *int  `json:"median_days"`
	P90Days    *int  `json:"p90_days"`
	// Timed decisions on steps with a time limit, OnTime within it.
	Timed      int64    `json:"timed_decisions"`
	OnTime     int64    `json:"on_time_decisions"`
	OnTimeRate *float64 `json:"on_time_rate"`
	// DigitalTakeUp is the share of cases filed online; nil while the
	// portal records no counter cases (every case it knows was online).
	DigitalTakeUp *float64 `json:"digital_take_up"`

	days map[int]int64
}

// StateFigures count handed-in cases now in one state.
type StateFigures struct {
	Service string `json:"service"`
	State   string `json:"state"`
	Final   bool   `json:"final"`
	Outcome string `json:"outcome,omitempty"`
	Cases   int64  `json:"cases"`
}

// DivisionFigures are one office's (street's or town's) figures.
type DivisionFigures struct {
	Division       string   `json:"division"`
	HandedIn       int64    `json:"handed_in"`
	Open           int64    `json:"open"`
	Completed      int64    `json:"completed"`
	CompletionRate *float64 `json:"completion_rate"`
}

// MonthFigures are the cases handed in one month and, of those, completed.
type MonthFigures struct {
	Month          string   `json:"month"`
	HandedIn       int64    `json:"handed_in"`
	Completed      int64    `json:"completed"`
	CompletionRate *float64 `json:"completion_rate"`
}

// StepFigures are the decisions on one step of a service (by one person
// in the clerks' report).
type StepFigures struct {
	Service      string   `json:"service"`
	Step         string   `json:"step"`
	Decisions    int64    `json:"decisions"`
	Approved     int64    `json:"approved"`
	ApprovalRate *float64 `json:"approval_rate"`
	MedianDays   *int     `json:"median_days"`
	P90Days      *int     `json:"p90_days"`
	Timed        int64    `json:"timed_decisions"`
	OnTime       int64    `json:"on_time_decisions"`
	OnTimeRate   *float64 `json:"on_time_rate"`

	days map[int]int64
}

// Overview is the dashboard's figures.
type Overview struct {
	AsOf      time.Time         `json:"as_of"`
	Division  string            `json:"division,omitempty"`
	Service   string            `json:"service,omitempty"`
	From      string            `json:"from"`
	To        string            `json:"to"`
	Totals    ServiceFigures    `json:"totals"`
	Services  []ServiceFigures  `json:"services"`
	States    []StateFigures    `json:"states"`
	Divisions []DivisionFigures `json:"divisions"`
	Months    []MonthFigures    `json:"months"`
	Steps     []StepFigures     `json:"steps"`
}

// statsScope is a dashboard query resolved against the reader's reach.
type statsScope struct {
	// areas are the reader's areas within the query (disjoint: a street
	// within a district also reached is not repeated); terms the same as
	// scope terms, for the clerks' rows and the reveals.
	areas    []string
	terms    []portal.ScopeTerm
	all      bool
	service  string
	from, to string   // the months asked for (YYYY-MM)
	months   []string // from..to, none after this month
	periods  []string // the same, a whole year as YYYY
}

// statsScope resolves q within the actor's reach: 404 for one who reads
// no figures, or asks for a division out of reach; 422 for a service,
// division or month that is not one.
func (e *Engine) statsScope(actor portal.Actor, q StatsQuery) (*statsScope, error) {
	u := actor.User
	if u == nil {
		return nil, portal.Errorf(portal.EUNAUTHORIZED, "error.login_required", nil)
	}
	scope := e.Authz.Scope(u, "stats", "read")
	if u.Kind != portal.KindStaff || (!scope.AllScope && len(scope.Scope) == 0) {
		return nil, portal.NotFound(fmt.Errorf("workflow: %s reads no figures", u.Login))
	}
	var fields []portal.FieldError
	if q.Service != "" {
		if _, ok := e.Definition(q.Service); !ok {
			fields = append(fields, portal.FieldError{Field: "service", Rule: "oneof"})
		}
	}
	from, to, monthErrs := e.statsMonths(q)
	fields = append(fields, monthErrs...)
	divs := e.Authz.Divisions()
	dv, known := divs.Get(q.Division)
	if q.Division != "" && !known {
		fields = append(fields, portal.FieldError{Field: "division", Rule: "division"})
	}
	if len(fields) > 0 {
		bad := portal.Invalid(fields...)
		bad.Labels = "stats.filter"
		return nil, bad
	}
	st := &statsScope{service: q.Service, from: from, to: to}
	st.months, st.periods = e.statsPeriods(from, to)
	code := func(t portal.ScopeTerm) string { return t.Division + t.District }
	term := func(c string) portal.ScopeTerm {
		if d, ok := divs.Get(c); ok && d.Leaf() {
			return portal.ScopeTerm{Division: c}
		}
		return portal.ScopeTerm{District: c}
	}
	switch {
	case q.Division == "" || q.Division == divs.Root:
		st.areas, st.all = e.scopeAreas(scope), scope.AllScope
	case scope.AllScope || slices.ContainsFunc(scope.Scope, func(t portal.ScopeTerm) bool { return divs.Covers(code(t), dv.Code) }):
		st.areas = []string{dv.Code}
	default:
		// The parts of the division within reach (a supervisor of two
		// streets asking for their district).
		for _, t := range scope.Scope {
			if divs.Covers(dv.Code, code(t)) && !slices.Contains(st.areas, code(t)) {
				st.areas = append(st.areas, code(t))
			}
		}
		if len(st.areas) == 0 {
			return nil, portal.NotFound(fmt.Errorf("workflow: division %s is out of %s's reach", dv.Code, u.Login))
		}
	}
	if !st.all {
		for _, a := range st.areas {
			st.terms = append(st.terms, term(a))
		}
	}
	return st, nil
}

// children are the areas one level below the scope's (the city's
// districts, a district's streets; a street is its own).
func (e *Engine) children(areas []string) []string {
	divs := e.Authz.Divisions()
	var out []string
	for _, a := range areas {
		if d, ok := divs.Get(a); ok && !d.Leaf() {
			out = append(out, divs.Children(a)...)
		} else {
			out = append(out, a)
		}
	}
	return out
}

// statsMonths reads q's months; by default this year up to this month.
func (e *Engine) statsMonths(q StatsQuery) (from, to string, errs []portal.FieldError) {
	month := func(field, v string) string {
		if v == "" {
			return ""
		}
		for _, layout := range []string{"2006-01", "2006-01-02"} {
			if t, err := time.Parse(layout, v); err == nil {
				return t.Format("2006-01")
			}
		}
		errs = append(errs, portal.FieldError{Field: field, Rule: "month"})
		return ""
	}
	from, to = month("from", q.From), month("to", q.To)
	if len(errs) > 0 {
		return "", "", errs
	}
	now := e.Calendar.Month(e.Now())
	if to == "" {
		to = now
	}
	if from == "" {
		from = to[:4] + "-01"
	}
	if from > to {
		errs = append(errs, portal.FieldError{Field: "from", Rule: "ltefield", Param: "to"})
	}
	return from, to, errs
}

// statsPeriods lists the months from..to up to this month (at most ten
// years of them), and the periods to read for them: a year whose months
// are all there (up to this month) as the year, the others month by month.
func (e *Engine) statsPeriods(from, to string) (months, periods []string) {
	now := e.Calendar.Month(e.Now())
	t, err1 := time.Parse("2006-01", from)
	end, err2 := time.Parse("2006-01", min(to, now))
	if err1 != nil || err2 != nil {
		return nil, nil
	}
	byYear := map[string][]string{}
	var years []string
	for !t.After(end) && len(months) < 120 {
		m := t.Format("2006-01")
		months = append(months, m)
		if y := m[:4]; byYear[y] == nil {
			years = append(years, y)
		}
		byYear[m[:4]] = append(byYear[m[:4]], m)
		t = t.AddDate(0, 1, 0)
	}
	for _, y := range years {
		ms := byYear[y]
		last := min(y+"-12", now)
		if ms[0] == y+"-01" && ms[len(ms)-1] == last {
			periods = append(periods, y)
		} else {
			periods = append(periods, ms...)
		}
	}
	return months, periods
}

// Overview returns the dashboard's figures of q within the actor's reach:
// two reads of the rollups (the scope's months and its children's counts
// in one, its decisions), whatever the number of cases.
func (e *Engine) Overview(ctx context.Context, actor portal.Actor, q StatsQuery) (*Overview, error) {
	st, err := e.statsScope(actor, q)
	if err != nil {
		return nil, err
	}
	cc, err := e.Store.StatCases(ctx,
		portal.StatQuery{Areas: st.areas, Periods: st.months, Service: st.service, ByPeriod: true},
		portal.StatQuery{Areas: e.children(st.areas), Periods: st.periods, Service: st.service, ByArea: true})
	if err != nil {
		return nil, err
	}
	counts, byArea := cc[0], cc[1]
	steps, err := e.Store.StatSteps(ctx, portal.StatQuery{Areas: st.areas, Periods: st.periods, Service: st.service})
	if err != nil {
		return nil, err
	}
	o := &Overview{AsOf: e.Now().UTC(), Division: q.Division, Service: st.service, From: st.from, To: st.to,
		Services: []ServiceFigures{}, States: []StateFigures{}, Divisions: []DivisionFigures{}, Months: []MonthFigures{}, Steps: []StepFigures{}}
	services := map[string]*ServiceFigures{}
	states := map[[2]string]*StateFigures{}
	divisions := map[string]*DivisionFigures{}
	months := map[string]*MonthFigures{}
	service := func(id string) *ServiceFigures {
		if s := services[id]; s != nil {
			return s
		}
		s := &ServiceFigures{Service: id, days: map[int]int64{}}
		services[id] = s
		return s
	}
	o.Totals.days = map[int]int64{}
	final := func(service, name string) (*State, bool) {
		def, ok := e.Definition(service)
		if !ok {
			return nil, false
		}
		state := def.States[name]
		return state, state != nil && state.Final
	}
	for _, c := range counts {
		state, fin := final(c.Service, c.State)
		outcome := ""
		if state != nil {
			outcome = state.Outcome
		}
		k := [2]string{c.Service, c.State}
		if states[k] == nil {
			states[k] = &StateFigures{Service: c.Service, State: c.State, Final: fin, Outcome: outcome}
		}
		states[k].Cases += c.N
		m := months[c.Period]
		if m == nil {
			m = &MonthFigures{Month: c.Period}
			months[c.Period] = m
		}
		m.HandedIn += c.N
		if fin {
			m.Completed += c.N
		}
		for _, s := range []*ServiceFigures{service(c.Service), &o.Totals} {
			s.HandedIn += c.N
			if !fin {
				s.Open += c.N
				continue
			}
			s.Completed += c.N
			switch outcome {
			case OutcomeGranted:
				s.Granted += c.N
			case OutcomeRefused:
				s.Refused += c.N
			case OutcomeWithdrawn:
				s.Withdrawn += c.N
			case OutcomeTerminated:
				s.Terminated += c.N
			}
		}
	}
	for _, c := range byArea {
		d := divisions[c.Area]
		if d == nil {
			d = &DivisionFigures{Division: c.Area}
			divisions[c.Area] = d
		}
		d.HandedIn += c.N
		if _, fin := final(c.Service, c.State); fin {
			d.Completed += c.N
		} else {
			d.Open += c.N
		}
	}
	stepsBy := map[[2]string]*StepFigures{}
	for _, r := range steps {
		if r.Step == "" {
			for _, s := range []*ServiceFigures{service(r.Service), &o.Totals} {
				s.Decided += r.N
				s.days[r.Days] += r.N
			}
			continue
		}
		for _, s := range []*ServiceFigures{service(r.Service), &o.Totals} {
			s.Timed += r.Timed
			s.OnTime += r.OnTime
		}
		k := [2]string{r.Service, r.Step}
		sf := stepsBy[k]
		if sf == nil {
			sf = &StepFigures{Service: r.Service, Step: r.Step, days: map[int]int64{}}
			stepsBy[k] = sf
		}
		sf.add(r.N, r.Approved, r.Timed, r.OnTime, r.Days)
	}
	finish := func(s *ServiceFigures) {
		s.CompletionRate = Rate(s.Completed, s.HandedIn)
		s.OnTimeRate = Rate(s.OnTime, s.Timed)
		s.MedianDays, s.P90Days = percentiles(s.days)
	}
	finish(&o.Totals)
	for _, id := range slices.Sorted(maps.Keys(services)) {
		s := services[id]
		finish(s)
		o.Services = append(o.Services, *s)
	}
	for _, k := range e.stateOrder(slices.Collect(maps.Keys(states))) {
		o.States = append(o.States, *states[k])
	}
	for _, code := range slices.Sorted(maps.Keys(divisions)) {
		d := divisions[code]
		d.CompletionRate = Rate(d.Completed, d.HandedIn)
		o.Divisions = append(o.Divisions, *d)
	}
	for _, m := range st.months {
		mf := months[m]
		if mf == nil {
			mf = &MonthFigures{Month: m}
		}
		mf.CompletionRate = Rate(mf.Completed, mf.HandedIn)
		o.Months = append(o.Months, *mf)
	}
	for _, k := range e.stateOrder(slices.Collect(maps.Keys(stepsBy))) {
		sf := stepsBy[k]
		sf.finish()
		o.Steps = append(o.Steps, *sf)
	}
	return o, nil
}

func (s *StepFigures) add(n, approved, timed, onTime int64, days int) {
	s.Decisions += n
	s.Approved += approved
	s.Timed += timed
	s.OnTime += onTime
	s.days[days] += n
}

func (s *StepFigures) finish() {
	s.ApprovalRate = Rate(s.Approved, s.Decisions)
	s.OnTimeRate = Rate(s.OnTime, s.Timed)
	s.MedianDays, s.P90Days = percentiles(s.days)
}

// percentiles are a histogram's median and 90th percentile (nil if empty).
func percentiles(h map[int]int64) (*int, *int) {
	m, ok := Percentile(h, 0.5)
	if !ok {
		return nil, nil
	}
	p, _ := Percentile(h, 0.9)
	return &m, &p
}

// stateOrder sorts (service, state) keys by service, then the state's
// place in its workflow file.
func (e *Engine) stateOrder(keys [][2]string) [][2]string {
	place := func(k [2]string) int {
		if def, ok := e.Definition(k[0]); ok {
			if i := slices.Index(def.StateNames(), k[1]); i >= 0 {
				return i
			}
		}
		return math.MaxInt
	}
	slices.SortFunc(keys, func(a, b [2]string) int {
		return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(place(a), place(b)), cmp.Compare(a[1], b[1]))
	})
	return keys
}

// ClerkFigures are one person's decisions on one step, with how they
// compare to their peers on it.
type ClerkFigures struct {
	StepFigures
	ActorID int64  `json:"-"`
	Name    string `json:"name"`
	// Compared: the person has enough decisions and peers to be compared;
	// then the modified z-scores of approval rate and median days, and
	// which of them stand out.
	Compared   bool     `json:"compared"`
	ApprovalZ  *float64 `json:"approval_z,omitempty"`
	MedianZ    *float64 `json:"median_days_z,omitempty"`
	Outlier    bool     `json:"outlier"`
	OutlierFor []string `json:"outlier_for,omitempty"` // approval_rate, median_days
}

// ClerkReport is the clerks' figures of a dashboard's query.
type ClerkReport struct {
	From         string         `json:"from"`
	To           string         `json:"to"`
	MinDecisions int            `json:"min_decisions"`
	MinPeers     int            `json:"min_peers"`
	Threshold    float64        `json:"threshold"`
	Items        []ClerkFigures `json:"items"`
}

// Clerks returns each person's decisions per service and step in q, the
// ones standing out among their peers flagged.
func (e *Engine) Clerks(ctx context.Context, actor portal.Actor, q StatsQuery) (*ClerkReport, error) {
	st, err := e.statsScope(actor, q)
	if err != nil {
		return nil, err
	}
	rows, err := e.Store.StatClerks(ctx, portal.ClerkQuery{Scope: st.terms, AllScope: st.all, Periods: st.periods, Service: st.service})
	if err != nil {
		return nil, err
	}
	pol := e.Stats.Outliers
	type key struct {
		service, step string
		actor         int64
	}
	by := map[key]*ClerkFigures{}
	for _, r := range rows {
		k := key{r.Service, r.Step, r.ActorID}
		c := by[k]
		if c == nil {
			c = &ClerkFigures{StepFigures: StepFigures{Service: r.Service, Step: r.Step, days: map[int]int64{}}, ActorID: r.ActorID}
			by[k] = c
		}
		c.add(r.N, r.Approved, r.Timed, r.OnTime, r.Days)
	}
	actors := map[string]bool{}
	groups := map[[2]string][]*ClerkFigures{}
	for _, c := range by {
		c.finish()
		actors["user:"+strconv.FormatInt(c.ActorID, 10)] = true
		k := [2]string{c.Service, c.Step}
		groups[k] = append(groups[k], c)
	}
	names, err := e.Store.AuditActorNames(ctx, slices.Sorted(maps.Keys(actors)))
	if err != nil {
		return nil, err
	}
	rep := &ClerkReport{From: st.from, To: st.to, MinDecisions: pol.MinDecisions, MinPeers: pol.MinPeers,
		Threshold: pol.Threshold, Items: []ClerkFigures{}}
	for _, k := range e.stateOrder(slices.Collect(maps.Keys(groups))) {
		g := groups[k]
		var peers []*ClerkFigures
		for _, c := range g {
			c.Name = names["user:"+strconv.FormatInt(c.ActorID, 10)]
			if c.Decisions >= int64(pol.MinDecisions) {
				peers = append(peers, c)
			}
		}
		if len(peers) >= pol.MinPeers {
			rates := make([]float64, len(peers))
			meds := make([]float64, len(peers))
			for i, c := range peers {
				rates[i] = *c.ApprovalRate
				meds[i] = float64(*c.MedianDays)
			}
			rz, mz := ModifiedZ(rates), ModifiedZ(meds)
			for i, c := range peers {
				c.Compared = true
				c.ApprovalZ, c.MedianZ = &rz[i], &mz[i]
				if math.Abs(rz[i]) > pol.Threshold {
					c.OutlierFor = append(c.OutlierFor, "approval_rate")
				}
				if math.Abs(mz[i]) > pol.Threshold {
					c.OutlierFor = append(c.OutlierFor, "median_days")
				}
				c.Outlier = len(c.OutlierFor) > 0
			}
		}
		slices.SortFunc(g, func(a, b *ClerkFigures) int {
			return cmp.Or(cmp.Compare(b.Decisions, a.Decisions), cmp.Compare(a.ActorID, b.ActorID))
		})
		for _, c := range g {
			rep.Items = append(rep.Items, *c)
		}
	}
	return rep, nil
}

// Reveals returns the reveals of full ID numbers on cases in q's reach
// and months by staff who took no step on them, newest first.
func (e *Engine) Reveals(ctx context.Context, actor portal.Actor, q StatsQuery) ([]portal.RevealRow, error) {
	st, err := e.statsScope(actor, q)
	if err != nil {
		return nil, err
	}
	to, _ := time.Parse("2006-01", st.to)
	return e.Store.Reveals(ctx, portal.ClerkQuery{Scope: st.terms, AllScope: st.all, Service: st.service},
		st.from+"-01", to.AddDate(0, 1, -1).Format("2006-01-02"), e.Stats.RevealsLimit)
}
