package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"

	"tzportal/portal"
)

const cohortColumns = `id, kind, service, district, scope, commitment, seed, actor, created_at, finished_at,
	total, done, summary, data`

func scanCohort(r rowScanner) (*portal.Cohort, error) {
	c := &portal.Cohort{}
	var summary, data string
	err := r.Scan(&c.ID, &c.Kind, &c.Service, &c.District, &c.Scope, &c.Commitment, &c.Seed, &c.Actor,
		scanTime{&c.CreatedAt}, scanNullTime{&c.FinishedAt}, &c.Total, &c.Done, &summary, &data)
	if err != nil {
		return c, err
	}
	c.Summary = []byte(summary)
	c.Data, err = cohortData(data)
	return c, err
}

// A cohort's record (a draw's 100,000 participants: megabytes of JSON) is
// kept compressed on SQLite, as PostgreSQL keeps it (lz4, migration 00018):
// every page of it is written twice, to the log and by the checkpoint, and
// on SQLite that was a fifth of a draw. zstd at its fastest level packs it
// to about a fifth in a few milliseconds. A compressed record is a zstd
// frame (its magic number cannot start JSON); an older record is JSON and
// read as it is.
var (
	zstdEnc, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	zstdDec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	zstdMagic  = "\x28\xb5\x2f\xfd"
)

// compressAbove is the size from which a record is compressed.
const compressAbove = 64 << 10

// storedData is a cohort's record as the dialect stores it.
func storedData(d dialect, data []byte) any {
	if d.name() != "sqlite" || len(data) < compressAbove {
		return jsonOr(data, "{}")
	}
	return zstdEnc.EncodeAll(data, make([]byte, 0, len(data)/4))
}

// cohortData reads a record as stored.
func cohortData(stored string) ([]byte, error) {
	if !strings.HasPrefix(stored, zstdMagic) {
		return []byte(stored), nil
	}
	b, err := zstdDec.DecodeAll([]byte(stored), nil)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: a cohort's compressed record: %w", err)
	}
	return b, nil
}

func (q q) cohortBy(ctx context.Context, op, query string, args ...any) (*portal.Cohort, error) {
	c, err := scanCohort(q.ex.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, portal.NotFound(fmt.Errorf("%s: none", op))
	}
	if err != nil {
		return nil, dbError(op, err)
	}
	return c, nil
}

// CohortByID returns a cohort operation.
func (q q) CohortByID(ctx context.Context, id int64) (*portal.Cohort, error) {
	return q.cohortBy(ctx, "sqlstore.CohortByID", `SELECT `+cohortColumns+` FROM cohorts WHERE id = $1`, id)
}

// CohortRecord returns an operation without its data.
func (q q) CohortRecord(ctx context.Context, id int64) (*portal.Cohort, error) {
	return q.cohortBy(ctx, "sqlstore.CohortRecord", `SELECT id, kind, service, district, scope, commitment, seed, actor,
		created_at, finished_at, total, done, summary, '{}' FROM cohorts WHERE id = $1`, id)
}

// CohortOf returns the operation of kind over a scope.
func (q q) CohortOf(ctx context.Context, kind, service, district, scope string) (*portal.Cohort, error) {
	return q.cohortBy(ctx, "sqlstore.CohortOf", `SELECT `+cohortColumns+` FROM cohorts
		WHERE kind = $1 AND service = $2 AND district = $3 AND scope = $4`, kind, service, district, scope)
}

// CasesInState returns a district's cases of a service in a state, by id.
func (q q) CasesInState(ctx context.Context, service, district, state string, afterID int64, limit int) ([]portal.Case, error) {
	rows, err := q.ex.QueryContext(ctx, `SELECT `+caseColumns+` FROM cases
		WHERE district = $1 AND service = $2 AND state = $3 AND id > $4 ORDER BY id LIMIT $5`,
		district, service, state, afterID, limit)
	if err != nil {
		return nil, dbError("sqlstore.CasesInState", err)
	}
	defer rows.Close()
	var out []portal.Case
	for rows.Next() {
		c, err := scanCase(rows)
		if err != nil {
			return nil, dbError("sqlstore.CasesInState", err)
		}
		out = append(out, *c)
	}
	return out, dbError("sqlstore.CasesInState", rows.Err())
}

// factKeyRE is a key of a form CountReached may group by (it becomes a
// parameter, never SQL text, but a key of another shape is a caller's
// mistake).
var factKeyRE = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)

// CountReached counts a service's cases in a state by when they reached it.
func (q q) CountReached(ctx context.Context, service, state string, from, to time.Time, by string) (map[string]int, error) {
	group := "''"
	args := []any{service, state, q.d.time(from), q.d.time(to)}
	if by != "" {
		if !factKeyRE.MatchString(by) {
			return nil, fmt.Errorf("sqlstore.CountReached: key %q", by)
		}
		args = append(args, by)
		group = "COALESCE(" + q.d.jsonText("form", 5) + ", '')"
	}
	rows, err := q.ex.QueryContext(ctx, `SELECT `+group+`, count(*) FROM cases
		WHERE service = $1 AND state = $2 AND state_since >= $3 AND state_since < $4 GROUP BY 1`, args...)
	if err != nil {
		return nil, dbError("sqlstore.CountReached", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			return nil, dbError("sqlstore.CountReached", err)
		}
		out[k] += n
	}
	return out, dbError("sqlstore.CountReached", rows.Err())
}

// InsertCohort records a new operation.
func (t *Tx) InsertCohort(ctx context.Context, c *portal.Cohort) error {
	err := t.ex.QueryRowContext(ctx, `INSERT INTO cohorts (kind, service, district, scope, commitment, seed, actor,
		created_at, finished_at, total, done, summary, data)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id`,
		c.Kind, c.Service, c.District, c.Scope, c.Commitment, c.Seed, c.Actor, t.d.time(c.CreatedAt),
		nullTime(t.d, c.FinishedAt), c.Total, c.Done, jsonOr(c.Summary, "{}"), storedData(t.d, c.Data)).Scan(&c.ID)
	if t.d.isUnique(err) {
		return &portal.Error{Code: portal.ECONFLICT, Message: "error.cohort_exists",
			Err: fmt.Errorf("sqlstore.InsertCohort(%s %s %s %s): exists", c.Kind, c.Service, c.District, c.Scope)}
	}
	return dbError("sqlstore.InsertCohort", err)
}

// UpdateCohort writes the progress and outcome of an operation.
func (t *Tx) UpdateCohort(ctx context.Context, c *portal.Cohort) error {
	_, err := t.ex.ExecContext(ctx, `UPDATE cohorts SET done = $1, finished_at = $2, summary = $3, data = $4 WHERE id = $5`,
		c.Done, nullTime(t.d, c.FinishedAt), jsonOr(c.Summary, "{}"), storedData(t.d, c.Data), c.ID)
	return dbError("sqlstore.UpdateCohort", err)
}

// CohortProgress writes the progress of an operation, not its data.
func (t *Tx) CohortProgress(ctx context.Context, c *portal.Cohort) error {
	var summary any // nil: the stored summary stays
	if c.Summary != nil {
		summary = string(c.Summary)
	}
	_, err := t.ex.ExecContext(ctx, `UPDATE cohorts SET done = $1, finished_at = $2, summary = COALESCE($3, summary) WHERE id = $4`,
		c.Done, nullTime(t.d, c.FinishedAt), summary, c.ID)
	return dbError("sqlstore.CohortProgress", err)
}

// UnfinishedCohorts returns the operations not finished, without their data.
func (q q) UnfinishedCohorts(ctx context.Context) ([]portal.Cohort, error) {
	rows, err := q.ex.QueryContext(ctx, `SELECT id, kind, service, district, scope, commitment, seed, actor, created_at,
		finished_at, total, done, summary, '{}' FROM cohorts WHERE finished_at IS NULL ORDER BY id`)
	if err != nil {
		return nil, dbError("sqlstore.UnfinishedCohorts", err)
	}
	defer rows.Close()
	var out []portal.Cohort
	for rows.Next() {
		c, err := scanCohort(rows)
		if err != nil {
			return nil, dbError("sqlstore.UnfinishedCohorts", err)
		}
		out = append(out, *c)
	}
	return out, dbError("sqlstore.UnfinishedCohorts", rows.Err())
}

// CohortIDs returns the ids of a district's operations of a kind.
func (q q) CohortIDs(ctx context.Context, kind, service, district string) ([]int64, error) {
	rows, err := q.ex.QueryContext(ctx, `SELECT id FROM cohorts WHERE kind = $1 AND service = $2 AND district = $3 ORDER BY id`,
		kind, service, district)
	if err != nil {
		return nil, dbError("sqlstore.CohortIDs", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, dbError("sqlstore.CohortIDs", err)
		}
		out = append(out, id)
	}
	return out, dbError("sqlstore.CohortIDs", rows.Err())
}
