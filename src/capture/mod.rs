//! Packet sources: savefiles (always) and live interfaces (cargo feature `live`).

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

/// Default bytes captured per packet on a live interface: the largest IPv4/IPv6 packet, so a
/// receive-offload aggregate (GRO/LRO, up to 64 KiB) is not cut. With immediate mode Linux
/// libpcap gives every packet a ring slot of this size when offloads are on, so it also sets
/// how many packets the kernel buffer holds (`--buffer-size / snaplen`).
pub const DEFAULT_SNAPLEN: u32 = 65_535;

/// Smallest snap length accepted: Ethernet + VLAN + IPv6 + TCP headers with options, and the
/// first bytes of a TLS record.
pub const MIN_SNAPLEN: u32 = 256;

/// Largest snap length accepted (libpcap's own maximum).
pub const MAX_SNAPLEN: u32 = 262_144;

/// Default kernel capture buffer (bytes): 128 MiB, about 2,000 full-size slots, which rides out
/// bursts and scheduling stalls of tens of milliseconds at several hundred thousand packets per
/// second. libpcap's own default (2 MiB) drops heavily under bursts.
pub const DEFAULT_BUFFER_SIZE: u32 = 128 << 20;

/// Smallest kernel buffer accepted (bytes).
pub const MIN_BUFFER_SIZE: u32 = 4096;

/// Largest kernel buffer accepted (bytes; libpcap takes an `int`).
pub const MAX_BUFFER_SIZE: u32 = i32::MAX as u32;

/// What to capture live, validated (see `cli::LiveArgs`).
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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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
