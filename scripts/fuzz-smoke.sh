#!/usr/bin/env bash
# Runs every fuzz target briefly (FUZZ_SECONDS each, default 20). cargo-fuzz needs
# nightly flags; RUSTC_BOOTSTRAP lets the pinned stable toolchain accept them.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
seconds="${FUZZ_SECONDS:-20}"
for target in $(RUSTC_BOOTSTRAP=1 cargo fuzz list); do
    echo "--- fuzzing $target for ${seconds}s"
    RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" -- -max_total_time="$seconds" 2>&1 \
        | grep -E '^(Done|==|SUMMARY|thread|.*panicked)' || true
    # cargo fuzz exits non-zero on a crash; PIPESTATUS keeps that visible.
    status=${PIPESTATUS[0]}
    if [ "$status" -ne 0 ]; then
        echo "fuzz target $target failed (exit $status); reproducer under fuzz/artifacts/$target" >&2
        exit "$status"
    fi
done
