//! The benchmark workload generator's ground truth (from `captures/expected`, tshark-derived)
//! equals hellowatch's census of the generated capture, for 1 and 2 workers: this checks the
//! generator and, at scale, the whole replay path with GREASE, re-randomised hellos, IPv6,
//! interleaving and bulk data.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)]

mod common;

use common::kit::workload;

#[test]
fn generated_workload_census_equals_its_ground_truth() {
    let templates = workload::load_templates(&common::root().join("captures"));
    assert!(templates.len() >= 8, "only {} templates", templates.len());
    let params = workload::Params {
        flows: 3000,
        clients: 150,
        servers: 20,
        concurrency: 200,
        v6_percent: 10,
        seed: 42,
    };
    let path = common::tmp("workload.pcap");
    let f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let (truth, _) = workload::generate(&templates, &params, f);
    for w in ["1", "2"] {
        let got = common::replay_json(&[&path], &["--workers", w]);
        let d = common::diff(&truth["clients"], &got["clients"]);
        assert!(
            d.is_empty(),
            "--workers {w}: {} differences, first: {:?}",
            d.len(),
            &d[..d.len().min(10)]
        );
        assert_eq!(got["input"]["packets"], truth["packets"]);
    }
    let _ = std::fs::remove_file(&path);
}
