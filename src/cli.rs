//! Command line: raw flags (clap) and their validation into typed settings.

use crate::capture::{self, LiveConfig};
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
    /// Sniff an interface until SIGINT/SIGTERM, then print the census.
    #[cfg(feature = "live")]
    #[command(after_help = "Examples:\n  \
        hellowatch live -i eth1 --promisc --format json --output census.json\n  \
        hellowatch live -i any -f 'tcp port 443 or tcp port 8443' --user hellowatch\n\n\
        Stops on SIGINT or SIGTERM: the queues are drained, open connections are settled and\n\
        the census is written; exit status 0. Packets dropped by the kernel buffer, the\n\
        interface or hellowatch's own queues are counted in the report. Exit status 2 when\n\
        the interface cannot be opened, the filter is bad or privileges cannot be dropped;\n\
        1 when the report cannot be written or the capture failed part-way (the census of\n\
        what was read is still written).")]
    Live(LiveArgs),
    /// Sniff an interface (not in this build: rebuild with `--features live`, needs
    /// libpcap-dev).
    #[cfg(not(feature = "live"))]
    #[command(disable_help_flag = true)]
    Live(LiveUnavailable),
}

/// `hellowatch live` in a build without the `live` feature: takes any arguments, and the
/// binary answers with one line saying how to enable it.
#[derive(Debug, Args)]
pub struct LiveUnavailable {
    /// Ignored.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    pub args: Vec<std::ffi::OsString>,
}

/// Report format and destination, shared by replay and live.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Report format (default: table on a terminal, json otherwise).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write the report here instead of standard output.
    #[arg(long, short, value_name = "PATH")]
    pub output: Option<PathBuf>,
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
        })
    }
}

/// `hellowatch replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Capture files (pcap or pcapng), read in order as one capture.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Report.
    #[command(flatten)]
    pub report: ReportArgs,
    /// Worker threads (1: everything on one thread). The census is the same for any number.
    #[arg(long, default_value = "1", value_name = "N", value_parser = parse_workers)]
    pub workers: NonZeroUsize,
    /// Limits.
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// `hellowatch live`.
#[derive(Debug, Args)]
pub struct LiveArgs {
    /// Interface to sniff (`any`: every interface, Linux).
    #[arg(long, short = 'i', value_name = "IFACE")]
    pub interface: String,
    /// BPF capture filter (tcpdump syntax), e.g. 'tcp port 443'.
    #[arg(long, short = 'f', value_name = "BPF")]
    pub filter: Option<String>,
    /// Bytes captured per packet.
    #[arg(long, default_value_t = capture::DEFAULT_SNAPLEN, value_name = "N")]
    pub snaplen: u32,
    /// Kernel capture buffer in bytes (small buffers drop packets under bursts).
    #[arg(long, default_value_t = capture::DEFAULT_BUFFER_SIZE, value_name = "BYTES")]
    pub buffer_size: u32,
    /// Worker threads besides the capture thread [default: CPUs - 1, at least 1].
    #[arg(long, value_name = "N", value_parser = parse_workers)]
    pub workers: Option<NonZeroUsize>,
    /// Put the interface in promiscuous mode (needed on most mirror/SPAN ports).
    #[arg(long)]
    pub promisc: bool,
    /// Drop root privileges to this user once the capture is open.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Report.
    #[command(flatten)]
    pub report: ReportArgs,
    /// Limits.
    #[command(flatten)]
    pub limits: LimitArgs,
}

impl LiveArgs {
    /// Validated capture settings.
    pub fn live_config(&self) -> Result<LiveConfig, String> {
        if self.interface.is_empty() {
            return Err("-i/--interface must name an interface".into());
        }
        if !(capture::MIN_SNAPLEN..=capture::MAX_SNAPLEN).contains(&self.snaplen) {
            return Err(format!(
                "--snaplen must be between {} and {}",
                capture::MIN_SNAPLEN,
                capture::MAX_SNAPLEN
            ));
        }
        if !(capture::MIN_BUFFER_SIZE..=capture::MAX_BUFFER_SIZE).contains(&self.buffer_size) {
            return Err(format!(
                "--buffer-size must be between {} and {} bytes",
                capture::MIN_BUFFER_SIZE,
                capture::MAX_BUFFER_SIZE
            ));
        }
        Ok(LiveConfig {
            interface: self.interface.clone(),
            filter: self.filter.clone().filter(|f| !f.trim().is_empty()),
            snaplen: self.snaplen,
            buffer_size: self.buffer_size,
            promisc: self.promisc,
            user: self.user.clone(),
        })
    }

    /// Worker threads: the flag, else one per CPU but the capture thread's (at least 1).
    pub fn workers(&self) -> usize {
        match self.workers {
            Some(n) => n.get(),
            None => std::thread::available_parallelism()
                .map_or(1, |n| n.get().saturating_sub(1))
                .clamp(1, crate::pipeline::MAX_WORKERS),
        }
    }
}
