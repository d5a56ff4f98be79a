//! Server certificates (issue 14): on `captures/certs/server-certs.pcap` (OpenSSL and GnuTLS
//! on loopback, `captures/certs/make-cert-captures.sh`), every server's negotiated suite and
//! leaf certificate facts — fingerprint, subject CN, SAN count, key, signature algorithm,
//! validity, self-signed, problems at handshake time — equal what tshark reads
//! (`captures/certs/expected/server-certs.json`, made by `expected-from-tshark.py`); the
//! event log and the metrics carry the same facts, and `merge` adds them up.
// Test code: a broken expectation should panic, with the values at hand.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)]

mod common;

use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Command;

fn capture() -> PathBuf {
    common::root().join("captures/certs/server-certs.pcap")
}

fn expected() -> Value {
    let p = common::root().join("captures/certs/expected/server-certs.json");
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// The signature algorithm names hellowatch writes, for the OIDs tshark gives.
fn signature_name(oid: &str) -> &'static str {
    match oid {
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption",
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption",
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256",
        other => panic!("add {other}"),
    }
}

/// `["a", "b"]` → `{"a": n, "b": n}`.
fn counts(names: &Value, n: u64) -> Value {
    Value::Object(
        names
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p.as_str().unwrap().to_string(), json!(n)))
            .collect(),
    )
}

#[test]
fn every_server_matches_tshark() {
    let exp = expected();
    let got = common::replay_json(&[&capture()], &[]);
    let servers = exp["servers"].as_object().unwrap();
    assert_eq!(servers.len(), 6);
    assert_eq!(got["servers"].as_object().unwrap().len(), 6);
    let mut problems = serde_json::Map::new();
    for (k, e) in servers {
        let s = &got["servers"][k];
        let t = &s["totals"];
        assert_eq!(
            t["negotiated"],
            json!({e["negotiated"].as_str().unwrap(): 1}),
            "{k}"
        );
        assert_eq!(
            t["ciphers"],
            json!({e["cipher"].as_str().unwrap(): 1}),
            "{k}"
        );
        let c = &s["certificates"];
        match e.get("certificate") {
            None => {
                assert_eq!(e["negotiated"], "tls1.3", "{k}");
                assert_eq!(
                    (c["tls13_encrypted"].as_u64(), c["read"].as_u64()),
                    (Some(1), Some(0))
                );
                assert_eq!(c["leaves"], json!({}), "{k}: nothing guessed");
                assert_eq!(c["problems"], json!({}), "{k}");
            }
            Some(x) => {
                assert_eq!(
                    (c["read"].as_u64(), c["not_seen"].as_u64()),
                    (Some(1), Some(0))
                );
                let leaf = &c["leaves"][x["sha256"].as_str().unwrap()];
                assert!(leaf.is_object(), "{k}: {c}");
                for f in [
                    "subject_cn",
                    "san_count",
                    "key_type",
                    "key_bits",
                    "not_before",
                ] {
                    assert_eq!(leaf[f], x[f], "{k}: {f}");
                }
                assert_eq!(leaf["not_after"], x["not_after"], "{k}");
                assert_eq!(leaf["self_signed"], x["self_signed"], "{k}");
                assert_eq!(
                    leaf["signature_algorithm"],
                    signature_name(x["signature_algorithm_oid"].as_str().unwrap()),
                    "{k}"
                );
                assert_eq!(leaf["connections"], 1);
                let want = counts(&x["problems"], 1);
                assert_eq!(leaf["problems"], want, "{k}");
                assert_eq!(c["problems"], want, "{k}");
                for p in x["problems"].as_array().unwrap() {
                    let p = p.as_str().unwrap().to_string();
                    let n = problems.get(&p).and_then(Value::as_u64).unwrap_or(0);
                    problems.insert(p, json!(n + 1));
                }
            }
        }
    }
    let top = &got["certificates"];
    assert_eq!(top["read"], 5);
    assert_eq!(top["tls13_encrypted"], 1);
    assert_eq!(top["problems"], Value::Object(problems));
    // The same leaf behind three servers is one leaf of the report.
    assert_eq!(top["leaves"].as_object().unwrap().len(), 3);
    // The weak suites of the capture.
    let classes = &got["totals"]["cipher_classes"];
    assert_eq!(
        (classes["3des"].as_u64(), classes["rc4"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(classes["rsa_kx"], 2);
    assert_eq!(got["coverage"]["anomalies"]["certificate_malformed"], 0);
    assert_eq!(got["coverage"]["anomalies"]["certificate_too_large"], 0);
}

#[test]
fn events_carry_the_leaf_and_its_problems() {
    let exp = expected();
    let events = common::replay_events(&[&capture()], &[]);
    assert_eq!(events.len(), 6);
    for line in &events {
        let v: Value = serde_json::from_str(line).unwrap();
        let k = format!("127.0.0.1:{}", v["destination"]["port"]);
        let e = &exp["servers"][&k];
        let hw = &v["hellowatch"]["certificate"];
        match e.get("certificate") {
            None => {
                assert_eq!(hw, &json!({"status": "tls13_encrypted"}), "{k}");
                assert!(v["tls"].get("server").is_none(), "{k}");
            }
            Some(x) => {
                let s = &v["tls"]["server"];
                assert_eq!(
                    s["hash"]["sha256"],
                    x["sha256"].as_str().unwrap().to_uppercase(),
                    "{k}"
                );
                assert_eq!(s["not_after"], x["not_after"], "{k}");
                assert_eq!(s["x509"]["not_after"], x["not_after"], "{k}");
                assert_eq!(s["x509"]["subject"]["common_name"][0], x["subject_cn"]);
                assert_eq!(s["x509"]["public_key_algorithm"], x["key_type"]);
                assert_eq!(s["x509"]["public_key_size"], x["key_bits"]);
                assert_eq!(hw["status"], "read");
                assert_eq!(hw["problems"], x["problems"], "{k}");
                assert_eq!(hw["san_count"], x["san_count"], "{k}");
            }
        }
    }
}

#[test]
fn metrics_count_the_problems_of_the_report() {
    let got = common::replay_json(&[&capture()], &[]);
    let prom = common::tmp("certs.prom");
    common::assert_ok(&common::run(&[
        "replay",
        capture().to_str().unwrap(),
        "-o",
        "/dev/null",
        "--quiet",
        "--metrics-file",
        prom.to_str().unwrap(),
    ]));
    let text = std::fs::read_to_string(&prom).unwrap();
    let value = |series: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{series} missing"))
    };
    for p in [
        "sha1_signature",
        "md5_signature",
        "expired",
        "expires_30d",
        "self_signed",
        "weak_key",
    ] {
        let want = got["certificates"]["problems"][p].as_u64().unwrap_or(0);
        let series = format!(
            "hellowatch_server_certificate_problem_handshakes_total{{transport=\"tcp\",problem=\"{p}\"}}"
        );
        assert_eq!(value(&series), want, "{p}");
    }
    for st in ["read", "tls13_encrypted", "not_seen"] {
        let series = format!(
            "hellowatch_server_certificate_handshakes_total{{transport=\"tcp\",status=\"{st}\"}}"
        );
        assert_eq!(
            value(&series),
            got["certificates"][st].as_u64().unwrap(),
            "{st}"
        );
    }
}

#[test]
fn merge_adds_certificates() {
    let report = common::replay_json(&[&capture()], &[]);
    let one = common::tmp("certs-one.json");
    std::fs::write(&one, report.to_string()).unwrap();
    let out = Command::new(common::bin())
        .args(["merge", "--format", "json"])
        .args([&one, &one])
        .output()
        .unwrap();
    common::assert_ok(&out);
    let merged: Value = serde_json::from_slice(&out.stdout).unwrap();
    let double = |v: &Value| -> Value {
        match v {
            Value::Number(n) => json!(2 * n.as_u64().unwrap()),
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), json!(2 * v.as_u64().unwrap())))
                    .collect(),
            ),
            _ => v.clone(),
        }
    };
    let (a, b) = (&report["certificates"], &merged["certificates"]);
    for k in ["read", "tls13_encrypted", "not_seen", "problems"] {
        assert_eq!(b[k], double(&a[k]), "{k}");
    }
    for (sha, leaf) in a["leaves"].as_object().unwrap() {
        let m = &b["leaves"][sha];
        assert_eq!(m["connections"], double(&leaf["connections"]), "{sha}");
        assert_eq!(m["not_after"], leaf["not_after"], "{sha}");
        assert_eq!(m["subject_cn"], leaf["subject_cn"], "{sha}");
    }
    for (k, s) in report["servers"].as_object().unwrap() {
        assert_eq!(
            merged["servers"][k]["certificates"]["problems"],
            double(&s["certificates"]["problems"]),
            "{k}"
        );
    }
}

/// `captures/certs/chromium-pq.pcap` (`make-pq-capture.sh`): Debian's chromium offers the
/// post-quantum hybrid X25519MLKEM768 and sends a key share of it; OpenSSL 3.0 chooses x25519.
/// tshark: `-Y tls.handshake.type==1 -e tls.handshake.extensions_key_share_group` shows
/// `GREASE,4588,29` in both ClientHellos, `-Y tls.handshake.type==2` shows key share 29.
#[test]
fn chromium_offers_x25519mlkem768() {
    let cap = common::root().join("captures/certs/chromium-pq.pcap");
    let got = common::replay_json(&[&cap], &[]);
    let t = &got["totals"];
    assert_eq!(t["hellos"], 2);
    assert_eq!(t["key_shares"], json!({"x25519": 2, "X25519MLKEM768": 2}));
    assert_eq!(t["groups_offered"]["X25519MLKEM768"], 2);
    assert_eq!(t["group_chosen"], json!({"x25519": 2}));
    assert_eq!(t["negotiated"], json!({"tls1.3": 2}));
    let c = &got["servers"]["127.0.0.1:44356"]["certificates"];
    assert_eq!(
        (c["tls13_encrypted"].as_u64(), c["read"].as_u64()),
        (Some(2), Some(0))
    );
}
