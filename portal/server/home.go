package server

import (
	"io/fs"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"

	"tzportal/portal"
	"tzportal/portal/locale"
	"tzportal/portal/workflow"
	"tzportal/web"
)

func (s *Server) staticRoutes(app *fiber.App) {
	sub, _ := fs.Sub(web.FS, "static")
	app.Use("/static", filesystem.New(filesystem.Config{Root: http.FS(sub), MaxAge: 3600}))
}

// serviceDoc is a service and its guide (办事指南). For an online service
// the conditions read the workflow's settings, and the materials and time
// limits are the workflow's own: the guide cannot drift from the rules.
type serviceDoc struct {
	ID         string        `json:"id"`
	Name       string        `json:"name"`
	Available  bool          `json:"available"`
	Summary    string        `json:"summary"`
	Who        string        `json:"who"`
	Conditions []string      `json:"conditions"`
	Materials  []string      `json:"materials"`
	TimeLimit  string        `json:"time_limit"`
	Deadlines  []deadlineDoc `json:"deadlines,omitempty"`
	Fee        string        `json:"fee"`
	Basis      string        `json:"legal_basis"`
	// For API clients: the form's fields, each event with its inputs, the
	// checklist of materials (item ids for uploads) and the certificate kind.
	Form        []fieldDoc         `json:"form,omitempty"`
	Events      []eventDoc         `json:"events,omitempty"`
	Checklist   []checklistItemDoc `json:"checklist,omitempty"`
	Certificate string             `json:"certificate,omitempty"`
	// Extra is what a service adds to its guide page (workflow.Guider):
	// drawn by its template <service>/guide.
	Extra any `json:"-"`
}

// checklistItemDoc is one item of a service's checklist: key items must be
// uploaded to submit; when and per say which forms need it, and how often.
type checklistItemDoc struct {
	Item  string              `json:"item"`
	Label string              `json:"label"`
	Key   bool                `json:"key"`
	When  map[string][]string `json:"when,omitempty"`
	Per   string              `json:"per,omitempty"`
}

// deadlineDoc is the time limit of one step.
type deadlineDoc struct {
	State   string `json:"state"`
	Label   string `json:"label"`
	Days    int    `json:"days"`
	Working bool   `json:"working_days"`
	Text    string `json:"text"`
}

type fieldDoc struct {
	Name     string   `json:"name"`
	Kind     string   `json:"kind"`
	List     string   `json:"list,omitempty"` // the list field an entry's field belongs to
	Options  []string `json:"options,omitempty"`
	Optional bool     `json:"optional,omitempty"`
	If       string   `json:"if,omitempty"`
}

type eventDoc struct {
	Name   string     `json:"name"`
	From   []string   `json:"from"`
	To     []string   `json:"to"`
	By     []string   `json:"by"`
	Inputs []inputDef `json:"inputs"`
}

type inputDef struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Required bool   `json:"required"`
	Max      int    `json:"max,omitempty"`
}

func (s *Server) serviceDocs(l *locale.L, api bool) []serviceDoc {
	out := make([]serviceDoc, 0, len(s.Engine.Registry.All()))
	for _, e := range s.Engine.Registry.All() {
		out = append(out, s.serviceDoc(l, e, api))
	}
	return out
}

// serviceDoc describes a service for its guide; for API clients (api) also
// its form's fields and its events with their inputs.
func (s *Server) serviceDoc(l *locale.L, e *workflow.Entry, api bool) serviceDoc {
	k := e.ID + "."
	d := serviceDoc{ID: e.ID, Name: l.T(k + "name"), Available: e.Online(), Summary: l.T(k + "guide.summary"),
		Who: l.T(k + "guide.who"), TimeLimit: l.T(k + "guide.time_limit"), Fee: l.T(k + "guide.fee"), Basis: l.T(k + "guide.basis")}
	if !e.Online() {
		d.Conditions, d.Materials = formLines(l.T(k+"guide.conditions")), formLines(l.T(k+"guide.materials"))
		return d
	}
	def := e.Def
	d.Conditions = formLines(l.T(k+"guide.conditions", def.Settings))
	for _, m := range def.Material {
		d.Materials = append(d.Materials, l.T(k+"material."+m))
	}
	for _, st := range def.StateNames() {
		state := def.States[st]
		if state.Deadline.IsZero() || state.Private {
			continue
		}
		dl := deadlineDoc{State: st, Label: stateLabel(l, e.ID, st), Days: state.Deadline.N, Working: state.Deadline.Working}
		unit := "guide.days"
		if dl.Working {
			unit = "guide.working_days"
		}
		dl.Text = l.T(unit, map[string]any{"N": dl.Days})
		d.Deadlines = append(d.Deadlines, dl)
	}
	if !api {
		return d
	}
	for _, it := range def.Checklist {
		d.Checklist = append(d.Checklist, checklistItemDoc{Item: it.Item, Label: l.T(k + "material." + it.Item), Key: it.Key,
			When: it.When, Per: it.Per})
	}
	if def.Certificate != nil {
		d.Certificate = def.Certificate.Kind
	}
	for _, p := range e.Service.Pages() {
		for _, f := range p.Fields {
			d.Form = append(d.Form, fieldDoc{Name: f.Name, Kind: f.Kind, List: p.List, Options: f.Options, Optional: f.Optional, If: f.If})
		}
	}
	for _, name := range def.EventNames() {
		ev := def.Events[name]
		ed := eventDoc{Name: name, From: ev.From, To: ev.To.States(), By: ev.By.All(), Inputs: []inputDef{}}
		for _, in := range ev.Inputs {
			spec := def.Inputs[in.Name]
			ed.Inputs = append(ed.Inputs, inputDef{Name: in.Name, Type: spec.Type, Required: in.Required, Max: def.Limit(spec.Max)})
		}
		d.Events = append(d.Events, ed)
	}
	return d
}

func (s *Server) home(c *fiber.Ctx) error {
	return s.render(c, "home", s.newPage(c, "home.title", s.serviceDocs(loc(c), false)))
}

func (s *Server) guide(c *fiber.Ctx) error {
	e, ok := s.Engine.Registry.Get(c.Params("service"))
	if !ok {
		return portal.NotFound(nil)
	}
	d := s.serviceDoc(loc(c), e, false)
	if g, ok := e.Service.(workflow.Guider); ok && e.Online() {
		extra, err := g.Guide(ctx(c), s.Store, s.Now().In(s.Zone).Format(time.DateOnly))
		if err != nil {
			return err
		}
		d.Extra = extra
	}
	p := s.newPage(c, "", d)
	p.Title = d.Name
	return s.render(c, "guide", p)
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
	return c.JSON(fiber.Map{"items": s.serviceDocs(loc(c), true)})
}

func (s *Server) apiDivisions(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"items": s.Authz.Divisions().All()})
}
