//! Packet sources: savefiles (always) and live interfaces (cargo feature `live`).

#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

#[cfg(feature = "bypass")]
pub mod bypass;
pub mod file;
#[cfg(feature = "live")]
pub mod live;

use crate::wire::LinkType;
use std::path::PathBuf;

/// One captured packet, borrowed from the source's buffer.
#[derive(Copy, Clone, Debug)]
pub struct Packet<'a> {
    /// Capture time, nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// Link type of `data`.
    pub link: LinkType,
    /// Captured bytes.
    pub data: &'a [u8],
    /// Length on the wire.
    pub orig_len: u32,
}

/// Setup errors of a packet source.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The file cannot be opened or read.
    #[error("{}: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a capture.
    #[error("{}: {why}", path.display())]
    NotACapture {
        /// The file.
        path: PathBuf,
        /// Why.
        why: &'static str,
    },
}

/// Largest TLS record on the wire: 16 KiB of plaintext, 256 bytes of protection expansion
/// (RFC 8446, section 5.2) and the 5-byte record header.
const TLS_RECORD_MAX: u32 = 16_384 + 256 + 5;

/// Room for the headers in front of a TLS record: link (Ethernet, two VLAN tags, Linux
/// SLL2), a tunnel (VXLAN, GRE, Geneve: outer IP, UDP and encapsulation headers), IPv6 and TCP
/// with options.
const HEADER_ROOM: u32 = 512;

/// Default bytes captured per packet on a live interface: 17,157, one whole TLS record of
/// the largest size and its headers. With TPACKET_V3 (the `live` source) a packet takes only its
/// captured bytes (plus [`RING_FRAME_OVERHEAD`]) in the kernel ring, whatever the snap length,
/// so the snap length only decides how much of a packet longer than it is kept: every
/// ordinary or jumbo frame is captured whole; only receive-offload aggregates (GRO, up to 64
/// KiB of one connection's back-to-back segments) are cut after their first record, which is
/// counted in `truncated_segments`. A larger snap length lets bulk-data aggregates, which the
/// census does not need, take more of the ring (`docs/live.md` has the arithmetic).
pub const DEFAULT_SNAPLEN: u32 = TLS_RECORD_MAX + HEADER_ROOM;

/// Bytes of the kernel ring a captured packet costs beyond its captured bytes (TPACKET_V3 on
/// Linux): the 48-byte `tpacket3_hdr` and the 20-byte `sockaddr_ll`, padding so the network
/// header starts 16-byte aligned, libpcap's 4-byte VLAN tag reserve, less the link header
/// itself (Ethernet: 14); each frame is then rounded up to 8 bytes.
pub const RING_FRAME_OVERHEAD: u32 = 86;

/// Kernel ring block of TPACKET_V3 as libpcap sets it up (its maximum snap length, 256 KiB):
/// the buffer is made of whole blocks (rounded up), and a block is handed to hellowatch when
/// it is full or after the block timeout.
pub const RING_BLOCK_SIZE: u32 = 262_144;

/// Smallest snap length accepted: Ethernet + VLAN + IPv6 + TCP headers with options, and the
/// first bytes of a TLS record.
pub const MIN_SNAPLEN: u32 = 256;

/// Largest snap length accepted (libpcap's own maximum).
pub const MAX_SNAPLEN: u32 = 262_144;

/// Default kernel capture buffer (bytes, split evenly over the capture threads): 128 MiB,
/// 512 ring blocks. A packet costs its captured bytes plus [`RING_FRAME_OVERHEAD`]: on the
/// shared benchmark mix (606 bytes per packet on average) that is about 190,000 packets, 0.6 s
/// of a 300,000 packets/s link, or about 1 s of a saturated 1 Gb/s link whatever the packet
/// sizes; enough to ride out a half-second stall (page-cache pressure, a scrape, a slow disk).
/// libpcap's own default (2 MiB) drops heavily under bursts.
pub const DEFAULT_BUFFER_SIZE: u32 = 128 << 20;

/// Smallest kernel buffer accepted (bytes; libpcap rounds a buffer up to whole
/// [`RING_BLOCK_SIZE`] blocks).
pub const MIN_BUFFER_SIZE: u32 = 4096;

/// Largest kernel buffer accepted (bytes; libpcap takes an `int`).
pub const MAX_BUFFER_SIZE: u32 = i32::MAX as u32;

/// Most capture threads accepted (`--capture-threads`): each is a libpcap handle of one
/// `PACKET_FANOUT` group with its own workers.
pub const MAX_CAPTURE_THREADS: usize = 16;

/// What to capture live, validated (the binary checks the flags).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveConfig {
    /// Interface name (`any` for all interfaces on Linux).
    pub interface: String,
    /// BPF filter expression, compiled by libpcap.
    pub filter: Option<String>,
    /// Bytes captured per packet.
    pub snaplen: u32,
    /// Kernel capture buffer (bytes).
    pub buffer_size: u32,
    /// Put the interface in promiscuous mode.
    pub promisc: bool,
    /// Drop root privileges to this user once the capture is open.
    pub user: Option<String>,
    /// Capture threads (1 to [`MAX_CAPTURE_THREADS`]): more than one opens that many handles
    /// in one kernel `PACKET_FANOUT` group, which spreads the connections over them.
    pub capture_threads: usize,
    /// `--bypass`: an eBPF socket filter drops the packets of settled connections in the
    /// kernel (feature `bypass`); the filter above is then applied in user space.
    pub bypass: bool,
}

/// Packet statistics of a live capture, as libpcap reports them (`pcap_stats`), accumulated
/// into 64 bits (libpcap's own counters are 32-bit and wrap on long runs).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct CaptureStats {
    /// The interface.
    pub interface: String,
    /// Link type name (libpcap's, e.g. `EN10MB`, `LINUX_SLL2`).
    pub link_type: String,
    /// Packets that passed the filter (on Linux including the ones dropped below).
    pub received: u64,
    /// Packets dropped because the kernel buffer was full (hellowatch did not read fast enough).
    pub dropped: u64,
    /// Packets dropped by the interface or its driver.
    pub if_dropped: u64,
}

/// What the sources read (the report's `"input"` section).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct InputSummary {
    /// The first packet time ever counted (kept across restarts with `--state`, the
    /// earliest of merged reports), RFC 3339; absent before the first packet.
    #[serde(
        with = "crate::report::time::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub since: Option<u64>,
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
    pub capture: Option<CaptureStats>,
}
