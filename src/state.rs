//! Durable census (`--state PATH`): a run continues counting from the census a previous run
//! saved, and saves its own atomically every snapshot interval and at the end, so a crash, an
//! OOM kill or a reboot loses at most one interval.
//!
//! The state file is the JSON report itself, read back and added exactly as `hellowatch merge`
//! does ([`Merged`]): the saved census, input (`since`, packets, capture statistics, warnings)
//! and coverage plus this run's. At start:
//! - no file: counting starts from nothing;
//! - a hellowatch report: counting continues from it;
//! - a file that is not JSON (cut short, overwritten by something else): it is renamed aside to
//!   `PATH.corrupt-<unix time>`, never overwritten, and a warning says so (on standard error and
//!   in the report); counting starts from nothing;
//! - JSON this build cannot read (a schema newer than [`crate::report::SCHEMA`], a version
//!   name or key of the wrong kind): an error, the run does not start ([`StateError`]).
//!
//! Every write ([`write_atomic`]) goes to a temporary file in the same directory, is flushed
//! to disk (`fsync`), renamed over the target and the directory synced: a reader or a restart
//! sees the previous complete file or the new complete file, never a mix. A run killed
//! mid-write leaves its temporary file (`.NAME.XXXXXX.tmp` beside NAME); the next run removes
//! those of its state and report files when it starts ([`remove_stale_tmp`]).

use crate::capture::InputSummary;
use crate::engine::Counters;
use crate::merge::{MergeError, Merged};
use crate::report::{Coverage, Format, Report, ReportOptions};
use crate::tally::Census;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Default seconds between snapshots (`--snapshot-interval`).
pub const DEFAULT_SNAPSHOT_INTERVAL_SECS: u64 = 60;

/// Why a state file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// It exists but cannot be read.
    #[error("state file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// It is JSON this build cannot read: refused rather than reset.
    #[error(
        "state file {}: {why}; refusing to start rather than lose the census it holds \
         (move it away to start afresh)",
        path.display()
    )]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// It is corrupt and cannot be renamed aside.
    #[error("state file {} is corrupt ({why}) and cannot be renamed aside: {source}", path.display())]
    SetAside {
        /// The file.
        path: PathBuf,
        /// Why it is corrupt.
        why: String,
        /// Why the rename failed.
        source: io::Error,
    },
}

/// Writes a file atomically: `write` fills a temporary file in the same directory, which is
/// synced, renamed over `path`, and the directory synced.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .tempfile_in(dir)?;
    {
        let mut w = io::BufWriter::new(tmp.as_file_mut());
        write(&mut w)?;
        w.flush()?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}

/// Length of the random part of [`write_atomic`]'s temporary names (the `tempfile` default).
const TMP_RANDOM_LEN: usize = 6;

/// Whether `file` is the name of a temporary file [`write_atomic`] makes for a target named
/// `target`: `.TARGET.XXXXXX.tmp`, six letters or digits in the middle.
fn is_atomic_tmp(file: &str, target: &str) -> bool {
    file.strip_prefix('.')
        .and_then(|f| f.strip_prefix(target))
        .and_then(|f| f.strip_prefix('.'))
        .and_then(|f| f.strip_suffix(".tmp"))
        .is_some_and(|r| r.len() == TMP_RANDOM_LEN && r.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Removes the temporary files a killed run left beside `path` (a snapshot cut short by
/// `kill -9` or a crash between creating its temporary file and renaming it): files named as
/// [`write_atomic`] names them for `path`, and nothing else. Best effort: a file that cannot be
/// removed stays. Returns how many were removed.
pub fn remove_stale_tmp(path: &Path) -> usize {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Some(target) = path.file_name().and_then(|n| n.to_str()) else {
        return 0;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| is_atomic_tmp(n, target))
                && e.file_type().is_ok_and(|t| t.is_file())
        })
        .filter(|e| std::fs::remove_file(e.path()).is_ok())
        .count()
}

/// What a run continues from, and where it saves its census.
#[derive(Debug)]
pub struct Durable {
    /// The census read from the state file (`None`: nothing to continue from).
    base: Option<Merged>,
    /// The state file.
    state: Option<PathBuf>,
    /// A report file rewritten at every snapshot (live `--output`), and its format.
    output: Option<(PathBuf, Format)>,
    /// Policies of the report.
    opts: ReportOptions,
    max_clients: usize,
    /// Warnings met while opening (a corrupt state file set aside).
    pub warnings: Vec<String>,
}

impl Durable {
    /// Reads the state file, if any (see the module documentation for what happens to one
    /// that cannot be read).
    pub fn open(
        state: Option<&Path>,
        output: Option<(PathBuf, Format)>,
        opts: ReportOptions,
        max_clients: usize,
    ) -> Result<Self, StateError> {
        let mut d = Durable {
            base: None,
            state: state.map(Path::to_path_buf),
            output,
            opts,
            max_clients,
            warnings: Vec::new(),
        };
        // Temporary files of snapshots a killed run left behind (they never became the file).
        for p in d.state.iter().chain(d.output.iter().map(|(p, _)| p)) {
            remove_stale_tmp(p);
        }
        let Some(path) = state else { return Ok(d) };
        let mut base = Merged::new(max_clients);
        match base.add_file(path) {
            Ok(()) => d.base = Some(base),
            Err(MergeError::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
            Err(MergeError::Read { path, source }) => {
                return Err(StateError::Read { path, source });
            }
            Err(MergeError::Report { path, source }) => {
                return Err(StateError::Unreadable {
                    path,
                    why: source.to_string(),
                });
            }
            Err(MergeError::Json { path, source }) => {
                let why = format!("not JSON: {source}");
                let mut aside = path.clone().into_os_string();
                aside.push(format!(".corrupt-{}", crate::report::time::unix_now()));
                let aside = PathBuf::from(aside);
                std::fs::rename(&path, &aside).map_err(|e| StateError::SetAside {
                    path: path.clone(),
                    why: why.clone(),
                    source: e,
                })?;
                d.warnings.push(format!(
                    "state file {} was corrupt ({why}); kept as {} and counting starts afresh",
                    path.display(),
                    aside.display()
                ));
            }
        }
        Ok(d)
    }

    /// True when counting continues from a saved census.
    pub fn resumed(&self) -> bool {
        self.base.as_ref().is_some_and(|b| !b.is_empty())
    }

    /// Whether snapshots are written at all (a state file or a live report file).
    pub fn snapshots(&self) -> bool {
        self.state.is_some() || self.output.is_some()
    }

    /// The report of the saved census plus this run's census, counters and input.
    pub fn report(&self, census: &Census, counters: &Counters, input: &InputSummary) -> Report {
        let mut input = input.clone();
        input.warnings.splice(0..0, self.warnings.iter().cloned());
        match &self.base {
            None => Report::of(census, counters, &input, &self.opts),
            Some(base) => {
                let mut m = Merged::new(self.max_clients);
                m.add_parts(&base.census, &base.input, &base.coverage);
                m.add_parts(census, &input, &Coverage::of(counters, census));
                m.report(&self.opts)
            }
        }
    }

    /// Writes a snapshot: the state file (JSON) and the report file, each atomically.
    pub fn save(&self, report: &Report) -> Result<(), String> {
        if let Some(p) = &self.state {
            write_atomic(p, |mut w| report.write(&mut w, Format::Json))
                .map_err(|e| format!("cannot write the state file {}: {e}", p.display()))?;
        }
        if let Some((p, format)) = &self.output {
            write_atomic(p, |mut w| report.write(&mut w, *format))
                .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
        }
        Ok(())
    }
}

/// Merges the snapshot parts of the workers (census and counters) with the dispatcher's
/// counters.
pub fn gather(
    parts: &[(Census, Counters)],
    capture: &Counters,
    max_clients: usize,
) -> (Census, Counters) {
    let mut census = Census::new(max_clients);
    let mut counters = capture.clone();
    for (c, k) in parts {
        census.merge(c);
        counters.merge(k);
    }
    (census, counters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_atomic_write_replaces_the_whole_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        write_atomic(&p, |w| w.write_all(b"one")).unwrap();
        write_atomic(&p, |w| w.write_all(b"two")).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let failed = write_atomic(&p, |w| {
            w.write_all(b"half")?;
            Err(io::Error::other("disk full"))
        });
        assert!(failed.is_err());
        assert_eq!(
            std::fs::read(&p).unwrap(),
            b"two",
            "a failed write changes nothing"
        );
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn stale_temporary_files_of_the_state_and_report_files_are_removed_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let state = d.join("state.json");
        let report = d.join("census.json");
        // What a kill -9 mid-snapshot leaves (write_atomic's own names), and lookalikes.
        let stale = [".state.json.Ab3dE9.tmp", ".census.json.x1Y2z3.tmp"];
        let kept = [
            ".state.json.Ab3dE9.tmp.keep",
            ".other.json.Ab3dE9.tmp",
            ".state.json.toolong7.tmp",
            "state.json.Ab3dE9.tmp",
            ".state.json.Ab-dE9.tmp",
        ];
        for f in stale.iter().chain(&kept) {
            std::fs::write(d.join(f), b"partial").unwrap();
        }
        // A directory with a stale-looking name is not a file of ours.
        std::fs::create_dir(d.join(".census.json.Dir123.tmp")).unwrap();
        let out = Some((report.clone(), Format::Json));
        let opened = Durable::open(Some(&state), out, ReportOptions::default(), 10).unwrap();
        assert!(opened.warnings.is_empty(), "{:?}", opened.warnings);
        let mut left: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let mut want: Vec<String> = kept.iter().map(|s| s.to_string()).collect();
        want.push(".census.json.Dir123.tmp".into());
        want.sort();
        assert_eq!(left, want);
        // The names write_atomic makes are the ones recognised.
        let mut tmp = tempfile::Builder::new()
            .prefix(".state.json.")
            .suffix(".tmp")
            .tempfile_in(d)
            .unwrap();
        tmp.as_file_mut().write_all(b"x").unwrap();
        let name = tmp
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(is_atomic_tmp(&name, "state.json"), "{name}");
    }

    #[test]
    fn a_corrupt_state_file_is_set_aside_and_an_unreadable_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        let open = || Durable::open(Some(&p), None, ReportOptions::default(), 10);
        assert!(!open().unwrap().resumed(), "no file: fresh");
        std::fs::write(&p, b"{\"clients\": {\"10.0.0.1\": {\"hel").unwrap();
        let d = open().unwrap();
        assert!(!d.resumed());
        assert!(d.warnings[0].contains("corrupt"), "{:?}", d.warnings);
        assert!(!p.exists());
        let aside: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(aside.len(), 1);
        assert!(
            aside[0]
                .file_name()
                .to_string_lossy()
                .starts_with("state.json.corrupt-")
        );
        std::fs::write(&p, br#"{"schema": 99, "clients": {}, "totals": {}}"#).unwrap();
        let e = open().unwrap_err();
        assert!(e.to_string().contains("schema 99"), "{e}");
        assert!(p.exists(), "an unreadable state file is left in place");
    }
}
