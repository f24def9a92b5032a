package sqlstore

import (
	"time"

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
