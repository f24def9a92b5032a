package browsertest

import (
	"strings"
	"testing"

	"tzportal/portal/testkit"
)

// TestAdminJourney walks the administration pages in a real browser, with
// JavaScript and without: the city's administrator on a desktop opens the
// staff accounts from the navigation, adds a street clerk — first with a
// login, a password and a division that are wrong, each error beside its
// field and what was typed kept — and sees the one-time-code secret once;
// revokes another clerk's grant, whose next page (on their phone) is the
// login; adds a system account and rotates its token; then, on a phone,
// adds a statistical zone (a wrong code first) and renames a division,
// whose history shows old → new, makes a Saturday of 2027 a working
// day, and adds a unit to the housing stock (a wrong area first),
// withdraws and restores it, and a district officer fills a draw's units
// from the stock; the pages read in English too. With
// JavaScript on, every page is audited with axe-core; screenshots of each
// step at phone and desktop size.
func TestAdminJourney(t *testing.T) { withAndWithoutJS(t, adminJourney) }

func adminJourney(t *testing.T, js bool) {
	p := testkit.Start(t, testkit.Backend{}, nil)
	p.MustStaff(t, "admin", "admin", "321200")
	p.MustStaff(t, "clerk1", "street_clerk", "321202001")
	p.MustStaff(t, "officer1", "district_officer", "321202")

	b := newBrowser(t, js)
	t.Logf("screenshots: %s", b.shots)

	// A clerk at work on their phone.
	clerk := b.person("clerk", phone)
	clerk.login(p, "clerk1")
	clerk.visit(p.URL + "/cases")
	clerk.sees("main h1", "待办")

	// The administrator, on a desktop: the staff list.
	adm := b.person("admin", desktop)
	adm.login(p, "admin")
	adm.submit("open the administration", `.site-nav a[href="/admin/staff"]`)
	adm.sees("main h1", "工作人员账号")
	adm.sees("main table", "测试 clerk1", "窗口 · 海陵区 城东街道")
	adm.look("admin-staff")

	// A new account, wrong first: each error beside its field, kept.
	adm.submit("new account", `main a.button[href="/admin/staff/new"]`)
	adm.typeInto("#field-login", "Wang Li")
	adm.typeInto("#field-name", "王莉")
	adm.typeInto("#field-password", "short")
	adm.do("choose the role", setSelect("#field-role", "street_clerk"))
	adm.do("choose a district", setSelect("#field-division", "321202"))
	adm.submit("add", `main form button[type=submit]`)
	adm.sees("#error-login", "登录名须为3至32位")
	adm.sees("#error-password", "初始密码至少")
	adm.sees("#error-division", "该角色授予街道、乡镇或功能区")
	adm.sees(".error-summary", "登录名", "初始密码")
	if got := adm.value("#field-login"); got != "Wang Li" {
		t.Errorf("the login typed is not kept: %q", got)
	}
	if got := adm.value("#field-password"); got != "" {
		t.Errorf("the password was sent back: %q", got)
	}
	if got := adm.attr("#field-login", "aria-describedby"); !strings.Contains(got, "error-login") {
		t.Errorf("the error is not tied to the field: aria-describedby=%q", got)
	}
	adm.look("admin-new-errors")
	adm.typeInto("#field-login", "wangli")
	adm.typeInto("#field-password", testkit.Password)
	adm.do("choose a street", setSelect("#field-division", "321202002"))
	adm.submit("add", `main form button[type=submit]`)
	adm.sees("main h1", "仅显示一次")
	adm.sees("main", "王莉（wangli）现在可以登录了", "此后不会再显示")
	if secret := adm.text("#secret"); len(secret) < 16 {
		t.Errorf("no secret shown: %q", secret)
	}
	adm.look("admin-secret")

	// The clerk's grant is revoked: their next page is the login.
	adm.visit(p.URL + "/admin/accounts/clerk1")
	adm.sees("main h1", "测试 clerk1 (clerk1)")
	adm.look("admin-account")
	adm.submit("revoke", `main form[action="/admin/accounts/clerk1/revoke"] button`)
	adm.sees("main .panel-done", "角色已撤销，该人员的会话已结束")
	adm.sees("main", "无角色")
	clerk.visit(p.URL + "/cases")
	if loc := clerk.location(); !strings.Contains(loc, "/login") {
		t.Errorf("the revoked clerk is still in: %s", loc)
	}

	// A system account, and its token rotated.
	adm.visit(p.URL + "/admin/systems")
	adm.submit("new system", `main a.button[href="/admin/systems/new"]`)
	adm.typeInto("#field-login", "xinghua-registry")
	adm.typeInto("#field-name", "兴化市户籍系统")
	adm.do("choose the role", setSelect("#field-role", "origin_registry"))
	adm.do("choose the city", setSelect("#field-division", "321200"))
	adm.submit("add", `main form button[type=submit]`)
	first := adm.text("#token")
	adm.submit("done", `main a.button`)
	adm.submit("rotate", `main form[action="/admin/accounts/xinghua-registry/token"] button`)
	adm.sees("main", "原令牌已失效")
	if second := adm.text("#token"); second == first || !strings.HasPrefix(second, "tzs_") {
		t.Errorf("the token was not rotated: %q → %q", first, second)
	}
	adm.look("admin-token")

	// The division tree, on a phone: a zone (a wrong code first), a rename.
	div := b.person("admin-phone", phone)
	div.login(p, "admin")
	div.visit(p.URL + "/admin/divisions")
	div.sees("main h1", "行政区划")
	div.look("admin-divisions")
	div.do("choose the county", setSelect("#field-parent", "321203"))
	div.typeInto("#field-code", "321202999")
	div.typeInto("#field-name", "高港科技园")
	div.submit("add the zone", `main form[action="/admin/divisions"] button`)
	div.sees("#error-code", "须以上级县级单位的代码 321203 开头")
	if got := div.value("#field-name"); got != "高港科技园" {
		t.Errorf("the name typed is not kept: %q", got)
	}
	div.look("admin-zone-error")
	div.typeInto("#field-code", "321203999")
	div.submit("add the zone", `main form[action="/admin/divisions"] button`)
	div.sees("main .panel-done", "功能区 321203999 已添加")
	div.visit(p.URL + "/admin/divisions/321202408")
	div.typeInto("#field-name", "泰州站街区")
	div.submit("rename", `main form button[type=submit]`)
	div.sees("main .panel-done", "变更已保存")
	div.sees("main table", "改名：火车站街区 → 泰州站街区", "测试 admin")
	div.look("admin-division")

	// The working days of 2027: a Saturday made a working day (调休).
	div.submit("the calendar", `main nav a[href="/admin/calendar"]`)
	div.visit(p.URL + "/admin/calendar?year=2027")
	div.sees("main h1", "2027年工作日")
	div.do("type the day", setDate("#field-day", "2027-02-20"))
	div.do("choose the kind", setSelect("#field-kind", "workday"))
	div.typeInto("#field-note", "春节调休")
	div.submit("set the day", `main form[action^="/admin/calendar"] button`)
	div.sees("main .panel-done", "2027-02-20 已设置")
	div.sees("main table", "按星期计 → 调休上班 (春节调休)")
	div.look("admin-calendar")

	// The housing stock: a unit added (a wrong area first, what was typed
	// kept), then withdrawn; the history shows old → new.
	div.submit("the housing stock", `main nav a[href="/admin/housing-units"]`)
	div.sees("main h1", "保障性住房房源")
	div.typeInto("#field-code", "HL-A-101")
	div.do("choose the district", setSelect("#field-district", "321202"))
	div.do("choose the kind", setSelect("#field-kind", "public_rental"))
	div.typeInto("#field-address", "海陵区东进路1号101室")
	div.typeInto("#field-area", "52,5")
	div.typeInto("#field-rooms", "2")
	div.submit("add the unit", `main form[action="/admin/housing-units"][method="post"] button`)
	div.sees("#error-area", "面积（平方米）须为大于0")
	if got := div.value("#field-address"); got != "海陵区东进路1号101室" {
		t.Errorf("the address typed is not kept: %q", got)
	}
	div.typeInto("#field-area", "52.5")
	div.submit("add the unit", `main form[action="/admin/housing-units"][method="post"] button`)
	div.sees("main .panel-done", "房源 HL-A-101 已新增")
	div.submit("withdraw", `main form[action="/admin/housing-units/HL-A-101"] button`)
	div.sees("main .panel-done", "房源 HL-A-101 已下架")
	div.sees("main table.unit-history", "下架: 可用 → 已下架", "测试 admin")
	div.look("admin-housing-units")
	div.submit("restore", `main form[action="/admin/housing-units/HL-A-101"] button`)
	div.sees("main .panel-done", "房源 HL-A-101 已恢复可用")

	// A district officer fills a draw's units from the stock, without
	// JavaScript too (a GET form), and may still edit them.
	off := b.person("officer", desktop)
	off.login(p, "officer1")
	off.visit(p.URL + "/housing/draws")
	off.do("choose the kind", setSelect("#fill-kind", "public_rental"))
	off.submit("fill from the stock", `main form[method="get"][action^="/housing/draws"] button`)
	off.sees("#filled", "1 套可用房源")
	if got := off.value("#field-units"); got != "HL-A-101" {
		t.Errorf("the units filled from the stock: %q", got)
	}
	off.look("housing-draw-fill")
	div.visit(p.URL + "/admin/divisions/321202408")

	// In English.
	div.submit("switch to English", `.site-nav a[lang="en"]`)
	div.sees("main h1", "泰州站街区")
	div.sees("main", "Renamed: 火车站街区 → 泰州站街区", "County-level unit above it")
	div.visit(p.URL + "/admin/staff")
	div.sees("main h1", "Staff accounts")
	div.look("admin-english")
}
