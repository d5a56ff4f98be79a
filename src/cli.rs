//! Command line: raw flags (clap) and their validation into typed settings.

use crate::engine::EngineConfig;
use crate::report::Format;
use clap::{Args, Parser, Subcommand};
use std::num::NonZeroUsize;
use std::path::PathBuf;

fn parse_workers(s: &str) -> Result<NonZeroUsize, String> {
    let n: NonZeroUsize = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of workers (1 or more)"))?;
    if n.get() > crate::pipeline::MAX_WORKERS {
        return Err(format!("at most {} workers", crate::pipeline::MAX_WORKERS));
    }
    Ok(n)
}

/// Passive TLS handshake sniffer: which clients offer or negotiate legacy TLS.
#[derive(Debug, Parser)]
#[command(name = "hellowatch", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Replay pcap/pcapng files and print the per-client TLS version census.
    #[command(after_help = "Examples:\n  \
        hellowatch replay captures/demo-legacy-mix.pcap\n  \
        hellowatch replay monday.pcapng tuesday.pcapng --format json --output census.json\n  \
        hellowatch replay mirror-*.pcap --format csv > clients.csv\n\n\
        Exit status: 0 on success (a truncated or corrupt file still gives the census of what\n\
        was read, with a warning), 2 when a file cannot be opened or is not a capture, 1 when\n\
        the report cannot be written.")]
    Replay(ReplayArgs),
}

/// Limits shared by replay and live.
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Connections tracked at once; the least recently seen is evicted (and counted) beyond.
    #[arg(long, default_value_t = crate::flow::DEFAULT_MAX_FLOWS, value_name = "N")]
    pub max_flows: usize,
    /// Seconds of packet time after which an idle connection is settled and forgotten.
    #[arg(long, default_value_t = crate::flow::DEFAULT_IDLE_TIMEOUT_NS / 1_000_000_000, value_name = "SECS")]
    pub idle_timeout: u64,
    /// Bytes reassembled per connection direction before giving up on it (counted).
    #[arg(long, default_value_t = crate::flow::reassembly::DEFAULT_STREAM_CAP, value_name = "BYTES")]
    pub stream_cap: usize,
    /// Client entries kept in the census; more are counted in totals only.
    #[arg(long, default_value_t = crate::tally::DEFAULT_MAX_CLIENTS, value_name = "N")]
    pub max_clients: usize,
    /// Bytes buffered for reassembly over all connections; a connection direction that would
    /// exceed it is given up (counted).
    #[arg(long, default_value_t = crate::engine::DEFAULT_MAX_BUFFERED, value_name = "BYTES")]
    pub max_buffered: usize,
}

impl LimitArgs {
    /// Validated engine limits.
    pub fn engine_config(&self) -> Result<EngineConfig, String> {
        if self.max_flows == 0 {
            return Err("--max-flows must be at least 1".into());
        }
        if self.stream_cap < 512 {
            return Err("--stream-cap must be at least 512 bytes".into());
        }
        Ok(EngineConfig {
            max_flows: self.max_flows,
            idle_timeout_ns: self.idle_timeout.saturating_mul(1_000_000_000),
            stream_cap: self.stream_cap,
            max_clients: self.max_clients.max(1),
            max_buffered: self.max_buffered,
        })
    }
}

/// `hellowatch replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Capture files (pcap or pcapng), read in order as one capture.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Report format (default: table on a terminal, json otherwise).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write the report here instead of standard output.
    #[arg(long, short, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Worker threads (1: everything on one thread). The census is the same for any number.
    #[arg(long, default_value = "1", value_name = "N", value_parser = parse_workers)]
    pub workers: NonZeroUsize,
    /// Limits.
    #[command(flatten)]
    pub limits: LimitArgs,
}
