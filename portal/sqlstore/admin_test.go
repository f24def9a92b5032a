package sqlstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"tzportal/portal"
	"tzportal/portal/sqlstore"
)

// TestDivisionChangesOfOneDivision: a division's page reads its own
// history, however many changes other divisions had since.
func TestDivisionChangesOfOneDivision(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		at := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
		add := func(code, old, new string) {
			MustTx(t, db, func(tx portal.Tx) error {
				return tx.InsertDivisionChange(ctx, &portal.DivisionChange{At: at, Actor: "cli:root", Code: code, Change: "rename", Old: old, New: new})
			})
		}
		add("321202001", "城东街道", "城东新区街道")
		for i := range 5 {
			add("321202002", fmt.Sprintf("名%d", i), fmt.Sprintf("名%d", i+1))
		}
		own, err := db.DivisionChanges(ctx, "321202001", 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(own) != 1 || own[0].Code != "321202001" || own[0].New != "城东新区街道" {
			t.Errorf("321202001's history with a limit of 3 under 5 newer changes of another division: %+v", own)
		}
		all, err := db.DivisionChanges(ctx, "", 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 3 || all[0].New != "名5" {
			t.Errorf("the newest 3 changes of all: %+v", all)
		}
	})
}
