//! UDP connections (DTLS, QUIC): a bounded table keyed by the unordered UDP endpoint pair.
//!
//! A UDP flow is created only by a datagram whose content starts a handshake
//! ([`crate::dtls::looks_like_dtls`], QUIC's Initial check); its protocol is fixed then, never
//! by port. A DTLS connection is one UDP 5-tuple (as tshark counts it); it settles when idle
//! (packet time), when evicted, or at the end of the input. The table is bounded: when full,
//! the least recently seen of [`EVICTION_SCAN`] entries from a moving hand is evicted (counted
//! by the engine). Time is the packet timestamp passed in; nothing here reads a clock.

#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

use super::{EVICTION_SCAN, FlowKey, Handshake};
use crate::dtls;
use std::collections::HashMap;

/// Default bound on tracked UDP connections (DTLS and QUIC together).
pub const DEFAULT_MAX_UDP_FLOWS: usize = 262_144;

/// What a UDP connection carries, decided by its first datagram.
#[derive(Debug)]
pub enum UdpProto {
    /// DTLS records (the parser holds fragment reassembly and the retransmission memory).
    Dtls(Box<dtls::ConnParser>),
}

/// A UDP connection entry.
#[derive(Debug)]
pub struct UdpConn {
    /// Endpoints.
    pub key: FlowKey,
    /// First packet time (ns).
    pub first_seen: u64,
    /// Last packet time (ns).
    pub last_seen: u64,
    /// Side (0/1) that sent the first datagram.
    pub first_sender: usize,
    /// Handshake facts (the same record as a TCP connection's).
    pub hs: Handshake,
    /// The protocol state.
    pub proto: UdpProto,
}

/// Index of a UDP connection in its table.
pub type UdpId = usize;

/// The bounded UDP connection table (slab + index, slab-order iteration: deterministic).
#[derive(Debug)]
pub struct UdpTable {
    slots: Vec<Option<UdpConn>>,
    free: Vec<UdpId>,
    /// Keyed with a per-process random seed, so crafted tuples cannot force collisions.
    index: HashMap<FlowKey, UdpId, foldhash::fast::RandomState>,
    max_flows: usize,
    hand: usize,
}

impl UdpTable {
    /// A table holding at most `max_flows` connections.
    pub fn new(max_flows: usize) -> Self {
        UdpTable {
            slots: Vec::new(),
            free: Vec::new(),
            index: HashMap::default(),
            max_flows: max_flows.max(1),
            hand: 0,
        }
    }

    /// Connections tracked now.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// No connection tracked.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Is the table at its bound?
    pub fn is_full(&self) -> bool {
        self.index.len() >= self.max_flows
    }

    /// Looks a key up.
    #[inline]
    pub fn find(&self, key: &FlowKey) -> Option<UdpId> {
        if self.index.is_empty() {
            return None; // no UDP connection: no hashing at all
        }
        self.index.get(key).copied()
    }

    /// The entry.
    pub fn get_mut(&mut self, id: UdpId) -> Option<&mut UdpConn> {
        self.slots.get_mut(id).and_then(Option::as_mut)
    }

    /// Inserts a new connection; the caller makes room first when [`UdpTable::is_full`].
    pub fn insert(&mut self, key: FlowKey, side: usize, now: u64, proto: UdpProto) -> UdpId {
        let conn = UdpConn {
            key,
            first_seen: now,
            last_seen: now,
            first_sender: side,
            hs: Handshake::default(),
            proto,
        };
        let id = match self.free.pop() {
            Some(id) => {
                if let Some(slot) = self.slots.get_mut(id) {
                    *slot = Some(conn);
                }
                id
            }
            None => {
                self.slots.push(Some(conn));
                self.slots.len().saturating_sub(1)
            }
        };
        self.index.insert(key, id);
        id
    }

    /// Removes and returns a connection.
    pub fn remove(&mut self, id: UdpId) -> Option<UdpConn> {
        let conn = self.slots.get_mut(id)?.take()?;
        self.index.remove(&conn.key);
        self.free.push(id);
        Some(conn)
    }

    /// The least recently seen among the next [`EVICTION_SCAN`] entries from a moving hand.
    pub fn victim(&mut self) -> Option<UdpId> {
        let n = self.slots.len();
        let mut i = self.hand.checked_rem(n)?;
        let mut best: Option<(u64, UdpId)> = None;
        let mut looked = 0usize;
        for _ in 0..n {
            if let Some(Some(c)) = self.slots.get(i) {
                if best.is_none_or(|(b, _)| c.last_seen < b) {
                    best = Some((c.last_seen, i));
                }
                looked = looked.saturating_add(1);
                if looked >= EVICTION_SCAN {
                    break;
                }
            }
            i = if i.saturating_add(1) < n {
                i.saturating_add(1)
            } else {
                0
            };
        }
        self.hand = if i.saturating_add(1) < n {
            i.saturating_add(1)
        } else {
            0
        };
        best.map(|(_, id)| id)
    }

    /// Ids of connections idle since before `cutoff`, in slab order.
    pub fn idle(&self, cutoff: u64, out: &mut Vec<UdpId>) {
        out.clear();
        for (i, s) in self.slots.iter().enumerate() {
            if s.as_ref().is_some_and(|c| c.last_seen < cutoff) {
                out.push(i);
            }
        }
    }

    /// Ids of all connections, in slab order.
    pub fn all(&self, out: &mut Vec<UdpId>) {
        out.clear();
        out.extend(
            self.slots
                .iter()
                .enumerate()
                .filter(|(_, s)| s.is_some())
                .map(|(i, _)| i),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Endpoint;

    fn key(port: u16) -> FlowKey {
        let a = Endpoint {
            ip: "10.0.0.1".parse().unwrap(),
            port,
        };
        let b = Endpoint {
            ip: "10.0.0.2".parse().unwrap(),
            port: 4433,
        };
        FlowKey::new(a, b).0
    }

    fn dtls() -> UdpProto {
        UdpProto::Dtls(Box::default())
    }

    #[test]
    fn bounded_and_evicts_the_least_recently_seen() {
        let mut t = UdpTable::new(3);
        assert_eq!(t.find(&key(1)), None);
        for (p, now) in [(1, 30), (2, 10), (3, 20)] {
            t.insert(key(p), 0, now, dtls());
        }
        assert!(t.is_full());
        let v = t.victim().unwrap();
        assert_eq!(t.remove(v).unwrap().key, key(2));
        assert_eq!(t.find(&key(2)), None);
        let id = t.insert(key(4), 1, 40, dtls());
        assert_eq!(t.find(&key(4)), Some(id));
        assert_eq!(t.get_mut(id).unwrap().first_sender, 1);
    }

    #[test]
    fn idle_connections_by_packet_time() {
        let mut t = UdpTable::new(10);
        t.insert(key(1), 0, 5, dtls());
        t.insert(key(2), 0, 50, dtls());
        let mut out = Vec::new();
        t.idle(10, &mut out);
        assert_eq!(out, vec![0]);
        t.all(&mut out);
        assert_eq!(out, vec![0, 1]);
    }
}
