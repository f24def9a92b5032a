package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"tzportal/portal"
)

const auditColumns = `seq, at, actor, role, division, action, object, result, ip, detail, prev_hash, hash`

func (q q) audits(ctx context.Context, op, query string, args ...any) ([]portal.AuditEntry, error) {
	rows, err := q.ex.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, dbError(op, err)
	}
	defer rows.Close()
	var out []portal.AuditEntry
	for rows.Next() {
		var e portal.AuditEntry
		var detail string
		if err := rows.Scan(&e.Seq, scanTime{&e.At}, &e.Actor, &e.Role, &e.Division, &e.Action, &e.Object,
			&e.Result, &e.IP, &detail, &e.PrevHash, &e.Hash); err != nil {
			return nil, dbError(op, err)
		}
		e.Detail = []byte(detail)
		out = append(out, e)
	}
	return out, dbError(op, rows.Err())
}

// AuditByObject returns the entries about object (e.g. "case:TZRP…"), oldest first.
func (q q) AuditByObject(ctx context.Context, object string, limit int) ([]portal.AuditEntry, error) {
	return q.audits(ctx, "sqlstore.AuditByObject",
		`SELECT `+auditColumns+` FROM audit_log WHERE object = $1 ORDER BY seq LIMIT $2`, object, limit)
}

// AuditOf returns the entries about several objects, oldest first.
func (q q) AuditOf(ctx context.Context, objects []string) (map[string][]portal.AuditEntry, error) {
	out := map[string][]portal.AuditEntry{}
	if len(objects) == 0 {
		return out, nil
	}
	args := make([]any, len(objects))
	for i, o := range objects {
		args[i] = o
	}
	list, err := q.audits(ctx, "sqlstore.AuditOf",
		`SELECT `+auditColumns+` FROM audit_log WHERE object IN (`+placeholders(len(args))+`) ORDER BY seq`, args...)
	for _, e := range list {
		out[e.Object] = append(out[e.Object], e)
	}
	return out, err
}

// AuditAfter returns up to limit entries after seq, in chain order.
func (q q) AuditAfter(ctx context.Context, after int64, limit int) ([]portal.AuditEntry, error) {
	return q.audits(ctx, "sqlstore.AuditAfter",
		`SELECT `+auditColumns+` FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2`, after, limit)
}

// AuditHead returns the recorded head of the chain.
func (q q) AuditHead(ctx context.Context) (int64, string, error) {
	var seq int64
	var hash string
	err := q.ex.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", errors.New("sqlstore.AuditHead: the audit_head row is missing")
	}
	return seq, hash, dbError("sqlstore.AuditHead", err)
}

// LockAuditHead locks the head row until commit, so appends chain in order.
func (t *Tx) LockAuditHead(ctx context.Context) (int64, string, error) {
	if t.head != nil { // locked by this transaction already: it holds what it appended
		return t.head.seq, t.head.hash, nil
	}
	var seq int64
	var hash string
	err := t.ex.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`+t.d.forUpdate()).Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", errors.New("sqlstore.LockAuditHead: the audit_head row is missing")
	}
	if err != nil {
		return 0, "", dbError("sqlstore.LockAuditHead", err)
	}
	t.head = &auditHead{seq, hash}
	return seq, hash, nil
}

// auditHead is the chain's head as this transaction locked and moved it.
type auditHead struct {
	seq  int64
	hash string
}

// AppendAudit inserts a sealed entry and moves the head to it.
func (t *Tx) AppendAudit(ctx context.Context, e *portal.AuditEntry) error {
	if t.held != nil && t.head != nil { // held: the head this transaction locked moves now, the rows follow
		t.held.audit = append(t.held.audit, *e)
		t.moved(e)
		return nil
	}
	detail := auditDetail(e)
	if t.d.name() == "postgres" {
		// One round trip while the head is locked, not two.
		_, err := t.ex.ExecContext(ctx, `WITH entry AS (INSERT INTO audit_log (`+auditColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12))
			UPDATE audit_head SET seq = $1, hash = $12 WHERE id = 1`,
			e.Seq, t.d.time(e.At), e.Actor, e.Role, e.Division, e.Action, e.Object, e.Result, e.IP, detail,
			e.PrevHash, e.Hash)
		if err != nil {
			return dbError("sqlstore.AppendAudit", err)
		}
		t.moved(e)
		return nil
	}
	if _, err := t.ex.ExecContext(ctx, `INSERT INTO audit_log (`+auditColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		e.Seq, t.d.time(e.At), e.Actor, e.Role, e.Division, e.Action, e.Object, e.Result, e.IP, detail,
		e.PrevHash, e.Hash); err != nil {
		return dbError("sqlstore.AppendAudit", err)
	}
	if _, err := t.ex.ExecContext(ctx, `UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1`, e.Seq, e.Hash); err != nil {
		return dbError("sqlstore.AppendAudit", err)
	}
	t.moved(e)
	return nil
}

// auditDetail is an entry's detail as stored ({} for none).
func auditDetail(e *portal.AuditEntry) string {
	if len(e.Detail) == 0 {
		return "{}"
	}
	return string(e.Detail)
}

// moved keeps the head this transaction holds in step with its appends.
func (t *Tx) moved(e *portal.AuditEntry) {
	if t.head != nil {
		t.head.seq, t.head.hash = e.Seq, e.Hash
	}
}

// DueJobs returns up to limit unfinished timers due at now, oldest first.
func (q q) DueJobs(ctx context.Context, now time.Time, limit int) ([]portal.Job, error) {
	rows, err := q.ex.QueryContext(ctx, `SELECT j.id, j.case_id, c.case_no, j.event, j.version, j.due_at
		FROM jobs j JOIN cases c ON c.id = j.case_id
		WHERE j.done_at IS NULL AND j.due_at <= $1 ORDER BY j.due_at LIMIT $2`, q.d.time(now), limit)
	if err != nil {
		return nil, dbError("sqlstore.DueJobs", err)
	}
	defer rows.Close()
	var out []portal.Job
	for rows.Next() {
		var j portal.Job
		if err := rows.Scan(&j.ID, &j.CaseID, &j.CaseNo, &j.Event, &j.Version, scanTime{&j.DueAt}); err != nil {
			return nil, dbError("sqlstore.DueJobs", err)
		}
		out = append(out, j)
	}
	return out, dbError("sqlstore.DueJobs", rows.Err())
}

// QueueDepth counts pending deliveries and due timers (both on partial
// indexes of the unfinished rows).
func (q q) QueueDepth(ctx context.Context, now time.Time) (portal.QueueDepth, error) {
	var d portal.QueueDepth
	err := q.ex.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM deliveries WHERE status = 'pending'),
		(SELECT count(*) FROM jobs WHERE done_at IS NULL AND due_at <= $1),
		(SELECT min(due_at) FROM jobs WHERE done_at IS NULL AND due_at <= $1)`, q.d.time(now)).Scan(&d.OutboxPending, &d.TimersDue, scanNullTime{&d.OldestDue})
	if err != nil {
		return d, dbError("sqlstore.QueueDepth", err)
	}
	return d, nil
}

// InsertJob schedules a timer.
func (t *Tx) InsertJob(ctx context.Context, j *portal.Job) error {
	if t.held != nil { // held: its id is known once written
		t.held.jobs = append(t.held.jobs, *j)
		return nil
	}
	err := t.ex.QueryRowContext(ctx, `INSERT INTO jobs (case_id, event, version, due_at) VALUES ($1, $2, $3, $4) RETURNING id`,
		j.CaseID, j.Event, j.Version, t.d.time(j.DueAt)).Scan(&j.ID)
	return dbError("sqlstore.InsertJob", err)
}

// ClaimJob locks an unfinished timer, skipping one another node holds.
func (t *Tx) ClaimJob(ctx context.Context, id int64) (bool, error) {
	var got int64
	err := t.ex.QueryRowContext(ctx, `SELECT id FROM jobs WHERE id = $1 AND done_at IS NULL`+t.d.skipLocked(), id).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, dbError("sqlstore.ClaimJob", err)
}

// FinishJob marks a timer done with its outcome ("fired", "obsolete", …).
func (t *Tx) FinishJob(ctx context.Context, id int64, at time.Time, outcome string) error {
	_, err := t.ex.ExecContext(ctx, `UPDATE jobs SET done_at = $1, outcome = $2 WHERE id = $3 AND done_at IS NULL`,
		t.d.time(at), outcome, id)
	return dbError("sqlstore.FinishJob", err)
}

// ObsoleteJobs finishes a case's unfinished timers of events starting with
// prefix (jobs_case serves it).
func (t *Tx) ObsoleteJobs(ctx context.Context, caseID int64, prefix string, at time.Time) error {
	_, err := t.ex.ExecContext(ctx, `UPDATE jobs SET done_at = $1, outcome = 'obsolete'
		WHERE case_id = $2 AND done_at IS NULL AND substr(event, 1, $3) = $4`,
		t.d.time(at), caseID, len(prefix), prefix)
	return dbError("sqlstore.ObsoleteJobs", err)
}
