#!/usr/bin/env bash
# Runs every test berth has, from a fresh Debian machine: installs the test dependencies,
# checks formatting and lints, runs the Rust unit tests, then the integration suites that
# drive the real binary with real clients (HTTP, skopeo, the Docker engine when one is
# running, registry:2 migration, crash safety), then a short fuzzing pass. A private
# PostgreSQL server runs for the metadata suite and the tests on PostgreSQL.
#
#   scripts/test.sh              everything
#   SKIP_FUZZ=1 scripts/test.sh  without the fuzzing pass
#   PYTEST_ARGS="-k skopeo" scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# One build directory outside the clone, so repeated runs and fresh clones reuse builds.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/berth-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { echo; echo "==== $* ($(date +%T))"; }

step "dependencies"
scripts/install-deps.sh

step "rustfmt"
cargo fmt --all --check

step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "build"
cargo build --workspace --locked

step "PostgreSQL for the tests"
# One private server for the metadata suite (a database per test) and the integration
# tests that run berth on PostgreSQL; removed when this script ends.
pg_dir=$(mktemp -d /tmp/berth-test-pg.XXXXXX)
pg_port=${BERTH_TEST_PG_PORT:-55432}
scripts/postgres.sh start "$pg_dir" "$pg_port"
trap 'scripts/postgres.sh stop "$pg_dir" || true; rm -rf "$pg_dir"' EXIT
export BERTH_TEST_POSTGRES="127.0.0.1:$pg_port" BERTH_REQUIRE_POSTGRES=1

step "Garage (S3) for the tests"
# One private object store for the storage suite and the integration tests on S3.
s3_dir=$(mktemp -d /tmp/berth-test-garage.XXXXXX)
s3_port=${BERTH_TEST_S3_PORT:-53900}
scripts/garage.sh start "$s3_dir" "$s3_port"
trap 'scripts/postgres.sh stop "$pg_dir" || true; rm -rf "$pg_dir"; scripts/garage.sh stop "$s3_dir" || true; rm -rf "$s3_dir"' EXIT
export BERTH_TEST_S3="http://127.0.0.1:$s3_port" BERTH_REQUIRE_S3=1

step "unit tests"
cargo test --workspace --locked -q

step "integration tests"
export BERTH_BIN="$CARGO_TARGET_DIR/debug/berth"
# A machine with a Docker engine must run the Docker tests, not skip them.
if docker info >/dev/null 2>&1; then export BERTH_REQUIRE_DOCKER=1; fi
# install-deps installs podman; a machine where it runs must run its tests.
if podman --version >/dev/null 2>&1; then export BERTH_REQUIRE_PODMAN=1; fi
# The disk-full tests mount a small tmpfs; root can, so root must run them.
if [ "$(id -u)" -eq 0 ]; then export BERTH_REQUIRE_MOUNT=1; fi
python3 -m pytest tests/integration -q -p no:cacheprovider ${PYTEST_ARGS:-}

step "integration tests with the blobs in S3"
# The registry API, garbage collection, retention and real clients again, with every
# berth's blobs under its own prefix of the test bucket.
BERTH_STORAGE=s3 python3 -m pytest -q -p no:cacheprovider ${PYTEST_ARGS:-} \
    tests/integration/test_api_base.py tests/integration/test_api_blobs.py \
    tests/integration/test_api_delete.py tests/integration/test_api_discovery.py \
    tests/integration/test_api_manifests.py tests/integration/test_api_names.py \
    tests/integration/test_gc.py tests/integration/test_retention.py \
    tests/integration/test_skopeo.py tests/integration/test_oras.py \
    tests/integration/test_backup.py

step "integration tests with both: blobs in S3, metadata on PostgreSQL"
# The shape of a multi-machine deployment, on one machine.
BERTH_STORAGE=s3 BERTH_METADATA=postgres python3 -m pytest -q -p no:cacheprovider \
    ${PYTEST_ARGS:-} tests/integration/test_api_base.py tests/integration/test_api_blobs.py \
    tests/integration/test_api_delete.py tests/integration/test_api_discovery.py \
    tests/integration/test_api_manifests.py tests/integration/test_api_names.py \
    tests/integration/test_gc.py tests/integration/test_skopeo.py tests/integration/test_auth.py \
    tests/integration/test_docker.py tests/integration/test_backup.py

step "integration tests on PostgreSQL metadata"
# The registry API, garbage collection, retention, users and tokens, projects and roles,
# notifications, webhook policies and a real client again, with every berth on the test server (a database
# each).
BERTH_METADATA=postgres python3 -m pytest -q -p no:cacheprovider ${PYTEST_ARGS:-} \
    tests/integration/test_api_base.py tests/integration/test_api_blobs.py \
    tests/integration/test_api_delete.py tests/integration/test_api_discovery.py \
    tests/integration/test_api_manifests.py tests/integration/test_api_names.py \
    tests/integration/test_gc.py tests/integration/test_retention.py \
    tests/integration/test_auth.py tests/integration/test_notifications.py \
    tests/integration/test_skopeo.py tests/integration/test_crash.py \
    tests/integration/test_backup.py tests/integration/test_projects.py \
    tests/integration/test_robots.py tests/integration/test_ldap.py tests/integration/test_oidc.py \
    tests/integration/test_audit.py tests/integration/test_quotas.py \
    tests/integration/test_retention_policies.py \
    tests/integration/test_webhook_policies.py tests/integration/test_artifacts.py \
    tests/integration/test_system_gc.py tests/integration/test_immutable_rules.py \
    tests/integration/test_labels.py tests/integration/test_ui.py

if [ -z "${SKIP_FUZZ:-}" ]; then
    step "fuzzing (${FUZZ_SECONDS:-20}s per target)"
    scripts/fuzz-smoke.sh
fi

step "all tests passed"
