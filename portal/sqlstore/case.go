package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"tzportal/portal"
)

const caseColumns = `id, case_no, service, item_code, state, version, applicant_id, division, district,
	form, result, state_since, due_at, created_at, updated_at, in_queue, holder_id`

// listColumns are caseColumns of c with the form and result left empty:
// lists do not show them.
var listColumns = strings.NewReplacer("c.form,", "'{}',", "c.result,", "'{}',").Replace(prefixed("c.", caseColumns))

type rowScanner interface{ Scan(dest ...any) error }

func scanCase(r rowScanner, extra ...any) (*portal.Case, error) {
	c := &portal.Case{}
	var form, result []byte
	var holder sql.NullInt64
	dest := append([]any{&c.ID, &c.No, &c.Service, &c.ItemCode, &c.State, &c.Version, &c.ApplicantID, &c.Division, &c.District,
		&form, &result, scanTime{&c.StateSince}, scanNullTime{&c.DueAt}, scanTime{&c.CreatedAt}, scanTime{&c.UpdatedAt}, &c.InQueue, &holder}, extra...)
	err := r.Scan(dest...)
	c.Form, c.Result = json.RawMessage(form), json.RawMessage(result)
	if holder.Valid {
		c.HolderID = &holder.Int64
	}
	return c, err
}

func (q q) caseBy(ctx context.Context, op, query string, args ...any) (*portal.Case, error) {
	c, err := scanCase(q.ex.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, portal.NotFound(fmt.Errorf("%s: no case", op))
	}
	if err != nil {
		return nil, dbError(op, err)
	}
	return c, nil
}

// CaseByNo returns the case with the case number.
func (q q) CaseByNo(ctx context.Context, no string) (*portal.Case, error) {
	return q.caseBy(ctx, "sqlstore.CaseByNo", `SELECT `+caseColumns+` FROM cases WHERE case_no = $1`, no)
}

// CaseByID returns the case with the internal id.
func (q q) CaseByID(ctx context.Context, id int64) (*portal.Case, error) {
	return q.caseBy(ctx, "sqlstore.CaseByID", `SELECT `+caseColumns+` FROM cases WHERE id = $1`, id)
}

// CaseWithHistory returns the case, its applicant's name, mobile and sealed
// ID number, and its history, with one query.
func (q q) CaseWithHistory(ctx context.Context, no string) (*portal.Case, []portal.History, error) {
	return q.caseWithHistory(ctx, "sqlstore.CaseWithHistory", no, "")
}

// CaseWithHistoryForUpdate is CaseWithHistory that also locks the case row.
func (t *Tx) CaseWithHistoryForUpdate(ctx context.Context, no string) (*portal.Case, []portal.History, error) {
	lock := ""
	if t.d.name() == "postgres" {
		lock = " FOR UPDATE OF c"
	}
	return t.caseWithHistory(ctx, "sqlstore.CaseWithHistoryForUpdate", no, lock)
}

func (q q) caseWithHistory(ctx context.Context, op, no, lock string) (*portal.Case, []portal.History, error) {
	rows, err := q.ex.QueryContext(ctx, `SELECT `+prefixed("c.", caseColumns)+`,
		u.name, COALESCE(u.mobile, ''), u.id_cipher, COALESCE(u.id_index, ''), u.locale, u.email, `+holderName+`,
		h.seq, h.event, h.from_state, h.to_state, h.actor_id, h.actor_role, h.inputs, h.at, h.due_at
		FROM cases c JOIN users u ON u.id = c.applicant_id`+holderJoin+`
		LEFT JOIN case_history h ON h.case_id = c.id
		WHERE c.case_no = $1 ORDER BY h.seq`+lock, no)
	if err != nil {
		return nil, nil, dbError(op, err)
	}
	defer rows.Close()
	var c *portal.Case
	var hist []portal.History
	for rows.Next() {
		app := &portal.User{Kind: portal.KindApplicant}
		var seq sql.NullInt64
		var h portal.History
		var actor sql.NullInt64
		var inputs []byte
		var at sql.Null[any]
		var due *time.Time
		var event, from, to, role sql.NullString
		var holder string
		row, err := scanCase(rows, &app.Name, &app.Mobile, &app.IDCipher, &app.IDIndex, &app.Locale, &app.Email, &holder,
			&seq, &event, &from, &to, &actor, &role, &inputs, &at, scanNullTime{&due})
		if err != nil {
			return nil, nil, dbError(op, err)
		}
		if c == nil {
			app.ID = row.ApplicantID
			row.Applicant, row.ApplicantName, row.HolderName = app, app.Name, holder
			c = row
		}
		if !seq.Valid {
			continue
		}
		h = portal.History{CaseID: c.ID, Seq: int(seq.Int64), Event: event.String, From: from.String, To: to.String,
			ActorRole: role.String, DueAt: due}
		if actor.Valid {
			h.ActorID = &actor.Int64
		}
		if err := (scanTime{&h.At}).Scan(at.V); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", op, err)
		}
		if err := json.Unmarshal(inputs, &h.Inputs); err != nil {
			return nil, nil, fmt.Errorf("%s: inputs of case %s: %w", op, no, err)
		}
		hist = append(hist, h)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, dbError(op, err)
	}
	if c == nil {
		return nil, nil, portal.NotFound(fmt.Errorf("%s: no case", op))
	}
	return c, hist, nil
}

// prefixed qualifies each column of a list with a table alias.
func prefixed(alias, columns string) string {
	parts := strings.Split(columns, ",")
	for i, p := range parts {
		parts[i] = alias + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// CaseByNoForUpdate returns the case and locks it until the transaction ends.
func (t *Tx) CaseByNoForUpdate(ctx context.Context, no string) (*portal.Case, error) {
	return t.caseBy(ctx, "sqlstore.CaseByNoForUpdate", `SELECT `+caseColumns+` FROM cases WHERE case_no = $1`+t.d.forUpdate(), no)
}

// History returns the case's timeline, oldest first.
func (q q) History(ctx context.Context, caseID int64) ([]portal.History, error) {
	by, err := q.histories(ctx, "sqlstore.History", `case_id = $1`, caseID)
	return by[caseID], err
}

// HistoryOf returns the timelines of several cases, oldest first.
func (q q) HistoryOf(ctx context.Context, caseIDs []int64) (map[int64][]portal.History, error) {
	if len(caseIDs) == 0 {
		return map[int64][]portal.History{}, nil
	}
	args := make([]any, len(caseIDs))
	for i, id := range caseIDs {
		args[i] = id
	}
	return q.histories(ctx, "sqlstore.HistoryOf", "case_id IN ("+placeholders(len(args))+")", args...)
}

// placeholders returns "$1, $2, …, $n".
func placeholders(n int) string { return marks(n, func(i int) string { return "$" + strconv.Itoa(i) }) }

// marks returns the marks of arguments 1…n, comma-separated.
func marks(n int, mark func(int) string) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteString(", ")
		}
		b.WriteString(mark(i))
	}
	return b.String()
}

func (q q) histories(ctx context.Context, op, where string, args ...any) (map[int64][]portal.History, error) {
	rows, err := q.ex.QueryContext(ctx, `SELECT case_id, seq, event, from_state, to_state, actor_id, actor_role, inputs, at, due_at
		FROM case_history WHERE `+where+` ORDER BY case_id, seq`, args...)
	if err != nil {
		return nil, dbError(op, err)
	}
	defer rows.Close()
	out := map[int64][]portal.History{}
	for rows.Next() {
		var h portal.History
		var actor sql.NullInt64
		var inputs []byte
		if err := rows.Scan(&h.CaseID, &h.Seq, &h.Event, &h.From, &h.To, &actor, &h.ActorRole, &inputs, scanTime{&h.At}, scanNullTime{&h.DueAt}); err != nil {
			return nil, dbError(op, err)
		}
		if actor.Valid {
			h.ActorID = &actor.Int64
		}
		if err := json.Unmarshal(inputs, &h.Inputs); err != nil {
			return nil, fmt.Errorf("%s: inputs of case %d: %w", op, h.CaseID, err)
		}
		out[h.CaseID] = append(out[h.CaseID], h)
	}
	return out, dbError(op, rows.Err())
}

// ListCases returns one page of cases matching f, keyset-paginated on id.
// The jurisdiction filter is part of the SQL, so nothing outside the
// caller's reach is ever read.
func (q q) ListCases(ctx context.Context, f portal.CaseFilter) ([]portal.Case, error) {
	query, args := q.listQuery(f)
	if query == "" {
		return nil, nil // no reach, no cases
	}
	return q.casesNamed(ctx, "sqlstore.ListCases", query, args)
}

// holderJoin and holderName add the name of the staff member holding a
// case (c) to a query of cases: "" when nobody does.
const (
	holderJoin = ` LEFT JOIN users hu ON hu.id = c.holder_id`
	holderName = `COALESCE(hu.name, '')`
)

// casesNamed runs a query of cases with their applicants' and holders'
// names.
func (q q) casesNamed(ctx context.Context, op, query string, args []any) ([]portal.Case, error) {
	rows, err := q.ex.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, dbError(op, err)
	}
	defer rows.Close()
	var out []portal.Case
	for rows.Next() {
		var name, holder string
		c, err := scanCase(rows, &name, &holder)
		if err != nil {
			return nil, dbError(op, err)
		}
		c.ApplicantName, c.HolderName = name, holder
		out = append(out, *c)
	}
	return out, dbError(op, rows.Err())
}

// listQuery is the query of ListCases; "" when f reaches no case.
//
// The page's ids come first, from the indexes alone: one branch per scope
// term (and state, when states are asked for), each read in id order from
// its (division|district|applicant_id|state, …, id) index — for staff's
// queue, the partial (division|district, id) WHERE in_queue index, one
// branch per grant however many services and states there are — and cut
// to the page size, then merged.
// So a page reads at most limit ids per branch however many finished cases
// precede the open ones. Then only that page's rows and applicants' names
// are read (SQLite would otherwise fetch every branch's rows and names
// before the merge cuts them to a page). Placeholders shared by several
// branches ($1 …) are bound once: both databases bind $N by number.
func (q q) listQuery(f portal.CaseFilter) (string, []any) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	// A search reads along its own index (searchTerm) and filters the few
	// rows it finds by scope, service and state, in one branch. Those
	// columns are then read as expressions (col || ''), which no index
	// serves: both planners would otherwise read a street's (division,
	// state, id) index, small in a test database and a street's whole list
	// at a million cases, to find one applicant's cases (the same for
	// the id range of a next page, which SQLite reads along the rowid).
	col, id := func(c string) string { return c }, "id"
	if f.Search.Kind != "" {
		col, id = func(c string) string { return "(" + c + " || '')" }, "(id + 0)"
	}
	var terms []string // OR'd: one branch each
	switch {
	case f.ApplicantID != 0:
		terms = []string{"applicant_id = " + arg(f.ApplicantID)}
	case f.AllScope:
		terms = []string{""}
	case len(f.Scope) > 0:
		for _, s := range f.Scope {
			if s.Division != "" {
				terms = append(terms, col("division")+" = "+arg(s.Division))
			} else {
				terms = append(terms, col("district")+" = "+arg(s.District))
			}
		}
	default:
		return "", nil
	}
	terms = compact(terms)
	var where []string // ANDed into every branch
	if f.HolderID != 0 {
		// A holder's cases are few: one branch along the holder index, the
		// jurisdiction checked on each row.
		if len(terms) > 1 || terms[0] != "" {
			where = append(where, "("+strings.Join(terms, " OR ")+")")
		}
		terms = []string{"holder_id = " + arg(f.HolderID)}
	}
	if f.Unheld {
		where = append(where, "holder_id IS NULL")
	}
	if f.Service != "" {
		where = append(where, col("service")+" = "+arg(f.Service))
	}
	if f.OverdueAt != nil {
		where = append(where, "due_at < "+arg(q.d.time(*f.OverdueAt)))
	}
	if f.DueAfter != nil {
		where = append(where, "due_at > "+arg(q.d.time(*f.DueAfter)))
	}
	if f.DueUntil != nil {
		where = append(where, "due_at <= "+arg(q.d.time(*f.DueUntil)))
	}
	if f.Queue {
		where = append(where, "in_queue")
	}

	order := "id"
	if f.Desc {
		order = "id DESC"
		if f.After > 0 {
			where = append(where, id+" < "+arg(f.After))
		}
	} else if f.After > 0 {
		where = append(where, id+" > "+arg(f.After))
	}
	limit := f.Limit
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	states := []string{""}
	if len(f.States) > 0 {
		states = nil
		for _, st := range compact(f.States) {
			states = append(states, col("state")+" = "+arg(st))
		}
	}
	if f.Search.Kind != "" {
		st := searchTerm(f.Search, arg)
		if st == "" {
			return "", nil
		}
		where = append(where, st)
		terms, states = []string{anyOf(terms)}, []string{anyOf(states)}
	}
	n := arg(limit)
	var branches []string
	for _, term := range terms {
		for _, st := range states {
			w := slices.DeleteFunc(append([]string{term, st}, where...), func(c string) bool { return c == "" })
			b := "SELECT id FROM cases"
			if len(w) > 0 {
				b += " WHERE " + strings.Join(w, " AND ")
			}
			branches = append(branches, fmt.Sprintf("SELECT id FROM (%s ORDER BY %s LIMIT %s) AS b%d", b, order, n, len(branches)))
		}
	}
	// A case in two scope terms (a street and its district) comes once.
	union := " UNION ALL "
	if len(terms) > 1 {
		union = " UNION "
	}
	keys := strings.Join(branches, union) + " ORDER BY " + order + " LIMIT " + n
	cols := prefixed("c.", caseColumns)
	if f.NoForm {
		cols = listColumns
	}
	query := `SELECT ` + cols + `, u.name, ` + holderName + ` FROM (` + keys + `) AS k
		JOIN cases c ON c.id = k.id JOIN users u ON u.id = c.applicant_id` + holderJoin + ` ORDER BY c.` + order
	return query, args
}

// searchTerm is the condition of a search, bound along an index: the case
// number's (unique), or cases_applicant's for the applicants found by
// mobile number, its last four digits or name (staff share no names with
// applicants' cases: only applicants are looked for). "" for a kind it
// does not know, which finds nothing.
func searchTerm(s portal.CaseSearch, arg func(any) string) string {
	var col string
	switch s.Kind {
	case portal.SearchCaseNo:
		return "case_no = " + arg(s.Value)
	case portal.SearchMobile:
		col = "mobile"
	case portal.SearchMobileTail:
		col = "mobile_tail"
	case portal.SearchName:
		col = "name"
	default:
		return ""
	}
	return "applicant_id IN (SELECT id FROM users WHERE " + col + " = " + arg(s.Value) + " AND kind = 'applicant')"
}

// anyOf ORs conditions into one ("" if there is none or one is "": no
// condition at all).
func anyOf(conds []string) string {
	if len(conds) == 0 || slices.Contains(conds, "") {
		return ""
	}
	if len(conds) == 1 {
		return conds[0]
	}
	return "(" + strings.Join(conds, " OR ") + ")"
}

// compact returns xs without repeats, in first-seen order.
func compact(xs []string) []string {
	var out []string
	for _, x := range xs {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// InsertCase inserts c and sets c.ID.
func (t *Tx) InsertCase(ctx context.Context, c *portal.Case) error {
	err := t.ex.QueryRowContext(ctx, `INSERT INTO cases (case_no, service, item_code, state, version, applicant_id,
		division, district, form, result, state_since, due_at, created_at, updated_at, in_queue)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id`,
		c.No, c.Service, c.ItemCode, c.State, c.Version, c.ApplicantID, c.Division, c.District,
		string(c.Form), jsonOr(c.Result, "{}"), t.d.time(c.StateSince), nullTime(t.d, c.DueAt),
		t.d.time(c.CreatedAt), t.d.time(c.UpdatedAt), c.InQueue).Scan(&c.ID)
	return dbError("sqlstore.InsertCase", err)
}

// UpdateCase writes c's mutable columns if the stored version is still
// prevVersion: the compare-and-set that makes a transition happen once.
func (t *Tx) UpdateCase(ctx context.Context, c *portal.Case, prevVersion int) error {
	if t.held != nil {
		t.held.updates = append(t.held.updates, heldUpdate{c: *c, prev: prevVersion})
		return nil
	}
	var holder any
	if c.HolderID != nil {
		holder = *c.HolderID
	}
	res, err := t.ex.ExecContext(ctx, `UPDATE cases SET state = $1, version = $2, division = $3, district = $4,
		form = $5, result = $6, state_since = $7, due_at = $8, updated_at = $9, in_queue = $10, holder_id = $13
		WHERE id = $11 AND version = $12`,
		c.State, c.Version, c.Division, c.District, string(c.Form), jsonOr(c.Result, "{}"),
		t.d.time(c.StateSince), nullTime(t.d, c.DueAt), t.d.time(c.UpdatedAt), c.InQueue, c.ID, prevVersion, holder)
	if err != nil {
		return dbError("sqlstore.UpdateCase", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return dbError("sqlstore.UpdateCase", err)
	}
	if n != 1 {
		return &portal.Error{Code: portal.ECONFLICT, Message: "error.case_conflict",
			Err: fmt.Errorf("sqlstore.UpdateCase(%s): version %d is gone", c.No, prevVersion)}
	}
	return nil
}

// InsertHistory appends a timeline row.
func (t *Tx) InsertHistory(ctx context.Context, h *portal.History) error {
	if t.held != nil {
		t.held.history = append(t.held.history, *h)
		return nil
	}
	inputs := h.Inputs
	if inputs == nil {
		inputs = portal.Inputs{}
	}
	b, err := json.Marshal(inputs)
	if err != nil {
		return fmt.Errorf("sqlstore.InsertHistory: %w", err)
	}
	_, err = t.ex.ExecContext(ctx, `INSERT INTO case_history (case_id, seq, event, from_state, to_state, actor_id, actor_role, inputs, at, due_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		h.CaseID, h.Seq, h.Event, h.From, h.To, h.ActorID, h.ActorRole, string(b), t.d.time(h.At), nullTime(t.d, h.DueAt))
	if t.d.isUnique(err) {
		return &portal.Error{Code: portal.ECONFLICT, Message: "error.case_conflict", Err: err}
	}
	return dbError("sqlstore.InsertHistory", err)
}

func jsonOr(b json.RawMessage, empty string) string {
	if len(b) == 0 {
		return empty
	}
	return string(b)
}

// Idempotency returns what was recorded for (user, key), ENOTFOUND if nothing.
func (q q) Idempotency(ctx context.Context, userID int64, key string) (int64, string, error) {
	var caseID int64
	var hash string
	err := q.ex.QueryRowContext(ctx, `SELECT case_id, request_hash FROM idempotency_keys WHERE user_id = $1 AND key = $2`,
		userID, key).Scan(&caseID, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", portal.NotFound(fmt.Errorf("sqlstore.Idempotency: none"))
	}
	return caseID, hash, dbError("sqlstore.Idempotency", err)
}

// ClaimIdempotency records (user, key) → case. If a concurrent request
// claimed the same key first, the error makes Tx run the transaction again,
// and the rerun finds that request's case.
func (t *Tx) ClaimIdempotency(ctx context.Context, userID int64, key, requestHash string, caseID int64, at time.Time) error {
	_, err := t.ex.ExecContext(ctx, `INSERT INTO idempotency_keys (user_id, key, request_hash, case_id, created_at)
		VALUES ($1, $2, $3, $4, $5)`, userID, key, requestHash, caseID, t.d.time(at))
	if t.d.isUnique(err) {
		return &portal.Error{Code: portal.ECONFLICT, Message: "error.duplicate_submission", Err: rerun{err}}
	}
	return dbError("sqlstore.ClaimIdempotency", err)
}

// ClaimsOf returns the claims of several cases, by case.
func (q q) ClaimsOf(ctx context.Context, caseIDs []int64) (map[int64][]string, error) {
	out := map[int64][]string{}
	if len(caseIDs) == 0 {
		return out, nil
	}
	args := make([]any, len(caseIDs))
	for i, id := range caseIDs {
		args[i] = id
	}
	rows, err := q.ex.QueryContext(ctx, `SELECT case_id, claim FROM case_claims WHERE case_id IN (`+placeholders(len(args))+`) ORDER BY case_id, claim`, args...)
	if err != nil {
		return nil, dbError("sqlstore.ClaimsOf", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var claim string
		if err := rows.Scan(&id, &claim); err != nil {
			return nil, dbError("sqlstore.ClaimsOf", err)
		}
		out[id] = append(out[id], claim)
	}
	return out, dbError("sqlstore.ClaimsOf", rows.Err())
}

// SetClaims makes claims the case's claims and no others. A claim another
// case holds is not taken: the first such claim is returned with its
// holder, and the caller must fail the transaction.
func (t *Tx) SetClaims(ctx context.Context, caseID int64, claims []string) (*portal.ClaimConflict, error) {
	if _, err := t.ex.ExecContext(ctx, `DELETE FROM case_claims WHERE case_id = $1`, caseID); err != nil {
		return nil, dbError("sqlstore.SetClaims", err)
	}
	for _, claim := range compact(claims) {
		res, err := t.ex.ExecContext(ctx, `INSERT INTO case_claims (claim, case_id) VALUES ($1, $2) ON CONFLICT (claim) DO NOTHING`, claim, caseID)
		if err != nil {
			return nil, dbError("sqlstore.SetClaims", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, dbError("sqlstore.SetClaims", err)
		} else if n == 1 {
			continue
		}
		c := &portal.ClaimConflict{Claim: claim}
		err = t.ex.QueryRowContext(ctx, `SELECT c.case_no, c.applicant_id FROM case_claims k JOIN cases c ON c.id = k.case_id
			WHERE k.claim = $1`, claim).Scan(&c.CaseNo, &c.ApplicantID)
		return c, dbError("sqlstore.SetClaims", err)
	}
	return nil, nil
}
