//! Microsoft SQL Server's TDS 7.x login prelude ([MS-TDS] §2.2.6.5, §3.2.5.2): the client's
//! PRELOGIN message (packet type `0x12`) and the server's answer (type `0x04`) each carry an
//! `ENCRYPTION` option; unless one side does not support encryption, the TLS handshake follows,
//! **carried inside PRELOGIN packets** (an 8-byte TDS header before each piece, a record may
//! span packets) until it completes; then TLS records travel bare. (TDS 8.0's strict mode
//! starts TLS at byte 0 and needs nothing here.)
//!
//! Recognised by content: a PRELOGIN packet whose option list starts with `VERSION`. After the
//! server's answer, [`Unwrap`] takes the TDS headers off each direction so that the TLS parser
//! sees the records as they were sent (Wireshark 4 dissects the TLS inside TDS the same way).

use super::{Fed, Role, Start};

/// TDS packet header length.
const HEADER: usize = 8;
/// PRELOGIN packet type (the client's message, and the TLS handshake packets).
const PRELOGIN: u8 = 0x12;
/// Tabular result packet type (the server's PRELOGIN answer).
const RESPONSE: u8 = 0x04;
/// Status bit: last packet of the message.
const EOM: u8 = 0x01;
/// Largest TDS packet (the negotiated packet size is at most 32 767; PRELOGIN uses 4 096).
const MAX_PACKET: usize = 32_767;
/// Largest PRELOGIN message (options and their data) accepted.
const MAX_PRELOGIN: usize = 4096;
/// PRELOGIN option tokens.
const OPT_VERSION: u8 = 0x00;
const OPT_ENCRYPTION: u8 = 0x01;
const OPT_TERMINATOR: u8 = 0xff;
/// `ENCRYPT_NOT_SUP`: this side cannot encrypt (no TLS unless the other requires it, and then
/// the connection is refused).
const ENCRYPT_NOT_SUP: u8 = 0x02;

/// Unwrapped TLS bytes buffered per direction before the parser takes them (a ClientHello or a
/// server flight up to its ServerHello fits many times over); what would go beyond waits in
/// the stream.
pub const MAX_UNWRAPPED: usize = 64 * 1024;

/// The header of the TDS packet at the start of `d`: `(type, status, length)`.
fn header(d: &[u8]) -> Option<(u8, u8, usize)> {
    let h = d.get(..HEADER)?;
    let (&ty, &st, &hi, &lo) = (h.first()?, h.get(1)?, h.get(2)?, h.get(3)?);
    Some((ty, st, usize::from(hi) << 8 | usize::from(lo)))
}

/// Length of the whole message (packets through the one with EOM) of type `ty` at the start
/// of `d`: `Some(Ok(n))`, `Some(Err(()))` not such a message, `None` need more bytes.
fn message(d: &[u8], ty: u8) -> Option<Result<usize, ()>> {
    let mut at = 0;
    loop {
        let (t, st, len) = header(d.get(at..)?)?;
        if t != ty || !(HEADER + 1..=MAX_PACKET).contains(&len) || at + len > MAX_PRELOGIN * 2 {
            return Some(Err(()));
        }
        at += len;
        if d.len() < at {
            return None;
        }
        if st & EOM != 0 {
            return Some(Ok(at));
        }
    }
}

/// The `ENCRYPTION` value of a PRELOGIN message (one packet's payload is enough: the option
/// list comes first).
fn encryption(msg: &[u8]) -> Option<u8> {
    let payload = msg.get(HEADER..)?;
    let mut at = 0;
    loop {
        let tok = *payload.get(at)?;
        if tok == OPT_TERMINATOR {
            return None;
        }
        let (hi, lo) = (*payload.get(at + 1)?, *payload.get(at + 2)?);
        let off = usize::from(hi) << 8 | usize::from(lo);
        if tok == OPT_ENCRYPTION {
            return payload.get(off).map(|v| v & 0x7f);
        }
        at += 5;
    }
}

/// State of one TDS connection's prelude.
#[derive(Debug, Default)]
pub(crate) struct Tds {
    /// The client's PRELOGIN was consumed; the answer is awaited.
    pending: bool,
    /// The client's ENCRYPTION value.
    client_enc: Option<u8>,
}

impl Tds {
    /// A PRELOGIN packet starting with the VERSION option (`None`: need more bytes).
    pub(crate) fn classify(d: &[u8]) -> Option<bool> {
        if d.first() != Some(&PRELOGIN) || d.get(1).is_some_and(|st| st & !EOM != 0) {
            return Some(false);
        }
        let (_, _, len) = header(d)?;
        if !(HEADER + 6..=MAX_PRELOGIN).contains(&len) {
            return Some(false);
        }
        Some(*d.get(HEADER)? == OPT_VERSION)
    }

    /// The client's bytes after its PRELOGIN wait for the answer.
    pub(crate) fn pending(&self) -> bool {
        self.pending
    }

    pub(crate) fn feed(&mut self, role: Role, d: &[u8], refused: &mut u32) -> Fed {
        match role {
            Role::Client => {
                if self.pending {
                    return Fed::more(0);
                }
                match message(d, PRELOGIN) {
                    None => Fed::more(0),
                    Some(Err(())) => Fed::plain(0),
                    Some(Ok(n)) => {
                        self.client_enc = d.get(..n).and_then(encryption);
                        self.pending = true;
                        Fed::more(n)
                    }
                }
            }
            Role::Server => {
                if !self.pending {
                    return Fed::plain(0);
                }
                match message(d, RESPONSE) {
                    None => Fed::more(0),
                    Some(Err(())) => Fed::plain(0),
                    Some(Ok(n)) => {
                        let server = d.get(..n).and_then(encryption);
                        match (self.client_enc, server) {
                            (_, Some(ENCRYPT_NOT_SUP)) | (Some(ENCRYPT_NOT_SUP), _) => {
                                if server == Some(ENCRYPT_NOT_SUP) {
                                    *refused += 1;
                                }
                                Fed::plain(n)
                            }
                            (_, None) => Fed::plain(n),
                            _ => Fed::upgrade(n, Start::Tds),
                        }
                    }
                }
            }
        }
    }
}

/// Takes the TDS headers off one direction's TLS handshake: the payload of each PRELOGIN
/// packet is appended to a buffer the TLS parser reads; the first byte at a packet boundary
/// that is a TLS record type instead (`0x14`..`0x17`) means the handshake is over and the
/// records travel bare from there on.
#[derive(Debug, Default)]
pub struct Unwrap {
    /// Payload bytes left in the current packet.
    in_packet: usize,
    /// Records travel bare.
    bare: bool,
    /// Bytes that are neither a TDS packet nor a TLS record: stop.
    broken: bool,
    /// Unwrapped bytes not yet taken by the parser.
    buf: Vec<u8>,
}

impl Unwrap {
    /// Unwraps what it can of `data` (the direction's unconsumed stream bytes) and returns how
    /// many bytes of it were used.
    pub fn push(&mut self, data: &[u8]) -> usize {
        let mut at = 0;
        while !self.broken && self.buf.len() < MAX_UNWRAPPED {
            let rest = data.get(at..).unwrap_or(&[]);
            let room = MAX_UNWRAPPED - self.buf.len();
            if self.bare || self.in_packet > 0 {
                let n = rest.len().min(room);
                let n = if self.bare { n } else { n.min(self.in_packet) };
                if n == 0 {
                    break;
                }
                self.buf.extend_from_slice(rest.get(..n).unwrap_or(&[]));
                at += n;
                if !self.bare {
                    self.in_packet -= n;
                }
                continue;
            }
            match rest.first() {
                None => break,
                Some(0x14..=0x17) => self.bare = true,
                Some(_) => match header(rest) {
                    None => break,
                    Some((PRELOGIN | RESPONSE, _, len)) if (HEADER..=MAX_PACKET).contains(&len) => {
                        self.in_packet = len - HEADER;
                        at += HEADER;
                    }
                    Some(_) => self.broken = true,
                },
            }
        }
        at
    }

    /// Unwrapped bytes waiting for the parser.
    pub fn data(&self) -> &[u8] {
        &self.buf
    }

    /// The parser took `n` bytes.
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.buf.len());
        self.buf.drain(..n);
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{check, converse};
    use super::super::{GiveUp, Start, Verdict};
    use super::*;

    const C: usize = 0;
    const S: usize = 1;

    /// FreeTDS 1.3's PRELOGIN (TDS 7.4, ENCRYPTION = ENCRYPT_ON).
    const PRE: &[u8] = b"\x12\x01\x00\x3a\x00\x00\x00\x00\x00\x00\x1a\x00\x06\x01\x00\x20\
        \x00\x01\x02\x00\x21\x00\x0c\x03\x00\x2d\x00\x04\x04\x00\x31\x00\x01\xff\x09\x00\x00\x00\
        \x00\x00\x01MSSQLServer\x00\xaf\x3d\x00\x00\x00";

    fn answer(enc: u8) -> Vec<u8> {
        let mut a = b"\x04\x01\x00\x2b\x00\x00\x01\x00\x00\x00\x1a\x00\x06\x01\x00\x20\x00\x01\
            \x02\x00\x21\x00\x01\x03\x00\x22\x00\x00\x04\x00\x22\x00\x01\xff\x0f\x00\x07\xd0\x00\
            \x00"
            .to_vec();
        a.extend_from_slice(&[enc, 0, 0]);
        a
    }

    fn wrap(payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x12, 0x01, 0, (payload.len() + 8) as u8, 0, 0, 1, 0];
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn prelogin_then_tls_inside_prelogin_packets() {
        let hello = wrap(b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00");
        check(
            &[(C, PRE), (S, &answer(1)), (C, &hello)],
            Verdict::Upgrade(Start::Tds),
            [&hello, b""],
        );
    }

    #[test]
    fn encryption_not_supported_is_no_upgrade() {
        let (v, _) = converse(&[(C, PRE), (S, &answer(ENCRYPT_NOT_SUP))]);
        assert_eq!(v, Verdict::Plain(GiveUp::NoUpgrade));
        let mut pre = PRE.to_vec();
        pre[8 + 32] = ENCRYPT_NOT_SUP;
        let (v, _) = converse(&[(C, &pre), (S, &answer(0))]);
        assert_eq!(v, Verdict::Plain(GiveUp::NoUpgrade));
        // Login-only encryption (ENCRYPT_OFF on both sides) still runs the handshake.
        pre[8 + 32] = 0;
        let (v, _) = converse(&[(C, &pre), (S, &answer(0))]);
        assert_eq!(v, Verdict::Upgrade(Start::Tds));
    }

    #[test]
    fn unwrap_takes_headers_off_across_packets_and_ends_at_bare_records() {
        let record = b"\x16\x03\x03\x00\x08\x02\x00\x00\x04\x03\x03\xaa\xbb";
        let mut wire = Vec::new();
        // The record split over two packets, then a bare record (handshake over).
        let mut p1 = wrap(&record[..6]);
        p1[1] = 0;
        wire.extend_from_slice(&p1);
        wire.extend_from_slice(&wrap(&record[6..]));
        wire.extend_from_slice(b"\x17\x03\x03\x00\x01\x00");
        for split in [1, 3, 7, 8, 9, 20, wire.len()] {
            let mut u = Unwrap::default();
            let mut pending = Vec::new();
            for chunk in wire.chunks(split) {
                pending.extend_from_slice(chunk);
                let n = u.push(&pending);
                pending.drain(..n);
            }
            assert!(pending.is_empty(), "split {split}");
            let mut want = record.to_vec();
            want.extend_from_slice(b"\x17\x03\x03\x00\x01\x00");
            assert_eq!(u.data(), &want[..], "split {split}");
            u.consume(5);
            assert_eq!(u.data(), &want[5..]);
        }
        // Anything else at a packet boundary stops the unwrapping.
        let mut u = Unwrap::default();
        assert_eq!(u.push(b"\x01\x01\x00\x10\x00\x00\x00\x00abcdefgh"), 0);
        assert_eq!(u.push(b"\x01\x01\x00\x10\x00\x00\x00\x00abcdefgh"), 0);
        assert!(u.data().is_empty());
    }

    #[test]
    fn the_unwrapped_buffer_is_bounded() {
        let mut u = Unwrap::default();
        let big = vec![0x17; MAX_UNWRAPPED * 2];
        assert_eq!(u.push(&big), MAX_UNWRAPPED);
        assert_eq!(u.push(&big), 0);
        u.consume(10);
        assert_eq!(u.push(&big), 10);
    }

    #[test]
    fn other_first_bytes_are_not_tds() {
        assert_eq!(Tds::classify(b"\x12"), None);
        assert_eq!(Tds::classify(b"\x12\x01\x00\x3a\x00\x00\x00"), None);
        assert_eq!(Tds::classify(PRE), Some(true));
        assert_eq!(
            Tds::classify(b"\x12\x05\x00\x3a\x00\x00\x00\x00\x00"),
            Some(false)
        );
        assert_eq!(Tds::classify(b"\x10\x01"), Some(false));
    }
}
