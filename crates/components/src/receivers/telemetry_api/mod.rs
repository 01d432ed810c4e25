//! The Telemetry API receiver: Lambda's Telemetry API (and legacy Logs API) events, parsed leniently and
//! converted to OTLP following otlp-mapping.md.
//!
//! Everything but [`listener`] is synchronous and network-free: [`events`] parses a POST body,
//! [`convert::Converter`] turns events into [`lambdatel_pipeline::Signals`] (its parts: invocation state,
//! init/restore phases, span building, log records and their memory budget, platform lines).
//!
//! Names of our own, where the semantic conventions say nothing (keep them stable):
//! - span attributes `aws.lambda.invoked_arn`, `aws.lambda.produced_bytes`, `aws.lambda.initialization_type`,
//!   `aws.lambda.init_phase`; spans `Init` and `Restore`; child spans named after Lambda's `spans[]` entries;
//! - log attribute `aws.lambda.log.type`: `function`, `extension`, or `platform` for the records we write
//!   (logsDropped warnings, Logs API faults, optional `START`/`END`/`REPORT` lines);
//! - the `aws.lambda.*` metrics and the byte histograms' boundaries ([`metrics::MEMORY_BOUNDS`],
//!   [`metrics::PAYLOAD_BOUNDS`]).

pub mod convert;
mod envelope;
pub mod events;
pub mod ids;
mod invocations;
pub mod listener;
mod log_buffer;
mod log_records;
pub mod logs;
pub mod metrics;
mod phases;
mod platform_lines;
pub mod resource;
mod spans;
pub mod xray;

#[cfg(test)]
mod scenarios;

pub use convert::{
    ConvertOptions, Converter, ConverterCounters, IngestStats, InvokeContext, ResourceInfo, Temporality,
};
