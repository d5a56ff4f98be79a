//! `replay --workers N` gives the census of `--workers 1`, for every capture we have.
// Test code: a broken expectation should panic, with the values at hand.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)]

mod common;

use std::path::PathBuf;

/// The project's captures, and the conformance corpus' (required in CI).
fn all_captures() -> Vec<PathBuf> {
    let mut v = common::captures_in(&common::root().join("captures"));
    v.extend(common::captures_in(
        &common::root().join("captures/upgrades"),
    ));
    v.extend(common::corpus_files("captures"));
    v.extend(common::corpus_files("robustness"));
    v
}

#[test]
fn census_is_the_same_for_any_number_of_workers() {
    let caps = all_captures();
    assert!(caps.len() >= 8, "only {} captures", caps.len());
    for cap in &caps {
        let one = common::replay_json(&[cap], &["--workers", "1"]);
        for n in ["2", "3", "8"] {
            let many = common::replay_json(&[cap], &["--workers", n]);
            assert_eq!(
                one["clients"],
                many["clients"],
                "{} with --workers {n}",
                cap.display()
            );
            assert_eq!(
                one["totals"],
                many["totals"],
                "{} with --workers {n}",
                cap.display()
            );
            assert_eq!(one["input"]["packets"], many["input"]["packets"]);
        }
    }
}

#[test]
fn all_captures_together_are_one_census_for_any_number_of_workers() {
    let caps = all_captures();
    let refs: Vec<&std::path::Path> = caps.iter().map(PathBuf::as_path).collect();
    let one = common::replay_json(&refs, &["--workers", "1"]);
    let two = common::replay_json(&refs, &["--workers", "2"]);
    assert_eq!(one["clients"], two["clients"]);
    assert_eq!(one["totals"], two["totals"]);
}
