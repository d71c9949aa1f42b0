# Runs once beside a new Garage: the node's layout, the bucket `berth` and the key berth
# uses (S3_ACCESS_KEY / S3_SECRET_KEY). It reads the node's key from the metadata volume
# it shares with the server. Safe to run again.
set -eu
g() { garage -c /etc/garage.toml "$@"; }
tries=0
until g status >/dev/null 2>&1; do
    tries=$((tries + 1)); [ $tries -lt 300 ] || { echo "garage did not answer" >&2; exit 1; }
    sleep 0.2
done
node=$(g node id -q | cut -d@ -f1)
if g layout show | grep -q "No nodes currently have a role"; then
    g layout assign -z dc1 -c 10G "$node"
    g layout apply --version 1
fi
g bucket info berth >/dev/null 2>&1 || g bucket create berth
g key info "$S3_ACCESS_KEY" >/dev/null 2>&1 || g key import --yes -n berth "$S3_ACCESS_KEY" "$S3_SECRET_KEY"
g bucket allow --read --write --owner berth --key "$S3_ACCESS_KEY"
echo "garage is ready"
