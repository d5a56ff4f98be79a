//! The PROXY protocol header (HAProxy, "The PROXY protocol", versions 1 and 2): a load
//! balancer or TLS-passthrough proxy opens the connection to its backend with one header
//! naming the real client's address, then relays the client's bytes (here: its ClientHello).
//!
//! * v1: one text line `PROXY TCP4|TCP6|UNKNOWN src dst sport dport\r\n`, at most
//!   [`MAX_V1_LEN`] bytes.
//! * v2: the 12-byte signature `\r\n\r\n\0\r\nQUIT\n`, version/command, family/transport, a
//!   big-endian length and that many bytes of addresses and TLVs.
//!
//! The header is only ever the first bytes of the connection, sent by the TCP initiator. The
//! census counts the hello under the IP sender (the proxy), as the definitions say; the
//! source address in the header is reported beside it (`proxied_for`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longest v1 header, CRLF included (the specification's bound).
pub const MAX_V1_LEN: usize = 107;
/// Longest v2 header accepted (16-byte fixed part plus addresses and TLVs); a longer one is
/// not taken for a PROXY header.
pub const MAX_V2_LEN: usize = 4096;

const V1_PREFIX: &[u8] = b"PROXY ";
const V2_SIG: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";

/// A parsed header.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Bytes the header takes.
    pub len: usize,
    /// The source (real client) address it names, if any (`UNKNOWN`, `LOCAL` and UNIX
    /// families name none).
    pub source: Option<IpAddr>,
}

/// What the first bytes of a stream are.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A prefix of a PROXY header: need more bytes.
    More,
    /// Not a PROXY header.
    No,
    /// A complete header.
    Is(Header),
}

/// Whether `d` starts like a PROXY header (v1 or v2 signature, possibly incomplete).
pub fn starts_like(d: &[u8]) -> bool {
    let n = d.len().min(V1_PREFIX.len());
    let m = d.len().min(V2_SIG.len());
    !d.is_empty() && (d.get(..n) == V1_PREFIX.get(..n) || d.get(..m) == V2_SIG.get(..m))
}

/// Parses a PROXY header at the start of `d`.
pub fn parse(d: &[u8]) -> Parsed {
    if !starts_like(d) {
        return Parsed::No;
    }
    if d.first() == Some(&b'P') {
        v1(d)
    } else {
        v2(d)
    }
}

fn v1(d: &[u8]) -> Parsed {
    let Some(end) = memchr::memchr(b'\n', d.get(..MAX_V1_LEN.min(d.len())).unwrap_or(&[])) else {
        return if d.len() >= MAX_V1_LEN {
            Parsed::No
        } else {
            Parsed::More
        };
    };
    let Some(line) = d.get(..end).and_then(|l| l.strip_suffix(b"\r")) else {
        return Parsed::No;
    };
    let Ok(text) = std::str::from_utf8(line) else {
        return Parsed::No;
    };
    let mut f = text.split(' ');
    let (Some("PROXY"), Some(proto)) = (f.next(), f.next()) else {
        return Parsed::No;
    };
    let len = end + 1;
    if proto == "UNKNOWN" {
        return Parsed::Is(Header { len, source: None });
    }
    let (Some(src), Some(dst), Some(sp), Some(dp), None) =
        (f.next(), f.next(), f.next(), f.next(), f.next())
    else {
        return Parsed::No;
    };
    let ports_ok = sp.parse::<u16>().is_ok() && dp.parse::<u16>().is_ok();
    let source = match proto {
        "TCP4" => src.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
        "TCP6" => src.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
        _ => None,
    };
    let dst_ok = dst.parse::<IpAddr>().is_ok();
    match source {
        Some(ip) if ports_ok && dst_ok => Parsed::Is(Header {
            len,
            source: Some(ip),
        }),
        _ => Parsed::No,
    }
}

fn v2(d: &[u8]) -> Parsed {
    let Some(&[ver_cmd, fam, hi, lo]) = d.get(12..16) else {
        return Parsed::More;
    };
    if ver_cmd >> 4 != 2 || ver_cmd & 0x0f > 1 {
        return Parsed::No;
    }
    let len = 16 + (usize::from(hi) << 8 | usize::from(lo));
    if len > MAX_V2_LEN {
        return Parsed::No;
    }
    let Some(body) = d.get(16..len) else {
        return Parsed::More;
    };
    let local = ver_cmd & 0x0f == 0;
    let source = match (fam >> 4, body) {
        _ if local => None,
        (1, [a, b, c, e, ..]) if body.len() >= 12 => Some(IpAddr::from([*a, *b, *c, *e])),
        (2, _) if body.len() >= 36 => body
            .get(..16)
            .and_then(|s| <[u8; 16]>::try_from(s).ok())
            .map(IpAddr::from),
        (1 | 2, _) => return Parsed::No,
        _ => None,
    };
    Parsed::Is(Header { len, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_tcp4_as_in_the_haproxy_trace() {
        let d = b"PROXY TCP4 11.111.11.111 222.222.222.22 52176 443\r\n\x16\x03\x01";
        let Parsed::Is(h) = parse(d) else {
            panic!("not parsed")
        };
        assert_eq!(h.len, 51);
        assert_eq!(h.source, Some("11.111.11.111".parse().unwrap()));
        for i in 0..51 {
            assert_eq!(
                parse(&d[..i]),
                if i == 0 { Parsed::No } else { Parsed::More }
            );
        }
    }

    #[test]
    fn v1_tcp6_and_unknown() {
        let Parsed::Is(h) = parse(b"PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n") else {
            panic!()
        };
        assert_eq!(h.source, Some("2001:db8::1".parse().unwrap()));
        assert_eq!(
            parse(b"PROXY UNKNOWN\r\n"),
            Parsed::Is(Header {
                len: 15,
                source: None
            })
        );
    }

    #[test]
    fn v1_rejects_garbage() {
        assert_eq!(parse(b"PROXY TCP4 a b 1 2\r\n"), Parsed::No);
        assert_eq!(parse(b"PROXY TCP4 1.2.3.4 5.6.7.8 70000 2\r\n"), Parsed::No);
        assert_eq!(parse(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"), Parsed::No);
        assert_eq!(parse(&[b'P'; 200]), Parsed::No);
        let mut long = b"PROXY ".to_vec();
        long.extend(std::iter::repeat_n(b'x', 200));
        assert_eq!(parse(&long), Parsed::No);
        assert_eq!(parse(b"GET / HTTP/1.1\r\n"), Parsed::No);
    }

    #[test]
    fn v2_proxy_tcp4_tcp6_and_local() {
        let mut d = V2_SIG.to_vec();
        d.extend_from_slice(&[
            0x21, 0x11, 0, 12, 10, 0, 0, 7, 10, 0, 0, 1, 0x1f, 0x90, 1, 187,
        ]);
        d.extend_from_slice(b"\x16\x03\x01");
        assert_eq!(
            parse(&d),
            Parsed::Is(Header {
                len: 28,
                source: Some("10.0.0.7".parse().unwrap())
            })
        );
        for i in 1..28 {
            assert_eq!(parse(&d[..i]), Parsed::More, "{i}");
        }
        let mut d6 = V2_SIG.to_vec();
        d6.extend_from_slice(&[0x21, 0x21, 0, 36]);
        d6.extend_from_slice(&"2001:db8::7".parse::<Ipv6Addr>().unwrap().octets());
        d6.extend_from_slice(&[0; 20]);
        let Parsed::Is(h) = parse(&d6) else { panic!() };
        assert_eq!(h.source, Some("2001:db8::7".parse().unwrap()));
        let mut local = V2_SIG.to_vec();
        local.extend_from_slice(&[0x20, 0x00, 0, 0]);
        assert_eq!(
            parse(&local),
            Parsed::Is(Header {
                len: 16,
                source: None
            })
        );
        // Bad version, short address block, oversized.
        let mut bad = V2_SIG.to_vec();
        bad.extend_from_slice(&[0x11, 0x11, 0, 0]);
        assert_eq!(parse(&bad), Parsed::No);
        let mut short = V2_SIG.to_vec();
        short.extend_from_slice(&[0x21, 0x11, 0, 4, 1, 2, 3, 4]);
        assert_eq!(parse(&short), Parsed::No);
        let mut huge = V2_SIG.to_vec();
        huge.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
        assert_eq!(parse(&huge), Parsed::No);
    }
}
