#!/usr/bin/env python3
"""Tiny servers that speak just enough of a plaintext protocol to be asked for
TLS, then hand the socket to Python's ssl module (the system OpenSSL): the TLS
stack on both ends is real, only the plaintext prelude is scripted here.

Used by make-upgrade-captures.sh for the protocols Debian has no small server
for (or whose real server needs more setup than a test capture deserves):
SMTP (and an SMTP server that refuses STARTTLS), FTP, XMPP, LDAP, MySQL, NNTP,
ManageSieve, a SOCKS5 proxy with username/password authentication, a plain
HTTP server that answers POSTs, a sink that records one ClientHello, a TLS
backend behind a PROXY-protocol load balancer (v1 line or v2 header), a
Microsoft SQL Server login prelude (TDS PRELOGIN with the TLS handshake
inside PRELOGIN packets), and
NoMachine-style banners and Gnutella's `Upgrade: TLS/1.0` handshake before
TLS.  For the last two there is no client in Debian either: `nx-client` and
`gnutella-client` connect (from --source) instead of listening.

Each server listens on 127.0.0.1 only, serves --count connections one after
another, and exits.  Usage: servers.py PROTO --port N [--cert C --key K]
[--legacy] [--count N] [--target HOST:PORT] [--out FILE]
"""
import argparse
import select
import socket
import ssl
import struct
import sys
import warnings

warnings.simplefilter("ignore", DeprecationWarning)  # ssl.TLSVersion.TLSv1

p = argparse.ArgumentParser()
p.add_argument("proto")
p.add_argument("--port", type=int, required=True)
p.add_argument("--cert")
p.add_argument("--key")
p.add_argument("--legacy", action="store_true",
               help="also accept TLS 1.0/1.1 (cipher string DEFAULT:@SECLEVEL=0)")
p.add_argument("--count", type=int, default=1)
p.add_argument("--target", help="SOCKS: where CONNECT requests may go")
p.add_argument("--out", help="sink: file for the ClientHello record")
p.add_argument("--source", help="clients: local address to connect from")
a = p.parse_args()


def log(*args):
    print("servers.py %s:" % a.proto, *args, file=sys.stderr, flush=True)


def tls_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    if a.legacy:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = ssl.TLSVersion.TLSv1
    return ctx


class Conn:
    """A plaintext connection with exact reads: nothing is read past what the
    protocol step needs (a MySQL client, say, sends its ClientHello right
    behind its SSL request), so the TLS handshake starts on the right byte."""

    def __init__(self, sock):
        self.s = sock

    def exactly(self, n):
        out = b""
        while len(out) < n:
            chunk = self.s.recv(n - len(out))
            if not chunk:
                raise EOFError("client closed")
            out += chunk
        return out

    def until(self, marker):
        out = b""
        while not out.endswith(marker):
            out += self.exactly(1)
        return out

    def line(self):
        return self.until(b"\n")

    def send(self, data):
        self.s.sendall(data)

    def start_tls(self):
        tls = tls_context().wrap_socket(self.s, server_side=True)
        log("TLS established:", tls.version())
        # Wait for the client to close (s_client does after its handshake).
        tls.settimeout(10)
        try:
            while tls.recv(4096):
                pass
        except (ssl.SSLError, OSError):
            pass
        try:
            tls.close()
        except OSError:
            pass


def smtp(c, refuse=False):
    c.send(b"220 localhost ESMTP hellowatch test server\r\n")
    while True:
        cmd = c.line().strip().upper()
        if cmd.startswith(b"EHLO") or cmd.startswith(b"HELO"):
            c.send(b"250-localhost\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n"
                   b"250 STARTTLS\r\n")
        elif cmd == b"STARTTLS" and refuse:
            c.send(b"454 4.7.0 TLS not available due to local problem\r\n")
            # The client may start its handshake anyway: that is plaintext
            # garbage to us.
            c.s.settimeout(5)
            try:
                if not c.s.recv(65536):
                    return
            except OSError:
                return
            c.send(b"500 5.5.2 Error: command not recognized\r\n")
            return
        elif cmd == b"STARTTLS":
            c.send(b"220 2.0.0 Ready to start TLS\r\n")
            return c.start_tls()
        elif cmd == b"QUIT":
            c.send(b"221 2.0.0 Bye\r\n")
            return
        else:
            c.send(b"500 5.5.2 Error: command not recognized\r\n")


def ftp(c):
    c.send(b"220-hellowatch test FTP server\r\n220 ready\r\n")
    while True:
        cmd = c.line().strip().upper()
        if cmd in (b"AUTH TLS", b"AUTH SSL"):
            c.send(b"234 Proceed with negotiation.\r\n")
            return c.start_tls()
        c.send(b"530 Please login with USER and PASS.\r\n")


def nntp(c):
    c.send(b"200 hellowatch test news server ready (posting ok)\r\n")
    while True:
        cmd = c.line().strip().upper()
        if cmd == b"CAPABILITIES":
            c.send(b"101 Capability list:\r\nVERSION 2\r\nREADER\r\nSTARTTLS\r\n.\r\n")
        elif cmd == b"STARTTLS":
            c.send(b"382 Continue with TLS negotiation\r\n")
            return c.start_tls()
        else:
            c.send(b"500 Unknown command\r\n")


def sieve(c):
    greeting = (b'"IMPLEMENTATION" "hellowatch test"\r\n"SIEVE" "fileinto"\r\n'
                b'"STARTTLS"\r\n"VERSION" "1.0"\r\nOK "ready"\r\n')
    c.send(greeting)
    while True:
        cmd = c.line().strip().upper()
        if cmd == b"STARTTLS":
            c.send(b'OK "Begin TLS negotiation now."\r\n')
            return c.start_tls()
        if cmd == b"CAPABILITY":
            c.send(greeting)
        else:
            c.send(b'NO "Unknown command"\r\n')


def xmpp(c):
    if c.until(b">").lstrip().startswith(b"<?xml"):
        c.until(b">")                   # the stream header after the declaration
    c.send(b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
           b"xmlns:stream='http://etherx.jabber.org/streams' id='hw1' "
           b"from='localhost' version='1.0'><stream:features>"
           b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/>"
           b"</starttls></stream:features>")
    c.until(b"/>")                      # <starttls xmlns='...'/>
    c.send(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    return c.start_tls()


def ber_message(c):
    head = c.exactly(2)
    n = head[1]
    if n & 0x80:
        n = int.from_bytes(c.exactly(n & 0x7f), "big")
    return head, c.exactly(n)


def ldap(c):
    _, body = ber_message(c)
    if b"1.3.6.1.4.1.1466.20037" not in body:
        raise RuntimeError("not a StartTLS request")
    msgid = body[2:2 + body[1]]
    oid = b"1.3.6.1.4.1.1466.20037"
    op = (b"\x0a\x01\x00" b"\x04\x00" b"\x04\x00"
          + b"\x8a" + bytes([len(oid)]) + oid)
    msg = b"\x02" + bytes([len(msgid)]) + msgid + b"\x78" + bytes([len(op)]) + op
    c.send(b"\x30" + bytes([len(msg)]) + msg)
    return c.start_tls()


def mysql(c):
    caps = 0x0200 | 0x0800 | 0x8000 | 0x80000 | 0x1 | 0x8  # PROTOCOL_41 SSL ...
    payload = (b"\x0a" + b"8.0.36-hellowatch\0" + struct.pack("<I", 7)
               + b"abcdefgh" + b"\0" + struct.pack("<H", caps & 0xffff)
               + b"\xff" + struct.pack("<H", 2) + struct.pack("<H", caps >> 16)
               + bytes([21]) + b"\0" * 10 + b"ijklmnopqrst\0"
               + b"caching_sha2_password\0")
    c.send(struct.pack("<I", len(payload))[:3] + b"\0" + payload)
    hdr = c.exactly(4)
    n = int.from_bytes(hdr[:3], "little")
    body = c.exactly(n)
    if n != 32 or not struct.unpack("<I", body[:4])[0] & 0x0800:
        raise RuntimeError("not an SSL request")
    return c.start_tls()


def relay(c, target):
    host, port = target.rsplit(":", 1)
    up = socket.create_connection((host, int(port)))
    down = c.s
    socks = [down, up]
    while True:
        r, _, _ = select.select(socks, [], [], 10)
        if not r:
            break
        for s in r:
            data = s.recv(65536)
            if not data:
                up.close()
                return
            (up if s is down else down).sendall(data)
    up.close()


def socks5auth(c):
    ver, n = c.exactly(2)
    methods = c.exactly(n)
    if ver != 5 or 2 not in methods:
        c.send(b"\x05\xff")
        return
    c.send(b"\x05\x02")
    _, ulen = c.exactly(2)
    user = c.exactly(ulen)
    plen = c.exactly(1)[0]
    pw = c.exactly(plen)
    if (user, pw) != (b"hellowatch", b"secret"):
        c.send(b"\x01\x01")
        return
    c.send(b"\x01\x00")
    ver, cmd, _, atyp = c.exactly(4)
    if atyp == 1:
        c.exactly(4)
    elif atyp == 3:
        c.exactly(c.exactly(1)[0])
    elif atyp == 4:
        c.exactly(16)
    c.exactly(2)
    if cmd != 1:
        c.send(b"\x05\x07\x00\x01\0\0\0\0\0\0")
        return
    c.send(b"\x05\x00\x00\x01\x7f\x00\x00\x01" + struct.pack(">H", a.port))
    relay(c, a.target)


def http_post(c):
    head = c.until(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    body = c.exactly(length)
    log("request %r, body %d bytes" % (head.split(b"\r\n")[0], len(body)))
    c.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
           b"Connection: close\r\n\r\nok\n")


def proxy_tls(c):
    """A TLS backend behind haproxy's send-proxy / send-proxy-v2: the PROXY
    header (read exactly), then TLS."""
    first = c.exactly(5)
    if first == b"PROXY":
        hdr = first + c.until(b"\r\n")
        log("PROXY v1: %r" % hdr.strip())
    else:
        hdr = first + c.exactly(7)
        if hdr[:12] != b"\r\n\r\n\x00\r\nQUIT\n":
            raise RuntimeError("no PROXY header: %r" % hdr)
        fixed = c.exactly(4)
        body = c.exactly(int.from_bytes(fixed[2:4], "big"))
        src = socket.inet_ntop(socket.AF_INET, body[:4]) if fixed[1] >> 4 == 1 else "?"
        log("PROXY v2: cmd %#x family %#x source %s" % (fixed[0], fixed[1], src))
    c.start_tls()


def nomachine(c):
    """NoMachine's exchange of version banners, then TLS (as in nDPI's
    nomachine capture: client NXSH-x.y.z, server NXD-x.y.z)."""
    banner = c.line()
    if not banner.startswith(b"NXSH-"):
        raise RuntimeError("not an NX client: %r" % banner)
    c.send(b"NXD-8.10.1\n")
    c.start_tls()


def gnutella(c):
    """A Gnutella 0.6 servent accepting `Upgrade: TLS/1.0`: the request
    head, a 200 head agreeing to the upgrade, then TLS (the client's final
    200 head travels inside TLS)."""
    head = c.until(b"\r\n\r\n")
    if not head.startswith(b"GNUTELLA CONNECT/0.6\r\n") or b"Upgrade: TLS/1.0" not in head:
        raise RuntimeError("not a Gnutella TLS upgrade: %r" % head[:40])
    c.send(b"GNUTELLA/0.6 200 OK\r\nUser-Agent: hellowatch-test/1.0\r\n"
           b"X-Ultrapeer: True\r\nUpgrade: TLS/1.0\r\nConnection: Upgrade\r\n\r\n")
    c.start_tls()


def client_tls(sock, hostname=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if a.legacy:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1
    tls = ctx.wrap_socket(sock, server_hostname=hostname)
    print(tls.version(), flush=True)
    return tls


def nx_client():
    s = socket.create_connection(("127.0.0.1", a.port), timeout=15,
                                 source_address=(a.source, 0))
    c = Conn(s)
    c.send(b"NXSH-8.10.1\n")
    if not c.line().startswith(b"NXD-"):
        raise RuntimeError("no NXD banner")
    client_tls(s).close()


def gnutella_client():
    s = socket.create_connection(("127.0.0.1", a.port), timeout=15,
                                 source_address=(a.source, 0))
    c = Conn(s)
    c.send(b"GNUTELLA CONNECT/0.6\r\nUser-Agent: hellowatch-test/1.0\r\n"
           b"X-Ultrapeer: False\r\nUpgrade: TLS/1.0\r\n\r\n")
    head = c.until(b"\r\n\r\n")
    if b" 200 " not in head.split(b"\r\n")[0]:
        raise RuntimeError("refused: %r" % head[:40])
    tls = client_tls(s)
    tls.sendall(b"GNUTELLA/0.6 200 OK\r\n\r\n")
    tls.close()


def tds_packet(c):
    """One TDS packet: (type, status, payload)."""
    hdr = c.exactly(8)
    return hdr[0], hdr[1], c.exactly(int.from_bytes(hdr[2:4], "big") - 8)


def tds_send(c, ptype, payload, size=4096):
    """Sends a TDS message, split into packets of at most `size` bytes."""
    chunks = [payload[i:i + size - 8] for i in range(0, len(payload), size - 8)] or [b""]
    for n, chunk in enumerate(chunks):
        last = 1 if n == len(chunks) - 1 else 0
        c.send(bytes([ptype, last]) + (len(chunk) + 8).to_bytes(2, "big") + b"\0\0"
               + bytes([(n + 1) & 0xff, 0]) + chunk)


def tds(c):
    """Microsoft SQL Server's TDS 7.x login prelude (MS-TDS 2.2.6.5, 3.2.5.2):
    PRELOGIN / PRELOGIN response with ENCRYPT_ON, then the TLS handshake
    carried inside PRELOGIN (0x12) packets in both directions, driven through
    Python ssl's memory BIOs; once it completes TLS records travel bare.  The
    client's LOGIN7 then arrives inside TLS; the server stops there."""
    ptype, _, prelogin = tds_packet(c)
    if ptype != 0x12:
        raise RuntimeError("not a PRELOGIN: type %#x" % ptype)
    log("PRELOGIN, %d bytes" % len(prelogin))
    opts = [(0x00, b"\x0f\x00\x07\xd0\x00\x00"),  # VERSION 15.0.2000
            (0x01, b"\x01"),                      # ENCRYPTION: ENCRYPT_ON
            (0x02, b"\x00"),                      # INSTOPT
            (0x03, b""),                           # THREADID
            (0x04, b"\x00")]                      # MARS off
    head, data, at = b"", b"", 5 * len(opts) + 1
    for tok, val in opts:
        head += bytes([tok]) + (at + len(data)).to_bytes(2, "big") + len(val).to_bytes(2, "big")
        data += val
    tds_send(c, 0x04, head + b"\xff" + data)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    ctx = tls_context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    tls = ctx.wrap_bio(inc, out, server_side=True)
    while True:
        ptype, _, payload = tds_packet(c)
        if ptype != 0x12:
            raise RuntimeError("TLS handshake packet of type %#x" % ptype)
        inc.write(payload)
        try:
            tls.do_handshake()
            done = True
        except ssl.SSLWantReadError:
            done = False
        pending = out.read()
        if pending:
            tds_send(c, 0x12, pending)
        if done:
            break
    log("TLS established:", tls.version())
    c.s.settimeout(5)
    try:
        inc.write(c.s.recv(65536))
        login = tls.read(65536)
        log("LOGIN7 inside TLS: TDS packet type %#x" % login[0])
    except (ssl.SSLError, OSError, IndexError):
        pass


def sink(c):
    hdr = c.exactly(5)
    rec = hdr + c.exactly(int.from_bytes(hdr[3:5], "big"))
    with open(a.out, "wb") as f:
        f.write(rec)
    log("recorded a %d-byte record" % len(rec))


HANDLERS = {
    "smtp": smtp,
    "smtp-refuse": lambda c: smtp(c, refuse=True),
    "ftp": ftp,
    "nntp": nntp,
    "sieve": sieve,
    "xmpp": xmpp,
    "ldap": ldap,
    "mysql": mysql,
    "socks5auth": socks5auth,
    "http-post": http_post,
    "sink": sink,
    "proxy-tls": proxy_tls,
    "nomachine": nomachine,
    "gnutella": gnutella,
    "tds": tds,
}

CLIENTS = {
    "nx-client": nx_client,
    "gnutella-client": gnutella_client,
}
if a.proto in CLIENTS:
    CLIENTS[a.proto]()
    sys.exit(0)

handler = HANDLERS[a.proto]
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", a.port))
srv.listen(4)
for _ in range(a.count):
    s, peer = srv.accept()
    s.settimeout(15)
    try:
        handler(Conn(s))
    except (EOFError, OSError, RuntimeError, ssl.SSLError) as e:
        log("connection from %s: %s" % (peer[0], e))
    finally:
        try:
            s.close()
        except OSError:
            pass
srv.close()
