package server_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tzportal/portal"
	"tzportal/portal/fsck"
	"tzportal/portal/matching"
	"tzportal/portal/testkit"
)

// A cohort operation cut short (here: a batch's transaction fails) leaves
// its record unfinished and none of the batch's cases half-moved; fsck says
// so, and running the same operation again resumes it: every case moves
// exactly once, with the outcome computed the first time.
func TestCohortOperationsResume(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		var armed atomic.Bool
		action := &atomic.Value{}
		action.Store("")
		p := testkit.StartWith(t, testkit.Options{Backend: b, WrapStore: func(s portal.Store) portal.Store {
			return cohortFault{s, action, &armed}
		}})
		ctx := context.Background()
		p.MustStaff(t, "officer", "district_officer", "321202")
		schoolingSetup(t, p)
		p.Clock.Advance(12 * 24 * time.Hour) // the window is open
		officer := p.NewClient(t)
		officer.Login("officer")
		var nos []string
		for i, f := range []map[string]any{
			childForm("王小甲", "20210315", "321202001", 48, true, "HL-CD-01", "HL-CD-02"),
			childForm("李小乙", "20201120", "321202001", 12, false, "HL-CD-01"),
		} {
			_, c := p.NewApplicant(t, []string{"王五", "李四"}[i])
			r := c.Do("POST", "/api/v1/cases", map[string]any{"service": "school-enrollment", "form": f})
			if r.Status != http.StatusCreated {
				t.Fatalf("create: %d %s", r.Status, r.Body)
			}
			no := r.JSON(t)["case_no"].(string)
			c.AttachAll(no)
			fire(t, c, no, "submit", nil, 200)
			fire(t, officer, no, "verify", nil, 200)
			nos = append(nos, no)
		}
		p.Clock.Advance(20 * 24 * time.Hour) // closed
		officer.Login("officer")
		seed := strings.Repeat("c0ffee", 6)
		steps := func(event string) int {
			return p.Count(t, `SELECT count(*) FROM case_history WHERE event = $1`, event)
		}
		cutShort := func(want int) {
			t.Helper()
			v, err := fsck.CheckCohorts(ctx, p.DB)
			if err != nil || len(v) != want {
				t.Errorf("fsck: %v %v, want %d cut short", v, err, want)
			}
		}

		for _, op := range []struct {
			event, path string
			body        map[string]any
		}{
			{"publish", "/api/v1/enrollment-lists", map[string]any{"district": "321202", "year": 2027, "grade": "1", "commitment": matching.Commitment(seed)}},
			{"allocate", "/api/v1/allocations", map[string]any{"district": "321202", "year": 2027, "grade": "1", "seed": seed}},
		} {
			if op.event == "allocate" {
				p.Clock.Advance(10 * 24 * time.Hour) // past the appeal days
				officer.Login("officer")
			}
			action.Store("case." + op.event)
			armed.Store(true)
			if r := officer.Do("POST", op.path, op.body); r.Status != 500 {
				t.Fatalf("%s with the batch failing: %d %s", op.event, r.Status, r.Body)
			}
			armed.Store(false)
			if n := steps(op.event); n != 0 {
				t.Fatalf("%s: %d cases moved by a batch that failed", op.event, n)
			}
			cutShort(1)
			if r := officer.Do("POST", op.path, op.body); r.Status != 201 {
				t.Fatalf("%s again: %d %s", op.event, r.Status, r.Body)
			}
			if n := steps(op.event); n != len(nos) {
				t.Errorf("%s: %d steps after resuming, want %d", op.event, n, len(nos))
			}
			cutShort(0)
			if r := officer.Do("POST", op.path, op.body); r.Status != 409 {
				t.Errorf("%s a third time: %d", op.event, r.Status)
			}
		}
		if n := p.Count(t, `SELECT count(*) FROM cohorts WHERE finished_at IS NOT NULL AND done = total`); n != 2 {
			t.Errorf("finished cohorts: %d", n)
		}
		if _, err := p.Audit.Verify(ctx, p.DB); err != nil {
			t.Errorf("audit chain: %v", err)
		}
		res, err := fsck.Check(ctx, p.DB, p.Engine.Definitions(), p.Audit)
		if err != nil || len(res.Violations) > 0 {
			t.Errorf("fsck: %v %v", res, err)
		}
	})
}

// cohortFault fails the audit entry of one action while armed: the
// transaction of that step, and every other of its batch, rolls back.
type cohortFault struct {
	portal.Store
	action *atomic.Value
	armed  *atomic.Bool
}

func (s cohortFault) Tx(ctx context.Context, fn func(portal.Tx) error) error {
	return s.Store.Tx(ctx, func(tx portal.Tx) error {
		return fn(auditFaultTx{tx, s.action.Load().(string), s.armed})
	})
}
