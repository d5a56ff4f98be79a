//! Report parts beyond the basic census: fallback hellos, the fingerprints and server names of
//! legacy connections, and policy what-ifs — in JSON (extra keys; the contract keys are
//! unchanged), the table and CSV.

use super::{ReportOptions, version_map};
use crate::policy::{CensusPolicy, ClientPolicy, Status};
use crate::tally::{Census, ClientTally, Sample};
use serde_json::{Map, Value, json};
use std::io::{self, Write};
use std::net::IpAddr;

/// Entries of each kind shown per legacy client in the table.
pub const TABLE_TOP: usize = 3;

fn sample_json(s: &Sample) -> Value {
    let mut o = Map::new();
    for (k, n) in s.top() {
        o.insert(k.to_string(), json!(n));
    }
    Value::Object(o)
}

/// Adds `"fallback"` and `"legacy_hellos"` to a tally's JSON object.
pub fn tally_extra_json(t: &ClientTally, o: &mut Map<String, Value>) {
    o.insert(
        "fallback".into(),
        json!({
            "hellos": t.fallback_hellos,
            "offered_max": version_map(&t.fallback_offered_max),
        }),
    );
    o.insert(
        "legacy_hellos".into(),
        json!({
            "ja4": sample_json(&t.legacy_ja4),
            "ja3": sample_json(&t.legacy_ja3),
            "server_names": sample_json(&t.legacy_server_names),
            "not_kept": {
                "ja4": t.legacy_ja4.not_kept(),
                "ja3": t.legacy_ja3.not_kept(),
                "server_names": t.legacy_server_names.not_kept(),
            },
        }),
    );
}

/// Adds a client's `"policy"` object (when policies are given).
pub fn client_policy_json(t: &ClientTally, opts: &ReportOptions, o: &mut Map<String, Value>) {
    if opts.policies.is_empty() {
        return;
    }
    let mut m = Map::new();
    for p in &opts.policies {
        let cp = ClientPolicy::of(t, p);
        m.insert(
            p.to_string(),
            json!({
                "hellos_would_fail": cp.hellos_would_fail,
                "fallback_retries": cp.fallback_retries,
                "hellos_pass": cp.hellos_pass,
                "client_would_fail": cp.client_would_fail(),
                "status": cp.status().name(),
            }),
        );
    }
    o.insert("policy".into(), Value::Object(m));
}

/// Adds the totals' `"policy"` object (when policies are given).
pub fn totals_policy_json(c: &Census, opts: &ReportOptions, o: &mut Map<String, Value>) {
    if opts.policies.is_empty() {
        return;
    }
    let mut m = Map::new();
    for p in &opts.policies {
        let cp = CensusPolicy::of(c, p);
        m.insert(
            p.to_string(),
            json!({
                "hellos_would_fail": cp.hellos.hellos_would_fail,
                "fallback_retries": cp.hellos.fallback_retries,
                "hellos_pass": cp.hellos.hellos_pass,
                "clients_would_fail": cp.clients_would_fail,
                "clients_fail_entirely": cp.clients_fail_entirely,
                "clients_fallback_only": cp.clients_fallback_only,
            }),
        );
    }
    o.insert("policy".into(), Value::Object(m));
}

/// A client's cell for one policy: `-` (nothing refused), `fail:N` (every hello but fallback
/// retries refused), `partial:N`, or `fallback:N` (only fallback retries refused).
fn policy_cell(cp: &ClientPolicy) -> String {
    match cp.status() {
        Status::NoHellos | Status::Pass => "-".into(),
        Status::FallbackOnly => format!("fallback:{}", cp.fallback_retries),
        Status::Partial => format!("partial:{}", cp.hellos_would_fail),
        Status::Fail => format!("fail:{}", cp.hellos_would_fail),
    }
}

/// Table header cells, one per policy.
pub fn policy_headers(opts: &ReportOptions, cells: &mut [Vec<String>]) {
    if let Some(h) = cells.first_mut() {
        h.extend(opts.policies.iter().map(|p| p.to_string().to_uppercase()));
    }
}

/// Table cells of one client, one per policy.
pub fn policy_cells(t: &ClientTally, opts: &ReportOptions, row: &mut Vec<String>) {
    row.extend(
        opts.policies
            .iter()
            .map(|p| policy_cell(&ClientPolicy::of(t, p))),
    );
}

/// Up to [`TABLE_TOP`] entries, `…` when there are more.
fn top_list(s: &Sample) -> String {
    let top = s.top();
    let mut v: Vec<String> = top
        .iter()
        .take(TABLE_TOP)
        .map(|(k, n)| format!("{k}:{n}"))
        .collect();
    if top.len() > TABLE_TOP || s.not_kept() > 0 {
        v.push("…".into());
    }
    v.join(" ")
}

/// After the table: one line per policy, and the fingerprints and server names seen on the
/// legacy clients' legacy connections.
pub fn write_table_footer(
    w: &mut impl Write,
    c: &Census,
    rows: &[(&IpAddr, &ClientTally)],
    opts: &ReportOptions,
) -> io::Result<()> {
    for p in &opts.policies {
        let cp = CensusPolicy::of(c, p);
        writeln!(
            w,
            "policy {p}: {} client(s) would fail ({} entirely), {} handshake(s) refused; \
             {} client(s) only through fallback retries ({} retries)",
            cp.clients_would_fail,
            cp.clients_fail_entirely,
            cp.hellos.hellos_would_fail,
            cp.clients_fallback_only,
            cp.hellos.fallback_retries,
        )?;
    }
    let legacy: Vec<_> = rows
        .iter()
        .filter(|(_, t)| {
            t.is_legacy() && !(t.legacy_ja4.is_empty() && t.legacy_server_names.is_empty())
        })
        .collect();
    if legacy.is_empty() {
        return Ok(());
    }
    writeln!(w, "legacy connections by client (JA4, server name):")?;
    for (ip, t) in legacy {
        let ja4 = top_list(&t.legacy_ja4);
        let sni = top_list(&t.legacy_server_names);
        writeln!(
            w,
            "  {ip}  ja4 {}  sni {}",
            if ja4.is_empty() { "-" } else { &ja4 },
            if sni.is_empty() { "-" } else { &sni },
        )?;
    }
    Ok(())
}

/// Extra CSV header names.
pub fn csv_headers(opts: &ReportOptions, header: &mut Vec<String>) {
    header.extend(
        [
            "fallback_hellos",
            "legacy_top_ja4",
            "legacy_top_server_name",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    for p in &opts.policies {
        for f in ["hellos_would_fail", "fallback_retries", "status"] {
            header.push(format!("{p} {f}"));
        }
    }
}

/// Extra CSV cells of one client.
pub fn csv_cells(t: &ClientTally, opts: &ReportOptions, row: &mut Vec<String>) {
    let first = |s: &Sample| {
        s.top()
            .first()
            .map(|(k, _)| k.to_string())
            .unwrap_or_default()
    };
    row.push(t.fallback_hellos.to_string());
    row.push(first(&t.legacy_ja4));
    row.push(first(&t.legacy_server_names));
    for p in &opts.policies {
        let cp = ClientPolicy::of(t, p);
        row.push(cp.hellos_would_fail.to_string());
        row.push(cp.fallback_retries.to_string());
        row.push(cp.status().name().to_string());
    }
}
