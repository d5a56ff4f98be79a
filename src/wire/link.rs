//! Link layers and tunnels: everything between the capture's link type and an IP header.
//!
//! Ethernet II with 802.1Q / 802.1ad (QinQ) and Cisco MetaData (SGT) tags, PPPoE session, MPLS, Linux SLL and SLL2, raw
//! IP, BSD NULL/LOOP, PPP; tunnels VXLAN, Geneve and GRE (incl. ERSPAN type II/III and PPTP's
//! enhanced GRE). etherparse has no SLL2, PPPoE, VXLAN, Geneve or GRE, so these are read here
//! with checked slicing.

use super::{DecodeError, MAX_TUNNEL_DEPTH, Segment, decode_ip};

/// A capture link type (pcap `LINKTYPE_*` / `DLT_*`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum LinkType {
    /// BSD loopback, address family in host byte order (DLT_NULL, 0).
    Null,
    /// Ethernet (1).
    Ethernet,
    /// PPP, RFC 1661 (9) and PPP in HDLC-like framing (50).
    Ppp,
    /// Raw IP, version from the first nibble (DLT_RAW 12/14, LINKTYPE_RAW 101).
    Raw,
    /// OpenBSD loopback, address family in network byte order (108).
    Loop,
    /// Linux cooked capture v1 (113).
    LinuxSll,
    /// Raw IPv4 (228).
    Ipv4,
    /// Raw IPv6 (229).
    Ipv6,
    /// Linux cooked capture v2 (276).
    LinuxSll2,
    /// Anything else, by number.
    Other(u32),
}

impl LinkType {
    /// From a pcap/pcapng link type number.
    pub fn from_dlt(n: u32) -> LinkType {
        match n {
            0 => LinkType::Null,
            1 => LinkType::Ethernet,
            9 | 50 => LinkType::Ppp,
            12 | 14 | 101 => LinkType::Raw,
            108 => LinkType::Loop,
            113 => LinkType::LinuxSll,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            276 => LinkType::LinuxSll2,
            n => LinkType::Other(n),
        }
    }
}

const ET_IPV4: u16 = 0x0800;
const ET_IPV6: u16 = 0x86dd;
const ET_VLAN: u16 = 0x8100;
const ET_QINQ: u16 = 0x88a8;
const ET_QINQ_OLD: u16 = 0x9100;
const ET_PPPOE_SESSION: u16 = 0x8864;
const ET_MPLS: u16 = 0x8847;
const ET_MPLS_MC: u16 = 0x8848;
const ET_TEB: u16 = 0x6558;
const ET_ERSPAN2: u16 = 0x88be;
const ET_ERSPAN3: u16 = 0x22eb;
const ET_PPP: u16 = 0x880b;
/// Cisco MetaData (security group tag): 6 bytes, then the next EtherType.
const ET_CISCO_CMD: u16 = 0x8909;

/// Most VLAN tags / MPLS labels walked in one frame.
const MAX_TAGS: usize = 8;

fn be16(b: &[u8], at: usize) -> Result<u16, DecodeError> {
    match b.get(at..).and_then(|s| s.first_chunk::<2>()) {
        Some(s) => Ok(u16::from_be_bytes(*s)),
        None => Err(DecodeError::Truncated),
    }
}

fn rest(b: &[u8], at: usize) -> Result<&[u8], DecodeError> {
    b.get(at..).ok_or(DecodeError::Truncated)
}

pub(crate) fn decode_link(link: LinkType, f: &[u8], depth: u8) -> Result<Segment<'_>, DecodeError> {
    match link {
        LinkType::Ethernet => ethernet(f, depth),
        LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => decode_ip(f, depth),
        LinkType::Null | LinkType::Loop => {
            let b = *f.first_chunk::<4>().ok_or(DecodeError::Truncated)?;
            let fam = if link == LinkType::Loop {
                u32::from_be_bytes(b)
            } else {
                // Host byte order of the capturing machine: accept either.
                let le = u32::from_le_bytes(b);
                if le > 0xffff { le.swap_bytes() } else { le }
            };
            match fam {
                // AF_INET; AF_INET6 on NetBSD/OpenBSD (24), FreeBSD (28), Darwin (30), Linux (10).
                2 | 24 | 28 | 30 | 10 => decode_ip(rest(f, 4)?, depth),
                _ => Err(DecodeError::NotIp),
            }
        }
        LinkType::LinuxSll => ethertype(be16(f, 14)?, rest(f, 16)?, depth),
        LinkType::LinuxSll2 => ethertype(be16(f, 0)?, rest(f, 20)?, depth),
        LinkType::Ppp => ppp(f, depth),
        LinkType::Other(_) => Err(DecodeError::UnsupportedLink),
    }
}

/// Ethernet II frame.
pub(crate) fn ethernet(f: &[u8], depth: u8) -> Result<Segment<'_>, DecodeError> {
    ethertype(be16(f, 12)?, rest(f, 14)?, depth)
}

/// Dispatches on an EtherType, walking VLAN tags, PPPoE and MPLS.
pub(crate) fn ethertype(mut et: u16, mut p: &[u8], depth: u8) -> Result<Segment<'_>, DecodeError> {
    for _ in 0..MAX_TAGS {
        match et {
            ET_IPV4 | ET_IPV6 => return decode_ip(p, depth),
            ET_VLAN | ET_QINQ | ET_QINQ_OLD => {
                et = be16(p, 2)?;
                p = rest(p, 4)?;
            }
            ET_CISCO_CMD => {
                et = be16(p, 6)?;
                p = rest(p, 8)?;
            }
            ET_PPPOE_SESSION => {
                // ver/type, code, session id, length; then the PPP protocol.
                let len = usize::from(be16(p, 4)?);
                let body = p.get(6..6 + len).unwrap_or(rest(p, 6)?);
                return ppp_proto(body, depth);
            }
            ET_MPLS | ET_MPLS_MC => return mpls(p, depth),
            ET_TEB => return ethernet(p, depth),
            _ => return Err(DecodeError::NotIp),
        }
    }
    Err(DecodeError::TooDeep)
}

/// MPLS label stack, then IP guessed from the version nibble.
fn mpls(mut p: &[u8], depth: u8) -> Result<Segment<'_>, DecodeError> {
    for _ in 0..MAX_TAGS {
        let bos = p.get(2).ok_or(DecodeError::Truncated)? & 0x01 != 0;
        p = rest(p, 4)?;
        if bos {
            return match p.first().map(|b| b >> 4) {
                Some(4 | 6) => decode_ip(p, depth),
                Some(_) => Err(DecodeError::NotIp),
                None => Err(DecodeError::Truncated),
            };
        }
    }
    Err(DecodeError::TooDeep)
}

/// PPP frame, with or without the HDLC address/control bytes.
fn ppp(f: &[u8], depth: u8) -> Result<Segment<'_>, DecodeError> {
    let f = match f {
        [0xff, 0x03, r @ ..] => r,
        r => r,
    };
    ppp_proto(f, depth)
}

/// PPP protocol field (1 byte if compressed), then the datagram.
fn ppp_proto(f: &[u8], depth: u8) -> Result<Segment<'_>, DecodeError> {
    let first = *f.first().ok_or(DecodeError::Truncated)?;
    let (proto, body) = if first & 0x01 != 0 {
        (u16::from(first), rest(f, 1)?)
    } else {
        (be16(f, 0)?, rest(f, 2)?)
    };
    match proto {
        0x0021 | 0x0057 => decode_ip(body, depth),
        _ => Err(DecodeError::NotIp),
    }
}

/// VXLAN (RFC 7348): 8-byte header, then an Ethernet frame.
pub(crate) fn vxlan(p: &[u8], depth: u8) -> Result<Segment<'_>, DecodeError> {
    if depth > MAX_TUNNEL_DEPTH {
        return Err(DecodeError::TooDeep);
    }
    let flags = *p.first().ok_or(DecodeError::Truncated)?;
    if flags & 0x08 == 0 {
        return Err(DecodeError::NotTcp);
    }
    ethernet(rest(p, 8)?, depth)
}

/// Geneve (RFC 8926): 8-byte header plus options, then the protocol type's payload.
pub(crate) fn geneve(p: &[u8], depth: u8) -> Result<Segment<'_>, DecodeError> {
    if depth > MAX_TUNNEL_DEPTH {
        return Err(DecodeError::TooDeep);
    }
    let b0 = *p.first().ok_or(DecodeError::Truncated)?;
    if b0 >> 6 != 0 {
        return Err(DecodeError::NotTcp);
    }
    // Option length in 4-byte words (6 bits): at most 252 bytes.
    let opt_len = usize::from(b0 & 0x3f).saturating_mul(4);
    let proto = be16(p, 2)?;
    ethertype(proto, rest(p, opt_len.saturating_add(8))?, depth)
}

/// GRE (RFC 2784/2890, PPTP enhanced GRE v1), including ERSPAN type II and III.
pub(crate) fn gre(p: &[u8], depth: u8) -> Result<Segment<'_>, DecodeError> {
    if depth > MAX_TUNNEL_DEPTH {
        return Err(DecodeError::TooDeep);
    }
    let flags = be16(p, 0)?;
    let proto = be16(p, 2)?;
    let version = flags & 0x0007;
    let (c, k, s) = (
        flags & 0x8000 != 0,
        flags & 0x2000 != 0,
        flags & 0x1000 != 0,
    );
    // Optional 4-byte fields after the 4-byte base header.
    let optional = match version {
        // Checksum and routing presence share one field; then key, then sequence number.
        0 => [c || flags & 0x4000 != 0, k, s],
        // Enhanced GRE (PPTP): key always, sequence and acknowledgment optional.
        1 => [true, s, flags & 0x0080 != 0],
        _ => return Err(DecodeError::NotTcp),
    };
    let words = optional.iter().filter(|&&present| present).count();
    let body = rest(p, words.saturating_add(1).saturating_mul(4))?;
    match proto {
        ET_ERSPAN2 => {
            // Type I has no ERSPAN header and no sequence number; type II has an 8-byte one.
            if s {
                ethernet(rest(body, 8)?, depth)
            } else {
                ethernet(body, depth)
            }
        }
        ET_ERSPAN3 => {
            // 12-byte header; the O flag (last bit) adds an 8-byte platform sub-header.
            let o = body.get(11).ok_or(DecodeError::Truncated)? & 0x01 != 0;
            ethernet(rest(body, if o { 20 } else { 12 })?, depth)
        }
        ET_PPP => ppp(body, depth),
        et => ethertype(et, body, depth),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{eth_v4_tcp, v4_tcp};
    use super::super::{DecodeError, GENEVE_PORT, VXLAN_PORT, decode};
    use super::*;
    use etherparse::PacketBuilder;

    fn ok(link: LinkType, f: &[u8]) {
        let s = decode(link, f).unwrap_or_else(|e| panic!("{link:?}: {e:?}"));
        assert_eq!(s.payload, b"tls!", "{link:?}");
        // Every prefix is an error or a segment, never a panic.
        for n in 0..f.len() {
            let _ = decode(link, &f[..n]);
        }
    }

    fn ip() -> Vec<u8> {
        v4_tcp(b"tls!")
    }

    fn udp_to(port: u16, payload: &[u8]) -> Vec<u8> {
        let b = PacketBuilder::ipv4([172, 16, 0, 1], [172, 16, 0, 2], 64).udp(5555, port);
        let mut out = Vec::new();
        b.write(&mut out, payload).unwrap();
        out
    }

    fn gre_packet(gre_hdr: &[u8], inner: &[u8]) -> Vec<u8> {
        let mut payload = gre_hdr.to_vec();
        payload.extend_from_slice(inner);
        let b = PacketBuilder::ipv4([172, 16, 0, 1], [172, 16, 0, 2], 64);
        let mut out = Vec::new();
        b.write(&mut out, etherparse::IpNumber(47), &payload)
            .unwrap();
        out
    }

    #[test]
    fn ethernet_with_vlan_and_qinq() {
        let f = eth_v4_tcp(b"tls!");
        let mut q = f[..12].to_vec();
        q.extend_from_slice(&[0x88, 0xa8, 0, 10, 0x81, 0x00, 0, 20]);
        q.extend_from_slice(&f[12..]);
        ok(LinkType::Ethernet, &q);
    }

    #[test]
    fn cisco_metadata_sgt_tag() {
        let f = eth_v4_tcp(b"tls!");
        let mut t = f[..12].to_vec();
        t.extend_from_slice(&[0x89, 0x09, 0x01, 0x01, 0x00, 0x01, 0x00, 0x02, 0x08, 0x00]);
        t.extend_from_slice(&f[14..]);
        ok(LinkType::Ethernet, &t);
    }

    #[test]
    fn pppoe_session() {
        let ipb = ip();
        let mut f = vec![0; 12];
        f.extend_from_slice(&[0x88, 0x64, 0x11, 0x00, 0x00, 0x01]);
        f.extend_from_slice(&((ipb.len() + 2) as u16).to_be_bytes());
        f.extend_from_slice(&[0x00, 0x21]);
        f.extend_from_slice(&ipb);
        ok(LinkType::Ethernet, &f);
    }

    #[test]
    fn mpls_stack() {
        let mut f = vec![0; 12];
        f.extend_from_slice(&[0x88, 0x47, 0, 0x01, 0x00, 0x40, 0, 0x02, 0x01, 0x40]);
        f.extend_from_slice(&ip());
        ok(LinkType::Ethernet, &f);
    }

    #[test]
    fn linux_sll_and_sll2() {
        let mut sll = vec![0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00];
        sll.extend_from_slice(&ip());
        ok(LinkType::LinuxSll, &sll);
        let mut sll2 = vec![
            0x08, 0x00, 0, 0, 0, 0, 0, 1, 0, 1, 4, 6, 1, 2, 3, 4, 5, 6, 0, 0,
        ];
        sll2.extend_from_slice(&ip());
        ok(LinkType::LinuxSll2, &sll2);
    }

    #[test]
    fn null_loop_and_raw() {
        let mut null = 2u32.to_le_bytes().to_vec();
        null.extend_from_slice(&ip());
        ok(LinkType::Null, &null);
        let mut null_be = 2u32.to_be_bytes().to_vec();
        null_be.extend_from_slice(&ip());
        ok(LinkType::Null, &null_be);
        let mut lo = 2u32.to_be_bytes().to_vec();
        lo.extend_from_slice(&ip());
        ok(LinkType::Loop, &lo);
        ok(LinkType::Raw, &ip());
        ok(LinkType::from_dlt(228), &ip());
        let mut other = 7u32.to_le_bytes().to_vec();
        other.extend_from_slice(&ip());
        assert_eq!(decode(LinkType::Null, &other), Err(DecodeError::NotIp));
    }

    #[test]
    fn ppp_with_and_without_hdlc_header() {
        let mut f = vec![0xff, 0x03, 0x00, 0x21];
        f.extend_from_slice(&ip());
        ok(LinkType::Ppp, &f);
        let mut f = vec![0x21];
        f.extend_from_slice(&ip());
        ok(LinkType::Ppp, &f);
    }

    #[test]
    fn vxlan_inner_addresses_win() {
        let mut v = vec![0x08, 0, 0, 0, 0, 0, 1, 0];
        v.extend_from_slice(&eth_v4_tcp(b"tls!"));
        let outer = udp_to(VXLAN_PORT, &v);
        ok(LinkType::Raw, &outer);
        let s = decode(LinkType::Raw, &outer).unwrap();
        assert_eq!(s.src.to_string(), "10.0.0.1");
    }

    #[test]
    fn geneve_with_options_carrying_ip() {
        let mut g = vec![0x01, 0, 0x08, 0x00, 0, 0, 1, 0, 0, 0, 0, 0];
        g.extend_from_slice(&ip());
        ok(LinkType::Raw, &udp_to(GENEVE_PORT, &g));
        let mut g = vec![0x00, 0, 0x65, 0x58, 0, 0, 1, 0];
        g.extend_from_slice(&eth_v4_tcp(b"tls!"));
        ok(LinkType::Raw, &udp_to(GENEVE_PORT, &g));
    }

    #[test]
    fn gre_plain_keyed_and_ipv6_inner() {
        ok(LinkType::Raw, &gre_packet(&[0, 0, 0x08, 0x00], &ip()));
        ok(
            LinkType::Raw,
            &gre_packet(
                &[0xb0, 0, 0x08, 0x00, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2],
                &ip(),
            ),
        );
        ok(
            LinkType::Raw,
            &gre_packet(&[0, 0, 0x65, 0x58], &eth_v4_tcp(b"tls!")),
        );
    }

    #[test]
    fn erspan_type2_and_type3() {
        let e = eth_v4_tcp(b"tls!");
        let mut ii = vec![0x10, 0, 0x88, 0xbe, 0, 0, 0, 9];
        ii.extend_from_slice(&[0x10, 0, 0, 1, 0, 0, 0, 0]);
        ok(LinkType::Raw, &gre_packet(&ii, &e));
        let mut iii = vec![0x10, 0, 0x22, 0xeb, 0, 0, 0, 9];
        iii.extend_from_slice(&[0x20, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]);
        iii.extend_from_slice(&[0; 8]);
        ok(LinkType::Raw, &gre_packet(&iii, &e));
    }

    #[test]
    fn tunnel_nesting_is_bounded() {
        let mut pkt = ip();
        for _ in 0..10 {
            pkt = gre_packet(&[0, 0, 0x08, 0x00], &pkt);
        }
        assert_eq!(decode(LinkType::Raw, &pkt), Err(DecodeError::TooDeep));
    }
}
