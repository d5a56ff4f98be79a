//! Packets and captures for tests: a pcap writer (to a file or to memory), a pcap splitter, a
//! pcapng converter, Ethernet/IP/TCP frames (etherparse's builder), a TCP connection that keeps
//! its sequence numbers, and TLS records and hellos. Tests build their hostile and bulk traffic
//! with these in a temp dir instead of checking captures in.

use etherparse::PacketBuilder;
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;

/// Captured length the pcap writer announces (the reader's own per-record limit).
pub const SNAPLEN: u32 = 262_144;

/// Little-endian microsecond pcap, Ethernet (DLT 1), written as it goes.
pub struct PcapWriter<W: Write> {
    w: W,
    /// Packets written.
    pub packets: u64,
    /// Bytes written, file header included.
    pub bytes: u64,
}

impl PcapWriter<std::io::BufWriter<std::fs::File>> {
    /// Creates `path` and writes the file header.
    pub fn create(path: &Path) -> Self {
        let f = std::fs::File::create(path)
            .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        PcapWriter::new(std::io::BufWriter::with_capacity(1 << 20, f))
    }
}

impl PcapWriter<Vec<u8>> {
    /// A capture in memory.
    pub fn in_memory() -> Self {
        PcapWriter::new(Vec::new())
    }
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header to `w`.
    pub fn new(mut w: W) -> Self {
        for field in [
            &0xa1b2_c3d4u32.to_le_bytes()[..],
            &2u16.to_le_bytes(),
            &4u16.to_le_bytes(),
            &[0; 8],
            &SNAPLEN.to_le_bytes(),
            &1u32.to_le_bytes(),
        ] {
            w.write_all(field).unwrap();
        }
        PcapWriter {
            w,
            packets: 0,
            bytes: 24,
        }
    }

    /// One frame at `ts_us` microseconds.
    pub fn frame(&mut self, ts_us: u64, frame: &[u8]) {
        let len = u32::try_from(frame.len()).unwrap();
        for field in [
            (ts_us / 1_000_000) as u32,
            (ts_us % 1_000_000) as u32,
            len,
            len,
        ] {
            self.w.write_all(&field.to_le_bytes()).unwrap();
        }
        self.w.write_all(frame).unwrap();
        self.packets += 1;
        self.bytes += 16 + frame.len() as u64;
    }

    /// Flushes and returns the writer (the bytes, for [`PcapWriter::in_memory`]).
    pub fn finish(mut self) -> W {
        self.w.flush().unwrap();
        self.w
    }
}

/// Splits a classic pcap file (either byte order) into its 24-byte header and its records
/// (each with its 16-byte record header). A cut last record is left out.
pub fn records(pcap: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let le = match pcap[..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => panic!("not a classic pcap file"),
    };
    let mut recs = Vec::new();
    let mut off = 24;
    while off + 16 <= pcap.len() {
        let b: [u8; 4] = pcap[off + 8..off + 12].try_into().unwrap();
        let caplen = if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        } as usize;
        if off + 16 + caplen > pcap.len() {
            break;
        }
        recs.push(pcap[off..off + 16 + caplen].to_vec());
        off += 16 + caplen;
    }
    (pcap[..24].to_vec(), recs)
}

/// Byte offsets at which each record of a classic pcap file starts.
pub fn record_offsets(pcap: &[u8]) -> Vec<usize> {
    let (_, recs) = records(pcap);
    recs.iter()
        .scan(24, |at, r| {
            let here = *at;
            *at += r.len();
            Some(here)
        })
        .collect()
}

/// A pcapng block of type `ty` around `body` (little-endian).
pub fn pcapng_block(ty: u32, body: &[u8]) -> Vec<u8> {
    let len = 12 + u32::try_from(body.len()).unwrap();
    let mut b = ty.to_le_bytes().to_vec();
    b.extend_from_slice(&len.to_le_bytes());
    b.extend_from_slice(body);
    b.extend_from_slice(&len.to_le_bytes());
    b
}

/// A little-endian Ethernet pcap as pcapng: a section header, one interface, one enhanced
/// packet block per record (timestamps `i` ms), with `extra(i)` inserted before packet `i`.
/// Returns the bytes and where each packet block starts.
pub fn pcapng_from(pcap: &[u8], extra: impl Fn(usize) -> Vec<u8>) -> (Vec<u8>, Vec<usize>) {
    let (_, recs) = records(pcap);
    let mut shb = 0x1a2b_3c4du32.to_le_bytes().to_vec();
    shb.extend_from_slice(&[1, 0, 0, 0]);
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    let mut out = pcapng_block(0x0a0d_0d0a, &shb);
    out.extend(pcapng_block(1, &[1, 0, 0, 0, 0xff, 0xff, 0, 0]));
    let mut starts = Vec::new();
    for (i, rec) in recs.iter().enumerate() {
        out.extend(extra(i));
        starts.push(out.len());
        let data = &rec[16..];
        let caplen = data.len() as u32;
        let mut body = Vec::new();
        for field in [0u32, 0, i as u32 * 1000, caplen, caplen] {
            body.extend_from_slice(&field.to_le_bytes());
        }
        body.extend_from_slice(data);
        while body.len() % 4 != 0 {
            body.push(0);
        }
        out.extend(pcapng_block(6, &body));
    }
    (out, starts)
}

/// TCP flag bits.
pub const FIN: u8 = 0x01;
/// SYN.
pub const SYN: u8 = 0x02;
/// RST.
pub const RST: u8 = 0x04;
/// PSH.
pub const PSH: u8 = 0x08;
/// ACK.
pub const ACK: u8 = 0x10;

/// An Ethernet/IPv4 or IPv6/TCP frame from `src` to `dst` (one address family), with
/// checksums. `ack` is used when `flags` has [`ACK`].
pub fn segment(
    src: (IpAddr, u16),
    dst: (IpAddr, u16),
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let eth = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let ip = match (src.0, dst.0) {
        (IpAddr::V4(a), IpAddr::V4(b)) => eth.ipv4(a.octets(), b.octets(), 64),
        (IpAddr::V6(a), IpAddr::V6(b)) => eth.ipv6(a.octets(), b.octets(), 64),
        _ => panic!("one address family per segment: {src:?} -> {dst:?}"),
    };
    let mut b = ip.tcp(src.1, dst.1, seq, 65535);
    if flags & SYN != 0 {
        b = b.syn();
    }
    if flags & ACK != 0 {
        b = b.ack(ack);
    }
    if flags & PSH != 0 {
        b = b.psh();
    }
    if flags & FIN != 0 {
        b = b.fin();
    }
    if flags & RST != 0 {
        b = b.rst();
    }
    let mut out = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut out, payload).unwrap();
    out
}

/// [`segment`] with acknowledgement number 1, for frames whose ACK number does not matter.
pub fn tcp(
    src: (impl Into<IpAddr>, u16),
    dst: (impl Into<IpAddr>, u16),
    seq: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    segment(
        (src.0.into(), src.1),
        (dst.0.into(), dst.1),
        seq,
        1,
        flags,
        payload,
    )
}

/// One TCP connection: sequence and acknowledgement numbers advance as data is sent.
pub struct Conn {
    /// Client endpoint.
    pub client: (IpAddr, u16),
    /// Server endpoint.
    pub server: (IpAddr, u16),
    /// Next client sequence number.
    pub cseq: u32,
    /// Next server sequence number.
    pub sseq: u32,
}

impl Conn {
    /// A connection from `client`:`cport` to `server`:443 (ISNs 1000 and 5000).
    pub fn new(client: impl Into<IpAddr>, cport: u16, server: impl Into<IpAddr>) -> Conn {
        Conn::between((client.into(), cport), (server.into(), 443), 1000, 5000)
    }

    /// A connection between two endpoints with the given initial sequence numbers.
    pub fn between(client: (IpAddr, u16), server: (IpAddr, u16), cisn: u32, sisn: u32) -> Conn {
        Conn {
            client,
            server,
            cseq: cisn,
            sseq: sisn,
        }
    }

    /// Client SYN.
    pub fn syn(&mut self) -> Vec<u8> {
        let f = segment(self.client, self.server, self.cseq, 0, SYN, &[]);
        self.cseq = self.cseq.wrapping_add(1);
        f
    }

    /// Server SYN-ACK.
    pub fn syn_ack(&mut self) -> Vec<u8> {
        let f = segment(
            self.server,
            self.client,
            self.sseq,
            self.cseq,
            SYN | ACK,
            &[],
        );
        self.sseq = self.sseq.wrapping_add(1);
        f
    }

    /// A pure ACK from the client (`true`) or the server.
    pub fn ack(&self, from_client: bool) -> Vec<u8> {
        if from_client {
            segment(self.client, self.server, self.cseq, self.sseq, ACK, &[])
        } else {
            segment(self.server, self.client, self.sseq, self.cseq, ACK, &[])
        }
    }

    /// Data from the client (`true`) or the server, advancing its sequence number.
    pub fn data(&mut self, from_client: bool, payload: &[u8]) -> Vec<u8> {
        if from_client {
            self.client(payload)
        } else {
            self.server(payload)
        }
    }

    /// Client data, advancing its sequence number.
    pub fn client(&mut self, payload: &[u8]) -> Vec<u8> {
        let f = segment(
            self.client,
            self.server,
            self.cseq,
            self.sseq,
            ACK | PSH,
            payload,
        );
        self.cseq = self.cseq.wrapping_add(payload.len() as u32);
        f
    }

    /// Server data, advancing its sequence number.
    pub fn server(&mut self, payload: &[u8]) -> Vec<u8> {
        let f = segment(
            self.server,
            self.client,
            self.sseq,
            self.cseq,
            ACK | PSH,
            payload,
        );
        self.sseq = self.sseq.wrapping_add(payload.len() as u32);
        f
    }

    /// Client data at an explicit sequence number (retransmissions, reordering).
    pub fn client_at(&self, seq: u32, payload: &[u8]) -> Vec<u8> {
        segment(self.client, self.server, seq, self.sseq, ACK | PSH, payload)
    }

    /// FIN from both sides.
    pub fn fins(&mut self) -> [Vec<u8>; 2] {
        [
            segment(
                self.client,
                self.server,
                self.cseq,
                self.sseq,
                FIN | ACK,
                &[],
            ),
            segment(
                self.server,
                self.client,
                self.sseq,
                self.cseq,
                FIN | ACK,
                &[],
            ),
        ]
    }
}

/// A TLS record of content type `ct` (record version TLS 1.0).
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

/// ChangeCipherSpec and an encrypted Finished: one side's end of a TLS 1.2 handshake.
pub fn ccs_finished() -> Vec<u8> {
    [record(20, &[1]), record(22, &[0x44; 40])].concat()
}
