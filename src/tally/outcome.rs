//! How a connection's handshake ended, from what one settled connection shows.

use super::ConnSummary;

/// Alert level `fatal` (RFC 5246 §7.2).
pub const ALERT_FATAL: u8 = 2;

/// How a connection's handshake ended. A closed set (a metric label and an event field).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// A ServerHello chose a version and no fatal plaintext alert followed.
    Established,
    /// A ServerHello chose a version, then a fatal plaintext alert (e.g. the client rejected
    /// the certificate).
    AlertAfterServerHello,
    /// ClientHello, no ServerHello, a plaintext alert (typically the server's
    /// `protocol_version` or `handshake_failure`).
    AlertBeforeServerHello,
    /// ClientHello, no ServerHello and no alert, then a TCP RST (a common way for servers and
    /// middleboxes to refuse a version).
    RstAfterClientHello,
    /// ClientHello, no ServerHello and no alert, then the server closed (FIN).
    ClosedAfterClientHello,
    /// ClientHello and nothing else by the time the connection settled (idle timeout, end of
    /// capture, or only the client's direction captured).
    NoServerHello,
    /// A ServerHello whose ClientHello is not in the capture.
    ServerHelloOnly,
    /// Plaintext alerts and no hello at all.
    AlertOnly,
}

impl Outcome {
    /// All outcomes, in a fixed order.
    pub const ALL: [Outcome; 8] = [
        Outcome::Established,
        Outcome::AlertAfterServerHello,
        Outcome::AlertBeforeServerHello,
        Outcome::RstAfterClientHello,
        Outcome::ClosedAfterClientHello,
        Outcome::NoServerHello,
        Outcome::ServerHelloOnly,
        Outcome::AlertOnly,
    ];

    /// Classifies a settled connection.
    pub fn of(s: &ConnSummary) -> Outcome {
        let fatal = s.alert_levels.contains(&ALERT_FATAL);
        match (s.hellos.is_empty(), s.negotiated.is_some()) {
            (false, true) if fatal => Outcome::AlertAfterServerHello,
            (false, true) => Outcome::Established,
            (false, false) if !s.alerts.is_empty() => Outcome::AlertBeforeServerHello,
            (false, false) if s.rst => Outcome::RstAfterClientHello,
            (false, false) if s.fin[1] => Outcome::ClosedAfterClientHello,
            (false, false) => Outcome::NoServerHello,
            (true, true) => Outcome::ServerHelloOnly,
            (true, false) => Outcome::AlertOnly,
        }
    }

    /// Label value.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Established => "established",
            Outcome::AlertAfterServerHello => "alert_after_server_hello",
            Outcome::AlertBeforeServerHello => "alert_before_server_hello",
            Outcome::RstAfterClientHello => "rst_after_client_hello",
            Outcome::ClosedAfterClientHello => "closed_after_client_hello",
            Outcome::NoServerHello => "no_server_hello",
            Outcome::ServerHelloOnly => "server_hello_only",
            Outcome::AlertOnly => "alert_only",
        }
    }

    /// The ECS `event.outcome` value: `success` when a version was negotiated without a fatal
    /// alert, `failure` otherwise.
    pub fn ecs(self) -> &'static str {
        match self {
            Outcome::Established | Outcome::ServerHelloOnly => "success",
            _ => "failure",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tally::{Direction, HelloFacts};
    use crate::tls::{Version, VersionList};

    fn with_hello() -> ConnSummary {
        ConnSummary {
            client: "10.0.0.1".parse().ok(),
            hellos: vec![HelloFacts::with_offered(
                VersionList::default(),
                Version::TLS10,
            )],
            ..ConnSummary::default()
        }
    }

    #[test]
    fn classification() {
        let mut s = with_hello();
        assert_eq!(Outcome::of(&s), Outcome::NoServerHello);
        s.fin = [true, false];
        assert_eq!(Outcome::of(&s), Outcome::NoServerHello);
        s.fin = [true, true];
        assert_eq!(Outcome::of(&s), Outcome::ClosedAfterClientHello);
        s.rst = true;
        assert_eq!(Outcome::of(&s), Outcome::RstAfterClientHello);
        s.alerts = vec![(70, Direction::FromServer)];
        s.alert_levels = vec![2];
        assert_eq!(Outcome::of(&s), Outcome::AlertBeforeServerHello);
        s.negotiated = Some(Version::TLS12);
        assert_eq!(Outcome::of(&s), Outcome::AlertAfterServerHello);
        s.alert_levels = vec![1];
        assert_eq!(Outcome::of(&s), Outcome::Established);
        s.hellos.clear();
        assert_eq!(Outcome::of(&s), Outcome::ServerHelloOnly);
        s.negotiated = None;
        assert_eq!(Outcome::of(&s), Outcome::AlertOnly);
        assert_eq!(Outcome::ALL.len(), 8);
    }
}
