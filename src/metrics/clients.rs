//! The per-client series: a bounded table of legacy clients, least recently seen evicted,
//! idle entries expired on packet time.
//!
//! Only legacy clients (offered at most, or negotiated, below TLS 1.2, or failed a handshake)
//! get series. So that a client's series hold its whole recent history — the same counts as the
//! census — the table also remembers up to the same number of recently seen clients that are
//! not (yet) legacy; such an entry is promoted, with its counts, when the client turns legacy,
//! and is never exported before. Both tiers are bounded by `--max-client-series`, ordered by
//! packet time, and expire after `--client-series-idle` seconds of packet time without a
//! connection.
//!
//! Work happens once per settled connection (not per packet), under the caller's lock.

use super::names::AlertLabel;
use crate::policy::{MAX_POLICIES, Policies, Verdict};
use crate::tally::Contribution;
use crate::tls::VersionLabel;
use prometheus_client::encoding::{EncodeLabelValue, LabelValueEncoder};
use std::collections::{BTreeSet, HashMap};
use std::fmt::{self, Write as _};
use std::net::IpAddr;

/// Default bound on clients with per-client series (and on remembered non-legacy clients).
pub const DEFAULT_MAX_CLIENT_SERIES: usize = 1000;

/// Default idle time (seconds of packet time) after which a client's series are removed.
pub const DEFAULT_CLIENT_SERIES_IDLE_SECS: u64 = 86_400;

/// How clients are grouped into series.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Grouping {
    /// One series set per address.
    Address,
    /// One series set per prefix: IPv4 addresses cut to `v4` bits, IPv6 to `v6` bits.
    Prefix {
        /// IPv4 prefix length (0–32).
        v4: u8,
        /// IPv6 prefix length (0–128).
        v6: u8,
    },
}

/// A client address or prefix: the value of the `client` label.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientKey {
    addr: IpAddr,
    /// Prefix length; `None` for a whole address.
    len: Option<u8>,
}

impl ClientKey {
    /// The key of `ip` under `g`.
    pub fn new(ip: IpAddr, g: Grouping) -> Self {
        match g {
            Grouping::Address => ClientKey {
                addr: ip,
                len: None,
            },
            Grouping::Prefix { v4, v6 } => match ip {
                IpAddr::V4(a) => {
                    let len = v4.min(32);
                    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                    ClientKey {
                        addr: IpAddr::V4((u32::from(a) & mask).into()),
                        len: Some(len),
                    }
                }
                IpAddr::V6(a) => {
                    let len = v6.min(128);
                    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                    ClientKey {
                        addr: IpAddr::V6((u128::from(a) & mask).into()),
                        len: Some(len),
                    }
                }
            },
        }
    }
}

impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.len {
            None => write!(f, "{}", self.addr),
            Some(l) => write!(f, "{}/{l}", self.addr),
        }
    }
}

impl EncodeLabelValue for ClientKey {
    fn encode(&self, e: &mut LabelValueEncoder<'_>) -> fmt::Result {
        write!(e, "{self}")
    }
}

/// What one client did (the per-client series).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientCounts {
    /// Hellos by highest offered version, indexed by [`VersionLabel::index`].
    pub hellos: [u64; VersionLabel::COUNT],
    /// Connections by negotiated version, indexed by [`VersionLabel::index`].
    pub negotiated: [u64; VersionLabel::COUNT],
    /// Failed handshakes.
    pub failed: u64,
    /// Alerts by description (either direction), sorted; at most [`AlertLabel::COUNT`].
    pub alerts: Vec<(AlertLabel, u64)>,
    /// Packet time (ns) of the last packet of the client's last connection.
    pub last_seen_ns: u64,
    /// Hellos each policy would refuse (fallback retries apart), by [`Policies::iter`] index.
    pub policy_would_fail: [u64; MAX_POLICIES],
}

impl ClientCounts {
    fn add(&mut self, c: &Contribution<'_>, last_seen_ns: u64, policies: &Policies) {
        for (i, p) in policies.iter() {
            let n = c
                .hellos
                .iter()
                .filter(|h| p.verdict(h) == Verdict::WouldFail)
                .count() as u64;
            if let Some(k) = self.policy_would_fail.get_mut(i) {
                *k += n;
            }
        }
        for h in c.hellos {
            if let Some(k) = self
                .hellos
                .get_mut(VersionLabel::of_max(h.offered_max).index())
            {
                *k += 1;
            }
        }
        if let Some(v) = c.negotiated {
            if let Some(k) = self.negotiated.get_mut(VersionLabel::of(v).index()) {
                *k += 1;
            }
        }
        if c.failed {
            self.failed += 1;
        }
        for (d, _) in c.alerts {
            let l = AlertLabel::of(*d);
            match self.alerts.binary_search_by_key(&l, |(k, _)| *k) {
                Ok(i) => {
                    if let Some((_, n)) = self.alerts.get_mut(i) {
                        *n += 1;
                    }
                }
                Err(i) => self.alerts.insert(i, (l, 1)),
            }
        }
        self.last_seen_ns = self.last_seen_ns.max(last_seen_ns);
    }
}

/// One bounded tier, ordered by last-seen packet time.
#[derive(Debug, Default)]
struct Tier {
    map: HashMap<ClientKey, ClientCounts>,
    order: BTreeSet<(u64, ClientKey)>,
}

impl Tier {
    fn len(&self) -> usize {
        self.map.len()
    }

    fn insert(&mut self, k: ClientKey, c: ClientCounts) {
        let ts = c.last_seen_ns;
        if let Some(old) = self.map.insert(k, c) {
            self.order.remove(&(old.last_seen_ns, k));
        }
        self.order.insert((ts, k));
    }

    fn remove(&mut self, k: &ClientKey) -> Option<ClientCounts> {
        let c = self.map.remove(k)?;
        self.order.remove(&(c.last_seen_ns, *k));
        Some(c)
    }

    /// Removes the least recently seen entry.
    fn pop_oldest(&mut self) -> Option<ClientKey> {
        let (_, k) = self.order.pop_first()?;
        self.map.remove(&k);
        Some(k)
    }

    /// Removes every entry last seen before `cutoff`; returns how many.
    fn expire(&mut self, cutoff: u64) -> u64 {
        let mut n = 0;
        while let Some(&(ts, k)) = self.order.first() {
            if ts >= cutoff {
                break;
            }
            self.order.pop_first();
            self.map.remove(&k);
            n += 1;
        }
        n
    }
}

/// Settings of the per-client table.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// Legacy clients with series at once (0: no per-client series).
    pub max_clients: usize,
    /// Address or prefix.
    pub grouping: Grouping,
    /// Packet time (ns) without a connection after which a client is forgotten.
    pub idle_ns: u64,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            max_clients: DEFAULT_MAX_CLIENT_SERIES,
            grouping: Grouping::Address,
            idle_ns: DEFAULT_CLIENT_SERIES_IDLE_SECS.saturating_mul(1_000_000_000),
        }
    }
}

/// The bounded per-client table.
#[derive(Debug)]
pub struct ClientTable {
    cfg: ClientConfig,
    legacy: Tier,
    recent: Tier,
    newest_ns: u64,
    dropped: u64,
    expired: u64,
    history_dropped: u64,
    /// Policies counted per client.
    policies: Policies,
}

impl ClientTable {
    /// An empty table.
    pub fn new(cfg: ClientConfig) -> Self {
        ClientTable {
            cfg,
            policies: Policies::default(),
            legacy: Tier::default(),
            recent: Tier::default(),
            newest_ns: 0,
            dropped: 0,
            expired: 0,
            history_dropped: 0,
        }
    }

    /// Counts, per client, the hellos these policies would refuse.
    pub fn with_policies(mut self, policies: Policies) -> Self {
        self.policies = policies;
        self
    }

    /// Counts one settled connection (its census contribution, and the packet time of its
    /// last packet).
    pub fn record(&mut self, c: &Contribution<'_>, last_seen_ns: u64) {
        if self.cfg.max_clients == 0 {
            return;
        }
        self.advance(last_seen_ns);
        let k = ClientKey::new(c.client, self.cfg.grouping);
        let legacy = c.legacy;
        let contribution = c;
        if let Some(mut c) = self.legacy.remove(&k) {
            c.add(contribution, last_seen_ns, &self.policies);
            self.legacy.insert(k, c);
            return;
        }
        let mut c = self.recent.remove(&k).unwrap_or_default();
        c.add(contribution, last_seen_ns, &self.policies);
        if legacy {
            if self.legacy.len() >= self.cfg.max_clients && self.legacy.pop_oldest().is_some() {
                self.dropped += 1;
            }
            self.legacy.insert(k, c);
        } else {
            if self.recent.len() >= self.cfg.max_clients && self.recent.pop_oldest().is_some() {
                self.history_dropped += 1;
            }
            self.recent.insert(k, c);
        }
    }

    /// Packet time has reached `now_ns`: forgets clients idle for longer than the idle time.
    pub fn advance(&mut self, now_ns: u64) {
        if now_ns <= self.newest_ns {
            return;
        }
        self.newest_ns = now_ns;
        let cutoff = now_ns.saturating_sub(self.cfg.idle_ns);
        self.expired += self.legacy.expire(cutoff);
        self.recent.expire(cutoff);
    }

    /// Legacy clients with series now.
    pub fn len(&self) -> usize {
        self.legacy.len()
    }

    /// No legacy client has series.
    pub fn is_empty(&self) -> bool {
        self.legacy.len() == 0
    }

    /// Legacy clients dropped by the bound so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Legacy clients expired so far.
    pub fn expired(&self) -> u64 {
        self.expired
    }

    /// Non-legacy clients forgotten so far because the bound was reached (if one of them
    /// turns legacy, its series miss its earlier connections).
    pub fn history_dropped(&self) -> u64 {
        self.history_dropped
    }

    /// Non-legacy clients remembered now (never exported).
    pub fn recent_len(&self) -> usize {
        self.recent.len()
    }

    /// A copy of the legacy clients' counts, in client order, for rendering outside the lock.
    pub fn snapshot(&self, out: &mut Vec<(ClientKey, ClientCounts)>) {
        out.clear();
        out.extend(self.legacy.map.iter().map(|(k, c)| (*k, c.clone())));
        out.sort_unstable_by_key(|(k, _)| *k);
    }

    /// The counts of one client, if it has series.
    pub fn get(&self, k: &ClientKey) -> Option<&ClientCounts> {
        self.legacy.map.get(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::ConnSummary;
    use crate::tally::contribution;
    use crate::tls::facts::{Direction, HelloFacts};
    use crate::tls::{Version, VersionList};

    /// Records `s` as the metrics do: its census contribution (of client `ip`).
    fn rec(t: &mut ClientTable, ip: IpAddr, s: &ConnSummary) {
        let c = contribution(s).unwrap();
        assert_eq!(c.client, ip);
        t.record(&c, s.last_seen_ns);
    }

    const S: u64 = 1_000_000_000;

    fn conn(ip: &str, max: Version, negotiated: Option<Version>, t: u64) -> (IpAddr, ConnSummary) {
        let mut offered = VersionList::default();
        offered.push(max);
        (
            ip.parse().unwrap(),
            ConnSummary {
                client: ip.parse().ok(),
                hellos: vec![HelloFacts::with_offered(offered, max)],
                negotiated,
                alerts: if negotiated.is_none() {
                    vec![(70, Direction::FromServer)]
                } else {
                    vec![]
                },
                last_seen_ns: t,
                ..ConnSummary::default()
            },
        )
    }

    fn table(max: usize) -> ClientTable {
        ClientTable::new(ClientConfig {
            max_clients: max,
            idle_ns: 100 * S,
            ..ClientConfig::default()
        })
    }

    fn key(s: &str) -> ClientKey {
        ClientKey::new(s.parse().unwrap(), Grouping::Address)
    }

    #[test]
    fn only_legacy_clients_get_series_with_their_earlier_history() {
        let mut t = table(10);
        let (ip, s) = conn("10.0.0.1", Version::TLS13, Some(Version::TLS13), S);
        rec(&mut t, ip, &s);
        assert!(t.is_empty());
        assert_eq!(t.recent_len(), 1);
        let (ip, s) = conn("10.0.0.1", Version::TLS10, None, 2 * S);
        rec(&mut t, ip, &s);
        let c = t.get(&key("10.0.0.1")).unwrap();
        assert_eq!(c.hellos[VersionLabel::Tls13.index()], 1);
        assert_eq!(c.hellos[VersionLabel::Tls10.index()], 1);
        assert_eq!(c.negotiated[VersionLabel::Tls13.index()], 1);
        assert_eq!(c.failed, 1);
        assert_eq!(c.alerts, vec![(AlertLabel::of(70), 1)]);
        assert_eq!(c.last_seen_ns, 2 * S);
        assert_eq!(t.recent_len(), 0);
        // Later modern connections still count for a legacy client.
        let (ip, s) = conn("10.0.0.1", Version::TLS13, Some(Version::TLS13), 3 * S);
        rec(&mut t, ip, &s);
        assert_eq!(
            t.get(&key("10.0.0.1")).unwrap().hellos.iter().sum::<u64>(),
            3
        );
    }

    #[test]
    fn the_bound_evicts_the_least_recently_seen_and_counts_it() {
        let mut t = table(2);
        for (i, ip) in ["10.0.0.1", "10.0.0.2", "10.0.0.3"].iter().enumerate() {
            let (ip, s) = conn(ip, Version::TLS11, Some(Version::TLS11), (i as u64 + 1) * S);
            rec(&mut t, ip, &s);
        }
        assert_eq!(t.len(), 2);
        assert_eq!(t.dropped(), 1);
        assert!(t.get(&key("10.0.0.1")).is_none());
        // Seen again, .2 becomes the most recent; .3 is evicted next.
        let (ip, s) = conn("10.0.0.2", Version::TLS11, Some(Version::TLS11), 5 * S);
        rec(&mut t, ip, &s);
        let (ip, s) = conn("10.0.0.4", Version::TLS11, Some(Version::TLS11), 6 * S);
        rec(&mut t, ip, &s);
        assert!(t.get(&key("10.0.0.3")).is_none());
        assert!(t.get(&key("10.0.0.2")).is_some());
        assert_eq!(t.dropped(), 2);
        // The remembered non-legacy clients are bounded the same way, and counted.
        for (i, ip) in ["10.1.0.1", "10.1.0.2", "10.1.0.3"].iter().enumerate() {
            let (ip, s) = conn(ip, Version::TLS13, Some(Version::TLS13), (i as u64 + 7) * S);
            rec(&mut t, ip, &s);
        }
        assert_eq!((t.recent_len(), t.history_dropped()), (2, 1));
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn idle_clients_expire_on_packet_time() {
        let mut t = table(10);
        let (ip, s) = conn("10.0.0.1", Version::SSL3, Some(Version::SSL3), S);
        rec(&mut t, ip, &s);
        let (ip, s) = conn("10.0.0.2", Version::TLS13, Some(Version::TLS13), S);
        rec(&mut t, ip, &s);
        t.advance(100 * S);
        assert_eq!((t.len(), t.recent_len()), (1, 1), "not yet idle for 100 s");
        t.advance(102 * S);
        assert_eq!((t.len(), t.recent_len(), t.expired()), (0, 0, 1));
        // Time never goes back: an older timestamp changes nothing.
        t.advance(50 * S);
        assert_eq!(t.expired(), 1);
    }

    #[test]
    fn prefixes_group_clients() {
        let g = Grouping::Prefix { v4: 24, v6: 64 };
        let k = ClientKey::new("10.1.2.3".parse().unwrap(), g);
        assert_eq!(k.to_string(), "10.1.2.0/24");
        let k6 = ClientKey::new("2001:db8:1:2:3:4:5:6".parse().unwrap(), g);
        assert_eq!(k6.to_string(), "2001:db8:1:2::/64");
        let all = Grouping::Prefix { v4: 0, v6: 0 };
        assert_eq!(
            ClientKey::new("10.1.2.3".parse().unwrap(), all).to_string(),
            "0.0.0.0/0"
        );
        let exact = Grouping::Prefix { v4: 32, v6: 128 };
        assert_eq!(
            ClientKey::new("10.1.2.3".parse().unwrap(), exact).to_string(),
            "10.1.2.3/32"
        );
        let mut t = ClientTable::new(ClientConfig {
            grouping: g,
            ..ClientConfig::default()
        });
        for ip in ["10.1.2.3", "10.1.2.200"] {
            let (ip, s) = conn(ip, Version::TLS10, Some(Version::TLS10), S);
            rec(&mut t, ip, &s);
        }
        assert_eq!(t.len(), 1);
        assert_eq!(
            t.get(&k).unwrap().negotiated[VersionLabel::Tls10.index()],
            2
        );
    }

    #[test]
    fn zero_bound_keeps_nothing() {
        let mut t = table(0);
        let (ip, s) = conn("10.0.0.1", Version::TLS10, None, S);
        rec(&mut t, ip, &s);
        assert_eq!((t.len(), t.recent_len(), t.dropped()), (0, 0, 0));
    }
}
