//! Per-client census: what each client offered and negotiated, the alerts it met and how many
//! of its handshakes failed.
//!
//! A [`Census`] is filled from settled connections ([`ConnSummary`]) and is associative: two
//! censuses merge by adding counts, so per-worker censuses (and reports of several sensors)
//! combine into one.

#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

pub mod certs;
pub mod outcome;
pub mod sample;
pub mod server;

use crate::flow::ConnSummary;
use crate::tls::certificate::{LeafFacts, ProblemSet};
use crate::tls::cipher::{CipherClass, ClassSet};
use crate::tls::facts::{Direction, HelloFacts};
use crate::tls::group::{Group, GroupSet};
use crate::tls::{Transport, Version};
use crate::upgrade::Start;
pub use certs::{CertStatus, CertTally};
pub use outcome::HandshakeOutcome;
pub use sample::{SAMPLE_KEYS, Sample};
pub use server::{ClientBrief, OFFERED_NOTHING, POLICY_STEPS, ServerTally};
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};

/// Default bound on distinct clients in one census; more are counted in
/// [`Census::clients_dropped`] and in the totals, but get no entry.
pub const DEFAULT_MAX_CLIENTS: usize = 1_000_000;

/// Distinct versions kept in each version map of one client entry (`offered_max`,
/// `offered_versions`, `negotiated`). Real clients use a handful; a hostile one cycling
/// through the 65,536 version numbers cannot grow its entry beyond this. Further versions
/// still count in the totals, and what a client entry drops is counted in
/// [`Census::versions_dropped`].
pub const MAX_VERSIONS_PER_CLIENT: usize = 64;

/// Default bound on distinct server endpoints, and on distinct server names, in one census;
/// connections to more are counted in the totals and in [`Census::servers_dropped`] /
/// [`Census::server_names_dropped`], but get no entry.
pub const DEFAULT_MAX_SERVERS: usize = 10_000;

/// Distinct clients kept in one server's (or server name's) census; more are counted in that
/// census' totals and its [`ServerTally::clients_dropped`].
pub const MAX_CLIENTS_PER_SERVER: usize = 10_000;

/// Distinct negotiated cipher suites kept in one client entry's `ciphers`; further suites
/// count in the totals and in the entry's [`ClientTally::ciphers_not_kept`].
pub const MAX_CIPHERS_PER_CLIENT: usize = 64;

/// Adds `n` to `m[v]` unless that makes `m` hold more than `cap` keys; false if dropped.
fn add_version<K: Ord>(m: &mut BTreeMap<K, u64>, v: K, n: u64, cap: usize) -> bool {
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
    /// The real client's address named by a PROXY protocol header before the hello (the
    /// census still counts the connection under `client`, the IP sender).
    pub proxied_for: Option<IpAddr>,
    /// What carried the handshake: TLS over TCP, QUIC or DTLS (each counted in its own
    /// census).
    pub transport: Transport,
    /// The negotiated cipher suite (a TLS ServerHello's; none for SSLv2).
    pub cipher: Option<u16>,
    /// Its weakness classes.
    pub cipher_classes: ClassSet,
    /// The group of the server's key share (TLS 1.3 ServerHello).
    pub group: Option<Group>,
    /// The server endpoint (the other end from the client).
    pub server: Option<SocketAddr>,
    /// The server name (SNI) of the first hello that has one; `""` when none has.
    pub server_name: &'a str,
    /// What the connection showed of the server's certificate (none without a negotiated
    /// version, and for SSLv2).
    pub cert_status: Option<CertStatus>,
    /// The server's leaf certificate (TLS ≤ 1.2).
    pub certificate: Option<&'a LeafFacts>,
    /// Its problems at the handshake's time (the connection's first packet).
    pub cert_problems: ProblemSet,
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
    let cipher = s
        .server_hello
        .filter(|sh| !sh.sslv2_format)
        .map(|sh| sh.cipher);
    let cert_status = certs::status_of(s);
    let certificate = s.certificate.as_deref();
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
        proxied_for: s.proxied_for,
        transport: s.transport,
        cipher,
        cipher_classes: cipher.map_or_else(ClassSet::default, ClassSet::of),
        group: s.server_hello.and_then(|sh| sh.group),
        server: s.server_endpoint.map(|e| SocketAddr::new(e.ip, e.port)),
        server_name: s
            .hellos
            .iter()
            .find_map(|h| h.server_name.as_deref())
            .unwrap_or(""),
        cert_status,
        certificate,
        cert_problems: certificate.map_or_else(ProblemSet::default, |l| {
            l.problems_at(certs::handshake_secs(s))
        }),
    })
}

/// The bound on `ciphers` that goes with a bound on versions: none for the totals
/// (`usize::MAX`), [`MAX_CIPHERS_PER_CLIENT`] for a client entry.
fn cipher_cap(version_cap: usize) -> usize {
    if version_cap == usize::MAX {
        usize::MAX
    } else {
        MAX_CIPHERS_PER_CLIENT
    }
}

/// Adds 1 to the slot of each class of `set`.
fn add_classes(counts: &mut [u64; CipherClass::COUNT], set: ClassSet) {
    for c in set.iter() {
        if let Some(n) = counts.get_mut(c.index()) {
            add(n, 1);
        }
    }
}

/// Adds 1 to the slot of each group of `set`.
fn add_groups(counts: &mut [u64; Group::COUNT], set: GroupSet) {
    for g in set.iter() {
        if let Some(n) = counts.get_mut(g.index()) {
            add(n, 1);
        }
    }
}

/// Adds `b` into `a` slot by slot.
fn add_slots<const N: usize>(a: &mut [u64; N], b: &[u64; N]) {
    for (x, y) in a.iter_mut().zip(b) {
        add(x, *y);
    }
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
    /// Connections by the real client's address a PROXY protocol header named
    /// ([`ConnSummary::proxied_for`]); the census counts them under this client, the sender.
    pub proxied_for: Sample,
    /// Connections by server name ([`Contribution::server_name`], `""` for none).
    pub server_names: Sample,
    /// Connections by negotiated cipher suite (at most [`MAX_CIPHERS_PER_CLIENT`] suites in a
    /// client entry).
    pub ciphers: BTreeMap<u16, u64>,
    /// Connections whose suite a client entry's `ciphers` could not keep.
    pub ciphers_not_kept: u64,
    /// Connections by weakness class of the negotiated suite, indexed by
    /// [`CipherClass::index`].
    pub cipher_classes: [u64; CipherClass::COUNT],
    /// Hellos offering at least one suite of each class.
    pub offered_weak: [u64; CipherClass::COUNT],
    /// Hellos listing each group in `supported_groups`, indexed by [`Group::index`].
    pub groups_offered: [u64; Group::COUNT],
    /// Hellos sending a key share of each group.
    pub key_shares: [u64; Group::COUNT],
    /// Connections by the group of the server's key share (TLS 1.3).
    pub group_chosen: [u64; Group::COUNT],
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
            add_classes(&mut self.offered_weak, h.offered_weak);
            add_groups(&mut self.groups_offered, h.groups_offered);
            add_groups(&mut self.key_shares, h.key_shares);
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
        if let Some(id) = c.cipher {
            if !add_version(&mut self.ciphers, id, 1, cipher_cap(cap)) {
                add(&mut self.ciphers_not_kept, 1);
            }
        }
        add_classes(&mut self.cipher_classes, c.cipher_classes);
        if let Some(n) = c.group.and_then(|g| self.group_chosen.get_mut(g.index())) {
            add(n, 1);
        }
        for (d, _) in c.alerts {
            add(self.alerts.entry(*d).or_default(), 1);
        }
        if let Some(n) = self.started.get_mut(c.start.index()) {
            add(n, 1);
        }
        if let Some(ip) = c.proxied_for {
            self.proxied_for.add(&ip.to_string(), 1);
        }
        self.server_names.add(c.server_name, 1);
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
        self.proxied_for.merge(&o.proxied_for);
        self.server_names.merge(&o.server_names);
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
        let cipher_cap = cipher_cap(cap);
        add(&mut self.ciphers_not_kept, o.ciphers_not_kept);
        for (k, v) in &o.ciphers {
            if !add_version(&mut self.ciphers, *k, *v, cipher_cap) {
                add(&mut self.ciphers_not_kept, *v);
            }
        }
        add_slots(&mut self.cipher_classes, &o.cipher_classes);
        add_slots(&mut self.offered_weak, &o.offered_weak);
        add_slots(&mut self.groups_offered, &o.groups_offered);
        add_slots(&mut self.key_shares, &o.key_shares);
        add_slots(&mut self.group_chosen, &o.group_chosen);
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
    /// The census of QUIC connections, kept apart (`clients` and `totals` are TLS over TCP);
    /// none until a QUIC connection is counted. Its own bound of `max_clients` entries.
    pub quic: Option<Box<Census>>,
    /// The census of DTLS connections, likewise.
    pub dtls: Option<Box<Census>>,
    /// The census of each server endpoint: the connections to it, by client (at most
    /// [`MAX_CLIENTS_PER_SERVER`] clients each); at most `max_servers` endpoints.
    pub servers: HashMap<SocketAddr, ServerTally>,
    /// The census of each server name (SNI, `""` for none), likewise.
    pub server_names: HashMap<String, ServerTally>,
    /// Connections to a server endpoint refused an entry by the bound.
    pub servers_dropped: u64,
    /// Connections with a server name refused an entry by the bound.
    pub server_names_dropped: u64,
    /// The server certificates of its connections.
    pub certificates: CertTally,
    max_clients: usize,
    max_servers: usize,
}

impl Default for Census {
    fn default() -> Self {
        Census::new(DEFAULT_MAX_CLIENTS)
    }
}

impl Census {
    /// An empty census holding at most `max_clients` client entries and
    /// [`DEFAULT_MAX_SERVERS`] server (and server name) entries.
    pub fn new(max_clients: usize) -> Self {
        Census::with_bounds(max_clients, DEFAULT_MAX_SERVERS)
    }

    /// An empty census holding at most `max_clients` client entries and `max_servers` server
    /// entries and server name entries (0: no server view).
    pub fn with_bounds(max_clients: usize, max_servers: usize) -> Self {
        Census {
            clients: HashMap::new(),
            totals: ClientTally::default(),
            connections: 0,
            clients_dropped: 0,
            versions_dropped: 0,
            quic: None,
            dtls: None,
            servers: HashMap::new(),
            server_names: HashMap::new(),
            servers_dropped: 0,
            server_names_dropped: 0,
            certificates: CertTally::default(),
            max_clients,
            max_servers,
        }
    }

    /// Counts one settled connection (a QUIC or DTLS one in its transport's census).
    pub fn add(&mut self, s: &ConnSummary) {
        let Some(c) = contribution(s) else { return };
        let sub = match c.transport {
            Transport::Tcp => None,
            Transport::Quic => Some(&mut self.quic),
            Transport::Dtls => Some(&mut self.dtls),
        };
        let (mc, ms) = (self.max_clients, self.max_servers);
        match sub {
            Some(sub) => sub
                .get_or_insert_with(|| Box::new(Census::with_bounds(mc, ms)))
                .add_here(&c),
            None => self.add_here(&c),
        }
    }

    /// Counts one connection's contribution in this census.
    fn add_here(&mut self, c: &Contribution<'_>) {
        let ip = c.client;
        add(&mut self.connections, 1);
        if let Some(st) = c.cert_status {
            self.certificates.add(st, c.certificate, c.cert_problems);
        }
        self.totals.add_contribution(c, usize::MAX);
        let n = self.clients.len();
        let dropped = match self.clients.get_mut(&ip) {
            Some(t) => t.add_contribution(c, MAX_VERSIONS_PER_CLIENT),
            None if n < self.max_clients => self
                .clients
                .entry(ip)
                .or_default()
                .add_contribution(c, MAX_VERSIONS_PER_CLIENT),
            None => {
                add(&mut self.clients_dropped, 1);
                0
            }
        };
        add(&mut self.versions_dropped, dropped);
        if self.max_servers > 0 {
            let max = self.max_servers;
            if let Some(at) = c.server {
                let n = self.servers.len();
                match self.servers.get_mut(&at) {
                    Some(s) => s.add_contribution(c),
                    None if n < max => self.servers.entry(at).or_default().add_contribution(c),
                    None => add(&mut self.servers_dropped, 1),
                }
            }
            let n = self.server_names.len();
            match self.server_names.get_mut(c.server_name) {
                Some(s) => s.add_contribution(c),
                None if n < max => self
                    .server_names
                    .entry(c.server_name.into())
                    .or_default()
                    .add_contribution(c),
                None => add(&mut self.server_names_dropped, 1),
            }
        }
    }

    /// Adds `o` into `m[key]`, a map of at most `max` server censuses; false when refused.
    fn merge_into<K: std::hash::Hash + Eq + Clone>(
        m: &mut HashMap<K, ServerTally>,
        key: &K,
        o: &ServerTally,
        max: usize,
    ) -> bool {
        let n = m.len();
        match m.get_mut(key) {
            Some(mine) => mine.merge(o),
            None if n < max => m.entry(key.clone()).or_default().merge(o),
            None => return false,
        }
        true
    }

    /// Connections refused a server entry and a server name entry, over every transport.
    pub fn servers_dropped_all(&self) -> (u64, u64) {
        let mut out = (self.servers_dropped, self.server_names_dropped);
        for sub in [&self.quic, &self.dtls].into_iter().flatten() {
            add(&mut out.0, sub.servers_dropped);
            add(&mut out.1, sub.server_names_dropped);
        }
        out
    }

    /// Adds another census (associative and commutative).
    pub fn merge(&mut self, o: &Census) {
        let (mc, ms) = (self.max_clients, self.max_servers);
        for (mine, theirs) in [(&mut self.quic, &o.quic), (&mut self.dtls, &o.dtls)] {
            if let Some(t) = theirs {
                mine.get_or_insert_with(|| Box::new(Census::with_bounds(mc, ms)))
                    .merge(t);
            }
        }
        if self.max_servers > 0 {
            let max = self.max_servers;
            add(&mut self.servers_dropped, o.servers_dropped);
            add(&mut self.server_names_dropped, o.server_names_dropped);
            for (k, t) in &o.servers {
                if !Census::merge_into(&mut self.servers, k, t, max) {
                    add(&mut self.servers_dropped, t.connections);
                }
            }
            for (k, t) in &o.server_names {
                if !Census::merge_into(&mut self.server_names, k, t, max) {
                    add(&mut self.server_names_dropped, t.connections);
                }
            }
        }
        add(&mut self.connections, o.connections);
        self.certificates.merge(&o.certificates);
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

    fn to_server(ip: &str, server: &str, sni: Option<&str>, vs: &[Version]) -> ConnSummary {
        let mut h = hello(vs);
        h.server_name = sni.map(Into::into);
        let at: SocketAddr = server.parse().unwrap();
        ConnSummary {
            client: self::ip(ip),
            hellos: vec![h],
            negotiated: vs.iter().copied().max(),
            server_endpoint: Some(crate::wire::Endpoint {
                ip: at.ip(),
                port: at.port(),
            }),
            ..ConnSummary::default()
        }
    }

    #[test]
    fn servers_and_server_names_add_up_to_the_totals() {
        let mut c = Census::default();
        c.add(&to_server(
            "10.0.0.1",
            "192.0.2.5:443",
            Some("a.example"),
            &[Version::TLS10],
        ));
        c.add(&to_server(
            "10.0.0.2",
            "192.0.2.5:443",
            None,
            &[Version::TLS13],
        ));
        c.add(&to_server(
            "10.0.0.1",
            "[2001:db8::5]:443",
            Some("a.example"),
            &[Version::TLS12],
        ));
        let s = &c.servers[&"192.0.2.5:443".parse().unwrap()];
        assert_eq!((s.connections, s.clients.len()), (2, 2));
        assert_eq!(s.legacy_clients(), 1);
        assert_eq!(c.server_names["a.example"].connections, 2);
        assert_eq!(c.server_names[""].connections, 1);
        for view in [
            c.servers.values().collect::<Vec<_>>(),
            c.server_names.values().collect(),
        ] {
            let mut sum = ClientTally::default();
            for s in view {
                sum.merge(&s.totals);
            }
            assert_eq!(sum, c.totals);
        }
        assert_eq!(c.totals.server_names.top(), [("a.example", 2), ("", 1)]);
    }

    #[test]
    fn server_bound_is_counted_and_merges_keep_it() {
        let mut c = Census::with_bounds(10, 1);
        c.add(&to_server(
            "10.0.0.1",
            "192.0.2.5:443",
            Some("a"),
            &[Version::TLS12],
        ));
        c.add(&to_server(
            "10.0.0.1",
            "192.0.2.6:443",
            Some("b"),
            &[Version::TLS12],
        ));
        c.add(&to_server(
            "10.0.0.1",
            "192.0.2.6:443",
            Some("b"),
            &[Version::TLS12],
        ));
        assert_eq!(c.servers.len(), 1);
        assert_eq!((c.servers_dropped, c.server_names_dropped), (2, 2));
        let mut m = Census::with_bounds(10, 1);
        m.merge(&c);
        m.merge(&c);
        assert_eq!(m.servers.len(), 1);
        assert_eq!(m.servers_dropped, 4);
        assert_eq!(m.totals.hellos, 6);
        // No server view at all with a bound of 0.
        let mut none = Census::with_bounds(10, 0);
        none.add(&to_server(
            "10.0.0.1",
            "192.0.2.5:443",
            Some("a"),
            &[Version::TLS12],
        ));
        assert!(none.servers.is_empty() && none.server_names.is_empty());
    }

    #[test]
    fn ciphers_and_groups_are_counted_per_connection_and_hello() {
        use crate::tls::facts::ServerFacts;
        let mut h = hello(&[Version::TLS13]);
        h.offered_weak = ClassSet::of(0x000a);
        h.key_shares.insert(Group::of(0x11ec).unwrap());
        h.groups_offered.insert(Group::of(0x001d).unwrap());
        let s = ConnSummary {
            client: ip("10.0.0.1"),
            hellos: vec![h],
            negotiated: Some(Version::TLS12),
            server_hello: Some(ServerFacts {
                version: Version::TLS12,
                legacy_version: Version::TLS12,
                cipher: 0x000a,
                downgrade_sentinel: false,
                sslv2_format: false,
                group: Group::of(0x11ec),
            }),
            ..ConnSummary::default()
        };
        let mut c = Census::default();
        c.add(&s);
        c.add(&s);
        let t = &c.totals;
        assert_eq!(t.ciphers[&0x000a], 2);
        assert_eq!(t.cipher_classes[CipherClass::TripleDes.index()], 2);
        assert_eq!(t.cipher_classes[CipherClass::Rc4.index()], 0);
        assert_eq!(t.offered_weak[CipherClass::RsaKx.index()], 2);
        assert_eq!(t.key_shares[Group::of(0x11ec).unwrap().index()], 2);
        assert_eq!(t.groups_offered[Group::of(0x001d).unwrap().index()], 2);
        assert_eq!(t.group_chosen[Group::of(0x11ec).unwrap().index()], 2);
        // An SSLv2 SERVER-HELLO has no cipher suite to count.
        let mut v2 = s.clone();
        if let Some(sh) = v2.server_hello.as_mut() {
            sh.sslv2_format = true;
        }
        let mut c2 = Census::default();
        c2.add(&v2);
        assert!(c2.totals.ciphers.is_empty());
    }

    #[test]
    fn a_client_cycling_through_ciphers_keeps_a_bounded_entry() {
        use crate::tls::facts::ServerFacts;
        let mut c = Census::default();
        for id in 0..200u16 {
            c.add(&ConnSummary {
                client: ip("10.0.0.1"),
                negotiated: Some(Version::TLS12),
                server_hello: Some(ServerFacts {
                    version: Version::TLS12,
                    legacy_version: Version::TLS12,
                    cipher: 0x1000 + id,
                    downgrade_sentinel: false,
                    sslv2_format: false,
                    group: None,
                }),
                ..ConnSummary::default()
            });
        }
        let t = &c.clients[&"10.0.0.1".parse::<IpAddr>().unwrap()];
        assert_eq!(t.ciphers.len(), MAX_CIPHERS_PER_CLIENT);
        assert_eq!(t.ciphers_not_kept, 200 - MAX_CIPHERS_PER_CLIENT as u64);
        assert_eq!(c.totals.ciphers.len(), 200);
    }
}
