//! Every metric hellowatch exports, declared once: exposed name, help, type; and the closed
//! sets of label values.
//!
//! Conventions (Prometheus naming guide): `hellowatch_` prefix, snake_case, base units
//! (`_bytes`, `_seconds`), counters end in `_total`, timestamps are `_timestamp_seconds`
//! gauges. [`MetricDef::name`] is the sample name as it appears in the exposition; the
//! OpenMetrics `# TYPE` line of a counter names the family without `_total`
//! ([`MetricDef::family`]).
//!
//! Label values come from closed enums (never from traffic), except the `client` label of the
//! per-client series, whose number of values is bounded by `--max-client-series`.

use crate::closed::closed_set;
use crate::counters::{CounterDef, Counters};
use crate::tally::CertStatus;
use crate::tls::certificate::CertProblem;
use crate::tls::cipher::CipherClass;
use crate::tls::facts::Direction;
use crate::tls::group::Group;
use crate::tls::{Anomaly, VersionLabel};
use crate::wire::DecodeError;
use prometheus_client::encoding::{EncodeLabelValue, LabelValueEncoder};
use std::fmt::Write as _;

/// Metric type.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Monotonic count; the sample name ends in `_total`.
    Counter,
    /// A value that can go up and down (or a timestamp, or a constant 1 info series).
    Gauge,
}

/// One exported metric.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct MetricDef {
    /// Sample name in the exposition (`…_total` for counters).
    pub name: &'static str,
    /// Help text (one sentence; no quotes or backslashes, so both text formats agree).
    pub help: &'static str,
    /// Type.
    pub kind: Kind,
    /// Label names, in exposition order.
    pub labels: &'static [&'static str],
}

impl MetricDef {
    /// The family name: the sample name without the `_total` a counter's samples carry.
    pub fn family(&self) -> &'static str {
        match self.kind {
            Kind::Counter => self.name.strip_suffix("_total").unwrap_or(self.name),
            Kind::Gauge => self.name,
        }
    }
}

const fn counter(
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
) -> MetricDef {
    MetricDef {
        name,
        help,
        kind: Kind::Counter,
        labels,
    }
}

const fn gauge(
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
) -> MetricDef {
    MetricDef {
        name,
        help,
        kind: Kind::Gauge,
        labels,
    }
}

/// Label: client address, or its prefix with `--client-prefix` (`10.1.2.0/24`).
pub const L_CLIENT: &str = "client";
/// Label: highest version a ClientHello offered ([`VersionLabel`], `none` if only GREASE).
pub const L_OFFERED_MAX: &str = "offered_max";
/// Label: a protocol version ([`VersionLabel`]).
pub const L_VERSION: &str = "version";
/// Label: what carried the handshake (`tcp`, `quic`, `dtls`).
pub const L_TRANSPORT: &str = "transport";
/// Label: alert description name ([`AlertLabel`]).
pub const L_DESCRIPTION: &str = "description";
/// Label: who sent an alert (`from_client`, `from_server`).
pub const L_DIRECTION: &str = "direction";
/// Label: why a packet was not decoded ([`DecodeError`] names).
pub const L_REASON: &str = "reason";
/// Label: where packets were dropped ([`DropStage`]).
pub const L_STAGE: &str = "stage";
/// Label: anomaly kind ([`Anomaly`] names).
pub const L_KIND: &str = "kind";
/// Label: a `--policy` (`min=tls1.2`); at most [`crate::policy::MAX_POLICIES`] values.
pub const L_POLICY: &str = "policy";
/// Label: a cipher suite weakness class ([`CipherClass`] names).
pub const L_CLASS: &str = "class";
/// Label: a key exchange group ([`Group`] names: the group table plus `other`).
pub const L_GROUP: &str = "group";
/// Label: a server certificate problem ([`CertProblem`] names).
pub const L_PROBLEM: &str = "problem";
/// Label: what a connection showed of its server certificate ([`CertStatus`] names).
pub const L_STATUS: &str = "status";

// ---- Census: aggregate counters, updated once per settled connection. ----

/// ClientHellos by highest offered version.
pub const CLIENT_HELLOS: MetricDef = counter(
    "hellowatch_client_hellos_total",
    "ClientHello messages, by highest offered version (supported_versions without GREASE, else legacy_version).",
    &[L_TRANSPORT, L_OFFERED_MAX],
);
/// ClientHellos listing each version.
pub const OFFERED_VERSIONS: MetricDef = counter(
    "hellowatch_offered_versions_total",
    "ClientHello messages offering each version (one hello counts once per version it lists).",
    &[L_TRANSPORT, L_VERSION],
);
/// Connections by negotiated version.
pub const NEGOTIATED: MetricDef = counter(
    "hellowatch_negotiated_handshakes_total",
    "Connections by the version the ServerHello selected (HelloRetryRequests excluded).",
    &[L_TRANSPORT, L_VERSION],
);
/// Connections with a ClientHello and no ServerHello.
pub const FAILED: MetricDef = counter(
    "hellowatch_failed_handshakes_total",
    "Connections with a ClientHello and no ServerHello: refused or abandoned handshakes.",
    &[L_TRANSPORT],
);
/// Connections that contributed to the census.
pub const CONNECTIONS: MetricDef = counter(
    "hellowatch_tls_connections_total",
    "Settled connections with a hello or a plaintext alert (the census connections).",
    &[L_TRANSPORT],
);
/// Plaintext alerts.
pub const ALERTS: MetricDef = counter(
    "hellowatch_alerts_total",
    "Plaintext TLS alerts, by description and sender (encrypted alerts are not visible).",
    &[L_TRANSPORT, L_DESCRIPTION, L_DIRECTION],
);

/// Connections by weakness class of the negotiated cipher suite.
pub const CIPHER_CLASSES: MetricDef = counter(
    "hellowatch_negotiated_cipher_class_handshakes_total",
    "Connections whose negotiated cipher suite is of the weakness class (null, export, anon, rc4, 3des, des, cbc, rsa_kx, md5, sha1_mac; a suite may be of several).",
    &[L_TRANSPORT, L_CLASS],
);
/// Hellos offering a suite of each weakness class.
pub const OFFERED_WEAK: MetricDef = counter(
    "hellowatch_offered_weak_cipher_hellos_total",
    "ClientHello messages offering at least one cipher suite of the weakness class.",
    &[L_TRANSPORT, L_CLASS],
);
/// Hellos sending a key share of each group.
pub const KEY_SHARES: MetricDef = counter(
    "hellowatch_key_share_hellos_total",
    "ClientHello messages sending a key share of the group (TLS 1.3 key_share; GREASE left out).",
    &[L_TRANSPORT, L_GROUP],
);
/// Connections by the group the server chose.
pub const GROUP_CHOSEN: MetricDef = counter(
    "hellowatch_group_chosen_handshakes_total",
    "Connections by the key exchange group of the server's TLS 1.3 key share (X25519MLKEM768 and other hybrids are post-quantum).",
    &[L_TRANSPORT, L_GROUP],
);

/// Connections by what they showed of the server's certificate.
pub const CERT_STATUS: MetricDef = counter(
    "hellowatch_server_certificate_handshakes_total",
    "Connections with a negotiated version by what they showed of the server's certificate: read (TLS <= 1.2), tls13_encrypted (TLS 1.3 and QUIC encrypt it; not guessed), not_seen (TLS <= 1.2 without one: resumption, PSK or anonymous suites, capture gaps).",
    &[L_TRANSPORT, L_STATUS],
);
/// Connections whose server leaf certificate has each problem.
pub const CERT_PROBLEMS: MetricDef = counter(
    "hellowatch_server_certificate_problem_handshakes_total",
    "Connections whose server leaf certificate (TLS <= 1.2) has the problem at handshake time: sha1_signature, md5_signature, expired, expires_30d, self_signed (issuer name = subject name), weak_key (RSA/DSA < 2048, EC < 224 bits).",
    &[L_TRANSPORT, L_PROBLEM],
);

// ---- Per-client series: legacy clients only, bounded, rendered at scrape time. ----

/// Per legacy client: hellos by highest offered version.
pub const CLIENT_SERIES_HELLOS: MetricDef = counter(
    "hellowatch_legacy_client_hellos_total",
    "ClientHello messages of a legacy client, by highest offered version.",
    &[L_CLIENT, L_OFFERED_MAX],
);
/// Per legacy client: connections by negotiated version.
pub const CLIENT_SERIES_NEGOTIATED: MetricDef = counter(
    "hellowatch_legacy_client_negotiated_handshakes_total",
    "Connections of a legacy client, by negotiated version.",
    &[L_CLIENT, L_VERSION],
);
/// Per legacy client: failed handshakes.
pub const CLIENT_SERIES_FAILED: MetricDef = counter(
    "hellowatch_legacy_client_failed_handshakes_total",
    "Connections of a legacy client with a ClientHello and no ServerHello.",
    &[L_CLIENT],
);
/// Per legacy client: plaintext alerts by description (either direction).
pub const CLIENT_SERIES_ALERTS: MetricDef = counter(
    "hellowatch_legacy_client_alerts_total",
    "Plaintext TLS alerts on connections of a legacy client, by description (either sender).",
    &[L_CLIENT, L_DESCRIPTION],
);
/// Per legacy client: packet time of its last connection.
pub const CLIENT_SERIES_LAST_SEEN: MetricDef = gauge(
    "hellowatch_legacy_client_last_seen_timestamp_seconds",
    "Packet time of the last packet of the last connection of a legacy client, in seconds since the epoch.",
    &[L_CLIENT],
);
/// Clients with per-client series now.
pub const CLIENT_SERIES_CLIENTS: MetricDef = gauge(
    "hellowatch_legacy_clients",
    "Legacy clients (offered or negotiated below TLS 1.2, or failed a handshake) with per-client series now.",
    &[],
);
/// Legacy clients evicted by the `--max-client-series` bound.
pub const CLIENT_SERIES_DROPPED: MetricDef = counter(
    "hellowatch_legacy_client_series_dropped_total",
    "Legacy clients whose per-client series were dropped because --max-client-series was reached (least recently seen first).",
    &[],
);
/// Hellos a policy would refuse (fallback retries apart).
pub const POLICY_WOULD_FAIL: MetricDef = counter(
    "hellowatch_policy_would_fail_total",
    "ClientHellos a server enforcing the policy (--policy min=VERSION) would refuse, fallback retries (TLS_FALLBACK_SCSV) not included.",
    &[L_TRANSPORT, L_POLICY],
);
/// Refused hellos that are fallback retries.
pub const POLICY_FALLBACK_RETRIES: MetricDef = counter(
    "hellowatch_policy_fallback_retries_total",
    "ClientHellos a server enforcing the policy would refuse that carry TLS_FALLBACK_SCSV: retries after a failed attempt, not legacy-only clients.",
    &[L_TRANSPORT, L_POLICY],
);
/// Per legacy client: hellos a policy would refuse.
pub const CLIENT_SERIES_POLICY_WOULD_FAIL: MetricDef = counter(
    "hellowatch_legacy_client_policy_would_fail_total",
    "Per legacy client: ClientHellos a server enforcing the policy would refuse, fallback retries not included.",
    &[L_CLIENT, L_POLICY],
);
/// Legacy clients expired after `--client-series-idle` of packet time.
pub const CLIENT_SERIES_EXPIRED: MetricDef = counter(
    "hellowatch_legacy_client_series_expired_total",
    "Legacy clients whose per-client series were removed after --client-series-idle seconds of packet time without a connection.",
    &[],
);
/// Non-legacy clients forgotten by the bound on remembered clients.
pub const CLIENT_HISTORY_DROPPED: MetricDef = counter(
    "hellowatch_client_history_dropped_total",
    "Recently seen non-legacy clients forgotten because --max-client-series of them were remembered; if such a client turns legacy, its series miss its earlier connections.",
    &[],
);

// ---- Coverage: what was seen, skipped, missed or bounded. ----

/// Packets dropped before hellowatch saw them, or by its queues.
pub const DROPPED_PACKETS: MetricDef = counter(
    "hellowatch_dropped_packets_total",
    "Packets dropped: by the kernel (libpcap ps_drop), by the interface or driver (ps_ifdrop), or because a worker queue was full. Always 0 in replay.",
    &[L_STAGE],
);
/// libpcap's received count.
pub const PCAP_RECEIVED: MetricDef = counter(
    "hellowatch_pcap_received_packets_total",
    "Packets libpcap reports as received by the filter (ps_recv). Always 0 in replay.",
    &[],
);
/// Connections tracked now.
pub const FLOWS_TRACKED: MetricDef = gauge(
    "hellowatch_flows_tracked",
    "Connections in the connection tables now (all workers).",
    &[],
);
/// Build information.
pub const BUILD_INFO: MetricDef = gauge(
    "hellowatch_build_info",
    "Constant 1, labelled with the hellowatch version and the cargo features it was built with.",
    &["version", "features"],
);

/// The census and per-client metrics, in exposition order (the coverage section follows).
pub const CENSUS: [MetricDef; 24] = [
    CLIENT_HELLOS,
    OFFERED_VERSIONS,
    NEGOTIATED,
    FAILED,
    CONNECTIONS,
    ALERTS,
    POLICY_WOULD_FAIL,
    POLICY_FALLBACK_RETRIES,
    CIPHER_CLASSES,
    OFFERED_WEAK,
    KEY_SHARES,
    GROUP_CHOSEN,
    CERT_STATUS,
    CERT_PROBLEMS,
    CLIENT_SERIES_HELLOS,
    CLIENT_SERIES_NEGOTIATED,
    CLIENT_SERIES_FAILED,
    CLIENT_SERIES_ALERTS,
    CLIENT_SERIES_POLICY_WOULD_FAIL,
    CLIENT_SERIES_LAST_SEEN,
    CLIENT_SERIES_CLIENTS,
    CLIENT_SERIES_DROPPED,
    CLIENT_SERIES_EXPIRED,
    CLIENT_HISTORY_DROPPED,
];

/// One family of the coverage section.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Coverage {
    /// A counter of the counters table ([`crate::counters`]), by field.
    Counter(&'static str),
    /// A family that is not a plain coverage counter (dropped packets by stage with libpcap's
    /// drops, libpcap's received count, connections tracked now).
    Other(MetricDef),
}

/// The coverage section in exposition order, pinned as it was before the counters table
/// (the exposition is compared byte for byte). Counters of the table not listed here follow
/// in table order ([`coverage`]): a new counter needs no line here.
const COVERAGE_ORDER: [Coverage; 27] = [
    Coverage::Counter("packets"),
    Coverage::Counter("bytes"),
    Coverage::Counter("decode_errors"),
    Coverage::Other(DROPPED_PACKETS),
    Coverage::Other(PCAP_RECEIVED),
    Coverage::Counter("tcp_segments"),
    Coverage::Counter("truncated_segments"),
    Coverage::Other(FLOWS_TRACKED),
    Coverage::Counter("flows_created"),
    Coverage::Counter("flows_evicted"),
    Coverage::Counter("flows_expired"),
    Coverage::Counter("flows_midstream"),
    Coverage::Counter("flows_reused"),
    Coverage::Counter("stream_cap_hits"),
    Coverage::Counter("reassembly_gaps"),
    Coverage::Counter("overlap_conflicts"),
    Coverage::Counter("streams_not_tls"),
    Coverage::Counter("hellos_midstream"),
    Coverage::Counter("conns_one_sided"),
    Coverage::Counter("hellos_dropped"),
    Coverage::Counter("alerts_dropped"),
    Coverage::Counter("streams_unfinished"),
    Coverage::Counter("buffered_cap_hits"),
    Coverage::Counter("upgrades"),
    Coverage::Counter("upgrades_refused"),
    Coverage::Counter("plaintext_inspect_limit"),
    Coverage::Counter("anomalies"),
];

/// The coverage families in exposition order: [`COVERAGE_ORDER`], then the table's other
/// exported counters.
pub fn coverage() -> impl Iterator<Item = Coverage> {
    let listed = |f: &'static str| COVERAGE_ORDER.contains(&Coverage::Counter(f));
    COVERAGE_ORDER.into_iter().chain(
        Counters::DEFS
            .iter()
            .filter(move |d| d.metric.is_some() && !listed(d.field))
            .map(|d| Coverage::Counter(d.field)),
    )
}

/// The metric of a counter of the table (none if it is not exported on its own).
pub fn counter_metric(d: &CounterDef) -> Option<MetricDef> {
    Some(counter(d.metric?, d.help, d.labels))
}

/// Every metric, in exposition order.
pub fn all() -> Vec<MetricDef> {
    let cov = coverage().filter_map(|c| match c {
        Coverage::Counter(f) => Counters::def(f).and_then(counter_metric),
        Coverage::Other(m) => Some(m),
    });
    CENSUS.into_iter().chain(cov).chain([BUILD_INFO]).collect()
}

impl EncodeLabelValue for VersionLabel {
    fn encode(&self, e: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        e.write_str(self.name())
    }
}

/// Alert descriptions with an RFC name, in a fixed order: the label's closed set (with
/// `unassigned` for every other code) is the alert table [`ALERTS`].
const NAMED_ALERTS: [(u8, &str); crate::tls::ALERTS.len()] = crate::tls::ALERTS;

/// Index of each alert code in [`NAMED_ALERTS`], or [`AlertLabel::UNASSIGNED`].
// Compile-time table: an out-of-range index here fails the build, it cannot panic at run time.
#[allow(clippy::indexing_slicing)]
const ALERT_INDEX: [u8; 256] = {
    let mut t = [AlertLabel::UNASSIGNED as u8; 256];
    let mut i = 0;
    while i < NAMED_ALERTS.len() {
        t[NAMED_ALERTS[i].0 as usize] = i as u8;
        i += 1;
    }
    t
};

/// An alert description as a label value: its RFC name, or `unassigned`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AlertLabel(u8);

impl AlertLabel {
    /// Index of the `unassigned` value.
    pub const UNASSIGNED: usize = NAMED_ALERTS.len();
    /// Number of values.
    pub const COUNT: usize = NAMED_ALERTS.len() + 1;

    /// The label of an alert description code.
    pub fn of(desc: u8) -> Self {
        // A u8 always indexes a 256-entry table.
        #[allow(clippy::indexing_slicing)]
        AlertLabel(ALERT_INDEX[usize::from(desc)])
    }

    /// The label at `index` (< [`AlertLabel::COUNT`]).
    pub fn from_index(index: usize) -> Self {
        AlertLabel(u8::try_from(index.min(Self::UNASSIGNED)).unwrap_or(u8::MAX))
    }

    /// Position among the values (< [`AlertLabel::COUNT`]).
    pub fn index(self) -> usize {
        usize::from(self.0).min(Self::UNASSIGNED)
    }

    /// The label value.
    pub fn as_str(self) -> &'static str {
        NAMED_ALERTS
            .get(usize::from(self.0))
            .map_or("unassigned", |(_, name)| name)
    }
}

impl EncodeLabelValue for AlertLabel {
    fn encode(&self, e: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        e.write_str(self.as_str())
    }
}

/// Label value of an alert's sender.
pub fn direction_label(d: Direction) -> &'static str {
    match d {
        Direction::FromClient => "from_client",
        Direction::FromServer => "from_server",
    }
}

impl EncodeLabelValue for Direction {
    fn encode(&self, e: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        e.write_str(direction_label(*self))
    }
}

impl EncodeLabelValue for CipherClass {
    fn encode(&self, e: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        e.write_str(self.name())
    }
}

impl EncodeLabelValue for CertProblem {
    fn encode(&self, e: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        e.write_str(self.name())
    }
}

impl EncodeLabelValue for CertStatus {
    fn encode(&self, e: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        e.write_str(self.name())
    }
}

impl EncodeLabelValue for Group {
    fn encode(&self, e: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        e.write_str(self.name())
    }
}

impl EncodeLabelValue for crate::policy::Policy {
    fn encode(&self, e: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        write!(e, "{self}")
    }
}

impl EncodeLabelValue for Anomaly {
    fn encode(&self, e: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        e.write_str(self.name())
    }
}

impl EncodeLabelValue for crate::upgrade::Start {
    fn encode(&self, e: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        e.write_str(self.name())
    }
}

impl EncodeLabelValue for crate::tls::Transport {
    fn encode(&self, e: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        e.write_str(self.name())
    }
}

impl EncodeLabelValue for DecodeError {
    fn encode(&self, e: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        e.write_str(self.name())
    }
}

closed_set! {
    /// Where packets were dropped.
    pub enum DropStage {
        /// A worker queue was full (the capture thread never blocks).
        Queue => "queue",
        /// The kernel buffer was full (libpcap `ps_drop`).
        Kernel => "kernel",
        /// The interface or driver dropped (libpcap `ps_ifdrop`).
        Interface => "interface",
    }
}

impl EncodeLabelValue for DropStage {
    fn encode(&self, e: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        e.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::{Version, alert_name};
    use std::collections::HashSet;

    fn valid_name(s: &str) -> bool {
        let mut c = s.chars();
        c.next().is_some_and(|f| f.is_ascii_lowercase())
            && s.chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_')
    }

    #[test]
    fn names_follow_the_conventions_and_are_unique() {
        let mut seen = HashSet::new();
        for m in all() {
            assert!(m.name.starts_with("hellowatch_"), "{}", m.name);
            assert!(valid_name(m.name), "{}", m.name);
            assert_eq!(
                m.kind == Kind::Counter,
                m.name.ends_with("_total"),
                "{}: counters and only counters end in _total",
                m.name
            );
            assert!(seen.insert(m.family()), "duplicate {}", m.name);
            assert!(
                !m.help.contains(['"', '\\', '\n']) && m.help.ends_with('.'),
                "{}: help must be one plain sentence",
                m.name
            );
            for l in m.labels {
                assert!(valid_name(l) && !l.starts_with("__"), "{l}");
                // Names that clash with usual target labels.
                assert!(!["type", "instance", "job", "le", "quantile"].contains(l));
            }
        }
    }

    #[test]
    fn version_labels_are_a_closed_set() {
        assert_eq!(VersionLabel::of(Version::TLS10).name(), "tls1.0");
        assert_eq!(VersionLabel::of(Version(0x7f1c)).name(), "tls1.3-draft");
        assert_eq!(VersionLabel::of(Version(0x0305)).name(), "other");
        assert_eq!(VersionLabel::of(Version(0xfefd)).name(), "dtls1.2");
        assert_eq!(VersionLabel::of(Version(0x0100)).name(), "other");
        assert_eq!(VersionLabel::of_max(None).name(), "none");
        for (i, v) in VersionLabel::ALL.iter().enumerate() {
            assert_eq!(v.index(), i);
        }
        // The census names of the named versions are the label values.
        for v in [0x0002u16, 0x0300, 0x0301, 0x0302, 0x0303, 0x0304] {
            assert_eq!(VersionLabel::of(Version(v)).name(), Version(v).to_string());
        }
    }

    #[test]
    fn alert_labels_are_rfc_names_or_unassigned() {
        assert_eq!(AlertLabel::of(70).as_str(), "protocol_version");
        assert_eq!(AlertLabel::of(0).as_str(), "close_notify");
        assert_eq!(AlertLabel::of(17).as_str(), "unassigned");
        assert_eq!(AlertLabel::of(255).index(), AlertLabel::UNASSIGNED);
        let mut values = HashSet::new();
        for d in 0..=255u8 {
            let l = AlertLabel::of(d);
            assert!(l.index() < AlertLabel::COUNT);
            assert_eq!(AlertLabel::from_index(l.index()), l);
            assert_eq!(l.as_str(), alert_name(d).unwrap_or("unassigned"));
            values.insert(l.as_str());
        }
        assert_eq!(values.len(), AlertLabel::COUNT);
    }
}
