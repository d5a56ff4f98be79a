//! Least privilege, checked on the source: hellowatch never runs another program, writes files
//! only where the user asked (`--output` in `src/run.rs`), opens no socket, and keeps its
//! `unsafe` to the reviewed memory-map calls of the savefile reader and the fanout
//! `setsockopt` of live capture.
//!
//! A scan of `src/` (comments removed). When a feature legitimately needs one of these (the
//! metrics listener's socket, `--metrics-file`, live capture's privilege drop), add the file
//! and the exact number of uses to the allow-list below, in the same change, with its reason.
// Test code: a broken expectation should panic, with the values at hand.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What is looked for, and why it matters.
const PATTERNS: &[(&str, &str)] = &[
    ("process::Command", "runs another program"),
    ("Command::new(", "runs another program"),
    ("libc::system", "runs a shell"),
    ("exec(", "replaces the process"),
    ("File::create", "creates or truncates a file"),
    ("OpenOptions", "opens a file for writing"),
    ("fs::write", "writes a file"),
    ("create_dir", "creates a directory"),
    ("remove_file", "deletes a file"),
    ("remove_dir", "deletes a directory"),
    ("fs::rename", "moves a file"),
    ("fs::copy", "copies a file"),
    ("set_permissions", "changes permissions"),
    ("symlink", "creates a link"),
    ("hard_link", "creates a link"),
    ("TcpListener", "listens on the network"),
    ("TcpStream", "connects to the network"),
    ("NamedTempFile", "creates a file"),
    ("tempfile::", "creates a file"),
    ("UdpSocket", "uses the network"),
    ("unsafe {", "unsafe code"),
    ("unsafe fn", "unsafe code"),
    ("unsafe impl", "unsafe code"),
];

/// Allowed uses: (file under src/, pattern, exact count, reason).
const ALLOWED: &[(&str, &str, usize, &str)] = &[
    (
        "run.rs",
        "File::create",
        1,
        "--output: the report file the user names",
    ),
    (
        "events/writer.rs",
        "File::create",
        1,
        "--events PATH: the event log file the user names",
    ),
    (
        "events/writer.rs",
        "OpenOptions",
        1,
        "live --events PATH: appended to (a restarted sensor keeps its log), reopened on SIGHUP",
    ),
    (
        "events/writer.rs",
        "fs::rename",
        1,
        "in the event writer's own unit tests: logrotate's rename, in a scratch directory",
    ),
    (
        "events/writer.rs",
        "tempfile::",
        1,
        "in the event writer's own unit tests: a scratch directory",
    ),
    (
        "events/writer.rs",
        "create_dir",
        1,
        "in the event writer's own unit tests: a scratch directory under the system temp dir",
    ),
    (
        "state.rs",
        "tempfile::",
        5,
        "atomic writes of --state, live --output and --metrics-file: a temporary file beside \
         the named file, renamed over it; and in its unit tests three scratch directories and \
         a temporary file named as the atomic writes name theirs",
    ),
    (
        "state.rs",
        "remove_file",
        1,
        "at start, the temporary files a killed run left beside --state and live --output \
         (named .NAME.XXXXXX.tmp as write_atomic names them; nothing else)",
    ),
    (
        "state.rs",
        "create_dir",
        1,
        "in its unit tests: a directory with a temporary file's name, which must be left alone",
    ),
    (
        "state.rs",
        "fs::rename",
        1,
        "--state: a corrupt state file is renamed aside (PATH.corrupt-UNIXTIME), not overwritten",
    ),
    (
        "state.rs",
        "fs::write",
        3,
        "in its unit tests: damaged state files and stale temporary files in a scratch \
         directory",
    ),
    (
        "metrics/http.rs",
        "TcpListener",
        1,
        "--listen: the metrics endpoint (loopback by default; refused as root elsewhere)",
    ),
    (
        "capture/file.rs",
        "unsafe {",
        2,
        "memmap2: mapping a savefile read-only, and releasing pages behind the reader",
    ),
    (
        "capture/live.rs",
        "unsafe {",
        2,
        "--capture-threads: PACKET_FANOUT set and read on libpcap's socket (libc; no safe API)",
    ),
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The code of a Rust file without `//` comments (string literals that contain `//` are rare
/// enough in this crate; a false positive would only make this test stricter).
fn code(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn no_shell_outs_no_writes_outside_output_no_sockets_no_new_unsafe() {
    let src = common::root().join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    assert!(files.len() > 10, "found only {} sources", files.len());
    let mut found: BTreeMap<(String, &str), usize> = BTreeMap::new();
    for f in &files {
        let rel = f
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let c = code(&std::fs::read_to_string(f).unwrap());
        for (pat, _) in PATTERNS {
            let n = c.matches(pat).count();
            if n > 0 {
                found.insert((rel.clone(), pat), n);
            }
        }
    }
    let mut problems = Vec::new();
    for ((file, pat), n) in &found {
        let why = PATTERNS.iter().find(|(p, _)| p == pat).unwrap().1;
        match ALLOWED.iter().find(|(f, p, _, _)| f == file && p == pat) {
            Some((_, _, allowed, _)) if allowed == n => {}
            Some((_, _, allowed, _)) => problems.push(format!(
                "src/{file}: {n} × `{pat}` ({why}), {allowed} allowed"
            )),
            None => problems.push(format!("src/{file}: {n} × `{pat}` ({why}), none allowed")),
        }
    }
    for (file, pat, n, _) in ALLOWED {
        if !found.contains_key(&(file.to_string(), *pat)) {
            problems.push(format!("allow-list entry src/{file} `{pat}` ×{n} is stale"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_scan_sees_what_it_looks_for() {
    // The scanner itself: a use in code counts, the same words in a comment do not.
    let c = code("let f = File::create(p); // not std::process::Command\n// OpenOptions");
    assert_eq!(c.matches("File::create").count(), 1);
    assert_eq!(c.matches("process::Command").count(), 0);
    assert_eq!(c.matches("OpenOptions").count(), 0);
}
