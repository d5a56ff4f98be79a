//! The test kit, shared by every integration test (`mod common;`):
//!
//! - here: run the binary, compare censuses the way `../shared/conformance/check.py` does (zero
//!   counts equal missing keys, unknown keys ignored, client addresses normalised), find the
//!   shared conformance corpus (required in CI), temp files;
//! - [`kit`] (re-exported as [`packets`] and [`rng`]): pcap/pcapng writers and splitters,
//!   Ethernet/IP/TCP frames, TCP connections, TLS records and hellos, the deterministic RNG,
//!   and the benchmark workload generator;
//! - [`prom`]: the series a census implies, an exposition parser, Prometheus tools.
// Test code: a broken expectation should panic, with the values at hand.
// Each test binary uses part of the kit: the rest is neither dead code nor a needless import.
#![allow(
    dead_code,
    unused_imports,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)]

pub mod kit;
#[cfg(feature = "live")]
pub mod netns;
pub mod prom;
pub mod udp;

pub use kit::{packets, rng};

use serde_json::Value;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Path of the built binary.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hellowatch"))
}

/// Repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `hellowatch ARGS…`.
pub fn run(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .output()
        .expect("run hellowatch")
}

/// Asserts that a finished command succeeded, showing its stderr when it did not.
pub fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "{}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `hellowatch replay FILES… --format json [extra…]`, parsed.
pub fn replay_json(files: &[&Path], extra: &[&str]) -> Value {
    let mut cmd = Command::new(bin());
    cmd.arg("replay")
        .args(files)
        .args(["--format", "json"])
        .args(extra);
    let out = cmd.output().expect("run hellowatch");
    assert!(
        out.status.success(),
        "hellowatch failed on {files:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

const COUNT_KEYS: [&str; 2] = ["hellos", "failed_handshakes"];
const MAP_KEYS: [&str; 4] = ["offered_max", "offered_versions", "negotiated", "alerts"];

/// A `"clients"` object flattened to `ip -> {"hellos": n, "negotiated/tls1.2": n, …}`,
/// zero counts dropped.
pub fn flatten(clients: &Value) -> BTreeMap<String, BTreeMap<String, u64>> {
    let mut out: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let Some(obj) = clients.as_object() else {
        return out;
    };
    for (ip, entry) in obj {
        let key = ip
            .parse::<IpAddr>()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| ip.clone());
        let flat = out.entry(key).or_default();
        for k in COUNT_KEYS {
            if let Some(n) = entry.get(k).and_then(Value::as_u64) {
                if n > 0 {
                    *flat.entry(k.to_string()).or_default() += n;
                }
            }
        }
        for k in MAP_KEYS {
            if let Some(m) = entry.get(k).and_then(Value::as_object) {
                for (name, n) in m {
                    let n = n.as_u64().unwrap_or(0);
                    if n > 0 {
                        *flat.entry(format!("{k}/{name}")).or_default() += n;
                    }
                }
            }
        }
    }
    out.retain(|_, f| !f.is_empty());
    out
}

/// Differences between an expected and an actual `"clients"` object, one line each.
pub fn diff(expected: &Value, actual: &Value) -> Vec<String> {
    let (e, a) = (flatten(expected), flatten(actual));
    let mut lines = Vec::new();
    let ips: std::collections::BTreeSet<&String> = e.keys().chain(a.keys()).collect();
    let empty = BTreeMap::new();
    for ip in ips {
        let (ee, aa) = (e.get(ip).unwrap_or(&empty), a.get(ip).unwrap_or(&empty));
        let keys: std::collections::BTreeSet<&String> = ee.keys().chain(aa.keys()).collect();
        for k in keys {
            let (x, y) = (
                ee.get(k).copied().unwrap_or(0),
                aa.get(k).copied().unwrap_or(0),
            );
            if x != y {
                lines.push(format!("{ip} {k}: expected {x}, got {y}"));
            }
        }
    }
    lines
}

/// Expected files `(expected json path, capture path)` in a directory laid out like the
/// conformance corpus (`expected/<stem>.json` naming `"capture"` in `captures/`).
pub fn expectations(expected_dir: &Path, captures_dir: &Path) -> Vec<(PathBuf, PathBuf)> {
    let mut v = Vec::new();
    let Ok(rd) = std::fs::read_dir(expected_dir) else {
        return v;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.extension().and_then(|x| x.to_str()) != Some("json") {
            continue;
        }
        let exp: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        let cap = exp["capture"].as_str().expect("\"capture\" names the file");
        v.push((p, captures_dir.join(cap)));
    }
    v.sort();
    v
}

/// The demo capture shipped with the project (`captures/demo-legacy-mix.pcap`).
pub fn demo() -> PathBuf {
    root().join("captures/demo-legacy-mix.pcap")
}

/// `../shared/conformance/<sub>` (the public conformance corpus beside the checkout), or
/// `None` with a note on stderr when it is absent. With `HELLOWATCH_REQUIRE_CORPUS=1` (set by
/// `.ci/run`) an absent corpus fails the test instead: CI never skips silently.
pub fn corpus(sub: &str) -> Option<PathBuf> {
    let p = root().join("../shared/conformance").join(sub);
    if p.exists() {
        return Some(p);
    }
    assert!(
        std::env::var("HELLOWATCH_REQUIRE_CORPUS").as_deref() != Ok("1"),
        "{} is required (HELLOWATCH_REQUIRE_CORPUS=1) but not present",
        p.display()
    );
    eprintln!("SKIPPED: {} not present", p.display());
    None
}

/// Replays every capture of `expected_dir` (laid out as for [`expectations`]) and compares its
/// census with the expectation (and whatever `more` adds, given the expected and actual
/// reports); a replay must give no warning. Returns one entry per capture that differs.
pub fn golden_failures(
    expected_dir: &Path,
    captures_dir: &Path,
    more: impl Fn(&Value, &Value) -> Vec<String>,
) -> Vec<String> {
    let cases = expectations(expected_dir, captures_dir);
    assert!(cases.len() >= 8, "only {} golden captures", cases.len());
    let mut failures = Vec::new();
    for (exp_path, cap) in &cases {
        let exp: Value = serde_json::from_slice(&std::fs::read(exp_path).unwrap()).unwrap();
        let got = replay_json(&[cap], &[]);
        let mut d = diff(&exp["clients"], &got["clients"]);
        d.extend(more(&exp, &got));
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
    failures
}

/// A capture of the public conformance corpus, as [`corpus`].
pub fn conformance_capture(name: &str) -> Option<PathBuf> {
    corpus("captures").map(|d| d.join(name)).filter(|p| {
        assert!(p.is_file(), "{} is not in the corpus", p.display());
        true
    })
}

/// The capture files (`.pcap`, `.pcapng`) in `../shared/conformance/<sub>`, sorted; empty, as
/// [`corpus`], when the corpus is absent.
pub fn corpus_files(sub: &str) -> Vec<PathBuf> {
    corpus(sub).map(|d| captures_in(&d)).unwrap_or_default()
}

/// The capture files (`.pcap`, `.pcapng`) in `dir`, sorted (none when it cannot be read).
pub fn captures_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.retain(|p| {
        p.is_file()
            && matches!(
                p.extension().and_then(|x| x.to_str()),
                Some("pcap" | "pcapng")
            )
    });
    v.sort();
    v
}

/// A scratch directory for one test binary and `name`.
pub fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hellowatch-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A path for a file `name` in this test binary's temp directory.
pub fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hellowatch-tests-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

/// `hellowatch replay FILES… --events - -o /dev/null [extra…]`: the event lines.
pub fn replay_events(files: &[&Path], extra: &[&str]) -> Vec<String> {
    let out = Command::new(bin())
        .arg("replay")
        .args(files)
        .args(["--events", "-", "-o", "/dev/null", "--quiet"])
        .args(extra)
        .output()
        .expect("run hellowatch");
    assert!(
        out.status.success(),
        "hellowatch failed on {files:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("UTF-8 events")
        .lines()
        .map(String::from)
        .collect()
}
