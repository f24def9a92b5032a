package portal

import (
	"context"
	"time"
)

// ListEntry is a case's place on an ordered list a service keeps of its
// cases in a state (housing's waiting lists, 轮候: one per district and
// kind). The engine writes it with each step into or within a listed state
// (workflow: `listed: true`) and removes it with the step out, from what
// the service says of the case (workflow.Lister), so a list of a hundred
// thousand cases is read in order as small rows, never assembled from the
// cases' documents.
//
// A list's order: by ClassRank, then entries with a PriorRank (a place an
// earlier ordering gave, a draw's) by it before those without, then by
// JoinedAt, then by case.
type ListEntry struct {
	List        string // the list's name, the service's to choose ("housing-security/321204/public_rental")
	CaseID      int64
	CaseNo      string
	ApplicantID int64
	Class       string // the class the entry is in (a priority), ordered by ClassRank
	ClassRank   int
	PriorRank   int // 0: none
	JoinedAt    time.Time
	Label       string // what public lists show of the applicant ("张*")
}

// ListMember is a case on a list as reading the whole list gives it.
type ListMember struct {
	CaseID      int64
	CaseNo      string
	ApplicantID int64
	Class       string
	Label       string
}

// ListReader reads the lists.
type ListReader interface {
	// ListMembers returns a whole list in order, in one read of the
	// columns a list's reader needs (a draw freezes a hundred thousand).
	ListMembers(ctx context.Context, list string) ([]ListMember, error)
	// ListPlace returns a case's entry, its place on its list (from 1) and
	// the list's length; ENOTFOUND when the case is on no list.
	ListPlace(ctx context.Context, caseID int64) (e *ListEntry, place, of int, err error)
	// ListedOf returns which of the cases have a list entry, and on which
	// list (for fsck).
	ListedOf(ctx context.Context, caseIDs []int64) (map[int64]string, error)
}

// ListTx writes the lists.
type ListTx interface {
	// PutListEntries writes the entries, each replacing the case's entry.
	PutListEntries(ctx context.Context, es []ListEntry) error
	// DropListEntry takes a case off its list (nothing if it is on none).
	DropListEntry(ctx context.Context, caseID int64) error
	// UnlistedCases returns up to limit cases of a service in a state with
	// no list entry, by id after afterID, locked until commit (entries for
	// cases that were listed before their service kept lists).
	UnlistedCases(ctx context.Context, service, state string, afterID int64, limit int) ([]Case, error)
	// DropStaleListEntries takes off their lists a service's cases in none
	// of its listed states (moved on by a node that kept no lists), and
	// returns how many.
	DropStaleListEntries(ctx context.Context, service string, listed []string) (int, error)
}
