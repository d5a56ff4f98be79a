//! Client fingerprints of one ClientHello: JA3 and JA4.
//!
//! - **JA3** (Salesforce, BSD-3-Clause): MD5 of
//!   `legacy_version,ciphers,extensions,supported_groups,ec_point_formats`, each list in wire
//!   order as decimal values joined by `-`, GREASE removed.
//! - **JA4** (FoxIO, BSD-3-Clause, `technical_details/JA4.md`): `t` + version + `d`/`i` (SNI
//!   extension present or not) + cipher count + extension count + first/last character of the
//!   first ALPN value, `_`, the first 12 hex digits of SHA-256 of the sorted cipher list, `_`,
//!   the same of the sorted extension list (SNI and ALPN left out) followed by `_` and the
//!   signature algorithms in wire order. GREASE is ignored everywhere, signature algorithms
//!   included (FoxIO-LLC/ja4#305).
//!
//! Only the JA4 *client* fingerprint is implemented: JA4S and the rest of JA4+ are under the
//! FoxIO License 1.1 (non-commercial) and are deliberately absent.
//!
//! Version choices, as FoxIO's implementation makes them: the JA4 version is the numerically
//! highest non-GREASE `supported_versions` entry (so a TLS 1.3 draft `0x7fNN` ranks above
//! `0x0304` and gives `00`), else `legacy_version`. SSLv2-format hellos have no defined
//! fingerprint and get none.
//!
//! Pure: no I/O. Computed once per ClientHello (it allocates a few small buffers per hello,
//! never per packet); the results are fixed-size `Copy` values.

use super::hello::{ClientHello, for_each_extension};
use super::version::Version;
use md5::Md5;
use sha2::{Digest, Sha256};
use std::fmt;

const EXT_SNI: u16 = 0;
const EXT_SUPPORTED_GROUPS: u16 = 10;
const EXT_EC_POINT_FORMATS: u16 = 11;
const EXT_SIGNATURE_ALGORITHMS: u16 = 13;
const EXT_ALPN: u16 = 16;

/// Length of a JA4 fingerprint (`t13d1516h2_8daaf6152771_e5627efa2ab1`).
pub const JA4_LEN: usize = 36;

/// Length of a JA3 fingerprint (MD5, lowercase hex).
pub const JA3_LEN: usize = 32;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A JA4 client fingerprint (ASCII).
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ja4([u8; JA4_LEN]);

/// A JA3 client fingerprint (MD5, lowercase hex).
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ja3([u8; JA3_LEN]);

impl Ja4 {
    /// The fingerprint text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl Ja3 {
    /// The fingerprint text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for Ja4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Ja4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ja4({})", self.as_str())
    }
}

impl fmt::Display for Ja3 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Ja3 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ja3({})", self.as_str())
    }
}

/// A 16-bit value as 4 lowercase hex digits.
fn hex4(v: u16) -> [u8; 4] {
    let n = |s: u32| HEX.get(usize::from(v >> s) & 0xf).copied().unwrap_or(b'0');
    [n(12), n(8), n(4), n(0)]
}

fn is_grease(v: u16) -> bool {
    Version(v).is_grease()
}

/// The 16-bit entries of a vector with a 2-byte length prefix (only what lies inside both the
/// prefix and the data).
fn u16_vec(data: &[u8]) -> impl Iterator<Item = u16> + '_ {
    let len = match data {
        [a, b, ..] => usize::from(u16::from_be_bytes([*a, *b])),
        _ => 0,
    };
    let body = data.get(2..).unwrap_or(&[]);
    let body = body.get(..len.min(body.len())).unwrap_or(&[]);
    body.chunks_exact(2)
        .map(|p| p.first_chunk::<2>().map_or(0, |c| u16::from_be_bytes(*c)))
}

/// The 8-bit entries of a vector with a 1-byte length prefix.
fn u8_vec(data: &[u8]) -> &[u8] {
    match data.split_first() {
        Some((l, rest)) => rest.get(..usize::from(*l).min(rest.len())).unwrap_or(&[]),
        None => &[],
    }
}

/// The parts of a TLS-format ClientHello that the fingerprints read.
#[derive(Copy, Clone, Debug)]
pub struct HelloParts<'a> {
    /// `legacy_version`.
    pub legacy_version: Version,
    /// Offered versions: `supported_versions` without GREASE if present, else the legacy
    /// version ([`ClientHello::offered`]).
    pub offered: &'a [Version],
    /// Raw cipher suite list.
    pub cipher_suites: &'a [u8],
    /// Raw extension block.
    pub extensions: &'a [u8],
    /// What carried the hello: JA4's first character (`t`, `q`, `d`).
    pub transport: super::Transport,
}

fn ciphers<'a>(p: &HelloParts<'a>) -> impl Iterator<Item = u16> + 'a {
    p.cipher_suites
        .chunks_exact(2)
        .map(|c| c.first_chunk::<2>().map_or(0, |x| u16::from_be_bytes(*x)))
}

/// The two version characters of JA4.
fn ja4_version(v: u16) -> [u8; 2] {
    match v {
        0x0304 => *b"13",
        0x0303 => *b"12",
        0x0302 => *b"11",
        0x0301 => *b"10",
        0x0300 => *b"s3",
        0x0002 => *b"s2",
        0xfeff => *b"d1",
        0xfefd => *b"d2",
        0xfefc => *b"d3",
        _ => *b"00",
    }
}

/// Two-digit count, capped at 99.
fn count2(n: usize) -> [u8; 2] {
    let n = n.min(99);
    #[allow(clippy::cast_possible_truncation)] // n ≤ 99
    let (tens, ones) = ((n / 10) as u8, (n % 10) as u8);
    [b'0'.saturating_add(tens), b'0'.saturating_add(ones)]
}

/// First and last character of the first ALPN value: the characters themselves when both are
/// ASCII alphanumeric, else the first and last hex digit of the value; `00` when absent or
/// empty.
fn ja4_alpn(alpn: Option<&[u8]>) -> [u8; 2] {
    let first = alpn.and_then(|list| {
        let (len, rest) = list.split_first()?;
        rest.get(..usize::from(*len))
    });
    match first {
        Some([a, .., b]) | Some([a @ b]) => {
            if a.is_ascii_alphanumeric() && b.is_ascii_alphanumeric() {
                [*a, *b]
            } else {
                let hi = HEX.get(usize::from(*a >> 4)).copied().unwrap_or(b'0');
                let lo = HEX.get(usize::from(*b & 0xf)).copied().unwrap_or(b'0');
                [hi, lo]
            }
        }
        _ => *b"00",
    }
}

/// Appends the comma-joined 4-digit hex values.
fn push_hex_list(out: &mut Vec<u8>, vals: impl Iterator<Item = u16>) {
    for (i, v) in vals.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&hex4(v));
    }
}

/// The first 12 hex digits of SHA-256 of `text`, or `000000000000` for an empty text.
fn hash12(text: &[u8]) -> [u8; 12] {
    if text.is_empty() {
        return *b"000000000000";
    }
    let d = Sha256::digest(text);
    let mut out = [b'0'; 12];
    for (o, b) in out.chunks_exact_mut(2).zip(d.iter()) {
        if let [hi, lo] = o {
            *hi = HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0');
            *lo = HEX.get(usize::from(b & 0xf)).copied().unwrap_or(b'0');
        }
    }
    out
}

/// Appends the `-`-joined decimal values.
fn push_dec_list(out: &mut Vec<u8>, vals: impl Iterator<Item = u16>) {
    let mut buf = itoa::Buffer::new();
    for (i, v) in vals.enumerate() {
        if i > 0 {
            out.push(b'-');
        }
        // Byte by byte: cheaper than a memmove call for 1–5 bytes.
        for b in buf.format(v).bytes() {
            out.push(b);
        }
    }
}

/// What one pass over a ClientHello gathers for both fingerprints.
struct Gathered<'a> {
    /// Cipher suites, then extension types, then signature algorithms (GREASE removed).
    vals: Vec<u16>,
    n_ciphers: usize,
    n_exts: usize,
    groups: &'a [u8],
    formats: &'a [u8],
    alpn: Option<&'a [u8]>,
    sni: bool,
}

fn gather<'a>(p: &HelloParts<'a>) -> Gathered<'a> {
    let mut vals = Vec::with_capacity((p.cipher_suites.len() / 2).saturating_add(64));
    vals.extend(ciphers(p).filter(|c| !is_grease(*c)));
    let n_ciphers = vals.len();
    let (mut groups, mut formats, mut sigs): (&[u8], &[u8], &[u8]) = (&[], &[], &[]);
    let mut alpn = None;
    let mut sni = false;
    for_each_extension(p.extensions, |ty, data| {
        match ty {
            EXT_SNI => sni = true,
            EXT_SUPPORTED_GROUPS => groups = data,
            EXT_EC_POINT_FORMATS => formats = data,
            EXT_SIGNATURE_ALGORITHMS => sigs = data,
            EXT_ALPN => {
                // protocol_name_list: u16 length, then the names.
                alpn = match data {
                    [a, b, rest @ ..] => rest.get(..usize::from(u16::from_be_bytes([*a, *b]))),
                    _ => None,
                };
            }
            _ => {}
        }
        if !is_grease(ty) {
            vals.push(ty);
        }
    });
    let n_exts = vals.len().saturating_sub(n_ciphers);
    vals.extend(u16_vec(sigs).filter(|s| !is_grease(*s)));
    Gathered {
        vals,
        n_ciphers,
        n_exts,
        groups,
        formats,
        alpn,
        sni,
    }
}

/// JA3 text into `text`.
fn ja3_text_into(p: &HelloParts<'_>, g: &Gathered<'_>, text: &mut Vec<u8>) {
    let cs = g.vals.get(..g.n_ciphers).unwrap_or(&[]);
    let exts = g
        .vals
        .get(g.n_ciphers..g.n_ciphers.saturating_add(g.n_exts))
        .unwrap_or(&[]);
    text.clear();
    push_dec_list(text, std::iter::once(p.legacy_version.0));
    text.push(b',');
    push_dec_list(text, cs.iter().copied());
    text.push(b',');
    push_dec_list(text, exts.iter().copied());
    text.push(b',');
    push_dec_list(text, u16_vec(g.groups).filter(|v| !is_grease(*v)));
    text.push(b',');
    push_dec_list(text, u8_vec(g.formats).iter().map(|f| u16::from(*f)));
}

/// Both fingerprints of a ClientHello (`None` for an SSLv2-format hello).
pub fn fingerprints(ch: &ClientHello<'_>) -> (Option<Ja3>, Option<Ja4>) {
    if ch.sslv2_format {
        return (None, None);
    }
    let offered = ch.offered();
    let (a, b) = fingerprints_of(&HelloParts {
        legacy_version: ch.legacy_version,
        offered: offered.as_slice(),
        cipher_suites: ch.cipher_suites,
        extensions: ch.extensions,
        transport: super::Transport::Tcp,
    });
    (Some(a), Some(b))
}

/// Both fingerprints from the parts of a TLS-format ClientHello, in one pass over it.
pub fn fingerprints_of(p: &HelloParts<'_>) -> (Ja3, Ja4) {
    let mut g = gather(p);
    let mut text = Vec::with_capacity(g.vals.len().saturating_mul(6).saturating_add(64));

    ja3_text_into(p, &g, &mut text);
    let d = Md5::digest(&text);
    let mut ja3 = [b'0'; JA3_LEN];
    for (o, b) in ja3.chunks_exact_mut(2).zip(d.iter()) {
        if let [hi, lo] = o {
            *hi = HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0');
            *lo = HEX.get(usize::from(b & 0xf)).copied().unwrap_or(b'0');
        }
    }

    // Numerically highest non-GREASE supported_versions entry (the legacy version when the
    // extension is absent; nothing, hence `00`, when it lists only GREASE).
    let version = p.offered.iter().map(|v| v.0).max().unwrap_or(0);
    let head: [u8; 10] = {
        let v = ja4_version(version);
        let c = count2(g.n_ciphers);
        let e = count2(g.n_exts);
        let a = ja4_alpn(g.alpn);
        [
            p.transport.ja4_char(),
            v[0],
            v[1],
            if g.sni { b'd' } else { b'i' },
            c[0],
            c[1],
            e[0],
            e[1],
            a[0],
            a[1],
        ]
    };
    let n = g.vals.len();
    let (cs, rest) = g.vals.split_at_mut(g.n_ciphers.min(n));
    let (exts, sigs) = rest.split_at_mut(g.n_exts.min(rest.len()));
    cs.sort_unstable();
    exts.sort_unstable();
    text.clear();
    push_hex_list(&mut text, cs.iter().copied());
    let b = hash12(&text);
    text.clear();
    push_hex_list(
        &mut text,
        exts.iter()
            .copied()
            .filter(|e| *e != EXT_SNI && *e != EXT_ALPN),
    );
    if !sigs.is_empty() {
        text.push(b'_');
        push_hex_list(&mut text, sigs.iter().copied());
    }
    let c = hash12(&text);
    let mut ja4 = [0u8; JA4_LEN];
    for (o, i) in ja4.iter_mut().zip(
        head.iter()
            .chain(b"_")
            .chain(b.iter())
            .chain(b"_")
            .chain(c.iter()),
    ) {
        *o = *i;
    }
    (Ja3(ja3), Ja4(ja4))
}

/// The JA4 fingerprint of a ClientHello (`None` for an SSLv2-format hello).
pub fn ja4(ch: &ClientHello<'_>) -> Option<Ja4> {
    fingerprints(ch).1
}

/// The JA3 fingerprint of a ClientHello (`None` for an SSLv2-format hello).
pub fn ja3(ch: &ClientHello<'_>) -> Option<Ja3> {
    fingerprints(ch).0
}

/// The JA3 text (`771,4865-4866,0-23-65281,29-23,0`) of a ClientHello (`None` for an
/// SSLv2-format hello).
pub fn ja3_string(ch: &ClientHello<'_>) -> Option<String> {
    if ch.sslv2_format {
        return None;
    }
    let offered = ch.offered();
    let p = HelloParts {
        legacy_version: ch.legacy_version,
        offered: offered.as_slice(),
        cipher_suites: ch.cipher_suites,
        extensions: ch.extensions,
        transport: super::Transport::Tcp,
    };
    let g = gather(&p);
    let mut text = Vec::new();
    ja3_text_into(&p, &g, &mut text);
    String::from_utf8(text).ok()
}

#[cfg(test)]
mod tests {
    use super::super::hello::parse_client_hello;
    use super::super::hello::tests::client_hello_body;
    use super::*;

    fn u16s(len_bytes: usize, vals: &[u16]) -> Vec<u8> {
        let mut v = Vec::new();
        let n = vals.len() * 2;
        if len_bytes == 2 {
            v.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            v.push(n as u8);
        }
        for x in vals {
            v.extend_from_slice(&x.to_be_bytes());
        }
        v
    }

    /// The worked example of FoxIO's JA4 specification (`technical_details/JA4.md`), with
    /// GREASE added in every list (it must not change anything).
    fn spec_example() -> Vec<u8> {
        let ciphers = [
            0x0a0a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013,
            0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
        ];
        let sni = [
            0, 14, 0, 0, 11, b'e', b'x', b'a', b'm', b'p', b'l', b'e', b'.', b'c', b'o', b'm',
        ];
        let alpn = [
            0, 12, 2, b'h', b'2', 8, b'h', b't', b't', b'p', b'/', b'1', b'.', b'1',
        ];
        let sigs = u16s(
            2,
            &[
                0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
            ],
        );
        let sv = u16s(1, &[0x2a2a, 0x0304, 0x0303]);
        let groups = u16s(2, &[0x3a3a, 0x001d, 0x0017]);
        let exts: Vec<(u16, Vec<u8>)> = vec![
            (0x1a1a, vec![]),
            (0x001b, vec![2, 0, 2]),
            (0x0000, sni.to_vec()),
            (0x0033, vec![0, 0]),
            (0x0010, alpn.to_vec()),
            (0x4469, vec![]),
            (0x0017, vec![]),
            (0x002d, vec![1, 1]),
            (0x000d, sigs),
            (0x0005, vec![]),
            (0x0023, vec![]),
            (0x0012, vec![]),
            (0x002b, sv),
            (0xff01, vec![0]),
            (0x000b, vec![1, 0]),
            (0x000a, groups),
            (0x0015, vec![0; 4]),
        ];
        let refs: Vec<(u16, &[u8])> = exts.iter().map(|(t, d)| (*t, d.as_slice())).collect();
        client_hello_body(0x0303, &ciphers, &refs)
    }

    #[test]
    fn ja4_matches_the_specification_example() {
        let body = spec_example();
        let ch = parse_client_hello(&body, |_| {}).unwrap();
        assert_eq!(
            ja4(&ch).unwrap().as_str(),
            "t13d1516h2_8daaf6152771_e5627efa2ab1"
        );
    }

    #[test]
    fn ja4_without_extensions_sni_or_alpn() {
        let body = client_hello_body(0x0301, &[0x002f, 0x0035, 0x5600], &[]);
        let ch = parse_client_hello(&body, |_| {}).unwrap();
        let fp = ja4(&ch).unwrap();
        assert!(fp.as_str().starts_with("t10i030000_"), "{fp}");
        assert!(fp.as_str().ends_with("_000000000000"), "{fp}");
        // No ciphers at all: the cipher hash is zeros too.
        let body = client_hello_body(0x0300, &[], &[]);
        let ch = parse_client_hello(&body, |_| {}).unwrap();
        assert_eq!(
            ja4(&ch).unwrap().as_str(),
            "ts3i000000_000000000000_000000000000"
        );
    }

    #[test]
    fn ja4_alpn_characters() {
        assert_eq!(ja4_alpn(None), *b"00");
        assert_eq!(ja4_alpn(Some(&[0])), *b"00");
        assert_eq!(ja4_alpn(Some(&[2, b'h', b'2'])), *b"h2");
        assert_eq!(
            ja4_alpn(Some(&[8, b'h', b't', b't', b'p', b'/', b'1', b'.', b'1'])),
            *b"h1"
        );
        assert_eq!(ja4_alpn(Some(&[1, b'x'])), *b"xx");
        // Non-alphanumeric: first and last hex digit of the value (the specification's examples).
        assert_eq!(ja4_alpn(Some(&[1, 0xab])), *b"ab");
        assert_eq!(ja4_alpn(Some(&[2, 0xab, 0xcd])), *b"ad");
        assert_eq!(ja4_alpn(Some(&[2, 0x30, 0xab])), *b"3b");
        assert_eq!(ja4_alpn(Some(&[4, 0x30, 0x31, 0xab, 0xcd])), *b"3d");
        assert_eq!(ja4_alpn(Some(&[4, 0x30, 0xab, 0xcd, 0x31])), *b"01");
        // A length running past the list: no value.
        assert_eq!(ja4_alpn(Some(&[5, b'h', b'2'])), *b"00");
    }

    #[test]
    fn ja4_version_uses_the_numerically_highest_supported_version() {
        let sv = u16s(1, &[0x7f1c, 0x0304, 0x0303]);
        let body = client_hello_body(0x0303, &[0x1301], &[(43, &sv)]);
        let ch = parse_client_hello(&body, |_| {}).unwrap();
        assert!(ja4(&ch).unwrap().as_str().starts_with("t00i0101"));
        let sv = u16s(1, &[0x5a5a]);
        let body = client_hello_body(0x0303, &[0x1301], &[(43, &sv)]);
        let ch = parse_client_hello(&body, |_| {}).unwrap();
        assert!(ja4(&ch).unwrap().as_str().starts_with("t00i0101"));
    }

    #[test]
    fn counts_are_capped_at_99() {
        let many: Vec<u16> = (1..=150).collect();
        let body = client_hello_body(0x0303, &many, &[]);
        let ch = parse_client_hello(&body, |_| {}).unwrap();
        assert!(ja4(&ch).unwrap().as_str().starts_with("t12i9900"));
    }

    #[test]
    fn ja3_string_and_hash() {
        // Salesforce's documented example string and its MD5.
        let groups = u16s(2, &[0x0a0a, 23, 24, 25]);
        let body = client_hello_body(
            0x0301,
            &[
                0x2a2a, 47, 53, 5, 10, 49161, 49162, 49171, 49172, 50, 56, 19, 4,
            ],
            &[(0, &[0, 0]), (0xfafa, &[]), (10, &groups), (11, &[1, 0])],
        );
        let ch = parse_client_hello(&body, |_| {}).unwrap();
        assert_eq!(
            ja3_string(&ch).unwrap(),
            "769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0"
        );
        assert_eq!(
            ja3(&ch).unwrap().as_str(),
            "ada70206e40642a3e4461f35503241d5"
        );
        let body = client_hello_body(0x0303, &[4, 5], &[]);
        let ch = parse_client_hello(&body, |_| {}).unwrap();
        assert_eq!(ja3_string(&ch).unwrap(), "771,4-5,,,");
    }

    #[test]
    fn sslv2_format_hellos_have_no_fingerprint() {
        let rec = super::super::sslv2::tests::v2_client_hello(0x0301, &[[0, 0, 0x2f]]);
        let super::super::sslv2::V2::Yes(ch, _) = super::super::sslv2::parse_client_hello(&rec)
        else {
            panic!("not parsed");
        };
        assert!(ja4(&ch).is_none() && ja3(&ch).is_none());
    }
}
