package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The pgbench scripts run the statements of the portal's transactions, with
// the same tables, column lists and row counts, copied from
// portal/sqlstore (case.go, audit.go, user.go NextSeq) as driven by
// portal/workflow/engine.go (Create, Fire → write → claim, validGrant) and
// audit.Append. Values the portal binds as parameters are pgbench variables
// (bound parameters with -M prepared, as pgx binds them); times are now().
//
// pgbench takes ":name" for a variable even inside a string literal, so no
// literal below has a colon followed by a letter.
//
// readCaseSQL reads the case (:no) with its applicant and its last history
// step, as sqlstore's CaseWithHistory does (which reads the whole history:
// the baseline is, if anything, cheaper); the row lands in :c_* variables
// (the applicant's mobile in :c_mobile).
const readCaseSQL = `SELECT c.id, c.case_no, c.service, c.item_code, c.state, c.version, c.applicant_id, c.division, c.district,
	c.form, c.result, c.state_since, c.due_at, c.created_at, c.updated_at, c.in_queue,
	u.name, COALESCE(u.mobile, '') AS mobile, u.id_cipher, COALESCE(u.id_index, ''), u.locale, u.email,
	h.seq, h.event, h.from_state, h.to_state, h.actor_id, h.actor_role, h.inputs, h.at, h.due_at
	FROM cases c JOIN users u ON u.id = c.applicant_id
	LEFT JOIN case_history h ON h.case_id = c.id
	WHERE c.case_no = 'TZRP' || :no::text ORDER BY h.seq DESC LIMIT 1 \gset c_
`

// lockCaseSQL is readCaseSQL that also locks the case, as
// CaseWithHistoryForUpdate does.
var lockCaseSQL = strings.Replace(readCaseSQL, ` \gset c_`, ` FOR UPDATE OF c \gset c_`, 1)

// materialsSQL is sqlstore.Materials: the case's files, which the guards
// materials_complete (submit) and materials_all (accept) check against the
// checklist.
const materialsSQL = `SELECT id, case_id, item, filename, content_type, size, sha256, storage, uploaded_by, uploaded_at FROM materials
	WHERE case_id = :c_id ORDER BY uploaded_at, id;
`

// noticeSQL is what portal/outbox writes for a step with notify: true, in
// the step's transaction: the notice in the applicant's inbox and its SMS
// in one statement (sqlstore.InsertNotice; every seeded applicant has a
// mobile, none an email). The texts are the catalog's, rendered by the
// tool for a case number of the same length, in the variables :<v>title,
// :<v>body and :<v>sms; the kind is :<v>kind.
func noticeSQL(v string) string {
	return `WITH n AS (INSERT INTO notifications (user_id, case_id, kind, title, body, created_at)
	VALUES (:c_applicant_id, :c_id, :` + v + `kind, :` + v + `title, :` + v + `body, now()) RETURNING id),
d AS (INSERT INTO deliveries (notification_id, channel, recipient, subject, body, status, next_at)
	SELECT n.id, 'sms', :c_mobile, '', :` + v + `sms, 'pending', now() FROM n)
SELECT id FROM n;
`
}

// auditHeadSQL locks the audit chain's head and sets :s to the next seq.
const auditHeadSQL = `SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE \gset h_
\set s :h_seq + 1
`

// auditSQL appends the audit entry of :action on case :object with
// :detail, by :actor as :role in :division (sqlstore.AppendAudit on
// PostgreSQL: one statement while the head is locked).
func auditSQL(actor, role, division, action, object, detail string) string {
	return auditHeadSQL + `WITH entry AS (INSERT INTO audit_log (seq, at, actor, role, division, action, object, result, ip, detail, prev_hash, hash)
	VALUES (:s, now(), ` + actor + `, ` + role + `, ` + division + `, ` + action + `, ` + object + `, 'ok', '127.0.0.1', ` + detail + `, :h_hash, :hash))
UPDATE audit_head SET seq = :s, hash = :hash WHERE id = 1;
`
}

// historySQL is sqlstore.InsertHistory: a step without inputs ("{}"),
// with the due date of the state it enters (an SQL expression or NULL).
func historySQL(caseID, seq, event, from, to, actor, role, due string) string {
	return `INSERT INTO case_history (case_id, seq, event, from_state, to_state, actor_id, actor_role, inputs, at, due_at)
	VALUES (` + strings.Join([]string{caseID, seq, event, from, to, actor, role}, ", ") + `, '{}', now(), ` + due + `);
`
}

// monthSQL and yearSQL are the city's month and year now, the periods of
// the dashboards' rollups.
const (
	monthSQL = `to_char(now() AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')`
	yearSQL  = `to_char(now() AT TIME ZONE 'Asia/Shanghai', 'YYYY')`
)

// statRows are the rows of one count at the case's street, district and
// the city (:root), for the month and the year: each row is the areas and
// period, then cols.
func statRows(cols string) []string {
	var rows []string
	for _, area := range []string{":c_division", ":c_district", ":root"} {
		for _, period := range []string{monthSQL, yearSQL} {
			rows = append(rows, `(`+area+`, `+period+`, `+cols+`)`)
		}
	}
	return rows
}

// statCasesSQL is the commit's upsert of the dashboards' case counts
// (sqlstore.flushStats): one count moved from state from to state to
// (from "" for a case just handed in).
func statCasesSQL(from, to string) string {
	rows := statRows(`:c_service, '` + to + `', 1`)
	if from != "" {
		rows = append(statRows(`:c_service, '`+from+`', -1`), rows...)
	}
	return `INSERT INTO stat_cases (area, period, service, state, n) VALUES ` + strings.Join(rows, ", ") + `
	ON CONFLICT (area, period, service, state) DO UPDATE SET n = stat_cases.n + excluded.n;
`
}

// statSums adds a decision row's counts up.
func statSums(table string) string {
	return ` DO UPDATE SET n = ` + table + `.n + excluded.n, approved = ` + table + `.approved + excluded.approved,
	timed = ` + table + `.timed + excluded.timed, on_time = ` + table + `.on_time + excluded.on_time;
`
}

// statStepSQL is the commit's upserts of a staff decision on step from
// (sqlstore.flushStats), by area and by person: decided the day it came,
// approved, on time.
func statStepSQL(from, actor string) string {
	return `INSERT INTO stat_steps (area, period, service, step, days, n, approved, timed, on_time) VALUES ` +
		strings.Join(statRows(`:c_service, '`+from+`', 0, 1, 1, 1, 1`), ", ") + `
	ON CONFLICT (area, period, service, step, days)` + statSums("stat_steps") +
		`INSERT INTO stat_clerks (division, period, service, step, actor_id, days, district, n, approved, timed, on_time) VALUES
	(:c_division, ` + monthSQL + `, :c_service, '` + from + `', ` + actor + `, 0, :c_district, 1, 1, 1, 1),
	(:c_division, ` + yearSQL + `, :c_service, '` + from + `', ` + actor + `, 0, :c_district, 1, 1, 1, 1)
	ON CONFLICT (division, period, service, step, actor_id, days)` + statSums("stat_clerks")
}

// escalationSQL is the timer of a staff deadline the step enters
// (workflow/deadline.go, InsertJob).
func escalationSQL(caseID, version string) string {
	return `INSERT INTO jobs (case_id, event, version, due_at) VALUES (` + caseID + `, 'deadline.escalate', ` + version + `, now() + interval '21 days') RETURNING id;
`
}

// The transition script fires "accept" on a random case of the baseline
// pool. It may pick a case again: the row lock and version compare-and-set
// are the portal's, and the version (and so the history seq) is the
// stored one plus one, so every run is valid. Accepting changes no claim;
// its guard reads the case's files (the pool's cases hold every item their
// checklist requires), and it tells the applicant (notify: true).
var transitionScript = `\set n random(1, :pool)
\set no 20200101000000 + :n
BEGIN;
` + lockCaseSQL + materialsSQL + `\set v :c_version + 1
UPDATE cases SET state = :tostate, version = :v, division = :c_division, district = :c_district,
	form = :c_form, result = :c_result, state_since = now(), due_at = now() + interval '21 days', updated_at = now(), in_queue = true
	WHERE id = :c_id AND version = :c_version;
` + historySQL(":c_id", ":v", ":event", ":fromstate", ":tostate", ":actor", ":role", "now() + interval '21 days'") +
	escalationSQL(":c_id", ":v") + noticeSQL("t") +
	auditSQL(":actorname", ":role", ":c_division", ":action", "'case:' || :c_case_no", ":detail") +
	statCasesSQL("submitted", "reviewing") + statStepSQL("submitted", ":actor") + `COMMIT;
`

// validGrantSQL is the create's check that the applicant holds no valid
// permit (workflow: unique: while_valid; Engine.validGrant): ListCases of
// the applicant's granted cases, as sqlstore's listQuery writes it for
// CaseFilter{ApplicantID, Service, States: [approved], Desc, Limit: 20}.
// The submit scenario's applicants hold none: it reads no row.
const validGrantSQL = `SELECT c.id, c.case_no, c.service, c.item_code, c.state, c.version, c.applicant_id, c.division, c.district,
	c.form, c.result, c.state_since, c.due_at, c.created_at, c.updated_at, c.in_queue, u.name
	FROM (SELECT id FROM (SELECT id FROM cases WHERE applicant_id = :a AND state = :granted AND service = :service
	ORDER BY id DESC LIMIT :grantlimit) AS b0 ORDER BY id DESC LIMIT :grantlimit) AS k
	JOIN cases c ON c.id = k.id JOIN users u ON u.id = c.applicant_id ORDER BY c.id DESC;
`

// uploadSQL is workflow.Engine.AddMaterial of the item: the case read for
// the request (CaseWithHistory, outside the transaction), then in one
// transaction the case locked (CaseByNoForUpdate), its files counted
// against the limit (Materials), the row and its bytes (storage db:
// InsertMaterial, PutMaterialBlob) and the audit entry. The bytes are the
// ones the portal stores for the scenario's PNG (:blob, :size, :sha); the
// material's id is the case number and the item's index (unique, as the
// portal's random ids are).
func uploadSQL(i int, item string) string {
	id := "'pb' || :no::text || '-" + strconv.Itoa(i) + "'"
	return readCaseSQL + `BEGIN;
SELECT id, case_no, service, item_code, state, version, applicant_id, division, district,
	form, result, state_since, due_at, created_at, updated_at, in_queue FROM cases WHERE case_no = 'TZRP' || :no::text FOR UPDATE;
` + materialsSQL + `INSERT INTO materials (id, case_id, item, filename, content_type, size, sha256, storage, uploaded_by, uploaded_at)
	VALUES (` + id + `, :c_id, '` + item + `', '` + item + `.png', 'image/png', :size, :sha, 'db', :a, now());
INSERT INTO material_blobs (id, data) VALUES (` + id + `, :blob);
` + auditSQL("'user:' || :a::text", "'applicant'", ":c_division", "'material.upload'", "'case:' || :c_case_no",
		`'{"content_type":"image/png","id":"' || `+id+` || '","item":"`+item+`","sha256":"' || :sha || '","size":' || :size::text || '}'`)
}

// uploadsSQL uploads the key items, one transaction each.
func uploadsSQL() string {
	var b strings.Builder
	for i, item := range keyItems {
		b.WriteString(uploadSQL(i+1, item) + "COMMIT;\n")
	}
	return b.String()
}

// The submit script is an applicant's application handed in and taken
// back: create (the valid-permit check, counter, case, history, the claim
// taken, audit), an upload for each key item (uploadSQL), submit (the
// transition from draft: its guard reads the files, and it tells the
// applicant) and withdraw (the transition into a final state, which gives
// the claim back), each a transaction. One script run is one operation, as
// create + uploads + submit + withdraw are one operation over HTTP.
// pgbench client k applies as applicant :afirst + k, fresh as the HTTP
// workers' are, so its claim is always free when it creates. New case
// numbers come from a counter period of their own.
var submitScript = `\set a :afirst + :client_id
BEGIN;
` + validGrantSQL + `INSERT INTO counters (name, period, value) VALUES (:counter, :period, 1)
		ON CONFLICT (name, period) DO UPDATE SET value = counters.value + 1 RETURNING value \gset k_
\set no 19991231000000 + :k_value
INSERT INTO cases (case_no, service, item_code, state, version, applicant_id,
		division, district, form, result, state_since, due_at, created_at, updated_at, in_queue)
		VALUES ('TZRP' || :no::text, :service, :itemcode, 'draft', 1, :a, :div, :dist, :form, '{}', now(), NULL, now(), now(), false) RETURNING id \gset n_
` + historySQL(":n_id", "1", "'create'", "''", "'draft'", ":a", "'applicant'", "NULL") + `DELETE FROM case_claims WHERE case_id = :n_id;
INSERT INTO case_claims (claim, case_id) VALUES (:claimprefix::text || :a::text, :n_id) ON CONFLICT (claim) DO NOTHING;
` + auditSQL("'user:' || :a::text", "'applicant'", ":div", "'case.create'", "'case:' || 'TZRP' || :no::text", ":detail1") + `COMMIT;
` + uploadsSQL() + `BEGIN;
` + lockCaseSQL + materialsSQL + `UPDATE cases SET state = 'submitted', version = 2, division = :c_division, district = :c_district,
	form = :c_form, result = :c_result, state_since = now(), due_at = now() + interval '2 days', updated_at = now(), in_queue = true
	WHERE id = :c_id AND version = 1;
` + historySQL(":c_id", "2", "'submit'", "'draft'", "'submitted'", ":a", "'applicant'", "now() + interval '2 days'") +
	escalationSQL(":c_id", "2") + noticeSQL("s") +
	auditSQL("'user:' || :a::text", "'applicant'", ":c_division", "'case.submit'", "'case:' || :c_case_no", ":detail2") +
	statCasesSQL("", "submitted") + `COMMIT;
BEGIN;
` + lockCaseSQL + `UPDATE cases SET state = 'withdrawn', version = 3, division = :c_division, district = :c_district,
	form = :c_form, result = :c_result, state_since = now(), due_at = NULL, updated_at = now(), in_queue = false
	WHERE id = :c_id AND version = 2;
` + historySQL(":c_id", "3", "'withdraw'", "'submitted'", "'withdrawn'", ":a", "'applicant'", "NULL") + `DELETE FROM case_claims WHERE case_id = :c_id;
` + auditSQL("'user:' || :a::text", "'applicant'", ":c_division", "'case.withdraw'", "'case:' || :c_case_no", ":detail3") +
	statCasesSQL("submitted", "withdrawn") + `COMMIT;
`

// Statements per script run (BEGIN and COMMIT included), for the round-trip
// lines. A transition is 13: BEGIN, case, its files (the guard), update,
// history, the escalation timer, notice with its SMS, audit head, audit
// entry, the dashboards' case counts, decisions and decisions by person,
// COMMIT. The submit
// operation is create 10 (BEGIN, valid-permit check, counter, case,
// history, claims deleted and taken, audit head, audit entry, COMMIT) + 9
// per key item uploaded (the case read, BEGIN, case locked, files, row,
// bytes, audit head, audit entry, COMMIT) + submit 11 (as a transition,
// with case counts but no decision) + withdraw 9 (no guard, no notice;
// the claims given back; the case counts).
const (
	transitionStatements = 13
	submitStatements     = 10 + 9*len(keyItems) + 11 + 9
)

type pgbench struct {
	dbURL  string
	c      int
	script string // file
	vars   map[string]string
	dir    string
}

func newPgbench(dir, dbURL string, c int, name, script string, vars map[string]string) (*pgbench, error) {
	file := filepath.Join(dir, name+".sql")
	if err := os.WriteFile(file, []byte(script), 0o600); err != nil {
		return nil, err
	}
	return &pgbench{dbURL: dbURL, c: c, script: file, vars: vars, dir: dir}, nil
}

var (
	tpsRE       = regexp.MustCompile(`(?m)^tps = ([0-9.]+)`)
	processedRE = regexp.MustCompile(`(?m)^number of transactions actually processed: (\d+)`)
	failedRE    = regexp.MustCompile(`(?m)^number of failed transactions: (\d+)`)
)

// run runs pgbench for dur (whole seconds) and reads its per-transaction
// log for the latencies.
func (b *pgbench) run(ctx context.Context, dur time.Duration) *phase {
	secs := max(1, int(math.Round(dur.Seconds())))
	prefix := filepath.Join(b.dir, fmt.Sprintf("log%d", time.Now().UnixNano()))
	args := []string{"-n", "-M", "prepared", "-c", strconv.Itoa(b.c), "-j", strconv.Itoa(min(2, b.c)), "-T", strconv.Itoa(secs),
		"-f", b.script, "-l", "--log-prefix=" + prefix}
	for k, v := range b.vars {
		args = append(args, "-D", k+"="+v)
	}
	args = append(args, b.dbURL)
	cmd := exec.CommandContext(ctx, pgbenchPath(), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := &phase{Elapsed: time.Duration(secs) * time.Second}
	if m := processedRE.FindSubmatch(out.Bytes()); m != nil {
		res.Ops, _ = strconv.ParseInt(string(m[1]), 10, 64)
	}
	if m := tpsRE.FindSubmatch(out.Bytes()); m != nil {
		if tps, _ := strconv.ParseFloat(string(m[1]), 64); tps > 0 {
			res.Elapsed = time.Duration(float64(res.Ops) / tps * float64(time.Second))
		}
	}
	if m := failedRE.FindSubmatch(out.Bytes()); m != nil {
		res.Errors, _ = strconv.ParseInt(string(m[1]), 10, 64)
	}
	if err != nil || res.Ops == 0 {
		res.Errors++
		res.FirstErr = fmt.Sprintf("pgbench: %v: %s", err, lastLines(errb.String(), 3))
	}
	files, _ := filepath.Glob(prefix + ".*")
	for _, f := range files {
		res.Lat = append(res.Lat, readPgbenchLog(f)...)
		os.Remove(f)
	}
	res.DB = res.Ops // scaled by the caller: statements per run
	return res
}

// readPgbenchLog reads "client_id transaction_no time_us script_no epoch us"
// lines.
func readPgbenchLog(file string) []time.Duration {
	f, err := os.Open(file)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []time.Duration
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 {
			continue
		}
		us, err := strconv.ParseInt(fields[2], 10, 64)
		if err != nil {
			continue // "failed" or "skipped"
		}
		out = append(out, time.Duration(us)*time.Microsecond)
	}
	return out
}

func pgbenchPath() string {
	if p := os.Getenv("PGBENCH"); p != "" {
		return p
	}
	if _, err := os.Stat("/usr/bin/pgbench"); err == nil {
		return "/usr/bin/pgbench"
	}
	return "pgbench"
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
