//! Input formats shared by the fuzz targets (`fuzz_targets/`) and the seed extractor
//! (`examples/seeds.rs`), and the checks the targets assert.
//!
//! Every target asserts more than "no panic": the invariant its entry point promises (a
//! decoded payload lies inside the frame, the reassembler never holds more than its cap, the
//! TLS parser finds the same events however its input is chunked, …).

use hellowatch::flow::reassembly::Stream;
use hellowatch::tls::{Anomaly, CcsMeaning, ClientHello, DirParser, Handler, ServerHello};
use hellowatch::wire::LinkType;

/// Link types a `decode` input selects with its first byte (modulo the length).
pub const LINKS: [LinkType; 10] = [
    LinkType::Ethernet,
    LinkType::Raw,
    LinkType::Null,
    LinkType::Loop,
    LinkType::LinuxSll,
    LinkType::LinuxSll2,
    LinkType::Ppp,
    LinkType::Ipv4,
    LinkType::Ipv6,
    LinkType::Other(147),
];

/// The link type selected by `b`.
pub fn link_of(b: u8) -> LinkType {
    LINKS[usize::from(b) % LINKS.len()]
}

/// The selector byte of `link`, if it is one of [`LINKS`].
pub fn link_byte(link: LinkType) -> Option<u8> {
    LINKS
        .iter()
        .position(|l| *l == link)
        .and_then(|i| u8::try_from(i).ok())
}

/// True when `inner` lies inside `outer` (a borrowed sub-slice).
pub fn within(outer: &[u8], inner: &[u8]) -> bool {
    let (o, i) = (outer.as_ptr_range(), inner.as_ptr_range());
    inner.is_empty() || (o.start <= i.start && i.end <= o.end)
}

/// A `tls_dir_parser` input: `[k] [k ChangeCipherSpec answers] [chunking] [stream bytes…]`
/// (`k` is the low 3 bits of the first byte).
#[derive(Debug, Clone, Copy)]
pub struct DirInput<'a> {
    /// What the handler answers to successive ChangeCipherSpec records (byte % 3).
    pub answers: &'a [u8],
    /// 0: the stream in one piece; else chunks of 1..=chunking bytes from a generator.
    pub chunking: u8,
    /// The bytes of one direction of a TCP stream.
    pub stream: &'a [u8],
}

impl<'a> DirInput<'a> {
    /// Splits a fuzz input.
    pub fn parse(data: &'a [u8]) -> DirInput<'a> {
        let k = usize::from(data.first().copied().unwrap_or(0) & 7);
        let rest = data.get(1..).unwrap_or(&[]);
        let (answers, rest) = rest.split_at(k.min(rest.len()));
        let chunking = rest.first().copied().unwrap_or(0);
        let stream = rest.get(1..).unwrap_or(&[]);
        DirInput {
            answers,
            chunking,
            stream,
        }
    }

    /// Encodes an input (seeds).
    pub fn encode(answers: &[u8], chunking: u8, stream: &[u8]) -> Vec<u8> {
        let k = answers.len().min(7);
        let mut v = vec![k as u8];
        v.extend_from_slice(&answers[..k]);
        v.push(chunking);
        v.extend_from_slice(stream);
        v
    }
}

/// What the parser reported, comparable between runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A ClientHello: offered versions, legacy version, SSLv2 format.
    ClientHello(Vec<u16>, u16, bool),
    /// A ServerHello: version, HRR.
    ServerHello(u16, bool),
    /// An alert.
    Alert(u8, u8),
    /// Another handshake message type.
    Other(u8),
    /// An anomaly.
    Anomaly(Anomaly),
    /// A ChangeCipherSpec, and the answer given.
    Ccs(CcsMeaning),
    /// A leaf certificate read (every Certificate message is wanted): its SHA-256.
    Certificate([u8; 32]),
}

/// A [`Handler`] that records events and answers ChangeCipherSpec from the fuzz input.
pub struct Recorder<'a> {
    answers: &'a [u8],
    asked: usize,
    /// Events in order.
    pub events: Vec<Event>,
}

impl<'a> Recorder<'a> {
    /// A recorder answering with `answers` (cycled; `Encrypted` when empty).
    pub fn new(answers: &'a [u8]) -> Self {
        Recorder {
            answers,
            asked: 0,
            events: Vec::new(),
        }
    }
}

impl Handler for Recorder<'_> {
    fn client_hello(&mut self, ch: &ClientHello<'_>) {
        let offered = ch.offered();
        // GREASE is removed from supported_versions; a legacy version is taken as sent.
        if let Some(sv) = ch.supported_versions {
            assert!(sv.as_slice().iter().all(|v| !v.is_grease()));
        }
        assert!(
            ch.sni
                .is_none_or(|s| s.len() <= hellowatch::tls::hello::MAX_SNI_LEN)
        );
        self.events.push(Event::ClientHello(
            offered.as_slice().iter().map(|v| v.0).collect(),
            ch.legacy_version.0,
            ch.sslv2_format,
        ));
    }
    fn server_hello(&mut self, sh: &ServerHello) {
        self.events
            .push(Event::ServerHello(sh.version.0, sh.is_hrr));
    }
    fn alert(&mut self, level: u8, description: u8) {
        assert!(matches!(level, 1 | 2), "only plaintext alerts are reported");
        self.events.push(Event::Alert(level, description));
    }
    fn other_handshake(&mut self, msg_type: u8) {
        self.events.push(Event::Other(msg_type));
    }
    fn wants_certificate(&mut self) -> bool {
        true
    }
    fn certificate(&mut self, leaf: hellowatch::tls::certificate::LeafFacts) {
        assert!(
            leaf.subject_cn
                .as_deref()
                .is_none_or(|cn| cn.len() <= hellowatch::tls::certificate::MAX_CN_LEN)
        );
        self.events.push(Event::Certificate(leaf.sha256));
    }
    fn anomaly(&mut self, a: Anomaly) {
        self.events.push(Event::Anomaly(a));
    }
    fn ccs(&mut self) -> CcsMeaning {
        let a = match self.answers.get(self.asked % self.answers.len().max(1)) {
            Some(b) => [
                CcsMeaning::Encrypted,
                CcsMeaning::Dummy,
                CcsMeaning::DummyUnconfirmed,
            ][usize::from(*b) % 3],
            None => CcsMeaning::Encrypted,
        };
        self.asked += 1;
        self.events.push(Event::Ccs(a));
        a
    }
}

/// Feeds `stream` to a fresh parser the way the engine does (append, feed the unconsumed
/// bytes, drop what was consumed), in chunks from `sizes`; checks what `feed` returns.
pub fn feed_chunked(
    stream: &[u8],
    mut sizes: impl FnMut() -> usize,
    h: &mut impl Handler,
) -> DirParser {
    let mut p = DirParser::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut at = 0;
    while at < stream.len() {
        let n = sizes().clamp(1, stream.len() - at);
        buf.extend_from_slice(&stream[at..at + n]);
        at += n;
        let used = p.feed(&buf, h);
        assert!(used <= buf.len(), "consumed {used} of {}", buf.len());
        if p.stopped().is_some() {
            assert_eq!(used, buf.len(), "a stopped parser consumes everything");
        }
        buf.drain(..used);
    }
    p
}

/// A small deterministic generator (xorshift) for chunk sizes.
pub struct Gen(u64);

impl Gen {
    /// Seeded.
    pub fn new(seed: u64) -> Self {
        Gen(seed | 1)
    }
    /// Next value in `1..=max`.
    pub fn upto(&mut self, max: u8) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        1 + (self.0 % u64::from(max.max(1))) as usize
    }
}

/// One reassembly operation of a `reassembly` input.
#[derive(Debug, Clone, Copy)]
pub enum Op<'a> {
    /// A SYN with this initial sequence number.
    Syn(u32),
    /// The parser consumed this many bytes.
    Consume(usize),
    /// A data segment.
    Push {
        /// Sequence number.
        seq: u32,
        /// Payload.
        data: &'a [u8],
        /// Nothing parsed yet (the stream start may move back).
        can_rebase: bool,
    },
}

/// Size of an op header: kind (1), sequence number (4, LE), length (2, LE).
pub const OP_HEADER: usize = 7;

/// A `reassembly` input: `[cap selector] op…`; each op is a 7-byte header, then for a push
/// `len` payload bytes (fewer at the end of the input). Returns the cap and the ops.
pub fn parse_ops(data: &[u8]) -> (usize, Vec<Op<'_>>) {
    let cap = 512 + 256 * usize::from(data.first().copied().unwrap_or(0) & 0x3f);
    let mut rest = data.get(1..).unwrap_or(&[]);
    let mut ops = Vec::new();
    while rest.len() >= OP_HEADER {
        let kind = rest[0];
        let seq = u32::from_le_bytes([rest[1], rest[2], rest[3], rest[4]]);
        let len = usize::from(u16::from_le_bytes([rest[5], rest[6]]));
        rest = &rest[OP_HEADER..];
        ops.push(match kind & 3 {
            0 => Op::Syn(seq),
            1 => Op::Consume(len),
            _ => {
                let (d, r) = rest.split_at(len.min(rest.len()));
                rest = r;
                Op::Push {
                    seq,
                    data: d,
                    can_rebase: kind & 4 != 0,
                }
            }
        });
    }
    (cap, ops)
}

/// Encodes one op (seeds).
pub fn encode_op(out: &mut Vec<u8>, op: Op<'_>) {
    match op {
        Op::Syn(isn) => {
            out.push(0);
            out.extend_from_slice(&isn.to_le_bytes());
            out.extend_from_slice(&[0, 0]);
        }
        Op::Consume(n) => {
            out.push(1);
            out.extend_from_slice(&[0; 4]);
            out.extend_from_slice(&(n.min(0xffff) as u16).to_le_bytes());
        }
        Op::Push {
            seq,
            data,
            can_rebase,
        } => {
            let data = &data[..data.len().min(0xffff)];
            out.push(if can_rebase { 6 } else { 2 });
            out.extend_from_slice(&seq.to_le_bytes());
            out.extend_from_slice(&(data.len() as u16).to_le_bytes());
            out.extend_from_slice(data);
        }
    }
}

/// Applies ops to a stream, checking its invariants after each.
pub fn run_ops(cap: usize, ops: &[Op<'_>]) -> Stream {
    let mut s = Stream::default();
    for op in ops {
        match *op {
            Op::Syn(isn) => s.syn(isn),
            Op::Consume(n) => {
                let before = s.data().len();
                s.consume(n);
                assert_eq!(s.data().len(), before.saturating_sub(n));
            }
            Op::Push {
                seq,
                data,
                can_rebase,
            } => {
                let before = s.data().len();
                let r = s.push(seq, data, cap, can_rebase);
                if !can_rebase {
                    // (A segment before a stream joined late may move its start back, and the
                    // bytes kept so far may then fall outside the window.)
                    assert_eq!(r.new_data, s.data().len() > before, "{r:?}");
                }
                assert!(!(r.new_data && r.duplicate), "{r:?}");
            }
        }
        assert!(s.invariants_hold(), "after {op:?}");
        assert!(s.data().len() <= cap && s.held() <= cap);
    }
    s
}

/// A `quic_initial` input: datagrams `[flags] [len: u16 BE] [bytes…]`, repeated. Flags bit 0:
/// sent by the client; bit 1: `bytes` are the frames of an Initial the harness protects itself
/// (version from bits 2–3: v1, v2, draft-29, T051; a fixed DCID; packet number = index), so the
/// fuzzer reaches frame parsing and CRYPTO reassembly behind a valid AEAD tag; else `bytes` are
/// the raw datagram (header parsing, tag failures). Checks: never panics; the CRYPTO bytes
/// handed on per direction add up to what the connection says it delivered and stay within
/// `quic::MAX_CRYPTO_STREAM`; the TLS parser fed them (without records) never panics.
pub fn run_quic(data: &[u8]) {
    use hellowatch::quic::{self, Output};
    const DCID: [u8; 8] = [0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08];
    const VERSIONS: [u32; 4] = [1, 0x6b33_43cf, 0xff00_001d, 0x5430_3531];
    let mut conn = quic::Conn::new();
    let mut k = quic::Counters::default();
    let mut parsers = [DirParser::new(), DirParser::new()];
    let mut delivered = [0u64; 2];
    let mut rest = data;
    let mut pn: u16 = 0;
    let mut scratch = Vec::new();
    while let [flags, l0, l1, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*l0, *l1])).min(tail.len());
        let (bytes, next) = tail.split_at(len);
        rest = next;
        let from_client = flags & 1 != 0;
        let dgram = if flags & 2 != 0 {
            let version = VERSIONS[usize::from(flags >> 2 & 3)];
            let info = quic::version::lookup(version).unwrap();
            let keys = quic::crypto::derive(info.salt, &info.labels, &DCID).unwrap();
            let ty = if info.v2_types { 0xd1 } else { 0xc1 };
            let mut pkt = vec![ty];
            pkt.extend_from_slice(&version.to_be_bytes());
            if from_client {
                pkt.push(8);
                pkt.extend_from_slice(&DCID);
                pkt.extend_from_slice(&[0, 0]); // no SCID, no token
            } else {
                pkt.extend_from_slice(&[0, 8]);
                pkt.extend_from_slice(&[7; 8]);
                pkt.push(0);
            }
            let mut payload = bytes.to_vec();
            payload.resize(payload.len().max(20), 0);
            let n = (2 + payload.len() + 16).min(0x3fff) as u16;
            payload.truncate(usize::from(n) - 18);
            pkt.extend_from_slice(&(n | 0x4000).to_be_bytes());
            let pn_offset = pkt.len();
            pkt.extend_from_slice(&pn.to_be_bytes());
            pn = pn.wrapping_add(1);
            pkt.extend_from_slice(&payload);
            let dk = if from_client {
                keys.client
            } else {
                keys.server
            };
            quic::crypto::seal(&dk, &mut pkt, pn_offset).unwrap();
            pkt
        } else {
            bytes.to_vec()
        };
        let _ = quic::looks_like_quic(&dgram);
        let _ = quic::is_client_initial(&dgram, &mut scratch);
        conn.on_datagram(&dgram, from_client, &mut k, &mut |o| match o {
            Output::Crypto { from_client, data } => {
                assert!(!data.is_empty());
                let i = usize::from(!from_client);
                delivered[i] += data.len() as u64;
                parsers[i].feed_handshake(data, &mut Quiet);
            }
            Output::NewConnection => {
                delivered = [0, 0];
                parsers = [DirParser::new(), DirParser::new()];
            }
        });
        for (i, from_client) in [(0, true), (1, false)] {
            assert_eq!(delivered[i], conn.crypto_delivered(from_client));
            assert!(delivered[i] <= quic::MAX_CRYPTO_STREAM);
        }
    }
}

/// A handler that ignores everything.
struct Quiet;

impl Handler for Quiet {
    fn client_hello(&mut self, _: &ClientHello<'_>) {}
    fn server_hello(&mut self, _: &ServerHello) {}
    fn alert(&mut self, _: u8, _: u8) {}
    fn anomaly(&mut self, _: Anomaly) {}
    fn ccs(&mut self) -> CcsMeaning {
        CcsMeaning::Encrypted
    }
}
