//! Community ID v1 (corelight/community-id-spec): one identifier for a connection that every
//! sensor and tool seeing it computes alike, whichever direction it saw first. ECS puts it in
//! `network.community_id`.
//!
//! `"1:"` + base64(SHA-1(seed (u16, big-endian) ‖ lower address ‖ higher address ‖ protocol
//! (u8) ‖ 0 (u8) ‖ lower's port ‖ higher's port (u16, big-endian))): the endpoints are ordered
//! so that the lower address comes first (the lower port when the addresses are equal), so
//! both directions give the same identifier. Only TCP and UDP (ports) are computed here.
//!
//! Pure: no I/O, no allocation (the identifier is a fixed-size value).

use crate::wire::Endpoint;
use base64::Engine as _;
use sha1::{Digest, Sha1};
use std::net::IpAddr;

/// IANA protocol number of TCP.
pub const PROTO_TCP: u8 = 6;
/// IANA protocol number of UDP.
pub const PROTO_UDP: u8 = 17;

/// Length of a v1 identifier: `"1:"` and the 28 base64 characters of a SHA-1 digest.
const LEN: usize = 30;

/// A Community ID v1 (`1:` and base64), held without allocation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CommunityId([u8; LEN]);

impl CommunityId {
    /// The identifier of the connection between `a` and `b` over `proto` (either order gives
    /// the same), with `seed` (0 unless every tool compared is configured alike). `None` when
    /// the addresses are not of one family.
    pub fn v1(seed: u16, proto: u8, a: Endpoint, b: Endpoint) -> Option<CommunityId> {
        let mut h = Sha1::new();
        h.update(seed.to_be_bytes());
        // The lower endpoint first: addresses compared as bytes (network order), then ports.
        let (lo, hi) = match (a.ip, b.ip) {
            (IpAddr::V4(x), IpAddr::V4(y)) => {
                let (x, y) = (x.octets(), y.octets());
                let swap = (y, b.port) < (x, a.port);
                let (lo, hi) = if swap { (&y, &x) } else { (&x, &y) };
                h.update(lo);
                h.update(hi);
                if swap { (b, a) } else { (a, b) }
            }
            (IpAddr::V6(x), IpAddr::V6(y)) => {
                let (x, y) = (x.octets(), y.octets());
                let swap = (y, b.port) < (x, a.port);
                let (lo, hi) = if swap { (&y, &x) } else { (&x, &y) };
                h.update(lo);
                h.update(hi);
                if swap { (b, a) } else { (a, b) }
            }
            _ => return None,
        };
        h.update([proto, 0]);
        h.update(lo.port.to_be_bytes());
        h.update(hi.port.to_be_bytes());
        let digest = h.finalize();
        let mut out = [0u8; LEN];
        let (prefix, body) = out.split_at_mut(2);
        prefix.copy_from_slice(b"1:");
        let n = base64::engine::general_purpose::STANDARD
            .encode_slice(digest, body)
            .ok()?;
        (n == body.len()).then_some(CommunityId(out))
    }

    /// The identifier as text (`1:…`).
    pub fn as_str(&self) -> &str {
        // Always ASCII: "1:" and base64.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::fmt::Debug for CommunityId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for CommunityId {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::{CommunityId, PROTO_TCP, PROTO_UDP};
    use crate::wire::Endpoint;

    fn ep(ip: &str, port: u16) -> Endpoint {
        Endpoint {
            ip: ip.parse().unwrap(),
            port,
        }
    }

    /// `(seed, proto, saddr, sport, daddr, dport, id)`: the TCP, UDP and SCTP rows of the
    /// spec's `baseline/baseline_deflt.json` (seed 0) and `baseline_seed1.json` (seed 1), and
    /// the README's example flows.
    const VECTORS: [(u16, u8, &str, u16, &str, u16, &str); 10] = [
        (
            0,
            PROTO_TCP,
            "1.2.3.4",
            1122,
            "5.6.7.8",
            3344,
            "1:wCb3OG7yAFWelaUydu0D+125CLM=",
        ),
        (
            0,
            PROTO_UDP,
            "1.2.3.4",
            1122,
            "5.6.7.8",
            3344,
            "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=",
        ),
        (
            0,
            PROTO_TCP,
            "128.232.110.120",
            34855,
            "66.35.250.204",
            80,
            "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
        ),
        (
            0,
            PROTO_UDP,
            "192.168.1.52",
            54585,
            "8.8.8.8",
            53,
            "1:d/FP5EW3wiY1vCndhwleRRKHowQ=",
        ),
        (
            0,
            PROTO_TCP,
            "2001:470:e5bf:dead:4957:2174:e82c:4887",
            63943,
            "2607:f8b0:400c:c03::1a",
            25,
            "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=",
        ),
        // SCTP, equal ports: the order is the addresses'.
        (
            0,
            132,
            "192.168.170.8",
            7,
            "192.168.170.56",
            7,
            "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=",
        ),
        (
            1,
            PROTO_TCP,
            "128.232.110.120",
            34855,
            "66.35.250.204",
            80,
            "1:3V71V58M3Ksw/yuFALMcW0LAHvc=",
        ),
        (
            1,
            PROTO_UDP,
            "192.168.1.52",
            54585,
            "8.8.8.8",
            53,
            "1:Q9We8WO3piVF8yEQBNJF4uiSVrI=",
        ),
        (
            1,
            PROTO_TCP,
            "2001:470:e5bf:dead:4957:2174:e82c:4887",
            63943,
            "2607:f8b0:400c:c03::1a",
            25,
            "1:eJYTW6AOzFLlSUoESovMjnu7rMw=",
        ),
        (
            1,
            132,
            "192.168.170.8",
            7,
            "192.168.170.56",
            7,
            "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg=",
        ),
    ];

    #[test]
    fn spec_baseline_vectors_in_both_directions() {
        for (seed, proto, sa, sp, da, dp, want) in VECTORS {
            let fwd = CommunityId::v1(seed, proto, ep(sa, sp), ep(da, dp)).unwrap();
            let rev = CommunityId::v1(seed, proto, ep(da, dp), ep(sa, sp)).unwrap();
            assert_eq!(fwd.as_str(), want, "{sa}:{sp} -> {da}:{dp} seed {seed}");
            assert_eq!(rev.as_str(), want, "{da}:{dp} -> {sa}:{sp} seed {seed}");
        }
    }

    #[test]
    fn equal_addresses_order_by_port() {
        // On one host (loopback) the lower port comes first: both directions agree, and the
        // hashed bytes are the spec's layout with 443 before 50000.
        use sha1::{Digest, Sha1};
        let (srv, cli) = (ep("127.0.0.1", 443), ep("127.0.0.1", 50000));
        let a = CommunityId::v1(0, PROTO_TCP, cli, srv).unwrap();
        assert_eq!(a, CommunityId::v1(0, PROTO_TCP, srv, cli).unwrap());
        let bytes = [
            0, 0, 127, 0, 0, 1, 127, 0, 0, 1, 6, 0, 0x01, 0xbb, 0xc3, 0x50,
        ];
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(Sha1::digest(bytes));
        assert_eq!(a.as_str(), format!("1:{b64}"));
    }

    #[test]
    fn the_hashed_bytes_are_the_specs() {
        // seed 0, 1.2.3.4:1122 -> 5.6.7.8:3344 TCP, hashed by hand in the spec's layout.
        use sha1::{Digest, Sha1};
        let bytes = [0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 6, 0, 0x04, 0x62, 0x0d, 0x10];
        let d = Sha1::digest(bytes);
        let id = CommunityId::v1(0, PROTO_TCP, ep("1.2.3.4", 1122), ep("5.6.7.8", 3344)).unwrap();
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(d);
        assert_eq!(id.as_str(), format!("1:{b64}"));
    }

    #[test]
    fn mixed_families_have_none() {
        assert!(CommunityId::v1(0, PROTO_TCP, ep("1.2.3.4", 1), ep("::1", 2)).is_none());
    }
}
