//! The durable census (`--state`) of `hellowatch live` on a real interface: a `kill -9`
//! mid-traffic loses at most the connections settled since the last snapshot, and a restart
//! with the same state file continues counting from it.
//!
//! Needs root, `ip` and `tcpreplay` (see `common::netns` for the skip rule).
#![cfg(feature = "live")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)]

mod common;

use common::netns::{Net, signal, skip_reason, start_live_to, stop_live, wait_exit};
use common::packets::{Conn, PcapWriter, client_hello, record, server_hello};
use nix::sys::signal::Signal;
use serde_json::Value;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Connections per chunk of traffic.
const PER_CHUNK: u32 = 10;

/// A pcap of `PER_CHUNK` complete TLS connections (SYN to FINs; TLS 1.0, 1.2 and 1.3 in turn)
/// from 50 recurring clients, with source ports unique to the chunk.
fn chunk_pcap(path: &Path, chunk: u32) {
    let mut p = PcapWriter::create(path);
    let mut ts = 1_000_000 * u64::from(chunk + 1);
    for i in 0..PER_CHUNK {
        let n = chunk * PER_CHUNK + i;
        let client = Ipv4Addr::new(10, 200, 0, (n % 50 + 1) as u8);
        let mut c = Conn::new(client, 10_000 + n as u16, Ipv4Addr::new(10, 199, 1, 1));
        let (hello, version) = match n % 3 {
            0 => (client_hello(0x0301, &[]), 0x0301),
            1 => (client_hello(0x0303, &[]), 0x0303),
            _ => (client_hello(0x0303, &[0x0304, 0x0303]), 0x0304),
        };
        let frames = [
            c.syn(),
            c.syn_ack(),
            c.ack(true),
            c.client(&record(22, &hello)),
            c.server(&record(22, &server_hello(version))),
        ];
        for f in frames.iter().chain(c.fins().iter()) {
            p.frame(ts, f);
            ts += 10;
        }
    }
    p.finish();
}

fn json(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap();
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: not JSON ({e})", path.display()))
}

fn replay(files: &[PathBuf]) -> Value {
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    common::replay_json(&refs, &[])
}

fn connections(r: &Value) -> u64 {
    r["totals"]["connections"].as_u64().unwrap()
}

/// Every count of `part`'s clients is at most `whole`'s.
fn contained(part: &Value, whole: &Value) -> Vec<String> {
    let (p, w) = (
        common::flatten(&part["clients"]),
        common::flatten(&whole["clients"]),
    );
    let mut bad = Vec::new();
    for (ip, counts) in &p {
        for (k, n) in counts {
            let m = w.get(ip).and_then(|c| c.get(k)).copied().unwrap_or(0);
            if *n > m {
                bad.push(format!("{ip} {k}: {n} > {m}"));
            }
        }
    }
    bad
}

#[test]
fn kill_9_mid_traffic_loses_at_most_the_last_interval_and_a_restart_continues() {
    if skip_reason(&["ip", "tcpreplay"]).is_some() {
        return;
    }
    const CHUNKS: u32 = 30;
    const KILL_AFTER: u32 = 20;
    const PAUSE: Duration = Duration::from_millis(300);
    // Snapshot interval 1 s; snapshots are taken on the capture loop's 1 s ticks.
    const WINDOW: Duration = Duration::from_millis(1000 + 1000 + 500);
    let mut net = Net::new("k");
    let chunks: Vec<PathBuf> = (0..CHUNKS)
        .map(|i| {
            let p = net.path(&format!("chunk{i}.pcap"));
            chunk_pcap(&p, i);
            p
        })
        .collect();
    let state = net.path("state.json");
    let st = state.to_str().unwrap().to_string();
    let args = ["-f", "tcp", "--workers", "2", "--no-listen", "--state", &st];
    let args = [&args[..], &["--snapshot-interval", "1"]].concat();
    let live = start_live_to(&mut net, "first.json", &args);
    let mut sent_at = Vec::new();
    for (i, c) in chunks[..=KILL_AFTER as usize].iter().enumerate() {
        if i > 0 {
            std::thread::sleep(PAUSE);
        }
        net.send(c);
        sent_at.push(Instant::now());
    }
    // Right after the last chunk left: its packets may still be in flight.
    signal(live.pid, Signal::SIGKILL);
    let killed = Instant::now();
    wait_exit(&mut net, &live);
    // What the state file held at the kill: a whole census (atomic writes), part of what was
    // sent.
    let at_kill = json(&state);
    let sent_before = replay(&chunks[..=KILL_AFTER as usize]);
    let bad = contained(&at_kill, &sent_before);
    assert!(
        bad.is_empty(),
        "the state holds more than was sent:\n{}",
        bad.join("\n")
    );
    let since = at_kill["input"]["since"].clone();
    assert!(since.is_string(), "input.since: {since}");
    let lost = connections(&sent_before) - connections(&at_kill);
    let in_window: u64 = sent_at
        .iter()
        .filter(|t| killed.duration_since(**t) <= WINDOW)
        .count() as u64
        * u64::from(PER_CHUNK);
    eprintln!(
        "kill -9 after {} connections: the state file held {}, lost {lost} (bound: {in_window}, \
         the connections of the last snapshot interval and tick)",
        connections(&sent_before),
        connections(&at_kill)
    );
    assert!(connections(&at_kill) > 0, "no snapshot before the kill");
    assert!(lost <= in_window, "lost {lost} > {in_window}");
    // Restart with the same state file and send the rest.
    let live = start_live_to(&mut net, "second.json", &args);
    for c in &chunks[KILL_AFTER as usize + 1..] {
        net.send(c);
    }
    std::thread::sleep(Duration::from_millis(500));
    let (status, last, stderr) = stop_live(&mut net, live);
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(
        json(&state)["clients"],
        last["clients"],
        "state and report agree"
    );
    // The final census is the state at the kill plus a replay of what was sent after.
    let after = replay(&chunks[KILL_AFTER as usize + 1..]);
    let after_file = net.path("after.json");
    std::fs::write(&after_file, after.to_string()).unwrap();
    let kill_file = net.path("at-kill.json");
    std::fs::write(&kill_file, at_kill.to_string()).unwrap();
    let out = common::run(&[
        "merge",
        kill_file.to_str().unwrap(),
        after_file.to_str().unwrap(),
        "--format",
        "json",
    ]);
    common::assert_ok(&out);
    let expected: Value = serde_json::from_slice(&out.stdout).unwrap();
    let diff = common::diff(&expected["clients"], &last["clients"]);
    assert!(diff.is_empty(), "census differs:\n{}", diff.join("\n"));
    assert_eq!(connections(&last), connections(&expected));
    assert_eq!(
        connections(&last),
        connections(&replay(&chunks)) - lost,
        "everything sent, minus the loss at the kill"
    );
    assert_eq!(
        last["input"]["since"], since,
        "input.since is kept across restarts"
    );
}

/// logrotate's convention: the event log and the report file are renamed, SIGHUP makes
/// hellowatch continue in new files; every connection has exactly one line over the two logs.
#[test]
fn sighup_after_a_rename_continues_the_event_log_in_a_new_file_without_loss_or_repeats() {
    if skip_reason(&["ip", "tcpreplay"]).is_some() {
        return;
    }
    let mut net = Net::new("h");
    let chunks: Vec<PathBuf> = (0..4)
        .map(|i| {
            let p = net.path(&format!("chunk{i}.pcap"));
            chunk_pcap(&p, i);
            p
        })
        .collect();
    let events = net.path("events.jsonl");
    let ev = events.to_str().unwrap().to_string();
    let args = [
        "-f",
        "tcp",
        "--workers",
        "2",
        "--no-listen",
        "--events",
        &ev,
    ];
    let live = start_live_to(&mut net, "report.json", &args);
    let lines = |p: &Path| -> Vec<Value> {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let wait_for = |what: &dyn Fn() -> bool| {
        let t0 = Instant::now();
        while !what() {
            assert!(t0.elapsed() < Duration::from_secs(30), "hang guard");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    for c in &chunks[..2] {
        net.send(c);
    }
    // The first half written (events are handed over at every 1 s tick)...
    wait_for(&|| lines(&events).len() == 2 * PER_CHUNK as usize);
    let (rotated, report_1) = (net.path("events.jsonl.1"), net.path("report.json.1"));
    std::fs::rename(&events, &rotated).unwrap();
    std::fs::rename(net.path("report.json"), &report_1).unwrap();
    signal(live.pid, Signal::SIGHUP);
    // ...the report file is written anew at the next tick...
    wait_for(&|| net.path("report.json").exists());
    for c in &chunks[2..] {
        net.send(c);
    }
    std::thread::sleep(Duration::from_millis(500));
    let (status, report, stderr) = stop_live(&mut net, live);
    assert_eq!(
        status.code(),
        Some(0),
        "still running after SIGHUP, then stopped: {stderr}"
    );
    // ...and the second half is in the new event log.
    let (old, new) = (lines(&rotated), lines(&events));
    assert_eq!(old.len(), 2 * PER_CHUNK as usize);
    assert_eq!(new.len(), 2 * PER_CHUNK as usize);
    let mut ports: Vec<u64> = old
        .iter()
        .chain(&new)
        .map(|e| e["source"]["port"].as_u64().unwrap())
        .collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(
        ports.len(),
        4 * PER_CHUNK as usize,
        "one line per connection"
    );
    assert_eq!(connections(&report), u64::from(4 * PER_CHUNK));
}
