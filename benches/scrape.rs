//! Scrape cost of `/metrics` by number of legacy clients with per-client series: rendering the
//! exposition, and a whole HTTP scrape through the server. Each client has 6 per-client
//! samples (hellos for two versions, one negotiated version, failed handshakes, one alert,
//! last seen), so 17 clients ≈ 100 per-client series and 1,667 ≈ 10,000.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::unreachable
)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hellowatch::flow::ConnSummary;
use hellowatch::metrics::clients::ClientConfig;
use hellowatch::metrics::http::MetricsServer;
use hellowatch::metrics::{Metrics, MetricsConfig};
use hellowatch::tls::facts::{Direction, HelloFacts};
use hellowatch::tls::{Version, VersionList};
use std::net::{IpAddr, Ipv4Addr};

fn hello(v: Version) -> HelloFacts {
    let mut offered = VersionList::default();
    offered.push(v);
    HelloFacts::with_offered(offered, v)
}

/// Metrics holding `clients` legacy clients.
fn metrics(clients: u32) -> Metrics {
    let m = Metrics::new(MetricsConfig {
        clients: ClientConfig {
            max_clients: clients as usize,
            ..ClientConfig::default()
        },
        ..MetricsConfig::default()
    });
    for i in 0..clients {
        let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
        let t = 1_700_000_000_000_000_000 + u64::from(i);
        m.record(&ConnSummary {
            client: Some(ip),
            hellos: vec![hello(Version::TLS10)],
            negotiated: Some(Version::TLS10),
            last_seen_ns: t,
            ..ConnSummary::default()
        });
        m.record(&ConnSummary {
            client: Some(ip),
            hellos: vec![hello(Version::TLS12)],
            alerts: vec![(70, Direction::FromServer)],
            last_seen_ns: t,
            ..ConnSummary::default()
        });
    }
    assert_eq!(m.client_series(), clients as usize);
    m
}

fn per_client_samples(text: &str) -> usize {
    text.lines()
        .filter(|l| !l.starts_with('#') && l.contains("client=\""))
        .count()
}

fn scrape(c: &mut Criterion) {
    let mut g = c.benchmark_group("scrape");
    g.sample_size(20);
    for clients in [17u32, 100, 1_667, 10_000] {
        let m = metrics(clients);
        let series = per_client_samples(&m.encode_openmetrics());
        eprintln!("{clients} clients: {series} per-client series");
        g.throughput(Throughput::Elements(series as u64));
        g.bench_with_input(BenchmarkId::new("encode", clients), &m, |b, m| {
            b.iter(|| m.encode_openmetrics().len())
        });
        let server = MetricsServer::start("127.0.0.1:0".parse().unwrap(), m.clone()).unwrap();
        let url = format!("http://{}/metrics", server.local_addr());
        let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
        g.bench_with_input(BenchmarkId::new("http", clients), &url, |b, url| {
            b.iter(|| {
                agent
                    .get(url)
                    .header("Accept", "application/openmetrics-text;version=1.0.0")
                    .call()
                    .unwrap()
                    .body_mut()
                    .read_to_string()
                    .unwrap()
                    .len()
            })
        });
        server.stop();
    }
    g.finish();
}

criterion_group!(benches, scrape);
criterion_main!(benches);
