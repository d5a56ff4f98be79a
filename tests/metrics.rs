//! The metrics against the JSON census of the same replay: the textfile (`--metrics-file`)
//! and the `/metrics` endpoint (`--listen`, `--hold`), per-client bounds and subnet labels,
//! flag errors. The real-Prometheus test is `prometheus_e2e.rs`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)]

mod common;

use common::prom::{self, Labels};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Client series never expire during these replays: the corpus spans two decades of packet
/// time.
const NO_EXPIRY: &str = "4000000000";

fn replay_with_metrics(files: &[PathBuf], dir: &Path, extra: &[&str]) -> (Value, String) {
    let report = dir.join("census.json");
    let prom_file = dir.join("hellowatch.prom");
    let out = std::process::Command::new(common::bin())
        .arg("replay")
        .args(files)
        .args(["--format", "json", "--output"])
        .arg(&report)
        .arg("--metrics-file")
        .arg(&prom_file)
        .args(extra)
        .output()
        .unwrap();
    common::assert_ok(&out);
    let v: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    (v, std::fs::read_to_string(&prom_file).unwrap())
}

fn samples_named<'a>(
    s: &'a [(String, Labels, f64)],
    name: &'a str,
) -> impl Iterator<Item = &'a (String, Labels, f64)> {
    s.iter().filter(move |(n, _, _)| n == name)
}

#[test]
fn metrics_file_equals_the_json_census_for_any_number_of_workers() {
    let files = common::corpus_files("captures");
    if files.is_empty() {
        return;
    }
    for workers in ["1", "3"] {
        let dir = common::scratch(&format!("metrics-file-{workers}"));
        let (report, text) = replay_with_metrics(
            &files,
            &dir,
            &["--workers", workers, "--client-series-idle", NO_EXPIRY],
        );
        let samples = prom::parse_exposition(&text);
        let expected = prom::expected_series(&report);
        let diff = prom::diff_views(&expected, &prom::census_view(samples.clone()));
        assert!(
            diff.is_empty(),
            "--workers {workers}: metrics differ from the census:\n{}",
            diff.join("\n")
        );
        // The test data must exercise the interesting parts.
        let legacy = report["totals"]["legacy_clients"].as_u64().unwrap();
        assert!(legacy >= 5, "only {legacy} legacy clients");
        assert!(expected.keys().any(|k| k.contains("tls1.3-draft")));
        assert!(
            expected
                .keys()
                .any(|k| k.starts_with("hellowatch_alerts_total"))
        );
        // Every legacy client has a last-seen time inside the corpus' years.
        let seen: Vec<_> = samples_named(
            &samples,
            "hellowatch_legacy_client_last_seen_timestamp_seconds",
        )
        .collect();
        assert_eq!(seen.len() as u64, legacy);
        for (_, l, v) in seen {
            assert!((1.0e9..2.0e9).contains(v), "{l:?} last seen {v}");
        }
        let build: Vec<_> = samples_named(&samples, "hellowatch_build_info").collect();
        assert_eq!(build.len(), 1);
        assert_eq!(build[0].1["version"], env!("CARGO_PKG_VERSION"));
        // Written atomically and readable by node_exporter; no temporary file left behind.
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("hellowatch.prom"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644);
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        // Prometheus text format 0.0.4: counter families named with _total, no OpenMetrics
        // markers.
        assert!(text.contains("# TYPE hellowatch_client_hellos_total counter\n"));
        assert!(!text.contains("# EOF") && !text.contains("# UNIT"));
    }
}

#[test]
fn metrics_endpoint_negotiates_the_format_and_serves_a_landing_page() {
    let files = common::corpus_files("captures");
    if files.is_empty() {
        return;
    }
    let dir = common::scratch("metrics-endpoint");
    let files: Vec<PathBuf> = files.into_iter().take(10).collect();
    let (hw, addr, report) =
        prom::replay_and_hold(&files, "127.0.0.1:0", &dir.join("census.json"), &[]);
    let agent = prom::agent();
    let url = format!("http://{addr}/metrics");
    let prometheus_accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let mut om = agent
        .get(&url)
        .header("Accept", prometheus_accept)
        .call()
        .unwrap();
    assert_eq!(om.status(), 200);
    assert_eq!(
        om.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let om = om.body_mut().read_to_string().unwrap();
    assert!(om.ends_with("# EOF\n"));
    assert!(om.contains("# TYPE hellowatch_client_hellos counter\n"));
    let mut plain = agent
        .get(&url)
        .header("Accept", "text/plain")
        .call()
        .unwrap();
    assert_eq!(
        plain.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let plain = plain.body_mut().read_to_string().unwrap();
    assert!(!plain.contains("# EOF"));
    // Same samples either way, and the census'.
    assert_eq!(prom::parse_exposition(&om), prom::parse_exposition(&plain));
    let diff = prom::diff_views(
        &prom::expected_series(&report),
        &prom::census_view(prom::parse_exposition(&om)),
    );
    assert!(diff.is_empty(), "{}", diff.join("\n"));
    // No Accept header (curl's default */*): OpenMetrics.
    let any = agent.get(&url).call().unwrap();
    assert!(
        any.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let mut landing = agent.get(format!("http://{addr}/")).call().unwrap();
    assert_eq!(landing.status(), 200);
    assert!(
        landing
            .body_mut()
            .read_to_string()
            .unwrap()
            .contains("href=\"/metrics\"")
    );
    let missing = agent.get(format!("http://{addr}/nope")).call().unwrap();
    assert_eq!(missing.status(), 404);
    let post = agent.post(&url).send("x").unwrap();
    assert_eq!(post.status(), 405);
    let st = hw.terminate();
    assert_eq!(st.code(), Some(0), "SIGTERM ends --hold with status 0");
}

#[test]
fn client_prefix_labels_series_by_subnet_with_the_whole_subnet_history() {
    let files = common::corpus_files("captures");
    if files.is_empty() {
        return;
    }
    let dir = common::scratch("metrics-prefix");
    let (report, text) = replay_with_metrics(
        &files,
        &dir,
        &[
            "--client-prefix",
            "16/32",
            "--client-series-idle",
            NO_EXPIRY,
        ],
    );
    // The census grouped by the same prefixes; a group has series if any member is legacy.
    let group = |ip: &str| -> String {
        match ip.parse::<std::net::IpAddr>().unwrap() {
            std::net::IpAddr::V4(a) => {
                let o = a.octets();
                format!("{}.{}.0.0/16", o[0], o[1])
            }
            std::net::IpAddr::V6(a) => {
                let s = a.segments();
                let p = std::net::Ipv6Addr::new(s[0], s[1], 0, 0, 0, 0, 0, 0);
                format!("{p}/32")
            }
        }
    };
    let mut expected: BTreeMap<String, (bool, u64, u64)> = BTreeMap::new();
    for (ip, c) in report["clients"].as_object().unwrap() {
        let e = expected.entry(group(ip)).or_default();
        e.0 |= c["legacy"] == Value::Bool(true);
        e.1 += c["hellos"].as_u64().unwrap();
        e.2 += c["failed_handshakes"].as_u64().unwrap();
    }
    expected.retain(|_, e| e.0);
    let samples = prom::parse_exposition(&text);
    let mut actual: BTreeMap<String, (bool, u64, u64)> = BTreeMap::new();
    for (name, l, v) in &samples {
        let Some(c) = l.get("client") else { continue };
        let e = actual.entry(c.clone()).or_default();
        e.0 = true;
        match name.as_str() {
            "hellowatch_legacy_client_hellos_total" => e.1 += *v as u64,
            "hellowatch_legacy_client_failed_handshakes_total" => e.2 += *v as u64,
            _ => {}
        }
    }
    assert!(expected.len() >= 2, "{expected:?}");
    assert_eq!(actual, expected);
}

#[test]
fn max_client_series_bounds_the_series_and_counts_what_it_drops() {
    let files = common::corpus_files("captures");
    if files.is_empty() {
        return;
    }
    let dir = common::scratch("metrics-bound");
    let (report, text) = replay_with_metrics(
        &files,
        &dir,
        &[
            "--max-client-series",
            "3",
            "--client-series-idle",
            NO_EXPIRY,
        ],
    );
    let legacy = report["totals"]["legacy_clients"].as_u64().unwrap();
    let samples = prom::parse_exposition(&text);
    let value = |name: &str| {
        samples_named(&samples, name)
            .map(|(_, _, v)| *v as u64)
            .sum::<u64>()
    };
    assert_eq!(value("hellowatch_legacy_clients"), 3);
    assert!(value("hellowatch_legacy_client_series_dropped_total") >= legacy - 3);
    let clients: std::collections::BTreeSet<_> = samples
        .iter()
        .filter_map(|(_, l, _)| l.get("client"))
        .collect();
    assert_eq!(clients.len(), 3);
    // The aggregates are not bounded.
    assert_eq!(
        value("hellowatch_tls_connections_total"),
        report["totals"]["connections"].as_u64().unwrap()
    );
}

#[test]
fn bad_metrics_flags_exit_2_with_one_line() {
    let files = common::corpus_files("captures");
    let Some(f) = files.first() else { return };
    let f = f.to_str().unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_addr = busy.local_addr().unwrap().to_string();
    for (args, needle) in [
        (vec!["--hold"], "--listen"),
        (vec!["--client-prefix", "33/64"], "V4LEN/V6LEN"),
        (vec!["--client-prefix", "24"], "V4LEN/V6LEN"),
        (vec!["--max-client-series", "2000000"], "at most"),
        (vec!["--listen", "localhost:1"], "invalid"),
        (vec!["--listen", &busy_addr], "cannot listen on"),
    ] {
        let mut all = vec!["replay", f];
        all.extend(&args);
        let out = common::run(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(out.stdout.is_empty());
    }
    let out = common::run(&[
        "replay",
        f,
        "--format",
        "json",
        "--metrics-file",
        "/nonexistent/dir/hellowatch.prom",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot write metrics file"), "{err}");
}
