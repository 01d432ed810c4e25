//! The extension's life in Lambda: start-up (config, listener, register, subscribe), the invoke loop
//! (next -> wait for runtimeDone -> flush -> next) and shutdown (drain, flush, exit before the deadline).
//!
//! The order is what keeps data safe: the flush of an invocation completes before the extension asks for
//! the next event, because Lambda may freeze the sandbox as soon as every process has called `next`.

use std::{process::ExitCode, time::Duration};

use lambdatel_components::{
    receivers::telemetry_api::{
        convert::{InvokeContext, ResourceInfo},
        listener::{BoundListener, TelemetryApiReceiver},
    },
    ReceiverConfig, Registry,
};
use tokio::time::Instant;

use crate::{
    api::{until_epoch_ms, ApiError, ExtensionsApi, NextEvent},
    config_source, log,
    service::Graph,
    settings::Settings,
};

/// Looks up an environment variable.
pub type EnvLookup = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Everything the extension reads from its environment, injectable for tests.
pub struct Environment {
    pub vars: EnvLookup,
    /// The extension's name: the file name Lambda started it from.
    pub name: String,
}

impl Environment {
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
    let (settings, mut graph, listener) = match prepared {
        Ok(p) => p,
        Err((error_type, message)) => return fail_init(&api, error_type, &message).await,
    };

    let mut resource = ResourceInfo::from_env(|k| env(k));
    resource.account_id = resource.account_id.or(registration.account_id.clone());
    if resource.function_name.is_none() {
        resource.function_name = registration.function_name.clone();
    }
    let receiver = listener.map(|(index, bound)| (index, bound.start(resource)));

    if let Some((_, receiver)) = &receiver {
        let (path, body) = receiver.config().subscription(receiver.local_addr().port());
        if let Err(e) = api.subscribe(path, &body).await {
            let message = format!("the subscription to {path} was refused: {e}");
            return fail_init(&api, "Extension.SubscribeFailed", &message).await;
        }
    }
    log::info(&format!("ready: config from {source}; {}", graph.describe().join("; ")));

    let mut next_failures = 0u32;
    loop {
        let event = match api.next().await {
            Ok(event) => {
                next_failures = 0;
                event
            }
            Err(e) => {
                next_failures += 1;
                // Lambda's 500 means "exit promptly"; a transient connection failure gets a few retries.
                if e.is_fatal() || matches!(e, ApiError::Status { .. }) || next_failures > 3 {
                    log::error(&format!("stopping: {e}"));
                    shutdown(&mut graph, receiver.as_ref(), Instant::now() + Duration::from_millis(500), &settings)
                        .await;
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
                if let Some((index, receiver)) = &receiver {
                    receiver.on_invoke(InvokeContext {
                        request_id: request_id.clone(),
                        invoked_function_arn,
                        tracing_value,
                        deadline_ms,
                    });
                    // Without platform events no runtimeDone will come: flush at once instead of waiting.
                    if receiver.config().wants_platform() {
                        let mut wait = settings.runtime_done_timeout;
                        if let Some(deadline) = deadline_ms {
                            wait = wait.min(until_epoch_ms(deadline));
                        }
                        receiver.wait_runtime_done(&request_id, Instant::now() + wait).await;
                    }
                    graph.dispatch(*index, receiver.drain());
                }
                let report = graph.export(Instant::now() + settings.flush_budget).await;
                for (exporter, error) in &report.errors {
                    log::warn(&format!(
                        "exporter {exporter}: {error}; {} items kept for the next flush",
                        report.pending
                    ));
                }
            }
            NextEvent::Shutdown { reason, deadline_ms } => {
                let deadline = match deadline_ms {
                    Some(ms) => Instant::now() + until_epoch_ms(ms).saturating_sub(settings.shutdown_margin),
                    None => Instant::now() + Duration::from_millis(1500),
                };
                log::info(&format!("shutdown ({reason})"));
                shutdown(&mut graph, receiver.as_ref(), deadline, &settings).await;
                return ExitCode::SUCCESS;
            }
        }
    }
}

type Prepared = (Settings, Graph, Option<(usize, BoundListener)>);

/// Loads the config, builds the graph and binds the listener; an error comes with the function error
/// type to report and a message naming the file and key.
async fn prepare(
    source: &config_source::ConfigSource,
    registry: &Registry,
    env: &(dyn Fn(&str) -> Option<String> + Send + Sync),
) -> Result<Prepared, (&'static str, String)> {
    let config = config_source::load(source, env)
        .map_err(|e| ("Extension.ConfigInvalid", format!("invalid configuration in {source}:\n{e}")))?;
    for warning in &config.warnings {
        log::warn(warning);
    }
    let settings = crate::settings_from(&config)
        .map_err(|e| ("Extension.ConfigInvalid", format!("invalid configuration in {source}:\n{e}")))?;
    let graph = Graph::build(&config, registry)
        .map_err(|e| ("Extension.ConfigInvalid", format!("invalid configuration in {source}:\n{e}")))?;
    let mut listener = None;
    for (index, (id, receiver)) in graph.receivers().iter().enumerate() {
        match receiver {
            ReceiverConfig::TelemetryApi(config) => {
                let bound = BoundListener::bind(config)
                    .await
                    .map_err(|e| ("Extension.ListenerFailed", format!("receivers.{id}: {e}")))?;
                listener = Some((index, bound));
            }
        }
    }
    Ok((settings, graph, listener))
}

async fn fail_init(api: &ExtensionsApi, error_type: &str, message: &str) -> ExitCode {
    log::error(message);
    if let Err(e) = api.init_error(error_type, message).await {
        log::error(&format!("could not report the error to Lambda: {e}"));
    }
    ExitCode::FAILURE
}

/// Drains the last telemetry Lambda sends after SHUTDOWN, flushes everything, and prints a summary.
async fn shutdown(
    graph: &mut Graph,
    receiver: Option<&(usize, TelemetryApiReceiver)>,
    deadline: Instant,
    _settings: &Settings,
) {
    if let Some((index, receiver)) = receiver {
        // Lambda delivers what it still buffers within one buffering period; stop waiting when it goes quiet
        // or half the time is gone, so the export has the other half.
        let quiet = Duration::from_millis(u64::from(receiver.config().buffering.timeout_ms) + 50);
        let half = Instant::now() + deadline.saturating_duration_since(Instant::now()) / 2;
        receiver.wait_quiet(quiet, half).await;
        graph.dispatch(*index, receiver.finish());
    }
    let report = graph.export(deadline).await;
    let mut summary = Vec::new();
    for (exporter, signal, c) in graph.counters() {
        if c != Default::default() {
            summary.push(format!(
                "{exporter}/{signal}: exported {} retried {} dropped {} (rejected {}, queue full {})",
                c.exported,
                c.retries,
                c.dropped_rejected + c.dropped_queue_full,
                c.dropped_rejected,
                c.dropped_queue_full
            ));
        }
    }
    if report.pending > 0 {
        summary.push(format!("{} items could not be delivered before the deadline", report.pending));
    }
    log::info(&format!("stopped: {}", if summary.is_empty() { "nothing exported".into() } else { summary.join("; ") }));
}
