package workflow_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"tzportal/policies"
	"tzportal/portal"
	"tzportal/portal/account"
	"tzportal/portal/boot"
	"tzportal/portal/pii"
	"tzportal/portal/validate"
	"tzportal/portal/workflow"
	"tzportal/workflows"
)

// shippedServices are the portal's services, built as boot builds them.
func shippedServices(tb testing.TB) []workflow.Service {
	tb.Helper()
	sealer, err := pii.NewSealer(bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32))
	if err != nil {
		tb.Fatal(err)
	}
	return boot.Services(boot.Deps{Validator: validate.New(validate.Options{}), Sealer: sealer, Counties: portal.NewCounties(nil)})
}

// shippedKnown is what the portal checks workflow files against: the roles
// of policies/roles.yaml and the hooks of the services.
func shippedKnown(tb testing.TB) (workflow.Known, []workflow.Service) {
	tb.Helper()
	names, err := account.RoleNames(policies.FS)
	if err != nil {
		tb.Fatal(err)
	}
	services := shippedServices(tb)
	k := workflow.Known{Roles: names, Hooks: map[string]workflow.Hooks{}}
	for _, s := range services {
		h, err := workflow.WithBuiltins(s.ID(), s.Hooks())
		if err != nil {
			tb.Fatal(err)
		}
		k.Hooks[s.ID()] = h
	}
	return k, services
}

// shippedRegistry is the registry of the shipped workflows and services.
func shippedRegistry(tb testing.TB) *workflow.Registry {
	tb.Helper()
	names, err := account.RoleNames(policies.FS)
	if err != nil {
		tb.Fatal(err)
	}
	reg, err := workflow.NewRegistry(names, shippedServices(tb), workflows.FS)
	if err != nil {
		tb.Fatal(err)
	}
	return reg
}

// FuzzParseDefinition: any bytes as a workflow file never panic; a refusal
// is a list of LoadErrors naming the file; a definition that is accepted is
// consistent (states, events, roles, deadlines the engine can compute) and
// can be wired to its service without a panic.
//
// Seeds: the shipped workflows/residence-permit.yaml (below) and mutations of
// it in testdata/fuzz/FuzzParseDefinition.
func FuzzParseDefinition(f *testing.F) {
	shipped, err := fs.ReadFile(workflows.FS, "residence-permit.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(shipped)
	reg, services := shippedKnown(f)
	cal, err := workflow.LoadCalendar(workflows.FS)
	if err != nil {
		f.Fatal(err)
	}
	const file = "workflows/residence-permit.yaml"
	f.Fuzz(func(t *testing.T, src []byte) {
		def, err, panicked := parseNoPanic(file, src, reg)
		if panicked != "" {
			t.Fatalf("Parse panics on\n%s\n\n%s", src, panicked)
		}
		if err != nil {
			if def != nil {
				t.Fatalf("Parse returned a definition with an error: %v", err)
			}
			for _, e := range leaves(err) {
				var le *workflow.LoadError
				if !errors.As(e, &le) || le.File != file || !strings.HasPrefix(e.Error(), file) {
					t.Fatalf("refusal %q (%T) does not name the file", e, e)
				}
			}
			return
		}
		if _, ok := def.States[def.Initial]; !ok {
			t.Fatalf("accepted with initial state %q undefined", def.Initial)
		}
		states, events := def.StateNames(), def.EventNames()
		if len(states) != len(def.States) || len(events) != len(def.Events) {
			t.Fatalf("order lists %v %v do not match the maps (%d states, %d events)", states, events, len(def.States), len(def.Events))
		}
		for _, name := range events {
			e := def.Events[name]
			if e == nil || len(e.By.All()) == 0 || len(e.From) == 0 || len(e.To.Branches) == 0 {
				t.Fatalf("accepted event %s: %+v", name, e)
			}
			for _, to := range e.To.States() {
				if _, ok := def.States[to]; !ok {
					t.Fatalf("accepted event %s to unknown state %q", name, to)
				}
			}
			for _, from := range e.From {
				if s, ok := def.States[from]; !ok || s.Final || slices.Contains(e.To.States(), from) && e.Transfer == "" || len(e.By.From(from)) == 0 {
					t.Fatalf("accepted event %s from %q", name, from)
				}
			}
			for _, r := range e.By.All() {
				if !reg.Roles[r] {
					t.Fatalf("accepted event %s by unknown role %q", name, r)
				}
			}
		}
		from := time.Date(2026, 11, 30, 10, 0, 0, 0, cal.Zone)
		for _, name := range states {
			s := def.States[name]
			if !s.Final && len(def.EventsFrom(name)) == 0 {
				t.Fatalf("accepted dead end %s", name)
			}
			if s.Deadline.IsZero() {
				continue
			}
			// A working-day deadline costs Due a loop per day: one that
			// cannot finish would hang every request that enters the state.
			if s.Deadline.Working && s.Deadline.N > 100_000 {
				t.Fatalf("accepted a deadline of %d working days in state %s", s.Deadline.N, name)
			}
			if due := cal.Due(from, s.Deadline); !due.After(from) || due.Year() > 9999 {
				t.Fatalf("state %s: a deadline of %+v from %s is due %s", name, s.Deadline, from, due)
			}
		}
		for _, p := range def.Policies() {
			if len(p) != 4 || !reg.Roles[p[0]] {
				t.Fatalf("policy line %v", p)
			}
		}
		for _, s := range services {
			if s.ID() == def.Service {
				s.Configure(def) // it may refuse bad settings; it must not panic
			}
		}
	})
}

// parseNoPanic is workflow.Parse with a panic caught and returned with its
// stack, so that one bad input fails its test instead of stopping every
// other test of the package.
func parseNoPanic(file string, src []byte, reg workflow.Known) (def *workflow.Definition, err error, panicked string) {
	defer func() {
		if p := recover(); p != nil {
			def, err, panicked = nil, fmt.Errorf("panic: %v", p), fmt.Sprintf("%v\n%s", p, debug.Stack())
		}
	}()
	def, err = workflow.Parse(file, src, reg)
	return def, err, ""
}

// leaves flattens errors.Join trees.
func leaves(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leaves(e)...)
		}
		return out
	}
	return []error{err}
}

// TestFuzzSeedsCoverRefusals makes sure the seed corpus keeps exercising
// both outcomes of Parse, so the fuzz target checks more than the happy path.
func TestFuzzSeedsCoverRefusals(t *testing.T) {
	reg, _ := shippedKnown(t)
	dir := "testdata/fuzz/FuzzParseDefinition"
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var refused, accepted int
	for _, e := range entries {
		src, err := readCorpusFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		if _, err, _ := parseNoPanic("workflows/residence-permit.yaml", src, reg); err != nil { // a panic is FuzzParseDefinition's to report
			refused++
		} else {
			accepted++
		}
	}
	if refused < 5 || accepted < 1 || !slices.ContainsFunc(entries, func(e os.DirEntry) bool { return e.Name() == "shipped" }) {
		t.Errorf("seed corpus: %d refused, %d accepted (want ≥ 5 and ≥ 1, and the shipped file)", refused, accepted)
	}
}

// readCorpusFile reads a one-value "go test fuzz v1" file holding []byte("…").
func readCorpusFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	head, body, ok := strings.Cut(string(b), "\n")
	body = strings.TrimSpace(body)
	if !ok || head != "go test fuzz v1" || !strings.HasPrefix(body, "[]byte(") || !strings.HasSuffix(body, ")") {
		return nil, fmt.Errorf("not a go test fuzz v1 file with one []byte value")
	}
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(body, "[]byte("), ")"))
	return []byte(s), err
}
