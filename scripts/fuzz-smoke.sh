#!/usr/bin/env bash
# Runs every fuzz target briefly (FUZZ_SECONDS each, default 20). cargo-fuzz needs
# nightly flags; RUSTC_BOOTSTRAP lets the pinned stable toolchain accept them.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
seconds="${FUZZ_SECONDS:-20}"
for target in $(RUSTC_BOOTSTRAP=1 cargo fuzz list); do
    echo "--- fuzzing $target for ${seconds}s"
    log="$(mktemp)"
    status=0
    RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" -- -max_total_time="$seconds" >"$log" 2>&1 || status=$?
    grep -E '^(Done|==|SUMMARY|thread)|panicked' "$log" || true
    if [ "$status" -ne 0 ]; then
        tail -n 40 "$log" >&2
        echo "fuzz target $target failed (exit $status); reproducer under fuzz/artifacts/$target" >&2
        exit "$status"
    fi
done
