package server

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"tzportal/portal"
	"tzportal/portal/locale"
)

// status maps an error code to its HTTP status: the one table.
func status(code string) int {
	switch code {
	case portal.EINVALID, portal.ERULE:
		return fiber.StatusUnprocessableEntity
	case portal.EUNAUTHORIZED:
		return fiber.StatusUnauthorized
	case portal.EFORBIDDEN:
		return fiber.StatusForbidden
	case portal.ENOTFOUND:
		return fiber.StatusNotFound
	case portal.ECONFLICT:
		return fiber.StatusConflict
	case portal.ETOOMANY:
		return fiber.StatusTooManyRequests
	case portal.ETOOLARGE:
		return fiber.StatusRequestEntityTooLarge
	case portal.EUNSUPPORTED:
		return fiber.StatusUnsupportedMediaType
	case portal.EUNAVAILABLE:
		return fiber.StatusServiceUnavailable
	}
	return fiber.StatusInternalServerError
}

// classify turns any error into a *portal.Error; fiber's own errors (404 for
// an unknown route, 405, 413 for a body too large) keep their meaning.
func classify(err error) *portal.Error {
	if e := portal.AsError(err); e != nil {
		return e
	}
	var fe *fiber.Error
	if errors.As(err, &fe) {
		switch fe.Code {
		case fiber.StatusNotFound, fiber.StatusMethodNotAllowed:
			return &portal.Error{Code: portal.ENOTFOUND, Message: "error.not_found", Err: err}
		case fiber.StatusRequestEntityTooLarge, fiber.StatusRequestHeaderFieldsTooLarge, fiber.StatusRequestURITooLong:
			return &portal.Error{Code: portal.ETOOLARGE, Message: "error.too_large", Err: err}
		case fiber.StatusBadRequest, fiber.StatusUnprocessableEntity:
			return &portal.Error{Code: portal.EINVALID, Message: "error.bad_request", Err: err}
		case fiber.StatusServiceUnavailable:
			return portal.Unavailable("server", err)
		}
	}
	return &portal.Error{Code: portal.EINTERNAL, Err: err}
}

// problemField is one field error in a problem document.
type problemField struct {
	Field   string `json:"field"`
	Rule    string `json:"rule"`
	Message string `json:"message"`
}

// problem is an RFC 9457 problem document.
type problem struct {
	Type   string         `json:"type"`
	Title  string         `json:"title"`
	Status int            `json:"status"`
	Detail string         `json:"detail,omitempty"`
	Code   string         `json:"code"`
	Rule   string         `json:"rule,omitempty"`
	Errors []problemField `json:"errors,omitempty"`
	// CaseNo names the applicant's own case that stands in the way (a
	// second open application is refused in favour of the first).
	CaseNo string `json:"case_no,omitempty"`
	// Holder and Office name who holds a case someone else tried to
	// decide on or claim (409, rule held).
	Holder    string `json:"holder,omitempty"`
	Office    string `json:"office,omitempty"`
	RequestID string `json:"request_id"`
}

// handleError is fiber's error handler and the one place errors become
// responses: a problem document for the API, a page for people. Internal
// errors are logged with the request id and shown as a generic message.
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	if fe := (*fiber.Error)(nil); errors.As(err, &fe) && fe.Code == fiber.StatusRequestTimeout {
		// A connection that sent no request within the read timeout (a
		// browser's pre-connect, an idle keep-alive): nothing failed. HTTP's
		// answer is a bare 408 before closing, which clients expect on an
		// idle connection; no page, no error in the log.
		s.Logger.Debug("connection closed: no request within the read timeout", "ip", c.IP())
		return c.SendStatus(fiber.StatusRequestTimeout)
	}
	e := classify(err)
	st := status(e.Code)
	// fasthttp refuses some requests (a body over the limit, a URL longer
	// than the read buffer) before any middleware ran: give them a request
	// id and the security headers here.
	rid := requestID(c)
	if rid == "" {
		rid = newRequestID()
		c.Locals("requestid", rid)
		c.Set(fiber.HeaderXRequestID, rid)
	}
	s.setSecurityHeaders(c)
	switch {
	case st >= 500:
		s.Logger.Error("request failed", "rid", rid, "code", e.Code, "err", err)
	case e.Err != nil:
		s.Logger.Info("request refused", "rid", rid, "code", e.Code, "err", err)
	}
	if st == fiber.StatusServiceUnavailable {
		c.Set(fiber.HeaderRetryAfter, "5")
	}
	if e.Code == portal.EINTERNAL {
		// Never show the cause; keep a message the code chose for people.
		msg := e.Message
		if msg == "" {
			msg = "error.internal"
		}
		e = &portal.Error{Code: portal.EINTERNAL, Message: msg}
	}
	if c.Locals(localL) == nil { // failed before the locale middleware ran
		c.Locals(localL, s.Catalog.L(""))
	}
	l := loc(c)
	if isAPI(c) {
		c.Status(st)
		return c.JSON(newProblem(l, e, st, rid), "application/problem+json")
	}
	return s.renderStatus(c, st, "error", &errorPage{Code: e.Code, Title: l.T("status." + e.Code), Detail: l.Error(e), RequestID: rid})
}

// newProblem is the problem document of e (classified, its cause hidden if
// internal) in the reader's language.
func newProblem(l *locale.L, e *portal.Error, st int, rid string) problem {
	p := problem{Type: "about:blank", Title: l.T("status." + e.Code), Status: st, Detail: l.Error(e),
		Code: e.Code, Rule: e.Rule, RequestID: rid}
	p.CaseNo, _ = e.Data["CaseNo"].(string)
	if e.Rule == "held" {
		p.Holder, _ = e.Data["Holder"].(string)
		p.Office, _ = e.Data["Office"].(string)
	}
	for _, f := range e.Fields {
		p.Errors = append(p.Errors, problemField{Field: f.Field, Rule: f.Rule, Message: l.Field(f, e.Labels)})
	}
	return p
}

// refusal is an error as one entry of an answer that carries several (a
// bulk event's results): classified and mapped to its status like any
// other, logged like handleError logs, its cause hidden if internal.
func (s *Server) refusal(c *fiber.Ctx, err error) (*portal.Error, int) {
	e := classify(err)
	st := status(e.Code)
	switch {
	case st >= 500:
		s.Logger.Error("part of a request failed", "rid", requestID(c), "code", e.Code, "err", err)
	case e.Err != nil:
		s.Logger.Info("part of a request refused", "rid", requestID(c), "code", e.Code, "err", err)
	}
	if e.Code == portal.EINTERNAL {
		e = &portal.Error{Code: portal.EINTERNAL, Message: "error.internal"}
	}
	return e, st
}

type errorPage struct {
	Code      string
	Title     string
	Detail    string
	RequestID string
}

// fieldMessages turns an EINVALID error into localized messages by field,
// for a form page to show next to each field and in its error summary.
func fieldMessages(c *fiber.Ctx, err error) (map[string]string, []summaryItem) {
	e := portal.AsError(err)
	if e == nil {
		return nil, nil
	}
	l := loc(c)
	msgs := map[string]string{}
	var summary []summaryItem
	if e.Code != portal.EINVALID {
		summary = append(summary, summaryItem{Message: l.Error(e)})
		if no, ok := e.Data["CaseNo"].(string); ok && no != "" {
			// A case that stands in the way: one link away.
			summary[0].Href = "/cases/" + no
		}
	}
	for _, f := range e.Fields {
		if _, dup := msgs[f.Field]; dup {
			continue
		}
		m := l.Field(f, e.Labels)
		msgs[f.Field] = m
		summary = append(summary, summaryItem{Field: f.Field, Message: m})
	}
	return msgs, summary
}

// summaryItem is one line of an error summary, linking to its field (on
// the page, or on another page with Href).
type summaryItem struct {
	Field   string
	Message string
	Href    string
}

// formError reports whether err is one a form page shows in place (bad
// input, a refused rule, a lost race) rather than as an error page.
func formError(err error) bool {
	switch portal.ErrorCode(err) {
	case portal.EINVALID, portal.ERULE, portal.ECONFLICT:
		return true
	}
	return false
}
