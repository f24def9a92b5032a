// Package sqlstore implements portal.Store on database/sql, for SQLite
// (modernc.org/sqlite, pure Go, the embedded default) and PostgreSQL (pgx v5).
// The dialect differences live in dialect.go.
package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"tzportal/migrations"
	"tzportal/portal"
)

// Options tune the connection pools.
type Options struct {
	MaxOpenConns int           // PostgreSQL pool size; SQLite readers
	AcquireWait  time.Duration // how long a transaction may wait for a connection
	// RoundTrips, when set, counts every statement, BEGIN, COMMIT and
	// ROLLBACK sent to the database (the load tool reports it per request).
	RoundTrips *atomic.Int64
	// PgBouncer: the URL is a PgBouncer in transaction mode, where a
	// server connection serves another client between transactions. No
	// named prepared statements (pgx describes each statement once and
	// caches the description, executing it unnamed), and no startup
	// parameter PgBouncer refuses: the statement timeout must be the
	// role's or the database's setting (CheckMigrated checks it).
	PgBouncer bool
}

// DB is a portal.Store. On SQLite it keeps two pools: one connection that
// writes (SQLite has one writer; queueing in Go beats spinning on
// SQLITE_BUSY) and several read-only ones. On PostgreSQL both are one pool.
type DB struct {
	q
	write   *sql.DB
	read    *sql.DB
	dialect dialect
	opts    Options
}

var _ portal.Store = (*DB)(nil)

// Open connects to the database named by url: "" or "sqlite:PATH" or a
// "postgres://" URL. It does not migrate; call Migrate.
func Open(ctx context.Context, dsn string, o Options) (*DB, error) {
	if o.MaxOpenConns == 0 {
		// Twice the cores, for both databases. SQLite: these are the
		// readers; each maps up to mmap_size of the file, so more of them
		// cost memory and buy nothing. PostgreSQL: every write transaction
		// ends on the audit head's row lock, so more connections only queue
		// on it (the load tool measured 16 → 4 on 2 cores: transitions
		// +30 %, reads unchanged). PORTAL_DB_POOL overrides it.
		o.MaxOpenConns = max(4, 2*runtime.GOMAXPROCS(0))
	}
	if o.AcquireWait == 0 {
		o.AcquireWait = 3 * time.Second
	}
	db := &DB{opts: o}
	switch {
	case strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://"):
		db.dialect = postgres{}
		pool, err := sql.Open("pgx", withPostgresDefaults(dsn, o.PgBouncer))
		if err != nil {
			return nil, fmt.Errorf("sqlstore.Open: %w", err)
		}
		pool.SetMaxOpenConns(o.MaxOpenConns)
		pool.SetMaxIdleConns(o.MaxOpenConns)
		pool.SetConnMaxIdleTime(5 * time.Minute)
		db.write, db.read = pool, pool
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		if path == "" {
			return nil, fmt.Errorf("sqlstore.Open: sqlite: needs a file path, e.g. sqlite:./data/portal.db")
		}
		if dir := filepath.Dir(path); dir != "." {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("sqlstore.Open: %w", err)
			}
		}
		db.dialect = sqliteDialect{}
		w, err := sql.Open("sqlite", sqliteDSN(path, false))
		if err != nil {
			return nil, fmt.Errorf("sqlstore.Open: %w", err)
		}
		w.SetMaxOpenConns(1)
		w.SetConnMaxIdleTime(0)
		r, err := sql.Open("sqlite", sqliteDSN(path, true))
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("sqlstore.Open: %w", err)
		}
		r.SetMaxOpenConns(o.MaxOpenConns)
		r.SetMaxIdleConns(o.MaxOpenConns)
		db.write, db.read = w, r
	default:
		return nil, fmt.Errorf("sqlstore.Open: unsupported database URL (want sqlite:PATH or postgres://…)")
	}
	var reader querier = db.read
	if db.dialect.name() == "sqlite" {
		reader = &stmtCache{db: db.read, m: map[string]*sql.Stmt{}}
	}
	db.q = q{ex: db.counted(reader), d: db.dialect}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := db.Ping(pctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// sqliteDSN puts every pragma in the DSN: a pragma run with Exec reaches one
// pooled connection only. synchronous=FULL because users are told "saved".
func sqliteDSN(path string, readOnly bool) string {
	v := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "foreign_keys(1)", "busy_timeout(10000)", "synchronous(FULL)", "mmap_size(268435456)"} {
		v.Add("_pragma", p)
	}
	if readOnly {
		v.Add("_pragma", "query_only(1)")
	} else {
		v.Set("_txlock", "immediate") // take the write lock at BEGIN, not at the first write
		// A cohort's batch (five hundred cases, their indexes, history and
		// audit) dirties more pages than the default 2 MiB: SQLite spilled
		// them to the log mid-statement and read again pages it had just
		// dropped. The readers keep the default (16 MiB each gained a draw
		// nothing).
		v.Add("_pragma", "cache_size(-65536)")
	}
	return "file:" + path + "?" + v.Encode()
}

// withPostgresDefaults bounds every statement, so a slow database gives an
// error instead of a pile of stuck requests. A URL that sets its own
// statement_timeout keeps it. Through PgBouncer the timeout is the role's
// (PgBouncer refuses it as a startup parameter) and statements are not
// prepared by name.
func withPostgresDefaults(dsn string, pgbouncer bool) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn
	}
	q := u.Query()
	if pgbouncer {
		if q.Get("default_query_exec_mode") == "" {
			q.Set("default_query_exec_mode", "cache_describe")
		}
	} else if q.Get("statement_timeout") == "" {
		q.Set("statement_timeout", "5000")
	}
	if q.Get("connect_timeout") == "" {
		q.Set("connect_timeout", "3") // seconds: a server that does not answer is down
	}
	if q.Get("application_name") == "" {
		q.Set("application_name", "tzportal")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// Installation returns the installation's random id.
func (q q) Installation(ctx context.Context) (string, error) {
	var key string
	err := q.ex.QueryRowContext(ctx, `SELECT key FROM installation WHERE id = 1`).Scan(&key)
	return key, dbError("sqlstore.Installation", err)
}

// Dialect returns "sqlite" or "postgres".
func (db *DB) Dialect() string { return db.dialect.name() }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.read.PingContext(ctx); err != nil {
		return portal.Unavailable("database", fmt.Errorf("sqlstore.Ping: %w", err))
	}
	if db.write != db.read {
		if err := db.write.PingContext(ctx); err != nil {
			return portal.Unavailable("database", fmt.Errorf("sqlstore.Ping: %w", err))
		}
	}
	return nil
}

// Close closes the pools.
func (db *DB) Close() error {
	err := db.write.Close()
	if db.read != db.write {
		err = errors.Join(err, db.read.Close())
	}
	return err
}

// SQL returns the write pool, for tools (fsck, tests) that need raw access.
func (db *DB) SQL() *sql.DB { return db.write }

// Migrate applies every pending migration of the dialect and returns how many ran.
func (db *DB) Migrate(ctx context.Context) (int, error) {
	sub, err := fs.Sub(migrations.FS, db.dialect.name())
	if err != nil {
		return 0, fmt.Errorf("sqlstore.Migrate: %w", err)
	}
	opts := []goose.ProviderOption{goose.WithGoMigrations(countiesMigration())}
	if db.dialect.name() == "postgres" {
		// Several nodes starting at once must not migrate twice.
		// The advisory lock is per database, not per schema; retry every
		// second (not goose's 5 s) for up to five minutes.
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
		if err != nil {
			return 0, fmt.Errorf("sqlstore.Migrate: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(db.dialect.gooseDialect(), db.write, sub, opts...)
	if err != nil {
		return 0, fmt.Errorf("sqlstore.Migrate: %w", err)
	}
	res, err := p.Up(ctx)
	if err != nil {
		return len(res), fmt.Errorf("sqlstore.Migrate: %w", err)
	}
	return len(res), nil
}

// CheckMigrated fails unless every migration has been applied, and,
// through PgBouncer, unless statements have a timeout: nodes that reach
// PostgreSQL through PgBouncer do not migrate (a migration holds a
// session's advisory lock), and cannot set the timeout themselves.
func (db *DB) CheckMigrated(ctx context.Context) error {
	sub, err := fs.Sub(migrations.FS, db.dialect.name())
	if err != nil {
		return fmt.Errorf("sqlstore.CheckMigrated: %w", err)
	}
	p, err := goose.NewProvider(db.dialect.gooseDialect(), db.write, sub, goose.WithGoMigrations(countiesMigration()))
	if err != nil {
		return fmt.Errorf("sqlstore.CheckMigrated: %w", err)
	}
	current, target, err := p.GetVersions(ctx)
	if err != nil {
		return dbError("sqlstore.CheckMigrated", err)
	}
	if current < target {
		return fmt.Errorf("the database is at migration %d, this portal needs %d: run \"portal migrate\" with DATABASE_URL "+
			"pointing at PostgreSQL itself (not at PgBouncer), then start the nodes", current, target)
	}
	if db.opts.PgBouncer {
		var timeout string
		if err := db.write.QueryRowContext(ctx, `SHOW statement_timeout`).Scan(&timeout); err != nil {
			return dbError("sqlstore.CheckMigrated", err)
		}
		if timeout == "0" {
			return errors.New("PORTAL_PGBOUNCER=on: statements have no timeout. PgBouncer cannot pass one at connect; " +
				"set it for the portal's role once: ALTER ROLE portal SET statement_timeout = '5s'")
		}
	}
	return nil
}

// Tx runs fn in one transaction. On PostgreSQL it retries serialization
// failures and deadlocks, on SQLite a busy database, at most 5 times.
func (db *DB) Tx(ctx context.Context, fn func(portal.Tx) error) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		err = db.tx(ctx, fn)
		if err == nil || !retryable(err) || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 5 * time.Millisecond)
	}
	return err
}

func (db *DB) tx(ctx context.Context, fn func(portal.Tx) error) (err error) {
	// database/sql ends a transaction when the context given to BeginTx ends,
	// so the acquire timeout cancels that context only if BeginTx has not
	// returned in time; otherwise it lives until the transaction is over.
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	timer := time.AfterFunc(db.opts.AcquireWait, cancel)
	sqltx, err := db.write.BeginTx(tctx, nil)
	if !timer.Stop() {
		if err == nil {
			sqltx.Rollback()
		}
		return portal.Unavailable("database", fmt.Errorf("sqlstore.Tx: no connection within %s", db.opts.AcquireWait))
	}
	if err != nil {
		return dbError("sqlstore.Tx", err)
	}
	defer func() {
		if p := recover(); p != nil {
			sqltx.Rollback()
			panic(p)
		}
		if err != nil {
			sqltx.Rollback()
		}
	}()
	db.count(1) // BEGIN
	t := &Tx{q: q{ex: db.counted(sqltx), d: db.dialect}}
	if err = fn(t); err == nil {
		err = t.FlushAppends(ctx)
	}
	if err == nil {
		err = t.flushStats(ctx)
	}
	if err != nil {
		db.count(1) // ROLLBACK, in the deferred func
		return err
	}
	db.count(1)
	if err = sqltx.Commit(); err != nil {
		return dbError("sqlstore.Tx commit", err)
	}
	for _, f := range t.after {
		f()
	}
	return nil
}

// AfterCommit runs fn after the transaction commits.
func (t *Tx) AfterCommit(fn func()) { t.after = append(t.after, fn) }

func (db *DB) count(n int64) {
	if db.opts.RoundTrips != nil {
		db.opts.RoundTrips.Add(n)
	}
}

// counted wraps a querier so that each statement is counted, if counting.
func (db *DB) counted(ex querier) querier {
	if db.opts.RoundTrips == nil {
		return ex
	}
	return countingQuerier{ex, db.opts.RoundTrips}
}

type countingQuerier struct {
	querier
	n *atomic.Int64
}

func (c countingQuerier) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	c.n.Add(1)
	return c.querier.ExecContext(ctx, query, args...)
}

func (c countingQuerier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	c.n.Add(1)
	return c.querier.QueryContext(ctx, query, args...)
}

func (c countingQuerier) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	c.n.Add(1)
	return c.querier.QueryRowContext(ctx, query, args...)
}

// rerun marks an error after which the whole transaction should run again:
// it lost a race whose winner it will see the second time.
type rerun struct{ error }

func (r rerun) Unwrap() error { return r.error }

// retryable reports a transient conflict the transaction may be run again for.
func retryable(err error) bool {
	var r rerun
	if errors.As(err, &r) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "40001" || pe.Code == "40P01"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()&0xff == sqlite3.SQLITE_BUSY
	}
	return false
}

// dbError classifies a driver error: a database that cannot be reached or
// timed out is EUNAVAILABLE (503); anything else is internal.
func dbError(op string, err error) error {
	if err == nil {
		return nil
	}
	if pe := portal.AsError(err); pe != nil {
		return err
	}
	if retryable(err) {
		return err // Tx retries it; it stays internal if retries run out
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "57014", pe.Code == "55P03": // statement timeout, lock timeout
			return portal.Unavailable("database", fmt.Errorf("%s: %w", op, err))
		case strings.HasPrefix(pe.Code, "08"), strings.HasPrefix(pe.Code, "57P"): // connection, shutdown
			return portal.Unavailable("database", fmt.Errorf("%s: %w", op, err))
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return fmt.Errorf("%s: %w", op, err)
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, sql.ErrConnDone) || errors.Is(err, driver.ErrBadConn) || isNetError(err) ||
		err.Error() == "sql: database is closed" { // unexported in database/sql; seen while shutting down
		return portal.Unavailable("database", fmt.Errorf("%s: %w", op, err))
	}
	return fmt.Errorf("%s: %w", op, err)
}

// stmtCache prepares each query text once per pool (database/sql then
// prepares it once per connection): modernc's driver otherwise parses
// every statement on every call.
type stmtCache struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

func (c *stmtCache) stmt(ctx context.Context, query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.m[query]; ok {
		return s
	}
	if len(c.m) >= 512 {
		return nil
	}
	s, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	c.m[query] = s
	return s
}

func (c *stmtCache) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s := c.stmt(ctx, query); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return c.db.ExecContext(ctx, query, args...)
}

func (c *stmtCache) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := c.stmt(ctx, query); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return c.db.QueryContext(ctx, query, args...)
}

func (c *stmtCache) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s := c.stmt(ctx, query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return c.db.QueryRowContext(ctx, query, args...)
}
