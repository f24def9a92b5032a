package portal

import (
	"context"
	"time"
)

// Store is the persistence the portal needs. sqlstore implements it for SQLite
// and PostgreSQL.
type Store interface {
	Reader
	// Tx runs fn in one read-write transaction and commits when fn returns nil.
	// It retries fn on SQLite busy and PostgreSQL serialization failures, so fn
	// must not have effects outside the transaction.
	Tx(ctx context.Context, fn func(Tx) error) error
	// AccessWriter records a staff read of a case outside any transaction.
	AccessWriter
	StatRebuilder
	Ping(ctx context.Context) error
	Dialect() string // "sqlite" or "postgres"
	Close() error
}

// Reader holds the queries that may run inside or outside a transaction.
type Reader interface {
	MaterialStore
	NoticeStore
	CertificateStore
	SchoolStore
	CohortStore
	ObjectionStore
	RetentionStore
	ListReader
	ReviewStore
	DeadlineStore
	AccessStore
	RatingStore
	AuditViewStore
	StatStore
	AccountStore
	DivisionStore
	CalendarStore
	HousingUnitStore

	UserByID(ctx context.Context, id int64) (*User, error)
	UserByLogin(ctx context.Context, login string) (*User, error)
	UserByMobile(ctx context.Context, mobile string) (*User, error)
	UserByIDIndex(ctx context.Context, index string) (*User, error)
	UserByTokenHash(ctx context.Context, hash string) (*User, error)

	Divisions(ctx context.Context) ([]Division, error)
	Counties(ctx context.Context) ([]County, error)

	// Installation returns the random id made with the database (migration
	// 00026), which every key the portal keeps in Redis carries.
	Installation(ctx context.Context) (string, error)

	CaseByNo(ctx context.Context, no string) (*Case, error)
	CaseByID(ctx context.Context, id int64) (*Case, error)
	// CaseWithHistory returns a case with its applicant and its timeline in
	// one round trip (a case page is read far more often than written).
	CaseWithHistory(ctx context.Context, no string) (*Case, []History, error)
	History(ctx context.Context, caseID int64) ([]History, error)
	// HistoryOf returns the timelines of several cases at once (for fsck).
	HistoryOf(ctx context.Context, caseIDs []int64) (map[int64][]History, error)
	ListCases(ctx context.Context, f CaseFilter) ([]Case, error)
	// ClaimsOf returns the claims several cases hold (for fsck).
	ClaimsOf(ctx context.Context, caseIDs []int64) (map[int64][]string, error)

	AuditByObject(ctx context.Context, object string, limit int) ([]AuditEntry, error)
	// AuditOf returns the entries about several objects at once (for fsck).
	AuditOf(ctx context.Context, objects []string) (map[string][]AuditEntry, error)
	// AuditAfter returns up to limit entries with Seq > after, in order.
	AuditAfter(ctx context.Context, after int64, limit int) ([]AuditEntry, error)
	// AuditHead returns the sequence number and hash of the newest entry as
	// recorded in the chain head.
	AuditHead(ctx context.Context) (seq int64, hash string, err error)

	DueJobs(ctx context.Context, now time.Time, limit int) ([]Job, error)
	// QueueDepth counts the notices waiting to be sent and the timers due
	// at now (for the operators' metrics).
	QueueDepth(ctx context.Context, now time.Time) (QueueDepth, error)
}

// Tx is one read-write transaction.
type Tx interface {
	Reader
	MaterialTx
	NoticeTx
	CertificateTx
	SchoolTx
	CohortTx
	ObjectionTx
	RetentionTx
	ListTx
	DeskTx
	ReviewTx
	DeadlineTx
	AccessWriter
	RatingTx
	AuditViewTx
	DivisionTx
	CalendarTx
	HousingUnitTx

	InsertUser(ctx context.Context, u *User) error
	UpdateUser(ctx context.Context, u *User) error
	// UseTOTPStep records that a code for step was accepted, if no code for
	// this or a later step was; false means the code was used already.
	UseTOTPStep(ctx context.Context, userID, step int64) (bool, error)
	SetGrants(ctx context.Context, userID int64, grants []Grant) error

	// NextSeq increments and returns the counter (name, period), starting at 1.
	NextSeq(ctx context.Context, name, period string) (int64, error)

	// CaseByNoForUpdate loads the case and locks its row until commit.
	CaseByNoForUpdate(ctx context.Context, no string) (*Case, error)
	// CaseWithHistoryForUpdate is CaseWithHistory that also locks the case row.
	CaseWithHistoryForUpdate(ctx context.Context, no string) (*Case, []History, error)
	// CasesWithHistoryForUpdate is CaseWithHistoryForUpdate for several
	// cases at once (those of nos that exist, by id), their timelines by
	// case id.
	CasesWithHistoryForUpdate(ctx context.Context, nos []string) ([]Case, map[int64][]History, error)
	InsertCase(ctx context.Context, c *Case) error
	// UpdateCase writes c if the stored version is still prevVersion, else
	// returns ECONFLICT.
	UpdateCase(ctx context.Context, c *Case, prevVersion int) error
	InsertHistory(ctx context.Context, h *History) error
	// ReleaseHolder clears the case's holder as the step moving it writes
	// (with HoldAppends, whose multi-row updates leave the holder alone).
	ReleaseHolder(ctx context.Context, caseID int64) error
	// SetClaims replaces the claims of a case (what must be unique among
	// open cases). A claim held by another case is returned as a conflict,
	// and nothing of the transaction may be committed.
	SetClaims(ctx context.Context, caseID int64, claims []string) (*ClaimConflict, error)

	// LockAuditHead locks the chain head until commit and returns it.
	LockAuditHead(ctx context.Context) (seq int64, hash string, err error)
	// AppendAudit inserts e (already sealed) and moves the head to it.
	AppendAudit(ctx context.Context, e *AuditEntry) error

	// Idempotency returns the case id and request hash recorded for (user,
	// key), ENOTFOUND if none; ClaimIdempotency records them.
	Idempotency(ctx context.Context, userID int64, key string) (caseID int64, requestHash string, err error)
	ClaimIdempotency(ctx context.Context, userID int64, key, requestHash string, caseID int64, at time.Time) error

	InsertJob(ctx context.Context, j *Job) error

	// AddStats adds d to the dashboards' rollups when the transaction
	// commits: the changes of all its steps summed per row, written in
	// one statement per table, in key order, just before the commit, so
	// that the rows are locked for as short a time as possible and two
	// transactions never wait on each other crosswise.
	AddStats(d StatDelta)
	// AfterCommit runs fn once the transaction has committed (never if it
	// rolls back): counting what really happened, for the metrics.
	AfterCommit(fn func())

	// HoldAppends makes the transaction keep what it appends — history,
	// timers (their ids stay 0), audit entries, list removals, case updates
	// (whose version check then fails the commit) and notices — and write
	// each kind in a few multi-row statements before it commits. Reads in
	// the transaction do not see what is held: for a cohort operation,
	// which reads each case once before moving it.
	HoldAppends()
	// ClaimJob locks an unfinished timer for this transaction; false when it
	// is finished or another node holds it (PostgreSQL: FOR UPDATE SKIP
	// LOCKED), so that node fires it and this one moves on.
	ClaimJob(ctx context.Context, id int64) (bool, error)
	FinishJob(ctx context.Context, id int64, at time.Time, outcome string) error
	// ObsoleteJobs finishes a case's unfinished timers whose event starts
	// with prefix, as obsolete (a certificate changed: its reminders go).
	ObsoleteJobs(ctx context.Context, caseID int64, prefix string, at time.Time) error
}

// CaseFilter selects cases for a list. Scope fields are ANDed with the
// jurisdiction: exactly one of ApplicantID, or a non-empty Scope, or AllScope.
type CaseFilter struct {
	ApplicantID int64
	Scope       []ScopeTerm // OR of terms: staff jurisdiction
	AllScope    bool        // city-wide staff
	Service     string
	States      []string   // only these states (each read as a branch of its own)
	Queue       bool       // only cases in staff's queue (Case.InQueue), by division or district
	OverdueAt   *time.Time // only cases whose DueAt is before this instant
	DueAfter    *time.Time // only cases whose DueAt is after this instant
	DueUntil    *time.Time // only cases whose DueAt is at or before this instant
	// HolderID: only the cases this staff member holds (read along the
	// holder index, within the scope); Unheld: only the cases nobody holds.
	HolderID int64
	Unheld   bool
	After    int64 // keyset: cases with id beyond this (direction by Desc)
	Desc     bool
	Limit    int
	// NoForm leaves Form and Result empty ("{}"): lists do not show them.
	NoForm bool
	// Search narrows the list to the cases a search finds (zero: none).
	Search CaseSearch
}

// CaseSearch is a search of cases by one key: a case number, or the
// applicant's mobile number, its last four digits, or name (Kind, one of
// the Search* kinds; Value normalized). Each kind is read along an index
// (cases.no, users.mobile, users.mobile_tail, users.name), so a search
// reads the few cases it finds, not the reader's whole jurisdiction.
type CaseSearch struct {
	Kind  string
	Value string
}

// The kinds of CaseSearch; the audit entry of a search names them.
const (
	SearchCaseNo     = "case_no"
	SearchMobile     = "mobile"
	SearchMobileTail = "mobile_tail"
	SearchName       = "name"
)

// ScopeTerm is one grant's reach in SQL terms: a leaf division or a district.
type ScopeTerm struct {
	Division string
	District string
}

// ClaimConflict is a claim another open case holds.
type ClaimConflict struct {
	Claim       string
	CaseNo      string
	ApplicantID int64
}
