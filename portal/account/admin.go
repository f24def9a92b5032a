package account

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"tzportal/portal"
	"tzportal/portal/audit"
)

// Administration of staff and system accounts: the admin pages
// (/admin/…) and the command line (portal staff …) call the same methods.
// An administrator manages accounts and grants; deciding cases is no part
// of it (policies/policy.csv gives the admin role nothing on cases).

// adminLabels is the message-id prefix of the administration forms' fields.
const adminLabels = "admin.field"

// fieldError is an EINVALID error on one field of an administration form;
// cause keeps the English sentence the command line prints.
func fieldError(field, rule, param string, cause error) error {
	e := portal.Invalid(portal.FieldError{Field: field, Rule: rule, Param: param})
	e.Labels, e.Err = adminLabels, cause
	return e
}

// invalid gathers the field errors of a form, so that every wrong field is
// told at once.
type invalid struct {
	fields []portal.FieldError
	causes []error
}

func (v *invalid) check(err error) {
	if err == nil {
		return
	}
	if e := portal.AsError(err); e != nil && e.Code == portal.EINVALID {
		v.fields = append(v.fields, e.Fields...)
		if e.Err != nil {
			v.causes = append(v.causes, e.Err)
		}
		return
	}
	v.causes = append(v.causes, err)
}

func (v *invalid) err() error {
	if len(v.fields) == 0 && len(v.causes) == 0 {
		return nil
	}
	if len(v.fields) == 0 {
		return errors.Join(v.causes...)
	}
	e := portal.Invalid(v.fields...)
	e.Labels, e.Err = adminLabels, errors.Join(v.causes...)
	return e
}

func checkLogin(login string) error {
	if !loginRE.MatchString(login) {
		return fieldError("login", "login", "",
			fmt.Errorf("login %q: use 3–32 lower-case letters, digits, '_', '.' or '-', starting with a letter", login))
	}
	return nil
}

func checkName(name string) error {
	switch {
	case name == "":
		return fieldError("name", "required", "", errors.New("name: required"))
	case len([]rune(name)) > 50 || strings.ContainsAny(name, "\r\n\t\x00"):
		return fieldError("name", "max", "50", errors.New("name: at most 50 characters on one line"))
	}
	return nil
}

// mayAdminister answers 404 to anyone without the admin role at the city
// (policy "staff, manage"): the pages do not exist for them. An actor
// without a user is the operator on the command line, trusted as the
// command line is.
func (a *Accounts) mayAdminister(actor portal.Actor) error {
	if actor.User == nil {
		return nil
	}
	if _, ok := a.Authz.Can(actor.User, a.Authz.Divisions().Root, "staff", "manage"); !ok {
		return portal.NotFound(nil)
	}
	return nil
}

// MayAdminister reports whether the user administers accounts (the menu).
func (a *Accounts) MayAdminister(u *portal.User) bool {
	return u != nil && a.mayAdminister(portal.Actor{User: u}) == nil
}

func isSelf(actor portal.Actor, u *portal.User) bool {
	return actor.User != nil && actor.User.ID == u.ID
}

// Divisioner is the part of authz that names the city (the admin's grant).
type Divisioner interface {
	Divisions() *portal.Divisions
}

// asAdmin records an administrator's entry under the admin role at the
// city, whatever grant of theirs comes first.
func asAdmin(e portal.AuditEntry, actor portal.Actor, d Divisioner) portal.AuditEntry {
	if actor.User != nil && actor.User.HasRole("admin") {
		e.Role, e.Division = "admin", d.Divisions().Root
	}
	return e
}

// newToken makes a system account's API token.
func newToken() (string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	return "tzs_" + base64.RawURLEncoding.EncodeToString(raw), nil
}

// ListAccounts returns the staff and system accounts f selects.
func (a *Accounts) ListAccounts(ctx context.Context, actor portal.Actor, f portal.AccountFilter) ([]portal.User, error) {
	if err := a.mayAdminister(actor); err != nil {
		return nil, err
	}
	if r := []rune(strings.ToValidUTF8(f.Q, "")); len(r) > 64 {
		f.Q = string(r[:64])
	} else {
		f.Q = string(r)
	}
	return a.Store.Accounts(ctx, f)
}

// Account returns one staff or system account by login.
func (a *Accounts) Account(ctx context.Context, actor portal.Actor, login string) (*portal.User, error) {
	if err := a.mayAdminister(actor); err != nil {
		return nil, err
	}
	return a.staffByLogin(ctx, login)
}

// ResetTOTP gives a staff member a new one-time-code secret (a lost or
// replaced phone) and returns it, to be handed over once; the old app's
// codes stop working at once, and so do the person's sessions.
func (a *Accounts) ResetTOTP(ctx context.Context, actor portal.Actor, login string) (*Enrollment, error) {
	if err := a.mayAdminister(actor); err != nil {
		return nil, err
	}
	u, err := a.staffByLogin(ctx, login)
	if err != nil {
		return nil, err
	}
	if u.Kind != portal.KindStaff {
		return nil, portal.RuleError("not_staff", "admin.error.not_staff", nil)
	}
	en, err := newEnrollment(u.Login)
	if err != nil {
		return nil, err
	}
	if u.TOTPSecret, err = a.sealSecret(en.Secret); err != nil {
		return nil, err
	}
	now := a.Now()
	u.TOTPConfirmedAt = &now // handed over by the administrator
	err = a.Store.Tx(ctx, func(tx portal.Tx) error {
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		return a.Audit.Append(ctx, tx, asAdmin(audit.Entry(actor, "staff.totp_reset", userObject(u), audit.ResultOK), actor, a.Authz))
	})
	if err != nil {
		return nil, err
	}
	return en, a.endSessions(ctx, u)
}

// RotateToken gives a system account a new API token and returns it, shown
// once; the old token stops working with the next request on every node
// (each request looks its token up in the database).
func (a *Accounts) RotateToken(ctx context.Context, actor portal.Actor, login string) (string, error) {
	if err := a.mayAdminister(actor); err != nil {
		return "", err
	}
	u, err := a.staffByLogin(ctx, login)
	if err != nil {
		return "", err
	}
	if u.Kind != portal.KindSystem {
		return "", portal.RuleError("not_system", "admin.error.not_system", nil)
	}
	if u.DisabledAt != nil {
		return "", portal.RuleError("disabled", "admin.error.disabled", nil)
	}
	token, err := newToken()
	if err != nil {
		return "", err
	}
	u.TokenHash = TokenHash(token)
	err = a.Store.Tx(ctx, func(tx portal.Tx) error {
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		return a.Audit.Append(ctx, tx, asAdmin(audit.Entry(actor, "system.rotate", userObject(u), audit.ResultOK), actor, a.Authz))
	})
	if err != nil {
		return "", err
	}
	return token, nil
}
