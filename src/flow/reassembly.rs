//! Reassembly of the first bytes of one direction of a TCP stream.
//!
//! Segments are placed by sequence number and only contiguous bytes are handed to the parser.
//! **Overlap policy: the first copy of a byte wins**, wherever it waits: a retransmission (or an
//! out-of-order segment) that overlaps bytes already accepted or already waiting is compared
//! with them, only its new bytes are kept, and a disagreement is reported as a conflict
//! (`coverage.overlap_conflicts`). Accepted bytes stay buffered after the parser consumed them
//! (until the direction is released), so a conflicting retransmission of an already parsed
//! ClientHello is detected too. When the capture starts mid-stream (no SYN), the stream starts
//! at the first byte seen, and may move back while nothing has been parsed yet (an earlier
//! segment captured after a later one).
//!
//! **Tentative bytes.** A few zero bytes sent without PSH at the next sequence number (the
//! Ethernet padding of a pure ACK or FIN that some stacks and middleboxes count into the IP
//! length) are kept aside as tentative ([`Stream::push_tentative`]): the parser does not see
//! them until a later segment continues after them; a segment that brings other bytes at their
//! place replaces them (the ClientHello that follows at the same sequence number wins).
//!
//! Bounded: the cap is a window of `cap` stream bytes from the stream start
//! ([`DEFAULT_STREAM_CAP`]): no byte beyond it is ever kept, in order or waiting, so a
//! direction never holds more than `cap` bytes; at most [`MAX_OOO_SEGMENTS`] pieces wait out
//! of order. Pure: no I/O, no clock, no panics on any segment sequence (fuzzed).

/// Default number of stream bytes buffered per direction (enough for any ClientHello and a
/// large server flight up to its ServerHello and alerts).
pub const DEFAULT_STREAM_CAP: usize = 64 * 1024;

/// Out-of-order pieces held per direction; a segment that would need more is dropped and
/// counted as a gap.
pub const MAX_OOO_SEGMENTS: usize = 32;

/// Most bytes held tentative at the end of a direction (see [`Stream::push_tentative`]).
pub const MAX_TENTATIVE: usize = 16;

/// Signed distance `a - b` in sequence space.
#[inline]
fn diff(a: u32, b: u32) -> i64 {
    i64::from(a.wrapping_sub(b) as i32)
}

/// `seq + off` in sequence space (`off` is a stream offset, below 2^31).
#[inline]
fn seq_at(seq: u32, off: usize) -> u32 {
    #[allow(clippy::cast_possible_truncation)] // sequence arithmetic is modulo 2^32
    seq.wrapping_add(off as u32)
}

/// What pushing a segment did.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Pushed {
    /// New contiguous bytes are available.
    pub new_data: bool,
    /// The stream holds `cap` contiguous bytes and more arrived: the direction is over its cap.
    pub capped: bool,
    /// Bytes were dropped: out-of-order list full, beyond the cap while a hole remains below
    /// it, or waiting bytes discarded when the stream start moved.
    pub gap: bool,
    /// Retransmitted bytes differed from the ones kept.
    pub conflict: bool,
    /// The whole segment was already seen.
    pub duplicate: bool,
    /// Tentative bytes were replaced by different bytes at the same place.
    pub tentative_replaced: bool,
}

/// One direction's reassembly state.
#[derive(Debug, Default)]
pub struct Stream {
    started: bool,
    syn_seen: bool,
    released: bool,
    /// The last `tentative` bytes of `buf` are tentative: not handed to the parser yet.
    tentative: u8,
    /// Sequence number of `buf[0]`, the stream's first byte.
    base: u32,
    /// Every byte accepted in order, at most `cap`; parsed bytes are kept for comparison.
    buf: Vec<u8>,
    /// Bytes of `buf` the parser has consumed.
    consumed: usize,
    /// Out-of-order pieces `(seq, bytes)`: sorted by sequence, disjoint, all beyond `buf` and
    /// within the cap window.
    ooo: Vec<(u32, Vec<u8>)>,
    /// The cap of the last push (the same for the life of an engine).
    cap: usize,
}

impl Stream {
    /// The contiguous, unconsumed bytes (tentative ones excluded).
    pub fn data(&self) -> &[u8] {
        self.buf.get(self.consumed..self.firm_len()).unwrap_or(&[])
    }

    /// Length of `buf` without its tentative tail.
    fn firm_len(&self) -> usize {
        self.buf.len().saturating_sub(usize::from(self.tentative))
    }

    /// `firm` (a stream offset known to be non-negative) as a length.
    fn firm_len_at(&self, firm: i64) -> usize {
        usize::try_from(firm).unwrap_or(self.buf.len())
    }

    /// Marks the first `n` bytes of [`Stream::data`] consumed by the parser.
    pub fn consume(&mut self, n: usize) {
        self.consumed = self.consumed.saturating_add(n).min(self.firm_len());
    }

    /// Frees the buffers; the direction needs no more bytes and later segments are ignored.
    pub fn release(&mut self) {
        self.released = true;
        self.tentative = 0;
        self.buf = Vec::new();
        self.ooo = Vec::new();
        self.consumed = 0;
    }

    /// Out-of-order segments still waiting (a hole never filled).
    pub fn has_hole(&self) -> bool {
        !self.ooo.is_empty()
    }

    /// Bytes held (in order and waiting): never more than the cap.
    pub fn held(&self) -> usize {
        self.ooo
            .iter()
            .fold(self.buf.len(), |n, (_, d)| n.saturating_add(d.len()))
    }

    /// Checks the structural invariants (for tests and fuzzing): at most `cap` bytes held, in
    /// order or waiting; waiting pieces non-empty, sorted, disjoint, beyond the in-order end
    /// and within the cap window; at most [`MAX_OOO_SEGMENTS`] of them.
    pub fn invariants_hold(&self) -> bool {
        let cap = i64::try_from(self.cap).unwrap_or(i64::MAX);
        let mut end = i64::try_from(self.buf.len()).unwrap_or(i64::MAX);
        let pieces_ok = self.ooo.iter().all(|(seq, d)| {
            let s = self.off(*seq);
            let e = s.saturating_add(i64::try_from(d.len()).unwrap_or(i64::MAX));
            let ok = !d.is_empty() && s >= end && e <= cap;
            end = e;
            ok
        });
        pieces_ok
            && self.consumed <= self.firm_len()
            && usize::from(self.tentative) <= MAX_TENTATIVE
            && self.ooo.len() <= MAX_OOO_SEGMENTS
            && (self.buf.len() <= self.cap || self.cap == 0 && self.buf.is_empty())
            && self.held() <= self.cap.max(self.buf.len())
    }

    /// Stream offset of sequence number `seq` (negative: before the stream start).
    #[inline]
    fn off(&self, seq: u32) -> i64 {
        diff(seq, self.base)
    }

    /// A SYN (or SYN-ACK) with initial sequence number `isn`.
    pub fn syn(&mut self, isn: u32) {
        if !self.started || (!self.syn_seen && self.buf.is_empty()) {
            self.started = true;
            self.syn_seen = true;
            self.base = isn.wrapping_add(1);
            // Pieces that arrived before the SYN was seen are re-placed against the real start.
            let mut ignored = Pushed::default();
            self.normalize(&mut ignored);
        }
    }

    /// The side's ISN changed (a second SYN-ACK, or the client confirmed the other one): the
    /// stream starts after it, as long as no byte has been placed in order yet.
    pub fn resyn(&mut self, isn: u32) {
        if !self.started || (self.firm_len() == 0 && self.consumed == 0) {
            self.drop_tentative();
            self.started = true;
            self.syn_seen = true;
            self.base = isn.wrapping_add(1);
            let mut ignored = Pushed::default();
            self.normalize(&mut ignored);
        }
    }

    /// Adds a data segment. `can_rebase`: nothing has been parsed yet, so an earlier segment
    /// without a SYN may move the stream start back.
    pub fn push(&mut self, seq: u32, data: &[u8], cap: usize, can_rebase: bool) -> Pushed {
        let mut out = Pushed::default();
        if data.is_empty() || self.released {
            return out;
        }
        self.cap = cap;
        if !self.started {
            self.started = true;
            self.base = seq;
        }
        self.settle_tentative(seq, data, &mut out);
        if !self.syn_seen && can_rebase && self.consumed == 0 && self.off(seq) < 0 {
            // An earlier part of a stream we joined late: start over from it; what was kept
            // waits as the first out-of-order piece (tentative bytes are dropped).
            self.drop_tentative();
            let old = std::mem::take(&mut self.buf);
            if !old.is_empty() {
                self.ooo.insert(0, (self.base, old));
            }
            self.base = seq;
            self.normalize(&mut out);
        }
        // Bytes before the stream start cannot be placed (nor compared): skip them.
        let off = self.off(seq);
        let before = usize::try_from(off.min(0).unsigned_abs()).unwrap_or(usize::MAX);
        let Some(data) = data.get(before..).filter(|d| !d.is_empty()) else {
            out.duplicate = true;
            return out;
        };
        let mut off = usize::try_from(off.max(0)).unwrap_or(usize::MAX);
        let mut data = data;
        // The cap is a window on stream offsets: nothing at or beyond it is ever kept.
        let room = cap.saturating_sub(off);
        let beyond = data.len() > room;
        data = data.get(..room.min(data.len())).unwrap_or(&[]);
        let in_window = !data.is_empty();
        let mut fresh = false;
        // Each round appends bytes, drains a piece or ends: bounded by the number of pieces.
        for _ in 0..MAX_OOO_SEGMENTS.saturating_add(3) {
            // The part overlapping bytes kept in order: compare, never replace.
            let have = self.buf.len();
            if off < have {
                let dup = have.saturating_sub(off).min(data.len());
                let kept = self.buf.get(off..).and_then(|b| b.get(..dup));
                if kept != data.get(..dup) {
                    out.conflict = true;
                }
                data = data.get(dup..).unwrap_or(&[]);
                off = off.saturating_add(dup);
            }
            if data.is_empty() {
                break;
            }
            if off > have {
                // Out of order: wait (the bytes of waiting pieces win over these).
                self.hold(off, data, &mut out);
                fresh = true;
                break;
            }
            // Contiguous: append up to the first waiting piece, then whatever became contiguous.
            let until = match self.ooo.first() {
                Some((seq, _)) => usize::try_from(self.off(*seq))
                    .unwrap_or(0)
                    .saturating_sub(have),
                None => data.len(),
            };
            let take = data.get(..until.min(data.len())).unwrap_or(&[]);
            self.buf.extend_from_slice(take);
            out.new_data |= !take.is_empty();
            fresh = true;
            data = data.get(take.len()..).unwrap_or(&[]);
            off = off.saturating_add(take.len());
            self.drain(&mut out);
        }
        if in_window && !fresh && !out.new_data {
            out.duplicate = true;
        }
        if beyond {
            if self.buf.len() >= cap {
                out.capped = true;
            } else {
                out.gap = true;
            }
        }
        out
    }

    /// Adds a segment that may be padding rather than data: a few zero bytes sent without PSH.
    /// At the in-order end its bytes are kept tentative (not handed to the parser): a later
    /// segment continuing after them confirms them, one bringing other bytes at their place
    /// replaces them. Anywhere else it is an ordinary segment (first copy wins), except that a
    /// repeat of the tentative bytes changes nothing.
    pub fn push_tentative(
        &mut self,
        seq: u32,
        data: &[u8],
        cap: usize,
        can_rebase: bool,
    ) -> Pushed {
        if data.is_empty() || self.released {
            return Pushed::default();
        }
        if !self.started {
            self.started = true;
            self.base = seq;
        }
        self.cap = cap;
        // Zero bytes starting inside the tentative tail or at the in-order end extend the tail
        // (padding of several ACKs at one sequence number merges into one tail).
        let firm = i64::try_from(self.firm_len()).unwrap_or(i64::MAX);
        let end = i64::try_from(self.buf.len()).unwrap_or(i64::MAX);
        let off = self.off(seq);
        let new_end = off.saturating_add(i64::try_from(data.len()).unwrap_or(i64::MAX));
        let mergeable = off >= firm
            && off <= end
            && data.iter().all(|b| *b == 0)
            && self.ooo.is_empty()
            && new_end.saturating_sub(firm) <= i64::try_from(MAX_TENTATIVE).unwrap_or(0)
            && new_end <= i64::try_from(cap).unwrap_or(i64::MAX);
        if mergeable {
            let grow = usize::try_from(new_end.saturating_sub(end)).unwrap_or(0);
            if grow == 0 {
                return Pushed {
                    duplicate: true,
                    ..Pushed::default()
                };
            }
            self.buf.resize(self.buf.len().saturating_add(grow), 0);
            #[allow(clippy::cast_possible_truncation)] // at most MAX_TENTATIVE
            {
                self.tentative = self.buf.len().saturating_sub(self.firm_len_at(firm)) as u8;
            }
            return Pushed::default();
        }
        self.push(seq, data, cap, can_rebase)
    }

    /// Before an ordinary segment is placed: tentative bytes it overlaps with other bytes are
    /// dropped (it replaces them); if it agrees with them and goes beyond, or starts right
    /// after them, they were real and become ordinary bytes.
    fn settle_tentative(&mut self, seq: u32, data: &[u8], out: &mut Pushed) {
        if self.tentative == 0 {
            return;
        }
        let firm = self.firm_len();
        let (Ok(t_start), Ok(end)) = (i64::try_from(firm), i64::try_from(self.buf.len())) else {
            return;
        };
        let s = self.off(seq);
        let e = s.saturating_add(i64::try_from(data.len()).unwrap_or(i64::MAX));
        if e <= t_start || s > end {
            return; // before them, or beyond them with a hole
        }
        if s == end {
            self.tentative = 0; // continues after them
            return;
        }
        // Overlap [max(s, t_start), min(e, end)): compare.
        let a = s.max(t_start);
        let b = e.min(end);
        let mine = usize::try_from(a.saturating_sub(t_start))
            .ok()
            .zip(usize::try_from(b.saturating_sub(t_start)).ok())
            .and_then(|(x, y)| self.buf.get(firm..)?.get(x..y));
        let theirs = usize::try_from(a.saturating_sub(s))
            .ok()
            .zip(usize::try_from(b.saturating_sub(s)).ok())
            .and_then(|(x, y)| data.get(x..y));
        if mine != theirs {
            self.drop_tentative();
            out.tentative_replaced = true;
        } else if e >= end {
            // An ordinary segment bringing the same bytes through their end (or going on):
            // they were data.
            self.tentative = 0;
            out.new_data = true;
        }
    }

    /// Removes the tentative bytes.
    fn drop_tentative(&mut self) {
        let firm = self.firm_len();
        self.buf.truncate(firm);
        self.tentative = 0;
    }

    /// Keeps the parts of `data` (at stream offset `start`, at or beyond the in-order end) that
    /// no waiting piece holds yet, comparing the parts that one does.
    fn hold(&mut self, start: usize, data: &[u8], out: &mut Pushed) {
        let Ok(start_i) = i64::try_from(start) else {
            out.gap = true;
            return;
        };
        let n = data.len();
        // Each waiting piece as a range relative to `data` (may be negative or beyond `n`).
        let rel = |this: &Stream, seq: u32, len: usize| {
            let s = this.off(seq).saturating_sub(start_i);
            let e = s.saturating_add(i64::try_from(len).unwrap_or(i64::MAX));
            (s, e)
        };
        let clamp = |x: i64| usize::try_from(x.max(0)).unwrap_or(usize::MAX).min(n);
        // Pass 1: compare overlaps, count the new pieces.
        let (mut cur, mut new) = (0usize, 0usize);
        for (seq, d) in &self.ooo {
            let (s, e) = rel(self, *seq, d.len());
            let (s_c, e_c) = (clamp(s), clamp(e));
            if e_c <= cur {
                continue;
            }
            if s_c >= n {
                break;
            }
            if s_c > cur {
                new = new.saturating_add(1);
            }
            let a = s_c.max(cur);
            // Offset of `a` inside the piece.
            let in_piece =
                usize::try_from(i64::try_from(a).unwrap_or(0).saturating_sub(s)).unwrap_or(0);
            let theirs = d
                .get(in_piece..)
                .and_then(|x| x.get(..e_c.saturating_sub(a)));
            if theirs != data.get(a..e_c) {
                out.conflict = true;
            }
            cur = e_c;
        }
        if cur < n {
            new = new.saturating_add(1);
        }
        if new == 0 {
            out.duplicate = true;
            return;
        }
        if self.ooo.len().saturating_add(new) > MAX_OOO_SEGMENTS {
            out.gap = true;
            return;
        }
        // Pass 2: insert the uncovered ranges in order.
        let (mut cur, mut i) = (0usize, 0usize);
        while let Some((seq, d)) = self.ooo.get(i) {
            let (s, e) = rel(self, *seq, d.len());
            let (s_c, e_c) = (clamp(s), clamp(e));
            if e_c <= cur {
                i = i.saturating_add(1);
                continue;
            }
            if s_c >= n {
                break;
            }
            if s_c > cur {
                let piece = data.get(cur..s_c).unwrap_or(&[]).to_vec();
                self.ooo
                    .insert(i, (seq_at(self.base, start.saturating_add(cur)), piece));
                i = i.saturating_add(1);
            }
            cur = e_c;
            i = i.saturating_add(1);
        }
        if let Some(rest) = data.get(cur..).filter(|r| !r.is_empty()) {
            self.ooo.insert(
                i.min(self.ooo.len()),
                (seq_at(self.base, start.saturating_add(cur)), rest.to_vec()),
            );
        }
    }

    /// Appends every waiting piece that has become contiguous.
    fn drain(&mut self, out: &mut Pushed) {
        while let Some((seq, _)) = self.ooo.first() {
            let have = self.buf.len();
            let off = self.off(*seq);
            if off > i64::try_from(have).unwrap_or(i64::MAX) {
                return;
            }
            let (_, piece) = self.ooo.remove(0);
            // Pieces lie beyond the in-order end, so `skip` is 0; stay correct regardless.
            let skip = usize::try_from(i64::try_from(have).unwrap_or(i64::MAX).saturating_sub(off))
                .unwrap_or(usize::MAX);
            if let Some(tail) = piece.get(skip..).filter(|t| !t.is_empty()) {
                // Bytes continue after the tentative ones: they were real.
                self.tentative = 0;
                let room = self.cap.saturating_sub(have);
                self.buf
                    .extend_from_slice(tail.get(..room.min(tail.len())).unwrap_or(&[]));
                out.new_data = true;
            }
        }
    }

    /// Restores the invariants after the stream start moved: waiting pieces are trimmed to
    /// the window `[in-order end, cap)`; what falls outside is dropped (a gap), and so are the
    /// last pieces beyond [`MAX_OOO_SEGMENTS`].
    fn normalize(&mut self, out: &mut Pushed) {
        let lo = i64::try_from(self.buf.len()).unwrap_or(i64::MAX);
        let hi = i64::try_from(self.cap).unwrap_or(i64::MAX);
        let base = self.base;
        let mut dropped = false;
        self.ooo.retain_mut(|(seq, d)| {
            let s = diff(*seq, base);
            let e = s.saturating_add(i64::try_from(d.len()).unwrap_or(i64::MAX));
            let (ks, ke) = (s.max(lo), e.min(hi));
            if ks >= ke {
                dropped = true;
                return false;
            }
            let front = usize::try_from(ks.saturating_sub(s)).unwrap_or(0);
            let keep = usize::try_from(ke.saturating_sub(ks)).unwrap_or(0);
            if front > 0 || keep < d.len() {
                dropped = true;
                d.drain(..front.min(d.len()));
                d.truncate(keep);
                *seq = seq_at(*seq, front);
            }
            true
        });
        self.ooo.sort_by_key(|(seq, _)| diff(*seq, base));
        if self.ooo.len() > MAX_OOO_SEGMENTS {
            self.ooo.truncate(MAX_OOO_SEGMENTS);
            dropped = true;
        }
        out.gap |= dropped;
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

    #[test]
    fn conflicting_retransmission_of_parsed_bytes_is_detected() {
        let mut s = Stream::default();
        s.syn(0);
        s.push(1, b"hello", CAP, true);
        s.consume(5);
        assert!(s.data().is_empty());
        let r = s.push(1, b"HELLO", CAP, false);
        assert!(r.conflict && r.duplicate && !r.new_data);
        let r = s.push(3, b"llo", CAP, false);
        assert!(!r.conflict && r.duplicate);
    }

    #[test]
    fn first_copy_wins_among_waiting_pieces() {
        let mut s = Stream::default();
        s.syn(0);
        // Offsets 5..10 wait; then a segment covering 0..10 with other bytes at 5..10.
        assert!(!s.push(6, b"FGHIJ", CAP, true).new_data);
        let r = s.push(1, b"abcdeXYZij", CAP, true);
        assert!(r.new_data && r.conflict);
        assert_eq!(s.data(), b"abcdeFGHIJ");
        // Two waiting pieces overlapping each other: the first one's bytes win.
        let mut s = Stream::default();
        s.syn(0);
        s.push(11, b"klmno", CAP, true);
        let r = s.push(9, b"ijKLmnOP", CAP, true);
        assert!(r.conflict && !r.new_data);
        s.push(1, b"abcdefgh", CAP, true);
        assert_eq!(s.data(), b"abcdefghijklmnoP");
        assert!(s.invariants_hold());
    }

    #[test]
    fn earlier_and_earlier_segments_without_syn_stay_bounded() {
        // Joined mid-stream, every segment earlier than the last and not contiguous with it:
        // each one moves the start back while nothing is parsed. What waits stays in the cap.
        let mut s = Stream::default();
        let cap = 4096;
        let mut gaps = 0;
        for i in 0..10_000u32 {
            let r = s.push(1_000_000_000 - i * 1000, &[7; 500], cap, true);
            gaps += u32::from(r.gap);
            assert!(s.invariants_hold(), "after {i}");
            assert!(s.held() <= cap);
        }
        assert!(gaps > 9_000);
    }

    #[test]
    fn bytes_beyond_the_cap_are_a_gap_until_the_window_is_full() {
        let mut s = Stream::default();
        s.syn(0);
        let r = s.push(1_000, &[1; 10], 512, true);
        assert!(
            r.gap && !r.capped,
            "far ahead: dropped, the parser may still get its bytes"
        );
        assert!(s.push(1, &[2; 100], 512, true).new_data);
        let r = s.push(101, &[3; 1000], 512, true);
        assert!(r.capped && r.new_data);
        assert_eq!(s.data().len(), 512);
    }

    /// Fuzzing regression (reassembly): joined mid-stream, a segment far before the first
    /// moves the start back so far that the bytes kept so far fall outside the cap window:
    /// they are dropped and counted as a gap, and the stream holds only the new bytes.
    #[test]
    fn moving_the_start_back_past_the_window_drops_kept_bytes_as_a_gap() {
        let mut s = Stream::default();
        s.push(100_000, &[1; 100], 1024, true);
        assert_eq!(s.data().len(), 100);
        let r = s.push(95_000, &[2; 10], 1024, true);
        assert!(r.new_data && r.gap);
        assert_eq!(s.data(), &[2; 10]);
        assert!(s.invariants_hold() && !s.has_hole());
    }

    #[test]
    fn released_stream_ignores_segments() {
        let mut s = Stream::default();
        s.syn(0);
        s.push(1, b"abc", CAP, true);
        s.release();
        assert_eq!(s.push(4, b"def", CAP, true), Pushed::default());
        assert!(s.data().is_empty() && !s.has_hole());
    }

    /// ndpi-heuristic_tcp_ack_payload.pcap: a pure ACK claims two zero bytes at the next
    /// sequence number, then the ClientHello arrives at that same sequence number.
    #[test]
    fn zero_padding_at_the_next_sequence_number_does_not_shadow_the_hello() {
        let mut s = Stream::default();
        s.syn(99);
        let r = s.push_tentative(100, &[0, 0], CAP, true);
        assert!(
            !r.new_data && s.data().is_empty(),
            "tentative: not for the parser"
        );
        let r = s.push(100, b"\x16\x03\x01hello", CAP, true);
        assert!(r.new_data && r.tentative_replaced && !r.conflict);
        assert_eq!(s.data(), b"\x16\x03\x01hello");
        // A six-byte pad after the hello, repeated, then the next record at its place.
        assert!(!s.push_tentative(108, &[0; 6], CAP, true).new_data);
        assert!(s.push_tentative(108, &[0; 6], CAP, true).duplicate);
        assert!(!s.push_tentative(108, &[0; 2], CAP, true).new_data);
        let r = s.push(108, b"\x15\x03\x01", CAP, true);
        assert!(r.new_data && r.tentative_replaced);
        assert_eq!(s.data(), b"\x16\x03\x01hello\x15\x03\x01");
        assert!(s.invariants_hold());
    }

    /// Regression (proptest `reordered_and_duplicated_segments_give_the_original_bytes`, cut
    /// `[1]`): a zero byte first seen as possible padding, then sent again as an ordinary
    /// segment with the same byte, is data.
    #[test]
    fn tentative_bytes_repeated_by_an_ordinary_segment_are_data() {
        let mut s = Stream::default();
        s.syn(0);
        s.push_tentative(1, &[0], CAP, true);
        assert_eq!(s.data(), b"");
        let r = s.push(1, &[0], CAP, true);
        assert!(r.new_data && !r.tentative_replaced && !r.conflict);
        assert_eq!(s.data(), b"\0");
        assert!(s.invariants_hold());
    }

    #[test]
    fn tentative_bytes_followed_by_more_were_data() {
        // Zero bytes without PSH in the middle of a write are data: the next segment
        // continues after them.
        let mut s = Stream::default();
        s.syn(0);
        s.push(1, b"ab", CAP, true);
        s.push_tentative(3, &[0, 0], CAP, true);
        assert_eq!(s.data(), b"ab");
        let r = s.push(5, b"cd", CAP, true);
        assert!(r.new_data && !r.tentative_replaced);
        assert_eq!(s.data(), b"ab\0\0cd");
        // The same, with the following segment arriving first (out of order).
        let mut s = Stream::default();
        s.syn(0);
        s.push(5, b"cd", CAP, true);
        s.push(1, b"ab", CAP, true);
        let r = s.push_tentative(3, &[0, 0], CAP, true);
        assert!(r.new_data, "not at the in-order end: an ordinary segment");
        assert_eq!(s.data(), b"ab\0\0cd");
        // Or a retransmission that covers them and goes on.
        let mut s = Stream::default();
        s.syn(0);
        s.push_tentative(1, &[0], CAP, true);
        let r = s.push(1, b"\0xyz", CAP, true);
        assert!(r.new_data && !r.tentative_replaced && !r.conflict);
        assert_eq!(s.data(), b"\0xyz");
        assert!(s.invariants_hold());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]

        /// Any sequence of segments, SYNs and consumes keeps the invariants.
        #[test]
        fn arbitrary_segment_sequences_keep_the_invariants(
            ops in proptest::collection::vec(
                (0u8..8, proptest::prelude::any::<u32>(), 0usize..300, proptest::prelude::any::<u8>()),
                1..200,
            ),
            cap in 512usize..4096,
        ) {
            let mut s = Stream::default();
            let base = 77_000u32;
            for (op, x, len, fill) in ops {
                match op {
                    0 => s.syn(base.wrapping_add(x % 64).wrapping_sub(32)),
                    1 => s.consume(len),
                    7 => { s.push_tentative(base.wrapping_add(x % 5000), &vec![0; len % 7], cap, true); }
                    2 => { s.push(x, &vec![fill; len], cap, x % 2 == 0); }
                    _ => { s.push(base.wrapping_add(x % 5000), &vec![fill; len], cap, fill % 2 == 0); }
                }
                proptest::prop_assert!(s.invariants_hold());
                proptest::prop_assert!(s.data().len() <= cap);
            }
        }

        /// Segments cut from one byte string, delivered in any order with duplicates, give
        /// back that string (up to the cap) without conflicts.
        #[test]
        fn reordered_and_duplicated_segments_give_the_original_bytes(
            cuts in proptest::collection::vec(1usize..200, 1..40),
            order in proptest::collection::vec(proptest::prelude::any::<proptest::sample::Index>(), 0..80),
            isn in proptest::prelude::any::<u32>(),
        ) {
            let total: usize = cuts.iter().sum();
            let truth: Vec<u8> = (0..total).map(|i| (i * 7 + i / 251) as u8).collect();
            let mut segs = Vec::new();
            let mut at = 0;
            for c in &cuts {
                segs.push((at, at + c));
                at += c;
            }
            // Shuffled copies first (bounded list: some may be dropped), then every segment in
            // order so the stream can complete.
            let mut s = Stream::default();
            s.syn(isn);
            let cap = 4096;
            for ix in &order {
                let (a, b) = segs[ix.index(segs.len())];
                let seq = isn.wrapping_add(1 + a as u32);
                // Short zero runs may come as tentative bytes: same result.
                let r = if b - a <= 6 && truth[a..b].iter().all(|x| *x == 0) {
                    s.push_tentative(seq, &truth[a..b], cap, true)
                } else {
                    s.push(seq, &truth[a..b], cap, true)
                };
                proptest::prop_assert!(!r.conflict);
            }
            for &(a, b) in &segs {
                let r = s.push(isn.wrapping_add(1 + a as u32), &truth[a..b], cap, true);
                proptest::prop_assert!(!r.conflict);
            }
            proptest::prop_assert_eq!(s.data(), &truth[..total.min(cap)]);
            proptest::prop_assert!(s.invariants_hold());
        }
    }
}
