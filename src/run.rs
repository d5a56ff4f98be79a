//! The run layer: one validated [`Plan`] drives a source (savefiles or a live interface)
//! through the engines and the pipeline into the sinks (report, event log, metrics).
//!
//! ```text
//! Plan ─► execute ─► Source::Files ─► replay ─┐  (lossless: a full queue waits)
//!                 └► Source::Live  ─► live ───┤  (lossy: a full queue drops, counted)
//!                                             ▼
//!         engines + pipeline ─► Outcome { census, counters, input, sinks }
//!                                             ▼
//!         report (--output / stdout), event log (--events), metrics (--listen, file)
//! ```
//!
//! Sources only produce packets ([`Savefile::for_each`], [`LiveCapture::capture`]); everything
//! else — workers, progress, the per-connection sinks, the outcome and the sinks at the end —
//! is here, once for both. The flags and their validation live in the binary, which builds
//! the [`Plan`]; the library never sees a flag.
//!
//! A new source: a variant of [`Source`] that opens it in [`execute`] and a driver next to
//! [`replay`] and [`live`] feeding the [`pipeline::Dispatcher`]. A new sink: a field of the
//! [`Plan`], opened in [`execute`], given per worker through `make_sink` (a [`SettleSink`]) and
//! finished after the run.

use crate::capture::file::{FileStats, Savefile, SavefileFormat};
#[cfg(feature = "live")]
use crate::capture::live::{LiveCapture, LiveEvent};
use crate::capture::{InputSummary, LiveConfig};
use crate::engine::{Counters, Engine, EngineConfig, SettleSink};
use crate::events::{Delivery, Dest, EventLog, EventStats, EventsError};
use crate::flow::{ConnSummary, FlowKey};
use crate::metrics::http::MetricsServer;
use crate::metrics::{Metrics, MetricsConfig};
use crate::pipeline;
use crate::pipeline::Part;
use crate::policy::Policy;
use crate::report::{By, Format, Report, ReportOptions};
use crate::state::Durable;
use crate::tally::Census;
use crossbeam_channel::{Receiver, Sender, bounded};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// How often (in packets) the progress callback of a replay is called.
pub const PROGRESS_EVERY: u64 = 4096;

/// Everything a run needs, validated (the binary builds it from the flags).
#[derive(Clone, Debug)]
pub struct Plan {
    /// Where the packets come from.
    pub source: Source,
    /// Engine limits (split over the workers by the pipeline).
    pub engine: EngineConfig,
    /// Worker threads (at most [`pipeline::MAX_WORKERS`]).
    pub workers: NonZeroUsize,
    /// Policy what-ifs, without duplicates, at most [`crate::policy::MAX_POLICIES`].
    pub policies: Vec<Policy>,
    /// The report.
    pub report: ReportPlan,
    /// The event log, if any (standard output only when the report goes to a file).
    pub events: Option<Dest>,
    /// Metrics: kept when served or written (live: always).
    pub metrics: MetricsPlan,
    /// No warnings (and, live, no start line) on standard error; they stay in the report.
    pub quiet: bool,
    /// The durable census: the state file and the snapshot interval.
    pub state: StatePlan,
}

/// `--state` and `--snapshot-interval`.
#[derive(Clone, Debug)]
pub struct StatePlan {
    /// Continue from the census saved here and save to it ([`crate::state`]).
    pub path: Option<PathBuf>,
    /// Nanoseconds between snapshots of the state file (and of live's report file): packet
    /// time in a replay (the same snapshots for the same files), wall time in live (a quiet
    /// link is still saved).
    pub interval_ns: u64,
}

/// Where the packets come from.
#[derive(Clone, Debug)]
pub enum Source {
    /// Capture files (pcap or pcapng), read in order as one capture, losslessly.
    Files(Vec<PathBuf>),
    /// A live interface, until SIGINT or SIGTERM.
    Live(LiveConfig),
}

/// The report: its format and destination.
#[derive(Clone, Debug)]
pub struct ReportPlan {
    /// The format.
    pub format: Format,
    /// A file (created when the run starts writing it), else standard output.
    pub output: Option<PathBuf>,
    /// What the table and CSV rows are keyed by (`--by`).
    pub by: By,
}

/// Metrics: the settings, where they are served and written.
#[derive(Clone, Debug)]
pub struct MetricsPlan {
    /// Per-client series and policies.
    pub config: MetricsConfig,
    /// Serve `/metrics` here.
    pub listen: Option<SocketAddr>,
    /// Serve beyond loopback even as root.
    pub allow_root_listen: bool,
    /// Write the final metrics here (Prometheus text format, atomically).
    pub file: Option<PathBuf>,
    /// Replay: keep serving after the files end, until SIGTERM or SIGINT.
    pub hold: bool,
}

/// How far a replay has come.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// File bytes read so far (estimated from record sizes within a file; exact at file ends).
    pub bytes: u64,
    /// Size of all files.
    pub total_bytes: u64,
    /// Packets read so far.
    pub packets: u64,
    /// ClientHellos of the connections settled so far.
    pub hellos: u64,
}

/// The result of running a source through the pipeline.
#[derive(Debug)]
pub struct Outcome<S> {
    /// The census.
    pub census: Census,
    /// Coverage counters (including `queue_drops`).
    pub counters: Counters,
    /// The part of `counters` counted by the pipeline's dispatcher rather than by the engines
    /// (packets, bytes, decode errors, queue drops); all zero when one worker ran everything
    /// on the calling thread. Engines publish theirs through [`SettleSink::tick`], so
    /// `capture` plus every worker's published counters equals `counters`.
    pub capture: Counters,
    /// What was read: files or interface, packets, warnings (drops, stops).
    pub input: InputSummary,
    /// The per-worker sinks, after the last connection settled.
    pub sinks: Vec<S>,
    /// Live: the capture stopped on a read error (e.g. the interface went away), not on
    /// request.
    pub error: Option<String>,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Bad input: a file that cannot be read or is not a capture, an interface that cannot be
    /// captured on, an address that cannot be served on, privileges that cannot be dropped.
    #[error("{0}")]
    Input(String),
    /// The report, the event log or the metrics file cannot be written.
    #[error("{0}")]
    Output(String),
    /// Live: the capture failed part-way; the census of what was read was written and the
    /// warnings say why.
    #[error("capture stopped: {0}")]
    Capture(String),
}

/// A sink that also counts the hellos of settled connections (for progress).
struct Counted<'h, S> {
    inner: S,
    hellos: &'h AtomicU64,
}

impl<S: SettleSink> SettleSink for Counted<'_, S> {
    fn settled(&mut self, s: &ConnSummary) {
        self.hellos
            .fetch_add(s.hellos.len() as u64, Ordering::Relaxed);
        self.inner.settled(s);
    }

    fn tick(&mut self, counters: &Counters, flows: usize) {
        self.inner.tick(counters, flows);
    }

    fn wants_detail(&self) -> bool {
        self.inner.wants_detail()
    }

    fn bypass(&mut self, key: &FlowKey) {
        self.inner.bypass(key);
    }
}

/// Where the connections the engine reports bypassable go (`live --bypass`: the socket
/// filter's map, [`crate::capture::bypass`]).
pub trait FlowBypass: Sync {
    /// Has the kernel drop the later packets of this connection.
    fn insert(&self, key: &FlowKey);
    /// Its counters so far (the `bypass_*` coverage counters; the others are zero).
    fn counters(&self) -> Counters;
}

#[cfg(feature = "bypass")]
impl FlowBypass for crate::capture::bypass::BypassMaps {
    fn insert(&self, key: &FlowKey) {
        crate::capture::bypass::BypassMaps::insert(self, key);
    }

    fn counters(&self) -> Counters {
        crate::capture::bypass::BypassMaps::counters(self)
    }
}

/// A worker's sink that also hands bypassable connections to the socket filter.
#[cfg(feature = "live")]
struct Bypassing<'b, S> {
    inner: S,
    to: Option<&'b dyn FlowBypass>,
}

#[cfg(feature = "live")]
impl<S: SettleSink> SettleSink for Bypassing<'_, S> {
    fn settled(&mut self, s: &ConnSummary) {
        self.inner.settled(s);
    }

    fn tick(&mut self, counters: &Counters, flows: usize) {
        self.inner.tick(counters, flows);
    }

    fn wants_detail(&self) -> bool {
        self.inner.wants_detail()
    }

    fn bypass(&mut self, key: &FlowKey) {
        if let Some(b) = self.to {
            b.insert(key);
        }
        self.inner.bypass(key);
    }
}

/// Estimates bytes read from packet records (record header and padding included).
struct Reading<'p> {
    progress: &'p mut dyn FnMut(&Progress),
    hellos: &'p AtomicU64,
    state: Progress,
    done_files: u64,
    in_file: u64,
    file_len: u64,
    overhead: u64,
}

impl Reading<'_> {
    fn start_file(&mut self, f: &Savefile) {
        self.in_file = 0;
        self.file_len = f.len() as u64;
        self.overhead = match f.format() {
            SavefileFormat::Pcap => 16,
            SavefileFormat::Pcapng => 32,
        };
    }

    #[inline]
    fn packet(&mut self, len: usize) {
        self.state.packets += 1;
        self.in_file += len as u64 + self.overhead;
        if self.state.packets.is_multiple_of(PROGRESS_EVERY) {
            self.report();
        }
    }

    fn end_file(&mut self) {
        self.done_files += self.file_len;
        self.in_file = 0;
        self.file_len = 0;
        self.report();
    }

    fn report(&mut self) {
        self.state.bytes = self.done_files + self.in_file.min(self.file_len);
        self.state.hellos = self.hellos.load(Ordering::Relaxed);
        (self.progress)(&self.state);
    }
}

/// Snapshots of a replay: every `interval_ns` of packet time, `save` gets the census, the
/// counters and the input so far (on the reading thread, which waits: a replay is lossless).
pub struct ReplaySnapshots<'s> {
    /// Packet time between snapshots (ns).
    pub interval_ns: u64,
    /// Receives each snapshot.
    pub save: &'s mut dyn FnMut(&Census, &Counters, &InputSummary),
}

/// When the next snapshot is due, by the clock given (packet time or wall time).
#[derive(Debug)]
struct Due {
    interval_ns: u64,
    last: Option<u64>,
}

impl Due {
    fn new(interval_ns: u64) -> Self {
        Due {
            interval_ns: interval_ns.max(1),
            last: None,
        }
    }

    /// True when `interval_ns` has passed since the last snapshot (the first call starts the
    /// clock).
    fn check(&mut self, now: u64) -> bool {
        match self.last {
            None => {
                self.last = Some(now);
                false
            }
            Some(l) if now.saturating_sub(l) >= self.interval_ns => {
                self.last = Some(now);
                true
            }
            Some(_) => false,
        }
    }
}

/// Adds a file's statistics to the input so far.
fn note_file(input: &mut InputSummary, f: &Savefile, st: FileStats) {
    let name = f.path().display().to_string();
    input.packets += st.packets;
    input.bytes += st.bytes;
    input
        .warnings
        .extend(st.warnings.into_iter().map(|w| format!("{name}: {w}")));
    input.files.push(name);
}

/// The input of a snapshot taken inside a file: the files done, the current one, the packets
/// and bytes read so far.
fn input_so_far(done: &InputSummary, current: &Savefile, packets: u64, bytes: u64) -> InputSummary {
    let mut i = done.clone();
    i.files.push(current.path().display().to_string());
    i.packets = i.packets.saturating_add(packets);
    i.bytes = i.bytes.saturating_add(bytes);
    i
}

/// Replays the files in order as one capture, calling `progress` every [`PROGRESS_EVERY`]
/// packets and at the end of each file, on the reading thread. `workers == 1` runs on the
/// calling thread; more runs the dispatcher here and the engines on worker threads. The census
/// does not depend on the number of workers, nor do the snapshots.
pub fn replay<S: SettleSink + Send>(
    files: &[Savefile],
    cfg: EngineConfig,
    workers: usize,
    make_sink: impl Fn(usize) -> S + Sync,
    progress: &mut dyn FnMut(&Progress),
    mut snapshots: Option<ReplaySnapshots<'_>>,
) -> Outcome<S> {
    let hellos = AtomicU64::new(0);
    let mut reading = Reading {
        progress,
        hellos: &hellos,
        state: Progress {
            total_bytes: files.iter().map(|f| f.len() as u64).sum(),
            ..Progress::default()
        },
        done_files: 0,
        in_file: 0,
        file_len: 0,
        overhead: 0,
    };
    let make_sink = |i| Counted {
        inner: make_sink(i),
        hellos: &hellos,
    };
    let mut input = InputSummary::default();
    let mut due = Due::new(snapshots.as_ref().map_or(u64::MAX, |s| s.interval_ns));
    if workers <= 1 {
        let mut engine = Engine::new(cfg);
        let mut sink = make_sink(0);
        for f in files {
            reading.start_file(f);
            let (mut packets, mut bytes) = (0u64, 0u64);
            let st = f.for_each(|p| {
                engine.packet(p.ts_ns, p.link, p.data, &mut sink);
                reading.packet(p.data.len());
                input.since = crate::report::time::earliest(input.since, Some(p.ts_ns));
                packets += 1;
                bytes += p.data.len() as u64;
                if let Some(s) = snapshots.as_mut().filter(|_| due.check(p.ts_ns)) {
                    let so_far = input_so_far(&input, f, packets, bytes);
                    (s.save)(engine.census(), engine.counters(), &so_far);
                }
            });
            note_file(&mut input, f, st);
            reading.end_file();
        }
        engine.finish(&mut sink);
        sink.tick(engine.counters(), engine.flows());
        reading.report();
        let (census, counters) = engine.into_parts();
        return Outcome {
            census,
            counters,
            capture: Counters::default(),
            input,
            sinks: vec![sink.inner],
            error: None,
        };
    }
    let mut capture = Counters::default();
    let (census, counters, sinks) =
        pipeline::run(cfg, workers, pipeline::REPLAY_QUEUE_DEPTH, make_sink, |d| {
            for f in files {
                reading.start_file(f);
                let (mut packets, mut bytes) = (0u64, 0u64);
                let st = f.for_each(|p| {
                    d.send_blocking(p.ts_ns, p.link, p.data);
                    reading.packet(p.data.len());
                    input.since = crate::report::time::earliest(input.since, Some(p.ts_ns));
                    packets += 1;
                    bytes += p.data.len() as u64;
                    if let Some(s) = snapshots.as_mut().filter(|_| due.check(p.ts_ns)) {
                        // In order with the packets: the same snapshot as one engine's.
                        let (tx, rx) = bounded(d.workers());
                        d.snapshot(&tx, true);
                        drop(tx);
                        let parts: Vec<Part> = rx.iter().collect();
                        let mut here = d.counters.clone();
                        here.queue_drops += d.queue_drops;
                        let (c, k) = crate::state::gather(&parts, &here, cfg.max_clients);
                        let so_far = input_so_far(&input, f, packets, bytes);
                        (s.save)(&c, &k, &so_far);
                    }
                });
                note_file(&mut input, f, st);
                reading.end_file();
            }
            capture = d.counters.clone();
            capture.queue_drops += d.queue_drops;
        });
    reading.report();
    Outcome {
        census,
        counters,
        capture,
        input,
        sinks: sinks.into_iter().map(|s| s.inner).collect(),
        error: None,
    }
}

/// Captures until `stop` is set (or a read error), through `workers` worker threads, and
/// returns the census of everything read. A full worker queue drops the batch (counted), the
/// capture thread never waits. About every [`crate::capture::live::TICK_INTERVAL`],
/// `on_tick` gets the wall clock, libpcap's statistics and the dispatcher's counters so far
/// (packets and bytes read, packets not decoded, queue drops), on a capture thread, and
/// whether every capture thread has ticked since the last time it said so (a [`Heartbeat`]:
/// the systemd watchdog is fed only then, so one stuck capture thread is noticed).
///
/// More than one handle (a fanout group, `--capture-threads`): each is read by its own
/// capture thread with its own workers (`workers` split evenly, at least one each) and its
/// share of the engine limits; their censuses and counters are merged at the end, and the
/// statistics summed (the interface's own drops, which every handle reports, counted once).
/// A snapshot then gathers one request of every capture thread (each asks its own workers
/// at its own tick, so the parts can be up to a tick apart).
#[cfg(feature = "live")]
#[allow(clippy::too_many_arguments)] // each is one independent part of the run (sources, limits, sinks, hooks)
pub fn live<S: SettleSink + Send>(
    caps: Vec<LiveCapture>,
    cfg: EngineConfig,
    workers: usize,
    stop: &std::sync::atomic::AtomicBool,
    make_sink: impl Fn(usize) -> S + Sync,
    on_tick: impl Fn(u64, &crate::capture::CaptureStats, &Counters, bool) + Sync,
    snapshots: Option<LiveSnapshots>,
    bypass: Option<&dyn FlowBypass>,
) -> Outcome<S> {
    use crate::capture::CaptureStats;
    use std::sync::Mutex;

    let make_sink = |i| Bypassing {
        inner: make_sink(i),
        to: bypass,
    };

    let n = caps.len().max(1);
    let mut part = cfg;
    part.max_flows = (cfg.max_flows / n).max(1);
    part.max_buffered = cfg.max_buffered / n;
    // Each capture thread's latest statistics and dispatcher counters, summed for `on_tick`.
    let latest = Mutex::new(vec![(CaptureStats::default(), Counters::default()); n]);
    let heartbeat = Mutex::new(Heartbeat::new(n));
    let tick = |k: usize, now_ns: u64, stats: &CaptureStats, c: &Counters| {
        let alive = heartbeat.lock().is_ok_and(|mut h| h.beat(k));
        let Ok(mut all) = latest.lock() else {
            return;
        };
        if let Some(slot) = all.get_mut(k) {
            *slot = (stats.clone(), c.clone());
        }
        let stats = sum_stats(all.iter().map(|(s, _)| s));
        let mut counters = Counters::default();
        for (_, c) in all.iter() {
            counters.merge(c);
        }
        drop(all);
        if let Some(b) = bypass {
            counters.merge(&b.counters());
        }
        on_tick(now_ns, &stats, &counters, alive);
    };
    let mut offset = 0;
    let mut plans = Vec::with_capacity(n);
    for (k, cap) in caps.into_iter().enumerate() {
        let w = (workers / n + usize::from(k < workers % n)).max(1);
        plans.push((k, cap, w, offset));
        offset += w;
    }
    let runs: Vec<LiveRun<Bypassing<'_, S>>> = if n == 1 {
        let mut snapshots = snapshots;
        plans
            .into_iter()
            .map(|(k, cap, w, off)| {
                let on_tick = |t, s: &CaptureStats, c: &Counters| tick(k, t, s, c);
                let snaps = snapshots.take();
                live_one(cap, part, w, stop, |i| make_sink(off + i), on_tick, snaps)
            })
            .collect()
    } else {
        // Per capture thread a snapshot queue; a combiner thread hands the writer one job
        // made of one request of each.
        let (per_thread, combine): (Vec<_>, Vec<_>) = (0..n)
            .map(|_| {
                let (tx, rx) = bounded::<SnapshotJob>(1);
                let s = snapshots.as_ref().map(|s| LiveSnapshots {
                    interval_ns: s.interval_ns,
                    now: std::sync::Arc::clone(&s.now),
                    jobs: tx,
                });
                (s, rx)
            })
            .unzip();
        std::thread::scope(|scope| {
            if let Some(out) = snapshots {
                scope.spawn(move || combine_snapshots(&combine, &out));
            }
            let handles: Vec<_> = plans
                .into_iter()
                .zip(per_thread)
                .map(|((k, cap, w, off), snaps)| {
                    let (make_sink, tick) = (&make_sink, &tick);
                    scope.spawn(move || {
                        let on_tick = |t, s: &CaptureStats, c: &Counters| tick(k, t, s, c);
                        live_one(cap, part, w, stop, |i| make_sink(off + i), on_tick, snaps)
                    })
                })
                .collect();
            // A capture thread that panicked is a bug; its census is lost, the others kept.
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        })
    };
    let mut census = Census::new(cfg.max_clients);
    let mut counters = Counters::default();
    let mut capture = Counters::default();
    let mut sinks = Vec::with_capacity(workers);
    let mut error = None;
    let mut since: Option<u64> = None;
    let mut stats = Vec::with_capacity(n);
    for r in runs {
        census.merge(&r.census);
        counters.merge(&r.counters);
        capture.merge(&r.capture);
        sinks.extend(r.sinks.into_iter().map(|b| b.inner));
        error = error.or(r.error);
        since = match (since, r.since) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        stats.push(r.stats);
    }
    if let Some(b) = bypass {
        counters.merge(&b.counters());
    }
    let s = sum_stats(stats.iter());
    let mut input = InputSummary {
        since,
        packets: counters.packets,
        bytes: counters.bytes,
        ..InputSummary::default()
    };
    let missed = s
        .dropped
        .saturating_add(s.if_dropped)
        .saturating_add(counters.queue_drops);
    if missed > 0 {
        input.warnings.push(format!(
            "{}: {missed} packets were not analysed (kernel buffer full: {}, interface: {}, \
             hellowatch queues full: {}); the census is incomplete",
            s.interface, s.dropped, s.if_dropped, counters.queue_drops
        ));
    }
    if let Some(e) = &error {
        input
            .warnings
            .push(format!("{}: capture stopped: {e}", s.interface));
    }
    input.capture = Some(s);
    Outcome {
        census,
        counters,
        capture,
        input,
        sinks,
        error,
    }
}

/// Whether every one of `n` capture threads has ticked since the last time all had: the
/// capture as a whole makes progress. A thread stuck in its loop (no tick) holds it back
/// however often the others tick.
#[derive(Debug)]
pub struct Heartbeat {
    ticked: Vec<bool>,
}

impl Heartbeat {
    /// For `n` capture threads (at least one).
    pub fn new(n: usize) -> Self {
        Heartbeat {
            ticked: vec![false; n.max(1)],
        }
    }

    /// Capture thread `k` ticked: true when that completes a round of every thread (and a new
    /// round begins).
    pub fn beat(&mut self, k: usize) -> bool {
        if let Some(t) = self.ticked.get_mut(k) {
            *t = true;
        }
        let all = self.ticked.iter().all(|t| *t);
        if all {
            self.ticked.iter_mut().for_each(|t| *t = false);
        }
        all
    }
}

/// What one capture thread read.
#[cfg(feature = "live")]
struct LiveRun<S> {
    census: Census,
    counters: Counters,
    capture: Counters,
    sinks: Vec<S>,
    stats: crate::capture::CaptureStats,
    since: Option<u64>,
    error: Option<String>,
}

/// One handle through its own pipeline, on the calling thread. A read error stops the other
/// capture threads too (through `stop`): the census of what was read is written.
#[cfg(feature = "live")]
fn live_one<S: SettleSink + Send>(
    mut cap: LiveCapture,
    cfg: EngineConfig,
    workers: usize,
    stop: &std::sync::atomic::AtomicBool,
    make_sink: impl Fn(usize) -> S + Sync,
    on_tick: impl Fn(u64, &crate::capture::CaptureStats, &Counters),
    snapshots: Option<LiveSnapshots>,
) -> LiveRun<S> {
    let mut error = None;
    let mut capture = Counters::default();
    let mut since = None;
    let mut due = Due::new(snapshots.as_ref().map_or(u64::MAX, |s| s.interval_ns));
    let (census, counters, sinks) =
        pipeline::run(cfg, workers, pipeline::QUEUE_DEPTH, make_sink, |d| {
            error = cap.capture(stop, |ev| match ev {
                LiveEvent::Packet(p) => {
                    if since.is_none() {
                        since = Some(p.ts_ns);
                    }
                    d.try_send(p.ts_ns, p.link, p.data);
                }
                LiveEvent::Idle => d.flush(false),
                LiveEvent::Tick { now_ns, stats } => {
                    d.flush(false);
                    d.tick(now_ns);
                    let mut c = d.counters.clone();
                    c.queue_drops = d.queue_drops;
                    if let Some(s) = &snapshots {
                        let asked = s.now.swap(false, Ordering::Relaxed);
                        if due.check(now_ns) || asked {
                            s.request(d, &c, stats, since);
                        }
                    }
                    on_tick(now_ns, stats, &c);
                }
            });
            capture = d.counters.clone();
            capture.queue_drops += d.queue_drops;
        });
    drop(snapshots); // the snapshot writer ends with its queue
    if error.is_some() {
        stop.store(true, Ordering::Relaxed);
    }
    LiveRun {
        census,
        counters,
        capture,
        sinks,
        stats: cap.stats().clone(),
        since,
        error,
    }
}

/// The combiner of a fanout group's snapshots: takes one job of each capture thread (in
/// order; it ends when one of them has stopped), gathers their workers' parts and hands the
/// writer one job of all of them.
#[cfg(feature = "live")]
fn combine_snapshots(per_thread: &[Receiver<SnapshotJob>], out: &LiveSnapshots) {
    loop {
        let mut parts = Vec::new();
        let mut capture = Counters::default();
        let mut stats = Vec::with_capacity(per_thread.len());
        let mut input = InputSummary::default();
        for rx in per_thread {
            let Ok(job) = rx.recv() else {
                return;
            };
            parts.extend(job.parts.iter().take(job.workers));
            capture.merge(&job.capture);
            input.since = match (input.since, job.input.since) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            input.packets = input.packets.saturating_add(job.input.packets);
            input.bytes = input.bytes.saturating_add(job.input.bytes);
            stats.extend(job.input.capture);
        }
        input.capture = Some(sum_stats(stats.iter()));
        let (tx, rx) = bounded(parts.len().max(1));
        let workers = parts.len();
        for p in parts {
            let _ = tx.send(p);
        }
        let job = SnapshotJob {
            parts: rx,
            workers,
            capture,
            input,
        };
        if out.jobs.send(job).is_err() {
            return;
        }
    }
}

/// The statistics of a capture's handles summed (received and kernel drops: each handle's
/// own), the interface's drops counted once (every handle reports the same interface).
#[cfg(feature = "live")]
fn sum_stats<'a>(
    parts: impl Iterator<Item = &'a crate::capture::CaptureStats>,
) -> crate::capture::CaptureStats {
    let mut total = crate::capture::CaptureStats::default();
    for s in parts {
        if total.interface.is_empty() {
            total.interface.clone_from(&s.interface);
            total.link_type.clone_from(&s.link_type);
        }
        total.received = total.received.saturating_add(s.received);
        total.dropped = total.dropped.saturating_add(s.dropped);
        total.if_dropped = total.if_dropped.max(s.if_dropped);
    }
    total
}

/// Live snapshots: every `interval_ns` of wall time the capture thread asks the workers for
/// their census (never waiting: with a full queue the snapshot is tried again at the next
/// tick) and hands a [`SnapshotJob`] to a writer thread, which gathers the answers and saves
/// them; while it is still busy with the previous one, the snapshot is skipped.
#[derive(Debug)]
pub struct LiveSnapshots {
    /// Wall time between snapshots (ns).
    pub interval_ns: u64,
    /// Set (by SIGHUP): take a snapshot at the next tick, whatever the interval.
    pub now: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// The writer's queue.
    pub jobs: Sender<SnapshotJob>,
}

/// One live snapshot on its way to the writer.
#[derive(Debug)]
pub struct SnapshotJob {
    /// The workers' answers.
    pub parts: Receiver<Part>,
    /// How many.
    pub workers: usize,
    /// The dispatcher's counters at the request.
    pub capture: Counters,
    /// The input at the request.
    pub input: InputSummary,
}

impl SnapshotJob {
    /// Waits for every worker's part: the census and counters of the snapshot.
    pub fn gather(self, max_clients: usize) -> (Census, Counters, InputSummary) {
        let parts: Vec<Part> = self.parts.iter().take(self.workers).collect();
        let (c, k) = crate::state::gather(&parts, &self.capture, max_clients);
        (c, k, self.input)
    }
}

#[cfg(feature = "live")]
impl LiveSnapshots {
    fn request(
        &self,
        d: &mut pipeline::Dispatcher<'_>,
        counters: &Counters,
        stats: &crate::capture::CaptureStats,
        since: Option<u64>,
    ) {
        if self.jobs.is_full() {
            return;
        }
        let (tx, parts) = bounded(d.workers());
        if !d.snapshot(&tx, false) {
            return;
        }
        let input = InputSummary {
            since,
            packets: counters.packets,
            bytes: counters.bytes,
            capture: Some(stats.clone()),
            ..InputSummary::default()
        };
        let _ = self.jobs.try_send(SnapshotJob {
            parts,
            workers: d.workers(),
            capture: counters.clone(),
            input,
        });
    }
}

/// Why a metrics listener address is refused for the current user: beyond loopback as root,
/// unless allowed.
pub fn check_listen(
    addr: SocketAddr,
    euid_is_root: bool,
    allow_root_listen: bool,
) -> Result<(), String> {
    if euid_is_root && !addr.ip().is_loopback() && !allow_root_listen {
        return Err(format!(
            "refusing to serve metrics on {addr} as root: use a loopback address, drop privileges \
             (live --user NAME, or the systemd unit's capabilities), or pass --allow-root-listen"
        ));
    }
    Ok(())
}

/// Starts the metrics server on `addr`, refusing a non-loopback address as root unless allowed.
fn serve(addr: SocketAddr, allow_root: bool, metrics: &Metrics) -> Result<MetricsServer, RunError> {
    check_listen(addr, nix::unistd::Uid::effective().is_root(), allow_root)
        .map_err(RunError::Input)?;
    MetricsServer::start(addr, metrics.clone()).map_err(|e| RunError::Input(e.to_string()))
}

/// Where the report goes: the file (created now) or standard output.
pub fn open_output(plan: &ReportPlan) -> Result<Box<dyn Write>, RunError> {
    Ok(match &plan.output {
        Some(p) => Box::new(io::BufWriter::new(std::fs::File::create(p).map_err(
            |e| RunError::Output(format!("cannot write {}: {e}", p.display())),
        )?)),
        None => Box::new(io::BufWriter::new(io::stdout().lock())),
    })
}

/// Writes the report. A reader that went away (a broken pipe, e.g. `| head`) is not an error.
pub fn write_report(
    sink: &mut dyn Write,
    plan: &ReportPlan,
    report: &Report,
) -> Result<(), RunError> {
    let mut sink = sink;
    let done = report
        .write_by(&mut sink, plan.format, plan.by)
        .map_err(|e| (e, ""))
        .and_then(|()| sink.flush().map_err(|e| (e, "cannot write the report: ")));
    match done {
        Ok(()) => Ok(()),
        Err((e, _)) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err((e, what)) => Err(RunError::Output(format!("{what}{e}"))),
    }
}

/// Waits for the event writer; a reader of standard output that went away is not an error
/// (no counts then).
fn finish_events(events: Option<EventLog>) -> Result<Option<EventStats>, RunError> {
    match events.map(EventLog::finish).transpose() {
        Err(EventsError::Write { source, .. }) if source.kind() == io::ErrorKind::BrokenPipe => {
            Ok(None)
        }
        r => r.map_err(|e| RunError::Output(e.to_string())),
    }
}

/// Runs the plan: opens the source and the sinks, runs, writes the report, the event log and
/// the metrics file. `progress` is called while files are read (see [`replay`]).
pub fn execute(plan: &Plan, progress: &mut dyn FnMut(&Progress)) -> Result<(), RunError> {
    match &plan.source {
        Source::Files(paths) => execute_replay(plan, paths, progress),
        #[cfg(feature = "live")]
        Source::Live(cfg) => execute_live(plan, cfg),
        #[cfg(not(feature = "live"))]
        Source::Live(_) => Err(RunError::Input(
            "live capture is not in this build; rebuild with --features live (needs libpcap-dev)"
                .into(),
        )),
    }
}

fn execute_replay(
    plan: &Plan,
    paths: &[PathBuf],
    progress: &mut dyn FnMut(&Progress),
) -> Result<(), RunError> {
    // Every file is opened first, so a bad argument fails before anything is counted.
    let files = paths
        .iter()
        .map(|p| Savefile::open(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| RunError::Input(e.to_string()))?;
    let durable = open_state(plan, None)?;
    let m = &plan.metrics;
    let metrics = (m.listen.is_some() || m.file.is_some()).then(|| Metrics::new(m.config));
    let events = plan
        .events
        .as_ref()
        .map(|d| EventLog::open(d, Delivery::Lossless, &plan.policies))
        .transpose()
        .map_err(|e| RunError::Output(e.to_string()))?;
    // Listen before replaying, so a long replay can be watched.
    let server = match (&metrics, m.listen) {
        (Some(metrics), Some(addr)) => Some(serve(addr, m.allow_root_listen, metrics)?),
        _ => None,
    };
    let mut failed_snapshot = None;
    let mut save = |c: &Census, k: &Counters, i: &InputSummary| {
        if failed_snapshot.is_none() {
            failed_snapshot = durable.save(&durable.report(c, k, i)).err();
        }
    };
    let snapshots = durable.snapshots().then_some(ReplaySnapshots {
        interval_ns: plan.state.interval_ns,
        save: &mut save,
    });
    let out = replay(
        &files,
        plan.engine,
        plan.workers.get(),
        |i| {
            (
                metrics.as_ref().map(|m| m.sink(i)),
                events.as_ref().map(EventLog::sink),
            )
        },
        progress,
        snapshots,
    );
    if let Some(e) = failed_snapshot {
        return Err(RunError::Output(e));
    }
    if let Some(m) = &metrics {
        m.publish_capture(&out.capture, None);
    }
    let Outcome {
        census,
        counters,
        input,
        sinks,
        ..
    } = out;
    drop(sinks); // hands the last event lines to the writer
    let events_done = finish_events(events);
    if !plan.quiet {
        for w in &input.warnings {
            eprintln!("hellowatch: warning: {w}");
        }
    }
    let report = durable.report(&census, &counters, &input);
    let done = durable
        .save(&report)
        .map_err(RunError::Output)
        .and_then(|()| open_output(&plan.report))
        .and_then(|mut sink| write_report(&mut sink, &plan.report, &report));
    let done = done.and_then(|()| match (&metrics, &m.file) {
        (Some(metrics), Some(path)) => metrics
            .write_textfile(path)
            .map_err(|e| RunError::Output(e.to_string())),
        _ => Ok(()),
    });
    events_done?;
    done?;
    if let Some(s) = server {
        if m.hold {
            hold(&s)?;
        }
        s.stop();
    }
    Ok(())
}

/// Opens the durable census of a plan (`live_output`: live's report file, rewritten at every
/// snapshot); a corrupt state file set aside is warned about now (and in the report).
fn open_state(plan: &Plan, live_output: Option<PathBuf>) -> Result<Durable, RunError> {
    let opts = ReportOptions {
        policies: plan.policies.clone(),
    };
    let output = live_output.map(|p| (p, plan.report.format));
    let d = Durable::open(
        plan.state.path.as_deref(),
        output,
        opts,
        plan.engine.max_clients,
    )
    .map_err(|e| RunError::Input(e.to_string()))?;
    if !plan.quiet {
        for w in &d.warnings {
            eprintln!("hellowatch: warning: {w}");
        }
    }
    Ok(d)
}

/// `--hold`: keeps the metrics server up until SIGTERM or SIGINT.
fn hold(server: &MetricsServer) -> Result<(), RunError> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])
        .map_err(|e| RunError::Output(format!("cannot install signal handlers: {e}")))?;
    eprintln!(
        "hellowatch: replay done; serving http://{}/metrics until SIGTERM or SIGINT",
        server.local_addr()
    );
    signals.forever().next();
    Ok(())
}

/// Tells the service manager (systemd, `Type=notify`: `$NOTIFY_SOCKET`) about `states`;
/// nothing without `$NOTIFY_SOCKET`. A failure to send is not an error of the capture: a
/// watchdog left unfed makes systemd act, which is the point.
#[cfg(feature = "live")]
fn service_notify(states: &[sd_notify::NotifyState<'_>]) {
    let _ = sd_notify::notify(false, states);
}

/// Exit status of a second SIGINT/SIGTERM while the first one is being handled.
#[cfg(feature = "live")]
const EXIT_INTERRUPTED: i32 = 130;

#[cfg(feature = "live")]
fn execute_live(plan: &Plan, lcfg: &LiveConfig) -> Result<(), RunError> {
    use crate::metrics::PcapStats;
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    let m = &plan.metrics;
    let metrics = Metrics::new(m.config);
    // SIGHUP (logrotate, `systemctl reload`): the event log is reopened and the report and
    // state files are written at the next tick. Without either it is ignored.
    let (hup_events, hup_output) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    for flag in [&hup_events, &hup_output] {
        signal_hook::flag::register(SIGHUP, Arc::clone(flag))
            .map_err(|e| RunError::Input(format!("cannot handle signals: {e}")))?;
    }
    let caps = LiveCapture::open(lcfg).map_err(|e| RunError::Input(e.to_string()))?;
    // The socket filter is loaded while still privileged (the maps are then used through
    // their file descriptors).
    // The program parses Ethernet frames (what a packet socket on an Ethernet interface
    // sees); elsewhere (`-i any`, raw IP, PPP, ...) it would read the wrong bytes.
    if lcfg.bypass {
        if let Some(c) = caps
            .iter()
            .find(|c| c.link() != crate::wire::LinkType::Ethernet)
        {
            let (iface, link) = c.describe();
            return Err(RunError::Input(format!(
                "--bypass needs an Ethernet interface; {iface} has link type {link}"
            )));
        }
    }
    #[cfg(feature = "bypass")]
    let bypass = lcfg
        .bypass
        .then(|| {
            let mut b =
                crate::capture::bypass::Bypass::load(crate::capture::bypass::DEFAULT_ENTRIES)?;
            for c in &caps {
                b.attach(c)?;
            }
            Ok::<_, crate::capture::bypass::BypassError>(b)
        })
        .transpose()
        .map_err(|e| RunError::Input(e.to_string()))?;
    #[cfg(not(feature = "bypass"))]
    if lcfg.bypass {
        return Err(RunError::Input(
            "--bypass is not in this build; rebuild with --features bypass (needs clang and \
             libbpf-dev)"
                .into(),
        ));
    }
    // The state file is read, and the listener set up, before capturing, so a bad file or
    // address fails now, not after weeks of capture; the report and state files are first
    // written right after the privilege drop (as the user that rewrites them at every
    // snapshot). The root check counts the planned privilege drop: after `--user` the
    // listener thread no longer runs as root (setuid applies to every thread). A report on
    // standard output is written once, at the end.
    let durable = open_state(plan, plan.report.output.clone())?;
    let mut stdout = match plan.report.output {
        Some(_) => None,
        None => Some(open_output(&plan.report)?),
    };
    // Live never waits for the disk: lines the writer cannot take are dropped and counted.
    let events = plan
        .events
        .as_ref()
        .map(|d| EventLog::open_live(d, &plan.policies, Arc::clone(&hup_events)))
        .transpose()
        .map_err(|e| RunError::Output(e.to_string()))?;
    let allow_root = m.allow_root_listen || lcfg.user.is_some();
    let server = m
        .listen
        .map(|addr| serve(addr, allow_root, &metrics))
        .transpose()?;
    if let Some(user) = &lcfg.user {
        crate::capture::live::drop_privileges(user).map_err(|e| RunError::Input(e.to_string()))?;
    }
    if durable.snapshots() {
        let empty = InputSummary::default();
        durable
            .save(&durable.report(&Census::new(1), &Counters::default(), &empty))
            .map_err(RunError::Output)?;
    }
    // First signal: stop gracefully. A second one while stopping: exit at once.
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(sig, EXIT_INTERRUPTED, Arc::clone(&stop))
            .and_then(|_| signal_hook::flag::register(sig, Arc::clone(&stop)))
            .map_err(|e| RunError::Input(format!("cannot handle signals: {e}")))?;
    }
    let workers = plan.workers.get();
    let (iface, link) = caps.first().map_or(("", ""), LiveCapture::describe);
    let threads = match caps.len() {
        1 => String::new(),
        n => format!(", {n} capture threads"),
    };
    if !plan.quiet {
        eprintln!(
            "hellowatch: capturing on {iface} (link type {link}, snaplen {}, buffer {} bytes, \
             {workers} worker(s){threads}){}; SIGINT or SIGTERM stops and writes the census",
            lcfg.snaplen,
            lcfg.buffer_size,
            server
                .as_ref()
                .map(|s| format!(", metrics on http://{}/metrics", s.local_addr()))
                .unwrap_or_default()
        );
    }
    // systemd (Type=notify): ready now that the capture is open, privileges dropped and the
    // files written; the watchdog is fed from the capture loop's ticks below.
    service_notify(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status(&format!("capturing on {iface}")),
    ]);
    let publish =
        |now_ns: u64, stats: &crate::capture::CaptureStats, counters: &Counters, alive: bool| {
            let pcap = PcapStats {
                received: stats.received,
                dropped: stats.dropped,
                if_dropped: stats.if_dropped,
            };
            metrics.publish_capture(counters, Some(pcap));
            metrics.advance(now_ns);
            if alive {
                service_notify(&[sd_notify::NotifyState::Watchdog]);
            }
        };
    let max_clients = plan.engine.max_clients;
    let (jobs, todo) = bounded::<SnapshotJob>(1);
    let snapshots = durable.snapshots().then_some(LiveSnapshots {
        interval_ns: plan.state.interval_ns,
        now: hup_output,
        jobs,
    });
    #[cfg(feature = "bypass")]
    let bypass_maps = bypass.as_ref().map(|b| b.maps() as &dyn FlowBypass);
    #[cfg(not(feature = "bypass"))]
    let bypass_maps: Option<&dyn FlowBypass> = None;
    let out = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let mut failing = false;
            for job in todo {
                let (c, mut k, i) = job.gather(max_clients);
                if let Some(b) = bypass_maps {
                    k.merge(&b.counters());
                }
                match durable.save(&durable.report(&c, &k, &i)) {
                    Ok(()) => failing = false,
                    Err(e) if !failing => {
                        failing = true;
                        if !plan.quiet {
                            eprintln!("hellowatch: warning: snapshot: {e}");
                        }
                    }
                    Err(_) => {}
                }
            }
        });
        let out = live(
            caps,
            plan.engine,
            workers,
            &stop,
            |i| (metrics.sink(i), events.as_ref().map(EventLog::sink)),
            publish,
            snapshots,
            bypass_maps,
        );
        let _ = writer.join();
        out
    });
    // The capture has stopped; what is left is writing the census.
    service_notify(&[
        sd_notify::NotifyState::Stopping,
        sd_notify::NotifyState::Status("writing the census"),
    ]);
    let Outcome {
        census,
        counters,
        mut input,
        sinks,
        error,
        ..
    } = out;
    drop(sinks); // hands the last event lines to the writer
    let events_done = finish_events(events);
    if let Ok(Some(st)) = &events_done {
        if st.dropped() > 0 {
            input.warnings.push(format!(
                "event log: {} of {} lines dropped (the writer could not keep up)",
                st.dropped(),
                st.dropped() + st.written()
            ));
        }
    }
    if !plan.quiet {
        for w in &input.warnings {
            eprintln!("hellowatch: warning: {w}");
        }
    }
    let report = durable.report(&census, &counters, &input);
    let mut written = durable.save(&report).map_err(RunError::Output);
    if let (Ok(()), Some(sink)) = (&written, stdout.as_mut()) {
        written = write_report(sink, &plan.report, &report);
    }
    if let (Ok(()), Some(path)) = (&written, &m.file) {
        written = metrics
            .write_textfile(path)
            .map_err(|e| RunError::Output(e.to_string()));
    }
    if let Some(s) = server {
        s.stop();
    }
    events_done?;
    written?;
    match error {
        Some(e) => Err(RunError::Capture(e)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::{Heartbeat, check_listen};

    #[test]
    fn heartbeat_waits_for_every_capture_thread() {
        let mut one = Heartbeat::new(1);
        assert!(one.beat(0) && one.beat(0), "one thread: every tick");
        let mut two = Heartbeat::new(2);
        // Thread 1 is stuck: thread 0's ticks alone never feed the watchdog.
        assert!(!two.beat(0));
        assert!(!two.beat(0));
        assert!(!two.beat(0));
        assert!(two.beat(1), "the round is complete");
        assert!(!two.beat(1), "a new round begins");
        assert!(two.beat(0));
        let mut zero = Heartbeat::new(0);
        assert!(zero.beat(0), "no thread counts as one");
    }

    #[test]
    fn root_may_not_listen_beyond_loopback_unless_allowed() {
        let lo = "127.0.0.1:12451".parse().unwrap();
        let lo6 = "[::1]:12451".parse().unwrap();
        let all = "0.0.0.0:12451".parse().unwrap();
        assert!(check_listen(lo, true, false).is_ok());
        assert!(check_listen(lo6, true, false).is_ok());
        assert!(check_listen(all, false, false).is_ok(), "not root");
        assert!(check_listen(all, true, true).is_ok(), "--allow-root-listen");
        let e = check_listen(all, true, false).unwrap_err();
        assert!(e.contains("--allow-root-listen"), "{e}");
    }
}
