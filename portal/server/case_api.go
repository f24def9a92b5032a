package server

import (
	"bytes"
	"encoding/json"

	"github.com/gofiber/fiber/v2"

	"tzportal/portal"
	"tzportal/portal/validate"
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
		if fe, ok := validate.JSONFieldError(err); ok {
			return portal.Invalid(fe)
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
	return c.JSON(fiber.Map{"items": s.summaries(loc(c), cases, u.Kind != portal.KindApplicant, u), "next": cursor(next)})
}

// apiCaseCounts answers the worklist's counts: the open cases of the
// reader's jurisdiction per state (404 for who has no worklist).
func (s *Server) apiCaseCounts(c *fiber.Ctx) error {
	counts, err := s.Engine.QueueCounts(ctx(c), actor(c))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"items": counts})
}

// newCaseBody is POST /api/v1/cases; the form is the service's.
type newCaseBody struct {
	Service string          `json:"service"`
	Form    json.RawMessage `json:"form"`
}

func (s *Server) apiCreateCase(c *fiber.Ctx) error {
	var body newCaseBody
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

// editBody is PUT /api/v1/cases/{case_no}/form.
type editBody struct {
	Form    json.RawMessage `json:"form"`
	Version int             `json:"version"`
}

func (s *Server) apiEditCase(c *fiber.Ctx) error {
	var body editBody
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	no := c.Params("no")
	if _, err := s.Engine.Edit(ctx(c), actor(c), no, body.Form, body.Version); err != nil {
		return err
	}
	return s.caseJSON(c, fiber.StatusOK, no)
}

// apiFireEvent fires an event with the inputs it declares, as top-level
// keys of the body ({"reference": "…", "confirmed_on": "…"}), and
// "version" to guard against a stale view. An Idempotency-Key header makes
// a repeated request answer as the first did.
func (s *Server) apiFireEvent(c *fiber.Ctx) error {
	in := workflow.Input{Values: portal.Inputs{}, IdempotencyKey: c.Get("Idempotency-Key")}
	if len(bytes.TrimSpace(c.Body())) > 0 {
		var body map[string]json.RawMessage
		if err := decodeJSON(c, &body); err != nil {
			return err
		}
		var bad []portal.FieldError
		if raw, ok := body["version"]; ok {
			if json.Unmarshal(raw, &in.Version) != nil {
				bad = append(bad, portal.FieldError{Field: "version", Rule: "type"})
			}
			delete(body, "version")
		}
		eventValues(body, in.Values)
		if len(bad) > 0 {
			return portal.Invalid(bad...)
		}
	}
	v, err := s.Engine.Fire(ctx(c), actor(c), c.Params("no"), c.Params("event"), in)
	if err != nil {
		return err
	}
	return c.JSON(s.caseDoc(c, v))
}

// eventValues reads an event's inputs from the top-level keys of a body:
// a text, a list of texts, or anything else, which the engine names as
// the wrong type (an unknown key is the engine's to refuse, by name).
func eventValues(body map[string]json.RawMessage, into portal.Inputs) {
	for k, raw := range body {
		var text string
		var list []string
		switch {
		case string(raw) == "null":
		case json.Unmarshal(raw, &text) == nil:
			into[k] = text
		case json.Unmarshal(raw, &list) == nil:
			into[k] = list
		default:
			into[k] = json.RawMessage(raw)
		}
	}
}

// revealBody is POST /api/v1/cases/{case_no}/reveal (no field: the
// applicant's own number).
type revealBody struct {
	Field string `json:"field"`
}

// apiRevealID returns a full ID number of the case to staff allowed to see
// it — the applicant's, or {"field": "members[0].id_number"} one the form
// keeps sealed; every call is audited.
func (s *Server) apiRevealID(c *fiber.Ctx) error {
	var body revealBody
	if len(bytes.TrimSpace(c.Body())) > 0 {
		if err := decodeJSON(c, &body); err != nil {
			return err
		}
	}
	v, id, err := s.reveal(c, c.Params("no"), body.Field)
	if err != nil {
		return err
	}
	out := fiber.Map{"case_no": v.Case.No, "id_number": id}
	if body.Field != "" {
		out["field"] = body.Field
	}
	return c.JSON(out)
}

// apiAudit is GET /api/v1/audit. With only ?case_no= it answers as it
// always has: every entry of the case, oldest first. With any other filter,
// or none, it is the audit view's page (apiAuditView).
func (s *Server) apiAudit(c *fiber.Ctx) error {
	no := c.Query("case_no")
	args := c.Request().URI().QueryArgs()
	if no == "" || args.Len() > 1 {
		return s.apiAuditView(c)
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
