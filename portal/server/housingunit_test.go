package server_test

import (
	"net/http"
	"strings"
	"testing"

	"tzportal/portal/testkit"
)

// The housing stock as the administrator keeps it and a district officer
// draws from it: every change is a history row and an audit entry under
// the admin role, bad input is told beside its field with what was typed
// kept, a code in use is refused naming the field, nobody else finds the
// pages, and the draw form fills its units from the district's available
// units of the kind.
func TestAdminHousingUnits(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		p := testkit.Start(t, b, nil)
		p.MustStaff(t, "admin", "admin", "321200")
		p.MustStaff(t, "citysup", "supervisor", "321200")
		p.MustStaff(t, "officer", "district_officer", "321202")
		a := p.NewClient(t)
		a.Login("admin")

		page := a.Get("/admin/housing-units")
		if page.Status != 200 || !strings.Contains(page.Text(), `aria-current="page">保障房源`) {
			t.Fatalf("units page: %d %.800s", page.Status, page.Body)
		}
		tok := testkit.FormToken(t, page.Text())

		// Bad input: beside each field, what was typed kept.
		r := a.Post("/admin/housing-units", "_csrf", tok, "code", "HL A", "district", "321202001", "kind", "public_rental",
			"address", "海陵区城东街道东进路1号", "area", "52.555", "rooms", "2")
		if r.Status != http.StatusUnprocessableEntity {
			t.Fatalf("bad form: %d %.500s", r.Status, r.Body)
		}
		for _, want := range []string{`id="error-code"`, `id="error-district"`, `id="error-area"`, `value="HL A"`, `value="52.555"`,
			`value="海陵区城东街道东进路1号"`, `<option value="public_rental" selected>`, "房源编号须为字母", "请从列表中选择所在区"} {
			if !strings.Contains(r.Text(), want) {
				t.Errorf("bad form: no %q", want)
			}
		}
		if n := p.Count(t, `SELECT count(*) FROM housing_units`); n != 0 {
			t.Fatalf("a refused unit was stored: %d", n)
		}

		// Added by the form and by the API.
		if r := a.Post("/admin/housing-units", "_csrf", tok, "code", "HL-A-101", "district", "321202", "kind", "public_rental",
			"address", "海陵区城东街道东进路1号101室", "area", "52.5", "rooms", "2"); r.Status != http.StatusSeeOther {
			t.Fatalf("add: %d %.500s", r.Status, r.Body)
		}
		for _, u := range []map[string]any{
			{"code": "HL-A-102", "district": "321202", "kind": "public_rental", "address": "海陵区城东街道东进路1号102室", "area": 60, "rooms": 2},
			{"code": "HL-B-201", "district": "321202", "kind": "affordable_rental", "address": "海陵区城西街道2号201室", "area": 45.25, "rooms": 1},
			{"code": "GG-A-101", "district": "321203", "kind": "public_rental", "address": "高港区口岸街道3号101室", "area": 50, "rooms": 2},
		} {
			if r := a.Do("POST", "/api/v1/admin/housing-units", u); r.Status != http.StatusCreated || r.JSON(t)["status"] != "available" {
				t.Fatalf("API add %s: %d %s", u["code"], r.Status, r.Body)
			}
		}
		// A code in use: the field named, in the API and beside the form's field.
		r = a.Do("POST", "/api/v1/admin/housing-units", map[string]any{"code": "HL-A-101", "district": "321202", "kind": "public_rental",
			"address": "又一处", "area": 40, "rooms": 1})
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Text(), `"field":"code"`) || !strings.Contains(r.Text(), `"rule":"taken"`) {
			t.Errorf("a code in use: %d %s", r.Status, r.Body)
		}
		r = a.Post("/admin/housing-units", "_csrf", tok, "code", "HL-A-101", "district", "321202", "kind", "public_rental",
			"address", "又一处", "area", "40", "rooms", "1")
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Text(), `id="error-code"`) || !strings.Contains(r.Text(), `value="又一处"`) {
			t.Errorf("a code in use (form): %d %.800s", r.Status, r.Body)
		}

		// Withdrawn by the page's button, restored and withdrawn again by the API.
		if r := a.Post("/admin/housing-units/HL-A-102?district=321202", "_csrf", tok, "status", "withdrawn"); r.Status != http.StatusSeeOther ||
			!strings.Contains(r.Header.Get("Location"), "district=321202") {
			t.Fatalf("withdraw: %d %s %.500s", r.Status, r.Header.Get("Location"), r.Body)
		}
		if r := a.Do("POST", "/api/v1/admin/housing-units/HL-A-102", map[string]any{"status": "available"}); r.Status != 200 || r.JSON(t)["status"] != "available" {
			t.Fatalf("restore: %d %s", r.Status, r.Body)
		}
		if r := a.Do("POST", "/api/v1/admin/housing-units/HL-A-102", map[string]any{"status": "withdrawn"}); r.Status != 200 {
			t.Fatalf("withdraw again: %d %s", r.Status, r.Body)
		}
		if r := a.Do("POST", "/api/v1/admin/housing-units/HL-A-102", map[string]any{"status": "withdrawn"}); r.Status != 422 ||
			!strings.Contains(r.Text(), `"field":"status"`) {
			t.Errorf("withdrawing a withdrawn unit: %d %s", r.Status, r.Body)
		}
		if r := a.Do("POST", "/api/v1/admin/housing-units/NOPE-1", map[string]any{"status": "withdrawn"}); r.Status != 404 {
			t.Errorf("an unknown unit: %d", r.Status)
		}
		for _, c := range []struct {
			action, code string
			n            int
		}{{"housing_unit.add", "HL-A-101", 1}, {"housing_unit.add", "HL-A-102", 1}, {"housing_unit.withdraw", "HL-A-102", 2}, {"housing_unit.restore", "HL-A-102", 1}} {
			if n := adminEntries(t, p, c.action, "housing_unit:"+c.code); n != c.n {
				t.Errorf("%s %s entries: %d, want %d", c.action, c.code, n, c.n)
			}
		}
		if n := p.Count(t, `SELECT count(*) FROM housing_unit_changes WHERE code = 'HL-A-102' AND actor_name <> ''`); n != 4 {
			t.Errorf("HL-A-102's history: %d rows, want 4 (add, withdraw, restore, withdraw)", n)
		}

		// The list, filtered; its history says old → new.
		r = a.Get("/api/v1/admin/housing-units?district=321202&kind=public_rental&status=available")
		if units, _ := r.JSON(t)["units"].([]any); r.Status != 200 || len(units) != 1 || units[0].(map[string]any)["code"] != "HL-A-101" {
			t.Errorf("filtered list: %d %s", r.Status, r.Body)
		}
		if r := a.Get("/api/v1/admin/housing-units?status=let"); r.Status != 422 || !strings.Contains(r.Text(), `"field":"status"`) {
			t.Errorf("a bad filter: %d %s", r.Status, r.Body)
		}
		r = a.Get("/admin/housing-units?status=withdrawn&done=withdraw&unit=HL-A-102")
		if r.Status != 200 || strings.Contains(r.Text(), ">HL-A-101</th>") {
			t.Errorf("withdrawn units page: %d", r.Status)
		}
		for _, want := range []string{">HL-A-102</th>", "房源 HL-A-102 已下架", "下架: 可用 → 已下架",
			`action="/admin/housing-units/HL-A-102?status=withdrawn"`, `<option value="withdrawn" selected>`} {
			if !strings.Contains(r.Text(), want) {
				t.Errorf("withdrawn units page: no %q", want)
			}
		}

		// Nobody else finds the stock.
		for _, login := range []string{"citysup", "officer"} {
			c := p.NewClient(t)
			c.Login(login)
			if r := c.Get("/admin/housing-units"); r.Status != 404 {
				t.Errorf("%s: page %d", login, r.Status)
			}
			if r := c.Get("/api/v1/admin/housing-units"); r.Status != 404 {
				t.Errorf("%s: list %d", login, r.Status)
			}
			if r := c.Do("POST", "/api/v1/admin/housing-units", map[string]any{"code": "X-1", "district": "321202", "kind": "public_rental",
				"address": "某处", "area": 40, "rooms": 1}); r.Status != 404 {
				t.Errorf("%s: add %d", login, r.Status)
			}
			if r := c.Do("POST", "/api/v1/admin/housing-units/HL-A-101", map[string]any{"status": "withdrawn"}); r.Status != 404 {
				t.Errorf("%s: withdraw %d", login, r.Status)
			}
		}

		// The draw form, filled from the stock: the district's available
		// units of the kind only, still editable.
		o := p.NewClient(t)
		o.Login("officer")
		r = o.Get("/housing/draws?fill=stock&district=321202&kind=public_rental")
		if r.Status != 200 || !strings.Contains(r.Text(), `>HL-A-101</textarea>`) || !strings.Contains(r.Text(), `<option value="public_rental" selected>`) {
			t.Fatalf("filled from stock: %d %.3000s", r.Status, r.Body)
		}
		if r := o.Get("/housing/draws?fill=stock&district=321202&kind=shared_ownership"); !strings.Contains(r.Text(), `id="error-units"`) ||
			!strings.Contains(r.Text(), "房源库中没有本区该类型的可用房源") {
			t.Errorf("an empty stock: %d %.2000s", r.Status, r.Body)
		}
		if r := o.Get("/housing/draws?fill=stock&district=321203&kind=public_rental"); strings.Contains(r.Text(), "GG-A-101") {
			t.Errorf("another district's stock: %d", r.Status)
		}
	})
}
