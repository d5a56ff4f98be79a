//! The report of a census: one serde type, [`Report`], written as JSON (a contract other tools
//! read), read back and added up by `hellowatch merge`, and rendered as a table for people or
//! CSV ([`text`]).
//!
//! Derived parts (a client's `legacy`, `policy`; the totals' `clients`, `legacy_clients`,
//! `policy`) are computed from the census when a report is made, and not read back: a merged
//! report recomputes them. Keys this version does not know are ignored when reading (those of
//! `"coverage"` are kept and added up).
//!
//! Adding to the report:
//! - a per-client (and totals) count: count it in [`ClientTally`] (the census rule), add a field
//!   to [`Tally`] (its key; a `with = "maps::…"` module if it is a map) and a line each to
//!   [`Tally::of`] and [`Tally::to_tally`]. JSON, reading back and `merge` then have it; a table
//!   or CSV column is one cell in [`text`].
//! - a section (e.g. `"quic_clients"`): a `#[serde(default)]` field of [`Report`], filled in
//!   [`Report::with`] and added in [`crate::merge::Merged::add`].

pub mod certs;
pub mod maps;
pub mod text;
pub mod time;

use crate::capture::InputSummary;
use crate::engine::Counters;
use crate::policy::{CensusPolicy, ClientPolicy, Policy, Status};
use crate::tally::{Census, ClientBrief, ClientTally, Sample, ServerTally};
use crate::tls::Version;
use crate::tls::cipher::CipherClass;
use crate::tls::group::Group;
use crate::upgrade::Start;
pub use maps::{Pairs, alert_from_label, alert_label};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};
pub use text::By;

/// Output format.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Format {
    /// Aligned table, legacy clients first.
    Table,
    /// JSON: `{"clients", "totals", "input", "coverage"}`.
    Json,
    /// CSV, one row per client.
    Csv,
}

/// Options of a report beyond the census itself.
#[derive(Clone, Debug, Default)]
pub struct ReportOptions {
    /// Policies to evaluate (`--policy`).
    pub policies: Vec<Policy>,
}

/// A JSON document that is not a hellowatch report (or one this version cannot read).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a hellowatch JSON report: {0}")]
pub struct ReportParseError(pub String);

/// The census of one transport's section of a report.
fn census_of(clients: &BTreeMap<IpAddr, Client>, totals: &Totals, max_clients: usize) -> Census {
    let mut c = Census::new(max_clients);
    c.totals = totals.tally.to_tally();
    c.connections = totals.connections;
    for (ip, t) in clients {
        if c.clients.len() < max_clients {
            c.clients.entry(*ip).or_default().merge(&t.tally.to_tally());
        } else {
            c.clients_dropped = c.clients_dropped.saturating_add(1);
        }
    }
    c
}

/// The clients and totals of one transport's census.
fn section(c: &Census, opts: &ReportOptions) -> (BTreeMap<IpAddr, Client>, Totals) {
    let verdicts = |f: &dyn Fn(&Policy) -> ClientVerdict| {
        Pairs(
            opts.policies
                .iter()
                .map(|p| (p.to_string(), f(p)))
                .collect(),
        )
    };
    let clients: BTreeMap<IpAddr, Client> = c
        .clients
        .iter()
        .filter(|(_, t)| !t.is_empty())
        .map(|(ip, t)| {
            let client = Client {
                tally: Tally::of(t),
                legacy: t.is_legacy(),
                policy: verdicts(&|p| ClientPolicy::of(t, p).into()),
            };
            (*ip, client)
        })
        .collect();
    let legacy_clients = c.clients.values().filter(|t| t.is_legacy()).count();
    let totals = Totals {
        tally: Tally::of(&c.totals),
        clients: u64::try_from(clients.len()).unwrap_or(u64::MAX),
        legacy_clients: u64::try_from(legacy_clients).unwrap_or(u64::MAX),
        connections: c.connections,
        policy: Pairs(
            opts.policies
                .iter()
                .map(|p| (p.to_string(), CensusPolicy::of(c, p).into()))
                .collect(),
        ),
    };
    (clients, totals)
}

/// The layout version of the report this build writes (`"schema"`). A report with a higher
/// number is refused when read (by `merge` and `--state`): an older hellowatch would drop what
/// it does not know and write the census back poorer. Reports without the key (written before
/// it) have this layout. Raise it when a key changes meaning or a new key must not be lost.
pub const SCHEMA: u64 = 4;

fn current_schema() -> u64 {
    SCHEMA
}

/// A report: `{"schema", "clients", "totals", "quic_clients", "quic_totals", "dtls_clients",
/// "dtls_totals", "input", "coverage"}`. `clients` and `totals` are TLS over TCP only.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    /// Its layout version ([`SCHEMA`]).
    #[serde(default = "current_schema")]
    pub schema: u64,
    /// Clients with something counted over TLS on TCP, in address order (IPv4 before IPv6).
    pub clients: BTreeMap<IpAddr, Client>,
    /// The sums over all TLS-over-TCP connections.
    pub totals: Totals,
    /// Clients of QUIC connections (TLS inside QUIC Initials), same shape as `clients`.
    #[serde(default)]
    pub quic_clients: BTreeMap<IpAddr, Client>,
    /// The sums over all QUIC connections.
    #[serde(default)]
    pub quic_totals: Totals,
    /// Clients of DTLS connections (one UDP 5-tuple each), same shape as `clients`.
    #[serde(default)]
    pub dtls_clients: BTreeMap<IpAddr, Client>,
    /// The sums over all DTLS connections.
    #[serde(default)]
    pub dtls_totals: Totals,
    /// The server certificates of all TLS-over-TCP connections; only present when a
    /// connection negotiated a version.
    #[serde(default, skip_serializing_if = "certs::Certificates::is_empty")]
    pub certificates: certs::Certificates,
    /// The server certificates of QUIC connections (all `tls13_encrypted`); only present when
    /// there is one.
    #[serde(default, skip_serializing_if = "certs::Certificates::is_empty")]
    pub quic_certificates: certs::Certificates,
    /// The server certificates of DTLS connections (not read: `not_seen` for DTLS 1.2); only
    /// present when there is one.
    #[serde(default, skip_serializing_if = "certs::Certificates::is_empty")]
    pub dtls_certificates: certs::Certificates,
    /// Per server endpoint (`"192.0.2.5:443"`, `"[2001:db8::5]:443"`) of TLS over TCP: the
    /// census of the connections to it.
    #[serde(default)]
    pub servers: BTreeMap<SocketAddr, Section>,
    /// Per server name (SNI; `""` for connections without one) of TLS over TCP, likewise.
    #[serde(default)]
    pub server_names: BTreeMap<String, Section>,
    /// The servers of QUIC connections; only present when there is one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub quic_servers: BTreeMap<SocketAddr, Section>,
    /// The server names of QUIC connections; only present when there is one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub quic_server_names: BTreeMap<String, Section>,
    /// The servers of DTLS connections; only present when there is one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dtls_servers: BTreeMap<SocketAddr, Section>,
    /// The server names of DTLS connections; only present when there is one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dtls_server_names: BTreeMap<String, Section>,
    /// What was read.
    #[serde(default)]
    pub input: InputSummary,
    /// Coverage counters.
    #[serde(default)]
    pub coverage: Coverage,
}

/// One server's (or server name's) census: `{"totals", "clients"}`. `totals` has the shape of
/// the report's own, over the connections to that server (its `policy`: what would fail if
/// this server enforced the policy). `clients` is brief ([`ServerClient`]): what the distinct,
/// legacy and policy counts need. `clients_dropped` (present when not zero): clients beyond
/// [`crate::tally::MAX_CLIENTS_PER_SERVER`], counted in `totals` only.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Section {
    /// Counts over the connections to this server.
    #[serde(default)]
    pub totals: Totals,
    /// Its clients.
    #[serde(default)]
    pub clients: BTreeMap<IpAddr, ServerClient>,
    /// Clients not given an entry.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub clients_dropped: u64,
    /// The certificates this server showed (by connection); only present when a connection
    /// negotiated a version.
    #[serde(default, skip_serializing_if = "certs::Certificates::is_empty")]
    pub certificates: certs::Certificates,
}

/// One client of a server ([`crate::tally::ClientBrief`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerClient {
    /// Connections to this server.
    pub connections: u32,
    /// ClientHellos.
    pub hellos: u32,
    /// Connections with a ClientHello and no ServerHello.
    pub failed_handshakes: u32,
    /// The highest offered versions of its hellos without TLS_FALLBACK_SCSV, as far as a
    /// policy tells them apart ([`crate::tally::POLICY_STEPS`]: DTLS as its TLS equivalent,
    /// a TLS 1.3 draft as `tls1.2`, anything below SSL 3.0 as `sslv2`), highest first; `none`
    /// for a hello offering no version.
    #[serde(with = "maps::policy_steps")]
    pub offered_max: u8,
    /// The same for its fallback retries (hellos with TLS_FALLBACK_SCSV); only present when
    /// there is one.
    #[serde(with = "maps::policy_steps", skip_serializing_if = "is_zero_u8")]
    pub fallback_offered_max: u8,
    /// A connection to this server offered or negotiated below TLS 1.2, or failed.
    pub legacy: bool,
}

fn is_zero_u8(n: &u8) -> bool {
    *n == 0
}

impl From<&ClientBrief> for ServerClient {
    fn from(b: &ClientBrief) -> Self {
        ServerClient {
            connections: b.connections,
            hellos: b.hellos,
            failed_handshakes: b.failed_handshakes,
            offered_max: b.offered,
            fallback_offered_max: b.fallback_offered,
            legacy: b.legacy,
        }
    }
}

impl From<&ServerClient> for ClientBrief {
    fn from(c: &ServerClient) -> Self {
        ClientBrief {
            connections: c.connections,
            hellos: c.hellos,
            failed_handshakes: c.failed_handshakes,
            offered: c.offered_max,
            fallback_offered: c.fallback_offered_max,
            legacy: c.legacy,
        }
    }
}

impl Section {
    fn of(s: &ServerTally, opts: &ReportOptions) -> Self {
        let clients: BTreeMap<IpAddr, ServerClient> = s
            .clients
            .iter()
            .map(|(ip, b)| (*ip, ServerClient::from(b)))
            .collect();
        let totals = Totals {
            tally: Tally::of(&s.totals),
            clients: u64::try_from(clients.len()).unwrap_or(u64::MAX),
            legacy_clients: u64::try_from(s.legacy_clients()).unwrap_or(u64::MAX),
            connections: s.connections,
            policy: Pairs(
                opts.policies
                    .iter()
                    .map(|p| (p.to_string(), CensusPolicy::of_server(s, p).into()))
                    .collect(),
            ),
        };
        Section {
            totals,
            clients,
            clients_dropped: s.clients_dropped,
            certificates: certs::Certificates::of(&s.certificates),
        }
    }

    fn census(&self) -> ServerTally {
        let mut s = ServerTally {
            totals: self.totals.tally.to_tally(),
            connections: self.totals.connections,
            clients_dropped: self.clients_dropped,
            certificates: self.certificates.to_tally(),
            ..ServerTally::default()
        };
        for (ip, c) in &self.clients {
            if s.clients.len() < crate::tally::MAX_CLIENTS_PER_SERVER {
                s.clients
                    .entry(*ip)
                    .or_default()
                    .merge(&ClientBrief::from(c));
            } else {
                s.clients_dropped = s.clients_dropped.saturating_add(1);
            }
        }
        s
    }
}

/// The sections of each server (or server name) of a census, in key order.
fn server_sections<K: Ord + Clone>(
    m: &std::collections::HashMap<K, ServerTally>,
    opts: &ReportOptions,
) -> BTreeMap<K, Section> {
    m.iter()
        .map(|(k, c)| (k.clone(), Section::of(c, opts)))
        .collect()
}

/// The counts of one client or of the totals (the keys both share).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Tally {
    /// ClientHello messages.
    pub hellos: u64,
    /// Hellos by highest offered version.
    #[serde(with = "maps::versions")]
    pub offered_max: BTreeMap<Version, u64>,
    /// Hellos listing each version.
    #[serde(with = "maps::versions")]
    pub offered_versions: BTreeMap<Version, u64>,
    /// Connections by negotiated version.
    #[serde(with = "maps::versions")]
    pub negotiated: BTreeMap<Version, u64>,
    /// Plaintext alerts by description.
    #[serde(with = "maps::alerts")]
    pub alerts: BTreeMap<u8, u64>,
    /// Connections with a ClientHello and no ServerHello.
    pub failed_handshakes: u64,
    /// Connections by how TLS began.
    #[serde(with = "maps::started")]
    pub started: [u64; Start::COUNT],
    /// Hellos carrying TLS_FALLBACK_SCSV.
    pub fallback: Fallback,
    /// Fingerprints and server names of the hellos of legacy connections.
    pub legacy_hellos: LegacyHellos,
    /// Connections by the real client's address their PROXY protocol header named (the
    /// connections count under the IP sender); only present when there is one.
    #[serde(skip_serializing_if = "Pairs::is_empty")]
    pub proxied_for: Pairs<u64>,
    /// PROXY header addresses not kept in `proxied_for`; only present when not zero.
    #[serde(skip_serializing_if = "is_zero")]
    pub proxied_for_not_kept: u64,
    /// Connections by server name (SNI of the first hello that has one, `""` for none): at
    /// most 16 names kept, the rest counted in `server_names_not_kept`.
    pub server_names: Pairs<u64>,
    /// Connections whose server name was not kept; only present when not zero.
    #[serde(skip_serializing_if = "is_zero")]
    pub server_names_not_kept: u64,
    /// Connections by negotiated cipher suite (IANA name, `0x%04x` when unknown).
    #[serde(with = "maps::ciphers")]
    pub ciphers: BTreeMap<u16, u64>,
    /// Connections whose suite a client entry could not keep in `ciphers`
    /// ([`crate::tally::MAX_CIPHERS_PER_CLIENT`]); only present when not zero.
    #[serde(skip_serializing_if = "is_zero")]
    pub ciphers_not_kept: u64,
    /// Connections by weakness class of the negotiated suite.
    #[serde(with = "maps::cipher_classes")]
    pub cipher_classes: [u64; CipherClass::COUNT],
    /// Hellos offering at least one suite of each weakness class.
    #[serde(with = "maps::cipher_classes")]
    pub offered_weak: [u64; CipherClass::COUNT],
    /// Hellos listing each group in `supported_groups`.
    #[serde(with = "maps::groups")]
    pub groups_offered: [u64; Group::COUNT],
    /// Hellos sending a key share of each group.
    #[serde(with = "maps::groups")]
    pub key_shares: [u64; Group::COUNT],
    /// Connections by the group of the server's key share (TLS 1.3 ServerHello).
    #[serde(with = "maps::groups")]
    pub group_chosen: [u64; Group::COUNT],
    /// Packet time of the first connection (RFC 3339).
    #[serde(with = "time::opt", skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<u64>,
    /// Packet time of the end of the last connection (RFC 3339).
    #[serde(with = "time::opt", skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<u64>,
    /// Packet time of the end of the last legacy connection (RFC 3339): has it stopped?
    #[serde(with = "time::opt", skip_serializing_if = "Option::is_none")]
    pub last_legacy_seen: Option<u64>,
}

/// Serde: a count left out of the report when zero.
fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// `"fallback"`: hellos carrying TLS_FALLBACK_SCSV.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Fallback {
    /// Those hellos.
    pub hellos: u64,
    /// Those hellos by highest offered version.
    #[serde(with = "maps::versions")]
    pub offered_max: BTreeMap<Version, u64>,
}

/// `"legacy_hellos"`: the kept keys of each sample (most frequent first) and what was not kept.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LegacyHellos {
    /// JA4 fingerprints.
    pub ja4: Pairs<u64>,
    /// JA3 fingerprints.
    pub ja3: Pairs<u64>,
    /// Server names (SNI).
    pub server_names: Pairs<u64>,
    /// Observations not kept, per sample.
    pub not_kept: NotKept,
}

/// `"legacy_hellos"."not_kept"`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NotKept {
    /// JA4 fingerprints.
    pub ja4: u64,
    /// JA3 fingerprints.
    pub ja3: u64,
    /// Server names.
    pub server_names: u64,
}

/// One client's entry.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Client {
    /// Its counts.
    #[serde(flatten)]
    pub tally: Tally,
    /// Offered or negotiated below TLS 1.2, or failed ([`ClientTally::is_legacy`]).
    #[serde(skip_deserializing)]
    pub legacy: bool,
    /// What each policy would do to it.
    #[serde(skip_serializing_if = "Pairs::is_empty", skip_deserializing)]
    pub policy: Pairs<ClientVerdict>,
}

/// The `"totals"` object.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Totals {
    /// Counts over all connections.
    #[serde(flatten)]
    pub tally: Tally,
    /// Client entries.
    #[serde(skip_deserializing)]
    pub clients: u64,
    /// Legacy client entries.
    #[serde(skip_deserializing)]
    pub legacy_clients: u64,
    /// Connections settled with something to count.
    #[serde(default)]
    pub connections: u64,
    /// What each policy would do to the whole census.
    #[serde(skip_serializing_if = "Pairs::is_empty", skip_deserializing)]
    pub policy: Pairs<CensusVerdict>,
}

/// One policy on one client.
#[derive(Clone, Debug, Serialize)]
pub struct ClientVerdict {
    /// Hellos refused, fallback retries left out.
    pub hellos_would_fail: u64,
    /// Fallback retries refused.
    pub fallback_retries: u64,
    /// Hellos accepted.
    pub hellos_pass: u64,
    /// The client would fail (every hello but fallback retries refused).
    pub client_would_fail: bool,
    /// The client's status.
    #[serde(serialize_with = "status_name")]
    pub status: Status,
}

fn status_name<S: Serializer>(st: &Status, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(st.name())
}

impl From<ClientPolicy> for ClientVerdict {
    fn from(cp: ClientPolicy) -> Self {
        ClientVerdict {
            hellos_would_fail: cp.hellos_would_fail,
            fallback_retries: cp.fallback_retries,
            hellos_pass: cp.hellos_pass,
            client_would_fail: cp.client_would_fail(),
            status: cp.status(),
        }
    }
}

/// One policy on the whole census.
#[derive(Clone, Debug, Serialize)]
pub struct CensusVerdict {
    /// Hellos refused, fallback retries left out.
    pub hellos_would_fail: u64,
    /// Fallback retries refused.
    pub fallback_retries: u64,
    /// Hellos accepted.
    pub hellos_pass: u64,
    /// Clients that would fail.
    pub clients_would_fail: u64,
    /// Clients all of whose hellos would be refused.
    pub clients_fail_entirely: u64,
    /// Clients refused only their fallback retries.
    pub clients_fallback_only: u64,
}

impl From<CensusPolicy> for CensusVerdict {
    fn from(cp: CensusPolicy) -> Self {
        CensusVerdict {
            hellos_would_fail: cp.hellos.hellos_would_fail,
            fallback_retries: cp.hellos.fallback_retries,
            hellos_pass: cp.hellos.hellos_pass,
            clients_would_fail: cp.clients_would_fail,
            clients_fail_entirely: cp.clients_fail_entirely,
            clients_fallback_only: cp.clients_fallback_only,
        }
    }
}

/// The coverage counters, as an ordered JSON object: made from [`Counters`] and the census'
/// own bounds, added key by key when reports merge (keys unknown to this version included).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Coverage(Map<String, Value>);

impl Coverage {
    /// The coverage of a run.
    pub fn of(k: &Counters, c: &Census) -> Self {
        // The counters serialise in the order of their table ([`crate::counters`]); the
        // census' own drop counts sit after `queue_drops` in the report contract.
        let Ok(Value::Object(counters)) = serde_json::to_value(k) else {
            return Coverage::default();
        };
        let mut m = Map::new();
        for (key, v) in counters {
            let census_next = key == "queue_drops";
            m.insert(key, v);
            if census_next {
                m.insert("clients_dropped".into(), json!(c.clients_dropped));
                m.insert("versions_dropped".into(), json!(c.versions_dropped));
                let (servers, names) = c.servers_dropped_all();
                m.insert("servers_dropped".into(), json!(servers));
                m.insert("server_names_dropped".into(), json!(names));
            }
        }
        Coverage(m)
    }

    /// A top-level count (0 when absent).
    pub fn count(&self, key: &str) -> u64 {
        self.0.get(key).and_then(Value::as_u64).unwrap_or(0)
    }

    /// Sets a top-level count (kept in its place, else added at the end).
    pub fn set_count(&mut self, key: &str, n: u64) {
        self.0.insert(key.into(), json!(n));
    }

    /// Adds another report's coverage: counts summed, objects key by key.
    pub fn add(&mut self, o: &Coverage) {
        add_objects(&mut self.0, &o.0);
    }
}

/// Adds `b` into `a`: numbers summed, objects merged key by key, arrays concatenated; anything
/// else keeps `a`'s value.
fn add_objects(a: &mut Map<String, Value>, b: &Map<String, Value>) {
    for (k, v) in b {
        match (a.get_mut(k), v) {
            (None, _) => {
                a.insert(k.clone(), v.clone());
            }
            (Some(Value::Number(x)), Value::Number(y)) => {
                if let (Some(p), Some(q)) = (x.as_u64(), y.as_u64()) {
                    *x = p.saturating_add(q).into();
                }
            }
            (Some(Value::Object(x)), Value::Object(y)) => add_objects(x, y),
            (Some(Value::Array(x)), Value::Array(y)) => x.extend(y.iter().cloned()),
            _ => {}
        }
    }
}

impl Tally {
    /// The report form of a tally.
    pub fn of(t: &ClientTally) -> Self {
        let top = |s: &Sample| Pairs(s.top().into_iter().map(|(k, n)| (k.into(), n)).collect());
        Tally {
            hellos: t.hellos,
            offered_max: t.offered_max.clone(),
            offered_versions: t.offered_versions.clone(),
            negotiated: t.negotiated.clone(),
            alerts: t.alerts.clone(),
            failed_handshakes: t.failed_handshakes,
            started: t.started,
            proxied_for: top(&t.proxied_for),
            proxied_for_not_kept: t.proxied_for.not_kept(),
            server_names: top(&t.server_names),
            server_names_not_kept: t.server_names.not_kept(),
            ciphers: t.ciphers.clone(),
            ciphers_not_kept: t.ciphers_not_kept,
            cipher_classes: t.cipher_classes,
            offered_weak: t.offered_weak,
            groups_offered: t.groups_offered,
            key_shares: t.key_shares,
            group_chosen: t.group_chosen,
            fallback: Fallback {
                hellos: t.fallback_hellos,
                offered_max: t.fallback_offered_max.clone(),
            },
            legacy_hellos: LegacyHellos {
                ja4: top(&t.legacy_ja4),
                ja3: top(&t.legacy_ja3),
                server_names: top(&t.legacy_server_names),
                not_kept: NotKept {
                    ja4: t.legacy_ja4.not_kept(),
                    ja3: t.legacy_ja3.not_kept(),
                    server_names: t.legacy_server_names.not_kept(),
                },
            },
            first_seen: t.first_seen_ns,
            last_seen: t.last_seen_ns,
            last_legacy_seen: t.last_legacy_seen_ns,
        }
    }

    /// The tally this report form was made from.
    pub fn to_tally(&self) -> ClientTally {
        let sample = |kept: &Pairs<u64>, not_kept: u64| {
            let mut s = Sample::default();
            for (k, n) in &kept.0 {
                s.add(k, *n);
            }
            s.add_not_kept(not_kept);
            s
        };
        let l = &self.legacy_hellos;
        ClientTally {
            hellos: self.hellos,
            offered_max: self.offered_max.clone(),
            offered_versions: self.offered_versions.clone(),
            negotiated: self.negotiated.clone(),
            alerts: self.alerts.clone(),
            failed_handshakes: self.failed_handshakes,
            fallback_hellos: self.fallback.hellos,
            fallback_offered_max: self.fallback.offered_max.clone(),
            legacy_ja4: sample(&l.ja4, l.not_kept.ja4),
            legacy_ja3: sample(&l.ja3, l.not_kept.ja3),
            legacy_server_names: sample(&l.server_names, l.not_kept.server_names),
            started: self.started,
            proxied_for: sample(&self.proxied_for, self.proxied_for_not_kept),
            server_names: sample(&self.server_names, self.server_names_not_kept),
            ciphers: self.ciphers.clone(),
            ciphers_not_kept: self.ciphers_not_kept,
            cipher_classes: self.cipher_classes,
            offered_weak: self.offered_weak,
            groups_offered: self.groups_offered,
            key_shares: self.key_shares,
            group_chosen: self.group_chosen,
            first_seen_ns: self.first_seen,
            last_seen_ns: self.last_seen,
            last_legacy_seen_ns: self.last_legacy_seen,
        }
    }

    /// Connections by how TLS began, in [`Start::ALL`] order, zero counts left out.
    pub fn started(&self) -> impl Iterator<Item = (Start, u64)> + '_ {
        maps::started::iter(&self.started)
    }
}

impl Report {
    /// The report of a run.
    pub fn of(c: &Census, k: &Counters, input: &InputSummary, opts: &ReportOptions) -> Self {
        Report::with(c, input.clone(), Coverage::of(k, c), opts)
    }

    /// The report of a census with the given input and coverage sections.
    pub fn with(c: &Census, input: InputSummary, coverage: Coverage, opts: &ReportOptions) -> Self {
        let (clients, totals) = section(c, opts);
        let empty = Census::new(0);
        let (quic_clients, quic_totals) = section(c.quic.as_deref().unwrap_or(&empty), opts);
        let (dtls_clients, dtls_totals) = section(c.dtls.as_deref().unwrap_or(&empty), opts);
        let quic = c.quic.as_deref().unwrap_or(&empty);
        let dtls = c.dtls.as_deref().unwrap_or(&empty);
        Report {
            certificates: certs::Certificates::of(&c.certificates),
            quic_certificates: certs::Certificates::of(&quic.certificates),
            dtls_certificates: certs::Certificates::of(&dtls.certificates),
            servers: server_sections(&c.servers, opts),
            server_names: server_sections(&c.server_names, opts),
            quic_servers: server_sections(&quic.servers, opts),
            quic_server_names: server_sections(&quic.server_names, opts),
            dtls_servers: server_sections(&dtls.servers, opts),
            dtls_server_names: server_sections(&dtls.server_names, opts),
            schema: SCHEMA,
            clients,
            totals,
            quic_clients,
            quic_totals,
            dtls_clients,
            dtls_totals,
            input,
            coverage,
        }
    }

    /// A report from its JSON document.
    pub fn from_json(v: Value) -> Result<Self, ReportParseError> {
        if !v.is_object() {
            return Err(ReportParseError("not a JSON object".into()));
        }
        let r: Report = serde_json::from_value(v).map_err(|e| ReportParseError(e.to_string()))?;
        if r.schema > SCHEMA {
            return Err(ReportParseError(format!(
                "schema {} is newer than this hellowatch reads ({SCHEMA}): upgrade hellowatch",
                r.schema
            )));
        }
        Ok(r)
    }

    /// The census this report counts (`max_clients` bounds the client entries; more are
    /// counted in [`Census::clients_dropped`] and the totals, as in a replay).
    pub fn census(&self, max_clients: usize) -> Census {
        let mut c = census_of(&self.clients, &self.totals, max_clients);
        c.clients_dropped = c
            .clients_dropped
            .saturating_add(self.coverage.count("clients_dropped"));
        let udp = |clients: &BTreeMap<IpAddr, Client>, totals: &Totals| {
            (totals.connections > 0 || !clients.is_empty())
                .then(|| Box::new(census_of(clients, totals, max_clients)))
        };
        c.quic = udp(&self.quic_clients, &self.quic_totals);
        c.dtls = udp(&self.dtls_clients, &self.dtls_totals);
        c.certificates = self.certificates.to_tally();
        c.servers_dropped = self.coverage.count("servers_dropped");
        c.server_names_dropped = self.coverage.count("server_names_dropped");
        let fill = |c: &mut Census,
                    servers: &BTreeMap<SocketAddr, Section>,
                    names: &BTreeMap<String, Section>| {
            for (k, s) in servers {
                c.servers.insert(*k, s.census());
            }
            for (k, s) in names {
                c.server_names.insert(k.clone(), s.census());
            }
        };
        fill(&mut c, &self.servers, &self.server_names);
        if let Some(q) = c.quic.as_deref_mut() {
            fill(q, &self.quic_servers, &self.quic_server_names);
            q.certificates = self.quic_certificates.to_tally();
        }
        if let Some(d) = c.dtls.as_deref_mut() {
            fill(d, &self.dtls_servers, &self.dtls_server_names);
            d.certificates = self.dtls_certificates.to_tally();
        }
        c
    }

    /// Writes the report in `format`, the table and CSV keyed by `by` (JSON has every view).
    pub fn write_by(&self, w: &mut impl Write, format: Format, by: By) -> io::Result<()> {
        match (format, by) {
            (Format::Table, By::Server | By::ServerName) => text::write_server_table(w, self, by),
            (Format::Csv, By::Server | By::ServerName) => text::write_server_csv(w, self, by),
            _ => self.write(w, format),
        }
    }

    /// Writes the report in `format`.
    pub fn write(&self, w: &mut impl Write, format: Format) -> io::Result<()> {
        match format {
            Format::Json => {
                serde_json::to_writer_pretty(&mut *w, self)?;
                writeln!(w)
            }
            Format::Table => text::write_table(w, self),
            Format::Csv => text::write_csv(w, self),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_reports_are_errors() {
        let parse = |v: Value| Report::from_json(v).map(|r| r.census(10));
        assert!(parse(json!([])).is_err());
        assert!(parse(json!({"clients": {}})).is_err());
        let bad_version =
            json!({"clients": {"10.0.0.1": {"offered_max": {"tls9": 1}}}, "totals": {}});
        let e = parse(bad_version).unwrap_err();
        assert!(e.to_string().contains("tls9"), "{e}");
        let bad_ip = json!({"clients": {"host": {}}, "totals": {}});
        assert!(parse(bad_ip).is_err());
        let bad_count = json!({"clients": {}, "totals": {"hellos": "many"}});
        assert!(parse(bad_count).is_err());
        let newer = json!({"schema": SCHEMA + 1, "clients": {}, "totals": {}});
        let e = parse(newer).unwrap_err();
        assert!(e.to_string().contains("newer"), "{e}");
        assert!(
            parse(json!({"clients": {}, "totals": {}})).is_ok(),
            "before the key"
        );
    }

    #[test]
    fn coverage_adds_up_key_by_key() {
        let cov = |v: Value| serde_json::from_value::<Coverage>(v).unwrap();
        let mut a = cov(json!({"n": 1, "m": {"x": 2}, "files": ["a"], "s": "keep"}));
        a.add(&cov(
            json!({"n": 2, "m": {"x": 3, "y": 1}, "files": ["b"], "s": "other", "z": 4}),
        ));
        assert_eq!(
            a,
            cov(json!({"n": 3, "m": {"x": 5, "y": 1}, "files": ["a", "b"], "s": "keep", "z": 4}))
        );
    }

    #[test]
    fn a_tally_survives_its_report_form() {
        let mut t = ClientTally {
            hellos: 3,
            failed_handshakes: 1,
            fallback_hellos: 1,
            ..ClientTally::default()
        };
        t.offered_max.insert(Version::TLS10, 2);
        t.fallback_offered_max.insert(Version::TLS10, 1);
        t.alerts.insert(86, 1);
        t.alerts.insert(250, 1);
        t.legacy_ja4.add("t10d0101h1_0_0", 2);
        t.legacy_server_names.add("legacy.example", 2);
        t.legacy_ja3.add_not_kept(5);
        t.ciphers.insert(0x000a, 2);
        t.ciphers.insert(0xfefe, 1);
        t.ciphers_not_kept = 1;
        t.cipher_classes[CipherClass::TripleDes.index()] = 2;
        t.offered_weak[CipherClass::Rc4.index()] = 3;
        t.groups_offered[Group::OTHER.index()] = 1;
        t.key_shares[Group::of(0x11ec).unwrap().index()] = 2;
        t.group_chosen[Group::of(0x001d).unwrap().index()] = 1;
        t.first_seen_ns = Some(1_796_195_400_000_001_000);
        t.last_seen_ns = Some(1_796_195_460_000_000_000);
        t.last_legacy_seen_ns = Some(1_796_195_430_000_000_000);
        if let Some(n) = t.started.get_mut(Start::ALL.len() - 1) {
            *n = 1;
        }
        let json = serde_json::to_value(Tally::of(&t)).unwrap();
        let back: Tally = serde_json::from_value(json).unwrap();
        assert_eq!(back.to_tally(), t);
    }
}
