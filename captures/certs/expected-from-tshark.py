#!/usr/bin/env python3
"""expected-from-tshark.py CAPTURE > expected/STEM.json

The expected per-server facts of a capture, read by tshark alone (not by hellowatch): for
each server port, the negotiated version and cipher suite (ServerHello), and for TLS <= 1.2
the leaf of the server's Certificate message: SHA-256 of its DER, subject CN, SAN count, key
type and size, signature algorithm OID, validity, self-signed (issuer CN = subject CN), and
the problems at the time of the connection's first packet. tests/certificates.rs compares
hellowatch's report with it.
"""
import hashlib, json, re, subprocess, sys
from datetime import datetime, timezone

cap = sys.argv[1]


def fields(filt, *names):
    out = subprocess.run(
        ["tshark", "-r", cap, "-Y", filt, "-T", "fields", "-E", "occurrence=a",
         "-E", "aggregator=|", "-E", "separator=\t"] + sum([["-e", n] for n in names], []),
        check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def utc(text):  # "2020-01-01 00:00:00 (UTC)"
    d = datetime.strptime(text.replace(" (UTC)", ""), "%Y-%m-%d %H:%M:%S")
    return int(d.replace(tzinfo=timezone.utc).timestamp())


def rfc3339(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# The cipher suite names as tshark shows them.
names = {}
for m in re.finditer(r"Cipher Suite: (\S+) \((0x[0-9a-f]{4})\)", subprocess.run(
        ["tshark", "-r", cap, "-Y", "tls.handshake.type==2", "-V"],
        check=True, capture_output=True, text=True).stdout):
    names[m.group(2)] = m.group(1)

starts = {}
for stream, t in fields("tcp.flags.syn==1 && tcp.flags.ack==0", "tcp.stream", "frame.time_epoch"):
    starts.setdefault(stream, int(float(t)))

servers = {}
for stream, port, ver, suite, sv in fields(
        "tls.handshake.type==2", "tcp.stream", "tcp.srcport", "tls.handshake.version",
        "tls.handshake.ciphersuite", "tls.handshake.extensions.supported_version"):
    version = {"0x0303": "tls1.2", "0x0304": "tls1.3", "0x0302": "tls1.1", "0x0301": "tls1.0"}[
        sv or ver]
    servers[port] = {"negotiated": version, "cipher": names[suite], "stream": stream}

for row in fields("tls.handshake.type==11", "tcp.stream", "tcp.srcport",
                  "tls.handshake.certificate", "x509af.algorithm.id", "x509af.utcTime",
                  "x509sat.uTF8String", "x509sat.printableString", "x509ce.GeneralNames",
                  "pkcs1.modulus", "x509af.subjectPublicKey"):
    stream, port, certs, algs, times, utf8, printable, gn, modulus, spk = row
    if port not in servers:
        continue  # a client's Certificate message
    der = bytes.fromhex(certs.split("|")[0])
    algs = algs.split("|")
    cns = [s for s in (utf8.split("|") if utf8 else []) + (printable.split("|") if printable else [])]
    issuer_cn, subject_cn = cns[0], cns[-1]
    nb, na = [utc(t) for t in times.split("|")[:2]]
    if modulus:
        n = bytes.fromhex(modulus.split("|")[0]).lstrip(b"\0")
        key_type, bits = "rsa", (len(n) - 1) * 8 + n[0].bit_length()
    else:
        point = bytes.fromhex(spk.split("|")[0])
        key_type, bits = "ec", (len(point) - 1) * 4
    sig = algs[0]
    now = starts[stream]
    problems = []
    if sig in ("1.2.840.113549.1.1.5", "1.2.840.10045.4.1", "1.2.840.10040.4.3"):
        problems.append("sha1_signature")
    if sig in ("1.2.840.113549.1.1.4", "1.2.840.113549.1.1.2"):
        problems.append("md5_signature")
    if na < now:
        problems.append("expired")
    elif na <= now + 30 * 86400:
        problems.append("expires_30d")
    if issuer_cn == subject_cn:
        problems.append("self_signed")
    if (key_type == "rsa" and bits < 2048) or (key_type == "ec" and bits < 224):
        problems.append("weak_key")
    servers[port]["certificate"] = {
        "sha256": hashlib.sha256(der).hexdigest(),
        "subject_cn": subject_cn,
        "san_count": int(gn or 0),
        "key_type": key_type,
        "key_bits": bits,
        "signature_algorithm_oid": sig,
        "not_before": rfc3339(nb),
        "not_after": rfc3339(na),
        "self_signed": issuer_cn == subject_cn,
        "problems": problems,
    }

for s in servers.values():
    del s["stream"]
json.dump({"servers": {f"127.0.0.1:{p}": s for p, s in sorted(servers.items())}},
          sys.stdout, indent=2)
print()
