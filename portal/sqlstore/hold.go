package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"tzportal/portal"
)

// held is what a transaction that holds its appends has appended and not
// yet written (see HoldAppends).
type held struct {
	updates []heldUpdate
	notices []heldNotice
	history []portal.History
	jobs    []portal.Job
	audit   []portal.AuditEntry
	drops   []int64
	// freed are cases whose holder a held update lets go (the multi-row
	// updates leave holder_id alone: ReleaseHolder).
	freed []int64
}

// HoldAppends makes the transaction keep what it appends — history rows,
// timers, audit entries, list removals, case updates and notices — and
// write each kind as a few multi-row statements before it commits: a
// cohort operation moving five hundred cases writes them in a handful of
// statements, not two thousand. Reads in the transaction do not see what
// is held (a cohort reads each case once, before moving it); the audit
// chain's head does, as the transaction keeps it.
func (t *Tx) HoldAppends() {
	if t.held == nil {
		t.held = &held{}
	}
}

// holdRows bounds the rows of one multi-row statement (12 parameters a row
// at most: under both databases' limits).
const holdRows = 500

// FlushAppends writes what the transaction holds; the transaction goes on
// holding.
func (t *Tx) FlushAppends(ctx context.Context) error {
	h := t.held
	if h == nil {
		return nil
	}
	if err := t.flushUpdates(ctx, h.updates); err != nil {
		return err
	}
	h.updates = h.updates[:0]
	for len(h.freed) > 0 {
		part := h.freed[:min(holdRows, len(h.freed))]
		h.freed = h.freed[len(part):]
		args := make([]any, len(part))
		for i, id := range part {
			args[i] = id
		}
		if _, err := t.ex.ExecContext(ctx, `UPDATE cases SET holder_id = NULL WHERE id IN (`+placeholders(len(args))+`)`, args...); err != nil {
			return dbError("sqlstore.ReleaseHolder", err)
		}
	}
	if err := t.flushNotices(ctx, h.notices); err != nil {
		return err
	}
	h.notices = h.notices[:0]
	if err := t.flushHistory(ctx, h.history); err != nil {
		return err
	}
	h.history = h.history[:0]
	if err := insertRows(ctx, t, "sqlstore.InsertJob", `INSERT INTO jobs (case_id, event, version, due_at) VALUES `, h.jobs,
		func(j *portal.Job) []any { return []any{j.CaseID, j.Event, j.Version, t.d.time(j.DueAt)} }); err != nil {
		return err
	}
	h.jobs = h.jobs[:0]
	if len(h.audit) > 0 {
		if err := insertRows(ctx, t, "sqlstore.AppendAudit", `INSERT INTO audit_log (`+auditColumns+`) VALUES `, h.audit,
			func(e *portal.AuditEntry) []any {
				return []any{e.Seq, t.d.time(e.At), e.Actor, e.Role, e.Division, e.Action, e.Object, e.Result, e.IP,
					auditDetail(e), e.PrevHash, e.Hash}
			}); err != nil {
			return err
		}
		last := h.audit[len(h.audit)-1]
		if _, err := t.ex.ExecContext(ctx, `UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1`, last.Seq, last.Hash); err != nil {
			return dbError("sqlstore.AppendAudit", err)
		}
		h.audit = h.audit[:0]
	}
	for len(h.drops) > 0 {
		part := h.drops[:min(holdRows, len(h.drops))]
		h.drops = h.drops[len(part):]
		args := make([]any, len(part))
		marks := make([]string, len(part))
		for i, id := range part {
			args[i], marks[i] = id, t.d.param(i+1)
		}
		if _, err := t.ex.ExecContext(ctx, `DELETE FROM case_lists WHERE case_id IN (`+strings.Join(marks, ", ")+`)`, args...); err != nil {
			return dbError("sqlstore.DropListEntry", err)
		}
	}
	return nil
}

// heldUpdate is an UpdateCase held: the case as written, and the version
// it must still have.
type heldUpdate struct {
	c    portal.Case
	prev int
}

// flushUpdates writes held case updates in one statement per holdRows, each
// a compare-and-set on its version like UpdateCase: one whose version is
// gone makes the statement write fewer rows than it holds, ECONFLICT.
func (t *Tx) flushUpdates(ctx context.Context, us []heldUpdate) error {
	if t.d.name() == "sqlite" {
		return t.flushUpdatesSQLite(ctx, us)
	}
	for len(us) > 0 {
		part := us[:min(holdRows, len(us))]
		us = us[len(part):]
		n := len(part)
		ids, prevs, versions := make([]int64, n), make([]int32, n), make([]int32, n)
		states, divisions, districts, forms, results := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		since, updated, due := make([]time.Time, n), make([]time.Time, n), make([]*time.Time, n)
		queued := make([]bool, n)
		for i, u := range part {
			c := &u.c
			ids[i], prevs[i], versions[i] = c.ID, int32(u.prev), int32(c.Version)
			states[i], divisions[i], districts[i], forms[i], results[i] = c.State, c.Division, c.District, string(c.Form), jsonOr(c.Result, "{}")
			since[i], updated[i], queued[i] = c.StateSince.UTC(), c.UpdatedAt.UTC(), c.InQueue
			if c.DueAt != nil {
				d := c.DueAt.UTC()
				due[i] = &d
			}
		}
		res, err := t.ex.ExecContext(ctx, `UPDATE cases AS c SET state = v.state, version = v.version, division = v.division,
			district = v.district, form = v.form::jsonb, result = v.result::jsonb, state_since = v.state_since, due_at = v.due_at,
			updated_at = v.updated_at, in_queue = v.in_queue
			FROM unnest($1::bigint[], $2::integer[], $3::integer[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
				$9::timestamptz[], $10::timestamptz[], $11::timestamptz[], $12::boolean[])
				AS v (id, prev, version, state, division, district, form, result, state_since, due_at, updated_at, in_queue)
			WHERE c.id = v.id AND c.version = v.prev`,
			ids, prevs, versions, states, divisions, districts, forms, results, since, due, updated, queued)
		if err != nil {
			return dbError("sqlstore.UpdateCase", err)
		}
		if got, err := res.RowsAffected(); err != nil {
			return dbError("sqlstore.UpdateCase", err)
		} else if got != int64(n) {
			return &portal.Error{Code: portal.ECONFLICT, Message: "error.case_conflict",
				Err: fmt.Errorf("sqlstore.UpdateCase: %d of %d cases held their version", got, n)}
		}
	}
	return nil
}

// flushUpdatesSQLite is flushUpdates on SQLite: the rows as a VALUES
// list joined by id (UPDATE … FROM), the same compare-and-set. A statement
// that writes many rows and may stop halfway on a failed check makes
// SQLite keep a journal of every page it changes, to undo the statement
// alone: half the time of a cohort's five hundred rows. This one does not
// need it (its failure fails the transaction), so the cases whose division
// and district stay (a cohort's, nearly always) are written first OR FAIL
// (a failed check stops the statement where it is) without those two
// columns (setting them checks their foreign keys, which may stop it
// too). The others, if any, follow with every column.
func (t *Tx) flushUpdatesSQLite(ctx context.Context, us []heldUpdate) error {
	for len(us) > 0 {
		part := us[:min(holdRows, len(us))]
		us = us[len(part):]
		var sb strings.Builder
		var args []any
		for i, u := range part {
			c := &u.c
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
			args = append(args, c.ID, u.prev, c.Version, c.State, c.Division, c.District, string(c.Form), jsonOr(c.Result, "{}"),
				t.d.time(c.StateSince), nullTime(t.d, c.DueAt), t.d.time(c.UpdatedAt), c.InQueue)
		}
		// The ids again, so that SQLite looks the cases up by key rather
		// than scanning the table against the list.
		for _, u := range part {
			args = append(args, u.c.ID)
		}
		update := func(verb, set, where string) (int64, error) {
			res, err := t.ex.ExecContext(ctx, verb+` cases SET state = v.state, version = v.version, `+set+`form = v.form,
				result = v.result, state_since = v.state_since, due_at = v.due_at, updated_at = v.updated_at, in_queue = v.in_queue
				FROM (SELECT column1 AS id, column2 AS prev, column3 AS version, column4 AS state, column5 AS division,
					column6 AS district, column7 AS form, column8 AS result, column9 AS state_since, column10 AS due_at,
					column11 AS updated_at, column12 AS in_queue FROM (VALUES `+sb.String()+`)) AS v
				WHERE cases.id IN (`+strings.TrimSuffix(strings.Repeat("?, ", len(part)), ", ")+`) AND cases.id = v.id
				AND cases.version = v.prev`+where, args...)
			if err != nil {
				return 0, dbError("sqlstore.UpdateCase", err)
			}
			n, err := res.RowsAffected()
			return n, dbError("sqlstore.UpdateCase", err)
		}
		got, err := update("UPDATE OR FAIL", "", " AND cases.division = v.division AND cases.district = v.district")
		if err != nil {
			return err
		}
		if got < int64(len(part)) { // the rows written have left their prev version behind
			more, err := update("UPDATE", "division = v.division, district = v.district, ", "")
			if err != nil {
				return err
			}
			got += more
		}
		if got != int64(len(part)) {
			return &portal.Error{Code: portal.ECONFLICT, Message: "error.case_conflict",
				Err: fmt.Errorf("sqlstore.UpdateCase: %d of %d cases held their version", got, len(part))}
		}
	}
	return nil
}

// heldNotice is an InsertNotice held.
type heldNotice struct {
	n  *portal.Notification
	ds []*portal.Delivery
}

// flushNotices writes held notices: their ids drawn from the sequence in
// one statement, then the notifications and their deliveries in one each.
func (t *Tx) flushNotices(ctx context.Context, ns []heldNotice) error {
	const op = "sqlstore.InsertNotice"
	for len(ns) > 0 {
		part := ns[:min(holdRows, len(ns))]
		ns = ns[len(part):]
		ids, err := t.noticeIDs(ctx, len(part))
		if err != nil {
			return dbError(op, err)
		}
		var ds []*portal.Delivery
		for i, h := range part {
			h.n.ID = ids[i]
			for _, d := range h.ds {
				d.NotificationID = h.n.ID
			}
			ds = append(ds, h.ds...)
		}
		if t.d.name() == "sqlite" { // rows of ? (SQLite has no arrays)
			if err := insertRows(ctx, t, op, `INSERT INTO notifications (id, user_id, case_id, kind, title, body, created_at) VALUES `,
				part, func(h *heldNotice) []any {
					n := h.n
					return []any{n.ID, n.UserID, n.CaseID, n.Kind, n.Title, n.Body, t.d.time(n.CreatedAt)}
				}); err != nil {
				return err
			}
			if err := insertRows(ctx, t, op, `INSERT INTO deliveries (notification_id, channel, recipient, subject, body, status, next_at) VALUES `,
				ds, func(d **portal.Delivery) []any {
					x := *d
					return []any{x.NotificationID, x.Channel, x.Recipient, x.Subject, x.Body, x.Status, t.d.time(x.NextAt)}
				}); err != nil {
				return err
			}
			continue
		}
		// PostgreSQL: each column an array, one statement a table.
		users, cases := make([]int64, len(part)), make([]*int64, len(part))
		kinds, titles, bodies, created := make([]string, len(part)), make([]string, len(part)), make([]string, len(part)), make([]time.Time, len(part))
		for i, h := range part {
			n := h.n
			users[i], cases[i], kinds[i], titles[i], bodies[i], created[i] = n.UserID, n.CaseID, n.Kind, n.Title, n.Body, n.CreatedAt.UTC()
		}
		dn, channels, recipients := make([]int64, len(ds)), make([]string, len(ds)), make([]string, len(ds))
		subjects, dbodies, statuses, next := make([]string, len(ds)), make([]string, len(ds)), make([]string, len(ds)), make([]time.Time, len(ds))
		for i, d := range ds {
			dn[i], channels[i], recipients[i], subjects[i] = d.NotificationID, d.Channel, d.Recipient, d.Subject
			dbodies[i], statuses[i], next[i] = d.Body, d.Status, d.NextAt.UTC()
		}
		if _, err := t.ex.ExecContext(ctx, `INSERT INTO notifications (id, user_id, case_id, kind, title, body, created_at)
			SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::timestamptz[])`,
			ids, users, cases, kinds, titles, bodies, created); err != nil {
			return dbError(op, err)
		}
		if len(dn) == 0 {
			continue
		}
		if _, err := t.ex.ExecContext(ctx, `INSERT INTO deliveries (notification_id, channel, recipient, subject, body, status, next_at)
			SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[])`,
			dn, channels, recipients, subjects, dbodies, statuses, next); err != nil {
			return dbError(op, err)
		}
	}
	return nil
}

// noticeIDs draws n notification ids: from the sequence on PostgreSQL; on
// SQLite after the largest, which no one else can take meanwhile (the
// transaction holds the database's one write lock).
func (t *Tx) noticeIDs(ctx context.Context, n int) ([]int64, error) {
	ids := make([]int64, 0, n)
	if t.d.name() == "sqlite" {
		var last int64
		if err := t.ex.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM notifications`).Scan(&last); err != nil {
			return nil, err
		}
		for i := range n {
			ids = append(ids, last+1+int64(i))
		}
		return ids, nil
	}
	rows, err := t.ex.QueryContext(ctx, `SELECT nextval(pg_get_serial_sequence('notifications', 'id')) FROM generate_series(1, $1)`, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil || len(ids) != n {
		return nil, fmt.Errorf("%d ids for %d notices: %v", len(ids), n, err)
	}
	return ids, nil
}

func (t *Tx) flushHistory(ctx context.Context, hs []portal.History) error {
	rows := make([][]any, len(hs))
	for i := range hs {
		h := &hs[i]
		inputs := h.Inputs
		if inputs == nil {
			inputs = portal.Inputs{}
		}
		b, err := json.Marshal(inputs)
		if err != nil {
			return fmt.Errorf("sqlstore.InsertHistory: %w", err)
		}
		rows[i] = []any{h.CaseID, h.Seq, h.Event, h.From, h.To, h.ActorID, h.ActorRole, string(b), t.d.time(h.At), nullTime(t.d, h.DueAt)}
	}
	err := insertRows(ctx, t, "sqlstore.InsertHistory", `INSERT INTO case_history
		(case_id, seq, event, from_state, to_state, actor_id, actor_role, inputs, at, due_at) VALUES `, rows,
		func(r *[]any) []any { return *r })
	if t.d.isUnique(err) {
		return &portal.Error{Code: portal.ECONFLICT, Message: "error.case_conflict", Err: err}
	}
	return err
}

// insertRows runs insert (ending in VALUES) over rows, holdRows a
// statement, each ending in suffix (an ON CONFLICT clause), if given.
func insertRows[T any](ctx context.Context, t *Tx, op, insert string, rows []T, values func(*T) []any, suffix ...string) error {
	for len(rows) > 0 {
		part := rows[:min(holdRows, len(rows))]
		rows = rows[len(part):]
		var sb strings.Builder
		sb.WriteString(insert)
		var args []any
		for i := range part {
			vs := values(&part[i])
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteByte('(')
			for j, v := range vs {
				if j > 0 {
					sb.WriteString(", ")
				}
				args = append(args, v)
				sb.WriteString(t.d.param(len(args)))
			}
			sb.WriteByte(')')
		}
		for _, s := range suffix {
			sb.WriteString(s)
		}
		if _, err := t.ex.ExecContext(ctx, sb.String(), args...); err != nil {
			if t.d.isUnique(err) {
				return err
			}
			return dbError(op, err)
		}
	}
	return nil
}

// CasesWithHistoryForUpdate reads and locks the cases numbered nos (those
// that exist), in id order so that two operations never wait on each other
// crosswise, with their applicants as CaseWithHistory reads them, and
// their timelines: two statements for a cohort's batch, not one per case.
func (t *Tx) CasesWithHistoryForUpdate(ctx context.Context, nos []string) ([]portal.Case, map[int64][]portal.History, error) {
	const op = "sqlstore.CasesWithHistoryForUpdate"
	switch len(nos) {
	case 0:
		return nil, map[int64][]portal.History{}, nil
	case 1: // one statement, the timeline joined
		c, hist, err := t.CaseWithHistoryForUpdate(ctx, nos[0])
		if portal.ErrorCode(err) == portal.ENOTFOUND {
			return nil, map[int64][]portal.History{}, nil
		}
		if err != nil {
			return nil, nil, err
		}
		return []portal.Case{*c}, map[int64][]portal.History{c.ID: hist}, nil
	}
	args := make([]any, len(nos))
	for i, no := range nos {
		args[i] = no
	}
	lock := ""
	if t.d.name() == "postgres" {
		lock = " FOR UPDATE OF c"
	}
	rows, err := t.ex.QueryContext(ctx, `SELECT `+prefixed("c.", caseColumns)+`,
		u.name, COALESCE(u.mobile, ''), u.id_cipher, COALESCE(u.id_index, ''), u.locale, u.email
		FROM cases c JOIN users u ON u.id = c.applicant_id
		WHERE c.case_no IN (`+t.params(len(args))+`) ORDER BY c.id`+lock, args...)
	if err != nil {
		return nil, nil, dbError(op, err)
	}
	defer rows.Close()
	var out []portal.Case
	for rows.Next() {
		app := &portal.User{Kind: portal.KindApplicant}
		c, err := scanCase(rows, &app.Name, &app.Mobile, &app.IDCipher, &app.IDIndex, &app.Locale, &app.Email)
		if err != nil {
			return nil, nil, dbError(op, err)
		}
		app.ID = c.ApplicantID
		c.Applicant, c.ApplicantName = app, app.Name
		out = append(out, *c)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, dbError(op, err)
	}
	ids := make([]any, len(out))
	for i := range out {
		ids[i] = out[i].ID
	}
	if len(ids) == 0 {
		return nil, map[int64][]portal.History{}, nil
	}
	hist, err := t.histories(ctx, op, "case_id IN ("+t.params(len(ids))+")", ids...)
	return out, hist, err
}

// params is placeholders in the dialect's marks for many rows.
func (q q) params(n int) string { return marks(n, q.d.param) }

// ReleaseHolder lets go of the case's holder when the transaction holds
// its appends (a cohort's multi-row updates leave holder_id alone, so that
// they check no foreign key); otherwise UpdateCase writes the holder.
func (t *Tx) ReleaseHolder(ctx context.Context, caseID int64) error {
	if t.held != nil {
		t.held.freed = append(t.held.freed, caseID)
	}
	return nil
}
