// Package outbox tells applicants of the steps of their cases. Notify
// writes, in the step's own transaction, the notice in their in-portal
// inbox and one delivery row per further channel (SMS, email); nothing is
// written for a step that rolls back. Worker sends the deliveries: it
// claims due rows with a lease (FOR UPDATE SKIP LOCKED on PostgreSQL), so
// several nodes never take the same row, a node that dies mid-send leaves
// the row to the next worker when its lease ends, and failures are retried
// with backoff or, when retrying cannot help, kept visible as failed.
package outbox

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"tzportal/portal"
	"tzportal/portal/locale"
	"tzportal/portal/notify"
	"tzportal/portal/workflow"
)

// Channels of deliveries.
const (
	ChannelSMS   = "sms"
	ChannelEmail = "email"
)

// Outbox writes notices. It implements workflow.Notifier.
type Outbox struct {
	Catalog *locale.Catalog
	// Email: an SMTP server is configured, so applicants with an address
	// are also written to.
	Email bool
}

var _ workflow.Notifier = (*Outbox)(nil)

// Notify writes the notice of f's step for the case's applicant: texts
// <service>.notify.<event>.{title,body,sms} in the applicant's language.
// The SMS text is given only the case number, the service's name, a date
// and the surname: it can carry no ID number and no full name, whatever
// its template says.
func (o *Outbox) Notify(ctx context.Context, f *workflow.Firing) error {
	c := f.Case
	app := c.Applicant // read with the case, but for a timer's step
	if app == nil {
		u, err := f.Tx.UserByID(ctx, c.ApplicantID)
		if err != nil {
			return err
		}
		app = u
	}
	l := o.Catalog.L(app.Locale)
	svc := c.Service
	key := svc + ".notify." + f.Event
	data := map[string]any{
		"CaseNo":  c.No,
		"Service": l.T(svc + ".name"),
		"Surname": surname(app.Name),
		"Due":     "",
		"Reason":  "",
		"Items":   "",
		"Office":  f.DivisionName(), // the office the case is at (a transfer's: where it went)
	}
	if c.DueAt != nil {
		data["Due"] = f.Cal.LastDay(*c.DueAt).In(f.Cal.Zone).Format(time.DateOnly)
	}
	if d, ok := f.Input.Values["due"].(string); ok {
		data["Due"] = d // a certificate's reminder: its end date
	}
	if r, ok := f.Input.Values["reason"].(string); ok {
		data["Reason"] = r
	}
	if items, ok := f.Input.Values["items"].([]string); ok {
		labels := make([]string, 0, len(items))
		for _, it := range items {
			if l.Has(svc + ".material." + it) {
				labels = append(labels, l.T(svc+".material."+it))
			} else {
				labels = append(labels, it)
			}
		}
		data["Items"] = strings.Join(labels, l.T("list.separator"))
	}
	n := &portal.Notification{UserID: app.ID, CaseID: &c.ID, CaseNo: c.No, Kind: svc + "." + f.Event,
		Title: l.T(key+".title", data), Body: l.T(key+".body", data), CreatedAt: f.Now}
	var ds []*portal.Delivery
	if app.Mobile != "" {
		sms := map[string]any{"CaseNo": c.No, "Service": data["Service"], "Surname": data["Surname"], "Due": data["Due"]}
		ds = append(ds, &portal.Delivery{Channel: ChannelSMS, Recipient: app.Mobile, Body: l.T(key+".sms", sms), NextAt: f.Now})
	}
	if o.Email && app.Email != "" {
		ds = append(ds, &portal.Delivery{Channel: ChannelEmail, Recipient: app.Email,
			Subject: n.Title, Body: n.Body + "\n\n" + l.T("notify.email_footer", data), NextAt: f.Now})
	}
	return f.Tx.InsertNotice(ctx, n, ds)
}

// Escalated writes, in each supervisor's inbox and language, that f's
// case went past the deadline of its step (deadline.notify.escalated.*):
// the case number, the service, the step and its last day. Staff are told
// in the portal only, never by SMS.
func (o *Outbox) Escalated(ctx context.Context, f *workflow.Firing, to []portal.User) error {
	c := f.Case
	for _, u := range to {
		l := o.Catalog.L(u.Locale)
		data := map[string]any{
			"CaseNo":  c.No,
			"Service": l.T(c.Service + ".name"),
			"Step":    l.T(c.Service + ".state." + c.State),
			"Due":     "",
		}
		if c.DueAt != nil {
			data["Due"] = f.Cal.LastDay(*c.DueAt).In(f.Cal.Zone).Format(time.DateOnly)
		}
		n := &portal.Notification{UserID: u.ID, CaseID: &c.ID, CaseNo: c.No, Kind: "deadline.escalated",
			Title: l.T("deadline.notify.escalated.title", data), Body: l.T("deadline.notify.escalated.body", data), CreatedAt: f.Now}
		if err := f.Tx.InsertNotice(ctx, n, nil); err != nil {
			return err
		}
	}
	return nil
}

// surname is the first character of a name: all an SMS may say of a person.
func surname(name string) string {
	r, size := utf8.DecodeRuneInString(strings.TrimSpace(name))
	if size == 0 || r == utf8.RuneError {
		return ""
	}
	return string(r)
}

// Worker sends deliveries.
type Worker struct {
	Store portal.Store
	// Senders by channel; a channel without one keeps its rows pending.
	Senders map[string]notify.Sender
	Now     func() time.Time
	Log     *slog.Logger
	// Lease is how long a claimed row is left to its worker before another
	// may take it (longer than any send takes).
	Lease time.Duration
	// MaxAttempts: a delivery still failing after this many is failed for
	// good (kept, visible to operators).
	MaxAttempts int
	Batch       int
	// Observer counts sends and failures for the operators' metrics
	// (nil: nothing is counted).
	Observer interface {
		JobRan(job string, lag time.Duration)
		JobFailed(job string)
	}
}

func (w *Worker) defaults() {
	if w.Lease == 0 {
		w.Lease = 2 * time.Minute
	}
	if w.MaxAttempts == 0 {
		w.MaxAttempts = 8
	}
	if w.Batch == 0 {
		w.Batch = 20
	}
	if w.Log == nil {
		w.Log = slog.Default()
	}
	if w.Now == nil {
		w.Now = time.Now
	}
}

// RunOnce claims the due deliveries, sends each and records how it went;
// it returns how many were sent.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	w.defaults()
	var claimed []portal.Delivery
	now := w.Now()
	err := w.Store.Tx(ctx, func(tx portal.Tx) error {
		var err error
		claimed, err = tx.ClaimDeliveries(ctx, now, now.Add(w.Lease), w.Batch)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("outbox.RunOnce: claim: %w", err)
	}
	sent := 0
	for _, d := range claimed {
		status, next, errText := w.send(ctx, d)
		if status == portal.DeliverySent {
			sent++
		}
		if w.Observer != nil {
			switch status {
			case portal.DeliverySent:
				w.Observer.JobRan("outbox", w.Now().Sub(d.NextAt))
			case portal.DeliveryFailed:
				w.Observer.JobFailed("delivery")
			}
		}
		// The acknowledgement: until it commits, the row is leased, not
		// sent; a worker dying here means one more send when the lease
		// ends (gateways get the delivery id to recognise it).
		err := w.Store.Tx(context.WithoutCancel(ctx), func(tx portal.Tx) error {
			return tx.FinishDelivery(ctx, d.ID, status, next, errText, w.Now())
		})
		if err != nil {
			return sent, fmt.Errorf("outbox.RunOnce: delivery %d: %w", d.ID, err)
		}
	}
	return sent, nil
}

// send makes one attempt and says what follows: sent, pending again at a
// later time, or failed for good.
func (w *Worker) send(ctx context.Context, d portal.Delivery) (status string, next time.Time, errText string) {
	s, ok := w.Senders[d.Channel]
	if !ok {
		return portal.DeliveryPending, w.Now().Add(notify.Backoff(d.Attempts)), "no sender for channel " + d.Channel
	}
	err := s.Send(ctx, notify.Message{ID: d.ID, To: d.Recipient, Subject: d.Subject, Body: d.Body})
	now := w.Now()
	switch {
	case err == nil:
		return portal.DeliverySent, now, ""
	case notify.IsPermanent(err) || d.Attempts >= w.MaxAttempts:
		w.Log.Warn("outbox: delivery failed", "id", d.ID, "channel", d.Channel, "attempts", d.Attempts, "err", err)
		return portal.DeliveryFailed, now, truncate(err.Error(), 500)
	default:
		w.Log.Info("outbox: delivery will be retried", "id", d.ID, "channel", d.Channel, "attempts", d.Attempts, "err", err)
		return portal.DeliveryPending, now.Add(notify.Backoff(d.Attempts)), truncate(err.Error(), 500)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Run sends deliveries every interval until ctx ends.
func (w *Worker) Run(ctx context.Context, interval time.Duration) {
	w.defaults()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := w.RunOnce(ctx); err != nil {
			w.Log.Error("outbox", "err", err)
			if w.Observer != nil {
				w.Observer.JobFailed("outbox")
			}
		} else if n > 0 {
			w.Log.Info("outbox: sent", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
