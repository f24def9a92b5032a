// Package redisstore keeps sessions and login-failure counters in Redis
// (DESIGN §6). It implements session.Store and session.Counter on one shared
// go-redis client, which Dial configures so that a slow or dead Redis fails
// requests fast instead of stalling them.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"tzportal/portal"
)

// DialOptions tunes the client Dial builds.
type DialOptions struct {
	// PoolSize is the number of pooled connections; 0 means 10 per GOMAXPROCS,
	// go-redis's own default.
	PoolSize int
	// RoundTrips, when set, counts every command or pipeline sent (the load
	// tool reports it per request).
	RoundTrips *atomic.Int64
}

// Dial connects to the Redis at url and pings it: redis://[user:password@]host:port/db,
// or, for a primary watched by Redis Sentinel,
// redis+sentinel://[user:password@]sentinel:26379/db?master_name=NAME&addr=sentinel2:26379&addr=…
// (the user and password are the sentinels'; password=… in the query is
// the primary's). Through Sentinel the client asks the sentinels for the
// primary and follows a failover by itself. Timeouts in the URL are
// overridden: every request of the portal waits on Redis, so Redis must
// answer in hundreds of milliseconds or the request fails with
// EUNAVAILABLE.
//
// If the ping fails, Dial returns the client together with an EUNAVAILABLE
// error, so the caller may decide to start anyway (the client reconnects on
// its own) or to abort; in both cases the caller closes the client. A URL
// that does not parse gives a nil client and an error that omits the URL,
// since it may hold a password.
func Dial(ctx context.Context, url string, opts DialOptions) (*redis.Client, error) {
	var c *redis.Client
	if sentinel(url) {
		o, err := failoverOptions(url, opts)
		if err != nil {
			return nil, err
		}
		c = redis.NewFailoverClient(o)
	} else {
		o, err := clientOptions(url, opts)
		if err != nil {
			return nil, err
		}
		c = redis.NewClient(o)
	}
	if opts.RoundTrips != nil {
		c.AddHook(countHook{opts.RoundTrips})
	}
	if err := c.Ping(ctx).Err(); err != nil {
		return c, portal.Unavailable("redis", fmt.Errorf("redisstore.Dial: ping: %w", err))
	}
	return c, nil
}

func sentinel(url string) bool {
	return strings.HasPrefix(url, "redis+sentinel://") || strings.HasPrefix(url, "rediss+sentinel://")
}

// limits are the portal's timeouts and retries, the same for a plain and a
// Sentinel client.
type limits struct {
	dial, read, write, pool time.Duration
	retries, dialRetries    int
	poolSize                int
}

func portalLimits(opts DialOptions) limits {
	l := limits{
		dial: 500 * time.Millisecond, read: 300 * time.Millisecond, write: 300 * time.Millisecond, pool: 500 * time.Millisecond,
		// One retry hides the common transient failure, a pooled connection
		// that Redis or a firewall closed while it sat idle; more retries
		// only multiply the wait when Redis is really down. The price is
		// that an INCR whose reply was lost may count twice, which for
		// login throttling errs on the safe side.
		retries: 1,
		// go-redis also retries every dial, 5 times with 100ms pauses by
		// default, inside each of the attempts above: a dead Redis would
		// then cost about a second (refused) or five (unreachable host) per
		// request. One dial per attempt keeps the worst case near 2 ×
		// DialTimeout.
		dialRetries: 1,
		poolSize:    opts.PoolSize,
	}
	if l.poolSize <= 0 {
		l.poolSize = 10 * runtime.GOMAXPROCS(0)
	}
	return l
}

// badURL keeps only the cause of a URL error: url.Error repeats the whole
// URL, password included.
func badURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("redisstore.Dial: bad Redis URL: %w", err)
}

// clientOptions parses url and applies the portal's timeouts.
func clientOptions(rawURL string, opts DialOptions) (*redis.Options, error) {
	o, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, badURL(err)
	}
	l := portalLimits(opts)
	// Without this, a deadline on ctx does not reach the socket and a hung
	// Redis holds the request for the full socket timeouts.
	o.ContextTimeoutEnabled = true
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = l.dial, l.read, l.write, l.pool
	o.MaxRetries, o.DialerRetries, o.PoolSize = l.retries, l.dialRetries, l.poolSize
	return o, nil
}

// failoverOptions parses a redis+sentinel:// URL (go-redis's failover URL
// under its own scheme) and applies the portal's timeouts.
func failoverOptions(rawURL string, opts DialOptions) (*redis.FailoverOptions, error) {
	plain := strings.Replace(rawURL, "+sentinel://", "://", 1)
	o, err := redis.ParseFailoverURL(plain)
	if err != nil {
		return nil, badURL(err)
	}
	if o.MasterName == "" {
		return nil, errors.New("redisstore.Dial: a Sentinel URL needs master_name=…")
	}
	l := portalLimits(opts)
	o.ContextTimeoutEnabled = true
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = l.dial, l.read, l.write, l.pool
	o.MaxRetries, o.DialerRetries, o.PoolSize = l.retries, l.dialRetries, l.poolSize
	return o, nil
}

// unavailable wraps a Redis failure; op names the operation for the log.
func unavailable(op string, err error) error {
	return portal.Unavailable("redis", fmt.Errorf("redisstore.%s: %w", op, err))
}

// countHook counts round trips: one per command, one per pipeline.
type countHook struct{ n *atomic.Int64 }

func (h countHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}
