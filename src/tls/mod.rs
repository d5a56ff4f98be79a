//! TLS extraction: a pure, incremental parser for one direction of a TCP stream.
//!
//! [`DirParser::feed`] is given the reassembled bytes of one direction from the stream start
//! and reports hellos, alerts and anomalies to a [`Handler`]. It frames records itself (5-byte
//! header), joins handshake messages split over records (tls-parser 0.12 does not), parses
//! ClientHello/ServerHello with tls-parser ([`hello`]), reads SSLv2-format hellos
//! ([`sslv2`]), and stops once the direction is encrypted: at ChangeCipherSpec for TLS ≤ 1.2
//! (never reading encrypted records as alerts), at the first application-data record for
//! TLS 1.3 (whose dummy ChangeCipherSpec is skipped).
//!
//! No I/O, no clock, no logging, no allocation beyond the one reusable handshake buffer.

#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

pub mod certificate;
pub mod cipher;
pub mod facts;
pub mod fingerprint;
pub mod group;
pub mod hello;
pub mod sslv2;
pub mod transport;
pub mod version;

use crate::closed::closed_set;
pub use hello::{ClientHello, ServerHello, VersionList};
pub use transport::Transport;
pub use version::{Version, VersionLabel};

/// Largest record payload accepted: 2^14 plaintext + 2048 expansion (RFC 5246 §6.2.3).
pub const MAX_RECORD_LEN: usize = 16384 + 2048;

/// Largest ClientHello/ServerHello message buffered across records (rustls'
/// `MAX_HANDSHAKE_SIZE`). Other handshake messages are skipped, not buffered, but for the
/// first part of a server's Certificate when the handler wants it
/// ([`certificate::MAX_CERTIFICATE_PREFIX`]).
pub const MAX_HELLO_LEN: usize = 0xffff;

/// Record content types.
const CT_CCS: u8 = 20;
const CT_ALERT: u8 = 21;
const CT_HANDSHAKE: u8 = 22;
const CT_APPDATA: u8 = 23;

const HS_CLIENT_HELLO: u8 = 1;
const HS_SERVER_HELLO: u8 = 2;
const HS_CERTIFICATE: u8 = 11;

closed_set! {
    /// Something odd in the traffic, counted by kind. A closed set: it is a metric label.
    pub enum Anomaly {
        /// ClientHello body that tls-parser rejects.
        ClientHelloMalformed => "client_hello_malformed",
        /// ServerHello body too short to hold version and random.
        ServerHelloMalformed => "server_hello_malformed",
        /// ServerHello legacy version outside SSL 3.0–TLS 1.2 and draft 18 (read as raw hex).
        ServerHelloUnusualVersion => "server_hello_unusual_version",
        /// Extension block that does not frame exactly.
        ExtensionsMalformed => "extensions_malformed",
        /// `supported_versions` whose inner length disagrees with its framing.
        SupportedVersionsMalformed => "supported_versions_malformed",
        /// More offered versions than [`hello::MAX_OFFERED_VERSIONS`].
        TooManyVersions => "too_many_versions",
        /// Bytes after a hello's last field.
        TrailingData => "trailing_data",
        /// Record longer than [`MAX_RECORD_LEN`].
        RecordTooLarge => "record_too_large",
        /// Hello longer than [`MAX_HELLO_LEN`].
        HandshakeTooLarge => "handshake_too_large",
        /// Record with a content type other than 20–23, or a non-3 major version.
        BadRecord => "bad_record",
        /// Alert record whose length is not a multiple of 2 or whose level is not 1/2, before
        /// encryption started.
        BadAlert => "bad_alert",
        /// A server Certificate message whose list does not frame or whose leaf is not an
        /// X.509 certificate.
        CertificateMalformed => "certificate_malformed",
        /// A server leaf certificate larger than
        /// [`certificate::MAX_CERTIFICATE_PREFIX`]: not read.
        CertificateTooLarge => "certificate_too_large",
    }
}

/// What a ChangeCipherSpec record means in this direction, decided by the caller who sees
/// both directions.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CcsMeaning {
    /// TLS ≤ 1.2: everything after it is encrypted.
    Encrypted,
    /// TLS 1.3 middlebox-compatibility dummy: keep parsing.
    Dummy,
    /// Probably a TLS 1.3 dummy, but the ServerHello was not seen: keep parsing, accepting
    /// only a handshake record that is exactly one well-formed ClientHello (an encrypted
    /// TLS ≤ 1.2 Finished never is).
    DummyUnconfirmed,
}

/// Why a direction stopped being parsed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The rest is encrypted (after ChangeCipherSpec, or application data).
    Encrypted,
    /// The stream does not start like TLS or SSLv2.
    NotTls,
    /// A framing error or a limit: see the anomaly reported with it.
    Malformed,
}

/// Receives what [`DirParser`] finds.
pub trait Handler {
    /// A complete ClientHello (TLS or SSLv2 format).
    fn client_hello(&mut self, ch: &ClientHello<'_>);
    /// A complete ServerHello or HelloRetryRequest (check [`ServerHello::is_hrr`]).
    fn server_hello(&mut self, sh: &ServerHello);
    /// A plaintext alert record entry.
    fn alert(&mut self, level: u8, description: u8);
    /// A handshake message other than a hello (type only).
    fn other_handshake(&mut self, _msg_type: u8) {}
    /// Whether the Certificate message starting now should be read (its leaf parsed): a
    /// server's, in a TLS ≤ 1.2 handshake. Asked when its header is complete.
    fn wants_certificate(&mut self) -> bool {
        false
    }
    /// The leaf certificate of a Certificate message that was wanted.
    fn certificate(&mut self, _leaf: certificate::LeafFacts) {}
    /// An anomaly.
    fn anomaly(&mut self, a: Anomaly);
    /// What a ChangeCipherSpec in this direction means now.
    fn ccs(&mut self) -> CcsMeaning;
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum State {
    /// Nothing decided yet: the next bytes must look like TLS or SSLv2.
    Start,
    /// Inside TLS records.
    Records,
    /// Stopped.
    Done(Stop),
}

/// Incremental parser state for one direction of one connection.
#[derive(Debug)]
pub struct DirParser {
    state: State,
    /// Partial hello message (4-byte header + body so far) split across records, or the
    /// first part of a wanted Certificate message (at most
    /// [`certificate::MAX_CERTIFICATE_PREFIX`] bytes).
    hs: Vec<u8>,
    /// Bytes still to skip of a handshake message that is not a hello.
    hs_skip: usize,
    /// After an unconfirmed dummy CCS: only a lone well-formed ClientHello is believed.
    guarded: bool,
    /// Any complete record or SSLv2 message was consumed.
    touched: bool,
    /// Version field of the record being read.
    rec_version: u16,
    /// Version field of the record where the hello being assembled started.
    msg_rec_version: u16,
    /// Fed through [`DirParser::feed_handshake`]: no records, hellos have no record version.
    bare: bool,
}

impl Default for DirParser {
    fn default() -> Self {
        Self::new()
    }
}

impl DirParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        DirParser {
            state: State::Start,
            hs: Vec::new(),
            hs_skip: 0,
            guarded: false,
            touched: false,
            rec_version: 0,
            msg_rec_version: 0,
            bare: false,
        }
    }

    /// Resets to the start of a new stream, keeping the buffer's capacity.
    pub fn reset(&mut self) {
        self.state = State::Start;
        self.hs.clear();
        self.hs_skip = 0;
        self.guarded = false;
        self.touched = false;
        self.bare = false;
    }

    /// Stopped, and why; `None` while still parsing.
    pub fn stopped(&self) -> Option<Stop> {
        match self.state {
            State::Done(s) => Some(s),
            _ => None,
        }
    }

    /// True until a complete record or SSLv2 message has been consumed.
    pub fn untouched(&self) -> bool {
        !self.touched
    }

    /// Holds the start of a hello split over records (incomplete if the stream ends now). A
    /// Certificate being read is not a pending hello.
    pub fn pending(&self) -> bool {
        let reading_certificate = self.hs.len() >= 4 && self.hs.first() == Some(&HS_CERTIFICATE);
        !self.hs.is_empty() && !reading_certificate
    }

    /// Bytes buffered by the parser (a hello being joined across records).
    pub fn buffered(&self) -> usize {
        self.hs.len()
    }

    /// Stops parsing (for a limit the caller enforces).
    pub fn stop(&mut self, why: Stop) {
        self.state = State::Done(why);
        self.hs = Vec::new();
    }

    /// Parses as much of `data` (the unconsumed stream bytes of this direction) as is
    /// complete and returns how many bytes were consumed. The caller keeps the rest and
    /// calls again with more bytes appended. After a stop everything is consumed.
    pub fn feed(&mut self, data: &[u8], h: &mut impl Handler) -> usize {
        let mut off = 0;
        loop {
            let rest = data.get(off..).unwrap_or(&[]);
            match self.state {
                State::Done(_) => return data.len(),
                State::Start => match self.start(rest, h) {
                    Some(n) => off = off.saturating_add(n),
                    None => return off,
                },
                State::Records => {
                    let Some(n) = self.record(rest, h) else {
                        return off;
                    };
                    off = off.saturating_add(n);
                }
            }
        }
    }

    /// Feeds the next bytes of a stream of handshake messages without record framing: QUIC
    /// CRYPTO data, or DTLS handshake messages after their own reassembly (with the 4-byte TLS
    /// message header). Each call continues the stream; a message split across calls is
    /// joined (within [`MAX_HELLO_LEN`], as for TCP); hellos carry no record version. A parser
    /// is fed either this way or with [`DirParser::feed`], never both.
    pub fn feed_handshake(&mut self, data: &[u8], h: &mut impl Handler) {
        match self.state {
            State::Done(_) => return,
            State::Start => {
                self.state = State::Records;
                self.bare = true;
            }
            State::Records => {}
        }
        if !data.is_empty() {
            self.touched = true;
            self.handshake(data, h);
        }
    }

    /// Decides what the stream is. `None`: need more bytes.
    fn start(&mut self, buf: &[u8], h: &mut impl Handler) -> Option<usize> {
        let b0 = *buf.first()?;
        if b0 & 0x80 == 0 && !(CT_CCS..=CT_APPDATA).contains(&b0) {
            // Neither a TLS record nor SSLv2: decided on the first byte (a one-byte answer
            // such as PostgreSQL's `S` must not wait for more).
            self.state = State::Done(Stop::NotTls);
            return Some(0);
        }
        let b1 = *buf.get(1)?;
        if b0 & 0x80 != 0 {
            // SSLv2 record format.
            let mt = *buf.get(2)?;
            match mt {
                sslv2::MT_CLIENT_HELLO => match sslv2::parse_client_hello(buf) {
                    sslv2::V2::Incomplete => return None,
                    sslv2::V2::Yes(ch, n) => {
                        self.touched = true;
                        h.client_hello(&ch);
                        // An SSLv2-compatible hello may be followed by TLS records; an SSLv2
                        // CLIENT-MASTER-KEY is where the census stops.
                        return Some(n);
                    }
                    sslv2::V2::No => {}
                },
                sslv2::MT_SERVER_HELLO => match sslv2::parse_server_hello(buf) {
                    sslv2::V2::Incomplete => return None,
                    sslv2::V2::Yes(sh, n) => {
                        self.touched = true;
                        h.server_hello(&sh);
                        self.state = State::Done(Stop::Encrypted);
                        return Some(n);
                    }
                    sslv2::V2::No => {}
                },
                _ => {}
            }
            self.state = State::Done(if self.touched {
                Stop::Encrypted
            } else {
                Stop::NotTls
            });
            return Some(0);
        }
        let b2 = *buf.get(2)?;
        self.state = match (b0, b1, b2) {
            (CT_HANDSHAKE | CT_ALERT, 3, 0..=4) => State::Records,
            // A stream caught after its handshake.
            (CT_CCS | CT_APPDATA, 3, 0..=4) => State::Done(Stop::Encrypted),
            _ => State::Done(Stop::NotTls),
        };
        Some(0)
    }

    /// Handles one complete record. `None`: need more bytes.
    fn record(&mut self, buf: &[u8], h: &mut impl Handler) -> Option<usize> {
        let [ct, major, minor, l0, l1] = *buf.first_chunk::<5>()?;
        let len = usize::from(u16::from_be_bytes([l0, l1]));
        if major != 3 || !(CT_CCS..=CT_APPDATA).contains(&ct) {
            if ct & 0x80 != 0 && !self.touched {
                // SSLv2 after an SSLv2-compatible hello: handled by `start`.
                self.state = State::Start;
                return Some(0);
            }
            // SSLv2 messages after a hello, or garbage: nothing plaintext we can trust.
            if self.touched && ct & 0x80 != 0 {
                self.state = State::Done(Stop::Encrypted);
            } else {
                h.anomaly(Anomaly::BadRecord);
                self.state = State::Done(Stop::Malformed);
            }
            return Some(0);
        }
        if len > MAX_RECORD_LEN {
            h.anomaly(Anomaly::RecordTooLarge);
            self.state = State::Done(Stop::Malformed);
            return Some(0);
        }
        let payload = buf.get(5..)?.get(..len)?;
        self.touched = true;
        self.rec_version = u16::from_be_bytes([major, minor]);
        match ct {
            CT_HANDSHAKE => {
                if self.guarded {
                    self.guarded_handshake(payload, h);
                } else {
                    self.handshake(payload, h);
                }
            }
            CT_ALERT => {
                if len == 0
                    || len % 2 != 0
                    || payload.chunks_exact(2).any(|a| !matches!(a, [1 | 2, _]))
                {
                    // Not a plaintext alert: an encrypted one, so encryption has started.
                    h.anomaly(Anomaly::BadAlert);
                    self.state = State::Done(Stop::Encrypted);
                } else {
                    for a in payload.chunks_exact(2) {
                        if let [level, description] = a {
                            h.alert(*level, *description);
                        }
                    }
                }
            }
            CT_CCS => match h.ccs() {
                CcsMeaning::Encrypted => self.state = State::Done(Stop::Encrypted),
                CcsMeaning::Dummy => {}
                CcsMeaning::DummyUnconfirmed => self.guarded = true,
            },
            _ => self.state = State::Done(Stop::Encrypted),
        }
        Some(len.saturating_add(5))
    }

    /// After an unconfirmed dummy CCS, a handshake record is believed only if it is exactly one
    /// well-formed ClientHello (TLS 1.3 second ClientHello after an unseen HelloRetryRequest);
    /// anything else means the CCS was real and this record is an encrypted Finished.
    fn guarded_handshake(&mut self, payload: &[u8], h: &mut impl Handler) {
        let body = match payload {
            [HS_CLIENT_HELLO, a, b, c, body @ ..]
                if usize::from(*a) << 16 | usize::from(*b) << 8 | usize::from(*c) == body.len() =>
            {
                body
            }
            _ => {
                self.state = State::Done(Stop::Encrypted);
                return;
            }
        };
        let mut quiet = true;
        match hello::parse_client_hello(body, |_| quiet = false) {
            Ok(mut ch) if quiet => {
                self.guarded = false;
                ch.record_version = Some(Version(self.rec_version));
                h.client_hello(&ch);
            }
            _ => self.state = State::Done(Stop::Encrypted),
        }
    }

    /// Feeds one handshake record payload: joins messages split over records, parses hellos
    /// (and the leaf of a wanted Certificate), skips the rest.
    fn handshake(&mut self, mut p: &[u8], h: &mut impl Handler) {
        while !p.is_empty() {
            if self.hs_skip > 0 {
                let n = self.hs_skip.min(p.len());
                self.hs_skip = self.hs_skip.saturating_sub(n);
                p = p.get(n..).unwrap_or(&[]);
                continue;
            }
            if !self.hs.is_empty() {
                // Continue a message started in an earlier record.
                if self.hs.len() < 4 {
                    let n = 4usize.saturating_sub(self.hs.len()).min(p.len());
                    self.hs.extend_from_slice(p.get(..n).unwrap_or(&[]));
                    p = p.get(n..).unwrap_or(&[]);
                    if self.hs.len() == 4 && !self.begin_message(h) {
                        return;
                    }
                    continue;
                }
                let total = msg_len(&self.hs).saturating_add(4);
                let want = keep_len(&self.hs);
                // A Certificate's leaf length is known after 10 bytes: take those first.
                let step = if self.hs.first() == Some(&HS_CERTIFICATE) && self.hs.len() < 10 {
                    want.min(10)
                } else {
                    want
                };
                let n = step.saturating_sub(self.hs.len()).min(p.len());
                self.hs.extend_from_slice(p.get(..n).unwrap_or(&[]));
                p = p.get(n..).unwrap_or(&[]);
                let kept = self.hs.len();
                if kept >= keep_len(&self.hs) {
                    let msg = std::mem::take(&mut self.hs);
                    self.message(&msg, h);
                    if msg.first() != Some(&HS_CERTIFICATE) {
                        // Keep the capacity for the next hello; a certificate's is let go.
                        self.hs = msg;
                        self.hs.clear();
                    }
                    self.hs_skip = total.saturating_sub(kept);
                    if self.stopped().is_some() {
                        return;
                    }
                }
                continue;
            }
            // At a message boundary inside this record.
            self.msg_rec_version = self.rec_version;
            if p.len() < 4 {
                self.hs.extend_from_slice(p);
                if self.hs.len() == 4 {
                    self.begin_message(h);
                }
                return;
            }
            let total = msg_len(p).saturating_add(4);
            let ty = p.first().copied().unwrap_or(0);
            if !self.buffers(ty, h) {
                let n = total.min(p.len());
                self.hs_skip = total.saturating_sub(n);
                p = p.get(n..).unwrap_or(&[]);
                continue;
            }
            if ty != HS_CERTIFICATE && msg_len(p) > MAX_HELLO_LEN {
                h.anomaly(Anomaly::HandshakeTooLarge);
                self.stop(Stop::Malformed);
                return;
            }
            match p.get(..keep_len(p)) {
                Some(msg) => {
                    self.message(msg, h);
                    if self.stopped().is_some() {
                        return;
                    }
                    let n = total.min(p.len());
                    self.hs_skip = total.saturating_sub(n);
                    p = p.get(n..).unwrap_or(&[]);
                }
                None => {
                    // Split over records: keep it (a Certificate's part is within its cap,
                    // as `keep_len` bounds it).
                    self.hs.extend_from_slice(p);
                    return;
                }
            }
        }
    }

    /// Whether a message of type `ty` whose header starts now is buffered (a hello, or a
    /// Certificate the handler wants); tells the handler of every other message.
    fn buffers(&mut self, ty: u8, h: &mut impl Handler) -> bool {
        match ty {
            HS_CLIENT_HELLO | HS_SERVER_HELLO => true,
            HS_CERTIFICATE => {
                h.other_handshake(ty);
                h.wants_certificate()
            }
            _ => {
                h.other_handshake(ty);
                false
            }
        }
    }

    /// A 4-byte header was completed in `self.hs`: keep buffering a hello (or a wanted
    /// Certificate), or switch to skipping. Returns false if parsing stopped.
    fn begin_message(&mut self, h: &mut impl Handler) -> bool {
        let ty = self.hs.first().copied().unwrap_or(0);
        let len = msg_len(&self.hs);
        if !self.buffers(ty, h) {
            self.hs.clear();
            self.hs_skip = len;
        } else if ty != HS_CERTIFICATE && len > MAX_HELLO_LEN {
            h.anomaly(Anomaly::HandshakeTooLarge);
            self.stop(Stop::Malformed);
            return false;
        } else if len == 0 {
            let msg = std::mem::take(&mut self.hs);
            self.message(&msg, h);
            self.hs = msg;
            self.hs.clear();
        }
        true
    }

    /// One complete hello message (header included), or the buffered first part of a
    /// Certificate message.
    fn message(&mut self, msg: &[u8], h: &mut impl Handler) {
        let body = msg.get(4..).unwrap_or(&[]);
        match msg.first() {
            Some(&HS_CLIENT_HELLO) => match hello::parse_client_hello(body, |a| h.anomaly(a)) {
                Ok(mut ch) => {
                    ch.record_version = (!self.bare).then_some(Version(self.msg_rec_version));
                    h.client_hello(&ch);
                }
                Err(a) => h.anomaly(a),
            },
            Some(&HS_SERVER_HELLO) => match hello::parse_server_hello(body, |a| h.anomaly(a)) {
                Ok(sh) => h.server_hello(&sh),
                Err(a) => h.anomaly(a),
            },
            Some(&HS_CERTIFICATE) => match certificate::parse_leaf(body) {
                Ok(Some(leaf)) => h.certificate(leaf),
                Ok(None) => {}
                Err(a) => h.anomaly(a),
            },
            _ => {}
        }
    }
}

/// Bytes of a buffered message (header included) to hold before parsing it, given its first
/// bytes: a whole hello; of a Certificate, up to the end of its leaf within
/// [`certificate::MAX_CERTIFICATE_PREFIX`] ([`certificate::prefix_len`]).
fn keep_len(msg: &[u8]) -> usize {
    if msg.first() == Some(&HS_CERTIFICATE) {
        certificate::prefix_len(msg)
    } else {
        msg_len(msg).saturating_add(4)
    }
}

/// 24-bit handshake message length from a 4-byte header.
fn msg_len(hdr: &[u8]) -> usize {
    match hdr {
        [_, a, b, c, ..] => usize::from(*a) << 16 | usize::from(*b) << 8 | usize::from(*c),
        _ => 0,
    }
}

/// RFC name of an alert description (`None` for unassigned values, written as a number).
pub fn alert_name(desc: u8) -> Option<&'static str> {
    ALERTS.iter().find(|(d, _)| *d == desc).map(|(_, n)| *n)
}

/// The alert table, defined once: every alert description with an RFC name (IANA TLS Alerts
/// registry), in code order. It is also the closed set of the metrics' `description` label.
pub const ALERTS: [(u8, &str); 35] = [
    (0, "close_notify"),
    (10, "unexpected_message"),
    (20, "bad_record_mac"),
    (21, "decryption_failed"),
    (22, "record_overflow"),
    (30, "decompression_failure"),
    (40, "handshake_failure"),
    (41, "no_certificate"),
    (42, "bad_certificate"),
    (43, "unsupported_certificate"),
    (44, "certificate_revoked"),
    (45, "certificate_expired"),
    (46, "certificate_unknown"),
    (47, "illegal_parameter"),
    (48, "unknown_ca"),
    (49, "access_denied"),
    (50, "decode_error"),
    (51, "decrypt_error"),
    (60, "export_restriction"),
    (70, "protocol_version"),
    (71, "insufficient_security"),
    (80, "internal_error"),
    (86, "inappropriate_fallback"),
    (90, "user_canceled"),
    (100, "no_renegotiation"),
    (109, "missing_extension"),
    (110, "unsupported_extension"),
    (111, "certificate_unobtainable"),
    (112, "unrecognized_name"),
    (113, "bad_certificate_status_response"),
    (114, "bad_certificate_hash_value"),
    (115, "unknown_psk_identity"),
    (116, "certificate_required"),
    (120, "no_application_protocol"),
    (121, "ech_required"),
];

#[cfg(test)]
mod tests {
    use super::hello::tests::{client_hello_body, server_hello_body};
    use super::*;

    #[derive(Default)]
    struct Rec {
        events: Vec<String>,
        ccs: Option<CcsMeaning>,
    }

    impl Handler for Rec {
        fn client_hello(&mut self, ch: &ClientHello<'_>) {
            self.events.push(format!(
                "ch {}",
                ch.offered_max().map(|v| v.to_string()).unwrap_or_default()
            ));
        }
        fn server_hello(&mut self, sh: &ServerHello) {
            self.events.push(format!(
                "{} {}",
                if sh.is_hrr { "hrr" } else { "sh" },
                sh.version
            ));
        }
        fn alert(&mut self, level: u8, d: u8) {
            self.events
                .push(format!("alert {level} {}", alert_name(d).unwrap_or("?")));
        }
        fn anomaly(&mut self, a: Anomaly) {
            self.events.push(format!("anomaly {}", a.name()));
        }
        fn ccs(&mut self) -> CcsMeaning {
            self.ccs.unwrap_or(CcsMeaning::Encrypted)
        }
    }

    fn record(ct: u8, payload: &[u8]) -> Vec<u8> {
        let mut r = vec![ct, 3, 1];
        r.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        r.extend_from_slice(payload);
        r
    }

    fn hs(ty: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![ty, 0, (body.len() >> 8) as u8, body.len() as u8];
        m.extend_from_slice(body);
        m
    }

    fn run(stream: &[u8], chunks: &[usize], ccs: Option<CcsMeaning>) -> Vec<String> {
        let mut p = DirParser::new();
        let mut h = Rec {
            ccs,
            ..Rec::default()
        };
        let mut buf = Vec::new();
        let mut at = 0;
        for &c in chunks.iter().chain(std::iter::once(&usize::MAX)) {
            let end = at + c.min(stream.len() - at);
            buf.extend_from_slice(&stream[at..end]);
            at = end;
            let n = p.feed(&buf, &mut h);
            buf.drain(..n);
            if at == stream.len() {
                break;
            }
        }
        h.events
    }

    fn ch13() -> Vec<u8> {
        hs(
            1,
            &client_hello_body(0x0303, &[0x1301], &[(43, &[4, 0x03, 0x04, 0x03, 0x03])]),
        )
    }

    #[test]
    fn client_hello_in_one_record() {
        let s = record(22, &ch13());
        assert_eq!(run(&s, &[s.len()], None), ["ch tls1.3"]);
    }

    #[test]
    fn client_hello_split_over_records_and_one_byte_segments() {
        let m = ch13();
        let mut s = Vec::new();
        for part in m.chunks(7) {
            s.extend_from_slice(&record(22, part));
        }
        let ones = vec![1; s.len()];
        assert_eq!(run(&s, &ones, None), ["ch tls1.3"]);
        // Header itself split: first record holds 2 bytes of the handshake header.
        let mut s2 = record(22, &m[..2]);
        s2.extend_from_slice(&record(22, &m[2..]));
        assert_eq!(run(&s2, &[s2.len()], None), ["ch tls1.3"]);
    }

    #[test]
    fn several_messages_in_one_record() {
        let sh = hs(2, &server_hello_body(0x0303, [1; 32], &[]));
        let cert = hs(11, &[0; 40]);
        let done = hs(14, &[]);
        let s = record(22, &[sh, cert, done].concat());
        assert_eq!(run(&s, &[s.len()], None), ["sh tls1.2"]);
    }

    #[test]
    fn large_certificate_is_skipped_across_records() {
        let sh = hs(2, &server_hello_body(0x0301, [1; 32], &[]));
        let cert = hs(11, &vec![0; 30000]);
        let mut flight = [sh, cert].concat();
        flight.extend_from_slice(&hs(14, &[]));
        let mut s = Vec::new();
        for part in flight.chunks(16384) {
            s.extend_from_slice(&record(22, part));
        }
        s.extend_from_slice(&record(21, &[2, 70]));
        assert_eq!(
            run(&s, &[1000; 64], None),
            ["sh tls1.0", "alert 2 protocol_version"]
        );
    }

    #[test]
    fn encrypted_records_after_ccs_are_never_alerts() {
        let mut s = record(22, &ch13());
        s.extend_from_slice(&record(20, &[1]));
        s.extend_from_slice(&record(21, &[2, 40])); // would look like an alert
        assert_eq!(
            run(&s, &[s.len()], Some(CcsMeaning::Encrypted)),
            ["ch tls1.3"]
        );
    }

    #[test]
    fn tls13_dummy_ccs_is_skipped_until_application_data() {
        let sh = hs(2, &server_hello_body(0x0303, [1; 32], &[(43, &[3, 4])]));
        let mut s = record(22, &sh);
        s.extend_from_slice(&record(20, &[1]));
        s.extend_from_slice(&record(21, &[1, 0]));
        s.extend_from_slice(&record(23, &[9; 30]));
        s.extend_from_slice(&record(21, &[2, 40]));
        assert_eq!(
            run(&s, &[s.len()], Some(CcsMeaning::Dummy)),
            ["sh tls1.3", "alert 1 close_notify"]
        );
    }

    #[test]
    fn unconfirmed_dummy_ccs_accepts_a_second_client_hello_only() {
        let mut s = record(22, &ch13());
        s.extend_from_slice(&record(20, &[1]));
        s.extend_from_slice(&record(22, &ch13()));
        let got = run(&s, &[s.len()], Some(CcsMeaning::DummyUnconfirmed));
        assert_eq!(got, ["ch tls1.3", "ch tls1.3"]);
        // An encrypted Finished after a real CCS: 40 random bytes in a handshake record.
        let mut s = record(22, &ch13());
        s.extend_from_slice(&record(20, &[1]));
        s.extend_from_slice(&record(22, &[0x01; 40]));
        s.extend_from_slice(&record(21, &[2, 40]));
        let got = run(&s, &[s.len()], Some(CcsMeaning::DummyUnconfirmed));
        assert_eq!(got, ["ch tls1.3"]);
    }

    #[test]
    fn encrypted_alert_length_stops_parsing() {
        let mut s = record(21, &[0x55; 26]);
        s.extend_from_slice(&record(22, &ch13()));
        assert_eq!(run(&s, &[s.len()], None), ["anomaly bad_alert"]);
    }

    #[test]
    fn not_tls_and_midstream() {
        assert_eq!(
            run(b"GET / HTTP/1.1\r\n", &[16], None),
            Vec::<String>::new()
        );
        let mut p = DirParser::new();
        let mut h = Rec::default();
        p.feed(b"GET / HTTP/1.1\r\n", &mut h);
        assert_eq!(p.stopped(), Some(Stop::NotTls));
        let mut p = DirParser::new();
        p.feed(&record(23, &[0; 10]), &mut h);
        assert_eq!(p.stopped(), Some(Stop::Encrypted));
    }

    #[test]
    fn one_byte_decides_not_tls() {
        for first in [b'S', b'N', 0, 5, 0x30] {
            let mut p = DirParser::new();
            p.feed(&[first], &mut Rec::default());
            assert_eq!(p.stopped(), Some(Stop::NotTls), "{first:#x}");
        }
        let mut p = DirParser::new();
        p.feed(&[22], &mut Rec::default());
        assert_eq!(p.stopped(), None, "a handshake record type waits for more");
    }

    #[test]
    fn incomplete_record_waits() {
        let s = record(22, &ch13());
        let mut p = DirParser::new();
        let mut h = Rec::default();
        assert_eq!(p.feed(&s[..s.len() - 1], &mut h), 0);
        assert!(h.events.is_empty());
        assert_eq!(p.feed(&s, &mut h), s.len());
        assert_eq!(h.events, ["ch tls1.3"]);
    }

    #[test]
    fn oversized_record_is_malformed() {
        let s = [22, 3, 1, 0xff, 0xff];
        let mut p = DirParser::new();
        let mut h = Rec::default();
        p.feed(&s, &mut h);
        assert_eq!(p.stopped(), Some(Stop::Malformed));
        assert_eq!(h.events, ["anomaly record_too_large"]);
    }

    #[test]
    fn hello_claiming_16mb_stops_without_buffering() {
        let s = record(22, &[1, 0xff, 0xff, 0xff, 3, 3]);
        let mut p = DirParser::new();
        let mut h = Rec::default();
        p.feed(&s, &mut h);
        assert_eq!(p.stopped(), Some(Stop::Malformed));
        assert_eq!(h.events, ["anomaly handshake_too_large"]);
    }

    #[test]
    fn sslv2_compatible_hello_then_tls_records() {
        let mut s = sslv2::tests::v2_client_hello(0x0301, &[[0, 0, 0x2f]]);
        s.extend_from_slice(&record(21, &[2, 40]));
        assert_eq!(
            run(&s, &[3, 100], None),
            ["ch tls1.0", "alert 2 handshake_failure"]
        );
    }

    fn run_bare(stream: &[u8], chunks: &[usize]) -> (Vec<String>, DirParser) {
        let mut p = DirParser::new();
        let mut h = Rec::default();
        let mut at = 0;
        for &c in chunks {
            let end = (at + c).min(stream.len());
            p.feed_handshake(&stream[at..end], &mut h);
            at = end;
        }
        p.feed_handshake(&stream[at..], &mut h);
        (h.events, p)
    }

    #[test]
    fn feed_handshake_reads_messages_without_records() {
        let ch = ch13();
        let (ev, p) = run_bare(&ch, &[]);
        assert_eq!(ev, ["ch tls1.3"]);
        assert!(p.stopped().is_none() && !p.pending() && !p.untouched());
        // Split anywhere, one byte at a time, with other messages around it.
        let mut s = hs(11, &[0; 300]);
        s.extend_from_slice(&ch);
        s.extend_from_slice(&hs(
            2,
            &server_hello_body(0x0303, [1; 32], &[(43, &[3, 4])]),
        ));
        let (ev, p) = run_bare(&s, &vec![1; s.len()]);
        assert_eq!(ev, ["ch tls1.3", "sh tls1.3"]);
        assert!(!p.pending());
        // Incomplete: pending, nothing reported.
        let (ev, p) = run_bare(&ch[..ch.len() - 1], &[10]);
        assert!(ev.is_empty());
        assert!(p.pending());
    }

    #[test]
    fn feed_handshake_hellos_have_no_record_version() {
        struct V(Vec<Option<Version>>);
        impl Handler for V {
            fn client_hello(&mut self, ch: &ClientHello<'_>) {
                self.0.push(ch.record_version);
            }
            fn server_hello(&mut self, _: &ServerHello) {}
            fn alert(&mut self, _: u8, _: u8) {}
            fn anomaly(&mut self, _: Anomaly) {}
            fn ccs(&mut self) -> CcsMeaning {
                CcsMeaning::Encrypted
            }
        }
        let mut v = V(Vec::new());
        DirParser::new().feed_handshake(&ch13(), &mut v);
        DirParser::new().feed(&record(22, &ch13()), &mut v);
        assert_eq!(v.0, [None, Some(Version(0x0301))]);
    }

    #[test]
    fn feed_handshake_oversized_hello_stops() {
        let (ev, p) = run_bare(&[1, 0x01, 0x00, 0x00, 3, 3], &[]);
        assert_eq!(ev, ["anomaly handshake_too_large"]);
        assert_eq!(p.stopped(), Some(Stop::Malformed));
    }

    /// A handler that wants certificates and records them (and the most bytes buffered).
    #[derive(Default)]
    struct Certs {
        rec: Rec,
        leaves: Vec<certificate::LeafFacts>,
    }

    impl Handler for Certs {
        fn client_hello(&mut self, ch: &ClientHello<'_>) {
            self.rec.client_hello(ch);
        }
        fn server_hello(&mut self, sh: &ServerHello) {
            self.rec.server_hello(sh);
        }
        fn alert(&mut self, level: u8, d: u8) {
            self.rec.alert(level, d);
        }
        fn anomaly(&mut self, a: Anomaly) {
            self.rec.anomaly(a);
        }
        fn ccs(&mut self) -> CcsMeaning {
            CcsMeaning::Encrypted
        }
        fn wants_certificate(&mut self) -> bool {
            true
        }
        fn certificate(&mut self, leaf: certificate::LeafFacts) {
            self.rec
                .events
                .push(format!("cert {}", leaf.subject_cn.as_deref().unwrap_or("")));
            self.leaves.push(leaf);
        }
    }

    const LEAF: &[u8] = include_bytes!("testdata/sha1-selfsigned.der");

    /// A Certificate message: the leaf, then a chain certificate of `chain` bytes.
    fn certificate_msg(leaf: &[u8], chain: usize) -> Vec<u8> {
        let u24 = |n: usize| [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        let list = 3 + leaf.len() + if chain > 0 { 3 + chain } else { 0 };
        let mut body = u24(list).to_vec();
        body.extend_from_slice(&u24(leaf.len()));
        body.extend_from_slice(leaf);
        if chain > 0 {
            body.extend_from_slice(&u24(chain));
            body.extend(std::iter::repeat_n(0x30, chain));
        }
        let mut m = vec![11];
        m.extend_from_slice(&u24(body.len()));
        m.extend_from_slice(&body);
        m
    }

    fn run_certs(stream: &[u8], chunk: usize) -> (Vec<String>, usize) {
        let mut p = DirParser::new();
        let mut h = Certs::default();
        let (mut buf, mut at, mut most) = (Vec::new(), 0, 0);
        while at < stream.len() {
            let end = (at + chunk).min(stream.len());
            buf.extend_from_slice(&stream[at..end]);
            at = end;
            let n = p.feed(&buf, &mut h);
            buf.drain(..n);
            most = most.max(p.buffered());
            assert!(!p.pending(), "a certificate is not a pending hello");
        }
        (h.rec.events, most)
    }

    #[test]
    fn leaf_certificate_is_read_across_records_and_segments_and_the_chain_skipped() {
        let sh = hs(2, &server_hello_body(0x0303, [1; 32], &[]));
        let mut flight = sh.clone();
        flight.extend_from_slice(&certificate_msg(LEAF, 30_000));
        flight.extend_from_slice(&hs(14, &[]));
        let mut s = Vec::new();
        for part in flight.chunks(700) {
            s.extend_from_slice(&record(22, part));
        }
        s.extend_from_slice(&record(21, &[2, 40]));
        let want = [
            "sh tls1.2",
            "cert unit.hellowatch.test",
            "alert 2 handshake_failure",
        ];
        for chunk in [1, 3, 999, s.len()] {
            let (ev, most) = run_certs(&s, chunk);
            assert_eq!(ev, want, "chunks of {chunk}");
            assert!(most <= 10 + LEAF.len(), "buffered {most}: only the leaf");
        }
        // In one record, and the leaf's facts.
        let s = record(22, &[sh, certificate_msg(LEAF, 0)].concat());
        let mut h = Certs::default();
        DirParser::new().feed(&s, &mut h);
        let leaf = &h.leaves[0];
        assert_eq!(leaf.key_type, certificate::KeyType::Rsa);
        assert_eq!(leaf.key_bits, 1024);
        assert_eq!(&*leaf.signature_algorithm, "sha1WithRSAEncryption");
        assert_eq!((leaf.san_count, leaf.self_signed), (1, true));
        assert_eq!(leaf.not_after - leaf.not_before, 86_400);
    }

    #[test]
    fn certificates_beyond_the_cap_or_malformed_are_counted_not_buffered() {
        let big = vec![0x30; certificate::MAX_CERTIFICATE_PREFIX];
        let mut s = Vec::new();
        for part in certificate_msg(&big, 0).chunks(16384) {
            s.extend_from_slice(&record(22, part));
        }
        s.extend_from_slice(&record(21, &[1, 0]));
        let (ev, most) = run_certs(&s, 1000);
        assert_eq!(
            ev,
            ["anomaly certificate_too_large", "alert 1 close_notify"]
        );
        assert!(most <= certificate::MAX_CERTIFICATE_PREFIX);
        let s = record(22, &certificate_msg(&[0x30, 3, 1, 2, 3], 0));
        assert_eq!(run_certs(&s, 2).0, ["anomaly certificate_malformed"]);
        // An empty list (a client without a certificate): nothing.
        let s = record(22, &hs(11, &[0, 0, 0]));
        assert!(run_certs(&s, 1).0.is_empty());
        // Not wanted: skipped as before.
        let s = record(22, &certificate_msg(LEAF, 0));
        assert!(run(&s, &[5; 200], None).is_empty());
    }

    #[test]
    fn hello_retry_request_reported() {
        use super::hello::HRR_RANDOM;
        let hrr = hs(2, &server_hello_body(0x0303, HRR_RANDOM, &[(43, &[3, 4])]));
        let s = record(22, &hrr);
        assert_eq!(run(&s, &[s.len()], None), ["hrr tls1.3"]);
    }
}
