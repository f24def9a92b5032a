package sqlstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"tzportal/portal"
	"tzportal/portal/sqlstore"
)

// auditEntry returns entry seq of a fake chain: sqlstore stores what it is
// given, sealing is the audit package's job.
func auditEntry(seq int64, object string, at time.Time) portal.AuditEntry {
	prev := ""
	if seq > 1 {
		prev = fmt.Sprintf("h%d", seq-1)
	}
	return portal.AuditEntry{Seq: seq, At: at, Actor: fmt.Sprintf("user:%d", seq), Role: "street_clerk", Division: "321202001",
		Action: "case.read", Object: object, Result: "ok", IP: "10.0.0.1", Detail: json.RawMessage(`{"n":1}`),
		PrevHash: prev, Hash: fmt.Sprintf("h%d", seq)}
}

func TestAuditLog(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		MustTx(t, db, func(tx portal.Tx) error {
			seq, hash, err := tx.LockAuditHead(ctx)
			if err != nil || seq != 0 || hash != "" {
				t.Errorf("LockAuditHead on a fresh db = %d, %q, %v; want 0, \"\"", seq, hash, err)
			}
			return nil
		})
		at := time.Date(2026, 11, 28, 9, 0, 0, 123456000, time.UTC)
		var entries []portal.AuditEntry
		for i := int64(1); i <= 7; i++ {
			e := auditEntry(i, fmt.Sprintf("case:%d", i%2), at.Add(time.Duration(i)*time.Second))
			if i == 7 {
				e.Detail = nil // stored as {}
			}
			MustTx(t, db, func(tx portal.Tx) error {
				seq, hash, err := tx.LockAuditHead(ctx)
				if err != nil {
					return err
				}
				if seq != i-1 || hash != e.PrevHash {
					t.Errorf("head before entry %d = %d, %q; want %d, %q", i, seq, hash, i-1, e.PrevHash)
				}
				return tx.AppendAudit(ctx, &e)
			})
			if e.Detail == nil {
				e.Detail = json.RawMessage(`{}`)
			}
			entries = append(entries, e)
			seq, hash, err := db.AuditHead(ctx)
			if err != nil || seq != i || hash != e.Hash {
				t.Errorf("AuditHead after entry %d = %d, %q, %v; want %d, %q", i, seq, hash, err, i, e.Hash)
			}
		}

		t.Run("AuditAfter pages", func(t *testing.T) {
			var got []portal.AuditEntry
			var after int64
			for range 10 {
				page, err := db.AuditAfter(ctx, after, 3)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) == 0 {
					break
				}
				got = append(got, page...)
				after = page[len(page)-1].Seq
			}
			if diff := cmp.Diff(entries, got, rawText, timeEqual); diff != "" {
				t.Errorf("AuditAfter (-want +got):\n%s", diff)
			}
		})
		t.Run("AuditByObject", func(t *testing.T) {
			got, err := db.AuditByObject(ctx, "case:0", 100)
			if err != nil {
				t.Fatal(err)
			}
			var want []portal.AuditEntry
			for _, e := range entries {
				if e.Object == "case:0" {
					want = append(want, e)
				}
			}
			if diff := cmp.Diff(want, got, rawText, timeEqual); diff != "" {
				t.Errorf("AuditByObject (-want +got):\n%s", diff)
			}
			got, err = db.AuditByObject(ctx, "case:1", 2)
			if err != nil || len(got) != 2 || got[0].Seq != 1 || got[1].Seq != 3 {
				t.Errorf("AuditByObject(case:1, 2) = %v, %v; want entries 1 and 3", got, err)
			}
		})

		refused := []struct {
			name, sql string
			only      string // dialect, "" = both
		}{
			{"update", `UPDATE audit_log SET actor = 'forged' WHERE seq = 3`, ""},
			{"delete", `DELETE FROM audit_log WHERE seq = 7`, ""},
			{"delete all", `DELETE FROM audit_log`, ""},
			{"truncate", `TRUNCATE audit_log`, "postgres"},
		}
		for _, tt := range refused {
			if tt.only != "" && tt.only != db.Dialect() {
				continue
			}
			t.Run("refuses "+tt.name, func(t *testing.T) {
				if _, err := db.SQL().Exec(tt.sql); err == nil {
					t.Errorf("%s succeeded, want the append-only trigger to refuse it", tt.sql)
				}
				got, err := db.AuditAfter(ctx, 0, 100)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(entries, got, rawText, timeEqual); diff != "" {
					t.Errorf("audit_log changed (-want +got):\n%s", diff)
				}
			})
		}
	})
}

// rawText compares raw JSON byte for byte: the audit detail is sealed as text.
var rawText = cmp.Comparer(func(a, b json.RawMessage) bool { return string(a) == string(b) })

func TestJobs(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		app := MustApplicant(t, db, "张三", 1)
		now := time.Date(2026, 11, 30, 10, 0, 0, 0, shanghai)
		c1 := MustCase(t, db, newCase("TZRP1", app.ID, "321202001", "321202", "submitted", now))
		c2 := MustCase(t, db, newCase("TZRP2", app.ID, "321202001", "321202", "correction", now))
		jobs := []*portal.Job{
			{CaseID: c1.ID, Event: "remind", Version: 2, DueAt: now.Add(-2 * time.Hour)},
			{CaseID: c2.ID, Event: "withdraw", Version: 3, DueAt: now}, // due exactly now
			{CaseID: c1.ID, Event: "escalate", Version: 2, DueAt: now.Add(time.Microsecond)},
			{CaseID: c2.ID, Event: "late", Version: 3, DueAt: now.Add(24 * time.Hour)},
		}
		MustTx(t, db, func(tx portal.Tx) error {
			for _, j := range jobs {
				if err := tx.InsertJob(ctx, j); err != nil {
					return err
				}
				if j.ID == 0 {
					t.Error("InsertJob did not set ID")
				}
			}
			return nil
		})
		withNo := func(j *portal.Job, no string) portal.Job { c := *j; c.CaseNo = no; return c }

		got, err := db.DueJobs(ctx, now, 100)
		if err != nil {
			t.Fatal(err)
		}
		want := []portal.Job{withNo(jobs[0], "TZRP1"), withNo(jobs[1], "TZRP2")}
		if diff := cmp.Diff(want, got, timeEqual); diff != "" {
			t.Errorf("DueJobs(now) (-want +got):\n%s", diff)
		}
		if got, _ := db.DueJobs(ctx, now, 1); len(got) != 1 || got[0].ID != jobs[0].ID {
			t.Errorf("DueJobs(now, 1) = %+v, want the oldest job only", got)
		}

		MustTx(t, db, func(tx portal.Tx) error { return tx.FinishJob(ctx, jobs[0].ID, now, "fired") })
		got, err = db.DueJobs(ctx, now, 100)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]portal.Job{withNo(jobs[1], "TZRP2")}, got, timeEqual); diff != "" {
			t.Errorf("DueJobs after FinishJob (-want +got):\n%s", diff)
		}
		// A second FinishJob does not overwrite the first outcome.
		MustTx(t, db, func(tx portal.Tx) error { return tx.FinishJob(ctx, jobs[0].ID, now.Add(time.Hour), "obsolete") })
		var outcome string
		if err := db.SQL().QueryRow(`SELECT outcome FROM jobs WHERE id = $1`, jobs[0].ID).Scan(&outcome); err != nil {
			t.Fatal(err)
		}
		if outcome != "fired" {
			t.Errorf("outcome = %q, want fired (the first finish stays)", outcome)
		}

		got, err = db.DueJobs(ctx, now.Add(48*time.Hour), 100)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, j := range got {
			ids = append(ids, j.ID)
		}
		if want := []int64{jobs[1].ID, jobs[2].ID, jobs[3].ID}; !cmp.Equal(ids, want) {
			t.Errorf("DueJobs two days later = %v, want %v (unfinished, by due time)", ids, want)
		}
	})
}
