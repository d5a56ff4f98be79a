//! Connections: a bounded table keyed by the unordered pair of TCP endpoints.
//!
//! Each entry is small until the connection carries payload; then it gets a boxed
//! [`TlsState`] (two reassembly streams, two parsers, the handshake facts), which is dropped
//! again once the handshake settles, so settled connections cost one lookup per packet.
//! Time is the packet timestamp passed in; nothing here reads a clock.

#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

pub mod reassembly;
pub mod summary;
pub mod track;
pub mod udp;

pub use summary::ConnSummary;

use crate::tls::facts::{
    Direction, HelloFacts, MAX_ALERTS_PER_CONN, MAX_HELLOS_PER_CONN, ServerFacts,
};
use crate::tls::{DirParser, Version};
use crate::upgrade::{Recogniser, Start};
use crate::wire::Endpoint;
use reassembly::Stream;
use std::collections::HashMap;
use std::net::IpAddr;

/// Default bound on tracked connections.
pub const DEFAULT_MAX_FLOWS: usize = 1_000_000;

/// Default idle timeout, in nanoseconds of packet time.
pub const DEFAULT_IDLE_TIMEOUT_NS: u64 = 300 * 1_000_000_000;

/// How long (packet time) a closed connection (RST, or FIN both ways) is kept after its last
/// packet, so that retransmissions of its last segments are recognised rather than taken for a
/// new connection joined mid-stream.
pub const CLOSED_LINGER_NS: u64 = 5 * 1_000_000_000;

/// How often (packet time) idle and closed connections are swept.
pub const SWEEP_INTERVAL_NS: u64 = 1_000_000_000;

/// Entries examined to choose a victim when the table is full.
pub const EVICTION_SCAN: usize = 64;

/// Slabs smaller than this are never compacted (see [`FlowTable::compact_if_sparse`]).
pub const COMPACT_MIN_SLOTS: usize = 4096;

/// The unordered endpoint pair, packed for cheap comparison and hashing; side 0 is the lower
/// endpoint. Both addresses of one IP header share a family.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct FlowKey {
    /// Addresses as (high, low) 64-bit halves: 8-byte alignment keeps index entries small.
    addrs: [[u64; 2]; 2],
    ports: [u16; 2],
    v6: bool,
}

impl std::hash::Hash for FlowKey {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        // Two word writes instead of a byte slice; equal keys hash equally.
        let [a, b] = self.addrs;
        h.write_u64(a[0] ^ b[1]);
        h.write_u64(a[1] ^ b[0]);
        h.write_u32(u32::from(self.ports[0]) << 16 | u32::from(self.ports[1]));
    }
}

fn pack(ip: IpAddr) -> ([u64; 2], bool) {
    match ip {
        IpAddr::V4(a) => ([0, u64::from(u32::from(a))], false),
        IpAddr::V6(a) => {
            let v = u128::from(a);
            #[allow(clippy::cast_possible_truncation)] // splitting into halves
            ([(v >> 64) as u64, v as u64], true)
        }
    }
}

impl FlowKey {
    /// The key of a segment from `src` to `dst`, and the side `src` is on.
    #[inline]
    pub fn new(src: Endpoint, dst: Endpoint) -> (FlowKey, usize) {
        let ((sa, v6), (da, _)) = (pack(src.ip), pack(dst.ip));
        if (sa, src.port) <= (da, dst.port) {
            (
                FlowKey {
                    addrs: [sa, da],
                    ports: [src.port, dst.port],
                    v6,
                },
                0,
            )
        } else {
            (
                FlowKey {
                    addrs: [da, sa],
                    ports: [dst.port, src.port],
                    v6,
                },
                1,
            )
        }
    }

    /// The key of a decoded segment, and the side its sender is on.
    #[inline]
    pub fn of(seg: &crate::wire::Segment<'_>) -> (FlowKey, usize) {
        FlowKey::new(
            Endpoint {
                ip: seg.src,
                port: seg.sport,
            },
            Endpoint {
                ip: seg.dst,
                port: seg.dport,
            },
        )
    }

    /// Endpoint on `side` (0 or 1).
    pub fn end(&self, side: usize) -> Endpoint {
        let ([a0, a1], [p0, p1]) = (self.addrs, self.ports);
        let ([hi, lo], port) = if side & 1 == 0 { (a0, p0) } else { (a1, p1) };
        let ip = if self.v6 {
            IpAddr::V6((u128::from(hi) << 64 | u128::from(lo)).into())
        } else {
            #[allow(clippy::cast_possible_truncation)] // packed from a u32
            IpAddr::V4((lo as u32).into())
        };
        Endpoint { ip, port }
    }
}

/// Handshake facts of one connection.
#[derive(Debug, Default)]
pub struct Handshake {
    /// Side that sent the first ClientHello.
    pub client: Option<usize>,
    /// Side that sent the last non-HRR ServerHello.
    pub server_hello_from: Option<usize>,
    /// ClientHellos, in order.
    pub hellos: Vec<HelloFacts>,
    /// Hellos beyond [`MAX_HELLOS_PER_CONN`].
    pub hellos_dropped: u32,
    /// Last non-HRR ServerHello version.
    pub negotiated: Option<Version>,
    /// A HelloRetryRequest was seen.
    pub hrr: bool,
    /// Plaintext alerts: (description, sending side).
    pub alerts: Vec<(u8, usize)>,
    /// Alerts beyond [`MAX_ALERTS_PER_CONN`].
    pub alerts_dropped: u32,
    /// Per side: a ClientHello offering TLS 1.3 (or a draft).
    pub offered_tls13: [bool; 2],
    /// Per side: a handshake message other than a hello was sent.
    pub other_handshake: [bool; 2],
    /// The last non-HRR ServerHello.
    pub server_hello: Option<ServerFacts>,
    /// Bit `i` set: kept alert `i` was fatal (level 2); the parser accepts only levels 1
    /// and 2, so one bit per alert is exact.
    pub fatal_alerts: u8,
    /// How TLS began (after which plaintext upgrade, if any).
    pub start: Start,
    /// Side that sent the upgrade request (the TLS client), when TLS began after one.
    pub upgrade_client: Option<usize>,
    /// The server's leaf certificate (TLS ≤ 1.2), the first one read.
    pub certificate: Option<Box<crate::tls::certificate::LeafFacts>>,
}

impl Handshake {
    pub(crate) fn push_hello(&mut self, side: usize, h: HelloFacts) {
        self.client.get_or_insert(side);
        if h.offered.as_slice().iter().any(|v| v.is_tls13_family()) {
            if let Some(o) = self.offered_tls13.get_mut(side & 1) {
                *o = true;
            }
        }
        if self.hellos.len() < MAX_HELLOS_PER_CONN {
            self.hellos.push(h);
        } else {
            self.hellos_dropped = self.hellos_dropped.saturating_add(1);
        }
    }

    /// A ServerHello from `side`: a HelloRetryRequest is only noted; otherwise it is the
    /// negotiation (the last one wins).
    pub(crate) fn push_server_hello(&mut self, side: usize, sh: &crate::tls::ServerHello) {
        if sh.is_hrr {
            self.hrr = true;
        } else {
            self.negotiated = Some(sh.version);
            self.server_hello_from = Some(side);
            self.server_hello = Some(ServerFacts::from_server_hello(sh));
        }
    }

    pub(crate) fn push_alert(&mut self, side: usize, level: u8, desc: u8) {
        if self.alerts.len() < MAX_ALERTS_PER_CONN {
            if level == 2 {
                self.fatal_alerts |= 1 << (self.alerts.len() & 7);
            }
            self.alerts.push((desc, side));
        } else {
            self.alerts_dropped = self.alerts_dropped.saturating_add(1);
        }
    }
}

// `Handshake::fatal_alerts` has one bit per kept alert.
const _: () = assert!(MAX_ALERTS_PER_CONN <= 8);

/// One direction: reassembly plus parser.
#[derive(Debug, Default)]
pub struct Dir {
    /// Reassembly.
    pub stream: Stream,
    /// TLS parser.
    pub parser: DirParser,
    /// The bytes go to the connection's upgrade [`Recogniser`], not to the parser (which waits,
    /// reset, for the first TLS byte).
    pub plain: bool,
    /// The recogniser consumed plaintext bytes of this direction.
    pub plain_used: bool,
}

impl Dir {
    /// Bytes this direction holds: reassembled and waiting stream bytes plus the parser's
    /// partial hello (what the engine's buffer budget counts).
    pub fn held(&self) -> usize {
        self.stream.held().saturating_add(self.parser.buffered())
    }

    /// The direction ended inside an incomplete record or hello: bytes announced as TLS
    /// that never completed.
    pub fn unfinished(&self) -> bool {
        self.parser.stopped().is_none() && (!self.stream.data().is_empty() || self.parser.pending())
    }
}

/// Per-connection TLS state, allocated when the first payload arrives.
#[derive(Debug, Default)]
pub struct TlsState {
    /// By side.
    pub dirs: [Dir; 2],
    /// Handshake facts.
    pub hs: Handshake,
    /// Upgrade recognition, once a direction started with plaintext.
    pub upgrade: Option<Box<Recogniser>>,
}

impl TlsState {
    /// Bytes both directions hold.
    pub fn held(&self) -> usize {
        self.dirs.iter().fold(0, |n, d| n.saturating_add(d.held()))
    }

    /// Whether the census has read everything it will ever read from this connection: both
    /// directions stopped (TLS ≤ 1.2 at ChangeCipherSpec, TLS 1.3 at its first encrypted
    /// record, so after the ServerHello; a direction that is not TLS, malformed, or given up
    /// by a bound; a plaintext direction never stops before its upgrade is given up). No
    /// hello or counted alert can come after that (alerts after ChangeCipherSpec are
    /// encrypted). This is the one rule for both: the engine settles (counts) the connection
    /// then, and `live --bypass` has the kernel drop its later packets
    /// (the engine's `SettleSink::bypass`).
    pub fn read_all(&self) -> bool {
        self.dirs.iter().all(|d| d.parser.stopped().is_some())
    }
}

/// Lifecycle of a connection entry.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Handshake in progress (or not started).
    Open,
    /// Counted; later packets are only looked up.
    Settled,
}

/// A connection entry.
#[derive(Debug)]
pub struct Conn {
    /// Endpoints.
    pub key: FlowKey,
    /// Last packet time (ns).
    pub last_seen: u64,
    /// First packet time (ns).
    pub first_seen: u64,
    /// Sequence state: initial and next sequence numbers, windows (RST validation, the
    /// confirmed server ISN).
    pub tcp: track::Track,
    /// Side (0/1) that sent the SYN (without ACK), if seen or inferred from a SYN-ACK.
    pub initiator: Option<u8>,
    /// FIN seen per side.
    pub fin: [bool; 2],
    /// RST seen.
    pub rst: bool,
    /// The first packet seen carried payload without a SYN: joined mid-stream.
    pub midstream: bool,
    /// Lifecycle.
    pub phase: Phase,
    /// TLS state while open and carrying payload.
    pub tls: Option<Box<TlsState>>,
}

impl Conn {
    fn new(key: FlowKey, now: u64) -> Self {
        Conn {
            key,
            last_seen: now,
            first_seen: now,
            tcp: track::Track::default(),
            initiator: None,
            fin: [false; 2],
            rst: false,
            midstream: false,
            phase: Phase::Open,
            tls: None,
        }
    }

    /// Address of `side`.
    pub fn addr(&self, side: usize) -> IpAddr {
        self.key.end(side).ip
    }
}

/// Index of a connection in the table.
pub type ConnId = usize;

/// The bounded connection table (slab + index). Iteration order is slab order, so what a
/// replay evicts and settles at the end is deterministic.
#[derive(Debug)]
pub struct FlowTable {
    slots: Vec<Option<Conn>>,
    free: Vec<ConnId>,
    /// Keyed with a per-process random seed (foldhash), so crafted tuples cannot force
    /// collisions; iteration order is never used.
    index: HashMap<FlowKey, ConnId, foldhash::fast::RandomState>,
    max_flows: usize,
    hand: usize,
}

impl FlowTable {
    /// A table holding at most `max_flows` connections.
    pub fn new(max_flows: usize) -> Self {
        FlowTable {
            slots: Vec::new(),
            free: Vec::new(),
            index: HashMap::default(),
            max_flows: max_flows.max(1),
            hand: 0,
        }
    }

    /// Connections tracked now.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// No connection tracked.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Is the table at its bound?
    pub fn is_full(&self) -> bool {
        self.index.len() >= self.max_flows
    }

    /// Looks a key up.
    pub fn find(&self, key: &FlowKey) -> Option<ConnId> {
        self.index.get(key).copied()
    }

    /// The entry.
    pub fn get_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        self.slots.get_mut(id).and_then(Option::as_mut)
    }

    /// Inserts a new connection; the caller makes room first when [`FlowTable::is_full`].
    pub fn insert(&mut self, key: FlowKey, now: u64) -> ConnId {
        let conn = Conn::new(key, now);
        let id = match self.free.pop() {
            Some(id) => {
                if let Some(slot) = self.slots.get_mut(id) {
                    *slot = Some(conn);
                }
                id
            }
            None => {
                let id = self.slots.len();
                self.slots.push(Some(conn));
                id
            }
        };
        self.index.insert(key, id);
        id
    }

    /// Removes and returns a connection.
    pub fn remove(&mut self, id: ConnId) -> Option<Conn> {
        let conn = self.slots.get_mut(id)?.take()?;
        self.index.remove(&conn.key);
        self.free.push(id);
        Some(conn)
    }

    /// Chooses a connection to evict: among the next [`EVICTION_SCAN`] entries from a moving
    /// hand, a settled one if any, else one that never carried payload (a half-open or bare
    /// connection: what a SYN flood fills the table with), else the least recently seen. So a
    /// flood of new connections evicts itself rather than handshakes in progress.
    pub fn victim(&mut self) -> Option<ConnId> {
        let n = self.slots.len();
        let mut i = self.hand.checked_rem(n)?;
        // (open, carries TLS state, last seen): the smallest is the victim.
        let mut best: Option<((bool, bool, u64), ConnId)> = None;
        let mut looked = 0usize;
        for _ in 0..n {
            if let Some(Some(c)) = self.slots.get(i) {
                let rank = (c.phase != Phase::Settled, c.tls.is_some(), c.last_seen);
                if best.is_none_or(|(b, _)| rank < b) {
                    best = Some((rank, i));
                }
                looked = looked.saturating_add(1);
                if looked >= EVICTION_SCAN {
                    break;
                }
            }
            i = next_slot(i, n);
        }
        self.hand = next_slot(i, n);
        best.map(|(_, id)| id)
    }

    /// Ids of connections idle since before `cutoff`, or closed and quiet since before
    /// `closed_cutoff`, in slab order.
    pub fn idle(&self, cutoff: u64, closed_cutoff: u64, out: &mut Vec<ConnId>) {
        out.clear();
        for (i, s) in self.slots.iter().enumerate() {
            if let Some(c) = s {
                let closed = c.rst || (c.fin[0] && c.fin[1]);
                if c.last_seen < cutoff || (closed && c.last_seen < closed_cutoff) {
                    out.push(i);
                }
            }
        }
    }

    /// When fewer than a quarter of the slots hold a connection (a flood has come and gone),
    /// moves the live connections to a dense slab, in slab order, and shrinks the index: a
    /// sweep then costs what is live, not what once was, and the memory is returned. Ids
    /// change; call it only between packets (the engine does after a sweep).
    pub fn compact_if_sparse(&mut self) {
        let live = self.index.len();
        if self.slots.len() < COMPACT_MIN_SLOTS || live.saturating_mul(4) >= self.slots.len() {
            return;
        }
        let old = std::mem::take(&mut self.slots);
        self.slots = Vec::with_capacity(live.saturating_mul(2));
        for conn in old.into_iter().flatten() {
            if let Some(id) = self.index.get_mut(&conn.key) {
                *id = self.slots.len();
            }
            self.slots.push(Some(conn));
        }
        self.free = Vec::new();
        self.index.shrink_to(live.saturating_mul(2));
        self.hand = 0;
    }

    /// Slots in the slab (live or free).
    pub fn slots(&self) -> usize {
        self.slots.len()
    }

    /// Ids of all connections, in slab order.
    pub fn all(&self, out: &mut Vec<ConnId>) {
        out.clear();
        out.extend(
            self.slots
                .iter()
                .enumerate()
                .filter(|(_, s)| s.is_some())
                .map(|(i, _)| i),
        );
    }
}

/// The slot after `i` in a slab of `n`, wrapping.
fn next_slot(i: usize, n: usize) -> usize {
    match i.checked_add(1) {
        Some(j) if j < n => j,
        _ => 0,
    }
}

/// Direction of `side` relative to the connection's client side.
pub fn direction(side: usize, client: usize) -> Direction {
    if side == client {
        Direction::FromClient
    } else {
        Direction::FromServer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(s: &str, port: u16) -> Endpoint {
        Endpoint {
            ip: s.parse().unwrap(),
            port,
        }
    }

    #[test]
    fn sparse_slab_is_compacted_and_ids_follow() {
        let mut t = FlowTable::new(100_000);
        let keys: Vec<FlowKey> = (0..10_000u32)
            .map(|i| {
                let a = Endpoint {
                    ip: IpAddr::V4((0x0a00_0000 + i).into()),
                    port: 1000,
                };
                FlowKey::new(a, ep("192.0.2.1", 443)).0
            })
            .collect();
        let ids: Vec<ConnId> = keys.iter().map(|k| t.insert(*k, 1)).collect();
        t.compact_if_sparse();
        assert_eq!(t.slots(), 10_000, "dense: nothing to do");
        // Keep every 10th: 1,000 of 10,000 slots live.
        for (i, id) in ids.iter().enumerate() {
            if i % 10 != 0 {
                t.remove(*id);
            }
        }
        t.get_mut(t.find(&keys[50]).unwrap()).unwrap().last_seen = 7;
        t.compact_if_sparse();
        assert_eq!(t.slots(), 1_000);
        assert_eq!(t.len(), 1_000);
        for (i, k) in keys.iter().enumerate() {
            match t.find(k) {
                Some(id) => {
                    assert_eq!(i % 10, 0);
                    assert_eq!(t.get_mut(id).unwrap().key, *k, "the index follows the move");
                }
                None => assert_ne!(i % 10, 0),
            }
        }
        let mut all = Vec::new();
        t.all(&mut all);
        assert_eq!(all, (0..1_000).collect::<Vec<_>>(), "slab order kept");
        assert_eq!(t.get_mut(t.find(&keys[50]).unwrap()).unwrap().last_seen, 7);
        let (k, _) = FlowKey::new(ep("10.9.9.9", 1), ep("192.0.2.1", 443));
        assert_eq!(t.insert(k, 9), 1_000);
    }

    #[test]
    fn key_is_symmetric() {
        let (a, sa) = FlowKey::new(ep("10.0.0.2", 443), ep("10.0.0.1", 5000));
        let (b, sb) = FlowKey::new(ep("10.0.0.1", 5000), ep("10.0.0.2", 443));
        assert_eq!(a, b);
        assert_ne!(sa, sb);
    }

    #[test]
    fn insert_remove_reuses_slots() {
        let mut t = FlowTable::new(2);
        let (k1, _) = FlowKey::new(ep("10.0.0.1", 1), ep("10.0.0.2", 2));
        let (k2, _) = FlowKey::new(ep("10.0.0.1", 3), ep("10.0.0.2", 2));
        let a = t.insert(k1, 1);
        t.insert(k2, 2);
        assert!(t.is_full());
        assert_eq!(t.victim(), Some(a), "least recently seen");
        t.remove(a);
        assert_eq!(t.find(&k1), None);
        let (k3, _) = FlowKey::new(ep("10.0.0.1", 4), ep("10.0.0.2", 2));
        assert_eq!(t.insert(k3, 3), a);
        let mut ids = Vec::new();
        t.idle(3, 0, &mut ids);
        assert_eq!(ids, vec![1]);
        t.get_mut(1).unwrap().rst = true;
        t.idle(0, 3, &mut ids);
        assert_eq!(ids, vec![1], "closed connections leave after the linger");
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    /// Guards the per-connection memory stated in the README: an entry without payload (a SYN
    /// flood's) and the extra state of a connection in its handshake.
    #[test]
    fn per_connection_state_stays_small() {
        let entry = size_of::<Option<Conn>>();
        // hashbrown stores (key, id) plus one control byte, at ≤ 87.5 % load.
        let index = (size_of::<(FlowKey, ConnId)>() + 1) * 8 / 7;
        let tls = size_of::<TlsState>();
        eprintln!("slab entry {entry} B, index ≈ {index} B, handshake state {tls} B (+ buffers)");
        assert!(entry <= 96, "slab entry grew to {entry} bytes");
        assert!(index <= 64, "index entry grew to {index} bytes");
        assert!(align_of::<FlowKey>() <= 8);
        assert!(tls <= 384, "TlsState grew to {tls} bytes");
    }
}
