// Package workflows embeds the workflow definitions (one YAML file per
// citizen service) and the working-day calendar.
package workflows

import "embed"

// FS holds every *.yaml of this folder.
//
//go:embed *.yaml
var FS embed.FS
