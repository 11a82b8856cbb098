#!/usr/bin/env bash
# Source me: starts a throwaway PostgreSQL server on 127.0.0.1 for the storage tests and exports
# KNOBS_TEST_POSTGRES. Installs Debian's postgresql first if it is missing. Stops it on exit.
set -euo pipefail
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >/dev/null
fi
PG_BIN="$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)")"
PG_DIR="$(mktemp -d /tmp/knobs-pg.XXXXXX)"
PG_PORT="${KNOBS_PG_PORT:-54329}"
chown postgres "$PG_DIR"
su postgres -s /bin/sh -c "'$PG_BIN/initdb' -D '$PG_DIR/data' -A trust -U postgres" >/dev/null
su postgres -s /bin/sh -c "'$PG_BIN/pg_ctl' -D '$PG_DIR/data' -l '$PG_DIR/log' -w \
  -o \"-h 127.0.0.1 -p $PG_PORT -k '$PG_DIR' -c max_connections=200\" start" >/dev/null
"$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres knobs_test
export KNOBS_TEST_POSTGRES="postgresql+psycopg2://postgres@127.0.0.1:$PG_PORT/knobs_test"
_knobs_stop_pg() { su postgres -s /bin/sh -c "'$PG_BIN/pg_ctl' -D '$PG_DIR/data' -m fast stop" >/dev/null 2>&1 || true; rm -rf "$PG_DIR"; }
trap _knobs_stop_pg EXIT
