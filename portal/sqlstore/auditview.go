package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"tzportal/portal"
)

// maxAuditBranches bounds the per-division branches of an audit page: a
// district's streets fit many times over; a reach wider than that is read
// with one IN list instead.
const maxAuditBranches = 64

// args numbers query parameters as they are added.
type args []any

func (a *args) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// AuditEntries returns a page of the audit view, newest first. Every shape
// of filter reads along an index ordered by seq, and stops after the page:
// a case's entries (audit_object), a person's (audit_actor), an action's
// city-wide (audit_action), a reader's divisions one branch each
// (audit_division), and, city-wide with no such filter, the chain itself
// from its newest entry (the primary key).
func (q q) AuditEntries(ctx context.Context, f portal.AuditFilter) ([]portal.AuditEntry, error) {
	if !f.AllScope && len(f.Divisions) == 0 && f.Object == "" {
		return nil, nil // no reach at all
	}
	query, a := q.auditQuery(f)
	return q.audits(ctx, "sqlstore.AuditEntries", query, a...)
}

// auditQuery is the query of an audit page (the plan tests read it).
//
// A keyed read — a case, people, a reader's divisions, an action city-wide
// — is one branch per key value, each the newest page of its own index
// range (object, seq), (actor, seq), (division, seq) or (action, seq); the
// page is the newest of their union, so no more than a page per branch is
// read and sorted. Each branch names its key as a range of one value and
// orders by (key, seq): with a plain equality PostgreSQL may drop the key
// from the order and walk the whole chain backwards instead, filtering as
// it goes — cheap on average, a read of the whole log for a quiet street.
// City-wide with no key, the page walks the chain itself from its newest
// entry (the primary key).
func (q q) auditQuery(f portal.AuditFilter) (string, []any) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	var a args
	var cond []string
	// Filters beside the key are written so that no index serves them
	// (col || ''): read along the key, filter, stop after a page — not
	// every entry of an action in the city, sorted.
	if f.Action != "" && (f.Object != "" || len(f.Actors) > 0 || !f.AllScope) {
		cond = append(cond, "action || '' = "+a.add(f.Action))
	}
	if f.Result != "" {
		cond = append(cond, "result || '' = "+a.add(f.Result))
	}
	if !f.From.IsZero() {
		cond = append(cond, "at >= "+a.add(q.d.time(f.From)))
	}
	if !f.To.IsZero() {
		cond = append(cond, "at < "+a.add(q.d.time(f.To)))
	}
	if f.Before > 0 {
		cond = append(cond, "seq < "+a.add(f.Before))
	}
	// The key of the read, and the reach as a filter when it is not the key.
	var key string
	var values []string
	switch {
	case f.Object != "":
		// A case's trail is read whole (the caller checked the reach on
		// the case), like the case's own audit page.
		key, values = "object", []string{f.Object}
	case len(f.Actors) > 0:
		key, values = "actor", f.Actors
		if !f.AllScope {
			ph := make([]string, len(f.Divisions))
			for i, d := range f.Divisions {
				ph[i] = a.add(d)
			}
			cond = append(cond, "division IN ("+strings.Join(ph, ", ")+")")
		}
	case !f.AllScope:
		key, values = "division", f.Divisions
	case f.Action != "":
		key, values = "action", []string{f.Action}
	}
	lim := a.add(limit)
	where := func(extra ...string) string {
		all := append(append([]string{}, extra...), cond...)
		if len(all) == 0 {
			return ""
		}
		return " WHERE " + strings.Join(all, " AND ")
	}
	if key == "" {
		return `SELECT ` + auditColumns + ` FROM audit_log` + where() + ` ORDER BY seq DESC LIMIT ` + lim, a
	}
	if len(values) > maxAuditBranches {
		// A reach wider than a district (several districts, no city
		// grant): one read along the key's index over all its values.
		ph := make([]string, len(values))
		for i, v := range values {
			ph[i] = a.add(v)
		}
		return `SELECT ` + auditColumns + ` FROM audit_log` + where(key+" IN ("+strings.Join(ph, ", ")+")") +
			` ORDER BY seq DESC LIMIT ` + lim, a
	}
	var b strings.Builder
	for i, v := range values {
		if i > 0 {
			b.WriteString(" UNION ALL ")
		}
		p := a.add(v)
		fmt.Fprintf(&b, `SELECT %s FROM (SELECT %s FROM audit_log%s ORDER BY %s DESC, seq DESC LIMIT %s) AS b%d`,
			auditColumns, auditColumns, where(key+" >= "+p, key+" <= "+p), key, lim, i)
	}
	if len(values) == 1 {
		return b.String(), a
	}
	return b.String() + ` ORDER BY seq DESC LIMIT ` + lim, a
}

// AuditActorNames names accounts by their actor ids.
func (q q) AuditActorNames(ctx context.Context, actors []string) (map[string]string, error) {
	const op = "sqlstore.AuditActorNames"
	out := map[string]string{}
	var a args
	var ids, logins []string
	for _, x := range actors {
		switch kind, v, _ := strings.Cut(x, ":"); kind {
		case "user":
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				ids = append(ids, a.add(n))
			}
		case "system":
			logins = append(logins, a.add(v))
		}
	}
	var cond []string
	if len(ids) > 0 {
		cond = append(cond, "(kind <> 'system' AND id IN ("+strings.Join(ids, ", ")+"))")
	}
	if len(logins) > 0 {
		cond = append(cond, "(kind = 'system' AND login IN ("+strings.Join(logins, ", ")+"))")
	}
	if len(cond) == 0 {
		return out, nil
	}
	rows, err := q.ex.QueryContext(ctx, `SELECT id, kind, COALESCE(login, ''), name FROM users WHERE `+strings.Join(cond, " OR "), a...)
	if err != nil {
		return nil, dbError(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var kind, login, name string
		if err := rows.Scan(&id, &kind, &login, &name); err != nil {
			return nil, dbError(op, err)
		}
		out[actorID(id, kind, login)] = name
	}
	return out, dbError(op, rows.Err())
}

// actorID is how the audit trail names an account (portal.Actor.ID).
func actorID(id int64, kind, login string) string {
	if kind == string(portal.KindSystem) {
		return "system:" + login
	}
	return "user:" + strconv.FormatInt(id, 10)
}

// AuditActorsNamed finds accounts by login, mobile number or name (each
// column indexed).
func (q q) AuditActorsNamed(ctx context.Context, name string, limit int) ([]string, error) {
	const op = "sqlstore.AuditActorsNamed"
	rows, err := q.ex.QueryContext(ctx, `SELECT id, kind, COALESCE(login, '') FROM users WHERE login = $1
		UNION SELECT id, kind, COALESCE(login, '') FROM users WHERE mobile = $1
		UNION SELECT id, kind, COALESCE(login, '') FROM users WHERE name = $1
		ORDER BY 1 LIMIT $2`, name, limit)
	if err != nil {
		return nil, dbError(op, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id int64
		var kind, login string
		if err := rows.Scan(&id, &kind, &login); err != nil {
			return nil, dbError(op, err)
		}
		out = append(out, actorID(id, kind, login))
	}
	return out, dbError(op, rows.Err())
}

// LastAuditCheck returns the latest verification of the chain.
func (q q) LastAuditCheck(ctx context.Context) (*portal.AuditCheck, error) {
	const op = "sqlstore.LastAuditCheck"
	var c portal.AuditCheck
	err := q.ex.QueryRowContext(ctx, `SELECT id, at, actor, intact, entries, broken_seq, reason FROM audit_checks
		ORDER BY id DESC LIMIT 1`).Scan(&c.ID, scanTime{&c.At}, &c.Actor, &c.Intact, &c.Entries, &c.BrokenSeq, &c.Reason)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, portal.NotFound(fmt.Errorf("%s: none yet", op))
	}
	if err != nil {
		return nil, dbError(op, err)
	}
	return &c, nil
}

// InsertAuditCheck records a verification of the chain.
func (t *Tx) InsertAuditCheck(ctx context.Context, c *portal.AuditCheck) error {
	err := t.ex.QueryRowContext(ctx, `INSERT INTO audit_checks (at, actor, intact, entries, broken_seq, reason)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
		t.d.time(c.At), c.Actor, c.Intact, c.Entries, c.BrokenSeq, c.Reason).Scan(&c.ID)
	return dbError("sqlstore.InsertAuditCheck", err)
}
