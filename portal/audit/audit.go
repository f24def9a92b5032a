// Package audit keeps the audit trail: every login, transition, denied access
// and unmasked view of personal data is an entry in a keyed hash chain. Each
// entry's hash is an HMAC over its fields and the previous entry's hash, so
// changing, inserting or deleting any row breaks the chain from that row on,
// and nobody without the portal's secret can forge a consistent chain.
package audit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"tzportal/portal"
)

// Results recorded in entries.
const (
	ResultOK     = "ok"
	ResultDenied = "denied"
	ResultFailed = "failed"
)

// Log appends to and verifies the chain.
type Log struct {
	key []byte
	now func() time.Time
}

// New returns a Log sealing entries with key (32 bytes derived from the
// portal secret) and stamping them with now.
func New(key []byte, now func() time.Time) *Log {
	return &Log{key: key, now: now}
}

// Entry returns an entry for actor doing action on object with result; the
// role and division are the actor's (the first grant for staff).
func Entry(actor portal.Actor, action, object, result string) portal.AuditEntry {
	e := portal.AuditEntry{Actor: actor.ID(), Action: action, Object: object, Result: result, IP: actor.IP}
	if u := actor.User; u != nil {
		switch {
		case u.Kind == portal.KindApplicant:
			e.Role = portal.RoleApplicant
		case len(u.Grants) > 0:
			e.Role, e.Division = u.Grants[0].Role, u.Grants[0].Division
		default:
			e.Role = string(u.Kind)
		}
	}
	return e
}

// WithDetail returns e with detail marshalled as its JSON detail.
func WithDetail(e portal.AuditEntry, detail any) portal.AuditEntry {
	if b, err := json.Marshal(detail); err == nil {
		e.Detail = b
	}
	return e
}

// Append chains e after the head inside tx. The head stays locked until tx
// ends, so call Append as late in the transaction as possible.
func (l *Log) Append(ctx context.Context, tx portal.Tx, e portal.AuditEntry) error {
	seq, prev, err := tx.LockAuditHead(ctx)
	if err != nil {
		return err
	}
	e.Seq = seq + 1
	if e.At.IsZero() {
		e.At = l.now()
	}
	e.At = e.At.UTC().Truncate(time.Microsecond) // the precision both databases keep
	if len(e.Detail) == 0 {
		e.Detail = json.RawMessage("{}")
	}
	e.PrevHash = prev
	e.Hash = l.seal(e)
	return tx.AppendAudit(ctx, &e)
}

// Record appends e in a transaction of its own: for events with nothing else
// to write (a login, a denied access), or that must be kept although the
// request's own transaction rolled back.
func (l *Log) Record(ctx context.Context, s portal.Store, e portal.AuditEntry) error {
	return s.Tx(ctx, func(tx portal.Tx) error { return l.Append(ctx, tx, e) })
}

// seal computes the entry's hash: HMAC-SHA256 over a length-prefixed encoding
// of every field but Hash (length prefixes make the encoding unambiguous).
func (l *Log) seal(e portal.AuditEntry) string {
	m := hmac.New(sha256.New, l.key)
	buf := make([]byte, 0, 512)
	for _, f := range []string{
		strconv.FormatInt(e.Seq, 10), e.At.UTC().Format(time.RFC3339Nano), e.Actor, e.Role, e.Division,
		e.Action, e.Object, e.Result, e.IP, string(e.Detail), e.PrevHash,
	} {
		buf = strconv.AppendInt(buf, int64(len(f)), 10) // "<len>:<field>;"
		buf = append(buf, ':')
		buf = append(buf, f...)
		buf = append(buf, ';')
	}
	m.Write(buf)
	return hex.EncodeToString(m.Sum(nil))
}

// Broken describes the first entry where the chain does not hold.
type Broken struct {
	Seq    int64
	Reason string
}

func (b *Broken) Error() string {
	return fmt.Sprintf("audit chain broken at entry %d: %s", b.Seq, b.Reason)
}

// Verify walks the whole chain and returns how many entries it checked and
// nil, or a *Broken naming the first entry that was changed, inserted or
// deleted (a gap in the sequence, a hash that does not match, a link to the
// wrong predecessor, or a head that does not match the last entry).
func (l *Log) Verify(ctx context.Context, r portal.Reader) (int64, error) {
	var n, last int64
	prev := ""
	for {
		batch, err := r.AuditAfter(ctx, last, 1000)
		if err != nil {
			return n, err
		}
		for _, e := range batch {
			switch {
			case e.Seq != last+1:
				return n, &Broken{Seq: last + 1, Reason: fmt.Sprintf("entry missing (next is %d)", e.Seq)}
			case e.PrevHash != prev:
				return n, &Broken{Seq: e.Seq, Reason: "does not link to the previous entry"}
			case !hmac.Equal([]byte(l.seal(e)), []byte(e.Hash)):
				return n, &Broken{Seq: e.Seq, Reason: "content does not match its hash (changed)"}
			}
			prev, last = e.Hash, e.Seq
			n++
		}
		if len(batch) < 1000 {
			break
		}
	}
	headSeq, headHash, err := r.AuditHead(ctx)
	if err != nil {
		return n, err
	}
	if headSeq != last || headHash != prev {
		return n, &Broken{Seq: min(headSeq, last) + 1,
			Reason: fmt.Sprintf("the chain head names entry %d but the last entry is %d (entries deleted from the end, or the head moved back)", headSeq, last)}
	}
	return n, nil
}

// ActionVerify is the entry a verification of the chain leaves.
const ActionVerify = "audit.verify"

// Check verifies the chain, records the result (audit_checks, which the
// audit view shows with the time it ran) and leaves an entry saying who
// checked and what they found. A broken chain is a result, not an error;
// the error is for a verification that could not run or be recorded.
func (l *Log) Check(ctx context.Context, s portal.Store, actor portal.Actor) (*portal.AuditCheck, error) {
	n, err := l.Verify(ctx, s)
	c, err := l.Result(actor, n, err)
	if err != nil {
		return nil, err
	}
	return c, l.Save(ctx, s, actor, c)
}

// Result turns what Verify returned into a check by actor: a broken chain
// is a result; any other error stays one.
func (l *Log) Result(actor portal.Actor, n int64, err error) (*portal.AuditCheck, error) {
	c := &portal.AuditCheck{At: l.now().UTC().Truncate(time.Microsecond), Actor: actor.ID(), Intact: err == nil, Entries: n}
	var broken *Broken
	switch {
	case errors.As(err, &broken):
		c.BrokenSeq, c.Reason = broken.Seq, broken.Reason
	case err != nil:
		return nil, err
	}
	return c, nil
}

// Save records a check and, when the chain was intact, its audit entry
// (audit.verify) in one transaction. A broken chain gets no entry: the
// check may have run with another key (a wrong PORTAL_SECRET on the
// command line), and an entry sealed with it would break the chain for real.
func (l *Log) Save(ctx context.Context, s portal.Store, actor portal.Actor, c *portal.AuditCheck) error {
	return s.Tx(ctx, func(tx portal.Tx) error {
		if err := tx.InsertAuditCheck(ctx, c); err != nil {
			return err
		}
		if !c.Intact {
			return nil
		}
		ent := WithDetail(Entry(actor, ActionVerify, "audit", ResultOK), map[string]any{"entries": c.Entries})
		return l.Append(ctx, tx, ent)
	})
}
