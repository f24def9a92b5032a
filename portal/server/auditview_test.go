package server_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"tzportal/portal"
	"tzportal/portal/audit"
	"tzportal/portal/testkit"
)

// TestAuditView runs the audit view on both databases: a supervisor of one
// district sees the entries of their district and none of another's (nor
// the city's own), a city-wide supervisor sees all; people and systems are
// named (name · role · office), actions and results are in the reader's
// language; each filter (case, person, action, time range, result) narrows
// to exactly the matching entries; bad filters are reported next to their
// field and kept as typed; a case out of reach is answered like a case that
// does not exist; keyset pages cover the filtered entries once each, newest
// first; the CSV is the same entries, with a BOM and formula-safe cells,
// and is itself audited; verifying the chain from the page records the
// result and its time, finds a forged entry, and is the city's alone.
func TestAuditView(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		j := newJourney(t, b)
		p := j.p
		ctx := context.Background()
		p.MustApplicant(t, testkit.Applicants[2])
		p.MustStaff(t, "hailingsup", "supervisor", "321202")
		p.MustStaff(t, "gaogangsup", "supervisor", "321203")
		p.MustStaff(t, "gaogangclerk", "street_clerk", "321203001")
		login := func(l string) *testkit.Client { c := p.NewClient(t); c.Login(l); return c }
		wang, gaogangClerk := login(testkit.Applicants[2].Mobile), login("gaogangclerk")
		hailingSup, gaogangSup := login("hailingsup"), login("gaogangsup")

		// A: 海陵区 城东街道, accepted by clerk1. C: 高港区, accepted by
		// the 高港 clerk, who also tries to open A (denied, audited).
		a := j.create(t, j.alice, testkit.ResidenceForm())
		fire(t, j.alice, a, "submit", nil, 200)
		fire(t, j.clerk, a, "accept", nil, 200)
		cc := j.create(t, wang, testkit.ResidenceForm("division", "321203001", "address", "高港区口岸街道某路1号"))
		fire(t, wang, cc, "submit", nil, 200)
		fire(t, gaogangClerk, cc, "accept", nil, 200)
		if r := gaogangClerk.Get("/api/v1/cases/" + a); r.Status != http.StatusNotFound {
			t.Fatalf("the 高港 clerk opening A: %d", r.Status)
		}

		// pages reads every page of the view as c, following next.
		pages := func(c *testkit.Client, query string) (items []map[string]any, n int) {
			t.Helper()
			before := ""
			for {
				q, _ := url.ParseQuery(query)
				if before != "" {
					q.Set("before", before)
				}
				q.Set("view", "1") // more than case_no: the view, not the case's whole trail
				r := c.Get("/api/v1/audit?" + q.Encode())
				if r.Status != http.StatusOK {
					t.Fatalf("GET /api/v1/audit?%s: %d %s", q.Encode(), r.Status, r.Body)
				}
				doc := r.JSON(t)
				list, _ := doc["items"].([]any)
				for _, it := range list {
					items = append(items, it.(map[string]any))
				}
				n++
				next, _ := doc["next"].(string)
				if next == "" {
					return items, n
				}
				before = next
			}
		}
		seqs := func(items []map[string]any) []int64 {
			var out []int64
			for _, it := range items {
				out = append(out, int64(it["seq"].(float64)))
			}
			return out
		}
		// want is the seqs of the entries matching where, newest first.
		want := func(where string, args ...any) []int64 {
			t.Helper()
			rows, err := p.DB.SQL().Query(`SELECT seq FROM audit_log WHERE `+where+` ORDER BY seq DESC`, args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var out []int64
			for rows.Next() {
				var s int64
				if err := rows.Scan(&s); err != nil {
					t.Fatal(err)
				}
				out = append(out, s)
			}
			return out
		}
		same := func(what string, got, want []int64) {
			t.Helper()
			if len(want) == 0 {
				t.Fatalf("%s: the fixture has no such entries", what)
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s: got entries %v, want %v", what, got, want)
			}
		}

		// Reach: the district supervisors see their district's entries
		// and no other; the city's supervisor sees every entry.
		got, _ := pages(hailingSup, "")
		same("海陵 supervisor, no filter", seqs(got), want(`substr(division, 1, 6) = '321202'`))
		for _, it := range got {
			if d := it["division"].(string); !strings.HasPrefix(d, "321202") {
				t.Errorf("the 海陵 supervisor sees an entry of %q: %v", d, it)
			}
			if it["object"] == "case:"+cc {
				t.Errorf("the 海陵 supervisor sees an entry of the 高港 case: %v", it)
			}
		}
		got, _ = pages(gaogangSup, "")
		same("高港 supervisor, no filter", seqs(got), want(`substr(division, 1, 6) = '321203'`))
		if !slices.ContainsFunc(got, func(it map[string]any) bool { return it["action"] == "case.read" && it["result"] == "denied" }) {
			t.Errorf("the 高港 supervisor does not see their clerk's denied attempt on A")
		}
		got, _ = pages(j.sup, "")
		same("city supervisor, no filter", seqs(got), want(`1 = 1`))

		// Names, roles, offices, actions and results in the reader's language.
		zh, en := p.Catalog.L("zh-CN"), p.Catalog.L("en")
		acc, _ := pages(j.sup, "action=case.accept&case_no="+a)
		if len(acc) != 1 {
			t.Fatalf("A's acceptance: %d entries: %v", len(acc), acc)
		}
		if label, w := acc[0]["actor_label"], "测试 clerk1 · "+zh.T("role.street_clerk")+" · 城东街道"; label != w {
			t.Errorf("actor_label %q, want %q", label, w)
		}
		if got, w := acc[0]["action_label"], zh.T("residence-permit.event.accept"); got != w || got == "case.accept" {
			t.Errorf("action_label %q, want %q", got, w)
		}
		if acc[0]["result_label"] != zh.T("audit.result_ok") {
			t.Errorf("result_label %q", acc[0]["result_label"])
		}
		enSup := login("sup")
		enSup.SetCookie("tz_lang", "en")
		acc, _ = pages(enSup, "action=case.accept&case_no="+a)
		if len(acc) != 1 || acc[0]["action_label"] != en.T("residence-permit.event.accept") || acc[0]["result_label"] != "OK" ||
			!strings.Contains(acc[0]["actor_label"].(string), en.T("role.street_clerk")) {
			t.Errorf("in English: %v", acc)
		}

		// Each filter: exactly the matching entries.
		clerk1 := "user:" + strconv.FormatInt(p.MustUserID(t, "clerk1"), 10)
		got, _ = pages(j.sup, "person=clerk1")
		same("person by login", seqs(got), want(`actor = $1`, clerk1))
		got, _ = pages(j.sup, "person="+url.QueryEscape("测试 clerk1"))
		same("person by name", seqs(got), want(`actor = $1`, clerk1))
		got, _ = pages(j.sup, "result=denied")
		same("result denied", seqs(got), want(`result = 'denied'`))
		got, _ = pages(j.sup, "action=login")
		same("action login", seqs(got), want(`action = 'login'`))
		if !slices.ContainsFunc(got, func(it map[string]any) bool { return it["object"] == clerk1 && it["object_label"] == "测试 clerk1" }) {
			t.Errorf("a login is not about the account by its name: %v", got)
		}
		got, _ = pages(j.sup, "case_no="+strings.ToLower(cc))
		same("case C", seqs(got), want(`object = $1`, "case:"+cc))
		today := p.Clock.Now().In(p.Engine.Calendar.Zone).Format("2006-01-02")
		got, _ = pages(j.sup, "from="+today+"&to="+today+"&action=case.submit")
		same("today's submissions", seqs(got), want(`action = 'case.submit'`))
		if got, _ = pages(j.sup, "from=2020-01-01&to=2020-12-31"); len(got) != 0 {
			t.Errorf("2020: %d entries", len(got))
		}
		// A district supervisor filtering by another district's case finds
		// no such case, exactly as for a case that does not exist.
		out := hailingSup.Get("/audit?case_no=" + cc)
		none := hailingSup.Get("/audit?case_no=TZRP20261130999999")
		if out.Status != http.StatusUnprocessableEntity || none.Status != out.Status ||
			!strings.Contains(out.Text(), zh.T("audit.validation.no_case")) ||
			strings.ReplaceAll(pageMain(out.Text()), cc, "X") != strings.ReplaceAll(pageMain(none.Text()), "TZRP20261130999999", "X") {
			t.Errorf("a case of another district is told apart from one that does not exist: %d / %d", out.Status, none.Status)
		}
		if r := hailingSup.Get("/api/v1/audit?case_no=" + cc); r.Status != http.StatusNotFound {
			t.Errorf("the case's trail for the 海陵 supervisor: %d", r.Status)
		}

		// Bad filters: the message beside the field, the value kept.
		r := j.sup.Get("/audit?from=2026-13-01&to=2026-01-01&person=nobody")
		body := r.Text()
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(body, `id="error-from"`) || !strings.Contains(body, `value="2026-13-01"`) ||
			!strings.Contains(body, `id="error-person"`) || !strings.Contains(body, `value="nobody"`) || !strings.Contains(body, `href="#field-from"`) {
			t.Errorf("bad filters: %d\n%.2000s", r.Status, pageMain(body))
		}
		r = j.sup.Get("/audit?from=2026-12-02&to=2026-12-01")
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Text(), `id="error-to"`) ||
			!strings.Contains(r.Text(), zh.T("audit.validation.date_order")) {
			t.Errorf("to before from: %d", r.Status)
		}
		if r := j.sup.Get("/api/v1/audit?result=maybe"); r.Status != http.StatusUnprocessableEntity {
			t.Errorf("API, result=maybe: %d", r.Status)
		}

		// Keyset pages: 130 more entries in 城东街道, among them one whose
		// object a spreadsheet would read as a formula.
		for i := range 130 {
			obj := "case:" + a
			if i == 7 {
				obj = "=HYPERLINK(\"http://evil\")"
			}
			e := portal.AuditEntry{Actor: clerk1, Role: "street_clerk", Division: "321202001", Action: "material.read", Object: obj, Result: audit.ResultOK}
			if err := p.Audit.Record(ctx, p.DB, e); err != nil {
				t.Fatal(err)
			}
		}
		all, n := pages(hailingSup, "action=material.read")
		same("pages of material.read", seqs(all), want(`action = 'material.read' AND substr(division, 1, 6) = '321202'`))
		if n != 3 {
			t.Errorf("130 entries in %d pages, want 3 of 50", n)
		}
		// The page's "older" link carries the cursor.
		page := hailingSup.Get("/audit?action=material.read").Text()
		if !strings.Contains(page, `/audit?action=material.read&amp;before=`) {
			t.Errorf("no older link with the cursor:\n%.1500s", pageMain(page))
		}

		// CSV: the same entries, BOM, Chinese header, formula-safe, audited.
		r = hailingSup.Get("/audit.csv?action=material.read")
		if r.Status != http.StatusOK || !bytes.HasPrefix(r.Body, []byte("\uFEFF")) {
			t.Fatalf("CSV: %d %.100q", r.Status, r.Body)
		}
		recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(r.Body, []byte("\uFEFF")))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 131 || recs[0][0] != zh.T("audit.seq") {
			t.Fatalf("CSV: %d rows, header %v", len(recs), recs[0])
		}
		var csvSeqs []int64
		formula := false
		for _, rec := range recs[1:] {
			s, _ := strconv.ParseInt(rec[0], 10, 64)
			csvSeqs = append(csvSeqs, s)
			for _, cell := range rec {
				if cell != "" && strings.ContainsRune("=+-@", rune(cell[0])) {
					t.Errorf("a cell a spreadsheet reads as a formula: %q", cell)
				}
			}
			formula = formula || rec[8] == `'=HYPERLINK("http://evil")`
		}
		same("CSV rows", csvSeqs, seqs(all))
		if !formula {
			t.Errorf("the formula-like object is not in the CSV, escaped")
		}
		if n := p.Count(t, `SELECT count(*) FROM audit_log WHERE action = 'audit.export' AND actor = $1`,
			"user:"+strconv.FormatInt(p.MustUserID(t, "hailingsup"), 10)); n != 1 {
			t.Errorf("%d audit.export entries for the export, want 1", n)
		}

		// Verifying the chain: the city's supervisors only.
		main := pageMain(j.sup.Get("/audit").Text())
		if !strings.Contains(main, zh.T("auditview.check_never")) || !strings.Contains(main, `action="/audit/verify"`) {
			t.Errorf("before any check:\n%.1500s", main)
		}
		if strings.Contains(hailingSup.Get("/audit").Text(), `action="/audit/verify"`) {
			t.Errorf("the 海陵 supervisor is offered the check")
		}
		if r := hailingSup.Submit("/audit", "/audit/verify"); r.Status != http.StatusNotFound {
			t.Errorf("the 海陵 supervisor verifying: %d", r.Status)
		}
		if r := j.sup.Post("/audit/verify"); r.Status != http.StatusForbidden {
			t.Errorf("verify without the CSRF token: %d", r.Status)
		}
		r = j.sup.Submit("/audit", "/audit/verify")
		if loc := r.Header.Get("Location"); r.Status != http.StatusSeeOther || loc != "/audit?verified=1#verify" {
			t.Fatalf("verify: %d %q", r.Status, loc)
		}
		r = j.sup.Get("/audit?verified=1")
		if r.Status != http.StatusOK || !strings.Contains(r.Text(), zh.T("auditview.verified_notice")) {
			t.Fatalf("after verifying: %d", r.Status)
		}
		when := p.Clock.Now().In(p.Engine.Calendar.Zone).Format("2006-01-02 15:04")
		main = pageMain(r.Text())
		total := p.Count(t, `SELECT count(*) FROM audit_log WHERE action <> 'audit.verify'`)
		if !strings.Contains(main, "审计链完整") || !strings.Contains(main, when) || !strings.Contains(main, fmt.Sprintf("共校验 %d 条记录", total)) {
			t.Errorf("after the check (%d entries, %s):\n%.2000s", total, when, main)
		}
		if n := p.Count(t, `SELECT count(*) FROM audit_checks WHERE intact`); n != 1 {
			t.Errorf("%d intact checks recorded, want 1", n)
		}
		if n := p.Count(t, `SELECT count(*) FROM audit_log WHERE action = 'audit.verify' AND result = 'ok'`); n != 1 {
			t.Errorf("%d audit.verify entries, want 1", n)
		}
		// The district's supervisor reads the result and its time, not
		// the city's count.
		main = pageMain(hailingSup.Get("/audit").Text())
		if !strings.Contains(main, "审计链完整") || strings.Contains(main, "共校验") {
			t.Errorf("the 海陵 supervisor's check panel:\n%.1500s", main)
		}
		// An entry slipped in without the key breaks the chain; the page says so.
		head, hash, err := p.DB.AuditHead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.DB.SQL().Exec(`INSERT INTO audit_log (seq, at, actor, role, division, action, object, result, ip, detail, prev_hash, hash)
			VALUES ($1, $2, 'user:1', 'street_clerk', '321202001', 'case.read', 'case:X', 'ok', '', '{}', $3, 'forged')`,
			head+1, p.Clock.Now().UTC().Format("2006-01-02T15:04:05.000000Z"), hash); err != nil {
			t.Fatal(err)
		}
		j.sup.Submit("/audit", "/audit/verify")
		r = j.sup.Get("/audit")
		if main := pageMain(r.Text()); r.Status != http.StatusOK || !strings.Contains(main, "审计链已被破坏") {
			t.Errorf("after a forged entry: %d\n%.1500s", r.Status, main)
		}
		if n := p.Count(t, `SELECT count(*) FROM audit_checks WHERE NOT intact`); n != 1 {
			t.Errorf("%d broken checks recorded, want 1", n)
		}
	})
}

// pageMain is a page's <main>, without the layout around it.
func pageMain(page string) string {
	if i := strings.Index(page, "<main"); i >= 0 {
		page = page[i:]
	}
	if i := strings.Index(page, "</main>"); i >= 0 {
		page = page[:i]
	}
	return page
}
