//! Soak: thousands of invocations under `lambdatel-sim` with freezing on, against a backend that fails at
//! random (UNAVAILABLE, RESOURCE_EXHAUSTED with retry info, replies slower than the flush budget, connection
//! resets, a restart mid-run), then a shutdown. Every span, data point and log line must be accounted for:
//! received by the backend, or counted in the extension's drop counters with a reason. Duplicates (a reply
//! lost after the backend stored the data, so the extension sends it again) are counted and must stay rare.
//!
//! The CI run is 400 invocations; `LAMBDATEL_SOAK_INVOCATIONS=5000` runs the long one and
//! `LAMBDATEL_SOAK_SEED` replays a run (the seed is printed). The figures are printed at the end
//! (`cargo test -p lambdatel-e2e --test soak -- --nocapture`).
//!
//! The same file has the frozen-connection test: the connection to the backend dies silently while the
//! sandbox is frozen, and the next flush must still deliver.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use lambdatel_e2e::*;
use lambdatel_sim::{
    events::{EventRecord, LogRecord},
    Invocation, LogLine, OtlpSink, Received, Report, Script, ShutdownReason, SimConfig, Simulator, SinkBehaviour,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::watch,
};

const FUNCTION: &str = "soak";
/// The flush budget of the soak config: the most a failing backend may cost an invocation.
const BUDGET_MS: u64 = 200;
/// Scheduling slack on top of the budget on a busy 2-core machine (a bound, not a speed measurement).
const SLACK_MS: f64 = 1500.0;
const LOG_LINES_PER_INVOCATION: usize = 2;

/// xorshift64*: a reproducible sequence from the printed seed, without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A TCP proxy between the extension and the backend that can kill connections: with a reset (RST, as a
/// crashed load balancer does) or silently (the peer vanishes, as a NAT entry that expired during a freeze:
/// bytes go nowhere, nothing comes back, nothing is closed).
struct Proxy {
    addr: SocketAddr,
    reset: watch::Sender<u64>,
    silence: watch::Sender<u64>,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let reset = watch::channel(0u64).0;
        let silence = watch::channel(0u64).0;
        let accepted = Arc::new(AtomicUsize::new(0));
        let (reset_tx, silence_tx, count) = (reset.clone(), silence.clone(), accepted.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let (reset_rx, silence_rx) = (reset_tx.subscribe(), silence_tx.subscribe());
                tokio::spawn(relay(client, upstream, reset_rx, silence_rx));
            }
        });
        Proxy { addr, reset, silence, accepted, task }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Resets every open connection; new ones work.
    fn reset_all(&self) {
        self.reset.send_modify(|g| *g += 1);
    }

    /// Turns every open connection into a black hole; new ones work.
    fn silence_all(&self) {
        self.silence.send_modify(|g| *g += 1);
    }

    fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(
    mut client: TcpStream,
    upstream: SocketAddr,
    mut reset: watch::Receiver<u64>,
    mut silence: watch::Receiver<u64>,
) {
    reset.mark_unchanged();
    silence.mark_unchanged();
    // Zero linger: dropping the socket sends RST instead of FIN.
    let _ = client.set_zero_linger();
    let Ok(mut server) = TcpStream::connect(upstream).await else { return };
    let _ = server.set_zero_linger();
    let (mut from_client, mut from_server) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    let (mut silent, mut server_open) = (false, true);
    loop {
        tokio::select! {
            read = client.read(&mut from_client) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => if !silent && server.write_all(&from_client[..n]).await.is_err() { return },
            },
            read = server.read(&mut from_server), if server_open => match read {
                Ok(n) if n > 0 => if !silent && client.write_all(&from_server[..n]).await.is_err() { return },
                // A silenced connection keeps the client's socket open whatever the server does.
                _ if silent => server_open = false,
                _ => return,
            },
            _ = reset.changed(), if !silent => return,
            _ = silence.changed(), if !silent => silent = true,
        }
    }
}

/// A backend that can be restarted on the same address; what every incarnation received is kept.
struct Backend {
    addr: SocketAddr,
    sink: Option<OtlpSink>,
    earlier: Vec<Received>,
    restarts: usize,
}

impl Backend {
    async fn start() -> Backend {
        let sink = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
        Backend { addr: sink.grpc_addr(), sink: Some(sink), earlier: Vec::new(), restarts: 0 }
    }

    fn sink(&self) -> &OtlpSink {
        self.sink.as_ref().expect("the backend is up")
    }

    async fn restart(&mut self, down_for: Duration) {
        let sink = self.sink.take().expect("the backend is up");
        sink.set_behaviour(SinkBehaviour::Accept);
        self.earlier.push(sink.received());
        sink.stop().await;
        tokio::time::sleep(down_for).await;
        self.sink = Some(OtlpSink::start(self.addr).await.expect("the backend restarts on its address"));
        self.restarts += 1;
    }

    fn received(&self) -> Received {
        let mut all = Received::default();
        for r in self.earlier.iter().chain(self.sink.as_ref().map(|s| s.received()).as_ref()) {
            all.spans.extend(r.spans.iter().cloned());
            all.metrics.extend(r.metrics.iter().cloned());
            all.logs.extend(r.logs.iter().cloned());
        }
        all
    }
}

/// One kind of fault, as injected and counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Fault {
    Unavailable,
    Throttled,
    SlowerThanBudget,
    ConnectionReset,
    Restart,
}

/// The shutdown summary line's counters for one exporter and signal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Summary {
    exported: u64,
    retried: u64,
    dropped: u64,
}

/// Parses `[lambdatel] stopped: otlp/traces: exported N retried N dropped N (...); otlp/logs: ...`.
fn parse_summary(line: &str) -> HashMap<String, Summary> {
    let body = line.split_once("stopped: ").map_or("", |(_, rest)| rest);
    let mut out = HashMap::new();
    for part in body.split("; ") {
        let Some((name, counts)) = part.split_once(": exported ") else { continue };
        let words: Vec<&str> = counts.split_whitespace().collect();
        let number = |i: usize| words.get(i).and_then(|w| w.parse().ok()).unwrap_or(u64::MAX);
        out.insert(name.to_string(), Summary { exported: number(0), retried: number(2), dropped: number(4) });
    }
    out
}

/// The extension's own log lines (its stderr, delivered back as `extension` records).
fn extension_lines(report: &Report) -> Vec<String> {
    report
        .events
        .iter()
        .filter_map(|e| match &e.record {
            EventRecord::ExtensionLog(LogRecord::Text(line)) => Some(line.trim_end().to_string()),
            EventRecord::ExtensionLog(LogRecord::Json(j)) => Some(format!("{j:?}")),
            _ => None,
        })
        .collect()
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn body_text(record: &opentelemetry_proto::tonic::logs::v1::LogRecord) -> Option<&str> {
    match record.body.as_ref().and_then(|b| b.value.as_ref()) {
        Some(Value::StringValue(s)) => Some(s),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_with_random_backend_faults_accounts_for_every_item() {
    let invocations = env_number("LAMBDATEL_SOAK_INVOCATIONS", 400) as usize;
    let seed = env_number("LAMBDATEL_SOAK_SEED", 0x5eed_1a3b_da7e_2026);
    println!("soak: {invocations} invocations, seed {seed:#x} (LAMBDATEL_SOAK_SEED replays it)");
    let mut rng = Rng(seed | 1);

    let mut backend = Backend::start().await;
    let proxy = Proxy::start(backend.addr).await;
    let dir = TempDir::new("soak");
    let config = format!(
        // Flushing after every invocation puts each one in the path of the faults.
        "lambdatel:\n  flush_budget: {BUDGET_MS}ms\n  flush: {{strategy: end}}\n{}",
        otlp_config(&proxy.endpoint(), "    retry_on_failure:\n      initial_interval: 20ms\n")
    );
    let config = dir.write("config.yaml", &config);
    let mut sim = Simulator::start(SimConfig {
        function_name: FUNCTION.into(),
        freeze: true,
        timeout: Duration::from_secs(5),
        ..lambdatel_with_config(&config)
    })
    .await
    .expect("the simulator starts");

    let started = Instant::now();
    let mut injected: HashMap<Fault, usize> = HashMap::new();
    let mut faulty_invocations = 0usize;
    let mut fault_left = 0usize;
    let mut request_ids = Vec::with_capacity(invocations);
    let mut worst_post_runtime = 0f64;
    // Faults stop a few invocations before the end, so the shutdown tests delivery, not an outage.
    let quiet_tail = 5;
    for i in 0..invocations {
        if i == invocations / 2 {
            // A restarting backend drops its connections: requests still in flight fail at the client rather
            // than being stored by the old instance after its record was taken.
            proxy.reset_all();
            backend.restart(Duration::from_millis(300)).await;
            *injected.entry(Fault::Restart).or_default() += 1;
        } else if fault_left == 0 && i + quiet_tail < invocations && rng.below(100) < 6 {
            fault_left = 1 + rng.below(4) as usize;
            let fault = match rng.below(4) {
                0 => Fault::Unavailable,
                1 => Fault::Throttled,
                2 => Fault::SlowerThanBudget,
                _ => Fault::ConnectionReset,
            };
            *injected.entry(fault).or_default() += 1;
            match fault {
                Fault::Unavailable => backend.sink().set_behaviour(SinkBehaviour::Fail(tonic::Code::Unavailable)),
                Fault::Throttled => {
                    backend.sink().set_behaviour(SinkBehaviour::Throttle(Duration::from_millis(100 + rng.below(500))))
                }
                Fault::SlowerThanBudget => backend
                    .sink()
                    .set_behaviour(SinkBehaviour::Delay(Duration::from_millis(BUDGET_MS + 100 + rng.below(800)))),
                Fault::ConnectionReset | Fault::Restart => {
                    // A reset hits whatever is in flight; the backend itself stays healthy.
                    proxy.reset_all();
                    fault_left = 0;
                }
            }
        }
        if fault_left > 0 {
            faulty_invocations += 1;
        }
        let logs = (0..LOG_LINES_PER_INVOCATION).map(|k| LogLine::Text(format!("soak line {i}.{k}"))).collect();
        let script = Script { duration: Duration::from_millis(rng.below(5)), logs, ..Script::default() };
        let outcome = sim.invoke(Invocation { script, ..Invocation::default() }).await.expect("the invocation runs");
        assert_eq!(outcome.status, "success", "{outcome:#?}");
        let post = outcome.post_runtime_ms.iter().find(|(n, _)| n == "lambdatel").map_or(0.0, |(_, ms)| *ms);
        worst_post_runtime = worst_post_runtime.max(post);
        assert!(post <= BUDGET_MS as f64 + SLACK_MS, "invocation {i}: the extension took {post} ms: {outcome:#?}");
        request_ids.push(outcome.request_id);
        if fault_left > 0 {
            fault_left -= 1;
            if fault_left == 0 {
                backend.sink().set_behaviour(SinkBehaviour::Accept);
            }
        }
    }
    let report = sim.shutdown(ShutdownReason::Spindown).await.expect("shutdown");
    let elapsed = started.elapsed();
    assert!(!report.extensions[0].killed, "the extension exits before the shutdown deadline");
    assert_eq!(report.extensions[0].exit_status.as_ref().and_then(|s| s.code), Some(0));
    // Replies slower than the budget still land after the extension gave up on them: let them finish.
    tokio::time::sleep(Duration::from_millis(BUDGET_MS + 1000)).await;
    let received = backend.received();

    // The extension's own account, from its shutdown summary.
    let lines = extension_lines(&report);
    let stopped = lines.iter().find(|l| l.contains("[lambdatel] stopped:")).expect("a shutdown summary");
    let summary = parse_summary(stopped);
    assert!(!stopped.contains("could not be delivered"), "{stopped}");
    let counts = |signal: &str| summary.get(&format!("otlp/{signal}")).copied().unwrap_or_default();

    // Spans: one invocation span per request id.
    let spans = all_spans(&received);
    let mut seen: HashMap<String, usize> = HashMap::new();
    for span in spans.iter().filter(|s| s.name == FUNCTION) {
        if let Some(id) = attr(&span.attributes, "faas.invocation_id") {
            *seen.entry(id).or_default() += 1;
        }
    }
    let missing_spans: Vec<&String> = request_ids.iter().filter(|id| !seen.contains_key(*id)).collect();
    let duplicate_spans: usize = seen.values().map(|n| n - 1).sum();

    // Logs: every function line once.
    let mut lines_seen: HashMap<String, usize> = HashMap::new();
    for record in all_logs(&received) {
        if let Some(text) = body_text(&record).filter(|t| t.starts_with("soak line ")) {
            *lines_seen.entry(text.trim_end().to_string()).or_default() += 1;
        }
    }
    let expected_lines = invocations * LOG_LINES_PER_INVOCATION;
    let missing_lines = expected_lines - lines_seen.len();
    let duplicate_lines: usize = lines_seen.values().map(|n| n - 1).sum();

    // Metrics: cumulative counters, so the last value that arrived tells whether any update was lost.
    let metrics = all_metrics(&received);
    let invocations_counted = counter_value(&metrics, "faas.invocations").unwrap_or(0);
    let data_points: usize = metrics
        .iter()
        .map(|m| match &m.data {
            Some(opentelemetry_proto::tonic::metrics::v1::metric::Data::Sum(s)) => s.data_points.len(),
            Some(opentelemetry_proto::tonic::metrics::v1::metric::Data::Histogram(h)) => h.data_points.len(),
            Some(opentelemetry_proto::tonic::metrics::v1::metric::Data::Gauge(g)) => g.data_points.len(),
            _ => 0,
        })
        .sum();
    let self_sent = counter_value(&metrics, "lambdatel.exporter.sent").unwrap_or(0);

    let (traces, logs, metric_counts) = (counts("traces"), counts("logs"), counts("metrics"));
    let mut faults: Vec<_> = injected.iter().collect();
    faults.sort();
    println!(
        "soak figures: {invocations} invocations in {:.1} s, seed {seed:#x}; faults injected {:?} \
         ({faulty_invocations} invocations under an outage, {} proxy connections, {} backend restarts); \
         worst post-runtime {worst_post_runtime:.0} ms (budget {BUDGET_MS} ms)",
        elapsed.as_secs_f64(),
        faults,
        proxy.connections(),
        backend.restarts,
    );
    println!(
        "soak figures: spans received {} (invocation spans {} unique, {duplicate_spans} duplicates, {} missing), \
         exporter says exported {} retried {} dropped {}",
        spans.len(),
        seen.len(),
        missing_spans.len(),
        traces.exported,
        traces.retried,
        traces.dropped
    );
    println!(
        "soak figures: log lines received {} unique of {expected_lines}, {duplicate_lines} duplicates, \
         {missing_lines} missing; exporter says exported {} retried {} dropped {}",
        lines_seen.len(),
        logs.exported,
        logs.retried,
        logs.dropped
    );
    println!(
        "soak figures: metric data points received {data_points}, faas.invocations = {invocations_counted}, \
         lambdatel.exporter.sent = {self_sent}; exporter says exported {} retried {} dropped {}",
        metric_counts.exported, metric_counts.retried, metric_counts.dropped
    );
    println!("soak figures: shutdown summary: {stopped}");

    // No bound was exceeded (queues of 100,000 items, a 16 MiB memory limit), so nothing may be dropped...
    for (signal, c) in [("traces", traces), ("logs", logs), ("metrics", metric_counts)] {
        assert!(c.exported > 0 && c.exported != u64::MAX, "{signal}: {stopped}");
        assert_eq!(c.dropped, 0, "{signal}: nothing is dropped when no bound is exceeded: {stopped}");
    }
    // ...and nothing may be missing.
    assert!(missing_spans.is_empty(), "invocation spans missing: {missing_spans:?}");
    assert_eq!(missing_lines, 0, "log lines missing");
    assert_eq!(invocations_counted, invocations as i64, "the last faas.invocations value arrived");
    // What the backend acknowledged arrived (duplicates only add).
    assert!(spans.len() as u64 >= traces.exported, "{} spans received, {} acknowledged", spans.len(), traces.exported);
    assert!(all_logs(&received).len() as u64 >= logs.exported);
    assert!(data_points as u64 >= metric_counts.exported);
    // The extension's own lines come back as `extension` records: an outage must not turn into a stream of
    // them (start, shutdown, summary, and at most one export warning a minute).
    let allowed_lines = 3 + elapsed.as_secs() as usize / 60 + 1;
    println!("soak figures: the extension wrote {} lines of its own (at most {allowed_lines})", lines.len());
    assert!(lines.len() <= allowed_lines, "{lines:#?}");
    // The self-telemetry snapshot taken at shutdown, before the last export, arrived with it.
    let exported_before_last = traces.exported + logs.exported + metric_counts.exported;
    assert!(self_sent > 0 && self_sent as u64 <= exported_before_last, "lambdatel.exporter.sent = {self_sent}");
    // Duplicates come only from replies lost to a slow backend, a reset or a restart: rare.
    let allowed = invocations / 10 + 5;
    assert!(duplicate_spans <= allowed, "{duplicate_spans} duplicate invocation spans (allowed {allowed})");
    assert!(duplicate_lines <= allowed * LOG_LINES_PER_INVOCATION, "{duplicate_lines} duplicate log lines");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_died_silently_during_a_freeze_is_replaced_by_the_next_flush() {
    const FROZEN_BUDGET_MS: u64 = 1000;
    let backend = Backend::start().await;
    let proxy = Proxy::start(backend.addr).await;
    let dir = TempDir::new("frozen");
    let config = format!(
        "lambdatel:\n  flush_budget: {FROZEN_BUDGET_MS}ms\n  flush: {{strategy: end}}\n{}",
        // The 3 s freeze below counts as a long idle spell.
        otlp_config(&proxy.endpoint(), "    reconnect_after_idle: 2s")
    );
    let config = dir.write("config.yaml", &config);
    let mut sim =
        Simulator::start(SimConfig { function_name: FUNCTION.into(), freeze: true, ..lambdatel_with_config(&config) })
            .await
            .expect("the simulator starts");

    let first = sim.invoke(Invocation::default()).await.unwrap();
    assert!(
        invocation_ids(&backend.sink().received(), FUNCTION).contains(&first.request_id),
        "delivered before the freeze"
    );
    assert_eq!(proxy.connections(), 1);
    assert!(sim.is_frozen());
    // While the sandbox is frozen the path to the backend dies without a word (no FIN, no RST).
    proxy.silence_all();
    tokio::time::sleep(Duration::from_secs(3)).await;

    let mut flushes_until_delivered = None;
    let mut ids = Vec::new();
    let thawed = Instant::now();
    for attempt in 1..=25 {
        let outcome = sim.invoke(Invocation::default()).await.unwrap();
        let post = outcome.post_runtime_ms.iter().find(|(n, _)| n == "lambdatel").map_or(0.0, |(_, ms)| *ms);
        assert!(post <= FROZEN_BUDGET_MS as f64 + SLACK_MS, "flush {attempt} took {post} ms");
        ids.push(outcome.request_id);
        let received = invocation_ids(&backend.sink().received(), FUNCTION);
        if ids.iter().all(|id| received.contains(id)) {
            flushes_until_delivered = Some(attempt);
            break;
        }
    }
    println!(
        "frozen connection: delivered by flush {flushes_until_delivered:?} after {:.1} s, {} connections",
        thawed.elapsed().as_secs_f64(),
        proxy.connections()
    );
    sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    assert_eq!(flushes_until_delivered, Some(1), "the first flush after the thaw delivers on a new connection");
    assert_eq!(proxy.connections(), 2, "one new connection replaces the dead one");
}
