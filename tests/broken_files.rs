//! Broken capture files: each gives one clear stderr line, the census of whatever was read,
//! and the documented exit status (README "Exit status", docs/report.md "Damaged input"): 0 with a warning when a capture is
//! damaged part-way (everything before the damage counts), 2 when a file is not a capture at
//! all or cannot be read. (Missing files, directories, empty files and a bad file among good
//! ones are in `tests/cli.rs`.)
// Test code: a broken expectation should panic, with the values at hand.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)]

mod common;

use common::packets::{
    Conn, PcapWriter, client_hello, pcapng_block, pcapng_from, record, record_offsets, server_hello,
};
use common::rng::Rng;
use common::tmp;
use serde_json::Value;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A good capture: two complete TLS 1.2 handshakes (clients 10.0.0.1 and 10.0.0.2), one
/// packet per record. Returns its bytes and the byte offset where each packet record starts.
fn good_capture() -> (Vec<u8>, Vec<usize>) {
    let mut p = PcapWriter::in_memory();
    let mut ts = 1_000_000_000;
    for i in 1..=2u8 {
        let mut c = Conn::new(
            Ipv4Addr::new(10, 0, 0, i),
            40000,
            Ipv4Addr::new(192, 0, 2, 1),
        );
        let mut frames = vec![c.syn(), c.syn_ack()];
        frames.push(c.client(&record(22, &client_hello(0x0303, &[]))));
        frames.push(c.server(&record(22, &server_hello(0x0303))));
        frames.extend(c.fins());
        for f in frames {
            p.frame(ts, &f);
            ts += 1000;
        }
    }
    let bytes = p.finish();
    let offsets = record_offsets(&bytes);
    (bytes, offsets)
}

fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let p = tmp(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn replay(path: &Path) -> Output {
    common::run(&["replay", path.to_str().unwrap(), "--format", "json"])
}

/// Exit 0, exactly one stderr line (a warning containing `warning`), the census in stdout.
fn damaged(path: &Path, warning: &str) -> Value {
    let out = replay(path);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{}: {err}", path.display());
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("hellowatch: warning: "), "{err}");
    assert!(err.contains(warning), "{err}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["input"]["warnings"].as_array().unwrap().len(), 1);
    v
}

/// Exit 2, exactly one stderr line containing `why`, nothing on stdout.
fn refused(out: &Output, why: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with("hellowatch: ") && err.contains(why),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

fn hellos(v: &Value) -> u64 {
    v["totals"]["hellos"].as_u64().unwrap()
}

#[test]
fn good_capture_is_the_baseline() {
    let (bytes, offsets) = good_capture();
    let out = replay(&write("baseline.pcap", &bytes));
    assert!(out.status.success() && out.stderr.is_empty());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(hellos(&v), 2);
    assert_eq!(
        v["input"]["packets"].as_u64().unwrap() as usize,
        offsets.len()
    );
}

#[test]
fn random_bytes_are_not_a_capture() {
    let junk = Rng::new(2).bytes(4096);
    refused(
        &replay(&write("random.bin", &junk)),
        "not a pcap or pcapng file",
    );
    refused(
        &replay(&write("three.bin", b"\xd4\xc3\xb2")),
        "too short to be a capture",
    );
}

#[test]
fn character_device_that_is_not_a_capture_is_refused_at_once() {
    // Not mappable: read through a bounded reader that checks the magic number first, so an
    // endless device is refused instead of read into memory.
    refused(&replay(Path::new("/dev/zero")), "unknown magic number");
}

#[test]
fn capture_on_a_pipe_is_read() {
    let (bytes, _) = good_capture();
    let mut child = Command::new(common::bin())
        .args(["replay", "/dev/stdin", "--format", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&bytes));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    common::assert_ok(&out);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(hellos(&v), 2);
}

#[test]
fn pcap_header_only_is_an_empty_census() {
    let (bytes, _) = good_capture();
    let out = replay(&write("header-only.pcap", &bytes[..24]));
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["input"]["packets"], 0);
    assert!(v["clients"].as_object().unwrap().is_empty());
}

#[test]
fn record_header_claiming_2_gb_keeps_what_was_read() {
    let (mut bytes, offsets) = good_capture();
    // The second connection's first packet claims 2 GB.
    let at = offsets[6];
    bytes[at + 8..at + 12].copy_from_slice(&0x8000_0000u32.to_le_bytes());
    let v = damaged(
        &write("2gb.pcap", &bytes),
        &format!("corrupt record header at byte {at} (captured length 2147483648)"),
    );
    assert_eq!(v["input"]["packets"], 6);
    assert_eq!(hellos(&v), 1);
    assert_eq!(v["clients"]["10.0.0.1"]["negotiated"]["tls1.2"], 1);
}

#[test]
fn truncated_mid_header_and_mid_packet() {
    let (bytes, offsets) = good_capture();
    // In the file header: a pcap magic number and nothing complete.
    let v = damaged(
        &write("cut-file-header.pcap", &bytes[..10]),
        "truncated file header",
    );
    assert_eq!(v["input"]["packets"], 0);
    // In a record header, then in a packet: the packets before count.
    let at = offsets[6];
    for (name, cut) in [
        ("cut-record-header.pcap", at + 9),
        ("cut-packet.pcap", at + 30),
    ] {
        let v = damaged(
            &write(name, &bytes[..cut]),
            &format!("truncated record at byte {at}"),
        );
        assert_eq!(v["input"]["packets"], 6, "{name}");
        assert_eq!(hellos(&v), 1, "{name}");
    }
}

/// The good capture as pcapng, with `extra(i)` inserted before packet `i`.
fn pcapng(extra: impl Fn(usize) -> Vec<u8>) -> (Vec<u8>, Vec<usize>) {
    pcapng_from(&good_capture().0, extra)
}

#[test]
fn pcapng_unknown_block_types_are_skipped_silently() {
    let (bytes, _) = pcapng(|i| pcapng_block(0x0bad_0000 + i as u32, &[0xee; 20]));
    let out = replay(&write("unknown-blocks.pcapng", &bytes));
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(hellos(&v), 2);
    assert_eq!(v["clients"]["10.0.0.2"]["negotiated"]["tls1.2"], 1);
}

#[test]
fn pcapng_bad_block_length_keeps_what_was_read() {
    for (name, len) in [("huge", 0x7fff_fff0u32), ("tiny", 8)] {
        let (mut bytes, starts) = pcapng(|_| Vec::new());
        let at = starts[6];
        bytes[at + 4..at + 8].copy_from_slice(&len.to_le_bytes());
        let v = damaged(
            &write(&format!("bad-length-{name}.pcapng"), &bytes),
            &format!("corrupt block length at byte {at}"),
        );
        assert_eq!(v["input"]["packets"], 6, "{name}");
        assert_eq!(hellos(&v), 1, "{name}");
    }
    // Cut in the middle of a block.
    let (bytes, starts) = pcapng(|_| Vec::new());
    let at = starts[6];
    let v = damaged(
        &write("cut.pcapng", &bytes[..at + 20]),
        &format!("truncated block at byte {at}"),
    );
    assert_eq!(v["input"]["packets"], 6);
}

#[test]
fn thousands_of_bad_blocks_give_a_bounded_warning_list() {
    // Packet blocks naming an interface that was never described: each is skipped with a
    // warning; the report keeps the first few and counts the rest.
    let bad = pcapng_block(6, &[&9u32.to_le_bytes()[..], &[0; 16]].concat());
    let (bytes, _) = pcapng(|i| if i == 0 { bad.repeat(5000) } else { Vec::new() });
    let out = replay(&write("bad-blocks.pcapng", &bytes));
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let w = v["input"]["warnings"].as_array().unwrap();
    assert_eq!(w.len(), 6, "{w:?}");
    assert!(w[5].as_str().unwrap().contains("4995 more"), "{w:?}");
    assert_eq!(hellos(&v), 2);
}

#[test]
fn file_without_read_permission_is_refused() {
    let (bytes, _) = good_capture();
    let path = write("no-permission.pcap", &bytes);
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    let root = std::fs::read(&path).is_ok();
    let out = if !root {
        replay(&path)
    } else {
        // Root reads anyway: run the replay as `nobody` (the binary and the file's directory
        // are world-searchable, the file itself is mode 000).
        let Ok(setpriv) = which("setpriv") else {
            eprintln!("skipped: running as root and setpriv (util-linux) is not installed");
            return;
        };
        let dir = path.parent().unwrap();
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        Command::new(setpriv)
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
            .arg(common::bin())
            .args(["replay", path.to_str().unwrap(), "--format", "json"])
            .output()
            .unwrap()
    };
    refused(&out, "Permission denied");
}

fn which(name: &str) -> Result<PathBuf, ()> {
    for dir in ["/usr/bin", "/bin", "/usr/sbin", "/sbin"] {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(())
}

#[test]
fn robustness_corpus_reads_without_a_crash() {
    // ../shared/conformance/robustness: captures kept as hostile input (garbage ServerHello
    // versions, a garbled out-of-order segment, TLS behind SOCKS). Each must read to the end
    // with a census (checked in tests/conformance.rs too; here, with one worker and with
    // several, and with tiny limits that force every bound).
    let files = common::corpus_files("robustness");
    let mut n = 0;
    for p in &files {
        for extra in [
            &[][..],
            &["--workers", "3"][..],
            &[
                "--max-flows",
                "2",
                "--stream-cap",
                "512",
                "--max-clients",
                "1",
                "--max-buffered",
                "1024",
            ][..],
        ] {
            let v = common::replay_json(&[p], extra);
            assert!(
                v["input"]["packets"].as_u64().unwrap() > 0,
                "{}",
                p.display()
            );
        }
        n += 1;
    }
    assert!(
        files.is_empty() || n >= 2,
        "robustness corpus has {n} files"
    );
}
