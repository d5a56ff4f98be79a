//! Database SSL requests.
//!
//! * PostgreSQL: the client's 8-byte SSLRequest is answered by one byte, `S` (TLS follows) or
//!   `N` (plaintext startup follows). A GSSENCRequest answered `N` may come first.
//! * MySQL/MariaDB: the server's greeting (protocol 10) comes first; a client that wants TLS
//!   answers with a 32-byte SSL request (the handshake response's fixed part with
//!   `CLIENT_SSL` set) and starts TLS right after it, without waiting for an answer. TLS
//!   begins after the greeting in the server's direction.

use super::{Fed, Role, Start};

/// PostgreSQL SSLRequest: length 8, code 80877103.
const PG_SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
/// PostgreSQL GSSENCRequest: length 8, code 80877104.
const PG_GSSENC_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30];

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum PgReq {
    Ssl,
    Gss,
}

/// State of one PostgreSQL connection.
#[derive(Debug, Default)]
pub(crate) struct Postgres {
    pending: Option<PgReq>,
}

impl Postgres {
    /// An SSLRequest or GSSENCRequest (`None`: need more bytes).
    pub(crate) fn classify(d: &[u8]) -> Option<bool> {
        for r in [PG_SSL_REQUEST, PG_GSSENC_REQUEST] {
            let n = d.len().min(8);
            if d.get(..n) == r.get(..n) {
                return if n == 8 { Some(true) } else { None };
            }
        }
        Some(false)
    }

    /// The client's bytes after its request wait for the answer.
    pub(crate) fn pending(&self) -> bool {
        self.pending.is_some()
    }

    pub(crate) fn feed(&mut self, role: Role, d: &[u8], refused: &mut u32) -> Fed {
        match role {
            Role::Client => {
                if self.pending.is_some() {
                    return Fed::more(0);
                }
                let Some(m) = d.get(..8) else {
                    return Fed::more(0);
                };
                if m == PG_SSL_REQUEST {
                    self.pending = Some(PgReq::Ssl);
                } else if m == PG_GSSENC_REQUEST {
                    self.pending = Some(PgReq::Gss);
                } else {
                    // A StartupMessage: plaintext from here on.
                    return Fed::plain(0);
                }
                Fed::more(8)
            }
            Role::Server => {
                let Some(&b) = d.first() else {
                    return Fed::more(0);
                };
                match (self.pending, b) {
                    (Some(PgReq::Ssl), b'S') => Fed::upgrade(1, Start::PostgresSsl),
                    (Some(PgReq::Gss), b'N') => {
                        self.pending = None;
                        Fed::more(1)
                    }
                    (Some(PgReq::Ssl), b'N') => {
                        *refused += 1;
                        Fed::plain(1)
                    }
                    _ => Fed::plain(0),
                }
            }
        }
    }
}

/// `CLIENT_SSL` capability flag.
const CLIENT_SSL: u32 = 0x0800;
/// Payload length of an SSL request (capabilities, max packet, charset, 23 filler bytes).
const SSL_REQUEST_LEN: usize = 32;
/// Plausible greeting payload lengths.
const GREETING_LEN: std::ops::RangeInclusive<usize> = 20..=1024;

/// State of one MySQL connection.
#[derive(Debug, Default)]
pub(crate) struct Mysql {
    /// The server's greeting was consumed.
    greeted: bool,
    /// The client's SSL request was consumed.
    requested: bool,
}

/// A packet's payload length and sequence number.
fn header(d: &[u8]) -> Option<(usize, u8)> {
    match d.get(..4)? {
        [a, b, c, seq] => Some((
            usize::from(*a) | usize::from(*b) << 8 | usize::from(*c) << 16,
            *seq,
        )),
        _ => None,
    }
}

impl Mysql {
    /// A protocol-10 greeting (`Some(false)`: not one; `None`: need more bytes).
    pub(crate) fn classify(d: &[u8]) -> Option<bool> {
        if d.len() >= 3 && d.get(2) != Some(&0) {
            return Some(false);
        }
        if d.len() >= 4 && d.get(3) != Some(&0) {
            return Some(false);
        }
        let (len, _) = header(d)?;
        if !GREETING_LEN.contains(&len) {
            return Some(false);
        }
        Some(*d.get(4)? == 0x0a)
    }

    /// The client's bytes after its request wait for the greeting.
    pub(crate) fn pending(&self) -> bool {
        self.requested
    }

    pub(crate) fn feed(&mut self, role: Role, d: &[u8], _refused: &mut u32) -> Fed {
        match role {
            Role::Server => {
                if self.greeted {
                    return Fed::more(0);
                }
                let Some((len, 0)) = header(d) else {
                    return if d.len() < 4 {
                        Fed::more(0)
                    } else {
                        Fed::plain(0)
                    };
                };
                if !GREETING_LEN.contains(&len) || d.get(4).is_some_and(|&p| p != 0x0a) {
                    return Fed::plain(0);
                }
                if d.len() < 4 + len {
                    return Fed::more(0);
                }
                self.greeted = true;
                if self.requested {
                    Fed::upgrade(4 + len, Start::MysqlSsl)
                } else {
                    Fed::more(4 + len)
                }
            }
            Role::Client => {
                if self.requested {
                    return Fed::more(0);
                }
                let Some((len, _)) = header(d) else {
                    return Fed::more(0);
                };
                if len != SSL_REQUEST_LEN {
                    // A full handshake response: the session stays plaintext.
                    return Fed::plain(0);
                }
                let Some(caps) = d.get(4..8) else {
                    return Fed::more(0);
                };
                let caps = caps
                    .iter()
                    .rev()
                    .fold(0u32, |a, &b| (a << 8) | u32::from(b));
                if caps & CLIENT_SSL == 0 {
                    return Fed::plain(0);
                }
                if d.len() < 4 + len {
                    return Fed::more(0);
                }
                self.requested = true;
                if self.greeted {
                    Fed::upgrade(4 + len, Start::MysqlSsl)
                } else {
                    Fed::more(4 + len)
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
    fn postgres_ssl_request_s() {
        check(
            &[
                (C, &[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]),
                (S, b"S"),
                (C, b"\x16\x03\x01"),
            ],
            Recognition::Upgrade(Start::PostgresSsl),
            [b"\x16\x03\x01", b""],
        );
        // GSSENCRequest refused first, then SSL.
        check(
            &[
                (C, &[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30]),
                (S, b"N"),
                (C, &[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]),
                (S, b"S"),
            ],
            Recognition::Upgrade(Start::PostgresSsl),
            [b"", b""],
        );
    }

    #[test]
    fn postgres_ssl_refused() {
        let (v, _) = converse(&[(C, &[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]), (S, b"N")]);
        assert_eq!(v, Recognition::Plain(GiveUp::NoUpgrade));
    }

    fn greeting() -> Vec<u8> {
        let mut p = vec![0x0a];
        p.extend_from_slice(b"5.7.16\0");
        p.extend_from_slice(&[1, 0, 0, 0]); // thread id
        p.extend_from_slice(b"abcdefgh\0"); // auth data 1 + filler
        p.extend_from_slice(&[0xff, 0xff, 0x21, 0x02, 0, 0xff, 0xc1, 0x15]);
        p.extend_from_slice(&[0; 10]);
        p.extend_from_slice(b"ijklmnopqrst\0mysql_native_password\0");
        let mut g = vec![p.len() as u8, 0, 0, 0];
        g.extend_from_slice(&p);
        g
    }

    fn ssl_request(caps: u32) -> Vec<u8> {
        let mut r = vec![32, 0, 0, 1];
        r.extend_from_slice(&caps.to_le_bytes());
        r.extend_from_slice(&[0, 0, 0, 1, 0x21]);
        r.extend_from_slice(&[0; 23]);
        r
    }

    #[test]
    fn mysql_ssl_request() {
        let g = greeting();
        let r = ssl_request(0x000f_aa85 | 0x0800);
        check(
            &[(S, &g), (C, &r), (C, b"\x16\x03\x01")],
            Recognition::Upgrade(Start::MysqlSsl),
            [b"\x16\x03\x01", b""],
        );
    }

    #[test]
    fn mysql_without_ssl_is_plaintext() {
        let g = greeting();
        let mut resp = vec![60, 0, 0, 1];
        resp.extend_from_slice(&0x000f_a285u32.to_le_bytes());
        resp.extend_from_slice(&[0; 56]);
        let (v, _) = converse(&[(S, &g), (C, &resp)]);
        assert_eq!(v, Recognition::Plain(GiveUp::NoUpgrade));
    }
}
