//! Criterion benchmarks: decode, TLS extraction, reassembly, and the whole replay pipeline on
//! the small generated workload with 1 and 2 workers (throughput in packets/s or bytes/s).
//!
//! `cargo bench` runs them; CI only builds them (`cargo bench --no-run`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    clippy::indexing_slicing,
    clippy::unreachable
)]

#[path = "../tests/common/kit/mod.rs"]
mod kit;

use kit::workload;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hellowatch::capture::file::Savefile;
use hellowatch::engine::EngineConfig;
use hellowatch::flow::reassembly::{DEFAULT_STREAM_CAP, Stream};
use hellowatch::tls::{Anomaly, CcsMeaning, ClientHello, DirParser, Handler, ServerHello};
use hellowatch::wire::{self, LinkType};
use std::hint::black_box;
use std::path::PathBuf;

fn small_workload() -> PathBuf {
    let path = std::env::temp_dir().join("hellowatch-bench-small.pcap");
    if !path.exists() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let templates = workload::load_templates(&root.join("captures"));
        let params = workload::Params {
            flows: 2000,
            clients: 200,
            servers: 40,
            concurrency: 200,
            v6_percent: 10,
            seed: 7,
        };
        let f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        workload::generate(&templates, &params, f);
    }
    path
}

fn frames(path: &std::path::Path) -> Vec<(LinkType, Vec<u8>)> {
    let f = Savefile::open(path).unwrap();
    let mut v = Vec::new();
    f.for_each(|p| v.push((p.link, p.data.to_vec())));
    v
}

struct Quiet(u64);
impl Handler for Quiet {
    fn client_hello(&mut self, ch: &ClientHello<'_>) {
        self.0 += u64::from(ch.offered_max().map_or(0, |v| v.0));
    }
    fn server_hello(&mut self, sh: &ServerHello) {
        self.0 += u64::from(sh.version.0);
    }
    fn alert(&mut self, _: u8, d: u8) {
        self.0 += u64::from(d);
    }
    fn anomaly(&mut self, _: Anomaly) {}
    fn ccs(&mut self) -> CcsMeaning {
        CcsMeaning::Encrypted
    }
}

fn benches(c: &mut Criterion) {
    let path = small_workload();
    let all = frames(&path);

    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(all.len() as u64));
    g.bench_function("wire::decode", |b| {
        b.iter(|| {
            let mut n = 0u64;
            for (link, f) in &all {
                if let Ok(s) = wire::decode(*link, f) {
                    n += u64::from(s.sport);
                }
            }
            black_box(n)
        })
    });
    g.finish();

    // Client flights: the first payload of each connection from the workload's templates.
    let templates =
        workload::load_templates(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("captures"));
    let flights: Vec<Vec<u8>> = templates
        .iter()
        .flat_map(|t| t.conns.iter().map(|c| c.turns[0].1.clone()))
        .collect();
    let mut g = c.benchmark_group("tls");
    g.throughput(Throughput::Elements(flights.len() as u64));
    g.bench_function("client flight extraction", |b| {
        b.iter(|| {
            let mut h = Quiet(0);
            for f in &flights {
                let mut p = DirParser::new();
                p.feed(f, &mut h);
            }
            black_box(h.0)
        })
    });
    g.finish();

    let big: Vec<u8> = flights.iter().max_by_key(|f| f.len()).unwrap().clone();
    let mut g = c.benchmark_group("reassembly");
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.bench_function("reverse-order 100-byte segments", |b| {
        b.iter(|| {
            let mut s = Stream::default();
            s.syn(0);
            let chunks: Vec<(usize, &[u8])> = big.chunks(100).enumerate().collect();
            for (i, ch) in chunks.iter().rev() {
                s.push(1 + (*i as u32) * 100, ch, DEFAULT_STREAM_CAP, true);
            }
            black_box(s.data().len())
        })
    });
    g.finish();

    let files = vec![Savefile::open(&path).unwrap()];
    let mut g = c.benchmark_group("replay");
    g.sample_size(10);
    g.throughput(Throughput::Elements(all.len() as u64));
    for workers in [1usize, 2] {
        g.bench_function(format!("{workers} worker(s)"), |b| {
            b.iter(|| {
                let out = hellowatch::run::replay(
                    &files,
                    EngineConfig::default(),
                    workers,
                    |_| (),
                    &mut |_| {},
                    None,
                );
                black_box(out.census.totals.hellos)
            })
        });
    }
    g.finish();
}

criterion_group!(all, benches);
criterion_main!(all);
