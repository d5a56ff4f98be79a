//! Protocol version numbers, GREASE, naming and ordering.

use std::cmp::Ordering;
use std::fmt;

/// A TLS/SSL protocol version as it appears on the wire (`0x0303` = TLS 1.2).
///
/// Ordering is protocol order, not numeric order: `sslv2 < sslv3 < tls1.0 < tls1.1 < tls1.2 <
/// TLS 1.3 drafts (0x7fNN, by draft number) < tls1.3`, then DTLS (`0xfeXX`, whose numbers run
/// backwards: `dtls1.0 < dtls1.2 < dtls1.3`) above every TLS value; any other value ranks by
/// its numeric value (so `0x0305` is above tls1.3, and OpenSSL's pre-standard DTLS `0x0100`
/// below sslv3).
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct Version(pub u16);

impl Version {
    /// SSL 2.0 (version field of an SSLv2 CLIENT-HELLO / SERVER-HELLO).
    pub const SSL2: Version = Version(0x0002);
    /// SSL 3.0.
    pub const SSL3: Version = Version(0x0300);
    /// TLS 1.0.
    pub const TLS10: Version = Version(0x0301);
    /// TLS 1.1.
    pub const TLS11: Version = Version(0x0302);
    /// TLS 1.2.
    pub const TLS12: Version = Version(0x0303);
    /// TLS 1.3.
    pub const TLS13: Version = Version(0x0304);
    /// DTLS 1.0 (RFC 4347).
    pub const DTLS10: Version = Version(0xfeff);
    /// DTLS 1.2 (RFC 6347).
    pub const DTLS12: Version = Version(0xfefd);
    /// DTLS 1.3 (RFC 9147).
    pub const DTLS13: Version = Version(0xfefc);

    /// RFC 8701 GREASE value: `0x?a?a` with both bytes equal.
    #[inline]
    pub fn is_grease(self) -> bool {
        let [hi, lo] = self.0.to_be_bytes();
        hi == lo && hi & 0x0f == 0x0a
    }

    /// A TLS 1.3 draft version (`0x7fNN`).
    #[inline]
    pub fn is_tls13_draft(self) -> bool {
        self.0 >> 8 == 0x7f
    }

    /// TLS 1.3 or one of its drafts: after such a ServerHello everything but a dummy
    /// ChangeCipherSpec is encrypted.
    #[inline]
    pub fn is_tls13_family(self) -> bool {
        self == Version::TLS13 || self.is_tls13_draft()
    }

    /// A DTLS version (`0xfeXX`).
    #[inline]
    pub fn is_dtls(self) -> bool {
        self.0 >> 8 == 0xfe
    }

    /// The TLS version a DTLS version corresponds to (DTLS 1.0 ≈ TLS 1.1, DTLS 1.2 ≈ TLS 1.2,
    /// DTLS 1.3 ≈ TLS 1.3: RFC 4347, 6347, 9147 each say which TLS they are based on); any
    /// other value is itself.
    #[inline]
    pub fn tls_equivalent(self) -> Version {
        match self {
            Version::DTLS10 => Version::TLS11,
            Version::DTLS12 => Version::TLS12,
            Version::DTLS13 => Version::TLS13,
            v => v,
        }
    }

    /// Below TLS 1.2 in protocol order (the versions a TLS 1.2 minimum refuses), comparing a
    /// DTLS version by its TLS equivalent: `dtls1.0` and the pre-standard `0x0100` are legacy.
    #[inline]
    pub fn is_legacy(self) -> bool {
        self.tls_equivalent() < Version::TLS12
    }

    /// Sort key implementing protocol order.
    #[inline]
    fn rank(self) -> u32 {
        let v = u32::from(self.0);
        if self.is_tls13_draft() {
            // Between tls1.2 (0x0303 << 9) and tls1.3 (0x0304 << 9), by draft number: the low
            // 9 bits are free, 0x100 | draft keeps every draft strictly between the two.
            (0x0303 << 9) | 0x100 | (v & 0xff)
        } else if self.is_dtls() {
            // Above every TLS value (0xffff << 9 < 1 << 25), in reverse numeric order.
            (1 << 25) | (0xffff ^ v)
        } else {
            v << 9
        }
    }

    /// The census name: `sslv2`, `sslv3`, `tls1.0` … `tls1.3`, or `None` for a value
    /// written as raw hex.
    pub fn known_name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x0002 => "sslv2",
            0x0300 => "sslv3",
            0x0301 => "tls1.0",
            0x0302 => "tls1.1",
            0x0303 => "tls1.2",
            0x0304 => "tls1.3",
            0xfeff => "dtls1.0",
            0xfefd => "dtls1.2",
            0xfefc => "dtls1.3",
            _ => return None,
        })
    }

    /// Parses a census name (`tls1.2`, `0x7f1c`) back into a version.
    pub fn from_name(s: &str) -> Option<Version> {
        Some(Version(match s {
            "sslv2" => 0x0002,
            "sslv3" => 0x0300,
            "tls1.0" => 0x0301,
            "tls1.1" => 0x0302,
            "tls1.2" => 0x0303,
            "tls1.3" => 0x0304,
            "dtls1.0" => 0xfeff,
            "dtls1.2" => 0xfefd,
            "dtls1.3" => 0xfefc,
            _ => {
                let hex = s.strip_prefix("0x")?;
                if hex.len() != 4 {
                    return None;
                }
                u16::from_str_radix(hex, 16).ok()?
            }
        }))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank().cmp(&other.rank())
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.known_name() {
            Some(n) => f.write_str(n),
            None => write!(f, "0x{:04x}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grease_values_are_recognised() {
        for hi in 0..16u16 {
            let g = (hi << 12) | 0x0a00 | (hi << 4) | 0x0a;
            assert!(Version(g).is_grease(), "{g:04x}");
        }
        assert!(!Version(0x0a1a).is_grease());
        assert!(!Version::TLS13.is_grease());
    }

    #[test]
    fn protocol_order_puts_drafts_between_tls12_and_tls13() {
        let mut v = [
            Version::TLS13,
            Version(0x7f1c),
            Version::TLS12,
            Version(0x7f12),
            Version::SSL2,
            Version::SSL3,
            Version(0x0305),
            Version::TLS10,
        ];
        v.sort();
        let names: Vec<String> = v.iter().map(|v| v.to_string()).collect();
        assert_eq!(
            names,
            [
                "sslv2", "sslv3", "tls1.0", "tls1.2", "0x7f12", "0x7f1c", "tls1.3", "0x0305"
            ]
        );
        assert!(Version(0x7fff) < Version::TLS13);
    }

    #[test]
    fn dtls_ranks_above_tls_in_its_own_order_and_compares_by_its_tls_equivalent() {
        let mut v = [
            Version::DTLS13,
            Version::TLS13,
            Version::DTLS10,
            Version(0x0100),
            Version::DTLS12,
        ];
        v.sort();
        let names: Vec<String> = v.iter().map(|v| v.to_string()).collect();
        assert_eq!(names, ["0x0100", "tls1.3", "dtls1.0", "dtls1.2", "dtls1.3"]);
        assert!(Version::DTLS10.is_legacy() && Version(0x0100).is_legacy());
        assert!(!Version::DTLS12.is_legacy() && !Version::DTLS13.is_legacy());
        assert_eq!(Version::DTLS10.tls_equivalent(), Version::TLS11);
        assert_eq!(Version::DTLS13.tls_equivalent(), Version::TLS13);
    }

    #[test]
    fn names_round_trip() {
        for v in [
            0x0002u16, 0x0300, 0x0301, 0x0302, 0x0303, 0x0304, 0x7f1c, 0x0100, 0xfeff, 0xfefd,
            0xfefc,
        ] {
            let name = Version(v).to_string();
            assert_eq!(Version::from_name(&name), Some(Version(v)));
        }
        assert_eq!(Version::from_name("tls9"), None);
    }
}
