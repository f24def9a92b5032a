package server_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"tzportal/portal"
	"tzportal/portal/locale"
	"tzportal/portal/server"
	"tzportal/portal/testkit"
)

// actionArgs are the functions that write or pass on an audit entry's
// action, and which argument is the action; a prefix is put before it
// (the certificate's actions are its statuses and steps).
var actionArgs = map[string]struct {
	arg    int
	prefix string
	args   int // the call's argument count, where the name is common
}{
	"Entry":                {arg: 1, args: 4},
	"Denied":               {arg: 2},
	"DeniedOn":             {arg: 2},
	"refuseMaterialChange": {arg: 3},
	"cohortEntry":          {arg: 2},
	"record":               {arg: 4, args: 5},
	"setGrants":            {arg: 4},
	"insertWithGrants":     {arg: 3},
	"auditRefusal":         {arg: 3},
	"auditCertificate":     {arg: 3, prefix: "certificate."},
	"UpdateCertificate":    {arg: 3, prefix: "certificate.", args: 4},
	"SetCertificates":      {arg: 2, prefix: "certificate."},
}

// auditActions reads the portal's Go code (tests and tools aside) and
// returns every action it writes to the audit trail: the literal ones, and
// the families built at run time ("case." + an event) by their prefix.
func auditActions(t *testing.T) (actions, families map[string]bool) {
	t.Helper()
	fset := token.NewFileSet()
	var files []*ast.File
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || d.Name() == "loadtest") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		files = append(files, f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Every string constant of the code, by name (pkg.Name resolves by Name).
	consts := map[string]string{}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			if g, ok := n.(*ast.GenDecl); ok && g.Tok == token.CONST {
				for _, sp := range g.Specs {
					vs := sp.(*ast.ValueSpec)
					for i, name := range vs.Names {
						if i < len(vs.Values) {
							if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
								consts[name.Name], _ = strconv.Unquote(lit.Value)
							}
						}
					}
				}
			}
			return true
		})
	}
	actions, families = map[string]bool{}, map[string]bool{}
	var value func(e ast.Expr, prefix string, fn *ast.FuncDecl)
	value = func(e ast.Expr, prefix string, fn *ast.FuncDecl) {
		switch e := e.(type) {
		case *ast.BasicLit:
			if s, err := strconv.Unquote(e.Value); err == nil && e.Kind == token.STRING && s != "" { // "": no action (yet)
				actions[prefix+s] = true
			}
		case *ast.BinaryExpr:
			if lit, ok := e.X.(*ast.BasicLit); ok && e.Op == token.ADD {
				s, _ := strconv.Unquote(lit.Value)
				families[prefix+s] = true
			}
		case *ast.SelectorExpr:
			if s, ok := consts[e.Sel.Name]; ok {
				actions[prefix+s] = true
			}
		case *ast.Ident:
			if s, ok := consts[e.Name]; ok && (e.Obj == nil || e.Obj.Kind == ast.Con) {
				actions[prefix+s] = true
				return
			}
			if e.Obj == nil || fn == nil {
				return
			}
			if _, param := e.Obj.Decl.(*ast.Field); param {
				return // the callers' arguments are collected where they call
			}
			// A local variable: every value the function assigns to it.
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				if as, ok := n.(*ast.AssignStmt); ok {
					for i, lhs := range as.Lhs {
						if id, ok := lhs.(*ast.Ident); ok && id.Obj == e.Obj && i < len(as.Rhs) && len(as.Lhs) == len(as.Rhs) {
							value(as.Rhs[i], prefix, nil)
						}
					}
				}
				return true
			})
		}
	}
	for _, f := range files {
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				var name string
				switch f := call.Fun.(type) {
				case *ast.Ident:
					name = f.Name
				case *ast.SelectorExpr:
					name = f.Sel.Name
				}
				a, ok := actionArgs[name]
				if !ok || a.args != 0 && len(call.Args) != a.args || a.arg >= len(call.Args) {
					return true
				}
				value(call.Args[a.arg], a.prefix, fn)
				return true
			})
		}
	}
	return actions, families
}

// TestAuditActionsHaveLabels: every action the code writes to the audit
// trail has a label in both languages — the literal ones, each family's
// members (every event of every service, the portal's pseudo-events, the
// API's methods, a certificate's statuses) — and the collector finds the
// actions we know of, so it cannot pass by finding nothing.
func TestAuditActionsHaveLabels(t *testing.T) {
	actions, families := auditActions(t)
	for _, want := range []string{"login", "case.read", "audit.read", "material.upload", "idnumber.reveal", "staff.grant",
		"certificate.cancel", "certificate.revoked", "certificate.endorse", "case.escalate", "case.anonymise", "audit.verify", "audit.export"} {
		if !actions[want] {
			t.Errorf("the collector did not find the action %q in the code", want)
		}
	}
	for _, want := range []string{"case.", "api.", "cohort."} {
		if !families[want] {
			t.Errorf("the collector did not find the family %q in the code", want)
		}
	}
	p := testkit.Start(t, testkit.Backend{}, nil)
	for fam := range families {
		var members []string
		switch fam {
		case "case.", "cohort.":
			members = []string{portal.EventCreate, portal.EventEdit, portal.EventAmend}
			if fam == "cohort." {
				members = nil
			}
			for _, def := range p.Engine.Definitions() {
				for _, ev := range def.EventNames() {
					if fam == "case." || def.Events[ev].Cohort {
						members = append(members, ev)
					}
				}
			}
		case "api.":
			members = []string{"get", "head", "post", "put", "patch", "delete", "options"}
		case "certificate.":
			members = []string{portal.CertValid, portal.CertSuspended, portal.CertRevoked, portal.CertUsed}
		case "division.":
			members = []string{portal.DivisionAdd, portal.DivisionRename, portal.DivisionMove}
		default:
			t.Errorf("a family of actions the test does not know: %q + …", fam)
		}
		for _, m := range members {
			actions[fam+m] = true
		}
	}
	list := make([]string, 0, len(actions))
	for a := range actions {
		list = append(list, a)
	}
	slices.Sort(list)
	for _, lang := range locale.Supported {
		l := p.Catalog.L(lang)
		for _, a := range list {
			if got := server.ActionLabel(p.Server, l, a); got == a || got == "" {
				t.Errorf("%s: the action %q has no label (audit.action.%s in i18n/oversight-audit.%s.yaml, or the service's event label)", lang, a, a, lang)
			}
		}
	}
	t.Logf("%d actions checked in %v", len(list), locale.Supported)
}
