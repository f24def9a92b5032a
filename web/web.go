// Package web embeds the HTML templates and static files (one stylesheet, no
// framework, nothing from a CDN).
package web

import "embed"

// FS holds templates/ and static/.
//
//go:embed templates static
var FS embed.FS
