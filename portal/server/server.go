// Package server is the portal's HTTP face: server-rendered HTML pages that
// work without JavaScript, and their JSON twins under /api/v1. Both call the
// same services; a handler parses, calls, and renders. errors.go is the one
// place that maps an error to a status, a page and a problem document.
package server

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/requestid"
	"github.com/valyala/fasthttp"

	"tzportal/portal"
	"tzportal/portal/account"
	"tzportal/portal/authz"
	"tzportal/portal/certificate"
	"tzportal/portal/division"
	"tzportal/portal/locale"
	"tzportal/portal/metrics"
	"tzportal/portal/rating"
	"tzportal/portal/session"
	"tzportal/portal/unitstock"
	"tzportal/portal/workflow"
)

// Deps are the services the server calls.
type Deps struct {
	Store    portal.Store
	Sessions session.Store
	Engine   *workflow.Engine
	Accounts *account.Accounts
	Ratings  *rating.Ratings  // 好差评
	Tree     *division.Tree   // the division tree's administration
	Units    *unitstock.Stock // the housing stock's administration
	Authz    *authz.Authz
	Catalog  *locale.Catalog
	Counties *portal.Counties // China's counties, for hukou origins
	// Templates are the folders of services shipped with their own files
	// (their services/<service>/*.html), beside web/templates.
	Templates []fs.FS
	Logger    *slog.Logger
	Now       func() time.Time

	CSRFKey        []byte
	TicketKey      []byte // signs the ticket between a staff login's password and its one-time code
	CookieSecure   bool
	TrustedProxies []string
	// Ready reports whether the dependencies answer (for /readyz).
	Ready func(ctx context.Context) error
	// RequestTimeout bounds the work of one request (default 10 s).
	RequestTimeout time.Duration

	// PublicURL is where people reach the portal: certificates' QR codes
	// point at PublicURL/verify/<token>.
	PublicURL string
	// Zone is the city's time zone (dates people read).
	Zone *time.Location
	// Signer verifies certificates' tokens and publishes the key.
	Signer *certificate.Signer
	// Counter throttles public certificate checks per address.
	Counter         session.Counter
	VerifyPerMinute int
	// Metrics observes every request (nil: none). With MetricsToken set
	// they are also served at /metrics to a scrape bearing the token.
	Metrics      *metrics.Metrics
	MetricsToken string
}

// Server is the fiber app with its dependencies.
type Server struct {
	Deps
	app   *fiber.App
	views *views
	menu  []menuLink // services' pages in the navigation
	// openapi is GET /api/v1/openapi.json, made once at start.
	openapi []byte
}

// New builds the app and its routes.
func New(d Deps) (*Server, error) {
	if d.RequestTimeout == 0 {
		d.RequestTimeout = 10 * time.Second
	}
	if d.Zone == nil {
		d.Zone = time.Local
	}
	s := &Server{Deps: d}
	v, err := loadViews(s.funcs(), d.Templates...)
	if err != nil {
		return nil, err
	}
	// A service without its form or result panel would fail on its first
	// page: it stops start-up instead.
	for _, e := range d.Engine.Registry.Online() {
		for _, name := range []string{e.ID + "/form", e.ID + "/result"} {
			if v.pages["case"].Lookup(name) == nil {
				return nil, fmt.Errorf("server: service %s has no template %q (web/templates/services/%s/)", e.ID, name, e.ID)
			}
		}
	}
	s.views = v
	cfg := fiber.Config{
		// Strings from Params/Query/FormValue are otherwise borrowed from a
		// buffer fasthttp reuses after the handler returns.
		Immutable:    true,
		ErrorHandler: s.handleError,
		ReadTimeout:  15 * time.Second,
		WriteTimeout: 30 * time.Second,
		IdleTimeout:  60 * time.Second,
		// An upload's whole request; other requests are held to 1 MiB
		// (HeaderReceived below).
		BodyLimit:             int(max(1<<20, d.Engine.MaxUpload()+uploadOverhead)),
		ReadBufferSize:        16 << 10, // long filter URLs fit; longer ones get 413, not 500
		DisableStartupMessage: true,
		AppName:               "tzportal",
	}
	if len(d.TrustedProxies) > 0 {
		cfg.EnableTrustedProxyCheck = true
		cfg.TrustedProxies = d.TrustedProxies
		cfg.ProxyHeader = fiber.HeaderXForwardedFor
	}
	s.app = fiber.New(cfg)
	// Every request but an upload of materials is held to 1 MiB, refused
	// by its Content-Length before its body is read (fasthttp asks per
	// request, once the headers are in).
	s.app.Server().HeaderReceived = func(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
		if string(h.Method()) == fiber.MethodPost && isUpload(string(h.RequestURI())) {
			return fasthttp.RequestConfig{}
		}
		return fasthttp.RequestConfig{MaxRequestBodySize: 1 << 20}
	}
	s.routes()
	if s.openapi, err = json.Marshal(s.openAPI()); err != nil {
		return nil, fmt.Errorf("server: the OpenAPI document: %w", err)
	}
	return s, nil
}

// App returns the fiber app (for tests and Listen).
func (s *Server) App() *fiber.App { return s.app }

// Listen serves on addr until Shutdown.
func (s *Server) Listen(addr string) error { return s.app.Listen(addr) }

// Serve serves on a listener until Shutdown (tests use port 0).
func (s *Server) Serve(ln net.Listener) error { return s.app.Listener(ln) }

// Shutdown stops accepting requests and waits for those in flight.
func (s *Server) Shutdown(timeout time.Duration) error { return s.app.ShutdownWithTimeout(timeout) }

func (s *Server) routes() {
	app := s.app
	app.Use(requestid.New(requestid.Config{
		// Never adopt the client's id: it would go into our logs unchecked.
		Next: func(c *fiber.Ctx) bool { c.Request().Header.Del(fiber.HeaderXRequestID); return false },
	}))
	app.Use(s.accessLog)    // one line per request, panics included
	app.Use(s.recoverPanic) // a panic becomes a generic 500 with the request id
	app.Use(s.securityHeaders)

	app.Get("/healthz", func(c *fiber.Ctx) error { return c.SendString("ok") })
	app.Get("/readyz", s.readyz)
	if s.Metrics != nil && s.MetricsToken != "" {
		app.Get("/metrics", adaptor.HTTPHandler(s.Metrics.Handler(s.MetricsToken)))
	}
	s.staticRoutes(app)

	app.Use(s.locale, s.authenticate, s.csrf)

	// HTML pages.
	app.Get("/", s.home)
	app.Get("/services/:service", s.guide)
	app.Get("/lang", s.switchLanguage)
	app.Get("/register", s.registerPage)
	app.Post("/register", s.register)
	app.Get("/login", s.loginPage)
	app.Post("/login", s.login)
	app.Post("/login/otp", s.loginOTP)
	app.Post("/logout", s.logout)
	app.Get("/account", s.requireLogin, s.accountPage)
	app.Post("/account/email", s.requireLogin, s.setEmail)
	app.Get("/cases", s.requireLogin, s.casesPage)
	app.Get("/cases/new", s.requireLogin, s.newCasePage)
	app.Post("/cases/filters", s.requireLogin, s.saveFilter)
	app.Post("/cases/filters/delete", s.requireLogin, s.deleteFilter)
	app.Post("/cases", s.requireLogin, s.createCase)
	app.Post("/cases/events/:event", s.requireLogin, s.fireBulk) // before /cases/:no/…
	app.Get("/cases/:no", s.requireLogin, s.casePage)
	app.Get("/cases/:no/edit", s.requireLogin, s.editCasePage)
	app.Post("/cases/:no/edit", s.requireLogin, s.editCase)
	app.Post("/cases/:no/events/:event", s.requireLogin, s.fireEvent)
	app.Post("/cases/:no/claim", s.requireLogin, s.claimPage)
	app.Post("/cases/:no/release", s.requireLogin, s.releasePage)
	app.Post("/cases/:no/assign", s.requireLogin, s.assignPage)
	app.Post("/cases/:no/reveal", s.requireLogin, s.revealID)
	app.Get("/cases/:no/audit", s.requireLogin, s.auditPage)
	app.Get("/cases/:no/materials", s.requireLogin, s.materialsPage)
	app.Post("/cases/:no/materials", s.requireLogin, s.uploadMaterial)
	app.Get("/cases/:no/materials/:id", s.requireLogin, s.material)
	app.Post("/cases/:no/materials/:id/delete", s.requireLogin, s.deleteMaterial)
	app.Get("/cases/:no/certificate", s.requireLogin, s.certificatePage)
	app.Post("/cases/:no/certificate/cancel", s.requireLogin, s.cancelCertificate)
	app.Get("/inbox", s.requireLogin, s.inboxPage)
	app.Post("/inbox/:id/read", s.requireLogin, s.readNotice)
	app.Get("/verify/:token", s.verifyPage)
	app.Get("/indicators", s.indicatorsPage)
	app.Get("/oversight/deadlines", s.requireLogin, s.deadlinesPage)
	s.menu = append(s.menu, menuLink{Label: "deadlines.menu", Href: "/oversight/deadlines", For: s.mayReadDeadlines})
	app.Get("/oversight/reviews", s.requireLogin, s.reviewsPage)
	app.Post("/oversight/reviews/:sample/:case", s.requireLogin, s.postFinding)
	s.menu = append(s.menu, menuLink{Label: "review.menu", Href: "/oversight/reviews",
		For: func(u *portal.User) bool { return s.Engine.MayReview(portal.Actor{User: u}) }})
	app.Post("/cases/:no/rating", s.requireLogin, s.rate)
	app.Get("/oversight/ratings", s.requireLogin, s.ratingsPage)
	app.Post("/oversight/ratings/:no/:step", s.requireLogin, s.followUp)
	app.Get("/audit", s.requireLogin, s.auditViewPage)
	app.Get("/audit.csv", s.requireLogin, s.auditCSV)
	app.Post("/audit/verify", s.requireLogin, s.auditVerify)
	s.menu = append(s.menu, menuLink{Label: "auditview.menu", Href: "/audit", For: s.mayReadAudit})
	app.Get("/oversight/stats", s.requireLogin, s.statsPage)
	app.Get("/oversight/stats/staff", s.requireLogin, s.statsStaffPage)
	s.menu = append(s.menu, menuLink{Label: "stats.menu", Href: "/oversight/stats", For: s.mayReadStats})
	s.serviceScreens(app)
	s.menu = append(s.menu, menuLink{Label: "rating.menu", Href: "/oversight/ratings", For: func(u *portal.User) bool {
		f := s.Authz.Scope(u, "rating", "follow_up")
		return f.AllScope || len(f.Scope) > 0
	}})

	// The JSON API: the same services, the same rules.
	api := app.Group("/api/v1", s.markAPI, s.auditSystem)
	api.Get("/services", s.apiServices)
	api.Get("/divisions", s.apiDivisions)
	api.Post("/accounts", s.apiRegister)
	api.Post("/session", s.apiLogin)
	api.Get("/session", s.requireLogin, s.apiSession)
	api.Delete("/session", s.requireLogin, s.apiLogout)
	api.Get("/cases", s.requireLogin, s.apiListCases)
	api.Post("/cases", s.requireLogin, s.apiCreateCase)
	api.Get("/cases/counts", s.requireLogin, s.apiCaseCounts)       // before /cases/:no
	api.Post("/cases/events/:event", s.requireLogin, s.apiFireBulk) // before /cases/:no/…
	api.Get("/cases/:no", s.requireLogin, s.apiGetCase)
	api.Put("/cases/:no/form", s.requireLogin, s.apiEditCase)
	api.Post("/cases/:no/events/:event", s.requireLogin, s.apiFireEvent)
	api.Post("/cases/:no/claim", s.requireLogin, s.apiClaim)
	api.Delete("/cases/:no/claim", s.requireLogin, s.apiRelease)
	api.Post("/cases/:no/assign", s.requireLogin, s.apiAssign)
	api.Post("/cases/:no/reveal", s.requireLogin, s.apiRevealID)
	api.Get("/cases/:no/access-log", s.requireLogin, s.apiAccessLog)
	api.Get("/audit", s.requireLogin, s.apiAudit)
	api.Get("/cases/:no/materials", s.requireLogin, s.apiMaterials)
	api.Post("/cases/:no/materials", s.requireLogin, s.apiUploadMaterial)
	api.Get("/cases/:no/materials/:id", s.requireLogin, s.material)
	api.Delete("/cases/:no/materials/:id", s.requireLogin, s.apiDeleteMaterial)
	api.Get("/cases/:no/certificate", s.requireLogin, s.apiCertificate)
	api.Post("/cases/:no/certificate/cancel", s.requireLogin, s.apiCancelCertificate)
	api.Get("/notifications", s.requireLogin, s.apiNotifications)
	api.Post("/notifications/:id/read", s.requireLogin, s.apiMarkRead)
	api.Get("/reviews", s.requireLogin, s.apiReviews)
	api.Post("/reviews/:sample/:case", s.requireLogin, s.apiFinding)
	api.Get("/openapi.json", s.apiOpenAPI)
	api.Get("/verify/key", s.apiVerifyKey)
	api.Get("/verify/:token", s.apiVerify)
	api.Get("/indicators", s.apiIndicators)
	api.Get("/stats/aging", s.requireLogin, s.apiAging)
	api.Get("/stats/overview", s.requireLogin, s.apiStatsOverview)
	api.Get("/stats/clerks", s.requireLogin, s.apiStatsClerks)
	api.Get("/stats/reveals", s.requireLogin, s.apiStatsReveals)
	api.Get("/stats/:report.csv", s.requireLogin, s.apiStatsCSV)
	api.Post("/cases/:no/rating", s.requireLogin, s.apiRate)
	api.Get("/cases/:no/rating", s.requireLogin, s.apiRating)
	api.Post("/cases/:no/rating/follow-up/:step", s.requireLogin, s.apiFollowUp)
	api.Get("/ratings", s.requireLogin, s.apiRatings)
	s.serviceEndpoints(api)
	s.adminRoutes(app, api)
	s.housingUnitRoutes(app, api)
	api.Use(func(c *fiber.Ctx) error { return fiber.ErrNotFound })

	app.Use(func(c *fiber.Ctx) error { return fiber.ErrNotFound })
}

func (s *Server) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.Ready(ctx); err != nil {
		s.Logger.Warn("not ready", "err", err, "rid", requestID(c))
		c.Set(fiber.HeaderRetryAfter, "5")
		return c.Status(fiber.StatusServiceUnavailable).SendString("unavailable")
	}
	return c.SendString("ready")
}

// funcs are the template functions.
func (s *Server) funcs() template.FuncMap {
	return template.FuncMap{
		"t": func(l *locale.L, id string, kv ...any) string {
			if len(kv) == 0 {
				return l.T(id)
			}
			data := map[string]any{}
			for i := 0; i+1 < len(kv); i += 2 {
				if k, ok := kv[i].(string); ok {
					data[k] = kv[i+1]
				}
			}
			return l.T(id, data)
		},
		"dict": func(kv ...any) map[string]any {
			m := map[string]any{}
			for i := 0; i+1 < len(kv); i += 2 {
				if k, ok := kv[i].(string); ok {
					m[k] = kv[i+1]
				}
			}
			return m
		},
		"has": func(list []string, v string) bool {
			for _, x := range list {
				if x == v {
					return true
				}
			}
			return false
		},
		// hasT reports whether a message exists (optional texts: hints).
		"hasT": func(l *locale.L, id string) bool { return l.Has(id) },
		"cityName": func(code string) string {
			if s.Counties == nil {
				return code
			}
			return s.Counties.CityName(code)
		},
		"countyName": func(code string) string {
			if s.Counties == nil {
				return code
			}
			return s.Counties.FullName(code)
		},
		"text": valueText,
		// lines splits a ranked field's value into its entries.
		"lines": func(s string) []string { return strings.Split(s, "\n") },
		// seq is 0, 1, …, n-1 (the selects of a ranked field).
		"seq": func(n int) []int {
			out := make([]int, n)
			for i := range out {
				out[i] = i
			}
			return out
		},
		"inc": func(i int) int { return i + 1 },
		// pct writes a share as a percentage ("—" when there is nothing to
		// divide by).
		"pct":  func(r *float64) string { return orDash(pct(r)) },
		"list": func(v ...string) []string { return v },
		// intText writes an optional count ("—" for none).
		"intText": func(p *int) string { return orDash(intText(p)) },
		// divisionName is a division's name ("海陵区"), or its code.
		"divisionName": func(code string) string {
			if d, ok := s.Authz.Divisions().Get(code); ok {
				return d.Name
			}
			return code
		},
		// at is the i-th of list, or "".
		"at": func(list []string, i int) string {
			if i < len(list) {
				return list[i]
			}
			return ""
		},
		// field is a field of a form page by name.
		"field": func(p workflow.Page, name string) workflow.Field {
			for _, f := range p.Fields {
				if f.Name == name {
					return f
				}
			}
			return workflow.Field{}
		},
		"size": sizeText,
		// options are the values of a field of a form page (a choice's).
		"options": func(p workflow.Page, name string) []string {
			for _, f := range p.Fields {
				if f.Name == name {
					return f.Options
				}
			}
			return nil
		},
	}
}
