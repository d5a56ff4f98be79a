//! The multi-core pipeline: one dispatcher, N workers, bounded queues.
//!
//! The dispatcher decodes each packet (link/IP/TCP, tunnels unwrapped) and routes the segment by
//! a symmetric hash of its innermost endpoints, so both directions of a connection reach the
//! same worker. Each worker owns an [`Engine`] (its connections, reassembly buffers and census)
//! outright: no locks and no shared writes per packet. Censuses are merged at the end (the
//! census is associative), which is why the result is identical for any number of workers.
//!
//! Segments travel in batches of [`BATCH_SIZE`] over bounded `crossbeam-channel` queues of
//! [`QUEUE_DEPTH`] batches per worker; emptied batches come back on a return queue and are
//! reused, so the steady state allocates nothing.
//! - Replay ([`Dispatcher::send_blocking`]): a full queue blocks the reader: lossless.
//! - Live ([`Dispatcher::try_send`]): a full queue drops the batch and counts its packets; the
//!   capture thread never blocks.

use crate::engine::{Counters, Engine, EngineConfig, SettleSink};
use crate::flow::{Endpoint, FlowKey};
use crate::tally::Census;
use crate::wire::{self, LinkType, Segment, TcpFlags};
use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};
use std::net::IpAddr;

/// Segments per batch.
pub const BATCH_SIZE: usize = 256;

/// Batches queued per worker.
pub const QUEUE_DEPTH: usize = 64;

/// Most workers accepted.
pub const MAX_WORKERS: usize = 64;

/// A segment whose payload lives in its batch's arena (live capture copies packets out of
/// libpcap's ring).
#[derive(Copy, Clone, Debug)]
pub struct OwnedSeg {
    /// Packet time (ns).
    pub ts: u64,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Sequence number.
    pub seq: u32,
    /// Flags.
    pub flags: TcpFlags,
    /// Payload cut by the snap length.
    pub truncated: bool,
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
}

/// Symmetric hash of a segment's endpoints (same value for both directions).
pub fn flow_hash(seg: &Segment<'_>) -> u64 {
    let (key, _) = FlowKey::new(
        Endpoint {
            ip: seg.src,
            port: seg.sport,
        },
        Endpoint {
            ip: seg.dst,
            port: seg.dport,
        },
    );
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
                    let seg = Segment {
                        src: o.src,
                        dst: o.dst,
                        sport: o.sport,
                        dport: o.dport,
                        seq: o.seq,
                        flags: o.flags,
                        payload,
                        truncated: o.truncated,
                    };
                    engine.segment(o.ts, &seg, sink);
                }
                b.clear();
                // The return queue may be full when the dispatcher holds spares: then drop it.
                let _ = recycle.try_send(b);
            }
            Msg::Tick(now) => {
                engine.sweep(now.max(last), sink);
                sink.tick(engine.counters(), engine.flows());
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
        let Some(b) = self.pending.get_mut(w) else {
            return;
        };
        let start = b.arena.len();
        b.arena.extend_from_slice(seg.payload);
        b.owned.push(OwnedSeg {
            ts,
            src: seg.src,
            dst: seg.dst,
            sport: seg.sport,
            dport: seg.dport,
            seq: seg.seq,
            flags: seg.flags,
            truncated: seg.truncated,
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
        let (recycle_tx, recycle_rx) = bounded::<Batch<'a>>(workers * QUEUE_DEPTH);
        let mut txs = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for i in 0..workers {
            let (tx, rx) = bounded::<Msg<'a>>(QUEUE_DEPTH);
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
        let mut d = Dispatcher {
            pending: (0..workers).map(|_| Batch::default()).collect(),
            txs,
            recycled: recycle_rx,
            counters: Counters::default(),
            queue_drops: 0,
            last_sweep: None,
        };
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
}
