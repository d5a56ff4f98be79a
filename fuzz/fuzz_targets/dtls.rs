//! `dtls::ConnParser` fed arbitrary datagrams in both directions (fragmented, repeated,
//! interleaved hellos): never panics, never holds more than its reassembly bound, and reports
//! the same events when the same datagrams are read again by a fresh parser.
#![no_main]

use hellowatch::dtls::reassembly::{MAX_MESSAGE_LEN, MAX_PENDING_MESSAGES};
use hellowatch::dtls::{ConnParser, Handler, Issue};
use hellowatch::tls::{Anomaly, ClientHello, ServerHello};
use libfuzzer_sys::fuzz_target;

#[derive(Default, PartialEq, Debug)]
struct Events(Vec<String>);

impl Handler for Events {
    fn client_hello(&mut self, dir: u8, ch: &ClientHello<'_>) {
        self.0.push(format!("ch {dir} {:?}", ch.offered().as_slice()));
    }
    fn server_hello(&mut self, dir: u8, sh: &ServerHello) {
        self.0.push(format!("sh {dir} {:?} {}", sh.version, sh.is_hrr));
    }
    fn alert(&mut self, dir: u8, level: u8, description: u8) {
        self.0.push(format!("alert {dir} {level} {description}"));
    }
    fn anomaly(&mut self, a: Anomaly) {
        self.0.push(format!("anomaly {a:?}"));
    }
    fn issue(&mut self, i: Issue) {
        self.0.push(format!("issue {i:?}"));
    }
}

/// Datagrams: `[dir, len, bytes…]` repeated.
fn datagrams(mut data: &[u8]) -> Vec<(u8, &[u8])> {
    let mut out = Vec::new();
    while let [dir, len, rest @ ..] = data {
        let n = usize::from(*len).min(rest.len());
        out.push((dir & 1, &rest[..n]));
        data = &rest[n..];
    }
    out
}

fn run(dgs: &[(u8, &[u8])]) -> Events {
    let mut p = ConnParser::new();
    let mut scratch = Vec::new();
    let mut ev = Events::default();
    for (dir, d) in dgs {
        p.datagram(*dir, d, &mut scratch, &mut ev);
        assert!(p.buffered() <= MAX_PENDING_MESSAGES * MAX_MESSAGE_LEN);
    }
    ev
}

fuzz_target!(|data: &[u8]| {
    let dgs = datagrams(data);
    assert_eq!(run(&dgs), run(&dgs));
});
