//! The simulator's public types: its configuration, invocations and their outcomes, and the report.

use super::ManagedInstances;
use crate::events::TelemetryEvent;
use crate::process::ExitStatus;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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
    /// Copy the extensions' output alone (not the function's): what a failing test should show.
    pub echo_extension_output: bool,
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
            echo_extension_output: false,
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
    pub(crate) fn wire(self) -> &'static str {
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
