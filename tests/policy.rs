//! `--policy`: which hellos and clients a server enforcing a minimum version would refuse, on
//! the demo capture, against an expectation checked by hand from what each client was made to
//! send (captures/README.md, captures/make-captures.sh):
//!
//! | client | what it is | hellos offer at most | min=tls1.2 | min=tls1.3 |
//! |---|---|---|---|---|
//! | 127.0.0.10 | curl (OpenSSL defaults) | 2 × tls1.3 | pass | pass |
//! | 127.0.0.11 | python capped at TLS 1.2 | 2 × tls1.2 | pass | fail 2 |
//! | 127.0.0.12 | python + s_client, TLS 1.0 only | 2 × tls1.0 | fail 2 | fail 2 |
//! | 127.0.0.13 | same, refused by the strict server | 2 × tls1.0 | fail 2 | fail 2 |
//! | 127.0.0.14 | s_client -tls1_1 | 1 × tls1.1 | fail 1 | fail 1 |
//! | 127.0.0.1 | gnutls-cli | 2 × tls1.3 | pass | pass |
//! | ::1 | s_client defaults (server only does 1.2) | 1 × tls1.3 | pass | pass |
//!
//! No client sends TLS_FALLBACK_SCSV, so there are no fallback retries. Totals: min=tls1.2
//! refuses 5 of 12 hellos and breaks 3 clients entirely; min=tls1.3 refuses 7 and breaks 4.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)]

mod common;

use common::demo;
use serde_json::{Value, json};

const POLICIES: [&str; 4] = ["--policy", "min=tls1.2", "--policy", "min=tls1.3"];

fn client(status: &str, fail: u64, pass: u64) -> Value {
    json!({
        "hellos_would_fail": fail,
        "fallback_retries": 0,
        "hellos_pass": pass,
        "client_would_fail": fail > 0,
        "status": status,
    })
}

#[test]
fn demo_capture_policy_matches_the_hand_checked_expectation() {
    let r = common::replay_json(&[&demo()], &POLICIES);
    let expect = [
        ("127.0.0.10", client("pass", 0, 2), client("pass", 0, 2)),
        ("127.0.0.11", client("pass", 0, 2), client("fail", 2, 0)),
        ("127.0.0.12", client("fail", 2, 0), client("fail", 2, 0)),
        ("127.0.0.13", client("fail", 2, 0), client("fail", 2, 0)),
        ("127.0.0.14", client("fail", 1, 0), client("fail", 1, 0)),
        ("127.0.0.1", client("pass", 0, 2), client("pass", 0, 2)),
        ("::1", client("pass", 0, 1), client("pass", 0, 1)),
    ];
    assert_eq!(r["clients"].as_object().unwrap().len(), expect.len());
    for (ip, p12, p13) in expect {
        let got = &r["clients"][ip]["policy"];
        assert_eq!(got["min=tls1.2"], p12, "{ip} min=tls1.2");
        assert_eq!(got["min=tls1.3"], p13, "{ip} min=tls1.3");
    }
    assert_eq!(
        r["totals"]["policy"],
        json!({
            "min=tls1.2": {"hellos_would_fail": 5, "fallback_retries": 0, "hellos_pass": 7,
                           "clients_would_fail": 3, "clients_fail_entirely": 3, "clients_fallback_only": 0},
            "min=tls1.3": {"hellos_would_fail": 7, "fallback_retries": 0, "hellos_pass": 5,
                           "clients_would_fail": 4, "clients_fail_entirely": 4, "clients_fallback_only": 0},
        })
    );
    // Without --policy the report has no policy objects.
    let plain = common::replay_json(&[&demo()], &[]);
    assert!(plain["totals"].get("policy").is_none());
    assert!(plain["clients"]["127.0.0.13"].get("policy").is_none());
}

#[test]
fn events_carry_the_same_verdicts() {
    let lines = common::replay_events(&[&demo()], &POLICIES);
    let mut would_fail = [0, 0];
    for l in &lines {
        let e: Value = serde_json::from_str(l).unwrap();
        for (i, p) in ["min=tls1.2", "min=tls1.3"].iter().enumerate() {
            let conn = e["hellowatch"]["policy"][p].as_str().unwrap();
            let hellos: Vec<&str> = e["hellowatch"]["hellos"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h["policy"][p].as_str().unwrap())
                .collect();
            assert_eq!(hellos.len(), 1, "no HRR in the demo");
            assert_eq!(conn, hellos[0]);
            if conn == "would_fail" {
                would_fail[i] += 1;
            }
        }
    }
    assert_eq!(lines.len(), 12);
    assert_eq!(would_fail, [5, 7]);
}

#[test]
fn table_and_csv_show_the_policies() {
    let out = common::run(&[
        "replay",
        demo().to_str().unwrap(),
        "--format",
        "table",
        "--policy",
        "min=tls1.2",
    ]);
    assert!(out.status.success());
    let t = String::from_utf8(out.stdout).unwrap();
    assert!(t.lines().nth(1).unwrap().ends_with("MIN=TLS1.2"), "{t}");
    let row13 = t.lines().find(|l| l.contains("127.0.0.13 ")).unwrap();
    assert!(row13.ends_with("fail:2"), "{row13}");
    assert!(
        t.contains(
            "policy min=tls1.2: 3 client(s) would fail (3 entirely), 5 handshake(s) refused"
        ),
        "{t}"
    );
    let out = common::run(&[
        "replay",
        demo().to_str().unwrap(),
        "--format",
        "csv",
        "--policy",
        "min=tls1.2",
    ]);
    let c = String::from_utf8(out.stdout).unwrap();
    let mut rdr = csv::Reader::from_reader(c.as_bytes());
    let header: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (fail, status) = (
        col("min=tls1.2 hellos_would_fail"),
        col("min=tls1.2 status"),
    );
    for r in rdr.records() {
        let r = r.unwrap();
        if &r[0] == "127.0.0.13" {
            assert_eq!((&r[fail], &r[status]), ("2", "fail"));
        }
    }
}

#[test]
fn bad_policies_are_usage_errors() {
    for bad in ["tls1.2", "min=tls9", "max=tls1.2", "min=sslv2"] {
        let out = common::run(&["replay", demo().to_str().unwrap(), "--policy", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("min=VERSION"), "{bad}: {err}");
    }
}

/// `captures/fallback-scsv.pcap` (real OpenSSL and Python clients, captures/README.md):
///
/// | client | hellos | min=tls1.2 | min=tls1.3 |
/// |---|---|---|---|
/// | 127.0.0.70 | python offering tls1.3+1.2 (refused by a TLS 1.0-only server), then `s_client -tls1 -fallback_scsv` (tls1.0 + SCSV, negotiated) | the first passes, the retry is a fallback retry: `fallback_only` | same |
/// | 127.0.0.71 | `s_client -tls1_2 -fallback_scsv` (tls1.2 + SCSV, refused with inappropriate_fallback) | passes | a fallback retry: `fallback_only` |
///
/// Neither client is legacy-only: no policy makes either fail.
#[test]
fn fallback_retries_are_not_legacy_only_clients() {
    let cap = common::root().join("captures/fallback-scsv.pcap");
    let r = common::replay_json(&[&cap], &POLICIES);
    let p = |ip: &str, pol: &str| r["clients"][ip]["policy"][pol].clone();
    let fb = |fallback: u64, pass: u64| {
        json!({"hellos_would_fail": 0, "fallback_retries": fallback, "hellos_pass": pass,
               "client_would_fail": false, "status": "fallback_only"})
    };
    assert_eq!(p("127.0.0.70", "min=tls1.2"), fb(1, 1));
    assert_eq!(p("127.0.0.70", "min=tls1.3"), fb(1, 1));
    assert_eq!(p("127.0.0.71", "min=tls1.2"), client("pass", 0, 1));
    assert_eq!(p("127.0.0.71", "min=tls1.3"), fb(1, 0));
    assert_eq!(r["clients"]["127.0.0.70"]["fallback"]["hellos"], 1);
    assert_eq!(
        r["clients"]["127.0.0.70"]["fallback"]["offered_max"],
        json!({"tls1.0": 1})
    );
    let t = &r["totals"]["policy"];
    assert_eq!(t["min=tls1.2"]["clients_would_fail"], 0);
    assert_eq!(t["min=tls1.2"]["clients_fallback_only"], 1);
    assert_eq!(t["min=tls1.3"]["clients_fallback_only"], 2);
    assert_eq!(t["min=tls1.3"]["fallback_retries"], 2);
    // The events mark the retries.
    let lines = common::replay_events(&[&cap], &POLICIES);
    let scsv: Vec<bool> = lines
        .iter()
        .map(|l| {
            let e: Value = serde_json::from_str(l).unwrap();
            e["hellowatch"]["hellos"][0]["fallback_scsv"]
                .as_bool()
                .unwrap()
        })
        .collect();
    assert_eq!(scsv.iter().filter(|s| **s).count(), 2, "{scsv:?}");
}

/// `--policy` with `--metrics-file`: the policy counters equal the JSON report's policy
/// objects (totals, and each legacy client's series).
#[test]
fn policy_metrics_equal_the_report() {
    let caps = [demo(), common::root().join("captures/fallback-scsv.pcap")];
    let dir = common::scratch("policy-metrics");
    let report = dir.join("r.json");
    let prom_file = dir.join("m.prom");
    let mut args: Vec<String> = vec!["replay".into()];
    args.extend(caps.iter().map(|p| p.display().to_string()));
    args.extend(
        [
            "--format",
            "json",
            "-o",
            report.to_str().unwrap(),
            "--metrics-file",
            prom_file.to_str().unwrap(),
        ]
        .map(String::from),
    );
    args.extend(POLICIES.map(String::from));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = common::run(&refs);
    common::assert_ok(&out);
    let r: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let samples = common::prom::parse_exposition(&std::fs::read_to_string(&prom_file).unwrap());
    let value = |name: &str, labels: &[(&str, &str)]| -> f64 {
        samples
            .iter()
            .find(|(n, l, _)| {
                n == name
                    && l.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map_or(0.0, |(_, _, v)| *v)
    };
    for p in ["min=tls1.2", "min=tls1.3"] {
        let t = &r["totals"]["policy"][p];
        assert_eq!(
            value(
                "hellowatch_policy_would_fail_total",
                &[("transport", "tcp"), ("policy", p)]
            ),
            t["hellos_would_fail"].as_f64().unwrap(),
            "{p}"
        );
        assert_eq!(
            value(
                "hellowatch_policy_fallback_retries_total",
                &[("transport", "tcp"), ("policy", p)]
            ),
            t["fallback_retries"].as_f64().unwrap(),
            "{p}"
        );
        for (ip, c) in r["clients"].as_object().unwrap() {
            if c["legacy"] != true {
                continue;
            }
            assert_eq!(
                value(
                    "hellowatch_legacy_client_policy_would_fail_total",
                    &[("client", ip.as_str()), ("policy", p)]
                ),
                c["policy"][p]["hellos_would_fail"].as_f64().unwrap(),
                "{ip} {p}"
            );
        }
    }
    assert_eq!(
        value(
            "hellowatch_policy_would_fail_total",
            &[("transport", "tcp"), ("policy", "min=tls1.2")]
        ),
        5.0
    );
}
