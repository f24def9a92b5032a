package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"tzportal/portal"
	"tzportal/portal/account"
	"tzportal/portal/audit"
	"tzportal/portal/locale"
	"tzportal/portal/session"
)

// Locals keys.
const (
	localUser    = "tz.user"
	localSession = "tz.session"
	localAuthErr = "tz.autherr"
	localL       = "tz.l"
	localAPI     = "tz.api"
	localCancel  = "tz.cancel"
)

// Cookie names.
const (
	cookieLang = "tz_lang"
	cookiePre  = "tz_pre" // anonymous CSRF seed for the login and register forms
)

func (s *Server) sessionCookie() string {
	if s.CookieSecure {
		return "__Host-tz_session" // Secure, Path=/, no Domain: cannot be set by a sibling host
	}
	return "tz_session"
}

func requestID(c *fiber.Ctx) string {
	if v, ok := c.Locals("requestid").(string); ok {
		return v
	}
	return ""
}

// ctx returns the request's context, bounded by the request timeout.
func ctx(c *fiber.Ctx) context.Context { return c.UserContext() }

func (s *Server) recoverPanic(c *fiber.Ctx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			s.Logger.Error("panic", "rid", requestID(c), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = &portal.Error{Code: portal.EINTERNAL, Err: fmt.Errorf("panic: %v", p)}
		}
	}()
	return c.Next()
}

// accessLog writes one JSON line per request — request id, method, route
// (the pattern, e.g. /cases/:no: never the path, which may hold a
// certificate's token, nor the query, which may hold personal data),
// status, duration and the user's id (never a name, ID number, token or
// session id) — and observes the request for the metrics.
func (s *Server) accessLog(c *fiber.Ctx) error {
	start := time.Now()
	rctx, cancel := context.WithTimeout(context.Background(), s.RequestTimeout)
	c.SetUserContext(rctx)
	c.Locals(localCancel, cancel)
	err := c.Next()
	if err != nil {
		if herr := s.app.ErrorHandler(c, err); herr != nil {
			c.Status(fiber.StatusInternalServerError)
		}
	}
	cancel()
	took := time.Since(start)
	status := c.Response().StatusCode()
	route := routeOf(c)
	s.Metrics.Request(route, c.Method(), status, took)
	attrs := []any{"rid", requestID(c), "method", c.Method(), "route", route, "status", status,
		"duration_ms", float64(took.Microseconds()) / 1000, "ip", c.IP()}
	if u := currentUser(c); u != nil {
		attrs = append(attrs, "user", u.ID)
	}
	s.Logger.Info("request", attrs...)
	return nil
}

// routeOf is the pattern of the route that answered ("unmatched" when
// none did: a 404 of the fallback, or a request refused before routing).
func routeOf(c *fiber.Ctx) string {
	r := c.Route()
	if r == nil || r.Method == "USE" || r.Path == "" {
		return "unmatched"
	}
	return r.Path
}

// securityHeaders are on every response: pages, API, static files, errors.
func (s *Server) securityHeaders(c *fiber.Ctx) error {
	s.setSecurityHeaders(c)
	return c.Next()
}

func (s *Server) setSecurityHeaders(c *fiber.Ctx) {
	h := func(k, v string) { c.Set(k, v) }
	h("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
	h("X-Content-Type-Options", "nosniff")
	h("X-Frame-Options", "DENY")
	h("Referrer-Policy", "same-origin")
	h("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
	h("Cross-Origin-Opener-Policy", "same-origin")
	if s.CookieSecure {
		h("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
	}
	if !strings.HasPrefix(c.Path(), "/static/") {
		h(fiber.HeaderCacheControl, "no-store")
	}
}

// newRequestID makes an id for a request that never reached the requestid
// middleware.
func newRequestID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// locale picks the language: the tz_lang cookie (the switch), else for the
// API the Accept-Language header, else Chinese. HTML pages ignore
// Accept-Language: the portal is Chinese unless a person asks otherwise.
func (s *Server) locale(c *fiber.Ctx) error {
	lang := locale.Match(c.Cookies(cookieLang))
	if lang == "" && strings.HasPrefix(c.Path(), "/api/") {
		lang = locale.FromAcceptLanguage(c.Get(fiber.HeaderAcceptLanguage))
	}
	c.Locals(localL, s.Catalog.L(lang))
	return c.Next()
}

func loc(c *fiber.Ctx) *locale.L { return c.Locals(localL).(*locale.L) }

func (s *Server) markAPI(c *fiber.Ctx) error {
	c.Locals(localAPI, true)
	return c.Next()
}

func isAPI(c *fiber.Ctx) bool {
	v, _ := c.Locals(localAPI).(bool)
	return v || strings.HasPrefix(c.Path(), "/api/")
}

func currentUser(c *fiber.Ctx) *portal.User {
	u, _ := c.Locals(localUser).(*portal.User)
	return u
}

func currentSession(c *fiber.Ctx) *session.Session {
	v, _ := c.Locals(localSession).(*session.Session)
	return v
}

func actor(c *fiber.Ctx) portal.Actor { return portal.Actor{User: currentUser(c), IP: c.IP()} }

// authenticate finds the user: a system account's bearer token (on the
// API only: a system has no pages), or the session cookie. A session store
// or database that does not answer is kept as an error: public pages go on,
// pages that need a login answer 503.
func (s *Server) authenticate(c *fiber.Ctx) error {
	if h := c.Get(fiber.HeaderAuthorization); strings.HasPrefix(h, "Bearer ") && strings.HasPrefix(c.Path(), "/api/") {
		u, err := s.Store.UserByTokenHash(ctx(c), account.TokenHash(strings.TrimPrefix(h, "Bearer ")))
		switch {
		case err == nil && u.Kind == portal.KindSystem && u.DisabledAt == nil:
			if err := s.Authz.Sync(u); err != nil {
				return err
			}
			c.Locals(localUser, u)
		case err == nil || portal.ErrorCode(err) == portal.ENOTFOUND:
			return portal.Errorf(portal.EUNAUTHORIZED, "error.bad_token", nil)
		default:
			c.Locals(localAuthErr, err)
		}
		return c.Next()
	}
	id := c.Cookies(s.sessionCookie())
	if id == "" {
		return c.Next()
	}
	sess, err := s.Sessions.Get(ctx(c), id)
	switch portal.ErrorCode(err) {
	case "":
	case portal.ENOTFOUND:
		s.clearSessionCookie(c)
		return c.Next()
	default:
		c.Locals(localAuthErr, err)
		return c.Next()
	}
	u, err := s.Store.UserByID(ctx(c), sess.UserID)
	if err != nil || u.DisabledAt != nil {
		if err != nil && portal.ErrorCode(err) != portal.ENOTFOUND {
			c.Locals(localAuthErr, err)
			return c.Next()
		}
		s.Sessions.Delete(ctx(c), sess.ID)
		s.clearSessionCookie(c)
		return c.Next()
	}
	if err := s.Authz.Sync(u); err != nil {
		return err
	}
	c.Locals(localUser, u)
	c.Locals(localSession, sess)
	return c.Next()
}

// auditSystem records every API call of another system (a system account
// with a bearer token) in the audit trail, under the system's name: what
// it asked, and what it got. People's reads are not recorded one by one;
// a system's are, because nobody watches it click.
func (s *Server) auditSystem(c *fiber.Ctx) error {
	u := currentUser(c)
	if u == nil || u.Kind != portal.KindSystem {
		return c.Next()
	}
	err := c.Next()
	st := c.Response().StatusCode()
	if err != nil {
		st = status(classify(err).Code)
	}
	result := audit.ResultOK
	switch {
	case st == fiber.StatusUnauthorized || st == fiber.StatusForbidden || st == fiber.StatusNotFound:
		result = audit.ResultDenied
	case st >= 300:
		result = audit.ResultFailed
	}
	ent := audit.Entry(actor(c), "api."+strings.ToLower(c.Method()), c.Path(), result)
	ent = audit.WithDetail(ent, map[string]any{"status": st, "query": string(c.Request().URI().QueryString()), "rid": requestID(c)})
	if aerr := s.Engine.Audit.Record(context.WithoutCancel(ctx(c)), s.Store, ent); aerr != nil {
		// The call is done (a transition committed its own entry): answer
		// what happened, and tell the operator which call went unrecorded.
		s.Logger.Error("audit: a system's call is not recorded", "rid", requestID(c), "system", u.Login, "method", c.Method(),
			"path", c.Path(), "status", st, "err", aerr)
	}
	return err
}

// requireLogin lets only logged-in users through: others are sent to the
// login page (HTML) or get 401 (API); if sessions cannot be checked, 503.
func (s *Server) requireLogin(c *fiber.Ctx) error {
	if err, ok := c.Locals(localAuthErr).(error); ok {
		return err
	}
	if currentUser(c) != nil {
		return c.Next()
	}
	if isAPI(c) {
		return portal.Errorf(portal.EUNAUTHORIZED, "error.login_required", nil)
	}
	return c.Redirect("/login?next="+urlQueryEscape(c.OriginalURL()), fiber.StatusSeeOther)
}

func (s *Server) setSessionCookie(c *fiber.Ctx, sess *session.Session) {
	c.Cookie(&fiber.Cookie{Name: s.sessionCookie(), Value: sess.ID, Path: "/", HTTPOnly: true,
		Secure: s.CookieSecure, SameSite: fiber.CookieSameSiteLaxMode, SessionOnly: true})
}

func (s *Server) clearSessionCookie(c *fiber.Ctx) {
	c.Cookie(&fiber.Cookie{Name: s.sessionCookie(), Value: "", Path: "/", HTTPOnly: true, Secure: s.CookieSecure,
		SameSite: fiber.CookieSameSiteLaxMode, Expires: time.Unix(1, 0), MaxAge: -1})
}

// csrfToken is bound to the session: an HMAC of its id, so it needs no
// storage and is the same on every node.
func (s *Server) csrfToken(sessionID string) string {
	return mac(s.CSRFKey, "session:"+sessionID)
}

// mac is the base64url HMAC-SHA256 of msg under key: the CSRF tokens and
// the login ticket. Compare with hmac.Equal.
func mac(key []byte, msg string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// preToken protects the login and register forms (login CSRF) before any
// session exists, with a random cookie and its HMAC in the form.
func (s *Server) preToken(c *fiber.Ctx) string {
	seed := c.Cookies(cookiePre)
	if len(seed) < 32 {
		b := make([]byte, 24)
		rand.Read(b)
		seed = base64.RawURLEncoding.EncodeToString(b)
		c.Cookie(&fiber.Cookie{Name: cookiePre, Value: seed, Path: "/", HTTPOnly: true, Secure: s.CookieSecure,
			SameSite: fiber.CookieSameSiteLaxMode, SessionOnly: true})
	}
	return mac(s.CSRFKey, "pre:"+seed)
}

// formToken is the token a page's forms carry.
func (s *Server) formToken(c *fiber.Ctx) string {
	if sess := currentSession(c); sess != nil {
		return s.csrfToken(sess.ID)
	}
	return s.preToken(c)
}

// csrf refuses unsafe requests without the right token: the session's token
// in the _csrf form field or the X-CSRF-Token header. Bearer-token clients
// carry no ambient credentials and need none. Before login, HTML forms
// carry the pre-session token.
func (s *Server) csrf(c *fiber.Ctx) error {
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions:
		return c.Next()
	}
	if u := currentUser(c); u != nil && u.Kind == portal.KindSystem {
		return c.Next()
	}
	if c.Get("Sec-Fetch-Site") == "cross-site" {
		return csrfError()
	}
	got := c.Get("X-CSRF-Token")
	if got == "" {
		got = c.FormValue("_csrf")
	}
	if sess := currentSession(c); sess != nil {
		if !hmac.Equal([]byte(got), []byte(s.csrfToken(sess.ID))) {
			return csrfError()
		}
		return c.Next()
	}
	if isAPI(c) {
		// No session, so no ambient credentials to abuse; the public API
		// endpoints (register, login) only read JSON bodies, which a
		// cross-site form cannot send without a CORS preflight we never allow.
		return c.Next()
	}
	if err, ok := c.Locals(localAuthErr).(error); ok {
		return err // the session could not be checked: 503, not "forged request"
	}
	seed := c.Cookies(cookiePre)
	if seed == "" || !hmac.Equal([]byte(got), []byte(mac(s.CSRFKey, "pre:"+seed))) {
		return csrfError()
	}
	return c.Next()
}

func csrfError() error {
	return &portal.Error{Code: portal.EFORBIDDEN, Message: "error.csrf"}
}

// uploadOverhead is what a multipart request carries beside its file.
const uploadOverhead = 64 << 10

// isUpload reports a request URI whose path takes a file:
// /cases/<no>/materials, also under /api/v1.
func isUpload(uri string) bool {
	p, _, _ := strings.Cut(uri, "?")
	p = strings.TrimPrefix(p, "/api/v1")
	rest, ok := strings.CutPrefix(p, "/cases/")
	if !ok {
		return false
	}
	no, tail, _ := strings.Cut(rest, "/")
	return portal.ValidCaseNo(no) && tail == "materials"
}
