//! The data path, free of any network code: batches of OTLP signals in `opentelemetry-proto` types, the
//! [`Processor`] trait every processor (built-in or a user's) implements, and the errors exporters return.
//!
//! Data stays in OTLP types from the receiver to the exporter; nothing here converts to a home-made model.

mod signals;

pub use opentelemetry_proto::tonic::{
    common::v1 as common, logs::v1 as logs, metrics::v1 as metrics, resource::v1 as resource, trace::v1 as trace,
};
pub use signals::{data_point_count, log_count, span_count, take_front, Signal, Signals, SIGNALS};

/// A synchronous, CPU-only transformation of signal batches.
///
/// Each method receives the whole batch of one signal and changes it in place: dropping an item is
/// removing it. The defaults pass data through untouched, so a processor implements only the signals it
/// cares about. Processors must not block or perform I/O: they run on the extension's flush path, which
/// the function waits for.
pub trait Processor: Send {
    /// Transforms a batch of spans.
    fn process_traces(&mut self, _spans: &mut Vec<trace::ResourceSpans>) {}
    /// Transforms a batch of metrics.
    fn process_metrics(&mut self, _metrics: &mut Vec<metrics::ResourceMetrics>) {}
    /// Transforms a batch of log records.
    fn process_logs(&mut self, _logs: &mut Vec<logs::ResourceLogs>) {}
}

/// Why an export failed, which decides whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    /// A transient failure (unavailable, throttled, timed out): the same data may succeed later.
    #[error("retryable export failure: {message}")]
    Retryable {
        message: String,
        /// The delay the backend asked for (gRPC `RetryInfo`, HTTP `Retry-After`), if any.
        retry_after: Option<std::time::Duration>,
    },
    /// The backend rejected the data for good (malformed, unauthenticated, too large): retrying cannot help.
    #[error("permanent export failure: {message}")]
    Permanent { message: String },
}

impl ExportError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, ExportError::Retryable { .. })
    }
}
