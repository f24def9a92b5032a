package sessiontest

import (
	"fmt"
	"sync"
	"time"
)

// Clock is a fake clock for session stores. Time moves only by Advance or
// Set; stores read it through Now, passed as session.Options.Now.
type Clock struct {
	mu    sync.Mutex
	now   time.Time
	hooks []func(d time.Duration)
}

// NewClock returns a Clock that reads t until moved.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d and then runs the OnAdvance hooks.
// It panics on a negative d: expiry cannot be undone.
func (c *Clock) Advance(d time.Duration) {
	if d < 0 {
		panic(fmt.Sprintf("sessiontest.Clock.Advance: negative duration %v", d))
	}
	c.mu.Lock()
	c.now = c.now.Add(d)
	hooks := append([]func(time.Duration){}, c.hooks...)
	c.mu.Unlock()
	// Outside the lock: a hook may well read Now.
	for _, h := range hooks {
		h(d)
	}
}

// Set moves the clock forward to t; it panics if t is before Now.
func (c *Clock) Set(t time.Time) { c.Advance(t.Sub(c.Now())) }

// OnAdvance registers f to run after every Advance with the distance moved.
// A backend whose expiry runs on a clock of its own (Redis key TTLs) uses it
// to move that clock too, so the suite can test expiry without sleeping.
func (c *Clock) OnAdvance(f func(d time.Duration)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hooks = append(c.hooks, f)
}
