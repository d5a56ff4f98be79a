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
use crate::report::parse::{ReportParseError, add_values, census_from_json};
use crate::report::{ReportOptions, census_json};
use crate::tally::Census;
use serde_json::{Map, Value, json};
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
    /// The combined `"input"` object.
    pub input: Value,
    /// The combined `"coverage"` object.
    pub coverage: Value,
}

impl Merged {
    /// An empty merge with room for `max_clients` client entries.
    pub fn new(max_clients: usize) -> Self {
        Merged {
            census: Census::new(max_clients),
            input: json!({"files": [], "packets": 0, "bytes": 0, "warnings": []}),
            coverage: Value::Object(Map::new()),
        }
    }

    /// Adds one parsed report.
    pub fn add(&mut self, report: &Value) -> Result<(), ReportParseError> {
        let c = census_from_json(report, usize::MAX)?;
        self.census.merge(&c);
        if let Some(i) = report.get("input") {
            add_values(&mut self.input, i);
        }
        if let Some(k) = report.get("coverage") {
            add_values(&mut self.coverage, k);
        }
        Ok(())
    }

    /// Reads and adds a report file.
    pub fn add_file(&mut self, path: &Path) -> Result<(), MergeError> {
        let bytes = std::fs::read(path).map_err(|source| MergeError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let v: Value = serde_json::from_slice(&bytes).map_err(|source| MergeError::Json {
            path: path.to_path_buf(),
            source,
        })?;
        self.add(&v).map_err(|source| MergeError::Report {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The merged JSON report (same shape as a replay's).
    pub fn to_json(&self, opts: &ReportOptions) -> Value {
        let (clients, totals) = census_json(&self.census, opts);
        let mut coverage = self.coverage.clone();
        if let Value::Object(m) = &mut coverage {
            m.insert("clients_dropped".into(), json!(self.census.clients_dropped));
        }
        json!({
            "clients": clients,
            "totals": totals,
            "input": self.input,
            "coverage": coverage,
        })
    }

    /// The input summary (for the table header).
    pub fn input_summary(&self) -> InputSummary {
        let strings = |k: &str| -> Vec<String> {
            self.input
                .get(k)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        let num = |k: &str| self.input.get(k).and_then(Value::as_u64).unwrap_or(0);
        InputSummary {
            files: strings("files"),
            packets: num("packets"),
            bytes: num("bytes"),
            warnings: strings("warnings"),
            capture: None,
        }
    }
}
