//! Delivery of event lines: each worker owns an [`EventSink`] (a [`SettleSink`]) that
//! serialises lines (through [`super::ecs`]) into its own buffer — no locks and no I/O on the
//! worker — and hands full buffers (every [`FLUSH_AT`] bytes, and at every tick) to one writer
//! thread over a bounded queue of [`QUEUE_DEPTH`] buffers. Emptied buffers come back and are
//! reused.
//! - [`Delivery::Lossless`] (replay): a full queue blocks the worker; no event is lost.
//! - [`Delivery::Lossy`] (live): a full queue drops the buffer and counts its lines in
//!   [`EventStats::dropped`]; workers never wait for the disk.
//!
//! Lines from one worker keep their order; lines of different workers interleave (whole
//! lines, never mixed). With one worker the order is the order in which connections settled.

use super::ecs::{Names, write_event};
use crate::engine::{Counters, SettleSink};
use crate::flow::ConnSummary;
use crate::policy::Policy;
use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};
use std::fmt;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;

/// A worker hands its buffer to the writer once it holds this many bytes.
pub const FLUSH_AT: usize = 64 * 1024;

/// Buffers queued for the writer thread (so at most `QUEUE_DEPTH × FLUSH_AT` plus one line
/// per buffer are in flight).
pub const QUEUE_DEPTH: usize = 64;

/// What to do when the writer falls behind.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Wait (replay: nothing is lost).
    Lossless,
    /// Drop and count (live: capture never waits for the disk).
    Lossy,
}

/// Where events go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dest {
    /// Standard output (`--events -`).
    Stdout,
    /// A file, created or truncated.
    File(PathBuf),
}

impl Dest {
    /// `-` is standard output, anything else a path.
    pub fn parse(s: &str) -> Dest {
        if s == "-" {
            Dest::Stdout
        } else {
            Dest::File(PathBuf::from(s))
        }
    }
}

impl fmt::Display for Dest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dest::Stdout => f.write_str("standard output"),
            Dest::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Event log errors.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    /// The destination cannot be created.
    #[error("cannot write events to {dest}: {source}")]
    Open {
        /// Destination.
        dest: String,
        /// Why.
        source: io::Error,
    },
    /// Writing failed part-way.
    #[error("writing events to {dest} failed: {source}")]
    Write {
        /// Destination.
        dest: String,
        /// Why.
        source: io::Error,
    },
}

#[derive(Debug, Default)]
struct Shared {
    written: AtomicU64,
    dropped: AtomicU64,
}

/// Counts of an event log, readable while it runs (for metrics).
#[derive(Clone, Debug, Default)]
pub struct EventStats(Arc<Shared>);

impl EventStats {
    /// Lines handed to the writer.
    pub fn written(&self) -> u64 {
        self.0.written.load(Ordering::Relaxed)
    }

    /// Lines dropped because the writer was behind ([`Delivery::Lossy`] only).
    pub fn dropped(&self) -> u64 {
        self.0.dropped.load(Ordering::Relaxed)
    }
}

/// The writer thread and the queue to it.
#[derive(Debug)]
pub struct EventLog {
    tx: Sender<Vec<u8>>,
    recycle: Receiver<Vec<u8>>,
    writer: Option<JoinHandle<io::Result<()>>>,
    stats: EventStats,
    policies: Arc<[Policy]>,
    delivery: Delivery,
    dest: String,
}

fn writer_loop(
    mut out: impl Write,
    rx: &Receiver<Vec<u8>>,
    recycle: &Sender<Vec<u8>>,
) -> io::Result<()> {
    let mut failed = None;
    for mut chunk in rx {
        if failed.is_none() {
            if let Err(e) = out.write_all(&chunk) {
                // Keep draining so workers never block on a dead writer.
                failed = Some(e);
            }
        }
        chunk.clear();
        let _ = recycle.try_send(chunk);
    }
    match failed {
        Some(e) => Err(e),
        None => out.flush(),
    }
}

impl EventLog {
    /// Creates the destination and starts the writer thread. `policies` are evaluated for
    /// every connection (`hellowatch.policy`).
    pub fn open(dest: &Dest, delivery: Delivery, policies: &[Policy]) -> Result<Self, EventsError> {
        let out: Box<dyn Write + Send> = match dest {
            Dest::Stdout => Box::new(io::BufWriter::with_capacity(FLUSH_AT, io::stdout())),
            Dest::File(p) => Box::new(io::BufWriter::with_capacity(
                FLUSH_AT,
                std::fs::File::create(p).map_err(|source| EventsError::Open {
                    dest: dest.to_string(),
                    source,
                })?,
            )),
        };
        Self::to_writer(out, &dest.to_string(), delivery, policies)
    }

    /// Live: appends to the file at `path` (a restarted sensor keeps its log), writes each
    /// chunk of lines through at once (at least every tick) and, when
    /// `reopen` has been set (SIGHUP, after logrotate renamed the file), finishes the lines
    /// in hand on the old file and continues on a new one at `path`: no line is lost or
    /// written twice. Standard output is never reopened.
    pub fn open_live(
        dest: &Dest,
        policies: &[Policy],
        reopen: Arc<AtomicBool>,
    ) -> Result<Self, EventsError> {
        let Dest::File(path) = dest else {
            return Self::open(dest, Delivery::Lossy, policies);
        };
        let file = Reopening::append(path).map_err(|source| EventsError::Open {
            dest: dest.to_string(),
            source,
        })?;
        let out = Reopening {
            path: path.clone(),
            file,
            reopen,
        };
        Self::to_writer(Box::new(out), &dest.to_string(), Delivery::Lossy, policies)
    }

    /// Like [`EventLog::open`], writing to `out` (named `dest` in errors).
    pub fn to_writer(
        out: Box<dyn Write + Send>,
        dest: &str,
        delivery: Delivery,
        policies: &[Policy],
    ) -> Result<Self, EventsError> {
        let (tx, rx) = bounded::<Vec<u8>>(QUEUE_DEPTH);
        let (recycle_tx, recycle) = bounded::<Vec<u8>>(QUEUE_DEPTH);
        let writer = std::thread::Builder::new()
            .name("hellowatch-events".into())
            .spawn(move || writer_loop(out, &rx, &recycle_tx))
            .map_err(|source| EventsError::Open {
                dest: dest.to_string(),
                source,
            })?;
        Ok(EventLog {
            tx,
            recycle,
            writer: Some(writer),
            stats: EventStats::default(),
            policies: policies.into(),
            delivery,
            dest: dest.to_string(),
        })
    }

    /// A sink for one worker.
    pub fn sink(&self) -> EventSink {
        EventSink {
            tx: self.tx.clone(),
            recycle: self.recycle.clone(),
            buf: Vec::with_capacity(FLUSH_AT + 4096),
            lines: 0,
            delivery: self.delivery,
            stats: self.stats.clone(),
            policies: Arc::clone(&self.policies),
            names: Names::new(&self.policies),
        }
    }

    /// Counts, shared with the sinks.
    pub fn stats(&self) -> EventStats {
        self.stats.clone()
    }

    /// Waits until everything handed over is written. Every sink must have been dropped
    /// first (a sink still alive keeps the writer waiting for its lines).
    pub fn finish(self) -> Result<EventStats, EventsError> {
        let EventLog {
            tx,
            writer,
            stats,
            dest,
            ..
        } = self;
        drop(tx);
        let r = match writer.map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(io::Error::other("the event writer thread panicked")),
            None => Ok(()),
        };
        r.map_err(|source| EventsError::Write { dest, source })?;
        Ok(stats)
    }
}

/// A log file that is reopened (by path, appending) when a flag is set: the logrotate
/// convention (rename, then SIGHUP).
struct Reopening {
    path: PathBuf,
    file: io::BufWriter<std::fs::File>,
    reopen: Arc<AtomicBool>,
}

impl Reopening {
    fn append(path: &std::path::Path) -> io::Result<io::BufWriter<std::fs::File>> {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(io::BufWriter::with_capacity(FLUSH_AT, f))
    }
}

impl Write for Reopening {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    /// The writer hands whole chunks of whole lines here: the file is switched only between
    /// them, never inside a line.
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        if self.reopen.swap(false, Ordering::Relaxed) {
            self.file.flush()?;
            self.file = Reopening::append(&self.path)?;
        }
        // Each chunk reaches the file at once (a live log is read while it grows).
        self.file.write_all(buf)?;
        self.file.flush()
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// One worker's end of the event log.
#[derive(Debug)]
pub struct EventSink {
    tx: Sender<Vec<u8>>,
    recycle: Receiver<Vec<u8>>,
    buf: Vec<u8>,
    lines: u64,
    delivery: Delivery,
    stats: EventStats,
    policies: Arc<[Policy]>,
    names: Names,
}

impl EventSink {
    /// Hands the buffered lines to the writer (blocking when `block`).
    fn hand_over(&mut self, block: bool) {
        if self.buf.is_empty() {
            return;
        }
        let chunk = std::mem::take(&mut self.buf);
        let lines = std::mem::take(&mut self.lines);
        let sent = if block {
            self.tx.send(chunk).is_ok()
        } else {
            match self.tx.try_send(chunk) {
                Ok(()) => true,
                Err(TrySendError::Full(mut c) | TrySendError::Disconnected(mut c)) => {
                    // Dropped: keep the buffer for the next lines.
                    c.clear();
                    self.buf = c;
                    false
                }
            }
        };
        if sent {
            self.buf = self
                .recycle
                .try_recv()
                .unwrap_or_else(|_| Vec::with_capacity(FLUSH_AT + 4096));
        }
        let counter = if sent {
            &self.stats.0.written
        } else {
            &self.stats.0.dropped
        };
        counter.fetch_add(lines, Ordering::Relaxed);
    }

    /// Hands everything buffered to the writer now.
    pub fn flush(&mut self) {
        self.hand_over(self.delivery == Delivery::Lossless);
    }
}

impl SettleSink for EventSink {
    fn settled(&mut self, s: &ConnSummary) {
        if crate::tally::contribution(s).is_none() {
            return;
        }
        // Writing into a Vec cannot fail; a serialisation error leaves no partial line.
        if write_event(&mut self.buf, s, &self.policies, &mut self.names) {
            self.buf.push(b'\n');
            self.lines += 1;
        }
        if self.buf.len() >= FLUSH_AT {
            self.flush();
        }
    }

    fn tick(&mut self, _counters: &Counters, _flows: usize) {
        self.flush();
    }

    fn wants_detail(&self) -> bool {
        true
    }
}

impl Drop for EventSink {
    fn drop(&mut self) {
        // The end of a run: wait for the writer whatever the delivery mode.
        self.hand_over(true);
    }
}

/// An optional sink (`--events` not given: `None`).
impl<S: SettleSink> SettleSink for Option<S> {
    fn settled(&mut self, s: &ConnSummary) {
        if let Some(k) = self {
            k.settled(s);
        }
    }

    fn tick(&mut self, counters: &Counters, flows: usize) {
        if let Some(k) = self {
            k.tick(counters, flows);
        }
    }

    fn wants_detail(&self) -> bool {
        self.as_ref().is_some_and(SettleSink::wants_detail)
    }

    fn bypass(&mut self, key: &crate::flow::FlowKey) {
        if let Some(k) = self {
            k.bypass(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::ecs::tests::summary;
    use crate::events::event_line;

    #[test]
    fn lines_reach_the_file_through_the_writer() {
        let dir = std::env::temp_dir().join(format!("hellowatch-ev-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ev.jsonl");
        let log = EventLog::open(&Dest::File(path.clone()), Delivery::Lossless, &[]).unwrap();
        let mut sinks = [log.sink(), log.sink()];
        for i in 0..2000 {
            sinks[i % 2].settled(&summary());
        }
        drop(sinks);
        let st = log.finish().unwrap();
        assert_eq!((st.written(), st.dropped()), (2000, 0));
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2000);
        for l in text.lines() {
            serde_json::from_str::<serde_json::Value>(l).unwrap();
        }
        // Nothing countable, no line.
        assert!(event_line(&ConnSummary::default(), &[]).is_none());
    }

    /// A writer that blocks until the test lets it go.
    struct Gate(std::sync::mpsc::Receiver<()>, Vec<u8>, Arc<AtomicU64>);

    impl Write for Gate {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            if self.1.is_empty() {
                let _ = self.0.recv();
            }
            self.1.extend_from_slice(b);
            self.2.fetch_add(
                b.iter().filter(|c| **c == b'\n').count() as u64,
                Ordering::Relaxed,
            );
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lossy_delivery_drops_and_counts_when_the_writer_is_stuck() {
        let (open, gate) = std::sync::mpsc::channel();
        let lines = Arc::new(AtomicU64::new(0));
        let out = Gate(gate, Vec::new(), Arc::clone(&lines));
        let log = EventLog::to_writer(Box::new(out), "gate", Delivery::Lossy, &[]).unwrap();
        let mut sink = log.sink();
        let n = 60_000u64; // far more than QUEUE_DEPTH buffers of FLUSH_AT bytes
        for _ in 0..n {
            sink.settled(&summary());
        }
        let st = log.stats();
        assert!(st.dropped() > 0, "a stuck writer makes lines drop");
        open.send(()).unwrap();
        drop(sink);
        let st = log.finish().unwrap();
        assert_eq!(st.written() + st.dropped(), n);
        assert_eq!(lines.load(Ordering::Relaxed), st.written());
    }

    #[test]
    fn a_reopened_log_continues_in_a_new_file_without_losing_or_repeating_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ev.jsonl");
        let flag = Arc::new(AtomicBool::new(false));
        let mut out = Reopening {
            path: path.clone(),
            file: Reopening::append(&path).unwrap(),
            reopen: Arc::clone(&flag),
        };
        out.write_all(b"one\ntwo\n").unwrap();
        std::fs::rename(&path, dir.path().join("ev.jsonl.1")).unwrap();
        out.write_all(b"three\n").unwrap();
        flag.store(true, Ordering::Relaxed);
        out.write_all(b"four\n").unwrap();
        out.flush().unwrap();
        let old = std::fs::read_to_string(dir.path().join("ev.jsonl.1")).unwrap();
        assert_eq!(old, "one\ntwo\nthree\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "four\n");
    }

    #[test]
    fn unwritable_destination_is_an_error() {
        let e = EventLog::open(
            &Dest::File("/nonexistent/dir/ev.jsonl".into()),
            Delivery::Lossless,
            &[],
        )
        .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/dir/ev.jsonl"), "{e}");
    }
}
