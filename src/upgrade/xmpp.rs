//! XMPP STARTTLS (RFC 6120 §5): after the stream headers the client sends
//! `<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>` and the server answers `<proceed/>`
//! (TLS begins right after it) or `<failure/>` (the server closes the stream). Only tags are
//! looked at, one complete `<…>` at a time; prefixes are ignored.

use super::{Fed, Role, Start};

/// One tag: its local name, whether it closes an element (`</x>`), whether it is empty
/// (`<x/>`), and its length including `<` and `>`.
struct Tag<'a> {
    name: &'a [u8],
    close: bool,
    empty: bool,
}

/// The next tag at or after `d[0]`: `(offset past it, tag)`. `None`: incomplete.
fn next_tag(d: &[u8]) -> Option<(usize, Tag<'_>)> {
    let lt = d.iter().position(|&b| b == b'<')?;
    let gt = lt + d.get(lt..)?.iter().position(|&b| b == b'>')?;
    let inner = d.get(lt + 1..gt)?;
    let (close, inner) = match inner.strip_prefix(b"/") {
        Some(r) => (true, r),
        None => (false, inner),
    };
    let empty = inner.ends_with(b"/");
    let end = inner
        .iter()
        .position(|&b| b.is_ascii_whitespace() || b == b'/' || b == b'>')
        .unwrap_or(inner.len());
    let qname = inner.get(..end).unwrap_or(&[]);
    let name = match qname.iter().position(|&b| b == b':') {
        Some(c) => qname.get(c + 1..).unwrap_or(&[]),
        None => qname,
    };
    Some((gt + 1, Tag { name, close, empty }))
}

/// State of one XMPP stream.
#[derive(Debug, Default)]
pub(crate) struct Xmpp {
    /// The client's `<starttls>` element was sent whole.
    pending: bool,
    /// Inside a non-empty `<starttls>` (client) or `<proceed>` (server) element.
    open: [bool; 2],
}

impl Xmpp {
    /// An XML declaration or a stream header (`None`: need more bytes).
    pub(crate) fn classify(d: &[u8]) -> Option<bool> {
        for p in [&b"<?xml"[..], b"<stream:stream"] {
            let n = p.len().min(d.len());
            if d.get(..n) == p.get(..n) {
                return if d.len() >= p.len() { Some(true) } else { None };
            }
        }
        Some(false)
    }

    /// The client's bytes after its request wait for the answer.
    pub(crate) fn pending(&self) -> bool {
        self.pending
    }

    pub(crate) fn feed(&mut self, role: Role, d: &[u8], refused: &mut u32) -> Fed {
        let mut used = 0;
        loop {
            if role == Role::Client && self.pending {
                return Fed::more(used);
            }
            let Some((n, tag)) = d.get(used..).and_then(next_tag) else {
                return Fed::more(used);
            };
            used += n;
            let i = usize::from(role == Role::Server);
            let want: &[u8] = match role {
                Role::Client => b"starttls",
                Role::Server => b"proceed",
            };
            if tag.name == want {
                let done = if tag.close {
                    self.open.get(i).copied().unwrap_or(false)
                } else if tag.empty {
                    true
                } else {
                    if let Some(o) = self.open.get_mut(i) {
                        *o = true;
                    }
                    false
                };
                if done {
                    match role {
                        Role::Client => self.pending = true,
                        Role::Server if self.pending => {
                            return Fed::upgrade(used, Start::StarttlsXmpp);
                        }
                        Role::Server => return Fed::plain(used),
                    }
                }
            } else if role == Role::Server && self.pending && tag.name == b"failure" {
                *refused += 1;
                return Fed::plain(used);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{check, converse};
    use super::super::{GiveUp, Recognition, Start};

    const C: usize = 0;
    const S: usize = 1;

    #[test]
    fn starttls_proceed() {
        check(
            &[
                (
                    C,
                    b"<?xml version='1.0'?><stream:stream to='example.com' xmlns='jabber:client' \
                      xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>",
                ),
                (
                    S,
                    b"<?xml version='1.0'?><stream:stream from='example.com' id='x' version='1.0' \
                      xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>\
                      <stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>\
                      <required/></starttls></stream:features>",
                ),
                (C, b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"),
                (S, b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"),
                (C, b"\x16\x03\x01"),
            ],
            Recognition::Upgrade(Start::StarttlsXmpp),
            [b"\x16\x03\x01", b""],
        );
    }

    #[test]
    fn starttls_failure() {
        let (v, _) = converse(&[
            (C, b"<stream:stream to='x' version='1.0'>"),
            (S, b"<stream:stream from='x'><stream:features/>"),
            (
                C,
                b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'></starttls>",
            ),
            (
                S,
                b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:stream>",
            ),
        ]);
        assert_eq!(v, Recognition::Plain(GiveUp::NoUpgrade));
    }
}
