package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"fmt"
	"strings"

	"github.com/pressly/goose/v3"

	"tzportal/migrations"
)

// countiesVersion is the migration that loads China's county-level
// divisions (统计用区划代码, 2023 edition), the origins of hukou transfers.
// It is a Go migration so the 2,978 rows exist once, in
// migrations/counties.csv, for both dialects. Reference data an admin may
// correct (divisions are reorganised), so it lives in the database. The
// Yangtze River Delta is derived from it: the cities of the provinces a
// workflow names.
const countiesVersion = 5

var countyColumns = []string{"code", "name", "city_code", "city_name", "province_code", "province_name"}

// The table is the same in both dialects.
const countiesTable = `CREATE TABLE counties (
    code          text PRIMARY KEY CHECK (length(code) = 6),
    name          text NOT NULL,
    city_code     text NOT NULL CHECK (length(city_code) = 6),
    city_name     text NOT NULL,
    province_code text NOT NULL CHECK (length(province_code) = 6),
    province_name text NOT NULL
)`

func countiesMigration() *goose.Migration {
	return goose.NewGoMigration(countiesVersion,
		&goose.GoFunc{RunTx: loadCounties},
		&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `DROP TABLE counties`)
			return err
		}})
}

func loadCounties(ctx context.Context, tx *sql.Tx) error {
	rows, err := csv.NewReader(bytes.NewReader(migrations.Counties)).ReadAll()
	if err != nil {
		return fmt.Errorf("counties.csv: %w", err)
	}
	if len(rows) < 2 || strings.Join(rows[0], ",") != strings.Join(countyColumns, ",") {
		return fmt.Errorf("counties.csv: the header is not %v", countyColumns)
	}
	for _, stmt := range []string{countiesTable, `CREATE INDEX counties_city ON counties (city_code)`} {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	const batch = 500 // 3,000 parameters a statement: under both databases' limits
	rows = rows[1:]
	for len(rows) > 0 {
		n := min(batch, len(rows))
		var b strings.Builder
		b.WriteString("INSERT INTO counties (" + strings.Join(countyColumns, ", ") + ") VALUES ")
		args := make([]any, 0, n*len(countyColumns))
		for i, r := range rows[:n] {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(")
			for j, v := range r {
				if j > 0 {
					b.WriteString(", ")
				}
				args = append(args, v)
				fmt.Fprintf(&b, "$%d", len(args))
			}
			b.WriteString(")")
		}
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("counties: %w", err)
		}
		rows = rows[n:]
	}
	return nil
}
