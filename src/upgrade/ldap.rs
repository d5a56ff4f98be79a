//! LDAP StartTLS (RFC 4511 §4.14): an ExtendedRequest (`[APPLICATION 23]`) named
//! 1.3.6.1.4.1.1466.20037, answered by an ExtendedResponse (`[APPLICATION 24]`) with the same
//! message ID and resultCode success (0). Messages before it (a root DSE search, say) are
//! skipped whole; the BER reader accepts definite lengths only, as LDAP requires.

use super::{Fed, MAX_PLAINTEXT_INSPECT, Role, Start};

/// The StartTLS request name.
const STARTTLS_OID: &[u8] = b"1.3.6.1.4.1.1466.20037";
const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const ENUMERATED: u8 = 0x0a;
const EXTENDED_REQUEST: u8 = 0x77;
const EXTENDED_RESPONSE: u8 = 0x78;
/// `requestName [0]`.
const REQUEST_NAME: u8 = 0x80;

/// A BER element header: `(tag, header length, content length)`. `None`: need more bytes;
/// `Some(None)`: not a definite-length element.
fn tlv(d: &[u8]) -> Option<Option<(u8, usize, usize)>> {
    let (&tag, &l0) = (d.first()?, d.get(1)?);
    if l0 < 0x80 {
        return Some(Some((tag, 2, usize::from(l0))));
    }
    let n = usize::from(l0 & 0x7f);
    if n == 0 || n > 4 {
        return Some(None);
    }
    let bytes = d.get(2..2 + n)?;
    let len = bytes.iter().fold(0usize, |a, &b| (a << 8) | usize::from(b));
    Some(Some((tag, 2 + n, len)))
}

/// A complete element's content, the whole element's length, and its tag.
fn element(d: &[u8]) -> Option<(u8, &[u8], usize)> {
    let (tag, h, len) = tlv(d)??;
    let end = h.checked_add(len)?;
    Some((tag, d.get(h..end)?, end))
}

/// Message ID and protocolOp tag and content of an LDAPMessage's content.
fn message(content: &[u8]) -> Option<(u32, u8, &[u8])> {
    let (tag, id, n) = element(content)?;
    if tag != INTEGER || id.is_empty() || id.len() > 4 {
        return None;
    }
    let id = id.iter().fold(0u32, |a, &b| (a << 8) | u32::from(b));
    let (op, body, _) = element(content.get(n..)?)?;
    Some((id, op, body))
}

/// Is this protocolOp tag a request (sent by the client)?
fn is_request(op: u8) -> bool {
    // bind 0, unbind 2, search 3, modify 6, add 8, del 10, modDN 12, compare 14, abandon 16,
    // extended 23.
    matches!(op & 0x1f, 0 | 2 | 3 | 6 | 8 | 10 | 12 | 14 | 16 | 23) && op & 0xc0 == 0x40
}

/// State of one LDAP connection.
#[derive(Debug, Default)]
pub(crate) struct Ldap {
    /// Message ID of a StartTLS request awaiting its response.
    pending: Option<u32>,
}

impl Ldap {
    /// Role of the sender of a first LDAPMessage. `None`: need more bytes; `Some(None)`: not
    /// LDAP.
    pub(crate) fn classify(d: &[u8]) -> Option<Option<Role>> {
        let Some((tag, h, _)) = tlv(d)? else {
            return Some(None);
        };
        if tag != SEQUENCE {
            return Some(None);
        }
        let inner = d.get(h..).unwrap_or(&[]);
        let Some((itag, ih, ilen)) = tlv(inner)? else {
            return Some(None);
        };
        if itag != INTEGER || !(1..=4).contains(&ilen) {
            return Some(None);
        }
        let op = *inner.get(ih + ilen)?;
        if op & 0xc0 != 0x40 {
            return Some(None);
        }
        Some(Some(if is_request(op) {
            Role::Client
        } else {
            Role::Server
        }))
    }

    /// The client's bytes after its request wait for the answer.
    pub(crate) fn pending(&self) -> bool {
        self.pending.is_some()
    }

    pub(crate) fn feed(&mut self, role: Role, d: &[u8], refused: &mut u32) -> Fed {
        let mut used = 0;
        loop {
            if role == Role::Client && self.pending.is_some() {
                return Fed::more(used);
            }
            let m = d.get(used..).unwrap_or(&[]);
            let Some(hdr) = tlv(m) else {
                return Fed::more(used);
            };
            let Some((tag, h, len)) = hdr else {
                return Fed::plain(used);
            };
            if tag != SEQUENCE || len > MAX_PLAINTEXT_INSPECT {
                return Fed::plain(used);
            }
            let Some(content) = m.get(h..h + len) else {
                return Fed::more(used);
            };
            let Some((id, op, body)) = message(content) else {
                return Fed::plain(used);
            };
            used += h + len;
            match role {
                Role::Client => {
                    if op == EXTENDED_REQUEST
                        && element(body)
                            .is_some_and(|(t, name, _)| t == REQUEST_NAME && name == STARTTLS_OID)
                    {
                        self.pending = Some(id);
                    }
                }
                Role::Server => {
                    if op == EXTENDED_RESPONSE && self.pending == Some(id) {
                        match element(body) {
                            Some((ENUMERATED, [0], _)) => {
                                return Fed::upgrade(used, Start::StarttlsLdap);
                            }
                            _ => {
                                *refused += 1;
                                self.pending = None;
                            }
                        }
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

    const C: usize = 0;
    const S: usize = 1;

    /// The bytes OpenLDAP's client sends (arkime ldap-ssl.pcap, frame 4).
    const REQ: &[u8] = b"\x30\x1d\x02\x01\x01\x77\x18\x80\x16\
        1.3.6.1.4.1.1466.20037";
    const OK: &[u8] = b"\x30\x0c\x02\x01\x01\x78\x07\x0a\x01\x00\x04\x00\x04\x00";

    #[test]
    fn starttls_success() {
        check(
            &[(C, REQ), (S, OK), (C, b"\x16\x03\x01")],
            Recognition::Upgrade(Start::StarttlsLdap),
            [b"\x16\x03\x01", b""],
        );
    }

    #[test]
    fn search_first_then_starttls() {
        // searchRequest (id 1) for the root DSE, its searchResDone, then StartTLS as id 2.
        let search = b"\x30\x25\x02\x01\x01\x63\x20\x04\x00\x0a\x01\x00\x0a\x01\x00\x02\x01\x00\
            \x02\x01\x00\x01\x01\x00\x87\x0bobjectClass\x30\x00";
        let done = b"\x30\x0c\x02\x01\x01\x65\x07\x0a\x01\x00\x04\x00\x04\x00";
        let mut req2 = REQ.to_vec();
        req2[4] = 2;
        let mut ok2 = OK.to_vec();
        ok2[4] = 2;
        check(
            &[(C, search), (S, done), (C, &req2), (S, &ok2)],
            Recognition::Upgrade(Start::StarttlsLdap),
            [b"", b""],
        );
    }

    #[test]
    fn refused_or_other_id_is_not_an_upgrade() {
        // unavailable (52)
        let no = b"\x30\x0c\x02\x01\x01\x78\x07\x0a\x01\x34\x04\x00\x04\x00";
        let (v, _) = converse(&[(C, REQ), (S, no)]);
        assert_eq!(v, Recognition::Undecided);
        let (v, _) = converse(&[(C, REQ), (S, no), (C, b"\x16\x03\x01\x00\x10")]);
        assert_eq!(v, Recognition::Plain(GiveUp::NoUpgrade));
        let mut other = OK.to_vec();
        other[4] = 7;
        let (v, _) = converse(&[(C, REQ), (S, &other)]);
        assert_eq!(v, Recognition::Undecided);
    }
}
