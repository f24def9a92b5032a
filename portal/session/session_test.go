package session_test

import (
	"encoding/base64"
	"testing"

	"tzportal/portal/session"
	"tzportal/portal/session/sessiontest"
)

func TestMemory(t *testing.T) {
	sessiontest.TestStore(t, func(t *testing.T, clock *sessiontest.Clock, o session.Options) session.Store {
		return session.NewMemory(o)
	})
}

func TestMemoryCounter(t *testing.T) {
	sessiontest.TestCounter(t, func(t *testing.T, clock *sessiontest.Clock, o session.Options) session.Counter {
		return session.NewMemory(o).Counter()
	})
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id, err := session.NewID()
		if err != nil {
			t.Fatal(err)
		}
		if len(id) != session.IDLen || len(id) < 43 {
			t.Fatalf("id has %d characters, want %d (at least 43)", len(id), session.IDLen)
		}
		b, err := base64.RawURLEncoding.DecodeString(id)
		if err != nil || len(b) != 32 {
			t.Fatalf("id does not decode to 32 bytes: %d bytes, %v", len(b), err)
		}
		if !session.ValidID(id) {
			t.Fatalf("ValidID rejects an id from NewID")
		}
		if seen[id] {
			t.Fatalf("NewID returned an id twice")
		}
		seen[id] = true
	}
}

func TestOptionsWithDefaults(t *testing.T) {
	o := session.Options{}.WithDefaults()
	if o.Idle != session.DefaultIdle || o.Absolute != session.DefaultAbsolute || o.Now == nil {
		t.Errorf("WithDefaults() = %+v, want Idle %v, Absolute %v and a clock", o, session.DefaultIdle, session.DefaultAbsolute)
	}
	o = session.Options{Idle: 5, Absolute: 7}.WithDefaults()
	if o.Idle != 5 || o.Absolute != 7 {
		t.Errorf("WithDefaults changed set timeouts: %+v", o)
	}
}
