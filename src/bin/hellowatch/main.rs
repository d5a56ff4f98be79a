//! The `hellowatch` binary: parse and check the flags into one [`Plan`], run it, map the
//! result to an exit status. The flags, their validation, the completions, the man pages and
//! the progress bar live here; the library ([`hellowatch::run`]) never sees a flag.

mod cli;
mod progress;

use clap::{CommandFactory, Parser};
use cli::{Cli, Command, ManArgs, MergeArgs};
use hellowatch::report::ReportOptions;
use hellowatch::run::{self, Plan, RunError};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

/// Exit status for bad input (a file that cannot be read or is not a capture, bad flags, an
/// interface that cannot be captured on).
const EXIT_BAD_INPUT: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Replay(args) => match args.plan() {
            Ok(plan) => execute(&plan),
            Err(e) => bad_input(e),
        },
        #[cfg(feature = "live")]
        Command::Live(args) => match args.plan() {
            Ok(plan) => execute(&plan),
            Err(e) => bad_input(e),
        },
        #[cfg(not(feature = "live"))]
        Command::Live(_) => bad_input(
            "live capture is not in this build; rebuild with --features live (needs libpcap-dev)",
        ),
        Command::Merge(args) => merge(&args),
        Command::Completions(a) => {
            let mut script = Vec::new();
            clap_complete::generate(a.shell, &mut Cli::command(), "hellowatch", &mut script);
            to_stdout(&script)
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

/// Runs a plan, with a progress bar on a terminal unless `--quiet` (replay).
fn execute(plan: &Plan) -> ExitCode {
    let mut bar: Option<progress::ReplayBar> = None;
    let show = !plan.quiet && std::io::stderr().is_terminal();
    let done = run::execute(plan, &mut |p| {
        if show {
            bar.get_or_insert_with(|| progress::ReplayBar::new(p.total_bytes))
                .update(p);
        }
    });
    if let Some(b) = &bar {
        b.finish();
    }
    exit_status(done)
}

/// 0 on success; 2 for bad input; 1 when an output cannot be written or live capture failed
/// part-way (its warning is already printed).
fn exit_status(done: Result<(), RunError>) -> ExitCode {
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(RunError::Input(e)) => bad_input(e),
        Err(RunError::Output(e)) => failure(e),
        Err(RunError::Capture(_)) => ExitCode::FAILURE,
    }
}

/// Writes `bytes` to standard output; a reader that went away (`| head`) is not an error.
fn to_stdout(bytes: &[u8]) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => failure(e),
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
    let report = merged.report(&ReportOptions { policies });
    let plan = args.report.plan();
    let written = run::open_output(&plan)
        .and_then(|mut sink| run::write_report(&mut sink, plan.format, &report));
    exit_status(written)
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
    let mut roff = Vec::new();
    match clap_mangen::Man::new(page).render(&mut roff) {
        Ok(()) => to_stdout(&roff),
        Err(e) => failure(e),
    }
}
