//! The census of one server endpoint (or server name): the counts over the connections to it,
//! and of each of its clients only what its distinct-client, legacy-client and policy counts
//! need ([`ClientBrief`], 16 bytes).
//!
//! A whole [`ClientTally`] per server and client (as in the client section) took about 5 KB a
//! pair: on the shared benchmark workload (100,000 connections, 5,000 clients, 400 servers:
//! 96,000 server–client pairs, twice: by endpoint and by name) that was 1.1 GB of memory, a
//! 320 MB report and a 5× slower replay. What a server's client entry answers is "is it
//! legacy" and "would it fail under this policy"; the brief keeps exactly that.

use super::{CertTally, ClientTally, Contribution, MAX_CLIENTS_PER_SERVER, add};
use crate::tls::Version;
use std::collections::HashMap;
use std::net::IpAddr;

/// The versions a policy can require (`--policy min=…`), in protocol order.
/// A hello's highest offered version is kept as the last of them it reaches (its TLS
/// equivalent, for DTLS), or [`Version::SSL2`] below SSL 3.0: exactly what any policy's
/// verdict on the hello depends on.
pub const POLICY_STEPS: [Version; 6] = [
    Version::SSL2,
    Version::SSL3,
    Version::TLS10,
    Version::TLS11,
    Version::TLS12,
    Version::TLS13,
];

/// The slot of [`POLICY_STEPS`] a highest offered version falls in.
fn step(v: Version) -> usize {
    let t = v.tls_equivalent();
    POLICY_STEPS
        .iter()
        .rposition(|s| *s <= t)
        .unwrap_or_default()
}

/// Adds `n` to a 32-bit counter, saturating.
fn add32(c: &mut u32, n: u32) {
    *c = c.saturating_add(n);
}

/// The bit of [`ClientBrief::offered`] for hellos offering no version at all (they pass no
/// policy).
pub const OFFERED_NOTHING: u8 = 1 << POLICY_STEPS.len();

/// One client of a server: its connections, hellos and failed handshakes there, which policy
/// steps the highest offered versions of its hellos reached (a set: a policy's verdict on a
/// client depends on which steps occur, not how often), and whether any of its connections
/// there was legacy. 16 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientBrief {
    /// Connections.
    pub connections: u32,
    /// ClientHellos.
    pub hellos: u32,
    /// Connections with a hello and no ServerHello.
    pub failed_handshakes: u32,
    /// Bit `i`: a hello without TLS_FALLBACK_SCSV whose highest offered version is in
    /// [`POLICY_STEPS`] slot `i`; [`OFFERED_NOTHING`]: one offering nothing.
    pub offered: u8,
    /// The same for hellos carrying TLS_FALLBACK_SCSV (fallback retries).
    pub fallback_offered: u8,
    /// A connection offered or negotiated below TLS 1.2, or failed
    /// ([`Contribution::legacy`]).
    pub legacy: bool,
}

impl ClientBrief {
    fn add_contribution(&mut self, c: &Contribution<'_>) {
        add32(&mut self.connections, 1);
        for h in c.hellos {
            add32(&mut self.hellos, 1);
            let bit = h.offered_max.map_or(OFFERED_NOTHING, |v| 1 << step(v));
            if h.fallback_scsv {
                self.fallback_offered |= bit;
            } else {
                self.offered |= bit;
            }
        }
        if c.failed {
            add32(&mut self.failed_handshakes, 1);
        }
        self.legacy |= c.legacy;
    }

    /// Adds another brief of the same client.
    pub fn merge(&mut self, o: &ClientBrief) {
        add32(&mut self.connections, o.connections);
        add32(&mut self.hellos, o.hellos);
        add32(&mut self.failed_handshakes, o.failed_handshakes);
        self.offered |= o.offered;
        self.fallback_offered |= o.fallback_offered;
        self.legacy |= o.legacy;
    }

    /// The steps of a set, highest first (a report's list).
    pub fn steps(bits: u8) -> impl Iterator<Item = Version> {
        POLICY_STEPS
            .into_iter()
            .enumerate()
            .rev()
            .filter(move |(i, _)| bits & (1 << i) != 0)
            .map(|(_, v)| v)
    }

    /// The set of the steps of some versions (reading a report back: any version falls in
    /// its step).
    pub fn steps_of(vs: impl IntoIterator<Item = Version>) -> u8 {
        vs.into_iter().fold(0, |bits, v| bits | (1 << step(v)))
    }
}

/// The census of one server endpoint or server name.
#[derive(Clone, Debug, Default)]
pub struct ServerTally {
    /// Sums over the connections to it (clients beyond the bound included).
    pub totals: ClientTally,
    /// Connections settled with something to count.
    pub connections: u64,
    /// Its clients (at most [`MAX_CLIENTS_PER_SERVER`]).
    pub clients: HashMap<IpAddr, ClientBrief>,
    /// Distinct clients refused an entry by the bound.
    pub clients_dropped: u64,
    /// The certificates it showed, by connection.
    pub certificates: CertTally,
}

impl ServerTally {
    /// Counts one connection to this server.
    pub(super) fn add_contribution(&mut self, c: &Contribution<'_>) {
        add(&mut self.connections, 1);
        if let Some(st) = c.cert_status {
            self.certificates.add(st, c.certificate, c.cert_problems);
        }
        self.totals.add_contribution(c, usize::MAX);
        let n = self.clients.len();
        match self.clients.get_mut(&c.client) {
            Some(b) => b.add_contribution(c),
            None if n < MAX_CLIENTS_PER_SERVER => self
                .clients
                .entry(c.client)
                .or_default()
                .add_contribution(c),
            None => add(&mut self.clients_dropped, 1),
        }
    }

    /// Adds another census of the same server.
    pub fn merge(&mut self, o: &ServerTally) {
        add(&mut self.connections, o.connections);
        add(&mut self.clients_dropped, o.clients_dropped);
        self.certificates.merge(&o.certificates);
        self.totals.merge(&o.totals);
        for (ip, b) in &o.clients {
            let n = self.clients.len();
            match self.clients.get_mut(ip) {
                Some(mine) => mine.merge(b),
                None if n < MAX_CLIENTS_PER_SERVER => {
                    self.clients.insert(*ip, *b);
                }
                None => add(&mut self.clients_dropped, 1),
            }
        }
    }

    /// Client entries with a legacy connection.
    pub fn legacy_clients(&self) -> usize {
        self.clients.values().filter(|b| b.legacy).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_steps_keep_what_every_policy_tells_apart() {
        assert_eq!(POLICY_STEPS[step(Version::TLS10)], Version::TLS10);
        assert_eq!(POLICY_STEPS[step(Version::SSL2)], Version::SSL2);
        assert_eq!(POLICY_STEPS[step(Version(0x0100))], Version::SSL2);
        assert_eq!(POLICY_STEPS[step(Version::DTLS10)], Version::TLS11);
        assert_eq!(POLICY_STEPS[step(Version::DTLS12)], Version::TLS12);
        assert_eq!(
            POLICY_STEPS[step(Version(0x7f1c))],
            Version::TLS12,
            "1.3 draft"
        );
        assert_eq!(POLICY_STEPS[step(Version::TLS13)], Version::TLS13);
        // Any policy minimum (`Policy::accepts`: the TLS equivalent at or above it) accepts
        // a version exactly when it accepts its step.
        for min in &POLICY_STEPS[1..] {
            for v in [
                0x0002, 0x0300, 0x0301, 0x0302, 0x0303, 0x7f1c, 0x0304, 0xfeff, 0xfefd,
            ] {
                let v = Version(v);
                assert_eq!(
                    v.tls_equivalent() >= *min,
                    POLICY_STEPS[step(v)] >= *min,
                    "{min} {v}"
                );
            }
        }
    }

    #[test]
    fn brief_is_small() {
        assert_eq!(size_of::<ClientBrief>(), 16);
    }

    #[test]
    fn steps_read_back() {
        let bits = ClientBrief::steps_of([Version::TLS10, Version(0x7f1c), Version::DTLS10]);
        let back: Vec<Version> = ClientBrief::steps(bits).collect();
        assert_eq!(back, [Version::TLS12, Version::TLS11, Version::TLS10]);
        assert_eq!(ClientBrief::steps_of(back), bits);
    }
}
