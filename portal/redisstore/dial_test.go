package redisstore

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestClientOptions(t *testing.T) {
	o, err := clientOptions("redis://:secret@127.0.0.1:6380/15?dial_timeout=10s&read_timeout=10s", DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if o.Addr != "127.0.0.1:6380" || o.DB != 15 || o.Password != "secret" {
		t.Errorf("parsed Addr %q DB %d Password %q, want 127.0.0.1:6380, 15, secret", o.Addr, o.DB, o.Password)
	}
	if !o.ContextTimeoutEnabled || o.DialTimeout != 500*time.Millisecond || o.ReadTimeout != 300*time.Millisecond ||
		o.WriteTimeout != 300*time.Millisecond || o.PoolTimeout != 500*time.Millisecond ||
		o.MaxRetries != 1 || o.DialerRetries != 1 {
		t.Errorf("timeouts not applied: ContextTimeoutEnabled %v Dial %v Read %v Write %v Pool %v MaxRetries %d DialerRetries %d",
			o.ContextTimeoutEnabled, o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout, o.MaxRetries, o.DialerRetries)
	}
	if want := 10 * runtime.GOMAXPROCS(0); o.PoolSize != want {
		t.Errorf("default PoolSize %d, want %d", o.PoolSize, want)
	}
	o, err = clientOptions("redis://127.0.0.1:6379/0", DialOptions{PoolSize: 3})
	if err != nil || o.PoolSize != 3 {
		t.Errorf("PoolSize 3: got %v, %v", o, err)
	}
}

func TestClientOptionsBadURLHidesPassword(t *testing.T) {
	for _, u := range []string{
		"redis://:secret@127.0.0.1:port/15",
		"http://:secret@127.0.0.1:6379/15",
		"redis://:secret@127.0.0.1:6379/x",
	} {
		_, err := clientOptions(u, DialOptions{})
		if err == nil {
			t.Errorf("no error for a bad URL")
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("error repeats the password: %v", err)
		}
	}
}
