//! TCP state of one connection beyond reassembly: initial sequence numbers, the next sequence
//! number of each side and the windows they advertise. It answers three questions:
//!
//! - **Is this RST in the window?** (RFC 9293 §3.10.7.3, RFC 5961 §3.2; Suricata's
//!   `StreamTcpValidateRst`, Zeek's TCP analyzer). A RST counts only when its sequence number
//!   is the sender's next one or lies within the receiver's window of it. A Windows client that
//!   reuses a port answers the stale ACK of the old connection's server with a RST whose
//!   sequence number is that ACK: outside the new connection's sequence space, it is ignored
//!   (and counted), and the handshake that follows is kept.
//! - **Which server ISN is real?** A server may answer one SYN with SYN-ACKs carrying
//!   different ISNs (TCP Fast Open, SYN cookies, load balancers): until the client's ACK
//!   confirms one (acknowledges ISN + 1), the latest SYN-ACK is believed; the confirmed one then
//!   sticks. Wireshark takes the other SYN-ACKs for retransmissions and loses the ServerHello.
//! - **Does a SYN start a new connection?** Yes on a 4-tuple whose connection ended (an
//!   accepted RST or a FIN), also when it repeats the old ISN; or when it brings a new ISN on a
//!   connection that carried data (see the engine). Like tshark's TCP streams and Zeek's
//!   connection reuse.
//!
//! The window is kept as a power of two rounded up (one byte per side), so the tolerance is
//! at most twice the advertised window. Scaling applies once both SYNs were seen with the
//! option (RFC 7323); on a connection joined without its handshake the largest scale is
//! assumed (a RST is then ignored only when far outside), while a handshake still in progress
//! (no SYN-ACK yet) uses the bare window field.
//! Pure: no I/O, no clock.

/// Largest window scale shift (RFC 7323 §2.3).
pub const MAX_WSCALE: u8 = 14;

/// Segments that would move a side's next sequence number forward by this much or more are
/// not believed (a stale segment of an earlier connection on the same 4-tuple).
pub const MAX_ADVANCE: u32 = 1 << 30;

const ISN: [u8; 2] = [0x01, 0x02];
const NXT: [u8; 2] = [0x04, 0x08];
const CONFIRMED: [u8; 2] = [0x10, 0x20];
/// An alternative ISN is held (for the side in [`ALT_SIDE1`]).
const ALT: u8 = 0x40;
/// The alternative ISN is side 1's (else side 0's).
const ALT_SIDE1: u8 = 0x80;
/// Window scale nibble meaning "no option seen".
const WS_NONE: u8 = 0x0f;

/// Signed distance `a - b` in sequence space.
fn diff(a: u32, b: u32) -> i64 {
    i64::from(a.wrapping_sub(b) as i32)
}

/// Tracked sequence state of one connection (24 bytes).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Track {
    isn: [u32; 2],
    nxt: [u32; 2],
    /// The other ISN of a side that sent two SYN-ACKs, until the peer's ACK chooses.
    isn_alt: u32,
    /// Bits: ISN known, next sequence known, ISN confirmed (per side), alternative held.
    known: u8,
    /// Window scale option per side: low nibble side 0, high nibble side 1 ([`WS_NONE`]).
    wscale: u8,
    /// Per side: the last advertised window (unscaled) as `ceil(log2(window + 1))`.
    win_log: [u8; 2],
}

impl Default for Track {
    fn default() -> Self {
        Track {
            isn: [0; 2],
            nxt: [0; 2],
            isn_alt: 0,
            known: 0,
            wscale: WS_NONE | WS_NONE << 4,
            win_log: [16; 2],
        }
    }
}

fn bit(side: usize, bits: [u8; 2]) -> u8 {
    if side & 1 == 0 { bits[0] } else { bits[1] }
}

fn get(a: &[u32; 2], side: usize) -> u32 {
    if side & 1 == 0 { a[0] } else { a[1] }
}

fn set(a: &mut [u32; 2], side: usize, v: u32) {
    if side & 1 == 0 {
        a[0] = v;
    } else {
        a[1] = v;
    }
}

impl Track {
    /// Initial sequence number of `side`, if a SYN or SYN-ACK from it was seen.
    pub fn isn(&self, side: usize) -> Option<u32> {
        (self.known & bit(side, ISN) != 0).then(|| get(&self.isn, side))
    }

    /// Next sequence number of `side` (the end of the furthest segment it sent).
    pub fn nxt(&self, side: usize) -> Option<u32> {
        (self.known & bit(side, NXT) != 0).then(|| get(&self.nxt, side))
    }

    /// Neither side's ISN is known (the connection was joined without its handshake).
    pub fn no_isn(&self) -> bool {
        self.known & (ISN[0] | ISN[1]) == 0
    }

    fn wscale_of(&self, side: usize) -> u8 {
        if side & 1 == 0 {
            self.wscale & 0x0f
        } else {
            self.wscale >> 4
        }
    }

    /// A SYN (`ack` false) or SYN-ACK from `side` with sequence number `seq` and window scale
    /// option `wscale`. Returns the side's ISN when it changed (its stream may re-base).
    pub fn syn(&mut self, side: usize, seq: u32, ack: bool, wscale: Option<u8>) -> Option<u32> {
        let ws = wscale.map_or(WS_NONE, |w| w.min(MAX_WSCALE));
        self.wscale = if side & 1 == 0 {
            (self.wscale & 0xf0) | ws
        } else {
            (self.wscale & 0x0f) | ws << 4
        };
        let old = self.isn(side);
        if old == Some(seq) {
            return None;
        }
        if ack {
            if let Some(prev) = old {
                // Once the peer confirmed an ISN, that one stays.
                if self.known & bit(side, CONFIRMED) != 0 {
                    return None;
                }
                // A second SYN-ACK with another ISN: keep the previous one as the alternative.
                self.isn_alt = prev;
                self.known =
                    (self.known & !ALT_SIDE1) | ALT | if side & 1 == 1 { ALT_SIDE1 } else { 0 };
            }
        } else {
            self.known &= !bit(side, CONFIRMED);
        }
        set(&mut self.isn, side, seq);
        set(&mut self.nxt, side, seq.wrapping_add(1));
        self.known |= bit(side, ISN) | bit(side, NXT);
        Some(seq)
    }

    /// A segment from `side` acknowledging `ack`: confirms the peer's ISN, or switches to its
    /// alternative ISN when that is the one acknowledged. Returns the peer's ISN when it
    /// changed (its stream re-bases).
    pub fn ack(&mut self, side: usize, ack: u32) -> Option<u32> {
        let peer = side ^ 1;
        if self.known & bit(peer, CONFIRMED) != 0 {
            return None;
        }
        let isn = self.isn(peer)?;
        if ack == isn.wrapping_add(1) {
            self.known |= bit(peer, CONFIRMED);
            return None;
        }
        if self.alt_of(peer) && ack == self.isn_alt.wrapping_add(1) {
            let chosen = self.isn_alt;
            self.isn_alt = isn;
            set(&mut self.isn, peer, chosen);
            // The peer had sent nothing beyond its SYN-ACK under the other ISN.
            if self.nxt(peer) == Some(isn.wrapping_add(1)) {
                set(&mut self.nxt, peer, chosen.wrapping_add(1));
            }
            self.known |= bit(peer, CONFIRMED);
            return Some(chosen);
        }
        None
    }

    fn alt_of(&self, side: usize) -> bool {
        self.known & ALT != 0 && (self.known & ALT_SIDE1 != 0) == (side & 1 == 1)
    }

    /// A segment from `side` occupying `len` sequence numbers from `seq` (payload, plus one
    /// each for SYN and FIN), advertising `window`.
    pub fn advance(&mut self, side: usize, seq: u32, len: u32, window: u16) {
        let w =
            u8::try_from(u32::BITS.saturating_sub(u32::from(window).leading_zeros())).unwrap_or(16);
        if let Some(x) = self.win_log.get_mut(side & 1) {
            *x = w;
        }
        let end = seq.wrapping_add(len);
        match self.nxt(side) {
            Some(n) => {
                let d = diff(end, n);
                if d > 0 && d < i64::from(MAX_ADVANCE) {
                    set(&mut self.nxt, side, end);
                }
            }
            None => {
                set(&mut self.nxt, side, end);
                self.known |= bit(side, NXT);
            }
        }
    }

    /// Window of `side` in bytes (an upper bound: rounded up to a power of two, scaled).
    fn window(&self, side: usize) -> u64 {
        let (a, b) = (self.wscale_of(0), self.wscale_of(1));
        let isns = self.known & (ISN[0] | ISN[1]);
        let scale = if isns == 0 {
            MAX_WSCALE // joined without the handshake: assume the largest
        } else if isns != ISN[0] | ISN[1] || a == WS_NONE || b == WS_NONE {
            0 // handshake incomplete, or scaling not agreed by both SYNs
        } else {
            self.wscale_of(side)
        };
        let log = self.win_log.get(side & 1).copied().unwrap_or(16).min(16);
        (1u64 << log).saturating_sub(1) << scale
    }

    /// Whether a RST from `side` with sequence number `seq` is acceptable: its sequence number
    /// is the next expected one, or within the receiver's window of it. A RST from a side
    /// whose sequence space is unknown is accepted.
    pub fn rst_acceptable(&self, side: usize, seq: u32) -> bool {
        let Some(n) = self.nxt(side) else {
            return true;
        };
        let d = diff(seq, n).unsigned_abs();
        d == 0 || d <= self.window(side ^ 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_small() {
        assert!(size_of::<Track>() <= 24, "{}", size_of::<Track>());
    }

    #[test]
    fn rst_at_the_next_sequence_number_or_in_the_window_is_accepted() {
        let mut t = Track::default();
        t.syn(0, 1000, false, Some(7));
        t.syn(1, 5000, true, Some(7));
        t.advance(0, 1001, 517, 502); // client hello; client window 502 << 7
        t.advance(1, 5001, 1400, 509);
        assert_eq!(t.nxt(0), Some(1518));
        assert!(t.rst_acceptable(0, 1518));
        assert!(
            t.rst_acceptable(0, 1518 + 60_000),
            "within the server's window"
        );
        assert!(!t.rst_acceptable(0, 1518 + 200_000), "beyond it");
        assert!(!t.rst_acceptable(0, 1518u32.wrapping_sub(200_000)));
        // A side that never sent anything we saw: accepted.
        let mut t = Track::default();
        t.syn(0, 1000, false, None);
        assert!(t.rst_acceptable(1, 0));
    }

    /// The Windows port-reuse RST: its sequence number is the stale ACK of the old
    /// connection, far outside the new connection's client sequence space.
    #[test]
    fn rst_with_a_stale_sequence_number_is_not_acceptable() {
        let mut t = Track::default();
        t.syn(0, 0x1234_5678, false, Some(8));
        t.advance(0, 0x1234_5678, 1, 64240);
        t.advance(1, 0x9999_0000, 0, 0); // the stale ACK of the old server
        assert!(!t.rst_acceptable(0, 0x7000_0000));
        assert!(t.rst_acceptable(0, 0x1234_5679));
        // Without window scaling in the handshake the window is the bare field.
        let mut t = Track::default();
        t.syn(0, 100, false, None);
        t.syn(1, 900, true, Some(7));
        t.advance(1, 900, 1, 1000);
        t.advance(0, 101, 0, 1000);
        assert!(t.rst_acceptable(0, 101 + 1000));
        assert!(!t.rst_acceptable(0, 101 + 5000));
    }

    #[test]
    fn zero_window_accepts_only_the_exact_sequence_number() {
        let mut t = Track::default();
        t.syn(0, 100, false, None);
        t.syn(1, 900, true, None);
        t.advance(1, 901, 0, 0);
        t.advance(0, 101, 10, 0);
        assert!(t.rst_acceptable(0, 111));
        assert!(!t.rst_acceptable(0, 112));
    }

    /// Two SYN-ACKs with different ISNs (TCP Fast Open): the client's ACK chooses.
    #[test]
    fn the_isn_the_client_acknowledges_wins() {
        let mut t = Track::default();
        t.syn(0, 10, false, None);
        assert_eq!(t.syn(1, 1000, true, None), Some(1000));
        assert_eq!(t.syn(1, 1000, true, None), None, "retransmission");
        assert_eq!(t.syn(1, 7000, true, None), Some(7000), "latest believed");
        assert_eq!(t.isn(1), Some(7000));
        assert_eq!(t.ack(0, 1001), Some(1000), "the first one is confirmed");
        assert_eq!((t.isn(1), t.nxt(1)), (Some(1000), Some(1001)));
        assert_eq!(t.syn(1, 9000, true, None), None, "confirmed: sticks");
        assert_eq!(t.ack(0, 1001), None);
        assert_eq!(t.isn(1), Some(1000));
        // The latest one confirmed: nothing changes.
        let mut t = Track::default();
        t.syn(1, 1000, true, None);
        t.syn(1, 7000, true, None);
        assert_eq!(t.ack(0, 7001), None);
        assert_eq!(t.isn(1), Some(7000));
        assert_eq!(
            t.ack(0, 1001),
            None,
            "once confirmed, an old ACK does not switch"
        );
    }

    #[test]
    fn stale_segments_do_not_move_the_next_sequence_number() {
        let mut t = Track::default();
        t.syn(0, 100, false, None);
        t.advance(0, 101, 50, 100);
        t.advance(0, 151u32.wrapping_add(MAX_ADVANCE), 10, 100);
        assert_eq!(t.nxt(0), Some(151));
        t.advance(0, 120, 5, 100); // retransmission
        assert_eq!(t.nxt(0), Some(151));
    }
}
