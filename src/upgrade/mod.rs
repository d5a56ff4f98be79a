//! Protocol upgrades to TLS: STARTTLS and friends, proxies, database SSL requests.
//!
//! Many old TLS clients do not start TLS at byte 0: a mail server sends `STARTTLS`, a database
//! driver an SSL request, an application a `CONNECT` to its proxy, and TLS begins only once the
//! server has accepted. A [`Recogniser`] watches the plaintext of both directions of one
//! connection and decides, by content (never by port), whether and where TLS begins:
//!
//! * it classifies the connection from the first plaintext unit either side sends (a text
//!   line, an HTTP request or response head, a SOCKS, LDAP, PostgreSQL or MySQL message, an
//!   XMPP stream header);
//! * a small state machine per protocol then consumes whole units of each direction and
//!   watches for the client's upgrade request; the client's bytes after the request are
//!   *held* (not consumed) until the server's answer arrives in the other direction;
//! * once the server has accepted, [`Recogniser::verdict`] is [`Verdict::Upgrade`] and each
//!   side's consumed position is exactly where its TLS begins. A refusal (`454`, `BAD`,
//!   `-ERR`, `407`, a SOCKS rejection…) leaves the connection plaintext: nothing in it is ever
//!   read as TLS.
//!
//! The side that sends the request is the TLS client. Bounded: at most
//! [`MAX_PLAINTEXT_INSPECT`] plaintext bytes per direction are inspected; past that the
//! connection is given up as not TLS ([`GiveUp::InspectLimit`], counted by the engine).
//! Pure: no I/O, no clock, no allocation.

mod db;
mod http;
mod ldap;
mod line;
pub mod prefix;
pub mod proxy;
mod rdp;
mod socks;
mod tds;
mod xmpp;

use prefix::Hello;
use std::net::IpAddr;
pub use tds::{MAX_UNWRAPPED, Unwrap};

/// Plaintext bytes inspected per direction before a connection that has not upgraded is given
/// up as not TLS. Enough for mail banners and capabilities, an XMPP feature list, HTTP proxy
/// heads and a few LDAP messages; a long plaintext session (mail bodies) stops here.
pub const MAX_PLAINTEXT_INSPECT: usize = 16 * 1024;

/// How TLS began on a connection. A closed set: it is a report key and a metric label.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Start {
    /// TLS from the first byte.
    #[default]
    Direct,
    /// SMTP `STARTTLS`, `220` (RFC 3207).
    StarttlsSmtp,
    /// IMAP `tag STARTTLS`, `tag OK` (RFC 3501).
    StarttlsImap,
    /// POP3 `STLS`, `+OK` (RFC 2595).
    StarttlsPop3,
    /// FTP `AUTH TLS` / `AUTH SSL`, `234` (RFC 4217).
    AuthTlsFtp,
    /// XMPP `<starttls/>`, `<proceed/>` (RFC 6120).
    StarttlsXmpp,
    /// LDAP StartTLS extended operation 1.3.6.1.4.1.1466.20037, success (RFC 4511).
    StarttlsLdap,
    /// PostgreSQL SSLRequest, answered `S`.
    PostgresSsl,
    /// MySQL SSL request in the handshake response (`CLIENT_SSL`).
    MysqlSsl,
    /// NNTP `STARTTLS`, `382` (RFC 4642).
    StarttlsNntp,
    /// ManageSieve `STARTTLS`, `OK` (RFC 5804).
    StarttlsSieve,
    /// HTTP `CONNECT host:port`, `2xx` (RFC 9110).
    HttpConnect,
    /// SOCKS4 / SOCKS4a CONNECT, granted (`0x5a`).
    Socks4,
    /// SOCKS5 CONNECT (with or without authentication), succeeded (RFC 1928).
    Socks5,
    /// IRC `STARTTLS`, numeric `670` (IRCv3 `tls` extension).
    StarttlsIrc,
    /// RDP X.224 Connection Request/Confirm selecting TLS or CredSSP ([MS-RDPBCGR]).
    Rdp,
    /// A PROXY protocol header (v1 or v2), then TLS.
    ProxyProtocol,
    /// Microsoft SQL Server TDS PRELOGIN, the TLS handshake inside PRELOGIN packets
    /// ([MS-TDS]).
    Tds,
    /// A ClientHello answered by a ServerHello after plaintext that is no known upgrade (an
    /// application banner or upgrade), see [`prefix`].
    AfterPlaintext,
}

impl Start {
    /// Number of kinds.
    pub const COUNT: usize = 19;

    /// All kinds, in a fixed order.
    pub const ALL: [Start; Start::COUNT] = [
        Start::Direct,
        Start::StarttlsSmtp,
        Start::StarttlsImap,
        Start::StarttlsPop3,
        Start::AuthTlsFtp,
        Start::StarttlsXmpp,
        Start::StarttlsLdap,
        Start::PostgresSsl,
        Start::MysqlSsl,
        Start::StarttlsNntp,
        Start::StarttlsSieve,
        Start::HttpConnect,
        Start::Socks4,
        Start::Socks5,
        Start::StarttlsIrc,
        Start::Rdp,
        Start::ProxyProtocol,
        Start::Tds,
        Start::AfterPlaintext,
    ];

    /// Report key / label value.
    pub fn name(self) -> &'static str {
        match self {
            Start::Direct => "direct",
            Start::StarttlsSmtp => "starttls-smtp",
            Start::StarttlsImap => "starttls-imap",
            Start::StarttlsPop3 => "starttls-pop3",
            Start::AuthTlsFtp => "auth-tls-ftp",
            Start::StarttlsXmpp => "starttls-xmpp",
            Start::StarttlsLdap => "starttls-ldap",
            Start::PostgresSsl => "postgres-ssl",
            Start::MysqlSsl => "mysql-ssl",
            Start::StarttlsNntp => "starttls-nntp",
            Start::StarttlsSieve => "starttls-sieve",
            Start::HttpConnect => "http-connect",
            Start::Socks4 => "socks4",
            Start::Socks5 => "socks5",
            Start::StarttlsIrc => "starttls-irc",
            Start::Rdp => "rdp",
            Start::ProxyProtocol => "proxy-protocol",
            Start::Tds => "tds",
            Start::AfterPlaintext => "after-plaintext",
        }
    }

    /// Position in [`Start::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Why a connection is plaintext for good.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum GiveUp {
    /// The first bytes match no protocol that can upgrade to TLS.
    Unrecognised,
    /// A known protocol that did not (or can no longer) upgrade: plain HTTP, a refused
    /// proxy or database request, a client that went on in plaintext.
    NoUpgrade,
    /// [`MAX_PLAINTEXT_INSPECT`] bytes of a direction were inspected without an upgrade.
    InspectLimit,
}

/// Where the recognition stands.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Still watching.
    Undecided,
    /// TLS begins, in each direction, right after the bytes consumed so far.
    Upgrade(Start),
    /// Plaintext for good.
    Plain(GiveUp),
}

/// The role of a side in the plaintext protocol.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Sends the upgrade request; becomes the TLS client.
    Client,
    /// Accepts or refuses.
    Server,
}

/// What a protocol machine did with one side's bytes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fed {
    /// Bytes consumed (whole units only; 0 while holding the bytes after a request).
    pub used: usize,
    /// The outcome so far.
    pub now: Outcome,
}

/// A machine's outcome after a feed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Need more bytes (from either side).
    More,
    /// Both sides are positioned at their first TLS byte.
    Upgrade(Start),
    /// Plaintext for good.
    Plain,
}

impl Fed {
    pub(crate) fn more(used: usize) -> Fed {
        Fed {
            used,
            now: Outcome::More,
        }
    }
    pub(crate) fn plain(used: usize) -> Fed {
        Fed {
            used,
            now: Outcome::Plain,
        }
    }
    pub(crate) fn upgrade(used: usize, s: Start) -> Fed {
        Fed {
            used,
            now: Outcome::Upgrade(s),
        }
    }
}

#[derive(Debug)]
enum Proto {
    /// Not classified yet.
    Unknown,
    Line(line::Line),
    Http(http::Connect),
    Socks4(socks::Socks4),
    Socks5(socks::Socks5),
    Ldap(ldap::Ldap),
    Xmpp(xmpp::Xmpp),
    Postgres(db::Postgres),
    Mysql(db::Mysql),
    Rdp(rdp::Rdp),
    Tds(tds::Tds),
}

/// The upgrade recogniser of one connection.
#[derive(Debug)]
pub struct Recogniser {
    proto: Proto,
    /// Side that is (or will be) the TLS client, once known.
    client: Option<usize>,
    /// Plaintext bytes consumed per side.
    consumed: [usize; 2],
    verdict: Verdict,
    /// Upgrade requests the server refused.
    refused: u32,
    /// Bumped whenever the state changes in a way that may let the other side progress.
    generation: u32,
    /// Per side: its unconsumed bytes begin with this hello (after plaintext), see [`prefix`].
    hello_at: [Option<Hello>; 2],
    /// TLS began after a recognised request whose answer was not captured.
    reply_missing: bool,
    /// A PROXY protocol header was consumed.
    proxied: bool,
    /// The source address the PROXY header named.
    proxied_for: Option<IpAddr>,
    /// Per side, once TLS began inside TDS packets: their headers come off.
    unwrap: Option<Box<[Unwrap; 2]>>,
}

impl Default for Recogniser {
    fn default() -> Self {
        Self::new()
    }
}

impl Recogniser {
    /// A recogniser that has seen nothing.
    pub fn new() -> Self {
        Recogniser {
            proto: Proto::Unknown,
            client: None,
            consumed: [0; 2],
            verdict: Verdict::Undecided,
            refused: 0,
            generation: 0,
            hello_at: [None; 2],
            reply_missing: false,
            proxied: false,
            proxied_for: None,
            unwrap: None,
        }
    }

    /// The verdict so far.
    pub fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// Side of the TLS client (the one that sent, or will send, the upgrade request).
    pub fn client(&self) -> Option<usize> {
        self.client
    }

    /// Upgrade requests the server refused.
    pub fn refused(&self) -> u32 {
        self.refused
    }

    /// Plaintext bytes consumed on `side`.
    pub fn consumed(&self, side: usize) -> usize {
        self.consumed.get(side & 1).copied().unwrap_or(0)
    }

    /// TLS began after a recognised upgrade request whose answer was not captured (lost, or
    /// one direction mirrored): the client's next bytes were a ClientHello and the server
    /// answered with a ServerHello.
    pub fn reply_missing(&self) -> bool {
        self.reply_missing
    }

    /// Whether `side`'s first bytes, `data`, belong to the recogniser although they are TLS:
    /// a ServerHello answering a request whose answer was not captured (the other side sent
    /// a request and waits), which tells where the upgrade began.
    pub fn takes_reply(&self, side: usize, data: &[u8]) -> bool {
        self.verdict == Verdict::Undecided
            && self.client == Some((side & 1) ^ 1)
            && self.consumed(side) == 0
            && self.pending_start().is_some()
            && prefix::hello_at(data) == Some(Some(Hello::Server))
    }

    /// The source address named by the connection's PROXY protocol header, if any.
    pub fn proxied_for(&self) -> Option<IpAddr> {
        self.proxied_for
    }

    /// A counter that changes whenever feeding the other side might make progress.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// Feeds the unconsumed plaintext bytes of `side` (0 or 1) from its current position and
    /// returns how many were consumed. The caller keeps the rest and calls again with more
    /// appended. After a verdict nothing more is consumed.
    pub fn feed(&mut self, side: usize, data: &[u8]) -> usize {
        let side = side & 1;
        if self.verdict != Verdict::Undecided || data.is_empty() {
            return 0;
        }
        if self.hello_at.get(side).copied().flatten().is_some() {
            // This side waits, at its hello, for the other side's answer.
            return 0;
        }
        if matches!(self.proto, Proto::Unknown) {
            if let Some(n) = self.proxy_header(side, data) {
                return n;
            }
            match classify(data) {
                Class::More => {
                    if data.len() > MAX_PLAINTEXT_INSPECT {
                        self.verdict = Verdict::Plain(GiveUp::InspectLimit);
                    }
                    return 0;
                }
                Class::No => {
                    self.verdict = Verdict::Plain(GiveUp::Unrecognised);
                    return 0;
                }
                Class::NoUpgrade => {
                    self.verdict = Verdict::Plain(GiveUp::NoUpgrade);
                    return 0;
                }
                Class::Is(proto, role) => {
                    self.proto = proto;
                    self.client = Some(match role {
                        Role::Client => side,
                        Role::Server => side ^ 1,
                    });
                    self.generation = self.generation.wrapping_add(1);
                }
            }
        }
        let role = if self.client == Some(side) {
            Role::Client
        } else {
            Role::Server
        };
        let before = self.refused;
        let fed = match &mut self.proto {
            Proto::Unknown => Fed::more(0),
            Proto::Line(m) => m.feed(role, data, &mut self.refused),
            Proto::Http(m) => m.feed(role, data, &mut self.refused),
            Proto::Socks4(m) => m.feed(role, data, &mut self.refused),
            Proto::Socks5(m) => m.feed(role, data, &mut self.refused),
            Proto::Ldap(m) => m.feed(role, data, &mut self.refused),
            Proto::Xmpp(m) => m.feed(role, data, &mut self.refused),
            Proto::Postgres(m) => m.feed(role, data, &mut self.refused),
            Proto::Mysql(m) => m.feed(role, data, &mut self.refused),
            Proto::Rdp(m) => m.feed(role, data, &mut self.refused),
            Proto::Tds(m) => m.feed(role, data, &mut self.refused),
        };
        let used = fed.used.min(data.len());
        if used > 0 || self.refused != before {
            self.generation = self.generation.wrapping_add(1);
        }
        if let Some(c) = self.consumed.get_mut(side) {
            *c += used;
        }
        // Plaintext that gives way to something else, or a request still awaiting its
        // answer: perhaps TLS whose start no answer announced. Not after a refusal: a
        // refused connection stays plaintext.
        let pending = self.pending_start();
        let look = self.refused == 0
            && match fed.now {
                Outcome::Plain => true,
                Outcome::More => pending.is_some(),
                Outcome::Upgrade(_) => false,
            };
        if look && self.consumed(side) <= prefix::MAX_PLAINTEXT_PREFIX {
            let rest = data.get(used..).unwrap_or(&[]);
            match prefix::hello_at(rest) {
                Some(Some(h)) if self.hello_at.get(side ^ 1) != Some(&Some(h)) => {
                    self.found_hello(side, h, pending);
                    return used;
                }
                None if fed.now == Outcome::Plain && !rest.is_empty() => {
                    // Perhaps the start of a hello: wait for its header.
                    return used;
                }
                _ => {}
            }
        }
        self.verdict = match fed.now {
            Outcome::More => {
                // Consumed plus the unit still incomplete: the bytes inspected so far.
                let held = data.len() - used;
                let inspecting = !self.holding(role);
                if self.consumed(side) > MAX_PLAINTEXT_INSPECT
                    || (inspecting && self.consumed(side) + held > MAX_PLAINTEXT_INSPECT)
                {
                    Verdict::Plain(GiveUp::InspectLimit)
                } else {
                    Verdict::Undecided
                }
            }
            Outcome::Upgrade(s) => Verdict::Upgrade(s),
            Outcome::Plain => Verdict::Plain(GiveUp::NoUpgrade),
        };
        if self.verdict == Verdict::Upgrade(Start::Tds) {
            self.unwrap = Some(Box::default());
        }
        used
    }

    /// TLS travels inside another protocol's packets (TDS): the engine hands each direction's
    /// bytes to [`Recogniser::unwrap`] and parses [`Recogniser::unwrapped`].
    pub fn framed(&self) -> bool {
        self.unwrap.is_some()
    }

    /// Takes what it can of `side`'s stream bytes `data` out of their framing; returns how
    /// many were used.
    pub fn unwrap(&mut self, side: usize, data: &[u8]) -> usize {
        self.unwrap
            .as_deref_mut()
            .and_then(|u| u.get_mut(side & 1))
            .map_or(0, |u| u.push(data))
    }

    /// `side`'s unwrapped TLS bytes not yet parsed.
    pub fn unwrapped(&self, side: usize) -> &[u8] {
        self.unwrap
            .as_deref()
            .and_then(|u| u.get(side & 1))
            .map_or(&[], |u| u.data())
    }

    /// The parser took `n` of `side`'s unwrapped bytes.
    pub fn consume_unwrapped(&mut self, side: usize, n: usize) {
        if let Some(u) = self.unwrap.as_deref_mut().and_then(|u| u.get_mut(side & 1)) {
            u.consume(n);
        }
    }

    /// A PROXY protocol header as the connection's very first bytes, and what follows it.
    /// `Some(consumed)` when this feed is settled here.
    fn proxy_header(&mut self, side: usize, data: &[u8]) -> Option<usize> {
        if self.proxied {
            // After the header: TLS right away (from either side), or a protocol to classify.
            let tls = match data {
                [0x16, ..] => true,
                [b, ..] if b & 0x80 != 0 => match prefix::hello_at(data) {
                    None => return Some(0),
                    Some(h) => h == Some(Hello::Client),
                },
                _ => false,
            };
            if tls {
                self.verdict = Verdict::Upgrade(Start::ProxyProtocol);
                return Some(0);
            }
            return None;
        }
        if self.consumed != [0, 0] || !proxy::starts_like(data) {
            return None;
        }
        match proxy::parse(data) {
            proxy::Parsed::More => Some(0),
            proxy::Parsed::No => None,
            proxy::Parsed::Is(h) => {
                self.proxied = true;
                self.proxied_for = h.source;
                self.client = Some(side);
                if let Some(c) = self.consumed.get_mut(side) {
                    *c = h.len;
                }
                self.generation = self.generation.wrapping_add(1);
                let rest = data.get(h.len..).unwrap_or(&[]);
                // One level deep: `proxied` is now set.
                Some(h.len + self.feed(side, rest))
            }
        }
    }

    /// `side`'s unconsumed bytes begin with hello `h`: TLS begins if the other side's begin
    /// with the answering hello.
    fn found_hello(&mut self, side: usize, h: Hello, pending: Option<Start>) {
        if let Some(slot) = self.hello_at.get_mut(side) {
            *slot = Some(h);
        }
        self.generation = self.generation.wrapping_add(1);
        self.verdict = Verdict::Undecided;
        if self.hello_at.get(side ^ 1) == Some(&Some(h.answer())) {
            self.client = Some(if h == Hello::Client { side } else { side ^ 1 });
            self.reply_missing = pending.is_some();
            self.verdict = Verdict::Upgrade(pending.unwrap_or(Start::AfterPlaintext));
        }
    }

    /// The upgrade a request awaiting its answer would start.
    fn pending_start(&self) -> Option<Start> {
        let p = |b: bool, s: Start| b.then_some(s);
        match &self.proto {
            Proto::Unknown => None,
            Proto::Line(m) => m.pending_start(),
            Proto::Http(m) => p(m.pending(), Start::HttpConnect),
            Proto::Socks4(m) => p(m.pending(), Start::Socks4),
            Proto::Socks5(m) => p(m.pending(), Start::Socks5),
            Proto::Ldap(m) => p(m.pending(), Start::StarttlsLdap),
            Proto::Xmpp(m) => p(m.pending(), Start::StarttlsXmpp),
            Proto::Postgres(m) => p(m.pending(), Start::PostgresSsl),
            Proto::Mysql(m) => p(m.pending(), Start::MysqlSsl),
            Proto::Rdp(m) => p(m.pending(), Start::Rdp),
            Proto::Tds(m) => p(m.pending(), Start::Tds),
        }
    }

    /// The client has sent its request and its later bytes wait for the server's answer.
    fn holding(&self, role: Role) -> bool {
        role == Role::Client && self.pending_start().is_some()
    }
}

/// Classification of a connection from one side's first bytes.
enum Class {
    /// Need more bytes.
    More,
    /// Not a protocol that upgrades.
    No,
    /// A protocol recognised as plaintext that does not upgrade (plain HTTP).
    NoUpgrade,
    /// This protocol; the sender has this role.
    Is(Proto, Role),
}

fn classify(d: &[u8]) -> Class {
    let Some(&b0) = d.first() else {
        return Class::More;
    };
    match b0 {
        0 => match db::Postgres::classify(d) {
            Some(true) => Class::Is(Proto::Postgres(db::Postgres::default()), Role::Client),
            Some(false) => mysql_or_text(d),
            None => Class::More,
        },
        4 => match socks::Socks4::classify(d) {
            Some(true) => Class::Is(Proto::Socks4(socks::Socks4::default()), Role::Client),
            Some(false) => Class::No,
            None => Class::More,
        },
        5 => match socks::Socks5::classify(d) {
            Some(true) => Class::Is(Proto::Socks5(socks::Socks5::default()), Role::Client),
            Some(false) => Class::No,
            None => Class::More,
        },
        0x12 => match tds::Tds::classify(d) {
            Some(true) => Class::Is(Proto::Tds(tds::Tds::default()), Role::Client),
            Some(false) => mysql_or_text(d),
            None => Class::More,
        },
        3 => match rdp::Rdp::classify(d) {
            Some(true) => Class::Is(Proto::Rdp(rdp::Rdp::default()), Role::Client),
            Some(false) => mysql_or_text(d),
            None => Class::More,
        },
        0x30 => match ldap::Ldap::classify(d) {
            Some(Some(role)) => Class::Is(Proto::Ldap(ldap::Ldap::default()), role),
            Some(None) => mysql_or_text(d),
            None => Class::More,
        },
        b'<' => match xmpp::Xmpp::classify(d) {
            Some(true) => Class::Is(Proto::Xmpp(xmpp::Xmpp::default()), Role::Client),
            Some(false) => Class::No,
            None => Class::More,
        },
        _ => mysql_or_text(d),
    }
}

/// A MySQL server greeting, else a text opener.
fn mysql_or_text(d: &[u8]) -> Class {
    match db::Mysql::classify(d) {
        Some(true) => Class::Is(Proto::Mysql(db::Mysql::default()), Role::Server),
        Some(false) => text(d),
        None => Class::More,
    }
}

/// Classifies a text opener: an HTTP request or response, else a line protocol.
fn text(d: &[u8]) -> Class {
    let Some(end) = line_end(d) else {
        return if is_text_line(d) {
            Class::More
        } else {
            Class::No
        };
    };
    let first = d.get(..end).unwrap_or(&[]);
    if !is_text_line(first) {
        return Class::No;
    }
    match http::classify(first) {
        Some(http::Kind::Connect) => Class::Is(Proto::Http(http::Connect::default()), Role::Client),
        Some(http::Kind::Other) => Class::NoUpgrade,
        None => match line::classify(first) {
            Some(role) => Class::Is(Proto::Line(line::Line::default()), role),
            None => Class::No,
        },
    }
}

/// Index just past the first `\n`.
pub(crate) fn line_end(d: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', d).map(|i| i + 1)
}

/// Only text bytes (printable ASCII, tab, 8-bit as in UTF-8 mail and XML) and line ends (no
/// early exit, so that the loop vectorises).
pub(crate) fn is_text_line(l: &[u8]) -> bool {
    !l.iter().fold(false, |ctl, &b| {
        ctl | ((b < 0x20 && b != b'\t' && b != b'\r' && b != b'\n') || b == 0x7f)
    })
}

/// A line without its end of line and trailing blanks.
pub(crate) fn trim_line(l: &[u8]) -> &[u8] {
    let mut l = l;
    while let [rest @ .., b'\r' | b'\n' | b' ' | b'\t'] = l {
        l = rest;
    }
    l
}

/// Case-insensitive prefix test.
pub(crate) fn starts_with_ci(d: &[u8], p: &[u8]) -> bool {
    d.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A conversation: (side, bytes) in arrival order. Returns the verdict and, per side, the
    /// bytes left unconsumed (where TLS would begin).
    pub(crate) fn converse(steps: &[(usize, &[u8])]) -> (Verdict, [Vec<u8>; 2]) {
        let (r, bufs) = run(steps);
        (r.verdict(), bufs)
    }

    /// [`converse`], returning the recogniser.
    pub(crate) fn run(steps: &[(usize, &[u8])]) -> (Recogniser, [Vec<u8>; 2]) {
        let mut r = Recogniser::new();
        let mut bufs: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
        for (side, bytes) in steps {
            bufs[*side].extend_from_slice(bytes);
            let mut todo = vec![*side];
            while let Some(s) = todo.pop() {
                let g = r.generation();
                let n = r.feed(s, &bufs[s]);
                bufs[s].drain(..n);
                if r.generation() != g && !bufs[s ^ 1].is_empty() && todo.len() < 4 {
                    todo.push(s ^ 1);
                }
            }
        }
        (r, bufs)
    }

    /// Every split of a conversation into one-byte feeds gives the same result.
    pub(crate) fn bytewise(steps: &[(usize, &[u8])]) -> (Verdict, [Vec<u8>; 2]) {
        let mut ones = Vec::new();
        for (s, b) in steps {
            for i in 0..b.len() {
                ones.push((*s, &b[i..i + 1]));
            }
        }
        converse(&ones)
    }

    pub(crate) fn check(steps: &[(usize, &[u8])], want: Verdict, rest: [&[u8]; 2]) {
        for (how, got) in [("whole", converse(steps)), ("bytewise", bytewise(steps))] {
            assert_eq!(got.0, want, "{how}");
            if matches!(want, Verdict::Upgrade(_)) {
                assert_eq!(got.1[0], rest[0], "{how}: side 0 rest");
                assert_eq!(got.1[1], rest[1], "{how}: side 1 rest");
            }
        }
    }

    #[test]
    fn names_are_distinct_and_ordered() {
        for (i, s) in Start::ALL.iter().enumerate() {
            assert_eq!(s.index(), i);
            assert!(Start::ALL[..i].iter().all(|o| o.name() != s.name()));
        }
    }

    #[test]
    fn binary_and_unknown_openers_are_unrecognised() {
        let (v, _) = converse(&[(0, b"SSH-2.0-OpenSSH_9.2\r\n\x00\x00\x01\x14\x0a")]);
        // SSH's banner is a text line: watched as a line protocol until its binary packet.
        assert_eq!(v, Verdict::Plain(GiveUp::NoUpgrade));
        let (v, _) = converse(&[(0, &[0x01, 0x02, 0x03, 0xff])]);
        assert_eq!(v, Verdict::Plain(GiveUp::Unrecognised));
    }

    #[test]
    fn plaintext_is_bounded() {
        let mut long = b"220 mail ESMTP\r\n".to_vec();
        let mut steps: Vec<(usize, Vec<u8>)> = vec![(1, long.clone())];
        for _ in 0..3000 {
            steps.push((0, b"NOOP\r\n".to_vec()));
            steps.push((1, b"250 ok\r\n".to_vec()));
        }
        let s: Vec<(usize, &[u8])> = steps.iter().map(|(a, b)| (*a, b.as_slice())).collect();
        let (v, _) = converse(&s);
        assert_eq!(v, Verdict::Plain(GiveUp::InspectLimit));
        // One endless line.
        long.extend(std::iter::repeat_n(b'a', MAX_PLAINTEXT_INSPECT + 10));
        let (v, _) = converse(&[(1, &long)]);
        assert_eq!(v, Verdict::Plain(GiveUp::InspectLimit));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// Any bytes, after any opener, in any split between the sides: no panic, consumption
        /// within what was given, and nothing consumed once decided.
        #[test]
        fn arbitrary_conversations_are_safe(
            opener in 0usize..9,
            chunks in proptest::collection::vec(
                (0usize..2, proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)),
                0..24,
            ),
        ) {
            let openers: [&[u8]; 9] = [
                b"220 mx ESMTP\r\n", b"* OK ready\r\n", b"CONNECT h:443 HTTP/1.1\r\n\r\n",
                &[5, 1, 0], &[4, 1, 0, 80, 1, 2, 3, 4, 0], &[0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f],
                b"\x30\x1d\x02\x01\x01\x77\x18\x80\x16", b"<stream:stream>", b"",
            ];
            let mut r = Recogniser::new();
            let mut bufs: [Vec<u8>; 2] = [openers[opener].to_vec(), Vec::new()];
            let n = r.feed(0, &bufs[0]);
            proptest::prop_assert!(n <= bufs[0].len());
            bufs[0].drain(..n);
            for (side, bytes) in chunks {
                bufs[side].extend_from_slice(&bytes);
                let decided = r.verdict() != Verdict::Undecided;
                let n = r.feed(side, &bufs[side]);
                proptest::prop_assert!(n <= bufs[side].len());
                proptest::prop_assert!(!decided || n == 0);
                bufs[side].drain(..n);
            }
        }
    }

    #[test]
    fn trim_and_prefix() {
        assert_eq!(trim_line(b"STARTTLS \r\n"), b"STARTTLS");
        assert_eq!(trim_line(b"\r\n"), b"");
        assert!(starts_with_ci(b"connect x", b"CONNECT "));
        assert!(!starts_with_ci(b"con", b"CONNECT "));
    }
}
