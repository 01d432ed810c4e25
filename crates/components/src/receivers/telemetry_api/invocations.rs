//! Per-invocation state, keyed by request id, and the events that move an invocation along:
//! `platform.start`, `platform.runtimeDone`, `platform.report` and the Logs API's `platform.end`.
//!
//! An invocation ends with its `platform.runtimeDone`, or, where none comes (Lambda Managed Instances, the
//! Logs API's oldest schema), with its `platform.report` / `platform.end`. Its span is built then.

use std::collections::VecDeque;
use std::ops::{Index, IndexMut};

use super::{
    convert::{Converter, ConverterCounters},
    events::{InvokeDone, Start, Tracing},
    ids,
    metrics::Instrument,
    spans::{end_time, FLAG_HAS_IS_REMOTE, FLAG_IS_REMOTE, FLAG_SAMPLED},
    xray::{decode_hex, parse_xray, XrayContext},
};

/// Invocations remembered at once. Ended ones are forgotten first; an open one only when this many are open
/// together (beyond what a Managed Instances environment runs at once).
const MAX_TRACKED: usize = 256;

/// Where a trace context came from; a better source replaces a worse one until the ids are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Source {
    Done,
    Invoke,
    Start,
}

/// The ids of an invocation span, fixed once a span or log record carries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Ids {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub parent: Option<[u8; 8]>,
    pub sampled: bool,
}

impl Ids {
    /// Fresh ids in a trace of their own.
    pub fn new_root() -> Self {
        Ids { trace_id: ids::trace_id(), span_id: ids::span_id(), parent: None, sampled: true }
    }

    /// OTLP span flags: the sampled bit, and whether the parent is remote.
    pub fn flags(&self) -> u32 {
        let remote = if self.parent.is_some() { FLAG_IS_REMOTE } else { 0 };
        (u32::from(self.sampled) * FLAG_SAMPLED) | FLAG_HAS_IS_REMOTE | remote
    }
}

/// What is known of one invocation, from its INVOKE event and its platform events.
#[derive(Debug, Default)]
pub(super) struct Invocation {
    pub request_id: String,
    pub invoked_arn: Option<String>,
    pub xray: Option<(XrayContext, Source)>,
    pub given_span_id: Option<([u8; 8], Source)>,
    pub ids: Option<Ids>,
    /// platform.start time.
    pub start: Option<u64>,
    /// runtimeDone (or end/report) time: the end of the window in which its logs are written.
    pub end: Option<u64>,
    pub coldstart: bool,
    /// The runtime finished (runtimeDone, or platform.end / report standing in for it).
    pub runtime_done: bool,
    /// The invocation span was built: the invocation has ended.
    pub span_done: bool,
    /// How long the runtime worked (runtimeDone's durationMs, else its times), for post_runtime_duration.
    pub runtime_ms: Option<f64>,
    /// out_of_memory was counted for this request (runtimeDone and report may both tell).
    pub oom_counted: bool,
    pub end_logged: bool,
    /// A runtimeDone of this request was converted: a repeat (Lambda retrying a POST) is ignored.
    pub runtime_done_event: bool,
    pub report_seen: bool,
}

impl Invocation {
    /// The invocation's ids, decided now if nothing used them yet.
    pub fn fix_ids(&mut self) -> Ids {
        if let Some(ids) = self.ids {
            return ids;
        }
        let span_id = self.given_span_id.map_or_else(ids::span_id, |(id, _)| id);
        let ids = match self.xray {
            // Sampled=0 marks the span as not sampled; an absent or deferred decision counts as sampled,
            // since this span is recorded and exported either way.
            Some((x, _)) => {
                Ids { trace_id: x.trace_id, span_id, parent: x.parent_id, sampled: x.sampled != Some(false) }
            }
            None => Ids { trace_id: ids::trace_id(), span_id, parent: None, sampled: true },
        };
        self.ids = Some(ids);
        ids
    }

    /// Started and not ended at `time`.
    fn open_at(&self, time: u64) -> bool {
        self.start.is_some_and(|s| s <= time) && self.end.is_none_or(|e| time <= e)
    }
}

/// The invocations of the sandbox, oldest first, found by request id.
#[derive(Debug, Default)]
pub(super) struct Invocations {
    list: VecDeque<Invocation>,
}

impl Invocations {
    pub fn find(&self, request_id: &str) -> Option<usize> {
        self.list.iter().rposition(|inv| inv.request_id == request_id)
    }

    pub fn get(&self, request_id: &str) -> Option<&Invocation> {
        self.find(request_id).map(|idx| &self.list[idx])
    }

    /// The index of `request_id`'s invocation, created when unknown.
    pub fn index_or_insert(&mut self, request_id: &str) -> usize {
        if let Some(idx) = self.find(request_id) {
            return idx;
        }
        if self.list.len() >= MAX_TRACKED {
            let oldest_ended = self.list.iter().position(|inv| inv.span_done).unwrap_or(0);
            self.list.remove(oldest_ended);
        }
        self.list.push_back(Invocation { request_id: request_id.to_owned(), ..Default::default() });
        self.list.len() - 1
    }

    pub fn get_or_insert(&mut self, request_id: &str) -> &mut Invocation {
        let idx = self.index_or_insert(request_id);
        &mut self.list[idx]
    }

    /// Invocations remembered.
    #[cfg(test)]
    pub fn tracked(&self) -> usize {
        self.list.len()
    }

    /// Started and not ended.
    pub fn open_count(&self) -> usize {
        self.list.iter().filter(|inv| inv.start.is_some() && !inv.span_done).count()
    }

    /// Indexes of the invocations started and not ended.
    pub fn unended_started(&self) -> Vec<usize> {
        (0..self.list.len()).filter(|&i| self.list[i].start.is_some() && !self.list[i].span_done).collect()
    }

    /// The latest started invocation whose runtime has not finished (where a suppressed init belongs).
    pub fn latest_running(&mut self) -> Option<&mut Invocation> {
        self.list.iter_mut().rev().find(|inv| inv.start.is_some() && !inv.runtime_done)
    }

    /// On-demand: the invocation whose runtime was running at `time` (the latest started, if several were).
    pub fn running_at(&self, time: u64) -> Option<usize> {
        self.list.iter().rposition(|inv| inv.open_at(time))
    }
}

impl Index<usize> for Invocations {
    type Output = Invocation;

    fn index(&self, idx: usize) -> &Invocation {
        &self.list[idx]
    }
}

impl IndexMut<usize> for Invocations {
    fn index_mut(&mut self, idx: usize) -> &mut Invocation {
        &mut self.list[idx]
    }
}

/// Takes `inv`'s trace context from `tracing` unless a better source gave it already or the ids are in use.
pub(super) fn apply_tracing(
    inv: &mut Invocation,
    tracing: Option<&Tracing>,
    source: Source,
    counters: &mut ConverterCounters,
) {
    let Some(tracing) = tracing else { return };
    if inv.ids.is_some() {
        return;
    }
    if let Some(value) = &tracing.value {
        match parse_xray(value) {
            Some(x) if inv.xray.is_none_or(|(_, s)| s <= source) => inv.xray = Some((x, source)),
            Some(_) => {}
            None => counters.skipped_fields += 1,
        }
    }
    if let Some(span_id) = &tracing.span_id {
        let mut id = [0u8; 8];
        if decode_hex(span_id, &mut id) && id != [0; 8] {
            if inv.given_span_id.is_none_or(|(_, s)| s <= source) {
                inv.given_span_id = Some((id, source));
            }
        } else {
            counters.skipped_fields += 1;
        }
    }
}

impl Converter {
    pub(super) fn on_start(&mut self, time: u64, start: Start) {
        self.emit_unjoinable_init();
        let idx = self.invocations.index_or_insert(&start.request_id);
        let inv = &mut self.invocations[idx];
        if inv.start.is_some() || inv.span_done {
            return; // a repeat
        }
        inv.start = Some(time);
        inv.coldstart |= std::mem::take(&mut self.cold_pending);
        if inv.invoked_arn.is_none() {
            inv.invoked_arn = start.function_arn;
        }
        apply_tracing(inv, start.tracing.as_ref(), Source::Start, &mut self.counters);
        if self.options.platform_logs {
            self.push_start_line(time, &start.request_id, start.version.as_deref());
        }
    }

    pub(super) fn on_runtime_done(&mut self, time: Option<u64>, done: InvokeDone) {
        let idx = self.invocations.index_or_insert(&done.request_id);
        let inv = &mut self.invocations[idx];
        if std::mem::replace(&mut inv.runtime_done_event, true) {
            return;
        }
        // The report came first and closed the invocation (Managed Instances): it was counted then.
        if inv.report_seen && inv.span_done {
            return;
        }
        apply_tracing(inv, done.tracing.as_ref(), Source::Done, &mut self.counters);
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

    pub(super) fn on_report(&mut self, time: Option<u64>, mut report: InvokeDone) {
        let idx = self.invocations.index_or_insert(&report.request_id);
        if std::mem::replace(&mut self.invocations[idx].report_seen, true) {
            return;
        }
        apply_tracing(&mut self.invocations[idx], report.tracing.as_ref(), Source::Done, &mut self.counters);
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
            let children = std::mem::take(&mut report.spans);
            self.emit_invocation(idx, end, report.status.as_deref(), report.error_type.as_deref(), None, children);
        }
        if self.options.platform_logs {
            self.push_end_and_report_lines(idx, time.unwrap_or(self.last_time), &report);
        }
    }

    /// Logs API `platform.end`: ends the invocation span when no runtimeDone did (schema 2020-08-15).
    pub(super) fn on_end(&mut self, time: u64, request_id: &str) {
        let idx = self.invocations.index_or_insert(request_id);
        let inv = &mut self.invocations[idx];
        inv.runtime_done = true;
        if !inv.span_done {
            inv.end = Some(time);
            inv.runtime_ms = inv.start.map(|s| time.saturating_sub(s) as f64 / 1e6);
            self.emit_invocation(idx, time, None, None, None, Vec::new());
        }
        if self.options.platform_logs {
            self.push_end_line(idx, time);
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
}
