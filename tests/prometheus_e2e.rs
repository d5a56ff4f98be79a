//! End to end with a real Prometheus (the Debian `prometheus` package): it scrapes
//! `hellowatch replay --listen … --hold` and evaluates deploy/prometheus/hellowatch.rules.yml;
//! then its HTTP API must show the JSON census exactly (per client and aggregate), every rule
//! must be healthy and return data, and so must every query of the Grafana dashboard.
//!
//! Two replays are scraped one after the other, the second reading the first one's files and
//! more, so counters rise between scrapes and `rate()` has something to show (a replay alone
//! ends before its first scrape: its counters would be flat). Every server binds port 0 and
//! says which port it got (hellowatch on stderr, Prometheus in its log), so no port is picked
//! free and then bound by another process; Prometheus finds each replay through a file of
//! targets rewritten between the runs, and one fixed `instance` label makes both runs one
//! series.
//!
//! Input: the conformance corpus (`../shared/conformance/captures`, split in two halves), led
//! by `captures/demo-legacy-mix.pcap` when the project has it; without the corpus, the demo
//! capture alone (its first half, then all of it). Skips when neither is there or `prometheus`
//! is missing, unless HELLOWATCH_REQUIRE_TOOLS=1 (CI), which makes a missing `prometheus` a
//! failure.
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
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const SENSOR: &str = "e2e";

/// Client series must not expire: the corpus spans two decades of packet time.
const NO_EXPIRY: [&str; 2] = ["--client-series-idle", "4000000000"];

/// Grafana's variables as the test evaluates them: every sensor, a 5-minute rate window (the
/// whole test fits in it), a 1-hour range.
const GRAFANA_VARIABLES: [(&str, &str); 3] = [
    ("$sensor", ".*"),
    ("$__rate_interval", "5m"),
    ("$__range", "1h"),
];

/// The `instance` label of both replays' series.
const INSTANCE: &str = "hellowatch-e2e";

/// Run 1's files, and run 2's: run 1's and more. The conformance corpus split in two, led by
/// the project's demo capture when present; without the corpus, the demo capture cut in half
/// (run 1) and whole (run 2).
fn inputs(dir: &Path) -> Option<(Vec<PathBuf>, Vec<PathBuf>)> {
    let corpus = common::corpus_files("captures");
    let demo = common::demo();
    if corpus.len() < 4 {
        if !demo.is_file() {
            return None;
        }
        let half = dir.join("demo-first-half.pcap");
        std::fs::write(&half, first_half(&std::fs::read(&demo).unwrap())).unwrap();
        return Some((vec![half], vec![demo]));
    }
    let lead: Vec<PathBuf> = if demo.is_file() { vec![demo] } else { vec![] };
    let half = corpus.len() / 2;
    let run1 = lead.iter().chain(&corpus[..half]).cloned().collect();
    let run2 = lead.iter().chain(&corpus).cloned().collect();
    Some((run1, run2))
}

/// The file header and the first half of the records of a classic pcap file.
fn first_half(pcap: &[u8]) -> Vec<u8> {
    let (hdr, recs) = common::packets::records(pcap);
    [hdr, recs[..recs.len() / 2].concat()].concat()
}

/// Writes the file of scrape targets: `target`, with the `sensor` label (atomically).
fn set_target(path: &Path, target: std::net::SocketAddr) {
    let tmp = path.with_extension("tmp");
    let body = serde_json::json!([{"targets": [target.to_string()], "labels": {"sensor": SENSOR}}]);
    std::fs::write(&tmp, body.to_string()).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

struct Prometheus {
    server: prom::Server,
}

impl Prometheus {
    fn start(bin: &Path, dir: &Path, target: std::net::SocketAddr) -> Self {
        let rules = common::root().join("deploy/prometheus/hellowatch.rules.yml");
        let targets = dir.join("targets.json");
        set_target(&targets, target);
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {}\n\
             scrape_configs:\n  - job_name: hellowatch\n    file_sd_configs:\n      \
             - files: ['{}']\n        refresh_interval: 1s\n    relabel_configs:\n      \
             - target_label: instance\n        replacement: {INSTANCE}\n",
            rules.display(),
            targets.display()
        );
        Prometheus {
            server: prom::Server::start(bin, dir, "prometheus", &config, false, &[]),
        }
    }

    /// Points the scrape job at `target` (Prometheus re-reads the file within a second).
    fn retarget(&self, dir: &Path, target: std::net::SocketAddr) {
        set_target(&dir.join("targets.json"), target);
    }

    fn wait_for(&self, what: &str, done: impl FnMut() -> bool) {
        self.server.wait_for(what, done);
    }

    fn api(&self, path: &str, query: Option<&str>) -> Value {
        self.server.api(path, query)
    }

    fn query(&self, q: &str) -> Vec<(Labels, f64)> {
        self.server.query(q)
    }

    fn value(&self, q: &str) -> Option<f64> {
        let r = self.query(q);
        (r.len() == 1).then(|| r[0].1)
    }

    /// Every hellowatch series of the target, as the census sees them.
    fn census_view(&self) -> std::collections::BTreeMap<String, u64> {
        let samples = self
            .query("{__name__=~\"hellowatch_.+\",job=\"hellowatch\"}")
            .into_iter()
            .map(|(mut l, v)| {
                assert_eq!(l.get("sensor").map(String::as_str), Some(SENSOR));
                let name = l.remove("__name__").unwrap();
                (name, l, v)
            });
        prom::census_view(samples)
    }

    /// Waits until Prometheus has scraped the census `report` and checks every series.
    fn check_census(&self, report: &Value, run: &str) {
        let connections = report["totals"]["connections"].as_f64().unwrap();
        self.wait_for(&format!("a scrape of {run}"), || {
            self.value("hellowatch_tls_connections_total{job=\"hellowatch\",transport=\"tcp\"}")
                == Some(connections)
        });
        let expected = prom::expected_series(report);
        let diff = prom::diff_views(&expected, &self.census_view());
        assert!(
            diff.is_empty(),
            "{run}: Prometheus' series differ from the JSON census:\n{}",
            diff.join("\n")
        );
        // Last seen: one per legacy client.
        let legacy: BTreeSet<String> = report["clients"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, c)| c["legacy"] == Value::Bool(true))
            .map(|(ip, _)| ip.clone())
            .collect();
        assert!(!legacy.is_empty(), "{run}: no legacy client to compare");
        let seen: BTreeSet<String> = self
            .query("hellowatch_legacy_client_last_seen_timestamp_seconds")
            .into_iter()
            .map(|(l, v)| {
                assert!(v > 1.0e9, "{l:?} last seen {v}");
                l["client"].clone()
            })
            .collect();
        assert_eq!(seen, legacy, "{run}: last-seen series");
        eprintln!(
            "{run}: {} non-zero series equal the census ({} legacy clients)",
            expected.len(),
            legacy.len()
        );
    }
}

/// `expr` with every comparison turned into its `bool` form (`>` → `> bool`): the underlying
/// expression of an alert, each element kept whatever the threshold says. Label matchers and
/// strings are left alone.
fn thresholds_lifted(expr: &str) -> String {
    let mut out = String::with_capacity(expr.len() + 32);
    let (mut braces, mut quote) = (0usize, None::<char>);
    let mut chars = expr.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if let Some(q) = quote {
            if c == '\\' {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '{' => braces += 1,
            '}' => braces = braces.saturating_sub(1),
            '>' | '<' | '=' | '!' if braces == 0 => {
                let two = chars.peek() == Some(&'=');
                if two {
                    out.push('=');
                    chars.next();
                }
                if c == '>' || c == '<' || two {
                    out.push_str(" bool");
                }
            }
            _ => {}
        }
    }
    out
}

/// Every `expr` of the dashboard's panels (rows included), variables substituted.
fn dashboard_queries() -> Vec<(String, String)> {
    fn walk(panels: &Value, out: &mut Vec<(String, String)>) {
        for p in panels.as_array().into_iter().flatten() {
            let title = p["title"].as_str().unwrap_or("?").to_string();
            for t in p["targets"].as_array().into_iter().flatten() {
                let mut e = t["expr"].as_str().unwrap().to_string();
                for (var, val) in GRAFANA_VARIABLES {
                    e = e.replace(var, val);
                }
                assert!(!e.contains('$'), "{title}: unknown variable in {e}");
                out.push((title.clone(), e));
            }
            walk(&p["panels"], out);
        }
    }
    let path = common::root().join("deploy/grafana/hellowatch.json");
    let d: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut out = Vec::new();
    walk(&d["panels"], &mut out);
    out
}

#[test]
fn lifting_thresholds_keeps_matchers() {
    assert_eq!(
        thresholds_lifted("sum(rate(x{a!=\"b\",c=~\"d>e\"}[5m])) > 0"),
        "sum(rate(x{a!=\"b\",c=~\"d>e\"}[5m])) > bool 0"
    );
    assert_eq!(
        thresholds_lifted("a >= 1 and on (s) b == 2 and c < 3 and d != 4"),
        "a >= bool 1 and on (s) b == bool 2 and c < bool 3 and d != bool 4"
    );
}

#[test]
fn prometheus_scrapes_the_census_and_every_dashboard_and_rule_query_has_data() {
    let Some(prometheus) = prom::tool("prometheus") else {
        return;
    };
    let dir = common::scratch("prometheus-e2e");
    let Some((run1, run2)) = inputs(&dir) else {
        eprintln!(
            "SKIPPED: the end-to-end test needs the conformance corpus or captures/demo-legacy-mix.pcap"
        );
        return;
    };

    // Run 1, then Prometheus scraping it.
    let (hw1, addr, report1) =
        prom::replay_and_hold(&run1, "127.0.0.1:0", &dir.join("run1.json"), &NO_EXPIRY);
    let p = Prometheus::start(&prometheus, &dir, addr);
    p.check_census(&report1, "run 1");

    // Run 2, on a port of its own: SIGTERM ends --hold with status 0.
    assert_eq!(hw1.terminate().code(), Some(0));
    let (hw2, addr2, report2) =
        prom::replay_and_hold(&run2, "127.0.0.1:0", &dir.join("run2.json"), &NO_EXPIRY);
    p.retarget(&dir, addr2);
    p.check_census(&report2, "run 2");
    let (c1, c2) = (
        report1["totals"]["connections"].as_u64().unwrap(),
        report2["totals"]["connections"].as_u64().unwrap(),
    );
    assert!(c2 > c1, "run 2 must add connections ({c1} → {c2})");

    // Recording rules evaluated after run 2's scrape.
    p.wait_for("recording rules over both runs", || {
        !p.query("sensor:hellowatch_handshake_failures:ratio_rate10m")
            .is_empty()
    });

    // Every rule is loaded, healthy, and returns data.
    let rules_yml =
        std::fs::read_to_string(common::root().join("deploy/prometheus/hellowatch.rules.yml"))
            .unwrap();
    let declared = rules_yml
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            t.starts_with("- record:") || t.starts_with("- alert:")
        })
        .count();
    let groups = p.api("/api/v1/rules", None);
    let mut loaded = 0;
    let mut empty = Vec::new();
    for g in groups["groups"].as_array().unwrap() {
        for r in g["rules"].as_array().unwrap() {
            loaded += 1;
            let name = r["name"].as_str().unwrap();
            let q = r["query"].as_str().unwrap();
            assert_eq!(r["health"], "ok", "{name}: {}", r["lastError"]);
            if !p.query(q).is_empty() {
                continue;
            }
            // An alert that is rightly quiet on this data (no drops in a replay, no bound
            // hit, no failure surge): its underlying expression must still return data.
            assert_eq!(r["type"], "alerting", "recording rule {name} is empty: {q}");
            let lifted = thresholds_lifted(q);
            assert!(
                !p.query(&lifted).is_empty(),
                "alert {name}: no data even with thresholds lifted: {lifted}"
            );
            empty.push(name.to_string());
        }
    }
    assert_eq!(loaded, declared, "rules loaded vs declared in the file");
    eprintln!("rules: {loaded} return data; quiet alerts evaluated without thresholds: {empty:?}");

    // Every client in the replay is new to this Prometheus: the new-client alert fires.
    p.wait_for("HellowatchNewLegacyClient to fire", || {
        p.api("/api/v1/alerts", None)["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| {
                a["labels"]["alertname"] == "HellowatchNewLegacyClient" && a["state"] == "firing"
            })
    });

    // Every dashboard query returns data: no panel stays empty.
    let queries = dashboard_queries();
    assert!(queries.len() >= 20, "{} dashboard queries", queries.len());
    for (title, q) in &queries {
        assert!(!p.query(q).is_empty(), "panel {title:?}: no data for {q}");
    }
    // The sensor variable: label_values(hellowatch_build_info, sensor).
    let sensors: Vec<String> = p
        .query("hellowatch_build_info")
        .into_iter()
        .filter_map(|(l, _)| l.get("sensor").cloned())
        .collect();
    assert_eq!(sensors, [SENSOR]);
    eprintln!("dashboard: {} queries return data", queries.len());

    assert_eq!(hw2.terminate().code(), Some(0));
}
