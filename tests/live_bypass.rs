//! `hellowatch live --bypass` on a veth pair (issue 17): the eBPF socket filter drops, in the
//! kernel, the packets of connections the census has read all of. Each test creates two
//! network namespaces, runs `hellowatch live --bypass` on the client's end and sends captures
//! across with tcpreplay.
//!
//! * On every shipped capture (`captures/` and its subdirectories) the census equals the
//!   replay census of the same file.
//! * On a generated workload (the test kit's, long connections) the census equals the replay
//!   census, and the packets delivered to user space fall to what an ideal filter (one that
//!   acts the moment a connection settles) would deliver plus a bounded tail.
//!
//! Needs root, `ip` and `tcpreplay`; honours `HELLOWATCH_REQUIRE_NETNS=1` like
//! tests/live_netns.rs.
#![cfg(feature = "bypass")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)]

mod common;

use common::netns::{Net, skip_reason, start_live, stop_live};
use hellowatch::capture::file::Savefile;
use hellowatch::engine::{Engine, EngineConfig, SettleSink};
use hellowatch::flow::{ConnSummary, FlowKey};
use hellowatch::wire::{self, TcpFlags};
use serde_json::Value;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Every shipped capture, subdirectories included.
fn shipped_captures() -> Vec<PathBuf> {
    let root = common::root().join("captures");
    let mut all = common::captures_in(&root);
    for e in std::fs::read_dir(&root).unwrap().flatten() {
        if e.path().is_dir() {
            all.extend(common::captures_in(&e.path()));
        }
    }
    all.sort();
    all
}

/// A live report's census against a replay's: clients and totals (packet times aside).
fn census_diff(what: &str, live: &Value, replay: &Value) -> Vec<String> {
    let mut d = common::diff(&replay["clients"], &live["clients"]);
    for section in ["quic_clients", "dtls_clients"] {
        d.extend(
            common::diff(&replay[section], &live[section])
                .into_iter()
                .map(|l| format!("{section}: {l}")),
        );
    }
    let counts = |t: &Value| {
        let mut t = t.clone();
        if let Some(o) = t.as_object_mut() {
            o.retain(|k, _| !k.ends_with("_seen"));
        }
        t
    };
    if counts(&live["totals"]) != counts(&replay["totals"]) {
        d.push(format!(
            "{what}: totals {} != {}",
            counts(&live["totals"]),
            counts(&replay["totals"])
        ));
    }
    d
}

/// Sends `pcap` through a live `--bypass` capture; its report.
fn live_bypass(net: &mut Net, pcap: &Path, pps: Option<&str>, extra: &[&str]) -> Value {
    let mut args = vec!["--bypass", "--no-listen", "--workers", "1"];
    args.extend_from_slice(extra);
    let live = start_live(net, &args);
    match pps {
        None => net.send(pcap),
        Some(rate) => {
            let out = net
                .exec(&net.ns_s, "tcpreplay")
                .args(["-q", "--pps", rate, "-i", &net.if_s])
                .arg(pcap)
                .output()
                .unwrap();
            assert!(out.status.success(), "tcpreplay: {out:?}");
        }
    }
    // Until the block being filled is handed over (50 ms) and read.
    std::thread::sleep(Duration::from_millis(400));
    let (status, report, stderr) = stop_live(net, live);
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
    let cap = &report["input"]["capture"];
    assert_eq!(cap["dropped"], 0, "kernel drops: {cap}");
    assert_eq!(report["coverage"]["queue_drops"], 0);
    report
}

#[test]
fn bypass_census_equals_the_replay_census_on_every_shipped_capture() {
    if skip_reason(&["ip", "tcpreplay"]).is_some() {
        return;
    }
    let mut net = Net::new("b");
    net.jumbo();
    let captures = shipped_captures();
    assert!(captures.len() > 40, "{captures:?}");
    let mut failures = Vec::new();
    let mut bypassed = 0;
    for pcap in &captures {
        let replay = common::replay_json(&[pcap.as_path()], &["--workers", "1"]);
        let live = live_bypass(&mut net, pcap, None, &[]);
        let name = pcap.file_name().unwrap().to_string_lossy().into_owned();
        failures.extend(census_diff(&name, &live, &replay));
        bypassed += live["coverage"]["bypass_flows"].as_u64().unwrap();
    }
    assert!(
        failures.is_empty(),
        "--bypass census differs from replay: {failures:#?}"
    );
    // The captures' TLS connections mostly settle before they end: the filter was fed.
    assert!(bypassed > 10, "only {bypassed} connections bypassed");
}

/// The filter as if it acted the moment a connection settles: what it would let through.
#[derive(Default)]
struct Ideal {
    settled: Vec<FlowKey>,
}

impl SettleSink for Ideal {
    fn settled(&mut self, _: &ConnSummary) {}
    fn bypass(&mut self, key: &FlowKey) {
        self.settled.push(*key);
    }
}

/// Packets of `pcap` an ideal bypass delivers (kept: SYN, FIN, RST, anything before its
/// connection settled), and connections it bypasses.
fn ideal_delivery(pcap: &Path) -> (u64, usize) {
    let file = Savefile::open(pcap).unwrap();
    let mut engine = Engine::new(EngineConfig::default());
    let mut sink = Ideal::default();
    let mut map: HashSet<FlowKey> = HashSet::new();
    let (mut kept, mut flows) = (0u64, 0usize);
    file.for_each(|p| {
        if let Ok(seg) = wire::decode(p.link, p.data) {
            if seg.proto == wire::Proto::Tcp {
                let (key, _) = FlowKey::of(&seg);
                let f = seg.flags;
                if f.has(TcpFlags::SYN) {
                    map.remove(&key);
                } else if !f.has(TcpFlags::FIN) && !f.has(TcpFlags::RST) && map.contains(&key) {
                    return;
                }
            }
        }
        kept += 1;
        engine.packet(p.ts_ns, p.link, p.data, &mut sink);
        for k in sink.settled.drain(..) {
            flows += 1;
            map.insert(k);
        }
    });
    (kept, flows)
}

#[test]
fn bypass_census_equals_the_replay_census_and_user_space_reads_the_handshakes() {
    if skip_reason(&["ip", "tcpreplay"]).is_some() {
        return;
    }
    let mut net = Net::new("w");
    net.jumbo();
    let pcap = net.path("workload.pcap");
    let templates = common::kit::workload::load_templates(&common::root().join("captures"));
    let params = common::kit::workload::Params {
        flows: 400,
        clients: 40,
        servers: 10,
        concurrency: 50,
        v6_percent: 10,
        seed: 17,
    };
    let f = std::io::BufWriter::new(std::fs::File::create(&pcap).unwrap());
    let (truth, _) = common::kit::workload::generate(&templates, &params, f);
    let replay = common::replay_json(&[pcap.as_path()], &["--workers", "1"]);
    assert!(common::diff(&truth["clients"], &replay["clients"]).is_empty());
    let sent = replay["input"]["packets"].as_u64().unwrap();
    let (ideal, ideal_flows) = ideal_delivery(&pcap);
    // A moderate rate, so that the time between a connection's settling packet and its key
    // reaching the map (up to a 50 ms ring block, a batch, a worker) costs each connection
    // a few packets, not its whole bulk transfer. With two capture threads (a fanout group)
    // the program is attached to both handles and shares one map.
    for threads in ["1", "2"] {
        // `-f tcp` (applied in user space with --bypass) keeps the link's own chatter out.
        let args = ["-f", "tcp", "--capture-threads", threads];
        let live = live_bypass(&mut net, &pcap, Some("2500"), &args);
        let what = format!("--capture-threads {threads}");
        let d = census_diff(&what, &live, &replay);
        assert!(d.is_empty(), "{what}: census differs from replay: {d:#?}");
        let k = &live["coverage"];
        let read = live["input"]["packets"].as_u64().unwrap();
        let dropped = k["bypass_packets"].as_u64().unwrap();
        eprintln!(
            "{what}: sent {sent}, read {read}, bypassed {dropped}, ideal read {ideal}, \
             connections bypassed {} (ideal {ideal_flows})",
            k["bypass_flows"]
        );
        // Every packet sent was read or dropped by the filter, and the filter never drops
        // what the ideal one keeps.
        assert_eq!(read + dropped, sent, "{what}");
        assert!(read >= ideal, "{what}: read {read} < ideal {ideal}");
        assert_eq!(
            k["bypass_flows"].as_u64().unwrap() as usize,
            ideal_flows,
            "{what}"
        );
        assert_eq!(k["bypass_map_full"], 0, "{what}");
        // The tail: at most half of what the ideal filter drops is read all the same.
        assert!(
            read - ideal <= (sent - ideal) / 2,
            "{what}: read {read}: ideal {ideal}, sent {sent}"
        );
    }
}
