#!/usr/bin/env bash
# make-captures.sh - regenerate every capture in this directory from scratch.
#
# All traffic is between real TLS stacks (OpenSSL 3 s_server/s_client, GnuTLS
# gnutls-cli, curl, Python's ssl module) on the loopback interface only
# (127.0.0.0/8 and ::1), captured with tcpdump.  Nothing leaves the machine.
#
# Needs: bash, tcpdump, openssl, gnutls-cli, curl, python3, editcap, ss, and
# root (or CAP_NET_RAW) for tcpdump.  On Debian 12:
#     apt-get install -y tcpdump openssl gnutls-bin curl python3 tshark iproute2
# (tshark pulls in wireshark-common, which provides editcap.)
#
# Usage:   sudo captures/make-captures.sh            # writes into captures/
#          OUT=/some/dir captures/make-captures.sh   # writes elsewhere
#
# The script is idempotent: every capture is overwritten.  Which handshakes
# happen is deterministic (the bytes, ports and timestamps differ per run),
# and every client's outcome is checked, so a run that did not produce the
# intended handshake fails instead of writing a misleading capture.  The
# expected census files in expected/ describe those handshakes; after a
# regeneration re-check them (see README.md).
#
# Servers listen on fixed ports 44301-44399 on 127.0.0.1 / ::1 only; the
# capture filter keeps unrelated loopback traffic out.  Keys and certificates
# are generated into a temporary directory that is removed on exit.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${OUT:-$HERE}"
PY="${PYTHON:-python3}"
FILTER='tcp portrange 44300-44399 and (net 127.0.0.0/8 or ip6 host ::1)'

die() { echo "make-captures: error: $*" >&2; exit 1; }
log() { echo "make-captures: $*" >&2; }

need() {
    command -v "$1" >/dev/null 2>&1 || die "'$1' not found (install: $2)"
}
need tcpdump    "apt-get install -y tcpdump"
need openssl    "apt-get install -y openssl"
need gnutls-cli "apt-get install -y gnutls-bin"
need curl       "apt-get install -y curl"
need "$PY"      "apt-get install -y python3"
need editcap    "apt-get install -y tshark   # editcap is in wireshark-common"
need ss         "apt-get install -y iproute2"
[ "$(id -u)" = 0 ] || log "warning: not root; tcpdump may lack permission to capture on lo"

mkdir -p "$OUT"
log "tools: $(openssl version | cut -d' ' -f1-2); $(gnutls-cli --version | head -n 1);" \
    "$(curl --version | head -n 1 | cut -d' ' -f1-2); Python $("$PY" -c 'import platform, ssl; print(platform.python_version(), "with", ssl.OPENSSL_VERSION)');" \
    "$(tcpdump --version 2>&1 | head -n 1)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/hellowatch-captures.XXXXXX")"
SERVER_PIDS=()
TCPDUMP_PID=""

# stop_pid PID SIGNAL: send SIGNAL, wait up to 10 s, then SIGKILL.
#   (A tcpdump that gets SIGINT while it is still starting up can miss it.)
stop_pid() {
    local pid=$1 sig=$2 i
    kill "-$sig" "$pid" 2>/dev/null || return 0
    for i in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

cleanup() {
    local rc=$?
    set +e
    trap '' INT TERM HUP PIPE   # finish cleaning up whatever happens
    [ -n "$TCPDUMP_PID" ] && stop_pid "$TCPDUMP_PID" INT
    for p in "${SERVER_PIDS[@]}"; do stop_pid "$p" TERM; done
    if [ "$rc" != 0 ] && [ -d "$WORK" ]; then
        log "failed; last logs:"
        tail -n 5 "$WORK"/*.log >&2 2>/dev/null
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE

# --- refuse to run if something else already listens in our port range ----
busy="$(ss -Hltn '( sport >= :44300 and sport <= :44399 )' || true)"
[ -z "$busy" ] || die "ports 44300-44399 already in use:
$busy"

# --- keys and self-signed certificates (temporary, never written to OUT) ---
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=localhost \
    -keyout "$WORK/rsa.key" -out "$WORK/rsa.crt" 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -days 3650 -subj /CN=localhost \
    -keyout "$WORK/ec.key" -out "$WORK/ec.crt" 2>/dev/null

# Captures are written to $STAGE and moved to $OUT only when all succeeded.
STAGE="$WORK/out"
mkdir "$STAGE" "$WORK/www"
echo "hello from a hellowatch test capture" >"$WORK/www/hello.txt"

# --- a small Python ssl client (Python's ssl module = the system OpenSSL) --
cat >"$WORK/client.py" <<'PYEOF'
"""One TLS handshake from a chosen loopback source address; checks outcome."""
import argparse, socket, ssl, sys, time, warnings
warnings.simplefilter("ignore", DeprecationWarning)  # TLSv1/TLSv1_1 enums
V = {"1.0": ssl.TLSVersion.TLSv1, "1.1": ssl.TLSVersion.TLSv1_1,
     "1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
p = argparse.ArgumentParser()
p.add_argument("--src", required=True)
p.add_argument("--dst", required=True)
p.add_argument("--port", type=int, required=True)
p.add_argument("--min", choices=V)
p.add_argument("--max", choices=V)
p.add_argument("--seclevel0", action="store_true",
               help="cipher string DEFAULT:@SECLEVEL=0 (needed for TLS<1.2)")
p.add_argument("--alpn", default="")
p.add_argument("--sni")
p.add_argument("--split", type=int,
               help="write the ClientHello in chunks of this many bytes, "
                    "one send() (= one TCP segment, TCP_NODELAY) each")
p.add_argument("--expect", required=True,
               help="TLSv1.x, or error:REASON for a refused handshake")
a = p.parse_args()
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
if a.seclevel0:
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
if a.min:
    ctx.minimum_version = V[a.min]
if a.max:
    ctx.maximum_version = V[a.max]
if a.alpn:
    ctx.set_alpn_protocols(a.alpn.split(","))
fam = socket.AF_INET6 if ":" in a.dst else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
s.settimeout(10)
s.bind((a.src, 0))
s.connect((a.dst, a.port))


def split_handshake():
    """Same OpenSSL handshake, driven through memory BIOs so that the first
    flight (the ClientHello record) can be written in several pieces."""
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=a.sni)
    first = True
    while True:
        try:
            obj.do_handshake()
            done = True
        except ssl.SSLWantReadError:
            done = False
        data = out.read()
        if data and first:
            first = False
            for i in range(0, len(data), a.split):
                s.sendall(data[i:i + a.split])
                time.sleep(0.02)   # keep the kernel from coalescing writes
        elif data:
            s.sendall(data)
        if done:
            break
        chunk = s.recv(65536)
        if not chunk:
            raise ssl.SSLEOFError("EOF during handshake")
        inc.write(chunk)
    got = obj.version()
    try:
        obj.unwrap()
    except ssl.SSLError:
        pass
    s.sendall(out.read())  # encrypted close_notify
    s.close()
    return got


try:
    if a.split:
        got = split_handshake()
    else:
        tls = ctx.wrap_socket(s, server_hostname=a.sni)
        got = tls.version()
        try:
            tls.unwrap()      # encrypted close_notify, wait for the peer's
        except (ssl.SSLError, OSError):
            pass
        tls.close()
except ssl.SSLError as e:
    got = "error:%s" % (e.reason or e)
    s.close()
print("python %s -> %s:%d: %s" % (a.src, a.dst, a.port, got))
if got != a.expect:
    sys.exit("unexpected outcome %r (wanted %r)" % (got, a.expect))
PYEOF

# --- helpers ---------------------------------------------------------------
# (Timeouts are generous: a loaded machine can be slow to start things.)
wait_listen() {  # PORT
    local i
    for i in $(seq 600); do
        [ -n "$(ss -Hltn "sport = :$1")" ] && return 0
        sleep 0.1
    done
    die "server on port $1 did not start"
}

# start_server NAME HOST PORT CERT s_server-options...
#   HOST is 127.0.0.1 or [::1].  -WWW serves files from $WORK/www (curl asks
#   for the tiny /hello.txt, which keeps the captures small) and, unlike the
#   plain mode, does not read stdin.
start_server() {
    local name=$1 host=$2 port=$3 cert=$4
    shift 4
    (cd "$WORK/www" && exec openssl s_server -accept "$host:$port" \
        -cert "$WORK/$cert.crt" -key "$WORK/$cert.key" -WWW "$@" \
        </dev/null >"$WORK/server-$name.log" 2>&1) &
    SERVER_PIDS+=("$!")
    wait_listen "$port"
}

# capture_start FILE [extra tcpdump options]
capture_start() {
    local f="$STAGE/$1" i
    shift
    rm -f "$f"
    log "capturing $(basename "$f")"
    # -B 32768: in immediate mode libpcap's ring has one MTU-sized (64 KiB on
    # lo) slot per packet, so the default 2 MiB buffer holds only ~30 packets
    # and a busy machine can drop some (checked in capture_stop).
    tcpdump -i lo --immediate-mode -s 0 -B 32768 -U -Z root "$@" -w "$f" "$FILTER" \
        2>"$WORK/tcpdump.log" &
    TCPDUMP_PID=$!
    for i in $(seq 600); do
        grep -q "listening on" "$WORK/tcpdump.log" 2>/dev/null && break
        kill -0 "$TCPDUMP_PID" 2>/dev/null \
            || die "tcpdump exited: $(cat "$WORK/tcpdump.log")"
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

py() { "$PY" "$WORK/client.py" "$@" >&2; }

# ossl SRC HOST PORT EXPECT s_client-options...
#   EXPECT is the negotiated protocol (TLSv1, TLSv1.1, TLSv1.2, TLSv1.3) or
#   "alert:TEXT" for a handshake the server refuses.  stdin is /dev/null:
#   s_client completes the handshake, then sees EOF and closes.  -brief only
#   changes what s_client prints (one reliable "Protocol version:" line).
ossl() {
    local src=$1 host=$2 port=$3 expect=$4 out="$WORK/s_client.log"
    shift 4
    openssl s_client -brief -connect "$host:$port" -bind "$src" "$@" \
        </dev/null >"$out" 2>&1 || true
    case "$expect" in
        alert:*) grep -q "${expect#alert:}" "$out" \
                     || die "s_client $src -> $port: wanted ${expect#alert:}: $(tail -n 3 "$out")" ;;
        *) grep -q "^Protocol version: $expect\$" "$out" \
               || die "s_client $src -> $port: wanted $expect: $(grep -E 'Protocol|error' "$out" | head -n 3)" ;;
    esac
    echo "s_client $src -> $host:$port: $expect" >&2
}

# gtls HOST PORT EXPECT gnutls-cli-options...   (source is always 127.0.0.1
#   or ::1: gnutls-cli cannot bind a source address).  EXPECT e.g. TLS1.3.
gtls() {
    local host=$1 port=$2 expect=$3 out="$WORK/gnutls-cli.log"
    shift 3
    gnutls-cli --insecure -p "$port" "$@" "$host" </dev/null >"$out" 2>&1 || true
    grep -q "Handshake was completed" "$out" \
        && grep -q "^- Description: ($expect-" "$out" \
        || die "gnutls-cli -> $port: wanted $expect: $(grep -E '^(- Desc|\*\*\*)' "$out" | head -n 3)"
    echo "gnutls-cli -> $host:$port: $expect" >&2
}

# curlc SRC URL EXPECT curl-options...   EXPECT e.g. TLSv1.3
curlc() {
    local src=$1 url=$2 expect=$3 out="$WORK/curl.log"
    shift 3
    curl -v -sS -k --interface "$src" -o /dev/null "$@" "$url" >"$out" 2>&1 \
        || die "curl $src $url failed: $(tail -n 3 "$out")"
    grep -q "SSL connection using $expect " "$out" \
        || die "curl $src $url: wanted $expect: $(grep 'SSL connection' "$out")"
    echo "curl $src -> $url: $expect" >&2
}

# --- servers (all started before any capture, so no probe is captured) ----
# 44301 "modern": OpenSSL defaults, TLS 1.2 and 1.3.
start_server modern 127.0.0.1 44301 rsa
# 44302 "legacy": allows TLS 1.0 .. 1.3 (SECLEVEL=0 is needed for TLS < 1.2).
start_server legacy 127.0.0.1 44302 rsa -cipher 'DEFAULT:@SECLEVEL=0' -min_protocol TLSv1
# 44303 "strict": TLS 1.2 minimum; answers a TLS 1.0-only hello with a
#   plaintext protocol_version alert.
start_server strict 127.0.0.1 44303 rsa -no_tls1 -no_tls1_1 -min_protocol TLSv1.2
# 44304 / 44305: TLS 1.0 only / TLS 1.1 only.
start_server tls10 127.0.0.1 44304 rsa -tls1 -cipher 'DEFAULT:@SECLEVEL=0'
start_server tls11 127.0.0.1 44305 rsa -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0'
# 44310: TLS 1.3 with P-384 as the only group -> HelloRetryRequest for clients
#   whose first key share is X25519 (OpenSSL) or P-256 (GnuTLS).
start_server hrr 127.0.0.1 44310 ec -tls1_3 -groups P-384
# 44320: TLS 1.2 only, on IPv6 loopback.
start_server v6 '[::1]' 44320 rsa -tls1_2
# 44340: answers ALPN with http/1.1 (curl offers h2,http/1.1).
start_server alpn 127.0.0.1 44340 ec -alpn http/1.1

# === 1. demo-legacy-mix.pcap ================================================
# The README's demo: seven clients, four servers, what an operator wants to
# see (12 connections; 127.0.0.0/8 sources are picked per client).
#   127.0.0.10  curl, modern TLS 1.3 client           -> modern, legacy
#   127.0.0.11  python, TLS 1.2-only client            -> modern, strict
#   127.0.0.12  python + s_client, TLS 1.0 client     -> legacy (negotiates 1.0)
#   127.0.0.13  python + s_client, TLS 1.0-only client -> strict: refused with a
#               plaintext protocol_version alert (failed handshakes)
#   127.0.0.14  s_client -tls1_1                       -> legacy (negotiates 1.1)
#   127.0.0.1   gnutls-cli (cannot bind a source)      -> modern, legacy (TLS 1.3)
#   ::1         s_client, offers TLS 1.3   -> TLS 1.2-only server on [::1]
#               (negotiates TLS 1.2: the server, not the client, is old)
# curl asks for *.hellowatch.test names (pinned with --resolve, no DNS), so
# its hellos carry SNI; the other clients connect to bare addresses.
capture_start demo-legacy-mix.pcap
curlc 127.0.0.10 https://modern.hellowatch.test:44301/hello.txt TLSv1.3 \
    --resolve modern.hellowatch.test:44301:127.0.0.1
py --src 127.0.0.11 --dst 127.0.0.1 --port 44301 --max 1.2 --expect TLSv1.2
py --src 127.0.0.12 --dst 127.0.0.1 --port 44302 --min 1.0 --max 1.0 --seclevel0 --expect TLSv1
py --src 127.0.0.13 --dst 127.0.0.1 --port 44303 --min 1.0 --max 1.0 --seclevel0 \
   --expect error:TLSV1_ALERT_PROTOCOL_VERSION
ossl 127.0.0.14 127.0.0.1 44302 TLSv1.1 -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0'
gtls 127.0.0.1 44301 TLS1.3
curlc 127.0.0.10 https://legacy.hellowatch.test:44302/hello.txt TLSv1.3 \
    --resolve legacy.hellowatch.test:44302:127.0.0.1
py --src 127.0.0.11 --dst 127.0.0.1 --port 44303 --max 1.2 --expect TLSv1.2
ossl 127.0.0.12 127.0.0.1 44302 TLSv1 -tls1 -cipher 'DEFAULT:@SECLEVEL=0'
ossl 127.0.0.13 127.0.0.1 44303 'alert:alert protocol version' -tls1 -cipher 'DEFAULT:@SECLEVEL=0'
gtls 127.0.0.1 44302 TLS1.3
ossl '[::1]' '[::1]' 44320 TLSv1.2
capture_stop

# === 2. tls13-hrr.pcap ======================================================
# TLS 1.3 HelloRetryRequest: the server only accepts P-384 key shares.
#   127.0.0.30  s_client (key share X25519, P-384 in supported_groups):
#               ClientHello, HRR, second ClientHello, ServerHello.
#   127.0.0.1   gnutls-cli (key shares P-256 and X25519): same dance.
capture_start tls13-hrr.pcap
ossl 127.0.0.30 127.0.0.1 44310 TLSv1.3
gtls 127.0.0.1 44310 TLS1.3
capture_stop

# === 3. tls12-ipv6.pcap =====================================================
# TLS 1.2 over IPv6 loopback; server is TLS 1.2 only.
#   ::1  s_client with defaults (supported_versions 1.3, 1.2, 1.1, 1.0;
#        negotiates 1.2), then python limited to TLS 1.2 (no
#        supported_versions extension, legacy version 1.2).
capture_start tls12-ipv6.pcap
ossl '[::1]' '[::1]' 44320 TLSv1.2
py --src ::1 --dst ::1 --port 44320 --max 1.2 --expect TLSv1.2
capture_stop

# === 4. split-hello.pcap ====================================================
# A ClientHello spread over several TCP segments.  On lo a hello never
# splits by itself (MTU 65536), and TCP_MAXSEG does not help either: lo is a
# GSO device, so tcpdump sees the unsegmented super-packet.  So the python
# client drives OpenSSL through memory BIOs and writes the ClientHello record
# in 150-byte pieces, one send() each with TCP_NODELAY: the hello (with SNI
# and a long ALPN list, ~520 bytes) arrives in 4 TCP segments.
#   127.0.0.40  python, TLS 1.3, one hello in 4 segments.
capture_start split-hello.pcap
py --src 127.0.0.40 --dst 127.0.0.1 --port 44301 --split 150 \
   --sni split-hello.hellowatch.test \
   --alpn h2,http/1.1,spdy/3.1,h2c,hq-interop,acme-tls/1,imap,pop3,managesieve,xmpp-client \
   --expect TLSv1.3
capture_stop

# === 5. tls10-openssl.pcap / tls11-openssl.pcap =============================
# One plain handshake each, openssl s_client -> s_server, both pinned to the
# version (OpenSSL 3 needs SECLEVEL=0 on both ends for TLS < 1.2).
capture_start tls10-openssl.pcap
ossl 127.0.0.50 127.0.0.1 44304 TLSv1 -tls1 -cipher 'DEFAULT:@SECLEVEL=0'
capture_stop
capture_start tls11-openssl.pcap
ossl 127.0.0.51 127.0.0.1 44305 TLSv1.1 -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0'
capture_stop

# === 6. refused-tls10.pcap ==================================================
# Only the refused client: python offering TLS 1.0 only -> TLS 1.2-minimum
# server -> plaintext protocol_version alert, no ServerHello.
capture_start refused-tls10.pcap
py --src 127.0.0.13 --dst 127.0.0.1 --port 44303 --min 1.0 --max 1.0 --seclevel0 \
   --expect error:TLSV1_ALERT_PROTOCOL_VERSION
capture_stop

# === 7. gnutls-tls13.pcap ===================================================
# One gnutls-cli TLS 1.3 handshake (from 127.0.0.1: gnutls-cli cannot bind).
capture_start gnutls-tls13.pcap
gtls 127.0.0.1 44301 TLS1.3
capture_stop

# === 8. curl-alpn.pcap ======================================================
# curl (libcurl + OpenSSL) offering ALPN h2,http/1.1 and SNI
# alpn.hellowatch.test (--resolve, no DNS); the server selects http/1.1 and
# answers the GET (s_server -WWW).  127.0.0.20: one TLS 1.3 connection, one
# capped at TLS 1.2 (--tls-max 1.2).
capture_start curl-alpn.pcap
curlc 127.0.0.20 https://alpn.hellowatch.test:44340/hello.txt TLSv1.3 \
    --resolve alpn.hellowatch.test:44340:127.0.0.1
curlc 127.0.0.20 https://alpn.hellowatch.test:44340/hello.txt TLSv1.2 \
    --resolve alpn.hellowatch.test:44340:127.0.0.1 --tls-max 1.2
capture_stop

# === 9. tls13-nanosec.pcap ==================================================
# Same kind of handshake as the modern demo client, written with nanosecond
# timestamps (pcap magic a1b23c4d).  127.0.0.60: python, TLS 1.3.
capture_start tls13-nanosec.pcap --time-stamp-precision=nano
py --src 127.0.0.60 --dst 127.0.0.1 --port 44301 --expect TLSv1.3
capture_stop

# === 11. fallback-scsv.pcap =================================================
# TLS_FALLBACK_SCSV (RFC 7507): a client that retries with a lower version
# after a failed attempt marks the retry with the SCSV cipher suite 0x5600.
#   127.0.0.70  python (its default minimum is TLS 1.2) -> TLS 1.0-only server:
#               refused with a plaintext protocol_version alert; then the
#               retry, s_client -tls1 -fallback_scsv: TLS 1.0 is the server's
#               best, so the SCSV is no reason to refuse and TLS 1.0 is
#               negotiated.
#   127.0.0.71  s_client -tls1_2 -fallback_scsv -> strict server (TLS 1.2-1.3):
#               the server has a better version, so it refuses the retry with a
#               plaintext inappropriate_fallback alert.
capture_start fallback-scsv.pcap
py --src 127.0.0.70 --dst 127.0.0.1 --port 44304 --expect error:TLSV1_ALERT_PROTOCOL_VERSION
ossl 127.0.0.70 127.0.0.1 44304 TLSv1 -tls1 -fallback_scsv -cipher 'DEFAULT:@SECLEVEL=0'
ossl 127.0.0.71 127.0.0.1 44303 'alert:alert inappropriate fallback' -tls1_2 -fallback_scsv
capture_stop

# === 10. demo-legacy-mix-ng.pcapng ==========================================
# The demo converted to pcapng (tcpdump writes only pcap).
editcap -F pcapng "$STAGE/demo-legacy-mix.pcap" "$STAGE/demo-legacy-mix-ng.pcapng"

# === checks with tshark (optional: skipped when tshark is not installed) ====
# Every client's outcome was checked above; these check what the wire shows.
if command -v tshark >/dev/null 2>&1; then
    ts() { tshark -2 -n -r "$STAGE/$1" -o tcp.desegment_tcp_streams:TRUE "${@:2}" 2>/dev/null; }
    HRR=cf:21:ad:74:e5:9a:61:11:be:1d:8c:02:1e:65:b8:91:c2:a2:11:16:7a:bb:8c:5e:07:9e:09:e2:c8:a8:33:9c
    n="$(ts tls13-hrr.pcap -Y "tls.handshake.random == $HRR" | wc -l)"
    [ "$n" = 2 ] || die "tls13-hrr.pcap: expected 2 HelloRetryRequests, tshark sees $n"
    n="$(ts split-hello.pcap -Y 'tls.handshake.type == 1' -T fields -e tcp.segment.count)"
    [ "${n:-0}" -ge 3 ] || die "split-hello.pcap: ClientHello spans ${n:-0} TCP segments, wanted >= 3"
    [ "$(od -An -tx1 -N4 "$STAGE/tls13-nanosec.pcap" | tr -d ' ')" = 4d3cb2a1 ] \
        || die "tls13-nanosec.pcap is not a nanosecond pcap"
    # ClientHello totals against expected/*.json (hellos summed over clients)
    for f in "$STAGE"/*; do
        b="$(basename "$f")"
        exp="$HERE/expected/${b%.*}.json"
        [ -f "$exp" ] || continue
        want="$("$PY" -c 'import json,sys; print(sum(c.get("hellos", 0) for c in json.load(open(sys.argv[1]))["clients"].values()))' "$exp")"
        got="$(ts "$b" -Y 'tls.handshake.type == 1' -T fields -e tls.handshake.type | tr ',' '\n' | grep -cx 1 || true)"
        [ "$got" = "$want" ] || die "$b: tshark sees $got ClientHellos, $exp expects $want"
    done
    log "tshark checks passed"
else
    log "tshark not installed: skipping the wire checks"
fi

# All captures made and checked: only now replace the old ones.
for f in "$STAGE"/*; do mv -f "$f" "$OUT/"; done
log "done:"
( cd "$OUT" && ls -l ./*.pcap ./*.pcapng ) >&2
