package server

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"tzportal/portal"

	"tzportal/portal/workflow"
)

// serviceEndpoints mounts the API a service keeps beyond its cases
// (workflow.Endpoints: reference data, cohort operations) under /api/v1.
// Errors take the same path as every other handler's.
func (s *Server) serviceEndpoints(api fiber.Router) {
	for _, ent := range s.Engine.Registry.Online() {
		eps, ok := ent.Service.(workflow.Endpoints)
		if !ok {
			continue
		}
		for _, ep := range eps.Endpoints(s.Engine) {
			handlers := []fiber.Handler{}
			if !ep.Public {
				handlers = append(handlers, s.requireLogin)
			}
			if ep.PerMinute > 0 {
				handlers = append(handlers, s.perMinute(ep.Method+" "+ep.Path, ep.PerMinute))
			}
			handlers = append(handlers, func(c *fiber.Ctx) error {
				status, body, err := ep.Handle(ctx(c), request(c))
				if err != nil {
					return err
				}
				return c.Status(status).JSON(body)
			})
			api.Add(ep.Method, ep.Path, handlers...)
		}
	}
}

// perMinute limits one address to n calls a minute of a route (429 after).
func (s *Server) perMinute(route string, n int) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if s.Counter == nil {
			return c.Next()
		}
		got, err := s.Counter.Incr(ctx(c), "route-ip:"+route+":"+c.IP(), time.Minute)
		if err != nil {
			return portal.Unavailable("sessions", err)
		}
		if got > int64(n) {
			c.Set(fiber.HeaderRetryAfter, "60")
			return portal.Errorf(portal.ETOOMANY, "error.too_many_requests", nil)
		}
		return c.Next()
	}
}
