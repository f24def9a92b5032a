// Package authz decides who may do what where. It wraps a casbin enforcer
// (model and static policy from policies/, event permissions from the
// workflow files, role grants from the database) and the division tree.
package authz

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"

	"tzportal/portal"
)

// Authz is safe for concurrent use.
type Authz struct {
	e *casbin.SyncedCachedEnforcer

	mu   sync.RWMutex
	divs *portal.Divisions

	// decisions caches Can's answers in front of casbin, keyed by a struct
	// (no string building on the hot path). Any change of policy, grants or
	// divisions empties it.
	dmu       sync.RWMutex
	decisions map[decisionKey]decision
}

type decisionKey struct {
	user               int64 // 0 for the applicant role
	division, obj, act string
}

type decision struct {
	role string
	ok   bool
}

// maxDecisions bounds the cache; it is emptied when full (hundreds of staff
// times a few hundred divisions and actions fit many times over).
const maxDecisions = 200_000

// invalidate drops every cached decision, ours and casbin's, after policy,
// grants or divisions changed.
func (a *Authz) invalidate() error {
	a.dmu.Lock()
	a.decisions = make(map[decisionKey]decision)
	a.dmu.Unlock()
	return a.e.InvalidateCache()
}

// within is the domain matching function: a grant on domain pattern reaches
// the request domain if it is the same division or an ancestor.
func within(request, grant string) bool {
	return request == grant || strings.HasPrefix(request, grant+"/")
}

// New builds the enforcer from the model text and the static policy CSV.
func New(modelText string, policyCSV []byte, divs *portal.Divisions) (*Authz, error) {
	m, err := model.NewModelFromString(modelText)
	if err != nil {
		return nil, fmt.Errorf("authz.New: model: %w", err)
	}
	e, err := casbin.NewSyncedCachedEnforcer(m)
	if err != nil {
		return nil, fmt.Errorf("authz.New: %w", err)
	}
	e.EnableLog(false)
	e.AddNamedDomainMatchingFunc("g", "within", within)
	a := &Authz{e: e, divs: divs, decisions: map[decisionKey]decision{}}
	if err := a.addCSV(policyCSV); err != nil {
		return nil, err
	}
	return a, nil
}

// addCSV adds the p lines of a casbin policy file (comments and blanks skipped).
func (a *Authz) addCSV(csv []byte) error {
	var rules [][]string
	for i, line := range strings.Split(string(csv), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var fields []string
		for _, f := range strings.Split(line, ",") {
			fields = append(fields, strings.TrimSpace(f))
		}
		if len(fields) != 5 || fields[0] != "p" {
			return fmt.Errorf("authz: policy.csv:%d: want \"p, role, domain, object, action\"", i+1)
		}
		rules = append(rules, fields[1:])
	}
	return a.AddPolicies(rules)
}

// AddPolicies adds permissions (role, domain, object, action).
func (a *Authz) AddPolicies(rules [][]string) error {
	var fresh [][]string
	for _, r := range rules {
		if ok, _ := a.e.HasPolicy(r); !ok {
			fresh = append(fresh, r)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	if _, err := a.e.AddPolicies(fresh); err != nil {
		return fmt.Errorf("authz.AddPolicies: %w", err)
	}
	return a.invalidate()
}

// SetDivisions replaces the division tree (an admin corrected it).
func (a *Authz) SetDivisions(d *portal.Divisions) {
	a.mu.Lock()
	a.divs = d
	a.mu.Unlock()
	a.invalidate() // casbin's cache is in memory: it cannot fail
}

// Divisions returns the current division tree.
func (a *Authz) Divisions() *portal.Divisions {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.divs
}

func subject(u *portal.User) string {
	if u.Kind == portal.KindApplicant {
		return portal.RoleApplicant
	}
	return "user:" + strconv.FormatInt(u.ID, 10)
}

// Sync makes the enforcer's grants for u equal to u.Grants, which the caller
// loaded from the database for this request. Grants therefore take effect,
// and revocations bite, on the next request on every node, with no reload
// signal between nodes.
func (a *Authz) Sync(u *portal.User) error {
	if u.Kind == portal.KindApplicant {
		return nil
	}
	sub := subject(u)
	divs := a.Divisions()
	want := map[string]bool{}
	for _, g := range u.Grants {
		want[g.Role+"\x00"+divs.Path(g.Division)] = true
	}
	have, err := a.e.GetFilteredGroupingPolicy(0, sub)
	if err != nil {
		return fmt.Errorf("authz.Sync: %w", err)
	}
	same := len(have) == len(want)
	for _, h := range have {
		if len(h) < 3 || !want[h[1]+"\x00"+h[2]] {
			same = false
		}
	}
	if same {
		return nil
	}
	if _, err := a.e.RemoveFilteredGroupingPolicy(0, sub); err != nil {
		return fmt.Errorf("authz.Sync: %w", err)
	}
	var rules [][]string
	for _, g := range u.Grants {
		if p := divs.Path(g.Division); p != "" {
			rules = append(rules, []string{sub, g.Role, p})
		}
	}
	if len(rules) > 0 {
		if _, err := a.e.AddGroupingPolicies(rules); err != nil {
			return fmt.Errorf("authz.Sync: %w", err)
		}
	}
	return a.invalidate()
}

// Can reports whether u may do act on obj in division, and in which role.
// For applicants it answers for the applicant role; ownership of the case is
// the caller's to check (see Reach).
func (a *Authz) Can(u *portal.User, division, obj, act string) (string, bool) {
	if u == nil || u.DisabledAt != nil {
		return "", false
	}
	key := decisionKey{division: division, obj: obj, act: act}
	if u.Kind != portal.KindApplicant {
		key.user = u.ID
	}
	a.dmu.RLock()
	d, hit := a.decisions[key]
	a.dmu.RUnlock()
	if hit {
		return d.role, d.ok
	}
	role, ok := a.can(u, division, obj, act)
	a.dmu.Lock()
	if len(a.decisions) >= maxDecisions {
		a.decisions = make(map[decisionKey]decision)
	}
	a.decisions[key] = decision{role: role, ok: ok}
	a.dmu.Unlock()
	return role, ok
}

// can asks casbin.
func (a *Authz) can(u *portal.User, division, obj, act string) (string, bool) {
	dom := a.Divisions().Path(division)
	if dom == "" {
		return "", false
	}
	sub := subject(u)
	ok, err := a.e.Enforce(sub, dom, obj, act)
	if err != nil || !ok {
		return "", false
	}
	if u.Kind == portal.KindApplicant {
		return portal.RoleApplicant, true
	}
	// Name the role that allowed it, for the timeline: the first grant that
	// covers the division and whose role has the permission. Both checks are
	// cached decisions (EnforceEx, which would say it directly, is not cached).
	divs := a.Divisions()
	for _, g := range u.Grants {
		if !divs.Covers(g.Division, division) {
			continue
		}
		if ok, err := a.e.Enforce(g.Role, dom, obj, act); err == nil && ok {
			return g.Role, true
		}
	}
	return "", false
}

// RoleMay reports whether role, granted on grantDivision, may do act on
// obj in division: for people other than the one asking (whose grants
// casbin may not hold), e.g. whom to tell of something.
func (a *Authz) RoleMay(role, grantDivision, division, obj, act string) bool {
	divs := a.Divisions()
	if !divs.Covers(grantDivision, division) {
		return false
	}
	ok, err := a.e.Enforce(role, divs.Path(division), obj, act)
	return err == nil && ok
}

// Reach reports whether u may see case c at all: applicants their own cases,
// staff the cases of the divisions their grants cover.
func (a *Authz) Reach(u *portal.User, c *portal.Case) bool {
	if u == nil || u.DisabledAt != nil {
		return false
	}
	if u.Kind == portal.KindApplicant {
		return c.ApplicantID == u.ID
	}
	_, ok := a.Can(u, c.Division, "case", "read")
	return ok
}

// Scope turns u's grants that carry (obj, act) into a list filter.
func (a *Authz) Scope(u *portal.User, obj, act string) portal.CaseFilter {
	var f portal.CaseFilter
	if u == nil || u.DisabledAt != nil {
		return f // no reach at all
	}
	if u.Kind == portal.KindApplicant {
		f.ApplicantID = u.ID
		return f
	}
	divs := a.Divisions()
	for _, g := range u.Grants {
		if ok, _ := a.e.Enforce(g.Role, divs.Path(g.Division), obj, act); !ok {
			continue
		}
		d, ok := divs.Get(g.Division)
		switch {
		case !ok:
		case g.Division == divs.Root:
			f.AllScope = true
		case d.Leaf():
			f.Scope = append(f.Scope, portal.ScopeTerm{Division: g.Division})
		default:
			f.Scope = append(f.Scope, portal.ScopeTerm{District: g.Division})
		}
	}
	if f.AllScope {
		f.Scope = nil
	}
	return f
}
