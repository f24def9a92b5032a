package matching

import (
	"crypto/sha256"
	"encoding/hex"
)

// Seed lengths ValidSeed accepts, in hex digits.
const (
	MinSeedLen = 32
	MaxSeedLen = 128
)

// Tiebreak returns the child's tiebreak: the lowercase hex SHA-256 of
// seed + ":" + caseNo. Every school uses the same number for a child.
func Tiebreak(seed, caseNo string) string {
	sum := sha256.Sum256([]byte(seed + ":" + caseNo))
	return hex.EncodeToString(sum[:])
}

// Commitment returns the lowercase hex SHA-256 of the seed. The district
// publishes it before the applications close and the seed after, so anyone
// can check that the seed was fixed in advance.
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
