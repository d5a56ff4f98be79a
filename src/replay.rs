//! Replay: savefiles through the pipeline, lossless, into one census.

use crate::capture::CaptureError;
use crate::capture::file::Savefile;
use crate::engine::{Counters, Engine, EngineConfig, SettleSink};
use crate::pipeline;
use crate::tally::Census;
use std::path::PathBuf;

/// What was read.
#[derive(Clone, Debug, Default)]
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
            let st = f.for_each(|p| engine.packet(p.ts_ns, p.link, p.data, &mut sink));
            note(f, st);
        }
        engine.finish(&mut sink);
        sink.tick(engine.counters(), engine.flows());
        return Outcome {
            census: engine.census().clone(),
            counters: engine.counters().clone(),
            capture: Counters::default(),
            input,
            sinks: vec![sink],
        };
    }
    let mut capture = Counters::default();
    let (census, counters, sinks) =
        pipeline::run(cfg, workers, pipeline::REPLAY_QUEUE_DEPTH, make_sink, |d| {
            for f in files {
                let st = f.for_each(|p| d.send_blocking(p.ts_ns, p.link, p.data));
                note(f, st);
            }
            capture = d.counters.clone();
            capture.queue_drops += d.queue_drops;
        });
    Outcome {
        census,
        counters,
        capture,
        input,
        sinks,
    }
}
