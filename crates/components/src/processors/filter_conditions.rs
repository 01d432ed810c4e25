//! The `filter` processor's OTTL conditions, as in the Collector: `traces: {span: [...], spanevent: [...]}`,
//! `metrics: {metric: [...], datapoint: [...]}`, `logs: {log_record: [...]}`. An item is dropped when any
//! of its conditions holds; a span or metric dropped takes its events or points with it, a metric left
//! without points is dropped, and resource and scope groups left empty are removed.
//!
//! A condition failing on an item follows `error_mode` (default `propagate`): `ignore` and `silent` keep
//! the item (`ignore` logs, rate-limited), `propagate` drops the pipeline's batch of that signal and logs
//! why, as the Collector refuses the batch.

use lambdatel_config::{ComponentConfig, ConfigError};
use lambdatel_ottl::{
    Condition, ContextKind, DataPointContext, EvalContext, LogContext, MetricContext, SpanContext, SpanEventContext,
};
use lambdatel_pipeline::{
    logs::ResourceLogs,
    metrics::{metric::Data, Metric, ResourceMetrics},
    trace::ResourceSpans,
};

use super::filter::ErrorMode;
use super::transform::{point_count, ErrorSink, Failure};

/// Conditions per item kind, parsed at start-up.
pub struct OttlConditions {
    pub(crate) spans: Vec<Condition>,
    pub(crate) span_events: Vec<Condition>,
    pub(crate) metrics: Vec<Condition>,
    pub(crate) data_points: Vec<Condition>,
    pub(crate) logs: Vec<Condition>,
    error_mode: ErrorMode,
    errors: ErrorSink,
}

impl std::fmt::Debug for OttlConditions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let texts = |c: &[Condition]| c.iter().map(|c| c.text().to_owned()).collect::<Vec<_>>();
        f.debug_struct("OttlConditions")
            .field("span", &texts(&self.spans))
            .field("spanevent", &texts(&self.span_events))
            .field("metric", &texts(&self.metrics))
            .field("datapoint", &texts(&self.data_points))
            .field("log_record", &texts(&self.logs))
            .finish()
    }
}

/// Parses the conditions written at `key` (e.g. `traces.span`) for `context`, each error at its list item.
pub fn compile(
    at: &ComponentConfig,
    key: &str,
    texts: &[String],
    context: ContextKind,
) -> Result<Vec<Condition>, ConfigError> {
    texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            Condition::parse(text, Some(context)).map_err(|e| at.error_at(&format!("{key}[{i}]"), e.to_string()))
        })
        .collect()
}

impl OttlConditions {
    /// The conditions (spans, span events, metrics, data points, log records); `None` when none is written.
    pub fn new(
        [spans, span_events, metrics, data_points, logs]: [Vec<Condition>; 5],
        error_mode: ErrorMode,
    ) -> Option<Self> {
        let all = [&spans, &span_events, &metrics, &data_points, &logs];
        if all.iter().all(|c| c.is_empty()) {
            return None;
        }
        Some(OttlConditions {
            spans,
            span_events,
            metrics,
            data_points,
            logs,
            error_mode,
            errors: ErrorSink::new("filter"),
        })
    }

    /// Evaluation errors seen so far, whatever the error mode.
    pub fn error_count(&self) -> u64 {
        self.errors.errors
    }

    /// Drops the spans and span events a condition holds for.
    pub fn filter_traces(&mut self, batch: &mut Vec<ResourceSpans>) {
        if self.spans.is_empty() && self.span_events.is_empty() {
            return;
        }
        let mut check = Check { mode: self.error_mode, errors: &mut self.errors, failure: None };
        for rs in batch.iter_mut() {
            let resource = rs.resource.get_or_insert_with(Default::default);
            for ss in rs.scope_spans.iter_mut() {
                let scope = ss.scope.get_or_insert_with(Default::default);
                if !self.spans.is_empty() {
                    ss.spans.retain_mut(|span| {
                        !check.any(&self.spans, &mut SpanContext { resource: &mut *resource, scope: &mut *scope, span })
                    });
                }
                if self.span_events.is_empty() {
                    continue;
                }
                for span in ss.spans.iter_mut() {
                    let mut event_index = 0;
                    while event_index < span.events.len() {
                        let mut context = SpanEventContext {
                            resource: &mut *resource,
                            scope: &mut *scope,
                            span: &mut *span,
                            event_index,
                        };
                        if check.any(&self.span_events, &mut context) {
                            span.events.remove(event_index);
                            // Counted as an SDK counts the events it drops over its limit.
                            span.dropped_events_count = span.dropped_events_count.saturating_add(1);
                        } else {
                            event_index += 1;
                        }
                    }
                }
            }
            rs.scope_spans.retain(|s| !s.spans.is_empty());
        }
        batch.retain(|rs| !rs.scope_spans.is_empty());
        check.finish(batch, "spans");
    }

    /// Drops the metrics and data points a condition holds for.
    pub fn filter_metrics(&mut self, batch: &mut Vec<ResourceMetrics>) {
        if self.metrics.is_empty() && self.data_points.is_empty() {
            return;
        }
        let mut check = Check { mode: self.error_mode, errors: &mut self.errors, failure: None };
        let mut keep_points: Vec<bool> = Vec::new();
        for rm in batch.iter_mut() {
            let resource = rm.resource.get_or_insert_with(Default::default);
            for sm in rm.scope_metrics.iter_mut() {
                let scope = sm.scope.get_or_insert_with(Default::default);
                sm.metrics.retain_mut(|metric| {
                    let mut context =
                        MetricContext { resource: &mut *resource, scope: &mut *scope, metric: &mut *metric };
                    if !self.metrics.is_empty() && check.any(&self.metrics, &mut context) {
                        return false;
                    }
                    if self.data_points.is_empty() || metric.data.is_none() {
                        return true;
                    }
                    keep_points.clear();
                    for point_index in 0..point_count(metric) {
                        let mut context = DataPointContext {
                            resource: &mut *resource,
                            scope: &mut *scope,
                            metric: &mut *metric,
                            point_index,
                        };
                        keep_points.push(!check.any(&self.data_points, &mut context));
                    }
                    retain_points(metric, &keep_points);
                    point_count(metric) > 0
                });
            }
            rm.scope_metrics.retain(|s| !s.metrics.is_empty());
        }
        batch.retain(|rm| !rm.scope_metrics.is_empty());
        check.finish(batch, "metrics");
    }

    /// Drops the log records a condition holds for.
    pub fn filter_logs(&mut self, batch: &mut Vec<ResourceLogs>) {
        if self.logs.is_empty() {
            return;
        }
        let mut check = Check { mode: self.error_mode, errors: &mut self.errors, failure: None };
        for rl in batch.iter_mut() {
            let resource = rl.resource.get_or_insert_with(Default::default);
            for sl in rl.scope_logs.iter_mut() {
                let scope = sl.scope.get_or_insert_with(Default::default);
                sl.log_records.retain_mut(|log| {
                    !check.any(&self.logs, &mut LogContext { resource: &mut *resource, scope: &mut *scope, log })
                });
            }
            rl.scope_logs.retain(|s| !s.log_records.is_empty());
        }
        batch.retain(|rl| !rl.scope_logs.is_empty());
        check.finish(batch, "logs");
    }
}

/// Evaluates conditions under the error mode; after a propagated failure nothing more is evaluated.
struct Check<'a> {
    mode: ErrorMode,
    errors: &'a mut ErrorSink,
    failure: Option<Failure>,
}

impl Check<'_> {
    /// True when any condition holds on the item (an item is kept when one fails).
    fn any<C: EvalContext>(&mut self, conditions: &[Condition], context: &mut C) -> bool {
        if self.failure.is_some() {
            return false;
        }
        for condition in conditions {
            match condition.evaluate(context) {
                Ok(true) => return true,
                Ok(false) => {}
                Err(e) => {
                    if let Err(failure) = self.errors.handle(self.mode, condition.text(), e) {
                        self.failure = Some(failure);
                        return false;
                    }
                }
            }
        }
        false
    }

    fn finish<T>(self, batch: &mut Vec<T>, signal: &str) {
        if let Some(failure) = &self.failure {
            self.errors.report_dropped_batch(signal, failure);
            batch.clear();
        }
    }
}

/// Keeps the data points whose flag in `keep` is set.
fn retain_points(metric: &mut Metric, keep: &[bool]) {
    fn retain<P>(points: &mut Vec<P>, keep: &[bool]) {
        let mut flags = keep.iter();
        points.retain(|_| *flags.next().unwrap_or(&true));
    }
    match &mut metric.data {
        Some(Data::Gauge(g)) => retain(&mut g.data_points, keep),
        Some(Data::Sum(s)) => retain(&mut s.data_points, keep),
        Some(Data::Histogram(h)) => retain(&mut h.data_points, keep),
        Some(Data::ExponentialHistogram(h)) => retain(&mut h.data_points, keep),
        Some(Data::Summary(s)) => retain(&mut s.data_points, keep),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    //! Tables after the Collector's filter processor tests (OTTL conditions), for lambdatel's subset.
    use crate::processors::filter::FilterProcessor;
    use crate::processors::matching::test_support::*;
    use crate::ProcessorFactory;
    use lambdatel_pipeline::{
        logs::{LogRecord, ResourceLogs, ScopeLogs},
        metrics::{
            metric::Data, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
        },
        resource::Resource,
        trace::{span::Event, ResourceSpans, ScopeSpans, Span},
        Processor,
    };

    fn processor(yaml: &str) -> FilterProcessor {
        FilterProcessor::from_config(&component("processors.filter", yaml)).unwrap_or_else(|e| panic!("{yaml}: {e}"))
    }

    fn resource() -> Option<Resource> {
        Some(Resource { attributes: attrs(&[("host.name", "localhost")]), ..Default::default() })
    }

    fn traces() -> Vec<ResourceSpans> {
        let span = |name: &str, kind: i32, method: &str| Span {
            name: name.into(),
            kind,
            attributes: attrs(&[("http.method", method)]),
            events: vec![
                Event { name: "spanEventA".into(), ..Default::default() },
                Event { name: "spanEventB".into(), ..Default::default() },
            ],
            ..Default::default()
        };
        vec![ResourceSpans {
            resource: resource(),
            scope_spans: vec![ScopeSpans {
                spans: vec![span("operationA", 1, "get"), span("operationB", 2, "post")],
                ..Default::default()
            }],
            ..Default::default()
        }]
    }

    /// A span name left, with the names of its events.
    type SpanLeft = (String, Vec<String>);

    fn spans_left(yaml: &str) -> Vec<SpanLeft> {
        let mut batch = traces();
        processor(yaml).process_traces(&mut batch);
        batch
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
            .map(|s| (s.name.clone(), s.events.iter().map(|e| e.name.clone()).collect()))
            .collect()
    }

    #[test]
    fn span_and_span_event_conditions() {
        let both = || vec!["spanEventA".to_string(), "spanEventB".to_string()];
        let cases: Vec<(&str, Vec<SpanLeft>)> = vec![
            (r#"span: ['name == "operationA"']"#, vec![("operationB".into(), both())]),
            (r#"span: ['attributes["http.method"] == "post"']"#, vec![("operationA".into(), both())]),
            (r#"span: ['resource.attributes["host.name"] == "localhost"']"#, vec![]),
            (r#"span: ['kind == SPAN_KIND_SERVER']"#, vec![("operationA".into(), both())]),
            (r#"span: ['IsMatch(name, "operation[AB]")']"#, vec![]),
            (r#"span: ['name == "x"', 'name == "operationB"']"#, vec![("operationA".into(), both())]),
            (
                r#"span: ['attributes["missing"] != nil']"#,
                vec![("operationA".into(), both()), ("operationB".into(), both())],
            ),
            (
                r#"spanevent: ['name == "spanEventA" and span.name == "operationB"']"#,
                vec![("operationA".into(), both()), ("operationB".into(), vec!["spanEventB".into()])],
            ),
            (
                r#"spanevent: ['IsMatch(name, "spanEvent.*")']"#,
                vec![("operationA".into(), vec![]), ("operationB".into(), vec![])],
            ),
        ];
        for (traces_yaml, want) in cases {
            assert_eq!(spans_left(&format!("traces: {{{traces_yaml}}}")), want, "{traces_yaml}");
        }
        let mut batch = traces();
        processor(r#"traces: {spanevent: ['name == "spanEventA"']}"#).process_traces(&mut batch);
        assert_eq!(batch[0].scope_spans[0].spans[0].dropped_events_count, 1, "dropped events are counted");
    }

    fn metrics() -> Vec<ResourceMetrics> {
        let point = |attr: &str, value: i64| NumberDataPoint {
            attributes: attrs(&[("attr1", attr)]),
            value: Some(number_data_point::Value::AsInt(value)),
            ..Default::default()
        };
        vec![ResourceMetrics {
            resource: resource(),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![
                    Metric {
                        name: "operationA".into(),
                        data: Some(Data::Gauge(Gauge { data_points: vec![point("test1", 1), point("test2", 2)] })),
                        ..Default::default()
                    },
                    Metric {
                        name: "operationB".into(),
                        data: Some(Data::Sum(Sum { data_points: vec![point("test1", 3)], ..Default::default() })),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }]
    }

    /// A metric name left, with its points' values.
    type MetricLeft = (String, Vec<i64>);

    fn metrics_left(yaml: &str) -> Vec<MetricLeft> {
        let mut batch = metrics();
        processor(yaml).process_metrics(&mut batch);
        let values = |points: &[NumberDataPoint]| {
            points
                .iter()
                .map(|p| match p.value {
                    Some(number_data_point::Value::AsInt(v)) => v,
                    _ => unreachable!("the test points are integers"),
                })
                .collect::<Vec<_>>()
        };
        batch
            .iter()
            .flat_map(|rm| &rm.scope_metrics)
            .flat_map(|sm| &sm.metrics)
            .map(|m| {
                let points = match &m.data {
                    Some(Data::Gauge(g)) => values(&g.data_points),
                    Some(Data::Sum(s)) => values(&s.data_points),
                    _ => unreachable!("the test metrics are gauges and sums"),
                };
                (m.name.clone(), points)
            })
            .collect()
    }

    #[test]
    fn metric_and_datapoint_conditions() {
        let cases: Vec<(&str, Vec<MetricLeft>)> = vec![
            (r#"metric: ['name == "operationA"']"#, vec![("operationB".into(), vec![3])]),
            (r#"metric: ['type == METRIC_DATA_TYPE_SUM']"#, vec![("operationA".into(), vec![1, 2])]),
            (
                r#"datapoint: ['attributes["attr1"] == "test2"']"#,
                vec![("operationA".into(), vec![1]), ("operationB".into(), vec![3])],
            ),
            // A metric left without points is dropped.
            (r#"datapoint: ['attributes["attr1"] == "test1"']"#, vec![("operationA".into(), vec![2])]),
            (r#"datapoint: ['metric.name == "operationA"']"#, vec![("operationB".into(), vec![3])]),
            (
                r#"metric: ['name == "operationB"'], datapoint: ['value_int == 1']"#,
                vec![("operationA".into(), vec![2])],
            ),
        ];
        for (metrics_yaml, want) in cases {
            assert_eq!(metrics_left(&format!("metrics: {{{metrics_yaml}}}")), want, "{metrics_yaml}");
        }
    }

    fn logs() -> Vec<ResourceLogs> {
        let record =
            |body: &str, severity: i32| LogRecord { body: s(body), severity_number: severity, ..Default::default() };
        vec![ResourceLogs {
            resource: resource(),
            scope_logs: vec![ScopeLogs {
                log_records: vec![record("operationA", 5), record("operationB", 13), record("short", 17)],
                ..Default::default()
            }],
            ..Default::default()
        }]
    }

    fn bodies_left(filter: &mut FilterProcessor) -> Vec<String> {
        let mut batch = logs();
        filter.process_logs(&mut batch);
        batch
            .iter()
            .flat_map(|rl| &rl.scope_logs)
            .flat_map(|sl| &sl.log_records)
            .map(|r| match r.body.as_ref().and_then(|b| b.value.as_ref()) {
                Some(lambdatel_pipeline::common::any_value::Value::StringValue(s)) => s.clone(),
                _ => unreachable!("the test bodies are strings"),
            })
            .collect()
    }

    #[test]
    fn log_record_conditions_and_error_modes() {
        let cases: Vec<(&str, Vec<&str>)> = vec![
            (r#"'body == "operationA"'"#, vec!["operationB", "short"]),
            ("'severity_number < SEVERITY_NUMBER_WARN'", vec!["operationB", "short"]),
            (r#"'IsMatch(body, "^operation")'"#, vec!["short"]),
            (r#"'resource.attributes["host.name"] == "otherhost"'"#, vec!["operationA", "operationB", "short"]),
        ];
        for (condition, want) in cases {
            let mut filter = processor(&format!("logs: {{log_record: [{condition}]}}"));
            assert_eq!(bodies_left(&mut filter), want, "{condition}");
        }
        // Substring past the end of "short" fails: ignore and silent keep that record, propagate drops all.
        let failing = r#"logs: {log_record: ['Substring(body, 0, 7) == "operati"']}"#;
        for (mode, want) in [("ignore", vec!["short"]), ("silent", vec!["short"]), ("propagate", vec![])] {
            let mut filter = processor(&format!("error_mode: {mode}\n{failing}"));
            assert_eq!(bodies_left(&mut filter), want, "{mode}");
            assert_eq!(filter.error_count(), 1, "{mode}");
        }
    }
}
