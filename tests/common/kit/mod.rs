//! The test kit's builders: everything that makes packets, captures and pseudo-random bytes for
//! tests, benches and examples. It needs neither the built binary nor the library, so
//! `benches/` and `examples/` include it too (`#[path = "../tests/common/kit/mod.rs"] mod kit;`).
//!
//! - [`packets`]: pcap/pcapng writers and splitters, Ethernet/IPv4/IPv6/TCP frames, a TCP
//!   connection that keeps its sequence numbers, TLS records and hellos;
//! - [`rng`]: one deterministic generator;
//! - [`workload`]: the benchmark workload (connections re-played from `captures/`, with the
//!   ground-truth census), built from the two above.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)]

pub mod packets;
pub mod rng;
pub mod workload;
