// Package migrations embeds the goose migrations of both dialects, so the
// portal binary carries them. Both folders keep the same version numbers;
// version 5 is a Go migration of portal/sqlstore that loads counties.csv.
package migrations

import "embed"

// FS holds sqlite/*.sql and postgres/*.sql.
//
//go:embed sqlite/*.sql postgres/*.sql
var FS embed.FS

// Counties is China's county-level divisions (统计用区划代码, 2023 edition;
// a copy of shared/data/china-counties.csv), which migration 5 of both
// dialects loads: the rows exist once, not once per dialect.
//
//go:embed counties.csv
var Counties []byte
