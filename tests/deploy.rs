//! deploy/ and the exposition through Prometheus' own checker: `promtool check metrics` on a
//! real exposition, `promtool check rules`, `promtool test rules`, `promtool check config`;
//! the dashboard's and the systemd unit's shape. Needs promtool (Debian package `prometheus`);
//! skips without it unless HELLOWATCH_REQUIRE_TOOLS=1 (CI).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)]

mod common;

use common::prom;
use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn deploy() -> PathBuf {
    common::root().join("deploy")
}

fn files_in(dir: &str, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(deploy().join(dir))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no deploy/{dir}/*{suffix}");
    v
}

fn promtool(args: &[&str], stdin: Option<&[u8]>) -> (bool, String) {
    let tool = prom::tool("promtool").unwrap();
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(b) = stdin {
        input.write_all(b).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn promtool_check_metrics_reports_nothing_on_the_exposition() {
    if prom::tool("promtool").is_none() {
        return;
    }
    let files = common::corpus_files("captures");
    if files.is_empty() {
        return;
    }
    let dir = common::scratch("deploy-promtool");
    let path = dir.join("hellowatch.prom");
    let out = Command::new(common::bin())
        .arg("replay")
        .args(&files)
        .args(["--format", "json", "--workers", "2", "--metrics-file"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = std::fs::read(&path).unwrap();
    // Per-client series included, so the whole exposition is checked.
    assert!(String::from_utf8_lossy(&text).contains("hellowatch_legacy_client_hellos_total{"));
    let (ok, said) = promtool(&["check", "metrics"], Some(&text));
    assert!(ok && said.is_empty(), "promtool check metrics:\n{said}");
}

#[test]
fn rules_pass_promtool_check_and_their_unit_tests() {
    if prom::tool("promtool").is_none() {
        return;
    }
    for f in files_in("prometheus", ".rules.yml") {
        let (ok, said) = promtool(&["check", "rules", f.to_str().unwrap()], None);
        assert!(ok, "promtool check rules {}:\n{said}", f.display());
    }
    for f in files_in("prometheus/tests", ".yml") {
        let (ok, said) = promtool(&["test", "rules", f.to_str().unwrap()], None);
        assert!(ok, "promtool test rules {}:\n{said}", f.display());
        assert!(said.contains("SUCCESS"), "{said}");
    }
    for name in ["prometheus.yml", "federation.yml", "central.yml"] {
        let f = deploy().join("prometheus").join(name);
        let (ok, said) = promtool(&["check", "config", f.to_str().unwrap()], None);
        assert!(ok, "promtool check config {name}:\n{said}");
    }
    // The fleet's agent, checked as agent mode reads it.
    let f = deploy().join("prometheus/agent.yml");
    let (ok, said) = promtool(&["check", "config", "--agent", f.to_str().unwrap()], None);
    assert!(ok, "promtool check config --agent agent.yml:\n{said}");
    let agent = std::fs::read_to_string(&f).unwrap();
    assert!(agent.contains("external_labels:\n    sensor: "), "{agent}");
    assert!(agent.contains("/api/v1/write"), "{agent}");
}

#[test]
fn dashboard_panels_query_the_prometheus_variable() {
    let d: Value =
        serde_json::from_slice(&std::fs::read(deploy().join("grafana/hellowatch.json")).unwrap())
            .unwrap();
    let panels = d["panels"].as_array().unwrap();
    assert!(panels.len() >= 6);
    let mut ids = std::collections::BTreeSet::new();
    for p in panels {
        assert!(ids.insert(p["id"].as_u64().unwrap()), "duplicate panel id");
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{}", p["title"]);
        for t in targets {
            let e = t["expr"].as_str().unwrap();
            assert!(e.contains("hellowatch"), "{e}");
            assert!(e.contains("sensor=~\"$sensor\""), "unfiltered: {e}");
        }
    }
    let titles: Vec<&str> = panels
        .iter()
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    for want in [
        "Legacy clients",
        "Highest offered version vs negotiated version",
        "Failures by alert",
        "Top failing clients",
        "Coverage and drops",
        "Expiring certificates",
    ] {
        assert!(titles.contains(&want), "no panel {want}: {titles:?}");
    }
}

#[test]
fn systemd_unit_runs_unprivileged_with_capture_capabilities_only() {
    let unit = std::fs::read_to_string(deploy().join("systemd/hellowatch.service")).unwrap();
    let values = |key: &str| -> Vec<&str> {
        unit.lines()
            .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .collect()
    };
    assert_eq!(values("DynamicUser"), ["yes"]);
    assert_eq!(values("AmbientCapabilities"), ["CAP_NET_RAW CAP_NET_ADMIN"]);
    assert_eq!(
        values("CapabilityBoundingSet"),
        ["CAP_NET_RAW CAP_NET_ADMIN"]
    );
    assert_eq!(values("NoNewPrivileges"), ["yes"]);
    assert!(values("User").is_empty() && values("Group").is_empty());
    assert!(values("Environment").contains(&"HELLOWATCH_LISTEN=127.0.0.1:12451"));
    // A sensor left on for months: its census survives restarts, its log rotates.
    assert_eq!(values("StateDirectory"), ["hellowatch"]);
    assert_eq!(values("Restart"), ["on-failure"]);
    // Readiness and the watchdog come from hellowatch itself (sd_notify from the capture loop).
    assert_eq!(values("Type"), ["notify"]);
    assert_eq!(values("NotifyAccess"), ["main"]);
    assert_eq!(values("WatchdogSec").len(), 1);
    assert!(values("RestrictAddressFamilies")[0].contains("AF_UNIX"));
    assert_eq!(values("ExecReload"), ["/bin/kill -HUP $MAINPID"]);
    assert!(
        unit.contains("--state ${STATE_DIRECTORY}/state.json"),
        "{unit}"
    );
    let logrotate = std::fs::read_to_string(deploy().join("logrotate/hellowatch")).unwrap();
    assert!(logrotate.contains("--signal=HUP") && !logrotate.contains("\n    copytruncate"));
}
