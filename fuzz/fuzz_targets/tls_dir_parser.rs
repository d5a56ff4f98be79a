//! `DirParser::feed` on one direction's bytes, fed in arbitrary chunks with ChangeCipherSpec
//! answers from the input: never panics, consumes no more than it is given, and reports the
//! same events however the stream is chunked (the census must not depend on TCP segmentation).
#![no_main]

use hellowatch_fuzz::{DirInput, Gen, Recorder, feed_chunked};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = DirInput::parse(data);
    let mut whole = Recorder::new(input.answers);
    let a = feed_chunked(input.stream, || usize::MAX, &mut whole);
    let mut sizes = Gen::new(u64::from(input.chunking) << 32 | input.stream.len() as u64);
    let chunking = input.chunking;
    let mut pieces = Recorder::new(input.answers);
    let b = feed_chunked(
        input.stream,
        || {
            if chunking == 0 {
                1
            } else {
                sizes.upto(chunking)
            }
        },
        &mut pieces,
    );
    assert_eq!(whole.events, pieces.events);
    assert_eq!(a.stopped(), b.stopped());
});
