//! The `redaction` processor: keeps secrets and personal data out of the backend, with the Collector's
//! keys, plus masking inside log bodies.
//!
//! For every attribute of resources, spans, span events, data points and log records, in this order:
//! a key in `ignored_keys` is left alone; unless `allow_all_keys` is true, a key not in `allowed_keys`
//! is deleted; a key matching `blocked_key_patterns` has its whole value masked; a value matching
//! `allowed_values` is kept; otherwise every part of the value matching `blocked_values` is replaced by
//! `****`. Note that, as in the Collector, `allow_all_keys: false` with no `allowed_keys` deletes every
//! attribute, resource attributes included.
//!
//! Log bodies (`mask_log_bodies`, on by default): string bodies and the string values inside map and
//! list bodies get the same value masking; keys inside bodies are not deleted, since they are data, not
//! attributes.

use lambdatel_config::{ComponentConfig, ConfigError};
use lambdatel_pipeline::{
    common::{any_value::Value, AnyValue, KeyValue},
    logs::ResourceLogs,
    metrics::ResourceMetrics,
    resource::Resource,
    trace::ResourceSpans,
    Processor,
};
use serde::Deserialize;

use crate::ProcessorFactory;

use super::{
    matching::{any_value_text, compile_pattern},
    pattern::Pattern,
};
use lambdatel_pipeline::otlp::for_each_data_point_attributes;

/// What replaces a masked value or part of a value.
pub const MASK: &str = "****";

/// How much the processor reports about what it did, as attributes on the item it changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Summary {
    /// The keys and counts: `redaction.redacted.keys`/`.count`, `redaction.masked.keys`/`.count`,
    /// `redaction.ignored.count`.
    Debug,
    /// Only the counts.
    Info,
    /// Nothing.
    #[default]
    Silent,
}

/// Configuration of the `redaction` processor, with the Collector's keys.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedactionConfig {
    /// Keep every attribute key (values are still masked); when false, only `allowed_keys` survive.
    pub allow_all_keys: bool,
    /// The attribute keys kept when `allow_all_keys` is false.
    pub allowed_keys: Vec<String>,
    /// Keys neither deleted nor masked.
    pub ignored_keys: Vec<String>,
    /// Regexes for values, or parts of values, to mask (e.g. card numbers, e-mail addresses).
    pub blocked_values: Vec<String>,
    /// Regexes for keys whose whole value is masked (e.g. `(?i)password|token`).
    pub blocked_key_patterns: Vec<String>,
    /// Regexes for values that are never masked, even when they match `blocked_values`.
    pub allowed_values: Vec<String>,
    /// `debug`, `info` or `silent` (default).
    pub summary: Summary,
    /// Mask `blocked_values` (and, in map bodies, values under `blocked_key_patterns`) in log bodies too.
    pub mask_log_bodies: bool,
}

impl Default for RedactionConfig {
    fn default() -> Self {
        RedactionConfig {
            allow_all_keys: false,
            allowed_keys: Vec::new(),
            ignored_keys: Vec::new(),
            blocked_values: Vec::new(),
            blocked_key_patterns: Vec::new(),
            allowed_values: Vec::new(),
            summary: Summary::Silent,
            mask_log_bodies: true,
        }
    }
}

/// The `redaction` processor.
#[derive(Debug, Clone)]
pub struct RedactionProcessor {
    allow_all_keys: bool,
    allowed_keys: Vec<String>,
    ignored_keys: Vec<String>,
    blocked_values: Vec<Pattern>,
    blocked_key_patterns: Vec<Pattern>,
    allowed_values: Vec<Pattern>,
    summary: Summary,
    mask_log_bodies: bool,
}

fn compile_all(config: &ComponentConfig, key: &str, patterns: &[String]) -> Result<Vec<Pattern>, ConfigError> {
    patterns.iter().enumerate().map(|(i, p)| compile_pattern(config, &format!("{key}[{i}]"), p)).collect()
}

impl RedactionProcessor {
    /// Masks the blocked parts of `text`; `None` when nothing is blocked or the value is allowed.
    fn mask_text(&self, text: &str) -> Option<String> {
        if self.allowed_values.iter().any(|p| p.is_match(text)) {
            return None;
        }
        let mut out: Option<String> = None;
        for pattern in &self.blocked_values {
            let current = out.as_deref().unwrap_or(text);
            if let Some(replaced) = pattern.replace_all(current, MASK) {
                out = Some(replaced);
            }
        }
        out
    }

    /// Applies the key and value rules to one attribute list, then writes the summary into it.
    fn process_attributes(&self, attributes: &mut Vec<KeyValue>) {
        let mut redacted: Vec<String> = Vec::new();
        let mut masked: Vec<String> = Vec::new();
        let mut ignored = 0i64;
        attributes.retain_mut(|kv| {
            if self.ignored_keys.contains(&kv.key) {
                ignored += 1;
                return true;
            }
            if !self.allow_all_keys && !self.allowed_keys.contains(&kv.key) {
                redacted.push(kv.key.clone());
                return false;
            }
            let Some(value) = kv.value.as_mut() else { return true };
            if self.blocked_key_patterns.iter().any(|p| p.is_match(&kv.key)) {
                value.value = Some(Value::StringValue(MASK.to_owned()));
                masked.push(kv.key.clone());
                return true;
            }
            if let Some(replaced) = any_value_text(value).and_then(|text| self.mask_text(&text)) {
                value.value = Some(Value::StringValue(replaced));
                masked.push(kv.key.clone());
            }
            true
        });
        self.summarize(attributes, redacted, "redaction.redacted.keys", "redaction.redacted.count");
        self.summarize(attributes, masked, "redaction.masked.keys", "redaction.masked.count");
        if ignored > 0 && self.summary != Summary::Silent {
            add_count(attributes, "redaction.ignored.count", ignored);
        }
    }

    /// Records what happened, adding to counts and key lists already there (an item processed twice).
    fn summarize(&self, attributes: &mut Vec<KeyValue>, mut keys: Vec<String>, keys_attr: &str, count_attr: &str) {
        if keys.is_empty() || self.summary == Summary::Silent {
            return;
        }
        let count = keys.len() as i64;
        if self.summary == Summary::Debug {
            if let Some(existing) = super::matching::string_attribute(attributes, keys_attr) {
                keys.extend(existing.split(',').filter(|k| !k.is_empty()).map(str::to_owned));
            }
            keys.sort();
            set(attributes, keys_attr, Value::StringValue(keys.join(",")));
        }
        add_count(attributes, count_attr, count);
    }

    /// Masks values inside a log body, recursing into maps and lists.
    fn mask_body(&self, body: &mut AnyValue) {
        match body.value.as_mut() {
            Some(Value::StringValue(text)) => {
                if let Some(replaced) = self.mask_text(text) {
                    *text = replaced;
                }
            }
            Some(Value::KvlistValue(list)) => {
                for kv in &mut list.values {
                    let Some(value) = kv.value.as_mut() else { continue };
                    let scalar = !matches!(value.value, Some(Value::KvlistValue(_)) | Some(Value::ArrayValue(_)));
                    if scalar && self.blocked_key_patterns.iter().any(|p| p.is_match(&kv.key)) {
                        value.value = Some(Value::StringValue(MASK.to_owned()));
                    } else {
                        self.mask_body(value);
                    }
                }
            }
            Some(Value::ArrayValue(array)) => array.values.iter_mut().for_each(|v| self.mask_body(v)),
            _ => {}
        }
    }

    fn process_resource(&self, resource: &mut Option<Resource>) {
        if let Some(resource) = resource {
            self.process_attributes(&mut resource.attributes);
        }
    }
}

fn set(attributes: &mut Vec<KeyValue>, key: &str, value: Value) {
    let value = Some(AnyValue { value: Some(value) });
    match attributes.iter_mut().find(|kv| kv.key == key) {
        Some(kv) => kv.value = value,
        None => attributes.push(KeyValue { key: key.to_owned(), value, ..Default::default() }),
    }
}

fn add_count(attributes: &mut Vec<KeyValue>, key: &str, count: i64) {
    let existing = attributes.iter().find(|kv| kv.key == key).and_then(|kv| match kv.value.as_ref()?.value {
        Some(Value::IntValue(n)) => Some(n),
        _ => None,
    });
    set(attributes, key, Value::IntValue(existing.unwrap_or(0) + count));
}

impl ProcessorFactory for RedactionProcessor {
    const TYPE: &'static str = "redaction";
    type Config = RedactionConfig;

    fn create(settings: RedactionConfig, config: &ComponentConfig) -> Result<Self, ConfigError> {
        Ok(RedactionProcessor {
            allow_all_keys: settings.allow_all_keys,
            allowed_keys: settings.allowed_keys,
            ignored_keys: settings.ignored_keys,
            blocked_values: compile_all(config, "blocked_values", &settings.blocked_values)?,
            blocked_key_patterns: compile_all(config, "blocked_key_patterns", &settings.blocked_key_patterns)?,
            allowed_values: compile_all(config, "allowed_values", &settings.allowed_values)?,
            summary: settings.summary,
            mask_log_bodies: settings.mask_log_bodies,
        })
    }
}

impl Processor for RedactionProcessor {
    fn process_traces(&mut self, batch: &mut Vec<ResourceSpans>) {
        for rs in batch {
            self.process_resource(&mut rs.resource);
            for span in rs.scope_spans.iter_mut().flat_map(|s| s.spans.iter_mut()) {
                self.process_attributes(&mut span.attributes);
                for event in &mut span.events {
                    self.process_attributes(&mut event.attributes);
                }
            }
        }
    }

    fn process_metrics(&mut self, batch: &mut Vec<ResourceMetrics>) {
        for rm in batch {
            self.process_resource(&mut rm.resource);
            for metric in rm.scope_metrics.iter_mut().flat_map(|s| s.metrics.iter_mut()) {
                if let Some(data) = metric.data.as_mut() {
                    for_each_data_point_attributes(data, |attributes| self.process_attributes(attributes));
                }
            }
        }
    }

    fn process_logs(&mut self, batch: &mut Vec<ResourceLogs>) {
        for rl in batch {
            self.process_resource(&mut rl.resource);
            for record in rl.scope_logs.iter_mut().flat_map(|s| s.log_records.iter_mut()) {
                self.process_attributes(&mut record.attributes);
                if self.mask_log_bodies {
                    if let Some(body) = record.body.as_mut() {
                        self.mask_body(body);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processors::matching::test_support::*;
    use lambdatel_pipeline::{
        common::{ArrayValue, KeyValueList},
        logs::{LogRecord, ScopeLogs},
        metrics::{metric::Data, Gauge, Metric, NumberDataPoint, ScopeMetrics},
        trace::{span::Event, ScopeSpans, Span},
    };

    fn processor(yaml: &str) -> Result<RedactionProcessor, String> {
        RedactionProcessor::from_config(&component("processors.redaction", yaml)).map_err(|e| e.to_string())
    }

    fn run(yaml: &str, attributes: Vec<KeyValue>) -> Vec<KeyValue> {
        let mut attributes = attributes;
        processor(yaml).unwrap().process_attributes(&mut attributes);
        attributes
    }

    fn sample() -> Vec<KeyValue> {
        vec![
            kv("http.method", s("GET")),
            kv("user.email", s("contact alice@example.com now")),
            kv("db.password", s("hunter2")),
            kv("card", s("4111 1111 1111 1111")),
            kv("retries", i(3)),
        ]
    }

    const EMAIL: &str = "[a-z]+@[a-z]+\\.[a-z]+";

    #[test]
    fn allowed_keys_keep_only_those() {
        assert_eq!(
            run("allowed_keys: [http.method, retries]", sample()),
            vec![kv("http.method", s("GET")), kv("retries", i(3))]
        );
        assert_eq!(run("", sample()), vec![], "no allowed key: everything goes, as in the Collector");
    }

    #[test]
    fn blocked_values_mask_matching_parts() {
        let yaml =
            format!("allow_all_keys: true\nblocked_values: ['{EMAIL}', '\\d{{4}} \\d{{4}} \\d{{4}} \\d{{4}}', '^3$']");
        assert_eq!(
            run(&yaml, sample()),
            vec![
                kv("http.method", s("GET")),
                kv("user.email", s("contact **** now")),
                kv("db.password", s("hunter2")),
                kv("card", s("****")),
                kv("retries", s("****")),
            ]
        );
    }

    #[test]
    fn key_patterns_ignored_keys_and_allowed_values() {
        let yaml = format!(
            "allow_all_keys: true\nblocked_key_patterns: ['(?i)PASSWORD']\nblocked_values: ['{EMAIL}', GET]\n\
             ignored_keys: [http.method]\nallowed_values: ['@example\\.com']"
        );
        assert_eq!(
            run(&yaml, sample()),
            vec![
                kv("http.method", s("GET")),
                kv("user.email", s("contact alice@example.com now")),
                kv("db.password", s("****")),
                kv("card", s("4111 1111 1111 1111")),
                kv("retries", i(3)),
            ]
        );
    }

    #[test]
    fn summaries() {
        let yaml = format!(
            "allowed_keys: [user.email, db.password]\nignored_keys: [http.method]\nblocked_values: ['{EMAIL}']\n\
             blocked_key_patterns: [password]\nsummary: debug"
        );
        let out = run(&yaml, sample());
        assert_eq!(
            out,
            vec![
                kv("http.method", s("GET")),
                kv("user.email", s("contact **** now")),
                kv("db.password", s("****")),
                kv("redaction.redacted.keys", s("card,retries")),
                kv("redaction.redacted.count", i(2)),
                kv("redaction.masked.keys", s("db.password,user.email")),
                kv("redaction.masked.count", i(2)),
                kv("redaction.ignored.count", i(1)),
            ]
        );
        let info = run(&yaml.replace("summary: debug", "summary: info"), sample());
        assert_eq!(
            info[3..],
            [
                kv("redaction.redacted.count", i(2)),
                kv("redaction.masked.count", i(2)),
                kv("redaction.ignored.count", i(1))
            ]
        );
        let silent = run(&yaml.replace("summary: debug", ""), sample());
        assert_eq!(silent.len(), 3);
    }

    #[test]
    fn every_signal_and_log_bodies() {
        let yaml = format!("allow_all_keys: true\nblocked_values: ['{EMAIL}']\nblocked_key_patterns: [token]");
        let mut p = processor(&yaml).unwrap();
        let resource = || Some(Resource { attributes: attrs(&[("owner", "ops@corp.io")]), ..Default::default() });
        let masked = || attrs(&[("owner", "****")]);

        let mut spans = vec![ResourceSpans {
            resource: resource(),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    attributes: attrs(&[("to", "bob@corp.io")]),
                    events: vec![Event { attributes: attrs(&[("from", "eve@corp.io")]), ..Default::default() }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }];
        p.process_traces(&mut spans);
        assert_eq!(spans[0].resource.as_ref().unwrap().attributes, masked());
        let span = &spans[0].scope_spans[0].spans[0];
        assert_eq!(
            (span.attributes.clone(), span.events[0].attributes.clone()),
            (attrs(&[("to", "****")]), attrs(&[("from", "****")]))
        );

        let mut metrics = vec![ResourceMetrics {
            resource: resource(),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    data: Some(Data::Gauge(Gauge {
                        data_points: vec![NumberDataPoint {
                            attributes: attrs(&[("who", "x@y.z")]),
                            ..Default::default()
                        }],
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }];
        p.process_metrics(&mut metrics);
        match metrics[0].scope_metrics[0].metrics[0].data.as_ref().unwrap() {
            Data::Gauge(g) => assert_eq!(g.data_points[0].attributes, attrs(&[("who", "****")])),
            _ => unreachable!(),
        }

        let map_body = AnyValue {
            value: Some(Value::KvlistValue(KeyValueList {
                values: vec![
                    kv("msg", s("mail sent to bob@corp.io")),
                    kv("api_token", s("abc123")),
                    kv("retries", i(2)),
                    kv(
                        "to",
                        Some(AnyValue {
                            value: Some(Value::ArrayValue(ArrayValue {
                                values: vec![s("a@b.cd").unwrap(), s("ok").unwrap()],
                            })),
                        }),
                    ),
                ],
            })),
        };
        let mut logs = vec![ResourceLogs {
            resource: resource(),
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    LogRecord {
                        body: s("login by alice@corp.io"),
                        attributes: attrs(&[("x", "c@d.ef")]),
                        ..Default::default()
                    },
                    LogRecord { body: Some(map_body), ..Default::default() },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }];
        let mut unmasked_bodies = logs.clone();
        p.process_logs(&mut logs);
        let records = &logs[0].scope_logs[0].log_records;
        assert_eq!(records[0].body, s("login by ****"));
        assert_eq!(records[0].attributes, attrs(&[("x", "****")]));
        let expected = AnyValue {
            value: Some(Value::KvlistValue(KeyValueList {
                values: vec![
                    kv("msg", s("mail sent to ****")),
                    kv("api_token", s("****")),
                    kv("retries", i(2)),
                    kv(
                        "to",
                        Some(AnyValue {
                            value: Some(Value::ArrayValue(ArrayValue {
                                values: vec![s("****").unwrap(), s("ok").unwrap()],
                            })),
                        }),
                    ),
                ],
            })),
        };
        assert_eq!(records[1].body, Some(expected));

        // mask_log_bodies: false leaves bodies alone but still processes attributes.
        let mut p = processor(&format!("{yaml}\nmask_log_bodies: false")).unwrap();
        p.process_logs(&mut unmasked_bodies);
        let records = &unmasked_bodies[0].scope_logs[0].log_records;
        assert_eq!(records[0].body, s("login by alice@corp.io"));
        assert_eq!(records[0].attributes, attrs(&[("x", "****")]));
    }

    #[test]
    fn config_errors() {
        assert_eq!(
            processor("blocked_values: ['ok', '(?<x']").err().unwrap(),
            "<config>:1:24: processors.redaction.blocked_values[1]: invalid regular expression \"(?<x\": regex parse error:\n    (?<x\n        ^\nerror: unclosed capture group name"
        );
        assert_eq!(
            processor("summary: loud").err().unwrap(),
            "<config>:1:1: processors.redaction.summary: unknown variant `loud`, expected one of `debug`, `info`, `silent`"
        );
        assert_eq!(
            processor("hash_function: md5").err().unwrap(),
            "<config>:1:1: processors.redaction.hash_function: unknown field `hash_function`, expected one of `allow_all_keys`, `allowed_keys`, `ignored_keys`, `blocked_values`, `blocked_key_patterns`, `allowed_values`, `summary`, `mask_log_bodies`"
        );
    }
}
