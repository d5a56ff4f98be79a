//! `flow::reassembly::Stream` fed arbitrary (seq, bytes) sequences, SYNs and consumes: never
//! panics, never holds more than its cap, keeps its out-of-order pieces sorted and disjoint.
#![no_main]

use hellowatch_fuzz::{parse_ops, run_ops};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (cap, ops) = parse_ops(data);
    run_ops(cap, &ops);
});
