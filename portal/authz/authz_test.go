package authz_test

import (
	"context"
	"fmt"
	"io/fs"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"tzportal/policies"
	"tzportal/portal"
	"tzportal/portal/authz"
	"tzportal/portal/testkit"
)

// workflowPolicies are what the residence-permit workflow adds at start.
var workflowPolicies = [][]string{
	{"applicant", "*", "residence-permit", "create"},
	{"applicant", "*", "residence-permit", "submit"},
	{"applicant", "*", "residence-permit", "withdraw"},
	{"street_clerk", "*", "residence-permit", "accept"},
	{"street_clerk", "*", "residence-permit", "request_correction"},
	{"street_clerk", "*", "residence-permit", "approve"},
	{"street_clerk", "*", "residence-permit", "reject"},
}

// MustDivisions loads the division tree from a freshly migrated database.
func MustDivisions(tb testing.TB) *portal.Divisions {
	tb.Helper()
	ctx := context.Background()
	db := testkit.OpenSQLite(tb)
	list, err := db.Divisions(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	return portal.NewDivisions(list)
}

// MustAuthz builds the enforcer from the real model, policy file and
// division tree, plus the workflow's policies.
func MustAuthz(tb testing.TB, divs *portal.Divisions) *authz.Authz {
	tb.Helper()
	model, err := fs.ReadFile(policies.FS, "model.conf")
	if err != nil {
		tb.Fatal(err)
	}
	csv, err := fs.ReadFile(policies.FS, "policy.csv")
	if err != nil {
		tb.Fatal(err)
	}
	a, err := authz.New(string(model), csv, divs)
	if err != nil {
		tb.Fatal(err)
	}
	if err := a.AddPolicies(workflowPolicies); err != nil {
		tb.Fatal(err)
	}
	return a
}

func staff(id int64, grants ...portal.Grant) *portal.User {
	return &portal.User{ID: id, Kind: portal.KindStaff, Name: fmt.Sprintf("staff %d", id), Grants: grants}
}

// MustSync syncs u's grants into a.
func MustSync(tb testing.TB, a *authz.Authz, u *portal.User) {
	tb.Helper()
	if err := a.Sync(u); err != nil {
		tb.Fatalf("Sync(%d): %v", u.ID, err)
	}
}

const (
	own      = "321202001" // the clerk's street
	sibling  = "321202002" // another street of the same district
	faraway  = "321203001" // a street of another district
	district = "321202"
)

func TestCan(t *testing.T) {
	divs := MustDivisions(t)
	a := MustAuthz(t, divs)
	clerk := staff(1, portal.Grant{Role: "street_clerk", Division: own})
	officer := staff(2, portal.Grant{Role: "district_officer", Division: district})
	super := staff(3, portal.Grant{Role: "supervisor", Division: "321200"})
	app := &portal.User{ID: 4, Kind: portal.KindApplicant, Name: "张三"}
	for _, u := range []*portal.User{clerk, officer, super, app} {
		MustSync(t, a, u)
	}
	tests := []struct {
		name     string
		u        *portal.User
		division string
		obj, act string
		role     string // "" = denied
	}{
		{"clerk reads own street", clerk, own, "case", "read", "street_clerk"},
		{"clerk reads sibling street", clerk, sibling, "case", "read", ""},
		{"clerk reads other district", clerk, faraway, "case", "read", ""},
		{"clerk reads the district itself", clerk, district, "case", "read", ""},
		{"clerk approves own street", clerk, own, "residence-permit", "approve", "street_clerk"},
		{"clerk approves sibling street", clerk, sibling, "residence-permit", "approve", ""},
		{"clerk approves other district", clerk, faraway, "residence-permit", "approve", ""},
		{"clerk reads audit", clerk, own, "audit", "read", ""},
		{"clerk submits for an applicant", clerk, own, "residence-permit", "submit", ""},

		{"officer reads own street", officer, own, "case", "read", "district_officer"},
		{"officer reads sibling street", officer, sibling, "case", "read", "district_officer"},
		{"officer reads the district", officer, district, "case", "read", "district_officer"},
		{"officer reads other district", officer, faraway, "case", "read", ""},
		{"officer approves", officer, own, "residence-permit", "approve", ""},
		{"officer reads audit", officer, own, "audit", "read", ""},

		{"supervisor reads own street", super, own, "case", "read", "supervisor"},
		{"supervisor reads sibling street", super, sibling, "case", "read", "supervisor"},
		{"supervisor reads other district", super, faraway, "case", "read", "supervisor"},
		{"supervisor approves", super, own, "residence-permit", "approve", ""},
		{"supervisor reads audit", super, faraway, "audit", "read", "supervisor"},

		{"applicant reads a case", app, own, "case", "read", ""},
		{"applicant approves", app, own, "residence-permit", "approve", ""},
		{"applicant reads audit", app, own, "audit", "read", ""},
		{"applicant submits", app, faraway, "residence-permit", "submit", "applicant"},

		{"unknown division", super, "999999999", "case", "read", ""},
		{"empty division", super, "", "case", "read", ""},
		{"unknown action", super, own, "case", "delete", ""},
	}
	// Twice: the second round answers from the enforcer's cache.
	for _, round := range []string{"cold", "cached"} {
		t.Run(round, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					role, ok := a.Can(tt.u, tt.division, tt.obj, tt.act)
					if ok != (tt.role != "") || role != tt.role {
						t.Errorf("Can(user %d, %s, %s, %s) = %q, %v; want %q, %v",
							tt.u.ID, tt.division, tt.obj, tt.act, role, ok, tt.role, tt.role != "")
					}
				})
			}
		})
	}
	if _, ok := a.Can(nil, own, "case", "read"); ok {
		t.Error("Can(nil user) = true")
	}
}

func TestSync(t *testing.T) {
	divs := MustDivisions(t)
	a := MustAuthz(t, divs)
	u := staff(7)
	other := staff(8, portal.Grant{Role: "street_clerk", Division: sibling})
	MustSync(t, a, other)

	can := func(division, obj, act string) bool {
		_, ok := a.Can(u, division, obj, act)
		return ok
	}
	steps := []struct {
		name   string
		grants []portal.Grant
		want   map[string]bool // division → may read cases there
	}{
		{"no grants", nil, map[string]bool{own: false, sibling: false, faraway: false}},
		{"clerk of own", []portal.Grant{{Role: "street_clerk", Division: own}}, map[string]bool{own: true, sibling: false, faraway: false}},
		{"moved to sibling", []portal.Grant{{Role: "street_clerk", Division: sibling}}, map[string]bool{own: false, sibling: true, faraway: false}},
		{"plus other district", []portal.Grant{{Role: "street_clerk", Division: sibling}, {Role: "district_officer", Division: "321203"}},
			map[string]bool{own: false, sibling: true, faraway: true}},
		{"officer only", []portal.Grant{{Role: "district_officer", Division: district}}, map[string]bool{own: true, sibling: true, faraway: false}},
		{"revoked", nil, map[string]bool{own: false, sibling: false, faraway: false}},
		{"re-granted", []portal.Grant{{Role: "supervisor", Division: "321200"}}, map[string]bool{own: true, sibling: true, faraway: true}},
		{"revoked again", []portal.Grant{}, map[string]bool{own: false, sibling: false, faraway: false}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			u.Grants = s.grants
			MustSync(t, a, u)
			for _, d := range []string{own, sibling, faraway} {
				if got := can(d, "case", "read"); got != s.want[d] {
					t.Errorf("Can(case read in %s) = %v, want %v", d, got, s.want[d])
				}
				// Warm the cache with the answer, so the next step proves invalidation.
				can(d, "case", "read")
			}
			// Syncing one user never touches another's grants.
			if _, ok := a.Can(other, sibling, "case", "read"); !ok {
				t.Error("the other clerk lost access")
			}
		})
	}
	t.Run("approve follows the grant", func(t *testing.T) {
		u.Grants = []portal.Grant{{Role: "street_clerk", Division: own}}
		MustSync(t, a, u)
		if role, ok := a.Can(u, own, "residence-permit", "approve"); !ok || role != "street_clerk" {
			t.Errorf("Can(approve) = %q, %v; want street_clerk", role, ok)
		}
		u.Grants = []portal.Grant{{Role: "district_officer", Division: district}}
		MustSync(t, a, u)
		if role, ok := a.Can(u, own, "residence-permit", "approve"); ok {
			t.Errorf("after the clerk grant was replaced, Can(approve) = %q, true", role)
		}
	})
}

func TestDisabled(t *testing.T) {
	divs := MustDivisions(t)
	a := MustAuthz(t, divs)
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	users := []*portal.User{
		staff(1, portal.Grant{Role: "street_clerk", Division: own}),
		staff(2, portal.Grant{Role: "supervisor", Division: "321200"}),
		{ID: 3, Kind: portal.KindApplicant},
	}
	for _, u := range users {
		MustSync(t, a, u)
		// Warm the cache while enabled.
		a.Can(u, own, "case", "read")
		u.DisabledAt = &at
		MustSync(t, a, u)
	}
	for _, u := range users {
		t.Run(fmt.Sprintf("user %d", u.ID), func(t *testing.T) {
			for _, p := range [][2]string{{"case", "read"}, {"residence-permit", "approve"}, {"residence-permit", "submit"}, {"audit", "read"}} {
				if role, ok := a.Can(u, own, p[0], p[1]); ok {
					t.Errorf("disabled user: Can(%s %s) = %q, true", p[0], p[1], role)
				}
			}
			if a.Reach(u, &portal.Case{ApplicantID: u.ID, Division: own}) {
				t.Error("disabled user: Reach = true")
			}
		})
	}
}

// TestScopeDisabled: a disabled account's list filter must reach nothing,
// like Can and Reach. Today Scope ignores DisabledAt and hands out the
// grants' reach; only the login middleware stands in the way.
func TestScopeDisabled(t *testing.T) {
	divs := MustDivisions(t)
	a := MustAuthz(t, divs)
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		u    *portal.User
	}{
		{"clerk", staff(1, portal.Grant{Role: "street_clerk", Division: own})},
		{"city supervisor", staff(2, portal.Grant{Role: "supervisor", Division: "321200"})},
		{"applicant", &portal.User{ID: 3, Kind: portal.KindApplicant}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.u.DisabledAt = &at
			MustSync(t, a, tt.u)
			if f := a.Scope(tt.u, "case", "read"); f.AllScope || len(f.Scope) > 0 || f.ApplicantID != 0 {
				t.Errorf("disabled user: Scope = %+v, want no reach", f)
			}
		})
	}
}

func TestReach(t *testing.T) {
	divs := MustDivisions(t)
	a := MustAuthz(t, divs)
	app := &portal.User{ID: 40, Kind: portal.KindApplicant}
	clerk := staff(1, portal.Grant{Role: "street_clerk", Division: own})
	officer := staff(2, portal.Grant{Role: "district_officer", Division: district})
	for _, u := range []*portal.User{app, clerk, officer} {
		MustSync(t, a, u)
	}
	tests := []struct {
		name string
		u    *portal.User
		c    portal.Case
		want bool
	}{
		{"applicant own case", app, portal.Case{ApplicantID: 40, Division: own}, true},
		{"applicant own case elsewhere", app, portal.Case{ApplicantID: 40, Division: faraway}, true},
		{"applicant other's case", app, portal.Case{ApplicantID: 41, Division: own}, false},
		{"clerk own street", clerk, portal.Case{ApplicantID: 40, Division: own}, true},
		{"clerk sibling street", clerk, portal.Case{ApplicantID: 40, Division: sibling}, false},
		{"officer sibling street", officer, portal.Case{ApplicantID: 40, Division: sibling}, true},
		{"officer other district", officer, portal.Case{ApplicantID: 40, Division: faraway}, false},
		{"nil user", nil, portal.Case{ApplicantID: 0, Division: own}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := a.Reach(tt.u, &tt.c); got != tt.want {
				t.Errorf("Reach = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestScope(t *testing.T) {
	divs := MustDivisions(t)
	a := MustAuthz(t, divs)
	tests := []struct {
		name     string
		u        *portal.User
		obj, act string
		want     portal.CaseFilter
	}{
		{"clerk", staff(1, portal.Grant{Role: "street_clerk", Division: own}), "case", "read",
			portal.CaseFilter{Scope: []portal.ScopeTerm{{Division: own}}}},
		{"officer", staff(2, portal.Grant{Role: "district_officer", Division: district}), "case", "read",
			portal.CaseFilter{Scope: []portal.ScopeTerm{{District: district}}}},
		{"city supervisor", staff(3, portal.Grant{Role: "supervisor", Division: "321200"}), "case", "read",
			portal.CaseFilter{AllScope: true}},
		{"city supervisor with a street grant too", staff(4, portal.Grant{Role: "street_clerk", Division: own}, portal.Grant{Role: "supervisor", Division: "321200"}),
			"case", "read", portal.CaseFilter{AllScope: true}},
		{"district supervisor", staff(5, portal.Grant{Role: "supervisor", Division: "321203"}), "case", "read",
			portal.CaseFilter{Scope: []portal.ScopeTerm{{District: "321203"}}}},
		{"two grants", staff(6, portal.Grant{Role: "street_clerk", Division: own}, portal.Grant{Role: "district_officer", Division: "321203"}),
			"case", "read", portal.CaseFilter{Scope: []portal.ScopeTerm{{Division: own}, {District: "321203"}}}},
		{"only grants carrying the permission", staff(7, portal.Grant{Role: "street_clerk", Division: own}, portal.Grant{Role: "supervisor", Division: "321203"}),
			"audit", "read", portal.CaseFilter{Scope: []portal.ScopeTerm{{District: "321203"}}}},
		{"clerk audit", staff(8, portal.Grant{Role: "street_clerk", Division: own}), "audit", "read", portal.CaseFilter{}},
		{"unknown division", staff(9, portal.Grant{Role: "street_clerk", Division: "999999999"}), "case", "read", portal.CaseFilter{}},
		{"no grants", staff(10), "case", "read", portal.CaseFilter{}},
		{"applicant", &portal.User{ID: 11, Kind: portal.KindApplicant}, "case", "read", portal.CaseFilter{ApplicantID: 11}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			MustSync(t, a, tt.u)
			if diff := cmp.Diff(tt.want, a.Scope(tt.u, tt.obj, tt.act)); diff != "" {
				t.Errorf("Scope (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSetDivisions(t *testing.T) {
	divs := MustDivisions(t)
	a := MustAuthz(t, divs)
	clerk := staff(1, portal.Grant{Role: "street_clerk", Division: own})
	MustSync(t, a, clerk)
	if _, ok := a.Can(clerk, own, "case", "read"); !ok {
		t.Fatal("clerk cannot read own street")
	}
	// The street is taken out of the tree (a reorganisation): the cached
	// answer must not survive.
	var kept []portal.Division
	for _, d := range divs.All() {
		if d.Code != own {
			kept = append(kept, d)
		}
	}
	a.SetDivisions(portal.NewDivisions(kept))
	if _, ok := a.Can(clerk, own, "case", "read"); ok {
		t.Error("Can answers for a division no longer in the tree")
	}
	if a.Divisions().Root != "321200" {
		t.Errorf("Divisions().Root = %q, want 321200", a.Divisions().Root)
	}
}

func TestNewRefusesBadPolicy(t *testing.T) {
	divs := MustDivisions(t)
	model, err := fs.ReadFile(policies.FS, "model.conf")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, csv string }{
		{"too few fields", "p, street_clerk, *, case\n"},
		{"not a p line", "g, user:1, street_clerk, 321200\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := authz.New(string(model), []byte(tt.csv), divs); err == nil {
				t.Errorf("New accepted %q", tt.csv)
			}
		})
	}
}

// BenchmarkCanCached measures Can on a warm cache with 300 staff spread over
// every leaf division.
func BenchmarkCanCached(b *testing.B) {
	divs := MustDivisions(b)
	a := MustAuthz(b, divs)
	var leaves []string
	for _, d := range divs.All() {
		if d.Leaf() {
			leaves = append(leaves, d.Code)
		}
	}
	users := make([]*portal.User, 300)
	for i := range users {
		users[i] = staff(int64(i+1), portal.Grant{Role: "street_clerk", Division: leaves[i%len(leaves)]})
		MustSync(b, a, users[i])
	}
	for i, u := range users {
		if _, ok := a.Can(u, leaves[i%len(leaves)], "case", "read"); !ok {
			b.Fatalf("clerk %d cannot read own street", u.ID)
		}
	}
	app := &portal.User{ID: 1000, Kind: portal.KindApplicant}
	cases := []struct {
		name  string
		can   func(j int) (string, bool)
		allow bool
	}{
		{"staff allowed", func(j int) (string, bool) { return a.Can(users[j], leaves[j%len(leaves)], "case", "read") }, true},
		{"staff denied", func(j int) (string, bool) { return a.Can(users[j], leaves[j%len(leaves)], "audit", "read") }, false},
		{"applicant", func(j int) (string, bool) { return a.Can(app, leaves[j%len(leaves)], "residence-permit", "submit") }, true},
	}
	for _, bc := range cases {
		for j := range users {
			bc.can(j) // warm the cache
		}
		b.Run(bc.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				if _, ok := bc.can(i % len(users)); ok != bc.allow {
					b.Fatalf("Can = %v, want %v", ok, bc.allow)
				}
				i++
			}
		})
	}
}

// BenchmarkSyncUnchanged measures the per-request Sync of a staff member
// whose grants did not change (the common case).
func BenchmarkSyncUnchanged(b *testing.B) {
	divs := MustDivisions(b)
	a := MustAuthz(b, divs)
	u := staff(7, portal.Grant{Role: "street_clerk", Division: "321202001"})
	MustSync(b, a, u)
	for b.Loop() {
		if err := a.Sync(u); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRoleMay: whom to tell of a rating's follow-up is decided from their
// grants alone: a role that carries the permission, on a division that
// covers the case's.
func TestRoleMay(t *testing.T) {
	a := MustAuthz(t, MustDivisions(t))
	for _, tc := range []struct {
		name                  string
		role, grant, division string
		want                  bool
	}{
		{"city supervisor", "supervisor", "321200", "321202001", true},
		{"district supervisor", "supervisor", "321202", "321202001", true},
		{"street supervisor", "supervisor", "321202001", "321202001", true},
		{"another district's supervisor", "supervisor", "321203", "321202001", false},
		{"another street's supervisor", "supervisor", "321202002", "321202001", false},
		{"the street's clerk", "street_clerk", "321202001", "321202001", false},
		{"the district's officer", "district_officer", "321202", "321202001", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := a.RoleMay(tc.role, tc.grant, tc.division, "rating", "follow_up"); got != tc.want {
				t.Errorf("RoleMay(%s on %s, %s) = %t, want %t", tc.role, tc.grant, tc.division, got, tc.want)
			}
		})
	}
}
