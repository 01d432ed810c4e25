//! The stateful conversion of one sandbox's Telemetry API / Logs API events into OTLP spans, metrics and logs,
//! following otlp-mapping.md.
//!
//! Events of one invocation arrive spread over several POSTs (and the INVOKE event comes from the Extensions
//! API), so the converter keeps a little state per invocation: enough to build the invocation span when its
//! `platform.runtimeDone` arrives, to attribute log lines to it, and to compute the report's metrics later.
//! Output accumulates until [`Converter::drain`].

use std::collections::VecDeque;

use lambdatel_pipeline::Signals;

use crate::exporters::debug::DEBUG_LINE_PREFIX;
use opentelemetry_proto::tonic::{
    common::v1::{any_value::Value as Av, AnyValue, InstrumentationScope, KeyValue},
    logs::v1::{LogRecord, ResourceLogs, ScopeLogs},
    metrics::v1::{ResourceMetrics, ScopeMetrics},
    resource::v1::Resource,
    trace::v1::{span::SpanKind, status::StatusCode, ResourceSpans, ScopeSpans, Span, Status},
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use super::events::IngestStats;
pub use super::resource::ResourceInfo;
use super::{
    events::{parse_batch, Event, EventBody, InvokeDone, LogPayload, PhaseDone, PhaseSpan, PhaseStart, Tracing},
    logs::{is_request_id, json_to_any, parse_text_line, severity_number},
    metrics::{Instrument, MetricState},
    resource::{int, kv_str, set_attr, string, uuid_v4, without_instance},
    xray::{decode_hex, parse_xray, XrayContext},
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

/// W3C sampled flag, in the low byte of OTLP span flags.
const FLAG_SAMPLED: u32 = 0x01;
/// OTLP span flags bit 8: whether the parent is remote is known.
const FLAG_HAS_IS_REMOTE: u32 = 0x100;
/// OTLP span flags bit 9: the parent is remote.
const FLAG_IS_REMOTE: u32 = 0x200;
/// Invocations remembered at once; beyond this the oldest is forgotten (only a runaway sandbox gets there).
const MAX_TRACKED: usize = 64;

/// Where a trace context came from; a better source replaces a worse one until the ids are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    Done,
    Invoke,
    Start,
}

/// The ids of an invocation span, fixed once a span or log record carries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ids {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    parent: Option<[u8; 8]>,
    sampled: bool,
}

impl Ids {
    fn flags(&self) -> u32 {
        let remote = if self.parent.is_some() { FLAG_IS_REMOTE } else { 0 };
        (u32::from(self.sampled) * FLAG_SAMPLED) | FLAG_HAS_IS_REMOTE | remote
    }
}

/// What is known of one invocation, from its INVOKE event and its platform events.
#[derive(Debug, Default)]
struct Invocation {
    request_id: String,
    invoked_arn: Option<String>,
    xray: Option<(XrayContext, Source)>,
    given_span_id: Option<([u8; 8], Source)>,
    ids: Option<Ids>,
    /// platform.start time.
    start: Option<u64>,
    /// runtimeDone (or end/report) time: the end of the window in which its logs are written.
    end: Option<u64>,
    coldstart: bool,
    /// The runtime finished (runtimeDone, or platform.end / report standing in for it).
    runtime_done: bool,
    span_done: bool,
    /// How long the runtime worked (runtimeDone's durationMs, else its times), for post_runtime_duration.
    runtime_ms: Option<f64>,
    /// out_of_memory was counted for this request (runtimeDone and report may both tell).
    oom_counted: bool,
    end_logged: bool,
    /// A runtimeDone / report of this request was converted: a repeat (Lambda retrying a POST) is ignored.
    runtime_done_event: bool,
    report_seen: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PhaseKind {
    Init,
    Restore,
}

/// An init or restore phase being assembled from its start, runtimeDone and report events.
#[derive(Debug)]
struct Phase {
    kind: PhaseKind,
    initialization_type: Option<String>,
    phase: Option<String>,
    start: Option<u64>,
    /// runtimeDone time.
    end: Option<u64>,
    report_time: Option<u64>,
    report_duration_ms: Option<f64>,
    status: Option<String>,
    error_type: Option<String>,
    spans: Vec<PhaseSpan>,
    /// runtimeDone or report arrived: the span can be drawn.
    complete: bool,
}

impl Phase {
    fn new(kind: PhaseKind) -> Self {
        Phase {
            kind,
            initialization_type: None,
            phase: None,
            start: None,
            end: None,
            report_time: None,
            report_duration_ms: None,
            status: None,
            error_type: None,
            spans: Vec::new(),
            complete: false,
        }
    }

    /// On-demand inits and restores happen right before an invocation: they join its trace.
    fn joins_invocation(&self) -> bool {
        self.kind == PhaseKind::Restore || self.initialization_type.as_deref() == Some("on-demand")
    }

    fn absorb(&mut self, done: PhaseDone) {
        if done.initialization_type.is_some() {
            self.initialization_type = done.initialization_type;
        }
        if done.phase.is_some() {
            self.phase = done.phase;
        }
        if done.status.is_some() {
            self.status = done.status;
        }
        if done.error_type.is_some() {
            self.error_type = done.error_type;
        }
        if !done.spans.is_empty() {
            self.spans = done.spans;
        }
        self.complete = true;
    }
}

/// Converts the events of one sandbox into OTLP. See the module documentation.
#[derive(Debug)]
pub struct Converter {
    info: ResourceInfo,
    options: ConvertOptions,
    resource: Resource,
    scope: InstrumentationScope,
    /// The invocation span's name.
    function_name: String,
    invocations: VecDeque<Invocation>,
    init: Option<Phase>,
    restore: Option<Phase>,
    /// An on-demand init started and no invocation has started since.
    cold_pending: bool,
    /// faas.init_duration was recorded for the current init (so the report's initDurationMs is not needed).
    init_duration_recorded: bool,
    metrics: MetricState,
    /// The latest init and restore events (type, time), to ignore repeats of a retried POST.
    recent_phase_events: VecDeque<(u8, u64)>,
    /// Latest event time seen.
    last_time: u64,
    spans: Vec<Span>,
    logs: Vec<LogRecord>,
    /// Lines of our own debug exporter that came back as extension records and were left out.
    skipped_self_lines: u64,
    /// Most bytes of log records held between drains (the memory bound); past it new records are dropped.
    log_budget_bytes: usize,
    held_log_bytes: usize,
    dropped_logs: u64,
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
            info: resource,
            options,
            scope: InstrumentationScope {
                name: "lambdatel".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                ..Default::default()
            },
            function_name,
            invocations: VecDeque::new(),
            init: None,
            restore: None,
            cold_pending: false,
            init_duration_recorded: false,
            metrics: MetricState::new(options.temporality),
            recent_phase_events: VecDeque::new(),
            last_time: 0,
            spans: Vec::new(),
            logs: Vec::new(),
            skipped_self_lines: 0,
            log_budget_bytes: usize::MAX,
            held_log_bytes: 0,
            dropped_logs: 0,
        }
    }

    /// Bounds the log records held between drains to about `bytes`; records past it are dropped and counted
    /// ([`Converter::dropped_logs`]), so a chatty function cannot push the sandbox toward out-of-memory while
    /// the backend is unreachable or flushes are spaced out.
    pub fn set_log_budget(&mut self, bytes: usize) {
        self.log_budget_bytes = bytes;
    }

    /// Approximate bytes of log records held until the next drain (what the memory bound counts).
    pub fn held_log_bytes(&self) -> usize {
        self.held_log_bytes
    }

    /// Log records dropped because of the memory bound, since the start.
    pub fn dropped_logs(&self) -> u64 {
        self.dropped_logs
    }

    /// How many of the debug exporter's own lines came back and were left out.
    pub fn skipped_self_lines(&self) -> u64 {
        self.skipped_self_lines
    }

    /// The INVOKE event from `event/next`: gives the invocation its ARN and, possibly, its trace context.
    pub fn on_invoke(&mut self, ctx: InvokeContext) {
        let idx = self.invocation(&ctx.request_id);
        let inv = &mut self.invocations[idx];
        if ctx.invoked_function_arn.is_some() {
            inv.invoked_arn = ctx.invoked_function_arn;
        }
        if let Some(value) = ctx.tracing_value {
            let mut ignored = 0;
            apply_tracing(inv, Some(&Tracing { span_id: None, value: Some(value) }), Source::Invoke, &mut ignored);
        }
    }

    /// One POST body of the Telemetry API.
    pub fn ingest_telemetry(&mut self, body: &[u8]) -> IngestStats {
        self.ingest(body)
    }

    /// One POST body of the Logs API (its events share names and shapes with the Telemetry API's).
    pub fn ingest_logs_api(&mut self, body: &[u8]) -> IngestStats {
        self.ingest(body)
    }

    /// Whether the runtime of `request_id` is known to have finished (platform.runtimeDone, or the Logs API's
    /// runtimeDone / end, or a report without runtimeDone).
    pub fn runtime_done_seen(&self, request_id: &str) -> bool {
        self.find(request_id).is_some_and(|i| self.invocations[i].runtime_done)
    }

    /// Everything complete so far: spans, log records, and a metric snapshot when metrics changed.
    pub fn drain(&mut self) -> Signals {
        let mut out = Signals::default();
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
        self.held_log_bytes = 0;
        if !self.logs.is_empty() {
            out.logs.push(ResourceLogs {
                resource: Some(self.resource.clone()),
                scope_logs: vec![ScopeLogs {
                    scope: Some(self.scope.clone()),
                    log_records: std::mem::take(&mut self.logs),
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            });
        }
        out
    }

    /// At shutdown: [`drain`](Self::drain) plus what is still held: an init or restore span not yet placed
    /// (in a trace of its own), and every started invocation without an end, as a span with unset status
    /// ended at the last event time seen.
    pub fn finish(&mut self) -> Signals {
        for idx in 0..self.invocations.len() {
            let inv = &self.invocations[idx];
            if inv.span_done || inv.start.is_none() {
                continue;
            }
            let end = self.last_time.max(inv.start.unwrap_or(0));
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

    fn ingest(&mut self, body: &[u8]) -> IngestStats {
        let mut stats = IngestStats::default();
        let mut skipped_fields = 0;
        parse_batch(body, &mut stats, |event| self.handle(event, &mut skipped_fields));
        stats.skipped_fields += skipped_fields;
        stats
    }

    fn handle(&mut self, event: Event, sk: &mut usize) {
        if let Some(t) = event.time {
            self.last_time = self.last_time.max(t);
            self.metrics.observe_time(t);
        }
        let time = event.time.unwrap_or(self.last_time);
        if let (Some(tag), Some(t)) = (phase_event_tag(&event.body), event.time) {
            if self.recent_phase_events.contains(&(tag, t)) {
                return;
            }
            if self.recent_phase_events.len() == 8 {
                self.recent_phase_events.pop_front();
            }
            self.recent_phase_events.push_back((tag, t));
        }
        match event.body {
            EventBody::InitStart(start) => self.on_phase_start(PhaseKind::Init, event.time, start),
            EventBody::RestoreStart(start) => self.on_phase_start(PhaseKind::Restore, event.time, start),
            EventBody::InitRuntimeDone(done) => {
                let phase = self.init.get_or_insert_with(|| Phase::new(PhaseKind::Init));
                phase.end = event.time;
                phase.absorb(done);
            }
            EventBody::RestoreRuntimeDone(done) => {
                let phase = self.restore.get_or_insert_with(|| Phase::new(PhaseKind::Restore));
                phase.end = event.time;
                phase.absorb(done);
            }
            EventBody::InitReport(done) => self.on_init_report(event.time, done),
            EventBody::RestoreReport(done) => {
                if let Some(ms) = done.duration_ms {
                    self.metrics.record(Instrument::RestoreDuration, ms / 1000.0);
                }
                let phase = self.restore.get_or_insert_with(|| Phase::new(PhaseKind::Restore));
                phase.report_time = event.time;
                phase.report_duration_ms = done.duration_ms;
                phase.absorb(done);
            }
            EventBody::Start(start) => self.on_start(time, start, sk),
            EventBody::RuntimeDone(done) => self.on_runtime_done(event.time, done, sk),
            EventBody::Report(report) => self.on_report(event.time, report, sk),
            EventBody::End { request_id } => self.on_end(time, &request_id),
            EventBody::Fault(text) => {
                let request_id = text
                    .find("RequestId: ")
                    .and_then(|at| text.get(at + 11..at + 47))
                    .filter(|id| is_request_id(id))
                    .map(str::to_owned);
                self.push_log(new_record(time, time, string(text), (17, "ERROR".into())), request_id, "platform");
            }
            EventBody::LogsDropped(dropped) => {
                let records = dropped.dropped_records.unwrap_or(0);
                self.metrics.add(Instrument::LogsDropped, records);
                let body = format!(
                    "Lambda dropped {records} log records ({} bytes): {}",
                    dropped.dropped_bytes.unwrap_or(0),
                    dropped.reason.as_deref().unwrap_or("no reason given")
                );
                self.push_log(new_record(time, time, string(body), (13, "WARN".into())), None, "platform");
            }
            EventBody::Notice => {}
            EventBody::FunctionLog(payload) => self.on_log(time, payload, "function", sk),
            // The debug exporter's own output comes back as extension records: feeding it through again
            // would make every flush print (and export) the previous one.
            EventBody::ExtensionLog(LogPayload::Text(text)) if text.starts_with(DEBUG_LINE_PREFIX) => {
                self.skipped_self_lines += 1;
            }
            EventBody::ExtensionLog(payload) => self.on_log(time, payload, "extension", sk),
        }
    }

    fn on_phase_start(&mut self, kind: PhaseKind, time: Option<u64>, start: PhaseStart) {
        // A previous phase still held (an init that failed and was retried) keeps a trace of its own.
        let slot = match kind {
            PhaseKind::Init => &mut self.init,
            PhaseKind::Restore => &mut self.restore,
        };
        if let Some(old) = slot.take() {
            self.emit_phase(old, None);
        }
        self.patch_resource(&start);
        if kind == PhaseKind::Init {
            self.init_duration_recorded = false;
            if start.initialization_type.as_deref() == Some("on-demand") {
                self.metrics.add(Instrument::Coldstarts, 1);
                // A suppressed init (phase `invoke`, after a reset) may run inside the invocation that
                // triggered it, after its platform.start: that invocation is the cold one.
                let running = match start.phase.as_deref() {
                    Some("invoke") => self.invocations.iter_mut().rev().find(|i| i.start.is_some() && !i.runtime_done),
                    _ => None,
                };
                match running {
                    Some(inv) => inv.coldstart = true,
                    None => self.cold_pending = true,
                }
            }
        }
        let mut phase = Phase::new(kind);
        phase.start = time;
        phase.initialization_type = start.initialization_type;
        phase.phase = start.phase;
        match kind {
            PhaseKind::Init => self.init = Some(phase),
            PhaseKind::Restore => self.restore = Some(phase),
        }
    }

    fn patch_resource(&mut self, start: &PhaseStart) {
        let attrs = &mut self.resource.attributes;
        if let Some(id) = &start.instance_id {
            for key in super::resource::INSTANCE_KEYS {
                if !self.info.user_sets(key) {
                    set_attr(attrs, key, id);
                }
            }
        }
        if self.info.function_name.is_none() {
            if let Some(name) = &start.function_name {
                if !self.info.user_sets("faas.name") {
                    set_attr(attrs, "faas.name", name);
                }
                if self.info.service_name.is_none() && !self.info.user_sets("service.name") {
                    set_attr(attrs, "service.name", name);
                    self.function_name.clone_from(name);
                }
                self.info.function_name = Some(name.clone());
            }
        }
        if let (None, Some(max)) = (self.info.memory_mb, start.instance_max_memory) {
            // Lambda sends bytes, the documentation's example MB; no function has less than 128 MB.
            let bytes = if max < 1_048_576 { max.saturating_mul(1_048_576) } else { max };
            if !self.info.user_sets("faas.max_memory") {
                let value = Some(int(i64::try_from(bytes).unwrap_or(i64::MAX)));
                match attrs.iter_mut().find(|kv| kv.key == "faas.max_memory") {
                    Some(kv) => kv.value = value,
                    None => attrs.push(KeyValue { key: "faas.max_memory".into(), value, ..Default::default() }),
                }
            }
        }
        if self.info.function_version.is_none() && !self.info.user_sets("faas.version") {
            if let Some(version) = &start.function_version {
                set_attr(attrs, "faas.version", version);
            }
        }
    }

    fn on_init_report(&mut self, time: Option<u64>, done: PhaseDone) {
        if let Some(ms) = done.duration_ms {
            self.metrics.record(Instrument::InitDuration, ms / 1000.0);
            self.init_duration_recorded = true;
        }
        if matches!(done.status.as_deref(), Some("error" | "failure")) {
            self.metrics.add(Instrument::Errors, 1);
        }
        if done.error_type.as_deref() == Some("Runtime.OutOfMemory") {
            self.metrics.add(Instrument::OutOfMemory, 1);
        }
        let phase = self.init.get_or_insert_with(|| Phase::new(PhaseKind::Init));
        phase.report_time = time;
        phase.report_duration_ms = done.duration_ms;
        phase.absorb(done);
        // Provisioned concurrency and the like: no invocation follows right away, so no trace to join.
        if !phase.joins_invocation() {
            if let Some(phase) = self.init.take() {
                self.emit_phase(phase, None);
            }
        }
    }

    fn on_start(&mut self, time: u64, start: super::events::Start, sk: &mut usize) {
        if self.init.as_ref().is_some_and(|p| p.complete && !p.joins_invocation()) {
            if let Some(phase) = self.init.take() {
                self.emit_phase(phase, None);
            }
        }
        let idx = self.invocation(&start.request_id);
        let inv = &mut self.invocations[idx];
        if inv.start.is_some() || inv.span_done {
            return; // a repeat
        }
        let cold = std::mem::take(&mut self.cold_pending);
        let inv = &mut self.invocations[idx];
        inv.start = Some(time);
        inv.coldstart |= cold;
        if inv.invoked_arn.is_none() {
            inv.invoked_arn = start.function_arn;
        }
        apply_tracing(inv, start.tracing.as_ref(), Source::Start, sk);
        if self.options.platform_logs {
            let line = match &start.version {
                Some(version) => format!("START RequestId: {} Version: {version}", start.request_id),
                None => format!("START RequestId: {}", start.request_id),
            };
            self.push_platform_line(time, line, start.request_id);
        }
    }

    fn on_runtime_done(&mut self, time: Option<u64>, done: InvokeDone, sk: &mut usize) {
        let idx = self.invocation(&done.request_id);
        let inv = &mut self.invocations[idx];
        if std::mem::replace(&mut inv.runtime_done_event, true) {
            return;
        }
        apply_tracing(inv, done.tracing.as_ref(), Source::Done, sk);
        let end = end_time(time, inv.start, done.duration_ms, self.last_time);
        inv.end = Some(end);
        inv.runtime_done = true;
        inv.runtime_ms = done.duration_ms.or_else(|| inv.start.map(|s| end.saturating_sub(s) as f64 / 1e6));
        if let Some(ms) = inv.runtime_ms {
            self.metrics.record(Instrument::InvokeDuration, ms / 1000.0);
        }
        if let Some(bytes) = done.produced_bytes {
            self.metrics.record(Instrument::ProducedBytes, bytes as f64);
        }
        if done.error_type.as_deref() == Some("Runtime.OutOfMemory") && !inv.oom_counted {
            inv.oom_counted = true;
            self.metrics.add(Instrument::OutOfMemory, 1);
        }
        self.count_status(done.status.as_deref());
        if !self.invocations[idx].span_done {
            self.emit_invocation(
                idx,
                end,
                done.status.as_deref(),
                done.error_type.as_deref(),
                done.produced_bytes,
                done.spans,
            );
        }
    }

    fn on_report(&mut self, time: Option<u64>, report: InvokeDone, sk: &mut usize) {
        let idx = self.invocation(&report.request_id);
        if std::mem::replace(&mut self.invocations[idx].report_seen, true) {
            return;
        }
        apply_tracing(&mut self.invocations[idx], report.tracing.as_ref(), Source::Done, sk);
        let m = &mut self.metrics;
        if let Some(ms) = report.duration_ms {
            m.record(Instrument::Duration, ms / 1000.0);
        }
        if let Some(ms) = report.billed_duration_ms {
            m.record(Instrument::BilledDuration, ms / 1000.0);
        }
        if let Some(mb) = report.max_memory_used_mb {
            m.record(Instrument::MemUsage, mb * 1_048_576.0);
        }
        if let (Some(total), Some(runtime)) = (report.duration_ms, self.invocations[idx].runtime_ms) {
            m.record(Instrument::PostRuntimeDuration, (total - runtime).max(0.0) / 1000.0);
        }
        if let Some(ms) = report.init_duration_ms {
            if !self.init_duration_recorded {
                self.init_duration_recorded = true;
                m.record(Instrument::InitDuration, ms / 1000.0);
            }
        }
        let oom = report.error_type.as_deref() == Some("Runtime.OutOfMemory")
            || matches!((report.max_memory_used_mb, report.memory_size_mb), (Some(used), Some(size)) if used >= size);
        let inv = &mut self.invocations[idx];
        if oom && !inv.oom_counted {
            inv.oom_counted = true;
            m.add(Instrument::OutOfMemory, 1);
        }
        // No runtimeDone (Lambda Managed Instances send none): the report closes the invocation.
        if !inv.span_done {
            let end = end_time(time, inv.start, report.duration_ms, self.last_time);
            inv.end = Some(end);
            inv.runtime_done = true;
            if let Some(ms) = report.duration_ms {
                self.metrics.record(Instrument::InvokeDuration, ms / 1000.0);
            }
            self.count_status(report.status.as_deref());
            self.emit_invocation(idx, end, report.status.as_deref(), report.error_type.as_deref(), None, report.spans);
        }
        if self.options.platform_logs {
            let time = time.unwrap_or(self.last_time);
            if !std::mem::replace(&mut self.invocations[idx].end_logged, true) {
                self.push_platform_line(
                    time,
                    format!("END RequestId: {}", report.request_id),
                    report.request_id.clone(),
                );
            }
            let mut line = format!("REPORT RequestId: {}", report.request_id);
            let fields = [
                ("Duration", report.duration_ms, "ms", 2),
                ("Billed Duration", report.billed_duration_ms, "ms", 0),
                ("Memory Size", report.memory_size_mb, "MB", 0),
                ("Max Memory Used", report.max_memory_used_mb, "MB", 0),
                ("Init Duration", report.init_duration_ms, "ms", 2),
                ("Restore Duration", report.restore_duration_ms, "ms", 2),
            ];
            for (name, value, unit, precision) in fields {
                if let Some(value) = value {
                    line.push_str(&format!("\t{name}: {value:.precision$} {unit}"));
                }
            }
            self.push_platform_line(time, line, report.request_id);
        }
    }

    /// Logs API `platform.end`: ends the invocation span when no runtimeDone did (schema 2020-08-15).
    fn on_end(&mut self, time: u64, request_id: &str) {
        let idx = self.invocation(request_id);
        let inv = &mut self.invocations[idx];
        inv.runtime_done = true;
        if !inv.span_done {
            inv.end = Some(time);
            inv.runtime_ms = inv.start.map(|s| time.saturating_sub(s) as f64 / 1e6);
            self.emit_invocation(idx, time, None, None, None, Vec::new());
        }
        if self.options.platform_logs && !std::mem::replace(&mut self.invocations[idx].end_logged, true) {
            self.push_platform_line(time, format!("END RequestId: {request_id}"), request_id.to_owned());
        }
    }

    fn count_status(&mut self, status: Option<&str>) {
        match status {
            Some("success") => self.metrics.add(Instrument::Invocations, 1),
            Some("error" | "failure") => self.metrics.add(Instrument::Errors, 1),
            Some("timeout") => self.metrics.add(Instrument::Timeouts, 1),
            _ => {}
        }
    }

    fn on_log(&mut self, observed: u64, payload: LogPayload, log_type: &'static str, sk: &mut usize) {
        match payload {
            LogPayload::Text(mut text) => {
                let trimmed = text.trim_end_matches(['\n', '\r']).len();
                text.truncate(trimmed);
                let line = parse_text_line(&text);
                let severity = line.level.map(|(name, n)| (n, name.to_owned())).unwrap_or_default();
                let request_id = line.request_id.map(str::to_owned);
                self.push_log(new_record(observed, observed, string(text), severity), request_id, log_type);
            }
            LogPayload::Json(mut map) => {
                let timestamp = take_string(&mut map, "timestamp");
                let time = match timestamp.as_deref().map(super::events::parse_timestamp) {
                    Some(Some(t)) => t,
                    Some(None) => {
                        *sk += 1;
                        observed
                    }
                    None => observed,
                };
                let level = take_string(&mut map, "level");
                // Python and Node.js write `requestId`; Java's JSON format writes `AWSRequestId`.
                let (id_key, request_id) = match take_string(&mut map, "requestId") {
                    Some(id) => ("requestId", Some(id)),
                    None => ("AWSRequestId", take_string(&mut map, "AWSRequestId")),
                };
                let severity = match &level {
                    Some(level) => (severity_number(level).unwrap_or(0), level.clone()),
                    None => (0, String::new()),
                };
                let (body, attributes) = match map.remove("message") {
                    Some(Value::String(message)) => {
                        let attrs = map
                            .into_iter()
                            .map(|(key, value)| KeyValue { key, value: Some(json_to_any(value)), ..Default::default() })
                            .collect();
                        (string(message), attrs)
                    }
                    other => {
                        // No text message: the record itself, complete, is the body.
                        if let Some(message) = other {
                            map.insert("message".into(), message);
                        }
                        let restore = [("timestamp", timestamp), ("level", level), (id_key, request_id.clone())];
                        for (key, value) in restore {
                            if let Some(value) = value {
                                map.insert(key.into(), Value::String(value));
                            }
                        }
                        (json_to_any(Value::Object(map)), Vec::new())
                    }
                };
                let record = LogRecord { attributes, ..new_record(time, observed, body, severity) };
                self.push_log(record, request_id, log_type);
            }
        }
    }

    /// A CloudWatch-style platform line (`START`, `END`, `REPORT`).
    fn push_platform_line(&mut self, time: u64, line: String, request_id: String) {
        self.push_log(new_record(time, time, string(line), (9, "INFO".into())), Some(request_id), "platform");
    }

    /// Attributes `record` to its invocation (by request id, else by time), correlates it with the
    /// invocation span, and queues it. `record.attributes` come after ours.
    fn push_log(&mut self, mut record: LogRecord, request_id: Option<String>, log_type: &'static str) {
        let size = approximate_size(&record);
        if self.held_log_bytes.saturating_add(size) > self.log_budget_bytes {
            self.dropped_logs += 1;
            return;
        }
        self.held_log_bytes += size;
        let idx = match &request_id {
            Some(id) => self.find(id),
            None => self.running_at(record.time_unix_nano),
        };
        let request_id = match idx {
            Some(idx) => {
                let ids = self.fix_ids(idx);
                record.trace_id = ids.trace_id.to_vec();
                record.span_id = ids.span_id.to_vec();
                record.flags = u32::from(ids.sampled);
                request_id.or_else(|| Some(self.invocations[idx].request_id.clone()))
            }
            None => request_id,
        };
        let extra = std::mem::take(&mut record.attributes);
        let mut attributes = Vec::with_capacity(2 + extra.len());
        if let Some(id) = request_id {
            attributes.push(kv_str("faas.invocation_id", id));
        }
        attributes.push(kv_str("aws.lambda.log.type", log_type));
        attributes.extend(extra);
        record.attributes = attributes;
        self.logs.push(record);
    }

    /// The index of `request_id`'s invocation, created when unknown.
    fn invocation(&mut self, request_id: &str) -> usize {
        if let Some(idx) = self.find(request_id) {
            return idx;
        }
        if self.invocations.len() >= MAX_TRACKED {
            self.invocations.pop_front();
        }
        self.invocations.push_back(Invocation { request_id: request_id.to_owned(), ..Default::default() });
        self.invocations.len() - 1
    }

    fn find(&self, request_id: &str) -> Option<usize> {
        self.invocations.iter().rposition(|inv| inv.request_id == request_id)
    }

    /// The invocation whose runtime was running at `time` (the latest started, if several were).
    fn running_at(&self, time: u64) -> Option<usize> {
        self.invocations
            .iter()
            .rposition(|inv| inv.start.is_some_and(|s| s <= time) && inv.end.is_none_or(|e| time <= e))
    }

    /// The invocation's ids, decided now if nothing used them yet.
    fn fix_ids(&mut self, idx: usize) -> Ids {
        let inv = &mut self.invocations[idx];
        if let Some(ids) = inv.ids {
            return ids;
        }
        let span_id = inv.given_span_id.map_or_else(random_span_id, |(id, _)| id);
        let ids = match inv.xray {
            // Sampled=0 marks the span as not sampled; an absent or deferred decision counts as sampled,
            // since this span is recorded and exported either way.
            Some((x, _)) => {
                Ids { trace_id: x.trace_id, span_id, parent: x.parent_id, sampled: x.sampled != Some(false) }
            }
            None => Ids { trace_id: random_trace_id(), span_id, parent: None, sampled: true },
        };
        inv.ids = Some(ids);
        ids
    }

    fn emit_invocation(
        &mut self,
        idx: usize,
        end: u64,
        status: Option<&str>,
        error_type: Option<&str>,
        produced_bytes: Option<u64>,
        children: Vec<PhaseSpan>,
    ) {
        let ids = self.fix_ids(idx);
        let inv = &mut self.invocations[idx];
        inv.span_done = true;
        let start = inv.start.unwrap_or(end).min(end);
        let mut attributes = Vec::with_capacity(8);
        attributes.push(kv_str("faas.invocation_id", inv.request_id.as_str()));
        attributes.push(kv_bool("faas.coldstart", inv.coldstart));
        attributes.push(kv_str("faas.trigger", "other"));
        if let Some(arn) = &inv.invoked_arn {
            attributes.push(kv_str("cloud.resource_id", arn.as_str()));
            attributes.push(kv_str("aws.lambda.invoked_arn", arn.as_str()));
        }
        if let Some(bytes) = produced_bytes {
            let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
            attributes.push(KeyValue {
                key: "aws.lambda.produced_bytes".into(),
                value: Some(int(bytes)),
                ..Default::default()
            });
        }
        let span_status = span_status(status, error_type, &mut attributes);
        let flags = ids.flags();
        self.push_children(&ids, ids.span_id, children);
        self.spans.push(Span {
            trace_id: ids.trace_id.to_vec(),
            span_id: ids.span_id.to_vec(),
            parent_span_id: ids.parent.map(|p| p.to_vec()).unwrap_or_default(),
            flags,
            name: self.function_name.clone(),
            kind: SpanKind::Server as i32,
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            attributes,
            status: span_status,
            ..Default::default()
        });
        // The cold start that led to this invocation shows in its trace.
        for slot in [PhaseKind::Init, PhaseKind::Restore] {
            let held = match slot {
                PhaseKind::Init => &mut self.init,
                PhaseKind::Restore => &mut self.restore,
            };
            if held.as_ref().is_some_and(|p| p.complete && p.joins_invocation()) {
                if let Some(phase) = held.take() {
                    self.emit_phase(phase, Some(ids));
                }
            }
        }
    }

    /// Draws an init or restore span: in the trace of `ctx` (same trace, same parent), or in a new trace.
    fn emit_phase(&mut self, phase: Phase, ctx: Option<Ids>) {
        let duration = phase.report_duration_ms.map(ms_to_nanos);
        let end = phase
            .end
            .or_else(|| Some(phase.start?.saturating_add(duration?)))
            .or(phase.report_time)
            .unwrap_or(self.last_time);
        let start = phase.start.or_else(|| Some(end.saturating_sub(duration?))).unwrap_or(end).min(end);
        let ids = match ctx {
            Some(ctx) => Ids { span_id: random_span_id(), ..ctx },
            None => Ids { trace_id: random_trace_id(), span_id: random_span_id(), parent: None, sampled: true },
        };
        let mut attributes = vec![kv_bool("faas.coldstart", true)];
        if let Some(t) = &phase.initialization_type {
            attributes.push(kv_str("aws.lambda.initialization_type", t.as_str()));
        }
        if let Some(p) = &phase.phase {
            attributes.push(kv_str("aws.lambda.init_phase", p.as_str()));
        }
        let status = span_status(phase.status.as_deref(), phase.error_type.as_deref(), &mut attributes);
        self.push_children(&ids, ids.span_id, phase.spans);
        self.spans.push(Span {
            trace_id: ids.trace_id.to_vec(),
            span_id: ids.span_id.to_vec(),
            parent_span_id: ids.parent.map(|p| p.to_vec()).unwrap_or_default(),
            flags: ids.flags(),
            name: match phase.kind {
                PhaseKind::Init => "Init".into(),
                PhaseKind::Restore => "Restore".into(),
            },
            kind: SpanKind::Internal as i32,
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            attributes,
            status,
            ..Default::default()
        });
    }

    /// The `spans[]` of a done or report event, as INTERNAL children of `parent`.
    fn push_children(&mut self, ids: &Ids, parent: [u8; 8], children: Vec<PhaseSpan>) {
        let flags = (u32::from(ids.sampled) * FLAG_SAMPLED) | FLAG_HAS_IS_REMOTE;
        for child in children {
            self.spans.push(Span {
                trace_id: ids.trace_id.to_vec(),
                span_id: random_span_id().to_vec(),
                parent_span_id: parent.to_vec(),
                flags,
                name: child.name,
                kind: SpanKind::Internal as i32,
                start_time_unix_nano: child.start,
                end_time_unix_nano: child.start.saturating_add(ms_to_nanos(child.duration_ms)),
                ..Default::default()
            });
        }
    }
}

/// Takes `inv`'s trace context from `tracing` unless a better source gave it already or the ids are in use.
fn apply_tracing(inv: &mut Invocation, tracing: Option<&Tracing>, source: Source, sk: &mut usize) {
    let Some(tracing) = tracing else { return };
    if inv.ids.is_some() {
        return;
    }
    if let Some(value) = &tracing.value {
        match parse_xray(value) {
            Some(x) if inv.xray.is_none_or(|(_, s)| s <= source) => inv.xray = Some((x, source)),
            Some(_) => {}
            None => *sk += 1,
        }
    }
    if let Some(span_id) = &tracing.span_id {
        let mut id = [0u8; 8];
        if decode_hex(span_id, &mut id) && id != [0; 8] {
            if inv.given_span_id.is_none_or(|(_, s)| s <= source) {
                inv.given_span_id = Some((id, source));
            }
        } else {
            *sk += 1;
        }
    }
}

/// A log record with its times, body and severity (number, text).
fn new_record(time: u64, observed: u64, body: AnyValue, (number, text): (i32, String)) -> LogRecord {
    LogRecord {
        time_unix_nano: time,
        observed_time_unix_nano: observed,
        severity_number: number,
        severity_text: text,
        body: Some(body),
        ..Default::default()
    }
}

/// Identifies the init and restore events, which have no request id to tell a repeat by.
fn phase_event_tag(body: &EventBody) -> Option<u8> {
    Some(match body {
        EventBody::InitStart(_) => 0,
        EventBody::InitRuntimeDone(_) => 1,
        EventBody::InitReport(_) => 2,
        EventBody::RestoreStart(_) => 3,
        EventBody::RestoreRuntimeDone(_) => 4,
        EventBody::RestoreReport(_) => 5,
        _ => return None,
    })
}

/// OK for success, ERROR (with `error.type`) for any other status, unset when there is no status.
fn span_status(status: Option<&str>, error_type: Option<&str>, attributes: &mut Vec<KeyValue>) -> Option<Status> {
    let status = status?;
    if status == "success" {
        return Some(Status { message: String::new(), code: StatusCode::Ok as i32 });
    }
    let error = error_type.unwrap_or(status);
    attributes.push(kv_str("error.type", error));
    Some(Status { message: error.to_owned(), code: StatusCode::Error as i32 })
}

/// The end of a phase: its event's time, else start + duration, else the last time seen.
fn end_time(time: Option<u64>, start: Option<u64>, duration_ms: Option<f64>, last: u64) -> u64 {
    time.or_else(|| Some(start?.saturating_add(ms_to_nanos(duration_ms?)))).unwrap_or(last)
}

fn ms_to_nanos(ms: f64) -> u64 {
    (ms * 1e6).round() as u64
}

fn take_string(map: &mut Map<String, Value>, key: &str) -> Option<String> {
    match map.remove(key)? {
        Value::String(s) => Some(s),
        // Not the expected string: it stays in the record as an ordinary key.
        other => {
            map.insert(key.to_owned(), other);
            None
        }
    }
}

fn kv_bool(key: &str, value: bool) -> KeyValue {
    KeyValue { key: key.to_owned(), value: Some(AnyValue { value: Some(Av::BoolValue(value)) }), ..Default::default() }
}

fn random_trace_id() -> [u8; 16] {
    fastrand::u128(1..).to_be_bytes()
}

fn random_span_id() -> [u8; 8] {
    fastrand::u64(1..).to_be_bytes()
}

/// Roughly what a log record costs in memory: its body and attributes plus a fixed overhead.
fn approximate_size(record: &LogRecord) -> usize {
    fn value_size(value: &AnyValue) -> usize {
        match &value.value {
            Some(Av::StringValue(s)) => s.len(),
            Some(Av::BytesValue(b)) => b.len(),
            Some(Av::ArrayValue(a)) => a.values.iter().map(value_size).sum::<usize>() + 16,
            Some(Av::KvlistValue(kv)) => {
                kv.values.iter().map(|kv| kv.key.len() + kv.value.as_ref().map_or(0, value_size)).sum::<usize>() + 16
            }
            _ => 8,
        }
    }
    let attributes: usize =
        record.attributes.iter().map(|kv| kv.key.len() + kv.value.as_ref().map_or(0, value_size) + 32).sum();
    128 + record.body.as_ref().map_or(0, value_size) + attributes
}

#[cfg(test)]
mod tests {
    use super::super::events::parse_timestamp;
    use super::*;
    use crate::receivers::telemetry_api::resource::INSTANCE_KEYS;
    use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point, AggregationTemporality, Metric};

    const A: &str = "6d68ca91-49c9-448d-89b8-7ca3e6dc66aa";
    const B: &str = "0e7fa3a1-21cd-4bfa-9f0a-3e4b4c7d9a11";
    const C: &str = "3f2d9a4e-8b71-4c2e-a0f5-6b1c7d8e9f00";
    const D: &str = "9b8c7d6e-5f4a-4b3c-8d2e-1f0a9b8c7d6e";
    const ARN: &str = "arn:aws:lambda:eu-west-1:123456789012:function:orders-api";

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn info() -> ResourceInfo {
        ResourceInfo {
            function_name: Some("orders-api".into()),
            function_version: Some("$LATEST".into()),
            region: Some("eu-west-1".into()),
            memory_mb: Some(128),
            ..Default::default()
        }
    }

    fn converter() -> Converter {
        Converter::new(info(), ConvertOptions::default())
    }

    fn ts(text: &str) -> u64 {
        parse_timestamp(text).unwrap()
    }

    fn hex(text: &str) -> Vec<u8> {
        let mut out = vec![0; text.len() / 2];
        assert!(decode_hex(text, &mut out));
        out
    }

    fn spans(s: &Signals) -> Vec<&Span> {
        assert!(s.spans.len() <= 1, "one ResourceSpans per drain");
        s.spans.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans).collect()
    }

    fn span<'a>(s: &'a Signals, name: &str) -> &'a Span {
        let found: Vec<_> = spans(s).into_iter().filter(|s| s.name == name).collect();
        assert_eq!(found.len(), 1, "{name}: {found:?}");
        found[0]
    }

    fn logs(s: &Signals) -> Vec<&LogRecord> {
        assert!(s.logs.len() <= 1, "one ResourceLogs per drain");
        s.logs.iter().flat_map(|r| &r.scope_logs).flat_map(|s| &s.log_records).collect()
    }

    fn metric<'a>(s: &'a Signals, name: &str) -> Option<&'a Metric> {
        assert!(s.metrics.len() <= 1, "one ResourceMetrics per drain");
        s.metrics.iter().flat_map(|r| &r.scope_metrics).flat_map(|s| &s.metrics).find(|m| m.name == name)
    }

    fn counter(s: &Signals, name: &str) -> Option<i64> {
        match &metric(s, name)?.data {
            Some(Data::Sum(sum)) => match sum.data_points[0].value {
                Some(number_data_point::Value::AsInt(v)) => Some(v),
                ref other => panic!("{other:?}"),
            },
            other => panic!("{name}: {other:?}"),
        }
    }

    /// (count, sum) of a histogram.
    fn histogram(s: &Signals, name: &str) -> Option<(u64, f64)> {
        match &metric(s, name)?.data {
            Some(Data::Histogram(h)) => Some((h.data_points[0].count, h.data_points[0].sum.unwrap())),
            other => panic!("{name}: {other:?}"),
        }
    }

    fn av(kv: &KeyValue) -> Av {
        kv.value.clone().and_then(|v| v.value).expect("a value")
    }

    fn attrs(list: &[KeyValue]) -> Vec<(&str, Av)> {
        list.iter().map(|kv| (kv.key.as_str(), av(kv))).collect()
    }

    fn s(text: &str) -> Av {
        Av::StringValue(text.into())
    }

    fn body(record: &LogRecord) -> Av {
        record.body.clone().and_then(|b| b.value).expect("a body")
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn cold_start_invocation_span() {
        let mut c = converter();
        c.on_invoke(InvokeContext {
            request_id: A.into(),
            invoked_function_arn: Some(ARN.into()),
            tracing_value: None,
            deadline_ms: Some(1_714_564_803_360),
        });
        let stats = c.ingest_telemetry(&fixture("telemetry_cold_start.json"));
        assert_eq!(stats, IngestStats { events: 12, ..IngestStats::default() });
        assert!(c.runtime_done_seen(A));
        assert!(!c.runtime_done_seen(B));
        let out = c.drain();
        assert_eq!(spans(&out).len(), 5);

        let inv = span(&out, "orders-api");
        assert_eq!(inv.kind, SpanKind::Server as i32);
        assert_eq!(inv.trace_id, hex("66323100b1f9e2a8c7d64e0f9a1b2c3d"));
        assert_eq!(inv.span_id, hex("8a3c60f7d188f8fa"));
        assert_eq!(inv.parent_span_id, hex("2f4a8c1e9b7d3a60"));
        assert_eq!(inv.flags, 0x301);
        assert_eq!(inv.start_time_unix_nano, ts("2024-05-01T12:00:00.360Z"));
        assert_eq!(inv.end_time_unix_nano, ts("2024-05-01T12:00:00.512Z"));
        assert_eq!(
            attrs(&inv.attributes),
            vec![
                ("faas.invocation_id", s(A)),
                ("faas.coldstart", Av::BoolValue(true)),
                ("faas.trigger", s("other")),
                ("cloud.resource_id", s(ARN)),
                ("aws.lambda.invoked_arn", s(ARN)),
                ("aws.lambda.produced_bytes", Av::IntValue(48)),
            ]
        );
        assert_eq!(inv.status, Some(Status { message: String::new(), code: StatusCode::Ok as i32 }));

        let children: Vec<_> = spans(&out).into_iter().filter(|s| s.parent_span_id == inv.span_id).collect();
        let shape: Vec<_> = children
            .iter()
            .map(|s| (s.name.as_str(), s.kind, s.start_time_unix_nano, s.end_time_unix_nano, s.flags))
            .collect();
        let internal = SpanKind::Internal as i32;
        assert_eq!(
            shape,
            vec![
                ("responseLatency", internal, ts("2024-05-01T12:00:00.360Z"), ts("2024-05-01T12:00:00.5102Z"), 0x101),
                ("responseDuration", internal, ts("2024-05-01T12:00:00.510Z"), ts("2024-05-01T12:00:00.5113Z"), 0x101),
                ("runtimeOverhead", internal, ts("2024-05-01T12:00:00.511Z"), ts("2024-05-01T12:00:00.5115Z"), 0x101),
            ]
        );
        for child in &children {
            assert_eq!(child.trace_id, inv.trace_id);
            assert_eq!(child.span_id.len(), 8);
            assert_ne!(child.span_id, inv.span_id);
        }
    }

    #[test]
    fn on_demand_init_span_joins_the_first_invocation_trace() {
        let mut c = converter();
        c.ingest_telemetry(&fixture("telemetry_cold_start.json"));
        let out = c.drain();
        let inv = span(&out, "orders-api");
        let init = span(&out, "Init");
        assert_eq!(init.kind, SpanKind::Internal as i32);
        assert_eq!(init.trace_id, inv.trace_id);
        assert_eq!(init.parent_span_id, inv.parent_span_id);
        assert_ne!(init.span_id, inv.span_id);
        assert_eq!(init.flags, 0x301);
        assert_eq!(init.start_time_unix_nano, ts("2024-05-01T12:00:00.000Z"));
        assert_eq!(init.end_time_unix_nano, ts("2024-05-01T12:00:00.350Z"));
        assert_eq!(
            attrs(&init.attributes),
            vec![
                ("faas.coldstart", Av::BoolValue(true)),
                ("aws.lambda.initialization_type", s("on-demand")),
                ("aws.lambda.init_phase", s("init")),
            ]
        );
        assert_eq!(init.status.as_ref().map(|s| s.code), Some(StatusCode::Ok as i32));
    }

    #[test]
    fn init_span_is_held_until_the_invocation_is_known() {
        let mut c = converter();
        let body = fixture("telemetry_cold_start.json");
        let events: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap();
        // Up to and including initReport: nothing to export yet, the init waits for its trace.
        let init_only = serde_json::to_vec(&events[..7]).unwrap();
        c.ingest_telemetry(&init_only);
        assert!(spans(&c.drain()).is_empty());
        c.ingest_telemetry(&serde_json::to_vec(&events[7..]).unwrap());
        let out = c.drain();
        assert_eq!(span(&out, "Init").trace_id, span(&out, "orders-api").trace_id);
    }

    #[test]
    fn resource_takes_the_instance_id_from_init_start() {
        let mut c = converter();
        let before = attrs(&c.resource().attributes);
        let (_, random_id) = before.iter().find(|(k, _)| *k == "service.instance.id").unwrap().clone();
        let Av::StringValue(random_id) = random_id else { panic!() };
        assert_eq!(random_id.len(), 36);
        assert!(before.iter().all(|(k, _)| *k != "faas.instance"));
        c.ingest_telemetry(&fixture("telemetry_cold_start.json"));
        let instance = s("2024/05/01/orders-api[$LATEST]0b7fa3c1d2e44f5a8b9c0d1e2f3a4b5c");
        assert_eq!(
            attrs(&c.resource().attributes),
            vec![
                ("service.name", s("orders-api")),
                ("service.instance.id", instance.clone()),
                ("cloud.provider", s("aws")),
                ("cloud.platform", s("aws_lambda")),
                ("cloud.region", s("eu-west-1")),
                ("faas.name", s("orders-api")),
                ("faas.version", s("$LATEST")),
                ("faas.max_memory", Av::IntValue(134_217_728)),
                ("faas.instance", instance),
            ]
        );
        let out = c.drain();
        assert_eq!(out.spans[0].resource.as_ref(), Some(c.resource()));
        assert_eq!(out.logs[0].resource.as_ref(), Some(c.resource()));
        assert_eq!(out.metrics[0].resource.as_ref(), Some(c.resource()));
        let scope = out.spans[0].scope_spans[0].scope.as_ref().unwrap();
        assert_eq!((scope.name.as_str(), scope.version.as_str()), ("lambdatel", env!("CARGO_PKG_VERSION")));
    }

    #[test]
    fn user_resource_attributes_are_not_patched() {
        let info = ResourceInfo { extra: vec![("service.instance.id".into(), "mine".into())], ..info() };
        let mut c = Converter::new(info, ConvertOptions::default());
        c.ingest_telemetry(&fixture("telemetry_cold_start.json"));
        let r = attrs(&c.resource().attributes);
        assert!(r.contains(&("service.instance.id", s("mine"))));
        assert!(r.contains(&("faas.instance", s("2024/05/01/orders-api[$LATEST]0b7fa3c1d2e44f5a8b9c0d1e2f3a4b5c"))));
    }

    #[test]
    fn text_logs_severity_request_id_and_trace() {
        let mut c = converter();
        c.ingest_telemetry(&fixture("telemetry_cold_start.json"));
        let out = c.drain();
        let trace = hex("66323100b1f9e2a8c7d64e0f9a1b2c3d");
        let span_id = hex("8a3c60f7d188f8fa");
        let got: Vec<_> = logs(&out)
            .into_iter()
            .map(|r| {
                (
                    body(r),
                    r.time_unix_nano,
                    r.observed_time_unix_nano,
                    r.severity_number,
                    r.severity_text.as_str(),
                    attrs(&r.attributes),
                    r.trace_id.clone(),
                    r.span_id.clone(),
                    r.flags,
                )
            })
            .collect();
        let t = |x: &str| ts(x);
        let ext = vec![("aws.lambda.log.type", s("extension"))];
        let func = vec![("aws.lambda.log.type", s("function"))];
        let func_a = vec![("faas.invocation_id", s(A)), ("aws.lambda.log.type", s("function"))];
        let start = t("2024-05-01T12:00:00.050Z");
        let info_line = format!("[INFO]\t2024-05-01T12:00:00.362Z\t{A}\tprocessing order 42");
        let error_line = format!("[ERROR]\t2024-05-01T12:00:00.480Z\t{A}\tpayment service slow, retrying");
        let t1 = t("2024-05-01T12:00:00.362Z");
        let t2 = t("2024-05-01T12:00:00.480Z");
        let t3 = t("2024-05-01T12:00:00.501Z");
        let t0 = t("2024-05-01T12:00:00.210Z");
        assert_eq!(
            got,
            vec![
                (s("lambdatel: listening on sandbox.localdomain:4323"), start, start, 0, "", ext, vec![], vec![], 0),
                (s("Loading pricing tables"), t0, t0, 0, "", func, vec![], vec![], 0),
                (s(&info_line), t1, t1, 9, "INFO", func_a.clone(), trace.clone(), span_id.clone(), 1),
                (s(&error_line), t2, t2, 17, "ERROR", func_a.clone(), trace.clone(), span_id.clone(), 1),
                // No request id in the line: attributed to the invocation running at that time.
                (s("order 42 stored"), t3, t3, 0, "", func_a, trace, span_id, 1),
            ]
        );
    }

    #[test]
    fn report_metrics_arrive_after_the_span() {
        let mut c = converter();
        c.ingest_telemetry(&fixture("telemetry_cold_start.json"));
        let first = c.drain();
        assert_eq!(counter(&first, "faas.coldstarts"), Some(1));
        assert_eq!(counter(&first, "faas.invocations"), Some(1));
        assert_eq!(histogram(&first, "faas.init_duration"), Some((1, 0.35218)));
        let (n, sum) = histogram(&first, "faas.invoke_duration").unwrap();
        assert!(n == 1 && close(sum, 0.1524), "{sum}");
        assert_eq!(histogram(&first, "aws.lambda.produced_bytes"), Some((1, 48.0)));
        assert_eq!(histogram(&first, "aws.lambda.duration"), None);

        let stats = c.ingest_telemetry(&fixture("telemetry_warm_invoke.json"));
        assert_eq!(stats, IngestStats { events: 6, ..IngestStats::default() });
        let second = c.drain();
        assert_eq!(
            histogram(&second, "aws.lambda.duration").map(|(n, s)| (n, close(s, 0.17 + 0.1405))),
            Some((2, true))
        );
        assert_eq!(
            histogram(&second, "aws.lambda.billed_duration").map(|(n, s)| (n, close(s, 0.312))),
            Some((2, true))
        );
        assert_eq!(histogram(&second, "faas.mem_usage"), Some((2, (81.0 + 85.0) * 1_048_576.0)));
        let (n, sum) = histogram(&second, "aws.lambda.post_runtime_duration").unwrap();
        assert!(n == 2 && close(sum, (170.0 - 152.4 + 140.5 - 90.5) / 1000.0), "{sum}");
        // initDurationMs of the first report is not counted again: initReport gave it.
        assert_eq!(histogram(&second, "faas.init_duration"), Some((1, 0.35218)));
        assert_eq!(counter(&second, "faas.invocations"), Some(1));
        assert_eq!(counter(&second, "faas.errors"), Some(1));
        assert_eq!(counter(&second, "faas.coldstarts"), Some(1));
        assert_eq!(counter(&second, "faas.timeouts"), None);
        assert_eq!(counter(&second, "aws.lambda.out_of_memory"), None);
        let m = metric(&second, "faas.errors").unwrap();
        let Some(Data::Sum(sum)) = &m.data else { panic!() };
        assert_eq!(sum.aggregation_temporality, AggregationTemporality::Cumulative as i32);
        assert_eq!(sum.data_points[0].start_time_unix_nano, ts("2024-05-01T12:00:00.000Z"));
        assert_eq!(sum.data_points[0].time_unix_nano, ts("2024-05-01T12:00:05.140Z"));
        assert_eq!(m.unit, "{error}");
        assert!(c.drain().is_empty(), "nothing new, nothing out");
    }

    #[test]
    fn error_invocation_json_logs_and_unsampled_trace() {
        let mut c = converter();
        c.ingest_telemetry(&fixture("telemetry_cold_start.json"));
        c.drain();
        c.ingest_telemetry(&fixture("telemetry_warm_invoke.json"));
        let out = c.drain();
        assert_eq!(spans(&out).len(), 1, "the report's extensionOverhead is not a span");
        let inv = span(&out, "orders-api");
        assert_eq!(inv.trace_id, hex("663231050a1b2c3d4e5f60718293a4b5"));
        assert_eq!(inv.flags, 0x300, "Sampled=0");
        assert_eq!(inv.status, Some(Status { message: "KeyError".into(), code: StatusCode::Error as i32 }));
        assert_eq!(
            attrs(&inv.attributes),
            vec![
                ("faas.invocation_id", s(B)),
                ("faas.coldstart", Av::BoolValue(false)),
                ("faas.trigger", s("other")),
                ("aws.lambda.produced_bytes", Av::IntValue(120)),
                ("error.type", s("KeyError")),
            ]
        );
        let records = logs(&out);
        assert_eq!(records.len(), 2);
        let r = records[0];
        assert_eq!(body(r), s("fetching order"));
        assert_eq!(
            (r.time_unix_nano, r.observed_time_unix_nano),
            (ts("2024-05-01T12:00:05.009Z"), ts("2024-05-01T12:00:05.010Z"))
        );
        assert_eq!((r.severity_number, r.severity_text.as_str()), (9, "INFO"));
        assert_eq!(
            attrs(&r.attributes),
            vec![
                ("faas.invocation_id", s(B)),
                ("aws.lambda.log.type", s("function")),
                ("logger", s("app")),
                ("orderId", Av::IntValue(43)),
            ]
        );
        assert_eq!((r.trace_id.clone(), r.span_id.clone(), r.flags), (inv.trace_id.clone(), inv.span_id.clone(), 0));
        let r = records[1];
        assert_eq!((r.severity_number, r.severity_text.as_str()), (17, "ERROR"));
        let Av::KvlistValue(whole) = body(r) else { panic!("{r:?}") };
        let keys: Vec<_> = whole.values.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(keys, ["level", "message", "requestId", "timestamp"]);
        assert_eq!(attrs(&r.attributes), vec![("faas.invocation_id", s(B)), ("aws.lambda.log.type", s("function"))]);
    }

    #[test]
    fn java_json_logs_name_the_request_id_differently() {
        let batch = format!(
            r#"[{{"time":"2024-05-01T12:00:00.000Z","type":"platform.start","record":{{"requestId":"{A}"}}}},
               {{"time":"2024-05-01T12:00:00.100Z","type":"platform.runtimeDone","record":{{"requestId":"{A}","status":"success"}}}},
               {{"time":"2024-05-01T12:00:01.000Z","type":"function","record":{{"timestamp":"2024-05-01T12:00:00.050Z","message":"late","level":"UNDEFINED","AWSRequestId":"{A}"}}}},
               {{"time":"2024-05-01T12:00:01.001Z","type":"function","record":{{"message":{{"k":1}},"AWSRequestId":"{A}"}}}}]"#
        );
        let mut c = converter();
        c.ingest_telemetry(batch.as_bytes());
        let out = c.drain();
        let records = logs(&out);
        let inv = span(&out, "orders-api");
        assert_eq!((records[0].severity_number, records[0].severity_text.as_str()), (0, "UNDEFINED"));
        assert_eq!(
            attrs(&records[0].attributes),
            vec![("faas.invocation_id", s(A)), ("aws.lambda.log.type", s("function"))]
        );
        assert_eq!(records[0].trace_id, inv.trace_id);
        let Av::KvlistValue(whole) = body(records[1]) else { panic!() };
        let keys: Vec<_> = whole.values.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(keys, ["AWSRequestId", "message"]);
        assert_eq!(records[1].trace_id, inv.trace_id);
    }

    #[test]
    fn logs_api_2021_03_18_with_platform_lines() {
        let mut c = Converter::new(info(), ConvertOptions { platform_logs: true, ..Default::default() });
        let stats = c.ingest_logs_api(&fixture("logs_api_2021_03_18.json"));
        assert_eq!(stats, IngestStats { events: 7, ..IngestStats::default() });
        assert!(c.runtime_done_seen(C));
        let out = c.drain();
        let inv = span(&out, "orders-api");
        assert_eq!(spans(&out).len(), 1);
        assert_eq!(inv.start_time_unix_nano, ts("2024-05-01T12:00:10.000Z"));
        assert_eq!(inv.end_time_unix_nano, ts("2024-05-01T12:00:10.020Z"));
        assert_eq!(inv.status.as_ref().map(|s| s.code), Some(StatusCode::Ok as i32));
        assert_eq!(inv.trace_id.len(), 16);
        assert_eq!(inv.parent_span_id, Vec::<u8>::new());
        assert_eq!(inv.flags, 0x101);
        let lines: Vec<_> = logs(&out).into_iter().map(|r| (body(r), r.severity_number)).collect();
        assert_eq!(
            lines,
            vec![
                (s(&format!("START RequestId: {C} Version: $LATEST")), 9),
                (s(&format!("2024-05-01T12:00:10.005Z\t{C}\tINFO\thello from node")), 9),
                (s(&format!("2024-05-01T12:00:10.006Z\t{C}\tWARN\tcache miss")), 13),
                (s(&format!("END RequestId: {C}")), 9),
                (
                    s(&format!(
                        "REPORT RequestId: {C}\tDuration: 25.71 ms\tBilled Duration: 26 ms\tMemory Size: 256 MB\tMax Memory Used: 60 MB"
                    )),
                    9
                ),
                (
                    s("Lambda dropped 12 log records (4096 bytes): Consumer seems to have fallen behind as it has not acknowledged receipt of logs."),
                    13
                ),
            ]
        );
        for r in &logs(&out)[..5] {
            assert_eq!(r.trace_id, inv.trace_id);
            assert!(r.attributes.iter().any(|kv| kv.key == "faas.invocation_id" && av(kv) == s(C)));
        }
        let dropped = logs(&out)[5];
        assert_eq!(dropped.severity_text, "WARN");
        assert_eq!(attrs(&dropped.attributes), vec![("aws.lambda.log.type", s("platform"))]);
        assert_eq!(counter(&out, "aws.lambda.logs_dropped"), Some(12));
        assert_eq!(counter(&out, "faas.invocations"), Some(1));
        let (n, sum) = histogram(&out, "aws.lambda.post_runtime_duration").unwrap();
        assert!(n == 1 && close(sum, (25.71 - 20.0) / 1000.0), "{sum}");
        assert_eq!(histogram(&out, "faas.invoke_duration"), Some((1, 0.02)));
    }

    #[test]
    fn platform_lines_are_off_by_default() {
        let mut c = converter();
        c.ingest_logs_api(&fixture("logs_api_2021_03_18.json"));
        let out = c.drain();
        assert_eq!(logs(&out).len(), 3, "two function lines and the logsDropped warning");
    }

    #[test]
    fn logs_api_2020_08_15_ends_at_platform_end() {
        let mut c = converter();
        let stats = c.ingest_logs_api(&fixture("logs_api_2020_08_15.json"));
        assert_eq!(stats, IngestStats { events: 7, ..IngestStats::default() });
        assert!(c.runtime_done_seen(D));
        let out = c.drain();
        let inv = span(&out, "orders-api");
        assert_eq!(inv.start_time_unix_nano, ts("2024-05-01T12:00:20.100Z"));
        assert_eq!(inv.end_time_unix_nano, ts("2024-05-01T12:00:20.310Z"));
        assert_eq!(inv.status, None, "no status in this schema");
        let records = logs(&out);
        assert_eq!(records.len(), 2);
        assert_eq!(body(records[0]), s("working"));
        assert_eq!(records[0].trace_id, inv.trace_id);
        let fault = records[1];
        assert_eq!((fault.severity_number, fault.severity_text.as_str()), (17, "ERROR"));
        assert_eq!(
            attrs(&fault.attributes),
            vec![("faas.invocation_id", s(D)), ("aws.lambda.log.type", s("platform"))]
        );
        // The report's initDurationMs stands in for a missed initReport; 512 of 512 MB is out of memory.
        assert_eq!(histogram(&out, "faas.init_duration"), Some((1, 0.0955)));
        assert_eq!(counter(&out, "aws.lambda.out_of_memory"), Some(1));
        assert_eq!(counter(&out, "faas.invocations"), None);
        assert_eq!(histogram(&out, "faas.mem_usage"), Some((1, 536_870_912.0)));
    }

    #[test]
    fn provisioned_init_stands_alone() {
        let mut c = converter();
        c.ingest_telemetry(&fixture("telemetry_provisioned.json"));
        let out = c.drain();
        let init = span(&out, "Init");
        assert_eq!(spans(&out).len(), 1);
        assert_eq!(init.parent_span_id, Vec::<u8>::new());
        assert_eq!(init.trace_id.len(), 16);
        assert_ne!(init.trace_id, vec![0; 16]);
        assert_eq!(init.flags, 0x101);
        assert_eq!(init.start_time_unix_nano, ts("2024-05-01T11:00:00.000Z"));
        assert_eq!(init.end_time_unix_nano, ts("2024-05-01T11:00:00.800Z"));
        assert!(attrs(&init.attributes).contains(&("aws.lambda.initialization_type", s("provisioned-concurrency"))));
        assert_eq!(counter(&out, "faas.coldstarts"), None);
        assert_eq!(histogram(&out, "faas.init_duration"), Some((1, 0.802)));
        // The first invocation after a provisioned init is not a cold start.
        let body = format!(
            r#"[{{"time":"2024-05-01T11:30:00.000Z","type":"platform.start","record":{{"requestId":"{A}"}}}},
               {{"time":"2024-05-01T11:30:00.100Z","type":"platform.runtimeDone","record":{{"requestId":"{A}","status":"success"}}}}]"#
        );
        c.ingest_telemetry(body.as_bytes());
        let out = c.drain();
        assert!(attrs(&span(&out, "orders-api").attributes).contains(&("faas.coldstart", Av::BoolValue(false))));
    }

    #[test]
    fn snapstart_restore_joins_the_invocation() {
        let mut c = Converter::new(ResourceInfo::default(), ConvertOptions::default());
        let stats = c.ingest_telemetry(&fixture("telemetry_snapstart.json"));
        assert_eq!(stats, IngestStats { events: 7, ..IngestStats::default() });
        let out = c.drain();
        // Without AWS_LAMBDA_FUNCTION_NAME, the name comes from restoreStart.
        let inv = span(&out, "orders-api");
        let restore = span(&out, "Restore");
        assert_eq!(restore.trace_id, hex("66323a08aabbccddeeff001122334455"));
        assert_eq!(restore.parent_span_id, hex("1112131415161718"));
        assert_eq!(inv.parent_span_id, hex("1112131415161718"));
        assert_eq!(restore.start_time_unix_nano, ts("2024-05-01T12:30:00.000Z"));
        assert_eq!(restore.end_time_unix_nano, ts("2024-05-01T12:30:00.200Z"));
        assert!(attrs(&inv.attributes).contains(&("faas.coldstart", Av::BoolValue(false))));
        assert_eq!(histogram(&out, "aws.lambda.restore_duration"), Some((1, 0.21)));
        let r = attrs(&c.resource().attributes);
        assert!(r.contains(&("faas.name", s("orders-api"))));
        assert!(r.contains(&("service.name", s("orders-api"))));
        assert!(r.contains(&("faas.version", s("3"))));
        let line = logs(&out)[0];
        assert_eq!((line.severity_number, line.trace_id.clone()), (9, inv.trace_id.clone()));
    }

    #[test]
    fn managed_instances_reports_close_concurrent_invocations() {
        let mut c = converter();
        let stats = c.ingest_telemetry(&fixture("telemetry_managed_instances.json"));
        assert_eq!(stats, IngestStats { events: 9, ..IngestStats::default() });
        assert!(c.runtime_done_seen("aaaaaaaa-1111-4222-8333-444444444444"));
        let out = c.drain();
        let all = spans(&out);
        assert_eq!(all.iter().filter(|s| s.name == "Init").count(), 1);
        let invs: Vec<_> = all.iter().filter(|s| s.name == "orders-api").collect();
        assert_eq!(invs.len(), 2);
        let (first, second) = (invs[0], invs[1]);
        assert_eq!(first.trace_id, hex("67c2cc84000000000000000000000001"));
        assert_eq!(first.end_time_unix_nano, ts("2025-03-01T09:01:00.050Z"));
        assert!(attrs(&first.attributes)
            .contains(&("aws.lambda.invoked_arn", s("arn:aws:lambda:us-east-1:123456789012:function:orders-api:4"))));
        assert_eq!(all.iter().filter(|s| s.parent_span_id == first.span_id).count(), 2);
        assert_eq!(second.status, Some(Status { message: "timeout".into(), code: StatusCode::Error as i32 }));
        assert!(attrs(&second.attributes).contains(&("error.type", s("timeout"))));
        let records = logs(&out);
        assert_eq!(records[0].trace_id, first.trace_id);
        assert_eq!(records[1].trace_id, second.trace_id);
        assert_eq!(records[1].severity_number, 13);
        assert_eq!(counter(&out, "faas.invocations"), Some(1));
        assert_eq!(counter(&out, "faas.timeouts"), Some(1));
        assert_eq!(counter(&out, "faas.coldstarts"), None);
        assert_eq!(histogram(&out, "faas.invoke_duration"), Some((2, 0.11)));
    }

    #[test]
    fn malformed_input_keeps_the_good_parts() {
        let mut c = converter();
        assert_eq!(c.ingest_telemetry(b"{not json"), IngestStats { malformed_batches: 1, ..IngestStats::default() });
        let stats = c.ingest_telemetry(&fixture("telemetry_malformed.json"));
        // Skipped: the unknown type, the function without record, 42, the runtimeDone without requestId.
        // Fields: the bad trace header, the bad time, durationMs, producedBytes, billedDurationMs.
        assert_eq!(stats, IngestStats { events: 6, skipped_events: 4, skipped_fields: 5, malformed_batches: 0 });
        let out = c.drain();
        let inv = span(&out, "orders-api");
        assert_eq!(inv.trace_id.len(), 16);
        assert_eq!(inv.parent_span_id, Vec::<u8>::new());
        assert_eq!(inv.end_time_unix_nano, ts("2024-05-01T12:00:30.050Z"));
        let bodies: Vec<_> = logs(&out).into_iter().map(|r| (body(r), r.observed_time_unix_nano)).collect();
        let last = ts("2024-05-01T12:00:30.000Z");
        assert_eq!(
            bodies,
            vec![
                (s("a line without a time"), last),
                (s("a line with a bad time"), last),
                (s("still here"), ts("2024-05-01T12:00:30.003Z")),
            ]
        );
        assert_eq!(histogram(&out, "aws.lambda.billed_duration"), None);
        assert_eq!(histogram(&out, "aws.lambda.duration"), Some((1, 0.06)));
        // The runtimeDone's duration was unusable: the span's own times give it.
        assert_eq!(histogram(&out, "faas.invoke_duration"), Some((1, 0.05)));
    }

    #[test]
    fn invoke_event_gives_trace_context_and_platform_start_wins() {
        let body = format!(
            r#"[{{"time":"2024-05-01T12:00:00.000Z","type":"platform.start","record":{{"requestId":"{A}"}}}},
               {{"time":"2024-05-01T12:00:00.100Z","type":"platform.runtimeDone","record":{{"requestId":"{A}","status":"success"}}}}]"#
        );
        let mut c = converter();
        c.on_invoke(InvokeContext {
            request_id: A.into(),
            invoked_function_arn: None,
            tracing_value: Some("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".into()),
            deadline_ms: None,
        });
        c.ingest_telemetry(body.as_bytes());
        let out = c.drain();
        let inv = span(&out, "orders-api");
        assert_eq!(inv.trace_id, hex("5759e988bd862e3fe1be46a994272793"));
        assert_eq!(inv.parent_span_id, hex("53995c3f42cd8ad8"));
        assert_eq!(inv.span_id.len(), 8);

        // INVOKE arriving after platform.start does not replace platform.start's context.
        let body = format!(
            r#"[{{"time":"2024-05-01T12:00:00.000Z","type":"platform.start","record":{{"requestId":"{A}",
                "tracing":{{"type":"X-Amzn-Trace-Id","value":"Root=1-66323100-b1f9e2a8c7d64e0f9a1b2c3d;Parent=2f4a8c1e9b7d3a60;Sampled=1"}}}}}}]"#
        );
        let mut c = converter();
        c.ingest_telemetry(body.as_bytes());
        c.on_invoke(InvokeContext {
            request_id: A.into(),
            tracing_value: Some("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".into()),
            ..Default::default()
        });
        let done = format!(
            r#"[{{"time":"2024-05-01T12:00:00.100Z","type":"platform.runtimeDone","record":{{"requestId":"{A}","status":"success"}}}}]"#
        );
        c.ingest_telemetry(done.as_bytes());
        assert_eq!(span(&c.drain(), "orders-api").trace_id, hex("66323100b1f9e2a8c7d64e0f9a1b2c3d"));
    }

    #[test]
    fn ids_used_by_logs_stay_fixed() {
        let mut c = converter();
        let body = format!(
            r#"[{{"time":"2024-05-01T12:00:00.000Z","type":"platform.start","record":{{"requestId":"{A}"}}}},
               {{"time":"2024-05-01T12:00:00.001Z","type":"function","record":"hello"}}]"#
        );
        c.ingest_telemetry(body.as_bytes());
        let log_trace = logs(&c.drain())[0].trace_id.clone();
        let done = format!(
            r#"[{{"time":"2024-05-01T12:00:00.100Z","type":"platform.runtimeDone","record":{{"requestId":"{A}","status":"success",
                "tracing":{{"type":"X-Amzn-Trace-Id","value":"Root=1-66323100-b1f9e2a8c7d64e0f9a1b2c3d;Sampled=1"}}}}}}]"#
        );
        c.ingest_telemetry(done.as_bytes());
        assert_eq!(span(&c.drain(), "orders-api").trace_id, log_trace);
    }

    #[test]
    fn out_of_memory_counted_once_and_timeouts() {
        let body = format!(
            r#"[{{"time":"2024-05-01T12:00:00.000Z","type":"platform.start","record":{{"requestId":"{A}"}}}},
               {{"time":"2024-05-01T12:00:00.100Z","type":"platform.runtimeDone","record":{{"requestId":"{A}","status":"error","errorType":"Runtime.OutOfMemory"}}}},
               {{"time":"2024-05-01T12:00:00.110Z","type":"platform.report","record":{{"requestId":"{A}","status":"error","errorType":"Runtime.OutOfMemory","metrics":{{"durationMs":110,"billedDurationMs":110,"memorySizeMB":128,"maxMemoryUsedMB":128}}}}}},
               {{"time":"2024-05-01T12:00:01.000Z","type":"platform.start","record":{{"requestId":"{B}"}}}},
               {{"time":"2024-05-01T12:00:04.000Z","type":"platform.runtimeDone","record":{{"requestId":"{B}","status":"timeout"}}}}]"#
        );
        let mut c = converter();
        c.ingest_telemetry(body.as_bytes());
        let out = c.drain();
        assert_eq!(counter(&out, "aws.lambda.out_of_memory"), Some(1));
        assert_eq!(counter(&out, "faas.errors"), Some(1));
        assert_eq!(counter(&out, "faas.timeouts"), Some(1));
        let oom = spans(&out).into_iter().find(|s| s.attributes.iter().any(|kv| av(kv) == s_(A))).unwrap();
        assert_eq!(oom.status.as_ref().unwrap().message, "Runtime.OutOfMemory");
        let timeout = spans(&out).into_iter().find(|s| s.attributes.iter().any(|kv| av(kv) == s_(B))).unwrap();
        assert_eq!(timeout.status, Some(Status { message: "timeout".into(), code: StatusCode::Error as i32 }));
        assert_eq!(timeout.end_time_unix_nano - timeout.start_time_unix_nano, 3_000_000_000);
    }

    fn s_(text: &str) -> Av {
        s(text)
    }

    #[test]
    fn init_errors_count_and_a_retried_init_keeps_the_failed_one() {
        let body = r#"[
            {"time":"2024-05-01T12:00:00.000Z","type":"platform.initStart","record":{"initializationType":"on-demand","phase":"init"}},
            {"time":"2024-05-01T12:00:01.000Z","type":"platform.initRuntimeDone","record":{"initializationType":"on-demand","phase":"init","status":"error","errorType":"Runtime.ExitError"}},
            {"time":"2024-05-01T12:00:01.001Z","type":"platform.initReport","record":{"initializationType":"on-demand","phase":"init","status":"error","errorType":"Runtime.ExitError","metrics":{"durationMs":1001}}},
            {"time":"2024-05-01T12:00:02.000Z","type":"platform.initStart","record":{"initializationType":"on-demand","phase":"invoke"}}
        ]"#;
        let mut c = converter();
        c.ingest_telemetry(body.as_bytes());
        let out = c.drain();
        let init = span(&out, "Init");
        assert_eq!(init.status, Some(Status { message: "Runtime.ExitError".into(), code: StatusCode::Error as i32 }));
        assert!(attrs(&init.attributes).contains(&("error.type", s("Runtime.ExitError"))));
        assert_eq!(init.parent_span_id, Vec::<u8>::new());
        assert_eq!(counter(&out, "faas.errors"), Some(1));
        assert_eq!(counter(&out, "faas.coldstarts"), Some(2));
    }

    #[test]
    fn suppressed_init_inside_an_invocation_marks_it_cold() {
        let body = format!(
            r#"[{{"time":"2024-05-01T12:00:00.000Z","type":"platform.start","record":{{"requestId":"{A}"}}}},
               {{"time":"2024-05-01T12:00:00.001Z","type":"platform.initStart","record":{{"initializationType":"on-demand","phase":"invoke"}}}},
               {{"time":"2024-05-01T12:00:00.200Z","type":"platform.initRuntimeDone","record":{{"initializationType":"on-demand","phase":"invoke","status":"success"}}}},
               {{"time":"2024-05-01T12:00:00.300Z","type":"platform.runtimeDone","record":{{"requestId":"{A}","status":"success"}}}},
               {{"time":"2024-05-01T12:00:01.000Z","type":"platform.start","record":{{"requestId":"{B}"}}}},
               {{"time":"2024-05-01T12:00:01.100Z","type":"platform.runtimeDone","record":{{"requestId":"{B}","status":"success"}}}}]"#
        );
        let mut c = converter();
        c.ingest_telemetry(body.as_bytes());
        let out = c.drain();
        let cold: Vec<_> = spans(&out)
            .into_iter()
            .filter(|s| s.name == "orders-api")
            .map(|s| attrs(&s.attributes).contains(&("faas.coldstart", Av::BoolValue(true))))
            .collect();
        assert_eq!(cold, [true, false]);
        let init = span(&out, "Init");
        assert_eq!(init.trace_id, spans(&out).into_iter().find(|s| s.name == "orders-api").unwrap().trace_id);
        assert!(attrs(&init.attributes).contains(&("aws.lambda.init_phase", s("invoke"))));
    }

    #[test]
    fn max_memory_from_init_start_when_the_environment_lacks_it() {
        let mut c = Converter::new(ResourceInfo::default(), ConvertOptions::default());
        c.ingest_telemetry(&fixture("telemetry_provisioned.json"));
        let r = attrs(&c.resource().attributes);
        assert!(r.contains(&("faas.max_memory", Av::IntValue(268_435_456))));
        assert!(r.contains(&("faas.version", s("12"))));
        // A value in MB, as in AWS's documentation example.
        let mut c = Converter::new(ResourceInfo::default(), ConvertOptions::default());
        c.ingest_telemetry(
            br#"[{"time":"2024-05-01T11:00:00.000Z","type":"platform.initStart","record":{"instanceMaxMemory":256}}]"#,
        );
        assert!(attrs(&c.resource().attributes).contains(&("faas.max_memory", Av::IntValue(268_435_456))));
        // The environment's value is kept.
        let mut c = converter();
        c.ingest_telemetry(&fixture("telemetry_provisioned.json"));
        assert!(attrs(&c.resource().attributes).contains(&("faas.max_memory", Av::IntValue(134_217_728))));
    }

    #[test]
    fn finish_flushes_what_is_held() {
        let body = format!(
            r#"[{{"time":"2024-05-01T12:00:00.000Z","type":"platform.initStart","record":{{"initializationType":"on-demand","phase":"init"}}}},
               {{"time":"2024-05-01T12:00:00.300Z","type":"platform.initRuntimeDone","record":{{"initializationType":"on-demand","phase":"init","status":"success"}}}},
               {{"time":"2024-05-01T12:00:00.400Z","type":"platform.start","record":{{"requestId":"{A}"}}}},
               {{"time":"2024-05-01T12:00:02.000Z","type":"function","record":"still working"}}]"#
        );
        let mut c = converter();
        c.ingest_telemetry(body.as_bytes());
        let out = c.drain();
        assert!(spans(&out).is_empty(), "the invocation is open and the init waits for it");
        assert!(!c.runtime_done_seen(A));
        let out = c.finish();
        let inv = span(&out, "orders-api");
        assert_eq!(inv.status, None);
        assert_eq!(inv.start_time_unix_nano, ts("2024-05-01T12:00:00.400Z"));
        assert_eq!(inv.end_time_unix_nano, ts("2024-05-01T12:00:02.000Z"));
        assert!(attrs(&inv.attributes).contains(&("faas.coldstart", Av::BoolValue(true))));
        let init = span(&out, "Init");
        assert_eq!(init.trace_id, inv.trace_id);
        assert_eq!(init.end_time_unix_nano, ts("2024-05-01T12:00:00.300Z"));
        assert!(c.finish().is_empty());
    }

    #[test]
    fn finish_emits_an_unplaced_init_alone() {
        let body = r#"[
            {"time":"2024-05-01T12:00:00.000Z","type":"platform.initStart","record":{"initializationType":"on-demand","phase":"init"}},
            {"time":"2024-05-01T12:00:00.250Z","type":"platform.initReport","record":{"initializationType":"on-demand","phase":"init","status":"success","metrics":{"durationMs":250.5}}}
        ]"#;
        let mut c = converter();
        c.ingest_telemetry(body.as_bytes());
        assert!(spans(&c.drain()).is_empty());
        let out = c.finish();
        let init = span(&out, "Init");
        assert_eq!(init.end_time_unix_nano, ts("2024-05-01T12:00:00.2505Z"), "start + initReport durationMs");
        assert_eq!(init.parent_span_id, Vec::<u8>::new());
    }

    #[test]
    fn delta_temporality() {
        let mut c = Converter::new(info(), ConvertOptions { temporality: Temporality::Delta, ..Default::default() });
        c.ingest_telemetry(&fixture("telemetry_cold_start.json"));
        let first = c.drain();
        assert_eq!(counter(&first, "faas.invocations"), Some(1));
        c.ingest_telemetry(&fixture("telemetry_warm_invoke.json"));
        let second = c.drain();
        assert_eq!(counter(&second, "faas.invocations"), None, "unchanged in this interval");
        assert_eq!(counter(&second, "faas.errors"), Some(1));
        assert_eq!(histogram(&second, "faas.init_duration"), None);
        let Some(Data::Sum(sum)) = &metric(&second, "faas.errors").unwrap().data else { panic!() };
        assert_eq!(sum.aggregation_temporality, AggregationTemporality::Delta as i32);
        assert_eq!(sum.data_points[0].start_time_unix_nano, ts("2024-05-01T12:00:00.512Z"));
        assert_eq!(sum.data_points[0].time_unix_nano, ts("2024-05-01T12:00:05.140Z"));
    }

    /// The resource attributes of what one drain made, per signal.
    fn resource_keys(s: &Signals) -> [Vec<String>; 3] {
        let keys = |r: Option<&Resource>| r.unwrap().attributes.iter().map(|kv| kv.key.clone()).collect::<Vec<_>>();
        [keys(s.spans[0].resource.as_ref()), keys(s.metrics[0].resource.as_ref()), keys(s.logs[0].resource.as_ref())]
    }

    #[test]
    fn metrics_leave_the_instance_out_by_default_only_with_delta() {
        let run = |temporality, instance_id_attribute, info: ResourceInfo| {
            let options = ConvertOptions { temporality, instance_id_attribute, ..Default::default() };
            let mut c = Converter::new(info, options);
            c.on_invoke(InvokeContext { request_id: A.into(), ..Default::default() });
            c.ingest_telemetry(&fixture("telemetry_cold_start.json"));
            resource_keys(&c.drain())
        };
        // The fixture's init start names the instance, so both instance attributes are set.
        let instance = |keys: &Vec<String>| keys.iter().filter(|k| INSTANCE_KEYS.contains(&k.as_str())).count();
        let others = |keys: &Vec<String>| {
            keys.iter().filter(|k| !INSTANCE_KEYS.contains(&k.as_str())).cloned().collect::<Vec<_>>()
        };
        for (temporality, setting, on_metrics) in [
            (Temporality::Cumulative, None, 2),
            (Temporality::Cumulative, Some(true), 2),
            (Temporality::Delta, None, 0),
            (Temporality::Delta, Some(false), 0),
            (Temporality::Delta, Some(true), 2),
        ] {
            let [spans, metrics, logs] = run(temporality, setting, info());
            assert_eq!(
                (instance(&spans), instance(&metrics), instance(&logs)),
                (2, on_metrics, 2),
                "{temporality:?} {setting:?}"
            );
            assert_eq!(others(&metrics), others(&spans), "nothing else differs");
        }
        // One the user set on purpose (OTEL_RESOURCE_ATTRIBUTES) stays.
        let mine = ResourceInfo { extra: vec![("service.instance.id".into(), "mine".into())], ..info() };
        let [_, metrics, _] = run(Temporality::Delta, None, mine);
        assert_eq!(
            metrics.iter().filter(|k| INSTANCE_KEYS.contains(&k.as_str())).collect::<Vec<_>>(),
            ["service.instance.id"]
        );
    }

    #[test]
    fn temporality_serde() {
        assert_eq!(serde_json::from_str::<Temporality>("\"delta\"").unwrap(), Temporality::Delta);
        assert_eq!(serde_json::from_str::<Temporality>("\"cumulative\"").unwrap(), Temporality::Cumulative);
        assert!(serde_json::from_str::<Temporality>("\"Delta\"").is_err());
        assert_eq!(Temporality::default(), Temporality::Cumulative);
    }

    #[test]
    fn logs_outside_any_invocation_are_not_attributed() {
        let body = format!(
            r#"[{{"time":"2024-05-01T12:00:00.000Z","type":"platform.start","record":{{"requestId":"{A}"}}}},
               {{"time":"2024-05-01T12:00:00.100Z","type":"platform.runtimeDone","record":{{"requestId":"{A}","status":"success"}}}},
               {{"time":"2024-05-01T12:00:00.150Z","type":"extension","record":"flushing"}},
               {{"time":"2024-05-01T12:00:00.100Z","type":"function","record":"last words"}}]"#
        );
        let mut c = converter();
        c.ingest_telemetry(body.as_bytes());
        let out = c.drain();
        let records = logs(&out);
        assert_eq!(attrs(&records[0].attributes), vec![("aws.lambda.log.type", s("extension"))]);
        assert!(records[0].trace_id.is_empty());
        assert_eq!(records[1].trace_id, span(&out, "orders-api").trace_id, "runtimeDone's instant still belongs");
    }

    #[test]
    fn busy_invocation_batches_text_and_json() {
        for name in ["telemetry_text_logs_batch.json", "telemetry_json_logs_batch.json"] {
            let mut c = converter();
            let stats = c.ingest_telemetry(&fixture(name));
            assert_eq!(stats, IngestStats { events: 102, ..IngestStats::default() }, "{name}");
            let out = c.drain();
            let inv = span(&out, "orders-api");
            assert_eq!(inv.trace_id, hex("663240005e4d3c2b1a0f9e8d7c6b5a49"), "{name}");
            let records = logs(&out);
            assert_eq!(records.len(), 100, "{name}");
            let mut by_severity = std::collections::BTreeMap::new();
            for r in &records {
                assert_eq!((&r.trace_id, &r.span_id), (&inv.trace_id, &inv.span_id), "{name}");
                assert_eq!(r.attributes[0].key, "faas.invocation_id");
                *by_severity.entry(r.severity_number).or_insert(0) += 1;
            }
            assert_eq!(by_severity.into_iter().collect::<Vec<_>>(), [(5, 17), (9, 51), (13, 16), (17, 16)], "{name}");
            let Av::StringValue(first) = body(records[0]) else { panic!() };
            assert!(first.ends_with("handled item 0 of batch: sku=SKU-00000 qty=1"), "{name}: {first:?}");
        }
    }

    #[test]
    fn a_retried_post_is_not_counted_twice() {
        let mut c = converter();
        c.ingest_telemetry(&fixture("telemetry_cold_start.json"));
        c.ingest_telemetry(&fixture("telemetry_warm_invoke.json"));
        let once = c.drain();
        let mut again = converter();
        for _ in 0..2 {
            again.ingest_telemetry(&fixture("telemetry_cold_start.json"));
            again.ingest_telemetry(&fixture("telemetry_warm_invoke.json"));
        }
        let twice = again.drain();
        assert_eq!(spans(&twice).len(), spans(&once).len());
        for name in ["faas.invocations", "faas.errors", "faas.coldstarts"] {
            assert_eq!(counter(&twice, name), counter(&once, name), "{name}");
        }
        for name in
            ["faas.invoke_duration", "faas.init_duration", "aws.lambda.duration", "aws.lambda.post_runtime_duration"]
        {
            assert_eq!(histogram(&twice, name), histogram(&once, name), "{name}");
        }
    }

    #[test]
    fn extreme_values_do_not_panic() {
        let body = format!(
            r#"[{{"time":"2500-12-31T23:59:59.999999999Z","type":"platform.start","record":{{"requestId":"{A}"}}}},
               {{"type":"platform.runtimeDone","record":{{"requestId":"{A}","status":"success","metrics":{{"durationMs":1e300,"producedBytes":18446744073709551615}},
                 "spans":[{{"name":"responseLatency","start":"2500-12-31T23:59:59.999Z","durationMs":1e308}}]}}}},
               {{"type":"platform.report","record":{{"requestId":"{A}","metrics":{{"durationMs":1e308,"billedDurationMs":1e308,"memorySizeMB":1e308,"maxMemoryUsedMB":1e308}}}}}},
               {{"type":"platform.logsDropped","record":{{"droppedRecords":18446744073709551615,"droppedBytes":1}}}},
               {{"type":"platform.logsDropped","record":{{"droppedRecords":18446744073709551615,"droppedBytes":1}}}},
               {{"type":"platform.initReport","record":{{"initializationType":"provisioned-concurrency","metrics":{{"durationMs":1e308}}}}}}]"#
        );
        let mut c = converter();
        let stats = c.ingest_telemetry(body.as_bytes());
        assert_eq!(stats, IngestStats { events: 6, ..IngestStats::default() });
        let out = c.finish();
        assert_eq!(counter(&out, "aws.lambda.logs_dropped"), Some(i64::MAX));
        let inv = span(&out, "orders-api");
        assert_eq!(inv.end_time_unix_nano, u64::MAX);
        assert_eq!(span(&out, "responseLatency").end_time_unix_nano, u64::MAX);
        assert!(attrs(&inv.attributes).contains(&("aws.lambda.produced_bytes", Av::IntValue(i64::MAX))));
    }

    #[test]
    fn empty_drain_is_empty() {
        let mut c = converter();
        assert_eq!(c.drain(), Signals::default());
        assert_eq!(c.ingest_telemetry(b"[]"), IngestStats::default());
        assert_eq!(c.finish(), Signals::default());
    }

    #[test]
    fn the_debug_exporters_own_lines_do_not_come_back() {
        let mut c = Converter::new(ResourceInfo::default(), ConvertOptions::default());
        let body = format!(
            r#"[{{"time":"2026-01-01T00:00:00.000Z","type":"extension","record":"{}traces: 1 items\n"}},
               {{"time":"2026-01-01T00:00:00.001Z","type":"extension","record":"another extension speaks\n"}}]"#,
            DEBUG_LINE_PREFIX
        );
        c.ingest_telemetry(body.as_bytes());
        let out = c.drain();
        assert_eq!(out.log_count(), 1);
        assert_eq!(c.skipped_self_lines(), 1);
    }

    #[test]
    fn log_records_past_the_memory_budget_are_dropped_and_counted() {
        let mut c = Converter::new(ResourceInfo::default(), ConvertOptions::default());
        c.set_log_budget(1_000);
        let line = "x".repeat(300);
        let events: Vec<String> = (0..10)
            .map(|i| format!(r#"{{"time":"2026-01-01T00:00:00.{i:03}Z","type":"function","record":"{line}"}}"#))
            .collect();
        c.ingest_telemetry(format!("[{}]", events.join(",")).as_bytes());
        // 300 bytes of body + 128 of overhead + attributes: two records fit in 1,000 bytes.
        assert_eq!(c.drain().log_count(), 2);
        assert_eq!(c.dropped_logs(), 8);
        // A drain frees the budget.
        c.ingest_telemetry(format!("[{}]", events[0]).as_bytes());
        assert_eq!(c.drain().log_count(), 1);
    }
}
