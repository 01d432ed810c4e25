//! The pipeline graph built from a config, as the Collector builds it: one receiver instance per id fanning
//! out to its pipelines, a processor chain per pipeline, one exporter instance per id shared by the
//! pipelines that name it, each exporter with a bounded queue of what it could not deliver yet.
//!
//! Follow one batch: [`Graph::dispatch`] runs a receiver's output through each pipeline's processors into
//! the queues of that pipeline's exporters; [`Graph::export`] sends every queue, all exporters at once,
//! within one deadline, and keeps what failed for the next flush.

use std::collections::BTreeMap;

use lambdatel_components::{exporters::Exporter, processors::ProcessorInstance, ReceiverConfig, Registry};
use lambdatel_config::{ComponentId, Config, ConfigError, ConfigErrors, PipelineId};
use lambdatel_pipeline::{take_front, ExportError, Processor, Signal, Signals, SIGNALS};
use tokio::{task::JoinSet, time::Instant};

/// Counters of one exporter for one signal, for self-telemetry and the shutdown summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportCounters {
    /// Items the backend acknowledged.
    pub exported: u64,
    /// Retries of failed attempts.
    pub retries: u64,
    /// Items dropped because the backend rejected them for good.
    pub dropped_rejected: u64,
    /// Items dropped because the queue of undelivered data was full.
    pub dropped_queue_full: u64,
    /// Items dropped because the extension's memory bound was reached.
    pub dropped_memory_limit: u64,
    /// Flushes that ended with data still undelivered (kept for the next one).
    pub deferred_flushes: u64,
}

struct Pipeline {
    id: PipelineId,
    receivers: Vec<usize>,
    processors: Vec<ProcessorInstance>,
    exporters: Vec<usize>,
}

struct ExporterSlot {
    id: ComponentId,
    exporter: Exporter,
    /// Undelivered data, oldest first.
    pending: Signals,
    queue_limit: usize,
    max_request_items: Option<usize>,
    counters: [ExportCounters; 3],
    last_error: Option<String>,
}

/// The built graph. It owns no network listener: receivers are bound by the lifecycle from
/// [`Graph::receivers`].
pub struct Graph {
    receivers: Vec<(ComponentId, ReceiverConfig)>,
    pipelines: Vec<Pipeline>,
    exporters: Vec<ExporterSlot>,
    /// Most encoded bytes all exporter queues may hold together.
    queue_budget_bytes: usize,
    queued_bytes: usize,
}

/// What one export round achieved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportReport {
    pub exported: u64,
    pub pending: u64,
    /// Exporters that still hold data or had data refused in this round.
    pub problems: Vec<ExportProblem>,
}

/// What went wrong for one exporter in one export round.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportProblem {
    pub exporter: String,
    /// The last error.
    pub error: String,
    /// Items held for the next flush.
    pub held: u64,
    /// Items refused for good in this round (and dropped).
    pub rejected: u64,
}

impl std::fmt::Display for ExportProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exporter {}: {}", self.exporter, self.error)?;
        if self.rejected > 0 {
            write!(f, "; {} items refused and dropped", self.rejected)?;
        }
        if self.held > 0 {
            write!(f, "; {} items held for the next flush", self.held)?;
        }
        Ok(())
    }
}

impl Graph {
    /// Builds every component named by a pipeline; all errors are collected.
    pub fn build(config: &Config, registry: &Registry) -> Result<Graph, ConfigErrors> {
        let mut errors: Vec<ConfigError> = Vec::new();
        let mut receivers: Vec<(ComponentId, ReceiverConfig)> = Vec::new();
        let mut receiver_index: BTreeMap<ComponentId, usize> = BTreeMap::new();
        let mut exporters: Vec<ExporterSlot> = Vec::new();
        let mut exporter_index: BTreeMap<ComponentId, usize> = BTreeMap::new();
        let mut pipelines = Vec::new();

        for (pipeline_id, pipeline) in &config.pipelines {
            let mut built =
                Pipeline { id: pipeline_id.clone(), receivers: vec![], processors: vec![], exporters: vec![] };
            for id in &pipeline.receivers {
                let Some(component) = config.receivers.get(id) else { continue };
                let index = match receiver_index.get(id) {
                    Some(&i) => Some(i),
                    None => match registry.build_receiver(id, component) {
                        Ok(receiver) => {
                            receivers.push((id.clone(), receiver));
                            receiver_index.insert(id.clone(), receivers.len() - 1);
                            Some(receivers.len() - 1)
                        }
                        Err(e) => {
                            errors.push(e);
                            receiver_index.insert(id.clone(), usize::MAX);
                            None
                        }
                    },
                };
                if let Some(i) = index.filter(|&i| i != usize::MAX) {
                    built.receivers.push(i);
                }
            }
            // Each pipeline gets its own processor instances, as in the Collector.
            for id in &pipeline.processors {
                let Some(component) = config.processors.get(id) else { continue };
                match registry.build_processor(id, component) {
                    Ok(p) => built.processors.push(p),
                    Err(e) if !errors.contains(&e) => errors.push(e),
                    Err(_) => {}
                }
            }
            for id in &pipeline.exporters {
                let Some(component) = config.exporters.get(id) else { continue };
                let index = match exporter_index.get(id) {
                    Some(&i) => Some(i),
                    None => match registry.build_exporter(id, component) {
                        Ok(exporter) => {
                            exporters.push(ExporterSlot {
                                id: id.clone(),
                                queue_limit: exporter.queue_limit(),
                                exporter,
                                pending: Signals::default(),
                                max_request_items: None,
                                counters: Default::default(),
                                last_error: None,
                            });
                            exporter_index.insert(id.clone(), exporters.len() - 1);
                            Some(exporters.len() - 1)
                        }
                        Err(e) => {
                            errors.push(e);
                            exporter_index.insert(id.clone(), usize::MAX);
                            None
                        }
                    },
                };
                if let Some(i) = index.filter(|&i| i != usize::MAX) {
                    built.exporters.push(i);
                }
            }
            let max_request = built.processors.iter().filter_map(|p| p.max_request_items()).min();
            for &e in &built.exporters {
                let slot = &mut exporters[e];
                slot.max_request_items = match (slot.max_request_items, max_request) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            pipelines.push(built);
        }

        // Lambda accepts one subscription per extension, so one telemetryapi receiver can be fed.
        let telemetry: Vec<&ComponentId> =
            receivers.iter().filter(|(_, r)| matches!(r, ReceiverConfig::TelemetryApi(_))).map(|(id, _)| id).collect();
        if telemetry.len() > 1 {
            let second = telemetry[1];
            let component = &config.receivers[second];
            errors.push(component.error(format!(
                "only one telemetryapi receiver can be used (Lambda allows one subscription per extension), and {} is already in use",
                telemetry[0]
            )));
        }
        if errors.is_empty() {
            Ok(Graph { receivers, pipelines, exporters, queue_budget_bytes: usize::MAX, queued_bytes: 0 })
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// The receivers to start, in the order their index is used by [`Graph::dispatch`].
    pub fn receivers(&self) -> &[(ComponentId, ReceiverConfig)] {
        &self.receivers
    }

    /// Pipeline ids with their receivers, processors count and exporters, for `lambdatel validate`.
    pub fn describe(&self) -> Vec<String> {
        self.pipelines
            .iter()
            .map(|p| {
                let receivers: Vec<String> = p.receivers.iter().map(|&r| self.receivers[r].0.to_string()).collect();
                let exporters: Vec<String> = p.exporters.iter().map(|&e| self.exporters[e].id.to_string()).collect();
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
        self.queue_budget_bytes = bytes;
    }

    /// Runs one receiver's output through every pipeline that lists it, into its exporters' queues.
    pub fn dispatch(&mut self, receiver: usize, signals: Signals) {
        for (pipeline, mut data) in self.process(receiver, signals) {
            let signal = self.pipelines[pipeline].id.signal;
            let size = encoded_size(&data);
            let items = data.count(signal) as u64;
            let exporters = self.pipelines[pipeline].exporters.clone();
            for (n, &index) in exporters.iter().enumerate() {
                let slot = &mut self.exporters[index];
                if self.queued_bytes.saturating_add(size) > self.queue_budget_bytes {
                    slot.counters[signal_index(signal)].dropped_memory_limit += items;
                    continue;
                }
                self.queued_bytes += size;
                // Clone for every exporter but the last, which takes the original.
                if n + 1 < exporters.len() {
                    slot.pending.append(&mut part(&data, signal));
                } else {
                    slot.pending.append(&mut data);
                }
            }
        }
    }

    /// [`Graph::dispatch`] regardless of the memory budget, for the extension's own counters: a few hundred
    /// bytes per snapshot, and the only record that data was dropped, so the bound must not drop them too.
    /// The queue bound still applies.
    pub fn dispatch_exempt(&mut self, receiver: usize, signals: Signals) {
        let budget = std::mem::replace(&mut self.queue_budget_bytes, usize::MAX);
        self.dispatch(receiver, signals);
        self.queue_budget_bytes = budget;
    }

    /// Runs one receiver's output through the processors of every pipeline that lists it, and returns each
    /// pipeline's result (by pipeline index; empty results are left out).
    pub fn process(&mut self, receiver: usize, mut signals: Signals) -> Vec<(usize, Signals)> {
        let mut out = Vec::new();
        for signal in SIGNALS {
            let targets: Vec<usize> = self
                .pipelines
                .iter()
                .enumerate()
                .filter(|(_, p)| p.id.signal == signal && p.receivers.contains(&receiver))
                .map(|(i, _)| i)
                .collect();
            let Some((&last, rest)) = targets.split_last() else { continue };
            // Clone for all consumers but the last, which takes the original.
            for &p in rest {
                let copy = part(&signals, signal);
                out.push((p, self.run_processors(p, copy)));
            }
            let own = take_part(&mut signals, signal);
            out.push((last, self.run_processors(last, own)));
        }
        out.retain(|(_, data)| !data.is_empty());
        out
    }

    /// The id of the pipeline at `index`, as [`Graph::process`] returns it.
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
        self.exporters.iter().map(|s| SIGNALS.iter().map(|&k| s.pending.count(k) as u64).sum::<u64>()).sum()
    }

    /// Sends every exporter's queue, all exporters concurrently, and returns by `deadline` (each attempt is
    /// bounded by it). What could not be delivered stays queued, within each queue's bound.
    pub async fn export(&mut self, deadline: Instant) -> ExportReport {
        let mut tasks = JoinSet::new();
        for (index, slot) in self.exporters.iter_mut().enumerate() {
            if slot.pending.is_empty() {
                continue;
            }
            let data = std::mem::take(&mut slot.pending);
            let exporter = slot.exporter.clone();
            let max_request = slot.max_request_items;
            tasks.spawn(async move { (index, send_all(exporter, data, max_request, deadline).await) });
        }
        let mut report = ExportReport::default();
        self.queued_bytes = 0;
        while let Some(joined) = tasks.join_next().await {
            // A panicking exporter task is a bug; its data is lost, but the extension keeps serving.
            let Ok((index, outcome)) = joined else { continue };
            let slot = &mut self.exporters[index];
            let SendOutcome { mut leftover, counters, last_error } = outcome;
            let rejected_now: u64 = counters.iter().map(|c| c.dropped_rejected).sum();
            for (total, delta) in slot.counters.iter_mut().zip(counters) {
                total.exported += delta.exported;
                total.retries += delta.retries;
                total.dropped_rejected += delta.dropped_rejected;
                report.exported += delta.exported;
            }
            // Data queued while this export ran (none today, since flushes are sequential) goes after it.
            leftover.append(&mut slot.pending);
            slot.pending = leftover;
            for (k, signal) in SIGNALS.into_iter().enumerate() {
                let held = slot.pending.count(signal);
                if held > 0 {
                    slot.counters[k].deferred_flushes += 1;
                }
                if held > slot.queue_limit {
                    let dropped = take_front(&mut slot.pending, signal, held - slot.queue_limit);
                    slot.counters[k].dropped_queue_full += dropped.count(signal) as u64;
                }
                report.pending += slot.pending.count(signal) as u64;
            }
            self.queued_bytes += encoded_size(&slot.pending);
            slot.last_error = last_error;
            // Data held for the next flush, or refused for good (bad credentials, say): either way the
            // lifecycle must be told, or a backend that rejects everything would go unnoticed until shutdown.
            let held: u64 = SIGNALS.iter().map(|&k| slot.pending.count(k) as u64).sum();
            if let (Some(error), true) = (&slot.last_error, held > 0 || rejected_now > 0) {
                report.problems.push(ExportProblem {
                    exporter: slot.id.to_string(),
                    error: error.clone(),
                    held,
                    rejected: rejected_now,
                });
            }
        }
        report
    }

    /// Items waiting per exporter.
    pub fn queued(&self) -> Vec<(String, u64)> {
        self.exporters
            .iter()
            .map(|s| (s.id.to_string(), SIGNALS.iter().map(|&k| s.pending.count(k) as u64).sum()))
            .collect()
    }

    /// Counters per exporter and signal.
    pub fn counters(&self) -> Vec<(String, Signal, ExportCounters)> {
        self.exporters
            .iter()
            .flat_map(|s| SIGNALS.into_iter().zip(s.counters).map(|(signal, c)| (s.id.to_string(), signal, c)))
            .collect()
    }
}

struct SendOutcome {
    leftover: Signals,
    counters: [ExportCounters; 3],
    last_error: Option<String>,
}

/// Sends one exporter's queue, signal by signal, each in requests of at most `max_request` items. A
/// retryable failure stops that signal (the rest waits for the next flush); a permanent one drops that
/// request. Sending the three signals at once over the shared HTTP/2 connection was measured slower, not
/// faster: against a server that leaves Nagle's algorithm on, the second and third answers waited out the
/// 40 ms delayed ACK (quiet function, end mode: post-runtime p50 68 ms concurrent, 25 ms one after another).
async fn send_all(exporter: Exporter, mut data: Signals, max_request: Option<usize>, deadline: Instant) -> SendOutcome {
    let traces = send_signal(&exporter, Signal::Traces, take_part(&mut data, Signal::Traces), max_request, deadline);
    let metrics = send_signal(&exporter, Signal::Metrics, take_part(&mut data, Signal::Metrics), max_request, deadline);
    let logs = send_signal(&exporter, Signal::Logs, take_part(&mut data, Signal::Logs), max_request, deadline);
    let (traces, metrics, logs) = (traces.await, metrics.await, logs.await);
    let mut outcome = SendOutcome { leftover: Signals::default(), counters: Default::default(), last_error: None };
    for (k, (mut leftover, counters, error)) in [traces, metrics, logs].into_iter().enumerate() {
        outcome.leftover.append(&mut leftover);
        outcome.counters[k] = counters;
        outcome.last_error = error.or(outcome.last_error);
    }
    outcome
}

/// Sends one signal's part of a queue; returns what is left for the next flush, the counters and the last
/// error.
async fn send_signal(
    exporter: &Exporter,
    signal: Signal,
    mut remaining: Signals,
    max_request: Option<usize>,
    deadline: Instant,
) -> (Signals, ExportCounters, Option<String>) {
    let mut counters = ExportCounters::default();
    let mut last_error = None;
    while remaining.count(signal) > 0 {
        let mut request = match max_request {
            Some(n) => take_front(&mut remaining, signal, n),
            None => std::mem::take(&mut remaining),
        };
        let items = request.count(signal) as u64;
        let (outcome, result) = exporter.export(signal, &request, deadline).await;
        counters.retries += u64::from(outcome.retries);
        match result {
            Ok(()) => counters.exported += items,
            Err(ExportError::Permanent { message }) => {
                counters.dropped_rejected += items;
                last_error = Some(message);
            }
            Err(error @ ExportError::Retryable { .. }) => {
                request.append(&mut remaining);
                last_error = Some(error.to_string());
                return (request, counters, last_error);
            }
        }
    }
    (remaining, counters, last_error)
}

fn signal_index(signal: Signal) -> usize {
    SIGNALS.iter().position(|s| *s == signal).expect("every signal is in SIGNALS")
}

/// The protobuf size of a batch: what it costs in memory, near enough, and what it costs on the wire.
fn encoded_size(signals: &Signals) -> usize {
    use prost::Message;
    signals.spans.iter().map(Message::encoded_len).sum::<usize>()
        + signals.metrics.iter().map(Message::encoded_len).sum::<usize>()
        + signals.logs.iter().map(Message::encoded_len).sum::<usize>()
}

fn part(signals: &Signals, signal: Signal) -> Signals {
    match signal {
        Signal::Traces => Signals { spans: signals.spans.clone(), ..Default::default() },
        Signal::Metrics => Signals { metrics: signals.metrics.clone(), ..Default::default() },
        Signal::Logs => Signals { logs: signals.logs.clone(), ..Default::default() },
    }
}

fn take_part(signals: &mut Signals, signal: Signal) -> Signals {
    match signal {
        Signal::Traces => Signals { spans: std::mem::take(&mut signals.spans), ..Default::default() },
        Signal::Metrics => Signals { metrics: std::mem::take(&mut signals.metrics), ..Default::default() },
        Signal::Logs => Signals { logs: std::mem::take(&mut signals.logs), ..Default::default() },
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use lambdatel_pipeline::logs::{LogRecord, ResourceLogs, ScopeLogs};
    use lambdatel_sim::{OtlpSink, SinkBehaviour};

    use super::*;

    fn config(yaml: &str) -> Config {
        lambdatel_config::parse(yaml, None, &|_| None).expect("valid test config")
    }

    fn graph(exporters: &str, pipeline_exporters: &str, processors: &str) -> Graph {
        let yaml = format!(
            "receivers:\n  telemetryapi:\nprocessors:\n  batch:\n    send_batch_size: 1\n    send_batch_max_size: 2\nexporters:\n{exporters}service:\n  pipelines:\n    logs: {{receivers: [telemetryapi], processors: [{processors}], exporters: [{pipeline_exporters}]}}\n"
        );
        Graph::build(&config(&yaml), &Registry::builtin()).expect("graph builds")
    }

    fn logs(n: u64) -> Signals {
        Signals {
            logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records: (0..n).map(|t| LogRecord { time_unix_nano: t, ..Default::default() }).collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn counters(graph: &Graph, exporter: &str) -> ExportCounters {
        graph.counters().into_iter().find(|(e, s, _)| e == exporter && *s == Signal::Logs).unwrap().2
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(2)
    }

    #[tokio::test]
    async fn fan_out_delivers_to_every_exporter_in_requests_of_the_batch_size() {
        let a = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let b = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let exporters =
            format!("  otlp/a:\n    endpoint: {}\n  otlp/b:\n    endpoint: {}\n", a.grpc_endpoint(), b.grpc_endpoint());
        let mut graph = graph(&exporters, "otlp/a, otlp/b", "batch");
        graph.dispatch(0, logs(5));
        let report = graph.export(soon()).await;
        assert_eq!(report, ExportReport { exported: 10, pending: 0, problems: vec![] });
        for sink in [&a, &b] {
            assert_eq!(sink.received().log_count(), 5);
            // send_batch_max_size: 2 cuts five records into three requests.
            assert_eq!(sink.request_count(), 3);
        }
        assert_eq!(counters(&graph, "otlp/a").exported, 5);
    }

    #[tokio::test]
    async fn undelivered_data_waits_for_the_next_flush_within_the_queue_bound() {
        let sink = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let exporters = format!(
            "  otlp:\n    endpoint: {}\n    retry_on_failure: {{enabled: false}}\n    sending_queue: {{queue_size: 4}}\n",
            sink.grpc_endpoint()
        );
        let mut graph = graph(&exporters, "otlp", "");
        sink.set_behaviour(SinkBehaviour::Fail(tonic::Code::Unavailable));
        graph.dispatch(0, logs(3));
        let report = graph.export(soon()).await;
        assert_eq!((report.exported, report.pending), (0, 3));
        assert_eq!(report.problems.len(), 1);
        assert!(report.problems[0].error.contains("Unavailable"), "{report:?}");
        assert_eq!((report.problems[0].held, report.problems[0].rejected), (3, 0));
        graph.dispatch(0, logs(3));
        let report = graph.export(soon()).await;
        // Six held, four kept: the two oldest are dropped and counted.
        assert_eq!(report.pending, 4);
        assert_eq!(counters(&graph, "otlp").dropped_queue_full, 2);
        sink.set_behaviour(SinkBehaviour::Accept);
        let report = graph.export(soon()).await;
        assert_eq!((report.exported, report.pending), (4, 0));
        let times: Vec<u64> = sink
            .received()
            .logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
            .map(|l| l.time_unix_nano)
            .collect();
        assert_eq!(times, [2, 0, 1, 2], "the newest four, oldest first");
    }

    #[tokio::test]
    async fn rejected_data_is_dropped_and_counted() {
        let sink = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
        sink.set_behaviour(SinkBehaviour::Fail(tonic::Code::InvalidArgument));
        let mut graph = graph(&format!("  otlp:\n    endpoint: {}\n", sink.grpc_endpoint()), "otlp", "");
        graph.dispatch(0, logs(3));
        let report = graph.export(soon()).await;
        assert_eq!((report.exported, report.pending), (0, 0));
        // Nothing is held, but the refusal is reported.
        assert_eq!(report.problems.len(), 1, "{report:?}");
        assert!(report.problems[0].error.contains("InvalidArgument"), "{report:?}");
        assert_eq!((report.problems[0].held, report.problems[0].rejected), (0, 3));
        assert!(report.problems[0].to_string().ends_with("; 3 items refused and dropped"), "{report:?}");
        let c = counters(&graph, "otlp");
        assert_eq!((c.dropped_rejected, c.retries), (3, 0));
    }

    #[tokio::test]
    async fn past_the_memory_budget_new_data_is_dropped_and_counted() {
        let mut graph = graph("  debug:\n    verbosity: basic\n", "debug", "");
        let one = encoded_size(&logs(10));
        graph.set_queue_budget(one + one / 2);
        graph.dispatch(0, logs(10));
        graph.dispatch(0, logs(10));
        assert_eq!(graph.pending_items(), 10);
        assert_eq!(counters(&graph, "debug").dropped_memory_limit, 10);
        // The extension's own counters pass a full budget, and the budget still holds afterwards.
        graph.dispatch_exempt(0, logs(10));
        assert_eq!(graph.pending_items(), 20);
        graph.dispatch(0, logs(1));
        assert_eq!((graph.pending_items(), counters(&graph, "debug").dropped_memory_limit), (20, 11));
        graph.export(soon()).await;
        // Delivered data frees the budget.
        graph.dispatch(0, logs(10));
        assert_eq!(graph.pending_items(), 10);
    }

    #[test]
    fn two_telemetry_receivers_are_refused() {
        let yaml = "receivers:\n  telemetryapi:\n  telemetryapi/2:\nexporters:\n  debug:\nservice:\n  pipelines:\n    logs: {receivers: [telemetryapi, telemetryapi/2], exporters: [debug]}\n";
        let errors = Graph::build(&config(yaml), &Registry::builtin()).err().unwrap();
        assert_eq!(errors.0.len(), 1);
        assert_eq!(
            errors.0[0].message,
            "only one telemetryapi receiver can be used (Lambda allows one subscription per extension), and telemetryapi is already in use"
        );
    }
}
