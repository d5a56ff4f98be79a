#!/usr/bin/env bash
# make-quic-captures.sh - regenerate the QUIC captures in this directory from scratch.
#
# Real QUIC stacks only: an aioquic (PyPI) client and server (quic_peers.py) on the loopback
# interface, captured with tcpdump. Nothing leaves the machine: every address is in
# 127.0.0.0/8. The server's certificate is a self-signed throwaway made into a temporary
# directory and removed on exit.
#
# Needs: bash, tcpdump, openssl, python3 with aioquic, tshark (for expected/), ss, and root
# (or CAP_NET_RAW) for tcpdump. On Debian 12:
#     apt-get install -y tcpdump openssl python3 python3-pip tshark iproute2
#     pip install aioquic          # 1.7.2 made the captures here
#
# Usage:   sudo captures/quic/make-quic-captures.sh          # writes into captures/quic/
#          OUT=/some/dir captures/quic/make-quic-captures.sh  # writes elsewhere
#
# Idempotent: every capture and its expected/<stem>.json (derived with tshark by
# ../shared/conformance/tools/derive_expected.py when that corpus is beside the checkout)
# is overwritten. Each client checks that its handshake completed in the QUIC version asked
# for, so a run that did not produce the intended handshake fails instead of writing a
# misleading capture. Servers listen on UDP 44480-44489 on 127.0.0.1 only.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${OUT:-$HERE}"
PY="${PYTHON:-python3}"
DERIVE="${DERIVE:-$HERE/../../../shared/conformance/tools/derive_expected.py}"
FILTER='udp portrange 44480-44489 and net 127.0.0.0/8'

die() { echo "make-quic-captures: error: $*" >&2; exit 1; }
log() { echo "make-quic-captures: $*" >&2; }
need() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found (install: $2)"; }
need tcpdump "apt-get install -y tcpdump"
need openssl "apt-get install -y openssl"
need ss "apt-get install -y iproute2"
need "$PY" "apt-get install -y python3"
"$PY" -c 'import aioquic' 2>/dev/null || die "python aioquic not found (install: pip install aioquic)"
[ "$(id -u)" = 0 ] || log "warning: not root; tcpdump may lack permission to capture on lo"
log "tools: aioquic $("$PY" -c 'import aioquic; print(aioquic.__version__)'); $(tcpdump --version 2>&1 | head -n 1)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/hellowatch-quic.XXXXXX")"
SERVER_PID=""
TCPDUMP_PID=""

stop_pid() {  # PID SIGNAL: signal, wait up to 10 s, then SIGKILL
    local pid=$1 sig=$2 i
    kill "-$sig" "$pid" 2>/dev/null || return 0
    for i in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
    return 0
}

cleanup() {
    local rc=$?
    set +e
    trap '' INT TERM HUP PIPE
    [ -n "$TCPDUMP_PID" ] && stop_pid "$TCPDUMP_PID" INT
    [ -n "$SERVER_PID" ] && stop_pid "$SERVER_PID" TERM
    if [ "$rc" != 0 ] && [ -d "$WORK" ]; then
        log "failed; last logs:"
        tail -n 5 "$WORK"/*.log >&2 2>/dev/null
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE

busy="$(ss -Hlun '( sport >= :44480 and sport <= :44489 )' || true)"
[ -z "$busy" ] || die "UDP ports 44480-44489 already in use:
$busy"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=quic.hellowatch.test -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
STAGE="$WORK/out"
mkdir "$STAGE"

# start_server PORT [--retry]
start_server() {
    local port=$1 i
    shift
    "$PY" "$HERE/quic_peers.py" server 127.0.0.1 "$port" "$WORK/cert.pem" "$WORK/key.pem" "$@" \
        >"$WORK/server-$port.log" 2>&1 &
    SERVER_PID=$!
    for i in $(seq 300); do
        grep -q listening "$WORK/server-$port.log" && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || die "server exited: $(cat "$WORK/server-$port.log")"
        sleep 0.1
    done
    die "server on port $port did not start"
}

stop_server() {
    stop_pid "$SERVER_PID" TERM
    SERVER_PID=""
}

capture_start() {  # FILE
    local f="$STAGE/$1" i
    log "capturing $1"
    tcpdump -i lo --immediate-mode -s 0 -B 32768 -U -Z root -w "$f" "$FILTER" \
        2>"$WORK/tcpdump.log" &
    TCPDUMP_PID=$!
    for i in $(seq 600); do
        grep -q "listening on" "$WORK/tcpdump.log" 2>/dev/null && break
        kill -0 "$TCPDUMP_PID" 2>/dev/null || die "tcpdump exited: $(cat "$WORK/tcpdump.log")"
        sleep 0.1
    done
    grep -q "listening on" "$WORK/tcpdump.log" || die "tcpdump did not start"
    sleep 0.5
}

capture_stop() {
    sleep 1
    stop_pid "$TCPDUMP_PID" INT
    TCPDUMP_PID=""
    grep -q "^0 packets dropped by kernel" "$WORK/tcpdump.log" \
        || die "tcpdump dropped packets: $(cat "$WORK/tcpdump.log")"
}

client() { "$PY" "$HERE/quic_peers.py" client "$@" >&2; }

# === quic-v1.pcap: one QUIC version 1 handshake (client 127.0.0.80) ==================
start_server 44480
capture_start quic-v1.pcap
client 127.0.0.80 127.0.0.1 44480 --version 1
capture_stop

# === quic-v2.pcap: one QUIC version 2 handshake, RFC 9369 (client 127.0.0.81) ========
capture_start quic-v2.pcap
client 127.0.0.81 127.0.0.1 44480 --version 2
capture_stop

# === quic-split-hello.pcap: a ClientHello of ~1.6 KB (40 padding ALPN ids) in two
#     Initial packets (client 127.0.0.82) ===========================================
capture_start quic-split-hello.pcap
client 127.0.0.82 127.0.0.1 44480 --version 1 --pad-alpn 40
capture_stop
stop_server

# === quic-retry.pcap: the server validates the address with a Retry first; the client
#     sends its ClientHello again under keys from the Retry's connection ID (one hello)
#     (client 127.0.0.83) ============================================================
start_server 44481 --retry
capture_start quic-retry.pcap
client 127.0.0.83 127.0.0.1 44481 --version 1
capture_stop
stop_server

# === checks with tshark, and the expected census =====================================
need tshark "apt-get install -y tshark"
ts() { tshark -2 -n -r "$STAGE/$1" "${@:2}" 2>/dev/null; }
n="$(ts quic-retry.pcap -Y 'quic.long.packet_type == 3' | wc -l)"
[ "$n" = 1 ] || die "quic-retry.pcap: expected 1 Retry, tshark sees $n"
n="$(ts quic-v2.pcap -Y 'quic.version == 0x6b3343cf' | wc -l)"
[ "$n" -ge 2 ] || die "quic-v2.pcap: tshark sees $n QUIC v2 packets"
n="$(ts quic-split-hello.pcap -Y 'tls.handshake.type == 1' -T fields -e frame.number | head -n 1)"
[ -n "$n" ] || die "quic-split-hello.pcap: tshark sees no ClientHello"
n="$(ts quic-split-hello.pcap -Y 'quic.long.packet_type == 0 && ip.src == 127.0.0.82 && quic.frame_type == 6' | wc -l)"
[ "$n" -ge 2 ] || die "quic-split-hello.pcap: the ClientHello is in $n client Initials, wanted >= 2"
mkdir -p "$STAGE/expected"
if [ -f "$DERIVE" ]; then
    for f in "$STAGE"/*.pcap; do
        b="$(basename "$f" .pcap)"
        "$PY" "$DERIVE" "$f" >"$STAGE/expected/$b.json"
        "$PY" - "$STAGE/expected/$b.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
q = d.get("quic_clients") or {}
assert sum(c.get("hellos", 0) for c in q.values()) == 1, (sys.argv[1], q)
assert sum(sum(c.get("negotiated", {}).values()) for c in q.values()) == 1, (sys.argv[1], q)
PYEOF
    done
else
    log "derive_expected.py not found at $DERIVE: expected/ not regenerated"
fi

mkdir -p "$OUT/expected"
for f in "$STAGE"/*.pcap; do mv -f "$f" "$OUT/"; done
for f in "$STAGE"/expected/*.json; do [ -f "$f" ] && mv -f "$f" "$OUT/expected/"; done
log "done:"
( cd "$OUT" && ls -l ./*.pcap ) >&2
