package server

import (
	"encoding/json"
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"tzportal/portal"
	"tzportal/portal/account"
)

type accountData struct {
	Values map[string]string
	Next   string
}

func (s *Server) registerPage(c *fiber.Ctx) error {
	return s.render(c, "register", s.newPage(c, "register.title", &accountData{Values: map[string]string{}}))
}

func (s *Server) register(c *fiber.Ctx) error {
	confirm := c.FormValue("password_confirm")
	r := account.Registration{Name: c.FormValue("name"), IDNumber: c.FormValue("id_number"), Mobile: c.FormValue("mobile"),
		Password: c.FormValue("password"), PasswordConfirm: &confirm}
	_, err := s.Accounts.Register(ctx(c), actor(c), r)
	if portal.ErrorCode(err) == portal.EINVALID {
		// Keep what was typed, except passwords.
		vals := map[string]string{"name": r.Name, "id_number": r.IDNumber, "mobile": r.Mobile}
		p := s.newPage(c, "register.title", &accountData{Values: vals})
		p.Errors, p.Summary = fieldMessages(c, err)
		return s.write(c, fiber.StatusUnprocessableEntity, "register", p)
	}
	if err != nil {
		return err
	}
	return redirect(c, "/login?registered=1")
}

func (s *Server) loginPage(c *fiber.Ctx) error {
	if currentUser(c) != nil {
		return redirect(c, localPath(c.Query("next"), "/cases"))
	}
	p := s.newPage(c, "login.title", &accountData{Values: map[string]string{}, Next: localPath(c.Query("next"), "")})
	if c.Query("registered") != "" {
		p.Notice = p.L.T("login.registered")
	}
	return s.render(c, "login", p)
}

// startSession logs u in: a new session id every time (no fixation), the
// old session of this browser ended.
func (s *Server) startSession(c *fiber.Ctx, u *portal.User) (string, error) {
	if old := currentSession(c); old != nil {
		if err := s.Sessions.Delete(ctx(c), old.ID); err != nil {
			return "", err
		}
	}
	sess, err := s.Sessions.Create(ctx(c), u.ID)
	if err != nil {
		return "", err
	}
	s.setSessionCookie(c, sess)
	return s.csrfToken(sess.ID), nil
}

func (s *Server) login(c *fiber.Ctx) error {
	login := c.FormValue("login")
	next := localPath(c.FormValue("next"), "")
	u, err := s.Accounts.Login(ctx(c), actor(c), login, c.FormValue("password"))
	if portal.ErrorCode(err) == portal.EUNAUTHORIZED {
		p := s.newPage(c, "login.title", &accountData{Values: map[string]string{"login": login}, Next: next})
		p.Summary = []summaryItem{{Field: "login", Message: p.L.T("error.login_failed")}}
		return s.write(c, fiber.StatusUnauthorized, "login", p)
	}
	if err != nil {
		return err
	}
	if _, err := s.startSession(c, u); err != nil {
		return err
	}
	return redirect(c, localPath(next, "/cases"))
}

func (s *Server) logout(c *fiber.Ctx) error {
	if sess := currentSession(c); sess != nil {
		if err := s.Sessions.Delete(ctx(c), sess.ID); err != nil {
			return err
		}
	}
	s.clearSessionCookie(c)
	return redirect(c, "/")
}

// userDoc is the current user as the API shows it.
type userDoc struct {
	ID     int64          `json:"id"`
	Kind   string         `json:"kind"`
	Name   string         `json:"name"`
	Roles  []string       `json:"roles"`
	Grants []portal.Grant `json:"grants,omitempty"`
}

func newUserDoc(u *portal.User) userDoc {
	return userDoc{ID: u.ID, Kind: string(u.Kind), Name: u.Name, Roles: u.Roles(), Grants: u.Grants}
}

func (s *Server) apiRegister(c *fiber.Ctx) error {
	var r account.Registration
	if err := decodeJSON(c, &r); err != nil {
		return err
	}
	u, err := s.Accounts.Register(ctx(c), actor(c), r)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"user": newUserDoc(u)})
}

func (s *Server) apiLogin(c *fiber.Ctx) error {
	var body struct {
		Login    string `json:"login"`
		Password string `json:"password"`
	}
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	u, err := s.Accounts.Login(ctx(c), actor(c), body.Login, body.Password)
	if err != nil {
		return err
	}
	token, err := s.startSession(c, u)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"user": newUserDoc(u), "roles": u.Roles(), "csrf_token": token})
}

func (s *Server) apiSession(c *fiber.Ctx) error {
	u := currentUser(c)
	out := fiber.Map{"user": newUserDoc(u), "roles": u.Roles()}
	if sess := currentSession(c); sess != nil {
		out["csrf_token"] = s.csrfToken(sess.ID)
		out["expires_at"] = sess.ExpiresAt
	}
	return c.JSON(out)
}

func (s *Server) apiLogout(c *fiber.Ctx) error {
	if sess := currentSession(c); sess != nil {
		if err := s.Sessions.Delete(ctx(c), sess.ID); err != nil {
			return err
		}
	}
	s.clearSessionCookie(c)
	return c.SendStatus(fiber.StatusNoContent)
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

// unknownField names the field of encoding/json's "unknown field" error.
func unknownField(err error) (string, bool) {
	const prefix = "json: unknown field "
	msg := err.Error()
	if !strings.HasPrefix(msg, prefix) {
		return "", false
	}
	var name string
	if json.Unmarshal([]byte(strings.TrimPrefix(msg, prefix)), &name) != nil {
		return "", false
	}
	return name, true
}
