//! What carried a hello: TLS records over TCP, QUIC CRYPTO frames, DTLS records over UDP.

/// The carrier of a handshake: a closed set (a report section, a metric label, JA4's first
/// character, ECS `network.protocol`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// TLS over TCP (the `clients` section).
    #[default]
    Tcp,
    /// TLS inside QUIC Initial packets (`quic_clients`).
    Quic,
    /// DTLS over UDP (`dtls_clients`).
    Dtls,
}

impl Transport {
    /// All values, in a fixed order.
    pub const ALL: [Transport; 3] = [Transport::Tcp, Transport::Quic, Transport::Dtls];

    /// Label value (`tcp`, `quic`, `dtls`).
    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Quic => "quic",
            Transport::Dtls => "dtls",
        }
    }

    /// Position in [`Transport::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// JA4's first character: `t`, `q` or `d`.
    pub fn ja4_char(self) -> u8 {
        match self {
            Transport::Tcp => b't',
            Transport::Quic => b'q',
            Transport::Dtls => b'd',
        }
    }

    /// Carried over UDP (QUIC, DTLS).
    pub fn is_udp(self) -> bool {
        self != Transport::Tcp
    }
}
