package workflow

import (
	"bytes"
	"fmt"
	"io/fs"
	"slices"
	"sort"

	"go.yaml.in/yaml/v3"
)

// Registry is every citizen service of the portal, in the order people see
// them: the online ones (a workflow file and a service package) and the ones
// workflows/catalogue.yaml announces before they are built (a guide only).
// It is built once at start (boot) and read by the engine, the web layer,
// fsck and the tests; nothing else lists services.
type Registry struct {
	entries []*Entry
	byID    map[string]*Entry
	byCode  map[string]*Entry // online services by the two letters of their case numbers
}

// Entry is one service of the registry.
type Entry struct {
	ID      string
	Def     *Definition // nil for a service announced but not online yet
	Service Service
	Hooks   Hooks
}

// Online reports whether people can apply for the service here.
func (e *Entry) Online() bool { return e.Def != nil }

// catalogue is workflows/catalogue.yaml.
type catalogue struct {
	Services []string `yaml:"services"`
}

// NewRegistry loads the workflow files of sources (workflows/, and the
// folders of services shipped with their own files), checks each against
// the roles and the hooks of its service, and configures the services.
// Every definition needs its service and every service its definition.
func NewRegistry(roles map[string]bool, services []Service, sources ...fs.FS) (*Registry, error) {
	known := Known{Roles: roles, Hooks: map[string]Hooks{}}
	svcByID := map[string]Service{}
	for _, s := range services {
		if _, dup := svcByID[s.ID()]; dup {
			return nil, fmt.Errorf("workflow.NewRegistry: service %s is registered twice", s.ID())
		}
		svcByID[s.ID()] = s
		hooks, err := WithBuiltins(s.ID(), s.Hooks())
		if err != nil {
			return nil, err
		}
		known.Hooks[s.ID()] = hooks
	}
	defs, err := LoadAll(known, sources...)
	if err != nil {
		return nil, err
	}
	var order []string
	for _, src := range sources {
		b, err := fs.ReadFile(src, CatalogueFile)
		if err != nil {
			continue
		}
		var c catalogue
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil {
			return nil, fmt.Errorf("workflows/%s: %w", CatalogueFile, err)
		}
		for _, id := range c.Services {
			if !svcRE.MatchString(id) || slices.Contains(order, id) {
				return nil, fmt.Errorf("workflows/%s: service id %q is malformed or listed twice", CatalogueFile, id)
			}
			order = append(order, id)
		}
	}
	// Services not in the catalogue come after it, by id: a new service
	// needs no edit of the catalogue to appear.
	var rest []string
	for id := range defs {
		if !slices.Contains(order, id) {
			rest = append(rest, id)
		}
	}
	sort.Strings(rest)
	r := &Registry{byID: map[string]*Entry{}, byCode: map[string]*Entry{}}
	for _, id := range append(order, rest...) {
		e := &Entry{ID: id, Def: defs[id], Service: svcByID[id], Hooks: known.Hooks[id]}
		switch {
		case e.Def != nil && e.Service == nil:
			return nil, fmt.Errorf("workflow.NewRegistry: %s has no service registered in code", e.Def.File)
		case e.Def == nil && e.Service != nil:
			return nil, fmt.Errorf("workflow.NewRegistry: service %s has no workflows/%s.yaml", id, id)
		case e.Service != nil:
			if other, ok := r.byCode[e.Def.Code]; ok {
				return nil, fmt.Errorf("workflow.NewRegistry: %s and %s both number their cases TZ%s", other.ID, id, e.Def.Code)
			}
			r.byCode[e.Def.Code] = e
			if _, ok := e.Service.(Lister); !ok {
				for name, s := range e.Def.States {
					if s.Listed {
						return nil, fmt.Errorf("workflow.NewRegistry: %s lists the cases in %s, but service %s keeps no lists (workflow.Lister)",
							e.Def.File, name, id)
					}
				}
			}
			if err := e.Service.Configure(e.Def); err != nil {
				return nil, err
			}
		}
		r.entries = append(r.entries, e)
		r.byID[id] = e
	}
	return r, nil
}

// All returns every service, online or announced, in catalogue order.
func (r *Registry) All() []*Entry { return r.entries }

// Online returns the services people can apply for, in catalogue order.
func (r *Registry) Online() []*Entry {
	var out []*Entry
	for _, e := range r.entries {
		if e.Online() {
			out = append(out, e)
		}
	}
	return out
}

// Get returns the service with id (online or announced).
func (r *Registry) Get(id string) (*Entry, bool) {
	e, ok := r.byID[id]
	return e, ok
}

// ByCaseNo returns the online service a case number belongs to (its two
// letters after TZ), without reading the case.
func (r *Registry) ByCaseNo(no string) (*Entry, bool) {
	if len(no) < 4 {
		return nil, false
	}
	e, ok := r.byCode[no[2:4]]
	return e, ok
}

// Definition returns the workflow of an online service.
func (r *Registry) Definition(id string) (*Definition, bool) {
	e, ok := r.byID[id]
	if !ok || e.Def == nil {
		return nil, false
	}
	return e.Def, true
}

// Definitions returns the workflow of every online service by id.
func (r *Registry) Definitions() map[string]*Definition {
	out := map[string]*Definition{}
	for _, e := range r.Online() {
		out[e.ID] = e.Def
	}
	return out
}

// Policies returns the casbin permissions of every online workflow.
func (r *Registry) Policies() [][]string {
	var out [][]string
	for _, e := range r.Online() {
		out = append(out, e.Def.Policies()...)
	}
	return out
}

// WithBuiltins adds the engine's own guards and actions (materials,
// certificates) to a service's hooks; a service may not reuse their names.
func WithBuiltins(service string, h Hooks) (Hooks, error) {
	b := builtinHooks()
	out := Hooks{Guards: map[string]Guard{}, Actions: map[string]Action{}, Conditions: h.Conditions, Claims: h.Claims}
	for name, g := range h.Guards {
		out.Guards[name] = g
	}
	for name, a := range h.Actions {
		out.Actions[name] = a
	}
	for name, g := range b.Guards {
		if _, dup := out.Guards[name]; dup {
			return Hooks{}, fmt.Errorf("workflow.NewRegistry: service %s registers guard %q, which the engine provides", service, name)
		}
		out.Guards[name] = g
	}
	for name, a := range b.Actions {
		if _, dup := out.Actions[name]; dup {
			return Hooks{}, fmt.Errorf("workflow.NewRegistry: service %s registers action %q, which the engine provides", service, name)
		}
		out.Actions[name] = a
	}
	return out, nil
}
