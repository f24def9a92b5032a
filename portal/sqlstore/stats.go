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

// statKey is a stat_cases row's key; stepKey a stat_steps row's.
type statKey struct{ division, service, month, state string }

type stepKey struct {
	division, service, month, step string
	actor                          int64
	days                           int
}

// stats is what a transaction adds to the rollups.
type stats struct {
	cases    map[statKey]int64
	steps    map[stepKey][4]int64 // n, approved, timed, on_time
	district map[string]string    // division → district
}

// AddStats adds d to what the transaction writes to the rollups.
func (t *Tx) AddStats(d portal.StatDelta) {
	if len(d.Cases) == 0 && len(d.Steps) == 0 {
		return
	}
	if t.stats == nil {
		t.stats = &stats{cases: map[statKey]int64{}, steps: map[stepKey][4]int64{}, district: map[string]string{}}
	}
	s := t.stats
	for _, c := range d.Cases {
		s.cases[statKey{c.Division, c.Service, c.Month, c.State}] += c.N
		s.district[c.Division] = c.District
	}
	for _, c := range d.Steps {
		k := stepKey{c.Division, c.Service, c.Month, c.Step, c.ActorID, c.Days}
		v := s.steps[k]
		v[0] += c.N
		v[1] += c.Approved
		v[2] += c.Timed
		v[3] += c.OnTime
		s.steps[k] = v
		s.district[c.Division] = c.District
	}
}

// flushStats writes what the transaction added to the rollups.
func (t *Tx) flushStats(ctx context.Context) error {
	s := t.stats
	if s == nil {
		return nil
	}
	t.stats = nil
	var cases [][]any
	for _, k := range slices.SortedFunc(maps.Keys(s.cases), func(a, b statKey) int {
		return cmp.Or(cmp.Compare(a.division, b.division), cmp.Compare(a.service, b.service),
			cmp.Compare(a.month, b.month), cmp.Compare(a.state, b.state))
	}) {
		if n := s.cases[k]; n != 0 {
			cases = append(cases, []any{k.division, k.service, k.month, k.state, s.district[k.division], n})
		}
	}
	if err := insertRows(ctx, t, "sqlstore.AddStats", `INSERT INTO stat_cases (division, service, month, state, district, n) VALUES `,
		cases, func(r *[]any) []any { return *r }, ` ON CONFLICT (division, service, month, state) DO UPDATE SET n = stat_cases.n + excluded.n`); err != nil {
		return err
	}
	var steps [][]any
	for _, k := range slices.SortedFunc(maps.Keys(s.steps), func(a, b stepKey) int {
		return cmp.Or(cmp.Compare(a.division, b.division), cmp.Compare(a.service, b.service), cmp.Compare(a.month, b.month),
			cmp.Compare(a.step, b.step), cmp.Compare(a.actor, b.actor), cmp.Compare(a.days, b.days))
	}) {
		v := s.steps[k]
		if v == [4]int64{} {
			continue
		}
		steps = append(steps, []any{k.division, k.service, k.month, k.step, k.actor, k.days, s.district[k.division], v[0], v[1], v[2], v[3]})
	}
	return insertRows(ctx, t, "sqlstore.AddStats", `INSERT INTO stat_steps (division, service, month, step, actor_id, days, district, n, approved, timed, on_time) VALUES `,
		steps, func(r *[]any) []any { return *r }, ` ON CONFLICT (division, service, month, step, actor_id, days) DO UPDATE SET
			n = stat_steps.n + excluded.n, approved = stat_steps.approved + excluded.approved,
			timed = stat_steps.timed + excluded.timed, on_time = stat_steps.on_time + excluded.on_time`)
}

// statWhere is f's condition on a rollup table (alias "" or "x."), its
// arguments appended to args.
func (q q) statWhere(f portal.StatFilter, args *[]any) string {
	arg := func(v any) string {
		*args = append(*args, v)
		return q.d.param(len(*args))
	}
	var w []string
	switch {
	case f.AllScope:
	case len(f.Scope) == 0:
		return "1 = 0"
	default:
		var terms []string
		for _, s := range f.Scope {
			if s.Division != "" {
				terms = append(terms, "division = "+arg(s.Division))
			} else {
				terms = append(terms, "district = "+arg(s.District))
			}
		}
		w = append(w, "("+strings.Join(terms, " OR ")+")")
	}
	if f.Service != "" {
		w = append(w, "service = "+arg(f.Service))
	}
	if f.FromMonth != "" {
		w = append(w, "month >= "+arg(f.FromMonth))
	}
	if f.ToMonth != "" {
		w = append(w, "month <= "+arg(f.ToMonth))
	}
	if len(w) == 0 {
		return "1 = 1"
	}
	return strings.Join(w, " AND ")
}

// StatCases returns f's case counts per division, service, month and state.
func (q q) StatCases(ctx context.Context, f portal.StatFilter) ([]portal.CaseCount, error) {
	var args []any
	rows, err := q.ex.QueryContext(ctx, `SELECT division, district, service, month, state, n FROM stat_cases
		WHERE `+q.statWhere(f, &args)+` AND n <> 0`, args...)
	if err != nil {
		return nil, dbError("sqlstore.StatCases", err)
	}
	defer rows.Close()
	var out []portal.CaseCount
	for rows.Next() {
		var c portal.CaseCount
		if err := rows.Scan(&c.Division, &c.District, &c.Service, &c.Month, &c.State, &c.N); err != nil {
			return nil, dbError("sqlstore.StatCases", err)
		}
		out = append(out, c)
	}
	return out, dbError("sqlstore.StatCases", rows.Err())
}

// StatSteps returns f's decisions per service, step and days (and person).
func (q q) StatSteps(ctx context.Context, f portal.StatFilter) ([]portal.StepCount, error) {
	var args []any
	actor := "0"
	group := "service, step, days"
	if f.ByActor {
		actor, group = "actor_id", "service, step, actor_id, days"
	}
	rows, err := q.ex.QueryContext(ctx, `SELECT service, step, `+actor+`, days,
		CAST(SUM(n) AS bigint), CAST(SUM(approved) AS bigint), CAST(SUM(timed) AS bigint), CAST(SUM(on_time) AS bigint)
		FROM stat_steps WHERE `+q.statWhere(f, &args)+` GROUP BY `+group, args...)
	if err != nil {
		return nil, dbError("sqlstore.StatSteps", err)
	}
	defer rows.Close()
	var out []portal.StepCount
	for rows.Next() {
		var c portal.StepCount
		if err := rows.Scan(&c.Service, &c.Step, &c.ActorID, &c.Days, &c.N, &c.Approved, &c.Timed, &c.OnTime); err != nil {
			return nil, dbError("sqlstore.StatSteps", err)
		}
		if c.N != 0 {
			out = append(out, c)
		}
	}
	return out, dbError("sqlstore.StatSteps", rows.Err())
}

// Reveals returns reveals of full ID numbers on f's cases, days from..to,
// by people with no step in the case's history: along the reveals' own
// index by day, each checked against the case's history by its key.
func (q q) Reveals(ctx context.Context, f portal.StatFilter, from, to string, limit int) ([]portal.RevealRow, error) {
	var args []any
	scope := q.statWhere(portal.StatFilter{Scope: f.Scope, AllScope: f.AllScope, Service: f.Service}, &args)
	scope = strings.NewReplacer("division =", "c.division =", "district =", "c.district =", "service =", "c.service =").Replace(scope)
	args = append(args, from, to)
	n := len(args)
	args = append(args, limit)
	rows, err := q.ex.QueryContext(ctx, `SELECT a.user_id, u.name, a.role, a.division, c.case_no, c.service, c.division, a.day, a.n
		FROM case_access a JOIN cases c ON c.id = a.case_id JOIN users u ON u.id = a.user_id
		WHERE a.kind = 'reveal' AND a.day >= `+q.d.param(n-1)+` AND a.day <= `+q.d.param(n)+` AND `+scope+`
		AND NOT EXISTS (SELECT 1 FROM case_history h WHERE h.case_id = a.case_id AND h.actor_id = a.user_id)
		ORDER BY a.day DESC, c.case_no, a.user_id LIMIT `+q.d.param(n+1), args...)
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
			if _, err := t.ex.ExecContext(ctx, `LOCK TABLE stat_cases, stat_steps, stat_meta IN EXCLUSIVE MODE`); err != nil {
				return dbError("sqlstore.RebuildStats", err)
			}
		}
		for _, stmt := range []string{`DELETE FROM stat_cases`, `DELETE FROM stat_steps`, `DELETE FROM stat_meta`} {
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
			t.AddStats(d)
			if err := t.flushStats(ctx); err != nil {
				return err
			}
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
