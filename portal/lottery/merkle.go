package lottery

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// digest is a SHA-256 value.
type digest = [sha256.Size]byte

// Sides of a proof step: where the sibling is.
const (
	Left  = "left"
	Right = "right"
)

// ProofStep is one level of a Merkle proof: the hash of the sibling and its
// side, Left or Right.
type ProofStep struct {
	Hash string `json:"hash"`
	Side string `json:"side"`
}

// leaves returns the leaf hashes of ps, SHA-256(0x00 || "ticket,class").
func leaves(ps []Participant) []digest {
	level := make([]digest, len(ps))
	buf := []byte{0}
	for i, p := range ps {
		buf = appendLine(buf[:1], p)
		level[i] = sha256.Sum256(buf)
	}
	return level
}

// node returns SHA-256(0x01 || l || r).
func node(l, r *digest) digest {
	var b [1 + 2*sha256.Size]byte
	b[0] = 1
	copy(b[1:], l[:])
	copy(b[1+sha256.Size:], r[:])
	return sha256.Sum256(b[:])
}

// up replaces level with the level above it, in place, and returns it: the
// nodes of pairs 1-2, 3-4, …, and an odd last node unchanged.
func up(level []digest) []digest {
	n := len(level)
	for i := 0; i+1 < n; i += 2 {
		level[i/2] = node(&level[i], &level[i+1])
	}
	if n%2 == 1 {
		level[n/2] = level[n-1]
	}
	return level[:(n+1)/2]
}

// MerkleRoot returns the Merkle root of ps, as the package documentation
// defines it: SHA-256 of the empty text for no participants.
func MerkleRoot(ps []Participant) string {
	if len(ps) == 0 {
		sum := sha256.Sum256(nil)
		return hex.EncodeToString(sum[:])
	}
	level := leaves(ps)
	for len(level) > 1 {
		level = up(level)
	}
	return hex.EncodeToString(level[0][:])
}

// Proof returns the proof that ps[i] is in the list whose root is
// MerkleRoot(ps), from the leaf up; it is empty for a list of one. Proof
// panics when i is not an index of ps.
func Proof(ps []Participant, i int) []ProofStep {
	if i < 0 || i >= len(ps) {
		panic(fmt.Sprintf("lottery.Proof: index %d out of range [0:%d]", i, len(ps)))
	}
	proof := []ProofStep{}
	level := leaves(ps)
	for len(level) > 1 {
		if sib := i ^ 1; sib < len(level) {
			side := Right
			if sib < i {
				side = Left
			}
			proof = append(proof, ProofStep{Hash: hex.EncodeToString(level[sib][:]), Side: side})
		}
		level = up(level)
		i /= 2
	}
	return proof
}

// VerifyProof reports whether proof leads from the leaf of p to root. It is
// false for a participant no valid list has (a ticket below 1 or an invalid
// class id), and for hashes not in lowercase hex.
func VerifyProof(p Participant, proof []ProofStep, root string) bool {
	if p.Ticket < 1 || !ValidClass(p.Class) {
		return false
	}
	cur := leaves([]Participant{p})[0]
	for _, s := range proof {
		sib, ok := parseHash(s.Hash)
		if !ok {
			return false
		}
		switch s.Side {
		case Left:
			cur = node(&sib, &cur)
		case Right:
			cur = node(&cur, &sib)
		default:
			return false
		}
	}
	return hex.EncodeToString(cur[:]) == root
}

// parseHash decodes 64 lowercase hex digits.
func parseHash(s string) (digest, bool) {
	var h digest
	if !isHash(s) {
		return h, false
	}
	_, err := hex.Decode(h[:], []byte(s))
	return h, err == nil
}

// isHash reports whether s is 64 lowercase hex digits.
func isHash(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(s); i++ {
		if b := s[i]; !('0' <= b && b <= '9' || 'a' <= b && b <= 'f') {
			return false
		}
	}
	return true
}
