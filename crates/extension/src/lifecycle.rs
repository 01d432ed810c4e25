//! The extension's life in Lambda: start-up (config, listeners, register, subscribe), the invoke loop
//! (next -> runtimeDone -> flush -> next, or one of the other flush strategies) and shutdown (drain, flush,
//! exit before the deadline).
//!
//! The order is what keeps data safe: a flush completes before the extension asks for the next event,
//! because Lambda may freeze the sandbox as soon as every process has called `next`.

use std::{process::ExitCode, time::Duration};

use lambdatel_components::{
    receivers::{
        runtime::{self as receivers, Receivers},
        telemetry_api::convert::{InvokeContext, ResourceInfo},
    },
    Graph, Registry,
};
use tokio::time::Instant;

use crate::{
    api::{until_epoch_ms, ApiError, ExtensionsApi, NextEvent},
    config_source,
    flush::{FlushPolicy, Load, Plan},
    log,
    self_telemetry::{SelfTelemetry, Snapshot},
    settings::Settings,
};

/// Looks up an environment variable.
pub type EnvLookup = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Everything the extension reads from its environment, injectable for tests.
pub struct Environment {
    /// The environment variables.
    pub vars: EnvLookup,
    /// The extension's name: the file name Lambda started it from.
    pub name: String,
}

impl Environment {
    /// The process's own environment and name.
    pub fn from_process() -> Self {
        let name = std::env::args_os()
            .next()
            .map(std::path::PathBuf::from)
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "lambdatel".into());
        Environment { vars: Box::new(|k| std::env::var(k).ok()), name }
    }
}

/// Runs the extension until SHUTDOWN or a fatal error.
pub async fn run(registry: Registry, environment: Environment) -> ExitCode {
    let env = &*environment.vars;
    let Some(api_addr) = env("AWS_LAMBDA_RUNTIME_API") else {
        log::error("AWS_LAMBDA_RUNTIME_API is not set: lambdatel runs as a Lambda extension. Use `lambdatel validate` to check a config, or run it under lambdatel-sim.");
        return ExitCode::from(2);
    };
    let mut api = ExtensionsApi::new(api_addr);

    // Prepare everything that can fail before registering, but report failures only after registering:
    // init/error needs the extension id.
    let source = config_source::choose(env);
    let prepared = prepare(&source, &registry, env).await;

    let registration = match api.register(&environment.name).await {
        Ok(r) => r,
        Err(e) => {
            log::error(&format!("cannot register with Lambda: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let (settings, graph, bound) = match prepared {
        Ok(p) => p,
        Err((error_type, message)) => return fail_init(&api, error_type, &message).await,
    };

    let mut resource = ResourceInfo::from_env(|k| env(k));
    resource.account_id = resource.account_id.or(registration.account_id.clone());
    if resource.function_name.is_none() {
        resource.function_name = registration.function_name.clone();
    }
    let memory_mb = resource.memory_mb;
    let receivers = Receivers::start(bound, resource);
    let mut graph = graph;
    // Half of the memory bound for what receivers hold until a flush, half for undelivered data.
    let memory_limit = settings.memory_limit_bytes(memory_mb);
    receivers.set_memory_budget(memory_limit / 2);
    graph.set_queue_budget(memory_limit / 2);
    if let Some(telemetry) = receivers.telemetry_api() {
        let (path, body) = telemetry.config().subscription(telemetry.local_addr().port());
        if let Err(e) = api.subscribe(path, &body).await {
            let message = format!("the subscription to {path} was refused: {e}");
            return fail_init(&api, "Extension.SubscribeFailed", &message).await;
        }
    }
    log::info(&format!("ready: config from {source}; {}", graph.describe().join("; ")));

    let mut extension = Extension {
        policy: FlushPolicy::new(settings.flush.clone(), Instant::now()),
        settings,
        graph,
        receivers,
        export_warnings: log::RateLimit::new(),
        self_telemetry: SelfTelemetry::new(Duration::from_secs(10)),
        memory_limit,
        received_at_last_invoke: 0,
    };
    extension.serve(&api).await
}

/// The state of a running extension process.
struct Extension {
    settings: Settings,
    graph: Graph,
    receivers: Receivers,
    policy: FlushPolicy,
    export_warnings: log::RateLimit,
    self_telemetry: SelfTelemetry,
    /// The memory bound in bytes (half for receivers, half for exporter queues).
    memory_limit: usize,
    /// Bytes the receivers had taken in at the previous INVOKE.
    received_at_last_invoke: u64,
}

impl Extension {
    /// The invoke loop. The next-event long-poll is awaited to completion every time: never cancelled,
    /// never duplicated.
    async fn serve(&mut self, api: &ExtensionsApi) -> ExitCode {
        let mut next_failures = 0u32;
        loop {
            let event = match api.next().await {
                Ok(event) => {
                    next_failures = 0;
                    event
                }
                Err(e) => {
                    next_failures += 1;
                    // Lambda's answers (403, 500) mean "exit promptly"; a transient connection failure gets a
                    // few retries.
                    if matches!(e, ApiError::Status { .. }) || next_failures > 3 {
                        log::error(&format!("stopping: {e}"));
                        self.shutdown(Instant::now() + Duration::from_millis(500)).await;
                        let _ = api.exit_error("Extension.NextFailed", &e.to_string()).await;
                        return ExitCode::FAILURE;
                    }
                    log::error(&format!("{e}; retrying"));
                    tokio::time::sleep(Duration::from_millis(50 * u64::from(next_failures))).await;
                    continue;
                }
            };
            match event {
                NextEvent::Invoke { request_id, deadline_ms, invoked_function_arn, tracing_value } => {
                    self.receivers.on_invoke(InvokeContext {
                        request_id: request_id.clone(),
                        invoked_function_arn,
                        tracing_value,
                        deadline_ms,
                    });
                    let load = self.load();
                    let plan = self.policy.on_invoke(Instant::now(), load);
                    self.invoke(&request_id, deadline_ms, plan).await;
                }
                NextEvent::Shutdown { reason, deadline_ms } => {
                    let deadline = match deadline_ms {
                        Some(ms) => Instant::now() + until_epoch_ms(ms).saturating_sub(self.settings.shutdown_margin),
                        None => Instant::now() + Duration::from_millis(1500),
                    };
                    log::info(&format!("shutdown ({reason})"));
                    self.shutdown(deadline).await;
                    return ExitCode::SUCCESS;
                }
            }
        }
    }

    /// The telemetry coming in, for the flush policy: bytes received since the previous INVOKE (that is,
    /// during the previous invocation) and what is held against the memory bound.
    fn load(&mut self) -> Load {
        let (received, held) = self.receivers.volume();
        let last_invocation_bytes = received.saturating_sub(self.received_at_last_invoke);
        self.received_at_last_invoke = received;
        let heavy_bytes = self.receivers.telemetry_api().map_or(262_144, |t| u64::from(t.config().buffering.max_bytes));
        Load { last_invocation_bytes, heavy_bytes, held_bytes: held, held_limit: self.memory_limit / 2 }
    }

    /// Handles one invocation according to the flush plan; returns when the extension may ask for the next
    /// event.
    async fn invoke(&mut self, request_id: &str, deadline_ms: Option<u64>, plan: Plan) {
        if plan.flush_at_start {
            self.flush().await;
        }
        let mut wait = self.settings.runtime_done_timeout;
        if let Some(deadline) = deadline_ms {
            wait = wait.min(until_epoch_ms(deadline));
        }
        let runtime_done_by = Instant::now() + wait;
        if plan.flush_at_end {
            self.receivers.wait_runtime_done(request_id, runtime_done_by).await;
            self.flush().await;
        } else if let Some(interval) = plan.background {
            // Flush every interval while the function runs. A flush that has started completes before the
            // extension asks for the next event, since this task awaits it.
            loop {
                let tick = (Instant::now() + interval).min(runtime_done_by);
                let done = tokio::time::timeout_at(tick, self.receivers.wait_runtime_done(request_id, runtime_done_by));
                if done.await.is_ok() || Instant::now() >= runtime_done_by {
                    break;
                }
                self.flush().await;
            }
        }
    }

    /// Moves what receivers hold into the pipelines and exports within the flush budget.
    async fn flush(&mut self) {
        self.receivers.collect(&mut self.graph);
        self.collect_self_telemetry(false);
        let report = self.graph.export(Instant::now() + self.settings.flush_budget).await;
        self.policy.flushed(Instant::now());
        for problem in &report.problems {
            log::warn_limited(&self.export_warnings, &problem.to_string());
        }
    }

    /// Adds the extension's own counters to the metrics pipelines when they changed (see `self_telemetry`).
    fn collect_self_telemetry(&mut self, force: bool) {
        // While a backend holds data back, a new snapshot would only queue behind the last one (each is
        // cumulative, so the latest says it all): wait until the queues drain, or shutdown.
        if !self.settings.self_telemetry || (!force && self.graph.pending_items() > 0) {
            return;
        }
        let (events_accepted, events_skipped, logs_dropped_memory) = self.receivers.counters();
        let snapshot = Snapshot {
            exporters: self.graph.counters().into_iter().map(|(e, s, c)| (e, s.to_string(), c)).collect(),
            queued: self.graph.queued(),
            breaker_open_ms: self
                .graph
                .breaker_open()
                .into_iter()
                .map(|(exporter, open, _)| (exporter, open.as_millis() as u64))
                .collect(),
            events_accepted,
            events_skipped,
            logs_dropped_memory,
        };
        let telemetry = &mut self.self_telemetry;
        self.receivers.dispatch_self_telemetry(&mut self.graph, |resource| {
            telemetry.collect(snapshot, resource, Instant::now(), force)
        });
    }

    /// Drains the last telemetry Lambda sends after SHUTDOWN, flushes everything, and prints a summary.
    async fn shutdown(&mut self, deadline: Instant) {
        // Give the last deliveries at most half the time, so the export has the other half.
        let half = Instant::now() + deadline.saturating_duration_since(Instant::now()) / 2;
        self.receivers.finish(&mut self.graph, half).await;
        self.collect_self_telemetry(true);
        let report = self.graph.export_final(deadline).await;
        let mut summary = Vec::new();
        for (exporter, signal, c) in self.graph.counters() {
            if c != Default::default() {
                summary.push(format!(
                    "{exporter}/{signal}: exported {} retried {} dropped {} (rejected {}, queue full {}, memory limit {})",
                    c.exported,
                    c.retries,
                    c.dropped_rejected + c.dropped_queue_full + c.dropped_memory_limit,
                    c.dropped_rejected,
                    c.dropped_queue_full,
                    c.dropped_memory_limit
                ));
            }
        }
        for (exporter, open, opened) in self.graph.breaker_open() {
            if opened > 0 {
                summary.push(format!(
                    "{exporter}: backend down {opened} time(s), circuit breaker open {} ms",
                    open.as_millis()
                ));
            }
        }
        if report.in_flight > 0 {
            summary.push(format!("{} items still awaiting the backend's answer at the deadline", report.in_flight));
        }
        if report.pending > 0 {
            summary.push(format!("{} items could not be delivered before the deadline", report.pending));
        }
        log::info(&format!(
            "stopped: {}",
            if summary.is_empty() { "nothing exported".into() } else { summary.join("; ") }
        ));
    }
}

type Prepared = (Settings, Graph, Vec<(usize, receivers::Bound)>);

/// Loads the config, builds the graph and binds the receivers; an error comes with the function error
/// type to report and a message naming the file and key.
async fn prepare(
    source: &config_source::ConfigSource,
    registry: &Registry,
    env: &(dyn Fn(&str) -> Option<String> + Send + Sync),
) -> Result<Prepared, (&'static str, String)> {
    let invalid = |e: lambdatel_config::ConfigErrors| {
        ("Extension.ConfigInvalid", format!("invalid configuration in {source}:\n{e}"))
    };
    let crate::Checked { config, settings, graph } =
        crate::check(config_source::load_partial(source, env), registry).map_err(invalid)?;
    for warning in &config.warnings {
        log::warn(warning);
    }
    let mut bound = Vec::new();
    for (index, (id, receiver)) in graph.receivers().iter().enumerate() {
        let receiver = receivers::bind(&id.to_string(), receiver)
            .await
            .map_err(|e| ("Extension.ListenerFailed", e.to_string()))?;
        bound.push((index, receiver));
    }
    Ok((settings, graph, bound))
}

async fn fail_init(api: &ExtensionsApi, error_type: &str, message: &str) -> ExitCode {
    log::error(message);
    if let Err(e) = api.init_error(error_type, message).await {
        log::error(&format!("could not report the error to Lambda: {e}"));
    }
    ExitCode::FAILURE
}
