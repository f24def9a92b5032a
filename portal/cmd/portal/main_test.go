package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"regexp"
	"strings"
	"testing"

	"tzportal/migrations"
	"tzportal/portal/sqlstore"
	"tzportal/portal/testkit"
)

type env map[string]string

func (e env) get(k string) string { return e[k] }

func runCmd(t *testing.T, e env, stdin string, args ...string) (int, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	code, err := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut, e.get)
	return code, out.String(), err
}

func TestCommandsNeedASecret(t *testing.T) {
	e := env{"DATABASE_URL": testkit.SQLite(t)}
	for _, args := range [][]string{{"serve"}, {"audit", "verify"}, {"staff", "add", "--login", "x", "--password", "y", "--name", "n", "--role", "admin", "--division", "321200"}} {
		code, _, err := runCmd(t, e, "", args...)
		if code != 2 || err == nil || !strings.Contains(err.Error(), "PORTAL_SECRET") || !strings.Contains(err.Error(), "head -c 32 /dev/urandom | base64") {
			t.Errorf("%v without a secret: code %d, %v", args, code, err)
		}
	}
	if code, _, err := runCmd(t, env{"DATABASE_URL": "mysql://x"}, "", "migrate"); code != 2 || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Errorf("bad DATABASE_URL: %d %v", code, err)
	}
	if code, _, _ := runCmd(t, e, "", "frobnicate"); code != 2 {
		t.Errorf("unknown command: %d", code)
	}
}

func TestStaffAddAndAuditVerify(t *testing.T) {
	for _, b := range testkit.Backends {
		t.Run(b.Name, func(t *testing.T) {
			db := testkit.SQLite(t)
			if b.Postgres {
				db = testkit.Postgres(t)
			}
			e := env{"DATABASE_URL": db, "PORTAL_SECRET": testkit.NewSecret()}
			// Every migration of the dialect, plus the Go one (5), then none.
			sqls, _ := fs.Glob(migrations.FS, "sqlite/*.sql")
			want := fmt.Sprintf("applied %d migration(s)", len(sqls)+1)
			if code, out, err := runCmd(t, e, "", "migrate"); code != 0 || !strings.Contains(out, want) {
				t.Fatalf("migrate: %d %q %v (want %q)", code, out, err, want)
			}
			if code, out, err := runCmd(t, e, "", "migrate"); code != 0 || !strings.Contains(out, "applied 0 migration(s)") {
				t.Fatalf("migrate again: %d %q %v", code, out, err)
			}
			code, out, err := runCmd(t, e, "", "staff", "add", "--login", "clerk1", "--password", "Taizhou-2026", "--name", "王窗口",
				"--role", "street_clerk", "--division", "321202001")
			if code != 0 || !strings.Contains(out, "added staff clerk1") || !strings.Contains(out, "otpauth://totp/") {
				t.Fatalf("staff add: %d %q %v", code, out, err)
			}
			code, out, err = runCmd(t, e, "Taizhou-2026\n", "staff", "add", "--login", "officer", "--password", "-", "--name", "李科长",
				"--role", "district_officer", "--division", "321202")
			if code != 0 {
				t.Fatalf("staff add with the password on stdin: %d %q %v", code, out, err)
			}
			refusals := []struct {
				args []string
				says string
			}{
				{[]string{"--login", "clerk1", "--role", "street_clerk", "--division", "321202001"}, "taken"},
				{[]string{"--login", "someone2", "--role", "mayor", "--division", "321202001"}, `role "mayor"`},
				{[]string{"--login", "someone3", "--role", "street_clerk", "--division", "999999"}, `division "999999"`},
				{[]string{"--login", "someone4", "--role", "street_clerk", "--division", "321202"}, "granted at the leaf level"},
				{[]string{"--login", "13800000001", "--role", "street_clerk", "--division", "321202001"}, "lower-case letters"},
				{[]string{"--login", "someone5", "--role", "applicant", "--division", "321202001"}, `role "applicant"`},
			}
			for _, r := range refusals {
				args := append([]string{"staff", "add", "--password", "Taizhou-2026", "--name", "某人"}, r.args...)
				code, _, err := runCmd(t, e, "", args...)
				if code == 0 || err == nil || !strings.Contains(err.Error(), r.says) {
					t.Errorf("%v: code %d, %v (want it to say %q)", r.args, code, err, r.says)
				}
			}
			for _, c := range [][]string{
				{"staff", "grant", "--login", "officer", "--role", "supervisor", "--division", "321202"},
				{"staff", "revoke", "--login", "officer", "--role", "supervisor", "--division", "321202"},
				{"staff", "disable", "--login", "officer"},
			} {
				if code, out, err := runCmd(t, e, "", c...); code != 0 || !strings.Contains(out, "done") {
					t.Errorf("%v: %d %q %v", c, code, out, err)
				}
			}
			if code, _, err := runCmd(t, e, "", "staff", "revoke", "--login", "clerk1", "--role", "supervisor", "--division", "321200"); code != 1 || !strings.Contains(err.Error(), "has no grant") {
				t.Errorf("revoking a grant that does not exist: %d %v", code, err)
			}
			code, out, err = runCmd(t, e, "", "system", "add", "--login", "registry", "--name", "迁出地户籍系统", "--role", "origin_registry", "--division", "321200")
			if code != 0 || !strings.Contains(out, "tzs_") {
				t.Fatalf("system add: %d %q %v", code, out, err)
			}

			if code, out, err := runCmd(t, e, "", "fsck"); code != 0 || !strings.Contains(out, "fsck: ok: 0 cases, 6 audit entries") {
				t.Errorf("fsck: %d %q %v", code, out, err)
			}
			if code, out, err := runCmd(t, e, "", "stats", "rebuild"); code != 0 || !strings.Contains(out, "rollups rebuilt from 0 cases") {
				t.Errorf("stats rebuild: %d %q %v", code, out, err)
			}
			code, out, err = runCmd(t, e, "", "audit", "verify")
			if code != 0 || !strings.Contains(out, "audit chain intact: 6 entries") {
				t.Fatalf("verify: %d %q %v", code, out, err)
			}
			// Another secret cannot verify (or forge) the chain.
			code, out, _ = runCmd(t, env{"DATABASE_URL": db, "PORTAL_SECRET": testkit.NewSecret()}, "", "audit", "verify")
			if code != 1 || !strings.Contains(out, "broken at entry 1") {
				t.Errorf("verify with another secret: %d %q", code, out)
			}
			code, out, _ = runCmd(t, env{"DATABASE_URL": db, "PORTAL_SECRET": testkit.NewSecret()}, "", "fsck")
			if code != 1 || !strings.Contains(out, "audit chain broken at entry 1") || !strings.Contains(out, "1 violation(s)") {
				t.Errorf("fsck with another secret: %d %q", code, out)
			}
			// Each run is kept for the audit view: the intact one with its
			// audit.verify entry (the 7th), the broken one without (sealed with
			// another key, it would break the chain for real) — so the chain
			// still verifies with the right secret.
			code, out, err = runCmd(t, e, "", "audit", "verify")
			if code != 0 || !strings.Contains(out, "audit chain intact: 7 entries") {
				t.Errorf("verify after a run with another secret: %d %q %v", code, out, err)
			}
			store, err := sqlstore.Open(context.Background(), db, sqlstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			var intact, broken int
			if err := store.SQL().QueryRow(`SELECT count(*) FILTER (WHERE intact), count(*) FILTER (WHERE NOT intact) FROM audit_checks`).Scan(&intact, &broken); err != nil {
				t.Fatal(err)
			}
			if intact != 2 || broken != 1 {
				t.Errorf("audit_checks: %d intact, %d broken; want 2 and 1", intact, broken)
			}
			last, err := store.LastAuditCheck(context.Background())
			if err != nil || !last.Intact || !strings.HasPrefix(last.Actor, "cli:") || last.Entries != 7 {
				t.Errorf("the last check: %+v %v", last, err)
			}
		})
	}
}

// TestAdminCommands: a new one-time-code secret and a new API token from
// the command line, each printed once and different from the first.
func TestAdminCommands(t *testing.T) {
	e := env{"DATABASE_URL": testkit.SQLite(t), "PORTAL_SECRET": testkit.NewSecret()}
	secretRE := regexp.MustCompile(`secret ([A-Z2-7]+)`)
	code, first, err := runCmd(t, e, "", "staff", "add", "--login", "clerk1", "--password", "Taizhou-2026", "--name", "王窗口",
		"--role", "street_clerk", "--division", "321202001")
	if code != 0 {
		t.Fatalf("staff add: %d %v", code, err)
	}
	code, renewed, err := runCmd(t, e, "", "staff", "totp", "--login", "clerk1")
	a, b := secretRE.FindStringSubmatch(first), secretRE.FindStringSubmatch(renewed)
	if code != 0 || a == nil || b == nil || a[1] == b[1] || !strings.Contains(renewed, "otpauth://totp/") {
		t.Errorf("staff totp: %d %q %v", code, renewed, err)
	}
	tokenRE := regexp.MustCompile(`tzs_[A-Za-z0-9_-]+`)
	code, out, err := runCmd(t, e, "", "system", "add", "--login", "registry", "--name", "迁出地户籍系统", "--role", "origin_registry", "--division", "321200")
	old := tokenRE.FindString(out)
	if code != 0 || old == "" {
		t.Fatalf("system add: %d %q %v", code, out, err)
	}
	code, out, err = runCmd(t, e, "", "system", "rotate", "--login", "registry")
	if fresh := tokenRE.FindString(out); code != 0 || fresh == "" || fresh == old {
		t.Errorf("system rotate: %d %q %v", code, out, err)
	}
	if code, _, err := runCmd(t, e, "", "system", "rotate", "--login", "clerk1"); code != 1 || err == nil {
		t.Errorf("rotating a staff member's token: %d %v", code, err)
	}
}
