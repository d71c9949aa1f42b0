#!/usr/bin/env bash
# Installs what the tests and benchmarks need on a Debian machine: the reference registry
# (Debian's docker-registry = CNCF Distribution), real clients (skopeo, podman), OpenLDAP
# (slapd) for the directory tests, rsyslog for the audit log's syslog forwarding (the tests
# start their own on a private port; a system one may keep running), image content
# (busybox-static), htpasswd, Chromium and its WebDriver for the web interface's tests, and
# the Python test runner.
# Safe to run repeatedly; skips what is already present.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

APT_PACKAGES=(skopeo podman docker-registry busybox-static apache2-utils jq openssl curl nginx-light systemd
              postgresql python3-pip ca-certificates slapd ldap-utils rsyslog chromium chromium-driver
              fonts-dejavu-core)
# Where a Docker engine runs, the container tests start berth with the compose files users
# copy (deploy/compose): they need Compose, and debootstrap for the Debian base of the
# PostgreSQL, Garage and nginx images (scripts/build-deps-images.sh; nothing is pulled).
if docker info >/dev/null 2>&1; then APT_PACKAGES+=(docker-compose debootstrap); fi
missing=()
for p in "${APT_PACKAGES[@]}"; do
    # Not `dpkg -s`: it succeeds for a removed package whose config files are still there.
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] \
        || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "==> apt-get install ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Debian starts the docker-registry service on :5000 when it is installed; the tests start
# their own instances, so stop the system one to keep the port free.
if command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl disable --now docker-registry >/dev/null 2>&1 || true
fi
pkill -f '^/usr/bin/docker-registry serve /etc/docker/registry/config.yml' 2>/dev/null || true
# The same for nginx and PostgreSQL: the tests start their own, on private ports and
# directories (scripts/postgres.sh).
if command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl disable --now nginx >/dev/null 2>&1 || true
    $SUDO systemctl disable --now postgresql >/dev/null 2>&1 || true
    $SUDO systemctl disable --now slapd >/dev/null 2>&1 || true
fi
# The same for OpenLDAP: the LDAP tests start their own (scripts/slapd.sh).
pkill -x slapd 2>/dev/null || true

PY=${PYTHON:-python3}
# oras: Python oras (oras-py), a real client whose token flow differs from Docker's.
# boto3: the tests look at what berth stored in the S3 bucket.
# harborapi: a Harbor client nobody here wrote; oidc-provider-mock: a real OIDC provider;
# selenium: drives Chromium through the web interface.
PIP_PACKAGES=(pytest requests prometheus-client oras boto3 harborapi oidc-provider-mock selenium)
if ! "$PY" -c 'import pytest, requests, prometheus_client, oras, boto3, harborapi, oidc_provider_mock, selenium' 2>/dev/null; then
    echo "==> pip install ${PIP_PACKAGES[*]}"
    "$PY" -m pip install -q "${PIP_PACKAGES[@]}" 2>/dev/null \
        || "$PY" -m pip install -q --break-system-packages "${PIP_PACKAGES[@]}"
fi

# Garage, a real S3-compatible store, for the S3 driver's tests: built once per machine
# (several minutes), then reused. Only what a one-node test store needs.
GARAGE_VERSION=2.5.0
if ! "$HOME/.cargo/bin/garage" --version 2>/dev/null | grep -q "$GARAGE_VERSION"; then
    echo "==> cargo install garage $GARAGE_VERSION (once per machine)"
    env -u CARGO_TARGET_DIR cargo install garage --version "$GARAGE_VERSION" --locked --quiet \
        --no-default-features --features bundled-libs,sqlite
fi
