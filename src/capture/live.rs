//! Live capture from an interface through libpcap (the safe `pcap` crate): a packet source.
//!
//! [`LiveCapture::capture`] runs on the caller's thread, reads packets with `pcap_dispatch`
//! straight out of the kernel ring and hands each one, borrowed, to the caller (the run layer,
//! [`crate::run`], which routes it to a worker without ever blocking on one). It only produces
//! packets, quiet spells and ticks; what is done with them is the run layer's business.
//!
//! * **Immediate mode** (each packet is delivered as it arrives, not when a kernel block
//!   fills). The handle is non-blocking and the loop waits in `poll(2)` for at most
//!   [`POLL_TIMEOUT_MS`], so a quiet link still wakes it to notice a stop request and report
//!   the quiet spell (the pipeline then flushes half-full batches). (libpcap's own read
//!   timeout cannot do this: on Linux a blocking `pcap_dispatch` keeps waiting until a packet
//!   arrives.)
//! * **Ticks.** About every [`TICK_INTERVAL`] of wall time libpcap's statistics are read and
//!   a tick carrying the wall clock is reported (the run layer flushes pending batches, tells
//!   the workers the time so idle connections expire on a quiet link, and publishes metrics).
//!   Kernel timestamps and the wall clock are the same clock (`CLOCK_REALTIME`), so a tick is
//!   packet time that has passed without packets.
//! * **Statistics.** libpcap's `ps_recv`/`ps_drop`/`ps_ifdrop` are 32-bit and wrap after a few
//!   hours at a high rate; they are read every tick and accumulated into 64 bits.
//! * **Stopping.** The caller's flag (set by SIGINT/SIGTERM) is checked after every read (at
//!   most [`POLL_TIMEOUT_MS`] apart; a signal also interrupts the wait). The ring is then
//!   drained for at most [`DRAIN_LIMIT`] and the capture returns; the run layer drains the
//!   queues, settles every open connection and writes the census.

use crate::capture::{CaptureStats, LiveConfig, Packet};
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
        into.received = into
            .received
            .saturating_add(u64::from(now.received.wrapping_sub(r)));
        into.dropped = into
            .dropped
            .saturating_add(u64::from(now.dropped.wrapping_sub(d)));
        into.if_dropped = into
            .if_dropped
            .saturating_add(u64::from(now.if_dropped.wrapping_sub(i)));
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

/// A libpcap packet as a [`Packet`].
fn packet<'p>(p: &pcap::Packet<'p>, link: LinkType) -> Packet<'p> {
    Packet {
        ts_ns: ts_ns(p.header),
        link,
        data: p.data,
        orig_len: p.header.len,
    }
}

/// Wall clock, nanoseconds since the Unix epoch (the clock of the kernel's timestamps).
fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// What [`LiveCapture::capture`] hands its consumer.
#[derive(Debug)]
pub enum LiveEvent<'a> {
    /// A packet, borrowed from the kernel ring (copy what must outlive the call).
    Packet(Packet<'a>),
    /// The link has been quiet for a whole [`POLL_TIMEOUT_MS`].
    Idle,
    /// About every [`TICK_INTERVAL`] of wall time, with or without packets.
    Tick {
        /// Wall clock (ns since the Unix epoch): packet time that has passed.
        now_ns: u64,
        /// libpcap's statistics so far.
        stats: &'a CaptureStats,
    },
}

impl LiveCapture {
    /// Captures until `stop` is set or a read fails, handing every packet, quiet spell and
    /// tick to `on`; after a stop request, reads what the kernel ring already holds for at
    /// most [`DRAIN_LIMIT`]. Returns why the capture stopped on its own (a read error, e.g.
    /// the interface went away), or `None` when stopped on request.
    pub fn capture(
        &mut self,
        stop: &AtomicBool,
        mut on: impl FnMut(LiveEvent<'_>),
    ) -> Option<String> {
        let LiveCapture { cap, link, stats } = self;
        let link = *link;
        let mut acc = StatAccumulator::default();
        let mut error = None;
        let mut last_tick = Instant::now();
        acc.update(cap, stats);
        while !stop.load(Ordering::Relaxed) {
            match cap.dispatch(Some(DISPATCH_BATCH), |p| {
                on(LiveEvent::Packet(packet(&p, link)));
            }) {
                Ok(0) => {
                    // The ring is empty: wait for a packet. Quiet is reported only when the
                    // link has been quiet for a whole timeout (the pipeline then sends its
                    // half-full batches): flushing whenever the ring runs dry would send
                    // one-packet batches at moderate rates and fill the queues with them.
                    let mut fds = [PollFd::new(cap.as_fd(), PollFlags::POLLIN)];
                    match poll(&mut fds, PollTimeout::from(POLL_TIMEOUT_MS)) {
                        Ok(0) => on(LiveEvent::Idle),
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
                acc.update(cap, stats);
                on(LiveEvent::Tick {
                    now_ns: wall_ns(),
                    stats,
                });
            }
        }
        if error.is_none() {
            // Packets the kernel already holds were seen before the stop: count them.
            let until = Instant::now()
                .checked_add(DRAIN_LIMIT)
                .unwrap_or_else(Instant::now);
            while Instant::now() < until {
                match cap.dispatch(Some(DISPATCH_BATCH), |p| {
                    on(LiveEvent::Packet(packet(&p, link)));
                }) {
                    Ok(n) if n > 0 => {}
                    _ => break,
                }
            }
        }
        acc.update(cap, stats);
        error
    }

    /// libpcap's statistics so far (the interface and its link type, received, dropped).
    pub fn stats(&self) -> &CaptureStats {
        &self.stats
    }
}
