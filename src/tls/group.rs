//! Key exchange groups (`supported_groups`, `key_share`): the one table of their IANA names,
//! and a bounded set of them. Codepoints the table does not name count as `other`; GREASE
//! values are left out. Pure: no I/O, no clock.

#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

use super::version::Version;

/// Whether a group resists a quantum adversary.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Quantum {
    /// Classical (elliptic curve or finite field).
    Classical,
    /// A hybrid of a classical group and ML-KEM (or its Kyber draft).
    Hybrid,
    /// ML-KEM alone.
    PostQuantum,
}

/// The named groups: IANA codepoint, IANA name, post-quantum kind. The one table of group
/// names (report keys, metric label values, event log fields). Anything else is `other`.
pub const GROUPS: [(u16, &str, Quantum); 26] = [
    (0x0015, "secp224r1", Quantum::Classical),
    (0x0016, "secp256k1", Quantum::Classical),
    (0x0017, "secp256r1", Quantum::Classical),
    (0x0018, "secp384r1", Quantum::Classical),
    (0x0019, "secp521r1", Quantum::Classical),
    (0x001a, "brainpoolP256r1", Quantum::Classical),
    (0x001b, "brainpoolP384r1", Quantum::Classical),
    (0x001c, "brainpoolP512r1", Quantum::Classical),
    (0x001d, "x25519", Quantum::Classical),
    (0x001e, "x448", Quantum::Classical),
    (0x001f, "brainpoolP256r1tls13", Quantum::Classical),
    (0x0020, "brainpoolP384r1tls13", Quantum::Classical),
    (0x0021, "brainpoolP512r1tls13", Quantum::Classical),
    (0x0100, "ffdhe2048", Quantum::Classical),
    (0x0101, "ffdhe3072", Quantum::Classical),
    (0x0102, "ffdhe4096", Quantum::Classical),
    (0x0103, "ffdhe6144", Quantum::Classical),
    (0x0104, "ffdhe8192", Quantum::Classical),
    (0x0200, "MLKEM512", Quantum::PostQuantum),
    (0x0201, "MLKEM768", Quantum::PostQuantum),
    (0x0202, "MLKEM1024", Quantum::PostQuantum),
    (0x11eb, "SecP256r1MLKEM768", Quantum::Hybrid),
    (0x11ec, "X25519MLKEM768", Quantum::Hybrid),
    (0x11ed, "SecP384r1MLKEM1024", Quantum::Hybrid),
    (0x6399, "X25519Kyber768Draft00", Quantum::Hybrid),
    (0x639a, "SecP256r1Kyber768Draft00", Quantum::Hybrid),
];

/// A group of [`GROUPS`], or `other`: an index into [`Group::NAMES`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Group(u8);

/// Report key and label value of codepoints outside [`GROUPS`].
pub const OTHER: &str = "other";

#[allow(
    clippy::indexing_slicing,
    reason = "const evaluation: an index out of range fails the build"
)]
const fn names() -> [&'static str; Group::COUNT] {
    let mut a = [OTHER; Group::COUNT];
    let mut i = 0;
    while i < GROUPS.len() {
        a[i] = GROUPS[i].1;
        i = i.saturating_add(1);
    }
    a
}

impl Group {
    /// The groups of [`GROUPS`] and `other`.
    pub const COUNT: usize = GROUPS.len() + 1;

    /// Names in index order; the last is [`OTHER`].
    pub const NAMES: [&'static str; Group::COUNT] = names();

    /// `other`.
    pub const OTHER: Group = Group(GROUPS.len() as u8);

    /// The group of codepoint `code` (`other` if unnamed); `None` for GREASE.
    pub fn of(code: u16) -> Option<Group> {
        if Version(code).is_grease() {
            return None;
        }
        let i = GROUPS.iter().position(|(c, _, _)| *c == code);
        Some(
            i.and_then(|i| u8::try_from(i).ok())
                .map_or(Group::OTHER, Group),
        )
    }

    /// The group of a report name.
    pub fn from_name(name: &str) -> Option<Group> {
        let i = Group::NAMES.iter().position(|n| *n == name)?;
        u8::try_from(i).ok().map(Group)
    }

    /// Every group, in index order (`other` last).
    pub fn all() -> impl Iterator<Item = Group> {
        (0..Group::COUNT).filter_map(|i| u8::try_from(i).ok().map(Group))
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        Group::NAMES.get(self.index()).copied().unwrap_or(OTHER)
    }

    /// Its index in [`Group::NAMES`].
    pub fn index(self) -> usize {
        usize::from(self.0)
    }

    /// Its post-quantum kind (`other`: classical, as far as is known).
    pub fn quantum(self) -> Quantum {
        GROUPS.get(self.index()).map_or(Quantum::Classical, |g| g.2)
    }
}

/// A set of [`Group`]s (a bit per group).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct GroupSet(u32);

const _: () = assert!(Group::COUNT <= 32, "GroupSet holds 32 groups");

impl GroupSet {
    /// Adds a group.
    pub fn insert(&mut self, g: Group) {
        self.0 |= 1 << (g.index() & 31);
    }

    /// True when `g` is in the set.
    pub fn contains(self, g: Group) -> bool {
        self.0 >> (g.index() & 31) & 1 == 1
    }

    /// True when empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The groups in the set, in index order.
    pub fn iter(self) -> impl Iterator<Item = Group> {
        Group::all().filter(move |g| self.contains(*g))
    }

    /// The groups of a `supported_groups` extension body (u16 length, u16 codepoints), read
    /// within both the inner length and the extension; GREASE left out.
    pub fn of_named_group_list(data: &[u8]) -> Self {
        let mut s = GroupSet::default();
        let Some((len, rest)) = data.split_first_chunk::<2>() else {
            return s;
        };
        let n = usize::from(u16::from_be_bytes(*len)).min(rest.len());
        for c in rest.get(..n).unwrap_or(&[]).chunks_exact(2) {
            if let Some(g) = c
                .first_chunk::<2>()
                .and_then(|c| Group::of(u16::from_be_bytes(*c)))
            {
                s.insert(g);
            }
        }
        s
    }

    /// The groups of a ClientHello `key_share` extension body (u16 length, then entries of
    /// group u16, key length u16, key), as far as they frame; GREASE left out.
    pub fn of_client_shares(data: &[u8]) -> Self {
        let mut s = GroupSet::default();
        let Some((len, rest)) = data.split_first_chunk::<2>() else {
            return s;
        };
        let n = usize::from(u16::from_be_bytes(*len)).min(rest.len());
        let mut p = rest.get(..n).unwrap_or(&[]);
        while let [g0, g1, l0, l1, tail @ ..] = p {
            if let Some(g) = Group::of(u16::from_be_bytes([*g0, *g1])) {
                s.insert(g);
            }
            let klen = usize::from(u16::from_be_bytes([*l0, *l1]));
            p = tail.get(klen..).unwrap_or(&[]);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_codes() {
        assert_eq!(Group::of(0x11ec).map(Group::name), Some("X25519MLKEM768"));
        assert_eq!(Group::of(0x001d).map(Group::name), Some("x25519"));
        assert_eq!(
            Group::of(0x6399).map(Group::name),
            Some("X25519Kyber768Draft00")
        );
        assert_eq!(Group::of(0x11eb).map(Group::quantum), Some(Quantum::Hybrid));
        assert_eq!(
            Group::of(0x0017).map(Group::quantum),
            Some(Quantum::Classical)
        );
        assert_eq!(Group::of(0x0001), Some(Group::OTHER));
        assert_eq!(Group::of(0x2a2a), None, "GREASE");
        for g in Group::all() {
            assert_eq!(Group::from_name(g.name()), Some(g));
        }
        assert_eq!(Group::NAMES.last(), Some(&"other"));
        assert!(
            GROUPS.windows(2).all(|w| w[0].0 < w[1].0),
            "one entry per codepoint, in order"
        );
    }

    #[test]
    fn supported_groups_bytes() {
        // GREASE, x25519, secp256r1, X25519MLKEM768, an unnamed group.
        let data = [0, 10, 0x3a, 0x3a, 0, 0x1d, 0, 0x17, 0x11, 0xec, 0x00, 0x03];
        let s = GroupSet::of_named_group_list(&data);
        let names: Vec<_> = s.iter().map(Group::name).collect();
        assert_eq!(names, ["secp256r1", "x25519", "X25519MLKEM768", "other"]);
        // An inner length longer than the extension reads what is there.
        assert_eq!(
            GroupSet::of_named_group_list(&[0, 40, 0, 0x1d])
                .iter()
                .count(),
            1
        );
        assert!(GroupSet::of_named_group_list(&[0]).is_empty());
    }

    #[test]
    fn client_shares_bytes() {
        // GREASE share (1 byte key), x25519 (32-byte key), X25519MLKEM768 truncated key.
        let mut d = vec![0, 0];
        d.extend_from_slice(&[0x1a, 0x1a, 0, 1, 0]);
        d.extend_from_slice(&[0, 0x1d, 0, 32]);
        d.extend_from_slice(&[7; 32]);
        d.extend_from_slice(&[0x11, 0xec, 0x04, 0xc0, 1, 2]);
        let n = (d.len() - 2) as u16;
        d[..2].copy_from_slice(&n.to_be_bytes());
        let names: Vec<_> = GroupSet::of_client_shares(&d)
            .iter()
            .map(Group::name)
            .collect();
        assert_eq!(names, ["x25519", "X25519MLKEM768"]);
    }
}
