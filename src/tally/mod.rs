//! Per-client census: what each client offered and negotiated, the alerts it met and how many
//! of its handshakes failed.
//!
//! A [`Census`] is filled from settled connections ([`ConnSummary`]) and is associative: two
//! censuses merge by adding counts, so per-worker censuses (and reports of several sensors)
//! combine into one.

#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

pub mod outcome;
pub mod sample;

use crate::flow::Endpoint;
use crate::tls::Version;
use crate::tls::fingerprint::{Ja3, Ja4};
use crate::upgrade::Start;
pub use outcome::Outcome;
pub use sample::{SAMPLE_KEYS, Sample};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

/// Default bound on distinct clients in one census; more are counted in
/// [`Census::clients_dropped`] and in the totals, but get no entry.
pub const DEFAULT_MAX_CLIENTS: usize = 1_000_000;

/// Hellos kept per connection (an HRR connection has 2; more are counted, not kept).
pub const MAX_HELLOS_PER_CONN: usize = 4;

/// Alerts kept per connection.
pub const MAX_ALERTS_PER_CONN: usize = 8;

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
/// Cipher suites kept per hello (for the event log; [`HelloFacts::cipher_count`] has the
/// real number).
pub const MAX_CIPHERS_KEPT: usize = 128;

/// Which endpoint of a connection sent something.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// Sent by the client.
    FromClient,
    /// Sent by the server.
    FromServer,
}

/// One ClientHello as the census and the event log need it.
///
/// The costly facts — fingerprints and the cipher suite list — are derived when the connection
/// settles and only if something reads them ([`HelloFacts::fill_detail`]): the census for legacy
/// connections, the event log for all. Until then the hello's cipher suite and extension bytes
/// are kept (at most [`MAX_DEFERRED_HELLO`] bytes; a larger hello is fingerprinted at once).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HelloFacts {
    /// Highest offered version (none if `supported_versions` listed only GREASE).
    pub offered_max: Option<Version>,
    /// Offered versions (GREASE removed).
    pub offered: crate::tls::VersionList,
    /// Legacy version field.
    pub legacy_version: Version,
    /// SSLv2 record format.
    pub sslv2_format: bool,
    /// TLS_FALLBACK_SCSV present.
    pub fallback_scsv: bool,
    /// Version field of the record that carried the hello (none for SSLv2 format).
    pub record_version: Option<Version>,
    /// Server name from SNI (at most [`crate::tls::hello::MAX_SNI_LEN`] bytes, invalid UTF-8
    /// replaced by U+FFFD).
    pub server_name: Option<Box<str>>,
    /// JA3 fingerprint, after [`HelloFacts::fill_detail`] (none for SSLv2-format hellos).
    pub ja3: Option<Ja3>,
    /// JA4 fingerprint, after [`HelloFacts::fill_detail`] (none for SSLv2-format hellos).
    pub ja4: Option<Ja4>,
    /// After [`HelloFacts::fill_detail`]: the first [`MAX_CIPHERS_KEPT`] offered cipher
    /// suites, GREASE removed, in wire order (SSLv2 format: the TLS suites among its cipher
    /// specs).
    pub ciphers: Box<[u16]>,
    /// After [`HelloFacts::fill_detail`]: the number of offered cipher suites, GREASE removed.
    pub cipher_count: u32,
    /// Cipher suite bytes then extension bytes, until the detail is filled.
    deferred: Option<Box<[u8]>>,
    /// Where the extension bytes start in `deferred`.
    deferred_ext_at: u32,
    /// What carried the hello (JA4's first character).
    pub transport: crate::tls::Transport,
}

/// Largest hello (cipher suites plus extensions) whose fingerprints are deferred to the
/// settlement of its connection; larger ones are fingerprinted when parsed.
pub const MAX_DEFERRED_HELLO: usize = 16 * 1024;

/// The offered cipher suites (GREASE removed): the first [`MAX_CIPHERS_KEPT`] and the count.
fn cipher_list(suites: impl Iterator<Item = u16>) -> (Box<[u16]>, u32) {
    let mut kept = Vec::new();
    let mut count = 0u32;
    for c in suites.filter(|c| !Version(*c).is_grease()) {
        count = count.saturating_add(1);
        if kept.len() < MAX_CIPHERS_KEPT {
            kept.push(c);
        }
    }
    (kept.into_boxed_slice(), count)
}

impl HelloFacts {
    /// The facts of a parsed ClientHello; fingerprints and cipher suites wait for
    /// [`HelloFacts::fill_detail`] (unless the hello is very large).
    pub fn from_hello(ch: &crate::tls::ClientHello<'_>) -> Self {
        HelloFacts::from_hello_on(ch, crate::tls::Transport::Tcp)
    }

    /// [`HelloFacts::from_hello`] for a hello carried by `transport` (QUIC, DTLS).
    pub fn from_hello_on(
        ch: &crate::tls::ClientHello<'_>,
        transport: crate::tls::Transport,
    ) -> Self {
        let mut h = HelloFacts::with_offered(ch.offered(), ch.legacy_version);
        h.transport = transport;
        h.sslv2_format = ch.sslv2_format;
        h.fallback_scsv = ch.fallback_scsv;
        h.record_version = ch.record_version;
        h.server_name = ch
            .sni
            .map(|b| String::from_utf8_lossy(b).into_owned().into_boxed_str());
        if ch.sslv2_format {
            // 3-byte cipher specs; TLS suites are written as 0x00 followed by their 2 bytes.
            // No fingerprint is defined for this format.
            (h.ciphers, h.cipher_count) =
                cipher_list(ch.cipher_suites.chunks_exact(3).filter_map(|s| match s {
                    [0, a, b] => Some(u16::from_be_bytes([*a, *b])),
                    _ => None,
                }));
            return h;
        }
        let n = ch.cipher_suites.len().saturating_add(ch.extensions.len());
        match u32::try_from(ch.cipher_suites.len()) {
            Ok(at) if n <= MAX_DEFERRED_HELLO => {
                let mut raw = Vec::with_capacity(n);
                raw.extend_from_slice(ch.cipher_suites);
                raw.extend_from_slice(ch.extensions);
                h.deferred = Some(raw.into_boxed_slice());
                h.deferred_ext_at = at;
            }
            _ => h.fill_from(ch.cipher_suites, ch.extensions),
        }
        h
    }

    fn fill_from(&mut self, suites: &[u8], extensions: &[u8]) {
        let (ja3, ja4) =
            crate::tls::fingerprint::fingerprints_of(&crate::tls::fingerprint::HelloParts {
                legacy_version: self.legacy_version,
                offered: self.offered.as_slice(),
                cipher_suites: suites,
                extensions,
                transport: self.transport,
            });
        self.ja3 = Some(ja3);
        self.ja4 = Some(ja4);
        (self.ciphers, self.cipher_count) = cipher_list(
            suites
                .chunks_exact(2)
                .map(|p| p.first_chunk::<2>().map_or(0, |c| u16::from_be_bytes(*c))),
        );
    }

    /// Derives the fingerprints and the cipher suite list (once; later calls do nothing).
    pub fn fill_detail(&mut self) {
        if let Some(raw) = self.deferred.take() {
            let at = usize::try_from(self.deferred_ext_at).unwrap_or(usize::MAX);
            let (suites, exts) = raw.split_at(at.min(raw.len()));
            self.fill_from(suites, exts);
        }
    }

    /// Facts with the given versions and nothing else (tests, synthetic input).
    pub fn with_offered(offered: crate::tls::VersionList, legacy_version: Version) -> Self {
        HelloFacts {
            offered_max: offered.max(),
            offered,
            legacy_version,
            sslv2_format: false,
            fallback_scsv: false,
            record_version: None,
            server_name: None,
            ja3: None,
            ja4: None,
            ciphers: Box::default(),
            cipher_count: 0,
            deferred: None,
            deferred_ext_at: 0,
            transport: crate::tls::Transport::Tcp,
        }
    }
}

/// The ServerHello that chose the version.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ServerFacts {
    /// Chosen version (`supported_versions`, else `legacy_version`).
    pub version: Version,
    /// `legacy_version` field.
    pub legacy_version: Version,
    /// Chosen cipher suite (SSLv2: 0).
    pub cipher: u16,
    /// ServerHello.random ends with an RFC 8446 downgrade sentinel.
    pub downgrade_sentinel: bool,
    /// SSLv2 SERVER-HELLO.
    pub sslv2_format: bool,
}

/// Everything a settled connection contributes to the census.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnSummary {
    /// The client: sender of the ClientHello, else receiver of the ServerHello, else the
    /// TCP initiator.
    pub client: Option<IpAddr>,
    /// ClientHellos in order (at most [`MAX_HELLOS_PER_CONN`]).
    pub hellos: Vec<HelloFacts>,
    /// Version of the last ServerHello that is not a HelloRetryRequest.
    pub negotiated: Option<Version>,
    /// A HelloRetryRequest was seen.
    pub hrr: bool,
    /// Plaintext alert descriptions with their direction.
    pub alerts: Vec<(u8, Direction)>,
    /// Level of each entry of `alerts` (1 warning, 2 fatal), same order.
    pub alert_levels: Vec<u8>,
    /// The client endpoint (address and port), when the client is known.
    pub client_endpoint: Option<Endpoint>,
    /// The other endpoint.
    pub server_endpoint: Option<Endpoint>,
    /// Packet time (ns since the Unix epoch) of the connection's first packet.
    pub first_seen_ns: u64,
    /// Packet time (ns) of the connection's last packet: when the client was last seen.
    pub last_seen_ns: u64,
    /// The last ServerHello that is not a HelloRetryRequest.
    pub server_hello: Option<ServerFacts>,
    /// A TCP RST was seen.
    pub rst: bool,
    /// A TCP FIN was seen from the client / from the server.
    pub fin: [bool; 2],
    /// The connection was joined mid-stream (no SYN seen).
    pub midstream: bool,
    /// How TLS began: at byte 0, or after which plaintext upgrade.
    pub start: Start,
    /// What carried the handshake: TLS over TCP, QUIC or DTLS (each counted in its own
    /// census).
    pub transport: crate::tls::Transport,
}

impl ConnSummary {
    /// Whether the connection has anything the census counts (a hello, a ServerHello or a
    /// plaintext alert, and a known client).
    pub fn is_countable(&self) -> bool {
        self.client.is_some()
            && (!self.hellos.is_empty() || self.negotiated.is_some() || !self.alerts.is_empty())
    }

    /// A legacy connection: a hello offering at most a version below TLS 1.2, a negotiated
    /// version below TLS 1.2, or hellos without a ServerHello (the definition behind
    /// [`ClientTally::is_legacy`]).
    pub fn is_legacy(&self) -> bool {
        self.hellos
            .iter()
            .any(|h| h.offered_max.is_some_and(Version::is_legacy))
            || self.negotiated.is_some_and(Version::is_legacy)
            || (self.negotiated.is_none() && !self.hellos.is_empty())
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
    /// JA4 fingerprints of the hellos of legacy connections ([`ConnSummary::is_legacy`]).
    pub legacy_ja4: Sample,
    /// JA3 fingerprints of the hellos of legacy connections.
    pub legacy_ja3: Sample,
    /// Server names (SNI) of the hellos of legacy connections.
    pub legacy_server_names: Sample,
    /// Connections by how TLS began, indexed by [`Start::index`].
    pub started: [u64; Start::COUNT],
}

impl ClientTally {
    /// Counts a connection, keeping at most `cap` versions per map; returns the version
    /// counts dropped.
    fn add_summary(&mut self, s: &ConnSummary, cap: usize) -> u64 {
        let mut dropped = 0;
        for h in &s.hellos {
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
        if s.is_legacy() {
            for h in &s.hellos {
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
        match s.negotiated {
            Some(v) => add(
                &mut dropped,
                u64::from(!add_version(&mut self.negotiated, v, 1, cap)),
            ),
            None if !s.hellos.is_empty() => add(&mut self.failed_handshakes, 1),
            None => {}
        }
        for (d, _) in &s.alerts {
            add(self.alerts.entry(*d).or_default(), 1);
        }
        if let Some(n) = self.started.get_mut(s.start.index()) {
            add(n, 1);
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
            quic: None,
            dtls: None,
            max_clients,
        }
    }

    /// Counts one settled connection (a QUIC or DTLS one in its transport's census).
    pub fn add(&mut self, s: &ConnSummary) {
        let udp = match s.transport {
            crate::tls::Transport::Tcp => None,
            crate::tls::Transport::Quic => Some(&mut self.quic),
            crate::tls::Transport::Dtls => Some(&mut self.dtls),
        };
        if let Some(sub) = udp {
            let max = self.max_clients;
            sub.get_or_insert_with(|| Box::new(Census::new(max)))
                .add_here(s);
            return;
        }
        self.add_here(s);
    }

    /// Counts one settled connection in this census.
    fn add_here(&mut self, s: &ConnSummary) {
        let Some(ip) = s.client else { return };
        if !s.is_countable() {
            return;
        }
        add(&mut self.connections, 1);
        self.totals.add_summary(s, usize::MAX);
        let n = self.clients.len();
        let dropped = match self.clients.get_mut(&ip) {
            Some(t) => t.add_summary(s, MAX_VERSIONS_PER_CLIENT),
            None if n < self.max_clients => self
                .clients
                .entry(ip)
                .or_default()
                .add_summary(s, MAX_VERSIONS_PER_CLIENT),
            None => {
                add(&mut self.clients_dropped, 1);
                0
            }
        };
        add(&mut self.versions_dropped, dropped);
    }

    /// Adds another census (associative and commutative).
    pub fn merge(&mut self, o: &Census) {
        let max = self.max_clients;
        for (mine, theirs) in [(&mut self.quic, &o.quic), (&mut self.dtls, &o.dtls)] {
            if let Some(t) = theirs {
                mine.get_or_insert_with(|| Box::new(Census::new(max)))
                    .merge(t);
            }
        }
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
    fn fingerprints_wait_for_fill_detail_unless_the_hello_is_large() {
        use crate::tls::hello::parse_client_hello;
        use crate::tls::hello::tests::client_hello_body;
        let body = client_hello_body(0x0303, &[0x1301, 0x0a0a, 0xc02f], &[(0, &[0, 0])]);
        let ch = parse_client_hello(&body, |_| {}).unwrap();
        let mut h = HelloFacts::from_hello(&ch);
        assert_eq!((h.ja3, h.ja4, h.cipher_count), (None, None, 0));
        h.fill_detail();
        let (ja3, ja4) = crate::tls::fingerprint::fingerprints(&ch);
        assert_eq!((h.ja3, h.ja4), (ja3, ja4));
        assert_eq!((&*h.ciphers, h.cipher_count), (&[0x1301, 0xc02f][..], 2));
        let again = h.clone();
        h.fill_detail();
        assert_eq!(h, again, "filled once");
        // A hello larger than the deferral bound is fingerprinted at once.
        let big = vec![0u8; MAX_DEFERRED_HELLO];
        let body = client_hello_body(0x0303, &[0x1301], &[(21, &big)]);
        let ch = parse_client_hello(&body, |_| {}).unwrap();
        let h = HelloFacts::from_hello(&ch);
        assert_eq!(h.ja4, crate::tls::fingerprint::fingerprints(&ch).1);
        assert!(h.ja4.is_some());
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
