package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"tzportal/portal"
	"tzportal/portal/audit"
	"tzportal/portal/sqlstore"
	"tzportal/portal/testkit"
)

var key = bytes.Repeat([]byte{42}, 32)

// start is a time with nanoseconds, which the chain keeps to the microsecond.
var start = time.Date(2026, 11, 30, 10, 0, 0, 123456789, time.FixedZone("CST", 8*3600))

// MustStore opens and migrates a fresh database at url.
func MustStore(tb testing.TB, url string) *sqlstore.DB {
	tb.Helper()
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, url, sqlstore.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	return db
}

// MustChain appends n entries, odd ones with Record and even ones with
// Append inside a transaction of the caller's, and returns the times they
// were stamped with.
func MustChain(tb testing.TB, db *sqlstore.DB, l *audit.Log, clock *testkit.Clock, n int) []time.Time {
	tb.Helper()
	ctx := context.Background()
	var stamped []time.Time
	for i := 1; i <= n; i++ {
		clock.Advance(time.Second + 1001*time.Nanosecond)
		stamped = append(stamped, clock.Now())
		actor := portal.Actor{IP: "10.1.2.3", User: &portal.User{ID: int64(i), Kind: portal.KindStaff,
			Grants: []portal.Grant{{Role: "street_clerk", Division: "321202001"}}}}
		e := audit.Entry(actor, "case.read", fmt.Sprintf("case:TZRP%d", i%5), audit.ResultOK)
		if i%3 == 0 {
			e = audit.WithDetail(e, map[string]any{"i": i, "note": "查看身份证号"})
		}
		var err error
		if i%2 == 1 {
			err = l.Record(ctx, db, e)
		} else {
			err = db.Tx(ctx, func(tx portal.Tx) error { return l.Append(ctx, tx, e) })
		}
		if err != nil {
			tb.Fatalf("entry %d: %v", i, err)
		}
	}
	return stamped
}

func mustEntries(tb testing.TB, db portal.Reader) []portal.AuditEntry {
	tb.Helper()
	es, err := db.AuditAfter(context.Background(), 0, 10000)
	if err != nil {
		tb.Fatal(err)
	}
	return es
}

var backends = []struct {
	name string
	url  func(testing.TB) string
	// dropTriggers lifts the append-only guard, as someone with database access could.
	dropTriggers []string
}{
	{"sqlite", testkit.SQLite, []string{"DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete"}},
	{"postgres", testkit.Postgres, []string{"DROP TRIGGER audit_log_no_change ON audit_log"}},
}

func TestChain(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			db := MustStore(t, b.url(t))
			clock := testkit.NewClock(start)
			l := audit.New(key, clock.Now)
			stamped := MustChain(t, db, l, clock, 50)

			n, err := l.Verify(context.Background(), db)
			if n != 50 || err != nil {
				t.Fatalf("Verify = %d, %v; want 50, nil", n, err)
			}
			es := mustEntries(t, db)
			if len(es) != 50 {
				t.Fatalf("%d entries, want 50", len(es))
			}
			prev := ""
			for i, e := range es {
				if e.Seq != int64(i+1) {
					t.Errorf("entry %d has Seq %d", i+1, e.Seq)
				}
				if e.PrevHash != prev {
					t.Errorf("entry %d: PrevHash %q, want the previous Hash %q", e.Seq, e.PrevHash, prev)
				}
				if len(e.Hash) != 64 || e.Hash == prev {
					t.Errorf("entry %d: Hash %q", e.Seq, e.Hash)
				}
				prev = e.Hash
				want := stamped[i].UTC().Truncate(time.Microsecond)
				if !e.At.Equal(want) || e.At.Location() != time.UTC || e.At.Nanosecond()%1000 != 0 {
					t.Errorf("entry %d: At = %s, want %s (UTC, to the microsecond)", e.Seq, e.At.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
				}
				if e.Actor != fmt.Sprintf("user:%d", i+1) || e.Role != "street_clerk" || e.Division != "321202001" || e.IP != "10.1.2.3" {
					t.Errorf("entry %d: %+v", e.Seq, e)
				}
				if (i+1)%3 == 0 {
					var d map[string]any
					if err := json.Unmarshal(e.Detail, &d); err != nil || d["note"] != "查看身份证号" {
						t.Errorf("entry %d: Detail = %s", e.Seq, e.Detail)
					}
				} else if string(e.Detail) != "{}" {
					t.Errorf("entry %d: Detail = %s, want {}", e.Seq, e.Detail)
				}
			}
			seq, hash, err := db.AuditHead(context.Background())
			if err != nil || seq != 50 || hash != prev {
				t.Errorf("AuditHead = %d, %q, %v; want 50 and the last hash", seq, hash, err)
			}
		})
	}
}

func TestVerifyEmpty(t *testing.T) {
	db := MustStore(t, testkit.SQLite(t))
	n, err := audit.New(key, time.Now).Verify(context.Background(), db)
	if n != 0 || err != nil {
		t.Errorf("Verify on an empty chain = %d, %v; want 0, nil", n, err)
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	tests := []struct {
		name    string
		tamper  []string // SQL run after the triggers are gone
		seq     int64    // the entry Verify must name
		checked int64    // entries found good before it
	}{
		{"actor of 17 changed", []string{`UPDATE audit_log SET actor = 'user:999' WHERE seq = 17`}, 17, 16},
		{"result of 17 changed", []string{`UPDATE audit_log SET result = 'ok' WHERE seq = 17`, `UPDATE audit_log SET result = 'denied' WHERE seq = 17`}, 17, 16},
		{"detail of 18 changed", []string{`UPDATE audit_log SET detail = '{"i":18,"note":"x"}' WHERE seq = 18`}, 18, 17},
		{"hash of 17 replaced", []string{`UPDATE audit_log SET hash = (SELECT hash FROM audit_log WHERE seq = 3) WHERE seq = 17`}, 17, 16},
		{"first entry changed", []string{`UPDATE audit_log SET ip = '1.1.1.1' WHERE seq = 1`}, 1, 0},
		{"entry 30 deleted", []string{`DELETE FROM audit_log WHERE seq = 30`}, 30, 29},
		{"first entry deleted", []string{`DELETE FROM audit_log WHERE seq = 1`}, 1, 0},
		{"last entry deleted", []string{`DELETE FROM audit_log WHERE seq = 50`}, 50, 49},
		{"last three deleted", []string{`DELETE FROM audit_log WHERE seq >= 48`}, 48, 47},
		{"everything deleted", []string{`DELETE FROM audit_log`}, 1, 0},
		// The head names 49 but entry 50 exists (appended behind the head's
		// back, or the head rolled back): entry 50 is the one the head does
		// not cover. Verify names 51, an entry that does not exist.
		{"head moved back", []string{`UPDATE audit_head SET seq = 49, hash = (SELECT hash FROM audit_log WHERE seq = 49)`}, 50, 50},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					db := MustStore(t, b.url(t))
					clock := testkit.NewClock(start)
					l := audit.New(key, clock.Now)
					MustChain(t, db, l, clock, 50)
					for _, q := range append(append([]string{}, b.dropTriggers...), tt.tamper...) {
						if _, err := db.SQL().Exec(q); err != nil {
							t.Fatalf("%s: %v", q, err)
						}
					}
					n, err := l.Verify(context.Background(), db)
					var broken *audit.Broken
					if !errors.As(err, &broken) {
						t.Fatalf("Verify = %d, %v; want *audit.Broken", n, err)
					}
					if broken.Seq != tt.seq || n != tt.checked {
						t.Errorf("Verify = %d, Broken at %d (%s); want %d good, Broken at %d", n, broken.Seq, broken.Reason, tt.checked, tt.seq)
					}
				})
			}
		})
	}
}

func TestVerifyWithAnotherKey(t *testing.T) {
	db := MustStore(t, testkit.SQLite(t))
	clock := testkit.NewClock(start)
	MustChain(t, db, audit.New(key, clock.Now), clock, 5)
	n, err := audit.New(bytes.Repeat([]byte{43}, 32), clock.Now).Verify(context.Background(), db)
	var broken *audit.Broken
	if !errors.As(err, &broken) || broken.Seq != 1 || n != 0 {
		t.Errorf("Verify with another key = %d, %v; want 0, Broken at 1", n, err)
	}
}

// TestConcurrentAppends: appends from many requests at once still form one
// chain (the head is locked for the length of each transaction).
func TestConcurrentAppends(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			db := MustStore(t, b.url(t))
			l := audit.New(key, time.Now)
			const n = 20
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = l.Record(context.Background(), db, audit.Entry(portal.Actor{System: "scheduler"}, "job.fire", fmt.Sprintf("job:%d", i), audit.ResultOK))
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("append %d: %v", i, err)
				}
			}
			if got, err := l.Verify(context.Background(), db); got != n || err != nil {
				t.Errorf("Verify = %d, %v; want %d, nil", got, err, n)
			}
		})
	}
}

// TestRolledBackAppend: an entry appended in a transaction that rolls back
// leaves neither a row nor a moved head.
func TestRolledBackAppend(t *testing.T) {
	db := MustStore(t, testkit.SQLite(t))
	clock := testkit.NewClock(start)
	l := audit.New(key, clock.Now)
	MustChain(t, db, l, clock, 3)
	ctx := context.Background()
	boom := errors.New("boom")
	err := db.Tx(ctx, func(tx portal.Tx) error {
		if err := l.Append(ctx, tx, audit.Entry(portal.Actor{}, "login", "user:1", audit.ResultFailed)); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Tx = %v", err)
	}
	if n, err := l.Verify(ctx, db); n != 3 || err != nil {
		t.Errorf("Verify = %d, %v; want 3, nil", n, err)
	}
}

func TestEntry(t *testing.T) {
	tests := []struct {
		name                        string
		actor                       portal.Actor
		actorID, role, division, ip string
	}{
		{"staff", portal.Actor{IP: "10.0.0.1", User: &portal.User{ID: 7, Kind: portal.KindStaff,
			Grants: []portal.Grant{{Role: "district_officer", Division: "321202"}, {Role: "supervisor", Division: "321200"}}}},
			"user:7", "district_officer", "321202", "10.0.0.1"},
		{"staff without grants", portal.Actor{User: &portal.User{ID: 8, Kind: portal.KindStaff}}, "user:8", "staff", "", ""},
		{"system account", portal.Actor{User: &portal.User{ID: 9, Kind: portal.KindSystem, Login: "registry"}}, "system:registry", "system", "", ""},
		{"applicant", portal.Actor{IP: "::1", User: &portal.User{ID: 10, Kind: portal.KindApplicant}}, "user:10", "applicant", "", "::1"},
		{"scheduler", portal.Actor{System: "scheduler"}, "scheduler", "", "", ""},
		{"anonymous", portal.Actor{IP: "203.0.113.9"}, "anonymous", "", "", "203.0.113.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := audit.Entry(tt.actor, "login", "user:1", audit.ResultDenied)
			want := portal.AuditEntry{Actor: tt.actorID, Role: tt.role, Division: tt.division, IP: tt.ip,
				Action: "login", Object: "user:1", Result: audit.ResultDenied}
			if e.Actor != want.Actor || e.Role != want.Role || e.Division != want.Division || e.IP != want.IP ||
				e.Action != want.Action || e.Object != want.Object || e.Result != want.Result {
				t.Errorf("Entry = %+v, want %+v", e, want)
			}
		})
	}
}
