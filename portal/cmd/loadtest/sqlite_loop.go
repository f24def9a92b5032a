package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite"
)

// sqliteDSN is the portal's write DSN (portal/sqlstore/db.go sqliteDSN):
// the same pragmas, and BEGIN IMMEDIATE.
func sqliteDSN(path string) string {
	v := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "foreign_keys(1)", "busy_timeout(10000)", "synchronous(FULL)"} {
		v.Add("_pragma", p)
	}
	v.Set("_txlock", "immediate")
	return "file:" + path + "?" + v.Encode()
}

// sqliteLoop is the SQLite transition baseline: a plain Go loop running the
// statements of the portal's "accept" transaction (sqlstore
// CaseWithHistoryForUpdate, Materials for the guard materials_all,
// UpdateCase, InsertHistory, InsertJob for the review's escalation timer,
// InsertNotification and InsertDelivery for its notice and SMS,
// LockAuditHead, AppendAudit; accepting changes no claim)
// through database/sql on the same file, with one writer connection as the
// portal has, on the baseline pool (a case may be picked again: version +
// 1).
type sqliteLoop struct {
	db     *sql.DB
	pool   int
	actor  int64
	notice noticeTexts    // of accept, rendered from the portal's catalog
	zone   *time.Location // the city's, for the rollups' month
	root   string         // the city's division code
}

// rowMarks is n rows of k "?" placeholders, for a multi-row VALUES.
func rowMarks(n, k int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", k), ", ") + ")"
	return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

// loopStatements: BEGIN, case, files, update, history, escalation timer,
// notice, SMS, audit head, audit entry, head update, the dashboards' case
// counts, decision and decision by person, COMMIT.
const loopStatements = 15

// loopCaseSQL is sqlstore's caseWithHistory on SQLite (no row lock: the
// write transaction holds the database's): the case, its applicant and its
// whole history.
const loopCaseSQL = `SELECT c.id, c.case_no, c.service, c.item_code, c.state, c.version, c.applicant_id, c.division, c.district, c.form, c.result, c.state_since, c.due_at, c.created_at, c.updated_at, c.in_queue,
		u.name, COALESCE(u.mobile, ''), u.id_cipher, COALESCE(u.id_index, ''), u.locale, u.email,
		h.seq, h.event, h.from_state, h.to_state, h.actor_id, h.actor_role, h.inputs, h.at, h.due_at
		FROM cases c JOIN users u ON u.id = c.applicant_id
		LEFT JOIN case_history h ON h.case_id = c.id
		WHERE c.case_no = $1 ORDER BY h.seq`

// loopMaterialsSQL is sqlstore.Materials.
const loopMaterialsSQL = `SELECT id, case_id, item, filename, content_type, size, sha256, storage, uploaded_by, uploaded_at FROM materials
		WHERE case_id = $1 ORDER BY uploaded_at, id`

func openSQLiteLoop(path string, pool int, actor int64, notice noticeTexts, zone *time.Location, root string) (*sqliteLoop, error) {
	db, err := sql.Open("sqlite", sqliteDSN(path))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	return &sqliteLoop{db: db, pool: pool, actor: actor, notice: notice, zone: zone, root: root}, nil
}

func (l *sqliteLoop) Close() error { return l.db.Close() }

func (l *sqliteLoop) tx(ctx context.Context, r *rand.Rand) error {
	no := fmt.Sprintf("TZRP%s%06d", baselineDay, 1+r.IntN(l.pool))
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var (
		id, version, applicant int64
		caseNo, state, svc     string
		division, district     string
		form, result           string
		mobile                 string
		steps                  int
	)
	rows, err := tx.QueryContext(ctx, loopCaseSQL, no)
	if err != nil {
		return err
	}
	for rows.Next() {
		var (
			service, item, since, created, updated, name, index, at sql.NullString
			locale, email, due, hdue                                sql.NullString
			cipher                                                  []byte
			seq, actor                                              sql.NullInt64
			event, from, to, role                                   sql.NullString
			inputs                                                  []byte
			inQueue                                                 bool
		)
		if err := rows.Scan(&id, &caseNo, &service, &item, &state, &version, &applicant, &division, &district, &form, &result,
			&since, &due, &created, &updated, &inQueue, &name, &mobile, &cipher, &index, &locale, &email,
			&seq, &event, &from, &to, &actor, &role, &inputs, &at, &hdue); err != nil {
			rows.Close()
			return err
		}
		svc = service.String
		if seq.Valid {
			var in map[string]any
			if err := json.Unmarshal(inputs, &in); err != nil {
				rows.Close()
				return fmt.Errorf("inputs of %s: %w", no, err)
			}
			steps++
		}
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if steps == 0 || state != "submitted" && state != "reviewing" {
		return fmt.Errorf("case %s: %d steps, state %q", no, steps, state)
	}
	// The guard: the case's files, every key item among them (the seeded
	// pool holds every item its checklist requires).
	if err := l.materials(ctx, tx, id); err != nil {
		return fmt.Errorf("case %s: %w", no, err)
	}
	now := time.Now()
	at := sqlTime(now)
	res, err := tx.ExecContext(ctx, `UPDATE cases SET state = $1, version = $2, division = $3, district = $4,
		form = $5, result = $6, state_since = $7, due_at = $8, updated_at = $9, in_queue = $10
		WHERE id = $11 AND version = $12`,
		"reviewing", version+1, division, district, form, result, at, sqlTime(now.Add(21*24*time.Hour)), at, true, id, version)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("update: %d rows, %v", n, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO case_history (case_id, seq, event, from_state, to_state, actor_id, actor_role, inputs, at, due_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		id, version+1, "accept", "submitted", "reviewing", l.actor, "street_clerk", noInputs, at, sqlTime(now.Add(21*24*time.Hour))); err != nil {
		return err
	}
	// The review's deadline escalates (workflow/deadline.go): its timer.
	var jobID int64
	if err := tx.QueryRowContext(ctx, `INSERT INTO jobs (case_id, event, version, due_at) VALUES ($1, $2, $3, $4) RETURNING id`,
		id, "deadline.escalate", version+1, sqlTime(now.Add(21*24*time.Hour))).Scan(&jobID); err != nil {
		return err
	}
	// The notice and its SMS (portal/outbox).
	var noticeID int64
	if err := tx.QueryRowContext(ctx, `INSERT INTO notifications (user_id, case_id, kind, title, body, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, applicant, id, l.notice.kind, l.notice.title, l.notice.body, at).Scan(&noticeID); err != nil {
		return err
	}
	var deliveryID int64
	if err := tx.QueryRowContext(ctx, `INSERT INTO deliveries (notification_id, channel, recipient, subject, body, status, next_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, noticeID, "sms", mobile, "", l.notice.sms, "pending", at).Scan(&deliveryID); err != nil {
		return err
	}
	var seq int64
	var prev string
	if err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&seq, &prev); err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(prev + strconv.FormatInt(seq+1, 10) + caseNo))
	hash := hex.EncodeToString(sum[:])
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_log (seq, at, actor, role, division, action, object, result, ip, detail, prev_hash, hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		seq+1, at, "user:"+strconv.FormatInt(l.actor, 10), "street_clerk", division, "case.accept", "case:"+caseNo, "ok", "127.0.0.1",
		fmt.Sprintf(`{"from":"submitted","to":"reviewing","version":%d}`, version+1), prev, hash); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1`, seq+1, hash); err != nil {
		return err
	}
	// The dashboards' rollups (sqlstore.flushStats): the count moved from
	// submitted to reviewing, and the decision, at the street, the district
	// and the city, for the month and the year; the decision by person.
	month := now.In(l.zone).Format("2006-01")
	periods := []string{month, month[:4]}
	var cases, decisions []any
	for _, state := range []string{"submitted", "reviewing"} {
		n := -1
		if state == "reviewing" {
			n = 1
		}
		for _, area := range []string{division, district, l.root} {
			for _, p := range periods {
				cases = append(cases, area, p, svc, state, n)
			}
		}
	}
	for _, area := range []string{division, district, l.root} {
		for _, p := range periods {
			decisions = append(decisions, area, p, svc, "submitted", 0, 1, 1, 1, 1)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO stat_cases (area, period, service, state, n) VALUES `+rowMarks(12, 5)+`
		ON CONFLICT (area, period, service, state) DO UPDATE SET n = stat_cases.n + excluded.n`, cases...); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO stat_steps (area, period, service, step, days, n, approved, timed, on_time) VALUES `+rowMarks(6, 9)+`
		ON CONFLICT (area, period, service, step, days) DO UPDATE SET
		n = stat_steps.n + excluded.n, approved = stat_steps.approved + excluded.approved,
		timed = stat_steps.timed + excluded.timed, on_time = stat_steps.on_time + excluded.on_time`, decisions...); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO stat_clerks (division, period, service, step, actor_id, days, district, n, approved, timed, on_time)
		VALUES `+rowMarks(2, 11)+` ON CONFLICT (division, period, service, step, actor_id, days) DO UPDATE SET
		n = stat_clerks.n + excluded.n, approved = stat_clerks.approved + excluded.approved,
		timed = stat_clerks.timed + excluded.timed, on_time = stat_clerks.on_time + excluded.on_time`,
		division, periods[0], svc, "submitted", l.actor, 0, district, 1, 1, 1, 1,
		division, periods[1], svc, "submitted", l.actor, 0, district, 1, 1, 1, 1); err != nil {
		return err
	}
	return tx.Commit()
}

// materials reads the case's files as sqlstore.Materials does and checks
// that every key item has one.
func (l *sqliteLoop) materials(ctx context.Context, tx *sql.Tx, caseID int64) error {
	rows, err := tx.QueryContext(ctx, loopMaterialsSQL, caseID)
	if err != nil {
		return err
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var (
			id, item, filename, ctype, sum, storage, at string
			cid, size, by                               int64
		)
		if err := rows.Scan(&id, &cid, &item, &filename, &ctype, &size, &sum, &storage, &by, &at); err != nil {
			return err
		}
		have[item] = true
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, item := range keyItems {
		if !have[item] {
			return fmt.Errorf("no file for %s", item)
		}
	}
	return nil
}

// newRands returns one random source per worker.
func newRands(n int) []*rand.Rand {
	out := make([]*rand.Rand, n)
	for i := range out {
		out[i] = rand.New(rand.NewPCG(uint64(i)+1, 99))
	}
	return out
}
