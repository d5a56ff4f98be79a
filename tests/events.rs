//! The event log (`--events`): its lines for real captures equal the checked-in golden files
//! (`tests/golden/events-<capture>.jsonl`), for any number of workers; every field it writes
//! is documented in the event table of docs/events.md and every documented field occurs; the census is
//! the same with and without it; bad destinations are clean errors.
//!
//! Regenerate the golden files after an intended schema change (or after
//! `captures/make-captures.sh` made new captures) with
//! `HELLOWATCH_BLESS=1 cargo test --release --test events` and review the diff.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)]

mod common;

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Captures with golden event files: `(directory, file)`, the directory being `captures`
/// (this repository) or `conformance` (`../shared/conformance/captures`: skipped when absent,
/// required in CI).
/// Together they cover every outcome but `closed_after_client_hello` and `alert_only`, SSLv2
/// and SSLv2-compatible hellos, a HelloRetryRequest, a TLS 1.3 draft over IPv6, a server
/// choosing less than offered, a RST after the ClientHello, fallback retries, and TLS after
/// STARTTLS and after an HTTP CONNECT, and server certificates (read, with every problem but
/// MD5, and encrypted by TLS 1.3).
const GOLDEN: [(&str, &str); 18] = [
    ("captures", "demo-legacy-mix.pcap"),
    ("captures", "certs/server-certs.pcap"),
    ("captures", "fallback-scsv.pcap"),
    ("captures", "upgrades/smtp-starttls.pcap"),
    ("captures", "upgrades/http-connect.pcap"),
    ("captures", "upgrades/proxy-protocol.pcap"),
    ("captures", "tls13-hrr.pcap"),
    ("captures", "curl-alpn.pcap"),
    ("conformance", "flowtest-tls_version_error.pcap"),
    ("conformance", "ja3rs-curl.pcap"),
    ("conformance", "arkime-openssl-tls1_2-tls1.pcap"),
    ("conformance", "flowtest-ssl-v2.pcap"),
    ("conformance", "arkime-https2-301-get.pcap"),
    ("conformance", "arkime-badcurveball.pcap"),
    ("conformance", "mercury-server_hello_tlsv1.pcap"),
    ("conformance", "mercury-client_hello_sslv3.pcap"),
    ("conformance", "mercury-faketls_potatovpn.pcap"),
    ("conformance", "arkime-tls13.pcap"),
];

const POLICIES: [&str; 4] = ["--policy", "min=tls1.2", "--policy", "min=tls1.3"];

fn capture(dir: &str, file: &str) -> Option<PathBuf> {
    match dir {
        "captures" => {
            let p = common::root().join("captures").join(file);
            assert!(p.is_file(), "{} is part of the repository", p.display());
            Some(p)
        }
        _ => common::conformance_capture(file),
    }
}

fn golden_path(file: &str) -> PathBuf {
    let stem = file
        .rsplit_once('.')
        .map_or(file, |(s, _)| s)
        .replace('/', "-");
    common::root()
        .join("tests/golden")
        .join(format!("events-{stem}.jsonl"))
}

#[test]
fn event_lines_equal_the_golden_files() {
    let bless = std::env::var_os("HELLOWATCH_BLESS").is_some();
    let mut failures = Vec::new();
    for (dir, file) in GOLDEN {
        let Some(cap) = capture(dir, file) else {
            continue;
        };
        let lines = common::replay_events(&[&cap], &POLICIES);
        assert!(!lines.is_empty(), "{file}: no events");
        let got = lines.join("\n") + "\n";
        let gp = golden_path(file);
        if bless {
            std::fs::write(&gp, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&gp)
            .unwrap_or_else(|e| panic!("{}: {e} (bless to create it)", gp.display()));
        if got != want {
            let first = got
                .lines()
                .zip(want.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            failures.push(format!(
                "{file}: line {} differs\n  got:  {}\n  want: {}",
                first + 1,
                got.lines().nth(first).unwrap_or("<none>"),
                want.lines().nth(first).unwrap_or("<none>")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn workers_write_the_same_lines_in_another_order() {
    for (dir, file) in GOLDEN {
        let Some(cap) = capture(dir, file) else {
            continue;
        };
        let one = common::replay_events(&[&cap], &POLICIES);
        let mut three =
            common::replay_events(&[&cap], &[&POLICIES[..], &["--workers", "3"]].concat());
        let mut one_sorted = one.clone();
        one_sorted.sort();
        three.sort();
        assert_eq!(one_sorted, three, "{file}");
    }
}

/// Key paths of a JSON value: `a.b`, arrays of objects as `a[].b`, the keys of a policy map
/// as `<policy>`.
fn key_paths(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let k = if prefix.ends_with("policy") {
                    "<policy>"
                } else {
                    k.as_str()
                };
                let p = if prefix.is_empty() {
                    k.to_string()
                } else {
                    format!("{prefix}.{k}")
                };
                match x {
                    Value::Object(_) => key_paths(x, &p, out),
                    // An empty list says nothing about its elements.
                    Value::Array(a) if a.is_empty() => {}
                    Value::Array(a) if a.iter().any(Value::is_object) => {
                        for e in a {
                            key_paths(e, &format!("{p}[]"), out);
                        }
                    }
                    _ => {
                        out.insert(p);
                    }
                }
            }
        }
        _ => {
            out.insert(prefix.to_string());
        }
    }
}

/// Field names of the event table of `docs/events.md` (rows starting with "| `").
fn documented_fields() -> BTreeSet<String> {
    let doc = std::fs::read_to_string(common::root().join("docs/events.md")).unwrap();
    let section = doc
        .split("<!-- event-fields -->")
        .nth(1)
        .expect("docs/events.md marks the event table with <!-- event-fields -->");
    section
        .lines()
        .take_while(|l| !l.starts_with("<!--"))
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(String::from)
        .collect()
}

#[test]
fn every_field_is_documented_and_every_documented_field_occurs() {
    let mut seen = BTreeSet::new();
    let mut any = false;
    for (dir, file) in GOLDEN {
        let gp = golden_path(file);
        if capture(dir, file).is_none() {
            continue;
        }
        for l in std::fs::read_to_string(&gp).unwrap().lines() {
            let v: Value = serde_json::from_str(l).unwrap();
            key_paths(&v, "", &mut seen);
            any = true;
        }
    }
    if !any {
        return;
    }
    let documented = documented_fields();
    let undocumented: Vec<_> = seen.difference(&documented).collect();
    let unseen: Vec<_> = documented.difference(&seen).collect();
    assert!(
        undocumented.is_empty(),
        "fields written but not in docs/events.md: {undocumented:?}"
    );
    assert!(
        unseen.is_empty(),
        "fields in docs/events.md that no golden event shows: {unseen:?}"
    );
}

#[test]
fn the_census_does_not_change_with_events() {
    let Some(cap) = common::conformance_capture("mercury-top_100_fingerprints.pcap") else {
        return;
    };
    let d = common::scratch("events");
    let ev = d.join("ev.jsonl");
    let with = common::replay_json(&[&cap], &["--events", ev.to_str().unwrap()]);
    let without = common::replay_json(&[&cap], &[]);
    assert_eq!(with, without);
    let lines = std::fs::read_to_string(&ev).unwrap();
    assert_eq!(
        lines.lines().count() as u64,
        with["totals"]["connections"].as_u64().unwrap()
    );
}

#[test]
fn events_on_stdout_need_an_output_for_the_report() {
    let Some(cap) = common::conformance_capture("ja3rs-curl.pcap") else {
        return;
    };
    let out = common::run(&["replay", cap.to_str().unwrap(), "--events", "-"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--output"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn an_unwritable_event_path_fails_before_reading() {
    let Some(cap) = common::conformance_capture("ja3rs-curl.pcap") else {
        return;
    };
    let out = common::run(&[
        "replay",
        cap.to_str().unwrap(),
        "--events",
        "/nonexistent/dir/ev.jsonl",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/dir/ev.jsonl"), "{err}");
    assert!(out.stdout.is_empty(), "no report after a failed start");
}
