package locale_test

import (
	"strings"
	"testing"

	"tzportal/i18n"
	"tzportal/portal"
	"tzportal/portal/locale"
)

func TestCatalogsHaveTheSameKeys(t *testing.T) {
	c, err := locale.Load(i18n.FS)
	if err != nil {
		t.Fatal(err)
	}
	for lang, ids := range c.Missing() {
		if len(ids) > 0 {
			t.Errorf("%s lacks %d messages: %v", lang, len(ids), ids)
		}
	}
}

func TestFieldErrorNamesTheField(t *testing.T) {
	c, err := locale.Load(i18n.FS)
	if err != nil {
		t.Fatal(err)
	}
	fe := portal.FieldError{Field: "id_number", Rule: "idnumber"}
	for lang, want := range map[string]string{"zh-CN": "公民身份号码", "en": "Resident ID number"} {
		got := c.L(lang).Field(fe, "")
		if !strings.Contains(got, want) {
			t.Errorf("%s: %q does not name the field %q", lang, got, want)
		}
	}
	if got := c.L("en").T("due.working", map[string]any{"N": 3, "Day": "2026-12-02"}); got != "3 working days left (until 2026-12-02)" {
		t.Errorf("template data: %q", got)
	}
}
