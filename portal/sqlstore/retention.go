package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"tzportal/portal"
)

// CasesToAnonymise lists closed cases past retention that still hold
// personal data (the partial index cases_to_anonymise), but those whose
// certificate lives on (valid, or suspended and still to be endorsed): the
// holder's data stays as long as the certificate can be verified.
func (q q) CasesToAnonymise(ctx context.Context, service string, states []string, before time.Time, limit int) ([]string, error) {
	if len(states) == 0 {
		return nil, nil
	}
	args := []any{service, q.d.time(before), limit}
	marks := make([]string, len(states))
	for i, s := range states {
		args = append(args, s)
		marks[i] = fmt.Sprintf("$%d", len(args))
	}
	rows, err := q.ex.QueryContext(ctx, `SELECT case_no FROM cases
		WHERE service = $1 AND state IN (`+strings.Join(marks, ", ")+`) AND state_since < $2 AND anonymised_at IS NULL
			AND NOT EXISTS (SELECT 1 FROM certificates k WHERE k.case_id = cases.id AND k.status IN ('valid', 'suspended'))
		ORDER BY state_since, id LIMIT $3`, args...)
	if err != nil {
		return nil, dbError("sqlstore.CasesToAnonymise", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var no string
		if err := rows.Scan(&no); err != nil {
			return nil, dbError("sqlstore.CasesToAnonymise", err)
		}
		out = append(out, no)
	}
	return out, dbError("sqlstore.CasesToAnonymise", rows.Err())
}

// AnonymiseCase replaces a case's form and result and marks it, and clears
// its rating's comment and its follow-up's notes.
func (t *Tx) AnonymiseCase(ctx context.Context, id int64, form, result json.RawMessage, at time.Time) error {
	res, err := t.ex.ExecContext(ctx, `UPDATE cases SET form = $1, result = $2, anonymised_at = $3 WHERE id = $4 AND anonymised_at IS NULL`,
		string(form), jsonOr(result, "{}"), t.d.time(at), id)
	if err != nil {
		return dbError("sqlstore.AnonymiseCase", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return &portal.Error{Code: portal.ECONFLICT, Message: "error.case_conflict", Err: fmt.Errorf("sqlstore.AnonymiseCase(%d): done already", id)}
	}
	// The applicant's words about the case go with it (好差评: the comment;
	// the follow-up's notes of the call back and the fix). The score and
	// the dates stay: the rates are statistics.
	if _, err := t.ex.ExecContext(ctx, `UPDATE ratings SET comment = '' WHERE case_id = $1 AND comment <> ''`, id); err != nil {
		return dbError("sqlstore.AnonymiseCase ratings", err)
	}
	if _, err := t.ex.ExecContext(ctx, `UPDATE rating_follow_ups SET visit_note = '', closing_note = '' WHERE case_id = $1
		AND (visit_note <> '' OR closing_note <> '')`, id); err != nil {
		return dbError("sqlstore.AnonymiseCase follow-ups", err)
	}
	return nil
}
