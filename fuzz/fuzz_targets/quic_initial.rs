//! `quic::Conn` fed datagrams, raw or protected by the harness with real Initial keys (see
//! `run_quic`): Initial decryption, frame walk and CRYPTO reassembly never panic, and the bytes
//! handed on match what the connection says it delivered, within its cap.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| hellowatch_fuzz::run_quic(data));
