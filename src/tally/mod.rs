//! Per-client census: what each client offered and negotiated, the alerts it met and how many
//! of its handshakes failed.
//!
//! A [`Census`] is filled from settled connections ([`ConnSummary`]) and is associative: two
//! censuses merge by adding counts, so per-worker censuses (and reports of several sensors)
//! combine into one.

#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

pub mod outcome;
pub mod sample;

use crate::flow::ConnSummary;
use crate::tls::Version;
use crate::tls::facts::{Direction, HelloFacts};
use crate::upgrade::Start;
pub use outcome::HandshakeOutcome;
pub use sample::{SAMPLE_KEYS, Sample};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

/// Default bound on distinct clients in one census; more are counted in
/// [`Census::clients_dropped`] and in the totals, but get no entry.
pub const DEFAULT_MAX_CLIENTS: usize = 1_000_000;

/// Distinct versions kept in each version map of one client entry (`offered_max`,
/// `offered_versions`, `negotiated`). Real clients use a handful; a hostile one cycling
/// through the 65,536 version numbers cannot grow its entry beyond this. Further versions
/// still count in the totals, and what a client entry drops is counted in
/// [`Census::versions_dropped`].
pub const MAX_VERSIONS_PER_CLIENT: usize = 64;

/// Adds `n` to `m[v]` unless that makes `m` hold more than `cap` versions; false if dropped.
fn add_version(m: &mut BTreeMap<Version, u64>, v: Version, n: u64, cap: usize) -> bool {
    if let Some(c) = m.get_mut(&v) {
        add(c, n);
        return true;
    }
    if m.len() < cap {
        m.insert(v, n);
        return true;
    }
    false
}

/// Adds `n` to a counter, saturating: a count never wraps around to a small number.
#[inline]
pub(crate) fn add(counter: &mut u64, n: u64) {
    *counter = counter.saturating_add(n);
}
/// What one settled connection adds to its client's census: the census rule, defined once.
/// The census ([`Census::add`]), the metrics and the event log all count through
/// [`contribution`].
#[derive(Copy, Clone, Debug)]
pub struct Contribution<'a> {
    /// The client whose census it adds to.
    pub client: IpAddr,
    /// ClientHellos: each counts once by its highest offered version and once per version it
    /// lists.
    pub hellos: &'a [HelloFacts],
    /// The negotiated version: the connection counts once under it.
    pub negotiated: Option<Version>,
    /// A ClientHello and no (non-HRR) ServerHello: a failed handshake.
    pub failed: bool,
    /// Plaintext alerts, each counted by description.
    pub alerts: &'a [(u8, Direction)],
    /// How TLS began.
    pub start: Start,
    /// Packet time of the connection's first packet (ns).
    pub first_seen_ns: u64,
    /// Packet time of its last packet (ns).
    pub last_seen_ns: u64,
    /// The connection makes its client legacy: a hello offering at most a version below
    /// TLS 1.2, a negotiated version below TLS 1.2, or a failed handshake (one connection's
    /// share of [`ClientTally::is_legacy`]).
    pub legacy: bool,
}

/// What a settled connection adds to its client's census, or `None` when it adds nothing
/// (no known client, or no hello, ServerHello or plaintext alert).
pub fn contribution(s: &ConnSummary) -> Option<Contribution<'_>> {
    let client = s.client?;
    if s.hellos.is_empty() && s.negotiated.is_none() && s.alerts.is_empty() {
        return None;
    }
    let failed = s.negotiated.is_none() && !s.hellos.is_empty();
    let legacy = failed
        || s.hellos
            .iter()
            .any(|h| h.offered_max.is_some_and(Version::is_legacy))
        || s.negotiated.is_some_and(Version::is_legacy);
    Some(Contribution {
        client,
        hellos: &s.hellos,
        negotiated: s.negotiated,
        failed,
        alerts: &s.alerts,
        start: s.start,
        first_seen_ns: s.first_seen_ns,
        last_seen_ns: s.last_seen_ns,
        legacy,
    })
}

/// Counts for one client (or the totals).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientTally {
    /// ClientHello messages.
    pub hellos: u64,
    /// Hellos by highest offered version.
    pub offered_max: BTreeMap<Version, u64>,
    /// Hellos listing each version.
    pub offered_versions: BTreeMap<Version, u64>,
    /// Connections by negotiated version.
    pub negotiated: BTreeMap<Version, u64>,
    /// Plaintext alerts by description (either direction).
    pub alerts: BTreeMap<u8, u64>,
    /// Connections with a ClientHello and no (non-HRR) ServerHello.
    pub failed_handshakes: u64,
    /// Hellos carrying TLS_FALLBACK_SCSV (retries after a failed attempt).
    pub fallback_hellos: u64,
    /// Those hellos by highest offered version.
    pub fallback_offered_max: BTreeMap<Version, u64>,
    /// JA4 fingerprints of the hellos of legacy connections ([`Contribution::legacy`]).
    pub legacy_ja4: Sample,
    /// JA3 fingerprints of the hellos of legacy connections.
    pub legacy_ja3: Sample,
    /// Server names (SNI) of the hellos of legacy connections.
    pub legacy_server_names: Sample,
    /// Connections by how TLS began, indexed by [`Start::index`].
    pub started: [u64; Start::COUNT],
    /// Packet time of the first packet of its first connection (ns).
    pub first_seen_ns: Option<u64>,
    /// Packet time of the last packet of its last connection (ns).
    pub last_seen_ns: Option<u64>,
    /// Packet time of the last packet of its last legacy connection ([`Contribution::legacy`]).
    pub last_legacy_seen_ns: Option<u64>,
}

/// The earlier of two optional times.
fn earliest(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

impl ClientTally {
    /// Counts a connection, keeping at most `cap` versions per map; returns the version
    /// counts dropped.
    fn add_contribution(&mut self, c: &Contribution<'_>, cap: usize) -> u64 {
        let mut dropped = 0;
        for h in c.hellos {
            add(&mut self.hellos, 1);
            if let Some(m) = h.offered_max {
                add(
                    &mut dropped,
                    u64::from(!add_version(&mut self.offered_max, m, 1, cap)),
                );
            }
            for v in h.offered.as_slice() {
                let kept = add_version(&mut self.offered_versions, *v, 1, cap);
                add(&mut dropped, u64::from(!kept));
            }
            if h.fallback_scsv {
                add(&mut self.fallback_hellos, 1);
                if let Some(m) = h.offered_max {
                    add(self.fallback_offered_max.entry(m).or_default(), 1);
                }
            }
        }
        if c.legacy {
            for h in c.hellos {
                if let Some(f) = &h.ja4 {
                    self.legacy_ja4.add(f.as_str(), 1);
                }
                if let Some(f) = &h.ja3 {
                    self.legacy_ja3.add(f.as_str(), 1);
                }
                if let Some(n) = &h.server_name {
                    self.legacy_server_names.add(n, 1);
                }
            }
        }
        if let Some(v) = c.negotiated {
            add(
                &mut dropped,
                u64::from(!add_version(&mut self.negotiated, v, 1, cap)),
            );
        }
        if c.failed {
            add(&mut self.failed_handshakes, 1);
        }
        for (d, _) in c.alerts {
            add(self.alerts.entry(*d).or_default(), 1);
        }
        if let Some(n) = self.started.get_mut(c.start.index()) {
            add(n, 1);
        }
        self.first_seen_ns = earliest(self.first_seen_ns, Some(c.first_seen_ns));
        self.last_seen_ns = self.last_seen_ns.max(Some(c.last_seen_ns));
        if c.legacy {
            self.last_legacy_seen_ns = self.last_legacy_seen_ns.max(Some(c.last_seen_ns));
        }
        dropped
    }

    /// Connections by how TLS began, in [`Start::ALL`] order, zero counts left out.
    pub fn started(&self) -> impl Iterator<Item = (Start, u64)> + '_ {
        Start::ALL
            .iter()
            .zip(self.started)
            .filter(|(_, n)| *n > 0)
            .map(|(s, n)| (*s, n))
    }

    /// Adds another tally's counts (no bound on versions: for totals and reports).
    pub fn merge(&mut self, o: &ClientTally) {
        self.merge_capped(o, usize::MAX);
    }

    /// Adds another tally's counts, keeping at most `cap` versions per map; returns the
    /// version counts dropped.
    fn merge_capped(&mut self, o: &ClientTally, cap: usize) -> u64 {
        add(&mut self.hellos, o.hellos);
        add(&mut self.failed_handshakes, o.failed_handshakes);
        let mut dropped = 0u64;
        add(&mut self.fallback_hellos, o.fallback_hellos);
        self.legacy_ja4.merge(&o.legacy_ja4);
        self.legacy_ja3.merge(&o.legacy_ja3);
        self.legacy_server_names.merge(&o.legacy_server_names);
        for (m, om) in [
            (&mut self.offered_max, &o.offered_max),
            (&mut self.offered_versions, &o.offered_versions),
            (&mut self.negotiated, &o.negotiated),
            (&mut self.fallback_offered_max, &o.fallback_offered_max),
        ] {
            for (k, v) in om {
                if !add_version(m, *k, *v, cap) {
                    add(&mut dropped, *v);
                }
            }
        }
        for (k, v) in &o.alerts {
            add(self.alerts.entry(*k).or_default(), *v);
        }
        for (a, b) in self.started.iter_mut().zip(o.started) {
            add(a, b);
        }
        self.first_seen_ns = earliest(self.first_seen_ns, o.first_seen_ns);
        self.last_seen_ns = self.last_seen_ns.max(o.last_seen_ns);
        self.last_legacy_seen_ns = self.last_legacy_seen_ns.max(o.last_legacy_seen_ns);
        dropped
    }

    /// True when nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.hellos == 0
            && self.failed_handshakes == 0
            && self.negotiated.is_empty()
            && self.alerts.is_empty()
    }

    /// A legacy client: offered at most, or negotiated, below TLS 1.2, or failed handshakes.
    pub fn is_legacy(&self) -> bool {
        self.failed_handshakes > 0
            || self.offered_max.keys().any(|v| v.is_legacy())
            || self.negotiated.keys().any(|v| v.is_legacy())
    }
}

/// The census of one run (or one worker).
#[derive(Clone, Debug)]
pub struct Census {
    /// Per client address.
    pub clients: HashMap<IpAddr, ClientTally>,
    /// Sum over all connections, including clients beyond the bound.
    pub totals: ClientTally,
    /// Connections settled with something to count.
    pub connections: u64,
    /// Distinct clients refused an entry by the bound.
    pub clients_dropped: u64,
    /// Version counts left out of client entries by [`MAX_VERSIONS_PER_CLIENT`] (they are in
    /// the totals).
    pub versions_dropped: u64,
    max_clients: usize,
}

impl Default for Census {
    fn default() -> Self {
        Census::new(DEFAULT_MAX_CLIENTS)
    }
}

impl Census {
    /// An empty census holding at most `max_clients` client entries.
    pub fn new(max_clients: usize) -> Self {
        Census {
            clients: HashMap::new(),
            totals: ClientTally::default(),
            connections: 0,
            clients_dropped: 0,
            versions_dropped: 0,
            max_clients,
        }
    }

    /// Counts one settled connection.
    pub fn add(&mut self, s: &ConnSummary) {
        let Some(c) = contribution(s) else { return };
        let ip = c.client;
        add(&mut self.connections, 1);
        self.totals.add_contribution(&c, usize::MAX);
        let n = self.clients.len();
        let dropped = match self.clients.get_mut(&ip) {
            Some(t) => t.add_contribution(&c, MAX_VERSIONS_PER_CLIENT),
            None if n < self.max_clients => self
                .clients
                .entry(ip)
                .or_default()
                .add_contribution(&c, MAX_VERSIONS_PER_CLIENT),
            None => {
                add(&mut self.clients_dropped, 1);
                0
            }
        };
        add(&mut self.versions_dropped, dropped);
    }

    /// Adds another census (associative and commutative).
    pub fn merge(&mut self, o: &Census) {
        add(&mut self.connections, o.connections);
        add(&mut self.clients_dropped, o.clients_dropped);
        add(&mut self.versions_dropped, o.versions_dropped);
        self.totals.merge(&o.totals);
        for (ip, t) in &o.clients {
            let n = self.clients.len();
            match self.clients.get_mut(ip) {
                Some(mine) => {
                    let dropped = mine.merge_capped(t, MAX_VERSIONS_PER_CLIENT);
                    add(&mut self.versions_dropped, dropped);
                }
                None if n < self.max_clients => {
                    self.clients.insert(*ip, t.clone());
                }
                None => add(&mut self.clients_dropped, 1),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::VersionList;

    fn hello(vs: &[Version]) -> HelloFacts {
        let mut offered = VersionList::default();
        for v in vs {
            offered.push(*v);
        }
        HelloFacts::with_offered(offered, Version::TLS12)
    }

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn failed_and_negotiated() {
        let mut c = Census::default();
        c.add(&ConnSummary {
            client: ip("10.0.0.1"),
            hellos: vec![hello(&[Version::TLS10])],
            alerts: vec![(70, Direction::FromServer)],
            ..ConnSummary::default()
        });
        c.add(&ConnSummary {
            client: ip("10.0.0.1"),
            hellos: vec![
                hello(&[Version::TLS13, Version::TLS12]),
                hello(&[Version::TLS13]),
            ],
            negotiated: Some(Version::TLS13),
            hrr: true,
            ..ConnSummary::default()
        });
        let t = &c.clients[&"10.0.0.1".parse::<IpAddr>().unwrap()];
        assert_eq!(t.hellos, 3);
        assert_eq!(t.failed_handshakes, 1);
        assert_eq!(t.offered_max[&Version::TLS13], 2);
        assert_eq!(t.offered_versions[&Version::TLS12], 1);
        assert_eq!(t.negotiated[&Version::TLS13], 1);
        assert_eq!(t.alerts[&70], 1);
        assert!(t.is_legacy());
        assert_eq!(c.totals, *t);
    }

    #[test]
    fn server_hello_without_client_hello_is_not_a_failure() {
        let mut c = Census::default();
        c.add(&ConnSummary {
            client: ip("::1"),
            negotiated: Some(Version::TLS12),
            ..ConnSummary::default()
        });
        let t = &c.clients[&"::1".parse::<IpAddr>().unwrap()];
        assert_eq!((t.hellos, t.failed_handshakes), (0, 0));
        assert!(!t.is_legacy());
    }

    #[test]
    fn merge_equals_adding_everything_to_one() {
        let s1 = ConnSummary {
            client: ip("10.0.0.1"),
            hellos: vec![hello(&[Version::TLS11])],
            ..ConnSummary::default()
        };
        let s2 = ConnSummary {
            client: ip("10.0.0.2"),
            hellos: vec![hello(&[Version::TLS12])],
            negotiated: Some(Version::TLS12),
            ..ConnSummary::default()
        };
        let mut whole = Census::default();
        whole.add(&s1);
        whole.add(&s2);
        whole.add(&s1);
        let (mut a, mut b) = (Census::default(), Census::default());
        a.add(&s1);
        b.add(&s2);
        b.add(&s1);
        a.merge(&b);
        assert_eq!(a.clients, whole.clients);
        assert_eq!(a.totals, whole.totals);
    }

    #[test]
    fn a_client_cycling_through_versions_keeps_a_bounded_entry() {
        let mut c = Census::default();
        for v in 0..1000u16 {
            c.add(&ConnSummary {
                client: ip("10.0.0.1"),
                hellos: vec![hello(&[Version(0x0a00 + v)])],
                negotiated: Some(Version(0x0b00 + v)),
                ..ConnSummary::default()
            });
        }
        let t = &c.clients[&"10.0.0.1".parse::<IpAddr>().unwrap()];
        assert_eq!(t.hellos, 1000);
        assert_eq!(t.offered_max.len(), MAX_VERSIONS_PER_CLIENT);
        assert_eq!(t.offered_versions.len(), MAX_VERSIONS_PER_CLIENT);
        assert_eq!(t.negotiated.len(), MAX_VERSIONS_PER_CLIENT);
        let kept = 3 * MAX_VERSIONS_PER_CLIENT as u64;
        assert_eq!(c.versions_dropped, 3000 - kept);
        assert_eq!(
            c.totals.offered_max.len(),
            1000,
            "the totals keep every version"
        );
        // Merging two such censuses keeps the bound and counts what it drops.
        let mut m = Census::default();
        m.merge(&c);
        m.merge(&c);
        let t = &m.clients[&"10.0.0.1".parse::<IpAddr>().unwrap()];
        assert_eq!(t.offered_max.len(), MAX_VERSIONS_PER_CLIENT);
        assert_eq!(
            t.offered_max.values().sum::<u64>(),
            2 * MAX_VERSIONS_PER_CLIENT as u64
        );
        assert_eq!(m.versions_dropped, 2 * (3000 - kept));
    }

    #[test]
    fn times_keep_the_earliest_first_and_the_latest_last() {
        let conn = |v: Version, neg: Version, first: u64, last: u64| ConnSummary {
            client: ip("10.0.0.1"),
            hellos: vec![hello(&[v])],
            negotiated: Some(neg),
            first_seen_ns: first,
            last_seen_ns: last,
            ..ConnSummary::default()
        };
        let (legacy, modern) = (
            conn(Version::TLS10, Version::TLS10, 100, 200),
            conn(Version::TLS13, Version::TLS13, 50, 300),
        );
        let later = conn(Version::TLS12, Version::TLS12, 400, 500);
        let mut whole = Census::default();
        for s in [&legacy, &modern, &later] {
            whole.add(s);
        }
        let t = &whole.clients[&"10.0.0.1".parse::<IpAddr>().unwrap()];
        assert_eq!(t.first_seen_ns, Some(50));
        assert_eq!(t.last_seen_ns, Some(500));
        assert_eq!(t.last_legacy_seen_ns, Some(200), "TLS 1.2 is not legacy");
        let (mut a, mut b) = (Census::default(), Census::default());
        a.add(&later);
        b.add(&modern);
        b.add(&legacy);
        a.merge(&b);
        assert_eq!(a.clients, whole.clients);
        assert_eq!(a.totals, whole.totals);
    }

    #[test]
    fn client_bound_is_counted() {
        let mut c = Census::new(1);
        for a in ["10.0.0.1", "10.0.0.2", "10.0.0.3"] {
            c.add(&ConnSummary {
                client: ip(a),
                hellos: vec![hello(&[Version::TLS12])],
                ..ConnSummary::default()
            });
        }
        assert_eq!(c.clients.len(), 1);
        assert_eq!(c.clients_dropped, 2);
        assert_eq!(c.totals.hellos, 3);
    }
}
