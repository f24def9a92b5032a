package sqlstore

import "tzportal/portal"

// ListQuery exposes the query ListCases runs, for the plan tests.
func ListQuery(db *DB, f portal.CaseFilter) (string, []any) { return db.q.listQuery(f) }
