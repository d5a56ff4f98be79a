//! The `hellowatch` binary: parse flags, run, map errors to exit codes.

use anyhow::Context;
use clap::{CommandFactory, Parser};
use hellowatch::cli::{Cli, Command, ManArgs, MergeArgs, ReplayArgs, ReportArgs, check_listen};
use hellowatch::engine::Counters;
use hellowatch::events::{Delivery, Dest, EventLog};
use hellowatch::metrics::Metrics;
use hellowatch::metrics::http::MetricsServer;
use hellowatch::replay::InputSummary;
use hellowatch::report::{Format, Report, ReportOptions};
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
        Command::Merge(args) => merge(&args),
        Command::Completions(a) => {
            clap_complete::generate(
                a.shell,
                &mut Cli::command(),
                "hellowatch",
                &mut std::io::stdout(),
            );
            ExitCode::SUCCESS
        }
        Command::Man(a) => man(&a),
    }
}

fn bad_input(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("hellowatch: {e}");
    ExitCode::from(EXIT_BAD_INPUT)
}

fn failure(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("hellowatch: {e}");
    ExitCode::FAILURE
}

/// The event log of `--events`, if given: `Lossless` for replay, `Lossy` for live.
fn open_events(
    analysis: &hellowatch::cli::AnalysisArgs,
    report: &ReportArgs,
    delivery: Delivery,
    policies: &[hellowatch::policy::Policy],
) -> Result<Option<EventLog>, ExitCode> {
    let Some(dest) = analysis.events_dest() else {
        return Ok(None);
    };
    if dest == Dest::Stdout && report.output.is_none() {
        return Err(bad_input(
            "--events - writes the events to standard output: give --output PATH for the report",
        ));
    }
    EventLog::open(&dest, delivery, policies)
        .map(Some)
        .map_err(failure)
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
    let policies = match args.analysis.policies() {
        Ok(p) => p,
        Err(e) => return bad_input(e),
    };
    let metrics = match args.metrics.config() {
        Ok(mut c) => {
            c.policies = hellowatch::policy::Policies::new(&policies);
            args.wants_metrics().then(|| Metrics::new(c))
        }
        Err(e) => return bad_input(e),
    };
    if args.analysis.events_dest() == Some(Dest::Stdout) && args.report.output.is_none() {
        return bad_input(
            "--events - writes the events to standard output: give --output PATH for the report",
        );
    }
    let files = match hellowatch::replay::open_all(&args.files) {
        Ok(f) => f,
        Err(e) => return bad_input(e),
    };
    let events = match open_events(&args.analysis, &args.report, Delivery::Lossless, &policies) {
        Ok(e) => e,
        Err(code) => return code,
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
    let mut bar = (!args.quiet && std::io::stderr().is_terminal())
        .then(|| hellowatch::progress::ReplayBar::new(files.iter().map(|f| f.len() as u64).sum()));
    let out = hellowatch::replay::replay_with_progress(
        &files,
        cfg,
        workers,
        |i| {
            (
                metrics.as_ref().map(|m| m.sink(i)),
                events.as_ref().map(EventLog::sink),
            )
        },
        &mut |p| {
            if let Some(b) = bar.as_mut() {
                b.update(p);
            }
        },
    );
    if let Some(b) = &bar {
        b.finish();
    }
    if let Some(m) = &metrics {
        m.publish_capture(&out.capture, None);
    }
    let hellowatch::replay::Outcome {
        census,
        counters,
        input,
        sinks,
        ..
    } = out;
    drop(sinks); // hands the last event lines to the writer
    let events_done = events.map(EventLog::finish).transpose();
    let opts = ReportOptions { policies };
    let done = finish(args, &census, &counters, &input, &opts, metrics.as_ref());
    if let Err(e) = events_done {
        return failure(e);
    }
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
fn finish(
    args: &ReplayArgs,
    census: &Census,
    counters: &Counters,
    input: &InputSummary,
    opts: &ReportOptions,
    metrics: Option<&Metrics>,
) -> anyhow::Result<()> {
    if !args.quiet {
        for w in &input.warnings {
            eprintln!("hellowatch: warning: {w}");
        }
    }
    let mut sink = open_output(&args.report)?;
    let report = Report::of(census, counters, input, opts);
    write_report(&mut sink, format_of(&args.report), &report)?;
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

/// Writes the report.
fn write_report(sink: &mut dyn Write, format: Format, report: &Report) -> anyhow::Result<()> {
    let mut sink = sink;
    report.write(&mut sink, format)?;
    sink.flush().context("cannot write the report")?;
    Ok(())
}

fn merge(args: &MergeArgs) -> ExitCode {
    let policies = match args.policies() {
        Ok(p) => p,
        Err(e) => return bad_input(e),
    };
    let mut merged = hellowatch::merge::Merged::new(args.max_clients.max(1));
    for f in &args.files {
        if let Err(e) = merged.add_file(f) {
            return bad_input(e);
        }
    }
    let report = merged.report(&ReportOptions { policies });
    let written = open_output(&args.report)
        .and_then(|mut sink| write_report(&mut sink, format_of(&args.report), &report));
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => failure(format!("{e:#}")),
    }
}

fn man(args: &ManArgs) -> ExitCode {
    let top = Cli::command();
    let page = match &args.subcommand {
        None => top,
        Some(name) => match top.find_subcommand(name) {
            // The page is named `hellowatch-SUB`; clap wants a 'static name and this runs once.
            Some(c) => c
                .clone()
                .name(&*Box::leak(format!("hellowatch-{name}").into_boxed_str()))
                .version(env!("CARGO_PKG_VERSION")),
            None => return bad_input(format!("no subcommand '{name}'")),
        },
    };
    let mut out = std::io::stdout().lock();
    match clap_mangen::Man::new(page).render(&mut out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => failure(e),
    }
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
    use super::{EXIT_BAD_INPUT, format_of, open_events, open_output, serve, write_report};
    use hellowatch::capture::live::{self, LiveCapture, LiveOutcome, Progress};
    use hellowatch::cli::LiveArgs;
    use hellowatch::events::{Delivery, EventLog};
    use hellowatch::metrics::{Metrics, PcapStats};
    use hellowatch::report::{Report, ReportOptions};
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
        let policies = match args.analysis.policies() {
            Ok(p) => p,
            Err(e) => return bad(e),
        };
        let metrics = match args.metrics.config() {
            Ok(mut c) => {
                c.policies = hellowatch::policy::Policies::new(&policies);
                Metrics::new(c)
            }
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
        // Live never waits for the disk: lines the writer cannot take are dropped and counted.
        let events = match open_events(&args.analysis, &args.report, Delivery::Lossy, &policies) {
            Ok(e) => e,
            Err(code) => return code,
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
        let out = live::run(
            cap,
            cfg,
            workers,
            &stop,
            |i| (metrics.sink(i), events.as_ref().map(EventLog::sink)),
            publish,
        );
        let LiveOutcome {
            census,
            counters,
            mut input,
            sinks,
            error,
        } = out;
        drop(sinks); // hands the last event lines to the writer
        let events_done = events.map(EventLog::finish).transpose();
        if let Ok(Some(st)) = &events_done {
            if st.dropped() > 0 {
                input.warnings.push(format!(
                    "event log: {} of {} lines dropped (the writer could not keep up)",
                    st.dropped(),
                    st.dropped() + st.written()
                ));
            }
        }
        for w in &input.warnings {
            eprintln!("hellowatch: warning: {w}");
        }
        let opts = ReportOptions { policies };
        let report = Report::of(&census, &counters, &input, &opts);
        let mut written = write_report(&mut sink, format_of(&args.report), &report);
        if let (Ok(()), Some(path)) = (&written, &args.metrics_file) {
            written = metrics.write_textfile(path).map_err(Into::into);
        }
        if let Some(s) = server {
            s.stop();
        }
        if let Err(e) = &events_done {
            eprintln!("hellowatch: {e}");
            return ExitCode::FAILURE;
        }
        match (written, &error) {
            (Ok(()), None) => ExitCode::SUCCESS,
            (Ok(()), Some(_)) => ExitCode::FAILURE,
            (Err(e), _) => {
                eprintln!("hellowatch: {e:#}");
                ExitCode::FAILURE
            }
        }
    }
}
