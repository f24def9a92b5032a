package workflow

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"tzportal/portal"
)

// Scheduler is the built-in actor that fires timeouts.
const Scheduler = "scheduler"

// timerBatch is how many due timers one read takes; timerBatches bounds
// the batches of one run, so that a node that only meets timers other
// nodes are firing gives up until its next tick.
const (
	timerBatch   = 100
	timerBatches = 100
)

// RunDueTimers fires the timeouts that are due and returns how many fired,
// batch after batch until none is left (a thousand due at once all fire in
// this run, not one batch per tick). A timer whose case has moved on
// (another version) is finished as obsolete. Several nodes may run it at
// once: ClaimJob (FOR UPDATE SKIP LOCKED on PostgreSQL), the case row lock
// and the version check make each timeout fire exactly once.
func (e *Engine) RunDueTimers(ctx context.Context) (int, error) {
	fired := 0
	for range timerBatches {
		jobs, err := e.Store.DueJobs(ctx, e.Now(), timerBatch)
		if err != nil {
			return fired, err
		}
		// Nodes read the same due timers: each takes them in its own order,
		// so that they meet (and skip) each other's as little as possible.
		rand.Shuffle(len(jobs), func(i, k int) { jobs[i], jobs[k] = jobs[k], jobs[i] })
		for _, j := range jobs {
			ok, err := e.fireTimer(ctx, j)
			if err != nil {
				return fired, fmt.Errorf("workflow.RunDueTimers: job %d (%s %s): %w", j.ID, j.CaseNo, j.Event, err)
			}
			if ok {
				fired++
				if e.Observer != nil {
					e.Observer.JobRan("timer", e.Now().Sub(j.DueAt))
				}
			}
		}
		if len(jobs) < timerBatch || ctx.Err() != nil {
			break
		}
	}
	return fired, nil
}

func (e *Engine) fireTimer(ctx context.Context, j portal.Job) (bool, error) {
	fired := false
	err := e.Store.Tx(ctx, func(tx portal.Tx) error {
		fired = false
		if ok, err := tx.ClaimJob(ctx, j.ID); err != nil || !ok {
			return err // finished meanwhile, or another node is firing it
		}
		c, err := tx.CaseByNoForUpdate(ctx, j.CaseNo)
		if err != nil {
			return err
		}
		now := e.Now()
		if isCertificateTimer(j.Event) {
			if fired, err = e.fireCertificateTimer(ctx, tx, j, c, now); err != nil {
				return err
			}
			outcome := "fired"
			if !fired {
				outcome = "obsolete"
			}
			return tx.FinishJob(ctx, j.ID, now, outcome)
		}
		if j.Event == escalateTimer {
			if fired, err = e.fireEscalation(ctx, tx, j, c, now); err != nil {
				return err
			}
			outcome := "fired"
			if !fired {
				outcome = "obsolete"
			}
			return tx.FinishJob(ctx, j.ID, now, outcome)
		}
		ent := e.entry(c.Service)
		def := ent.Def
		st := def.States[c.State]
		same, err := sameStep(ctx, tx, c, j)
		if err != nil {
			return err
		}
		if !same || st.OnTimeout != j.Event {
			return tx.FinishJob(ctx, j.ID, now, "obsolete")
		}
		actor := portal.Actor{System: Scheduler}
		f := e.firing(tx, def, c, j.Event, actor, Scheduler, now)
		if err := e.transition(ctx, f, ent, def.Events[j.Event]); err != nil {
			return err
		}
		fired = true
		return tx.FinishJob(ctx, j.ID, now, "fired")
	})
	return fired, err
}

// RunTimers runs RunDueTimers every interval until ctx ends.
func (e *Engine) RunTimers(ctx context.Context, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := e.RunDueTimers(ctx); err != nil {
			log.Error("timers", "err", err)
			e.jobFailed("timers")
		} else if n > 0 {
			log.Info("timers fired", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// jobFailed counts a failed run of a background job.
func (e *Engine) jobFailed(job string) {
	if e.Observer != nil {
		e.Observer.JobFailed(job)
	}
}

// sameStep reports whether the case is still at the step timer j was set
// at: its version, or a later one reached by the desk's steps (a claim,
// release or assignment changes who works the case, not its time limits)
// and the applicant's edits (saving a correction is not handing it in
// again: its time limit still runs) alone.
func sameStep(ctx context.Context, tx portal.Tx, c *portal.Case, j portal.Job) (bool, error) {
	if c.Version == j.Version {
		return true, nil
	}
	if c.Version < j.Version {
		return false, nil
	}
	hist, err := tx.History(ctx, c.ID)
	if err != nil {
		return false, err
	}
	return onlySince(hist, j.Version, func(event string) bool { return portal.DeskEvent(event) || event == portal.EventEdit }), nil
}

// onlySince reports whether every step of hist after version is one of
// those neutral says change nothing that matters here (a view of version
// is still current, a timer set at it still due).
func onlySince(hist []portal.History, version int, neutral func(event string) bool) bool {
	if version < 1 || version > len(hist) {
		return false
	}
	for _, h := range hist {
		if h.Seq > version && !neutral(h.Event) {
			return false
		}
	}
	return true
}
