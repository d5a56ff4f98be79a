//! DTLS extraction: a pure parser for the datagrams of one UDP 5-tuple (both directions).
//!
//! [`ConnParser::datagram`] walks the records of one datagram (several per datagram), skips
//! what is encrypted (records of epoch > 0, DTLS 1.3 unified headers), reassembles handshake
//! fragments by `message_seq` and fragment offset ([`reassembly`]), and reports the
//! ClientHellos, ServerHellos (HelloRetryRequest included; a HelloVerifyRequest is not a
//! ServerHello) and epoch-0 alerts to a [`Handler`]. The hello bodies are extracted by the TLS
//! code ([`crate::tls::hello::parse_dtls_client_hello`], `parse_dtls_server_hello`).
//!
//! Retransmissions count once: a handshake message identical to one already reported on the
//! connection (type, `message_seq`, fragment framing of the record that completed it, body —
//! tshark's notion of an identical message) is not reported again, and an alert record is
//! reported once per (direction, epoch, sequence number). The second ClientHello after a
//! HelloVerifyRequest or HelloRetryRequest has a new `message_seq`: it is a second hello.
//!
//! [`demux`] is RFC 7983's first-byte demultiplexing (WebRTC multiplexes STUN, DTLS and
//! RTP/RTCP on one 5-tuple): only datagrams in the DTLS range are read. A CAPWAP control
//! datagram (RFC 5415 §4.1.1: the 4-byte preamble `01 00 00 00` before the DTLS record) is
//! recognised by its content.
//!
//! tls-parser 0.12's `dtls` module reads DTLS 1.0/1.2 plaintext records but allocates per
//! record, does not reassemble fragments and knows no DTLS 1.3; only its record header parser is
//! used here (it reads the 13-byte header without allocating).
//!
//! No I/O, no clock, no logging; nothing is allocated until a hello is fragmented.

#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

pub mod reassembly;

use crate::closed::closed_set;
use crate::tls::hello::{self, ClientHello, ServerHello};
use crate::tls::{Anomaly, Version};
use reassembly::{Added, Fragment, Reassembler};

/// DTLS 1.0 (RFC 4347).
pub const DTLS10: Version = Version(0xfeff);
/// DTLS 1.2 (RFC 6347).
pub const DTLS12: Version = Version(0xfefd);
/// DTLS 1.3 (RFC 9147).
pub const DTLS13: Version = Version(0xfefc);
/// OpenSSL's pre-standard DTLS (`DTLS1_BAD_VER`), still spoken by Cisco AnyConnect.
pub const DTLS_BAD_VER: Version = Version(0x0100);

/// DTLSPlaintext header: type, version, epoch, 48-bit sequence number, length.
pub const RECORD_HEADER_LEN: usize = 13;
/// Handshake header: type, length (24), message_seq (16), fragment_offset (24),
/// fragment_length (24).
pub const HANDSHAKE_HEADER_LEN: usize = 12;

/// Distinct hello messages remembered per connection to recognise retransmissions. Beyond it
/// a hello is reported even if it repeats ([`Issue::SeenFull`]).
pub const MAX_SEEN_MESSAGES: usize = 16;
/// Alert records remembered per connection to recognise duplicates (same bound and rule).
pub const MAX_SEEN_ALERTS: usize = 8;

const CT_CCS: u8 = 20;
const CT_ALERT: u8 = 21;
const CT_HANDSHAKE: u8 = 22;
/// RFC 9146 `tls12_cid`: the header carries a connection ID of a negotiated length.
const CT_TLS12_CID: u8 = 25;
/// RFC 9147 ACK.
const CT_ACK: u8 = 26;

const HS_CLIENT_HELLO: u8 = 1;
const HS_SERVER_HELLO: u8 = 2;

/// What a datagram on a multiplexed 5-tuple carries, by its first byte (RFC 7983 §7).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Demux {
    /// 0–3.
    Stun,
    /// 16–19.
    Zrtp,
    /// 20–63.
    Dtls,
    /// 64–79.
    TurnChannel,
    /// 128–191.
    RtpRtcp,
    /// Anything else (or empty).
    Other,
}

/// RFC 7983 first-byte demultiplexing.
pub fn demux(datagram: &[u8]) -> Demux {
    match datagram.first() {
        Some(0..=3) => Demux::Stun,
        Some(16..=19) => Demux::Zrtp,
        Some(20..=63) => Demux::Dtls,
        Some(64..=79) => Demux::TurnChannel,
        Some(128..=191) => Demux::RtpRtcp,
        _ => Demux::Other,
    }
}

/// A DTLS record version field: `0xfeXX` or the pre-standard `0x0100`.
#[inline]
pub fn is_dtls_version(v: u16) -> bool {
    v >> 8 == 0xfe || v == DTLS_BAD_VER.0
}

closed_set! {
    /// Something odd in DTLS framing, or a limit met. A closed set: it is a counter label.
    pub enum Issue {
        /// A record header in the DTLS range whose version is not DTLS: the rest of the datagram
        /// is skipped.
        NotDtls => "not_dtls",
        /// A record longer than the rest of its datagram (records never span datagrams).
        RecordTruncated => "record_truncated",
        /// A record whose header cannot be framed without connection state (a connection ID, RFC
        /// 9146/9147): the rest of the datagram is skipped. Always encrypted.
        Unframed => "unframed_record",
        /// A handshake message header that does not fit its record.
        BadHandshake => "bad_handshake",
        /// A fragment outside its message (`fragment_offset + fragment_length > length`).
        BadFragment => "bad_fragment",
        /// A fragmented hello longer than [`reassembly::MAX_MESSAGE_LEN`].
        MessageTooLarge => "message_too_large",
        /// A hello in more than [`reassembly::MAX_FRAGMENT_RANGES`] scattered pieces.
        TooManyFragments => "too_many_fragments",
        /// More than [`reassembly::MAX_PENDING_MESSAGES`] hellos incomplete at once.
        ReassemblySlotsFull => "reassembly_slots_full",
        /// Overlapping fragments with different bytes (the first copy is kept).
        FragmentConflict => "fragment_conflict",
        /// More than [`MAX_SEEN_MESSAGES`] distinct hellos or [`MAX_SEEN_ALERTS`] alert records on
        /// one connection: repeats are no longer recognised.
        SeenFull => "seen_full",
    }
}

/// Receives what [`ConnParser`] finds. `dir` is the direction the caller gave the datagram.
pub trait Handler {
    /// A complete ClientHello, first time on this connection.
    fn client_hello(&mut self, dir: u8, ch: &ClientHello<'_>);
    /// A complete ServerHello or HelloRetryRequest (check [`ServerHello::is_hrr`]), first time.
    fn server_hello(&mut self, dir: u8, sh: &ServerHello);
    /// An alert of a plaintext (epoch 0) alert record, first time.
    fn alert(&mut self, dir: u8, level: u8, description: u8);
    /// An anomaly of a hello body or an alert record (the TLS set).
    fn anomaly(&mut self, a: Anomaly);
    /// A DTLS framing problem or a limit.
    fn issue(&mut self, i: Issue);
}

/// Skips a CAPWAP DTLS preamble (`01 00 00 00`, RFC 5415 §4.1.1) when a DTLS record follows.
fn strip_capwap(d: &[u8]) -> &[u8] {
    match d {
        [0x01, 0, 0, 0, rest @ ..] if first_record_plausible(rest) => rest,
        _ => d,
    }
}

/// The 13-byte plaintext record header at the start of `d`, read with tls-parser.
struct RecordHeader {
    content_type: u8,
    version: u16,
    epoch: u16,
    seq: u64,
    length: usize,
}

fn record_header(d: &[u8]) -> Option<RecordHeader> {
    let (_, h) = tls_parser::parse_dtls_record_header(d).ok()?;
    Some(RecordHeader {
        content_type: h.content_type.0,
        version: h.version.0,
        epoch: h.epoch,
        seq: h.sequence_number,
        length: usize::from(h.length),
    })
}

fn be24(b: &[u8]) -> u32 {
    match b {
        [a, b, c, ..] => u32::from(*a) << 16 | u32::from(*b) << 8 | u32::from(*c),
        _ => 0,
    }
}

/// A handshake message header (12 bytes) with its fragment bytes, if they fit `p`.
fn handshake_header(p: &[u8]) -> Option<(u8, u32, u16, u32, usize)> {
    let [ty, l0, l1, l2, s0, s1, o0, o1, o2, f0, f1, f2] = *p.first_chunk::<12>()?;
    let frag_len = usize::try_from(be24(&[f0, f1, f2])).ok()?;
    Some((
        ty,
        be24(&[l0, l1, l2]),
        u16::from_be_bytes([s0, s1]),
        be24(&[o0, o1, o2]),
        frag_len,
    ))
}

/// The first record of `d` is a plaintext handshake record (epoch 0, DTLS version, length
/// inside the datagram) whose first message is a ClientHello or ServerHello fragment that fits
/// its record: enough to start a DTLS connection on a UDP 5-tuple.
fn first_record_plausible(d: &[u8]) -> bool {
    let Some(h) = record_header(d) else {
        return false;
    };
    if h.content_type != CT_HANDSHAKE
        || !matches!(h.version, 0xfeff | 0xfefd | 0xfefc | 0x0100)
        || h.epoch != 0
    {
        return false;
    }
    let Some(payload) = d.get(RECORD_HEADER_LEN..).and_then(|r| r.get(..h.length)) else {
        return false;
    };
    let Some((ty, length, _, offset, frag_len)) = handshake_header(payload) else {
        return false;
    };
    matches!(ty, HS_CLIENT_HELLO | HS_SERVER_HELLO)
        && u64::from(offset).saturating_add(frag_len as u64) <= u64::from(length)
        && frag_len <= payload.len().saturating_sub(HANDSHAKE_HEADER_LEN)
}

/// The datagram may carry DTLS records: RFC 7983's DTLS range (first byte 20–63), or a CAPWAP
/// DTLS preamble. Stateless and cheap: what a dispatcher forwards to the UDP flows.
pub fn in_dtls_range(datagram: &[u8]) -> bool {
    demux(datagram) == Demux::Dtls || matches!(datagram, [0x01, 0, 0, 0, 20..=63, ..])
}

/// This datagram starts a DTLS handshake: a plaintext ClientHello or ServerHello record
/// (possibly behind a CAPWAP preamble). Decided on content, never on ports.
pub fn looks_like_dtls(datagram: &[u8]) -> bool {
    demux(datagram) == Demux::Dtls && first_record_plausible(datagram)
        || matches!(datagram, [0x01, 0, 0, 0, rest @ ..] if first_record_plausible(rest))
}

/// FNV-1a, 64 bits: a stable fingerprint of a handshake message for retransmission checks.
fn fnv(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for &b in *p {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// A small set of remembered fingerprints, bounded by `N`.
#[derive(Debug, Clone, Copy)]
struct Seen<const N: usize> {
    items: [u64; N],
    len: usize,
}

impl<const N: usize> Default for Seen<N> {
    fn default() -> Self {
        Seen {
            items: [0; N],
            len: 0,
        }
    }
}

impl<const N: usize> Seen<N> {
    /// True if `v` is new (and remembers it if there is room; `full` is called when not).
    fn insert(&mut self, v: u64, full: impl FnOnce()) -> bool {
        if self.items.get(..self.len).unwrap_or(&[]).contains(&v) {
            return false;
        }
        match self.items.get_mut(self.len) {
            Some(slot) => {
                *slot = v;
                self.len = self.len.saturating_add(1);
            }
            None => full(),
        }
        true
    }
}

/// Parser state for one DTLS connection (one UDP 5-tuple, both directions).
#[derive(Debug, Default)]
pub struct ConnParser {
    reasm: Reassembler,
    hellos: Seen<MAX_SEEN_MESSAGES>,
    alerts: Seen<MAX_SEEN_ALERTS>,
}

impl ConnParser {
    /// A parser for a new connection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Back to a new connection, keeping buffers.
    pub fn reset(&mut self) {
        self.reasm.clear();
        self.hellos = Seen::default();
        self.alerts = Seen::default();
    }

    /// Bytes held for hellos being reassembled.
    pub fn buffered(&self) -> usize {
        self.reasm.buffered()
    }

    /// A hello is incomplete (it never completed, if the connection ends now).
    pub fn pending(&self) -> bool {
        self.reasm.pending()
    }

    /// Forgets the hellos being reassembled (for a memory budget the caller enforces).
    pub fn clear_pending(&mut self) {
        self.reasm.clear();
    }

    /// Reads one UDP payload sent in direction `dir` (0 or 1). `scratch` is a reusable buffer
    /// for hello extraction. Datagrams outside RFC 7983's DTLS range (STUN, RTP, …) are
    /// ignored; returns whether the datagram was read as DTLS.
    pub fn datagram(
        &mut self,
        dir: u8,
        datagram: &[u8],
        scratch: &mut Vec<u8>,
        h: &mut impl Handler,
    ) -> bool {
        let mut d = strip_capwap(datagram);
        if demux(d) != Demux::Dtls {
            return false;
        }
        while let Some(&b0) = d.first() {
            if b0 & 0xe0 == 0x20 {
                // RFC 9147 §4 unified header (always encrypted): 001CSLEE.
                if b0 & 0x10 != 0 {
                    h.issue(Issue::Unframed);
                    return true;
                }
                let seq_len = if b0 & 0x08 != 0 { 2 } else { 1 };
                let hdr = 1usize.saturating_add(seq_len);
                if b0 & 0x04 == 0 {
                    return true; // the record runs to the end of the datagram
                }
                let len = match d.get(hdr..).and_then(|r| r.first_chunk::<2>()) {
                    Some(l) => usize::from(u16::from_be_bytes(*l)),
                    None => {
                        h.issue(Issue::RecordTruncated);
                        return true;
                    }
                };
                match d.get(hdr.saturating_add(2).saturating_add(len)..) {
                    Some(rest) => d = rest,
                    None => {
                        h.issue(Issue::RecordTruncated);
                        return true;
                    }
                }
                continue;
            }
            if b0 == CT_TLS12_CID {
                h.issue(Issue::Unframed);
                return true;
            }
            let Some(rh) = record_header(d) else {
                h.issue(Issue::RecordTruncated);
                return true;
            };
            if !is_dtls_version(rh.version) || !(CT_CCS..=CT_ACK).contains(&rh.content_type) {
                h.issue(Issue::NotDtls);
                return true;
            }
            let Some(payload) = d.get(RECORD_HEADER_LEN..).and_then(|r| r.get(..rh.length)) else {
                h.issue(Issue::RecordTruncated);
                return true;
            };
            if rh.epoch == 0 {
                match rh.content_type {
                    CT_HANDSHAKE => self.handshake(dir, rh.version, payload, scratch, h),
                    CT_ALERT => self.alert(dir, &rh, payload, h),
                    _ => {}
                }
            }
            d = d
                .get(RECORD_HEADER_LEN.saturating_add(rh.length)..)
                .unwrap_or(&[]);
        }
        true
    }

    fn alert(&mut self, dir: u8, rh: &RecordHeader, payload: &[u8], h: &mut impl Handler) {
        if payload.is_empty()
            || !payload.len().is_multiple_of(2)
            || payload.chunks_exact(2).any(|a| !matches!(a, [1 | 2, _]))
        {
            h.anomaly(Anomaly::BadAlert);
            return;
        }
        let key = u64::from(dir) << 63 | u64::from(rh.epoch) << 48 | rh.seq;
        if !self.alerts.insert(key, || h.issue(Issue::SeenFull)) {
            return;
        }
        for a in payload.chunks_exact(2) {
            if let [level, description] = a {
                h.alert(dir, *level, *description);
            }
        }
    }

    /// One plaintext handshake record: its messages or message fragments.
    fn handshake(
        &mut self,
        dir: u8,
        rec_version: u16,
        mut p: &[u8],
        scratch: &mut Vec<u8>,
        h: &mut impl Handler,
    ) {
        while !p.is_empty() {
            let Some((ty, length, seq, offset, frag_len)) = handshake_header(p) else {
                h.issue(Issue::BadHandshake);
                return;
            };
            let Some(data) = p
                .get(HANDSHAKE_HEADER_LEN..)
                .and_then(|r| r.get(..frag_len))
            else {
                h.issue(Issue::BadHandshake);
                return;
            };
            p = p
                .get(HANDSHAKE_HEADER_LEN.saturating_add(frag_len)..)
                .unwrap_or(&[]);
            if ty != HS_CLIENT_HELLO && ty != HS_SERVER_HELLO {
                continue; // HelloVerifyRequest, certificates, …: not needed
            }
            let framing = fragment_framing(offset, frag_len);
            if offset == 0 && usize::try_from(length).ok() == Some(frag_len) {
                report(
                    &mut self.hellos,
                    dir,
                    ty,
                    seq,
                    framing,
                    rec_version,
                    data,
                    scratch,
                    h,
                );
                continue;
            }
            let f = Fragment {
                dir,
                msg_type: ty,
                length,
                message_seq: seq,
                offset,
                data,
            };
            if let Added::Complete(i) = self.reasm.add(&f, |e| h.issue(e)) {
                let body = self.reasm.body(i);
                report(
                    &mut self.hellos,
                    dir,
                    ty,
                    seq,
                    framing,
                    rec_version,
                    body,
                    scratch,
                    h,
                );
                self.reasm.release(i);
            }
        }
    }
}

/// One complete hello: reported unless it repeats one already reported on the connection.
#[allow(clippy::too_many_arguments)] // the message's identity, then where to report
fn report(
    hellos: &mut Seen<MAX_SEEN_MESSAGES>,
    dir: u8,
    ty: u8,
    seq: u16,
    framing: [u8; 6],
    rec_version: u16,
    body: &[u8],
    scratch: &mut Vec<u8>,
    h: &mut impl Handler,
) {
    let fp = fnv(&[&[ty], &seq.to_be_bytes(), &framing, body]);
    if !hellos.insert(fp, || h.issue(Issue::SeenFull)) {
        return;
    }
    if ty == HS_CLIENT_HELLO {
        match hello::parse_dtls_client_hello(body, scratch, |a| h.anomaly(a)) {
            Ok(mut ch) => {
                ch.record_version = Some(Version(rec_version));
                h.client_hello(dir, &ch);
            }
            Err(a) => h.anomaly(a),
        }
    } else {
        match hello::parse_dtls_server_hello(body, scratch, |a| h.anomaly(a)) {
            Ok(sh) => h.server_hello(dir, &sh),
            Err(a) => h.anomaly(a),
        }
    }
}

/// The fragment header of the record that completed a message (part of its identity: a hello
/// sent whole and the same hello resent in fragments are two transmissions, as tshark counts
/// them).
fn fragment_framing(offset: u32, frag_len: usize) -> [u8; 6] {
    let [_, a, b, c] = offset.to_be_bytes();
    let [_, d, e, f] = u32::try_from(frag_len).unwrap_or(u32::MAX).to_be_bytes();
    [a, b, c, d, e, f]
}

#[cfg(test)]
mod tests;
