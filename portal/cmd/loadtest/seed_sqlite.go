package main

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// sqliteTime is the portal's time format on SQLite (sqlstore/dialect.go).
const sqliteTime = "2006-01-02T15:04:05.000000Z"

func sqlTime(t time.Time) string { return t.UTC().Format(sqliteTime) }

// inserter batches rows into multi-row INSERTs and commits every
// commitEvery rows, on the portal's write connection.
type inserter struct {
	ctx     context.Context
	db      *sql.DB
	tx      *sql.Tx
	pending int // rows in the open transaction
	tables  map[string]*batch
}

type batch struct {
	head string
	cols int
	rows int
	args []any
}

const (
	rowsPerInsert = 400
	commitEvery   = 100000
)

func newInserter(ctx context.Context, db *sql.DB) *inserter {
	return &inserter{ctx: ctx, db: db, tables: map[string]*batch{}}
}

func (in *inserter) add(table string, cols []string, vals ...any) error {
	b := in.tables[table]
	if b == nil {
		b = &batch{head: "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES ", cols: len(cols)}
		in.tables[table] = b
	}
	b.args = append(b.args, vals...)
	b.rows++
	if b.rows == rowsPerInsert {
		return in.flush(b)
	}
	return nil
}

func (in *inserter) flush(b *batch) error {
	if b.rows == 0 {
		return nil
	}
	if in.tx == nil {
		tx, err := in.db.BeginTx(in.ctx, nil)
		if err != nil {
			return err
		}
		in.tx = tx
	}
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", b.cols), ", ") + ")"
	q := b.head + strings.TrimSuffix(strings.Repeat(one+", ", b.rows), ", ")
	if _, err := in.tx.ExecContext(in.ctx, q, b.args...); err != nil {
		return fmt.Errorf("seed: %s: %w", b.head[:40], err)
	}
	in.pending += b.rows
	b.rows, b.args = 0, b.args[:0]
	if in.pending >= commitEvery {
		return in.commit()
	}
	return nil
}

func (in *inserter) commit() error {
	if in.tx == nil {
		return nil
	}
	err := in.tx.Commit()
	in.tx, in.pending = nil, 0
	return err
}

// done flushes every table in the order given and commits.
func (in *inserter) done(order ...string) error {
	for _, t := range order {
		if b := in.tables[t]; b != nil {
			if err := in.flush(b); err != nil {
				return err
			}
		}
	}
	return in.commit()
}

// seedSQLite writes the world with batched multi-row INSERTs in large
// transactions through the portal's write pool (p.DB.SQL()).
// The history rows of a case follow it; the pools' materials follow the
// cases, and the open cases' claims come last.
func seedSQLite(ctx context.Context, db *sql.DB, w *world) error {
	in := newInserter(ctx, db)
	userCols := []string{"id", "kind", "name", "login", "mobile", "id_index", "id_cipher", "password_hash", "created_at"}
	var grants [][2]any
	if err := w.users(func(u userRow) error {
		var login, mobile, index, cipher any
		if u.Login != "" {
			login = u.Login
			grants = append(grants, [2]any{u.ID, u.Login[len("hist."):]})
		}
		if u.Mobile != "" {
			mobile, index, cipher = u.Mobile, u.IDIndex, u.IDCipher
		}
		return in.add("users", userCols, u.ID, u.Kind, u.Name, login, mobile, index, cipher, u.Hash, sqlTime(u.Created))
	}); err != nil {
		return err
	}
	if err := in.done("users"); err != nil {
		return err
	}
	for _, g := range grants {
		if err := in.add("grants", []string{"user_id", "role", "division"}, g[0], "street_clerk", g[1]); err != nil {
			return err
		}
	}
	if err := in.done("grants"); err != nil {
		return err
	}
	caseCols := []string{"id", "case_no", "service", "item_code", "state", "version", "applicant_id", "division", "district",
		"form", "result", "state_since", "due_at", "created_at", "updated_at", "in_queue"}
	histCols := []string{"case_id", "seq", "event", "from_state", "to_state", "actor_id", "actor_role", "inputs", "at"}
	// A case's history rows reference it: the generator emits the history
	// first, so they are held until their case is queued.
	var held [][]any
	err := w.cases(func(c *caseRow) error {
		var due any
		if c.Due != nil {
			due = sqlTime(*c.Due)
		}
		if err := in.add("cases", caseCols, c.ID, c.No, c.Service, c.ItemCode, c.State, c.Version, c.Applicant, c.Division, c.District,
			c.Form, c.Result, sqlTime(c.StateSince), due, sqlTime(c.Created), sqlTime(c.Update), c.InQueue); err != nil {
			return err
		}
		if b := in.tables["cases"]; b.rows == 0 { // the cases were just written: their history may follow
			for _, h := range held {
				if err := in.add("case_history", histCols, h...); err != nil {
					return err
				}
			}
			held = held[:0]
		}
		return nil
	}, func(h *histRow) error {
		var actor any
		if h.Actor != 0 {
			actor = h.Actor
		}
		held = append(held, []any{h.CaseID, h.Seq, h.Event, h.From, h.To, actor, h.Role, h.Inputs, sqlTime(h.At)})
		return nil
	})
	if err != nil {
		return err
	}
	if err := in.flush(in.tables["cases"]); err != nil {
		return err
	}
	for _, h := range held {
		if err := in.add("case_history", histCols, h...); err != nil {
			return err
		}
	}
	if err := in.done("cases", "case_history"); err != nil {
		return err
	}
	// The pools' files: rows, then their bytes (storage db), after their
	// cases (foreign keys are on).
	matCols := []string{"id", "case_id", "item", "filename", "content_type", "size", "sha256", "storage", "uploaded_by", "uploaded_at"}
	for m := range w.materials() {
		if err := in.add("materials", matCols, m.ID, m.CaseID, m.Item, m.Filename, "image/png", len(seedPNG), seedPNGSum, "db",
			m.UploadedBy, sqlTime(m.At)); err != nil {
			return err
		}
	}
	if err := in.done("materials"); err != nil {
		return err
	}
	for m := range w.materials() {
		if err := in.add("material_blobs", []string{"id", "data"}, m.ID, seedPNG); err != nil {
			return err
		}
	}
	if err := in.done("material_blobs"); err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, claimsSQL); err != nil {
		return fmt.Errorf("seed claims: %w", err)
	}
	if _, err := db.ExecContext(ctx, cohortClaimsSQL(false)); err != nil {
		return fmt.Errorf("seed the cohort's claims: %w", err)
	}
	if _, err := db.ExecContext(ctx, drawClaimsSQL()); err != nil {
		return fmt.Errorf("seed the draw's claims: %w", err)
	}
	for _, row := range w.counters() {
		if _, err := db.ExecContext(ctx, `INSERT INTO counters (name, period, value) VALUES ($1, $2, $3)
			ON CONFLICT (name, period) DO UPDATE SET value = max(counters.value, excluded.value)`, row[0], row[1], row[2]); err != nil {
			return fmt.Errorf("seed counters: %w", err)
		}
	}
	// No ANALYZE: the portal never runs it on SQLite, so a database that
	// grew in production has no sqlite_stat tables either. (With them,
	// modernc's SQLite, built with STAT4, re-prepares every statement whose
	// WHERE binds an indexed column, at every execution.)
	return nil
}
