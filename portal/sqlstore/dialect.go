package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect is every difference between SQLite and PostgreSQL the store knows.
// Both accept $1-style placeholders, RETURNING and ON CONFLICT.
type dialect interface {
	name() string
	gooseDialect() goose.Dialect
	// time encodes a time for a query parameter.
	time(t time.Time) any
	// forUpdate is appended to a SELECT that locks its row until commit.
	forUpdate() string
	// skipLocked is appended to a SELECT that claims rows for a worker:
	// rows another worker holds are skipped, not waited for.
	skipLocked() string
	// isUnique reports a unique-constraint violation.
	isUnique(err error) bool
	// param is the placeholder of the n-th argument in statements of many
	// rows: SQLite looks each $n up among the names before it (a
	// statement of 6,000 of them spent most of its time there), so there
	// it is a plain ?.
	param(n int) string
	// jsonText is the text of the top-level string key named by
	// parameter $param of the JSON column col (NULL when absent).
	jsonText(col string, param int) string
}

// sqliteTime is the fixed-width UTC text format times are stored in on SQLite:
// fixed width makes string order equal time order.
const sqliteTime = "2006-01-02T15:04:05.000000Z"

type sqliteDialect struct{}

func (sqliteDialect) name() string                { return "sqlite" }
func (sqliteDialect) gooseDialect() goose.Dialect { return goose.DialectSQLite3 }
func (sqliteDialect) time(t time.Time) any        { return t.UTC().Format(sqliteTime) }
func (sqliteDialect) forUpdate() string           { return "" } // the write transaction holds the database lock
func (sqliteDialect) skipLocked() string          { return "" } // one writer: nothing to skip
func (sqliteDialect) isUnique(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}

func (sqliteDialect) param(int) string { return "?" }

func (sqliteDialect) jsonText(col string, param int) string {
	return fmt.Sprintf("(%s ->> ('$.' || $%d))", col, param)
}

type postgres struct{}

func (postgres) param(n int) string { return dollar(n) }

// dollar is a numbered placeholder ($n), which SQLite reads too (slowly
// only in statements of thousands of them: see sqliteDialect.param).
func dollar(n int) string { return "$" + strconv.Itoa(n) }

func (postgres) jsonText(col string, param int) string {
	return fmt.Sprintf("(%s ->> $%d::text)", col, param)
}

func (postgres) name() string                { return "postgres" }
func (postgres) gooseDialect() goose.Dialect { return goose.DialectPostgres }
func (postgres) time(t time.Time) any        { return t.UTC() }
func (postgres) forUpdate() string           { return " FOR UPDATE" }
func (postgres) skipLocked() string          { return " FOR UPDATE SKIP LOCKED" }
func (postgres) isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// scanTime scans a time stored by either dialect.
type scanTime struct{ t *time.Time }

func (s scanTime) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		*s.t = v.UTC()
	case string:
		return s.parse(v)
	case []byte:
		return s.parse(string(v))
	default:
		return fmt.Errorf("scanTime: unexpected %T", src)
	}
	return nil
}

func (s scanTime) parse(v string) error {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return fmt.Errorf("scanTime: %w", err)
	}
	*s.t = t.UTC()
	return nil
}

// scanNullTime scans a nullable time into a *time.Time (nil for NULL).
type scanNullTime struct{ t **time.Time }

func (s scanNullTime) Scan(src any) error {
	if src == nil {
		*s.t = nil
		return nil
	}
	var t time.Time
	if err := (scanTime{&t}).Scan(src); err != nil {
		return err
	}
	*s.t = &t
	return nil
}

// nullTime encodes an optional time.
func nullTime(d dialect, t *time.Time) any {
	if t == nil {
		return nil
	}
	return d.time(*t)
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func isNetError(err error) bool {
	var ne net.Error
	var oe *net.OpError
	return errors.As(err, &ne) || errors.As(err, &oe)
}
