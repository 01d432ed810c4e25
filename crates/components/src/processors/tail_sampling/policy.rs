//! Tail sampling policies in the Collector's config shape, and their evaluation on one trace.

use std::time::{SystemTime, UNIX_EPOCH};

use lambdatel_config::{ComponentConfig, ConfigError};
use lambdatel_ottl::{Condition, ContextKind, SpanContext, SpanEventContext};
use lambdatel_pipeline::{
    common::{any_value::Value, InstrumentationScope, KeyValue},
    resource::Resource,
    trace::Span,
};
use serde::Deserialize;

use crate::processors::filter_conditions::compile;

/// One policy: `name`, `type` and the settings under the key named by `type`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// The policy's name (for `composite`'s `policy_order` and `rate_allocation`).
    pub name: String,
    /// always_sample, latency, status_code, numeric_attribute, string_attribute, boolean_attribute,
    /// probabilistic, span_count, ottl_condition, and, composite.
    #[serde(rename = "type")]
    pub kind: String,
    /// `threshold_ms` (trace duration at least) and `upper_threshold_ms` (at most; 0: no bound).
    pub latency: Option<LatencyConfig>,
    /// `status_codes`: any of OK, ERROR, UNSET on any span.
    pub status_code: Option<StatusCodeConfig>,
    /// `key`, `min_value`, `max_value`, `invert_match`.
    pub numeric_attribute: Option<NumericAttributeConfig>,
    /// `key`, `values`, `enabled_regex_matching`, `invert_match` (`cache_max_size` accepted).
    pub string_attribute: Option<StringAttributeConfig>,
    /// `key`, `value`, `invert_match`.
    pub boolean_attribute: Option<BooleanAttributeConfig>,
    /// `sampling_percentage`, `hash_salt`: decided by a hash of the trace id.
    pub probabilistic: Option<ProbabilisticConfig>,
    /// `min_spans`, `max_spans` (0: no bound).
    pub span_count: Option<SpanCountConfig>,
    /// `span` and `spanevent` OTTL conditions, `error_mode`; any holding samples.
    pub ottl_condition: Option<OttlConditionConfig>,
    /// `and_sub_policy`: every sub-policy must sample.
    pub and: Option<AndConfig>,
    /// `max_total_spans_per_second`, `policy_order`, `composite_sub_policy`, `rate_allocation`.
    pub composite: Option<CompositeConfig>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LatencyConfig {
    pub threshold_ms: u64,
    pub upper_threshold_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StatusCodeConfig {
    pub status_codes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NumericAttributeConfig {
    pub key: String,
    pub min_value: Option<i64>,
    pub max_value: Option<i64>,
    pub invert_match: bool,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StringAttributeConfig {
    pub key: String,
    pub values: Vec<String>,
    pub enabled_regex_matching: bool,
    /// Accepted; regexes are compiled once, there is no cache to size.
    pub cache_max_size: Option<u64>,
    pub invert_match: bool,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BooleanAttributeConfig {
    pub key: String,
    pub value: bool,
    pub invert_match: bool,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProbabilisticConfig {
    pub sampling_percentage: f64,
    pub hash_salt: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpanCountConfig {
    pub min_spans: u64,
    pub max_spans: u64,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OttlConditionConfig {
    /// Accepted: a condition that fails to evaluate does not hold, whatever the mode.
    pub error_mode: Option<String>,
    pub span: Vec<String>,
    pub spanevent: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AndConfig {
    pub and_sub_policy: Vec<PolicyConfig>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompositeConfig {
    pub max_total_spans_per_second: u64,
    pub policy_order: Vec<String>,
    pub composite_sub_policy: Vec<PolicyConfig>,
    pub rate_allocation: Vec<RateAllocation>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateAllocation {
    pub policy: String,
    pub percent: u64,
}

/// A policy's verdict on one trace, as in the Collector: an inverted "not sampled" vetoes the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Sampled,
    NotSampled,
    InvertSampled,
    InvertNotSampled,
}

impl Decision {
    pub fn samples(self) -> bool {
        matches!(self, Decision::Sampled | Decision::InvertSampled)
    }
}

/// One span of a trace with where it came from.
pub struct TraceSpan<'a> {
    pub resource: Option<&'a Resource>,
    pub scope: Option<&'a InstrumentationScope>,
    pub span: &'a Span,
}

/// A composite's sub-policy with its share of the spans per second.
pub struct SubPolicy {
    policy: Policy,
    allocated: u64,
    used: u64,
}

/// A compiled policy.
pub enum Policy {
    AlwaysSample,
    Latency { threshold_ns: u64, upper_ns: u64 },
    StatusCode(Vec<i32>),
    NumericAttribute { key: String, min: i64, max: i64, invert: bool },
    StringAttribute { key: String, values: Vec<String>, regexes: Vec<regex::Regex>, invert: bool },
    BooleanAttribute { key: String, value: bool, invert: bool },
    Probabilistic { salt: String, threshold: u64 },
    SpanCount { min: u64, max: u64 },
    Ottl { span: Vec<Condition>, spanevent: Vec<Condition> },
    And(Vec<Policy>),
    Composite { max_total: u64, second: u64, subs: Vec<SubPolicy> },
}

/// The Collector's default `hash_salt`, so that both sample the same trace ids.
const DEFAULT_HASH_SALT: &str = "default-hash-seed";

/// Compiles the policy written at `key` (e.g. `policies[2]`); `nested` forbids and/composite below.
pub fn compile_policy(at: &ComponentConfig, key: &str, c: &PolicyConfig, nested: bool) -> Result<Policy, ConfigError> {
    let missing = |section: &str| at.error_at(key, format!("a `{}` policy needs its `{section}` settings", c.kind));
    Ok(match c.kind.as_str() {
        "always_sample" => Policy::AlwaysSample,
        "latency" => {
            let l = c.latency.as_ref().ok_or_else(|| missing("latency"))?;
            if l.upper_threshold_ms != 0 && l.upper_threshold_ms < l.threshold_ms {
                return Err(at.error_at(&format!("{key}.latency.upper_threshold_ms"), "must be at least threshold_ms"));
            }
            Policy::Latency { threshold_ns: l.threshold_ms * 1_000_000, upper_ns: l.upper_threshold_ms * 1_000_000 }
        }
        "status_code" => {
            let s = c.status_code.as_ref().ok_or_else(|| missing("status_code"))?;
            let mut codes = Vec::new();
            for (i, code) in s.status_codes.iter().enumerate() {
                codes.push(match code.as_str() {
                    "UNSET" => 0,
                    "OK" => 1,
                    "ERROR" => 2,
                    other => {
                        return Err(at.error_at(
                            &format!("{key}.status_code.status_codes[{i}]"),
                            format!("unknown status code `{other}` (expected OK, ERROR or UNSET)"),
                        ))
                    }
                });
            }
            if codes.is_empty() {
                return Err(at.error_at(&format!("{key}.status_code"), "status_codes needs at least one code"));
            }
            Policy::StatusCode(codes)
        }
        "numeric_attribute" => {
            let n = c.numeric_attribute.as_ref().ok_or_else(|| missing("numeric_attribute"))?;
            Policy::NumericAttribute {
                key: n.key.clone(),
                min: n.min_value.unwrap_or(i64::MIN),
                max: n.max_value.unwrap_or(i64::MAX),
                invert: n.invert_match,
            }
        }
        "string_attribute" => {
            let s = c.string_attribute.as_ref().ok_or_else(|| missing("string_attribute"))?;
            let mut regexes = Vec::new();
            if s.enabled_regex_matching {
                for (i, pattern) in s.values.iter().enumerate() {
                    regexes.push(regex::Regex::new(pattern).map_err(|e| {
                        at.error_at(&format!("{key}.string_attribute.values[{i}]"), format!("invalid regex: {e}"))
                    })?);
                }
            }
            Policy::StringAttribute { key: s.key.clone(), values: s.values.clone(), regexes, invert: s.invert_match }
        }
        "boolean_attribute" => {
            let b = c.boolean_attribute.as_ref().ok_or_else(|| missing("boolean_attribute"))?;
            Policy::BooleanAttribute { key: b.key.clone(), value: b.value, invert: b.invert_match }
        }
        "probabilistic" => {
            let p = c.probabilistic.as_ref().ok_or_else(|| missing("probabilistic"))?;
            if !(0.0..=100.0).contains(&p.sampling_percentage) {
                return Err(at.error_at(
                    &format!("{key}.probabilistic.sampling_percentage"),
                    "must be between 0 and 100",
                ));
            }
            let threshold = (p.sampling_percentage / 100.0 * u64::MAX as f64) as u64;
            Policy::Probabilistic {
                salt: p.hash_salt.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| DEFAULT_HASH_SALT.into()),
                threshold,
            }
        }
        "span_count" => {
            let s = c.span_count.as_ref().ok_or_else(|| missing("span_count"))?;
            Policy::SpanCount { min: s.min_spans, max: if s.max_spans == 0 { u64::MAX } else { s.max_spans } }
        }
        "ottl_condition" => {
            let o = c.ottl_condition.as_ref().ok_or_else(|| missing("ottl_condition"))?;
            let span = compile(at, &format!("{key}.ottl_condition.span"), &o.span, ContextKind::Span)?;
            let spanevent =
                compile(at, &format!("{key}.ottl_condition.spanevent"), &o.spanevent, ContextKind::SpanEvent)?;
            if span.is_empty() && spanevent.is_empty() {
                return Err(at.error_at(&format!("{key}.ottl_condition"), "needs span or spanevent conditions"));
            }
            Policy::Ottl { span, spanevent }
        }
        "and" | "composite" if nested => {
            return Err(at.error_at(&format!("{key}.type"), format!("`{}` cannot be a sub-policy", c.kind)))
        }
        "and" => {
            let a = c.and.as_ref().ok_or_else(|| missing("and"))?;
            let subs = a
                .and_sub_policy
                .iter()
                .enumerate()
                .map(|(i, sub)| compile_policy(at, &format!("{key}.and.and_sub_policy[{i}]"), sub, true))
                .collect::<Result<Vec<_>, _>>()?;
            if subs.is_empty() {
                return Err(at.error_at(&format!("{key}.and"), "and_sub_policy needs at least one policy"));
            }
            Policy::And(subs)
        }
        "composite" => compile_composite(at, key, c.composite.as_ref().ok_or_else(|| missing("composite"))?)?,
        other => {
            return Err(at.error_at(
                &format!("{key}.type"),
                format!(
                    "unsupported policy type `{other}` (supported: always_sample, latency, status_code, numeric_attribute, \
                     string_attribute, boolean_attribute, probabilistic, span_count, ottl_condition, and, composite)"
                ),
            ))
        }
    })
}

/// Sub-policies run in `policy_order` (then as written); each may sample up to its `rate_allocation`
/// share of `max_total_spans_per_second` (an equal share when it has none) within each wall-clock second.
fn compile_composite(at: &ComponentConfig, key: &str, c: &CompositeConfig) -> Result<Policy, ConfigError> {
    if c.composite_sub_policy.is_empty() {
        return Err(at.error_at(&format!("{key}.composite"), "composite_sub_policy needs at least one policy"));
    }
    let mut order: Vec<usize> = Vec::new();
    for (i, name) in c.policy_order.iter().enumerate() {
        let index = c.composite_sub_policy.iter().position(|p| &p.name == name).ok_or_else(|| {
            at.error_at(&format!("{key}.composite.policy_order[{i}]"), format!("no sub-policy is named `{name}`"))
        })?;
        order.push(index);
    }
    let unordered: Vec<usize> = (0..c.composite_sub_policy.len()).filter(|i| !order.contains(i)).collect();
    order.extend(unordered);
    let equal_share = c.max_total_spans_per_second / c.composite_sub_policy.len() as u64;
    let mut subs = Vec::new();
    for index in order {
        let config = &c.composite_sub_policy[index];
        let policy = compile_policy(at, &format!("{key}.composite.composite_sub_policy[{index}]"), config, true)?;
        let allocated = c
            .rate_allocation
            .iter()
            .find(|r| r.policy == config.name)
            .map_or(equal_share, |r| c.max_total_spans_per_second * r.percent / 100);
        subs.push(SubPolicy { policy, allocated, used: 0 });
    }
    Ok(Policy::Composite { max_total: c.max_total_spans_per_second, second: 0, subs })
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes.iter().find(|a| a.key == key).and_then(|a| a.value.as_ref()?.value.as_ref())
}

/// True when the resource or any span has `key` with a value `test` accepts.
fn any_attribute(trace: &[TraceSpan<'_>], key: &str, test: impl Fn(&Value) -> bool) -> bool {
    trace.iter().any(|t| {
        let resource = t.resource.map_or(&[][..], |r| &r.attributes[..]);
        attribute(resource, key).is_some_and(&test) || attribute(&t.span.attributes, key).is_some_and(&test)
    })
}

fn matched(found: bool, invert: bool) -> Decision {
    match (found, invert) {
        (true, false) => Decision::Sampled,
        (false, false) => Decision::NotSampled,
        (true, true) => Decision::InvertNotSampled,
        (false, true) => Decision::InvertSampled,
    }
}

/// FNV-1a 64 over the salt then the trace id, as the Collector's probabilistic policy hashes.
fn hash_trace_id(salt: &str, trace_id: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in salt.as_bytes().iter().chain(trace_id) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

impl Policy {
    /// Evaluates the policy on the spans of one trace (`trace_id`, at least one span).
    pub fn evaluate(&mut self, trace_id: &[u8], trace: &[TraceSpan<'_>]) -> Decision {
        let sampled = |yes: bool| if yes { Decision::Sampled } else { Decision::NotSampled };
        match self {
            Policy::AlwaysSample => Decision::Sampled,
            Policy::Latency { threshold_ns, upper_ns } => {
                let start = trace.iter().map(|t| t.span.start_time_unix_nano).min().unwrap_or(0);
                let end = trace.iter().map(|t| t.span.end_time_unix_nano).max().unwrap_or(0);
                let duration = end.saturating_sub(start);
                sampled(duration >= *threshold_ns && (*upper_ns == 0 || duration <= *upper_ns))
            }
            Policy::StatusCode(codes) => {
                sampled(trace.iter().any(|t| codes.contains(&t.span.status.as_ref().map_or(0, |s| s.code))))
            }
            Policy::NumericAttribute { key, min, max, invert } => {
                let found = any_attribute(trace, key, |v| matches!(v, Value::IntValue(i) if (*min..=*max).contains(i)));
                matched(found, *invert)
            }
            Policy::StringAttribute { key, values, regexes, invert } => {
                let found = any_attribute(trace, key, |v| match v {
                    Value::StringValue(s) if regexes.is_empty() => values.iter().any(|x| x == s),
                    Value::StringValue(s) => regexes.iter().any(|r| r.is_match(s)),
                    _ => false,
                });
                matched(found, *invert)
            }
            Policy::BooleanAttribute { key, value, invert } => {
                matched(any_attribute(trace, key, |v| matches!(v, Value::BoolValue(b) if b == value)), *invert)
            }
            Policy::Probabilistic { salt, threshold } => sampled(hash_trace_id(salt, trace_id) <= *threshold),
            Policy::SpanCount { min, max } => sampled((*min..=*max).contains(&(trace.len() as u64))),
            Policy::Ottl { span, spanevent } => sampled(ottl_holds(span, spanevent, trace)),
            Policy::And(subs) => sampled(subs.iter_mut().all(|p| p.evaluate(trace_id, trace).samples())),
            Policy::Composite { max_total, second, subs } => {
                let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
                if now != *second {
                    *second = now;
                    subs.iter_mut().for_each(|s| s.used = 0);
                }
                let spans = trace.len() as u64;
                for sub in subs.iter_mut() {
                    if sub.policy.evaluate(trace_id, trace).samples() {
                        let used = sub.used + spans;
                        // Over budget: not sampled, and the budget stays for smaller traces (as the Collector).
                        if used <= sub.allocated && used <= *max_total {
                            sub.used = used;
                            return Decision::Sampled;
                        }
                        return Decision::NotSampled;
                    }
                }
                Decision::NotSampled
            }
        }
    }
}

/// OTTL conditions take mutable contexts; the flush is read-only, so each span is evaluated on a copy.
/// A condition that fails to evaluate does not hold.
fn ottl_holds(span_conditions: &[Condition], event_conditions: &[Condition], trace: &[TraceSpan<'_>]) -> bool {
    let mut resource = Resource::default();
    let mut scope = InstrumentationScope::default();
    let mut span = Span::default();
    for t in trace {
        resource.clone_from(t.resource.unwrap_or(&Resource::default()));
        scope.clone_from(t.scope.unwrap_or(&InstrumentationScope::default()));
        span.clone_from(t.span);
        let mut context = SpanContext { resource: &mut resource, scope: &mut scope, span: &mut span };
        if span_conditions.iter().any(|c| c.evaluate(&mut context).unwrap_or(false)) {
            return true;
        }
        for event_index in 0..t.span.events.len() {
            let mut context =
                SpanEventContext { resource: &mut resource, scope: &mut scope, span: &mut span, event_index };
            if event_conditions.iter().any(|c| c.evaluate(&mut context).unwrap_or(false)) {
                return true;
            }
        }
    }
    false
}
