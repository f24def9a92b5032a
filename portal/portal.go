// Package portal holds the domain of the Taizhou citizen-services portal:
// users, grants, divisions, cases and their history, audit entries, and the
// interfaces that the stores implement. It imports nothing of the project.
package portal

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
)

// UserKind tells applicants (citizens), staff (people with grants) and system
// accounts (other systems calling the API with a token) apart.
type UserKind string

const (
	KindApplicant UserKind = "applicant"
	KindStaff     UserKind = "staff"
	KindSystem    UserKind = "system"
)

// RoleApplicant is the role every applicant holds on their own cases.
const RoleApplicant = "applicant"

// User is an account. For applicants, IDCipher holds the encrypted resident ID
// number and IDIndex its blind index; the plain number is never stored.
type User struct {
	ID     int64
	Kind   UserKind
	Name   string
	Login  string // staff and system accounts
	Mobile string // applicants, normalized to 11 digits
	Email  string // optional: notices are also sent there when SMTP is configured
	// Unread counts the user's unread notifications, read with the user
	// (the header shows it on every page at no extra round trip).
	Unread       int
	IDIndex      string
	IDCipher     []byte
	PasswordHash string
	TokenHash    string // system accounts
	Locale       string
	DisabledAt   *time.Time
	CreatedAt    time.Time
	Grants       []Grant

	// Staff two-factor login: the sealed TOTP secret, when it was confirmed
	// (nil: set up at next login). The last time step a code was used for is
	// kept in the database only (UseTOTPStep compares and sets it).
	TOTPSecret      []byte
	TOTPConfirmedAt *time.Time

	// SavedFilters are a staff member's saved worklist filters, a JSON
	// list of SavedFilter (decoded where shown: the worklist).
	SavedFilters json.RawMessage
}

// Grant gives a user a role in a division and everything beneath it.
type Grant struct {
	Role     string `json:"role"`
	Division string `json:"division"`
}

// Roles returns the distinct roles of the user's grants.
func (u *User) Roles() []string {
	if u.Kind == KindApplicant {
		return []string{RoleApplicant}
	}
	var out []string
	seen := map[string]bool{}
	for _, g := range u.Grants {
		if !seen[g.Role] {
			seen[g.Role] = true
			out = append(out, g.Role)
		}
	}
	return out
}

// HasRole reports whether the user holds role anywhere.
func (u *User) HasRole(role string) bool {
	for _, r := range u.Roles() {
		if r == role {
			return true
		}
	}
	return false
}

// Actor is who does something, as the audit trail records it.
type Actor struct {
	User *User  // nil for the scheduler and anonymous callers
	IP   string // client address
	// System names a built-in actor (e.g. "scheduler") when User is nil.
	System string
}

// ID returns the audit name of the actor: "user:42", "system:<login>" for
// another system calling the API (the audit trail names it), "scheduler" or
// "anonymous".
func (a Actor) ID() string {
	switch {
	case a.User != nil && a.User.Kind == KindSystem:
		return "system:" + a.User.Login
	case a.User != nil:
		return "user:" + strconv.FormatInt(a.User.ID, 10)
	case a.System != "":
		return a.System
	default:
		return "anonymous"
	}
}

// Division is a node of the administrative division tree (GB/T 2260 and the
// statistical codes below it): the city, its county-level units, and streets
// and towns.
type Division struct {
	Code   string `json:"code"`
	Name   string `json:"name"`
	Parent string `json:"parent"`
	Level  string `json:"level"` // city, county, street, town, township, zone
}

// Leaf reports whether the division is township-level (a 9-digit code), the
// level where applicants live and street clerks work.
func (d Division) Leaf() bool { return len(d.Code) == 9 }

// Divisions is the jurisdiction tree, loaded from the database.
type Divisions struct {
	Root   string
	byCode map[string]Division
	kids   map[string][]string
	order  []string
	paths  map[string]string // computed once: every authorization asks
}

// NewDivisions builds the tree; the root is the division whose parent is not in the list.
func NewDivisions(list []Division) *Divisions {
	t := &Divisions{byCode: map[string]Division{}, kids: map[string][]string{}}
	for _, d := range list {
		t.byCode[d.Code] = d
		t.order = append(t.order, d.Code)
	}
	for _, d := range list {
		if _, ok := t.byCode[d.Parent]; ok {
			t.kids[d.Parent] = append(t.kids[d.Parent], d.Code)
		} else if t.Root == "" {
			t.Root = d.Code
		}
	}
	t.paths = make(map[string]string, len(list))
	for _, d := range list {
		t.paths[d.Code] = t.path(d.Code)
	}
	return t
}

// Get returns the division with code.
func (t *Divisions) Get(code string) (Division, bool) {
	d, ok := t.byCode[code]
	return d, ok
}

// Children returns the codes directly beneath code, in data order.
func (t *Divisions) Children(code string) []string { return t.kids[code] }

// All returns every division in data order.
func (t *Divisions) All() []Division {
	out := make([]Division, 0, len(t.order))
	for _, c := range t.order {
		out = append(out, t.byCode[c])
	}
	return out
}

// Path returns the slash-separated path from the root, e.g.
// "321200/321202/321202001", or "" for an unknown code. Casbin domains are paths.
func (t *Divisions) Path(code string) string { return t.paths[code] }

func (t *Divisions) path(code string) string {
	var parts []string
	for c := code; c != ""; {
		d, ok := t.byCode[c]
		if !ok {
			break
		}
		parts = append(parts, c)
		if _, ok := t.byCode[d.Parent]; !ok {
			break
		}
		c = d.Parent
	}
	if len(parts) == 0 {
		return ""
	}
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return strings.Join(parts, "/")
}

// Covers reports whether a grant on division outer reaches division inner.
func (t *Divisions) Covers(outer, inner string) bool {
	po, pi := t.Path(outer), t.Path(inner)
	return po != "" && pi != "" && (pi == po || strings.HasPrefix(pi, po+"/"))
}

// District returns the county-level ancestor of a leaf division ("" if none).
func (t *Divisions) District(code string) string {
	for c := code; c != ""; {
		d, ok := t.byCode[c]
		if !ok {
			return ""
		}
		if d.Parent == t.Root {
			return c
		}
		c = d.Parent
	}
	return ""
}

// Case is one application (办件) as stored.
type Case struct {
	ID          int64
	No          string // 办件编号, e.g. TZRP20261128000123
	Service     string // service id, e.g. residence-permit
	ItemCode    string // GB/T 39554.1 service-item code
	State       string
	Version     int // equals the number of history rows
	ApplicantID int64
	Division    string // the 9-digit division the case belongs to
	District    string // its county-level ancestor
	Form        json.RawMessage
	Result      json.RawMessage
	StateSince  time.Time
	DueAt       *time.Time // deadline of the current state, if it has one
	// InQueue: handed in and not ended (neither a private state nor a final
	// one): the case is in staff's queue. The engine keeps it with the state.
	InQueue   bool
	CreatedAt time.Time
	UpdatedAt time.Time
	// HolderID is the staff member working the case now (claimed or
	// assigned), nil when nobody holds it; HolderName is filled by lists
	// and by CaseWithHistory.
	HolderID   *int64
	HolderName string

	// ApplicantName is filled by lists, for staff worklists.
	ApplicantName string
	// Applicant is filled by CaseWithHistory (name, mobile, sealed ID number).
	Applicant *User
}

// ValidCaseNo reports whether no has the shape of a case number (TZ, two
// letters of service code, yyyymmdd, six digits). Anything else cannot be
// a case, and is answered "not found" without asking the database.
func ValidCaseNo(no string) bool {
	if len(no) != 18 || no[0] != 'T' || no[1] != 'Z' {
		return false
	}
	for i := 2; i < 4; i++ {
		if no[i] < 'A' || no[i] > 'Z' {
			return false
		}
	}
	for i := 4; i < 18; i++ {
		if no[i] < '0' || no[i] > '9' {
			return false
		}
	}
	return true
}

// History is one row of a case's timeline.
type History struct {
	CaseID    int64
	Seq       int // 1-based; the case's version after this step
	Event     string
	From      string
	To        string
	ActorID   *int64
	ActorRole string
	Inputs    Inputs // what the person firing the event gave: reason, items, reference…
	At        time.Time
	// DueAt is the due date of the state the step entered, if it had one
	// (recorded since migration 00024): what a rebuild of the dashboards'
	// rollups reads to know whether the next decision was on time.
	DueAt *time.Time
}

// Inputs are the declared inputs of one step (see the workflow files):
// texts and dates are strings, lists are []string.
type Inputs map[string]any

// Text returns a text or date input, "" if absent.
func (in Inputs) Text(name string) string {
	s, _ := in[name].(string)
	return s
}

// List returns a list input, nil if absent.
func (in Inputs) List(name string) []string {
	l, _ := in[name].([]string)
	return l
}

// UnmarshalJSON decodes stored inputs, turning JSON arrays into []string.
func (in *Inputs) UnmarshalJSON(b []byte) error {
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	out := make(Inputs, len(raw))
	for k, v := range raw {
		switch v := v.(type) {
		case []any:
			l := make([]string, 0, len(v))
			for _, x := range v {
				if s, ok := x.(string); ok {
					l = append(l, s)
				}
			}
			out[k] = l
		case string:
			out[k] = v
		}
	}
	*in = out
	return nil
}

// Pseudo-events recorded in history that are not workflow events: the case's
// creation, an applicant's edit of an editable case, and an amendment of a
// decided case's result by another case (a residence permit cancelled when
// its holder settles) — and the clerk's desk: a staff member claims a case
// (认领), gives it back, or is assigned it (指派); those three are shown to
// staff only.
const (
	EventCreate  = "create"
	EventEdit    = "edit"
	EventAmend   = "amend"
	EventClaim   = "claim"
	EventRelease = "release"
	EventAssign  = "assign"
)

// DeskEvent reports whether event is one of the desk's pseudo-events
// (claim, release, assign): who works the case, not what happens to it.
func DeskEvent(event string) bool {
	return event == EventClaim || event == EventRelease || event == EventAssign
}

// Result keys the engine reads in any service's result: a granted case whose
// result has valid_until is valid through that day (YYYY-MM-DD, China time)
// unless cancelled_by names the case that cancelled it.
const (
	ResultValidUntil  = "valid_until"
	ResultCancelledBy = "cancelled_by"
	ResultCancelledOn = "cancelled_on"
)

// AuditEntry is one link of the audit hash chain.
type AuditEntry struct {
	Seq      int64           `json:"seq"`
	At       time.Time       `json:"at"`
	Actor    string          `json:"actor"`
	Role     string          `json:"role"`
	Division string          `json:"division"`
	Action   string          `json:"action"`
	Object   string          `json:"object"`
	Result   string          `json:"result"`
	IP       string          `json:"ip"`
	Detail   json.RawMessage `json:"detail,omitempty"`
	PrevHash string          `json:"prev_hash"`
	Hash     string          `json:"hash"`
}

// Job is a timer: fire Event on the case when DueAt passes, if the case is
// still at Version (otherwise the case moved on and the job is obsolete).
type Job struct {
	ID      int64
	CaseID  int64
	CaseNo  string
	Event   string
	Version int
	DueAt   time.Time
}

// QueueDepth is how much background work waits: notices not yet sent, and
// timers due but not run (the oldest's due time, nil when none).
type QueueDepth struct {
	OutboxPending int64
	TimersDue     int64
	OldestDue     *time.Time
}

// County is a county-level division of mainland China (统计用区划代码): the
// origin of a hukou transfer. Codes in old ID numbers may be abolished ones,
// so an ID number is never refused for its first six digits.
type County struct {
	Code         string `json:"code"`
	Name         string `json:"name"`
	CityCode     string `json:"city_code"`
	CityName     string `json:"city_name"`
	ProvinceCode string `json:"province_code"`
	ProvinceName string `json:"province_name"`
}

// City is a prefecture-level city (or a municipality, which counts as one).
type City struct {
	Code         string `json:"code"`
	Name         string `json:"name"`
	ProvinceCode string `json:"province_code"`
	ProvinceName string `json:"province_name"`
}

// Counties is China's county-level reference data, loaded from the database.
type Counties struct {
	byCode map[string]County
	cities map[string]City
	order  []string            // city codes in data order
	named  map[string][]string // the names people write → county codes (see Named)
}

// NewCounties indexes the list.
func NewCounties(list []County) *Counties {
	c := &Counties{byCode: make(map[string]County, len(list)), cities: map[string]City{}}
	for _, k := range list {
		c.byCode[k.Code] = k
		if _, ok := c.cities[k.CityCode]; ok {
			continue
		}
		name := k.CityName
		if name == "市辖区" || name == "县" || name == "省直辖县级行政区划" || name == "自治区直辖县级行政区划" {
			name = k.ProvinceName // a municipality counts as one city (上海市)
		}
		c.cities[k.CityCode] = City{Code: k.CityCode, Name: name, ProvinceCode: k.ProvinceCode, ProvinceName: k.ProvinceName}
		c.order = append(c.order, k.CityCode)
	}
	c.named = map[string][]string{}
	for _, k := range list {
		city := c.cities[k.CityCode].Name
		for _, name := range []string{k.Name, city + k.Name, k.ProvinceName + k.Name, c.FullName(k.Code)} {
			if !slices.Contains(c.named[name], k.Code) {
				c.named[name] = append(c.named[name], k.Code)
			}
		}
	}
	return c
}

// Named returns the codes of the counties a name written as people write
// it may mean: the county alone (兴化市), with its city (泰州市兴化市;
// 北京市朝阳区 for a municipality), with its province (江苏省兴化市), or in
// full (江苏省泰州市兴化市). A name of several counties (朝阳区) gives each.
func (c *Counties) Named(name string) []string { return c.named[name] }

// Get returns the county with code.
func (c *Counties) Get(code string) (County, bool) {
	k, ok := c.byCode[code]
	return k, ok
}

// City returns the city with code.
func (c *Counties) City(code string) (City, bool) {
	k, ok := c.cities[code]
	return k, ok
}

// CitiesIn returns the cities of the provinces, in data order.
func (c *Counties) CitiesIn(provinces []string) []City {
	var out []City
	for _, code := range c.order {
		if k := c.cities[code]; slices.Contains(provinces, k.ProvinceCode) {
			out = append(out, k)
		}
	}
	return out
}

// Len is the number of counties.
func (c *Counties) Len() int { return len(c.byCode) }

// FullName is the county with its province and city: 江苏省徐州市丰县,
// 北京市东城区 for a municipality.
func (c *Counties) FullName(code string) string {
	k, ok := c.byCode[code]
	if !ok {
		return ""
	}
	city := c.cities[k.CityCode]
	if city.Name == k.ProvinceName {
		return k.ProvinceName + k.Name
	}
	return k.ProvinceName + city.Name + k.Name
}

// CityName is a city with its province: 浙江省杭州市, 上海市.
func (c *Counties) CityName(code string) string {
	k, ok := c.cities[code]
	switch {
	case !ok:
		return ""
	case k.Name == k.ProvinceName:
		return k.Name
	}
	return k.ProvinceName + k.Name
}
