//! Generated captures for the hostile-traffic tests: a streaming pcap writer, Ethernet/IPv4/TCP
//! frames (etherparse's builder) and TLS records and hellos, so tests build megabytes of
//! traffic in a temp dir instead of checking them in.

use etherparse::PacketBuilder;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// A temp directory for one test binary (removed by nobody: the OS temp cleaner).
pub fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hellowatch-tests-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

/// Little-endian microsecond pcap, Ethernet, written as it goes.
pub struct Pcap {
    w: std::io::BufWriter<std::fs::File>,
    /// Packets written.
    pub packets: u64,
}

impl Pcap {
    /// Creates `path` and writes the file header.
    pub fn create(path: &Path) -> Pcap {
        let mut w =
            std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
        w.write_all(&0xa1b2_c3d4u32.to_le_bytes()).unwrap();
        w.write_all(&2u16.to_le_bytes()).unwrap();
        w.write_all(&4u16.to_le_bytes()).unwrap();
        w.write_all(&[0; 8]).unwrap();
        w.write_all(&65535u32.to_le_bytes()).unwrap();
        w.write_all(&1u32.to_le_bytes()).unwrap();
        Pcap { w, packets: 0 }
    }

    /// One frame at `ts_us` microseconds.
    pub fn frame(&mut self, ts_us: u64, frame: &[u8]) {
        self.w
            .write_all(&((ts_us / 1_000_000) as u32).to_le_bytes())
            .unwrap();
        self.w
            .write_all(&((ts_us % 1_000_000) as u32).to_le_bytes())
            .unwrap();
        self.w
            .write_all(&(frame.len() as u32).to_le_bytes())
            .unwrap();
        self.w
            .write_all(&(frame.len() as u32).to_le_bytes())
            .unwrap();
        self.w.write_all(frame).unwrap();
        self.packets += 1;
    }

    /// Flushes and closes.
    pub fn finish(mut self) {
        self.w.flush().unwrap();
    }
}

/// TCP flag bits for [`tcp`].
pub const SYN: u8 = 0x02;
/// ACK.
pub const ACK: u8 = 0x10;
/// FIN.
pub const FIN: u8 = 0x01;
/// RST.
pub const RST: u8 = 0x04;

/// An Ethernet/IPv4/TCP frame.
pub fn tcp(
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    seq: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src.0.octets(), dst.0.octets(), 64)
        .tcp(src.1, dst.1, seq, 65535);
    if flags & SYN != 0 {
        b = b.syn();
    }
    if flags & ACK != 0 {
        b = b.ack(1);
    }
    if flags & FIN != 0 {
        b = b.fin();
    }
    if flags & RST != 0 {
        b = b.rst();
    }
    let mut out = Vec::with_capacity(54 + payload.len());
    b.write(&mut out, payload).unwrap();
    out
}

/// One TCP connection: sequence numbers advance as data is sent.
pub struct Conn {
    /// Client endpoint.
    pub client: (Ipv4Addr, u16),
    /// Server endpoint.
    pub server: (Ipv4Addr, u16),
    /// Next client sequence number.
    pub cseq: u32,
    /// Next server sequence number.
    pub sseq: u32,
}

impl Conn {
    /// A connection from `client` to `server`:443 (ISNs 1000 and 5000).
    pub fn new(client: Ipv4Addr, cport: u16, server: Ipv4Addr) -> Conn {
        Conn {
            client: (client, cport),
            server: (server, 443),
            cseq: 1000,
            sseq: 5000,
        }
    }
    /// Client SYN.
    pub fn syn(&mut self) -> Vec<u8> {
        let f = tcp(self.client, self.server, self.cseq, SYN, &[]);
        self.cseq = self.cseq.wrapping_add(1);
        f
    }
    /// Server SYN-ACK.
    pub fn syn_ack(&mut self) -> Vec<u8> {
        let f = tcp(self.server, self.client, self.sseq, SYN | ACK, &[]);
        self.sseq = self.sseq.wrapping_add(1);
        f
    }
    /// Client data, advancing its sequence number.
    pub fn client(&mut self, payload: &[u8]) -> Vec<u8> {
        let f = tcp(self.client, self.server, self.cseq, ACK, payload);
        self.cseq = self.cseq.wrapping_add(payload.len() as u32);
        f
    }
    /// Server data, advancing its sequence number.
    pub fn server(&mut self, payload: &[u8]) -> Vec<u8> {
        let f = tcp(self.server, self.client, self.sseq, ACK, payload);
        self.sseq = self.sseq.wrapping_add(payload.len() as u32);
        f
    }
    /// Client data at an explicit sequence number (retransmissions, reordering).
    pub fn client_at(&self, seq: u32, payload: &[u8]) -> Vec<u8> {
        tcp(self.client, self.server, seq, ACK, payload)
    }
    /// FIN from both sides.
    pub fn fins(&mut self) -> [Vec<u8>; 2] {
        [
            tcp(self.client, self.server, self.cseq, FIN | ACK, &[]),
            tcp(self.server, self.client, self.sseq, FIN | ACK, &[]),
        ]
    }
}

/// A TLS record.
pub fn record(ct: u8, payload: &[u8]) -> Vec<u8> {
    let mut r = vec![ct, 3, 1, (payload.len() >> 8) as u8, payload.len() as u8];
    r.extend_from_slice(payload);
    r
}

/// A handshake message.
pub fn handshake(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![
        ty,
        (body.len() >> 16) as u8,
        (body.len() >> 8) as u8,
        body.len() as u8,
    ];
    m.extend_from_slice(body);
    m
}

/// A ClientHello message: legacy version, and `supported_versions` if any are given.
pub fn client_hello(legacy: u16, supported: &[u16]) -> Vec<u8> {
    let mut b = legacy.to_be_bytes().to_vec();
    b.extend_from_slice(&[0x42; 32]);
    b.push(0);
    b.extend_from_slice(&[0, 4, 0x13, 0x01, 0xc0, 0x2f, 1, 0]);
    if !supported.is_empty() {
        let mut sv = vec![(supported.len() * 2) as u8];
        for v in supported {
            sv.extend_from_slice(&v.to_be_bytes());
        }
        let mut ext = 43u16.to_be_bytes().to_vec();
        ext.extend_from_slice(&(sv.len() as u16).to_be_bytes());
        ext.extend_from_slice(&sv);
        b.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        b.extend_from_slice(&ext);
    }
    handshake(1, &b)
}

/// A ServerHello message selecting `version` (TLS 1.3 through `supported_versions`).
pub fn server_hello(version: u16) -> Vec<u8> {
    let legacy = version.min(0x0303);
    let mut b = legacy.to_be_bytes().to_vec();
    b.extend_from_slice(&[0x24; 32]);
    b.push(0);
    b.extend_from_slice(&[0x13, 0x01, 0]);
    if version == 0x0304 {
        b.extend_from_slice(&[0, 6, 0, 43, 0, 2, 3, 4]);
    } else {
        b.extend_from_slice(&[0, 0]);
    }
    handshake(2, &b)
}
