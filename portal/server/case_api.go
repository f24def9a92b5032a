package server

import (
	"bytes"
	"encoding/json"

	"github.com/gofiber/fiber/v2"

	"tzportal/portal"
	"tzportal/portal/workflow"
)

// decodeJSON decodes a request body strictly: unknown fields are refused,
// so a client cannot set what the contract does not offer.
func decodeJSON(c *fiber.Ctx, v any) error {
	if !bytes.HasPrefix(bytes.TrimSpace([]byte(c.Get(fiber.HeaderContentType))), []byte(fiber.MIMEApplicationJSON)) {
		return &portal.Error{Code: portal.EINVALID, Message: "error.json_required"}
	}
	dec := json.NewDecoder(bytes.NewReader(c.Body()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errorsAs(err, &te) && te.Field != "" {
			return portal.Invalid(portal.FieldError{Field: te.Field, Rule: "type"})
		}
		if f, ok := unknownField(err); ok {
			return portal.Invalid(portal.FieldError{Field: f, Rule: "unknown_field"})
		}
		return &portal.Error{Code: portal.EINVALID, Message: "error.bad_json", Err: err}
	}
	return nil
}

func (s *Server) caseJSON(c *fiber.Ctx, status int, no string) error {
	_, doc, err := s.loadCase(c, no)
	if err != nil {
		return err
	}
	return c.Status(status).JSON(doc)
}

func (s *Server) apiGetCase(c *fiber.Ctx) error { return s.caseJSON(c, fiber.StatusOK, c.Params("no")) }

func (s *Server) apiListCases(c *fiber.Ctx) error {
	cases, next, err := s.Engine.List(ctx(c), actor(c), s.listFilter(c))
	if err != nil {
		return err
	}
	u := currentUser(c)
	return c.JSON(fiber.Map{"items": s.summaries(loc(c), cases, u.Kind != portal.KindApplicant), "next": cursor(next)})
}

func (s *Server) apiCreateCase(c *fiber.Ctx) error {
	var body struct {
		Service string          `json:"service"`
		Form    json.RawMessage `json:"form"`
	}
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	created, err := s.Engine.Create(ctx(c), actor(c), body.Service, body.Form, c.Get("Idempotency-Key"))
	if err != nil {
		return err
	}
	c.Location("/api/v1/cases/" + created.No)
	if err := s.caseJSON(c, fiber.StatusCreated, created.No); err != nil {
		// The case is saved; only reading it back failed. Say so with 201
		// and what is known, so the client does not believe it was lost.
		s.Logger.Warn("created case not read back", "rid", requestID(c), "case", created.No, "err", err)
		return c.Status(fiber.StatusCreated).JSON(fiber.Map{"case_no": created.No, "service": created.Service,
			"state": created.State, "version": created.Version})
	}
	return nil
}

func (s *Server) apiEditCase(c *fiber.Ctx) error {
	var body struct {
		Form    json.RawMessage `json:"form"`
		Version int             `json:"version"`
	}
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	no := c.Params("no")
	if _, err := s.Engine.Edit(ctx(c), actor(c), no, body.Form, body.Version); err != nil {
		return err
	}
	return s.caseJSON(c, fiber.StatusOK, no)
}

func (s *Server) apiFireEvent(c *fiber.Ctx) error {
	var in workflow.Input
	if len(bytes.TrimSpace(c.Body())) > 0 {
		if err := decodeJSON(c, &in); err != nil {
			return err
		}
	}
	v, err := s.Engine.Fire(ctx(c), actor(c), c.Params("no"), c.Params("event"), in)
	if err != nil {
		return err
	}
	return c.JSON(s.caseDoc(c, v))
}

// apiRevealID returns the applicant's full ID number to staff allowed to
// see it; every call is audited.
func (s *Server) apiRevealID(c *fiber.Ctx) error {
	v, err := s.Engine.Get(ctx(c), actor(c), c.Params("no"))
	if err != nil {
		return err
	}
	id, err := s.Accounts.RevealID(ctx(c), actor(c), v.Case)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"case_no": v.Case.No, "id_number": id})
}

func (s *Server) apiAudit(c *fiber.Ctx) error {
	no := c.Query("case_no")
	if no == "" {
		return portal.Invalid(portal.FieldError{Field: "case_no", Rule: "required"})
	}
	entries, err := s.caseAudit(c, no)
	if err != nil {
		return err
	}
	if entries == nil {
		entries = []portal.AuditEntry{}
	}
	return c.JSON(fiber.Map{"items": entries})
}
