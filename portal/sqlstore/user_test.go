package sqlstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"tzportal/portal"
	"tzportal/portal/sqlstore"
)

func TestUsers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		created := time.Date(2026, 11, 28, 9, 30, 15, 123456000, time.FixedZone("CST", 8*3600))
		app := &portal.User{Kind: portal.KindApplicant, Name: "张三", Mobile: "13800000001", IDIndex: "idx-1",
			IDCipher: []byte{0, 1, 2, 250}, PasswordHash: "argon2id$x", Locale: "zh-CN", CreatedAt: created}
		MustTx(t, db, func(tx portal.Tx) error { return tx.InsertUser(ctx, app) })
		if app.ID == 0 {
			t.Fatal("InsertUser did not set ID")
		}
		staff := &portal.User{Kind: portal.KindStaff, Name: "李四", Login: "lisi", PasswordHash: "h", CreatedAt: created}
		grants := []portal.Grant{{Role: "supervisor", Division: "321202"}, {Role: "street_clerk", Division: "321202001"}}
		MustTx(t, db, func(tx portal.Tx) error {
			if err := tx.InsertUser(ctx, staff); err != nil {
				return err
			}
			return tx.SetGrants(ctx, staff.ID, grants)
		})
		if staff.ID == 0 || staff.ID == app.ID {
			t.Fatalf("staff ID = %d (applicant %d), want a new id", staff.ID, app.ID)
		}
		// Grants come back ordered by role, division.
		wantStaff := *staff
		wantStaff.Grants = []portal.Grant{grants[1], grants[0]}

		lookups := []struct {
			name string
			find func() (*portal.User, error)
			want *portal.User
		}{
			{"UserByID applicant", func() (*portal.User, error) { return db.UserByID(ctx, app.ID) }, app},
			{"UserByMobile", func() (*portal.User, error) { return db.UserByMobile(ctx, "13800000001") }, app},
			{"UserByIDIndex", func() (*portal.User, error) { return db.UserByIDIndex(ctx, "idx-1") }, app},
			{"UserByLogin", func() (*portal.User, error) { return db.UserByLogin(ctx, "lisi") }, &wantStaff},
			{"UserByID staff", func() (*portal.User, error) { return db.UserByID(ctx, staff.ID) }, &wantStaff},
		}
		for _, tt := range lookups {
			t.Run(tt.name, func(t *testing.T) {
				got, err := tt.find()
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.want, got, timeEqual); diff != "" {
					t.Errorf("user mismatch (-want +got):\n%s", diff)
				}
			})
		}

		unknown := []struct {
			name string
			find func() (*portal.User, error)
		}{
			{"UserByID", func() (*portal.User, error) { return db.UserByID(ctx, 987654) }},
			{"UserByLogin", func() (*portal.User, error) { return db.UserByLogin(ctx, "nobody") }},
			{"UserByMobile", func() (*portal.User, error) { return db.UserByMobile(ctx, "13999999999") }},
			{"UserByIDIndex", func() (*portal.User, error) { return db.UserByIDIndex(ctx, "idx-none") }},
			{"UserByTokenHash", func() (*portal.User, error) { return db.UserByTokenHash(ctx, "none") }},
		}
		for _, tt := range unknown {
			t.Run("unknown "+tt.name, func(t *testing.T) {
				u, err := tt.find()
				wantCode(t, err, portal.ENOTFOUND)
				if u != nil {
					t.Errorf("got a user %+v with ENOTFOUND", u)
				}
			})
		}

		t.Run("UpdateUser and SetGrants replace", func(t *testing.T) {
			disabled := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
			u := *staff
			u.Name, u.Locale, u.DisabledAt, u.TokenHash = "李四四", "en", &disabled, "tok"
			MustTx(t, db, func(tx portal.Tx) error {
				if err := tx.UpdateUser(ctx, &u); err != nil {
					return err
				}
				return tx.SetGrants(ctx, u.ID, []portal.Grant{{Role: "district_officer", Division: "321203"}})
			})
			got, err := db.UserByTokenHash(ctx, "tok")
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != "李四四" || got.Locale != "en" || got.DisabledAt == nil || !got.DisabledAt.Equal(disabled) {
				t.Errorf("after UpdateUser: %+v", got)
			}
			if want := []portal.Grant{{Role: "district_officer", Division: "321203"}}; !cmp.Equal(got.Grants, want) {
				t.Errorf("grants = %v, want %v", got.Grants, want)
			}
		})
	})
}

// timeEqual compares times by instant, not by location.
var timeEqual = cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })

func TestInsertUserTaken(t *testing.T) {
	tests := []struct {
		name  string
		dup   portal.User // collides with the existing users on one column
		field string
	}{
		{"mobile", portal.User{Kind: portal.KindApplicant, Name: "b", Mobile: "13800000001", IDIndex: "idx-other"}, "mobile"},
		{"id_index", portal.User{Kind: portal.KindApplicant, Name: "b", Mobile: "13800000009", IDIndex: "idx-1"}, "id_number"},
		{"login", portal.User{Kind: portal.KindStaff, Name: "b", Login: "clerk"}, "login"},
	}
	forEachBackend(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		MustTx(t, db, func(tx portal.Tx) error {
			return tx.InsertUser(ctx, &portal.User{Kind: portal.KindApplicant, Name: "a", Mobile: "13800000001", IDIndex: "idx-1"})
		})
		MustStaff(t, db, "clerk")
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				dup := tt.dup
				err := db.Tx(ctx, func(tx portal.Tx) error { return tx.InsertUser(ctx, &dup) })
				e := portal.AsError(err)
				if e == nil || e.Code != portal.EINVALID {
					t.Fatalf("InsertUser(duplicate %s) = %v, want EINVALID", tt.name, err)
				}
				want := []portal.FieldError{{Field: tt.field, Rule: "taken"}}
				if !cmp.Equal(e.Fields, want) {
					t.Errorf("Fields = %v, want %v", e.Fields, want)
				}
				// The failed insert leaves the pool usable: a following
				// transaction writes and reads (on PostgreSQL an aborted
				// transaction must not be reused).
				login := fmt.Sprintf("after-%d", i)
				MustTx(t, db, func(tx portal.Tx) error {
					if err := tx.InsertUser(ctx, &portal.User{Kind: portal.KindStaff, Name: "n", Login: login}); err != nil {
						return err
					}
					_, err := tx.UserByLogin(ctx, login)
					return err
				})
				if _, err := db.UserByLogin(ctx, login); err != nil {
					t.Errorf("user of the following transaction: %v", err)
				}
			})
		}
		var n int
		if err := db.SQL().QueryRow(`SELECT count(*) FROM users`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 2+len(tests) {
			t.Errorf("users has %d rows, want %d (no duplicate got in)", n, 2+len(tests))
		}
	})
}

func TestNextSeq(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		next := func(name, period string) int64 {
			t.Helper()
			var v int64
			MustTx(t, db, func(tx portal.Tx) (err error) {
				v, err = tx.NextSeq(ctx, name, period)
				return err
			})
			return v
		}
		steps := []struct {
			name, period string
			want         int64
		}{
			{"RP", "20261128", 1},
			{"RP", "20261128", 2},
			{"RP", "20261129", 1},
			{"XX", "20261128", 1},
			{"RP", "20261128", 3},
			{"RP", "20261129", 2},
			{"XX", "20261128", 2},
		}
		for i, s := range steps {
			if got := next(s.name, s.period); got != s.want {
				t.Errorf("step %d: NextSeq(%s, %s) = %d, want %d", i, s.name, s.period, got, s.want)
			}
		}

		t.Run("concurrent", func(t *testing.T) {
			const n = 20
			var wg sync.WaitGroup
			got := make([]int64, n)
			errs := make([]error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = db.Tx(ctx, func(tx portal.Tx) (err error) {
						got[i], err = tx.NextSeq(ctx, "CC", "p")
						return err
					})
				}()
			}
			wg.Wait()
			seen := map[int64]bool{}
			for i := range n {
				if errs[i] != nil {
					t.Errorf("goroutine %d: %v", i, errs[i])
					continue
				}
				if got[i] < 1 || got[i] > n || seen[got[i]] {
					t.Errorf("goroutine %d got %d (duplicate or out of 1..%d)", i, got[i], n)
				}
				seen[got[i]] = true
			}
			if len(seen) != n {
				t.Errorf("%d distinct values, want %d: %v", len(seen), n, got)
			}
			if v := next("CC", "p"); v != n+1 {
				t.Errorf("after %d concurrent NextSeq the next is %d, want %d", n, v, n+1)
			}
		})
	})
}
