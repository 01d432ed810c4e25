//! Receivers: where telemetry enters a pipeline.

pub mod telemetry_api;
