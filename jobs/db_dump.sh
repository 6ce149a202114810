#!/usr/bin/env bash
# db_dump.sh BASE_DIR CLIENT_ID KIND PORT DATABASE USER [KEEP] — dumps the client's database DATABASE from
# the server's SQL on 127.0.0.1:PORT as USER, password in $DB_PASSWORD (environment, never argv),
# KIND mariadb (mariadb-dump or mysqldump) or postgres (pg_dump), gzipped, to
# BASE_DIR/backups/cCLIENT_ID/<UTC time>.sql.gz (folder 0700, file 0600, written under a temporary
# name then renamed). With KEEP (1..1000), only the newest KEEP dumps of the folder are kept.
# Prints ::dump {"path":…,"bytes":…}.
# shellcheck source=jobs/lib.sh
if [[ -z ${ALFA_LIB_LOADED:-} ]]; then source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"; fi
set -euo pipefail

[[ $# -eq 6 || $# -eq 7 ]] || usage_error "usage: db_dump.sh BASE_DIR CLIENT_ID KIND PORT DATABASE USER [KEEP] (got $# arguments)"
BASE=$(valid_base_dir "$1")
CLIENT_ID=$2
KIND=$3
PORT=$4
DATABASE=$5
DB_USER=$6
KEEP=${7:-}
[[ -z $KEEP || ($KEEP =~ ^[1-9][0-9]{0,2}$ || $KEEP == 1000) ]] || usage_error "KEEP must be a number 1..1000 (got '$KEEP')"
[[ $CLIENT_ID =~ ^[A-Za-z0-9_-]{1,64}$ ]] || usage_error "CLIENT_ID must be [A-Za-z0-9_-], 1..64 (got '$CLIENT_ID')"
[[ $KIND == mariadb || $KIND == postgres ]] || usage_error "KIND must be mariadb or postgres (got '$KIND')"
valid_port "$PORT" PORT
[[ $DATABASE =~ ^[A-Za-z0-9_]{1,64}$ ]] || usage_error "DATABASE must be [A-Za-z0-9_], 1..64 (got '$DATABASE')"
[[ $DB_USER =~ ^[A-Za-z0-9_.-]{1,80}$ ]] || usage_error "USER must be [A-Za-z0-9_.-], 1..80 (got '$DB_USER')"
[[ -n ${DB_PASSWORD+set} ]] ||
  usage_error "the database password must be in the environment variable DB_PASSWORD (never an argument)"
PASSWORD=$DB_PASSWORD
unset DB_PASSWORD

DIR=$BASE/backups/c$CLIENT_ID

step dump
if [[ $KIND == mariadb ]]; then
  tool=$(resolve_cmd mariadb-dump || resolve_cmd mysqldump) ||
    die "neither mariadb-dump nor mysqldump is installed on this server: sudo apt-get install mariadb-client"
else
  tool=$(resolve_cmd pg_dump) || die "pg_dump is not installed on this server: sudo apt-get install postgresql-client"
fi
resolve_cmd gzip >/dev/null || die "gzip is not installed on this server: sudo apt-get install gzip"

umask 077
mkdir -p -- "$DIR" ||
  die "cannot create $DIR as $(id -un): $BASE/backups must be writable by $(id -un) (sudo install -d -o $(id -un) -g $(id -gn) -m 700 $BASE/backups)"
chmod 700 -- "$DIR"
# The dump goes to a file of its own, and takes its name only when done (a hard link fails
# on a name taken): two dumps into one folder at once (a lost worker's first attempt still
# running beside its retry) never write one file.
TMP=$(mktemp "$DIR/.dump.XXXXXX.part") ||
  die "cannot create a file in $DIR as $(id -un): $DIR must be writable by $(id -un)"
trap 'rm -f -- "$TMP"' EXIT

say "dumping $KIND database $DATABASE (127.0.0.1:$PORT, user $DB_USER) with ${tool##*/}"
if [[ $KIND == mariadb ]]; then
  MYSQL_PWD=$PASSWORD "$tool" --protocol=tcp -h 127.0.0.1 -P "$PORT" -u "$DB_USER" \
    --single-transaction --quick --routines --triggers --no-tablespaces --default-character-set=utf8mb4 \
    "$DATABASE" </dev/null | gzip -c >"$TMP" ||
    die "dumping $DATABASE failed (above): check the database, the user's rights and its password, then rerun"
else
  PGPASSWORD=$PASSWORD PGCONNECT_TIMEOUT=10 "$tool" -h 127.0.0.1 -p "$PORT" -U "$DB_USER" --no-password \
    --no-owner --no-privileges -d "$DATABASE" </dev/null | gzip -c >"$TMP" ||
    die "dumping $DATABASE failed (above): check the database, the user's rights and its password, then rerun"
fi
chmod 600 -- "$TMP"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
FILE=$DIR/$stamp.sql.gz
while ! ln -- "$TMP" "$FILE" 2>/dev/null; do
  [[ -e $FILE ]] || die "cannot create $FILE as $(id -un): $DIR must be writable by $(id -un)"
  sleep 1 # another dump took this second's name
  stamp=$(date -u +%Y%m%dT%H%M%SZ)
  FILE=$DIR/$stamp.sql.gz
done
rm -f -- "$TMP"
trap - EXIT
bytes=$(stat -c %s -- "$FILE")
say "wrote $FILE ($bytes bytes)"
if [[ -n $KEEP ]]; then
  # the stamps sort by time; the newest KEEP stay
  mapfile -t old < <(find "$DIR" -maxdepth 1 -name '*.sql.gz' -printf '%f\n' </dev/null | sort -r | tail -n +$((KEEP + 1)))
  for name in "${old[@]}"; do
    rm -f -- "${DIR:?}/$name"
  done
  ((${#old[@]} == 0)) || say "removed ${#old[@]} older dump(s) of $DIR (keeping the newest $KEEP)"
fi
printf '::dump {"path":%s,"bytes":%s}\n' "$(json_str "$FILE")" "$bytes"
