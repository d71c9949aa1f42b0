#!/usr/bin/env bash
# A private rsyslog server for the tests: it listens on loopback for syslog over UDP and
# TCP (the same port number) and writes each message it receives to DIR/received.log as
# "facility.severity app-name msgid message".
#
#   scripts/rsyslog.sh start DIR PORT   write DIR/rsyslog.conf and start; waits until ready
#   scripts/rsyslog.sh stop DIR         stop it (SIGTERM)
#   scripts/rsyslog.sh kill DIR         stop it the hard way (SIGKILL)
set -euo pipefail

rsyslogd=$(command -v rsyslogd || echo /usr/sbin/rsyslogd)
[ -x "$rsyslogd" ] || { echo "rsyslogd not found: apt-get install rsyslog" >&2; exit 1; }

cmd=${1:?usage: rsyslog.sh start DIR PORT | stop DIR | kill DIR}
dir=$(realpath -m "${2:?directory}")

signal() {
    [ -f "$dir/pid" ] || return 0
    local pid
    pid=$(cat "$dir/pid")
    kill "-$1" "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    rm -f "$dir/pid"
}

case "$cmd" in
start)
    port=${3:?port}
    mkdir -p "$dir/work"
    cat >"$dir/rsyslog.conf" <<CONF
global(workDirectory="$dir/work")
module(load="imudp")
module(load="imtcp")
input(type="imudp" address="127.0.0.1" port="$port" ruleset="received")
input(type="imtcp" address="127.0.0.1" port="$port" ruleset="received")
template(name="line" type="string"
         string="%syslogfacility-text%.%syslogseverity-text% %app-name% %msgid% %msg%\n")
ruleset(name="received") {
    action(type="omfile" file="$dir/received.log" template="line" flushOnTXEnd="on")
}
CONF
    "$rsyslogd" -n -f "$dir/rsyslog.conf" -i "$dir/rsyslogd.pid" >>"$dir/server.log" 2>&1 &
    echo $! >"$dir/pid"
    deadline=$((SECONDS + 30))
    until python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 1).close()" 2>/dev/null; do
        if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
            echo "rsyslogd exited; see $dir/server.log" >&2; cat "$dir/server.log" >&2; exit 1
        fi
        [ $SECONDS -lt $deadline ] || { echo "rsyslogd did not listen on $port" >&2; exit 1; }
        sleep 0.1
    done
    ;;
stop) signal TERM ;;
kill) signal KILL ;;
*) echo "unknown command $cmd" >&2; exit 2 ;;
esac
