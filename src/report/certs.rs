//! `"certificates"`: the report form of a census' server certificates
//! ([`CertTally`](crate::tally::CertTally)), written and read back (by `merge`).

use super::time;
use crate::tally::certs::{LeafTally, ProblemCounts};
use crate::tally::{CertStatus, CertTally};
use crate::tls::certificate::{CertProblem, KeyType, LeafFacts, SigHash};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `"certificates"` of the report, of a server and of a server name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Certificates {
    /// Connections (TLS ≤ 1.2) whose server leaf certificate was read.
    pub read: u64,
    /// Connections (TLS 1.3, QUIC) whose certificate is encrypted: not read, not guessed.
    pub tls13_encrypted: u64,
    /// Connections (TLS ≤ 1.2) without a certificate read (resumption, anonymous or PSK
    /// suites, capture gaps, a leaf beyond the cap).
    pub not_seen: u64,
    /// Connections with each problem (zero counts left out).
    #[serde(with = "super::maps::cert_problems")]
    pub problems: ProblemCounts,
    /// The distinct leaves, by SHA-256 fingerprint (hex).
    pub leaves: BTreeMap<String, Leaf>,
    /// Connections whose leaf had no room in `leaves`; only present when not zero.
    #[serde(skip_serializing_if = "super::is_zero")]
    pub leaves_not_kept: u64,
}

/// One leaf certificate.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Leaf {
    /// Subject common name (at most 64 bytes); absent without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_cn: Option<String>,
    /// Names in subjectAltName.
    pub san_count: u32,
    /// `rsa`, `ec`, `dsa`, `ed25519`, `ed448` or `other`.
    pub key_type: String,
    /// Key size in bits (0: unknown).
    pub key_bits: u32,
    /// Signature algorithm (OpenSSL's name, else the dotted OID).
    pub signature_algorithm: String,
    /// Its hash: `md5`, `sha1`, `sha2`, `eddsa` or `other`.
    pub signature_hash: String,
    /// notBefore (RFC 3339).
    pub not_before: String,
    /// notAfter (RFC 3339).
    pub not_after: String,
    /// Issuer name equal to subject name (the signature is not verified).
    pub self_signed: bool,
    /// Connections that showed it.
    pub connections: u64,
    /// Those connections' problems.
    #[serde(with = "super::maps::cert_problems")]
    pub problems: ProblemCounts,
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
        let txt = std::str::from_utf8(pair).ok()?;
        *o = u8::from_str_radix(txt, 16).ok()?;
    }
    Some(out)
}

impl Certificates {
    /// The report form of a census' certificates.
    pub fn of(t: &CertTally) -> Self {
        Certificates {
            read: t.count(CertStatus::Read),
            tls13_encrypted: t.count(CertStatus::Tls13Encrypted),
            not_seen: t.count(CertStatus::NotSeen),
            problems: t.problems,
            leaves: t
                .leaves
                .values()
                .map(|l| (l.facts.sha256_hex(), Leaf::of(l)))
                .collect(),
            leaves_not_kept: t.leaves_not_kept,
        }
    }

    /// The tally this report form was made from (leaves with an unreadable fingerprint are
    /// counted as not kept).
    pub fn to_tally(&self) -> CertTally {
        let mut t = CertTally::default();
        for (st, n) in [
            (CertStatus::Read, self.read),
            (CertStatus::Tls13Encrypted, self.tls13_encrypted),
            (CertStatus::NotSeen, self.not_seen),
        ] {
            if let Some(slot) = t.status.get_mut(st.index()) {
                *slot = n;
            }
        }
        t.problems = self.problems;
        t.leaves_not_kept = self.leaves_not_kept;
        for (k, l) in &self.leaves {
            match hex32(k) {
                // Beyond the bound (a hand-edited report): counted as not kept.
                Some(sha) => t.add_leaf(&l.to_tally(sha)),
                None => t.leaves_not_kept = t.leaves_not_kept.saturating_add(l.connections),
            }
        }
        t
    }

    /// Nothing counted.
    pub fn is_empty(&self) -> bool {
        self.read == 0 && self.tls13_encrypted == 0 && self.not_seen == 0
    }
}

impl Leaf {
    fn of(l: &LeafTally) -> Self {
        let f = &l.facts;
        Leaf {
            subject_cn: f.subject_cn.as_deref().map(Into::into),
            san_count: f.san_count,
            key_type: f.key_type.name().into(),
            key_bits: f.key_bits,
            signature_algorithm: f.signature_algorithm.to_string(),
            signature_hash: f.signature_hash.name().into(),
            not_before: time::rfc3339_s(f.not_before),
            not_after: time::rfc3339_s(f.not_after),
            self_signed: f.self_signed,
            connections: l.connections,
            problems: l.problems,
        }
    }

    fn to_tally(&self, sha256: [u8; 32]) -> LeafTally {
        let key_type = KeyType::ALL
            .into_iter()
            .find(|k| k.name() == self.key_type)
            .unwrap_or_default();
        let signature_hash = SigHash::ALL
            .into_iter()
            .find(|k| k.name() == self.signature_hash)
            .unwrap_or_default();
        LeafTally {
            facts: LeafFacts {
                sha256,
                subject_cn: self.subject_cn.as_deref().map(Into::into),
                san_count: self.san_count,
                key_type,
                key_bits: self.key_bits,
                signature_algorithm: self.signature_algorithm.as_str().into(),
                signature_hash,
                not_before: time::parse_s(&self.not_before).unwrap_or(0),
                not_after: time::parse_s(&self.not_after).unwrap_or(0),
                self_signed: self.self_signed,
            },
            connections: self.connections,
            problems: self.problems,
        }
    }
}

/// The problem names, for tables.
pub fn problem_names(counts: &ProblemCounts) -> impl Iterator<Item = (&'static str, u64)> + '_ {
    CertProblem::ALL
        .iter()
        .zip(counts)
        .filter(|(_, n)| **n > 0)
        .map(|(p, n)| (p.name(), *n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::certificate::ProblemSet;

    #[test]
    fn certificates_survive_their_report_form() {
        let mut t = CertTally::default();
        let mut set = ProblemSet::default();
        set.insert(CertProblem::Sha1Signature);
        let f = LeafFacts {
            sha256: [0xab; 32],
            subject_cn: Some("legacy.example".into()),
            san_count: 2,
            key_type: KeyType::Rsa,
            key_bits: 1024,
            signature_algorithm: "sha1WithRSAEncryption".into(),
            signature_hash: SigHash::Sha1,
            not_before: 1_500_000_000,
            not_after: 1_600_000_000,
            self_signed: true,
        };
        t.add(CertStatus::Read, Some(&f), set);
        t.add(CertStatus::Tls13Encrypted, None, ProblemSet::default());
        let r = Certificates::of(&t);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["problems"], serde_json::json!({"sha1_signature": 1}));
        assert_eq!(
            v["leaves"][&"ab".repeat(32)]["not_after"],
            "2020-09-13T12:26:40Z"
        );
        let back: Certificates = serde_json::from_value(v).unwrap();
        assert_eq!(back.to_tally(), t);
    }
}
