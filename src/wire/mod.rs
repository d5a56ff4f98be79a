//! Link, IP, TCP and UDP decoding: pure, zero-copy, no panics.
//!
//! [`decode`] walks from the capture's link type down to the innermost TCP segment or UDP
//! datagram (a [`Segment`] whose [`Proto`] says which). The link
//! layers etherparse does not know (BSD NULL/LOOP, Linux SLL2, PPP, PPPoE, MPLS) and the
//! tunnels (VXLAN, Geneve, GRE incl. ERSPAN II/III, IP-in-IP) are unwrapped here; IP (with
//! IPv6 extension headers) and TCP are sliced by etherparse (header slices on the fast path,
//! `LaxSlicedPacket` for the rest). Every read is
//! bounds-checked: a short or odd packet is a [`DecodeError`], never a panic.

#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

pub mod link;

pub use link::LinkType;

use etherparse::{
    Ipv4HeaderSlice, Ipv6HeaderSlice, LaxNetSlice, LaxSlicedPacket, TcpHeaderSlice, TransportSlice,
};
use std::net::IpAddr;

/// How many encapsulations (VLAN tags excluded) are unwrapped before giving up.
pub const MAX_TUNNEL_DEPTH: u8 = 4;

/// VXLAN UDP port (RFC 7348), as used by cloud traffic mirroring.
pub const VXLAN_PORT: u16 = 4789;
/// Geneve UDP port (RFC 8926).
pub const GENEVE_PORT: u16 = 6081;

/// TCP flag bits.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// ACK.
    pub const ACK: u8 = 0x10;

    /// Is `bit` set?
    #[inline]
    pub fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
}

/// The IP protocol of a [`Segment`] (TCP or UDP).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Proto {
    /// A TCP segment.
    Tcp,
    /// A UDP datagram that is not a tunnel this module unwraps (VXLAN, Geneve).
    Udp,
}

/// A decoded TCP segment or UDP datagram, borrowing its payload from the packet.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Segment<'a> {
    /// TCP or UDP (`seq` and `flags` are 0 for UDP).
    pub proto: Proto,
    /// Source address (innermost IP header).
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Sequence number.
    pub seq: u32,
    /// Flags.
    pub flags: TcpFlags,
    /// Payload bytes present in the capture.
    pub payload: &'a [u8],
    /// The IP header claims more payload than was captured (snap length or cut file).
    pub truncated: bool,
}

/// Why a packet yields no TCP segment. A closed set: it is a metric label.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DecodeError {
    /// Shorter than its headers.
    Truncated,
    /// A link type hellowatch does not decode.
    UnsupportedLink,
    /// Not IP (ARP, LLDP, …).
    NotIp,
    /// IP but neither TCP nor UDP (ICMP, ESP, …); also counts the UDP datagrams the engine
    /// does not read (neither DTLS nor QUIC), so that TCP-only figures stay as they were.
    NotTcp,
    /// An IPv4/IPv6 fragment: counted and skipped.
    Fragment,
    /// More nested encapsulations than [`MAX_TUNNEL_DEPTH`].
    TooDeep,
    /// IP header that does not parse.
    BadIp,
}

impl DecodeError {
    /// All kinds, in a fixed order.
    pub const ALL: [DecodeError; 7] = [
        DecodeError::Truncated,
        DecodeError::UnsupportedLink,
        DecodeError::NotIp,
        DecodeError::NotTcp,
        DecodeError::Fragment,
        DecodeError::TooDeep,
        DecodeError::BadIp,
    ];

    /// Label value.
    pub fn name(self) -> &'static str {
        match self {
            DecodeError::Truncated => "truncated",
            DecodeError::UnsupportedLink => "unsupported_link",
            DecodeError::NotIp => "not_ip",
            DecodeError::NotTcp => "not_tcp",
            DecodeError::Fragment => "fragment",
            DecodeError::TooDeep => "too_deep",
            DecodeError::BadIp => "bad_ip",
        }
    }

    /// Position in [`DecodeError::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Decodes a captured frame of link type `link` down to its innermost TCP segment or UDP
/// datagram.
pub fn decode(link: LinkType, frame: &[u8]) -> Result<Segment<'_>, DecodeError> {
    link::decode_link(link, frame, 0)
}

/// Decodes an IP packet (v4 or v6, by its version nibble), unwrapping IP-level tunnels.
///
/// The common shapes (IPv4 with or without options, IPv6 without extension headers) are read
/// with etherparse's zero-copy header slices; anything else (IPv6 extension headers, a zero
/// or odd IPv4 total length as seen with segmentation offload) goes through etherparse's
/// `LaxSlicedPacket`, which is slower but knows every header.
pub(crate) fn decode_ip(data: &[u8], depth: u8) -> Result<Segment<'_>, DecodeError> {
    if depth > MAX_TUNNEL_DEPTH {
        return Err(DecodeError::TooDeep);
    }
    match data.first().map(|b| b >> 4) {
        Some(4) => {
            let Ok(h) = Ipv4HeaderSlice::from_slice(data) else {
                return decode_ip_lax(data, depth);
            };
            let hl = usize::from(h.ihl()) * 4;
            let total = usize::from(h.total_len());
            if total < hl {
                return decode_ip_lax(data, depth);
            }
            if h.is_fragmenting_payload() {
                return Err(DecodeError::Fragment);
            }
            let payload = data
                .get(hl..total.min(data.len()))
                .ok_or(DecodeError::Truncated)?;
            let (src, dst) = (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
            );
            transport(src, dst, h.protocol().0, payload, total > data.len(), depth)
        }
        Some(6) => {
            let Ok(h) = Ipv6HeaderSlice::from_slice(data) else {
                return decode_ip_lax(data, depth);
            };
            let nh = h.next_header().0;
            let plen = usize::from(h.payload_length());
            if !matches!(nh, 4 | 6 | 17 | 41 | 47) || plen == 0 {
                return decode_ip_lax(data, depth);
            }
            let payload = data
                .get(40..(40 + plen).min(data.len()))
                .ok_or(DecodeError::Truncated)?;
            let (src, dst) = (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
            );
            transport(src, dst, nh, payload, 40 + plen > data.len(), depth)
        }
        Some(_) => Err(DecodeError::BadIp),
        None => Err(DecodeError::Truncated),
    }
}

/// The IP payload of protocol `proto`: TCP, or a tunnel to unwrap.
fn transport<'a>(
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    payload: &'a [u8],
    truncated: bool,
    depth: u8,
) -> Result<Segment<'a>, DecodeError> {
    match proto {
        6 => {
            let t = TcpHeaderSlice::from_slice(payload).map_err(|_| DecodeError::Truncated)?;
            let data = payload
                .get(usize::from(t.data_offset()) * 4..)
                .ok_or(DecodeError::Truncated)?;
            Ok(Segment {
                proto: Proto::Tcp,
                src,
                dst,
                sport: t.source_port(),
                dport: t.destination_port(),
                seq: t.sequence_number(),
                flags: tcp_flags(t.fin(), t.syn(), t.rst(), t.ack()),
                payload: data,
                truncated,
            })
        }
        17 => {
            let [s0, s1, d0, d1, l0, l1, _, _] =
                *payload.first_chunk::<8>().ok_or(DecodeError::Truncated)?;
            let dport = u16::from_be_bytes([d0, d1]);
            let len = usize::from(u16::from_be_bytes([l0, l1]));
            let inner = payload.get(8..len.clamp(8, payload.len())).unwrap_or(&[]);
            match udp_tunnel(dport, inner, depth) {
                Some(r) => r,
                None => Ok(Segment {
                    proto: Proto::Udp,
                    src,
                    dst,
                    sport: u16::from_be_bytes([s0, s1]),
                    dport,
                    seq: 0,
                    flags: TcpFlags(0),
                    payload: inner,
                    truncated: truncated || len > payload.len(),
                }),
            }
        }
        47 => link::gre(payload, depth.saturating_add(1)),
        4 | 41 => decode_ip(payload, depth.saturating_add(1)),
        _ => Err(DecodeError::NotTcp),
    }
}

fn tcp_flags(fin: bool, syn: bool, rst: bool, ack: bool) -> TcpFlags {
    let bit = |on: bool, b: u8| if on { b } else { 0 };
    TcpFlags(
        bit(fin, TcpFlags::FIN)
            | bit(syn, TcpFlags::SYN)
            | bit(rst, TcpFlags::RST)
            | bit(ack, TcpFlags::ACK),
    )
}

/// A UDP tunnel to unwrap, by its port; `None`: a plain datagram.
fn udp_tunnel(dport: u16, inner: &[u8], depth: u8) -> Option<Result<Segment<'_>, DecodeError>> {
    match dport {
        VXLAN_PORT => Some(link::vxlan(inner, depth.saturating_add(1))),
        GENEVE_PORT => Some(link::geneve(inner, depth.saturating_add(1))),
        _ => None,
    }
}

/// The general path: etherparse's `LaxSlicedPacket` (IPv6 extension headers, odd lengths).
fn decode_ip_lax(data: &[u8], depth: u8) -> Result<Segment<'_>, DecodeError> {
    let pkt = LaxSlicedPacket::from_ip(data).map_err(|e| match e {
        etherparse::err::ip::LaxHeaderSliceError::Len(_) => DecodeError::Truncated,
        etherparse::err::ip::LaxHeaderSliceError::Content(_) => DecodeError::BadIp,
    })?;
    let (src, dst, payload) = match &pkt.net {
        Some(LaxNetSlice::Ipv4(v4)) => (
            IpAddr::V4(v4.header().source_addr()),
            IpAddr::V4(v4.header().destination_addr()),
            v4.payload(),
        ),
        Some(LaxNetSlice::Ipv6(v6)) => (
            IpAddr::V6(v6.header().source_addr()),
            IpAddr::V6(v6.header().destination_addr()),
            v6.payload(),
        ),
        _ => return Err(DecodeError::BadIp),
    };
    if payload.fragmented {
        return Err(DecodeError::Fragment);
    }
    match &pkt.transport {
        Some(TransportSlice::Tcp(tcp)) => Ok(Segment {
            proto: Proto::Tcp,
            src,
            dst,
            sport: tcp.source_port(),
            dport: tcp.destination_port(),
            seq: tcp.sequence_number(),
            flags: tcp_flags(tcp.fin(), tcp.syn(), tcp.rst(), tcp.ack()),
            payload: tcp.payload(),
            truncated: payload.incomplete,
        }),
        Some(TransportSlice::Udp(udp)) => {
            let dport = udp.destination_port();
            udp_tunnel(dport, udp.payload(), depth).unwrap_or(Ok(Segment {
                proto: Proto::Udp,
                src,
                dst,
                sport: udp.source_port(),
                dport,
                seq: 0,
                flags: TcpFlags(0),
                payload: udp.payload(),
                truncated: payload.incomplete,
            }))
        }
        Some(_) => Err(DecodeError::NotTcp),
        None => match payload.ip_number.0 {
            6 | 17 => Err(DecodeError::Truncated),
            47 => link::gre(payload.payload, depth.saturating_add(1)),
            4 | 41 => decode_ip(payload.payload, depth.saturating_add(1)),
            _ => Err(DecodeError::NotTcp),
        },
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    /// An Ethernet/IPv4/TCP frame with the given payload.
    pub(crate) fn eth_v4_tcp(payload: &[u8]) -> Vec<u8> {
        let b = PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 443, 1000, 65535)
            .ack(1);
        let mut out = Vec::new();
        b.write(&mut out, payload).unwrap();
        out
    }

    /// A bare IPv4/TCP packet.
    pub(crate) fn v4_tcp(payload: &[u8]) -> Vec<u8> {
        let b = PacketBuilder::ipv4([192, 0, 2, 1], [192, 0, 2, 2], 64).tcp(1234, 443, 7, 100);
        let mut out = Vec::new();
        b.write(&mut out, payload).unwrap();
        out
    }

    #[test]
    fn ethernet_ipv4_tcp() {
        let f = eth_v4_tcp(b"hello");
        let s = decode(LinkType::Ethernet, &f).unwrap();
        assert_eq!(s.src, "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!((s.sport, s.dport, s.seq), (40000, 443, 1000));
        assert_eq!(s.payload, b"hello");
        assert!(s.flags.has(TcpFlags::ACK) && !s.flags.has(TcpFlags::SYN));
        assert!(!s.truncated);
    }

    #[test]
    fn ipv6_with_extension_header() {
        let b = PacketBuilder::ipv6(
            [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
            64,
        )
        .tcp(5, 6, 7, 8);
        let mut p = Vec::new();
        b.write(&mut p, b"x").unwrap();
        // Insert a hop-by-hop header: next header 6 (TCP), length 0, 6 bytes padding.
        p[6] = 0;
        let hbh = [6u8, 0, 1, 4, 0, 0, 0, 0];
        p.splice(40..40, hbh);
        let plen = u16::from_be_bytes([p[4], p[5]]) + 8;
        p[4..6].copy_from_slice(&plen.to_be_bytes());
        let s = decode(LinkType::Raw, &p).unwrap();
        assert_eq!(s.payload, b"x");
        assert_eq!(s.dst.to_string(), "2001:db8::2");
    }

    #[test]
    fn ipv4_fragment_is_counted_not_decoded() {
        let mut p = v4_tcp(b"abc");
        p[6] = 0x20; // more fragments
        assert_eq!(decode(LinkType::Raw, &p), Err(DecodeError::Fragment));
    }

    #[test]
    fn cut_payload_is_marked_truncated() {
        let p = v4_tcp(&[7; 100]);
        let s = decode(LinkType::Raw, &p[..p.len() - 10]).unwrap();
        assert!(s.truncated);
        assert_eq!(s.payload.len(), 90);
    }

    #[test]
    fn short_frames_are_errors_not_panics() {
        let f = eth_v4_tcp(b"hello");
        for n in 0..f.len() {
            let _ = decode(LinkType::Ethernet, &f[..n]);
        }
        assert_eq!(
            decode(LinkType::Ethernet, &f[..20]),
            Err(DecodeError::Truncated)
        );
    }

    #[test]
    fn zero_total_length_from_segmentation_offload_still_decodes() {
        let mut p = v4_tcp(b"offloaded");
        p[2] = 0;
        p[3] = 0;
        let s = decode(LinkType::Raw, &p).unwrap();
        assert_eq!(s.payload, b"offloaded");
    }

    #[test]
    fn udp_datagram_is_a_udp_segment() {
        let b = PacketBuilder::ipv4([1, 1, 1, 1], [2, 2, 2, 2], 9).udp(5353, 53);
        let mut p = Vec::new();
        b.write(&mut p, b"q").unwrap();
        let s = decode(LinkType::Raw, &p).unwrap();
        assert_eq!(s.proto, Proto::Udp);
        assert_eq!(
            (s.sport, s.dport, s.seq, s.flags),
            (5353, 53, 0, TcpFlags(0))
        );
        assert_eq!(s.payload, b"q");
        assert!(!s.truncated);
        // Cut by the snap length: marked; the UDP length is trusted only inside the capture.
        let s = decode(LinkType::Raw, &p[..p.len() - 1]).unwrap();
        assert!(s.truncated && s.payload.is_empty());
    }

    #[test]
    fn udp_over_ipv6_with_extension_header_takes_the_lax_path() {
        let b = PacketBuilder::ipv6([0x20; 16], [0x21; 16], 64).udp(4433, 50000);
        let mut p = Vec::new();
        b.write(&mut p, b"dtls").unwrap();
        p[6] = 0;
        p.splice(40..40, [17u8, 0, 1, 4, 0, 0, 0, 0]);
        let plen = u16::from_be_bytes([p[4], p[5]]) + 8;
        p[4..6].copy_from_slice(&plen.to_be_bytes());
        let s = decode(LinkType::Raw, &p).unwrap();
        assert_eq!(s.proto, Proto::Udp);
        assert_eq!((s.sport, s.dport), (4433, 50000));
        assert_eq!(s.payload, b"dtls");
    }
}
