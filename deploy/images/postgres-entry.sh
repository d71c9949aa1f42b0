# PostgreSQL for the replicated compose file, with the official image's basic variables:
# POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB. The first start creates the cluster in
# /var/lib/postgresql/data (password logins from the network) and the database.
set -eu
data=/var/lib/postgresql/data
if [ ! -s "$data/PG_VERSION" ]; then
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    initdb -D "$data" -U "$POSTGRES_USER" --pwfile="$pwfile" -E UTF8 --locale=C \
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    echo "host all all 0.0.0.0/0 scram-sha-256" >>"$data/pg_hba.conf"
    postgres -D "$data" -c listen_addresses='' -c unix_socket_directories=/tmp &
    until pg_isready -q -h /tmp -U "$POSTGRES_USER"; do sleep 0.2; done
    createdb -h /tmp -U "$POSTGRES_USER" "$POSTGRES_DB"
    pg_ctl -D "$data" -m fast -w stop >/dev/null
fi
exec postgres -D "$data" -c listen_addresses='*' -c unix_socket_directories=/tmp
