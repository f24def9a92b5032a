package server

import (
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"tzportal/portal"
	"tzportal/portal/validate"
	"tzportal/portal/workflow"
)

// The clerk's desk (README "The clerk's desk"): claiming, releasing and
// assigning a case, from its page and through the API, and the case
// after this one for "… and open the next one".

// deskDoc is the case page's desk panel (staff only).
type deskDoc struct {
	Holder     string // "" nobody
	Mine       bool
	Other      bool // someone else holds it, and may act on it
	CanClaim   bool
	CanRelease bool
	CanAssign  bool
	Assignees  []choiceDoc // login → name (office)
	Login      string      // the login chosen in an assignment that failed
}

// deskPanel is what the viewer may do about who holds the case.
func (s *Server) deskPanel(c *fiber.Ctx, v *workflow.View) (*deskDoc, error) {
	u := currentUser(c)
	if u.Kind != portal.KindStaff || !v.Case.InQueue {
		return nil, nil
	}
	d := &deskDoc{Holder: v.Case.HolderName, Mine: v.Case.HolderID != nil && *v.Case.HolderID == u.ID, Other: v.HeldByOther}
	d.CanRelease = d.Mine
	// Someone who holds it but may no longer act on it (their grant
	// revoked, their account disabled) holds nothing: it may be claimed.
	d.CanClaim = !d.Mine && !d.Other && len(v.Allowed) > 0
	assignees, err := s.Engine.Assignees(ctx(c), actor(c), v)
	if err != nil {
		return nil, err
	}
	if _, ok := s.Authz.Can(u, v.Case.Division, "case", "assign"); ok {
		d.CanAssign = true
		for _, a := range assignees {
			if v.Case.HolderID != nil && a.ID == *v.Case.HolderID {
				continue
			}
			d.Assignees = append(d.Assignees, choiceDoc{Value: a.Login, Label: a.Name})
		}
	}
	if d.Holder == "" && !d.CanClaim && !d.CanAssign {
		return nil, nil // nothing to show or do: a supervisor's view
	}
	return d, nil
}

// claimPage, releasePage and assignPage are the case page's forms: back
// to the case's desk panel, or the case page again with the refusal (a
// conflict: who holds it) or the field's error.
func (s *Server) claimPage(c *fiber.Ctx) error {
	return s.deskPage(c, "", func(no string) error { _, err := s.Engine.Claim(ctx(c), actor(c), no); return err })
}

func (s *Server) releasePage(c *fiber.Ctx) error {
	return s.deskPage(c, "", func(no string) error { _, err := s.Engine.Release(ctx(c), actor(c), no); return err })
}

func (s *Server) assignPage(c *fiber.Ctx) error {
	return s.deskPage(c, "assign", func(no string) error {
		_, err := s.Engine.Assign(ctx(c), actor(c), no, c.FormValue("login"))
		return err
	})
}

func (s *Server) deskPage(c *fiber.Ctx, form string, step func(no string) error) error {
	no := c.Params("no")
	err := step(no)
	switch {
	case err == nil:
		return redirect(c, "/cases/"+no+"#desk")
	case formError(err):
		d := &caseData{Failed: form}
		if form != "" {
			d.Input = map[string]string{"login": c.FormValue("login")}
		}
		return s.casePageWith(c, no, status(portal.ErrorCode(err)), d, err)
	}
	return err
}

// apiClaim is POST /api/v1/cases/{case_no}/claim: the case, now held by
// the caller.
func (s *Server) apiClaim(c *fiber.Ctx) error {
	v, err := s.Engine.Claim(ctx(c), actor(c), c.Params("no"))
	if err != nil {
		return err
	}
	return c.JSON(s.caseDoc(c, v))
}

// apiRelease is DELETE /api/v1/cases/{case_no}/claim.
func (s *Server) apiRelease(c *fiber.Ctx) error {
	if _, err := s.Engine.Release(ctx(c), actor(c), c.Params("no")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// assignBody is POST /api/v1/cases/{case_no}/assign.
type assignBody struct {
	Login string `json:"login"`
}

func (s *Server) apiAssign(c *fiber.Ctx) error {
	var body assignBody
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	v, err := s.Engine.Assign(ctx(c), actor(c), c.Params("no"), body.Login)
	if err != nil {
		return err
	}
	return c.JSON(s.caseDoc(c, v))
}

// nextCase returns the case to open after the viewer decided on one (…
// and open the next one): the next open case of the worklist after it in
// the same service and state it was in, that nobody else holds — from the
// start of the list when none follows it; "" when there is none.
func (s *Server) nextCase(c *fiber.Ctx, service, state string, after int64, skip string) (string, error) {
	u := currentUser(c)
	for _, from := range []int64{after, 0} {
		cases, _, err := s.Engine.List(ctx(c), actor(c), workflow.ListFilter{Service: service, States: []string{state},
			After: from, Limit: 20})
		if err != nil {
			return "", err
		}
		for _, cs := range cases {
			if cs.No != skip && (cs.HolderID == nil || *cs.HolderID == u.ID) {
				return cs.No, nil
			}
		}
	}
	return "", nil
}

// nextHref is where "… and open the next one" goes: the next case, else
// the worklist saying the queue is done.
func (s *Server) nextHref(c *fiber.Ctx, v *workflow.View, from string) string {
	no, err := s.nextCase(c, v.Case.Service, from, v.Case.ID, v.Case.No)
	if err != nil || no == "" {
		if err != nil {
			s.Logger.Warn("next case not found", "rid", requestID(c), "err", err)
		}
		return "/cases?done=queue_empty"
	}
	return "/cases/" + no + "?prev=" + v.Case.No
}

// Saved filters: a staff member names the worklist's filter as chosen
// (state, service, overdue, mine, unclaimed — never a search, which is
// audited each time it runs) and finds it again as a link.
const (
	// maxSavedFilters bounds one person's list: a bar of links, not a
	// database; filterNameMax the characters of a name.
	maxSavedFilters = 20
	filterNameMax   = 40
)

// savedFilterKeys are the worklist's parameters a saved filter keeps.
var savedFilterKeys = []string{"service", "state", "overdue", "mine", "unclaimed"}

type savedFilterDoc struct {
	Name    string
	Href    string
	Current bool
}

// filterQuery is the query string of the filter in args, its keys in
// order and only those a saved filter keeps.
func filterQuery(get func(string) string) string {
	v := url.Values{}
	for _, k := range savedFilterKeys {
		if x := strings.TrimSpace(get(k)); x != "" {
			v.Set(k, x)
		}
	}
	return v.Encode()
}

// decodeFilters reads a user's saved filters (none if they do not decode:
// a list that cannot be read is shown empty, and replaced by the next save).
func decodeFilters(raw []byte) []portal.SavedFilter {
	var out []portal.SavedFilter
	if len(raw) > 0 && json.Unmarshal(raw, &out) != nil {
		return nil
	}
	return out
}

// savedFilters fills the worklist's saved filters: the user's, read with
// the user (no round trip of their own).
func (s *Server) savedFilters(c *fiber.Ctx, d *casesData) {
	d.Current = filterQuery(func(k string) string { return c.Query(k) })
	d.FilterName, _ = c.Locals(localFilterName).(string)
	for _, sf := range decodeFilters(currentUser(c).SavedFilters) {
		d.Saved = append(d.Saved, savedFilterDoc{Name: sf.Name, Href: "/cases?" + sf.Query, Current: sf.Query == d.Current})
	}
}

// changeFilters changes the user's saved filters in a transaction of its
// own, their row locked (two tabs saving at once both count).
func (s *Server) changeFilters(c *fiber.Ctx, change func([]portal.SavedFilter) ([]portal.SavedFilter, error)) error {
	u := currentUser(c)
	if u.Kind != portal.KindStaff {
		return portal.Errorf(portal.EFORBIDDEN, "error.forbidden", nil)
	}
	return s.Store.Tx(ctx(c), func(tx portal.Tx) error {
		raw, err := tx.SavedFiltersForUpdate(ctx(c), u.ID)
		if err != nil {
			return err
		}
		list, err := change(decodeFilters(raw))
		if err != nil {
			return err
		}
		b, err := json.Marshal(list)
		if err != nil {
			return err
		}
		return tx.SetSavedFilters(ctx(c), u.ID, b)
	})
}

// saveFilter is POST /cases/filters: the filter as chosen (the form's
// hidden fields), under the name typed; a name saved before is replaced.
func (s *Server) saveFilter(c *fiber.Ctx) error {
	name := strings.TrimSpace(c.FormValue("filter_name"))
	query := filterQuery(func(k string) string { return c.FormValue(k) })
	err := s.changeFilters(c, func(list []portal.SavedFilter) ([]portal.SavedFilter, error) {
		switch {
		case name == "":
			return nil, desk422("filter_name", "required", "")
		case utf8.RuneCountInString(name) > filterNameMax:
			return nil, desk422("filter_name", "max", strconv.Itoa(filterNameMax))
		case !validate.CleanLine(name) || !validate.CleanText(name):
			return nil, desk422("filter_name", "line", "")
		}
		list = slices.DeleteFunc(list, func(f portal.SavedFilter) bool { return f.Name == name })
		if len(list) >= maxSavedFilters {
			return nil, desk422("filter_name", "max_filters", strconv.Itoa(maxSavedFilters))
		}
		list = append(list, portal.SavedFilter{Name: name, Query: query})
		slices.SortFunc(list, func(a, b portal.SavedFilter) int { return strings.Compare(a.Name, b.Name) })
		return list, nil
	})
	if portal.ErrorCode(err) == portal.EINVALID {
		// The worklist again, as it was, the name kept beside its error.
		c.Request().URI().SetQueryString(query)
		c.Locals(localFilterName, name)
		return s.casesPageWith(c, fiber.StatusUnprocessableEntity, nil, err)
	}
	if err != nil {
		return err
	}
	return redirect(c, "/cases?"+query)
}

// deleteFilter is POST /cases/filters/delete (name): one of the person's
// own saved filters goes.
func (s *Server) deleteFilter(c *fiber.Ctx) error {
	name := c.FormValue("name")
	err := s.changeFilters(c, func(list []portal.SavedFilter) ([]portal.SavedFilter, error) {
		return slices.DeleteFunc(list, func(f portal.SavedFilter) bool { return f.Name == name }), nil
	})
	if err != nil {
		return err
	}
	return redirect(c, "/cases")
}

// localFilterName carries a refused filter's name to the page shown again.
const localFilterName = "desk.filter_name"

func desk422(field, rule, param string) error {
	return &portal.Error{Code: portal.EINVALID, Message: "error.invalid", Labels: "desk.field",
		Fields: []portal.FieldError{{Field: field, Rule: rule, Param: param}}}
}
