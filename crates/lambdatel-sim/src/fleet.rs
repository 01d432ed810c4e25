//! Fleet mode: many sandboxes of one function at once, each its own [`Simulator`] (its own
//! extension processes, environment, freezing and shutdown), fed by a traffic pattern and
//! scaled out and in as Lambda does: a warm idle sandbox takes the next invocation, a new one
//! starts (cold) when none is idle and the fleet is below its size, and one idle for longer than
//! `idle_shutdown` is shut down. Every sandbox exports to one [`OtlpSink`], the shared backend, so
//! the fan-in there (connections, requests, bytes, metric series) is measured, and what arrived is
//! checked against what was invoked (lost and duplicated spans and log lines).

mod figures;

pub use figures::{BackendFigures, SandboxFigures};

use crate::gateway::{Gateway, GatewayConfig, GatewayError, GatewayFigures};
use crate::otlp::OtlpSink;
use crate::sim::{Invocation, LogLine, Outcome, Script, ShutdownReason, SimConfig, Simulator};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{mpsc, Notify};

/// Set in each sandbox's environment: a loopback port that was free when the sandbox started, from
/// [`crate::ports::free_port`].
pub const FREE_PORT_VARIABLE: &str = "SIM_FREE_PORT";

/// How invocations are spread over time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TrafficPattern {
    /// Evenly spaced at `rate` per second.
    Steady,
    /// Bursts of as many invocations as the fleet has sandboxes, spaced so that the mean is `rate`.
    Bursty,
    /// The first half steady, the second bursty: a warm fleet meets a burst as large as itself.
    SteadyThenBursty,
    /// A day in miniature: the rate ramps from a tenth of `rate` up to 1.9 x `rate` and back down
    /// over the run (mean `rate`), so the fleet scales out and in.
    Diurnal,
}

impl std::str::FromStr for TrafficPattern {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "steady" => Ok(TrafficPattern::Steady),
            "bursty" => Ok(TrafficPattern::Bursty),
            "diurnal" => Ok(TrafficPattern::Diurnal),
            "steady-then-bursty" => Ok(TrafficPattern::SteadyThenBursty),
            other => Err(format!("unknown traffic pattern `{other}` (steady, bursty, steady-then-bursty or diurnal)")),
        }
    }
}

/// A fleet run.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// The environment of every sandbox (extensions, function, memory, freezing...). Its
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` is set to the shared backend.
    pub sandbox: SimConfig,
    /// Most sandboxes alive at once.
    pub max_sandboxes: usize,
    /// Invocations in total.
    pub invocations: usize,
    /// Mean invocations per second.
    pub rate: f64,
    /// How they are spread.
    pub pattern: TrafficPattern,
    /// A sandbox idle this long is shut down.
    pub idle_shutdown: Duration,
    /// What each invocation does; each also logs one line of its own (`fleet-line <n>`), counted
    /// at the backend.
    pub script: Script,
    /// A collector gateway between the sandboxes and the backend, if any.
    pub gateway: Option<GatewayConfig>,
}

/// The result of a fleet run.
#[derive(Debug, Clone, Serialize)]
pub struct FleetReport {
    /// Invocations by status.
    pub statuses: BTreeMap<String, usize>,
    /// Invocations that could not run (a sandbox failed to start).
    pub not_run: usize,
    /// Sandboxes created over the run.
    pub sandboxes_created: usize,
    /// Most sandboxes alive at once.
    pub max_live_sandboxes: usize,
    /// Cold starts (invocations that started a sandbox).
    pub cold_starts: usize,
    /// Wall time of the run, ms.
    pub duration_ms: f64,
    /// Every sandbox.
    pub sandboxes: Vec<SandboxFigures>,
    /// The backend.
    pub backend: BackendFigures,
    /// The gateway, when there was one.
    pub gateway: Option<GatewayFigures>,
}

impl FleetReport {
    /// Every invocation's post-runtime time (the slowest extension), ms.
    pub fn post_runtime_ms(&self) -> Vec<f64> {
        self.sandboxes.iter().flat_map(|s| s.post_runtime_ms.iter().copied()).collect()
    }

    /// Invocations that ran.
    pub fn invocations(&self) -> usize {
        self.statuses.values().sum()
    }
}

/// Errors that stop a fleet run.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// The configuration cannot run.
    #[error("{0}")]
    Invalid(String),
    /// The shared backend could not start.
    #[error("cannot start the OTLP receiver: {0}")]
    Backend(std::io::Error),
    /// The gateway could not start.
    #[error(transparent)]
    Gateway(#[from] GatewayError),
}

/// When each invocation arrives, from the start of the run.
pub fn arrivals(pattern: TrafficPattern, invocations: usize, rate: f64, burst: usize) -> Vec<Duration> {
    let n = invocations;
    match pattern {
        TrafficPattern::Steady => (0..n).map(|i| Duration::from_secs_f64(i as f64 / rate)).collect(),
        TrafficPattern::Bursty => {
            let burst = burst.max(1);
            (0..n).map(|i| Duration::from_secs_f64((i / burst) as f64 * burst as f64 / rate)).collect()
        }
        TrafficPattern::SteadyThenBursty => {
            let steady = arrivals(TrafficPattern::Steady, n / 2, rate, burst);
            let start = Duration::from_secs_f64((n / 2) as f64 / rate);
            let bursts = arrivals(TrafficPattern::Bursty, n - n / 2, rate, burst);
            steady.into_iter().chain(bursts.into_iter().map(|d| start + d)).collect()
        }
        TrafficPattern::Diurnal => {
            // rate(t) = rate * (0.1 + 1.8 * triangle(t / T)), mean rate over T = n / rate. Walk
            // the cumulative count in small steps and place each arrival where it reaches i.
            let total = n as f64 / rate;
            let steps = (n * 20).max(100);
            let dt = total / steps as f64;
            let (mut out, mut count, mut t) = (Vec::with_capacity(n), 0.0f64, 0.0f64);
            while out.len() < n {
                let x = (t / total).min(1.0);
                let triangle = 1.0 - (2.0 * x - 1.0).abs();
                count += rate * (0.1 + 1.8 * triangle) * dt;
                while out.len() < n && (out.len() as f64) < count {
                    out.push(Duration::from_secs_f64(t));
                }
                t += dt;
            }
            out
        }
    }
}

enum Job {
    Invoke(usize, Invocation),
    Stop,
}

struct InvocationResult {
    outcome: Option<Outcome>,
    cold: bool,
}

/// The sandboxes waiting for work, and how many are alive.
#[derive(Default)]
struct Pool {
    idle: Vec<(usize, mpsc::UnboundedSender<Job>)>,
    live: usize,
    max_live: usize,
    created: usize,
}

struct Shared {
    pool: Mutex<Pool>,
    changed: Notify,
    results: Mutex<Vec<(usize, InvocationResult)>>,
    sandboxes: Mutex<Vec<SandboxFigures>>,
    gateway: Option<Gateway>,
    /// Sandboxes shutting down at once. Lambda retires sandboxes one by one, each on its own CPU share; here
    /// they share the host's cores, and the whole fleet told SHUTDOWN in the same instant at the end of a
    /// run would starve every extension's final flush of the CPU Lambda would give it.
    shutdowns: tokio::sync::Semaphore,
}

/// Runs the fleet against a fresh embedded backend and returns its figures.
pub async fn run(cfg: FleetConfig) -> Result<FleetReport, FleetError> {
    let backend =
        OtlpSink::start("127.0.0.1:0".parse().expect("a literal address")).await.map_err(FleetError::Backend)?;
    run_with_backend(cfg, &backend).await
}

/// Runs the fleet against `backend` (which may, for example, answer late or fail).
pub async fn run_with_backend(mut cfg: FleetConfig, backend: &OtlpSink) -> Result<FleetReport, FleetError> {
    if cfg.max_sandboxes == 0 || cfg.rate <= 0.0 || !cfg.rate.is_finite() {
        return Err(FleetError::Invalid("a fleet needs at least one sandbox and a positive rate".into()));
    }
    if let Some(outage) = cfg.gateway.as_ref().and_then(|g| g.outage) {
        if !(0.0..=1.0).contains(&outage.at_fraction) || outage.duration.is_zero() {
            return Err(FleetError::Invalid("an outage needs a duration and a start between 0 and 100%".into()));
        }
    }
    let gateway = match &cfg.gateway {
        Some(g) => Some(Gateway::start(&g.kind, &backend.grpc_endpoint()).await?),
        // Without a gateway every sandbox exports to the backend; with one, each to its relay port.
        None => {
            cfg.sandbox.env.push(("OTEL_EXPORTER_OTLP_ENDPOINT".into(), backend.grpc_endpoint()));
            None
        }
    };
    cfg.sandbox.env.push(("OTEL_EXPORTER_OTLP_PROTOCOL".into(), "grpc".into()));
    // Thousands of invocations: the event log would only grow.
    cfg.sandbox.record_events = false;
    let shared = Arc::new(Shared {
        pool: Mutex::new(Pool::default()),
        changed: Notify::new(),
        results: Mutex::new(Vec::new()),
        sandboxes: Mutex::new(Vec::new()),
        gateway,
        shutdowns: tokio::sync::Semaphore::new(
            4 * std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        ),
    });
    let t0 = Instant::now();
    let start = tokio::time::Instant::now();
    let mut traces = Vec::with_capacity(cfg.invocations);
    let mut tasks = tokio::task::JoinSet::new();
    let outage = cfg.gateway.as_ref().and_then(|g| g.outage);
    let outage_at = outage.map(|o| ((o.at_fraction * cfg.invocations as f64) as usize).min(cfg.invocations));
    let mut outage_task = None;
    for (seq, at) in arrivals(cfg.pattern, cfg.invocations, cfg.rate, cfg.max_sandboxes).into_iter().enumerate() {
        tokio::time::sleep_until(start + at).await;
        if Some(seq) == outage_at {
            outage_task = outage.map(|o| tokio::spawn(gateway_outage(shared.clone(), o.duration)));
        }
        let mut script = cfg.script.clone();
        script.logs.push(LogLine::Text(format!("fleet-line {seq}")));
        let trace = crate::ids::trace_header();
        traces.push(trace.clone());
        let inv = Invocation { payload: "{}".into(), script, trace_header: Some(trace), client_context: None };
        dispatch(&cfg, &shared, &mut tasks, seq, inv).await;
    }
    // Wait for every invocation, then stop the idle sandboxes (all of them, once all are done).
    loop {
        let notified = shared.changed.notified();
        if shared.results.lock().unwrap().len() == cfg.invocations {
            break;
        }
        notified.await;
    }
    // The gateway is back before the last sandboxes shut down: what their queues kept goes out then.
    let outage_times = match outage_task {
        Some(task) => task.await.ok(),
        None => None,
    };
    let idle: Vec<_> = std::mem::take(&mut shared.pool.lock().unwrap().idle);
    for (_, tx) in idle {
        let _ = tx.send(Job::Stop);
    }
    while tasks.join_next().await.is_some() {}
    let Ok(mut shared) = Arc::try_unwrap(shared) else { unreachable!("every sandbox task has ended") };
    let gateway_figures = match shared.gateway.take() {
        Some(gateway) => {
            let per_sandbox =
                shared.sandboxes.lock().unwrap().iter().map(|s| s.gateway_connections).collect::<Vec<_>>();
            let mut figures = gateway.figures(per_sandbox.into_iter());
            // The gateway batches before it forwards: wait for the backend to go quiet, then stop it
            // (it forwards what it still holds) and wait again.
            settle(backend, Duration::from_secs(1)).await;
            gateway.stop(Duration::from_secs(5)).await;
            settle(backend, Duration::from_millis(300)).await;
            if let Some(window) = outage_times {
                figures.outage_start_ms = Some((window.began - t0).as_secs_f64() * 1000.0);
                figures.outage_ms = Some((window.ended - window.began).as_secs_f64() * 1000.0);
                figures.outage_spans_delivered_after = Some(figures::spans_held_over(backend, window.unix));
            }
            Some(figures)
        }
        None => {
            settle(backend, Duration::from_millis(300)).await;
            None
        }
    };
    let results = std::mem::take(&mut *shared.results.lock().unwrap());
    let mut statuses = BTreeMap::new();
    let (mut not_run, mut cold_starts) = (0, 0);
    for (_, r) in &results {
        match &r.outcome {
            Some(o) => *statuses.entry(o.status.clone()).or_insert(0) += 1,
            None => not_run += 1,
        }
        cold_starts += usize::from(r.cold);
    }
    let pool = shared.pool.lock().unwrap();
    let mut sandboxes = std::mem::take(&mut *shared.sandboxes.lock().unwrap());
    sandboxes.sort_by_key(|s| s.id);
    Ok(FleetReport {
        statuses,
        not_run,
        sandboxes_created: pool.created,
        max_live_sandboxes: pool.max_live,
        cold_starts,
        duration_ms: t0.elapsed().as_secs_f64() * 1000.0,
        sandboxes,
        backend: figures::backend_figures(backend, &traces),
        gateway: gateway_figures,
    })
}

/// Hands an invocation to an idle sandbox, or starts one, or waits for one to free up.
async fn dispatch(
    cfg: &FleetConfig,
    shared: &Arc<Shared>,
    tasks: &mut tokio::task::JoinSet<()>,
    seq: usize,
    inv: Invocation,
) {
    loop {
        let notified = shared.changed.notified();
        {
            let mut pool = shared.pool.lock().unwrap();
            // The most recently used sandbox first, as Lambda favours warm sandboxes.
            if let Some((_, tx)) = pool.idle.pop() {
                // A sandbox in the pool is waiting on its channel, so the send cannot fail.
                let _ = tx.send(Job::Invoke(seq, inv));
                return;
            }
            if pool.live < cfg.max_sandboxes {
                pool.live += 1;
                pool.created += 1;
                pool.max_live = pool.max_live.max(pool.live);
                let id = pool.created;
                tasks.spawn(sandbox(id, cfg.clone(), shared.clone(), seq, inv));
                return;
            }
        }
        notified.await;
    }
}

/// One sandbox's life: cold start with its first invocation, then serve until idle too long or
/// stopped, then shut down.
async fn sandbox(id: usize, cfg: FleetConfig, shared: Arc<Shared>, seq: usize, first: Invocation) {
    let finish = |seq: usize, result: InvocationResult| {
        shared.results.lock().unwrap().push((seq, result));
        shared.changed.notify_waiters();
    };
    let mut sandbox_cfg = cfg.sandbox.clone();
    // Sandboxes share the host's loopback here (in Lambda each has its own), so an extension
    // with a fixed listener port can take a free one from this variable instead.
    sandbox_cfg.env.push((FREE_PORT_VARIABLE.into(), crate::ports::free_port().to_string()));
    // Its own entrance to the gateway, so that its connections are counted apart.
    let relay_port = match &shared.gateway {
        Some(gateway) => gateway.open_port().await.ok(),
        None => None,
    };
    if let Some(port) = &relay_port {
        sandbox_cfg.env.push(("OTEL_EXPORTER_OTLP_ENDPOINT".into(), port.endpoint()));
    }
    let started =
        if shared.gateway.is_some() && relay_port.is_none() { None } else { Simulator::start(sandbox_cfg).await.ok() };
    let mut sim = match started {
        Some(sim) => sim,
        None => {
            shared.pool.lock().unwrap().live -= 1;
            finish(seq, InvocationResult { outcome: None, cold: true });
            return;
        }
    };
    let init_ms = sim.last_init().map(|i| i.duration_ms);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut next = Some((seq, first, true));
    let mut post_runtime = Vec::new();
    loop {
        if let Some((seq, inv, cold)) = next.take() {
            let outcome = sim.invoke(inv).await.ok();
            if let Some(o) = &outcome {
                post_runtime.push(o.post_runtime_ms.iter().map(|(_, t)| *t).fold(0.0, f64::max));
            }
            // Back in the pool before the result is counted, so that the dispatcher, woken by
            // the result, finds it idle.
            shared.pool.lock().unwrap().idle.push((id, tx.clone()));
            finish(seq, InvocationResult { outcome, cold });
        }
        match tokio::time::timeout(cfg.idle_shutdown, rx.recv()).await {
            Ok(Some(Job::Invoke(seq, inv))) => next = Some((seq, inv, false)),
            Ok(Some(Job::Stop)) | Ok(None) => break,
            Err(_) => {
                // Idle too long: leave the pool, unless the dispatcher just took this sandbox
                // (then its job is on the way).
                let mut pool = shared.pool.lock().unwrap();
                if let Some(pos) = pool.idle.iter().position(|(i, _)| *i == id) {
                    pool.idle.remove(pos);
                    break;
                }
            }
        }
    }
    // Out of the fleet from now on: a new sandbox may start while this one shuts down.
    shared.pool.lock().unwrap().live -= 1;
    shared.changed.notify_waiters();
    let report = {
        let _turn = shared.shutdowns.acquire().await;
        sim.shutdown(ShutdownReason::Spindown).await.ok()
    };
    let exts = report.as_ref().map(|r| r.extensions.as_slice()).unwrap_or_default();
    shared.sandboxes.lock().unwrap().push(SandboxFigures {
        id,
        invocations: post_runtime.len(),
        init_ms,
        post_runtime_ms: post_runtime,
        extension_peak_rss_kb: exts.iter().map(|e| e.peak_rss_kb).sum(),
        extension_cpu_ms: exts.iter().map(|e| e.cpu_ms).sum(),
        shutdown_ms: report.as_ref().and_then(|r| r.shutdown_ms),
        killed_extensions: exts.iter().filter(|e| e.killed).count(),
        gateway_connections: relay_port.as_ref().map_or(0, |p| p.connections()),
    });
}

/// When the gateway was away, on the run's clock and (for span times) the wall clock.
struct OutageWindow {
    began: Instant,
    ended: Instant,
    unix: (SystemTime, SystemTime),
}

/// Takes the gateway away for `duration`.
async fn gateway_outage(shared: Arc<Shared>, duration: Duration) -> OutageWindow {
    let (began, began_unix) = (Instant::now(), SystemTime::now());
    if let Some(gateway) = &shared.gateway {
        gateway.set_up(false);
        tokio::time::sleep(duration).await;
        gateway.set_up(true);
    }
    OutageWindow { began, ended: Instant::now(), unix: (began_unix, SystemTime::now()) }
}

/// Waits until no new export arrived for `quiet` (at most 5 s): the last sandboxes flush at SHUTDOWN.
async fn settle(backend: &OtlpSink, quiet: Duration) {
    let end = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut last = backend.request_count();
    while tokio::time::Instant::now() < end {
        tokio::time::sleep(quiet).await;
        let now = backend.request_count();
        if now == last {
            return;
        }
        last = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrivals_follow_the_pattern() {
        let ms = |v: Vec<Duration>| v.into_iter().map(|d| d.as_millis() as u64).collect::<Vec<_>>();
        assert_eq!(ms(arrivals(TrafficPattern::Steady, 4, 10.0, 3)), [0, 100, 200, 300]);
        // Bursts of 3, every 3 / 10 s.
        assert_eq!(ms(arrivals(TrafficPattern::Bursty, 7, 10.0, 3)), [0, 0, 0, 300, 300, 300, 600]);
        assert_eq!(
            ms(arrivals(TrafficPattern::SteadyThenBursty, 9, 10.0, 3)),
            [0, 100, 200, 300, 400, 400, 400, 700, 700]
        );
        let diurnal = arrivals(TrafficPattern::Diurnal, 200, 100.0, 3);
        assert_eq!(diurnal.len(), 200);
        assert!(diurnal.windows(2).all(|w| w[0] <= w[1]));
        // Slow at both ends, dense in the middle: the middle half of the run holds most arrivals.
        let total = Duration::from_secs(2);
        let middle = diurnal.iter().filter(|d| **d >= total / 4 && **d < total * 3 / 4).count();
        assert!(middle > 120, "{middle}");
        assert!(*diurnal.last().unwrap() <= total);
    }

    #[test]
    fn patterns_parse() {
        assert_eq!("bursty".parse::<TrafficPattern>(), Ok(TrafficPattern::Bursty));
        assert_eq!(
            "spiky".parse::<TrafficPattern>(),
            Err("unknown traffic pattern `spiky` (steady, bursty, steady-then-bursty or diurnal)".to_string())
        );
    }
}
