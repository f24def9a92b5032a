// Package unitstock keeps the stock of housing-security units (房源): the
// city administrator adds units, withdraws and restores them
// (/admin/housing-units, portal housing units import), and a district
// officer fills a draw's units from the district's available ones of a
// kind. Each change is one transaction with its history row (who, when,
// old → new) and its audit entry. A unit is never deleted.
//
// The stock is reference data, like the division tree: it knows the
// housing kinds it is given (the housing workflow's), not the workflow.
package unitstock

import (
	"context"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"tzportal/portal"
	"tzportal/portal/audit"
	"tzportal/portal/csvfile"
)

// Authorizer is the part of authz the stock needs.
type Authorizer interface {
	Divisions() *portal.Divisions
	Can(u *portal.User, division, obj, act string) (string, bool)
}

// Stock is the housing stock's administration service.
type Stock struct {
	Store portal.Store
	Audit *audit.Log
	Authz Authorizer
	Now   func() time.Time
	// Kinds are the housing workflow's kinds of unit (its form's choices).
	Kinds []string
}

// labels is the message-id prefix of the fields (admin.unit.<field>).
const labels = "admin.unit"

// Bounds of a unit's figures.
const (
	maxArea    = 1000 // m²
	maxRooms   = 20
	maxAddress = 200
	// HistoryLimit is how many changes the pages list.
	HistoryLimit = 100
)

// CodeRE is the shape of a unit's code: the shape a draw's units accept
// (portal/housing's unitCodeRE; a test keeps the two equal).
var CodeRE = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z_-]{0,31}$`)

// areaRE is an area in m² with at most two decimals.
var areaRE = regexp.MustCompile(`^[0-9]{1,4}(\.[0-9]{1,2})?$`)

func invalid(fields ...portal.FieldError) *portal.Error {
	e := portal.Invalid(fields...)
	e.Labels = labels
	return e
}

// may answers 404 to anyone but an administrator of the city (policy
// "housing_unit, manage"); an actor without a user is the command line.
func (s *Stock) may(actor portal.Actor) error {
	if actor.User == nil {
		return nil
	}
	if _, ok := s.Authz.Can(actor.User, s.Authz.Divisions().Root, "housing_unit", "manage"); !ok {
		return portal.NotFound(nil)
	}
	return nil
}

// May reports whether u administers the stock (the menu, the API's 404).
func (s *Stock) May(u *portal.User) bool { return u != nil && s.may(portal.Actor{User: u}) == nil }

// county reports whether code is a county-level unit of the tree.
func county(divs *portal.Divisions, code string) bool {
	d, ok := divs.Get(code)
	return ok && len(code) == 6 && d.Parent == divs.Root && code != divs.Root
}

// Statuses are a unit's statuses, in the order the pages list them.
var Statuses = []string{portal.UnitAvailable, portal.UnitWithdrawn}

// CheckFilter refuses a filter naming no district, kind or status of the
// stock, the field named.
func (s *Stock) CheckFilter(f portal.HousingUnitFilter) error {
	var bad []portal.FieldError
	if f.District != "" && !county(s.Authz.Divisions(), f.District) {
		bad = append(bad, portal.FieldError{Field: "district", Rule: "division_code"})
	}
	if f.Kind != "" && !slices.Contains(s.Kinds, f.Kind) {
		bad = append(bad, portal.FieldError{Field: "kind", Rule: "oneof"})
	}
	if f.Status != "" && !slices.Contains(Statuses, f.Status) {
		bad = append(bad, portal.FieldError{Field: "status", Rule: "oneof"})
	}
	if len(bad) > 0 {
		return invalid(bad...)
	}
	return nil
}

// List returns the units f selects.
func (s *Stock) List(ctx context.Context, actor portal.Actor, f portal.HousingUnitFilter) ([]portal.HousingUnit, error) {
	if err := s.may(actor); err != nil {
		return nil, err
	}
	if err := s.CheckFilter(f); err != nil {
		return nil, err
	}
	return s.Store.HousingUnits(ctx, f)
}

// History returns the stock's newest changes (of one unit when code is
// not ""), at most limit.
func (s *Stock) History(ctx context.Context, actor portal.Actor, code string, limit int) ([]portal.HousingUnitChange, error) {
	if err := s.may(actor); err != nil {
		return nil, err
	}
	return s.Store.HousingUnitChanges(ctx, code, limit)
}

// Available returns the district's available units of a kind, by code:
// what a draw of that district and kind may be filled with.
func (s *Stock) Available(ctx context.Context, district, kind string) ([]portal.HousingUnit, error) {
	return s.Store.HousingUnits(ctx, portal.HousingUnitFilter{District: district, Kind: kind, Status: portal.UnitAvailable})
}

// Input is a unit as typed in the form, the JSON or a file's row.
type Input struct {
	Code, District, Kind, Address, Area, Rooms string
}

// check reads in as a unit, or says what is wrong with each field.
func (s *Stock) check(in Input) (portal.HousingUnit, []portal.FieldError) {
	u := portal.HousingUnit{Code: strings.TrimSpace(in.Code), District: strings.TrimSpace(in.District),
		Kind: strings.TrimSpace(in.Kind), Address: strings.TrimSpace(in.Address), Status: portal.UnitAvailable}
	var bad []portal.FieldError
	switch {
	case u.Code == "":
		bad = append(bad, portal.FieldError{Field: "code", Rule: "required"})
	case !CodeRE.MatchString(u.Code):
		bad = append(bad, portal.FieldError{Field: "code", Rule: "unit_code"})
	}
	if !county(s.Authz.Divisions(), u.District) {
		bad = append(bad, portal.FieldError{Field: "district", Rule: "division_code"})
	}
	if !slices.Contains(s.Kinds, u.Kind) {
		bad = append(bad, portal.FieldError{Field: "kind", Rule: "oneof"})
	}
	switch {
	case u.Address == "":
		bad = append(bad, portal.FieldError{Field: "address", Rule: "required"})
	case utf8.RuneCountInString(u.Address) > maxAddress || !utf8.ValidString(u.Address) || strings.ContainsAny(u.Address, "\r\n\t\x00"):
		bad = append(bad, portal.FieldError{Field: "address", Rule: "max", Param: strconv.Itoa(maxAddress)})
	}
	area := strings.TrimSpace(in.Area)
	a, err := strconv.ParseFloat(area, 64)
	if !areaRE.MatchString(area) || err != nil || a <= 0 || a > maxArea {
		bad = append(bad, portal.FieldError{Field: "area", Rule: "unit_area", Param: strconv.Itoa(maxArea)})
	}
	u.Area = math.Round(a*100) / 100
	r, err := strconv.Atoi(strings.TrimSpace(in.Rooms))
	if err != nil || r < 0 || r > maxRooms {
		bad = append(bad, portal.FieldError{Field: "rooms", Rule: "unit_rooms", Param: strconv.Itoa(maxRooms)})
	}
	u.Rooms = r
	return u, bad
}

// entry is the audit entry of an administrator's (or the command line's)
// action on the stock.
func (s *Stock) entry(actor portal.Actor, action, object string, detail any) portal.AuditEntry {
	ent := audit.Entry(actor, action, object, audit.ResultOK)
	if actor.User != nil {
		ent.Role, ent.Division = "admin", s.Authz.Divisions().Root
	}
	return audit.WithDetail(ent, detail)
}

func (s *Stock) change(actor portal.Actor, code, change, old, new string) *portal.HousingUnitChange {
	c := &portal.HousingUnitChange{At: s.Now(), Actor: actor.ID(), Code: code, Change: change, Old: old, New: new}
	if actor.User != nil {
		c.ActorName = actor.User.Name
	}
	return c
}

// insert adds u with its history row.
func (s *Stock) insert(ctx context.Context, tx portal.Tx, actor portal.Actor, u *portal.HousingUnit) error {
	u.CreatedAt, u.UpdatedAt = s.Now(), s.Now()
	if err := tx.InsertHousingUnit(ctx, *u); err != nil {
		if pe := portal.AsError(err); pe != nil && pe.Code == portal.EINVALID {
			return invalid(pe.Fields...)
		}
		return err
	}
	return tx.InsertHousingUnitChange(ctx, s.change(actor, u.Code, portal.UnitAdd, "", u.Status))
}

// Add adds one unit, available.
func (s *Stock) Add(ctx context.Context, actor portal.Actor, in Input) (*portal.HousingUnit, error) {
	if err := s.may(actor); err != nil {
		return nil, err
	}
	u, bad := s.check(in)
	if len(bad) > 0 {
		return nil, invalid(bad...)
	}
	err := s.Store.Tx(ctx, func(tx portal.Tx) error {
		if err := s.insert(ctx, tx, actor, &u); err != nil {
			return err
		}
		return s.Audit.Append(ctx, tx, s.entry(actor, "housing_unit.add", "housing_unit:"+u.Code,
			map[string]any{"district": u.District, "kind": u.Kind, "area": u.Area, "rooms": u.Rooms}))
	})
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// SetStatus withdraws a unit (withdrawn) or restores it (available).
func (s *Stock) SetStatus(ctx context.Context, actor portal.Actor, code, status string) (*portal.HousingUnit, error) {
	if err := s.may(actor); err != nil {
		return nil, err
	}
	if !slices.Contains(Statuses, status) {
		return nil, invalid(portal.FieldError{Field: "status", Rule: "oneof"})
	}
	var u *portal.HousingUnit
	err := s.Store.Tx(ctx, func(tx portal.Tx) error {
		var err error
		if u, err = tx.HousingUnit(ctx, code); err != nil {
			return err
		}
		if u.Status == status {
			return invalid(portal.FieldError{Field: "status", Rule: "unit_unchanged"})
		}
		change := portal.UnitWithdraw
		if status == portal.UnitAvailable {
			change = portal.UnitRestore
		}
		old := u.Status
		u.Status, u.UpdatedAt = status, s.Now()
		if err := tx.SetHousingUnitStatus(ctx, code, old, status, u.UpdatedAt); err != nil {
			return err
		}
		if err := tx.InsertHousingUnitChange(ctx, s.change(actor, code, change, old, status)); err != nil {
			return err
		}
		return s.Audit.Append(ctx, tx, s.entry(actor, "housing_unit."+change, "housing_unit:"+code,
			map[string]string{"old": old, "new": status}))
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// Header is the first line of a units file.
var Header = []string{"code", "district", "kind", "address", "area", "rooms"}

// Row is a unit read from a file, with its line.
type Row struct {
	Line int
	Unit portal.HousingUnit
}

// LineError is a bad row of an import: the whole file is refused.
type LineError = csvfile.LineError

// reasons are the terminal's words for a field's rule.
var reasons = map[string]string{
	"required":      "empty",
	"unit_code":     "letters, digits, - and _, at most 32, starting with a letter or digit",
	"division_code": "not a county-level unit of Taizhou (6 digits)",
	"oneof":         "not a kind of unit",
	"max":           "at most 200 characters, on one line",
	"unit_area":     "an area in m², above 0 and at most 1000, with at most two decimals",
	"unit_rooms":    "a whole number from 0 to 20",
}

// Parse reads a units file (Header) and checks every row: the first bad
// row, or a code twice, refuses the file.
func (s *Stock) Parse(r io.Reader) ([]Row, error) {
	var out []Row
	seen := map[string]int{}
	err := csvfile.Rows(r, Header, "units", func(line int, rec []string) error {
		u, bad := s.check(Input{Code: rec[0], District: rec[1], Kind: rec[2], Address: rec[3], Area: rec[4], Rooms: rec[5]})
		if len(bad) > 0 {
			return &LineError{Line: line, Column: bad[0].Field, Reason: reasons[bad[0].Rule]}
		}
		if prev, dup := seen[u.Code]; dup {
			return &LineError{Line: line, Column: "code", Reason: fmt.Sprintf("unit %s is on line %d already", u.Code, prev)}
		}
		seen[u.Code] = line
		out = append(out, Row{Line: line, Unit: u})
		return nil
	})
	return out, err
}

// Import adds the rows in one transaction, each with its history row, and
// one audit entry: a unit already in the stock refuses the whole file,
// naming its line.
func (s *Stock) Import(ctx context.Context, actor portal.Actor, rows []Row) error {
	if err := s.may(actor); err != nil {
		return err
	}
	return s.Store.Tx(ctx, func(tx portal.Tx) error {
		for i := range rows {
			if err := s.insert(ctx, tx, actor, &rows[i].Unit); err != nil {
				if pe := portal.AsError(err); pe != nil && pe.Code == portal.EINVALID {
					return &LineError{Line: rows[i].Line, Column: "code", Reason: "unit " + rows[i].Unit.Code + " is in the stock already"}
				}
				return err
			}
		}
		return s.Audit.Append(ctx, tx, s.entry(actor, "housing_unit.import", "housing_units", map[string]int{"rows": len(rows)}))
	})
}
