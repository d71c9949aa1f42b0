#!/usr/bin/env bash
# Builds the images the replicated compose file (deploy/compose/replicated) runs beside
# berth's own, without pulling any image: a Debian bookworm root made with debootstrap from
# Debian's packages (cached in ~/.cache), imported as berth-debian:bookworm, and on it
#   berth-postgres:local  PostgreSQL 15, with the official image's POSTGRES_* variables
#   berth-nginx:local     nginx (the compose file mounts its configuration)
#   berth-garage:local    Garage, the binary scripts/install-deps.sh built
# Where images can be pulled, the official postgres image works in their place.
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${XDG_CACHE_HOME:-$HOME/.cache}/berth-debian-bookworm.tar"
garage=$(command -v garage || echo "$HOME/.cargo/bin/garage")
[ -x "$garage" ] || { echo "garage not found: run scripts/install-deps.sh" >&2; exit 1; }

if ! docker image inspect berth-debian:bookworm >/dev/null 2>&1; then
    if [ ! -s "$cache" ]; then
        echo "==> debootstrap bookworm (once per machine)"
        root=$(mktemp -d)
        debootstrap --variant=minbase --include=postgresql-15,nginx-light,ca-certificates \
            bookworm "$root" http://deb.debian.org/debian >/dev/null
        mkdir -p "$(dirname "$cache")"
        tar -C "$root" -cf "$cache.tmp" .
        mv "$cache.tmp" "$cache"
        rm -rf "$root"
    fi
    docker import "$cache" berth-debian:bookworm >/dev/null
fi

build() {  # TAG, then the Dockerfile on stdin; the context is $ctx
    docker build -q -t "$1" -f - "$ctx" >/dev/null
    echo "built $1"
}
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp deploy/images/postgres-entry.sh "$ctx/"
cp "$garage" "$ctx/garage"

build berth-postgres:local <<'DOCKERFILE'
FROM berth-debian:bookworm
COPY postgres-entry.sh /usr/local/bin/postgres-entry
RUN mkdir -p /var/lib/postgresql/data && chown postgres:postgres /var/lib/postgresql/data \
    && chmod 700 /var/lib/postgresql/data
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/bin:/usr/bin:/bin
USER postgres
VOLUME /var/lib/postgresql/data
EXPOSE 5432
ENTRYPOINT ["sh", "/usr/local/bin/postgres-entry"]
DOCKERFILE

build berth-nginx:local <<'DOCKERFILE'
FROM berth-debian:bookworm
EXPOSE 80
CMD ["nginx", "-g", "daemon off;"]
DOCKERFILE

build berth-garage:local <<'DOCKERFILE'
FROM berth-debian:bookworm
COPY garage /usr/local/bin/garage
RUN mkdir -p /var/lib/garage/meta /var/lib/garage/data
EXPOSE 3900 3901
CMD ["garage", "-c", "/etc/garage.toml", "server"]
DOCKERFILE
