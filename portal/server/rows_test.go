package server

import (
	"strings"
	"testing"

	"tzportal/i18n"
	"tzportal/portal/locale"
)

// caseRows writes HTML by hand, so it must escape every value itself.
func TestCaseRowsEscape(t *testing.T) {
	cat, err := locale.Load(i18n.FS)
	if err != nil {
		t.Fatal(err)
	}
	hostile := `"><script>alert(1)</script><img src=x onerror=alert(1)>`
	rows := caseRows([]caseSummary{{CaseNo: "TZRP20261130000001" + hostile, ServiceName: hostile, State: `x" onmouseover="alert(1)`,
		StateLabel: hostile, DivisionName: hostile, Applicant: hostile, DueText: hostile, CreatedText: hostile}}, newColumnLabels(cat.L("en")), true)
	s := string(rows)
	for _, bad := range []string{"<script", "<img", `" onmouseover`, `"><script`} {
		if strings.Contains(s, bad) {
			t.Errorf("unescaped %q in:\n%s", bad, s)
		}
	}
	// Eight places: the case number (link and text), service, applicant,
	// division, state label, countdown, date.
	if got := strings.Count(s, "&lt;script&gt;"); got != 8 {
		t.Errorf("escaped payloads: %d, want 8:\n%s", got, s)
	}
	if !strings.Contains(s, `data-label="Case number"`) || !strings.Contains(s, `<td data-label="Applicant">`) {
		t.Errorf("labels:\n%s", s)
	}
}

// With a bulk action, each row starts with a checkbox whose value and
// label name the case, escaped like the rest; without one (the deadlines
// page), no checkbox.
func TestCaseRowsPick(t *testing.T) {
	cat, err := locale.Load(i18n.FS)
	if err != nil {
		t.Fatal(err)
	}
	a := newColumnLabels(cat.L("zh-CN"))
	items := []caseSummary{{CaseNo: "TZRP20261130000001"}, {CaseNo: `TZ"><script>`}}
	if s := string(caseRows(items, a, true)); strings.Contains(s, "checkbox") {
		t.Errorf("a checkbox without a bulk action:\n%s", s)
	}
	a.pick(cat.L("zh-CN"))
	s := string(caseRows(items, a, true))
	for _, want := range []string{
		`<td class="pick" data-label="选择"><input type="checkbox" name="case_no" value="TZRP20261130000001" id="pick-TZRP20261130000001">`,
		`<label for="pick-TZRP20261130000001" class="visually-hidden">选择办件 TZRP20261130000001</label>`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %s in:\n%s", want, s)
		}
	}
	if strings.Contains(s, "<script") || strings.Count(s, "&lt;script&gt;") != 6 {
		t.Errorf("the hostile number is not escaped everywhere (value, id, for, label, link, text):\n%s", s)
	}
}

// The worklist's countdowns and state labels are made from sentences
// built once per page: they must read exactly as the messages do, in
// both languages; and the state filter's options escape their values.
func TestListWordsAsTheMessages(t *testing.T) {
	cat, err := locale.Load(i18n.FS)
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"zh-CN", "en"} {
		l := cat.L(lang)
		w := newDueWords(l)
		for _, d := range []*dueDoc{nil, {LastDay: "2026-12-02", Remaining: 3, Working: true}, {LastDay: "2026-12-31", Remaining: 1},
			{LastDay: "2026-11-01", Overdue: true, Working: true}} {
			if got, want := w.text(d), dueText(l, d); got != want {
				t.Errorf("%s: %q, want %q", lang, got, want)
			}
		}
	}
	opts := string(stateOptions([]stateGroup{{Name: `<a>`, States: []choiceDoc{{`x" onclick="y`, `<b>`}}}}, `x" onclick="y`))
	if strings.Contains(opts, "<a>") || strings.Contains(opts, "<b>") || strings.Contains(opts, `" onclick`) || !strings.Contains(opts, " selected") {
		t.Errorf("state options: %s", opts)
	}
}
