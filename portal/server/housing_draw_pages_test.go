package server_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"tzportal/portal/lottery"
	"tzportal/portal/testkit"
)

// waitlisted makes one household per name waitlisted for public rental in
// 海陵区: applied, accepted, approved, and through its public notice.
func (h *housingRig) waitlisted(t *testing.T, names ...string) []string {
	t.Helper()
	var nos []string
	for i, name := range names {
		c := h.applicant(t, name)
		no := h.apply(t, c, housingForm(h.p, t, "family_migrated", i%2 == 0, "address", fmt.Sprintf("海陵区东进东路%d号", 10+i)))
		fire(t, c, no, "submit", nil, 200)
		fire(t, h.clerk, no, "accept", nil, 200)
		fire(t, h.officer, no, "approve_review", nil, 200)
		nos = append(nos, no)
	}
	h.p.Clock.Advance(8 * 24 * time.Hour) // the notices end
	if _, err := h.p.Engine.RunDueTimers(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.relogin()
	for _, no := range nos {
		if st, _ := h.state(t, h.officer, no); st != "waitlisted" {
			t.Fatalf("%s: %s, want waitlisted", no, st)
		}
	}
	return nos
}

// fieldError is the message a page shows next to a field ("" for none):
// the partial field-error's paragraph, which the field's aria-describedby
// names.
func fieldError(page, field string) string {
	re := regexp.MustCompile(`<p class="field-error" id="error-` + regexp.QuoteMeta(html.EscapeString(field)) + `">(?:<span id="[^"]*"></span>)?<span class="visually-hidden">[^<]*</span>([^<]*)</p>`)
	if m := re.FindStringSubmatch(page); m != nil {
		return html.UnescapeString(m[1])
	}
	return ""
}

// textarea is what a page's textarea called name holds.
func textarea(page, name string) string {
	re := regexp.MustCompile(`<textarea[^>]*\bname="` + regexp.QuoteMeta(name) + `"[^>]*>([^<]*)</textarea>`)
	if m := re.FindStringSubmatch(page); m != nil {
		return html.UnescapeString(m[1])
	}
	return ""
}

// The district housing officer's draw pages, as the officer uses them on a
// phone without JavaScript: the draws with the form to create one (the
// commitment made offline), a refusal shown next to its field with what
// was typed kept, one draw with the form to reveal it — a wrong seed
// refused in place, the right one final — and its offers with their cases.
// Nobody else reaches them.
func TestHousingDrawPages(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		h := newHousingRig(t, b)
		p := h.p
		nos := h.waitlisted(t, "王一", "李二", "张三")
		applicant := h.applicant(t, "钱五")
		anon := p.NewClient(t)

		// Who is offered the page: the district officers, in the menu and
		// at the address; others are refused as on the schooling office.
		const menuLink = `<a href="/housing/draws">`
		for who, c := range map[string]*testkit.Client{"the officer": h.officer, "another district's officer": h.gaogang} {
			if page := c.Get("/cases").Text(); !strings.Contains(page, menuLink) {
				t.Errorf("%s is not offered the draws in the menu", who)
			}
		}
		for who, c := range map[string]*testkit.Client{"a street clerk": h.clerk, "an applicant": applicant} {
			if page := c.Get("/cases").Text(); strings.Contains(page, menuLink) {
				t.Errorf("%s is offered the draws in the menu", who)
			}
			if r := c.Get("/housing/draws"); r.Status != http.StatusForbidden {
				t.Errorf("%s opens the draws: %d", who, r.Status)
			}
		}
		if r := anon.Get("/housing/draws"); r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
			t.Errorf("without a login: %d %s", r.Status, r.Header.Get("Location"))
		}
		page := h.officer.Get("/housing/draws")
		if page.Status != 200 || !strings.Contains(page.Text(), "sha256sum") || !strings.Contains(page.Text(), `action="/housing/draws"`) ||
			!strings.Contains(page.Text(), "至少32位") || !strings.Contains(page.Text(), "冻结") {
			t.Fatalf("the draws page: %d %.3000s", page.Status, page.Text())
		}

		// A draw of a kind nobody waits for: created open, with no one in
		// it. (It also makes the revealed draw below number 2: housing's
		// drawCache is one per process, keyed by a draw's id alone, and
		// TestHousingDraw reveals a draw 1 of its own portal.)
		r := h.officer.Submit("/housing/draws", "/housing/draws", "district", "321202", "kind", "shared_ownership",
			"units", "S-1", "commitment", lottery.Commitment(strings.Repeat("5a", 16)), "beacon", "中国福利彩票双色球2026141期开奖号码")
		first := r.Header.Get("Location")
		if r.Status != http.StatusSeeOther || first != "/housing/draws/1" {
			t.Fatalf("create a draw with no one waiting: %d %s", r.Status, first)
		}
		if page := h.officer.Get(first).Text(); !strings.Contains(page, "参加户数</dt><dd>0</dd>") {
			t.Errorf("a draw with no one waiting: %.2000s", page)
		}

		// A commitment that is no SHA-256, a unit listed twice: refused
		// next to each, everything typed kept.
		const beacon = "中国福利彩票双色球2026140期开奖号码"
		r = h.officer.Submit("/housing/draws", "/housing/draws", "district", "321202", "kind", "public_rental",
			"units", "A-101\nA-101", "commitment", "不是承诺值", "beacon", beacon)
		if r.Status != http.StatusUnprocessableEntity {
			t.Fatalf("a bad commitment: %d", r.Status)
		}
		if msg := fieldError(r.Text(), "commitment"); !strings.Contains(msg, "随机数承诺值") || !strings.Contains(msg, "64位") {
			t.Errorf("the commitment's error: %q", msg)
		}
		if msg := fieldError(r.Text(), "units[1].code"); !strings.Contains(msg, "第2套房源的编号") {
			t.Errorf("the second unit's error: %q", msg)
		}
		if fieldError(r.Text(), "beacon") != "" || fieldError(r.Text(), "kind") != "" {
			t.Error("a field typed right shows an error")
		}
		if testkit.FormField(r.Text(), "commitment") != "不是承诺值" || testkit.FormField(r.Text(), "beacon") != beacon ||
			textarea(r.Text(), "units") != "A-101\nA-101" || !strings.Contains(r.Text(), `<option value="public_rental" selected>`) {
			t.Error("what was typed is not kept")
		}
		if r := h.officer.Submit("/housing/draws", "/housing/draws", "district", "321202", "kind", "public_rental",
			"units", " ", "commitment", lottery.Commitment("ab"), "beacon", beacon); fieldError(r.Text(), "units") != "请填写房源" {
			t.Errorf("no unit at all: %d %q", r.Status, fieldError(r.Text(), "units"))
		}

		// Created through the form: units on lines and after commas, the
		// commitment pasted as sha256sum prints it.
		seed := strings.Repeat("c0ffee", 8)
		r = h.officer.Submit("/housing/draws", "/housing/draws", "district", "321202", "kind", "public_rental",
			"units", "A-101\r\nA-102，\n", "commitment", lottery.Commitment(seed)+"  -", "beacon", beacon)
		loc := r.Header.Get("Location")
		if r.Status != http.StatusSeeOther || !strings.HasPrefix(loc, "/housing/draws/") {
			t.Fatalf("create: %d %s %.2000s", r.Status, loc, r.Text())
		}
		id := strings.TrimPrefix(loc, "/housing/draws/")
		page = h.officer.Get(loc)
		if page.Status != 200 || !strings.Contains(page.Text(), "参加户数</dt><dd>3</dd>") || !strings.Contains(page.Text(), "房源套数</dt><dd>2</dd>") ||
			!strings.Contains(page.Text(), lottery.Commitment(seed)) || !strings.Contains(page.Text(), `action="/housing/draws/`+id+`/reveal"`) ||
			!strings.Contains(page.Text(), "不能重新摇号") {
			t.Fatalf("the draw's page: %d %.3000s", page.Status, page.Text())
		}
		list := h.officer.Get("/housing/draws").Text()
		if !strings.Contains(list, `href="/draws/`+id+`"`) || !strings.Contains(list, `href="`+first+`"`) ||
			strings.Index(list, `href="`+loc+`"`) > strings.Index(list, `href="`+first+`"`) {
			t.Error("the draws page does not list both draws, newest first")
		}

		// One open draw of a district and kind: a second is refused with a
		// link to the first.
		r = h.officer.Submit("/housing/draws", "/housing/draws", "district", "321202", "kind", "public_rental",
			"units", "B-1", "commitment", lottery.Commitment(seed), "beacon", beacon)
		if r.Status != http.StatusConflict || !strings.Contains(r.Text(), `<a href="`+loc+`">查看还没有揭晓的那次摇号（编号 `+id+`）</a>`) {
			t.Errorf("a second open draw: %d", r.Status)
		}

		// Another district's officer: as if there were no such draw, and audited.
		denied := p.Count(t, "SELECT count(*) FROM audit_log WHERE object = $1 AND result = 'denied'", "cohort:"+id)
		out, none := h.gaogang.Get(loc), h.gaogang.Get("/housing/draws/999999")
		if out.Status != http.StatusNotFound || none.Status != http.StatusNotFound {
			t.Errorf("another district's officer opens the draw: %d; no such draw: %d", out.Status, none.Status)
		}
		// Told apart by nothing but the request id and the address asked
		// for (the language switch comes back to it).
		next := regexp.MustCompile(`next=[^"]*`)
		if a, b := next.ReplaceAllString(sameBody(out, "\x00"), "next="), next.ReplaceAllString(sameBody(none, "\x00"), "next="); a != b {
			t.Errorf("a draw out of reach is told apart from one that does not exist:\n%s\n%s", a, b)
		}
		if p.Count(t, "SELECT count(*) FROM audit_log WHERE object = $1 AND result = 'denied'", "cohort:"+id) <= denied {
			t.Error("another district's officer opening the draw is not audited as denied")
		}
		if r := h.gaogang.Get("/housing/draws"); r.Status != 200 || strings.Contains(r.Text(), `href="`+loc+`"`) {
			t.Errorf("another district's officer's draws list this one: %d", r.Status)
		}
		for who, c := range map[string]*testkit.Client{"a street clerk": h.clerk, "an applicant": applicant} {
			if r := c.Get(loc); r.Status != http.StatusForbidden {
				t.Errorf("%s opens the draw: %d", who, r.Status)
			}
		}
		if r := anon.Get(loc); r.Status != http.StatusSeeOther {
			t.Errorf("the draw without a login: %d", r.Status)
		}

		// A wrong seed: refused next to the seed, nothing revealed, what
		// was typed kept.
		const beaconValue = "03 07 12 19 25 31 + 09"
		wrong := strings.Repeat("ab", 20)
		r = h.officer.Submit(loc, loc+"/reveal", "seed", wrong, "beacon_value", beaconValue)
		if r.Status != http.StatusUnprocessableEntity {
			t.Fatalf("a wrong seed: %d %.2000s", r.Status, r.Text())
		}
		if msg := fieldError(r.Text(), "seed"); !strings.Contains(msg, "承诺值不一致") {
			t.Errorf("the seed's error: %q", msg)
		}
		if testkit.FormField(r.Text(), "beacon_value") != beaconValue || testkit.FormField(r.Text(), "seed") != wrong {
			t.Error("the reveal typed is not kept")
		}
		for _, no := range nos {
			if st, _ := h.state(t, h.officer, no); st != "waitlisted" {
				t.Errorf("%s moved to %s on a wrong seed", no, st)
			}
		}

		// The right seed: final, offers made, the page shows them with
		// their cases.
		r = h.officer.Submit(loc, loc+"/reveal", "seed", seed, "beacon_value", beaconValue)
		if r.Status != http.StatusSeeOther || r.Header.Get("Location") != loc {
			t.Fatalf("reveal: %d %s %.2000s", r.Status, r.Header.Get("Location"), r.Text())
		}
		page = h.officer.Get(loc)
		var offered []string
		for _, no := range nos {
			st, res := h.state(t, h.officer, no)
			if st != "offered" {
				if strings.Contains(page.Text(), no) {
					t.Errorf("%s, not offered, is on the draw's page", no)
				}
				continue
			}
			offered = append(offered, no)
			if !regexp.MustCompile(`>` + regexp.QuoteMeta(fmt.Sprint(res["unit"])) + `</td><td [^>]*><a href="/cases/` + no + `">` + no + `</a>`).MatchString(page.Text()) {
				t.Errorf("the draw's page does not show %s offered %v with its case", no, res["unit"])
			}
		}
		if len(offered) != 2 {
			t.Errorf("%d households offered, want 2", len(offered))
		}
		if !strings.Contains(page.Text(), seed) || !strings.Contains(html.UnescapeString(page.Text()), beaconValue) || strings.Contains(page.Text(), `action="`+loc+`/reveal"`) ||
			!strings.Contains(page.Text(), `href="/draws/`+id+`"`) {
			t.Errorf("the revealed draw's page: %.3000s", page.Text())
		}
		pub := anon.Get("/draws/" + id)
		public(t, "the public draw page", pub, nos...)
		// Once revealed, never again (a form kept open in another tab).
		if r := h.officer.Post(loc+"/reveal", "_csrf", testkit.FormToken(t, page.Text()), "seed", seed, "beacon_value", "other"); r.Status != http.StatusConflict ||
			!strings.Contains(r.Text(), "已经揭晓") {
			t.Errorf("a second reveal: %d", r.Status)
		}

		// In English, every text there and the fields named.
		h.officer.Get("/lang?to=en&next=/")
		r = h.officer.Submit("/housing/draws", "/housing/draws", "district", "321202", "kind", "shared_ownership",
			"units", "A-1 A-1", "commitment", "x", "beacon", beacon)
		if !strings.Contains(r.Text(), "Create and publish the draw") || !strings.Contains(fieldError(r.Text(), "units[1].code"), "The code of unit 2") ||
			!strings.Contains(fieldError(r.Text(), "commitment"), "Commitment of the seed") {
			t.Errorf("the draws page in English: %q %q", fieldError(r.Text(), "units[1].code"), fieldError(r.Text(), "commitment"))
		}
		for _, pg := range []*testkit.Response{r, h.officer.Get(loc)} {
			if m := regexp.MustCompile(`housing-security\.[a-z_.]+`).FindString(pg.Text()); m != "" {
				t.Errorf("a text is missing: %s", m)
			}
		}
	})
}
