#!/usr/bin/env bash
# make-upgrade-captures.sh - regenerate every capture in this directory: TLS that
# begins after a plaintext protocol upgrade (STARTTLS and friends, proxies,
# database SSL requests), plus the negative cases (a refused STARTTLS, a
# refused CONNECT, a rejected SOCKS request, a ClientHello sent as the body of
# an HTTP POST).
#
# Real software wherever Debian has a server that runs without ceremony:
#   Dovecot (IMAP, POP3), PostgreSQL 15 (server and psql), tinyproxy (HTTP
#   CONNECT), Dante (SOCKS4/5), OpenSSL s_server behind the proxies; clients
#   are OpenSSL s_client (-starttls smtp|imap|pop3|ftp|xmpp|ldap|postgres|
#   mysql|nntp|sieve), psql and curl.
# For SMTP, FTP, XMPP, LDAP, MySQL, NNTP, ManageSieve, SOCKS5 with a password
# and the HTTP POST sink, servers.py (next to this script) speaks just enough
# of the plaintext protocol and then wraps the socket with Python's ssl module:
# the TLS stacks on both ends are real (OpenSSL), only the prelude is scripted.
#
# Wrappers and TLS after plaintext (section "wrappers"): xrdp + xfreerdp (RDP
# X.224 negotiation selecting TLS, TLS 1.3 and TLS 1.0), InspIRCd with its
# starttls module + s_client -starttls irc, haproxy send-proxy/send-proxy-v2 in
# front of a servers.py TLS backend, FreeTDS tsql against a servers.py SQL
# Server login prelude (TLS inside TDS PRELOGIN packets), NoMachine-style
# banners and Gnutella's
# `Upgrade: TLS/1.0` (servers.py on both ends), and an HTTP CONNECT through
# tinyproxy whose 200 answer (and the proxy's SYN-ACK) is then cut from the
# capture with editcap (an upgrade whose reply was not captured).
#
# Needs root (tcpdump on lo, servers on their standard ports so that tshark's
# dissectors recognise the protocols: 21 25 80 110 119 143 389 443 1080 3128
# 3306 4190 5222 5432, then 1433 3389 4000 4433 4443 6346 6667 8441 8442, all on
# 127.0.0.1 only).  On Debian 12:
#   apt-get install -y tcpdump openssl curl python3 iproute2 dovecot-imapd \
#       dovecot-pop3d postgresql tinyproxy dante-server \
#       xrdp freerdp2-x11 xvfb inspircd haproxy freetds-bin tshark
#
# Usage:   captures/upgrades/make-upgrade-captures.sh          # writes here
#          OUT=/some/dir captures/upgrades/make-upgrade-captures.sh
#          ONLY=wrappers captures/upgrades/make-upgrade-captures.sh
#              # only these sections: "upgrades" (STARTTLS, proxies,
#              # databases), "wrappers" (the ones above)
# Idempotent: every capture is overwritten, and written only when all of them
# succeeded.  Every client's outcome is checked.  The expected census files in
# expected/ describe these handshakes; re-check them after a regeneration with
# tshark (README.md).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${OUT:-$HERE}"
PY="${PYTHON:-python3}"
SERVERS="$HERE/servers.py"
PORTS=()

die() { echo "make-upgrade-captures: error: $*" >&2; exit 1; }
log() { echo "make-upgrade-captures: $*" >&2; }
need() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found (install: $2)"; }
ONLY="${ONLY:-}"
want() { [ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]]; }
need tcpdump    "apt-get install -y tcpdump"
need openssl    "apt-get install -y openssl"
need curl       "apt-get install -y curl"
need "$PY"      "apt-get install -y python3"
need ss         "apt-get install -y iproute2"
need tinyproxy  "apt-get install -y tinyproxy"
if want upgrades; then
    PORTS+=(21 25 80 110 119 143 389 443 1080 3128 3306 4190 5222 5432)
    need dovecot    "apt-get install -y dovecot-imapd dovecot-pop3d"
    need danted     "apt-get install -y dante-server"
    need psql       "apt-get install -y postgresql"
    PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    [ -x "$PGBIN/initdb" ] || die "PostgreSQL server not found (install: apt-get install -y postgresql)"
fi
if want wrappers; then
    need xrdp       "apt-get install -y xrdp"
    need xfreerdp   "apt-get install -y freerdp2-x11"
    need xvfb-run   "apt-get install -y xvfb"
    need inspircd   "apt-get install -y inspircd"
    need haproxy    "apt-get install -y haproxy"
    need tsql       "apt-get install -y freetds-bin"
    need tshark     "apt-get install -y tshark"
    need editcap    "apt-get install -y tshark"
    PORTS+=(1433 3128 3389 4000 4433 4443 6346 6667 8441 8442)
fi
[ "$(id -u)" = 0 ] || die "must run as root (tcpdump on lo, servers on ports below 1024)"

for p in "${PORTS[@]}"; do
    [ -z "$(ss -Hltn "sport = :$p")" ] || die "port $p is already in use"
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/hellowatch-upgrades.XXXXXX")"
chmod 755 "$WORK"
STAGE="$WORK/out"
mkdir "$STAGE" "$WORK/www"
echo "hello from a hellowatch upgrade capture" >"$WORK/www/hello.txt"
SERVER_PIDS=()
TCPDUMP_PID=""
PG_DATA=""

stop_pid() {  # PID SIGNAL: signal, wait up to 10 s, then SIGKILL
    local pid=$1 sig=$2 i
    kill "-$sig" "$pid" 2>/dev/null || return 0
    for i in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true  # its exit status (143 after SIGTERM) is not checked
    return 0
}

cleanup() {
    local rc=$?
    set +e
    [ -n "$TCPDUMP_PID" ] && stop_pid "$TCPDUMP_PID" INT
    for p in "${SERVER_PIDS[@]}"; do stop_pid "$p" TERM; done
    [ -n "$PG_DATA" ] && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null 2>&1
    if [ "$rc" != 0 ]; then
        log "failed; last logs:"
        tail -n 5 "$WORK"/*.log >&2 2>/dev/null
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=localhost \
    -keyout "$WORK/rsa.key" -out "$WORK/rsa.crt" 2>/dev/null
chmod 644 "$WORK/rsa.key"   # readable by the servers' unprivileged users; removed on exit

wait_listen() {  # PORT
    local i
    for i in $(seq 600); do
        [ -n "$(ss -Hltn "sport = :$1")" ] && return 0
        sleep 0.1
    done
    die "server on port $1 did not start"
}

wait_closed() {  # PORT: the server has exited
    local i
    for i in $(seq 300); do
        [ -z "$(ss -Hltn "sport = :$1")" ] && return 0
        sleep 0.1
    done
    die "server on port $1 did not exit"
}

# pyserver NAME PORT servers.py-args...: a one-shot server (exits after --count)
pyserver() {
    local name=$1 port=$2
    shift 2
    "$PY" "$SERVERS" "$name" --port "$port" --cert "$WORK/rsa.crt" --key "$WORK/rsa.key" \
        "$@" >"$WORK/$name.log" 2>&1 &
    SERVER_PIDS+=("$!")
    wait_listen "$port"
}

capture_start() {  # FILE PORT
    local f="$STAGE/$1" i
    rm -f "$f"
    log "capturing $1"
    tcpdump -i lo --immediate-mode -s 0 -B 32768 -U -Z root -w "$f" \
        "tcp port $2 and net 127.0.0.0/8" 2>"$WORK/tcpdump.log" &
    TCPDUMP_PID=$!
    for i in $(seq 600); do
        grep -aq "listening on" "$WORK/tcpdump.log" 2>/dev/null && break
        kill -0 "$TCPDUMP_PID" 2>/dev/null || die "tcpdump exited: $(cat "$WORK/tcpdump.log")"
        sleep 0.1
    done
    grep -aq "listening on" "$WORK/tcpdump.log" || die "tcpdump did not start: $(cat -v "$WORK/tcpdump.log")"
    sleep 0.5
}

capture_stop() {
    sleep 1
    stop_pid "$TCPDUMP_PID" INT
    TCPDUMP_PID=""
    grep -q "^0 packets dropped by kernel" "$WORK/tcpdump.log" \
        || die "tcpdump dropped packets: $(cat "$WORK/tcpdump.log")"
}

# starttls SRC PORT PROTO EXPECT s_client-options...
#   EXPECT: the negotiated protocol (TLSv1, TLSv1.1, TLSv1.2, TLSv1.3), or
#   "fail" for a handshake that must not complete.  stdin is /dev/null: the
#   client completes the handshake, sees EOF and closes.
starttls() {
    local src=$1 port=$2 proto=$3 expect=$4 out="$WORK/s_client.log"
    shift 4
    timeout 30 openssl s_client -brief -connect "127.0.0.1:$port" -bind "$src" \
        -starttls "$proto" "$@" </dev/null >"$out" 2>&1 || true
    if [ "$expect" = fail ]; then
        grep -q "^Protocol version:" "$out" && die "s_client $proto: handshake completed"
    else
        grep -q "^Protocol version: $expect\$" "$out" \
            || die "s_client $proto: wanted $expect: $(grep -E 'Protocol|error' "$out" | head -n 3)"
    fi
    echo "s_client -starttls $proto $src -> :$port: $expect" >&2
}

# curlc SRC URL EXPECT curl-options...: EXPECT a TLS version, or "fail:TEXT"
curlc() {
    local src=$1 url=$2 expect=$3 out="$WORK/curl.log"
    shift 3
    if curl -v -sS -k --interface "$src" -o /dev/null "$@" "$url" >"$out" 2>&1; then
        case "$expect" in
            fail:*) die "curl $url succeeded, wanted ${expect#fail:}" ;;
        esac
        grep -q "SSL connection using $expect " "$out" \
            || die "curl $url: wanted $expect: $(grep 'SSL connection' "$out")"
    else
        case "$expect" in
            fail:*) grep -q "${expect#fail:}" "$out" || die "curl $url: $(tail -n 2 "$out")" ;;
            *) die "curl $url failed: $(tail -n 3 "$out")" ;;
        esac
    fi
    echo "curl $src $* $url: $expect" >&2
}

if want upgrades; then
# The TLS server behind the proxies (the proxy-to-server leg is not captured).
(cd "$WORK/www" && exec openssl s_server -accept 127.0.0.1:443 -cert "$WORK/rsa.crt" \
    -key "$WORK/rsa.key" -WWW </dev/null >"$WORK/s_server.log" 2>&1) &
SERVER_PIDS+=("$!")
wait_listen 443

# === SMTP STARTTLS (servers.py; a TLS 1.0-only client, like an old MTA) ======
#   127.0.0.25  EHLO, STARTTLS, 220, TLS 1.0 (legacy)
pyserver smtp 25 --legacy
capture_start smtp-starttls.pcap 25
starttls 127.0.0.25 25 smtp TLSv1 -tls1 -cipher DEFAULT:@SECLEVEL=0
capture_stop
wait_closed 25

# === SMTP STARTTLS refused: 454, then s_client sends its ClientHello anyway ===
#   127.0.0.26  the hello is plaintext garbage to the server: counts nothing
pyserver smtp-refuse 25
capture_start smtp-starttls-refused.pcap 25
starttls 127.0.0.26 25 smtp fail
capture_stop
wait_closed 25

# === IMAP and POP3 (Dovecot) =================================================
#   127.0.0.143  IMAP  ". STARTTLS" / ". OK", TLS 1.3
#   127.0.0.110  POP3  STLS / +OK, a TLS 1.1-only client (legacy)
mkdir -p "$WORK/dovecot/run" "$WORK/dovecot/state" "$WORK/dovecot/mail"
cat >"$WORK/dovecot.conf" <<EOF
protocols = imap pop3
listen = 127.0.0.1
base_dir = $WORK/dovecot/run
state_dir = $WORK/dovecot/state
log_path = $WORK/dovecot.log
ssl = yes
ssl_cert = <$WORK/rsa.crt
ssl_key = <$WORK/rsa.key
ssl_min_protocol = TLSv1
ssl_cipher_list = DEFAULT:@SECLEVEL=0
passdb {
  driver = static
  args = password=unused
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$WORK/dovecot/mail
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = 143
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = 110
  }
  inet_listener pop3s {
    port = 0
  }
}
EOF
dovecot -F -c "$WORK/dovecot.conf" >"$WORK/dovecot-stderr.log" 2>&1 &
DOVECOT_PID=$!
SERVER_PIDS+=("$DOVECOT_PID")
wait_listen 143
wait_listen 110
capture_start imap-starttls.pcap 143
starttls 127.0.0.143 143 imap TLSv1.3
capture_stop
capture_start pop3-stls.pcap 110
starttls 127.0.0.110 110 pop3 TLSv1.1 -tls1_1 -cipher DEFAULT:@SECLEVEL=0
capture_stop
stop_pid "$DOVECOT_PID" TERM

# === FTP AUTH TLS, XMPP, LDAP, MySQL, NNTP, ManageSieve (servers.py) =========
#   127.0.0.21   FTP   AUTH TLS / 234, TLS 1.2-only client
#   127.0.0.52   XMPP  <starttls/> / <proceed/>, TLS 1.3
#   127.0.0.89   LDAP  StartTLS extended operation / success, TLS 1.3
#   127.0.0.33   MySQL SSL request right behind the greeting, TLS 1.1-only (legacy)
#   127.0.0.119  NNTP  CAPABILITIES, STARTTLS / 382, TLS 1.3
#   127.0.0.41   ManageSieve STARTTLS / OK, TLS 1.2-only client
pyserver ftp 21
capture_start ftp-auth-tls.pcap 21
starttls 127.0.0.21 21 ftp TLSv1.2 -tls1_2
capture_stop
pyserver xmpp 5222
capture_start xmpp-starttls.pcap 5222
starttls 127.0.0.52 5222 xmpp TLSv1.3 -xmpphost localhost
capture_stop
pyserver ldap 389
capture_start ldap-starttls.pcap 389
starttls 127.0.0.89 389 ldap TLSv1.3
capture_stop
pyserver mysql 3306 --legacy
capture_start mysql-ssl.pcap 3306
starttls 127.0.0.33 3306 mysql TLSv1.1 -tls1_1 -cipher DEFAULT:@SECLEVEL=0
capture_stop
pyserver nntp 119
capture_start nntp-starttls.pcap 119
starttls 127.0.0.119 119 nntp TLSv1.3
capture_stop
pyserver sieve 4190
capture_start sieve-starttls.pcap 4190
starttls 127.0.0.41 4190 sieve TLSv1.2 -tls1_2
capture_stop

# === PostgreSQL 15: psql (libpq, sslmode=require) and s_client ==============
#   127.0.0.1   psql: SSLRequest / S, TLS 1.3, then a query
#   127.0.0.54  s_client -starttls postgres, TLS 1.2-only client
PG_DATA="$WORK/pg/data"
mkdir -p "$WORK/pg"
cp "$WORK/rsa.crt" "$WORK/rsa.key" "$WORK/pg/"
chown -R postgres "$WORK/pg"
chmod 600 "$WORK/pg/rsa.key"
runuser -u postgres -- "$PGBIN/initdb" -D "$PG_DATA" -A trust -U postgres >"$WORK/initdb.log" 2>&1
cat >>"$PG_DATA/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = 5432
unix_socket_directories = '$WORK/pg'
ssl = on
ssl_cert_file = '$WORK/pg/rsa.crt'
ssl_key_file = '$WORK/pg/rsa.key'
EOF
echo "hostssl all all 127.0.0.0/8 trust" >"$PG_DATA/pg_hba.conf"
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PG_DATA" -l "$WORK/pg/postgres.log" -w start >/dev/null
capture_start postgres-ssl.pcap 5432
got="$(psql "host=127.0.0.1 port=5432 user=postgres dbname=postgres sslmode=require gssencmode=disable" \
    -Atc "select version from pg_stat_ssl where pid = pg_backend_pid()")"
[ "$got" = TLSv1.3 ] || die "psql: wanted TLSv1.3, got '$got'"
echo "psql sslmode=require -> :5432: $got" >&2
starttls 127.0.0.54 5432 postgres TLSv1.2 -tls1_2
capture_stop
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null
PG_DATA=""

# === HTTP CONNECT through tinyproxy =========================================
#   127.0.0.31  curl -x: CONNECT 127.0.0.1:443 / 200, TLS 1.3
#   127.0.0.32  curl -x to a proxy that wants credentials: 407, curl gives up
#               (no TLS)
cat >"$WORK/tinyproxy.conf" <<EOF
Port 3128
Listen 127.0.0.1
Timeout 30
MaxClients 4
Allow 127.0.0.0/8
ConnectPort 443
DisableViaHeader Yes
EOF
sed 's/^DisableViaHeader Yes$/DisableViaHeader Yes\nBasicAuth hellowatch secret/' \
    "$WORK/tinyproxy.conf" >"$WORK/tinyproxy-auth.conf"
tinyproxy -d -c "$WORK/tinyproxy.conf" >"$WORK/tinyproxy.log" 2>&1 &
TP_PID=$!
SERVER_PIDS+=("$TP_PID")
wait_listen 3128
capture_start http-connect.pcap 3128
curlc 127.0.0.31 https://127.0.0.1/hello.txt TLSv1.3 -x http://127.0.0.1:3128
capture_stop
stop_pid "$TP_PID" TERM
wait_closed 3128
tinyproxy -d -c "$WORK/tinyproxy-auth.conf" >"$WORK/tinyproxy-auth.log" 2>&1 &
TP_PID=$!
SERVER_PIDS+=("$TP_PID")
wait_listen 3128
capture_start http-connect-407.pcap 3128
curlc 127.0.0.32 https://127.0.0.1/hello.txt "fail:response 407" -x http://127.0.0.1:3128
capture_stop
stop_pid "$TP_PID" TERM

# === SOCKS through Dante (no authentication) ================================
#   127.0.0.4  curl --socks4, TLS 1.2-only client (curl --tls-max 1.2)
#   127.0.0.5  curl --socks5-hostname, TLS 1.3
#   127.0.0.7  curl --socks4a: Dante rejects the request (0x5b); no TLS
cat >"$WORK/danted.conf" <<EOF
logoutput: stderr
internal: 127.0.0.1 port = 1080
external: 127.0.0.1
clientmethod: none
socksmethod: none
user.privileged: root
user.unprivileged: nobody
client pass {
  from: 127.0.0.0/8 to: 0.0.0.0/0
}
socks pass {
  from: 127.0.0.0/8 to: 0.0.0.0/0
  command: connect
  protocol: tcp
}
EOF
danted -f "$WORK/danted.conf" >"$WORK/danted.log" 2>&1 &
DANTE_PID=$!
SERVER_PIDS+=("$DANTE_PID")
wait_listen 1080
capture_start socks4.pcap 1080
curlc 127.0.0.4 https://127.0.0.1/hello.txt TLSv1.2 --socks4 127.0.0.1:1080 --tls-max 1.2
capture_stop
capture_start socks5.pcap 1080
curlc 127.0.0.5 https://localhost/hello.txt TLSv1.3 --socks5-hostname 127.0.0.1:1080
capture_stop
capture_start socks4a-rejected.pcap 1080
curlc 127.0.0.7 https://localhost/hello.txt "fail:request rejected" --socks4a 127.0.0.1:1080
capture_stop
stop_pid "$DANTE_PID" TERM
wait_closed 1080

# === SOCKS5 with username/password (servers.py relays to s_server) ==========
#   127.0.0.6  curl --socks5 hellowatch:secret@, TLS 1.3
pyserver socks5auth 1080 --target 127.0.0.1:443
capture_start socks5-auth.pcap 1080
curlc 127.0.0.6 https://127.0.0.1/hello.txt TLSv1.3 --socks5 hellowatch:secret@127.0.0.1:1080
capture_stop
wait_closed 1080

# === A byte-perfect ClientHello as the body of an HTTP POST ==================
#   The hello is recorded first (not captured) from s_client talking to a sink,
#   then curl POSTs it to a plain HTTP server.  127.0.0.80: counts nothing.
pyserver sink 44999 --out "$WORK/clienthello.bin"
timeout 20 openssl s_client -connect 127.0.0.1:44999 </dev/null >/dev/null 2>&1 || true
wait_closed 44999
[ "$(head -c 3 "$WORK/clienthello.bin" | od -An -tx1 | tr -d ' ')" = 160301 ] \
    || die "the sink did not record a ClientHello record"
pyserver http-post 80
capture_start post-clienthello.pcap 80
curl -sS --interface 127.0.0.80 -o /dev/null -H "Content-Type: application/octet-stream" \
    --data-binary @"$WORK/clienthello.bin" http://127.0.0.1/upload \
    || die "curl POST failed"
echo "curl POST $(stat -c %s "$WORK/clienthello.bin")-byte ClientHello -> :80" >&2
capture_stop
fi  # upgrades

if want wrappers; then
# === RDP: xrdp (security_layer=tls) and xfreerdp /sec:tls ====================
#   127.0.0.1  X.224 Connection Request with RDP_NEG_REQ / Confirm selecting
#              PROTOCOL_SSL, then TLS 1.3; then again against an xrdp limited
#              to TLS 1.0 (an old RDP server).  xfreerdp only authenticates
#              (+auth-only; the session itself is not needed), from 127.0.0.1
#              (it cannot choose its source address).
mkdir -p /run/xrdp/sockdir
rdp_server() {  # SSL_PROTOCOLS CIPHERS
    sed -e "s|^port=3389\$|port=tcp://127.0.0.1:3389|" \
        -e "s|^security_layer=.*|security_layer=tls|" \
        -e "s|^certificate=.*|certificate=$WORK/rsa.crt|" \
        -e "s|^key_file=.*|key_file=$WORK/rsa.key|" \
        -e "s|^ssl_protocols=.*|ssl_protocols=$1|" \
        -e "s|^#\?tls_ciphers=.*|tls_ciphers=$2|" \
        -e "s|^LogFile=.*|LogFile=$WORK/xrdp-own.log|" \
        -e "s|^EnableSyslog=.*|EnableSyslog=false|" /etc/xrdp/xrdp.ini >"$WORK/xrdp.ini"
    xrdp --nodaemon --config "$WORK/xrdp.ini" >"$WORK/xrdp.log" 2>&1 &
    RDP_PID=$!
    SERVER_PIDS+=("$RDP_PID")
    wait_listen 3389
}
rdp_client() {  # EXPECT xfreerdp-options...
    local expect=$1 n
    shift
    n=$(grep -c "TLS connection established" "$WORK/xrdp-own.log" 2>/dev/null || true)
    timeout 60 xvfb-run -a xfreerdp /v:127.0.0.1 /cert:ignore /u:hellowatch /p:unused \
        /sec:tls +auth-only "$@" >"$WORK/xfreerdp.log" 2>&1 || true
    grep "TLS connection established" "$WORK/xrdp-own.log" | tail -n +"$((n + 1))" \
        | grep -q ": $expect with" || die "xfreerdp: wanted $expect: $(tail -n 3 "$WORK/xrdp-own.log")"
    echo "xfreerdp /sec:tls -> :3389: $expect" >&2
}
rm -f "$WORK/xrdp-own.log"
rdp_server "TLSv1.2, TLSv1.3" "HIGH"
capture_start rdp-tls.pcap 3389
rdp_client TLSv1.3
stop_pid "$RDP_PID" TERM
wait_closed 3389
rdp_server "TLSv1" "DEFAULT:@SECLEVEL=0"
rdp_client TLSv1 /tls-seclevel:0
capture_stop
stop_pid "$RDP_PID" TERM
wait_closed 3389

# === IRC STARTTLS: InspIRCd 3 (starttls module, GnuTLS) =====================
#   127.0.0.194  s_client -starttls irc: STARTTLS / 670, then TLS 1.3 (GnuTLS
#                asks for another key share: a HelloRetryRequest, 2 hellos)
{
    echo '<server name="irc.hellowatch.test" description="hellowatch test" network="hellowatch">'
    echo '<admin name="hellowatch" nick="hellowatch" email="hellowatch@localhost">'
    echo '<bind address="127.0.0.1" port="6667" type="clients">'
    echo '<connect allow="*" timeout="60" threshold="10" pingfreq="120" recvq="8192" localmax="10" globalmax="10" resolvehostnames="no">'
    echo '<performance nouserdns="yes">'
    echo "<pid file=\"$WORK/inspircd.pid\">"
    echo "<log method=\"file\" type=\"* -USERINPUT -USEROUTPUT\" level=\"default\" target=\"$WORK/inspircd-own.log\">"
    echo '<module name="ssl_gnutls">'
    echo "<sslprofile name=\"Clients\" provider=\"gnutls\" certfile=\"$WORK/rsa.crt\" keyfile=\"$WORK/rsa.key\" dhfile=\"\" hash=\"sha256\" requestclientcert=\"no\">"
    echo '<module name="starttls">'
    echo '<starttls provider="Clients">'
} >"$WORK/inspircd.conf"
# (InspIRCd 3.15 may crash while it shuts down: no core file, and its status is not checked.)
(ulimit -c 0; exec inspircd --nofork --runasroot --config="$WORK/inspircd.conf") \
    >"$WORK/inspircd.log" 2>&1 &
IRC_PID=$!
SERVER_PIDS+=("$IRC_PID")
wait_listen 6667
capture_start irc-starttls.pcap 6667
starttls 127.0.0.194 6667 irc TLSv1.3
capture_stop
stop_pid "$IRC_PID" TERM
wait_closed 6667

# === PROXY protocol: haproxy send-proxy / send-proxy-v2 ======================
#   s_client (127.0.0.61) -> haproxy :8441 -> (127.0.0.62) PROXY v1 line, TLS 1.3
#   s_client (127.0.0.64) -> haproxy :8442 -> (127.0.0.63) PROXY v2 header, TLS 1.2
#   Only the haproxy -> backend legs (port 4433) are captured: the census
#   counts the hellos under haproxy's addresses, the headers name the clients.
pyserver proxy-tls 4433 --count 2
printf '%s\n' "global" "    maxconn 16" "defaults" "    mode tcp" \
    "    timeout connect 5s" "    timeout client 30s" "    timeout server 30s" \
    "frontend v1" "    bind 127.0.0.1:8441" "    default_backend b1" \
    "backend b1" "    server s1 127.0.0.1:4433 send-proxy source 127.0.0.62" \
    "frontend v2" "    bind 127.0.0.1:8442" "    default_backend b2" \
    "backend b2" "    server s2 127.0.0.1:4433 send-proxy-v2 source 127.0.0.63" \
    >"$WORK/haproxy.cfg"
haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
HAP_PID=$!
SERVER_PIDS+=("$HAP_PID")
wait_listen 8441
wait_listen 8442
capture_start proxy-protocol.pcap 4433
proxied() {  # SRC PORT EXPECT s_client-options...
    local src=$1 port=$2 expect=$3 out="$WORK/s_client.log"
    shift 3
    timeout 30 openssl s_client -brief -connect "127.0.0.1:$port" -bind "$src" "$@" \
        </dev/null >"$out" 2>&1 || true
    grep -q "^Protocol version: $expect\$" "$out" \
        || die "s_client via haproxy :$port: wanted $expect: $(grep -E 'Protocol|error' "$out" | head -n 3)"
    echo "s_client $src -> haproxy :$port -> PROXY -> :4433: $expect" >&2
}
proxied 127.0.0.61 8441 TLSv1.3
proxied 127.0.0.64 8442 TLSv1.2 -tls1_2
capture_stop
stop_pid "$HAP_PID" TERM
wait_closed 4433

# === TLS after banners: NoMachine NXSH/NXD, Gnutella Upgrade: TLS/1.0 ========
#   127.0.0.40  NXSH-8.10.1 / NXD-8.10.1 banners, then TLS 1.3 (servers.py on
#               both ends)
#   127.0.0.46  GNUTELLA CONNECT/0.6 with Upgrade: TLS/1.0 / GNUTELLA/0.6 200,
#               then TLS 1.0 (a legacy servent)
pyserver nomachine 4000
capture_start nomachine-banner.pcap 4000
"$PY" "$SERVERS" nx-client --port 4000 --source 127.0.0.40 >"$WORK/nx.log" 2>&1 \
    || die "nx-client: $(tail -n 2 "$WORK/nx.log")"
grep -qx TLSv1.3 "$WORK/nx.log" || die "nx-client: $(cat "$WORK/nx.log")"
echo "nx-client 127.0.0.40 -> :4000: TLSv1.3" >&2
capture_stop
wait_closed 4000
pyserver gnutella 6346 --legacy
capture_start gnutella-tls.pcap 6346
"$PY" "$SERVERS" gnutella-client --port 6346 --source 127.0.0.46 --legacy >"$WORK/gn.log" 2>&1 \
    || die "gnutella-client: $(tail -n 2 "$WORK/gn.log")"
grep -qx TLSv1 "$WORK/gn.log" || die "gnutella-client: $(cat "$WORK/gn.log")"
echo "gnutella-client 127.0.0.46 -> :6346: TLSv1" >&2
capture_stop
wait_closed 6346

# === Microsoft SQL Server TDS: FreeTDS tsql against servers.py tds ==========
#   127.0.0.1  PRELOGIN (ENCRYPTION = ON) / PRELOGIN answer ENCRYPT_ON, then the
#              TLS handshake inside PRELOGIN packets, TLS 1.2 (the server allows
#              no more, as SQL Server before 2022); LOGIN7 travels inside TLS,
#              then the server hangs up (tsql reports a failed login: only the
#              handshake is wanted).  tsql cannot choose its source address.
pyserver tds 1433 --legacy
printf '%s\n' "[hellowatch]" "host = 127.0.0.1" "port = 1433" "tds version = 7.4" \
    "encryption = require" >"$WORK/freetds.conf"
capture_start tds-prelogin.pcap 1433
FREETDSCONF="$WORK/freetds.conf" timeout 30 tsql -S hellowatch -U sa -P unused \
    </dev/null >"$WORK/tsql.log" 2>&1 || true
wait_closed 1433
grep -q "TLS established: TLSv1.2" "$WORK/tds.log" || die "tsql: $(tail -n 3 "$WORK/tds.log")"
echo "tsql (FreeTDS, TDS 7.4, encryption = require) -> :1433: TLSv1.2 inside PRELOGIN" >&2
capture_stop

# === An upgrade whose answer was not captured =================================
#   127.0.0.35  curl -x through tinyproxy: CONNECT / 200, TLS 1.3; then the
#   proxy's SYN-ACK and its "200 Connection established" segment are cut from
#   the capture (editcap), as when they were lost on the mirror port: the
#   proxy's direction begins with the ServerHello.  Both files are kept:
#   http-connect-full.pcap (uncut) and http-connect-reply-missing.pcap.
(cd "$WORK/www" && exec openssl s_server -accept 127.0.0.1:4443 -cert "$WORK/rsa.crt" \
    -key "$WORK/rsa.key" -WWW </dev/null >"$WORK/s_server-4443.log" 2>&1) &
S4443_PID=$!
SERVER_PIDS+=("$S4443_PID")
wait_listen 4443
printf '%s\n' "Port 3128" "Listen 127.0.0.1" "Timeout 30" "MaxClients 4" \
    "Allow 127.0.0.0/8" "ConnectPort 4443" "DisableViaHeader Yes" >"$WORK/tinyproxy-4443.conf"
tinyproxy -d -c "$WORK/tinyproxy-4443.conf" >"$WORK/tinyproxy-4443.log" 2>&1 &
TP_PID=$!
SERVER_PIDS+=("$TP_PID")
wait_listen 3128
capture_start http-connect-full.pcap 3128
curlc 127.0.0.35 https://127.0.0.1:4443/hello.txt TLSv1.3 -x http://127.0.0.1:3128
capture_stop
stop_pid "$TP_PID" TERM
stop_pid "$S4443_PID" TERM
cut=$(tshark -r "$STAGE/http-connect-full.pcap" -T fields -e frame.number \
    -Y 'tcp.srcport == 3128 && (tcp.flags.syn == 1 || http.response.code == 200)' 2>/dev/null | tr '\n' ' ')
[ "$(echo $cut | wc -w)" = 2 ] || die "http-connect-full.pcap: SYN-ACK and 200 not found ($cut)"
# shellcheck disable=SC2086 # two frame numbers
editcap "$STAGE/http-connect-full.pcap" "$STAGE/http-connect-reply-missing.pcap" $cut
echo "cut frames $cut (SYN-ACK, 200 Connection established)" >&2
# http-connect-full.pcap stays: it is what tshark can check (it does not follow a
# CONNECT whose 200 it did not see), and the cut frames carry no TLS.
fi  # wrappers

n=$(ls "$STAGE"/*.pcap | wc -l)
mv "$STAGE"/*.pcap "$OUT/"
log "wrote $n captures to $OUT"
