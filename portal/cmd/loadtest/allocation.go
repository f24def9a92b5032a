package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"tzportal/portal"
	"tzportal/portal/matching"
	"tzportal/portal/schooling"
	"tzportal/portal/validate"
	"tzportal/portal/workflow"
)

// The school places of a district (随迁子女入学): the allocation's matching
// core, and the writes that move its children's cases.

// A district's intake as the issue states it: 100,000 children, 300
// schools, 3 preferences each (300,000 (child, school) pairs).
const (
	allocChildren = 100_000
	allocSchools  = 300
	allocPrefs    = 3
)

// allocationCore is matching.Allocate on a district's intake against one
// sort of the same 300,000 priorities (matching.BaselineSort), each run one
// at a time in a loop: the value is the sort's time ÷ Allocate's (both
// runs/s), so ≥ 0.33 is Allocate within 3× the sort. The input is the
// benchmark's (portal/matching/bench_test.go): generated once, the children
// out of case order; the sort copies the pairs back first, as there.
func allocationCore(o *options) scenario {
	var (
		in    matching.Input
		pairs []matching.Priority
		work  []matching.Priority
	)
	prepare := func() {
		if pairs != nil {
			return
		}
		rng := rand.New(rand.NewPCG(2027, 1))
		in = matching.Generate(rng, allocChildren, allocSchools, allocPrefs)
		rng.Shuffle(len(in.Children), func(i, j int) { in.Children[i], in.Children[j] = in.Children[j], in.Children[i] })
		pairs = matching.Pairs(in)
		work = make([]matching.Priority, len(pairs))
	}
	loop := func(name string, op func() error) side {
		return side{name: name, unit: "run/s", per: "run", run: func(ctx context.Context, dur time.Duration, tag string) *phase {
			prepare()
			defer startProfile(o, tag)()
			return closedLoop(ctx, 1, dur, func(context.Context, int) error { return op() })
		}}
	}
	return scenario{name: "allocation_core", target: 0.33,
		a: loop("Allocate", func() error {
			_, err := matching.Allocate(in)
			return err
		}),
		b: loop("sort", func() error {
			copy(work, pairs)
			matching.BaselineSort(work)
			return nil
		}),
		note: fmt.Sprintf("value = one sort's time ÷ Allocate's: %d children × %d schools × %d preferences (%d pairs sorted), one run at a time",
			allocChildren, allocSchools, allocPrefs, allocChildren*allocPrefs)}
}

// The allocation_writes scenario moves seeded school-enrollment cases from
// published to assigned with the allocation's event, through
// workflow.Engine.FireCohort as schooling.Allocate does (each case: its
// row locked, the workflow's condition, history row, notice with its SMS,
// audit entry): a phase of the batched side is one cohort operation of
// cohortPlan.Batched cases, workflow.CohortBatch per transaction; a phase
// of the single side moves cohortPlan.Single cases one per transaction
// (batch 1). The cases are disjoint: each phase takes the next ones.
const (
	cohortEvent = "allocate"
	cohortFrom  = "published"
	cohortYear  = 2027
	// cohortPreferred is the street the cohort lives in, unless it is one
	// of the scenarios' A or B divisions (then another of its district):
	// its cases are in staff's queue and must not change the worklists.
	cohortPreferred = "321202001"
)

// cohortActor runs the allocation: a system actor without an account, as
// the operator on the command line (trusted, no permission check).
var cohortActor = portal.Actor{System: "loadtest"}

// cohortPlan is how many cases each phase of allocation_writes moves.
type cohortPlan struct {
	Batched, Single         int // per measured phase
	WarmBatched, WarmSingle int // the warm-ups
	Pairs                   int
}

func (c cohortPlan) total() int {
	return c.Pairs*(c.Batched+c.Single) + c.WarmBatched + c.WarmSingle
}

// cohortSizes: the full run moves the allocation's 100,000 cases batched,
// a third in each phase (a tenth of the seeded cases with -cases or
// -quick, at least 1,000), and 15 % as many one per transaction in each
// phase of the other side (5,000 in the full run): a quarter to a half of
// a batched phase's time on the CI machine, so that the pairs see much the
// same machine, and enough for a steady rate.
func cohortSizes(o *options) cohortPlan {
	total := min(allocChildren, max(1000, o.cases/10))
	c := cohortPlan{Batched: (total + o.pairs - 1) / o.pairs, Pairs: o.pairs}
	c.Single = max(100, c.Batched*3/20)
	if o.warmup > 0 {
		c.WarmBatched, c.WarmSingle = min(c.Batched, 2*workflow.CohortBatch), min(c.Single, 200)
	}
	return c
}

// wants reports whether -only leaves scenario name to run.
func (o *options) wants(name string) bool { return o.only == nil || o.only[name] }

// cohortWorld is what the seeding writes of the cohort: the service's case
// numbers (TZ<code><day><seq>, on a day of their own) and the state
// published as its workflow file has it.
type cohortWorld struct {
	code, itemCode     string
	division, district string
	day                time.Time // the day the cases were created (their numbers')
	published          time.Time
	queued             bool
	due                *time.Time
}

func (c *cohortWorld) caseNo(i int) string {
	return fmt.Sprintf("TZ%s%s%06d", c.code, c.day.Format("20060102"), i+1)
}

// newCohortWorld reads the service's definition from the portal: the
// allocation's event must leave published as a cohort event. The street is
// cohortPreferred, or another of its district outside a and b.
func newCohortWorld(in *instance, now time.Time, leaves []portal.Division, a, b []string) (*cohortWorld, error) {
	def, ok := in.Engine.Definition(schooling.ServiceID)
	if !ok {
		return nil, fmt.Errorf("the portal has no service %s", schooling.ServiceID)
	}
	ev, ok := def.Events[cohortEvent]
	if !ok || !ev.Cohort || !slices.Contains(ev.From, cohortFrom) {
		return nil, fmt.Errorf("%s: %s is not a cohort event from %s", schooling.ServiceID, cohortEvent, cohortFrom)
	}
	st := def.States[cohortFrom]
	cal := in.Engine.Calendar
	zone := cal.Zone
	c := &cohortWorld{code: def.Code, itemCode: def.ItemCode, queued: st.Queued()}
	used := func(code string) bool { return slices.Contains(a, code) || slices.Contains(b, code) }
	district := cohortPreferred[:6]
	for _, d := range leaves {
		if d.Parent == district && !used(d.Code) && (c.division == "" || d.Code == cohortPreferred) {
			c.division, c.district = d.Code, d.Parent
		}
	}
	if c.division == "" {
		return nil, fmt.Errorf("no street of district %s outside the scenarios' divisions", district)
	}
	// Applied in spring, published three days ago.
	y, m, d := now.In(zone).AddDate(0, -2, 0).Date()
	c.day = time.Date(y, m, d, 0, 0, 0, 0, zone)
	c.published = now.Add(-72 * time.Hour)
	if st.Deadline.N > 0 {
		due := cal.Due(c.published, st.Deadline)
		c.due = &due
	}
	return c, nil
}

// cohortCases generates the cohort's cases after the others, each with the
// one history step that published it (by the operator: no actor id) and
// the form and score the allocation reads (schooling's contract: year,
// grade, division, preferences; the score in the result). The child's ID
// number is sealed in the form, as the service stores it, and its claim is
// seeded from it (cohortClaimsSQL).
func (w *world) cohortCases(emitCase func(*caseRow) error, emitHist func(*histRow) error) error {
	c := w.cohortWorld
	n := w.Cohort.total()
	if c == nil || n == 0 {
		return nil
	}
	step := 10 * time.Hour / time.Duration(n)
	for i := 0; i < n; i++ {
		created := c.day.Add(8*time.Hour + time.Duration(i)*step)
		cipher, index, err := w.sealer(childIDNumber(i))
		if err != nil {
			return err
		}
		months := 12 + w.r.IntN(96)
		housing := []string{"own", "rented"}[w.r.IntN(4)/3]
		form := fmt.Sprintf(`{"year":%d,"child_name":"%s","child_id_sealed":"%s","child_id_index":"%s","grade":"1",`+
			`"guardian_basis":"insurance","insurance_months":%d,"residence_permit_no":"JZ%s%d%06d","housing":"%s",`+
			`"division":"%s","address":"%s%d号%d幢%d室","preferences":["S001","S002","S003"],"family_migrated":%t}`,
			cohortYear, chineseName(w.r), base64.StdEncoding.EncodeToString(cipher), index, months,
			c.district, c.day.Year()-1, i+1, housing, c.division, addresses[w.r.IntN(len(addresses))],
			1+w.r.IntN(300), 1+w.r.IntN(30), 101+w.r.IntN(1500), w.r.IntN(2) == 0)
		id := w.nextCaseID
		w.nextCaseID++
		if err := emitHist(&histRow{CaseID: id, Seq: 1, Event: "publish", From: "verified", To: cohortFrom,
			Role: cohortActor.System, Inputs: noInputs, At: c.published}); err != nil {
			return err
		}
		row := &caseRow{ID: id, No: c.caseNo(i), Service: schooling.ServiceID, ItemCode: c.itemCode, State: cohortFrom,
			Version: 1, Applicant: w.applicantID(w.fresh() + w.r.IntN(w.withCases)), Division: c.division, District: c.district,
			Form: form, Result: fmt.Sprintf(`{"score":{"total":%d,"parts":[]}}`, 5*(w.r.IntN(11)+w.r.IntN(11))),
			StateSince: c.published, Created: created, Update: c.published, Due: c.due, InQueue: c.queued}
		if err := emitCase(row); err != nil {
			return err
		}
	}
	return nil
}

// childIDNumber is a grade-1 child's ID number (born from September 2019,
// so 6 or 7 on 31 August 2027), unique for i < 730,000.
func childIDNumber(i int) string {
	birth := time.Date(2019, 9, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i%730)
	s := cohortPreferred[:6] + birth.Format("20060102") + fmt.Sprintf("%03d", (i/730)%1000)
	return s + string(validate.IDCheckChar(s))
}

// cohortClaimsSQL gives each seeded cohort case the claim the engine takes
// for it (unique: open: [child]): service|child:<index>/<year>.
func cohortClaimsSQL(postgres bool) string {
	index, year := `json_extract(form, '$.child_id_index')`, `json_extract(form, '$.year')`
	if postgres {
		index, year = `(form->>'child_id_index')`, `(form->>'year')`
	}
	return `INSERT INTO case_claims (claim, case_id)
		SELECT '` + schooling.ServiceID + `|child:' || ` + index + ` || '/' || ` + year + `, id FROM cases
		WHERE service = '` + schooling.ServiceID + `'`
}

// cohortPool hands out the seeded cohort's cases in order, as the steps of
// an allocation (the school in the result, as schooling.Allocate records
// it, with an empty explanation: every child got a school it asked for).
type cohortPool struct {
	c     *cohortWorld
	next  int
	total int
}

func (p *cohortPool) take(n int) ([]workflow.CohortStep, error) {
	if p.next+n > p.total {
		return nil, fmt.Errorf("the seeded cohort is used up (%d of %d cases moved, %d more asked)", p.next, p.total, n)
	}
	steps := make([]workflow.CohortStep, n)
	for i := range steps {
		k := p.next + i
		steps[i] = workflow.CohortStep{CaseNo: p.c.caseNo(k),
			Result: map[string]any{"school": fmt.Sprintf("S%03d", 1+k%allocPrefs), "explanation": []any{}}}
	}
	p.next += n
	return steps, nil
}

// cohortSide moves n cases of the pool per phase (warm on the warm-up)
// with one FireCohort of batch cases per transaction. Its latencies are
// those of its transactions (the time between one batch's progress call
// and the next: the commit and the batch's cases).
func cohortSide(o *options, in *instance, name string, pool *cohortPool, n, warm, batch int) side {
	fire := func(ctx context.Context, n int, profile string) *phase {
		steps, err := pool.take(n)
		if err != nil {
			return &phase{Errors: 1, FirstErr: err.Error(), Elapsed: time.Nanosecond}
		}
		defer startProfile(o, profile)()
		db0, rd0 := in.DBTrips.Load(), in.RedisTrip.Load()
		lat := make([]time.Duration, 0, n/batch+1)
		start := time.Now()
		last := start
		moved, err := in.Engine.FireCohort(ctx, cohortActor, schooling.ServiceID, cohortEvent, steps, batch,
			func(context.Context, portal.Tx, int) error {
				now := time.Now()
				lat = append(lat, now.Sub(last))
				last = now
				return nil
			})
		p := &phase{Ops: int64(moved), Elapsed: time.Since(start), Lat: lat,
			DB: in.DBTrips.Load() - db0, Rd: in.RedisTrip.Load() - rd0}
		if err == nil && moved != n {
			err = fmt.Errorf("moved %d of %d cases (some not in %s)", moved, n, cohortFrom)
		}
		if err != nil {
			p.Errors, p.FirstErr = 1, err.Error()
		}
		return p
	}
	return side{name: name, unit: "case/s", per: "case",
		run: func(ctx context.Context, _ time.Duration, tag string) *phase { return fire(ctx, n, tag) },
		warm: func(ctx context.Context) {
			if warm > 0 {
				fire(ctx, warm, "")
			}
		}}
}

// allocationWrites is the allocation_writes scenario on a seeded
// deployment: the batched cohort operation ÷ the same one transaction per
// case, in cases a second (target 2: batching must pay).
func allocationWrites(o *options, d *deployment) scenario {
	c := d.world.Cohort
	pool := &cohortPool{c: d.world.cohortWorld, total: c.total()}
	return scenario{name: "allocation_writes", target: 2,
		a: cohortSide(o, d.in, fmt.Sprintf("batch %d", workflow.CohortBatch), pool, c.Batched, c.WarmBatched, workflow.CohortBatch),
		b: cohortSide(o, d.in, "batch 1", pool, c.Single, c.WarmSingle, 1),
		note: fmt.Sprintf("value = cases/s of one cohort operation of %d cases (%s %s → assigned, %d per transaction) ÷ of %d cases one per transaction; p50/p99 per transaction",
			c.Batched, schooling.ServiceID, cohortFrom, workflow.CohortBatch, c.Single)}
}

// cohortNote is the seeding's line about the cohort.
func cohortNote(w *world) string {
	if w.cohortWorld == nil {
		return ""
	}
	return fmt.Sprintf("; %d %s cases %s in %s for allocation_writes", w.Cohort.total(), schooling.ServiceID, cohortFrom,
		w.cohortWorld.division)
}
