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

func TestLabelsOfServiceFields(t *testing.T) {
	c, err := locale.Load(i18n.FS)
	if err != nil {
		t.Fatal(err)
	}
	l := c.L("zh-CN")
	for field, want := range map[string]string{
		"members[1].id_number": "第2位家庭成员的公民身份号码",
		"members[0]":           "家庭成员 1",
		"members":              "随迁家庭成员",
		"origin_county":        "户口所在的县（市、区）",
		"id_number":            "公民身份号码",
	} {
		if got := l.Label("hukou-transfer.field", field); got != want {
			t.Errorf("Label(%s) = %q, want %q", field, got, want)
		}
	}
	if got := l.Label("residence-permit.input", "items[2]"); got != "需要补正的材料" {
		t.Errorf("an entry of a plain list: %q", got)
	}
	if got := l.Label("", "mobile"); got != "手机号码" {
		t.Errorf("the portal's own field: %q", got)
	}
	fe := portal.FieldError{Field: "members[0].id_number", Rule: "self"}
	if got := l.Field(fe, "hukou-transfer.field"); !strings.Contains(got, "是您本人的号码") {
		t.Errorf("a service's own rule message: %q", got)
	}
}
