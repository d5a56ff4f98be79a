//! Golden replays of this project's protocol-upgrade captures (`captures/upgrades/`, made by
//! `captures/upgrades/make-upgrade-captures.sh` with real servers and clients on loopback):
//! TLS after SMTP/IMAP/POP3/FTP/XMPP/LDAP/NNTP/ManageSieve STARTTLS, PostgreSQL and MySQL SSL
//! requests, HTTP CONNECT and SOCKS4/5 must be counted exactly as
//! `captures/upgrades/expected/<stem>.json` says (tshark's tallies), with how TLS began; and
//! the connections that never upgrade (a refused STARTTLS, a refused CONNECT, a rejected
//! SOCKS request, a ClientHello sent as an HTTP POST body) must count nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)]

mod common;

use serde_json::Value;
use std::path::PathBuf;

fn dir() -> PathBuf {
    common::root().join("captures/upgrades")
}

fn capture(name: &str) -> PathBuf {
    dir().join(name)
}

#[test]
fn upgrade_captures_match_their_expected_census() {
    // How TLS began, per client, too.
    let started = |exp: &Value, got: &Value| {
        let mut d = Vec::new();
        for (ip, want) in exp["clients"].as_object().unwrap() {
            let have = &got["clients"][ip]["started"];
            if &want["started"] != have {
                d.push(format!(
                    "{ip} started: expected {}, got {have}",
                    want["started"]
                ));
            }
        }
        d
    };
    let failures = common::golden_failures(&dir().join("expected"), &dir(), started);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The census of a capture that must count nothing, and its coverage counters.
fn counts_nothing(name: &str) -> Value {
    let got = common::replay_json(&[&capture(name)], &[]);
    assert_eq!(got["clients"], serde_json::json!({}), "{name}");
    assert_eq!(got["totals"]["hellos"], 0, "{name}");
    assert_eq!(got["totals"]["connections"], 0, "{name}");
    let up = got["coverage"]["upgrades"].as_object().unwrap();
    assert!(up.values().all(|n| n == 0), "{name}: {up:?}");
    got["coverage"].clone()
}

#[test]
fn client_hello_as_http_post_body_counts_nothing() {
    let cov = counts_nothing("post-clienthello.pcap");
    assert!(cov["streams_not_tls"].as_u64().unwrap() >= 1);
}

#[test]
fn refused_upgrades_count_nothing() {
    // 454 to STARTTLS (the client sends its hello anyway), 407 to CONNECT, SOCKS4a rejected.
    for name in [
        "smtp-starttls-refused.pcap",
        "http-connect-407.pcap",
        "socks4a-rejected.pcap",
    ] {
        let cov = counts_nothing(name);
        assert_eq!(cov["upgrades_refused"], 1, "{name}");
    }
}

#[test]
fn upgrades_are_broken_down_in_totals_table_and_csv() {
    let all: Vec<PathBuf> = common::expectations(&dir().join("expected"), &dir())
        .into_iter()
        .map(|(_, c)| c)
        .collect();
    let refs: Vec<&std::path::Path> = all.iter().map(PathBuf::as_path).collect();
    let got = common::replay_json(&refs, &[]);
    let started = got["totals"]["started"].as_object().unwrap();
    for kind in [
        "starttls-smtp",
        "starttls-imap",
        "starttls-pop3",
        "auth-tls-ftp",
        "starttls-xmpp",
        "starttls-ldap",
        "postgres-ssl",
        "mysql-ssl",
        "starttls-nntp",
        "starttls-sieve",
        "http-connect",
        "socks4",
        "socks5",
    ] {
        assert!(
            started.get(kind).is_some_and(|n| n.as_u64() > Some(0)),
            "{kind}: {started:?}"
        );
        assert_eq!(
            got["coverage"]["upgrades"][kind], started[kind],
            "{kind}: every upgraded connection of these captures has a hello"
        );
    }
    assert!(started.get("direct").is_none());

    let paths: Vec<&str> = all.iter().map(|p| p.to_str().unwrap()).collect();
    let mut args = vec!["replay"];
    args.extend(&paths);
    args.extend(["--format", "table"]);
    let out = common::run(&args);
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("STARTED") && table.contains("starttls-smtp:1"),
        "{table}"
    );
    args.pop();
    args.push("csv");
    let out = common::run(&args);
    let csv = String::from_utf8(out.stdout).unwrap();
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .split(',')
            .any(|c| c == "started"),
        "{csv}"
    );
    assert!(csv.contains(",mysql-ssl=1"), "{csv}");
}
