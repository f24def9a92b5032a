package portal

import (
	"context"
	"time"
)

// Certificate is an e-certificate (电子证照) an approval issued: a residence
// permit, a move-in permit. Anyone may verify it from its signed token.
type Certificate struct {
	Number     string
	Kind       string // a service's certificate kind, e.g. residence-permit
	CaseID     int64
	CaseNo     string
	HolderID   int64
	Status     string // stored: valid, suspended, revoked, used; Effective adds expired
	IssuedAt   time.Time
	ValidUntil string // YYYY-MM-DD, "" for no end date
	// YearsSince is the date the holder's continuous years are counted from
	// (a late endorsement restarts it).
	YearsSince string
	Token      string
	Verified   int64 // how many times it was verified (no verifier data is kept)
	UpdatedAt  time.Time
}

// Certificate statuses.
const (
	CertValid     = "valid"
	CertSuspended = "suspended"
	CertRevoked   = "revoked"
	CertUsed      = "used"
	CertExpired   = "expired" // never stored: valid past its valid_until
)

// Effective is the status a verifier sees on day (YYYY-MM-DD, the city's
// calendar): a valid certificate past its end date has lapsed — expired, or
// for a permit kept alive by endorsements suspended (lapse). Worked out at
// each reading, it needs no job and is never late.
func (c *Certificate) Effective(day, lapse string) string {
	if c.Status == CertValid && c.ValidUntil != "" && c.ValidUntil < day {
		return lapse
	}
	return c.Status
}

// CertificateStore reads certificates.
type CertificateStore interface {
	CertificateByNumber(ctx context.Context, number string) (*Certificate, error)
	// CertificatesOf returns the certificates a case issued, newest first.
	CertificatesOf(ctx context.Context, caseID int64) ([]Certificate, error)
}

// CertificateTx issues and changes certificates in a step's transaction.
type CertificateTx interface {
	InsertCertificate(ctx context.Context, c *Certificate) error
	// UpdateCertificate writes status, valid_until and years_since.
	UpdateCertificate(ctx context.Context, c *Certificate) error
	// CountVerification adds one to a certificate's verification count.
	CountVerification(ctx context.Context, number string) error
}
