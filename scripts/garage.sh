#!/usr/bin/env bash
# A private Garage (S3-compatible object store) for the tests: one node on loopback with
# its own directory, a bucket `berth` and a fixed test key that may use it.
#
#   scripts/garage.sh start DIR S3PORT   initialise DIR (if new) and start; waits until ready
#   scripts/garage.sh stop DIR           stop it (SIGTERM)
#   scripts/garage.sh kill DIR           stop it the hard way (SIGKILL)
#
# The test key is KEY_ID / SECRET below. Garage comes from
# `cargo install garage --locked` (scripts/install-deps.sh builds it once per machine).
set -euo pipefail

KEY_ID=GK00000000000000000000b17e
SECRET=62657274686265727468626572746862657274686265727468626572746862ab
BUCKET=berth

garage=$(command -v garage || echo "$HOME/.cargo/bin/garage")
[ -x "$garage" ] || { echo "garage not found: cargo install garage --locked" >&2; exit 1; }

cmd=${1:?usage: garage.sh start DIR S3PORT | stop DIR | kill DIR}
dir=$(realpath -m "${2:?directory}")
cfg="$dir/garage.toml"
g() { "$garage" -c "$cfg" "$@"; }

case "$cmd" in
start)
    s3port=${3:?S3 port}
    mkdir -p "$dir/meta" "$dir/data"
    if [ ! -f "$cfg" ]; then
        rpcport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
        cat >"$cfg" <<TOML
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "sqlite"
metadata_fsync = true
data_fsync = true
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$rpcport"
rpc_public_addr = "127.0.0.1:$rpcport"
rpc_secret = "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$s3port"
root_domain = ".s3.localhost"
TOML
    fi
    # The binary itself in the background (not a function: its pid must be the server's).
    "$garage" -c "$cfg" server >>"$dir/server.log" 2>&1 &
    echo $! >"$dir/pid"
    deadline=$((SECONDS + 60))
    until g status >/dev/null 2>&1; do
        if [ $SECONDS -ge $deadline ]; then cat "$dir/server.log" >&2; exit 1; fi
        kill -0 "$(cat "$dir/pid")" 2>/dev/null || { cat "$dir/server.log" >&2; exit 1; }
        sleep 0.2
    done
    if [ ! -f "$dir/ready" ]; then
        node=$(g node id -q | cut -d@ -f1)
        g layout assign -z local -c 10G "$node" >/dev/null
        g layout apply --version 1 >/dev/null
        g bucket create "$BUCKET" >/dev/null
        g key import --yes -n berth "$KEY_ID" "$SECRET" >/dev/null
        g bucket allow --read --write --owner "$BUCKET" --key "$KEY_ID" >/dev/null
        touch "$dir/ready"
    fi
    # Ready when the S3 endpoint answers (any HTTP status).
    until curl -s -o /dev/null "http://127.0.0.1:$s3port/"; do
        if [ $SECONDS -ge $deadline ]; then cat "$dir/server.log" >&2; exit 1; fi
        sleep 0.2
    done
    ;;
stop|kill)
    [ -f "$dir/pid" ] || exit 0
    pid=$(cat "$dir/pid")
    kill "-$([ "$cmd" = kill ] && echo KILL || echo TERM)" "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    rm -f "$dir/pid"
    ;;
*) echo "unknown command $cmd" >&2; exit 2 ;;
esac
