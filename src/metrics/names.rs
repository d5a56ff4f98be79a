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

use crate::tally::Direction;
use crate::tls::{Anomaly, Version, alert_name};
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

// ---- Census: aggregate counters, updated once per settled connection. ----

/// ClientHellos by highest offered version.
pub const CLIENT_HELLOS: MetricDef = counter(
    "hellowatch_client_hellos_total",
    "ClientHello messages, by highest offered version (supported_versions without GREASE, else legacy_version).",
    &[L_OFFERED_MAX],
);
/// ClientHellos listing each version.
pub const OFFERED_VERSIONS: MetricDef = counter(
    "hellowatch_offered_versions_total",
    "ClientHello messages offering each version (one hello counts once per version it lists).",
    &[L_VERSION],
);
/// Connections by negotiated version.
pub const NEGOTIATED: MetricDef = counter(
    "hellowatch_negotiated_handshakes_total",
    "Connections by the version the ServerHello selected (HelloRetryRequests excluded).",
    &[L_VERSION],
);
/// Connections with a ClientHello and no ServerHello.
pub const FAILED: MetricDef = counter(
    "hellowatch_failed_handshakes_total",
    "Connections with a ClientHello and no ServerHello: refused or abandoned handshakes.",
    &[],
);
/// Connections that contributed to the census.
pub const CONNECTIONS: MetricDef = counter(
    "hellowatch_tls_connections_total",
    "Settled connections with a hello or a plaintext alert (the census connections).",
    &[],
);
/// Plaintext alerts.
pub const ALERTS: MetricDef = counter(
    "hellowatch_alerts_total",
    "Plaintext TLS alerts, by description and sender (encrypted alerts are not visible).",
    &[L_DESCRIPTION, L_DIRECTION],
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
    &[L_POLICY],
);
/// Refused hellos that are fallback retries.
pub const POLICY_FALLBACK_RETRIES: MetricDef = counter(
    "hellowatch_policy_fallback_retries_total",
    "ClientHellos a server enforcing the policy would refuse that carry TLS_FALLBACK_SCSV: retries after a failed attempt, not legacy-only clients.",
    &[L_POLICY],
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

/// Packets handed in.
pub const PACKETS: MetricDef = counter(
    "hellowatch_packets_total",
    "Packets read from files or from the capture.",
    &[],
);
/// Captured bytes handed in.
pub const BYTES: MetricDef = counter(
    "hellowatch_captured_bytes_total",
    "Captured bytes of those packets (after the snap length).",
    &[],
);
/// Packets not decoded.
pub const UNDECODED: MetricDef = counter(
    "hellowatch_undecoded_packets_total",
    "Packets not decoded down to TCP, by reason.",
    &[L_REASON],
);
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
/// TCP segments decoded.
pub const TCP_SEGMENTS: MetricDef = counter(
    "hellowatch_tcp_segments_total",
    "TCP segments decoded.",
    &[],
);
/// Segments cut by the snap length.
pub const TRUNCATED_SEGMENTS: MetricDef = counter(
    "hellowatch_truncated_segments_total",
    "TCP segments whose payload was cut by the snap length.",
    &[],
);
/// Connections tracked now.
pub const FLOWS_TRACKED: MetricDef = gauge(
    "hellowatch_flows_tracked",
    "Connections in the connection tables now (all workers).",
    &[],
);
/// Connections created.
pub const FLOWS_CREATED: MetricDef = counter(
    "hellowatch_flows_created_total",
    "Connections created in the connection tables.",
    &[],
);
/// Connections evicted (table full).
pub const FLOWS_EVICTED: MetricDef = counter(
    "hellowatch_flows_evicted_total",
    "Connections evicted because the connection table was full (--max-flows).",
    &[],
);
/// Connections expired (idle).
pub const FLOWS_EXPIRED: MetricDef = counter(
    "hellowatch_flows_expired_total",
    "Connections expired after --idle-timeout seconds of packet time.",
    &[],
);
/// Connections joined mid-stream.
pub const FLOWS_MIDSTREAM: MetricDef = counter(
    "hellowatch_flows_midstream_total",
    "Connections first seen with payload and no SYN (joined mid-stream).",
    &[],
);
/// Connections restarted by a new SYN.
pub const FLOWS_REUSED: MetricDef = counter(
    "hellowatch_flows_reused_total",
    "Connections started again by a new SYN on the same endpoints.",
    &[],
);
/// Stream cap hits.
pub const STREAM_CAP_HITS: MetricDef = counter(
    "hellowatch_stream_cap_hits_total",
    "Connection directions given up because --stream-cap bytes were buffered.",
    &[],
);
/// Reassembly gaps.
pub const REASSEMBLY_GAPS: MetricDef = counter(
    "hellowatch_reassembly_gaps_total",
    "Out-of-order segments dropped (hold list full) plus holes never filled.",
    &[],
);
/// Overlap conflicts.
pub const OVERLAP_CONFLICTS: MetricDef = counter(
    "hellowatch_overlap_conflicts_total",
    "Retransmissions whose bytes differed from the bytes kept (the first copy wins).",
    &[],
);
/// Streams that were not TLS.
pub const NOT_TLS: MetricDef = counter(
    "hellowatch_non_tls_streams_total",
    "Connection directions whose bytes were not TLS or SSLv2.",
    &[],
);
/// Hellos on mid-stream connections.
pub const HELLOS_MIDSTREAM: MetricDef = counter(
    "hellowatch_midstream_hellos_total",
    "ClientHellos on connections joined mid-stream.",
    &[],
);
/// One-sided connections.
pub const ONE_SIDED: MetricDef = counter(
    "hellowatch_one_sided_connections_total",
    "Connections with a hello where only one side sent anything (asymmetric capture).",
    &[],
);
/// Hellos beyond the per-connection bound.
pub const HELLOS_DROPPED: MetricDef = counter(
    "hellowatch_dropped_hellos_total",
    "Hellos beyond the per-connection bound, counted nowhere else.",
    &[],
);
/// Alerts beyond the per-connection bound.
pub const ALERTS_DROPPED: MetricDef = counter(
    "hellowatch_dropped_alerts_total",
    "Plaintext alerts beyond the per-connection bound, counted nowhere else.",
    &[],
);
/// Records or hellos announced and never completed.
pub const STREAMS_UNFINISHED: MetricDef = counter(
    "hellowatch_unfinished_streams_total",
    "Directions that ended inside an announced record or hello (it never completed).",
    &[],
);
/// Engine-wide reassembly budget hits.
pub const BUFFERED_CAP_HITS: MetricDef = counter(
    "hellowatch_buffered_cap_hits_total",
    "Directions given up because the engine-wide reassembly budget (--max-buffered) was full.",
    &[],
);
/// Plaintext upgrades to TLS, by kind.
pub const UPGRADES: MetricDef = counter(
    "hellowatch_upgrades_total",
    "Connections whose TLS began after a plaintext upgrade (STARTTLS, CONNECT, SOCKS, ...), by kind.",
    &[L_KIND],
);
/// Upgrade requests the server refused.
pub const UPGRADES_REFUSED: MetricDef = counter(
    "hellowatch_upgrades_refused_total",
    "Plaintext upgrade requests (STARTTLS, CONNECT, SOCKS, ...) the server refused.",
    &[],
);
/// Upgrades whose answer was not captured.
pub const UPGRADE_REPLY_MISSING: MetricDef = counter(
    "hellowatch_upgrade_reply_missing_total",
    "Upgrades whose answer was not captured: TLS recognised by a ClientHello after the request and a ServerHello.",
    &[],
);
/// Plaintext inspection bound hits.
pub const PLAINTEXT_INSPECT_LIMIT: MetricDef = counter(
    "hellowatch_plaintext_inspect_limit_total",
    "Connections given up as not TLS after inspecting the bounded plaintext prefix.",
    &[],
);
/// Parse anomalies.
pub const ANOMALIES: MetricDef = counter(
    "hellowatch_anomalies_total",
    "Oddities in TLS bytes, by kind (malformed hellos, oversized records, bad alerts).",
    &[L_KIND],
);
/// Build information.
pub const BUILD_INFO: MetricDef = gauge(
    "hellowatch_build_info",
    "Constant 1, labelled with the hellowatch version and the cargo features it was built with.",
    &["version", "features"],
);

/// Every metric, in exposition order.
pub const ALL: [MetricDef; 47] = [
    CLIENT_HELLOS,
    OFFERED_VERSIONS,
    NEGOTIATED,
    FAILED,
    CONNECTIONS,
    ALERTS,
    POLICY_WOULD_FAIL,
    POLICY_FALLBACK_RETRIES,
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
    PACKETS,
    BYTES,
    UNDECODED,
    DROPPED_PACKETS,
    PCAP_RECEIVED,
    TCP_SEGMENTS,
    TRUNCATED_SEGMENTS,
    FLOWS_TRACKED,
    FLOWS_CREATED,
    FLOWS_EVICTED,
    FLOWS_EXPIRED,
    FLOWS_MIDSTREAM,
    FLOWS_REUSED,
    STREAM_CAP_HITS,
    REASSEMBLY_GAPS,
    OVERLAP_CONFLICTS,
    NOT_TLS,
    HELLOS_MIDSTREAM,
    ONE_SIDED,
    HELLOS_DROPPED,
    ALERTS_DROPPED,
    STREAMS_UNFINISHED,
    BUFFERED_CAP_HITS,
    UPGRADES,
    UPGRADES_REFUSED,
    UPGRADE_REPLY_MISSING,
    PLAINTEXT_INSPECT_LIMIT,
    ANOMALIES,
    BUILD_INFO,
];

/// A protocol version as a label value: a closed set, so odd values on the wire cannot add
/// series. TLS 1.3 drafts (`0x7fNN`) share one value; anything else unnamed is `other`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VersionLabel {
    /// SSL 2.0.
    Sslv2,
    /// SSL 3.0.
    Sslv3,
    /// TLS 1.0.
    Tls10,
    /// TLS 1.1.
    Tls11,
    /// TLS 1.2.
    Tls12,
    /// A TLS 1.3 draft (`0x7fNN`).
    Tls13Draft,
    /// TLS 1.3.
    Tls13,
    /// Any other value.
    Other,
    /// No version: a `supported_versions` list of GREASE only (highest offered version only).
    None,
}

impl VersionLabel {
    /// Number of values.
    pub const COUNT: usize = 9;

    /// Every value, in protocol order, `other` and `none` last.
    pub const ALL: [VersionLabel; Self::COUNT] = [
        VersionLabel::Sslv2,
        VersionLabel::Sslv3,
        VersionLabel::Tls10,
        VersionLabel::Tls11,
        VersionLabel::Tls12,
        VersionLabel::Tls13Draft,
        VersionLabel::Tls13,
        VersionLabel::Other,
        VersionLabel::None,
    ];

    /// The label of a version.
    pub fn of(v: Version) -> Self {
        match v.0 {
            0x0002 => VersionLabel::Sslv2,
            0x0300 => VersionLabel::Sslv3,
            0x0301 => VersionLabel::Tls10,
            0x0302 => VersionLabel::Tls11,
            0x0303 => VersionLabel::Tls12,
            0x0304 => VersionLabel::Tls13,
            _ if v.is_tls13_draft() => VersionLabel::Tls13Draft,
            _ => VersionLabel::Other,
        }
    }

    /// The label of a highest offered version (`none` when there was none).
    pub fn of_max(v: Option<Version>) -> Self {
        v.map_or(VersionLabel::None, VersionLabel::of)
    }

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            VersionLabel::Sslv2 => "sslv2",
            VersionLabel::Sslv3 => "sslv3",
            VersionLabel::Tls10 => "tls1.0",
            VersionLabel::Tls11 => "tls1.1",
            VersionLabel::Tls12 => "tls1.2",
            VersionLabel::Tls13Draft => "tls1.3-draft",
            VersionLabel::Tls13 => "tls1.3",
            VersionLabel::Other => "other",
            VersionLabel::None => "none",
        }
    }

    /// Position in [`VersionLabel::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl EncodeLabelValue for VersionLabel {
    fn encode(&self, e: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        e.write_str(self.as_str())
    }
}

/// Alert descriptions with an RFC name, in a fixed order (the label's closed set, with
/// `unassigned` for every other code).
const NAMED_ALERTS: [u8; 35] = [
    0, 10, 20, 21, 22, 30, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 60, 70, 71, 80, 86, 90,
    100, 109, 110, 111, 112, 113, 114, 115, 116, 120, 121,
];

/// Index of each alert code in [`NAMED_ALERTS`], or [`AlertLabel::UNASSIGNED`].
// Compile-time table: an out-of-range index here fails the build, it cannot panic at run time.
#[allow(clippy::indexing_slicing)]
const ALERT_INDEX: [u8; 256] = {
    let mut t = [AlertLabel::UNASSIGNED as u8; 256];
    let mut i = 0;
    while i < NAMED_ALERTS.len() {
        t[NAMED_ALERTS[i] as usize] = i as u8;
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
            .and_then(|d| alert_name(*d))
            .unwrap_or("unassigned")
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

impl EncodeLabelValue for DecodeError {
    fn encode(&self, e: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        e.write_str(self.name())
    }
}

/// Where packets were dropped.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DropStage {
    /// A worker queue was full (the capture thread never blocks).
    Queue,
    /// The kernel buffer was full (libpcap `ps_drop`).
    Kernel,
    /// The interface or driver dropped (libpcap `ps_ifdrop`).
    Interface,
}

impl DropStage {
    /// Every value.
    pub const ALL: [DropStage; 3] = [DropStage::Queue, DropStage::Kernel, DropStage::Interface];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DropStage::Queue => "queue",
            DropStage::Kernel => "kernel",
            DropStage::Interface => "interface",
        }
    }
}

impl EncodeLabelValue for DropStage {
    fn encode(&self, e: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        e.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        for m in ALL {
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
        assert_eq!(VersionLabel::of(Version::TLS10).as_str(), "tls1.0");
        assert_eq!(VersionLabel::of(Version(0x7f1c)).as_str(), "tls1.3-draft");
        assert_eq!(VersionLabel::of(Version(0x0305)).as_str(), "other");
        assert_eq!(VersionLabel::of(Version(0xfefd)).as_str(), "other");
        assert_eq!(VersionLabel::of_max(None).as_str(), "none");
        for (i, v) in VersionLabel::ALL.iter().enumerate() {
            assert_eq!(v.index(), i);
        }
        // The census names of the named versions are the label values.
        for v in [0x0002u16, 0x0300, 0x0301, 0x0302, 0x0303, 0x0304] {
            assert_eq!(
                VersionLabel::of(Version(v)).as_str(),
                Version(v).to_string()
            );
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
