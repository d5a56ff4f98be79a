//! Reassembly of one direction's CRYPTO stream in the Initial packet number space.
//!
//! Bytes at the next expected offset are handed on at once (from the decrypted packet, no
//! copy); bytes ahead of a gap are held in a small buffer until the gap fills (frames out of
//! order within a packet, as quic-go and Chrome send them, or across packets); bytes already
//! handed on (retransmitted Initials, the ClientHello re-sent after a Retry) are dropped, so
//! each stream byte is delivered exactly once.

use super::{Counter, Counters, MAX_CRYPTO_HOLD, MAX_CRYPTO_STREAM, MAX_HOLD_RANGES};

/// One direction's CRYPTO stream state.
#[derive(Debug, Default)]
pub(super) struct CryptoStream {
    /// Stream offset of the next byte to deliver.
    delivered: u64,
    /// Held bytes: `hold[i]` is the byte at offset `delivered + i` (where a range covers it).
    hold: Vec<u8>,
    /// Held ranges `[start, end)` (absolute offsets), sorted, disjoint, all above `delivered`.
    ranges: [(u64, u64); MAX_HOLD_RANGES],
    /// Number of ranges in use.
    n_ranges: usize,
    /// The byte cap was reached: nothing more is accepted.
    stopped: bool,
}

impl CryptoStream {
    /// Back to offset 0, keeping the hold buffer's capacity.
    pub(super) fn reset(&mut self) {
        self.delivered = 0;
        self.hold.clear();
        self.n_ranges = 0;
        self.stopped = false;
    }

    /// Bytes delivered so far.
    pub(super) fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Bytes held out of order now.
    #[cfg(test)]
    pub(super) fn held(&self) -> usize {
        self.hold.len()
    }

    /// Accepts one CRYPTO frame's data at stream offset `off`; calls `emit` with every run of
    /// bytes that became contiguous, in stream order.
    pub(super) fn insert(
        &mut self,
        off: u64,
        data: &[u8],
        k: &mut Counters,
        emit: &mut impl FnMut(&[u8]),
    ) {
        if self.stopped || data.is_empty() {
            return;
        }
        let len = u64::try_from(data.len()).unwrap_or(u64::MAX);
        let end = off.saturating_add(len);
        if end > MAX_CRYPTO_STREAM {
            k.add(Counter::CryptoCap);
            self.stopped = true;
            self.hold = Vec::new();
            self.n_ranges = 0;
            return;
        }
        if end <= self.delivered {
            return; // all delivered already: a retransmission
        }
        if off <= self.delivered {
            let skip = usize::try_from(self.delivered.saturating_sub(off)).unwrap_or(usize::MAX);
            let fresh = data.get(skip..).unwrap_or(&[]);
            emit(fresh);
            self.advance_to(end);
            self.drain_held(emit);
            return;
        }
        // Ahead of a gap: hold it.
        let rel_start = usize::try_from(off.saturating_sub(self.delivered)).unwrap_or(usize::MAX);
        let rel_end = usize::try_from(end.saturating_sub(self.delivered)).unwrap_or(usize::MAX);
        if rel_end > MAX_CRYPTO_HOLD || !self.add_range(off, end) {
            k.add(Counter::CryptoDropped);
            return;
        }
        k.add(Counter::CryptoHeld);
        if self.hold.len() < rel_end {
            self.hold.resize(rel_end, 0);
        }
        if let Some(dst) = self.hold.get_mut(rel_start..rel_end) {
            dst.copy_from_slice(data);
        }
    }

    /// Records `[start, end)` as held, merging with touching ranges. False if that would need
    /// more than [`MAX_HOLD_RANGES`] ranges.
    fn add_range(&mut self, mut start: u64, mut end: u64) -> bool {
        let mut out = [(0u64, 0u64); MAX_HOLD_RANGES];
        let mut n = 0usize;
        let mut placed = false;
        for &(s, e) in self.ranges.iter().take(self.n_ranges) {
            if e < start {
                // Entirely before.
            } else if s > end {
                if !placed {
                    let Some(slot) = out.get_mut(n) else {
                        return false;
                    };
                    *slot = (start, end);
                    n = n.saturating_add(1);
                    placed = true;
                }
            } else {
                start = start.min(s);
                end = end.max(e);
                continue;
            }
            let Some(slot) = out.get_mut(n) else {
                return false;
            };
            *slot = (s, e);
            n = n.saturating_add(1);
        }
        if !placed {
            let Some(slot) = out.get_mut(n) else {
                return false;
            };
            *slot = (start, end);
            n = n.saturating_add(1);
        }
        self.ranges = out;
        self.n_ranges = n;
        true
    }

    /// Moves `delivered` up to `to` (bytes up to there were handed on), dropping the held
    /// bytes and ranges below it.
    fn advance_to(&mut self, to: u64) {
        let step = usize::try_from(to.saturating_sub(self.delivered)).unwrap_or(usize::MAX);
        let cut = step.min(self.hold.len());
        self.hold.drain(..cut);
        self.delivered = to;
        let mut n = 0usize;
        for i in 0..self.n_ranges {
            let Some(&(s, e)) = self.ranges.get(i) else {
                break;
            };
            if e <= to {
                continue;
            }
            if let Some(slot) = self.ranges.get_mut(n) {
                *slot = (s.max(to), e);
            }
            n = n.saturating_add(1);
        }
        self.n_ranges = n;
    }

    /// Delivers held ranges that now start at `delivered`.
    fn drain_held(&mut self, emit: &mut impl FnMut(&[u8])) {
        while self.n_ranges > 0 {
            let Some(&(s, e)) = self.ranges.first() else {
                return;
            };
            if s > self.delivered {
                return;
            }
            let n = usize::try_from(e.saturating_sub(self.delivered)).unwrap_or(usize::MAX);
            emit(self.hold.get(..n).unwrap_or(&[]));
            self.advance_to(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(frames: &[(u64, &[u8])]) -> (Vec<u8>, Vec<usize>, Counters) {
        let mut s = CryptoStream::default();
        let mut k = Counters::default();
        let mut got = Vec::new();
        let mut calls = Vec::new();
        for (off, d) in frames {
            s.insert(*off, d, &mut k, &mut |b: &[u8]| {
                calls.push(b.len());
                got.extend_from_slice(b)
            });
        }
        (got, calls, k)
    }

    #[test]
    fn in_order_is_delivered_without_holding() {
        let (got, calls, k) = run(&[(0, b"abc"), (3, b"def")]);
        assert_eq!(got, b"abcdef");
        assert_eq!(calls, [3, 3]);
        assert_eq!(k.get(Counter::CryptoHeld), 0);
    }

    #[test]
    fn out_of_order_frames_are_joined() {
        let (got, _, k) = run(&[(6, b"ghi"), (3, b"def"), (0, b"abc")]);
        assert_eq!(got, b"abcdefghi");
        assert_eq!(k.get(Counter::CryptoHeld), 2);
        let (got, _, _) = run(&[
            (4, b"efgh"),
            (0, b"ab"),
            (10, b"kl"),
            (2, b"cd"),
            (8, b"ij"),
        ]);
        assert_eq!(got, b"abcdefghijkl");
    }

    #[test]
    fn retransmitted_and_overlapping_bytes_are_delivered_once() {
        let (got, _, _) = run(&[(0, b"abcd"), (0, b"abcd"), (2, b"cdef"), (1, b"bcdefg")]);
        assert_eq!(got, b"abcdefg");
        let (got, _, _) = run(&[(4, b"ef"), (4, b"efgh"), (0, b"abcdef")]);
        assert_eq!(got, b"abcdefgh");
    }

    #[test]
    fn byte_cap_stops_the_direction() {
        let big = vec![7u8; 1000];
        let off = MAX_CRYPTO_STREAM - 500;
        let (got, _, k) = run(&[(0, b"ab"), (off, &big), (2, b"cd")]);
        assert_eq!(got, b"ab");
        assert_eq!(k.get(Counter::CryptoCap), 1);
    }

    #[test]
    fn hold_window_and_range_count_are_bounded() {
        let far = MAX_CRYPTO_HOLD as u64;
        let (got, _, k) = run(&[(far, b"x"), (0, b"a")]);
        assert_eq!(got, b"a");
        assert_eq!(k.get(Counter::CryptoDropped), 1);
        let frames: Vec<(u64, &[u8])> = (0..=MAX_HOLD_RANGES as u64)
            .map(|i| (10 + 2 * i, &b"z"[..]))
            .collect();
        let (_, _, k) = run(&frames);
        assert_eq!(k.get(Counter::CryptoDropped), 1);
        let mut s = CryptoStream::default();
        let mut k = Counters::default();
        for (o, d) in &frames {
            s.insert(*o, d, &mut k, &mut |_| {});
        }
        assert!(s.held() <= MAX_CRYPTO_HOLD);
    }
}
