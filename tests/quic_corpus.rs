//! Every QUIC capture of the conformance corpus (expected files with `quic_clients`), and the
//! QUIC captures made here (`captures/quic/`), run through `quic::Conn` and
//! `tls::DirParser::feed_handshake` alone (the savefile reader and a tiny UDP extraction from
//! the test kit; no flow table, no census): the ClientHellos decoded per client must equal
//! the expected `hellos`, and the connections with a ServerHello the expected `negotiated`.
//! As in tshark, a QUIC connection is identified by its connection IDs: the same ClientHello
//! on the same original DCID seen again on another address pair (the corpus has Initials
//! captured on both sides of a NAT) counts once, for the first client.
// Test code: a broken expectation should panic, with the values at hand.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)]

mod common;

use common::udp;
use hellowatch::capture::file::for_each_packet_in;
use hellowatch::quic::{self, Counter, Output};
use hellowatch::tls::{Anomaly, CcsMeaning, ClientHello, DirParser, Handler, ServerHello};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

#[derive(Default)]
struct Seen {
    /// ClientHellos not yet claimed (a digest of each).
    new_hellos: Vec<u64>,
    hellos: u64,
    server_hello: bool,
}

impl Handler for Seen {
    fn client_hello(&mut self, ch: &ClientHello<'_>) {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (ch.legacy_version.0, ch.cipher_suites, ch.extensions).hash(&mut h);
        self.new_hellos.push(h.finish());
    }
    fn server_hello(&mut self, sh: &ServerHello) {
        if !sh.is_hrr {
            self.server_hello = true;
        }
    }
    fn alert(&mut self, _: u8, _: u8) {}
    fn anomaly(&mut self, _: Anomaly) {}
    fn ccs(&mut self) -> CcsMeaning {
        CcsMeaning::Encrypted
    }
}

/// One UDP flow carrying QUIC.
struct Flow {
    client: SocketAddr,
    conn: quic::Conn,
    parsers: [DirParser; 2],
    seen: [Seen; 2],
}

#[derive(Default, Debug, PartialEq, Eq)]
struct Tally {
    hellos: u64,
    negotiated: u64,
}

/// Per client address: hellos and connections with a ServerHello; plus the QUIC counters.
fn run_capture(bytes: &[u8]) -> (BTreeMap<IpAddr, Tally>, quic::Counters, u64) {
    let mut flows: HashMap<(SocketAddr, SocketAddr), Flow> = HashMap::new();
    let mut tally: BTreeMap<IpAddr, Tally> = BTreeMap::new();
    let mut k = quic::Counters::default();
    let mut unknown_link = 0u64;
    // (original DCID, ClientHello digest) already counted.
    let mut claimed: std::collections::HashSet<(Vec<u8>, u64)> = Default::default();
    let settle = |f: &mut Flow, tally: &mut BTreeMap<IpAddr, Tally>| {
        let t = tally.entry(f.client.ip()).or_default();
        t.hellos += f.seen[0].hellos;
        t.negotiated += u64::from(f.seen[1].server_hello);
        f.seen = Default::default();
        f.parsers = Default::default();
    };
    for_each_packet_in(bytes, |p| {
        let d = match udp::udp(p.link, p.data) {
            Ok(Some(d)) => d,
            Ok(None) => return,
            Err(()) => {
                unknown_link += 1;
                return;
            }
        };
        let key = if d.src <= d.dst {
            (d.src, d.dst)
        } else {
            (d.dst, d.src)
        };
        let f = match flows.entry(key) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                if !quic::looks_like_quic(d.payload) {
                    return;
                }
                e.insert(Flow {
                    client: d.src,
                    conn: quic::Conn::new(),
                    parsers: Default::default(),
                    seen: Default::default(),
                })
            }
        };
        let from_client = d.src == f.client;
        let Flow {
            conn,
            parsers,
            seen,
            client,
        } = f;
        let mut settled = Vec::new();
        conn.on_datagram(d.payload, from_client, &mut k, &mut |o| match o {
            Output::Crypto { from_client, data } => {
                let i = usize::from(!from_client);
                parsers[i].feed_handshake(data, &mut seen[i]);
            }
            Output::NewConnection => {
                let pending = seen[0].new_hellos.len() as u64;
                settled.push((seen[0].hellos + pending, seen[1].server_hello));
                *seen = Default::default();
                *parsers = Default::default();
            }
        });
        let dcid = conn.initial_dcid().unwrap_or(&[]).to_vec();
        for fp in seen[0].new_hellos.drain(..) {
            if claimed.insert((dcid.clone(), fp)) {
                seen[0].hellos += 1;
            }
        }
        for (h, sh) in settled {
            let t = tally.entry(client.ip()).or_default();
            t.hellos += h;
            t.negotiated += u64::from(sh);
        }
    })
    .unwrap();
    for f in flows.values_mut() {
        settle(f, &mut tally);
    }
    tally.retain(|_, t| *t != Tally::default());
    (tally, k, unknown_link)
}

fn expected(exp: &Value) -> BTreeMap<IpAddr, Tally> {
    let mut m = BTreeMap::new();
    for (ip, c) in exp["quic_clients"].as_object().unwrap() {
        let t = Tally {
            hellos: c["hellos"].as_u64().unwrap_or(0),
            negotiated: c["negotiated"]
                .as_object()
                .map(|n| n.values().map(|v| v.as_u64().unwrap()).sum())
                .unwrap_or(0),
        };
        if t != Tally::default() {
            m.insert(ip.parse().unwrap(), t);
        }
    }
    m
}

/// Runs every expected file with `quic_clients` under `dir` (`expected/`, `captures/`
/// siblings); returns (captures compared, mismatches).
fn check_dir(expected_dir: &Path, captures_dir: &Path) -> (usize, Vec<String>) {
    let mut compared = 0;
    let mut bad = Vec::new();
    for (exp_path, cap) in common::expectations(expected_dir, captures_dir) {
        let exp: Value = serde_json::from_slice(&std::fs::read(&exp_path).unwrap()).unwrap();
        if exp.get("quic_clients").is_none() {
            continue;
        }
        let name = cap.file_name().unwrap().to_string_lossy().into_owned();
        let (got, k, unknown_link) = run_capture(&std::fs::read(&cap).unwrap());
        assert_eq!(unknown_link, 0, "{name}: link type unknown to the test kit");
        compared += 1;
        let want = expected(&exp);
        if got != want {
            let diff: Vec<String> = got
                .keys()
                .chain(want.keys())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .filter(|ip| got.get(ip) != want.get(ip))
                .map(|ip| format!("{ip}: got {:?}, expected {:?}", got.get(ip), want.get(ip)))
                .collect();
            bad.push(format!(
                "{name}: {}; counters {:?}",
                diff.join("; "),
                Counter::ALL
                    .iter()
                    .filter(|c| k.get(**c) > 0)
                    .map(|c| (c.name(), k.get(*c)))
                    .collect::<Vec<_>>()
            ));
        }
    }
    (compared, bad)
}

#[test]
fn corpus_quic_hellos_per_client_match_tshark() {
    let dir = common::root().join("../shared/conformance");
    if !dir.is_dir() {
        assert!(
            std::env::var_os("HELLOWATCH_REQUIRE_CORPUS").is_none(),
            "{} not present and HELLOWATCH_REQUIRE_CORPUS is set",
            dir.display()
        );
        eprintln!("skipped: {} not present", dir.display());
        return;
    }
    let (n, bad) = check_dir(&dir.join("expected"), &dir.join("captures"));
    assert!(n >= 37, "only {n} QUIC captures found");
    assert!(
        bad.is_empty(),
        "{} of {n} differ:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

/// The captures made here by aioquic (`captures/quic/make-quic-captures.sh`): v1, v2, a
/// ClientHello in two Initials, a Retry.
#[test]
fn own_quic_captures_match_their_expected_files() {
    let dir = common::root().join("captures/quic");
    let (n, bad) = check_dir(&dir.join("expected"), &dir);
    assert_eq!(n, 4, "captures/quic/expected holds 4 files");
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

fn counters_of(name: &str) -> quic::Counters {
    let bytes = std::fs::read(common::root().join("captures/quic").join(name)).unwrap();
    run_capture(&bytes).1
}

/// After a Retry the client's Initial opens with keys from the Retry's connection ID, on the
/// same connection, and its repeated ClientHello is not handed on twice (one hello above).
#[test]
fn retry_capture_rekeys_without_a_new_connection() {
    let k = counters_of("quic-retry.pcap");
    assert_eq!(k.get(Counter::Retry), 1);
    assert_eq!(k.get(Counter::NewConnection), 0);
    assert_eq!(k.get(Counter::AuthFailed), 0);
    assert!(k.get(Counter::InitialDecrypted) >= 3, "{k:?}");
}

/// The ~1.6 KB ClientHello travels in two client Initials; nothing fails to open.
#[test]
fn split_hello_capture_spans_two_initials() {
    let bytes = std::fs::read(common::root().join("captures/quic/quic-split-hello.pcap")).unwrap();
    let mut conn = quic::Conn::new();
    let mut k = quic::Counters::default();
    let mut scratch = Vec::new();
    let mut client = None;
    let mut with_crypto = 0;
    let mut hello = Vec::new();
    for_each_packet_in(&bytes, |p| {
        let Ok(Some(d)) = udp::udp(p.link, p.data) else {
            return;
        };
        let c = *client.get_or_insert_with(|| {
            assert!(quic::is_client_initial(d.payload, &mut scratch));
            d.src
        });
        let mut got = false;
        conn.on_datagram(d.payload, d.src == c, &mut k, &mut |o| {
            if let Output::Crypto {
                from_client: true,
                data,
            } = o
            {
                got = true;
                hello.extend_from_slice(data);
            }
        });
        with_crypto += usize::from(got);
    })
    .unwrap();
    assert_eq!(
        with_crypto, 2,
        "client datagrams that completed CRYPTO bytes"
    );
    assert_eq!(hello[0], 1, "a ClientHello");
    let len = usize::from(hello[1]) << 16 | usize::from(hello[2]) << 8 | usize::from(hello[3]);
    assert!(
        len > 1200 && hello.len() >= len + 4,
        "{len} / {}",
        hello.len()
    );
    assert_eq!(k.get(Counter::AuthFailed), 0);
}
