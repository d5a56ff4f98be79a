//! How a connection's handshake ended, from what one settled connection shows.

use crate::closed::closed_set;
use crate::flow::ConnSummary;
use crate::tls::facts::ALERT_FATAL;

closed_set! {
    /// How a connection's handshake ended. A closed set (a metric label and an event field).
    pub enum HandshakeOutcome {
        /// A ServerHello chose a version and no fatal plaintext alert followed.
        Established => "established",
        /// A ServerHello chose a version, then a fatal plaintext alert (e.g. the client rejected
        /// the certificate).
        AlertAfterServerHello => "alert_after_server_hello",
        /// ClientHello, no ServerHello, a plaintext alert (typically the server's
        /// `protocol_version` or `handshake_failure`).
        AlertBeforeServerHello => "alert_before_server_hello",
        /// ClientHello, no ServerHello and no alert, then a TCP RST (a common way for servers and
        /// middleboxes to refuse a version).
        RstAfterClientHello => "rst_after_client_hello",
        /// ClientHello, no ServerHello and no alert, then the server closed (FIN).
        ClosedAfterClientHello => "closed_after_client_hello",
        /// ClientHello and nothing else by the time the connection settled (idle timeout, end of
        /// capture, or only the client's direction captured).
        NoServerHello => "no_server_hello",
        /// A ServerHello whose ClientHello is not in the capture.
        ServerHelloOnly => "server_hello_only",
        /// Plaintext alerts and no hello at all.
        AlertOnly => "alert_only",
    }
}

impl HandshakeOutcome {
    /// Classifies a settled connection.
    pub fn of(s: &ConnSummary) -> HandshakeOutcome {
        let fatal = s.alert_levels.contains(&ALERT_FATAL);
        match (s.hellos.is_empty(), s.negotiated.is_some()) {
            (false, true) if fatal => HandshakeOutcome::AlertAfterServerHello,
            (false, true) => HandshakeOutcome::Established,
            (false, false) if !s.alerts.is_empty() => HandshakeOutcome::AlertBeforeServerHello,
            (false, false) if s.rst => HandshakeOutcome::RstAfterClientHello,
            (false, false) if s.fin[1] => HandshakeOutcome::ClosedAfterClientHello,
            (false, false) => HandshakeOutcome::NoServerHello,
            (true, true) => HandshakeOutcome::ServerHelloOnly,
            (true, false) => HandshakeOutcome::AlertOnly,
        }
    }

    /// The ECS `event.outcome` value: `success` when a version was negotiated without a fatal
    /// alert, `failure` otherwise.
    pub fn ecs(self) -> &'static str {
        match self {
            HandshakeOutcome::Established | HandshakeOutcome::ServerHelloOnly => "success",
            _ => "failure",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::facts::{Direction, HelloFacts};
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
        assert_eq!(HandshakeOutcome::of(&s), HandshakeOutcome::NoServerHello);
        s.fin = [true, false];
        assert_eq!(HandshakeOutcome::of(&s), HandshakeOutcome::NoServerHello);
        s.fin = [true, true];
        assert_eq!(
            HandshakeOutcome::of(&s),
            HandshakeOutcome::ClosedAfterClientHello
        );
        s.rst = true;
        assert_eq!(
            HandshakeOutcome::of(&s),
            HandshakeOutcome::RstAfterClientHello
        );
        s.alerts = vec![(70, Direction::FromServer)];
        s.alert_levels = vec![2];
        assert_eq!(
            HandshakeOutcome::of(&s),
            HandshakeOutcome::AlertBeforeServerHello
        );
        s.negotiated = Some(Version::TLS12);
        assert_eq!(
            HandshakeOutcome::of(&s),
            HandshakeOutcome::AlertAfterServerHello
        );
        s.alert_levels = vec![1];
        assert_eq!(HandshakeOutcome::of(&s), HandshakeOutcome::Established);
        s.hellos.clear();
        assert_eq!(HandshakeOutcome::of(&s), HandshakeOutcome::ServerHelloOnly);
        s.negotiated = None;
        assert_eq!(HandshakeOutcome::of(&s), HandshakeOutcome::AlertOnly);
        assert_eq!(HandshakeOutcome::ALL.len(), 8);
    }
}
