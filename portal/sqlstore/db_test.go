package sqlstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"time"

	"tzportal/migrations"
	"tzportal/portal"
	"tzportal/portal/sqlstore"
	"tzportal/portal/testkit"
)

// backends are the two databases every store test runs against.
var backends = []struct {
	name string
	url  func(testing.TB) string
}{
	{"sqlite", testkit.SQLite},
	{"postgres", testkit.Postgres},
}

// forEachBackend runs fn once per backend, each on a fresh, migrated database.
func forEachBackend(t *testing.T, fn func(t *testing.T, db *sqlstore.DB)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, MustOpen(t, b.url(t)))
		})
	}
}

// MustOpen opens and migrates the database at url and closes it at the end.
func MustOpen(tb testing.TB, url string) *sqlstore.DB {
	tb.Helper()
	db := MustOpenBare(tb, url)
	if _, err := db.Migrate(context.Background()); err != nil {
		tb.Fatalf("Migrate: %v", err)
	}
	return db
}

// MustOpenBare opens the database at url without migrating it.
func MustOpenBare(tb testing.TB, url string) *sqlstore.DB {
	tb.Helper()
	db, err := sqlstore.Open(context.Background(), url, sqlstore.Options{})
	if err != nil {
		tb.Fatalf("Open(%s): %v", url, err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// MustTx runs fn in a transaction and fails the test if it does not commit.
func MustTx(tb testing.TB, db *sqlstore.DB, fn func(tx portal.Tx) error) {
	tb.Helper()
	if err := db.Tx(context.Background(), fn); err != nil {
		tb.Fatalf("Tx: %v", err)
	}
}

// MustApplicant inserts an applicant with a mobile and ID index derived from n.
func MustApplicant(tb testing.TB, db *sqlstore.DB, name string, n int) *portal.User {
	tb.Helper()
	u := &portal.User{Kind: portal.KindApplicant, Name: name,
		Mobile: fmt.Sprintf("1380000%04d", n), IDIndex: fmt.Sprintf("idx-%04d", n), IDCipher: []byte{1, 2, byte(n)},
		PasswordHash: "hash", Locale: "zh-CN", CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	MustTx(tb, db, func(tx portal.Tx) error { return tx.InsertUser(context.Background(), u) })
	return u
}

// MustStaff inserts a staff account with grants.
func MustStaff(tb testing.TB, db *sqlstore.DB, login string, grants ...portal.Grant) *portal.User {
	tb.Helper()
	u := &portal.User{Kind: portal.KindStaff, Name: "职员 " + login, Login: login, PasswordHash: "hash"}
	MustTx(tb, db, func(tx portal.Tx) error {
		if err := tx.InsertUser(context.Background(), u); err != nil {
			return err
		}
		return tx.SetGrants(context.Background(), u.ID, grants)
	})
	u.Grants = grants
	return u
}

// wantCode fails the test unless err carries the portal error code.
func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := portal.ErrorCode(err); got != code {
		tb.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

func TestMigrate(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := MustOpenBare(t, b.url(t))
			n, err := db.Migrate(ctx)
			if err != nil {
				t.Fatal(err)
			}
			files, err := fs.Glob(migrations.FS, b.name+"/*.sql")
			if err != nil || len(files) < 2 {
				t.Fatalf("migrations of %s: %v, %v", b.name, files, err)
			}
			if n != len(files)+1 { // and the Go migration of the counties
				t.Errorf("first Migrate applied %d migrations, want %d", n, len(files)+1)
			}
			n, err = db.Migrate(ctx)
			if err != nil || n != 0 {
				t.Errorf("second Migrate = %d, %v; want 0, nil", n, err)
			}
			var count int
			if err := db.SQL().QueryRow(`SELECT count(*) FROM divisions`).Scan(&count); err != nil {
				t.Fatal(err)
			}
			if count != 116 {
				t.Errorf("divisions has %d rows, want 116", count)
			}
			// Every row of counties.csv, once: the same in both dialects.
			var counties int
			var xinghua string
			if err := db.SQL().QueryRow(`SELECT count(*), max(CASE WHEN code = '321281' THEN name || '/' || city_name || '/' || province_name END) FROM counties`).Scan(&counties, &xinghua); err != nil {
				t.Fatal(err)
			}
			if lines := bytes.Count(migrations.Counties, []byte("\n")) - 1; counties != lines || counties != 2978 || xinghua != "兴化市/泰州市/江苏省" {
				t.Errorf("counties: %d rows (the file has %d), 321281 = %q", counties, lines, xinghua)
			}
			divs, err := db.Divisions(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(divs) != 116 {
				t.Fatalf("Divisions returned %d, want 116", len(divs))
			}
			want := portal.Division{Code: "321202001", Name: "城东街道", Parent: "321202", Level: "street"}
			found := false
			for i, d := range divs {
				if i > 0 && divs[i-1].Code >= d.Code {
					t.Errorf("Divisions not in code order: %s before %s", divs[i-1].Code, d.Code)
				}
				if d.Code == want.Code {
					found = true
					if d != want {
						t.Errorf("division %s = %+v, want %+v", d.Code, d, want)
					}
				}
			}
			if !found {
				t.Errorf("division %s missing", want.Code)
			}
			if db.Dialect() != b.name {
				t.Errorf("Dialect() = %q, want %q", db.Dialect(), b.name)
			}
		})
	}
}

func TestOpenRefuses(t *testing.T) {
	tests := []struct {
		name     string
		url      string
		wantCode string // "" = any error
	}{
		{"sqlite without a path", "sqlite:", ""},
		{"mysql", "mysql://x", ""},
		{"empty", "", ""},
		{"postgres on a closed port", "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=1", portal.EUNAVAILABLE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db, err := sqlstore.Open(context.Background(), tt.url, sqlstore.Options{})
			if err == nil {
				db.Close()
				t.Fatalf("Open(%q) succeeded, want an error", tt.url)
			}
			if tt.wantCode != "" {
				wantCode(t, err, tt.wantCode)
			}
		})
	}
}

func TestSQLitePragmas(t *testing.T) {
	db := MustOpen(t, testkit.SQLite(t))
	tests := []struct {
		pragma, want string
	}{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"synchronous", "2"}, // FULL
	}
	for _, tt := range tests {
		t.Run(tt.pragma, func(t *testing.T) {
			var got string
			if err := db.SQL().QueryRow("PRAGMA " + tt.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("PRAGMA %s = %q, want %q", tt.pragma, got, tt.want)
			}
		})
	}
	// foreign_keys is not only reported but enforced on the write pool.
	_, err := db.SQL().Exec(`INSERT INTO grants (user_id, role, division) VALUES (999, 'x', '321202001')`)
	if err == nil || !strings.Contains(err.Error(), "FOREIGN KEY") {
		t.Errorf("insert with a dangling user_id: %v, want a FOREIGN KEY error", err)
	}
}

func TestTxRollback(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		t.Run("error", func(t *testing.T) {
			boom := errors.New("boom")
			err := db.Tx(ctx, func(tx portal.Tx) error {
				u := &portal.User{Kind: portal.KindStaff, Name: "x", Login: "rolled-back"}
				if err := tx.InsertUser(ctx, u); err != nil {
					return err
				}
				if _, err := tx.UserByLogin(ctx, "rolled-back"); err != nil {
					t.Errorf("inside the Tx the user is not visible: %v", err)
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("Tx = %v, want the error of fn", err)
			}
			_, err = db.UserByLogin(ctx, "rolled-back")
			wantCode(t, err, portal.ENOTFOUND)
		})
		t.Run("panic", func(t *testing.T) {
			func() {
				defer func() {
					if p := recover(); p != "kaboom" {
						t.Errorf("recovered %v, want the panic to be re-raised", p)
					}
				}()
				db.Tx(ctx, func(tx portal.Tx) error {
					if err := tx.InsertUser(ctx, &portal.User{Kind: portal.KindStaff, Name: "x", Login: "panicked"}); err != nil {
						t.Error(err)
					}
					panic("kaboom")
				})
				t.Error("Tx returned after a panic in fn")
			}()
			_, err := db.UserByLogin(ctx, "panicked")
			wantCode(t, err, portal.ENOTFOUND)
			// The connection went back to the pool in a usable state.
			MustTx(t, db, func(tx portal.Tx) error {
				return tx.InsertUser(ctx, &portal.User{Kind: portal.KindStaff, Name: "x", Login: "after-panic"})
			})
			if _, err := db.UserByLogin(ctx, "after-panic"); err != nil {
				t.Errorf("a Tx after the panic did not commit: %v", err)
			}
		})
	})
}
