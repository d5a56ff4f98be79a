//! The certificates of a census: how many connections showed their server's leaf certificate
//! (TLS ≤ 1.2), how many hid it (TLS 1.3 encrypts it), the problems counted per connection,
//! and the distinct leaves seen (at most [`MAX_LEAVES_PER_ENTRY`], by SHA-256).

#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

use super::add;
use crate::closed::closed_set;
use crate::flow::ConnSummary;
use crate::tls::certificate::{CertProblem, LeafFacts, ProblemSet};
use std::collections::BTreeMap;

/// Distinct leaf certificates kept in one census (the report, a server, a server name);
/// connections with further leaves count in the problems and in
/// [`CertTally::leaves_not_kept`].
pub const MAX_LEAVES_PER_ENTRY: usize = 16;

closed_set! {
    /// What a connection with a negotiated version showed of its server's certificate. A
    /// closed set: a report key and a metric label.
    pub enum CertStatus {
        /// TLS ≤ 1.2: the leaf certificate was read.
        Read => "read",
        /// TLS 1.3 (and QUIC): the Certificate message is encrypted; nothing is guessed.
        Tls13Encrypted => "tls13_encrypted",
        /// TLS ≤ 1.2 without a certificate read: a resumed session, an anonymous or PSK suite,
        /// a capture gap, or a leaf beyond the cap.
        NotSeen => "not_seen",
    }
}

/// What a settled connection showed of its server's certificate: none without a negotiated
/// version or for SSLv2; encrypted for TLS 1.3; read or not seen for TLS ≤ 1.2.
pub fn status_of(s: &ConnSummary) -> Option<CertStatus> {
    let v = s.negotiated?;
    if s.server_hello.is_some_and(|sh| sh.sslv2_format) {
        None
    } else if v.is_tls13_family() {
        Some(CertStatus::Tls13Encrypted)
    } else if s.certificate.is_some() {
        Some(CertStatus::Read)
    } else {
        Some(CertStatus::NotSeen)
    }
}

/// The handshake's time, against which a certificate's expiry is judged: the packet time of
/// the connection's first packet, in Unix seconds.
pub fn handshake_secs(s: &ConnSummary) -> i64 {
    i64::try_from(s.first_seen_ns / 1_000_000_000).unwrap_or(i64::MAX)
}

/// Problems counted per [`CertProblem`], indexed by [`CertProblem::index`].
pub type ProblemCounts = [u64; CertProblem::COUNT];

/// Adds one connection's problems.
pub fn add_problems(counts: &mut ProblemCounts, set: ProblemSet) {
    for p in set.iter() {
        if let Some(n) = counts.get_mut(p.index()) {
            add(n, 1);
        }
    }
}

fn add_counts<const N: usize>(a: &mut [u64; N], b: &[u64; N]) {
    for (x, y) in a.iter_mut().zip(b) {
        add(x, *y);
    }
}

/// One distinct leaf certificate and the connections that showed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeafTally {
    /// Its facts.
    pub facts: LeafFacts,
    /// Connections.
    pub connections: u64,
    /// Those connections' problems (expiry is judged at each handshake's time).
    pub problems: ProblemCounts,
}

/// The certificates of a census.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CertTally {
    /// Connections by [`CertStatus`].
    pub status: [u64; CertStatus::COUNT],
    /// Connections with each problem.
    pub problems: ProblemCounts,
    /// Distinct leaves by SHA-256, at most [`MAX_LEAVES_PER_ENTRY`].
    pub leaves: BTreeMap<[u8; 32], LeafTally>,
    /// Connections whose leaf had no room in `leaves`.
    pub leaves_not_kept: u64,
}

impl CertTally {
    /// Counts one connection.
    pub fn add(&mut self, status: CertStatus, leaf: Option<&LeafFacts>, problems: ProblemSet) {
        if let Some(n) = self.status.get_mut(status.index()) {
            add(n, 1);
        }
        add_problems(&mut self.problems, problems);
        let Some(leaf) = leaf else { return };
        let mut one = ProblemCounts::default();
        add_problems(&mut one, problems);
        self.add_leaf(&LeafTally {
            facts: leaf.clone(),
            connections: 1,
            problems: one,
        });
    }

    /// Adds a leaf's connections (counted as not kept beyond the bound).
    pub fn add_leaf(&mut self, l: &LeafTally) {
        let n = self.leaves.len();
        match self.leaves.get_mut(&l.facts.sha256) {
            Some(mine) => {
                add(&mut mine.connections, l.connections);
                add_counts(&mut mine.problems, &l.problems);
            }
            None if n < MAX_LEAVES_PER_ENTRY => {
                self.leaves.insert(l.facts.sha256, l.clone());
            }
            None => add(&mut self.leaves_not_kept, l.connections),
        }
    }

    /// Adds another tally (associative and commutative while the leaves fit).
    pub fn merge(&mut self, o: &CertTally) {
        add_counts(&mut self.status, &o.status);
        add_counts(&mut self.problems, &o.problems);
        add(&mut self.leaves_not_kept, o.leaves_not_kept);
        for l in o.leaves.values() {
            self.add_leaf(l);
        }
    }

    /// Nothing counted.
    pub fn is_empty(&self) -> bool {
        self.status.iter().all(|n| *n == 0)
    }

    /// Connections of `status`.
    pub fn count(&self, status: CertStatus) -> u64 {
        self.status.get(status.index()).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_are_bounded_and_merge_adds() {
        let mut t = CertTally::default();
        let mut set = ProblemSet::default();
        set.insert(CertProblem::Expired);
        for i in 0..20u8 {
            let f = LeafFacts {
                sha256: [i; 32],
                ..LeafFacts::default()
            };
            t.add(CertStatus::Read, Some(&f), set);
        }
        t.add(CertStatus::Tls13Encrypted, None, ProblemSet::default());
        assert_eq!(t.leaves.len(), MAX_LEAVES_PER_ENTRY);
        assert_eq!(t.leaves_not_kept, 4);
        assert_eq!(t.count(CertStatus::Read), 20);
        assert_eq!(t.problems[CertProblem::Expired.index()], 20);
        let mut m = t.clone();
        m.merge(&t);
        assert_eq!(m.count(CertStatus::Read), 40);
        assert_eq!(m.leaves[&[0; 32]].connections, 2);
        assert_eq!(m.leaves_not_kept, 8);
    }
}
