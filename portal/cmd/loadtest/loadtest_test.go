package main

import (
	"bytes"
	"context"
	"database/sql"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"tzportal/portal/testkit"
)

// The load tool is run small (20,000 cases, short phases) against the real
// servers, to keep it from rotting between the runs that measure. The
// test checks what the tool claims, not how fast anything was (no
// wall-clock assertions): every scenario ran its pairs without errors,
// page reads stayed within 3 database and 1 Redis round trips, every
// transition the tool counted is in the database, and it left nothing
// behind on the shared servers.

func smallOptions(db string, out *bytes.Buffer) *options {
	return &options{db: db, cases: 20000, small: 2000, c: 4, pairs: 3,
		phase: 250 * time.Millisecond, warmup: 100 * time.Millisecond, keep: true, out: out}
}

// servers points the tool at the test servers (DATABASE_URL, REDIS_URL).
func servers(t *testing.T) (pgURL, redisURL string) {
	t.Helper()
	testkit.Postgres(t) // skips with PORTAL_TEST_EXTERNAL=off, says how to start it when down
	redisURL, _ = testkit.Redis(t)
	pgURL = os.Getenv("PORTAL_TEST_DATABASE_URL")
	if pgURL == "" {
		pgURL = testkit.DefaultPostgres
	}
	t.Setenv("DATABASE_URL", pgURL)
	t.Setenv("REDIS_URL", redisURL)
	return pgURL, redisURL
}

var resultLine = regexp.MustCompile(`(?m)^RESULT name=(\S+) value=(\d+\.\d\d) target=(0\.\d+) ok=(true|false)$`)

func checkResults(t *testing.T, out string, results []result, want []string) {
	t.Helper()
	var names []string
	for _, r := range results {
		names = append(names, r.name)
	}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("scenarios %v, want %v\n%s", names, want, out)
	}
	lines := resultLine.FindAllStringSubmatch(out, -1)
	if len(lines) != len(want) {
		t.Fatalf("%d RESULT lines, want %d:\n%s", len(lines), len(want), out)
	}
	for i, r := range results {
		if lines[i][1] != r.name {
			t.Errorf("RESULT line %d names %s, want %s", i, lines[i][1], r.name)
		}
		if len(r.ratios) != 3 {
			t.Errorf("%s: %d pairs measured, want 3", r.name, len(r.ratios))
		}
		for _, x := range r.ratios {
			if !(x > 0) || math.IsInf(x, 0) {
				t.Errorf("%s: ratio %v of a pair", r.name, x)
			}
		}
		for _, s := range r.sides {
			if s.ops == 0 || s.errors != 0 {
				t.Errorf("%s, %s: %d operations, %d errors", r.name, s.name, s.ops, s.errors)
			}
		}
		switch r.name {
		case "worklist", "case_page", "worklist_scaling":
			for _, s := range r.sides {
				if s.name == "bare fiber" {
					continue
				}
				// At least one database round trip proves the tracer counts.
				if s.dbPer < 1 || s.dbPer > 3 || s.redisPer > 1 {
					t.Errorf("%s, %s: %.2f database and %.2f Redis round trips per page read, want 1–3 and ≤ 1",
						r.name, s.name, s.dbPer, s.redisPer)
				}
			}
		}
	}
	if !strings.Contains(out, "# peak RSS (VmHWM)") {
		t.Errorf("no peak RSS line:\n%s", out)
	}
}

// committed returns the transitions the tool counted as done: the measured
// phases of both sides (warm-ups come on top, so the database holds at least this many).
func committed(results []result, scenario string) int64 {
	for _, r := range results {
		if r.name == scenario {
			return r.sides[0].ops + r.sides[1].ops
		}
	}
	return 0
}

// leftInRedis counts the keys the run left under its prefixes.
func leftInRedis(t *testing.T, redisURL, suffix string) int {
	t.Helper()
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	keys, err := c.Keys(context.Background(), "load:"+suffix+":*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return len(keys)
}

var suffixRe = regexp.MustCompile(`Redis prefix "load:([0-9a-f]+):`)

// checkWrites checks the database after a run: every operation the tool
// counted as done is in the audit trail (the seed writes none, so the
// entries are the portal's and the baselines'), and every case's version
// is its last history step.
func checkWrites(t *testing.T, db *sql.DB, results []result, scenarioOfAction map[string]string) {
	t.Helper()
	for action, scenario := range scenarioOfAction {
		var n int64
		if err := db.QueryRow(`SELECT count(*) FROM audit_log WHERE action = $1`, action).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if want := committed(results, scenario); n < want || want == 0 {
			t.Errorf("%d %s entries in the audit trail, the tool counted %d operations of %s", n, action, want, scenario)
		}
	}
	var off int64
	if err := db.QueryRow(`SELECT count(*) FROM cases c
		WHERE c.version <> (SELECT max(seq) FROM case_history h WHERE h.case_id = c.id)`).Scan(&off); err != nil {
		t.Fatal(err)
	}
	if off != 0 {
		t.Errorf("%d cases whose version is not their last history step", off)
	}
}

// checkRedisClean checks that the run deleted its Redis keys.
func checkRedisClean(t *testing.T, redisURL, out string) {
	t.Helper()
	if s := suffixRe.FindStringSubmatch(out); s == nil {
		t.Error("no Redis prefix in the report")
	} else if n := leftInRedis(t, redisURL, s[1]); n != 0 {
		t.Errorf("%d Redis keys left under load:%s:", n, s[1])
	}
}

// runSmall runs the tool small against db and checks its report.
func runSmall(t *testing.T, db string, scenarios ...string) ([]result, string) {
	t.Helper()
	var out bytes.Buffer
	results, err := execute(t.Context(), smallOptions(db, &out))
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	checkResults(t, out.String(), results, scenarios)
	return results, out.String()
}

func TestLoadToolPostgres(t *testing.T) {
	pgURL, redisURL := servers(t)
	results, out := runSmall(t, "postgres", "worklist", "case_page", "worklist_scaling", "transition", "submit")
	m := regexp.MustCompile(`# kept database (tzload_\w+)\n`).FindAllStringSubmatch(out, -1)
	if len(m) != 2 {
		t.Fatalf("want the two kept databases named:\n%s", out)
	}
	admin, err := sql.Open("pgx", pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for _, k := range m {
		name := k[1]
		t.Cleanup(func() { admin.Exec("DROP DATABASE " + pgx.Identifier{name}.Sanitize() + " WITH (FORCE)") })
	}
	u, err := url.Parse(pgURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + strings.TrimSuffix(m[0][1], "_small") // the database with the many cases
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	checkWrites(t, db, results, map[string]string{"case.accept": "transition", "case.submit": "submit"})
	checkRedisClean(t, redisURL, out)
}

func TestLoadToolSQLite(t *testing.T) {
	_, redisURL := servers(t)
	results, out := runSmall(t, "sqlite", "worklist", "case_page", "sqlite_transition")
	m := regexp.MustCompile(`# kept (/\S+)\n`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("want the kept directory named:\n%s", out)
	}
	t.Cleanup(func() { os.RemoveAll(m[1]) })
	db, err := sql.Open("sqlite", filepath.Join(m[1], "portal.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	checkWrites(t, db, results, map[string]string{"case.accept": "sqlite_transition"})
	checkRedisClean(t, redisURL, out)
}

// Bad flags are refused before anything is created.
func TestLoadToolFlags(t *testing.T) {
	for _, args := range [][]string{{"-pairs", "2"}, {"-db", "mysql"}, {"-cases", "100"}, {"-c", "0"}, {"-nosuch"}} {
		var out bytes.Buffer
		if code := run(args, &out); code != 2 {
			t.Errorf("loadtest %v: exit %d, want 2", args, code)
		}
		if out.Len() != 0 {
			t.Errorf("loadtest %v printed a report:\n%s", args, out.String())
		}
	}
}
