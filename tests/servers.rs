//! The server view of the report (`servers`, `server_names`, `--by server|server-name`): on
//! every capture of this project and of the conformance corpus, the servers' totals and the
//! server names' totals add up to the report's own totals; `merge` adds servers up.
// Test code: a broken expectation should panic, with the values at hand.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)]

mod common;

use serde_json::{Map, Value, json};
use std::path::PathBuf;
use std::process::Command;

/// The counts that add up over servers: numbers summed, maps summed key by key.
const ADDITIVE: [&str; 13] = [
    "hellos",
    "connections",
    "failed_handshakes",
    "offered_max",
    "offered_versions",
    "negotiated",
    "alerts",
    "started",
    "ciphers",
    "cipher_classes",
    "offered_weak",
    "key_shares",
    "group_chosen",
];

fn add_into(sum: &mut Map<String, Value>, totals: &Value) {
    for k in ADDITIVE {
        match &totals[k] {
            Value::Number(n) => {
                let s = sum.get(k).and_then(Value::as_u64).unwrap_or(0);
                sum.insert(k.into(), json!(s + n.as_u64().unwrap()));
            }
            Value::Object(m) => {
                let e = sum.entry(k).or_insert_with(|| json!({}));
                for (name, n) in m {
                    let s = e[name].as_u64().unwrap_or(0);
                    e[name] = json!(s + n.as_u64().unwrap());
                }
            }
            _ => {}
        }
    }
}

/// The counts of a `certificates` object that add up (zero counts left out).
fn add_certs(sum: &mut Map<String, Value>, c: &Value) {
    for k in ["read", "tls13_encrypted", "not_seen"] {
        let n = c[k].as_u64().unwrap_or(0);
        if n > 0 {
            let s = sum.get(k).and_then(Value::as_u64).unwrap_or(0);
            sum.insert(k.into(), json!(s + n));
        }
    }
    for (p, n) in c["problems"].as_object().into_iter().flatten() {
        let k = format!("problems/{p}");
        let s = sum.get(&k).and_then(Value::as_u64).unwrap_or(0);
        sum.insert(k, json!(s + n.as_u64().unwrap()));
    }
}

fn own(totals: &Value) -> Map<String, Value> {
    let mut m = Map::new();
    add_into(&mut m, totals);
    m
}

/// Every way the servers' totals must add up to the report's.
fn mismatches(report: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for (prefix, totals) in [
        ("", "totals"),
        ("quic_", "quic_totals"),
        ("dtls_", "dtls_totals"),
    ] {
        let want = own(&report[totals]);
        let connections = report[totals]["connections"].as_u64().unwrap_or(0);
        for view in ["servers", "server_names"] {
            let key = format!("{prefix}{view}");
            let Some(entries) = report[&key].as_object() else {
                if connections > 0 {
                    out.push(format!("{key} missing"));
                }
                continue;
            };
            let mut sum = Map::new();
            for e in entries.values() {
                add_into(&mut sum, &e["totals"]);
                let clients = e["clients"].as_object().unwrap().len() as u64;
                assert_eq!(e["totals"]["clients"].as_u64(), Some(clients));
            }
            if connections == 0 && entries.is_empty() {
                continue;
            }
            // The servers' certificates add up to the report's (the server names' too).
            let mut certs = Map::new();
            for e in entries.values() {
                add_certs(&mut certs, &e["certificates"]);
            }
            let mut want_certs = Map::new();
            add_certs(&mut want_certs, &report[format!("{prefix}certificates")]);
            if certs != want_certs {
                out.push(format!(
                    "{key} certificates: {}\n  report: {}",
                    Value::Object(certs),
                    Value::Object(want_certs)
                ));
            }
            if sum != want {
                out.push(format!(
                    "{key}: {}\n  totals: {}",
                    Value::Object(sum),
                    Value::Object(want.clone())
                ));
            }
        }
    }
    out
}

fn all_captures() -> Vec<PathBuf> {
    let root = common::root().join("captures");
    let mut v = common::captures_in(&root);
    for sub in ["certs", "ciphers", "dtls", "quic", "tcp", "upgrades"] {
        v.extend(common::captures_in(&root.join(sub)));
    }
    v.extend(common::corpus_files("captures"));
    v
}

#[test]
fn servers_and_server_names_add_up_to_the_totals_on_every_capture() {
    let caps = all_captures();
    assert!(caps.len() >= 12, "only {} captures", caps.len());
    let mut failures = Vec::new();
    for cap in &caps {
        let got = common::replay_json(&[cap], &[]);
        for m in mismatches(&got) {
            failures.push(format!("{}: {m}", cap.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn demo_servers_by_endpoint_and_name() {
    let got = common::replay_json(&[&common::demo()], &["--policy", "min=tls1.2"]);
    let s = &got["servers"]["127.0.0.1:44302"];
    assert_eq!(s["totals"]["clients"], 4);
    assert_eq!(s["totals"]["legacy_clients"], 2);
    assert_eq!(s["totals"]["policy"]["min=tls1.2"]["clients_would_fail"], 2);
    assert_eq!(s["totals"]["server_names"]["legacy.hellowatch.test"], 1);
    assert_eq!(got["servers"]["[::1]:44320"]["totals"]["connections"], 1);
    assert_eq!(got["server_names"][""]["totals"]["connections"], 10);
    assert_eq!(
        got["server_names"]["modern.hellowatch.test"]["totals"]["hellos"],
        1
    );
    assert_eq!(got["coverage"]["servers_dropped"], 0);
}

#[test]
fn max_servers_bound_is_counted() {
    let got = common::replay_json(&[&common::demo()], &["--max-servers", "1"]);
    assert_eq!(got["servers"].as_object().unwrap().len(), 1);
    let kept = got["servers"]
        .as_object()
        .unwrap()
        .values()
        .map(|s| s["totals"]["connections"].as_u64().unwrap())
        .sum::<u64>();
    let total = got["totals"]["connections"].as_u64().unwrap();
    assert_eq!(
        got["coverage"]["servers_dropped"].as_u64().unwrap(),
        total - kept
    );
    assert!(got["coverage"]["server_names_dropped"].as_u64().unwrap() > 0);
}

#[test]
fn merge_adds_servers_and_keeps_distinct_clients() {
    let dir = common::scratch("servers-merge");
    let one = dir.join("one.json");
    let report = common::replay_json(&[&common::demo()], &[]);
    std::fs::write(&one, report.to_string()).unwrap();
    let out = Command::new(common::bin())
        .args(["merge", "--format", "json"])
        .args([&one, &one])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let merged: Value = serde_json::from_slice(&out.stdout).unwrap();
    for (k, s) in report["servers"].as_object().unwrap() {
        let m = &merged["servers"][k]["totals"];
        let t = &s["totals"];
        assert_eq!(
            m["hellos"].as_u64(),
            t["hellos"].as_u64().map(|n| 2 * n),
            "{k}"
        );
        assert_eq!(m["clients"], t["clients"], "{k}: the same clients");
    }
    assert!(mismatches(&merged).is_empty(), "{:?}", mismatches(&merged));
}

#[test]
fn by_server_table_and_csv() {
    let run = |args: &[&str]| {
        let out = Command::new(common::bin())
            .arg("replay")
            .arg(common::demo())
            .args(["--quiet", "--policy", "min=tls1.2"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let table = run(&["--format", "table", "--by", "server"]);
    let first = table.lines().nth(2).unwrap();
    assert!(first.starts_with("!  127.0.0.1:44302"), "{table}");
    assert!(first.ends_with("fail:2"), "{table}");
    let names = run(&["--format", "table", "--by", "server-name"]);
    assert!(names.contains("legacy.hellowatch.test"), "{names}");
    let csv = run(&["--format", "csv", "--by", "server"]);
    let mut rows = csv.lines();
    assert!(
        rows.next()
            .unwrap()
            .starts_with("server,transport,clients,legacy_clients")
    );
    assert_eq!(rows.count(), 4, "{csv}");
}

/// `captures/ciphers/weak-ciphers.pcap` (OpenSSL 3.0 on loopback: a NULL and a static-RSA
/// CBC suite over TLS 1.2, and TLS 1.3 over x25519): the census of its expected file, and the
/// negotiated suites, their weakness classes and the chosen group as tshark counted them.
#[test]
fn weak_cipher_capture_matches_tshark() {
    let dir = common::root().join("captures/ciphers");
    let exp: Value =
        serde_json::from_slice(&std::fs::read(dir.join("expected/weak-ciphers.json")).unwrap())
            .unwrap();
    let got = common::replay_json(&[&dir.join("weak-ciphers.pcap")], &[]);
    assert!(common::diff(&exp["clients"], &got["clients"]).is_empty());
    for k in ["ciphers", "cipher_classes", "group_chosen"] {
        assert_eq!(got["totals"][k], exp["totals"][k], "{k}");
    }
    assert_eq!(got["servers"].as_object().unwrap().len(), 3);
    let null = &got["servers"]["127.0.0.1:44340"]["totals"];
    assert_eq!(null["cipher_classes"], json!({"null": 1, "rsa_kx": 1}));
}
