//! Prometheus metrics: the census as counters, bounded per-client series for legacy clients,
//! and coverage counters, exposed in the OpenMetrics text format (and the Prometheus text
//! format 0.0.4 for `promtool` and node_exporter's textfile collector).
//!
//! ```text
//! worker 0..N ── MetricsSink::settled (once per settled connection) ─┐
//!                MetricsSink::tick (worker counters, periodically) ──┤   Metrics (Arc, shared)
//! capture thread ── Metrics::publish_capture (dispatcher, libpcap) ──┤ ─► Collector at scrape
//!                                                                    │   ─► /metrics, textfile
//! ```
//!
//! Nothing here runs per packet. Aggregate counters are cached atomic handles (one array slot
//! per closed label value: no label lookup); per-client series live in a bounded table behind
//! one mutex ([`clients::ClientTable`]) and are rendered, like the coverage counters (the sum
//! of the per-worker slots), by a custom `Collector` at scrape time, so expired clients
//! disappear from the exposition.
//!
//! Live capture plugs in the same way replay does: one [`MetricsSink`] per worker
//! (`make_sink = |i| metrics.sink(i)`), [`Metrics::publish_capture`] from the capture thread
//! about once a second (dispatcher counters with queue drops, libpcap statistics), and
//! [`Metrics::advance`] with the newest packet time so idle clients expire on a quiet link.

pub mod clients;
pub mod http;
pub mod names;
pub mod text;

use crate::counters::{CounterValue, Counters};
use crate::engine::SettleSink;
use crate::flow::ConnSummary;
use crate::policy::{MAX_POLICIES, Policies, Verdict};
use crate::tally::CertStatus;
use crate::tally::contribution;
use crate::tls::certificate::CertProblem;
use crate::tls::cipher::CipherClass;
use crate::tls::facts::Direction;
use crate::tls::group::Group;
use crate::tls::{Transport, VersionLabel};
use clients::{ClientConfig, ClientCounts, ClientKey, ClientTable};
use names::{AlertLabel, Kind, MetricDef};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Content type of the OpenMetrics text exposition.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Content type of the Prometheus text exposition (format 0.0.4).
pub const PROMETHEUS_TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Default `--listen` port: outside the 9100–9999 range the Prometheus exporter registry has
/// filled, not in `/etc/services`, and not tls-snoop's 12284.
pub const DEFAULT_PORT: u16 = 12451;

/// Alert descriptions exported (at 0) before they are first seen, so `rate()` sees their first
/// increase: the alerts of refused handshakes.
const ALERTS_ALWAYS_EXPORTED: [u8; 4] = [40, 70, 71, 86];

/// Groups exported (at 0) before they are first seen: the common classical groups and the
/// post-quantum hybrid browsers send, so a post-quantum share can be computed from the start.
const GROUPS_ALWAYS_EXPORTED: [&str; 3] = ["x25519", "secp256r1", "X25519MLKEM768"];

/// Setup errors.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The HTTP listener could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// Address asked for.
        addr: SocketAddr,
        /// Why.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The metrics file could not be written.
    #[error("cannot write metrics file {}: {source}", path.display())]
    Write {
        /// Path asked for.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Settings of the metrics layer.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Per-client series.
    pub clients: ClientConfig,
    /// `--policy` what-ifs counted per hello (aggregate and per legacy client).
    pub policies: Policies,
}

/// libpcap's statistics (`pcap_stats`), as it reports them.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct PcapStats {
    /// `ps_recv`.
    pub received: u64,
    /// `ps_drop`: dropped by the kernel (buffer full).
    pub dropped: u64,
    /// `ps_ifdrop`: dropped by the interface or driver.
    pub if_dropped: u64,
}

/// Census counters: cached handles, one per closed label value.
#[derive(Debug)]
struct Aggregates {
    hellos: [Counter; VersionLabel::COUNT],
    offered: [Counter; VersionLabel::COUNT],
    negotiated: [Counter; VersionLabel::COUNT],
    failed: Counter,
    connections: Counter,
    /// By [`AlertLabel::index`], then from client / from server.
    alerts: [[Counter; 2]; AlertLabel::COUNT],
    /// By [`Policies::iter`] index: hellos refused, fallback retries refused.
    policy_would_fail: [Counter; MAX_POLICIES],
    policy_fallback: [Counter; MAX_POLICIES],
    /// By [`CipherClass::index`].
    cipher_classes: [Counter; CipherClass::COUNT],
    offered_weak: [Counter; CipherClass::COUNT],
    /// By [`Group::index`].
    key_shares: [Counter; Group::COUNT],
    group_chosen: [Counter; Group::COUNT],
    /// By [`CertStatus::index`] and [`CertProblem::index`].
    cert_status: [Counter; CertStatus::COUNT],
    cert_problems: [Counter; CertProblem::COUNT],
}

impl Default for Aggregates {
    fn default() -> Self {
        Aggregates {
            hellos: Default::default(),
            offered: Default::default(),
            negotiated: Default::default(),
            failed: Counter::default(),
            connections: Counter::default(),
            alerts: std::array::from_fn(|_| Default::default()),
            policy_would_fail: Default::default(),
            policy_fallback: Default::default(),
            cipher_classes: Default::default(),
            offered_weak: Default::default(),
            key_shares: Default::default(),
            group_chosen: Default::default(),
            cert_status: Default::default(),
            cert_problems: Default::default(),
        }
    }
}

fn inc(counters: &[Counter], i: usize) {
    if let Some(c) = counters.get(i) {
        c.inc();
    }
}

fn dir_index(d: Direction) -> usize {
    match d {
        Direction::FromClient => 0,
        Direction::FromServer => 1,
    }
}

/// A worker's latest published counters.
#[derive(Clone, Debug, Default)]
struct WorkerSlot {
    counters: Counters,
    flows: usize,
}

/// The capture side's latest published counters.
#[derive(Clone, Debug, Default)]
struct CaptureSlot {
    counters: Counters,
    pcap: PcapStats,
}

/// Everything the sinks write and the collector reads.
#[derive(Debug)]
struct MetricsState {
    /// By [`Transport::index`].
    agg: [Aggregates; Transport::COUNT],
    policies: Policies,
    clients: Mutex<ClientTable>,
    workers: Mutex<Vec<WorkerSlot>>,
    capture: Mutex<CaptureSlot>,
}

/// A poisoned lock only means another thread panicked mid-update of plain counters: go on.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MetricsState {
    fn record(&self, s: &ConnSummary) {
        let Some(c) = contribution(s) else { return };
        let Some(a) = self.agg.get(c.transport.index()) else {
            return;
        };
        a.connections.inc();
        for h in c.hellos {
            inc(&a.hellos, VersionLabel::of_max(h.offered_max).index());
            for v in h.offered.as_slice() {
                inc(&a.offered, VersionLabel::of(*v).index());
            }
            for k in h.offered_weak.iter() {
                inc(&a.offered_weak, k.index());
            }
            for g in h.key_shares.iter() {
                inc(&a.key_shares, g.index());
            }
        }
        for k in c.cipher_classes.iter() {
            inc(&a.cipher_classes, k.index());
        }
        if let Some(g) = c.group {
            inc(&a.group_chosen, g.index());
        }
        if let Some(st) = c.cert_status {
            inc(&a.cert_status, st.index());
        }
        for p in c.cert_problems.iter() {
            inc(&a.cert_problems, p.index());
        }
        if let Some(v) = c.negotiated {
            inc(&a.negotiated, VersionLabel::of(v).index());
        }
        if c.failed {
            a.failed.inc();
        }
        for (d, dir) in c.alerts {
            if let Some(pair) = a.alerts.get(AlertLabel::of(*d).index()) {
                inc(pair, dir_index(*dir));
            }
        }
        for (i, p) in self.policies.iter() {
            for h in c.hellos {
                match p.verdict(h) {
                    Verdict::WouldFail => inc(&a.policy_would_fail, i),
                    Verdict::FallbackRetry => inc(&a.policy_fallback, i),
                    Verdict::Pass => {}
                }
            }
        }
        // Per-client series follow the report's `clients` (TLS over TCP).
        if c.transport == Transport::Tcp {
            lock(&self.clients).record(&c, s.last_seen_ns);
        }
    }

    fn publish_worker(&self, worker: usize, counters: &Counters, flows: usize) {
        if worker >= crate::pipeline::MAX_WORKERS {
            return; // not a worker of the pipeline: nothing to publish into
        }
        let mut slots = lock(&self.workers);
        if slots.len() <= worker {
            slots.resize_with(worker + 1, WorkerSlot::default);
        }
        if let Some(s) = slots.get_mut(worker) {
            s.counters.clone_from(counters);
            s.flows = flows;
        }
    }

    /// Coverage: the capture side plus every worker; connections tracked now.
    fn coverage(&self) -> (Counters, PcapStats, usize) {
        let cap = lock(&self.capture).clone();
        let mut total = cap.counters;
        let mut flows = 0usize;
        for w in lock(&self.workers).iter() {
            total.merge(&w.counters);
            flows = flows.saturating_add(w.flows);
        }
        (total, cap.pcap, flows)
    }
}

/// The metrics of one hellowatch process: shared by the worker sinks, the capture thread and
/// the HTTP server. Cloning is cheap.
#[derive(Clone, Debug)]
pub struct Metrics {
    shared: Arc<MetricsState>,
    registry: Arc<Registry>,
}

impl Metrics {
    /// Metrics with nothing counted yet.
    pub fn new(cfg: MetricsConfig) -> Self {
        let shared = Arc::new(MetricsState {
            agg: Default::default(),
            policies: cfg.policies,
            clients: Mutex::new(ClientTable::new(cfg.clients).with_policies(cfg.policies)),
            workers: Mutex::new(Vec::new()),
            capture: Mutex::new(CaptureSlot::default()),
        });
        let mut registry = Registry::default();
        registry.register_collector(Box::new(HellowatchCollector(Arc::clone(&shared))));
        Metrics {
            shared,
            registry: Arc::new(registry),
        }
    }

    /// The sink for worker `worker` (`make_sink` of the pipeline).
    pub fn sink(&self, worker: usize) -> MetricsSink {
        MetricsSink {
            shared: Arc::clone(&self.shared),
            worker,
        }
    }

    /// Counts one settled connection (what [`MetricsSink::settled`] does).
    pub fn record(&self, s: &ConnSummary) {
        self.shared.record(s);
    }

    /// Replaces worker `worker`'s published counters and tracked connections (what
    /// [`MetricsSink::tick`] does).
    pub fn publish_worker(&self, worker: usize, counters: &Counters, flows: usize) {
        self.shared.publish_worker(worker, counters, flows);
    }

    /// Replaces the capture side's published counters: what the dispatcher counted (packets,
    /// bytes, decode errors, `queue_drops`) and libpcap's statistics (live only).
    pub fn publish_capture(&self, counters: &Counters, pcap: Option<PcapStats>) {
        let mut c = lock(&self.shared.capture);
        c.counters.clone_from(counters);
        if let Some(p) = pcap {
            c.pcap = p;
        }
    }

    /// Packet time has reached `now_ns`: clients idle for longer than the idle time lose
    /// their series. (Settled connections advance time too; call this on a quiet link.)
    pub fn advance(&self, now_ns: u64) {
        lock(&self.shared.clients).advance(now_ns);
    }

    /// Coverage counters as published: capture side plus every worker.
    pub fn coverage(&self) -> Counters {
        self.shared.coverage().0
    }

    /// Legacy clients with per-client series now.
    pub fn client_series(&self) -> usize {
        lock(&self.shared.clients).len()
    }

    /// The OpenMetrics text exposition (what `/metrics` serves to Prometheus).
    pub fn encode_openmetrics(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        // Writing into a String cannot fail, and the collector only fails on writer errors.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// The Prometheus text exposition, format 0.0.4 (for `promtool check metrics`, plain
    /// `curl` and node_exporter's textfile collector).
    pub fn encode_prometheus_text(&self) -> String {
        text::openmetrics_to_prometheus(&self.encode_openmetrics())
    }

    /// Writes the Prometheus text exposition to `path` atomically (a temporary file in the
    /// same directory, renamed over `path`), readable by all (mode 0644), for
    /// node_exporter's textfile collector.
    pub fn write_textfile(&self, path: &Path) -> Result<(), MetricsError> {
        let err = |source| MetricsError::Write {
            path: path.to_path_buf(),
            source,
        };
        let text = self.encode_prometheus_text();
        crate::state::write_atomic(path, |w| w.write_all(text.as_bytes())).map_err(err)
    }
}

/// A worker's [`SettleSink`]: counts each settled connection and publishes the worker's
/// coverage counters on every tick.
#[derive(Debug)]
pub struct MetricsSink {
    shared: Arc<MetricsState>,
    worker: usize,
}

impl SettleSink for MetricsSink {
    fn settled(&mut self, s: &ConnSummary) {
        self.shared.record(s);
    }

    fn tick(&mut self, counters: &Counters, flows: usize) {
        self.shared.publish_worker(self.worker, counters, flows);
    }
}

/// Renders everything at scrape time.
#[derive(Debug)]
struct HellowatchCollector(Arc<MetricsState>);

type Res = Result<(), std::fmt::Error>;

fn metric_type(m: &MetricDef) -> MetricType {
    match m.kind {
        Kind::Counter => MetricType::Counter,
        Kind::Gauge => MetricType::Gauge,
    }
}

/// One unlabelled counter or gauge.
fn single(enc: &mut DescriptorEncoder<'_>, m: &MetricDef, v: u64) -> Res {
    let me = enc.encode_descriptor(m.family(), m.help, None, metric_type(m))?;
    match m.kind {
        Kind::Counter => ConstCounter::new(v).encode(me),
        Kind::Gauge => ConstGauge::new(v).encode(me),
    }
}

/// A labelled counter family from `(labels, value)` pairs; skipped when there are none.
fn counters<L: EncodeLabelSet>(
    enc: &mut DescriptorEncoder<'_>,
    m: &MetricDef,
    samples: impl IntoIterator<Item = (L, u64)>,
) -> Res {
    let mut samples = samples.into_iter().peekable();
    if samples.peek().is_none() {
        return Ok(());
    }
    let mut me = enc.encode_descriptor(m.family(), m.help, None, MetricType::Counter)?;
    for (labels, v) in samples {
        ConstCounter::new(v).encode(me.encode_family(&labels)?)?;
    }
    Ok(())
}

impl HellowatchCollector {
    fn census(&self, enc: &mut DescriptorEncoder<'_>) -> Res {
        use names::*;
        // TLS over TCP always; QUIC and DTLS once they have a connection.
        let shown: Vec<(Transport, &Aggregates)> = Transport::ALL
            .into_iter()
            .zip(&self.0.agg)
            .filter(|(t, a)| *t == Transport::Tcp || a.connections.get() > 0)
            .collect();
        let via = |t: Transport| [(L_TRANSPORT, t)];
        let pick = |f: &dyn Fn(&Aggregates) -> &[Counter; VersionLabel::COUNT],
                    label: &'static str,
                    with_none: bool| {
            shown
                .iter()
                .flat_map(|(t, a)| {
                    VersionLabel::ALL
                        .iter()
                        .zip(f(a))
                        .filter(|(v, _)| with_none || **v != VersionLabel::None)
                        .map(move |(v, c)| ((via(*t), [(label, *v)]), c.get()))
                })
                .collect::<Vec<_>>()
        };
        counters(
            enc,
            &CLIENT_HELLOS,
            pick(&|a| &a.hellos, L_OFFERED_MAX, true),
        )?;
        counters(
            enc,
            &OFFERED_VERSIONS,
            pick(&|a| &a.offered, L_VERSION, false),
        )?;
        counters(enc, &NEGOTIATED, pick(&|a| &a.negotiated, L_VERSION, false))?;
        counters(
            enc,
            &FAILED,
            shown.iter().map(|(t, a)| (via(*t), a.failed.get())),
        )?;
        counters(
            enc,
            &CONNECTIONS,
            shown.iter().map(|(t, a)| (via(*t), a.connections.get())),
        )?;
        let mut alerts = Vec::new();
        for (t, a) in &shown {
            for (i, pair) in a.alerts.iter().enumerate() {
                let label = AlertLabel::from_index(i);
                let always = ALERTS_ALWAYS_EXPORTED
                    .iter()
                    .any(|d| AlertLabel::of(*d) == label);
                if !always && pair.iter().all(|c| c.get() == 0) {
                    continue;
                }
                for (dir, c) in [Direction::FromClient, Direction::FromServer]
                    .into_iter()
                    .zip(pair)
                {
                    alerts.push((
                        (via(*t), ([(L_DESCRIPTION, label)], [(L_DIRECTION, dir)])),
                        c.get(),
                    ));
                }
            }
        }
        counters(enc, &ALERTS, alerts)?;
        let pol = |f: &dyn Fn(&Aggregates) -> &[Counter; MAX_POLICIES]| {
            shown
                .iter()
                .flat_map(|(t, a)| {
                    self.0.policies.iter().map(move |(i, p)| {
                        (
                            (via(*t), [(L_POLICY, p)]),
                            f(a).get(i).map_or(0, Counter::get),
                        )
                    })
                })
                .collect::<Vec<_>>()
        };
        counters(enc, &POLICY_WOULD_FAIL, pol(&|a| &a.policy_would_fail))?;
        counters(enc, &POLICY_FALLBACK_RETRIES, pol(&|a| &a.policy_fallback))?;
        // Every class always (rate() sees the first weak handshake); groups once seen, but
        // the common classical ones and the post-quantum hybrid always.
        let classes = |f: &dyn Fn(&Aggregates) -> &[Counter; CipherClass::COUNT]| {
            shown
                .iter()
                .flat_map(|(t, a)| {
                    CipherClass::ALL
                        .into_iter()
                        .zip(f(a))
                        .map(move |(k, c)| ((via(*t), [(L_CLASS, k)]), c.get()))
                })
                .collect::<Vec<_>>()
        };
        counters(enc, &CIPHER_CLASSES, classes(&|a| &a.cipher_classes))?;
        counters(enc, &OFFERED_WEAK, classes(&|a| &a.offered_weak))?;
        let groups = |f: &dyn Fn(&Aggregates) -> &[Counter; Group::COUNT]| {
            shown
                .iter()
                .flat_map(|(t, a)| {
                    Group::all()
                        .zip(f(a))
                        .filter(|(g, c)| c.get() > 0 || GROUPS_ALWAYS_EXPORTED.contains(&g.name()))
                        .map(move |(g, c)| ((via(*t), [(L_GROUP, g)]), c.get()))
                })
                .collect::<Vec<_>>()
        };
        counters(enc, &KEY_SHARES, groups(&|a| &a.key_shares))?;
        counters(enc, &GROUP_CHOSEN, groups(&|a| &a.group_chosen))?;
        // Every status and problem always (a closed set; rate() sees the first one).
        let status = shown
            .iter()
            .flat_map(|(t, a)| {
                CertStatus::ALL
                    .into_iter()
                    .zip(&a.cert_status)
                    .map(move |(k, c)| ((via(*t), [(L_STATUS, k)]), c.get()))
            })
            .collect::<Vec<_>>();
        counters(enc, &CERT_STATUS, status)?;
        let problems = shown
            .iter()
            .flat_map(|(t, a)| {
                CertProblem::ALL
                    .into_iter()
                    .zip(&a.cert_problems)
                    .map(move |(k, c)| ((via(*t), [(L_PROBLEM, k)]), c.get()))
            })
            .collect::<Vec<_>>();
        counters(enc, &CERT_PROBLEMS, problems)
    }

    fn clients(&self, enc: &mut DescriptorEncoder<'_>) -> Res {
        use names::*;
        let mut snap: Vec<(ClientKey, ClientCounts)> = Vec::new();
        let (dropped, expired, history_dropped) = {
            let t = lock(&self.0.clients);
            t.snapshot(&mut snap);
            (t.dropped(), t.expired(), t.history_dropped())
        };
        let client = |k: &ClientKey| [(L_CLIENT, *k)];
        counters(
            enc,
            &CLIENT_SERIES_HELLOS,
            snap.iter().flat_map(|(k, c)| {
                VersionLabel::ALL
                    .iter()
                    .zip(c.hellos)
                    .filter(|(_, n)| *n > 0)
                    .map(move |(v, n)| ((client(k), [(L_OFFERED_MAX, *v)]), n))
            }),
        )?;
        counters(
            enc,
            &CLIENT_SERIES_NEGOTIATED,
            snap.iter().flat_map(|(k, c)| {
                VersionLabel::ALL
                    .iter()
                    .zip(c.negotiated)
                    .filter(|(_, n)| *n > 0)
                    .map(move |(v, n)| ((client(k), [(L_VERSION, *v)]), n))
            }),
        )?;
        counters(
            enc,
            &CLIENT_SERIES_FAILED,
            snap.iter().map(|(k, c)| (client(k), c.failed)),
        )?;
        counters(
            enc,
            &CLIENT_SERIES_ALERTS,
            snap.iter().flat_map(|(k, c)| {
                c.alerts
                    .iter()
                    .map(move |(d, n)| ((client(k), [(L_DESCRIPTION, *d)]), *n))
            }),
        )?;
        let policies = self.0.policies;
        counters(
            enc,
            &CLIENT_SERIES_POLICY_WOULD_FAIL,
            snap.iter().flat_map(|(k, c)| {
                policies.iter().filter_map(move |(i, p)| {
                    let n = c.policy_would_fail.get(i).copied().unwrap_or(0);
                    (n > 0).then(|| ((client(k), [(L_POLICY, p)]), n))
                })
            }),
        )?;
        if !snap.is_empty() {
            let m = &CLIENT_SERIES_LAST_SEEN;
            let mut me = enc.encode_descriptor(m.family(), m.help, None, MetricType::Gauge)?;
            for (k, c) in &snap {
                #[allow(clippy::cast_precision_loss)] // ns since 1970 fit f64's 53 bits to ~µs
                let secs = c.last_seen_ns as f64 / 1e9;
                ConstGauge::new(secs).encode(me.encode_family(&client(k))?)?;
            }
        }
        single(enc, &CLIENT_SERIES_CLIENTS, snap.len() as u64)?;
        single(enc, &CLIENT_SERIES_DROPPED, dropped)?;
        single(enc, &CLIENT_SERIES_EXPIRED, expired)?;
        single(enc, &CLIENT_HISTORY_DROPPED, history_dropped)
    }

    fn coverage(&self, enc: &mut DescriptorEncoder<'_>) -> Res {
        use names::*;
        let (k, pcap, flows) = self.0.coverage();
        for family in coverage() {
            match family {
                Coverage::Counter(field) => {
                    let (Some(m), Some(v)) = (
                        Counters::def(field).and_then(counter_metric),
                        k.value(field),
                    ) else {
                        continue;
                    };
                    match (v, m.labels) {
                        (CounterValue::Count(n), _) => single(enc, &m, n)?,
                        (v, [label, ..]) => {
                            counters(enc, &m, v.named().map(|(n, c)| ([(*label, n)], c)))?;
                        }
                        (_, []) => {}
                    }
                }
                Coverage::Other(m) if m == DROPPED_PACKETS => counters(
                    enc,
                    &m,
                    DropStage::ALL.iter().map(|s| {
                        let n = match s {
                            DropStage::Queue => k.queue_drops,
                            DropStage::Kernel => pcap.dropped,
                            DropStage::Interface => pcap.if_dropped,
                        };
                        ([(L_STAGE, *s)], n)
                    }),
                )?,
                Coverage::Other(m) if m == PCAP_RECEIVED => single(enc, &m, pcap.received)?,
                Coverage::Other(m) if m == FLOWS_TRACKED => single(enc, &m, flows as u64)?,
                Coverage::Other(_) => {}
            }
        }
        let m = &BUILD_INFO;
        let mut me = enc.encode_descriptor(m.family(), m.help, None, MetricType::Gauge)?;
        let features = if cfg!(feature = "live") {
            "live"
        } else {
            "none"
        };
        let labels = [
            ("version", env!("CARGO_PKG_VERSION")),
            ("features", features),
        ];
        ConstGauge::new(1i64).encode(me.encode_family(&labels)?)
    }
}

impl Collector for HellowatchCollector {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        self.census(&mut enc)?;
        self.clients(&mut enc)?;
        self.coverage(&mut enc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tally::Census;
    use crate::tls::Anomaly;
    use crate::tls::facts::HelloFacts;
    use crate::tls::{Version, VersionList};
    use crate::wire::DecodeError;

    const S: u64 = 1_000_000_000;

    fn summary(ip: &str, offered: &[Version], negotiated: Option<Version>, t: u64) -> ConnSummary {
        let mut list = VersionList::default();
        for v in offered {
            list.push(*v);
        }
        ConnSummary {
            client: ip.parse().ok(),
            hellos: vec![HelloFacts::with_offered(list, Version::TLS12)],
            negotiated,
            alerts: if negotiated.is_none() {
                vec![(70, Direction::FromServer), (17, Direction::FromClient)]
            } else {
                vec![]
            },
            last_seen_ns: t,
            ..ConnSummary::default()
        }
    }

    /// The value of the sample line starting with `series ` (exact series text).
    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .map(|v| v.parse().unwrap())
    }

    #[test]
    fn census_counters_and_client_series() {
        let m = Metrics::new(MetricsConfig::default());
        let mut census = Census::default();
        let conns = [
            summary(
                "10.0.0.1",
                &[Version::TLS13, Version::TLS12],
                Some(Version::TLS13),
                S,
            ),
            summary("10.0.0.2", &[Version::TLS10], None, 2 * S),
            summary(
                "10.0.0.3",
                &[Version(0x7f1c), Version::TLS12],
                Some(Version(0x7f1c)),
                3 * S,
            ),
            summary(
                "10.0.0.2",
                &[Version::TLS11, Version::TLS10],
                Some(Version::TLS11),
                4 * S,
            ),
            ConnSummary::default(), // nothing to count
        ];
        let mut sink = m.sink(0);
        for c in &conns {
            sink.settled(c);
            census.add(c);
        }
        let t = m.encode_openmetrics();
        assert!(t.ends_with("# EOF\n"));
        let hellos = |v: &str| {
            sample(
                &t,
                &format!("hellowatch_client_hellos_total{{transport=\"tcp\",offered_max=\"{v}\"}}"),
            )
        };
        assert_eq!(hellos("tls1.3"), Some(1.0));
        assert_eq!(hellos("tls1.3-draft"), Some(1.0));
        assert_eq!(hellos("tls1.1"), Some(1.0));
        assert_eq!(hellos("tls1.0"), Some(1.0));
        assert_eq!(
            hellos("sslv3"),
            Some(0.0),
            "known versions are exported at 0"
        );
        assert_eq!(
            sample(
                &t,
                "hellowatch_offered_versions_total{transport=\"tcp\",version=\"tls1.2\"}"
            ),
            Some(2.0)
        );
        assert_eq!(
            sample(&t, "hellowatch_failed_handshakes_total{transport=\"tcp\"}"),
            Some(1.0)
        );
        assert_eq!(
            sample(&t, "hellowatch_tls_connections_total{transport=\"tcp\"}"),
            Some(census.connections as f64)
        );
        assert_eq!(
            sample(
                &t,
                "hellowatch_alerts_total{transport=\"tcp\",description=\"protocol_version\",direction=\"from_server\"}"
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &t,
                "hellowatch_alerts_total{transport=\"tcp\",description=\"unassigned\",direction=\"from_client\"}"
            ),
            Some(1.0)
        );
        // Only 10.0.0.2 is legacy: its series hold both its connections.
        assert_eq!(sample(&t, "hellowatch_legacy_clients"), Some(1.0));
        assert!(!t.contains("client=\"10.0.0.1\"") && !t.contains("client=\"10.0.0.3\""));
        let c2 = |rest: &str| sample(&t, &format!("hellowatch_legacy_client_{rest}"));
        assert_eq!(
            c2("hellos_total{client=\"10.0.0.2\",offered_max=\"tls1.0\"}"),
            Some(1.0)
        );
        assert_eq!(
            c2("hellos_total{client=\"10.0.0.2\",offered_max=\"tls1.1\"}"),
            Some(1.0)
        );
        assert_eq!(
            c2("negotiated_handshakes_total{client=\"10.0.0.2\",version=\"tls1.1\"}"),
            Some(1.0)
        );
        assert_eq!(
            c2("failed_handshakes_total{client=\"10.0.0.2\"}"),
            Some(1.0)
        );
        assert_eq!(
            c2("alerts_total{client=\"10.0.0.2\",description=\"protocol_version\"}"),
            Some(1.0)
        );
        assert_eq!(
            c2("last_seen_timestamp_seconds{client=\"10.0.0.2\"}"),
            Some(4.0)
        );
        // The census agrees on who is legacy.
        let legacy: Vec<_> = census
            .clients
            .iter()
            .filter(|(_, t)| t.is_legacy())
            .map(|(ip, _)| ip.to_string())
            .collect();
        assert_eq!(legacy, ["10.0.0.2"]);
    }

    #[test]
    fn coverage_is_the_capture_side_plus_every_worker() {
        let m = Metrics::new(MetricsConfig::default());
        let mut a = Counters {
            tcp_segments: 10,
            flows_evicted: 1,
            ..Counters::default()
        };
        a.anomalies[Anomaly::BadAlert.index()] = 2;
        let b = Counters {
            tcp_segments: 5,
            ..Counters::default()
        };
        let mut cap = Counters {
            packets: 20,
            bytes: 2000,
            queue_drops: 3,
            ..Counters::default()
        };
        cap.decode_errors[DecodeError::NotTcp.index()] = 4;
        m.sink(0).tick(&a, 7);
        m.sink(2).tick(&b, 1);
        m.sink(0).tick(&a, 6); // replaces worker 0's slot, does not add
        m.sink(MAX_WORKER_SLOT_PROBE).tick(&b, 100); // not a worker: ignored
        m.publish_capture(
            &cap,
            Some(PcapStats {
                received: 30,
                dropped: 8,
                if_dropped: 9,
            }),
        );
        let mut want = cap.clone();
        want.merge(&a);
        want.merge(&b);
        assert_eq!(m.coverage(), want);
        let t = m.encode_prometheus_text();
        assert_eq!(sample(&t, "hellowatch_tcp_segments_total"), Some(15.0));
        assert_eq!(sample(&t, "hellowatch_flows_tracked"), Some(7.0));
        assert_eq!(sample(&t, "hellowatch_packets_total"), Some(20.0));
        assert_eq!(
            sample(&t, "hellowatch_undecoded_packets_total{reason=\"not_tcp\"}"),
            Some(4.0)
        );
        assert_eq!(
            sample(&t, "hellowatch_anomalies_total{kind=\"bad_alert\"}"),
            Some(2.0)
        );
        for (stage, n) in [("queue", 3.0), ("kernel", 8.0), ("interface", 9.0)] {
            assert_eq!(
                sample(
                    &t,
                    &format!("hellowatch_dropped_packets_total{{stage=\"{stage}\"}}")
                ),
                Some(n)
            );
        }
        assert_eq!(
            sample(&t, "hellowatch_pcap_received_packets_total"),
            Some(30.0)
        );
    }

    const MAX_WORKER_SLOT_PROBE: usize = crate::pipeline::MAX_WORKERS;

    #[test]
    fn idle_clients_leave_the_exposition() {
        let m = Metrics::new(MetricsConfig {
            clients: ClientConfig {
                idle_ns: 60 * S,
                ..ClientConfig::default()
            },
            ..MetricsConfig::default()
        });
        m.record(&summary(
            "2001:db8::7",
            &[Version::SSL3],
            Some(Version::SSL3),
            S,
        ));
        assert!(m.encode_openmetrics().contains("client=\"2001:db8::7\""));
        m.advance(62 * S);
        let t = m.encode_openmetrics();
        assert!(!t.contains("client="), "{t}");
        assert_eq!(
            sample(&t, "hellowatch_legacy_client_series_expired_total"),
            Some(1.0)
        );
        assert_eq!(sample(&t, "hellowatch_legacy_clients"), Some(0.0));
        // The aggregates stay.
        assert_eq!(
            sample(
                &t,
                "hellowatch_negotiated_handshakes_total{transport=\"tcp\",version=\"sslv3\"}"
            ),
            Some(1.0)
        );
    }

    #[test]
    fn every_declared_metric_is_exported() {
        let m = Metrics::new(MetricsConfig {
            policies: Policies::new(&["min=tls1.2".parse().unwrap()]),
            ..MetricsConfig::default()
        });
        m.record(&summary("10.0.0.2", &[Version::TLS10], None, S));
        m.record(&summary(
            "10.0.0.2",
            &[Version::TLS10],
            Some(Version::TLS10),
            S,
        ));
        let t = m.encode_openmetrics();
        for d in names::all() {
            let kind = match d.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
            };
            assert!(
                t.contains(&format!("# TYPE {} {kind}\n", d.family())),
                "{} missing",
                d.name
            );
            assert!(t.contains(&format!("# HELP {} {}\n", d.family(), d.help)));
        }
        let families = t.lines().filter(|l| l.starts_with("# TYPE ")).count();
        assert_eq!(families, names::all().len(), "undeclared metric exported");
    }
}
