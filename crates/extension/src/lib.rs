//! The lambdatel extension: a Lambda external extension that works like a tiny OpenTelemetry Collector.
//!
//! A user's own extension binary with custom processors is three lines:
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     lambdatel::main_with(lambdatel::Registry::builtin())
//! }
//! ```

pub mod api;
pub mod cli;
pub mod config_source;
pub mod flush;
pub mod lifecycle;
pub mod log;
pub mod self_telemetry;
pub mod settings;

use std::process::ExitCode;

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

/// Reads the extension's own settings (the `lambdatel:` section) from a loaded config.
pub fn settings_from(config: &Config) -> Result<settings::Settings, ConfigErrors> {
    let Some(section) = &config.settings else {
        return Ok(settings::Settings::default());
    };
    let settings: settings::Settings = section.deserialize()?;
    settings.validate().map_err(|message| ConfigErrors(vec![section.error(message)]))?;
    Ok(settings)
}
