//! Writes a benchmark workload pcap and its ground-truth census.
//!
//! ```text
//! cargo run --release --example gen_workload -- OUT.pcap FLOWS CLIENTS [CONCURRENCY] [SEED]
//! ```
//! writes `OUT.pcap` and `OUT.truth.json` (`{"clients": {ip: census entry}, ...}`, the same
//! shape as `hellowatch replay --format json`), from the templates in `captures/`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)]

#[path = "../tests/common/kit/mod.rs"]
mod kit;

use kit::workload;

use std::path::PathBuf;

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    if a.len() < 3 {
        eprintln!("usage: gen_workload OUT.pcap FLOWS CLIENTS [CONCURRENCY] [SEED]");
        std::process::exit(2);
    }
    let out = PathBuf::from(&a[0]);
    let params = workload::Params {
        flows: a[1].parse().unwrap(),
        clients: a[2].parse().unwrap(),
        servers: 400,
        concurrency: a.get(3).map_or(500, |s| s.parse().unwrap()),
        v6_percent: 10,
        seed: a.get(4).map_or(1, |s| s.parse().unwrap()),
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let templates = workload::load_templates(&root.join("captures"));
    let f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&out).unwrap());
    let (truth, _) = workload::generate(&templates, &params, f);
    let truth_path = out.with_extension("truth.json");
    std::fs::write(&truth_path, serde_json::to_vec_pretty(&truth).unwrap()).unwrap();
    eprintln!(
        "{}: {} connections, {} packets, {} bytes from {} templates; truth in {}",
        out.display(),
        truth["connections"],
        truth["packets"],
        truth["bytes"],
        templates.len(),
        truth_path.display()
    );
}
