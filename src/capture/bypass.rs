//! `live --bypass`: the kernel drops the packets of connections the census no longer needs.
//!
//! An eBPF socket filter (`bpf/bypass.c`, compiled by `build.rs` with clang, loaded with
//! aya) is attached to every capture socket (`SO_ATTACH_BPF`, in place of a classic filter: a
//! socket holds one, so the user's `-f` filter is applied in user space, see
//! [`crate::capture::live`]). It looks each TCP segment's connection up, direction-independent,
//! in an LRU hash map and drops the segment when found, counting packets and bytes in a
//! per-CPU array. The workers insert a connection's key when the engine reports it settled
//! for good ([`crate::engine::SettleSink::bypass`], the rule is
//! [`crate::flow::TlsState::read_all`]).
//!
//! Never dropped: non-Ethernet links, IPv4 fragments, IPv6 with extension headers,
//! tunnelled packets (the kernel sees the outer header), and TCP segments with SYN, FIN or
//! RST (a SYN also deletes its connection's key: port reuse starts a connection that must be
//! read again). The map is an LRU: when full, the least recently used keys go first (their
//! connections' packets are read again, costing time, not census).

use crate::counters::Counters;
use crate::flow::FlowKey;
use aya::maps::{HashMap, MapData, PerCpuArray};
use aya::programs::SocketFilter;
use aya::{Ebpf, EbpfLoader};
use std::os::fd::AsFd;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The compiled socket filter (`$OUT_DIR/bypass.o`).
static PROGRAM: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/bypass.o"));

/// Connections the map holds by default (an LRU: the least recently used go when full). The
/// kernel preallocates about 100 bytes per entry.
pub const DEFAULT_ENTRIES: u32 = 262_144;

/// Bytes of a key: lower address (16), higher address (16), their ports (2 + 2, network
/// order), the IP protocol, 3 bytes of padding. Must match `struct key` in bpf/bypass.c.
pub const KEY_LEN: usize = 40;

/// A key of the map.
pub type Key = [u8; KEY_LEN];

/// TCP (the only protocol bypassed).
const PROTO_TCP: u8 = 6;

/// Why `--bypass` could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum BypassError {
    /// Loading the object, the program or its maps failed (kernel without eBPF, missing
    /// privileges: CAP_BPF or CAP_SYS_ADMIN).
    #[error("--bypass: cannot load the eBPF socket filter ({step}): {why}")]
    Load {
        /// What was being done.
        step: &'static str,
        /// The loader's reason.
        why: String,
    },
    /// Attaching to a capture socket failed.
    #[error("--bypass: cannot attach the eBPF socket filter to the capture socket: {0}")]
    Attach(String),
}

/// The map key of a TCP connection: the lower (address, port) endpoint first, addresses as
/// 16 bytes (IPv4 mapped into IPv6), ports in network order; what bpf/bypass.c builds from a
/// packet of either direction.
pub fn key_of(flow: &FlowKey) -> Key {
    let end = |side| {
        let e = flow.end(side);
        let ip = match e.ip {
            std::net::IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
            std::net::IpAddr::V6(a) => a.octets(),
        };
        (ip, e.port.to_be_bytes())
    };
    let (a, b) = (end(0), end(1));
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let mut k = [0u8; KEY_LEN];
    for (dst, src) in k.iter_mut().zip(
        lo.0.iter()
            .chain(&hi.0)
            .chain(&lo.1)
            .chain(&hi.1)
            .chain(&[PROTO_TCP]),
    ) {
        *dst = *src;
    }
    k
}

/// The loaded program (attach it with [`Bypass::attach`]) and its maps.
pub struct Bypass {
    ebpf: Ebpf,
    maps: BypassMaps,
}

impl std::fmt::Debug for Bypass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bypass")
            .field("maps", &self.maps)
            .finish_non_exhaustive()
    }
}

/// The program's maps, shared by the workers (which insert keys) and the run layer (which
/// reads the counters).
pub struct BypassMaps {
    map: Mutex<HashMap<MapData, Key, u8>>,
    counts: PerCpuArray<MapData, [u64; 2]>,
    inserted: AtomicU64,
    refused: AtomicU64,
}

impl std::fmt::Debug for BypassMaps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BypassMaps")
            .field("inserted", &self.inserted)
            .field("refused", &self.refused)
            .finish_non_exhaustive()
    }
}

impl Bypass {
    /// Loads the program with a map of `entries` connections (needs CAP_BPF or
    /// CAP_SYS_ADMIN; afterwards the file descriptors are enough).
    pub fn load(entries: u32) -> Result<Bypass, BypassError> {
        let err = |step| {
            move |e: &dyn std::fmt::Display| BypassError::Load {
                step,
                why: e.to_string(),
            }
        };
        let mut ebpf = EbpfLoader::new()
            .map_max_entries("bypass", entries.max(1))
            .load(PROGRAM)
            .map_err(|e| err("object")(&e))?;
        let prog: &mut SocketFilter = ebpf
            .program_mut("hellowatch_bypass")
            .ok_or_else(|| err("program")(&"not in the object"))?
            .try_into()
            .map_err(|e| err("program")(&e))?;
        prog.load().map_err(|e| err("verifier")(&e))?;
        let map = ebpf
            .take_map("bypass")
            .ok_or_else(|| err("map")(&"not in the object"))?;
        let map = HashMap::try_from(map).map_err(|e| err("map")(&e))?;
        let counts = ebpf
            .take_map("bypass_counts")
            .ok_or_else(|| err("counts")(&"not in the object"))?;
        let counts = PerCpuArray::try_from(counts).map_err(|e| err("counts")(&e))?;
        Ok(Bypass {
            ebpf,
            maps: BypassMaps {
                map: Mutex::new(map),
                counts,
                inserted: AtomicU64::new(0),
                refused: AtomicU64::new(0),
            },
        })
    }

    /// The maps.
    pub fn maps(&self) -> &BypassMaps {
        &self.maps
    }

    /// Attaches the program to a capture socket (replacing its classic filter, if any).
    pub fn attach(&mut self, socket: impl AsFd) -> Result<(), BypassError> {
        let prog: &mut SocketFilter = self
            .ebpf
            .program_mut("hellowatch_bypass")
            .and_then(|p| p.try_into().ok())
            .ok_or_else(|| BypassError::Attach("program missing".into()))?;
        prog.attach(socket)
            .map_err(|e| BypassError::Attach(e.to_string()))
    }
}

impl BypassMaps {
    /// Has the kernel drop the rest of this TCP connection (counted: inserted, or refused
    /// when the map will not take it).
    pub fn insert(&self, flow: &FlowKey) {
        let key = key_of(flow);
        let ok = match self.map.lock() {
            Ok(mut m) => m.insert(key, 1u8, 0).is_ok(),
            Err(_) => false,
        };
        let c = if ok { &self.inserted } else { &self.refused };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether the map holds this connection (tests).
    pub fn contains(&self, flow: &FlowKey) -> bool {
        self.map
            .lock()
            .is_ok_and(|m| m.get(&key_of(flow), 0).is_ok())
    }

    /// The bypass counters so far: packets and bytes dropped in the kernel (summed over the
    /// CPUs), keys inserted, keys refused. The other counters are zero.
    pub fn counters(&self) -> Counters {
        let (mut packets, mut bytes) = (0u64, 0u64);
        if let Ok(per_cpu) = self.counts.get(&0, 0) {
            for v in per_cpu.iter() {
                let [p, b] = *v;
                packets = packets.saturating_add(p);
                bytes = bytes.saturating_add(b);
            }
        }
        Counters {
            bypass_packets: packets,
            bypass_bytes: bytes,
            bypass_flows: self.inserted.load(Ordering::Relaxed),
            bypass_map_full: self.refused.load(Ordering::Relaxed),
            ..Counters::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Endpoint;

    #[test]
    fn key_is_direction_independent_and_laid_out_like_the_c_struct() {
        let a = Endpoint {
            ip: "10.0.0.2".parse().unwrap(),
            port: 443,
        };
        let b = Endpoint {
            ip: "10.0.0.1".parse().unwrap(),
            port: 50000,
        };
        let (k1, _) = FlowKey::new(a, b);
        let (k2, _) = FlowKey::new(b, a);
        let k = key_of(&k1);
        assert_eq!(k, key_of(&k2));
        let mut want = [0u8; KEY_LEN];
        want[10..16].copy_from_slice(&[0xff, 0xff, 10, 0, 0, 1]);
        want[26..32].copy_from_slice(&[0xff, 0xff, 10, 0, 0, 2]);
        want[32..34].copy_from_slice(&50000u16.to_be_bytes());
        want[34..36].copy_from_slice(&443u16.to_be_bytes());
        want[36] = 6;
        assert_eq!(k, want);
    }
}
