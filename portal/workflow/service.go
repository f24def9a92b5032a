package workflow

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"tzportal/portal"
)

// Service is what a citizen service plugs into the portal: its package
// under portal/ implements it, its workflow file says the rest. Nothing
// else of the portal names a service.
type Service interface {
	// ID is the service id: the workflow file's name and the API's service.
	ID() string
	// Configure reads the service's settings from its definition; an error
	// stops start-up.
	Configure(d *Definition) error
	// Hooks are the guards, conditions, actions and claims the workflow
	// file may name.
	Hooks() Hooks
	// Form decodes, normalizes and validates an applicant's form, and
	// returns the JSON to store and the leaf division the case belongs to.
	Form(ctx context.Context, in FormInput) (json.RawMessage, string, error)
	// Pages are the form's pages, in order, for the HTML form and for
	// presenting the answers.
	Pages() []Page
	// Show returns a stored form as its viewer may see it: personal data
	// the service keeps sealed in clear for the applicant (owner), masked
	// for everyone else.
	Show(form json.RawMessage, owner bool) (json.RawMessage, error)
	// Reveal returns the clear value of a sealed field (e.g.
	// "members[0].id_number") for staff allowed to see it; the caller audits.
	Reveal(form json.RawMessage, field string) (string, error)
	// Example is a complete form that passes every rule: demo data, and
	// what the tests of every service apply with.
	Example() json.RawMessage
}

// Hooks are a service's named pieces of code.
type Hooks struct {
	Guards     map[string]Guard
	Actions    map[string]Action
	Conditions map[string]Condition
	Claims     map[string]Claim
}

// FormMode says how complete a form must be.
type FormMode int

const (
	// Draft: what is filled in must be right, but the applicant may save
	// and come back (a service decides what a draft needs at least).
	Draft FormMode = iota
	// Complete: everything the rules need, as for handing the case in.
	Complete
)

// FormInput is a form to decode.
type FormInput struct {
	Raw       json.RawMessage
	Mode      FormMode
	Applicant *portal.User // who applies (their ID number's blind index, for "not yourself")
	Now       time.Time
	// Store reads reference data a form is checked against (a district's
	// schools).
	Store portal.Reader
}

// Guard decides whether an event may fire; it returns a *portal.Error
// (usually ERULE, naming the rule) to refuse.
type Guard func(ctx context.Context, f *Firing) error

// Action does the work of an event inside its transaction, after the guards,
// e.g. issue a permit number into f.Case.Result.
type Action func(ctx context.Context, f *Firing) error

// Condition chooses a branch of an event's target.
type Condition func(ctx context.Context, f *Firing) (bool, error)

// Claim returns what an open case claims for itself among the service's
// open cases, e.g. one key per person moving (the applicant, read with
// their blind index, among them). Field names the form field a key comes
// from, for the message when another case holds it.
type Claim func(c *portal.Case, applicant *portal.User) ([]ClaimKey, error)

// ClaimKey is one claim of a case.
type ClaimKey struct {
	Key   string
	Field string
}

// Page is one page of a service's form.
type Page struct {
	ID     string
	Fields []Field
	// List names a list field of the form (e.g. "members"): the page is a
	// task list of its entries, each added, changed or removed on a page of
	// Fields. Max bounds the entries.
	List string
	Max  int
}

// Field is one field of a form page. Kind tells the web layer how to read
// it from an HTML form and how to show its value.
type Field struct {
	Name string
	Kind string
	// Options are the values of a choice (or the codes of a city select), in order.
	Options []string
	// Optional fields may stay empty when the case is handed in.
	Optional bool
	// Max is how many entries a ranked field takes.
	Max int
	// If names a condition "field=value": the field belongs to the form
	// only when another field has that value (the property certificate
	// for those settling into their own home).
	If string
}

// Applies reports whether the field belongs to a form with these values.
func (f Field) Applies(values map[string]any) bool {
	if f.If == "" {
		return true
	}
	k, want, _ := strings.Cut(f.If, "=")
	got, _ := values[k].(string)
	return got == want
}

// Field kinds.
const (
	KindText     = "text"     // shown as typed
	KindNumber   = "number"   // a whole number: an HTML form's text becomes a JSON number
	KindDate     = "date"     // YYYY-MM-DD
	KindChoice   = "choice"   // one of Options, shown by its label
	KindDivision = "division" // a Taizhou street or town
	KindCounty   = "county"   // a county of China
	KindCity     = "city"     // a city of China
	KindIDNumber = "idnumber" // a resident ID number (sealed; masked for staff)
	KindMobile   = "mobile"
	KindBool     = "bool"   // yes or no: an HTML form's "true"/"false" becomes a JSON boolean
	KindRanked   = "ranked" // up to Max choices in order (selects of the same name): a JSON array
)

// Plain gives a service the parts it does not need: no hooks, nothing
// sealed. Embed it and define what the service has.
type Plain struct{}

// Hooks returns no hooks.
func (Plain) Hooks() Hooks { return Hooks{} }

// Show returns the form as stored: nothing in it is sealed.
func (Plain) Show(form json.RawMessage, _ bool) (json.RawMessage, error) { return form, nil }

// Reveal finds nothing to reveal.
func (Plain) Reveal(json.RawMessage, string) (string, error) {
	return "", portal.NotFound(nil)
}

// Endpoints is what a service with an API of its own beyond cases
// implements (reference data it keeps, cohort operations): the server
// mounts each under /api/v1 without knowing the service.
type Endpoints interface {
	Endpoints(e *Engine) []Endpoint
}

// Endpoint is one route of a service's own API.
type Endpoint struct {
	Method string // GET or POST
	Path   string // under /api/v1, fiber syntax: "/allocations/:id"
	Public bool   // answered without a login
	Handle func(ctx context.Context, r Request) (status int, body any, err error)
	// PerMinute, when set, limits how often one address may call it (a
	// public form anyone may post: an objection).
	PerMinute int

	// The API's description (GET /api/v1/openapi.json): what it does, its
	// query parameters, the body it decodes, and the status and reply of a
	// success. Body and Reply are values whose types say their JSON; a
	// map[string]any is an object of those keys, each such a value (nil:
	// no body; any JSON reply). Status 0 is 200.
	Summary string
	Query   []string
	Body    any
	Status  int
	Reply   any
}

// Request is what an endpoint is given of an HTTP request.
type Request struct {
	Actor portal.Actor
	Param func(name string) string // path parameters
	Query func(name string) string
	// Decode reads a JSON body strictly into v: unknown keys and wrong
	// types are field errors.
	Decode func(v any) error
	// Form reads a field of a posted HTML form; File an uploaded file's
	// bytes (nil when none was sent).
	Form func(name string) string
	File func(name string) ([]byte, error)
}

// Optioner is a service whose form offers choices read from the database
// (a district's schools): the web layer asks it for a field's options,
// given the form so far.
type Optioner interface {
	Options(ctx context.Context, r portal.Reader, form json.RawMessage, field string) ([]Option, error)
}

// Option is one choice offered: its value and what people read.
type Option struct {
	Value string
	Label string
	Group string // options of a group are shown together (a district's schools)
}

// Screens is what a service with HTML pages of its own beyond its cases
// implements (an officer's cohort operations, an admin's reference data, a
// public list): the server mounts each and draws it in the portal's layout
// with the service's template.
type Screens interface {
	Screens(e *Engine) []Screen
}

// Screen is one route of a service's own pages.
type Screen struct {
	Method string // GET or POST
	Path   string // fiber syntax, e.g. "/schooling/lists/:id"
	Public bool   // shown without a login
	Handle func(ctx context.Context, r Request) (*Shown, error)
	// Menu, for a GET screen, is the message id of its link in the site's
	// navigation, shown to the people For says (nil: no link).
	Menu string
	For  func(u *portal.User) bool
}

// Shown is what a screen answers: a template of the service's drawn with
// Data (and the errors of Err next to their fields), or a redirect.
type Shown struct {
	Template string // e.g. "school-enrollment/office"
	Title    string // message id of the page title
	Data     any
	Err      error // a refusal shown on the page, the typed values kept in Data
	Status   int   // default 200, or 422/409 with Err
	Redirect string
}

// Guider is a service whose guide page shows what the database holds (a
// district's enrollment windows): Guide returns it, for the city's date
// day (YYYY-MM-DD), to the service's template <service>/guide.
type Guider interface {
	Guide(ctx context.Context, r portal.Reader, day string) (any, error)
}
