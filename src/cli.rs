//! Command line: raw flags (clap) and their validation into typed settings.

use crate::capture::{self, LiveConfig};
use crate::engine::EngineConfig;
use crate::metrics::clients::{
    ClientConfig, DEFAULT_CLIENT_SERIES_IDLE_SECS, DEFAULT_MAX_CLIENT_SERIES, Grouping,
};
use crate::metrics::{DEFAULT_PORT, MetricsConfig};
use crate::policy::{MAX_POLICIES, Policy};
use crate::report::Format;
use clap::{Args, Parser, Subcommand};
use std::net::{Ipv4Addr, SocketAddr};
use std::num::NonZeroUsize;
use std::path::PathBuf;

/// Largest `--max-client-series` accepted (each client costs a few hundred bytes, twice).
pub const MAX_CLIENT_SERIES_LIMIT: usize = 1_000_000;

fn parse_prefix(s: &str) -> Result<Grouping, String> {
    let bad = || format!("'{s}' is not V4LEN/V6LEN (e.g. 24/64; at most 32/128)");
    let (a, b) = s.split_once('/').ok_or_else(bad)?;
    let v4: u8 = a.parse().ok().filter(|n| *n <= 32).ok_or_else(bad)?;
    let v6: u8 = b.parse().ok().filter(|n| *n <= 128).ok_or_else(bad)?;
    Ok(Grouping::Prefix { v4, v6 })
}

fn parse_workers(s: &str) -> Result<NonZeroUsize, String> {
    let n: NonZeroUsize = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of workers (1 or more)"))?;
    if n.get() > crate::pipeline::MAX_WORKERS {
        return Err(format!("at most {} workers", crate::pipeline::MAX_WORKERS));
    }
    Ok(n)
}

fn parse_policy(s: &str) -> Result<Policy, String> {
    s.parse::<Policy>().map_err(|e| e.to_string())
}

/// Passive TLS handshake sniffer: which clients offer or negotiate legacy TLS.
#[derive(Debug, Parser)]
#[command(
    name = "hellowatch",
    version,
    about,
    long_about = None,
    after_help = "Examples:\n  \
        hellowatch replay captures/demo-legacy-mix.pcap --policy min=tls1.2\n  \
        hellowatch replay mirror.pcapng --events handshakes.jsonl --format json -o census.json\n  \
        hellowatch merge monday.json tuesday.json --format table\n  \
        hellowatch completions bash > /etc/bash_completion.d/hellowatch\n  \
        hellowatch man replay | man -l -"
)]
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
        hellowatch replay mirror-*.pcap --format csv > clients.csv\n  \
        hellowatch replay monday.pcap --metrics-file /var/lib/node_exporter/textfile/hellowatch.prom\n  \
        hellowatch replay monday.pcap --listen 127.0.0.1:12451 --hold\n  \
        hellowatch replay big.pcap --policy min=tls1.2 --policy min=tls1.3\n  \
        hellowatch replay big.pcap --events handshakes.jsonl --workers 4\n  \
        hellowatch replay big.pcap --events - -o census.json | jq 'select(.hellowatch.outcome != \"established\")'\n\n\
        Exit status: 0 on success (a truncated or corrupt file still gives the census of what\n\
        was read, with a warning; with --hold, after SIGTERM or SIGINT), 2 when a file cannot\n\
        be opened or is not a capture, a flag is invalid or --listen cannot listen, 1 when the\n\
        report, the events or the metrics file cannot be written.")]
    Replay(ReplayArgs),
    /// Sniff an interface until SIGINT/SIGTERM, then print the census.
    #[cfg(feature = "live")]
    #[command(after_help = "Examples:\n  \
        hellowatch live -i eth1 --promisc --format json --output census.json\n  \
        hellowatch live -i any -f 'tcp port 443 or tcp port 8443' --user hellowatch\n  \
        hellowatch live -i eth1 --events /var/log/hellowatch/handshakes.jsonl --policy min=tls1.2\n\n\
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
    /// Add JSON reports of several replays or sensors into one census.
    #[command(after_help = "Examples:\n  \
        hellowatch replay mon.pcap --format json -o mon.json   # on one machine\n  \
        hellowatch replay tue.pcap --format json -o tue.json   # on another\n  \
        hellowatch merge mon.json tue.json --format json -o week.json\n  \
        hellowatch merge week*.json --policy min=tls1.2 --format table\n\n\
        Reports add up in any order and grouping (merge of merges is fine). A connection split\n\
        across two captures is counted in both halves; split captures between connections.\n\n\
        Exit status: 0 on success, 2 when a file cannot be read or is not a hellowatch JSON\n\
        report, 1 when the result cannot be written.")]
    Merge(MergeArgs),
    /// Print a shell completion script.
    #[command(after_help = "Examples:\n  \
        hellowatch completions bash > /etc/bash_completion.d/hellowatch\n  \
        hellowatch completions zsh > \"${fpath[1]}/_hellowatch\"\n  \
        hellowatch completions fish > ~/.config/fish/completions/hellowatch.fish")]
    Completions(CompletionsArgs),
    /// Print a man page (roff) for hellowatch or one of its subcommands.
    #[command(after_help = "Examples:\n  \
        hellowatch man > hellowatch.1 && man ./hellowatch.1\n  \
        hellowatch man replay > hellowatch-replay.1\n  \
        hellowatch man replay | man -l -")]
    Man(ManArgs),
}

/// `hellowatch live` in a build without the `live` feature: takes any arguments, and the
/// binary answers with one line saying how to enable it.
#[derive(Debug, Args)]
pub struct LiveUnavailable {
    /// Ignored.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    pub args: Vec<std::ffi::OsString>,
}

/// The event log and policy what-ifs, shared by replay and live.
#[derive(Debug, Args)]
pub struct AnalysisArgs {
    /// Write one JSON line per connection (ECS field names) to PATH, or to standard output
    /// with `-`.
    #[arg(long, value_name = "PATH")]
    pub events: Option<String>,
    /// Report which hellos and clients a server enforcing this policy would refuse
    /// (repeatable; `min=tls1.2`, `min=tls1.3`, …).
    #[arg(long = "policy", value_name = "min=VERSION", value_parser = parse_policy)]
    pub policies: Vec<Policy>,
}

impl AnalysisArgs {
    /// The policies, validated (at most [`MAX_POLICIES`], duplicates removed, in the order
    /// given).
    pub fn policies(&self) -> Result<Vec<Policy>, String> {
        policies(&self.policies)
    }

    /// The event log destination, if any.
    pub fn events_dest(&self) -> Option<crate::events::Dest> {
        self.events.as_deref().map(crate::events::Dest::parse)
    }
}

fn policies(given: &[Policy]) -> Result<Vec<Policy>, String> {
    let mut out: Vec<Policy> = Vec::new();
    for p in given {
        if !out.contains(p) {
            out.push(*p);
        }
    }
    if out.len() > MAX_POLICIES {
        return Err(format!("at most {MAX_POLICIES} --policy values"));
    }
    Ok(out)
}

/// `hellowatch merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// JSON reports (`hellowatch replay --format json`, or earlier merges).
    #[arg(required = true, value_name = "REPORT")]
    pub files: Vec<PathBuf>,
    /// Report.
    #[command(flatten)]
    pub report: ReportArgs,
    /// Evaluate this policy on the merged census (repeatable).
    #[arg(long = "policy", value_name = "min=VERSION", value_parser = parse_policy)]
    pub policies: Vec<Policy>,
    /// Client entries kept in the merged census; more are counted in totals only.
    #[arg(long, default_value_t = crate::tally::DEFAULT_MAX_CLIENTS, value_name = "N")]
    pub max_clients: usize,
}

impl MergeArgs {
    /// The policies, validated.
    pub fn policies(&self) -> Result<Vec<Policy>, String> {
        policies(&self.policies)
    }
}

/// `hellowatch completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `hellowatch man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// A subcommand (default: the main page).
    #[arg(value_name = "SUBCOMMAND")]
    pub subcommand: Option<String>,
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
            ..EngineConfig::default()
        })
    }
}

/// Metrics flags shared by replay and live.
#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// Serve Prometheus metrics over HTTP on ADDR (IP:PORT): /metrics and a landing page at /.
    /// Replay serves only when given; live defaults to 127.0.0.1:12451.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Legacy clients with per-client series at once; the least recently seen are dropped
    /// (counted). 0: no per-client series.
    #[arg(long, default_value_t = DEFAULT_MAX_CLIENT_SERIES, value_name = "N")]
    pub max_client_series: usize,
    /// Label per-client series by prefix instead of address: IPv4 and IPv6 prefix lengths,
    /// e.g. 24/64.
    #[arg(long, value_name = "V4LEN/V6LEN", value_parser = parse_prefix)]
    pub client_prefix: Option<Grouping>,
    /// Seconds of packet time without a connection after which a client's series are removed.
    #[arg(long, default_value_t = DEFAULT_CLIENT_SERIES_IDLE_SECS, value_name = "SECS")]
    pub client_series_idle: u64,
    /// Allow the metrics listener on a non-loopback address while running as root (by default
    /// that is refused: drop privileges with `live --user`, or use a capability-only service).
    #[arg(long)]
    pub allow_root_listen: bool,
}

/// Why a listener address is refused for the current user.
pub fn check_listen(
    addr: SocketAddr,
    euid_is_root: bool,
    allow_root_listen: bool,
) -> Result<(), String> {
    if euid_is_root && !addr.ip().is_loopback() && !allow_root_listen {
        return Err(format!(
            "refusing to serve metrics on {addr} as root: use a loopback address, drop privileges \
             (live --user NAME, or the systemd unit's capabilities), or pass --allow-root-listen"
        ));
    }
    Ok(())
}

impl MetricsArgs {
    /// The default listen address of `live`: loopback, [`DEFAULT_PORT`].
    pub const DEFAULT_LISTEN: SocketAddr =
        SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), DEFAULT_PORT);

    /// Validated metrics settings.
    pub fn config(&self) -> Result<MetricsConfig, String> {
        if self.max_client_series > MAX_CLIENT_SERIES_LIMIT {
            return Err(format!(
                "--max-client-series must be at most {MAX_CLIENT_SERIES_LIMIT}"
            ));
        }
        if self.client_series_idle == 0 {
            return Err("--client-series-idle must be at least 1 second".into());
        }
        Ok(MetricsConfig {
            clients: ClientConfig {
                max_clients: self.max_client_series,
                grouping: self.client_prefix.unwrap_or(Grouping::Address),
                idle_ns: self.client_series_idle.saturating_mul(1_000_000_000),
            },
            policies: crate::policy::Policies::default(),
        })
    }

    /// `--listen`, or the default (for a mode that always serves, such as live).
    pub fn listen_or_default(&self) -> SocketAddr {
        self.listen.unwrap_or(Self::DEFAULT_LISTEN)
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
    /// Keep serving --listen after the files end, until SIGTERM or SIGINT.
    #[arg(long, requires = "listen")]
    pub hold: bool,
    /// Write the final metrics to PATH (Prometheus text format, atomically), e.g. for
    /// node_exporter's textfile collector (which reads *.prom files).
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,
    /// No progress bar and no warnings on standard error (warnings stay in the report).
    #[arg(long, short)]
    pub quiet: bool,
    /// Event log and policies.
    #[command(flatten)]
    pub analysis: AnalysisArgs,
    /// Limits.
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Metrics.
    #[command(flatten, next_help_heading = "Metrics")]
    pub metrics: MetricsArgs,
}

impl ReplayArgs {
    /// Metrics are served or written.
    pub fn wants_metrics(&self) -> bool {
        self.metrics.listen.is_some() || self.metrics_file.is_some()
    }
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
    /// Event log and policies.
    #[command(flatten)]
    pub analysis: AnalysisArgs,
    /// Limits.
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Metrics (served on 127.0.0.1:12451 unless --listen says otherwise, or --no-listen).
    #[command(flatten, next_help_heading = "Metrics")]
    pub metrics: MetricsArgs,
    /// Do not serve metrics.
    #[arg(long, conflicts_with = "listen")]
    pub no_listen: bool,
    /// Write the final metrics to PATH (Prometheus text format, atomically) when capture stops.
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,
}

impl LiveArgs {
    /// Where to serve metrics: `--listen`, else the default, unless `--no-listen`.
    pub fn listen(&self) -> Option<SocketAddr> {
        if self.no_listen {
            None
        } else {
            Some(self.metrics.listen.unwrap_or(MetricsArgs::DEFAULT_LISTEN))
        }
    }

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

#[cfg(test)]
mod listen_tests {
    use super::check_listen;

    #[test]
    fn root_may_not_listen_beyond_loopback_unless_allowed() {
        let lo = "127.0.0.1:12451".parse().unwrap();
        let lo6 = "[::1]:12451".parse().unwrap();
        let all = "0.0.0.0:12451".parse().unwrap();
        assert!(check_listen(lo, true, false).is_ok());
        assert!(check_listen(lo6, true, false).is_ok());
        assert!(check_listen(all, false, false).is_ok(), "not root");
        assert!(check_listen(all, true, true).is_ok(), "--allow-root-listen");
        let e = check_listen(all, true, false).unwrap_err();
        assert!(e.contains("--allow-root-listen"), "{e}");
    }
}
