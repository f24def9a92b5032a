package testkit

import (
	"testing"
	"time"

	"tzportal/portal/validate"
)

func TestFormField(t *testing.T) {
	page := `<form method="post"><input type="hidden" name="_csrf" value="tok">
<input type="hidden" name="version" value="7">
<input type="text" id="field-address" name="address" value="海陵区&lt;东进&gt;路 &amp; 18号" aria-invalid="false">
<input name="_idem" type="hidden" value="k-1"><input type="checkbox" name="agree"></form>`
	for name, want := range map[string]string{"version": "7", "address": "海陵区<东进>路 & 18号", "_idem": "k-1", "agree": "", "ver": "", "phone": ""} {
		if got := FormField(page, name); got != want {
			t.Errorf("FormField(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestBadIDNumber(t *testing.T) {
	today := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	for _, a := range append(Applicants, Applicant{IDNumber: IDNumber("32032120150610003")}, Applicant{IDNumber: IDNumber("32120219920101000")}) {
		bad := BadIDNumber(a.IDNumber)
		if _, ok := validate.IDNumber(a.IDNumber, today); !ok {
			t.Fatalf("%s: the valid number is refused", a.IDNumber)
		}
		if bad[:17] != a.IDNumber[:17] || bad == a.IDNumber {
			t.Errorf("BadIDNumber(%s) = %s: not the same 17 digits with another check character", a.IDNumber, bad)
		}
		if _, ok := validate.IDNumber(bad, today); ok {
			t.Errorf("BadIDNumber(%s) = %s passes the GB 11643 check", a.IDNumber, bad)
		}
	}
}
