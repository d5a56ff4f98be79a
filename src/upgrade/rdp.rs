//! RDP's security negotiation ([MS-RDPBCGR] §2.2.1.1-2, §5.4.5): the client's X.224
//! Connection Request (in a TPKT, RFC 1006) may carry an `RDP_NEG_REQ` listing the security
//! protocols it supports; the server's Connection Confirm carries an `RDP_NEG_RSP` with the one
//! it selected, or an `RDP_NEG_FAILURE`. Any selection other than standard RDP security
//! (`PROTOCOL_SSL`, `PROTOCOL_HYBRID` (CredSSP), `PROTOCOL_RDSTLS`, `PROTOCOL_HYBRID_EX`,
//! `PROTOCOL_RDSAAD`) starts TLS right after the Connection Confirm, in both directions
//! (Wireshark's RDP dissector hands the stream to TLS at the same point).
//!
//! Recognised by content: a TPKT header (`03 00 len`) holding an X.224 Connection Request
//! (code `0xE0`).

use super::{Fed, Role, Start};

/// TPKT version byte.
const TPKT_VERSION: u8 = 3;
/// Smallest TPKT carrying an X.224 Connection Request/Confirm (4-byte TPKT header, 7-byte
/// X.224 fixed part).
const MIN_TPKT: usize = 11;
/// Largest Connection Request/Confirm accepted (cookie and routing token included).
const MAX_TPKT: usize = 1024;
/// X.224 Connection Request code (high nibble of the TPDU code byte).
const X224_CR: u8 = 0xe0;
/// X.224 Connection Confirm code.
const X224_CC: u8 = 0xd0;
/// `RDP_NEG_RSP` type.
const NEG_RSP: u8 = 2;
/// `RDP_NEG_FAILURE` type.
const NEG_FAILURE: u8 = 3;
/// Length of `RDP_NEG_RSP` / `RDP_NEG_FAILURE`.
const NEG_LEN: usize = 8;

/// Length of the TPKT at the start of `d` holding an X.224 TPDU with `code`: `Some(Some(n))`,
/// `Some(None)` not one, `None` need more bytes.
fn tpkt(d: &[u8], code: u8) -> Option<Option<usize>> {
    match d {
        [] => None,
        [v, ..] if *v != TPKT_VERSION => Some(None),
        [_] => None,
        [_, r, ..] if *r != 0 => Some(None),
        [_, _] | [_, _, _] | [_, _, _, _] | [_, _, _, _, _] => None,
        [_, _, hi, lo, li, c, ..] => {
            let len = usize::from(*hi) << 8 | usize::from(*lo);
            let ok = (MIN_TPKT..=MAX_TPKT).contains(&len)
                && usize::from(*li) + 5 <= len
                && *c & 0xf0 == code;
            Some(ok.then_some(len))
        }
    }
}

/// State of one RDP connection.
#[derive(Debug, Default)]
pub(crate) struct Rdp {
    /// The Connection Request was consumed; its Confirm is awaited.
    pending: bool,
}

impl Rdp {
    /// A Connection Request (`None`: need more bytes).
    pub(crate) fn classify(d: &[u8]) -> Option<bool> {
        tpkt(d, X224_CR).map(|n| n.is_some())
    }

    /// The client's bytes after its request wait for the answer.
    pub(crate) fn pending(&self) -> bool {
        self.pending
    }

    pub(crate) fn feed(&mut self, role: Role, d: &[u8], refused: &mut u32) -> Fed {
        match role {
            Role::Client => {
                if self.pending {
                    return Fed::more(0);
                }
                match tpkt(d, X224_CR) {
                    None => Fed::more(0),
                    Some(Some(n)) if d.len() >= n => {
                        self.pending = true;
                        Fed::more(n)
                    }
                    Some(Some(_)) => Fed::more(0),
                    Some(None) => Fed::plain(0),
                }
            }
            Role::Server => {
                if !self.pending {
                    return Fed::plain(0);
                }
                let n = match tpkt(d, X224_CC) {
                    None => return Fed::more(0),
                    Some(None) => return Fed::plain(0),
                    Some(Some(n)) if d.len() < n => return Fed::more(0),
                    Some(Some(n)) => n,
                };
                // The negotiation structure ends the Confirm: 4-byte TPKT header, 7-byte X.224
                // fixed part, then type, flags, length (LE), selected protocol or failure code
                // (LE).
                let neg = n.checked_sub(NEG_LEN).and_then(|at| d.get(at..n));
                match neg {
                    Some([NEG_RSP, _, 8, 0, p0, p1, p2, p3]) if n >= MIN_TPKT + NEG_LEN => {
                        let selected = u32::from_le_bytes([*p0, *p1, *p2, *p3]);
                        if selected == 0 {
                            // Standard RDP security: no TLS on this connection.
                            Fed::plain(n)
                        } else {
                            Fed::upgrade(n, Start::Rdp)
                        }
                    }
                    Some([NEG_FAILURE, _, 8, 0, ..]) => {
                        *refused += 1;
                        Fed::plain(n)
                    }
                    _ => Fed::plain(n),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{check, converse};
    use super::super::{GiveUp, Start, Verdict};

    const C: usize = 0;
    const S: usize = 1;

    /// ndpi-rdp.pcap's Connection Request (RDP_NEG_REQ: TLS | CredSSP | CredSSP-EX).
    const CR: &[u8] =
        b"\x03\x00\x00\x13\x0e\xe0\x00\x00\x00\x00\x00\x01\x00\x08\x00\x0b\x00\x00\x00";
    /// Its Confirm (RDP_NEG_RSP selecting PROTOCOL_HYBRID_EX).
    const CC: &[u8] =
        b"\x03\x00\x00\x13\x0e\xd0\x00\x00\x12\x34\x00\x02\x1f\x08\x00\x08\x00\x00\x00";

    #[test]
    fn negotiation_selecting_credssp_starts_tls() {
        check(
            &[(C, CR), (S, CC), (C, b"\x16\x03\x01\x00\xa8\x01")],
            Verdict::Upgrade(Start::Rdp),
            [b"\x16\x03\x01\x00\xa8\x01", b""],
        );
    }

    #[test]
    fn request_with_a_cookie_and_tls_selected() {
        let mut cr = b"\x03\x00\x00\x2f\x2a\xe0\x00\x00\x00\x00\x00".to_vec();
        cr.extend_from_slice(b"Cookie: mstshash=WDeployAd\r\n\x01\x00\x08\x00\x03\x00\x00\x00");
        let cc = b"\x03\x00\x00\x13\x0e\xd0\x00\x00\x12\x34\x00\x02\x1f\x08\x00\x01\x00\x00\x00";
        check(
            &[
                (C, &cr),
                (C, b"\x16\x03\x03"),
                (S, cc),
                (S, b"\x16\x03\x03"),
            ],
            Verdict::Upgrade(Start::Rdp),
            [b"\x16\x03\x03", b"\x16\x03\x03"],
        );
    }

    #[test]
    fn standard_security_or_failure_stays_plaintext() {
        let std_sec =
            b"\x03\x00\x00\x13\x0e\xd0\x00\x00\x12\x34\x00\x02\x00\x08\x00\x00\x00\x00\x00";
        let (v, _) = converse(&[(C, CR), (S, std_sec)]);
        assert_eq!(v, Verdict::Plain(GiveUp::NoUpgrade));
        // No negotiation structure at all (old server).
        let (v, _) = converse(&[
            (C, CR),
            (S, b"\x03\x00\x00\x0b\x06\xd0\x00\x00\x12\x34\x00"),
        ]);
        assert_eq!(v, Verdict::Plain(GiveUp::NoUpgrade));
        let fail = b"\x03\x00\x00\x13\x0e\xd0\x00\x00\x12\x34\x00\x03\x00\x08\x00\x02\x00\x00\x00";
        let mut r = super::super::Recogniser::new();
        r.feed(C, CR);
        r.feed(S, fail);
        assert_eq!(r.verdict(), Verdict::Plain(GiveUp::NoUpgrade));
        assert_eq!(r.refused(), 1);
    }

    #[test]
    fn other_tpkt_or_bad_lengths_are_not_rdp() {
        // A TPKT with an X.224 Data TPDU first: not a connection start.
        let (v, _) = converse(&[(C, b"\x03\x00\x00\x0c\x02\xf0\x80\x7f\x65\x82\x01\xb2")]);
        assert_ne!(v, Verdict::Upgrade(Start::Rdp));
        assert!(matches!(v, Verdict::Plain(_)));
        let (v, _) = converse(&[(C, b"\x03\x00\xff\xff\x0e\xe0\x00\x00")]);
        assert!(matches!(v, Verdict::Plain(_)));
    }
}
