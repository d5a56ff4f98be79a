//! SSLv2 record format: CLIENT-HELLO (SSLv2 and SSLv2-compatible) and SERVER-HELLO.
//!
//! tls-parser has no SSLv2 parser (an SSLv2 hello makes its record parser wait forever), so
//! this small one reads the two messages the census needs (draft-hickman-netscape-ssl-00,
//! RFC 6101 appendix E.2). Only the 2-byte record header (high bit set, no padding) is used by
//! hellos in practice; the 3-byte form is reported as not a hello.

use super::hello::{ClientHello, FALLBACK_SCSV, ServerHello};
use super::version::Version;

/// SSLv2 message type CLIENT-HELLO.
pub const MT_CLIENT_HELLO: u8 = 1;
/// SSLv2 message type SERVER-HELLO.
pub const MT_SERVER_HELLO: u8 = 4;

/// Outcome of looking at the start of a buffer as an SSLv2 record.
#[derive(Debug, PartialEq, Eq)]
pub enum V2<T> {
    /// More bytes are needed to decide.
    Incomplete,
    /// Not an SSLv2 record carrying the expected message.
    No,
    /// A message, and the total record length (header included) to consume.
    Yes(T, usize),
}

/// Record header: returns `(header_len, body_len)` for the 2-byte form.
fn record(buf: &[u8]) -> Option<(usize, usize)> {
    let (&b0, &b1) = (buf.first()?, buf.get(1)?);
    if b0 & 0x80 == 0 {
        return None;
    }
    Some((2, usize::from(b0 & 0x7f) << 8 | usize::from(b1)))
}

/// Cheap check: could `buf` start with an SSLv2 record holding message type `mt`?
pub fn looks_like(buf: &[u8], mt: u8) -> bool {
    matches!((buf.first(), buf.get(2)), (Some(b0), Some(t)) if b0 & 0x80 != 0 && *t == mt)
}

fn u16_at(b: &[u8], at: usize) -> Option<usize> {
    let s = b.get(at..at + 2)?;
    Some(usize::from(u16::from_be_bytes([s[0], s[1]])))
}

/// A framed SSLv2 message: its bytes, the record's total length, and four u16 fields.
type Framed<'a> = (&'a [u8], usize, [usize; 4]);

/// Frames the SSLv2 record at the start of `buf` and checks that it holds message type `mt`
/// with at least `min_len` bytes; returns the message and the record's total length, and the
/// four big-endian u16 fields at `fields`.
fn message(buf: &[u8], mt: u8, min_len: usize, fields: [usize; 4]) -> Result<Framed<'_>, V2<()>> {
    let Some((hl, len)) = record(buf) else {
        return Err(if buf.len() < 2 {
            V2::Incomplete
        } else {
            V2::No
        });
    };
    let msg = buf.get(hl..hl + len).ok_or(V2::Incomplete)?;
    if msg.first() != Some(&mt) || len < min_len {
        return Err(V2::No);
    }
    let mut out = [0; 4];
    for (o, at) in out.iter_mut().zip(fields) {
        *o = u16_at(msg, at).ok_or(V2::No)?;
    }
    Ok((msg, hl + len, out))
}

impl V2<()> {
    fn cast<T>(self) -> V2<T> {
        match self {
            V2::Incomplete => V2::Incomplete,
            _ => V2::No,
        }
    }
}

/// Parses an SSLv2-format CLIENT-HELLO at the start of `buf`.
pub fn parse_client_hello(buf: &[u8]) -> V2<ClientHello<'_>> {
    // msg_type(1) version(2) cipher_specs_length(2) session_id_length(2) challenge_length(2)
    let (msg, total, [version, cs_len, sid_len, ch_len]) =
        match message(buf, MT_CLIENT_HELLO, 9, [1, 3, 5, 7]) {
            Ok(m) => m,
            Err(e) => return e.cast(),
        };
    let len = msg.len();
    let consistent = cs_len % 3 == 0
        && cs_len > 0
        && (sid_len == 0 || sid_len == 16 || sid_len == 32)
        && (16..=32).contains(&ch_len)
        && 9 + cs_len + sid_len + ch_len == len;
    if !consistent {
        return V2::No;
    }
    let ciphers = msg.get(9..9 + cs_len).unwrap_or(&[]);
    // A TLS cipher suite appears in SSLv2 form as 0x00 followed by its two bytes.
    let scsv = FALLBACK_SCSV.to_be_bytes();
    let fallback_scsv = ciphers.chunks_exact(3).any(|c| c == [0, scsv[0], scsv[1]]);
    #[allow(clippy::cast_possible_truncation)] // u16_at returns a u16 widened to usize
    let legacy_version = Version(version as u16);
    V2::Yes(
        ClientHello {
            legacy_version,
            supported_versions: None,
            sslv2_format: true,
            cipher_suites: ciphers,
            sni: None,
            alpn: None,
            extensions: &[],
            fallback_scsv,
            record_version: None,
        },
        total,
    )
}

/// Parses an SSLv2 SERVER-HELLO at the start of `buf`.
pub fn parse_server_hello(buf: &[u8]) -> V2<ServerHello> {
    // msg_type(1) session_id_hit(1) certificate_type(1) server_version(2)
    // certificate_length(2) cipher_specs_length(2) connection_id_length(2)
    let (msg, total, [version, cert_len, cs_len, cid_len]) =
        match message(buf, MT_SERVER_HELLO, 11, [3, 5, 7, 9]) {
            Ok(m) => m,
            Err(e) => return e.cast(),
        };
    let len = msg.len();
    if 11 + cert_len + cs_len + cid_len != len || cs_len % 3 != 0 {
        return V2::No;
    }
    #[allow(clippy::cast_possible_truncation)] // u16_at returns a u16 widened to usize
    let version = Version(version as u16);
    V2::Yes(
        ServerHello {
            version,
            legacy_version: version,
            cipher: 0,
            is_hrr: false,
            downgrade_sentinel: false,
            sslv2_format: true,
        },
        total,
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An SSLv2-format CLIENT-HELLO with the given version and 3-byte cipher specs.
    pub(crate) fn v2_client_hello(version: u16, ciphers: &[[u8; 3]]) -> Vec<u8> {
        let mut msg = vec![MT_CLIENT_HELLO];
        msg.extend_from_slice(&version.to_be_bytes());
        msg.extend_from_slice(&((ciphers.len() * 3) as u16).to_be_bytes());
        msg.extend_from_slice(&0u16.to_be_bytes());
        msg.extend_from_slice(&16u16.to_be_bytes());
        for c in ciphers {
            msg.extend_from_slice(c);
        }
        msg.extend_from_slice(&[0xab; 16]);
        let mut rec = vec![0x80 | (msg.len() >> 8) as u8, msg.len() as u8];
        rec.extend_from_slice(&msg);
        rec
    }

    #[test]
    fn sslv2_compatible_hello_offers_its_version_field() {
        let rec = v2_client_hello(0x0301, &[[0, 0, 0x2f], [0x01, 0x00, 0x80]]);
        match parse_client_hello(&rec) {
            V2::Yes(ch, n) => {
                assert_eq!(n, rec.len());
                assert!(ch.sslv2_format);
                assert_eq!(ch.offered_max(), Some(Version::TLS10));
                assert!(!ch.fallback_scsv);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn true_sslv2_hello_is_sslv2() {
        let rec = v2_client_hello(0x0002, &[[0x07, 0x00, 0xc0]]);
        let V2::Yes(ch, _) = parse_client_hello(&rec) else {
            panic!()
        };
        assert_eq!(ch.offered_max(), Some(Version::SSL2));
    }

    #[test]
    fn fallback_scsv_in_v2_form() {
        let rec = v2_client_hello(0x0301, &[[0, 0, 0x2f], [0, 0x56, 0x00]]);
        let V2::Yes(ch, _) = parse_client_hello(&rec) else {
            panic!()
        };
        assert!(ch.fallback_scsv);
    }

    #[test]
    fn incomplete_and_inconsistent() {
        let rec = v2_client_hello(0x0300, &[[0, 0, 0x2f]]);
        assert_eq!(parse_client_hello(&rec[..10]).map_none(), V2::Incomplete);
        assert_eq!(parse_client_hello(&rec[..1]).map_none(), V2::Incomplete);
        let mut bad = rec.clone();
        bad[6] = 0x7f; // cipher specs length no longer adds up
        assert_eq!(parse_client_hello(&bad).map_none(), V2::No);
        // A TLS record is not SSLv2.
        assert_eq!(parse_client_hello(&[0x16, 3, 1, 0, 5]).map_none(), V2::No);
    }

    #[test]
    fn server_hello() {
        let mut msg = vec![MT_SERVER_HELLO, 0, 1, 0x00, 0x02];
        msg.extend_from_slice(&3u16.to_be_bytes()); // cert len
        msg.extend_from_slice(&3u16.to_be_bytes()); // cipher specs len
        msg.extend_from_slice(&16u16.to_be_bytes()); // connection id len
        msg.extend_from_slice(&[1, 2, 3, 0x07, 0x00, 0xc0]);
        msg.extend_from_slice(&[9; 16]);
        let mut rec = vec![0x80, msg.len() as u8];
        rec.extend_from_slice(&msg);
        let V2::Yes(sh, n) = parse_server_hello(&rec) else {
            panic!()
        };
        assert_eq!(n, rec.len());
        assert_eq!(sh.version, Version::SSL2);
        assert!(sh.sslv2_format);
    }

    impl<T> V2<T> {
        fn map_none(self) -> V2<()> {
            match self {
                V2::Incomplete => V2::Incomplete,
                V2::No => V2::No,
                V2::Yes(_, n) => V2::Yes((), n),
            }
        }
    }
}
