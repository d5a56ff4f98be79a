//! ClientHello and ServerHello extraction (pure, zero-copy, on tls-parser).
//!
//! tls-parser parses the fixed part of each hello; extensions are framed one at a time with
//! `parse_tls_extension_unknown` (no allocation) and only the few we need are read. Two
//! tls-parser behaviours are guarded here:
//! - a bad extension block length makes it return `Ok` with `ext: None` and a non-empty
//!   remainder: we check the remainder and record [`Anomaly::ExtensionsMalformed`];
//! - a HelloRetryRequest is returned as a ServerHello: we compare the RFC 8446 random.

use super::Anomaly;
use super::version::Version;
use tls_parser::{TlsExtension, parse_tls_extension_unknown};

/// How many distinct offered versions one hello keeps (`supported_versions` is 2–254 bytes on
/// the wire, so at most 127 entries; real clients send ≤ 8). Extra entries are dropped and
/// [`Anomaly::TooManyVersions`] is recorded.
pub const MAX_OFFERED_VERSIONS: usize = 16;

/// Longest server name kept from the SNI extension (DNS names are ≤ 253 bytes).
pub const MAX_SNI_LEN: usize = 255;

/// RFC 8446 §4.1.3: the ServerHello.random of a HelloRetryRequest (SHA-256 of
/// "HelloRetryRequest").
pub const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// RFC 8446 §4.1.3 downgrade sentinels: last 8 bytes of ServerHello.random of a TLS 1.3-capable
/// server negotiating TLS 1.2 (`…01`) or TLS 1.1 and below (`…00`).
pub const DOWNGRADE_SENTINEL_PREFIX: [u8; 7] = *b"DOWNGRD";

/// TLS_FALLBACK_SCSV cipher suite value (RFC 7507).
pub const FALLBACK_SCSV: u16 = 0x5600;

const EXT_SNI: u16 = 0;
const EXT_ALPN: u16 = 16;
const EXT_SUPPORTED_VERSIONS: u16 = 43;

/// A fixed-capacity list of versions in wire order (GREASE removed, duplicates removed).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct VersionList {
    items: [Version; MAX_OFFERED_VERSIONS],
    len: u8,
}

impl Default for VersionList {
    fn default() -> Self {
        VersionList {
            items: [Version(0); MAX_OFFERED_VERSIONS],
            len: 0,
        }
    }
}

impl VersionList {
    /// Adds `v` unless it is already present; returns false when the list is full.
    pub fn push(&mut self, v: Version) -> bool {
        if self.as_slice().contains(&v) {
            return true;
        }
        match self.items.get_mut(usize::from(self.len)) {
            Some(slot) => {
                *slot = v;
                self.len = self.len.saturating_add(1);
                true
            }
            None => false,
        }
    }

    /// The versions, in the order first seen.
    pub fn as_slice(&self) -> &[Version] {
        self.items.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// Highest version in protocol order.
    pub fn max(&self) -> Option<Version> {
        self.as_slice().iter().copied().max()
    }

    /// True when no version is listed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// What a ClientHello offers. Borrows from the handshake message.
#[derive(Clone, Debug)]
pub struct ClientHello<'a> {
    /// `legacy_version` (for an SSLv2-format hello: its version field).
    pub legacy_version: Version,
    /// The non-GREASE entries of `supported_versions`, if the extension is present.
    pub supported_versions: Option<VersionList>,
    /// Sent in SSLv2 record format (SSLv2 or SSLv2-compatible CLIENT-HELLO).
    pub sslv2_format: bool,
    /// Raw cipher suite list (2 bytes each; SSLv2 format: 3 bytes each).
    pub cipher_suites: &'a [u8],
    /// Server name from SNI (first host_name entry), raw bytes, at most [`MAX_SNI_LEN`].
    pub sni: Option<&'a [u8]>,
    /// Raw ALPN protocol_name_list (without its 2-byte length).
    pub alpn: Option<&'a [u8]>,
    /// Raw extension block (after the 2-byte length), for fingerprints.
    pub extensions: &'a [u8],
    /// TLS_FALLBACK_SCSV among the cipher suites.
    pub fallback_scsv: bool,
    /// Version field of the TLS record that carried the start of this hello (`None` for an
    /// SSLv2-format hello, or when parsed outside a record). Diagnostic only: RFC 8446 says
    /// it must be ignored, and clients commonly send `0x0301`.
    pub record_version: Option<Version>,
}

impl ClientHello<'_> {
    /// The versions this hello offers: `supported_versions` (GREASE removed) if present,
    /// else the single legacy version. A `supported_versions` listing only GREASE offers
    /// nothing.
    pub fn offered(&self) -> VersionList {
        match self.supported_versions {
            Some(list) => list,
            None => {
                let mut l = VersionList::default();
                l.push(self.legacy_version);
                l
            }
        }
    }

    /// Highest offered version in protocol order, if any.
    pub fn offered_max(&self) -> Option<Version> {
        self.offered().max()
    }
}

/// What a ServerHello (or HelloRetryRequest) selects.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ServerHello {
    /// Selected version: `supported_versions` if present and well-formed, else
    /// `legacy_version`.
    pub version: Version,
    /// `legacy_version` field.
    pub legacy_version: Version,
    /// Selected cipher suite (SSLv2: 0).
    pub cipher: u16,
    /// This is a HelloRetryRequest (RFC 8446 random), not a negotiation.
    pub is_hrr: bool,
    /// ServerHello.random ends with the RFC 8446 downgrade sentinel.
    pub downgrade_sentinel: bool,
    /// SSLv2 SERVER-HELLO.
    pub sslv2_format: bool,
}

fn be16(b: &[u8]) -> Option<u16> {
    match b {
        [a, b, ..] => Some(u16::from_be_bytes([*a, *b])),
        _ => None,
    }
}

/// Walks an extension block, calling `f(type, data)` for each well-framed extension. Returns
/// false when the block does not frame exactly (the extensions before the fault are kept).
pub(crate) fn for_each_extension<'a>(mut ext: &'a [u8], mut f: impl FnMut(u16, &'a [u8])) -> bool {
    while !ext.is_empty() {
        match parse_tls_extension_unknown(ext) {
            Ok((rest, TlsExtension::Unknown(ty, data))) => {
                f(ty.0, data);
                ext = rest;
            }
            _ => return false,
        }
    }
    true
}

/// Parses a ClientHello body (the handshake message without its 4-byte header).
///
/// Malformed extension data is reported through `anomaly` and never invents a version.
pub fn parse_client_hello<'a>(
    body: &'a [u8],
    mut anomaly: impl FnMut(Anomaly),
) -> Result<ClientHello<'a>, Anomaly> {
    let (rest, ch) = tls_parser::parse_tls_handshake_client_hello(body)
        .map_err(|_| Anomaly::ClientHelloMalformed)?;
    // tls-parser returns `ext: None` with a remainder when the block length is wrong; parse
    // what is framed inside the remainder rather than silently dropping it.
    let extensions: &[u8] = match ch.ext {
        Some(e) => {
            if !rest.is_empty() {
                anomaly(Anomaly::TrailingData);
            }
            e
        }
        None if rest.len() >= 2 => {
            anomaly(Anomaly::ExtensionsMalformed);
            rest.get(2..).unwrap_or(&[])
        }
        None => {
            if !rest.is_empty() {
                anomaly(Anomaly::TrailingData);
            }
            &[]
        }
    };
    let cipher_suites = cipher_bytes(body).unwrap_or(&[]);
    let fallback_scsv = ch.ciphers.iter().any(|c| c.0 == FALLBACK_SCSV);
    let mut out = ClientHello {
        legacy_version: Version(ch.version.0),
        supported_versions: None,
        sslv2_format: false,
        cipher_suites,
        sni: None,
        alpn: None,
        extensions,
        fallback_scsv,
        record_version: None,
    };
    let mut bad_sv = false;
    let mut too_many = false;
    let framed = for_each_extension(extensions, |ty, data| match ty {
        EXT_SUPPORTED_VERSIONS => {
            let mut list = VersionList::default();
            // u8 length, then u16 entries; read only what lies inside both the inner length
            // and the extension framing.
            let (inner_len, entries) = match data.split_first() {
                Some((l, e)) => (usize::from(*l), e),
                None => (0, data),
            };
            if data.is_empty() || inner_len != entries.len() || inner_len % 2 != 0 {
                bad_sv = true;
            }
            let usable = entries.get(..inner_len.min(entries.len())).unwrap_or(&[]);
            for pair in usable.chunks_exact(2) {
                let v = Version(be16(pair).unwrap_or(0));
                if !v.is_grease() && !list.push(v) {
                    too_many = true;
                }
            }
            out.supported_versions = Some(list);
        }
        EXT_SNI => out.sni = parse_sni(data),
        EXT_ALPN => {
            out.alpn = be16(data).and_then(|l| data.get(2..2 + usize::from(l)));
        }
        _ => {}
    });
    if !framed {
        anomaly(Anomaly::ExtensionsMalformed);
    }
    if bad_sv {
        anomaly(Anomaly::SupportedVersionsMalformed);
    }
    if too_many {
        anomaly(Anomaly::TooManyVersions);
    }
    Ok(out)
}

/// The raw cipher suite vector of a ClientHello body (after version, random, session id).
fn cipher_bytes(body: &[u8]) -> Option<&[u8]> {
    let sid_len = usize::from(*body.get(34)?);
    let rest = body.get(35..)?.get(sid_len..)?;
    let len = usize::from(be16(rest)?);
    rest.get(2..)?.get(..len)
}

fn parse_sni(data: &[u8]) -> Option<&[u8]> {
    // server_name_list length, then entries of (type u8, length u16, name).
    let mut p = data.get(2..)?.get(..usize::from(be16(data)?))?;
    while let [ty, l0, l1, rest @ ..] = p {
        let len = usize::from(u16::from_be_bytes([*l0, *l1]));
        let name = rest.get(..len)?;
        if *ty == 0 {
            return name.get(..name.len().min(MAX_SNI_LEN));
        }
        p = rest.get(len..)?;
    }
    None
}

/// Parses a DTLS ClientHello body (after the 12-byte DTLS handshake header) with the TLS
/// extraction above.
///
/// The DTLS body differs from TLS by one field: the `cookie` (u8 length) after the session id
/// (RFC 6347 §4.2.1, RFC 9147 §5.3). It is copied without that field into `scratch` (reused by
/// the caller) and parsed as a TLS ClientHello, so both transports share one hello parser.
pub fn parse_dtls_client_hello<'a>(
    body: &[u8],
    scratch: &'a mut Vec<u8>,
    anomaly: impl FnMut(Anomaly),
) -> Result<ClientHello<'a>, Anomaly> {
    // version (2), random (32), session id (u8 length + bytes), then the cookie.
    let sid_len = usize::from(*body.get(34).ok_or(Anomaly::ClientHelloMalformed)?);
    let cookie_at = 35usize.saturating_add(sid_len);
    let cookie_len = usize::from(*body.get(cookie_at).ok_or(Anomaly::ClientHelloMalformed)?);
    let head = body.get(..cookie_at).ok_or(Anomaly::ClientHelloMalformed)?;
    let tail = body
        .get(cookie_at.saturating_add(1).saturating_add(cookie_len)..)
        .ok_or(Anomaly::ClientHelloMalformed)?;
    scratch.clear();
    scratch.extend_from_slice(head);
    scratch.extend_from_slice(tail);
    parse_client_hello(scratch, anomaly)
}

/// Parses a DTLS ServerHello body (after the 12-byte DTLS handshake header).
///
/// The body is laid out as in TLS, but tls-parser frames it only for TLS legacy versions: the
/// body is copied into `scratch` with its version field set to TLS 1.2 for tls-parser's
/// framing, while the version, random and extensions are read by [`parse_server_hello`]'s
/// code from the real bytes.
pub fn parse_dtls_server_hello(
    body: &[u8],
    scratch: &mut Vec<u8>,
    anomaly: impl FnMut(Anomaly),
) -> Result<ServerHello, Anomaly> {
    scratch.clear();
    scratch.extend_from_slice(body);
    if let Some(v) = scratch.get_mut(..2) {
        v.copy_from_slice(&Version::TLS12.0.to_be_bytes());
    }
    server_hello_from(
        body,
        tls_parser::parse_tls_handshake_msg_server_hello(scratch),
        anomaly,
    )
}

/// Parses a ServerHello body (without the 4-byte handshake header).
///
/// tls-parser accepts only SSL 3.0 – TLS 1.2 and draft-18 legacy versions; for any other value
/// the version and random are still read (the message is otherwise opaque) and
/// [`Anomaly::ServerHelloUnusualVersion`] is recorded.
pub fn parse_server_hello(
    body: &[u8],
    anomaly: impl FnMut(Anomaly),
) -> Result<ServerHello, Anomaly> {
    server_hello_from(
        body,
        tls_parser::parse_tls_handshake_msg_server_hello(body),
        anomaly,
    )
}

/// A ServerHello from its body (version and random) and tls-parser's framing of it.
fn server_hello_from(
    body: &[u8],
    framed: tls_parser::IResult<&[u8], tls_parser::TlsMessageHandshake<'_>>,
    mut anomaly: impl FnMut(Anomaly),
) -> Result<ServerHello, Anomaly> {
    let legacy = Version(be16(body).ok_or(Anomaly::ServerHelloMalformed)?);
    let random = body.get(2..34).ok_or(Anomaly::ServerHelloMalformed)?;
    let is_hrr = random == HRR_RANDOM;
    let downgrade_sentinel = random.get(24..31) == Some(&DOWNGRADE_SENTINEL_PREFIX[..])
        && matches!(random.get(31), Some(0 | 1));
    let mut sh = ServerHello {
        version: legacy,
        legacy_version: legacy,
        cipher: 0,
        is_hrr,
        downgrade_sentinel,
        sslv2_format: false,
    };
    match framed {
        Ok((rest, tls_parser::TlsMessageHandshake::ServerHello(c))) => {
            sh.cipher = c.cipher.0;
            if !rest.is_empty() {
                anomaly(Anomaly::TrailingData);
            }
            if let Some(ext) = c.ext {
                let mut bad_sv = false;
                let framed = for_each_extension(ext, |ty, data| {
                    if ty == EXT_SUPPORTED_VERSIONS {
                        match data {
                            [a, b] => sh.version = Version(u16::from_be_bytes([*a, *b])),
                            _ => bad_sv = true,
                        }
                    }
                });
                if !framed {
                    anomaly(Anomaly::ExtensionsMalformed);
                }
                if bad_sv {
                    anomaly(Anomaly::SupportedVersionsMalformed);
                }
            }
        }
        Ok((_, tls_parser::TlsMessageHandshake::ServerHelloV13Draft18(c))) => {
            sh.cipher = c.cipher.0;
        }
        _ => anomaly(Anomaly::ServerHelloUnusualVersion),
    }
    Ok(sh)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a ClientHello body: version, zero random, empty session id, the given cipher
    /// suites, null compression, and the given extensions `(type, data)`.
    pub(crate) fn client_hello_body(
        version: u16,
        ciphers: &[u16],
        exts: &[(u16, &[u8])],
    ) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&version.to_be_bytes());
        b.extend_from_slice(&[0x11; 32]);
        b.push(0);
        b.extend_from_slice(&((ciphers.len() * 2) as u16).to_be_bytes());
        for c in ciphers {
            b.extend_from_slice(&c.to_be_bytes());
        }
        b.extend_from_slice(&[1, 0]);
        let mut e = Vec::new();
        for (ty, data) in exts {
            e.extend_from_slice(&ty.to_be_bytes());
            e.extend_from_slice(&(data.len() as u16).to_be_bytes());
            e.extend_from_slice(data);
        }
        if !exts.is_empty() {
            b.extend_from_slice(&(e.len() as u16).to_be_bytes());
            b.extend_from_slice(&e);
        }
        b
    }

    pub(crate) fn server_hello_body(
        version: u16,
        random: [u8; 32],
        exts: &[(u16, &[u8])],
    ) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&version.to_be_bytes());
        b.extend_from_slice(&random);
        b.push(0);
        b.extend_from_slice(&[0x13, 0x01, 0]);
        let mut e = Vec::new();
        for (ty, data) in exts {
            e.extend_from_slice(&ty.to_be_bytes());
            e.extend_from_slice(&(data.len() as u16).to_be_bytes());
            e.extend_from_slice(data);
        }
        b.extend_from_slice(&(e.len() as u16).to_be_bytes());
        b.extend_from_slice(&e);
        b
    }

    fn no_anomaly(a: Anomaly) {
        panic!("unexpected anomaly {a:?}");
    }

    #[test]
    fn supported_versions_replace_legacy_and_drop_grease() {
        let sv = [8, 0x7a, 0x7a, 0x03, 0x04, 0x03, 0x03, 0x03, 0x02];
        let body = client_hello_body(0x0303, &[0x1301, 0x0a0a], &[(43, &sv)]);
        let ch = parse_client_hello(&body, no_anomaly).unwrap();
        assert_eq!(ch.legacy_version, Version::TLS12);
        let offered = ch.offered();
        assert_eq!(
            offered.as_slice(),
            &[Version::TLS13, Version::TLS12, Version::TLS11]
        );
        assert_eq!(ch.offered_max(), Some(Version::TLS13));
    }

    #[test]
    fn no_supported_versions_offers_the_legacy_version() {
        let body = client_hello_body(0x0301, &[0x002f], &[]);
        let ch = parse_client_hello(&body, no_anomaly).unwrap();
        assert_eq!(ch.offered().as_slice(), &[Version::TLS10]);
        assert_eq!(ch.offered_max(), Some(Version::TLS10));
    }

    /// Fuzzing regression (client_hello): a GREASE value is removed from supported_versions
    /// only; a legacy version is the version the client sent, GREASE or not (the corpus
    /// definition), so a hostile hello with legacy_version 0xdada offers `0xdada`.
    #[test]
    fn grease_legacy_version_without_supported_versions_is_offered_as_sent() {
        let body = client_hello_body(0xdada, &[0x002f], &[]);
        let ch = parse_client_hello(&body, no_anomaly).unwrap();
        assert_eq!(ch.offered().as_slice(), &[Version(0xdada)]);
        assert_eq!(ch.offered_max(), Some(Version(0xdada)));
    }

    #[test]
    fn grease_only_supported_versions_offers_nothing() {
        let sv = [2, 0x2a, 0x2a];
        let body = client_hello_body(0x0303, &[0x1301], &[(43, &sv)]);
        let ch = parse_client_hello(&body, no_anomaly).unwrap();
        assert!(ch.offered().is_empty());
        assert_eq!(ch.offered_max(), None);
    }

    #[test]
    fn sni_alpn_and_fallback_scsv_are_read() {
        let sni = [
            0, 14, 0, 0, 11, b'e', b'x', b'a', b'm', b'p', b'l', b'e', b'.', b'o', b'r', b'g',
        ];
        let alpn = [0, 3, 2, b'h', b'2'];
        let body = client_hello_body(0x0301, &[0x002f, 0x5600], &[(0, &sni), (16, &alpn)]);
        let ch = parse_client_hello(&body, no_anomaly).unwrap();
        assert_eq!(ch.sni, Some(&b"example.org"[..]));
        assert_eq!(ch.alpn, Some(&[2, b'h', b'2'][..]));
        assert!(ch.fallback_scsv);
        assert_eq!(ch.cipher_suites, &[0x00, 0x2f, 0x56, 0x00]);
    }

    #[test]
    fn malformed_extension_block_is_an_anomaly_not_a_shorter_list() {
        // supported_versions, then an extension whose length runs past the end.
        let sv = [2, 0x03, 0x04];
        let mut body = client_hello_body(0x0303, &[0x1301], &[(43, &sv), (10, &[0, 2, 0, 0x1d])]);
        let n = body.len();
        body[n - 5] = 0x40; // inflate the last extension's length
        let mut seen = Vec::new();
        let ch = parse_client_hello(&body, |a| seen.push(a)).unwrap();
        assert_eq!(seen, vec![Anomaly::ExtensionsMalformed]);
        assert_eq!(ch.offered_max(), Some(Version::TLS13));
    }

    #[test]
    fn wrong_extension_block_length_is_reported() {
        let sv = [2, 0x03, 0x04];
        let mut body = client_hello_body(0x0303, &[0x1301], &[(43, &sv)]);
        // Extension block length claims more than there is: tls-parser gives ext = None.
        let at = body.len() - 9;
        body[at] = 0x7f;
        let mut seen = Vec::new();
        let ch = parse_client_hello(&body, |a| seen.push(a)).unwrap();
        assert!(seen.contains(&Anomaly::ExtensionsMalformed));
        assert_eq!(ch.offered_max(), Some(Version::TLS13));
    }

    #[test]
    fn odd_supported_versions_length_is_reported() {
        let sv = [3, 0x03, 0x04, 0x03];
        let body = client_hello_body(0x0303, &[0x1301], &[(43, &sv)]);
        let mut seen = Vec::new();
        let ch = parse_client_hello(&body, |a| seen.push(a)).unwrap();
        assert_eq!(seen, vec![Anomaly::SupportedVersionsMalformed]);
        assert_eq!(ch.offered().as_slice(), &[Version::TLS13]);
    }

    #[test]
    fn truncated_client_hello_is_malformed() {
        let body = client_hello_body(0x0303, &[0x1301], &[]);
        assert_eq!(
            parse_client_hello(&body[..20], no_anomaly).err(),
            Some(Anomaly::ClientHelloMalformed)
        );
    }

    #[test]
    fn tls13_server_hello_uses_supported_versions() {
        let body = server_hello_body(0x0303, [7; 32], &[(43, &[0x03, 0x04])]);
        let sh = parse_server_hello(&body, no_anomaly).unwrap();
        assert_eq!(sh.version, Version::TLS13);
        assert_eq!(sh.legacy_version, Version::TLS12);
        assert!(!sh.is_hrr);
        assert_eq!(sh.cipher, 0x1301);
    }

    #[test]
    fn hello_retry_request_is_recognised_by_its_random() {
        let body = server_hello_body(0x0303, HRR_RANDOM, &[(43, &[0x03, 0x04])]);
        let sh = parse_server_hello(&body, no_anomaly).unwrap();
        assert!(sh.is_hrr);
    }

    #[test]
    fn empty_server_supported_versions_falls_back_to_legacy() {
        let body = server_hello_body(0x0303, [1; 32], &[(43, &[])]);
        let mut seen = Vec::new();
        let sh = parse_server_hello(&body, |a| seen.push(a)).unwrap();
        assert_eq!(sh.version, Version::TLS12);
        assert_eq!(seen, vec![Anomaly::SupportedVersionsMalformed]);
    }

    #[test]
    fn downgrade_sentinel_is_detected() {
        let mut random = [5u8; 32];
        random[24..32].copy_from_slice(b"DOWNGRD\x01");
        let body = server_hello_body(0x0303, random, &[]);
        assert!(
            parse_server_hello(&body, no_anomaly)
                .unwrap()
                .downgrade_sentinel
        );
    }

    #[test]
    fn unusual_server_version_still_yields_version_and_random() {
        let body = server_hello_body(0x0000, HRR_RANDOM, &[]);
        let mut seen = Vec::new();
        let sh = parse_server_hello(&body, |a| seen.push(a)).unwrap();
        assert_eq!(sh.version, Version(0));
        assert!(sh.is_hrr);
        assert_eq!(seen, vec![Anomaly::ServerHelloUnusualVersion]);
    }
}
