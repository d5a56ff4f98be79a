//! The per-worker core: decode → connection table → reassembly → TLS → census.
//!
//! An [`Engine`] owns its connections and its census outright (no locks). It is deterministic:
//! time is the packet timestamp handed in, so replaying the same packets gives the same census.

#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

pub use crate::counters::Counters;
use crate::flow::ConnSummary;
use crate::flow::reassembly::DEFAULT_STREAM_CAP;
use crate::flow::{
    CLOSED_LINGER_NS, Conn, ConnId, DEFAULT_IDLE_TIMEOUT_NS, DEFAULT_MAX_FLOWS, Dir, FlowKey,
    FlowTable, Handshake, Phase, SWEEP_INTERVAL_NS, TlsState,
};
use crate::tally::{Census, DEFAULT_MAX_CLIENTS, add as count, contribution};
use crate::tls::facts::HelloFacts;
use crate::tls::{Anomaly, CcsMeaning, ClientHello, Handler, ServerHello, Stop};
use crate::upgrade::{GiveUp, Recogniser, Recognition};
use crate::wire::{self, LinkType, Segment, TcpFlags};

/// Default budget of bytes buffered for reassembly and hello joining, over all connections of
/// one engine (workers share the budget given on the command line).
pub const DEFAULT_MAX_BUFFERED: usize = 512 * 1024 * 1024;

/// Limits of one engine.
#[derive(Copy, Clone, Debug)]
pub struct EngineConfig {
    /// Connections tracked at once.
    pub max_flows: usize,
    /// Idle timeout (ns of packet time).
    pub idle_timeout_ns: u64,
    /// Stream bytes buffered per direction.
    pub stream_cap: usize,
    /// Client entries in the census.
    pub max_clients: usize,
    /// Server entries, and server name entries, in the census.
    pub max_servers: usize,
    /// Bytes buffered over all connections (stream bytes held and partial hellos); a direction
    /// that would go over it is given up (counted in `buffered_cap_hits`).
    pub max_buffered: usize,
    /// UDP connections (DTLS, QUIC) tracked at once.
    pub max_udp_flows: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_flows: DEFAULT_MAX_FLOWS,
            idle_timeout_ns: DEFAULT_IDLE_TIMEOUT_NS,
            stream_cap: DEFAULT_STREAM_CAP,
            max_clients: DEFAULT_MAX_CLIENTS,
            max_servers: crate::tally::DEFAULT_MAX_SERVERS,
            max_buffered: DEFAULT_MAX_BUFFERED,
            max_udp_flows: crate::flow::udp::DEFAULT_MAX_UDP_FLOWS,
        }
    }
}

/// Whether a sweep is due at packet time `now`, given the time of the last one (the first
/// packet starts the clock). The dispatcher and an inline engine apply the same rule.
pub fn sweep_due(last: &mut Option<u64>, now: u64) -> bool {
    let l = *last.get_or_insert(now);
    if now >= l.saturating_add(SWEEP_INTERVAL_NS) {
        *last = Some(now);
        true
    } else {
        false
    }
}

/// Receives every settled connection (event log, metrics); the census is kept by the engine.
pub trait SettleSink {
    /// A connection settled.
    fn settled(&mut self, s: &ConnSummary);
    /// Periodically (live: about once a second; replay: at the end) with the worker's
    /// counters and the number of connections it tracks, for publishing.
    fn tick(&mut self, _counters: &Counters, _flows: usize) {}
    /// Whether [`SettleSink::settled`] reads the fingerprints and cipher suites of every hello
    /// ([`HelloFacts::fill_detail`]); otherwise only legacy connections carry them.
    fn wants_detail(&self) -> bool {
        false
    }
    /// The connection `key` settled because the census has read everything it will ever read
    /// from it ([`TlsState::read_all`]) and it stays open: its later packets can be dropped
    /// before they are read (`live --bypass`). Only TCP connections are reported; never one
    /// closed by RST or FIN, evicted or expired (those are gone from the table).
    fn bypass(&mut self, _key: &FlowKey) {}
}

impl SettleSink for () {
    fn settled(&mut self, _: &ConnSummary) {}
}

/// Two sinks fed together (e.g. metrics and the event log).
impl<A: SettleSink, B: SettleSink> SettleSink for (A, B) {
    fn settled(&mut self, s: &ConnSummary) {
        self.0.settled(s);
        self.1.settled(s);
    }

    fn tick(&mut self, counters: &Counters, flows: usize) {
        self.0.tick(counters, flows);
        self.1.tick(counters, flows);
    }

    fn wants_detail(&self) -> bool {
        self.0.wants_detail() || self.1.wants_detail()
    }

    fn bypass(&mut self, key: &FlowKey) {
        self.0.bypass(key);
        self.1.bypass(key);
    }
}

/// One worker's core.
#[derive(Debug)]
pub struct Engine {
    cfg: EngineConfig,
    table: FlowTable,
    census: Census,
    counters: Counters,
    last_sweep: Option<u64>,
    /// Bytes held by all directions now (see [`crate::flow::Dir::held`]).
    buffered: usize,
    /// Sweep when packet time crosses [`SWEEP_INTERVAL_NS`] (inline use); a pipeline worker
    /// instead sweeps on the dispatcher's ticks, which it places at the same points of the
    /// global packet sequence, so the census never depends on the number of workers.
    sweep_on_packets: bool,
    scratch: Vec<ConnId>,
    /// DTLS and QUIC connections.
    udp: crate::flow::udp::UdpTable,
    /// Reused by hello extraction on the UDP path.
    udp_scratch: Vec<u8>,
    udp_ids: Vec<crate::flow::udp::UdpId>,
    /// QUIC counts of the datagram being read (folded into `counters.quic`).
    quic_k: crate::quic::Counters,
    /// QUIC ClientHellos already counted (NAT duplicates).
    quic_seen: udp::QuicSeen,
}

mod udp;
pub use udp::udp_wanted;

/// The TLS parser's view of one connection direction.
struct Ctx<'a> {
    hs: &'a mut Handshake,
    side: usize,
    anomalies: &'a mut [u64; Anomaly::ALL.len()],
}

impl Handler for Ctx<'_> {
    fn client_hello(&mut self, ch: &ClientHello<'_>) {
        self.hs.push_hello(self.side, HelloFacts::from_hello(ch));
    }

    fn server_hello(&mut self, sh: &ServerHello) {
        self.hs.push_server_hello(self.side, sh);
    }

    fn alert(&mut self, level: u8, description: u8) {
        self.hs.push_alert(self.side, level, description);
    }

    fn other_handshake(&mut self, _msg_type: u8) {
        if let Some(o) = self.hs.other_handshake.get_mut(self.side) {
            *o = true;
        }
    }

    fn wants_certificate(&mut self) -> bool {
        // The server's, after its TLS ≤ 1.2 ServerHello; the first one only.
        self.hs.server_hello_from == Some(self.side)
            && self.hs.certificate.is_none()
            && self
                .hs
                .server_hello
                .is_some_and(|sh| !sh.sslv2_format && !sh.version.is_tls13_family())
    }

    fn certificate(&mut self, leaf: crate::tls::certificate::LeafFacts) {
        if self.hs.certificate.is_none() {
            self.hs.certificate = Some(Box::new(leaf));
        }
    }

    fn anomaly(&mut self, a: Anomaly) {
        if let Some(c) = self.anomalies.get_mut(a.index()) {
            count(c, 1);
        }
    }

    fn ccs(&mut self) -> CcsMeaning {
        if let Some(v) = self.hs.negotiated {
            return if v.is_tls13_family() {
                CcsMeaning::Dummy
            } else {
                CcsMeaning::Encrypted
            };
        }
        if self.hs.hrr {
            return CcsMeaning::Dummy;
        }
        let side = self.side & 1;
        let flag = |f: &[bool; 2]| f.get(side).copied().unwrap_or(false);
        if self.hs.client == Some(side)
            && flag(&self.hs.offered_tls13)
            && !flag(&self.hs.other_handshake)
        {
            return CcsMeaning::DummyUnconfirmed;
        }
        CcsMeaning::Encrypted
    }
}

/// Feeds side `side`'s new bytes to its TLS parser or to the connection's upgrade
/// recogniser, then whatever that unblocks on the other side (a server's acceptance releases
/// the client's held bytes). Bounded: a few rounds at most. `from_start`: the connection was
/// seen from its SYN; one joined mid-stream has lost the plaintext that tells where TLS
/// begins, so it is not watched for upgrades (each direction is TLS from its first byte seen,
/// or not at all).
fn drive(st: &mut TlsState, side: usize, from_start: bool, k: &mut Counters) {
    let mut next = Some(side);
    for _ in 0..4 {
        let Some(s) = next else { return };
        next = step(st, s, from_start, k);
    }
}

/// One side's turn. Returns the other side if it may now progress.
fn step(st: &mut TlsState, s: usize, from_start: bool, k: &mut Counters) -> Option<usize> {
    let TlsState { dirs, hs, upgrade } = st;
    let other_untouched = dirs
        .get(s ^ 1)
        .is_some_and(|d| d.parser.untouched() && d.parser.stopped().is_none());
    let dir = dirs.get_mut(s)?;
    if dir.parser.stopped().is_some() {
        return None;
    }
    if !dir.plain
        && dir.parser.untouched()
        && upgrade
            .as_deref()
            .is_some_and(|u| u.takes_reply(s, dir.stream.data()))
    {
        // A ServerHello where the answer to the other side's request was expected.
        dir.parser.reset();
        dir.plain = true;
    }
    if !dir.plain {
        feed_tls(dir, s, hs, k, upgrade.as_deref_mut());
        if dir.parser.stopped() != Some(Stop::NotTls) || !dir.parser.untouched() {
            // TLS (or still undecided, or stopped for another reason).
            finish_stop(dir, k);
            return None;
        }
        // Plaintext from the first byte: perhaps a protocol that upgrades to TLS later. A
        // direction whose first bytes are TLS stays TLS even while the other side's plaintext
        // is watched (a client trying implicit TLS against a plaintext server).
        let undecided = upgrade
            .as_deref()
            .is_some_and(|u| u.recognition() == Recognition::Undecided);
        // A connection joined mid-stream is watched only when its first bytes are a complete
        // PROXY protocol header: that header is only ever the start of a stream.
        let known_start = from_start
            || matches!(
                crate::upgrade::proxy::parse(dir.stream.data()),
                crate::upgrade::proxy::Parsed::Is(_)
            );
        let start_watching = known_start && upgrade.is_none() && other_untouched;
        if !(undecided || start_watching) {
            finish_stop(dir, k);
            return None;
        }
        dir.parser.reset();
        dir.plain = true;
        if start_watching {
            *upgrade = Some(Box::default());
        }
    }
    let u = upgrade.as_deref_mut()?;
    let before = u.generation();
    let n = u.feed(s, dir.stream.data());
    if n > 0 {
        dir.stream.consume(n);
        dir.plain_used = true;
    }
    match u.recognition() {
        Recognition::Undecided => {
            let other = dirs.get(s ^ 1)?;
            let waiting = other.parser.stopped().is_none()
                && other.parser.untouched()
                && !other.stream.data().is_empty();
            (u.generation() != before && waiting).then_some(s ^ 1)
        }
        Recognition::Upgrade(start) => {
            hs.start = start;
            hs.upgrade_client = u.client();
            if let Some(c) = k.upgrades.get_mut(start.index()) {
                count(c, 1);
            }
            if u.reply_missing() {
                count(&mut k.upgrade_reply_missing, 1);
            }
            // Each direction's TLS begins at its first unconsumed byte.
            for (x, d) in dirs.iter_mut().enumerate() {
                if d.parser.stopped().is_none() && d.parser.untouched() {
                    d.plain = false;
                    d.parser.reset();
                    feed_tls(d, x, hs, k, Some(&mut *u));
                    finish_stop(d, k);
                }
            }
            None
        }
        Recognition::Plain(why) => {
            if why == GiveUp::InspectLimit {
                count(&mut k.plaintext_inspect_limit, 1);
            }
            for (x, d) in dirs.iter_mut().enumerate() {
                if d.parser.stopped().is_some() || !d.parser.untouched() {
                    continue;
                }
                if why == GiveUp::Unrecognised && !d.plain_used {
                    // Not a protocol we know: each direction is judged on its own, as TLS.
                    d.plain = false;
                    d.parser.reset();
                    feed_tls(d, x, hs, k, None);
                    finish_stop(d, k);
                } else if d.plain || !d.stream.data().is_empty() {
                    // A plaintext protocol that did not upgrade: nothing in it is TLS.
                    d.parser.stop(Stop::NotTls);
                    finish_stop(d, k);
                } else {
                    d.parser.stop(Stop::NotTls);
                    d.stream.release();
                }
            }
            None
        }
    }
}

/// Runs a direction's TLS parser over its unconsumed bytes. Bytes that are plaintext from the
/// first one are left in place (for the upgrade recogniser).
fn feed_tls(
    dir: &mut Dir,
    side: usize,
    hs: &mut Handshake,
    k: &mut Counters,
    upgrade: Option<&mut Recogniser>,
) {
    let mut ctx = Ctx {
        hs,
        side,
        anomalies: &mut k.anomalies,
    };
    if let Some(u) = upgrade.filter(|u| u.framed()) {
        // TLS inside another protocol's packets (TDS): parse the unwrapped bytes.
        let n = u.unwrap(side, dir.stream.data());
        dir.stream.consume(n);
        let m = dir.parser.feed(u.unwrapped(side), &mut ctx);
        u.consume_unwrapped(side, m);
        return;
    }
    let n = dir.parser.feed(dir.stream.data(), &mut ctx);
    if !(dir.parser.stopped() == Some(Stop::NotTls) && dir.parser.untouched()) {
        dir.stream.consume(n);
    }
}

/// Once a direction has stopped: counts a non-TLS one and frees its buffers.
fn finish_stop(dir: &mut Dir, k: &mut Counters) {
    match dir.parser.stopped() {
        Some(Stop::NotTls) => {
            count(&mut k.streams_not_tls, 1);
            dir.stream.release();
        }
        Some(_) => dir.stream.release(),
        None => {}
    }
}

/// Payload lengths taken for possible padding: 2 or 6 zero bytes are seen in the field (an
/// Ethernet frame's padding counted into the IP length); up to 16 leaves room. One zero byte
/// is a keep-alive's (at the next sequence number minus one), handled as ordinary data.
pub const PADDING_LEN: std::ops::RangeInclusive<usize> = 2..=16;

/// A segment whose payload may be padding rather than data: a few zero bytes without PSH
/// (see [`crate::flow::reassembly::Stream::push_tentative`]).
fn may_be_padding(seg: &Segment<'_>) -> bool {
    PADDING_LEN.contains(&seg.payload.len())
        && !seg.flags.has(TcpFlags::PSH)
        && seg.payload.iter().all(|b| *b == 0)
}

/// Whether a SYN (without ACK) from `side` with sequence number `seq` starts a new connection
/// on this 4-tuple: the connection ended (an accepted RST, or a FIN), even if the SYN repeats
/// the old ISN (a client retrying after a RST); or it carried data or was counted and the SYN
/// brings a new ISN (port reuse). A repeated SYN of a connection in its handshake does not.
fn starts_anew(conn: &Conn, side: usize, seq: u32) -> bool {
    let ended = conn.rst || conn.fin.iter().any(|f| *f);
    let used = conn.tls.is_some() || conn.phase == Phase::Settled;
    ended || (used && conn.tcp.isn(side) != Some(seq))
}

/// Updates the connection's TCP state with a segment from `side`: the peer's ISN the
/// acknowledgment confirms (re-basing the peer's stream when it switches to the other ISN of
/// two SYN-ACKs), this side's ISN from a SYN or SYN-ACK, the initiator, and the next sequence
/// number. Returns the sequence number of the segment's first payload byte.
fn track_segment(conn: &mut Conn, side: usize, seg: &Segment<'_>) -> u32 {
    let f = seg.flags;
    if f.has(TcpFlags::ACK) {
        if let Some(isn) = conn.tcp.ack(side, seg.tcp.ack) {
            if let Some(d) = conn.tls.as_mut().and_then(|t| t.dirs.get_mut(side ^ 1)) {
                d.stream.resyn(isn);
            }
        }
    }
    let mut data_seq = seg.seq;
    if f.has(TcpFlags::SYN) {
        let changed = conn
            .tcp
            .syn(side, seg.seq, f.has(TcpFlags::ACK), seg.tcp.wscale);
        let s = u8::from(side == 1);
        if f.has(TcpFlags::ACK) {
            conn.initiator.get_or_insert(s ^ 1);
        } else {
            conn.initiator = Some(s);
        }
        if let Some(isn) = changed {
            if let Some(d) = conn.tls.as_mut().and_then(|t| t.dirs.get_mut(side)) {
                d.stream.resyn(isn);
            }
        }
        data_seq = seg.seq.wrapping_add(1);
    }
    if !f.has(TcpFlags::RST) {
        let len = u32::try_from(seg.payload.len())
            .unwrap_or(u32::MAX)
            .saturating_add(u32::from(f.has(TcpFlags::FIN)));
        conn.tcp.advance(side, data_seq, len, seg.tcp.window);
    }
    data_seq
}

impl Engine {
    /// An engine with the given limits.
    pub fn new(cfg: EngineConfig) -> Self {
        Engine {
            cfg,
            table: FlowTable::new(cfg.max_flows),
            census: Census::with_bounds(cfg.max_clients, cfg.max_servers),
            counters: Counters::default(),
            last_sweep: None,
            buffered: 0,
            sweep_on_packets: true,
            scratch: Vec::new(),
            udp: crate::flow::udp::UdpTable::new(cfg.max_udp_flows),
            udp_scratch: Vec::new(),
            udp_ids: Vec::new(),
            quic_k: crate::quic::Counters::default(),
            quic_seen: udp::QuicSeen::default(),
        }
    }

    /// Makes this engine sweep only when told ([`Engine::sweep`]), for pipeline workers.
    pub fn sweep_on_ticks(mut self) -> Self {
        self.sweep_on_packets = false;
        self
    }

    /// The census so far (connections still open are not in it until [`Engine::finish`]).
    pub fn census(&self) -> &Census {
        &self.census
    }

    /// The census and the counters, the engine consumed (its flow table freed first): the
    /// end of a replay needs no copy of a census that may hold a million clients.
    pub fn into_parts(self) -> (Census, Counters) {
        (self.census, self.counters)
    }

    /// Coverage counters so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Connections tracked now (TCP and UDP).
    pub fn flows(&self) -> usize {
        self.table.len().saturating_add(self.udp.len())
    }

    /// Bytes buffered now over all connections (0 once every connection has settled).
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// One captured frame at time `now` (ns).
    pub fn packet(&mut self, now: u64, link: LinkType, frame: &[u8], sink: &mut impl SettleSink) {
        count(&mut self.counters.packets, 1);
        count(&mut self.counters.bytes, frame.len() as u64);
        match wire::decode(link, frame) {
            Ok(seg) => self.segment(now, &seg, sink),
            Err(e) => {
                if let Some(c) = self.counters.decode_errors.get_mut(e.index()) {
                    count(c, 1);
                }
            }
        }
    }

    /// One decoded TCP segment at time `now` (ns).
    pub fn segment(&mut self, now: u64, seg: &Segment<'_>, sink: &mut impl SettleSink) {
        if seg.proto == wire::Proto::Udp {
            return self.datagram(now, seg, sink);
        }
        count(&mut self.counters.tcp_segments, 1);
        if seg.truncated {
            count(&mut self.counters.truncated_segments, 1);
        }
        if self.sweep_on_packets && sweep_due(&mut self.last_sweep, now) {
            self.sweep(now, sink);
        }
        let (key, side) = FlowKey::of(seg);
        let syn = seg.flags.has(TcpFlags::SYN);
        let ack = seg.flags.has(TcpFlags::ACK);
        let id = match self.table.find(&key) {
            Some(id) => id,
            None => {
                if !syn && seg.payload.is_empty() {
                    return; // nothing to learn from a bare ACK/FIN/RST of an unknown connection
                }
                if self.table.is_full() {
                    if let Some(v) = self.table.victim() {
                        count(&mut self.counters.flows_evicted, 1);
                        self.close(v, sink);
                    }
                }
                count(&mut self.counters.flows_created, 1);
                self.table.insert(key, now)
            }
        };
        let Some(conn) = self.table.get_mut(id) else {
            return;
        };
        // A SYN on a connection that ended, or with a new initial sequence number on one that
        // was used: a new connection.
        if syn && !ack && starts_anew(conn, side, seg.seq) {
            count(&mut self.counters.flows_reused, 1);
            self.close(id, sink);
            count(&mut self.counters.flows_created, 1);
            let id2 = self.table.insert(key, now);
            return self.segment_on(id2, side, now, seg, sink);
        }
        self.segment_on(id, side, now, seg, sink);
    }

    fn segment_on(
        &mut self,
        id: ConnId,
        side: usize,
        now: u64,
        seg: &Segment<'_>,
        sink: &mut impl SettleSink,
    ) {
        let cap = self.cfg.stream_cap;
        let Some(conn) = self.table.get_mut(id) else {
            return;
        };
        conn.last_seen = conn.last_seen.max(now);
        // Bytes this connection holds before the segment (for the engine's buffer budget).
        let held_before = conn.tls.as_ref().map_or(0, |t| t.held());
        let f = seg.flags;
        let data_seq = track_segment(conn, side, seg);
        if f.has(TcpFlags::FIN) {
            if let Some(fin) = conn.fin.get_mut(side) {
                *fin = true;
            }
        }
        if f.has(TcpFlags::RST) {
            if conn.tcp.rst_acceptable(side, seg.seq) {
                conn.rst = true;
            } else {
                // Outside the window (a stale or spoofed RST): the connection goes on.
                count(&mut self.counters.rst_ignored, 1);
                return;
            }
        }
        if conn.phase == Phase::Settled {
            return;
        }
        if !seg.payload.is_empty() {
            if conn.tls.is_none() {
                let mut st = Box::<TlsState>::default();
                for (i, d) in st.dirs.iter_mut().enumerate() {
                    if let Some(isn) = conn.tcp.isn(i) {
                        d.stream.syn(isn);
                    }
                }
                if conn.tcp.no_isn() {
                    conn.midstream = true;
                    count(&mut self.counters.flows_midstream, 1);
                }
                conn.tls = Some(st);
            }
            if let Some(tls) = conn.tls.as_mut() {
                let other_held = tls.dirs.get(side ^ 1).map_or(0, |d| d.held());
                if let Some(dir) = tls.dirs.get_mut(side) {
                    if dir.parser.stopped().is_none() {
                        let rebase = dir.parser.untouched() && !dir.plain_used;
                        let r = if may_be_padding(seg) {
                            dir.stream
                                .push_tentative(data_seq, seg.payload, cap, rebase)
                        } else {
                            dir.stream.push(data_seq, seg.payload, cap, rebase)
                        };
                        count(
                            &mut self.counters.zero_padding_replaced,
                            u64::from(r.tentative_replaced),
                        );
                        count(&mut self.counters.reassembly_gaps, u64::from(r.gap));
                        count(&mut self.counters.overlap_conflicts, u64::from(r.conflict));
                        if r.new_data {
                            drive(tls, side, !conn.midstream, &mut self.counters);
                        }
                        if let Some(dir) = tls.dirs.get_mut(side) {
                            if r.capped && dir.parser.stopped().is_none() {
                                count(&mut self.counters.stream_cap_hits, 1);
                                dir.parser.stop(Stop::Malformed);
                                dir.stream.release();
                            }
                            // The engine-wide budget of buffered bytes (hostile traffic).
                            let over = self
                                .buffered
                                .saturating_sub(held_before)
                                .saturating_add(other_held)
                                .saturating_add(dir.held())
                                > self.cfg.max_buffered;
                            if over && dir.parser.stopped().is_none() {
                                count(&mut self.counters.buffered_cap_hits, 1);
                                dir.parser.stop(Stop::Malformed);
                                dir.stream.release();
                            }
                        }
                    }
                }
            }
        }
        let held_after = conn.tls.as_ref().map_or(0, |t| t.held());
        self.buffered = self
            .buffered
            .saturating_sub(held_before)
            .saturating_add(held_after);
        let done = conn.tls.as_ref().is_some_and(|t| t.read_all());
        let closed = conn.rst || (conn.fin[0] && conn.fin[1]);
        let key = conn.key;
        if done || closed {
            self.settle(id, sink);
        }
        if done && !closed {
            sink.bypass(&key);
        }
    }

    /// Counts a connection and keeps it as a settled entry.
    fn settle(&mut self, id: ConnId, sink: &mut impl SettleSink) {
        let Some(conn) = self.table.get_mut(id) else {
            return;
        };
        conn.phase = Phase::Settled;
        let Some(mut tls) = conn.tls.take() else {
            return;
        };
        for d in &tls.dirs {
            self.buffered = self.buffered.saturating_sub(d.held());
            if d.stream.has_hole() && d.parser.stopped().is_none() {
                count(&mut self.counters.reassembly_gaps, 1);
            }
            if d.unfinished() {
                count(&mut self.counters.streams_unfinished, 1);
            }
            // Plaintext still under upgrade inspection when the connection ends: not TLS.
            if d.plain && d.parser.stopped().is_none() {
                count(&mut self.counters.streams_not_tls, 1);
            }
        }
        let hs = &mut tls.hs;
        count(
            &mut self.counters.hellos_dropped,
            u64::from(hs.hellos_dropped),
        );
        count(
            &mut self.counters.alerts_dropped,
            u64::from(hs.alerts_dropped),
        );
        if let Some(u) = &tls.upgrade {
            count(&mut self.counters.upgrades_refused, u64::from(u.refused()));
        }
        let Some(cs) = conn.client_side(hs) else {
            return;
        };
        if !hs.hellos.is_empty() {
            if conn.midstream {
                count(&mut self.counters.hellos_midstream, hs.hellos.len() as u64);
            }
            let spoke = tls.dirs.iter().filter(|d| !d.parser.untouched()).count();
            if spoke < 2 {
                count(&mut self.counters.conns_one_sided, 1);
            }
        }
        let mut summary = conn.summary(hs, cs);
        summary.proxied_for = tls.upgrade.as_ref().and_then(|u| u.proxied_for());
        self.publish(summary, sink);
    }

    /// Counts a settled connection's summary and hands it to the sink.
    fn publish(&mut self, mut summary: ConnSummary, sink: &mut impl SettleSink) {
        // Fingerprints are derived only where they are read: the census keeps them for
        // legacy connections, a sink may want them for all.
        if sink.wants_detail() || contribution(&summary).is_some_and(|c| c.legacy) {
            for h in &mut summary.hellos {
                h.fill_detail();
            }
        }
        self.census.add(&summary);
        sink.settled(&summary);
    }

    /// Settles and removes a connection.
    fn close(&mut self, id: ConnId, sink: &mut impl SettleSink) {
        self.settle(id, sink);
        self.table.remove(id);
    }

    /// Settles and removes connections idle at packet time `now` (ns), and closed ones past
    /// their linger.
    pub fn sweep(&mut self, now: u64, sink: &mut impl SettleSink) {
        let mut ids = std::mem::take(&mut self.scratch);
        self.table.idle(
            now.saturating_sub(self.cfg.idle_timeout_ns),
            now.saturating_sub(CLOSED_LINGER_NS.min(self.cfg.idle_timeout_ns)),
            &mut ids,
        );
        for &id in &ids {
            let open = self
                .table
                .get_mut(id)
                .is_some_and(|c| !(c.rst || (c.fin[0] && c.fin[1])));
            if open {
                count(&mut self.counters.flows_expired, 1);
            }
            self.close(id, sink);
        }
        self.scratch = ids;
        self.table.compact_if_sparse();
        self.sweep_udp(now.saturating_sub(self.cfg.idle_timeout_ns), sink);
    }

    /// End of input: settles every connection still open.
    pub fn finish(&mut self, sink: &mut impl SettleSink) {
        let mut ids = std::mem::take(&mut self.scratch);
        self.table.all(&mut ids);
        for &id in &ids {
            self.close(id, sink);
        }
        self.scratch = ids;
        self.finish_udp(sink);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::hello::HRR_RANDOM;
    use crate::tls::hello::tests::{client_hello_body, server_hello_body};
    use crate::upgrade::Start;
    use proptest::prelude::*;
    use std::net::IpAddr;

    const CT_CCS: u8 = 20;
    const CT_ALERT: u8 = 21;
    const CT_HS: u8 = 22;
    const CT_APP: u8 = 23;

    /// One side's burst: logical records (content type, payload).
    struct Flight {
        from_client: bool,
        /// Plaintext sent before the records (a protocol upgrade's prelude).
        plain: Vec<u8>,
        records: Vec<(u8, Vec<u8>)>,
    }

    fn hs(ty: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![
            ty,
            (body.len() >> 16) as u8,
            (body.len() >> 8) as u8,
            body.len() as u8,
        ];
        m.extend_from_slice(body);
        m
    }

    fn sv(list: &[u16]) -> Vec<u8> {
        let mut d = vec![(list.len() * 2) as u8];
        for v in list {
            d.extend_from_slice(&v.to_be_bytes());
        }
        d
    }

    /// Three realistic handshakes: TLS 1.2 success, TLS 1.0 refused, TLS 1.3 with HRR.
    fn scenarios() -> Vec<Vec<Flight>> {
        let ch12 = hs(
            1,
            &client_hello_body(
                0x0303,
                &[0xc02f, 0x0a0a],
                &[(0, &[0; 5]), (43, &sv(&[0x3a3a, 0x0303, 0x0302]))],
            ),
        );
        let sh12 = hs(2, &server_hello_body(0x0303, [3; 32], &[]));
        let cert = hs(11, &[7; 3000]);
        let shd = hs(14, &[]);
        let cke = hs(16, &[1; 70]);
        let tls12 = vec![
            Flight {
                from_client: true,
                plain: Vec::new(),
                records: vec![(CT_HS, ch12)],
            },
            Flight {
                from_client: false,
                plain: Vec::new(),
                records: vec![(CT_HS, [sh12, cert, shd].concat())],
            },
            Flight {
                from_client: true,
                plain: Vec::new(),
                records: vec![(CT_HS, cke), (CT_CCS, vec![1]), (CT_HS, vec![0x14; 40])],
            },
            Flight {
                from_client: false,
                plain: Vec::new(),
                records: vec![
                    (CT_CCS, vec![1]),
                    (CT_HS, vec![0x15; 40]),
                    (CT_ALERT, vec![0x33; 26]),
                ],
            },
        ];
        let ch10 = hs(1, &client_hello_body(0x0301, &[0x002f, 0x5600], &[]));
        let refused = vec![
            Flight {
                from_client: true,
                plain: Vec::new(),
                records: vec![(CT_HS, ch10)],
            },
            Flight {
                from_client: false,
                plain: Vec::new(),
                records: vec![(CT_ALERT, vec![2, 70])],
            },
        ];
        let ch13 = |share: u8| {
            hs(
                1,
                &client_hello_body(
                    0x0303,
                    &[0x1301],
                    &[(43, &sv(&[0x0304, 0x0303])), (51, &[share; 40])],
                ),
            )
        };
        let hrr = hs(2, &server_hello_body(0x0303, HRR_RANDOM, &[(43, &[3, 4])]));
        let sh13 = hs(2, &server_hello_body(0x0303, [9; 32], &[(43, &[3, 4])]));
        let tls13 = vec![
            Flight {
                from_client: true,
                plain: Vec::new(),
                records: vec![(CT_HS, ch13(1))],
            },
            Flight {
                from_client: false,
                plain: Vec::new(),
                records: vec![(CT_HS, hrr), (CT_CCS, vec![1])],
            },
            Flight {
                from_client: true,
                plain: Vec::new(),
                records: vec![(CT_CCS, vec![1]), (CT_HS, ch13(2))],
            },
            Flight {
                from_client: false,
                plain: Vec::new(),
                records: vec![(CT_HS, sh13), (CT_CCS, vec![1]), (CT_APP, vec![0x17; 300])],
            },
            Flight {
                from_client: true,
                plain: Vec::new(),
                records: vec![(CT_APP, vec![0x17; 60])],
            },
        ];
        // SMTP STARTTLS, then a TLS 1.0 handshake refused by the server.
        let say = |from_client: bool, text: &str| Flight {
            from_client,
            plain: text.as_bytes().to_vec(),
            records: vec![],
        };
        let mut starttls = vec![
            say(false, "220 mx.example ESMTP\r\n"),
            say(true, "EHLO client.example\r\n"),
            say(
                false,
                "250-mx.example\r\n250-PIPELINING\r\n250 STARTTLS\r\n",
            ),
            say(true, "STARTTLS\r\n"),
            say(false, "220 2.0.0 Ready to start TLS\r\n"),
        ];
        let ch10 = hs(1, &client_hello_body(0x0301, &[0x002f], &[]));
        starttls.push(Flight {
            from_client: true,
            plain: Vec::new(),
            records: vec![(CT_HS, ch10.clone())],
        });
        starttls.push(Flight {
            from_client: false,
            plain: Vec::new(),
            records: vec![(CT_ALERT, vec![2, 70])],
        });
        // A ClientHello (and a ServerHello) as HTTP bodies: plain HTTP, nothing counts.
        let mut post = b"POST /upload HTTP/1.1\r\nContent-Length: 200\r\n\r\n".to_vec();
        post.extend_from_slice(&frame(
            &Flight {
                from_client: true,
                plain: Vec::new(),
                records: vec![(CT_HS, ch10)],
            },
            &mut None,
        ));
        let mut answer = b"HTTP/1.1 200 OK\r\nContent-Length: 90\r\n\r\n".to_vec();
        answer.extend_from_slice(&frame(
            &Flight {
                from_client: false,
                plain: Vec::new(),
                records: vec![(CT_HS, hs(2, &server_hello_body(0x0301, [3; 32], &[])))],
            },
            &mut None,
        ));
        let http = vec![
            Flight {
                from_client: true,
                plain: post,
                records: vec![],
            },
            Flight {
                from_client: false,
                plain: answer,
                records: vec![],
            },
        ];
        vec![tls12, refused, tls13, starttls, http]
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    /// Serialises a flight, re-framing consecutive handshake bytes into records of random size.
    fn frame(f: &Flight, rng: &mut Option<Rng>) -> Vec<u8> {
        let mut out = f.plain.clone();
        let mut i = 0;
        while i < f.records.len() {
            let (ct, p) = &f.records[i];
            if *ct == CT_HS && rng.is_some() {
                let mut all = p.clone();
                while i + 1 < f.records.len() && f.records[i + 1].0 == CT_HS {
                    i += 1;
                    all.extend_from_slice(&f.records[i].1);
                }
                let r = rng.as_mut().unwrap();
                let mut at = 0;
                while at < all.len() {
                    let small = r.below(2) == 0;
                    let n = 1 + r.below(if small { 8 } else { 4000 });
                    let end = (at + n).min(all.len());
                    out.extend_from_slice(&[
                        CT_HS,
                        3,
                        3,
                        ((end - at) >> 8) as u8,
                        (end - at) as u8,
                    ]);
                    out.extend_from_slice(&all[at..end]);
                    at = end;
                }
            } else {
                out.extend_from_slice(&[*ct, 3, 3, (p.len() >> 8) as u8, p.len() as u8]);
                out.extend_from_slice(p);
            }
            i += 1;
        }
        out
    }

    fn census_of(flights: &[Flight], seed: Option<u64>) -> Census {
        run_flights(flights, seed, &mut (), |_, _| {})
    }

    /// Sends the flights (cut, shuffled and duplicated by `seed`) between a SYN handshake and
    /// FINs; `after(i, sink)` runs after flight `i`. The census.
    fn run_flights<S: SettleSink>(
        flights: &[Flight],
        seed: Option<u64>,
        sink: &mut S,
        mut after: impl FnMut(usize, &mut S),
    ) -> Census {
        let mut rng = seed.map(|s| Rng(s | 1));
        let c: IpAddr = "10.9.8.7".parse().unwrap();
        let s: IpAddr = "192.0.2.1".parse().unwrap();
        let mut e = Engine::new(EngineConfig::default());
        let mut now = 1_000_000_000u64;
        let mut seq = [1000u32, 5000u32];
        let seg = |e: &mut Engine,
                   sink: &mut S,
                   now: u64,
                   from_client: bool,
                   seq: u32,
                   flags: u8,
                   payload: &[u8]| {
            let (src, dst, sp, dp) = if from_client {
                (c, s, 40000, 443)
            } else {
                (s, c, 443, 40000)
            };
            let sg = Segment {
                proto: wire::Proto::Tcp,
                src,
                dst,
                sport: sp,
                dport: dp,
                seq,
                flags: TcpFlags(flags),
                tcp: Default::default(),
                payload,
                truncated: false,
            };
            e.segment(now, &sg, sink);
        };
        seg(&mut e, sink, now, true, seq[0], TcpFlags::SYN, &[]);
        seg(
            &mut e,
            sink,
            now,
            false,
            seq[1],
            TcpFlags::SYN | TcpFlags::ACK,
            &[],
        );
        seq[0] += 1;
        seq[1] += 1;
        for (fi, f) in flights.iter().enumerate() {
            let bytes = frame(f, &mut rng);
            let d = usize::from(!f.from_client);
            // Cut into segments, then shuffle and duplicate some within the flight.
            let mut segs = Vec::new();
            let mut at = 0;
            while at < bytes.len() {
                let n = match rng.as_mut() {
                    Some(r) => {
                        let tiny = r.below(3) == 0;
                        1 + r.below(if tiny { 3 } else { 1460 })
                    }
                    None => bytes.len(),
                };
                let end = (at + n).min(bytes.len());
                segs.push((seq[d].wrapping_add(at as u32), at, end));
                at = end;
            }
            if let Some(r) = rng.as_mut() {
                for i in (1..segs.len()).rev() {
                    if r.below(3) == 0 {
                        let j = r.below(i + 1);
                        segs.swap(i, j);
                    }
                }
                let dups: Vec<_> = segs.iter().filter(|_| r.below(5) == 0).copied().collect();
                segs.extend(dups);
            }
            for (sq, a, b) in segs {
                now += 1000;
                seg(
                    &mut e,
                    sink,
                    now,
                    f.from_client,
                    sq,
                    TcpFlags::ACK,
                    &bytes[a..b],
                );
            }
            seq[d] = seq[d].wrapping_add(bytes.len() as u32);
            after(fi, sink);
        }
        seg(
            &mut e,
            sink,
            now + 1,
            true,
            seq[0],
            TcpFlags::FIN | TcpFlags::ACK,
            &[],
        );
        seg(
            &mut e,
            sink,
            now + 2,
            false,
            seq[1],
            TcpFlags::FIN | TcpFlags::ACK,
            &[],
        );
        e.finish(sink);
        e.census().clone()
    }

    /// Records the connections reported bypassable.
    #[derive(Default)]
    struct Bypassed(Vec<FlowKey>);

    impl SettleSink for Bypassed {
        fn settled(&mut self, _: &ConnSummary) {}
        fn bypass(&mut self, key: &FlowKey) {
            self.0.push(*key);
        }
    }

    /// The flight after which the connection was reported bypassable, if it was.
    fn bypassed_after(flights: &[Flight], seed: Option<u64>) -> Option<usize> {
        let mut at = None;
        let mut sink = Bypassed::default();
        run_flights(flights, seed, &mut sink, |i, s| {
            if !s.0.is_empty() && at.is_none() {
                at = Some(i);
            }
        });
        assert!(sink.0.len() <= 1, "reported {} times", sink.0.len());
        at
    }

    /// The bypass rule (`TlsState::read_all`): TLS 1.2 once both sides are past
    /// ChangeCipherSpec, TLS 1.3 once both sides send encrypted records (after the final
    /// ServerHello, not after a HelloRetryRequest); a non-TLS connection once it is given
    /// up; never while a hello or a plaintext alert can still come (a refused handshake, a
    /// plaintext prelude before its upgrade), and never for a connection that closed first;
    /// whatever the segmentation.
    #[test]
    fn a_connection_is_bypassable_once_the_census_has_read_all_of_it() {
        let sc = scenarios();
        for seed in [None, Some(1), Some(2), Some(3)] {
            // tls12: ClientHello, server flight, client CCS + Finished, server CCS + Finished.
            assert_eq!(bypassed_after(&sc[0], seed), Some(3), "tls12 {seed:?}");
            // A refused handshake ends with a plaintext alert and FINs: never bypassed.
            assert_eq!(bypassed_after(&sc[1], seed), None, "refused {seed:?}");
            // tls13 with HRR: not after the HRR (a second hello comes), but once the client's
            // first encrypted record follows the ServerHello.
            assert_eq!(bypassed_after(&sc[2], seed), Some(4), "tls13 {seed:?}");
            assert_eq!(
                bypassed_after(&sc[3], seed),
                None,
                "starttls refused {seed:?}"
            );
            // Plain HTTP is given up as not TLS at the client's request (the census reads
            // nothing more of it, the ClientHello in its body included).
            assert_eq!(bypassed_after(&sc[4], seed), Some(0), "plain http {seed:?}");
        }
        // Without the client's last flight the client side is still in its handshake.
        assert_eq!(bypassed_after(&sc[2][..4], None), None);
        // The census does not depend on the sink.
        for f in &sc {
            let with = run_flights(f, Some(5), &mut Bypassed::default(), |_, _| {});
            let without = census_of(f, Some(5));
            assert_eq!(with.totals, without.totals);
            assert_eq!(with.clients, without.clients);
        }
    }

    #[test]
    fn baseline_scenarios_count_as_expected() {
        let sc = scenarios();
        let t = census_of(&sc[0], None).totals;
        assert_eq!((t.hellos, t.failed_handshakes), (1, 0));
        assert_eq!(t.negotiated.get(&crate::tls::Version::TLS12), Some(&1));
        assert!(
            t.alerts.is_empty(),
            "encrypted alert after CCS must not count"
        );
        let t = census_of(&sc[1], None).totals;
        assert_eq!((t.hellos, t.failed_handshakes), (1, 1));
        assert_eq!(t.alerts.get(&70), Some(&1));
        let t = census_of(&sc[2], None).totals;
        assert_eq!((t.hellos, t.failed_handshakes), (2, 0));
        assert_eq!(t.negotiated.get(&crate::tls::Version::TLS13), Some(&1));
        let t = census_of(&sc[3], None).totals;
        assert_eq!((t.hellos, t.failed_handshakes), (1, 1));
        assert_eq!(t.alerts.get(&70), Some(&1));
        assert_eq!(t.started[Start::StarttlsSmtp.index()], 1);
        let c = census_of(&sc[4], None);
        assert!(c.clients.is_empty() && c.totals.is_empty(), "{c:?}");
    }

    #[test]
    fn connections_joined_midstream_are_not_watched_for_upgrades() {
        // The first bytes seen from the client happen to look like a SOCKS5 greeting (the
        // tail of a hello whose start was missed); the server's ServerHello must still count.
        let c: IpAddr = "10.9.8.7".parse().unwrap();
        let sh = hs(2, &server_hello_body(0x0303, [3; 32], &[]));
        let mut sh_rec = vec![CT_HS, 3, 3, 0, sh.len() as u8];
        sh_rec.extend_from_slice(&sh);
        let (census, _) = replay(&[
            (
                true,
                7000,
                0,
                TcpFlags::ACK,
                &[5, 1, 0, 0x13, 0x01, 0x00, 0x2f],
            ),
            (false, 9000, 0, TcpFlags::ACK, &sh_rec),
        ]);
        let t = &census.clients[&c];
        assert_eq!(t.negotiated.get(&crate::tls::Version::TLS12), Some(&1));
        assert_eq!(t.started[Start::Direct.index()], 1);
    }

    #[test]
    fn a_hello_at_the_start_of_a_direction_counts_while_the_other_side_is_plaintext() {
        // A client trying implicit TLS against a plaintext SMTP server: its hello is TLS
        // from its first byte, and fails.
        let ch = hs(1, &client_hello_body(0x0301, &[0x002f], &[]));
        let say = |from_client: bool, text: &str| Flight {
            from_client,
            plain: text.as_bytes().to_vec(),
            records: vec![],
        };
        let flights = vec![
            say(false, "220 mx.example ESMTP\r\n"),
            Flight {
                from_client: true,
                plain: Vec::new(),
                records: vec![(CT_HS, ch)],
            },
            say(false, "500 5.5.2 Error: command not recognized\r\n"),
        ];
        for seed in [None, Some(7), Some(99)] {
            let t = census_of(&flights, seed).totals;
            assert_eq!((t.hellos, t.failed_handshakes), (1, 1), "{seed:?}");
            assert_eq!(t.started[Start::Direct.index()], 1);
        }
    }

    /// Segments `(from_client, seq, ack, flags, payload)` between 10.9.8.7:40000 and
    /// 192.0.2.1:443, then the end of input: the census and counters.
    fn replay(segs: &[(bool, u32, u32, u8, &[u8])]) -> (Census, Counters) {
        let c: IpAddr = "10.9.8.7".parse().unwrap();
        let s: IpAddr = "192.0.2.1".parse().unwrap();
        let mut e = Engine::new(EngineConfig::default());
        for (i, &(from_client, seq, ack, flags, payload)) in segs.iter().enumerate() {
            let (src, dst, sport, dport) = if from_client {
                (c, s, 40000, 443)
            } else {
                (s, c, 443, 40000)
            };
            let sg = Segment {
                proto: wire::Proto::Tcp,
                src,
                dst,
                sport,
                dport,
                seq,
                flags: TcpFlags(flags),
                tcp: wire::TcpMeta {
                    ack,
                    window: 1000,
                    wscale: None,
                },
                payload,
                truncated: false,
            };
            e.segment(1_000 + i as u64, &sg, &mut ());
        }
        e.finish(&mut ());
        (e.census().clone(), e.counters().clone())
    }

    fn hello_record(ty: u8, body: &[u8]) -> Vec<u8> {
        let m = hs(ty, body);
        let mut r = vec![CT_HS, 3, 1, (m.len() >> 8) as u8, m.len() as u8];
        r.extend_from_slice(&m);
        r
    }

    /// The Windows port-reuse case: a RST whose sequence number lies outside the client's
    /// sequence space does not end the connection; the retransmitted SYN and the handshake
    /// that follows count.
    #[test]
    fn a_rst_outside_the_window_is_ignored() {
        const S: u8 = TcpFlags::SYN;
        const A: u8 = TcpFlags::ACK;
        const R: u8 = TcpFlags::RST;
        const P: u8 = TcpFlags::PSH;
        let ch = hello_record(1, &client_hello_body(0x0301, &[0x002f], &[]));
        let sh = hello_record(2, &server_hello_body(0x0301, [3; 32], &[]));
        let n = ch.len() as u32;
        let (census, k) = replay(&[
            (true, 7000, 0, S, &[]),
            (false, 90_000_000, 123_456, A, &[]), // stale ACK of an old connection
            (true, 123_456, 0, R, &[]),           // the client's RST: out of window
            (true, 7000, 0, S, &[]),
            (false, 5000, 7001, S | A, &[]),
            (true, 7001, 5001, A, &[]),
            (true, 7001, 5001, A | P, &ch),
            (false, 5001, 7001 + n, A | P, &sh),
        ]);
        assert_eq!(k.rst_ignored, 1);
        assert_eq!(
            (census.totals.hellos, census.totals.failed_handshakes),
            (1, 0)
        );
        // In the window (at the next sequence number), the same RST ends the connection:
        // the SYN then repeated with the same ISN starts a new one.
        let (census, k) = replay(&[
            (true, 7000, 0, S, &[]),
            (false, 0, 7001, R | A, &[]),
            (true, 7000, 0, S, &[]),
            (false, 5000, 7001, S | A, &[]),
            (true, 7001, 5001, A | P, &ch),
            (false, 5001, 7001 + n, A | P, &sh),
        ]);
        assert_eq!((k.rst_ignored, k.flows_reused, k.flows_created), (0, 1, 2));
        assert_eq!(
            (census.totals.hellos, census.totals.failed_handshakes),
            (1, 0)
        );
    }

    /// TCP Fast Open: the ClientHello in the SYN; two SYN-ACKs with different ISNs; the
    /// ServerHello continues the one the client's ACK confirms, whichever it is.
    #[test]
    fn the_server_isn_is_the_one_the_client_confirms() {
        const S: u8 = TcpFlags::SYN;
        const A: u8 = TcpFlags::ACK;
        const P: u8 = TcpFlags::PSH;
        let ch = hello_record(1, &client_hello_body(0x0303, &[0x002f], &[]));
        let sh = hello_record(2, &server_hello_body(0x0303, [3; 32], &[]));
        let end = 7001 + ch.len() as u32;
        for confirmed in [5000u32, 9000] {
            let (census, _) = replay(&[
                (true, 7000, 0, S, &ch),
                (false, 5000, 7001, S | A, &[]),
                (false, 9000, end, S | A, &[]),
                (true, end, confirmed + 1, A, &[]),
                (false, confirmed + 1, end, A | P, &sh),
            ]);
            let t = &census.totals;
            assert_eq!((t.hellos, t.failed_handshakes), (1, 0), "ISN {confirmed}");
        }
    }

    /// Pure ACKs claiming zero bytes at the next sequence number do not shadow the hello that
    /// follows there (ndpi-heuristic_tcp_ack_payload.pcap).
    #[test]
    fn zero_padding_does_not_shadow_the_hello() {
        const S: u8 = TcpFlags::SYN;
        const A: u8 = TcpFlags::ACK;
        const P: u8 = TcpFlags::PSH;
        let ch = hello_record(1, &client_hello_body(0x0303, &[0x002f], &[]));
        let sh = hello_record(2, &server_hello_body(0x0303, [3; 32], &[]));
        let end = 7001 + ch.len() as u32;
        let (census, k) = replay(&[
            (true, 7000, 0, S, &[]),
            (false, 5000, 7001, S | A, &[0, 0]),
            (true, 7001, 5001, A, &[0; 6]),
            (true, 7001, 5001, A | P, &ch),
            (false, 5001, end, A, &[0; 6]),
            (false, 5001, end, A | P, &sh),
        ]);
        assert_eq!(k.zero_padding_replaced, 2);
        assert_eq!(k.overlap_conflicts, 0);
        let t = &census.totals;
        assert_eq!((t.hellos, t.failed_handshakes), (1, 0));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn resplitting_records_and_segments_gives_the_same_census(which in 0usize..5, seed in any::<u64>()) {
            // Counts only: the times of first and last packets follow the packets, and a
            // resplit sends more of them.
            let untimed = |mut c: Census| {
                for t in c.clients.values_mut().chain(std::iter::once(&mut c.totals)) {
                    t.first_seen_ns = None;
                    t.last_seen_ns = None;
                    t.last_legacy_seen_ns = None;
                }
                c
            };
            let sc = scenarios();
            let base = untimed(census_of(&sc[which], None));
            let split = untimed(census_of(&sc[which], Some(seed)));
            prop_assert_eq!(&base.clients, &split.clients);
            prop_assert_eq!(&base.totals, &split.totals);
        }
    }
}
