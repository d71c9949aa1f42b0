#!/usr/bin/env bash
# berth vs CNCF Distribution, side by side, on loopback.
#
#   bench/run.sh            quick mode (under 2 minutes after the build)
#   bench/run.sh full       every workload at full size, plus the 10x scaling run
#   bench/run.sh s3         quick, but a 1 GiB blob and 100 small layers (the S3 workloads)
#   bench/run.sh gc         garbage collection: berth online vs Distribution offline
#   bench/run.sh teams      authenticated pulls with roles and audit; management listing
#   bench/run.sh ui         the web interface's pages on 20,000 repositories
#
# Installs what it needs on Debian (docker-registry, skopeo), builds berth in release
# mode, runs the same workloads against both registries, and writes bench/RESULTS.md
# (appended under "## Runs") and bench/results.json.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-quick}"
case "$mode" in quick|full|s3|gc|teams|ui) ;; *) echo "usage: bench/run.sh [quick|full|s3|gc|teams|ui]" >&2; exit 2;; esac

scripts/install-deps.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/berth-target}"
cargo build --release --locked -p berth -p berth-loadgen
if [ "$mode" = gc ]; then
    exec python3 bench/gc_bench.py --berth "$CARGO_TARGET_DIR/release/berth" \
        --command "bench/run.sh gc" "${@:2}"
fi
if [ "$mode" = teams ]; then
    exec python3 bench/teams_bench.py --berth "$CARGO_TARGET_DIR/release/berth" \
        --loadgen "$CARGO_TARGET_DIR/release/berth-loadgen" --command "bench/run.sh teams" "${@:2}"
fi
if [ "$mode" = ui ]; then
    exec python3 bench/ui_bench.py --berth "$CARGO_TARGET_DIR/release/berth" \
        --loadgen "$CARGO_TARGET_DIR/release/berth-loadgen" --command "bench/run.sh ui" "${@:2}"
fi
exec python3 bench/bench.py --mode "$mode" --berth "$CARGO_TARGET_DIR/release/berth" \
    --loadgen "$CARGO_TARGET_DIR/release/berth-loadgen" \
    --command "bench/run.sh $mode" "${@:2}"
