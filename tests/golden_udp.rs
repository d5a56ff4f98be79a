//! Golden replays of this project's QUIC and DTLS captures (`captures/quic/`, made with aioquic
//! by `captures/quic/make-quic-captures.sh`; `captures/dtls/`, made with OpenSSL by
//! `captures/dtls/make-dtls-captures.sh`; both on loopback): each transport's census must be
//! what `expected/<stem>.json` says (tshark's tallies) — QUIC v1 and v2, a ClientHello split
//! over two Initials, a Retry; DTLS HelloVerifyRequest exchanges (two hellos, one
//! negotiation), a refused DTLS 1.0 client, a fragmented ClientHello — and the TLS-over-TCP
//! census (`clients`) must stay empty.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)]

mod common;

use serde_json::Value;
use std::path::{Path, PathBuf};

/// (capture directory, report section).
const SETS: [(&str, &str); 2] = [
    ("captures/quic", "quic_clients"),
    ("captures/dtls", "dtls_clients"),
];

fn cases(dir: &str) -> Vec<(PathBuf, PathBuf)> {
    let d = common::root().join(dir);
    common::expectations(&d.join("expected"), &d)
}

#[test]
fn quic_and_dtls_captures_match_their_expected_census() {
    let mut failures = Vec::new();
    for (dir, section) in SETS {
        let cases = cases(dir);
        assert!(cases.len() >= 4, "only {} captures in {dir}", cases.len());
        for (exp_path, cap) in &cases {
            let exp: Value = serde_json::from_slice(&std::fs::read(exp_path).unwrap()).unwrap();
            let got = common::replay_json(&[cap], &[]);
            let mut d = common::diff(&exp[section], &got[section]);
            d.extend(common::diff(&exp["clients"], &got["clients"]));
            if !d.is_empty() {
                failures.push(format!("{}:\n  {}", cap.display(), d.join("\n  ")));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `--workers N` gives the same QUIC and DTLS census: UDP flows are hashed symmetrically (all
/// QUIC to one worker).
#[test]
fn quic_and_dtls_census_does_not_depend_on_workers() {
    for (dir, section) in SETS {
        let cases = cases(dir);
        let caps: Vec<&Path> = cases.iter().map(|(_, c)| c.as_path()).collect();
        let one = common::replay_json(&caps, &["--workers", "1"]);
        let three = common::replay_json(&caps, &["--workers", "3"]);
        assert_eq!(one[section], three[section], "{dir}");
        assert!(!one[section].as_object().unwrap().is_empty(), "{dir}");
    }
}

/// The same QUIC Initial captured on two UDP flows (both sides of a NAT: same connection ID,
/// other source address) counts once, whatever the number of workers.
#[test]
fn quic_hello_seen_on_two_flows_counts_once() {
    let Some(cap) = common::conformance_capture("mercury-quic-crypto-packets.pcap") else {
        return;
    };
    let one = common::replay_json(&[&cap], &["--workers", "1"]);
    let two = common::replay_json(&[&cap], &["--workers", "2"]);
    assert!(one["coverage"]["quic_hellos_repeated"].as_u64().unwrap() > 0);
    assert_eq!(one["quic_clients"], two["quic_clients"]);
}
