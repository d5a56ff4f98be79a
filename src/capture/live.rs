//! Live capture from an interface through libpcap (the safe `pcap` crate), into the pipeline.
//!
//! One capture thread (the caller's) reads packets with `pcap_dispatch` straight out of the
//! kernel ring, decodes each just far enough to pick its worker, copies the TCP payload into
//! that worker's batch and hands full batches over with
//! [`Dispatcher::try_send`](crate::pipeline::Dispatcher::try_send): it never blocks on a
//! worker, and a full queue drops the batch and counts it (`queue_drops`).
//!
//! * **Immediate mode** (each packet is delivered as it arrives, not when a kernel block
//!   fills). The handle is non-blocking and the loop waits in `poll(2)` for at most
//!   [`POLL_TIMEOUT_MS`], so a quiet link still wakes it to notice a stop request, flush
//!   half-full batches and tick the workers. (libpcap's own read timeout cannot do this: on
//!   Linux a blocking `pcap_dispatch` keeps waiting until a packet arrives.)
//! * **Ticks.** About every [`TICK_INTERVAL`] of wall time, pending batches are flushed, the
//!   workers are told the time (so idle connections expire on a quiet link) and libpcap's
//!   statistics are read. Kernel timestamps and the wall clock are the same clock
//!   (`CLOCK_REALTIME`), so a tick is packet time that has passed without packets.
//! * **Statistics.** libpcap's `ps_recv`/`ps_drop`/`ps_ifdrop` are 32-bit and wrap after a few
//!   hours at a high rate; they are read every tick and accumulated into 64 bits.
//! * **Stopping.** The caller's flag (set by SIGINT/SIGTERM in the binary) is checked after
//!   every read (at most [`POLL_TIMEOUT_MS`] apart; a signal also interrupts the wait). The
//!   ring is then drained for at most [`DRAIN_LIMIT`], the queues are drained (blocking: the
//!   workers are still running), every open connection is settled, and the census is
//!   returned.

use crate::capture::{CaptureStats, LiveConfig};
use crate::engine::{Counters, EngineConfig, SettleSink};
use crate::pipeline;
use crate::replay::InputSummary;
use crate::tally::Census;
use crate::wire::LinkType;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The longest the capture thread waits for a packet (ms) before it looks at the stop flag and
/// the tick clock again.
pub const POLL_TIMEOUT_MS: u16 = 100;

/// Wall time between ticks (flush, worker tick, statistics).
pub const TICK_INTERVAL: Duration = Duration::from_secs(1);

/// Packets handled per `pcap_dispatch` call at most, so a busy link still returns to the loop
/// (stop flag, ticks) regularly.
pub const DISPATCH_BATCH: usize = 4096;

/// After a stop request, how long packets already in the kernel ring are still read.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(1);

/// Setup errors of a live capture (nothing has been counted yet).
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// libpcap cannot open or activate the interface.
    #[error("{interface}: cannot capture: {source}{hint}")]
    Open {
        /// The interface.
        interface: String,
        /// libpcap's reason.
        source: pcap::Error,
        /// A hint on permissions, or empty.
        hint: &'static str,
    },
    /// The BPF filter does not compile or cannot be set.
    #[error("{interface}: bad filter '{filter}': {source}")]
    Filter {
        /// The interface.
        interface: String,
        /// The filter.
        filter: String,
        /// libpcap's reason.
        source: pcap::Error,
    },
    /// The interface's link type is one hellowatch does not decode.
    #[error("{interface}: link type {dlt} ({name}) is not supported")]
    UnsupportedLink {
        /// The interface.
        interface: String,
        /// DLT number.
        dlt: i32,
        /// libpcap's name for it.
        name: String,
    },
    /// `--user` names no user.
    #[error("--user {0}: no such user")]
    NoSuchUser(String),
    /// Dropping privileges failed.
    #[error("--user {user}: cannot drop privileges ({step}): {source}")]
    Privileges {
        /// The user.
        user: String,
        /// Which call failed.
        step: &'static str,
        /// The OS error.
        source: nix::Error,
    },
}

/// An open capture handle, ready to run.
pub struct LiveCapture {
    cap: pcap::Capture<pcap::Active>,
    link: LinkType,
    stats: CaptureStats,
}

impl std::fmt::Debug for LiveCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveCapture")
            .field("link", &self.link)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl LiveCapture {
    /// Opens and activates the interface (immediate mode, non-blocking, the given snap
    /// length, buffer and promiscuity), sets the filter and checks the link type.
    pub fn open(cfg: &LiveConfig) -> Result<LiveCapture, LiveError> {
        let open_err = |source: pcap::Error| {
            let text = source.to_string();
            let hint = if text.contains("ermitted") || text.contains("ermission") {
                " (run as root, or give the binary cap_net_raw,cap_net_admin: see the README)"
            } else {
                ""
            };
            LiveError::Open {
                interface: cfg.interface.clone(),
                source,
                hint,
            }
        };
        let snaplen = i32::try_from(cfg.snaplen).unwrap_or(i32::MAX);
        let buffer = i32::try_from(cfg.buffer_size).unwrap_or(i32::MAX);
        let mut cap = pcap::Capture::from_device(cfg.interface.as_str())
            .map_err(open_err)?
            .immediate_mode(true)
            .snaplen(snaplen)
            .buffer_size(buffer)
            .promisc(cfg.promisc)
            .open()
            .and_then(pcap::Capture::setnonblock)
            .map_err(open_err)?;
        if let Some(f) = &cfg.filter {
            cap.filter(f, true).map_err(|source| LiveError::Filter {
                interface: cfg.interface.clone(),
                filter: f.clone(),
                source,
            })?;
        }
        let dlt = cap.get_datalink();
        let name = dlt.get_name().unwrap_or_else(|_| dlt.0.to_string());
        let link = LinkType::from_dlt(u32::try_from(dlt.0).unwrap_or(u32::MAX));
        if matches!(link, LinkType::Other(_)) {
            return Err(LiveError::UnsupportedLink {
                interface: cfg.interface.clone(),
                dlt: dlt.0,
                name,
            });
        }
        Ok(LiveCapture {
            cap,
            link,
            stats: CaptureStats {
                interface: cfg.interface.clone(),
                link_type: name,
                ..CaptureStats::default()
            },
        })
    }

    /// The interface's link type.
    pub fn link(&self) -> LinkType {
        self.link
    }

    /// The interface and libpcap's name of its link type.
    pub fn describe(&self) -> (&str, &str) {
        (&self.stats.interface, &self.stats.link_type)
    }
}

/// Drops root privileges for good: supplementary groups, group and user become `name`'s.
/// Call it once the capture is open (the open socket keeps working) and before any thread
/// is started. Fails if root could be regained afterwards.
pub fn drop_privileges(name: &str) -> Result<(), LiveError> {
    use nix::unistd::{Uid, User, setgid, setgroups, setuid};
    let err = |step: &'static str| {
        move |source: nix::Error| LiveError::Privileges {
            user: name.to_string(),
            step,
            source,
        }
    };
    let user = User::from_name(name)
        .map_err(err("user lookup"))?
        .ok_or_else(|| LiveError::NoSuchUser(name.to_string()))?;
    setgroups(&[user.gid]).map_err(err("setgroups"))?;
    setgid(user.gid).map_err(err("setgid"))?;
    setuid(user.uid).map_err(err("setuid"))?;
    if !user.uid.is_root() && setuid(Uid::from_raw(0)).is_ok() {
        return Err(LiveError::Privileges {
            user: name.to_string(),
            step: "check",
            source: nix::Error::EPERM,
        });
    }
    Ok(())
}

/// libpcap's 32-bit counters accumulated into 64 bits.
#[derive(Default)]
struct StatAccumulator {
    last: Option<pcap::Stat>,
}

impl StatAccumulator {
    fn update(&mut self, cap: &mut pcap::Capture<pcap::Active>, into: &mut CaptureStats) {
        // A failing pcap_stats (the interface went away) leaves the last good values.
        let Ok(now) = cap.stats() else {
            return;
        };
        let (r, d, i) = match self.last {
            Some(p) => (p.received, p.dropped, p.if_dropped),
            None => (0, 0, 0),
        };
        into.received += u64::from(now.received.wrapping_sub(r));
        into.dropped += u64::from(now.dropped.wrapping_sub(d));
        into.if_dropped += u64::from(now.if_dropped.wrapping_sub(i));
        self.last = Some(now);
    }
}

/// Nanoseconds since the Unix epoch of a libpcap timestamp.
fn ts_ns(h: &pcap::PacketHeader) -> u64 {
    let s = u64::try_from(h.ts.tv_sec).unwrap_or(0);
    let us = u64::try_from(h.ts.tv_usec).unwrap_or(0);
    s.saturating_mul(1_000_000_000)
        .saturating_add(us.saturating_mul(1000))
}

/// Wall clock, nanoseconds since the Unix epoch (the clock of the kernel's timestamps).
fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The result of a live capture.
#[derive(Debug)]
pub struct LiveOutcome<S> {
    /// The census.
    pub census: Census,
    /// Coverage counters (including `queue_drops`).
    pub counters: Counters,
    /// Packets read, capture statistics and warnings (drops).
    pub input: InputSummary,
    /// The per-worker sinks, after the last connection settled.
    pub sinks: Vec<S>,
    /// The capture stopped on a read error (e.g. the interface went away), not on request.
    pub error: Option<String>,
}

/// What the capture thread reports every tick (for publishing, e.g. metrics).
#[derive(Debug)]
pub struct Progress<'a> {
    /// libpcap's statistics so far.
    pub capture: &'a CaptureStats,
    /// The capture thread's counters so far: packets and bytes read, packets not decoded.
    pub counters: &'a Counters,
    /// Packets dropped so far because a worker queue was full.
    pub queue_drops: u64,
}

/// Captures until `stop` is set (or a read error), through `workers` worker threads, and
/// returns the census of everything read. `on_tick` is called on the capture thread about
/// every [`TICK_INTERVAL`].
pub fn run<S: SettleSink + Send>(
    mut live: LiveCapture,
    cfg: EngineConfig,
    workers: usize,
    stop: &AtomicBool,
    make_sink: impl Fn(usize) -> S + Sync,
    mut on_tick: impl FnMut(&Progress<'_>),
) -> LiveOutcome<S> {
    let link = live.link;
    let mut acc = StatAccumulator::default();
    let mut error = None;
    let LiveCapture { cap, stats, .. } = &mut live;
    let (census, counters, sinks) =
        pipeline::run(cfg, workers, pipeline::QUEUE_DEPTH, make_sink, |d| {
            let mut last_tick = Instant::now();
            acc.update(cap, stats);
            while !stop.load(Ordering::Relaxed) {
                match cap.dispatch(Some(DISPATCH_BATCH), |p| {
                    d.try_send(ts_ns(p.header), link, p.data);
                }) {
                    Ok(0) => {
                        // The ring is empty: wait for a packet. Half-full batches are sent only
                        // when the link has been quiet for a whole timeout (or at the next tick):
                        // flushing whenever the ring runs dry would send one-packet batches at
                        // moderate rates and fill the queues with them.
                        let mut fds = [PollFd::new(cap.as_fd(), PollFlags::POLLIN)];
                        match poll(&mut fds, PollTimeout::from(POLL_TIMEOUT_MS)) {
                            Ok(0) => d.flush(false),
                            Ok(_) | Err(nix::Error::EINTR) => {}
                            Err(e) => {
                                error = Some(format!("poll: {e}"));
                                break;
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        error = Some(e.to_string());
                        break;
                    }
                }
                if last_tick.elapsed() >= TICK_INTERVAL {
                    last_tick = Instant::now();
                    d.flush(false);
                    d.tick(wall_ns());
                    acc.update(cap, stats);
                    on_tick(&Progress {
                        capture: stats,
                        counters: &d.counters,
                        queue_drops: d.queue_drops,
                    });
                }
            }
            if error.is_none() {
                // Packets the kernel already holds were seen before the stop: count them.
                let until = Instant::now() + DRAIN_LIMIT;
                while Instant::now() < until {
                    match cap.dispatch(Some(DISPATCH_BATCH), |p| {
                        d.try_send(ts_ns(p.header), link, p.data);
                    }) {
                        Ok(n) if n > 0 => {}
                        _ => break,
                    }
                }
            }
            acc.update(cap, stats);
        });
    let mut input = InputSummary {
        packets: counters.packets,
        bytes: counters.bytes,
        ..InputSummary::default()
    };
    let s = &live.stats;
    let missed = s.dropped + s.if_dropped + counters.queue_drops;
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
    input.capture = Some(live.stats.clone());
    LiveOutcome {
        census,
        counters,
        input,
        sinks,
        error,
    }
}
