//! The `attributes` processor: the Collector's attribute actions (`insert`, `update`, `upsert`,
//! `delete`, `hash`, `extract`, `convert`) on span, log record and metric data point attributes, applied
//! to the items selected by optional `include`/`exclude` match properties.
//!
//! The action engine lives in `actions.rs` (the `resource` processor applies the same actions to resource
//! attributes) and the match properties in `match_properties.rs`.

use lambdatel_config::{ComponentConfig, ConfigError};
use lambdatel_pipeline::{logs::ResourceLogs, metrics::ResourceMetrics, trace::ResourceSpans, Processor};
use serde::Deserialize;

use crate::ProcessorFactory;

use lambdatel_pipeline::otlp::for_each_data_point_attributes;

use super::matching::{Item, Selector};
use super::{
    actions::{ActionConfig, Actions},
    match_properties::{selector, MatchProperties, SignalKind},
};

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
}

impl Processor for AttributesProcessor {
    fn process_traces(&mut self, batch: &mut Vec<ResourceSpans>) {
        let actions = &self.actions;
        self.spans.for_each_span(batch, |span| actions.apply(&mut span.attributes));
    }

    fn process_metrics(&mut self, batch: &mut Vec<ResourceMetrics>) {
        for rm in batch {
            let resource = rm.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
            for scope in rm.scope_metrics.iter_mut() {
                let library = scope.scope.as_ref();
                for metric in scope.metrics.iter_mut() {
                    let name = metric.name.as_str();
                    let Some(data) = metric.data.as_mut() else { continue };
                    for_each_data_point_attributes(data, |attributes| {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processors::actions::hash_value;
    use crate::processors::matching::test_support::*;
    use lambdatel_pipeline::{
        common::{any_value::Value, AnyValue, KeyValue},
        metrics::metric::Data,
    };
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
