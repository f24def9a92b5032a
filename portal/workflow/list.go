package workflow

import (
	"context"
	"fmt"
	"slices"

	"tzportal/portal"
)

// Lister is a service that keeps its cases in listed states (a state's
// `listed: true`) on ordered lists: housing's waiting lists. The engine
// asks it for a case's entry whenever a step leaves the case in a listed
// state, and takes the case off its list when a step moves it out of one.
type Lister interface {
	// ListEntry is the entry of c as it stands after a step (its list,
	// class, prior rank, when it joined, its label); the engine fills in
	// the case's id, number and applicant.
	ListEntry(c *portal.Case) (portal.ListEntry, error)
}

// keepList keeps the case's list entry in step with the state it is left
// in: written while it is in a listed state (its class or rank may have
// changed), removed when it leaves one.
func (e *Engine) keepList(ctx context.Context, f *Firing) error {
	c := f.Case
	from, to := f.Def.States[f.From], f.Def.States[c.State]
	switch {
	case to != nil && to.Listed:
		l, ok := e.entry(c.Service).Service.(Lister)
		if !ok {
			return fmt.Errorf("workflow: %s lists cases in %s but keeps no lists", c.Service, c.State)
		}
		ent, err := listEntry(l, c)
		if err != nil {
			return err
		}
		return f.Tx.PutListEntries(ctx, []portal.ListEntry{ent})
	case from != nil && from.Listed:
		return f.Tx.DropListEntry(ctx, c.ID)
	}
	return nil
}

func listEntry(l Lister, c *portal.Case) (portal.ListEntry, error) {
	ent, err := l.ListEntry(c)
	if err != nil {
		return ent, fmt.Errorf("workflow: the list entry of %s: %w", c.No, err)
	}
	ent.CaseID, ent.CaseNo, ent.ApplicantID = c.ID, c.No, c.ApplicantID
	return ent, nil
}

// listPage is how many cases one transaction of ListUnlisted enters.
const listPage = 2000

// ListUnlisted mends the lists: it takes off them the cases no longer in
// a listed state (moved on by a node of a version that kept no lists), then
// enters the cases in listed states that have no entry — those already
// waiting when their service began keeping lists, or written by hand (the
// load tool's seed) — a page per transaction, each case locked as it is
// entered. It returns how many it entered. Every node runs it at
// start-up; it is cheap when there is nothing to do (two joins along
// indexes).
func (e *Engine) ListUnlisted(ctx context.Context) (int, error) {
	n := 0
	for _, ent := range e.Registry.All() {
		l, ok := ent.Service.(Lister)
		if !ok || ent.Def == nil {
			continue
		}
		var listed []string
		for state, s := range ent.Def.States {
			if s.Listed {
				listed = append(listed, state)
			}
		}
		slices.Sort(listed)
		if err := e.Store.Tx(ctx, func(tx portal.Tx) error {
			dropped, err := tx.DropStaleListEntries(ctx, ent.ID, listed)
			if dropped > 0 {
				e.Log.Warn("cases taken off lists they had left", "service", ent.ID, "cases", dropped)
			}
			return err
		}); err != nil {
			return n, err
		}
		for _, state := range listed {
			var after int64
			for {
				var page []portal.Case
				err := e.Store.Tx(ctx, func(tx portal.Tx) error {
					var err error
					if page, err = tx.UnlistedCases(ctx, ent.ID, state, after, listPage); err != nil || len(page) == 0 {
						return err
					}
					es := make([]portal.ListEntry, len(page))
					for i := range page {
						if es[i], err = listEntry(l, &page[i]); err != nil {
							return err
						}
					}
					return tx.PutListEntries(ctx, es)
				})
				if err != nil {
					return n, err
				}
				n += len(page)
				if len(page) < listPage {
					break
				}
				after = page[len(page)-1].ID
			}
		}
	}
	return n, nil
}
