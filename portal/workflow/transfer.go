package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"tzportal/portal"
)

// Transfers (移送): a case handed in at the wrong office moves to the right
// street or town of the city, in its state, in the step's transaction —
// the case's division and district, its form's division (so that a later
// correction does not move it back), its holder (nobody at the new office
// yet), its time limit (restart_clock: from the receiving office's
// receipt) and its timers, and the dashboards' counts, which move from the
// old office to the new one as a rebuild would count them. The applicant
// is told why and where (the event's notice). The receiving office may
// send it back (transfer: back) with a reason.

// divisionRule is the rule a division input breaks, if any: a street or
// town of the city's tree; a code of another city is out_of_city.
func (e *Engine) divisionRule(code string) string {
	divs := e.Authz.Divisions()
	if d, ok := divs.Get(code); ok {
		if d.Leaf() {
			return ""
		}
		return "division"
	}
	for _, r := range code {
		if r < '0' || r > '9' {
			return "division"
		}
	}
	if len(code) >= 6 && len(divs.Root) >= 4 && !strings.HasPrefix(code, divs.Root[:4]) {
		return "out_of_city"
	}
	return "division"
}

// inputDivision is the history input naming the office a transfer came
// from (the engine's own, beside the event's inputs).
const inputFromDivision = "from_division"

// transfer moves f's case to the office its event names (see above).
func (e *Engine) transfer(ctx context.Context, f *Firing, ev *Event) error {
	c, def := f.Case, f.Def
	divs := e.Authz.Divisions()
	to := f.Input.Values.Text("division")
	if ev.Transfer == TransferBack {
		to = ""
		for i := len(f.History) - 1; i >= 0 && to == ""; i-- {
			h := f.History[i]
			if prior := def.Events[h.Event]; prior != nil && prior.Transfer == TransferOffice && h.Inputs.Text("division") == c.Division {
				to = h.Inputs.Text(inputFromDivision)
			}
		}
		if to == "" {
			return &portal.Error{Code: portal.ECONFLICT, Rule: "not_transferred", Message: "error.not_transferred",
				Err: fmt.Errorf("workflow: %s was not transferred to %s", c.No, c.Division)}
		}
		f.Input.Values["division"] = to
	}
	if to == c.Division {
		return &portal.Error{Code: portal.EINVALID, Message: "error.invalid", Labels: def.Service + ".input",
			Fields: []portal.FieldError{{Field: "division", Rule: "same_division"}}}
	}
	if _, ok := divs.Get(to); !ok {
		return &portal.Error{Code: portal.EINVALID, Message: "error.invalid", Labels: def.Service + ".input",
			Fields: []portal.FieldError{{Field: "division", Rule: "division"}}}
	}
	old := *c
	form := map[string]json.RawMessage{}
	if err := json.Unmarshal(c.Form, &form); err != nil {
		return fmt.Errorf("workflow: transfer %s: form: %w", c.No, err)
	}
	if _, ok := form["division"]; ok {
		form["division"], _ = json.Marshal(to)
		b, err := json.Marshal(form)
		if err != nil {
			return fmt.Errorf("workflow: transfer %s: form: %w", c.No, err)
		}
		c.Form = b
	}
	f.Input.Values[inputFromDivision] = c.Division
	c.Division, c.District = to, divs.District(to)
	c.HolderID, c.HolderName = nil, ""
	e.moveStats(f, &old, c)

	st := def.States[c.State]
	version := c.Version + 1 // the step's, once written
	if ev.RestartClock && !st.Deadline.IsZero() {
		due := e.Calendar.Due(f.Now, st.Deadline)
		c.DueAt = &due
		if st.Escalates() {
			// The receiving office's step (enteredAt counts this one): the
			// first office's timer finds a later step and does nothing.
			if err := f.Tx.InsertJob(ctx, &portal.Job{CaseID: c.ID, Event: escalateTimer, Version: version, DueAt: due}); err != nil {
				return err
			}
		}
	}
	// The state's timeout names the version it was set at: this step's
	// version carries it on, with the due date as it now is.
	if st.OnTimeout != "" && c.DueAt != nil {
		return f.Tx.InsertJob(ctx, &portal.Job{CaseID: c.ID, Event: st.OnTimeout, Version: version, DueAt: *c.DueAt})
	}
	return nil
}

// moveStats moves the case's counts in the dashboards' rollups from its
// old office to its new one: everything its timeline counted under the
// old division and district, taken away there and added at the new ones
// — what a rebuild (which counts a case where it is) finds.
func (e *Engine) moveStats(f *Firing, old, moved *portal.Case) {
	out := e.ReplayStats([]portal.Case{*old}, map[int64][]portal.History{old.ID: f.History})
	for i := range out.Cases {
		out.Cases[i].N = -out.Cases[i].N
	}
	for i := range out.Steps {
		s := &out.Steps[i]
		s.N, s.Approved, s.Timed, s.OnTime = -s.N, -s.Approved, -s.Timed, -s.OnTime
	}
	for i := range out.Clerks {
		s := &out.Clerks[i]
		s.N, s.Approved, s.Timed, s.OnTime = -s.N, -s.Approved, -s.Timed, -s.OnTime
	}
	in := e.ReplayStats([]portal.Case{*moved}, map[int64][]portal.History{moved.ID: f.History})
	out.Cases = append(out.Cases, in.Cases...)
	out.Steps = append(out.Steps, in.Steps...)
	out.Clerks = append(out.Clerks, in.Clerks...)
	f.Tx.AddStats(out)
}

// DivisionName names the case's office as the applicant reads it: its
// district and its street or town ("海陵区 城东街道").
func (f *Firing) DivisionName() string {
	divs := f.e.Authz.Divisions()
	d, ok := divs.Get(f.Case.Division)
	if !ok {
		return f.Case.Division
	}
	if dist, ok := divs.Get(f.Case.District); ok && dist.Code != d.Code {
		return dist.Name + " " + d.Name
	}
	return d.Name
}
