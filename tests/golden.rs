//! Golden replays of this project's own captures (`captures/`, made with real TLS stacks by
//! `captures/make-captures.sh`): each census must equal `captures/expected/<stem>.json`.
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

#[test]
fn project_captures_match_their_expected_census() {
    let root = common::root().join("captures");
    let cases = common::expectations(&root.join("expected"), &root);
    assert!(cases.len() >= 8, "only {} golden captures", cases.len());
    let mut failures = Vec::new();
    for (exp_path, cap) in &cases {
        let exp: Value = serde_json::from_slice(&std::fs::read(exp_path).unwrap()).unwrap();
        let got = common::replay_json(&[cap], &[]);
        let d = common::diff(&exp["clients"], &got["clients"]);
        if !d.is_empty() {
            failures.push(format!("{}:\n  {}", cap.display(), d.join("\n  ")));
        }
        assert!(
            got["input"]["warnings"].as_array().unwrap().is_empty(),
            "{}: {}",
            cap.display(),
            got["input"]["warnings"]
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn demo_capture_shows_legacy_clients() {
    let demo = common::root().join("captures/demo-legacy-mix.pcap");
    let got = common::replay_json(&[&demo], &[]);
    let legacy = got["totals"]["legacy_clients"].as_u64().unwrap();
    let clients = got["totals"]["clients"].as_u64().unwrap();
    assert!(
        legacy >= 2 && clients > legacy,
        "legacy {legacy} of {clients}"
    );
    assert!(got["totals"]["failed_handshakes"].as_u64().unwrap() >= 1);
}
