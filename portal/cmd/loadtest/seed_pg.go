package main

import (
	"context"
	"fmt"
	"iter"
	"sync"

	"github.com/jackc/pgx/v5"
)

// seedPostgres writes the world with COPY: users and grants, then cases and
// their history on two connections at once, then the open cases' claims and
// the pools' materials with their bytes. Foreign keys are not checked
// row by row (session_replication_role = replica: the rows are consistent
// by construction); counters and identity sequences are moved past the
// seeded rows, and the tables analyzed.
func seedPostgres(ctx context.Context, dbURL string, w *world) error {
	conns := make([]*pgx.Conn, 2)
	for i := range conns {
		c, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			return err
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(ctx, "SET session_replication_role = replica"); err != nil {
			return fmt.Errorf("seed: %w (the load tool needs a superuser to skip foreign-key triggers while seeding)", err)
		}
		conns[i] = c
	}
	var users, grants [][]any
	if err := w.users(func(u userRow) error {
		var login, mobile, index any
		var cipher any
		if u.Login != "" {
			login = u.Login
			grants = append(grants, []any{u.ID, "street_clerk", u.Login[len("hist."):]})
		}
		if u.Mobile != "" {
			mobile, index, cipher = u.Mobile, u.IDIndex, u.IDCipher
		}
		users = append(users, []any{u.ID, u.Kind, u.Name, login, mobile, index, cipher, u.Hash, u.Created})
		return nil
	}); err != nil {
		return err
	}
	if _, err := conns[0].CopyFrom(ctx, pgx.Identifier{"users"}, []string{"id", "kind", "name", "login", "mobile", "id_index",
		"id_cipher", "password_hash", "created_at"}, pgx.CopyFromRows(users)); err != nil {
		return fmt.Errorf("seed users: %w", err)
	}
	if _, err := conns[0].CopyFrom(ctx, pgx.Identifier{"grants"}, []string{"user_id", "role", "division"}, pgx.CopyFromRows(grants)); err != nil {
		return fmt.Errorf("seed grants: %w", err)
	}

	// Cases and history: one generator, two COPY streams.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	caseCh, histCh := make(chan [][]any, 8), make(chan [][]any, 8)
	var genErr error
	go func() {
		defer close(caseCh)
		defer close(histCh)
		const batch = 2000
		var cb, hb [][]any
		send := func(ch chan [][]any, b [][]any) error {
			select {
			case ch <- b:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		genErr = w.cases(func(c *caseRow) error {
			var due any
			if c.Due != nil {
				due = *c.Due
			}
			cb = append(cb, []any{c.ID, c.No, c.Service, c.ItemCode, c.State, int32(c.Version), c.Applicant, c.Division, c.District,
				c.Form, c.Result, c.StateSince, due, c.Created, c.Update, c.InQueue})
			if len(cb) == batch {
				if err := send(caseCh, cb); err != nil {
					return err
				}
				cb = nil
			}
			return nil
		}, func(h *histRow) error {
			var actor any
			if h.Actor != 0 {
				actor = h.Actor
			}
			hb = append(hb, []any{h.CaseID, int32(h.Seq), h.Event, h.From, h.To, actor, h.Role, h.Inputs, h.At})
			if len(hb) == batch {
				if err := send(histCh, hb); err != nil {
					return err
				}
				hb = nil
			}
			return nil
		})
		if genErr == nil && len(cb) > 0 {
			genErr = send(caseCh, cb)
		}
		if genErr == nil && len(hb) > 0 {
			genErr = send(histCh, hb)
		}
	}()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	copyFrom := func(i int, table string, cols []string, ch chan [][]any) {
		defer wg.Done()
		_, err := conns[i].CopyFrom(ctx, pgx.Identifier{table}, cols, &chanSource{ch: ch})
		if err != nil {
			errs[i] = fmt.Errorf("seed %s: %w", table, err)
			cancel()
			for range ch { // let the generator finish
			}
		}
	}
	wg.Add(2)
	go copyFrom(0, "cases", []string{"id", "case_no", "service", "item_code", "state", "version", "applicant_id", "division",
		"district", "form", "result", "state_since", "due_at", "created_at", "updated_at", "in_queue"}, caseCh)
	go copyFrom(1, "case_history", []string{"case_id", "seq", "event", "from_state", "to_state", "actor_id", "actor_role",
		"inputs", "at"}, histCh)
	wg.Wait()
	for _, err := range append(errs, genErr) {
		if err != nil {
			return err
		}
	}

	c := conns[0]
	if _, err := c.Exec(ctx, claimsSQL); err != nil {
		return fmt.Errorf("seed claims: %w", err)
	}
	if _, err := c.Exec(ctx, cohortClaimsSQL(true)); err != nil {
		return fmt.Errorf("seed the cohort's claims: %w", err)
	}
	if _, err := c.Exec(ctx, drawClaimsSQL()); err != nil {
		return fmt.Errorf("seed the draw's claims: %w", err)
	}
	// The pools' files: rows, then their bytes (storage db).
	for _, t := range []struct {
		table string
		cols  []string
		row   func(m materialRow) []any
	}{
		{"materials", []string{"id", "case_id", "item", "filename", "content_type", "size", "sha256", "storage", "uploaded_by", "uploaded_at"},
			func(m materialRow) []any {
				return []any{m.ID, m.CaseID, m.Item, m.Filename, "image/png", int64(len(seedPNG)), seedPNGSum, "db", m.UploadedBy, m.At}
			}},
		{"material_blobs", []string{"id", "data"}, func(m materialRow) []any { return []any{m.ID, seedPNG} }},
	} {
		next, stop := iter.Pull(w.materials())
		_, err := c.CopyFrom(ctx, pgx.Identifier{t.table}, t.cols, pgx.CopyFromFunc(func() ([]any, error) {
			if m, ok := next(); ok {
				return t.row(m), nil
			}
			return nil, nil
		}))
		stop()
		if err != nil {
			return fmt.Errorf("seed %s: %w", t.table, err)
		}
	}
	for _, row := range w.counters() {
		if _, err := c.Exec(ctx, `INSERT INTO counters (name, period, value) VALUES ($1, $2, $3)
			ON CONFLICT (name, period) DO UPDATE SET value = GREATEST(counters.value, EXCLUDED.value)`, row[0], row[1], row[2]); err != nil {
			return fmt.Errorf("seed counters: %w", err)
		}
	}
	for _, t := range []string{"users", "cases"} {
		if _, err := c.Exec(ctx, fmt.Sprintf(`SELECT setval(pg_get_serial_sequence('%s', 'id'), (SELECT max(id) FROM %s))`, t, t)); err != nil {
			return fmt.Errorf("seed: identity of %s: %w", t, err)
		}
	}
	// A database with a million cases has told their applicants of them:
	// one receipt per case handed in, read, with its SMS sent (kind
	// seed.receipt: the checks count the notices the run writes). Without
	// them the tables are analyzed empty and every plan that reads them is
	// a scan for the first minute of growth, which no portal in use sees.
	if _, err := c.Exec(ctx, `INSERT INTO notifications (user_id, case_id, kind, title, body, created_at, read_at)
		SELECT applicant_id, id, 'seed.receipt', 'receipt', 'receipt', created_at, created_at FROM cases WHERE state <> 'draft'`); err != nil {
		return fmt.Errorf("seed notifications: %w", err)
	}
	if _, err := c.Exec(ctx, `INSERT INTO deliveries (notification_id, channel, recipient, body, status, attempts, next_at, sent_at)
		SELECT id, 'sms', '13800000000', 'receipt', 'sent', 1, created_at, created_at FROM notifications`); err != nil {
		return fmt.Errorf("seed deliveries: %w", err)
	}
	if _, err := c.Exec(ctx, "ANALYZE"); err != nil {
		return fmt.Errorf("seed: analyze: %w", err)
	}
	return nil
}

// chanSource is a pgx.CopyFromSource fed batch by batch through a channel.
type chanSource struct {
	ch    chan [][]any
	batch [][]any
	i     int
}

func (s *chanSource) Next() bool {
	s.i++
	for s.i >= len(s.batch) {
		b, ok := <-s.ch
		if !ok {
			return false
		}
		s.batch, s.i = b, 0
	}
	return true
}

func (s *chanSource) Values() ([]any, error) { return s.batch[s.i], nil }
func (s *chanSource) Err() error             { return nil }
