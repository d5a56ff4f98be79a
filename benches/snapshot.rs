//! Cost of one durable-census snapshot (`--state`, live `--output`) by number of clients: the
//! report of the census (merged with a resumed one) and its atomic write (temporary file,
//! fsync, rename, directory fsync) to a file in the system temporary directory. Each client
//! has two connections (a TLS 1.0 and a TLS 1.2 one, an alert, a JA4 of the legacy hello).
//!
//! `cargo bench --bench snapshot` (the figure for 100,000 clients is in docs/performance.md).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::unreachable
)]

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use hellowatch::engine::Counters;
use hellowatch::flow::ConnSummary;
use hellowatch::report::ReportOptions;
use hellowatch::state::Durable;
use hellowatch::tally::Census;
use hellowatch::tls::facts::{Direction, HelloFacts};
use hellowatch::tls::{Version, VersionList};
use std::net::{IpAddr, Ipv4Addr};

fn hello(v: Version) -> HelloFacts {
    let mut offered = VersionList::default();
    offered.push(v);
    HelloFacts::with_offered(offered, v)
}

/// A census of `clients` clients.
fn census(clients: u32) -> Census {
    let mut c = Census::default();
    for i in 0..clients {
        let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
        let t = 1_700_000_000_000_000_000 + u64::from(i);
        c.add(&ConnSummary {
            client: Some(ip),
            hellos: vec![hello(Version::TLS10)],
            negotiated: Some(Version::TLS10),
            first_seen_ns: t,
            last_seen_ns: t,
            ..ConnSummary::default()
        });
        c.add(&ConnSummary {
            client: Some(ip),
            hellos: vec![hello(Version::TLS12)],
            alerts: vec![(70, Direction::FromServer)],
            first_seen_ns: t,
            last_seen_ns: t,
            ..ConnSummary::default()
        });
    }
    c
}

fn bench(cr: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut g = cr.benchmark_group("snapshot");
    g.sample_size(10);
    for clients in [1_000u32, 100_000] {
        let c = census(clients);
        let counters = Counters::default();
        let input = hellowatch::capture::InputSummary::default();
        let path = dir.path().join(format!("state-{clients}.json"));
        // Resumed from a state file holding the same census: the restart case, the dearer one.
        let fresh = Durable::open(Some(&path), None, ReportOptions::default(), 1_000_000).unwrap();
        fresh.save(&fresh.report(&c, &counters, &input)).unwrap();
        let d = Durable::open(Some(&path), None, ReportOptions::default(), 1_000_000).unwrap();
        assert!(d.resumed());
        g.bench_with_input(BenchmarkId::new("report_and_write", clients), &c, |b, c| {
            b.iter(|| d.save(&d.report(c, &counters, &input)).unwrap());
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
