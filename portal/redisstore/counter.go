package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"tzportal/portal"
	"tzportal/portal/session"
)

var _ session.Counter = (*Counter)(nil)

// Counter returns the login-failure counters kept next to the sessions, under
// keys prefix + "count:" + key. (Sessions cannot be the Counter itself:
// Store.Get and Counter.Get differ in signature.)
func (s *Sessions) Counter() *Counter {
	return &Counter{c: s.c, prefix: s.prefix + "count:"}
}

// Counter is a session.Counter in Redis: INCR and PEXPIRE NX in one MULTI,
// atomic for all nodes sharing the Redis, unlike fiber's limiter.
type Counter struct {
	c      *redis.Client
	prefix string
}

// Incr adds one to the counter at key and returns the new count. The window
// starts at the first Incr; later ones do not extend it (PEXPIRE NX, which
// needs Redis 7).
func (c *Counter) Incr(ctx context.Context, key string, window time.Duration) (int64, error) {
	if window < time.Millisecond {
		return 0, &portal.Error{Code: portal.EINTERNAL, Err: fmt.Errorf("redisstore.Incr: window %v shorter than 1ms", window)}
	}
	k := c.prefix + key
	var n *redis.IntCmd
	_, err := c.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		n = p.Incr(ctx, k)
		p.Do(ctx, "pexpire", k, window.Milliseconds(), "nx")
		return nil
	})
	if err != nil {
		return 0, unavailable("Incr", err)
	}
	return n.Val(), nil
}

// Get returns the count at key, 0 when it is absent or its window has passed.
func (c *Counter) Get(ctx context.Context, key string) (int64, error) {
	v, err := c.c.Get(ctx, c.prefix+key).Result()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, unavailable("Counter.Get", err)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, &portal.Error{Code: portal.EINTERNAL, Err: fmt.Errorf("redisstore.Counter.Get: %w", err)}
	}
	return n, nil
}

// Reset forgets the counter at key, as after a successful login.
func (c *Counter) Reset(ctx context.Context, key string) error {
	if err := c.c.Del(ctx, c.prefix+key).Err(); err != nil {
		return unavailable("Reset", err)
	}
	return nil
}
