package portal

import (
	"context"
	"time"
)

// AuditFilter selects entries of the audit trail for the audit view,
// newest first. The reader's reach is either AllScope (every entry, those
// without a division too) or Divisions (the entries recorded in those
// divisions); Object, when set, is checked against the reach by the caller
// (a case's trail is read whole, as the case page's is).
type AuditFilter struct {
	AllScope  bool
	Divisions []string
	Object    string   // "case:TZRP…"
	Actors    []string // "user:12", "system:registry", "scheduler"
	Action    string
	Result    string
	From, To  time.Time // From <= at < To; zero: open
	Before    int64     // keyset: entries with seq < Before (0: from the newest)
	Limit     int
}

// AuditCheck is one verification of the audit chain: when it ran, who ran
// it, and what it found.
type AuditCheck struct {
	ID        int64     `json:"-"`
	At        time.Time `json:"at"`
	Actor     string    `json:"actor"`
	Intact    bool      `json:"intact"`
	Entries   int64     `json:"entries"`
	BrokenSeq int64     `json:"broken_seq,omitempty"`
	Reason    string    `json:"reason,omitempty"`
}

// AuditViewStore reads the audit view.
type AuditViewStore interface {
	// AuditEntries returns up to f.Limit entries matching f, newest first.
	AuditEntries(ctx context.Context, f AuditFilter) ([]AuditEntry, error)
	// AuditActorNames names the actors that are accounts ("user:12",
	// "system:registry") by their account's name.
	AuditActorNames(ctx context.Context, actors []string) (map[string]string, error)
	// AuditActorsNamed returns the actor ids of the accounts whose login,
	// mobile number or name is q (at most limit).
	AuditActorsNamed(ctx context.Context, q string, limit int) ([]string, error)
	// LastAuditCheck returns the latest verification, ENOTFOUND if none ran.
	LastAuditCheck(ctx context.Context) (*AuditCheck, error)
}

// AuditViewTx records verifications.
type AuditViewTx interface {
	InsertAuditCheck(ctx context.Context, c *AuditCheck) error
}
