package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"tzportal/portal"
)

// The dashboards' rollups (migration 00024). A transaction adds its steps'
// changes up per row (AddStats) and writes them just before it commits,
// one upsert per table in key order: every transition already waits on
// the audit chain's head, so the rollups' rows add no wait of their own.

// Row keys of the three rollups.
type (
	caseKey struct{ area, period, service, state string }
	stepKey struct {
		area, period, service, step string
		days                        int
	}
	clerkKey struct {
		division, period, service, step string
		actor                           int64
		days                            int
	}
)

// counts are a decision row's n, approved, timed and on_time.
type counts [4]int64

// stats is what a transaction adds to the rollups.
type stats struct {
	cases    map[caseKey]int64
	steps    map[stepKey]counts
	clerks   map[clerkKey]counts
	district map[string]string // a clerk row's division → district
}

// AddStats adds d to what the transaction writes to the rollups.
func (t *Tx) AddStats(d portal.StatDelta) {
	if len(d.Cases) == 0 && len(d.Steps) == 0 && len(d.Clerks) == 0 {
		return
	}
	if t.stats == nil {
		t.stats = &stats{cases: map[caseKey]int64{}, steps: map[stepKey]counts{}, clerks: map[clerkKey]counts{}, district: map[string]string{}}
	}
	s := t.stats
	for _, c := range d.Cases {
		s.cases[caseKey{c.Area, c.Period, c.Service, c.State}] += c.N
	}
	add := func(v counts, n, approved, timed, onTime int64) counts {
		return counts{v[0] + n, v[1] + approved, v[2] + timed, v[3] + onTime}
	}
	for _, c := range d.Steps {
		k := stepKey{c.Area, c.Period, c.Service, c.Step, c.Days}
		s.steps[k] = add(s.steps[k], c.N, c.Approved, c.Timed, c.OnTime)
	}
	for _, c := range d.Clerks {
		k := clerkKey{c.Division, c.Period, c.Service, c.Step, c.ActorID, c.Days}
		s.clerks[k] = add(s.clerks[k], c.N, c.Approved, c.Timed, c.OnTime)
		s.district[c.Division] = c.District
	}
}

// flushStats writes what the transaction added to the rollups: an upsert a
// table, its rows in key order (two transactions lock shared rows in the
// same order, so neither waits on the other crosswise).
func (t *Tx) flushStats(ctx context.Context) error {
	s := t.stats
	if s == nil {
		return nil
	}
	t.stats = nil
	var cases [][]any
	for _, k := range slices.SortedFunc(maps.Keys(s.cases), func(a, b caseKey) int {
		return cmp.Or(cmp.Compare(a.area, b.area), cmp.Compare(a.period, b.period), cmp.Compare(a.service, b.service), cmp.Compare(a.state, b.state))
	}) {
		if n := s.cases[k]; n != 0 {
			cases = append(cases, []any{k.area, k.period, k.service, k.state, n})
		}
	}
	rows := func(r *[]any) []any { return *r }
	if err := insertRows(ctx, t, "sqlstore.AddStats", `INSERT INTO stat_cases (area, period, service, state, n) VALUES `,
		cases, rows, ` ON CONFLICT (area, period, service, state) DO UPDATE SET n = stat_cases.n + excluded.n`); err != nil {
		return err
	}
	const sums = ` DO UPDATE SET n = %[1]s.n + excluded.n, approved = %[1]s.approved + excluded.approved,
		timed = %[1]s.timed + excluded.timed, on_time = %[1]s.on_time + excluded.on_time`
	var steps [][]any
	for _, k := range slices.SortedFunc(maps.Keys(s.steps), func(a, b stepKey) int {
		return cmp.Or(cmp.Compare(a.area, b.area), cmp.Compare(a.period, b.period), cmp.Compare(a.service, b.service),
			cmp.Compare(a.step, b.step), cmp.Compare(a.days, b.days))
	}) {
		if v := s.steps[k]; v != (counts{}) {
			steps = append(steps, []any{k.area, k.period, k.service, k.step, k.days, v[0], v[1], v[2], v[3]})
		}
	}
	if err := insertRows(ctx, t, "sqlstore.AddStats", `INSERT INTO stat_steps (area, period, service, step, days, n, approved, timed, on_time) VALUES `,
		steps, rows, ` ON CONFLICT (area, period, service, step, days)`+fmt.Sprintf(sums, "stat_steps")); err != nil {
		return err
	}
	var clerks [][]any
	for _, k := range slices.SortedFunc(maps.Keys(s.clerks), func(a, b clerkKey) int {
		return cmp.Or(cmp.Compare(a.division, b.division), cmp.Compare(a.period, b.period), cmp.Compare(a.service, b.service),
			cmp.Compare(a.step, b.step), cmp.Compare(a.actor, b.actor), cmp.Compare(a.days, b.days))
	}) {
		if v := s.clerks[k]; v != (counts{}) {
			clerks = append(clerks, []any{k.division, k.period, k.service, k.step, k.actor, k.days, s.district[k.division], v[0], v[1], v[2], v[3]})
		}
	}
	return insertRows(ctx, t, "sqlstore.AddStats", `INSERT INTO stat_clerks (division, period, service, step, actor_id, days, district, n, approved, timed, on_time) VALUES `,
		clerks, rows, ` ON CONFLICT (division, period, service, step, actor_id, days)`+fmt.Sprintf(sums, "stat_clerks"))
}

// in is "col IN (…)" over vs, its arguments appended to args ("1 = 0"
// for none).
func (q q) in(col string, vs []string, args *[]any) string {
	if len(vs) == 0 {
		return "1 = 0"
	}
	marks := make([]string, len(vs))
	for i, v := range vs {
		*args = append(*args, v)
		marks[i] = q.d.param(len(*args))
	}
	return col + " IN (" + strings.Join(marks, ", ") + ")"
}

// statWhere is q's condition on stat_cases or stat_steps.
func (q q) statWhere(sq portal.StatQuery, args *[]any) string {
	w := q.in("area", sq.Areas, args) + " AND "
	if sq.AllYears {
		w += "length(period) = 4"
	} else {
		w += q.in("period", sq.Periods, args)
	}
	if sq.Service != "" {
		*args = append(*args, sq.Service)
		w += " AND service = " + q.d.param(len(*args))
	}
	return w
}

// statKeys are the kept key columns of q (area, period): as selected (”
// for one summed over), and as grouped by (with a trailing comma).
func statKeys(sq portal.StatQuery) (sel, group string) {
	sel = "'', ''"
	switch {
	case sq.ByArea && sq.ByPeriod:
		sel, group = "area, period", "area, period, "
	case sq.ByArea:
		sel, group = "area, ''", "area, "
	case sq.ByPeriod:
		sel, group = "'', period", "period, "
	}
	return sel, group
}

// StatCases returns each query's case counts, in one statement (a branch
// a query).
func (q q) StatCases(ctx context.Context, sqs ...portal.StatQuery) ([][]portal.CaseCount, error) {
	var args []any
	branches := make([]string, len(sqs))
	for i, sq := range sqs {
		sel, group := statKeys(sq)
		branches[i] = fmt.Sprintf(`SELECT %d, %s, service, state, CAST(SUM(n) AS bigint) FROM stat_cases WHERE %s GROUP BY %sservice, state`,
			i, sel, q.statWhere(sq, &args), group)
	}
	out := make([][]portal.CaseCount, len(sqs))
	if len(sqs) == 0 {
		return out, nil
	}
	rows, err := q.ex.QueryContext(ctx, strings.Join(branches, " UNION ALL "), args...)
	if err != nil {
		return nil, dbError("sqlstore.StatCases", err)
	}
	defer rows.Close()
	for rows.Next() {
		var i int
		var c portal.CaseCount
		if err := rows.Scan(&i, &c.Area, &c.Period, &c.Service, &c.State, &c.N); err != nil {
			return nil, dbError("sqlstore.StatCases", err)
		}
		if c.N != 0 && i >= 0 && i < len(out) {
			out[i] = append(out[i], c)
		}
	}
	return out, dbError("sqlstore.StatCases", rows.Err())
}

// StatSteps returns q's decisions.
func (q q) StatSteps(ctx context.Context, sq portal.StatQuery) ([]portal.StepCount, error) {
	var args []any
	sel, group := statKeys(sq)
	rows, err := q.ex.QueryContext(ctx, `SELECT `+sel+`, service, step, days,
		CAST(SUM(n) AS bigint), CAST(SUM(approved) AS bigint), CAST(SUM(timed) AS bigint), CAST(SUM(on_time) AS bigint)
		FROM stat_steps WHERE `+q.statWhere(sq, &args)+` GROUP BY `+group+`service, step, days`, args...)
	if err != nil {
		return nil, dbError("sqlstore.StatSteps", err)
	}
	defer rows.Close()
	var out []portal.StepCount
	for rows.Next() {
		var c portal.StepCount
		if err := rows.Scan(&c.Area, &c.Period, &c.Service, &c.Step, &c.Days, &c.N, &c.Approved, &c.Timed, &c.OnTime); err != nil {
			return nil, dbError("sqlstore.StatSteps", err)
		}
		if c.N != 0 {
			out = append(out, c)
		}
	}
	return out, dbError("sqlstore.StatSteps", rows.Err())
}

// clerkScope is a clerk query's scope and service as a condition on a
// table with division, district and service columns (prefix: its alias).
func (q q) clerkScope(cq portal.ClerkQuery, prefix string, args *[]any) string {
	w := scopeSQL(prefix, cq.Scope, cq.AllScope, args, q.d.param)
	if cq.Service != "" {
		*args = append(*args, cq.Service)
		w += " AND " + prefix + "service = " + q.d.param(len(*args))
	}
	return w
}

// StatClerks returns q's decisions by person.
func (q q) StatClerks(ctx context.Context, cq portal.ClerkQuery) ([]portal.ClerkCount, error) {
	var args []any
	where := q.clerkScope(cq, "", &args) + " AND " + q.in("period", cq.Periods, &args)
	rows, err := q.ex.QueryContext(ctx, `SELECT service, step, actor_id, days,
		CAST(SUM(n) AS bigint), CAST(SUM(approved) AS bigint), CAST(SUM(timed) AS bigint), CAST(SUM(on_time) AS bigint)
		FROM stat_clerks WHERE `+where+` GROUP BY service, step, actor_id, days`, args...)
	if err != nil {
		return nil, dbError("sqlstore.StatClerks", err)
	}
	defer rows.Close()
	var out []portal.ClerkCount
	for rows.Next() {
		var c portal.ClerkCount
		if err := rows.Scan(&c.Service, &c.Step, &c.ActorID, &c.Days, &c.N, &c.Approved, &c.Timed, &c.OnTime); err != nil {
			return nil, dbError("sqlstore.StatClerks", err)
		}
		if c.N != 0 {
			out = append(out, c)
		}
	}
	return out, dbError("sqlstore.StatClerks", rows.Err())
}

// Reveals returns reveals of full ID numbers on q's cases, days from..to,
// by people with no step in the case's history: along the reveals' own
// index by day, each checked against the case's history by its key.
func (q q) Reveals(ctx context.Context, cq portal.ClerkQuery, from, to string, limit int) ([]portal.RevealRow, error) {
	var args []any
	scope := q.clerkScope(cq, "c.", &args)
	args = append(args, from, to, limit)
	n := len(args)
	rows, err := q.ex.QueryContext(ctx, `SELECT a.user_id, u.name, a.role, a.division, c.case_no, c.service, c.division, a.day, a.n
		FROM case_access a JOIN cases c ON c.id = a.case_id JOIN users u ON u.id = a.user_id
		WHERE a.kind = 'reveal' AND a.day >= `+q.d.param(n-2)+` AND a.day <= `+q.d.param(n-1)+` AND `+scope+`
		AND NOT EXISTS (SELECT 1 FROM case_history h WHERE h.case_id = a.case_id AND h.actor_id = a.user_id)
		ORDER BY a.day DESC, c.case_no, a.user_id LIMIT `+q.d.param(n), args...)
	if err != nil {
		return nil, dbError("sqlstore.Reveals", err)
	}
	defer rows.Close()
	var out []portal.RevealRow
	for rows.Next() {
		var r portal.RevealRow
		if err := rows.Scan(&r.UserID, &r.Name, &r.Role, &r.Office, &r.CaseNo, &r.Service, &r.Division, &r.Day, &r.N); err != nil {
			return nil, dbError("sqlstore.Reveals", err)
		}
		out = append(out, r)
	}
	return out, dbError("sqlstore.Reveals", rows.Err())
}

// StatRows returns every row of the rollups.
func (q q) StatRows(ctx context.Context) (portal.StatDelta, error) {
	var d portal.StatDelta
	scan := func(query string, row func(*sql.Rows) error) error {
		rows, err := q.ex.QueryContext(ctx, query)
		if err != nil {
			return dbError("sqlstore.StatRows", err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := row(rows); err != nil {
				return dbError("sqlstore.StatRows", err)
			}
		}
		return dbError("sqlstore.StatRows", rows.Err())
	}
	err := scan(`SELECT area, period, service, state, n FROM stat_cases`, func(r *sql.Rows) error {
		var c portal.CaseCount
		err := r.Scan(&c.Area, &c.Period, &c.Service, &c.State, &c.N)
		d.Cases = append(d.Cases, c)
		return err
	})
	if err == nil {
		err = scan(`SELECT area, period, service, step, days, n, approved, timed, on_time FROM stat_steps`, func(r *sql.Rows) error {
			var c portal.StepCount
			err := r.Scan(&c.Area, &c.Period, &c.Service, &c.Step, &c.Days, &c.N, &c.Approved, &c.Timed, &c.OnTime)
			d.Steps = append(d.Steps, c)
			return err
		})
	}
	if err == nil {
		err = scan(`SELECT division, district, period, service, step, actor_id, days, n, approved, timed, on_time FROM stat_clerks`, func(r *sql.Rows) error {
			var c portal.ClerkCount
			err := r.Scan(&c.Division, &c.District, &c.Period, &c.Service, &c.Step, &c.ActorID, &c.Days, &c.N, &c.Approved, &c.Timed, &c.OnTime)
			d.Clerks = append(d.Clerks, c)
			return err
		})
	}
	return d, err
}

// StatsRebuiltAt returns when the rollups were last rebuilt.
func (q q) StatsRebuiltAt(ctx context.Context) (time.Time, error) {
	var at time.Time
	err := q.ex.QueryRowContext(ctx, `SELECT rebuilt_at FROM stat_meta WHERE id = 1`).Scan(scanTime{&at})
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	return at, dbError("sqlstore.StatsRebuiltAt", err)
}

// rebuildBatch is the cases a rebuild reads at once.
const rebuildBatch = 2000

// RebuildStats empties the rollups and fills them from every case, in one
// transaction that holds their tables (PostgreSQL: an exclusive lock,
// which transitions' upserts wait for; SQLite: the write lock).
func (db *DB) RebuildStats(ctx context.Context, now time.Time, each func([]portal.Case, map[int64][]portal.History) (portal.StatDelta, error)) (int64, error) {
	var total int64
	err := db.Tx(ctx, func(ptx portal.Tx) error {
		t := ptx.(*Tx)
		total = 0
		if db.dialect.name() == "postgres" {
			if _, err := t.ex.ExecContext(ctx, `LOCK TABLE stat_cases, stat_steps, stat_clerks, stat_meta IN EXCLUSIVE MODE`); err != nil {
				return dbError("sqlstore.RebuildStats", err)
			}
		}
		for _, stmt := range []string{`DELETE FROM stat_cases`, `DELETE FROM stat_steps`, `DELETE FROM stat_clerks`, `DELETE FROM stat_meta`} {
			if _, err := t.ex.ExecContext(ctx, stmt); err != nil {
				return dbError("sqlstore.RebuildStats", err)
			}
		}
		var after int64
		for {
			cases, err := t.casesAfter(ctx, after, rebuildBatch)
			if err != nil {
				return err
			}
			if len(cases) == 0 {
				break
			}
			after = cases[len(cases)-1].ID
			hist, err := t.histories(ctx, "sqlstore.RebuildStats", fmt.Sprintf("case_id > %s AND case_id <= %s", t.d.param(1), t.d.param(2)),
				cases[0].ID-1, after)
			if err != nil {
				return err
			}
			d, err := each(cases, hist)
			if err != nil {
				return err
			}
			// Added up in memory (a row a key: ~130,000 for a million
			// cases) and written once, by the commit: rows upserted batch
			// after batch would leave a dead version of every city row
			// behind each batch.
			t.AddStats(d)
			total += int64(len(cases))
		}
		_, err := t.ex.ExecContext(ctx, `INSERT INTO stat_meta (id, rebuilt_at, cases) VALUES (1, $1, $2)`, t.d.time(now), total)
		return dbError("sqlstore.RebuildStats", err)
	})
	return total, err
}

// casesAfter reads up to n cases with ids after after, by id, without
// their forms (a rebuild needs their keys and states only).
func (q q) casesAfter(ctx context.Context, after int64, n int) ([]portal.Case, error) {
	rows, err := q.ex.QueryContext(ctx, `SELECT id, case_no, service, state, division, district, version, state_since
		FROM cases WHERE id > $1 ORDER BY id LIMIT $2`, after, n)
	if err != nil {
		return nil, dbError("sqlstore.RebuildStats", err)
	}
	defer rows.Close()
	var out []portal.Case
	for rows.Next() {
		var c portal.Case
		if err := rows.Scan(&c.ID, &c.No, &c.Service, &c.State, &c.Division, &c.District, &c.Version, scanTime{&c.StateSince}); err != nil {
			return nil, dbError("sqlstore.RebuildStats", err)
		}
		out = append(out, c)
	}
	return out, dbError("sqlstore.RebuildStats", rows.Err())
}
