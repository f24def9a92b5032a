#!/usr/bin/env bash
# Nightly logical backup of the portal's database (cron or a systemd timer):
#   DATABASE_URL=postgres://portal_backup@db.internal:5432/portal BACKUP_DIR=/srv/backup/tzportal backup.sh
# Writes portal-YYYYmmddTHHMMSS.dump (pg_dump's custom format, compressed),
# keeps the last KEEP_DAYS days (default 35). A dump is consistent: pg_dump
# reads one snapshot. Point-in-time recovery (WAL archiving, e.g. pgBackRest)
# is the second line of defence; see the README's Operations section.
set -euo pipefail
: "${DATABASE_URL:?set DATABASE_URL to the database to back up}"
: "${BACKUP_DIR:?set BACKUP_DIR to where dumps are kept}"
keep=${KEEP_DAYS:-35}
mkdir -p "$BACKUP_DIR"
out="$BACKUP_DIR/portal-$(date -u +%Y%m%dT%H%M%S).dump"
pg_dump --format=custom --compress=6 --no-owner --file="$out.partial" "$DATABASE_URL"
mv "$out.partial" "$out"
find "$BACKUP_DIR" -name 'portal-*.dump' -mtime +"$keep" -delete
echo "$out"
