//! Metrics test helpers: the series a JSON census report implies, an exposition parser, HTTP,
//! tools that may be missing, child processes that are cleaned up.
// Lints: as the parent module, `tests/common/mod.rs`.

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Label set, sorted by name.
pub type Labels = BTreeMap<String, String>;

/// `name{a="x",b="y"}` with labels in name order.
pub fn key(name: &str, labels: &Labels) -> String {
    if labels.is_empty() {
        return name.to_string();
    }
    let l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{name}{{{}}}", l.join(","))
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The metric label of a census version name (an independent copy of the mapping:
/// named versions keep their name, TLS 1.3 drafts share one value, anything else is `other`).
pub fn version_label(name: &str) -> &str {
    match name {
        "sslv2" | "sslv3" | "tls1.0" | "tls1.1" | "tls1.2" | "tls1.3" | "dtls1.0" | "dtls1.2"
        | "dtls1.3" => name,
        n if n.starts_with("0x7f") => "tls1.3-draft",
        _ => "other",
    }
}

/// The metric label of a census alert name (`unassigned_N` → `unassigned`).
pub fn alert_label(name: &str) -> &str {
    if name.starts_with("unassigned_") {
        "unassigned"
    } else {
        name
    }
}

/// Series that are not counts of the census (compared separately).
pub const NOT_COMPARED: [&str; 2] = [
    "hellowatch_build_info",
    "hellowatch_legacy_client_last_seen_timestamp_seconds",
];

fn add(out: &mut BTreeMap<String, u64>, name: &str, l: &[(&str, &str)], n: u64) {
    if n > 0 {
        *out.entry(key(name, &labels(l))).or_default() += n;
    }
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn versions(
    out: &mut BTreeMap<String, u64>,
    name: &str,
    label: &str,
    m: &Value,
    extra: &[(&str, &str)],
) {
    for (v, n) in m.as_object().into_iter().flatten() {
        let mut l = extra.to_vec();
        l.push((label, version_label(v)));
        add(out, name, &l, u(n));
    }
}

/// Hellos of a census entry (`totals` or a client) by `offered_max`, with `none` for the hellos
/// that offered nothing (their `supported_versions` held only GREASE).
fn hellos_by_offered_max(
    out: &mut BTreeMap<String, u64>,
    name: &str,
    entry: &Value,
    extra: &[(&str, &str)],
) {
    versions(out, name, "offered_max", &entry["offered_max"], extra);
    let with_max: u64 = entry["offered_max"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(_, n)| u(n))
        .sum();
    let mut none = extra.to_vec();
    none.push(("offered_max", "none"));
    add(out, name, &none, u(&entry["hellos"]) - with_max);
}

/// Every non-zero sample the metrics must show for a JSON census report (`hellowatch replay
/// --format json`), keyed by [`key`]: aggregates, per-client series of the legacy clients,
/// coverage. Alerts are summed over their direction (the census does not keep it).
pub fn expected_series(report: &Value) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (transport, section) in [
        ("tcp", "totals"),
        ("quic", "quic_totals"),
        ("dtls", "dtls_totals"),
    ] {
        let t = &report[section];
        let via = [("transport", transport)];
        let prefix = section.strip_suffix("totals").unwrap_or("");
        let certs = &report[format!("{prefix}certificates")];
        for status in ["read", "tls13_encrypted", "not_seen"] {
            add(
                &mut out,
                "hellowatch_server_certificate_handshakes_total",
                &[("transport", transport), ("status", status)],
                u(&certs[status]),
            );
        }
        for (k, n) in certs["problems"].as_object().into_iter().flatten() {
            add(
                &mut out,
                "hellowatch_server_certificate_problem_handshakes_total",
                &[("transport", transport), ("problem", k.as_str())],
                u(n),
            );
        }
        hellos_by_offered_max(&mut out, "hellowatch_client_hellos_total", t, &via);
        versions(
            &mut out,
            "hellowatch_offered_versions_total",
            "version",
            &t["offered_versions"],
            &via,
        );
        versions(
            &mut out,
            "hellowatch_negotiated_handshakes_total",
            "version",
            &t["negotiated"],
            &via,
        );
        add(
            &mut out,
            "hellowatch_failed_handshakes_total",
            &via,
            u(&t["failed_handshakes"]),
        );
        add(
            &mut out,
            "hellowatch_tls_connections_total",
            &via,
            u(&t["connections"]),
        );
        for (d, n) in t["alerts"].as_object().into_iter().flatten() {
            add(
                &mut out,
                "hellowatch_alerts_total",
                &[("transport", transport), ("description", alert_label(d))],
                u(n),
            );
        }
        for (json, metric, label) in [
            (
                "cipher_classes",
                "hellowatch_negotiated_cipher_class_handshakes_total",
                "class",
            ),
            (
                "offered_weak",
                "hellowatch_offered_weak_cipher_hellos_total",
                "class",
            ),
            ("key_shares", "hellowatch_key_share_hellos_total", "group"),
            (
                "group_chosen",
                "hellowatch_group_chosen_handshakes_total",
                "group",
            ),
        ] {
            for (k, n) in t[json].as_object().into_iter().flatten() {
                add(
                    &mut out,
                    metric,
                    &[("transport", transport), (label, k.as_str())],
                    u(n),
                );
            }
        }
    }
    let t = &report["totals"];
    add(
        &mut out,
        "hellowatch_legacy_clients",
        &[],
        u(&t["legacy_clients"]),
    );
    for (ip, c) in report["clients"].as_object().into_iter().flatten() {
        if c["legacy"] != Value::Bool(true) {
            continue;
        }
        let cl = [("client", ip.as_str())];
        hellos_by_offered_max(&mut out, "hellowatch_legacy_client_hellos_total", c, &cl);
        versions(
            &mut out,
            "hellowatch_legacy_client_negotiated_handshakes_total",
            "version",
            &c["negotiated"],
            &cl,
        );
        add(
            &mut out,
            "hellowatch_legacy_client_failed_handshakes_total",
            &cl,
            u(&c["failed_handshakes"]),
        );
        for (d, n) in c["alerts"].as_object().into_iter().flatten() {
            add(
                &mut out,
                "hellowatch_legacy_client_alerts_total",
                &[("client", ip), ("description", alert_label(d))],
                u(n),
            );
        }
    }
    let i = &report["input"];
    add(&mut out, "hellowatch_packets_total", &[], u(&i["packets"]));
    add(
        &mut out,
        "hellowatch_captured_bytes_total",
        &[],
        u(&i["bytes"]),
    );
    let k = &report["coverage"];
    for (reason, n) in k["not_decoded"].as_object().into_iter().flatten() {
        add(
            &mut out,
            "hellowatch_undecoded_packets_total",
            &[("reason", reason)],
            u(n),
        );
    }
    for (json, metric) in [
        ("anomalies", "hellowatch_anomalies_total"),
        ("dtls_issues", "hellowatch_dtls_issues_total"),
        ("quic", "hellowatch_quic_events_total"),
    ] {
        for (kind, n) in k[json].as_object().into_iter().flatten() {
            add(&mut out, metric, &[("kind", kind)], u(n));
        }
    }
    add(
        &mut out,
        "hellowatch_dropped_packets_total",
        &[("stage", "queue")],
        u(&k["queue_drops"]),
    );
    if let Some(up) = k["upgrades"].as_object() {
        for (kind, n) in up {
            add(
                &mut out,
                "hellowatch_upgrades_total",
                &[("kind", kind)],
                u(n),
            );
        }
    }
    for (json, metric) in [
        ("tcp_segments", "hellowatch_tcp_segments_total"),
        ("truncated_segments", "hellowatch_truncated_segments_total"),
        ("flows_created", "hellowatch_flows_created_total"),
        ("flows_evicted", "hellowatch_flows_evicted_total"),
        ("flows_expired", "hellowatch_flows_expired_total"),
        ("flows_midstream", "hellowatch_flows_midstream_total"),
        ("flows_reused", "hellowatch_flows_reused_total"),
        ("stream_cap_hits", "hellowatch_stream_cap_hits_total"),
        ("reassembly_gaps", "hellowatch_reassembly_gaps_total"),
        ("overlap_conflicts", "hellowatch_overlap_conflicts_total"),
        ("streams_not_tls", "hellowatch_non_tls_streams_total"),
        ("hellos_midstream", "hellowatch_midstream_hellos_total"),
        ("conns_one_sided", "hellowatch_one_sided_connections_total"),
        ("hellos_dropped", "hellowatch_dropped_hellos_total"),
        ("alerts_dropped", "hellowatch_dropped_alerts_total"),
        ("streams_unfinished", "hellowatch_unfinished_streams_total"),
        ("buffered_cap_hits", "hellowatch_buffered_cap_hits_total"),
        ("upgrades_refused", "hellowatch_upgrades_refused_total"),
        (
            "upgrade_reply_missing",
            "hellowatch_upgrade_reply_missing_total",
        ),
        (
            "plaintext_inspect_limit",
            "hellowatch_plaintext_inspect_limit_total",
        ),
        ("rst_ignored", "hellowatch_rst_ignored_total"),
        (
            "zero_padding_replaced",
            "hellowatch_zero_padding_replaced_total",
        ),
        ("udp_datagrams", "hellowatch_udp_datagrams_total"),
        ("udp_flows_created", "hellowatch_udp_flows_created_total"),
        ("udp_flows_evicted", "hellowatch_udp_flows_evicted_total"),
        ("udp_flows_expired", "hellowatch_udp_flows_expired_total"),
        (
            "quic_hellos_repeated",
            "hellowatch_quic_hellos_repeated_total",
        ),
        ("bypass_packets", "hellowatch_bypass_packets_total"),
        ("bypass_bytes", "hellowatch_bypass_bytes_total"),
        ("bypass_flows", "hellowatch_bypass_flows_total"),
        ("bypass_map_full", "hellowatch_bypass_map_full_total"),
    ] {
        assert!(
            k.get(json).is_some(),
            "coverage.{json} missing from the report"
        );
        add(&mut out, metric, &[], u(&k[json]));
    }
    out
}

/// Samples as the census sees them: target labels (`job`, `instance`, `sensor`) dropped,
/// alerts summed over their direction, zero samples and [`NOT_COMPARED`] left out.
pub fn census_view(
    samples: impl IntoIterator<Item = (String, Labels, f64)>,
) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (name, mut l, v) in samples {
        if NOT_COMPARED.contains(&name.as_str()) {
            continue;
        }
        for t in ["job", "instance", "sensor", "__name__"] {
            l.remove(t);
        }
        if name == "hellowatch_alerts_total" {
            l.remove("direction");
        }
        assert!(
            v >= 0.0 && v.fract() == 0.0,
            "{}: {v} is not a count",
            key(&name, &l)
        );
        let n = v as u64;
        if n > 0 {
            *out.entry(key(&name, &l)).or_default() += n;
        }
    }
    out
}

/// Differences between expected and actual census views, one line each.
pub fn diff_views(expected: &BTreeMap<String, u64>, actual: &BTreeMap<String, u64>) -> Vec<String> {
    let keys: std::collections::BTreeSet<&String> = expected.keys().chain(actual.keys()).collect();
    keys.into_iter()
        .filter_map(|k| {
            let (e, a) = (
                expected.get(k).copied().unwrap_or(0),
                actual.get(k).copied().unwrap_or(0),
            );
            (e != a).then(|| format!("{k}: expected {e}, got {a}"))
        })
        .collect()
}

/// Parses a text exposition (OpenMetrics or Prometheus 0.0.4) into samples.
pub fn parse_exposition(text: &str) -> Vec<(String, Labels, f64)> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("sample line");
        let value: f64 = value.parse().expect("sample value");
        let (name, mut l) = match series.split_once('{') {
            None => (series.to_string(), Labels::new()),
            Some((n, rest)) => (n.to_string(), parse_labels(rest.strip_suffix('}').unwrap())),
        };
        l.remove("");
        out.push((name, l, value));
    }
    out
}

fn parse_labels(s: &str) -> Labels {
    let mut out = Labels::new();
    let mut chars = s.chars().peekable();
    loop {
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if name.is_empty() {
            break;
        }
        assert_eq!(chars.next(), Some('"'));
        let mut v = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => v.push('\n'),
                    Some(o) => v.push(o),
                    None => break,
                },
                '"' => break,
                o => v.push(o),
            }
        }
        out.insert(name.trim_start_matches(',').to_string(), v);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    out
}

/// An HTTP agent that returns error statuses as responses.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// A tool on PATH, or `None`. When `HELLOWATCH_REQUIRE_TOOLS=1` (set by CI) a missing tool
/// fails the test instead of skipping it.
pub fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("HELLOWATCH_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "{name} is required (HELLOWATCH_REQUIRE_TOOLS=1) but not installed: apt-get install prometheus"
        );
        eprintln!("SKIPPED: {name} is not installed (Debian: apt-get install prometheus)");
    }
    found
}

/// A child process killed (if still running) when dropped.
pub struct Guard {
    pub child: Child,
    pub name: &'static str,
}

impl Guard {
    /// Sends SIGTERM and waits up to 20 s for the exit.
    pub fn terminate(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let st = Command::new("sh")
            .args(["-c", &format!("kill -TERM {pid}")])
            .status()
            .unwrap();
        assert!(st.success(), "kill -TERM {pid}");
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                Instant::now() < until,
                "{} did not exit on SIGTERM",
                self.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `hellowatch replay FILES --format json -o REPORT --listen ADDR --hold EXTRA…`, after the
/// replay is done: the process, the address it serves, the report.
pub fn replay_and_hold(
    files: &[PathBuf],
    listen: &str,
    report: &Path,
    extra: &[&str],
) -> (Guard, std::net::SocketAddr, Value) {
    let mut child = Command::new(super::bin())
        .arg("replay")
        .args(files)
        .args(["--format", "json", "--output"])
        .arg(report)
        .args(["--listen", listen, "--hold"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start hellowatch");
    let stderr = child.stderr.take().unwrap();
    let guard = Guard {
        child,
        name: "hellowatch",
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let until = Instant::now() + Duration::from_secs(120);
    let addr = loop {
        let left = until.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .expect("hellowatch said it is serving");
        if let Some(rest) = line.strip_prefix("hellowatch: replay done; serving http://") {
            let a = rest.split('/').next().unwrap();
            break a.parse().unwrap();
        }
        assert!(!line.contains("error"), "hellowatch: {line}");
    };
    let v: Value = serde_json::from_slice(&std::fs::read(report).unwrap()).unwrap();
    (guard, addr, v)
}

/// A real Prometheus server (the Debian binary) on a port of its choosing on loopback, with a
/// temp storage directory; killed when dropped.
pub struct Server {
    _guard: Guard,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its log (stderr).
    pub log: PathBuf,
    agent: ureq::Agent,
}

impl Server {
    /// `prometheus --config.file=<dir>/<name>.yml --web.listen-address=127.0.0.1:0 EXTRA…`
    /// with `config` as the configuration; storage in `<dir>/<name>-data` (`--storage.agent.path`
    /// when `agent`, in agent mode, else `--storage.tsdb.path`). Returns once it is ready.
    pub fn start(
        bin: &Path,
        dir: &Path,
        name: &str,
        config: &str,
        agent: bool,
        extra: &[&str],
    ) -> Server {
        let file = dir.join(format!("{name}.yml"));
        std::fs::write(&file, config).unwrap();
        let log = dir.join(format!("{name}.log"));
        let data = dir.join(format!("{name}-data"));
        let mut cmd = Command::new(bin);
        cmd.arg(format!("--config.file={}", file.display()))
            .arg("--web.listen-address=127.0.0.1:0");
        if agent {
            cmd.arg("--enable-feature=agent")
                .arg(format!("--storage.agent.path={}", data.display()));
        } else {
            cmd.arg(format!("--storage.tsdb.path={}", data.display()));
        }
        let child = cmd
            .args(extra)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start prometheus");
        let mut s = Server {
            _guard: Guard {
                child,
                name: "prometheus",
            },
            base: String::new(),
            log,
            agent: self::agent(),
        };
        // The web server logs the address it bound: `msg="Listening on" address=127.0.0.1:N`.
        let mut addr = None;
        s.wait_for("Prometheus to listen", || {
            let log = std::fs::read_to_string(&s.log).unwrap_or_default();
            addr = log
                .lines()
                .filter(|l| l.contains("Listening on"))
                .find_map(|l| l.split("address=").nth(1))
                .and_then(|a| a.split_whitespace().next())
                .map(|a| a.trim_matches('"').to_string());
            addr.is_some()
        });
        s.base = format!("http://{}", addr.unwrap());
        s.wait_for("Prometheus to be ready", || {
            s.agent
                .get(format!("{}/-/ready", s.base))
                .call()
                .is_ok_and(|r| r.status() == 200)
        });
        s
    }

    /// Polls `done` every 250 ms for up to 90 s (a hang guard, not a speed limit).
    pub fn wait_for(&self, what: &str, mut done: impl FnMut() -> bool) {
        let until = Instant::now() + Duration::from_secs(90);
        while !done() {
            assert!(
                Instant::now() < until,
                "timed out waiting for {what}; log {}:\n{}",
                self.log.display(),
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// The `data` of a successful API answer (`path` like `/api/v1/rules`; `query` the
    /// `query` parameter).
    pub fn api(&self, path: &str, query: Option<&str>) -> Value {
        let mut req = self.agent.get(format!("{}{path}", self.base));
        if let Some(q) = query {
            req = req.query("query", q);
        }
        let body = req.call().unwrap().body_mut().read_to_string().unwrap();
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["status"], "success", "{path} {query:?}: {body}");
        v["data"].clone()
    }

    /// An instant query's samples (metric labels including `__name__`, value).
    pub fn query(&self, q: &str) -> Vec<(Labels, f64)> {
        let data = self.api("/api/v1/query", Some(q));
        assert_eq!(data["resultType"], "vector", "{q}");
        data["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let l: Labels = s["metric"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect();
                (l, s["value"][1].as_str().unwrap().parse().unwrap())
            })
            .collect()
    }
}
