//! The whole per-worker path (`Engine::packet` → flow table → reassembly → TLS → census, then
//! `finish`) on the packets of an arbitrary pcap/pcapng input, with small limits so eviction,
//! caps and expiry are reached: never panics, settles every connection, counts consistently.
#![no_main]

use hellowatch::capture::file::for_each_packet_in;
use hellowatch::engine::{Engine, EngineConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut e = Engine::new(EngineConfig {
        max_flows: 8,
        idle_timeout_ns: 3_000_000_000,
        stream_cap: 2048,
        max_clients: 4,
        max_servers: 4,
        max_buffered: 16 * 1024,
        max_udp_flows: 8,
    });
    let mut fed = 0u64;
    let _ = for_each_packet_in(data, |p| {
        fed += 1;
        e.packet(p.ts_ns, p.link, p.data, &mut ());
        // 8 TCP connections and 8 UDP ones (DTLS, QUIC).
        assert!(e.flows() <= 16);
    });
    e.finish(&mut ());
    assert_eq!(e.flows(), 0);
    assert_eq!(
        e.buffered(),
        0,
        "every buffered byte is accounted for and released"
    );
    let k = e.counters();
    assert_eq!(k.packets, fed);
    // Every packet is a TCP segment, a datagram read on a DTLS or QUIC connection, or not
    // decoded (a datagram no connection reads counts as `not_tcp`).
    assert!(k.tcp_segments + k.udp_datagrams + k.decode_errors.iter().sum::<u64>() == k.packets);
    let c = e.census();
    assert!(c.clients.len() <= 4);
    let per_client: u64 = c.clients.values().map(|t| t.hellos).sum();
    assert!(per_client <= c.totals.hellos);
    assert!(c.connections <= k.flows_created);
});
