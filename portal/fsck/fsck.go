// Package fsck checks the invariants of a portal database, as an operator
// (portal fsck) and the crash tests do:
//
//   - every case's version equals its number of history rows, numbered 1…n;
//   - every history row is an edge its workflow allows, each row starts where
//     the previous one ended, and the case is in the state the last row reached;
//   - every history row has its audit entry (case.<event> on the case, same
//     version; the desk's claim is case.hold);
//   - a case is in staff's queue exactly while it is handed in and not ended;
//   - an open case of a service with one open application per applicant
//     holds that claim, and a case that ended holds none;
//   - a case is on a list (case_lists) exactly while it is in a listed state;
//   - the audit hash chain is intact.
package fsck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"tzportal/portal"
	"tzportal/portal/audit"
	"tzportal/portal/workflow"
)

// Violation is one broken invariant.
type Violation struct {
	Case   string // case number, or "" for the audit chain
	Reason string
}

func (v Violation) String() string {
	if v.Case == "" {
		return v.Reason
	}
	return v.Case + ": " + v.Reason
}

// Result is what a check found.
type Result struct {
	Cases      int
	Audit      int64
	Violations []Violation
}

// batch is how many cases are read at a time: five queries per batch
// (cases, their history, audit entries, claims and list entries).
const batch = 500

// Check walks every case and the audit chain. It returns an error only when
// the database cannot be read; broken invariants are in Result.Violations.
func Check(ctx context.Context, r portal.Reader, defs map[string]*workflow.Definition, log *audit.Log) (*Result, error) {
	res := &Result{}
	var after int64
	for {
		cases, err := r.ListCases(ctx, portal.CaseFilter{AllScope: true, After: after, Limit: batch, NoForm: true})
		if err != nil {
			return res, err
		}
		if len(cases) == 0 {
			break
		}
		ids := make([]int64, len(cases))
		objects := make([]string, len(cases))
		for i, c := range cases {
			ids[i], objects[i] = c.ID, "case:"+c.No
		}
		hist, err := r.HistoryOf(ctx, ids)
		if err != nil {
			return res, err
		}
		audits, err := r.AuditOf(ctx, objects)
		if err != nil {
			return res, err
		}
		claims, err := r.ClaimsOf(ctx, ids)
		if err != nil {
			return res, err
		}
		listed, err := r.ListedOf(ctx, ids)
		if err != nil {
			return res, err
		}
		for i := range cases {
			c := &cases[i]
			res.Violations = append(res.Violations, checkCase(c, defs[c.Service], hist[c.ID], audits["case:"+c.No])...)
			res.Violations = append(res.Violations, checkClaims(c, defs[c.Service], claims[c.ID])...)
			if v := checkListed(c, defs[c.Service], listed); v != nil {
				res.Violations = append(res.Violations, *v)
			}
		}
		res.Cases += len(cases)
		after = cases[len(cases)-1].ID
	}
	n, err := log.Verify(ctx, r)
	res.Audit = n
	var broken *audit.Broken
	switch {
	case errors.As(err, &broken):
		res.Violations = append(res.Violations, Violation{Reason: broken.Error()})
	case err != nil:
		return res, err
	}
	return res, nil
}

// checkListed checks a case is on a list exactly while its state is listed
// (a case missing from its list is entered by the next start of a node).
func checkListed(c *portal.Case, def *workflow.Definition, listed map[int64]string) *Violation {
	if def == nil {
		return nil
	}
	st, on := def.States[c.State], listed[c.ID]
	switch {
	case st != nil && st.Listed && on == "":
		return &Violation{Case: c.No, Reason: fmt.Sprintf("in %s, a listed state, but on no list (a node entering it at start-up mends this)", c.State)}
	case (st == nil || !st.Listed) && on != "":
		return &Violation{Case: c.No, Reason: fmt.Sprintf("in %s, not a listed state, but on the list %s", c.State, on)}
	}
	return nil
}

// checkClaims checks what fsck can of a case's claims without its
// service: the applicant's claim while it is open, nothing once it ended.
func checkClaims(c *portal.Case, def *workflow.Definition, claims []string) []Violation {
	if def == nil || def.States[c.State] == nil {
		return nil // reported by checkCase
	}
	st := def.States[c.State]
	var out []Violation
	if st.Final && len(claims) > 0 {
		out = append(out, Violation{Case: c.No, Reason: fmt.Sprintf("the case ended (%s) but still holds %s", c.State, claimNames(claims))})
	}
	want := workflow.ApplicantClaim(c.Service, c.ApplicantID)
	if !st.Final && slices.Contains(def.Unique.Open, workflow.ClaimApplicant) && !slices.Contains(claims, want) {
		out = append(out, Violation{Case: c.No, Reason: "an open case without its claim " + want})
	}
	return out
}

// claimNames names claims for a report. A claim other than the
// applicant's may hold what identifies a person (the blind index of an ID
// number): only its kind is printed.
func claimNames(claims []string) string {
	out := make([]string, len(claims))
	for i, cl := range claims {
		svc, key, _ := strings.Cut(cl, "|")
		if kind, _, ok := strings.Cut(key, ":"); ok && kind != workflow.ClaimApplicant {
			cl = svc + "|" + kind + ":…"
		}
		out[i] = cl
	}
	return strings.Join(out, ", ")
}

func checkCase(c *portal.Case, def *workflow.Definition, hist []portal.History, entries []portal.AuditEntry) []Violation {
	var out []Violation
	bad := func(format string, args ...any) {
		out = append(out, Violation{Case: c.No, Reason: fmt.Sprintf(format, args...)})
	}
	if def == nil {
		bad("service %q has no workflow definition", c.Service)
		return out
	}
	if st, ok := def.States[c.State]; !ok {
		bad("state %q is not a state of %s", c.State, c.Service)
	} else if want := st.Queued(); c.InQueue != want {
		bad("in staff's queue is %v in state %s (want %v)", c.InQueue, c.State, want)
	}
	if c.Version != len(hist) {
		bad("version %d but %d history rows", c.Version, len(hist))
	}
	audited := map[int]string{}
	for _, e := range entries {
		var d struct {
			Version int `json:"version"`
		}
		if e.Result == audit.ResultOK && json.Unmarshal(e.Detail, &d) == nil && d.Version > 0 {
			audited[d.Version] = e.Action
		}
	}
	prev := ""
	for i, h := range hist {
		if h.Seq != i+1 {
			bad("history row %d has sequence number %d", i+1, h.Seq)
		}
		if h.From != prev {
			bad("history row %d starts in %q, but the case was in %q", h.Seq, h.From, prev)
		}
		if !def.Allows(h.Event, h.From, h.To) {
			bad("history row %d: %s from %q to %q is not allowed by workflows/%s.yaml", h.Seq, h.Event, h.From, h.To, c.Service)
		}
		if action, ok := audited[h.Seq]; !ok || action != workflow.AuditAction(h.Event) {
			bad("history row %d (%s) has no audit entry", h.Seq, h.Event)
		}
		prev = h.To
	}
	if len(hist) > 0 && prev != c.State {
		bad("the case is in %q but its history ends in %q", c.State, prev)
	}
	return out
}
