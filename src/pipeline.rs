//! The multi-core pipeline: one dispatcher, N workers, bounded queues.
//!
//! The dispatcher decodes each packet (link/IP/TCP, tunnels unwrapped) and routes the segment by
//! a symmetric hash of its innermost endpoints, so both directions of a connection reach the
//! same worker. Each worker owns an [`Engine`] (its connections, reassembly buffers and census)
//! outright: no locks and no shared writes per packet. Censuses are merged at the end (the
//! census is associative), which is why the result is identical for any number of workers.
//!
//! Segments travel in batches of [`BATCH_SIZE`] (live: at most [`BATCH_BYTES`] of payload)
//! over bounded `crossbeam-channel` queues of [`QUEUE_DEPTH`] batches per worker; emptied
//! batches come back on a return queue of [`RECYCLE_DEPTH`] per worker and are reused, so the
//! steady state allocates nothing.
//! - Replay ([`Dispatcher::send_blocking`]): a full queue blocks the reader: lossless.
//! - Live ([`Dispatcher::try_send`]): a full queue drops the batch and counts its packets; the
//!   capture thread never blocks.
//!
//! **Per-client tallies: per-worker tables, merged on read** (rather than one shared
//! `dashmap` written at every settled handshake). Measured on the 2-core development machine
//! (2 threads, 2 million settle events; `ClientTally::merge` per event in both designs): the
//! cost per event is the same within noise, 90–200 ns with 4, 5,000 or 200,000 clients,
//! because the work is the tally's own map updates, not the table; with about one event per
//! 28 packets on a realistic mix either is under 1 % of a worker. Merging the per-worker
//! tables costs 3 ms for 5,000 clients and 0.5 s for 200,000, paid only when the census is
//! read (the end of a run; a metrics scrape). Per-worker tables win on everything else: no
//! shared writes at all (no cache-line traffic between cores, which a shared map would have
//! for every event of a busy client), each worker's census is exactly what a single engine
//! computes (so `--workers N` equals `--workers 1` by construction), and the client cap
//! stays a per-table bound with no cross-thread bookkeeping.

use crate::engine::{Counters, Engine, EngineConfig, SettleSink};
use crate::flow::FlowKey;
use crate::tally::Census;
use crate::wire::{self, LinkType, Segment};
use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};

/// Segments per batch.
pub const BATCH_SIZE: usize = 256;

/// Batches queued per worker in live capture: 128 × 256 = 32,768 segments, about 100 ms at
/// 300,000 packets/s for one worker, so a worker descheduled on a busy machine does not cost
/// live packets.
pub const QUEUE_DEPTH: usize = 128;

/// Batches queued per worker in replay, where a full queue only makes the reader wait: shallow,
/// so the packets in flight (borrowed from the mapped file) stay well inside the window of
/// pages the reader keeps resident ([`crate::capture::file::RELEASE_LAG`]).
pub const REPLAY_QUEUE_DEPTH: usize = 8;

/// Emptied batches kept per worker for reuse (beyond, they are freed; when none is left, a
/// new one is allocated): the steady state allocates nothing, and a burst that filled the
/// queues does not leave all its buffers behind.
pub const RECYCLE_DEPTH: usize = 32;

/// Payload bytes copied into one live batch at most (a packet that would overflow it starts
/// the next batch; `MAX_SNAPLEN` is not larger). With at most
/// `workers × (QUEUE_DEPTH + RECYCLE_DEPTH + 2)` batches alive (queued, recycled, pending, in
/// a worker), live payload memory stays below 41 MiB per worker, whatever the traffic.
pub const BATCH_BYTES: usize = 256 << 10;

/// Most workers accepted.
pub const MAX_WORKERS: usize = 64;

/// A segment whose payload lives in its batch's arena (live capture copies packets out of
/// libpcap's ring).
#[derive(Copy, Clone, Debug)]
pub struct OwnedSeg {
    /// Packet time (ns).
    pub ts: u64,
    /// The segment's headers; its `payload` is empty and lives in the arena instead.
    pub seg: Segment<'static>,
    /// Payload range in the arena.
    pub start: usize,
    /// Payload end in the arena.
    pub end: usize,
}

/// A batch of segments for one worker.
#[derive(Debug, Default)]
pub struct Batch<'a> {
    /// Segments borrowing from the capture's buffer (replay).
    pub borrowed: Vec<(u64, Segment<'a>)>,
    /// Segments whose payload is in `arena` (live).
    pub owned: Vec<OwnedSeg>,
    /// Payload bytes of `owned`.
    pub arena: Vec<u8>,
}

impl Batch<'_> {
    fn len(&self) -> usize {
        self.borrowed.len() + self.owned.len()
    }

    fn clear(&mut self) {
        self.borrowed.clear();
        self.owned.clear();
        self.arena.clear();
    }
}

/// What a worker receives.
#[derive(Debug)]
pub enum Msg<'a> {
    /// Segments to process.
    Batch(Batch<'a>),
    /// Sweep idle connections at this packet time (ns) and publish counters.
    Tick(u64),
    /// Send a copy of the census and counters so far (a snapshot, [`Dispatcher::snapshot`]).
    Snapshot(Sender<Part>),
}

/// One worker's share of a snapshot: its census and counters at that point of its queue.
pub type Part = (Census, Counters);

/// Symmetric hash of a segment's endpoints (same value for both directions).
pub fn flow_hash(seg: &Segment<'_>) -> u64 {
    let (key, _) = FlowKey::of(seg);
    // A fixed-key hash, so the assignment of connections to workers is the same every run.
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(0x6865_6c6c_6f77_6174).hash_one(key)
}

/// The worker side: runs until its queue closes, then finishes its engine.
pub fn worker_loop<'a, S: SettleSink>(
    mut engine: Engine,
    rx: &Receiver<Msg<'a>>,
    recycle: &Sender<Batch<'a>>,
    sink: &mut S,
) -> Engine {
    let mut last = 0u64;
    for msg in rx {
        match msg {
            Msg::Batch(mut b) => {
                for (ts, seg) in &b.borrowed {
                    last = last.max(*ts);
                    engine.segment(*ts, seg, sink);
                }
                for o in &b.owned {
                    last = last.max(o.ts);
                    let payload = b.arena.get(o.start..o.end).unwrap_or(&[]);
                    engine.segment(o.ts, &Segment { payload, ..o.seg }, sink);
                }
                b.clear();
                // The return queue may be full when the dispatcher holds spares: then drop it.
                let _ = recycle.try_send(b);
            }
            Msg::Tick(now) => {
                engine.sweep(now.max(last), sink);
                sink.tick(engine.counters(), engine.flows());
            }
            Msg::Snapshot(reply) => {
                // The requester may have given up (a live snapshot skipped): nothing to do.
                let _ = reply.send((engine.census().clone(), engine.counters().clone()));
            }
        }
    }
    engine.finish(sink);
    sink.tick(engine.counters(), engine.flows());
    engine
}

/// The dispatcher side: decodes, hashes and batches.
pub struct Dispatcher<'a> {
    txs: Vec<Sender<Msg<'a>>>,
    pending: Vec<Batch<'a>>,
    recycled: Receiver<Batch<'a>>,
    /// Packets, bytes and decode errors seen by the dispatcher; batches dropped in live mode.
    pub counters: Counters,
    /// Packets dropped because a worker queue was full (live only).
    pub queue_drops: u64,
    last_sweep: Option<u64>,
}

impl<'a> Dispatcher<'a> {
    /// A dispatcher over the given worker queues and the queue of batches they hand back.
    fn new(txs: Vec<Sender<Msg<'a>>>, recycled: Receiver<Batch<'a>>) -> Self {
        Dispatcher {
            pending: txs.iter().map(|_| Batch::default()).collect(),
            txs,
            recycled,
            counters: Counters::default(),
            queue_drops: 0,
            last_sweep: None,
        }
    }

    fn take_batch(&mut self) -> Batch<'a> {
        self.recycled.try_recv().unwrap_or_else(|_| Batch {
            borrowed: Vec::with_capacity(BATCH_SIZE),
            owned: Vec::new(),
            arena: Vec::new(),
        })
    }

    /// Decodes one frame; returns the worker index and segment, or counts why not.
    fn route(&mut self, link: LinkType, frame: &'a [u8]) -> Option<(usize, Segment<'a>)> {
        self.counters.packets += 1;
        self.counters.bytes += frame.len() as u64;
        match wire::decode(link, frame) {
            Ok(seg) => {
                let n = self.txs.len().max(1) as u64;
                #[allow(clippy::cast_possible_truncation)] // < number of workers
                let w = (flow_hash(&seg) % n) as usize;
                Some((w, seg))
            }
            Err(e) => {
                if let Some(c) = self.counters.decode_errors.get_mut(e.index()) {
                    *c += 1;
                }
                None
            }
        }
    }

    /// Replay: queues a packet borrowed for the whole run; blocks when the worker is behind.
    /// Idle sweeps are ordered into every worker's queue at the points of the packet sequence
    /// where a single engine would sweep.
    pub fn send_blocking(&mut self, ts: u64, link: LinkType, frame: &'a [u8]) {
        let Some((w, seg)) = self.route(link, frame) else {
            return;
        };
        if crate::engine::sweep_due(&mut self.last_sweep, ts) {
            self.flush(true);
            for tx in &self.txs {
                let _ = tx.send(Msg::Tick(ts));
            }
        }
        let Some(b) = self.pending.get_mut(w) else {
            return;
        };
        b.borrowed.push((ts, seg));
        if b.len() >= BATCH_SIZE {
            let full = std::mem::take(b);
            if let Some(tx) = self.txs.get(w) {
                let _ = tx.send(Msg::Batch(full));
            }
            let fresh = self.take_batch();
            if let Some(b) = self.pending.get_mut(w) {
                *b = fresh;
            }
        }
    }

    /// Live: copies a packet's payload into the worker's batch; a full queue drops the batch
    /// (counted in `queue_drops`) and never blocks.
    pub fn try_send(&mut self, ts: u64, link: LinkType, frame: &[u8]) {
        // Decode a borrowed view to find the worker, then copy only the payload.
        self.counters.packets += 1;
        self.counters.bytes += frame.len() as u64;
        let seg = match wire::decode(link, frame) {
            Ok(s) => s,
            Err(e) => {
                if let Some(c) = self.counters.decode_errors.get_mut(e.index()) {
                    *c += 1;
                }
                return;
            }
        };
        let n = self.txs.len().max(1) as u64;
        #[allow(clippy::cast_possible_truncation)] // < number of workers
        let w = (flow_hash(&seg) % n) as usize;
        let full = self
            .pending
            .get(w)
            .is_some_and(|b| b.arena.len() + seg.payload.len() > BATCH_BYTES);
        if full {
            self.flush_one(w, false);
        }
        let Some(b) = self.pending.get_mut(w) else {
            return;
        };
        if b.arena.capacity() < BATCH_BYTES {
            // Once per batch buffer (they are recycled), so the arena never regrows.
            b.arena.reserve_exact(BATCH_BYTES - b.arena.len());
        }
        let start = b.arena.len();
        b.arena.extend_from_slice(seg.payload);
        b.owned.push(OwnedSeg {
            ts,
            seg: Segment {
                payload: &[],
                ..seg
            },
            start,
            end: b.arena.len(),
        });
        if b.len() >= BATCH_SIZE {
            self.flush_one(w, false);
        }
    }

    /// Sends worker `w`'s pending batch (blocking or not).
    fn flush_one(&mut self, w: usize, blocking: bool) {
        let Some(b) = self.pending.get_mut(w) else {
            return;
        };
        if b.len() == 0 {
            return;
        }
        let full = std::mem::take(b);
        let Some(tx) = self.txs.get(w) else {
            return;
        };
        if blocking {
            let _ = tx.send(Msg::Batch(full));
        } else {
            match tx.try_send(Msg::Batch(full)) {
                Ok(()) => {}
                Err(
                    TrySendError::Full(Msg::Batch(mut b))
                    | TrySendError::Disconnected(Msg::Batch(mut b)),
                ) => {
                    self.queue_drops += b.len() as u64;
                    b.clear();
                    if let Some(p) = self.pending.get_mut(w) {
                        *p = b;
                    }
                    return;
                }
                Err(_) => {}
            }
        }
        let fresh = self.take_batch();
        if let Some(p) = self.pending.get_mut(w) {
            *p = fresh;
        }
    }

    /// Sends every pending batch (`blocking`: replay; otherwise a full queue drops).
    pub fn flush(&mut self, blocking: bool) {
        for w in 0..self.txs.len() {
            self.flush_one(w, blocking);
        }
    }

    /// Asks every worker for a copy of its census and counters, after the packets sent so far
    /// (pending batches are sent first). Replay (`blocking`) always succeeds; live never waits
    /// and returns false when a queue was full (some workers may still answer: the requester
    /// drops the reply queue). The dispatcher's own counters are [`Dispatcher::counters`].
    pub fn snapshot(&mut self, reply: &Sender<Part>, blocking: bool) -> bool {
        self.flush(blocking);
        for tx in &self.txs {
            let msg = Msg::Snapshot(reply.clone());
            let sent = if blocking {
                tx.send(msg).is_ok()
            } else {
                tx.try_send(msg).is_ok()
            };
            if !sent {
                return false;
            }
        }
        true
    }

    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.txs.len()
    }

    /// Live: tells every worker that time has advanced to `now` (ns), so idle connections
    /// expire and counters are published even on a quiet link. Never blocks.
    pub fn tick(&mut self, now: u64) {
        for tx in &self.txs {
            let _ = tx.try_send(Msg::Tick(now));
        }
    }
}

/// Runs `produce` (which feeds the dispatcher) with `workers` worker threads, then merges
/// their censuses and counters. With one worker everything runs on the calling thread's
/// dispatcher and one worker thread all the same, so results never depend on the count.
pub fn run<'a, S, F>(
    cfg: EngineConfig,
    workers: usize,
    queue_depth: usize,
    make_sink: impl Fn(usize) -> S + Sync,
    produce: F,
) -> (Census, Counters, Vec<S>)
where
    S: SettleSink + Send,
    F: FnOnce(&mut Dispatcher<'a>),
{
    let workers = workers.clamp(1, MAX_WORKERS);
    let mut per_worker = cfg;
    per_worker.max_flows = (cfg.max_flows / workers).max(1);
    per_worker.max_buffered = cfg.max_buffered / workers;
    std::thread::scope(|scope| {
        let (recycle_tx, recycle_rx) = bounded::<Batch<'a>>(workers * RECYCLE_DEPTH);
        let mut txs = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for i in 0..workers {
            let (tx, rx) = bounded::<Msg<'a>>(queue_depth.max(1));
            txs.push(tx);
            let recycle = recycle_tx.clone();
            let make_sink = &make_sink;
            handles.push(scope.spawn(move || {
                let mut sink = make_sink(i);
                let e = worker_loop(
                    Engine::new(per_worker).sweep_on_ticks(),
                    &rx,
                    &recycle,
                    &mut sink,
                );
                (e, sink)
            }));
        }
        drop(recycle_tx);
        let mut d = Dispatcher::new(txs, recycle_rx);
        produce(&mut d);
        d.flush(true);
        let mut counters = d.counters.clone();
        counters.queue_drops += d.queue_drops;
        drop(d);
        let mut census = Census::new(cfg.max_clients);
        let mut sinks = Vec::with_capacity(workers);
        for h in handles {
            // A worker that panicked is a bug; its census is lost but the others are kept.
            if let Ok((e, sink)) = h.join() {
                census.merge(e.census());
                counters.merge(e.counters());
                sinks.push(sink);
            }
        }
        (census, counters, sinks)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::TcpFlags;

    #[test]
    fn hash_is_symmetric() {
        let a = Segment {
            src: "10.0.0.1".parse().unwrap(),
            dst: "10.0.0.2".parse().unwrap(),
            sport: 1234,
            dport: 443,
            seq: 0,
            flags: TcpFlags::default(),
            payload: &[],
            truncated: false,
        };
        let b = Segment {
            src: a.dst,
            dst: a.src,
            sport: a.dport,
            dport: a.sport,
            ..a
        };
        assert_eq!(flow_hash(&a), flow_hash(&b));
        let c = Segment { sport: 1235, ..a };
        assert_ne!(flow_hash(&a), flow_hash(&c));
    }

    /// A dispatcher with one worker queue of `depth` batches that nobody reads.
    fn stalled(depth: usize) -> (Dispatcher<'static>, Receiver<Msg<'static>>) {
        let (tx, rx) = bounded(depth);
        let (_, recycled) = bounded(1);
        (Dispatcher::new(vec![tx], recycled), rx)
    }

    #[test]
    fn live_full_queue_drops_whole_batches_and_counts_every_packet() {
        let (mut d, rx) = stalled(2);
        let frame = wire::tests::eth_v4_tcp(&[0x16; 40]);
        let n = 5 * BATCH_SIZE + 17;
        for i in 0..n {
            d.try_send(i as u64, LinkType::Ethernet, &frame);
        }
        d.flush(false);
        d.tick(1);
        assert_eq!(d.counters.packets, n as u64);
        // Two batches fit in the queue; the other three and the partial last one are dropped.
        assert_eq!(rx.len(), 2);
        assert_eq!(d.queue_drops, (n - 2 * BATCH_SIZE) as u64);
        let queued: usize = rx
            .try_iter()
            .map(|m| match m {
                Msg::Batch(b) => b.len(),
                Msg::Tick(_) | Msg::Snapshot(_) => 0,
            })
            .sum();
        assert_eq!(queued as u64 + d.queue_drops, d.counters.packets);
    }

    #[test]
    fn live_batch_payload_never_exceeds_the_byte_cap() {
        let (mut d, rx) = stalled(64);
        let frame = wire::tests::eth_v4_tcp(&[0x17; 1400]);
        let per_batch = BATCH_BYTES / 1400;
        assert!(per_batch < BATCH_SIZE);
        for i in 0..=per_batch {
            d.try_send(i as u64, LinkType::Ethernet, &frame);
        }
        // The packet that would overflow the first batch went into the next one.
        assert_eq!(rx.len(), 1);
        let Ok(Msg::Batch(b)) = rx.try_recv() else {
            panic!("a batch")
        };
        assert_eq!(b.owned.len(), per_batch);
        assert_eq!(b.arena.len(), per_batch * 1400);
        assert!(b.arena.capacity() <= BATCH_BYTES);
        assert_eq!(d.pending[0].owned.len(), 1);
        assert_eq!(d.queue_drops, 0);
    }
}
