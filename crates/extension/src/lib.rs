//! The lambdatel extension: a Lambda external extension that works like a tiny OpenTelemetry Collector.
//!
//! A user's own extension binary with custom processors is three lines:
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     lambdatel::main_with(lambdatel::Registry::builtin())
//! }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod cli;
pub mod config_source;
pub mod flush;
pub mod lifecycle;
pub mod log;
pub mod proxy;
pub mod self_telemetry;
pub mod settings;

use std::process::ExitCode;

use lambdatel_components::processors::{tail_sampling::DropLogsOfDroppedTraces, ProcessorInstance};
pub use lambdatel_components::{ProcessorFactory, Registry};
pub use lambdatel_config::{ComponentConfig, ConfigError};
use lambdatel_config::{Config, ConfigErrors};
pub use lambdatel_pipeline::{otlp, FlushView, Processor};

/// The binary's entry point with a given registry: no arguments runs the extension (that is how Lambda
/// starts it); `validate`, `convert`, `--help` and `--version` are offline commands.
pub fn main_with(registry: Registry) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.is_empty() {
        return cli::run(registry, &args);
    }
    // One thread: the extension's work is small and mostly waiting, and a second thread costs memory
    // and start-up time for nothing.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            log::error(&format!("cannot start the async runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(lifecycle::run(registry, lifecycle::Environment::from_process()))
}

/// A configuration that passed every stage: the config, the extension's settings and the built graph.
pub struct Checked {
    /// The parsed configuration.
    pub config: Config,
    /// The `lambdatel:` section.
    pub settings: settings::Settings,
    /// The pipeline graph with every component created.
    pub graph: lambdatel_components::Graph,
}

/// Checks a configuration in every stage in one pass: the YAML and pipeline graph (`parsed`, from
/// `parse_partial`), the extension's settings and every component's settings. All errors come back
/// together, sorted by line, each naming the unset `${env:...}` variables behind it. `env` is the environment
/// the config was read in: components that read AWS settings (region, credentials) take them from it.
pub fn check(
    parsed: (Option<Config>, ConfigErrors),
    registry: &Registry,
    env: &lambdatel_aws::Env,
) -> Result<Checked, ConfigErrors> {
    let (config, mut errors) = parsed;
    let Some(mut config) = config else { return Err(errors) };
    config.warnings.extend(lambdatel_components::extensions::warnings(&config));
    config.warnings.extend(lambdatel_components::exporters::awsemf_awsxray_warnings(&config));
    let settings = settings_from(&config).map_err(|e| errors.0.extend(e.0)).ok().map(|settings| settings::Settings {
        memory_limiters: lambdatel_components::processors::memory_limiter::limits_in(&config),
        ..settings
    });
    let mut graph = registry.build_graph_in(&config, env).map_err(|e| errors.0.extend(e.0)).ok();
    if let (Some(settings), Some(graph)) = (&settings, &mut graph) {
        if settings.tail_sampling.drop_logs_of_dropped_traces {
            graph.prepend_processor(lambdatel_config::Signal::Logs, || {
                ProcessorInstance::new(DropLogsOfDroppedTraces::default())
            });
        }
    }
    config.warnings.extend(registry.warnings(&config).iter().map(ToString::to_string));
    match (settings, graph) {
        (Some(settings), Some(graph)) if errors.0.is_empty() => Ok(Checked { config, settings, graph }),
        _ => {
            let mut explained = ConfigErrors(errors.0.into_iter().map(|e| config.explain(e)).collect());
            explained.sort();
            Err(explained)
        }
    }
}

/// Reads the extension's own settings (the `lambdatel:` section) from a loaded config.
pub fn settings_from(config: &Config) -> Result<settings::Settings, ConfigErrors> {
    let Some(section) = &config.settings else {
        return Ok(settings::Settings::default());
    };
    let settings: settings::Settings = section.deserialize()?;
    settings.validate().map_err(|message| ConfigErrors(vec![section.error(message)]))?;
    Ok(settings)
}
