//! HTTP `CONNECT host:port` through a proxy (RFC 9110 §9.3.6): TLS begins after the request
//! head in the client's direction and after a `2xx` response head in the proxy's. Interim
//! `1xx` responses are skipped; a refusal (`407`, `403`, …) has its `Content-Length` body
//! skipped so that a retried `CONNECT` on the same connection is still recognised. Any other
//! request method is plain HTTP: nothing in it is TLS, not even a ClientHello sent as a body.

use super::{Fed, Role, Start, line_end, starts_with_ci, trim_line};

/// What an HTTP first line is.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `CONNECT target HTTP/1.x`.
    Connect,
    /// Any other request, or a response.
    Other,
}

/// Classifies a complete first line as HTTP, if it is.
pub(crate) fn classify(first: &[u8]) -> Option<Kind> {
    let t = trim_line(first);
    if status(t).is_some() {
        return Some(Kind::Other);
    }
    let mut parts = t.split(|&b| b == b' ');
    let method = parts.next()?;
    let _target = parts.next().filter(|p| !p.is_empty())?;
    let version = parts.next()?;
    if parts.next().is_some()
        || method.is_empty()
        || !method.iter().all(|b| b.is_ascii_uppercase() || *b == b'-')
        || !version.starts_with(b"HTTP/")
    {
        return None;
    }
    Some(if method == b"CONNECT" {
        Kind::Connect
    } else {
        Kind::Other
    })
}

/// Status code of an `HTTP/x.y ddd …` status line.
fn status(t: &[u8]) -> Option<u16> {
    let rest = t.strip_prefix(b"HTTP/")?;
    let sp = rest.iter().position(|&b| b == b' ')?;
    match rest.get(sp + 1..sp + 4)? {
        [a, b, c] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            Some(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => None,
    }
}

/// Length of a message head (through the empty line), if complete.
fn head_len(d: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        let n = line_end(d.get(at..)?)?;
        let l = d.get(at..at + n)?;
        at += n;
        if trim_line(l).is_empty() && l.iter().all(|&b| b == b'\r' || b == b'\n') {
            return Some(at);
        }
    }
}

/// Body length of a refusal: `Some(n)` for `Content-Length: n`, `None` when the body is
/// delimited otherwise (chunked, or by closing).
fn body_len(head: &[u8]) -> Option<usize> {
    let mut at = 0;
    let mut len = None;
    while let Some(n) = head.get(at..).and_then(line_end) {
        let l = trim_line(head.get(at..at + n).unwrap_or(&[]));
        at += n;
        if starts_with_ci(l, b"transfer-encoding:") {
            return None;
        }
        if starts_with_ci(l, b"content-length:") {
            let v = l.get(15..).unwrap_or(&[]).trim_ascii();
            let n: usize = std::str::from_utf8(v).ok()?.parse().ok()?;
            len = Some(n);
        }
    }
    len
}

/// State of one proxy connection.
#[derive(Debug, Default)]
pub(crate) struct Connect {
    /// A `CONNECT` awaits its answer.
    pending: bool,
    /// Body bytes of a refusal still to skip.
    skip: usize,
}

impl Connect {
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
                let Some(n) = head_len(d) else {
                    return if super::is_text_line(d) {
                        Fed::more(0)
                    } else {
                        Fed::plain(0)
                    };
                };
                let first = d.get(..line_end(d).unwrap_or(0)).unwrap_or(&[]);
                if classify(first) == Some(Kind::Connect) {
                    self.pending = true;
                    Fed::more(n)
                } else {
                    Fed::plain(0)
                }
            }
            Role::Server => {
                let mut used = 0;
                loop {
                    if self.skip > 0 {
                        let n = self.skip.min(d.len().saturating_sub(used));
                        self.skip -= n;
                        used += n;
                        if self.skip > 0 {
                            return Fed::more(used);
                        }
                    }
                    let rest = d.get(used..).unwrap_or(&[]);
                    let Some(n) = head_len(rest) else {
                        return Fed::more(used);
                    };
                    let head = rest.get(..n).unwrap_or(&[]);
                    let Some(code) = status(trim_line(head)) else {
                        return Fed::plain(used);
                    };
                    used += n;
                    if (100..200).contains(&code) {
                        continue;
                    }
                    if !self.pending {
                        return Fed::plain(used);
                    }
                    if (200..300).contains(&code) {
                        return Fed::upgrade(used, Start::HttpConnect);
                    }
                    *refused += 1;
                    self.pending = false;
                    match body_len(head) {
                        Some(b) if b <= super::MAX_PLAINTEXT_INSPECT => self.skip = b,
                        _ => return Fed::plain(used),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{check, converse};
    use super::super::{GiveUp, Recognition, Start};
    use super::*;

    const C: usize = 0;
    const S: usize = 1;

    #[test]
    fn first_lines() {
        assert_eq!(
            classify(b"CONNECT example.com:443 HTTP/1.1\r\n"),
            Some(Kind::Connect)
        );
        assert_eq!(classify(b"POST / HTTP/1.1\r\n"), Some(Kind::Other));
        assert_eq!(classify(b"HTTP/1.1 200 OK\r\n"), Some(Kind::Other));
        assert_eq!(classify(b"EHLO example.com\r\n"), None);
        assert_eq!(classify(b"a1 LOGIN x y\r\n"), None);
    }

    #[test]
    fn connect_then_200() {
        check(
            &[
                (
                    C,
                    b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
                ),
                (S, b"HTTP/1.1 200 Connection established\r\n\r\n"),
                (C, b"\x16\x03\x01"),
            ],
            Recognition::Upgrade(Start::HttpConnect),
            [b"\x16\x03\x01", b""],
        );
    }

    #[test]
    fn connect_answered_407_stays_plaintext_then_retry_upgrades() {
        let refusal: &[u8] = b"HTTP/1.1 407 Proxy Authentication Required\r\n\
            Proxy-Authenticate: Basic realm=\"p\"\r\nContent-Length: 5\r\n\r\nnope!";
        let (v, _) = converse(&[
            (C, b"CONNECT example.com:443 HTTP/1.1\r\n\r\n"),
            (S, refusal),
        ]);
        assert_eq!(v, Recognition::Undecided);
        // The client gives up: whatever it sends now is not TLS.
        let (v, _) = converse(&[
            (C, b"CONNECT example.com:443 HTTP/1.1\r\n\r\n"),
            (S, refusal),
            (C, b"\x16\x03\x01\x00\x10"),
        ]);
        assert_eq!(v, Recognition::Plain(GiveUp::NoUpgrade));
        check(
            &[
                (C, b"CONNECT example.com:443 HTTP/1.1\r\n\r\n"),
                (S, refusal),
                (
                    C,
                    b"CONNECT example.com:443 HTTP/1.1\r\nProxy-Authorization: Basic eDp5\r\n\r\n",
                ),
                (S, b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"),
            ],
            Recognition::Upgrade(Start::HttpConnect),
            [b"", b""],
        );
    }

    #[test]
    fn post_with_a_client_hello_body_is_plain_http() {
        let mut post = b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n".to_vec();
        post.extend_from_slice(b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00");
        let (v, _) = converse(&[(C, &post), (S, b"HTTP/1.1 200 OK\r\n\r\n")]);
        assert_eq!(v, Recognition::Plain(GiveUp::NoUpgrade));
    }

    #[test]
    fn a_200_without_connect_is_not_an_upgrade() {
        let (v, _) = converse(&[(S, b"HTTP/1.1 200 OK\r\n\r\n\x16\x03\x03")]);
        assert_eq!(v, Recognition::Plain(GiveUp::NoUpgrade));
    }
}
