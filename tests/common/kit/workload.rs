//! Benchmark workload generator: a pcap of N TLS-over-TCP connections from M clients, built from
//! this project's own real-stack captures (`captures/`), with its ground-truth census.
//!
//! Templates are per-client *connection groups*: all connections one client made in one capture
//! (for most captures a single connection; an HRR capture keeps both hellos). A group's truth is
//! that client's entry in `captures/expected/<stem>.json` (derived with tshark, independently of
//! hellowatch). Each generated group gets a fresh client address (about 10 % IPv6), fresh ports
//! and sequence numbers; every ClientHello gets a new random and session id and a GREASE
//! extension plus a GREASE entry in `supported_versions` (neither changes what is offered);
//! established connections then carry 10–50 full-size application-data segments. Connections
//! are interleaved, `concurrency` at a time, and end with FIN both ways.
//!
//! Shared by `examples/gen_workload.rs`, `benches/pipeline.rs` and `tests/workload.rs`.

use super::packets::{Conn, PcapWriter};
use super::rng::Rng;
use hellowatch::capture::file::Savefile;
use hellowatch::wire::{self, TcpFlags};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;

/// One connection of a template: the payload "turns" in capture order.
#[derive(Clone, Debug)]
pub struct ConnTemplate {
    /// (sent by the client, bytes) in order; consecutive segments of one side are joined.
    pub turns: Vec<(bool, Vec<u8>)>,
    /// The handshake completed (a ServerHello was answered): bulk data follows.
    pub established: bool,
}

/// A client's connections in one capture, with that client's expected census entry.
#[derive(Clone, Debug)]
pub struct Template {
    /// Where it came from.
    pub name: String,
    /// Its connections.
    pub conns: Vec<ConnTemplate>,
    /// The client's expected entry (`hellos`, `offered_max`, …).
    pub truth: Value,
}

/// Generation parameters.
#[derive(Clone, Debug)]
pub struct Params {
    /// Connections to write (at least; whole groups are written).
    pub flows: usize,
    /// Distinct client addresses.
    pub clients: usize,
    /// Distinct server addresses.
    pub servers: usize,
    /// Connections in progress at once.
    pub concurrency: usize,
    /// Share of IPv6 clients, in percent.
    pub v6_percent: u64,
    /// Seed (the output is a function of it).
    pub seed: u64,
}

/// A connection seen in a template capture.
struct RawConn {
    key: (IpAddr, u16, IpAddr, u16),
    initiator: IpAddr,
    turns: Vec<(bool, Vec<u8>)>,
}

/// Loads templates from every capture in `dir` that has an expected file.
pub fn load_templates(dir: &Path) -> Vec<Template> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir.join("expected"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for exp_path in entries {
        let exp: Value = serde_json::from_slice(&std::fs::read(&exp_path).unwrap()).unwrap();
        let cap = dir.join(exp["capture"].as_str().unwrap());
        let Ok(file) = Savefile::open(&cap) else {
            continue;
        };
        // Connections in first-seen order, keyed by the endpoint pair; payload turns per side.
        let mut conns: Vec<RawConn> = Vec::new();
        file.for_each(|p| {
            let Ok(seg) = wire::decode(p.link, p.data) else {
                return;
            };
            let fwd = (seg.src, seg.sport, seg.dst, seg.dport);
            let rev = (seg.dst, seg.dport, seg.src, seg.sport);
            let syn = seg.flags.has(TcpFlags::SYN) && !seg.flags.has(TcpFlags::ACK);
            let idx = conns.iter().rposition(|c| c.key == fwd || c.key == rev);
            let idx = match idx {
                Some(i) if !syn => i,
                _ => {
                    if !syn && seg.payload.is_empty() {
                        return;
                    }
                    conns.push(RawConn {
                        key: fwd,
                        initiator: seg.src,
                        turns: Vec::new(),
                    });
                    conns.len() - 1
                }
            };
            if seg.payload.is_empty() {
                return;
            }
            let c = &mut conns[idx];
            let from_initiator = (seg.src, seg.sport) == (c.key.0, c.key.1);
            // Loopback captures are lossless and in order: join consecutive same-side payloads.
            match c.turns.last_mut() {
                Some((side, bytes)) if *side == from_initiator => {
                    bytes.extend_from_slice(seg.payload)
                }
                _ => c.turns.push((from_initiator, seg.payload.to_vec())),
            }
        });
        let Some(clients) = exp["clients"].as_object() else {
            continue;
        };
        for (ip, truth) in clients {
            let ip: IpAddr = ip.parse().unwrap();
            let mine: Vec<ConnTemplate> = conns
                .iter()
                .filter(|c| c.initiator == ip)
                .filter(|c| c.turns.first().is_some_and(|t| t.0))
                .map(|c| ConnTemplate {
                    established: c
                        .turns
                        .iter()
                        .filter(|t| !t.0)
                        .any(|t| t.1.first() == Some(&22))
                        && c.turns.len() >= 3,
                    turns: c.turns.clone(),
                })
                .collect();
            // Only groups where every connection starts with a client flight (the client in the
            // expected file initiated all of them) are usable.
            let expected_conns = truth["hellos"].as_u64().unwrap_or(0);
            if mine.is_empty() || expected_conns == 0 {
                continue;
            }
            out.push(Template {
                name: format!("{}:{ip}", cap.file_name().unwrap().to_string_lossy()),
                conns: mine,
                truth: truth.clone(),
            });
        }
    }
    out
}

/// Rewrites a client flight's first ClientHello: new random and session id, a GREASE
/// extension first, and a GREASE entry first in `supported_versions`. Returns the bytes
/// unchanged when the flight does not start with a single-record ClientHello.
pub fn rerandomise_client_hello(flight: &[u8], rng: &mut Rng) -> Vec<u8> {
    let rec_len = match flight {
        [22, 3, _, a, b, ..] => usize::from(*a) << 8 | usize::from(*b),
        _ => return flight.to_vec(),
    };
    if flight.len() < 5 + rec_len || flight.get(5) != Some(&1) {
        return flight.to_vec();
    }
    let msg = &flight[5..5 + rec_len];
    let hs_len = usize::from(msg[1]) << 16 | usize::from(msg[2]) << 8 | usize::from(msg[3]);
    if hs_len + 4 != msg.len() {
        return flight.to_vec(); // hello split over records: leave it as captured
    }
    let body = &msg[4..];
    let mut b = body.to_vec();
    rng.fill(&mut b[2..34]);
    let sid_len = usize::from(b[34]);
    rng.fill(&mut b[35..35 + sid_len]);
    let mut at = 35 + sid_len;
    let cs_len = usize::from(b[at]) << 8 | usize::from(b[at + 1]);
    at += 2 + cs_len;
    let comp_len = usize::from(b[at]);
    at += 1 + comp_len;
    if at + 2 > b.len() {
        return rebuild(flight, rec_len, &b);
    }
    // Rebuild the extension block.
    let g = 0x0a0a_u16 + 0x1010 * (rng.below(16) as u16);
    let mut exts = Vec::new();
    exts.extend_from_slice(&g.to_be_bytes());
    exts.extend_from_slice(&[0, 0]);
    let mut p = at + 2;
    while p + 4 <= b.len() {
        let ty = u16::from_be_bytes([b[p], b[p + 1]]);
        let len = usize::from(u16::from_be_bytes([b[p + 2], b[p + 3]]));
        let data = &b[p + 4..(p + 4 + len).min(b.len())];
        if ty == 43 && !data.is_empty() {
            let mut d = vec![data[0] + 2];
            d.extend_from_slice(&g.to_be_bytes());
            d.extend_from_slice(&data[1..]);
            exts.extend_from_slice(&ty.to_be_bytes());
            exts.extend_from_slice(&(d.len() as u16).to_be_bytes());
            exts.extend_from_slice(&d);
        } else {
            exts.extend_from_slice(&b[p..p + 4 + data.len()]);
        }
        p += 4 + len;
    }
    let mut nb = b[..at].to_vec();
    nb.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    nb.extend_from_slice(&exts);
    rebuild(flight, rec_len, &nb)
}

fn rebuild(flight: &[u8], rec_len: usize, body: &[u8]) -> Vec<u8> {
    let mut m = vec![
        1,
        (body.len() >> 16) as u8,
        (body.len() >> 8) as u8,
        body.len() as u8,
    ];
    m.extend_from_slice(body);
    let mut out = vec![22, 3, flight[2], (m.len() >> 8) as u8, m.len() as u8];
    out.extend_from_slice(&m);
    out.extend_from_slice(&flight[5 + rec_len..]);
    out
}

const MSS: usize = 1448;

/// One connection being written: its remaining packets.
struct Live {
    pkts: std::collections::VecDeque<Vec<u8>>,
}

fn connection(t: &ConnTemplate, c: IpAddr, s: IpAddr, cport: u16, rng: &mut Rng) -> Live {
    let (cisn, sisn) = (rng.next() as u32, rng.next() as u32);
    let mut conn = Conn::between((c, cport), (s, 443), cisn, sisn);
    let mut pkts = std::collections::VecDeque::new();
    pkts.push_back(conn.syn());
    pkts.push_back(conn.syn_ack());
    pkts.push_back(conn.ack(true));
    let mut first_client = true;
    let mut bulk = Vec::new();
    if t.established {
        let n = 10 + rng.below(41) as usize;
        for i in 0..n {
            let mut rec = vec![23, 3, 3, 0x05, 0xa3];
            let mut body = vec![0u8; MSS - 5];
            rng.fill(&mut body[..16]);
            rec.extend_from_slice(&body);
            bulk.push((i % 5 == 0, rec));
        }
    }
    for (from_client, bytes) in t.turns.iter().map(|(a, b)| (*a, b.clone())).chain(bulk) {
        let bytes = if from_client && first_client {
            first_client = false;
            rerandomise_client_hello(&bytes, rng)
        } else {
            bytes
        };
        for (i, chunk) in bytes.chunks(MSS).enumerate() {
            pkts.push_back(conn.data(from_client, chunk));
            if i % 2 == 1 {
                pkts.push_back(conn.ack(!from_client));
            }
        }
    }
    pkts.extend(conn.fins());
    conn.cseq = conn.cseq.wrapping_add(1);
    conn.sseq = conn.sseq.wrapping_add(1);
    pkts.push_back(conn.ack(true));
    Live { pkts }
}

fn add_truth(into: &mut Map<String, Value>, ip: IpAddr, t: &Value) {
    let e = into.entry(ip.to_string()).or_insert_with(|| json!({}));
    for k in ["hellos", "failed_handshakes"] {
        let n = e[k].as_u64().unwrap_or(0) + t[k].as_u64().unwrap_or(0);
        e[k] = json!(n);
    }
    for k in ["offered_max", "offered_versions", "negotiated", "alerts"] {
        let mut m: BTreeMap<String, u64> = serde_json::from_value(e[k].clone()).unwrap_or_default();
        if let Some(src) = t[k].as_object() {
            for (name, n) in src {
                *m.entry(name.clone()).or_default() += n.as_u64().unwrap_or(0);
            }
        }
        e[k] = serde_json::to_value(m).unwrap();
    }
}

/// Writes the workload; returns `{"clients": …, "connections": n, "packets": n}` (truth).
pub fn generate<W: Write>(templates: &[Template], p: &Params, out: W) -> (Value, W) {
    assert!(!templates.is_empty(), "no templates");
    let mut rng = Rng::new(p.seed);
    let clients: Vec<IpAddr> = (0..p.clients as u64)
        .map(|i| {
            if rng.below(100) < p.v6_percent {
                IpAddr::V6(std::net::Ipv6Addr::new(
                    0x2001,
                    0xdb8,
                    0,
                    0,
                    0,
                    0,
                    (i >> 16) as u16,
                    i as u16 | 1,
                ))
            } else {
                IpAddr::V4(std::net::Ipv4Addr::new(
                    10,
                    (i >> 16) as u8,
                    (i >> 8) as u8,
                    (i as u8) | 1,
                ))
            }
        })
        .collect();
    let servers_v4: Vec<IpAddr> = (0..p.servers as u32)
        .map(|i| IpAddr::V4(std::net::Ipv4Addr::new(192, 0, (i >> 8) as u8 | 2, i as u8)))
        .collect();
    let servers_v6: Vec<IpAddr> = (0..p.servers as u16)
        .map(|i| {
            IpAddr::V6(std::net::Ipv6Addr::new(
                0x2001,
                0xdb8,
                0xffff,
                0,
                0,
                0,
                0,
                i + 1,
            ))
        })
        .collect();
    let mut w = PcapWriter::new(out);
    let mut truth = Map::new();
    let mut active: Vec<Live> = Vec::new();
    let mut started = 0usize;
    let mut next_port: u16 = 20000;
    let mut ts_us: u64 = 1_700_000_000_000_000;
    loop {
        while active.len() < p.concurrency.max(1) && started < p.flows {
            let t = &templates[rng.below(templates.len() as u64) as usize];
            let client = clients[rng.below(clients.len() as u64) as usize];
            let server = match client {
                IpAddr::V4(_) => servers_v4[rng.below(servers_v4.len() as u64) as usize],
                IpAddr::V6(_) => servers_v6[rng.below(servers_v6.len() as u64) as usize],
            };
            add_truth(&mut truth, client, &t.truth);
            for ct in &t.conns {
                next_port = if next_port >= 60000 {
                    20000
                } else {
                    next_port + 1
                };
                active.push(connection(ct, client, server, next_port, &mut rng));
                started += 1;
            }
        }
        if active.is_empty() {
            break;
        }
        let i = rng.below(active.len() as u64) as usize;
        if let Some(f) = active[i].pkts.pop_front() {
            ts_us += 1 + f.len() as u64 / 100;
            w.frame(ts_us, &f);
        }
        if active[i].pkts.is_empty() {
            active.swap_remove(i);
        }
    }
    let (packets, bytes) = (w.packets, w.bytes);
    let out = w.finish();
    (
        json!({"clients": truth, "connections": started, "packets": packets, "bytes": bytes}),
        out,
    )
}
