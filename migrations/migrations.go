// Package migrations embeds the goose migrations of both dialects, so the
// portal binary carries them. Both folders keep the same version numbers.
package migrations

import "embed"

// FS holds sqlite/*.sql and postgres/*.sql.
//
//go:embed sqlite/*.sql postgres/*.sql
var FS embed.FS
