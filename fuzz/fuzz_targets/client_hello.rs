//! The hello parsers (`tls::hello::parse_client_hello` / `parse_server_hello`) on a handshake
//! body: never panic; what they return borrows from the body and respects its bounds.
#![no_main]

use hellowatch::tls::hello::{
    MAX_OFFERED_VERSIONS, MAX_SNI_LEN, parse_client_hello, parse_server_hello,
};
use hellowatch_fuzz::within;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(ch) = parse_client_hello(data, |_| {}) {
        let offered = ch.offered();
        assert!(offered.as_slice().len() <= MAX_OFFERED_VERSIONS);
        // GREASE is removed from supported_versions; a legacy version is taken as sent.
        if ch.supported_versions.is_some() {
            assert!(offered.as_slice().iter().all(|v| !v.is_grease()));
        }
        assert_eq!(ch.offered_max(), offered.as_slice().iter().copied().max());
        assert!(within(data, ch.cipher_suites) && within(data, ch.extensions));
        assert!(
            ch.sni
                .is_none_or(|s| s.len() <= MAX_SNI_LEN && within(data, s))
        );
        assert!(ch.alpn.is_none_or(|a| within(data, a)));
        assert!(!ch.sslv2_format);
    }
    if let Ok(sh) = parse_server_hello(data, |_| {}) {
        assert!(data.len() >= 34);
        assert_eq!(u16::from_be_bytes([data[0], data[1]]), sh.legacy_version.0);
    }
});
