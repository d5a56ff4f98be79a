//! The facts a hello carries, as the layers above exchange them: what a ClientHello offered
//! (with its JA3/JA4 fingerprints, derived on demand), what a ServerHello chose, and which side
//! sent something. Pure: no I/O, no clock.

#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

use super::cipher::ClassSet;
use super::fingerprint::{self, Ja3, Ja4};
use super::group::{Group, GroupSet};
use super::{ClientHello, ServerHello, Transport, Version, VersionList};

/// Hellos kept per connection (an HRR connection has 2; more are counted, not kept).
pub const MAX_HELLOS_PER_CONN: usize = 4;

/// Alerts kept per connection.
pub const MAX_ALERTS_PER_CONN: usize = 8;

/// Alert level `fatal` (RFC 5246 §7.2).
pub const ALERT_FATAL: u8 = 2;

/// Alert level `warning`.
pub const ALERT_WARNING: u8 = 1;

/// Cipher suites kept per hello (for the event log; [`HelloFacts::cipher_count`] has the
/// real number).
pub const MAX_CIPHERS_KEPT: usize = 128;

/// Which endpoint of a connection sent something.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// Sent by the client.
    FromClient,
    /// Sent by the server.
    FromServer,
}

/// One ClientHello as the census and the event log need it.
///
/// The costly facts — fingerprints and the cipher suite list — are derived when the connection
/// settles and only if something reads them ([`HelloFacts::fill_detail`]): the census for legacy
/// connections, the event log for all. Until then the hello's cipher suite and extension bytes
/// are kept (at most [`MAX_DEFERRED_HELLO`] bytes; a larger hello is fingerprinted at once).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HelloFacts {
    /// Highest offered version (none if `supported_versions` listed only GREASE).
    pub offered_max: Option<Version>,
    /// Offered versions (GREASE removed).
    pub offered: VersionList,
    /// Legacy version field.
    pub legacy_version: Version,
    /// SSLv2 record format.
    pub sslv2_format: bool,
    /// TLS_FALLBACK_SCSV present.
    pub fallback_scsv: bool,
    /// Version field of the record that carried the hello (none for SSLv2 format).
    pub record_version: Option<Version>,
    /// Server name from SNI (at most [`super::hello::MAX_SNI_LEN`] bytes, invalid UTF-8
    /// replaced by U+FFFD).
    pub server_name: Option<Box<str>>,
    /// JA3 fingerprint, after [`HelloFacts::fill_detail`] (none for SSLv2-format hellos).
    pub ja3: Option<Ja3>,
    /// JA4 fingerprint, after [`HelloFacts::fill_detail`] (none for SSLv2-format hellos).
    pub ja4: Option<Ja4>,
    /// After [`HelloFacts::fill_detail`]: the first [`MAX_CIPHERS_KEPT`] offered cipher
    /// suites, GREASE removed, in wire order (SSLv2 format: the TLS suites among its cipher
    /// specs).
    pub ciphers: Box<[u16]>,
    /// After [`HelloFacts::fill_detail`]: the number of offered cipher suites, GREASE removed.
    pub cipher_count: u32,
    /// The weakness classes of the offered cipher suites (every suite, not only the kept
    /// ones; SSLv2 format: its TLS suites).
    pub offered_weak: ClassSet,
    /// The groups of `supported_groups` (GREASE removed).
    pub groups_offered: GroupSet,
    /// The groups of the `key_share` entries (GREASE removed).
    pub key_shares: GroupSet,
    /// Cipher suite bytes then extension bytes, until the detail is filled.
    deferred: Option<Box<[u8]>>,
    /// Where the extension bytes start in `deferred`.
    deferred_ext_at: u32,
    /// What carried the hello (JA4's first character).
    pub transport: Transport,
}

/// Largest hello (cipher suites plus extensions) whose fingerprints are deferred to the
/// settlement of its connection; larger ones are fingerprinted when parsed.
pub const MAX_DEFERRED_HELLO: usize = 16 * 1024;

/// The offered cipher suites (GREASE removed): the first [`MAX_CIPHERS_KEPT`] and the count.
fn cipher_list(suites: impl Iterator<Item = u16>) -> (Box<[u16]>, u32) {
    let mut kept = Vec::new();
    let mut count = 0u32;
    for c in suites.filter(|c| !Version(*c).is_grease()) {
        count = count.saturating_add(1);
        if kept.len() < MAX_CIPHERS_KEPT {
            kept.push(c);
        }
    }
    (kept.into_boxed_slice(), count)
}

impl HelloFacts {
    /// The facts of a parsed ClientHello; fingerprints and cipher suites wait for
    /// [`HelloFacts::fill_detail`] (unless the hello is very large).
    pub fn from_hello(ch: &ClientHello<'_>) -> Self {
        HelloFacts::from_hello_on(ch, Transport::Tcp)
    }

    /// [`HelloFacts::from_hello`] for a hello carried by `transport` (QUIC, DTLS).
    pub fn from_hello_on(ch: &ClientHello<'_>, transport: Transport) -> Self {
        let mut h = HelloFacts::with_offered(ch.offered(), ch.legacy_version);
        h.transport = transport;
        h.sslv2_format = ch.sslv2_format;
        h.fallback_scsv = ch.fallback_scsv;
        h.record_version = ch.record_version;
        h.server_name = ch
            .sni
            .map(|b| String::from_utf8_lossy(b).into_owned().into_boxed_str());
        h.groups_offered = ch
            .supported_groups
            .map_or_else(GroupSet::default, GroupSet::of_named_group_list);
        h.key_shares = ch
            .key_share
            .map_or_else(GroupSet::default, GroupSet::of_client_shares);
        if ch.sslv2_format {
            h.offered_weak =
                ClassSet::of_all(ch.cipher_suites.chunks_exact(3).filter_map(|s| match s {
                    [0, a, b] => Some(u16::from_be_bytes([*a, *b])),
                    _ => None,
                }));
            // 3-byte cipher specs; TLS suites are written as 0x00 followed by their 2 bytes.
            // No fingerprint is defined for this format.
            (h.ciphers, h.cipher_count) =
                cipher_list(ch.cipher_suites.chunks_exact(3).filter_map(|s| match s {
                    [0, a, b] => Some(u16::from_be_bytes([*a, *b])),
                    _ => None,
                }));
            return h;
        }
        h.offered_weak = ClassSet::of_all(
            ch.cipher_suites
                .chunks_exact(2)
                .filter_map(|p| p.first_chunk::<2>().map(|c| u16::from_be_bytes(*c))),
        );
        let n = ch.cipher_suites.len().saturating_add(ch.extensions.len());
        match u32::try_from(ch.cipher_suites.len()) {
            Ok(at) if n <= MAX_DEFERRED_HELLO => {
                let mut raw = Vec::with_capacity(n);
                raw.extend_from_slice(ch.cipher_suites);
                raw.extend_from_slice(ch.extensions);
                h.deferred = Some(raw.into_boxed_slice());
                h.deferred_ext_at = at;
            }
            _ => h.fill_from(ch.cipher_suites, ch.extensions),
        }
        h
    }

    fn fill_from(&mut self, suites: &[u8], extensions: &[u8]) {
        let (ja3, ja4) = fingerprint::fingerprints_of(&fingerprint::HelloParts {
            legacy_version: self.legacy_version,
            offered: self.offered.as_slice(),
            cipher_suites: suites,
            extensions,
            transport: self.transport,
        });
        self.ja3 = Some(ja3);
        self.ja4 = Some(ja4);
        (self.ciphers, self.cipher_count) = cipher_list(
            suites
                .chunks_exact(2)
                .map(|p| p.first_chunk::<2>().map_or(0, |c| u16::from_be_bytes(*c))),
        );
    }

    /// Derives the fingerprints and the cipher suite list (once; later calls do nothing).
    pub fn fill_detail(&mut self) {
        if let Some(raw) = self.deferred.take() {
            let at = usize::try_from(self.deferred_ext_at).unwrap_or(usize::MAX);
            let (suites, exts) = raw.split_at(at.min(raw.len()));
            self.fill_from(suites, exts);
        }
    }

    /// Facts with the given versions and nothing else (tests, synthetic input).
    pub fn with_offered(offered: VersionList, legacy_version: Version) -> Self {
        HelloFacts {
            offered_max: offered.max(),
            offered,
            legacy_version,
            sslv2_format: false,
            fallback_scsv: false,
            record_version: None,
            server_name: None,
            ja3: None,
            ja4: None,
            ciphers: Box::default(),
            cipher_count: 0,
            offered_weak: ClassSet::default(),
            groups_offered: GroupSet::default(),
            key_shares: GroupSet::default(),
            deferred: None,
            deferred_ext_at: 0,
            transport: Transport::Tcp,
        }
    }
}

/// The ServerHello that chose the version.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ServerFacts {
    /// Chosen version (`supported_versions`, else `legacy_version`).
    pub version: Version,
    /// `legacy_version` field.
    pub legacy_version: Version,
    /// Chosen cipher suite (SSLv2: 0).
    pub cipher: u16,
    /// ServerHello.random ends with an RFC 8446 downgrade sentinel.
    pub downgrade_sentinel: bool,
    /// SSLv2 SERVER-HELLO.
    pub sslv2_format: bool,
    /// The group of the server's key share (TLS 1.3; none for TLS ≤ 1.2, whose group is in
    /// the ServerKeyExchange).
    pub group: Option<Group>,
}

impl ServerFacts {
    /// The facts of a parsed ServerHello (not a HelloRetryRequest).
    pub fn from_server_hello(sh: &ServerHello) -> Self {
        ServerFacts {
            version: sh.version,
            legacy_version: sh.legacy_version,
            cipher: sh.cipher,
            downgrade_sentinel: sh.downgrade_sentinel,
            sslv2_format: sh.sslv2_format,
            group: sh.key_share_group.and_then(Group::of),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_wait_for_fill_detail_unless_the_hello_is_large() {
        use crate::tls::hello::parse_client_hello;
        use crate::tls::hello::tests::client_hello_body;
        let body = client_hello_body(0x0303, &[0x1301, 0x0a0a, 0xc02f], &[(0, &[0, 0])]);
        let ch = parse_client_hello(&body, |_| {}).unwrap();
        let mut h = HelloFacts::from_hello(&ch);
        assert_eq!((h.ja3, h.ja4, h.cipher_count), (None, None, 0));
        h.fill_detail();
        let (ja3, ja4) = fingerprint::fingerprints(&ch);
        assert_eq!((h.ja3, h.ja4), (ja3, ja4));
        assert_eq!((&*h.ciphers, h.cipher_count), (&[0x1301, 0xc02f][..], 2));
        let again = h.clone();
        h.fill_detail();
        assert_eq!(h, again, "filled once");
        // A hello larger than the deferral bound is fingerprinted at once.
        let big = vec![0u8; MAX_DEFERRED_HELLO];
        let body = client_hello_body(0x0303, &[0x1301], &[(21, &big)]);
        let ch = parse_client_hello(&body, |_| {}).unwrap();
        let h = HelloFacts::from_hello(&ch);
        assert_eq!(h.ja4, fingerprint::fingerprints(&ch).1);
        assert!(h.ja4.is_some());
    }
}
