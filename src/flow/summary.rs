//! The per-connection summary: what a settled connection showed, as the census, the event
//! log and the metrics read it.

use super::{Conn, Handshake};
use crate::tls::Version;
use crate::tls::facts::{ALERT_FATAL, ALERT_WARNING, Direction, HelloFacts, ServerFacts};
use crate::upgrade::Start;
use crate::wire::Endpoint;
use std::net::IpAddr;

/// What one settled connection showed: its endpoints, hellos, ServerHello, alerts and how
/// it ended. Built by the connection ([`Conn::summary`]); what of it the census counts is
/// `tally`'s rule.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnSummary {
    /// The client: sender of the ClientHello, else receiver of the ServerHello, else the
    /// TCP initiator.
    pub client: Option<IpAddr>,
    /// ClientHellos in order (at most
    /// [`MAX_HELLOS_PER_CONN`](crate::tls::facts::MAX_HELLOS_PER_CONN)).
    pub hellos: Vec<HelloFacts>,
    /// Version of the last ServerHello that is not a HelloRetryRequest.
    pub negotiated: Option<Version>,
    /// A HelloRetryRequest was seen.
    pub hrr: bool,
    /// Plaintext alert descriptions with their direction.
    pub alerts: Vec<(u8, Direction)>,
    /// Level of each entry of `alerts` (1 warning, 2 fatal), same order.
    pub alert_levels: Vec<u8>,
    /// The client endpoint (address and port), when the client is known.
    pub client_endpoint: Option<Endpoint>,
    /// The other endpoint.
    pub server_endpoint: Option<Endpoint>,
    /// Packet time (ns since the Unix epoch) of the connection's first packet.
    pub first_seen_ns: u64,
    /// Packet time (ns) of the connection's last packet: when the client was last seen.
    pub last_seen_ns: u64,
    /// The last ServerHello that is not a HelloRetryRequest.
    pub server_hello: Option<ServerFacts>,
    /// A TCP RST was seen.
    pub rst: bool,
    /// A TCP FIN was seen from the client / from the server.
    pub fin: [bool; 2],
    /// The connection was joined mid-stream (no SYN seen).
    pub midstream: bool,
    /// How TLS began: at byte 0, or after which plaintext upgrade.
    pub start: Start,
    /// The real client's address named by a PROXY protocol header before the hello (the
    /// census still counts the connection under `client`, the IP sender).
    pub proxied_for: Option<IpAddr>,
    /// What carried the handshake: TLS over TCP, QUIC or DTLS (each counted in its own
    /// census).
    pub transport: crate::tls::Transport,
    /// The server's leaf certificate, when a TLS ≤ 1.2 Certificate message was read.
    pub certificate: Option<Box<crate::tls::certificate::LeafFacts>>,
}

impl Conn {
    /// The client side of this connection: the sender of the first ClientHello, else the
    /// receiver of the ServerHello, else the side that asked for a plaintext upgrade, else
    /// the TCP initiator.
    pub fn client_side(&self, hs: &Handshake) -> Option<usize> {
        hs.client
            .or(hs.server_hello_from.map(|s| s ^ 1))
            .or(hs.upgrade_client)
            .or(self.initiator.map(usize::from))
    }

    /// The summary of this connection, settled with `cs` as its client side; the hellos are
    /// moved out of `hs`.
    pub fn summary(&self, hs: &mut Handshake, cs: usize) -> ConnSummary {
        let hellos = std::mem::take(&mut hs.hellos);
        ConnSummary {
            client: Some(self.addr(cs)),
            hellos,
            negotiated: hs.negotiated,
            hrr: hs.hrr,
            alerts: hs
                .alerts
                .iter()
                .map(|(d, s)| (*d, super::direction(*s, cs)))
                .collect(),
            alert_levels: (0..hs.alerts.len())
                .map(|i| {
                    if hs.fatal_alerts >> (i & 7) & 1 == 1 {
                        ALERT_FATAL
                    } else {
                        ALERT_WARNING
                    }
                })
                .collect(),
            client_endpoint: Some(self.key.end(cs)),
            server_endpoint: Some(self.key.end(cs ^ 1)),
            first_seen_ns: self.first_seen,
            last_seen_ns: self.last_seen,
            server_hello: hs.server_hello,
            rst: self.rst,
            fin: [
                self.fin.get(cs & 1).copied().unwrap_or(false),
                self.fin.get((cs ^ 1) & 1).copied().unwrap_or(false),
            ],
            midstream: self.midstream,
            start: hs.start,
            proxied_for: None,
            transport: crate::tls::Transport::Tcp,
            certificate: hs.certificate.take(),
        }
    }
}
