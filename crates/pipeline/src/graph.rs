//! The pipeline graph, built as the Collector builds it: one receiver instance per id fanning out to its
//! pipelines, a processor chain per pipeline, one exporter instance per id shared by the pipelines that
//! name it, each exporter with a bounded queue of what it could not deliver yet.
//!
//! Follow one flush: [`Graph::dispatch_flush`] takes the data of every receiver together, runs each
//! pipeline's processors (traces pipelines first, so metrics and logs pipelines can honour their
//! decisions; see [`FlushView`]) and appends the results to the queues of the pipeline's exporters
//! (`queue.rs`); [`Graph::export`] sends every queue (`export.rs`).
//!
//! The graph is generic over what a receiver is (`R`, only stored for the caller), the processor type
//! (`P`) and the exporter type (`X`), so this crate stays free of network code; the components crate
//! names the concrete graph and builds it from a config.

use std::time::Duration;

use lambdatel_config::{ComponentId, PipelineId};
use tokio::time::Instant;

use crate::{
    export::{export_all, Export, ExportCounters, ExportReport, Round},
    processor::{FlushView, Processor},
    queue::{ExporterSlot, Queues},
    Signal, Signals, SIGNALS,
};

/// One pipeline: where its data comes from, its processor chain and where it goes.
struct Pipeline<P> {
    id: PipelineId,
    /// Indexes into the graph's receivers.
    receivers: Vec<usize>,
    processors: Vec<P>,
    /// Indexes into the graph's exporter queues.
    exporters: Vec<usize>,
}

/// The built graph. It owns no network listener: the caller starts receivers from [`Graph::receivers`]
/// and passes their data in by receiver index.
pub struct Graph<R, P, X> {
    receivers: Vec<(ComponentId, R)>,
    pipelines: Vec<Pipeline<P>>,
    queues: Queues<X>,
}

/// Builds a [`Graph`] from components already created; the caller resolves ids and reports errors.
pub struct GraphBuilder<R, P, X> {
    graph: Graph<R, P, X>,
}

impl<R, P: Processor, X: Export> Default for GraphBuilder<R, P, X> {
    fn default() -> Self {
        GraphBuilder { graph: Graph { receivers: vec![], pipelines: vec![], queues: Queues::new() } }
    }
}

impl<R, P: Processor, X: Export> GraphBuilder<R, P, X> {
    /// Adds a receiver instance; returns its index.
    pub fn add_receiver(&mut self, id: ComponentId, receiver: R) -> usize {
        self.graph.receivers.push((id, receiver));
        self.graph.receivers.len() - 1
    }

    /// Adds an exporter instance with its queue; returns its index.
    pub fn add_exporter(&mut self, id: ComponentId, exporter: X) -> usize {
        self.graph.queues.slots.push(ExporterSlot::new(id, exporter));
        self.graph.queues.slots.len() - 1
    }

    /// Adds a pipeline over receivers and exporters added before. `max_request_items` is the largest
    /// export request its processors allow (the `batch` processor's bound); each exporter keeps the
    /// smallest bound of the pipelines feeding it.
    pub fn add_pipeline(
        &mut self,
        id: PipelineId,
        receivers: Vec<usize>,
        processors: Vec<P>,
        exporters: Vec<usize>,
        max_request_items: Option<usize>,
    ) {
        for &e in &exporters {
            let slot = &mut self.graph.queues.slots[e];
            slot.max_request_items = match (slot.max_request_items, max_request_items) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        self.graph.pipelines.push(Pipeline { id, receivers, processors, exporters });
    }

    /// The receivers added so far, by index.
    pub fn receivers(&self) -> &[(ComponentId, R)] {
        &self.graph.receivers
    }

    /// The finished graph.
    pub fn build(self) -> Graph<R, P, X> {
        self.graph
    }
}

impl<R, P: Processor, X: Export> Graph<R, P, X> {
    /// The receivers to start, in the order their index is used by [`Graph::dispatch_flush`].
    pub fn receivers(&self) -> &[(ComponentId, R)] {
        &self.receivers
    }

    /// Puts a processor made by `make` at the head of every pipeline of `signal`: for the extension's own
    /// settings that act on a flush like a processor (dropping the logs of dropped traces).
    pub fn prepend_processor(&mut self, signal: Signal, mut make: impl FnMut() -> P) {
        for pipeline in self.pipelines.iter_mut().filter(|p| p.id.signal == signal) {
            pipeline.processors.insert(0, make());
        }
    }

    /// Pipeline ids with their receivers, processors count and exporters, for `lambdatel validate`.
    pub fn describe(&self) -> Vec<String> {
        self.pipelines
            .iter()
            .map(|p| {
                let receivers: Vec<String> = p.receivers.iter().map(|&r| self.receivers[r].0.to_string()).collect();
                let exporters: Vec<String> = p.exporters.iter().map(|&e| self.queues.slots[e].id.to_string()).collect();
                format!(
                    "{}: {} -> {} processor(s) -> {}",
                    p.id,
                    receivers.join(", "),
                    p.processors.len(),
                    exporters.join(", ")
                )
            })
            .collect()
    }

    /// Bounds the encoded bytes all exporter queues hold together; data past it is dropped and counted.
    pub fn set_queue_budget(&mut self, bytes: usize) {
        self.queues.budget_bytes = Some(bytes);
    }

    /// [`Graph::dispatch_flush`] for the data of one receiver.
    pub fn dispatch(&mut self, receiver: usize, signals: Signals) {
        self.dispatch_flush(vec![(receiver, signals)]);
    }

    /// Runs one flush's data (receiver index, its data) through every pipeline, into its exporters' queues.
    pub fn dispatch_flush(&mut self, inputs: Vec<(usize, Signals)>) {
        self.enqueue(inputs, false);
    }

    /// [`Graph::dispatch`] regardless of the memory budget, for the extension's own counters: a few hundred
    /// bytes per snapshot, and the only record that data was dropped, so the bound must not drop them too.
    /// The queue bound still applies.
    pub fn dispatch_exempt(&mut self, receiver: usize, signals: Signals) {
        self.enqueue(vec![(receiver, signals)], true);
    }

    fn enqueue(&mut self, inputs: Vec<(usize, Signals)>, exempt: bool) {
        for (pipeline, data) in self.process_flush(inputs) {
            let pipeline = &self.pipelines[pipeline];
            self.queues.enqueue(&pipeline.exporters, pipeline.id.signal, data, exempt);
        }
    }

    /// Runs one flush's data through the processors of every pipeline and returns each pipeline's result
    /// (by pipeline index, in processing order; empty results are left out).
    ///
    /// Signals are processed in the order of [`SIGNALS`], traces first. Each processor first sees the
    /// whole flush through [`Processor::observe_flush`]; once the traces pipelines have run, the view also
    /// names the trace ids they dropped. Fan-out clones for all consumers but the last, which takes the
    /// original.
    pub fn process_flush(&mut self, mut inputs: Vec<(usize, Signals)>) -> Vec<(usize, Signals)> {
        let mut dropped_traces = Vec::new();
        let mut out = Vec::new();
        for signal in SIGNALS {
            let targets: Vec<usize> =
                (0..self.pipelines.len()).filter(|&p| self.pipelines[p].id.signal == signal).collect();
            if targets.is_empty() {
                continue;
            }
            let later_observers =
                self.pipelines.iter().any(|p| p.id.signal.index() > signal.index() && !p.processors.is_empty());
            let view = FlushView::new(&inputs, &out, &dropped_traces);
            for &p in &targets {
                for processor in &mut self.pipelines[p].processors {
                    processor.observe_flush(&view);
                }
            }
            let fed = |r: usize| targets.iter().any(|&p| self.pipelines[p].receivers.contains(&r));
            // The ids are noted before the spans move into the pipelines; which ones come out decides.
            let entering_traces = match signal {
                Signal::Traces if later_observers => sorted_trace_ids(inputs.iter().filter(|(r, _)| fed(*r))),
                _ => Vec::new(),
            };
            let mut consumers: Vec<usize> = inputs
                .iter()
                .map(|(r, _)| targets.iter().filter(|&&p| self.pipelines[p].receivers.contains(r)).count())
                .collect();
            let first_output = out.len();
            for &p in &targets {
                let mut data = Signals::default();
                for (input, (receiver, signals)) in inputs.iter_mut().enumerate() {
                    if !self.pipelines[p].receivers.contains(receiver) {
                        continue;
                    }
                    consumers[input] -= 1;
                    if consumers[input] == 0 {
                        data.append(&mut signals.take_part(signal));
                    } else {
                        data.append(&mut signals.part(signal));
                    }
                }
                out.push((p, self.run_processors(p, data)));
            }
            if !entering_traces.is_empty() {
                let kept = sorted_trace_ids(out[first_output..].iter());
                dropped_traces = entering_traces.into_iter().filter(|id| kept.binary_search(id).is_err()).collect();
            }
        }
        out.retain(|(_, data)| !data.is_empty());
        out
    }

    /// [`Graph::process_flush`] for the data of one receiver.
    pub fn process(&mut self, receiver: usize, signals: Signals) -> Vec<(usize, Signals)> {
        self.process_flush(vec![(receiver, signals)])
    }

    /// The id of the pipeline at `index`, as [`Graph::process_flush`] returns it.
    pub fn pipeline_id(&self, index: usize) -> &PipelineId {
        &self.pipelines[index].id
    }

    fn run_processors(&mut self, index: usize, mut data: Signals) -> Signals {
        let pipeline = &mut self.pipelines[index];
        for processor in &mut pipeline.processors {
            match pipeline.id.signal {
                Signal::Traces => processor.process_traces(&mut data.spans),
                Signal::Metrics => processor.process_metrics(&mut data.metrics),
                Signal::Logs => processor.process_logs(&mut data.logs),
            }
        }
        data
    }

    /// Items waiting in exporter queues.
    pub fn pending_items(&self) -> u64 {
        self.queues.slots.iter().map(ExporterSlot::pending_items).sum()
    }

    /// Sends every exporter's queue, every signal of every exporter concurrently, and returns by `deadline`.
    /// What could not be delivered stays queued, within each queue's bound; requests fully written by the
    /// deadline stay in flight and are accounted at a later export. Exporters whose circuit breaker is open
    /// are skipped until their next probe.
    pub async fn export(&mut self, deadline: Instant) -> ExportReport {
        let report = export_all(&mut self.queues.slots, &mut self.queues.delivery, deadline, Round::Regular).await;
        self.queues.recount();
        report
    }

    /// Asks every exporter to drop its pooled connections (see [`Export::reset_connections`]).
    pub fn reset_connections(&self) {
        for slot in &self.queues.slots {
            slot.exporter.reset_connections();
        }
    }

    /// The last export, at shutdown: every exporter is tried whatever its breaker says, and requests in
    /// flight are awaited until `deadline`.
    pub async fn export_final(&mut self, deadline: Instant) -> ExportReport {
        let report = export_all(&mut self.queues.slots, &mut self.queues.delivery, deadline, Round::Final).await;
        self.queues.recount();
        report
    }

    /// Per exporter: total time its circuit breaker has been open, and how many times it opened.
    pub fn breaker_open(&self) -> Vec<(String, Duration, u64)> {
        let now = Instant::now();
        self.queues.slots.iter().map(|s| (s.id.to_string(), s.breaker.open_time(now), s.breaker.opened)).collect()
    }

    /// Items waiting per exporter.
    pub fn queued(&self) -> Vec<(String, u64)> {
        self.queues.slots.iter().map(|s| (s.id.to_string(), s.pending_items())).collect()
    }

    /// Counters per exporter and signal.
    pub fn counters(&self) -> Vec<(String, Signal, ExportCounters)> {
        self.queues
            .slots
            .iter()
            .flat_map(|s| SIGNALS.into_iter().zip(s.counters).map(|(signal, c)| (s.id.to_string(), signal, c)))
            .collect()
    }
}

/// The trace ids of the spans in `batches`, sorted and unique.
fn sorted_trace_ids<'a>(batches: impl Iterator<Item = &'a (usize, Signals)>) -> Vec<Vec<u8>> {
    let spans = batches.flat_map(|(_, s)| &s.spans).flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans);
    let mut ids: Vec<Vec<u8>> = spans.map(|s| s.trace_id.clone()).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use lambdatel_config::PipelineId;

    use super::*;
    use crate::{
        export::{Attempts, ExportOutcome},
        logs::{LogRecord, ResourceLogs, ScopeLogs},
        otlp::string_attribute,
        trace::{ResourceSpans, ScopeSpans, Span},
        ExportError,
    };

    /// Keeps what it is given, in memory.
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Signals>>);

    impl Export for Recorder {
        async fn export(
            &self,
            signal: Signal,
            data: &Signals,
            _: Attempts,
        ) -> (ExportOutcome, Result<(), ExportError>) {
            self.0.lock().unwrap().append(&mut data.part(signal));
            (ExportOutcome::default(), Ok(()))
        }

        fn queue_limit(&self) -> usize {
            0
        }
    }

    /// Test processors: each records what it saw and acts on one signal.
    enum Step {
        /// Tags spans with the body of the flush's first log record.
        TagSpansWithFirstLog(Option<String>),
        /// Drops spans of one trace id.
        DropTrace(Vec<u8>),
        /// Drops log records of traces the traces pipelines dropped.
        DropLogsOfDroppedTraces(Vec<Vec<u8>>),
        /// Records the spans and log records the view shows.
        Count(Arc<Mutex<Vec<(usize, usize)>>>),
    }

    impl Processor for Step {
        fn observe_flush(&mut self, flush: &FlushView<'_>) {
            match self {
                Step::TagSpansWithFirstLog(seen) => {
                    let first = flush.logs().flat_map(|r| &r.scope_logs).flat_map(|s| &s.log_records).next();
                    *seen = match first.and_then(|r| r.body.as_ref()).and_then(|b| b.value.as_ref()) {
                        Some(crate::common::any_value::Value::StringValue(text)) => Some(text.clone()),
                        _ => None,
                    };
                }
                Step::DropLogsOfDroppedTraces(ids) => {
                    *ids = flush.dropped_trace_ids().map(<[u8]>::to_vec).collect();
                }
                Step::DropTrace(_) => assert_eq!(flush.dropped_trace_ids().count(), 0, "traces run first"),
                Step::Count(seen) => {
                    let spans = flush.spans().flat_map(|r| &r.scope_spans).map(|s| s.spans.len()).sum();
                    let logs = flush.logs().flat_map(|r| &r.scope_logs).map(|s| s.log_records.len()).sum();
                    seen.lock().unwrap().push((spans, logs));
                }
            }
        }

        fn process_traces(&mut self, batch: &mut Vec<ResourceSpans>) {
            for scope in batch.iter_mut().flat_map(|r| &mut r.scope_spans) {
                match self {
                    Step::TagSpansWithFirstLog(Some(body)) => {
                        scope.spans.iter_mut().for_each(|s| s.attributes.push(string_attribute("first", body.clone())))
                    }
                    Step::DropTrace(id) => scope.spans.retain(|s| &s.trace_id != id),
                    _ => {}
                }
            }
        }

        fn process_logs(&mut self, batch: &mut Vec<ResourceLogs>) {
            if let Step::DropLogsOfDroppedTraces(ids) = self {
                for scope in batch.iter_mut().flat_map(|r| &mut r.scope_logs) {
                    scope.log_records.retain(|r| !ids.contains(&r.trace_id));
                }
            }
        }
    }

    fn flush(trace_ids: &[u8]) -> Signals {
        let spans = trace_ids.iter().map(|&t| Span { trace_id: vec![t; 16], ..Default::default() }).collect();
        let records = trace_ids
            .iter()
            .map(|&t| LogRecord {
                trace_id: vec![t; 16],
                body: Some(crate::otlp::string_value(format!("log of {t}"))),
                ..Default::default()
            })
            .collect();
        Signals {
            spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
                ..Default::default()
            }],
            logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs { log_records: records, ..Default::default() }],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn graph(traces: Vec<Step>, logs: Vec<Step>) -> (Graph<(), Step, Recorder>, Recorder) {
        let recorder = Recorder::default();
        let mut builder = GraphBuilder::default();
        let receiver = builder.add_receiver(ComponentId::parse("r").unwrap(), ());
        let exporter = builder.add_exporter(ComponentId::parse("x").unwrap(), recorder.clone());
        builder.add_pipeline(PipelineId::parse("traces").unwrap(), vec![receiver], traces, vec![exporter], None);
        builder.add_pipeline(PipelineId::parse("logs").unwrap(), vec![receiver], logs, vec![exporter], None);
        (builder.build(), recorder)
    }

    #[tokio::test]
    async fn spans_see_the_logs_of_the_same_flush() {
        let (mut graph, recorder) = graph(vec![Step::TagSpansWithFirstLog(None)], vec![]);
        graph.dispatch_flush(vec![(0, flush(&[1, 2]))]);
        graph.export(Instant::now() + Duration::from_secs(1)).await;
        let got = recorder.0.lock().unwrap().clone();
        let tags: Vec<&Vec<_>> = got.spans[0].scope_spans[0].spans.iter().map(|s| &s.attributes).collect();
        assert_eq!(tags, vec![&vec![string_attribute("first", "log of 1")]; 2]);
        assert_eq!(got.log_count(), 2, "logs pass through untouched");
    }

    #[tokio::test]
    async fn logs_pipelines_can_drop_the_logs_of_dropped_traces() {
        let (mut graph, recorder) =
            graph(vec![Step::DropTrace(vec![1; 16])], vec![Step::DropLogsOfDroppedTraces(vec![])]);
        graph.dispatch_flush(vec![(0, flush(&[1, 2, 3]))]);
        graph.export(Instant::now() + Duration::from_secs(1)).await;
        let got = recorder.0.lock().unwrap().clone();
        let span_traces: Vec<u8> = got.spans[0].scope_spans[0].spans.iter().map(|s| s.trace_id[0]).collect();
        let log_traces: Vec<u8> = got.logs[0].scope_logs[0].log_records.iter().map(|r| r.trace_id[0]).collect();
        assert_eq!((span_traces, log_traces), (vec![2, 3], vec![2, 3]));
    }

    #[tokio::test]
    async fn later_processors_see_the_spans_as_the_traces_pipelines_left_them() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (mut graph, _) = graph(vec![Step::DropTrace(vec![1; 16])], vec![Step::Count(seen.clone())]);
        let out = graph.process_flush(vec![(0, flush(&[1, 2, 3]))]);
        // Spans after sampling (two left), logs as received (three).
        assert_eq!(*seen.lock().unwrap(), [(2, 3)]);
        let pipelines: Vec<(String, usize)> =
            out.iter().map(|(p, s)| (graph.pipeline_id(*p).to_string(), s.total_count())).collect();
        assert_eq!(pipelines, [("traces".to_string(), 2), ("logs".to_string(), 3)]);
    }
}
