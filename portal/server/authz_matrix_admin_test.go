package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"tzportal/portal/testkit"
	"tzportal/portal/unitstock"
)

// The administration's part of the matrix: the rows of /admin/… and
// /api/v1/admin/… act on accounts and zones of their own, so that
// disabling or revoking touches no actor of the table.

// adminRow reports whether a row is one of the administration's.
func adminRow(r matrixRow) bool {
	return strings.HasPrefix(r.Path, "/admin/") || strings.HasPrefix(r.Path, "/api/v1/admin/")
}

// adminRowParams makes the row's account: a street clerk of 321202003, or
// a system account for …/token. {code} is a division renamed to its name,
// or a unit of the housing stock made for the row.
func (m *matrix) adminRowParams(r matrixRow) map[string]string {
	m.t.Helper()
	out := map[string]string{}
	if strings.Contains(r.Path, "{login}") {
		m.accounts++
		login := fmt.Sprintf("mxacct%d", m.accounts)
		if strings.HasSuffix(r.Path, "/token") {
			if _, _, err := m.p.Accounts.AddSystem(context.Background(), portalActor(), login, "矩阵系统", "origin_registry", "321200"); err != nil {
				m.t.Fatalf("line %d: %v", r.Line, err)
			}
		} else {
			m.p.MustStaff(m.t, login, "street_clerk", "321202003")
		}
		out["login"] = login
	}
	switch {
	case strings.Contains(r.Path, "/housing-units/{code}"):
		m.zones++
		code := fmt.Sprintf("MX-U%d", m.zones)
		if _, err := m.p.Units.Add(context.Background(), portalActor(), unitstock.Input{Code: code, District: "321202", Kind: "public_rental",
			Address: "矩阵房源", Area: "50", Rooms: "2"}); err != nil {
			m.t.Fatalf("line %d: %v", r.Line, err)
		}
		out["code"] = code
	case strings.Contains(r.Path, "{code}"):
		out["code"] = "321202408"
	}
	return out
}

// adminRowBody is a valid body for the row: a new account or zone of its
// own, the grant its account holds (revoke) or one more (grants).
func (m *matrix) adminRowBody(r matrixRow, path string) map[string]any {
	switch {
	case strings.HasSuffix(path, "/admin/staff"):
		m.accounts++
		return map[string]any{"login": fmt.Sprintf("mxnew%d", m.accounts), "name": "矩阵 新人", "password": testkit.Password,
			"role": "street_clerk", "division": "321202003"}
	case strings.HasSuffix(path, "/admin/systems"):
		m.accounts++
		return map[string]any{"login": fmt.Sprintf("mxsys%d", m.accounts), "name": "矩阵系统", "role": "origin_registry", "division": "321200"}
	case strings.HasSuffix(path, "/grants"):
		return map[string]any{"role": "supervisor", "division": "321202"}
	case strings.HasSuffix(path, "/revoke"):
		return map[string]any{"role": "street_clerk", "division": "321202003"}
	case strings.HasSuffix(path, "/admin/divisions"):
		m.zones++
		return map[string]any{"parent": "321202", "code": fmt.Sprintf("321202%03d", 900+m.zones), "name": fmt.Sprintf("矩阵园区%d", m.zones)}
	case strings.HasSuffix(path, "/admin/calendar"):
		m.zones++
		return map[string]any{"day": time.Date(2031, 1, m.zones, 0, 0, 0, 0, time.UTC).Format(time.DateOnly), "kind": "holiday", "note": "矩阵"}
	case strings.HasSuffix(path, "/admin/housing-units"):
		m.zones++
		b := map[string]any{"code": fmt.Sprintf("MX-N%d", m.zones), "district": "321202", "kind": "public_rental",
			"address": "矩阵房源", "area": 50, "rooms": 2}
		if !strings.HasPrefix(path, "/api/") {
			b["area"], b["rooms"] = "50", "2" // a form's fields are text
		}
		return b
	case strings.Contains(path, "/admin/housing-units/"):
		return map[string]any{"status": "withdrawn"}
	case strings.Contains(path, "/admin/divisions/"):
		return map[string]any{"name": "火车站街区", "parent": "321202"}
	}
	return map[string]any{}
}

// TestAdminAuthzMatrix runs the administration's rows of the matrix alone
// (TestAuthzMatrix runs them with all the others).
func TestAdminAuthzMatrix(t *testing.T) {
	rows := loadMatrix(t, "testdata/authz_matrix.csv")
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		m := newMatrix(t, b)
		def := m.p.Registry.Online()[0].Def
		var problems []string
		cov, _ := m.coverage(rows)
		for _, p := range cov {
			if strings.Contains(p, "/admin/") {
				problems = append(problems, p) // a route of the administration without its twelve rows
			}
		}
		n := 0
		for _, r := range rows {
			if !adminRow(r) {
				continue
			}
			n++
			problems = append(problems, m.runRow(def, r)...)
		}
		if n < 12*32 {
			t.Errorf("only %d administration rows", n)
		}
		if len(problems) > 0 {
			t.Errorf("%d of %d administration rows do not hold:\n%s", len(problems), n, strings.Join(problems, "\n"))
		}
	})
}
