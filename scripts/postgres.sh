#!/usr/bin/env bash
# A private PostgreSQL server for the tests: its own data directory, socket directory and
# loopback port, trust authentication for the role `berth`, and a database `berth`.
#
#   scripts/postgres.sh start DIR PORT   initialise DIR (if new) and start; waits until ready
#   scripts/postgres.sh stop DIR         stop it (fast shutdown)
#   scripts/postgres.sh kill DIR         stop it the hard way (immediate: crash recovery on start)
#
# Uses Debian's server binaries (apt install postgresql). PostgreSQL refuses to run as
# root, so as root the server runs as the `postgres` user, which then owns DIR.
set -euo pipefail

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/pg_ctl" ] || { echo "PostgreSQL server binaries not found: apt install postgresql" >&2; exit 1; }

as_owner() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cmd=${1:?usage: postgres.sh start DIR PORT | stop DIR | kill DIR}
dir=$(realpath -m "${2:?data directory}")
case "$cmd" in
start)
    port=${3:?port}
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres "$dir"
        runuser -u postgres -- test -x "$dir" || {
            echo "the postgres user cannot enter $dir: put it where every parent directory is searchable (e.g. under /tmp)" >&2
            exit 1
        }
    fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as_owner "$bin/initdb" -D "$dir/data" -U berth --auth=trust -E UTF8 >"$dir/initdb.log"
    fi
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null
    if ! as_owner "$bin/psql" -h 127.0.0.1 -p "$port" -U berth -d postgres -tAc \
            "SELECT 1 FROM pg_database WHERE datname = 'berth'" | grep -q 1; then
        as_owner "$bin/psql" -h 127.0.0.1 -p "$port" -U berth -d postgres -qc "CREATE DATABASE berth"
    fi
    ;;
stop) as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null ;;
kill) as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null ;;
*) echo "unknown command $cmd" >&2; exit 2 ;;
esac
