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

#[test]
fn project_captures_match_their_expected_census() {
    let root = common::root().join("captures");
    let failures = common::golden_failures(&root.join("expected"), &root, |_, _| Vec::new());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn demo_capture_shows_legacy_clients() {
    let demo = common::demo();
    let got = common::replay_json(&[&demo], &[]);
    let legacy = got["totals"]["legacy_clients"].as_u64().unwrap();
    let clients = got["totals"]["clients"].as_u64().unwrap();
    assert!(
        legacy >= 2 && clients > legacy,
        "legacy {legacy} of {clients}"
    );
    assert!(got["totals"]["failed_handshakes"].as_u64().unwrap() >= 1);
}
