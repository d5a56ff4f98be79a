//! `wire::decode` over every link type: never panics, and a decoded segment's payload lies
//! inside the frame.
#![no_main]

use hellowatch_fuzz::{link_of, within};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, frame)) = data.split_first() else {
        return;
    };
    if let Ok(seg) = hellowatch::wire::decode(link_of(sel), frame) {
        assert!(within(frame, seg.payload));
    }
});
