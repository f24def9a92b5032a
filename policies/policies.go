// Package policies embeds the casbin model and the permissions that are not
// workflow events, and the account and role settings.
package policies

import "embed"

// FS holds model.conf, policy.csv, roles.yaml, accounts.yaml,
// deadlines.yaml, sampling.yaml, ratings.yaml and stats.yaml.
//
//go:embed model.conf policy.csv roles.yaml accounts.yaml deadlines.yaml sampling.yaml ratings.yaml stats.yaml
var FS embed.FS
