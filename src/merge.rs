//! `hellowatch merge`: adds JSON reports of several replays or sensors into one.
//!
//! The census is associative, so a week of captures can be split over many machines, each
//! replaying its share with `--format json`, and the reports reduced to one census in any
//! order and grouping. Clients, totals and the fallback and legacy-fingerprint tallies are
//! added as censuses; `"input"` and `"coverage"` are added field by field (counts summed, file
//! and warning lists concatenated). Policies are evaluated on the merged census.
//!
//! A connection is counted by whichever replay saw its handshake settle: a connection cut in
//! two by a file split is counted in both halves (as a ClientHello without ServerHello in one,
//! and as a ServerHello without ClientHello in the other). Split captures between connections
//! (e.g. at a quiet moment) and the merge equals the replay of the whole capture. Reports of
//! sensors that saw the same connection count it twice.

use crate::capture::InputSummary;
use crate::report::{Coverage, Report, ReportOptions, ReportParseError};
use crate::tally::Census;
use std::path::{Path, PathBuf};

/// Why a report cannot be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// The file cannot be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("{}: not JSON: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
    /// The file is JSON but not a report.
    #[error("{}: {source}", path.display())]
    Report {
        /// The file.
        path: PathBuf,
        /// Why.
        source: ReportParseError,
    },
}

/// Several reports added together.
#[derive(Debug)]
pub struct Merged {
    /// The combined census.
    pub census: Census,
    /// The combined `"input"` section.
    pub input: InputSummary,
    /// The combined `"coverage"` section.
    pub coverage: Coverage,
}

impl Merged {
    /// An empty merge with room for `max_clients` client entries.
    pub fn new(max_clients: usize) -> Self {
        Merged {
            census: Census::new(max_clients),
            input: InputSummary::default(),
            coverage: Coverage::default(),
        }
    }

    /// Adds one report.
    pub fn add(&mut self, report: &Report) {
        self.add_parts(&report.census(usize::MAX), &report.input, &report.coverage);
    }

    /// Adds the parts of a report (a run's census, input and coverage), as [`Merged::add`]
    /// does: how `--state` continues counting from a saved census.
    pub fn add_parts(&mut self, census: &Census, input: &InputSummary, coverage: &Coverage) {
        self.census.merge(census);
        add_input(&mut self.input, input);
        self.coverage.add(coverage);
    }

    /// True when nothing was added.
    pub fn is_empty(&self) -> bool {
        self.census.connections == 0
            && self.census.clients.is_empty()
            && self.input.packets == 0
            && self.input.files.is_empty()
            && self.input.capture.is_none()
            && self.coverage == Coverage::default()
    }

    /// Reads and adds a report file.
    pub fn add_file(&mut self, path: &Path) -> Result<(), MergeError> {
        let bytes = std::fs::read(path).map_err(|source| MergeError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let v = serde_json::from_slice(&bytes).map_err(|source| MergeError::Json {
            path: path.to_path_buf(),
            source,
        })?;
        let report = Report::from_json(v).map_err(|source| MergeError::Report {
            path: path.to_path_buf(),
            source,
        })?;
        self.add(&report);
        Ok(())
    }

    /// The merged report (policies evaluated on the merged census).
    pub fn report(&self, opts: &ReportOptions) -> Report {
        let mut coverage = self.coverage.clone();
        coverage.set_count("clients_dropped", self.census.clients_dropped);
        Report::with(&self.census, self.input.clone(), coverage, opts)
    }
}

/// Adds `b` into `a`: lists concatenated, counts summed, the earliest `since`; a live
/// capture's interface and link type are the first report's.
fn add_input(a: &mut InputSummary, b: &InputSummary) {
    a.since = crate::report::time::earliest(a.since, b.since);
    a.files.extend(b.files.iter().cloned());
    a.packets = a.packets.saturating_add(b.packets);
    a.bytes = a.bytes.saturating_add(b.bytes);
    a.warnings.extend(b.warnings.iter().cloned());
    match (&mut a.capture, &b.capture) {
        (Some(x), Some(y)) => {
            x.received = x.received.saturating_add(y.received);
            x.dropped = x.dropped.saturating_add(y.dropped);
            x.if_dropped = x.if_dropped.saturating_add(y.if_dropped);
        }
        (None, Some(y)) => a.capture = Some(y.clone()),
        (_, None) => {}
    }
}
