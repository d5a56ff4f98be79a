//! The `hellowatch` binary: parse flags, run, map errors to exit codes.

use anyhow::Context;
use clap::Parser;
use hellowatch::cli::{Cli, Command, ReplayArgs, ReportArgs, check_listen};
use hellowatch::engine::{Counters, SettleSink};
use hellowatch::metrics::Metrics;
use hellowatch::metrics::http::MetricsServer;
use hellowatch::replay::{InputSummary, Outcome};
use hellowatch::report::{self, Format};
use hellowatch::tally::Census;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::process::ExitCode;

/// Exit status for bad input (a file that cannot be read or is not a capture, bad flags, an
/// interface that cannot be captured on).
const EXIT_BAD_INPUT: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Replay(args) => replay(&args),
        Command::Live(args) => live::live(&args),
    }
}

fn bad_input(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("hellowatch: {e}");
    ExitCode::from(EXIT_BAD_INPUT)
}

/// Starts the metrics server on `addr`, refusing a non-loopback address as root unless allowed.
fn serve(addr: SocketAddr, allow_root: bool, metrics: &Metrics) -> Result<MetricsServer, String> {
    check_listen(addr, nix::unistd::Uid::effective().is_root(), allow_root)?;
    MetricsServer::start(addr, metrics.clone()).map_err(|e| e.to_string())
}

fn replay(args: &ReplayArgs) -> ExitCode {
    let cfg = match args.limits.engine_config() {
        Ok(c) => c,
        Err(e) => return bad_input(e),
    };
    let metrics = match args.metrics.config() {
        Ok(c) => args.wants_metrics().then(|| Metrics::new(c)),
        Err(e) => return bad_input(e),
    };
    let files = match hellowatch::replay::open_all(&args.files) {
        Ok(f) => f,
        Err(e) => return bad_input(e),
    };
    // Listen before replaying, so a long replay can be watched.
    let server = match (&metrics, args.metrics.listen) {
        (Some(m), Some(addr)) => match serve(addr, args.metrics.allow_root_listen, m) {
            Ok(s) => Some(s),
            Err(e) => return bad_input(e),
        },
        _ => None,
    };
    let workers = args.workers.get();
    let done = match &metrics {
        Some(m) => {
            let out = hellowatch::replay::replay(&files, cfg, workers, |i| m.sink(i));
            m.publish_capture(&out.capture, None);
            finish(args, &out, Some(m))
        }
        None => finish(
            args,
            &hellowatch::replay::replay(&files, cfg, workers, |_| ()),
            None,
        ),
    };
    if let Err(e) = done.and_then(|()| match &server {
        Some(s) if args.hold => hold(s),
        _ => Ok(()),
    }) {
        eprintln!("hellowatch: {e:#}");
        return ExitCode::FAILURE;
    }
    if let Some(s) = server {
        s.stop();
    }
    ExitCode::SUCCESS
}

/// Warnings, the report, the metrics file.
fn finish<S: SettleSink>(
    args: &ReplayArgs,
    out: &Outcome<S>,
    metrics: Option<&Metrics>,
) -> anyhow::Result<()> {
    for w in &out.input.warnings {
        eprintln!("hellowatch: warning: {w}");
    }
    let mut sink = open_output(&args.report)?;
    write_report(
        &mut sink,
        format_of(&args.report),
        &out.census,
        &out.counters,
        &out.input,
    )?;
    if let (Some(m), Some(path)) = (metrics, &args.metrics_file) {
        m.write_textfile(path)?;
    }
    Ok(())
}

/// `--hold`: keeps the metrics server up until SIGTERM or SIGINT.
fn hold(server: &MetricsServer) -> anyhow::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])
        .context("cannot install signal handlers")?;
    eprintln!(
        "hellowatch: replay done; serving http://{}/metrics until SIGTERM or SIGINT",
        server.local_addr()
    );
    signals.forever().next();
    Ok(())
}

/// The report format: the flag, else a table on a terminal and JSON otherwise.
fn format_of(args: &ReportArgs) -> Format {
    let to_terminal = args.output.is_none() && std::io::stdout().is_terminal();
    args.format.unwrap_or(if to_terminal {
        Format::Table
    } else {
        Format::Json
    })
}

/// Where the report goes: `--output PATH` (created now) or standard output.
fn open_output(args: &ReportArgs) -> anyhow::Result<Box<dyn Write>> {
    Ok(match &args.output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot write {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    })
}

fn write_report(
    sink: &mut dyn Write,
    format: Format,
    census: &Census,
    counters: &Counters,
    input: &InputSummary,
) -> anyhow::Result<()> {
    let mut sink = sink;
    match format {
        Format::Json => {
            let v = report::to_json(census, counters, input);
            serde_json::to_writer_pretty(&mut sink, &v)?;
            writeln!(sink)?;
        }
        Format::Table => report::write_table(&mut sink, census, counters, input)?,
        Format::Csv => report::write_csv(&mut sink, census)?,
    }
    sink.flush().context("cannot write the report")?;
    Ok(())
}

#[cfg(not(feature = "live"))]
mod live {
    use super::EXIT_BAD_INPUT;
    use hellowatch::cli::LiveUnavailable;
    use std::process::ExitCode;

    pub(crate) fn live(_: &LiveUnavailable) -> ExitCode {
        eprintln!(
            "hellowatch: live capture is not in this build; rebuild with --features live (needs libpcap-dev)"
        );
        ExitCode::from(EXIT_BAD_INPUT)
    }
}

#[cfg(feature = "live")]
mod live {
    use super::{EXIT_BAD_INPUT, format_of, open_output, serve, write_report};
    use hellowatch::capture::live::{self, LiveCapture, Progress};
    use hellowatch::cli::LiveArgs;
    use hellowatch::metrics::{Metrics, PcapStats};
    use signal_hook::consts::{SIGINT, SIGTERM};
    use std::process::ExitCode;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    /// Exit status of a second SIGINT/SIGTERM while the first one is being handled.
    const EXIT_INTERRUPTED: i32 = 130;

    fn bad(e: impl std::fmt::Display) -> ExitCode {
        eprintln!("hellowatch: {e}");
        ExitCode::from(EXIT_BAD_INPUT)
    }

    /// Wall-clock time in ns: on a live link, packet time is wall time.
    fn now_ns() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }

    pub(crate) fn live(args: &LiveArgs) -> ExitCode {
        let cfg = match args.limits.engine_config() {
            Ok(c) => c,
            Err(e) => return bad(e),
        };
        let lcfg = match args.live_config() {
            Ok(c) => c,
            Err(e) => return bad(e),
        };
        let metrics = match args.metrics.config() {
            Ok(c) => Metrics::new(c),
            Err(e) => return bad(e),
        };
        let cap = match LiveCapture::open(&lcfg) {
            Ok(c) => c,
            Err(e) => return bad(e),
        };
        // The report file and the listener are set up before capturing (and before dropping
        // privileges), so a bad path or address fails now, not after weeks of capture. The
        // root check counts the planned privilege drop: after `--user` the listener thread no
        // longer runs as root (setuid applies to every thread).
        let mut sink = match open_output(&args.report) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("hellowatch: {e:#}");
                return ExitCode::FAILURE;
            }
        };
        let allow_root = args.metrics.allow_root_listen || lcfg.user.is_some();
        let server = match args.listen() {
            Some(addr) => match serve(addr, allow_root, &metrics) {
                Ok(s) => Some(s),
                Err(e) => return bad(e),
            },
            None => None,
        };
        if let Some(user) = &lcfg.user {
            if let Err(e) = live::drop_privileges(user) {
                return bad(e);
            }
        }
        // First signal: stop gracefully. A second one while stopping: exit at once.
        let stop = Arc::new(AtomicBool::new(false));
        for sig in [SIGINT, SIGTERM] {
            let registered = signal_hook::flag::register_conditional_shutdown(
                sig,
                EXIT_INTERRUPTED,
                Arc::clone(&stop),
            )
            .and_then(|_| signal_hook::flag::register(sig, Arc::clone(&stop)));
            if let Err(e) = registered {
                return bad(format_args!("cannot handle signals: {e}"));
            }
        }
        let workers = args.workers();
        let (iface, link) = cap.describe();
        eprintln!(
            "hellowatch: capturing on {iface} (link type {link}, snaplen {}, buffer {} bytes, \
             {workers} worker(s)){}; SIGINT or SIGTERM stops and writes the census",
            lcfg.snaplen,
            lcfg.buffer_size,
            server
                .as_ref()
                .map(|s| format!(", metrics on http://{}/metrics", s.local_addr()))
                .unwrap_or_default()
        );
        let publish = |p: &Progress<'_>| {
            let mut c = p.counters.clone();
            c.queue_drops = p.queue_drops;
            let pcap = PcapStats {
                received: p.capture.received,
                dropped: p.capture.dropped,
                if_dropped: p.capture.if_dropped,
            };
            metrics.publish_capture(&c, Some(pcap));
            metrics.advance(now_ns());
        };
        let out = live::run(cap, cfg, workers, &stop, |i| metrics.sink(i), publish);
        for w in &out.input.warnings {
            eprintln!("hellowatch: warning: {w}");
        }
        let mut written = write_report(
            &mut sink,
            format_of(&args.report),
            &out.census,
            &out.counters,
            &out.input,
        );
        if let (Ok(()), Some(path)) = (&written, &args.metrics_file) {
            written = metrics.write_textfile(path).map_err(Into::into);
        }
        if let Some(s) = server {
            s.stop();
        }
        match (written, &out.error) {
            (Ok(()), None) => ExitCode::SUCCESS,
            (Ok(()), Some(_)) => ExitCode::FAILURE,
            (Err(e), _) => {
                eprintln!("hellowatch: {e:#}");
                ExitCode::FAILURE
            }
        }
    }
}
