//! The `hellowatch` binary: parse flags, run, map errors to exit codes.

use anyhow::Context;
use clap::Parser;
use hellowatch::cli::{Cli, Command, ReplayArgs, ReportArgs};
use hellowatch::engine::Counters;
use hellowatch::replay::InputSummary;
use hellowatch::report::{self, Format};
use hellowatch::tally::Census;
use std::io::{IsTerminal, Write};
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

fn replay(args: &ReplayArgs) -> ExitCode {
    let cfg = match args.limits.engine_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hellowatch: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let files = match hellowatch::replay::open_all(&args.files) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("hellowatch: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let out = hellowatch::replay::replay(&files, cfg, args.workers.get(), |_| ());
    for w in &out.input.warnings {
        eprintln!("hellowatch: warning: {w}");
    }
    let written = open_output(&args.report).and_then(|mut sink| {
        write_report(
            &mut sink,
            format_of(&args.report),
            &out.census,
            &out.counters,
            &out.input,
        )
    });
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hellowatch: {e:#}");
            ExitCode::FAILURE
        }
    }
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
    use super::{EXIT_BAD_INPUT, format_of, open_output, write_report};
    use hellowatch::capture::live::{self, LiveCapture};
    use hellowatch::cli::LiveArgs;
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

    pub(crate) fn live(args: &LiveArgs) -> ExitCode {
        let cfg = match args.limits.engine_config() {
            Ok(c) => c,
            Err(e) => return bad(e),
        };
        let lcfg = match args.live_config() {
            Ok(c) => c,
            Err(e) => return bad(e),
        };
        let cap = match LiveCapture::open(&lcfg) {
            Ok(c) => c,
            Err(e) => return bad(e),
        };
        // The report file is created before capturing (and before dropping privileges), so a
        // bad path fails now, not after weeks of capture.
        let mut sink = match open_output(&args.report) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("hellowatch: {e:#}");
                return ExitCode::FAILURE;
            }
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
             {workers} worker(s)); SIGINT or SIGTERM stops and writes the census",
            lcfg.snaplen, lcfg.buffer_size
        );
        let out = live::run(cap, cfg, workers, &stop, |_| (), |_| {});
        for w in &out.input.warnings {
            eprintln!("hellowatch: warning: {w}");
        }
        let written = write_report(
            &mut sink,
            format_of(&args.report),
            &out.census,
            &out.counters,
            &out.input,
        );
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
