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

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..)?
        .first_chunk::<2>()
        .map(|s| u16::from_be_bytes(*s))
}

/// `n` bytes at `at`, if present.
fn take(b: &[u8], at: usize, n: usize) -> Option<&[u8]> {
    b.get(at..)?.get(..n)
}

/// Sum of 16-bit lengths plus a fixed part (cannot overflow a `usize`; checked regardless).
fn total(fixed: usize, lens: &[u16]) -> Option<usize> {
    lens.iter()
        .try_fold(fixed, |acc, l| acc.checked_add(usize::from(*l)))
}

/// Parses an SSLv2-format CLIENT-HELLO at the start of `buf`.
pub fn parse_client_hello(buf: &[u8]) -> V2<ClientHello<'_>> {
    let Some((hl, len)) = record(buf) else {
        return if buf.len() < 2 {
            V2::Incomplete
        } else {
            V2::No
        };
    };
    let Some(msg) = take(buf, hl, len) else {
        return V2::Incomplete;
    };
    // msg_type(1) version(2) cipher_specs_length(2) session_id_length(2) challenge_length(2)
    if msg.first() != Some(&MT_CLIENT_HELLO) || len < 9 {
        return V2::No;
    }
    let (Some(version), Some(cs_len), Some(sid_len), Some(ch_len)) = (
        u16_at(msg, 1),
        u16_at(msg, 3),
        u16_at(msg, 5),
        u16_at(msg, 7),
    ) else {
        return V2::No;
    };
    let consistent = cs_len % 3 == 0
        && cs_len > 0
        && (sid_len == 0 || sid_len == 16 || sid_len == 32)
        && (16..=32).contains(&ch_len)
        && total(9, &[cs_len, sid_len, ch_len]) == Some(len);
    if !consistent {
        return V2::No;
    }
    let ciphers = take(msg, 9, usize::from(cs_len)).unwrap_or(&[]);
    // A TLS cipher suite appears in SSLv2 form as 0x00 followed by its two bytes.
    let scsv = FALLBACK_SCSV.to_be_bytes();
    let fallback_scsv = ciphers.chunks_exact(3).any(|c| c == [0, scsv[0], scsv[1]]);
    let legacy_version = Version(version);
    V2::Yes(
        ClientHello {
            legacy_version,
            supported_versions: None,
            sslv2_format: true,
            cipher_suites: ciphers,
            sni: None,
            alpn: None,
            supported_groups: None,
            key_share: None,
            extensions: &[],
            fallback_scsv,
            record_version: None,
        },
        msg.len().saturating_add(hl),
    )
}

/// Parses an SSLv2 SERVER-HELLO at the start of `buf`.
pub fn parse_server_hello(buf: &[u8]) -> V2<ServerHello> {
    let Some((hl, len)) = record(buf) else {
        return if buf.len() < 2 {
            V2::Incomplete
        } else {
            V2::No
        };
    };
    let Some(msg) = take(buf, hl, len) else {
        return V2::Incomplete;
    };
    // msg_type(1) session_id_hit(1) certificate_type(1) server_version(2)
    // certificate_length(2) cipher_specs_length(2) connection_id_length(2)
    if msg.first() != Some(&MT_SERVER_HELLO) || len < 11 {
        return V2::No;
    }
    let (Some(version), Some(cert_len), Some(cs_len), Some(cid_len)) = (
        u16_at(msg, 3),
        u16_at(msg, 5),
        u16_at(msg, 7),
        u16_at(msg, 9),
    ) else {
        return V2::No;
    };
    if total(11, &[cert_len, cs_len, cid_len]) != Some(len) || cs_len % 3 != 0 {
        return V2::No;
    }
    let version = Version(version);
    V2::Yes(
        ServerHello {
            version,
            legacy_version: version,
            cipher: 0,
            is_hrr: false,
            downgrade_sentinel: false,
            sslv2_format: true,
            key_share_group: None,
        },
        msg.len().saturating_add(hl),
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
