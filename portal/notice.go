package portal

import (
	"context"
	"time"
)

// Notification is a notice in a person's in-portal inbox: written in the
// transaction of the step it tells of, in the recipient's language.
type Notification struct {
	ID        int64      `json:"id"`
	UserID    int64      `json:"-"`
	CaseID    *int64     `json:"-"`
	CaseNo    string     `json:"case_no"`
	Kind      string     `json:"kind"` // <service>.<event>, e.g. residence-permit.request_correction
	Title     string     `json:"title"`
	Body      string     `json:"body"`
	CreatedAt time.Time  `json:"created_at"`
	ReadAt    *time.Time `json:"-"`
}

// Delivery is a notification to send on another channel (sms, email): the
// outbox row a worker claims, sends and acknowledges.
type Delivery struct {
	ID             int64
	NotificationID int64
	Channel        string // "sms" or "email"
	Recipient      string
	Subject        string
	Body           string
	Status         string // pending, sent, failed
	Attempts       int
	NextAt         time.Time
	LastError      string
	SentAt         *time.Time
}

// Delivery statuses.
const (
	DeliveryPending = "pending"
	DeliverySent    = "sent"
	DeliveryFailed  = "failed"
)

// NoticeStore reads inboxes and the outbox.
type NoticeStore interface {
	// Inbox returns the user's newest notifications (keyset: ids below
	// before, 0 for the newest) and how many are unread.
	Inbox(ctx context.Context, userID, before int64, limit int) ([]Notification, int, error)
	// Unread counts the user's unread notifications.
	Unread(ctx context.Context, userID int64) (int, error)
	// Deliveries lists the deliveries of a notification, or all failed
	// ones when notificationID is 0 (for operators and tests).
	Deliveries(ctx context.Context, notificationID int64, status string, limit int) ([]Delivery, error)
}

// NoticeTx writes notifications and their deliveries in a step's transaction.
type NoticeTx interface {
	InsertNotification(ctx context.Context, n *Notification) error
	InsertDelivery(ctx context.Context, d *Delivery) error
	// InsertNotice writes a notification and its deliveries (one round
	// trip on PostgreSQL: a step of a cohort writes thousands).
	InsertNotice(ctx context.Context, n *Notification, ds []*Delivery) error
	// MarkRead marks the user's notification read; ENOTFOUND if it is not theirs.
	MarkRead(ctx context.Context, userID, id int64, at time.Time) error
	// ClaimDeliveries leases up to limit pending deliveries that are due,
	// so that no other worker takes them until the lease ends; on
	// PostgreSQL with FOR UPDATE SKIP LOCKED. Each claim counts an attempt.
	ClaimDeliveries(ctx context.Context, now, leaseUntil time.Time, limit int) ([]Delivery, error)
	// FinishDelivery records a claimed delivery's outcome: sent, failed for
	// good, or pending again at next (a retry).
	FinishDelivery(ctx context.Context, id int64, status string, next time.Time, errText string, at time.Time) error
}
