// Package account registers applicants, adds staff and system accounts,
// checks logins (argon2id, lockout after repeated failures, every attempt
// audited) and reveals ID numbers to the staff allowed to see them.
package account

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"tzportal/portal"
	"tzportal/portal/audit"
	"tzportal/portal/pii"
	"tzportal/portal/session"
	"tzportal/portal/validate"
)

// Policy holds the account settings of policies/accounts.yaml.
type Policy struct {
	Password struct {
		MinLength  int `yaml:"min_length"`
		MinClasses int `yaml:"min_classes"`
	} `yaml:"password"`
	Lockout struct {
		Failures            int `yaml:"failures"`
		Minutes             int `yaml:"minutes"`
		IPAttemptsPerMinute int `yaml:"ip_attempts_per_minute"`
	} `yaml:"lockout"`
	Session struct {
		IdleMinutes   int `yaml:"idle_minutes"`
		AbsoluteHours int `yaml:"absolute_hours"`
	} `yaml:"session"`
	// Verify throttles the public certificate check per address
	// (enumerating tokens gets nowhere, but costs us).
	Verify struct {
		PerMinute int `yaml:"per_minute"`
	} `yaml:"verify"`
}

// LoadPolicy reads accounts.yaml from fsys and checks every number is set.
func LoadPolicy(fsys fs.FS) (*Policy, error) {
	src, err := fs.ReadFile(fsys, "accounts.yaml")
	if err != nil {
		return nil, fmt.Errorf("policies/accounts.yaml: %w", err)
	}
	var p Policy
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("policies/accounts.yaml: %w", err)
	}
	for name, v := range map[string]int{
		"password.min_length": p.Password.MinLength, "password.min_classes": p.Password.MinClasses,
		"lockout.failures": p.Lockout.Failures, "lockout.minutes": p.Lockout.Minutes,
		"lockout.ip_attempts_per_minute": p.Lockout.IPAttemptsPerMinute,
		"session.idle_minutes":           p.Session.IdleMinutes, "session.absolute_hours": p.Session.AbsoluteHours,
		"verify.per_minute": p.Verify.PerMinute,
	} {
		if v <= 0 {
			return nil, fmt.Errorf("policies/accounts.yaml: %s must be a positive number", name)
		}
	}
	return &p, nil
}

// LockWindow is how long a lock lasts after the last counted failure.
func (p *Policy) LockWindow() time.Duration { return time.Duration(p.Lockout.Minutes) * time.Minute }

// Role is one entry of policies/roles.yaml.
type Role struct {
	Kind   portal.UserKind `yaml:"kind"`
	Levels []string        `yaml:"levels"` // city, county, leaf
}

// RoleNames reads roles.yaml from fsys and returns the set of role names
// (what workflow files are checked against).
func RoleNames(fsys fs.FS) (map[string]bool, error) {
	roles, err := LoadRoles(fsys)
	if err != nil {
		return nil, err
	}
	return Names(roles), nil
}

// Names is the set of the roles' names.
func Names(roles map[string]Role) map[string]bool {
	names := make(map[string]bool, len(roles))
	for name := range roles {
		names[name] = true
	}
	return names
}

// LoadRoles reads roles.yaml from fsys.
func LoadRoles(fsys fs.FS) (map[string]Role, error) {
	src, err := fs.ReadFile(fsys, "roles.yaml")
	if err != nil {
		return nil, fmt.Errorf("policies/roles.yaml: %w", err)
	}
	var f struct {
		Roles map[string]Role `yaml:"roles"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("policies/roles.yaml: %w", err)
	}
	for name, r := range f.Roles {
		switch r.Kind {
		case portal.KindApplicant, portal.KindStaff, portal.KindSystem:
		default:
			return nil, fmt.Errorf("policies/roles.yaml: role %s: kind must be applicant, staff or system", name)
		}
		for _, l := range r.Levels {
			if l != "city" && l != "county" && l != "leaf" {
				return nil, fmt.Errorf("policies/roles.yaml: role %s: level %q (want city, county or leaf)", name, l)
			}
		}
	}
	return f.Roles, nil
}

// SessionEnder ends every session of a user (session.Store has it).
type SessionEnder interface {
	DeleteUser(ctx context.Context, userID int64) error
}

// Authorizer is the part of authz accounts need.
type Authorizer interface {
	Reach(u *portal.User, c *portal.Case) bool
	Can(u *portal.User, division, obj, act string) (string, bool)
	Divisions() *portal.Divisions
}

// Accounts is the account service.
type Accounts struct {
	Store     portal.Store
	Sealer    *pii.Sealer
	Validator *validate.Validator
	Audit     *audit.Log
	Failures  session.Counter // failed-login counters (Redis, or in-process)
	Authz     Authorizer
	Policy    *Policy
	Roles     map[string]Role
	Now       func() time.Time
	Sessions  SessionEnder // ends a person's sessions when they lose access
	// StaffMFA requires staff to give a one-time code (TOTP); TOTPKey
	// encrypts their secrets.
	StaffMFA bool
	TOTPKey  []byte
	// Observer counts refused logins and lockouts for the operators'
	// metrics (nil: nothing is counted).
	Observer interface {
		LoginFailed(reason string)
		LockedOut()
	}

	dummyOnce sync.Once
	dummy     string // a hash to check against when the account does not exist
}

// Registration is an applicant's registration form.
type Registration struct {
	Name     string `json:"name" validate:"required,min=2,max=50"`
	IDNumber string `json:"id_number" validate:"required,idnumber"`
	Mobile   string `json:"mobile" validate:"required,mobile"`
	Password string `json:"password" validate:"required,password"`
	// PasswordConfirm is asked by the HTML form (a typo in a password a person
	// cannot see locks them out); API clients may leave it out.
	PasswordConfirm *string `json:"password_confirm,omitempty"`
}

// Register creates an applicant account.
func (a *Accounts) Register(ctx context.Context, actor portal.Actor, r Registration) (*portal.User, error) {
	r.Name = strings.TrimSpace(r.Name)
	r.IDNumber = strings.TrimSpace(r.IDNumber)
	r.Mobile = strings.TrimSpace(r.Mobile)
	if err := a.Validator.Struct(r); err != nil {
		return nil, err
	}
	if r.PasswordConfirm != nil && *r.PasswordConfirm != r.Password {
		return nil, portal.Invalid(portal.FieldError{Field: "password_confirm", Rule: "confirm"})
	}
	id, _ := validate.IDNumber(r.IDNumber, a.Now())
	mobile, _ := validate.Mobile(r.Mobile)
	cipher, index, err := a.Sealer.Seal(id)
	if err != nil {
		return nil, fmt.Errorf("account.Register: %w", err)
	}
	hash, err := HashPassword(r.Password)
	if err != nil {
		return nil, err
	}
	u := &portal.User{Kind: portal.KindApplicant, Name: r.Name, Mobile: mobile, IDIndex: index, IDCipher: cipher,
		PasswordHash: hash, CreatedAt: a.Now()}
	err = a.Store.Tx(ctx, func(tx portal.Tx) error {
		if err := tx.InsertUser(ctx, u); err != nil {
			return err
		}
		actor.User = u
		return a.Audit.Append(ctx, tx, audit.Entry(actor, "account.register", userObject(u), audit.ResultOK))
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

func userObject(u *portal.User) string { return "user:" + strconv.FormatInt(u.ID, 10) }

// errLogin is the one answer to every failed login: it does not tell whether
// the account exists, is locked, or the password was wrong.
func errLogin() error {
	return portal.Errorf(portal.EUNAUTHORIZED, "error.login_failed", nil)
}

// errOTP answers a wrong, reused or missing one-time code after a right
// password (the person already knows the password was right).
func errOTP() error {
	return portal.Errorf(portal.EUNAUTHORIZED, "error.otp_failed", nil)
}

func (a *Accounts) dummyHash() string {
	a.dummyOnce.Do(func() { a.dummy, _ = HashPassword("not a password of anyone") })
	return a.dummy
}

// What a password login still needs.
const (
	NeedTOTP      = "totp"       // a one-time code from the staff member's app
	NeedTOTPSetup = "totp_setup" // the app is not set up yet: set it up now
)

// LoginResult is a login whose password was right. Need is "" when the
// person is logged in, else the step still missing.
type LoginResult struct {
	User *portal.User
	Need string
}

func failureKey(u *portal.User) string { return "login-fail:" + strconv.FormatInt(u.ID, 10) }

// Login checks a login (ID number, mobile number, or staff login name) and
// password, and for staff the one-time code when one is given. After
// Policy.Lockout.Failures failures the account is locked for
// Policy.Lockout.Minutes, with the same answer as a wrong password; more
// than Policy.Lockout.IPAttemptsPerMinute attempts from one address in a
// minute are refused with ETOOMANY. Every attempt is audited.
func (a *Accounts) Login(ctx context.Context, actor portal.Actor, login, password, code string) (*LoginResult, error) {
	n, err := a.Failures.Incr(ctx, "login-ip:"+actor.IP, time.Minute)
	if err != nil {
		return nil, err // a counter we cannot read must not become a way around the limits
	}
	if n > int64(a.Policy.Lockout.IPAttemptsPerMinute) {
		if err := a.failLogin(ctx, actor, nil, "ip_throttled", login); err != nil {
			return nil, err
		}
		return nil, portal.Errorf(portal.ETOOMANY, "error.too_many_logins", nil)
	}
	u, err := a.find(ctx, strings.TrimSpace(login))
	if err != nil && portal.ErrorCode(err) != portal.ENOTFOUND {
		return nil, err
	}
	if u == nil {
		CheckPassword(a.dummyHash(), password) // the same time as a real check
		return nil, a.failed(ctx, actor, nil, "unknown_login", login, errLogin())
	}
	key := failureKey(u)
	if n, err := a.Failures.Get(ctx, key); err != nil {
		return nil, err
	} else if n >= int64(a.Policy.Lockout.Failures) {
		CheckPassword(a.dummyHash(), password)
		return nil, a.failed(ctx, actor, u, "locked", login, errLogin())
	}
	ok, err := CheckPassword(u.PasswordHash, password)
	if err != nil || !ok {
		n, err := a.Failures.Incr(ctx, key, a.Policy.LockWindow())
		if err != nil {
			return nil, err
		}
		if n == int64(a.Policy.Lockout.Failures) && a.Observer != nil {
			a.Observer.LockedOut()
		}
		return nil, a.failed(ctx, actor, u, "wrong_password", login, errLogin())
	}
	if u.DisabledAt != nil {
		return nil, a.failed(ctx, actor, u, "disabled", login, errLogin())
	}
	if a.needsTOTP(u) {
		need := NeedTOTP
		if u.TOTPConfirmedAt == nil {
			need = NeedTOTPSetup
		}
		if code != "" && need == NeedTOTP {
			if _, err := a.verifyTOTP(ctx, actor, u, code); err != nil {
				return nil, err
			}
			return &LoginResult{User: u}, nil
		}
		ent := audit.WithDetail(audit.Entry(portal.Actor{User: u, IP: actor.IP}, "login", userObject(u), "pending"),
			map[string]string{"need": need})
		if err := a.Audit.Record(ctx, a.Store, ent); err != nil {
			return nil, err
		}
		return &LoginResult{User: u, Need: need}, nil
	}
	u, err = a.loggedIn(ctx, actor, u)
	if err != nil {
		return nil, err
	}
	return &LoginResult{User: u}, nil
}

// failLogin audits a failed attempt; the error is only the audit's own.
func (a *Accounts) failLogin(ctx context.Context, actor portal.Actor, u *portal.User, reason, login string) error {
	if a.Observer != nil {
		a.Observer.LoginFailed(reason)
	}
	ent := audit.Entry(actor, "login", "login", audit.ResultFailed)
	if u != nil {
		ent = audit.Entry(portal.Actor{User: u, IP: actor.IP}, "login", userObject(u), audit.ResultFailed)
	}
	ent = audit.WithDetail(ent, map[string]string{"reason": reason, "login": maskLogin(login)})
	return a.Audit.Record(ctx, a.Store, ent)
}

// failed audits a failed attempt and returns answer (or the audit's error).
func (a *Accounts) failed(ctx context.Context, actor portal.Actor, u *portal.User, reason, login string, answer error) error {
	if err := a.failLogin(ctx, actor, u, reason, login); err != nil {
		return err
	}
	return answer
}

// loggedIn ends a successful login: the failure counter starts again, and
// the login is audited.
func (a *Accounts) loggedIn(ctx context.Context, actor portal.Actor, u *portal.User) (*portal.User, error) {
	if err := a.Failures.Reset(ctx, failureKey(u)); err != nil {
		return nil, err
	}
	if err := a.Audit.Record(ctx, a.Store, audit.Entry(portal.Actor{User: u, IP: actor.IP}, "login", userObject(u), audit.ResultOK)); err != nil {
		return nil, err
	}
	return u, nil
}

// find looks a login up as an ID number, a mobile number, or a staff login.
func (a *Accounts) find(ctx context.Context, login string) (*portal.User, error) {
	if login == "" || len(login) > 64 || !validate.CleanText(login) {
		return nil, portal.NotFound(nil)
	}
	if id, ok := validate.IDNumber(login, a.Now()); ok {
		return a.Store.UserByIDIndex(ctx, a.Sealer.Index(id))
	}
	if m, ok := validate.Mobile(login); ok {
		return a.Store.UserByMobile(ctx, m)
	}
	u, err := a.Store.UserByLogin(ctx, login)
	if err == nil && u.Kind != portal.KindStaff {
		return nil, portal.NotFound(nil) // system accounts use tokens, not passwords
	}
	return u, err
}

// maskLogin keeps enough of a login for an auditor to correlate attempts
// without writing an ID or mobile number into the audit trail.
func maskLogin(login string) string {
	login = strings.TrimSpace(login)
	if len(login) == 18 {
		return pii.MaskID(login)
	}
	if m, ok := validate.Mobile(login); ok {
		return pii.MaskMobile(m)
	}
	if len(login) > 40 {
		login = login[:40]
	}
	if !validate.CleanText(login) {
		return "(unreadable)"
	}
	return login
}

var loginRE = regexp.MustCompile(`^[a-z][a-z0-9_.-]{2,31}$`)

// Staff is a new staff account.
type Staff struct {
	Login    string
	Password string
	Name     string
	Role     string
	Division string
	// DeferTOTP leaves the one-time-code app to be set up at first login
	// (the demo does); otherwise AddStaff enrolls it and returns the secret.
	DeferTOTP bool
}

// AddStaff creates a staff account with one grant. The login must be a name
// (lower-case letters, digits, _.-), so it can never be taken for a mobile
// or ID number at the login form.
//
// Unless s.DeferTOTP, it also enrolls the staff member's one-time-code app
// and returns the enrollment, to be handed over once (portal staff add
// prints its otpauth URI).
func (a *Accounts) AddStaff(ctx context.Context, actor portal.Actor, s Staff) (*portal.User, *Enrollment, error) {
	if err := a.mayAdminister(actor); err != nil {
		return nil, nil, err
	}
	s.Login, s.Name = strings.TrimSpace(s.Login), strings.TrimSpace(s.Name)
	var bad invalid
	bad.check(checkLogin(s.Login))
	bad.check(checkName(s.Name))
	bad.check(a.checkGrant(portal.KindStaff, s.Role, s.Division))
	if len(s.Password) < a.Policy.Password.MinLength || validate.PasswordClasses(s.Password) < a.Policy.Password.MinClasses {
		bad.check(fieldError("password", "password", strconv.Itoa(a.Policy.Password.MinLength),
			fmt.Errorf("password: at least %d characters with %d of: lower case, upper case, digits, symbols",
				a.Policy.Password.MinLength, a.Policy.Password.MinClasses)))
	}
	if err := bad.err(); err != nil {
		return nil, nil, err
	}
	hash, err := HashPassword(s.Password)
	if err != nil {
		return nil, nil, err
	}
	u := &portal.User{Kind: portal.KindStaff, Login: s.Login, Name: strings.TrimSpace(s.Name), PasswordHash: hash,
		CreatedAt: a.Now(), Grants: []portal.Grant{{Role: s.Role, Division: s.Division}}}
	var en *Enrollment
	if !s.DeferTOTP {
		if en, err = newEnrollment(s.Login); err != nil {
			return nil, nil, err
		}
		if u.TOTPSecret, err = a.sealSecret(en.Secret); err != nil {
			return nil, nil, err
		}
		now := a.Now()
		u.TOTPConfirmedAt = &now // handed over by the administrator
	}
	if err := a.insertWithGrants(ctx, actor, u, "staff.add"); err != nil {
		return nil, nil, err
	}
	return u, en, nil
}

// staffByLogin finds a staff account for an administrative change.
func (a *Accounts) staffByLogin(ctx context.Context, login string) (*portal.User, error) {
	u, err := a.Store.UserByLogin(ctx, login)
	if portal.ErrorCode(err) == portal.ENOTFOUND || (err == nil && u.Kind == portal.KindApplicant) {
		return nil, portal.NotFound(fmt.Errorf("no staff or system account %q", login))
	}
	return u, err
}

// DisableStaff disables an account (staff or system) and ends its sessions
// at once. Every node refuses it from its next request on, because each
// request reads the account.
func (a *Accounts) DisableStaff(ctx context.Context, actor portal.Actor, login string) error {
	if err := a.mayAdminister(actor); err != nil {
		return err
	}
	u, err := a.staffByLogin(ctx, login)
	if err != nil {
		return err
	}
	if isSelf(actor, u) {
		return portal.RuleError("self", "admin.error.self", nil)
	}
	if u.DisabledAt != nil {
		return nil // disabled already: nothing to record
	}
	now := a.Now()
	u.DisabledAt = &now
	err = a.Store.Tx(ctx, func(tx portal.Tx) error {
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		return a.Audit.Append(ctx, tx, asAdmin(audit.Entry(actor, "staff.disable", userObject(u), audit.ResultOK), actor, a.Authz))
	})
	if err != nil {
		return err
	}
	return a.endSessions(ctx, u)
}

// Grant gives an account one more grant.
func (a *Accounts) Grant(ctx context.Context, actor portal.Actor, login string, g portal.Grant) error {
	if err := a.mayAdminister(actor); err != nil {
		return err
	}
	u, err := a.staffByLogin(ctx, login)
	if err != nil {
		return err
	}
	if err := a.checkGrant(u.Kind, g.Role, g.Division); err != nil {
		return err
	}
	if slices.Contains(u.Grants, g) {
		return nil
	}
	return a.setGrants(ctx, actor, u, append(u.Grants, g), "staff.grant", g)
}

// Revoke removes a grant and ends the account's sessions at once: a person
// who lost a grant logs in again and starts with what they still have.
func (a *Accounts) Revoke(ctx context.Context, actor portal.Actor, login string, g portal.Grant) error {
	if err := a.mayAdminister(actor); err != nil {
		return err
	}
	u, err := a.staffByLogin(ctx, login)
	if err != nil {
		return err
	}
	i := slices.Index(u.Grants, g)
	if i < 0 {
		e := portal.RuleError("no_grant", "admin.error.no_grant", map[string]any{"Role": g.Role, "Division": g.Division})
		e.Err = fmt.Errorf("%s has no grant %s in %s", login, g.Role, g.Division)
		return e
	}
	if isSelf(actor, u) && g.Role == "admin" {
		return portal.RuleError("self", "admin.error.self", nil)
	}
	if err := a.setGrants(ctx, actor, u, slices.Delete(slices.Clone(u.Grants), i, i+1), "staff.revoke", g); err != nil {
		return err
	}
	return a.endSessions(ctx, u)
}

func (a *Accounts) setGrants(ctx context.Context, actor portal.Actor, u *portal.User, grants []portal.Grant, action string, g portal.Grant) error {
	return a.Store.Tx(ctx, func(tx portal.Tx) error {
		if err := tx.SetGrants(ctx, u.ID, grants); err != nil {
			return err
		}
		return a.Audit.Append(ctx, tx, audit.WithDetail(asAdmin(audit.Entry(actor, action, userObject(u), audit.ResultOK), actor, a.Authz), g))
	})
}

// endSessions ends the user's sessions where this process can reach them
// (Redis is shared by all nodes; in-process sessions only in this process,
// which is why every request also re-reads the account).
func (a *Accounts) endSessions(ctx context.Context, u *portal.User) error {
	if a.Sessions == nil {
		return nil
	}
	return a.Sessions.DeleteUser(ctx, u.ID)
}

// AddSystem creates a system account (another system calling the API with a
// bearer token) and returns the token, which is shown once and stored hashed.
func (a *Accounts) AddSystem(ctx context.Context, actor portal.Actor, login, name, role, division string) (*portal.User, string, error) {
	if err := a.mayAdminister(actor); err != nil {
		return nil, "", err
	}
	login, name = strings.TrimSpace(login), strings.TrimSpace(name)
	var bad invalid
	bad.check(checkLogin(login))
	bad.check(checkName(name))
	bad.check(a.checkGrant(portal.KindSystem, role, division))
	if err := bad.err(); err != nil {
		return nil, "", err
	}
	token, err := newToken()
	if err != nil {
		return nil, "", err
	}
	u := &portal.User{Kind: portal.KindSystem, Login: login, Name: name, TokenHash: TokenHash(token), CreatedAt: a.Now(),
		Grants: []portal.Grant{{Role: role, Division: division}}}
	return u, token, a.insertWithGrants(ctx, actor, u, "system.add")
}

// TokenHash is how API tokens are stored and looked up.
func TokenHash(token string) string {
	s := sha256.Sum256([]byte(token))
	return hex.EncodeToString(s[:])
}

func (a *Accounts) insertWithGrants(ctx context.Context, actor portal.Actor, u *portal.User, action string) error {
	return a.Store.Tx(ctx, func(tx portal.Tx) error {
		if err := tx.InsertUser(ctx, u); err != nil {
			if e := portal.AsError(err); e != nil && e.Code == portal.EINVALID {
				return fieldError("login", "taken", "", fmt.Errorf("login %q is taken", u.Login))
			}
			return err
		}
		if err := tx.SetGrants(ctx, u.ID, u.Grants); err != nil {
			return err
		}
		ent := audit.WithDetail(asAdmin(audit.Entry(actor, action, userObject(u), audit.ResultOK), actor, a.Authz), map[string]any{"grants": u.Grants})
		return a.Audit.Append(ctx, tx, ent)
	})
}

// checkGrant refuses a role the account kind cannot hold or a division at a
// level the role is not granted at.
func (a *Accounts) checkGrant(kind portal.UserKind, role, division string) error {
	r, ok := a.Roles[role]
	if !ok || r.Kind != kind {
		var names []string
		for name, r := range a.Roles {
			if r.Kind == kind {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		return fieldError("role", "oneof", "", fmt.Errorf("role %q: want one of %s", role, strings.Join(names, ", ")))
	}
	divs := a.Authz.Divisions()
	d, ok := divs.Get(division)
	if !ok {
		return fieldError("division", "division_code", "",
			fmt.Errorf("division %q: not a Taizhou division code (6 or 9 digits, e.g. 321202 or 321202001)", division))
	}
	level := "leaf"
	switch {
	case division == divs.Root:
		level = "city"
	case !d.Leaf():
		level = "county"
	}
	for _, l := range r.Levels {
		if l == level {
			return nil
		}
	}
	return fieldError("division", "level_"+strings.Join(r.Levels, "_"), "",
		fmt.Errorf("role %s is granted at the %s level, not at %s %s (a %s)", role, strings.Join(r.Levels, "/"), d.Code, d.Name, level))
}

// IDNumber returns the applicant's ID number (decrypted). A ciphertext
// that fails its integrity check (changed in the database) is an error with
// its own message, never a crash and never a wrong number.
func (a *Accounts) IDNumber(u *portal.User) (string, error) {
	id, err := a.Sealer.Open(u.IDCipher, u.IDIndex)
	if err != nil {
		return "", &portal.Error{Code: portal.EINTERNAL, Message: "error.integrity", Err: fmt.Errorf("account.IDNumber(user %d): %w", u.ID, err)}
	}
	return id, nil
}

// MaskedIDNumber returns the applicant's ID number masked for display.
func (a *Accounts) MaskedIDNumber(u *portal.User) string {
	id, err := a.IDNumber(u)
	if err != nil {
		return "******************"
	}
	return pii.MaskID(id)
}

// RevealID returns a full ID number of a case to a staff member allowed to
// see it, and audits the view: the applicant's own (field "") or one the
// case's form keeps sealed (e.g. "members[0].id_number"), which open reads
// through the service. c must come from workflow.Engine.Get, which applies
// the rules of who may see a case at all (reach, and drafts being the
// applicant's own); this checks reach again. access, if not nil, is the
// applicant's record of the reveal (workflow.Engine.Access), written with
// the audit entry when the number was shown.
func (a *Accounts) RevealID(ctx context.Context, actor portal.Actor, c *portal.Case, field string, open func() (string, error),
	access *portal.Access) (string, error) {
	if actor.User == nil || !a.Authz.Reach(actor.User, c) {
		return "", portal.NotFound(nil)
	}
	role, ok := a.Authz.Can(actor.User, c.Division, "idnumber", "reveal")
	if !ok {
		ent := audit.Entry(actor, "idnumber.reveal", "case:"+c.No, audit.ResultDenied)
		if err := a.Audit.Record(ctx, a.Store, ent); err != nil {
			return "", err
		}
		return "", portal.Errorf(portal.EFORBIDDEN, "error.forbidden", nil)
	}
	var id string
	var err error
	var detail map[string]any
	if field == "" {
		u := c.Applicant // read with the case (its sealed ID number and blind index)
		if u == nil {
			if u, err = a.Store.UserByID(ctx, c.ApplicantID); err != nil {
				return "", err
			}
		}
		id, err = a.IDNumber(u)
		detail = map[string]any{"applicant": userObject(u)}
	} else {
		id, err = open()
		if portal.ErrorCode(err) == portal.ENOTFOUND {
			return "", err // no such field: nothing was shown
		}
		// The field names a place in a list the applicant may reorder:
		// the ID number's blind index says whose number it was.
		detail = map[string]any{"field": field}
		if err == nil {
			detail["id_index"] = a.Sealer.Index(id)
		}
	}
	result := audit.ResultOK
	if err != nil {
		result = audit.ResultFailed // tampered ciphertext: audited, and an error, never a crash
	}
	ent := audit.Entry(actor, "idnumber.reveal", "case:"+c.No, result)
	ent.Role, ent.Division = role, c.Division
	aerr := a.Store.Tx(ctx, func(tx portal.Tx) error {
		if err := a.Audit.Append(ctx, tx, audit.WithDetail(ent, detail)); err != nil {
			return err
		}
		if access == nil || result != audit.ResultOK {
			return nil // nothing was shown
		}
		return tx.RecordAccess(ctx, *access)
	})
	if aerr != nil {
		return "", aerr
	}
	return id, err
}

// SetEmail sets or (with "") clears the address a person's notices are
// also sent to when the portal has a mail server. The address itself is
// not written to the audit trail, only that it changed.
func (a *Accounts) SetEmail(ctx context.Context, actor portal.Actor, email string) error {
	u := actor.User
	if u == nil {
		return portal.Errorf(portal.EUNAUTHORIZED, "error.login_required", nil)
	}
	email = strings.TrimSpace(email)
	if email != "" {
		addr, err := mail.ParseAddress(email)
		if err != nil || addr.Address != email || len(email) > 254 || addr.Name != "" {
			return portal.Invalid(portal.FieldError{Field: "email", Rule: "email"})
		}
	}
	return a.Store.Tx(ctx, func(tx portal.Tx) error {
		fresh, err := tx.UserByID(ctx, u.ID)
		if err != nil {
			return err
		}
		fresh.Email = email
		if err := tx.UpdateUser(ctx, fresh); err != nil {
			return err
		}
		detail := map[string]any{"email": "set"}
		if email == "" {
			detail["email"] = "cleared"
		}
		return a.Audit.Append(ctx, tx, audit.WithDetail(audit.Entry(actor, "account.email", userObject(u), audit.ResultOK), detail))
	})
}
