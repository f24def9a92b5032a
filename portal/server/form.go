package server

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"tzportal/portal"
	"tzportal/portal/workflow"
)

// A service's form, in HTML, is its pages (workflow.Service.Pages): the
// first page makes the draft, each later page saves into it, a list page is
// a task list whose entries are added, changed and removed one page each,
// and the case page is "check your answers". Everything here reads the
// pages' declarations; the service's own template draws its fields.

// formData is what a form page's template receives.
type formData struct {
	Service  string
	Page     workflow.Page
	Step     int // this page's number, from 1
	Steps    int // pages + checking the answers
	Values   map[string]string
	Groups   []divisionGroup
	IdemKey  string
	CaseNo   string // editing an existing case
	Version  int
	Action   string
	Flow     bool   // filling the pages in order (a new application): "save and continue"
	Item     string // a list page's entry being edited: its index, or "new"
	Entries  []entry
	Back     string // where "back" goes
	AddHref  string // a list page: where "add" goes
	NextHref string // a list page: where "continue" goes
	Full     bool   // a list page that holds its maximum
	// Choices are the options a service reads from the database for a
	// field (workflow.Optioner), by field name.
	Choices map[string][]workflow.Option
	form    json.RawMessage // the form so far, that choices depend on
	entry   string          // the index the errors of the entry being saved name
}

// pageOf returns the page of a service with id ("": the first).
func pageOf(pages []workflow.Page, id string) (workflow.Page, int, bool) {
	for i, p := range pages {
		if p.ID == id || id == "" {
			return p, i, true
		}
	}
	return workflow.Page{}, 0, false
}

// pageValues reads a page's fields from a posted HTML form, as typed.
func pageValues(c *fiber.Ctx, p workflow.Page) map[string]string {
	v := map[string]string{}
	for _, f := range p.Fields {
		if f.Kind == workflow.KindRanked {
			// Several selects of one name, in order; kept as lines.
			var vals []string
			for _, b := range c.Request().PostArgs().PeekMulti(f.Name) {
				vals = append(vals, strings.TrimSpace(string(b)))
			}
			v[f.Name] = strings.Join(vals, "\n")
			continue
		}
		v[f.Name] = strings.TrimSpace(c.FormValue(f.Name))
	}
	return v
}

// jsonValue converts what was typed into a field to its JSON value: a
// whole number for a number field (else the text, which the service
// refuses by name). An empty field is left out.
func jsonValue(f workflow.Field, typed string) (any, bool) {
	if typed == "" {
		return nil, false
	}
	switch f.Kind {
	case workflow.KindNumber:
		if n, err := strconv.Atoi(typed); err == nil {
			return n, true
		}
	case workflow.KindBool:
		if b, err := strconv.ParseBool(typed); err == nil {
			return b, true
		}
	case workflow.KindRanked:
		list := []string{}
		for _, it := range strings.Split(typed, "\n") {
			if it = strings.TrimSpace(it); it != "" {
				list = append(list, it)
			}
		}
		if len(list) == 0 {
			return nil, false
		}
		return list, true
	}
	return typed, true
}

// mergePage writes a page's typed values into a form (a JSON object): a
// plain page sets its fields; on a list page, item is the entry ("new"
// appends one) and remove takes it out.
func mergePage(form json.RawMessage, p workflow.Page, vals map[string]string, item string, remove bool) (json.RawMessage, error) {
	m := map[string]any{}
	if len(form) > 0 {
		if err := json.Unmarshal(form, &m); err != nil {
			return nil, fmt.Errorf("server.mergePage: %w", err)
		}
	}
	obj := map[string]any{}
	for _, f := range p.Fields {
		if v, ok := jsonValue(f, vals[f.Name]); ok {
			obj[f.Name] = v
		}
	}
	if p.List == "" {
		for _, f := range p.Fields {
			delete(m, f.Name)
		}
		for k, v := range obj {
			m[k] = v
		}
		return json.Marshal(m)
	}
	list, _ := m[p.List].([]any)
	i, err := strconv.Atoi(item)
	switch {
	case item == "new" && !remove:
		list = append(list, obj)
	case err != nil || i < 0 || i >= len(list):
		return nil, portal.NotFound(fmt.Errorf("server.mergePage: no entry %q of %s", item, p.List))
	case remove:
		list = append(list[:i:i], list[i+1:]...)
	default:
		list[i] = obj
	}
	if len(list) == 0 {
		delete(m, p.List)
	} else {
		m[p.List] = list
	}
	return json.Marshal(m)
}

// storedValues returns the values of a page (of one list entry) in a
// stored form, as text for the inputs.
func storedValues(form json.RawMessage, p workflow.Page, item string) map[string]string {
	var m map[string]any
	v := map[string]string{}
	if json.Unmarshal(form, &m) != nil {
		return v
	}
	src := m
	if p.List != "" {
		src = nil
		list, _ := m[p.List].([]any)
		if i, err := strconv.Atoi(item); err == nil && i >= 0 && i < len(list) {
			src, _ = list[i].(map[string]any)
		}
	}
	for _, f := range p.Fields {
		if s := valueText(src[f.Name]); s != "" {
			v[f.Name] = s
		}
	}
	// A plain page's conditional fields read the value they depend on.
	for _, f := range p.Fields {
		if k, _, ok := strings.Cut(f.If, "="); ok {
			if s := valueText(m[k]); s != "" && v[k] == "" {
				v[k] = s
			}
		}
	}
	return v
}

// listLen is the number of entries of a list field of a form.
func listLen(form json.RawMessage, list string) int {
	var m map[string]any
	json.Unmarshal(form, &m)
	l, _ := m[list].([]any)
	return len(l)
}

// entryErrors keeps the errors an entry page shows: its entry's, named as
// the page's fields (members[1].id_number → id_number), and those outside
// the list. The summary's lines follow: an error of the list itself (an
// 11th member) or of another entry has no field here, so its line links
// nowhere.
func entryErrors(errs map[string]string, summary []summaryItem, list, item string) map[string]string {
	prefix := list + "[" + item + "]."
	here := func(field string) (string, bool) {
		if rest, ok := strings.CutPrefix(field, prefix); ok {
			return rest, true
		}
		return field, field != list && !strings.HasPrefix(field, list+"[")
	}
	out := map[string]string{}
	for k, v := range errs {
		if f, ok := here(k); ok {
			out[f] = v
		}
	}
	for i := range summary {
		if f, ok := here(summary[i].Field); ok {
			summary[i].Field = f
		} else {
			summary[i].Field = ""
		}
	}
	return out
}

// editHref is the address of a page of a case's form.
func editHref(no, page string, flow bool, extra ...string) string {
	q := url.Values{"step": {page}}
	if flow {
		q.Set("flow", "1")
	}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return "/cases/" + no + "/edit?" + q.Encode()
}

// afterPage is where saving a page goes: the next page while filling the
// pages in order, else the answers to check.
func afterPage(no string, pages []workflow.Page, i int, flow bool) string {
	if flow && i+1 < len(pages) {
		return editHref(no, pages[i+1].ID, true)
	}
	return "/cases/" + no
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
