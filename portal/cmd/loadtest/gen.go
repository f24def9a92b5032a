package main

import (
	"encoding/json"
	"fmt"
	"iter"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"tzportal/portal"
	"tzportal/portal/validate"
	"tzportal/portal/workflow"
)

// The seeded world: a portal that has taken arrivalsPerDay cases a day for
// as long as it takes to reach the requested count, so 10,000 cases are a
// portal ten days old and 1,000,000 one of almost three years. The age of a
// case decides its state the way the workflow would have moved it: old
// cases are finished (approved, rejected, withdrawn, discarded) but for a few stuck
// ones, recent cases are still open in every state. As in the portal, an
// applicant holds one open application at a time, and it holds the claim
// that says so (case_claims); the first applicants have no case at all,
// to apply in the submit scenario.
const (
	arrivalsPerDay = 1000
	openWindow     = 45 * 24 * time.Hour // cases older than this are done, bar the stuck
	stuckShare     = 0.003               // old cases still open (overdue)
	serviceID      = "residence-permit"
	itemCode       = "0000000000000RP0001"
	caseCounter    = "case:RP"
	password       = "Taizhou-2026" // every seeded and added account
	// The baseline pool (pgbench, or the SQLite Go loop) has case numbers
	// of a day no other case has: TZRP20200101000001 …
	baselineDay = "20200101"
	// pgbench's own new cases (its submit script) number from this day.
	pgbenchSubmitDay = "19991231"
)

// Workflow edges, as in workflows/residence-permit.yaml.
var edges = map[string]struct{ to, role string }{
	"create":             {"draft", "applicant"},
	"submit":             {"submitted", "applicant"},
	"discard":            {"discarded", "applicant"},
	"withdraw":           {"withdrawn", "applicant"},
	"accept":             {"reviewing", "street_clerk"},
	"request_correction": {"correction", "street_clerk"},
	"approve":            {"approved", "street_clerk"},
	"reject":             {"rejected", "street_clerk"},
}

type weighted struct {
	w      int
	events []string
}

var (
	finalPaths = []weighted{
		{70, []string{"create", "submit", "accept", "approve"}},
		{12, []string{"create", "submit", "request_correction", "submit", "accept", "approve"}},
		{3, []string{"create", "submit", "accept", "reject"}},
		{3, []string{"create", "submit", "reject"}},
		{5, []string{"create", "discard"}},
		{4, []string{"create", "submit", "withdraw"}},
		{3, []string{"create", "submit", "request_correction", "withdraw"}},
	}
	openPaths = []weighted{
		{10, []string{"create"}},
		{25, []string{"create", "submit"}},
		{10, []string{"create", "submit", "request_correction"}},
		{40, []string{"create", "submit", "accept"}},
		{5, []string{"create", "submit", "request_correction", "submit"}},
		{10, []string{"create", "submit", "request_correction", "submit", "accept"}},
	}
	stuckPaths = []weighted{
		{1, []string{"create", "submit"}},
		{3, []string{"create", "submit", "accept"}},
	}
	submittedPath = []string{"create", "submit"}
	// The final states of workflows/residence-permit.yaml: a case in one of
	// them holds no claim.
	finalStates = []string{"approved", "rejected", "withdrawn", "discarded"}
)

func isFinal(state string) bool { return slices.Contains(finalStates, state) }

// claimPrefix + applicant id is the claim every open case of the applicant
// holds (workflows/residence-permit.yaml, unique: open: [applicant], as
// workflow.Engine.claim spells it): one open application per applicant.
const claimPrefix = serviceID + "|applicant:"

// The inputs of a history step, as sqlstore.InsertHistory writes them: the
// JSON of the step's inputs, "{}" when it has none.
var (
	noInputs         = "{}"
	correctionInputs = inputsJSON(portal.Inputs{"reason": "材料不全，请补正", "items": []string{"photo", "address_proof"}})
	rejectInputs     = inputsJSON(portal.Inputs{"reason": "不符合居住证申领条件"})
)

func inputsJSON(in portal.Inputs) string {
	b, err := json.Marshal(in)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func pick(r *rand.Rand, ws []weighted) []string {
	total := 0
	for _, w := range ws {
		total += w.w
	}
	n := r.IntN(total)
	for _, w := range ws {
		if n < w.w {
			return w.events
		}
		n -= w.w
	}
	return ws[len(ws)-1].events
}

// caseRow and histRow are rows of cases and case_history.
type caseRow struct {
	ID                          int64
	No, Service, ItemCode       string
	State                       string
	Version                     int
	Applicant                   int64
	Division, District          string
	Form, Result                string
	StateSince, Created, Update time.Time
	Due                         *time.Time
	InQueue                     bool // the portal's Case.InQueue: handed in and not ended
}

// permitQueued is Case.InQueue for the residence permit's states.
func permitQueued(state string) bool {
	return state == "submitted" || state == "correction" || state == "reviewing"
}

type histRow struct {
	CaseID          int64
	Seq             int
	Event, From, To string
	Actor           int64 // 0: NULL
	Role            string
	Inputs          string // a JSON object (noInputs, correctionInputs…)
	At              time.Time
}

// userRow is a row of users (applicants and the historical clerks).
type userRow struct {
	ID                int64
	Kind, Name, Login string
	Mobile, IDIndex   string
	IDCipher          []byte
	Hash              string
	Created           time.Time
}

// plan is what a seeded database holds, decided before any row is written.
type plan struct {
	Cases        int      // all cases, pools included
	Realistic    int      // cases of the aged world
	A, B         []string // divisions: transitions and submits (A), reads (B)
	TransPerDiv  int      // submitted cases per A division for the HTTP transitions
	BaselinePool int      // submitted cases the baseline fires on (pgbench / Go loop)
	// The first applicants have no case at all, so that each may apply:
	// HTTPApplicants for the submit scenario's HTTP workers, then
	// BenchApplicants for its pgbench clients.
	HTTPApplicants, BenchApplicants int
	// Applicants counts them all; newWorld sets it: the fresh ones, then
	// enough for every open case to have an applicant of its own.
	Applicants int
	// Cohort is the school-enrollment cases allocation_writes moves,
	// seeded on top of Cases (none when the scenario does not run).
	Cohort cohortPlan
	// Draw is the housing households the draw scenario draws from, seeded
	// on top of Cases (none when the scenario does not run).
	Draw drawPlan
}

// fresh is the number of applicants without a case.
func (p plan) fresh() int { return p.HTTPApplicants + p.BenchApplicants }

// world generates the rows of a plan.
type world struct {
	plan
	r        *rand.Rand
	now      time.Time
	zone     *time.Location
	leaves   []portal.Division
	district map[string]string
	name     map[string]string

	firstUserID  int64 // of the seeded users (historical clerks, then applicants)
	histClerk    map[string]int64
	firstAppID   int64
	sealer       func(id string) ([]byte, string, error)
	passwordHash string
	daySeq       map[string]int // day → last case sequence number used
	permitSeq    map[string]int // counter period key "permit:<district>|<year>" → last
	nextCaseID   int64
	sample       map[string][]string // B division → case numbers for the case page
	transition   map[string][]string // A division → submitted cases for HTTP transitions
	sampleSeen   map[string]int
	wantSample   map[string]bool
	// Applicants with cases are fresh() … Applicants-1. An open case takes
	// the next of openOrder (a shuffle of them), so no applicant holds two;
	// a finished case takes any.
	withCases int
	openOrder []int
	nextOpen  int
	// checklist is the service's checklist (workflows/residence-permit.yaml);
	// filed are the seeded cases that hold a file for each item their form
	// requires: the pools fired on (accept needs every required item).
	checklist []*workflow.ChecklistItem
	filed     []filedCase
	// cohortWorld is the service and street of the Cohort's cases.
	cohortWorld *cohortWorld
	// drawWorld is the street and day of the Draw's households.
	drawWorld *drawWorld
}

// filedCase is a seeded case with its files: one per item (and per entry of
// a per-list item) its form requires, uploaded by its applicant while it
// was a draft.
type filedCase struct {
	caseID, applicant int64
	at                time.Time
	items             []string
}

// materialRow is a row of materials; its bytes are seedPNG (material_blobs,
// storage db).
type materialRow struct {
	ID, Item, Filename string
	CaseID, UploadedBy int64
	At                 time.Time
}

func newWorld(p plan, now time.Time, zone *time.Location, leaves []portal.Division) *world {
	w := &world{plan: p, r: rand.New(rand.NewPCG(20261129, uint64(p.Cases))), now: now, zone: zone, leaves: leaves,
		district: map[string]string{}, name: map[string]string{}, histClerk: map[string]int64{}, daySeq: map[string]int{},
		permitSeq: map[string]int{}, sample: map[string][]string{}, transition: map[string][]string{},
		sampleSeen: map[string]int{}, wantSample: map[string]bool{}}
	for _, d := range leaves {
		w.district[d.Code] = d.Parent
		w.name[d.Code] = d.Name
	}
	for _, d := range p.B {
		w.wantSample[d] = true
	}
	// One applicant per open case at least: count the open cases first.
	open := p.TransPerDiv*len(p.A) + p.BaselinePool
	w.aged(func(_ time.Time, path []string, _ string) error {
		if !isFinal(edges[path[len(path)-1]].to) {
			open++
		}
		return nil
	})
	w.withCases = max(p.Realistic/20, open, p.Draw.total(), 1)
	w.Applicants = p.fresh() + w.withCases
	w.openOrder = w.r.Perm(w.withCases)
	return w
}

// chooseDivisions returns the A and B divisions: n each, disjoint, spread
// over the districts (a fixed shuffle).
func chooseDivisions(leaves []portal.Division, n int) (a, b []string) {
	codes := make([]string, len(leaves))
	for i, d := range leaves {
		codes[i] = d.Code
	}
	sort.Strings(codes)
	r := rand.New(rand.NewPCG(7, 11))
	r.Shuffle(len(codes), func(i, j int) { codes[i], codes[j] = codes[j], codes[i] })
	n = min(n, len(codes)/2)
	return codes[:n], codes[n : 2*n]
}

// users returns the seeded users: one historical street clerk per leaf
// division (the actors of old history rows), then the applicants.
func (w *world) users(emit func(userRow) error) error {
	id := w.firstUserID
	codes := make([]string, 0, len(w.leaves))
	for _, d := range w.leaves {
		codes = append(codes, d.Code)
	}
	sort.Strings(codes)
	created := w.now.Add(-w.span() - 24*time.Hour)
	for _, code := range codes {
		w.histClerk[code] = id
		if err := emit(userRow{ID: id, Kind: "staff", Name: "窗口 " + w.name[code], Login: "hist." + code, Hash: w.passwordHash, Created: created}); err != nil {
			return err
		}
		id++
	}
	w.firstAppID = id
	for i := 0; i < w.Applicants; i++ {
		idNo := idNumber(w.r, i)
		cipher, index, err := w.sealer(idNo)
		if err != nil {
			return err
		}
		if err := emit(userRow{ID: id, Kind: "applicant", Name: chineseName(w.r), Mobile: applicantMobile(i), IDIndex: index,
			IDCipher: cipher, Hash: w.passwordHash, Created: created}); err != nil {
			return err
		}
		id++
	}
	return nil
}

// applicantMobile is the mobile number (the login) of applicant i.
func applicantMobile(i int) string { return fmt.Sprintf("138%08d", i) }

func (w *world) applicantID(i int) int64 { return w.firstAppID + int64(i) }

// applicantOf returns the applicant of a new case that went through path:
// one without an open case if the case is open, else any with cases.
func (w *world) applicantOf(path []string) int64 {
	if isFinal(edges[path[len(path)-1]].to) {
		return w.applicantID(w.fresh() + w.r.IntN(w.withCases))
	}
	i := w.openOrder[w.nextOpen] // newWorld counted the open cases: there are enough
	w.nextOpen++
	return w.applicantID(w.fresh() + i)
}

// span is how long the portal has been taking cases.
func (w *world) span() time.Duration {
	return time.Duration(float64(w.Realistic) / arrivalsPerDay * float64(24*time.Hour))
}

// aged calls f for each case of the aged world in id order: when it was
// created, the events it went through and its division. It draws from a
// random source of its own, so every call gives the same cases: newWorld
// counts the open ones before any is written.
func (w *world) aged(f func(created time.Time, path []string, div string) error) error {
	r := rand.New(rand.NewPCG(20261128, uint64(w.Cases)))
	span := w.span()
	start := w.now.Add(-span)
	step := span / time.Duration(max(w.Realistic, 1))
	for i := 0; i < w.Realistic; i++ {
		created := start.Add(time.Duration(i)*step + time.Duration(r.Int64N(int64(max(step, 1)))))
		age := w.now.Sub(created)
		var path []string
		switch {
		case age < openWindow && r.Float64() < 1-float64(age)/float64(openWindow):
			path = pick(r, openPaths)
		case age >= openWindow && r.Float64() < stuckShare:
			path = pick(r, stuckPaths)
		default:
			path = pick(r, finalPaths)
			if age < time.Hour { // too young to be done
				path = submittedPath
			}
		}
		if err := f(created, path, w.leaves[r.IntN(len(w.leaves))].Code); err != nil {
			return err
		}
	}
	return nil
}

// cases generates every case and its history in id order.
func (w *world) cases(emitCase func(*caseRow) error, emitHist func(*histRow) error) error {
	w.nextCaseID, w.nextOpen, w.filed = 1, 0, nil
	err := w.aged(func(created time.Time, path []string, div string) error {
		c, err := w.makeCase(created, div, w.applicantOf(path), path, w.caseNo(created), emitHist)
		if err != nil {
			return err
		}
		if w.wantSample[div] && c.State != "draft" && c.State != "discarded" { // staff do not see these
			w.reservoir(div, c.No)
		}
		return emitCase(c)
	})
	if err != nil {
		return err
	}
	// The HTTP transition pool: submitted in the last two days in the A
	// divisions, numbered like any case of their day.
	pool := w.TransPerDiv * len(w.A)
	for i := 0; i < pool; i++ {
		created := w.now.Add(-48*time.Hour + time.Duration(i)*(47*time.Hour)/time.Duration(max(pool, 1)))
		div := w.A[i%len(w.A)]
		c, err := w.makeCase(created, div, w.applicantOf(submittedPath), submittedPath, w.caseNo(created), emitHist)
		if err != nil {
			return err
		}
		w.transition[div] = append(w.transition[div], c.No)
		if err := w.file(c); err != nil {
			return err
		}
		if err := emitCase(c); err != nil {
			return err
		}
	}
	// The baseline pool, on a day of its own.
	created := time.Date(2020, 1, 1, 10, 0, 0, 0, w.zone)
	for i := 1; i <= w.BaselinePool; i++ {
		div := w.A[i%len(w.A)]
		c, err := w.makeCase(created, div, w.applicantOf(submittedPath), submittedPath, fmt.Sprintf("TZRP%s%06d", baselineDay, i), emitHist)
		if err != nil {
			return err
		}
		if err := w.file(c); err != nil {
			return err
		}
		if err := emitCase(c); err != nil {
			return err
		}
	}
	w.daySeq[baselineDay] = w.BaselinePool
	// The cohort of allocation_writes and the draw's households, after
	// every other case.
	if err := w.cohortCases(emitCase, emitHist); err != nil {
		return err
	}
	return w.drawCases(emitCase, emitHist)
}

// file gives a case of a pool the files its checklist requires for its
// form (basis_proof only for the bases that need it), as uploaded while it
// was a draft: a minute apart from its creation on.
func (w *world) file(c *caseRow) error {
	var values map[string]any
	if err := json.Unmarshal([]byte(c.Form), &values); err != nil {
		return fmt.Errorf("form of %s: %w", c.No, err)
	}
	var items []string
	for _, it := range w.checklist {
		for range it.Needed(values) {
			items = append(items, it.Item)
		}
	}
	if len(items) > 0 {
		w.filed = append(w.filed, filedCase{caseID: c.ID, applicant: c.Applicant, at: c.Created, items: items})
	}
	return nil
}

// materials yields the material rows of the filed cases (once cases has
// run).
func (w *world) materials() iter.Seq[materialRow] {
	return func(yield func(materialRow) bool) {
		for _, f := range w.filed {
			for i, item := range f.items {
				if !yield(materialRow{ID: fmt.Sprintf("seed%010d%02d", f.caseID, i), Item: item, Filename: item + ".png",
					CaseID: f.caseID, UploadedBy: f.applicant, At: f.at.Add(time.Duration(i+1) * time.Minute)}) {
					return
				}
			}
		}
	}
}

// reservoir keeps a uniform sample of up to 1000 case numbers per division.
func (w *world) reservoir(div, no string) {
	const size = 1000
	w.sampleSeen[div]++
	if s := w.sample[div]; len(s) < size {
		w.sample[div] = append(s, no)
	} else if j := w.r.IntN(w.sampleSeen[div]); j < size {
		s[j] = no
	}
}

func (w *world) caseNo(created time.Time) string {
	day := created.In(w.zone).Format("20060102")
	w.daySeq[day]++
	return fmt.Sprintf("TZRP%s%06d", day, w.daySeq[day])
}

var addresses = []string{"东进东路", "鼓楼南路", "海陵北路", "青年南路", "凤凰西路", "春晖路", "济川东路", "江洲南路", "泰安路", "永定路"}
var employers = []string{"泰州市某机械有限公司", "扬子江药业集团", "泰州港务集团", "某电子科技有限公司", "海陵区某餐饮店", "靖江某造船厂"}
var bases = []string{"employment", "residence", "study"}

func (w *world) form(div string, created time.Time) string {
	since := created.AddDate(0, -7-w.r.IntN(60), -w.r.IntN(28)).In(w.zone).Format(time.DateOnly)
	basis := bases[w.r.IntN(len(bases))]
	detail := employers[w.r.IntN(len(employers))]
	if basis == "study" {
		detail = "泰州学院"
	}
	return fmt.Sprintf(`{"division":"%s","address":"%s%d号%d幢%d室","resided_since":"%s","basis":"%s","basis_detail":"%s","phone":"139%08d"}`,
		div, addresses[w.r.IntN(len(addresses))], 1+w.r.IntN(300), 1+w.r.IntN(30), 101+w.r.IntN(1500), since, basis, detail, w.r.IntN(100000000))
}

// makeCase walks path from created, writing a history row per event.
func (w *world) makeCase(created time.Time, div string, applicant int64, path []string, no string, emitHist func(*histRow) error) (*caseRow, error) {
	id := w.nextCaseID
	w.nextCaseID++
	final := edges[path[len(path)-1]].to
	age := w.now.Sub(created)
	dur := min(time.Duration(float64(age)*0.9), 20*24*time.Hour)
	c := &caseRow{ID: id, No: no, Service: serviceID, ItemCode: itemCode, Applicant: applicant, Division: div,
		District: w.district[div], Form: w.form(div, created), Result: "{}", Created: created, Version: len(path)}
	state := ""
	var at time.Time
	for k, ev := range path {
		at = created
		if len(path) > 1 {
			at = created.Add(dur * time.Duration(k) / time.Duration(len(path)-1))
		}
		e := edges[ev]
		h := &histRow{CaseID: id, Seq: k + 1, Event: ev, From: state, To: e.to, Role: e.role, Inputs: noInputs, At: at}
		if e.role == "applicant" {
			h.Actor = applicant
		} else {
			h.Actor = w.histClerk[div]
		}
		switch ev {
		case "request_correction":
			h.Inputs = correctionInputs
		case "reject":
			h.Inputs = rejectInputs
		}
		if err := emitHist(h); err != nil {
			return nil, err
		}
		state = e.to
	}
	c.State, c.StateSince, c.Update, c.InQueue = final, at, at, permitQueued(final)
	var due time.Time
	switch final {
	case "submitted":
		due = at.Add(72 * time.Hour)
	case "reviewing":
		due = at.Add(21 * 24 * time.Hour)
	case "correction":
		due = at.Add(30 * 24 * time.Hour)
	case "approved":
		year := at.In(w.zone).Format("2006")
		key := "permit:" + c.District + "|" + year
		w.permitSeq[key]++
		from := at.In(w.zone).Format(time.DateOnly)
		until := at.In(w.zone).AddDate(1, 0, -1).Format(time.DateOnly)
		c.Result = fmt.Sprintf(`{"permit_no":"JZ%s%s%06d","valid_from":"%s","valid_until":"%s","issued_by":"%s"}`,
			c.District, year, w.permitSeq[key], from, until, div)
	}
	if !due.IsZero() {
		c.Due = &due
	}
	return c, nil
}

// claimsSQL gives every open case the claim it holds in the portal. It
// fails on the primary key if an applicant had two open cases: the world
// gives none two.
var claimsSQL = `INSERT INTO case_claims (claim, case_id)
	SELECT '` + claimPrefix + `' || applicant_id, id FROM cases
	WHERE service = '` + serviceID + `' AND state NOT IN ('` + strings.Join(finalStates, "', '") + `')`

// counters returns the counter rows so that new case and permit numbers
// continue after the seeded ones.
func (w *world) counters() [][3]any {
	var out [][3]any
	for day, n := range w.daySeq {
		out = append(out, [3]any{caseCounter, day, int64(n)})
	}
	for key, n := range w.permitSeq {
		name, period, _ := strings.Cut(key, "|")
		out = append(out, [3]any{name, period, int64(n)})
	}
	if c := w.cohortWorld; c != nil && w.Cohort.total() > 0 {
		out = append(out, [3]any{"case:" + c.code, c.day.Format("20060102"), int64(w.Cohort.total())})
	}
	if c := w.drawWorld; c != nil && w.Draw.total() > 0 {
		out = append(out, [3]any{"case:" + c.code, c.day.Format("20060102"), int64(w.Draw.total())})
	}
	return out
}

// Identity numbers (GB 11643): a region code, a birth date, a sequence and
// the ISO 7064 MOD 11-2 check character. Applicant i gets a unique
// (birth date, sequence) pair.
var (
	regions = []string{"321202", "321281", "321283", "340102", "341221", "410102", "411522", "510107", "513030", "522121", "420104", "370102"}
)

func idNumber(r *rand.Rand, i int) string {
	const days = 14600 // 1965 … 2004
	birth := time.Date(1965, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, (i*7919)%days)
	seq := 100 + i/days
	s := regions[r.IntN(len(regions))] + birth.Format("20060102") + fmt.Sprintf("%03d", seq%1000)
	return s + string(validate.IDCheckChar(s))
}

var (
	surnames = []rune("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
	given    = []rune("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国建华志强海燕红梅玉兰晓东春梅文斌")
)

func chineseName(r *rand.Rand) string {
	n := string(surnames[r.IntN(len(surnames))]) + string(given[r.IntN(len(given))])
	if r.IntN(3) > 0 {
		n += string(given[r.IntN(len(given))])
	}
	return n
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
