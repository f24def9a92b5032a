package sqlstore

import (
	"context"
	"io/fs"
	"time"

	"github.com/pressly/goose/v3"

	"tzportal/migrations"
	"tzportal/portal"
)

// ListQuery exposes the query ListCases runs, for the plan tests.
func ListQuery(db *DB, f portal.CaseFilter) (string, []any) { return db.q.listQuery(f) }

// DeadlineQuery and AgingQuery expose the deadline views' queries, for the
// plan tests.
func DeadlineQuery(db *DB, f portal.DeadlineFilter) (string, []any) { return db.q.deadlineQuery(f) }

func AgingQuery(db *DB, f portal.DeadlineFilter, now, cut time.Time) (string, []any) {
	return db.q.agingQuery(f, now, cut)
}

// AuditQuery exposes the audit view's query, for the plan tests.
func AuditQuery(db *DB, f portal.AuditFilter) (string, []any) { return db.q.auditQuery(f) }

// MigrateTo applies the migrations up to version, for the tests of a
// migration's backfill (rows written before it ran).
func MigrateTo(ctx context.Context, db *DB, version int64) error {
	sub, err := fs.Sub(migrations.FS, db.dialect.name())
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(db.dialect.gooseDialect(), db.write, sub, goose.WithGoMigrations(countiesMigration()))
	if err != nil {
		return err
	}
	_, err = p.UpTo(ctx, version)
	return err
}

// Time is how the dialect stores t, for tests writing rows by hand.
func Time(db *DB, t time.Time) any { return db.q.d.time(t) }
