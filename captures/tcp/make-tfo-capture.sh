#!/usr/bin/env bash
# make-tfo-capture.sh - record real TCP Fast Open TLS handshakes (Linux stack, python ssl)
# inside a network namespace this script creates and removes: tcp-fastopen-linux.pcap.
#
# The kernel does TFO (net.ipv4.tcp_fastopen=3 in the namespace): the first connection asks
# for a cookie (its SYN carries the TFO option, the ClientHello follows the handshake), the
# second sends its ClientHello inside the SYN (sendto MSG_FASTOPEN) and the server accepts it.
# Both handshakes are TLS 1.3 between python ssl objects (OpenSSL 3). Traffic stays on the
# namespace's loopback.
#
# Needs root, iproute2, tcpdump, openssl, python3.   Usage: sudo captures/tcp/make-tfo-capture.sh
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${OUT:-$HERE}"
NS="hw-tfo-$$"
WORK="$(mktemp -d)"
TCPDUMP_PID=""
cleanup() {
    set +e
    [ -n "$TCPDUMP_PID" ] && kill -INT "$TCPDUMP_PID" 2>/dev/null && wait "$TCPDUMP_PID" 2>/dev/null
    ip netns del "$NS" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
ip netns add "$NS"
ip -n "$NS" link set lo up
ip netns exec "$NS" sysctl -qw net.ipv4.tcp_fastopen=3
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=tfo.hellowatch.test -keyout "$WORK/key.pem" -out "$WORK/crt.pem" 2>/dev/null
ip netns exec "$NS" tcpdump -i lo -U -s 0 -w "$WORK/tfo.pcap" 'tcp port 44380' 2>/dev/null &
TCPDUMP_PID=$!
sleep 1
ip netns exec "$NS" python3 - "$WORK" <<'EOF'
import socket, ssl, sys, threading
work = sys.argv[1]
ADDR = ("127.0.0.1", 44380)
TCP_FASTOPEN = getattr(socket, "TCP_FASTOPEN", 23)
MSG_FASTOPEN = getattr(socket, "MSG_FASTOPEN", 0x20000000)

srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.setsockopt(socket.IPPROTO_TCP, TCP_FASTOPEN, 16)
srv.bind(ADDR)
srv.listen(4)
sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
sctx.load_cert_chain(work + "/crt.pem", work + "/key.pem")

def serve():
    for _ in range(2):
        conn, _ = srv.accept()
        with sctx.wrap_socket(conn, server_side=True) as s:
            s.recv(100)
            s.sendall(b"pong")
threading.Thread(target=serve, daemon=True).start()

cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
cctx.check_hostname = False
cctx.verify_mode = ssl.CERT_NONE
for i in range(2):
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = cctx.wrap_bio(inc, out, server_hostname="tfo.hellowatch.test")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    sock = socket.socket()
    sock.sendto(out.read(), MSG_FASTOPEN, ADDR)   # the ClientHello rides in the SYN
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            pending = out.read()
            if pending:
                sock.sendall(pending)
            data = sock.recv(65536)
            if not data:
                raise SystemExit("server closed during the handshake")
            inc.write(data)
    pending = out.read()
    if pending:
        sock.sendall(pending)
    obj.write(b"ping")
    sock.sendall(out.read())
    while True:
        try:
            if obj.read(100) == b"pong":
                break
        except ssl.SSLWantReadError:
            inc.write(sock.recv(65536))
    sock.close()
    print("connection %d: %s" % (i + 1, obj.version()))
EOF
sleep 1
kill -INT "$TCPDUMP_PID"; wait "$TCPDUMP_PID" 2>/dev/null || true; TCPDUMP_PID=""
# The second SYN must carry the ClientHello (TFO with a cookie), or the capture is pointless.
syn_data=$(tshark -r "$WORK/tfo.pcap" -Y 'tcp.flags.syn==1 && tcp.flags.ack==0 && tcp.len>0' 2>/dev/null | wc -l)
[ "$syn_data" -ge 1 ] || { echo "make-tfo-capture: no SYN carried data (TFO not used)" >&2; exit 1; }
cp "$WORK/tfo.pcap" "$OUT/tcp-fastopen-linux.pcap"
echo "wrote $OUT/tcp-fastopen-linux.pcap ($syn_data SYN with data)"
