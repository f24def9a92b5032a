package portal

import (
	"context"
	"encoding/json"
	"time"
)

// Retention (保存期限): a closed case's personal data — its form but for
// the keys its service keeps for statistics, its result likewise, its
// materials — is removed once its service's retention has passed; its
// history, its numbers and the audit trail stay.

// RetentionStore finds the cases whose time has come.
type RetentionStore interface {
	// CasesToAnonymise returns up to limit case numbers of a service in one
	// of states (final) since before `before`, whose personal data is still
	// held and whose certificates, if any, are revoked or used, oldest
	// first.
	CasesToAnonymise(ctx context.Context, service string, states []string, before time.Time, limit int) ([]string, error)
}

// RetentionTx removes it.
type RetentionTx interface {
	// AnonymiseCase replaces case id's form and result with what is kept,
	// clears its rating's comment and follow-up notes, and records when.
	AnonymiseCase(ctx context.Context, id int64, form, result json.RawMessage, at time.Time) error
}
