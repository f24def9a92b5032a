package server

import (
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"html/template"
	"strings"
	"time"

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
	res, err := s.Accounts.Login(ctx(c), actor(c), login, c.FormValue("password"), "")
	switch portal.ErrorCode(err) {
	case "":
	case portal.EUNAUTHORIZED, portal.ETOOMANY:
		p := s.newPage(c, "login.title", &accountData{Values: map[string]string{"login": login}, Next: next})
		p.Summary = []summaryItem{{Field: "login", Message: p.L.Error(portal.AsError(err))}}
		return s.write(c, status(portal.ErrorCode(err)), "login", p)
	default:
		return err
	}
	if res.Need != "" {
		return s.otpPage(c, res, next, fiber.StatusOK, nil)
	}
	if _, err := s.startSession(c, res.User); err != nil {
		return err
	}
	return redirect(c, localPath(next, "/cases"))
}

type otpData struct {
	Ticket string
	Next   string
	Setup  *account.Enrollment // the app is being set up: show the secret once
	// QR is Setup's QR code. html/template blocks data: URLs in strings; this
	// one the server made itself, so it may pass.
	QR template.URL
}

// otpPage asks a staff member whose password was right for the one-time
// code, first showing a new secret if their app is not set up yet.
func (s *Server) otpPage(c *fiber.Ctx, res *account.LoginResult, next string, status int, err error) error {
	d := &otpData{Ticket: s.ticket(res.User.ID), Next: next}
	if res.Need == account.NeedTOTPSetup {
		en, err := s.Accounts.BeginTOTPSetup(ctx(c), res.User)
		if err != nil {
			return err
		}
		d.Setup, d.QR = en, template.URL(en.QR)
	}
	p := s.newPage(c, "otp.title", d)
	if err != nil {
		p.Summary = []summaryItem{{Field: "otp", Message: p.L.Error(portal.AsError(err))}}
		p.Errors = map[string]string{"otp": p.Summary[0].Message}
	}
	return s.write(c, status, "otp", p)
}

func (s *Server) loginOTP(c *fiber.Ctx) error {
	next := localPath(c.FormValue("next"), "")
	userID, ok := s.checkTicket(c.FormValue("ticket"))
	if !ok {
		return redirect(c, "/login?expired=1")
	}
	u, err := s.Accounts.VerifyTOTP(ctx(c), actor(c), userID, strings.TrimSpace(c.FormValue("otp")))
	if portal.ErrorCode(err) == portal.EUNAUTHORIZED && u != nil {
		res := &account.LoginResult{User: u, Need: account.NeedTOTP}
		if u.TOTPConfirmedAt == nil {
			res.Need = account.NeedTOTPSetup
		}
		return s.otpPage(c, res, next, fiber.StatusUnauthorized, err)
	} else if err != nil {
		return err
	}
	if _, err := s.startSession(c, u); err != nil {
		return err
	}
	return redirect(c, localPath(next, "/cases"))
}

// ticket proves, for five minutes, that this user's password was right; it
// carries nothing secret and is useless without a valid one-time code.
func (s *Server) ticket(userID int64) string {
	body := fmt.Sprintf("%d.%d", userID, s.Now().Add(5*time.Minute).Unix())
	return body + "." + mac(s.TicketKey, body)
}

func (s *Server) checkTicket(t string) (int64, bool) {
	i := strings.LastIndex(t, ".")
	if i < 0 {
		return 0, false
	}
	body := t[:i]
	if !hmac.Equal([]byte(t[i+1:]), []byte(mac(s.TicketKey, body))) {
		return 0, false
	}
	var id, exp int64
	if _, err := fmt.Sscanf(body, "%d.%d", &id, &exp); err != nil || s.Now().Unix() > exp {
		return 0, false
	}
	return id, true
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

// loginBody is POST /api/v1/session (otp: staff's one-time code).
type loginBody struct {
	Login    string `json:"login"`
	Password string `json:"password"`
	OTP      string `json:"otp"`
}

func (s *Server) apiLogin(c *fiber.Ctx) error {
	var body loginBody
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	res, err := s.Accounts.Login(ctx(c), actor(c), body.Login, body.Password, strings.TrimSpace(body.OTP))
	if err != nil {
		return err
	}
	switch res.Need {
	case account.NeedTOTP:
		return &portal.Error{Code: portal.EUNAUTHORIZED, Rule: "otp_required", Message: "error.otp_required"}
	case account.NeedTOTPSetup:
		return &portal.Error{Code: portal.EUNAUTHORIZED, Rule: "otp_setup_required", Message: "error.otp_setup_required"}
	}
	u := res.User
	token, err := s.startSession(c, u)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"user": newUserDoc(u), "roles": u.Roles(), "csrf_token": token})
}

// accountPage shows a person their own account: applicants see their own
// full ID number (the masked one is for everyone else).
func (s *Server) accountPage(c *fiber.Ctx) error {
	return s.accountPageWith(c, fiber.StatusOK, &accountView{Email: currentUser(c).Email, Done: c.Query("done")}, nil)
}

// accountPageWith renders the account page; a refused email address is
// shown again as typed, with its message next to it.
func (s *Server) accountPageWith(c *fiber.Ctx, status int, d *accountView, err error) error {
	u := currentUser(c)
	d.Name, d.Mobile, d.Login, d.Grants, d.Applicant = u.Name, u.Mobile, u.Login, u.Grants, u.Kind == portal.KindApplicant
	if u.Kind == portal.KindApplicant {
		id, err := s.Accounts.IDNumber(u)
		if err != nil {
			return err
		}
		d.IDNumber = id
		granted, err := s.Engine.Granted(ctx(c), actor(c))
		if err != nil {
			return err
		}
		l := loc(c)
		for _, g := range granted {
			def, _ := s.Engine.Definition(g.Service)
			doc := &caseDoc{CaseNo: g.No, Service: g.Service, ServiceName: serviceName(l, g.Service), State: g.State,
				StateLabel: stateLabel(l, g.Service, g.State), Tone: def.Tone(g.State), Outcome: def.Outcome(g.State), L: l}
			json.Unmarshal(g.Result, &doc.Results) // a result that does not decode shows no panel
			d.Results = append(d.Results, doc)
		}
	}
	p := s.newPage(c, "account.title", d)
	if err != nil {
		p.Errors, p.Summary = fieldMessages(c, err)
	}
	return s.write(c, status, "account", p)
}

type accountView struct {
	Name, IDNumber, Mobile, Login string
	Grants                        []portal.Grant
	Results                       []*caseDoc // what the applicant was granted: permits, settlement
	// Email is the address notices also go to (as typed, after a refusal).
	Email     string
	Applicant bool
	Done      string
}

// setEmail is the account page's form for the address notices also go to.
func (s *Server) setEmail(c *fiber.Ctx) error {
	email := c.FormValue("email")
	if err := s.Accounts.SetEmail(ctx(c), actor(c), email); err != nil {
		if portal.ErrorCode(err) != portal.EINVALID {
			return err
		}
		return s.accountPageWith(c, fiber.StatusUnprocessableEntity, &accountView{Email: email}, err)
	}
	return redirect(c, "/account?done=email")
}

func (s *Server) apiSession(c *fiber.Ctx) error {
	u := currentUser(c)
	out := fiber.Map{"user": newUserDoc(u), "roles": u.Roles()}
	if u.Kind == portal.KindApplicant {
		// Their own: applicants see it whole. A number that fails its
		// integrity check is left out (and logged) rather than locking the
		// person out of the API; /account shows the error.
		if id, err := s.Accounts.IDNumber(u); err == nil {
			out["id_number"] = id
		} else {
			s.Logger.Error("id number", "rid", requestID(c), "user", u.ID, "err", err)
		}
	}
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
