//! Replay: savefiles through the pipeline, lossless, into one census.

use crate::capture::CaptureError;
use crate::capture::file::{Format, Savefile};
use crate::engine::{Counters, Engine, EngineConfig, SettleSink};
use crate::pipeline;
use crate::tally::{Census, ConnSummary};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// How often (in packets) the progress callback of [`replay_with_progress`] is called.
pub const PROGRESS_EVERY: u64 = 4096;

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
            Format::Pcap => 16,
            Format::Pcapng => 32,
        };
    }

    #[inline]
    fn packet(&mut self, len: usize) {
        self.state.packets += 1;
        self.in_file += len as u64 + self.overhead;
        if self.state.packets % PROGRESS_EVERY == 0 {
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

/// What was read (the report's `"input"` section).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct InputSummary {
    /// The files, in order.
    pub files: Vec<String>,
    /// Packet records read.
    pub packets: u64,
    /// Captured bytes read.
    pub bytes: u64,
    /// Problems met, each prefixed with its file (or interface).
    pub warnings: Vec<String>,
    /// Live capture only: the interface and libpcap's packet statistics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture: Option<crate::capture::CaptureStats>,
}

/// The result of a replay.
#[derive(Debug)]
pub struct Outcome<S> {
    /// The census.
    pub census: Census,
    /// Coverage counters.
    pub counters: Counters,
    /// The part of `counters` counted by the pipeline's dispatcher rather than by the engines
    /// (packets, bytes, decode errors, queue drops); all zero when one worker ran everything
    /// on the calling thread. Engines publish theirs through [`SettleSink::tick`], so
    /// `capture` plus every worker's published counters equals `counters`.
    pub capture: Counters,
    /// Input summary.
    pub input: InputSummary,
    /// The per-worker sinks, after the last connection settled.
    pub sinks: Vec<S>,
}

/// Opens every file first (so a bad argument fails before anything is counted).
pub fn open_all(paths: &[PathBuf]) -> Result<Vec<Savefile>, CaptureError> {
    paths.iter().map(|p| Savefile::open(p)).collect()
}

/// Replays the files in order as one capture. `workers == 1` runs on the calling thread;
/// more runs the dispatcher here and the engines on worker threads. The census does not
/// depend on the number of workers.
pub fn replay<S: SettleSink + Send>(
    files: &[Savefile],
    cfg: EngineConfig,
    workers: usize,
    make_sink: impl Fn(usize) -> S + Sync,
) -> Outcome<S> {
    replay_with_progress(files, cfg, workers, make_sink, &mut |_| {})
}

/// [`replay`], calling `progress` every [`PROGRESS_EVERY`] packets and at the end of each
/// file, on the reading thread.
pub fn replay_with_progress<S: SettleSink + Send>(
    files: &[Savefile],
    cfg: EngineConfig,
    workers: usize,
    make_sink: impl Fn(usize) -> S + Sync,
    progress: &mut dyn FnMut(&Progress),
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
    let mut note = |f: &Savefile, st: crate::capture::file::FileStats| {
        let name = f.path().display().to_string();
        input.packets += st.packets;
        input.bytes += st.bytes;
        input
            .warnings
            .extend(st.warnings.into_iter().map(|w| format!("{name}: {w}")));
        input.files.push(name);
    };
    if workers <= 1 {
        let mut engine = Engine::new(cfg);
        let mut sink = make_sink(0);
        for f in files {
            reading.start_file(f);
            let st = f.for_each(|p| {
                engine.packet(p.ts_ns, p.link, p.data, &mut sink);
                reading.packet(p.data.len());
            });
            note(f, st);
            reading.end_file();
        }
        engine.finish(&mut sink);
        sink.tick(engine.counters(), engine.flows());
        reading.report();
        return Outcome {
            census: engine.census().clone(),
            counters: engine.counters().clone(),
            capture: Counters::default(),
            input,
            sinks: vec![sink.inner],
        };
    }
    let mut capture = Counters::default();
    let (census, counters, sinks) =
        pipeline::run(cfg, workers, pipeline::REPLAY_QUEUE_DEPTH, make_sink, |d| {
            for f in files {
                reading.start_file(f);
                let st = f.for_each(|p| {
                    d.send_blocking(p.ts_ns, p.link, p.data);
                    reading.packet(p.data.len());
                });
                note(f, st);
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
    }
}
