// Package notify delivers the portal's notifications: one Sender per channel
// (SMS through an HTTP gateway or a log, email over SMTP). The outbox worker
// takes a pending delivery, calls Send once, and decides from the error whether
// to retry later (with Backoff) or to fail the delivery now (IsPermanent).
package notify

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"tzportal/portal/pii"
)

// Message is one notification to deliver on one channel.
type Message struct {
	// ID is the delivery's id. It is also sent to gateways as an idempotency
	// key, so that a retried send can be deduplicated downstream.
	ID      int64
	To      string // a mobile number (SMS) or an email address
	Subject string // email only
	Body    string // plain text
}

// Sender delivers a message on one channel. Send makes one attempt: retrying
// is the worker's job, because its schedule lives in the database and so
// survives restarts.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// permanentError marks its cause as one that no retry can cure.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks an error that retrying cannot cure (a gateway's 4xx, a
// refused recipient): the worker fails the delivery at once instead of
// retrying. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or any error it wraps, was marked by
// Permanent. Every other error is temporary: the worker retries it.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// Backoff returns how long the worker waits before attempt+1 after attempt
// failed: 30 s after the first attempt, doubling, capped at one hour. It has
// no jitter on purpose: the worker's claim lease already spreads the nodes'
// retries, and a deterministic schedule is what tests and operators can
// predict.
func Backoff(attempt int) time.Duration {
	const (
		first = 30 * time.Second
		limit = time.Hour
	)
	d := first
	// Doubling stops at the cap, so a large attempt cannot overflow.
	for i := 1; i < attempt && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// LogSender is the default SMS sender when no gateway is configured: it
// writes the delivery to the log instead of sending it, and never fails. It
// logs the recipient masked and the body's length only, because notification
// bodies carry personal data (case numbers, appointments) that does not belong
// in logs.
type LogSender struct {
	Log     *slog.Logger // nil: slog.Default()
	Channel string       // e.g. "sms"
}

// Send logs m's channel, id, masked recipient and body length, and returns nil.
func (s LogSender) Send(ctx context.Context, m Message) error {
	l := s.Log
	if l == nil {
		l = slog.Default()
	}
	l.LogAttrs(ctx, slog.LevelInfo, "notify: logged, not sent",
		slog.String("channel", s.Channel),
		slog.Int64("id", m.ID),
		slog.String("to", maskRecipient(m.To)),
		slog.Int("body_len", len(m.Body)),
	)
	return nil
}

// maskRecipient masks an email address or, failing that, a mobile number.
func maskRecipient(to string) string {
	if strings.Contains(to, "@") {
		return maskEmail(to)
	}
	return pii.MaskMobile(to)
}

// maskEmail keeps the first character of the local part and the whole domain:
// alice@example.com becomes a***@example.com. The domain stays because it says
// which provider refused a message, and identifies nobody on its own.
func maskEmail(addr string) string {
	at := strings.LastIndex(addr, "@")
	if at < 0 {
		return maskMiddle([]rune(addr))
	}
	local := []rune(addr[:at])
	if len(local) == 0 {
		return "***" + addr[at:]
	}
	return string(local[0]) + "***" + addr[at:]
}

// maskMiddle keeps the first and last rune; with two or fewer runes those would
// be the whole value, so it masks everything.
func maskMiddle(r []rune) string {
	if len(r) <= 2 {
		return strings.Repeat("*", len(r))
	}
	return string(r[0]) + strings.Repeat("*", len(r)-2) + string(r[len(r)-1])
}
