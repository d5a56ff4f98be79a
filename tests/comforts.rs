//! The operator's comforts: examples in every `--help`, shell completions and man pages from
//! the clap definitions, the progress bar only on a terminal, `--quiet`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)]

mod common;

use std::process::Command;

const SUBCOMMANDS: [&str; 4] = ["replay", "merge", "completions", "man"];

#[test]
fn every_help_has_examples() {
    for sub in SUBCOMMANDS {
        let out = common::run(&[sub, "--help"]);
        assert!(out.status.success(), "{sub}");
        let h = String::from_utf8(out.stdout).unwrap();
        assert!(h.contains("Examples:\n  hellowatch "), "{sub} --help:\n{h}");
    }
    let out = common::run(&["--help"]);
    let h = String::from_utf8(out.stdout).unwrap();
    assert!(h.contains("Examples:\n  hellowatch "), "{h}");
}

#[test]
fn completions_for_each_shell() {
    for (shell, marker) in [
        ("bash", "_hellowatch()"),
        ("zsh", "#compdef hellowatch"),
        ("fish", "complete -c hellowatch"),
    ] {
        let out = common::run(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let s = String::from_utf8(out.stdout).unwrap();
        assert!(s.contains(marker), "{shell}: {}", &s[..s.len().min(300)]);
        for flag in ["events", "policy", "quiet"] {
            let form = if shell == "fish" {
                format!("-l {flag}")
            } else {
                format!("--{flag}")
            };
            assert!(s.contains(&form), "{shell} completes --{flag}");
        }
    }
    let out = common::run(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn man_pages_for_the_tool_and_each_subcommand() {
    let out = common::run(&["man"]);
    assert!(out.status.success());
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.contains(".TH hellowatch 1"), "{page}");
    for sub in ["replay", "merge"] {
        let s = String::from_utf8(common::run(&["man", sub]).stdout).unwrap();
        assert!(s.contains(&format!(".TH hellowatch-{sub} 1")), "{s}");
        assert!(s.contains("Examples:"), "{sub}: examples in the page");
    }
    let s = String::from_utf8(common::run(&["man", "replay"]).stdout).unwrap();
    assert!(
        s.contains("\\-\\-policy") && s.contains("\\-\\-events"),
        "{s}"
    );
    let out = common::run(&["man", "nosuch"]);
    assert_eq!(out.status.code(), Some(2));
}

/// A replay whose stderr is not a terminal shows no progress, so logs stay clean.
#[test]
fn no_progress_bar_without_a_terminal() {
    let demo = common::demo();
    let out = common::run(&["replay", demo.to_str().unwrap(), "--format", "json"]);
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// On a terminal (a pseudo-terminal made by util-linux `script`), the bar shows packets and
/// hellos; with `--quiet` it does not.
#[test]
fn progress_bar_on_a_terminal_and_quiet() {
    let has_script = Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_script {
        eprintln!("skipped: util-linux 'script' not installed");
        return;
    }
    let demo = common::demo();
    let dir = common::scratch("comforts");
    let run = |quiet: bool| {
        let report = dir.join("r.json");
        let cmd = format!(
            "{} replay {} --format json -o {}{}",
            common::bin().display(),
            demo.display(),
            report.display(),
            if quiet { " --quiet" } else { "" }
        );
        let out = Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .output()
            .unwrap();
        common::assert_ok(&out);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let shown = run(false);
    assert!(
        shown.contains("175 packets") && shown.contains("12 hellos"),
        "bar on a terminal: {shown:?}"
    );
    let quiet = run(true);
    assert!(!quiet.contains("packets"), "--quiet: {quiet:?}");
}

#[test]
fn quiet_keeps_warnings_off_stderr_but_in_the_report() {
    let full = std::fs::read(common::demo()).unwrap();
    let cut = common::scratch("comforts-quiet").join("cut.pcap");
    std::fs::write(&cut, &full[..full.len() - 10]).unwrap();
    let out = common::run(&[
        "replay",
        cut.to_str().unwrap(),
        "--format",
        "json",
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["input"]["warnings"].as_array().unwrap().len(), 1);
}
