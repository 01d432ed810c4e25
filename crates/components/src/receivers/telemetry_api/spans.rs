//! Span building: the invocation span, the `Init` / `Restore` spans, and the child spans Lambda's `spans[]`
//! describe.

use opentelemetry_proto::tonic::{
    common::v1::{any_value::Value as Av, AnyValue, KeyValue},
    trace::v1::{span::SpanKind, status::StatusCode, Span, Status},
};

use super::{
    convert::Converter,
    events::PhaseSpan,
    ids,
    invocations::Ids,
    phases::{Phase, PhaseKind},
    resource::{int, kv_str},
};

/// W3C sampled flag, in the low byte of OTLP span flags.
pub(super) const FLAG_SAMPLED: u32 = 0x01;
/// OTLP span flags bit 8: whether the parent is remote is known.
pub(super) const FLAG_HAS_IS_REMOTE: u32 = 0x100;
/// OTLP span flags bit 9: the parent is remote.
pub(super) const FLAG_IS_REMOTE: u32 = 0x200;

impl Converter {
    /// Builds the span of invocation `idx`, ending at `end`; the invocation counts as ended from now on.
    pub(super) fn emit_invocation(
        &mut self,
        idx: usize,
        end: u64,
        status: Option<&str>,
        error_type: Option<&str>,
        produced_bytes: Option<u64>,
        children: Vec<PhaseSpan>,
    ) {
        let inv = &mut self.invocations[idx];
        let ids = inv.fix_ids();
        inv.span_done = true;
        self.ended_since_drain += 1;
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
        self.push_children(&ids, children);
        self.spans.push(Span {
            trace_id: ids.trace_id.to_vec(),
            span_id: ids.span_id.to_vec(),
            parent_span_id: ids.parent.map(|p| p.to_vec()).unwrap_or_default(),
            flags: ids.flags(),
            name: self.function_name.clone(),
            kind: SpanKind::Server as i32,
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            attributes,
            status: span_status,
            ..Default::default()
        });
        // The cold start that led to this invocation shows in its trace.
        for kind in [PhaseKind::Init, PhaseKind::Restore] {
            let held = self.phase_slot(kind);
            if held.as_ref().is_some_and(|p| p.complete && p.joins_invocation()) {
                if let Some(phase) = held.take() {
                    self.emit_phase(phase, Some(ids));
                }
            }
        }
    }

    /// Draws an init or restore span: in the trace of `ctx` (same trace, same parent), or in a new trace.
    pub(super) fn emit_phase(&mut self, phase: Phase, ctx: Option<Ids>) {
        let duration = phase.report_duration_ms.map(ms_to_nanos);
        let end = phase
            .end
            .or_else(|| Some(phase.start?.saturating_add(duration?)))
            .or(phase.report_time)
            .unwrap_or(self.last_time);
        let start = phase.start.or_else(|| Some(end.saturating_sub(duration?))).unwrap_or(end).min(end);
        let ids = match ctx {
            Some(ctx) => Ids { span_id: ids::span_id(), ..ctx },
            None => Ids::new_root(),
        };
        let mut attributes = vec![kv_bool("faas.coldstart", true)];
        if let Some(t) = &phase.initialization_type {
            attributes.push(kv_str("aws.lambda.initialization_type", t.as_str()));
        }
        if let Some(p) = &phase.phase {
            attributes.push(kv_str("aws.lambda.init_phase", p.as_str()));
        }
        let status = span_status(phase.status.as_deref(), phase.error_type.as_deref(), &mut attributes);
        self.push_children(&ids, phase.spans);
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

    /// The `spans[]` of a done or report event, as INTERNAL children of the span `ids` names.
    fn push_children(&mut self, ids: &Ids, children: Vec<PhaseSpan>) {
        let flags = (u32::from(ids.sampled) * FLAG_SAMPLED) | FLAG_HAS_IS_REMOTE;
        for child in children {
            self.spans.push(Span {
                trace_id: ids.trace_id.to_vec(),
                span_id: ids::span_id().to_vec(),
                parent_span_id: ids.span_id.to_vec(),
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
pub(super) fn end_time(time: Option<u64>, start: Option<u64>, duration_ms: Option<f64>, last: u64) -> u64 {
    time.or_else(|| Some(start?.saturating_add(ms_to_nanos(duration_ms?)))).unwrap_or(last)
}

fn ms_to_nanos(ms: f64) -> u64 {
    (ms * 1e6).round() as u64
}

fn kv_bool(key: &str, value: bool) -> KeyValue {
    KeyValue { key: key.to_owned(), value: Some(AnyValue { value: Some(Av::BoolValue(value)) }), ..Default::default() }
}
