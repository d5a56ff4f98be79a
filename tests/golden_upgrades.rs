//! Golden replays of this project's protocol-upgrade captures (`captures/upgrades/`, made by
//! `captures/upgrades/make-upgrade-captures.sh` with real servers and clients on loopback):
//! TLS after SMTP/IMAP/POP3/FTP/XMPP/LDAP/NNTP/ManageSieve STARTTLS, PostgreSQL and MySQL SSL
//! requests, HTTP CONNECT and SOCKS4/5 must be counted exactly as
//! `captures/upgrades/expected/<stem>.json` says (tshark's tallies), with how TLS began; and
//! the connections that never upgrade (a refused STARTTLS, a refused CONNECT, a rejected
//! SOCKS request, a ClientHello sent as an HTTP POST body) must count nothing. Likewise the
//! wrappers recognised by content: RDP's X.224 negotiation, IRC STARTTLS, a PROXY protocol
//! header, SQL Server's TDS PRELOGIN (TLS inside its packets), TLS after NoMachine and Gnutella
//! plaintext, and an HTTP CONNECT whose answer was cut from the capture.
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
        "starttls-irc",
        "rdp",
        "proxy-protocol",
        "tds",
        "after-plaintext",
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

#[test]
fn irc_starttls_is_not_read_as_a_refused_smtp_starttls() {
    let got = common::replay_json(&[&capture("irc-starttls.pcap")], &[]);
    assert_eq!(got["coverage"]["upgrades_refused"], 0);
    assert_eq!(got["coverage"]["upgrades"]["starttls-irc"], 1);
    assert_eq!(got["coverage"]["upgrades"]["starttls-smtp"], 0);
}

#[test]
fn an_upgrade_whose_answer_was_not_captured_counts_and_is_counted() {
    let cut = common::replay_json(&[&capture("http-connect-reply-missing.pcap")], &[]);
    assert_eq!(cut["coverage"]["upgrade_reply_missing"], 1);
    assert_eq!(cut["coverage"]["upgrades"]["http-connect"], 1);
    let full = common::replay_json(&[&capture("http-connect-full.pcap")], &[]);
    assert_eq!(full["coverage"]["upgrade_reply_missing"], 0);
    assert_eq!(full["clients"], cut["clients"]);
}

#[test]
fn proxy_protocol_sources_are_reported_beside_the_ip_senders() {
    let got = common::replay_json(&[&capture("proxy-protocol.pcap")], &[]);
    // v1 line from haproxy's 127.0.0.62 naming 127.0.0.61, v2 header from 127.0.0.63 naming
    // 127.0.0.64: the hellos count under the IP senders.
    assert_eq!(
        got["clients"]["127.0.0.62"]["proxied_for"],
        serde_json::json!({"127.0.0.61": 1})
    );
    assert_eq!(
        got["clients"]["127.0.0.63"]["proxied_for"],
        serde_json::json!({"127.0.0.64": 1})
    );
    let events = common::replay_events(&[&capture("proxy-protocol.pcap")], &[]);
    let hellos: Vec<Value> = events
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["source"]["ip"] == "127.0.0.62")
        .collect();
    assert_eq!(hellos.len(), 1, "{events:?}");
    assert_eq!(hellos[0]["client"]["ip"], "127.0.0.61");
    assert_eq!(hellos[0]["source"]["nat"]["ip"], "127.0.0.62");
    // Without a PROXY header, no such fields.
    let plain = common::replay_events(&[&capture("http-connect-full.pcap")], &[]);
    let e: Value = serde_json::from_str(&plain[0]).unwrap();
    assert!(
        e.get("client").is_none() && e["source"].get("nat").is_none(),
        "{e}"
    );
}

#[test]
fn tls_inside_tds_prelogin_packets_is_unwrapped() {
    let got = common::replay_json(&[&capture("tds-prelogin.pcap")], &[]);
    assert_eq!(got["coverage"]["upgrades"]["tds"], 1);
    assert_eq!(got["coverage"]["streams_not_tls"], 0);
    assert_eq!(got["coverage"]["streams_unfinished"], 0);
    assert_eq!(got["clients"]["127.0.0.1"]["negotiated"]["tls1.2"], 1);
}
