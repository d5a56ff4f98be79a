//! QUIC Initial packets: the TLS handshake bytes a QUIC connection carries in the clear
//! (protected only with keys anyone can derive).
//!
//! [`Conn::on_datagram`] walks the coalesced long-header packets of one UDP datagram. For an
//! Initial it derives the client and server Initial keys from the client's Destination
//! Connection ID ([`crypto`], RFC 9001 §5.2; salts and labels per [`version`]), removes header
//! protection, and verifies the AEAD tag: a packet whose tag fails is counted
//! ([`Counter::AuthFailed`]) and never read. It then walks the frames (PADDING, PING, ACK,
//! CRYPTO, CONNECTION_CLOSE; an unknown frame type ends the packet) and reassembles the CRYPTO
//! stream of each direction by offset ([`MAX_CRYPTO_STREAM`], [`MAX_CRYPTO_HOLD`]), handing the
//! caller the in-order bytes: TLS handshake messages without record headers
//! ([`Output::Crypto`]), for `tls::DirParser::feed_handshake`.
//!
//! Keys follow the connection: the client's first Initial fixes them; a Retry's new
//! connection ID (the client's next DCID) gives new ones for the same connection; a client
//! Initial that only opens with keys from a new DCID is a new connection on the same UDP flow
//! ([`Output::NewConnection`]). Handshake, 0-RTT and 1-RTT packets are skipped (their keys are
//! secret); Version Negotiation and Retry packets carry no hello.
//!
//! Pure: no I/O, no clock, no logging, no panics. Memory per connection: a few keys, one
//! packet-sized scratch buffer and at most [`MAX_CRYPTO_HOLD`] held bytes per direction.

#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

pub mod crypto;
mod stream;
#[cfg(test)]
mod vectors;
pub mod version;

use crate::closed::closed_set;
use crypto::{DirKeys, Keys, OpenError};
use stream::CryptoStream;
use version::{PacketType, VersionInfo};

/// Largest offset (exclusive) of the Initial CRYPTO stream accepted per direction: room for a
/// ClientHello of the largest size TLS allows (and a HelloRetryRequest's second one in most
/// cases). Reaching it counts [`Counter::CryptoCap`] and stops that direction.
pub const MAX_CRYPTO_STREAM: u64 = 65_536;

/// Most CRYPTO bytes held per direction ahead of a gap (out-of-order frames), counted from the
/// next byte expected. Frames beyond it are dropped ([`Counter::CryptoDropped`]).
pub const MAX_CRYPTO_HOLD: usize = 16_384;

/// Most separate out-of-order ranges held per direction; one more is dropped
/// ([`Counter::CryptoDropped`]).
pub const MAX_HOLD_RANGES: usize = 32;

/// Longest connection ID of the versions in the table (RFC 9000 §17.2).
pub const MAX_CID_LEN: usize = 20;

/// Smallest UDP payload carrying a client Initial (RFC 9000 §14.1): the shape
/// [`looks_like_quic`] accepts for a version not in the table.
pub const MIN_CLIENT_INITIAL: usize = 1200;

closed_set! {
    /// What the QUIC layer counts. A closed set: it is a metric label and a JSON key.
    pub enum Counter {
        /// Initial packets whose AEAD tag verified.
        InitialDecrypted => "initial_decrypted",
        /// Initial packets whose AEAD tag did not verify with any key that applies (never read).
        AuthFailed => "initial_auth_failed",
        /// Server Initials before any client Initial on the flow (no DCID to derive keys from).
        NoKeys => "initial_without_keys",
        /// Long-header packets of a version not in the version table.
        UnknownVersion => "unknown_version",
        /// Version Negotiation packets.
        VersionNegotiation => "version_negotiation",
        /// Retry packets.
        Retry => "retry",
        /// Handshake, 0-RTT and 1-RTT packets (not readable without the session's secrets).
        Skipped => "skipped_packets",
        /// Packets whose header, lengths or frames do not parse.
        Malformed => "malformed",
        /// Initial packets whose frame walk stopped at a frame type not allowed in Initials.
        UnknownFrame => "unknown_frame",
        /// CONNECTION_CLOSE frames in Initials.
        ConnectionClose => "connection_close",
        /// CRYPTO frames held because they arrived ahead of a gap.
        CryptoHeld => "crypto_out_of_order",
        /// CRYPTO frames dropped: beyond [`MAX_CRYPTO_HOLD`] or [`MAX_HOLD_RANGES`].
        CryptoDropped => "crypto_dropped",
        /// Directions stopped at [`MAX_CRYPTO_STREAM`].
        CryptoCap => "crypto_cap",
        /// New QUIC connections on a UDP flow that already carried one.
        NewConnection => "new_connection",
    }
}

impl Counter {
    /// One-line description (metric help).
    pub fn help(self) -> &'static str {
        match self {
            Counter::InitialDecrypted => "QUIC Initial packets decrypted (AEAD tag verified).",
            Counter::AuthFailed => {
                "QUIC Initial packets whose AEAD tag did not verify (not read: never guessed)."
            }
            Counter::NoKeys => {
                "QUIC server Initials seen before any client Initial of the flow (no keys)."
            }
            Counter::UnknownVersion => {
                "QUIC long-header packets of a version hellowatch cannot decrypt."
            }
            Counter::VersionNegotiation => "QUIC Version Negotiation packets.",
            Counter::Retry => "QUIC Retry packets.",
            Counter::Skipped => "QUIC Handshake, 0-RTT and 1-RTT packets skipped (session keys).",
            Counter::Malformed => "QUIC packets whose header, lengths or frames do not parse.",
            Counter::UnknownFrame => {
                "QUIC Initials whose frame walk stopped at an unexpected frame type."
            }
            Counter::ConnectionClose => "QUIC CONNECTION_CLOSE frames in Initial packets.",
            Counter::CryptoHeld => "QUIC CRYPTO frames held until an earlier gap filled.",
            Counter::CryptoDropped => {
                "QUIC CRYPTO frames dropped beyond the out-of-order hold limits."
            }
            Counter::CryptoCap => "QUIC directions stopped at the CRYPTO stream byte cap.",
            Counter::NewConnection => "New QUIC connections on a UDP flow that already had one.",
        }
    }
}

/// Counts per [`Counter`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters(pub [u64; Counter::ALL.len()]);

impl Counters {
    /// Counts one.
    pub fn add(&mut self, c: Counter) {
        if let Some(x) = self.0.get_mut(c.index()) {
            *x = x.saturating_add(1);
        }
    }

    /// The count of `c`.
    pub fn get(&self, c: Counter) -> u64 {
        self.0.get(c.index()).copied().unwrap_or(0)
    }

    /// Adds another set of counts.
    pub fn merge(&mut self, o: &Counters) {
        for (a, b) in self.0.iter_mut().zip(o.0.iter()) {
            *a = a.saturating_add(*b);
        }
    }
}

/// What [`Conn::on_datagram`] hands the caller, in order.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Output<'a> {
    /// The next in-order bytes of one direction's Initial CRYPTO stream: TLS handshake
    /// messages without record headers, continuing what was handed on before. Each stream
    /// byte is handed on once.
    Crypto {
        /// Sent by the client.
        from_client: bool,
        /// The bytes.
        data: &'a [u8],
    },
    /// A client Initial opened only with keys from a new Destination Connection ID (not one a
    /// Retry gave): a new QUIC connection on this UDP flow. Settle the previous one and start
    /// fresh TLS parsers; the `Crypto` that follows belongs to the new connection.
    NewConnection,
}

/// A connection ID.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
struct Cid {
    len: u8,
    bytes: [u8; MAX_CID_LEN],
}

impl Cid {
    fn new(s: &[u8]) -> Option<Cid> {
        let mut c = Cid {
            len: u8::try_from(s.len()).ok()?,
            bytes: [0; MAX_CID_LEN],
        };
        c.bytes.get_mut(..s.len())?.copy_from_slice(s);
        Some(c)
    }

    fn as_slice(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }
}

/// The keys in use: derived for `version` from the client's DCID `dcid`.
#[derive(Copy, Clone, Debug)]
struct KeyState {
    version: u32,
    dcid: Cid,
    keys: Keys,
}

/// The invariant part of a long header (RFC 8999 §5.1).
struct LongHeader<'a> {
    version: u32,
    dcid: &'a [u8],
    scid: &'a [u8],
    /// Offset just after the Source Connection ID.
    rest: usize,
}

fn long_header(p: &[u8]) -> Option<LongHeader<'_>> {
    let (&b0, r) = p.split_first()?;
    if b0 & 0x80 == 0 {
        return None;
    }
    let (v, r) = r.split_first_chunk::<4>()?;
    let (&dl, r) = r.split_first()?;
    let (dcid, r) = r.split_at_checked(usize::from(dl))?;
    let (&sl, r) = r.split_first()?;
    let (scid, r) = r.split_at_checked(usize::from(sl))?;
    Some(LongHeader {
        version: u32::from_be_bytes(*v),
        dcid,
        scid,
        rest: p.len().saturating_sub(r.len()),
    })
}

/// Reads a variable-length integer (RFC 9000 §16) at `*at`, advancing it.
fn varint(p: &[u8], at: &mut usize) -> Option<u64> {
    let b0 = *p.get(*at)?;
    let n = 1usize << (b0 >> 6);
    let bytes = p.get(*at..at.checked_add(n)?)?;
    let mut v = u64::from(b0 & 0x3f);
    for b in bytes.iter().skip(1) {
        v = v << 8 | u64::from(*b);
    }
    *at = at.checked_add(n)?;
    Some(v)
}

/// Reads a varint used as a length and skips that many bytes.
fn skip_len(p: &[u8], at: &mut usize) -> Option<()> {
    let n = usize::try_from(varint(p, at)?).ok()?;
    let end = at.checked_add(n)?;
    if end > p.len() {
        return None;
    }
    *at = end;
    Some(())
}

/// Cheap content check for a dispatcher (no cryptography): a long header with the fixed bit
/// set, connection IDs of at most 20 bytes, and a version that is in the table, or Version
/// Negotiation (version 0 followed by a whole number of versions), or any version for a
/// datagram shaped like a client Initial (at least [`MIN_CLIENT_INITIAL`] bytes, DCID of 8 or
/// more bytes). False for short headers, STUN (first byte 0–3), DTLS (20–63) and RTP (fixed
/// bit clear).
pub fn looks_like_quic(p: &[u8]) -> bool {
    let Some(&b0) = p.first() else {
        return false;
    };
    if b0 & 0xc0 != 0xc0 {
        return false;
    }
    let Some(h) = long_header(p) else {
        return false;
    };
    if h.dcid.len() > MAX_CID_LEN || h.scid.len() > MAX_CID_LEN {
        return false;
    }
    let tail = p.len().saturating_sub(h.rest);
    if h.version == 0 {
        return tail >= 4 && tail % 4 == 0;
    }
    version::lookup(h.version).is_some() || (p.len() >= MIN_CLIENT_INITIAL && h.dcid.len() >= 8)
}

/// A long-header packet of a version in the table, the fixed bit set or not (RFC 9287 lets
/// peers grease it once negotiated): what a QUIC flow that already exists may still read.
/// Stateless and cheap; [`looks_like_quic`] is the stricter test that starts a flow.
pub fn is_known_long_header(p: &[u8]) -> bool {
    match p.first() {
        Some(b0) if b0 & 0x80 != 0 => {
            long_header(p).is_some_and(|h| h.version != 0 && version::lookup(h.version).is_some())
        }
        _ => false,
    }
}

/// Is the first packet of `p` a client Initial? Decides who the client of a new UDP flow is:
/// the packet must open with the client keys derived from its own Destination Connection ID
/// (a server Initial's DCID is the client's SCID, so its tag never verifies that way). One key
/// derivation and one AEAD check; `scratch` is reused (a packet-sized copy).
pub fn is_client_initial(p: &[u8], scratch: &mut Vec<u8>) -> bool {
    let Some(h) = long_header(p) else {
        return false;
    };
    if h.dcid.len() > MAX_CID_LEN || h.scid.len() > MAX_CID_LEN {
        return false;
    }
    let Some(info) = version::lookup(h.version) else {
        return false;
    };
    let Some(b0) = p.first() else {
        return false;
    };
    if info.packet_type(*b0) != PacketType::Initial {
        return false;
    }
    let Some((pkt, pn_offset)) = initial_extent(p, h.rest) else {
        return false;
    };
    std::iter::once(info.salt).chain(info.alt_salt).any(|salt| {
        crypto::derive(salt, &info.labels, h.dcid).is_some_and(|keys| {
            scratch.clear();
            scratch.extend_from_slice(pkt);
            crypto::open(&keys.client, scratch, pn_offset).is_ok()
        })
    })
}

/// The extent of an Initial packet at the start of `p` (header fields read up to `at`, just
/// after the SCID): the packet and where its packet number starts.
fn initial_extent(p: &[u8], mut at: usize) -> Option<(&[u8], usize)> {
    skip_len(p, &mut at)?; // token
    let len = usize::try_from(varint(p, &mut at)?).ok()?;
    Some((p.get(..at.checked_add(len)?)?, at))
}

/// One QUIC connection's Initial-space state, per UDP flow.
#[derive(Debug, Default)]
pub struct Conn {
    /// Keys in use, once a client Initial opened.
    keys: Option<KeyState>,
    /// Source Connection ID of a Retry from the server: the client's next DCID.
    retry_scid: Option<Cid>,
    /// CRYPTO streams: client (0) and server (1).
    streams: [CryptoStream; 2],
    /// One packet being opened (reused).
    scratch: Vec<u8>,
}

impl Conn {
    /// A connection with nothing seen. Allocates nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Back to nothing seen, keeping buffer capacity.
    pub fn reset(&mut self) {
        self.keys = None;
        self.retry_scid = None;
        for s in &mut self.streams {
            s.reset();
        }
    }

    /// QUIC version of the keys in use (the last client Initial that opened).
    pub fn version(&self) -> Option<u32> {
        self.keys.map(|k| k.version)
    }

    /// The Destination Connection ID the keys in use derive from: the client's first DCID, or
    /// the one a Retry gave. tshark identifies a QUIC connection by its connection IDs, not
    /// by addresses: a caller that wants its connections (an Initial seen again on another
    /// address pair, as across a NAT) can key on this.
    pub fn initial_dcid(&self) -> Option<&[u8]> {
        self.keys.as_ref().map(|k| k.dcid.as_slice())
    }

    /// A client Initial has opened on this flow.
    pub fn saw_client_initial(&self) -> bool {
        self.keys.is_some()
    }

    /// CRYPTO bytes handed on so far by one direction.
    pub fn crypto_delivered(&self, from_client: bool) -> u64 {
        self.streams
            .get(usize::from(!from_client))
            .map_or(0, CryptoStream::delivered)
    }

    /// Walks the packets of one UDP datagram sent by the flow's client (`from_client`) or
    /// server, counting into `k` and handing `out` what it finds (see [`Output`]).
    pub fn on_datagram(
        &mut self,
        payload: &[u8],
        from_client: bool,
        k: &mut Counters,
        out: &mut impl FnMut(Output<'_>),
    ) {
        let mut rest = payload;
        while let Some(&b0) = rest.first() {
            if b0 & 0x80 == 0 {
                // A short header runs to the end of the datagram; zero bytes are padding.
                if b0 & 0x40 != 0 {
                    k.add(Counter::Skipped);
                }
                return;
            }
            let Some(h) = long_header(rest) else {
                k.add(Counter::Malformed);
                return;
            };
            if h.version == 0 {
                k.add(Counter::VersionNegotiation);
                return;
            }
            let Some(info) = version::lookup(h.version) else {
                k.add(Counter::UnknownVersion);
                return;
            };
            if h.dcid.len() > MAX_CID_LEN || h.scid.len() > MAX_CID_LEN {
                k.add(Counter::Malformed);
                return;
            }
            let ty = info.packet_type(b0);
            if ty == PacketType::Retry {
                // A Retry fills the rest of the datagram.
                k.add(Counter::Retry);
                if !from_client {
                    self.retry_scid = Cid::new(h.scid);
                }
                return;
            }
            let mut at = h.rest;
            if ty == PacketType::Initial && skip_len(rest, &mut at).is_none() {
                k.add(Counter::Malformed);
                return;
            }
            let Some(len) = varint(rest, &mut at).and_then(|n| usize::try_from(n).ok()) else {
                k.add(Counter::Malformed);
                return;
            };
            let Some(pkt) = at.checked_add(len).and_then(|end| rest.get(..end)) else {
                k.add(Counter::Malformed);
                return;
            };
            if ty == PacketType::Initial {
                let dcid = h.dcid;
                self.initial(pkt, at, h.version, info, dcid, from_client, k, out);
            } else {
                k.add(Counter::Skipped);
            }
            rest = rest.get(pkt.len()..).unwrap_or(&[]);
        }
    }

    /// Opens one Initial packet (`pkt`, packet number at `pn_offset`) with the keys that
    /// apply, then reads its frames.
    #[allow(clippy::too_many_arguments)] // one packet's parsed header fields
    fn initial(
        &mut self,
        pkt: &[u8],
        pn_offset: usize,
        version: u32,
        info: &'static VersionInfo,
        dcid: &[u8],
        from_client: bool,
        k: &mut Counters,
        out: &mut impl FnMut(Output<'_>),
    ) {
        let dir = |keys: &Keys| {
            if from_client {
                keys.client
            } else {
                keys.server
            }
        };
        let mut opened = None;
        // 1. The keys in use (same version).
        if let Some(ks) = self.keys.filter(|ks| ks.version == version) {
            match self.open(pkt, pn_offset, &dir(&ks.keys)) {
                Ok(r) => opened = Some(r),
                Err(OpenError::Short) => {
                    k.add(Counter::Malformed);
                    return;
                }
                Err(OpenError::Auth) => {}
            }
        }
        // 2. Same connection, another version (compatible version negotiation): the DCID in
        //    use with this version's salt.
        if opened.is_none()
            && let Some(ks) = self.keys.filter(|ks| ks.version != version)
            && let Some((keys, r)) = self.try_derive(pkt, pn_offset, info, ks.dcid, from_client)
        {
            self.keys = Some(KeyState {
                version,
                dcid: ks.dcid,
                keys,
            });
            opened = Some(r);
        }
        // 3. A client Initial with a new DCID: after a Retry, or a new connection.
        if opened.is_none() && from_client {
            let Some(cid) = Cid::new(dcid) else {
                k.add(Counter::Malformed);
                return;
            };
            let tried = self
                .keys
                .is_some_and(|ks| ks.dcid == cid && ks.version == version);
            if !tried && let Some((keys, r)) = self.try_derive(pkt, pn_offset, info, cid, true) {
                let after_retry = self.retry_scid == Some(cid);
                if self.keys.is_some() && !after_retry {
                    k.add(Counter::NewConnection);
                    for s in &mut self.streams {
                        s.reset();
                    }
                    out(Output::NewConnection);
                }
                self.retry_scid = None;
                self.keys = Some(KeyState {
                    version,
                    dcid: cid,
                    keys,
                });
                opened = Some(r);
            }
        }
        let Some((start, end)) = opened else {
            k.add(if self.keys.is_none() && !from_client {
                Counter::NoKeys
            } else {
                Counter::AuthFailed
            });
            return;
        };
        k.add(Counter::InitialDecrypted);
        let payload = self.scratch.get(start..end).unwrap_or(&[]);
        let stream = self.streams.get_mut(usize::from(!from_client));
        if let Some(stream) = stream {
            frames(payload, stream, info.gquic_crypto, from_client, k, out);
        }
    }

    /// Derives keys for `dcid` with the version's salt(s) and tries them on the packet.
    fn try_derive(
        &mut self,
        pkt: &[u8],
        pn_offset: usize,
        info: &VersionInfo,
        dcid: Cid,
        from_client: bool,
    ) -> Option<(Keys, (usize, usize))> {
        for salt in std::iter::once(info.salt).chain(info.alt_salt) {
            let keys = crypto::derive(salt, &info.labels, dcid.as_slice())?;
            let dk = if from_client {
                keys.client
            } else {
                keys.server
            };
            if let Ok(r) = self.open(pkt, pn_offset, &dk) {
                return Some((keys, r));
            }
        }
        None
    }

    /// Copies the packet into the scratch buffer and opens it there; returns the plaintext
    /// payload's range in the scratch buffer.
    fn open(
        &mut self,
        pkt: &[u8],
        pn_offset: usize,
        keys: &DirKeys,
    ) -> Result<(usize, usize), OpenError> {
        self.scratch.clear();
        self.scratch.extend_from_slice(pkt);
        let (start, _pn) = crypto::open(keys, &mut self.scratch, pn_offset)?;
        Ok((start, self.scratch.len().saturating_sub(crypto::TAG_LEN)))
    }
}

/// Walks the frames of one decrypted Initial payload, feeding CRYPTO frames to `stream`
/// (type 0x06; 0x08 for Google's T05x versions, `gquic_crypto`).
fn frames(
    p: &[u8],
    stream: &mut CryptoStream,
    gquic_crypto: bool,
    from_client: bool,
    k: &mut Counters,
    out: &mut impl FnMut(Output<'_>),
) {
    let mut at = 0usize;
    let mut emit = |data: &[u8]| out(Output::Crypto { from_client, data });
    while let Some(&t) = p.get(at) {
        at = at.saturating_add(1);
        let mut crypto = |at: &mut usize| {
            let off = varint(p, at)?;
            let len = usize::try_from(varint(p, at)?).ok()?;
            let end = at.checked_add(len)?;
            let data = p.get(*at..end)?;
            *at = end;
            stream.insert(off, data, k, &mut emit);
            Some(())
        };
        let ok = match (gquic_crypto, t) {
            // PADDING (a run of them at once).
            (_, 0x00) => {
                let run = p.get(at..).unwrap_or(&[]).iter().take_while(|b| **b == 0);
                at = at.saturating_add(run.count());
                Some(())
            }
            // PING.
            (false, 0x01) | (true, 0x07) => Some(()),
            // ACK, ACK with ECN counts.
            (false, 0x02 | 0x03) => ietf_ack(t, p, &mut at),
            // CRYPTO (Google's T05x: type 0x08, same layout).
            (false, 0x06) | (true, 0x08) => crypto(&mut at),
            // CONNECTION_CLOSE (transport; the application variant is not allowed here but
            // is read the same way).
            (false, 0x1c | 0x1d) => (|| {
                varint(p, &mut at)?; // error code
                if t == 0x1c {
                    varint(p, &mut at)?; // frame type
                }
                skip_len(p, &mut at)?; // reason phrase
                k.add(Counter::ConnectionClose);
                Some(())
            })(),
            // gQUIC ACK (T05x).
            (true, 0x40..=0x7f) => gquic_ack(t, p, &mut at),
            _ => {
                k.add(Counter::UnknownFrame);
                return;
            }
        };
        if ok.is_none() {
            k.add(Counter::Malformed);
            return;
        }
    }
}

/// Skips an IETF ACK frame (type `t` already read).
fn ietf_ack(t: u8, p: &[u8], at: &mut usize) -> Option<()> {
    varint(p, at)?; // largest acknowledged
    varint(p, at)?; // delay
    let ranges = varint(p, at)?;
    varint(p, at)?; // first range
    for _ in 0..ranges {
        varint(p, at)?; // gap
        varint(p, at)?; // length
    }
    if t == 0x03 {
        for _ in 0..3 {
            varint(p, at)?; // ECT0, ECT1, ECN-CE counts
        }
    }
    Some(())
}

/// Skips a gQUIC ACK frame (type `t` = 0b01nLLMM already read): largest acked (LL: 1, 2, 4
/// or 6 bytes), 2-byte delay, [block count], first block (MM bytes), blocks (gap byte + MM
/// bytes), timestamp count, timestamps (first 5 bytes, then 3 each).
fn gquic_ack(t: u8, p: &[u8], at: &mut usize) -> Option<()> {
    let width = |bits: u8| -> usize {
        match bits & 3 {
            0 => 1,
            1 => 2,
            2 => 4,
            _ => 6,
        }
    };
    let largest = width(t >> 2);
    let block = width(t);
    let skip = |n: usize, at: &mut usize| -> Option<()> {
        let end = at.checked_add(n)?;
        if end > p.len() {
            return None;
        }
        *at = end;
        Some(())
    };
    skip(largest.checked_add(2)?, at)?;
    let blocks = if t & 0x20 != 0 {
        let n = *p.get(*at)?;
        skip(1, at)?;
        usize::from(n)
    } else {
        0
    };
    skip(block, at)?;
    skip(blocks.checked_mul(block.checked_add(1)?)?, at)?;
    let stamps = usize::from(*p.get(*at)?);
    skip(1, at)?;
    if stamps > 0 {
        skip(
            5usize.checked_add(stamps.saturating_sub(1).checked_mul(3)?)?,
            at,
        )?;
    }
    Some(())
}

#[cfg(test)]
mod tests;
