#!/usr/bin/env python3
"""make-tcp-captures.py - regenerate the TCP-state and tunnel regression captures.

Real TLS bytes, crafted TCP around them. Every ClientHello and server flight is
produced by a real TLS stack: Python's ssl module (OpenSSL 3) on both sides,
talking through memory BIOs. What is crafted is the TCP/IP framing around those
bytes: the segment sequences that real networks show and that a Linux stack on
loopback does not produce on demand (a Windows client's out-of-window RST on a
reused port, two SYN-ACKs with different ISNs answering a Fast Open SYN, pure
ACKs padded with zero bytes, a ClientHello with a broken vector, GTP-U and
CAPWAP tunnels). Nothing is sent anywhere: the packets are written straight to
pcap files. Addresses are from the documentation ranges (RFC 5737) and
private ranges.

Needs: python3 (3.8+, ssl with OpenSSL 3), openssl (to make a throwaway key and
self-signed certificate in a temporary directory). Deterministic framing (ports,
ISNs, timestamps); the TLS bytes (randoms, keys) differ per run.

Usage:  python3 captures/tcp/make-tcp-captures.py [OUTDIR]    (default: its own directory)

Then check each expected file with tshark (see README.md in this directory):
    python3 ../shared/conformance/tools/derive_expected.py captures/tcp/X.pcap
"""
import os
import ssl
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else HERE

ACK, PSH, RST, SYN, FIN = 0x10, 0x08, 0x04, 0x02, 0x01


# ---------------------------------------------------------------- TLS bytes

def make_cert(tmp):
    key, crt = os.path.join(tmp, "key.pem"), os.path.join(tmp, "crt.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-subj",
                    "/CN=tcp.hellowatch.test", "-days", "2", "-keyout", key,
                    "-out", crt], check=True, capture_output=True)
    return crt, key


def handshake(cert, cmax=None, cmin=None, smin=None, legacy=False):
    """Runs a real handshake between two ssl objects; returns the flights as a
    list of (from_client, bytes), and whether it completed."""
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    s = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    s.load_cert_chain(*cert)
    if legacy:
        for ctx in (c, s):
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            ctx.minimum_version = ssl.TLSVersion.TLSv1
    if cmax:
        c.maximum_version = cmax
    if cmin:
        c.minimum_version = cmin
    if smin:
        s.minimum_version = smin
    cin, cout, sin, sout = (ssl.MemoryBIO() for _ in range(4))
    co = c.wrap_bio(cin, cout, server_hostname="tcp.hellowatch.test")
    so = s.wrap_bio(sin, sout, server_side=True)
    flights, done = [], [False, False]
    for _ in range(10):
        for i, (obj, out, peer_in) in enumerate(((co, cout, sin), (so, sout, cin))):
            if not done[i]:
                try:
                    obj.do_handshake()
                    done[i] = True
                except ssl.SSLWantReadError:
                    pass
                except ssl.SSLError:
                    done[i] = True  # refused: its alert is in `out`
            data = out.read()
            if data:
                flights.append((i == 0, data))
                peer_in.write(data)
        if all(done):
            break
    return flights


# ---------------------------------------------------------------- packets

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ip4(src, dst, proto, payload, ident=0):
    a = bytes(int(x) for x in src.split("."))
    b = bytes(int(x) for x in dst.split("."))
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0x4000,
                    64, proto, 0, a, b)
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def tcp(src, dst, sport, dport, seq, ack, flags, payload=b"", win=502,
        opts=b""):
    while len(opts) % 4:
        opts += b"\x01"
    off = (20 + len(opts)) // 4
    h = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF,
                    ack & 0xFFFFFFFF, off << 4, flags, win, 0, 0) + opts
    a = bytes(int(x) for x in src.split("."))
    b = bytes(int(x) for x in dst.split("."))
    pseudo = a + b + struct.pack("!BBH", 0, 6, len(h) + len(payload))
    c = csum(pseudo + h + payload)
    h = h[:16] + struct.pack("!H", c) + h[18:]
    return ip4(src, dst, 6, h + payload)


def udp(src, dst, sport, dport, payload):
    return ip4(src, dst, 17, struct.pack("!HHHH", sport, dport,
                                         8 + len(payload), 0) + payload)


def eth(ip, src_mac=b"\x02\0\0\0\0\x01", dst_mac=b"\x02\0\0\0\0\x02"):
    return dst_mac + src_mac + b"\x08\x00" + ip


SYN_OPTS = b"\x02\x04\x05\xb4\x01\x03\x03\x07"          # MSS 1460, NOP, WS 7


class Pcap:
    def __init__(self, name):
        self.path = os.path.join(OUT, name)
        self.frames = []
        self.t = 1_764_633_600_000_000  # µs

    def add(self, frame, gap_us=1000):
        self.t += gap_us
        self.frames.append((self.t, frame))

    def write(self):
        with open(self.path, "wb") as f:
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
            for t, fr in self.frames:
                f.write(struct.pack("<IIII", t // 1_000_000, t % 1_000_000,
                                    len(fr), len(fr)))
                f.write(fr)
        print("wrote %s (%d frames)" % (self.path, len(self.frames)))


class Conn:
    """One TCP connection's framing: keeps both sequence numbers."""

    def __init__(self, pcap, c, s, cport, sport, cisn, sisn, wrap=None):
        self.p, self.c, self.s, self.cp, self.sp = pcap, c, s, cport, sport
        self.seq = [cisn, sisn]
        self.wrap = wrap or (lambda from_client, ip: eth(ip))

    def seg(self, from_client, flags, payload=b"", seq=None, ack=None,
            opts=b"", win=502, advance=True):
        i = 0 if from_client else 1
        src, dst = (self.c, self.s) if from_client else (self.s, self.c)
        sp, dp = (self.cp, self.sp) if from_client else (self.sp, self.cp)
        sq = self.seq[i] if seq is None else seq
        ak = self.seq[1 - i] if ack is None else ack
        self.p.add(self.wrap(from_client,
                             tcp(src, dst, sp, dp, sq, ak, flags, payload,
                                 win, opts)))
        if advance and seq is None:
            self.seq[i] = (self.seq[i] + len(payload)
                           + (1 if flags & (SYN | FIN) else 0)) & 0xFFFFFFFF

    def open(self):
        self.seg(True, SYN, opts=SYN_OPTS)
        self.seg(False, SYN | ACK, opts=SYN_OPTS)
        self.seg(True, ACK)

    def flights(self, flights, mss=1400):
        for from_client, data in flights:
            for at in range(0, len(data), mss):
                last = at + mss >= len(data)
                self.seg(from_client, ACK | (PSH if last else 0),
                         data[at:at + mss])
            self.seg(not from_client, ACK)

    def close(self):
        self.seg(True, FIN | ACK)
        self.seg(False, FIN | ACK)
        self.seg(True, ACK)


CLIENT, SERVER = "192.0.2.10", "198.51.100.20"


# ---------------------------------------------------------------- captures

def rst_port_reuse(cert):
    """Item 1: RSTs and SYNs on a reused 4-tuple."""
    p = Pcap("tcp-rst-port-reuse.pcap")
    # Connection 1: an ordinary TLS 1.2 handshake, closed with FINs.
    old = Conn(p, CLIENT, SERVER, 50000, 443, 0x10000000, 0x20000000)
    old.open()
    old.flights(handshake(cert, cmax=ssl.TLSVersion.TLSv1_2))
    old.close()
    # Connection 2, same 4-tuple (a Windows client reusing its port): the new SYN meets
    # the server's stale ACK of connection 1; the client answers it with a RST whose
    # sequence number is that ACK (outside the new connection), then retransmits the same
    # SYN; the handshake follows (a TLS 1.0 client).
    new = Conn(p, CLIENT, SERVER, 50000, 443, 0x70000000, 0x38000000)
    new.seg(True, SYN, opts=SYN_OPTS, advance=False)
    new.seg(False, ACK, seq=old.seq[1], ack=old.seq[0])
    new.seg(True, RST, seq=old.seq[0], ack=0)
    new.open()
    new.flights(handshake(cert, cmax=ssl.TLSVersion.TLSv1, legacy=True))
    new.close()
    # Connection 3: a SYN refused with a RST (accepted: it acknowledges the SYN), then
    # the same SYN again (same ISN) is answered: a new connection (TLS 1.3).
    third = Conn(p, CLIENT, SERVER, 50001, 443, 0x50000000, 0x60000000)
    third.seg(True, SYN, opts=SYN_OPTS, advance=False)
    third.seg(False, RST | ACK, seq=0, ack=0x50000001)
    third.open()
    third.flights(handshake(cert))
    third.close()
    # Connection 4: a RST in the window ends the connection mid-handshake (its hello
    # counts, failed); a spoofed RST far outside it before that is ignored.
    fourth = Conn(p, CLIENT, SERVER, 50002, 443, 0x0A000000, 0x0B000000)
    fourth.open()
    fourth.seg(False, RST, seq=0x0B000000 + 0x40000000, ack=0)
    fl = handshake(cert, cmax=ssl.TLSVersion.TLSv1_2)
    fourth.flights(fl[:1])
    fourth.seg(False, RST | ACK)
    p.write()


def tfo_two_synacks(cert):
    """Item 2: TCP Fast Open SYNs with the ClientHello; two SYN-ACKs, different ISNs."""
    p = Pcap("tcp-tfo-two-synacks.pcap")
    tfo = b"\x02\x04\x05\xb4\x01\x03\x03\x07\x22\x0a" + bytes(range(1, 9))
    # Connection 1: the server accepts the SYN data in its second SYN-ACK (ISN B); the
    # client confirms B; the server flight continues B.
    fl = handshake(cert)
    c = Conn(p, CLIENT, SERVER, 50010, 443, 0x11110000, 0)
    ch = fl[0][1]
    c.seg(True, SYN, ch, opts=tfo)
    c.seg(False, SYN | ACK, seq=0x22220000, ack=0x11110001, opts=SYN_OPTS,
          advance=False)
    c.seg(False, SYN | ACK, seq=0x55550000, ack=c.seq[0], opts=SYN_OPTS,
          advance=False)
    c.seq[1] = 0x55550001
    c.seg(True, ACK)
    c.flights(fl[1:])
    c.close()
    # Connection 2: the first SYN-ACK (ISN A) is the one the client confirms; the SYN data
    # was not accepted, the client sends the hello again after the handshake.
    fl = handshake(cert, cmax=ssl.TLSVersion.TLSv1_2)
    c = Conn(p, CLIENT, SERVER, 50011, 443, 0x33330000, 0)
    ch = fl[0][1]
    c.seg(True, SYN, ch, opts=tfo, advance=False)
    c.seq[0] = 0x33330001
    c.seg(False, SYN | ACK, seq=0x44440000, ack=0x33330001, opts=SYN_OPTS,
          advance=False)
    c.seg(False, SYN | ACK, seq=0x66660000, ack=0x33330001, opts=SYN_OPTS,
          advance=False)
    c.seq[1] = 0x44440001
    c.seg(True, ACK)
    c.flights(fl)
    c.close()
    p.write()


def zero_padding(cert):
    """Item 6: pure ACKs (and a SYN-ACK, a FIN) claiming 2 or 6 zero bytes at the next
    sequence number, before the real data at that same sequence number; and zero bytes
    that are data (no PSH, continued by the next segment)."""
    p = Pcap("tcp-zero-padding.pcap")
    clean = Pcap("tcp-zero-padding-without-padding.pcap")
    fl = handshake(cert)
    for pc, pad in ((p, True), (clean, False)):
        c = Conn(pc, CLIENT, SERVER, 50020, 443, 0x01000000, 0x02000000)
        c.seg(True, SYN, opts=SYN_OPTS)
        if pad:
            c.seg(False, SYN | ACK, b"\0\0", opts=SYN_OPTS, advance=False)
            c.seq[1] += 1
            c.seg(True, ACK, b"\0" * 6, advance=False)
            c.seg(True, ACK, b"\0\0", advance=False)
        else:
            c.seg(False, SYN | ACK, opts=SYN_OPTS)
            c.seg(True, ACK)
        for from_client, data in fl:
            if pad:
                c.seg(not from_client, ACK, b"\0" * 6, advance=False)
            c.seg(from_client, ACK | PSH, data)
        if pad:
            c.seg(True, FIN | ACK, b"\0\0", advance=False)
            c.seq[0] += 1
        else:
            c.seg(True, FIN | ACK)
        c.seg(False, FIN | ACK)
        c.seg(True, ACK)
    # Connection 2 (in both files): a TLS 1.2 ClientHello cut so that a segment holds only
    # two zero bytes, without PSH, continued by the next one: data, not padding.
    fl = handshake(cert, cmax=ssl.TLSVersion.TLSv1_2)
    ch = fl[0][1]
    k = next(i for i in range(10, len(ch) - 3) if ch[i] == 0 and ch[i + 1] == 0)
    for pc in (p, clean):
        c = Conn(pc, CLIENT, SERVER, 50021, 443, 0x03000000, 0x04000000)
        c.open()
        c.seg(True, ACK, ch[:k])
        c.seg(True, ACK, ch[k:k + 2])
        c.seg(True, ACK | PSH, ch[k + 2:])
        c.seg(False, ACK)
        c.flights(fl[1:])
        c.close()
    p.write()
    clean.write()


def malformed_hello(cert):
    """Item 6: a ClientHello whose cipher-suite length is one byte too long (the vector
    swallows the compression methods' length): a complete ClientHello message all the
    same. The server answers decode_error."""
    p = Pcap("tls-malformed-hello.pcap")
    fl = handshake(cert, cmax=ssl.TLSVersion.TLSv1_2)
    rec = bytearray(fl[0][1])
    # record (5) + handshake header (4) + version (2) + random (32), session id, ciphers.
    at = 5 + 4 + 2 + 32
    at += 1 + rec[at]
    n = struct.unpack("!H", rec[at:at + 2])[0]
    rec[at:at + 2] = struct.pack("!H", n + 1)
    c = Conn(p, CLIENT, SERVER, 50030, 443, 0x05000000, 0x06000000)
    c.open()
    c.seg(True, ACK | PSH, bytes(rec))
    c.seg(False, ACK | PSH, b"\x15\x03\x03\x00\x02\x02\x32")
    c.seg(False, RST | ACK)
    p.write()


def tunnels(cert):
    """Item 4 and 6: the same TLS 1.3 handshake inside GTP-U (UDP 2152, with a PDU
    session container extension header on the uplink) and inside a CAPWAP data channel
    (UDP 5247) carrying IEEE 802.11 frames with the frame control bytes swapped (as
    Cisco access points send them)."""
    fl = handshake(cert)
    ue, web = "10.45.0.7", "203.0.113.5"

    def gtp(from_client, ip):
        if from_client:  # E flag + PDU session container (type 0x85), uplink
            hdr = struct.pack("!BBHI", 0x34, 0xFF, len(ip) + 8, 0x1001)
            hdr += b"\0\0\0\x85" + b"\x01\x10\x05\x00"
        else:
            hdr = struct.pack("!BBHI", 0x30, 0xFF, len(ip), 0x2002)
        a, b = ("172.16.0.1", "172.16.0.2") if from_client else \
            ("172.16.0.2", "172.16.0.1")
        return eth(udp(a, b, 2152, 2152, hdr + ip))

    p = Pcap("tunnel-gtpu.pcap")
    c = Conn(p, ue, web, 41000, 443, 0x07000000, 0x08000000, wrap=gtp)
    c.open()
    c.flights(fl)
    c.close()
    p.write()

    sta, site = "192.168.50.23", "203.0.113.9"

    def capwap(from_client, ip):
        # Preamble 0; HLEN 4 words (wireless specific information: 4 bytes + padding),
        # WBID 1 (802.11), T (native frame), W.
        v = 4 << 19 | 1 << 9 | 1 << 8 | 1 << 5
        hdr = bytes([0, v >> 16 & 0xFF, v >> 8 & 0xFF, v & 0xFF, 0, 0, 0, 0])
        hdr += bytes([4, 0xBF, 0x23, 0, 0, 0, 0, 0])
        ds = 0x01 if from_client else 0x02          # To DS / From DS
        fc = bytes([ds, 0x08])                        # swapped: flags, then type
        w = fc + b"\x2c\x00" + b"\x02\0\0\0\0\x0a" + b"\x02\0\0\0\0\x0b" \
            + b"\x02\0\0\0\0\x0c" + b"\x10\x00"
        w += b"\xaa\xaa\x03\x00\x00\x00\x08\x00" + ip
        a, b = ("172.31.0.5", "172.31.0.1") if from_client else \
            ("172.31.0.1", "172.31.0.5")
        sp, dp = (41264, 5247) if from_client else (5247, 41264)
        return eth(udp(a, b, sp, dp, hdr + w))

    p = Pcap("tunnel-capwap.pcap")
    c = Conn(p, sta, site, 42000, 443, 0x09000000, 0x0A000000, wrap=capwap)
    c.open()
    c.flights(fl)
    c.close()
    p.write()


def main():
    with tempfile.TemporaryDirectory() as tmp:
        cert = make_cert(tmp)
        rst_port_reuse(cert)
        tfo_two_synacks(cert)
        zero_padding(cert)
        malformed_hello(cert)
        tunnels(cert)


if __name__ == "__main__":
    main()
