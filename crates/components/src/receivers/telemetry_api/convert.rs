//! The stateful conversion of one sandbox's Telemetry API / Logs API events into OTLP spans, metrics and logs,
//! following otlp-mapping.md.
//!
//! Events of one invocation arrive spread over several POSTs (and the INVOKE event comes from the Extensions
//! API), so the converter keeps a little state per invocation, keyed by request id: enough to build the
//! invocation span when the invocation ends, to attribute log lines to it, and to compute the report's
//! metrics later. Output accumulates until [`Converter::drain`].
//!
//! The converter is split along its seams: [`Converter`] and the dispatch of events here; invocation state in
//! `invocations`; init and restore phases in `phases`; span building in `spans`; log records in
//! `log_records` and their memory budget in `log_buffer`; CloudWatch-style platform lines in
//! `platform_lines`.
//!
//! On Lambda Managed Instances invocations run concurrently and their events interleave: nothing here
//! assumes "the invocation running now"; every event and record is matched by its own request id.

use std::collections::VecDeque;

use lambdatel_pipeline::Signals;

use crate::debug_line::{is_own_line, EMF_MARKER_KEY, EMF_MARKER_VALUE};
use opentelemetry_proto::tonic::{
    common::v1::InstrumentationScope,
    logs::v1::{ResourceLogs, ScopeLogs},
    metrics::v1::{ResourceMetrics, ScopeMetrics},
    resource::v1::Resource,
    trace::v1::{ResourceSpans, ScopeSpans, Span},
};
use serde::{Deserialize, Serialize};

pub use super::events::IngestStats;
pub use super::resource::ResourceInfo;
use super::{
    events::{parse_batch, Event, EventBody, LogPayload, Tracing},
    ids::uuid_v4,
    invocations::{apply_tracing, Invocations, Source},
    log_buffer::LogBuffer,
    log_records::LogType,
    metrics::{Instrument, MetricState},
    phases::{Phase, PhaseKind},
    resource::without_instance,
};

/// Aggregation temporality of the generated metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Temporality {
    /// Running totals since the sandbox's first event (the default, what Prometheus-style backends expect).
    #[default]
    Cumulative,
    /// Only what happened since the previous export.
    Delta,
}

/// How events are converted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConvertOptions {
    /// Also emit CloudWatch-style `START`, `END` and `REPORT` text lines as log records (default false).
    pub platform_logs: bool,
    /// Temporality of the generated metrics.
    pub temporality: Temporality,
    /// Whether the metrics' resource carries the sandbox's `service.instance.id` (and `faas.instance`);
    /// `None` decides by temporality (see [`ConvertOptions::metrics_carry_instance_id`]).
    pub instance_id_attribute: Option<bool>,
}

impl ConvertOptions {
    /// Cumulative series need the instance to stay apart (each sandbox keeps its own running total);
    /// delta points of many sandboxes add up into one series, so by default they leave it out and a
    /// function's series do not multiply with its sandboxes. Spans and logs always carry it.
    pub fn metrics_carry_instance_id(&self) -> bool {
        self.instance_id_attribute.unwrap_or(self.temporality == Temporality::Cumulative)
    }
}

/// What the Extensions API's INVOKE event tells about an invocation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvokeContext {
    /// `requestId`.
    pub request_id: String,
    /// `invokedFunctionArn`.
    pub invoked_function_arn: Option<String>,
    /// `tracing.value`: the X-Ray header, when the invocation has one.
    pub tracing_value: Option<String>,
    /// `deadlineMs`, unix milliseconds.
    pub deadline_ms: Option<u64>,
}

/// Running counts of what the converter left out or noticed, since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConverterCounters {
    /// Fields of kept events that could not be used (a malformed trace header or span id, a bad timestamp).
    pub skipped_fields: usize,
    /// Lines of our own debug exporter that came back as extension records and were left out.
    pub skipped_self_lines: u64,
    /// SnapStart restores seen (`platform.restoreStart`).
    pub restores: u64,
}

/// Converts the events of one sandbox into OTLP. See the module documentation.
#[derive(Debug)]
pub struct Converter {
    pub(super) info: ResourceInfo,
    pub(super) options: ConvertOptions,
    pub(super) resource: Resource,
    scope: InstrumentationScope,
    /// The invocation span's name.
    pub(super) function_name: String,
    pub(super) invocations: Invocations,
    pub(super) init: Option<Phase>,
    pub(super) restore: Option<Phase>,
    /// Lambda Managed Instances: invocations overlap, so no record is attributed by time alone.
    pub(super) managed_instances: bool,
    /// An on-demand init started and no invocation has started since.
    pub(super) cold_pending: bool,
    /// faas.init_duration was recorded for the current init (so the report's initDurationMs is not needed).
    pub(super) init_duration_recorded: bool,
    pub(super) metrics: MetricState,
    /// The latest init and restore events (type, time), to ignore repeats of a retried POST.
    pub(super) recent_phase_events: VecDeque<(u8, u64)>,
    /// Latest event time seen.
    pub(super) last_time: u64,
    pub(super) spans: Vec<Span>,
    pub(super) logs: LogBuffer,
    pub(super) counters: ConverterCounters,
    /// Invocations ended (their span complete) since the last drain.
    pub(super) ended_since_drain: usize,
    /// A restore happened that the caller was not told of yet.
    pub(super) restore_unseen: bool,
}

impl Converter {
    /// A converter for a sandbox described by `resource`.
    pub fn new(resource: ResourceInfo, options: ConvertOptions) -> Self {
        let function_name = resource
            .function_name
            .clone()
            .or_else(|| resource.service_name.clone())
            .unwrap_or_else(|| "lambda".to_owned());
        Converter {
            resource: resource.to_resource(&uuid_v4()),
            managed_instances: resource.is_managed_instances(),
            info: resource,
            options,
            scope: InstrumentationScope {
                name: "lambdatel".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                ..Default::default()
            },
            function_name,
            invocations: Invocations::default(),
            init: None,
            restore: None,
            cold_pending: false,
            init_duration_recorded: false,
            metrics: MetricState::new(options.temporality),
            recent_phase_events: VecDeque::new(),
            last_time: 0,
            spans: Vec::new(),
            logs: LogBuffer::default(),
            counters: ConverterCounters::default(),
            ended_since_drain: 0,
            restore_unseen: false,
        }
    }

    /// Declares the sandbox a Lambda Managed Instances one, or not (a test or a config forcing the mode). By
    /// default the converter knows it from [`ResourceInfo::initialization_type`], and from
    /// `platform.initStart`. Invocations overlap there, so a record without a request id of its own is
    /// attributed to none.
    pub fn set_managed_instances(&mut self, managed_instances: bool) {
        self.managed_instances = managed_instances;
    }

    /// Bounds the log records held between drains to about `bytes`; records past it are dropped and counted
    /// ([`Converter::dropped_logs`]), so a chatty function cannot push the sandbox toward out-of-memory while
    /// the backend is unreachable or flushes are spaced out.
    pub fn set_log_budget(&mut self, bytes: usize) {
        self.logs.set_budget(bytes);
    }

    /// Approximate bytes of log records held until the next drain (what the memory bound counts).
    pub fn held_log_bytes(&self) -> usize {
        self.logs.held_bytes()
    }

    /// Log records dropped because of the memory bound, since the start.
    pub fn dropped_logs(&self) -> u64 {
        self.logs.dropped()
    }

    /// How many of the debug exporter's own lines came back and were left out.
    pub fn skipped_self_lines(&self) -> u64 {
        self.counters.skipped_self_lines
    }

    /// What the converter left out or noticed since it was made.
    pub fn counters(&self) -> ConverterCounters {
        self.counters
    }

    /// The INVOKE event from `event/next`: gives the invocation its ARN and, possibly, its trace context.
    pub fn on_invoke(&mut self, ctx: InvokeContext) {
        let inv = self.invocations.get_or_insert(&ctx.request_id);
        if ctx.invoked_function_arn.is_some() {
            inv.invoked_arn = ctx.invoked_function_arn;
        }
        if let Some(value) = ctx.tracing_value {
            let tracing = Tracing { span_id: None, value: Some(value) };
            apply_tracing(inv, Some(&tracing), Source::Invoke, &mut self.counters);
        }
    }

    /// One POST body of the Telemetry API or the Logs API (their events share names and shapes).
    pub fn ingest(&mut self, body: &[u8]) -> IngestStats {
        let mut stats = IngestStats::default();
        let skipped_before = self.counters.skipped_fields;
        parse_batch(body, &mut stats, |event| self.handle(event));
        stats.skipped_fields += self.counters.skipped_fields - skipped_before;
        stats
    }

    /// Whether the runtime of `request_id` is known to have finished (platform.runtimeDone, or the Logs API's
    /// runtimeDone / end, or a report without runtimeDone).
    pub fn runtime_done_seen(&self, request_id: &str) -> bool {
        self.invocations.get(request_id).is_some_and(|inv| inv.runtime_done)
    }

    /// Whether the invocation `request_id` has ended: its span is complete and goes out with the next
    /// [`drain`](Self::drain) (or went out with an earlier one).
    pub fn invocation_ended(&self, request_id: &str) -> bool {
        self.invocations.get(request_id).is_some_and(|inv| inv.span_done)
    }

    /// How many invocations ended since the last [`drain`](Self::drain): a caller that flushes in the
    /// background (Lambda Managed Instances, where nothing waits for `event/next`) flushes when this is not 0.
    pub fn ended_since_drain(&self) -> usize {
        self.ended_since_drain
    }

    /// Invocations started and not yet ended.
    pub fn open_invocations(&self) -> usize {
        self.invocations.open_count()
    }

    /// Whether a SnapStart restore (`platform.restoreStart`) happened since the previous call. The restored
    /// sandbox shares the snapshot's memory with its siblings: on `true` the caller reseeds its id generators
    /// and gives the sandbox a new `service.instance.id`.
    pub fn take_restored(&mut self) -> bool {
        std::mem::take(&mut self.restore_unseen)
    }

    /// Everything complete so far: spans, log records, and a metric snapshot when metrics changed.
    pub fn drain(&mut self) -> Signals {
        let mut out = Signals::default();
        self.ended_since_drain = 0;
        if !self.spans.is_empty() {
            out.spans.push(ResourceSpans {
                resource: Some(self.resource.clone()),
                scope_spans: vec![ScopeSpans {
                    scope: Some(self.scope.clone()),
                    spans: std::mem::take(&mut self.spans),
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            });
        }
        if let Some(metrics) = self.metrics.snapshot() {
            let resource = if self.options.metrics_carry_instance_id() {
                self.resource.clone()
            } else {
                without_instance(&self.resource, &self.info)
            };
            out.metrics.push(ResourceMetrics {
                resource: Some(resource),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(self.scope.clone()),
                    metrics,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            });
        }
        let log_records = self.logs.take();
        if !log_records.is_empty() {
            out.logs.push(ResourceLogs {
                resource: Some(self.resource.clone()),
                scope_logs: vec![ScopeLogs { scope: Some(self.scope.clone()), log_records, schema_url: String::new() }],
                schema_url: String::new(),
            });
        }
        out
    }

    /// At shutdown: [`drain`](Self::drain) plus what is still held: an init or restore span not yet placed
    /// (in a trace of its own), and every started invocation without an end, as a span with unset status
    /// ended at the last event time seen.
    pub fn finish(&mut self) -> Signals {
        for idx in self.invocations.unended_started() {
            let start = self.invocations[idx].start.unwrap_or(0);
            let end = self.last_time.max(start);
            self.emit_invocation(idx, end, None, None, None, Vec::new());
        }
        for phase in [self.init.take(), self.restore.take()].into_iter().flatten() {
            self.emit_phase(phase, None);
        }
        self.drain()
    }

    /// The sandbox's OTLP resource.
    pub fn resource(&self) -> &Resource {
        &self.resource
    }

    fn handle(&mut self, event: Event) {
        if let Some(t) = event.time {
            self.last_time = self.last_time.max(t);
            self.metrics.observe_time(t);
        }
        if self.is_repeated_phase_event(&event) {
            return;
        }
        let time = event.time.unwrap_or(self.last_time);
        match event.body {
            EventBody::InitStart(start) => self.on_phase_start(PhaseKind::Init, event.time, start),
            EventBody::RestoreStart(start) => self.on_phase_start(PhaseKind::Restore, event.time, start),
            EventBody::InitRuntimeDone(done) => self.on_phase_runtime_done(PhaseKind::Init, event.time, done),
            EventBody::RestoreRuntimeDone(done) => self.on_phase_runtime_done(PhaseKind::Restore, event.time, done),
            EventBody::InitReport(done) => self.on_init_report(event.time, done),
            EventBody::RestoreReport(done) => self.on_restore_report(event.time, done),
            EventBody::Start(start) => self.on_start(time, start),
            EventBody::RuntimeDone(done) => self.on_runtime_done(event.time, done),
            EventBody::Report(report) => self.on_report(event.time, report),
            EventBody::End { request_id } => self.on_end(time, &request_id),
            EventBody::Fault(text) => self.on_fault(time, text),
            EventBody::LogsDropped(dropped) => {
                let records = dropped.dropped_records.unwrap_or(0);
                self.metrics.add(Instrument::LogsDropped, records);
                self.on_logs_dropped(time, &dropped);
            }
            EventBody::Notice => {}
            EventBody::FunctionLog(payload) => self.on_log(time, payload, LogType::Function),
            // The debug and awsemf exporters' own output comes back as extension records: feeding it through
            // again would make every flush print (and export) the previous one.
            EventBody::ExtensionLog(LogPayload::Text(text)) if is_own_line(&text) => {
                self.counters.skipped_self_lines += 1;
            }
            // With the JSON log format, Lambda hands an EMF line back as the object it is.
            EventBody::ExtensionLog(LogPayload::Json(record))
                if record.get(EMF_MARKER_KEY).and_then(|v| v.as_str()) == Some(EMF_MARKER_VALUE) =>
            {
                self.counters.skipped_self_lines += 1;
            }
            EventBody::ExtensionLog(payload) => self.on_log(time, payload, LogType::Extension),
        }
    }
}
