//! Line protocols that upgrade with a command: SMTP `STARTTLS` (220), IMAP `tag STARTTLS`
//! (`tag OK`), POP3 `STLS` (`+OK`), FTP `AUTH TLS`/`AUTH SSL` (234), NNTP `STARTTLS` (382),
//! ManageSieve `STARTTLS` (`OK`), IRC `STARTTLS` (numeric `670`, refused with `691`).
//!
//! The server's greeting, when seen, fixes the family (`220` SMTP or FTP, `200`/`201` NNTP,
//! `+OK` POP3, `* OK` IMAP, `"…"` capability lines ManageSieve, `:prefix …` IRC; an IRC client
//! announces itself with `CAP` or `NICK`), so that a body line in one
//! protocol is not taken for another protocol's command. The answer to an untagged
//! `STARTTLS`, `STLS` or `AUTH` is the first final reply the server sends after it (servers
//! answer in order and the client waits for the answer before speaking TLS); an IMAP answer
//! is the tagged response with the request's tag.

use super::{Fed, Role, Start, is_text_line, line_end, starts_with_ci, trim_line};

/// Longest IMAP tag remembered; a longer one is not taken for a STARTTLS request.
const MAX_TAG: usize = 32;

#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
enum Family {
    /// No greeting seen (connection joined late): any of the commands.
    #[default]
    Unknown,
    /// `220` greeting: SMTP or FTP.
    SmtpFtp,
    Pop3,
    Imap,
    Nntp,
    Sieve,
    /// IRC: server lines carry a `:prefix`; only numerics 670/691 answer `STARTTLS`.
    Irc,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Pending {
    /// Untagged `STARTTLS` (SMTP, NNTP, ManageSieve, IRC: the reply tells which).
    Starttls,
    /// IMAP `tag STARTTLS`.
    Imap,
    /// POP3 `STLS`.
    Stls,
    /// FTP `AUTH TLS`.
    AuthTls,
}

enum Answer {
    /// Not the final answer yet.
    Skip,
    Accept(Start),
    Refuse,
}

/// State of one line-protocol connection.
#[derive(Debug, Default)]
pub(crate) struct Line {
    family: Family,
    greeted: bool,
    pending: Option<Pending>,
    tag: [u8; MAX_TAG],
    tag_len: usize,
}

/// Role of the sender of a first line: a greeting or reply comes from the server, anything
/// else that looks like a command from the client.
pub(crate) fn classify(first: &[u8]) -> Option<Role> {
    let t = trim_line(first);
    if t.is_empty() || t.first().is_some_and(|b| b.is_ascii_whitespace()) {
        return None;
    }
    if reply_code(t).is_some()
        || starts_with_ci(t, b"+OK")
        || starts_with_ci(t, b"-ERR")
        || t.starts_with(b"* ")
        || t.starts_with(b"\"")
        || t.starts_with(b":")
    {
        return Some(Role::Server);
    }
    Some(Role::Client)
}

/// `(code, final)` of a `ddd ` / `ddd-` reply line.
fn reply_code(t: &[u8]) -> Option<(u16, bool)> {
    match t {
        [a, b, c, rest @ ..] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            let code = u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0');
            match rest.first() {
                None | Some(b' ') => Some((code, true)),
                Some(b'-') => Some((code, false)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// First word equals `w` (case-insensitive) and is followed by the end or a space.
fn word(t: &[u8], w: &[u8]) -> bool {
    starts_with_ci(t, w) && matches!(t.get(w.len()), None | Some(b' '))
}

impl Line {
    /// The upgrade the pending request would start.
    pub(crate) fn pending_start(&self) -> Option<Start> {
        Some(match self.pending? {
            Pending::Starttls => match self.family {
                Family::Nntp => Start::StarttlsNntp,
                Family::Sieve => Start::StarttlsSieve,
                Family::Irc => Start::StarttlsIrc,
                _ => Start::StarttlsSmtp,
            },
            Pending::Imap => Start::StarttlsImap,
            Pending::Stls => Start::StarttlsPop3,
            Pending::AuthTls => Start::AuthTlsFtp,
        })
    }

    pub(crate) fn feed(&mut self, role: Role, d: &[u8], refused: &mut u32) -> Fed {
        match role {
            Role::Client => self.client(d),
            Role::Server => self.server(d, refused),
        }
    }

    fn client(&mut self, d: &[u8]) -> Fed {
        if self.pending.is_some() {
            return Fed::more(0);
        }
        let mut used = 0;
        while let Some(n) = d.get(used..).and_then(line_end) {
            let l = d.get(used..used + n).unwrap_or(&[]);
            if !is_text_line(l) {
                return Fed::plain(used);
            }
            used += n;
            let t = trim_line(l);
            if self.family == Family::Unknown && (word(t, b"CAP") || word(t, b"NICK")) {
                self.family = Family::Irc;
            }
            if let Some(p) = self.request(t) {
                self.pending = Some(p);
                return Fed::more(used);
            }
            if self.family == Family::SmtpFtp
                && (word(t, b"MAIL") || word(t, b"DATA") || word(t, b"BDAT"))
            {
                // A mail transaction in plaintext: this session is not upgrading (and its
                // message body is not worth inspecting).
                return Fed::plain(used);
            }
        }
        tail(d, used)
    }

    /// Is this client line an upgrade request of a family still possible?
    fn request(&mut self, t: &[u8]) -> Option<Pending> {
        use Family::*;
        let f = self.family;
        if t.eq_ignore_ascii_case(b"STARTTLS")
            && matches!(f, Unknown | SmtpFtp | Nntp | Sieve | Irc)
        {
            return Some(Pending::Starttls);
        }
        if t.eq_ignore_ascii_case(b"STLS") && matches!(f, Unknown | Pop3) {
            return Some(Pending::Stls);
        }
        if word(t, b"AUTH") && matches!(f, Unknown | SmtpFtp) {
            let arg = t.get(5..).unwrap_or(&[]);
            if [&b"TLS"[..], b"SSL", b"TLS-C", b"TLS-P"]
                .iter()
                .any(|m| arg.eq_ignore_ascii_case(m))
            {
                return Some(Pending::AuthTls);
            }
        }
        if matches!(f, Unknown | Imap) {
            let sp = t.iter().position(|&b| b == b' ')?;
            let (tag, rest) = (t.get(..sp)?, t.get(sp + 1..)?);
            if (1..=MAX_TAG).contains(&tag.len()) && rest.eq_ignore_ascii_case(b"STARTTLS") {
                self.tag.get_mut(..tag.len())?.copy_from_slice(tag);
                self.tag_len = tag.len();
                return Some(Pending::Imap);
            }
        }
        None
    }

    fn server(&mut self, d: &[u8], refused: &mut u32) -> Fed {
        let mut used = 0;
        while let Some(n) = d.get(used..).and_then(line_end) {
            let l = d.get(used..used + n).unwrap_or(&[]);
            if !is_text_line(l) {
                return Fed::plain(used);
            }
            used += n;
            let t = trim_line(l);
            let Some(p) = self.pending else {
                if !self.greeted {
                    self.greeted = true;
                    self.family = greeting(t);
                }
                continue;
            };
            self.greeted = true;
            match self.answer(p, t) {
                Answer::Skip => {}
                Answer::Accept(s) => return Fed::upgrade(used, s),
                Answer::Refuse => {
                    *refused += 1;
                    self.pending = None;
                }
            }
        }
        tail(d, used)
    }

    fn answer(&self, p: Pending, t: &[u8]) -> Answer {
        match p {
            Pending::Starttls if t.starts_with(b":") || self.family == Family::Irc => {
                match irc_numeric(t) {
                    Some(670) => Answer::Accept(Start::StarttlsIrc),
                    Some(691) => Answer::Refuse,
                    _ => Answer::Skip,
                }
            }
            Pending::Starttls => match reply_code(t) {
                Some((_, false)) => Answer::Skip,
                Some((220, true)) if self.family != Family::Nntp => {
                    Answer::Accept(Start::StarttlsSmtp)
                }
                Some((382, true)) => Answer::Accept(Start::StarttlsNntp),
                Some(_) => Answer::Refuse,
                None if t.is_empty() || t.starts_with(b"\"") => Answer::Skip,
                None if word(t, b"OK") => Answer::Accept(Start::StarttlsSieve),
                None => Answer::Refuse,
            },
            Pending::Imap => {
                let tag = self.tag.get(..self.tag_len).unwrap_or(&[]);
                match t.strip_prefix(tag).and_then(|r| r.strip_prefix(b" ")) {
                    Some(r) if word(r, b"OK") => Answer::Accept(Start::StarttlsImap),
                    Some(_) => Answer::Refuse,
                    None => Answer::Skip,
                }
            }
            Pending::Stls => {
                if starts_with_ci(t, b"+OK") {
                    Answer::Accept(Start::StarttlsPop3)
                } else if starts_with_ci(t, b"-ERR") {
                    Answer::Refuse
                } else {
                    Answer::Skip
                }
            }
            Pending::AuthTls => match reply_code(t) {
                Some((_, false)) | None => Answer::Skip,
                Some((234, true)) => Answer::Accept(Start::AuthTlsFtp),
                Some(_) => Answer::Refuse,
            },
        }
    }
}

/// The numeric of an IRC reply `:prefix ddd target …` (RFC 2812 §2.3.1).
fn irc_numeric(t: &[u8]) -> Option<u16> {
    let rest = t.strip_prefix(b":")?;
    let sp = rest.iter().position(|&b| b == b' ')?;
    let cmd = rest.get(sp + 1..)?;
    match cmd {
        [a, b, c, end @ ..]
            if a.is_ascii_digit()
                && b.is_ascii_digit()
                && c.is_ascii_digit()
                && matches!(end.first(), None | Some(b' ')) =>
        {
            Some(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => None,
    }
}

/// Waits for the rest of an incomplete line, unless it already holds binary bytes.
fn tail(d: &[u8], used: usize) -> Fed {
    if is_text_line(d.get(used..).unwrap_or(&[])) {
        Fed::more(used)
    } else {
        Fed::plain(used)
    }
}

/// The family a server greeting announces.
fn greeting(t: &[u8]) -> Family {
    match reply_code(t) {
        Some((220, _)) => Family::SmtpFtp,
        Some((200 | 201, _)) => Family::Nntp,
        Some(_) => Family::Unknown,
        None if starts_with_ci(t, b"+OK") => Family::Pop3,
        None if t.starts_with(b"* ") => Family::Imap,
        None if t.starts_with(b"\"") => Family::Sieve,
        None if t.starts_with(b":") => Family::Irc,
        None => Family::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::check;
    use super::super::{GiveUp, Start, Verdict};

    const C: usize = 0;
    const S: usize = 1;

    #[test]
    fn smtp_starttls_accepted() {
        check(
            &[
                (S, b"220 mx.example ESMTP\r\n"),
                (C, b"EHLO client.example\r\n"),
                (S, b"250-mx.example\r\n250-PIPELINING\r\n250 STARTTLS\r\n"),
                (C, b"STARTTLS\r\n"),
                (S, b"220 2.0.0 Ready to start TLS\r\n"),
                (C, b"\x16\x03\x01\x00\x05hello"),
                (S, b"\x16\x03\x03"),
            ],
            Verdict::Upgrade(Start::StarttlsSmtp),
            [b"\x16\x03\x01\x00\x05hello", b"\x16\x03\x03"],
        );
    }

    #[test]
    fn client_hello_sent_before_the_answer_is_seen_waits() {
        // Capture order need not be causal order: the client's TLS bytes are held.
        check(
            &[
                (S, b"220 mx ESMTP\r\n"),
                (C, b"STARTTLS\r\n\x16\x03\x01\x00\x02hi"),
                (S, b"220 go ahead\r\n"),
            ],
            Verdict::Upgrade(Start::StarttlsSmtp),
            [b"\x16\x03\x01\x00\x02hi", b""],
        );
    }

    #[test]
    fn smtp_starttls_refused_with_454_stays_plaintext() {
        let (v, _) = super::super::tests::converse(&[
            (S, b"220 mx ESMTP\r\n"),
            (C, b"STARTTLS\r\n"),
            (S, b"454 4.7.0 TLS not available\r\n"),
            (C, b"\x16\x03\x01\x00\x02hi"),
        ]);
        assert_eq!(v, Verdict::Plain(GiveUp::NoUpgrade));
        let (v, _) = super::super::tests::converse(&[
            (S, b"220 mx ESMTP\r\n"),
            (C, b"STARTTLS\r\n"),
            (S, b"454 4.7.0 TLS not available\r\n"),
            (C, b"NOOP\r\n"),
        ]);
        assert_eq!(v, Verdict::Undecided, "a later STARTTLS may still succeed");
    }

    #[test]
    fn imap_tagged_ok_and_bad() {
        check(
            &[
                (S, b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n"),
                (C, b". CAPABILITY\r\n"),
                (S, b"* CAPABILITY IMAP4rev1 STARTTLS\r\n. OK done\r\n"),
                (C, b"a1 STARTTLS\r\n"),
                (S, b"* BYE not really\r\n"),
                (S, b"a1 OK Begin TLS negotiation now.\r\n"),
            ],
            Verdict::Upgrade(Start::StarttlsImap),
            [b"", b""],
        );
        let (v, _) = super::super::tests::converse(&[
            (S, b"* OK ready\r\n"),
            (C, b"a1 STARTTLS\r\n"),
            (S, b"a1 BAD not now\r\n"),
            (C, b"a2 LOGOUT\r\n"),
        ]);
        assert_eq!(v, Verdict::Undecided);
    }

    #[test]
    fn pop3_stls_ok_and_err() {
        check(
            &[
                (S, b"+OK POP3 ready\r\n"),
                (C, b"CAPA\r\n"),
                (S, b"+OK\r\nSTLS\r\n.\r\n"),
                (C, b"STLS\r\n"),
                (S, b"+OK Begin TLS\r\n"),
            ],
            Verdict::Upgrade(Start::StarttlsPop3),
            [b"", b""],
        );
        let (v, _) = super::super::tests::converse(&[
            (S, b"+OK POP3 ready\r\n"),
            (C, b"STLS\r\n"),
            (S, b"-ERR no\r\n"),
        ]);
        assert_eq!(v, Verdict::Undecided);
    }

    #[test]
    fn ftp_auth_tls_and_nntp_and_sieve() {
        check(
            &[
                (S, b"220-Welcome\r\n220 FTP ready\r\n"),
                (C, b"AUTH TLS\r\n"),
                (S, b"234 Proceed with negotiation.\r\n"),
            ],
            Verdict::Upgrade(Start::AuthTlsFtp),
            [b"", b""],
        );
        check(
            &[
                (S, b"200 news ready\r\n"),
                (C, b"STARTTLS\r\n"),
                (S, b"382 Continue with TLS negotiation\r\n"),
            ],
            Verdict::Upgrade(Start::StarttlsNntp),
            [b"", b""],
        );
        check(
            &[
                (
                    S,
                    b"\"IMPLEMENTATION\" \"Pigeonhole\"\r\n\"STARTTLS\"\r\nOK \"ready\"\r\n",
                ),
                (C, b"STARTTLS\r\n"),
                (S, b"OK \"Begin TLS negotiation now.\"\r\n"),
            ],
            Verdict::Upgrade(Start::StarttlsSieve),
            [b"", b""],
        );
    }

    #[test]
    fn a_command_of_another_family_is_not_a_request() {
        // A POP3 server: an IMAP-looking line and STARTTLS mean nothing.
        let (v, _) = super::super::tests::converse(&[
            (S, b"+OK ready\r\n"),
            (C, b"a1 STARTTLS\r\n"),
            (S, b"+OK whatever\r\n"),
        ]);
        assert_eq!(v, Verdict::Undecided);
    }

    #[test]
    fn a_plaintext_mail_transaction_gives_up_at_once() {
        let (v, _) = super::super::tests::converse(&[
            (S, b"220 mx ESMTP\r\n"),
            (C, b"EHLO x\r\n"),
            (S, b"250 mx\r\n"),
            (C, b"MAIL FROM:<a@example.com>\r\n"),
        ]);
        assert_eq!(v, Verdict::Plain(GiveUp::NoUpgrade));
    }

    #[test]
    fn irc_starttls_670_is_not_smtp() {
        check(
            &[
                (C, b"CAP LS 302\r\n"),
                (
                    S,
                    b":irc.example.net NOTICE * :*** Looking up your hostname\r\n",
                ),
                (S, b":irc.example.net CAP * LS :multi-prefix tls\r\n"),
                (C, b"STARTTLS\r\n"),
                (
                    S,
                    b":irc.example.net 670 * :STARTTLS successful, go ahead with TLS handshake\r\n",
                ),
                (C, b"\x16\x03\x01"),
            ],
            Verdict::Upgrade(Start::StarttlsIrc),
            [b"\x16\x03\x01", b""],
        );
        // Client first, without CAP: the prefixed answer still says IRC.
        check(
            &[
                (C, b"STARTTLS\r\n"),
                (
                    S,
                    b":irc.example.net NOTICE * :hello\r\n:irc.example.net 670 * :go\r\n",
                ),
            ],
            Verdict::Upgrade(Start::StarttlsIrc),
            [b"", b""],
        );
    }

    #[test]
    fn irc_starttls_691_is_refused_and_not_smtp() {
        let mut r = super::super::Recogniser::new();
        r.feed(
            S,
            b":irc.example.net NOTICE * :*** Looking up your hostname\r\n",
        );
        r.feed(C, b"STARTTLS\r\n");
        r.feed(S, b":irc.example.net 691 * :STARTTLS failure\r\n");
        assert_eq!(r.verdict(), Verdict::Undecided);
        assert_eq!(r.refused(), 1);
        // A NOTICE is no answer at all (an SMTP reading would refuse on it).
        let mut r = super::super::Recogniser::new();
        r.feed(C, b"NICK x\r\nSTARTTLS\r\n");
        r.feed(S, b"NOTICE AUTH :*** Looking up your hostname\r\n");
        assert_eq!((r.verdict(), r.refused()), (Verdict::Undecided, 0));
    }

    #[test]
    fn binary_after_text_gives_up() {
        let (v, _) =
            super::super::tests::converse(&[(S, b"220 mx ESMTP\r\n"), (C, b"\x00\x01\x02\r\n")]);
        assert_eq!(v, Verdict::Plain(GiveUp::NoUpgrade));
    }
}
