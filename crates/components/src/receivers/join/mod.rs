//! One trace per request: the step between draining the receivers and dispatching a flush that joins the
//! Telemetry API receiver's platform spans and logs with the function's own OpenTelemetry spans (sent to an
//! `otlp` receiver in the same flush), and puts the Runtime API proxy's trigger facts on the invocation.
//!
//! For each invocation span of the flush (lambdatel's `SERVER` span carrying `faas.invocation_id`):
//! - the SDK's entry span is the one whose `faas.invocation_id` (or the older `faas.execution`) is the request
//!   id, or else a local root `SERVER` span in the invocation's trace (the X-Ray root);
//! - mode [`TraceJoin::Sdk`]: the entry span takes the platform facts, lambdatel's invocation span is left
//!   out, and the phase spans, `Init`/`Restore` and the invocation's log records move under the entry span;
//! - mode [`TraceJoin::Link`]: both spans stay, linked both ways; the log records move to the entry span;
//! - an entry span that never came (timeout, crash) while spans pointing at it did is emitted as an ERROR span
//!   named after the function, with the id its children point at, so the trace has no orphans;
//! - without an SDK span, the caller's context the proxy found becomes the invocation's parent (the X-Ray ids
//!   stay in mode [`TraceJoin::Xray`], which links the caller instead).
//!
//! Timing: the SDK exports at the end of its handler, before `platform.runtimeDone`, and the flush after
//! runtimeDone waits for the `otlp` receivers' requests in flight, so an invocation's SDK spans and platform
//! spans meet in one flush. Flushes taken while the function runs (periodic flushing) can split them; the
//! spans are then delivered as they are.

mod spans;

use std::collections::{HashMap, HashSet, VecDeque};

use lambdatel_pipeline::Signals;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode, ResourceSpans, ScopeSpans, Span};
use serde::Deserialize;

use crate::runtime_proxy::{TriggerInfo, TriggerStore};
use spans::{
    apply_trigger, attribute_str, copy_platform_facts, link_to, missing_parent_span, remote_flags, remote_link, Remap,
    FLAG_HAS_IS_REMOTE, FLAG_IS_REMOTE,
};

/// How lambdatel's invocation span relates to the function's own trace (`lambdatel.trace_join`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TraceJoin {
    /// The SDK's entry span stands for the invocation: lambdatel adds its facts there and leaves its own
    /// invocation span out.
    #[default]
    Sdk,
    /// Both invocation spans are kept and linked both ways.
    Link,
    /// lambdatel's spans follow Lambda's X-Ray header whatever the function sends.
    Xray,
}

/// How many span ids of earlier flushes are remembered, so that a span whose parent was delivered in an
/// earlier flush is not taken for an orphan.
const REMEMBERED_SPANS: usize = 8192;

/// How much earlier than its invocation's start a span may start and still belong to it (clock rounding of
/// Lambda's timestamps against the function's).
const START_SLACK_NANOS: u64 = 50_000_000;

/// The join step, kept across flushes.
#[derive(Debug, Default)]
pub struct Joiner {
    mode: TraceJoin,
    triggers: Option<TriggerStore>,
    remembered: HashSet<[u8; 8]>,
    remembered_order: VecDeque<[u8; 8]>,
    /// Orphans held back one flush, by batch position: the invocation span they belong to may come in the
    /// next one (a timed-out invocation's span is complete only with its report).
    held: Vec<Vec<ResourceSpans>>,
    /// Ids of the spans held once, never held again.
    held_ids: HashSet<[u8; 8]>,
}

/// Where a span sits in a list of batches: batch, resource, scope, span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct SpanAt(usize, usize, usize, usize);

impl Joiner {
    /// A join step in `mode`, reading trigger facts from `triggers` when the Runtime API proxy runs.
    pub fn new(mode: TraceJoin, triggers: Option<TriggerStore>) -> Self {
        Joiner { mode, triggers, ..Joiner::default() }
    }

    /// The mode.
    pub fn mode(&self) -> TraceJoin {
        self.mode
    }

    /// Joins one flush: `platform` is what the Telemetry API receiver drained, `sdk` what the `otlp`
    /// receivers drained.
    /// `last` marks the final flush, after which nothing can be held back.
    pub fn apply(&mut self, platform: &mut Signals, sdk: &mut [&mut Signals], last: bool) {
        for (position, held) in std::mem::take(&mut self.held).into_iter().enumerate() {
            // The receivers of a process do not change, so the position still names the same one.
            let position = position.min(sdk.len().saturating_sub(1));
            if let Some(batch) = sdk.get_mut(position) {
                batch.spans.extend(held);
            }
        }
        let invocations = invocation_spans(platform);
        let sdk_ids: HashSet<[u8; 8]> = all_spans_ref(sdk).map(|(_, s)| id8(&s.span_id)).collect();
        let platform_ids: HashSet<[u8; 8]> = platform_spans(platform).map(|s| id8(&s.span_id)).collect();
        let mut claimed: HashSet<SpanAt> = HashSet::new();
        let mut left_out: HashSet<([u8; 16], [u8; 8])> = HashSet::new();
        let orphans =
            if self.mode == TraceJoin::Xray { Vec::new() } else { self.orphans(sdk, &sdk_ids, &platform_ids) };
        for invocation in &invocations {
            let request_id = attribute_str(&invocation.attributes, "faas.invocation_id").unwrap_or_default();
            let trigger = self.triggers.as_ref().and_then(|t| t.take(request_id));
            let entry = match self.mode {
                TraceJoin::Xray => None,
                _ => find_entry(sdk, invocation, &claimed)
                    .or_else(|| self.adopt_orphans(sdk, invocation, &invocations, &orphans, trigger.as_ref())),
            };
            match entry {
                Some(at) => {
                    claimed.insert(at);
                    if self.join(platform, sdk, invocation, at, trigger.as_ref()) {
                        left_out.insert((id16(&invocation.trace_id), id8(&invocation.span_id)));
                    }
                }
                None => self.apply_without_sdk(platform, invocation, trigger),
            }
        }
        let entries: Vec<&Span> = claimed.iter().map(|&at| span_at(sdk, at)).collect();
        spans::attribute_stray_logs(platform, &entries);
        if !left_out.is_empty() {
            for scope in platform.spans.iter_mut().flat_map(|r| r.scope_spans.iter_mut()) {
                scope.spans.retain(|s| !left_out.contains(&(id16(&s.trace_id), id8(&s.span_id))));
            }
        }
        if !last && !orphans.is_empty() {
            self.hold_unadopted(sdk, &orphans);
        }
        let sdk_ids: HashSet<[u8; 8]> = all_spans_ref(sdk).map(|(_, s)| id8(&s.span_id)).collect();
        self.remember(sdk_ids);
    }

    /// Moves the orphans whose parent is still missing out of this flush, into the next one.
    fn hold_unadopted(&mut self, sdk: &mut [&mut Signals], orphans: &[SpanAt]) {
        let present: HashSet<[u8; 8]> = all_spans_ref(sdk).map(|(_, s)| id8(&s.span_id)).collect();
        let mut take: Vec<SpanAt> = orphans
            .iter()
            .copied()
            .filter(|&at| {
                let span = &sdk[at.0].spans[at.1].scope_spans[at.2].spans[at.3];
                !present.contains(&id8(&span.parent_span_id)) && !self.held_ids.contains(&id8(&span.span_id))
            })
            .collect();
        // From the last index down, so that the earlier indices stay valid.
        take.sort_by_key(|&SpanAt(b, r, s, i)| std::cmp::Reverse((b, r, s, i)));
        for SpanAt(b, r, s, i) in take {
            let resource = &mut sdk[b].spans[r];
            let scope = &mut resource.scope_spans[s];
            let span = scope.spans.remove(i);
            self.held_ids.insert(id8(&span.span_id));
            if self.held.len() <= b {
                self.held.resize_with(b + 1, Vec::new);
            }
            self.held[b].push(ResourceSpans {
                resource: resource.resource.clone(),
                schema_url: resource.schema_url.clone(),
                scope_spans: vec![ScopeSpans {
                    scope: scope.scope.clone(),
                    schema_url: scope.schema_url.clone(),
                    spans: vec![span],
                }],
            });
        }
        if self.held_ids.len() > REMEMBERED_SPANS {
            self.held_ids.clear();
        }
    }

    /// Joins `invocation` to the SDK span at `entry`; true when lambdatel's invocation span is to be left out.
    fn join(
        &self,
        platform: &mut Signals,
        sdk: &mut [&mut Signals],
        invocation: &Span,
        at: SpanAt,
        trigger: Option<&TriggerInfo>,
    ) -> bool {
        let entry = span_at_mut(sdk, at);
        let (entry_trace, entry_id) = (id16(&entry.trace_id), id8(&entry.span_id));
        let logs_to = |platform: &mut Signals| {
            Remap::logs_only(invocation, entry_trace, entry_id).apply(platform);
        };
        if let Some(trigger) = trigger {
            apply_trigger(entry, trigger);
        }
        if self.mode == TraceJoin::Link {
            entry.links.push(link_to(invocation));
            let link_back = link_to(entry);
            logs_to(platform);
            if let Some(span) = platform_spans(platform).find(|s| same_span(s, invocation)) {
                span.links.push(link_back);
            }
            return false;
        }
        copy_platform_facts(entry, invocation);
        // The SDK may have parented its entry span under the id Lambda gave lambdatel's invocation span
        // (X-Ray propagation): that span is left out, so the entry span takes its parent.
        if entry.parent_span_id == invocation.span_id {
            entry.parent_span_id = invocation.parent_span_id.clone();
            entry.flags = (entry.flags & !(FLAG_HAS_IS_REMOTE | FLAG_IS_REMOTE)) | remote_flags(invocation.flags);
        }
        Remap::under(invocation, entry_trace, entry_id).apply(platform);
        true
    }

    /// No SDK span for `invocation`: the trigger's facts go on lambdatel's own span; its caller's context
    /// becomes the parent (a link in mode `xray`, which keeps the X-Ray ids).
    fn apply_without_sdk(&self, platform: &mut Signals, invocation: &Span, trigger: Option<TriggerInfo>) {
        let Some(mut trigger) = trigger else { return };
        let parent = trigger.parent.take();
        if let Some(span) = platform_spans(platform).find(|s| same_span(s, invocation)) {
            apply_trigger(span, &trigger);
            if let (Some(parent), TraceJoin::Xray) = (&parent, self.mode) {
                span.links.push(remote_link(parent));
            }
        }
        if let (Some(parent), false) = (parent, self.mode == TraceJoin::Xray) {
            Remap::reparented(invocation, &parent).apply(platform);
        }
    }

    /// SDK spans whose parent is in no batch of this flush nor of recent ones, and not marked remote: what
    /// an entry span that never came leaves behind.
    fn orphans(
        &self,
        sdk: &[&mut Signals],
        sdk_ids: &HashSet<[u8; 8]>,
        platform_ids: &HashSet<[u8; 8]>,
    ) -> Vec<SpanAt> {
        all_spans_ref(sdk)
            .filter(|(_, s)| {
                let parent = id8(&s.parent_span_id);
                !s.parent_span_id.is_empty()
                    && s.flags & (FLAG_HAS_IS_REMOTE | FLAG_IS_REMOTE) != (FLAG_HAS_IS_REMOTE | FLAG_IS_REMOTE)
                    && !sdk_ids.contains(&parent)
                    && !platform_ids.contains(&parent)
                    && !self.remembered.contains(&parent)
            })
            .map(|(at, _)| at)
            .collect()
    }

    /// When `invocation` has no entry span but orphans of its trace (or of its time, when no other
    /// invocation without an entry span overlaps) point at one, emits that parent and returns where it is.
    fn adopt_orphans(
        &self,
        sdk: &mut [&mut Signals],
        invocation: &Span,
        invocations: &[Span],
        orphans: &[SpanAt],
        trigger: Option<&TriggerInfo>,
    ) -> Option<SpanAt> {
        let caller = trigger.and_then(|t| t.parent.as_ref());
        let within = |s: &Span, inv: &Span| {
            s.start_time_unix_nano.saturating_add(START_SLACK_NANOS) >= inv.start_time_unix_nano
                && s.start_time_unix_nano <= inv.end_time_unix_nano
        };
        let ours = |s: &Span| {
            let by_trace =
                s.trace_id == invocation.trace_id || caller.is_some_and(|c| s.trace_id.as_slice() == c.trace_id);
            // Time alone decides only when no other invocation of the flush could own the span.
            by_trace
                || (within(s, invocation)
                    && invocations.iter().filter(|inv| !same_span(inv, invocation)).all(|inv| !within(s, inv)))
        };
        let mut parents: Vec<(SpanAt, [u8; 16], [u8; 8])> = Vec::new();
        for &at in orphans {
            let span = span_at_mut(sdk, at);
            if !ours(span) {
                continue;
            }
            let key = (id16(&span.trace_id), id8(&span.parent_span_id));
            if !parents.iter().any(|(_, t, p)| (*t, *p) == key) {
                parents.push((at, key.0, key.1));
            }
        }
        let mut first = None;
        for (child, trace_id, span_id) in parents {
            // Another invocation of this flush may have rebuilt it already.
            if all_spans_ref(sdk).any(|(_, s)| s.trace_id == trace_id && s.span_id == span_id) {
                continue;
            }
            let parent = missing_parent_span(invocation, trace_id, span_id, caller);
            let SpanAt(batch, resource, scope, _) = child;
            let spans = &mut sdk[batch].spans[resource].scope_spans[scope].spans;
            spans.push(parent);
            first.get_or_insert(SpanAt(batch, resource, scope, spans.len() - 1));
        }
        first
    }

    fn remember(&mut self, ids: HashSet<[u8; 8]>) {
        for id in ids {
            if self.remembered.insert(id) {
                self.remembered_order.push_back(id);
            }
        }
        while self.remembered_order.len() > REMEMBERED_SPANS {
            if let Some(old) = self.remembered_order.pop_front() {
                self.remembered.remove(&old);
            }
        }
    }
}

/// lambdatel's invocation spans in a drained batch (copies: the join rewrites the batch).
fn invocation_spans(platform: &Signals) -> Vec<Span> {
    platform
        .spans
        .iter()
        .flat_map(|r| r.scope_spans.iter())
        .flat_map(|s| s.spans.iter())
        .filter(|s| s.kind == SpanKind::Server as i32 && attribute_str(&s.attributes, "faas.invocation_id").is_some())
        .cloned()
        .collect()
}

/// The SDK's entry span for `invocation`: by request id, else the local root `SERVER` span of its trace.
fn find_entry(sdk: &[&mut Signals], invocation: &Span, claimed: &HashSet<SpanAt>) -> Option<SpanAt> {
    let request_id = attribute_str(&invocation.attributes, "faas.invocation_id")?;
    let mut by_trace = None;
    let ids_in_trace: HashMap<[u8; 8], ()> = all_spans_ref(sdk)
        .filter(|(_, s)| s.trace_id == invocation.trace_id)
        .map(|(_, s)| (id8(&s.span_id), ()))
        .collect();
    for (at, span) in all_spans_ref(sdk) {
        if claimed.contains(&at) || span.kind != SpanKind::Server as i32 {
            continue;
        }
        let id = attribute_str(&span.attributes, "faas.invocation_id")
            .or_else(|| attribute_str(&span.attributes, "faas.execution"));
        if id == Some(request_id) {
            return Some(at);
        }
        if id.is_none()
            && by_trace.is_none()
            && span.trace_id == invocation.trace_id
            && !ids_in_trace.contains_key(&id8(&span.parent_span_id))
        {
            by_trace = Some(at);
        }
    }
    by_trace
}

fn same_span(a: &Span, b: &Span) -> bool {
    a.span_id == b.span_id && a.trace_id == b.trace_id
}

fn platform_spans(platform: &mut Signals) -> impl Iterator<Item = &mut Span> {
    platform.spans.iter_mut().flat_map(|r| r.scope_spans.iter_mut()).flat_map(|s| s.spans.iter_mut())
}

fn all_spans_ref<'a>(sdk: &'a [&mut Signals]) -> impl Iterator<Item = (SpanAt, &'a Span)> {
    sdk.iter().enumerate().flat_map(|(b, signals)| {
        signals.spans.iter().enumerate().flat_map(move |(r, resource)| {
            resource.scope_spans.iter().enumerate().flat_map(move |(s, scope)| {
                scope.spans.iter().enumerate().map(move |(i, span)| (SpanAt(b, r, s, i), span))
            })
        })
    })
}

fn span_at<'a>(sdk: &'a [&mut Signals], SpanAt(b, r, s, i): SpanAt) -> &'a Span {
    &sdk[b].spans[r].scope_spans[s].spans[i]
}

fn span_at_mut<'a>(sdk: &'a mut [&mut Signals], SpanAt(b, r, s, i): SpanAt) -> &'a mut Span {
    &mut sdk[b].spans[r].scope_spans[s].spans[i]
}

/// An id as a fixed array (ids of other lengths, invalid in OTLP, map to zeros and match nothing real).
fn id8(bytes: &[u8]) -> [u8; 8] {
    bytes.try_into().unwrap_or_default()
}

fn id16(bytes: &[u8]) -> [u8; 16] {
    bytes.try_into().unwrap_or_default()
}

/// Whether a span's status was left unset by whoever made it.
fn status_unset(span: &Span) -> bool {
    span.status.as_ref().is_none_or(|s| s.code == StatusCode::Unset as i32)
}

#[cfg(test)]
mod tests;
