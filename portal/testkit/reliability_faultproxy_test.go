package testkit

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// echoServer answers every line with the same line, until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// exchange writes a line on c and reads the answer, within d.
func exchange(c net.Conn, line string, d time.Duration) (string, error) {
	c.SetDeadline(time.Now().Add(d))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	s, err := bufio.NewReader(c).ReadString('\n')
	if len(s) > 0 {
		s = s[:len(s)-1]
	}
	return s, err
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestFaultProxyModes(t *testing.T) {
	p := NewFaultProxy(t, echoServer(t))
	a := dial(t, p.Addr())
	if got, err := exchange(a, "one", time.Second); got != "one" || err != nil {
		t.Fatalf("pass: %q %v", got, err)
	}

	// Hang: an open connection and a new one get no answer, but stay open.
	p.Hang()
	b := dial(t, p.Addr())
	for name, c := range map[string]net.Conn{"open": a, "new": b} {
		if _, err := exchange(c, "held-"+name, 200*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("hang, %s connection: %v, want a timeout", name, err)
		}
	}
	// Pass again: what was held arrives.
	p.Pass()
	for name, c := range map[string]net.Conn{"open": a, "new": b} {
		c.SetDeadline(time.Now().Add(time.Second))
		if got, err := bufio.NewReader(c).ReadString('\n'); got != "held-"+name+"\n" || err != nil {
			t.Errorf("after the hang, %s connection: %q %v", name, got, err)
		}
	}

	// Refuse: open connections are reset, new ones too; Pass heals new ones.
	p.Refuse()
	if _, err := exchange(a, "x", time.Second); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("refuse, open connection: %v, want it closed", err)
	}
	// A new connection is reset at once: connect itself may already fail.
	if nc, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		_, err = exchange(nc, "x", time.Second)
		nc.Close()
		if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("refuse, new connection: %v, want it closed", err)
		}
	}
	if p.Open() != 0 {
		t.Errorf("refuse left %d connections open", p.Open())
	}
	p.Pass()
	c := dial(t, p.Addr())
	if got, err := exchange(c, "two", time.Second); got != "two" || err != nil {
		t.Fatalf("pass after refuse: %q %v", got, err)
	}

	// DropResponsesAfter: the first answer passes, the second is dropped
	// with its connection, then all passes again.
	p.DropResponsesAfter(1, 1)
	if got, err := exchange(c, "three", time.Second); got != "three" || err != nil {
		t.Errorf("skipped response: %q %v", got, err)
	}
	if _, err := exchange(c, "four", time.Second); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("dropped response: %v, want the connection closed", err)
	}
	if p.Dropped() != 1 {
		t.Errorf("dropped: %d", p.Dropped())
	}
	if got, err := exchange(dial(t, p.Addr()), "five", time.Second); got != "five" || err != nil {
		t.Errorf("after the drop: %q %v", got, err)
	}
	if peak := p.Peak(); peak < 2 {
		t.Errorf("peak connections: %d", peak)
	}
	if err := p.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if _, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		t.Error("the closed proxy still accepts")
	}
}

func TestViaProxy(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://postgres@127.0.0.1:5432/test?sslmode=disable&search_path=t_1": "postgres://postgres@127.0.0.1:7777/test?sslmode=disable&search_path=t_1",
		"redis://127.0.0.1:6379/15": "redis://127.0.0.1:7777/15",
		"http://127.0.0.1:40000":    "http://127.0.0.1:7777",
	} {
		if got := ViaProxy(in, "127.0.0.1:7777"); got != want {
			t.Errorf("ViaProxy(%s) = %s", in, got)
		}
	}
	if got := HostPort("redis://localhost/0"); got != "localhost:6379" {
		t.Errorf("HostPort without a port: %s", got)
	}
}
