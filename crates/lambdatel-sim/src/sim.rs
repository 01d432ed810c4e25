//! The controller: runs the Init, Invoke and Shutdown phases of one execution environment,
//! starts the extension and runtime processes, freezes them between invocations, emits the
//! platform events in Lambda's order and measures everything for the [`Report`].

use crate::api::{Env, FunctionInfo, InvokeRequest, PendingInvoke, Phase, RuntimeResult};
use crate::events::*;
use crate::process::{check_executable, spawn, ExitStatus, Proc};
use crate::telemetry::Hub;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

mod managed;
pub use managed::ManagedInstances;

/// Errors that stop the simulator from running an environment at all.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// An extension path is missing or not executable.
    #[error("extension {path}: {reason}")]
    BadExtension {
        /// The path given.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The Runtime API port could not be bound.
    #[error("cannot listen on {addr}: {source} (is the port in use?)")]
    Bind {
        /// Address tried.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// A process could not be started.
    #[error("cannot start {path}: {source}")]
    Spawn {
        /// The program.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Extensions still running that never called register within the init limit.
    #[error("extension(s) {names:?} never registered within the {limit_ms} ms init limit")]
    NeverRegistered {
        /// File names of the extensions.
        names: Vec<String>,
        /// The init limit.
        limit_ms: u64,
    },
    /// The environment was already shut down.
    #[error("the environment has been shut down")]
    ShutDown,
    /// Reading the extensions folder failed.
    #[error("extensions folder {path}: {source}")]
    ExtensionsDir {
        /// The folder.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// How the function runs.
#[derive(Debug, Clone)]
pub enum FunctionSpec {
    /// The built-in function, driven by each [`Invocation`]'s [`Script`].
    Scripted(ScriptedFunction),
    /// Any runtime process that speaks the Runtime API.
    Process(ProcessFunction),
}

impl Default for FunctionSpec {
    fn default() -> Self {
        FunctionSpec::Scripted(ScriptedFunction::default())
    }
}

/// Settings of the built-in function.
#[derive(Debug, Clone, Default)]
pub struct ScriptedFunction {
    /// Time the function's init takes.
    pub init_duration: Duration,
    /// When set, the function's init fails with this error type (`runtime/init/error`).
    pub init_error: Option<String>,
}

/// An external runtime process.
#[derive(Debug, Clone, Default)]
pub struct ProcessFunction {
    /// Program to run.
    pub command: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Working directory (`LAMBDA_TASK_ROOT` is set to it too).
    pub working_dir: Option<PathBuf>,
}

/// Configuration of a simulated execution environment.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Extension executables to start (each must register under its file name).
    pub extensions: Vec<PathBuf>,
    /// A folder whose executables are all started as extensions (like `/opt/extensions`).
    pub extensions_dir: Option<PathBuf>,
    /// The function.
    pub function: FunctionSpec,
    /// Extra environment for extensions and runtime.
    pub env: Vec<(String, String)>,
    /// SIGSTOP every process between invocations (Lambda's freeze).
    pub freeze: bool,
    /// Configured memory in MB.
    pub memory_mb: u64,
    /// Function timeout (covers the whole invoke phase, extensions included).
    pub timeout: Duration,
    /// Init limit (10 s in Lambda).
    pub init_timeout: Duration,
    /// Shutdown budget with external extensions (2,000 ms in Lambda).
    pub shutdown_budget: Duration,
    /// Part of the shutdown budget the runtime gets before SIGKILL (300 ms in Lambda).
    pub runtime_shutdown_budget: Duration,
    /// Function name.
    pub function_name: String,
    /// Function version.
    pub function_version: String,
    /// `_HANDLER`.
    pub handler: String,
    /// AWS region.
    pub region: String,
    /// Account id (for the ARN and the accountId feature).
    pub account_id: String,
    /// Runtime API port on 127.0.0.1 (0 picks a free one).
    pub runtime_api_port: u16,
    /// Copy process output to the simulator's stderr, prefixed with the process name.
    pub echo_output: bool,
    /// Bytes a subscriber may have waiting before events are dropped (`platform.logsDropped`).
    pub subscriber_queue_limit_bytes: usize,
    /// Initialise as SnapStart does: init, snapshot, then restore events before the first invoke.
    pub snap_start: bool,
    /// Serve the Invoke API (`POST /2015-03-31/functions/function/invocations`) on the Runtime
    /// API port; requests wait (even during init) until taken with
    /// [`Simulator::take_invoke_requests`]. When off, the endpoint answers 503.
    pub invoke_api: bool,
    /// The function's log format is JSON (`AWS_LAMBDA_LOG_FORMAT=JSON`): output lines that are
    /// JSON objects become structured records (objects from Telemetry schema 2022-12-13 on).
    pub json_logs: bool,
    /// Keep every emitted event for [`Simulator::events`] and the report (turn off for very long
    /// runs to bound memory).
    pub record_events: bool,
    /// Run as a Lambda Managed Instances environment (concurrent invocations, never frozen,
    /// SHUTDOWN-only extensions, Telemetry schema 2025-01-29 only).
    pub managed_instances: Option<ManagedInstances>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            extensions: Vec::new(),
            extensions_dir: None,
            function: FunctionSpec::default(),
            env: Vec::new(),
            freeze: true,
            memory_mb: 128,
            timeout: Duration::from_secs(3),
            init_timeout: Duration::from_secs(10),
            shutdown_budget: Duration::from_millis(2000),
            runtime_shutdown_budget: Duration::from_millis(300),
            function_name: "lambdatel-sim-function".into(),
            function_version: "$LATEST".into(),
            handler: "index.handler".into(),
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
            runtime_api_port: 0,
            echo_output: false,
            subscriber_queue_limit_bytes: 4 * 1024 * 1024,
            snap_start: false,
            invoke_api: false,
            record_events: true,
            json_logs: false,
            managed_instances: None,
        }
    }
}

/// One log line of a scripted function.
#[derive(Debug, Clone, PartialEq)]
pub enum LogLine {
    /// A text line on stdout.
    Text(String),
    /// A text line on stderr.
    Stderr(String),
    /// A JSON-format record (delivered as an object from schema 2022-12-13 on).
    Json {
        /// Level, e.g. `INFO`.
        level: String,
        /// Message.
        message: String,
    },
}

/// How a scripted invocation ends.
#[derive(Debug, Clone, PartialEq)]
pub enum ScriptResult {
    /// The function returns this body.
    Ok(String),
    /// The function returns an error.
    Error {
        /// e.g. `Handled` or `ValueError`.
        error_type: String,
        /// Error message.
        message: String,
    },
    /// The function never returns (the invocation times out).
    Timeout,
    /// The runtime process dies.
    Crash,
}

/// What the built-in function does in one invocation.
#[derive(Debug, Clone)]
pub struct Script {
    /// Time spent before returning.
    pub duration: Duration,
    /// Lines logged at the start of the invocation.
    pub logs: Vec<LogLine>,
    /// The result.
    pub result: ScriptResult,
    /// Memory figure for `maxMemoryUsedMB` (measured from /proc when absent).
    pub memory_used_mb: Option<u64>,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            duration: Duration::ZERO,
            logs: Vec::new(),
            result: ScriptResult::Ok("{}".into()),
            memory_used_mb: None,
        }
    }
}

/// One invocation request.
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    /// Event payload (JSON).
    pub payload: Bytes,
    /// The scripted behaviour (ignored by external runtimes).
    pub script: Script,
    /// X-Ray header to use; a sampled one is generated when absent.
    pub trace_header: Option<String>,
    /// `Lambda-Runtime-Client-Context`.
    pub client_context: Option<String>,
}

/// The function's response, delivered as soon as the runtime posts it.
#[derive(Debug, Clone)]
pub struct EarlyResponse {
    /// Body.
    pub body: Bytes,
    /// `X-Amz-Function-Error` value when the function failed.
    pub function_error: Option<String>,
}

/// Why the environment shuts down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShutdownReason {
    /// Normal spin-down.
    Spindown,
    /// After a timeout.
    Timeout,
    /// After a failure (crash).
    Failure,
}

impl ShutdownReason {
    fn wire(self) -> &'static str {
        match self {
            ShutdownReason::Spindown => "SPINDOWN",
            ShutdownReason::Timeout => "TIMEOUT",
            ShutdownReason::Failure => "FAILURE",
        }
    }
}

/// Result of one invocation.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Request id.
    pub request_id: String,
    /// `success`, `error`, `failure` or `timeout`.
    pub status: String,
    /// Error type when not success.
    pub error_type: Option<String>,
    /// Function response body (or error body), if any was posted.
    #[serde(serialize_with = "ser_bytes")]
    pub response: Option<Bytes>,
    /// Time from invoke to the response reaching the caller, in ms.
    pub response_ms: Option<f64>,
    /// Time from invoke to the runtime's next call (runtimeDone), in ms.
    pub runtime_ms: Option<f64>,
    /// Time from invoke to the end of the invoke phase, in ms.
    pub invoke_phase_ms: f64,
    /// Per extension: runtime done to that extension's next call, in ms.
    pub post_runtime_ms: Vec<(String, f64)>,
    /// Whether a suppressed init ran before this invocation.
    pub suppressed_init: bool,
    /// The X-Ray header used.
    pub trace_header: String,
    /// When the invocation ended (its `platform.report`), in ms since the Unix epoch.
    pub end_unix_ms: f64,
}

fn ser_bytes<S: serde::Serializer>(b: &Option<Bytes>, s: S) -> Result<S::Ok, S::Error> {
    match b {
        Some(b) => s.serialize_some(&String::from_utf8_lossy(b)),
        None => s.serialize_none(),
    }
}

/// One init (or suppressed init) of the environment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InitRecord {
    /// `init`, `invoke` or `snap-start`.
    pub phase: String,
    /// `success`, `error`, `failure` or `timeout`.
    pub status: String,
    /// Error type when not success.
    pub error_type: Option<String>,
    /// Duration in ms.
    pub duration_ms: f64,
}

/// Measurements of one extension process.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExtensionReport {
    /// File name.
    pub name: String,
    /// Path started.
    pub path: PathBuf,
    /// Environment generation (increments after each reset).
    pub generation: u32,
    /// Process id.
    pub pid: i32,
    /// Whether it registered.
    pub registered: bool,
    /// Events it registered for.
    pub events: Vec<String>,
    /// Process start to first `event/next` call, in ms.
    pub time_to_first_next_ms: Option<f64>,
    /// Per invocation, runtime done to its `next` call, in ms.
    pub post_runtime_ms: Vec<f64>,
    /// Peak RSS in KiB.
    pub peak_rss_kb: u64,
    /// User + system CPU time in ms.
    pub cpu_ms: f64,
    /// SHUTDOWN delivery (or runtime kill) to process exit, in ms.
    pub shutdown_ms: Option<f64>,
    /// How it ended.
    pub exit_status: Option<ExitStatus>,
    /// Whether it was SIGKILLed (at the shutdown deadline, or at once after a failed init).
    pub killed: bool,
    /// Errors it posted (`init/error`, `exit/error`).
    pub errors: Vec<crate::api::ExtensionError>,
    /// Its Telemetry/Logs subscription, if any.
    pub subscription: Option<SubscriptionReport>,
}

/// Delivery figures of a subscription.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubscriptionReport {
    /// `telemetry` or `logs`.
    pub api: String,
    /// Schema version.
    pub schema_version: String,
    /// Types.
    pub types: Vec<String>,
    /// Buffering used.
    pub buffering: crate::telemetry::Buffering,
    /// Events delivered.
    pub delivered: u64,
    /// Events dropped.
    pub dropped: u64,
    /// Batches delivered.
    pub batches: u64,
    /// Failed delivery attempts (retried).
    pub failed_attempts: u64,
    /// Of those, attempts the listener answered with a non-2xx status.
    pub rejected_attempts: u64,
}

/// The full JSON report of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// Function name.
    pub function_name: String,
    /// Memory in MB.
    pub memory_mb: u64,
    /// Timeout in ms.
    pub timeout_ms: u64,
    /// Freeze between invocations.
    pub freeze: bool,
    /// Concurrency when the environment ran as Lambda Managed Instances.
    #[serde(default)]
    pub managed_instances: Option<usize>,
    /// Every init.
    pub inits: Vec<InitRecord>,
    /// Every invocation.
    pub invocations: Vec<InvocationRecord>,
    /// Every extension process.
    pub extensions: Vec<ExtensionReport>,
    /// Shutdown duration in ms.
    pub shutdown_ms: Option<f64>,
    /// Shutdown reason.
    pub shutdown_reason: Option<ShutdownReason>,
    /// Runtime exit status (external runtimes).
    pub runtime_exit: Option<ExitStatus>,
    /// Telemetry events delivered over all subscribers.
    pub events_delivered: u64,
    /// Telemetry events dropped over all subscribers.
    pub events_dropped: u64,
    /// Every platform/function/extension event emitted, in order (empty when
    /// [`SimConfig::record_events`] is off).
    pub events: Vec<TelemetryEvent>,
}

/// One invocation in the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InvocationRecord {
    /// Request id.
    pub request_id: String,
    /// Status.
    pub status: String,
    /// Error type.
    pub error_type: Option<String>,
    /// Invoke to response, ms.
    pub response_ms: Option<f64>,
    /// Invoke to runtime done, ms.
    pub runtime_ms: Option<f64>,
    /// Invoke phase, ms.
    pub invoke_phase_ms: f64,
    /// Per extension post-runtime time, ms.
    pub post_runtime_ms: HashMap<String, f64>,
    /// When the invocation ended (its `platform.report`), in ms since the Unix epoch: the start
    /// of the delay until its telemetry reaches a backend.
    #[serde(default)]
    pub end_unix_ms: f64,
}

struct ExtProc {
    name: String,
    path: PathBuf,
    proc: Proc,
    shutdown_sent: Option<Instant>,
    killed: bool,
}

/// A simulated Lambda execution environment.
pub struct Simulator {
    cfg: SimConfig,
    env: Arc<Env>,
    addr: SocketAddr,
    server: JoinHandle<()>,
    invoke_rx: Option<mpsc::Receiver<InvokeRequest>>,
    ext_paths: Vec<PathBuf>,
    exts: Vec<ExtProc>,
    runtime: Option<Proc>,
    scripted: Option<JoinHandle<()>>,
    generation: u32,
    needs_init: bool,
    shut_down: bool,
    frozen: bool,
    pending_init_ms: Option<f64>,
    pending_restore_ms: Option<f64>,
    post_runtime: HashMap<String, Vec<f64>>,
    inits: Vec<InitRecord>,
    invocations: Vec<InvocationRecord>,
    ext_reports: Vec<ExtensionReport>,
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn unix_ms(t: SystemTime) -> f64 {
    ms(t.duration_since(UNIX_EPOCH).unwrap_or_default())
}

fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64
}

/// Maps a monotonic instant to wall-clock time.
fn wall(at: Instant) -> SystemTime {
    let now = Instant::now();
    if at <= now {
        SystemTime::now() - (now - at)
    } else {
        SystemTime::now() + (at - now)
    }
}

/// Lists the executables of an extensions folder, in name order (as Lambda starts them).
pub fn extensions_in_dir(dir: &Path) -> Result<Vec<PathBuf>, SimError> {
    let err = |source| SimError::ExtensionsDir { path: dir.to_path_buf(), source };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(err)? {
        let p = entry.map_err(err)?.path();
        if check_executable(&p).is_ok() {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

impl Simulator {
    /// Binds the APIs, starts the extensions and the runtime, and runs the Init phase.
    ///
    /// Errors reported by the processes (`init/error`, crashes, an init timeout) do not make this
    /// fail: they are in [`Simulator::last_init`] and the report, and the next invoke re-runs Init.
    pub async fn start(cfg: SimConfig) -> Result<Simulator, SimError> {
        let mut ext_paths = cfg.extensions.clone();
        if let Some(dir) = &cfg.extensions_dir {
            ext_paths.extend(extensions_in_dir(dir)?);
        }
        for p in &ext_paths {
            check_executable(p).map_err(|reason| SimError::BadExtension { path: p.clone(), reason })?;
        }
        if let FunctionSpec::Process(p) = &cfg.function {
            let resolved = resolve_program(&p.command);
            check_executable(&resolved)
                .map_err(|reason| SimError::Spawn { path: p.command.clone(), source: std::io::Error::other(reason) })?;
        }
        let addr = SocketAddr::from(([127, 0, 0, 1], cfg.runtime_api_port));
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| SimError::Bind { addr, source })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind { addr, source })?;
        let hub = Hub::new(cfg.subscriber_queue_limit_bytes, cfg.record_events);
        let env = Env::new(
            FunctionInfo {
                name: cfg.function_name.clone(),
                version: cfg.function_version.clone(),
                handler: cfg.handler.clone(),
                account_id: cfg.account_id.clone(),
            },
            hub,
            cfg.managed_instances.is_some(),
        );
        let invoke_rx = if cfg.invoke_api {
            let (tx, rx) = mpsc::channel(16);
            *env.invoke_tx.lock().unwrap() = Some(tx);
            Some(rx)
        } else {
            None
        };
        let e2 = env.clone();
        let server = crate::http::serve(listener, move |req| e2.clone().handle(req));
        let mut sim = Simulator {
            cfg,
            env,
            addr,
            server,
            invoke_rx,
            ext_paths,
            exts: Vec::new(),
            runtime: None,
            scripted: None,
            generation: 0,
            needs_init: true,
            shut_down: false,
            frozen: false,
            pending_init_ms: None,
            pending_restore_ms: None,
            post_runtime: HashMap::new(),
            inits: Vec::new(),
            invocations: Vec::new(),
            ext_reports: Vec::new(),
        };
        let phase = if sim.cfg.snap_start { "snap-start" } else { "init" };
        sim.run_init(phase).await?;
        Ok(sim)
    }

    /// The `AWS_LAMBDA_RUNTIME_API` value (`127.0.0.1:PORT`).
    pub fn runtime_api(&self) -> String {
        self.addr.to_string()
    }

    /// The telemetry hub (every event emitted, subscriber statistics).
    pub fn hub(&self) -> &Arc<Hub> {
        &self.env.hub
    }

    /// Every event emitted so far, in order.
    pub fn events(&self) -> Vec<TelemetryEvent> {
        self.env.hub.events()
    }

    /// The most recent init.
    pub fn last_init(&self) -> Option<&InitRecord> {
        self.inits.last()
    }

    /// Pids of the live extension processes, by name.
    pub fn extension_pids(&self) -> Vec<(String, i32)> {
        self.exts.iter().map(|e| (e.name.clone(), e.proc.pid)).collect()
    }

    /// Whether the processes are currently frozen.
    pub fn is_frozen(&self) -> bool {
        self.frozen
    }

    /// The Invoke API's requests (with [`SimConfig::invoke_api`] on), to be passed to
    /// [`Simulator::invoke_with`]. Returns `None` when the API is off or already taken.
    pub fn take_invoke_requests(&mut self) -> Option<mpsc::Receiver<InvokeRequest>> {
        self.invoke_rx.take()
    }

    fn base_env(&self) -> Vec<(String, String)> {
        let c = &self.cfg;
        let mut env: Vec<(String, String)> = vec![
            ("PATH".into(), std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into())),
            ("LANG".into(), "en_US.UTF-8".into()),
            ("TZ".into(), ":UTC".into()),
            ("AWS_LAMBDA_RUNTIME_API".into(), self.runtime_api()),
            ("AWS_LAMBDA_FUNCTION_NAME".into(), c.function_name.clone()),
            ("AWS_LAMBDA_FUNCTION_VERSION".into(), c.function_version.clone()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), c.memory_mb.to_string()),
            ("AWS_LAMBDA_LOG_GROUP_NAME".into(), format!("/aws/lambda/{}", c.function_name)),
            ("AWS_LAMBDA_LOG_STREAM_NAME".into(), format!("sim/[{}]{}", c.function_version, crate::ids::span_id())),
            ("AWS_LAMBDA_INITIALIZATION_TYPE".into(), self.initialization_type().into()),
            ("AWS_REGION".into(), c.region.clone()),
            ("AWS_DEFAULT_REGION".into(), c.region.clone()),
            ("AWS_EXECUTION_ENV".into(), "AWS_Lambda_provided.al2023".into()),
            ("LAMBDA_TASK_ROOT".into(), "/var/task".into()),
            ("LAMBDA_RUNTIME_DIR".into(), "/var/runtime".into()),
        ];
        if c.json_logs {
            env.push(("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into()));
        }
        env.extend(c.env.iter().cloned());
        env
    }

    /// `initializationType` of the init events and `AWS_LAMBDA_INITIALIZATION_TYPE`.
    fn initialization_type(&self) -> &'static str {
        if self.cfg.managed_instances.is_some() {
            "lambda-managed-instances"
        } else if self.cfg.snap_start {
            "snap-start"
        } else {
            "on-demand"
        }
    }

    /// The Init limit: on Managed Instances max(the floor, function timeout), else `init_timeout`.
    fn init_limit(&self) -> Duration {
        match &self.cfg.managed_instances {
            Some(mi) => mi.init_timeout_floor.max(self.cfg.timeout),
            None => self.cfg.init_timeout,
        }
    }

    fn arn(&self) -> String {
        format!("arn:aws:lambda:{}:{}:function:{}", self.cfg.region, self.cfg.account_id, self.cfg.function_name)
    }

    fn output_sink(&self, name: String, function: bool) -> Arc<dyn Fn(String, bool) + Send + Sync> {
        let hub = self.env.hub.clone();
        let echo = self.cfg.echo_output;
        let json = self.cfg.json_logs;
        Arc::new(move |line: String, is_err: bool| {
            if echo {
                eprintln!("[{name}{}] {line}", if is_err { " stderr" } else { "" });
            }
            let rec = if json { json_log_line(&line).unwrap_or(LogRecord::Text(line)) } else { LogRecord::Text(line) };
            hub.emit(if function { EventRecord::Function(rec) } else { EventRecord::ExtensionLog(rec) });
        })
    }

    /// Runs an init phase (`init`, `invoke` for a suppressed init, `snap-start`).
    async fn run_init(&mut self, phase: &str) -> Result<(), SimError> {
        let t0 = Instant::now();
        let deadline = tokio::time::Instant::now() + self.init_limit();
        self.generation += 1;
        self.post_runtime.clear();
        let hub = self.env.hub.clone();
        hub.set_frozen(false);
        hub.open_backlog();
        let names: Vec<String> =
            self.ext_paths.iter().map(|p| p.file_name().unwrap_or_default().to_string_lossy().into_owned()).collect();
        self.env.reset_for_init(names.clone());
        let init_type = self.initialization_type().to_string();
        hub.emit(EventRecord::InitStart(InitStart {
            initialization_type: init_type.clone(),
            phase: phase.into(),
            function_name: self.cfg.function_name.clone(),
            function_version: self.cfg.function_version.clone(),
            instance_id: None,
            instance_max_memory: Some(self.cfg.memory_mb),
            runtime_version: None,
            runtime_version_arn: None,
        }));
        // Extension init: start every extension and wait for all to register.
        let base = self.base_env();
        let mut ext_env = base.clone();
        ext_env.retain(|(k, _)| k != "_HANDLER");
        for (path, name) in self.ext_paths.clone().into_iter().zip(names.iter()) {
            let env = self.env.clone();
            let proc =
                spawn(&path, &[], &ext_env, None, self.output_sink(name.clone(), false), Arc::new(move || env.bump()))
                    .map_err(|source| SimError::Spawn { path: path.clone(), source })?;
            self.exts.push(ExtProc { name: name.clone(), path, proc, shutdown_sent: None, killed: false });
        }
        let exit_flags = self.exit_flags();
        let all_registered = self
            .env
            .wait_until(deadline, |st| {
                st.allowed_names.is_empty()
                    || st.allowed_names.iter().any(|n| exit_flags.iter().any(|(en, f)| en == n && f()))
                    || st.exts.iter().any(|e| e.failed)
            })
            .await;
        let unregistered = self.env.st.lock().unwrap().allowed_names.clone();
        if !all_registered && !unregistered.is_empty() {
            let still_running: Vec<String> = unregistered
                .iter()
                .filter(|n| self.exts.iter().any(|e| &e.name == *n && e.proc.exit_info().is_none()))
                .cloned()
                .collect();
            if !still_running.is_empty() {
                self.kill_all().await;
                hub.close_backlog();
                self.needs_init = true;
                return Err(SimError::NeverRegistered {
                    names: still_running,
                    limit_ms: self.init_limit().as_millis() as u64,
                });
            }
        }
        let mut failure: Option<(String, String)> = None;
        if !unregistered.is_empty() {
            failure = Some(("failure".into(), "Extension.Crash".into()));
        }
        // Runtime init: start the runtime once every extension has registered.
        if failure.is_none() {
            self.start_runtime(&base)?;
            let exit_flags = self.exit_flags();
            let rt_done = self
                .env
                .wait_until(deadline, |st| {
                    let rt_ready = st.rt.next_calls > 0 || st.rt.init_error.is_some() || st.rt.exited;
                    let exts_ready = st
                        .exts
                        .iter()
                        .all(|e| !e.busy || e.failed || exit_flags.iter().any(|(n, f)| *n == e.name && f()));
                    (rt_ready && exts_ready) || st.exts.iter().any(|e| e.failed)
                })
                .await;
            let st = self.env.st.lock().unwrap();
            let ext_exited = st.exts.iter().any(|e| e.busy && exit_flags.iter().any(|(n, f)| *n == e.name && f()));
            failure = if !rt_done {
                Some(("timeout".into(), "Sandbox.Timedout".into()))
            } else if let Some(err) = st.exts.iter().find_map(|e| e.errors.first()) {
                Some(("error".into(), err.error_type.clone()))
            } else if let Some((ty, _)) = &st.rt.init_error {
                Some(("error".into(), ty.clone()))
            } else if st.rt.exited && st.rt.next_calls == 0 {
                Some(("failure".into(), "Runtime.ExitError".into()))
            } else if ext_exited {
                Some(("failure".into(), "Extension.Crash".into()))
            } else {
                None
            };
            // platform.extension for every extension that finished its init.
            for e in st.exts.iter().filter(|e| e.first_next.is_some()) {
                let mut events = Vec::new();
                if e.invoke {
                    events.push("INVOKE".to_string());
                }
                if e.shutdown {
                    events.push("SHUTDOWN".to_string());
                }
                hub.emit_at(
                    wall(e.first_next.unwrap_or(t0)),
                    EventRecord::Extension(ExtensionState { name: e.name.clone(), state: "Ready".into(), events }),
                );
            }
            let rt_time = st.rt.last_next.map(wall).unwrap_or_else(SystemTime::now);
            let (status, error_type) = match &failure {
                None => ("success".to_string(), None),
                Some((s, t)) => (s.clone(), Some(t.clone())),
            };
            hub.emit_at(
                rt_time,
                EventRecord::InitRuntimeDone(PhaseDone {
                    initialization_type: Some(init_type.clone()),
                    phase: Some(phase.into()),
                    status,
                    error_type,
                    spans: None,
                }),
            );
        }
        let duration = t0.elapsed();
        let (status, error_type) = match &failure {
            None => ("success".to_string(), None),
            Some((s, t)) => (s.clone(), Some(t.clone())),
        };
        hub.emit(EventRecord::InitReport(InitReport {
            initialization_type: init_type,
            phase: phase.into(),
            status: status.clone(),
            error_type: error_type.clone(),
            metrics: DurationMetrics { duration_ms: ms(duration) },
            spans: None,
        }));
        hub.close_backlog();
        self.inits.push(InitRecord { phase: phase.into(), status, error_type, duration_ms: ms(duration) });
        self.env.st.lock().unwrap().phase = Phase::Idle;
        if failure.is_some() {
            // Give subscribers a moment to receive the init events before the sandbox is torn down.
            hub.flush_all();
            hub.drained(Duration::from_millis(500)).await;
            self.teardown(ShutdownReason::Failure, false).await;
            self.needs_init = true;
        } else {
            self.needs_init = false;
            self.pending_init_ms = Some(ms(duration));
            if self.cfg.snap_start && phase == "snap-start" {
                self.restore().await;
            }
            self.freeze().await;
        }
        Ok(())
    }

    /// SnapStart: the snapshot is "restored" right away; restore events precede the first invoke.
    async fn restore(&mut self) {
        let t0 = Instant::now();
        let hub = &self.env.hub;
        hub.emit(EventRecord::RestoreStart(RestoreStart {
            function_name: self.cfg.function_name.clone(),
            function_version: self.cfg.function_version.clone(),
            instance_id: None,
            instance_max_memory: Some(self.cfg.memory_mb),
        }));
        hub.emit(EventRecord::RestoreRuntimeDone(PhaseDone {
            initialization_type: None,
            phase: None,
            status: "success".into(),
            error_type: None,
            spans: None,
        }));
        let d = ms(t0.elapsed());
        hub.emit(EventRecord::RestoreReport(RestoreReport {
            status: "success".into(),
            error_type: None,
            metrics: Some(DurationMetrics { duration_ms: d }),
        }));
        self.pending_restore_ms = Some(d);
    }

    /// Closures telling whether each extension process has exited.
    fn exit_flags(&self) -> Vec<(String, impl Fn() -> bool)> {
        self.exts
            .iter()
            .map(|e| {
                let rx = e.proc.exit_flag();
                (e.name.clone(), move || *rx.borrow())
            })
            .collect()
    }

    fn start_runtime(&mut self, base: &[(String, String)]) -> Result<(), SimError> {
        match self.cfg.function.clone() {
            FunctionSpec::Process(p) => {
                let mut env = base.to_vec();
                env.push(("_HANDLER".into(), self.cfg.handler.clone()));
                if let Some(dir) = &p.working_dir {
                    env.retain(|(k, _)| k != "LAMBDA_TASK_ROOT");
                    env.push(("LAMBDA_TASK_ROOT".into(), dir.display().to_string()));
                }
                let e = self.env.clone();
                let proc = spawn(
                    &p.command,
                    &p.args,
                    &env,
                    p.working_dir.as_deref(),
                    self.output_sink("function".into(), true),
                    Arc::new(move || {
                        e.hub.flush_all();
                        e.runtime_exited()
                    }),
                )
                .map_err(|source| SimError::Spawn { path: p.command.clone(), source })?;
                self.runtime = Some(proc);
            }
            FunctionSpec::Scripted(s) => {
                let env = self.env.clone();
                let echo = self.cfg.echo_output;
                let workers = self.cfg.managed_instances.as_ref().map_or(1, |mi| mi.concurrency.max(1));
                self.scripted = Some(tokio::spawn(scripted_runtime(env, s, echo, workers)));
            }
        }
        Ok(())
    }

    async fn freeze(&mut self) {
        // Managed Instances environments are never frozen.
        if !self.cfg.freeze || self.frozen || self.cfg.managed_instances.is_some() {
            return;
        }
        // Delivery stops first: Lambda sends nothing to a frozen sandbox.
        self.env.hub.set_frozen(true);
        self.env.hub.quiesce(Duration::from_millis(500)).await;
        for p in self.procs() {
            p.signal(libc::SIGSTOP);
        }
        // SIGSTOP takes effect asynchronously; the freeze is complete once every process shows it.
        for p in self.procs() {
            p.wait_stopped(Duration::from_millis(500)).await;
        }
        self.frozen = true;
    }

    fn thaw(&mut self) {
        if !self.frozen {
            return;
        }
        for p in self.procs() {
            p.signal(libc::SIGCONT);
        }
        self.env.hub.set_frozen(false);
        self.frozen = false;
    }

    fn procs(&self) -> Vec<&Proc> {
        self.exts.iter().map(|e| &e.proc).chain(self.runtime.iter()).collect()
    }

    /// Runs one invocation through its whole invoke phase.
    pub async fn invoke(&mut self, inv: Invocation) -> Result<Outcome, SimError> {
        self.invoke_with(inv, None).await
    }

    /// Like [`Simulator::invoke`], also sending the response to `early` as soon as the runtime
    /// posts it (what the Invoke API's caller gets).
    pub async fn invoke_with(
        &mut self,
        inv: Invocation,
        mut early: Option<oneshot::Sender<EarlyResponse>>,
    ) -> Result<Outcome, SimError> {
        if self.shut_down {
            return Err(SimError::ShutDown);
        }
        if self.cfg.managed_instances.is_some() {
            let mut outcomes = self.run_concurrently(vec![(inv, early)]).await?;
            return outcomes.pop().ok_or(SimError::ShutDown);
        }
        let t0 = Instant::now();
        let mut suppressed = false;
        if self.needs_init {
            suppressed = true;
            self.run_init("invoke").await?;
        }
        self.thaw();
        let request_id = crate::ids::uuid();
        let trace = inv.trace_header.clone().unwrap_or_else(crate::ids::trace_header);
        let start_wall = SystemTime::now();
        let deadline_wall = start_wall + self.cfg.timeout;
        let deadline = tokio::time::Instant::now() + self.cfg.timeout;
        let tracing = |span: &str| {
            Some(TraceContext { span_id: Some(span.to_string()), kind: "X-Amzn-Trace-Id".into(), value: trace.clone() })
        };
        let span = crate::ids::span_id();
        if self.needs_init {
            // The suppressed init failed: the invocation fails without reaching the runtime.
            let err = self.inits.last().and_then(|i| i.error_type.clone()).unwrap_or("Runtime.Unknown".into());
            let body = json!({"errorType": err, "errorMessage": "the execution environment failed to initialise"});
            if let Some(tx) = early {
                let _ =
                    tx.send(EarlyResponse { body: body.to_string().into(), function_error: Some("Unhandled".into()) });
            }
            return Ok(self.record(Outcome {
                request_id,
                status: "failure".into(),
                error_type: Some(err),
                response: Some(body.to_string().into()),
                response_ms: Some(ms(t0.elapsed())),
                runtime_ms: None,
                invoke_phase_ms: ms(t0.elapsed()),
                post_runtime_ms: Vec::new(),
                suppressed_init: suppressed,
                trace_header: trace,
                end_unix_ms: unix_ms(SystemTime::now()),
            }));
        }
        let hub = self.env.hub.clone();
        hub.emit(EventRecord::Start(Start {
            request_id: request_id.clone(),
            version: Some(self.cfg.function_version.clone()),
            function_arn: None,
            tracing: tracing(&span),
        }));
        let invoke_event = json!({
            "eventType": "INVOKE",
            "deadlineMs": epoch_ms(deadline_wall),
            "requestId": request_id,
            "invokedFunctionArn": self.arn(),
            "tracing": {"type": "X-Amzn-Trace-Id", "value": trace},
        });
        let t_start = Instant::now();
        let rt_next_before;
        {
            let mut st = self.env.st.lock().unwrap();
            st.phase = Phase::Invoke;
            st.rt.in_flight.insert(request_id.clone());
            rt_next_before = st.rt.next_calls;
            for e in st.exts.iter_mut().filter(|e| e.invoke && !e.failed) {
                e.busy = true;
                let _ = e.tx.send(invoke_event.clone());
            }
            let _ = st.rt.tx.send(PendingInvoke {
                request_id: request_id.clone(),
                payload: inv.payload.clone(),
                deadline_ms: epoch_ms(deadline_wall),
                arn: self.arn(),
                trace: trace.clone(),
                client_context: inv.client_context.clone(),
                script: Some(inv.script.clone()),
            });
        }
        self.env.bump();
        // Wait for the response (or crash, or timeout).
        self.env.wait_until(deadline, |st| st.rt.results.contains_key(&request_id) || st.rt.exited).await;
        let (result, crashed) = {
            let mut st = self.env.st.lock().unwrap();
            st.rt.in_flight.remove(&request_id);
            (st.rt.results.remove(&request_id), st.rt.exited)
        };
        let (mut response, mut response_ms, mut function_error, mut resp_at) = (None, None, None, None);
        if let Some((at, r)) = &result {
            let (body, fe) = match r {
                RuntimeResult::Response(b) => (b.clone(), None),
                RuntimeResult::Error { error_type, body } => (body.clone(), Some(error_type.clone())),
            };
            response_ms = Some(ms(at.duration_since(t_start)));
            resp_at = Some(*at);
            function_error = fe.clone();
            if let Some(tx) = early.take() {
                let _ = tx.send(EarlyResponse { body: body.clone(), function_error: fe.map(|_| "Unhandled".into()) });
            }
            response = Some(body);
        }
        // The runtime is done when it calls next again.
        let rt_done = self.env.wait_until(deadline, |st| st.rt.next_calls > rt_next_before || st.rt.exited).await
            && !crashed
            && !self.env.st.lock().unwrap().rt.exited;
        let crashed = self.env.st.lock().unwrap().rt.exited;
        let timed_out = !rt_done && !crashed;
        let rt_done_at = if rt_done { self.env.st.lock().unwrap().rt.last_next } else { None };
        let runtime_end = rt_done_at.unwrap_or_else(Instant::now);
        let (rt_status, rt_error) = if timed_out {
            ("timeout", Some("Sandbox.Timedout".to_string()))
        } else if crashed {
            ("failure", Some("Runtime.ExitError".to_string()))
        } else if let Some(t) = &function_error {
            ("error", Some(t.clone()))
        } else {
            ("success", None)
        };
        if timed_out {
            hub.emit(EventRecord::Function(LogRecord::Text(format!(
                "{} {} Task timed out after {:.2} seconds",
                iso8601(SystemTime::now()),
                request_id,
                self.cfg.timeout.as_secs_f64()
            ))));
        }
        let mut spans = Vec::new();
        if let Some(at) = resp_at {
            spans.push(PlatformSpan {
                name: "responseLatency".into(),
                start: iso8601(wall(t_start)),
                duration_ms: ms(at.duration_since(t_start)),
            });
            spans.push(PlatformSpan { name: "responseDuration".into(), start: iso8601(wall(at)), duration_ms: 0.0 });
            spans.push(PlatformSpan {
                name: "runtimeOverhead".into(),
                start: iso8601(wall(at)),
                duration_ms: ms(runtime_end.saturating_duration_since(at)),
            });
        }
        let runtime_ms = ms(runtime_end.duration_since(t_start));
        hub.emit_at(
            wall(runtime_end),
            EventRecord::RuntimeDone(RuntimeDone {
                request_id: request_id.clone(),
                status: rt_status.into(),
                error_type: rt_error.clone(),
                metrics: Some(RuntimeDoneMetrics {
                    duration_ms: runtime_ms,
                    produced_bytes: response.as_ref().map(|b| b.len() as u64),
                }),
                spans: (!spans.is_empty()).then_some(spans),
                tracing: tracing(&span),
            }),
        );
        if crashed {
            hub.flush_all();
        }
        // The invoke phase ends when every extension has called next too.
        let exit_flags = self.exit_flags();
        let exts_done = self
            .env
            .wait_until(deadline, |st| {
                st.exts.iter().all(|e| !e.busy || e.failed || exit_flags.iter().any(|(n, f)| *n == e.name && f()))
            })
            .await;
        let end = Instant::now();
        let mut post = Vec::new();
        let mut ext_crash = false;
        {
            let st = self.env.st.lock().unwrap();
            for e in st.exts.iter().filter(|e| e.invoke) {
                if !e.busy {
                    if let Some(last) = e.last_next {
                        let d = ms(last.saturating_duration_since(runtime_end));
                        post.push((e.name.clone(), d));
                        self.post_runtime.entry(e.name.clone()).or_default().push(d);
                    }
                } else if exts_done {
                    ext_crash = true;
                }
            }
        }
        let timed_out = timed_out || !exts_done;
        let (status, error_type) = if timed_out {
            ("timeout".to_string(), Some("Sandbox.Timedout".to_string()))
        } else if crashed {
            ("failure".to_string(), rt_error)
        } else if ext_crash {
            ("failure".to_string(), Some("Extension.Crash".to_string()))
        } else {
            (rt_status.to_string(), rt_error)
        };
        if let Some(tx) = early.take() {
            // No response was posted: the caller gets the error Lambda answers with.
            let message = if timed_out {
                format!(
                    "RequestId: {request_id} Error: Task timed out after {:.2} seconds",
                    self.cfg.timeout.as_secs_f64()
                )
            } else {
                format!("RequestId: {request_id} Error: Runtime exited without providing a reason")
            };
            let body = json!({"errorType": error_type.clone().unwrap_or_default(), "errorMessage": message});
            let _ = tx.send(EarlyResponse { body: body.to_string().into(), function_error: Some("Unhandled".into()) });
        }
        let duration = end.duration_since(t_start);
        let memory = inv.script.memory_used_mb.unwrap_or_else(|| {
            let kb: u64 = self.procs().iter().map(|p| p.peak_rss_kb()).sum();
            kb.div_ceil(1024)
        });
        hub.emit(EventRecord::Report(crate::events::Report {
            request_id: request_id.clone(),
            status: status.clone(),
            error_type: error_type.clone(),
            metrics: ReportMetrics {
                duration_ms: ms(duration),
                billed_duration_ms: Some((duration.as_secs_f64() * 1000.0).ceil() as u64),
                memory_size_mb: Some(self.cfg.memory_mb),
                max_memory_used_mb: Some(memory),
                init_duration_ms: self.pending_init_ms.take(),
                restore_duration_ms: self.pending_restore_ms.take(),
            },
            spans: Some(vec![PlatformSpan {
                name: "extensionOverhead".into(),
                start: iso8601(wall(runtime_end)),
                duration_ms: ms(end.saturating_duration_since(runtime_end)),
            }]),
            tracing: tracing(&span),
        }));
        self.env.st.lock().unwrap().phase = Phase::Idle;
        let outcome = Outcome {
            request_id,
            status: status.clone(),
            error_type,
            response,
            response_ms,
            runtime_ms: rt_done.then_some(runtime_ms),
            invoke_phase_ms: ms(duration),
            post_runtime_ms: post,
            suppressed_init: suppressed,
            trace_header: trace,
            end_unix_ms: unix_ms(wall(end)),
        };
        if status == "timeout" || status == "failure" {
            let reason = if status == "timeout" { ShutdownReason::Timeout } else { ShutdownReason::Failure };
            self.teardown(reason, true).await;
            self.needs_init = true;
        } else {
            self.freeze().await;
        }
        Ok(self.record(outcome))
    }

    fn record(&mut self, o: Outcome) -> Outcome {
        self.invocations.push(InvocationRecord {
            request_id: o.request_id.clone(),
            status: o.status.clone(),
            error_type: o.error_type.clone(),
            response_ms: o.response_ms,
            runtime_ms: o.runtime_ms,
            invoke_phase_ms: o.invoke_phase_ms,
            post_runtime_ms: o.post_runtime_ms.iter().cloned().collect(),
            end_unix_ms: o.end_unix_ms,
        });
        o
    }

    /// SIGKILLs everything at once (used when init cannot proceed).
    async fn kill_all(&mut self) {
        self.thaw();
        for p in self.procs() {
            p.signal(libc::SIGKILL);
        }
        for e in &mut self.exts {
            e.killed = e.proc.exit_info().is_none();
        }
        self.collect().await;
    }

    /// Shuts the current environment down: SIGTERM and up to the runtime budget for the runtime,
    /// SHUTDOWN to extensions registered for it, SIGKILL to whatever is left at the deadline.
    async fn teardown(&mut self, reason: ShutdownReason, graceful: bool) -> Option<f64> {
        let t0 = Instant::now();
        self.thaw();
        self.env.st.lock().unwrap().phase = Phase::Shutdown;
        let budget = if self.exts.is_empty() { Duration::ZERO } else { self.cfg.shutdown_budget };
        let deadline_wall = SystemTime::now() + budget;
        let deadline = t0 + budget;
        if let Some(task) = self.scripted.take() {
            task.abort();
        }
        if let Some(rt) = &self.runtime {
            rt.signal(libc::SIGTERM);
            let rt_budget = if graceful { self.cfg.runtime_shutdown_budget.min(budget) } else { Duration::ZERO };
            if !rt.wait_exit(rt_budget).await {
                rt.signal(libc::SIGKILL);
                rt.wait_exit(Duration::from_secs(2)).await;
            }
        }
        self.env.hub.flush_all();
        let shutdown_event =
            json!({"eventType": "SHUTDOWN", "shutdownReason": reason.wire(), "deadlineMs": epoch_ms(deadline_wall)});
        {
            let st = self.env.st.lock().unwrap();
            for ep in &mut self.exts {
                let slot = st.exts.iter().find(|s| s.name == ep.name);
                match slot {
                    Some(s) if s.shutdown && graceful && !s.failed => {
                        let _ = s.tx.send(shutdown_event.clone());
                        ep.shutdown_sent = Some(Instant::now());
                    }
                    _ => {
                        // Not registered for SHUTDOWN: nothing to wait for.
                        ep.proc.signal(libc::SIGKILL);
                        ep.killed = ep.proc.exit_info().is_none();
                        ep.shutdown_sent = Some(Instant::now());
                    }
                }
            }
        }
        for ep in &self.exts {
            ep.proc.wait_exit(deadline.saturating_duration_since(Instant::now())).await;
        }
        for ep in &mut self.exts {
            if ep.proc.exit_info().is_none() {
                ep.proc.signal(libc::SIGKILL);
                ep.killed = true;
            }
        }
        self.collect().await;
        Some(ms(t0.elapsed()))
    }

    /// Waits for every process to be reaped and moves the extension figures into the report.
    async fn collect(&mut self) {
        for p in self.procs() {
            p.wait_exit(Duration::from_secs(5)).await;
        }
        let st = self.env.st.lock().unwrap();
        for ep in self.exts.drain(..) {
            let slot = st.exts.iter().find(|s| s.name == ep.name);
            let exit = ep.proc.exit_info();
            let subscription = slot.and_then(|s| s.subscription.as_ref()).map(|(logs, sub)| {
                use std::sync::atomic::Ordering::Relaxed;
                let schema = match &sub.request.schema {
                    Schema::Telemetry(v) | Schema::Logs(v) => v.clone(),
                };
                SubscriptionReport {
                    api: if *logs { "logs" } else { "telemetry" }.into(),
                    schema_version: schema,
                    types: sub.request.types.clone(),
                    buffering: sub.request.buffering,
                    delivered: sub.stats.delivered.load(Relaxed),
                    dropped: sub.stats.dropped.load(Relaxed),
                    batches: sub.stats.batches.load(Relaxed),
                    failed_attempts: sub.stats.failed_attempts.load(Relaxed),
                    rejected_attempts: sub.stats.rejected_attempts.load(Relaxed),
                }
            });
            let mut events = Vec::new();
            if slot.is_some_and(|s| s.invoke) {
                events.push("INVOKE".into());
            }
            if slot.is_some_and(|s| s.shutdown) {
                events.push("SHUTDOWN".into());
            }
            self.ext_reports.push(ExtensionReport {
                name: ep.name.clone(),
                path: ep.path.clone(),
                generation: self.generation,
                pid: ep.proc.pid,
                registered: slot.is_some(),
                events,
                time_to_first_next_ms: slot.and_then(|s| s.first_next).map(|t| ms(t.duration_since(ep.proc.started))),
                post_runtime_ms: self.post_runtime.remove(&ep.name).unwrap_or_default(),
                peak_rss_kb: exit.as_ref().map(|e| e.max_rss_kb).unwrap_or(0),
                cpu_ms: exit.as_ref().map(|e| ms(e.cpu)).unwrap_or(0.0),
                shutdown_ms: match (ep.shutdown_sent, &exit) {
                    (Some(s), Some(e)) => Some(ms(e.at.saturating_duration_since(s))),
                    _ => None,
                },
                exit_status: exit.map(|e| e.status),
                killed: ep.killed,
                errors: slot.map(|s| s.errors.clone()).unwrap_or_default(),
                subscription,
            });
        }
        drop(st);
        self.env.hub.clear();
    }

    /// Shuts the environment down and returns the full report.
    pub async fn shutdown(mut self, reason: ShutdownReason) -> Result<Report, SimError> {
        if self.shut_down {
            return Err(SimError::ShutDown);
        }
        self.shut_down = true;
        let (shutdown_ms, runtime_exit) = if self.needs_init {
            (None, None)
        } else {
            let d = self.teardown(reason, true).await;
            (d, self.runtime.as_ref().and_then(|r| r.exit_info()).map(|e| e.status))
        };
        self.server.abort();
        let (delivered, dropped) = self.delivery_totals();
        Ok(Report {
            function_name: self.cfg.function_name.clone(),
            memory_mb: self.cfg.memory_mb,
            timeout_ms: self.cfg.timeout.as_millis() as u64,
            freeze: self.cfg.freeze && self.cfg.managed_instances.is_none(),
            managed_instances: self.cfg.managed_instances.as_ref().map(|mi| mi.concurrency),
            inits: self.inits.clone(),
            invocations: self.invocations.clone(),
            extensions: self.ext_reports.clone(),
            shutdown_ms,
            shutdown_reason: Some(reason),
            runtime_exit,
            events_delivered: delivered,
            events_dropped: dropped,
            events: self.env.hub.events(),
        })
    }

    fn delivery_totals(&self) -> (u64, u64) {
        self.ext_reports
            .iter()
            .filter_map(|e| e.subscription.as_ref())
            .fold((0, 0), |(d, x), s| (d + s.delivered, x + s.dropped))
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        // Never leave stopped or running children behind.
        for p in self.procs() {
            p.signal(libc::SIGKILL);
        }
        self.server.abort();
        if let Some(t) = &self.scripted {
            t.abort();
        }
    }
}

/// Reads a JSON-format log line (`{"timestamp","level","requestId","message",...}`) as written
/// by runtimes when the log format is JSON; `None` for anything else.
fn json_log_line(line: &str) -> Option<LogRecord> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let obj = v.as_object()?;
    let text = |k: &str| obj.get(k).and_then(|x| x.as_str()).map(str::to_string);
    let message = match obj.get("message") {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => line.to_string(),
    };
    Some(LogRecord::Json(JsonLogRecord {
        timestamp: text("timestamp").unwrap_or_else(|| iso8601(SystemTime::now())),
        level: text("level").unwrap_or_else(|| "INFO".into()),
        request_id: text("requestId").or_else(|| text("AWSRequestId")),
        message,
    }))
}

/// Resolves a bare program name through PATH.
fn resolve_program(cmd: &Path) -> PathBuf {
    if cmd.components().count() > 1 {
        return cmd.to_path_buf();
    }
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join(cmd)).find(|p| p.is_file()))
        .unwrap_or_else(|| cmd.to_path_buf())
}

/// The built-in function: its init, then `workers` runtime loops (one on-demand; one per
/// concurrent invocation on Managed Instances) running each invocation's script.
async fn scripted_runtime(env: Arc<Env>, spec: ScriptedFunction, echo: bool, workers: usize) {
    tokio::time::sleep(spec.init_duration).await;
    if let Some(ty) = spec.init_error {
        {
            let mut st = env.st.lock().unwrap();
            let body = json!({"errorType": ty, "errorMessage": "scripted init failure"});
            st.rt.init_error = Some((ty, body.to_string().into()));
        }
        env.bump();
        return;
    }
    if workers == 1 {
        return scripted_worker(env, echo, false).await;
    }
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..workers {
        // Concurrent invocations write their lines over their whole duration, so they interleave.
        set.spawn(scripted_worker(env.clone(), echo, true));
    }
    // Dropping the set (when this task is aborted at shutdown) aborts the workers too.
    while set.join_next().await.is_some() {}
}

/// One runtime worker: `next`, run the script, post the result, repeat.
async fn scripted_worker(env: Arc<Env>, echo: bool, spread_logs: bool) {
    while let Some(inv) = env.runtime_next().await {
        let script = inv.script.unwrap_or_default();
        let gap = script.duration / (script.logs.len() as u32 + 1);
        for line in &script.logs {
            if spread_logs {
                tokio::time::sleep(gap).await;
            }
            if echo {
                eprintln!("[function] {line:?}");
            }
            let rec = match line {
                LogLine::Text(t) | LogLine::Stderr(t) => LogRecord::Text(t.clone()),
                LogLine::Json { level, message } => LogRecord::Json(JsonLogRecord {
                    timestamp: iso8601(SystemTime::now()),
                    level: level.clone(),
                    request_id: Some(inv.request_id.clone()),
                    message: message.clone(),
                }),
            };
            env.hub.emit(EventRecord::Function(rec));
        }
        let spent = if spread_logs { gap * script.logs.len() as u32 } else { Duration::ZERO };
        tokio::time::sleep(script.duration.saturating_sub(spent)).await;
        match script.result {
            ScriptResult::Ok(body) => {
                env.runtime_result(&inv.request_id, RuntimeResult::Response(body.into()));
            }
            ScriptResult::Error { error_type, message } => {
                let body = json!({"errorType": error_type, "errorMessage": message, "stackTrace": []});
                env.runtime_result(&inv.request_id, RuntimeResult::Error { error_type, body: body.to_string().into() });
            }
            ScriptResult::Timeout => std::future::pending::<()>().await,
            ScriptResult::Crash => {
                env.hub.emit(EventRecord::Function(LogRecord::Text(format!(
                    "RequestId: {} Error: Runtime exited with error: exit status 1",
                    inv.request_id
                ))));
                env.hub.flush_all();
                env.runtime_exited();
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_log_lines() {
        let rec = json_log_line(r#"{"timestamp":"t","level":"WARN","requestId":"r","message":"m","x":1}"#).unwrap();
        assert_eq!(
            rec,
            LogRecord::Json(JsonLogRecord {
                timestamp: "t".into(),
                level: "WARN".into(),
                request_id: Some("r".into()),
                message: "m".into()
            })
        );
        let LogRecord::Json(j) = json_log_line(r#"{"message":{"a":1}}"#).unwrap() else { panic!() };
        assert_eq!((j.level.as_str(), j.message.as_str(), j.request_id), ("INFO", r#"{"a":1}"#, None));
        assert_eq!(json_log_line("plain text"), None);
        assert_eq!(json_log_line("[1,2]"), None);
    }

    #[test]
    fn wall_clock_mapping_and_rounding() {
        assert_eq!(ms(Duration::from_micros(1_234_567)), 1234.567);
        let now = Instant::now();
        let diff = SystemTime::now().duration_since(wall(now)).unwrap_or_default();
        assert!(diff < Duration::from_secs(1));
        assert_eq!(ShutdownReason::Timeout.wire(), "TIMEOUT");
    }
}
