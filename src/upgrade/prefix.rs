//! TLS after plaintext that is no known upgrade: an application banner (NoMachine's
//! `NXSH-…` / `NXD-…`), an application-level upgrade (Gnutella's `Upgrade: TLS/1.0`), or a
//! recognised upgrade whose answer was not captured.
//!
//! When a direction's plaintext gives way to bytes that are not plaintext of its protocol, the
//! recogniser looks whether they begin a TLS handshake record holding a ClientHello or a
//! ServerHello. It accepts TLS only when both happen: one side's bytes begin with a
//! ClientHello and the other side's with a ServerHello, each within the first
//! [`MAX_PLAINTEXT_PREFIX`] bytes of its direction (TLS recognised by content on both sides,
//! as Wireshark's heuristic TLS dissector and nDPI's TLS-after-banner detection do). The side
//! that sent the ClientHello is the client.

/// Plaintext bytes a direction may carry before its hello for the hello to be looked for
/// (NoMachine's banner is a dozen bytes, a Gnutella handshake well under 2 KiB).
pub const MAX_PLAINTEXT_PREFIX: usize = 4096;

/// Largest record length accepted in a hello's record header (2^14 plus the expansion a
/// TLS 1.2 record may carry).
const MAX_RECORD: usize = 16384 + 2048;

/// The hello a direction's bytes begin with.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Hello {
    /// A ClientHello (TLS record, or an SSLv2-format CLIENT-HELLO).
    Client,
    /// A ServerHello (TLS record).
    Server,
}

impl Hello {
    /// The other side's hello.
    pub(crate) fn answer(self) -> Hello {
        match self {
            Hello::Client => Hello::Server,
            Hello::Server => Hello::Client,
        }
    }
}

/// Whether `d` begins with a hello record header: `Some(Some(kind))`, `Some(None)` no, `None`
/// need more bytes.
pub(crate) fn hello_at(d: &[u8]) -> Option<Option<Hello>> {
    let &b0 = d.first()?;
    if b0 == 0x16 {
        let head = d.get(..6);
        // Check what is there even when short, so that plain bytes are rejected at once.
        if d.get(1).is_some_and(|&b| b != 3) || d.get(2).is_some_and(|&b| b > 4) {
            return Some(None);
        }
        let [_, _, _, hi, lo, ty] = <[u8; 6]>::try_from(head?).ok()?;
        let len = usize::from(hi) << 8 | usize::from(lo);
        if !(4..=MAX_RECORD).contains(&len) {
            return Some(None);
        }
        return Some(match ty {
            1 => Some(Hello::Client),
            2 => Some(Hello::Server),
            _ => None,
        });
    }
    if b0 & 0x80 != 0 {
        // SSLv2-format CLIENT-HELLO: 2-byte length, type 1, version 0x0002 or 0x03xx.
        let [_, _, ty, major, minor] = <[u8; 5]>::try_from(d.get(..5)?).ok()?;
        let ok = ty == 1 && ((major == 0 && minor == 2) || (major == 3 && minor <= 4));
        return Some(ok.then_some(Hello::Client));
    }
    Some(None)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{check, converse, run};
    use super::super::{GiveUp, Start, Verdict};
    use super::*;

    const C: usize = 0;
    const S: usize = 1;
    const CH: &[u8] = b"\x16\x03\x01\x00\x7d\x01\x00\x00\x79\x03\x03";
    const SH: &[u8] = b"\x16\x03\x03\x00\x5d\x02\x00\x00\x59\x03\x03";

    #[test]
    fn record_headers() {
        assert_eq!(hello_at(CH), Some(Some(Hello::Client)));
        assert_eq!(hello_at(SH), Some(Some(Hello::Server)));
        assert_eq!(hello_at(b"\x16\x03\x01\x00\x7d"), None);
        assert_eq!(hello_at(b"\x16\x03\x01\x00\x7d\x0b"), Some(None));
        assert_eq!(hello_at(b"\x16\x04"), Some(None));
        assert_eq!(hello_at(b"\x16\x03\x01\xff\xff\x01"), Some(None));
        assert_eq!(hello_at(b"\x80\x2e\x01\x03\x01"), Some(Some(Hello::Client)));
        assert_eq!(hello_at(b"\x80\x2e\x02\x03\x01"), Some(None));
        assert_eq!(hello_at(b"GET"), Some(None));
        assert_eq!(hello_at(b""), None);
    }

    #[test]
    fn nomachine_banners_then_tls() {
        check(
            &[
                (C, b"NXSH-8.10.1\n"),
                (S, b"NXD-8.10.1\n"),
                (C, CH),
                (S, SH),
            ],
            Verdict::Upgrade(Start::AfterPlaintext),
            [CH, SH],
        );
    }

    #[test]
    fn gnutella_upgrade_then_tls() {
        check(
            &[
                (
                    C,
                    b"GNUTELLA CONNECT/0.6\r\nUser-Agent: gtk-gnutella/1.2.2\r\nUpgrade: TLS/1.0\r\n\r\n",
                ),
                (
                    S,
                    b"GNUTELLA/0.6 200 OK\r\nUpgrade: TLS/1.0\r\nConnection: Upgrade\r\n\r\n",
                ),
                (C, CH),
                (S, SH),
            ],
            Verdict::Upgrade(Start::AfterPlaintext),
            [CH, SH],
        );
    }

    #[test]
    fn a_client_hello_without_a_server_hello_is_not_enough() {
        let (v, _) = converse(&[(C, b"NXSH-8.10.1\n"), (S, b"NXD-8.10.1\n"), (C, CH)]);
        assert_eq!(v, Verdict::Undecided);
        let (v, _) = converse(&[
            (C, b"NXSH-8.10.1\n"),
            (S, b"NXD-8.10.1\n"),
            (C, CH),
            (S, b"\x00\x01binary"),
        ]);
        assert_eq!(v, Verdict::Plain(GiveUp::NoUpgrade));
        // Two ClientHellos are no answer either.
        let (v, _) = converse(&[(C, b"A\n"), (S, b"B\n"), (C, CH), (S, CH)]);
        assert_eq!(v, Verdict::Plain(GiveUp::NoUpgrade));
    }

    #[test]
    fn the_prefix_is_bounded() {
        let mut long = Vec::new();
        while long.len() <= MAX_PLAINTEXT_PREFIX {
            long.extend_from_slice(b"X-Header: some value of a plaintext protocol\r\n");
        }
        let (v, _) = converse(&[(C, &long), (S, b"OK\n"), (C, CH), (S, SH)]);
        assert_eq!(v, Verdict::Plain(GiveUp::NoUpgrade));
    }

    #[test]
    fn starttls_whose_answer_was_not_captured() {
        // The 220 answer is missing: the client's ClientHello and the server's ServerHello.
        let steps: [(usize, &[u8]); 4] = [
            (S, b"220 mx ESMTP\r\n"),
            (C, b"EHLO x\r\nSTARTTLS\r\n"),
            (C, CH),
            (S, SH),
        ];
        check(&steps, Verdict::Upgrade(Start::StarttlsSmtp), [CH, SH]);
        assert!(run(&steps).0.reply_missing());
        // Answered: not missing.
        let (r, _) = run(&[
            (S, b"220 mx ESMTP\r\n"),
            (C, b"STARTTLS\r\n"),
            (C, CH),
            (S, b"220 go\r\n"),
            (S, SH),
        ]);
        assert_eq!(r.verdict(), Verdict::Upgrade(Start::StarttlsSmtp));
        assert!(!r.reply_missing());
        check(
            &[(C, b"CONNECT h:443 HTTP/1.1\r\n\r\n"), (C, CH), (S, SH)],
            Verdict::Upgrade(Start::HttpConnect),
            [CH, SH],
        );
        // Server side first in capture order.
        check(
            &[(C, b"CONNECT h:443 HTTP/1.1\r\n\r\n"), (S, SH), (C, CH)],
            Verdict::Upgrade(Start::HttpConnect),
            [CH, SH],
        );
    }
}
