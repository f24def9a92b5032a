// Package lottery draws the housing units of a batch among the households on
// the waitlist for housing security (住房保障摇号) in Taizhou, by commit and
// reveal, so that anyone can re-run the draw from its published JSON and
// nobody, the officer who runs it included, can choose its outcome.
//
// The rules are a public contract. All text is hashed as its UTF-8 bytes,
// every hash is SHA-256, and every hash in text is 64 lowercase hex digits.
// A ticket in text is its decimal number without leading zeros.
//
//  1. When the draw is created its participants are frozen: participant i,
//     from 1, has ticket i and a priority class id, such as family_migrated,
//     elderly, disabled or others. The district publishes the list, its
//     participants_sha256 and its merkle_root (both defined below), the
//     classes in order of priority, the units in the order they are offered,
//     the beacon it will use (say, a stock index's closing value on a given
//     day), and commitment = SHA-256(seed), where seed is a secret of 32 to
//     128 lowercase hex digits.
//  2. participants_sha256 is the hash of the list, one line "ticket,class\n"
//     per participant in ticket order: every line ends with "\n", the last
//     one too, and an empty list is the empty text.
//  3. Once the beacon's value is known, the district reveals the seed, and
//     final = SHA-256(seed + ":" + beacon_value + ":" + participants_sha256).
//     The seed was fixed before anyone knew the beacon's value, and nobody
//     but the district knew the seed: neither can be picked to suit.
//  4. The order puts the classes in their configured order; within a class,
//     participants come by ascending SHA-256(final + ":" + ticket), compared
//     as hex text (or bytes, which is the same). Two equal hashes, which
//     SHA-256 makes practically impossible, would go by ascending ticket.
//  5. Units are offered in that order: the first household of the order gets
//     the first unit listed, the second the second, and so on, until the
//     units or the households run out.
//
// The Merkle root lets each household check that its ticket and class are in
// the frozen list from a short proof, without the whole list. It is the
// Merkle Tree Hash of RFC 6962 (section 2.1), the one of Certificate
// Transparency, over the lines "ticket,class" (without the "\n"):
//
//	leaf(p)    = SHA-256(0x00 || "ticket,class")
//	node(l, r) = SHA-256(0x01 || l || r)   (l and r the 32-byte hashes, not hex)
//
// The leaves, in ticket order, are the first level. Each next level hashes
// nodes 1 and 2, 3 and 4, and so on, of the level below; an odd last node
// moves up unchanged. It is not paired with itself, so that no two lists have
// the same root (CVE-2012-2459). The root is the one node of the last level:
// the leaf of a single participant, and SHA-256 of the empty text for an
// empty list.
//
// A proof goes from the leaf to the root: one step per level where the node
// has a sibling, none where it moves up unchanged. A step is the sibling's
// hash and its side: "left" gives node(sibling, current) and "right" gives
// node(current, sibling). The proof is valid when the last value is the
// root.
//
// Verify recomputes all of it from a published Draw.
package lottery

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
)

// Participant is a household in a draw: its ticket and its priority class.
type Participant struct {
	Ticket int    `json:"ticket"`
	Class  string `json:"class"`
}

// Seed lengths ValidSeed accepts, in hex digits.
const (
	MinSeedLen = 32
	MaxSeedLen = 128
)

// MaxClassLen is the longest class id ValidClass accepts, in bytes.
const MaxClassLen = 64

// ValidClass reports whether class can be a priority class id: 1 to
// MaxClassLen lowercase ASCII letters, digits, '_' and '-'. Class ids are
// hashed, so they are kept to characters that have a single spelling.
func ValidClass(class string) bool {
	if len(class) == 0 || len(class) > MaxClassLen {
		return false
	}
	for i := 0; i < len(class); i++ {
		if b := class[i]; !('a' <= b && b <= 'z' || '0' <= b && b <= '9' || b == '_' || b == '-') {
			return false
		}
	}
	return true
}

// CheckParticipants returns an error unless participant i of ps, from 0, has
// ticket i+1 and a valid class id: the only lists ParticipantsSHA256,
// MerkleRoot and Proof are defined for.
func CheckParticipants(ps []Participant) error {
	for i, p := range ps {
		if p.Ticket != i+1 {
			return fmt.Errorf("lottery: participant %d has ticket %d, want %d", i+1, p.Ticket, i+1)
		}
		if !ValidClass(p.Class) {
			return fmt.Errorf("lottery: ticket %d has class %q, which is not a class id", p.Ticket, p.Class)
		}
	}
	return nil
}

// appendLine appends "ticket,class" to b.
func appendLine(b []byte, p Participant) []byte {
	b = strconv.AppendInt(b, int64(p.Ticket), 10)
	b = append(b, ',')
	return append(b, p.Class...)
}

// ParticipantsSHA256 returns the hash of the list: one line "ticket,class\n"
// per participant, in the order of ps. It is participants_sha256 when
// CheckParticipants(ps) is nil.
func ParticipantsSHA256(ps []Participant) string {
	h := sha256.New()
	var buf []byte
	for _, p := range ps {
		buf = append(appendLine(buf[:0], p), '\n')
		h.Write(buf)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Commitment returns SHA-256(seed), published before the draw so that anyone
// can check at the reveal that the seed was fixed in advance.
func Commitment(seed string) string {
	sum := sha256.Sum256([]byte(seed))
	return hex.EncodeToString(sum[:])
}

// ValidSeed reports whether seed is MinSeedLen to MaxSeedLen lowercase hex
// digits.
func ValidSeed(seed string) bool {
	if len(seed) < MinSeedLen || len(seed) > MaxSeedLen {
		return false
	}
	for i := 0; i < len(seed); i++ {
		if b := seed[i]; !('0' <= b && b <= '9' || 'a' <= b && b <= 'f') {
			return false
		}
	}
	return true
}

// Final returns SHA-256(seed + ":" + beaconValue + ":" + participantsSHA256),
// the value the order is drawn from.
func Final(seed, beaconValue, participantsSHA256 string) string {
	sum := sha256.Sum256([]byte(seed + ":" + beaconValue + ":" + participantsSHA256))
	return hex.EncodeToString(sum[:])
}

// checkClasses returns the position of each class id in classes, or an
// error when one is not a class id or is listed twice.
func checkClasses(classes []string) (map[string]int32, error) {
	index := make(map[string]int32, len(classes))
	for k, c := range classes {
		if !ValidClass(c) {
			return nil, fmt.Errorf("lottery: %q is not a class id", c)
		}
		if _, ok := index[c]; ok {
			return nil, fmt.Errorf("lottery: class %q is listed twice", c)
		}
		index[c] = int32(k)
	}
	return index, nil
}

// Order returns the tickets of ps in the order of the draw: the classes in
// the order of classes, and within a class by ascending
// SHA-256(final + ":" + ticket). It returns an error when CheckParticipants
// does, when classes has an invalid or repeated id, or when a participant's
// class is not in classes.
func Order(final string, classes []string, ps []Participant) ([]int, error) {
	if err := CheckParticipants(ps); err != nil {
		return nil, err
	}
	index, err := checkClasses(classes)
	if err != nil {
		return nil, err
	}
	type entry struct {
		class int32
		hi    uint64 // the first 8 bytes of key, big-endian
		key   [sha256.Size]byte
		tick  int
	}
	entries := make([]entry, len(ps))
	buf := append(make([]byte, 0, len(final)+24), final...)
	buf = append(buf, ':')
	prefix := len(buf)
	for i, p := range ps {
		k, ok := index[p.Class]
		if !ok {
			return nil, fmt.Errorf("lottery: ticket %d has class %q, which is not in the classes", p.Ticket, p.Class)
		}
		buf = strconv.AppendInt(buf[:prefix], int64(p.Ticket), 10)
		key := sha256.Sum256(buf)
		entries[i] = entry{class: k, hi: binary.BigEndian.Uint64(key[:8]), key: key, tick: p.Ticket}
	}
	slices.SortFunc(entries, func(a, b entry) int {
		if a.class != b.class {
			return cmp.Compare(a.class, b.class)
		}
		if a.hi != b.hi {
			return cmp.Compare(a.hi, b.hi)
		}
		if c := bytes.Compare(a.key[:], b.key[:]); c != 0 {
			return c
		}
		return cmp.Compare(a.tick, b.tick)
	})
	order := make([]int, len(entries))
	for i, e := range entries {
		order[i] = e.tick
	}
	return order, nil
}

// Offer is a unit offered to a household.
type Offer struct {
	Ticket int    `json:"ticket"`
	Unit   string `json:"unit"`
}

// Offers gives the units, in the order listed, to the first households of
// order: as many offers as there are units or households, whichever is
// fewer.
func Offers(order []int, units []string) []Offer {
	offers := make([]Offer, min(len(order), len(units)))
	for i := range offers {
		offers[i] = Offer{Ticket: order[i], Unit: units[i]}
	}
	return offers
}
