//! A [`Report`] for people (an aligned table, legacy clients first, with a line per policy
//! and the fingerprints and server names of legacy clients) and as CSV (one row per client).

use super::{Client, ClientVerdict, Pairs, Report, Tally, alert_label};
use crate::policy::Status;
use crate::tls::Version;
use std::collections::BTreeMap;
use std::fmt::Display;
use std::io::{self, Write};
use std::net::IpAddr;

/// Entries of each kind shown per legacy client in the table.
pub const TABLE_TOP: usize = 3;

/// `k{sep}n` pairs joined by `join`, or `empty` when there are none.
fn joined<K: Display>(
    pairs: impl Iterator<Item = (K, u64)>,
    sep: char,
    join: &str,
    empty: &str,
) -> String {
    let v: Vec<String> = pairs.map(|(k, n)| format!("{k}{sep}{n}")).collect();
    if v.is_empty() {
        empty.into()
    } else {
        v.join(join)
    }
}

/// Versions, highest first.
fn versions(m: &BTreeMap<Version, u64>) -> impl Iterator<Item = (Version, u64)> + '_ {
    m.iter().rev().map(|(v, n)| (*v, *n))
}

/// Alerts by label.
fn alerts(t: &Tally) -> impl Iterator<Item = (String, u64)> + '_ {
    t.alerts.iter().map(|(d, n)| (alert_label(*d), *n))
}

/// Starts by name.
fn started(t: &Tally) -> impl Iterator<Item = (&'static str, u64)> + '_ {
    t.started().map(|(s, n)| (s.name(), n))
}

/// Clients with legacy ones first, then by address.
fn table_order(r: &Report) -> Vec<(&IpAddr, &Client)> {
    let mut v: Vec<_> = r.clients.iter().collect();
    v.sort_by_key(|(ip, c)| (!c.legacy, **ip));
    v
}

/// A client's cell for one policy: `-` (nothing refused), `fail:N` (every hello but fallback
/// retries refused), `partial:N`, or `fallback:N` (only fallback retries refused).
fn policy_cell(v: &ClientVerdict) -> String {
    match v.status {
        Status::NoHellos | Status::Pass => "-".into(),
        Status::FallbackOnly => format!("fallback:{}", v.fallback_retries),
        Status::Partial => format!("partial:{}", v.hellos_would_fail),
        Status::Fail => format!("fail:{}", v.hellos_would_fail),
    }
}

/// Up to [`TABLE_TOP`] entries, `…` when there are more, `-` when there are none.
fn top_list(kept: &Pairs<u64>, not_kept: u64) -> String {
    let mut v: Vec<String> = kept
        .0
        .iter()
        .take(TABLE_TOP)
        .map(|(k, n)| format!("{k}:{n}"))
        .collect();
    if kept.0.len() > TABLE_TOP || not_kept > 0 {
        v.push("…".into());
    }
    if v.is_empty() {
        "-".into()
    } else {
        v.join(" ")
    }
}

/// A packet time to the second, for the table.
fn seconds(ns: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(ns);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// The table report.
pub fn write_table(w: &mut impl Write, r: &Report) -> io::Result<()> {
    let rows = table_order(r);
    let legacy = rows.iter().filter(|(_, c)| c.legacy).count();
    let input = &r.input;
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
            cap.received,
            cap.dropped,
            cap.if_dropped,
            r.coverage.count("queue_drops")
        )?;
    }
    let mut header: Vec<String> = [
        "",
        "CLIENT",
        "HELLOS",
        "OFFERED MAX",
        "NEGOTIATED",
        "FAILED",
        "ALERTS",
        "STARTED",
        "LAST SEEN",
    ]
    .map(String::from)
    .to_vec();
    header.extend(r.totals.policy.0.iter().map(|(p, _)| p.to_uppercase()));
    let mut cells = vec![header];
    for (ip, c) in &rows {
        let t = &c.tally;
        let mut row = vec![
            if c.legacy { "!".into() } else { String::new() },
            ip.to_string(),
            t.hellos.to_string(),
            joined(versions(&t.offered_max), ':', " ", "-"),
            joined(versions(&t.negotiated), ':', " ", "-"),
            t.failed_handshakes.to_string(),
            joined(alerts(t), ':', " ", "-"),
            joined(started(t), ':', " ", "-"),
            t.last_seen.map_or_else(|| "-".into(), seconds),
        ];
        row.extend(c.policy.0.iter().map(|(_, v)| policy_cell(v)));
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
    for (p, v) in &r.totals.policy.0 {
        writeln!(
            w,
            "policy {p}: {} client(s) would fail ({} entirely), {} handshake(s) refused; \
             {} client(s) only through fallback retries ({} retries)",
            v.clients_would_fail,
            v.clients_fail_entirely,
            v.hellos_would_fail,
            v.clients_fallback_only,
            v.fallback_retries,
        )?;
    }
    let seen = |kept: &Pairs<u64>, not_kept: u64| !kept.is_empty() || not_kept > 0;
    let with_hellos: Vec<_> = rows
        .iter()
        .filter(|(_, c)| {
            let l = &c.tally.legacy_hellos;
            c.legacy
                && (seen(&l.ja4, l.not_kept.ja4) || seen(&l.server_names, l.not_kept.server_names))
        })
        .collect();
    if !with_hellos.is_empty() {
        writeln!(w, "legacy connections by client (JA4, server name):")?;
        for (ip, c) in with_hellos {
            let l = &c.tally.legacy_hellos;
            writeln!(
                w,
                "  {ip}  ja4 {}  sni {}",
                top_list(&l.ja4, l.not_kept.ja4),
                top_list(&l.server_names, l.not_kept.server_names),
            )?;
        }
    }
    for warn in &input.warnings {
        writeln!(w, "warning: {warn}")?;
    }
    Ok(())
}

/// The CSV report: one row per client, in table order; after the census columns, fallback
/// hellos, the top fingerprint and server name of legacy connections, the first, last and
/// last legacy packet times (RFC 3339, empty when none), and three columns per policy.
pub fn write_csv(w: &mut impl Write, r: &Report) -> io::Result<()> {
    let mut out = csv::Writer::from_writer(w);
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
        "fallback_hellos",
        "legacy_top_ja4",
        "legacy_top_server_name",
        "first_seen",
        "last_seen",
        "last_legacy_seen",
    ]
    .map(String::from)
    .to_vec();
    for (p, _) in &r.totals.policy.0 {
        for f in ["hellos_would_fail", "fallback_retries", "status"] {
            header.push(format!("{p} {f}"));
        }
    }
    out.write_record(&header)?;
    let first = |s: &Pairs<u64>| s.first().map(|(k, _)| k.clone()).unwrap_or_default();
    for (ip, c) in table_order(r) {
        let t = &c.tally;
        let mut row = vec![
            ip.to_string(),
            c.legacy.to_string(),
            t.hellos.to_string(),
            joined(versions(&t.offered_max), '=', ";", ""),
            joined(versions(&t.offered_versions), '=', ";", ""),
            joined(versions(&t.negotiated), '=', ";", ""),
            t.failed_handshakes.to_string(),
            joined(alerts(t), '=', ";", ""),
            joined(started(t), '=', ";", ""),
            t.fallback.hellos.to_string(),
            first(&t.legacy_hellos.ja4),
            first(&t.legacy_hellos.server_names),
            t.first_seen.map(super::time::rfc3339).unwrap_or_default(),
            t.last_seen.map(super::time::rfc3339).unwrap_or_default(),
            t.last_legacy_seen
                .map(super::time::rfc3339)
                .unwrap_or_default(),
        ];
        for (_, v) in &c.policy.0 {
            row.push(v.hellos_would_fail.to_string());
            row.push(v.fallback_retries.to_string());
            row.push(v.status.name().to_string());
        }
        out.write_record(&row)?;
    }
    out.flush()
}
