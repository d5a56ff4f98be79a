//! Cipher suites: their IANA names and weakness classes, both read from tls-parser's cipher
//! table (`TlsCipherSuite::from_id`: key exchange, authentication, cipher, mode, MAC of each
//! IANA suite). No suite table is written here. Pure: no I/O, no clock.

#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

use crate::closed::closed_set;
use serde::{Serialize, Serializer};
use std::fmt;
use tls_parser::{TlsCipherAu, TlsCipherEnc, TlsCipherEncMode, TlsCipherKx, TlsCipherMac};

closed_set! {
    /// A weakness of a cipher suite, computed from its entry in tls-parser's table. A closed
    /// set: a report key and a metric label. A suite may belong to several classes
    /// (`TLS_RSA_WITH_3DES_EDE_CBC_SHA`: `3des`, `cbc`, `rsa_kx`, `sha1_mac`).
    pub enum CipherClass {
        /// No encryption (`enc` NULL).
        Null => "null",
        /// An export suite (40/56-bit keys; `_EXPORT` in the IANA name).
        Export => "export",
        /// No authentication (`anon`: the table's `au` NULL).
        Anon => "anon",
        /// RC4 stream cipher.
        Rc4 => "rc4",
        /// Triple DES.
        TripleDes => "3des",
        /// Single DES (56 or 40 bits).
        Des => "des",
        /// A block cipher in CBC mode (MAC-then-encrypt: Lucky13, POODLE-style padding).
        Cbc => "cbc",
        /// Static RSA key exchange: no forward secrecy.
        RsaKx => "rsa_kx",
        /// HMAC-MD5 record MAC.
        Md5 => "md5",
        /// HMAC-SHA1 record MAC.
        Sha1Mac => "sha1_mac",
    }
}

/// A set of [`CipherClass`]es (a bit per class).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ClassSet(u16);

impl ClassSet {
    /// The classes of suite `id`; empty for suites outside tls-parser's table and for
    /// signalling values (`TLS_EMPTY_RENEGOTIATION_INFO_SCSV`, `TLS_FALLBACK_SCSV`).
    pub fn of(id: u16) -> Self {
        let Some(s) = tls_parser::TlsCipherSuite::from_id(id) else {
            return ClassSet::default();
        };
        if s.name.ends_with("_SCSV") {
            return ClassSet::default();
        }
        let mut set = ClassSet::default();
        let mut put = |c: CipherClass, yes: bool| {
            if yes {
                set.insert(c);
            }
        };
        put(CipherClass::Null, s.enc == TlsCipherEnc::Null);
        put(CipherClass::Export, s.name.contains("_EXPORT"));
        put(CipherClass::Anon, s.au == TlsCipherAu::Null);
        put(CipherClass::Rc4, s.enc == TlsCipherEnc::Rc4);
        put(CipherClass::TripleDes, s.enc == TlsCipherEnc::TripleDes);
        put(CipherClass::Des, s.enc == TlsCipherEnc::Des);
        put(CipherClass::Cbc, s.enc_mode == TlsCipherEncMode::Cbc);
        put(CipherClass::RsaKx, s.kx == TlsCipherKx::Rsa);
        put(CipherClass::Md5, s.mac == TlsCipherMac::HmacMd5);
        put(CipherClass::Sha1Mac, s.mac == TlsCipherMac::HmacSha1);
        set
    }

    /// The union of the classes of the suites in `ids`.
    pub fn of_all(ids: impl Iterator<Item = u16>) -> Self {
        ids.fold(ClassSet::default(), |a, id| a.union(ClassSet::of(id)))
    }

    /// Adds a class.
    pub fn insert(&mut self, c: CipherClass) {
        self.0 |= 1 << c.index();
    }

    /// True when `c` is in the set.
    pub fn contains(self, c: CipherClass) -> bool {
        self.0 >> c.index() & 1 == 1
    }

    /// Both sets.
    #[must_use]
    pub fn union(self, o: ClassSet) -> Self {
        ClassSet(self.0 | o.0)
    }

    /// True when no class is in the set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The classes in the set, in [`CipherClass::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = CipherClass> {
        CipherClass::ALL
            .into_iter()
            .filter(move |c| self.contains(*c))
    }
}

/// A cipher suite by its IANA name (tls-parser's table), or `0x%04x` when the table does not
/// know it: the one way suites are named in the report, the event log and the table.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CipherName {
    /// In the table.
    Known(&'static str),
    /// Not in the table.
    Unknown(u16),
}

impl CipherName {
    /// The name of suite `id`.
    pub fn of(id: u16) -> Self {
        match tls_parser::TlsCipherSuite::from_id(id) {
            Some(s) => CipherName::Known(s.name),
            None => CipherName::Unknown(id),
        }
    }
}

/// The suite a name stands for: an IANA name of tls-parser's table or `0x` and 4 hex digits.
pub fn cipher_from_name(name: &str) -> Option<u16> {
    if let Some(hex) = name.strip_prefix("0x") {
        return (hex.len() == 4)
            .then(|| u16::from_str_radix(hex, 16).ok())
            .flatten();
    }
    tls_parser::TlsCipherSuite::from_name(name).map(|s| s.id.0)
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

impl fmt::Display for CipherName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CipherName::Known(n) => f.write_str(n),
            CipherName::Unknown(id) => {
                let h = |s: u16| {
                    HEX_DIGITS
                        .get(usize::from(id >> s) & 0xf)
                        .copied()
                        .unwrap_or(b'0')
                };
                let text = [b'0', b'x', h(12), h(8), h(4), h(0)];
                f.write_str(std::str::from_utf8(&text).unwrap_or_default())
            }
        }
    }
}

impl Serialize for CipherName {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        match self {
            CipherName::Known(n) => ser.serialize_str(n),
            CipherName::Unknown(_) => ser.collect_str(self),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes(id: u16) -> Vec<&'static str> {
        ClassSet::of(id).iter().map(CipherClass::name).collect()
    }

    #[test]
    fn classes_come_from_the_table() {
        // TLS_RSA_WITH_3DES_EDE_CBC_SHA
        assert_eq!(classes(0x000a), ["3des", "cbc", "rsa_kx", "sha1_mac"]);
        // TLS_RSA_WITH_RC4_128_MD5
        assert_eq!(classes(0x0004), ["rc4", "rsa_kx", "md5"]);
        // TLS_RSA_EXPORT_WITH_DES40_CBC_SHA
        assert_eq!(
            classes(0x0008),
            ["export", "des", "cbc", "rsa_kx", "sha1_mac"]
        );
        // TLS_DH_anon_WITH_AES_128_GCM_SHA256
        assert_eq!(classes(0x00a6), ["anon"]);
        // TLS_RSA_WITH_NULL_SHA256
        assert_eq!(classes(0x003b), ["null", "rsa_kx"]);
        // TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA
        assert_eq!(classes(0xc013), ["cbc", "sha1_mac"]);
        // Strong suites: TLS_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        // TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256.
        for id in [0x1301, 0xc02f, 0xcca9] {
            assert!(ClassSet::of(id).is_empty(), "{id:#06x}");
        }
    }

    #[test]
    fn signalling_values_and_unknown_suites_have_no_class() {
        for id in [0x00ff, 0x5600, 0x0a0a, 0xfefe] {
            assert!(ClassSet::of(id).is_empty(), "{id:#06x}");
        }
        let all = ClassSet::of_all([0x1301, 0x00ff, 0x000a].into_iter());
        assert!(all.contains(CipherClass::TripleDes) && !all.contains(CipherClass::Rc4));
    }

    #[test]
    fn names_round_trip() {
        for id in [0x000a, 0x1301, 0xc02f, 0x0a0a, 0xfefe, 0x0000] {
            let name = CipherName::of(id).to_string();
            assert_eq!(cipher_from_name(&name), Some(id), "{name}");
        }
        assert_eq!(
            CipherName::of(0x000a).to_string(),
            "TLS_RSA_WITH_3DES_EDE_CBC_SHA"
        );
        assert_eq!(CipherName::of(0xfefe).to_string(), "0xfefe");
        assert_eq!(cipher_from_name("TLS_NO_SUCH_SUITE"), None);
        assert_eq!(cipher_from_name("0x12"), None);
    }
}
