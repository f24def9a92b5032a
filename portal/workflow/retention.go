package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"tzportal/portal"
	"tzportal/portal/audit"
)

// AnonymiseAction is the audit action of a case whose personal data the
// retention job removed.
const AnonymiseAction = "case.anonymise"

// Anonymise removes the personal data of closed cases past their service's
// retention (Definition.Retention), up to limit cases a service, and returns
// how many it did. Each case is locked, checked again (still final, still
// holding its data), stripped to the keys its service keeps, its materials
// deleted, and audited — once, however many nodes run it (the update
// requires the data still held). History and audit are kept.
func (e *Engine) Anonymise(ctx context.Context, limit int) (int, error) {
	now := e.Now()
	done := 0
	defs := e.Definitions()
	for _, id := range slices.Sorted(maps.Keys(defs)) {
		d := defs[id]
		r := d.Retention
		if r == nil {
			continue
		}
		var withdrawn, decided []string
		for name, st := range d.States {
			switch {
			case !st.Final:
			case st.Outcome == "withdrawn":
				withdrawn = append(withdrawn, name)
			default:
				decided = append(decided, name)
			}
		}
		slices.Sort(withdrawn)
		slices.Sort(decided)
		for _, batch := range []struct {
			states []string
			days   int
		}{{decided, r.Days}, {withdrawn, r.WithdrawnDays}} {
			nos, err := e.Store.CasesToAnonymise(ctx, d.Service, batch.states, now.AddDate(0, 0, -batch.days), limit)
			if err != nil {
				return done, err
			}
			for _, no := range nos {
				ok, err := e.anonymise(ctx, d, no, now)
				if err != nil {
					return done, fmt.Errorf("workflow.Anonymise(%s): %w", no, err)
				}
				if ok {
					done++
				}
			}
		}
	}
	return done, nil
}

// anonymise strips one case; false if another node did it first.
func (e *Engine) anonymise(ctx context.Context, d *Definition, no string, now time.Time) (bool, error) {
	var files []string
	err := e.Store.Tx(ctx, func(tx portal.Tx) error {
		c, err := tx.CaseByNoForUpdate(ctx, no)
		if err != nil {
			return err
		}
		if st := d.States[c.State]; st == nil || !st.Final {
			return errDone // moved on since it was listed (it cannot: final)
		}
		form, dropped, err := keepKeys(c.Form, d.Retention.KeepForm)
		if err != nil {
			return err
		}
		result, _, err := keepKeys(c.Result, d.Retention.KeepResult)
		if err != nil {
			return err
		}
		if result, err = setKey(result, "anonymised_on", now.In(e.Calendar.Zone).Format(time.DateOnly)); err != nil {
			return err
		}
		ms, err := tx.Materials(ctx, c.ID)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if err := tx.DeleteMaterial(ctx, c.ID, m.ID); err != nil {
				return err
			}
			files = append(files, m.ID)
		}
		if err := tx.AnonymiseCase(ctx, c.ID, form, result, now); err != nil {
			if portal.ErrorCode(err) == portal.ECONFLICT {
				files = nil
				return errDone
			}
			return err
		}
		ent := audit.Entry(portal.Actor{System: Scheduler}, AnonymiseAction, caseObject(no), audit.ResultOK)
		ent.Division = c.Division
		return e.Audit.Append(ctx, tx, audit.WithDetail(ent, map[string]any{"form_keys_removed": dropped,
			"materials_removed": len(ms), "state": c.State}))
	})
	if err == errDone {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, id := range files { // after the commit, as RemoveMaterial does
		if err := e.Files.Remove(context.WithoutCancel(ctx), id); err != nil {
			e.Log.Error("retention: file of a removed material left", "id", id, "err", err)
		}
	}
	return true, nil
}

// errDone rolls back a case another node anonymised first.
var errDone = fmt.Errorf("workflow: anonymised already")

// keepKeys keeps the listed top-level keys of a JSON object and counts the
// others removed.
func keepKeys(doc json.RawMessage, keep []string) (json.RawMessage, int, error) {
	var m map[string]json.RawMessage
	if len(doc) > 0 {
		if err := json.Unmarshal(doc, &m); err != nil {
			return nil, 0, err
		}
	}
	out := map[string]json.RawMessage{}
	for _, k := range keep {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	b, err := json.Marshal(out)
	return b, len(m) - len(out), err
}

// setKey sets one key of a JSON object.
func setKey(doc json.RawMessage, key string, v any) (json.RawMessage, error) {
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		return nil, err
	}
	m[key] = v
	return json.Marshal(m)
}

// RunRetention runs Anonymise every interval until ctx ends.
func (e *Engine) RunRetention(ctx context.Context, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := e.Anonymise(ctx, 500); err != nil {
			log.Error("retention", "err", err)
			e.jobFailed("retention")
		} else if n > 0 {
			log.Info("retention: personal data removed", "cases", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
