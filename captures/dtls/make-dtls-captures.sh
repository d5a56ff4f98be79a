#!/usr/bin/env bash
# make-dtls-captures.sh - regenerate the DTLS captures in this directory from scratch.
#
# Real DTLS stacks (OpenSSL 3 `s_server -listen` / `s_client`) on the loopback interface only
# (127.0.0.0/8), captured with tcpdump. Nothing leaves the machine. Each client binds its own
# source address (127.0.0.80-83), so each capture's census has one named client.
#
# Needs: bash, tcpdump, openssl (3.x), tshark (for the expected files), python3, ss, and root
# (or CAP_NET_RAW) for tcpdump. On Debian 12:
#     apt-get install -y tcpdump openssl tshark python3 iproute2
#
# Usage:   sudo captures/dtls/make-dtls-captures.sh            # writes into captures/dtls/
#          OUT=/some/dir captures/dtls/make-dtls-captures.sh   # writes elsewhere
#
# Every client's outcome is checked (a handshake that should succeed must report its protocol,
# the refused one must fail with a protocol_version alert), so a run that did not produce the
# intended exchange fails instead of writing a misleading capture. The expected files are then
# derived with the conformance corpus's tshark tool
# (../shared/conformance/tools/derive_expected.py) when it is present; the `notes` are
# written here.
#
# DTLS 1.3: OpenSSL 3.0 and GnuTLS 3.7 (Debian 12) have no DTLS 1.3, so no capture here has
# it (the conformance corpus's ndpi-dtls.pcap does, with a HelloRetryRequest).
#
# Servers listen on UDP ports 44400-44499 on 127.0.0.1 only. Keys and certificates are made
# in a temporary directory that is removed on exit.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${OUT:-$HERE}"
DERIVE="${DERIVE:-$HERE/../../../shared/conformance/tools/derive_expected.py}"
FILTER='udp portrange 44400-44499 and net 127.0.0.0/8'

die() { echo "make-dtls-captures: error: $*" >&2; exit 1; }
log() { echo "make-dtls-captures: $*" >&2; }
need() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found (install: $2)"; }
need tcpdump "apt-get install -y tcpdump"
need openssl "apt-get install -y openssl"
need ss "apt-get install -y iproute2"
[ "$(id -u)" = 0 ] || log "warning: not root; tcpdump may lack permission to capture on lo"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/hellowatch-dtls.XXXXXX")"
PIDS=()
stop_pid() {
    local pid=$1 sig=$2 i
    kill "-$sig" "$pid" 2>/dev/null || return 0
    for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}
cleanup() {
    local rc=$?
    set +e
    trap '' INT TERM HUP PIPE
    for p in "${PIDS[@]}"; do stop_pid "$p" TERM; done
    if [ "$rc" != 0 ]; then log "failed; last logs:"; tail -n 5 "$WORK"/*.log >&2 2>/dev/null; fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE

busy="$(ss -Hlun '( sport >= :44400 and sport <= :44499 )' || true)"
[ -z "$busy" ] || die "UDP ports 44400-44499 already in use:
$busy"

log "tools: $(openssl version); $(tcpdump --version 2>&1 | head -n 1)"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj /CN=localhost -keyout "$WORK/ec.key" -out "$WORK/ec.crt" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=localhost \
    -keyout "$WORK/rsa.key" -out "$WORK/rsa.crt" 2>/dev/null
STAGE="$WORK/out"
mkdir "$STAGE"

# capture NAME FUNCTION: runs FUNCTION while tcpdump writes $STAGE/NAME.pcap.
capture() {
    local name=$1 fn=$2 pid
    tcpdump -i lo -U -w "$STAGE/$name.pcap" "$FILTER" 2>"$WORK/tcpdump-$name.log" &
    pid=$!
    PIDS+=("$pid")
    sleep 1
    "$fn"
    sleep 0.5
    stop_pid "$pid" INT
    [ -s "$STAGE/$name.pcap" ] || die "$name: nothing captured"
    log "$name.pcap: $(tcpdump -r "$STAGE/$name.pcap" 2>/dev/null | wc -l) packets"
}

# server PORT ARGS...: one `s_server -listen` (stateless cookie exchange, so every handshake
# has a HelloVerifyRequest) for one connection, in the background.
server() {
    local port=$1
    shift
    openssl s_server -listen -accept "$port" -naccept 1 -quiet "$@" \
        >"$WORK/server-$port.log" 2>&1 </dev/null &
    PIDS+=("$!")
    sleep 0.5
}

# client LOG ARGS...: one `s_client` that sends a line and ends at end of input.
client() {
    local logf="$WORK/$1.log"
    shift
    echo "hello from a hellowatch DTLS test capture" |
        timeout 10 openssl s_client "$@" >"$logf" 2>&1 || true
}

# expect LOG PATTERN: the client's log must match.
expect() { grep -q "$2" "$WORK/$1.log" || die "$1: expected '$2' in the client's log"; }

dtls12() {
    server 44401 -dtls1_2 -cert "$WORK/ec.crt" -key "$WORK/ec.key"
    client dtls12 -dtls1_2 -bind 127.0.0.80:0 -connect 127.0.0.1:44401
    expect dtls12 'Protocol  : DTLSv1.2'
}
dtls10() {
    server 44402 -dtls1 -cipher 'DEFAULT:@SECLEVEL=0' -cert "$WORK/rsa.crt" -key "$WORK/rsa.key"
    client dtls10 -dtls1 -cipher 'DEFAULT:@SECLEVEL=0' -bind 127.0.0.81:0 -connect 127.0.0.1:44402
    expect dtls10 'Protocol  : DTLSv1$'
}
refused() {
    server 44403 -dtls1_2 -cert "$WORK/ec.crt" -key "$WORK/ec.key"
    client refused -dtls1 -cipher 'DEFAULT:@SECLEVEL=0' -bind 127.0.0.82:0 -connect 127.0.0.1:44403
    expect refused 'alert protocol version'
}
fragmented() {
    # A 256-byte MTU (OpenSSL's minimum) fragments the ClientHello (SNI and a long ALPN list)
    # and the server's certificate flight.
    server 44404 -dtls -cert "$WORK/ec.crt" -key "$WORK/ec.key"
    client fragmented -dtls -mtu 256 -servername fragmented.hellowatch.test \
        -alpn webrtc,c-webrtc,h2,http/1.1,x-long-protocol-name-one,x-long-protocol-name-two \
        -bind 127.0.0.83:0 -connect 127.0.0.1:44404
    expect fragmented 'Protocol  : DTLSv1.2'
}

capture dtls12-cookie dtls12
capture dtls10-cookie dtls10
capture refused-dtls10 refused
capture dtls12-fragmented-hello fragmented

mkdir -p "$OUT/expected"
mv "$STAGE"/*.pcap "$OUT/"
declare -A NOTES=(
    [dtls12-cookie]="OpenSSL 3.0 s_client -dtls1_2 -> s_server -dtls1_2 -listen: ClientHello, HelloVerifyRequest, ClientHello with the cookie (2 hellos), DTLS 1.2; the server flight fragments its certificate."
    [dtls10-cookie]="OpenSSL 3.0 s_client -dtls1 -> s_server -dtls1 -listen (SECLEVEL=0): DTLS 1.0 with HelloVerifyRequest (2 hellos), DTLS 1.0."
    [refused-dtls10]="OpenSSL 3.0 s_client -dtls1 -> s_server -dtls1_2 -listen: the DTLS 1.0 client passes the cookie exchange (2 hellos) and is refused with a plaintext protocol_version alert: a failed handshake."
    [dtls12-fragmented-hello]="OpenSSL 3.0 s_client -dtls -mtu 256 with SNI and a long ALPN list -> s_server -dtls -listen: both ClientHellos are split into 2 handshake fragments (2 hellos), DTLS 1.2."
)
if [ -f "$DERIVE" ] && command -v tshark >/dev/null 2>&1; then
    for name in "${!NOTES[@]}"; do
        python3 "$DERIVE" "$OUT/$name.pcap" | python3 -c '
import json, sys
d = json.load(sys.stdin)
d["notes"] = (sys.argv[1] + " " + d["notes"]).strip()
json.dump(d, sys.stdout, indent=2)
print()' "${NOTES[$name]}" >"$OUT/expected/$name.json"
        log "expected/$name.json"
    done
else
    log "warning: tshark or $DERIVE missing: expected/ not regenerated"
fi
