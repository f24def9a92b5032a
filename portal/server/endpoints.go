package server

import (
	"github.com/gofiber/fiber/v2"

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
