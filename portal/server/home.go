package server

import (
	"io/fs"
	"net/http"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"

	"tzportal/portal"
	"tzportal/portal/locale"
	"tzportal/web"
)

// catalogue lists the portal's four services in the order people see them.
// The API contract names them; their texts live in i18n/.
var catalogue = []string{"residence-permit", "hukou-transfer", "school-enrollment", "housing-security"}

func (s *Server) staticRoutes(app *fiber.App) {
	sub, _ := fs.Sub(web.FS, "static")
	app.Use("/static", filesystem.New(filesystem.Config{Root: http.FS(sub), MaxAge: 3600}))
}

// serviceDoc is a service and its guide (办事指南).
type serviceDoc struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Available  bool     `json:"available"`
	Summary    string   `json:"summary"`
	Who        string   `json:"who"`
	Conditions []string `json:"conditions"`
	Materials  []string `json:"materials"`
	TimeLimit  string   `json:"time_limit"`
	Fee        string   `json:"fee"`
	Basis      string   `json:"legal_basis"`
}

func (s *Server) serviceDocs(l *locale.L) []serviceDoc {
	out := make([]serviceDoc, 0, len(catalogue))
	for _, id := range catalogue {
		_, available := forms[id]
		k := "service." + id + "."
		out = append(out, serviceDoc{ID: id, Name: l.T(k + "name"), Available: available, Summary: l.T(k + "summary"),
			Who: l.T(k + "who"), Conditions: formLines(l.T(k + "conditions")), Materials: formLines(l.T(k + "materials")),
			TimeLimit: l.T(k + "time_limit"), Fee: l.T(k + "fee"), Basis: l.T(k + "basis")})
	}
	return out
}

func (s *Server) home(c *fiber.Ctx) error {
	return s.render(c, "home", s.newPage(c, "home.title", s.serviceDocs(loc(c))))
}

func (s *Server) guide(c *fiber.Ctx) error {
	for _, d := range s.serviceDocs(loc(c)) {
		if d.ID == c.Params("service") {
			p := s.newPage(c, "", d)
			p.Title = d.Name
			return s.render(c, "guide", p)
		}
	}
	return portal.NotFound(nil)
}

// switchLanguage sets the language cookie (a year) and goes back to the page
// the person was on. It is a link, so it works without JavaScript.
func (s *Server) switchLanguage(c *fiber.Ctx) error {
	lang := locale.Match(c.Query("to"))
	if lang == "" {
		lang = locale.Chinese
	}
	c.Cookie(&fiber.Cookie{Name: cookieLang, Value: lang, Path: "/", MaxAge: 365 * 24 * 3600, Secure: s.CookieSecure,
		HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode})
	return redirect(c, localPath(c.Query("next"), "/"))
}

func (s *Server) apiServices(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"items": s.serviceDocs(loc(c))})
}

func (s *Server) apiDivisions(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"items": s.Authz.Divisions().All()})
}
