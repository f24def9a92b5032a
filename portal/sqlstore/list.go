package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"tzportal/portal"
)

// noPriorRank is the prior_rank of an entry without one: after every rank.
const noPriorRank = 1<<31 - 1

const listEntryColumns = `list, case_id, case_no, applicant_id, class, class_rank, prior_rank, joined_at, label`

// listOrder is a list's order, as the index case_lists_order keeps it.
const listOrder = `class_rank, prior_rank, joined_at, case_id`

func scanListEntry(r rowScanner) (portal.ListEntry, error) {
	var e portal.ListEntry
	// The ranks are scanned as int64: into an int, database/sql formats
	// and parses each one.
	var classRank, priorRank int64
	err := r.Scan(&e.List, &e.CaseID, &e.CaseNo, &e.ApplicantID, &e.Class, &classRank, &priorRank, scanTime{&e.JoinedAt}, &e.Label)
	e.ClassRank, e.PriorRank = int(classRank), int(priorRank)
	if e.PriorRank == noPriorRank {
		e.PriorRank = 0
	}
	return e, err
}

func priorRank(e *portal.ListEntry) int {
	if e.PriorRank <= 0 {
		return noPriorRank
	}
	return e.PriorRank
}

// ListMembers reads a whole list in order along case_lists_order (on
// SQLite, along case_lists_members in one value: listMembersSQLite).
func (q q) ListMembers(ctx context.Context, list string) ([]portal.ListMember, error) {
	if q.d.name() == "sqlite" {
		if out, ok, err := q.listMembersSQLite(ctx, list); ok || err != nil {
			return out, err
		}
	}
	rows, err := q.ex.QueryContext(ctx, `SELECT case_id, case_no, applicant_id, class, label FROM case_lists
		WHERE list = $1 ORDER BY `+listOrder, list)
	if err != nil {
		return nil, dbError("sqlstore.ListMembers", err)
	}
	defer rows.Close()
	var out []portal.ListMember
	for rows.Next() {
		var m portal.ListMember
		if err := rows.Scan(&m.CaseID, &m.CaseNo, &m.ApplicantID, &m.Class, &m.Label); err != nil {
			return nil, dbError("sqlstore.ListMembers", err)
		}
		out = append(out, m)
	}
	return out, dbError("sqlstore.ListMembers", rows.Err())
}

// listMembersSQLite is ListMembers on SQLite in one value: the entries
// along case_lists_members, each its generated column entry — "case_id
// applicant_id class_rank prior_rank" and the byte lengths of the case
// number, class, joined_at and label, then those four back to back —
// concatenated in the list's order. The driver takes
// the connection's mutex for every column of every row, and a draw reads a
// hundred thousand rows: read as one value of stored forms, a list took a
// third of the time (about 50 ms against 160). SQLite concatenates an aggregate's rows in its subquery's order,
// but does not promise it: the order is checked here, and false (a list
// out of order) sends the caller to read it row by row. The classes and
// the labels repeat (a handful of classes, masked names), so each
// distinct one is kept once; the case numbers are copied out of the value,
// which is not kept.
func (q q) listMembersSQLite(ctx context.Context, list string) ([]portal.ListMember, bool, error) {
	const op = "sqlstore.ListMembers"
	var all sql.NullString
	// entry is a generated column (migration 00025) that the index
	// holds: each entry's value was made when it was written.
	err := q.ex.QueryRowContext(ctx, `SELECT string_agg(entry, '') FROM (SELECT entry
		FROM case_lists INDEXED BY case_lists_members WHERE list = $1 ORDER BY `+listOrder+`)`, list).Scan(&all)
	if err != nil {
		return nil, false, dbError(op, err)
	}
	seen := map[string]string{}
	intern := func(s string) string {
		if v, ok := seen[s]; ok {
			return v
		}
		s = strings.Clone(s)
		seen[s] = s
		return s
	}
	var out []portal.ListMember
	var prev struct {
		classRank, priorRank int64
		joined               string
		caseID               int64
	}
	var nums [8]int64
	for rest := all.String; rest != ""; {
		for i := range nums {
			f, r, ok := strings.Cut(rest, " ")
			n, err := strconv.ParseInt(f, 10, 64)
			if !ok || err != nil || (i >= 4 && n < 0) {
				return nil, false, fmt.Errorf("%s: entry %d of %s", op, len(out)+1, list)
			}
			nums[i], rest = n, r
		}
		nNo, nClass, nJoined, nLabel := int(nums[4]), int(nums[5]), int(nums[6]), int(nums[7])
		if nNo+nClass+nJoined+nLabel > len(rest) {
			return nil, false, fmt.Errorf("%s: entry %d of %s", op, len(out)+1, list)
		}
		if out == nil { // the entries are of about the same length as the first
			out = make([]portal.ListMember, 0, len(all.String)/(len(all.String)-len(rest)+nNo+nClass+nJoined+nLabel)*9/8+1)
		}
		m := portal.ListMember{CaseID: nums[0], ApplicantID: nums[1], CaseNo: strings.Clone(rest[:nNo]),
			Class: intern(rest[nNo : nNo+nClass]), Label: intern(rest[nNo+nClass+nJoined : nNo+nClass+nJoined+nLabel])}
		joined := rest[nNo+nClass : nNo+nClass+nJoined]
		rest = rest[nNo+nClass+nJoined+nLabel:]
		if len(out) > 0 && cmp.Or(cmp.Compare(prev.classRank, nums[2]), cmp.Compare(prev.priorRank, nums[3]),
			strings.Compare(prev.joined, joined), cmp.Compare(prev.caseID, m.CaseID)) >= 0 {
			return nil, false, nil
		}
		prev.classRank, prev.priorRank, prev.joined, prev.caseID = nums[2], nums[3], joined, m.CaseID
		out = append(out, m)
	}
	return out, true, nil
}

// ListPlace reads a case's entry, then counts its list along the index:
// the entries before it and all of them, in one pass.
func (q q) ListPlace(ctx context.Context, caseID int64) (*portal.ListEntry, int, int, error) {
	e, err := scanListEntry(q.ex.QueryRowContext(ctx, `SELECT `+listEntryColumns+` FROM case_lists WHERE case_id = $1`, caseID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, 0, portal.NotFound(fmt.Errorf("sqlstore.ListPlace: case %d is on no list", caseID))
	}
	if err != nil {
		return nil, 0, 0, dbError("sqlstore.ListPlace", err)
	}
	var before, of int
	err = q.ex.QueryRowContext(ctx, `SELECT COALESCE(SUM(CASE WHEN (`+listOrder+`) < ($2, $3, $4, $5) THEN 1 ELSE 0 END), 0), COUNT(*)
		FROM case_lists WHERE list = $1`, e.List, e.ClassRank, priorRank(&e), q.d.time(e.JoinedAt), e.CaseID).Scan(&before, &of)
	if err != nil {
		return nil, 0, 0, dbError("sqlstore.ListPlace", err)
	}
	return &e, before + 1, of, nil
}

// ListedOf reads the lists of the cases that have an entry.
func (q q) ListedOf(ctx context.Context, caseIDs []int64) (map[int64]string, error) {
	out := map[int64]string{}
	if len(caseIDs) == 0 {
		return out, nil
	}
	args := make([]any, len(caseIDs))
	for i, id := range caseIDs {
		args[i] = id
	}
	rows, err := q.ex.QueryContext(ctx, `SELECT case_id, list FROM case_lists WHERE case_id IN (`+placeholders(len(args))+`)`, args...)
	if err != nil {
		return nil, dbError("sqlstore.ListedOf", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var list string
		if err := rows.Scan(&id, &list); err != nil {
			return nil, dbError("sqlstore.ListedOf", err)
		}
		out[id] = list
	}
	return out, dbError("sqlstore.ListedOf", rows.Err())
}

// listBatch bounds the entries one statement writes (9 parameters each:
// under both databases' limits).
const listBatch = 1000

// PutListEntries upserts the entries, listBatch to a statement.
func (t *Tx) PutListEntries(ctx context.Context, es []portal.ListEntry) error {
	for len(es) > 0 {
		part := es[:min(listBatch, len(es))]
		es = es[len(part):]
		var sb strings.Builder
		args := make([]any, 0, 9*len(part))
		for i := range part {
			e := &part[i]
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteByte('(')
			for j, v := range []any{e.List, e.CaseID, e.CaseNo, e.ApplicantID, e.Class, e.ClassRank, priorRank(e), t.d.time(e.JoinedAt), e.Label} {
				if j > 0 {
					sb.WriteString(", ")
				}
				args = append(args, v)
				sb.WriteString(t.d.param(len(args)))
			}
			sb.WriteByte(')')
		}
		if _, err := t.ex.ExecContext(ctx, `INSERT INTO case_lists (`+listEntryColumns+`) VALUES `+sb.String()+`
			ON CONFLICT (case_id) DO UPDATE SET list = excluded.list, case_no = excluded.case_no,
			applicant_id = excluded.applicant_id, class = excluded.class, class_rank = excluded.class_rank,
			prior_rank = excluded.prior_rank, joined_at = excluded.joined_at, label = excluded.label`, args...); err != nil {
			return dbError("sqlstore.PutListEntries", err)
		}
	}
	return nil
}

// DropListEntry deletes a case's entry.
func (t *Tx) DropListEntry(ctx context.Context, caseID int64) error {
	if t.held != nil {
		t.held.drops = append(t.held.drops, caseID)
		return nil
	}
	_, err := t.ex.ExecContext(ctx, `DELETE FROM case_lists WHERE case_id = $1`, caseID)
	return dbError("sqlstore.DropListEntry", err)
}

// UnlistedCases reads cases in a state without an entry, by id, locked:
// a step taking one out of the state waits, then finds its entry to drop.
func (t *Tx) UnlistedCases(ctx context.Context, service, state string, afterID int64, limit int) ([]portal.Case, error) {
	lock := ""
	if t.d.name() == "postgres" {
		lock = " FOR UPDATE OF c"
	}
	rows, err := t.ex.QueryContext(ctx, `SELECT `+prefixed("c.", caseColumns)+` FROM cases c
		WHERE c.service = $1 AND c.state = $2 AND c.id > $3
		AND NOT EXISTS (SELECT 1 FROM case_lists l WHERE l.case_id = c.id) ORDER BY c.id LIMIT $4`+lock,
		service, state, afterID, limit)
	if err != nil {
		return nil, dbError("sqlstore.UnlistedCases", err)
	}
	defer rows.Close()
	var out []portal.Case
	for rows.Next() {
		c, err := scanCase(rows)
		if err != nil {
			return nil, dbError("sqlstore.UnlistedCases", err)
		}
		out = append(out, *c)
	}
	return out, dbError("sqlstore.UnlistedCases", rows.Err())
}

// DropStaleListEntries deletes the entries of a service's cases that are
// in none of its listed states.
func (t *Tx) DropStaleListEntries(ctx context.Context, service string, listed []string) (int, error) {
	args := []any{service}
	marks := make([]string, len(listed))
	for i, st := range listed {
		args = append(args, st)
		marks[i] = fmt.Sprintf("$%d", len(args))
	}
	notIn := ""
	if len(marks) > 0 {
		notIn = " AND c.state NOT IN (" + strings.Join(marks, ", ") + ")"
	}
	res, err := t.ex.ExecContext(ctx, `DELETE FROM case_lists WHERE case_id IN (SELECT c.id FROM cases c
		JOIN case_lists l ON l.case_id = c.id WHERE c.service = $1`+notIn+`)`, args...)
	if err != nil {
		return 0, dbError("sqlstore.DropStaleListEntries", err)
	}
	n, err := res.RowsAffected()
	return int(n), dbError("sqlstore.DropStaleListEntries", err)
}
