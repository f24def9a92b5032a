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
