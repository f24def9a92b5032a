package workflow

import (
	"context"
	"fmt"
	"slices"

	"tzportal/portal"
)

// CohortStep is one case a cohort operation moves, with what the operation
// records in its result before the event fires (an allocation's school).
type CohortStep struct {
	CaseNo string
	Result map[string]any
}

// CohortBatch is how many cases one transaction of a cohort operation moves
// when the caller does not say.
const CohortBatch = 500

// FireCohort fires a cohort event (cohort: true in the workflow file) on
// every case of steps as actor, batch cases per transaction, each case
// through the same path as a single event: its row locked, the actor's
// permission checked in its division, the guards and actions run, its
// history, timer, notice and audit entry written (a batch's appends held
// and written together: portal.Tx.HoldAppends). A case no longer in a
// state the event leaves from — moved by an earlier run of the same
// operation that was cut short — is skipped, so running it again resumes.
// progress runs in each batch's transaction with the cases moved so far,
// so the operation's record and its cases never disagree. It returns how
// many cases this run moved; the first refusal stops it (the batches
// before it stay done, and a re-run resumes after them).
func (e *Engine) FireCohort(ctx context.Context, actor portal.Actor, service, event string, steps []CohortStep, batch int,
	progress func(ctx context.Context, tx portal.Tx, moved int) error) (int, error) {
	ent := e.entry(service)
	if ent == nil || ent.Def == nil {
		return 0, portal.NotFound(fmt.Errorf("workflow.FireCohort: no service %s", service))
	}
	def := ent.Def
	ev, ok := def.Events[event]
	if !ok || !ev.Cohort {
		return 0, fmt.Errorf("workflow.FireCohort: %s is not a cohort event of %s", event, service)
	}
	if batch <= 0 {
		batch = CohortBatch
	}
	moved := 0
	for start := 0; start < len(steps); start += batch {
		part := steps[start:min(start+batch, len(steps))]
		n := 0
		err := e.Store.Tx(ctx, func(tx portal.Tx) error {
			n = 0
			// Each case is read once, before it moves: what the steps
			// append (history, timers, audit, list removals) is written
			// a kind at a time when the batch is done.
			if len(part) > 1 {
				tx.HoldAppends()
			}
			nos := make([]string, len(part))
			for i, st := range part {
				nos[i] = st.CaseNo
			}
			cases, hist, err := tx.CasesWithHistoryForUpdate(ctx, nos)
			if err != nil {
				return err
			}
			byNo := make(map[string]*portal.Case, len(cases))
			for i := range cases {
				byNo[cases[i].No] = &cases[i]
			}
			done := map[string]bool{}
			for _, st := range part {
				c := byNo[st.CaseNo]
				if c == nil {
					return portal.NotFound(fmt.Errorf("workflow.FireCohort: no case %s", st.CaseNo))
				}
				if done[st.CaseNo] { // named twice: it moves once
					continue
				}
				done[st.CaseNo] = true
				ok, err := e.fireOne(ctx, tx, actor, ent, ev, event, st, c, hist[c.ID])
				if err != nil {
					return err
				}
				if ok {
					n++
				}
			}
			return progress(ctx, tx, moved+n)
		})
		if err != nil {
			return moved, err
		}
		moved += n
	}
	return moved, nil
}

// fireOne moves one case of a cohort in tx, read and locked with its
// timeline; false when it has moved already.
func (e *Engine) fireOne(ctx context.Context, tx portal.Tx, actor portal.Actor, ent *Entry, ev *Event, event string, st CohortStep,
	c *portal.Case, hist []portal.History) (bool, error) {
	if c.Service != ent.ID {
		return false, fmt.Errorf("workflow.FireCohort: %s is not a case of %s", c.No, ent.ID)
	}
	if !slices.Contains(ev.From, c.State) {
		return false, nil
	}
	// A person needs the permission in the case's division; the portal's
	// own operator on the command line (a system actor without an account,
	// like the scheduler) is trusted as the timers are.
	role := actor.System
	if actor.User != nil || actor.System == "" {
		var ok bool
		if role, ok = e.Authz.Can(actor.User, c.Division, c.Service, EventAction(event, c.State)); !ok {
			return false, forbiddenEvent(c.No, event+" from "+c.State)
		}
	}
	f := e.firing(tx, ent.Def, c, event, actor, role, e.Now())
	f.History = hist
	if err := e.check(f, ev); err != nil {
		return false, err
	}
	if len(st.Result) > 0 {
		if err := SetResult(c, st.Result); err != nil {
			return false, err
		}
	}
	if err := e.transition(ctx, f, ent, ev); err != nil {
		return false, fmt.Errorf("%s: %w", c.No, err)
	}
	return true, nil
}
