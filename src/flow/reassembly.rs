//! Reassembly of the first bytes of one direction of a TCP stream.
//!
//! Segments are placed by sequence number: exact and overlapping retransmissions are trimmed
//! (the first copy of a byte wins; a retransmission that disagrees with bytes still held is
//! counted as a conflict), out-of-order segments wait in a bounded list, and only contiguous
//! bytes are handed to the parser. When the capture starts mid-stream (no SYN), the stream
//! starts at the first byte seen, and may move back while nothing has been parsed yet (an
//! earlier segment captured after a later one).
//!
//! Bounded: at most `cap` bytes per direction are ever accepted ([`DEFAULT_STREAM_CAP`]) and
//! at most [`MAX_OOO_SEGMENTS`] segments wait out of order.

/// Default number of stream bytes buffered per direction (enough for any ClientHello and a
/// large server flight up to its ServerHello and alerts).
pub const DEFAULT_STREAM_CAP: usize = 64 * 1024;

/// Out-of-order segments held per direction; more are dropped and counted as gaps.
pub const MAX_OOO_SEGMENTS: usize = 32;

/// Signed distance `a - b` in sequence space.
#[inline]
fn diff(a: u32, b: u32) -> i64 {
    i64::from(a.wrapping_sub(b) as i32)
}

/// What pushing a segment did.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Pushed {
    /// New contiguous bytes are available.
    pub new_data: bool,
    /// Bytes were refused because the per-direction cap was reached.
    pub capped: bool,
    /// An out-of-order segment was dropped (list full).
    pub gap: bool,
    /// Retransmitted bytes differed from the ones kept.
    pub conflict: bool,
    /// The whole segment was already seen.
    pub duplicate: bool,
}

/// One direction's reassembly state.
#[derive(Debug, Default)]
pub struct Stream {
    started: bool,
    syn_seen: bool,
    /// Sequence number of `buf[0]`.
    base: u32,
    /// Contiguous bytes not yet consumed by the parser.
    buf: Vec<u8>,
    /// Waiting out-of-order segments `(seq, bytes)`.
    ooo: Vec<(u32, Vec<u8>)>,
    /// Bytes accepted in order so far (held or consumed).
    accepted: usize,
}

impl Stream {
    /// The contiguous, unconsumed bytes.
    pub fn data(&self) -> &[u8] {
        &self.buf
    }

    /// Drops the first `n` bytes (consumed by the parser).
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.buf.len());
        self.buf.drain(..n);
        #[allow(clippy::cast_possible_truncation)] // n ≤ cap, far below 2^32
        {
            self.base = self.base.wrapping_add(n as u32);
        }
    }

    /// Frees the buffers (the direction needs no more bytes).
    pub fn release(&mut self) {
        self.buf = Vec::new();
        self.ooo = Vec::new();
    }

    /// Out-of-order segments still waiting (a hole never filled).
    pub fn has_hole(&self) -> bool {
        !self.ooo.is_empty()
    }

    /// Sequence number of the next expected byte.
    fn next(&self) -> u32 {
        #[allow(clippy::cast_possible_truncation)] // buf.len() ≤ cap
        self.base.wrapping_add(self.buf.len() as u32)
    }

    /// A SYN (or SYN-ACK) with initial sequence number `isn`.
    pub fn syn(&mut self, isn: u32) {
        if !self.started || (!self.syn_seen && self.accepted == 0) {
            self.started = true;
            self.syn_seen = true;
            self.base = isn.wrapping_add(1);
        }
    }

    /// Adds a data segment. `can_rebase`: nothing has been parsed yet, so an earlier segment
    /// without a SYN may move the stream start back.
    pub fn push(&mut self, seq: u32, data: &[u8], cap: usize, can_rebase: bool) -> Pushed {
        let mut out = Pushed::default();
        if data.is_empty() {
            return out;
        }
        if !self.started {
            self.started = true;
            self.base = seq;
        }
        if !self.syn_seen && can_rebase && diff(seq, self.base) < 0 {
            // An earlier part of a stream we joined late: start over from it.
            let old = std::mem::take(&mut self.buf);
            if !old.is_empty() {
                self.ooo.push((self.base, old));
            }
            self.accepted = 0;
            self.base = seq;
        }
        self.place(seq, data, cap, &mut out);
        if out.new_data {
            self.drain_ooo(cap, &mut out);
        }
        out
    }

    /// Places one segment relative to the next expected byte.
    fn place(&mut self, seq: u32, data: &[u8], cap: usize, out: &mut Pushed) {
        let next = self.next();
        let ahead = diff(seq, next);
        if ahead > 0 {
            self.hold(seq, data, cap, out);
            return;
        }
        // Overlaps what we have: compare the part still held, append the rest.
        let skip = usize::try_from(-ahead).unwrap_or(usize::MAX);
        if skip >= data.len() {
            out.duplicate = true;
            self.check_conflict(seq, data, out);
            return;
        }
        if skip > 0 {
            self.check_conflict(seq, data.get(..skip).unwrap_or(&[]), out);
        }
        let fresh = data.get(skip..).unwrap_or(&[]);
        let room = cap.saturating_sub(self.accepted);
        let take = fresh.len().min(room);
        if take < fresh.len() {
            out.capped = true;
        }
        if take > 0 {
            self.buf.extend_from_slice(fresh.get(..take).unwrap_or(&[]));
            self.accepted += take;
            out.new_data = true;
        }
    }

    /// Keeps an out-of-order segment, bounded.
    fn hold(&mut self, seq: u32, data: &[u8], cap: usize, out: &mut Pushed) {
        if self
            .ooo
            .iter()
            .any(|(s, d)| *s == seq && d.len() >= data.len())
        {
            out.duplicate = true;
            return;
        }
        let held: usize = self.ooo.iter().map(|(_, d)| d.len()).sum();
        if self.ooo.len() >= MAX_OOO_SEGMENTS || self.accepted + held + data.len() > cap {
            out.gap = true;
            return;
        }
        self.ooo.push((seq, data.to_vec()));
    }

    /// Appends every held segment that has become contiguous.
    fn drain_ooo(&mut self, cap: usize, out: &mut Pushed) {
        loop {
            let next = self.next();
            let Some(i) = self.ooo.iter().position(|(s, _)| diff(*s, next) <= 0) else {
                return;
            };
            let (seq, data) = self.ooo.swap_remove(i);
            let before = out.new_data;
            self.place(seq, &data, cap, out);
            out.new_data |= before;
            if out.capped {
                return;
            }
        }
    }

    /// Compares retransmitted bytes with the ones still held.
    fn check_conflict(&self, seq: u32, data: &[u8], out: &mut Pushed) {
        let off = diff(seq, self.base);
        let Ok(off) = usize::try_from(off) else {
            return; // already consumed: cannot compare
        };
        if let Some(held) = self.buf.get(off..) {
            let n = held.len().min(data.len());
            if held.get(..n) != data.get(..n) {
                out.conflict = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAP: usize = DEFAULT_STREAM_CAP;

    #[test]
    fn in_order_after_syn() {
        let mut s = Stream::default();
        s.syn(99);
        assert!(s.push(100, b"abc", CAP, true).new_data);
        assert!(s.push(103, b"def", CAP, true).new_data);
        assert_eq!(s.data(), b"abcdef");
    }

    #[test]
    fn out_of_order_then_fill() {
        let mut s = Stream::default();
        s.syn(0);
        assert!(!s.push(4, b"def", CAP, true).new_data);
        assert!(s.has_hole());
        assert!(s.push(1, b"abc", CAP, true).new_data);
        assert_eq!(s.data(), b"abcdef");
        assert!(!s.has_hole());
    }

    #[test]
    fn exact_and_overlapping_retransmissions() {
        let mut s = Stream::default();
        s.syn(0);
        s.push(1, b"abcd", CAP, true);
        let r = s.push(1, b"abcd", CAP, true);
        assert!(r.duplicate && !r.new_data && !r.conflict);
        let r = s.push(3, b"cdEF", CAP, true);
        assert!(r.new_data && !r.conflict);
        assert_eq!(s.data(), b"abcdEF");
        let r = s.push(2, b"XY", CAP, true);
        assert!(r.conflict && r.duplicate);
        assert_eq!(s.data(), b"abcdEF", "first copy wins");
    }

    #[test]
    fn one_byte_segments_in_reverse_order() {
        let mut s = Stream::default();
        s.syn(1000);
        let msg = b"0123456789abcdef";
        for i in (1..msg.len()).rev() {
            s.push(1001 + i as u32, &msg[i..i + 1], CAP, true);
        }
        assert!(s.data().is_empty());
        s.push(1001, &msg[..1], CAP, true);
        assert_eq!(s.data(), msg);
    }

    #[test]
    fn consumed_bytes_move_the_base() {
        let mut s = Stream::default();
        s.syn(0);
        s.push(1, b"abcdef", CAP, true);
        s.consume(4);
        assert_eq!(s.data(), b"ef");
        assert!(s.push(7, b"gh", CAP, false).new_data);
        assert_eq!(s.data(), b"efgh");
        assert!(s.push(1, b"abcdef", CAP, false).duplicate);
    }

    #[test]
    fn sequence_wraparound() {
        let mut s = Stream::default();
        s.syn(u32::MAX - 1);
        s.push(u32::MAX, b"ab", CAP, true);
        s.push(1, b"cd", CAP, true);
        assert_eq!(s.data(), b"abcd");
    }

    #[test]
    fn cap_is_enforced() {
        let mut s = Stream::default();
        s.syn(0);
        let r = s.push(1, &[0; 10], 8, true);
        assert!(r.capped && r.new_data);
        assert_eq!(s.data().len(), 8);
        let r = s.push(11, &[0; 10], 8, true);
        assert!(r.gap || r.capped);
    }

    #[test]
    fn ooo_list_is_bounded() {
        let mut s = Stream::default();
        s.syn(0);
        let mut gaps = 0;
        for i in 0..(MAX_OOO_SEGMENTS as u32 + 5) {
            if s.push(10 + i * 2, b"x", CAP, true).gap {
                gaps += 1;
            }
        }
        assert_eq!(gaps, 5);
    }

    #[test]
    fn midstream_earlier_segment_rebases_while_unparsed() {
        let mut s = Stream::default();
        s.push(5000, b"world", CAP, true);
        assert!(s.push(4994, b"hello ", CAP, true).new_data);
        assert_eq!(s.data(), b"hello world");
        // Once parsing has started, an earlier segment is an old retransmission.
        let mut s = Stream::default();
        s.push(5000, b"world", CAP, true);
        assert!(s.push(4994, b"hello ", CAP, false).duplicate);
        assert_eq!(s.data(), b"world");
    }
}
