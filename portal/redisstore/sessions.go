package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"tzportal/portal"
	"tzportal/portal/session"
)

// pruneAbove is the size of a user's session set past which Create drops the
// members whose sessions have expired. Idle expiry removes a session key but
// not its member, and each login renews the set's TTL, so without pruning the
// set of a user who logs in every few hours would grow for ever.
const pruneAbove = 32

// Sessions is a session.Store in Redis. Keys, all under the prefix:
//
//	sess:<sha256 hex of id>  JSON {user_id, created_at, expires_at}, TTL = idle timeout
//	user-sess:<user id>      set of the hashed ids of the user's sessions, TTL = absolute lifetime
//
// Only hashes of ids reach Redis, so a dump or a MONITOR does not leak live
// sessions. The idle timeout is the key's TTL, renewed by every Get; the
// absolute lifetime is expires_at, checked against Options.Now.
type Sessions struct {
	c      *redis.Client
	prefix string
	o      session.Options
}

var _ session.Store = (*Sessions)(nil)

// NewSessions returns the sessions kept by c under keys starting with prefix
// (e.g. "tz:"). Zero options take the defaults of session.Options.WithDefaults.
func NewSessions(c *redis.Client, prefix string, o session.Options) *Sessions {
	return &Sessions{c: c, prefix: prefix, o: o.WithDefaults()}
}

// record is the stored form of a session; the id is the key, hashed.
type record struct {
	UserID    int64     `json:"user_id"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// hashID returns the name a session id has in Redis. A plain SHA-256 is
// enough: ids carry 256 random bits, so there is nothing to brute-force.
func hashID(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}

func (s *Sessions) sessKey(hash string) string { return s.prefix + "sess:" + hash }

func (s *Sessions) userKey(userID int64) string {
	return s.prefix + "user-sess:" + strconv.FormatInt(userID, 10)
}

// Create starts a session for userID under a fresh random id, in one round trip.
func (s *Sessions) Create(ctx context.Context, userID int64) (*session.Session, error) {
	id, err := session.NewID()
	if err != nil {
		return nil, &portal.Error{Code: portal.EINTERNAL, Err: fmt.Errorf("redisstore.Create: %w", err)}
	}
	// UTC and no monotonic reading: what Create returns equals what Get reads back.
	now := s.o.Now().UTC().Round(0)
	rec := record{UserID: userID, CreatedAt: now, ExpiresAt: now.Add(s.o.Absolute)}
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, &portal.Error{Code: portal.EINTERNAL, Err: fmt.Errorf("redisstore.Create: %w", err)}
	}
	hash, userKey := hashID(id), s.userKey(userID)
	var card *redis.IntCmd
	_, err = s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, s.sessKey(hash), b, s.o.Idle)
		p.SAdd(ctx, userKey, hash)
		// The newest session ends last, so the set lives exactly as long as it must.
		p.PExpire(ctx, userKey, s.o.Absolute)
		card = p.SCard(ctx, userKey)
		return nil
	})
	if err != nil {
		return nil, unavailable("Create", err)
	}
	if card.Val() > pruneAbove {
		// Housekeeping only: the session exists, so a failure here must not
		// fail the login; the next Create tries again.
		_ = s.prune(ctx, userKey)
	}
	return &session.Session{ID: id, UserID: userID, CreatedAt: rec.CreatedAt, ExpiresAt: rec.ExpiresAt}, nil
}

// prune removes from the user's set the members whose session keys are gone.
func (s *Sessions) prune(ctx context.Context, userKey string) error {
	members, err := s.c.SMembers(ctx, userKey).Result()
	if err != nil {
		return err
	}
	exists := make([]*redis.IntCmd, len(members))
	if _, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, m := range members {
			exists[i] = p.Exists(ctx, s.sessKey(m))
		}
		return nil
	}); err != nil {
		return err
	}
	var dead []any
	for i, m := range members {
		if exists[i].Val() == 0 {
			dead = append(dead, m)
		}
	}
	if len(dead) == 0 {
		return nil
	}
	return s.c.SRem(ctx, userKey, dead...).Err()
}

// Get returns the session with id and restarts its idle timeout, in one
// round trip (GETEX) while the session is alive. A malformed id is ENOTFOUND
// without asking Redis, so garbage cookies cost nothing.
func (s *Sessions) Get(ctx context.Context, id string) (*session.Session, error) {
	if !session.ValidID(id) {
		return nil, portal.NotFound(errors.New("redisstore.Get: malformed session id"))
	}
	hash := hashID(id)
	b, err := s.c.GetEx(ctx, s.sessKey(hash), s.o.Idle).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, portal.NotFound(errors.New("redisstore.Get: no such session"))
	}
	if err != nil {
		return nil, unavailable("Get", err)
	}
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, &portal.Error{Code: portal.EINTERNAL, Err: fmt.Errorf("redisstore.Get: session record: %w", err)}
	}
	if !s.o.Now().Before(rec.ExpiresAt) {
		// Best effort: the session is over whatever Redis answers, and a key
		// left behind is refused again here and expires at its idle TTL.
		_, _ = s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Del(ctx, s.sessKey(hash))
			p.SRem(ctx, s.userKey(rec.UserID), hash)
			return nil
		})
		return nil, portal.NotFound(errors.New("redisstore.Get: session past its absolute lifetime"))
	}
	return &session.Session{ID: id, UserID: rec.UserID, CreatedAt: rec.CreatedAt, ExpiresAt: rec.ExpiresAt}, nil
}

// Delete ends the session with id (logout); a missing session is not an error.
func (s *Sessions) Delete(ctx context.Context, id string) error {
	if !session.ValidID(id) {
		return nil // it cannot exist
	}
	hash := hashID(id)
	// GETDEL rather than DEL: the record names the user whose set to clean.
	b, err := s.c.GetDel(ctx, s.sessKey(hash)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return unavailable("Delete", err)
	}
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil // the session is gone; a corrupt record cannot name its user
	}
	if err := s.c.SRem(ctx, s.userKey(rec.UserID), hash).Err(); err != nil {
		return unavailable("Delete", err)
	}
	return nil
}

// DeleteUser ends every session of userID ("log out everywhere", revoked
// grants). A session created while it runs may survive: it is a login that
// happened after the logout.
func (s *Sessions) DeleteUser(ctx context.Context, userID int64) error {
	userKey := s.userKey(userID)
	hashes, err := s.c.SMembers(ctx, userKey).Result()
	if err != nil {
		return unavailable("DeleteUser", err)
	}
	if len(hashes) == 0 {
		return nil
	}
	keys := make([]string, len(hashes))
	members := make([]any, len(hashes))
	for i, h := range hashes {
		keys[i], members[i] = s.sessKey(h), h
	}
	// SREM of what was read, not DEL of the set, so that a session created
	// meanwhile keeps its membership and a later DeleteUser still finds it.
	_, err = s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, keys...)
		p.SRem(ctx, userKey, members...)
		return nil
	})
	if err != nil {
		return unavailable("DeleteUser", err)
	}
	return nil
}

// Ping checks that Redis answers.
func (s *Sessions) Ping(ctx context.Context) error {
	if err := s.c.Ping(ctx).Err(); err != nil {
		return unavailable("Ping", err)
	}
	return nil
}
