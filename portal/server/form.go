package server

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/gofiber/fiber/v2"

	"tzportal/portal"
	"tzportal/portal/locale"
	"tzportal/portal/residence"
)

// formSpec is how a service's application form appears in HTML: its fields
// in order and the partial template that draws them. A service without a
// spec has no HTML form yet.
type formSpec struct {
	Fields  []string
	Partial string
}

var forms = map[string]formSpec{
	residence.ServiceID: {Fields: residence.Fields, Partial: "form-residence-permit"},
}

// formValues reads a service's fields from a posted HTML form.
func formValues(c *fiber.Ctx, spec formSpec) map[string]string {
	v := map[string]string{}
	for _, f := range spec.Fields {
		v[f] = c.FormValue(f)
	}
	return v
}

// formJSON encodes posted values as the JSON form the services decode.
func formJSON(v map[string]string) json.RawMessage {
	b, _ := json.Marshal(v) // a map of strings always encodes
	return b
}

// storedValues decodes a stored form for editing.
func storedValues(form json.RawMessage) map[string]string {
	var raw map[string]any
	v := map[string]string{}
	if json.Unmarshal(form, &raw) == nil {
		for k, x := range raw {
			if s, ok := x.(string); ok {
				v[k] = s
			}
		}
	}
	return v
}

// formFields returns a stored form as labelled values for "check your
// answers": codes become names, choices their labels.
func formFields(l *locale.L, service string, form json.RawMessage, divs *portal.Divisions) []formField {
	spec, ok := forms[service]
	if !ok {
		return nil
	}
	vals := storedValues(form)
	out := make([]formField, 0, len(spec.Fields))
	for _, name := range spec.Fields {
		v := vals[name]
		switch name {
		case "division":
			if d, ok := divs.Get(v); ok {
				v = districtAndName(divs, d)
			}
		case "basis":
			if v != "" {
				v = l.T("option.basis." + v)
			}
		}
		out = append(out, formField{Name: name, Label: l.T("field." + name), Value: v})
	}
	return out
}

// newIdempotencyKey is the hidden token of a new-application form: a double
// click or a resent form makes one case, not two.
func newIdempotencyKey() string {
	b := make([]byte, 18)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// divisionGroup is one county-level unit and its streets and towns, for the
// division select (works without JavaScript).
type divisionGroup struct {
	Name    string
	Options []portal.Division
}

func divisionGroups(divs *portal.Divisions) []divisionGroup {
	var out []divisionGroup
	for _, county := range divs.Children(divs.Root) {
		cd, _ := divs.Get(county)
		g := divisionGroup{Name: cd.Name}
		for _, code := range divs.Children(county) {
			if d, ok := divs.Get(code); ok && d.Leaf() {
				g.Options = append(g.Options, d)
			}
		}
		out = append(out, g)
	}
	return out
}

// formLines splits a textarea into trimmed non-empty lines.
func formLines(s string) []string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}
