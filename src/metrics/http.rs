//! The `/metrics` endpoint: `tiny_http` on its own thread.
//!
//! `GET /metrics` renders the exposition at request time: OpenMetrics
//! ([`super::OPENMETRICS_CONTENT_TYPE`]) unless the client asks for `text/plain` and not for
//! OpenMetrics, then the Prometheus text format 0.0.4. `GET /` is a small landing page;
//! anything else is 404, methods other than GET and HEAD are 405. Requests are answered one
//! at a time on the server thread; a scrape holds the per-client table's lock only to copy it.

use super::{Metrics, MetricsError, OPENMETRICS_CONTENT_TYPE, PROMETHEUS_TEXT_CONTENT_TYPE};
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use tiny_http::{Header, Method, Request, Response, Server};

/// A running metrics server; stops when dropped.
pub struct MetricsServer {
    server: Arc<Server>,
    addr: SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for MetricsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Whether a request with this `Accept` header gets OpenMetrics (else Prometheus text 0.0.4).
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    match accept {
        Some(a) if a.contains("application/openmetrics-text") => true,
        Some(a) if a.contains("text/plain") => false,
        _ => true,
    }
}

fn header(name: &str, value: &str) -> Option<Header> {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).ok()
}

fn respond(req: Request, status: u16, content_type: &str, body: String) {
    let mut resp = Response::from_string(body).with_status_code(status);
    if let Some(h) = header("Content-Type", content_type) {
        resp.add_header(h);
    }
    // The client may have gone away: nothing to do about it.
    let _ = req.respond(resp);
}

fn landing_page() -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><title>hellowatch</title></head><body>\n\
         <h1>hellowatch {}</h1>\n\
         <p>Passive TLS handshake census: which clients offer or negotiate TLS versions below \
         1.2, and which handshakes fail.</p>\n\
         <p><a href=\"/metrics\">Metrics</a> (OpenMetrics; Prometheus text 0.0.4 when asked \
         for <code>text/plain</code>)</p>\n</body></html>\n",
        env!("CARGO_PKG_VERSION")
    )
}

fn handle(req: Request, metrics: &Metrics) {
    if !matches!(req.method(), Method::Get | Method::Head) {
        respond(
            req,
            405,
            "text/plain; charset=utf-8",
            "method not allowed\n".into(),
        );
        return;
    }
    let path = req.url().split('?').next().unwrap_or("");
    match path {
        "/metrics" => {
            let accept = req
                .headers()
                .iter()
                .find(|h| h.field.equiv("Accept"))
                .map(|h| h.value.as_str());
            if wants_openmetrics(accept) {
                let body = metrics.encode_openmetrics();
                respond(req, 200, OPENMETRICS_CONTENT_TYPE, body);
            } else {
                let body = metrics.encode_prometheus_text();
                respond(req, 200, PROMETHEUS_TEXT_CONTENT_TYPE, body);
            }
        }
        "/" => respond(req, 200, "text/html; charset=utf-8", landing_page()),
        _ => respond(req, 404, "text/plain; charset=utf-8", "not found\n".into()),
    }
}

/// Pending connections queued by the kernel before the server thread accepts them.
const LISTEN_BACKLOG: i32 = 128;

/// A listening socket with `TCP_NODELAY` (inherited by accepted connections on Linux):
/// `tiny_http` writes the headers and the body separately, and without it the body's last
/// segment waits for the scraper's delayed ACK (about 40 ms per scrape).
fn listen(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    s.set_tcp_nodelay(true)?;
    s.bind(&addr.into())?;
    s.listen(LISTEN_BACKLOG)?;
    Ok(s.into())
}

impl MetricsServer {
    /// Listens on `addr` and serves `metrics` from a new thread.
    pub fn start(addr: SocketAddr, metrics: Metrics) -> Result<Self, MetricsError> {
        let listener = listen(addr).map_err(|e| MetricsError::Listen {
            addr,
            source: Box::new(e),
        })?;
        let server = Server::from_listener(listener, None)
            .map_err(|source| MetricsError::Listen { addr, source })?;
        let local = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| MetricsError::Listen {
                addr,
                source: "not an IP listener".into(),
            })?;
        let server = Arc::new(server);
        let s = Arc::clone(&server);
        let thread = std::thread::Builder::new()
            .name("hellowatch-http".into())
            .spawn(move || {
                for req in s.incoming_requests() {
                    handle(req, &metrics);
                }
            })
            .map_err(|e| MetricsError::Listen {
                addr,
                source: Box::new(e),
            })?;
        Ok(MetricsServer {
            server,
            addr: local,
            thread: Some(thread),
        })
    }

    /// The address actually listened on (port 0 resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving and waits for the server thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_negotiation() {
        // Prometheus 2.x sends this.
        let prom = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
                    version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert!(wants_openmetrics(Some(prom)));
        assert!(wants_openmetrics(None));
        assert!(wants_openmetrics(Some("*/*")));
        assert!(!wants_openmetrics(Some("text/plain")));
        assert!(!wants_openmetrics(Some("text/plain;version=0.0.4")));
    }
}
