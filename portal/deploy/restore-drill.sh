#!/usr/bin/env bash
# Restore drill: restores a dump into a fresh, scratch database and checks
# every invariant of it with the portal itself, then drops it. Run it after
# each backup (or at least monthly) on a machine that is not production:
#   DRILL_SERVER=postgres://postgres@drill.internal:5432 PORTAL_SECRET=... restore-drill.sh portal-20261130T020000.dump
# PORTAL_SECRET must be the installation's: without it the audit chain
# cannot be verified (and ID numbers cannot be read). PORTAL_BIN is the
# portal binary (default: portal on the PATH). Exit status 0: the dump
# restores, `portal fsck` finds every invariant intact and
# `portal audit verify` finds the audit chain whole.
set -euo pipefail
dump=${1:?usage: restore-drill.sh DUMP_FILE}
: "${DRILL_SERVER:?set DRILL_SERVER to a PostgreSQL server, e.g. postgres://postgres@127.0.0.1:5432}"
: "${PORTAL_SECRET:?set PORTAL_SECRET to the secret of the installation}"
portal=${PORTAL_BIN:-portal}
params=${DRILL_PARAMS:-sslmode=prefer}
db="tzportal_drill_$(date -u +%Y%m%d%H%M%S)_$$"
psql -q -v ON_ERROR_STOP=1 "$DRILL_SERVER/postgres?$params" -c "CREATE DATABASE $db"
trap 'psql -q "$DRILL_SERVER/postgres?$params" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"' EXIT
start=$(date +%s)
pg_restore --no-owner --exit-on-error --jobs=2 --dbname="$DRILL_SERVER/$db?$params" "$dump"
echo "restored $dump into $db in $(( $(date +%s) - start )) s"
export DATABASE_URL="$DRILL_SERVER/$db?$params"
"$portal" fsck
"$portal" audit verify
echo "restore drill passed: $dump"
