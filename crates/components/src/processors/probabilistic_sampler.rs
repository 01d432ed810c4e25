//! The `probabilistic_sampler` processor: keeps a percentage of traces, deciding from the trace id so
//! that every span of a trace (the function's own and lambdatel's) gets the same decision, in every
//! process that samples the same way.
//!
//! Modes, with the Collector's names and arithmetic:
//! - `hash_seed`: FNV-1a (32-bit) of `hash_seed` (4 little-endian bytes) followed by the trace id; the
//!   span is kept when the hash's low 14 bits are below `sampling_percentage × 163.84`. A Collector
//!   with the same seed makes the same decisions.
//! - `proportional` (OpenTelemetry consistent probability sampling): the randomness is the trace id's
//!   low 56 bits (or `rv` from the `ot` tracestate entry); a span is kept when it is at least the
//!   rejection threshold, which combines an upstream threshold (`th` in tracestate) with this
//!   processor's percentage. Kept spans carry the new threshold in tracestate (`ot=th:...`).
//!
//! The default mode is `proportional`, or `hash_seed` when `hash_seed` is set or `attribute_source` is
//! `record`. The Collector's `equalizing` mode is not supported. A span attribute `sampling.priority`
//! overrides the decision for that span (above 0: keep, 0: drop), as in the Collector.
//!
//! Logs: with `attribute_source: traceID` (default), a record with a trace id is decided like its trace;
//! a record without one is sampled on its own (a random draw). With `attribute_source: record`, the value
//! of `from_attribute` is hashed (`hash_seed` arithmetic), with a random draw when it is missing.
//! `sampling_priority` names a record attribute whose number replaces the percentage for that record.
//! Metrics pass through unchanged.

use lambdatel_config::{ComponentConfig, ConfigError};
use lambdatel_pipeline::{
    common::{any_value::Value, KeyValue},
    logs::{LogRecord, ResourceLogs},
    trace::{ResourceSpans, Span},
    Processor,
};
use serde::Deserialize;

use crate::ProcessorFactory;

use super::matching::any_value_text;

/// How the keep/drop decision is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SamplerMode {
    /// Consistent probability sampling with tracestate thresholds (OpenTelemetry's).
    Proportional,
    /// The Collector's `equalizing` mode: not supported, reported as a config error.
    Equalizing,
    /// The Collector's classic seeded hash of the trace id.
    HashSeed,
}

/// Where logs take their randomness from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum AttributeSource {
    /// The record's trace id; records without one are sampled on their own.
    #[default]
    #[serde(rename = "traceID")]
    TraceId,
    /// The record's `from_attribute` attribute.
    #[serde(rename = "record")]
    Record,
}

/// Configuration of the `probabilistic_sampler` processor, with the Collector's keys.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProbabilisticSamplerConfig {
    /// The percentage of traces (and log records) kept, from 0 to 100.
    pub sampling_percentage: f64,
    /// The seed of the `hash_seed` mode; processors that must agree use the same seed.
    pub hash_seed: u32,
    /// `proportional`, `hash_seed`, or unset for the default (see the module documentation).
    pub mode: Option<SamplerMode>,
    /// Hex digits of the threshold written to tracestate in `proportional` mode (1 to 14).
    pub sampling_precision: u8,
    /// Accepted for compatibility: lambdatel always has a source of randomness (it draws one when an item
    /// lacks a trace id or attribute), so there is no failure to close on.
    pub fail_closed: bool,
    /// `traceID` (default) or `record`: what log records are sampled by.
    pub attribute_source: AttributeSource,
    /// With `attribute_source: record`, the log record attribute whose value is hashed.
    pub from_attribute: String,
    /// A log record attribute whose numeric value, when present, is that record's sampling percentage
    /// instead of `sampling_percentage` (values are clamped to 0..100).
    pub sampling_priority: String,
}

impl Default for ProbabilisticSamplerConfig {
    fn default() -> Self {
        ProbabilisticSamplerConfig {
            sampling_percentage: 0.0,
            hash_seed: 0,
            mode: None,
            sampling_precision: 4,
            fail_closed: true,
            attribute_source: AttributeSource::TraceId,
            from_attribute: String::new(),
            sampling_priority: String::new(),
        }
    }
}

/// 2^56: the range of randomness values and thresholds.
const MAX_ADJUSTED_COUNT: u64 = 1 << 56;
const NUM_HASH_BUCKETS: u32 = 0x4000;
const BIT_MASK_HASH_BUCKETS: u32 = 0x3FFF;

/// The `probabilistic_sampler` processor.
#[derive(Debug, Clone)]
pub struct ProbabilisticSamplerProcessor {
    mode: SamplerMode,
    /// Kept when the 14-bit hash bucket is below this (`hash_seed` arithmetic).
    scaled_rate: u32,
    hash_seed: u32,
    /// The fraction kept, 0 to 1.
    fraction: f64,
    precision: u8,
    attribute_source: AttributeSource,
    from_attribute: String,
    sampling_priority: String,
    rng: fastrand::Rng,
}

impl ProbabilisticSamplerProcessor {
    /// The `hash_seed` decision for some bytes.
    fn hash_keeps(&self, bytes: &[u8], scaled_rate: u32) -> bool {
        fnv1a32(self.hash_seed, bytes) & BIT_MASK_HASH_BUCKETS < scaled_rate
    }

    /// A decision with no identity to derive it from.
    fn draw_keeps(&mut self, scaled_rate: u32) -> bool {
        self.rng.u32(0..NUM_HASH_BUCKETS) < scaled_rate
    }

    /// The record's own sampling percentage, from the `sampling_priority` attribute.
    fn record_percentage(&self, record: &LogRecord) -> Option<f64> {
        if self.sampling_priority.is_empty() {
            return None;
        }
        let value = record.attributes.iter().find(|kv| kv.key == self.sampling_priority)?.value.as_ref()?;
        let pct = match value.value.as_ref()? {
            Value::IntValue(i) => *i as f64,
            Value::DoubleValue(d) if !d.is_nan() => *d,
            _ => return None,
        };
        Some(pct.clamp(0.0, 100.0))
    }

    /// Decides for one span; in proportional mode a kept span's tracestate gets the new threshold.
    fn keep_span(&mut self, span: &mut Span) -> bool {
        match sampling_priority(&span.attributes) {
            Some(true) => return true,
            Some(false) => return false,
            None => {}
        }
        if !valid_trace_id(&span.trace_id) {
            return self.draw_keeps(self.scaled_rate);
        }
        match self.mode {
            SamplerMode::HashSeed | SamplerMode::Equalizing => self.hash_keeps(&span.trace_id, self.scaled_rate),
            SamplerMode::Proportional => {
                let state = OtTraceState::parse(&span.trace_state);
                let randomness = state.randomness.unwrap_or_else(|| trace_id_randomness(&span.trace_id));
                let incoming =
                    state.threshold.map_or(1.0, |t| (MAX_ADJUSTED_COUNT - t) as f64 / MAX_ADJUSTED_COUNT as f64);
                let Some(threshold) = threshold_for(incoming * self.fraction, self.precision) else {
                    return false;
                };
                if randomness < threshold {
                    return false;
                }
                span.trace_state = state.with_threshold(&span.trace_state, threshold);
                true
            }
        }
    }

    fn keep_record(&mut self, record: &LogRecord) -> bool {
        let (scaled, fraction) = match self.record_percentage(record) {
            Some(pct) => (scaled_rate(pct), pct / 100.0),
            None => (self.scaled_rate, self.fraction),
        };
        if self.attribute_source == AttributeSource::Record {
            let value = record
                .attributes
                .iter()
                .find(|kv| kv.key == self.from_attribute)
                .and_then(|kv| kv.value.as_ref())
                .and_then(any_value_text);
            return match value {
                Some(text) => self.hash_keeps(text.as_bytes(), scaled),
                None => self.draw_keeps(scaled),
            };
        }
        if !valid_trace_id(&record.trace_id) {
            return self.draw_keeps(scaled);
        }
        match self.mode {
            SamplerMode::HashSeed | SamplerMode::Equalizing => self.hash_keeps(&record.trace_id, scaled),
            SamplerMode::Proportional => match threshold_for(fraction, self.precision) {
                Some(threshold) => trace_id_randomness(&record.trace_id) >= threshold,
                None => false,
            },
        }
    }
}

/// The `hash_seed` cut-off for a percentage: kept when the 14-bit hash bucket is below it.
fn scaled_rate(percentage: f64) -> u32 {
    (percentage * f64::from(NUM_HASH_BUCKETS) / 100.0) as u32
}

impl ProcessorFactory for ProbabilisticSamplerProcessor {
    const TYPE: &'static str = "probabilistic_sampler";
    type Config = ProbabilisticSamplerConfig;

    fn create(settings: ProbabilisticSamplerConfig, config: &ComponentConfig) -> Result<Self, ConfigError> {
        let pct = settings.sampling_percentage;
        if !(0.0..=100.0).contains(&pct) {
            return Err(config
                .error_at("sampling_percentage", format!("sampling_percentage must be between 0 and 100, not {pct}")));
        }
        if !(1..=14).contains(&settings.sampling_precision) {
            return Err(config.error_at(
                "sampling_precision",
                format!("sampling_precision must be between 1 and 14, not {}", settings.sampling_precision),
            ));
        }
        let mode = match settings.mode {
            Some(SamplerMode::Equalizing) => {
                return Err(config.error_at("mode", "mode equalizing is not supported; use proportional or hash_seed"))
            }
            Some(mode) => mode,
            None if settings.hash_seed != 0 || settings.attribute_source == AttributeSource::Record => {
                SamplerMode::HashSeed
            }
            None => SamplerMode::Proportional,
        };
        if settings.attribute_source == AttributeSource::Record && settings.from_attribute.is_empty() {
            return Err(config.error_at("from_attribute", "attribute_source record needs from_attribute"));
        }
        Ok(ProbabilisticSamplerProcessor {
            mode,
            scaled_rate: scaled_rate(pct),
            hash_seed: settings.hash_seed,
            fraction: pct / 100.0,
            precision: settings.sampling_precision,
            attribute_source: settings.attribute_source,
            from_attribute: settings.from_attribute,
            sampling_priority: settings.sampling_priority,
            rng: fastrand::Rng::new(),
        })
    }
}

impl Processor for ProbabilisticSamplerProcessor {
    fn process_traces(&mut self, batch: &mut Vec<ResourceSpans>) {
        for rs in batch.iter_mut() {
            for scope in rs.scope_spans.iter_mut() {
                scope.spans.retain_mut(|span| self.keep_span(span));
            }
            rs.scope_spans.retain(|s| !s.spans.is_empty());
        }
        batch.retain(|rs| !rs.scope_spans.is_empty());
    }

    fn process_logs(&mut self, batch: &mut Vec<ResourceLogs>) {
        for rl in batch.iter_mut() {
            for scope in rl.scope_logs.iter_mut() {
                scope.log_records.retain(|record| self.keep_record(record));
            }
            rl.scope_logs.retain(|s| !s.log_records.is_empty());
        }
        batch.retain(|rl| !rl.scope_logs.is_empty());
    }
}

/// FNV-1a, 32-bit, over the seed's 4 little-endian bytes and then `bytes` (the Collector's `computeHash`).
fn fnv1a32(seed: u32, bytes: &[u8]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for b in seed.to_le_bytes().iter().chain(bytes) {
        hash ^= u32::from(*b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

fn valid_trace_id(id: &[u8]) -> bool {
    id.len() == 16 && id.iter().any(|b| *b != 0)
}

/// The trace id's low 56 bits, the randomness W3C trace context level 2 promises.
fn trace_id_randomness(id: &[u8]) -> u64 {
    id[9..16].iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

/// `Some(true)` to force keeping, `Some(false)` to force dropping, from `sampling.priority`.
fn sampling_priority(attributes: &[KeyValue]) -> Option<bool> {
    let value = attributes.iter().find(|kv| kv.key == "sampling.priority")?.value.as_ref()?.value.as_ref()?;
    let priority = match value {
        Value::IntValue(i) => *i as f64,
        Value::DoubleValue(d) => *d,
        Value::StringValue(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    Some(priority > 0.0)
}

/// The rejection threshold for keeping `fraction` of traces, rounded to `precision` significant hex
/// digits as OpenTelemetry's sampling package does; `None` when nothing is kept.
fn threshold_for(fraction: f64, precision: u8) -> Option<u64> {
    if fraction <= 0.0 || fraction.is_nan() {
        return None;
    }
    if fraction >= 1.0 {
        return Some(0);
    }
    let mut precision = u32::from(precision);
    // Leading zeros (rejection below 1/16) and leading f's (keeping below 1/16) do not count as precision.
    let mut reject = 1.0 - fraction;
    while reject * 16.0 < 1.0 && precision < 14 {
        reject *= 16.0;
        precision += 1;
    }
    let mut kept = fraction;
    while kept * 16.0 <= 1.0 && precision < 14 {
        kept *= 16.0;
        precision += 1;
    }
    let scaled = (fraction * MAX_ADJUSTED_COUNT as f64).round() as u64;
    let mut threshold = MAX_ADJUSTED_COUNT - scaled.min(MAX_ADJUSTED_COUNT);
    let shift = 4 * (14 - precision.min(14));
    if shift > 0 {
        threshold = ((threshold + (1 << (shift - 1))) >> shift) << shift;
    }
    (threshold < MAX_ADJUSTED_COUNT).then_some(threshold)
}

/// The parts of the `ot` tracestate entry this processor reads.
#[derive(Debug, Default, PartialEq)]
struct OtTraceState {
    threshold: Option<u64>,
    randomness: Option<u64>,
}

impl OtTraceState {
    fn parse(trace_state: &str) -> OtTraceState {
        let mut out = OtTraceState::default();
        let Some(ot) = ot_entry(trace_state) else { return out };
        for field in ot.split(';') {
            match field.split_once(':') {
                Some(("th", hex)) if !hex.is_empty() && hex.len() <= 14 => {
                    out.threshold = u64::from_str_radix(&format!("{hex:0<14}"), 16).ok();
                }
                Some(("rv", hex)) if hex.len() == 14 => out.randomness = u64::from_str_radix(hex, 16).ok(),
                _ => {}
            }
        }
        out
    }

    /// `trace_state` with the `ot` entry's `th` set to `threshold`, the `ot` entry first (as W3C asks of
    /// a modified entry) and every other entry kept.
    fn with_threshold(&self, trace_state: &str, threshold: u64) -> String {
        let th = if threshold == 0 {
            "0".to_owned()
        } else {
            let hex = format!("{threshold:014x}");
            hex.trim_end_matches('0').to_owned()
        };
        let mut fields = vec![format!("th:{th}")];
        if let Some(ot) = ot_entry(trace_state) {
            fields.extend(ot.split(';').filter(|f| !f.is_empty() && !f.starts_with("th:")).map(str::to_owned));
        }
        let mut entries = vec![format!("ot={}", fields.join(";"))];
        entries.extend(
            trace_state.split(',').map(str::trim).filter(|e| !e.is_empty() && !e.starts_with("ot=")).map(str::to_owned),
        );
        entries.join(",")
    }
}

fn ot_entry(trace_state: &str) -> Option<&str> {
    trace_state.split(',').map(str::trim).find_map(|entry| entry.strip_prefix("ot="))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processors::matching::test_support::*;
    use lambdatel_pipeline::{
        common::AnyValue,
        logs::ScopeLogs,
        trace::{ScopeSpans, Span},
    };

    fn processor(yaml: &str) -> Result<ProbabilisticSamplerProcessor, String> {
        let mut p = ProbabilisticSamplerProcessor::from_config(&component("processors.probabilistic_sampler", yaml))
            .map_err(|e| e.to_string())?;
        p.rng = fastrand::Rng::with_seed(7);
        Ok(p)
    }

    fn trace_id(n: u64) -> Vec<u8> {
        // X-Ray-like: a time prefix, then random-looking bytes.
        let mut id = vec![0x57, 0x59, 0xe9, 0x88, 0xbd, 0x86, 0x2e, 0x3f];
        id.extend(n.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
        id
    }

    fn batch(ids: impl Iterator<Item = Vec<u8>>) -> Vec<ResourceSpans> {
        vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: ids.map(|trace_id| Span { trace_id, ..Default::default() }).collect(),
                ..Default::default()
            }],
            ..Default::default()
        }]
    }

    fn kept(p: &mut ProbabilisticSamplerProcessor, n: u64) -> Vec<ResourceSpans> {
        let mut spans = batch((0..n).map(trace_id));
        p.process_traces(&mut spans);
        spans
    }

    fn count(spans: &[ResourceSpans]) -> usize {
        spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len()).sum()
    }

    #[test]
    fn fnv_and_hash_seed_match_the_collector() {
        // The seed goes first, as four little-endian bytes.
        assert_eq!(fnv1a32(0, b""), 0x4b95_f515);
        assert_eq!(fnv1a32(1, b"a"), 0x2c6a_20ff);
        let p = processor("sampling_percentage: 25\nhash_seed: 22").unwrap();
        assert_eq!((p.mode, p.scaled_rate), (SamplerMode::HashSeed, 4096));
    }

    #[test]
    fn hash_seed_mode_is_consistent_per_trace() {
        let mut p = processor("sampling_percentage: 25\nhash_seed: 22").unwrap();
        let spans = kept(&mut p, 2000);
        assert_eq!(count(&spans), 484);
        // The same trace ids give the same decisions, span after span and processor after processor.
        let mut again = processor("sampling_percentage: 25\nhash_seed: 22").unwrap();
        assert_eq!(kept(&mut again, 2000), spans);
        let mut other_seed = processor("sampling_percentage: 25\nhash_seed: 23").unwrap();
        assert_ne!(kept(&mut other_seed, 2000), spans);
        // hash_seed mode leaves tracestate alone.
        assert!(spans[0].scope_spans[0].spans.iter().all(|s| s.trace_state.is_empty()));
        assert_eq!(count(&kept(&mut processor("sampling_percentage: 100\nhash_seed: 1").unwrap(), 100)), 100);
        assert_eq!(count(&kept(&mut processor("sampling_percentage: 0\nhash_seed: 1").unwrap(), 100)), 0);
    }

    #[test]
    fn proportional_mode_thresholds() {
        assert_eq!(threshold_for(0.25, 4), Some(0xc0_0000_0000_0000));
        assert_eq!(threshold_for(1.0, 4), Some(0));
        assert_eq!(threshold_for(0.0, 4), None);
        // One third: aaaa...a rounded to four digits.
        assert_eq!(threshold_for(1.0 / 3.0, 4), Some(0xaa_ab00_0000_0000));
        // A small probability keeps its significant digits after the leading f's.
        assert_eq!(threshold_for(0.001, 2), Some(0xff_be00_0000_0000));

        let mut p = processor("sampling_percentage: 25").unwrap();
        assert_eq!(p.mode, SamplerMode::Proportional);
        let spans = kept(&mut p, 2000);
        assert_eq!(count(&spans), 501);
        for span in &spans[0].scope_spans[0].spans {
            assert!(trace_id_randomness(&span.trace_id) >= 0xc0_0000_0000_0000);
            assert_eq!(span.trace_state, "ot=th:c");
        }
    }

    #[test]
    fn proportional_mode_combines_with_tracestate() {
        let mut p = processor("sampling_percentage: 50").unwrap();
        let span = |state: &str, low: u64| Span {
            trace_id: [[1u8; 8], low.to_be_bytes()].concat(),
            trace_state: state.into(),
            ..Default::default()
        };
        // Upstream kept 1/2 (th:8); this keeps half of that: 1/4, th:c.
        let mut s = span("ot=th:8;rv:e0000000000000,vendor=x", 0);
        assert!(p.keep_span(&mut s), "rv e0.. is above c0..");
        assert_eq!(s.trace_state, "ot=th:c;rv:e0000000000000,vendor=x");
        let mut s = span("ot=th:8;rv:b0000000000000", 0);
        assert!(!p.keep_span(&mut s));
        // Randomness from the trace id's low 56 bits.
        let mut s = span("congo=t61rcWkgMzE", 0x00_90_00_00_00_00_00_00);
        assert!(p.keep_span(&mut s));
        assert_eq!(s.trace_state, "ot=th:8,congo=t61rcWkgMzE");
        let mut s = span("", 0x00_70_00_00_00_00_00_00);
        assert!(!p.keep_span(&mut s));
    }

    #[test]
    fn sampling_priority_overrides() {
        let mut p = processor("sampling_percentage: 0").unwrap();
        let mut forced =
            Span { trace_id: trace_id(1), attributes: vec![kv("sampling.priority", i(1))], ..Default::default() };
        assert!(p.keep_span(&mut forced));
        let mut p = processor("sampling_percentage: 100").unwrap();
        let mut dropped =
            Span { trace_id: trace_id(1), attributes: vec![kv("sampling.priority", s("0"))], ..Default::default() };
        assert!(!p.keep_span(&mut dropped));
    }

    fn logs(records: Vec<LogRecord>) -> Vec<ResourceLogs> {
        vec![ResourceLogs {
            scope_logs: vec![ScopeLogs { log_records: records, ..Default::default() }],
            ..Default::default()
        }]
    }

    fn log_count(batch: &[ResourceLogs]) -> usize {
        batch.iter().flat_map(|r| &r.scope_logs).map(|s| s.log_records.len()).sum()
    }

    #[test]
    fn logs_follow_their_trace_or_are_drawn() {
        let yaml = "sampling_percentage: 25\nhash_seed: 22";
        let mut p = processor(yaml).unwrap();
        let spans = kept(&mut p, 200);
        let kept_ids: Vec<Vec<u8>> = spans[0].scope_spans[0].spans.iter().map(|s| s.trace_id.clone()).collect();
        let mut records = logs((0..200).map(|n| LogRecord { trace_id: trace_id(n), ..Default::default() }).collect());
        p.process_logs(&mut records);
        let kept_logs: Vec<Vec<u8>> = records[0].scope_logs[0].log_records.iter().map(|r| r.trace_id.clone()).collect();
        assert_eq!(kept_logs, kept_ids, "a trace's logs go with its spans");

        // No trace id: each record is drawn on its own.
        let mut untraced = logs((0..2000).map(|_| LogRecord::default()).collect());
        processor(yaml).unwrap().process_logs(&mut untraced);
        assert_eq!(log_count(&untraced), 513);
        let mut all = logs(vec![LogRecord::default(); 10]);
        processor("sampling_percentage: 100").unwrap().process_logs(&mut all);
        assert_eq!(log_count(&all), 10);
        let mut none = logs(vec![LogRecord::default(); 10]);
        processor("sampling_percentage: 0").unwrap().process_logs(&mut none);
        assert!(none.is_empty());
    }

    #[test]
    fn logs_by_record_attribute() {
        let mut p = processor("sampling_percentage: 50\nattribute_source: record\nfrom_attribute: user").unwrap();
        assert_eq!(p.mode, SamplerMode::HashSeed);
        let record = |user: &str| LogRecord { attributes: attrs(&[("user", user)]), ..Default::default() };
        let users: Vec<String> = (0..40).map(|n| format!("user-{n}")).collect();
        let mut batch = logs(users.iter().map(|u| record(u)).chain(users.iter().map(|u| record(u))).collect());
        p.process_logs(&mut batch);
        let kept: Vec<String> = batch[0].scope_logs[0]
            .log_records
            .iter()
            .map(|r| crate::processors::matching::string_attribute(&r.attributes, "user").unwrap().to_owned())
            .collect();
        // Each user is kept or dropped as a whole: the kept list is one half repeated.
        let half = kept.len() / 2;
        assert_eq!(kept[..half], kept[half..]);
        assert_eq!(half, 29);
    }

    #[test]
    fn a_record_priority_overrides_the_percentage() {
        let mut p = processor("sampling_percentage: 0\nsampling_priority: priority").unwrap();
        let record = |priority: Option<AnyValue>| LogRecord {
            trace_id: trace_id(3),
            attributes: priority.map(|v| vec![kv("priority", Some(v))]).unwrap_or_default(),
            ..Default::default()
        };
        let all = Some(AnyValue { value: Some(Value::IntValue(100)) });
        let over = Some(AnyValue { value: Some(Value::DoubleValue(250.0)) });
        let text = s("100");
        let mut batch = logs(vec![record(None), record(all), record(over), record(text)]);
        p.process_logs(&mut batch);
        let kept: Vec<Vec<KeyValue>> =
            batch[0].scope_logs[0].log_records.iter().map(|r| r.attributes.clone()).collect();
        assert_eq!(
            kept,
            vec![
                vec![kv("priority", i(100))],
                vec![kv("priority", Some(AnyValue { value: Some(Value::DoubleValue(250.0)) }))]
            ],
            "numeric priorities of 100 and above keep the record; no or non-numeric priority uses 0%"
        );
    }

    #[test]
    fn metrics_pass_through() {
        use lambdatel_pipeline::metrics::ResourceMetrics;
        let mut metrics = vec![ResourceMetrics::default()];
        processor("sampling_percentage: 0").unwrap().process_metrics(&mut metrics);
        assert_eq!(metrics, vec![ResourceMetrics::default()]);
    }

    #[test]
    fn config_errors() {
        let cases = [
            (
                "sampling_percentage: 150",
                "<config>:1:1: processors.probabilistic_sampler.sampling_percentage: sampling_percentage must be between 0 and 100, not 150",
            ),
            (
                "sampling_percentage: -1",
                "<config>:1:1: processors.probabilistic_sampler.sampling_percentage: sampling_percentage must be between 0 and 100, not -1",
            ),
            (
                "sampling_percentage: 10\nmode: equalizing",
                "<config>:2:1: processors.probabilistic_sampler.mode: mode equalizing is not supported; use proportional or hash_seed",
            ),
            (
                "mode: random",
                "<config>:1:1: processors.probabilistic_sampler.mode: unknown variant `random`, expected one of `proportional`, `equalizing`, `hash_seed`",
            ),
            (
                "sampling_precision: 15",
                "<config>:1:1: processors.probabilistic_sampler.sampling_precision: sampling_precision must be between 1 and 14, not 15",
            ),
            (
                "attribute_source: record",
                "<config>:1:17: processors.probabilistic_sampler.from_attribute: attribute_source record needs from_attribute",
            ),
            (
                "attribute_source: traceid",
                "<config>:1:1: processors.probabilistic_sampler.attribute_source: unknown variant `traceid`, expected `traceID` or `record`",
            ),
            (
                "sampling_rate: 5",
                "<config>:1:1: processors.probabilistic_sampler.sampling_rate: unknown field `sampling_rate`, expected one of `sampling_percentage`, `hash_seed`, `mode`, `sampling_precision`, `fail_closed`, `attribute_source`, `from_attribute`, `sampling_priority`",
            ),
        ];
        for (yaml, expected) in cases {
            assert_eq!(processor(yaml).err().as_deref(), Some(expected), "for {yaml}");
        }
    }
}
