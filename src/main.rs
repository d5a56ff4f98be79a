//! The `hellowatch` binary: parse flags, run, map errors to exit codes.

use anyhow::Context;
use clap::Parser;
use hellowatch::cli::{Cli, Command, ReplayArgs};
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
    match write_report(args, &out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hellowatch: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn write_report(args: &ReplayArgs, out: &hellowatch::replay::Outcome<()>) -> anyhow::Result<()> {
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
