//! A fleet on Prometheus (issue 13): three `hellowatch live` sensors, each in a network
//! namespace of its own and fed a different capture (tcpreplay over a veth), two Prometheus
//! servers in agent mode (`--enable-feature=agent`) scraping them, one of them two sensors, and
//! a central Prometheus (`--web.enable-remote-write-receiver`) they remote-write to: all real
//! Debian `prometheus` binaries on loopback ports they pick, with temp storage.
//!
//! The central server must count, `sum by (version)`, exactly the negotiated handshakes of the
//! three replay censuses added up, and `up{sensor=…}` must be 1 for every sensor. The first
//! agent runs the shipped `deploy/prometheus/agent.yml` (its `sensor` external label), with the
//! test's addresses; the second gives each of its two targets a `sensor` target label. Then
//! `hellowatch merge` of the sensors' `--state` files must equal the replay census of the
//! three captures together, and each sensor's event log must carry the same
//! `network.community_id`s as a replay of its capture (one connection, one identifier).
//!
//! Each sensor's namespace has a capture link (the veth tcpreplay sends on) and a management
//! link to the root namespace, where the Prometheus servers run and scrape its `--listen`
//! address. Needs root, `ip`, `tcpreplay` and `prometheus`: without them the test says why and
//! passes, unless `HELLOWATCH_REQUIRE_NETNS=1` / `HELLOWATCH_REQUIRE_TOOLS=1` (set by
//! `.ci/run`) make that a failure.
#![cfg(feature = "live")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)]

mod common;

use common::netns::{Live, Net, skip_reason, start_live_to, stop_live};
use common::prom::{self, Server};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Sensor name and the capture it is fed (three captures with different clients and versions,
/// two sharing the client 127.0.0.1, so the merge adds up one client across sensors).
const SENSORS: [(&str, &str); 3] = [
    ("fleet-a", "demo-legacy-mix.pcap"),
    ("fleet-b", "fallback-scsv.pcap"),
    ("fleet-c", "tls13-hrr.pcap"),
];

/// Negotiated handshakes of a census report by metric `version` label (every transport).
fn negotiated(report: &Value, into: &mut BTreeMap<String, u64>) {
    for section in ["totals", "quic_totals", "dtls_totals"] {
        for (v, n) in report[section]["negotiated"]
            .as_object()
            .into_iter()
            .flatten()
        {
            let n = n.as_u64().unwrap();
            if n > 0 {
                *into.entry(prom::version_label(v).to_string()).or_default() += n;
            }
        }
    }
}

/// The `network.community_id` of every event line, sorted.
fn community_ids(lines: &str) -> Vec<String> {
    let mut ids: Vec<String> = lines
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["network"]["community_id"].as_str().unwrap().to_string()
        })
        .collect();
    ids.sort();
    ids
}

/// The shipped agent configuration with the test's sensor, name, central server and a 1 s
/// scrape interval; every replaced value must be in the file.
fn shipped_agent_config(sensor: &str, target: &str, central: &str) -> String {
    let text = std::fs::read_to_string(common::root().join("deploy/prometheus/agent.yml")).unwrap();
    let mut text = text;
    for (from, to) in [
        ("sensor: dc1-core", format!("sensor: {sensor}")),
        ("'127.0.0.1:12451'", format!("'{target}'")),
        (
            "https://prometheus-central.example.net:9090",
            central.to_string(),
        ),
        ("scrape_interval: 15s", "scrape_interval: 1s".to_string()),
        (
            "batch_send_deadline: 5s",
            "batch_send_deadline: 1s".to_string(),
        ),
    ] {
        assert!(
            text.contains(from),
            "deploy/prometheus/agent.yml lacks {from}"
        );
        text = text.replace(from, &to);
    }
    text
}

/// An agent that scrapes several sensors, each target with its own `sensor` label.
fn two_sensor_agent_config(targets: &[(&str, String)], central: &str) -> String {
    let mut s = String::from(
        "global:\n  scrape_interval: 1s\n  external_labels:\n    agent: fleet-agent-2\n\
         scrape_configs:\n  - job_name: hellowatch\n    static_configs:\n",
    );
    for (sensor, target) in targets {
        s.push_str(&format!(
            "      - targets: ['{target}']\n        labels:\n          sensor: {sensor}\n"
        ));
    }
    s.push_str(&format!(
        "remote_write:\n  - url: {central}/api/v1/write\n    queue_config:\n      \
         batch_send_deadline: 1s\n"
    ));
    s
}

#[test]
fn three_sensors_two_agents_one_central_prometheus_count_what_the_replays_count() {
    if skip_reason(&["ip", "tcpreplay"]).is_some() {
        return;
    }
    let Some(prometheus) = prom::tool("prometheus") else {
        return;
    };
    let captures: Vec<PathBuf> = SENSORS
        .iter()
        .map(|(_, c)| common::root().join("captures").join(c))
        .collect();
    // What the central server must count: the three replay censuses added up.
    let mut want = BTreeMap::new();
    for c in &captures {
        negotiated(&common::replay_json(&[c.as_path()], &[]), &mut want);
    }
    assert!(want.len() >= 3, "too few versions to tell apart: {want:?}");

    // Three sensors, each on the capture end of its own veth pair, serving metrics on its
    // management link.
    let mut nets: Vec<Net> = Vec::new();
    let mut lives: Vec<Live> = Vec::new();
    for (i, (_, _)) in SENSORS.iter().enumerate() {
        let n = u8::try_from(i + 1).unwrap();
        let mut net = Net::new(&format!("f{n}"));
        let mgmt = net.management_link(n);
        let state = net.path("state.json");
        let events = net.path("events.jsonl");
        let listen = format!("{mgmt}:0");
        let live = start_live_to(
            &mut net,
            "report.json",
            &[
                "-f",
                "tcp",
                "--listen",
                &listen,
                "--allow-root-listen",
                "--state",
                state.to_str().unwrap(),
                "--snapshot-interval",
                "1",
                "--events",
                events.to_str().unwrap(),
            ],
        );
        nets.push(net);
        lives.push(live);
    }
    let targets: Vec<String> = lives.iter().map(|l| l.metrics_addr().to_string()).collect();

    let dir = common::scratch("fleet");
    let rules = common::root().join("deploy/prometheus/hellowatch.rules.yml");
    let central = Server::start(
        &prometheus,
        &dir,
        "central",
        &format!(
            "global:\n  evaluation_interval: 1s\nrule_files:\n  - {}\n",
            rules.display()
        ),
        false,
        &["--web.enable-remote-write-receiver"],
    );
    let _agent1 = Server::start(
        &prometheus,
        &dir,
        "agent1",
        &shipped_agent_config(SENSORS[0].0, &targets[0], &central.base),
        true,
        &[],
    );
    let _agent2 = Server::start(
        &prometheus,
        &dir,
        "agent2",
        &two_sensor_agent_config(
            &[
                (SENSORS[1].0, targets[1].clone()),
                (SENSORS[2].0, targets[2].clone()),
            ],
            &central.base,
        ),
        true,
        &[],
    );

    // The traffic, each sensor its own capture.
    for (net, cap) in nets.iter().zip(&captures) {
        net.send(cap);
    }

    // Every sensor up, seen through its agent at the central server.
    for (sensor, _) in SENSORS {
        let q = format!("up{{sensor=\"{sensor}\"}}");
        central.wait_for(&format!("{q} == 1 at the central server"), || {
            let r = central.query(&q);
            r.len() == 1 && r[0].1 == 1.0
        });
    }
    // The fleet's negotiated handshakes by version, once everything has arrived.
    let q = "sum by (version) (hellowatch_negotiated_handshakes_total)";
    let mut got = BTreeMap::new();
    central.wait_for(&format!("{q} to equal {want:?} (last: {got:?})"), || {
        got = central
            .query(q)
            .into_iter()
            .filter(|(_, v)| *v > 0.0)
            .map(|(l, v)| (l["version"].clone(), v as u64))
            .collect();
        got == want
    });
    // Every sensor's series carries its name: the per-sensor sums are the replays'.
    let per_sensor = central.query("sum by (sensor) (hellowatch_negotiated_handshakes_total)");
    assert_eq!(per_sensor.len(), 3, "{per_sensor:?}");
    for ((sensor, _), cap) in SENSORS.iter().zip(&captures) {
        let mut one = BTreeMap::new();
        negotiated(&common::replay_json(&[cap.as_path()], &[]), &mut one);
        let n: u64 = one.values().sum();
        let at = per_sensor
            .iter()
            .find(|(l, _)| l.get("sensor").map(String::as_str) == Some(sensor))
            .unwrap_or_else(|| panic!("no series of {sensor}: {per_sensor:?}"));
        assert_eq!(at.1 as u64, n, "{sensor}");
    }
    eprintln!("central server, sum by (version) of negotiated handshakes: {got:?}");
    // The dashboard's `sensor` variable (`label_values(hellowatch_build_info, sensor)`) lists
    // the three sensors.
    let mut listed: Vec<String> = central
        .query("count by (sensor) (hellowatch_build_info)")
        .into_iter()
        .map(|(l, _)| l["sensor"].clone())
        .collect();
    listed.sort();
    assert_eq!(listed, SENSORS.map(|(s, _)| s.to_string()));

    // The sensors stop and write their state files; merged, they are the census of the three
    // captures replayed together (counts; packet times differ by nature).
    let mut states = Vec::new();
    for ((mut net, live), cap) in nets.into_iter().zip(lives).zip(&captures) {
        let (status, _, stderr) = stop_live(&mut net, live);
        assert_eq!(status.code(), Some(0), "{stderr}");
        let keep = dir.join(format!("state-{}.json", states.len()));
        std::fs::copy(net.path("state.json"), &keep).unwrap();
        states.push(keep);
        // One connection seen by two tools is recognised: the sensor's events carry the same
        // `network.community_id`s as a replay of the same capture.
        let live_ids = community_ids(&std::fs::read_to_string(net.path("events.jsonl")).unwrap());
        let replay_ids = community_ids(&common::replay_events(&[cap.as_path()], &[]).join("\n"));
        assert!(!replay_ids.is_empty());
        assert_eq!(live_ids, replay_ids, "{}", cap.display());
    }
    let mut merge = vec!["merge"];
    merge.extend(states.iter().map(|p| p.to_str().unwrap()));
    merge.extend(["--format", "json"]);
    let out = common::run(&merge);
    common::assert_ok(&out);
    let merged: Value = serde_json::from_slice(&out.stdout).unwrap();
    let refs: Vec<&Path> = captures.iter().map(PathBuf::as_path).collect();
    let together = common::replay_json(&refs, &[]);
    let d = common::diff(&together["clients"], &merged["clients"]);
    assert!(
        d.is_empty(),
        "merge of the state files differs:\n{}",
        d.join("\n")
    );
    let counts = |t: &Value| {
        let mut t = t.clone();
        for k in ["first_seen", "last_seen", "last_legacy_seen"] {
            t.as_object_mut().unwrap().remove(k);
        }
        t
    };
    assert_eq!(counts(&merged["totals"]), counts(&together["totals"]));
    let _ = std::fs::remove_dir_all(&dir);
}
