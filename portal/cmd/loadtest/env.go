package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"tzportal/portal"
	"tzportal/portal/account"
	"tzportal/portal/boot"
	"tzportal/portal/config"
)

const (
	defaultPostgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	defaultRedis    = "redis://127.0.0.1:6379/15"
)

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// env holds what the run created, to remove it at the end.
type env struct {
	o         *options
	base      string // DATABASE_URL
	redisURL  string // "" → in-process sessions
	suffix    string
	cleanups  []func()
	databases []string
}

func newEnv(o *options) *env {
	e := &env{o: o, suffix: o.suffix}
	if e.suffix == "" {
		e.suffix = randomHex(4)
	}
	e.base = os.Getenv("DATABASE_URL")
	if e.base == "" || !strings.HasPrefix(e.base, "postgres") {
		e.base = defaultPostgres
	}
	if v, ok := os.LookupEnv("REDIS_URL"); ok {
		e.redisURL = v
	} else {
		e.redisURL = defaultRedis
	}
	return e
}

func (e *env) defer_(f func()) { e.cleanups = append(e.cleanups, f) }

// cleanup runs the cleanups, last first.
func (e *env) cleanup() {
	for i := len(e.cleanups) - 1; i >= 0; i-- {
		e.cleanups[i]()
	}
}

// createDatabase creates a fresh database on the server of DATABASE_URL and
// returns its URL; it is dropped at the end unless -keep.
func (e *env) createDatabase(ctx context.Context, name string) (string, error) {
	admin, err := pgx.Connect(ctx, e.base)
	if err != nil {
		return "", fmt.Errorf("PostgreSQL at DATABASE_URL does not answer (%v); start it with\n    pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	e.defer_(func() {
		if e.o.keep {
			fmt.Fprintf(e.o.out, "# kept database %s\n", name)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := pgx.Connect(ctx, e.base)
		if err != nil {
			fmt.Fprintf(os.Stderr, "loadtest: drop database %s: %v\n", name, err)
			return
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			fmt.Fprintf(os.Stderr, "loadtest: drop database %s: %v\n", name, err)
		}
	})
	u, err := url.Parse(e.base)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

// redisPrefix returns a fresh key prefix whose keys are deleted at the end
// (never FLUSHDB: the Redis is shared).
func (e *env) redisPrefix(ctx context.Context, name string) (string, error) {
	if e.redisURL == "" {
		return "", nil
	}
	prefix := "load:" + e.suffix + ":" + name + ":"
	opt, err := redis.ParseURL(e.redisURL)
	if err != nil {
		return "", fmt.Errorf("REDIS_URL: %w", err)
	}
	c := redis.NewClient(opt)
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return "", fmt.Errorf("Redis at REDIS_URL does not answer (%v); start it with\n    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save \"\" --appendonly no", err)
	}
	e.defer_(func() {
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		for len(keys) > 0 {
			n := min(len(keys), 500)
			c.Del(ctx, keys[:n]...)
			keys = keys[n:]
		}
	})
	return prefix, nil
}

// instance is a portal running in this process.
type instance struct {
	*boot.Portal
	URL       string
	DBTrips   atomic.Int64
	RedisTrip atomic.Int64
	dbURL     string
}

// startPortal opens a portal through boot.Open, as the binary does, with
// round-trip counters, serving on 127.0.0.1:0.
func (e *env) startPortal(ctx context.Context, dbURL, prefix string) (*instance, error) {
	secret := make([]byte, 32)
	rand.Read(secret)
	// The portal's data directory: a temporary one, removed at the end, so
	// that nothing is ever written under the working directory.
	data, err := os.MkdirTemp("", "tzload-data-")
	if err != nil {
		return nil, err
	}
	e.defer_(func() { os.RemoveAll(data) })
	vars := map[string]string{
		"DATABASE_URL":         dbURL,
		"REDIS_URL":            e.redisURL,
		"PORTAL_SECRET":        base64.StdEncoding.EncodeToString(secret),
		"PORTAL_STAFF_MFA":     "off",
		"PORTAL_COOKIE_SECURE": "off",
		"PORTAL_ADDR":          "127.0.0.1:0",
		"PORTAL_DATA_DIR":      data,
		// Materials' bytes in the database (material_blobs), as the seeded
		// ones are and as several nodes keep them: the submit scenario's
		// uploads insert them in their transaction, and the pgbench script
		// does the same.
		"PORTAL_FILES": "db",
	}
	cfg, err := config.FromEnv(func(k string) string { return vars[k] }, config.Needs{Secret: true})
	if err != nil {
		return nil, err
	}
	in := &instance{dbURL: dbURL}
	p, err := boot.Open(ctx, cfg, boot.Options{Logger: portalLogger(), Migrate: true, RedisPrefix: prefix,
		DBRoundTrips: &in.DBTrips, RedisRoundTrips: &in.RedisTrip, MaxOpenConns: e.o.pool})
	if err != nil {
		return nil, err
	}
	in.Portal = p
	if err := openRedisPool(ctx, p.Redis); err != nil {
		p.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		p.Close()
		return nil, err
	}
	go p.Server.Serve(ln)
	in.URL = "http://" + ln.Addr().String()
	e.defer_(func() {
		p.Server.Shutdown(5 * time.Second)
		p.Close()
	})
	return in, nil
}

// openRedisPool opens every connection of the portal's Redis pool before
// anything is measured, as a portal that has been serving for a while has
// them. go-redis dials a connection when a command finds none idle, and the
// handshake of a new connection (HELLO, then SELECT and CLIENT SETINFO in
// pipelines) goes through the client's hooks: the round-trip counter counted
// it as 3 round trips of the request that needed the connection, so a phase
// that first reached a new peak of concurrent session lookups reported 1.01
// Redis round trips per page read. (The database's counter counts
// statements only, never a connection's set-up.)
func openRedisPool(ctx context.Context, c *redis.Client) error {
	if c == nil {
		return nil // in-process sessions
	}
	conns := make([]*redis.Conn, c.Options().PoolSize)
	defer func() {
		for _, cn := range conns {
			if cn != nil {
				cn.Close() // back to the pool, open
			}
		}
	}()
	for i := range conns {
		conns[i] = c.Conn()
		if err := conns[i].Ping(ctx).Err(); err != nil {
			return fmt.Errorf("redis: open the pool: %w", err)
		}
	}
	return nil
}

// addClerks adds one street clerk per division through the account
// service (the one-time-code app deferred; MFA is off in this portal).
// supervisorLogin is the city's supervisor, who reads the dashboards.
const supervisorLogin = "lsupervisor"

// addSupervisor adds the city's supervisor.
func addSupervisor(ctx context.Context, p *instance) error {
	divs, err := p.DB.Divisions(ctx)
	if err != nil {
		return err
	}
	root := portal.NewDivisions(divs).Root
	if _, _, err := p.Accounts.AddStaff(ctx, portal.Actor{System: "loadtest"}, account.Staff{Login: supervisorLogin, Password: password,
		Name: "负载测试 督查", Role: "supervisor", Division: root, DeferTOTP: true}); err != nil {
		return fmt.Errorf("add supervisor: %w", err)
	}
	return nil
}

func addClerks(ctx context.Context, p *instance, prefix string, divisions []string) ([]string, error) {
	var logins []string
	for _, d := range divisions {
		login := prefix + d
		if _, _, err := p.Accounts.AddStaff(ctx, portal.Actor{System: "loadtest"}, account.Staff{Login: login, Password: password,
			Name: "负载测试 " + d, Role: "street_clerk", Division: d, DeferTOTP: true}); err != nil {
			return nil, fmt.Errorf("add clerk %s: %w", login, err)
		}
		logins = append(logins, login)
	}
	return logins, nil
}

// portalLogger formats every record as the binary does (JSON), so the
// portal pays for its access log, but writes only warnings and errors.
func portalLogger() *slog.Logger {
	return slog.New(teeHandler{
		all:  slog.NewJSONHandler(io.Discard, nil),
		warn: slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}),
	})
}

type teeHandler struct{ all, warn slog.Handler }

func (t teeHandler) Enabled(ctx context.Context, l slog.Level) bool { return t.all.Enabled(ctx, l) }
func (t teeHandler) Handle(ctx context.Context, r slog.Record) error {
	if t.warn.Enabled(ctx, r.Level) {
		t.warn.Handle(ctx, r.Clone())
	}
	return t.all.Handle(ctx, r)
}
func (t teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return teeHandler{t.all.WithAttrs(as), t.warn.WithAttrs(as)}
}
func (t teeHandler) WithGroup(name string) slog.Handler {
	return teeHandler{t.all.WithGroup(name), t.warn.WithGroup(name)}
}
