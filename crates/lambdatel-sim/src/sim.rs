//! The controller: runs the Init, Invoke and Shutdown phases of one execution environment,
//! starts the extension and runtime processes, freezes them between invocations, emits the
//! platform events in Lambda's order and measures everything for the [`Report`].

use crate::api::{Env, FunctionInfo, InvokeRequest, PendingInvoke, Phase, RuntimeResult};
use crate::events::*;
use crate::process::{check_executable, spawn, Proc};
use crate::telemetry::Hub;
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

mod init;
mod invoke;
mod managed;
mod scripted;
mod shutdown;
mod types;

pub use managed::ManagedInstances;
use scripted::scripted_runtime;
pub use types::{
    EarlyResponse, ExtensionReport, FunctionSpec, InitRecord, Invocation, InvocationRecord, LogLine, Outcome,
    ProcessFunction, Report, Script, ScriptResult, ScriptedFunction, ShutdownReason, SimConfig, SimError,
    SubscriptionReport,
};

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
        let env = self.env.clone();
        let echo = self.cfg.echo_output || (self.cfg.echo_extension_output && !function);
        let json = self.cfg.json_logs;
        Arc::new(move |line: String, is_err: bool| {
            if echo {
                eprintln!("[{name}{}] {line}", if is_err { " stderr" } else { "" });
            }
            let rec = if json { json_log_line(&line).unwrap_or(LogRecord::Text(line)) } else { LogRecord::Text(line) };
            if function {
                // A line read after the runtime's `next` but before its `runtimeDone` was written before that
                // `next`: it is stamped no later than the `runtimeDone`, as Lambda orders them.
                let cap = env.st.lock().unwrap().rt.output_cap;
                let now = SystemTime::now();
                env.hub.emit_at(cap.map_or(now, |cap| cap.min(now)), EventRecord::Function(rec));
            } else {
                env.hub.emit(EventRecord::ExtensionLog(rec));
            }
        })
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
                let generation = e.st.lock().unwrap().rt.generation;
                let proc = spawn(
                    &p.command,
                    &p.args,
                    &env,
                    p.working_dir.as_deref(),
                    self.output_sink("function".into(), true),
                    Arc::new(move || {
                        e.hub.flush_all();
                        e.runtime_of_generation_exited(generation)
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
