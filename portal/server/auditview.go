package server

import (
	"bytes"
	"context"
	"encoding/csv"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"tzportal/portal"
	"tzportal/portal/audit"
	"tzportal/portal/locale"
)

// The audit view (/audit, its CSV and its JSON twin GET /api/v1/audit):
// the audit trail as people read it — who (name · role · office), did
// what (the action in the reader's language), to what, with what result —
// newest first, filtered, a page at a time along an index (keyset on seq,
// never OFFSET). Within the reader's reach (policy "audit, read"): a
// city-wide supervisor reads every entry; a district's supervisor the
// entries recorded in their district and its streets. Entries without a
// division (applicants' logins and registrations, attempts by nobody logged
// in or by an applicant, command-line tools) belong to the city as a whole:
// only city-wide readers see them, though a case's own trail (the case
// filter) is read whole by anyone who may read that case's audit.

// auditPageSize is the rows of one page of the audit view.
const auditPageSize = 50

// auditExportMax bounds one CSV export (read a page of 1,000 at a time).
const auditExportMax = 50_000

// auditResults are the results entries record, in the order the filter
// offers them.
var auditResults = []string{audit.ResultOK, audit.ResultDenied, audit.ResultFailed, "pending"}

// auditQuery is the filter as typed (kept as typed when it has errors).
type auditQuery struct {
	CaseNo string `json:"case_no,omitempty"`
	Person string `json:"person,omitempty"`
	Action string `json:"action,omitempty"`
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	Result string `json:"result,omitempty"`
	Before int64  `json:"before,omitempty"`
}

func readAuditQuery(c *fiber.Ctx) auditQuery {
	q := auditQuery{CaseNo: strings.TrimSpace(c.Query("case_no")), Person: strings.TrimSpace(c.Query("person")),
		Action: c.Query("action"), From: strings.TrimSpace(c.Query("from")), To: strings.TrimSpace(c.Query("to")),
		Result: c.Query("result")}
	q.Before, _ = strconv.ParseInt(c.Query("before"), 10, 64)
	return q
}

// values are the filter's query parameters (without the page's cursor).
func (q auditQuery) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"case_no": q.CaseNo, "person": q.Person, "action": q.Action, "from": q.From,
		"to": q.To, "result": q.Result} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// auditReach is the part of the trail u may read: every entry, or the
// entries of the divisions under u's grants that carry "audit, read".
func (s *Server) auditReach(u *portal.User) (all bool, divisions []string) {
	if u == nil || u.Kind != portal.KindStaff {
		return false, nil
	}
	divs := s.Authz.Divisions()
	seen := map[string]bool{}
	var walk func(code string)
	walk = func(code string) {
		if seen[code] {
			return
		}
		seen[code] = true
		divisions = append(divisions, code)
		for _, k := range divs.Children(code) {
			walk(k)
		}
	}
	for _, g := range u.Grants {
		if _, ok := s.Authz.Can(u, g.Division, "audit", "read"); !ok {
			continue
		}
		if g.Division == divs.Root {
			return true, nil
		}
		walk(g.Division)
	}
	return false, divisions
}

// mayReadAudit reports whether u reads any of the trail (the navigation
// offers the page only then).
func (s *Server) mayReadAudit(u *portal.User) bool {
	all, divs := s.auditReach(u)
	return all || len(divs) > 0
}

// mayVerifyAudit reports whether u may verify the chain: it is the whole
// city's, so the permission "audit, verify" must reach the city.
func (s *Server) mayVerifyAudit(u *portal.User) bool {
	if u == nil || u.Kind != portal.KindStaff {
		return false
	}
	_, ok := s.Authz.Can(u, s.Authz.Divisions().Root, "audit", "verify")
	return ok
}

// auditFilter checks the typed filter and turns it into the store's. A
// case out of reach is reported exactly like a case that does not exist
// (and the attempt is audited, as on the case's own trail).
func (s *Server) auditFilter(c *fiber.Ctx, q auditQuery) (portal.AuditFilter, error) {
	all, divisions := s.auditReach(currentUser(c))
	f := portal.AuditFilter{AllScope: all, Divisions: divisions, Action: q.Action, Before: q.Before}
	var bad []portal.FieldError
	zone := s.Engine.Calendar.Zone
	day := func(field, v string) time.Time {
		if v == "" {
			return time.Time{}
		}
		t, err := time.ParseInLocation(time.DateOnly, v, zone)
		if err != nil {
			bad = append(bad, portal.FieldError{Field: field, Rule: "date"})
		}
		return t
	}
	f.From = day("from", q.From)
	if to := day("to", q.To); !to.IsZero() {
		f.To = to.AddDate(0, 0, 1) // the whole last day
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		bad = append(bad, portal.FieldError{Field: "to", Rule: "date_order"})
	}
	if q.Result != "" {
		if !slices.Contains(auditResults, q.Result) {
			bad = append(bad, portal.FieldError{Field: "result", Rule: "oneof"})
		}
		f.Result = q.Result
	}
	if q.CaseNo != "" {
		no := strings.ToUpper(q.CaseNo)
		// Reach, not Get: searching the audit trail is not reading the
		// case (the applicant's access log would say it was).
		kase, _, err := s.Engine.Reach(ctx(c), actor(c), no)
		switch {
		case portal.ErrorCode(err) == portal.ENOTFOUND:
			bad = append(bad, portal.FieldError{Field: "case_no", Rule: "no_case"})
		case err != nil:
			return f, err
		default:
			if _, ok := s.Authz.Can(currentUser(c), kase.Division, "audit", "read"); !ok {
				s.Engine.Denied(ctx(c), actor(c), "audit.read", no)
				bad = append(bad, portal.FieldError{Field: "case_no", Rule: "no_case"})
			}
			f.Object = "case:" + no
		}
	}
	if q.Person != "" {
		actors, err := s.Store.AuditActorsNamed(ctx(c), q.Person, 20)
		if err != nil {
			return f, err
		}
		if sys := systemActor(q.Person); sys != "" {
			actors = append(actors, sys)
		}
		// Only a reader of the whole city is told that no account has the
		// name or number: to a reader of part of it, that would say
		// whether a mobile number is registered anywhere. No match reads
		// no entries.
		if len(actors) == 0 && all {
			bad = append(bad, portal.FieldError{Field: "person", Rule: "no_person"})
		}
		if len(actors) == 0 {
			actors = []string{"user:0"} // no one: account ids start at 1
		}
		f.Actors = actors
	}
	if len(bad) > 0 {
		e := portal.Invalid(bad...)
		e.Labels = "audit.filter"
		return f, e
	}
	return f, nil
}

// systemActor is the actor id a person filter names without an account:
// the scheduler, the public, the command line ("cli:root").
func systemActor(q string) string {
	switch {
	case q == "scheduler", q == "public", q == "anonymous", strings.HasPrefix(q, "cli:"):
		return q
	}
	return ""
}

// auditEntry is one row of the audit view, as people read it.
type auditEntry struct {
	portal.AuditEntry
	AtText      string `json:"at_local"`
	ActorName   string `json:"actor_name"`
	ActorLabel  string `json:"actor_label"`
	ActionLabel string `json:"action_label"`
	ResultLabel string `json:"result_label"`
	ObjectLabel string `json:"object_label"`
	CaseNo      string `json:"case_no,omitempty"`
}

// presentAudit names the entries' actors, actions and results for l.
func (s *Server) presentAudit(c *fiber.Ctx, l *locale.L, entries []portal.AuditEntry) ([]auditEntry, error) {
	var ids []string
	for _, e := range entries {
		ids = append(ids, e.Actor)
		if strings.HasPrefix(e.Object, "user:") {
			ids = append(ids, e.Object) // an account an entry is about: its name
		}
	}
	names, err := s.Store.AuditActorNames(ctx(c), ids)
	if err != nil {
		return nil, err
	}
	divs := s.Authz.Divisions()
	zone := s.Engine.Calendar.Zone
	out := make([]auditEntry, 0, len(entries))
	for _, e := range entries {
		r := auditEntry{AuditEntry: e, AtText: e.At.In(zone).Format("2006-01-02 15:04:05"),
			ActionLabel: s.actionLabel(l, e.Action), ResultLabel: resultLabel(l, e.Result)}
		parts := []string{actorName(l, e.Actor, names)}
		if e.Role != "" && l.Has("role."+e.Role) {
			parts = append(parts, l.T("role."+e.Role))
		}
		if d, ok := divs.Get(e.Division); ok {
			parts = append(parts, d.Name)
		}
		r.ActorName, r.ActorLabel = parts[0], strings.Join(parts, " · ")
		r.ObjectLabel = e.Object
		if no, ok := strings.CutPrefix(e.Object, "case:"); ok {
			r.CaseNo = no
		} else if n, ok := names[e.Object]; ok {
			r.ObjectLabel = n
		} else if e.Object == "audit" {
			r.ObjectLabel = l.T("auditview.object_chain")
		}
		out = append(out, r)
	}
	return out, nil
}

// actorName is an entry's actor by name: an account's name, or the
// system's in the reader's language.
func actorName(l *locale.L, actor string, names map[string]string) string {
	if n, ok := names[actor]; ok {
		return n
	}
	kind, rest, _ := strings.Cut(actor, ":")
	switch {
	case kind == "user":
		return actor // an account that is gone: its id is all there is
	case kind == "cli":
		return l.T("audit.actor.cli", map[string]any{"Name": rest})
	case l.Has("audit.actor." + actor):
		return l.T("audit.actor." + actor)
	}
	return l.T("audit.actor.other", map[string]any{"Name": actor})
}

// actionLabel is an action in the reader's language: the audit catalog's
// own (audit.action.<action>), else a step of a case or a cohort by the
// service's name for its event (case.accept: "已受理").
func (s *Server) actionLabel(l *locale.L, action string) string {
	if id := "audit.action." + action; l.Has(id) {
		return l.T(id)
	}
	family, event, _ := strings.Cut(action, ".")
	if family == "case" || family == "cohort" {
		for _, svc := range s.Engine.Services() {
			if id := svc + ".event." + event; l.Has(id) {
				if family == "cohort" {
					return l.T("audit.action.cohort_event", map[string]any{"Event": l.T(id)})
				}
				return l.T(id)
			}
		}
	}
	return action
}

func resultLabel(l *locale.L, result string) string {
	if id := "audit.result_" + result; l.Has(id) {
		return l.T(id)
	}
	return result
}

// auditActions are the actions the filter offers: every one the audit
// catalog names, and every event of every service (as case.<event>).
func (s *Server) auditActions(l *locale.L) []choiceDoc {
	seen := map[string]bool{}
	var out []choiceDoc
	add := func(action string) {
		if !seen[action] {
			seen[action] = true
			out = append(out, choiceDoc{Value: action, Label: s.actionLabel(l, action)})
		}
	}
	for _, id := range l.IDs("audit.action.") {
		if a := strings.TrimPrefix(id, "audit.action."); a != "cohort_event" {
			add(a)
		}
	}
	for _, svc := range s.Engine.Services() {
		def, _ := s.Engine.Definition(svc)
		for _, ev := range def.EventNames() {
			if def.Events[ev].Cohort {
				add("cohort." + ev)
			}
			add("case." + ev)
		}
	}
	slices.SortStableFunc(out, func(a, b choiceDoc) int { return strings.Compare(a.Value, b.Value) })
	return out
}

// auditDoc is the audit view page.
type auditDoc struct {
	Query    auditQuery
	Actions  []choiceDoc
	Results  []choiceDoc
	Entries  []auditEntry
	Older    string // the next page's URL (older entries)
	Newest   string // the first page's URL, when this is not it
	CSV      string
	Check    *auditCheckDoc
	MayCheck bool
	AllScope bool
}

// auditCheckDoc is the last verification of the chain as the page shows it.
type auditCheckDoc struct {
	portal.AuditCheck
	AtText string
}

// auditViewPage is GET /audit: the filter form, then a page of entries.
func (s *Server) auditViewPage(c *fiber.Ctx) error {
	u := currentUser(c)
	if !s.mayReadAudit(u) {
		return portal.NotFound(nil)
	}
	l := loc(c)
	q := readAuditQuery(c)
	all, _ := s.auditReach(u)
	d := &auditDoc{Query: q, Actions: s.auditActions(l), MayCheck: s.mayVerifyAudit(u), AllScope: all}
	for _, r := range auditResults {
		d.Results = append(d.Results, choiceDoc{Value: r, Label: resultLabel(l, r)})
	}
	check, err := s.Store.LastAuditCheck(ctx(c))
	switch {
	case err == nil:
		d.Check = &auditCheckDoc{AuditCheck: *check, AtText: check.At.In(s.Engine.Calendar.Zone).Format("2006-01-02 15:04:05")}
	case portal.ErrorCode(err) != portal.ENOTFOUND:
		return err
	}
	f, err := s.auditFilter(c, q)
	if err != nil {
		if portal.ErrorCode(err) != portal.EINVALID {
			return err
		}
		p := s.newPage(c, "auditview.title", d)
		p.Errors, p.Summary = fieldMessages(c, err)
		return s.write(c, fiber.StatusUnprocessableEntity, "auditview", p)
	}
	f.Limit = auditPageSize + 1
	entries, err := s.Store.AuditEntries(ctx(c), f)
	if err != nil {
		return err
	}
	more := len(entries) > auditPageSize
	if more {
		entries = entries[:auditPageSize]
	}
	if d.Entries, err = s.presentAudit(c, l, entries); err != nil {
		return err
	}
	v := q.values()
	d.CSV = "/audit.csv"
	if len(v) > 0 {
		d.CSV += "?" + v.Encode()
	}
	if q.Before > 0 {
		d.Newest = "/audit"
		if len(v) > 0 {
			d.Newest += "?" + v.Encode()
		}
	}
	if more {
		v.Set("before", strconv.FormatInt(entries[len(entries)-1].Seq, 10))
		d.Older = "/audit?" + v.Encode()
	}
	p := s.newPage(c, "auditview.title", d)
	if c.Query("verified") != "" && d.Check != nil {
		p.Notice = l.T("auditview.verified_notice")
	}
	return s.render(c, "auditview", p)
}

// csvCell keeps a cell from being read as a formula by a spreadsheet: a
// cell starting with = + - @ (or a tab or carriage return) gets a leading '.
func csvCell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// auditCSV is GET /audit.csv: the filtered entries (every page, up to
// auditExportMax), UTF-8 with a byte-order mark for Excel. The export is
// itself an audit entry (audit.export, with the filter and the rows).
func (s *Server) auditCSV(c *fiber.Ctx) error {
	if !s.mayReadAudit(currentUser(c)) {
		return portal.NotFound(nil)
	}
	l := loc(c)
	q := readAuditQuery(c)
	f, err := s.auditFilter(c, q)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	buf.WriteString("\uFEFF")
	w := csv.NewWriter(&buf)
	head := []string{"audit.seq", "audit.at", "audit.actor", "auditview.actor_id", "audit.role", "auditview.division",
		"audit.action", "auditview.action_code", "auditview.object", "audit.result", "audit.ip"}
	for i, id := range head {
		head[i] = l.T(id)
	}
	_ = w.Write(head)
	rows := 0
	divs := s.Authz.Divisions()
	for rows < auditExportMax {
		f.Limit = min(1000, auditExportMax-rows)
		batch, err := s.Store.AuditEntries(ctx(c), f)
		if err != nil {
			return err
		}
		list, err := s.presentAudit(c, l, batch)
		if err != nil {
			return err
		}
		for _, e := range list {
			role, division := "", e.Division
			if e.Role != "" {
				role = l.T("role." + e.Role)
			}
			if d, ok := divs.Get(e.Division); ok {
				division = d.Name
			}
			rec := []string{strconv.FormatInt(e.Seq, 10), e.AtText, e.ActorName, e.Actor, role, division,
				e.ActionLabel, e.Action, e.Object, e.ResultLabel, e.IP}
			for i := range rec {
				rec[i] = csvCell(rec[i])
			}
			_ = w.Write(rec)
		}
		rows += len(batch)
		if len(batch) < f.Limit {
			break
		}
		f.Before = batch[len(batch)-1].Seq
	}
	w.Flush()
	// The entry is the city's, not the division of the reader's first
	// grant: its filter may name cases and people of any district.
	ent := audit.Entry(actor(c), "audit.export", "audit", audit.ResultOK)
	ent.Division = s.Authz.Divisions().Root
	ent = audit.WithDetail(ent, map[string]any{"filter": q, "rows": rows})
	if err := s.Engine.Audit.Record(ctx(c), s.Store, ent); err != nil {
		return err // an export that cannot be recorded is not handed out
	}
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="audit-`+s.Now().In(s.Engine.Calendar.Zone).Format("20060102-150405")+`.csv"`)
	return c.Send(buf.Bytes())
}

// auditVerify is POST /audit/verify: the check `portal audit verify`
// runs, from the page; the result is kept and shown with its time.
func (s *Server) auditVerify(c *fiber.Ctx) error {
	if !s.mayVerifyAudit(currentUser(c)) {
		return portal.NotFound(nil)
	}
	// The whole chain is read: more than a page's time on a long trail,
	// and not to be cut short by a closed tab.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx(c)), 5*time.Minute)
	defer cancel()
	if _, err := s.Engine.Audit.Check(cctx, s.Store, actor(c)); err != nil {
		return err
	}
	return c.Redirect("/audit?verified=1#verify", fiber.StatusSeeOther)
}

// apiAuditView is GET /api/v1/audit with filters: the audit view's page as
// JSON, {items: [...], next}; next is the "before" of the older page.
func (s *Server) apiAuditView(c *fiber.Ctx) error {
	if !s.mayReadAudit(currentUser(c)) {
		return portal.NotFound(nil)
	}
	q := readAuditQuery(c)
	f, err := s.auditFilter(c, q)
	if err != nil {
		return err
	}
	f.Limit = auditPageSize + 1
	entries, err := s.Store.AuditEntries(ctx(c), f)
	if err != nil {
		return err
	}
	var next int64
	if len(entries) > auditPageSize {
		entries = entries[:auditPageSize]
		next = entries[len(entries)-1].Seq
	}
	items, err := s.presentAudit(c, loc(c), entries)
	if err != nil {
		return err
	}
	out := fiber.Map{"items": items}
	if next > 0 {
		out["next"] = strconv.FormatInt(next, 10)
	}
	return c.JSON(out)
}
