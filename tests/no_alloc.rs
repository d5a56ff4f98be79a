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

fn frame(from_client: bool, seq: u32, syn: bool, ack: bool, payload: &[u8]) -> Vec<u8> {
    let (src, dst, sp, dp) = if from_client {
        ([10, 1, 1, 1], [10, 2, 2, 2], 50000, 443)
    } else {
        ([10, 2, 2, 2], [10, 1, 1, 1], 443, 50000)
    };
    let mut b = PacketBuilder::ethernet2([1; 6], [2; 6])
        .ipv4(src, dst, 64)
        .tcp(sp, dp, seq, 65535);
    if syn {
        b = b.syn();
    }
    if ack {
        b = b.ack(1);
    }
    let mut out = Vec::new();
    b.write(&mut out, payload).unwrap();
    out
}

fn record(ct: u8, payload: &[u8]) -> Vec<u8> {
    let mut r = vec![ct, 3, 3, (payload.len() >> 8) as u8, payload.len() as u8];
    r.extend_from_slice(payload);
    r
}

fn hello(ty: u8, version: u16) -> Vec<u8> {
    let mut body = version.to_be_bytes().to_vec();
    body.extend_from_slice(&[7; 32]);
    body.push(0);
    if ty == 1 {
        body.extend_from_slice(&[0, 2, 0xc0, 0x2f, 1, 0]);
    } else {
        body.extend_from_slice(&[0xc0, 0x2f, 0]);
    }
    let mut m = vec![ty, 0, (body.len() >> 8) as u8, body.len() as u8];
    m.extend_from_slice(&body);
    record(22, &m)
}

#[test]
fn settled_connections_and_irrelevant_packets_allocate_nothing() {
    let mut e = Engine::new(EngineConfig::default());
    let (mut cs, mut ss) = (1000u32, 9000u32);
    let mut t = 1_000_000_000u64;
    let mut feed = |e: &mut Engine, f: &[u8]| {
        t += 1000;
        e.packet(t, LinkType::Ethernet, f, &mut ());
    };
    // Handshake: SYN, SYN-ACK, ClientHello, ServerHello, CCS both ways (TLS 1.2) → settled.
    feed(&mut e, &frame(true, cs, true, false, &[]));
    feed(&mut e, &frame(false, ss, true, true, &[]));
    cs += 1;
    ss += 1;
    let ch = hello(1, 0x0303);
    feed(&mut e, &frame(true, cs, false, true, &ch));
    cs += ch.len() as u32;
    let sh = hello(2, 0x0303);
    feed(&mut e, &frame(false, ss, false, true, &sh));
    ss += sh.len() as u32;
    let ccs = [record(20, &[1]), record(22, &[0x44; 40])].concat();
    feed(&mut e, &frame(true, cs, false, true, &ccs));
    cs += ccs.len() as u32;
    feed(&mut e, &frame(false, ss, false, true, &ccs));
    ss += ccs.len() as u32;

    // Steady state: pre-built bulk segments, pure ACKs, and non-TCP noise.
    let bulk: Vec<Vec<u8>> = (0..200u32)
        .map(|i| {
            frame(
                i % 2 == 0,
                if i % 2 == 0 {
                    cs + i * 1400
                } else {
                    ss + i * 1400
                },
                false,
                true,
                &[0x17; 1400],
            )
        })
        .collect();
    let acks: Vec<Vec<u8>> = (0..200u32)
        .map(|i| frame(i % 2 == 1, cs + i, false, true, &[]))
        .collect();
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
