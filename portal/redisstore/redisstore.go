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

// Dial connects to the Redis at url (redis://[user:password@]host:port/db)
// and pings it. Timeouts in the URL are overridden: every request of the
// portal waits on Redis, so Redis must answer in hundreds of milliseconds or
// the request fails with EUNAVAILABLE.
//
// If the ping fails, Dial returns the client together with an EUNAVAILABLE
// error, so the caller may decide to start anyway (the client reconnects on
// its own) or to abort; in both cases the caller closes the client. A URL
// that does not parse gives a nil client and an error that omits the URL,
// since it may hold a password.
func Dial(ctx context.Context, url string, opts DialOptions) (*redis.Client, error) {
	o, err := clientOptions(url, opts)
	if err != nil {
		return nil, err
	}
	c := redis.NewClient(o)
	if opts.RoundTrips != nil {
		c.AddHook(countHook{opts.RoundTrips})
	}
	if err := c.Ping(ctx).Err(); err != nil {
		return c, portal.Unavailable("redis", fmt.Errorf("redisstore.Dial: ping %s db %d: %w", o.Addr, o.DB, err))
	}
	return c, nil
}

// clientOptions parses url and applies the portal's timeouts.
func clientOptions(rawURL string, opts DialOptions) (*redis.Options, error) {
	o, err := redis.ParseURL(rawURL)
	if err != nil {
		// url.Error repeats the whole URL, password included: keep only its cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("redisstore.Dial: bad Redis URL: %w", err)
	}
	// Without this, a deadline on ctx does not reach the socket and a hung
	// Redis holds the request for the full socket timeouts.
	o.ContextTimeoutEnabled = true
	o.DialTimeout = 500 * time.Millisecond
	o.ReadTimeout = 300 * time.Millisecond
	o.WriteTimeout = 300 * time.Millisecond
	o.PoolTimeout = 500 * time.Millisecond
	// One retry hides the common transient failure, a pooled connection that
	// Redis or a firewall closed while it sat idle; more retries only multiply
	// the wait when Redis is really down. The price is that an INCR whose reply
	// was lost may count twice, which for login throttling errs on the safe side.
	o.MaxRetries = 1
	// go-redis also retries every dial, 5 times with 100ms pauses by default,
	// inside each of the attempts above: a dead Redis would then cost about a
	// second (refused) or five (unreachable host) per request. One dial per
	// attempt keeps the worst case near 2 × DialTimeout.
	o.DialerRetries = 1
	o.PoolSize = opts.PoolSize
	if o.PoolSize <= 0 {
		o.PoolSize = 10 * runtime.GOMAXPROCS(0)
	}
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
