package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"tzportal/portal/testkit"
)

// redisProc is a redis-server or redis-sentinel the test started.
type redisProc struct {
	cmd    *exec.Cmd
	addr   string
	exited chan struct{}
}

func startRedisProc(t *testing.T, bin string, args ...string) *redisProc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	out, err := os.Create(filepath.Join(t.TempDir(), "out.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &redisProc{cmd: cmd, exited: make(chan struct{})}
	go func() { cmd.Wait(); out.Close(); close(p.exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-p.exited })
	return p
}

// TestRedisSentinelFailover starts a Redis primary, a replica and three
// sentinels (Debian's redis-server and redis-sentinel) on loopback ports,
// and a portal whose REDIS_URL names the sentinels. Under login traffic
// the primary is killed: while the sentinels fail over, the portal answers
// 503 with Retry-After (never a 500, never a login without a session),
// and afterwards it logs people in again by itself, on the promoted
// replica.
func TestRedisSentinelFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the failover test runs five Redis processes")
	}
	server := needTool(t, "redis-server")
	sentinelBin := needTool(t, "redis-sentinel")
	bin := buildPortal(t)

	primaryAddr, replicaAddr := freeAddr(t), freeAddr(t)
	port := func(addr string) string { return addr[strings.LastIndex(addr, ":")+1:] }
	base := []string{"--bind", "127.0.0.1", "--save", "", "--appendonly", "no"}
	primary := startRedisProc(t, server, append([]string{"--port", port(primaryAddr), "--dir", t.TempDir()}, base...)...)
	startRedisProc(t, server, append([]string{"--port", port(replicaAddr), "--dir", t.TempDir(), "--replicaof", "127.0.0.1", port(primaryAddr)}, base...)...)
	var sentinels []string
	for range 3 {
		addr := freeAddr(t)
		dir := t.TempDir()
		conf := fmt.Sprintf("port %s\nbind 127.0.0.1\ndir %s\nsentinel monitor tzportal 127.0.0.1 %s 2\n"+
			"sentinel down-after-milliseconds tzportal 1000\nsentinel failover-timeout tzportal 5000\nsentinel parallel-syncs tzportal 1\n",
			port(addr), dir, port(primaryAddr))
		path := filepath.Join(dir, "sentinel.conf") // sentinels rewrite their file
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		startRedisProc(t, sentinelBin, path)
		sentinels = append(sentinels, addr)
	}
	// The replica has synced and every sentinel knows both.
	waitFor(t, 30*time.Second, "the replica to sync and the sentinels to see it", func() bool {
		info, err := redis.NewClient(&redis.Options{Addr: replicaAddr}).Info(context.Background(), "replication").Result()
		if err != nil || !strings.Contains(info, "master_link_status:up") {
			return false
		}
		for _, s := range sentinels {
			sc := redis.NewSentinelClient(&redis.Options{Addr: s})
			replicas, err := sc.Replicas(context.Background(), "tzportal").Result()
			sc.Close()
			if err != nil || len(replicas) == 0 {
				return false
			}
		}
		return true
	})

	url := fmt.Sprintf("redis+sentinel://%s/0?master_name=tzportal&addr=%s&addr=%s", sentinels[0], sentinels[1], sentinels[2])
	node := startPortal(t, bin, env{"DATABASE_URL": testkit.SQLite(t), "REDIS_URL": url, "PORTAL_SECRET": testkit.NewSecret(),
		"PORTAL_COOKIE_SECURE": "off"})
	if st, m, err := newAPIClient(node.url).do("POST", "/api/v1/accounts", map[string]string{"name": "申请人",
		"id_number": testkit.IDNumber("32120219930303001"), "mobile": "13900007001", "password": testkit.Password}); st != http.StatusCreated {
		t.Fatalf("register: %d %v %v", st, m, err)
	}

	// login logs in from a loopback address of its own (the per-address
	// login limit counts each), and checks the session it was given.
	n := 0
	login := func() (int, string) {
		n++
		c := newAPIClient(node.url).from(fmt.Sprintf("127.0.%d.%d", 1+n/250, 1+n%250))
		req, _ := http.NewRequest("POST", c.base+"/api/v1/session",
			strings.NewReader(`{"login":"13900007001","password":"`+testkit.Password+`"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.hc.Do(req)
		if err != nil {
			t.Fatalf("login: no answer: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			if st, _, _ := c.do("GET", "/api/v1/session", nil); st != http.StatusOK && st != http.StatusServiceUnavailable {
				t.Errorf("a login answered 200 gave a session that answers %d", st)
			}
		}
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	if st, _ := login(); st != http.StatusOK {
		t.Fatalf("login before the failover: %d", st)
	}

	primary.cmd.Process.Kill()
	<-primary.exited
	killed := time.Now()
	unavailable, recovered := 0, false
	for time.Since(killed) < 60*time.Second {
		st, retry := login()
		switch st {
		case http.StatusOK:
			recovered = unavailable > 0
		case http.StatusServiceUnavailable:
			unavailable++
			if retry == "" {
				t.Errorf("503 during the failover without Retry-After")
			}
		default:
			t.Errorf("during the failover a login answered %d: want 200 or 503", st)
		}
		if recovered {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if unavailable == 0 {
		t.Errorf("no login answered 503 while the primary was down")
	}
	if !recovered {
		t.Fatalf("the portal did not log people in again within 60 s of the primary's death\n%s", node.logTail())
	}
	t.Logf("failover: %d logins answered 503 with Retry-After, the first 200 again %.1f s after the kill", unavailable, time.Since(killed).Seconds())
	// Settled: logins keep working on the promoted replica.
	for range 5 {
		if st, _ := login(); st != http.StatusOK {
			t.Errorf("after the failover a login answered %d", st)
		}
	}
	if role, err := redis.NewClient(&redis.Options{Addr: replicaAddr}).Do(context.Background(), "ROLE").Slice(); err != nil || role[0] != "master" {
		t.Errorf("the replica was not promoted: %v %v", role, err)
	}
}

// waitFor polls ok every 100 ms until it holds or the time is up.
func waitFor(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", limit, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
