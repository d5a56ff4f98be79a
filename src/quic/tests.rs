//! Byte-vector tests: RFC vectors, coalesced packets, CRYPTO reassembly, tampering, Retry.

use super::crypto::tests::hex;
use super::crypto::{DirKeys, derive};
use super::vectors::*;
use super::version::{self, LABELS_V1, SALT_V1};
use super::*;

/// Protects one long-header packet: `header` ends with the packet number of `pn_len` bytes
/// (which the first byte's low bits must say); the Length field counts payload + tag.
pub(crate) fn seal(k: &DirKeys, header: &[u8], pn_len: usize, payload: &[u8]) -> Vec<u8> {
    assert_eq!(usize::from(header[0] & 3) + 1, pn_len);
    let mut pkt = header.to_vec();
    pkt.extend_from_slice(payload);
    crypto::seal(k, &mut pkt, header.len() - pn_len).unwrap();
    pkt
}

fn varint_bytes(v: u64) -> Vec<u8> {
    match v {
        0..=63 => vec![v as u8],
        64..=16383 => (v as u16 | 0x4000).to_be_bytes().to_vec(),
        _ => (v as u32 | 0x8000_0000).to_be_bytes().to_vec(),
    }
}

/// A protected Initial (2-byte packet number) from `payload` (frames).
pub(crate) fn initial(
    version: u32,
    keys: &DirKeys,
    dcid: &[u8],
    scid: &[u8],
    token: &[u8],
    pn: u16,
    payload: &[u8],
) -> Vec<u8> {
    let ty = if version == version::V2 { 0xd1 } else { 0xc1 };
    let mut h = vec![ty];
    h.extend_from_slice(&version.to_be_bytes());
    h.push(dcid.len() as u8);
    h.extend_from_slice(dcid);
    h.push(scid.len() as u8);
    h.extend_from_slice(scid);
    h.extend(varint_bytes(token.len() as u64));
    h.extend_from_slice(token);
    let len = 2 + payload.len() + 16;
    h.extend_from_slice(&((len as u16) | 0x4000).to_be_bytes());
    h.extend_from_slice(&pn.to_be_bytes());
    seal(keys, &h, 2, payload)
}

pub(crate) fn crypto_frame(off: u64, data: &[u8]) -> Vec<u8> {
    let mut f = vec![0x06];
    f.extend(varint_bytes(off));
    f.extend(varint_bytes(data.len() as u64));
    f.extend_from_slice(data);
    f
}

fn padded(mut frames: Vec<u8>, to: usize) -> Vec<u8> {
    frames.resize(frames.len().max(to), 0);
    frames
}

#[derive(Default)]
struct Got {
    client: Vec<u8>,
    server: Vec<u8>,
    calls: Vec<String>,
    k: Counters,
}

fn feed(conn: &mut Conn, got: &mut Got, dgram: &[u8], from_client: bool) {
    let (c, s, calls) = (&mut got.client, &mut got.server, &mut got.calls);
    conn.on_datagram(dgram, from_client, &mut got.k, &mut |o| match o {
        Output::Crypto { from_client, data } => {
            calls.push(format!(
                "{} {}",
                if from_client { "c" } else { "s" },
                data.len()
            ));
            if from_client {
                c.extend_from_slice(data)
            } else {
                s.extend_from_slice(data)
            }
        }
        Output::NewConnection => calls.push("new".into()),
    });
}

fn keys_v1(dcid: &[u8]) -> Keys {
    derive(&SALT_V1, &LABELS_V1, dcid).unwrap()
}

const DCID: [u8; 8] = [0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08];

#[test]
fn seal_reproduces_rfc9001_a2() {
    let k = keys_v1(&DCID);
    let header = hex("c300000001088394c8f03e5157080000449e00000002");
    let payload = padded(hex(CLIENT_CRYPTO_FRAME), 1162);
    assert_eq!(
        seal(&k.client, &header, 4, &payload),
        hex(V1_CLIENT_INITIAL)
    );
}

#[test]
fn rfc9001_client_and_server_initials_decrypt() {
    let mut conn = Conn::new();
    let mut got = Got::default();
    feed(&mut conn, &mut got, &hex(V1_CLIENT_INITIAL), true);
    // The CRYPTO frame's data: the ClientHello, 241 bytes.
    assert_eq!(got.client, hex(CLIENT_CRYPTO_FRAME)[4..]);
    assert_eq!(got.client[0], 1);
    feed(&mut conn, &mut got, &hex(V1_SERVER_INITIAL), false);
    assert_eq!(got.server, hex(SERVER_PAYLOAD)[9..]);
    assert_eq!(got.server[0], 2);
    assert_eq!(got.k.get(Counter::InitialDecrypted), 2);
    assert_eq!(got.k.get(Counter::AuthFailed), 0);
    assert_eq!(conn.version(), Some(1));
}

#[test]
fn rfc9369_client_and_server_initials_decrypt() {
    let mut conn = Conn::new();
    let mut got = Got::default();
    feed(&mut conn, &mut got, &hex(V2_CLIENT_INITIAL), true);
    assert_eq!(got.client, hex(CLIENT_CRYPTO_FRAME)[4..]);
    feed(&mut conn, &mut got, &hex(V2_SERVER_INITIAL), false);
    assert_eq!(got.server, hex(SERVER_PAYLOAD)[9..]);
    assert_eq!(got.k.get(Counter::InitialDecrypted), 2);
    assert_eq!(conn.version(), Some(version::V2));
}

#[test]
fn tampered_tag_is_counted_and_yields_nothing() {
    for at in [30, 600, 1199] {
        let mut pkt = hex(V1_CLIENT_INITIAL);
        pkt[at] ^= 1;
        let mut conn = Conn::new();
        let mut got = Got::default();
        feed(&mut conn, &mut got, &pkt, true);
        assert!(got.calls.is_empty(), "byte {at}");
        assert_eq!(got.k.get(Counter::AuthFailed), 1);
        assert_eq!(got.k.get(Counter::InitialDecrypted), 0);
        assert!(!conn.saw_client_initial());
    }
    // A server Initial before any client Initial: no keys.
    let mut conn = Conn::new();
    let mut got = Got::default();
    feed(&mut conn, &mut got, &hex(V1_SERVER_INITIAL), false);
    assert_eq!(got.k.get(Counter::NoKeys), 1);
}

#[test]
fn truncated_datagrams_never_panic_or_deliver() {
    let pkt = hex(V1_CLIENT_INITIAL);
    for n in 0..pkt.len() {
        let mut conn = Conn::new();
        let mut got = Got::default();
        feed(&mut conn, &mut got, &pkt[..n], true);
        assert!(got.calls.is_empty(), "{n} bytes");
        if n > 0 {
            assert_eq!(
                got.k.get(Counter::Malformed) + got.k.get(Counter::AuthFailed),
                1,
                "{n} bytes"
            );
        }
    }
}

#[test]
fn coalesced_initial_and_handshake_packets() {
    let k = keys_v1(&DCID);
    let ch = hex(CLIENT_CRYPTO_FRAME)[4..].to_vec();
    let p1 = initial(
        1,
        &k.client,
        &DCID,
        &[1, 2],
        &[],
        0,
        &padded(crypto_frame(0, &ch), 1100),
    );
    // Coalesced: an Initial, a Handshake packet (skipped), then trailing zero padding.
    let mut hs = vec![0xe0, 0, 0, 0, 1, 8];
    hs.extend_from_slice(&DCID);
    hs.extend_from_slice(&[0, 0x40, 20]);
    hs.extend_from_slice(&[0xaa; 20]);
    let mut dgram = p1.clone();
    dgram.extend_from_slice(&hs);
    dgram.extend_from_slice(&[0; 30]);
    let mut conn = Conn::new();
    let mut got = Got::default();
    feed(&mut conn, &mut got, &dgram, true);
    assert_eq!(got.client, ch);
    assert_eq!(got.k.get(Counter::Skipped), 1);
    assert_eq!(got.k.get(Counter::Malformed), 0);
    // Two Initials coalesced, the second carrying the rest of the stream.
    let a = initial(
        1,
        &k.client,
        &DCID,
        &[],
        &[],
        0,
        &crypto_frame(0, &ch[..100]),
    );
    let b = initial(
        1,
        &k.client,
        &DCID,
        &[],
        &[],
        1,
        &padded(crypto_frame(100, &ch[100..]), 900),
    );
    let mut conn = Conn::new();
    let mut got = Got::default();
    feed(&mut conn, &mut got, &[a, b].concat(), true);
    assert_eq!(got.client, ch);
    assert_eq!(got.calls, ["c 100", &format!("c {}", ch.len() - 100)]);
}

#[test]
fn crypto_frames_out_of_order_within_and_across_packets() {
    let k = keys_v1(&DCID);
    let ch: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
    // Packet 1: [2000..3000) then [1000..1500) (both ahead of a gap), PING, ACK.
    let mut f1 = crypto_frame(2000, &ch[2000..]);
    f1.extend(crypto_frame(1000, &ch[1000..1500]));
    f1.extend([0x01, 0x02, 0x00, 0x00, 0x00, 0x00]);
    // Packet 2: [0..1000) then [1500..2000), with a retransmitted [0..10).
    let mut f2 = crypto_frame(1500, &ch[1500..2000]);
    f2.extend(crypto_frame(0, &ch[..10]));
    f2.extend(crypto_frame(0, &ch[..1000]));
    let p1 = initial(1, &k.client, &DCID, &[], &[], 0, &f1);
    let p2 = initial(1, &k.client, &DCID, &[], &[], 1, &f2);
    let mut conn = Conn::new();
    let mut got = Got::default();
    feed(&mut conn, &mut got, &p1, true);
    assert!(got.client.is_empty());
    feed(&mut conn, &mut got, &p2, true);
    assert_eq!(got.client, ch);
    assert_eq!(got.k.get(Counter::CryptoHeld), 3);
    assert_eq!(conn.crypto_delivered(true), 3000);
    // Retransmitting the whole first packet delivers nothing more.
    feed(&mut conn, &mut got, &p1, true);
    assert_eq!(got.client.len(), 3000);
}

#[test]
fn retry_gives_new_keys_on_the_same_connection() {
    let odcid = [9u8; 8];
    let k0 = keys_v1(&odcid);
    let ch = hex(CLIENT_CRYPTO_FRAME)[4..].to_vec();
    let first = initial(
        1,
        &k0.client,
        &odcid,
        &[7; 4],
        &[],
        0,
        &padded(crypto_frame(0, &ch), 1100),
    );
    // Retry from the server: new SCID, token, integrity tag.
    let new_cid = [5u8; 8];
    let mut retry = vec![0xf0, 0, 0, 0, 1, 4, 7, 7, 7, 7, 8];
    retry.extend_from_slice(&new_cid);
    retry.extend_from_slice(&[0x55; 40]);
    let k1 = keys_v1(&new_cid);
    let again = initial(
        1,
        &k1.client,
        &new_cid,
        &[7; 4],
        &[0x55; 24],
        1,
        &padded(crypto_frame(0, &ch), 1100),
    );
    let sh = hex(SERVER_PAYLOAD)[9..].to_vec();
    let server = initial(
        1,
        &k1.server,
        &[7; 4],
        &[6; 8],
        &[],
        0,
        &crypto_frame(0, &sh),
    );
    let mut conn = Conn::new();
    let mut got = Got::default();
    feed(&mut conn, &mut got, &first, true);
    feed(&mut conn, &mut got, &retry, false);
    feed(&mut conn, &mut got, &again, true);
    feed(&mut conn, &mut got, &server, false);
    assert_eq!(
        got.client, ch,
        "the ClientHello after the Retry is not handed on twice"
    );
    assert_eq!(got.server, sh);
    assert_eq!(got.k.get(Counter::Retry), 1);
    assert_eq!(got.k.get(Counter::NewConnection), 0);
    assert_eq!(got.k.get(Counter::InitialDecrypted), 3);
    // The client's later Initials use the server's CID but the Retry's keys.
    let ack = initial(
        1,
        &k1.client,
        &[6; 8],
        &[7; 4],
        &[],
        2,
        &padded(vec![2, 0, 0, 0, 0], 30),
    );
    feed(&mut conn, &mut got, &ack, true);
    assert_eq!(got.k.get(Counter::InitialDecrypted), 4);
}

#[test]
fn new_dcid_without_retry_is_a_new_connection() {
    let ch = hex(CLIENT_CRYPTO_FRAME)[4..].to_vec();
    let a = [1u8; 8];
    let b = [2u8; 8];
    let pa = initial(
        1,
        &keys_v1(&a).client,
        &a,
        &[],
        &[],
        0,
        &crypto_frame(0, &ch),
    );
    let pb = initial(
        1,
        &keys_v1(&b).client,
        &b,
        &[],
        &[],
        0,
        &crypto_frame(0, &ch),
    );
    let mut conn = Conn::new();
    let mut got = Got::default();
    feed(&mut conn, &mut got, &pa, true);
    feed(&mut conn, &mut got, &pa, true);
    feed(&mut conn, &mut got, &pb, true);
    assert_eq!(
        got.calls,
        [
            format!("c {}", ch.len()),
            "new".into(),
            format!("c {}", ch.len())
        ]
    );
    assert_eq!(got.k.get(Counter::NewConnection), 1);
}

#[test]
fn reserved_version_initials_open_with_the_v1_salt() {
    let ch = hex(CLIENT_CRYPTO_FRAME)[4..].to_vec();
    let p = initial(
        0x0a0a0a0a,
        &keys_v1(&DCID).client,
        &DCID,
        &[],
        &[],
        0,
        &padded(crypto_frame(0, &ch), 1200),
    );
    assert!(looks_like_quic(&p));
    let mut conn = Conn::new();
    let mut got = Got::default();
    feed(&mut conn, &mut got, &p, true);
    assert_eq!(got.client, ch);
}

#[test]
fn version_negotiation_and_unknown_versions_are_counted() {
    let mut vn = vec![0xc5, 0, 0, 0, 0, 4, 1, 2, 3, 4, 8];
    vn.extend_from_slice(&DCID);
    vn.extend_from_slice(&[0, 0, 0, 1, 0x6b, 0x33, 0x43, 0xcf]);
    assert!(looks_like_quic(&vn));
    let mut unknown = vec![0xc0, 0x12, 0x34, 0x56, 0x78, 8];
    unknown.extend_from_slice(&DCID);
    unknown.extend_from_slice(&[0; 1200]);
    assert!(
        looks_like_quic(&unknown),
        "any version for a client Initial shape"
    );
    assert!(!looks_like_quic(&unknown[..300]));
    let mut conn = Conn::new();
    let mut got = Got::default();
    feed(&mut conn, &mut got, &vn, false);
    feed(&mut conn, &mut got, &unknown, true);
    assert_eq!(got.k.get(Counter::VersionNegotiation), 1);
    assert_eq!(got.k.get(Counter::UnknownVersion), 1);
    assert!(got.calls.is_empty());
}

#[test]
fn looks_like_quic_rejects_other_udp() {
    assert!(looks_like_quic(&hex(V1_CLIENT_INITIAL)));
    assert!(looks_like_quic(&hex(V2_CLIENT_INITIAL)));
    assert!(looks_like_quic(&hex(V1_SERVER_INITIAL)));
    // DTLS 1.2 ClientHello record, STUN binding request, RTP, short header, empty.
    assert!(!looks_like_quic(&[
        22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
    ]));
    assert!(!looks_like_quic(&[
        0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4
    ]));
    assert!(!looks_like_quic(&[
        0x80, 0x60, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4
    ]));
    assert!(!looks_like_quic(&[0x40, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
    assert!(!looks_like_quic(&[]));
    // A DCID longer than 20 bytes.
    let mut long = vec![0xc0, 0, 0, 0, 1, 21];
    long.extend_from_slice(&[0; 40]);
    assert!(!looks_like_quic(&long));
}

#[test]
fn unknown_frame_stops_the_packet_but_keeps_earlier_crypto() {
    let k = keys_v1(&DCID);
    let mut f = crypto_frame(0, b"\x01\x00\x00\x02hi");
    f.push(0x30); // DATAGRAM: not allowed in Initials
    f.extend(crypto_frame(6, b"zz"));
    let p = initial(1, &k.client, &DCID, &[], &[], 0, &padded(f, 50));
    let mut conn = Conn::new();
    let mut got = Got::default();
    feed(&mut conn, &mut got, &p, true);
    assert_eq!(got.client, b"\x01\x00\x00\x02hi");
    assert_eq!(got.k.get(Counter::UnknownFrame), 1);
    // A CRYPTO frame whose length runs past the packet: malformed, nothing handed on.
    let mut bad = vec![0x06, 0x00, 0x44, 0x00];
    bad.extend_from_slice(&[1; 20]);
    let p = initial(1, &k.client, &DCID, &[], &[], 1, &bad);
    let mut conn = Conn::new();
    let mut got = Got::default();
    feed(&mut conn, &mut got, &p, true);
    assert!(got.calls.is_empty());
    assert_eq!(got.k.get(Counter::Malformed), 1);
}

#[test]
fn connection_close_in_an_initial_is_counted() {
    let k = keys_v1(&DCID);
    let f = [0x1c, 0x0a, 0x06, 0x03, b'b', b'a', b'd'];
    let p = initial(
        1,
        &k.server,
        &[1; 4],
        &[2; 8],
        &[],
        0,
        &padded(f.to_vec(), 20),
    );
    let mut conn = Conn::new();
    let mut got = Got::default();
    // Keys come from the client's Initial first.
    let c = initial(
        1,
        &k.client,
        &DCID,
        &[1; 4],
        &[],
        0,
        &padded(crypto_frame(0, b"x"), 1100),
    );
    feed(&mut conn, &mut got, &c, true);
    feed(&mut conn, &mut got, &p, false);
    assert_eq!(got.k.get(Counter::ConnectionClose), 1);
}

#[test]
fn is_client_initial_tells_the_client_from_the_server() {
    let mut scratch = Vec::new();
    assert!(is_client_initial(&hex(V1_CLIENT_INITIAL), &mut scratch));
    assert!(is_client_initial(&hex(V2_CLIENT_INITIAL), &mut scratch));
    assert!(!is_client_initial(&hex(V1_SERVER_INITIAL), &mut scratch));
    assert!(!is_client_initial(&hex(V2_SERVER_INITIAL), &mut scratch));
    let mut bad = hex(V1_CLIENT_INITIAL);
    bad[100] ^= 0x80;
    assert!(!is_client_initial(&bad, &mut scratch));
    assert!(!is_client_initial(&bad[..40], &mut scratch));
    assert!(!is_client_initial(&[], &mut scratch));
}
