//! `hellowatch merge`: reports of the parts of a capture, split between connections, add up to
//! the report of the whole; merging is associative; a report merges to itself (the JSON report
//! reads back exactly); bad input is a usage error.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)]

mod common;

use hellowatch::wire::{self, LinkType};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const POLICIES: [&str; 4] = ["--policy", "min=tls1.2", "--policy", "min=tls1.3"];

/// Record indices where a little-endian µs pcap can be cut without cutting a connection
/// (every TCP endpoint pair lies wholly on one side), and the records themselves.
fn cut_points(pcap: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>, Vec<usize>) {
    let (hdr, recs) = common::packets::records(pcap);
    let link = LinkType::from_dlt(u32::from_le_bytes(hdr[20..24].try_into().unwrap()));
    let mut span: HashMap<_, (usize, usize)> = HashMap::new();
    for (i, r) in recs.iter().enumerate() {
        if let Ok(s) = wire::decode(link, &r[16..]) {
            let a = (s.src, s.sport);
            let b = (s.dst, s.dport);
            let key = if a <= b { (a, b) } else { (b, a) };
            span.entry(key).or_insert((i, i)).1 = i;
        }
    }
    let cuts = (1..recs.len())
        .filter(|&s| span.values().all(|&(f, l)| !(f < s && s <= l)))
        .collect();
    (hdr, recs, cuts)
}

fn write_parts(name: &str, hdr: &[u8], recs: &[Vec<u8>], cuts: &[usize]) -> Vec<PathBuf> {
    let dir = common::scratch("merge");
    let mut bounds = vec![0];
    bounds.extend_from_slice(cuts);
    bounds.push(recs.len());
    bounds
        .windows(2)
        .enumerate()
        .map(|(i, w)| {
            let p = dir.join(format!("{name}-{i}.pcap"));
            std::fs::write(&p, [hdr.to_vec(), recs[w[0]..w[1]].concat()].concat()).unwrap();
            p
        })
        .collect()
}

/// `replay --format json` of one file, written next to it.
fn report(cap: &Path, extra: &[&str]) -> PathBuf {
    let v = common::replay_json(&[cap], extra);
    let p = cap.with_extension("json");
    std::fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    p
}

fn merge(reports: &[&Path], extra: &[&str]) -> Value {
    let mut args = vec!["merge".to_string()];
    args.extend(reports.iter().map(|p| p.display().to_string()));
    args.extend(["--format", "json"].map(String::from));
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = common::run(&refs);
    assert!(
        out.status.success(),
        "merge failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn captures_to_split() -> Vec<PathBuf> {
    let mut v = vec![common::demo()];
    for c in ["mercury-top_100_fingerprints.pcap", "mercury-tls_sgt.pcap"] {
        v.extend(common::conformance_capture(c));
    }
    v
}

#[test]
fn halves_split_between_connections_merge_to_the_whole() {
    for cap in captures_to_split() {
        let bytes = std::fs::read(&cap).unwrap();
        let (hdr, recs, cuts) = cut_points(&bytes);
        let mid = *cuts
            .iter()
            .min_by_key(|&&c| c.abs_diff(recs.len() / 2))
            .unwrap_or_else(|| panic!("{}: no cut between connections", cap.display()));
        let name = cap.file_stem().unwrap().to_str().unwrap();
        let parts = write_parts(name, &hdr, &recs, &[mid]);
        let reports: Vec<PathBuf> = parts.iter().map(|p| report(p, &[])).collect();
        let refs: Vec<&Path> = reports.iter().map(PathBuf::as_path).collect();
        let merged = merge(&refs, &POLICIES);
        let whole = common::replay_json(&[&cap], &POLICIES);
        assert!(whole["totals"]["hellos"].as_u64().unwrap() > 0);
        assert_eq!(merged["clients"], whole["clients"], "{name}");
        assert_eq!(merged["totals"], whole["totals"], "{name}");
        assert_eq!(
            merged["input"]["packets"], whole["input"]["packets"],
            "{name}"
        );
        assert_eq!(merged["input"]["files"].as_array().unwrap().len(), 2);
        for k in ["tcp_segments", "flows_created", "streams_not_tls"] {
            assert_eq!(merged["coverage"][k], whole["coverage"][k], "{name} {k}");
        }
    }
}

#[test]
fn merging_is_associative_and_commutative() {
    let cap = common::demo();
    let bytes = std::fs::read(&cap).unwrap();
    let (hdr, recs, cuts) = cut_points(&bytes);
    assert!(cuts.len() >= 4, "the demo has 12 connections");
    let two = [cuts[cuts.len() / 3], cuts[2 * cuts.len() / 3]];
    let parts = write_parts("assoc", &hdr, &recs, &two);
    let r: Vec<PathBuf> = parts.iter().map(|p| report(p, &[])).collect();
    let abc = merge(&[&r[0], &r[1], &r[2]], &[]);
    let dir = common::scratch("merge-assoc");
    let ab = dir.join("ab.json");
    std::fs::write(
        &ab,
        serde_json::to_vec(&merge(&[&r[0], &r[1]], &[])).unwrap(),
    )
    .unwrap();
    let cb = dir.join("cb.json");
    std::fs::write(
        &cb,
        serde_json::to_vec(&merge(&[&r[2], &r[1]], &[])).unwrap(),
    )
    .unwrap();
    for m in [merge(&[&ab, &r[2]], &[]), merge(&[&cb, &r[0]], &[])] {
        assert_eq!(m["clients"], abc["clients"]);
        assert_eq!(m["totals"], abc["totals"]);
        assert_eq!(m["coverage"], abc["coverage"]);
        assert_eq!(m["input"]["packets"], abc["input"]["packets"]);
    }
    let whole = common::replay_json(&[&cap], &[]);
    assert_eq!(abc["clients"], whole["clients"]);
    assert_eq!(abc["totals"], whole["totals"]);
}

#[test]
fn a_report_merges_to_itself() {
    let mut caps = vec![
        common::demo(),
        common::root().join("captures/tls13-hrr.pcap"),
    ];
    for c in [
        "mercury-top_100_fingerprints.pcap",
        "ja4-tls-sni.pcapng",
        "flowtest-ssl-v2.pcap",
    ] {
        caps.extend(common::conformance_capture(c));
    }
    let dir = common::scratch("merge-self");
    for cap in caps {
        let v = common::replay_json(&[&cap], &POLICIES);
        let p = dir.join("r.json");
        std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
        let m = merge(&[&p], &POLICIES);
        assert_eq!(m, v, "{}", cap.display());
    }
}

#[test]
fn merge_prints_table_and_csv() {
    let cap = common::demo();
    let dir = common::scratch("merge-fmt");
    let p = dir.join("demo.json");
    std::fs::write(
        &p,
        serde_json::to_vec(&common::replay_json(&[&cap], &[])).unwrap(),
    )
    .unwrap();
    let out = common::run(&[
        "merge",
        p.to_str().unwrap(),
        p.to_str().unwrap(),
        "--format",
        "table",
    ]);
    assert!(out.status.success());
    let t = String::from_utf8(out.stdout).unwrap();
    assert!(
        t.starts_with("hellowatch: 2 file(s), 350 packets; 7 clients, 3 legacy"),
        "{t}"
    );
    let out = common::run(&["merge", p.to_str().unwrap(), "--format", "csv"]);
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .starts_with("client,transport,legacy,hellos,")
    );
}

#[test]
fn files_that_are_not_reports_are_usage_errors() {
    let dir = common::scratch("merge-bad");
    let junk = dir.join("junk.json");
    std::fs::write(&junk, b"not json").unwrap();
    let arr = dir.join("array.json");
    std::fs::write(&arr, b"[1, 2]").unwrap();
    let bad_version = dir.join("bad.json");
    std::fs::write(
        &bad_version,
        br#"{"clients": {"10.0.0.1": {"offered_max": {"tls9": 1}}}, "totals": {}}"#,
    )
    .unwrap();
    for (p, msg) in [
        (junk.as_path(), "not JSON"),
        (arr.as_path(), "not a hellowatch JSON report"),
        (bad_version.as_path(), "tls9"),
        (Path::new("/nonexistent/r.json"), "No such file"),
    ] {
        let out = common::run(&["merge", p.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{}", p.display());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(msg), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(out.stdout.is_empty());
    }
}

/// `replay --state S` of the parts one after another, each continuing from the census the
/// last saved, equals the replay of the whole (with snapshots every packet-time second on
/// the way, and any number of workers).
#[test]
fn replays_continuing_from_a_state_file_count_the_whole() {
    let cap = common::demo();
    let bytes = std::fs::read(&cap).unwrap();
    let (hdr, recs, cuts) = cut_points(&bytes);
    let three = [cuts[cuts.len() / 3], cuts[2 * cuts.len() / 3]];
    let parts = write_parts("state", &hdr, &recs, &three);
    let whole = common::replay_json(&[&cap], &POLICIES);
    for workers in ["1", "3"] {
        let state = common::scratch("state").join(format!("state-{workers}.json"));
        let _ = std::fs::remove_file(&state);
        let mut last = Value::Null;
        for p in &parts {
            let args = [
                "--state",
                state.to_str().unwrap(),
                "--snapshot-interval",
                "1",
                "--workers",
                workers,
            ];
            last = common::replay_json(&[p], &[&args[..], &POLICIES].concat());
        }
        assert_eq!(last["clients"], whole["clients"], "--workers {workers}");
        assert_eq!(last["totals"], whole["totals"], "--workers {workers}");
        assert_eq!(last["input"]["since"], whole["input"]["since"]);
        assert_eq!(last["input"]["packets"], whole["input"]["packets"]);
        assert_eq!(last["coverage"], whole["coverage"], "--workers {workers}");
        let saved: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
        assert_eq!(saved, last, "the state file is the report");
    }
}

/// A state file that is not JSON is renamed aside (not overwritten) and counting starts
/// afresh, with a warning; one this version cannot read stops the run, untouched.
#[test]
fn a_corrupt_state_file_is_kept_aside_and_an_unreadable_one_is_refused() {
    let dir = common::scratch("state-bad");
    let cap = common::demo();
    let state = dir.join("s.json");
    std::fs::write(&state, b"{\"clients\": {\"10.0.0.1\"").unwrap();
    let r = common::replay_json(&[&cap], &["--state", state.to_str().unwrap(), "-q"]);
    let warnings = r["input"]["warnings"].to_string();
    assert!(
        warnings.contains("corrupt") && warnings.contains(".corrupt-"),
        "{warnings}"
    );
    let aside: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("s.json.corrupt-")
        })
        .collect();
    assert_eq!(aside.len(), 1);
    assert_eq!(
        std::fs::read(aside[0].path()).unwrap(),
        b"{\"clients\": {\"10.0.0.1\"",
        "kept as it was"
    );
    for (text, msg) in [
        (
            r#"{"schema": 5, "clients": {}, "totals": {}}"#,
            "schema 5 is newer",
        ),
        (
            r#"{"clients": {"10.0.0.1": {"offered_max": {"tls9": 1}}}, "totals": {}}"#,
            "tls9",
        ),
    ] {
        std::fs::write(&state, text).unwrap();
        let out = common::run(&[
            "replay",
            cap.to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(msg) && err.contains("refusing"), "{err}");
        assert_eq!(
            std::fs::read(&state).unwrap(),
            text.as_bytes(),
            "left untouched"
        );
    }
}

/// A snapshot cut short by `kill -9` leaves its temporary file beside the state file; the next
/// run removes it (and only files named like it) when it starts.
#[test]
fn a_killed_runs_temporary_state_file_is_removed_at_the_next_start() {
    let dir = common::scratch("state-tmp");
    let state = dir.join("s.json");
    let stale = dir.join(".s.json.Ab3dE9.tmp");
    let other = dir.join(".t.json.Ab3dE9.tmp");
    std::fs::write(&stale, b"{\"clients\": {").unwrap();
    std::fs::write(&other, b"not ours").unwrap();
    let cap = common::demo();
    let r = common::replay_json(&[&cap], &["--state", state.to_str().unwrap(), "-q"]);
    assert!(r["input"]["warnings"].as_array().unwrap().is_empty());
    assert!(!stale.exists(), "the stale temporary file is still there");
    assert!(other.exists(), "another file's temporary file was removed");
    assert!(state.is_file());
}
