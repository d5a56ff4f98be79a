//! The event schema: a settled connection as one JSON line. Fields follow the Elastic Common
//! Schema where it has one (`@timestamp`, `event.*`, `source.*`, `destination.*`,
//! `network.*`, `tls.*`); hellowatch's own facts are under `hellowatch.*`. The schema is
//! documented in the README ("Event log") and held by `tests/events.rs`.
//!
//! Pure: serialisation into a caller's buffer, no I/O.

use super::community_id::{self, CommunityId};
use crate::flow::ConnSummary;
use crate::policy::{Policy, Verdict};
use crate::tally::HandshakeOutcome;
use crate::tls::facts::ALERT_FATAL;
use crate::tls::facts::{Direction, HelloFacts, ServerFacts};
use crate::tls::{Version, alert_name};
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde_json::value::RawValue;
use std::fmt;
use std::io::{self, Write};
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use crate::tally::CertStatus;
use crate::tls::certificate::{CertProblem, LeafFacts, ProblemSet};
use crate::tls::cipher::{CipherClass, CipherName, ClassSet};
use crate::tls::group::{Group, GroupSet};

/// Value of `event.dataset`.
pub const DATASET: &str = "hellowatch.handshake";

/// The Community ID seed of `network.community_id`: 0, the default of Zeek, Suricata and
/// Elastic's processors, so their identifiers of a connection match hellowatch's.
pub const COMMUNITY_ID_SEED: u16 = 0;

/// Distinct cipher suite lists whose JSON is kept per worker (then the cache starts over).
pub const CIPHER_LIST_CACHE: usize = 1024;

/// Cipher suite names already looked up, and the JSON of recent cipher suite lists: most
/// connections offer one of a few lists, and writing a cached list skips both the name
/// lookups and JSON string escaping. Also the policies' names.
#[derive(Debug, Default)]
pub(super) struct Names {
    ciphers: std::collections::HashMap<u16, CipherName, foldhash::fast::RandomState>,
    lists: std::collections::HashMap<Box<[u16]>, Box<RawValue>, foldhash::fast::RandomState>,
    policies: Vec<String>,
}

impl Names {
    /// An empty cache for `policies`.
    pub(super) fn new(policies: &[Policy]) -> Self {
        Names {
            policies: policies.iter().map(Policy::to_string).collect(),
            ..Names::default()
        }
    }

    fn cipher(&mut self, id: u16) -> CipherName {
        *self.ciphers.entry(id).or_insert_with(|| CipherName::of(id))
    }

    /// Makes sure the JSON array of the names of `ids` is cached.
    fn prepare(&mut self, ids: &[u16]) {
        if self.lists.contains_key(ids) {
            return;
        }
        if self.lists.len() >= CIPHER_LIST_CACHE {
            self.lists.clear();
        }
        let names: Vec<CipherName> = ids.iter().map(|c| self.cipher(*c)).collect();
        if let Some(raw) = serde_json::to_string(&names)
            .ok()
            .and_then(|j| RawValue::from_string(j).ok())
        {
            self.lists.insert(ids.into(), raw);
        }
    }

    /// The cached JSON array of the names of `ids` (after [`Names::prepare`]).
    fn list(&self, ids: &[u16]) -> Option<&RawValue> {
        self.lists.get(ids).map(|r| &**r)
    }
}

/// One event line as a borrowed view of a settled connection.
struct Event<'a> {
    s: &'a ConnSummary,
    policies: &'a [Policy],
    /// Names of `policies`, same order.
    policy_names: &'a [String],
    /// JSON array of the names of the first hello's cipher suites.
    client_ciphers: Option<&'a RawValue>,
    server_cipher: Option<CipherName>,
    outcome: HandshakeOutcome,
    start: Ts,
}

impl<'a> Event<'a> {
    fn new(
        s: &'a ConnSummary,
        policies: &'a [Policy],
        names: &'a Names,
        server_cipher: Option<CipherName>,
    ) -> Self {
        Event {
            s,
            policies,
            policy_names: &names.policies,
            client_ciphers: names.list(s.hellos.first().map_or(&[][..], |h| &h.ciphers)),
            server_cipher,
            outcome: HandshakeOutcome::of(s),
            start: Ts::new(s.first_seen_ns),
        }
    }
}

/// A packet time as RFC 3339 UTC with microseconds (`2023-11-14T22:13:20.123456Z`).
#[derive(Copy, Clone)]
struct Ts {
    text: [u8; 32],
    len: usize,
}

impl Ts {
    fn new(ns: u64) -> Self {
        let t = SystemTime::UNIX_EPOCH + Duration::from_nanos(ns);
        let mut text = [0u8; 32];
        let mut cur = io::Cursor::new(&mut text[..]);
        let len = match write!(cur, "{}", humantime::format_rfc3339_micros(t)) {
            Ok(()) => usize::try_from(cur.position()).unwrap_or(0),
            Err(_) => 0,
        };
        Ts { text, len }
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(self.text.get(..self.len).unwrap_or(&[])).unwrap_or_default()
    }
}

impl Serialize for Ts {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(self.as_str())
    }
}

/// A version by its census name (`tls1.2`, `0x7f1c`).
struct V(Version);

impl Serialize for V {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        ser.collect_str(&self.0)
    }
}

/// ECS `tls.version` / `tls.version_protocol` of a version (`None` for drafts and unknown
/// values, which only appear under `hellowatch.*`).
fn ecs_version(v: Version) -> Option<(&'static str, &'static str)> {
    v.named().map(|n| (n.ecs_version, n.ecs_protocol))
}

struct EcsEndpoint(Option<crate::wire::Endpoint>);

impl Serialize for EcsEndpoint {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let mut m = ser.serialize_map(None)?;
        if let Some(e) = self.0 {
            m.serialize_entry("ip", &e.ip)?;
            m.serialize_entry("port", &e.port)?;
        }
        m.end()
    }
}

/// `source` of a connection behind a PROXY protocol header: the sender, also as `nat.ip`.
struct NatSource(Option<crate::wire::Endpoint>);

impl Serialize for NatSource {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let mut m = ser.serialize_map(None)?;
        if let Some(e) = self.0 {
            m.serialize_entry("ip", &e.ip)?;
            m.serialize_entry("port", &e.port)?;
            m.serialize_entry("nat", &IpOnly(e.ip))?;
        }
        m.end()
    }
}

/// `{"ip": …}`.
struct IpOnly(IpAddr);

impl Serialize for IpOnly {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let mut m = ser.serialize_map(Some(1))?;
        m.serialize_entry("ip", &self.0)?;
        m.end()
    }
}

/// A hello's `server_name`, `ja3` and `ja4`, each when known.
fn names_of<M: SerializeMap>(m: &mut M, h: &HelloFacts) -> Result<(), M::Error> {
    if let Some(n) = &h.server_name {
        m.serialize_entry("server_name", n)?;
    }
    if let Some(f) = &h.ja3 {
        m.serialize_entry("ja3", f.as_str())?;
    }
    if let Some(f) = &h.ja4 {
        m.serialize_entry("ja4", f.as_str())?;
    }
    Ok(())
}

/// ECS `tls.client` from the first hello.
struct TlsClient<'a>(&'a HelloFacts, Option<&'a RawValue>);

impl Serialize for TlsClient<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let h = self.0;
        let mut m = ser.serialize_map(None)?;
        names_of(&mut m, h)?;
        match self.1 {
            Some(raw) => m.serialize_entry("supported_ciphers", raw)?,
            None => m.serialize_entry("supported_ciphers", &[] as &[&str])?,
        }
        m.end()
    }
}

struct Tls<'a>(&'a Event<'a>);

impl Serialize for Tls<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let e = self.0;
        let mut m = ser.serialize_map(None)?;
        m.serialize_entry("established", &(e.outcome == HandshakeOutcome::Established))?;
        if let Some((v, p)) = e.s.negotiated.and_then(ecs_version) {
            m.serialize_entry("version", v)?;
            m.serialize_entry("version_protocol", p)?;
        }
        if let (Some(sh), Some(c)) = (e.s.server_hello, e.server_cipher) {
            if !sh.sslv2_format {
                m.serialize_entry("cipher", &c)?;
            }
        }
        if let Some(g) = e.s.server_hello.and_then(|sh| sh.group) {
            m.serialize_entry("curve", g.name())?;
        }
        if let Some(h) = e.s.hellos.first() {
            m.serialize_entry("client", &TlsClient(h, e.client_ciphers))?;
        }
        if let Some(leaf) = e.s.certificate.as_deref() {
            m.serialize_entry("server", &TlsServer(leaf))?;
        }
        m.end()
    }
}

/// ECS `tls.server` from the server's leaf certificate (TLS ≤ 1.2).
struct TlsServer<'a>(&'a LeafFacts);

impl Serialize for TlsServer<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let l = self.0;
        let mut m = ser.serialize_map(None)?;
        m.serialize_entry("hash", &Sha256Upper(l))?;
        m.serialize_entry("not_before", &crate::report::time::rfc3339_s(l.not_before))?;
        m.serialize_entry("not_after", &crate::report::time::rfc3339_s(l.not_after))?;
        m.serialize_entry("x509", &X509(l))?;
        m.end()
    }
}

/// `{"sha256": "0687F6…"}` (ECS writes hashes in upper case).
struct Sha256Upper<'a>(&'a LeafFacts);

impl Serialize for Sha256Upper<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let mut m = ser.serialize_map(Some(1))?;
        m.serialize_entry("sha256", &self.0.sha256_hex().to_uppercase())?;
        m.end()
    }
}

/// ECS `tls.server.x509`.
struct X509<'a>(&'a LeafFacts);

impl Serialize for X509<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let l = self.0;
        let mut m = ser.serialize_map(None)?;
        if let Some(cn) = &l.subject_cn {
            m.serialize_entry("subject", &CommonName(cn))?;
        }
        m.serialize_entry("public_key_algorithm", l.key_type.name())?;
        if l.key_bits > 0 {
            m.serialize_entry("public_key_size", &l.key_bits)?;
        }
        m.serialize_entry("signature_algorithm", &*l.signature_algorithm)?;
        m.serialize_entry("not_before", &crate::report::time::rfc3339_s(l.not_before))?;
        m.serialize_entry("not_after", &crate::report::time::rfc3339_s(l.not_after))?;
        m.end()
    }
}

/// `{"common_name": ["…"]}` (an array in ECS).
struct CommonName<'a>(&'a str);

impl Serialize for CommonName<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let mut m = ser.serialize_map(Some(1))?;
        m.serialize_entry("common_name", &[self.0])?;
        m.end()
    }
}

/// `hellowatch.certificate`: what the connection showed of the server's certificate.
struct Certificate<'a>(&'a ConnSummary, CertStatus);

impl Serialize for Certificate<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let (s, status) = (self.0, self.1);
        let mut m = ser.serialize_map(None)?;
        m.serialize_entry("status", status.name())?;
        if let Some(l) = s.certificate.as_deref() {
            m.serialize_entry("san_count", &l.san_count)?;
            m.serialize_entry("self_signed", &l.self_signed)?;
            m.serialize_entry("signature_hash", l.signature_hash.name())?;
            let problems = l.problems_at(crate::tally::certs::handshake_secs(s));
            m.serialize_entry("problems", &Problems(problems))?;
        }
        m.end()
    }
}

/// Certificate problems by name, in their order.
struct Problems(ProblemSet);

impl Serialize for Problems {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        ser.collect_seq(self.0.iter().map(CertProblem::name))
    }
}

/// Cipher weakness classes by name, in their order.
struct Classes(ClassSet);

impl Serialize for Classes {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        ser.collect_seq(self.0.iter().map(CipherClass::name))
    }
}

/// Groups by name, in table order.
struct Groups(GroupSet);

impl Serialize for Groups {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        ser.collect_seq(self.0.iter().map(Group::name))
    }
}

struct Versions<'a>(&'a [Version]);

impl Serialize for Versions<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let mut seq = ser.serialize_seq(Some(self.0.len()))?;
        for v in self.0 {
            seq.serialize_element(&V(*v))?;
        }
        seq.end()
    }
}

struct Hello<'a>(&'a HelloFacts, &'a [Policy], &'a [String]);

impl Serialize for Hello<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let h = self.0;
        let mut m = ser.serialize_map(None)?;
        m.serialize_entry("offered_versions", &Versions(h.offered.as_slice()))?;
        if let Some(v) = h.offered_max {
            m.serialize_entry("offered_max", &V(v))?;
        }
        m.serialize_entry("legacy_version", &V(h.legacy_version))?;
        if let Some(v) = h.record_version {
            m.serialize_entry("record_version", &V(v))?;
        }
        m.serialize_entry("sslv2_format", &h.sslv2_format)?;
        m.serialize_entry("fallback_scsv", &h.fallback_scsv)?;
        names_of(&mut m, h)?;
        m.serialize_entry("cipher_count", &h.cipher_count)?;
        m.serialize_entry("offered_weak", &Classes(h.offered_weak))?;
        m.serialize_entry("groups_offered", &Groups(h.groups_offered))?;
        m.serialize_entry("key_shares", &Groups(h.key_shares))?;
        if !self.1.is_empty() {
            m.serialize_entry(
                "policy",
                &PolicyMap(self.1, self.2, |p: &Policy| Some(p.verdict(h))),
            )?;
        }
        m.end()
    }
}

struct Hellos<'a>(&'a [HelloFacts], &'a [Policy], &'a [String]);

impl Serialize for Hellos<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let mut seq = ser.serialize_seq(Some(self.0.len()))?;
        for h in self.0 {
            seq.serialize_element(&Hello(h, self.1, self.2))?;
        }
        seq.end()
    }
}

/// `{"min=tls1.2": "would_fail", …}`.
struct PolicyMap<'a, F>(&'a [Policy], &'a [String], F);

impl<F: Fn(&Policy) -> Option<Verdict>> Serialize for PolicyMap<'_, F> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let mut m = ser.serialize_map(None)?;
        for (p, name) in self.0.iter().zip(self.1) {
            if let Some(v) = (self.2)(p) {
                m.serialize_entry(name, v.name())?;
            }
        }
        m.end()
    }
}

struct Server(ServerFacts, Option<CipherName>);

impl Serialize for Server {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let sh = &self.0;
        let mut m = ser.serialize_map(None)?;
        m.serialize_entry("negotiated", &V(sh.version))?;
        m.serialize_entry("legacy_version", &V(sh.legacy_version))?;
        if let (false, Some(c)) = (sh.sslv2_format, &self.1) {
            m.serialize_entry("cipher", c)?;
            m.serialize_entry("cipher_classes", &Classes(ClassSet::of(sh.cipher)))?;
        }
        if let Some(g) = sh.group {
            m.serialize_entry("group", g.name())?;
        }
        m.serialize_entry("downgrade_sentinel", &sh.downgrade_sentinel)?;
        m.serialize_entry("sslv2_format", &sh.sslv2_format)?;
        m.end()
    }
}

struct AlertName(u8);

impl fmt::Display for AlertName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match alert_name(self.0) {
            Some(n) => f.write_str(n),
            None => write!(f, "unassigned_{}", self.0),
        }
    }
}

struct Alerts<'a>(&'a ConnSummary);

impl Serialize for Alerts<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let s = self.0;
        let mut seq = ser.serialize_seq(Some(s.alerts.len()))?;
        for (i, (desc, dir)) in s.alerts.iter().enumerate() {
            let level = s.alert_levels.get(i).copied().unwrap_or(0);
            seq.serialize_element(&Alert {
                from: match dir {
                    Direction::FromClient => "client",
                    Direction::FromServer => "server",
                },
                level: match level {
                    ALERT_FATAL => "fatal",
                    _ => "warning",
                },
                description: AlertName(*desc),
            })?;
        }
        seq.end()
    }
}

struct Alert {
    from: &'static str,
    level: &'static str,
    description: AlertName,
}

impl Serialize for Alert {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let mut m = ser.serialize_map(Some(3))?;
        m.serialize_entry("from", self.from)?;
        m.serialize_entry("level", self.level)?;
        m.serialize_entry("description", &Display(&self.description))?;
        m.end()
    }
}

/// Serialises any `Display` as a string without allocating.
struct Display<'a, T: fmt::Display>(&'a T);

impl<T: fmt::Display> Serialize for Display<'_, T> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        ser.collect_str(self.0)
    }
}

struct Hw<'a>(&'a Event<'a>);

impl Serialize for Hw<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let e = self.0;
        let s = e.s;
        let mut m = ser.serialize_map(None)?;
        m.serialize_entry("outcome", e.outcome.name())?;
        m.serialize_entry("started", s.start.name())?;
        m.serialize_entry("hellos", &Hellos(&s.hellos, e.policies, e.policy_names))?;
        m.serialize_entry("hrr", &s.hrr)?;
        if let Some(sh) = s.server_hello {
            m.serialize_entry("server", &Server(sh, e.server_cipher))?;
        }
        if let Some(st) = crate::tally::certs::status_of(s) {
            m.serialize_entry("certificate", &Certificate(s, st))?;
        }
        m.serialize_entry("alerts", &Alerts(s))?;
        if !s.transport.is_udp() {
            m.serialize_entry(
                "tcp",
                &Tcp {
                    rst: s.rst,
                    fin_client: s.fin[0],
                    fin_server: s.fin[1],
                    midstream: s.midstream,
                },
            )?;
        }
        if !e.policies.is_empty() && !s.hellos.is_empty() {
            m.serialize_entry(
                "policy",
                &PolicyMap(e.policies, e.policy_names, |p: &Policy| p.conn_verdict(s)),
            )?;
        }
        m.end()
    }
}

#[derive(Serialize)]
struct Tcp {
    rst: bool,
    fin_client: bool,
    fin_server: bool,
    midstream: bool,
}

#[derive(Serialize)]
struct EventMeta {
    kind: &'static str,
    category: [&'static str; 1],
    #[serde(rename = "type")]
    ty: [&'static str; 1],
    dataset: &'static str,
    outcome: &'static str,
    start: Ts,
    end: Ts,
    duration: u64,
}

#[derive(Serialize)]
struct Network {
    transport: &'static str,
    /// ECS `network.protocol`: `quic` or `dtls` for a handshake over UDP (absent for TLS over
    /// TCP).
    #[serde(skip_serializing_if = "Option::is_none")]
    protocol: Option<&'static str>,
    #[serde(rename = "type")]
    ty: &'static str,
    /// ECS `network.community_id`: Community ID v1 (seed 0) of the connection's endpoints.
    #[serde(skip_serializing_if = "Option::is_none")]
    community_id: Option<CommunityId>,
}

impl Serialize for Event<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let s = self.s;
        let mut m = ser.serialize_map(None)?;
        m.serialize_entry("@timestamp", &self.start)?;
        m.serialize_entry(
            "event",
            &EventMeta {
                kind: "event",
                category: ["network"],
                ty: ["connection"],
                dataset: DATASET,
                outcome: self.outcome.ecs(),
                start: self.start,
                end: Ts::new(s.last_seen_ns),
                duration: s.last_seen_ns.saturating_sub(s.first_seen_ns),
            },
        )?;
        match s.proxied_for {
            // A PROXY protocol header named the real client: it is `client.ip`, and the IP
            // sender (the load balancer) is the source's translated address.
            Some(real) => {
                m.serialize_entry("source", &NatSource(s.client_endpoint))?;
                m.serialize_entry("client", &IpOnly(real))?;
            }
            None => m.serialize_entry("source", &EcsEndpoint(s.client_endpoint))?,
        }
        m.serialize_entry("destination", &EcsEndpoint(s.server_endpoint))?;
        let ty = match s.client {
            Some(IpAddr::V6(_)) => "ipv6",
            _ => "ipv4",
        };
        let proto = if s.transport.is_udp() {
            community_id::PROTO_UDP
        } else {
            community_id::PROTO_TCP
        };
        // Once per connection, here, when its event is written.
        let community_id = s
            .client_endpoint
            .zip(s.server_endpoint)
            .and_then(|(c, srv)| CommunityId::v1(COMMUNITY_ID_SEED, proto, c, srv));
        m.serialize_entry(
            "network",
            &Network {
                transport: if s.transport.is_udp() { "udp" } else { "tcp" },
                protocol: s.transport.is_udp().then(|| s.transport.name()),
                ty,
                community_id,
            },
        )?;
        m.serialize_entry("tls", &Tls(self))?;
        m.serialize_entry("hellowatch", &Hw(self))?;
        m.end()
    }
}

/// Appends the event line of `s` (no trailing newline) to `buf`; on a serialisation error
/// `buf` is left as it was (never a partial line) and the result is false.
pub(super) fn write_event(
    buf: &mut Vec<u8>,
    s: &ConnSummary,
    policies: &[Policy],
    names: &mut Names,
) -> bool {
    let mark = buf.len();
    names.prepare(s.hellos.first().map_or(&[][..], |h| &h.ciphers));
    let server_cipher = s.server_hello.map(|sh| names.cipher(sh.cipher));
    let ev = Event::new(s, policies, names, server_cipher);
    let ok = ev
        .serialize(&mut serde_json::Serializer::new(&mut *buf))
        .is_ok();
    if !ok {
        buf.truncate(mark);
    }
    ok
}

/// The event line of one connection (no trailing newline), for tests and tools.
pub fn event_line(s: &ConnSummary, policies: &[Policy]) -> Option<String> {
    crate::tally::contribution(s)?;
    let mut v = Vec::new();
    if !write_event(&mut v, s, policies, &mut Names::new(policies)) {
        return None;
    }
    String::from_utf8(v).ok()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::tls::VersionList;
    use crate::wire::Endpoint as Ep;

    /// A legacy connection refused with an alert.
    pub(crate) fn summary() -> ConnSummary {
        let mut offered = VersionList::default();
        offered.push(Version::TLS10);
        let mut h = HelloFacts::with_offered(offered, Version::TLS10);
        h.server_name = Some("legacy.example".into());
        h.ciphers = vec![0x002f, 0x5600, 0xfe00].into_boxed_slice();
        h.cipher_count = 3;
        h.fallback_scsv = true;
        h.record_version = Some(Version::TLS10);
        let c: IpAddr = "192.0.2.7".parse().unwrap();
        let s: IpAddr = "198.51.100.1".parse().unwrap();
        ConnSummary {
            client: Some(c),
            hellos: vec![h],
            alerts: vec![(86, Direction::FromServer)],
            alert_levels: vec![2],
            client_endpoint: Some(Ep { ip: c, port: 50000 }),
            server_endpoint: Some(Ep { ip: s, port: 443 }),
            first_seen_ns: 1_700_000_000_123_456_789,
            last_seen_ns: 1_700_000_000_223_456_789,
            fin: [true, true],
            ..ConnSummary::default()
        }
    }

    #[test]
    fn event_line_fields() {
        let p: Policy = "min=tls1.2".parse().unwrap();
        let line = event_line(&summary(), &[p]).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["@timestamp"], "2023-11-14T22:13:20.123456Z");
        assert_eq!(v["event"]["end"], "2023-11-14T22:13:20.223456Z");
        assert_eq!(v["event"]["duration"], 100_000_000);
        assert_eq!(v["event"]["outcome"], "failure");
        assert_eq!(v["source"]["ip"], "192.0.2.7");
        assert_eq!(v["destination"]["port"], 443);
        assert_eq!(v["tls"]["established"], false);
        assert!(v["tls"].get("version").is_none());
        assert_eq!(v["tls"]["client"]["server_name"], "legacy.example");
        assert_eq!(
            v["tls"]["client"]["supported_ciphers"],
            serde_json::json!([
                "TLS_RSA_WITH_AES_128_CBC_SHA",
                "TLS_FALLBACK_SCSV",
                "0xfe00"
            ])
        );
        let hw = &v["hellowatch"];
        assert_eq!(hw["outcome"], "alert_before_server_hello");
        assert_eq!(hw["hellos"][0]["offered_max"], "tls1.0");
        assert_eq!(hw["hellos"][0]["fallback_scsv"], true);
        assert_eq!(hw["hellos"][0]["policy"]["min=tls1.2"], "fallback_retry");
        assert_eq!(hw["policy"]["min=tls1.2"], "fallback_retry");
        assert_eq!(
            hw["alerts"],
            serde_json::json!([{"from": "server", "level": "fatal", "description": "inappropriate_fallback"}])
        );
        assert!(!line.contains('\n'));
    }
}
