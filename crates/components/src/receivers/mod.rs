//! Receivers: where telemetry enters a pipeline.

pub mod otlp;
pub mod runtime;
pub mod telemetry_api;
