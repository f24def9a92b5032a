package main

import (
	"bytes"
	"context"
	"database/sql"
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

func TestLoadToolPostgres(t *testing.T) {
	pgURL, redisURL := servers(t)
	var out bytes.Buffer
	o := smallOptions("postgres", &out)
	results, err := execute(t.Context(), o)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	checkResults(t, out.String(), results, []string{"worklist", "case_page", "worklist_scaling", "transition", "submit"})

	m := regexp.MustCompile(`# kept database (tzload_\w+)\n`).FindAllStringSubmatch(out.String(), -1)
	if len(m) != 2 {
		t.Fatalf("want the two kept databases named:\n%s", out.String())
	}
	admin, err := pgx.Connect(context.Background(), pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	for _, k := range m {
		name := k[1]
		t.Cleanup(func() {
			admin.Exec(context.Background(), "DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		})
	}
	u, _ := pgx.ParseConfig(pgURL)
	u.Database = strings.TrimSuffix(m[0][1], "_small") // the database with the many cases
	big, err := pgx.ConnectConfig(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer big.Close(context.Background())
	var accepts, submits, doubled int64
	if err := big.QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM case_history WHERE event = 'accept' AND at > now() - interval '1 hour'),
		(SELECT count(*) FROM case_history WHERE event = 'submit' AND at > now() - interval '1 hour'),
		(SELECT count(*) FROM cases c WHERE c.version <> (SELECT max(seq) FROM case_history h WHERE h.case_id = c.id))`).
		Scan(&accepts, &submits, &doubled); err != nil {
		t.Fatal(err)
	}
	if n := committed(results, "transition"); accepts < n {
		t.Errorf("%d accept steps in the database, the tool counted %d", accepts, n)
	}
	if n := committed(results, "submit"); submits < n {
		t.Errorf("%d submit steps in the database, the tool counted %d", submits, n)
	}
	if doubled != 0 {
		t.Errorf("%d cases whose version is not their last history step", doubled)
	}
	if s := suffixRe.FindStringSubmatch(out.String()); s == nil {
		t.Error("no Redis prefix in the report")
	} else if n := leftInRedis(t, redisURL, s[1]); n != 0 {
		t.Errorf("%d Redis keys left under load:%s:", n, s[1])
	}
}

func TestLoadToolSQLite(t *testing.T) {
	_, redisURL := servers(t)
	var out bytes.Buffer
	o := smallOptions("sqlite", &out)
	results, err := execute(t.Context(), o)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	checkResults(t, out.String(), results, []string{"worklist", "case_page", "sqlite_transition"})

	m := regexp.MustCompile(`# kept (/\S+)\n`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("want the kept directory named:\n%s", out.String())
	}
	t.Cleanup(func() { os.RemoveAll(m[1]) })
	db, err := sql.Open("sqlite", filepath.Join(m[1], "portal.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var accepts, doubled int64
	if err := db.QueryRow(`SELECT
		(SELECT count(*) FROM case_history WHERE event = 'accept'),
		(SELECT count(*) FROM cases c WHERE c.version <> (SELECT max(seq) FROM case_history h WHERE h.case_id = c.id))`).
		Scan(&accepts, &doubled); err != nil {
		t.Fatal(err)
	}
	if n := committed(results, "sqlite_transition"); accepts < n {
		t.Errorf("%d accept steps in the database, the tool counted %d", accepts, n)
	}
	if doubled != 0 {
		t.Errorf("%d cases whose version is not their last history step", doubled)
	}
	if s := suffixRe.FindStringSubmatch(out.String()); s == nil {
		t.Error("no Redis prefix in the report")
	} else if n := leftInRedis(t, redisURL, s[1]); n != 0 {
		t.Errorf("%d Redis keys left under load:%s:", n, s[1])
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
