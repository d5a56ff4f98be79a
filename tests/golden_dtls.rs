//! Golden replays of this project's DTLS captures (`captures/dtls/`, made by
//! `captures/dtls/make-dtls-captures.sh` with OpenSSL on loopback): the DTLS census must be
//! what `captures/dtls/expected/<stem>.json` says (tshark's tallies) — HelloVerifyRequest
//! exchanges (two hellos, one negotiation), a refused DTLS 1.0 client, a fragmented
//! ClientHello — and the TLS-over-TCP census (`clients`) must stay empty.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)]

mod common;

use serde_json::Value;
use std::path::PathBuf;

fn dir() -> PathBuf {
    common::root().join("captures/dtls")
}

#[test]
fn dtls_captures_match_their_expected_census() {
    let cases = common::expectations(&dir().join("expected"), &dir());
    assert!(cases.len() >= 4, "only {} DTLS captures", cases.len());
    let mut failures = Vec::new();
    for (exp_path, cap) in &cases {
        let exp: Value = serde_json::from_slice(&std::fs::read(exp_path).unwrap()).unwrap();
        let got = common::replay_json(&[cap], &[]);
        let mut d = common::diff(&exp["dtls_clients"], &got["dtls_clients"]);
        d.extend(common::diff(&exp["clients"], &got["clients"]));
        if !d.is_empty() {
            failures.push(format!("{}:\n  {}", cap.display(), d.join("\n  ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `--workers N` gives the same DTLS census: UDP flows are hashed symmetrically.
#[test]
fn dtls_census_does_not_depend_on_workers() {
    let cases = common::expectations(&dir().join("expected"), &dir());
    let caps: Vec<&std::path::Path> = cases.iter().map(|(_, c)| c.as_path()).collect();
    let one = common::replay_json(&caps, &["--workers", "1"]);
    let three = common::replay_json(&caps, &["--workers", "3"]);
    assert_eq!(one["dtls_clients"], three["dtls_clients"]);
    assert!(!one["dtls_clients"].as_object().unwrap().is_empty());
}
