//! The span and log edits of the join: moving an invocation's platform spans and logs to another parent,
//! copying facts between spans, and making the parent an SDK never sent.

use std::collections::HashSet;

use lambdatel_pipeline::Signals;
use opentelemetry_proto::tonic::{
    common::v1::{any_value::Value as Av, AnyValue, KeyValue},
    trace::v1::{
        span::{Link, SpanKind},
        status::StatusCode,
        Span, Status,
    },
};

use super::status_unset;
use crate::runtime_proxy::{RemoteContext, TriggerInfo};

/// OTLP span flags bit 8: whether the parent is remote is known.
pub(super) const FLAG_HAS_IS_REMOTE: u32 = 0x100;
/// OTLP span flags bit 9: the parent is remote.
pub(super) const FLAG_IS_REMOTE: u32 = 0x200;

/// The value of a string attribute.
pub(super) fn attribute_str<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
        Av::StringValue(s) => Some(s.as_str()),
        _ => None,
    })
}

/// The remote-parent bits of span flags.
pub(super) fn remote_flags(flags: u32) -> u32 {
    flags & (FLAG_HAS_IS_REMOTE | FLAG_IS_REMOTE)
}

fn set_if_missing(attributes: &mut Vec<KeyValue>, kv: &KeyValue) {
    if !attributes.iter().any(|a| a.key == kv.key) {
        attributes.push(kv.clone());
    }
}

/// Whether lambdatel copies an attribute of its invocation span to the SDK's entry span: the platform facts
/// the SDK cannot know.
fn is_platform_fact(key: &str) -> bool {
    matches!(key, "faas.coldstart" | "faas.invocation_id" | "cloud.resource_id") || key.starts_with("aws.lambda.")
}

/// Puts the invocation's platform facts on the SDK's entry span, leaving what the SDK set; the outcome of
/// `platform.runtimeDone` becomes the status when the SDK left it unset.
pub(super) fn copy_platform_facts(entry: &mut Span, invocation: &Span) {
    for kv in invocation.attributes.iter().filter(|kv| is_platform_fact(&kv.key)) {
        set_if_missing(&mut entry.attributes, kv);
    }
    if status_unset(entry) && !status_unset(invocation) {
        entry.status = invocation.status.clone();
        if let Some(kv) = invocation.attributes.iter().find(|kv| kv.key == "error.type") {
            set_if_missing(&mut entry.attributes, kv);
        }
    }
}

/// Puts a trigger's facts on a span: `faas.trigger` replaces `other` or nothing, the other attributes are
/// added where the span has none of that name, and the batch's message contexts become links.
pub(super) fn apply_trigger(span: &mut Span, trigger: &TriggerInfo) {
    let value = AnyValue { value: Some(Av::StringValue(trigger.trigger.as_str().to_owned())) };
    match span.attributes.iter_mut().find(|kv| kv.key == "faas.trigger") {
        Some(kv) if attribute_is(kv, "other") => kv.value = Some(value),
        Some(_) => {}
        None => span.attributes.push(KeyValue { key: "faas.trigger".into(), value: Some(value), ..Default::default() }),
    }
    for kv in &trigger.attributes {
        set_if_missing(&mut span.attributes, kv);
    }
    span.links.extend(trigger.links.iter().map(remote_link));
}

fn attribute_is(kv: &KeyValue, text: &str) -> bool {
    matches!(kv.value.as_ref().and_then(|v| v.value.as_ref()), Some(Av::StringValue(s)) if s == text)
}

/// A link to a span of this flush.
pub(super) fn link_to(span: &Span) -> Link {
    Link {
        trace_id: span.trace_id.clone(),
        span_id: span.span_id.clone(),
        trace_state: span.trace_state.clone(),
        flags: (span.flags & 0xff) | FLAG_HAS_IS_REMOTE,
        ..Default::default()
    }
}

/// A link to a caller's or producer's span.
pub(super) fn remote_link(context: &RemoteContext) -> Link {
    Link {
        trace_id: context.trace_id.to_vec(),
        span_id: context.span_id.to_vec(),
        trace_state: context.trace_state.clone(),
        flags: FLAG_HAS_IS_REMOTE | FLAG_IS_REMOTE | u32::from(context.sampled != Some(false)),
        ..Default::default()
    }
}

/// The entry span an SDK never sent (the function timed out or crashed before it ended), rebuilt with the id
/// its children point at: named after the function, spanning the invocation, ERROR, carrying the
/// invocation's facts; its parent is the caller when the caller is in the same trace.
pub(super) fn missing_parent_span(
    invocation: &Span,
    trace_id: [u8; 16],
    span_id: [u8; 8],
    caller: Option<&RemoteContext>,
) -> Span {
    let (parent, flags) = match caller {
        Some(c) if c.trace_id == trace_id => (c.span_id.to_vec(), FLAG_HAS_IS_REMOTE | FLAG_IS_REMOTE),
        _ if invocation.trace_id.as_slice() == trace_id && !invocation.parent_span_id.is_empty() => {
            (invocation.parent_span_id.clone(), remote_flags(invocation.flags))
        }
        _ => (Vec::new(), FLAG_HAS_IS_REMOTE),
    };
    let mut attributes: Vec<KeyValue> = invocation
        .attributes
        .iter()
        .filter(|kv| is_platform_fact(&kv.key) || kv.key == "faas.trigger")
        .cloned()
        .collect();
    let error_type = attribute_str(&invocation.attributes, "error.type").unwrap_or("_OTHER").to_owned();
    attributes.push(KeyValue {
        key: "error.type".into(),
        value: Some(AnyValue { value: Some(Av::StringValue(error_type.clone())) }),
        ..Default::default()
    });
    Span {
        trace_id: trace_id.to_vec(),
        span_id: span_id.to_vec(),
        parent_span_id: parent,
        flags: (invocation.flags & 0xff) | flags,
        name: invocation.name.clone(),
        kind: SpanKind::Server as i32,
        start_time_unix_nano: invocation.start_time_unix_nano,
        end_time_unix_nano: invocation.end_time_unix_nano,
        attributes,
        status: Some(Status {
            message: format!("the function's entry span never arrived ({error_type})"),
            code: StatusCode::Error as i32,
        }),
        ..Default::default()
    }
}

/// Gives a log record that no invocation claimed (a line without a request id, stamped by Lambda a moment
/// before the invocation's start) the SDK entry span whose run, on the function's own clock, holds it, when
/// exactly one does.
pub(super) fn attribute_stray_logs(platform: &mut Signals, entries: &[&Span]) {
    if entries.is_empty() {
        return;
    }
    let records = platform.logs.iter_mut().flat_map(|r| r.scope_logs.iter_mut()).flat_map(|s| s.log_records.iter_mut());
    for record in records.filter(|r| r.trace_id.is_empty()) {
        let time = if record.time_unix_nano != 0 { record.time_unix_nano } else { record.observed_time_unix_nano };
        let mut holding = entries.iter().filter(|e| e.start_time_unix_nano <= time && time <= e.end_time_unix_nano);
        let (Some(entry), None) = (holding.next(), holding.next()) else { continue };
        record.trace_id = entry.trace_id.clone();
        record.span_id = entry.span_id.clone();
        if let Some(kv) = entry.attributes.iter().find(|kv| kv.key == "faas.invocation_id") {
            set_if_missing(&mut record.attributes, kv);
        }
    }
}

fn all_spans(platform: &mut Signals) -> impl Iterator<Item = &mut Span> {
    platform.spans.iter_mut().flat_map(|r| r.scope_spans.iter_mut()).flat_map(|s| s.spans.iter_mut())
}

/// Moves an invocation's platform spans and log records to another trace or parent.
pub(super) struct Remap<'a> {
    invocation: &'a Span,
    new_trace: [u8; 16],
    /// Whether the spans move too, or only the log records.
    spans: bool,
    /// The new parent of the invocation span itself, when it gets one (a caller found by the proxy).
    invocation_parent: Option<&'a RemoteContext>,
    /// The new parent of the invocation's children, when it changes.
    children_parent: Option<[u8; 8]>,
    /// The new parent of `Init`/`Restore`, the invocation span's siblings.
    phase_parent: (Vec<u8>, u32),
    /// The span the log records point at from now on.
    log_span: Vec<u8>,
}

impl<'a> Remap<'a> {
    /// Only the log records move, to `span_id` in `trace_id`.
    pub fn logs_only(invocation: &'a Span, trace_id: [u8; 16], span_id: [u8; 8]) -> Self {
        Remap {
            invocation,
            new_trace: trace_id,
            spans: false,
            invocation_parent: None,
            children_parent: None,
            phase_parent: (Vec::new(), 0),
            log_span: span_id.to_vec(),
        }
    }

    /// Everything of the invocation moves under the span `entry` of `trace_id`.
    pub fn under(invocation: &'a Span, trace_id: [u8; 16], entry: [u8; 8]) -> Self {
        Remap {
            spans: true,
            children_parent: Some(entry),
            phase_parent: (entry.to_vec(), FLAG_HAS_IS_REMOTE),
            ..Remap::logs_only(invocation, trace_id, entry)
        }
    }

    /// The invocation span takes `caller` as its parent; everything follows it into the caller's trace.
    pub fn reparented(invocation: &'a Span, caller: &'a RemoteContext) -> Self {
        Remap {
            invocation,
            new_trace: caller.trace_id,
            spans: true,
            invocation_parent: Some(caller),
            children_parent: None,
            phase_parent: (caller.span_id.to_vec(), FLAG_HAS_IS_REMOTE | FLAG_IS_REMOTE),
            log_span: invocation.span_id.clone(),
        }
    }

    pub fn apply(&self, platform: &mut Signals) {
        let inv = self.invocation;
        if self.spans {
            let mut moved = HashSet::new();
            for span in all_spans(platform).filter(|s| s.trace_id == inv.trace_id) {
                if span.span_id == inv.span_id {
                    if let Some(caller) = self.invocation_parent {
                        span.trace_id = caller.trace_id.to_vec();
                        span.parent_span_id = caller.span_id.to_vec();
                        span.flags = (span.flags & 0xff) | FLAG_HAS_IS_REMOTE | FLAG_IS_REMOTE;
                    }
                } else if span.parent_span_id == inv.span_id {
                    span.trace_id = self.new_trace.to_vec();
                    if let Some(parent) = self.children_parent {
                        span.parent_span_id = parent.to_vec();
                    }
                } else if matches!(span.name.as_str(), "Init" | "Restore") && span.parent_span_id == inv.parent_span_id
                {
                    span.trace_id = self.new_trace.to_vec();
                    span.parent_span_id = self.phase_parent.0.clone();
                    span.flags = (span.flags & 0xff) | self.phase_parent.1;
                    moved.insert(span.span_id.clone());
                }
            }
            // The children of a moved Init/Restore follow it into the new trace.
            for span in all_spans(platform).filter(|s| s.trace_id == inv.trace_id && moved.contains(&s.parent_span_id))
            {
                span.trace_id = self.new_trace.to_vec();
            }
        }
        let records =
            platform.logs.iter_mut().flat_map(|r| r.scope_logs.iter_mut()).flat_map(|s| s.log_records.iter_mut());
        for record in records.filter(|r| r.trace_id == inv.trace_id && r.span_id == inv.span_id) {
            record.trace_id = self.new_trace.to_vec();
            record.span_id = self.log_span.clone();
        }
    }
}
