// Package session defines the sessions of logged-in browsers and API clients,
// the fixed-window counters behind login throttling, and an in-memory
// implementation of both for tests and single-node development.
// Package redisstore holds the production implementation.
package session

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"time"
)

// Session is a logged-in browser or API client. ID is secret: never log it.
type Session struct {
	ID        string // opaque, 32 random bytes, base64url without padding (256 bits)
	UserID    int64
	CreatedAt time.Time
	ExpiresAt time.Time // absolute end of life (CreatedAt + Absolute)
}

// Options configures a Store. Zero fields take the defaults of WithDefaults.
type Options struct {
	Idle     time.Duration    // sliding idle timeout (30 min in production)
	Absolute time.Duration    // absolute lifetime (12 h)
	Now      func() time.Time // clock, for tests
}

// DefaultIdle and DefaultAbsolute are the production timeouts of DESIGN §6.
const (
	DefaultIdle     = 30 * time.Minute
	DefaultAbsolute = 12 * time.Hour
)

// WithDefaults returns o with unset (zero or negative) timeouts replaced by
// DefaultIdle and DefaultAbsolute and a nil clock by time.Now. A zero idle
// timeout must never reach a store: Redis would read it as "no expiry".
func (o Options) WithDefaults() Options {
	if o.Idle <= 0 {
		o.Idle = DefaultIdle
	}
	if o.Absolute <= 0 {
		o.Absolute = DefaultAbsolute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Store keeps sessions. Every method returns a *portal.Error: EUNAVAILABLE when the backend
// does not answer (never treat that as "no session"), ENOTFOUND for a missing or expired session.
type Store interface {
	Create(ctx context.Context, userID int64) (*Session, error) // always a fresh random id
	Get(ctx context.Context, id string) (*Session, error)       // refreshes the idle timeout (sliding)
	Delete(ctx context.Context, id string) error                // logout; no error if missing
	DeleteUser(ctx context.Context, userID int64) error         // end every session of a user
	Ping(ctx context.Context) error
}

// Counter counts events in a fixed window (login failures per account and per IP).
type Counter interface {
	Incr(ctx context.Context, key string, window time.Duration) (int64, error) // window starts at the first Incr
	Get(ctx context.Context, key string) (int64, error)                        // 0 when absent/expired
	Reset(ctx context.Context, key string) error
}

// idBytes is the entropy of a session id: 256 bits, so ids can be neither
// guessed nor usefully hashed-and-searched.
const idBytes = 32

// IDLen is the length in characters of every id NewID returns.
const IDLen = (idBytes*8 + 5) / 6

// NewID returns a fresh session id: 32 bytes from crypto/rand, base64url
// without padding.
func NewID() (string, error) {
	var b [idBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("session.NewID: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// ValidID reports whether id has the shape NewID gives: exactly IDLen
// characters of the base64url alphabet, decoding to 32 bytes. Stores use it to
// answer ENOTFOUND for garbage cookies without a round trip to the backend.
func ValidID(id string) bool {
	if len(id) != IDLen {
		return false
	}
	var b [idBytes]byte
	// Strict rejects non-zero padding bits in the last character, so every
	// valid id has exactly one spelling.
	n, err := base64.RawURLEncoding.Strict().Decode(b[:], []byte(id))
	return err == nil && n == idBytes
}
