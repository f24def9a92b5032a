package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"tzportal/portal"
	"tzportal/portal/account"
)

// side is one half of a pair: the portal, or its baseline.
type side struct {
	name string
	unit string // "req/s", "op/s", "tx/s"
	per  string // what round trips and CPU are counted per: "req", "op", "tx"
	// run measures one phase; tag names its CPU profile ("" for none).
	run func(ctx context.Context, dur time.Duration, tag string) *phase
	// dbPerOp, if set, is the fixed number of statements of one operation
	// (pgbench, the Go loop), instead of the counted round trips.
	dbPerOp float64
	// warm, if set, is the side's warm-up instead of run for -warmup (a
	// side that moves a fixed number of cases per phase).
	warm func(ctx context.Context)
}

type scenario struct {
	name   string
	target float64
	a, b   side
	// ratio of one pair; default throughput a ÷ b.
	ratio func(a, b *phase) float64
	note  string
}

type result struct {
	name   string
	value  float64
	ok     bool
	ratios []float64     // one per pair
	sides  [2]sideResult // the scenario's side, then its baseline
}

// sideResult sums the measured phases of one side.
type sideResult struct {
	name        string
	ops, errors int64
	dbPer       float64 // database round trips (or statements) per operation
	redisPer    float64 // Redis round trips per operation
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

// runScenario warms both sides up, then runs the pairs A B A B … and
// prints the figures and the RESULT line.
func runScenario(ctx context.Context, o *options, s scenario) result {
	if s.ratio == nil {
		s.ratio = func(a, b *phase) float64 { return a.Rate() / b.Rate() }
	}
	if o.warmup > 0 {
		for _, sd := range []side{s.a, s.b} {
			if sd.warm != nil {
				sd.warm(ctx)
			} else {
				sd.run(ctx, o.warmup, "")
			}
		}
	}
	var as, bs []*phase
	var ratios []float64
	for i := 0; i < o.pairs && ctx.Err() == nil; i++ {
		pa := timed(func() *phase { return s.a.run(ctx, o.phase, fmt.Sprintf("%s-%d", s.name, i+1)) })
		pb := timed(func() *phase { return s.b.run(ctx, o.phase, "") })
		as, bs = append(as, pa), append(bs, pb)
		ratios = append(ratios, s.ratio(pa, pb))
	}
	errs := int64(0)
	var sides [2]sideResult
	for i, sd := range []struct {
		s  side
		ps []*phase
	}{{s.a, as}, {s.b, bs}} {
		var rates []float64
		var lat []time.Duration
		var ops, db, rd, e int64
		var mcpu, pcpu, secs float64
		first := ""
		for _, p := range sd.ps {
			mcpu += p.MachineCPU
			pcpu += p.ProcessCPU
			secs += p.Elapsed.Seconds()
			rates = append(rates, p.Rate())
			lat = append(lat, p.Lat...)
			ops += p.Ops
			db += p.DB
			rd += p.Rd
			e += p.Errors
			if first == "" {
				first = p.FirstErr
			}
		}
		errs += e
		dbPer, rdPer := float64(db)/float64(max(ops, 1)), float64(rd)/float64(max(ops, 1))
		if sd.s.dbPerOp > 0 {
			dbPer = sd.s.dbPerOp
		}
		sides[i] = sideResult{name: sd.s.name, ops: ops, errors: e, dbPer: dbPer, redisPer: rdPer}
		fmt.Fprintf(o.out, "  %-17s %-12s %8.1f %-5s p50 %-9s p99 %-9s db %5.2f/%s redis %4.2f/%s errors %d  cpu %.2f cores (this process %.2f), %.2f ms/%s\n",
			s.name, sd.s.name, median(rates), sd.s.unit, ms(percentile(lat, 0.50)), ms(percentile(lat, 0.99)),
			dbPer, sd.s.per, rdPer, sd.s.per, e, mcpu/secs, pcpu/secs, mcpu*1000/float64(max(ops, 1)), sd.s.per)
		if first != "" {
			fmt.Fprintf(o.out, "  %-17s %-12s first error: %s\n", s.name, sd.s.name, first)
		}
	}
	var pairs []string
	for _, r := range ratios {
		pairs = append(pairs, fmt.Sprintf("%.3f", r))
	}
	note := ""
	if s.note != "" {
		note = "; " + s.note
	}
	fmt.Fprintf(o.out, "  %-17s pairs %s%s\n", s.name, strings.Join(pairs, " "), note)
	v := median(ratios)
	ok := v >= s.target && errs == 0 && len(ratios) == o.pairs
	fmt.Fprintf(o.out, "RESULT name=%s value=%.2f target=%g ok=%t\n", s.name, v, s.target, ok)
	return result{name: s.name, value: v, ok: ok, ratios: ratios, sides: sides}
}

// portalSide measures an HTTP operation against a portal.
func portalSide(o *options, name, unit, per string, in *instance, op func(ctx context.Context, w int) error) side {
	return side{name: name, unit: unit, per: per, run: func(ctx context.Context, dur time.Duration, tag string) *phase {
		return measure(ctx, o, in, dur, tag, op)
	}}
}

// get returns an op that GETs url(w) with worker w's session.
func get(hc *http.Client, sess []*clientSession, url func(w int) string) func(ctx context.Context, w int) error {
	return func(ctx context.Context, w int) error {
		_, err := request(ctx, hc, http.MethodGet, url(w), sess[w], nil, http.StatusOK)
		return err
	}
}

// deployment is one seeded portal with its logged-in workers.
type deployment struct {
	in         *instance
	world      *world
	transition []*clientSession // A clerks (transitions)
	readers    []*clientSession // B clerks (worklist, case page)
	// supervisors: the city's supervisor (the dashboards), a few sessions.
	supervisors []*clientSession
	applicants  []*clientSession // submit
	transPool   [][]string       // per worker: its submitted cases
	next        []int
}

// readScenarios are the page scenarios against the bare handler.
func readScenarios(o *options, hc *http.Client, d *deployment, bareURL string) []scenario {
	bareOp := get(hc, d.readers, func(int) string { return bareURL })
	bare := side{name: "bare fiber", unit: "req/s", per: "req", run: func(ctx context.Context, dur time.Duration, _ string) *phase {
		return measure(ctx, o, d.in, dur, "", bareOp)
	}}
	nB := len(d.world.B)
	caseIdx := make([]int, o.c)
	return []scenario{
		{name: "worklist", target: 0.33,
			a: portalSide(o, "portal", "req/s", "req", d.in, get(hc, d.readers, func(int) string { return d.in.URL + "/cases" })),
			b: bare},
		{name: "case_page", target: 0.35,
			a: portalSide(o, "portal", "req/s", "req", d.in, get(hc, d.readers, func(w int) string {
				s := d.world.sample[d.world.B[w%nB]]
				caseIdx[w]++
				return d.in.URL + "/api/v1/cases/" + s[(caseIdx[w]*7+w)%len(s)]
			})),
			b: bare},
		{name: "overview", target: 0.25,
			a:    portalSide(o, "portal", "req/s", "req", d.in, get(hc, d.supervisors, func(int) string { return d.in.URL + "/oversight/stats" })),
			b:    bare,
			note: "the dashboard's overview page of the whole city, its default range (the last 12 months)"},
	}
}

// transitionSide fires "accept" over HTTP on the worker's next submitted case.
func transitionSide(o *options, hc *http.Client, d *deployment) side {
	return portalSide(o, "portal", "tx/s", "req", d.in, func(ctx context.Context, w int) error {
		pool := d.transPool[w]
		if d.next[w] >= len(pool) {
			return errExhausted
		}
		no := pool[d.next[w]]
		d.next[w]++
		_, err := request(ctx, hc, http.MethodPost, d.in.URL+"/api/v1/cases/"+no+"/events/accept", d.transition[w], nil, http.StatusOK)
		return err
	})
}

// submitSide hands an application in and takes it back over HTTP, as an
// applicant: create, upload a file for each key checklist item (which
// submit requires), submit, withdraw — one operation, len(keyItems)+3
// requests. An applicant holds one open application at a time (the
// workflow's unique: open), and the withdrawal gives it back, so the next
// create may follow. Each worker applies as a fresh applicant (no case, no
// permit); workers beyond maxLogins share a session, and so an applicant,
// and take turns.
func submitSide(o *options, hc *http.Client, d *deployment) side {
	uploads := make([]multipartUpload, len(keyItems))
	for i, item := range keyItems {
		uploads[i] = newUpload(item, uploadPNG)
	}
	bodies := make([][]byte, o.c)
	for w := range bodies {
		div := d.world.A[w%len(d.world.A)]
		bodies[w], _ = json.Marshal(map[string]any{"service": serviceID, "form": map[string]string{
			"division": div, "address": "海陵区东进东路18号3幢201室", "resided_since": "2024-03-01",
			"basis": "employment", "basis_detail": "泰州市某机械有限公司", "phone": "13912345678"}})
	}
	turns := make([]sync.Mutex, min(o.c, maxLogins))
	return portalSide(o, "portal", "op/s", "op", d.in, func(ctx context.Context, w int) error {
		turn := &turns[w%len(turns)]
		turn.Lock()
		defer turn.Unlock()
		s := d.applicants[w]
		loc, err := request(ctx, hc, http.MethodPost, d.in.URL+"/api/v1/cases", s, bodies[w], http.StatusCreated)
		if err != nil {
			return err
		}
		if loc == "" {
			return fmt.Errorf("create: no Location")
		}
		for _, u := range uploads {
			if _, err := send(ctx, hc, http.MethodPost, d.in.URL+loc+"/materials", s, u.body, u.contentType, http.StatusCreated); err != nil {
				return err
			}
		}
		for _, event := range []string{"submit", "withdraw"} {
			if _, err := request(ctx, hc, http.MethodPost, d.in.URL+loc+"/events/"+event, s, nil, http.StatusOK); err != nil {
				return err
			}
		}
		return nil
	})
}

// planFor decides the shape of a seeded database.
func planFor(o *options, cases int, a, b []string, withPools bool, poolRate float64) plan {
	p := plan{Cases: cases, A: a, B: b}
	if withPools {
		// The HTTP transitions use each case once: enough for the warm-up
		// and every pair at poolRate transitions a second, with a margin.
		secs := (o.warmup + time.Duration(o.pairs)*o.phase).Seconds()
		p.TransPerDiv = int(poolRate*secs*1.5)/len(a) + 1
		p.BaselinePool = min(10000, cases/10)
		if o.db == "postgres" { // the submit scenario: its HTTP workers' applicants, then pgbench's
			p.HTTPApplicants, p.BenchApplicants = min(o.c, maxLogins), o.c
		}
		if o.wants("allocation_writes") {
			p.Cohort = cohortSizes(o)
		}
		if o.wants("draw") {
			p.Draw = drawSizes(o)
		}
	}
	p.Realistic = cases - p.TransPerDiv*len(a) - p.BaselinePool
	if p.Realistic < cases/2 {
		fmt.Fprintf(os.Stderr, "loadtest: the transition pool would be more than half the cases; it is cut to a third (it may run out)\n")
		p.TransPerDiv = cases / 3 / len(a)
		p.Realistic = cases - p.TransPerDiv*len(a) - p.BaselinePool
	}
	return p
}

// seedWorld builds the world of a plan over the portal's divisions.
func seedWorld(ctx context.Context, in *instance, p plan) (*world, error) {
	leaves, err := leafDivisions(ctx, in)
	if err != nil {
		return nil, err
	}
	def, ok := in.Engine.Definition(serviceID)
	if !ok {
		return nil, fmt.Errorf("the portal has no service %s", serviceID)
	}
	if err := checkChecklist(def); err != nil {
		return nil, err
	}
	w := newWorld(p, time.Now(), in.Engine.Calendar.Zone, leaves)
	w.checklist = def.Checklist
	var maxID int64
	if err := in.DB.SQL().QueryRowContext(ctx, `SELECT COALESCE(max(id), 0) FROM users`).Scan(&maxID); err != nil {
		return nil, err
	}
	if p.Cohort.total() > 0 {
		if w.cohortWorld, err = newCohortWorld(in, w.now, leaves, p.A, p.B); err != nil {
			return nil, err
		}
	}
	if p.Draw.total() > 0 {
		if w.drawWorld, err = newDrawWorld(in, w.now, leaves, p.A, p.B); err != nil {
			return nil, err
		}
	}
	w.firstUserID = maxID + 1
	w.sealer = in.Accounts.Sealer.Seal
	if w.passwordHash, err = account.HashPassword(password); err != nil {
		return nil, err
	}
	return w, nil
}

func leafDivisions(ctx context.Context, in *instance) ([]portal.Division, error) {
	divs, err := in.DB.Divisions(ctx)
	if err != nil {
		return nil, err
	}
	var leaves []portal.Division
	for _, d := range divs {
		if d.Leaf() {
			leaves = append(leaves, d)
		}
	}
	return leaves, nil
}

// maxLogins keeps the logins of one portal under its limit of 100 login
// attempts a minute from one address.
const maxLogins = 30

// login logs the workers in over the API: A clerks, B clerks, applicants.
func (d *deployment) login(ctx context.Context, o *options, hc *http.Client, withA, withApplicants bool) error {
	var err error
	nA, nB := len(d.world.A), len(d.world.B)
	if d.readers, err = loginAll(ctx, hc, d.in.URL, func(w int) string { return "lb" + d.world.B[w%nB] }, o.c, maxLogins); err != nil {
		return err
	}
	if withA {
		if d.transition, err = loginAll(ctx, hc, d.in.URL, func(w int) string { return "la" + d.world.A[w%nA] }, o.c, maxLogins); err != nil {
			return err
		}
		// Worker w takes every m-th submitted case of its division, where m
		// is the number of workers on that division.
		d.transPool, d.next = make([][]string, o.c), make([]int, o.c)
		for w := 0; w < o.c; w++ {
			div := d.world.A[w%nA]
			m := (o.c-1-w%nA)/nA + 1
			for i := w / nA; i < len(d.world.transition[div]); i += m {
				d.transPool[w] = append(d.transPool[w], d.world.transition[div][i])
			}
		}
	}
	if d.supervisors, err = loginAll(ctx, hc, d.in.URL, func(int) string { return supervisorLogin }, o.c, min(o.c, 4)); err != nil {
		return err
	}
	if withApplicants {
		if d.applicants, err = loginAll(ctx, hc, d.in.URL, applicantMobile, o.c, maxLogins); err != nil {
			return err
		}
	}
	return nil
}

// setup adds the clerks to a running portal (one street clerk per
// division used, through the account service), seeds the plan and returns
// the deployment (not yet logged in).
func setup(ctx context.Context, e *env, in *instance, cases int, withPools bool, poolRate float64,
	seed func(ctx context.Context, w *world) error) (*deployment, error) {
	leaves, err := leafDivisions(ctx, in)
	if err != nil {
		return nil, err
	}
	a, b := chooseDivisions(leaves, min(e.o.c, 30))
	if withPools {
		if _, err := addClerks(ctx, in, "la", a); err != nil {
			return nil, err
		}
	}
	if _, err := addClerks(ctx, in, "lb", b); err != nil {
		return nil, err
	}
	if err := addSupervisor(ctx, in); err != nil {
		return nil, err
	}
	p := planFor(e.o, cases, a, b, withPools, poolRate)
	w, err := seedWorld(ctx, in, p)
	if err != nil {
		return nil, err
	}
	if err := seed(ctx, w); err != nil {
		return nil, err
	}
	// The seeded waiting households join their lists as a node starting
	// on them would enter them; on PostgreSQL the lists are then analyzed
	// with the rest (seed_pg.go), as autovacuum keeps the statistics of a
	// list that grew household by household: unanalyzed, a list of 100,000
	// is estimated at a few hundred rows and read through a sort on disk.
	if _, err := in.Engine.ListUnlisted(ctx); err != nil {
		return nil, err
	}
	// The clerk's desk: one open case in four is held by a clerk of its
	// street, so that the worklist reads and shows holders (the seed has
	// no steps of the desk: who holds a case is its column alone).
	if _, err := in.DB.SQL().ExecContext(ctx, `UPDATE cases SET holder_id = (SELECT min(g.user_id) FROM grants g
		WHERE g.role = 'street_clerk' AND g.division = cases.division) WHERE in_queue AND id % 4 = 0`); err != nil {
		return nil, fmt.Errorf("seed holders: %w", err)
	}
	if in.DB.Dialect() == "postgres" {
		if _, err := in.DB.SQL().ExecContext(ctx, "ANALYZE case_lists"); err != nil {
			return nil, err
		}
	}
	// The seeded cases bypassed the engine: the dashboards' rollups are
	// built from their timelines, as a node does on a database from before
	// they existed (and then analyzed, as autovacuum would).
	t0 := time.Now()
	n, err := in.Engine.RebuildStats(ctx)
	if err != nil {
		return nil, err
	}
	if in.DB.Dialect() == "postgres" {
		if _, err := in.DB.SQL().ExecContext(ctx, "ANALYZE stat_cases, stat_steps, stat_clerks"); err != nil {
			return nil, err
		}
	}
	var rows int64
	if err := in.DB.SQL().QueryRowContext(ctx, `SELECT (SELECT count(*) FROM stat_cases) + (SELECT count(*) FROM stat_steps) + (SELECT count(*) FROM stat_clerks)`).Scan(&rows); err != nil {
		return nil, err
	}
	fmt.Fprintf(e.o.out, "# dashboards' rollups rebuilt from %d cases in %.1f s: %d rows\n", n, time.Since(t0).Seconds(), rows)
	return &deployment{in: in, world: w}, nil
}
