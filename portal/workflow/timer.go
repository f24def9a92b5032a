package workflow

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"tzportal/portal"
)

// Scheduler is the built-in actor that fires timeouts.
const Scheduler = "scheduler"

// RunDueTimers fires the timeouts that are due and returns how many fired.
// A timer whose case has moved on (another version) is finished as obsolete.
// Several nodes may run it at once: the case row lock and the version check
// make each timeout fire at most once.
func (e *Engine) RunDueTimers(ctx context.Context) (int, error) {
	jobs, err := e.Store.DueJobs(ctx, e.Now(), 100)
	if err != nil {
		return 0, err
	}
	fired := 0
	for _, j := range jobs {
		ok, err := e.fireTimer(ctx, j)
		if err != nil {
			return fired, fmt.Errorf("workflow.RunDueTimers: job %d (%s %s): %w", j.ID, j.CaseNo, j.Event, err)
		}
		if ok {
			fired++
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
		if c.Version != j.Version || st.OnTimeout != j.Event {
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
