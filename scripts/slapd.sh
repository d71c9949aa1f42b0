#!/usr/bin/env bash
# A private OpenLDAP server for the tests: its own directory, a loopback port that speaks
# plain LDAP and StartTLS (a certificate for 127.0.0.1 signed by DIR/ca.crt), the suffix
# dc=berth,dc=test with ou=people and ou=groups, the root account
# cn=admin,dc=berth,dc=test (password "admin-secret"), and the memberof overlay, so a
# user entry lists its groupOfNames groups in memberOf as directories usually do.
#
#   scripts/slapd.sh start DIR PORT   initialise DIR (if new) and start; waits until ready
#   scripts/slapd.sh stop DIR         stop it
#   scripts/slapd.sh kill DIR         stop it the hard way
#
# Uses Debian's slapd and ldap-utils (apt install slapd ldap-utils).
set -euo pipefail

[ -x /usr/sbin/slapd ] || { echo "slapd not found: apt install slapd ldap-utils" >&2; exit 1; }

cmd=${1:?usage: slapd.sh start DIR PORT | stop DIR | kill DIR}
dir=$(realpath -m "${2:?directory}")
suffix="dc=berth,dc=test"
root="cn=admin,$suffix"

pid_of() { cat "$dir/slapd.pid" 2>/dev/null || true; }

case "$cmd" in
start)
    port=${3:?port}
    mkdir -p "$dir/data"
    if [ ! -f "$dir/server.crt" ]; then
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
            -keyout "$dir/ca.key" -out "$dir/ca.crt" -subj "/CN=berth test LDAP CA" 2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -keyout "$dir/server.key" -out "$dir/server.csr" -subj "/CN=127.0.0.1" 2>/dev/null
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$dir/ext.cnf"
        openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
            -CAcreateserial -days 2 -extfile "$dir/ext.cnf" -out "$dir/server.crt" 2>/dev/null
    fi
    cat >"$dir/slapd.conf" <<CONF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
pidfile $dir/slapd.pid
argsfile $dir/slapd.args
TLSCACertificateFile $dir/ca.crt
TLSCertificateFile $dir/server.crt
TLSCertificateKeyFile $dir/server.key
database mdb
suffix "$suffix"
rootdn "$root"
rootpw admin-secret
directory $dir/data
maxsize 104857600
overlay memberof
memberof-group-oc groupOfNames
memberof-member-ad member
memberof-memberof-ad memberOf
memberof-refint TRUE
CONF
    /usr/sbin/slapd -f "$dir/slapd.conf" -h "ldap://127.0.0.1:$port/" >"$dir/slapd.log" 2>&1
    for _ in $(seq 1 100); do
        if ldapsearch -x -H "ldap://127.0.0.1:$port" -b "" -s base >/dev/null 2>&1; then
            break
        fi
        sleep 0.1
    done
    if ! ldapsearch -x -H "ldap://127.0.0.1:$port" -D "$root" -w admin-secret -b "$suffix" -s base >/dev/null 2>&1; then
        ldapadd -x -H "ldap://127.0.0.1:$port" -D "$root" -w admin-secret >/dev/null <<LDIF
dn: $suffix
objectClass: dcObject
objectClass: organization
dc: berth
o: berth tests

dn: ou=people,$suffix
objectClass: organizationalUnit
ou: people

dn: ou=groups,$suffix
objectClass: organizationalUnit
ou: groups
LDIF
    fi
    ;;
stop)
    pid=$(pid_of)
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    ;;
kill)
    pid=$(pid_of)
    [ -z "$pid" ] || kill -9 "$pid" 2>/dev/null || true
    ;;
*) echo "unknown command $cmd" >&2; exit 2 ;;
esac
