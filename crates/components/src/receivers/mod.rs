//! Receivers: where telemetry enters a pipeline.

use lambdatel_config::{ComponentConfig, ConfigError};

use crate::{ReceiverConfig, ReceiverFactory};

pub mod join;
pub mod otlp;
pub mod runtime;
// The Telemetry API receiver documents its public items in its own pass.
#[allow(missing_docs)]
pub mod telemetry_api;

impl ReceiverFactory for telemetry_api::listener::TelemetryApiConfig {
    const TYPE: &'static str = "telemetryapi";
    type Config = Self;

    fn validate(config: &Self, at: &ComponentConfig) -> Result<(), ConfigError> {
        config.validate().map_err(|message| at.error(message))
    }

    fn create(config: Self, _at: &ComponentConfig) -> Result<ReceiverConfig, ConfigError> {
        Ok(ReceiverConfig::TelemetryApi(config))
    }
}

impl ReceiverFactory for otlp::OtlpReceiverConfig {
    const TYPE: &'static str = "otlp";
    const EXAMPLE: &'static str = "protocols: {grpc: {}, http: {}}";
    type Config = Self;

    fn validate(config: &Self, at: &ComponentConfig) -> Result<(), ConfigError> {
        config.validate().map_err(|e| at.error_at(e.key, e.message))
    }

    fn create(config: Self, _at: &ComponentConfig) -> Result<ReceiverConfig, ConfigError> {
        Ok(ReceiverConfig::Otlp(config))
    }
}
