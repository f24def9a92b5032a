package workflow_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"tzportal/portal"
	"tzportal/portal/fsck"
	"tzportal/portal/sqlstore"
	"tzportal/portal/workflow"
)

// eachDB runs test on a rig over SQLite and one over PostgreSQL.
func eachDB(t *testing.T, test func(t *testing.T, r *rig)) {
	t.Run("sqlite", func(t *testing.T) { t.Parallel(); test(t, newRig(t)) })
	t.Run("postgres", func(t *testing.T) { t.Parallel(); test(t, newRigOn(t, openPostgres(t))) })
}

// generated plays a seeded random set of two-level cases over about two
// months of the fake clock: handed in in three streets of two districts,
// approved or refused at the street and at the district, some confirmed by
// the origin registry, some left to expire, some still open at each step.
func generated(t *testing.T, r *rig, n int, seed uint64) {
	t.Helper()
	ctx := context.Background()
	rnd := rand.New(rand.NewPCG(seed, 1))
	r.add(t, "clerk_w", portal.KindStaff, portal.Grant{Role: "street_clerk", Division: "321202002"})
	r.add(t, "clerk_g", portal.KindStaff, portal.Grant{Role: "street_clerk", Division: "321203001"})
	streets := []struct{ division, clerk, officer string }{
		{"321202001", "clerk", "officer_a"}, {"321202002", "clerk_w", "officer_b"}, {"321203001", "clerk_g", "officer_other"}}
	fire := func(who, no, event string, in portal.Inputs) {
		t.Helper()
		if _, err := r.e.Fire(ctx, r.as(who), no, event, workflow.Input{Values: in}); err != nil {
			t.Fatalf("%s %s by %s: %v", no, event, who, err)
		}
	}
	later := func(maxHours int) { r.clock.Advance(time.Duration(1+rnd.IntN(maxHours)) * time.Hour) }
	for i := range n {
		st := streets[rnd.IntN(len(streets))]
		app := fmt.Sprintf("gen%03d", i)
		r.add(t, app, portal.KindApplicant)
		form := fmt.Sprintf(`{"division":%q,"local":%t}`, st.division, rnd.IntN(2) == 0)
		c, err := r.e.Create(ctx, r.as(app), "two-level", json.RawMessage(form), "")
		if err != nil {
			t.Fatal(err)
		}
		later(4)
		if rnd.IntN(10) == 0 {
			continue // a draft: counts nowhere
		}
		fire(app, c.No, "submit", nil)
		later(40)
		switch k := rnd.IntN(10); {
		case k == 0:
			continue // waits at the street
		case k <= 2:
			fire(st.clerk, c.No, "reject", portal.Inputs{"reason": "材料不符合要求"})
			continue
		}
		fire(st.clerk, c.No, "approve_street", nil)
		later(80)
		switch k := rnd.IntN(10); {
		case k == 0:
			continue // waits at the district
		case k == 1:
			fire(st.officer, c.No, "reject", portal.Inputs{"reason": "不符合落户条件"})
			continue
		}
		fire(st.officer, c.No, "approve_district", nil)
		later(20)
		if rnd.IntN(3) == 0 {
			// Confirmed by the origin registry, if it went that way.
			if v, err := r.e.Get(ctx, r.as(st.officer), c.No); err == nil && v.Case.State == "district_approved" {
				fire("registry", c.No, "confirm_move_out", portal.Inputs{"reference": "QC-1", "confirmed_on": r.clock.Now().Format("2006-01-02")})
			}
		}
	}
	// Timers due by now (district_approved expires after 10 days).
	if _, err := r.e.RunDueTimers(ctx); err != nil {
		t.Fatal(err)
	}
}

// direct computes the dashboard's figures from the cases and their
// timelines, independently of the rollups: what the rollups must say.
type direct struct {
	handedIn, open, completed, granted, refused, withdrawn int64
	months                                                 map[string]int64 // handed in per month
	divisions                                              map[string]int64
	states                                                 map[string]int64 // "service/state"
	// per step: decisions, approved, timed, on time, and the days taken.
	steps map[string]*directStep
}

type directStep struct {
	n, approved, timed, onTime int64
	days                       []int
}

// computeDirect is direct over the cases of district ("" the city); its
// divisions are the districts (the city) or the streets (a district).
func computeDirect(t *testing.T, r *rig, district string) *direct {
	t.Helper()
	ctx := context.Background()
	var ids []int64
	rows, err := r.db.SQL().QueryContext(ctx, `SELECT id FROM cases ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	hist, err := r.db.HistoryOf(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	def, _ := r.e.Definition("two-level")
	cal := r.e.Calendar
	month := func(at time.Time) string { return at.In(cal.Zone).Format("2006-01") }
	staff := map[string]bool{"street_clerk": true, "district_officer": true}
	d := &direct{months: map[string]int64{}, divisions: map[string]int64{}, states: map[string]int64{}, steps: map[string]*directStep{}}
	step := func(name string) *directStep {
		if d.steps[name] == nil {
			d.steps[name] = &directStep{}
		}
		return d.steps[name]
	}
	for _, id := range ids {
		c, err := r.db.CaseByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if district != "" && c.District != district {
			continue
		}
		hs := hist[id]
		var handIn time.Time
		for _, h := range hs {
			if h.To != "draft" {
				handIn = h.At
				break
			}
		}
		if handIn.IsZero() {
			continue
		}
		st := def.States[c.State]
		d.handedIn++
		d.months[month(handIn)]++
		if district == "" {
			d.divisions[c.District]++
		} else {
			d.divisions[c.Division]++
		}
		d.states["two-level/"+c.State]++
		if st.Final {
			d.completed++
			switch st.Outcome {
			case "granted":
				d.granted++
			case "refused":
				d.refused++
			default:
				d.withdrawn++
			}
		} else {
			d.open++
		}
		for i := 1; i < len(hs); i++ {
			h, prev := hs[i], hs[i-1]
			if h.From == "draft" || !staff[h.ActorRole] {
				continue
			}
			s := step(h.From)
			s.n++
			if def.States[h.To].Outcome != "refused" {
				s.approved++
			}
			if dl := def.States[h.From].Deadline; !dl.IsZero() {
				s.timed++
				if h.At.Before(cal.Due(prev.At, dl)) {
					s.onTime++
				}
			}
			s.days = append(s.days, cal.WorkingDays(prev.At, h.At))
		}
		if last := hs[len(hs)-1]; st.Final && (st.Outcome == "granted" || st.Outcome == "refused") {
			whole := step("")
			whole.n++
			if st.Outcome == "granted" {
				whole.approved++
			}
			whole.days = append(whole.days, cal.WorkingDays(handIn, last.At))
		}
	}
	return d
}

// nearestRank is the p-th percentile of days by nearest rank.
func nearestRank(days []int, p float64) int {
	s := slices.Clone(days)
	slices.Sort(s)
	k := int(float64(len(s))*p + 0.999999999)
	return s[max(k, 1)-1]
}

// The dashboard's numbers equal those computed directly from a generated
// set of cases, on both databases; rebuilt from the timelines, the rollups
// are the same rows; a supervisor of one district sees only its numbers,
// and no other district at all.
func TestStatsEqualTheCases(t *testing.T) {
	eachDB(t, func(t *testing.T, r *rig) {
		ctx := context.Background()
		generated(t, r, 90, 7)
		r.add(t, "sup_city", portal.KindStaff, portal.Grant{Role: "supervisor", Division: "321200"})
		r.add(t, "sup_gg", portal.KindStaff, portal.Grant{Role: "supervisor", Division: "321203"})
		q := workflow.StatsQuery{From: "2026-11", To: "2027-12"}
		check := func(who, district string) {
			t.Helper()
			o, err := r.e.Overview(ctx, r.as(who), q)
			if err != nil {
				t.Fatal(err)
			}
			d := computeDirect(t, r, district)
			if d.handedIn < 20 {
				t.Fatalf("%s: only %d cases handed in: the set is too small to mean anything", who, d.handedIn)
			}
			tot := o.Totals
			if got, want := [6]int64{tot.HandedIn, tot.Open, tot.Completed, tot.Granted, tot.Refused, tot.Withdrawn + tot.Terminated},
				[6]int64{d.handedIn, d.open, d.completed, d.granted, d.refused, d.withdrawn}; got != want {
				t.Errorf("%s: totals (handed in, open, completed, granted, refused, withdrawn) %v, want %v", who, got, want)
			}
			months := map[string]int64{}
			for _, m := range o.Months {
				if m.HandedIn > 0 {
					months[m.Month] = m.HandedIn
				}
			}
			if !reflect.DeepEqual(months, d.months) {
				t.Errorf("%s: per month %v, want %v", who, months, d.months)
			}
			divs := map[string]int64{}
			for _, x := range o.Divisions {
				divs[x.Division] = x.HandedIn
			}
			if !reflect.DeepEqual(divs, d.divisions) {
				t.Errorf("%s: per division %v, want %v", who, divs, d.divisions)
			}
			states := map[string]int64{}
			for _, x := range o.States {
				states[x.Service+"/"+x.State] = x.Cases
			}
			if !reflect.DeepEqual(states, d.states) {
				t.Errorf("%s: per state %v, want %v", who, states, d.states)
			}
			for _, s := range o.Steps {
				w := d.steps[s.Step]
				if w == nil {
					t.Errorf("%s: step %s has %d decisions, want none", who, s.Step, s.Decisions)
					continue
				}
				if got, want := [4]int64{s.Decisions, s.Approved, s.Timed, s.OnTime}, [4]int64{w.n, w.approved, w.timed, w.onTime}; got != want {
					t.Errorf("%s: step %s (decisions, approved, timed, on time) %v, want %v", who, s.Step, got, want)
				}
				if *s.MedianDays != nearestRank(w.days, 0.5) || *s.P90Days != nearestRank(w.days, 0.9) {
					t.Errorf("%s: step %s median/p90 %d/%d, want %d/%d", who, s.Step, *s.MedianDays, *s.P90Days,
						nearestRank(w.days, 0.5), nearestRank(w.days, 0.9))
				}
				delete(d.steps, s.Step)
			}
			if w := d.steps[""]; w != nil {
				if tot.Decided != w.n || *tot.MedianDays != nearestRank(w.days, 0.5) || *tot.P90Days != nearestRank(w.days, 0.9) {
					t.Errorf("%s: whole cases %d, median/p90 %v/%v; want %d, %d/%d", who, tot.Decided, *tot.MedianDays, *tot.P90Days,
						w.n, nearestRank(w.days, 0.5), nearestRank(w.days, 0.9))
				}
				delete(d.steps, "")
			}
			if len(d.steps) > 0 {
				t.Errorf("%s: steps missing from the dashboard: %v", who, d.steps)
			}
		}
		check("sup_city", "")
		check("sup_gg", "321203")

		// Out of reach: another district, or a street of it.
		for _, div := range []string{"321202", "321202001"} {
			if _, err := r.e.Overview(ctx, r.as("sup_gg"), workflow.StatsQuery{Division: div}); portal.ErrorCode(err) != portal.ENOTFOUND {
				t.Errorf("supervisor of 321203 asking for %s: %v, want not found", div, err)
			}
		}
		// A clerk reads no figures.
		if _, err := r.e.Overview(ctx, r.as("clerk"), q); portal.ErrorCode(err) != portal.ENOTFOUND {
			t.Errorf("a clerk's overview: %v, want not found", err)
		}
		// Bad input is named by field.
		_, err := r.e.Overview(ctx, r.as("sup_city"), workflow.StatsQuery{From: "2026-13", To: "2026-01", Service: "nope"})
		if got := fieldsOf(err); len(got) != 2 || got[0].Field != "service" || got[1].Field != "from" {
			t.Errorf("bad filter: %v", err)
		}

		// A rebuild from the timelines writes the same rows.
		before := statRows(t, r.db)
		if _, err := r.e.RebuildStats(ctx); err != nil {
			t.Fatal(err)
		}
		if after := statRows(t, r.db); !reflect.DeepEqual(before, after) {
			t.Errorf("rebuilt rollups differ:\n before %v\n after  %v", before, after)
		}
		// fsck adds the timelines up and finds the rollups right, then a
		// count changed by hand.
		if v, err := fsck.CheckStats(ctx, r.db, r.e.ReplayStats); err != nil || len(v) != 0 {
			t.Fatalf("fsck of the rollups: %v %v", v, err)
		}
		if _, err := r.db.SQL().ExecContext(ctx, `UPDATE stat_cases SET n = n + 1 WHERE area = '321203' AND period = '2027' AND state = 'settled'`); err != nil {
			t.Fatal(err)
		}
		v, err := fsck.CheckStats(ctx, r.db, r.e.ReplayStats)
		if err != nil || len(v) != 1 || !strings.Contains(v[0].Reason, "stat_cases 321203 2027 two-level settled") {
			t.Errorf("fsck after a count changed by hand: %v %v", v, err)
		}
	})
}

// statRows dumps the rollups, in key order.
func statRows(t *testing.T, db *sqlstore.DB) []string {
	t.Helper()
	var out []string
	for _, q := range []string{
		`SELECT area, period, service, state, n FROM stat_cases WHERE n <> 0 ORDER BY 1, 2, 3, 4`,
		`SELECT area, period, service, step, days, n, approved, timed, on_time FROM stat_steps ORDER BY 1, 2, 3, 4, 5`,
		`SELECT division, period, service, step, actor_id, days, district, n, approved, timed, on_time FROM stat_clerks ORDER BY 1, 2, 3, 4, 5, 6`,
	} {
		rows, err := db.SQL().QueryContext(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprint(vals...))
		}
		rows.Close()
	}
	return out
}

// Among six clerks deciding on the same step, the one who refuses most of
// their cases stands out and the others do not; a clerk with too few
// decisions is not compared.
func TestStatsFlagAnOutlierClerk(t *testing.T) {
	eachDB(t, func(t *testing.T, r *rig) {
		ctx := context.Background()
		r.add(t, "sup_city", portal.KindStaff, portal.Grant{Role: "supervisor", Division: "321200"})
		refusals := map[string]int{"c1": 2, "c2": 3, "c3": 2, "c4": 1, "c5": 2, "odd": 18}
		for name := range refusals {
			r.add(t, name, portal.KindStaff, portal.Grant{Role: "street_clerk", Division: "321202001"})
		}
		r.add(t, "few", portal.KindStaff, portal.Grant{Role: "street_clerk", Division: "321202001"})
		i := 0
		decide := func(clerk string, refuse bool) {
			t.Helper()
			app := fmt.Sprintf("app%03d", i)
			i++
			r.add(t, app, portal.KindApplicant)
			no := r.submitted(t, app, `{"division":"321202001"}`)
			r.clock.Advance(3 * time.Hour)
			ev, in := "approve_street", portal.Inputs(nil)
			if refuse {
				ev, in = "reject", portal.Inputs{"reason": "不符合条件"}
			}
			if _, err := r.e.Fire(ctx, r.as(clerk), no, ev, workflow.Input{Values: in}); err != nil {
				t.Fatal(err)
			}
		}
		for _, name := range slices.Sorted(func(yield func(string) bool) {
			for k := range refusals {
				if !yield(k) {
					return
				}
			}
		}) {
			for k := range 22 {
				decide(name, k < refusals[name])
			}
		}
		for k := range 5 {
			decide("few", k < 4)
		}
		rep, err := r.e.Clerks(ctx, r.as("sup_city"), workflow.StatsQuery{})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]workflow.ClerkFigures{}
		for _, c := range rep.Items {
			if c.Step == "submitted" {
				seen[c.Name] = c
			}
		}
		if len(seen) != 7 {
			t.Fatalf("clerks on the step: %v", seen)
		}
		for name, c := range seen {
			switch {
			case name == "few":
				if c.Compared || c.Outlier {
					t.Errorf("few (5 decisions) compared %t, outlier %t: want neither", c.Compared, c.Outlier)
				}
			case name == "odd":
				if !c.Outlier || !slices.Contains(c.OutlierFor, "approval_rate") {
					t.Errorf("odd (18 of 22 refused) not flagged: %+v", c)
				}
			default:
				if !c.Compared || c.Outlier {
					t.Errorf("%s compared %t, outlier %t (%v): want compared, not an outlier", name, c.Compared, c.Outlier, c.OutlierFor)
				}
			}
			if want := map[bool]int64{true: 5, false: 22}[name == "few"]; c.Decisions != want {
				t.Errorf("%s: %d decisions, want %d", name, c.Decisions, want)
			}
		}
	})
}

// Percentiles and modified z-scores, by hand.
func TestStatsArithmetic(t *testing.T) {
	h := map[int]int64{0: 3, 2: 4, 9: 2, 20: 1} // 10 decisions
	if m, _ := workflow.Percentile(h, 0.5); m != 2 {
		t.Errorf("median %d, want 2 (the 5th of 10)", m)
	}
	if p, _ := workflow.Percentile(h, 0.9); p != 9 {
		t.Errorf("p90 %d, want 9 (the 9th of 10)", p)
	}
	if _, ok := workflow.Percentile(map[int]int64{}, 0.5); ok {
		t.Error("an empty histogram has a median")
	}
	z := workflow.ModifiedZ([]float64{1, 1, 1, 1, 5})
	// MAD 0: the mean absolute deviation (0.8 from the median 1) × 1.2533 stands in.
	if want := 4 / (1.2533 * 0.8); z[4] < want-1e-9 || z[4] > want+1e-9 || z[0] != 0 {
		t.Errorf("z %v, want [0 0 0 0 %.3f]", z, want)
	}
	if z := workflow.ModifiedZ([]float64{2, 2, 2}); z[0] != 0 || z[2] != 0 {
		t.Errorf("all equal: z %v, want zeros", z)
	}
}
