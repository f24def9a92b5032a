package server

import (
	"encoding"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"tzportal/portal"
	"tzportal/portal/account"
	"tzportal/portal/workflow"
)

// apiOpenAPI is GET /api/v1/openapi.json: the API's OpenAPI 3.1 document,
// made from the handlers' types and the workflow files (openapi_test.go
// checks it against the routes and replays the journeys' traffic on it).
func (s *Server) apiOpenAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(s.openapi)
}

// apiOp is one operation of /api/v1 as the OpenAPI document describes it.
// Bodies and replies are Go values whose types the handler decodes or
// encodes (the schema is read from their json tags), or schemas (jsonSchema)
// where the shape is the workflow files'.
type apiOp struct {
	Method  string
	Path    string // fiber syntax under /api/v1, as routes() mounts it: "/cases/:no"
	Summary string
	Public  bool
	Query   []string // optional query parameters, all strings
	// QueryDoc describes some of them, by name.
	QueryDoc map[string]string
	// Body is the JSON request body (nil: none); Upload a multipart file.
	Body         any
	BodyOptional bool
	Upload       bool
	Idempotent   bool // honours an Idempotency-Key header
	// OK is the success status and its JSON body (nil: no body); Raw names
	// other content types of a success (a file, a CSV).
	Status int
	OK     any
	Raw    []string
	// Problems are the statuses of problem documents beyond those every
	// operation may answer (see problemStatuses).
	Problems []int
}

// jsonSchema is a schema written out, not read from a Go type.
type jsonSchema map[string]any

// caseParams names fiber's path parameters as the contract spells them.
var caseParams = map[string]string{"no": "case_no", "case": "case_no"}

// apiOps are the portal's own operations; a service's come from its
// workflow.Endpoints (serviceOps), its forms and events from its workflow
// file (formSchema, eventSchema).
func (s *Server) apiOps() []apiOp {
	ops := []apiOp{
		{Method: "GET", Path: "/openapi.json", Summary: "This document", Public: true, Status: 200, OK: jsonSchema{"type": "object"}},
		{Method: "GET", Path: "/services", Summary: "The services with their guides (办事指南), forms and events", Public: true, Status: 200,
			OK: items(serviceDoc{})},
		{Method: "GET", Path: "/divisions", Summary: "The division tree", Public: true, Status: 200, OK: items(portal.Division{})},
		{Method: "POST", Path: "/accounts", Summary: "Register an applicant", Public: true, Body: account.Registration{},
			Status: 201, OK: object(map[string]any{"user": userDoc{}}), Problems: []int{429}},
		{Method: "POST", Path: "/session", Summary: "Log in", Public: true, Body: loginBody{}, Status: 200,
			OK: object(map[string]any{"user": userDoc{}, "roles": []string{}, "csrf_token": ""}), Problems: []int{401, 429}},
		{Method: "GET", Path: "/session", Summary: "The current user and CSRF token", Status: 200,
			OK: object(map[string]any{"user": userDoc{}, "roles": []string{}, "csrf_token": "", "expires_at": time.Time{},
				"id_number": ""}, "user", "roles")},
		{Method: "DELETE", Path: "/session", Summary: "Log out", Status: 204},
		{Method: "GET", Path: "/cases", Summary: "Own cases (applicants), the worklist (staff)", Status: 200,
			Query: []string{"service", "state", "overdue", "due", "q", "mine", "unclaimed", "after", "division"},
			QueryDoc: map[string]string{"mine": "1: staff, the cases the caller holds (claimed or assigned)",
				"unclaimed": "1: staff, the cases nobody holds", "q": "Find cases within the reader's jurisdiction (staff: in any state but a draft, " +
					"unless state narrows it; an applicant: their own): a case number, the applicant's mobile number (11 digits) or " +
					"its last 4 digits, or the applicant's name, exact. Same items and pages as the list; every search is audited " +
					"(case.search). Anything else, or more than 40 characters, is 422 with errors[].field \"q\"."},
			OK: object(map[string]any{"items": []caseSummary{}, "next": (*string)(nil)})},
		{Method: "GET", Path: "/cases/counts", Summary: "Open cases of the worklist's jurisdiction per state, from the dashboards' rollups (staff)",
			Status: 200, OK: object(map[string]any{"items": []workflow.StateCount{}})},
		{Method: "POST", Path: "/cases", Summary: "Start an application (a draft)", Body: newCaseBody{}, Idempotent: true, Status: 201,
			OK: caseDoc{}, Problems: []int{409}},
		{Method: "GET", Path: "/cases/:no", Summary: "A case with its form, state, allowed events and timeline", Status: 200, OK: caseDoc{}},
		{Method: "PUT", Path: "/cases/:no/form", Summary: "Edit a draft or a case returned for correction", Body: editBody{},
			Status: 200, OK: caseDoc{}, Problems: []int{409}},
		{Method: "POST", Path: "/cases/:no/events/:event", Summary: "Fire an event with its inputs", BodyOptional: true,
			Idempotent: true, Status: 200, OK: caseDoc{}, Problems: []int{409}},
		{Method: "POST", Path: "/cases/events/:event", Summary: "Fire an event marked bulk in its workflow on many cases, each in its own " +
			"transaction: one result per case, in the order sent (a refused case has the status and problem the single-case " +
			"endpoint would answer)", Idempotent: true, Status: 200, OK: bulkReply{}},
		{Method: "POST", Path: "/cases/:no/claim", Summary: "Claim an open case one may act on (认领): nobody else's decision on it " +
			"goes through while one holds it. Held by someone else: 409, rule held, naming them (holder) and their office",
			Status: 200, OK: caseDoc{}, Problems: []int{409}},
		{Method: "DELETE", Path: "/cases/:no/claim", Summary: "Give back a case one holds (nobody's: nothing changes; another's: 409)",
			Status: 204, Problems: []int{409}},
		{Method: "POST", Path: "/cases/:no/assign", Summary: "Assign an open case to a colleague who may act on it (指派: district " +
			"officers, a street's lead); one who cannot is 422 on login", Body: assignBody{}, Status: 200, OK: caseDoc{}, Problems: []int{409}},
		{Method: "POST", Path: "/cases/:no/reveal", Summary: "A full ID number (audited)", Body: revealBody{}, BodyOptional: true,
			Status: 200, OK: object(map[string]any{"case_no": "", "id_number": "", "field": ""}, "case_no", "id_number")},
		{Method: "GET", Path: "/cases/:no/access-log", Summary: "Who read the case, by office", Status: 200,
			OK: object(map[string]any{"case_no": "", "items": []accessDoc{}})},
		{Method: "GET", Path: "/audit", Summary: "Audit entries: a case's (case_no alone) or the audit view's page",
			Query: []string{"case_no", "person", "action", "from", "to", "result", "before"}, Status: 200,
			OK: jsonSchema{"anyOf": []any{
				object(map[string]any{"items": []portal.AuditEntry{}}),
				object(map[string]any{"items": []auditEntry{}, "next": ""}, "items"),
			}}},
		{Method: "GET", Path: "/cases/:no/materials", Summary: "The checklist and the files", Status: 200,
			OK: object(map[string]any{"checklist": []checklistDoc{}, "items": []portal.Material{}})},
		{Method: "POST", Path: "/cases/:no/materials", Summary: "Upload a file for a checklist item", Upload: true, Status: 201,
			OK: portal.Material{}, Problems: []int{409, 413, 415}},
		{Method: "GET", Path: "/cases/:no/materials/:id", Summary: "A file (staff downloads are audited)", Query: []string{"inline"},
			Status: 200, Raw: []string{"application/pdf", "image/jpeg", "image/png"}},
		{Method: "DELETE", Path: "/cases/:no/materials/:id", Summary: "Remove a file", Status: 204, Problems: []int{409}},
		{Method: "GET", Path: "/cases/:no/certificate", Summary: "The case's certificate (电子证照)", Status: 200, OK: certificateDoc{}},
		{Method: "POST", Path: "/cases/:no/certificate/cancel", Summary: "Revoke the certificate", Body: cancelBody{}, Status: 200,
			OK: certificateDoc{}, Problems: []int{409}},
		{Method: "GET", Path: "/notifications", Summary: "The inbox", Query: []string{"before"}, Status: 200,
			OK: object(map[string]any{"items": []noticeDoc{}, "unread": 0, "next": (*string)(nil)})},
		{Method: "POST", Path: "/notifications/:id/read", Summary: "Mark a notice read", Status: 204},
		{Method: "GET", Path: "/reviews", Summary: "The re-review sample (supervisors)", Query: []string{"all", "before"}, Status: 200,
			OK: reviewsDoc{}},
		{Method: "POST", Path: "/reviews/:sample/:case", Summary: "Record a re-review finding", Body: findingBody{}, Status: 201,
			OK: reviewItem{}, Problems: []int{409}},
		{Method: "GET", Path: "/verify/key", Summary: "The certificates' public key", Public: true, Status: 200,
			OK: map[string]string{}},
		{Method: "GET", Path: "/verify/:token", Summary: "Verify a certificate (no login)", Public: true, Status: 200, OK: verifyDoc{},
			Problems: []int{429}},
		{Method: "GET", Path: "/indicators", Summary: "The plan's indicators", Public: true, Query: []string{"year"}, Status: 200,
			OK: items(workflow.Indicator{})},
		{Method: "GET", Path: "/stats/aging", Summary: "Open cases by deadline, by office", Query: []string{"service"}, Status: 200,
			OK: agingDoc{}},
		{Method: "GET", Path: "/stats/overview", Summary: "Statistics by division", Query: statsQuery, Status: 200, OK: overviewDoc{}},
		{Method: "GET", Path: "/stats/clerks", Summary: "Statistics by clerk", Query: statsQuery, Status: 200, OK: clerksDoc{}},
		{Method: "GET", Path: "/stats/reveals", Summary: "ID-number reveals", Query: statsQuery, Status: 200, OK: items(revealDoc{})},
		{Method: "GET", Path: "/stats/:report.csv", Summary: "A statistics report as CSV", Query: statsQuery, Status: 200,
			Raw: []string{"text/csv"}},
		{Method: "POST", Path: "/cases/:no/rating", Summary: "Rate a case that has ended (好差评)", Body: rateBody{}, Status: 201,
			OK: ratingDoc{}, Problems: []int{409}},
		{Method: "GET", Path: "/cases/:no/rating", Summary: "The case's rating", Status: 200, OK: ratingDoc{}},
		{Method: "POST", Path: "/cases/:no/rating/follow-up/:step", Summary: "A supervisor's follow-up of a rating", Body: followUpBody{},
			Status: 200, OK: followUpDoc{}, Problems: []int{409}},
		{Method: "GET", Path: "/ratings", Summary: "Ratings of the supervisor's jurisdiction", Query: statsQuery, Status: 200, OK: ratingsDoc{}},
	}
	return append(ops, adminOps()...)
}

// adminOps are the administration's operations (the admin role only; 404
// for anyone else).
func adminOps() []apiOp {
	ops := []apiOp{
		{Method: "GET", Path: "/admin/accounts", Summary: "Staff and system accounts, searched by login or name", Query: []string{"kind", "q"},
			Status: 200, OK: accountsDoc{}},
		{Method: "POST", Path: "/admin/staff", Summary: "Add a staff member with a first grant (the one-time-code secret is shown once)",
			Body: newAccountBody{}, Status: 201, OK: secretDoc{}, Problems: []int{409}},
		{Method: "POST", Path: "/admin/systems", Summary: "Add a system account (its token is shown once)", Body: newAccountBody{},
			Status: 201, OK: secretDoc{}, Problems: []int{409}},
		{Method: "GET", Path: "/admin/accounts/:login", Summary: "An account with its grants", Status: 200, OK: accountDoc{}},
		{Method: "GET", Path: "/admin/divisions", Summary: "The division tree and its changes", Status: 200, OK: divisionsDoc{}},
		{Method: "POST", Path: "/admin/divisions", Summary: "Add a statistical zone", Body: zoneBody{}, Status: 201, OK: portal.Division{},
			Problems: []int{409}},
		{Method: "POST", Path: "/admin/divisions/:code", Summary: "Rename a division or move it under another county-level unit",
			Body: changeBody{}, Status: 200, OK: portal.Division{}, Problems: []int{409}},
		{Method: "GET", Path: "/admin/calendar", Summary: "A year's days off and working weekend days, with their changes",
			Query: []string{"year"}, Status: 200, OK: workflow.CalendarYear{}},
		{Method: "POST", Path: "/admin/calendar", Summary: "Set a day a holiday, a working day or normal", Body: dayBody{}, Status: 201,
			OK: portal.CalendarChange{}},
		{Method: "GET", Path: "/admin/housing-units", Summary: "The housing-security stock (房源), filtered, with its newest changes",
			Query: []string{"district", "kind", "status"}, Status: 200, OK: unitsDoc{}},
		{Method: "POST", Path: "/admin/housing-units", Summary: "Add a unit to the housing stock, available (a code in use is 422 on code)",
			Body: unitBody{}, Status: 201, OK: portal.HousingUnit{}},
		{Method: "POST", Path: "/admin/housing-units/:code", Summary: "Withdraw a unit (withdrawn) or restore it (available)",
			Body: unitStatusBody{}, Status: 200, OK: portal.HousingUnit{}, Problems: []int{409}},
	}
	summaries := map[string]string{"disable": "Disable the account (its sessions end at once)", "grants": "Add a grant",
		"revoke": "Revoke a grant (the person's sessions end at once)", "totp": "A new one-time-code secret, shown once",
		"token": "A new API token, shown once (the old one stops working)"}
	for _, action := range accountActions {
		op := apiOp{Method: "POST", Path: "/admin/accounts/:login/" + action, Summary: summaries[action], Status: 200, OK: secretDoc{},
			Problems: []int{409}}
		if action == "grants" || action == "revoke" {
			op.Body = grantBody{}
		}
		ops = append(ops, op)
	}
	return ops
}

var statsQuery = []string{"division", "service", "from", "to"}

// serviceOps are the services' own endpoints, as the server mounts them.
func (s *Server) serviceOps() []apiOp {
	var out []apiOp
	for _, ent := range s.Engine.Registry.Online() {
		eps, ok := ent.Service.(workflow.Endpoints)
		if !ok {
			continue
		}
		for _, ep := range eps.Endpoints(s.Engine) {
			op := apiOp{Method: ep.Method, Path: ep.Path, Summary: ep.Summary, Public: ep.Public, Query: ep.Query,
				Body: ep.Body, Status: ep.Status, OK: ep.Reply, Problems: []int{409}}
			if op.Status == 0 {
				op.Status = http.StatusOK
			}
			if op.OK == nil {
				op.OK = jsonSchema{}
			}
			if ep.PerMinute > 0 {
				op.Problems = append(op.Problems, http.StatusTooManyRequests)
			}
			out = append(out, op)
		}
	}
	return out
}

// problemStatuses are the problem documents any operation may answer:
// bad input, an unknown or unreachable object, a failure; logged-in
// operations also refuse a missing session (401) or a missing CSRF token
// or permission (403); bodies may be too large.
func problemStatuses(op apiOp) []int {
	st := []int{404, 422, 500, 503}
	if !op.Public {
		st = append(st, 401, 403)
	}
	if op.Method != "GET" {
		st = append(st, 413)
	}
	return append(st, op.Problems...)
}

// openAPIPath turns a fiber path under /api/v1 into the document's form:
// "/cases/:no/events/:event" → "/api/v1/cases/{case_no}/events/{event}".
func openAPIPath(p string) (string, []string) {
	var params []string
	path := fiberParam.ReplaceAllStringFunc(p, func(m string) string {
		name := m[1:]
		if n, ok := caseParams[name]; ok {
			name = n
		}
		params = append(params, name)
		return "{" + name + "}"
	})
	return "/api/v1" + path, params
}

var fiberParam = regexp.MustCompile(`:[a-z_]+`)

// openAPI is the OpenAPI 3.1 document of /api/v1.
func (s *Server) openAPI() map[string]any {
	g := &schemaGen{defs: map[string]any{}, names: map[reflect.Type]string{}}
	problemRef := g.of(reflect.TypeFor[problem]())
	paths := map[string]any{}
	for _, op := range append(s.apiOps(), s.serviceOps()...) {
		path, params := openAPIPath(op.Path)
		o := map[string]any{"summary": op.Summary, "operationId": strings.ToLower(op.Method) + path}
		var ps []any
		for _, p := range params {
			sch := jsonSchema{"type": "string"}
			if p == "event" {
				sch = s.eventNames()
			}
			ps = append(ps, map[string]any{"name": p, "in": "path", "required": true, "schema": sch})
		}
		for _, q := range op.Query {
			p := map[string]any{"name": q, "in": "query", "schema": jsonSchema{"type": "string"}}
			if d := op.QueryDoc[q]; d != "" {
				p["description"] = d
			}
			ps = append(ps, p)
		}
		if op.Idempotent {
			ps = append(ps, map[string]any{"name": "Idempotency-Key", "in": "header",
				"description": "A repeated request with the same key answers as the first did.", "schema": jsonSchema{"type": "string"}})
		}
		if len(ps) > 0 {
			o["parameters"] = ps
		}
		if op.Public {
			o["security"] = []any{}
		}
		switch {
		case op.Upload:
			o["requestBody"] = map[string]any{"required": true, "content": map[string]any{"multipart/form-data": map[string]any{
				"schema": jsonSchema{"type": "object", "required": []string{"item", "file"}, "properties": map[string]any{
					"item": jsonSchema{"type": "string"},
					"file": jsonSchema{"type": "string", "format": "binary", "contentMediaType": "application/octet-stream"},
				}}}}}
		case op.Method == "POST" && op.Path == "/cases/:no/events/:event":
			o["requestBody"] = jsonBody(s.eventBodies(false), false)
		case op.Method == "POST" && op.Path == "/cases/events/:event":
			o["requestBody"] = jsonBody(s.eventBodies(true), true)
		case op.Body != nil:
			g.request = true
			sch := g.value(op.Body)
			switch op.Body.(type) {
			case newCaseBody, editBody: // the keys the type has, with each service's form
				sch = s.withForms(g.structSchema(reflect.TypeOf(op.Body)))
			}
			g.request = false
			o["requestBody"] = jsonBody(sch, !op.BodyOptional)
		}
		resp := map[string]any{}
		ok := map[string]any{"description": http.StatusText(op.Status)}
		switch {
		case len(op.Raw) > 0:
			content := map[string]any{}
			for _, ct := range op.Raw {
				content[ct] = map[string]any{"schema": jsonSchema{"type": "string", "contentMediaType": ct}}
			}
			ok["content"] = content
		case op.OK != nil:
			ok["content"] = map[string]any{fiber.MIMEApplicationJSON: map[string]any{"schema": g.value(op.OK)}}
		}
		resp[strconv.Itoa(op.Status)] = ok
		for _, st := range problemStatuses(op) {
			resp[strconv.Itoa(st)] = map[string]any{"description": http.StatusText(st) + " (a problem document)",
				"content": map[string]any{"application/problem+json": map[string]any{"schema": problemRef}}}
		}
		o["responses"] = resp
		item, _ := paths[path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[path] = item
		}
		item[strings.ToLower(op.Method)] = o
	}
	for id, f := range s.forms() {
		g.defs["Form."+id] = f
	}
	return map[string]any{
		"openapi":           "3.1.0",
		"jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
		"info": map[string]any{"title": "tzportal API", "version": "v1",
			"description": "Citizen services of Taizhou: the JSON twin of every page. Errors are application/problem+json (RFC 9457) " +
				"with code, request_id, a rule for refused business rules and errors: [{field, rule, message}] localized by the " +
				"tz_lang cookie or Accept-Language. Forms and event inputs are the workflow files'."},
		"paths": paths,
		"components": map[string]any{
			"schemas": g.defs,
			"securitySchemes": map[string]any{
				"session": map[string]any{"type": "apiKey", "in": "cookie", "name": s.sessionCookie(),
					"description": "The session cookie POST /api/v1/session sets; requests other than GET also send the " +
						"csrf_token it answers in the X-CSRF-Token header."},
			},
		},
		"security": []any{map[string]any{"session": []string{}}},
	}
}

func jsonBody(schema any, required bool) map[string]any {
	return map[string]any{"required": required, "content": map[string]any{fiber.MIMEApplicationJSON: map[string]any{"schema": schema}}}
}

// items is {"items": [v…]}.
func items(v any) jsonSchema {
	t := reflect.SliceOf(reflect.TypeOf(v))
	return object(map[string]any{"items": reflect.MakeSlice(t, 0, 0).Interface()})
}

// object is a JSON object of these properties, each a Go value whose type
// says its schema; all are required unless required names some.
func object(props map[string]any, required ...string) jsonSchema {
	if required == nil {
		for k := range props {
			required = append(required, k)
		}
	}
	slices.Sort(required)
	return jsonSchema{"type": "object", "additionalProperties": false, "properties": props, "required": required}
}

// forms are the services' forms as JSON schemas, from their pages' fields.
func (s *Server) forms() map[string]jsonSchema {
	out := map[string]jsonSchema{}
	for _, e := range s.Engine.Registry.Online() {
		props := map[string]any{}
		for _, p := range e.Service.Pages() {
			target := props
			if p.List != "" {
				entry, _ := props[p.List].(jsonSchema)
				if entry == nil {
					entry = jsonSchema{"type": "array", "items": jsonSchema{"type": "object", "additionalProperties": false,
						"properties": map[string]any{}}}
					if p.Max > 0 {
						entry["maxItems"] = p.Max
					}
					props[p.List] = entry
				}
				target = entry["items"].(jsonSchema)["properties"].(map[string]any)
			}
			for _, f := range p.Fields {
				target[f.Name] = fieldSchema(f)
			}
		}
		out[e.ID] = jsonSchema{"type": "object", "additionalProperties": false, "properties": props,
			"description": "The form of " + e.ID + " (a draft may leave fields out)."}
	}
	return out
}

// fieldSchema is the JSON a form field takes.
func fieldSchema(f workflow.Field) jsonSchema {
	switch f.Kind {
	case workflow.KindNumber:
		return jsonSchema{"type": "integer"}
	case workflow.KindBool:
		return jsonSchema{"type": "boolean"}
	case workflow.KindRanked:
		sch := jsonSchema{"type": "array", "items": jsonSchema{"type": "string"}}
		if f.Max > 0 {
			sch["maxItems"] = f.Max
		}
		return sch
	case workflow.KindDate:
		return jsonSchema{"type": "string", "description": "YYYY-MM-DD"}
	}
	return jsonSchema{"type": "string", "description": f.Kind}
}

// withForms is a request body that carries a form ({service, form} or
// {form, version}): one branch per online service, its form that
// service's (and service, when the body has it, its name).
func (s *Server) withForms(body jsonSchema) jsonSchema {
	var branches []any
	for _, e := range s.Engine.Registry.Online() {
		props := map[string]any{}
		for k, v := range body["properties"].(map[string]any) {
			props[k] = v
		}
		props["form"] = jsonSchema{"$ref": "#/components/schemas/Form." + e.ID}
		if _, ok := props["service"]; ok {
			props["service"] = jsonSchema{"const": e.ID}
		}
		b := jsonSchema{}
		for k, v := range body {
			b[k] = v
		}
		b["properties"] = props
		branches = append(branches, b)
	}
	return jsonSchema{"anyOf": branches}
}

// eventNames are every event of every online service.
func (s *Server) eventNames() jsonSchema {
	var names []string
	for _, e := range s.Engine.Registry.Online() {
		for _, n := range e.Def.EventNames() {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	return jsonSchema{"type": "string", "enum": names}
}

// eventBodies are the bodies events take: their declared inputs as
// top-level keys, and version; with bulk, the bodies of the events marked
// bulk: case_nos and their inputs (no version: each case has its own).
// One branch per distinct set of inputs.
func (s *Server) eventBodies(bulk bool) jsonSchema {
	var branches []any
	seen := map[string]bool{}
	for _, e := range s.Engine.Registry.Online() {
		def := e.Def
		for _, name := range def.EventNames() {
			ev := def.Events[name]
			if bulk && !ev.Bulk {
				continue
			}
			props := map[string]any{"version": jsonSchema{"type": "integer", "description": "the version the client saw"}}
			required := []string{}
			if bulk {
				props = map[string]any{"case_nos": jsonSchema{"type": "array", "minItems": 1, "items": jsonSchema{"type": "string"},
					"description": fmt.Sprintf("the cases, at most %d once a number named twice counts once", workflow.MaxBulk)}}
				required = []string{"case_nos"}
			}
			for _, in := range ev.Inputs {
				props[in.Name] = inputSchema(def, def.Inputs[in.Name])
				if in.Required && !bulk {
					required = append(required, in.Name)
				}
			}
			b := jsonSchema{"type": "object", "additionalProperties": false, "properties": props, "required": required}
			key, _ := json.Marshal(b)
			if seen[string(key)] {
				continue
			}
			seen[string(key)] = true
			b["title"] = e.ID + " " + name
			branches = append(branches, b)
		}
	}
	return jsonSchema{"anyOf": branches}
}

// inputSchema is the JSON an event input takes.
func inputSchema(def *workflow.Definition, spec *workflow.InputSpec) jsonSchema {
	str := jsonSchema{"type": "string"}
	switch spec.Type {
	case workflow.InputList:
		item := jsonSchema{"type": "string"}
		if n := def.Limit(spec.ItemMax); n > 0 {
			item["maxLength"] = n
		}
		sch := jsonSchema{"type": "array", "items": item}
		if n := def.Limit(spec.Max); n > 0 {
			sch["maxItems"] = n
		}
		return sch
	case workflow.InputChoice:
		str["enum"] = spec.Options
	case workflow.InputDate:
		str["description"] = "YYYY-MM-DD"
	default:
		if n := def.Limit(spec.Max); n > 0 {
			str["maxLength"] = n
		}
	}
	return str
}

// schemaGen turns Go types into JSON Schema 2020-12 (OpenAPI 3.1) as
// encoding/json writes them: a named struct becomes a component.
type schemaGen struct {
	defs  map[string]any
	names map[reflect.Type]string
	// request: the type is a request body's, decoded strictly (unknown
	// keys refused) but with no key required to decode: a missing value
	// is the handler's to refuse, with its field named (422).
	request bool
}

var (
	timeType    = reflect.TypeFor[time.Time]()
	rawType     = reflect.TypeFor[json.RawMessage]()
	marshaler   = reflect.TypeFor[json.Marshaler]()
	textMarshal = reflect.TypeFor[encoding.TextMarshaler]()
)

// value is the schema of v: a jsonSchema as written, with the values of
// its properties read as Go values; any other value by its type.
func (g *schemaGen) value(v any) any {
	js, ok := v.(jsonSchema)
	if m, isMap := v.(map[string]any); isMap {
		js, ok = object(m), true
	}
	if !ok {
		return g.of(reflect.TypeOf(v))
	}
	out := jsonSchema{}
	for k, x := range js {
		switch k {
		case "properties":
			props := map[string]any{}
			for name, p := range x.(map[string]any) {
				props[name] = g.value(p)
			}
			out[k] = props
		case "anyOf":
			var bs []any
			for _, b := range x.([]any) {
				bs = append(bs, g.value(b))
			}
			out[k] = bs
		default:
			out[k] = x
		}
	}
	return out
}

func (g *schemaGen) of(t reflect.Type) jsonSchema {
	switch t {
	case timeType:
		return jsonSchema{"type": "string", "format": "date-time"}
	case rawType:
		return jsonSchema{}
	}
	if t.Kind() != reflect.Struct && t.Kind() != reflect.Pointer && (t.Implements(marshaler) || t.Implements(textMarshal)) {
		return jsonSchema{}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return nullable(g.of(t.Elem()))
	case reflect.String:
		return jsonSchema{"type": "string"}
	case reflect.Bool:
		return jsonSchema{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return jsonSchema{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return jsonSchema{"type": "number"}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return jsonSchema{"type": "string", "contentEncoding": "base64"}
		}
		return jsonSchema{"type": "array", "items": g.of(t.Elem())}
	case reflect.Array:
		return jsonSchema{"type": "array", "items": g.of(t.Elem()), "minItems": t.Len(), "maxItems": t.Len()}
	case reflect.Map:
		return jsonSchema{"type": "object", "additionalProperties": g.of(t.Elem())}
	case reflect.Struct:
		return g.structRef(t)
	}
	return jsonSchema{}
}

// nullable lets a schema be null as well (a nil pointer, slice or map).
func nullable(s jsonSchema) jsonSchema {
	switch t := s["type"].(type) {
	case string:
		out := jsonSchema{}
		for k, v := range s {
			out[k] = v
		}
		out["type"] = []string{t, "null"}
		return out
	case nil:
		if len(s) == 0 {
			return s
		}
	}
	return jsonSchema{"anyOf": []any{s, jsonSchema{"type": "null"}}}
}

func (g *schemaGen) structRef(t reflect.Type) jsonSchema {
	if t.Name() == "" {
		return g.structSchema(t)
	}
	name, ok := g.names[t]
	if !ok {
		name = strings.TrimSuffix(t.Name(), "Doc")
		name = strings.ToUpper(name[:1]) + name[1:]
		if _, taken := g.defs[name]; taken {
			name = t.PkgPath()[strings.LastIndex(t.PkgPath(), "/")+1:] + "." + name
		}
		g.names[t] = name
		g.defs[name] = jsonSchema{} // taken, for types that refer to themselves
		g.defs[name] = g.structSchema(t)
	}
	return jsonSchema{"$ref": "#/components/schemas/" + name}
}

// structSchema is an object of the struct's JSON fields; a field without
// omitempty is always written, so required (a nil slice, map or pointer
// among them as null).
func (g *schemaGen) structSchema(t reflect.Type) jsonSchema {
	props := map[string]any{}
	required := []string{}
	var walk func(t reflect.Type)
	// encoding/json's rule: a field of an embedded struct gives way to
	// one of the same name nearer the top.
	walk = func(t reflect.Type) {
		var embedded []reflect.Type
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" || (!f.IsExported() && !f.Anonymous) {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if f.Anonymous && name == "" {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					embedded = append(embedded, ft)
					continue
				}
			}
			if name == "" {
				name = f.Name
			}
			if _, dup := props[name]; dup {
				continue
			}
			omit := slices.Contains(strings.Split(opts, ","), "omitempty")
			sch := g.of(f.Type)
			switch f.Type.Kind() {
			case reflect.Slice, reflect.Map:
				if !omit && f.Type != rawType && f.Type.Elem().Kind() != reflect.Uint8 {
					sch = nullable(sch)
				}
			case reflect.Pointer:
				if omit { // absent, never null
					sch = g.of(f.Type.Elem())
				}
			}
			if slices.Contains(strings.Split(opts, ","), "string") {
				sch = jsonSchema{"type": "string"}
			}
			props[name] = sch
			if !omit {
				required = append(required, name)
			}
		}
		for _, e := range embedded {
			walk(e)
		}
	}
	walk(t)
	out := jsonSchema{"type": "object", "additionalProperties": false, "properties": props}
	if !g.request {
		slices.Sort(required)
		out["required"] = required
	}
	return out
}
