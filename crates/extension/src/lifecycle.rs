//! The extension's life in Lambda: start-up (config, listeners, register, subscribe), the invoke loop
//! (next -> runtimeDone -> flush -> next, or one of the other flush strategies) and shutdown (drain, flush,
//! exit before the deadline).
//!
//! The order is what keeps data safe: a flush completes before the extension asks for the next event,
//! because Lambda may freeze the sandbox as soon as every process has called `next`.
//!
//! On Lambda Managed Instances nothing is frozen and `next` returns only SHUTDOWN: flushes run in the
//! background (`managed_instances`). Start-up errors fail open by default (`fail_open`).

use std::{process::ExitCode, time::Duration};

use lambdatel_components::{
    receivers::{
        runtime::{self as receivers, Receivers},
        telemetry_api::{
            convert::{InvokeContext, ResourceInfo},
            ids,
        },
    },
    Graph, Registry,
};
use tokio::time::Instant;

use crate::{
    api::{until_epoch_ms, ApiError, ExtensionsApi, NextEvent, Registration},
    config_source,
    flush::{FlushPolicy, Load, Plan},
    log,
    self_telemetry::{SelfTelemetry, Snapshot},
    settings::{Mode, OnError, Settings},
};

mod fail_open;
mod managed_instances;

use fail_open::StartFailure;

/// Looks up an environment variable.
pub type EnvLookup = lambdatel_aws::env::Lookup;

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
        Environment { vars: std::sync::Arc::new(|k| std::env::var(k).ok()), name }
    }
}

/// Runs the extension until SHUTDOWN or a fatal error.
pub async fn run(registry: Registry, environment: Environment) -> ExitCode {
    let env = &*environment.vars;
    let Some(api_addr) = env("AWS_LAMBDA_RUNTIME_API") else {
        log::error("AWS_LAMBDA_RUNTIME_API is not set: lambdatel runs as a Lambda extension. Use `lambdatel validate` to check a config, or run it under lambdatel-sim.");
        return ExitCode::from(2);
    };
    let mut api = ExtensionsApi::new(api_addr.clone());
    seed_ids_for_tests(env);
    if fail_open::disabled(env) {
        return fail_open::register_and_idle(&mut api, &environment.name, Mode::Auto.is_managed_instances(env)).await;
    }

    // Prepare everything that can fail before registering, but report failures only after registering:
    // init/error needs the extension id.
    let source = config_source::choose(env);
    let prepared = prepare(&source, &registry, &environment.vars).await;
    // Bound before registering: the runtime's wrapper looks for the proxy as soon as the runtime starts.
    let proxy = match &prepared {
        Ok(p) if crate::proxy::wanted(&p.settings, env) => crate::proxy::bind(env).await,
        _ => None,
    };
    let (on_error, mode) = match &prepared {
        Ok(p) => (p.settings.on_error, p.settings.mode),
        Err(_) => fail_open::declared_settings(&source),
    };
    let managed_instances = mode.is_managed_instances(env);

    let registration = match api.register(&environment.name, managed_instances).await {
        Ok(r) => r,
        Err(e) => {
            log::error(&format!("cannot register with Lambda: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let started = match prepared {
        Ok(prepared) => {
            let joiner = crate::proxy::start(&prepared.settings, proxy, &api_addr);
            start(&api, prepared, registration, env, &source, managed_instances, joiner).await
        }
        Err(failure) => Err(failure),
    };
    match started {
        Ok(mut extension) if managed_instances => extension.serve_managed_instances(&api).await,
        Ok(mut extension) => extension.serve(&api).await,
        Err(failure) => fail_open::on_start_failure(&api, on_error, failure).await,
    }
}

/// `LAMBDATEL_TEST_ID_SEED` fixes the id generator's sequence: tests use it to stand for the memory that
/// sandboxes restored from one SnapStart snapshot share.
fn seed_ids_for_tests(env: &(dyn Fn(&str) -> Option<String> + Send + Sync)) {
    if let Some(seed) = env("LAMBDATEL_TEST_ID_SEED").and_then(|s| s.trim().parse().ok()) {
        ids::seed(seed);
    }
}

/// Starts the receivers, subscribes and sets up the extension's state.
async fn start(
    api: &ExtensionsApi,
    prepared: Prepared,
    registration: Registration,
    env: &(dyn Fn(&str) -> Option<String> + Send + Sync),
    source: &config_source::ConfigSource,
    managed_instances: bool,
    joiner: lambdatel_components::receivers::join::Joiner,
) -> Result<Extension, StartFailure> {
    let Prepared { settings, mut graph, bound } = prepared;
    let mut resource = ResourceInfo::from_env(|k| env(k));
    resource.account_id = resource.account_id.or(registration.account_id.clone());
    if resource.function_name.is_none() {
        resource.function_name = registration.function_name.clone();
    }
    let memory_mb = resource.memory_mb;
    let snap_start = resource.initialization_type.as_deref() == Some("snap-start");
    let mut receivers = Receivers::start(bound, resource);
    receivers.set_joiner(joiner);
    if managed_instances {
        receivers.set_managed_instances(true);
    }
    // Half of the memory bound for what receivers hold until a flush, half for undelivered data.
    let memory_limit = settings.memory_limit_bytes(memory_mb);
    receivers.set_memory_budget(memory_limit / 2);
    graph.set_queue_budget(memory_limit / 2);
    subscribe(api, &receivers, managed_instances).await?;
    let mode = if managed_instances { " (Lambda Managed Instances)" } else { "" };
    log::info(&format!("ready{mode}: config from {source}; {}", graph.describe().join("; ")));
    Ok(Extension {
        policy: FlushPolicy::new(settings.flush.clone(), Instant::now()),
        settings,
        graph,
        receivers,
        export_warnings: log::RateLimit::new(),
        self_telemetry: SelfTelemetry::new(Duration::from_secs(10)),
        memory_limit,
        received_at_last_invoke: 0,
        snap_start,
        restores_handled: 0,
    })
}

/// Subscribes the Telemetry API receiver (if any) to Lambda, naming the port it actually bound.
async fn subscribe(api: &ExtensionsApi, receivers: &Receivers, managed_instances: bool) -> Result<(), StartFailure> {
    let Some(telemetry) = receivers.telemetry_api() else { return Ok(()) };
    let (path, body) = telemetry
        .config()
        .subscription(telemetry.local_addr().port(), managed_instances)
        .map_err(|e| StartFailure::new("Extension.ConfigInvalid", format!("receivers.telemetryapi.{e}")))?;
    api.subscribe(path, &body).await.map_err(|e| {
        StartFailure::new("Extension.SubscribeFailed", format!("the subscription to {path} was refused: {e}"))
    })
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
    /// Started from a SnapStart snapshot (`AWS_LAMBDA_INITIALIZATION_TYPE=snap-start`).
    snap_start: bool,
    /// SnapStart restores whose connections were dropped.
    restores_handled: u64,
}

impl Extension {
    /// The invoke loop. The next-event long-poll is awaited to completion every time: never cancelled,
    /// never duplicated.
    async fn serve(&mut self, api: &ExtensionsApi) -> ExitCode {
        loop {
            let event = match fail_open::next_event(api).await {
                Ok(event) => event,
                Err(e) => return self.stop_on_api_error(api, e).await,
            };
            match event {
                NextEvent::Invoke { request_id, deadline_ms, invoked_function_arn, tracing_value } => {
                    self.after_restore();
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
                NextEvent::Shutdown { reason, deadline_ms } => return self.on_shutdown(&reason, deadline_ms).await,
            }
        }
    }

    /// Lambda answered `next` with an error (it means "exit promptly") or could not be reached: flush what
    /// can be flushed quickly, report, and exit.
    async fn stop_on_api_error(&mut self, api: &ExtensionsApi, e: ApiError) -> ExitCode {
        log::error(&format!("stopping: {e}"));
        self.shutdown(Instant::now() + Duration::from_millis(500)).await;
        let _ = api.exit_error("Extension.NextFailed", &e.to_string()).await;
        ExitCode::FAILURE
    }

    /// SHUTDOWN: drain and flush everything before Lambda's deadline (less the margin), then exit.
    async fn on_shutdown(&mut self, reason: &str, deadline_ms: Option<u64>) -> ExitCode {
        let deadline = match deadline_ms {
            Some(ms) => Instant::now() + until_epoch_ms(ms).saturating_sub(self.settings.shutdown_margin),
            None => Instant::now() + Duration::from_millis(1500),
        };
        log::info(&format!("shutdown ({reason})"));
        self.shutdown(deadline).await;
        ExitCode::SUCCESS
    }

    /// After a SnapStart restore (the converter has reseeded the ids and renewed the instance already):
    /// connections pooled before the snapshot died with it, and the credentials belong to the environment
    /// the snapshot was taken in. Called at each INVOKE: once per restore, the connections are dropped.
    fn after_restore(&mut self) {
        // A SnapStart sandbox's first invoke always follows a restore, whose events may arrive after the
        // INVOKE (they are buffered like any other): it is counted from the start, and its late events
        // then change nothing.
        let due = self.receivers.restores().max(u64::from(self.snap_start));
        if due > self.restores_handled {
            self.restores_handled = due;
            self.graph.reset_connections();
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

/// What start-up prepared before registering: the settings, the graph and the bound receivers.
struct Prepared {
    settings: Settings,
    graph: Graph,
    bound: Vec<(usize, receivers::Bound)>,
}

/// Loads the config, builds the graph and binds the receivers; an error comes with the function error
/// type to report and a message naming the file and key. With `on_error: passthrough` a receiver other
/// than the Telemetry API's that cannot bind is left out with an ERROR line, and the rest runs.
async fn prepare(
    source: &config_source::ConfigSource,
    registry: &Registry,
    vars: &EnvLookup,
) -> Result<Prepared, StartFailure> {
    let loaded = config_source::load_resolved(source, &**vars).await;
    let secrets = &loaded.secrets;
    let invalid = |e: lambdatel_config::ConfigErrors| {
        let message = config_source::invalid_message(source, &e);
        StartFailure::new("Extension.ConfigInvalid", config_source::scrub(&message, secrets))
    };
    let crate::Checked { config, settings, graph } =
        crate::check(loaded.parsed, registry, &lambdatel_aws::Env::from_lookup(vars.clone())).map_err(invalid)?;
    for warning in &config.warnings {
        log::warn(&config_source::scrub(warning, secrets));
    }
    let mut bound = Vec::new();
    for (index, (id, receiver)) in graph.receivers().iter().enumerate() {
        match receivers::bind(&id.to_string(), receiver).await {
            Ok(receiver) => bound.push((index, receiver)),
            Err(e) if settings.on_error == OnError::Passthrough && receiver.as_telemetry_api().is_none() => {
                log::error(&format!("{e}; receivers.{id} is disabled, the other pipelines run"));
            }
            Err(e) => return Err(StartFailure::new("Extension.ListenerFailed", e.to_string())),
        }
    }
    Ok(Prepared { settings, graph, bound })
}
