//! Command line: raw flags (clap) and their validation into typed settings.

use crate::engine::EngineConfig;
use crate::policy::{MAX_POLICIES, Policy};
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
        hellowatch replay big.pcap --policy min=tls1.2 --policy min=tls1.3\n  \
        hellowatch replay big.pcap --events handshakes.jsonl --workers 4\n  \
        hellowatch replay big.pcap --events - -o census.json | jq 'select(.hellowatch.outcome != \"established\")'\n\n\
        Exit status: 0 on success (a truncated or corrupt file still gives the census of what\n\
        was read, with a warning), 2 when a file cannot be opened or is not a capture, or a flag\n\
        is invalid, 1 when the report or the events cannot be written.")]
    Replay(ReplayArgs),
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
    /// Report format (default: table on a terminal, json otherwise).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write the report here instead of standard output.
    #[arg(long, short, value_name = "PATH")]
    pub output: Option<PathBuf>,
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
    /// Report format (default: table on a terminal, json otherwise).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write the report here instead of standard output.
    #[arg(long, short, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Worker threads (1: everything on one thread). The census is the same for any number.
    #[arg(long, default_value = "1", value_name = "N", value_parser = parse_workers)]
    pub workers: NonZeroUsize,
    /// No progress bar and no warnings on standard error (warnings stay in the report).
    #[arg(long, short)]
    pub quiet: bool,
    /// Event log and policies.
    #[command(flatten)]
    pub analysis: AnalysisArgs,
    /// Limits.
    #[command(flatten)]
    pub limits: LimitArgs,
}
