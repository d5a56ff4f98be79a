//! Reports of a census: JSON (a contract other tools read), a table for people, CSV.

pub mod extra;
pub mod parse;

use crate::engine::Counters;
use crate::replay::InputSummary;
use crate::tally::{Census, ClientTally};
use crate::tls::{Version, alert_name};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::IpAddr;

/// Output format.
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned table, legacy clients first.
    Table,
    /// JSON: `{"clients", "totals", "input", "coverage"}`.
    Json,
    /// CSV, one row per client.
    Csv,
}

/// Name of an alert description (RFC name, else `unassigned_N`).
pub fn alert_label(desc: u8) -> String {
    match alert_name(desc) {
        Some(n) => n.to_string(),
        None => format!("unassigned_{desc}"),
    }
}

fn version_map(m: &BTreeMap<Version, u64>) -> Value {
    let mut o = Map::new();
    // Highest version first.
    for (v, n) in m.iter().rev() {
        o.insert(v.to_string(), json!(n));
    }
    Value::Object(o)
}

fn alert_map(m: &BTreeMap<u8, u64>) -> Value {
    let mut o = Map::new();
    for (d, n) in m {
        o.insert(alert_label(*d), json!(n));
    }
    Value::Object(o)
}

fn tally_json(t: &ClientTally) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("hellos".into(), json!(t.hellos));
    o.insert("offered_max".into(), version_map(&t.offered_max));
    o.insert("offered_versions".into(), version_map(&t.offered_versions));
    o.insert("negotiated".into(), version_map(&t.negotiated));
    o.insert("alerts".into(), alert_map(&t.alerts));
    o.insert("failed_handshakes".into(), json!(t.failed_handshakes));
    o.insert("started".into(), started_map(t));
    extra::tally_extra_json(t, &mut o);
    o
}

/// Connections by how TLS began (`"direct"`, `"starttls-smtp"`, …), zero counts left out.
fn started_map(t: &ClientTally) -> Value {
    let mut o = Map::new();
    for (s, n) in t.started() {
        o.insert(s.name().into(), json!(n));
    }
    Value::Object(o)
}

/// Clients in address order (IPv4 before IPv6).
pub fn sorted_clients(c: &Census) -> Vec<(&IpAddr, &ClientTally)> {
    let mut v: Vec<_> = c.clients.iter().filter(|(_, t)| !t.is_empty()).collect();
    v.sort_by_key(|(ip, _)| **ip);
    v
}

/// Coverage counters as JSON.
pub fn coverage_json(k: &Counters, c: &Census) -> Value {
    // The counters serialise in the order of their table ([`crate::counters`]); the census'
    // own drop counts sit after `queue_drops` in the report contract.
    let Ok(Value::Object(counters)) = serde_json::to_value(k) else {
        return Value::Object(Map::new());
    };
    let mut m = Map::new();
    for (key, v) in counters {
        let census_next = key == "queue_drops";
        m.insert(key, v);
        if census_next {
            m.insert("clients_dropped".into(), json!(c.clients_dropped));
            m.insert("versions_dropped".into(), json!(c.versions_dropped));
        }
    }
    Value::Object(m)
}

/// Options of a report beyond the census itself.
#[derive(Clone, Debug, Default)]
pub struct ReportOptions {
    /// Policies to evaluate (`--policy`).
    pub policies: Vec<crate::policy::Policy>,
}

/// The `"clients"` and `"totals"` objects of the JSON report.
pub fn census_json(c: &Census, opts: &ReportOptions) -> (Value, Value) {
    let mut clients = Map::new();
    for (ip, t) in sorted_clients(c) {
        let mut o = tally_json(t);
        o.insert("legacy".into(), json!(t.is_legacy()));
        extra::client_policy_json(t, opts, &mut o);
        clients.insert(ip.to_string(), Value::Object(o));
    }
    let mut totals = tally_json(&c.totals);
    totals.insert("clients".into(), json!(clients.len()));
    totals.insert(
        "legacy_clients".into(),
        json!(c.clients.values().filter(|t| t.is_legacy()).count()),
    );
    totals.insert("connections".into(), json!(c.connections));
    extra::totals_policy_json(c, opts, &mut totals);
    (Value::Object(clients), Value::Object(totals))
}

/// The JSON report (the shape is a contract: tests and other tools read it).
pub fn to_json(c: &Census, k: &Counters, input: &InputSummary) -> Value {
    to_json_with(c, k, input, &ReportOptions::default())
}

/// The JSON report with options (policies add `"policy"` objects to clients and totals).
pub fn to_json_with(c: &Census, k: &Counters, input: &InputSummary, opts: &ReportOptions) -> Value {
    let (clients, totals) = census_json(c, opts);
    let mut inp = json!({
        "files": input.files,
        "packets": input.packets,
        "bytes": input.bytes,
        "warnings": input.warnings,
    });
    if let (Some(cap), Some(o)) = (&input.capture, inp.as_object_mut()) {
        o.insert(
            "capture".into(),
            json!({
                "interface": cap.interface,
                "link_type": cap.link_type,
                "received": cap.received,
                "dropped": cap.dropped,
                "if_dropped": cap.if_dropped,
            }),
        );
    }
    json!({
        "clients": clients,
        "totals": totals,
        "input": inp,
        "coverage": coverage_json(k, c),
    })
}

fn compact_versions(m: &BTreeMap<Version, u64>) -> String {
    if m.is_empty() {
        return "-".into();
    }
    m.iter()
        .rev()
        .map(|(v, n)| format!("{v}:{n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn compact_started(t: &ClientTally) -> String {
    let v: Vec<String> = t
        .started()
        .map(|(s, n)| format!("{}:{n}", s.name()))
        .collect();
    if v.is_empty() {
        "-".into()
    } else {
        v.join(" ")
    }
}

fn compact_alerts(m: &BTreeMap<u8, u64>) -> String {
    if m.is_empty() {
        return "-".into();
    }
    m.iter()
        .map(|(d, n)| format!("{}:{n}", alert_label(*d)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Clients with legacy ones first, then by address.
fn table_order(c: &Census) -> Vec<(&IpAddr, &ClientTally)> {
    let mut v = sorted_clients(c);
    v.sort_by_key(|(ip, t)| (!t.is_legacy(), **ip));
    v
}

/// The table report.
pub fn write_table(
    w: &mut impl Write,
    c: &Census,
    k: &Counters,
    input: &InputSummary,
) -> io::Result<()> {
    write_table_with(w, c, k, input, &ReportOptions::default())
}

/// The table report with options (a column per policy, a summary per policy, and the
/// fingerprints and server names of legacy clients).
pub fn write_table_with(
    w: &mut impl Write,
    c: &Census,
    k: &Counters,
    input: &InputSummary,
    opts: &ReportOptions,
) -> io::Result<()> {
    let rows = table_order(c);
    let legacy = rows.iter().filter(|(_, t)| t.is_legacy()).count();
    let source = match &input.capture {
        Some(cap) => format!("live on {}", cap.interface),
        None => format!("{} file(s)", input.files.len()),
    };
    writeln!(
        w,
        "hellowatch: {source}, {} packets; {} clients, {} legacy (offered or negotiated below TLS 1.2, or failed)",
        input.packets,
        rows.len(),
        legacy
    )?;
    if let Some(cap) = &input.capture {
        writeln!(
            w,
            "capture: {} received, dropped {} (kernel buffer) + {} (interface) + {} (hellowatch queues)",
            cap.received, cap.dropped, cap.if_dropped, k.queue_drops
        )?;
    }
    let header = [
        "",
        "CLIENT",
        "HELLOS",
        "OFFERED MAX",
        "NEGOTIATED",
        "FAILED",
        "ALERTS",
        "STARTED",
    ];
    let mut cells: Vec<Vec<String>> = vec![header.map(String::from).to_vec()];
    extra::policy_headers(opts, &mut cells);
    for (ip, t) in &rows {
        let mut row = vec![
            if t.is_legacy() {
                "!".into()
            } else {
                String::new()
            },
            ip.to_string(),
            t.hellos.to_string(),
            compact_versions(&t.offered_max),
            compact_versions(&t.negotiated),
            t.failed_handshakes.to_string(),
            compact_alerts(&t.alerts),
            compact_started(t),
        ];
        extra::policy_cells(t, opts, &mut row);
        cells.push(row);
    }
    let mut width = vec![0usize; cells.first().map_or(0, Vec::len)];
    for r in &cells {
        for (w, s) in width.iter_mut().zip(r) {
            *w = (*w).max(s.chars().count());
        }
    }
    for r in &cells {
        let mut line = String::new();
        for (i, (s, wd)) in r.iter().zip(width.iter().copied()).enumerate() {
            let numeric = i == 2 || i == 5;
            if numeric {
                line.push_str(&format!("{s:>wd$}  "));
            } else {
                line.push_str(&format!("{s:<wd$}  "));
            }
        }
        writeln!(w, "{}", line.trim_end())?;
    }
    extra::write_table_footer(w, c, &rows, opts)?;
    for warn in &input.warnings {
        writeln!(w, "warning: {warn}")?;
    }
    Ok(())
}

/// The CSV report.
pub fn write_csv(w: impl Write, c: &Census) -> io::Result<()> {
    write_csv_with(w, c, &ReportOptions::default())
}

/// The CSV report with options (extra columns at the end: fallback hellos, top fingerprint
/// and server name of legacy connections, three columns per policy).
pub fn write_csv_with(w: impl Write, c: &Census, opts: &ReportOptions) -> io::Result<()> {
    let mut out = csv::Writer::from_writer(w);
    let map = |m: &BTreeMap<Version, u64>| {
        m.iter()
            .rev()
            .map(|(v, n)| format!("{v}={n}"))
            .collect::<Vec<_>>()
            .join(";")
    };
    let mut header: Vec<String> = [
        "client",
        "legacy",
        "hellos",
        "offered_max",
        "offered_versions",
        "negotiated",
        "failed_handshakes",
        "alerts",
        "started",
    ]
    .map(String::from)
    .to_vec();
    extra::csv_headers(opts, &mut header);
    out.write_record(&header)?;
    for (ip, t) in table_order(c) {
        let alerts = t
            .alerts
            .iter()
            .map(|(d, n)| format!("{}={n}", alert_label(*d)))
            .collect::<Vec<_>>()
            .join(";");
        let mut row = vec![
            ip.to_string(),
            t.is_legacy().to_string(),
            t.hellos.to_string(),
            map(&t.offered_max),
            map(&t.offered_versions),
            map(&t.negotiated),
            t.failed_handshakes.to_string(),
            alerts,
            t.started()
                .map(|(s, n)| format!("{}={n}", s.name()))
                .collect::<Vec<_>>()
                .join(";"),
        ];
        extra::csv_cells(t, opts, &mut row);
        out.write_record(&row)?;
    }
    out.flush()
}
