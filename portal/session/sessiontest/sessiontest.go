// Package sessiontest is the conformance suite that every session.Store and
// session.Counter must pass. Each backend's tests call TestStore and
// TestCounter with a constructor; every case gets a fresh store and a fresh
// fake Clock, and cases run in parallel.
package sessiontest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"tzportal/portal"
	"tzportal/portal/session"
)

// start is the instant every case's Clock starts at.
func start() time.Time { return time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC) }

// The suite's timeouts are short enough to walk a whole lifetime in a few
// dozen steps, and Absolute is a whole number of Idle/2 steps.
const (
	idle     = time.Minute
	absolute = 10 * time.Minute
	window   = 15 * time.Minute
)

// NewStore returns an empty Store that reads time through o.Now, which is
// clock.Now. A backend whose idle expiry does not read o.Now registers a
// clock.OnAdvance hook that moves its own expiry by the same distance.
// It should release what it holds with t.Cleanup.
type NewStore func(t *testing.T, clock *Clock, o session.Options) session.Store

// NewCounter is NewStore for counters.
type NewCounter func(t *testing.T, clock *Clock, o session.Options) session.Counter

// TestStore runs the Store conformance cases against stores from newStore.
func TestStore(t *testing.T, newStore NewStore) {
	setup := func(t *testing.T) (session.Store, *Clock) {
		t.Helper()
		t.Parallel()
		clock := NewClock(start())
		s := newStore(t, clock, session.Options{Idle: idle, Absolute: absolute, Now: clock.Now})
		return s, clock
	}

	t.Run("CreateGet", func(t *testing.T) {
		s, clock := setup(t)
		ctx := t.Context()
		created := MustCreate(t, s, 42)
		want := &session.Session{ID: created.ID, UserID: 42, CreatedAt: clock.Now(), ExpiresAt: clock.Now().Add(absolute)}
		if diff := cmp.Diff(want, created); diff != "" {
			t.Errorf("Create (-want +got):\n%s", diff)
		}
		got, err := s.Get(ctx, created.ID)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Get (-want +got):\n%s", diff)
		}
	})

	t.Run("IDsUniqueAndLong", func(t *testing.T) {
		s, _ := setup(t)
		seen := map[string]bool{}
		for range 100 {
			sess := MustCreate(t, s, 7)
			if len(sess.ID) < 43 {
				t.Errorf("id has %d characters, want at least 43", len(sess.ID))
			}
			if !session.ValidID(sess.ID) {
				t.Errorf("id is not valid by session.ValidID")
			}
			if seen[sess.ID] {
				t.Fatalf("Create returned an id twice")
			}
			seen[sess.ID] = true
		}
	})

	t.Run("GetUnknown", func(t *testing.T) {
		s, _ := setup(t)
		MustCreate(t, s, 1) // a store with something in it
		unknown, err := session.NewID()
		if err != nil {
			t.Fatal(err)
		}
		for name, id := range map[string]string{
			"unknown":       unknown,
			"empty":         "",
			"short":         "abc",
			"bad alphabet":  "!" + unknown[1:],
			"padded":        unknown[:42] + "=",
			"too long":      unknown + "A",
			"non-canonical": unknown[:42] + "B", // padding bits set
		} {
			_, err := s.Get(t.Context(), id)
			WantCode(t, name, err, portal.ENOTFOUND)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		s, _ := setup(t)
		ctx := t.Context()
		a, b := MustCreate(t, s, 5), MustCreate(t, s, 5)
		if err := s.Delete(ctx, a.ID); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		_, err := s.Get(ctx, a.ID)
		WantCode(t, "Get after Delete", err, portal.ENOTFOUND)
		MustGet(t, s, b.ID) // the user's other session lives on
		if err := s.Delete(ctx, a.ID); err != nil {
			t.Errorf("Delete twice: %v", err)
		}
		for _, id := range []string{"", "garbage"} {
			if err := s.Delete(ctx, id); err != nil {
				t.Errorf("Delete(%q): %v", id, err)
			}
		}
	})

	t.Run("DeleteUser", func(t *testing.T) {
		s, _ := setup(t)
		ctx := t.Context()
		mine := []*session.Session{MustCreate(t, s, 1), MustCreate(t, s, 1), MustCreate(t, s, 1)}
		other := MustCreate(t, s, 2)
		if err := s.DeleteUser(ctx, 1); err != nil {
			t.Fatalf("DeleteUser: %v", err)
		}
		for i, sess := range mine {
			_, err := s.Get(ctx, sess.ID)
			WantCode(t, fmt.Sprintf("session %d after DeleteUser", i), err, portal.ENOTFOUND)
		}
		MustGet(t, s, other.ID)
		if err := s.DeleteUser(ctx, 99); err != nil {
			t.Errorf("DeleteUser of a user without sessions: %v", err)
		}
		// The user can log in again, and "log out everywhere" still works.
		again := MustCreate(t, s, 1)
		MustGet(t, s, again.ID)
		if err := s.DeleteUser(ctx, 1); err != nil {
			t.Fatalf("second DeleteUser: %v", err)
		}
		_, err := s.Get(ctx, again.ID)
		WantCode(t, "new session after second DeleteUser", err, portal.ENOTFOUND)
		MustGet(t, s, other.ID)
	})

	t.Run("IdleTimeout", func(t *testing.T) {
		s, clock := setup(t)
		ctx := t.Context()
		unused := MustCreate(t, s, 3)
		used := MustCreate(t, s, 3)
		// The margin keeps a backend on a real clock (Redis) clear of the
		// few milliseconds that pass while the test runs.
		step := idle - idle/10
		for range 3 { // 3 steps are well past Idle: only the sliding refresh keeps it
			clock.Advance(step)
			MustGet(t, s, used.ID)
		}
		_, err := s.Get(ctx, unused.ID)
		WantCode(t, "session untouched for longer than Idle", err, portal.ENOTFOUND)
		clock.Advance(idle)
		_, err = s.Get(ctx, used.ID)
		WantCode(t, "session untouched for Idle", err, portal.ENOTFOUND)
		_, err = s.Get(ctx, used.ID)
		WantCode(t, "expired session, asked again", err, portal.ENOTFOUND)
	})

	t.Run("AbsoluteTimeout", func(t *testing.T) {
		s, clock := setup(t)
		ctx := t.Context()
		sess := MustCreate(t, s, 4)
		for clock.Now().Add(idle / 2).Before(sess.ExpiresAt) {
			clock.Advance(idle / 2)
			got := MustGet(t, s, sess.ID)
			if !got.ExpiresAt.Equal(sess.ExpiresAt) {
				t.Fatalf("ExpiresAt moved from %v to %v: the absolute lifetime must not slide", sess.ExpiresAt, got.ExpiresAt)
			}
		}
		clock.Advance(idle / 2)
		if !clock.Now().Equal(sess.CreatedAt.Add(absolute)) {
			t.Fatalf("test bug: clock at %v, want CreatedAt+Absolute", clock.Now())
		}
		_, err := s.Get(ctx, sess.ID)
		WantCode(t, "session at its absolute end, though in use", err, portal.ENOTFOUND)
		_, err = s.Get(ctx, sess.ID)
		WantCode(t, "session past its absolute end, asked again", err, portal.ENOTFOUND)
	})

	t.Run("Ping", func(t *testing.T) {
		s, _ := setup(t)
		if err := s.Ping(t.Context()); err != nil {
			t.Errorf("Ping: %v", err)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		s, _ := setup(t)
		ctx := t.Context()
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for range 20 {
					sess, err := s.Create(ctx, int64(g))
					if err != nil {
						t.Errorf("Create: %v", err)
						return
					}
					got, err := s.Get(ctx, sess.ID)
					if err != nil {
						t.Errorf("Get: %v", err)
						return
					}
					if got.UserID != int64(g) {
						t.Errorf("Get returned user %d, want %d", got.UserID, g)
					}
					if err := s.Delete(ctx, sess.ID); err != nil {
						t.Errorf("Delete: %v", err)
					}
				}
			})
		}
		wg.Wait()
	})
}

// TestCounter runs the Counter conformance cases against counters from newCounter.
func TestCounter(t *testing.T, newCounter NewCounter) {
	setup := func(t *testing.T) (session.Counter, *Clock) {
		t.Helper()
		t.Parallel()
		clock := NewClock(start())
		c := newCounter(t, clock, session.Options{Idle: idle, Absolute: absolute, Now: clock.Now})
		return c, clock
	}

	t.Run("Absent", func(t *testing.T) {
		c, _ := setup(t)
		WantCount(t, c, "nobody", 0)
	})

	t.Run("FixedWindow", func(t *testing.T) {
		c, clock := setup(t)
		for want := int64(1); want <= 3; want++ {
			mustIncr(t, c, "acct:1", want)
		}
		WantCount(t, c, "acct:1", 3)
		clock.Advance(window / 2)
		mustIncr(t, c, "acct:1", 4) // must not extend the window
		clock.Advance(window / 2)
		WantCount(t, c, "acct:1", 0)
		mustIncr(t, c, "acct:1", 1) // a new window starts
		clock.Advance(window - window/10)
		WantCount(t, c, "acct:1", 1)
	})

	t.Run("KeysAndReset", func(t *testing.T) {
		c, _ := setup(t)
		ctx := t.Context()
		mustIncr(t, c, "acct:1", 1)
		mustIncr(t, c, "acct:1", 2)
		mustIncr(t, c, "ip:10.0.0.1", 1)
		if err := c.Reset(ctx, "acct:1"); err != nil {
			t.Fatalf("Reset: %v", err)
		}
		WantCount(t, c, "acct:1", 0)
		WantCount(t, c, "ip:10.0.0.1", 1)
		mustIncr(t, c, "acct:1", 1)
		if err := c.Reset(ctx, "never-counted"); err != nil {
			t.Errorf("Reset of an absent key: %v", err)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		c, _ := setup(t)
		// 8 goroutines race for 5 increments and then for 200: every
		// increment is counted once, and exactly one caller sees each value
		// (so exactly one sees the fifth failure and locks the account).
		for _, n := range []int{5, 200} {
			jobs := make(chan struct{}, n)
			for range n {
				jobs <- struct{}{}
			}
			close(jobs)
			var (
				wg  sync.WaitGroup
				mu  sync.Mutex
				got []int64
			)
			key := fmt.Sprintf("race:%d", n)
			for range 8 {
				wg.Go(func() {
					for range jobs {
						v, err := c.Incr(t.Context(), key, window)
						if err != nil {
							t.Errorf("Incr: %v", err)
							return
						}
						mu.Lock()
						got = append(got, v)
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			slices.Sort(got)
			want := make([]int64, n)
			for i := range want {
				want[i] = int64(i + 1)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("values returned by %d concurrent Incr (-want +got):\n%s", n, diff)
			}
			WantCount(t, c, key, int64(n))
		}
	})
}

// MustCreate creates a session for userID or fails the test.
func MustCreate(tb testing.TB, s session.Store, userID int64) *session.Session {
	tb.Helper()
	sess, err := s.Create(tb.Context(), userID)
	if err != nil {
		tb.Fatalf("Create(%d): %v", userID, err)
	}
	return sess
}

// MustGet gets the session with id or fails the test.
func MustGet(tb testing.TB, s session.Store, id string) *session.Session {
	tb.Helper()
	sess, err := s.Get(tb.Context(), id)
	if err != nil {
		tb.Fatalf("Get: %v", err)
	}
	if sess.ID != id {
		tb.Fatalf("Get returned a session with another id")
	}
	return sess
}

// mustIncr increments key (window: 15 min) and fails the test unless the count becomes want.
func mustIncr(tb testing.TB, c session.Counter, key string, want int64) {
	tb.Helper()
	got, err := c.Incr(tb.Context(), key, window)
	if err != nil {
		tb.Fatalf("Incr(%q): %v", key, err)
	}
	if got != want {
		tb.Fatalf("Incr(%q) = %d, want %d", key, got, want)
	}
}

// WantCount fails the test unless the count at key is want.
func WantCount(tb testing.TB, c session.Counter, key string, want int64) {
	tb.Helper()
	got, err := c.Get(tb.Context(), key)
	if err != nil {
		tb.Fatalf("Get(%q): %v", key, err)
	}
	if got != want {
		tb.Errorf("Get(%q) = %d, want %d", key, got, want)
	}
}

// WantCode fails the test unless err is a *portal.Error with code; what names
// the case in the message.
func WantCode(tb testing.TB, what string, err error, code string) {
	tb.Helper()
	if got := portal.ErrorCode(err); got != code {
		tb.Errorf("%s: error code %q (%v), want %q", what, got, err, code)
	} else if portal.AsError(err) == nil {
		tb.Errorf("%s: %v is not a *portal.Error", what, err)
	}
}
