package sqlstore_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"tzportal/portal"
	"tzportal/portal/sqlstore"
)

// FactsInState reads the keys asked for as JSON text — strings quoted,
// booleans and numbers as written, nil when absent — the same on both
// databases, by id after the cursor, within the district, service and state.
func TestFactsInState(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		app := MustApplicant(t, db, "张三", 1)
		at := time.Date(2026, 11, 28, 9, 30, 0, 0, shanghai)
		var ids []int64
		for i, form := range []string{
			`{"kind":"public_rental","family_migrated":true,"elderly":false,"n":12.5}`,
			`{"kind":"affordable_rental","n":3}`,
		} {
			c := newCase("TZRP20261128"+string(rune('1'+i))+"00000", app.ID, "321202001", "321202", "waiting", at)
			c.Form = json.RawMessage(form)
			c.Result = json.RawMessage(`{"notice_applicant":"张*","draw_rank":7}`)
			ids = append(ids, MustCase(t, db, c).ID)
		}
		other := newCase("TZRP20261128900000", app.ID, "321203001", "321203", "waiting", at) // another district
		MustCase(t, db, other)

		got, err := db.FactsInState(ctx, "residence-permit", "321202", "waiting", []string{"kind", "family_migrated", "elderly", "n"},
			[]string{"notice_applicant", "draw_rank", "absent"}, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].ID != ids[0] || got[1].ID != ids[1] || got[0].ApplicantID != app.ID || got[0].No != "TZRP20261128100000" {
			t.Fatalf("facts: %+v", got)
		}
		text := func(raw []json.RawMessage) []string {
			var out []string
			for _, r := range raw {
				if r == nil {
					out = append(out, "<nil>")
					continue
				}
				var v any // compared by meaning: jsonb may write a number its own way
				if err := json.Unmarshal(r, &v); err != nil {
					t.Fatalf("not JSON: %q", r)
				}
				b, _ := json.Marshal(v)
				out = append(out, string(b))
			}
			return out
		}
		for i, want := range [][]string{
			{`"public_rental"`, `true`, `false`, `12.5`, `"张*"`, `7`, `<nil>`},
			{`"affordable_rental"`, `<nil>`, `<nil>`, `3`, `"张*"`, `7`, `<nil>`},
		} {
			if g := append(text(got[i].Form), text(got[i].Result)...); !slices.Equal(g, want) {
				t.Errorf("case %d: %v, want %v", i, g, want)
			}
		}
		// The cursor and the limit.
		if page, err := db.FactsInState(ctx, "residence-permit", "321202", "waiting", []string{"kind"}, nil, ids[0], 10); err != nil ||
			len(page) != 1 || page[0].ID != ids[1] {
			t.Errorf("after the first: %+v %v", page, err)
		}
		if page, _ := db.FactsInState(ctx, "residence-permit", "321202", "waiting", nil, nil, 0, 1); len(page) != 1 {
			t.Errorf("limit 1: %d", len(page))
		}
		// A key of another shape is refused, never put in SQL.
		if _, err := db.FactsInState(ctx, "residence-permit", "321202", "waiting", []string{"kind') --"}, nil, 0, 1); err == nil {
			t.Error("a key with SQL in it was read")
		}
		var _ portal.Reader = db // FactsInState is part of what every reader offers
	})
}
