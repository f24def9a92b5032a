package sqlstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"tzportal/portal"
	"tzportal/portal/sqlstore"
)

var shanghai = time.FixedZone("CST", 8*3600)

// newCase returns a case of applicant in division (a leaf of district);
// nothing is written.
func newCase(no string, applicant int64, division, district, state string, at time.Time) *portal.Case {
	inQueue := state == "submitted" || state == "correction" || state == "reviewing" // as the residence permit's workflow says
	return &portal.Case{No: no, Service: "residence-permit", ItemCode: "0000000000000RP0001", State: state, Version: 1, InQueue: inQueue,
		ApplicantID: applicant, Division: division, District: district,
		Form:       json.RawMessage(`{"address": "海陵区东进东路18号", "basis": "employment", "n": 1}`),
		StateSince: at, CreatedAt: at, UpdatedAt: at}
}

// MustCase inserts c.
func MustCase(tb testing.TB, db *sqlstore.DB, c *portal.Case) *portal.Case {
	tb.Helper()
	MustTx(tb, db, func(tx portal.Tx) error { return tx.InsertCase(context.Background(), c) })
	if c.ID == 0 {
		tb.Fatal("InsertCase did not set ID")
	}
	return c
}

// jsonEqual compares JSON documents by meaning (PostgreSQL's jsonb reorders keys and spaces).
var jsonEqual = cmp.Comparer(func(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return string(a) == string(b)
	}
	return cmp.Equal(x, y)
})

// microTimes compares times by instant, to the microsecond both databases keep.
var microTimes = cmp.Comparer(func(a, b time.Time) bool {
	return a.Truncate(time.Microsecond).Equal(b.Truncate(time.Microsecond))
})

func TestCaseRoundTrip(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		app := MustApplicant(t, db, "张三", 1)
		at := time.Date(2026, 11, 28, 9, 30, 15, 123456000, shanghai)
		due := at.Add(48 * time.Hour)
		tests := []struct {
			name string
			c    *portal.Case
			want json.RawMessage // Result as read back
		}{
			{"no deadline, no result", newCase("TZRP20261128000001", app.ID, "321202001", "321202", "draft", at), json.RawMessage(`{}`)},
			{"deadline and result", func() *portal.Case {
				c := newCase("TZRP20261128000002", app.ID, "321203001", "321203", "submitted", at)
				c.DueAt = &due
				c.Version = 3
				c.Result = json.RawMessage(`{"permit_no":"P-1","valid_until":"2027-11-28"}`)
				c.Form = json.RawMessage(`{"nested":{"a":[1,2,"三"]},"empty":""}`)
				return c
			}(), json.RawMessage(`{"valid_until":"2027-11-28","permit_no":"P-1"}`)},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				MustCase(t, db, tt.c)
				want := *tt.c
				want.Result = tt.want
				for _, find := range []struct {
					name string
					fn   func() (*portal.Case, error)
				}{
					{"CaseByNo", func() (*portal.Case, error) { return db.CaseByNo(ctx, tt.c.No) }},
					{"CaseByID", func() (*portal.Case, error) { return db.CaseByID(ctx, tt.c.ID) }},
					{"CaseByNoForUpdate", func() (c *portal.Case, err error) {
						err = db.Tx(ctx, func(tx portal.Tx) error {
							c, err = tx.CaseByNoForUpdate(ctx, tt.c.No)
							return err
						})
						return c, err
					}},
				} {
					got, err := find.fn()
					if err != nil {
						t.Fatalf("%s: %v", find.name, err)
					}
					if diff := cmp.Diff(&want, got, jsonEqual, microTimes); diff != "" {
						t.Errorf("%s mismatch (-want +got):\n%s", find.name, diff)
					}
					if (got.DueAt == nil) != (want.DueAt == nil) {
						t.Errorf("%s: DueAt = %v, want %v", find.name, got.DueAt, want.DueAt)
					}
				}
			})
		}
		t.Run("unknown", func(t *testing.T) {
			_, err := db.CaseByNo(ctx, "TZRP00000000000000")
			wantCode(t, err, portal.ENOTFOUND)
			_, err = db.CaseByID(ctx, 123456)
			wantCode(t, err, portal.ENOTFOUND)
		})
	})
}

// TestCaseTimePrecision documents that both databases keep the same
// microseconds of a time with nanoseconds: what one node wrote on SQLite
// reads back equal to what it would on PostgreSQL.
func TestCaseTimePrecision(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqlstore.DB) {
		app := MustApplicant(t, db, "张三", 1)
		at := time.Date(2026, 11, 28, 9, 30, 15, 999999999, time.UTC)
		c := MustCase(t, db, newCase("TZRP1", app.ID, "321202001", "321202", "draft", at))
		got, err := db.CaseByID(context.Background(), c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if want := at.Truncate(time.Microsecond); !got.CreatedAt.Equal(want) {
			t.Errorf("CreatedAt = %s, want %s (truncated to the microsecond)", got.CreatedAt.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
		}
	})
}

func TestUpdateCase(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		app := MustApplicant(t, db, "张三", 1)
		at := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
		c := MustCase(t, db, newCase("TZRP1", app.ID, "321202001", "321202", "draft", at))

		next := *c
		due := at.Add(72 * time.Hour)
		next.State, next.Version, next.DueAt = "submitted", 2, &due
		next.StateSince, next.UpdatedAt = at.Add(time.Hour), at.Add(time.Hour)
		next.Form = json.RawMessage(`{"address":"新地址"}`)
		next.Result = json.RawMessage(`{"ok":true}`)
		next.Division, next.District = "321203001", "321203"
		MustTx(t, db, func(tx portal.Tx) error { return tx.UpdateCase(ctx, &next, 1) })
		got, err := db.CaseByID(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(&next, got, jsonEqual, microTimes); diff != "" {
			t.Errorf("after UpdateCase (-want +got):\n%s", diff)
		}

		stale := next
		stale.State, stale.Version, stale.Form = "withdrawn", 3, json.RawMessage(`{"address":"stale"}`)
		err = db.Tx(ctx, func(tx portal.Tx) error { return tx.UpdateCase(ctx, &stale, 1) })
		wantCode(t, err, portal.ECONFLICT)
		got2, err := db.CaseByID(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(got, got2, jsonEqual, microTimes); diff != "" {
			t.Errorf("a stale UpdateCase changed the case (-before +after):\n%s", diff)
		}
	})
}

func TestHistory(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		app := MustApplicant(t, db, "张三", 1)
		clerk := MustStaff(t, db, "clerk", portal.Grant{Role: "street_clerk", Division: "321202001"})
		at := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
		c := MustCase(t, db, newCase("TZRP1", app.ID, "321202001", "321202", "draft", at))
		other := MustCase(t, db, newCase("TZRP2", app.ID, "321202001", "321202", "draft", at))

		rows := []portal.History{
			{CaseID: c.ID, Seq: 1, Event: portal.EventCreate, From: "", To: "draft", ActorID: &app.ID, ActorRole: "applicant", Inputs: portal.Inputs{}, At: at},
			{CaseID: c.ID, Seq: 2, Event: "submit", From: "draft", To: "submitted", ActorID: &app.ID, ActorRole: "applicant", Inputs: portal.Inputs{}, At: at.Add(time.Minute)},
			{CaseID: c.ID, Seq: 3, Event: "request_correction", From: "submitted", To: "correction", ActorID: &clerk.ID,
				ActorRole: "street_clerk", Inputs: portal.Inputs{"reason": "照片不清晰", "items": []string{"photo", "id_card"}}, At: at.Add(time.Hour)},
			{CaseID: c.ID, Seq: 4, Event: "withdraw", From: "correction", To: "withdrawn", ActorRole: "scheduler", Inputs: portal.Inputs{}, At: at.Add(30 * 24 * time.Hour)},
		}
		// Insert out of order: History sorts by seq, not by insertion.
		MustTx(t, db, func(tx portal.Tx) error {
			for _, i := range []int{2, 0, 3, 1} {
				if err := tx.InsertHistory(ctx, &rows[i]); err != nil {
					return err
				}
			}
			return tx.InsertHistory(ctx, &portal.History{CaseID: other.ID, Seq: 1, Event: "create", To: "draft", ActorRole: "applicant", At: at})
		})
		got, err := db.History(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(rows, got, microTimes); diff != "" {
			t.Errorf("History (-want +got):\n%s", diff)
		}

		dup := portal.History{CaseID: c.ID, Seq: 2, Event: "accept", From: "submitted", To: "reviewing", ActorRole: "street_clerk", At: at}
		err = db.Tx(ctx, func(tx portal.Tx) error { return tx.InsertHistory(ctx, &dup) })
		wantCode(t, err, portal.ECONFLICT)
		if got, _ := db.History(ctx, c.ID); len(got) != len(rows) || got[1].Event != "submit" {
			t.Errorf("after a duplicate InsertHistory: %+v", got)
		}

		none, err := db.History(ctx, 999999)
		if err != nil || len(none) != 0 {
			t.Errorf("History(unknown) = %v, %v; want empty", none, err)
		}
	})
}

func TestIdempotency(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		app := MustApplicant(t, db, "张三", 1)
		other := MustApplicant(t, db, "李四", 2)
		c := MustCase(t, db, newCase("TZRP1", app.ID, "321202001", "321202", "draft", time.Now()))
		at := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)

		MustTx(t, db, func(tx portal.Tx) error {
			if _, _, err := tx.Idempotency(ctx, app.ID, "k1"); portal.ErrorCode(err) != portal.ENOTFOUND {
				t.Errorf("Idempotency before the claim: %v, want ENOTFOUND", err)
			}
			return tx.ClaimIdempotency(ctx, app.ID, "k1", "hash-1", c.ID, at)
		})
		MustTx(t, db, func(tx portal.Tx) error {
			id, hash, err := tx.Idempotency(ctx, app.ID, "k1")
			if err != nil || id != c.ID || hash != "hash-1" {
				t.Errorf("Idempotency(k1) = %d, %q, %v; want %d, hash-1", id, hash, err, c.ID)
			}
			// The key belongs to (user, key): another user's k1 is unknown.
			_, _, err = tx.Idempotency(ctx, other.ID, "k1")
			wantCode(t, err, portal.ENOTFOUND)
			_, _, err = tx.Idempotency(ctx, app.ID, "k2")
			wantCode(t, err, portal.ENOTFOUND)
			return nil
		})
		err := db.Tx(ctx, func(tx portal.Tx) error {
			return tx.ClaimIdempotency(ctx, app.ID, "k1", "hash-2", c.ID, at)
		})
		wantCode(t, err, portal.ECONFLICT)
		// Another user may use the same key.
		MustTx(t, db, func(tx portal.Tx) error {
			return tx.ClaimIdempotency(ctx, other.ID, "k1", "hash-3", c.ID, at)
		})
		MustTx(t, db, func(tx portal.Tx) error {
			if _, hash, _ := tx.Idempotency(ctx, app.ID, "k1"); hash != "hash-1" {
				t.Errorf("after a refused second claim the hash is %q, want hash-1", hash)
			}
			return nil
		})
	})
}

func TestListCases(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		apps := []*portal.User{MustApplicant(t, db, "张三", 1), MustApplicant(t, db, "李四", 2)}
		places := []struct{ division, district string }{{"321202001", "321202"}, {"321202002", "321202"}, {"321203001", "321203"}}
		states := []string{"draft", "submitted"}
		at := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
		now := at.Add(20 * 24 * time.Hour)
		var all []*portal.Case
		MustTx(t, db, func(tx portal.Tx) error {
			for i := range 30 {
				p := places[i%3]
				c := newCase(fmt.Sprintf("TZRP%014d", i), apps[i%2].ID, p.division, p.district, states[(i/3)%2], at.Add(time.Duration(i)*time.Hour))
				if i%4 == 0 { // every fourth has a deadline, half of them before now
					due := now.Add(time.Duration(i-14) * 24 * time.Hour)
					c.DueAt = &due
				}
				if err := tx.InsertCase(ctx, c); err != nil {
					return err
				}
				all = append(all, c)
			}
			return nil
		})
		// Ids must grow in insertion order for the expectations below.
		for i := 1; i < len(all); i++ {
			if all[i].ID <= all[i-1].ID {
				t.Fatalf("ids do not grow: %d then %d", all[i-1].ID, all[i].ID)
			}
		}
		pick := func(keep func(c *portal.Case) bool) []string {
			var out []string
			for _, c := range all {
				if keep(c) {
					out = append(out, c.No)
				}
			}
			return out
		}
		tests := []struct {
			name string
			f    portal.CaseFilter
			want []string
		}{
			{"applicant", portal.CaseFilter{ApplicantID: apps[1].ID, Limit: 100},
				pick(func(c *portal.Case) bool { return c.ApplicantID == apps[1].ID })},
			{"scope division", portal.CaseFilter{Scope: []portal.ScopeTerm{{Division: "321202002"}}, Limit: 100},
				pick(func(c *portal.Case) bool { return c.Division == "321202002" })},
			{"scope district", portal.CaseFilter{Scope: []portal.ScopeTerm{{District: "321202"}}, Limit: 100},
				pick(func(c *portal.Case) bool { return c.District == "321202" })},
			{"scope two terms", portal.CaseFilter{Scope: []portal.ScopeTerm{{Division: "321202001"}, {District: "321203"}}, Limit: 100},
				pick(func(c *portal.Case) bool { return c.Division == "321202001" || c.District == "321203" })},
			{"overlapping terms: each case once", portal.CaseFilter{Scope: []portal.ScopeTerm{{Division: "321202001"}, {District: "321202"}},
				States: []string{"draft", "submitted"}, Limit: 100},
				pick(func(c *portal.Case) bool { return c.District == "321202" })},
			{"two terms, one state, a page", portal.CaseFilter{Scope: []portal.ScopeTerm{{Division: "321202001"}, {Division: "321203001"}},
				States: []string{"submitted"}, Limit: 3},
				pick(func(c *portal.Case) bool {
					return (c.Division == "321202001" || c.Division == "321203001") && c.State == "submitted"
				})[:3]},
			{"a state twice", portal.CaseFilter{AllScope: true, States: []string{"submitted", "submitted"}, Limit: 100},
				pick(func(c *portal.Case) bool { return c.State == "submitted" })},
			{"all scope", portal.CaseFilter{AllScope: true, Limit: 100}, pick(func(*portal.Case) bool { return true })},
			{"states", portal.CaseFilter{AllScope: true, States: []string{"submitted"}, Limit: 100},
				pick(func(c *portal.Case) bool { return c.State == "submitted" })},
			{"states and district", portal.CaseFilter{Scope: []portal.ScopeTerm{{District: "321203"}}, States: []string{"draft"}, Limit: 100},
				pick(func(c *portal.Case) bool { return c.District == "321203" && c.State == "draft" })},
			{"overdue", portal.CaseFilter{AllScope: true, OverdueAt: &now, Limit: 100},
				pick(func(c *portal.Case) bool { return c.DueAt != nil && c.DueAt.Before(now) })},
			{"service", portal.CaseFilter{AllScope: true, Service: "other-service", Limit: 100}, nil},
			{"limit", portal.CaseFilter{AllScope: true, Limit: 4}, pick(func(c *portal.Case) bool { return c.ID <= all[3].ID })},
			{"after", portal.CaseFilter{AllScope: true, After: all[25].ID, Limit: 100}, pick(func(c *portal.Case) bool { return c.ID > all[25].ID })},
			{"desc after", portal.CaseFilter{AllScope: true, Desc: true, After: all[3].ID, Limit: 100},
				[]string{all[2].No, all[1].No, all[0].No}},
			{"no scope", portal.CaseFilter{Limit: 100}, nil},
			{"no scope with states", portal.CaseFilter{States: []string{"draft"}, Limit: 100}, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := db.ListCases(ctx, tt.f)
				if err != nil {
					t.Fatal(err)
				}
				var nos []string
				for _, c := range got {
					nos = append(nos, c.No)
				}
				if !cmp.Equal(tt.want, nos) {
					t.Errorf("ListCases(%+v) =\n  %v\nwant\n  %v", tt.f, nos, tt.want)
				}
			})
		}
		if len(pick(func(c *portal.Case) bool { return c.DueAt != nil && c.DueAt.Before(now) })) == 0 {
			t.Fatal("the data has no overdue case: the overdue test proves nothing")
		}

		t.Run("applicant name and fields", func(t *testing.T) {
			got, err := db.ListCases(ctx, portal.CaseFilter{AllScope: true, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			for i, c := range got {
				want := *all[i]
				want.ApplicantName = apps[i%2].Name
				want.Result = json.RawMessage(`{}`)
				if diff := cmp.Diff(want, c, jsonEqual, microTimes); diff != "" {
					t.Errorf("case %s (-want +got):\n%s", c.No, diff)
				}
			}
		})

		pages := []struct {
			name string
			desc bool
		}{{"ascending", false}, {"descending", true}}
		for _, p := range pages {
			t.Run("keyset "+p.name, func(t *testing.T) {
				want := pick(func(c *portal.Case) bool { return c.District == "321202" })
				if p.desc {
					slices.Reverse(want)
				}
				var visited []string
				var after int64
				for range 10 {
					page, err := db.ListCases(ctx, portal.CaseFilter{Scope: []portal.ScopeTerm{{District: "321202"}},
						Desc: p.desc, After: after, Limit: 7})
					if err != nil {
						t.Fatal(err)
					}
					if len(page) > 7 {
						t.Fatalf("page of %d, want at most 7", len(page))
					}
					if len(page) == 0 {
						break
					}
					for _, c := range page {
						visited = append(visited, c.No)
					}
					after = page[len(page)-1].ID
				}
				if !cmp.Equal(want, visited) {
					t.Errorf("pages visited\n  %v\nwant\n  %v", visited, want)
				}
			})
		}
	})
}

// TestIdempotencyConcurrentClaim: two requests with the same key race. The
// store promises (ClaimIdempotency) that the loser's transaction is retried
// and then finds the winner's case, so both answer with the same case on
// both databases.
func TestIdempotencyConcurrentClaim(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		app := MustApplicant(t, db, "张三", 1)
		const n = 4
		// Every transaction waits here after its lookup until all have looked
		// (or a moment passed: on SQLite transactions run one at a time).
		var looked sync.WaitGroup
		looked.Add(n)
		var once [n]sync.Once
		ids := make([]int64, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = db.Tx(ctx, func(tx portal.Tx) error {
					id, _, err := tx.Idempotency(ctx, app.ID, "same-key")
					once[i].Do(func() {
						looked.Done()
						waitTimeout(&looked, 150*time.Millisecond)
					})
					if err == nil {
						ids[i] = id
						return nil
					}
					if portal.ErrorCode(err) != portal.ENOTFOUND {
						return err
					}
					c := newCase(fmt.Sprintf("TZRP-race-%d", i), app.ID, "321202001", "321202", "draft", time.Now())
					if err := tx.InsertCase(ctx, c); err != nil {
						return err
					}
					if err := tx.ClaimIdempotency(ctx, app.ID, "same-key", "hash", c.ID, time.Now()); err != nil {
						return err
					}
					ids[i] = c.ID
					return nil
				})
			}()
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Errorf("request %d: %v (code %s)", i, errs[i], portal.ErrorCode(errs[i]))
			}
		}
		for i := 1; i < n; i++ {
			if errs[i] == nil && errs[0] == nil && ids[i] != ids[0] {
				t.Errorf("request %d got case %d, request 0 case %d", i, ids[i], ids[0])
			}
		}
		var rows int
		if err := db.SQL().QueryRow(`SELECT count(*) FROM idempotency_keys`).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if rows != 1 {
			t.Errorf("%d idempotency rows, want 1", rows)
		}
	})
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}
