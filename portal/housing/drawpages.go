package housing

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"tzportal/portal"
	"tzportal/portal/lottery"
	"tzportal/portal/workflow"
)

// drawScreens are the draws' pages: the public one, and the district
// housing officer's — the draws of their districts with the form to create
// one, and one draw with the form to reveal it. Plain forms posted and
// redirected, readable on a phone, working without JavaScript.
func drawScreens(e *workflow.Engine) []workflow.Screen {
	return []workflow.Screen{
		{Method: http.MethodGet, Path: "/draws/:id", Public: true, Handle: func(ctx context.Context, r workflow.Request) (*workflow.Shown, error) {
			d, err := publicDraw(ctx, e, r.Param("id"))
			if err != nil {
				return nil, err
			}
			return &workflow.Shown{Template: ServiceID + "/draw", Title: ServiceID + ".draw.title", Data: drawPageOf(d, r.Query("page"))}, nil
		}},
		{Method: http.MethodGet, Path: "/housing/draws", Handle: func(ctx context.Context, r workflow.Request) (*workflow.Shown, error) {
			if r.Query("fill") == "stock" {
				return drawsFromStock(ctx, e, r.Actor, r.Query("district"), r.Query("kind"))
			}
			return drawsScreen(ctx, e, r.Actor, drawForm{}, nil)
		}, Menu: ServiceID + ".draws.menu", For: func(u *portal.User) bool { return len(drawDistricts(e, u)) > 0 }},
		{Method: http.MethodPost, Path: "/housing/draws", Handle: func(ctx context.Context, r workflow.Request) (*workflow.Shown, error) {
			f := drawForm{District: r.Form("district"), Kind: r.Form("kind"), Units: r.Form("units"),
				Commitment: r.Form("commitment"), Beacon: r.Form("beacon")}
			q := f.request()
			d, err := CreateDraw(ctx, e, r.Actor, q)
			switch {
			case err == nil:
				return &workflow.Shown{Redirect: drawHref(d.ID)}, nil
			case refusedInPlace(err):
				return drawsScreen(ctx, e, r.Actor, f, noUnits(err, q))
			}
			return nil, err
		}},
		{Method: http.MethodGet, Path: "/housing/draws/:id", Handle: func(ctx context.Context, r workflow.Request) (*workflow.Shown, error) {
			return drawOfficeScreen(ctx, e, r.Actor, r.Param("id"), RevealRequest{}, nil)
		}},
		{Method: http.MethodPost, Path: "/housing/draws/:id/reveal", Handle: func(ctx context.Context, r workflow.Request) (*workflow.Shown, error) {
			id, err := strconv.ParseInt(r.Param("id"), 10, 64)
			if err != nil || id <= 0 {
				return nil, portal.NotFound(err)
			}
			// Kept as typed when refused: the seed too, so that a slip is
			// mended in place rather than typed again.
			q := RevealRequest{Seed: strings.TrimSpace(r.Form("seed")), BeaconValue: r.Form("beacon_value")}
			_, err = RevealDraw(ctx, e, r.Actor, id, q)
			switch {
			case err == nil:
				return &workflow.Shown{Redirect: drawHref(id)}, nil
			case refusedInPlace(err):
				return drawOfficeScreen(ctx, e, r.Actor, r.Param("id"), q, err)
			}
			return nil, err
		}},
	}
}

func drawHref(id int64) string { return "/housing/draws/" + strconv.FormatInt(id, 10) }

// drawDistricts are the districts whose draws u may run (a district
// officer's grants, a city-wide grant's districts), as the schooling
// office finds its own.
func drawDistricts(e *workflow.Engine, u *portal.User) []portal.Division {
	if u == nil {
		return nil
	}
	var out []portal.Division
	divs := e.Authz.Divisions()
	for _, g := range u.Grants {
		for _, code := range append([]string{g.Division}, divs.Children(g.Division)...) {
			dv, ok := divs.Get(code)
			if !ok || code == divs.Root || !districtRE.MatchString(code) || dv.Leaf() ||
				slices.ContainsFunc(out, func(x portal.Division) bool { return x.Code == code }) {
				continue
			}
			if _, ok := e.Authz.Can(u, code, ServiceID, workflow.EventAction(eventDraw, stateWaitlisted)); ok {
				out = append(out, dv)
			}
		}
	}
	return out
}

// drawDistrictsOf are the districts of actor's draws: a user who may draw
// in none is refused (403) as on the schooling office, someone not logged
// in is sent to log in.
func drawDistrictsOf(e *workflow.Engine, actor portal.Actor) ([]portal.Division, error) {
	if actor.User == nil {
		return nil, &portal.Error{Code: portal.EUNAUTHORIZED, Message: "error.login_required"}
	}
	ds := drawDistricts(e, actor.User)
	if len(ds) == 0 {
		return nil, &portal.Error{Code: portal.EFORBIDDEN, Message: "error.forbidden"}
	}
	return ds, nil
}

// drawForm is the create form as typed: the units as one text.
type drawForm struct {
	District, Kind, Units, Commitment, Beacon string
}

// request reads the form as the API's body: units one per line or
// separated by commas, semicolons or spaces (Chinese ones too); a
// commitment pasted with the " -" sha256sum prints after it is the hash.
func (f drawForm) request() DrawRequest {
	q := DrawRequest{District: strings.TrimSpace(f.District), Kind: strings.TrimSpace(f.Kind), Beacon: f.Beacon,
		Commitment: strings.TrimSpace(f.Commitment), Units: []lottery.Unit{}}
	if w := strings.Fields(q.Commitment); len(w) == 2 && w[1] == "-" {
		q.Commitment = w[0]
	}
	for _, code := range strings.FieldsFunc(f.Units, func(r rune) bool {
		return unicode.IsSpace(r) || strings.ContainsRune(",;，；、", r)
	}) {
		q.Units = append(q.Units, lottery.Unit{Code: code})
	}
	return q
}

// drawsFromStock is the create form with its units filled from the
// housing stock (GET /housing/draws?fill=stock&district=&kind=): the
// district's available units of the kind, one per line, which the officer
// may still edit before creating the draw. Filling changes nothing: the
// draw is checked and made from the units as posted, as when typed.
func drawsFromStock(ctx context.Context, e *workflow.Engine, actor portal.Actor, district, kind string) (*workflow.Shown, error) {
	ds, err := drawDistrictsOf(e, actor)
	if err != nil {
		return nil, err
	}
	f := drawForm{District: strings.TrimSpace(district), Kind: strings.TrimSpace(kind)}
	if f.District == "" && len(ds) == 1 {
		f.District = ds[0].Code
	}
	var bad []portal.FieldError
	if !slices.ContainsFunc(ds, func(x portal.Division) bool { return x.Code == f.District }) {
		bad = append(bad, portal.FieldError{Field: "district", Rule: "district"})
	}
	if !slices.Contains(kindOptions, f.Kind) {
		bad = append(bad, portal.FieldError{Field: "kind", Rule: "oneof", Param: strings.Join(kindOptions, " ")})
	}
	if len(bad) == 0 {
		units, err := e.Store.HousingUnits(ctx, portal.HousingUnitFilter{District: f.District, Kind: f.Kind, Status: portal.UnitAvailable, Limit: maxUnits})
		if err != nil {
			return nil, err
		}
		codes := make([]string, len(units))
		for i, u := range units {
			codes[i] = u.Code
		}
		f.Units = strings.Join(codes, "\n")
		if len(units) == 0 {
			bad = append(bad, portal.FieldError{Field: "units", Rule: "stock_empty"})
		}
		if len(bad) == 0 {
			sh, err := drawsScreen(ctx, e, actor, f, nil)
			if err == nil {
				sh.Data.(*drawsPage).Filled = len(units)
			}
			return sh, err
		}
	}
	return drawsScreen(ctx, e, actor, f, &portal.Error{Code: portal.EINVALID, Message: "error.invalid", Fields: bad, Labels: ServiceID + ".draw"})
}

// noUnits words a form with no unit at all as a field to fill in, not as
// a list over its size (the check's one rule for both).
func noUnits(err error, q DrawRequest) error {
	e := portal.AsError(err)
	if e == nil || len(q.Units) > 0 {
		return err
	}
	c := *e
	c.Fields = slices.Clone(e.Fields)
	for i, f := range c.Fields {
		if f.Field == "units" {
			c.Fields[i] = portal.FieldError{Field: "units", Rule: "required"}
		}
	}
	return &c
}

// drawsPage is the officer's draws page.
type drawsPage struct {
	Districts  []portal.Division // where the officer may draw
	Draws      []drawRow         // newest first
	Kinds      []string
	Typed      drawForm
	UnitErrors []string // the fields of the units refused (units[i].code), shown under the list
	OpenID     int64    // the open draw a new one waits for (draw_open)
	Filled     int      // units just filled from the stock
	MinSeedLen int
}

// drawRow is one draw of the list.
type drawRow struct {
	ID           int64
	District     string
	Kind         string
	Status       string
	Participants int
	Units        int
}

// drawsScreen shows the officer's draws and the create form; err is a
// refusal of what was typed (kept in f).
func drawsScreen(ctx context.Context, e *workflow.Engine, actor portal.Actor, f drawForm, err error) (*workflow.Shown, error) {
	ds, derr := drawDistrictsOf(e, actor)
	if derr != nil {
		return nil, derr
	}
	d := &drawsPage{Districts: ds, Kinds: kindOptions, Typed: f, MinSeedLen: lottery.MinSeedLen}
	if d.Typed.District == "" {
		d.Typed.District = ds[0].Code
	}
	for _, dv := range ds {
		ids, lerr := e.Store.CohortIDs(ctx, kindDraw, ServiceID, dv.Code)
		if lerr != nil {
			return nil, lerr
		}
		for _, id := range ids {
			cd, lerr := service(e).draws.get(ctx, e.Store, id)
			if lerr != nil {
				return nil, lerr
			}
			dr := &cd.Draw
			d.Draws = append(d.Draws, drawRow{ID: id, District: dv.Code, Kind: dr.Kind, Status: dr.Status,
				Participants: len(dr.Participants), Units: len(dr.Units)})
		}
	}
	slices.SortFunc(d.Draws, func(a, b drawRow) int { return cmp.Compare(b.ID, a.ID) })
	if pe := portal.AsError(err); pe != nil {
		for _, fe := range pe.Fields {
			if strings.HasPrefix(fe.Field, "units[") {
				d.UnitErrors = append(d.UnitErrors, fe.Field)
			}
		}
		if pe.Rule == "draw_open" {
			d.OpenID, _ = pe.Data["ID"].(int64)
		}
	}
	return &workflow.Shown{Template: ServiceID + "/draws", Title: ServiceID + ".draws.title", Data: d, Err: err}, nil
}

// drawOfficePage is one draw as its district's officer sees it.
type drawOfficePage struct {
	Draw       *lottery.Draw
	Finished   bool // every offer made (a reveal cut short is not)
	Done       int  // households moved to offered so far
	Offers     []drawOffer
	Typed      RevealRequest
	MinSeedLen int
}

// drawOffer is an offer with the case it went to (never public).
type drawOffer struct {
	Ticket int
	Unit   string
	CaseNo string
}

// drawOfficeScreen shows draw idText to an officer of its district; err is
// a refusal of the reveal typed (kept in typed). A draw of a district the
// officer may not draw in is not found, as one that does not exist.
func drawOfficeScreen(ctx context.Context, e *workflow.Engine, actor portal.Actor, idText string, typed RevealRequest,
	err error) (*workflow.Shown, error) {
	ds, derr := drawDistrictsOf(e, actor)
	if derr != nil {
		return nil, derr
	}
	id, perr := strconv.ParseInt(idText, 10, 64)
	if perr != nil || id <= 0 {
		return nil, portal.NotFound(perr)
	}
	co, dd, lerr := loadDraw(ctx, e, id)
	if lerr != nil {
		return nil, lerr
	}
	if !slices.ContainsFunc(ds, func(x portal.Division) bool { return x.Code == co.District }) {
		e.DeniedOn(ctx, actor, "draw.read", "cohort:"+strconv.FormatInt(id, 10))
		return nil, portal.NotFound(nil)
	}
	dd.Draw.ID = co.ID
	d := &drawOfficePage{Draw: &dd.Draw, Finished: co.FinishedAt != nil, Done: co.Done, Typed: typed, MinSeedLen: lottery.MinSeedLen}
	for _, o := range dd.Draw.Offers {
		no := ""
		if o.Ticket >= 1 && o.Ticket <= len(dd.Cases) {
			no = dd.Cases[o.Ticket-1]
		}
		d.Offers = append(d.Offers, drawOffer{Ticket: o.Ticket, Unit: o.Unit, CaseNo: no})
	}
	return &workflow.Shown{Template: ServiceID + "/draw-office", Title: ServiceID + ".draw_office.title", Data: d, Err: err}, nil
}

// drawPageRows is how many participants one page of a draw's public page
// lists (a district's draw may have a hundred thousand; the JSON has all).
const drawPageRows = 500

// drawPage is a draw's public page: the draw, and one page of its
// participants.
type drawPage struct {
	*lottery.Draw
	Shown            []lottery.PublicParticipant
	Page, Pages      int
	First, Last      int // the tickets shown
	PrevURL, NextURL string
}

// drawPageOf is page (1-based; anything else is the first) of d's public page.
func drawPageOf(d *lottery.Draw, page string) *drawPage {
	n := len(d.Participants)
	p := &drawPage{Draw: d, Pages: max(1, (n+drawPageRows-1)/drawPageRows), Page: 1}
	if k, err := strconv.Atoi(page); err == nil && k >= 1 && k <= p.Pages {
		p.Page = k
	}
	from, to := (p.Page-1)*drawPageRows, min(n, p.Page*drawPageRows)
	p.Shown = d.Participants[from:to]
	if to > from {
		p.First, p.Last = from+1, to
	}
	link := func(k int) string { return fmt.Sprintf("/draws/%d?page=%d#participants", d.ID, k) }
	if p.Page > 1 {
		p.PrevURL = link(p.Page - 1)
	}
	if p.Page < p.Pages {
		p.NextURL = link(p.Page + 1)
	}
	return p
}
