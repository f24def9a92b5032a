package server_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tzportal/portal/fsck"
	"tzportal/portal/materials"
	"tzportal/portal/testkit"
	"tzportal/portal/workflow"
)

// Retention: a closed case keeps its personal data for its service's days
// (workflows/residence-permit.yaml: 365 after a withdrawal, 1,095 after a
// decision), then the job strips its form and result to the keys kept and
// deletes its materials, once, audited; a case whose permit lives keeps
// everything; history, audit chain and fsck hold.
func TestRetention(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		j := newJourney(t, b)
		ctx := context.Background()
		p := j.p
		// 王… refused; then a second application, withdrawn; 李… approved.
		refused := j.create(t, j.alice, testkit.ResidenceForm())
		fire(t, j.alice, refused, "submit", nil, 200)
		fire(t, j.clerk, refused, "reject", map[string]any{"reason": "居住时间不足"}, 200)
		withdrawn := j.create(t, j.alice, testkit.ResidenceForm())
		fire(t, j.alice, withdrawn, "submit", nil, 200)
		fire(t, j.alice, withdrawn, "withdraw", nil, 200)
		approved := j.create(t, j.bob, testkit.ResidenceForm())
		fire(t, j.bob, approved, "submit", nil, 200)
		fire(t, j.clerk, approved, "accept", nil, 200)
		fire(t, j.clerk, approved, "approve", nil, 200)
		personal := testkit.ResidenceForm()["address"]

		run := func() int {
			t.Helper()
			n, err := p.Engine.Anonymise(ctx, 500)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := run(); n != 0 {
			t.Fatalf("anonymised %d cases on the day they closed", n)
		}
		anonymised := func(no string) bool {
			return p.Count(t, `SELECT count(*) FROM cases WHERE case_no = $1 AND anonymised_at IS NOT NULL`, no) == 1
		}
		p.Clock.Advance(366 * 24 * time.Hour)
		if n := run(); n != 1 || !anonymised(withdrawn) || anonymised(refused) || anonymised(approved) {
			t.Fatalf("a year on: %d anonymised (withdrawn %t, refused %t, approved %t)", n, anonymised(withdrawn), anonymised(refused), anonymised(approved))
		}
		p.Clock.Advance(730 * 24 * time.Hour)
		// Two nodes at once: each case once.
		done := make(chan int, 2)
		for range 2 {
			go func() {
				n, err := p.Engine.Anonymise(ctx, 500)
				if err != nil {
					t.Error(err)
				}
				done <- n
			}()
		}
		if n := <-done + <-done; n != 1 || !anonymised(refused) || anonymised(approved) {
			t.Fatalf("three years on: %d anonymised (refused %t; the approved case's permit lives: %t)", n, anonymised(refused), anonymised(approved))
		}
		if n := run(); n != 0 {
			t.Errorf("a second run anonymised %d more", n)
		}

		// What is left of the refused case: the keys kept, no files; its
		// history and its audit trail whole. The approved one is untouched.
		j.sup.Login("sup")
		r := j.sup.Get("/api/v1/cases/" + refused)
		if r.Status != http.StatusOK {
			t.Fatalf("the anonymised case: %d %s", r.Status, r.Body)
		}
		m := r.JSON(t)
		form := m["form"].(map[string]any)
		if len(form) != 2 || form["basis"] == nil || form["division"] == nil || strings.Contains(r.Text(), personal) {
			t.Errorf("form kept: %v", form)
		}
		if res := m["result"].(map[string]any); res["anonymised_on"] != p.Clock.Now().In(p.Engine.Calendar.Zone).Format(time.DateOnly) {
			t.Errorf("result kept: %v", res)
		}
		if n := p.Count(t, `SELECT count(*) FROM materials m JOIN cases c ON c.id = m.case_id WHERE c.case_no = $1`, refused); n != 0 {
			t.Errorf("%d materials left", n)
		}
		if n := p.Count(t, `SELECT count(*) FROM materials m JOIN cases c ON c.id = m.case_id WHERE c.case_no = $1`, approved); n == 0 {
			t.Error("the approved case's materials went")
		}
		if n := p.Count(t, `SELECT count(*) FROM case_history h JOIN cases c ON c.id = h.case_id WHERE c.case_no = $1`, refused); n != 3 {
			t.Errorf("history of the refused case: %d steps", n)
		}
		if n := p.Count(t, `SELECT count(*) FROM audit_log WHERE action = $1 AND object = $2 AND actor = $3`,
			workflow.AnonymiseAction, "case:"+refused, workflow.Scheduler); n != 1 {
			t.Errorf("%d audit entries of the anonymisation", n)
		}
		if _, err := p.Audit.Verify(ctx, p.DB); err != nil {
			t.Errorf("audit verify: %v", err)
		}
		check, err := fsck.Check(ctx, p.DB, p.Engine.Definitions(), p.Audit)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range check.Violations {
			t.Errorf("fsck: %s: %s", v.Case, v.Reason)
		}
		var files fsck.FileLister // SQLite keeps the files in a directory, PostgreSQL in the database
		if !b.Postgres {
			files = materials.Dir{Root: filepath.Join(p.Config.DataDir, "materials")}
		}
		mv, err := fsck.CheckMaterials(ctx, p.DB, files)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range mv {
			t.Errorf("fsck materials: %v", v)
		}
	})
}
