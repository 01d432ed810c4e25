//! Tables after the Collector's transform processor tests (traces, metrics, logs) and its
//! testdata/config.yaml, for lambdatel's OTTL subset.

use super::*;
use crate::processors::matching::test_support::*;
use lambdatel_pipeline::{
    common::{any_value::Value, AnyValue, ArrayValue},
    logs::{LogRecord, ScopeLogs},
    metrics::{metric::Data, Gauge, Metric, NumberDataPoint, ScopeMetrics},
    resource::Resource,
    trace::{span::Event, status::StatusCode, ScopeSpans, Span, Status},
};

fn processor(yaml: &str) -> Result<TransformProcessor, String> {
    TransformProcessor::from_config(&component("processors.transform", yaml)).map_err(|e| e.to_string())
}

fn resource() -> Option<Resource> {
    Some(Resource { attributes: attrs(&[("host.name", "localhost")]), ..Default::default() })
}

fn span(name: &str, flags: &str, kind: i32) -> Span {
    Span {
        name: name.into(),
        kind,
        trace_id: vec![1; 16],
        span_id: vec![name.len() as u8; 8],
        start_time_unix_nano: 100,
        end_time_unix_nano: 500,
        attributes: vec![
            kv("http.method", s("get")),
            kv("http.path", s("/health")),
            kv("http.url", s("http://localhost/health")),
            kv("flags", s(flags)),
        ],
        events: vec![Event { name: "exception".into(), attributes: attrs(&[("k", "v")]), ..Default::default() }],
        ..Default::default()
    }
}

fn traces() -> Vec<ResourceSpans> {
    vec![ResourceSpans {
        resource: resource(),
        scope_spans: vec![ScopeSpans {
            scope: Some(Default::default()),
            spans: vec![span("operationA", "A|B|C", 1), span("operationB", "C|D", 2)],
            ..Default::default()
        }],
        ..Default::default()
    }]
}

fn spans_of(batch: &mut [ResourceSpans]) -> &mut Vec<Span> {
    &mut batch[0].scope_spans[0].spans
}

fn list(items: &[&str]) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(Value::ArrayValue(ArrayValue { values: items.iter().map(|v| s(v).unwrap()).collect() })),
    })
}

fn set_attr(attributes: &mut Vec<KeyValue>, key: &str, value: Option<AnyValue>) {
    match attributes.iter_mut().find(|a| a.key == key) {
        Some(a) => a.value = value,
        None => attributes.push(kv(key, value)),
    }
}

use lambdatel_pipeline::common::KeyValue;

type TraceEdit = fn(&mut Vec<ResourceSpans>);

#[test]
fn trace_statements_table() {
    let cases: Vec<(&str, TraceEdit)> = vec![
        (r#"set(attributes["test"], "pass") where name == "operationA""#, |t| {
            set_attr(&mut spans_of(t)[0].attributes, "test", s("pass"))
        }),
        (r#"set(attributes["test"], "pass") where resource.attributes["host.name"] == "localhost""#, |t| {
            for span in spans_of(t) {
                set_attr(&mut span.attributes, "test", s("pass"));
            }
        }),
        (r#"keep_keys(attributes, ["http.method"]) where name == "operationA""#, |t| {
            spans_of(t)[0].attributes.retain(|a| a.key == "http.method")
        }),
        (r#"set(status.code, 1) where attributes["http.path"] == "/health""#, |t| {
            for span in spans_of(t) {
                span.status = Some(Status { code: StatusCode::Ok as i32, ..Default::default() });
            }
        }),
        (r#"replace_pattern(attributes["http.method"], "get", "post")"#, |t| {
            for span in spans_of(t) {
                set_attr(&mut span.attributes, "http.method", s("post"));
            }
        }),
        (r#"replace_all_patterns(attributes, "value", "get", "post")"#, |t| {
            for span in spans_of(t) {
                set_attr(&mut span.attributes, "http.method", s("post"));
            }
        }),
        (r#"replace_all_patterns(attributes, "key", "http.url", "url")"#, |t| {
            for span in spans_of(t) {
                span.attributes.iter_mut().filter(|a| a.key == "http.url").for_each(|a| a.key = "url".into());
            }
        }),
        (r#"delete_key(attributes, "http.url") where name == "operationA""#, |t| {
            spans_of(t)[0].attributes.retain(|a| a.key != "http.url")
        }),
        (r#"delete_matching_keys(attributes, "http.*t.*") where name == "operationB""#, |t| {
            spans_of(t)[1].attributes.retain(|a| a.key != "http.method" && a.key != "http.path")
        }),
        (r#"set(attributes["test"], "pass") where kind == SPAN_KIND_INTERNAL"#, |t| {
            set_attr(&mut spans_of(t)[0].attributes, "test", s("pass"))
        }),
        (r#"set(attributes["test"], "pass") where IsMatch(name, "operation[AC]")"#, |t| {
            set_attr(&mut spans_of(t)[0].attributes, "test", s("pass"))
        }),
        (r#"set(attributes["test"], Concat([name, attributes["flags"]], ":"))"#, |t| {
            set_attr(&mut spans_of(t)[0].attributes, "test", s("operationA:A|B|C"));
            set_attr(&mut spans_of(t)[1].attributes, "test", s("operationB:C|D"));
        }),
        (r#"set(attributes["test"], Split(attributes["flags"], "|"))"#, |t| {
            set_attr(&mut spans_of(t)[0].attributes, "test", list(&["A", "B", "C"]));
            set_attr(&mut spans_of(t)[1].attributes, "test", list(&["C", "D"]));
        }),
        (r#"set(attributes["test"], ToUpperCase(name)) where name == "operationB""#, |t| {
            set_attr(&mut spans_of(t)[1].attributes, "test", s("OPERATIONB"))
        }),
        (r#"limit(attributes, 2, ["flags"]) where name == "operationA""#, |t| {
            let span = &mut spans_of(t)[0];
            span.attributes.retain(|a| a.key == "http.method" || a.key == "flags");
        }),
        (r#"truncate_all(attributes, 3) where name == "operationB""#, |t| {
            for (key, value) in [("http.method", "get"), ("http.path", "/he"), ("http.url", "htt"), ("flags", "C|D")] {
                set_attr(&mut spans_of(t)[1].attributes, key, s(value));
            }
        }),
        (r#"set(name, "bear") where attributes["http.path"] == "/animal""#, |_| {}),
        (
            r#"set(span.attributes["entry"], true) where span.start_time_unix_nano < 200 and not (span.kind == SPAN_KIND_SERVER)"#,
            |t| {
                spans_of(t)[0].attributes.push(KeyValue {
                    key: "entry".into(),
                    value: Some(AnyValue { value: Some(Value::BoolValue(true)) }),
                    ..Default::default()
                })
            },
        ),
    ];
    for (statement, edit) in cases {
        let mut p = processor(&format!("trace_statements:\n  - context: span\n    statements:\n      - '{statement}'"))
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
        let mut got = traces();
        p.process_traces(&mut got);
        let mut want = traces();
        edit(&mut want);
        assert_eq!(got, want, "{statement}");
        assert_eq!(p.error_count(), 0, "{statement}");
    }
}

#[test]
fn resource_scope_and_span_event_contexts_and_the_inferred_form() {
    let mut p = processor(
        r#"
trace_statements:
  - context: resource
    statements: ['set(attributes["name"], "bear")']
  - context: scope
    statements: ['set(name, "lib")']
  - context: spanevent
    conditions: ['name == "exception"']
    statements: ['set(attributes["seen"], span.name)']
  - 'set(span.attributes["svc"], resource.attributes["name"]) where span.name == "operationB"'
"#,
    )
    .unwrap();
    let mut got = traces();
    p.process_traces(&mut got);
    let mut want = traces();
    set_attr(&mut want[0].resource.as_mut().unwrap().attributes, "name", s("bear"));
    want[0].scope_spans[0].scope.as_mut().unwrap().name = "lib".into();
    for (span, name) in spans_of(&mut want).iter_mut().zip(["operationA", "operationB"]) {
        set_attr(&mut span.events[0].attributes, "seen", s(name));
    }
    set_attr(&mut spans_of(&mut want)[1].attributes, "svc", s("bear"));
    assert_eq!(got, want);
}

fn logs() -> Vec<ResourceLogs> {
    let record = |body: &str, severity: i32, path: &str| LogRecord {
        body: s(body),
        severity_number: severity,
        severity_text: "info".into(),
        attributes: attrs(&[("http.method", "get"), ("http.path", path), ("flags", "A|B|C")]),
        ..Default::default()
    };
    vec![ResourceLogs {
        resource: resource(),
        scope_logs: vec![ScopeLogs {
            scope: Some(Default::default()),
            log_records: vec![record("operationA", 9, "/health"), record("operationB", 17, "/animal")],
            ..Default::default()
        }],
        ..Default::default()
    }]
}

type LogEdit = fn(&mut Vec<LogRecord>);

#[test]
fn log_statements_table() {
    let cases: Vec<(&str, LogEdit)> = vec![
        (r#"set(body, "bear") where attributes["http.path"] == "/animal""#, |l| l[1].body = s("bear")),
        (r#"keep_keys(attributes, ["http.method", "http.path"])"#, |l| {
            l.iter_mut().for_each(|r| r.attributes.retain(|a| a.key != "flags"))
        }),
        (r#"set(severity_text, "ERROR") where severity_number >= SEVERITY_NUMBER_ERROR"#, |l| {
            l[1].severity_text = "ERROR".into()
        }),
        (r#"set(attributes["test"], "pass") where body == "operationA""#, |l| {
            set_attr(&mut l[0].attributes, "test", s("pass"))
        }),
        (r#"replace_match(attributes["http.path"], "/anim*", "/redacted")"#, |l| {
            set_attr(&mut l[1].attributes, "http.path", s("/redacted"))
        }),
        (r#"set(attributes["n"], Len(body)) where IsString(body)"#, |l| {
            l.iter_mut().for_each(|r| set_attr(&mut r.attributes, "n", i(10)))
        }),
        (r#"set(log.attributes["test"], "pass") where log.severity_number < 10"#, |l| {
            set_attr(&mut l[0].attributes, "test", s("pass"))
        }),
    ];
    for (statement, edit) in cases {
        let mut p = processor(&format!("log_statements:\n  - context: log\n    statements:\n      - '{statement}'"))
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
        let mut got = logs();
        p.process_logs(&mut got);
        let mut want = logs();
        edit(&mut want[0].scope_logs[0].log_records);
        assert_eq!(got, want, "{statement}");
    }
}

fn metrics() -> Vec<ResourceMetrics> {
    let point = |path: &str, value: i64| NumberDataPoint {
        attributes: attrs(&[("http.method", "get"), ("http.path", path)]),
        value: Some(lambdatel_pipeline::metrics::number_data_point::Value::AsInt(value)),
        ..Default::default()
    };
    vec![ResourceMetrics {
        resource: resource(),
        scope_metrics: vec![ScopeMetrics {
            scope: Some(Default::default()),
            metrics: vec![Metric {
                name: "operationA".into(),
                data: Some(Data::Gauge(Gauge { data_points: vec![point("/health", 1), point("/animal", 2)] })),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }]
}

fn points_of(batch: &mut [ResourceMetrics]) -> &mut Vec<NumberDataPoint> {
    match &mut batch[0].scope_metrics[0].metrics[0].data {
        Some(Data::Gauge(g)) => &mut g.data_points,
        _ => unreachable!("the test metric is a gauge"),
    }
}

#[test]
fn metric_and_datapoint_statements() {
    // The Collector's testdata/config.yaml metric block.
    let mut p = processor(
        r#"
metric_statements:
  - context: datapoint
    statements:
      - set(metric.description, "bear") where attributes["http.path"] == "/animal"
      - keep_keys(attributes, ["http.path"])
  - context: metric
    statements: ['set(unit, "s") where name == "operationA"']
"#,
    )
    .unwrap();
    let mut got = metrics();
    p.process_metrics(&mut got);
    let mut want = metrics();
    want[0].scope_metrics[0].metrics[0].description = "bear".into();
    want[0].scope_metrics[0].metrics[0].unit = "s".into();
    points_of(&mut want).iter_mut().for_each(|p| p.attributes.retain(|a| a.key == "http.path"));
    assert_eq!(got, want);
}

#[test]
fn error_modes_ignore_and_silent_go_on_and_propagate_drops_the_batch() {
    // Substring past the end fails on every record; the next statement still runs unless propagated.
    let statements = r#"
    statements:
      - 'set(attributes["cut"], Substring(body, 5, 100))'
      - 'set(attributes["after"], "ran")'"#;
    for (mode, want_after) in [("ignore", true), ("silent", true), ("propagate", false)] {
        let mut p = processor(&format!("error_mode: {mode}\nlog_statements:\n  - context: log{statements}")).unwrap();
        let mut got = logs();
        p.process_logs(&mut got);
        assert_eq!(p.error_count(), if want_after { 2 } else { 1 }, "{mode}");
        if want_after {
            let mut want = logs();
            want[0].scope_logs[0].log_records.iter_mut().for_each(|r| set_attr(&mut r.attributes, "after", s("ran")));
            assert_eq!(got, want, "{mode}");
        } else {
            assert!(got.is_empty(), "{mode}: the batch is dropped");
        }
    }
    // A block's own error_mode overrides the processor's.
    let mut p = processor(&format!(
        "error_mode: propagate\nlog_statements:\n  - context: log\n    error_mode: silent{statements}"
    ))
    .unwrap();
    let mut got = logs();
    p.process_logs(&mut got);
    assert_eq!(got[0].scope_logs[0].log_records.len(), 2);
}

#[test]
fn statements_outside_the_subset_fail_at_start_up_with_their_name_and_line() {
    let cases = [
        (
            "trace_statements:\n  - context: span\n    statements:\n      - set(name, \"ok\")\n      - bad_function(attributes)\n",
            "<config>:5:9: processors.transform.trace_statements[0].statements[1]: unsupported function `bad_function` in `bad_function(attributes)`",
        ),
        (
            "log_statements:\n  - set(log.body, \"x\")\n  - 'set(log.attributes[\"a\"], log.nonexistent)'\n",
            "<config>:3:5: processors.transform.log_statements[1]: unsupported path `log.nonexistent` in context `log` in `set(log.attributes[\"a\"], log.nonexistent)`",
        ),
        (
            "trace_statements:\n  - context: span\n    statements:\n      - 'set(name, \"bear\" where attributes[\"x\"] == 1'\n",
            "processors.transform.trace_statements[0].statements[0]: syntax error",
        ),
        (
            "log_statements:\n  - context: span\n    statements: ['set(name, \"x\")']\n",
            "<config>:2:5: processors.transform.log_statements[0].context: context `span` cannot be used in log_statements (use resource, scope, log)",
        ),
        (
            "metric_statements:\n  - context: datapoint\n    statements: []\n",
            "processors.transform.metric_statements[0].statements: a context block needs at least one statement",
        ),
        ("error_mode: ignore\n", "needs at least one of trace_statements, metric_statements or log_statements"),
        (
            "log_statements:\n  - 'set(attributes[\"a\"], \"b\")'\n",
            "processors.transform.log_statements[0]: cannot infer the context: path `attributes[\"a\"]` has no context prefix",
        ),
    ];
    for (yaml, want) in cases {
        let error = processor(yaml).err().unwrap_or_else(|| panic!("{yaml} loads"));
        assert!(error.contains(want), "{yaml}\n got: {error}\nwant: {want}");
    }
}
