//! Byte-vector tests of the DTLS parser.

use super::*;
use crate::tls::hello::HRR_RANDOM;

/// A DTLS ClientHello body: version, random, session id, cookie, suites, null compression,
/// extensions `(type, data)`.
pub(crate) fn ch_body(version: u16, sid: &[u8], cookie: &[u8], exts: &[(u16, &[u8])]) -> Vec<u8> {
    let mut b = version.to_be_bytes().to_vec();
    b.extend_from_slice(&[0x42; 32]);
    b.push(sid.len() as u8);
    b.extend_from_slice(sid);
    b.push(cookie.len() as u8);
    b.extend_from_slice(cookie);
    b.extend_from_slice(&[0, 4, 0xc0, 0x2b, 0x00, 0x2f]);
    b.extend_from_slice(&[1, 0]);
    push_exts(&mut b, exts);
    b
}

fn push_exts(b: &mut Vec<u8>, exts: &[(u16, &[u8])]) {
    let mut e = Vec::new();
    for (ty, data) in exts {
        e.extend_from_slice(&ty.to_be_bytes());
        e.extend_from_slice(&(data.len() as u16).to_be_bytes());
        e.extend_from_slice(data);
    }
    if !exts.is_empty() {
        b.extend_from_slice(&(e.len() as u16).to_be_bytes());
        b.extend_from_slice(&e);
    }
}

/// A ServerHello body (same layout as TLS).
pub(crate) fn sh_body(version: u16, random: [u8; 32], exts: &[(u16, &[u8])]) -> Vec<u8> {
    let mut b = version.to_be_bytes().to_vec();
    b.extend_from_slice(&random);
    b.push(0);
    b.extend_from_slice(&[0xc0, 0x2b, 0]);
    push_exts(&mut b, exts);
    b
}

/// A handshake fragment: 12-byte header + `body[off..off + n]`.
pub(crate) fn hs_frag(ty: u8, seq: u16, body: &[u8], off: usize, n: usize) -> Vec<u8> {
    let mut m = vec![ty];
    m.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(&(off as u32).to_be_bytes()[1..]);
    m.extend_from_slice(&(n as u32).to_be_bytes()[1..]);
    m.extend_from_slice(&body[off..off + n]);
    m
}

/// A whole handshake message.
pub(crate) fn hs(ty: u8, seq: u16, body: &[u8]) -> Vec<u8> {
    hs_frag(ty, seq, body, 0, body.len())
}

/// A DTLSPlaintext record.
pub(crate) fn record(ct: u8, version: u16, epoch: u16, seq: u64, payload: &[u8]) -> Vec<u8> {
    let mut r = vec![ct];
    r.extend_from_slice(&version.to_be_bytes());
    r.extend_from_slice(&epoch.to_be_bytes());
    r.extend_from_slice(&seq.to_be_bytes()[2..]);
    r.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    r.extend_from_slice(payload);
    r
}

#[derive(Debug, Default)]
struct Seen {
    /// (dir, offered versions, record version)
    client: Vec<(u8, Vec<u16>, Option<u16>)>,
    /// (dir, version, hrr)
    server: Vec<(u8, u16, bool)>,
    alerts: Vec<(u8, u8, u8)>,
    anomalies: Vec<Anomaly>,
    issues: Vec<Issue>,
}

impl Handler for Seen {
    fn client_hello(&mut self, dir: u8, ch: &ClientHello<'_>) {
        let offered = ch.offered().as_slice().iter().map(|v| v.0).collect();
        self.client
            .push((dir, offered, ch.record_version.map(|v| v.0)));
    }
    fn server_hello(&mut self, dir: u8, sh: &ServerHello) {
        self.server.push((dir, sh.version.0, sh.is_hrr));
    }
    fn alert(&mut self, dir: u8, level: u8, description: u8) {
        self.alerts.push((dir, level, description));
    }
    fn anomaly(&mut self, a: Anomaly) {
        self.anomalies.push(a);
    }
    fn issue(&mut self, i: Issue) {
        self.issues.push(i);
    }
}

fn run(datagrams: &[(u8, Vec<u8>)]) -> Seen {
    let mut p = ConnParser::new();
    let mut scratch = Vec::new();
    let mut s = Seen::default();
    for (dir, d) in datagrams {
        p.datagram(*dir, d, &mut scratch, &mut s);
    }
    s
}

const HVR: u8 = 3;

fn hvr(version: u16, cookie: &[u8]) -> Vec<u8> {
    let mut b = version.to_be_bytes().to_vec();
    b.push(cookie.len() as u8);
    b.extend_from_slice(cookie);
    b
}

#[test]
fn dtls12_client_hello_in_one_record() {
    let body = ch_body(0xfefd, &[], &[], &[]);
    let s = run(&[(0, record(22, 0xfeff, 0, 0, &hs(1, 0, &body)))]);
    assert_eq!(s.client, vec![(0, vec![0xfefd], Some(0xfeff))]);
    assert!(s.anomalies.is_empty() && s.issues.is_empty());
}

#[test]
fn hello_verify_request_is_not_a_server_hello_and_the_cookie_hello_is_a_second_hello() {
    let ch1 = ch_body(0xfefd, &[], &[], &[]);
    let ch2 = ch_body(0xfefd, &[], &[0xc0; 20], &[]);
    let sh = sh_body(0xfefd, [3; 32], &[]);
    let s = run(&[
        (0, record(22, 0xfeff, 0, 0, &hs(1, 0, &ch1))),
        (
            1,
            record(22, 0xfeff, 0, 0, &hs(HVR, 0, &hvr(0xfeff, &[0xc0; 20]))),
        ),
        (0, record(22, 0xfeff, 0, 1, &hs(1, 1, &ch2))),
        (1, record(22, 0xfefd, 0, 1, &hs(2, 1, &sh))),
    ]);
    assert_eq!(s.client.len(), 2);
    assert_eq!(s.server, vec![(1, 0xfefd, false)]);
    assert!(s.anomalies.is_empty(), "{:?}", s.anomalies);
}

#[test]
fn session_id_and_cookie_both_present() {
    let body = ch_body(0xfefd, &[7; 32], &[9; 32], &[(43, &[2, 0xfe, 0xfd])]);
    let s = run(&[(0, record(22, 0xfefd, 0, 0, &hs(1, 1, &body)))]);
    assert_eq!(s.client, vec![(0, vec![0xfefd], Some(0xfefd))]);
    assert!(s.anomalies.is_empty());
}

#[test]
fn retransmitted_flight_counts_once() {
    let ch = ch_body(0xfefd, &[], &[], &[]);
    let msg = hs(1, 0, &ch);
    // Same message, new record sequence numbers (a DTLS retransmission).
    let s = run(&[
        (0, record(22, 0xfefd, 0, 0, &msg)),
        (0, record(22, 0xfefd, 0, 1, &msg)),
        (0, record(22, 0xfefd, 0, 2, &msg)),
    ]);
    assert_eq!(s.client.len(), 1);
}

#[test]
fn fragments_across_datagrams_out_of_order_make_one_hello() {
    let ch = ch_body(
        0xfefd,
        &[],
        &[],
        &[(43, &[2, 0xfe, 0xfd]), (0xff01, &[0; 200])],
    );
    let n = ch.len();
    let s = run(&[
        (
            0,
            record(22, 0xfefd, 0, 1, &hs_frag(1, 0, &ch, 100, n - 100)),
        ),
        (0, record(22, 0xfefd, 0, 0, &hs_frag(1, 0, &ch, 0, 120))),
    ]);
    assert_eq!(s.client, vec![(0, vec![0xfefd], Some(0xfefd))]);
    assert!(s.issues.is_empty());
}

#[test]
fn fragments_of_two_interleaved_hellos_only_the_complete_one_counts() {
    let a = ch_body(0xfefd, &[], &[], &[(0xff01, &[1; 150])]);
    let b = ch_body(0xfefd, &[], &[], &[(0xff01, &[2; 150])]);
    let s = run(&[
        (0, record(22, 0xfefd, 0, 0, &hs_frag(1, 1, &a, 0, 100))),
        (0, record(22, 0xfefd, 0, 1, &hs_frag(1, 0, &b, 0, 100))),
        (
            0,
            record(22, 0xfefd, 0, 2, &hs_frag(1, 1, &a, 100, a.len() - 100)),
        ),
    ]);
    assert_eq!(s.client.len(), 1);
}

/// tshark's identity of a handshake message includes the fragment header of the record that
/// completed it: a hello sent whole and then resent in two fragments counts twice
/// (`ndpi-stun_zoom.pcapng`, frames 29 and 38–39).
#[test]
fn hello_resent_in_fragments_is_a_new_transmission() {
    let ch = ch_body(0xfeff, &[], &[], &[]);
    let n = ch.len();
    let s = run(&[
        (0, record(22, 0xfeff, 0, 0, &hs(1, 0, &ch))),
        (0, record(22, 0xfeff, 0, 1, &hs_frag(1, 0, &ch, 0, 40))),
        (0, record(22, 0xfeff, 0, 2, &hs_frag(1, 0, &ch, 40, n - 40))),
        // The same fragments again: a retransmission of that transmission.
        (0, record(22, 0xfeff, 0, 3, &hs_frag(1, 0, &ch, 0, 40))),
        (0, record(22, 0xfeff, 0, 4, &hs_frag(1, 0, &ch, 40, n - 40))),
    ]);
    assert_eq!(s.client.len(), 2);
}

#[test]
fn several_records_per_datagram_and_encrypted_epochs_skipped() {
    let sh = sh_body(0xfefd, [5; 32], &[]);
    let mut d = record(22, 0xfefd, 0, 1, &hs(2, 0, &sh));
    d.extend(record(22, 0xfefd, 0, 2, &hs(11, 1, &[0; 40])));
    d.extend(record(20, 0xfefd, 0, 3, &[1]));
    // Encrypted Finished in epoch 1: looks like anything.
    d.extend(record(22, 0xfefd, 1, 0, &[0x02; 48]));
    d.extend(record(21, 0xfefd, 1, 1, &[0x99; 26]));
    let s = run(&[(1, d)]);
    assert_eq!(s.server, vec![(1, 0xfefd, false)]);
    assert!(s.alerts.is_empty());
    assert!(s.anomalies.is_empty() && s.issues.is_empty());
}

#[test]
fn dtls13_server_hello_uses_supported_versions_and_hrr_is_recognised() {
    let ch1 = ch_body(0xfefd, &[], &[], &[(43, &[2, 0xfe, 0xfc])]);
    let hrr = sh_body(0xfefd, HRR_RANDOM, &[(43, &[0xfe, 0xfc])]);
    let ch2 = ch_body(
        0xfefd,
        &[],
        &[],
        &[(43, &[2, 0xfe, 0xfc]), (44, &[0, 2, 1, 2])],
    );
    let sh = sh_body(0xfefd, [8; 32], &[(43, &[0xfe, 0xfc])]);
    // The server's flight after its ServerHello: a unified-header record (001CSLEE =
    // 0b0010_1100: no CID, 16-bit sequence, length present) and one without length.
    let mut flight = record(22, 0xfefd, 0, 1, &hs(2, 1, &sh));
    flight.extend([0x2c, 0x00, 0x01, 0x00, 0x03, 0xaa, 0xbb, 0xcc]);
    flight.extend([0x21, 0x02, 0xde, 0xad, 0xbe, 0xef]);
    let s = run(&[
        (0, record(22, 0xfefd, 0, 0, &hs(1, 0, &ch1))),
        (1, record(22, 0xfefd, 0, 0, &hs(2, 0, &hrr))),
        (0, record(22, 0xfefd, 0, 1, &hs(1, 1, &ch2))),
        (1, flight),
    ]);
    assert_eq!(
        s.client.iter().map(|c| c.1.clone()).collect::<Vec<_>>(),
        vec![vec![0xfefc], vec![0xfefc]]
    );
    assert_eq!(s.server, vec![(1, 0xfefc, true), (1, 0xfefc, false)]);
    assert!(s.anomalies.is_empty() && s.issues.is_empty(), "{s:?}");
}

#[test]
fn unified_header_with_connection_id_stops_the_datagram() {
    let sh = sh_body(0xfefd, [8; 32], &[]);
    let mut d = record(22, 0xfefd, 0, 1, &hs(2, 0, &sh));
    d.extend([0x3c, 1, 2, 3, 4, 0, 0, 0, 9]);
    let s = run(&[(1, d)]);
    assert_eq!(s.server.len(), 1);
    assert_eq!(s.issues, vec![Issue::Unframed]);
}

#[test]
fn epoch0_alerts_are_counted_once_per_record() {
    let a = record(21, 0xfeff, 0, 7, &[2, 70]);
    let s = run(&[
        (1, a.clone()),
        (1, a),
        (1, record(21, 0xfeff, 0, 8, &[2, 70])),
    ]);
    assert_eq!(s.alerts, vec![(1, 2, 70), (1, 2, 70)]);
}

#[test]
fn odd_alert_record_is_an_anomaly() {
    let s = run(&[(1, record(21, 0xfefd, 0, 1, &[2, 70, 1]))]);
    assert!(s.alerts.is_empty());
    assert_eq!(s.anomalies, vec![Anomaly::BadAlert]);
}

#[test]
fn cisco_pre_standard_version() {
    let ch = ch_body(0x0100, &[1; 32], &[], &[]);
    let sh = sh_body(0x0100, [1; 32], &[]);
    let s = run(&[
        (0, record(22, 0x0100, 0, 0, &hs(1, 0, &ch))),
        (1, record(22, 0x0100, 0, 0, &hs(2, 1, &sh))),
    ]);
    assert_eq!(s.client, vec![(0, vec![0x0100], Some(0x0100))]);
    assert_eq!(s.server, vec![(1, 0x0100, false)]);
}

#[test]
fn rfc7983_demultiplexing() {
    assert_eq!(demux(&[0x00, 0x01]), Demux::Stun);
    assert_eq!(demux(&[0x16, 0xfe]), Demux::Dtls);
    assert_eq!(demux(&[0x80, 0x60]), Demux::RtpRtcp);
    assert_eq!(demux(&[0x41]), Demux::TurnChannel);
    assert_eq!(demux(&[]), Demux::Other);
    // STUN and RTP on the DTLS connection's 5-tuple are ignored, not errors.
    let mut p = ConnParser::new();
    let mut s = Seen::default();
    let stun = [0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4];
    assert!(!p.datagram(0, &stun, &mut Vec::new(), &mut s));
    assert!(!p.datagram(0, &[0x80, 0x60, 0, 1, 2, 3], &mut Vec::new(), &mut s));
    assert!(s.issues.is_empty() && s.anomalies.is_empty());
}

#[test]
fn looks_like_dtls_on_content() {
    let ch = record(22, 0xfeff, 0, 0, &hs(1, 0, &ch_body(0xfefd, &[], &[], &[])));
    assert!(looks_like_dtls(&ch));
    let mut capwap = vec![1, 0, 0, 0];
    capwap.extend(&ch);
    assert!(looks_like_dtls(&capwap));
    // Not a hello, not epoch 0, not a DTLS version, cut short.
    assert!(!looks_like_dtls(&record(
        22,
        0xfeff,
        0,
        0,
        &hs(11, 0, &[0; 20])
    )));
    assert!(!looks_like_dtls(&record(
        22,
        0xfeff,
        1,
        0,
        &hs(1, 0, &[0; 20])
    )));
    assert!(!looks_like_dtls(&record(
        22,
        0x0303,
        0,
        0,
        &hs(1, 0, &[0; 20])
    )));
    assert!(!looks_like_dtls(&ch[..ch.len() - 1]));
    assert!(!looks_like_dtls(&[0x00, 0x01, 0x00, 0x00]));
}

#[test]
fn capwap_preamble_is_skipped() {
    let mut d = vec![1, 0, 0, 0];
    d.extend(record(
        22,
        0xfeff,
        0,
        0,
        &hs(1, 0, &ch_body(0xfeff, &[], &[], &[])),
    ));
    let s = run(&[(0, d)]);
    assert_eq!(s.client.len(), 1);
}

#[test]
fn record_past_the_datagram_and_bad_versions_are_issues() {
    let r = record(22, 0xfefd, 0, 0, &hs(1, 0, &ch_body(0xfefd, &[], &[], &[])));
    let s = run(&[(0, r[..r.len() - 3].to_vec())]);
    assert_eq!(s.issues, vec![Issue::RecordTruncated]);
    let s = run(&[(0, record(22, 0x0303, 0, 0, &[1, 2]))]);
    assert_eq!(s.issues, vec![Issue::NotDtls]);
}

#[test]
fn every_prefix_of_a_datagram_is_safe() {
    let ch = ch_body(0xfefd, &[1; 4], &[2; 4], &[(43, &[2, 0xfe, 0xfd])]);
    let mut d = record(22, 0xfefd, 0, 0, &hs_frag(1, 0, &ch, 0, 30));
    d.extend(record(
        22,
        0xfefd,
        0,
        1,
        &hs_frag(1, 0, &ch, 30, ch.len() - 30),
    ));
    d.extend(record(21, 0xfefd, 0, 2, &[1, 0]));
    d.extend([0x2c, 0, 1, 0, 2, 9, 9]);
    for n in 0..=d.len() {
        run(&[(0, d[..n].to_vec())]);
    }
    let s = run(&[(0, d)]);
    assert_eq!(s.client.len(), 1);
    assert_eq!(s.alerts, vec![(0, 1, 0)]);
}

#[test]
fn malformed_client_hello_body_is_an_anomaly() {
    let ch = ch_body(0xfefd, &[], &[], &[]);
    let s = run(&[(0, record(22, 0xfefd, 0, 0, &hs(1, 0, &ch[..36])))]);
    assert!(s.client.is_empty());
    assert_eq!(s.anomalies, vec![Anomaly::ClientHelloMalformed]);
}

/// Real datagrams from `captures/dtls/` (OpenSSL 3.0 on loopback, `make-dtls-captures.sh`).
mod real {
    /// `dtls12-fragmented-hello.pcap` frames 1–2: a ClientHello in two handshake fragments.
    pub(super) const FRAGMENTED_HELLO: [&str; 2] = [
        "16feff000000000000000000d70100012b00000000000000cbfefdb402e64e0ee1b193eab17c266a1ace8bbd31ebac4d1e092a64e60ddf1ea14b1500000038c02cc030009fcca9cca8ccaac02bc02f009ec024c028006bc023c0270067c00ac0140039c009c0130033009d009c003d003c0035002f00ff010000c90000001f001d00001a667261676d656e7465642e68656c6c6f77617463682e74657374000b000403000102000a000c000a001d0017001e001900180023000000100050004e0677656272746308632d77656272746302683208687474702f312e3118782d6c6f6e672d",
        "16feff0000000000000001006c0100012b00000000cb00006070726f746f636f6c2d6e616d652d6f6e6518782d6c6f6e672d70726f746f636f6c2d6e616d652d74776f0016000000170000000d002a0028040305030603080708080809080a080b080408050806040105010601030303010302040205020602",
    ];
    /// `refused-dtls10.pcap`: ClientHello, HelloVerifyRequest, ClientHello with the cookie,
    /// fatal protocol_version alert (direction 0 = client).
    pub(super) const REFUSED_DTLS10: [(u8, &str); 4] = [
        (
            0,
            "16feff0000000000000000006c010000600000000000000060feff1e0b05e38586263cb4f4f40dc957cfb06992d0ab80f0639517a8d35cad70c43d00000012c00ac0140039c009c01300330035002f00ff01000024000b000403000102000a000c000a001d0017001e00190018002300000016000000170000",
        ),
        (
            1,
            "16feff00000000000000000023030000170000000000000017feff14432643b84c7cc2de35293585190ce687cd16c54e",
        ),
        (
            0,
            "16feff00000000000000010080010000740001000000000074feff1e0b05e38586263cb4f4f40dc957cfb06992d0ab80f0639517a8d35cad70c43d0014432643b84c7cc2de35293585190ce687cd16c54e0012c00ac0140039c009c01300330035002f00ff01000024000b000403000102000a000c000a001d0017001e00190018002300000016000000170000",
        ),
        (1, "15feff000000000000000100020246"),
    ];
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn real_openssl_fragmented_client_hello_in_either_order() {
    for order in [[0, 1], [1, 0]] {
        let mut p = ConnParser::new();
        let mut scratch = Vec::new();
        let mut got = None;
        struct Sni<'a>(&'a mut Option<(Vec<u8>, Vec<u16>)>, Vec<Issue>);
        impl Handler for Sni<'_> {
            fn client_hello(&mut self, _: u8, ch: &ClientHello<'_>) {
                let offered = ch.offered().as_slice().iter().map(|v| v.0).collect();
                *self.0 = Some((ch.sni.unwrap_or_default().to_vec(), offered));
            }
            fn server_hello(&mut self, _: u8, _: &ServerHello) {}
            fn alert(&mut self, _: u8, _: u8, _: u8) {}
            fn anomaly(&mut self, a: Anomaly) {
                panic!("{a:?}");
            }
            fn issue(&mut self, i: Issue) {
                self.1.push(i);
            }
        }
        let mut h = Sni(&mut got, Vec::new());
        for i in order {
            assert!(looks_like_dtls(&unhex(real::FRAGMENTED_HELLO[i])));
            p.datagram(0, &unhex(real::FRAGMENTED_HELLO[i]), &mut scratch, &mut h);
        }
        assert!(h.1.is_empty());
        assert!(!p.pending() && p.buffered() == 0);
        let (sni, offered) = got.unwrap();
        assert_eq!(sni, b"fragmented.hellowatch.test");
        assert_eq!(offered, vec![0xfefd]);
    }
}

#[test]
fn real_openssl_refused_dtls10_client() {
    let dgs: Vec<(u8, Vec<u8>)> = real::REFUSED_DTLS10
        .iter()
        .map(|(d, h)| (*d, unhex(h)))
        .collect();
    let s = run(&dgs);
    assert_eq!(
        s.client,
        vec![
            (0, vec![0xfeff], Some(0xfeff)),
            (0, vec![0xfeff], Some(0xfeff))
        ]
    );
    assert!(
        s.server.is_empty(),
        "a HelloVerifyRequest is not a ServerHello"
    );
    assert_eq!(s.alerts, vec![(1, 2, 70)]);
    assert!(s.anomalies.is_empty() && s.issues.is_empty());
}
