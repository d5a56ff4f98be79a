//! Policy what-if: which hellos (and clients) would a server refuse if it enforced a minimum
//! TLS version today?
//!
//! A hello passes `min=V` when it offers a version at or above `V` (protocol order: the
//! highest non-GREASE `supported_versions` entry, else `legacy_version`; an SSLv2-format hello
//! offers its version field; a hello offering nothing passes no policy). A refused hello that
//! carries TLS_FALLBACK_SCSV (RFC 7507) is a **fallback retry**: the client only sent it
//! because a better attempt had failed, so it is counted apart and does not make the client a
//! legacy-only client.
//!
//! The census keeps what the evaluation needs per client (hellos by highest offered version,
//! and the same for fallback hellos), so any policy can be evaluated after the fact — for a
//! replay, a live census or reports merged from several sensors — and the evaluation is
//! associative like the census itself.

use crate::tally::{Census, ClientBrief, ClientTally, OFFERED_NOTHING, ServerTally};

use crate::flow::ConnSummary;

use crate::tls::Version;
use crate::tls::facts::HelloFacts;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Most `--policy` values accepted (each one is a metric label value).
pub const MAX_POLICIES: usize = 8;

/// A server policy: refuse every hello that cannot reach `min`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Policy {
    /// Lowest version the server accepts.
    pub min: Version,
}

/// A policy string that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown policy '{0}': expected min=VERSION with VERSION one of sslv3, tls1.0, tls1.1, tls1.2, tls1.3"
)]
pub struct PolicyError(pub String);

impl FromStr for Policy {
    type Err = PolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let min = s
            .strip_prefix("min=")
            .and_then(Version::from_name)
            .filter(|v| v.known_name().is_some() && *v >= Version::SSL3)
            .ok_or_else(|| PolicyError(s.to_string()))?;
        Ok(Policy { min })
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "min={}", self.min)
    }
}

/// At most [`MAX_POLICIES`] policies in the order given: a `Copy` set for configurations.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Policies {
    items: [Option<Policy>; MAX_POLICIES],
}

impl Policies {
    /// The first [`MAX_POLICIES`] of `list`.
    pub fn new(list: &[Policy]) -> Self {
        let mut p = Policies::default();
        for (slot, v) in p.items.iter_mut().zip(list) {
            *slot = Some(*v);
        }
        p
    }

    /// The policies, with their position (a stable index below [`MAX_POLICIES`]).
    pub fn iter(&self) -> impl Iterator<Item = (usize, Policy)> + '_ {
        self.items
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.map(|p| (i, p)))
    }

    /// No policy.
    pub fn is_empty(&self) -> bool {
        self.items.iter().all(Option::is_none)
    }
}

/// What a server enforcing a policy would do with one hello.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Accepted.
    Pass,
    /// Refused.
    WouldFail,
    /// Refused, but the hello is a fallback retry (TLS_FALLBACK_SCSV).
    FallbackRetry,
}

impl Verdict {
    /// Label value.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::WouldFail => "would_fail",
            Verdict::FallbackRetry => "fallback_retry",
        }
    }
}

impl Policy {
    /// Whether a hello offering at most `offered_max` passes. A DTLS version is compared by
    /// its TLS equivalent ([`Version::tls_equivalent`]: DTLS 1.0 ≈ TLS 1.1, DTLS 1.2 ≈ TLS 1.2,
    /// DTLS 1.3 ≈ TLS 1.3), so `min=tls1.2` refuses DTLS 1.0.
    pub fn accepts(&self, offered_max: Option<Version>) -> bool {
        offered_max.is_some_and(|v| v.tls_equivalent() >= self.min)
    }

    /// The verdict on one hello.
    pub fn verdict(&self, h: &HelloFacts) -> Verdict {
        if self.accepts(h.offered_max) {
            Verdict::Pass
        } else if h.fallback_scsv {
            Verdict::FallbackRetry
        } else {
            Verdict::WouldFail
        }
    }

    /// The verdict on a connection: its worst hello (`None` without hellos).
    pub fn conn_verdict(&self, s: &ConnSummary) -> Option<Verdict> {
        let mut out = None;
        for h in &s.hellos {
            let v = self.verdict(h);
            out = match (out, v) {
                (_, Verdict::WouldFail) | (Some(Verdict::WouldFail), _) => Some(Verdict::WouldFail),
                (_, Verdict::FallbackRetry) | (Some(Verdict::FallbackRetry), _) => {
                    Some(Verdict::FallbackRetry)
                }
                _ => Some(Verdict::Pass),
            };
        }
        out
    }

    /// Hellos among `m` (hellos by highest offered version) that this policy refuses.
    fn refused(&self, m: &BTreeMap<Version, u64>) -> u64 {
        m.iter()
            .filter(|(v, _)| !self.accepts(Some(**v)))
            .map(|(_, n)| n)
            .sum()
    }
}

/// How a client as a whole fares under a policy.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// No hellos from this client.
    NoHellos,
    /// Every hello passes.
    Pass,
    /// Only fallback retries would be refused: the client is not legacy-only.
    FallbackOnly,
    /// Some hellos would be refused, others pass (several programs behind one address, or
    /// a program that sometimes offers less).
    Partial,
    /// Every hello that is not a fallback retry would be refused.
    Fail,
}

impl Status {
    /// Report value.
    pub fn name(self) -> &'static str {
        match self {
            Status::NoHellos => "no_hellos",
            Status::Pass => "pass",
            Status::FallbackOnly => "fallback_only",
            Status::Partial => "partial",
            Status::Fail => "fail",
        }
    }
}

/// A client's (or the totals') hellos under one policy.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientPolicy {
    /// Hellos that would be refused and are not fallback retries.
    pub hellos_would_fail: u64,
    /// Refused hellos carrying TLS_FALLBACK_SCSV.
    pub fallback_retries: u64,
    /// Hellos that pass.
    pub hellos_pass: u64,
}

impl ClientPolicy {
    /// Evaluates a tally.
    pub fn of(t: &ClientTally, p: &Policy) -> Self {
        let listed: u64 = t.offered_max.values().sum();
        let listed_fb: u64 = t.fallback_offered_max.values().sum();
        // Hellos offering nothing (supported_versions listing only GREASE) pass no policy.
        let refused_all = p.refused(&t.offered_max) + t.hellos.saturating_sub(listed);
        let refused_fb =
            p.refused(&t.fallback_offered_max) + t.fallback_hellos.saturating_sub(listed_fb);
        ClientPolicy {
            hellos_would_fail: refused_all.saturating_sub(refused_fb),
            fallback_retries: refused_fb,
            hellos_pass: t.hellos.saturating_sub(refused_all),
        }
    }

    /// A server's client ([`ClientBrief`]): which kinds of hellos it sent there, each
    /// counted once (the brief keeps sets, not counts), which is all its status depends on.
    pub fn of_brief(b: &ClientBrief, p: &Policy) -> Self {
        let refused = |bits: u8| {
            bits & OFFERED_NOTHING != 0 || ClientBrief::steps(bits).any(|v| !p.accepts(Some(v)))
        };
        let passes = |bits: u8| ClientBrief::steps(bits).any(|v| p.accepts(Some(v)));
        ClientPolicy {
            hellos_would_fail: u64::from(refused(b.offered)),
            fallback_retries: u64::from(refused(b.fallback_offered)),
            hellos_pass: u64::from(passes(b.offered) || passes(b.fallback_offered)),
        }
    }

    /// The client's status.
    pub fn status(&self) -> Status {
        match (
            self.hellos_would_fail,
            self.fallback_retries,
            self.hellos_pass,
        ) {
            (0, 0, 0) => Status::NoHellos,
            (0, 0, _) => Status::Pass,
            (0, _, _) => Status::FallbackOnly,
            (_, _, 0) => Status::Fail,
            _ => Status::Partial,
        }
    }

    /// Some of the client's handshakes (not counting fallback retries) would be refused.
    pub fn client_would_fail(&self) -> bool {
        self.hellos_would_fail > 0
    }
}

/// A census under one policy.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct CensusPolicy {
    /// Over all hellos (clients beyond the census bound included).
    pub hellos: ClientPolicy,
    /// Clients with [`ClientPolicy::client_would_fail`].
    pub clients_would_fail: u64,
    /// Clients whose every non-fallback hello would be refused ([`Status::Fail`]).
    pub clients_fail_entirely: u64,
    /// Clients of whom only fallback retries would be refused.
    pub clients_fallback_only: u64,
}

impl CensusPolicy {
    /// Evaluates a census.
    pub fn of(c: &Census, p: &Policy) -> Self {
        Self::over(
            &c.totals,
            c.clients.values().map(|t| ClientPolicy::of(t, p)),
            p,
        )
    }

    /// Evaluates one server's census: what would fail if this server enforced `p`.
    pub fn of_server(s: &ServerTally, p: &Policy) -> Self {
        Self::over(
            &s.totals,
            s.clients.values().map(|b| ClientPolicy::of_brief(b, p)),
            p,
        )
    }

    /// The totals' verdict and the count of each client status.
    fn over(totals: &ClientTally, clients: impl Iterator<Item = ClientPolicy>, p: &Policy) -> Self {
        let mut out = CensusPolicy {
            hellos: ClientPolicy::of(totals, p),
            ..CensusPolicy::default()
        };
        for cp in clients {
            match cp.status() {
                Status::Fail => {
                    out.clients_would_fail += 1;
                    out.clients_fail_entirely += 1;
                }
                Status::Partial => out.clients_would_fail += 1,
                Status::FallbackOnly => out.clients_fallback_only += 1,
                Status::Pass | Status::NoHellos => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::VersionList;
    use std::net::IpAddr;

    fn hello(max: Version, scsv: bool) -> HelloFacts {
        let mut l = VersionList::default();
        l.push(max);
        let mut h = HelloFacts::with_offered(l, max);
        h.fallback_scsv = scsv;
        h
    }

    fn conn(ip: &str, hellos: Vec<HelloFacts>) -> ConnSummary {
        ConnSummary {
            client: ip.parse::<IpAddr>().ok(),
            hellos,
            ..ConnSummary::default()
        }
    }

    #[test]
    fn dtls_versions_are_judged_by_their_tls_equivalent() {
        let p: Policy = "min=tls1.2".parse().unwrap();
        assert!(!p.accepts(Some(Version::DTLS10)));
        assert!(!p.accepts(Some(Version(0x0100))));
        assert!(p.accepts(Some(Version::DTLS12)) && p.accepts(Some(Version::DTLS13)));
        let p13: Policy = "min=tls1.3".parse().unwrap();
        assert!(!p13.accepts(Some(Version::DTLS12)) && p13.accepts(Some(Version::DTLS13)));
        let m = BTreeMap::from([
            (Version::DTLS10, 2),
            (Version::DTLS12, 3),
            (Version::TLS11, 1),
        ]);
        assert_eq!(p.refused(&m), 3);
    }

    #[test]
    fn parses_and_prints() {
        let p: Policy = "min=tls1.2".parse().unwrap();
        assert_eq!(p.min, Version::TLS12);
        assert_eq!(p.to_string(), "min=tls1.2");
        for bad in [
            "tls1.2",
            "min=tls9",
            "min=0x7f1c",
            "max=tls1.2",
            "min=sslv2",
            "",
        ] {
            assert!(bad.parse::<Policy>().is_err(), "{bad}");
        }
    }

    #[test]
    fn verdicts() {
        let p: Policy = "min=tls1.2".parse().unwrap();
        assert_eq!(p.verdict(&hello(Version::TLS13, false)), Verdict::Pass);
        assert_eq!(p.verdict(&hello(Version::TLS12, false)), Verdict::Pass);
        assert_eq!(p.verdict(&hello(Version::TLS11, false)), Verdict::WouldFail);
        assert_eq!(
            p.verdict(&hello(Version::TLS10, true)),
            Verdict::FallbackRetry
        );
        // A draft-only client passes min=tls1.2 but not min=tls1.3.
        assert_eq!(p.verdict(&hello(Version(0x7f1c), false)), Verdict::Pass);
        let p13: Policy = "min=tls1.3".parse().unwrap();
        assert_eq!(
            p13.verdict(&hello(Version(0x7f1c), false)),
            Verdict::WouldFail
        );
        // Nothing offered (GREASE-only supported_versions): refused.
        let none = HelloFacts::with_offered(VersionList::default(), Version::TLS12);
        assert_eq!(p.verdict(&none), Verdict::WouldFail);
    }

    #[test]
    fn clients_fail_partly_entirely_or_only_through_fallback_retries() {
        let p: Policy = "min=tls1.2".parse().unwrap();
        let mut c = Census::default();
        // Modern client.
        c.add(&conn("10.0.0.1", vec![hello(Version::TLS13, false)]));
        // Legacy-only client.
        c.add(&conn("10.0.0.2", vec![hello(Version::TLS10, false)]));
        c.add(&conn("10.0.0.2", vec![hello(Version::TLS11, false)]));
        // A modern attempt, then a fallback retry offering TLS 1.0 with SCSV.
        c.add(&conn("10.0.0.3", vec![hello(Version::TLS12, false)]));
        c.add(&conn("10.0.0.3", vec![hello(Version::TLS10, true)]));
        // Only a fallback retry was captured.
        c.add(&conn("10.0.0.4", vec![hello(Version::TLS10, true)]));
        // Two programs behind one address.
        c.add(&conn("10.0.0.5", vec![hello(Version::TLS13, false)]));
        c.add(&conn("10.0.0.5", vec![hello(Version::SSL3, false)]));
        let st = |ip: &str| {
            let t = &c.clients[&ip.parse::<IpAddr>().unwrap()];
            ClientPolicy::of(t, &p)
        };
        assert_eq!(st("10.0.0.1").status(), Status::Pass);
        assert_eq!(
            st("10.0.0.2"),
            ClientPolicy {
                hellos_would_fail: 2,
                fallback_retries: 0,
                hellos_pass: 0
            }
        );
        assert_eq!(st("10.0.0.2").status(), Status::Fail);
        assert_eq!(st("10.0.0.3").status(), Status::FallbackOnly);
        assert_eq!(st("10.0.0.4").status(), Status::FallbackOnly);
        assert!(!st("10.0.0.4").client_would_fail());
        assert_eq!(st("10.0.0.5").status(), Status::Partial);
        let t = CensusPolicy::of(&c, &p);
        assert_eq!(t.hellos.hellos_would_fail, 3);
        assert_eq!(t.hellos.fallback_retries, 2);
        assert_eq!(t.hellos.hellos_pass, 3);
        assert_eq!(
            (
                t.clients_would_fail,
                t.clients_fail_entirely,
                t.clients_fallback_only
            ),
            (2, 1, 2)
        );
        // Per-hello verdicts agree with the census evaluation.
        let p13: Policy = "min=tls1.3".parse().unwrap();
        let t13 = CensusPolicy::of(&c, &p13);
        assert_eq!(t13.hellos.hellos_pass, 2);
        assert_eq!(t13.hellos.hellos_would_fail, 4);
        assert_eq!(t13.hellos.fallback_retries, 2);
    }

    #[test]
    fn connection_verdict_is_its_worst_hello() {
        let p: Policy = "min=tls1.2".parse().unwrap();
        let c = conn(
            "10.0.0.1",
            vec![hello(Version::TLS12, false), hello(Version::TLS10, true)],
        );
        assert_eq!(p.conn_verdict(&c), Some(Verdict::FallbackRetry));
        assert_eq!(p.conn_verdict(&conn("10.0.0.1", vec![])), None);
    }

    proptest::proptest! {
        /// A server's clients are kept as briefs (sets of policy steps, not counts): every
        /// policy's client counts over them equal those over whole client tallies.
        #[test]
        fn server_briefs_give_the_client_census_verdicts(
            conns in proptest::collection::vec(
                (0u8..4, proptest::collection::vec((0usize..9, proptest::bool::ANY), 0..3)),
                1..12,
            )
        ) {
            const VS: [u16; 9] = [0x0002, 0x0300, 0x0301, 0x0302, 0x0303, 0x7f1c, 0x0304, 0xfeff, 0xfefd];
            let server = crate::wire::Endpoint { ip: [192, 0, 2, 5].into(), port: 443 };
            let mut c = Census::default();
            for (client, hs) in &conns {
                let mut s = conn(
                    &format!("10.0.0.{client}"),
                    hs.iter().map(|(v, scsv)| hello(Version(VS[*v]), *scsv)).collect(),
                );
                s.server_endpoint = Some(server);
                c.add(&s);
            }
            let Some(srv) = c.servers.get(&std::net::SocketAddr::new(server.ip, server.port)) else {
                proptest::prop_assert_eq!(c.connections, 0);
                return Ok(());
            };
            for min in ["min=sslv3", "min=tls1.0", "min=tls1.1", "min=tls1.2", "min=tls1.3"] {
                let p: Policy = min.parse().unwrap();
                proptest::prop_assert_eq!(CensusPolicy::of_server(srv, &p), CensusPolicy::of(&c, &p));
            }
        }
    }
}
