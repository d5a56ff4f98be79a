#!/usr/bin/env python3
"""aioquic client and server for captures/quic/make-quic-captures.sh (loopback only).

    quic_peers.py server HOST PORT CERT KEY [--retry]
    quic_peers.py client LOCAL_HOST HOST PORT [--version 1|2] [--pad-alpn N]

The server accepts QUIC v1 and v2, ALPN "hq-interop", and answers nothing: the handshake is
what the captures are for. With --retry it validates addresses with a Retry first. The client
binds LOCAL_HOST (so every capture has its own client address), completes the handshake, sends
a PING, closes, and exits 0 only if the handshake completed in the QUIC version asked for.
--pad-alpn N adds N long ALPN ids so the ClientHello spans two Initial packets.
"""
import argparse
import asyncio
import socket
import sys

from aioquic.asyncio import QuicConnectionProtocol, serve
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.packet import QuicProtocolVersion

VERSIONS = {"1": QuicProtocolVersion.VERSION_1, "2": QuicProtocolVersion.VERSION_2}


async def run_server(a):
    cfg = QuicConfiguration(
        is_client=False,
        alpn_protocols=["hq-interop"],
        supported_versions=[QuicProtocolVersion.VERSION_1, QuicProtocolVersion.VERSION_2],
    )
    cfg.load_cert_chain(a.cert, a.key)
    await serve(a.host, a.port, configuration=cfg, retry=a.retry)
    print("listening", flush=True)
    await asyncio.Future()


async def run_client(a):
    version = VERSIONS[a.version]
    alpn = ["hq-interop"] + [f"x-hellowatch-padding-alpn-{i:03d}" for i in range(a.pad_alpn)]
    cfg = QuicConfiguration(
        is_client=True,
        alpn_protocols=alpn,
        server_name="quic.hellowatch.test",
        supported_versions=[version],
        original_version=version,
    )
    cfg.verify_mode = 0  # the server's certificate is a throwaway self-signed one
    conn = QuicConnection(configuration=cfg)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((a.local_host, 0))
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(
        lambda: QuicConnectionProtocol(conn), sock=sock
    )
    try:
        proto.connect((a.host, a.port))
        await asyncio.wait_for(proto.wait_connected(), 10)
        await asyncio.wait_for(proto.ping(), 10)
        got = conn._version
    finally:
        proto.close()
        await proto.wait_closed()
        transport.close()
    if got != version:
        print(f"client: negotiated {got!r}, wanted {version!r}", file=sys.stderr)
        return 1
    print(f"client {a.local_host}: handshake done, version {got:#x}", flush=True)
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("server")
    s.add_argument("host")
    s.add_argument("port", type=int)
    s.add_argument("cert")
    s.add_argument("key")
    s.add_argument("--retry", action="store_true")
    c = sub.add_parser("client")
    c.add_argument("local_host")
    c.add_argument("host")
    c.add_argument("port", type=int)
    c.add_argument("--version", choices=sorted(VERSIONS), default="1")
    c.add_argument("--pad-alpn", type=int, default=0)
    a = p.parse_args()
    if a.mode == "server":
        asyncio.run(run_server(a))
        return 0
    return asyncio.run(run_client(a))


if __name__ == "__main__":
    sys.exit(main())
