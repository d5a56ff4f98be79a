//! A tiny UDP extraction for tests that run UDP payloads through the pure parsers (until
//! `wire` decodes UDP itself): Ethernet (VLAN), Linux SLL, raw IP, BSD NULL/LOOP and PPP link
//! types; Geneve (UDP 6081) unwrapped to its inner Ethernet frame. IP fragments are skipped.

use etherparse::{LaxNetSlice, LaxSlicedPacket, TransportSlice};
use hellowatch::wire::LinkType;
use std::net::{IpAddr, SocketAddr};

/// One UDP datagram.
#[derive(Clone, Copy, Debug)]
pub struct Datagram<'a> {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub payload: &'a [u8],
}

/// The innermost UDP datagram of a captured frame, or `None`. `Err(())` for a link type this
/// extraction does not know.
pub fn udp(link: LinkType, frame: &[u8]) -> Result<Option<Datagram<'_>>, ()> {
    let ip = match link {
        LinkType::Ethernet => return Ok(from_ethernet(frame, 0)),
        // Linux SLL: 16-byte header ending with the protocol type.
        LinkType::LinuxSll => match frame.get(14..16) {
            Some([0x08, 0x00] | [0x86, 0xdd]) => &frame[16..],
            _ => return Ok(None),
        },
        LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => frame,
        LinkType::Null | LinkType::Loop => frame.get(4..).unwrap_or(&[]),
        LinkType::Ppp => {
            let f = frame.strip_prefix(&[0xff, 0x03]).unwrap_or(frame);
            match f {
                [0x00, 0x21 | 0x57, rest @ ..] => rest,
                _ => return Ok(None),
            }
        }
        _ => return Err(()),
    };
    Ok(from_ip(ip, 0))
}

fn from_ethernet(frame: &[u8], depth: u8) -> Option<Datagram<'_>> {
    let p = LaxSlicedPacket::from_ethernet(frame).ok()?;
    from_lax(p, depth)
}

fn from_ip(data: &[u8], depth: u8) -> Option<Datagram<'_>> {
    let p = LaxSlicedPacket::from_ip(data).ok()?;
    from_lax(p, depth)
}

fn from_lax(p: LaxSlicedPacket<'_>, depth: u8) -> Option<Datagram<'_>> {
    let (src, dst, fragmented) = match p.net.as_ref()? {
        LaxNetSlice::Ipv4(v4) => (
            IpAddr::from(v4.header().source_addr()),
            IpAddr::from(v4.header().destination_addr()),
            v4.payload().fragmented,
        ),
        LaxNetSlice::Ipv6(v6) => (
            IpAddr::from(v6.header().source_addr()),
            IpAddr::from(v6.header().destination_addr()),
            v6.payload().fragmented,
        ),
        _ => return None,
    };
    if fragmented {
        return None;
    }
    let TransportSlice::Udp(u) = p.transport? else {
        return None;
    };
    let payload = u.payload();
    if u.destination_port() == 6081 && depth < 3 {
        // Geneve: 8-byte header + options (4-byte words), then Ethernet or IP.
        let inner = payload.get(8 + usize::from(*payload.first()? & 0x3f) * 4..)?;
        return match payload.get(2..4)? {
            [0x65, 0x58] => from_ethernet(inner, depth + 1),
            [0x08, 0x00] | [0x86, 0xdd] => from_ip(inner, depth + 1),
            _ => None,
        };
    }
    Some(Datagram {
        src: SocketAddr::new(src, u.source_port()),
        dst: SocketAddr::new(dst, u.destination_port()),
        payload,
    })
}
