package session

import (
	"testing"
	"time"
)

// TestMemorySweep checks that expired sessions and counters nobody touches
// again are dropped by the amortized sweep, so memory does not grow forever.
func TestMemorySweep(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	m := NewMemory(Options{Idle: time.Minute, Absolute: time.Hour, Now: func() time.Time { return now }})
	ctx := t.Context()
	for i := range 1000 {
		if _, err := m.Create(ctx, int64(i%10)); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Counter().Incr(ctx, "k"+string(rune('a'+i%26)), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(time.Minute) // everything is now idle-expired
	live, err := m.Create(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 * 1026 { // enough operations to pay for a sweep of everything
		if _, err := m.Get(ctx, live.ID); err != nil {
			t.Fatal(err)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.sessions) != 1 || len(m.counters) != 0 || len(m.byUser) != 1 || len(m.byUser[1]) != 1 {
		t.Errorf("after sweep: %d sessions, %d counters, %d users (user 1: %d), want 1, 0, 1 (1)",
			len(m.sessions), len(m.counters), len(m.byUser), len(m.byUser[1]))
	}
}
