package housing

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"tzportal/portal"
	"tzportal/portal/audit"
	"tzportal/portal/lottery"
	"tzportal/portal/workflow"
)

// The lottery (摇号) by commit-reveal, for a batch of units of one kind in
// one district (portal/lottery holds the algorithm). Creating a draw
// freezes its participants — every waitlisted household of the district
// and kind, tickets in waiting-list order — and publishes their hash and
// Merkle root with the officer's commitment to a secret seed and the name
// of a future public beacon. Revealing the seed and the beacon's value
// fixes the order and the offers; the offered households move to offered
// through the engine. Each draw is a portal.Cohort record (kind "draw"),
// written before any case moves: a reveal cut short resumes, and a draw is
// revealed once.
const (
	kindDraw    = "draw"
	eventDraw   = "draw"
	stateOffer  = "offered"
	resUnitDraw = "draw"
	resTicket   = "ticket"
)

var (
	unitCodeRE = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z_-]{0,31}$`)
	sha256RE   = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// drawData is a draw's frozen part: its public JSON and which case each
// ticket is (not public).
type drawData struct {
	Draw  lottery.Draw
	Cases []string // case number of ticket i+1
}

// storedDraw is how a draw's record holds its drawData: the public JSON
// without its participants, which are kept column by column — tickets are
// 1…n in order, so each one's class (its index in Draw.Classes), masked
// name and case. A hundred thousand households are half the bytes of a
// list of objects, written once and read by every node.
type storedDraw struct {
	Draw    lottery.Draw `json:"draw"`
	Classes []int        `json:"classes"`
	Names   []string     `json:"names"`
	Cases   []string     `json:"cases"`
}

// encode is d as its record's data.
func (d *drawData) encode() ([]byte, error) {
	cols, err := d.encodeColumns()
	if err != nil {
		return nil, err
	}
	return d.encodeWith(cols)
}

// encodeColumns is the participants' part of d's record data (see
// encodeWith): the bulk of it, which does not depend on the list's hashes,
// so that a draw being created encodes it while they are computed.
func (d *drawData) encodeColumns() ([]byte, error) {
	sd := storedDraw{Classes: make([]int, len(d.Draw.Participants)), Names: make([]string, len(d.Draw.Participants)), Cases: d.Cases}
	for i, p := range d.Draw.Participants {
		if p.Ticket != i+1 {
			return nil, fmt.Errorf("housing: draw participant %d has ticket %d", i, p.Ticket)
		}
		sd.Classes[i], sd.Names[i] = slices.Index(d.Draw.Classes, p.Class), p.Applicant
		if sd.Classes[i] < 0 {
			return nil, fmt.Errorf("housing: draw participant %d of class %q", p.Ticket, p.Class)
		}
	}
	b := []byte(`,"classes":`)
	for _, part := range []any{sd.Classes, `,"names":`, sd.Names, `,"cases":`, sd.Cases} {
		if key, ok := part.(string); ok {
			b = append(b, key...)
			continue
		}
		v, err := json.Marshal(part)
		if err != nil {
			return nil, err
		}
		b = append(b, v...)
	}
	return b, nil
}

// encodeWith is d's record data with its participants' part cols: the
// bytes json.Marshal gives for its storedDraw, the draw first.
func (d *drawData) encodeWith(cols []byte) ([]byte, error) {
	dr := d.Draw
	dr.Participants = nil
	head, err := json.Marshal(dr)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(`{"draw":`)+len(head)+len(cols)+1)
	b = append(append(append(append(b, `{"draw":`...), head...), cols...), '}')
	return b, nil
}

// decodeDraw reads a record's data.
func decodeDraw(b []byte) (drawData, error) {
	var sd storedDraw
	if err := json.Unmarshal(b, &sd); err != nil {
		return drawData{}, err
	}
	n := len(sd.Cases)
	if len(sd.Classes) != n || len(sd.Names) != n {
		return drawData{}, fmt.Errorf("%d cases, %d classes, %d names", n, len(sd.Classes), len(sd.Names))
	}
	d := drawData{Draw: sd.Draw, Cases: sd.Cases}
	d.Draw.Participants = make([]lottery.PublicParticipant, n)
	for i := range n {
		c := sd.Classes[i]
		if c < 0 || c >= len(sd.Draw.Classes) {
			return drawData{}, fmt.Errorf("participant %d: class %d", i+1, c)
		}
		d.Draw.Participants[i] = lottery.PublicParticipant{Ticket: i + 1, Class: sd.Draw.Classes[c], Applicant: sd.Names[i]}
	}
	return d, nil
}

// DrawRequest is the body of POST /api/v1/draws (fields fixed by the API).
type DrawRequest struct {
	District   string         `json:"district"`
	Kind       string         `json:"kind"`
	Units      []lottery.Unit `json:"units"`
	Commitment string         `json:"commitment"`
	Beacon     string         `json:"beacon"`
}

// maxUnits bounds a batch of units.
const maxUnits = 10000

func (q *DrawRequest) check() error {
	var bad []portal.FieldError
	if !districtRE.MatchString(q.District) {
		bad = append(bad, portal.FieldError{Field: "district", Rule: "district"})
	}
	if !slices.Contains(kindOptions, q.Kind) {
		bad = append(bad, portal.FieldError{Field: "kind", Rule: "oneof", Param: strings.Join(kindOptions, " ")})
	}
	if len(q.Units) == 0 || len(q.Units) > maxUnits {
		bad = append(bad, portal.FieldError{Field: "units", Rule: "max_items", Param: strconv.Itoa(maxUnits)})
	}
	seen := map[string]bool{}
	for i, u := range q.Units {
		if !unitCodeRE.MatchString(u.Code) || seen[u.Code] {
			bad = append(bad, portal.FieldError{Field: fmt.Sprintf("units[%d].code", i), Rule: "unit"})
		}
		seen[u.Code] = true
	}
	if !sha256RE.MatchString(q.Commitment) {
		bad = append(bad, portal.FieldError{Field: "commitment", Rule: "sha256hex"})
	}
	if n := utf8.RuneCountInString(q.Beacon); n < 5 || n > 200 || !utf8.ValidString(q.Beacon) {
		bad = append(bad, portal.FieldError{Field: "beacon", Rule: "beacon"})
	}
	if len(bad) > 0 {
		return &portal.Error{Code: portal.EINVALID, Message: "error.invalid", Fields: bad, Labels: ServiceID + ".draw"}
	}
	return nil
}

// mayDraw checks the actor is an officer of the district who may draw.
func mayDraw(ctx context.Context, e *workflow.Engine, actor portal.Actor, district string) error {
	if actor.User == nil && actor.System != "" {
		return nil // the operator on the command line
	}
	if actor.User == nil {
		return &portal.Error{Code: portal.EUNAUTHORIZED, Message: "error.login_required"}
	}
	if _, ok := e.Authz.Can(actor.User, district, ServiceID, workflow.EventAction(eventDraw, stateWaitlisted)); !ok {
		e.DeniedOn(ctx, actor, "draw.run", "draw:"+district)
		return &portal.Error{Code: portal.EFORBIDDEN, Message: "error.forbidden"}
	}
	return nil
}

// service is this service as the engine holds it (its settings).
func service(e *workflow.Engine) *Service {
	if ent, ok := e.Registry.Get(ServiceID); ok {
		if s, ok := ent.Service.(*Service); ok {
			return s
		}
	}
	return &Service{draws: newDrawsRead()}
}

// classes are the priority class ids of a draw, in order.
func (s *Service) classes() []string { return append(slices.Clone(s.set.Priority), ClassGeneral) }

// CreateDraw freezes the participants of a new draw and publishes it. One
// draw of a district and kind is open at a time (409).
func CreateDraw(ctx context.Context, e *workflow.Engine, actor portal.Actor, q DrawRequest) (*lottery.Draw, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	if err := mayDraw(ctx, e, actor, q.District); err != nil {
		return nil, err
	}
	open, err := e.Store.UnfinishedCohorts(ctx)
	if err != nil {
		return nil, err
	}
	for _, c := range open {
		if c.Kind == kindDraw && c.Service == ServiceID && c.District == q.District && strings.HasPrefix(c.Scope, q.Kind+"/") {
			return nil, &portal.Error{Code: portal.ECONFLICT, Rule: "draw_open", Message: ServiceID + ".rule.draw_open",
				Data: map[string]any{"ID": c.ID}}
		}
	}
	s := service(e)
	// The list as Waitlist reads it, without its copy into Places: a
	// hundred thousand households.
	list, err := e.Store.ListMembers(ctx, listName(q.District, q.Kind))
	if err != nil {
		return nil, err
	}
	d := drawData{Draw: lottery.Draw{District: q.District, Kind: q.Kind, Status: lottery.StatusOpen, Units: q.Units,
		Classes: s.classes(), Commitment: q.Commitment, Beacon: strings.TrimSpace(q.Beacon), Algorithm: lottery.Algorithm,
		Participants: make([]lottery.PublicParticipant, len(list))}}
	if len(list) > 0 {
		d.Cases = make([]string, len(list))
	}
	ps := make([]lottery.Participant, len(list))
	for i, p := range list {
		if p.Label == "" { // on the list without a notice (never, as the workflow stands): the account's name
			u, err := e.Store.UserByID(ctx, p.ApplicantID)
			if err != nil {
				return nil, err
			}
			p.Label = MaskedName(u.Name)
		}
		ps[i] = lottery.Participant{Ticket: i + 1, Class: p.Class}
		d.Draw.Participants[i] = lottery.PublicParticipant{Ticket: i + 1, Class: p.Class, Applicant: p.Label}
		d.Cases[i] = p.CaseNo
	}
	// The list's hash, its Merkle root (a hundred thousand hashes each)
	// and the bulk of the record's data, side by side.
	root := make(chan string, 1)
	go func() { root <- lottery.MerkleRoot(ps) }()
	type encoded struct {
		b   []byte
		err error
	}
	cols := make(chan encoded, 1)
	go func() {
		b, err := d.encodeColumns()
		cols <- encoded{b, err}
	}()
	d.Draw.ParticipantsSHA256 = lottery.ParticipantsSHA256(ps)
	d.Draw.MerkleRoot = <-root
	enc := <-cols
	if enc.err != nil {
		return nil, enc.err
	}
	err = e.Store.Tx(ctx, func(tx portal.Tx) error {
		seq, err := tx.NextSeq(ctx, "draw:"+q.District+":"+q.Kind, "")
		if err != nil {
			return err
		}
		co := &portal.Cohort{Kind: kindDraw, Service: ServiceID, District: q.District, Scope: q.Kind + "/" + strconv.FormatInt(seq, 10),
			Commitment: q.Commitment, Actor: actor.ID(), CreatedAt: e.Now(), Total: min(len(ps), len(q.Units))}
		// The data is written once, without the draw's id (its record's,
		// set when it is read).
		if co.Data, err = d.encodeWith(enc.b); err != nil {
			return err
		}
		if err := tx.InsertCohort(ctx, co); err != nil {
			return err
		}
		d.Draw.ID = co.ID
		ent := audit.Entry(actor, "draw.create", "cohort:"+strconv.FormatInt(co.ID, 10), audit.ResultOK)
		ent.Division = q.District
		return e.Audit.Append(ctx, tx, audit.WithDetail(ent, map[string]any{"kind": q.Kind, "participants": len(ps),
			"units": len(q.Units), "commitment": q.Commitment, "participants_sha256": d.Draw.ParticipantsSHA256}))
	})
	if err != nil {
		return nil, err
	}
	s.draws.keep(s.draws.frozen, d.Draw.ID, newOpenDraw(d, ps))
	return &d.Draw, nil
}

// RevealRequest is the body of POST /api/v1/draws/{id}/reveal.
type RevealRequest struct {
	Seed        string `json:"seed"`
	BeaconValue string `json:"beacon_value"`
}

// RevealDraw checks the seed against the commitment, fixes the order and
// the offers, records them, then moves the offered households to offered.
// A reveal cut short resumes with what was recorded; a revealed draw is
// never revealed again (409).
func RevealDraw(ctx context.Context, e *workflow.Engine, actor portal.Actor, id int64, q RevealRequest) (*lottery.Draw, error) {
	co, d, err := loadDraw(ctx, e, id)
	if err != nil {
		return nil, err
	}
	if err := mayDraw(ctx, e, actor, co.District); err != nil {
		return nil, err
	}
	if co.FinishedAt != nil {
		return nil, &portal.Error{Code: portal.ECONFLICT, Rule: "draw_revealed", Message: ServiceID + ".rule.draw_revealed"}
	}
	dr := &d.Draw
	if dr.Status == lottery.StatusOpen {
		var bad []portal.FieldError
		if !lottery.ValidSeed(q.Seed) {
			bad = append(bad, portal.FieldError{Field: "seed", Rule: "seed", Param: strconv.Itoa(lottery.MinSeedLen)})
		}
		if n := utf8.RuneCountInString(strings.TrimSpace(q.BeaconValue)); n < 1 || n > 200 {
			bad = append(bad, portal.FieldError{Field: "beacon_value", Rule: "required"})
		}
		if len(bad) > 0 {
			return nil, &portal.Error{Code: portal.EINVALID, Message: "error.invalid", Fields: bad, Labels: ServiceID + ".draw"}
		}
		if lottery.Commitment(q.Seed) != co.Commitment {
			return nil, &portal.Error{Code: portal.ERULE, Rule: "seed_commitment", Message: ServiceID + ".rule.seed_commitment",
				Data: map[string]any{"Commitment": co.Commitment}, Labels: ServiceID + ".draw",
				Fields: []portal.FieldError{{Field: "seed", Rule: "seed_commitment"}}}
		}
		rv := drawReveal{Status: lottery.StatusRevealed, Seed: q.Seed, BeaconValue: strings.TrimSpace(q.BeaconValue)}
		rv.Final = lottery.Final(rv.Seed, rv.BeaconValue, dr.ParticipantsSHA256)
		if rv.Order, err = lottery.Order(rv.Final, dr.Classes, d.ps); err != nil {
			return nil, err
		}
		rv.Offers = lottery.Offers(rv.Order, lottery.UnitCodes(dr.Units))
		rv.apply(dr)
		// The reveal is the record's summary: the frozen participants (its
		// data) are never written again.
		if co.Summary, err = json.Marshal(rv); err != nil {
			return nil, err
		}
		if err := e.Store.Tx(ctx, func(tx portal.Tx) error {
			if err := tx.CohortProgress(ctx, co); err != nil {
				return err
			}
			ent := audit.Entry(actor, "draw.reveal", "cohort:"+strconv.FormatInt(co.ID, 10), audit.ResultOK)
			ent.Division = co.District
			return e.Audit.Append(ctx, tx, audit.WithDetail(ent, map[string]any{"final": dr.Final, "offers": len(dr.Offers)}))
		}); err != nil {
			return nil, err
		}
	}
	co.Summary = nil // the reveal is written: the progress below leaves it be
	// The offers, each household through the engine; one no longer on the
	// list (withdrawn since the draw was created) is passed over, its unit
	// left for the next draw.
	steps := make([]workflow.CohortStep, len(dr.Offers))
	for i, o := range dr.Offers {
		steps[i] = workflow.CohortStep{CaseNo: d.Cases[o.Ticket-1], Result: map[string]any{resUnit: o.Unit, resUnitDraw: co.ID, resTicket: o.Ticket}}
	}
	base := co.Done
	// The offers of one batch (a building or two: nearly every draw) are
	// the draw's last step: their transaction marks it finished, which
	// spares a transaction and a sync of the database's log.
	one := len(steps) > 0 && len(steps) <= workflow.CohortBatch
	if _, err := e.FireCohort(ctx, actor, ServiceID, eventDraw, steps, workflow.CohortBatch, func(ctx context.Context, tx portal.Tx, moved int) error {
		co.Done = base + moved
		if one {
			now := e.Now()
			co.FinishedAt = &now
		}
		return tx.CohortProgress(ctx, co)
	}); err != nil {
		return nil, err
	}
	if !one {
		now := e.Now()
		co.FinishedAt = &now
		if err := e.Store.Tx(ctx, func(tx portal.Tx) error { return tx.CohortProgress(ctx, co) }); err != nil {
			return nil, err
		}
	}
	return dr, nil
}

// drawReveal is what a reveal adds to a draw, kept as its record's
// summary ({} before it): the seed, the beacon's value, the final value,
// the order and the offers.
type drawReveal struct {
	Status      string          `json:"status"`
	Seed        string          `json:"seed"`
	BeaconValue string          `json:"beacon_value"`
	Final       string          `json:"final"`
	Order       []int           `json:"order"`
	Offers      []lottery.Offer `json:"offers"`
}

func (rv *drawReveal) apply(d *lottery.Draw) {
	d.Status, d.Seed, d.BeaconValue, d.Final, d.Order, d.Offers = rv.Status, rv.Seed, rv.BeaconValue, rv.Final, rv.Order, rv.Offers
}

// openDraw is a draw as it stands: its frozen part (shared, never
// changed) with its reveal, if any.
type openDraw struct {
	drawData
	ps      []lottery.Participant
	tickets *ticketIndex
}

// ticketIndex finds a case's ticket in a draw. It is built on the first
// look-up, not with the draw: creating and revealing a draw never need it,
// and a hundred thousand case numbers take a while to hash.
type ticketIndex struct {
	once sync.Once
	m    map[string]int // case number → ticket
}

// ticket is the ticket of case no in the draw, false if it is not in it.
func (d *openDraw) ticket(no string) (int, bool) {
	d.tickets.once.Do(func() {
		d.tickets.m = make(map[string]int, len(d.Cases))
		for i, no := range d.Cases {
			d.tickets.m[no] = i + 1
		}
	})
	t, ok := d.tickets.m[no]
	return t, ok
}

// loadDraw reads draw id: its record (without the data) and the draw as it
// stands, ENOTFOUND if it is no draw of this service.
func loadDraw(ctx context.Context, e *workflow.Engine, id int64) (*portal.Cohort, *openDraw, error) {
	return service(e).draws.load(ctx, e.Store, id)
}

// drawsRead keeps the draws read (each portal's Service has its own): a
// draw's participants and their cases never change once it is created, so
// that part is read once; a revealed draw never changes at all, so every
// node may keep it whole (a household's page shows its proof, the public
// page its JSON, without reading the draw each time). Whether an open draw
// has been revealed is read afresh: another node may reveal it at any
// moment.
type drawsRead struct {
	mu       sync.Mutex
	frozen   map[int64]*openDraw // the part fixed at creation
	revealed map[int64]*openDraw
}

func newDrawsRead() *drawsRead {
	return &drawsRead{frozen: map[int64]*openDraw{}, revealed: map[int64]*openDraw{}}
}

// keep remembers d in m (a handful of draws a year: the bound never bites).
func (c *drawsRead) keep(m map[int64]*openDraw, id int64, d *openDraw) {
	c.mu.Lock()
	if len(m) > 64 {
		clear(m)
	}
	m[id] = d
	c.mu.Unlock()
}

// newOpenDraw indexes a draw's frozen data; ps are its participants as
// the lottery takes them, nil to derive them from the public ones.
func newOpenDraw(d drawData, ps []lottery.Participant) *openDraw {
	if ps == nil {
		ps = make([]lottery.Participant, len(d.Draw.Participants))
		for i, p := range d.Draw.Participants {
			ps[i] = lottery.Participant{Ticket: p.Ticket, Class: p.Class}
		}
	}
	return &openDraw{drawData: d, ps: ps, tickets: &ticketIndex{}}
}

// load returns draw id's record (without its data) and the draw as it
// stands, ENOTFOUND if it is no draw of this service. The draw returned is
// the caller's to change (its top level: the slices are shared).
func (c *drawsRead) load(ctx context.Context, r portal.Reader, id int64) (*portal.Cohort, *openDraw, error) {
	co, err := r.CohortRecord(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if co.Kind != kindDraw || co.Service != ServiceID {
		return nil, nil, portal.NotFound(fmt.Errorf("housing: cohort %d is not a draw", id))
	}
	c.mu.Lock()
	f := c.frozen[id]
	c.mu.Unlock()
	if f == nil {
		full, err := r.CohortByID(ctx, id)
		if err != nil {
			return nil, nil, err
		}
		d, err := decodeDraw(full.Data)
		if err != nil {
			return nil, nil, fmt.Errorf("housing: draw %d: %w", id, err)
		}
		d.Draw.ID = id
		f = newOpenDraw(d, nil)
		c.keep(c.frozen, id, f)
	}
	od := *f
	if len(co.Summary) > 0 {
		var rv drawReveal
		if err := json.Unmarshal(co.Summary, &rv); err != nil {
			return nil, nil, fmt.Errorf("housing: draw %d: %w", id, err)
		}
		if rv.Status == lottery.StatusRevealed {
			rv.apply(&od.Draw)
		}
	}
	return co, &od, nil
}

// get returns draw id as it stands (not to be changed).
func (c *drawsRead) get(ctx context.Context, r portal.Reader, id int64) (*openDraw, error) {
	c.mu.Lock()
	d := c.revealed[id]
	c.mu.Unlock()
	if d != nil {
		return d, nil
	}
	co, d, err := c.load(ctx, r, id)
	if err != nil {
		return nil, err
	}
	if co.FinishedAt != nil {
		c.keep(c.revealed, id, d)
	}
	return d, nil
}

// drawProof is what a household's case shows of the draws it is in: the
// newest one's ticket, class and inclusion proof against its published
// Merkle root (anyone can check it with the draw's JSON).
func (s *Service) drawProof(ctx context.Context, r portal.Reader, c *portal.Case, kind string) (map[string]any, error) {
	ids, err := r.CohortIDs(ctx, kindDraw, ServiceID, c.District)
	if err != nil {
		return nil, err
	}
	for i := len(ids) - 1; i >= 0; i-- {
		cd, err := s.draws.get(ctx, r, ids[i])
		if err != nil {
			return nil, err
		}
		t, ok := cd.ticket(c.No)
		if !ok || cd.Draw.Kind != kind {
			continue
		}
		return map[string]any{"id": ids[i], "ticket": t, "class": cd.ps[t-1].Class, "status": cd.Draw.Status,
			"merkle_root": cd.Draw.MerkleRoot, "proof": lottery.Proof(cd.ps, t-1)}, nil
	}
	return nil, nil
}

// drawEndpoints are the draws' API routes.
func drawEndpoints(e *workflow.Engine) []workflow.Endpoint {
	return []workflow.Endpoint{
		{Method: http.MethodPost, Path: "/draws", Summary: "Freeze a waiting list for a draw (摇号)", Body: DrawRequest{},
			Status: http.StatusCreated, Reply: lottery.Draw{}, Handle: func(ctx context.Context, r workflow.Request) (int, any, error) {
				var q DrawRequest
				if err := r.Decode(&q); err != nil {
					return 0, nil, err
				}
				d, err := CreateDraw(ctx, e, r.Actor, q)
				if err != nil {
					return 0, nil, err
				}
				return http.StatusCreated, d, nil
			}},
		{Method: http.MethodPost, Path: "/draws/:id/reveal", Summary: "Reveal a draw's seed: the offers", Body: RevealRequest{},
			Reply: lottery.Draw{}, Handle: func(ctx context.Context, r workflow.Request) (int, any, error) {
				id, err := strconv.ParseInt(r.Param("id"), 10, 64)
				if err != nil {
					return 0, nil, portal.NotFound(err)
				}
				var q RevealRequest
				if err := r.Decode(&q); err != nil {
					return 0, nil, err
				}
				d, err := RevealDraw(ctx, e, r.Actor, id, q)
				if err != nil {
					return 0, nil, err
				}
				return http.StatusOK, d, nil
			}},
		{Method: http.MethodGet, Path: "/draws/:id", Public: true, Summary: "A draw, as anyone may check it",
			Reply: lottery.Draw{}, Handle: func(ctx context.Context, r workflow.Request) (int, any, error) {
				d, err := publicDraw(ctx, e, r.Param("id"))
				if err != nil {
					return 0, nil, err
				}
				return http.StatusOK, d, nil
			}},
	}
}

// publicDraw is a draw as anyone may read it.
func publicDraw(ctx context.Context, e *workflow.Engine, idText string) (*lottery.Draw, error) {
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || id <= 0 {
		return nil, portal.NotFound(err)
	}
	cd, err := service(e).draws.get(ctx, e.Store, id)
	if err != nil {
		return nil, err
	}
	return &cd.Draw, nil
}

// Kinds are the kinds of unit a household applies for and a draw is made
// for (the form's choices): the housing stock's kinds.
func Kinds() []string { return slices.Clone(kindOptions) }
