package fsck_test

import (
	"context"
	"strings"
	"testing"

	"tzportal/portal/fsck"
	"tzportal/portal/testkit"
)

// TestFsck builds cases through the real portal, then breaks the database
// the ways a crash, a bug or a hand edit could, and expects fsck to name each.
func TestFsck(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		p := testkit.Start(t, b, nil)
		p.MustStaff(t, "clerk1", "street_clerk", "321202001")
		clerk := p.NewClient(t)
		clerk.Login("clerk1")
		var nos []string
		for i := 0; i < 4; i++ {
			_, a := p.NewApplicant(t, "申请人") // one open application each
			r := a.Do("POST", "/api/v1/cases", map[string]any{"service": "residence-permit", "form": testkit.ResidenceForm()})
			no := r.JSON(t)["case_no"].(string)
			a.AttachAll(no) // submit and accept need the checklist's materials
			a.Do("POST", "/api/v1/cases/"+no+"/events/submit", nil)
			clerk.Do("POST", "/api/v1/cases/"+no+"/events/accept", nil)
			nos = append(nos, no)
		}
		ctx := context.Background()
		check := func() []string {
			t.Helper()
			res, err := fsck.Check(ctx, p.DB, p.Engine.Definitions(), p.Audit)
			if err != nil {
				t.Fatal(err)
			}
			if res.Cases != 4 {
				t.Errorf("checked %d cases", res.Cases)
			}
			var out []string
			for _, v := range res.Violations {
				out = append(out, v.String())
			}
			return out
		}
		if v := check(); len(v) != 0 {
			t.Fatalf("a healthy database: %v", v)
		}
		db := p.DB.SQL()
		exec := func(q string, args ...any) {
			t.Helper()
			if _, err := db.Exec(q, args...); err != nil {
				t.Fatal(err)
			}
		}
		// A version that ran ahead of the history (a lost history row).
		exec("UPDATE cases SET version = 4 WHERE case_no = $1", nos[0])
		// A state change no workflow allows (draft → approved).
		exec("UPDATE case_history SET to_state = 'approved' WHERE seq = 1 AND case_id = (SELECT id FROM cases WHERE case_no = $1)", nos[1])
		// A state that is not where the history ended.
		exec("UPDATE cases SET state = 'approved' WHERE case_no = $1", nos[2])
		// A transition with no audit entry: move its row to a version nothing audited.
		exec("DELETE FROM case_history WHERE seq = 3 AND case_id = (SELECT id FROM cases WHERE case_no = $1)", nos[3])
		exec("INSERT INTO case_history (case_id, seq, event, from_state, to_state, actor_role, at) SELECT id, 3, 'accept', 'submitted', 'reviewing', 'street_clerk', updated_at FROM cases WHERE case_no = $1", nos[3])
		if b.Postgres {
			exec("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change")
		} else {
			exec("DROP TRIGGER audit_log_no_update")
		}
		exec("UPDATE audit_log SET detail = '{\"version\":99}' WHERE action = 'case.accept' AND object = $1", "case:"+nos[3])
		// A case handed in but gone from staff's queue (nobody would see it).
		exec("UPDATE cases SET in_queue = false WHERE case_no = $1", nos[0])
		// An open case that lost its claim (a second application could slip in).
		exec("DELETE FROM case_claims WHERE case_id = (SELECT id FROM cases WHERE case_no = $1)", nos[3])
		// A case on a waiting list in a state that is no list's.
		exec("INSERT INTO case_lists (case_id, list, case_no, applicant_id, class, class_rank, prior_rank, joined_at, label) SELECT id, 'x/321202/y', case_no, applicant_id, 'general', 0, 0, updated_at, '' FROM cases WHERE case_no = $1", nos[2])
		got := strings.Join(check(), "\n")
		for _, want := range []string{
			nos[0] + ": version 4 but 3 history rows",
			nos[2] + ": in approved, not a listed state, but on the list x/321202/y",
			nos[0] + ": in staff's queue is false in state reviewing (want true)",
			nos[1] + `: history row 1: create from "" to "approved" is not allowed`,
			nos[1] + `: history row 2 starts in "draft", but the case was in "approved"`,
			nos[2] + `: the case is in "approved" but its history ends in "reviewing"`,
			nos[3] + ": history row 3 (accept) has no audit entry",
			nos[3] + ": an open case without its claim residence-permit|applicant:",
			"audit chain broken at entry",
		} {
			if !strings.Contains(got, want) {
				t.Errorf("fsck does not report %q; it said:\n%s", want, got)
			}
		}
	})
}
