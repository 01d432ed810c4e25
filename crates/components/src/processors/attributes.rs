//! The `attributes` processor: the Collector's attribute actions (`insert`, `update`, `upsert`,
//! `delete`, `hash`, `extract`, `convert`) on span, log record and metric data point attributes, applied
//! to the items selected by optional `include`/`exclude` match properties.
//!
//! The action engine ([`Actions`]) is shared with the `resource` processor, which applies the same
//! actions to resource attributes.

use lambdatel_config::{ComponentConfig, ConfigError};
use lambdatel_pipeline::{
    common::{any_value::Value, AnyValue, KeyValue},
    logs::ResourceLogs,
    metrics::{metric::Data, ResourceMetrics},
    trace::ResourceSpans,
    Processor,
};
use regex::Regex;
use serde::Deserialize;

use crate::{processors::ProcessorInstance, ProcessorFactory};
use sha2::{Digest, Sha256};

use super::matching::{
    any_value_text, compile_regex, compile_span_kinds, json_to_any_value, parse_severity, AttributeConfig,
    AttributeMatcher, Criteria, Item, LibraryConfig, LibraryMatcher, MatchType, Selector, SeverityNumberConfig,
    StringMatcher,
};

/// What an action does to its attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    /// Adds the attribute when it is absent.
    Insert,
    /// Changes the attribute when it is present.
    Update,
    /// Adds or changes the attribute.
    Upsert,
    /// Removes the attribute (`key`) or every attribute whose key matches `pattern`.
    Delete,
    /// Replaces the value by its SHA-256 hex digest (`key`, or every key matching `pattern`).
    Hash,
    /// Applies `pattern` to the string value of `key` and upserts one attribute per named group.
    Extract,
    /// Changes the value's type to `converted_type`; values that do not convert are left as they are.
    Convert,
}

/// The target type of a `convert` action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConvertedType {
    /// A 64-bit integer (strings are parsed, doubles truncated, booleans become 1 or 0).
    Int,
    /// A 64-bit float (strings are parsed, integers widened, booleans become 1 or 0).
    Double,
    /// A string (numbers in their shortest form, booleans as `true`/`false`).
    String,
}

/// One entry of `actions` (or of the `resource` processor's `attributes`), with the Collector's keys.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ActionConfig {
    /// The attribute acted on.
    pub key: String,
    /// What to do; required.
    pub action: Option<ActionKind>,
    /// The value for `insert`, `update` and `upsert` (string, number, boolean, list or map).
    pub value: Option<serde_json::Value>,
    /// For `insert`, `update` and `upsert`: copy the value of this attribute instead of `value`.
    pub from_attribute: Option<String>,
    /// For `extract`: the regex with named groups; for `delete` and `hash`: a regex over attribute keys,
    /// used instead of or as well as `key`.
    pub pattern: Option<String>,
    /// For `convert`: `int`, `double` or `string`.
    pub converted_type: Option<ConvertedType>,
}

#[derive(Debug, Clone)]
enum Source {
    Value(AnyValue),
    Attribute(String),
}

#[derive(Debug, Clone)]
enum Op {
    Insert(Source),
    Update(Source),
    Upsert(Source),
    Delete,
    Hash,
    Extract(Regex),
    Convert(ConvertedType),
}

#[derive(Debug, Clone)]
struct Action {
    /// Empty when only `key_pattern` selects keys.
    key: String,
    key_pattern: Option<Regex>,
    op: Op,
}

/// A compiled list of actions, applied in order to an attribute list.
#[derive(Debug, Clone, Default)]
pub struct Actions(Vec<Action>);

impl Actions {
    /// Compiles the actions written at `path` (e.g. `actions`), reporting the first problem there.
    pub fn compile(config: &ComponentConfig, path: &str, entries: &[ActionConfig]) -> Result<Actions, ConfigError> {
        let mut actions = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            let at = format!("{path}[{i}]");
            let err = |sub: &str, message: String| config.error_at(&format!("{at}{sub}"), message);
            let Some(kind) = entry.action else {
                return Err(err(
                    "",
                    "action is missing; use insert, update, upsert, delete, hash, extract or convert".into(),
                ));
            };
            let name = format!("{kind:?}").to_ascii_lowercase();
            let source = || -> Result<Source, ConfigError> {
                if entry.key.is_empty() {
                    return Err(err(".key", format!("{name} needs a key")));
                }
                match (&entry.value, &entry.from_attribute) {
                    (Some(_), Some(_)) => {
                        Err(err("", format!("{name} takes either value or from_attribute, not both")))
                    }
                    (Some(value), None) => json_to_any_value(value)
                        .map(Source::Value)
                        .ok_or_else(|| err(".value", format!("{name} needs a non-null value"))),
                    (None, Some(from)) if !from.is_empty() => Ok(Source::Attribute(from.clone())),
                    _ => Err(err("", format!("{name} needs a value or from_attribute"))),
                }
            };
            // Settings the action would silently ignore are mistakes, as in the Collector.
            let unused: &[(&str, bool)] = match kind {
                ActionKind::Insert | ActionKind::Update | ActionKind::Upsert => {
                    &[("pattern", entry.pattern.is_some()), ("converted_type", entry.converted_type.is_some())]
                }
                ActionKind::Delete | ActionKind::Hash | ActionKind::Extract => &[
                    ("value", entry.value.is_some()),
                    ("from_attribute", entry.from_attribute.is_some()),
                    ("converted_type", entry.converted_type.is_some()),
                ],
                ActionKind::Convert => &[
                    ("value", entry.value.is_some()),
                    ("from_attribute", entry.from_attribute.is_some()),
                    ("pattern", entry.pattern.is_some()),
                ],
            };
            if let Some((field, _)) = unused.iter().find(|(_, written)| *written) {
                return Err(err(&format!(".{field}"), format!("{name} does not use {field}")));
            }
            let mut key_pattern = None;
            let op = match kind {
                ActionKind::Insert => Op::Insert(source()?),
                ActionKind::Update => Op::Update(source()?),
                ActionKind::Upsert => Op::Upsert(source()?),
                ActionKind::Delete | ActionKind::Hash => {
                    match &entry.pattern {
                        Some(p) => key_pattern = Some(compile_regex(config, &format!("{at}.pattern"), p)?),
                        None if entry.key.is_empty() => {
                            return Err(err(".key", format!("{name} needs a key or a pattern")))
                        }
                        None => {}
                    }
                    if kind == ActionKind::Delete {
                        Op::Delete
                    } else {
                        Op::Hash
                    }
                }
                ActionKind::Extract => {
                    if entry.key.is_empty() {
                        return Err(err(".key", "extract needs a key".into()));
                    }
                    let Some(pattern) = &entry.pattern else {
                        return Err(err(".pattern", "extract needs a pattern with named groups".into()));
                    };
                    let regex = compile_regex(config, &format!("{at}.pattern"), pattern)?;
                    if regex.capture_names().flatten().next().is_none() {
                        return Err(err(
                            ".pattern",
                            format!("extract pattern {pattern:?} has no named group such as (?P<name>...)"),
                        ));
                    }
                    Op::Extract(regex)
                }
                ActionKind::Convert => {
                    if entry.key.is_empty() {
                        return Err(err(".key", "convert needs a key".into()));
                    }
                    match entry.converted_type {
                        Some(t) => Op::Convert(t),
                        None => {
                            return Err(err(
                                ".converted_type",
                                "convert needs converted_type: int, double or string".into(),
                            ))
                        }
                    }
                }
            };
            actions.push(Action { key: entry.key.clone(), key_pattern, op });
        }
        Ok(Actions(actions))
    }

    /// True when there is no action.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Applies every action, in order, to `attributes`.
    pub fn apply(&self, attributes: &mut Vec<KeyValue>) {
        for action in &self.0 {
            action.apply(attributes);
        }
    }
}

impl Action {
    fn selects(&self, key: &str) -> bool {
        (!self.key.is_empty() && key == self.key) || self.key_pattern.as_ref().is_some_and(|p| p.is_match(key))
    }

    fn apply(&self, attributes: &mut Vec<KeyValue>) {
        let position = attributes.iter().position(|kv| kv.key == self.key);
        let resolve = |source: &Source, attributes: &[KeyValue]| match source {
            Source::Value(value) => Some(value.clone()),
            Source::Attribute(from) => attributes.iter().find(|kv| &kv.key == from).and_then(|kv| kv.value.clone()),
        };
        match &self.op {
            Op::Insert(source) => {
                if position.is_none() {
                    if let Some(value) = resolve(source, attributes) {
                        attributes.push(KeyValue { key: self.key.clone(), value: Some(value), ..Default::default() });
                    }
                }
            }
            Op::Update(source) => {
                if let Some(i) = position {
                    if let Some(value) = resolve(source, attributes) {
                        attributes[i].value = Some(value);
                    }
                }
            }
            Op::Upsert(source) => {
                if let Some(value) = resolve(source, attributes) {
                    set(attributes, &self.key, value);
                }
            }
            Op::Delete => attributes.retain(|kv| !self.selects(&kv.key)),
            Op::Hash => {
                for kv in attributes.iter_mut().filter(|kv| self.selects(&kv.key)) {
                    if let Some(value) = kv.value.as_mut() {
                        hash_value(value);
                    }
                }
            }
            Op::Extract(regex) => {
                let Some(Value::StringValue(text)) = position.and_then(|i| attributes[i].value.as_ref()?.value.clone())
                else {
                    return;
                };
                let Some(captures) = regex.captures(&text) else {
                    return;
                };
                for name in regex.capture_names().flatten() {
                    if let Some(found) = captures.name(name) {
                        set(attributes, name, string_value(found.as_str()));
                    }
                }
            }
            Op::Convert(target) => {
                if let Some(value) = position.and_then(|i| attributes[i].value.as_mut()) {
                    convert(value, *target);
                }
            }
        }
    }
}

fn string_value(text: &str) -> AnyValue {
    AnyValue { value: Some(Value::StringValue(text.to_owned())) }
}

/// Sets `key` to `value`, in place if present, else appended.
fn set(attributes: &mut Vec<KeyValue>, key: &str, value: AnyValue) {
    match attributes.iter_mut().find(|kv| kv.key == key) {
        Some(kv) => kv.value = Some(value),
        None => attributes.push(KeyValue { key: key.to_owned(), value: Some(value), ..Default::default() }),
    }
}

/// Replaces a value by the SHA-256 hex digest of its bytes, as the Collector does: strings as UTF-8,
/// integers and doubles as 8 little-endian bytes, booleans as one byte 1 or 0. Other kinds become the
/// empty string, so nothing readable is left behind.
pub(crate) fn hash_value(value: &mut AnyValue) {
    let bytes: Vec<u8> = match value.value.as_ref() {
        Some(Value::StringValue(s)) => s.as_bytes().to_vec(),
        Some(Value::BoolValue(b)) => vec![u8::from(*b)],
        Some(Value::IntValue(i)) => i.to_le_bytes().to_vec(),
        Some(Value::DoubleValue(d)) => d.to_bits().to_le_bytes().to_vec(),
        _ => Vec::new(),
    };
    let hashed = if bytes.is_empty() {
        String::new()
    } else {
        Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect()
    };
    value.value = Some(Value::StringValue(hashed));
}

fn convert(value: &mut AnyValue, target: ConvertedType) {
    let Some(current) = value.value.as_ref() else { return };
    let converted = match (target, current) {
        (ConvertedType::Int, Value::StringValue(s)) => s.parse::<i64>().ok().map(Value::IntValue),
        (ConvertedType::Int, Value::DoubleValue(d)) if d.is_finite() => Some(Value::IntValue(*d as i64)),
        (ConvertedType::Int, Value::BoolValue(b)) => Some(Value::IntValue(i64::from(*b))),
        (ConvertedType::Double, Value::StringValue(s)) => s.parse::<f64>().ok().map(Value::DoubleValue),
        (ConvertedType::Double, Value::IntValue(i)) => Some(Value::DoubleValue(*i as f64)),
        (ConvertedType::Double, Value::BoolValue(b)) => Some(Value::DoubleValue(if *b { 1.0 } else { 0.0 })),
        (ConvertedType::String, Value::StringValue(_)) => None,
        (ConvertedType::String, _) => any_value_text(value).map(|t| Value::StringValue(t.into_owned())),
        _ => None,
    };
    if let Some(converted) = converted {
        value.value = Some(converted);
    }
}

/// `include`/`exclude` match properties of the `attributes` processor, with the Collector's keys. Each
/// signal uses the properties that exist for it; an `include` naming a property a signal lacks (e.g.
/// `span_names` in a logs pipeline) selects none of that signal's items.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MatchProperties {
    /// `strict` (default) or `regexp` (unanchored) comparison of the string properties below.
    pub match_type: MatchType,
    /// `service.name` values of the resource.
    pub services: Vec<String>,
    /// Span names (spans only).
    pub span_names: Vec<String>,
    /// Conditions on the span, log record or data point attributes; all must hold.
    pub attributes: Vec<AttributeConfig>,
    /// Conditions on the resource attributes; all must hold.
    pub resource_attributes: Vec<AttributeConfig>,
    /// Log bodies, as text (logs only).
    pub log_bodies: Vec<String>,
    /// Log severity texts (logs only).
    pub log_severity_texts: Vec<String>,
    /// Minimum log severity (logs only).
    pub log_severity_number: Option<SeverityNumberConfig>,
    /// Metric names (metrics only).
    pub metric_names: Vec<String>,
    /// Span kinds, e.g. `SPAN_KIND_SERVER` (spans only).
    pub span_kinds: Vec<String>,
    /// Instrumentation scopes (`{name, version}`), any of which matches.
    pub libraries: Vec<LibraryConfig>,
}

/// Which signal a selector is compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignalKind {
    Spans,
    Metrics,
    Logs,
}

impl MatchProperties {
    /// Compiles the properties (written at `path`) for one signal; the flag is true when a property
    /// foreign to the signal is written.
    fn compile(
        &self,
        config: &ComponentConfig,
        path: &str,
        signal: SignalKind,
    ) -> Result<(Criteria, bool), ConfigError> {
        let t = self.match_type;
        if t == MatchType::Expr {
            return Err(config
                .error_at(&format!("{path}.match_type"), "match_type expr is not supported; use strict or regexp"));
        }
        let at = |key: &str| format!("{path}.{key}");
        let strings = |key: &str, items: &[String]| StringMatcher::compile(config, &at(key), t, items);
        let mut criteria = Criteria {
            services: strings("services", &self.services)?,
            attributes: AttributeMatcher::compile_all(config, &at("attributes"), t, &self.attributes)?,
            resource_attributes: AttributeMatcher::compile_all(
                config,
                &at("resource_attributes"),
                t,
                &self.resource_attributes,
            )?,
            libraries: LibraryMatcher::compile_all(config, &at("libraries"), t, &self.libraries)?,
            ..Criteria::default()
        };
        let span_kinds = compile_span_kinds(config, &at("span_kinds"), &self.span_kinds)?;
        let span_names = strings("span_names", &self.span_names)?;
        let metric_names = strings("metric_names", &self.metric_names)?;
        let bodies = strings("log_bodies", &self.log_bodies)?;
        let severity_texts = strings("log_severity_texts", &self.log_severity_texts)?;
        let severity_number = match &self.log_severity_number {
            Some(s) => Some(severity_min(config, &at("log_severity_number"), s)?),
            None => None,
        };
        let foreign = match signal {
            SignalKind::Spans => {
                criteria.names = span_names;
                criteria.span_kinds = span_kinds;
                metric_names.is_some() || bodies.is_some() || severity_texts.is_some() || severity_number.is_some()
            }
            SignalKind::Metrics => {
                criteria.names = metric_names;
                span_names.is_some()
                    || span_kinds.is_some()
                    || bodies.is_some()
                    || severity_texts.is_some()
                    || severity_number.is_some()
            }
            SignalKind::Logs => {
                criteria.bodies = bodies;
                criteria.severity_texts = severity_texts;
                criteria.severity_number = severity_number;
                span_names.is_some() || span_kinds.is_some() || metric_names.is_some()
            }
        };
        Ok((criteria, foreign))
    }
}

/// Reads `severity_number: {min, match_undefined}` written at `path`.
pub(crate) fn severity_min(
    config: &ComponentConfig,
    path: &str,
    s: &SeverityNumberConfig,
) -> Result<(i32, bool), ConfigError> {
    let Some(min) = &s.min else {
        return Err(config.error_at(&format!("{path}.min"), "severity_number needs min, e.g. WARN"));
    };
    let min = parse_severity(min).ok_or_else(|| {
        config.error_at(
            &format!("{path}.min"),
            format!("unknown severity {min}; use TRACE, DEBUG, INFO, WARN, ERROR or FATAL (optionally 2 to 4, e.g. ERROR2) or 1 to 24"),
        )
    })?;
    Ok((min, s.match_undefined))
}

/// Builds a selector for one signal from `include` and `exclude` (written under `base`, e.g. `""` or
/// `spans`).
fn selector(
    config: &ComponentConfig,
    include: &Option<MatchProperties>,
    exclude: &Option<MatchProperties>,
    signal: SignalKind,
) -> Result<Selector, ConfigError> {
    let mut selector = Selector::default();
    let mut never = false;
    if let Some(include) = include {
        let (criteria, foreign) = include.compile(config, "include", signal)?;
        if criteria.is_empty() && !foreign {
            return Err(config.error_at("include", "include needs at least one match property"));
        }
        never = foreign;
        selector.include = Some(criteria);
    }
    if let Some(exclude) = exclude {
        let (criteria, foreign) = exclude.compile(config, "exclude", signal)?;
        if criteria.is_empty() && !foreign {
            return Err(config.error_at("exclude", "exclude needs at least one match property"));
        }
        // An exclude naming a property this signal lacks excludes none of its items.
        selector.exclude = (!foreign).then_some(criteria);
    }
    if never {
        selector.include = Some(Criteria { names: Some(StringMatcher::Strict(Vec::new())), ..Criteria::default() });
    }
    Ok(selector)
}

/// Configuration of the `attributes` processor, with the Collector's keys.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AttributesConfig {
    /// The actions, applied in order to each selected item's attributes.
    pub actions: Vec<ActionConfig>,
    /// Only items matching these properties are changed.
    pub include: Option<MatchProperties>,
    /// Items matching these properties are left alone.
    pub exclude: Option<MatchProperties>,
}

/// The `attributes` processor.
#[derive(Debug, Clone)]
pub struct AttributesProcessor {
    actions: Actions,
    spans: Selector,
    metrics: Selector,
    logs: Selector,
}

impl AttributesProcessor {}

impl ProcessorFactory for AttributesProcessor {
    const TYPE: &'static str = "attributes";
    const EXAMPLE: &'static str = "actions: [{key: deployment, value: prod, action: insert}]";
    type Config = AttributesConfig;

    fn create(settings: AttributesConfig, config: &ComponentConfig) -> Result<Self, ConfigError> {
        if settings.actions.is_empty() {
            return Err(config.error_at("actions", "the attributes processor needs at least one action"));
        }
        let actions = Actions::compile(config, "actions", &settings.actions)?;
        let build = |signal| selector(config, &settings.include, &settings.exclude, signal);
        Ok(AttributesProcessor {
            actions,
            spans: build(SignalKind::Spans)?,
            metrics: build(SignalKind::Metrics)?,
            logs: build(SignalKind::Logs)?,
        })
    }

    fn into_instance(self) -> ProcessorInstance {
        ProcessorInstance::Attributes(Box::new(self))
    }
}

impl Processor for AttributesProcessor {
    fn process_traces(&mut self, batch: &mut Vec<ResourceSpans>) {
        for rs in batch {
            let resource = rs.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
            for scope in rs.scope_spans.iter_mut() {
                let library = scope.scope.as_ref();
                for span in scope.spans.iter_mut() {
                    let item = Item {
                        resource,
                        name: Some(&span.name),
                        attributes: &span.attributes,
                        kind: Some(span.kind),
                        scope: library,
                        ..Item::default()
                    };
                    if self.spans.selects(&item) {
                        self.actions.apply(&mut span.attributes);
                    }
                }
            }
        }
    }

    fn process_metrics(&mut self, batch: &mut Vec<ResourceMetrics>) {
        for rm in batch {
            let resource = rm.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
            for scope in rm.scope_metrics.iter_mut() {
                let library = scope.scope.as_ref();
                for metric in scope.metrics.iter_mut() {
                    let name = metric.name.as_str();
                    let Some(data) = metric.data.as_mut() else { continue };
                    for_each_point_attributes(data, |attributes| {
                        let item = Item { resource, name: Some(name), attributes, scope: library, ..Item::default() };
                        if self.metrics.selects(&item) {
                            self.actions.apply(attributes);
                        }
                    });
                }
            }
        }
    }

    fn process_logs(&mut self, batch: &mut Vec<ResourceLogs>) {
        for rl in batch {
            let resource = rl.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
            for scope in rl.scope_logs.iter_mut() {
                let library = scope.scope.as_ref();
                for record in scope.log_records.iter_mut() {
                    let item = Item {
                        resource,
                        attributes: &record.attributes,
                        body: record.body.as_ref(),
                        severity_text: Some(&record.severity_text),
                        severity_number: Some(record.severity_number),
                        scope: library,
                        ..Item::default()
                    };
                    if self.logs.selects(&item) {
                        self.actions.apply(&mut record.attributes);
                    }
                }
            }
        }
    }
}

/// Calls `f` with the attributes of every data point of a metric.
pub(crate) fn for_each_point_attributes(data: &mut Data, mut f: impl FnMut(&mut Vec<KeyValue>)) {
    match data {
        Data::Gauge(g) => g.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
        Data::Sum(s) => s.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
        Data::Histogram(h) => h.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
        Data::ExponentialHistogram(h) => h.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
        Data::Summary(s) => s.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processors::matching::test_support::*;
    use lambdatel_pipeline::{
        logs::{LogRecord, ScopeLogs},
        metrics::{Gauge, Metric, NumberDataPoint, ScopeMetrics},
        resource::Resource,
        trace::{ScopeSpans, Span},
    };

    fn processor(yaml: &str) -> Result<AttributesProcessor, String> {
        AttributesProcessor::from_config(&component("processors.attributes", yaml)).map_err(|e| e.to_string())
    }

    fn run(yaml: &str, attributes: Vec<KeyValue>) -> Vec<KeyValue> {
        let mut p = processor(yaml).unwrap();
        let mut batch = vec![spans("svc", "op", attributes)];
        p.process_traces(&mut batch);
        batch.remove(0).scope_spans.remove(0).spans.remove(0).attributes
    }

    fn spans(service: &str, name: &str, attributes: Vec<KeyValue>) -> ResourceSpans {
        ResourceSpans {
            resource: Some(Resource { attributes: attrs(&[("service.name", service)]), ..Default::default() }),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span { name: name.into(), attributes, ..Default::default() }],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn d(v: f64) -> Option<AnyValue> {
        Some(AnyValue { value: Some(Value::DoubleValue(v)) })
    }

    fn b(v: bool) -> Option<AnyValue> {
        Some(AnyValue { value: Some(Value::BoolValue(v)) })
    }

    #[test]
    fn insert_update_upsert() {
        let start = || attrs(&[("a", "1"), ("b", "2")]);
        assert_eq!(
            run("actions: [{key: a, action: insert, value: x}, {key: c, action: insert, value: 3}]", start()),
            vec![kv("a", s("1")), kv("b", s("2")), kv("c", i(3))]
        );
        assert_eq!(
            run("actions: [{key: a, action: update, value: true}, {key: c, action: update, value: x}]", start()),
            vec![kv("a", b(true)), kv("b", s("2"))]
        );
        assert_eq!(
            run("actions: [{key: a, action: upsert, value: 1.5}, {key: c, action: upsert, value: z}]", start()),
            vec![kv("a", d(1.5)), kv("b", s("2")), kv("c", s("z"))]
        );
        assert_eq!(
            run(
                "actions: [{key: c, action: insert, from_attribute: b}, {key: a, action: update, from_attribute: b},\
                 {key: e, action: upsert, from_attribute: missing}]",
                start()
            ),
            vec![kv("a", s("2")), kv("b", s("2")), kv("c", s("2"))]
        );
    }

    #[test]
    fn delete_and_hash_by_key_or_pattern() {
        let start = || attrs(&[("user.email", "a@b.c"), ("user.id", "42"), ("http.method", "GET")]);
        assert_eq!(
            run("actions: [{key: user.email, action: delete}]", start()),
            attrs(&[("user.id", "42"), ("http.method", "GET")])
        );
        assert_eq!(run("actions: [{pattern: '^user\\.', action: delete}]", start()), attrs(&[("http.method", "GET")]));
        assert_eq!(
            run("actions: [{key: user.id, action: hash}]", start())[1],
            kv("user.id", s("73475cb40a568e8da8a045ced110137e159f890ac4da883b6b17dc651b3a8049"))
        );
        let hashed = run("actions: [{pattern: ^user, action: hash}]", start());
        assert_eq!(hashed[0], kv("user.email", s("d648b243a3e817eaa3309e00e183483f2867baadf522099f0c2121770536b25a")));
        assert_eq!(hashed[2], kv("http.method", s("GET")));
    }

    #[test]
    fn hash_of_each_value_kind() {
        let hash = |v: Option<AnyValue>| {
            let mut v = v.unwrap();
            hash_value(&mut v);
            v
        };
        // Booleans hash one byte, integers eight little-endian bytes, as the Collector does.
        assert_eq!(hash(b(true)), s("4bf5122f344554c53bde2ebb8cd2b7e3d1600ad631c385a5d7cce23c7785459a").unwrap());
        assert_eq!(hash(i(1)), s("7c9fa136d4413fa6173637e883b6998d32e1d675f88cddff9dcbcf331820f4b8").unwrap());
        assert_eq!(hash(Some(AnyValue { value: None })), s("").unwrap());
    }

    #[test]
    fn extract_named_groups() {
        let out = run(
            "actions: [{key: http.url, action: extract, pattern: '^/(?P<api>[a-z]+)/v(?P<version>\\d+)'}]",
            attrs(&[("http.url", "/orders/v2/items"), ("version", "old")]),
        );
        assert_eq!(out, attrs(&[("http.url", "/orders/v2/items"), ("version", "2"), ("api", "orders")]));
        // No match, or a non-string value: nothing changes.
        let unchanged = attrs(&[("http.url", "nothing here")]);
        assert_eq!(
            run("actions: [{key: http.url, action: extract, pattern: '^/(?P<api>[a-z]+)'}]", unchanged.clone()),
            unchanged
        );
    }

    #[test]
    fn convert_types() {
        let start = || vec![kv("n", s("42")), kv("f", s("2.5")), kv("bad", s("x")), kv("t", b(true)), kv("d", d(3.9))];
        assert_eq!(
            run(
                "actions: [{key: n, action: convert, converted_type: int}, {key: f, action: convert, converted_type: double},\
                 {key: bad, action: convert, converted_type: int}, {key: t, action: convert, converted_type: int},\
                 {key: d, action: convert, converted_type: int}]",
                start()
            ),
            vec![kv("n", i(42)), kv("f", d(2.5)), kv("bad", s("x")), kv("t", i(1)), kv("d", i(3))]
        );
        assert_eq!(
            run(
                "actions: [{key: t, action: convert, converted_type: string}, {key: d, action: convert, converted_type: string}]",
                start()
            )[3..],
            [kv("t", s("true")), kv("d", s("3.9"))]
        );
        assert_eq!(
            run("actions: [{key: n, action: convert, converted_type: double}, {key: t, action: convert, converted_type: double}]", start())
                [..4],
            [kv("n", d(42.0)), kv("f", s("2.5")), kv("bad", s("x")), kv("t", d(1.0))]
        );
    }

    #[test]
    fn include_and_exclude_select_spans() {
        let yaml = "actions: [{key: tagged, action: insert, value: yes}]\n\
                    include: {match_type: regexp, services: ['^orders'], span_names: [GET]}\n\
                    exclude: {attributes: [{key: internal, value: true}]}\n";
        let mut p = processor(yaml).unwrap();
        let mut batch = vec![
            spans("orders-api", "GET /x", vec![]),
            spans("orders-api", "POST /x", vec![]),
            spans("billing", "GET /x", vec![]),
            spans("orders-api", "GET /y", vec![kv("internal", b(true))]),
        ];
        p.process_traces(&mut batch);
        let tagged: Vec<bool> =
            batch.iter().map(|rs| rs.scope_spans[0].spans[0].attributes.iter().any(|kv| kv.key == "tagged")).collect();
        assert_eq!(tagged, vec![true, false, false, false]);
    }

    #[test]
    fn span_kinds_and_libraries_select_spans() {
        use lambdatel_pipeline::common::InstrumentationScope;
        let yaml = "actions: [{key: tagged, action: insert, value: yes}]\n\
                    include: {span_kinds: [SPAN_KIND_SERVER], libraries: [{name: lambdatel}]}\n";
        let mut p = processor(yaml).unwrap();
        let scope = |name: &str, kind: i32| ScopeSpans {
            scope: Some(InstrumentationScope { name: name.into(), ..Default::default() }),
            spans: vec![Span { kind, ..Default::default() }],
            ..Default::default()
        };
        let mut batch = vec![ResourceSpans {
            scope_spans: vec![scope("lambdatel", 2), scope("lambdatel", 3), scope("sdk", 2)],
            ..Default::default()
        }];
        p.process_traces(&mut batch);
        let tagged: Vec<usize> = batch[0].scope_spans.iter().map(|s| s.spans[0].attributes.len()).collect();
        assert_eq!(tagged, vec![1, 0, 0]);
        // span_kinds is a span property: an include with it selects no log record.
        let mut logs = vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope { name: "lambdatel".into(), ..Default::default() }),
                log_records: vec![LogRecord::default()],
                ..Default::default()
            }],
            ..Default::default()
        }];
        p.process_logs(&mut logs);
        assert!(logs[0].scope_logs[0].log_records[0].attributes.is_empty());
    }

    #[test]
    fn logs_and_metrics_use_their_own_properties() {
        let yaml = "actions: [{key: x, action: upsert, value: 1}]\n\
                    include: {log_severity_number: {min: WARN}, metric_names: [m1]}\n";
        let mut p = processor(yaml).unwrap();
        // Logs: metric_names is foreign, so the include selects no log record.
        let mut logs = vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord { severity_number: 17, ..Default::default() }],
                ..Default::default()
            }],
            ..Default::default()
        }];
        p.process_logs(&mut logs);
        assert!(logs[0].scope_logs[0].log_records[0].attributes.is_empty());

        let mut p =
            processor("actions: [{key: x, action: upsert, value: 1}]\ninclude: {log_severity_number: {min: WARN}}")
                .unwrap();
        let record = |n| LogRecord { severity_number: n, ..Default::default() };
        logs[0].scope_logs[0].log_records = vec![record(17), record(9)];
        p.process_logs(&mut logs);
        let changed: Vec<usize> = logs[0].scope_logs[0].log_records.iter().map(|r| r.attributes.len()).collect();
        assert_eq!(changed, vec![1, 0]);

        let mut p = processor("actions: [{key: x, action: upsert, value: 1}]\ninclude: {metric_names: [m1]}").unwrap();
        let metric = |name: &str| Metric {
            name: name.into(),
            data: Some(Data::Gauge(Gauge { data_points: vec![NumberDataPoint::default()] })),
            ..Default::default()
        };
        let mut metrics = vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics { metrics: vec![metric("m1"), metric("m2")], ..Default::default() }],
            ..Default::default()
        }];
        p.process_metrics(&mut metrics);
        let points: Vec<Vec<KeyValue>> = metrics[0].scope_metrics[0]
            .metrics
            .iter()
            .map(|m| match m.data.as_ref().unwrap() {
                Data::Gauge(g) => g.data_points[0].attributes.clone(),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(points, vec![vec![kv("x", i(1))], vec![]]);
    }

    #[test]
    fn config_errors_name_the_key() {
        let cases = [
            ("", "<config>: processors.attributes.actions: the attributes processor needs at least one action"),
            (
                "actions: [{key: a}]",
                "<config>:1:11: processors.attributes.actions[0]: action is missing; use insert, update, upsert, delete, hash, extract or convert",
            ),
            ("actions: [{action: insert, value: 1}]", "<config>:1:11: processors.attributes.actions[0].key: insert needs a key"),
            (
                "actions: [{key: a, action: upsert}]",
                "<config>:1:11: processors.attributes.actions[0]: upsert needs a value or from_attribute",
            ),
            (
                "actions: [{key: a, action: insert, value: 1, from_attribute: b}]",
                "<config>:1:11: processors.attributes.actions[0]: insert takes either value or from_attribute, not both",
            ),
            ("actions: [{action: delete}]", "<config>:1:11: processors.attributes.actions[0].key: delete needs a key or a pattern"),
            (
                "actions: [{action: hash, pattern: '['}]",
                "<config>:1:26: processors.attributes.actions[0].pattern: invalid regular expression \"[\": regex parse error:\n    [\n    ^\nerror: unclosed character class",
            ),
            (
                "actions: [{key: a, action: extract}]",
                "<config>:1:11: processors.attributes.actions[0].pattern: extract needs a pattern with named groups",
            ),
            (
                "actions: [{key: a, action: extract, pattern: 'a(b)'}]",
                "<config>:1:37: processors.attributes.actions[0].pattern: extract pattern \"a(b)\" has no named group such as (?P<name>...)",
            ),
            (
                "actions: [{key: a, action: convert}]",
                "<config>:1:11: processors.attributes.actions[0].converted_type: convert needs converted_type: int, double or string",
            ),
            (
                "actions: [{key: a, action: delete, value: 1}]",
                "<config>:1:36: processors.attributes.actions[0].value: delete does not use value",
            ),
            (
                "actions: [{key: a, action: upsert, value: 1, pattern: x}]",
                "<config>:1:46: processors.attributes.actions[0].pattern: upsert does not use pattern",
            ),
            (
                "actions: [{key: a, action: convert, converted_type: int, from_attribute: b}]",
                "<config>:1:58: processors.attributes.actions[0].from_attribute: convert does not use from_attribute",
            ),
            (
                "actions: [{key: a, action: rename}]",
                "<config>:1:20: processors.attributes.actions[0].action: unknown variant `rename`, expected one of `insert`, `update`, `upsert`, `delete`, `hash`, `extract`, `convert`",
            ),
            (
                "actions: [{key: a, action: delete}]\ninclude: {match_type: strict}",
                "<config>:2:1: processors.attributes.include: include needs at least one match property",
            ),
            (
                "actions: [{key: a, action: delete}]\nexclude: {match_type: expr, services: [a]}",
                "<config>:2:11: processors.attributes.exclude.match_type: match_type expr is not supported; use strict or regexp",
            ),
            (
                "actions: [{key: a, action: delete}]\ninclude: {log_severity_number: {min: LOUD}}",
                "<config>:2:33: processors.attributes.include.log_severity_number.min: unknown severity \"LOUD\"; use TRACE, DEBUG, INFO, WARN, ERROR or FATAL (optionally 2 to 4, e.g. ERROR2) or 1 to 24",
            ),
        ];
        for (yaml, expected) in cases {
            assert_eq!(processor(yaml).err().as_deref(), Some(expected), "for {yaml}");
        }
    }
}
