//! Replay: savefiles through an engine, lossless, into one census.

use crate::capture::CaptureError;
use crate::capture::file::Savefile;
use crate::engine::{Counters, Engine, EngineConfig, SettleSink};
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
    /// Problems met, each prefixed with its file.
    pub warnings: Vec<String>,
}

/// The result of a replay.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The census.
    pub census: Census,
    /// Coverage counters.
    pub counters: Counters,
    /// Input summary.
    pub input: InputSummary,
}

/// Opens every file first (so a bad argument fails before anything is counted), then replays
/// them in order as one capture.
pub fn replay(
    paths: &[PathBuf],
    cfg: EngineConfig,
    sink: &mut impl SettleSink,
) -> Result<Outcome, CaptureError> {
    let files = paths
        .iter()
        .map(|p| Savefile::open(p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut engine = Engine::new(cfg);
    let mut input = InputSummary::default();
    for f in &files {
        let name = f.path().display().to_string();
        let st = f.for_each(|p| engine.packet(p.ts_ns, p.link, p.data, sink));
        input.packets += st.packets;
        input.bytes += st.bytes;
        input
            .warnings
            .extend(st.warnings.into_iter().map(|w| format!("{name}: {w}")));
        input.files.push(name);
    }
    engine.finish(sink);
    Ok(Outcome {
        census: engine.census().clone(),
        counters: engine.counters().clone(),
        input,
    })
}
