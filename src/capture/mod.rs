//! Packet sources: savefiles (always) and live interfaces (cargo feature `live`).

#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

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

/// Bytes of libpcap's ring slot header before the captured bytes on Linux (TPACKET_V2, which
/// libpcap uses in immediate mode: 52-byte frame header and address, 256 bytes of room for a
/// link header, 4 for a VLAN tag, less the link header itself).
const RING_SLOT_OVERHEAD: u32 = 68;

/// Default bytes captured per packet on a live interface: 16,316, so each slot of the kernel
/// ring is exactly 16 KiB. In immediate mode Linux libpcap gives every packet a fixed slot of
/// the snap length (plus its header), so the snap length decides how many packets the kernel
/// buffer holds: 8,192 with the default buffer, where 65,535 would give 2,045 slots (and
/// twice the memory, slots being rounded up to a power of two). Every ordinary or jumbo frame
/// is captured whole; only receive-offload aggregates (GRO, up to 64 KiB of one connection's
/// back-to-back segments) beyond it are cut, which is counted in `truncated_segments`.
pub const DEFAULT_SNAPLEN: u32 = 16 * 1024 - RING_SLOT_OVERHEAD;

/// Smallest snap length accepted: Ethernet + VLAN + IPv6 + TCP headers with options, and the
/// first bytes of a TLS record.
pub const MIN_SNAPLEN: u32 = 256;

/// Largest snap length accepted (libpcap's own maximum).
pub const MAX_SNAPLEN: u32 = 262_144;

/// Default kernel capture buffer (bytes): 128 MiB, 8,192 packets with the default snap
/// length, which rides out scheduling stalls of tens of milliseconds at a few hundred thousand
/// packets per second. libpcap's own default (2 MiB, 128 packets) drops heavily under bursts.
pub const DEFAULT_BUFFER_SIZE: u32 = 128 << 20;

/// Smallest kernel buffer accepted (bytes).
pub const MIN_BUFFER_SIZE: u32 = 4096;

/// Largest kernel buffer accepted (bytes; libpcap takes an `int`).
pub const MAX_BUFFER_SIZE: u32 = i32::MAX as u32;

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
