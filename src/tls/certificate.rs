//! The server's leaf certificate (TLS ≤ 1.2, where the Certificate message is plaintext): the
//! facts a census and an event log need, read with `x509-parser` (the rusticata family of
//! tls-parser), and the problems they show at handshake time. Only the leaf — the first
//! certificate of the list — is parsed; the chain is skipped. Pure: no I/O, no clock (the
//! handshake time is an argument).
//!
//! - **Key**: its type (`rsa`, `ec`, `dsa`, `ed25519`, `ed448`, `other`) and size in bits (RSA:
//!   the modulus, leading zero bytes and bits stripped; EC: the curve's field size from the
//!   point; DSA: the public value; EdDSA: 256 / 456).
//! - **Signature algorithm**: by OID, with the hash it uses (an RSASSA-PSS signature's hash
//!   is in its parameters, SHA-1 when absent, RFC 4055).
//! - **Self-signed**: the issuer name equals the subject name (compared as DER). The signature
//!   is **not** verified (no public-key crypto here): a certificate whose issuer happens to
//!   carry its subject's name counts as self-signed.
//! - **Weak key** ([`weak_key`]): RSA or DSA below 2048 bits, EC below 224 bits (NIST SP
//!   800-57 / SP 800-131A: 112-bit security).

#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

use super::Anomaly;
use crate::closed::closed_set;
use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate};
use x509_parser::public_key::PublicKey;

/// Bytes of a server Certificate message buffered to read its leaf (the 4-byte message
/// header, the 3-byte list length, the leaf's 3-byte length and the leaf itself). A leaf
/// that does not fit is not read and counted (`anomalies.certificate_too_large`); the rest
/// of the chain is never buffered.
pub const MAX_CERTIFICATE_PREFIX: usize = 16 * 1024;

/// Bytes of the subject common name kept (cut at a character boundary).
pub const MAX_CN_LEN: usize = 64;

/// Expiring soon: `not_after` within this many seconds after the handshake.
pub const EXPIRES_SOON_S: i64 = 30 * 86_400;

closed_set! {
    /// A problem of a server's leaf certificate. A closed set: a report key, a metric label
    /// and an event field value.
    pub enum CertProblem {
        /// Signed with SHA-1 (`sha1WithRSAEncryption`, `ecdsa-with-SHA1`, `dsa-with-sha1`,
        /// RSASSA-PSS over SHA-1).
        Sha1Signature => "sha1_signature",
        /// Signed with MD5 (or MD2/MD4).
        Md5Signature => "md5_signature",
        /// `not_after` before the handshake (packet time of the connection's first packet).
        Expired => "expired",
        /// Not expired, but `not_after` within 30 days of the handshake.
        Expires30d => "expires_30d",
        /// Issuer name equal to subject name (the signature is not verified).
        SelfSigned => "self_signed",
        /// RSA or DSA below 2048 bits, EC below 224 bits.
        WeakKey => "weak_key",
    }
}

closed_set! {
    /// The type of a certificate's public key.
    #[derive(Default)]
    pub enum KeyType {
        /// RSA.
        Rsa => "rsa",
        /// Elliptic curve (ECDSA/ECDH).
        Ec => "ec",
        /// DSA.
        Dsa => "dsa",
        /// Ed25519.
        Ed25519 => "ed25519",
        /// Ed448.
        Ed448 => "ed448",
        /// Anything else (GOST, unknown OIDs).
        #[default]
        Other => "other",
    }
}

closed_set! {
    /// The hash of a certificate signature algorithm.
    #[derive(Default)]
    pub enum SigHash {
        /// MD2, MD4 or MD5.
        Md5 => "md5",
        /// SHA-1.
        Sha1 => "sha1",
        /// SHA-2 (224 to 512).
        Sha2 => "sha2",
        /// EdDSA (its own hash).
        EdDsa => "eddsa",
        /// Unknown.
        #[default]
        Other => "other",
    }
}

/// Signature algorithms known by name: (dotted OID, OpenSSL/RFC name, hash). Others are
/// written as their dotted OID, with hash `other`.
const SIGNATURE_ALGORITHMS: [(&str, &str, SigHash); 19] = [
    ("1.2.840.113549.1.1.2", "md2WithRSAEncryption", SigHash::Md5),
    ("1.2.840.113549.1.1.3", "md4WithRSAEncryption", SigHash::Md5),
    ("1.2.840.113549.1.1.4", "md5WithRSAEncryption", SigHash::Md5),
    (
        "1.2.840.113549.1.1.5",
        "sha1WithRSAEncryption",
        SigHash::Sha1,
    ),
    ("1.3.14.3.2.29", "sha1WithRSAEncryption", SigHash::Sha1),
    (
        "1.2.840.113549.1.1.14",
        "sha224WithRSAEncryption",
        SigHash::Sha2,
    ),
    (
        "1.2.840.113549.1.1.11",
        "sha256WithRSAEncryption",
        SigHash::Sha2,
    ),
    (
        "1.2.840.113549.1.1.12",
        "sha384WithRSAEncryption",
        SigHash::Sha2,
    ),
    (
        "1.2.840.113549.1.1.13",
        "sha512WithRSAEncryption",
        SigHash::Sha2,
    ),
    ("1.2.840.10040.4.3", "dsa-with-sha1", SigHash::Sha1),
    ("2.16.840.1.101.3.4.3.2", "dsa_with_SHA256", SigHash::Sha2),
    ("1.2.840.10045.4.1", "ecdsa-with-SHA1", SigHash::Sha1),
    ("1.2.840.10045.4.3.1", "ecdsa-with-SHA224", SigHash::Sha2),
    ("1.2.840.10045.4.3.2", "ecdsa-with-SHA256", SigHash::Sha2),
    ("1.2.840.10045.4.3.3", "ecdsa-with-SHA384", SigHash::Sha2),
    ("1.2.840.10045.4.3.4", "ecdsa-with-SHA512", SigHash::Sha2),
    ("1.3.101.112", "ED25519", SigHash::EdDsa),
    ("1.3.101.113", "ED448", SigHash::EdDsa),
    // RSASSA-PSS: the hash is read from its parameters.
    ("1.2.840.113549.1.1.10", "RSASSA-PSS", SigHash::Other),
];

/// A set of [`CertProblem`]s (a bit each).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ProblemSet(u8);

impl ProblemSet {
    /// Adds a problem.
    pub fn insert(&mut self, p: CertProblem) {
        self.0 |= 1 << p.index();
    }

    /// Whether `p` is in the set.
    pub fn contains(self, p: CertProblem) -> bool {
        self.0 >> p.index() & 1 == 1
    }

    /// No problem.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The problems, in [`CertProblem::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = CertProblem> {
        CertProblem::ALL
            .into_iter()
            .filter(move |p| self.contains(*p))
    }
}

/// What a server's leaf certificate shows (about 120 bytes; kept per connection until it
/// settles).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeafFacts {
    /// SHA-256 of the certificate's DER (`openssl x509 -fingerprint -sha256`).
    pub sha256: [u8; 32],
    /// The first subject common name, at most [`MAX_CN_LEN`] bytes.
    pub subject_cn: Option<Box<str>>,
    /// Names in the subjectAltName extension (0 without one).
    pub san_count: u32,
    /// Public key type.
    pub key_type: KeyType,
    /// Public key size in bits (0 when unknown).
    pub key_bits: u32,
    /// Signature algorithm name ([`SIGNATURE_ALGORITHMS`], else the dotted OID).
    pub signature_algorithm: Box<str>,
    /// The hash of the signature algorithm.
    pub signature_hash: SigHash,
    /// `notBefore`, Unix seconds.
    pub not_before: i64,
    /// `notAfter`, Unix seconds.
    pub not_after: i64,
    /// Issuer name equal to subject name.
    pub self_signed: bool,
}

/// Whether a key of this type and size is weak: RSA or DSA below 2048 bits, EC below 224
/// (a key of unknown size is not called weak).
pub fn weak_key(t: KeyType, bits: u32) -> bool {
    match t {
        KeyType::Rsa | KeyType::Dsa => bits > 0 && bits < 2048,
        KeyType::Ec => bits > 0 && bits < 224,
        _ => false,
    }
}

impl LeafFacts {
    /// The problems of this certificate for a handshake at `now_s` (Unix seconds).
    pub fn problems_at(&self, now_s: i64) -> ProblemSet {
        let mut set = ProblemSet::default();
        match self.signature_hash {
            SigHash::Sha1 => set.insert(CertProblem::Sha1Signature),
            SigHash::Md5 => set.insert(CertProblem::Md5Signature),
            _ => {}
        }
        if self.not_after < now_s {
            set.insert(CertProblem::Expired);
        } else if self.not_after <= now_s.saturating_add(EXPIRES_SOON_S) {
            set.insert(CertProblem::Expires30d);
        }
        if self.self_signed {
            set.insert(CertProblem::SelfSigned);
        }
        if weak_key(self.key_type, self.key_bits) {
            set.insert(CertProblem::WeakKey);
        }
        set
    }

    /// The SHA-256 fingerprint as lowercase hex.
    pub fn sha256_hex(&self) -> String {
        use std::fmt::Write;
        let mut s = String::with_capacity(64);
        for b in self.sha256 {
            let _ = write!(s, "{b:02x}");
        }
        s
    }
}

/// 24-bit length at `at`.
fn u24(b: &[u8], at: usize) -> Option<usize> {
    match b.get(at..at.checked_add(3)?)? {
        [x, y, z] => Some(usize::from(*x) << 16 | usize::from(*y) << 8 | usize::from(*z)),
        _ => None,
    }
}

/// Bytes of a Certificate message (header included) needed to read its leaf, given its first
/// bytes: up to the end of the first certificate, at most the whole message and at most
/// [`MAX_CERTIFICATE_PREFIX`]. With fewer than 10 bytes the leaf's length is not known yet:
/// the bound without it.
pub fn prefix_len(msg: &[u8]) -> usize {
    let total = u24(msg, 1).unwrap_or(0).saturating_add(4);
    let cap = total.min(MAX_CERTIFICATE_PREFIX);
    match u24(msg, 7) {
        Some(leaf) => leaf.saturating_add(10).min(cap),
        None => cap,
    }
}

/// Reads the leaf of a TLS ≤ 1.2 Certificate message body (`certificate_list`), of which
/// `body` may be only the first part (see [`prefix_len`]). `Ok(None)`: an empty list.
///
/// # Errors
/// [`Anomaly::CertificateTooLarge`] when the leaf does not fit in the part given,
/// [`Anomaly::CertificateMalformed`] when the list does not frame or the leaf is not an X.509
/// certificate.
pub fn parse_leaf(body: &[u8]) -> Result<Option<LeafFacts>, Anomaly> {
    let list = u24(body, 0).ok_or(Anomaly::CertificateMalformed)?;
    if list == 0 {
        return Ok(None);
    }
    let len = u24(body, 3).ok_or(Anomaly::CertificateMalformed)?;
    if len == 0 || len.saturating_add(3) > list {
        return Err(Anomaly::CertificateMalformed);
    }
    let der = match body.get(6..).and_then(|r| r.get(..len)) {
        Some(d) => d,
        None if len.saturating_add(10) > MAX_CERTIFICATE_PREFIX => {
            return Err(Anomaly::CertificateTooLarge);
        }
        None => return Err(Anomaly::CertificateMalformed),
    };
    leaf_facts(der).map(Some)
}

/// The facts of one DER certificate.
///
/// # Errors
/// [`Anomaly::CertificateMalformed`] when it is not an X.509 certificate.
pub fn leaf_facts(der: &[u8]) -> Result<LeafFacts, Anomaly> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|_| Anomaly::CertificateMalformed)?;
    let tbs = &cert.tbs_certificate;
    let subject_cn = tbs
        .subject
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())
        .map(|s| cut(s, MAX_CN_LEN).into());
    let san_count = tbs
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => Some(san.general_names.len()),
            _ => None,
        })
        .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX));
    let (key_type, key_bits) = key_of(&cert);
    let (signature_algorithm, signature_hash) = signature_of(&cert);
    Ok(LeafFacts {
        sha256: Sha256::digest(der).into(),
        subject_cn,
        san_count,
        key_type,
        key_bits,
        signature_algorithm,
        signature_hash,
        not_before: tbs.validity.not_before.timestamp(),
        not_after: tbs.validity.not_after.timestamp(),
        self_signed: tbs.issuer.as_raw() == tbs.subject.as_raw(),
    })
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end = end.saturating_sub(1);
    }
    s.get(..end).unwrap_or("")
}

/// Bits of a big-endian unsigned integer (leading zeros stripped).
fn int_bits(b: &[u8]) -> u32 {
    let b = match b.iter().position(|x| *x != 0) {
        Some(i) => b.get(i..).unwrap_or(&[]),
        None => return 0,
    };
    let Some(first) = b.first() else { return 0 };
    let bytes = u32::try_from(b.len()).unwrap_or(u32::MAX);
    bytes
        .saturating_sub(1)
        .saturating_mul(8)
        .saturating_add(8u32.saturating_sub(first.leading_zeros()))
}

fn key_of(cert: &X509Certificate<'_>) -> (KeyType, u32) {
    let spki = cert.public_key();
    let oid = spki.algorithm.algorithm.to_id_string();
    match oid.as_str() {
        "1.3.101.112" => return (KeyType::Ed25519, 256),
        "1.3.101.113" => return (KeyType::Ed448, 456),
        _ => {}
    }
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => (KeyType::Rsa, int_bits(rsa.modulus)),
        Ok(PublicKey::EC(ec)) => {
            let bits = u32::try_from(ec.key_size()).unwrap_or(0);
            // P-521's coordinates take 66 bytes.
            (KeyType::Ec, if bits == 528 { 521 } else { bits })
        }
        Ok(PublicKey::DSA(y)) => (KeyType::Dsa, int_bits(y)),
        _ => (KeyType::Other, 0),
    }
}

fn signature_of(cert: &X509Certificate<'_>) -> (Box<str>, SigHash) {
    let alg = &cert.signature_algorithm;
    let oid = alg.algorithm.to_id_string();
    let Some((_, name, hash)) = SIGNATURE_ALGORITHMS.iter().find(|(o, _, _)| *o == oid) else {
        return (oid.into(), SigHash::Other);
    };
    if *hash != SigHash::Other {
        return ((*name).into(), *hash);
    }
    // RSASSA-PSS: the hash of its parameters (SHA-1 when absent).
    let pss_hash = match x509_parser::signature_algorithm::SignatureAlgorithm::try_from(alg) {
        Ok(x509_parser::signature_algorithm::SignatureAlgorithm::RSASSA_PSS(p)) => {
            match p.hash_algorithm_oid().to_id_string().as_str() {
                "1.3.14.3.2.26" => SigHash::Sha1,
                "1.2.840.113549.2.5" | "1.2.840.113549.2.2" => SigHash::Md5,
                s if s.starts_with("2.16.840.1.101.3.4.2.") => SigHash::Sha2,
                _ => SigHash::Other,
            }
        }
        _ => SigHash::Other,
    };
    ((*name).into(), pss_hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_len_stops_at_the_leaf_and_the_cap() {
        // 11, length 5000: list 4996, leaf 1000.
        let mut m = vec![11, 0, 0x13, 0x88, 0, 0x13, 0x84, 0, 0x03, 0xe8];
        assert_eq!(prefix_len(&m), 1010);
        assert_eq!(prefix_len(&m[..6]), 5004);
        m[8] = 0xff; // leaf 0xffe8 bytes, beyond the message and the cap
        assert_eq!(prefix_len(&m), 5004);
        let big = [11, 1, 0, 0, 0, 0xff, 0xfc, 0, 0xff, 0xf9];
        assert_eq!(prefix_len(&big), MAX_CERTIFICATE_PREFIX);
    }

    #[test]
    fn framing_errors() {
        assert_eq!(parse_leaf(&[0, 0, 0]), Ok(None));
        assert_eq!(parse_leaf(&[0, 0]), Err(Anomaly::CertificateMalformed));
        assert_eq!(
            parse_leaf(&[0, 0, 5, 0, 0, 9, 1, 2]),
            Err(Anomaly::CertificateMalformed)
        );
        assert_eq!(
            parse_leaf(&[0, 0, 9, 0, 0, 6, 1, 2, 3, 4, 5, 6]),
            Err(Anomaly::CertificateMalformed),
            "not DER"
        );
        let mut huge = vec![0, 0x80, 0, 0, 0x7f, 0xf0];
        huge.extend_from_slice(&[0x30; 100]);
        assert_eq!(parse_leaf(&huge), Err(Anomaly::CertificateTooLarge));
    }

    #[test]
    fn bits_and_problems() {
        assert_eq!(int_bits(&[0, 0x80, 0]), 16);
        assert_eq!(int_bits(&[0x01, 0, 0]), 17);
        assert_eq!(int_bits(&[0, 0]), 0);
        assert!(weak_key(KeyType::Rsa, 1024) && !weak_key(KeyType::Rsa, 2048));
        assert!(weak_key(KeyType::Ec, 192) && !weak_key(KeyType::Ec, 256));
        let f = LeafFacts {
            signature_hash: SigHash::Sha1,
            not_after: 1000,
            self_signed: true,
            key_type: KeyType::Rsa,
            key_bits: 1024,
            ..LeafFacts::default()
        };
        let names = |s: ProblemSet| s.iter().map(CertProblem::name).collect::<Vec<_>>();
        assert_eq!(
            names(f.problems_at(1001)),
            ["sha1_signature", "expired", "self_signed", "weak_key"]
        );
        assert_eq!(
            names(f.problems_at(1000 - EXPIRES_SOON_S)),
            ["sha1_signature", "expires_30d", "self_signed", "weak_key"]
        );
        assert_eq!(
            names(f.problems_at(999 - EXPIRES_SOON_S)),
            ["sha1_signature", "self_signed", "weak_key"]
        );
        assert_eq!(cut("ééé", 3), "é");
    }
}
