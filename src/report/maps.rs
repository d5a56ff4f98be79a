//! How the report's maps are written and read: version and alert counts by name, connections
//! by how TLS began, and ordered `name → value` lists.

use crate::tls::{Version, alert_name};
use crate::upgrade::Start;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

/// Name of an alert description (RFC name, else `unassigned_N`).
pub fn alert_label(desc: u8) -> String {
    match alert_name(desc) {
        Some(n) => n.to_string(),
        None => format!("unassigned_{desc}"),
    }
}

/// An alert description from its report label (`protocol_version`, `unassigned_N`).
pub fn alert_from_label(label: &str) -> Option<u8> {
    if let Some(n) = label.strip_prefix("unassigned_") {
        return n.parse().ok();
    }
    (0..=u8::MAX).find(|d| alert_name(*d) == Some(label))
}

/// Counts by name read back into counts by key: an unknown name is an error, zero counts are
/// left out, names of the same key add up.
fn counts_by<'de, D: Deserializer<'de>, K: Ord>(
    d: D,
    what: &str,
    key: impl Fn(&str) -> Option<K>,
) -> Result<BTreeMap<K, u64>, D::Error> {
    let mut out = BTreeMap::new();
    for (name, n) in BTreeMap::<String, u64>::deserialize(d)? {
        let k = key(&name).ok_or_else(|| de::Error::custom(format!("unknown {what} '{name}'")))?;
        if n > 0 {
            let c: &mut u64 = out.entry(k).or_default();
            *c = c.saturating_add(n);
        }
    }
    Ok(out)
}

/// Counts by version, highest version first (`{"tls1.3": n, "tls1.2": n}`).
pub mod versions {
    use super::*;

    /// Writes the map.
    pub fn serialize<S: Serializer>(m: &BTreeMap<Version, u64>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(m.iter().rev().map(|(v, n)| (v.to_string(), n)))
    }

    /// Reads the map.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<Version, u64>, D::Error> {
        counts_by(d, "version", Version::from_name)
    }
}

/// A set of policy steps ([`crate::tally::ClientBrief::offered`]): a list of version names,
/// highest first, `none` for hellos offering no version; any version read back falls in its
/// step.
pub mod policy_steps {
    use super::*;
    use crate::tally::{ClientBrief, OFFERED_NOTHING};

    const NOTHING: &str = "none";

    /// Writes the set.
    pub fn serialize<S: Serializer>(bits: &u8, s: S) -> Result<S::Ok, S::Error> {
        let nothing = (bits & OFFERED_NOTHING != 0).then_some(NOTHING);
        s.collect_seq(
            ClientBrief::steps(*bits)
                .map(|v| v.to_string())
                .chain(nothing.map(String::from)),
        )
    }

    /// A list of names, or (layout 3) a map of version → hellos.
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Names {
        List(Vec<String>),
        Counts(BTreeMap<String, u64>),
    }

    /// Reads the set (also a layout-3 report's map of counts).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
        let names = match Names::deserialize(d)? {
            Names::List(l) => l,
            Names::Counts(m) => m.into_keys().collect(),
        };
        let mut bits = 0;
        for n in &names {
            if n == NOTHING {
                bits |= OFFERED_NOTHING;
            } else {
                let v = Version::from_name(n)
                    .ok_or_else(|| de::Error::custom(format!("unknown version '{n}'")))?;
                bits |= ClientBrief::steps_of([v]);
            }
        }
        Ok(bits)
    }
}

/// Counts by alert description, by label ([`alert_label`]), in description order.
pub mod alerts {
    use super::*;

    /// Writes the map.
    pub fn serialize<S: Serializer>(m: &BTreeMap<u8, u64>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(m.iter().map(|(d, n)| (alert_label(*d), n)))
    }

    /// Reads the map.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<u8, u64>, D::Error> {
        counts_by(d, "alert", alert_from_label)
    }
}

/// Connections by how TLS began, indexed by [`Start::index`]; written in [`Start::ALL`] order
/// by name, zero counts left out.
pub mod started {
    use super::*;

    /// The non-zero counts, in [`Start::ALL`] order.
    pub fn iter(a: &[u64; Start::COUNT]) -> impl Iterator<Item = (Start, u64)> + '_ {
        Start::ALL
            .iter()
            .zip(a)
            .filter(|(_, n)| **n > 0)
            .map(|(s, n)| (*s, *n))
    }

    /// Writes the map.
    pub fn serialize<S: Serializer>(a: &[u64; Start::COUNT], s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(iter(a).map(|(st, n)| (st.name(), n)))
    }

    /// Reads the map.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u64; Start::COUNT], D::Error> {
        let m = counts_by(d, "start", |name| {
            Start::ALL
                .iter()
                .find(|s| s.name() == name)
                .map(|s| s.index())
        })?;
        let mut out = [0u64; Start::COUNT];
        for (i, n) in m {
            if let Some(slot) = out.get_mut(i) {
                *slot = n;
            }
        }
        Ok(out)
    }
}

/// Counts by negotiated cipher suite, by IANA name ([`CipherName`]), in suite order.
pub mod ciphers {
    use super::*;
    use crate::tls::cipher::{CipherName, cipher_from_name};

    /// Writes the map.
    pub fn serialize<S: Serializer>(m: &BTreeMap<u16, u64>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(m.iter().map(|(id, n)| (CipherName::of(*id), n)))
    }

    /// Reads the map.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<u16, u64>, D::Error> {
        counts_by(d, "cipher suite", cipher_from_name)
    }
}

/// Counts indexed by position in a fixed list of names, written by name in that order, zero
/// counts left out; reading an unknown name is an error.
macro_rules! counts_by_position {
    ($(#[$m:meta])* $module:ident, $names:expr, $n:expr, $what:literal) => {
        $(#[$m])*
        pub mod $module {
            use super::*;

            /// Writes the map.
            pub fn serialize<S: Serializer>(a: &[u64; $n], s: S) -> Result<S::Ok, S::Error> {
                s.collect_map(
                    $names
                        .iter()
                        .zip(a)
                        .filter(|(_, n)| **n > 0)
                        .map(|(name, n)| (*name, n)),
                )
            }

            /// Reads the map.
            pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u64; $n], D::Error> {
                let m = counts_by(d, $what, |name| $names.iter().position(|n| *n == name))?;
                let mut out = [0u64; $n];
                for (i, n) in m {
                    if let Some(slot) = out.get_mut(i) {
                        *slot = n;
                    }
                }
                Ok(out)
            }
        }
    };
}

counts_by_position!(
    /// Counts by cipher weakness class ([`CipherClass`](crate::tls::cipher::CipherClass)).
    cipher_classes,
    crate::tls::cipher::CipherClass::NAMES,
    crate::tls::cipher::CipherClass::COUNT,
    "cipher class"
);

counts_by_position!(
    /// Counts by key exchange group ([`Group`](crate::tls::group::Group), `other` last).
    groups,
    crate::tls::group::Group::NAMES,
    crate::tls::group::Group::COUNT,
    "group"
);

counts_by_position!(
    /// Counts by certificate problem ([`CertProblem`](crate::tls::certificate::CertProblem)).
    cert_problems,
    crate::tls::certificate::CertProblem::NAMES,
    crate::tls::certificate::CertProblem::COUNT,
    "certificate problem"
);

/// A JSON object kept in its order: `name → value` pairs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pairs<V>(pub Vec<(String, V)>);

impl<V> Default for Pairs<V> {
    fn default() -> Self {
        Pairs(Vec::new())
    }
}

impl<V> Pairs<V> {
    /// True when there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value of the first pair, if any.
    pub fn first(&self) -> Option<&(String, V)> {
        self.0.first()
    }
}

impl<V: Serialize> Serialize for Pairs<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Pairs<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V_<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for V_<V> {
            type Value = Pairs<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Pairs<V>, A::Error> {
                let mut v = Vec::new();
                while let Some(e) = m.next_entry()? {
                    v.push(e);
                }
                Ok(Pairs(v))
            }
        }
        d.deserialize_map(V_(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_labels_round_trip() {
        for d in 0..=u8::MAX {
            assert_eq!(alert_from_label(&alert_label(d)), Some(d));
        }
        assert_eq!(alert_from_label("no_such_alert"), None);
    }
}
