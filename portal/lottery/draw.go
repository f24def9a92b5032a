package lottery

import (
	"errors"
	"fmt"
	"strings"
)

// Algorithm states the rules of a draw in a few lines. Every Draw carries it.
const Algorithm = `All hashes are SHA-256 of UTF-8 text, in lowercase hex; tickets are decimal, from 1.
participants_sha256 = SHA-256 of the lines "ticket,class\n", in ticket order.
merkle_root = RFC 6962 Merkle tree hash of the lines "ticket,class": leaf = SHA-256(0x00 || line), node = SHA-256(0x01 || left || right), an odd last node moves up unchanged, no participants = SHA-256("").
commitment = SHA-256(seed), published before the draw; the seed is 32 to 128 lowercase hex digits.
final = SHA-256(seed + ":" + beacon_value + ":" + participants_sha256).
order = the classes in their listed order; within a class, ascending SHA-256(final + ":" + ticket).
offers = the i-th unit listed to the i-th ticket of order, for i up to the fewer of units and tickets.`

// Statuses of a draw.
const (
	StatusOpen     = "open"     // committed, not yet drawn
	StatusRevealed = "revealed" // seed revealed and order drawn
)

// PublicParticipant is a participant as a draw publishes it.
type PublicParticipant struct {
	Ticket int    `json:"ticket"`
	Class  string `json:"class"`
	// Applicant is the applicant's masked name, such as "张*". It is not
	// hashed: the draw does not depend on it.
	Applicant string `json:"applicant"`
}

// Draw is the public JSON of a draw. An open draw has no seed, beacon
// value, final, order or offers.
type Draw struct {
	ID       int64  `json:"id"`
	District string `json:"district"`
	Kind     string `json:"kind"`
	Status   string `json:"status"` // StatusOpen or StatusRevealed
	// Units are offered in this order ({"code"}, as the officer listed them).
	Units []Unit `json:"units"`
	// Classes are the priority class ids, the first served first.
	Classes            []string            `json:"classes"`
	Participants       []PublicParticipant `json:"participants"`
	ParticipantsSHA256 string              `json:"participants_sha256"`
	MerkleRoot         string              `json:"merkle_root"`
	Commitment         string              `json:"commitment"`
	// Beacon says which public value will be the beacon value.
	Beacon      string  `json:"beacon"`
	Seed        string  `json:"seed,omitempty"`
	BeaconValue string  `json:"beacon_value,omitempty"`
	Final       string  `json:"final,omitempty"`
	Order       []int   `json:"order,omitempty"`
	Offers      []Offer `json:"offers,omitempty"`
	Algorithm   string  `json:"algorithm"`
}

// Mismatch is the first thing Verify finds wrong with a draw.
type Mismatch struct {
	// Field is the JSON name of the field, such as "participants_sha256".
	Field string
	// Detail says what is wrong with it.
	Detail string
}

// Error returns "field: detail".
func (m *Mismatch) Error() string { return m.Field + ": " + m.Detail }

func mismatch(field, format string, args ...any) error {
	return &Mismatch{Field: field, Detail: fmt.Sprintf(format, args...)}
}

// differs returns the Mismatch of a published value and the recomputed one,
// or nil when they are equal.
func differs(field, published, recomputed string) error {
	if published == recomputed {
		return nil
	}
	return mismatch(field, "published %q, recomputed %q", published, recomputed)
}

// Verify recomputes everything a published draw derives and returns nil when
// it all matches, or else a *Mismatch naming the first field found wrong, in
// this order:
//
//   - status: StatusOpen or StatusRevealed;
//   - classes: valid class ids, none twice;
//   - participants: tickets 1, 2, … in order, each of a class in classes;
//   - participants_sha256, then merkle_root, recomputed from the participants;
//   - commitment: a hash.
//
// In an open draw, seed, beacon_value, final, order and offers must be empty.
// In a revealed draw:
//
//   - seed: a valid seed whose SHA-256 is the commitment;
//   - beacon_value: not empty;
//   - final, then order, then offers, recomputed.
//
// A field that was changed may show as another that depends on it: a changed
// class as participants_sha256, a changed beacon_value as final. Verify does
// not look at the id, district, kind, beacon, applicants or algorithm.
func Verify(d *Draw) error {
	if d == nil {
		return errors.New("lottery: no draw")
	}
	if d.Status != StatusOpen && d.Status != StatusRevealed {
		return mismatch("status", "%q is neither %q nor %q", d.Status, StatusOpen, StatusRevealed)
	}
	index, err := checkClasses(d.Classes)
	if err != nil {
		return mismatch("classes", "%s", trim(err))
	}
	ps := make([]Participant, len(d.Participants))
	for i, p := range d.Participants {
		ps[i] = Participant{Ticket: p.Ticket, Class: p.Class}
	}
	if err := CheckParticipants(ps); err != nil {
		return mismatch("participants", "%s", trim(err))
	}
	for _, p := range ps {
		if _, ok := index[p.Class]; !ok {
			return mismatch("participants", "ticket %d has class %q, which is not in the classes", p.Ticket, p.Class)
		}
	}
	sum := ParticipantsSHA256(ps)
	if err := differs("participants_sha256", d.ParticipantsSHA256, sum); err != nil {
		return err
	}
	if err := differs("merkle_root", d.MerkleRoot, MerkleRoot(ps)); err != nil {
		return err
	}
	if !isHash(d.Commitment) {
		return mismatch("commitment", "%q is not 64 lowercase hex digits", d.Commitment)
	}

	if d.Status == StatusOpen {
		switch {
		case d.Seed != "":
			return mismatch("seed", "published while the draw is open")
		case d.BeaconValue != "":
			return mismatch("beacon_value", "published while the draw is open")
		case d.Final != "":
			return mismatch("final", "published while the draw is open")
		case len(d.Order) > 0:
			return mismatch("order", "published while the draw is open")
		case len(d.Offers) > 0:
			return mismatch("offers", "published while the draw is open")
		}
		return nil
	}

	if !ValidSeed(d.Seed) {
		return mismatch("seed", "%q is not %d to %d lowercase hex digits", d.Seed, MinSeedLen, MaxSeedLen)
	}
	if c := Commitment(d.Seed); c != d.Commitment {
		return mismatch("seed", "its SHA-256 is %q, the commitment %q", c, d.Commitment)
	}
	if d.BeaconValue == "" {
		return mismatch("beacon_value", "empty in a revealed draw")
	}
	final := Final(d.Seed, d.BeaconValue, sum)
	if err := differs("final", d.Final, final); err != nil {
		return err
	}
	order, err := Order(final, d.Classes, ps)
	if err != nil {
		return mismatch("order", "%s", trim(err)) // not reached: checked above
	}
	for i := range max(len(order), len(d.Order)) {
		switch {
		case i >= len(d.Order) || i >= len(order):
			return mismatch("order", "published %d tickets, recomputed %d", len(d.Order), len(order))
		case d.Order[i] != order[i]:
			return mismatch("order", "position %d: published ticket %d, recomputed ticket %d", i+1, d.Order[i], order[i])
		}
	}
	offers := Offers(order, UnitCodes(d.Units))
	for i := range max(len(offers), len(d.Offers)) {
		switch {
		case i >= len(d.Offers) || i >= len(offers):
			return mismatch("offers", "published %d offers, recomputed %d", len(d.Offers), len(offers))
		case d.Offers[i] != offers[i]:
			return mismatch("offers", "offer %d: published ticket %d for unit %q, recomputed ticket %d for unit %q",
				i+1, d.Offers[i].Ticket, d.Offers[i].Unit, offers[i].Ticket, offers[i].Unit)
		}
	}
	return nil
}

// trim returns the message of err without the package prefix.
func trim(err error) string {
	return strings.TrimPrefix(err.Error(), "lottery: ")
}

// Unit is a housing unit of a draw.
type Unit struct {
	Code string `json:"code"`
}

// UnitCodes returns the units' codes, in order.
func UnitCodes(units []Unit) []string {
	out := make([]string, len(units))
	for i, u := range units {
		out[i] = u.Code
	}
	return out
}
