//! Golden replays of this project's TCP-state and tunnel captures (`captures/tcp/`, real TLS
//! bytes from python ssl in crafted TCP framing, made by `captures/tcp/make-tcp-captures.py`):
//! each census must equal `captures/tcp/expected/<stem>.json` (tshark's tallies), and the
//! coverage counters must show what was handled: RSTs outside the window ignored, SYNs that
//! start a connection again on an ended 4-tuple, padding replaced by the data that followed.
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
    common::root().join("captures/tcp")
}

fn coverage(name: &str) -> Value {
    common::replay_json(&[&dir().join(name)], &[])["coverage"].clone()
}

#[test]
fn tcp_captures_match_their_expected_census() {
    let cases = common::expectations(&dir().join("expected"), &dir());
    assert!(cases.len() >= 7, "only {} tcp captures", cases.len());
    let mut failures = Vec::new();
    for (exp_path, cap) in &cases {
        let exp: Value = serde_json::from_slice(&std::fs::read(exp_path).unwrap()).unwrap();
        let got = common::replay_json(&[cap], &[]);
        let d = common::diff(&exp["clients"], &got["clients"]);
        if !d.is_empty() {
            failures.push(format!("{}:\n  {}", cap.display(), d.join("\n  ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The Windows port-reuse RST and the spoofed RST are ignored; the SYN after connection 1's
/// FINs and the SYN repeated after an accepted RST each start a connection again.
#[test]
fn out_of_window_rsts_are_ignored_and_syns_after_an_end_start_anew() {
    let c = coverage("tcp-rst-port-reuse.pcap");
    assert_eq!(c["rst_ignored"], 2, "{c}");
    assert_eq!(c["flows_reused"], 2, "{c}");
    assert_eq!(c["flows_created"], 5, "{c}");
}

#[test]
fn zero_padding_is_replaced_by_the_data_at_its_sequence_number() {
    let c = coverage("tcp-zero-padding.pcap");
    // Padding at one sequence number merges into one tentative tail: the client's two ACKs
    // before its hello, the SYN-ACK's and the ACK's before the server's flight, and the padding
    // before each later flight are each replaced once.
    assert!(c["zero_padding_replaced"].as_u64().unwrap() >= 3, "{c}");
    assert_eq!(c["overlap_conflicts"], 0, "{c}");
    let clean = coverage("tcp-zero-padding-without-padding.pcap");
    assert_eq!(clean["zero_padding_replaced"], 0, "{clean}");
}

#[test]
fn a_malformed_client_hello_is_counted_and_reported() {
    let c = coverage("tls-malformed-hello.pcap");
    assert_eq!(c["anomalies"]["client_hello_malformed"], 1, "{c}");
}

#[test]
fn tunnels_are_unwrapped_to_the_inner_client() {
    for (name, client) in [
        ("tunnel-gtpu.pcap", "10.45.0.7"),
        ("tunnel-capwap.pcap", "192.168.50.23"),
    ] {
        let got = common::replay_json(&[&dir().join(name)], &[]);
        let clients = got["clients"].as_object().unwrap();
        assert_eq!(clients.keys().collect::<Vec<_>>(), vec![client], "{name}");
        assert_eq!(got["coverage"]["tcp_segments"], 14, "{name}");
    }
}
