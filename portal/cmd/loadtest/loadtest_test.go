package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"tzportal/portal"
	"tzportal/portal/housing"
	"tzportal/portal/schooling"
	"tzportal/portal/testkit"
	"tzportal/portal/workflow"
)

// The load tool is run small (20,000 cases, short phases) against the real
// servers, to keep it from rotting between the runs that measure. The
// test checks what the tool claims, not how fast anything was (no
// wall-clock assertions): every scenario ran its pairs without errors,
// page reads stayed within 3 database round trips and took exactly 1 Redis
// round trip, every operation the tool counted is in the database, the
// database holds what the portal would have written (history inputs, one
// claim per open case), the baselines send the statements of the portal's
// own transactions, and the tool left nothing behind on the shared servers.

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

// A target is a ratio: 0.33, or 2 for allocation_writes (batching must
// at least double the rate).
var resultLine = regexp.MustCompile(`(?m)^RESULT name=(\S+) value=(\d+\.\d\d) target=(\d+(?:\.\d+)?) ok=(true|false)$`)

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
		case "worklist", "case_page", "worklist_scaling", "overview", "overview_scaling":
			for _, s := range r.sides {
				// Every page looks its session up: one Redis round trip
				// (GETEX), the Redis pool being open before the phases.
				// At least one database round trip proves the counter
				// counts; the bare handler reads no database. Compared at
				// the report's precision.
				db, rd := math.Round(s.dbPer*100)/100, math.Round(s.redisPer*100)/100
				if s.name == "bare fiber" {
					if db != 0 || rd != 1 {
						t.Errorf("%s, %s: %.2f database and %.2f Redis round trips per page read, want 0 and 1",
							r.name, s.name, s.dbPer, s.redisPer)
					}
					continue
				}
				if db < 1 || db > 3 || rd != 1 {
					t.Errorf("%s, %s: %.2f database and %.2f Redis round trips per page read, want 1–3 and 1",
						r.name, s.name, s.dbPer, s.redisPer)
				}
			}
		case "allocation_writes":
			// A batch shares BEGIN, COMMIT and the audit head's lock, reads
			// its cases in two statements and writes what they append a
			// kind at a time (portal.Tx.HoldAppends): far fewer statements
			// a case than one case a transaction.
			batched, single := r.sides[0], r.sides[1]
			if d := single.dbPer - batched.dbPer; batched.dbPer <= 0 || single.dbPer < 7 || d < 6 {
				t.Errorf("%s: %.2f statements per case batched, %.2f one per transaction: want at least 6 fewer batched",
					r.name, batched.dbPer, single.dbPer)
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

// per is what one operation of a scenario writes: per entries of an
// audit action, or per notices of a kind.
type per struct {
	scenario string
	n        int
}

// checkWrites checks the database after a run: every operation the tool
// counted as done is in the audit trail (the seed writes none, so the
// entries are the portal's and the baselines'): n entries of the action per
// operation (the submit operation uploads a file per key item); every step
// that tells the applicant wrote its notice, with its SMS to the
// applicant's mobile, per operation
// (kinds: the notices' kinds; the seed writes none); the pools fired on
// hold the files their checklist requires; every case's version is its last
// history step, every step's inputs are what the portal writes for it, and
// the claims are the open cases' own.
func checkWrites(db *sql.DB, postgres bool, results []result, actions, kinds map[string]per) error {
	var errs []error
	for action, p := range actions {
		var n int64
		if err := db.QueryRow(`SELECT count(*) FROM audit_log WHERE action = $1`, action).Scan(&n); err != nil {
			return err
		}
		if want := int64(p.n) * committed(results, p.scenario); n < want || want == 0 {
			errs = append(errs, fmt.Errorf("%d %s entries in the audit trail, the tool counted %d operations of %s (%d entries each)",
				n, action, committed(results, p.scenario), p.scenario, p.n))
		}
	}
	for kind, p := range kinds {
		var n, sms int64
		if err := db.QueryRow(`SELECT count(*), count(d.id) FROM notifications n
			LEFT JOIN deliveries d ON d.notification_id = n.id AND d.channel = 'sms'
				AND d.recipient = (SELECT u.mobile FROM users u WHERE u.id = n.user_id)
			WHERE n.kind = $1`, kind).Scan(&n, &sms); err != nil {
			return err
		}
		if want := int64(p.n) * committed(results, p.scenario); n < want || want == 0 || sms != n {
			errs = append(errs, fmt.Errorf("%d %s notices (%d with their SMS), the tool counted %d operations of %s",
				n, kind, sms, committed(results, p.scenario), p.scenario))
		}
	}
	// The baseline pool's cases (their own day) hold a file for every key
	// item; the HTTP pool's were accepted by the portal, whose guard checked.
	var bare, pool int64
	if err := db.QueryRow(`SELECT count(*) FILTER (WHERE (SELECT count(DISTINCT m.item) FROM materials m
			WHERE m.case_id = c.id AND m.item IN ('`+strings.Join(keyItems[:], "', '")+`')) <> `+fmt.Sprint(len(keyItems))+`),
		count(*) FROM cases c WHERE c.case_no LIKE 'TZRP`+baselineDay+`%'`).Scan(&bare, &pool); err != nil {
		return err
	}
	if bare != 0 || pool == 0 {
		errs = append(errs, fmt.Errorf("%d of the %d cases of the baseline pool lack a key item's file", bare, pool))
	}
	var off int64
	if err := db.QueryRow(`SELECT count(*) FROM cases c
		WHERE c.version <> (SELECT max(seq) FROM case_history h WHERE h.case_id = c.id)`).Scan(&off); err != nil {
		return err
	}
	if off != 0 {
		errs = append(errs, fmt.Errorf("%d cases whose version is not their last history step", off))
	}
	return errors.Join(append(errs, checkInputs(db, postgres), checkClaims(db))...)
}

// checkInputs checks case_history.inputs: the JSON object of the step's
// inputs as sqlstore.InsertHistory writes it (keys sorted), "{}" for a
// step without inputs. The seeded world has corrections and rejections.
func checkInputs(db *sql.DB, postgres bool) error {
	correction := `{"items":["photo","address_proof"],"reason":"材料不全，请补正"}`
	reject := `{"reason":"不符合居住证申领条件"}`
	cast := ""
	if postgres {
		cast = "::jsonb"
	}
	var bad, corrections, rejections int64
	if err := db.QueryRow(`SELECT
		count(*) FILTER (WHERE inputs <> CASE event WHEN 'request_correction' THEN $1`+cast+` WHEN 'reject' THEN $2`+cast+` ELSE '{}' END),
		count(*) FILTER (WHERE event = 'request_correction'), count(*) FILTER (WHERE event = 'reject')
		FROM case_history`, correction, reject).Scan(&bad, &corrections, &rejections); err != nil {
		return err
	}
	if bad != 0 || corrections == 0 || rejections == 0 {
		return fmt.Errorf("case_history: %d steps whose inputs are not the portal's (of %d corrections, %d rejections)", bad, corrections, rejections)
	}
	return nil
}

// checkClaims checks that every open residence-permit case holds the claim
// residence-permit|applicant:<its applicant>, every school-enrollment case
// (the allocation's cohort, all open) a claim of a child, and that no other
// claim is held: so no applicant has two open applications.
func checkClaims(db *sql.DB) error {
	const open = `c.service = 'residence-permit' AND c.state NOT IN ('approved', 'rejected', 'withdrawn', 'discarded')`
	const child = `c.service = '` + schooling.ServiceID + `' AND k.claim LIKE '` + schooling.ServiceID + `|child:%'`
	const household = `c.service = '` + housing.ServiceID + `' AND c.state IN ('waitlisted', 'offered')
		AND k.claim IN ('` + housing.ServiceID + `|applicant:' || c.applicant_id,
			'` + housing.ServiceID + `|person:' || (SELECT u.id_index FROM users u WHERE u.id = c.applicant_id))`
	var unclaimed, stray, claims int64
	if err := db.QueryRow(`SELECT
		(SELECT count(*) FROM cases c WHERE `+open+` AND NOT EXISTS (SELECT 1 FROM case_claims k
			WHERE k.case_id = c.id AND k.claim = 'residence-permit|applicant:' || c.applicant_id))
		+ (SELECT count(*) FROM cases c WHERE c.service = '`+schooling.ServiceID+`' AND NOT EXISTS (SELECT 1 FROM case_claims k
			WHERE k.case_id = c.id AND `+child+`))
		+ (SELECT count(*) FROM cases c WHERE c.service = '`+housing.ServiceID+`' AND (SELECT count(*) FROM case_claims k
			WHERE k.case_id = c.id AND `+household+`) <> 2),
		(SELECT count(*) FROM case_claims k LEFT JOIN cases c ON c.id = k.case_id
			WHERE c.id IS NULL OR NOT (`+open+` AND k.claim = 'residence-permit|applicant:' || c.applicant_id OR `+child+` OR `+household+`)),
		(SELECT count(*) FROM case_claims)`).Scan(&unclaimed, &stray, &claims); err != nil {
		return err
	}
	if unclaimed != 0 || stray != 0 || claims == 0 {
		return fmt.Errorf("case_claims: %d open cases without their claim, %d claims of no open case (of %d)", unclaimed, stray, claims)
	}
	return nil
}

// checkCohort checks the allocation's cohort after a run (either database):
// every case is still published as seeded (version 1) or was moved by the
// run to assigned (version 2, the school in its result, still in staff's
// queue, its step by the tool's system actor), at least as many as the tool
// counted, and each holds the claim of its child for the year.
func checkCohort(db *sql.DB, results []result) error {
	var published, assigned, claimed, total int64
	if err := db.QueryRow(`SELECT
		count(*) FILTER (WHERE c.state = $2 AND c.version = 1),
		count(*) FILTER (WHERE c.state = 'assigned' AND c.version = 2 AND c.in_queue AND c.result->>'school' LIKE 'S00_'
			AND EXISTS (SELECT 1 FROM case_history h WHERE h.case_id = c.id AND h.seq = 2 AND h.event = $3
				AND h.from_state = $2 AND h.to_state = 'assigned' AND h.actor_id IS NULL AND h.actor_role = $4)),
		count(*) FILTER (WHERE EXISTS (SELECT 1 FROM case_claims k WHERE k.case_id = c.id
			AND k.claim = c.service || '|child:' || (c.form->>'child_id_index') || '/' || (c.form->>'year'))),
		count(*)
		FROM cases c WHERE c.service = $1`, schooling.ServiceID, cohortFrom, cohortEvent, cohortActor.System).Scan(
		&published, &assigned, &claimed, &total); err != nil {
		return err
	}
	want := committed(results, "allocation_writes")
	if published+assigned != total || assigned < want || want == 0 || claimed != total {
		return fmt.Errorf("the cohort's %d cases: %d published, %d assigned by the tool (it counted %d), %d holding their child's claim",
			total, published, assigned, want, claimed)
	}
	return nil
}

// checkDraw checks the draws after a run (either database): every draw
// the tool made is revealed and finished, each offered its units to as
// many households, moved through the engine (a history step by the tool's
// actor, an audit entry, a notice with its SMS each); the other households
// still wait, as seeded.
func checkDraw(db *sql.DB, results []result) error {
	var draws, unfinished, offered, stepped, waiting, audited, noticed, reveals int64
	if err := db.QueryRow(`SELECT
		(SELECT count(*) FROM cohorts WHERE kind = 'draw'),
		(SELECT count(*) FROM cohorts WHERE kind = 'draw' AND (finished_at IS NULL OR done <> total)),
		(SELECT count(*) FROM cases WHERE service = $1 AND state = 'offered' AND version = 2),
		(SELECT count(*) FROM case_history h JOIN cases c ON c.id = h.case_id WHERE c.service = $1 AND h.seq = 2
			AND h.event = 'draw' AND h.from_state = 'waitlisted' AND h.to_state = 'offered' AND h.actor_role = $2),
		(SELECT count(*) FROM cases WHERE service = $1 AND state = 'waitlisted' AND version = 1),
		(SELECT count(*) FROM audit_log WHERE action = 'case.draw'),
		(SELECT count(*) FROM notifications n WHERE n.kind = $1 || '.draw' AND EXISTS (SELECT 1 FROM deliveries d
			WHERE d.notification_id = n.id AND d.channel = 'sms')),
		(SELECT count(*) FROM audit_log WHERE action = 'draw.reveal')`, housing.ServiceID, drawActor.System).Scan(
		&draws, &unfinished, &offered, &stepped, &waiting, &audited, &noticed, &reveals); err != nil {
		return err
	}
	var made int64
	for _, r := range results {
		if r.name == "draw" {
			made = r.sides[0].ops
		}
	}
	if made == 0 || draws < made || unfinished != 0 || reveals != draws || offered == 0 || offered%draws != 0 ||
		stepped != offered || audited != offered || noticed != offered || waiting == 0 {
		return fmt.Errorf("draws: %d made (%d measured), %d unfinished, %d revealed; %d households offered (%d steps, %d audited, %d told), %d waiting",
			draws, made, unfinished, reveals, offered, stepped, audited, noticed, waiting)
	}
	return nil
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
		if err := checkCohort(db, results); err != nil {
			return err
		}
		if err := checkDraw(db, results); err != nil {
			return err
		}
		return checkWrites(db, true, results, map[string]per{"case.accept": {"transition", 1},
			"case.create": {"submit", 1}, "material.upload": {"submit", len(keyItems)}, "case.submit": {"submit", 1},
			"case.withdraw": {"submit", 1}, "case." + cohortEvent: {"allocation_writes", 1}},
			map[string]per{serviceID + ".accept": {"transition", 1}, serviceID + ".submit": {"submit", 1},
				schooling.ServiceID + "." + cohortEvent: {"allocation_writes", 1}})
	}, "worklist", "case_page", "overview", "worklist_scaling", "overview_scaling", "transition", "submit", "allocation_core", "allocation_writes", "draw")
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
		if err := checkCohort(db, results); err != nil {
			return err
		}
		if err := checkDraw(db, results); err != nil {
			return err
		}
		return checkWrites(db, false, results, map[string]per{"case.accept": {"sqlite_transition", 1},
			"case." + cohortEvent: {"allocation_writes", 1}},
			map[string]per{serviceID + ".accept": {"sqlite_transition", 1}, schooling.ServiceID + "." + cohortEvent: {"allocation_writes", 1}})
	}, "worklist", "case_page", "overview", "sqlite_transition", "allocation_writes", "draw")
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

// transactions counts the SQL statements of each transaction of a pgbench
// script, BEGIN and COMMIT included: a statement ends a line with ";" or
// "\gset"; lines starting with "\" are pgbench's own.
func transactions(t *testing.T, script string) []int64 {
	t.Helper()
	var out []int64
	n := int64(0)
	for _, line := range strings.Split(script, "\n") {
		l := strings.TrimSpace(line)
		if strings.HasPrefix(l, `\`) || !strings.HasSuffix(l, ";") && !strings.Contains(l, `\gset`) {
			continue
		}
		n++
		if l == "COMMIT;" {
			out, n = append(out, n), 0
		}
	}
	if n != 0 {
		t.Fatalf("%d statements after the last COMMIT:\n%s", n, script)
	}
	return out
}

// The baselines send the statements of the portal's own transactions: as
// many per transaction as the engine sends (the portal's round-trip
// counter, on a small seeded world), and as many as the tool reports.
func TestBaselineStatements(t *testing.T) {
	servers(t)
	for _, db := range []string{"postgres", "sqlite"} {
		t.Run(db, func(t *testing.T) {
			ctx := t.Context()
			o := &options{db: db, c: 1, pairs: 3, phase: 250 * time.Millisecond, warmup: 100 * time.Millisecond,
				out: io.Discard, suffix: randomHex(4)}
			dir := t.TempDir() // removed after the portal is closed
			e := newEnv(o)
			t.Cleanup(e.cleanup)
			prefix, err := e.redisPrefix(ctx, "stmts")
			if err != nil {
				t.Fatal(err)
			}
			var in *instance
			var seed func(ctx context.Context, w *world) error
			if db == "postgres" {
				url, err := e.createDatabase(ctx, "tzload_"+e.suffix)
				if err != nil {
					t.Fatal(err)
				}
				if in, err = e.startPortal(ctx, url, prefix); err != nil {
					t.Fatal(err)
				}
				seed = func(ctx context.Context, w *world) error { return seedPostgres(ctx, url, w) }
			} else {
				if in, err = e.startPortal(ctx, "sqlite:"+filepath.Join(dir, "portal.db"), prefix); err != nil {
					t.Fatal(err)
				}
				seed = func(ctx context.Context, w *world) error { return seedSQLite(ctx, in.DB.SQL(), w) }
			}
			d, err := setup(ctx, e, in, 1000, true, 10, seed)
			if err != nil {
				t.Fatal(err)
			}
			user := func(id int64) portal.Actor { // as the portal's middleware finds a logged-in user
				u, err := in.DB.UserByID(ctx, id)
				if err == nil {
					err = in.Authz.Sync(u)
				}
				if err != nil {
					t.Fatal(err)
				}
				return portal.Actor{User: u, IP: "127.0.0.1"}
			}
			clerk, err := in.DB.UserByLogin(ctx, "la"+d.world.A[0])
			if err != nil {
				t.Fatal(err)
			}
			staff := user(clerk.ID)
			statements := func(what string, f func() error) int64 {
				t.Helper()
				n0 := in.DBTrips.Load()
				if err := f(); err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				return in.DBTrips.Load() - n0
			}
			accept := statements("accept", func() error {
				_, err := in.Engine.Fire(ctx, staff, d.world.transition[d.world.A[0]][0], "accept", workflow.Input{})
				return err
			})
			if db == "sqlite" {
				if accept != loopStatements {
					t.Errorf("the portal's accept: %d statements, the Go loop's %d", accept, loopStatements)
				}
				return
			}
			if got := transactions(t, transitionScript); !slices.Equal(got, []int64{accept}) || accept != transitionStatements {
				t.Errorf("accept: the portal's %d statements, the transition script's %v, reported %d", accept, got, transitionStatements)
			}

			// The submit operation, by a fresh applicant of the HTTP workers:
			// create, a file for each key item (submit refuses without), submit,
			// withdraw. An upload's case read comes before its transaction:
			// transactions counts it with the transaction that follows.
			app := user(d.world.applicantID(0))
			form, _ := json.Marshal(map[string]string{"division": d.world.A[0], "address": "海陵区东进东路18号3幢201室",
				"resided_since": "2024-03-01", "basis": "employment", "basis_detail": "泰州市某机械有限公司", "phone": "13912345678"})
			var no string
			var ops []int64
			ops = append(ops, statements("create", func() error {
				c, err := in.Engine.Create(ctx, app, serviceID, form, "")
				if err == nil {
					no = c.No
				}
				return err
			}))
			for _, item := range keyItems {
				ops = append(ops, statements("upload "+item, func() error {
					_, err := in.Engine.AddMaterial(ctx, app, no, item, item+".png", bytes.NewReader(uploadPNG))
					return err
				}))
			}
			for _, ev := range []string{"submit", "withdraw"} {
				ops = append(ops, statements(ev, func() error {
					_, err := in.Engine.Fire(ctx, app, no, ev, workflow.Input{})
					return err
				}))
			}
			var sum int64
			for _, n := range ops {
				sum += n
			}
			got := transactions(t, submitScript)
			if !slices.Equal(got, ops) || sum != int64(submitStatements) {
				t.Errorf("create, uploads, submit, withdraw: the portal's %v statements, the submit script's %v, reported %d", ops, got, submitStatements)
			}
			// What the scenario uploads is what the script inserts: the
			// portal stores the cleaned image, whose bytes and sum pgbench is given.
			stored, err := storedUpload()
			if err != nil {
				t.Fatal(err)
			}
			var size int64
			var sha string
			if err := in.DB.SQL().QueryRowContext(ctx, `SELECT m.size, m.sha256 FROM materials m JOIN cases c ON c.id = m.case_id
				WHERE c.case_no = $1 AND m.item = $2`, no, keyItems[0]).Scan(&size, &sha); err != nil {
				t.Fatal(err)
			}
			if size != int64(len(stored)) || sha != sha256Hex(stored) {
				t.Errorf("the portal stored %d bytes (%s) for the upload, the script inserts %d (%s)", size, sha, len(stored), sha256Hex(stored))
			}
			// The withdrawal gave the claim back: the applicant may apply again.
			if _, err := in.Engine.Create(ctx, app, serviceID, form, ""); err != nil {
				t.Errorf("a second application after withdrawing: %v", err)
			}
			// pgbench's applicants are fresh too: none holds a claim or a case.
			var cases int64
			if err := in.DB.SQL().QueryRowContext(ctx, `SELECT count(*) FROM cases WHERE applicant_id = $1`,
				d.world.applicantID(d.world.HTTPApplicants)).Scan(&cases); err != nil || cases != 0 {
				t.Errorf("pgbench's first applicant: %d cases (%v), want none", cases, err)
			}
		})
	}
}
