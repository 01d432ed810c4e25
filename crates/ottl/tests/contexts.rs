//! Every context's paths, read and written on real OTLP items, and the hierarchy (a span statement
//! reaching its resource and scope, a data point its metric).

mod common;

use common::*;
use lambdatel_ottl::{
    Condition, ContextKind, DataPointContext, EvalError, LogContext, MetricContext, ResourceContext, ScopeContext,
    SpanContext, SpanEventContext, Statement,
};
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, Span, Status};

fn statement(text: &str, context: ContextKind) -> Statement {
    Statement::parse(text, Some(context)).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn span_paths() {
    let (mut resource, mut scope) = (Resource::default(), InstrumentationScope::default());
    let mut span = Span { name: "GET /users/42".into(), ..Default::default() };
    let statements = [
        r#"set(kind, SPAN_KIND_SERVER)"#,
        r#"set(status.code, STATUS_CODE_ERROR)"#,
        r#"set(status.message, "failed")"#,
        r#"set(trace_id, TraceID(0x0102030405060708090a0b0c0d0e0f10))"#,
        r#"set(span_id.string, "a1a2a3a4a5a6a7a8")"#,
        r#"set(parent_span_id, SpanID(0x0000000000000001))"#,
        r#"set(start_time_unix_nano, 1000)"#,
        r#"set(end_time_unix_nano, 3000)"#,
        r#"set(trace_state, "k=v")"#,
        r#"set(dropped_attributes_count, 3)"#,
        r#"replace_pattern(name, "/\\d+", "/{id}")"#,
        r#"set(attributes["copied"], Concat([trace_id.string, span_id.string], "-"))"#,
        r#"set(resource.attributes["service.name"], "api")"#,
        r#"set(scope.name, "lib")"#,
        r#"set(instrumentation_scope.version, "1.0")"#,
        // Wrong types for typed fields are ignored, as the Collector does.
        r#"set(kind, "SERVER")"#,
        r#"set(name, 5)"#,
    ];
    for text in statements {
        let mut context = SpanContext { resource: &mut resource, scope: &mut scope, span: &mut span };
        assert_eq!(statement(text, ContextKind::Span).execute(&mut context), Ok(true), "{text}");
    }
    let expected = Span {
        name: "GET /users/{id}".into(),
        kind: span::SpanKind::Server as i32,
        status: Some(Status { code: 2, message: "failed".into() }),
        trace_id: (1..=16).collect(),
        span_id: vec![0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8],
        parent_span_id: vec![0, 0, 0, 0, 0, 0, 0, 1],
        start_time_unix_nano: 1000,
        end_time_unix_nano: 3000,
        trace_state: "k=v".into(),
        dropped_attributes_count: 3,
        attributes: attrs(vec![("copied", s("0102030405060708090a0b0c0d0e0f10-a1a2a3a4a5a6a7a8"))]),
        ..Default::default()
    };
    assert_eq!(span, expected);
    assert_eq!(pairs(&resource.attributes), expect_pairs(vec![("service.name", s("api"))]));
    assert_eq!((scope.name.as_str(), scope.version.as_str()), ("lib", "1.0"));

    let mut context = SpanContext { resource: &mut resource, scope: &mut scope, span: &mut span };
    let error = statement(r#"set(trace_id.string, "xyz")"#, ContextKind::Span).execute(&mut context).unwrap_err();
    assert_eq!(error.to_string(), "`set`: `xyz` is not a 16-byte hex id");
}

#[test]
fn span_event_paths_reach_the_span() {
    let (mut resource, mut scope) = (Resource::default(), InstrumentationScope::default());
    let mut span = Span {
        name: "parent".into(),
        events: vec![
            span::Event { name: "first".into(), ..Default::default() },
            span::Event { name: "exception".into(), time_unix_nano: 5, ..Default::default() },
        ],
        ..Default::default()
    };
    let set_from_span =
        statement(r#"set(attributes["span"], span.name) where name == "exception""#, ContextKind::SpanEvent);
    let rename = statement(r#"set(name, "renamed") where time_unix_nano == 5"#, ContextKind::SpanEvent);
    let mark_span =
        statement(r#"set(span.attributes["had_exception"], true) where name == "renamed""#, ContextKind::SpanEvent);
    let mut ran = Vec::new();
    for event_index in 0..2 {
        for statement in [&set_from_span, &rename, &mark_span] {
            let mut context =
                SpanEventContext { resource: &mut resource, scope: &mut scope, span: &mut span, event_index };
            ran.push(statement.execute(&mut context).unwrap());
        }
    }
    assert_eq!(ran, [false, false, false, true, true, true]);
    assert_eq!(span.events[0].name, "first");
    assert!(span.events[0].attributes.is_empty());
    assert_eq!(span.events[1].name, "renamed");
    assert_eq!(pairs(&span.events[1].attributes), expect_pairs(vec![("span", s("parent"))]));
    assert_eq!(pairs(&span.attributes), expect_pairs(vec![("had_exception", b(true))]));

    let mut context = SpanEventContext { resource: &mut resource, scope: &mut scope, span: &mut span, event_index: 7 };
    let error = statement(r#"set(name, "x")"#, ContextKind::SpanEvent).execute(&mut context).unwrap_err();
    assert_eq!(error.to_string(), "`path`: `name` is not available on this item");
}

#[test]
fn log_paths() {
    let (mut resource, mut scope) = (Resource::default(), InstrumentationScope::default());
    let mut log = LogRecord {
        body: Some(map(vec![("level", s("warn")), ("msg", s("disk full")), ("ctx", map(vec![("id", i(7))]))])),
        ..Default::default()
    };
    let statements = [
        r#"set(severity_text, ToUpperCase(body["level"]))"#,
        r#"set(severity_number, SEVERITY_NUMBER_WARN) where severity_text == "WARN""#,
        r#"set(attributes["id"], body["ctx"]["id"])"#,
        r#"set(attributes["json"], body.string)"#,
        r#"set(body["ctx"]["seen"], true)"#,
        r#"set(time_unix_nano, 10)"#,
        r#"set(observed_time_unix_nano, 20)"#,
        r#"set(trace_id, TraceID(0x0102030405060708090a0b0c0d0e0f10))"#,
        r#"set(span_id.string, "0102030405060708")"#,
        r#"set(flags, 1)"#,
        r#"set(attributes["service"], resource.attributes["service.name"])"#,
    ];
    resource.attributes = attrs(vec![("service.name", s("api"))]);
    for text in statements {
        let mut context = LogContext { resource: &mut resource, scope: &mut scope, log: &mut log };
        assert_eq!(statement(text, ContextKind::Log).execute(&mut context), Ok(true), "{text}");
    }
    assert_eq!(log.severity_text, "WARN");
    assert_eq!(log.severity_number, 13);
    assert_eq!((log.time_unix_nano, log.observed_time_unix_nano, log.flags), (10, 20, 1));
    assert_eq!(log.trace_id, (1..=16).collect::<Vec<u8>>());
    assert_eq!(log.span_id, (1..=8).collect::<Vec<u8>>());
    assert_eq!(
        log.body,
        Some(map(vec![
            ("level", s("warn")),
            ("msg", s("disk full")),
            ("ctx", map(vec![("id", i(7)), ("seen", b(true))])),
        ]))
    );
    assert_eq!(
        pairs(&log.attributes),
        expect_pairs(vec![
            ("id", i(7)),
            ("json", s(r#"{"ctx":{"id":7},"level":"warn","msg":"disk full"}"#)),
            ("service", s("api")),
        ])
    );

    // A string body: body.string is the body; a bytes body reads as base64, as pdata's AsString.
    for (body, expected) in [
        (s("plain"), "plain"),
        (i(5), "5"),
        (d(1.5), "1.5"),
        (b(true), "true"),
        (list(vec![s("a"), i(1)]), r#"["a",1]"#),
        (bytes(b"hi!"), "aGkh"),
        (bytes(b"a"), "YQ=="),
        (opentelemetry_proto::tonic::common::v1::AnyValue::default(), ""),
    ] {
        let mut log = LogRecord { body: Some(body), ..Default::default() };
        let mut context = LogContext { resource: &mut resource, scope: &mut scope, log: &mut log };
        statement(r#"set(attributes["b"], body.string)"#, ContextKind::Log).execute(&mut context).unwrap();
        assert_eq!(pairs(&log.attributes), expect_pairs(vec![("b", s(expected))]));
    }
}

fn gauge(points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: "requests".into(),
        unit: "1".into(),
        data: Some(metric::Data::Gauge(Gauge { data_points: points })),
        ..Default::default()
    }
}

#[test]
fn metric_and_datapoint_paths() {
    let (mut resource, mut scope) = (Resource::default(), InstrumentationScope::default());
    let mut metric = gauge(vec![
        NumberDataPoint { value: Some(number_data_point::Value::AsInt(5)), ..Default::default() },
        NumberDataPoint { value: Some(number_data_point::Value::AsDouble(2000.5)), ..Default::default() },
    ]);
    for text in [
        r#"set(description, Concat([name, unit], " in "))"#,
        r#"set(unit, "{request}") where type == METRIC_DATA_TYPE_GAUGE"#,
    ] {
        let mut context = MetricContext { resource: &mut resource, scope: &mut scope, metric: &mut metric };
        assert_eq!(statement(text, ContextKind::Metric).execute(&mut context), Ok(true), "{text}");
    }
    assert_eq!((metric.description.as_str(), metric.unit.as_str()), ("requests in 1", "{request}"));

    let statements = [
        statement(r#"set(attributes["metric"], metric.name)"#, ContextKind::DataPoint),
        statement(r#"set(value_int, 6) where value_int == 5"#, ContextKind::DataPoint),
        statement(r#"set(value_double, 1000.0) where value_double > 1000.0"#, ContextKind::DataPoint),
        statement(
            r#"set(attributes["big"], true) where value_int > 4 or value_double >= 1000"#,
            ContextKind::DataPoint,
        ),
        statement(r#"set(time_unix_nano, 99)"#, ContextKind::DataPoint),
        statement(r#"set(start_time_unix_nano, 9)"#, ContextKind::DataPoint),
    ];
    for point_index in 0..2 {
        for statement in &statements {
            let mut context =
                DataPointContext { resource: &mut resource, scope: &mut scope, metric: &mut metric, point_index };
            statement.execute(&mut context).unwrap_or_else(|e| panic!("{}: {e}", statement.text()));
        }
    }
    let Some(metric::Data::Gauge(gauge)) = &metric.data else { panic!("gauge") };
    let expected_attrs = expect_pairs(vec![("metric", s("requests")), ("big", b(true))]);
    assert_eq!(gauge.data_points[0].value, Some(number_data_point::Value::AsInt(6)));
    assert_eq!(gauge.data_points[1].value, Some(number_data_point::Value::AsDouble(1000.0)));
    for point in &gauge.data_points {
        assert_eq!(pairs(&point.attributes), expected_attrs);
        assert_eq!((point.start_time_unix_nano, point.time_unix_nano), (9, 99));
    }

    let mut histogram = Metric {
        name: "latency".into(),
        data: Some(metric::Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint { count: 4, sum: Some(10.0), ..Default::default() }],
            aggregation_temporality: 1,
        })),
        ..Default::default()
    };
    let condition = Condition::parse(
        "count == 4 and sum > 9.5 and metric.type == METRIC_DATA_TYPE_HISTOGRAM",
        Some(ContextKind::DataPoint),
    )
    .unwrap();
    let mut context =
        DataPointContext { resource: &mut resource, scope: &mut scope, metric: &mut histogram, point_index: 0 };
    assert_eq!(condition.evaluate(&mut context), Ok(true));
    // value_int of a histogram point reads pdata's zero value.
    let condition = Condition::parse("value_int == 0", Some(ContextKind::DataPoint)).unwrap();
    assert_eq!(condition.evaluate(&mut context), Ok(true));
}

#[test]
fn resource_and_scope_contexts() {
    let mut resource =
        Resource { attributes: attrs(vec![("host.name", s("h")), ("secret", s("x"))]), ..Default::default() };
    let mut scope = InstrumentationScope { name: "lib".into(), ..Default::default() };
    let mut context = ResourceContext { resource: &mut resource };
    statement(r#"delete_key(attributes, "secret")"#, ContextKind::Resource).execute(&mut context).unwrap();
    statement(r#"set(dropped_attributes_count, 1)"#, ContextKind::Resource).execute(&mut context).unwrap();
    assert_eq!(pairs(&resource.attributes), expect_pairs(vec![("host.name", s("h"))]));
    assert_eq!(resource.dropped_attributes_count, 1);

    let mut context = ScopeContext { resource: &mut resource, scope: &mut scope };
    statement(
        r#"set(version, "2") where name == "lib" and resource.attributes["host.name"] == "h""#,
        ContextKind::Scope,
    )
    .execute(&mut context)
    .unwrap();
    statement(r#"set(attributes["k"], "v")"#, ContextKind::Scope).execute(&mut context).unwrap();
    assert_eq!(scope.version, "2");
    assert_eq!(pairs(&scope.attributes), expect_pairs(vec![("k", s("v"))]));
}

#[test]
fn a_statement_refuses_another_context() {
    let (mut resource, mut scope) = (Resource::default(), InstrumentationScope::default());
    let mut log = LogRecord::default();
    let mut context = LogContext { resource: &mut resource, scope: &mut scope, log: &mut log };
    let error = statement(r#"set(name, "x")"#, ContextKind::Span).execute(&mut context).unwrap_err();
    assert_eq!(error, EvalError::WrongContext { statement: "set", given: "log" });
    let condition = Condition::parse(r#"name == "x""#, Some(ContextKind::Span)).unwrap();
    assert_eq!(
        condition.evaluate(&mut context).unwrap_err().to_string(),
        "a `condition` statement was run on a `log` context"
    );
}

#[test]
fn a_failing_condition_stops_the_statement() {
    let mut log = log_with(vec![("n", i(1))]);
    let error = run_log(r#"set(attributes["x"], 1) where ToLowerCase(attributes["n"]) == "1""#, &mut log).unwrap_err();
    assert_eq!(error.to_string(), "`ToLowerCase`: expected string, got int");
    let error = run_log(r#"set(attributes["x"], 1) where Len(attributes["missing"]) > 0"#, &mut log).unwrap_err();
    assert_eq!(error.to_string(), "`Len`: expected string, map or slice, got nil");
    let error = run_log(r#"set(attributes["x"], 1) where Int(attributes["n"])"#, &mut log).unwrap_err();
    assert_eq!(error.to_string(), "`Int`: expected bool, got int");
    assert_eq!(pairs(&log.attributes), expect_pairs(vec![("n", i(1))]));
}

#[test]
fn parsed_statements_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Statement>();
    assert_send_sync::<Condition>();
    assert_send_sync::<lambdatel_ottl::ParseError>();
    assert_send_sync::<EvalError>();
}
