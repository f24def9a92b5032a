package workflow

import (
	"context"
	"fmt"
	"strings"
	"time"

	"tzportal/portal"
)

// A certificate's timers live in the jobs table beside the workflow's
// timeouts, on the case that issued it, under events no workflow can name
// (they hold a dot): the reminder before its end date and, for a kind that
// lapses to suspended, the suspension at its end date. Each change of the
// certificate replaces them, so a case has at most one of each waiting.
const (
	certTimerPrefix = "certificate."
	certRemind      = certTimerPrefix + "remind"
	certLapse       = certTimerPrefix + "lapse"
)

// scheduleCertificate replaces the timers of case c, which issued cert,
// after cert was issued or changed in this step.
func (f *Firing) scheduleCertificate(ctx context.Context, c *portal.Case, cert *portal.Certificate) error {
	if err := f.Tx.ObsoleteJobs(ctx, c.ID, certTimerPrefix, f.Now); err != nil {
		return err
	}
	spec := f.e.certificateSpec(cert.Kind)
	if spec == nil || cert.Status != portal.CertValid || cert.ValidUntil == "" {
		return nil
	}
	if spec.Remind != nil {
		at, err := remindAt(spec.Remind, cert.ValidUntil, f.Cal.Zone)
		if err != nil {
			return err
		}
		if at.After(f.Now) {
			if err := f.Tx.InsertJob(ctx, &portal.Job{CaseID: c.ID, Event: certRemind, Version: c.Version, DueAt: at}); err != nil {
				return err
			}
		}
	}
	if spec.Lapse == portal.CertSuspended {
		at, err := lapseAt(cert.ValidUntil, f.Cal.Zone)
		if err != nil {
			return err
		}
		return f.Tx.InsertJob(ctx, &portal.Job{CaseID: c.ID, Event: certLapse, Version: c.Version, DueAt: at})
	}
	return nil
}

// lapseAt is the first moment after the day validUntil.
func lapseAt(validUntil string, zone *time.Location) (time.Time, error) {
	d, err := time.ParseInLocation(time.DateOnly, validUntil, zone)
	if err != nil {
		return time.Time{}, fmt.Errorf("workflow: certificate valid until %q: %w", validUntil, err)
	}
	return d.AddDate(0, 0, 1), nil
}

// remindAt is months_before the anniversary (the day after validUntil), at
// the time of day the spec names.
func remindAt(r *RemindSpec, validUntil string, zone *time.Location) (time.Time, error) {
	end, err := lapseAt(validUntil, zone)
	if err != nil {
		return time.Time{}, err
	}
	h, m, err := r.Clock()
	if err != nil {
		return time.Time{}, err
	}
	d := AddMonths(end, -r.MonthsBefore)
	return time.Date(d.Year(), d.Month(), d.Day(), h, m, 0, 0, zone), nil
}

// fireCertificateTimer runs a certificate timer of case c in tx, which
// holds the job and the case's row; it reports whether it did anything.
func (e *Engine) fireCertificateTimer(ctx context.Context, tx portal.Tx, j portal.Job, c *portal.Case, now time.Time) (bool, error) {
	def := e.entry(c.Service).Def
	spec := def.Certificate
	certs, err := tx.CertificatesOf(ctx, c.ID)
	if err != nil || spec == nil {
		return false, err
	}
	f := e.firing(tx, def, c, j.Event, portal.Actor{System: Scheduler}, Scheduler, now)
	today := now.In(e.Calendar.Zone).Format(time.DateOnly)
	done := false
	for i := range certs {
		cert := &certs[i]
		if cert.Status != portal.CertValid || cert.ValidUntil == "" {
			continue
		}
		switch j.Event {
		case certRemind:
			if spec.Remind == nil {
				continue
			}
			at, err := remindAt(spec.Remind, cert.ValidUntil, e.Calendar.Zone)
			if err != nil || !at.Equal(j.DueAt) || cert.ValidUntil < today {
				continue // the certificate changed since: another reminder waits
			}
			if err := f.notice(ctx, spec.Remind.Notice, cert.ValidUntil); err != nil {
				return false, err
			}
			done = true
		case certLapse:
			if cert.ValidUntil >= today || spec.Lapse != portal.CertSuspended {
				continue
			}
			cert.Status, cert.UpdatedAt = portal.CertSuspended, now
			if err := tx.UpdateCertificate(ctx, cert); err != nil {
				return false, err
			}
			if err := f.auditCertificate(ctx, c, cert.Number, "suspend", map[string]any{"valid_until": cert.ValidUntil}); err != nil {
				return false, err
			}
			if spec.LapseNotice != "" {
				if err := f.notice(ctx, spec.LapseNotice, cert.ValidUntil); err != nil {
					return false, err
				}
			}
			done = true
		}
	}
	return done, nil
}

// notice tells the case's applicant of something no workflow event did:
// texts <service>.notify.<name>, the date given as Due.
func (f *Firing) notice(ctx context.Context, name, due string) error {
	f.Event = name
	f.Input.Values = portal.Inputs{"due": due}
	return f.e.Notifier.Notify(ctx, f)
}

// isCertificateTimer reports whether a job is a certificate's.
func isCertificateTimer(event string) bool { return strings.HasPrefix(event, certTimerPrefix) }
