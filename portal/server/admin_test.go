package server_test

import (
	"context"
	"html"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"tzportal/portal/testkit"
)

// The administration pages, as an administrator and an auditor would
// check them: what an admin does takes effect at once (a revoked grant or
// a disabled account ends the person's sessions, a rotated token's old
// value gets 401), each change is an audit entry under the admin role,
// bad input is told beside its field with what was typed kept, and
// nobody else finds the pages.

var shownRE = regexp.MustCompile(`<code class="secret" id="(secret|token)">([^<]+)</code>`)

// shownOnce returns the secret or token a page shows once.
func shownOnce(t *testing.T, r *testkit.Response) string {
	t.Helper()
	m := shownRE.FindStringSubmatch(r.Text())
	if r.Status != http.StatusOK || m == nil {
		t.Fatalf("no secret shown: %d %.1500s", r.Status, r.Body)
	}
	return html.UnescapeString(m[2])
}

// adminEntries counts the audit entries of action about object recorded
// as the admin role.
func adminEntries(t *testing.T, p *testkit.Portal, action, object string) int {
	t.Helper()
	return p.Count(t, `SELECT count(*) FROM audit_log WHERE action = $1 AND object = $2 AND role = 'admin' AND division = '321200'`, action, object)
}

func userObject(t *testing.T, p *testkit.Portal, login string) string {
	return "user:" + strconv.FormatInt(p.MustUserID(t, login), 10)
}

func TestAdminStaffAccounts(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		p := testkit.Start(t, b, nil)
		p.MustStaff(t, "admin", "admin", "321200")
		p.MustStaff(t, "clerk", "street_clerk", "321202001")
		p.MustStaff(t, "citysup", "supervisor", "321200")
		a := p.NewClient(t)
		a.Login("admin")

		// The list, and a search.
		if r := a.Get("/admin/staff"); r.Status != 200 || !strings.Contains(r.Text(), `href="/admin/accounts/clerk"`) {
			t.Fatalf("list: %d %.800s", r.Status, r.Body)
		}
		if r := a.Get("/admin/staff?q=sup"); r.Status != 200 || strings.Contains(r.Text(), `/admin/accounts/clerk"`) ||
			!strings.Contains(r.Text(), `/admin/accounts/citysup"`) {
			t.Errorf("search: %d", r.Status)
		}
		if r := a.Get("/api/v1/admin/accounts?kind=staff&q=clerk"); r.Status != 200 || len(r.JSON(t)["accounts"].([]any)) != 1 {
			t.Errorf("API search: %d %s", r.Status, r.Body)
		}

		// Bad input: every error beside its field, what was typed kept
		// (not the password).
		r := a.Submit("/admin/staff/new", "/admin/staff", "login", "Wang Li", "name", "王莉", "password", "short",
			"role", "street_clerk", "division", "321202")
		if r.Status != http.StatusUnprocessableEntity {
			t.Fatalf("bad form: %d %.500s", r.Status, r.Body)
		}
		for _, want := range []string{`id="error-login"`, `id="error-password"`, `id="error-division"`, `value="Wang Li"`, `value="王莉"`,
			`<option value="street_clerk" selected>`, `<option value="321202" selected>`, "登录名须为3至32位", "该角色授予街道、乡镇或功能区"} {
			if !strings.Contains(r.Text(), want) {
				t.Errorf("bad form: no %q", want)
			}
		}
		if strings.Contains(r.Text(), `value="short"`) {
			t.Error("the password was sent back")
		}

		// A new staff member: the secret is shown once, and works.
		r = a.Submit("/admin/staff/new", "/admin/staff", "login", "wangli", "name", "王莉", "password", testkit.Password,
			"role", "street_clerk", "division", "321202002")
		secret := shownOnce(t, r)
		w := p.NewClient(t)
		p.Clock.Advance(30 * time.Second)
		if r := w.Do("POST", "/api/v1/session", map[string]string{"login": "wangli", "password": testkit.Password,
			"otp": code(t, secret, p.Clock.Now())}); r.Status != 200 {
			t.Fatalf("the new account's login with the secret shown: %d %s", r.Status, r.Body)
		}
		if r := a.Submit("/admin/staff/new", "/admin/staff", "login", "wangli", "name", "王莉", "password", testkit.Password,
			"role", "street_clerk", "division", "321202002"); r.Status != 422 || !strings.Contains(r.Text(), "登录名已被使用") {
			t.Errorf("a taken login: %d", r.Status)
		}
		if n := adminEntries(t, p, "staff.add", userObject(t, p, "wangli")); n != 1 {
			t.Errorf("staff.add entries: %d", n)
		}

		// A grant more; its revocation ends the person's sessions at once.
		page := a.Get("/admin/accounts/wangli")
		tok := testkit.FormToken(t, page.Text())
		if r := a.Post("/admin/accounts/wangli/grants", "_csrf", tok, "role", "supervisor", "division", "321202"); r.Status != 303 {
			t.Fatalf("grant: %d %.500s", r.Status, r.Body)
		}
		if r := w.Get("/api/v1/session"); r.Status != 200 || !strings.Contains(r.Text(), "supervisor") {
			t.Errorf("the grant does not bite at once: %d %s", r.Status, r.Body)
		}
		if r := a.Post("/admin/accounts/wangli/revoke", "_csrf", tok, "role", "supervisor", "division", "321202"); r.Status != 303 {
			t.Fatalf("revoke: %d %.500s", r.Status, r.Body)
		}
		if r := w.Get("/api/v1/session"); r.Status != 401 {
			t.Errorf("the revoked person's session lives on: %d", r.Status)
		}
		obj := userObject(t, p, "wangli")
		for _, action := range []string{"staff.grant", "staff.revoke"} {
			if n := adminEntries(t, p, action, obj); n != 1 {
				t.Errorf("%s entries: %d", action, n)
			}
		}
		// A grant the account does not hold: told, nothing recorded.
		if r := a.Post("/admin/accounts/wangli/revoke", "_csrf", tok, "role", "supervisor", "division", "321202"); r.Status != 422 ||
			!strings.Contains(r.Text(), "该账号没有") {
			t.Errorf("revoking twice: %d", r.Status)
		}

		// A new one-time-code secret: the old one's codes fail, the new one's work.
		w = p.NewClient(t)
		p.Clock.Advance(30 * time.Second)
		if r := w.Do("POST", "/api/v1/session", map[string]string{"login": "wangli", "password": testkit.Password,
			"otp": code(t, secret, p.Clock.Now())}); r.Status != 200 {
			t.Fatalf("login: %d", r.Status)
		}
		r = a.Do("POST", "/api/v1/admin/accounts/wangli/totp", map[string]any{})
		if r.Status != 200 {
			t.Fatalf("totp reset: %d %s", r.Status, r.Body)
		}
		fresh, _ := r.JSON(t)["totp"].(map[string]any)["secret"].(string)
		if r := w.Get("/api/v1/session"); r.Status != 401 {
			t.Errorf("a session lives on after the reset: %d", r.Status)
		}
		p.Clock.Advance(30 * time.Second)
		if r := p.NewClient(t).Do("POST", "/api/v1/session", map[string]string{"login": "wangli", "password": testkit.Password,
			"otp": code(t, secret, p.Clock.Now())}); r.Status != 401 {
			t.Errorf("the old secret still works: %d", r.Status)
		}
		p.Clock.Advance(30 * time.Second)
		if r := w.Do("POST", "/api/v1/session", map[string]string{"login": "wangli", "password": testkit.Password,
			"otp": code(t, fresh, p.Clock.Now())}); r.Status != 200 {
			t.Errorf("the new secret does not work: %d %s", r.Status, r.Body)
		}
		if n := adminEntries(t, p, "staff.totp_reset", obj); n != 1 {
			t.Errorf("staff.totp_reset entries: %d", n)
		}

		// Disabling ends the sessions; an admin cannot disable themself.
		if r := a.Post("/admin/accounts/wangli/disable", "_csrf", tok); r.Status != 303 {
			t.Fatalf("disable: %d", r.Status)
		}
		if r := w.Get("/api/v1/session"); r.Status != 401 {
			t.Errorf("a disabled account's session lives on: %d", r.Status)
		}
		if n := adminEntries(t, p, "staff.disable", obj); n != 1 {
			t.Errorf("staff.disable entries: %d", n)
		}
		if r := a.Do("POST", "/api/v1/admin/accounts/admin/disable", map[string]any{}); r.Status != 422 {
			t.Errorf("self-disable: %d %s", r.Status, r.Body)
		}

		// Nobody else finds the pages.
		for _, login := range []string{"clerk", "citysup"} {
			c := p.NewClient(t)
			c.Login(login)
			for _, path := range []string{"/admin/staff", "/admin/accounts/clerk", "/admin/divisions", "/api/v1/admin/accounts"} {
				if r := c.Get(path); r.Status != 404 {
					t.Errorf("%s GET %s: %d", login, path, r.Status)
				}
			}
			if r := c.Do("POST", "/api/v1/admin/accounts/clerk/disable", map[string]any{}); r.Status != 404 {
				t.Errorf("%s disables: %d", login, r.Status)
			}
		}
		if u, err := p.DB.UserByLogin(context.Background(), "clerk"); err != nil || u.DisabledAt != nil {
			t.Errorf("the clerk was disabled by someone not an admin: %v", err)
		}
	})
}

func TestAdminSystemTokens(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		p := testkit.Start(t, b, nil)
		p.MustStaff(t, "admin", "admin", "321200")
		a := p.NewClient(t)
		a.Login("admin")
		r := a.Submit("/admin/systems/new", "/admin/systems", "login", "xinghua-registry", "name", "兴化市户籍系统",
			"role", "origin_registry", "division", "321200")
		old := shownOnce(t, r)
		call := func(token string) int {
			return p.NewClient(t).Do("GET", "/api/v1/cases", nil, "Authorization", "Bearer "+token).Status
		}
		if st := call(old); st != 200 {
			t.Fatalf("the new token: %d", st)
		}
		r = a.Get("/admin/accounts/xinghua-registry")
		fresh := shownOnce(t, a.Post("/admin/accounts/xinghua-registry/token", "_csrf", testkit.FormToken(t, r.Text())))
		if st := call(old); st != 401 {
			t.Errorf("the rotated token's old value: %d", st)
		}
		if st := call(fresh); st != 200 {
			t.Errorf("the new value: %d", st)
		}
		obj := userObject(t, p, "xinghua-registry")
		for _, action := range []string{"system.add", "system.rotate"} {
			if n := adminEntries(t, p, action, obj); n != 1 {
				t.Errorf("%s entries: %d", action, n)
			}
		}
		// A staff role is not a system's; the form says so beside the field.
		if r := a.Do("POST", "/api/v1/admin/systems", map[string]any{"login": "other", "name": "x", "role": "supervisor", "division": "321200"}); r.Status != 422 ||
			!strings.Contains(r.Text(), `"field":"role"`) {
			t.Errorf("a staff role for a system: %d %s", r.Status, r.Body)
		}
		if r := a.Do("POST", "/api/v1/admin/accounts/xinghua-registry/disable", map[string]any{}); r.Status != 200 {
			t.Fatalf("disable: %d", r.Status)
		}
		if st := call(fresh); st != 401 {
			t.Errorf("a disabled system's token: %d", st)
		}
	})
}

func TestAdminDivisions(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		secret := testkit.NewSecret()
		p := testkit.StartWith(t, testkit.Options{Backend: b, Env: map[string]string{"PORTAL_SECRET": secret}})
		// A second node on the same database (as several `portal serve` run).
		other := testkit.StartWith(t, testkit.Options{Backend: b, DatabaseURL: p.Config.DatabaseURL, Env: map[string]string{"PORTAL_SECRET": secret}})
		p.MustStaff(t, "admin", "admin", "321200")
		a := p.NewClient(t)
		a.Login("admin")

		// Rename: this node's tree at once, with its history and audit entry.
		page := a.Get("/admin/divisions/321202408")
		if page.Status != 200 {
			t.Fatalf("division page: %d", page.Status)
		}
		tok := testkit.FormToken(t, page.Text())
		if r := a.Post("/admin/divisions/321202408", "_csrf", tok, "name", "泰州站街区", "parent", "321202"); r.Status != 303 {
			t.Fatalf("rename: %d %.500s", r.Status, r.Body)
		}
		if d, _ := p.Authz.Divisions().Get("321202408"); d.Name != "泰州站街区" {
			t.Errorf("this node's tree: %q", d.Name)
		}
		if r := a.Get("/api/v1/divisions"); !strings.Contains(r.Text(), "泰州站街区") {
			t.Error("GET /api/v1/divisions has the old name")
		}
		if r := a.Get("/admin/divisions"); !strings.Contains(r.Text(), "火车站街区 → 泰州站街区") {
			t.Errorf("the history does not show old → new")
		}
		if n := adminEntries(t, p, "division.rename", "division:321202408"); n != 1 {
			t.Errorf("division.rename entries: %d", n)
		}
		// The other node notices and reloads (what portal.WatchReload does every 30 s).
		if stale, err := other.Tree.Stale(context.Background()); err != nil || !stale {
			t.Fatalf("the other node does not see the change: %v %v", stale, err)
		}
		if err := other.Tree.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
		if d, _ := other.Authz.Divisions().Get("321202408"); d.Name != "泰州站街区" {
			t.Errorf("the other node's tree: %q", d.Name)
		}

		// A zone: bad input told beside its field, what was typed kept.
		r := a.Post("/admin/divisions", "_csrf", tok, "parent", "321203", "code", "321202999", "name", "高港科技园")
		if r.Status != 422 || !strings.Contains(r.Text(), `id="error-code"`) || !strings.Contains(r.Text(), `value="321202999"`) ||
			!strings.Contains(r.Text(), "须以上级县级单位的代码 321203 开头") {
			t.Fatalf("bad zone: %d %.800s", r.Status, r.Body)
		}
		if r := a.Post("/admin/divisions", "_csrf", tok, "parent", "321203", "code", "321203999", "name", "高港科技园"); r.Status != 303 {
			t.Fatalf("zone: %d %.500s", r.Status, r.Body)
		}
		if d, ok := p.Authz.Divisions().Get("321203999"); !ok || d.Level != "zone" || p.Authz.Divisions().District("321203999") != "321203" {
			t.Fatalf("the zone is not in this node's tree: %+v", d)
		}
		// Staff can be granted the new zone at once.
		p.MustStaff(t, "zoneclerk", "street_clerk", "321203999")
		// It moves under another county while no case is filed in it.
		if r := a.Do("POST", "/api/v1/admin/divisions/321203999", map[string]any{"name": "高港科技园", "parent": "321202"}); r.Status != 200 {
			t.Errorf("move: %d %s", r.Status, r.Body)
		}
		if p.Authz.Divisions().District("321203999") != "321202" {
			t.Error("the move is not in this node's tree")
		}
		for _, action := range []string{"division.add", "division.move"} {
			if n := adminEntries(t, p, action, "division:321203999"); n != 1 {
				t.Errorf("%s entries: %d", action, n)
			}
		}
		// A street with a case does not move.
		_, app := p.NewApplicant(t, "申请人")
		if r := app.Do("POST", "/api/v1/cases", map[string]any{"service": "residence-permit", "form": p.Example(t, "residence-permit")}); r.Status != 201 {
			t.Fatalf("case: %d %s", r.Status, r.Body)
		}
		if r := a.Do("POST", "/api/v1/admin/divisions/321202001", map[string]any{"name": "城东街道", "parent": "321203"}); r.Status != 422 {
			t.Errorf("moving a street with cases: %d %s", r.Status, r.Body)
		}
		if p.Authz.Divisions().District("321202001") != "321202" {
			t.Error("the street moved")
		}
	})
}

// TestAdminDecidesNoCase reads the policies as the enforcer holds them: the
// admin role may fire no event of any service and read no case anywhere
// (the matrix's case rows answer the admin 404).
func TestAdminDecidesNoCase(t *testing.T) {
	p := testkit.Start(t, testkit.Backend{}, nil)
	admin := p.MustStaff(t, "admin", "admin", "321200")
	if err := p.Authz.Sync(admin); err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Authz.Can(admin, "321200", "staff", "manage"); !ok {
		t.Fatal("the admin may not manage staff: the test proves nothing")
	}
	checked := 0
	for _, div := range []string{"321200", "321202", "321202001"} {
		for _, obj := range [][2]string{{"case", "read"}, {"idnumber", "reveal"}, {"audit", "read"}, {"review", "write"}} {
			if _, ok := p.Authz.Can(admin, div, obj[0], obj[1]); ok {
				t.Errorf("the admin may %s %s in %s", obj[1], obj[0], div)
			}
		}
		for _, def := range p.Engine.Definitions() {
			for _, ev := range def.EventNames() {
				checked++
				if _, ok := p.Authz.Can(admin, div, def.Service, ev); ok {
					t.Errorf("the admin may fire %s/%s in %s", def.Service, ev, div)
				}
			}
		}
	}
	if checked < 20 {
		t.Errorf("only %d events checked", checked)
	}
}

func TestAdminCalendar(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		secret := testkit.NewSecret()
		p := testkit.StartWith(t, testkit.Options{Backend: b, Env: map[string]string{"PORTAL_SECRET": secret}})
		other := testkit.StartWith(t, testkit.Options{Backend: b, DatabaseURL: p.Config.DatabaseURL, Env: map[string]string{"PORTAL_SECRET": secret}})
		p.MustStaff(t, "admin", "admin", "321200")
		p.MustStaff(t, "citysup", "supervisor", "321200")
		a := p.NewClient(t)
		a.Login("admin")
		cal := p.Engine.Calendar
		// Saturday 2027-02-20: a weekend day, off as the file stands.
		sat := time.Date(2027, 2, 20, 12, 0, 0, 0, cal.Zone)
		if cal.IsWorkingDay(sat) {
			t.Fatal("2027-02-20 is a working day before the change: the test proves nothing")
		}
		page := a.Get("/admin/calendar?year=2027")
		if page.Status != 200 {
			t.Fatalf("calendar page: %d", page.Status)
		}
		tok := testkit.FormToken(t, page.Text())
		// Bad input: beside its field, kept.
		r := a.Post("/admin/calendar?year=2027", "_csrf", tok, "day", "2027-02-30", "kind", "workday", "note", "春节调休")
		if r.Status != 422 || !strings.Contains(r.Text(), `id="error-day"`) || !strings.Contains(r.Text(), `value="2027-02-30"`) ||
			!strings.Contains(r.Text(), `value="春节调休"`) {
			t.Fatalf("bad day: %d %.800s", r.Status, r.Body)
		}
		if r := a.Post("/admin/calendar?year=2027", "_csrf", tok, "day", "2027-02-20", "kind", "workday", "note", "春节调休"); r.Status != 303 {
			t.Fatalf("set: %d %.500s", r.Status, r.Body)
		}
		if !cal.IsWorkingDay(sat) {
			t.Error("this node's calendar does not count the day at once")
		}
		r = a.Get("/api/v1/admin/calendar?year=2027")
		if r.Status != 200 || !strings.Contains(r.Text(), `"2027-02-20"`) || !strings.Contains(r.Text(), `"old":"normal","new":"workday"`) {
			t.Errorf("the year's JSON: %d %s", r.Status, r.Body)
		}
		if n := adminEntries(t, p, "calendar.set", "calendar:2027-02-20"); n != 1 {
			t.Errorf("calendar.set entries: %d", n)
		}
		if r := a.Do("POST", "/api/v1/admin/calendar", map[string]any{"day": "2027-02-20", "kind": "workday"}); r.Status != 422 {
			t.Errorf("setting a day to what it is: %d", r.Status)
		}
		// The other node counts it once it reloads (its watch, every 30 s).
		if other.Engine.Calendar.IsWorkingDay(sat) {
			t.Fatal("the other node changed by itself: the test proves nothing")
		}
		if stale, err := other.Engine.CalendarStale(context.Background()); err != nil || !stale {
			t.Fatalf("the other node does not see the change: %v %v", stale, err)
		}
		if err := other.Engine.ReloadCalendar(context.Background()); err != nil {
			t.Fatal(err)
		}
		if !other.Engine.Calendar.IsWorkingDay(sat) {
			t.Error("the other node's calendar after reload")
		}
		// A supervisor finds no calendar to change.
		s := p.NewClient(t)
		s.Login("citysup")
		if r := s.Get("/admin/calendar"); r.Status != 404 {
			t.Errorf("supervisor: %d", r.Status)
		}
		if r := s.Do("POST", "/api/v1/admin/calendar", map[string]any{"day": "2027-02-21", "kind": "workday"}); r.Status != 404 {
			t.Errorf("supervisor sets a day: %d", r.Status)
		}
	})
}
