//! A [`Report`] for people (an aligned table, legacy clients first, with a line per policy
//! and the fingerprints and server names of legacy clients) and as CSV (one row per client).

use super::{Client, ClientVerdict, Pairs, Report, Section, Tally, Totals, alert_label};
use crate::policy::Status;
use crate::tls::cipher::{CipherClass, CipherName};
use crate::tls::group::Group;
use crate::tls::{Transport, Version};
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
fn table_order(clients: &BTreeMap<IpAddr, Client>) -> Vec<(&IpAddr, &Client)> {
    let mut v: Vec<_> = clients.iter().collect();
    v.sort_by_key(|(ip, c)| (!c.legacy, **ip));
    v
}

/// Each transport's clients and totals, in report order (TLS over TCP first).
fn by_transport(r: &Report) -> [(Transport, &BTreeMap<IpAddr, Client>, &Totals); 3] {
    [
        (Transport::Tcp, &r.clients, &r.totals),
        (Transport::Quic, &r.quic_clients, &r.quic_totals),
        (Transport::Dtls, &r.dtls_clients, &r.dtls_totals),
    ]
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

/// The table report: the TLS-over-TCP clients, then (when there are any) the QUIC and the DTLS
/// clients, each in its own table under a line naming the transport.
pub fn write_table(w: &mut impl Write, r: &Report) -> io::Result<()> {
    let rows = table_order(&r.clients);
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
    for (transport, clients, totals) in by_transport(r) {
        let rows = table_order(clients);
        if transport != Transport::Tcp {
            if rows.is_empty() {
                continue;
            }
            writeln!(
                w,
                "{} clients: {}, {} legacy",
                transport.name().to_uppercase(),
                rows.len(),
                rows.iter().filter(|(_, c)| c.legacy).count()
            )?;
        }
        write_rows(w, &rows, totals, transport)?;
    }
    for warn in &input.warnings {
        writeln!(w, "warning: {warn}")?;
    }
    Ok(())
}

/// One transport's table, its policy lines and its legacy fingerprints.
fn write_rows(
    w: &mut impl Write,
    rows: &[(&IpAddr, &Client)],
    totals: &Totals,
    transport: Transport,
) -> io::Result<()> {
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
    header.extend(totals.policy.0.iter().map(|(p, _)| p.to_uppercase()));
    let mut cells = vec![header];
    for (ip, c) in rows {
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
    let via = match transport {
        Transport::Tcp => String::new(),
        t => format!(" ({})", t.name()),
    };
    for (p, v) in &totals.policy.0 {
        writeln!(
            w,
            "policy {p}{via}: {} client(s) would fail ({} entirely), {} handshake(s) refused; \
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
        writeln!(w, "legacy connections by client{via} (JA4, server name):")?;
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
    Ok(())
}

/// A CSV error as an I/O error of the same kind (the csv crate's own conversion makes every
/// error `Other`, so a reader that went away, `BrokenPipe`, would look like a failure).
fn csv_io(e: csv::Error) -> io::Error {
    let kind = match e.kind() {
        csv::ErrorKind::Io(io) => io.kind(),
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e)
}

/// The CSV report: one row per client and transport (TLS over TCP, then QUIC, then DTLS), in
/// table order; after the census columns, fallback hellos, the top fingerprint and server name
/// of legacy connections, the first, last and last legacy packet times (RFC 3339, empty when
/// none), and three columns per policy.
pub fn write_csv(w: &mut impl Write, r: &Report) -> io::Result<()> {
    let mut out = csv::Writer::from_writer(w);
    let mut header: Vec<String> = [
        "client",
        "transport",
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
    out.write_record(&header).map_err(csv_io)?;
    let first = |s: &Pairs<u64>| s.first().map(|(k, _)| k.clone()).unwrap_or_default();
    for (ip, c, transport) in by_transport(r).into_iter().flat_map(|(tr, clients, _)| {
        table_order(clients)
            .into_iter()
            .map(move |(ip, c)| (ip, c, tr))
    }) {
        let t = &c.tally;
        let mut row = vec![
            ip.to_string(),
            transport.name().to_string(),
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
        out.write_record(&row).map_err(csv_io)?;
    }
    out.flush()
}

/// What the rows of the table and the CSV are keyed by (`--by`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum By {
    /// One row per client (the default).
    #[default]
    Client,
    /// One row per server endpoint.
    Server,
    /// One row per server name (SNI; `""` shown as `-`).
    ServerName,
}

/// One row of the server view: its key and its section.
type ServerRow<'a> = (String, &'a Section);

/// Each transport's servers (or server names), in report order.
fn server_rows(r: &Report, by: By) -> Vec<(Transport, Vec<ServerRow<'_>>)> {
    fn endpoints(m: &BTreeMap<std::net::SocketAddr, Section>) -> Vec<ServerRow<'_>> {
        m.iter().map(|(k, s)| (k.to_string(), s)).collect()
    }
    fn names(m: &BTreeMap<String, Section>) -> Vec<ServerRow<'_>> {
        m.iter()
            .map(|(k, s)| (if k.is_empty() { "-".into() } else { k.clone() }, s))
            .collect()
    }
    let mut out = match by {
        By::ServerName => vec![
            (Transport::Tcp, names(&r.server_names)),
            (Transport::Quic, names(&r.quic_server_names)),
            (Transport::Dtls, names(&r.dtls_server_names)),
        ],
        _ => vec![
            (Transport::Tcp, endpoints(&r.servers)),
            (Transport::Quic, endpoints(&r.quic_servers)),
            (Transport::Dtls, endpoints(&r.dtls_servers)),
        ],
    };
    for (_, rows) in &mut out {
        // Servers with legacy clients first, then by key (as listed).
        rows.sort_by_key(|(_, s)| s.totals.legacy_clients == 0);
    }
    out
}

/// Cipher weakness classes (`3des:2 cbc:2`).
fn classes(a: &[u64; CipherClass::COUNT]) -> impl Iterator<Item = (&'static str, u64)> + '_ {
    CipherClass::NAMES
        .iter()
        .zip(a)
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| (*k, *n))
}

/// A server's certificates: connections with each problem, then the connections whose
/// certificate was read, was encrypted by TLS 1.3 or was not seen
/// (`expired:1 read:3 tls13:4`).
fn certificate_cell(c: &super::certs::Certificates, sep: char, join: &str, empty: &str) -> String {
    let pairs = super::certs::problem_names(&c.problems)
        .chain([
            ("read", c.read),
            ("tls13", c.tls13_encrypted),
            ("not_seen", c.not_seen),
        ])
        .filter(|(_, n)| *n > 0);
    joined(pairs, sep, join, empty)
}

/// Groups (`x25519:2`).
fn groups(a: &[u64; Group::COUNT]) -> impl Iterator<Item = (&'static str, u64)> + '_ {
    Group::NAMES
        .iter()
        .zip(a)
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| (*k, *n))
}

/// The table keyed by server or server name: per row the server's clients and legacy
/// clients, its census, the weakness classes of its negotiated suites, and per policy the
/// clients that would fail if this server enforced it.
pub fn write_server_table(w: &mut impl Write, r: &Report, by: By) -> io::Result<()> {
    let what = if by == By::ServerName {
        "server names"
    } else {
        "servers"
    };
    for (transport, rows) in server_rows(r, by) {
        if transport != Transport::Tcp && rows.is_empty() {
            continue;
        }
        let legacy = rows
            .iter()
            .filter(|(_, s)| s.totals.legacy_clients > 0)
            .count();
        let via = match transport {
            Transport::Tcp => String::new(),
            t => format!("{} ", t.name().to_uppercase()),
        };
        writeln!(
            w,
            "hellowatch: {via}{what}: {}, {legacy} with legacy clients",
            rows.len()
        )?;
        let key = if by == By::ServerName {
            "SERVER NAME"
        } else {
            "SERVER"
        };
        let mut header: Vec<String> = [
            "",
            key,
            "CLIENTS",
            "LEGACY",
            "HELLOS",
            "OFFERED MAX",
            "NEGOTIATED",
            "FAILED",
            "ALERTS",
            "WEAK CIPHERS",
            "GROUP",
            "CERTIFICATE",
        ]
        .map(String::from)
        .to_vec();
        header.extend(r.totals.policy.0.iter().map(|(p, _)| p.to_uppercase()));
        let mut cells = vec![header];
        for (k, s) in &rows {
            let t = &s.totals.tally;
            let mut row = vec![
                if s.totals.legacy_clients > 0 {
                    "!".into()
                } else {
                    String::new()
                },
                k.clone(),
                s.totals.clients.to_string(),
                s.totals.legacy_clients.to_string(),
                t.hellos.to_string(),
                joined(versions(&t.offered_max), ':', " ", "-"),
                joined(versions(&t.negotiated), ':', " ", "-"),
                t.failed_handshakes.to_string(),
                joined(alerts(t), ':', " ", "-"),
                joined(classes(&t.cipher_classes), ':', " ", "-"),
                joined(groups(&t.group_chosen), ':', " ", "-"),
                certificate_cell(&s.certificates, ':', " ", "-"),
            ];
            row.extend(
                s.totals
                    .policy
                    .0
                    .iter()
                    .map(|(_, v)| match v.clients_would_fail {
                        0 => "-".into(),
                        n => format!("fail:{n}"),
                    }),
            );
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
                if matches!(i, 2 | 3 | 4 | 7) {
                    line.push_str(&format!("{s:>wd$}  "));
                } else {
                    line.push_str(&format!("{s:<wd$}  "));
                }
            }
            writeln!(w, "{}", line.trim_end())?;
        }
    }
    if !r.totals.policy.is_empty() {
        writeln!(
            w,
            "policy columns: clients of the server that would fail if it enforced the policy"
        )?;
    }
    Ok(())
}

/// The CSV keyed by server or server name: one row per server and transport.
pub fn write_server_csv(w: &mut impl Write, r: &Report, by: By) -> io::Result<()> {
    let mut out = csv::Writer::from_writer(w);
    let key = if by == By::ServerName {
        "server_name"
    } else {
        "server"
    };
    let mut header: Vec<String> = [
        key,
        "transport",
        "clients",
        "legacy_clients",
        "connections",
        "hellos",
        "offered_max",
        "offered_versions",
        "negotiated",
        "failed_handshakes",
        "alerts",
        "ciphers",
        "cipher_classes",
        "offered_weak",
        "groups_offered",
        "key_shares",
        "group_chosen",
        "certificates",
    ]
    .map(String::from)
    .to_vec();
    for (p, _) in &r.totals.policy.0 {
        for f in ["clients_would_fail", "hellos_would_fail"] {
            header.push(format!("{p} {f}"));
        }
    }
    out.write_record(&header).map_err(csv_io)?;
    for (transport, rows) in server_rows(r, by) {
        for (k, s) in rows {
            let t = &s.totals.tally;
            let key = if k == "-" && by == By::ServerName {
                String::new()
            } else {
                k
            };
            let mut row = vec![
                key,
                transport.name().to_string(),
                s.totals.clients.to_string(),
                s.totals.legacy_clients.to_string(),
                s.totals.connections.to_string(),
                t.hellos.to_string(),
                joined(versions(&t.offered_max), '=', ";", ""),
                joined(versions(&t.offered_versions), '=', ";", ""),
                joined(versions(&t.negotiated), '=', ";", ""),
                t.failed_handshakes.to_string(),
                joined(alerts(t), '=', ";", ""),
                joined(
                    t.ciphers.iter().map(|(c, n)| (CipherName::of(*c), *n)),
                    '=',
                    ";",
                    "",
                ),
                joined(classes(&t.cipher_classes), '=', ";", ""),
                joined(classes(&t.offered_weak), '=', ";", ""),
                joined(groups(&t.groups_offered), '=', ";", ""),
                joined(groups(&t.key_shares), '=', ";", ""),
                joined(groups(&t.group_chosen), '=', ";", ""),
                certificate_cell(&s.certificates, '=', ";", ""),
            ];
            for (_, v) in &s.totals.policy.0 {
                row.push(v.clients_would_fail.to_string());
                row.push(v.hellos_would_fail.to_string());
            }
            out.write_record(&row).map_err(csv_io)?;
        }
    }
    out.flush()
}
