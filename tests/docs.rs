//! The documentation stays true to the binary: every `hellowatch` flag that README.md or
//! docs/*.md mentions is one that `hellowatch SUBCOMMAND --help` lists, and docs/metrics.md
//! lists exactly the metrics an exposition declares.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)]

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

/// README.md and every page of docs/.
fn pages() -> Vec<(PathBuf, String)> {
    let mut paths = vec![common::root().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(common::root().join("docs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    paths.extend(docs);
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect()
}

/// The long flags (`--name`) in `text`.
fn long_flags(text: &str) -> impl Iterator<Item = String> + '_ {
    text.match_indices("--").filter_map(|(at, _)| {
        let before = text[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '-') {
            return None;
        }
        let name: String = text[at + 2..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
            .collect();
        (name.len() > 1 && name.starts_with(|c: char| c.is_ascii_lowercase()))
            .then(|| format!("--{name}"))
    })
}

/// Flags of other programs that the docs show on their own in backticks (cargo's, check.py's).
const OTHER_TOOLS: [&str; 6] = [
    "--features",
    "--release",
    "--ignored",
    "--locked",
    "--with-quic-dtls",
    "--test",
];

/// The hellowatch flags a page mentions: in code blocks, on lines that run hellowatch (after
/// the word `hellowatch`, comments removed), and in inline code that starts with `--` or
/// `hellowatch `.
fn mentioned(page: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut in_code = false;
    for line in page.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            let code = line.split(" # ").next().unwrap();
            // `cargo run --release -- replay …`: hellowatch's arguments follow ` -- `.
            let run = code
                .split_once(" -- ")
                .filter(|(cmd, _)| cmd.contains("cargo run"))
                .map(|(_, args)| args)
                .or_else(|| code.split_once("hellowatch ").map(|(_, args)| args));
            if let Some(args) = run {
                out.extend(long_flags(args));
            }
            continue;
        }
        for (i, span) in line.split('`').enumerate() {
            if i % 2 == 0 {
                continue;
            }
            if span.starts_with("--") {
                out.extend(long_flags(span).take(1));
            } else if let Some(args) = span.strip_prefix("hellowatch ") {
                out.extend(long_flags(args));
            }
        }
    }
    out.retain(|f| !OTHER_TOOLS.contains(&f.as_str()));
    out
}

/// The options `hellowatch ARGS --help` lists (option lines only, not the prose).
fn options_of(args: &[&str]) -> Option<BTreeSet<String>> {
    let mut all = args.to_vec();
    all.push("--help");
    let out = common::run(&all);
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).unwrap();
    let set: BTreeSet<String> = text
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with('-'))
        .flat_map(|l| long_flags(l.split("  ").next().unwrap()).collect::<Vec<_>>())
        .collect();
    Some(set)
}

#[test]
#[cfg_attr(
    not(feature = "live"),
    ignore = "needs `hellowatch live --help`: run with --features live (CI does)"
)]
fn docs_mention_only_flags_the_binary_has() {
    let mut known = BTreeSet::new();
    for sub in [
        &["replay"][..],
        &["live"],
        &["merge"],
        &["completions"],
        &["man"],
        &[],
    ] {
        let flags = options_of(sub).unwrap_or_else(|| panic!("hellowatch {sub:?} --help"));
        assert!(!flags.is_empty(), "no options parsed for {sub:?}");
        known.extend(flags);
    }
    assert!(known.contains("--max-flows") && known.contains("--snaplen"));
    let mut unknown = Vec::new();
    let mut seen = 0;
    for (path, text) in pages() {
        for flag in mentioned(&text) {
            seen += 1;
            if !known.contains(&flag) {
                unknown.push(format!("{}: {flag}", path.display()));
            }
        }
    }
    assert!(
        seen >= 20,
        "only {seen} flag mentions found: is the scan broken?"
    );
    assert!(
        unknown.is_empty(),
        "flags the docs mention but `hellowatch … --help` does not have:\n{}",
        unknown.join("\n")
    );
}

#[test]
fn the_flag_scan_sees_code_and_inline_flags_only() {
    let page = "Use `--policy min=tls1.2`, `hellowatch merge --max-clients 9` and `cargo test --release`.\n\
                ```sh\n\
                cargo build --release --features live   # adds `--bogus`\n\
                hellowatch replay x.pcap --workers 2 -o y   # not --comment\n\
                cargo run --release -- replay x.pcap --hold\n\
                ```\n\
                Prose --nope is not a flag mention; `--features live` is cargo's.\n";
    let got: Vec<String> = mentioned(page).into_iter().collect();
    assert_eq!(got, ["--hold", "--max-clients", "--policy", "--workers"]);
}

/// Metric names in the first column of docs/metrics.md's tables.
fn documented_metrics() -> BTreeSet<String> {
    let doc = std::fs::read_to_string(common::root().join("docs/metrics.md")).unwrap();
    doc.lines()
        .filter_map(|l| l.strip_prefix("| `hellowatch_"))
        .map(|l| {
            let name: String = l
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            format!("hellowatch_{name}")
        })
        .collect()
}

#[test]
fn metrics_doc_lists_exactly_the_exported_metrics() {
    let dir = common::scratch("docs");
    let file = dir.join("demo.prom");
    let out = common::run(&[
        "replay",
        common::demo().to_str().unwrap(),
        "--format",
        "json",
        "-o",
        "/dev/null",
        "--policy",
        "min=tls1.2",
        "--metrics-file",
        file.to_str().unwrap(),
    ]);
    common::assert_ok(&out);
    let text = std::fs::read_to_string(&file).unwrap();
    let exported: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    assert!(exported.len() >= 40, "{} metrics declared", exported.len());
    let documented = documented_metrics();
    let missing: Vec<_> = exported.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&exported).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "docs/metrics.md lacks {missing:?} and lists {extra:?}, which no exposition declares"
    );
}
