package server

import (
	"cmp"
	"net/url"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"tzportal/portal"
	"tzportal/portal/unitstock"
)

// The housing stock's administration (/admin/housing-units and its JSON
// twins): the city administrator lists the units of the housing-security
// stock, adds one, withdraws or restores one; anyone else gets 404.
// unitstock.Stock checks the permission and writes the history rows and
// the audit entries; handlers parse, call it and render.

// housingUnitRoutes mounts the pages and their JSON twins.
func (s *Server) housingUnitRoutes(app *fiber.App, api fiber.Router) {
	app.Get("/admin/housing-units", s.requireLogin, s.adminUnitsPage)
	app.Post("/admin/housing-units", s.requireLogin, s.adminAddUnit)
	app.Post("/admin/housing-units/:code", s.requireLogin, s.adminSetUnit)

	api.Get("/admin/housing-units", s.requireLogin, s.apiAdminUnits)
	api.Post("/admin/housing-units", s.requireLogin, s.apiAdminAddUnit)
	api.Post("/admin/housing-units/:code", s.requireLogin, s.apiAdminSetUnit)
}

// unitDoc is a unit as the page shows it.
type unitDoc struct {
	portal.HousingUnit
	DistrictName string
	AreaText     string
	Action       string // its withdraw or restore form's, the filter kept
}

// unitsDoc is the units page's data and GET /api/v1/admin/housing-units.
type unitsDoc struct {
	Units   []portal.HousingUnit       `json:"units"`
	History []portal.HousingUnitChange `json:"history"`
	// The page's: the rows, the filter and the add form (as typed), their
	// choices, and what was just done.
	Rows      []unitDoc         `json:"-"`
	Changes   []historyRow      `json:"-"`
	Filter    map[string]string `json:"-"`
	Query     string            `json:"-"` // the filter as a query string
	JSONHref  string            `json:"-"`
	Typed     map[string]string `json:"-"`
	Districts []choiceDoc       `json:"-"`
	Kinds     []choiceDoc       `json:"-"`
	Statuses  []choiceDoc       `json:"-"`
	Done      string            `json:"-"`
	DoneUnit  string            `json:"-"`
}

// unitFilter reads ?district=&kind=&status=.
func unitFilter(c *fiber.Ctx) portal.HousingUnitFilter {
	return portal.HousingUnitFilter{District: strings.TrimSpace(c.Query("district")), Kind: strings.TrimSpace(c.Query("kind")),
		Status: strings.TrimSpace(c.Query("status"))}
}

// adminUnits reads the stock f selects and its newest changes; a filter
// the stock refuses lists nothing and is returned as ferr.
func (s *Server) adminUnits(c *fiber.Ctx, f portal.HousingUnitFilter) (d *unitsDoc, ferr error, err error) {
	units, err := s.Units.List(ctx(c), actor(c), f)
	if portal.ErrorCode(err) == portal.EINVALID {
		ferr, err = err, nil
	}
	if err != nil {
		return nil, nil, err
	}
	hist, err := s.Units.History(ctx(c), actor(c), "", unitstock.HistoryLimit)
	if err != nil {
		return nil, nil, err
	}
	d = &unitsDoc{Units: units, History: hist, Typed: map[string]string{}, Done: c.Query("done"), DoneUnit: c.Query("unit"),
		Filter: map[string]string{"district": f.District, "kind": f.Kind, "status": f.Status}}
	if d.Units == nil {
		d.Units = []portal.HousingUnit{}
	}
	if d.History == nil {
		d.History = []portal.HousingUnitChange{}
	}
	q := url.Values{}
	for k, v := range d.Filter {
		if v != "" {
			q.Set(k, v)
		}
	}
	d.Query, d.JSONHref = q.Encode(), "/api/v1/admin/housing-units"
	if d.Query != "" {
		d.JSONHref += "?" + d.Query
	}
	return d, ferr, nil
}

// unitsPageOf fills what only the page shows.
func (s *Server) unitsPageOf(c *fiber.Ctx, d *unitsDoc) *page {
	l := loc(c)
	divs := s.Authz.Divisions()
	zone := s.Engine.Calendar.Zone
	for _, k := range divs.Children(divs.Root) {
		if dv, ok := divs.Get(k); ok && len(k) == 6 {
			d.Districts = append(d.Districts, choiceDoc{Value: dv.Code, Label: dv.Code + " " + dv.Name})
		}
	}
	for _, k := range s.Units.Kinds {
		d.Kinds = append(d.Kinds, choiceDoc{Value: k, Label: l.T("housing-security.option.kind." + k)})
	}
	for _, st := range unitstock.Statuses {
		d.Statuses = append(d.Statuses, choiceDoc{Value: st, Label: l.T("admin.unit.status." + st)})
	}
	for _, u := range d.Units {
		ud := unitDoc{HousingUnit: u, DistrictName: u.District, AreaText: strconv.FormatFloat(u.Area, 'f', -1, 64),
			Action: "/admin/housing-units/" + url.PathEscape(u.Code)}
		if d.Query != "" {
			ud.Action += "?" + d.Query
		}
		if dv, ok := divs.Get(u.District); ok {
			ud.DistrictName = dv.Name
		}
		d.Rows = append(d.Rows, ud)
	}
	for _, ch := range d.History {
		change := l.T("admin.units.change."+ch.Change) + ": "
		if ch.Old != "" {
			change += l.T("admin.unit.status."+ch.Old) + " → "
		}
		change += l.T("admin.unit.status." + ch.New)
		d.Changes = append(d.Changes, historyRow{At: ch.At.In(zone), Subject: ch.Code, Change: change, Who: cmp.Or(ch.ActorName, ch.Actor)})
	}
	return s.newPage(c, "admin.units.title", d)
}

// apiAdminUnits is GET /api/v1/admin/housing-units?district=&kind=&status=:
// the units and the stock's newest changes.
func (s *Server) apiAdminUnits(c *fiber.Ctx) error {
	d, ferr, err := s.adminUnits(c, unitFilter(c))
	if err != nil {
		return err
	}
	if ferr != nil {
		return ferr
	}
	return c.JSON(d)
}

// adminUnitsPage is GET /admin/housing-units: the filter, the units with
// their withdraw or restore button, the add form and the history.
func (s *Server) adminUnitsPage(c *fiber.Ctx) error {
	d, ferr, err := s.adminUnits(c, unitFilter(c))
	if err != nil {
		return err
	}
	p := s.unitsPageOf(c, d)
	if ferr == nil {
		return s.render(c, "admin-housing-units", p)
	}
	p.Errors, p.Summary = fieldMessages(c, ferr)
	return s.write(c, status(portal.ErrorCode(ferr)), "admin-housing-units", p)
}

// unitBody is POST /api/v1/admin/housing-units.
type unitBody struct {
	Code     string   `json:"code"`
	District string   `json:"district"`
	Kind     string   `json:"kind"`
	Address  string   `json:"address"`
	Area     *float64 `json:"area"` // m², at most two decimals
	Rooms    *int     `json:"rooms"`
}

// unitStatusBody is POST /api/v1/admin/housing-units/{code}.
type unitStatusBody struct {
	Status string `json:"status"`
}

// apiAdminAddUnit is POST /api/v1/admin/housing-units → 201 the unit.
func (s *Server) apiAdminAddUnit(c *fiber.Ctx) error {
	if !s.Units.May(currentUser(c)) {
		return portal.NotFound(nil)
	}
	var b unitBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	in := unitstock.Input{Code: b.Code, District: b.District, Kind: b.Kind, Address: b.Address}
	if b.Area != nil {
		in.Area = strconv.FormatFloat(*b.Area, 'f', -1, 64)
	}
	if b.Rooms != nil {
		in.Rooms = strconv.Itoa(*b.Rooms)
	}
	u, err := s.Units.Add(ctx(c), actor(c), in)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(u)
}

// apiAdminSetUnit is POST /api/v1/admin/housing-units/{code} {status}:
// withdraw (withdrawn) or restore (available) → 200 the unit.
func (s *Server) apiAdminSetUnit(c *fiber.Ctx) error {
	if !s.Units.May(currentUser(c)) {
		return portal.NotFound(nil)
	}
	var b unitStatusBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	u, err := s.Units.SetStatus(ctx(c), actor(c), c.Params("code"), b.Status)
	if err != nil {
		return err
	}
	return c.JSON(u)
}

// adminUnitsAgain renders the page again with err: beside its field for
// the add form (typed kept), in the summary otherwise.
func (s *Server) adminUnitsAgain(c *fiber.Ctx, typed map[string]string, err error) error {
	d, _, derr := s.adminUnits(c, unitFilter(c))
	if derr != nil {
		return derr
	}
	if typed != nil {
		d.Typed = typed
	}
	p := s.unitsPageOf(c, d)
	p.Errors, p.Summary = fieldMessages(c, err)
	return s.write(c, status(portal.ErrorCode(err)), "admin-housing-units", p)
}

// adminAddUnit is the add form: back to the list saying so, or the page
// again with each error beside its field and what was typed.
func (s *Server) adminAddUnit(c *fiber.Ctx) error {
	in := unitstock.Input{Code: c.FormValue("code"), District: c.FormValue("district"), Kind: c.FormValue("kind"),
		Address: c.FormValue("address"), Area: c.FormValue("area"), Rooms: c.FormValue("rooms")}
	u, err := s.Units.Add(ctx(c), actor(c), in)
	if err == nil {
		return redirect(c, "/admin/housing-units?done=add&unit="+url.QueryEscape(u.Code)+"#units")
	}
	if !formError(err) {
		return err
	}
	return s.adminUnitsAgain(c, map[string]string{"code": in.Code, "district": in.District, "kind": in.Kind,
		"address": in.Address, "area": in.Area, "rooms": in.Rooms}, err)
}

// adminSetUnit is a row's withdraw or restore button: back to the list
// (its filter kept) saying so, or the page again with the refusal.
func (s *Server) adminSetUnit(c *fiber.Ctx) error {
	code := c.Params("code")
	u, err := s.Units.SetStatus(ctx(c), actor(c), code, c.FormValue("status"))
	if err == nil {
		change := portal.UnitWithdraw
		if u.Status == portal.UnitAvailable {
			change = portal.UnitRestore
		}
		q := url.Values{}
		for _, k := range []string{"district", "kind", "status"} {
			if v := c.Query(k); v != "" {
				q.Set(k, v)
			}
		}
		q.Set("done", change)
		q.Set("unit", u.Code)
		return redirect(c, "/admin/housing-units?"+q.Encode()+"#units")
	}
	if !formError(err) {
		return err
	}
	return s.adminUnitsAgain(c, nil, err)
}
