//! # hellowatch
//!
//! A passive TLS handshake sniffer: for every client IP, which TLS versions it offered and
//! negotiated, which alerts it met and how many handshakes failed — from live traffic or from
//! saved pcap/pcapng files.
//!
//! ```text
//! capture (savefile / libpcap) ─► engine (one per worker, owns its connections)
//!     wire::decode ─► flow (bounded table, reassembly of the first bytes of each direction)
//!     ─► tls (pure incremental extraction) ─► tally (per-client census) ─► report
//!                                     └─ once per settled connection ─► metrics (/metrics)
//! ```
//!
//! One run layer, [`run`], drives a source (savefiles or libpcap, which only produce packets)
//! through the engines and the [`pipeline`] into the sinks (report, [`events`], [`metrics`]),
//! from one validated [`run::Plan`]. The flags and their validation live in the binary
//! (`src/bin/hellowatch/`); the library builds without them (`--no-default-features`).
//!
//! Everything below `capture` is pure: no I/O, no clock (time is the packet timestamp), no
//! logging, and no panics on any input.

pub mod capture;
pub mod closed;
pub mod counters;
pub mod engine;
pub mod events;
pub mod flow;
pub mod merge;
pub mod metrics;
pub mod pipeline;
pub mod policy;
pub mod quic;
pub mod report;
pub mod run;
pub mod state;
pub mod tally;
pub mod tls;
pub mod upgrade;
pub mod wire;
