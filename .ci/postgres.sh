#!/usr/bin/env bash
# Starts (or stops) a throwaway PostgreSQL server for the test suite.
# usage: .ci/postgres.sh start|stop   (prints the connection URL on start)
# PostgreSQL refuses to run as root, so the cluster belongs to the `postgres` user.
set -euo pipefail

PGPORT="${WEFT_TEST_PGPORT:-55432}"
PGROOT="${WEFT_TEST_PGROOT:-/tmp/weft-ci-postgres}"
PGDATA="$PGROOT/data"

find_bin() {
  for dir in /usr/local/bin /usr/lib/postgresql/*/bin; do
    if [ -x "$dir/pg_ctl" ] && [ -x "$dir/initdb" ]; then echo "$dir"; return 0; fi
  done
  return 1
}

as_pg() {
  if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-start}" in
  start)
    if ! BIN="$(find_bin)"; then
      echo "postgres: not found, installing with apt-get" >&2
      apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
      BIN="$(find_bin)"
    fi
    if [ "$(id -u)" = "0" ] && ! id postgres >/dev/null 2>&1; then
      useradd --system --home-dir "$PGROOT" --shell /bin/bash postgres
    fi
    mkdir -p "$PGROOT"
    [ "$(id -u)" = "0" ] && chown postgres "$PGROOT"
    if [ ! -f "$PGDATA/PG_VERSION" ]; then
      as_pg "$BIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 >/dev/null
    fi
    if ! as_pg "$BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
      as_pg "$BIN/pg_ctl" -D "$PGDATA" -l "$PGROOT/server.log" -w \
        -o "-p $PGPORT -k $PGROOT -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off" start >/dev/null
    fi
    echo "postgres://postgres@127.0.0.1:$PGPORT/postgres"
    ;;
  stop)
    BIN="$(find_bin)" || exit 0
    as_pg "$BIN/pg_ctl" -D "$PGDATA" -m fast stop >/dev/null 2>&1 || true
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
