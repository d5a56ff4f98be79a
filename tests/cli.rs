//! The command line on good and bad input: exit codes, one clear stderr line, the census of
//! whatever was read, several files as one capture, every output format.
// Test code: a broken expectation should panic, with the values at hand.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)]

mod common;

use common::packets::records;
use common::{demo, tmp};
use serde_json::Value;
use std::path::Path;

fn bad_input(path: &Path, expect_in_stderr: &str) {
    let out = common::run(&["replay", path.to_str().unwrap(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(2), "{}", path.display());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains(expect_in_stderr), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn missing_directory_empty_and_non_capture_files_exit_2() {
    bad_input(Path::new("/nonexistent/x.pcap"), "No such file");
    bad_input(&std::env::temp_dir(), "is a directory");
    let empty = tmp("empty.pcap");
    std::fs::write(&empty, b"").unwrap();
    bad_input(&empty, "empty file");
    let junk = tmp("junk.pcap");
    std::fs::write(&junk, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    bad_input(&junk, "not a pcap or pcapng file");
}

#[test]
fn a_bad_file_among_good_ones_fails_before_counting() {
    let out = common::run(&["replay", demo().to_str().unwrap(), "/nonexistent/y.pcap"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}

#[test]
fn truncated_capture_gives_census_of_what_was_read_and_a_warning() {
    let full = std::fs::read(demo()).unwrap();
    let (hdr, recs) = records(&full);
    // Cut in the middle of the last record's data.
    let whole: usize = recs.iter().map(Vec::len).sum::<usize>() + hdr.len();
    let cut = tmp("cut.pcap");
    std::fs::write(&cut, &full[..whole - recs.last().unwrap().len() / 2]).unwrap();
    let out = common::run(&["replay", cut.to_str().unwrap(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning") && err.contains("truncated"),
        "{err}"
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["input"]["packets"].as_u64().unwrap() as usize,
        recs.len() - 1
    );
    assert_eq!(v["input"]["warnings"].as_array().unwrap().len(), 1);
    assert!(v["totals"]["hellos"].as_u64().unwrap() > 0);
}

#[test]
fn several_files_are_one_census() {
    let full = std::fs::read(demo()).unwrap();
    let (hdr, recs) = records(&full);
    let half = recs.len() / 2;
    let (a, b) = (tmp("a.pcap"), tmp("b.pcap"));
    std::fs::write(&a, [hdr.clone(), recs[..half].concat()].concat()).unwrap();
    std::fs::write(&b, [hdr, recs[half..].concat()].concat()).unwrap();
    let whole = common::replay_json(&[&demo()], &[]);
    let split = common::replay_json(&[&a, &b], &[]);
    assert_eq!(
        common::diff(&whole["clients"], &split["clients"]),
        Vec::<String>::new()
    );
    assert_eq!(whole["totals"], split["totals"]);
}

#[test]
fn table_and_csv_formats() {
    let out = common::run(&["replay", demo().to_str().unwrap(), "--format", "table"]);
    assert!(out.status.success());
    let t = String::from_utf8(out.stdout).unwrap();
    let first_row = t.lines().nth(2).unwrap();
    assert!(first_row.starts_with('!'), "legacy clients first:\n{t}");
    assert!(t.contains("OFFERED MAX") && t.contains("tls1.0"), "{t}");

    let out = common::run(&["replay", demo().to_str().unwrap(), "--format", "csv"]);
    assert!(out.status.success());
    let c = String::from_utf8(out.stdout).unwrap();
    assert!(c.starts_with("client,transport,legacy,hellos,"), "{c}");
    let json = common::replay_json(&[&demo()], &[]);
    assert_eq!(
        c.lines().count() - 1,
        json["clients"].as_object().unwrap().len()
    );
}

#[test]
fn output_flag_writes_the_report_to_a_file() {
    let dest = tmp("report.json");
    let out = common::run(&[
        "replay",
        demo().to_str().unwrap(),
        "--format",
        "json",
        "-o",
        dest.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    let v: Value = serde_json::from_slice(&std::fs::read(&dest).unwrap()).unwrap();
    assert!(v["clients"].is_object());
    // An unwritable destination is an error, not a panic.
    let out = common::run(&[
        "replay",
        demo().to_str().unwrap(),
        "-o",
        "/nonexistent/dir/r.json",
    ]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn bad_limits_are_usage_errors() {
    let out = common::run(&["replay", demo().to_str().unwrap(), "--max-flows", "0"]);
    assert_eq!(out.status.code(), Some(2));
    let out = common::run(&["replay"]);
    assert_eq!(out.status.code(), Some(2));
}

#[cfg(not(feature = "live"))]
#[test]
fn live_without_the_feature_says_how_to_enable_it() {
    for args in [
        &["live"][..],
        &["live", "-i", "eth0", "--promisc"],
        &["live", "--help"],
    ] {
        let out = common::run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(
            err.contains("--features live") && err.contains("libpcap-dev"),
            "{err}"
        );
        assert!(out.stdout.is_empty());
    }
}

#[cfg(feature = "live")]
#[test]
fn live_setup_errors_exit_2_with_one_line() {
    for (args, expect) in [
        (&["live", "-i", "hw-no-such-if0"][..], "hw-no-such-if0"),
        (&["live", "-i", "lo", "--snaplen", "10"], "--snaplen"),
        (
            &["live", "-i", "lo", "--buffer-size", "100"],
            "--buffer-size",
        ),
        (&["live", "-i", "lo", "--max-flows", "0"], "--max-flows"),
    ] {
        let out = common::run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains(expect), "{err}");
        assert!(out.stdout.is_empty());
    }
}

/// `--capture-threads` is a number from 1 to `MAX_CAPTURE_THREADS`, refused before any
/// capture is opened.
#[cfg(feature = "live")]
#[test]
fn live_capture_threads_out_of_range_are_flag_errors() {
    let max = hellowatch::capture::MAX_CAPTURE_THREADS;
    let over = (max + 1).to_string();
    for (n, expect) in [
        ("0", "1 or more".to_string()),
        ("x", "1 or more".to_string()),
        (over.as_str(), format!("at most {max} capture threads")),
    ] {
        let out = common::run(&["live", "-i", "hw-no-such-if0", "--capture-threads", n]);
        assert_eq!(out.status.code(), Some(2), "{n}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("--capture-threads") && err.contains(&expect),
            "{err}"
        );
        assert!(
            !err.contains("hw-no-such-if0"),
            "refused before opening: {err}"
        );
    }
}

#[cfg(feature = "live")]
#[test]
fn live_bad_filter_or_user_exit_2_when_capture_is_allowed() {
    // Opening `lo` needs root or CAP_NET_RAW; without it the open error comes first.
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipping: opening an interface needs root");
        return;
    }
    for (args, expect) in [
        (
            &["live", "-i", "lo", "-f", "tcp port nonsense"][..],
            "bad filter",
        ),
        (
            &["live", "-i", "lo", "--user", "hw-no-such-user"],
            "no such user",
        ),
    ] {
        let out = common::run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains(expect), "{err}");
    }
}

/// A reader that goes away (`hellowatch … | head`) ends the run quietly with status 0: the
/// report, the events on standard output, a merge, the man page and the completions.
#[test]
fn broken_pipe_exits_0_quietly() {
    let demo = demo();
    let demo = demo.to_str().unwrap();
    let report = tmp("bp-report.json");
    let out = common::run(&[
        "replay",
        demo,
        "--format",
        "json",
        "-o",
        report.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let events_report = tmp("bp-events-report.json");
    let cases: [&[&str]; 7] = [
        &["replay", demo, "--format", "json"],
        &["replay", demo, "--format", "table", "--workers", "3"],
        &["replay", demo, "--format", "csv"],
        &[
            "replay",
            demo,
            "--events",
            "-",
            "-o",
            events_report.to_str().unwrap(),
        ],
        &["merge", report.to_str().unwrap(), "--format", "json"],
        &["man", "replay"],
        &["completions", "bash"],
    ];
    for args in cases {
        let mut child = std::process::Command::new(common::bin())
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Close the reading end before the child writes anything.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(err.is_empty(), "{args:?}: {err}");
    }
}

/// `hellowatch replay … | head -1`: the reader takes the first line and goes away while the
/// report (or the event log) is still being written, for every format: status 0 and nothing on
/// stderr (found by it: the CSV writer turned the broken pipe into a failure, exit 1). The
/// report of 5,000 clients (and as many servers) is far larger than a pipe's buffer (64 KiB), so the
/// writes after the reader left fail (EPIPE), unlike a reader gone before the first write
/// ([`broken_pipe_exits_0_quietly`]).
#[test]
fn head_1_after_the_first_line_exits_0_quietly_in_every_format() {
    use common::packets::{Conn, PcapWriter, client_hello, record, server_hello};
    use std::io::BufRead;
    use std::net::Ipv4Addr;
    let pcap = tmp("head-1.pcap");
    let mut w = PcapWriter::create(&pcap);
    let mut ts = 1_000_000;
    for n in 0..5_000u32 {
        let client = Ipv4Addr::from(0x0a40_0000 + n);
        let server = Ipv4Addr::from(0x0a50_0000 + n);
        let mut c = Conn::new(client, 40_000, server);
        let frames = [
            c.syn(),
            c.syn_ack(),
            c.ack(true),
            c.client(&record(22, &client_hello(0x0301, &[]))),
            c.server(&record(22, &server_hello(0x0301))),
        ];
        for f in frames.iter().chain(c.fins().iter()) {
            w.frame(ts, f);
            ts += 10;
        }
    }
    w.finish();
    let pcap = pcap.to_str().unwrap();
    let events_report = tmp("head-1-events-report.json");
    let cases: [&[&str]; 5] = [
        &["replay", pcap, "--format", "table"],
        &["replay", pcap, "--format", "csv"],
        &["replay", pcap, "--format", "csv", "--by", "server"],
        &["replay", pcap, "--format", "json"],
        &[
            "replay",
            pcap,
            "--events",
            "-",
            "-o",
            events_report.to_str().unwrap(),
        ],
    ];
    for args in cases {
        let mut child = std::process::Command::new(common::bin())
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        out.read_line(&mut first).unwrap();
        assert!(!first.is_empty(), "{args:?}: no first line");
        drop(out); // `head -1` exits
        let done = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&done.stderr);
        assert_eq!(done.status.code(), Some(0), "{args:?}: {err}");
        assert!(err.is_empty(), "{args:?}: {err}");
    }
}
