package workflow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"tzportal/portal"
)

// MaxBulk is the most cases one bulk request may name. Each case is its
// own transaction (the locked row, history, audit, notices): a hundred
// take about a second on PostgreSQL on two cores, well within a request's
// deadline (10 s by default), and a worklist page shows fifty. A limit of
// the engine's own work, not a rule of any service: a constant.
const MaxBulk = 100

// BulkResult is what a bulk event did to one case: the case as its
// viewer now sees it, or why it was refused (the error Fire returned).
type BulkResult struct {
	CaseNo string
	View   *View
	Err    error
}

// FireBulk fires event on each case of nos, in the order given (a number
// named twice counts once), each through Fire in a transaction of its own:
// authorization, guards and separation of duties are checked per case, a
// refused case changes nothing and does not stop the others. The request
// as a whole is refused only for what is wrong with all of it: no case or
// more than MaxBulk, an event no service has (404) or none lets be fired
// in bulk (422, rule not_bulk), an input no such event takes (422, like
// the single-case endpoint). A case whose service does not take the event
// in bulk is refused with rule not_bulk; that is read from its number's
// service alone, so it says nothing about whether the case exists.
//
// With an idempotency key, each case is fired under a key of its own
// (bulkKey): a retried request answers each case as the first did.
func (e *Engine) FireBulk(ctx context.Context, actor portal.Actor, nos []string, event string, in Input) ([]BulkResult, error) {
	if err := checkIdemKey(in.IdempotencyKey); err != nil {
		return nil, err
	}
	var uniq []string
	for _, no := range nos {
		if !slices.Contains(uniq, no) {
			uniq = append(uniq, no)
		}
	}
	switch {
	case len(uniq) == 0:
		return nil, portal.Invalid(portal.FieldError{Field: "case_nos", Rule: "required"})
	case len(uniq) > MaxBulk:
		return nil, portal.Invalid(portal.FieldError{Field: "case_nos", Rule: "max_items", Param: strconv.Itoa(MaxBulk)})
	}
	if err := e.bulkEvent(event, in.Values); err != nil {
		return nil, err
	}
	out := make([]BulkResult, 0, len(uniq))
	for _, no := range uniq {
		r := BulkResult{CaseNo: no}
		if err := ctx.Err(); err != nil {
			// The deadline passed: the cases left are not tried at all
			// (each says so), rather than failing halfway in a transaction.
			r.Err = portal.Unavailable("deadline", err)
			out = append(out, r)
			continue
		}
		ent, ok := e.Registry.ByCaseNo(no)
		switch {
		case !ok || checkCaseNo(no) != nil:
			r.Err = portal.NotFound(fmt.Errorf("workflow.FireBulk: %q is not a case number", no))
		case ent.Def.Events[event] == nil || !ent.Def.Events[event].Bulk:
			r.Err = notBulk(event)
		default:
			one := Input{Values: maps.Clone(in.Values), IdempotencyKey: bulkKey(in.IdempotencyKey, no)}
			r.View, r.Err = e.Fire(ctx, actor, no, event, one)
		}
		out = append(out, r)
	}
	return out, nil
}

// bulkEvent checks the request as a whole: some online service has the
// event, some lets it be fired in bulk, and each input sent is one such an
// event takes.
func (e *Engine) bulkEvent(event string, values portal.Inputs) error {
	exists, bulk := false, false
	takes := map[string]bool{}
	for _, ent := range e.Registry.Online() {
		ev := ent.Def.Events[event]
		if ev == nil {
			continue
		}
		exists = true
		if !ev.Bulk {
			continue
		}
		bulk = true
		for _, in := range ev.Inputs {
			takes[in.Name] = true
		}
	}
	switch {
	case !exists:
		return &portal.Error{Code: portal.ENOTFOUND, Message: "error.no_such_event", Data: map[string]any{"Event": event}}
	case !bulk:
		return notBulk(event)
	}
	var fields []portal.FieldError
	for _, k := range slices.Sorted(maps.Keys(values)) {
		if !takes[k] {
			fields = append(fields, portal.FieldError{Field: k, Rule: "unknown_field"})
		}
	}
	if len(fields) > 0 {
		return portal.Invalid(fields...)
	}
	return nil
}

func notBulk(event string) error {
	return portal.RuleError("not_bulk", "error.not_bulk", map[string]any{"Event": event})
}

// bulkKey is the idempotency key of one case of a bulk request whose key
// is key ("" for none). The step of each case is claimed under a key of
// its own, so a retry finds each case's first answer; the client's key is
// hashed, so the result stays well within maxIdemKey whatever its length,
// and prefixed, so it is never a key the client chose for a single event.
func bulkKey(key, no string) string {
	if key == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(key))
	return "bulk:" + hex.EncodeToString(sum[:16]) + ":" + no
}

// BulkEvents returns the bulk events u may fire on some of cases, in the
// order of the services' files: the buttons of a worklist showing them.
// Each (service, division) is asked once, so a page of fifty cases costs a
// few authorization checks, not fifty.
func (e *Engine) BulkEvents(u *portal.User, cases []portal.Case) []string {
	var out []string
	asked := map[string]bool{}
	for i := range cases {
		c := &cases[i]
		if asked[c.Service+"\x00"+c.Division] {
			continue
		}
		asked[c.Service+"\x00"+c.Division] = true
		ent := e.entry(c.Service)
		if ent == nil || ent.Def == nil {
			continue
		}
		for _, name := range ent.Def.EventNames() {
			ev := ent.Def.Events[name]
			if !ev.Bulk || slices.Contains(out, name) {
				continue
			}
			if slices.ContainsFunc(ev.From, func(st string) bool {
				_, ok := e.Authz.Can(u, c.Division, c.Service, EventAction(name, st))
				return ok
			}) {
				out = append(out, name)
			}
		}
	}
	return out
}
