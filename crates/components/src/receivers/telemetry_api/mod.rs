//! The Telemetry API receiver: Lambda's Telemetry API (and legacy Logs API) events, parsed leniently and
//! converted to OTLP following otlp-mapping.md.
//!
//! Everything here is synchronous and network-free: [`events`] parses a POST body, [`convert::Converter`]
//! turns events into [`lambdatel_pipeline::Signals`].

pub mod convert;
pub mod events;
pub mod listener;
pub mod logs;
pub mod metrics;
pub mod resource;
pub mod xray;

pub use convert::{ConvertOptions, Converter, IngestStats, InvokeContext, ResourceInfo, Temporality};
