//! Command line: the flags (clap) and their validation into one [`Plan`] per run.
//!
//! Every check of a flag is here, once; what leaves this module is typed and valid. A new
//! flag: a field on the `…Args` struct that owns it (with its help text and default), checked
//! and turned into a [`Plan`] field in that struct's conversion (`plan`, `engine_config`,
//! `metrics`, …).

use clap::{Args, Parser, Subcommand, ValueEnum};
#[cfg(feature = "live")]
use hellowatch::capture::{self, LiveConfig};
use hellowatch::engine::EngineConfig;
use hellowatch::events::Dest;
use hellowatch::metrics::MetricsConfig;
use hellowatch::metrics::clients::{
    ClientConfig, DEFAULT_CLIENT_SERIES_IDLE_SECS, DEFAULT_MAX_CLIENT_SERIES, Grouping,
};
use hellowatch::policy::{MAX_POLICIES, Policies, Policy};
use hellowatch::report;
use hellowatch::run::{MetricsPlan, Plan, ReportPlan, Source, StatePlan};
use std::io::IsTerminal;
use std::net::SocketAddr;
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
    if n.get() > hellowatch::pipeline::MAX_WORKERS {
        return Err(format!(
            "at most {} workers",
            hellowatch::pipeline::MAX_WORKERS
        ));
    }
    Ok(n)
}

#[cfg(feature = "live")]
fn parse_capture_threads(s: &str) -> Result<NonZeroUsize, String> {
    let n: NonZeroUsize = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of capture threads (1 or more)"))?;
    if n.get() > capture::MAX_CAPTURE_THREADS {
        return Err(format!(
            "at most {} capture threads",
            capture::MAX_CAPTURE_THREADS
        ));
    }
    Ok(n)
}

fn parse_policy(s: &str) -> Result<Policy, String> {
    s.parse::<Policy>().map_err(|e| e.to_string())
}

/// Output format (`--format`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned table, legacy clients first.
    Table,
    /// JSON: `{"clients", "totals", "input", "coverage"}`.
    Json,
    /// CSV, one row per client.
    Csv,
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
#[cfg(not(feature = "live"))]
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

    /// The event log destination, if any: standard output only when the report goes to a
    /// file.
    pub fn events(&self, report: &ReportArgs) -> Result<Option<Dest>, String> {
        let dest = self.events.as_deref().map(Dest::parse);
        if dest == Some(Dest::Stdout) && report.output.is_none() {
            return Err(
                "--events - writes the events to standard output: give --output PATH for the report"
                    .into(),
            );
        }
        Ok(dest)
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
    #[arg(long, default_value_t = hellowatch::tally::DEFAULT_MAX_CLIENTS, value_name = "N")]
    pub max_clients: usize,
    /// Server entries (and server name entries) kept in the merged census; more are counted
    /// in totals and in coverage.servers_dropped only.
    #[arg(long, default_value_t = hellowatch::tally::DEFAULT_MAX_SERVERS, value_name = "N")]
    pub max_servers: usize,
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
    /// Rows of the table and the CSV: one per client, per server endpoint, or per server
    /// name (SNI). JSON always has all three.
    #[arg(long, value_enum, default_value = "client")]
    pub by: ByArg,
}

/// `--by`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum ByArg {
    /// One row per client.
    Client,
    /// One row per server endpoint (address and port).
    Server,
    /// One row per server name (SNI; `-` for none).
    ServerName,
}

impl ReportArgs {
    /// The report: the format given, else a table on a terminal and JSON otherwise.
    pub fn plan(&self) -> ReportPlan {
        let to_terminal = self.output.is_none() && std::io::stdout().is_terminal();
        let format = match self.format {
            Some(Format::Table) => report::Format::Table,
            Some(Format::Json) => report::Format::Json,
            Some(Format::Csv) => report::Format::Csv,
            None if to_terminal => report::Format::Table,
            None => report::Format::Json,
        };
        ReportPlan {
            format,
            output: self.output.clone(),
            by: match self.by {
                ByArg::Client => report::By::Client,
                ByArg::Server => report::By::Server,
                ByArg::ServerName => report::By::ServerName,
            },
        }
    }
}

/// The durable census, shared by replay and live.
#[derive(Debug, Args)]
pub struct StateArgs {
    /// Keep the census in PATH (a JSON report): continue counting from it at start, save it
    /// atomically every --snapshot-interval and at the end. A corrupt file is renamed aside
    /// (PATH.corrupt-UNIXTIME); one this version cannot read stops the run (exit status 2).
    #[arg(long, value_name = "PATH")]
    pub state: Option<PathBuf>,
    /// Seconds between snapshots of --state (and, live, of --output): packet time in replay,
    /// wall time in live.
    #[arg(long, default_value_t = hellowatch::state::DEFAULT_SNAPSHOT_INTERVAL_SECS, value_name = "SECS")]
    pub snapshot_interval: u64,
}

impl StateArgs {
    /// Validated.
    pub fn plan(&self) -> Result<StatePlan, String> {
        if self.snapshot_interval == 0 {
            return Err("--snapshot-interval must be at least 1 second".into());
        }
        if self.state.as_ref().is_some_and(|p| p.is_dir()) {
            return Err("--state must name a file, not a directory".into());
        }
        Ok(StatePlan {
            path: self.state.clone(),
            interval_ns: self.snapshot_interval.saturating_mul(1_000_000_000),
        })
    }
}

/// Limits shared by replay and live.
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Connections tracked at once; the least recently seen is evicted (and counted) beyond.
    #[arg(long, default_value_t = hellowatch::flow::DEFAULT_MAX_FLOWS, value_name = "N")]
    pub max_flows: usize,
    /// Seconds of packet time after which an idle connection is settled and forgotten.
    #[arg(long, default_value_t = hellowatch::flow::DEFAULT_IDLE_TIMEOUT_NS / 1_000_000_000, value_name = "SECS")]
    pub idle_timeout: u64,
    /// Bytes reassembled per connection direction before giving up on it (counted).
    #[arg(long, default_value_t = hellowatch::flow::reassembly::DEFAULT_STREAM_CAP, value_name = "BYTES")]
    pub stream_cap: usize,
    /// Client entries kept in the census; more are counted in totals only.
    #[arg(long, default_value_t = hellowatch::tally::DEFAULT_MAX_CLIENTS, value_name = "N")]
    pub max_clients: usize,
    /// Server entries (and server name entries) kept in the census; connections to more are
    /// counted in totals and in coverage.servers_dropped only.
    #[arg(long, default_value_t = hellowatch::tally::DEFAULT_MAX_SERVERS, value_name = "N")]
    pub max_servers: usize,
    /// Bytes buffered for reassembly over all connections; a connection direction that would
    /// exceed it is given up (counted).
    #[arg(long, default_value_t = hellowatch::engine::DEFAULT_MAX_BUFFERED, value_name = "BYTES")]
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
            max_servers: self.max_servers,
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

impl MetricsArgs {
    /// The default listen address of `live`: loopback, [`hellowatch::metrics::DEFAULT_PORT`].
    #[cfg(feature = "live")]
    pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(
        std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        hellowatch::metrics::DEFAULT_PORT,
    );

    /// Validated metrics settings: `listen` is where to serve (`None`: nowhere), `file` where
    /// to write the final metrics, `hold` whether to keep serving after a replay.
    fn plan(
        &self,
        policies: &[Policy],
        listen: Option<SocketAddr>,
        file: Option<PathBuf>,
        hold: bool,
    ) -> Result<MetricsPlan, String> {
        if self.max_client_series > MAX_CLIENT_SERIES_LIMIT {
            return Err(format!(
                "--max-client-series must be at most {MAX_CLIENT_SERIES_LIMIT}"
            ));
        }
        if self.client_series_idle == 0 {
            return Err("--client-series-idle must be at least 1 second".into());
        }
        let config = MetricsConfig {
            clients: ClientConfig {
                max_clients: self.max_client_series,
                grouping: self.client_prefix.unwrap_or(Grouping::Address),
                idle_ns: self.client_series_idle.saturating_mul(1_000_000_000),
            },
            policies: Policies::new(policies),
        };
        Ok(MetricsPlan {
            config,
            listen,
            allow_root_listen: self.allow_root_listen,
            file,
            hold,
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
    /// Durable census.
    #[command(flatten)]
    pub state: StateArgs,
    /// Limits.
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Metrics.
    #[command(flatten, next_help_heading = "Metrics")]
    pub metrics: MetricsArgs,
}

impl ReplayArgs {
    /// The run, validated.
    pub fn plan(&self) -> Result<Plan, String> {
        let engine = self.limits.engine_config()?;
        let policies = self.analysis.policies()?;
        let metrics = self.metrics.plan(
            &policies,
            self.metrics.listen,
            self.metrics_file.clone(),
            self.hold,
        )?;
        let events = self.analysis.events(&self.report)?;
        Ok(Plan {
            source: Source::Files(self.files.clone()),
            engine,
            workers: self.workers,
            policies,
            report: self.report.plan(),
            events,
            metrics,
            quiet: self.quiet,
            state: self.state.plan()?,
        })
    }
}

/// `hellowatch live`.
#[cfg(feature = "live")]
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
    /// Worker threads besides the capture thread(s) [default: CPUs - 1, at least 1]; split
    /// over the capture threads, at least one each.
    #[arg(long, value_name = "N", value_parser = parse_workers)]
    pub workers: Option<NonZeroUsize>,
    /// Capture threads: N handles on the interface in one kernel fanout group (connections
    /// spread by a symmetric hash), each with its own workers.
    #[arg(long, default_value = "1", value_name = "N", value_parser = parse_capture_threads)]
    pub capture_threads: NonZeroUsize,
    /// Put the interface in promiscuous mode (needed on most mirror/SPAN ports).
    #[arg(long)]
    pub promisc: bool,
    /// Drop root privileges to this user once the capture is open.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Have the kernel drop the packets of connections the census no longer needs (an eBPF
    /// socket filter; Ethernet interfaces; the -f filter then runs in user space). Needs a
    /// build with `--features bypass`.
    #[arg(long)]
    pub bypass: bool,
    /// Report.
    #[command(flatten)]
    pub report: ReportArgs,
    /// Event log and policies.
    #[command(flatten)]
    pub analysis: AnalysisArgs,
    /// Durable census.
    #[command(flatten)]
    pub state: StateArgs,
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
    /// No start line and no warnings on standard error (warnings stay in the report).
    #[arg(long, short)]
    pub quiet: bool,
}

#[cfg(feature = "live")]
impl LiveArgs {
    /// The run, validated.
    pub fn plan(&self) -> Result<Plan, String> {
        let engine = self.limits.engine_config()?;
        let live = self.live_config()?;
        let policies = self.analysis.policies()?;
        let metrics =
            self.metrics
                .plan(&policies, self.listen(), self.metrics_file.clone(), false)?;
        let events = self.analysis.events(&self.report)?;
        Ok(Plan {
            source: Source::Live(live),
            engine,
            workers: self.workers(),
            policies,
            report: self.report.plan(),
            events,
            metrics,
            quiet: self.quiet,
            state: self.state.plan()?,
        })
    }

    /// Where to serve metrics: `--listen`, else the default, unless `--no-listen`.
    fn listen(&self) -> Option<SocketAddr> {
        if self.no_listen {
            None
        } else {
            Some(self.metrics.listen.unwrap_or(MetricsArgs::DEFAULT_LISTEN))
        }
    }

    /// Validated capture settings.
    fn live_config(&self) -> Result<LiveConfig, String> {
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
            capture_threads: self.capture_threads.get(),
            bypass: self.bypass,
        })
    }

    /// Worker threads: the flag, else one per CPU but the capture thread's (at least 1).
    fn workers(&self) -> NonZeroUsize {
        self.workers.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map_or(1, |n| n.get().saturating_sub(1))
                .clamp(1, hellowatch::pipeline::MAX_WORKERS)
                .try_into()
                .unwrap_or(NonZeroUsize::MIN)
        })
    }
}
