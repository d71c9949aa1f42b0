#!/usr/bin/env bash
# Builds the berth container image from a berth binary without pulling any base image: a
# FROM scratch image with the binary (debug info stripped), the shared libraries it links
# (as ldd lists them), CA certificates for outgoing TLS (webhooks, token issuers), a
# non-root user (10001) and the default config (deploy/container/config.yml).
#
#   scripts/build-image.sh [BINARY] [TAG]
#       BINARY  default: $CARGO_TARGET_DIR/release/berth (build it with cargo build --release)
#       TAG     default: berth:local
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$HOME/.cache/berth-target}"
bin="${1:-$target/release/berth}"
tag="${2:-berth:local}"
[ -x "$bin" ] || { echo "no berth binary at $bin: build it with cargo build --release" >&2; exit 1; }

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
root="$ctx/rootfs"
mkdir -p "$root/etc/berth" "$root/etc/ssl/certs" "$root/tmp" "$ctx/data"
objcopy --strip-debug "$bin" "$root/berth"
# The dynamic loader and every library the binary links, at the paths it looks for them.
for lib in $(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do
    cp -L --parents "$lib" "$root/"
done
cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
printf 'root:x:0:0:root:/:/berth\nberth:x:10001:10001:berth:/var/lib/registry:/berth\n' > "$root/etc/passwd"
printf 'root:x:0:\nberth:x:10001:\n' > "$root/etc/group"
cp deploy/container/config.yml "$root/etc/berth/config.yml"
chmod 1777 "$root/tmp"
cp deploy/container/Dockerfile "$ctx/"
docker build -q -t "$tag" "$ctx" >/dev/null
echo "built $tag ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}'))"
