#!/usr/bin/env bash
# make-cipher-captures.sh - regenerate weak-ciphers.pcap: OpenSSL 3 s_server/s_client on
# loopback (127.0.0.1 only, ports 44340-44342), captured with tcpdump. Nothing leaves the
# machine. Needs root (tcpdump), openssl, tcpdump, tshark.
#
#   44340  TLS 1.2, only TLS_RSA_WITH_NULL_SHA256 (NULL-SHA256@SECLEVEL=0): null, rsa_kx
#   44341  TLS 1.2, only TLS_RSA_WITH_AES_128_CBC_SHA (static RSA key exchange): cbc, rsa_kx,
#          sha1_mac
#   44342  TLS 1.3, groups x25519 only: group_chosen x25519
#
# Not here: 3DES and RC4 (this OpenSSL 3.0 build offers neither, not even at SECLEVEL=0; an
# OpenSSL 1.1.1 s_server, or 3.x with enable-weak-ssl-ciphers and the legacy provider, would),
# and X25519MLKEM768 (OpenSSL >= 3.5, or BoringSSL/Chrome, offers it; this machine
# has OpenSSL 3.0).
#
# expected/weak-ciphers.json: the client census from
# ../shared/conformance/tools/derive_expected.py, plus "ciphers" and "group_chosen" totals
# counted by tshark:
#   tshark -r weak-ciphers.pcap -Y tls.handshake.type==2 -T fields \
#       -e tls.handshake.ciphersuite -e tls.handshake.extensions_key_share_group
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${OUT:-$HERE}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/hellowatch-ciphers.XXXXXX")"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=localhost \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
tcpdump -i lo -U -w "$WORK/cap.pcap" 'tcp portrange 44340-44342 and host 127.0.0.1' 2>/dev/null &
PIDS+=($!)
sleep 1
serve() { # serve PORT ARGS...
    local port=$1; shift
    openssl s_server -accept "127.0.0.1:$port" -cert "$WORK/cert.pem" -key "$WORK/key.pem" \
        -naccept 1 -quiet "$@" </dev/null >/dev/null 2>&1 &
    PIDS+=($!)
    sleep 0.5
}
connect() { # connect PORT ARGS...
    local port=$1; shift
    echo | openssl s_client -connect "127.0.0.1:$port" -servername weak.hellowatch.test "$@" \
        >"$WORK/out.txt" 2>&1 || true
    grep -q "^    Cipher is\|Cipher is" "$WORK/out.txt" || { cat "$WORK/out.txt" >&2; exit 1; }
}
serve 44340 -tls1_2 -cipher 'NULL-SHA256@SECLEVEL=0'
connect 44340 -tls1_2 -cipher 'NULL-SHA256@SECLEVEL=0'
serve 44341 -tls1_2 -cipher 'AES128-SHA'
connect 44341 -tls1_2 -cipher 'AES128-SHA'
serve 44342 -tls1_3 -groups x25519
connect 44342 -tls1_3
sleep 1
kill -INT "${PIDS[0]}"; wait "${PIDS[0]}" 2>/dev/null || true
cp "$WORK/cap.pcap" "$OUT/weak-ciphers.pcap"
tshark -r "$OUT/weak-ciphers.pcap" -Y tls.handshake.type==2 -T fields \
    -e tls.handshake.ciphersuite -e tls.handshake.extensions_key_share_group
