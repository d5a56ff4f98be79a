//! The public conformance corpus (`../shared/conformance`, when present): every capture's
//! per-client census must equal the tshark-derived expectation, including the six whose TLS
//! starts after a protocol upgrade (SMTP and IMAP STARTTLS, LDAP StartTLS, MySQL SSL, HTTP
//! CONNECT, SOCKS).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use serde_json::Value;

#[test]
fn conformance_corpus_is_exact() {
    let base = common::root().join("../shared/conformance");
    if !base.is_dir() {
        eprintln!("skipped: {} not present", base.display());
        return;
    }
    let cases = common::expectations(&base.join("expected"), &base.join("captures"));
    assert!(
        cases.len() >= 80,
        "corpus has only {} expectations",
        cases.len()
    );
    let mut failures = Vec::new();
    let mut compared = 0;
    for (exp_path, cap) in &cases {
        let stem = exp_path.file_stem().unwrap().to_str().unwrap();
        let exp: Value = serde_json::from_slice(&std::fs::read(exp_path).unwrap()).unwrap();
        let got = common::replay_json(&[cap], &[]);
        let d = common::diff(&exp["clients"], &got["clients"]);
        compared += 1;
        if !d.is_empty() {
            failures.push(format!("{stem}:\n  {}", d.join("\n  ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {compared} captures differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(compared, cases.len());
}

#[test]
fn robustness_captures_read_without_error() {
    let dir = common::root().join("../shared/conformance/robustness");
    let Ok(rd) = std::fs::read_dir(&dir) else {
        eprintln!("skipped: {} not present", dir.display());
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let v = common::replay_json(&[&p], &[]);
        assert!(
            v["input"]["packets"].as_u64().unwrap() > 0,
            "{}",
            p.display()
        );
    }
}
