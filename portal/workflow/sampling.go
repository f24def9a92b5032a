package workflow

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"tzportal/portal"
	"tzportal/portal/audit"
)

// Re-review sampling (抽查复核). Each day, for every service, the cases
// decided the day before (a final state whose outcome is granted or
// refused) are drawn with a fresh random seed: a case is drawn when the
// first eight bytes of SHA-256 over "<seed>:<case number>", read as a
// big-endian integer, are below share × 2⁶⁴. The seed is kept with the
// draw and written in its audit entry (review.sample), so anyone can redraw
// it from the seed and the day's decided cases (SampleSelect). A
// supervisor in whose reach a drawn case lies records a finding: agree,
// or disagree with a reason (review.finding); the findings are counted per
// clerk who decided.

// SamplingFile is the sampling settings in policies/.
const SamplingFile = "sampling.yaml"

// Audit actions of the sampling.
const (
	SampleAction  = "review.sample"
	FindingAction = "review.finding"
)

// SamplingPolicy holds policies/sampling.yaml.
type SamplingPolicy struct {
	Share          float64            `yaml:"share"`
	Services       map[string]float64 `yaml:"services"`
	CatchUpDays    int                `yaml:"catch_up_days"`
	ReasonMinChars int                `yaml:"reason_min_chars"`
	ReasonMaxChars int                `yaml:"reason_max_chars"`
}

// ShareOf is the share drawn of a service's decided cases.
func (p *SamplingPolicy) ShareOf(service string) float64 {
	if s, ok := p.Services[service]; ok {
		return s
	}
	return p.Share
}

// LoadSamplingPolicy reads sampling.yaml from fsys (policies.FS).
func LoadSamplingPolicy(fsys fs.FS) (*SamplingPolicy, error) {
	src, err := fs.ReadFile(fsys, SamplingFile)
	if err != nil {
		return nil, fmt.Errorf("policies/%s: %w", SamplingFile, err)
	}
	var p SamplingPolicy
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("policies/%s: %w", SamplingFile, err)
	}
	var errs []string
	for _, name := range append([]string{""}, slices.Sorted(maps.Keys(p.Services))...) {
		if s := p.ShareOf(name); !(s > 0 && s <= 1) {
			errs = append(errs, fmt.Sprintf("share %q must be above 0 and at most 1", name))
		}
	}
	if p.CatchUpDays < 1 || p.CatchUpDays > 366 {
		errs = append(errs, "catch_up_days must be from 1 to 366")
	}
	if p.ReasonMinChars < 1 || p.ReasonMaxChars < p.ReasonMinChars {
		errs = append(errs, "reason_min_chars must be at least 1 and at most reason_max_chars")
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("policies/%s: %s", SamplingFile, strings.Join(errs, "; "))
	}
	return &p, nil
}

// SampleSelect returns the case numbers of nos a draw with seed and share
// selects, in the order given.
func SampleSelect(seed string, share float64, nos []string) []string {
	limit := share * math.Pow(2, 64)
	var out []string
	for _, no := range nos {
		h := sha256.Sum256([]byte(seed + ":" + no))
		if float64(binary.BigEndian.Uint64(h[:8])) < limit {
			out = append(out, no)
		}
	}
	return out
}

// decidedStates are a definition's final states whose outcome is a
// decision (granted or refused), sorted.
func decidedStates(d *Definition) []string {
	var out []string
	for name, st := range d.States {
		if st.Final && (st.Outcome == "granted" || st.Outcome == "refused") {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// DrawSamples draws every service's sample of each civil day from
// catch_up_days ago to yesterday not drawn yet, and returns how many draws
// it made. A day is drawn once however many nodes run it (samples is
// unique per service and day).
func (e *Engine) DrawSamples(ctx context.Context) (int, error) {
	p := e.Sampling
	if p == nil {
		return 0, nil
	}
	now := e.Now().In(e.Calendar.Zone)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, e.Calendar.Zone)
	n := 0
	defs := e.Definitions()
	for _, id := range slices.Sorted(maps.Keys(defs)) {
		states := decidedStates(defs[id])
		if len(states) == 0 {
			continue
		}
		for back := p.CatchUpDays; back >= 1; back-- {
			from := today.AddDate(0, 0, -back)
			ok, err := e.drawSample(ctx, id, states, from, p.ShareOf(id))
			if err != nil {
				return n, fmt.Errorf("workflow.DrawSamples(%s, %s): %w", id, from.Format(time.DateOnly), err)
			}
			if ok {
				n++
			}
		}
	}
	return n, nil
}

// drawSample draws a service's day; false when it was drawn already.
func (e *Engine) drawSample(ctx context.Context, service string, states []string, from time.Time, share float64) (bool, error) {
	day := from.Format(time.DateOnly)
	if _, err := e.Store.SampleOf(ctx, service, day); err == nil {
		return false, nil
	} else if portal.ErrorCode(err) != portal.ENOTFOUND {
		return false, err
	}
	decided, err := e.Store.DecidedCases(ctx, service, states, from, from.AddDate(0, 0, 1))
	if err != nil {
		return false, err
	}
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return false, err
	}
	s := &portal.Sample{Service: service, Day: day, Seed: hex.EncodeToString(b), Share: share, Decided: len(decided), DrawnAt: e.Now()}
	nos := make([]string, len(decided))
	for i, d := range decided {
		nos[i] = d.CaseNo
	}
	chosen := SampleSelect(s.Seed, share, nos)
	var drawn []portal.DecidedCase
	for _, d := range decided {
		if slices.Contains(chosen, d.CaseNo) {
			drawn = append(drawn, d)
		}
	}
	s.Drawn = len(drawn)
	err = e.Store.Tx(ctx, func(tx portal.Tx) error {
		if err := tx.InsertSample(ctx, s, drawn); err != nil {
			return err
		}
		ent := audit.Entry(portal.Actor{System: "scheduler"}, SampleAction, "sample:"+service+":"+day, audit.ResultOK)
		return e.Audit.Append(ctx, tx, audit.WithDetail(ent, map[string]any{"service": service, "day": day, "seed": s.Seed,
			"share": share, "decided": s.Decided, "drawn": caseNumbers(drawn)}))
	})
	if portal.ErrorCode(err) == portal.ECONFLICT {
		return false, nil // another node drew it first
	}
	return err == nil, err
}

// caseNumbers are the cases' numbers.
func caseNumbers(ds []portal.DecidedCase) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.CaseNo
	}
	return out
}

// RunSampling draws the samples now and then every interval until ctx ends.
func (e *Engine) RunSampling(ctx context.Context, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := e.DrawSamples(ctx); err != nil {
			log.Error("sampling", "err", err)
			e.jobFailed("sampling")
		} else if n > 0 {
			log.Info("sampling: days drawn for re-review", "draws", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ReviewScope is the reach of actor over the drawn cases (policy review,
// write); none for anyone else.
func (e *Engine) ReviewScope(actor portal.Actor) portal.ReviewFilter {
	f := e.Authz.Scope(actor.User, "review", "write")
	if actor.User == nil || actor.User.Kind != portal.KindStaff {
		return portal.ReviewFilter{}
	}
	return portal.ReviewFilter{Scope: f.Scope, AllScope: f.AllScope}
}

// MayReview reports whether actor reviews anything.
func (e *Engine) MayReview(actor portal.Actor) bool {
	f := e.ReviewScope(actor)
	return f.AllScope || len(f.Scope) > 0
}

// RecordFinding records actor's finding on a drawn case of a sample:
// ENOTFOUND when it is not in their reach (or not drawn), EINVALID naming
// the field, ECONFLICT when it has a finding already.
func (e *Engine) RecordFinding(ctx context.Context, actor portal.Actor, sampleID int64, caseNo, finding, reason string) (*portal.SampleCase, error) {
	scope := e.ReviewScope(actor)
	if !scope.AllScope && len(scope.Scope) == 0 {
		return nil, portal.NotFound(fmt.Errorf("workflow.RecordFinding: %s reviews nothing", actor.ID()))
	}
	reason = strings.TrimSpace(reason)
	var bad []portal.FieldError
	if finding != portal.FindingAgree && finding != portal.FindingDisagree {
		bad = append(bad, portal.FieldError{Field: "finding", Rule: "oneof", Param: portal.FindingAgree + " " + portal.FindingDisagree})
	}
	n := utf8.RuneCountInString(reason)
	p := e.Sampling
	switch {
	case finding == portal.FindingDisagree && n < p.ReasonMinChars:
		bad = append(bad, portal.FieldError{Field: "reason", Rule: "min", Param: strconv.Itoa(p.ReasonMinChars)})
	case n > p.ReasonMaxChars:
		bad = append(bad, portal.FieldError{Field: "reason", Rule: "max", Param: strconv.Itoa(p.ReasonMaxChars)})
	}
	var out *portal.SampleCase
	outside := false
	err := e.Store.Tx(ctx, func(tx portal.Tx) error {
		sc, err := tx.SampleCaseForUpdate(ctx, sampleID, caseNo)
		if err != nil {
			return err
		}
		if _, ok := e.Authz.Can(actor.User, sc.Division, "review", "write"); !ok {
			outside = true
			return portal.NotFound(fmt.Errorf("workflow.RecordFinding: %s is not in %s's reach", caseNo, actor.ID()))
		}
		if len(bad) > 0 {
			return &portal.Error{Code: portal.EINVALID, Message: "error.invalid", Fields: bad, Labels: "review.field"}
		}
		if sc.Finding != "" {
			return &portal.Error{Code: portal.ECONFLICT, Rule: "reviewed", Message: "review.error.reviewed"}
		}
		now := e.Now()
		if err := tx.RecordFinding(ctx, sampleID, sc.CaseID, finding, reason, actor.User.ID, now); err != nil {
			return err
		}
		sc.Finding, sc.Reason, sc.ReviewerID, sc.ReviewedAt = finding, reason, &actor.User.ID, &now
		out = sc
		ent := audit.Entry(actor, FindingAction, "case:"+caseNo, audit.ResultOK)
		ent.Division = sc.Division
		return e.Audit.Append(ctx, tx, audit.WithDetail(ent, map[string]any{"sample": sampleID, "finding": finding, "reason": reason}))
	})
	if outside { // recorded in a transaction of its own, the other rolled back
		e.DeniedOn(ctx, actor, FindingAction, "case:"+caseNo)
	}
	return out, err
}
