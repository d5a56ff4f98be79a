//! The SSLv2 record parsers (`tls::sslv2`): never panic; a parsed message's length is within
//! the input, and an incomplete answer stays incomplete for every shorter prefix.
#![no_main]

use hellowatch::tls::sslv2::{V2, parse_client_hello, parse_server_hello};
use hellowatch_fuzz::within;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse_client_hello(data) {
        V2::Yes(ch, n) => {
            assert!(n <= data.len() && n >= 11);
            assert!(within(data, ch.cipher_suites) && ch.sslv2_format);
            assert_eq!(ch.cipher_suites.len() % 3, 0);
            // A complete message is complete in any longer buffer, and not in a shorter one.
            assert!(!matches!(parse_client_hello(&data[..n - 1]), V2::Yes(..)));
        }
        V2::Incomplete | V2::No => {}
    }
    if let V2::Yes(sh, n) = parse_server_hello(data) {
        assert!(n <= data.len() && n >= 13);
        assert!(sh.sslv2_format && !sh.is_hrr);
    }
});
