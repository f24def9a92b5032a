package portal

import (
	"context"
	"time"
)

// Objection is an objection raised against a case on public notice (公示异议).
type Objection struct {
	ID         int64
	CaseID     int64
	Contact    string // how the officer may reach the objector; shown to no one else
	Reason     string
	CreatedAt  time.Time
	ResolvedAt *time.Time
	Upheld     *bool
	Resolution string
	ResolvedBy *int64
}

// ObjectionStore reads objections.
type ObjectionStore interface {
	// ObjectionsOf returns a case's objections, oldest first.
	ObjectionsOf(ctx context.Context, caseID int64) ([]Objection, error)
}

// ObjectionTx writes them.
type ObjectionTx interface {
	InsertObjection(ctx context.Context, o *Objection) error
	// ResolveObjection records the decision on an open objection.
	ResolveObjection(ctx context.Context, o *Objection) error
}
