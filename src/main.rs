//! The `hellowatch` binary: parse flags, run, map errors to exit codes.

use anyhow::Context;
use clap::{CommandFactory, Parser};
use hellowatch::cli::{Cli, Command, ManArgs, MergeArgs, ReplayArgs};
use hellowatch::events::{Delivery, Dest, EventLog};
use hellowatch::replay::InputSummary;
use hellowatch::report::{self, Format, ReportOptions};
use hellowatch::tally::Census;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

/// Exit status for bad input (a file that cannot be read or is not a capture, bad flags).
const EXIT_BAD_INPUT: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Replay(args) => replay(&args),
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

fn replay(args: &ReplayArgs) -> ExitCode {
    let cfg = match args.limits.engine_config() {
        Ok(c) => c,
        Err(e) => return bad_input(e),
    };
    let policies = match args.analysis.policies() {
        Ok(p) => p,
        Err(e) => return bad_input(e),
    };
    let events_dest = args.analysis.events_dest();
    if events_dest == Some(Dest::Stdout) && args.output.is_none() {
        return bad_input(
            "--events - writes the events to standard output: give --output PATH for the report",
        );
    }
    let files = match hellowatch::replay::open_all(&args.files) {
        Ok(f) => f,
        Err(e) => return bad_input(e),
    };
    let events = match events_dest.map(|d| EventLog::open(&d, Delivery::Lossless, &policies)) {
        Some(Ok(log)) => Some(log),
        Some(Err(e)) => return failure(e),
        None => None,
    };
    let mut bar = (!args.quiet && std::io::stderr().is_terminal())
        .then(|| hellowatch::progress::ReplayBar::new(files.iter().map(|f| f.len() as u64).sum()));
    let out = hellowatch::replay::replay_with_progress(
        &files,
        cfg,
        args.workers.get(),
        |_| events.as_ref().map(EventLog::sink),
        &mut |p| {
            if let Some(b) = bar.as_mut() {
                b.update(p);
            }
        },
    );
    if let Some(b) = &bar {
        b.finish();
    }
    let hellowatch::replay::Outcome {
        census,
        counters,
        input,
        sinks,
    } = out;
    drop(sinks); // hands the last event lines to the writer
    let events_done = events.map(EventLog::finish).transpose();
    if !args.quiet {
        for w in &input.warnings {
            eprintln!("hellowatch: warning: {w}");
        }
    }
    let opts = ReportOptions { policies };
    let written = write_report(
        args.format,
        args.output.as_deref(),
        &census,
        &input,
        &opts,
        &|| report::to_json_with(&census, &counters, &input, &opts),
    );
    if let Err(e) = events_done {
        return failure(e);
    }
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => failure(format!("{e:#}")),
    }
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
    let opts = ReportOptions { policies };
    let input = merged.input_summary();
    match write_report(
        args.format,
        args.output.as_deref(),
        &merged.census,
        &input,
        &opts,
        &|| merged.to_json(&opts),
    ) {
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

fn write_report(
    format: Option<Format>,
    output: Option<&Path>,
    census: &Census,
    input: &InputSummary,
    opts: &ReportOptions,
    json: &dyn Fn() -> serde_json::Value,
) -> anyhow::Result<()> {
    let to_terminal = output.is_none() && std::io::stdout().is_terminal();
    let format = format.unwrap_or(if to_terminal {
        Format::Table
    } else {
        Format::Json
    });
    let mut sink: Box<dyn Write> = match output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot write {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut sink, &json())?;
            writeln!(sink)?;
        }
        Format::Table => report::write_table_with(&mut sink, census, input, opts)?,
        Format::Csv => report::write_csv_with(&mut sink, census, opts)?,
    }
    sink.flush().context("cannot write the report")?;
    Ok(())
}
