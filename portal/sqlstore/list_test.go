package sqlstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"tzportal/portal"
	"tzportal/portal/sqlstore"
)

// TestListOrder: a list reads in its order on both databases — by class,
// then entries with a prior rank by it before those without, then by when
// they joined, then by case; a case's
// place is counted in the same order; an entry put again replaces the
// case's; a dropped one is gone; another list is not read.
func TestListOrder(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		app := MustApplicant(t, db, "张三", 1)
		at := time.Date(2026, 11, 28, 9, 30, 0, 0, shanghai)
		r := rand.New(rand.NewPCG(1, 2))
		var want []portal.ListEntry
		for i := range 60 {
			c := MustCase(t, db, newCase(fmt.Sprintf("TZRP20261128%06d", i+1), app.ID, "321202001", "321202", "waiting", at))
			e := portal.ListEntry{List: "svc/321202/a", CaseID: c.ID, CaseNo: c.No, ApplicantID: app.ID, ClassRank: r.IntN(3),
				JoinedAt: at.Add(time.Duration(r.IntN(5)) * time.Hour), Label: "张*"}
			e.Class = fmt.Sprintf("class%d", e.ClassRank)
			if r.IntN(3) == 0 {
				e.PriorRank = 1 + r.IntN(10)
			}
			want = append(want, e)
		}
		other := MustCase(t, db, newCase("TZRP20261128900000", app.ID, "321202001", "321202", "waiting", at))
		MustTx(t, db, func(tx portal.Tx) error {
			return tx.PutListEntries(ctx, append(slices.Clone(want), portal.ListEntry{List: "svc/321202/b", CaseID: other.ID,
				CaseNo: other.No, ApplicantID: app.ID, Class: "class0", JoinedAt: at}))
		})
		prior := func(e portal.ListEntry) int {
			if e.PriorRank == 0 {
				return 1 << 40
			}
			return e.PriorRank
		}
		slices.SortFunc(want, func(a, b portal.ListEntry) int {
			if a.ClassRank != b.ClassRank {
				return a.ClassRank - b.ClassRank
			}
			if prior(a) != prior(b) {
				return prior(a) - prior(b)
			}
			if c := a.JoinedAt.Compare(b.JoinedAt); c != 0 {
				return c
			}
			return int(a.CaseID - b.CaseID)
		})
		ids := func(es []portal.ListEntry) []int64 {
			var out []int64
			for _, e := range es {
				out = append(out, e.CaseID)
			}
			return out
		}
		got, err := db.ListMembers(ctx, "svc/321202/a")
		if err != nil {
			t.Fatal(err)
		}
		var gotIDs []int64
		for _, m := range got {
			gotIDs = append(gotIDs, m.CaseID)
		}
		if !slices.Equal(gotIDs, ids(want)) {
			t.Fatalf("order:\n got %v\nwant %v", gotIDs, ids(want))
		}
		if g, w := got[3], want[3]; g.Class != w.Class || g.Label != "张*" || g.CaseNo != w.CaseNo || g.ApplicantID != app.ID {
			t.Errorf("member read back: %+v, want %+v", g, w)
		}
		if e, _, _, err := db.ListPlace(ctx, want[3].CaseID); err != nil || e.PriorRank != want[3].PriorRank ||
			!e.JoinedAt.Equal(want[3].JoinedAt) || e.ClassRank != want[3].ClassRank {
			t.Errorf("entry read back: %+v, want %+v (%v)", e, want[3], err)
		}
		for _, i := range []int{0, 17, 59} {
			e, place, of, err := db.ListPlace(ctx, want[i].CaseID)
			if err != nil || place != i+1 || of != 60 || e.List != "svc/321202/a" {
				t.Errorf("place of #%d: %v %d of %d, %v", i, e, place, of, err)
			}
		}
		// Put again (a new class), then dropped.
		moved := want[59]
		moved.ClassRank, moved.Class, moved.PriorRank = -1, "first", 0
		MustTx(t, db, func(tx portal.Tx) error { return tx.PutListEntries(ctx, []portal.ListEntry{moved}) })
		if _, place, of, err := db.ListPlace(ctx, moved.CaseID); err != nil || place != 1 || of != 60 {
			t.Errorf("after its class changed: %d of %d, %v", place, of, err)
		}
		MustTx(t, db, func(tx portal.Tx) error { return tx.DropListEntry(ctx, moved.CaseID) })
		if _, _, _, err := db.ListPlace(ctx, moved.CaseID); portal.ErrorCode(err) != portal.ENOTFOUND {
			t.Errorf("dropped: %v", err)
		}
		if ms, _ := db.ListMembers(ctx, "svc/321202/a"); len(ms) != 59 {
			t.Errorf("after the drop: %d members", len(ms))
		}
		// A case in the state without an entry is found to be listed.
		MustTx(t, db, func(tx portal.Tx) error {
			un, err := tx.UnlistedCases(ctx, "residence-permit", "waiting", 0, 10)
			if err != nil || len(un) != 1 || un[0].ID != moved.CaseID {
				t.Errorf("unlisted: %v, %v", un, err)
			}
			return nil
		})
		// Entries of cases in a listed state stay; those of cases that
		// left it go.
		MustTx(t, db, func(tx portal.Tx) error {
			if n, err := tx.DropStaleListEntries(ctx, "residence-permit", []string{"waiting"}); n != 0 || err != nil {
				t.Errorf("stale entries while every case waits: %d %v", n, err)
			}
			if n, err := tx.DropStaleListEntries(ctx, "residence-permit", []string{"approved"}); n != 60 || err != nil {
				t.Errorf("stale entries of cases not approved: %d %v", n, err)
			}
			return nil
		})
	})
}
