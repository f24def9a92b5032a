package sqlstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"tzportal/portal"
	"tzportal/portal/sqlstore"
)

// TestCohortRecordKept: a cohort's record reads back byte for byte on both
// databases, a large one too (on SQLite it is stored compressed: far fewer
// bytes than written), and a record stored as plain JSON before records
// were compressed still reads as it was.
func TestCohortRecordKept(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		var people []map[string]string
		for i := range 5000 {
			people = append(people, map[string]string{"case_no": fmt.Sprintf("TZHS20261128%06d", i+1), "label": "张*", "class": "a"})
		}
		big, _ := json.Marshal(map[string]any{"participants": people})
		if len(big) < 200<<10 {
			t.Fatalf("the record is only %d bytes", len(big))
		}
		for i, data := range [][]byte{[]byte(`{"small":true}`), big} {
			c := &portal.Cohort{Kind: "draw", Service: "housing-security", District: "321202", Scope: fmt.Sprint("s", i),
				Commitment: "c", Seed: "", Actor: "user:1", CreatedAt: time.Now().UTC(), Total: 1, Data: data}
			MustTx(t, db, func(tx portal.Tx) error { return tx.InsertCohort(ctx, c) })
			got, err := db.CohortByID(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Data, data) {
				t.Errorf("record %d of %d bytes reads back as %d bytes", i, len(data), len(got.Data))
			}
			if db.Dialect() == "sqlite" && i == 1 {
				var stored int
				if err := db.SQL().QueryRowContext(ctx, `SELECT length(CAST(data AS BLOB)) FROM cohorts WHERE id = $1`, c.ID).Scan(&stored); err != nil {
					t.Fatal(err)
				}
				if stored > len(data)/3 {
					t.Errorf("SQLite keeps the large record in %d bytes of %d", stored, len(data))
				}
			}
		}
		// A record from before compression: plain JSON, read as it is.
		if _, err := db.SQL().ExecContext(ctx, `UPDATE cohorts SET data = $1 WHERE scope = 's1'`, string(big)); err != nil {
			t.Fatal(err)
		}
		c, err := db.CohortOf(ctx, "draw", "housing-security", "321202", "s1")
		if err != nil || !bytes.Equal(c.Data, big) {
			t.Errorf("a plain JSON record: %v, %d bytes of %d", err, len(c.Data), len(big))
		}
	})
}
