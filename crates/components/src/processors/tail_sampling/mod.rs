//! The `tail_sampling` processor, decided per invocation at the flush, in the Collector's config shape.
//!
//! A Collector cannot know when a trace is complete and waits `decision_wait`; lambdatel decides at the
//! flush, when the invocation's spans are all there: the function's SDK spans (from the `otlp` receiver)
//! and lambdatel's platform spans, from every receiver of the flush, not only this pipeline's. With the
//! default end-of-invocation flush a flush holds whole invocations. With other flush modes a trace can be
//! split across flushes: each flush decides on the spans it holds (a latency policy sees the part's
//! duration, a status_code policy only the part's errors), so such a trace can arrive in part.
//!
//! A trace is kept when any policy samples it, unless an inverted policy (`invert_match`) vetoes it, as
//! in the Collector. `decision_wait`, `num_traces` and `expected_new_traces_per_sec` are accepted and
//! have no effect. `composite` applies its per-second span budgets per execution environment, within each
//! wall-clock second. Kept and dropped traces are counted for self-telemetry ([`trace_decisions`]).

mod dropped_logs;
mod policy;

pub use dropped_logs::DropLogsOfDroppedTraces;
pub use policy::PolicyConfig;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use lambdatel_config::{ComponentConfig, ConfigError};
use lambdatel_pipeline::{trace::ResourceSpans, FlushView, Processor};
use serde::Deserialize;

use crate::ProcessorFactory;
use policy::{compile_policy, Decision, Policy, TraceSpan};

static TRACES_KEPT: AtomicU64 = AtomicU64::new(0);
static TRACES_DROPPED: AtomicU64 = AtomicU64::new(0);

/// Traces kept and dropped by every `tail_sampling` processor of the process so far.
pub fn trace_decisions() -> (u64, u64) {
    (TRACES_KEPT.load(Ordering::Relaxed), TRACES_DROPPED.load(Ordering::Relaxed))
}

/// Configuration of the `tail_sampling` processor.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TailSamplingConfig {
    /// Accepted, no effect: the decision is taken at the flush.
    pub decision_wait: Option<serde_json::Value>,
    /// Accepted, no effect: only the flush's traces are held.
    pub num_traces: Option<u64>,
    /// Accepted, no effect.
    pub expected_new_traces_per_sec: Option<u64>,
    /// The policies; a trace is kept when any samples it (an inverted match can veto).
    pub policies: Vec<PolicyConfig>,
}

/// The `tail_sampling` processor.
pub struct TailSamplingProcessor {
    policies: Vec<Policy>,
    /// This flush's decisions by trace id (true: keep), taken from the whole flush.
    decisions: HashMap<Vec<u8>, bool>,
}

impl std::fmt::Debug for TailSamplingProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TailSamplingProcessor").field("policies", &self.policies.len()).finish()
    }
}

impl ProcessorFactory for TailSamplingProcessor {
    const TYPE: &'static str = "tail_sampling";
    const EXAMPLE: &'static str = "policies: [{name: errors, type: status_code, status_code: {status_codes: [ERROR]}}]";
    type Config = TailSamplingConfig;

    fn create(config: TailSamplingConfig, at: &ComponentConfig) -> Result<Self, ConfigError> {
        if config.policies.is_empty() {
            return Err(at.error("the tail_sampling processor needs at least one policy"));
        }
        let policies = config
            .policies
            .iter()
            .enumerate()
            .map(|(i, p)| compile_policy(at, &format!("policies[{i}]"), p, false))
            .collect::<Result<_, _>>()?;
        Ok(TailSamplingProcessor { policies, decisions: HashMap::new() })
    }
}

impl TailSamplingProcessor {
    /// Decides every trace among `spans` (deduplicated by span id: a receiver feeding several pipelines
    /// shows its spans once per processed pipeline) that `wanted` accepts.
    fn decide<'a>(&mut self, spans: impl Iterator<Item = &'a ResourceSpans>, wanted: impl Fn(&[u8]) -> bool) {
        let mut traces: HashMap<&'a [u8], Vec<TraceSpan<'a>>> = HashMap::new();
        let mut seen: HashSet<(&'a [u8], &'a [u8])> = HashSet::new();
        for rs in spans {
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    if !wanted(&span.trace_id) || !seen.insert((&span.trace_id, &span.span_id)) {
                        continue;
                    }
                    traces.entry(&span.trace_id).or_default().push(TraceSpan {
                        resource: rs.resource.as_ref(),
                        scope: ss.scope.as_ref(),
                        span,
                    });
                }
            }
        }
        for (trace_id, trace) in traces {
            let mut sampled = false;
            let mut vetoed = false;
            for policy in &mut self.policies {
                match policy.evaluate(trace_id, &trace) {
                    Decision::Sampled | Decision::InvertSampled => sampled = true,
                    Decision::InvertNotSampled => vetoed = true,
                    Decision::NotSampled => {}
                }
            }
            self.decisions.insert(trace_id.to_vec(), sampled && !vetoed);
        }
    }
}

impl Processor for TailSamplingProcessor {
    fn observe_flush(&mut self, flush: &FlushView<'_>) {
        self.decisions.clear();
        self.decide(flush.spans(), |_| true);
    }

    fn process_traces(&mut self, batch: &mut Vec<ResourceSpans>) {
        // Traces the flush did not show (a batch processed without a view) are decided on the batch.
        let decisions = std::mem::take(&mut self.decisions);
        self.decide(batch.iter(), |id| !decisions.contains_key(id));
        self.decisions.extend(decisions);
        let mut counted: HashSet<&[u8]> = HashSet::new();
        let (mut kept, mut dropped) = (0, 0);
        for rs in batch.iter() {
            for span in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
                if counted.insert(&span.trace_id) {
                    match self.decisions.get(span.trace_id.as_slice()) {
                        Some(true) => kept += 1,
                        _ => dropped += 1,
                    }
                }
            }
        }
        TRACES_KEPT.fetch_add(kept, Ordering::Relaxed);
        TRACES_DROPPED.fetch_add(dropped, Ordering::Relaxed);
        let decisions = &self.decisions;
        for rs in batch.iter_mut() {
            for ss in rs.scope_spans.iter_mut() {
                ss.spans.retain(|span| decisions.get(span.trace_id.as_slice()).copied().unwrap_or(false));
            }
            rs.scope_spans.retain(|ss| !ss.spans.is_empty());
        }
        batch.retain(|rs| !rs.scope_spans.is_empty());
        self.decisions.clear();
    }
}

#[cfg(test)]
mod tests;
