#!/usr/bin/env bash
# db_restore.sh BASE_DIR CLIENT_ID KIND PORT DATABASE USER DUMP — puts the client's database
# DATABASE back to the gzip dump DUMP (a file db_dump.sh wrote under BASE_DIR/backups/), as USER
# (the database's own user, so what it creates stays its own), password in $DB_PASSWORD
# (environment, never argv). Every table of DATABASE is dropped first, so tables made after the
# dump (a migration's) go too; then the dump is loaded (MariaDB: DEFINER clauses stripped, so a
# dump of another client's database loads). Prints ::restore {"path":…,"tables":…}.
# shellcheck source=jobs/lib.sh
if [[ -z ${ALFA_LIB_LOADED:-} ]]; then source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"; fi
set -euo pipefail

[[ $# -eq 7 ]] || usage_error "usage: db_restore.sh BASE_DIR CLIENT_ID KIND PORT DATABASE USER DUMP (got $# arguments)"
BASE=$(valid_base_dir "$1")
CLIENT_ID=$2
KIND=$3
PORT=$4
DATABASE=$5
DB_USER=$6
DUMP=$7
[[ $CLIENT_ID =~ ^[A-Za-z0-9_-]{1,64}$ ]] || usage_error "CLIENT_ID must be [A-Za-z0-9_-], 1..64 (got '$CLIENT_ID')"
[[ $KIND == mariadb || $KIND == postgres ]] || usage_error "KIND must be mariadb or postgres (got '$KIND')"
valid_port "$PORT" PORT
[[ $DATABASE =~ ^[A-Za-z0-9_]{1,64}$ ]] || usage_error "DATABASE must be [A-Za-z0-9_], 1..64 (got '$DATABASE')"
[[ $DB_USER =~ ^[A-Za-z0-9_.-]{1,80}$ ]] || usage_error "USER must be [A-Za-z0-9_.-], 1..80 (got '$DB_USER')"
[[ $DUMP =~ ^/[A-Za-z0-9._/-]+\.sql\.gz$ && $DUMP != *..* && $DUMP == "$BASE/backups/"* ]] ||
  usage_error "DUMP must be a .sql.gz file under $BASE/backups/ (got '$DUMP')"
[[ -n ${DB_PASSWORD+set} ]] ||
  usage_error "the database password must be in the environment variable DB_PASSWORD (never an argument)"
PASSWORD=$DB_PASSWORD
unset DB_PASSWORD

step restore
[[ -f $DUMP && -r $DUMP ]] ||
  die "the dump $DUMP is not a readable file on this server: list $BASE/backups/c$CLIENT_ID/ and restore another one"
gzip -t -- "$DUMP" </dev/null 2>/dev/null ||
  die "the dump $DUMP is not a complete gzip file (cut short?): restore another one from $BASE/backups/c$CLIENT_ID/"
if [[ $KIND == mariadb ]]; then
  tool=$(resolve_cmd mariadb || resolve_cmd mysql) ||
    die "neither mariadb nor mysql is installed on this server: sudo apt-get install mariadb-client"
  sql() { MYSQL_PWD=$PASSWORD "$tool" --protocol=tcp -h 127.0.0.1 -P "$PORT" -u "$DB_USER" -N -B "$DATABASE" "$@"; }
  tables=$(sql -e "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()" </dev/null) ||
    die "cannot list the tables of $DATABASE as $DB_USER (above): check the database and the user's password"
  drop="SET FOREIGN_KEY_CHECKS=0;"
  count=0
  while IFS= read -r t; do
    [[ -n $t ]] || continue
    drop+="DROP TABLE IF EXISTS \`${t//\`/\`\`}\`;"
    count=$((count + 1))
  done <<<"$tables"
  say "dropping the $count table(s) of $DATABASE, then loading $DUMP"
  sql -e "$drop" </dev/null || die "dropping the tables of $DATABASE failed (above): the database is as it was; rerun"
  # shellcheck disable=SC2016  # the backquotes are MariaDB's identifier quotes, not expansions
  gzip -dc -- "$DUMP" </dev/null | sed -E 's/DEFINER=`[^`]*`@`[^`]*`//g' | sql ||
    die "loading $DUMP into $DATABASE failed (above): the database may be partly restored; rerun this restore"
else
  tool=$(resolve_cmd psql) || die "psql is not installed on this server: sudo apt-get install postgresql-client"
  sql() { PGPASSWORD=$PASSWORD PGCONNECT_TIMEOUT=10 "$tool" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U "$DB_USER" --no-password -d "$DATABASE" "$@"; }
  count=$(sql -A -t -c "SELECT count(*) FROM pg_tables WHERE tableowner = current_user" </dev/null) ||
    die "cannot list the tables of $DATABASE as $DB_USER (above): check the database and the user's password"
  say "dropping what $DB_USER owns in $DATABASE ($count table(s)), then loading $DUMP"
  sql -c "DROP OWNED BY CURRENT_USER CASCADE" </dev/null >/dev/null ||
    die "dropping the objects of $DB_USER in $DATABASE failed (above): rerun"
  sql -c "CREATE SCHEMA IF NOT EXISTS public" </dev/null >/dev/null 2>&1 || true
  gzip -dc -- "$DUMP" </dev/null | sql -o /dev/null ||
    die "loading $DUMP into $DATABASE failed (above): the database may be partly restored; rerun this restore"
fi
say "restored $DATABASE from $DUMP"
printf '::restore {"path":%s,"tables_dropped":%s}\n' "$(json_str "$DUMP")" "${count:-0}"
