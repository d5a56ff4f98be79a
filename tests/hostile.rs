//! Hostile traffic through the real binary: generated captures of length fields that lie,
//! endless 1-byte segments, overlapping retransmissions with different bytes, thousands of
//! 1-byte records, non-TLS protocols on 443, records that never complete, and more buffered
//! bytes than the budget. Every case ends in a counter and the right census, never a panic, a
//! hang or unbounded memory.
// Test code: a broken expectation should panic, with the values at hand.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)]

mod common;

use common::packets::{ACK, Conn, PcapWriter, SYN, client_hello, record, server_hello, tcp};
use common::rng::Rng;
use common::tmp;
use serde_json::Value;
use std::net::Ipv4Addr;

const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

fn ip(a: u8, b: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, a, 0, b)
}

fn cov(v: &Value, key: &str) -> u64 {
    v["coverage"][key]
        .as_u64()
        .unwrap_or_else(|| panic!("coverage.{key} missing"))
}

fn anomaly(v: &Value, name: &str) -> u64 {
    v["coverage"]["anomalies"][name].as_u64().unwrap()
}

fn clients(v: &Value) -> Vec<String> {
    v["clients"].as_object().unwrap().keys().cloned().collect()
}

/// Writes frames (one every millisecond from t = 1000 s) and replays them.
fn replay(name: &str, frames: &[Vec<u8>], extra: &[&str]) -> Value {
    let path = tmp(name);
    let mut p = PcapWriter::create(&path);
    for (i, f) in frames.iter().enumerate() {
        p.frame(1_000_000_000 + i as u64 * 1000, f);
    }
    p.finish();
    let v = common::replay_json(&[&path], extra);
    std::fs::remove_file(&path).unwrap();
    v
}

/// SYN, SYN-ACK.
fn open(c: &mut Conn) -> Vec<Vec<u8>> {
    vec![c.syn(), c.syn_ack()]
}

#[test]
fn hello_length_fields_claiming_16_mb_or_looping_end_in_counters() {
    let mut f = Vec::new();
    // A: a ClientHello header claiming 16 MB.
    let mut a = Conn::new(ip(1, 1), 40001, SERVER);
    f.extend(open(&mut a));
    f.push(a.client(&record(22, &[1, 0xff, 0xff, 0xff, 3, 3, 0, 0])));
    f.extend(a.fins());
    // B: a record header claiming 65535 bytes (over the 18,432-byte record limit).
    let mut b = Conn::new(ip(1, 2), 40002, SERVER);
    f.extend(open(&mut b));
    f.push(b.client(&[&[22, 3, 1, 0xff, 0xff][..], &[0; 100]].concat()));
    f.extend(b.fins());
    // C: a complete ClientHello whose extension block length claims 65535 bytes: counted,
    // with an anomaly; the extensions that do frame inside the message are still read.
    let mut c = Conn::new(ip(1, 3), 40003, SERVER);
    f.extend(open(&mut c));
    let mut ch = client_hello(0x0303, &[0x0304]);
    let ext_len_at = 4 + 2 + 32 + 1 + 2 + 4 + 2;
    ch[ext_len_at..ext_len_at + 2].copy_from_slice(&[0xff, 0xff]);
    f.push(c.client(&record(22, &ch)));
    f.extend(c.fins());
    // D: 5,000 empty handshake records (a loop that only advances by headers), then a hello.
    let mut d = Conn::new(ip(1, 4), 40004, SERVER);
    f.extend(open(&mut d));
    let empties: Vec<u8> = (0..5000).flat_map(|_| record(22, &[])).collect();
    for chunk in empties.chunks(1400) {
        f.push(d.client(chunk));
    }
    f.push(d.client(&record(22, &client_hello(0x0303, &[0x0304, 0x0303]))));
    f.push(d.server(&record(22, &server_hello(0x0304))));
    f.extend(d.fins());
    // E: an SSLv2 record header claiming 32,767 bytes, then a trickle, then the close.
    let mut e = Conn::new(ip(1, 5), 40005, SERVER);
    f.extend(open(&mut e));
    f.push(e.client(&[&[0xff, 0xff, 1, 3, 1][..], &[0; 95]].concat()));
    f.extend(e.fins());
    // F: a hello split over records, claiming 65,535 bytes: buffered up to the stream cap.
    let mut g = Conn::new(ip(1, 6), 40006, SERVER);
    f.extend(open(&mut g));
    let mut first = vec![1, 0x00, 0xff, 0xff];
    first.extend_from_slice(&[0x03; 16380]);
    f.push(g.client(&record(22, &first)));
    for _ in 0..4 {
        f.push(g.client(&record(22, &[0x03; 16384])));
    }
    f.extend(g.fins());

    let v = replay("lengths.pcap", &f, &[]);
    assert_eq!(clients(&v), ["10.1.0.3", "10.1.0.4"]);
    assert_eq!(v["clients"]["10.1.0.3"]["offered_max"]["tls1.3"], 1);
    assert_eq!(v["clients"]["10.1.0.4"]["negotiated"]["tls1.3"], 1);
    assert_eq!(v["totals"]["hellos"], 2);
    assert_eq!(anomaly(&v, "handshake_too_large"), 1);
    assert_eq!(anomaly(&v, "record_too_large"), 1);
    assert!(anomaly(&v, "extensions_malformed") >= 1);
    assert_eq!(
        cov(&v, "streams_unfinished"),
        1,
        "the SSLv2 record never completed"
    );
    assert_eq!(
        cov(&v, "stream_cap_hits"),
        1,
        "the 64 KiB hello reached the stream cap"
    );
}

#[test]
fn endless_one_byte_segments_stop_at_the_stream_cap() {
    // A handshake record stream whose Certificate message claims 16 MB, dribbled one byte per
    // segment: 200,000 segments, so the stream reaches its 64 KiB cap and stops; every later
    // segment costs one lookup.
    let mut stream = record(22, &[&[11, 0xff, 0xff, 0xff][..], &[0; 16380]].concat());
    while stream.len() < 200_000 {
        stream.extend(record(22, &[0; 16384]));
    }
    let mut f = Vec::new();
    let mut a = Conn::new(ip(2, 1), 41000, SERVER);
    f.extend(open(&mut a));
    f.push(a.client(&record(22, &client_hello(0x0301, &[]))));
    for b in &stream[..200_000] {
        f.push(a.server(std::slice::from_ref(b)));
    }
    // A normal connection afterwards is counted as usual.
    let mut b = Conn::new(ip(2, 2), 41001, SERVER);
    f.extend(open(&mut b));
    f.push(b.client(&record(22, &client_hello(0x0303, &[0x0304]))));
    f.push(b.server(&record(22, &server_hello(0x0304))));
    f.extend(b.fins());

    let v = replay("one-byte-segments.pcap", &f, &[]);
    assert_eq!(cov(&v, "stream_cap_hits"), 1);
    // Every segment was read, and none of the 200,000 was buffered past the cap.
    assert_eq!(v["input"]["packets"], f.len());
    assert!(cov(&v, "tcp_segments") >= 200_000);
    assert_eq!(v["clients"]["10.2.0.1"]["offered_max"]["tls1.0"], 1);
    assert_eq!(v["clients"]["10.2.0.1"]["failed_handshakes"], 1);
    assert_eq!(v["clients"]["10.2.0.2"]["negotiated"]["tls1.3"], 1);
}

#[test]
fn overlapping_retransmissions_with_different_bytes_keep_the_first_copy() {
    let ch13 = record(22, &client_hello(0x0303, &[0x0304, 0x0303]));
    // The same hello, same length, offering TLS 1.0 and 1.1 instead.
    let ch10 = record(22, &client_hello(0x0303, &[0x0301, 0x0302]));
    assert_eq!(ch13.len(), ch10.len());
    let mut f = Vec::new();
    // A: the hello, the server's answer, then a retransmission with other bytes.
    let mut a = Conn::new(ip(3, 1), 42000, SERVER);
    f.extend(open(&mut a));
    let seq = a.cseq;
    f.push(a.client(&ch13));
    f.push(a.server(&record(22, &server_hello(0x0304))));
    f.push(a.client_at(seq, &ch10));
    f.extend(a.fins());
    // B: the hello's second half arrives first and waits; then a whole copy whose second half
    // differs: the waiting (first) bytes win.
    let mut b = Conn::new(ip(3, 2), 42001, SERVER);
    f.extend(open(&mut b));
    let seq = b.cseq;
    let mid = ch13.len() - 6;
    f.push(b.client_at(seq.wrapping_add(mid as u32), &ch13[mid..]));
    f.push(b.client_at(seq, &ch10));
    b.cseq = seq.wrapping_add(ch13.len() as u32);
    f.push(b.server(&record(22, &server_hello(0x0304))));
    f.extend(b.fins());

    let v = replay("overlaps.pcap", &f, &[]);
    assert_eq!(cov(&v, "overlap_conflicts"), 2);
    for c in ["10.3.0.1", "10.3.0.2"] {
        assert_eq!(v["clients"][c]["hellos"], 1, "{c}");
        assert_eq!(
            v["clients"][c]["offered_max"]["tls1.3"], 1,
            "{c}: first copy wins"
        );
        assert!(v["clients"][c]["offered_versions"].get("tls1.0").is_none());
    }
}

#[test]
fn thousands_of_one_byte_records() {
    let mut f = Vec::new();
    // A: a ClientHello in 1-byte records: one hello.
    let mut a = Conn::new(ip(4, 1), 43000, SERVER);
    f.extend(open(&mut a));
    let ch: Vec<u8> = client_hello(0x0303, &[])
        .iter()
        .flat_map(|b| record(22, &[*b]))
        .collect();
    for chunk in ch.chunks(1000) {
        f.push(a.client(chunk));
    }
    f.push(a.server(&record(22, &server_hello(0x0303))));
    f.extend(a.fins());
    // B: 3,000 one-byte alert records from the server: not plaintext alerts (a plaintext alert
    // is 2 bytes), so the direction is taken as encrypted; no alert is counted.
    let mut b = Conn::new(ip(4, 2), 43001, SERVER);
    f.extend(open(&mut b));
    f.push(b.client(&record(22, &client_hello(0x0301, &[]))));
    let alerts: Vec<u8> = (0..3000).flat_map(|_| record(21, &[2])).collect();
    for chunk in alerts.chunks(1400) {
        f.push(b.server(chunk));
    }
    f.extend(b.fins());
    // C: after its hello, 20,000 one-byte handshake records (120 kB): the stream cap ends it.
    let mut c = Conn::new(ip(4, 3), 43002, SERVER);
    f.extend(open(&mut c));
    f.push(c.client(&record(22, &client_hello(0x0302, &[]))));
    let junk: Vec<u8> = (0..20_000).flat_map(|_| record(22, &[0x0b])).collect();
    for chunk in junk.chunks(1400) {
        f.push(c.client(chunk));
    }
    f.extend(c.fins());

    let v = replay("one-byte-records.pcap", &f, &[]);
    assert_eq!(v["clients"]["10.4.0.1"]["hellos"], 1);
    assert_eq!(v["clients"]["10.4.0.1"]["negotiated"]["tls1.2"], 1);
    assert_eq!(v["clients"]["10.4.0.2"]["hellos"], 1);
    assert_eq!(v["clients"]["10.4.0.2"]["failed_handshakes"], 1);
    assert_eq!(v["clients"]["10.4.0.3"]["offered_max"]["tls1.1"], 1);
    assert!(v["totals"]["alerts"].as_object().unwrap().is_empty());
    assert_eq!(anomaly(&v, "bad_alert"), 1);
    assert_eq!(cov(&v, "stream_cap_hits"), 1);
}

#[test]
fn non_tls_protocols_on_port_443_are_counted_not_tallied() {
    let mut f = Vec::new();
    let mut rng = Rng::new(1);
    let mut random = |n: usize| rng.bytes(n);
    let talks: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec(),
        ),
        (
            b"SSH-2.0-OpenSSH_9.6\r\n".to_vec(),
            b"SSH-2.0-OpenSSH_9.2\r\n".to_vec(),
        ),
        (b"EHLO x\r\n".to_vec(), b"220 mail ESMTP\r\n".to_vec()),
        (
            [&[0x16, 0x00, 0x00][..], &random(200)].concat(),
            random(300),
        ),
        (
            [&[0x16, 0x03, 0x09, 0x00, 0x10][..], &random(16)].concat(),
            random(64),
        ),
        (random(1400), random(1400)),
    ];
    for (i, (c2s, s2c)) in talks.iter().enumerate() {
        let mut c = Conn::new(ip(5, i as u8 + 1), 44000 + i as u16, SERVER);
        f.extend(open(&mut c));
        f.push(c.client(c2s));
        f.push(c.server(s2c));
        f.extend(c.fins());
    }
    let v = replay("not-tls.pcap", &f, &[]);
    assert!(clients(&v).is_empty(), "{}", v["clients"]);
    assert_eq!(v["totals"]["hellos"], 0);
    // The random bytes of the last talk may start with a high bit (an SSLv2 record header):
    // at least every other direction is recognised as not TLS.
    assert!(cov(&v, "streams_not_tls") >= 10, "{}", v["coverage"]);
}

#[test]
fn a_record_that_announces_tls_and_never_completes() {
    let ch = record(22, &client_hello(0x0303, &[0x0304]));
    let half = &ch[..ch.len() / 2];
    let mut f = Vec::new();
    // A: half a hello, then both sides close.
    let mut a = Conn::new(ip(6, 1), 45000, SERVER);
    f.extend(open(&mut a));
    f.push(a.client(half));
    f.extend(a.fins());
    // B: half a hello, then silence while other traffic runs past the idle timeout.
    let mut b = Conn::new(ip(6, 2), 45001, SERVER);
    f.extend(open(&mut b));
    f.push(b.client(half));
    // C: half a hello, then the end of the capture.
    let mut c = Conn::new(ip(6, 3), 45002, SERVER);
    f.extend(open(&mut c));
    f.push(c.client(half));

    let path = tmp("never-completes.pcap");
    let mut p = PcapWriter::create(&path);
    for (i, fr) in f.iter().enumerate() {
        p.frame(1_000_000_000 + i as u64 * 1000, fr);
    }
    // 400 s later (idle timeout 300 s): keep-alives of an unrelated connection.
    let mut d = Conn::new(ip(6, 4), 45003, SERVER);
    p.frame(1_400_000_000, &d.syn());
    p.frame(1_400_000_100, &tcp(d.client, d.server, d.cseq, ACK, &[]));
    p.finish();

    let v = common::replay_json(&[&path], &["--idle-timeout", "300"]);
    assert!(clients(&v).is_empty(), "an incomplete hello is not a hello");
    assert_eq!(v["totals"]["hellos"], 0);
    assert_eq!(cov(&v, "streams_unfinished"), 3);
    assert!(cov(&v, "flows_expired") >= 2, "{}", v["coverage"]);
}

#[test]
fn buffered_bytes_over_the_budget_are_counted() {
    // 200 connections each holding the first 8 kB of a 16 kB record, under a 256 KiB budget:
    // about 30 fit; the others are given up and counted. A complete handshake still counts.
    let mut f = Vec::new();
    let partial = [&[22, 3, 1, 0x40, 0x00][..], &[1; 8000]].concat();
    for i in 0..200u16 {
        let mut c = Conn::new(
            Ipv4Addr::new(10, 7, (i >> 8) as u8, i as u8),
            46000 + i,
            SERVER,
        );
        f.extend(open(&mut c));
        f.push(c.client(&partial));
    }
    let mut ok = Conn::new(ip(8, 1), 47000, SERVER);
    f.extend(open(&mut ok));
    f.push(ok.client(&record(22, &client_hello(0x0303, &[0x0304]))));
    f.push(ok.server(&record(22, &server_hello(0x0304))));
    f.extend(ok.fins());

    let v = replay("budget.pcap", &f, &["--max-buffered", "262144"]);
    let hits = cov(&v, "buffered_cap_hits");
    assert!(
        (150..=180).contains(&hits),
        "{hits} directions over the budget"
    );
    assert_eq!(cov(&v, "streams_unfinished") + hits, 200);
    assert_eq!(clients(&v), ["10.8.0.1"]);
    assert_eq!(v["clients"]["10.8.0.1"]["negotiated"]["tls1.3"], 1);
}

#[test]
fn handshake_bytes_are_never_mistaken_for_a_new_hello_after_a_conflict() {
    // A client that sends a hello, then "retransmits" a different, longer hello at the same
    // sequence number: the tail beyond the first copy is new data and is parsed as what it is
    // (the continuation of the stream), never as a second ClientHello.
    let short = record(22, &client_hello(0x0303, &[]));
    let long = record(22, &client_hello(0x0303, &[0x0304, 0x0303, 0x0302]));
    let mut a = Conn::new(ip(9, 1), 48000, SERVER);
    let mut f = open(&mut a);
    let seq = a.cseq;
    f.push(a.client(&short));
    f.push(a.client_at(seq, &long));
    f.extend(a.fins());
    let v = replay("conflict-tail.pcap", &f, &[]);
    assert_eq!(v["clients"]["10.9.0.1"]["hellos"], 1);
    assert_eq!(v["clients"]["10.9.0.1"]["offered_max"]["tls1.2"], 1);
    assert_eq!(cov(&v, "overlap_conflicts"), 1);
}

#[test]
fn a_burst_of_flows_then_a_second_per_packet_expires_the_burst() {
    // 300,000 connections in one instant, then 30,000 packets one second apart: every packet
    // triggers an idle sweep, and the burst expires after the idle timeout. That the sweeps
    // then cost what is live (the slab is compacted once it is sparse) is asserted on the
    // table itself: `flow::tests::sparse_slab_is_compacted_and_ids_follow`. Here, every
    // connection is accounted for.
    let path = tmp("sweeps.pcap");
    let mut p = PcapWriter::create(&path);
    let server = (SERVER, 443);
    let mut syn = tcp((Ipv4Addr::new(172, 16, 0, 0), 1024), server, 7, SYN, &[]);
    for i in 0..300_000u32 {
        syn[26..30]
            .copy_from_slice(&(u32::from(Ipv4Addr::new(172, 16, 0, 0)) + i / 16384).to_be_bytes());
        syn[34..36].copy_from_slice(&(1024 + (i % 16384) as u16).to_be_bytes());
        p.frame(1_000_000_000, &syn);
    }
    for j in 0..30_000u64 {
        let f = tcp((ip(10, 1), 2000 + (j % 30_000) as u16), server, 7, SYN, &[]);
        p.frame(1_000_000_000 + (1 + j) * 1_000_000, &f);
    }
    p.finish();
    let v = common::replay_json(&[&path], &[]);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(v["input"]["packets"], 330_000);
    assert_eq!(cov(&v, "flows_created"), 330_000, "{}", v["coverage"]);
    assert_eq!(cov(&v, "flows_evicted"), 0, "{}", v["coverage"]);
    // The burst and the first 29,700 one-a-second connections outlive the 300 s timeout.
    assert!(cov(&v, "flows_expired") >= 300_000, "{}", v["coverage"]);
}

#[test]
fn a_client_cycling_through_version_numbers_keeps_a_bounded_entry() {
    // 300 hellos from one client, each offering 16 versions never seen before: the client's
    // entry keeps 64 versions per map (the rest is counted), the totals keep everything.
    let mut f = Vec::new();
    for k in 0..300u16 {
        let mut c = Conn::new(ip(10, 1), 30000 + k, SERVER);
        f.extend(open(&mut c));
        let versions: Vec<u16> = (0..16).map(|j| 0x1000 + k * 16 + j).collect();
        f.push(c.client(&record(22, &client_hello(0x0303, &versions))));
        f.extend(c.fins());
    }
    let v = replay("version-cycling.pcap", &f, &[]);
    let t = &v["clients"]["10.10.0.1"];
    assert_eq!(t["hellos"], 300);
    assert_eq!(t["offered_versions"].as_object().unwrap().len(), 64);
    assert_eq!(t["offered_max"].as_object().unwrap().len(), 64);
    // 0x1a1a, in the range, is GREASE and never counted.
    assert_eq!(cov(&v, "versions_dropped"), (4799 - 64) + (300 - 64));
    assert_eq!(
        v["totals"]["offered_versions"].as_object().unwrap().len(),
        4799
    );
}
