//! The UDP path of an engine: DTLS (and QUIC) connections on the UDP flow table.
//!
//! A datagram reaches here only when its content may be DTLS or QUIC (the dispatcher's
//! [`udp_wanted`]); it starts a connection only when it starts a handshake. Anything else is
//! counted where it was before UDP was read (`not_decoded.not_tcp`), so TCP-only figures do
//! not move. With no UDP connection open, the path costs one branch and one empty-table check.

use super::{Engine, SettleSink, count, sweep_due};
use crate::dtls::{self, Issue};
use crate::flow::udp::{UdpId, UdpProto};
use crate::flow::{FlowKey, Handshake, direction};
use crate::tally::{ConnSummary, HelloFacts};
use crate::tls::{Anomaly, ClientHello, ServerHello, Transport};
use crate::upgrade::Start;
use crate::wire::{DecodeError, Segment};

/// May this UDP payload be DTLS or QUIC? Stateless and cheap (no crypto): what the dispatcher
/// forwards to a worker; the rest is counted as `not_tcp` as before UDP was read.
#[inline]
pub fn udp_wanted(payload: &[u8]) -> bool {
    dtls::in_dtls_range(payload)
}

/// The DTLS parser's view of one UDP connection.
struct DtlsCtx<'a> {
    hs: &'a mut Handshake,
    anomalies: &'a mut [u64; Anomaly::ALL.len()],
    issues: &'a mut [u64; Issue::ALL.len()],
}

impl dtls::Handler for DtlsCtx<'_> {
    fn client_hello(&mut self, dir: u8, ch: &ClientHello<'_>) {
        self.hs.push_hello(
            usize::from(dir),
            HelloFacts::from_hello_on(ch, Transport::Dtls),
        );
    }

    fn server_hello(&mut self, dir: u8, sh: &ServerHello) {
        self.hs.push_server_hello(usize::from(dir), sh);
    }

    fn alert(&mut self, dir: u8, level: u8, description: u8) {
        self.hs.push_alert(usize::from(dir), level, description);
    }

    fn anomaly(&mut self, a: Anomaly) {
        if let Some(c) = self.anomalies.get_mut(a.index()) {
            count(c, 1);
        }
    }

    fn issue(&mut self, i: Issue) {
        if let Some(c) = self.issues.get_mut(i.index()) {
            count(c, 1);
        }
    }
}

impl Engine {
    /// One UDP datagram at time `now` (ns).
    pub(super) fn datagram(&mut self, now: u64, seg: &Segment<'_>, sink: &mut impl SettleSink) {
        if self.sweep_on_packets && sweep_due(&mut self.last_sweep, now) {
            self.sweep(now, sink);
        }
        if !udp_wanted(seg.payload) {
            // What the dispatcher does not forward either (STUN, RTP, DNS, …).
            self.not_read(seg);
            return;
        }
        let (key, side) = FlowKey::of(seg);
        let id = match self.udp.find(&key) {
            Some(id) => id,
            None => {
                if !dtls::looks_like_dtls(seg.payload) {
                    self.not_read(seg);
                    return;
                }
                if self.udp.is_full() {
                    if let Some(v) = self.udp.victim() {
                        count(&mut self.counters.udp_flows_evicted, 1);
                        self.close_udp(v, sink);
                    }
                }
                count(&mut self.counters.udp_flows_created, 1);
                self.udp
                    .insert(key, side, now, UdpProto::Dtls(Box::default()))
            }
        };
        let Some(conn) = self.udp.get_mut(id) else {
            return;
        };
        conn.last_seen = conn.last_seen.max(now);
        count(&mut self.counters.udp_datagrams, 1);
        if seg.truncated {
            count(&mut self.counters.truncated_segments, 1);
        }
        match &mut conn.proto {
            UdpProto::Dtls(p) => {
                let before = p.buffered();
                #[allow(clippy::cast_possible_truncation)] // a side is 0 or 1
                let dir = side as u8;
                p.datagram(
                    dir,
                    seg.payload,
                    &mut self.udp_scratch,
                    &mut DtlsCtx {
                        hs: &mut conn.hs,
                        anomalies: &mut self.counters.anomalies,
                        issues: &mut self.counters.dtls_issues,
                    },
                );
                let after = p.buffered();
                self.buffered = self.buffered.saturating_sub(before).saturating_add(after);
                if after > before && self.buffered > self.cfg.max_buffered {
                    // Over the engine's budget: forget the hellos being reassembled here.
                    count(&mut self.counters.buffered_cap_hits, 1);
                    self.buffered = self.buffered.saturating_sub(after);
                    p.clear_pending();
                }
            }
        }
    }

    /// A UDP datagram that neither starts nor continues a connection: counted as before UDP
    /// was read.
    fn not_read(&mut self, _seg: &Segment<'_>) {
        if let Some(c) = self
            .counters
            .decode_errors
            .get_mut(DecodeError::NotTcp.index())
        {
            count(c, 1);
        }
    }

    /// Settles and removes a UDP connection.
    pub(super) fn close_udp(&mut self, id: UdpId, sink: &mut impl SettleSink) {
        let Some(mut conn) = self.udp.remove(id) else {
            return;
        };
        let transport = match &conn.proto {
            UdpProto::Dtls(p) => {
                self.buffered = self.buffered.saturating_sub(p.buffered());
                if p.pending() {
                    count(&mut self.counters.streams_unfinished, 1);
                }
                Transport::Dtls
            }
        };
        let hs = &mut conn.hs;
        count(
            &mut self.counters.hellos_dropped,
            u64::from(hs.hellos_dropped),
        );
        count(
            &mut self.counters.alerts_dropped,
            u64::from(hs.alerts_dropped),
        );
        // The client: sender of the first ClientHello, else receiver of the ServerHello. A
        // UDP connection with neither (alerts only) counts for nobody, as in the corpus.
        let Some(cs) = hs.client.or(hs.server_hello_from.map(|s| s ^ 1)) else {
            return;
        };
        let summary = ConnSummary {
            client: Some(conn.key.end(cs).ip),
            hellos: std::mem::take(&mut hs.hellos),
            negotiated: hs.negotiated,
            hrr: hs.hrr,
            alerts: hs
                .alerts
                .iter()
                .map(|(d, s)| (*d, direction(*s, cs)))
                .collect(),
            alert_levels: (0..hs.alerts.len())
                .map(|i| 1u8.saturating_add(hs.fatal_alerts >> (i & 7) & 1))
                .collect(),
            client_endpoint: Some(conn.key.end(cs)),
            server_endpoint: Some(conn.key.end(cs ^ 1)),
            first_seen_ns: conn.first_seen,
            last_seen_ns: conn.last_seen,
            server_hello: hs.server_hello,
            start: Start::Direct,
            transport,
            ..ConnSummary::default()
        };
        self.publish(summary, sink);
    }

    /// Settles and removes UDP connections idle since before `cutoff` (packet time).
    pub(super) fn sweep_udp(&mut self, cutoff: u64, sink: &mut impl SettleSink) {
        if self.udp.is_empty() {
            return;
        }
        let mut ids = std::mem::take(&mut self.udp_ids);
        self.udp.idle(cutoff, &mut ids);
        for &id in &ids {
            count(&mut self.counters.udp_flows_expired, 1);
            self.close_udp(id, sink);
        }
        self.udp_ids = ids;
    }

    /// End of input: settles every UDP connection.
    pub(super) fn finish_udp(&mut self, sink: &mut impl SettleSink) {
        let mut ids = std::mem::take(&mut self.udp_ids);
        self.udp.all(&mut ids);
        for &id in &ids {
            self.close_udp(id, sink);
        }
        self.udp_ids = ids;
    }
}
