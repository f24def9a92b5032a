package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"tzportal/portal"
	"tzportal/portal/housing"
	"tzportal/portal/lottery"
)

// The housing draw (摇号) of a district: the portal's draw — freezing
// the waiting list (create), then the reveal that orders it and moves the
// offered households through the engine — against the verifier, which
// fetches the draw's public JSON from the portal and recomputes everything
// in it as `portal housing verify-draw URL` does. Both run one at a time,
// one draw per phase: the value is the verifier's time ÷ the draw's, so
// ≥ 0.5 is the draw within 2× the verifier (issue 12).
const (
	drawKind      = "public_rental"
	drawState     = "waitlisted"
	drawEvent     = "draw"
	drawPreferred = "321204001" // a street of 姜堰区: outside the allocation's district
	// drawUnits is one batch of units, as a district offers them: a
	// building or two of public rental housing.
	drawUnits = 500
)

// drawPlan is how many households wait for the draws, and how many units
// each draw offers.
type drawPlan struct {
	Participants int // on the list when the first draw is created
	Units        int // per draw
	Draws        int // how many the run makes (the warm-up, then one per pair)
}

// total is the waitlisted households seeded: every draw of the run has at
// least Participants on its list.
func (p drawPlan) total() int {
	if p.Participants == 0 {
		return 0
	}
	return p.Participants + p.Units*p.Draws
}

// drawSizes: the 100,000 households in the full run (a tenth of the
// seeded cases with -cases or -quick, at least 1,000).
func drawSizes(o *options) drawPlan {
	n := min(100_000, max(1000, o.cases/10))
	p := drawPlan{Participants: n, Units: min(drawUnits, n/10), Draws: o.pairs}
	if o.warmup > 0 {
		p.Draws++
	}
	return p
}

// drawWorld is the street and day of the draw's households.
type drawWorld struct {
	code, itemCode     string
	division, district string
	day                time.Time
	waitlisted         time.Time
	queued             bool
}

func (c *drawWorld) caseNo(i int) string {
	return fmt.Sprintf("TZ%s%s%06d", c.code, c.day.Format("20060102"), i+1)
}

// newDrawWorld reads the housing service's definition: the draw must leave
// waitlisted as a cohort event. The street is drawPreferred's, or another
// of its district outside a and b.
func newDrawWorld(in *instance, now time.Time, leaves []portal.Division, a, b []string) (*drawWorld, error) {
	def, ok := in.Engine.Definition(housing.ServiceID)
	if !ok {
		return nil, fmt.Errorf("the portal has no service %s", housing.ServiceID)
	}
	ev, ok := def.Events[drawEvent]
	if !ok || !ev.Cohort || !slices.Contains(ev.From, drawState) {
		return nil, fmt.Errorf("%s: %s is not a cohort event from %s", housing.ServiceID, drawEvent, drawState)
	}
	zone := in.Engine.Calendar.Zone
	c := &drawWorld{code: def.Code, itemCode: def.ItemCode, queued: def.States[drawState].Queued()}
	used := func(code string) bool { return slices.Contains(a, code) || slices.Contains(b, code) }
	district := drawPreferred[:6]
	for _, d := range leaves {
		if d.Parent == district && !used(d.Code) && (c.division == "" || d.Code == drawPreferred) {
			c.division, c.district = d.Code, d.Parent
		}
	}
	if c.division == "" {
		return nil, fmt.Errorf("no street of district %s outside the scenarios' divisions", district)
	}
	// Applied four months ago, on the list for a month.
	y, m, d := now.In(zone).AddDate(0, -4, 0).Date()
	c.day = time.Date(y, m, d, 0, 0, 0, 0, zone)
	c.waitlisted = now.AddDate(0, -1, 0)
	return c, nil
}

// drawCases generates the waiting households after every other case: each
// a different applicant (one open application each), its form's kind and
// priority flags, and the result its notice and the list wrote (masked
// name, notice dates, when it joined the list); one history step, the
// notice's end by the scheduler.
func (w *world) drawCases(emitCase func(*caseRow) error, emitHist func(*histRow) error) error {
	c := w.drawWorld
	n := w.Draw.total()
	if c == nil || n == 0 {
		return nil
	}
	if n > w.withCases {
		return fmt.Errorf("%d households to wait for the draw, only %d applicants", n, w.withCases)
	}
	step := 10 * time.Hour / time.Duration(n)
	for i := 0; i < n; i++ {
		created := c.day.Add(8*time.Hour + time.Duration(i)*step)
		at := c.waitlisted.Add(time.Duration(i) * step)
		name := chineseName(w.r)
		// About one household in five migrated together, fewer are
		// elderly or disabled: the classes are uneven, as in life.
		family, elderly, disabled := w.r.IntN(5) == 0, w.r.IntN(12) == 0, w.r.IntN(25) == 0
		form := fmt.Sprintf(`{"kind":"%s","division":"%s","address":"%s%d号%d幢%d室","income_monthly":%d,"members":[],`+
			`"owns_home_in_city":false,"insurance_months":%d,"hukou_local":false,"residence_permit_no":"JZ%s%d%06d",`+
			`"family_migrated":%t,"elderly":%t,"disabled":%t}`,
			drawKind, c.division, addresses[w.r.IntN(len(addresses))], 1+w.r.IntN(300), 1+w.r.IntN(30), 101+w.r.IntN(1500),
			1500+w.r.IntN(1200), 12+w.r.IntN(96), c.district, c.day.Year()-1, i+1, family, elderly, disabled)
		ends := at
		result := fmt.Sprintf(`{"notice_ref":"%024x","notice_starts":"%s","notice_ends":"%s","notice_applicant":"%s",`+
			`"household_size":1,"waitlisted_at":"%s"}`,
			i+1, ends.AddDate(0, 0, -7).In(w.zone).Format(time.DateOnly), ends.In(w.zone).Format(time.RFC3339),
			housing.MaskedName(name), at.In(w.zone).Format(time.RFC3339Nano))
		id := w.nextCaseID
		w.nextCaseID++
		if err := emitHist(&histRow{CaseID: id, Seq: 1, Event: "end_notice", From: "public_notice", To: drawState,
			Role: "scheduler", Inputs: noInputs, At: at}); err != nil {
			return err
		}
		// Applicant i of those with cases: one open housing application
		// each (newWorld makes enough of them).
		if err := emitCase(&caseRow{ID: id, No: c.caseNo(i), Service: housing.ServiceID, ItemCode: c.itemCode, State: drawState,
			Version: 1, Applicant: w.applicantID(w.fresh() + i), Division: c.division, District: c.district,
			Form: form, Result: result, StateSince: at, Created: created, Update: at, InQueue: c.queued}); err != nil {
			return err
		}
	}
	return nil
}

// drawClaimsSQL gives each waiting household the claims the engine holds
// for an open housing application (unique: open: [applicant, persons]):
// its applicant, and the applicant as a person (the members are none).
func drawClaimsSQL() string {
	const svc = housing.ServiceID
	return `INSERT INTO case_claims (claim, case_id)
		SELECT '` + svc + `|applicant:' || c.applicant_id, c.id FROM cases c WHERE c.service = '` + svc + `'
		UNION ALL
		SELECT '` + svc + `|person:' || u.id_index, c.id FROM cases c JOIN users u ON u.id = c.applicant_id
		WHERE c.service = '` + svc + `' AND u.id_index IS NOT NULL AND u.id_index <> ''`
}

// drawActor makes the draws: the operator on the command line (trusted).
var drawActor = portal.Actor{System: "loadtest"}

// drawRun is the scenario's state between its sides: the draw the last
// phase of the draw side revealed, which the verifier then checks.
type drawRun struct {
	in    *instance
	c     *drawWorld
	units int
	made  int
	last  int64
}

// draw creates a draw over the district's waiting list and reveals it.
func (r *drawRun) draw(ctx context.Context, profile string, o *options) *phase {
	seed := make([]byte, 24)
	rand.Read(seed)
	secret := hex.EncodeToString(seed)
	units := make([]lottery.Unit, r.units)
	for i := range units {
		units[i] = lottery.Unit{Code: fmt.Sprintf("JY-GZF-%d-%04d", r.made+1, i+1)}
	}
	r.made++
	defer startProfile(o, profile)()
	db0, rd0 := r.in.DBTrips.Load(), r.in.RedisTrip.Load()
	start := time.Now()
	d, err := housing.CreateDraw(ctx, r.in.Engine, drawActor, housing.DrawRequest{District: r.c.district, Kind: drawKind,
		Units: units, Commitment: lottery.Commitment(secret), Beacon: "中国福利彩票双色球下一期开奖号码"})
	created := time.Since(start)
	if err == nil {
		r.last = d.ID
		d, err = housing.RevealDraw(ctx, r.in.Engine, drawActor, d.ID,
			housing.RevealRequest{Seed: secret, BeaconValue: fmt.Sprintf("03 11 19 24 27 31 + %02d", r.made)})
	}
	p := &phase{Ops: 1, Elapsed: time.Since(start), Lat: []time.Duration{created, time.Since(start) - created},
		DB: r.in.DBTrips.Load() - db0, Rd: r.in.RedisTrip.Load() - rd0}
	if err == nil && len(d.Offers) != r.units {
		err = fmt.Errorf("draw %d: %d offers of %d units (%d participants)", d.ID, len(d.Offers), r.units, len(d.Participants))
	}
	if err != nil {
		p.Errors, p.FirstErr = 1, err.Error()
	}
	return p
}

// verify fetches the last draw's public JSON and recomputes it.
func (r *drawRun) verify(ctx context.Context, hc *http.Client) *phase {
	start := time.Now()
	err := func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/api/v1/draws/%d", r.in.URL, r.last), nil)
		if err != nil {
			return err
		}
		req.Header.Set("Accept", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			io.Copy(io.Discard, resp.Body)
			return fmt.Errorf("GET draw %d: %s", r.last, resp.Status)
		}
		var d lottery.Draw
		if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
			return err
		}
		if d.Status != lottery.StatusRevealed {
			return fmt.Errorf("draw %d is %s", d.ID, d.Status)
		}
		return lottery.Verify(&d)
	}()
	p := &phase{Ops: 1, Elapsed: time.Since(start), Lat: []time.Duration{time.Since(start)}}
	if err != nil {
		p.Errors, p.FirstErr = 1, err.Error()
	}
	return p
}

// drawScenario is the draw scenario: one draw (create + reveal) ÷ one
// verification of it, in time (target 0.5).
func drawScenario(o *options, d *deployment, hc *http.Client) scenario {
	r := &drawRun{in: d.in, c: d.world.drawWorld, units: d.world.Draw.Units}
	n := d.world.Draw.Participants
	return scenario{name: "draw", target: 0.5,
		a: side{name: "draw", unit: "draw/s", per: "draw",
			run: func(ctx context.Context, _ time.Duration, tag string) *phase { return r.draw(ctx, tag, o) },
			warm: func(ctx context.Context) {
				r.draw(ctx, "", o)
			}},
		b: side{name: "verifier", unit: "check/s", per: "check",
			run:  func(ctx context.Context, _ time.Duration, _ string) *phase { return r.verify(ctx, hc) },
			warm: func(ctx context.Context) { r.verify(ctx, hc) }},
		ratio: func(a, b *phase) float64 { return b.Elapsed.Seconds() / a.Elapsed.Seconds() },
		note: fmt.Sprintf("value = the verifier's time (GET the public JSON, recompute hashes, Merkle root, order, offers) ÷ the draw's "+
			"(freeze ≥ %d waiting households, reveal, %d offers through the engine); p50/p99 of the draw: create and reveal", n, r.units)}
}

// drawNote is the seeding's line about the draw's households.
func drawNote(w *world) string {
	if w.drawWorld == nil {
		return ""
	}
	return fmt.Sprintf("; %d %s households %s in %s for draw", w.Draw.total(), housing.ServiceID, drawState, w.drawWorld.division)
}
