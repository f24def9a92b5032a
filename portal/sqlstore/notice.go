package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"tzportal/portal"
)

// Inbox returns the user's newest notifications before the keyset and how
// many of all theirs are unread.
func (q q) Inbox(ctx context.Context, userID, before int64, limit int) ([]portal.Notification, int, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := q.ex.QueryContext(ctx, `SELECT n.id, n.user_id, n.case_id, COALESCE(c.case_no, ''), n.kind, n.title, n.body,
		n.created_at, n.read_at FROM notifications n LEFT JOIN cases c ON c.id = n.case_id
		WHERE n.user_id = $1 AND n.id < $2 ORDER BY n.id DESC LIMIT $3`, userID, before, limit)
	if err != nil {
		return nil, 0, dbError("sqlstore.Inbox", err)
	}
	defer rows.Close()
	out := []portal.Notification{}
	for rows.Next() {
		var n portal.Notification
		var caseID sql.NullInt64
		if err := rows.Scan(&n.ID, &n.UserID, &caseID, &n.CaseNo, &n.Kind, &n.Title, &n.Body,
			scanTime{&n.CreatedAt}, scanNullTime{&n.ReadAt}); err != nil {
			return nil, 0, dbError("sqlstore.Inbox", err)
		}
		if caseID.Valid {
			n.CaseID = &caseID.Int64
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, dbError("sqlstore.Inbox", err)
	}
	unread, err := q.Unread(ctx, userID)
	return out, unread, err
}

// Unread counts the user's unread notifications (a partial index).
func (q q) Unread(ctx context.Context, userID int64) (int, error) {
	var n int
	err := q.ex.QueryRowContext(ctx, `SELECT count(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL`, userID).Scan(&n)
	return n, dbError("sqlstore.Unread", err)
}

const deliveryColumns = `id, notification_id, channel, recipient, subject, body, status, attempts, next_at, last_error, sent_at`

func scanDelivery(row interface{ Scan(...any) error }) (portal.Delivery, error) {
	var d portal.Delivery
	err := row.Scan(&d.ID, &d.NotificationID, &d.Channel, &d.Recipient, &d.Subject, &d.Body, &d.Status, &d.Attempts,
		scanTime{&d.NextAt}, &d.LastError, scanNullTime{&d.SentAt})
	return d, err
}

// Deliveries lists a notification's deliveries, or when notificationID is
// 0 the newest deliveries with status.
func (q q) Deliveries(ctx context.Context, notificationID int64, status string, limit int) ([]portal.Delivery, error) {
	query, arg := `SELECT `+deliveryColumns+` FROM deliveries WHERE notification_id = $1 ORDER BY id LIMIT $2`, any(notificationID)
	if notificationID == 0 {
		query, arg = `SELECT `+deliveryColumns+` FROM deliveries WHERE status = $1 ORDER BY id DESC LIMIT $2`, status
	}
	rows, err := q.ex.QueryContext(ctx, query, arg, limit)
	if err != nil {
		return nil, dbError("sqlstore.Deliveries", err)
	}
	defer rows.Close()
	var out []portal.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, dbError("sqlstore.Deliveries", err)
		}
		out = append(out, d)
	}
	return out, dbError("sqlstore.Deliveries", rows.Err())
}

// InsertNotification puts a notification in a user's inbox.
func (t *Tx) InsertNotification(ctx context.Context, n *portal.Notification) error {
	err := t.ex.QueryRowContext(ctx, `INSERT INTO notifications (user_id, case_id, kind, title, body, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, n.UserID, n.CaseID, n.Kind, n.Title, n.Body, t.d.time(n.CreatedAt)).Scan(&n.ID)
	return dbError("sqlstore.InsertNotification", err)
}

// InsertDelivery queues a notification for another channel.
func (t *Tx) InsertDelivery(ctx context.Context, d *portal.Delivery) error {
	if d.Status == "" {
		d.Status = portal.DeliveryPending
	}
	err := t.ex.QueryRowContext(ctx, `INSERT INTO deliveries (notification_id, channel, recipient, subject, body, status, next_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, d.NotificationID, d.Channel, d.Recipient, d.Subject, d.Body,
		d.Status, t.d.time(d.NextAt)).Scan(&d.ID)
	return dbError("sqlstore.InsertDelivery", err)
}

// InsertNotice writes a notification and its deliveries: on PostgreSQL in
// one statement, elsewhere one row at a time.
func (t *Tx) InsertNotice(ctx context.Context, n *portal.Notification, ds []*portal.Delivery) error {
	for _, d := range ds {
		if d.Status == "" {
			d.Status = portal.DeliveryPending
		}
	}
	if t.held != nil { // its id is known once written
		t.held.notices = append(t.held.notices, heldNotice{n: n, ds: ds})
		return nil
	}
	if t.d.name() != "postgres" || len(ds) == 0 {
		if err := t.InsertNotification(ctx, n); err != nil {
			return err
		}
		for _, d := range ds {
			d.NotificationID = n.ID
			if err := t.InsertDelivery(ctx, d); err != nil {
				return err
			}
		}
		return nil
	}
	args := []any{n.UserID, n.CaseID, n.Kind, n.Title, n.Body, t.d.time(n.CreatedAt)}
	rows := make([]string, len(ds))
	for i, d := range ds {
		b := len(args)
		rows[i] = fmt.Sprintf("($%d, $%d, $%d, $%d, $%d, $%d::timestamptz)", b+1, b+2, b+3, b+4, b+5, b+6)
		args = append(args, d.Channel, d.Recipient, d.Subject, d.Body, d.Status, t.d.time(d.NextAt))
	}
	err := t.ex.QueryRowContext(ctx, `WITH n AS (INSERT INTO notifications (user_id, case_id, kind, title, body, created_at)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id),
		d AS (INSERT INTO deliveries (notification_id, channel, recipient, subject, body, status, next_at)
			SELECT n.id, v.channel, v.recipient, v.subject, v.body, v.status, v.next_at
			FROM n, (VALUES `+strings.Join(rows, ", ")+`) AS v (channel, recipient, subject, body, status, next_at))
		SELECT id FROM n`, args...).Scan(&n.ID)
	if err != nil {
		return dbError("sqlstore.InsertNotice", err)
	}
	for _, d := range ds {
		d.NotificationID = n.ID
	}
	return nil
}

// MarkRead marks the user's notification read (once: the first time stays).
func (t *Tx) MarkRead(ctx context.Context, userID, id int64, at time.Time) error {
	res, err := t.ex.ExecContext(ctx, `UPDATE notifications SET read_at = COALESCE(read_at, $1) WHERE id = $2 AND user_id = $3`,
		t.d.time(at), id, userID)
	if err != nil {
		return dbError("sqlstore.MarkRead", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return portal.NotFound(fmt.Errorf("sqlstore.MarkRead(%d): not the user's", id))
	}
	return nil
}

// ClaimDeliveries leases due pending deliveries until leaseUntil. A
// delivery whose worker died is due again when its lease ends.
func (t *Tx) ClaimDeliveries(ctx context.Context, now, leaseUntil time.Time, limit int) ([]portal.Delivery, error) {
	rows, err := t.ex.QueryContext(ctx, `UPDATE deliveries SET locked_until = $2, attempts = attempts + 1
		WHERE id IN (SELECT id FROM deliveries WHERE status = 'pending' AND next_at <= $1
			AND (locked_until IS NULL OR locked_until <= $1) ORDER BY next_at, id LIMIT $3`+t.d.skipLocked()+`)
		RETURNING `+deliveryColumns, t.d.time(now), t.d.time(leaseUntil), limit)
	if err != nil {
		return nil, dbError("sqlstore.ClaimDeliveries", err)
	}
	defer rows.Close()
	var out []portal.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, dbError("sqlstore.ClaimDeliveries", err)
		}
		out = append(out, d)
	}
	return out, dbError("sqlstore.ClaimDeliveries", rows.Err())
}

// FinishDelivery records the outcome of a claimed delivery and ends its lease.
func (t *Tx) FinishDelivery(ctx context.Context, id int64, status string, next time.Time, errText string, at time.Time) error {
	var sent any
	if status == portal.DeliverySent {
		sent = t.d.time(at)
	}
	_, err := t.ex.ExecContext(ctx, `UPDATE deliveries SET status = $1, next_at = $2, last_error = $3, sent_at = $4,
		locked_until = NULL WHERE id = $5`, status, t.d.time(next), errText, sent, id)
	return dbError("sqlstore.FinishDelivery", err)
}
