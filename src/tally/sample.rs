//! A bounded, mergeable count of string keys (fingerprints, server names) for one client.
//!
//! At most [`SAMPLE_KEYS`] distinct keys are kept with exact counts; everything else is counted
//! in [`Sample::not_kept`]. Which keys are kept does not depend on the order of arrival: the
//! kept keys are always the ones with the smallest 64-bit FNV-1a hash (ties broken by the key)
//! among all keys seen. So a census is the same for any number of workers, and censuses of
//! several sensors merge exactly (`merge(a, b)` equals counting everything into one sample). A
//! client with at most [`SAMPLE_KEYS`] distinct keys — nearly every client — has all of them.

/// Distinct keys kept per sample.
pub const SAMPLE_KEYS: usize = 16;

/// 64-bit FNV-1a: stable across platforms and versions (merged reports may come from
/// different machines).
fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Counts of at most [`SAMPLE_KEYS`] keys, plus the count of everything not kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    /// `(hash, key, count)`, ascending by `(hash, key)`.
    kept: Vec<(u64, Box<str>, u64)>,
    not_kept: u64,
}

impl Sample {
    /// Counts `n` observations of `key`.
    pub fn add(&mut self, key: &str, n: u64) {
        if n == 0 {
            return;
        }
        let h = fnv1a(key);
        let at = self
            .kept
            .binary_search_by(|(kh, kk, _)| (*kh, &**kk).cmp(&(h, key)));
        match at {
            Ok(i) => {
                if let Some(e) = self.kept.get_mut(i) {
                    e.2 = e.2.saturating_add(n);
                }
            }
            Err(i) => {
                if self.kept.len() < SAMPLE_KEYS {
                    self.kept.insert(i, (h, key.into(), n));
                } else if i < self.kept.len() {
                    // Smaller than the largest kept key: it takes that key's place.
                    if let Some((_, _, c)) = self.kept.pop() {
                        self.not_kept = self.not_kept.saturating_add(c);
                    }
                    self.kept.insert(i, (h, key.into(), n));
                } else {
                    self.not_kept = self.not_kept.saturating_add(n);
                }
            }
        }
    }

    /// Adds observations that were not kept (when reading a report back).
    pub fn add_not_kept(&mut self, n: u64) {
        self.not_kept = self.not_kept.saturating_add(n);
    }

    /// Adds another sample (associative and commutative).
    pub fn merge(&mut self, o: &Sample) {
        self.not_kept = self.not_kept.saturating_add(o.not_kept);
        for (_, k, n) in &o.kept {
            self.add(k, *n);
        }
    }

    /// Observations not kept.
    pub fn not_kept(&self) -> u64 {
        self.not_kept
    }

    /// True when nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.kept.is_empty() && self.not_kept == 0
    }

    /// The kept keys, most frequent first (ties by key).
    pub fn top(&self) -> Vec<(&str, u64)> {
        let mut v: Vec<(&str, u64)> = self.kept.iter().map(|(_, k, n)| (&**k, *n)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("host{i}.example")).collect()
    }

    #[test]
    fn small_samples_are_exact() {
        let mut s = Sample::default();
        s.add("a", 1);
        s.add("b", 2);
        s.add("a", 3);
        assert_eq!(s.top(), vec![("a", 4), ("b", 2)]);
        assert_eq!(s.not_kept(), 0);
    }

    #[test]
    fn kept_keys_do_not_depend_on_order_or_merging() {
        let ks = keys(100);
        let mut forward = Sample::default();
        for (i, k) in ks.iter().enumerate() {
            forward.add(k, 1 + i as u64 % 3);
        }
        let mut backward = Sample::default();
        for (i, k) in ks.iter().enumerate().rev() {
            backward.add(k, 1 + i as u64 % 3);
        }
        assert_eq!(forward, backward);
        assert_eq!(forward.top().len(), SAMPLE_KEYS);
        let total: u64 = (0..100u64).map(|i| 1 + i % 3).sum();
        let kept: u64 = forward.top().iter().map(|(_, n)| n).sum();
        assert_eq!(kept + forward.not_kept(), total);
        // Split three ways, merged in two different orders.
        let mut parts = [Sample::default(), Sample::default(), Sample::default()];
        for (i, k) in ks.iter().enumerate() {
            parts[i % 3].add(k, 1 + i as u64 % 3);
        }
        let mut m1 = parts[0].clone();
        m1.merge(&parts[1]);
        m1.merge(&parts[2]);
        let mut m2 = parts[2].clone();
        let mut m21 = parts[1].clone();
        m21.merge(&parts[0]);
        m2.merge(&m21);
        assert_eq!(m1, forward);
        assert_eq!(m2, forward);
    }
}
