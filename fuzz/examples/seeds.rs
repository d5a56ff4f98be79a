//! Seed corpora for the fuzz targets, extracted from real captures with hellowatch's own
//! reader, decoder and reassembler:
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --example seeds -- fuzz/corpus CAPTURE_OR_DIR…
//! ```
//!
//! Writes `fuzz/corpus/<target>/<hash>` files (deduplicated by content): whole captures (or
//! their first 64 KiB) for `savefile` and `engine`, frames for `decode`, per-direction
//! segment sequences for `reassembly`, reassembled streams for `tls_dir_parser`, hello bodies
//! for `client_hello`, SSLv2 records for `sslv2`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // a dev tool

use hellowatch::capture::file::for_each_packet_in;
use hellowatch::flow::reassembly::Stream;
use hellowatch::wire::{self, TcpFlags};
use hellowatch_fuzz::{DirInput, Op, encode_op, link_byte};
use std::collections::{BTreeMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Largest capture seed; larger captures contribute their first this many bytes.
const MAX_FILE_SEED: usize = 64 * 1024;
/// Frames taken per capture for `decode`.
const MAX_FRAMES_PER_FILE: usize = 64;
/// Segments kept per direction.
const MAX_SEGS_PER_DIR: usize = 64;
/// Stream bytes kept per direction.
const MAX_STREAM_SEED: usize = 16 * 1024;

struct Writer {
    root: PathBuf,
    seen: HashSet<u64>,
    counts: BTreeMap<&'static str, usize>,
}

impl Writer {
    fn put(&mut self, target: &'static str, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let mut h = DefaultHasher::new();
        (target, bytes).hash(&mut h);
        let id = h.finish();
        if !self.seen.insert(id) {
            return;
        }
        let dir = self.root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{id:016x}")), bytes).unwrap();
        *self.counts.entry(target).or_default() += 1;
    }
}

#[derive(Default)]
struct Dir {
    isn: Option<u32>,
    segs: Vec<(u32, Vec<u8>)>,
}

type DirKey = (IpAddr, u16, IpAddr, u16);

fn captures(inputs: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in inputs {
        if p.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(p)
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .filter(|f| {
                    matches!(
                        f.extension().and_then(|e| e.to_str()),
                        Some("pcap" | "pcapng" | "cap")
                    )
                })
                .collect();
            v.sort();
            out.extend(v);
        } else if p.is_file() {
            out.push(p.clone());
        }
    }
    out
}

/// Handshake message bodies `(type, body)` of the TLS records at the start of `stream`.
fn hello_bodies(stream: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut hs = Vec::new();
    let mut at = 0;
    while at + 5 <= stream.len() && stream[at] == 22 && stream[at + 1] == 3 {
        let len = usize::from(u16::from_be_bytes([stream[at + 3], stream[at + 4]]));
        let Some(p) = stream.get(at + 5..at + 5 + len) else {
            break;
        };
        hs.extend_from_slice(p);
        at += 5 + len;
    }
    let mut out = Vec::new();
    let mut m = 0;
    while m + 4 <= hs.len() {
        let len =
            usize::from(hs[m + 1]) << 16 | usize::from(hs[m + 2]) << 8 | usize::from(hs[m + 3]);
        let Some(body) = hs.get(m + 4..m + 4 + len) else {
            break;
        };
        if matches!(hs[m], 1 | 2) {
            out.push((hs[m], body.to_vec()));
        }
        m += 4 + len;
    }
    out
}

fn from_capture(w: &mut Writer, path: &Path) {
    let Ok(bytes) = std::fs::read(path) else {
        return;
    };
    let head = &bytes[..bytes.len().min(MAX_FILE_SEED)];
    w.put("savefile", head);
    w.put("engine", head);
    let mut frames = 0;
    let mut dirs: BTreeMap<DirKey, Dir> = BTreeMap::new();
    let mut decode_seeds = Vec::new();
    let _ = for_each_packet_in(&bytes, |p| {
        if let Some(b) = link_byte(p.link).filter(|_| frames < MAX_FRAMES_PER_FILE) {
            let mut s = vec![b];
            s.extend_from_slice(p.data);
            decode_seeds.push(s);
            frames += 1;
        }
        if let Ok(seg) = wire::decode(p.link, p.data) {
            let d = dirs
                .entry((seg.src, seg.sport, seg.dst, seg.dport))
                .or_default();
            if seg.flags.has(TcpFlags::SYN) {
                d.isn = Some(seg.seq);
            }
            if !seg.payload.is_empty() && d.segs.len() < MAX_SEGS_PER_DIR {
                let seq = if seg.flags.has(TcpFlags::SYN) {
                    seg.seq.wrapping_add(1)
                } else {
                    seg.seq
                };
                d.segs.push((seq, seg.payload.to_vec()));
            }
        }
    });
    for s in decode_seeds {
        w.put("decode", &s);
    }
    for d in dirs.values() {
        if d.segs.is_empty() {
            continue;
        }
        let mut ops = vec![0xff];
        if let Some(isn) = d.isn {
            encode_op(&mut ops, Op::Syn(isn));
        }
        let mut s = Stream::default();
        if let Some(isn) = d.isn {
            s.syn(isn);
        }
        for (seq, data) in &d.segs {
            if ops.len() < MAX_STREAM_SEED {
                encode_op(
                    &mut ops,
                    Op::Push {
                        seq: *seq,
                        data,
                        can_rebase: true,
                    },
                );
            }
            s.push(*seq, data, 64 * 1024, true);
        }
        w.put("reassembly", &ops);
        let stream = &s.data()[..s.data().len().min(MAX_STREAM_SEED)];
        if stream.is_empty() {
            continue;
        }
        w.put("tls_dir_parser", &DirInput::encode(&[1, 0, 2], 0, stream));
        w.put("tls_dir_parser", &DirInput::encode(&[2], 9, stream));
        for (_, body) in hello_bodies(stream) {
            w.put("client_hello", &body);
        }
        if stream[0] & 0x80 != 0 {
            let len =
                (usize::from(stream[0] & 0x7f) << 8) | usize::from(*stream.get(1).unwrap_or(&0));
            w.put("sslv2", &stream[..stream.len().min(2 + len)]);
        }
    }
}

fn main() {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let Some((out, inputs)) = args.split_first() else {
        eprintln!("usage: seeds OUT_DIR CAPTURE_OR_DIR…");
        std::process::exit(2);
    };
    let mut w = Writer {
        root: out.clone(),
        seen: HashSet::new(),
        counts: BTreeMap::new(),
    };
    let files = captures(inputs);
    for f in &files {
        from_capture(&mut w, f);
    }
    println!("seeds from {} captures: {:?}", files.len(), w.counts);
}
