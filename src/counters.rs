//! Coverage counters, defined once: what was seen, skipped, missed or bounded.
//!
//! The [`counters!`] table below is the only place a coverage counter is declared: its field,
//! its key in the JSON report's `"coverage"` object, its Prometheus metric name and help. The
//! struct [`Counters`], its merge, its JSON emission (in table order: the order of the report
//! contract) and the metrics' registration and export are generated from it. Some names
//! drifted before the table existed (`streams_not_tls` is exported as
//! `hellowatch_non_tls_streams_total`): the table records both, and both are a contract.
//!
//! **Adding a counter** is one row in the table (plus its test): `field: u64 => "json_key",
//! "hellowatch_metric_total", "Help sentence.";`. A counter by a closed set is
//! `field: [Set, "label"] => …` (`[Set, "label", 1]` leaves out the set's first value). `_`
//! for the JSON key or the metric leaves the counter out of that output.

use crate::closed::ClosedSet;
use crate::dtls::Issue;
use crate::quic::Counter as QuicCounter;
use crate::tls::Anomaly;
use crate::upgrade::Start;
use crate::wire::DecodeError;
use serde::ser::{Serialize, SerializeMap, Serializer};

/// One row of the counters table.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct CounterDef {
    /// Field of [`Counters`].
    pub field: &'static str,
    /// Key in the JSON report's `"coverage"` object (none: not in the report).
    pub json: Option<&'static str>,
    /// Prometheus sample name (none: not exported on its own).
    pub metric: Option<&'static str>,
    /// Metric help: one plain sentence.
    pub help: &'static str,
    /// Label name of a counter by a closed set (empty for a single count).
    pub labels: &'static [&'static str],
}

/// The value of one counter.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CounterValue<'a> {
    /// A single count.
    Count(u64),
    /// One count per value of a closed set: names and counts, in the set's order.
    ByName(&'static [&'static str], &'a [u64]),
}

impl CounterValue<'_> {
    /// `(name, count)` pairs of a counter by a closed set (nothing for a single count).
    pub fn named(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        let (names, counts): (&[&str], &[u64]) = match self {
            CounterValue::Count(_) => (&[], &[]),
            CounterValue::ByName(n, c) => (n, c),
        };
        names.iter().copied().zip(counts.iter().copied())
    }
}

/// Adds counts, saturating.
trait Count {
    fn add(&mut self, o: &Self);
}

impl Count for u64 {
    fn add(&mut self, o: &u64) {
        *self = self.saturating_add(*o);
    }
}

impl<const N: usize> Count for [u64; N] {
    fn add(&mut self, o: &[u64; N]) {
        for (a, b) in self.iter_mut().zip(o) {
            *a = a.saturating_add(*b);
        }
    }
}

/// The names and counts of a counter by closed set `S`, from value `skip` on.
fn by_name<S: ClosedSet>(counts: &[u64], skip: usize) -> CounterValue<'_> {
    CounterValue::ByName(
        S::NAMES.get(skip..).unwrap_or(&[]),
        counts.get(skip..).unwrap_or(&[]),
    )
}

macro_rules! counters {
    (@ty u64) => { u64 };
    (@ty [$set:ty, $label:literal $(, $skip:literal)?]) => { [u64; <$set>::COUNT] };
    (@label u64) => { &[] };
    (@label [$set:ty, $label:literal $(, $skip:literal)?]) => { &[$label] };
    (@value $v:expr, u64) => { CounterValue::Count(*$v) };
    (@value $v:expr, [$set:ty, $label:literal]) => { by_name::<$set>($v, 0) };
    (@value $v:expr, [$set:ty, $label:literal, $skip:literal]) => { by_name::<$set>($v, $skip) };
    (@opt _) => { None };
    (@opt $s:literal) => { Some($s) };
    (
        $(
            $(#[doc = $doc:literal])*
            $field:ident : $kind:tt => $json:tt, $metric:tt, $help:literal;
        )+
    ) => {
        /// Coverage counters: what was seen, skipped, missed or bounded (declared in the
        /// table of [`crate::counters`]).
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub struct Counters {
            $(
                $(#[doc = $doc])*
                pub $field: counters!(@ty $kind),
            )+
        }

        impl Counters {
            /// The table, in order.
            pub const DEFS: [CounterDef; [$(stringify!($field)),+].len()] = [
                $(
                    CounterDef {
                        field: stringify!($field),
                        json: counters!(@opt $json),
                        metric: counters!(@opt $metric),
                        help: $help,
                        labels: counters!(@label $kind),
                    },
                )+
            ];

            /// Adds another set of counters.
            pub fn merge(&mut self, o: &Counters) {
                $( Count::add(&mut self.$field, &o.$field); )+
            }

            /// Every counter with its row of the table, in table order.
            pub fn iter(&self) -> impl Iterator<Item = (&'static CounterDef, CounterValue<'_>)> {
                Self::DEFS.iter().zip([$(counters!(@value &self.$field, $kind)),+])
            }
        }
    };
}

counters! {
    /// Packets handed in.
    packets: u64 => _, "hellowatch_packets_total",
        "Packets read from files or from the capture.";
    /// Captured bytes handed in.
    bytes: u64 => _, "hellowatch_captured_bytes_total",
        "Captured bytes of those packets (after the snap length).";
    /// TCP segments decoded.
    tcp_segments: u64 => "tcp_segments", "hellowatch_tcp_segments_total",
        "TCP segments decoded.";
    /// Packets not decoded, by [`DecodeError`].
    decode_errors: [DecodeError, "reason"] => "not_decoded", "hellowatch_undecoded_packets_total",
        "Packets not decoded down to TCP, by reason.";
    /// Segments whose payload was cut by the snap length.
    truncated_segments: u64 => "truncated_segments", "hellowatch_truncated_segments_total",
        "TCP segments whose payload was cut by the snap length.";
    /// Connections created.
    flows_created: u64 => "flows_created", "hellowatch_flows_created_total",
        "Connections created in the connection tables.";
    /// Connections evicted because the table was full.
    flows_evicted: u64 => "flows_evicted", "hellowatch_flows_evicted_total",
        "Connections evicted because the connection table was full (--max-flows).";
    /// Open connections expired by the idle timeout (closed ones leaving are not counted).
    flows_expired: u64 => "flows_expired", "hellowatch_flows_expired_total",
        "Connections expired after --idle-timeout seconds of packet time.";
    /// Connections first seen with payload and no SYN.
    flows_midstream: u64 => "flows_midstream", "hellowatch_flows_midstream_total",
        "Connections first seen with payload and no SYN (joined mid-stream).";
    /// Connections started again by a new SYN on the same endpoints.
    flows_reused: u64 => "flows_reused", "hellowatch_flows_reused_total",
        "Connections started again by a new SYN on the same endpoints.";
    /// Directions that stopped because the stream cap was reached.
    stream_cap_hits: u64 => "stream_cap_hits", "hellowatch_stream_cap_hits_total",
        "Connection directions given up because --stream-cap bytes were buffered.";
    /// Out-of-order segments dropped (hold list full), plus holes never filled.
    reassembly_gaps: u64 => "reassembly_gaps", "hellowatch_reassembly_gaps_total",
        "Out-of-order segments dropped (hold list full) plus holes never filled.";
    /// Retransmitted bytes that differed from the bytes kept (first copy wins).
    overlap_conflicts: u64 => "overlap_conflicts", "hellowatch_overlap_conflicts_total",
        "Retransmissions whose bytes differed from the bytes kept (the first copy wins).";
    /// Directions whose bytes were not TLS.
    streams_not_tls: u64 => "streams_not_tls", "hellowatch_non_tls_streams_total",
        "Connection directions whose bytes were not TLS or SSLv2.";
    /// Directions that ended (closed, expired, evicted, end of input) inside an incomplete
    /// record or hello: bytes announced as TLS that never completed.
    streams_unfinished: u64 => "streams_unfinished", "hellowatch_unfinished_streams_total",
        "Directions that ended inside an announced record or hello (it never completed).";
    /// Directions given up because the engine's buffer budget was exhausted.
    buffered_cap_hits: u64 => "buffered_cap_hits", "hellowatch_buffered_cap_hits_total",
        "Directions given up because the engine-wide reassembly budget (--max-buffered) was full.";
    /// ClientHellos on connections joined mid-stream.
    hellos_midstream: u64 => "hellos_midstream", "hellowatch_midstream_hellos_total",
        "ClientHellos on connections joined mid-stream.";
    /// Connections with a hello where only one side sent anything.
    conns_one_sided: u64 => "conns_one_sided", "hellowatch_one_sided_connections_total",
        "Connections with a hello where only one side sent anything (asymmetric capture).";
    /// Hellos beyond the per-connection bound (counted in no census).
    hellos_dropped: u64 => "hellos_dropped", "hellowatch_dropped_hellos_total",
        "Hellos beyond the per-connection bound, counted nowhere else.";
    /// Alerts beyond the per-connection bound.
    alerts_dropped: u64 => "alerts_dropped", "hellowatch_dropped_alerts_total",
        "Plaintext alerts beyond the per-connection bound, counted nowhere else.";
    /// Packets dropped because a worker queue was full (live capture only). Exported as the
    /// `stage="queue"` sample of `hellowatch_dropped_packets_total`, with libpcap's drops.
    queue_drops: u64 => "queue_drops", _,
        "Packets dropped because a worker queue was full.";
    /// Anomalies, by [`Anomaly`].
    anomalies: [Anomaly, "kind"] => "anomalies", "hellowatch_anomalies_total",
        "Oddities in TLS bytes, by kind (malformed hellos, oversized records, bad alerts).";
    /// Connections whose TLS began after a plaintext upgrade, by [`Start`] (index 0, direct,
    /// stays 0 and is not reported).
    upgrades: [Start, "kind", 1] => "upgrades", "hellowatch_upgrades_total",
        "Connections whose TLS began after a plaintext upgrade (STARTTLS, CONNECT, SOCKS, ...), by kind.";
    /// Upgrade requests the server refused (the connection stayed plaintext, or retried).
    upgrades_refused: u64 => "upgrades_refused", "hellowatch_upgrades_refused_total",
        "Plaintext upgrade requests (STARTTLS, CONNECT, SOCKS, ...) the server refused.";
    /// Upgrades whose answer was not captured (lost, or one direction mirrored): the client's
    /// next bytes were a ClientHello and the server answered with a ServerHello.
    upgrade_reply_missing: u64 => "upgrade_reply_missing", "hellowatch_upgrade_reply_missing_total",
        "Upgrades whose answer was not captured: TLS recognised by a ClientHello after the request and a ServerHello.";
    /// Connections given up as not TLS after
    /// [`MAX_PLAINTEXT_INSPECT`](crate::upgrade::MAX_PLAINTEXT_INSPECT) plaintext bytes of a
    /// direction were inspected without an upgrade.
    plaintext_inspect_limit: u64 => "plaintext_inspect_limit", "hellowatch_plaintext_inspect_limit_total",
        "Connections given up as not TLS after inspecting the bounded plaintext prefix.";
    /// RSTs outside their connection's window (RFC 5961 §3), ignored.
    rst_ignored: u64 => "rst_ignored", "hellowatch_rst_ignored_total",
        "RST segments outside the window of their connection (stale or spoofed), ignored.";
    /// Zero bytes padding pure ACKs, replaced by the data sent at the same sequence number.
    zero_padding_replaced: u64 => "zero_padding_replaced", "hellowatch_zero_padding_replaced_total",
        "Zero bytes padding pure ACKs, replaced by the data sent at the same sequence number.";
    /// UDP datagrams read on DTLS and QUIC connections.
    udp_datagrams: u64 => "udp_datagrams", "hellowatch_udp_datagrams_total",
        "UDP datagrams read on DTLS and QUIC connections.";
    /// UDP connections (DTLS, QUIC) created.
    udp_flows_created: u64 => "udp_flows_created", "hellowatch_udp_flows_created_total",
        "UDP connections (DTLS, QUIC) created in the UDP connection tables.";
    /// UDP connections evicted because their table was full.
    udp_flows_evicted: u64 => "udp_flows_evicted", "hellowatch_udp_flows_evicted_total",
        "UDP connections evicted because the UDP connection table was full (--max-flows).";
    /// UDP connections settled by the idle timeout.
    udp_flows_expired: u64 => "udp_flows_expired", "hellowatch_udp_flows_expired_total",
        "UDP connections settled after --idle-timeout seconds of packet time.";
    /// DTLS framing problems and limits, by [`Issue`].
    dtls_issues: [Issue, "kind"] => "dtls_issues", "hellowatch_dtls_issues_total",
        "DTLS framing problems and limits met, by kind.";
    /// QUIC packets and connections by what happened to them, by [`QuicCounter`].
    quic: [QuicCounter, "kind"] => "quic", "hellowatch_quic_events_total",
        "QUIC packets and connections by what happened to them (Initials decrypted or not, Retry, Version Negotiation, CRYPTO reassembly limits), by kind.";
    /// QUIC ClientHellos already counted on another UDP flow (the same Initial seen twice, on
    /// both sides of a NAT), not counted again.
    quic_hellos_repeated: u64 => "quic_hellos_repeated", "hellowatch_quic_hellos_repeated_total",
        "QUIC ClientHellos already counted on another UDP flow (the same Initial seen twice), not counted again.";
    /// `live --bypass`: packets of settled connections dropped in the kernel by the socket
    /// filter (never read; not in `packets`).
    bypass_packets: u64 => "bypass_packets", "hellowatch_bypass_packets_total",
        "Packets of settled connections dropped in the kernel by the --bypass socket filter (never read).";
    /// `live --bypass`: their bytes on the wire.
    bypass_bytes: u64 => "bypass_bytes", "hellowatch_bypass_bytes_total",
        "Bytes of the packets dropped in the kernel by the --bypass socket filter.";
    /// `live --bypass`: connections handed to the socket filter (keys inserted into its map).
    bypass_flows: u64 => "bypass_flows", "hellowatch_bypass_flows_total",
        "Settled connections whose later packets the --bypass socket filter drops (keys inserted into its map).";
    /// `live --bypass`: connections the filter's map refused (they stay read in user space).
    bypass_map_full: u64 => "bypass_map_full", "hellowatch_bypass_map_full_total",
        "Settled connections the --bypass map refused (they are still read in user space).";
}

impl Counters {
    /// The counters of the JSON report, `(key, value)` in the report's order.
    pub fn json_entries(&self) -> impl Iterator<Item = (&'static str, CounterValue<'_>)> {
        self.iter().filter_map(|(d, v)| Some((d.json?, v)))
    }

    /// The row of field `field`.
    pub fn def(field: &str) -> Option<&'static CounterDef> {
        Self::DEFS.iter().find(|d| d.field == field)
    }

    /// The value of field `field`.
    pub fn value(&self, field: &str) -> Option<CounterValue<'_>> {
        self.iter().find(|(d, _)| d.field == field).map(|(_, v)| v)
    }
}

/// Serialises as the JSON report's coverage counters (without the census' own drop counts):
/// single counts as numbers, counts by a closed set as objects keyed by name.
impl Serialize for Counters {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        struct ByName<'a>(CounterValue<'a>);
        impl Serialize for ByName<'_> {
            fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
                match self.0 {
                    CounterValue::Count(n) => ser.serialize_u64(n),
                    v => {
                        let mut m = ser.serialize_map(None)?;
                        for (k, n) in v.named() {
                            m.serialize_entry(k, &n)?;
                        }
                        m.end()
                    }
                }
            }
        }
        let mut m = ser.serialize_map(None)?;
        for (k, v) in self.json_entries() {
            m.serialize_entry(k, &ByName(v))?;
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_field_is_in_the_table_once_and_merges() {
        let mut seen = HashSet::new();
        for d in Counters::DEFS {
            assert!(seen.insert(d.field), "{}", d.field);
            assert!(d.help.ends_with('.') && !d.help.contains(['"', '\\', '\n']));
            if let Some(m) = d.metric {
                assert!(m.starts_with("hellowatch_") && m.ends_with("_total"), "{m}");
            }
        }
        let mut a = Counters {
            packets: 1,
            queue_drops: 2,
            ..Counters::default()
        };
        a.anomalies[Anomaly::BadAlert.index()] = 3;
        let b = a.clone();
        a.merge(&b);
        assert_eq!((a.packets, a.queue_drops), (2, 4));
        assert_eq!(a.anomalies[Anomaly::BadAlert.index()], 6);
    }

    #[test]
    fn json_is_in_table_order_with_upgrades_leaving_out_direct() {
        let mut k = Counters {
            tcp_segments: 5,
            ..Counters::default()
        };
        k.upgrades[Start::StarttlsSmtp.index()] = 1;
        let v = serde_json::to_value(&k).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        let want: Vec<&str> = Counters::DEFS.iter().filter_map(|d| d.json).collect();
        assert_eq!(keys, want);
        assert_eq!(v["tcp_segments"], 5);
        assert_eq!(v["upgrades"][Start::StarttlsSmtp.name()], 1);
        assert!(v["upgrades"].get(Start::Direct.name()).is_none());
        assert_eq!(
            v["not_decoded"].as_object().unwrap().len(),
            DecodeError::COUNT
        );
    }
}
