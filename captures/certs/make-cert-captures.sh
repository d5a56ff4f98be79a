#!/usr/bin/env bash
# make-cert-captures.sh - regenerate server-certs.pcap: OpenSSL 3.0 s_server/s_client and
# GnuTLS 3.7 gnutls-serv/gnutls-cli on loopback (127.0.0.1 only, ports 44350-44355), captured
# with tcpdump. Nothing leaves the machine. Needs root (tcpdump), openssl, gnutls-bin,
# tcpdump, tshark. The certificates are made fresh each run (new keys, new fingerprints), so
# a regenerated capture needs its expected file redone (see README.md).
#
#   44350  OpenSSL, TLS 1.2 ECDHE-RSA, leaf: self-signed, sha1WithRSAEncryption, RSA 1024,
#          2 SANs          -> sha1_signature, self_signed, weak_key
#   44351  OpenSSL, TLS 1.2 ECDHE-ECDSA, leaf: EC P-256 signed by a test CA, valid
#          2020-01-01 to 2021-01-01 (openssl ca -startdate/-enddate) -> expired
#   44352  OpenSSL, TLS 1.2, only AES128-SHA (static RSA key exchange), leaf: RSA 2048
#          signed by the test CA, valid 10 days, 3 SANs -> expires_30d; rsa_kx, cbc, sha1_mac
#   44353  GnuTLS, TLS 1.2, only 3DES-CBC with RSA key exchange (the same leaf)
#          -> TLS_RSA_WITH_3DES_EDE_CBC_SHA: 3des, cbc, rsa_kx, sha1_mac
#   44354  GnuTLS, TLS 1.2, only ARCFOUR-128 (the same leaf) -> TLS_ECDHE_RSA_WITH_RC4_128_SHA
#   44355  OpenSSL, TLS 1.3 (the same leaf): the certificate is encrypted -> tls13_encrypted
#
# OpenSSL 3.0 here has neither 3DES nor RC4 suites, even at SECLEVEL=0 or with the legacy
# provider (built without enable-weak-ssl-ciphers): GnuTLS serves those.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${OUT:-$HERE}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/hellowatch-certs.XXXXXX")"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"
q() { "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; "$@"; exit 1; }; }

# A: self-signed, SHA-1, RSA 1024.
q openssl req -x509 -newkey rsa:1024 -sha1 -nodes -days 3650 \
    -subj /CN=sha1-selfsigned.hellowatch.test \
    -addext 'subjectAltName=DNS:sha1-selfsigned.hellowatch.test,DNS:old.hellowatch.test' \
    -keyout a.key -out a.pem
# The test CA, and a minimal `openssl ca` setup for dates in the past.
q openssl req -x509 -newkey rsa:2048 -sha256 -nodes -days 3650 -subj '/CN=hellowatch test CA' \
    -keyout ca.key -out ca.pem
touch index.txt
echo 1000 >serial
cat >ca.cnf <<CNF
[ ca ]
default_ca = hw
[ hw ]
database = $WORK/index.txt
new_certs_dir = $WORK
serial = $WORK/serial
default_md = sha256
policy = anything
copy_extensions = copy
unique_subject = no
[ anything ]
commonName = supplied
CNF
# B: expired EC P-256.
q openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj /CN=expired.hellowatch.test -addext 'subjectAltName=DNS:expired.hellowatch.test' \
    -keyout b.key -out b.csr
q openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in b.csr -out b.pem -notext \
    -startdate 20200101000000Z -enddate 20210101000000Z
# C: RSA 2048, expires in 10 days.
q openssl req -new -newkey rsa:2048 -nodes -subj /CN=soon.hellowatch.test \
    -addext 'subjectAltName=DNS:soon.hellowatch.test,DNS:www.soon.hellowatch.test,IP:127.0.0.1' \
    -keyout c.key -out c.csr
q openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in c.csr -out c.pem -notext -days 10

tcpdump -i lo -U -w cap.pcap 'tcp portrange 44350-44355 and host 127.0.0.1' 2>/dev/null &
PIDS+=($!)
sleep 1
serve() { # serve PORT CERT ARGS...
    local port=$1 cert=$2; shift 2
    openssl s_server -accept "127.0.0.1:$port" -cert "$cert.pem" -key "$cert.key" \
        -naccept 1 -quiet "$@" </dev/null >/dev/null 2>&1 &
    PIDS+=($!)
    sleep 0.5
}
connect() { # connect PORT ARGS...
    local port=$1; shift
    echo | openssl s_client -connect "127.0.0.1:$port" -servername certs.hellowatch.test "$@" \
        >out.txt 2>&1 || true
    grep -q "Cipher is" out.txt || { cat out.txt >&2; exit 1; }
}
gserve() { # gserve PORT PRIORITY
    gnutls-serv -p "$1" --x509certfile c.pem --x509keyfile c.key --priority "$2" \
        >/dev/null 2>&1 &
    PIDS+=($!)
    sleep 1
}
gconnect() { # gconnect PORT PRIORITY
    gnutls-cli --insecure --priority "$2" -p "$1" --sni-hostname certs.hellowatch.test \
        127.0.0.1 </dev/null >out.txt 2>&1 || true
    grep -q "Description:" out.txt || { cat out.txt >&2; exit 1; }
}
serve 44350 a -tls1_2 -cipher 'ECDHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0'
connect 44350 -tls1_2 -cipher 'DEFAULT:@SECLEVEL=0'
serve 44351 b -tls1_2
connect 44351 -tls1_2
serve 44352 c -tls1_2 -cipher AES128-SHA
connect 44352 -tls1_2 -cipher AES128-SHA
P3DES='NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+3DES-CBC:-KX-ALL:+RSA'
gserve 44353 "$P3DES"
gconnect 44353 "$P3DES"
PRC4='NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+ARCFOUR-128'
gserve 44354 "$PRC4"
gconnect 44354 "$PRC4"
serve 44355 c -tls1_3
connect 44355 -tls1_3
sleep 1
kill -INT "${PIDS[0]}"; wait "${PIDS[0]}" 2>/dev/null || true
cp cap.pcap "$OUT/server-certs.pcap"
# What the expected file is checked against (README.md).
tshark -r "$OUT/server-certs.pcap" -Y 'tls.handshake.type==2' -T fields \
    -e tcp.srcport -e tls.handshake.version -e tls.handshake.ciphersuite \
    -e tls.handshake.extensions.supported_version
tshark -r "$OUT/server-certs.pcap" -Y 'tls.handshake.type==11' -T fields -E occurrence=f \
    -e tcp.srcport -e x509af.algorithm.id -e x509sat.printableString -e x509af.utcTime \
    -e x509ce.dNSName
