//! UDP tunnels of mobile and wireless networks: GTP-U (3GPP TS 29.281) and CAPWAP data
//! channels (RFC 5415, with the IEEE 802.11 binding of RFC 5416). Like the other tunnels, the
//! innermost IP header is what counts: the phone or the wireless station is the client.
//!
//! Checked slicing only; anything unexpected is a [`DecodeError`], never a panic.

use super::link::{ethernet, ethertype};
use super::{DecodeError, MAX_TUNNEL_DEPTH, Segment, decode_ip};

/// GTP-U UDP port (3GPP TS 29.281 §4.4.2), used as source and destination.
pub const GTPU_PORT: u16 = 2152;
/// CAPWAP data channel UDP port (RFC 5415 §4.7; 5246 is the DTLS control channel).
pub const CAPWAP_DATA_PORT: u16 = 5247;

/// Most GTP-U extension headers walked before giving up.
const MAX_GTPU_EXTENSIONS: usize = 8;

/// GTP-U message type G-PDU: the only one that carries a user packet (T-PDU).
const GTPU_G_PDU: u8 = 0xff;

/// GTP-U (version 1): an 8-byte header, 4 optional bytes when any of E/S/PN is set, then
/// extension headers while the next-type byte is non-zero, then the user's IP packet.
pub(crate) fn gtpu(p: &[u8], depth: u8) -> Result<Segment<'_>, DecodeError> {
    if depth > MAX_TUNNEL_DEPTH {
        return Err(DecodeError::TooDeep);
    }
    let [flags, msg_type, l0, l1, _, _, _, _] =
        *p.first_chunk::<8>().ok_or(DecodeError::Truncated)?;
    // Version 1 and protocol type GTP (not GTP'); anything else is not GTP-U.
    if flags >> 5 != 1 || flags & 0x10 == 0 {
        return Err(DecodeError::NotTcp);
    }
    if msg_type != GTPU_G_PDU {
        return Err(DecodeError::NotTcp); // echo, error indication, end marker: no user data
    }
    let len = usize::from(u16::from_be_bytes([l0, l1]));
    let body = p.get(8..).ok_or(DecodeError::Truncated)?;
    let mut body = body.get(..len.min(body.len())).unwrap_or(&[]);
    if flags & 0x07 != 0 {
        // Sequence number (2), N-PDU number (1), next extension header type (1).
        let mut next = *body.get(3).ok_or(DecodeError::Truncated)?;
        body = body.get(4..).ok_or(DecodeError::Truncated)?;
        let mut walked = 0usize;
        while next != 0 {
            walked = walked.saturating_add(1);
            if walked > MAX_GTPU_EXTENSIONS {
                return Err(DecodeError::TooDeep);
            }
            // Length in 4-byte units, covering the length byte and the next-type byte.
            let units = usize::from(*body.first().ok_or(DecodeError::Truncated)?);
            if units == 0 {
                return Err(DecodeError::NotTcp);
            }
            let ext_len = units.saturating_mul(4);
            next = *body
                .get(ext_len.saturating_sub(1))
                .ok_or(DecodeError::Truncated)?;
            body = body.get(ext_len..).ok_or(DecodeError::Truncated)?;
        }
    }
    match body.first().map(|b| b >> 4) {
        Some(4 | 6) => decode_ip(body, depth),
        Some(_) => Err(DecodeError::NotIp),
        None => Err(DecodeError::Truncated),
    }
}

/// CAPWAP data channel: preamble, header of HLEN 4-byte words, then an IEEE 802.3 frame
/// (T = 0) or, with the 802.11 binding (WBID 1, T = 1), an IEEE 802.11 frame.
pub(crate) fn capwap_data(p: &[u8], depth: u8) -> Result<Segment<'_>, DecodeError> {
    if depth > MAX_TUNNEL_DEPTH {
        return Err(DecodeError::TooDeep);
    }
    let [preamble, b1, b2, b3] = *p.first_chunk::<4>().ok_or(DecodeError::Truncated)?;
    // Version 0; type 1 is a DTLS-protected packet (nothing to read).
    if preamble != 0 {
        return Err(DecodeError::NotTcp);
    }
    let v = u32::from(b1) << 16 | u32::from(b2) << 8 | u32::from(b3);
    let hlen = usize::try_from(v >> 19).unwrap_or(0).saturating_mul(4);
    let wbid = (v >> 9) & 0x1f;
    let native = v >> 8 & 1 == 1;
    let fragment = v >> 7 & 1 == 1;
    let keep_alive = v >> 3 & 1 == 1;
    if hlen < 8 || keep_alive {
        return Err(DecodeError::NotTcp);
    }
    if fragment {
        return Err(DecodeError::Fragment);
    }
    let frame = p.get(hlen..).ok_or(DecodeError::Truncated)?;
    let inner = match (native, wbid) {
        (false, _) => ethernet(frame, depth),
        (true, 1) => ieee80211(frame, depth),
        _ => Err(DecodeError::NotIp),
    };
    // What a wireless station sends besides IP (management frames, EAPOL, ARP) stays counted
    // as a UDP packet without TCP, as before this tunnel was unwrapped.
    inner.map_err(|e| match e {
        DecodeError::NotIp => DecodeError::NotTcp,
        e => e,
    })
}

/// An IEEE 802.11 data frame carrying an LLC/SNAP-encapsulated packet. Cisco access points
/// send the two frame-control bytes swapped (Wireshark's "Swap Frame Control"): the order is
/// recognised by which byte reads as a data frame of protocol version 0.
fn ieee80211(f: &[u8], depth: u8) -> Result<Segment<'_>, DecodeError> {
    let [a, b] = *f.first_chunk::<2>().ok_or(DecodeError::Truncated)?;
    let is_data = |x: u8| x & 0x0f == 0x08;
    let (fc, fl) = if is_data(a) {
        (a, b)
    } else if is_data(b) {
        (b, a)
    } else {
        return Err(DecodeError::NotIp); // management or control frame
    };
    let subtype = fc >> 4;
    // Subtypes with bit 2 set carry no data (Null, CF-Ack, CF-Poll…); protected frames are
    // encrypted.
    if subtype & 0x04 != 0 || fl & 0x40 != 0 {
        return Err(DecodeError::NotIp);
    }
    let qos = subtype & 0x08 != 0;
    let mut hdr = 24usize;
    if fl & 0x03 == 0x03 {
        hdr = hdr.saturating_add(6); // fourth address (WDS)
    }
    if qos {
        // A-MSDU aggregates (QoS control bit 7) hold several subframes: not unwrapped.
        if f.get(hdr).ok_or(DecodeError::Truncated)? & 0x80 != 0 {
            return Err(DecodeError::NotIp);
        }
        hdr = hdr.saturating_add(2);
        if fl & 0x80 != 0 {
            hdr = hdr.saturating_add(4); // HT control
        }
    }
    let llc = f.get(hdr..).ok_or(DecodeError::Truncated)?;
    // LLC/SNAP: AA AA 03, OUI 00-00-00 (RFC 1042) or 00-00-F8 (802.1H), then an EtherType.
    match llc {
        [0xaa, 0xaa, 0x03, 0x00, 0x00, 0x00 | 0xf8, e0, e1, rest @ ..] => {
            ethertype(u16::from_be_bytes([*e0, *e1]), rest, depth)
        }
        [_, _, _, _, _, _, _, _, ..] => Err(DecodeError::NotIp),
        _ => Err(DecodeError::Truncated),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{eth_v4_tcp, v4_tcp};
    use super::super::{LinkType, decode};
    use super::*;
    use etherparse::PacketBuilder;

    fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let b = PacketBuilder::ipv4([172, 16, 0, 1], [172, 16, 0, 2], 64).udp(sport, dport);
        let mut out = Vec::new();
        b.write(&mut out, payload).unwrap();
        out
    }

    fn ok(f: &[u8]) {
        let s = decode(LinkType::Raw, f).unwrap();
        assert_eq!(s.payload, b"tls!");
        assert_eq!(
            s.src.to_string(),
            "192.0.2.1",
            "the inner sender is the client"
        );
        for n in 0..f.len() {
            let _ = decode(LinkType::Raw, &f[..n]);
        }
    }

    fn gtp(flags: u8, msg: u8, opt: &[u8], inner: &[u8]) -> Vec<u8> {
        let mut g = vec![flags, msg];
        g.extend_from_slice(&((opt.len() + inner.len()) as u16).to_be_bytes());
        g.extend_from_slice(&[0, 0, 0, 7]);
        g.extend_from_slice(opt);
        g.extend_from_slice(inner);
        g
    }

    #[test]
    fn gtpu_g_pdu_either_direction() {
        let g = gtp(0x30, 0xff, &[], &v4_tcp(b"tls!"));
        ok(&udp(2152, 2152, &g));
        ok(&udp(40000, 2152, &g));
        ok(&udp(2152, 40000, &g));
    }

    #[test]
    fn gtpu_optional_fields_and_extension_headers() {
        // S flag: sequence number, N-PDU, next type 0.
        ok(&udp(
            2152,
            2152,
            &gtp(0x32, 0xff, &[0, 9, 0, 0], &v4_tcp(b"tls!")),
        ));
        // E flag with a PDU session container (type 0x85, one 4-byte unit), then none.
        let opt = [0, 0, 0, 0x85, 1, 0x10, 0x05, 0];
        ok(&udp(2152, 2152, &gtp(0x34, 0xff, &opt, &v4_tcp(b"tls!"))));
        // A zero-length extension header is malformed.
        let bad = [0, 0, 0, 0x85, 0, 0, 0, 0];
        assert_eq!(
            decode(
                LinkType::Raw,
                &udp(2152, 2152, &gtp(0x34, 0xff, &bad, &v4_tcp(b"x")))
            ),
            Err(DecodeError::NotTcp)
        );
    }

    #[test]
    fn gtpu_signalling_and_gtp_prime_are_not_user_data() {
        let inner = v4_tcp(b"tls!");
        for (flags, msg) in [(0x30, 0x01), (0x20, 0xff), (0x50, 0xff)] {
            assert_eq!(
                decode(
                    LinkType::Raw,
                    &udp(2152, 2152, &gtp(flags, msg, &[], &inner))
                ),
                Err(DecodeError::NotTcp),
                "{flags:#x} {msg:#x}"
            );
        }
    }

    /// The 802.11 data frame of ndpi-capwap_data.pcapng's frame 1, frame control swapped.
    fn wlan(swapped: bool, qos: bool, ip: &[u8]) -> Vec<u8> {
        let fc = if qos { 0x88 } else { 0x08 };
        let mut f = if swapped {
            vec![0x01, fc]
        } else {
            vec![fc, 0x01]
        };
        f.extend_from_slice(&[0x2c, 0]);
        f.extend_from_slice(&[1; 18]); // three addresses
        f.extend_from_slice(&[0x76, 0x30]);
        if qos {
            f.extend_from_slice(&[0, 0]);
        }
        f.extend_from_slice(&[0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00]);
        f.extend_from_slice(ip);
        f
    }

    fn capwap(native: bool, wireless_info: bool, frame: &[u8]) -> Vec<u8> {
        // HLEN 4 words with the 4-byte wireless specific information and padding, else 2.
        let (hlen, extra): (u32, &[u8]) = if wireless_info {
            (4, &[4, 0xbf, 0x23, 0, 0, 0, 0, 0])
        } else {
            (2, &[])
        };
        let v = hlen << 19 | 1 << 9 | u32::from(native) << 8 | u32::from(wireless_info) << 5;
        let mut c = vec![0, (v >> 16) as u8, (v >> 8) as u8, v as u8, 0, 0, 0, 0];
        c.extend_from_slice(extra);
        c.extend_from_slice(frame);
        c
    }

    #[test]
    fn capwap_80211_frames_in_either_byte_order() {
        for swapped in [false, true] {
            for qos in [false, true] {
                let c = capwap(true, true, &wlan(swapped, qos, &v4_tcp(b"tls!")));
                ok(&udp(41264, 5247, &c));
                ok(&udp(5247, 41264, &c));
            }
        }
    }

    #[test]
    fn capwap_8023_frames() {
        let e = eth_v4_tcp(b"tls!");
        let pkt = udp(41264, 5247, &capwap(false, false, &e));
        let s = decode(LinkType::Raw, &pkt).unwrap();
        assert_eq!(s.payload, b"tls!");
    }

    #[test]
    fn capwap_dtls_keepalive_fragments_and_protected_frames_are_skipped() {
        let frame = wlan(true, false, &v4_tcp(b"tls!"));
        let mut dtls = capwap(true, true, &frame);
        dtls[0] = 1;
        assert_eq!(
            decode(LinkType::Raw, &udp(1, 5247, &dtls)),
            Err(DecodeError::NotTcp)
        );
        let mut keep = capwap(true, true, &frame);
        keep[3] |= 0x08;
        assert_eq!(
            decode(LinkType::Raw, &udp(1, 5247, &keep)),
            Err(DecodeError::NotTcp)
        );
        let mut frag = capwap(true, true, &frame);
        frag[3] |= 0x80;
        assert_eq!(
            decode(LinkType::Raw, &udp(1, 5247, &frag)),
            Err(DecodeError::Fragment)
        );
        let mut protected = frame.clone();
        protected[0] |= 0x40; // swapped: the flags byte comes first
        assert_eq!(
            decode(
                LinkType::Raw,
                &udp(1, 5247, &capwap(true, true, &protected))
            ),
            Err(DecodeError::NotTcp)
        );
    }
}
