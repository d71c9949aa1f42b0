#!/usr/bin/env bash
# A private Garage (S3-compatible object store) for the tests: one node on loopback with
# its own directory, a bucket `berth` and a fixed test key that may use it.
#
#   scripts/garage.sh start DIR S3PORT   initialise DIR (if new) and start; waits until ready
#   scripts/garage.sh stop DIR           stop it (SIGTERM)
#   scripts/garage.sh kill DIR           stop it the hard way (SIGKILL)
#   scripts/garage.sh cluster DIR P1 P2 P3
#                                        three nodes in DIR/node1..3 (S3 on ports P1..P3),
#                                        every object on all three (replication factor 3,
#                                        so one node may be down); stop/kill a node with
#                                        its own directory, start it again with
#                                        `garage.sh start DIR/nodeN PN`
#
# The test key is KEY_ID / SECRET below. Garage comes from
# `cargo install garage --locked` (scripts/install-deps.sh builds it once per machine).
set -euo pipefail

KEY_ID=GK00000000000000000000b17e
SECRET=62657274686265727468626572746862657274686265727468626572746862ab
BUCKET=berth

garage=$(command -v garage || echo "$HOME/.cargo/bin/garage")
[ -x "$garage" ] || { echo "garage not found: cargo install garage --locked" >&2; exit 1; }

cmd=${1:?usage: garage.sh start DIR S3PORT | stop DIR | kill DIR | cluster DIR P1 P2 P3}
dir=$(realpath -m "${2:?directory}")
cfg="$dir/garage.toml"
g() { "$garage" -c "$cfg" "$@"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# write_config DIR S3PORT REPLICATION SECRET: a node's garage.toml, unless it has one.
write_config() {
    local d=$1 port=$2 factor=$3 secret=$4 rpcport
    mkdir -p "$d/meta" "$d/data"
    [ -f "$d/garage.toml" ] && return 0
    rpcport=$(free_port)
    cat >"$d/garage.toml" <<TOML
metadata_dir = "$d/meta"
data_dir = "$d/data"
db_engine = "sqlite"
metadata_fsync = true
data_fsync = true
replication_factor = $factor
rpc_bind_addr = "127.0.0.1:$rpcport"
rpc_public_addr = "127.0.0.1:$rpcport"
rpc_secret = "$secret"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$port"
root_domain = ".s3.localhost"
TOML
}

# serve DIR: starts the node whose config is in DIR, waits until it answers.
serve() {
    local d=$1 deadline=$((SECONDS + 60))
    "$garage" -c "$d/garage.toml" server >>"$d/server.log" 2>&1 &
    echo $! >"$d/pid"
    until "$garage" -c "$d/garage.toml" status >/dev/null 2>&1; do
        if [ $SECONDS -ge $deadline ]; then cat "$d/server.log" >&2; exit 1; fi
        kill -0 "$(cat "$d/pid")" 2>/dev/null || { cat "$d/server.log" >&2; exit 1; }
        sleep 0.2
    done
}

# provision: the bucket and the test key, through the node in $cfg.
provision() {
    g bucket create "$BUCKET" >/dev/null
    g key import --yes -n berth "$KEY_ID" "$SECRET" >/dev/null
    g bucket allow --read --write --owner "$BUCKET" --key "$KEY_ID" >/dev/null
}

# wait_s3 PORT: until the S3 endpoint answers (any HTTP status).
wait_s3() {
    local deadline=$((SECONDS + 60))
    until curl -s -o /dev/null "http://127.0.0.1:$1/"; do
        if [ $SECONDS -ge $deadline ]; then echo "S3 on port $1 did not answer" >&2; exit 1; fi
        sleep 0.2
    done
}

case "$cmd" in
cluster)
    ports=("${3:?S3 port 1}" "${4:?S3 port 2}" "${5:?S3 port 3}")
    secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
    for i in 1 2 3; do
        write_config "$dir/node$i" "${ports[$((i - 1))]}" 3 "$secret"
        serve "$dir/node$i"
    done
    cfg="$dir/node1/garage.toml"
    if [ ! -f "$dir/ready" ]; then
        for i in 2 3; do
            g node connect "$("$garage" -c "$dir/node$i/garage.toml" node id -q)" >/dev/null
        done
        for i in 1 2 3; do
            node=$("$garage" -c "$dir/node$i/garage.toml" node id -q | cut -d@ -f1)
            g layout assign -z "dc$i" -c 10G "$node" >/dev/null
        done
        g layout apply --version 1 >/dev/null
        provision
        touch "$dir/ready" "$dir/node1/ready" "$dir/node2/ready" "$dir/node3/ready"
    fi
    for p in "${ports[@]}"; do wait_s3 "$p"; done
    ;;
start)
    s3port=${3:?S3 port}
    write_config "$dir" "$s3port" 1 "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    serve "$dir"
    if [ ! -f "$dir/ready" ]; then
        node=$(g node id -q | cut -d@ -f1)
        g layout assign -z local -c 10G "$node" >/dev/null
        g layout apply --version 1 >/dev/null
        provision
        touch "$dir/ready"
    fi
    wait_s3 "$s3port"
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
