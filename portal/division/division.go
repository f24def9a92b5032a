// Package division changes the division tree (统计用区划): an
// administrator renames a division, moves a street or town under another
// county-level unit, or adds a statistical zone. Each change is one
// transaction with its history row (who, when, old → new) and its audit
// entry; this node's tree is replaced at once, and every other node
// notices the change within its watch interval (portal.WatchReload) and reloads.
package division

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"tzportal/portal"
	"tzportal/portal/audit"
)

// Authorizer is the part of authz the tree needs.
type Authorizer interface {
	Divisions() *portal.Divisions
	SetDivisions(d *portal.Divisions)
	Can(u *portal.User, division, obj, act string) (string, bool)
}

// Tree is the division administration service.
type Tree struct {
	Store portal.Store
	Audit *audit.Log
	Authz Authorizer
	Now   func() time.Time

	mu      sync.Mutex
	version int64 // the newest change the loaded tree includes
}

// labels is the message-id prefix of the forms' fields.
const labels = "admin.field"

func fieldError(field, rule, param string) error {
	e := portal.Invalid(portal.FieldError{Field: field, Rule: rule, Param: param})
	e.Labels = labels
	return e
}

var codeRE = regexp.MustCompile(`^[0-9]{9}$`)

// may answers 404 to anyone but an administrator of the city (policy
// "division, manage"); an actor without a user is the command line.
func (t *Tree) may(actor portal.Actor) error {
	if actor.User == nil {
		return nil
	}
	if _, ok := t.Authz.Can(actor.User, t.Authz.Divisions().Root, "division", "manage"); !ok {
		return portal.NotFound(nil)
	}
	return nil
}

// May reports whether u administers the division tree (the menu).
func (t *Tree) May(u *portal.User) bool { return u != nil && t.may(portal.Actor{User: u}) == nil }

func checkName(name string) error {
	switch {
	case name == "":
		return fieldError("name", "required", "")
	case len([]rune(name)) > 50 || strings.ContainsAny(name, "\r\n\t\x00"):
		return fieldError("name", "max", "50")
	}
	return nil
}

// county reports whether code is a county-level unit of the tree.
func county(divs *portal.Divisions, code string) bool {
	d, ok := divs.Get(code)
	return ok && d.Parent == divs.Root && code != divs.Root
}

// History returns the newest changes first.
func (t *Tree) History(ctx context.Context, actor portal.Actor, code string, limit int) ([]portal.DivisionChange, error) {
	if err := t.may(actor); err != nil {
		return nil, err
	}
	return t.Store.DivisionChanges(ctx, code, limit)
}

// Change sets a division's name and parent (either may be unchanged): one
// history row and one audit entry for each that changed. Only a street,
// town or zone moves, only under a county-level unit, and only while no
// case is filed in it (a case keeps the district it was filed under).
func (t *Tree) Change(ctx context.Context, actor portal.Actor, code, name, parent string) (portal.Division, error) {
	if err := t.may(actor); err != nil {
		return portal.Division{}, err
	}
	divs := t.Authz.Divisions()
	d, ok := divs.Get(code)
	if !ok {
		return portal.Division{}, portal.NotFound(fmt.Errorf("no division %q", code))
	}
	name, parent = strings.TrimSpace(name), strings.TrimSpace(parent)
	if parent == "" {
		parent = d.Parent
	}
	var fields []portal.FieldError
	if err := checkName(name); err != nil {
		fields = append(fields, portal.AsError(err).Fields...)
	}
	moved := parent != d.Parent
	if moved && (!d.Leaf() || !county(divs, parent)) {
		fields = append(fields, portal.FieldError{Field: "parent", Rule: "parent"})
	}
	if len(fields) > 0 {
		e := portal.Invalid(fields...)
		e.Labels = labels
		return portal.Division{}, e
	}
	if name == d.Name && !moved {
		return d, nil // nothing changed: nothing to record
	}
	if moved {
		n, err := t.Store.CasesIn(ctx, code)
		if err != nil {
			return portal.Division{}, err
		}
		if n > 0 {
			return portal.Division{}, portal.RuleError("has_cases", "admin.error.has_cases", map[string]any{"Count": n})
		}
	}
	var changes []portal.DivisionChange
	if name != d.Name {
		changes = append(changes, portal.DivisionChange{Code: code, Change: portal.DivisionRename, Old: d.Name, New: name})
	}
	if moved {
		changes = append(changes, portal.DivisionChange{Code: code, Change: portal.DivisionMove, Old: d.Parent, New: parent})
	}
	nd := d
	nd.Name, nd.Parent = name, parent
	err := t.write(ctx, actor, changes, func(tx portal.Tx) error { return tx.UpdateDivision(ctx, nd) })
	return nd, err
}

// AddZone adds a statistical zone (开发区, 园区 …) under a county-level
// unit: a 9-digit code that starts with the county's six.
func (t *Tree) AddZone(ctx context.Context, actor portal.Actor, code, name, parent string) (portal.Division, error) {
	if err := t.may(actor); err != nil {
		return portal.Division{}, err
	}
	divs := t.Authz.Divisions()
	code, name, parent = strings.TrimSpace(code), strings.TrimSpace(name), strings.TrimSpace(parent)
	var fields []portal.FieldError
	switch {
	case !county(divs, parent):
		fields = append(fields, portal.FieldError{Field: "parent", Rule: "parent"})
	case !codeRE.MatchString(code):
		fields = append(fields, portal.FieldError{Field: "code", Rule: "zone_code"})
	case !strings.HasPrefix(code, parent):
		fields = append(fields, portal.FieldError{Field: "code", Rule: "zone_prefix", Param: parent})
	}
	if _, taken := divs.Get(code); taken && len(fields) == 0 {
		fields = append(fields, portal.FieldError{Field: "code", Rule: "taken"})
	}
	if err := checkName(name); err != nil {
		fields = append(fields, portal.AsError(err).Fields...)
	}
	if len(fields) > 0 {
		e := portal.Invalid(fields...)
		e.Labels = labels
		return portal.Division{}, e
	}
	d := portal.Division{Code: code, Name: name, Parent: parent, Level: "zone"}
	err := t.write(ctx, actor, []portal.DivisionChange{{Code: code, Change: portal.DivisionAdd, New: name + " (" + parent + ")"}},
		func(tx portal.Tx) error { return tx.InsertDivision(ctx, d) })
	return d, err
}

// write runs change with the history rows and audit entries in one
// transaction, then reloads this node's tree.
func (t *Tree) write(ctx context.Context, actor portal.Actor, changes []portal.DivisionChange, change func(tx portal.Tx) error) error {
	now := t.Now()
	err := t.Store.Tx(ctx, func(tx portal.Tx) error {
		if err := change(tx); err != nil {
			return err
		}
		for i := range changes {
			c := &changes[i]
			c.At, c.Actor = now, actor.ID()
			if actor.User != nil {
				c.ActorName = actor.User.Name
			}
			if err := tx.InsertDivisionChange(ctx, c); err != nil {
				return err
			}
			ent := audit.Entry(actor, "division."+c.Change, "division:"+c.Code, audit.ResultOK)
			if actor.User != nil {
				ent.Role, ent.Division = "admin", t.Authz.Divisions().Root
			}
			ent = audit.WithDetail(ent, map[string]string{"old": c.Old, "new": c.New})
			if err := t.Audit.Append(ctx, tx, ent); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return t.Reload(ctx)
}

// Reload reads the tree and its version from the database and puts it in
// place of this node's.
func (t *Tree) Reload(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	v, err := t.Store.DivisionVersion(ctx)
	if err != nil {
		return err
	}
	list, err := t.Store.Divisions(ctx)
	if err != nil {
		return err
	}
	if len(list) == 0 {
		return fmt.Errorf("division.Reload: the divisions table is empty")
	}
	t.Authz.SetDivisions(portal.NewDivisions(list))
	t.version = v
	return nil
}

// Stale reports whether another node changed the tree since it was loaded.
func (t *Tree) Stale(ctx context.Context) (bool, error) {
	v, err := t.Store.DivisionVersion(ctx)
	if err != nil {
		return false, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return v != t.version, nil
}
