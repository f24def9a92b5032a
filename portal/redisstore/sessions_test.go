package redisstore_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"tzportal/portal"
	"tzportal/portal/redisstore"
	"tzportal/portal/session"
	"tzportal/portal/session/sessiontest"
)

const startRedis = `redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no`

// MustClient returns a client of the test Redis (PORTAL_TEST_REDIS_URL,
// default database 15 on localhost), closed when the test ends. An
// unreachable Redis fails the test, unless PORTAL_TEST_EXTERNAL=off skips it.
func MustClient(tb testing.TB) *redis.Client {
	tb.Helper()
	url := os.Getenv("PORTAL_TEST_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/15"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := redisstore.Dial(ctx, url, redisstore.DialOptions{PoolSize: 8})
	if err != nil {
		if c != nil {
			c.Close()
		}
		if os.Getenv("PORTAL_TEST_EXTERNAL") == "off" {
			tb.Skipf("Redis unreachable and PORTAL_TEST_EXTERNAL=off: %v", err)
		}
		tb.Fatalf("Redis tests need a Redis server: %v\n"+
			"start one with:  %s\n"+
			"or point PORTAL_TEST_REDIS_URL at one; PORTAL_TEST_EXTERNAL=off skips these tests", err, startRedis)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// MustPrefix returns a fresh random key prefix, so tests run in parallel on
// one database, and deletes every key under it when the test ends (never
// FLUSHDB: the database may be shared).
func MustPrefix(tb testing.TB, c *redis.Client) string {
	tb.Helper()
	prefix := "tztest:" + rand.Text()[:16] + ":"
	tb.Cleanup(func() {
		// Not tb.Context(): it is already cancelled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		keys := scanKeys(tb, ctx, c, prefix)
		if len(keys) > 0 {
			if err := c.Del(ctx, keys...).Err(); err != nil {
				tb.Errorf("cleanup of %s*: %v", prefix, err)
			}
		}
	})
	return prefix
}

func scanKeys(tb testing.TB, ctx context.Context, c *redis.Client, prefix string) []string {
	tb.Helper()
	var keys []string
	iter := c.Scan(ctx, 0, prefix+"*", 100).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		tb.Fatalf("SCAN %s*: %v", prefix, err)
	}
	return keys
}

// newSessions returns Sessions under a fresh prefix. When clock moves, the
// TTLs of the prefix's keys move with it, so that the conformance suite can
// test Redis's idle expiry and counter windows without sleeping.
func newSessions(t *testing.T, clock *sessiontest.Clock, o session.Options) *redisstore.Sessions {
	c := MustClient(t)
	prefix := MustPrefix(t, c)
	if clock != nil {
		clock.OnAdvance(func(d time.Duration) { shiftTTLs(t, c, prefix, d) })
	}
	return redisstore.NewSessions(c, prefix, o)
}

// shiftTTLs makes d pass for the keys under prefix: each TTL shrinks by d and
// keys whose TTL runs out are deleted, as Redis would have done.
func shiftTTLs(t *testing.T, c *redis.Client, prefix string, d time.Duration) {
	ctx := context.Background()
	for _, k := range scanKeys(t, ctx, c, prefix) {
		ttl, err := c.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatalf("PTTL: %v", err)
		}
		switch {
		case ttl <= 0: // no TTL (-1) or gone meanwhile (-2)
		case ttl <= d:
			err = c.Del(ctx, k).Err()
		default:
			err = c.PExpire(ctx, k, ttl-d).Err()
		}
		if err != nil {
			t.Fatalf("moving the TTL of a key: %v", err)
		}
	}
}

func TestSessions(t *testing.T) {
	sessiontest.TestStore(t, func(t *testing.T, clock *sessiontest.Clock, o session.Options) session.Store {
		return newSessions(t, clock, o)
	})
}

func TestCounter(t *testing.T) {
	sessiontest.TestCounter(t, func(t *testing.T, clock *sessiontest.Clock, o session.Options) session.Counter {
		return newSessions(t, clock, o).Counter()
	})
}

func sha(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}

// TestKeysHoldNoRawID checks the key layout and that no live session id can
// be read from a Redis dump: neither in key names nor in values.
func TestKeysHoldNoRawID(t *testing.T) {
	t.Parallel()
	c := MustClient(t)
	prefix := MustPrefix(t, c)
	s := redisstore.NewSessions(c, prefix, session.Options{})
	ctx := t.Context()
	var ids []string
	for i := range 6 {
		sess := sessiontest.MustCreate(t, s, int64(100+i%2))
		ids = append(ids, sess.ID)
		if n := c.Exists(ctx, prefix+"sess:"+sha(sess.ID)).Val(); n != 1 {
			t.Errorf("no key sess:<sha256 hex of id> for a new session")
		}
		if !c.SIsMember(ctx, prefix+"user-sess:"+strconv.FormatInt(sess.UserID, 10), sha(sess.ID)).Val() {
			t.Errorf("hashed id missing from user-sess:%d", sess.UserID)
		}
	}
	if _, err := s.Counter().Incr(ctx, "acct:100", time.Minute); err != nil {
		t.Fatal(err)
	}
	keys := scanKeys(t, ctx, c, prefix)
	if len(keys) != 6+2+1 {
		t.Errorf("got %d keys, want 9: %q", len(keys), keys)
	}
	for _, k := range keys {
		var values []string
		switch typ := c.Type(ctx, k).Val(); typ {
		case "string":
			values = []string{c.Get(ctx, k).Val()}
		case "set":
			values = c.SMembers(ctx, k).Val()
		default:
			t.Errorf("key %s has unexpected type %s", k, typ)
		}
		for _, id := range ids {
			if strings.Contains(k, id) || strings.Contains(strings.Join(values, " "), id) {
				t.Errorf("a raw session id is visible in key %s or its value", k)
			}
		}
	}
}

// TestTTLs checks the expiry Redis enforces: the session key lives Idle
// from Create and again from each Get, the user's set Absolute, a counter
// its window from the first Incr only.
func TestTTLs(t *testing.T) {
	t.Parallel()
	c := MustClient(t)
	prefix := MustPrefix(t, c)
	o := session.Options{Idle: 30 * time.Minute, Absolute: 12 * time.Hour}
	s := redisstore.NewSessions(c, prefix, o)
	ctx := t.Context()
	wantTTL := func(what, key string, lo, hi time.Duration) {
		t.Helper()
		ttl, err := c.PTTL(ctx, key).Result()
		if err != nil {
			t.Fatalf("PTTL: %v", err)
		}
		if ttl <= lo || ttl > hi {
			t.Errorf("PTTL of %s = %v, want in (%v, %v]", what, ttl, lo, hi)
		}
	}
	sess := sessiontest.MustCreate(t, s, 9)
	key := prefix + "sess:" + sha(sess.ID)
	wantTTL("session after Create", key, 0, o.Idle)
	wantTTL("user set after Create", prefix+"user-sess:9", o.Absolute-time.Minute, o.Absolute)

	// As if 29 minutes had passed: Get must renew the whole idle timeout.
	if err := c.PExpire(ctx, key, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	sessiontest.MustGet(t, s, sess.ID)
	wantTTL("session after Get", key, o.Idle-time.Minute, o.Idle)

	counter := s.Counter()
	window := 15 * time.Minute
	if _, err := counter.Incr(ctx, "ip:10.0.0.1", window); err != nil {
		t.Fatal(err)
	}
	ckey := prefix + "count:ip:10.0.0.1"
	wantTTL("counter after first Incr", ckey, window-time.Minute, window)
	if err := c.PExpire(ctx, ckey, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := counter.Incr(ctx, "ip:10.0.0.1", window); err != nil {
		t.Fatal(err)
	}
	wantTTL("counter after second Incr (window must stay fixed)", ckey, 0, time.Minute)
}

// TestCleanup checks that ended sessions leave nothing behind in Redis.
func TestCleanup(t *testing.T) {
	t.Parallel()
	c := MustClient(t)
	prefix := MustPrefix(t, c)
	clock := sessiontest.NewClock(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	s := redisstore.NewSessions(c, prefix, session.Options{Idle: time.Hour, Absolute: 2 * time.Hour, Now: clock.Now})
	ctx := t.Context()
	userKey := prefix + "user-sess:7"
	members := func() []string { return c.SMembers(ctx, userKey).Val() }

	t.Run("Delete", func(t *testing.T) {
		sess := sessiontest.MustCreate(t, s, 7)
		if err := s.Delete(ctx, sess.ID); err != nil {
			t.Fatal(err)
		}
		if c.Exists(ctx, prefix+"sess:"+sha(sess.ID)).Val() != 0 || len(members()) != 0 {
			t.Errorf("after Delete: key left, or set members %q", members())
		}
	})

	t.Run("AbsoluteExpiry", func(t *testing.T) {
		sess := sessiontest.MustCreate(t, s, 7)
		clock.Advance(2 * time.Hour) // the key's TTL (real time) is still an hour
		_, err := s.Get(ctx, sess.ID)
		sessiontest.WantCode(t, "Get at the absolute end", err, portal.ENOTFOUND)
		if c.Exists(ctx, prefix+"sess:"+sha(sess.ID)).Val() != 0 || len(members()) != 0 {
			t.Errorf("after absolute expiry: key left, or set members %q", members())
		}
	})

	t.Run("Prune", func(t *testing.T) {
		// Sessions that expired by idle TTL leave their members behind, and
		// each login renews the set: Create must keep the set bounded
		// (pruneAbove, 32, plus the session just added).
		for range 100 {
			sess := sessiontest.MustCreate(t, s, 7)
			c.Del(ctx, prefix+"sess:"+sha(sess.ID))
			if n := len(members()); n > 33 {
				t.Fatalf("user set grew to %d members of dead sessions", n)
			}
		}
		live := sessiontest.MustCreate(t, s, 7)
		if !slices.Contains(members(), sha(live.ID)) {
			t.Errorf("prune dropped the live session from the user set")
		}
		sessiontest.MustGet(t, s, live.ID)
		if err := s.DeleteUser(ctx, 7); err != nil {
			t.Fatal(err)
		}
		_, err := s.Get(ctx, live.ID)
		sessiontest.WantCode(t, "live session after DeleteUser", err, portal.ENOTFOUND)
	})
}

// TestCorruptRecord checks that a record that is not ours is a bug
// (EINTERNAL), not a missing session and not an outage.
func TestCorruptRecord(t *testing.T) {
	t.Parallel()
	c := MustClient(t)
	prefix := MustPrefix(t, c)
	s := redisstore.NewSessions(c, prefix, session.Options{})
	id, err := session.NewID()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Set(t.Context(), prefix+"sess:"+sha(id), "{not json", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	_, err = s.Get(t.Context(), id)
	sessiontest.WantCode(t, "Get of a corrupt record", err, portal.EINTERNAL)
	if err := c.Set(t.Context(), prefix+"count:k", "many", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	_, err = s.Counter().Get(t.Context(), "k")
	sessiontest.WantCode(t, "Counter.Get of a non-number", err, portal.EINTERNAL)
}

// TestUnavailable checks that a dead Redis is EUNAVAILABLE on every method,
// promptly (Dial's timeouts; the elapsed time is logged, not asserted), and
// never mistaken for "no session".
func TestUnavailable(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := redisstore.Dial(ctx, "redis://127.0.0.1:1/15", redisstore.DialOptions{})
	sessiontest.WantCode(t, "Dial of a closed port", err, portal.EUNAVAILABLE)
	if c == nil {
		t.Fatal("Dial returned no client with its EUNAVAILABLE error")
	}
	defer c.Close()
	s := redisstore.NewSessions(c, "tztest:down:", session.Options{})
	counter := s.Counter()
	id, err := session.NewID()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		call func() error
		want string
	}{
		{"Create", func() error { _, err := s.Create(ctx, 1); return err }, portal.EUNAVAILABLE},
		{"Get", func() error { _, err := s.Get(ctx, id); return err }, portal.EUNAVAILABLE},
		{"Get malformed id", func() error { _, err := s.Get(ctx, "garbage"); return err }, portal.ENOTFOUND},
		{"Delete", func() error { return s.Delete(ctx, id) }, portal.EUNAVAILABLE},
		{"DeleteUser", func() error { return s.DeleteUser(ctx, 1) }, portal.EUNAVAILABLE},
		{"Ping", func() error { return s.Ping(ctx) }, portal.EUNAVAILABLE},
		{"Counter.Incr", func() error { _, err := counter.Incr(ctx, "k", time.Minute); return err }, portal.EUNAVAILABLE},
		{"Counter.Get", func() error { _, err := counter.Get(ctx, "k"); return err }, portal.EUNAVAILABLE},
		{"Counter.Reset", func() error { return counter.Reset(ctx, "k") }, portal.EUNAVAILABLE},
	} {
		start := time.Now()
		err := tc.call()
		t.Logf("%s: %v after %v", tc.name, err, time.Since(start).Round(time.Millisecond))
		sessiontest.WantCode(t, tc.name, err, tc.want)
		if err != nil && strings.Contains(err.Error(), id) {
			t.Errorf("%s: the error message holds the session id", tc.name)
		}
	}
}
