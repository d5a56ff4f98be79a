//! Regression guard for the fast path: once a connection's handshake has settled, its later
//! packets (bulk data, pure ACKs) and packets that cannot matter allocate nothing — measured
//! with a counting global allocator around the real decode → engine path.
// Test code: a broken expectation should panic, with the values at hand.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)]

mod common;

use common::packets::{Conn, ccs_finished, client_hello, record, server_hello};
use etherparse::PacketBuilder;
use hellowatch::engine::{Engine, EngineConfig};
use hellowatch::wire::LinkType;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator; only counts calls.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn settled_connections_and_irrelevant_packets_allocate_nothing() {
    let mut e = Engine::new(EngineConfig::default());
    let mut t = 1_000_000_000u64;
    let mut feed = |e: &mut Engine, f: &[u8]| {
        t += 1000;
        e.packet(t, LinkType::Ethernet, f, &mut ());
    };
    // Handshake: SYN, SYN-ACK, ClientHello, ServerHello, CCS both ways (TLS 1.2) → settled.
    let mut c = Conn::new([10, 1, 1, 1], 50000, [10, 2, 2, 2]);
    for f in [
        c.syn(),
        c.syn_ack(),
        c.client(&record(22, &client_hello(0x0303, &[]))),
        c.server(&record(22, &server_hello(0x0303))),
        c.client(&ccs_finished()),
        c.server(&ccs_finished()),
    ] {
        feed(&mut e, &f);
    }

    // Steady state: pre-built bulk segments, pure ACKs, and non-TCP noise.
    let bulk: Vec<Vec<u8>> = (0..200u32)
        .map(|i| {
            if i % 2 == 0 {
                c.client(&[0x17; 1400])
            } else {
                c.server(&[0x17; 1400])
            }
        })
        .collect();
    let acks: Vec<Vec<u8>> = (0..200u32).map(|i| c.ack(i % 2 == 1)).collect();
    let mut udp = Vec::new();
    PacketBuilder::ethernet2([1; 6], [2; 6])
        .ipv4([1, 1, 1, 1], [2, 2, 2, 2], 9)
        .udp(53, 53)
        .write(&mut udp, b"dns?")
        .unwrap();

    let before = ALLOCS.load(Ordering::Relaxed);
    for _ in 0..50 {
        for (b, a) in bulk.iter().zip(&acks) {
            feed(&mut e, b);
            feed(&mut e, a);
            feed(&mut e, &udp);
        }
    }
    let allocs = ALLOCS.load(Ordering::Relaxed) - before;
    assert_eq!(
        allocs, 0,
        "{allocs} allocations while processing 30,000 steady-state packets"
    );
    assert_eq!(e.counters().packets, 6 + 30_000);
    e.finish(&mut ());
    assert_eq!(e.census().totals.hellos, 1);
    assert_eq!(e.census().connections, 1);
}
