//! The savefile reader (`capture::file::for_each_packet_in`) on arbitrary pcap/pcapng bytes:
//! never panics, lends packets from the input, and keeps its warnings bounded.
#![no_main]

use hellowatch::capture::file::{MAX_CAPLEN, MAX_WARNINGS, for_each_packet_in};
use hellowatch_fuzz::within;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut n = 0u64;
    let mut bytes = 0u64;
    if let Ok(st) = for_each_packet_in(data, |p| {
        assert!(within(data, p.data));
        assert!(p.data.len() <= data.len());
        n += 1;
        bytes += p.data.len() as u64;
    }) {
        assert_eq!((st.packets, st.bytes), (n, bytes));
        assert!(st.warnings.len() <= MAX_WARNINGS + 1);
        let _ = MAX_CAPLEN;
    }
});
