package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
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
// operation the tool counted is in the database, and it left nothing
// behind on the shared servers.

func smallOptions(db string, out *bytes.Buffer) *options {
	return &options{db: db, cases: 20000, small: 2000, c: 4, pairs: 3,
		phase: 250 * time.Millisecond, warmup: 100 * time.Millisecond, out: out, suffix: randomHex(4)}
}

// servers points the tool at the test servers (DATABASE_URL, REDIS_URL).
func servers(t *testing.T) (pgURL, redisURL string) {
	t.Helper()
	// testkit's helpers skip with PORTAL_TEST_EXTERNAL=off and say how to
	// start a server that is down (the schema and prefix go unused).
	testkit.Postgres(t)
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
				// Compared at the report's precision: a connection a pool
				// opens during a short phase adds a few trips to hundreds
				// of requests.
				db, rd := math.Round(s.dbPer*100)/100, math.Round(s.redisPer*100)/100
				if db < 1 || db > 3 || rd > 1 {
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

// checkWrites checks the database after a run: every operation the tool
// counted as done is in the audit trail (the seed writes none, so the
// entries are the portal's and the baselines'), and every case's version
// is its last history step.
func checkWrites(db *sql.DB, results []result, scenarioOfAction map[string]string) error {
	var errs []error
	for action, scenario := range scenarioOfAction {
		var n int64
		if err := db.QueryRow(`SELECT count(*) FROM audit_log WHERE action = $1`, action).Scan(&n); err != nil {
			return err
		}
		if want := committed(results, scenario); n < want || want == 0 {
			errs = append(errs, fmt.Errorf("%d %s entries in the audit trail, the tool counted %d operations of %s", n, action, want, scenario))
		}
	}
	var off int64
	if err := db.QueryRow(`SELECT count(*) FROM cases c
		WHERE c.version <> (SELECT max(seq) FROM case_history h WHERE h.case_id = c.id)`).Scan(&off); err != nil {
		return err
	}
	if off != 0 {
		errs = append(errs, fmt.Errorf("%d cases whose version is not their last history step", off))
	}
	return errors.Join(errs...)
}

// runSmall runs the tool small against db, checks its report, and checks
// the loaded database with inspect before the tool drops it.
func runSmall(t *testing.T, db string, inspect func(dbURL string, results []result) error, scenarios ...string) *options {
	t.Helper()
	var out bytes.Buffer
	o := smallOptions(db, &out)
	o.inspect = inspect
	results, err := execute(t.Context(), o)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	checkResults(t, out.String(), results, scenarios)
	return o
}

func TestLoadToolPostgres(t *testing.T) {
	pgURL, redisURL := servers(t)
	admin, err := sql.Open("pgx", pgURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	inspected := false
	o := runSmall(t, "postgres", func(dbURL string, results []result) error {
		inspected = true
		db, err := sql.Open("pgx", dbURL)
		if err != nil {
			return err
		}
		defer db.Close()
		return checkWrites(db, results, map[string]string{"case.accept": "transition", "case.submit": "submit"})
	}, "worklist", "case_page", "worklist_scaling", "transition", "submit")
	if !inspected {
		t.Fatal("the database was never inspected")
	}

	var left []string
	rows, err := admin.Query(`SELECT datname FROM pg_database WHERE datname LIKE $1`, "tzload_"+o.suffix+"%")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		rows.Scan(&name)
		left = append(left, name)
		admin.Exec("DROP DATABASE " + pgx.Identifier{name}.Sanitize() + " WITH (FORCE)")
	}
	if len(left) > 0 {
		t.Errorf("databases left behind: %v", left)
	}
	if n := leftInRedis(t, redisURL, o.suffix); n != 0 {
		t.Errorf("%d Redis keys left under load:%s:", n, o.suffix)
	}
}

func TestLoadToolSQLite(t *testing.T) {
	_, redisURL := servers(t)
	var dir string
	o := runSmall(t, "sqlite", func(dbURL string, results []result) error {
		path := strings.TrimPrefix(dbURL, "sqlite:")
		dir = filepath.Dir(path)
		db, err := sql.Open("sqlite", path)
		if err != nil {
			return err
		}
		defer db.Close()
		return checkWrites(db, results, map[string]string{"case.accept": "sqlite_transition"})
	}, "worklist", "case_page", "sqlite_transition")
	if dir == "" {
		t.Fatal("the database was never inspected")
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s left behind (%v)", dir, err)
		os.RemoveAll(dir)
	}
	if n := leftInRedis(t, redisURL, o.suffix); n != 0 {
		t.Errorf("%d Redis keys left under load:%s:", n, o.suffix)
	}
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
