//! What carried a hello: TLS records over TCP, QUIC CRYPTO frames, DTLS records over UDP.

use crate::closed::closed_set;

closed_set! {
    /// The carrier of a handshake: a closed set (a report section, a metric label, JA4's first
    /// character, ECS `network.protocol`).
    #[derive(Default)]
    pub enum Transport {
        /// TLS over TCP (the `clients` section).
        #[default]
        Tcp => "tcp",
        /// TLS inside QUIC Initial packets (`quic_clients`).
        Quic => "quic",
        /// DTLS over UDP (`dtls_clients`).
        Dtls => "dtls",
    }
}

impl Transport {
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
