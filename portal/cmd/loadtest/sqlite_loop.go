package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"
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
// statements of the portal's "accept" transaction (sqlstore CaseByNoForUpdate,
// UpdateCase, InsertHistory, LockAuditHead, AppendAudit) through
// database/sql on the same file, with one writer connection as the portal
// has, on the baseline pool (a case may be picked again: version + 1).
type sqliteLoop struct {
	db    *sql.DB
	pool  int
	actor int64
}

const loopStatements = 8 // BEGIN … COMMIT

func openSQLiteLoop(path string, pool int, actor int64) (*sqliteLoop, error) {
	db, err := sql.Open("sqlite", sqliteDSN(path))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	return &sqliteLoop{db: db, pool: pool, actor: actor}, nil
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
		id, applicant                                                                  int64
		caseNo, service, item, state, division, district, form, result, since, created string
		updated                                                                        string
		due                                                                            sql.NullString
		version                                                                        int
	)
	if err := tx.QueryRowContext(ctx, `SELECT id, case_no, service, item_code, state, version, applicant_id, division, district,
	form, result, state_since, due_at, created_at, updated_at FROM cases WHERE case_no = $1`, no).Scan(&id, &caseNo, &service, &item,
		&state, &version, &applicant, &division, &district, &form, &result, &since, &due, &created, &updated); err != nil {
		return err
	}
	now := time.Now()
	at := sqlTime(now)
	res, err := tx.ExecContext(ctx, `UPDATE cases SET state = $1, version = $2, division = $3, district = $4,
		form = $5, result = $6, state_since = $7, due_at = $8, updated_at = $9
		WHERE id = $10 AND version = $11`,
		"reviewing", version+1, division, district, form, result, at, sqlTime(now.Add(21*24*time.Hour)), at, id, version)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("update: %d rows, %v", n, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO case_history (case_id, seq, event, from_state, to_state, actor_id, actor_role, reason, items, at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		id, version+1, "accept", "submitted", "reviewing", l.actor, "street_clerk", "", "[]", at); err != nil {
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
	return tx.Commit()
}

// newRands returns one random source per worker.
func newRands(n int) []*rand.Rand {
	out := make([]*rand.Rand, n)
	for i := range out {
		out[i] = rand.New(rand.NewPCG(uint64(i)+1, 99))
	}
	return out
}
