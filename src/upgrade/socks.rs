//! SOCKS proxies: SOCKS4/4a CONNECT (granted `0x5a`) and SOCKS5 CONNECT (RFC 1928) with no
//! authentication or username/password (RFC 1929). TLS begins after the client's CONNECT
//! request and after the proxy's success reply. A refusal, a BIND/UDP request or another
//! authentication method leaves the connection plaintext.

use super::{Fed, Role, Start};

/// SOCKS4 CONNECT command.
const CONNECT: u8 = 1;
/// SOCKS4 "request granted".
const GRANTED: u8 = 0x5a;

/// Index just past the NUL at or after `from`.
fn nul_end(d: &[u8], from: usize) -> Option<usize> {
    d.get(from..)?
        .iter()
        .position(|&b| b == 0)
        .map(|i| from + i + 1)
}

/// State of one SOCKS4 connection.
#[derive(Debug, Default)]
pub(crate) struct Socks4 {
    pending: bool,
}

impl Socks4 {
    /// `04 01 …`: a SOCKS4 CONNECT request (`None`: need more bytes).
    pub(crate) fn classify(d: &[u8]) -> Option<bool> {
        Some(*d.get(1)? == CONNECT)
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
                if d.get(1).is_some_and(|&c| c != CONNECT) || d.first().is_some_and(|&v| v != 4) {
                    return Fed::plain(0);
                }
                // VN CD DSTPORT(2) DSTIP(4) USERID NUL [HOST NUL when DSTIP is 0.0.0.x, x≠0]
                let Some(mut end) = nul_end(d, 8) else {
                    return Fed::more(0);
                };
                if let Some([0, 0, 0, x]) = d.get(4..8) {
                    if *x != 0 {
                        let Some(e) = nul_end(d, end) else {
                            return Fed::more(0);
                        };
                        end = e;
                    }
                }
                self.pending = true;
                Fed::more(end)
            }
            Role::Server => {
                let Some(reply) = d.get(..8) else {
                    return Fed::more(0);
                };
                match reply {
                    [0, GRANTED, ..] if self.pending => Fed::upgrade(8, Start::Socks4),
                    [0, 0x5b..=0x5d, ..] => {
                        *refused += 1;
                        Fed::plain(8)
                    }
                    _ => Fed::plain(0),
                }
            }
        }
    }
}

#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
enum Client5 {
    /// Method selection message next.
    #[default]
    Greeting,
    /// Username/password sub-negotiation or the request next.
    Request,
    /// The CONNECT request was sent.
    Sent,
}

#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
enum Server5 {
    /// Method choice next.
    #[default]
    Method,
    /// Username/password status next.
    Auth,
    /// Reply to the request next.
    Reply,
}

/// State of one SOCKS5 connection.
#[derive(Debug, Default)]
pub(crate) struct Socks5 {
    client: Client5,
    server: Server5,
}

/// Length of an address of type `atyp` starting at `d[0]` (the type byte excluded), plus
/// the port: `None` for an unknown type, `Some(None)` if the domain length byte is missing.
fn addr_len(atyp: u8, d: &[u8]) -> Option<Option<usize>> {
    match atyp {
        1 => Some(Some(4 + 2)),
        4 => Some(Some(16 + 2)),
        3 => Some(d.first().map(|&n| 1 + usize::from(n) + 2)),
        _ => None,
    }
}

impl Socks5 {
    /// `05 n methods…` with n ≥ 1 (`None`: need more bytes).
    pub(crate) fn classify(d: &[u8]) -> Option<bool> {
        Some(*d.get(1)? >= 1)
    }

    /// The client's bytes after its request wait for the answer.
    pub(crate) fn pending(&self) -> bool {
        self.client == Client5::Sent
    }

    pub(crate) fn feed(&mut self, role: Role, d: &[u8], refused: &mut u32) -> Fed {
        match role {
            Role::Client => self.client_feed(d),
            Role::Server => self.server_feed(d, refused),
        }
    }

    fn client_feed(&mut self, d: &[u8]) -> Fed {
        let mut used = 0;
        loop {
            let m = d.get(used..).unwrap_or(&[]);
            match self.client {
                Client5::Sent => return Fed::more(used),
                Client5::Greeting => {
                    let Some(&n) = m.get(1) else {
                        return Fed::more(used);
                    };
                    let len = 2 + usize::from(n);
                    if m.first() != Some(&5) || n == 0 {
                        return Fed::plain(used);
                    }
                    if m.len() < len {
                        return Fed::more(used);
                    }
                    used += len;
                    self.client = Client5::Request;
                }
                Client5::Request => match m {
                    [] => return Fed::more(used),
                    // Username/password: 01 ULEN UNAME PLEN PASSWD
                    [1, rest @ ..] => {
                        let Some(&ulen) = rest.first() else {
                            return Fed::more(used);
                        };
                        let p = 2 + usize::from(ulen);
                        let Some(&plen) = m.get(p) else {
                            return Fed::more(used);
                        };
                        let len = p + 1 + usize::from(plen);
                        if m.len() < len {
                            return Fed::more(used);
                        }
                        used += len;
                    }
                    // Request: 05 CMD 00 ATYP ADDR PORT
                    [5, rest @ ..] => {
                        let (Some(&cmd), Some(&atyp)) = (rest.first(), rest.get(2)) else {
                            return Fed::more(used);
                        };
                        if cmd != CONNECT {
                            return Fed::plain(used);
                        }
                        let Some(alen) = addr_len(atyp, m.get(4..).unwrap_or(&[])) else {
                            return Fed::plain(used);
                        };
                        let Some(alen) = alen else {
                            return Fed::more(used);
                        };
                        let len = 4 + alen;
                        if m.len() < len {
                            return Fed::more(used);
                        }
                        used += len;
                        self.client = Client5::Sent;
                    }
                    _ => return Fed::plain(used),
                },
            }
        }
    }

    fn server_feed(&mut self, d: &[u8], refused: &mut u32) -> Fed {
        let mut used = 0;
        loop {
            let m = d.get(used..).unwrap_or(&[]);
            let (Some(&a), Some(&b)) = (m.first(), m.get(1)) else {
                return Fed::more(used);
            };
            match self.server {
                Server5::Method => {
                    used += 2;
                    match (a, b) {
                        (5, 0) => self.server = Server5::Reply,
                        (5, 2) => self.server = Server5::Auth,
                        (5, 0xff) => {
                            *refused += 1;
                            return Fed::plain(used);
                        }
                        _ => return Fed::plain(used),
                    }
                }
                Server5::Auth => {
                    used += 2;
                    if (a, b) != (1, 0) {
                        *refused += 1;
                        return Fed::plain(used);
                    }
                    self.server = Server5::Reply;
                }
                Server5::Reply => {
                    let Some(&atyp) = m.get(3) else {
                        return Fed::more(used);
                    };
                    let Some(Some(alen)) = addr_len(atyp, m.get(4..).unwrap_or(&[])) else {
                        return if addr_len(atyp, &[]).is_none() {
                            Fed::plain(used)
                        } else {
                            Fed::more(used)
                        };
                    };
                    let len = 4 + alen;
                    if m.len() < len {
                        return Fed::more(used);
                    }
                    used += len;
                    if a != 5 {
                        return Fed::plain(used);
                    }
                    if b != 0 {
                        *refused += 1;
                        return Fed::plain(used);
                    }
                    return if self.client == Client5::Sent {
                        Fed::upgrade(used, Start::Socks5)
                    } else {
                        Fed::plain(used)
                    };
                }
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
    fn socks4_and_4a() {
        check(
            &[
                (C, &[4, 1, 1, 187, 93, 184, 215, 14, 0]),
                (S, &[0, 0x5a, 0, 0, 0, 0, 0, 0]),
                (C, b"\x16\x03\x01"),
            ],
            Recognition::Upgrade(Start::Socks4),
            [b"\x16\x03\x01", b""],
        );
        let mut req = vec![4, 1, 1, 187, 0, 0, 0, 1];
        req.extend_from_slice(b"user\0example.com\0");
        check(
            &[(C, &req), (S, &[0, 0x5a, 0, 0, 0, 0, 0, 0])],
            Recognition::Upgrade(Start::Socks4),
            [b"", b""],
        );
    }

    #[test]
    fn socks4_rejected() {
        let (v, _) = converse(&[
            (C, &[4, 1, 1, 187, 93, 184, 215, 14, 0]),
            (S, &[0, 0x5b, 0, 0, 0, 0, 0, 0]),
            (C, b"\x16\x03\x01"),
        ]);
        assert_eq!(v, Recognition::Plain(GiveUp::NoUpgrade));
    }

    #[test]
    fn socks5_without_and_with_auth() {
        check(
            &[
                (C, &[5, 1, 0]),
                (S, &[5, 0]),
                (
                    C,
                    &[
                        5, 1, 0, 3, 11, b'e', b'x', b'a', b'm', b'p', b'l', b'e', b'.', b'c', b'o',
                        b'm', 1, 187,
                    ],
                ),
                (S, &[5, 0, 0, 1, 127, 0, 0, 1, 0x10, 0x00]),
                (C, b"\x16\x03\x01"),
            ],
            Recognition::Upgrade(Start::Socks5),
            [b"\x16\x03\x01", b""],
        );
        check(
            &[
                (C, &[5, 2, 0, 2]),
                (S, &[5, 2]),
                (C, &[1, 1, b'u', 2, b'p', b'w']),
                (S, &[1, 0]),
                (C, &[5, 1, 0, 1, 10, 0, 0, 1, 1, 187]),
                (
                    S,
                    &[
                        5, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 80,
                    ],
                ),
            ],
            Recognition::Upgrade(Start::Socks5),
            [b"", b""],
        );
    }

    #[test]
    fn socks5_refusals() {
        // No acceptable method.
        let (v, _) = converse(&[(C, &[5, 1, 2]), (S, &[5, 0xff])]);
        assert_eq!(v, Recognition::Plain(GiveUp::NoUpgrade));
        // Bad password.
        let (v, _) = converse(&[
            (C, &[5, 1, 2]),
            (S, &[5, 2]),
            (C, &[1, 1, b'u', 1, b'p']),
            (S, &[1, 1]),
        ]);
        assert_eq!(v, Recognition::Plain(GiveUp::NoUpgrade));
        // Host unreachable.
        let (v, _) = converse(&[
            (C, &[5, 1, 0]),
            (S, &[5, 0]),
            (C, &[5, 1, 0, 1, 10, 0, 0, 1, 1, 187]),
            (S, &[5, 4, 0, 1, 0, 0, 0, 0, 0, 0]),
        ]);
        assert_eq!(v, Recognition::Plain(GiveUp::NoUpgrade));
        // UDP ASSOCIATE is not a TLS tunnel.
        let (v, _) = converse(&[
            (C, &[5, 1, 0]),
            (S, &[5, 0]),
            (C, &[5, 3, 0, 1, 0, 0, 0, 0, 0, 0]),
        ]);
        assert_eq!(v, Recognition::Plain(GiveUp::NoUpgrade));
    }
}
