//! The processor hop: the [`Processor`] trait every processor (built-in or a user's) implements, and the
//! [`FlushView`] through which a processor may look at the whole flush its batch belongs to.
//!
//! # Panics
//!
//! A processor must not panic. Release builds use `panic = "abort"`: a panic in a processor ends the
//! extension process at once and the telemetry it held (this flush and anything queued) is lost. To the
//! function it is a crashed extension: the current invocation fails, Lambda resets the execution
//! environment, and the next invocation runs Init again (a cold start). Treat unexpected input as data
//! to pass through, drop or count, never as a reason to panic.

use crate::{logs::ResourceLogs, metrics::ResourceMetrics, trace::ResourceSpans, Signals};

/// A synchronous, CPU-only transformation of signal batches.
///
/// Each method receives the whole batch of one signal and changes it in place: dropping an item is
/// removing it. The defaults pass data through untouched, so a processor implements only the signals it
/// cares about. Processors must not block or perform I/O: they run on the extension's flush path, which
/// the function waits for. A processor must not panic: see the [module documentation](self).
pub trait Processor: Send {
    /// Sees the whole flush (every signal from every receiver, read only; see [`FlushView`]) just before
    /// this processor's own signal is processed. Pipelines run traces first, then metrics, then logs, so a
    /// metrics or logs processor also learns which traces the traces pipelines dropped
    /// ([`FlushView::is_trace_dropped`]). Copy what is needed: the view lives for this call only.
    fn observe_flush(&mut self, _flush: &FlushView<'_>) {}
    /// Transforms a batch of spans.
    fn process_traces(&mut self, _spans: &mut Vec<ResourceSpans>) {}
    /// Transforms a batch of metrics.
    fn process_metrics(&mut self, _metrics: &mut Vec<ResourceMetrics>) {}
    /// Transforms a batch of log records.
    fn process_logs(&mut self, _logs: &mut Vec<ResourceLogs>) {}
}

/// One flush's data from all receivers and the traces decisions taken so far in this flush.
///
/// Each signal appears as it stands when the hook runs: as received for the signal about to be processed
/// and the ones after it, as the pipelines output it for a signal already processed (traces, for metrics
/// and logs processors; metrics, for logs processors). A signal that fans out to several pipelines appears
/// once per pipeline once processed.
///
/// The flush is the natural unit of an invocation in Lambda: with the default end-of-invocation flush it
/// holds exactly one invocation's spans, logs and metrics, so a processor can join them (tag spans with a
/// value found in the same invocation's logs, drop the logs of a trace the sampler dropped).
#[derive(Debug, Clone, Copy)]
pub struct FlushView<'a> {
    inputs: &'a [(usize, Signals)],
    processed: &'a [(usize, Signals)],
    /// Sorted, for binary search: a flush holds few traces, and a sorted list costs less code than a set.
    dropped_traces: &'a [Vec<u8>],
}

impl<'a> FlushView<'a> {
    /// A view of what is not processed yet (`inputs`, by receiver index), what pipelines have output so
    /// far (`processed`, by pipeline index) and the trace ids already dropped (sorted).
    pub fn new(
        inputs: &'a [(usize, Signals)],
        processed: &'a [(usize, Signals)],
        dropped_traces: &'a [Vec<u8>],
    ) -> Self {
        debug_assert!(dropped_traces.windows(2).all(|w| w[0] < w[1]), "dropped trace ids are sorted and unique");
        FlushView { inputs, processed, dropped_traces }
    }

    /// Every span group of the flush.
    pub fn spans(&self) -> impl Iterator<Item = &'a ResourceSpans> + 'a {
        self.inputs.iter().chain(self.processed).flat_map(|(_, s)| &s.spans)
    }

    /// Every metric group of the flush.
    pub fn metrics(&self) -> impl Iterator<Item = &'a ResourceMetrics> + 'a {
        self.inputs.iter().chain(self.processed).flat_map(|(_, s)| &s.metrics)
    }

    /// Every log group of the flush.
    pub fn logs(&self) -> impl Iterator<Item = &'a ResourceLogs> + 'a {
        self.inputs.iter().chain(self.processed).flat_map(|(_, s)| &s.logs)
    }

    /// True when every traces pipeline of this flush removed all spans of `trace_id` (sampled out,
    /// filtered). Always false while traces pipelines run, since they run first.
    pub fn is_trace_dropped(&self, trace_id: &[u8]) -> bool {
        self.dropped_traces.binary_search_by(|id| id.as_slice().cmp(trace_id)).is_ok()
    }

    /// The trace ids dropped in this flush so far, in byte order.
    pub fn dropped_trace_ids(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.dropped_traces.iter().map(Vec::as_slice)
    }
}
