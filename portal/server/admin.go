package server

import (
	"cmp"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"tzportal/portal"
	"tzportal/portal/account"
	"tzportal/portal/workflow"
)

// Administration (/admin/…, /api/v1/admin/…): staff and system accounts,
// their grants, one-time-code secrets and API tokens, and the division
// tree. Only an administrator of the city finds these pages; anyone else
// gets 404, as for a page that does not exist. An administrator decides
// no case: policies/policy.csv gives the admin role nothing on cases.
// Handlers parse, call account.Accounts or division.Tree (which check the
// permission and write the audit entries) and render.

// adminRoutes mounts the pages and their JSON twins.
func (s *Server) adminRoutes(app *fiber.App, api fiber.Router) {
	app.Get("/admin/staff", s.requireLogin, s.adminAccountsPage(portal.KindStaff))
	app.Get("/admin/systems", s.requireLogin, s.adminAccountsPage(portal.KindSystem))
	app.Get("/admin/staff/new", s.requireLogin, s.adminNewPage(portal.KindStaff))
	app.Get("/admin/systems/new", s.requireLogin, s.adminNewPage(portal.KindSystem))
	app.Post("/admin/staff", s.requireLogin, s.adminAdd(portal.KindStaff))
	app.Post("/admin/systems", s.requireLogin, s.adminAdd(portal.KindSystem))
	app.Get("/admin/accounts/:login", s.requireLogin, s.adminAccountPage)
	for _, action := range accountActions {
		app.Post("/admin/accounts/:login/"+action, s.requireLogin, s.adminAction(action))
	}
	app.Get("/admin/divisions", s.requireLogin, s.adminDivisionsPage)
	app.Get("/admin/divisions/:code", s.requireLogin, s.adminDivisionPage)
	app.Post("/admin/divisions", s.requireLogin, s.adminAddZone)
	app.Post("/admin/divisions/:code", s.requireLogin, s.adminChangeDivision)
	app.Get("/admin/calendar", s.requireLogin, s.adminCalendarPage)
	app.Post("/admin/calendar", s.requireLogin, s.adminSetDay)
	s.menu = append(s.menu, menuLink{Label: "admin.menu", Href: "/admin/staff", For: s.Accounts.MayAdminister})

	api.Get("/admin/accounts", s.requireLogin, s.apiAdminAccounts)
	api.Post("/admin/staff", s.requireLogin, s.apiAdminAdd(portal.KindStaff))
	api.Post("/admin/systems", s.requireLogin, s.apiAdminAdd(portal.KindSystem))
	api.Get("/admin/accounts/:login", s.requireLogin, s.apiAdminAccount)
	for _, action := range accountActions {
		api.Post("/admin/accounts/:login/"+action, s.requireLogin, s.apiAdminAction(action))
	}
	api.Get("/admin/divisions", s.requireLogin, s.apiAdminDivisions)
	api.Post("/admin/divisions", s.requireLogin, s.apiAdminAddZone)
	api.Post("/admin/divisions/:code", s.requireLogin, s.apiAdminChangeDivision)
	api.Get("/admin/calendar", s.requireLogin, s.apiAdminCalendar)
	api.Post("/admin/calendar", s.requireLogin, s.apiAdminSetDay)
}

// accountActions are what an administrator does to an account (see act).
var accountActions = []string{"disable", "grants", "revoke", "totp", "token"}

// grantDoc is a grant as the pages and the API show it.
type grantDoc struct {
	Role         string `json:"role"`
	Division     string `json:"division"`
	DivisionName string `json:"division_name"`
	RoleName     string `json:"-"`
}

// accountDoc is a staff or system account as an administrator sees it.
type accountDoc struct {
	Login     string     `json:"login"`
	Name      string     `json:"name"`
	Kind      string     `json:"kind"`
	Disabled  bool       `json:"disabled"`
	Since     string     `json:"disabled_at,omitempty"`
	CreatedAt string     `json:"created_at"`
	TOTP      string     `json:"totp,omitempty"` // staff: set, pending (set up at next login)
	Grants    []grantDoc `json:"grants"`
}

func (s *Server) accountDoc(c *fiber.Ctx, u *portal.User) accountDoc {
	l := loc(c)
	divs := s.Authz.Divisions()
	zone := s.Engine.Calendar.Zone
	d := accountDoc{Login: u.Login, Name: u.Name, Kind: string(u.Kind), Disabled: u.DisabledAt != nil,
		CreatedAt: u.CreatedAt.In(zone).Format("2006-01-02 15:04"), Grants: []grantDoc{}}
	if u.DisabledAt != nil {
		d.Since = u.DisabledAt.In(zone).Format("2006-01-02 15:04")
	}
	if u.Kind == portal.KindStaff {
		d.TOTP = "pending"
		if u.TOTPConfirmedAt != nil {
			d.TOTP = "set"
		}
	}
	for _, g := range u.Grants {
		gd := grantDoc{Role: g.Role, Division: g.Division, DivisionName: g.Division, RoleName: l.T("role." + g.Role)}
		if dv, ok := divs.Get(g.Division); ok {
			gd.DivisionName = districtAndName(divs, dv)
		}
		d.Grants = append(d.Grants, gd)
	}
	return d
}

// accountsDoc is the list page's data and GET /api/v1/admin/accounts.
type accountsDoc struct {
	Kind     string       `json:"kind,omitempty"`
	Q        string       `json:"q,omitempty"`
	Accounts []accountDoc `json:"accounts"`
}

func (s *Server) adminAccounts(c *fiber.Ctx, kind portal.UserKind) (*accountsDoc, error) {
	q := strings.TrimSpace(c.Query("q"))
	list, err := s.Accounts.ListAccounts(ctx(c), actor(c), portal.AccountFilter{Kind: kind, Q: q})
	if err != nil {
		return nil, err
	}
	d := &accountsDoc{Kind: string(kind), Q: q, Accounts: []accountDoc{}}
	for i := range list {
		d.Accounts = append(d.Accounts, s.accountDoc(c, &list[i]))
	}
	return d, nil
}

// apiAdminAccounts is GET /api/v1/admin/accounts?kind=staff|system&q=.
func (s *Server) apiAdminAccounts(c *fiber.Ctx) error {
	kind := portal.UserKind(c.Query("kind"))
	if kind != "" && kind != portal.KindStaff && kind != portal.KindSystem {
		e := portal.Invalid(portal.FieldError{Field: "kind", Rule: "oneof"})
		e.Labels = "admin.field"
		return e
	}
	d, err := s.adminAccounts(c, kind)
	if err != nil {
		return err
	}
	return c.JSON(d)
}

// adminAccountsPage is GET /admin/staff and /admin/systems (?q= searches).
func (s *Server) adminAccountsPage(kind portal.UserKind) fiber.Handler {
	return func(c *fiber.Ctx) error {
		d, err := s.adminAccounts(c, kind)
		if err != nil {
			return err
		}
		return s.render(c, "admin-accounts", s.newPage(c, "admin."+string(kind)+".title", d))
	}
}

// newAccountBody is POST /api/v1/admin/staff and /systems (and the forms).
type newAccountBody struct {
	Login    string `json:"login"`
	Name     string `json:"name"`
	Password string `json:"password,omitempty"` // staff
	Role     string `json:"role"`
	Division string `json:"division"`
}

// adminFormDoc is the data of a form page: the choices, what was typed.
type adminFormDoc struct {
	Kind      string
	Typed     map[string]string
	Roles     []choiceDoc
	Divisions []divisionChoiceGroup
	Account   *accountDoc // the account page's
	Done      string      // what was just done (the account page)
	Self      bool        // the administrator's own account
}

// divisionChoiceGroup is an optgroup of the division select: the city, or
// a county-level unit with the streets and towns beneath it.
type divisionChoiceGroup struct {
	Name    string
	Options []choiceDoc
}

func (s *Server) adminForm(c *fiber.Ctx, kind portal.UserKind, typed map[string]string) *adminFormDoc {
	l := loc(c)
	d := &adminFormDoc{Kind: string(kind), Typed: typed}
	if d.Typed == nil {
		d.Typed = map[string]string{}
	}
	var names []string
	for name, r := range s.Accounts.Roles {
		if r.Kind == kind {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		d.Roles = append(d.Roles, choiceDoc{Value: name, Label: l.T("role." + name)})
	}
	divs := s.Authz.Divisions()
	root, _ := divs.Get(divs.Root)
	d.Divisions = append(d.Divisions, divisionChoiceGroup{Name: root.Name, Options: []choiceDoc{{Value: root.Code, Label: root.Code + " " + root.Name}}})
	for _, county := range divs.Children(divs.Root) {
		cd, _ := divs.Get(county)
		g := divisionChoiceGroup{Name: cd.Name, Options: []choiceDoc{{Value: cd.Code, Label: cd.Code + " " + cd.Name}}}
		for _, code := range divs.Children(county) {
			if dv, ok := divs.Get(code); ok {
				g.Options = append(g.Options, choiceDoc{Value: dv.Code, Label: dv.Code + " " + dv.Name})
			}
		}
		d.Divisions = append(d.Divisions, g)
	}
	return d
}

// adminNewPage is GET /admin/staff/new and /admin/systems/new.
func (s *Server) adminNewPage(kind portal.UserKind) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if !s.Accounts.MayAdminister(currentUser(c)) {
			return portal.NotFound(nil)
		}
		return s.render(c, "admin-new", s.newPage(c, "admin."+string(kind)+".new_title", s.adminForm(c, kind, nil)))
	}
}

// secretDoc is what is shown once: a new account's or a reset's
// one-time-code secret (with its QR code), or a system's API token.
type secretDoc struct {
	Account accountDoc `json:"account"`
	TOTP    *totpDoc   `json:"totp,omitempty"`
	Token   string     `json:"token,omitempty"`
	Reason  string     `json:"-"` // added, totp, token: the page's sentence
}

type totpDoc struct {
	Secret string `json:"secret"`
	URI    string `json:"uri"`
	QR     string `json:"-"`
}

func totpOf(en *account.Enrollment) *totpDoc {
	return &totpDoc{Secret: en.Secret, URI: en.URI, QR: en.QR}
}

// add creates a staff or system account and returns what to show once.
func (s *Server) add(c *fiber.Ctx, kind portal.UserKind, b newAccountBody) (*secretDoc, error) {
	if kind == portal.KindStaff {
		u, en, err := s.Accounts.AddStaff(ctx(c), actor(c), account.Staff{Login: b.Login, Password: b.Password, Name: b.Name,
			Role: b.Role, Division: b.Division})
		if err != nil {
			return nil, err
		}
		return &secretDoc{Account: s.accountDoc(c, u), TOTP: totpOf(en), Reason: "added"}, nil
	}
	u, token, err := s.Accounts.AddSystem(ctx(c), actor(c), b.Login, b.Name, b.Role, b.Division)
	if err != nil {
		return nil, err
	}
	return &secretDoc{Account: s.accountDoc(c, u), Token: token, Reason: "added"}, nil
}

// apiAdminAdd is POST /api/v1/admin/staff and /systems → 201 with the
// secret or token, which is not shown again.
func (s *Server) apiAdminAdd(kind portal.UserKind) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if !s.Accounts.MayAdminister(currentUser(c)) {
			return portal.NotFound(nil)
		}
		var b newAccountBody
		if err := decodeJSON(c, &b); err != nil {
			return err
		}
		d, err := s.add(c, kind, b)
		if err != nil {
			return err
		}
		return c.Status(fiber.StatusCreated).JSON(d)
	}
}

// adminAdd is the new-account form: the secret page, or the form again
// with each error beside its field and what was typed (not the password).
func (s *Server) adminAdd(kind portal.UserKind) fiber.Handler {
	return func(c *fiber.Ctx) error {
		b := newAccountBody{Login: c.FormValue("login"), Name: c.FormValue("name"), Password: c.FormValue("password"),
			Role: c.FormValue("role"), Division: c.FormValue("division")}
		d, err := s.add(c, kind, b)
		if err == nil {
			return s.render(c, "admin-secret", s.newPage(c, "admin.secret.title", d))
		}
		if !formError(err) {
			return err
		}
		typed := map[string]string{"login": b.Login, "name": b.Name, "role": b.Role, "division": b.Division}
		p := s.newPage(c, "admin."+string(kind)+".new_title", s.adminForm(c, kind, typed))
		p.Errors, p.Summary = fieldMessages(c, err)
		return s.write(c, status(portal.ErrorCode(err)), "admin-new", p)
	}
}

// adminAccount reads one account.
func (s *Server) adminAccount(c *fiber.Ctx) (*portal.User, error) {
	return s.Accounts.Account(ctx(c), actor(c), c.Params("login"))
}

// apiAdminAccount is GET /api/v1/admin/accounts/{login}.
func (s *Server) apiAdminAccount(c *fiber.Ctx) error {
	u, err := s.adminAccount(c)
	if err != nil {
		return err
	}
	return c.JSON(s.accountDoc(c, u))
}

// adminAccountView renders the account page, with a form's errors if any.
func (s *Server) adminAccountView(c *fiber.Ctx, u *portal.User, typed map[string]string, err error) error {
	d := s.adminForm(c, u.Kind, typed)
	ad := s.accountDoc(c, u)
	d.Account, d.Done = &ad, c.Query("done")
	d.Self = currentUser(c) != nil && currentUser(c).ID == u.ID
	p := s.newPage(c, "admin.account.title", d)
	p.Title = u.Name + " (" + u.Login + ")"
	if err == nil {
		return s.render(c, "admin-account", p)
	}
	p.Errors, p.Summary = fieldMessages(c, err)
	return s.write(c, status(portal.ErrorCode(err)), "admin-account", p)
}

// adminAccountPage is GET /admin/accounts/{login}.
func (s *Server) adminAccountPage(c *fiber.Ctx) error {
	u, err := s.adminAccount(c)
	if err != nil {
		return err
	}
	return s.adminAccountView(c, u, nil, nil)
}

// grantBody is POST …/grants and …/revoke.
type grantBody struct {
	Role     string `json:"role"`
	Division string `json:"division"`
}

// act runs an action on an account: disable, grant, revoke, totp (a new
// one-time-code secret) or token (a new API token). The secret or token
// is returned to be shown once.
func (s *Server) act(c *fiber.Ctx, action string, g grantBody) (*secretDoc, error) {
	login := c.Params("login")
	switch action {
	case "disable":
		return nil, s.Accounts.DisableStaff(ctx(c), actor(c), login)
	case "grants":
		return nil, s.Accounts.Grant(ctx(c), actor(c), login, portal.Grant(g))
	case "revoke":
		return nil, s.Accounts.Revoke(ctx(c), actor(c), login, portal.Grant(g))
	case "totp":
		en, err := s.Accounts.ResetTOTP(ctx(c), actor(c), login)
		if err != nil {
			return nil, err
		}
		return &secretDoc{TOTP: totpOf(en), Reason: "totp"}, nil
	case "token":
		token, err := s.Accounts.RotateToken(ctx(c), actor(c), login)
		if err != nil {
			return nil, err
		}
		return &secretDoc{Token: token, Reason: "token"}, nil
	}
	return nil, portal.NotFound(nil)
}

// apiAdminAction is POST /api/v1/admin/accounts/{login}/{action}: the
// account as it is now, with the new secret or token when one was made.
func (s *Server) apiAdminAction(action string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if !s.Accounts.MayAdminister(currentUser(c)) {
			return portal.NotFound(nil)
		}
		var g grantBody
		if action == "grants" || action == "revoke" {
			if err := decodeJSON(c, &g); err != nil {
				return err
			}
		}
		d, err := s.act(c, action, g)
		if err != nil {
			return err
		}
		u, err := s.adminAccount(c)
		if err != nil {
			return err
		}
		if d == nil {
			d = &secretDoc{}
		}
		d.Account = s.accountDoc(c, u)
		return c.JSON(d)
	}
}

// adminAction is the account page's forms: back to the page saying what
// was done, the secret page, or the page again with the error.
func (s *Server) adminAction(action string) fiber.Handler {
	return func(c *fiber.Ctx) error { return s.adminActionForm(c, action) }
}

func (s *Server) adminActionForm(c *fiber.Ctx, action string) error {
	g := grantBody{Role: c.FormValue("role"), Division: c.FormValue("division")}
	d, err := s.act(c, action, g)
	if err == nil && d != nil {
		u, err := s.adminAccount(c)
		if err != nil {
			return err
		}
		d.Account = s.accountDoc(c, u)
		return s.render(c, "admin-secret", s.newPage(c, "admin.secret.title", d))
	}
	if err == nil {
		return redirect(c, "/admin/accounts/"+url.PathEscape(c.Params("login"))+"?done="+action)
	}
	if !formError(err) {
		return err
	}
	u, uerr := s.adminAccount(c)
	if uerr != nil {
		return uerr
	}
	var typed map[string]string
	if action == "grants" {
		typed = map[string]string{"role": g.Role, "division": g.Division}
	}
	return s.adminAccountView(c, u, typed, err)
}

// divisionDoc is a division as the administration shows it.
type divisionDoc struct {
	portal.Division
	Children []divisionDoc `json:"children,omitempty"`
}

// historyRow is a line of an administration page's history (the tree's,
// the calendar's, the housing stock's), written out for the one table
// they share (partials/admin.html, admin-history): when, what changed (a
// division, a day, a unit), how, and who.
type historyRow struct {
	At      time.Time
	Subject string
	Change  string
	Who     string
}

// AtText is when, in the city's time.
func (h historyRow) AtText() string { return h.At.Format("2006-01-02 15:04") }

// divisionsDoc is the divisions page's data and GET /api/v1/admin/divisions.
type divisionsDoc struct {
	Tree    divisionDoc             `json:"tree"`
	History []portal.DivisionChange `json:"history"`
	Rows    []historyRow            `json:"-"`
	// The page's: the division being changed, the counties it may move
	// under, what was typed and what was just done.
	Division      *portal.Division  `json:"-"`
	CountyChoices []choiceDoc       `json:"-"`
	Typed         map[string]string `json:"-"`
	Done          string            `json:"-"`
}

// historyLimit is how many changes the pages list.
const historyLimit = 100

func (s *Server) adminDivisions(c *fiber.Ctx, code string) (*divisionsDoc, error) {
	changes, err := s.Tree.History(ctx(c), actor(c), code, historyLimit)
	if err != nil {
		return nil, err
	}
	divs := s.Authz.Divisions()
	var build func(code string) divisionDoc
	build = func(code string) divisionDoc {
		dv, _ := divs.Get(code)
		d := divisionDoc{Division: dv}
		for _, k := range divs.Children(code) {
			d.Children = append(d.Children, build(k))
		}
		return d
	}
	d := &divisionsDoc{Tree: build(divs.Root), History: []portal.DivisionChange{}, Typed: map[string]string{}, Done: c.Query("done")}
	zone := s.Engine.Calendar.Zone
	l := loc(c)
	for _, ch := range changes {
		label := ch.Code
		if dv, ok := divs.Get(ch.Code); ok {
			label += " " + dv.Name
		}
		d.History = append(d.History, ch)
		d.Rows = append(d.Rows, historyRow{At: ch.At.In(zone), Subject: label, Who: cmp.Or(ch.ActorName, ch.Actor),
			Change: l.T("admin.change."+ch.Change, map[string]any{"Old": ch.Old, "New": ch.New})})
	}
	for _, k := range divs.Children(divs.Root) {
		if dv, ok := divs.Get(k); ok {
			d.CountyChoices = append(d.CountyChoices, choiceDoc{Value: dv.Code, Label: dv.Code + " " + dv.Name})
		}
	}
	if code != "" {
		dv, ok := divs.Get(code)
		if !ok {
			return nil, portal.NotFound(nil)
		}
		d.Division = &dv
		d.Typed = map[string]string{"name": dv.Name, "parent": dv.Parent}
	}
	return d, nil
}

// apiAdminDivisions is GET /api/v1/admin/divisions: the tree and its
// newest changes.
func (s *Server) apiAdminDivisions(c *fiber.Ctx) error {
	d, err := s.adminDivisions(c, "")
	if err != nil {
		return err
	}
	return c.JSON(d)
}

// adminDivisionsPage is GET /admin/divisions: the tree, the form that adds
// a statistical zone, and the history.
func (s *Server) adminDivisionsPage(c *fiber.Ctx) error {
	d, err := s.adminDivisions(c, "")
	if err != nil {
		return err
	}
	return s.render(c, "admin-divisions", s.newPage(c, "admin.divisions.title", d))
}

// adminDivisionPage is GET /admin/divisions/{code}: rename or move one
// division, and its history.
func (s *Server) adminDivisionPage(c *fiber.Ctx) error {
	d, err := s.adminDivisions(c, c.Params("code"))
	if err != nil {
		return err
	}
	p := s.newPage(c, "admin.division.title", d)
	p.Title = loc(c).T("admin.division.title", map[string]any{"Name": d.Division.Name})
	return s.render(c, "admin-division", p)
}

// zoneBody is POST /api/v1/admin/divisions.
type zoneBody struct {
	Code   string `json:"code"`
	Name   string `json:"name"`
	Parent string `json:"parent"`
}

// changeBody is POST /api/v1/admin/divisions/{code}: a new name, a new
// parent, or both ("" keeps the parent).
type changeBody struct {
	Name   string `json:"name"`
	Parent string `json:"parent"`
}

// apiAdminAddZone is POST /api/v1/admin/divisions → 201 the new zone.
func (s *Server) apiAdminAddZone(c *fiber.Ctx) error {
	if !s.Tree.May(currentUser(c)) {
		return portal.NotFound(nil)
	}
	var b zoneBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	d, err := s.Tree.AddZone(ctx(c), actor(c), b.Code, b.Name, b.Parent)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(d)
}

// apiAdminChangeDivision is POST /api/v1/admin/divisions/{code}.
func (s *Server) apiAdminChangeDivision(c *fiber.Ctx) error {
	if !s.Tree.May(currentUser(c)) {
		return portal.NotFound(nil)
	}
	var b changeBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	d, err := s.Tree.Change(ctx(c), actor(c), c.Params("code"), b.Name, b.Parent)
	if err != nil {
		return err
	}
	return c.JSON(d)
}

// adminAddZone is the divisions page's form.
func (s *Server) adminAddZone(c *fiber.Ctx) error {
	b := zoneBody{Code: c.FormValue("code"), Name: c.FormValue("name"), Parent: c.FormValue("parent")}
	d, err := s.Tree.AddZone(ctx(c), actor(c), b.Code, b.Name, b.Parent)
	if err == nil {
		return redirect(c, "/admin/divisions?done="+d.Code)
	}
	if !formError(err) {
		return err
	}
	doc, derr := s.adminDivisions(c, "")
	if derr != nil {
		return derr
	}
	doc.Typed = map[string]string{"code": b.Code, "name": b.Name, "parent": b.Parent}
	p := s.newPage(c, "admin.divisions.title", doc)
	p.Errors, p.Summary = fieldMessages(c, err)
	return s.write(c, status(portal.ErrorCode(err)), "admin-divisions", p)
}

// adminChangeDivision is the division page's form.
func (s *Server) adminChangeDivision(c *fiber.Ctx) error {
	b := changeBody{Name: c.FormValue("name"), Parent: c.FormValue("parent")}
	_, err := s.Tree.Change(ctx(c), actor(c), c.Params("code"), b.Name, b.Parent)
	if err == nil {
		return redirect(c, "/admin/divisions/"+url.PathEscape(c.Params("code"))+"?done=changed")
	}
	if !formError(err) {
		return err
	}
	doc, derr := s.adminDivisions(c, c.Params("code"))
	if derr != nil {
		return derr
	}
	doc.Typed = map[string]string{"name": b.Name, "parent": b.Parent}
	p := s.newPage(c, "admin.division.title", doc)
	p.Title = loc(c).T("admin.division.title", map[string]any{"Name": doc.Division.Name})
	p.Errors, p.Summary = fieldMessages(c, err)
	return s.write(c, status(portal.ErrorCode(err)), "admin-division", p)
}

// calendarDoc is the calendar page's data and GET /api/v1/admin/calendar.
type calendarDoc struct {
	*workflow.CalendarYear
	Prev, Next int               `json:"-"`
	Typed      map[string]string `json:"-"`
	Kinds      []choiceDoc       `json:"-"`
	Done       string            `json:"-"`
	Changes    []historyRow      `json:"-"`
}

// adminCalendar reads the year of ?year= (this year by default).
func (s *Server) adminCalendar(c *fiber.Ctx) (*calendarDoc, error) {
	zone := s.Engine.Calendar.Zone
	year := s.Now().In(zone).Year()
	if q := c.Query("year"); q != "" {
		y, err := strconv.Atoi(q)
		if err != nil {
			return nil, portal.NotFound(err)
		}
		year = y
	}
	y, err := s.Engine.CalendarOf(ctx(c), actor(c), year)
	if err != nil {
		return nil, err
	}
	if y.Holidays == nil {
		y.Holidays = []string{}
	}
	if y.Workdays == nil {
		y.Workdays = []string{}
	}
	if y.History == nil {
		y.History = []portal.CalendarChange{}
	}
	l := loc(c)
	d := &calendarDoc{CalendarYear: y, Prev: year - 1, Next: year + 1, Typed: map[string]string{}, Done: c.Query("done")}
	for _, k := range []string{workflow.DayHoliday, workflow.DayWorkday, workflow.DayNormal} {
		d.Kinds = append(d.Kinds, choiceDoc{Value: k, Label: l.T("admin.calendar.kind." + k)})
	}
	for _, ch := range y.History {
		change := l.T("admin.calendar.kind."+ch.Old) + " → " + l.T("admin.calendar.kind."+ch.New)
		if ch.Note != "" {
			change += " (" + ch.Note + ")"
		}
		d.Changes = append(d.Changes, historyRow{At: ch.At.In(zone), Subject: ch.Day, Change: change, Who: cmp.Or(ch.ActorName, ch.Actor)})
	}
	return d, nil
}

// apiAdminCalendar is GET /api/v1/admin/calendar?year=: the year's days
// off, its working weekend days and its changes.
func (s *Server) apiAdminCalendar(c *fiber.Ctx) error {
	d, err := s.adminCalendar(c)
	if err != nil {
		return err
	}
	return c.JSON(d.CalendarYear)
}

// adminCalendarPage is GET /admin/calendar?year=.
func (s *Server) adminCalendarPage(c *fiber.Ctx) error {
	d, err := s.adminCalendar(c)
	if err != nil {
		return err
	}
	p := s.newPage(c, "admin.calendar.title", d)
	p.Title = loc(c).T("admin.calendar.title", map[string]any{"Year": d.Year})
	return s.render(c, "admin-calendar", p)
}

// dayBody is POST /api/v1/admin/calendar.
type dayBody struct {
	Day  string `json:"day"`
	Kind string `json:"kind"`
	Note string `json:"note"`
}

// apiAdminSetDay is POST /api/v1/admin/calendar {day, kind, note} → 201
// the change.
func (s *Server) apiAdminSetDay(c *fiber.Ctx) error {
	if !s.Engine.MayManageCalendar(currentUser(c)) {
		return portal.NotFound(nil)
	}
	var b dayBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	ch, err := s.Engine.SetCalendarDay(ctx(c), actor(c), b.Day, b.Kind, b.Note)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(ch)
}

// adminSetDay is the calendar page's form: back to the day's year, or the
// page again with the error beside the field and what was typed.
func (s *Server) adminSetDay(c *fiber.Ctx) error {
	b := dayBody{Day: c.FormValue("day"), Kind: c.FormValue("kind"), Note: c.FormValue("note")}
	ch, err := s.Engine.SetCalendarDay(ctx(c), actor(c), b.Day, b.Kind, b.Note)
	if err == nil {
		return redirect(c, "/admin/calendar?year="+ch.Day[:4]+"&done="+ch.Day)
	}
	if !formError(err) {
		return err
	}
	d, derr := s.adminCalendar(c)
	if derr != nil {
		return derr
	}
	d.Typed = map[string]string{"day": b.Day, "kind": b.Kind, "note": b.Note}
	p := s.newPage(c, "admin.calendar.title", d)
	p.Title = loc(c).T("admin.calendar.title", map[string]any{"Year": d.Year})
	p.Errors, p.Summary = fieldMessages(c, err)
	return s.write(c, status(portal.ErrorCode(err)), "admin-calendar", p)
}
