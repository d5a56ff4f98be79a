//! The `hellowatch` binary: parse flags, run, map errors to exit codes.

use anyhow::Context;
use clap::Parser;
use hellowatch::cli::{Cli, Command, ReplayArgs};
use hellowatch::engine::SettleSink;
use hellowatch::metrics::Metrics;
use hellowatch::metrics::http::MetricsServer;
use hellowatch::replay::Outcome;
use hellowatch::report::{self, Format};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

/// Exit status for bad input (a file that cannot be read or is not a capture, bad flags).
const EXIT_BAD_INPUT: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Replay(args) => replay(&args),
    }
}

fn bad_input(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("hellowatch: {e}");
    ExitCode::from(EXIT_BAD_INPUT)
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
        (Some(m), Some(addr)) => match MetricsServer::start(addr, m.clone()) {
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
    write_report(args, out)?;
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

fn write_report<S>(args: &ReplayArgs, out: &Outcome<S>) -> anyhow::Result<()> {
    let to_terminal = args.output.is_none() && std::io::stdout().is_terminal();
    let format = args.format.unwrap_or(if to_terminal {
        Format::Table
    } else {
        Format::Json
    });
    let mut sink: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot write {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    match format {
        Format::Json => {
            let v = report::to_json(&out.census, &out.counters, &out.input);
            serde_json::to_writer_pretty(&mut sink, &v)?;
            writeln!(sink)?;
        }
        Format::Table => report::write_table(&mut sink, &out.census, &out.input)?,
        Format::Csv => report::write_csv(&mut sink, &out.census)?,
    }
    sink.flush().context("cannot write the report")?;
    Ok(())
}
