//! The public conformance corpus (`../shared/conformance`, when present): every capture's
//! per-client census must equal the tshark-derived expectation, but for the captures listed in
//! `.ci/known-failures` (each naming the issue that fixes it), the same list `.ci/conformance`
//! reads.
// Test code: a broken expectation should panic, with the values at hand.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)]

mod common;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// `.ci/known-failures`: capture file name -> check (`tcp` or `quic-dtls`).
fn known_failures() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(common::root().join(".ci/known-failures")).unwrap();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut f = line.split_whitespace();
        let (name, check, issue) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
        assert!(
            check == "tcp" || check == "quic-dtls",
            "known-failures: bad check {check:?} in {line:?}"
        );
        assert!(
            issue.starts_with('#'),
            "known-failures: no issue in {line:?}"
        );
        assert!(
            out.insert(name.to_string(), check.to_string()).is_none(),
            "known-failures: {name} listed twice"
        );
    }
    out
}

/// Every capture's census equals the tshark-derived expectation (TLS over TCP in `clients`,
/// and `quic_clients`/`dtls_clients` where the expectation has them), except the captures
/// listed in `.ci/known-failures`, which must still fail the way they are listed: a listed
/// capture that has become exact fails this test until its line is deleted.
#[test]
fn conformance_corpus_is_exact_but_known_failures() {
    let Some(base) = common::corpus("") else {
        return;
    };
    let known = known_failures();
    let cases = common::expectations(&base.join("expected"), &base.join("captures"));
    assert!(
        cases.len() >= 200,
        "corpus has only {} expectations",
        cases.len()
    );
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for (exp_path, cap) in &cases {
        let name = cap.file_name().unwrap().to_str().unwrap().to_string();
        let exp: Value = serde_json::from_slice(&std::fs::read(exp_path).unwrap()).unwrap();
        let got = common::replay_json(&[cap], &[]);
        let tcp = common::diff(&exp["clients"], &got["clients"]);
        let mut udp = Vec::new();
        for key in ["quic_clients", "dtls_clients"] {
            if exp.get(key).is_some() {
                udp.extend(
                    common::diff(&exp[key], &got[key])
                        .into_iter()
                        .map(|l| format!("{key} {l}")),
                );
            }
        }
        let actual = if !tcp.is_empty() {
            Some("tcp")
        } else if !udp.is_empty() {
            Some("quic-dtls")
        } else {
            None
        };
        let listed = known.get(&name).map(String::as_str);
        seen.insert(name.clone());
        match (listed, actual) {
            (None, None) => {}
            (Some(l), Some(a)) if l == a => {}
            (Some(l), None) => problems.push(format!(
                "{name}: listed as failing ({l}) but now exact: delete its line from .ci/known-failures"
            )),
            (l, Some(a)) => {
                let mut d = tcp;
                d.extend(udp);
                problems.push(format!(
                    "{name}: not exact ({a}), listed as {l:?}:\n  {}",
                    d.join("\n  ")
                ));
            }
        }
    }
    for name in known.keys().filter(|n| !seen.contains(*n)) {
        problems.push(format!(
            "{name}: listed in .ci/known-failures but not in the corpus"
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn robustness_captures_read_without_error() {
    for p in common::corpus_files("robustness") {
        let v = common::replay_json(&[&p], &[]);
        assert!(
            v["input"]["packets"].as_u64().unwrap() > 0,
            "{}",
            p.display()
        );
    }
}

/// The counts that add up over clients and over servers.
const ADDITIVE: [&str; 13] = [
    "hellos",
    "failed_handshakes",
    "offered_max",
    "offered_versions",
    "negotiated",
    "alerts",
    "started",
    "ciphers",
    "cipher_classes",
    "offered_weak",
    "groups_offered",
    "key_shares",
    "group_chosen",
];

/// Adds the additive counts of `entry` into `sum` (numbers, and maps key by key).
fn add_counts(sum: &mut BTreeMap<String, u64>, entry: &Value) {
    for k in ADDITIVE {
        match &entry[k] {
            Value::Number(n) => *sum.entry(k.to_string()).or_default() += n.as_u64().unwrap(),
            Value::Object(m) => {
                for (name, n) in m {
                    *sum.entry(format!("{k}/{name}")).or_default() += n.as_u64().unwrap();
                }
            }
            _ => {}
        }
    }
}

/// Issue 14: on every capture of the corpus, for each transport, the `servers` section's
/// totals add up to the `clients` section's entries, and the servers' clients are the
/// clients.
#[test]
fn servers_totals_equal_clients_totals_on_the_corpus() {
    let caps = common::corpus_files("captures");
    if caps.is_empty() {
        return;
    }
    let mut problems = Vec::new();
    for cap in &caps {
        let got = common::replay_json(&[cap], &[]);
        for prefix in ["", "quic_", "dtls_"] {
            let clients = got[format!("{prefix}clients")].as_object().unwrap();
            let servers = got[format!("{prefix}servers")].as_object();
            let (mut by_client, mut by_server) = (BTreeMap::new(), BTreeMap::new());
            for c in clients.values() {
                add_counts(&mut by_client, c);
            }
            let mut server_clients = BTreeSet::new();
            for s in servers.into_iter().flatten().map(|(_, s)| s) {
                add_counts(&mut by_server, &s["totals"]);
                server_clients.extend(s["clients"].as_object().unwrap().keys().cloned());
            }
            let client_ips: BTreeSet<String> = clients.keys().cloned().collect();
            if by_client != by_server || client_ips != server_clients {
                problems.push(format!(
                    "{}: {prefix}servers {by_server:?} ({} clients) != {prefix}clients {by_client:?} ({} clients)",
                    cap.display(),
                    server_clients.len(),
                    client_ips.len()
                ));
            }
        }
    }
    assert!(caps.len() >= 200, "only {} corpus captures", caps.len());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
