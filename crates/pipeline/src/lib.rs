//! The data path, free of any network code: batches of OTLP signals in `opentelemetry-proto` types, the
//! [`Processor`] trait every processor (built-in or a user's) implements, the pipeline [`Graph`] (fan-out,
//! processor chains, exporter queues, delivery) and the errors exporters return.
//!
//! Data stays in OTLP types from the receiver to the exporter; nothing here converts to a home-made model.
//!
//! Follow one event through this crate: `graph.rs` (a flush's data enters and fans out to pipelines) ->
//! `processor.rs` (each pipeline's chain) -> `queue.rs` (the exporter's queue) -> `export.rs` (delivery).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod breaker;
pub mod export;
pub mod graph;
pub mod otlp;
pub mod processor;
mod queue;
mod signals;

pub use breaker::{BreakerConfig, BreakerState};
pub use export::{Attempts, Export, ExportCounters, ExportOutcome, ExportProblem, ExportReport, WriteFlag};
pub use graph::{Graph, GraphBuilder};
pub use opentelemetry_proto::tonic::{
    common::v1 as common, logs::v1 as logs, metrics::v1 as metrics, resource::v1 as resource, trace::v1 as trace,
};
pub use processor::{FlushView, Processor};
pub use signals::{data_point_count, log_count, span_count, Signal, Signals, SIGNALS};

/// Why an export failed, which decides whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    /// A transient failure (unavailable, throttled, timed out): the same data may succeed later.
    #[error("retryable export failure: {message}")]
    Retryable {
        /// What went wrong.
        message: String,
        /// The delay the backend asked for (gRPC `RetryInfo`, HTTP `Retry-After`), if any.
        retry_after: Option<std::time::Duration>,
    },
    /// The backend answered that it cannot serve now (gRPC `UNAVAILABLE`, HTTP 502/503/504): retryable, and
    /// when it repeats the exporter reports the backend as down.
    #[error("backend unavailable: {message}")]
    Unavailable {
        /// What went wrong.
        message: String,
        /// The delay the backend asked for, if any.
        retry_after: Option<std::time::Duration>,
    },
    /// The backend could not be reached at all (connection refused or reset, name not resolved, connect
    /// timeout): the data is kept, but retrying within the same flush cannot help.
    #[error("backend unreachable: {message}")]
    Unreachable {
        /// What went wrong.
        message: String,
    },
    /// The backend rejected the data for good (malformed, unauthenticated, too large): retrying cannot help.
    #[error("permanent export failure: {message}")]
    Permanent {
        /// What went wrong.
        message: String,
    },
}

impl ExportError {
    /// True unless the backend refused the data for good: the data is worth keeping for another try.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, ExportError::Permanent { .. })
    }
}
