#!/usr/bin/env bash
# make-pq-capture.sh - regenerate chromium-pq.pcap: Debian's chromium (headless) fetching a
# page from an OpenSSL 3.0 `s_server -www` on loopback (127.0.0.1:44356 only; background
# networking, component updates and sync switched off), captured with tcpdump. Needs root
# (tcpdump), chromium, openssl, tcpdump, tshark.
#
# Chromium offers the post-quantum hybrid X25519MLKEM768 (0x11ec) in supported_groups and
# sends a key share of it beside x25519; OpenSSL 3.0 knows no ML-KEM and chooses x25519 (no
# HelloRetryRequest). So the capture shows the offered hybrid, not a negotiated one: a server
# with OpenSSL >= 3.5, BoringSSL or rustls (with its post-quantum provider) would choose it.
# The certificate is encrypted (TLS 1.3): the report counts it under tls13_encrypted.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${OUT:-$HERE}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/hellowatch-pq.XXXXXX")"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj /CN=localhost -keyout key.pem -out cert.pem 2>/dev/null
tcpdump -i lo -U -w cap.pcap 'tcp port 44356 and host 127.0.0.1' 2>/dev/null &
PIDS+=($!)
sleep 1
openssl s_server -accept 127.0.0.1:44356 -cert cert.pem -key key.pem -www -naccept 4 -quiet \
    </dev/null >/dev/null 2>&1 &
PIDS+=($!)
sleep 0.5
timeout 60 chromium --headless=new --no-sandbox --disable-gpu --ignore-certificate-errors \
    --user-data-dir="$WORK/profile" --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --disable-default-apps \
    --dump-dom https://127.0.0.1:44356/ >page.html 2>/dev/null
grep -q "s_server" page.html
sleep 1
kill -INT "${PIDS[0]}"; wait "${PIDS[0]}" 2>/dev/null || true
cp cap.pcap "$OUT/chromium-pq.pcap"
tshark -r "$OUT/chromium-pq.pcap" -Y 'tls.handshake.type==1 || tls.handshake.type==2' -T fields \
    -e tcp.srcport -e tls.handshake.type -e tls.handshake.extensions_key_share_group \
    -e tls.handshake.extensions_supported_group
