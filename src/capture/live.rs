//! Live capture from an interface through libpcap (the safe `pcap` crate): a packet source.
//!
//! [`LiveCapture::capture`] runs on the caller's thread, reads packets with `pcap_dispatch`
//! straight out of the kernel ring and hands each one, borrowed, to the caller (the run layer,
//! [`crate::run`], which routes it to a worker without ever blocking on one). It only produces
//! packets, quiet spells and ticks; what is done with them is the run layer's business.
//!
//! * **TPACKET_V3 ring** (libpcap's default on Linux, kept by *not* asking for immediate
//!   mode): the kernel writes packets back to back into blocks of [`crate::capture::RING_BLOCK_SIZE`], each
//!   taking its captured bytes plus [`crate::capture::RING_FRAME_OVERHEAD`], and hands a block
//!   over when it is full or [`BLOCK_TIMEOUT_MS`] after it was opened, so a quiet link still
//!   delivers. (Immediate mode made libpcap fall back to TPACKET_V2, where every packet takes
//!   a whole snap-length slot: the same buffer held 20 times fewer packets of a realistic
//!   mix.) The handle is non-blocking and the loop waits in `poll(2)` for at most
//!   [`POLL_TIMEOUT_MS`], so a quiet link still wakes it to notice a stop request and report
//!   the quiet spell (the pipeline then flushes half-full batches).
//! * **Capture threads** ([`LiveCapture::open`] with `capture_threads` > 1): that many
//!   handles on the interface, joined to one kernel `PACKET_FANOUT` group
//!   (`PACKET_FANOUT_HASH`, a symmetric hash of the addresses and ports, so both directions of
//!   a connection reach the same handle; `PACKET_FANOUT_FLAG_DEFRAG`, so the fragments of a
//!   datagram do too). libpcap has no fanout API: the group is joined with `setsockopt` on
//!   the handle's socket ([`join_fanout`]). Each handle is read by its own thread.
//! * **Ticks.** About every [`TICK_INTERVAL`] of wall time libpcap's statistics are read and
//!   a tick carrying the wall clock is reported (the run layer flushes pending batches, tells
//!   the workers the time so idle connections expire on a quiet link, and publishes metrics).
//!   Kernel timestamps and the wall clock are the same clock (`CLOCK_REALTIME`), so a tick is
//!   packet time that has passed without packets.
//! * **Statistics.** libpcap's `ps_recv`/`ps_drop`/`ps_ifdrop` (the socket's
//!   `PACKET_STATISTICS`, per handle) are 32-bit and wrap after a few hours at a high rate;
//!   they are read every tick and accumulated into 64 bits.
//! * **Stopping.** The caller's flag (set by SIGINT/SIGTERM) is checked after every read (at
//!   most [`POLL_TIMEOUT_MS`] apart; a signal also interrupts the wait). The ring is then
//!   drained, the block being filled included (it is handed over within the block timeout),
//!   for at most [`DRAIN_LIMIT`] and the capture returns; the run layer drains the queues,
//!   settles every open connection and writes the census.

use crate::capture::{CaptureStats, LiveConfig, Packet};
use crate::wire::LinkType;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Kernel ring block timeout (ms, `pcap_set_timeout`): a block that is not full is handed to
/// hellowatch at most this long after it was opened, so packets on a quiet link are seen
/// within it (and idle connections settle on time); short enough that a stop loses nothing,
/// long enough that a moderate rate fills blocks rather than waking the thread per packet.
pub const BLOCK_TIMEOUT_MS: u16 = 50;

/// After a stop request (and when a fanout group is set up), how long an empty ring is
/// waited on for the block being filled: twice the block timeout.
const BLOCK_WAIT_MS: u16 = 2 * BLOCK_TIMEOUT_MS;

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
    /// The handles cannot be joined to one fanout group (`--capture-threads`).
    #[error("{interface}: cannot spread capture over {threads} threads (PACKET_FANOUT): {source}")]
    Fanout {
        /// The interface.
        interface: String,
        /// Capture threads asked for.
        threads: usize,
        /// The OS error.
        source: nix::Error,
    },
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
    acc: StatAccumulator,
    /// `--bypass`: the user's filter, applied in user space (the socket's one filter slot
    /// holds the bypass program); compiled again on the capture thread (libpcap's compiled
    /// program cannot move between threads).
    user_filter: Option<String>,
}

/// The capture socket (to attach a socket filter to it: `--bypass`).
impl AsFd for LiveCapture {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.cap.as_fd()
    }
}

impl std::fmt::Debug for LiveCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveCapture")
            .field("link", &self.link)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// A BPF filter that passes nothing: fanout handles hold it until the group is complete.
const REJECT_ALL: &str = "less 0";

impl LiveCapture {
    /// Opens `cfg.capture_threads` handles on the interface (TPACKET_V3 with
    /// [`BLOCK_TIMEOUT_MS`], non-blocking, the given snap length and promiscuity, the buffer
    /// split evenly over the handles), sets the filter and checks the link type. More than
    /// one handle: they are joined to one `PACKET_FANOUT` group, and what each one received
    /// before the group was complete (every packet, on every handle) is discarded and left
    /// out of its statistics, so no packet is read twice.
    ///
    /// With `cfg.bypass` the filter is not set on the sockets but applied in user space to
    /// what the bypass program keeps (it is checked here all the same).
    pub fn open(cfg: &LiveConfig) -> Result<Vec<LiveCapture>, LiveError> {
        let mut caps = LiveCapture::open_handles(cfg)?;
        if cfg.bypass {
            for c in &mut caps {
                if let Some(f) = &cfg.filter {
                    c.cap.compile(f, true).map_err(|source| LiveError::Filter {
                        interface: cfg.interface.clone(),
                        filter: f.clone(),
                        source,
                    })?;
                }
                c.user_filter.clone_from(&cfg.filter);
            }
        }
        Ok(caps)
    }

    fn open_handles(cfg: &LiveConfig) -> Result<Vec<LiveCapture>, LiveError> {
        let threads = cfg.capture_threads.max(1);
        // With --bypass the socket's filter slot is the bypass program's.
        let kernel_filter = cfg.filter.as_deref().filter(|_| !cfg.bypass);
        if threads == 1 {
            return Ok(vec![LiveCapture::open_one(
                cfg,
                cfg.buffer_size,
                kernel_filter,
            )?]);
        }
        let per_handle = cfg
            .buffer_size
            .checked_div(u32::try_from(threads).unwrap_or(u32::MAX))
            .unwrap_or(cfg.buffer_size)
            .max(crate::capture::MIN_BUFFER_SIZE);
        let mut caps = Vec::with_capacity(threads);
        let mut group = None;
        for _ in 0..threads {
            let c = LiveCapture::open_one(cfg, per_handle, Some(REJECT_ALL))?;
            let id = join_fanout(&c.cap, group).map_err(|source| LiveError::Fanout {
                interface: cfg.interface.clone(),
                threads,
                source,
            })?;
            group = Some(id);
            caps.push(c);
        }
        // Every handle saw every packet until it joined; they passed no filter, but a block
        // may still hold some from before the filter was set: wait until it is handed over,
        // read and discard it, then count from here.
        std::thread::sleep(Duration::from_millis(u64::from(BLOCK_WAIT_MS)));
        for c in &mut caps {
            while matches!(c.cap.dispatch(Some(DISPATCH_BATCH), |_| {}), Ok(n) if n > 0) {}
            c.acc.baseline(&mut c.cap);
            let f = kernel_filter.unwrap_or("");
            c.cap.filter(f, true).map_err(|source| LiveError::Filter {
                interface: cfg.interface.clone(),
                filter: f.to_string(),
                source,
            })?;
        }
        Ok(caps)
    }

    /// One handle with `buffer` bytes of ring and `filter`.
    fn open_one(
        cfg: &LiveConfig,
        buffer: u32,
        filter: Option<&str>,
    ) -> Result<LiveCapture, LiveError> {
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
        let buffer = i32::try_from(buffer).unwrap_or(i32::MAX);
        let mut cap = pcap::Capture::from_device(cfg.interface.as_str())
            .map_err(open_err)?
            .immediate_mode(false)
            .timeout(i32::from(BLOCK_TIMEOUT_MS))
            .snaplen(snaplen)
            .buffer_size(buffer)
            .promisc(cfg.promisc)
            .open()
            .and_then(pcap::Capture::setnonblock)
            .map_err(open_err)?;
        if let Some(f) = filter {
            cap.filter(f, true).map_err(|source| LiveError::Filter {
                interface: cfg.interface.clone(),
                filter: f.to_string(),
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
            acc: StatAccumulator::default(),
            user_filter: None,
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

/// Joins the packet socket of `cap` to fanout group `group`, or (`None`) to a new group
/// whose id the kernel picks (`PACKET_FANOUT_FLAG_UNIQUEID`, so no other process's group is
/// joined by chance), and returns the group's id. Mode `PACKET_FANOUT_HASH` with
/// `PACKET_FANOUT_FLAG_DEFRAG`; the kernel refuses a member whose mode, flags, protocol or
/// device differ from the group's.
#[allow(unsafe_code)] // setsockopt/getsockopt on libpcap's socket: no safe API has PACKET_FANOUT
fn join_fanout(cap: &pcap::Capture<pcap::Active>, group: Option<u16>) -> Result<u16, nix::Error> {
    use std::os::fd::AsRawFd;
    let mut mode = libc::PACKET_FANOUT_HASH | libc::PACKET_FANOUT_FLAG_DEFRAG;
    if group.is_none() {
        mode |= libc::PACKET_FANOUT_FLAG_UNIQUEID;
    }
    // The option value: the group id in the low 16 bits, mode and flags in the high 16.
    let arg = u32::from(group.unwrap_or(0)) | mode.wrapping_shl(16);
    let arg = libc::c_int::from_ne_bytes(arg.to_ne_bytes());
    let int_len = libc::socklen_t::try_from(size_of::<libc::c_int>()).unwrap_or(4);
    let fd = cap.as_raw_fd();
    // SAFETY: `fd` is the open packet socket of `cap`, which is borrowed (so open) for the
    // whole call; the kernel reads exactly `int_len` bytes from `arg`, a `c_int` on this stack
    // frame that outlives the call, and keeps no pointer to it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_FANOUT,
            std::ptr::from_ref(&arg).cast(),
            int_len,
        )
    };
    if rc != 0 {
        return Err(nix::Error::last());
    }
    if let Some(id) = group {
        return Ok(id);
    }
    let mut got: libc::c_int = 0;
    let mut len = int_len;
    // SAFETY: as above; the kernel writes at most `len` (= size of `got`) bytes into `got` and
    // the actual length into `len`, both on this stack frame, outliving the call.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_FANOUT,
            std::ptr::from_mut(&mut got).cast(),
            std::ptr::from_mut(&mut len),
        )
    };
    if rc != 0 {
        return Err(nix::Error::last());
    }
    Ok(u16::try_from(u32::from_ne_bytes(got.to_ne_bytes()) & 0xffff).unwrap_or(0))
}

/// libpcap's 32-bit counters accumulated into 64 bits.
#[derive(Default)]
struct StatAccumulator {
    last: Option<pcap::Stat>,
}

impl StatAccumulator {
    /// Counts from now on: what the handle received so far is left out.
    fn baseline(&mut self, cap: &mut pcap::Capture<pcap::Active>) {
        if let Ok(now) = cap.stats() {
            self.last = Some(now);
        }
    }

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
        let LiveCapture {
            cap,
            link,
            stats,
            acc,
            user_filter,
        } = self;
        let link = *link;
        // `--bypass`: the user's filter, in user space (it compiled when the handle opened).
        let filter = user_filter
            .as_deref()
            .and_then(|f| cap.compile(f, true).ok());
        let wanted = |p: &pcap::Packet<'_>| filter.as_ref().is_none_or(|f| f.filter(p.data));
        let mut error = None;
        let mut last_tick = Instant::now();
        acc.update(cap, stats);
        while !stop.load(Ordering::Relaxed) {
            match cap.dispatch(Some(DISPATCH_BATCH), |p| {
                if wanted(&p) {
                    on(LiveEvent::Packet(packet(&p, link)));
                }
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
            // Packets the kernel already holds were seen before the stop: count them, the
            // ones of the block being filled too (handed over within the block timeout).
            let until = Instant::now()
                .checked_add(DRAIN_LIMIT)
                .unwrap_or_else(Instant::now);
            while Instant::now() < until {
                match cap.dispatch(Some(DISPATCH_BATCH), |p| {
                    if wanted(&p) {
                        on(LiveEvent::Packet(packet(&p, link)));
                    }
                }) {
                    Ok(0) => {
                        let mut fds = [PollFd::new(cap.as_fd(), PollFlags::POLLIN)];
                        match poll(&mut fds, PollTimeout::from(BLOCK_WAIT_MS)) {
                            Ok(n) if n > 0 => {}
                            Err(nix::Error::EINTR) => {}
                            _ => break,
                        }
                    }
                    Ok(_) => {}
                    Err(_) => break,
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
