package server

import (
	"io"

	"github.com/gofiber/fiber/v2"

	"tzportal/portal"
	"tzportal/portal/workflow"
)

// request is what a service's endpoint or screen is given of c.
func request(c *fiber.Ctx) workflow.Request {
	return workflow.Request{
		Actor:  actor(c),
		Param:  func(name string) string { return c.Params(name) },
		Query:  func(name string) string { return c.Query(name) },
		Decode: func(v any) error { return decodeJSON(c, v) },
		Form:   func(name string) string { return c.FormValue(name) },
		File: func(name string) ([]byte, error) {
			fh, err := c.FormFile(name)
			if err != nil {
				return nil, nil // none sent
			}
			f, err := fh.Open()
			if err != nil {
				return nil, err
			}
			defer f.Close()
			return io.ReadAll(io.LimitReader(f, 1<<20))
		},
	}
}

// serviceScreens mounts the HTML pages a service keeps beyond its cases
// (workflow.Screens), drawn in the layout by pages/service.html with the
// service's own template.
func (s *Server) serviceScreens(app fiber.Router) {
	for _, ent := range s.Engine.Registry.Online() {
		scr, ok := ent.Service.(workflow.Screens)
		if !ok {
			continue
		}
		service := ent.ID
		for _, sc := range scr.Screens(s.Engine) {
			if sc.Menu != "" && sc.For != nil {
				s.menu = append(s.menu, menuLink{Label: sc.Menu, Href: sc.Path, For: sc.For})
			}
			handlers := []fiber.Handler{}
			if !sc.Public {
				handlers = append(handlers, s.requireLogin)
			}
			handlers = append(handlers, func(c *fiber.Ctx) error {
				shown, err := sc.Handle(ctx(c), request(c))
				if err != nil {
					return err
				}
				if shown.Redirect != "" {
					return redirect(c, shown.Redirect)
				}
				p := s.newPage(c, shown.Title, shown)
				p.Service = service
				code := shown.Status
				if code == 0 {
					code = fiber.StatusOK
				}
				if shown.Err != nil {
					p.Errors, p.Summary = fieldMessages(c, shown.Err)
					if code == fiber.StatusOK {
						code = status(portal.ErrorCode(shown.Err))
					}
				}
				return s.write(c, code, "service", p)
			})
			app.Add(sc.Method, sc.Path, handlers...)
		}
	}
}

// menuLink is a service's page in the site's navigation.
type menuLink struct {
	Label, Href string
	For         func(u *portal.User) bool
}

// menuFor returns the service pages u is offered in the navigation.
func (s *Server) menuFor(u *portal.User) []menuLink {
	if u == nil || u.Kind != portal.KindStaff {
		return nil
	}
	var out []menuLink
	for _, m := range s.menu {
		if m.For(u) {
			out = append(out, m)
		}
	}
	return out
}
