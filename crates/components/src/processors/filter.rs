//! The `filter` processor: drops spans, span events, metrics, data points and log records, configured
//! with the Collector's structured match properties (`spans`, `metrics` and `logs` with `include` and
//! `exclude`), plus `span_events` and `data_points` in the same form.
//!
//! An item is kept when it matches `include` (if written) and does not match `exclude` (if written).
//! Resource and scope groups left empty are removed.
//!
//! The Collector's OTTL conditions (`traces: {span: [...], spanevent: [...]}`, `metrics: {metric: [...],
//! datapoint: [...]}`, `logs: {log_record: [...]}`, with `error_mode`) are supported too (see
//! `filter_conditions`); an item is dropped when any holds. Both forms may be written together: the
//! structured properties apply first.

use lambdatel_config::{ComponentConfig, ConfigError};
use lambdatel_pipeline::{
    logs::ResourceLogs,
    metrics::{metric::Data, ResourceMetrics},
    trace::ResourceSpans,
    Processor,
};
use serde::Deserialize;

use crate::ProcessorFactory;
use lambdatel_ottl::ContextKind;

use super::filter_conditions::{compile, OttlConditions};

use super::match_properties::severity_min;
use super::matching::{
    compile_span_kinds, AttributeConfig, AttributeMatcher, Criteria, Item, LibraryConfig, LibraryMatcher, MatchType,
    Selector, SeverityNumberConfig, StringMatcher,
};

/// `include` and `exclude` for one kind of item.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IncludeExclude<T> {
    /// Keep only the items that match.
    pub include: Option<T>,
    /// Drop the items that match.
    pub exclude: Option<T>,
}

impl<T> Default for IncludeExclude<T> {
    fn default() -> Self {
        IncludeExclude { include: None, exclude: None }
    }
}

/// Match properties of spans.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpanMatch {
    /// `strict` (default) or `regexp` (unanchored).
    pub match_type: MatchType,
    /// `service.name` values of the resource.
    pub services: Vec<String>,
    /// Span names.
    pub span_names: Vec<String>,
    /// Conditions on span attributes; all must hold.
    pub attributes: Vec<AttributeConfig>,
    /// Conditions on resource attributes; all must hold.
    pub resource_attributes: Vec<AttributeConfig>,
    /// Span kinds (`SPAN_KIND_SERVER`, ...), compared exactly whatever `match_type` says.
    pub span_kinds: Vec<String>,
    /// Instrumentation scopes (`{name, version}`), any of which matches.
    pub libraries: Vec<LibraryConfig>,
}

/// Match properties of span events (a lambdatel addition in the same form).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpanEventMatch {
    /// `strict` (default) or `regexp` (unanchored).
    pub match_type: MatchType,
    /// Event names (e.g. `exception`).
    pub event_names: Vec<String>,
    /// Conditions on event attributes; all must hold.
    pub attributes: Vec<AttributeConfig>,
    /// Conditions on resource attributes; all must hold.
    pub resource_attributes: Vec<AttributeConfig>,
}

/// Match properties of metrics.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricMatch {
    /// `strict` (default) or `regexp` (unanchored); the Collector's `expr` is not supported.
    pub match_type: MatchType,
    /// Metric names.
    pub metric_names: Vec<String>,
    /// Conditions on resource attributes; all must hold.
    pub resource_attributes: Vec<AttributeConfig>,
}

/// Match properties of metric data points (a lambdatel addition in the same form).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataPointMatch {
    /// `strict` (default) or `regexp` (unanchored).
    pub match_type: MatchType,
    /// Names of the metrics whose points are concerned.
    pub metric_names: Vec<String>,
    /// Conditions on data point attributes; all must hold.
    pub attributes: Vec<AttributeConfig>,
    /// Conditions on resource attributes; all must hold.
    pub resource_attributes: Vec<AttributeConfig>,
}

/// Match properties of log records.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogMatch {
    /// `strict` (default) or `regexp` (unanchored).
    pub match_type: MatchType,
    /// Bodies, compared as text (string, number and boolean bodies).
    pub bodies: Vec<String>,
    /// Severity texts (e.g. `DEBUG`).
    pub severity_texts: Vec<String>,
    /// Minimum severity number, e.g. `{min: WARN, match_undefined: false}`.
    pub severity_number: Option<SeverityNumberConfig>,
    /// Conditions on log record attributes; all must hold.
    pub record_attributes: Vec<AttributeConfig>,
    /// Conditions on resource attributes; all must hold.
    pub resource_attributes: Vec<AttributeConfig>,
}

/// The `metrics` section: structured `include`/`exclude` and OTTL conditions.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSection {
    /// Keep only matching metrics.
    pub include: Option<MetricMatch>,
    /// Drop matching metrics.
    pub exclude: Option<MetricMatch>,
    /// OTTL conditions on metrics: a metric is dropped when any holds.
    pub metric: Vec<String>,
    /// OTTL conditions on data points: a point is dropped when any holds.
    pub datapoint: Vec<String>,
}

/// The `logs` section: structured `include`/`exclude` and OTTL conditions.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogsSection {
    /// Keep only matching log records.
    pub include: Option<LogMatch>,
    /// Drop matching log records.
    pub exclude: Option<LogMatch>,
    /// OTTL conditions on log records: a record is dropped when any holds.
    pub log_record: Vec<String>,
}

/// Configuration of the `filter` processor.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilterConfig {
    /// What an OTTL condition failing on an item does: `ignore` and `silent` keep the item, `propagate`
    /// (default) drops the batch. Structured matching cannot fail.
    pub error_mode: Option<ErrorMode>,
    /// Span filters.
    pub spans: IncludeExclude<SpanMatch>,
    /// Span event filters, applied to the events of the spans that are kept.
    pub span_events: IncludeExclude<SpanEventMatch>,
    /// Metric filters and OTTL `metric`/`datapoint` conditions.
    pub metrics: MetricsSection,
    /// Data point filters, applied to the metrics that are kept; a metric left without points is dropped.
    pub data_points: IncludeExclude<DataPointMatch>,
    /// Log record filters and OTTL `log_record` conditions.
    pub logs: LogsSection,
    /// OTTL span and span event conditions.
    pub traces: TracesSection,
}

/// The `traces` section: OTTL conditions on spans and span events.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TracesSection {
    /// A span is dropped (with its events) when any holds.
    pub span: Vec<String>,
    /// A span event is dropped when any holds.
    pub spanevent: Vec<String>,
}

/// The Collector's `error_mode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorMode {
    /// Log and continue.
    Ignore,
    /// Continue without logging.
    Silent,
    /// Fail the batch.
    Propagate,
}

/// Compiles the common parts of match properties written at `path`.
struct Compiler<'a> {
    config: &'a ComponentConfig,
    path: String,
    match_type: MatchType,
}

impl Compiler<'_> {
    fn new<'a>(config: &'a ComponentConfig, path: &str, match_type: MatchType) -> Result<Compiler<'a>, ConfigError> {
        if match_type == MatchType::Expr {
            return Err(config
                .error_at(&format!("{path}.match_type"), "match_type expr is not supported; use strict or regexp"));
        }
        Ok(Compiler { config, path: path.to_owned(), match_type })
    }

    fn strings(&self, key: &str, items: &[String]) -> Result<Option<StringMatcher>, ConfigError> {
        StringMatcher::compile(self.config, &format!("{}.{key}", self.path), self.match_type, items)
    }

    fn attributes(&self, key: &str, items: &[AttributeConfig]) -> Result<Vec<AttributeMatcher>, ConfigError> {
        AttributeMatcher::compile_all(self.config, &format!("{}.{key}", self.path), self.match_type, items)
    }

    fn non_empty(&self, criteria: Criteria, properties: &str) -> Result<Criteria, ConfigError> {
        if criteria.is_empty() {
            return Err(self.config.error_at(&self.path, format!("{} needs at least one of {properties}", self.path)));
        }
        Ok(criteria)
    }
}

impl SpanMatch {
    fn compile(&self, config: &ComponentConfig, path: &str) -> Result<Criteria, ConfigError> {
        let c = Compiler::new(config, path, self.match_type)?;
        let criteria = Criteria {
            services: c.strings("services", &self.services)?,
            names: c.strings("span_names", &self.span_names)?,
            attributes: c.attributes("attributes", &self.attributes)?,
            resource_attributes: c.attributes("resource_attributes", &self.resource_attributes)?,
            span_kinds: compile_span_kinds(config, &format!("{path}.span_kinds"), &self.span_kinds)?,
            libraries: LibraryMatcher::compile_all(
                config,
                &format!("{path}.libraries"),
                self.match_type,
                &self.libraries,
            )?,
            ..Criteria::default()
        };
        c.non_empty(criteria, "services, span_names, span_kinds, libraries, attributes or resource_attributes")
    }
}

impl SpanEventMatch {
    fn compile(&self, config: &ComponentConfig, path: &str) -> Result<Criteria, ConfigError> {
        let c = Compiler::new(config, path, self.match_type)?;
        let criteria = Criteria {
            names: c.strings("event_names", &self.event_names)?,
            attributes: c.attributes("attributes", &self.attributes)?,
            resource_attributes: c.attributes("resource_attributes", &self.resource_attributes)?,
            ..Criteria::default()
        };
        c.non_empty(criteria, "event_names, attributes or resource_attributes")
    }
}

impl MetricMatch {
    fn compile(&self, config: &ComponentConfig, path: &str) -> Result<Criteria, ConfigError> {
        let c = Compiler::new(config, path, self.match_type)?;
        let criteria = Criteria {
            names: c.strings("metric_names", &self.metric_names)?,
            resource_attributes: c.attributes("resource_attributes", &self.resource_attributes)?,
            ..Criteria::default()
        };
        c.non_empty(criteria, "metric_names or resource_attributes")
    }
}

impl DataPointMatch {
    fn compile(&self, config: &ComponentConfig, path: &str) -> Result<Criteria, ConfigError> {
        let c = Compiler::new(config, path, self.match_type)?;
        let criteria = Criteria {
            names: c.strings("metric_names", &self.metric_names)?,
            attributes: c.attributes("attributes", &self.attributes)?,
            resource_attributes: c.attributes("resource_attributes", &self.resource_attributes)?,
            ..Criteria::default()
        };
        c.non_empty(criteria, "metric_names, attributes or resource_attributes")
    }
}

impl LogMatch {
    fn compile(&self, config: &ComponentConfig, path: &str) -> Result<Criteria, ConfigError> {
        let c = Compiler::new(config, path, self.match_type)?;
        let severity_number = match &self.severity_number {
            Some(s) => Some(severity_min(config, &format!("{path}.severity_number"), s)?),
            None => None,
        };
        let criteria = Criteria {
            bodies: c.strings("bodies", &self.bodies)?,
            severity_texts: c.strings("severity_texts", &self.severity_texts)?,
            severity_number,
            attributes: c.attributes("record_attributes", &self.record_attributes)?,
            resource_attributes: c.attributes("resource_attributes", &self.resource_attributes)?,
            ..Criteria::default()
        };
        c.non_empty(criteria, "bodies, severity_texts, severity_number, record_attributes or resource_attributes")
    }
}

/// Compiles `include`/`exclude` written under `section`.
fn selector<T>(
    config: &ComponentConfig,
    section: &str,
    include: &Option<T>,
    exclude: &Option<T>,
    compile: impl Fn(&T, &ComponentConfig, &str) -> Result<Criteria, ConfigError>,
) -> Result<Option<Selector>, ConfigError> {
    let include = include.as_ref().map(|m| compile(m, config, &format!("{section}.include"))).transpose()?;
    let exclude = exclude.as_ref().map(|m| compile(m, config, &format!("{section}.exclude"))).transpose()?;
    Ok((include.is_some() || exclude.is_some()).then_some(Selector { include, exclude }))
}

/// The `filter` processor.
#[derive(Debug, Default)]
pub struct FilterProcessor {
    spans: Option<Selector>,
    span_events: Option<Selector>,
    metrics: Option<Selector>,
    data_points: Option<Selector>,
    logs: Option<Selector>,
    conditions: Option<OttlConditions>,
}

impl FilterProcessor {
    /// OTTL evaluation errors seen so far, whatever the error mode.
    pub fn error_count(&self) -> u64 {
        self.conditions.as_ref().map_or(0, OttlConditions::error_count)
    }
}

impl ProcessorFactory for FilterProcessor {
    const TYPE: &'static str = "filter";
    const EXAMPLE: &'static str = "logs: {exclude: {severity_texts: [DEBUG]}}";
    type Config = FilterConfig;

    fn create(settings: FilterConfig, config: &ComponentConfig) -> Result<Self, ConfigError> {
        let conditions = OttlConditions::new(
            [
                compile(config, "traces.span", &settings.traces.span, ContextKind::Span)?,
                compile(config, "traces.spanevent", &settings.traces.spanevent, ContextKind::SpanEvent)?,
                compile(config, "metrics.metric", &settings.metrics.metric, ContextKind::Metric)?,
                compile(config, "metrics.datapoint", &settings.metrics.datapoint, ContextKind::DataPoint)?,
                compile(config, "logs.log_record", &settings.logs.log_record, ContextKind::Log)?,
            ],
            settings.error_mode.unwrap_or(ErrorMode::Propagate),
        );
        let processor = FilterProcessor {
            spans: selector(config, "spans", &settings.spans.include, &settings.spans.exclude, SpanMatch::compile)?,
            span_events: selector(
                config,
                "span_events",
                &settings.span_events.include,
                &settings.span_events.exclude,
                SpanEventMatch::compile,
            )?,
            metrics: selector(
                config,
                "metrics",
                &settings.metrics.include,
                &settings.metrics.exclude,
                MetricMatch::compile,
            )?,
            data_points: selector(
                config,
                "data_points",
                &settings.data_points.include,
                &settings.data_points.exclude,
                DataPointMatch::compile,
            )?,
            logs: selector(config, "logs", &settings.logs.include, &settings.logs.exclude, LogMatch::compile)?,
            conditions,
        };
        if processor.spans.is_none()
            && processor.span_events.is_none()
            && processor.metrics.is_none()
            && processor.data_points.is_none()
            && processor.logs.is_none()
            && processor.conditions.is_none()
        {
            return Err(config.error(
                "the filter processor needs at least one of spans, span_events, metrics, data_points, logs \
                 (include/exclude) or OTTL conditions (traces, metrics, logs)",
            ));
        }
        Ok(processor)
    }
}

impl Processor for FilterProcessor {
    fn process_traces(&mut self, batch: &mut Vec<ResourceSpans>) {
        if let Some(conditions) = &mut self.conditions {
            conditions.filter_traces(batch);
        }
        if self.spans.is_none() && self.span_events.is_none() {
            return;
        }
        for rs in batch.iter_mut() {
            let resource = rs.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
            for scope in rs.scope_spans.iter_mut() {
                if let Some(selector) = &self.spans {
                    let library = scope.scope.as_ref();
                    scope.spans.retain(|span| selector.selects(&Item::span(resource, library, span)));
                }
                if let Some(selector) = &self.span_events {
                    for span in scope.spans.iter_mut() {
                        let before = span.events.len();
                        span.events.retain(|event| {
                            selector.selects(&Item {
                                resource,
                                name: Some(&event.name),
                                attributes: &event.attributes,
                                ..Item::default()
                            })
                        });
                        // Count what was dropped, as an SDK does for events over its limit.
                        span.dropped_events_count =
                            span.dropped_events_count.saturating_add((before - span.events.len()) as u32);
                    }
                }
            }
            rs.scope_spans.retain(|s| !s.spans.is_empty());
        }
        batch.retain(|rs| !rs.scope_spans.is_empty());
    }

    fn process_metrics(&mut self, batch: &mut Vec<ResourceMetrics>) {
        if let Some(conditions) = &mut self.conditions {
            conditions.filter_metrics(batch);
        }
        if self.metrics.is_none() && self.data_points.is_none() {
            return;
        }
        for rm in batch.iter_mut() {
            let resource = rm.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
            for scope in rm.scope_metrics.iter_mut() {
                if let Some(selector) = &self.metrics {
                    scope
                        .metrics
                        .retain(|m| selector.selects(&Item { resource, name: Some(&m.name), ..Item::default() }));
                }
                if let Some(selector) = &self.data_points {
                    scope.metrics.retain_mut(|metric| {
                        let name = metric.name.as_str();
                        let keep = |attributes: &[_]| {
                            selector.selects(&Item { resource, name: Some(name), attributes, ..Item::default() })
                        };
                        match metric.data.as_mut() {
                            Some(Data::Gauge(g)) => retain_points(&mut g.data_points, |p| keep(&p.attributes)),
                            Some(Data::Sum(s)) => retain_points(&mut s.data_points, |p| keep(&p.attributes)),
                            Some(Data::Histogram(h)) => retain_points(&mut h.data_points, |p| keep(&p.attributes)),
                            Some(Data::ExponentialHistogram(h)) => {
                                retain_points(&mut h.data_points, |p| keep(&p.attributes))
                            }
                            Some(Data::Summary(s)) => retain_points(&mut s.data_points, |p| keep(&p.attributes)),
                            None => true,
                        }
                    });
                }
            }
            rm.scope_metrics.retain(|s| !s.metrics.is_empty());
        }
        batch.retain(|rm| !rm.scope_metrics.is_empty());
    }

    fn process_logs(&mut self, batch: &mut Vec<ResourceLogs>) {
        if let Some(conditions) = &mut self.conditions {
            conditions.filter_logs(batch);
        }
        let Some(selector) = &self.logs else { return };
        for rl in batch.iter_mut() {
            let resource = rl.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
            for scope in rl.scope_logs.iter_mut() {
                scope.log_records.retain(|record| {
                    selector.selects(&Item {
                        resource,
                        attributes: &record.attributes,
                        body: record.body.as_ref(),
                        severity_text: Some(&record.severity_text),
                        severity_number: Some(record.severity_number),
                        ..Item::default()
                    })
                });
            }
            rl.scope_logs.retain(|s| !s.log_records.is_empty());
        }
        batch.retain(|rl| !rl.scope_logs.is_empty());
    }
}

/// Keeps the points `keep` accepts; true when any point is left.
fn retain_points<P>(points: &mut Vec<P>, keep: impl Fn(&P) -> bool) -> bool {
    points.retain(|p| keep(p));
    !points.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processors::matching::test_support::*;
    use lambdatel_pipeline::{
        common::KeyValue,
        logs::{LogRecord, ScopeLogs},
        metrics::{Gauge, Metric, NumberDataPoint, ScopeMetrics, Sum},
        resource::Resource,
        trace::{span::Event, ScopeSpans, Span},
    };

    fn processor(yaml: &str) -> Result<FilterProcessor, String> {
        FilterProcessor::from_config(&component("processors.filter", yaml)).map_err(|e| e.to_string())
    }

    fn resource(service: &str) -> Option<Resource> {
        Some(Resource { attributes: attrs(&[("service.name", service)]), ..Default::default() })
    }

    type SpecSpans<'a> = &'a [(&'a str, Vec<KeyValue>)];

    fn traces(groups: &[(&str, SpecSpans)]) -> Vec<ResourceSpans> {
        groups
            .iter()
            .map(|(service, spans)| ResourceSpans {
                resource: resource(service),
                scope_spans: vec![ScopeSpans {
                    spans: spans
                        .iter()
                        .map(|(name, attributes)| Span {
                            name: name.to_string(),
                            attributes: attributes.clone(),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect()
    }

    fn span_names(batch: &[ResourceSpans]) -> Vec<String> {
        batch.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans).map(|s| s.name.clone()).collect()
    }

    #[test]
    fn spans_include_and_exclude() {
        let batch = || {
            traces(&[
                ("orders", &[("GET /health", vec![]), ("GET /orders", attrs(&[("http.route", "/orders")]))]),
                ("billing", &[("charge", vec![])]),
            ])
        };
        let run = |yaml: &str, mut data: Vec<ResourceSpans>| {
            processor(yaml).unwrap().process_traces(&mut data);
            (span_names(&data), data.len())
        };
        assert_eq!(
            run("spans: {exclude: {match_type: strict, span_names: [GET /health]}}", batch()),
            (vec!["GET /orders".to_string(), "charge".into()], 2)
        );
        assert_eq!(
            run("spans: {include: {services: [orders]}}", batch()),
            (vec!["GET /health".into(), "GET /orders".into()], 1)
        );
        assert_eq!(
            run("spans: {include: {match_type: regexp, span_names: ['^GET']}, exclude: {attributes: [{key: http.route}]}}", batch()),
            (vec!["GET /health".into()], 1)
        );
        assert_eq!(
            run("spans: {exclude: {resource_attributes: [{key: service.name, value: billing}]}}", batch()),
            (vec!["GET /health".into(), "GET /orders".into()], 1)
        );
        // Everything dropped: no empty groups are left behind.
        assert_eq!(run("spans: {exclude: {match_type: regexp, span_names: ['.']}}", batch()), (vec![], 0));
    }

    #[test]
    fn spans_by_kind_and_library() {
        use lambdatel_pipeline::common::InstrumentationScope;
        let scope = |name: &str, kinds: &[i32]| ScopeSpans {
            scope: Some(InstrumentationScope { name: name.into(), ..Default::default() }),
            spans: kinds.iter().map(|k| Span { name: format!("{name}-{k}"), kind: *k, ..Default::default() }).collect(),
            ..Default::default()
        };
        let run = |yaml: &str| {
            let mut batch = vec![ResourceSpans {
                resource: resource("orders"),
                scope_spans: vec![scope("lambdatel", &[1, 2]), scope("aws-sdk", &[3])],
                ..Default::default()
            }];
            processor(yaml).unwrap().process_traces(&mut batch);
            span_names(&batch)
        };
        assert_eq!(run("spans: {exclude: {span_kinds: [SPAN_KIND_INTERNAL]}}"), vec!["lambdatel-2", "aws-sdk-3"]);
        assert_eq!(run("spans: {include: {libraries: [{name: aws-sdk}]}}"), vec!["aws-sdk-3"]);
        assert_eq!(
            run("spans: {include: {span_kinds: [Server, client], libraries: [{name: lambdatel}]}}"),
            vec!["lambdatel-2"]
        );
    }

    #[test]
    fn span_events_are_dropped_and_counted() {
        let mut batch = traces(&[("orders", &[("op", vec![])])]);
        let span = &mut batch[0].scope_spans[0].spans[0];
        span.events = vec![
            Event { name: "exception".into(), ..Default::default() },
            Event { name: "log".into(), attributes: attrs(&[("level", "debug")]), ..Default::default() },
            Event { name: "log".into(), attributes: attrs(&[("level", "error")]), ..Default::default() },
        ];
        span.dropped_events_count = 1;
        processor("span_events: {exclude: {event_names: [log], attributes: [{key: level, value: debug}]}}")
            .unwrap()
            .process_traces(&mut batch);
        let span = &batch[0].scope_spans[0].spans[0];
        let kept: Vec<(&str, usize)> = span.events.iter().map(|e| (e.name.as_str(), e.attributes.len())).collect();
        assert_eq!(kept, vec![("exception", 0), ("log", 1)]);
        assert_eq!(span.events[1].attributes, attrs(&[("level", "error")]));
        assert_eq!(span.dropped_events_count, 2);
    }

    fn metrics() -> Vec<ResourceMetrics> {
        let point = |route: &str| NumberDataPoint { attributes: attrs(&[("route", route)]), ..Default::default() };
        vec![ResourceMetrics {
            resource: resource("orders"),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![
                    Metric {
                        name: "faas.invoke_duration".into(),
                        data: Some(Data::Gauge(Gauge { data_points: vec![point("/a"), point("/health")] })),
                        ..Default::default()
                    },
                    Metric {
                        name: "faas.mem_usage".into(),
                        data: Some(Data::Sum(Sum { data_points: vec![point("/health")], ..Default::default() })),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }]
    }

    fn metric_points(batch: &[ResourceMetrics]) -> Vec<(String, usize)> {
        batch
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .map(|m| {
                let n = match m.data.as_ref().unwrap() {
                    Data::Gauge(g) => g.data_points.len(),
                    Data::Sum(s) => s.data_points.len(),
                    _ => unreachable!(),
                };
                (m.name.clone(), n)
            })
            .collect()
    }

    #[test]
    fn metrics_and_data_points() {
        let run = |yaml: &str| {
            let mut batch = metrics();
            processor(yaml).unwrap().process_metrics(&mut batch);
            metric_points(&batch)
        };
        assert_eq!(
            run("metrics: {exclude: {metric_names: [faas.mem_usage]}}"),
            vec![("faas.invoke_duration".into(), 2)]
        );
        assert_eq!(
            run("metrics: {include: {match_type: regexp, metric_names: [mem]}}"),
            vec![("faas.mem_usage".into(), 1)]
        );
        // Points of /health dropped; a metric left without points goes too.
        assert_eq!(
            run("data_points: {exclude: {attributes: [{key: route, value: /health}]}}"),
            vec![("faas.invoke_duration".into(), 1)]
        );
        assert_eq!(
            run("data_points: {exclude: {metric_names: [faas.invoke_duration], attributes: [{key: route, value: /health}]}}"),
            vec![("faas.invoke_duration".into(), 1), ("faas.mem_usage".into(), 1)]
        );
        assert_eq!(run("metrics: {exclude: {resource_attributes: [{key: service.name, value: orders}]}}"), vec![]);
    }

    fn logs() -> Vec<ResourceLogs> {
        let record = |body: &str, text: &str, number: i32, attributes: Vec<KeyValue>| LogRecord {
            body: s(body),
            severity_text: text.into(),
            severity_number: number,
            attributes,
            ..Default::default()
        };
        vec![ResourceLogs {
            resource: resource("orders"),
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    record("START RequestId: 1", "", 0, vec![]),
                    record("debugging", "DEBUG", 5, vec![]),
                    record("order accepted", "INFO", 9, attrs(&[("order", "1")])),
                    record("payment failed", "ERROR", 17, vec![]),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }]
    }

    fn bodies(batch: &[ResourceLogs]) -> Vec<String> {
        batch
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
            .map(|r| match r.body.as_ref().and_then(|b| b.value.as_ref()) {
                Some(lambdatel_pipeline::common::any_value::Value::StringValue(s)) => s.clone(),
                _ => String::new(),
            })
            .collect()
    }

    #[test]
    fn log_records() {
        let run = |yaml: &str| {
            let mut batch = logs();
            processor(yaml).unwrap().process_logs(&mut batch);
            bodies(&batch)
        };
        assert_eq!(
            run("logs: {exclude: {match_type: regexp, bodies: ['^START RequestId']}}"),
            vec!["debugging", "order accepted", "payment failed"]
        );
        assert_eq!(run("logs: {include: {severity_number: {min: INFO}}}"), vec!["order accepted", "payment failed"]);
        assert_eq!(
            run("logs: {include: {severity_number: {min: warn, match_undefined: true}}}"),
            vec!["START RequestId: 1", "payment failed"]
        );
        assert_eq!(
            run("logs: {exclude: {severity_texts: [DEBUG, INFO]}}"),
            vec!["START RequestId: 1", "payment failed"]
        );
        assert_eq!(run("logs: {include: {record_attributes: [{key: order, value: '1'}]}}"), vec!["order accepted"]);
        assert_eq!(run("logs: {exclude: {resource_attributes: [{key: service.name}]}}"), Vec::<String>::new());
    }

    #[test]
    fn config_errors() {
        let cases = [
            (
                "",
                "<config>: processors.filter: the filter processor needs at least one of spans, span_events, metrics, data_points, logs (include/exclude) or OTTL conditions (traces, metrics, logs)",
            ),
            (
                "traces:\n  span:\n    - 'name == \"a\"'\n    - 'Nope(name)'",
                "<config>:4:7: processors.filter.traces.span[1]: unsupported function `Nope` in `Nope(name)`",
            ),
            (
                "logs:\n  log_record: ['span.name == \"x\"']",
                "<config>:2:16: processors.filter.logs.log_record[0]: unsupported path `span.name` in context `log` in `span.name == \"x\"`",
            ),
            (
                "spans:\n  include:\n    match_type: strict",
                "<config>:2:3: processors.filter.spans.include: spans.include needs at least one of services, span_names, span_kinds, libraries, attributes or resource_attributes",
            ),
            (
                "logs:\n  exclude: {}",
                "<config>:2:3: processors.filter.logs.exclude: logs.exclude needs at least one of bodies, severity_texts, severity_number, record_attributes or resource_attributes",
            ),
            (
                "metrics:\n  include:\n    match_type: expr\n    metric_names: [x]",
                "<config>:3:5: processors.filter.metrics.include.match_type: match_type expr is not supported; use strict or regexp",
            ),
            (
                "spans:\n  exclude:\n    match_type: regexp\n    span_names: ['(?P<']",
                "<config>:4:18: processors.filter.spans.exclude.span_names[0]: invalid regular expression \"(?P<\": regex parse error:\n    (?P<\n        ^\nerror: unclosed capture group name",
            ),
            (
                "data_points:\n  exclude: {metric_names: [a], attributes: [{key: ''}]}",
                "<config>:2:46: processors.filter.data_points.exclude.attributes[0].key: an attribute condition needs a key",
            ),
            (
                "span_events:\n  include: {}",
                "<config>:2:3: processors.filter.span_events.include: span_events.include needs at least one of event_names, attributes or resource_attributes",
            ),
            (
                "logs:\n  include:\n    severity_number: {match_undefined: true}",
                "<config>:3:5: processors.filter.logs.include.severity_number.min: severity_number needs min, e.g. WARN",
            ),
            (
                "error_mode: loud\nspans: {}",
                "<config>:1:1: processors.filter.error_mode: unknown variant `loud`, expected one of `ignore`, `silent`, `propagate`",
            ),
            (
                "spans:\n  exclude:\n    span_kind: [SERVER]",
                "<config>:3:5: processors.filter.spans.exclude.span_kind: unknown field `span_kind`, expected one of `match_type`, `services`, `span_names`, `attributes`, `resource_attributes`, `span_kinds`, `libraries`",
            ),
            (
                "spans:\n  exclude:\n    span_kinds: [SERVER, REMOTE]",
                "<config>:3:26: processors.filter.spans.exclude.span_kinds[1]: unknown span kind \"REMOTE\"; use SPAN_KIND_INTERNAL, _SERVER, _CLIENT, _PRODUCER, _CONSUMER or _UNSPECIFIED",
            ),
        ];
        for (yaml, expected) in cases {
            assert_eq!(processor(yaml).err().as_deref(), Some(expected), "for {yaml}");
        }
        assert!(processor("error_mode: ignore\nspans: {exclude: {span_names: [x]}}").is_ok());
        let syntax = processor("metrics:\n  datapoint: ['attributes[\"x\"] == ']").unwrap_err();
        let want = "<config>:2:15: processors.filter.metrics.datapoint[0]: syntax error at offset";
        assert!(syntax.starts_with(want), "{syntax}");
    }
}
