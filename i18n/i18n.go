// Package i18n embeds the message catalogs: <area>.<lang>.yaml, one language
// per file, zh-CN the default and en the second.
package i18n

import "embed"

// FS holds every catalog.
//
//go:embed *.yaml
var FS embed.FS
