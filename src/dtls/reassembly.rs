//! DTLS handshake fragment reassembly (RFC 6347 §4.2.3, RFC 9147 §5.5).
//!
//! A handshake message is identified by its direction, type and `message_seq`; its fragments
//! (offset, length) may arrive in any order, overlap, repeat, or interleave with the fragments
//! of another message. Only hellos are reassembled (the caller filters the types). Bounded:
//! at most [`MAX_PENDING_MESSAGES`] messages per connection, [`MAX_FRAGMENT_RANGES`] disjoint
//! byte ranges per message, [`MAX_MESSAGE_LEN`] bytes per message; every limit is reported.
//! Where fragments overlap, the first copy of a byte wins (a differing copy is reported).

use super::Issue;

/// Handshake messages being reassembled at once per connection (both directions). Real flights
/// fragment at most one hello at a time per direction; a new message beyond this bound replaces
/// the one that waited longest ([`Issue::ReassemblySlotsFull`]).
pub const MAX_PENDING_MESSAGES: usize = 4;

/// Disjoint byte ranges tracked per message: a message that arrives in more scattered pieces
/// is dropped ([`Issue::TooManyFragments`]).
pub const MAX_FRAGMENT_RANGES: usize = 16;

/// Largest hello reassembled (the TLS bound, [`crate::tls::MAX_HELLO_LEN`]).
pub const MAX_MESSAGE_LEN: usize = crate::tls::MAX_HELLO_LEN;

/// One handshake fragment as it appears in a record.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Fragment<'a> {
    /// Direction (0 or 1, the caller's convention).
    pub dir: u8,
    /// `msg_type`.
    pub msg_type: u8,
    /// `length`: the whole message body.
    pub length: u32,
    /// `message_seq`.
    pub message_seq: u16,
    /// `fragment_offset`.
    pub offset: u32,
    /// The fragment bytes (`fragment_length` of them).
    pub data: &'a [u8],
}

#[derive(Debug)]
struct Pending {
    dir: u8,
    msg_type: u8,
    message_seq: u16,
    length: u32,
    /// Arrival order of the first fragment (for replacement).
    stamp: u64,
    /// Message body, `length` bytes; only the bytes inside `ranges` are meaningful.
    buf: Vec<u8>,
    /// Sorted, disjoint, non-adjacent received ranges `[start, end)`.
    ranges: [(u32, u32); MAX_FRAGMENT_RANGES],
    nranges: usize,
    used: bool,
}

impl Pending {
    fn empty() -> Self {
        Pending {
            dir: 0,
            msg_type: 0,
            message_seq: 0,
            length: 0,
            stamp: 0,
            buf: Vec::new(),
            ranges: [(0, 0); MAX_FRAGMENT_RANGES],
            nranges: 0,
            used: false,
        }
    }

    fn ranges(&self) -> &[(u32, u32)] {
        self.ranges.get(..self.nranges).unwrap_or(&[])
    }

    fn complete(&self) -> bool {
        self.ranges() == [(0, self.length)]
    }

    /// Copies `data` at `offset` into the gaps (first copy wins) and merges the range.
    /// Returns `Err` when the range list is full, `Ok(conflict)` otherwise.
    fn add(&mut self, offset: u32, data: &[u8]) -> Result<bool, Issue> {
        let len = u32::try_from(data.len()).map_err(|_| Issue::BadFragment)?;
        let (start, end) = (offset, offset.saturating_add(len));
        // Compare the overlapping bytes, copy the rest.
        let mut conflict = false;
        let mut pos = start;
        let ranges = self.ranges;
        for &(a, b) in ranges.get(..self.nranges).unwrap_or(&[]) {
            if b <= pos || a >= end {
                continue;
            }
            if a > pos {
                copy(&mut self.buf, data, start, pos, a);
            }
            let (oa, ob) = (a.max(pos), b.min(end));
            conflict |= slice(&self.buf, oa, ob) != rel(data, start, oa, ob);
            pos = ob;
        }
        if pos < end {
            copy(&mut self.buf, data, start, pos, end);
        }
        // Merge [start, end) into the sorted list (touching ranges join).
        let mut merged = (start, end);
        let mut out = [(0u32, 0u32); MAX_FRAGMENT_RANGES];
        let mut n = 0usize;
        let mut placed = false;
        for &(a, b) in self.ranges() {
            if b < merged.0 {
                push(&mut out, &mut n, (a, b))?;
            } else if a > merged.1 {
                if !placed {
                    push(&mut out, &mut n, merged)?;
                    placed = true;
                }
                push(&mut out, &mut n, (a, b))?;
            } else {
                merged = (merged.0.min(a), merged.1.max(b));
            }
        }
        if !placed {
            push(&mut out, &mut n, merged)?;
        }
        self.ranges = out;
        self.nranges = n;
        Ok(conflict)
    }
}

fn push(
    out: &mut [(u32, u32); MAX_FRAGMENT_RANGES],
    n: &mut usize,
    r: (u32, u32),
) -> Result<(), Issue> {
    let slot = out.get_mut(*n).ok_or(Issue::TooManyFragments)?;
    *slot = r;
    *n = n.saturating_add(1);
    Ok(())
}

fn idx(x: u32) -> usize {
    usize::try_from(x).unwrap_or(usize::MAX)
}

fn slice(buf: &[u8], a: u32, b: u32) -> &[u8] {
    buf.get(idx(a)..idx(b)).unwrap_or(&[])
}

/// `data[a - start .. b - start]`.
fn rel(data: &[u8], start: u32, a: u32, b: u32) -> &[u8] {
    data.get(idx(a.saturating_sub(start))..idx(b.saturating_sub(start)))
        .unwrap_or(&[])
}

fn copy(buf: &mut [u8], data: &[u8], start: u32, a: u32, b: u32) {
    if let (Some(dst), src) = (buf.get_mut(idx(a)..idx(b)), rel(data, start, a, b)) {
        if dst.len() == src.len() {
            dst.copy_from_slice(src);
        }
    }
}

/// What [`Reassembler::add`] made of a fragment.
#[derive(Debug, PartialEq, Eq)]
pub enum Added {
    /// Kept; the message is not complete yet.
    Pending,
    /// The message is complete: its body is in [`Reassembler::take`]'s slot.
    Complete(usize),
    /// Dropped (see the issue reported).
    Dropped,
}

/// The messages being reassembled on one connection. Allocates nothing until a fragmented
/// hello arrives; buffers are kept for reuse.
#[derive(Debug, Default)]
pub struct Reassembler {
    slots: Vec<Pending>,
    clock: u64,
}

impl Reassembler {
    /// Bytes held for incomplete messages.
    pub fn buffered(&self) -> usize {
        self.slots
            .iter()
            .filter(|p| p.used)
            .map(|p| p.buf.len())
            .sum()
    }

    /// A message is incomplete (a hello never completed, if the connection ends now).
    pub fn pending(&self) -> bool {
        self.slots.iter().any(|p| p.used)
    }

    /// Forgets every incomplete message, keeping the buffers.
    pub fn clear(&mut self) {
        for p in &mut self.slots {
            p.used = false;
            p.buf.clear();
        }
    }

    /// Adds a fragment of a message that is not whole in its record. `issue` receives what
    /// went wrong (limits, conflicting overlaps).
    pub fn add(&mut self, f: &Fragment<'_>, mut issue: impl FnMut(Issue)) -> Added {
        let length = idx(f.length);
        if length > MAX_MESSAGE_LEN {
            issue(Issue::MessageTooLarge);
            return Added::Dropped;
        }
        let end = idx(f.offset).saturating_add(f.data.len());
        if end > length {
            issue(Issue::BadFragment);
            return Added::Dropped;
        }
        self.clock = self.clock.wrapping_add(1);
        let found = self.slots.iter().position(|p| {
            p.used
                && p.dir == f.dir
                && p.msg_type == f.msg_type
                && p.message_seq == f.message_seq
                && p.length == f.length
        });
        let i = match found {
            Some(i) => i,
            None => {
                let i = match self.slots.iter().position(|p| !p.used) {
                    Some(i) => i,
                    None if self.slots.len() < MAX_PENDING_MESSAGES => {
                        self.slots.push(Pending::empty());
                        self.slots.len().saturating_sub(1)
                    }
                    None => {
                        issue(Issue::ReassemblySlotsFull);
                        self.slots
                            .iter()
                            .enumerate()
                            .min_by_key(|(_, p)| p.stamp)
                            .map_or(0, |(i, _)| i)
                    }
                };
                let Some(p) = self.slots.get_mut(i) else {
                    return Added::Dropped;
                };
                p.used = true;
                p.dir = f.dir;
                p.msg_type = f.msg_type;
                p.message_seq = f.message_seq;
                p.length = f.length;
                p.stamp = self.clock;
                p.nranges = 0;
                p.buf.clear();
                p.buf.resize(length, 0);
                i
            }
        };
        let Some(p) = self.slots.get_mut(i) else {
            return Added::Dropped;
        };
        if f.data.is_empty() && f.length != 0 {
            return Added::Pending;
        }
        match p.add(f.offset, f.data) {
            Ok(conflict) => {
                if conflict {
                    issue(Issue::FragmentConflict);
                }
            }
            Err(e) => {
                issue(e);
                p.used = false;
                p.buf.clear();
                return Added::Dropped;
            }
        }
        if p.complete() {
            Added::Complete(i)
        } else {
            Added::Pending
        }
    }

    /// The body of the message completed in slot `i` (until [`Reassembler::release`]).
    pub fn body(&self, i: usize) -> &[u8] {
        self.slots.get(i).map_or(&[], |p| p.buf.as_slice())
    }

    /// Frees slot `i` (after its complete message was read).
    pub fn release(&mut self, i: usize) {
        if let Some(p) = self.slots.get_mut(i) {
            p.used = false;
            p.buf.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frag(seq: u16, length: u32, offset: u32, data: &[u8]) -> Fragment<'_> {
        Fragment {
            dir: 0,
            msg_type: 1,
            length,
            message_seq: seq,
            offset,
            data,
        }
    }

    fn add(r: &mut Reassembler, f: &Fragment<'_>) -> (Added, Vec<Issue>) {
        let mut issues = Vec::new();
        let a = r.add(f, |i| issues.push(i));
        (a, issues)
    }

    #[test]
    fn fragments_out_of_order_complete_once() {
        let msg: Vec<u8> = (0..100u8).collect();
        let mut r = Reassembler::default();
        assert_eq!(add(&mut r, &frag(0, 100, 60, &msg[60..])).0, Added::Pending);
        assert_eq!(add(&mut r, &frag(0, 100, 0, &msg[..30])).0, Added::Pending);
        assert!(r.pending());
        assert_eq!(r.buffered(), 100);
        let (a, issues) = add(&mut r, &frag(0, 100, 25, &msg[25..65]));
        assert!(issues.is_empty());
        let Added::Complete(i) = a else {
            panic!("{a:?}")
        };
        assert_eq!(r.body(i), &msg[..]);
        r.release(i);
        assert!(!r.pending());
        assert_eq!(r.buffered(), 0);
    }

    #[test]
    fn interleaved_messages_are_kept_apart_by_message_seq() {
        let a: Vec<u8> = vec![1; 50];
        let b: Vec<u8> = vec![2; 50];
        let mut r = Reassembler::default();
        assert_eq!(add(&mut r, &frag(1, 50, 0, &a[..20])).0, Added::Pending);
        assert_eq!(add(&mut r, &frag(0, 50, 0, &b[..20])).0, Added::Pending);
        let Added::Complete(i) = add(&mut r, &frag(1, 50, 20, &a[20..])).0 else {
            panic!()
        };
        assert_eq!(r.body(i), &a[..]);
        r.release(i);
        // The other one never completes.
        assert!(r.pending());
    }

    #[test]
    fn conflicting_overlap_keeps_the_first_copy_and_is_reported() {
        let mut r = Reassembler::default();
        add(&mut r, &frag(0, 4, 0, &[1, 2, 3]));
        let (a, issues) = add(&mut r, &frag(0, 4, 2, &[9, 4]));
        assert_eq!(issues, vec![Issue::FragmentConflict]);
        let Added::Complete(i) = a else { panic!() };
        assert_eq!(r.body(i), &[1, 2, 3, 4]);
    }

    #[test]
    fn fragment_past_the_message_length_is_dropped() {
        let mut r = Reassembler::default();
        let (a, issues) = add(&mut r, &frag(0, 10, 8, &[0; 5]));
        assert_eq!((a, issues), (Added::Dropped, vec![Issue::BadFragment]));
        assert!(!r.pending());
    }

    #[test]
    fn oversized_message_is_dropped() {
        let mut r = Reassembler::default();
        let (a, issues) = add(&mut r, &frag(0, 0x10000, 0, &[0; 5]));
        assert_eq!((a, issues), (Added::Dropped, vec![Issue::MessageTooLarge]));
        assert_eq!(r.buffered(), 0);
    }

    #[test]
    fn too_many_scattered_fragments_drop_the_message() {
        let mut r = Reassembler::default();
        let mut last = Vec::new();
        for k in 0..=MAX_FRAGMENT_RANGES as u32 {
            let (a, issues) = add(&mut r, &frag(0, 1000, k * 10, &[7]));
            last = issues;
            if a == Added::Dropped {
                break;
            }
        }
        assert_eq!(last, vec![Issue::TooManyFragments]);
        assert!(!r.pending());
    }

    #[test]
    fn slots_are_bounded_and_the_oldest_message_is_replaced() {
        let mut r = Reassembler::default();
        for seq in 0..MAX_PENDING_MESSAGES as u16 {
            assert!(add(&mut r, &frag(seq, 10, 0, &[0; 5])).1.is_empty());
        }
        let (_, issues) = add(&mut r, &frag(99, 10, 0, &[0; 5]));
        assert_eq!(issues, vec![Issue::ReassemblySlotsFull]);
        assert_eq!(r.slots.len(), MAX_PENDING_MESSAGES);
        // seq 0 was replaced: its second half starts a fresh message.
        assert_eq!(add(&mut r, &frag(0, 10, 5, &[0; 5])).0, Added::Pending);
    }
}
