package session

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"tzportal/portal"
)

// minSweep is the fewest operations between two sweeps, so that a nearly
// empty Memory does not sweep on every call.
const minSweep = 64

// Memory is a Store kept in process memory, for tests and for a single node
// without Redis; Counter gives the Counter that shares its clock and sweep.
// (One type cannot be both: Store.Get and Counter.Get differ in signature.) It is safe for concurrent use. Expired entries
// are dropped when touched and by a sweep that runs after as many operations
// as there were live entries at the previous sweep, so its cost is amortized
// O(1) per operation and no background goroutine is needed.
type Memory struct {
	o Options

	mu       sync.Mutex
	sessions map[string]*memSession
	byUser   map[int64]map[string]struct{}
	counters map[string]*memCounter
	ops      int // operations since the last sweep
	sweepAt  int // ops that trigger the next sweep
}

type memSession struct {
	s         Session
	idleUntil time.Time // the session dies at the first instant not before this
}

type memCounter struct {
	n     int64
	until time.Time
}

var (
	_ Store   = (*Memory)(nil)
	_ Counter = (*MemoryCounter)(nil)
)

// NewMemory returns an empty Memory; zero options take the defaults of
// Options.WithDefaults.
func NewMemory(o Options) *Memory {
	return &Memory{
		o:        o.WithDefaults(),
		sessions: map[string]*memSession{},
		byUser:   map[int64]map[string]struct{}{},
		counters: map[string]*memCounter{},
		sweepAt:  minSweep,
	}
}

// now strips the monotonic reading and the location so that sessions compare
// equal to what a serializing store (Redis) gives back.
func (m *Memory) now() time.Time { return m.o.Now().UTC().Round(0) }

// Create starts a session for userID under a fresh random id.
func (m *Memory) Create(ctx context.Context, userID int64) (*Session, error) {
	id, err := NewID()
	if err != nil {
		return nil, &portal.Error{Code: portal.EINTERNAL, Err: fmt.Errorf("session.Memory.Create: %w", err)}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tick()
	if _, dup := m.sessions[id]; dup {
		// 256 random bits do not collide; if they do, the random source is broken.
		return nil, &portal.Error{Code: portal.EINTERNAL, Err: errors.New("session.Memory.Create: duplicate session id")}
	}
	now := m.now()
	e := &memSession{
		s:         Session{ID: id, UserID: userID, CreatedAt: now, ExpiresAt: now.Add(m.o.Absolute)},
		idleUntil: now.Add(m.o.Idle),
	}
	m.sessions[id] = e
	ids := m.byUser[userID]
	if ids == nil {
		ids = map[string]struct{}{}
		m.byUser[userID] = ids
	}
	ids[id] = struct{}{}
	s := e.s
	return &s, nil
}

// Get returns the session and restarts its idle timeout.
func (m *Memory) Get(ctx context.Context, id string) (*Session, error) {
	if !ValidID(id) {
		return nil, portal.NotFound(errors.New("session.Memory.Get: malformed session id"))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tick()
	now := m.now()
	e, ok := m.sessions[id]
	if !ok {
		return nil, portal.NotFound(errors.New("session.Memory.Get: no such session"))
	}
	if e.expired(now) {
		m.remove(id, e.s.UserID)
		return nil, portal.NotFound(errors.New("session.Memory.Get: session expired"))
	}
	e.idleUntil = now.Add(m.o.Idle)
	s := e.s
	return &s, nil
}

// Delete ends one session; a missing session is not an error.
func (m *Memory) Delete(ctx context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tick()
	if e, ok := m.sessions[id]; ok {
		m.remove(id, e.s.UserID)
	}
	return nil
}

// DeleteUser ends every session of userID.
func (m *Memory) DeleteUser(ctx context.Context, userID int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tick()
	for id := range m.byUser[userID] {
		delete(m.sessions, id)
	}
	delete(m.byUser, userID)
	return nil
}

// Ping always succeeds: memory is always there.
func (m *Memory) Ping(ctx context.Context) error { return nil }

// Counter returns the Counter kept in m.
func (m *Memory) Counter() *MemoryCounter { return &MemoryCounter{m: m} }

// MemoryCounter is the Counter of a Memory; get one from Memory.Counter.
type MemoryCounter struct{ m *Memory }

// Incr adds one to the counter at key and returns the new count. The window
// starts at the first Incr; later increments do not extend it.
func (mc *MemoryCounter) Incr(ctx context.Context, key string, window time.Duration) (int64, error) {
	if window < time.Millisecond {
		// Redis counts windows in milliseconds; keep both stores alike.
		return 0, &portal.Error{Code: portal.EINTERNAL, Err: fmt.Errorf("session.MemoryCounter.Incr: window %v shorter than 1ms", window)}
	}
	m := mc.m
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tick()
	now := m.now()
	c, ok := m.counters[key]
	if !ok || !now.Before(c.until) {
		c = &memCounter{until: now.Add(window)}
		m.counters[key] = c
	}
	c.n++
	return c.n, nil
}

// Get returns the count at key, 0 when it is absent or its window has passed.
func (mc *MemoryCounter) Get(ctx context.Context, key string) (int64, error) {
	m := mc.m
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tick()
	c, ok := m.counters[key]
	if !ok {
		return 0, nil
	}
	if !m.now().Before(c.until) {
		delete(m.counters, key)
		return 0, nil
	}
	return c.n, nil
}

// Reset forgets the counter at key, as after a successful login.
func (mc *MemoryCounter) Reset(ctx context.Context, key string) error {
	m := mc.m
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tick()
	delete(m.counters, key)
	return nil
}

func (e *memSession) expired(now time.Time) bool {
	return !now.Before(e.idleUntil) || !now.Before(e.s.ExpiresAt)
}

// remove drops a session and its entry in the per-user index; m.mu is held.
func (m *Memory) remove(id string, userID int64) {
	delete(m.sessions, id)
	if ids := m.byUser[userID]; ids != nil {
		delete(ids, id)
		if len(ids) == 0 {
			delete(m.byUser, userID)
		}
	}
}

// tick counts an operation and sweeps when enough have passed; m.mu is held.
func (m *Memory) tick() {
	m.ops++
	if m.ops < m.sweepAt {
		return
	}
	m.sweep()
}

// sweep drops every expired entry. The next sweep waits for as many
// operations as there are entries left, which pays for this one.
func (m *Memory) sweep() {
	now := m.now()
	for id, e := range m.sessions {
		if e.expired(now) {
			m.remove(id, e.s.UserID)
		}
	}
	for k, c := range m.counters {
		if !now.Before(c.until) {
			delete(m.counters, k)
		}
	}
	m.ops = 0
	m.sweepAt = max(minSweep, len(m.sessions)+len(m.counters))
}
