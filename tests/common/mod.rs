//! Shared helpers for integration tests: run the binary, compare censuses the way
//! `../shared/conformance/check.py` does (zero counts equal missing keys, unknown keys ignored,
//! client addresses normalised).
// Test code: a broken expectation should panic, with the values at hand.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)]

pub mod prom;

use serde_json::Value;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod synth;
pub mod udp;

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

/// A capture of the public conformance corpus, or `None` (with a note) when the corpus is
/// not present.
pub fn conformance_capture(name: &str) -> Option<PathBuf> {
    let p = root().join("../shared/conformance/captures").join(name);
    if p.is_file() {
        Some(p)
    } else {
        eprintln!("skipped: {} not present", p.display());
        None
    }
}

/// A scratch directory for one test binary.
pub fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hellowatch-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
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

/// Splits a little-endian µs pcap into (header, records).
pub fn records(pcap: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut recs = Vec::new();
    let mut off = 24;
    while off + 16 <= pcap.len() {
        let caplen = u32::from_le_bytes(pcap[off + 8..off + 12].try_into().unwrap()) as usize;
        recs.push(pcap[off..off + 16 + caplen].to_vec());
        off += 16 + caplen;
    }
    (pcap[..24].to_vec(), recs)
}
