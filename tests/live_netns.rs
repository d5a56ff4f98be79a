//! `hellowatch live` on a real interface: each test creates two network namespaces joined by a
//! veth pair, runs `hellowatch live` on the client's end, drives real traffic across the link
//! (OpenSSL handshakes; a tcpreplay burst) and stops hellowatch with SIGTERM.
//!
//! Needs root, `ip` (iproute2), `openssl`, `ss` and `tcpreplay`. Without them each test prints
//! why it skips and passes, unless `HELLOWATCH_REQUIRE_NETNS=1` (set by `.ci/run`) makes a
//! missing prerequisite a failure, so CI cannot skip silently.
#![cfg(feature = "live")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)]

mod common;

use common::netns::{Net, SERVER, run_ok, signal, skip_reason, start_live, stop_live};
use common::packets::{ACK, PSH, PcapWriter, tcp};

use nix::sys::signal::Signal;
use nix::unistd::User;
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LEGACY_PORT: &str = "4433";
const STRICT_PORT: &str = "4434";

fn start_server(net: &mut Net, port: &str, opts: &[&str]) {
    let (cert, key) = (net.path("cert.pem"), net.path("key.pem"));
    let child = net
        .exec(&net.ns_s, "openssl")
        .args(["s_server", "-accept", port, "-cert"])
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .args(opts)
        .arg("-WWW")
        .current_dir(&net.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    net.children.push(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let filter = format!("sport = :{port}");
        let out = run_ok(net.exec(&net.ns_s, "ss").args(["-Hltn", &filter]));
        if !out.trim().is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("openssl s_server on port {port} did not start");
}

/// One `openssl s_client` handshake from `src`; asserts the outcome OpenSSL reports (`expect`
/// is `Protocol version: …` or the alert text) so a broken setup fails here, not in the census.
fn handshake(net: &Net, src: &str, port: &str, expect: &str, opts: &[&str]) {
    let connect = format!("{SERVER}:{port}");
    let out = net
        .exec(&net.ns_c, "openssl")
        .args(["s_client", "-brief", "-connect", &connect, "-bind", src])
        .args(opts)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(expect),
        "s_client from {src} to port {port}: wanted '{expect}', got: {text}"
    );
}

#[test]
fn live_census_of_real_handshakes_across_a_veth_pair() {
    if skip_reason(&["ip", "openssl", "ss"]).is_some() {
        return;
    }
    let mut net = Net::new("a");
    run_ok(
        Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj"])
            .args(["/CN=hellowatch-test", "-days", "2", "-keyout"])
            .arg(net.path("key.pem"))
            .arg("-out")
            .arg(net.path("cert.pem"))
            .stderr(Stdio::null()),
    );
    // TLS 1.0 .. 1.3 (SECLEVEL=0 is needed for TLS < 1.2 with OpenSSL 3); TLS 1.2 only.
    start_server(
        &mut net,
        LEGACY_PORT,
        &["-cipher", "DEFAULT:@SECLEVEL=0", "-min_protocol", "TLSv1"],
    );
    start_server(&mut net, STRICT_PORT, &["-tls1_2"]);
    // Also: capture keeps working after root is dropped right after the open, and the event
    // log (opened before the drop) gets one line per connection.
    let events = net.path("events.jsonl");
    // The report file is rewritten atomically (a temporary file beside it) by the user
    // hellowatch runs as after the drop: the directory is theirs, as a StateDirectory= is.
    let nobody = User::from_name("nobody").unwrap().unwrap().uid;
    std::os::unix::fs::chown(&net.dir, Some(nobody.as_raw()), None).unwrap();
    let live = start_live(
        &mut net,
        &[
            "-f",
            "tcp",
            "--workers",
            "2",
            "--user",
            "nobody",
            "--events",
            events.to_str().unwrap(),
            "--policy",
            "min=tls1.2",
        ],
    );
    let status = std::fs::read_to_string(format!("/proc/{}/status", live.pid)).unwrap();
    let uids = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    let nobody = nobody.to_string();
    assert!(
        uids.split_whitespace().skip(1).all(|u| u == nobody),
        "hellowatch still runs as {uids}"
    );
    let legacy = ["-tls1", "-cipher", "DEFAULT:@SECLEVEL=0"];
    handshake(
        &net,
        "10.199.1.10",
        LEGACY_PORT,
        "Protocol version: TLSv1\n",
        &legacy,
    );
    handshake(
        &net,
        "10.199.1.11",
        LEGACY_PORT,
        "Protocol version: TLSv1.2",
        &["-tls1_2"],
    );
    handshake(
        &net,
        "10.199.1.12",
        LEGACY_PORT,
        "Protocol version: TLSv1.3",
        &["-tls1_3"],
    );
    handshake(
        &net,
        "10.199.1.13",
        STRICT_PORT,
        "alert protocol version",
        &legacy,
    );
    // Let the connections finish closing, so the last packet is read before the stop.
    std::thread::sleep(Duration::from_millis(300));
    let (status, report, stderr) = stop_live(&mut net, live);
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
    let expected = json!({
        "10.199.1.10": {"hellos": 1, "offered_max": {"tls1.0": 1}, "offered_versions": {"tls1.0": 1},
                        "negotiated": {"tls1.0": 1}},
        "10.199.1.11": {"hellos": 1, "offered_max": {"tls1.2": 1}, "offered_versions": {"tls1.2": 1},
                        "negotiated": {"tls1.2": 1}},
        "10.199.1.12": {"hellos": 1, "offered_max": {"tls1.3": 1}, "offered_versions": {"tls1.3": 1},
                        "negotiated": {"tls1.3": 1}},
        "10.199.1.13": {"hellos": 1, "offered_max": {"tls1.0": 1}, "offered_versions": {"tls1.0": 1},
                        "alerts": {"protocol_version": 1}, "failed_handshakes": 1},
    });
    let diff = common::diff(&expected, &report["clients"]);
    assert!(diff.is_empty(), "census differs:\n{}", diff.join("\n"));
    assert_eq!(report["totals"]["connections"], 4);
    assert_eq!(report["totals"]["legacy_clients"], 2);
    let cap = &report["input"]["capture"];
    assert_eq!(cap["interface"], net.if_c.as_str());
    assert_eq!(cap["link_type"], "EN10MB");
    assert_eq!(cap["dropped"], 0);
    assert_eq!(report["coverage"]["queue_drops"], 0);
    // Every packet the filter passed was read and decoded as TCP.
    assert!(report["input"]["packets"].as_u64().unwrap() > 20);
    assert_eq!(report["input"]["packets"], cap["received"]);
    assert_eq!(
        report["coverage"]["tcp_segments"],
        report["input"]["packets"]
    );
    assert!(!stderr.contains("warning"), "{stderr}");
    assert_eq!(
        report["totals"]["policy"]["min=tls1.2"]["clients_would_fail"],
        2
    );
    let lines: Vec<Value> = std::fs::read_to_string(&events)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    for (ip, outcome, verdict) in [
        ("10.199.1.10", "established", "would_fail"),
        ("10.199.1.11", "established", "pass"),
        ("10.199.1.12", "established", "pass"),
        ("10.199.1.13", "alert_before_server_hello", "would_fail"),
    ] {
        let e = lines
            .iter()
            .find(|e| e["source"]["ip"] == ip)
            .unwrap_or_else(|| panic!("no event of {ip}"));
        assert_eq!(e["hellowatch"]["outcome"], outcome, "{ip}");
        assert_eq!(e["hellowatch"]["policy"]["min=tls1.2"], verdict, "{ip}");
        assert!(e["tls"]["client"]["ja4"].as_str().is_some(), "{ip}");
    }
}

/// A pcap of `n` TCP segments, each its own connection (so no offload can merge them), from
/// the server's address to the client's.
fn burst_pcap(path: &Path, n: u32) {
    let mut p = PcapWriter::create(path);
    for i in 0..n {
        let f = tcp(
            ([10, 199, 1, 1], 10_000 + (i % 50_000) as u16),
            ([10, 199, 1, 2], 443),
            i,
            ACK | PSH,
            &[b'x'; 100],
        );
        p.frame(1_000_000 + u64::from(i), &f);
    }
    p.finish();
}

#[test]
fn live_drops_are_counted_and_reported_not_silent() {
    if skip_reason(&["ip", "tcpreplay"]).is_some() {
        return;
    }
    const N: u64 = 5000;
    let mut net = Net::new("d");
    let burst = net.path("burst.pcap");
    burst_pcap(&burst, N as u32);
    // A kernel buffer of a few slots, and hellowatch frozen (SIGSTOP) while the burst is sent:
    // the kernel must drop all but a handful, deterministically.
    let live = start_live(
        &mut net,
        &[
            "-f",
            "tcp",
            "--workers",
            "1",
            "--buffer-size",
            "4096",
            "--snaplen",
            "256",
        ],
    );
    signal(live.pid, Signal::SIGSTOP);
    let sent = net
        .exec(&net.ns_s, "tcpreplay")
        .args(["-q", "--topspeed", "-i", &net.if_s])
        .arg(&burst)
        .output()
        .unwrap();
    signal(live.pid, Signal::SIGCONT);
    assert!(
        sent.status.success(),
        "tcpreplay: {}",
        String::from_utf8_lossy(&sent.stderr)
    );
    std::thread::sleep(Duration::from_millis(200));
    let (status, report, stderr) = stop_live(&mut net, live);
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
    let cap = &report["input"]["capture"];
    let received = cap["received"].as_u64().unwrap();
    let dropped = cap["dropped"].as_u64().unwrap();
    let read = report["input"]["packets"].as_u64().unwrap();
    assert_eq!(received, N, "every packet of the burst passed the filter");
    assert!(
        dropped > 0,
        "a full kernel buffer must show as drops: {cap}"
    );
    // Exact accounting: what was read plus what was dropped is what arrived.
    assert_eq!(read + dropped, received, "{cap}");
    let warnings = report["input"]["warnings"].to_string();
    assert!(warnings.contains("not analysed"), "{warnings}");
    assert!(
        stderr.contains("packets were not analysed")
            && stderr.contains(&format!("kernel buffer full: {dropped}")),
        "{stderr}"
    );
}
