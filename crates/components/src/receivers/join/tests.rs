use lambdatel_pipeline::Signals;
use opentelemetry_proto::tonic::{
    common::v1::{any_value::Value as Av, AnyValue, KeyValue},
    logs::v1::{LogRecord, ResourceLogs, ScopeLogs},
    trace::v1::{span::SpanKind, status::StatusCode, ResourceSpans, ScopeSpans, Span, Status},
};

use super::*;
use crate::runtime_proxy::trigger::extract_trigger;

const PLATFORM_TRACE: [u8; 16] = [1; 16];
const SDK_TRACE: [u8; 16] = [2; 16];
const INVOCATION: [u8; 8] = [1; 8];
const ENTRY: [u8; 8] = [2; 8];
const CALLER: [u8; 8] = [3; 8];
const REQUEST: &str = "req-1";

fn kv(key: &str, value: Av) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

fn s(text: &str) -> Av {
    Av::StringValue(text.into())
}

fn span(name: &str, trace: [u8; 16], id: [u8; 8], parent: Option<[u8; 8]>) -> Span {
    Span {
        trace_id: trace.to_vec(),
        span_id: id.to_vec(),
        parent_span_id: parent.map(|p| p.to_vec()).unwrap_or_default(),
        name: name.into(),
        kind: SpanKind::Internal as i32,
        start_time_unix_nano: 1_000_000_000,
        end_time_unix_nano: 2_000_000_000,
        flags: 0x101,
        ..Default::default()
    }
}

fn invocation_span(status: StatusCode, error_type: Option<&str>) -> Span {
    let mut attributes = vec![
        kv("faas.invocation_id", s(REQUEST)),
        kv("faas.coldstart", Av::BoolValue(true)),
        kv("faas.trigger", s("other")),
        kv("aws.lambda.invoked_arn", s("arn:aws:lambda:us-east-1:1:function:orders")),
    ];
    if let Some(e) = error_type {
        attributes.push(kv("error.type", s(e)));
    }
    Span {
        kind: SpanKind::Server as i32,
        attributes,
        status: Some(Status { code: status as i32, message: String::new() }),
        ..span("orders", PLATFORM_TRACE, INVOCATION, None)
    }
}

fn batch(spans: Vec<Span>, logs: Vec<LogRecord>) -> Signals {
    Signals {
        spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            ..Default::default()
        }],
        logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs { log_records: logs, ..Default::default() }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// A platform flush: the invocation span, one phase span, `Init` and one log record of the invocation.
fn platform(status: StatusCode, error_type: Option<&str>) -> Signals {
    batch(
        vec![
            invocation_span(status, error_type),
            span("responseLatency", PLATFORM_TRACE, [4; 8], Some(INVOCATION)),
            span("Init", PLATFORM_TRACE, [5; 8], None),
            span("initRuntime", PLATFORM_TRACE, [6; 8], Some([5; 8])),
        ],
        vec![LogRecord { trace_id: PLATFORM_TRACE.to_vec(), span_id: INVOCATION.to_vec(), ..Default::default() }],
    )
}

fn sdk_entry(id_key: &str) -> Span {
    Span {
        kind: SpanKind::Server as i32,
        attributes: vec![kv(id_key, s(REQUEST))],
        flags: 0x301,
        ..span("orders", SDK_TRACE, ENTRY, Some(CALLER))
    }
}

fn sdk(spans: Vec<Span>) -> Signals {
    batch(spans, Vec::new())
}

fn spans(signals: &Signals) -> Vec<&Span> {
    signals.spans.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans).collect()
}

fn named<'a>(signals: &'a Signals, name: &str) -> &'a Span {
    spans(signals).into_iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no {name}"))
}

/// (name, trace id, parent id) of every span, sorted.
fn shape(signals: &Signals) -> Vec<(String, [u8; 16], Vec<u8>)> {
    let mut shape: Vec<_> =
        spans(signals).into_iter().map(|s| (s.name.clone(), id16(&s.trace_id), s.parent_span_id.clone())).collect();
    shape.sort();
    shape
}

fn log_ids(signals: &Signals) -> (Vec<u8>, Vec<u8>) {
    let record = &signals.logs[0].scope_logs[0].log_records[0];
    (record.trace_id.clone(), record.span_id.clone())
}

fn attribute<'a>(span: &'a Span, key: &str) -> Option<&'a Av> {
    span.attributes.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

#[test]
fn sdk_mode_puts_everything_under_the_entry_span() {
    for id_key in ["faas.invocation_id", "faas.execution"] {
        let mut platform = platform(StatusCode::Ok, None);
        let mut function = sdk(vec![sdk_entry(id_key), span("charge-card", SDK_TRACE, [7; 8], Some(ENTRY))]);
        Joiner::new(TraceJoin::Sdk, None).apply(&mut platform, &mut [&mut function], false);
        assert_eq!(
            shape(&platform),
            vec![
                ("Init".into(), SDK_TRACE, ENTRY.to_vec()),
                ("initRuntime".into(), SDK_TRACE, vec![5; 8]),
                ("responseLatency".into(), SDK_TRACE, ENTRY.to_vec()),
            ],
            "{id_key}"
        );
        assert_eq!(log_ids(&platform), (SDK_TRACE.to_vec(), ENTRY.to_vec()));
        let entry = named(&function, "orders");
        assert_eq!(attribute(entry, "faas.coldstart"), Some(&Av::BoolValue(true)));
        assert_eq!(attribute(entry, "faas.invocation_id"), Some(&s(REQUEST)));
        assert_eq!(attribute(entry, "aws.lambda.invoked_arn"), Some(&s("arn:aws:lambda:us-east-1:1:function:orders")));
        assert_eq!(attribute(entry, "faas.trigger"), None, "lambdatel's `other` is no fact");
        assert_eq!(entry.status.as_ref().map(|s| s.code), Some(StatusCode::Ok as i32));
        assert_eq!(entry.parent_span_id, CALLER.to_vec());
    }
}

#[test]
fn sdk_mode_keeps_the_sdks_status_and_takes_runtime_done_only_when_unset() {
    let mut platform = platform(StatusCode::Error, Some("Runtime.ExitError"));
    let mut entry = sdk_entry("faas.invocation_id");
    entry.status = Some(Status { code: StatusCode::Ok as i32, message: String::new() });
    let mut function = sdk(vec![entry]);
    Joiner::new(TraceJoin::Sdk, None).apply(&mut platform, &mut [&mut function], false);
    let entry = named(&function, "orders");
    assert_eq!((entry.status.as_ref().unwrap().code, attribute(entry, "error.type")), (StatusCode::Ok as i32, None));

    let mut platform = self::platform(StatusCode::Error, Some("Runtime.ExitError"));
    let mut function = sdk(vec![sdk_entry("faas.invocation_id")]);
    Joiner::new(TraceJoin::Sdk, None).apply(&mut platform, &mut [&mut function], false);
    let entry = named(&function, "orders");
    assert_eq!(entry.status.as_ref().unwrap().code, StatusCode::Error as i32);
    assert_eq!(attribute(entry, "error.type"), Some(&s("Runtime.ExitError")));
}

#[test]
fn an_entry_span_parented_under_lambdas_span_id_takes_its_parent() {
    // X-Ray propagation: the SDK's entry span is the child of the id Lambda gave the invocation.
    let mut platform = platform(StatusCode::Ok, None);
    for span in platform.spans[0].scope_spans[0].spans.iter_mut() {
        if span.name != "initRuntime" && span.name != "responseLatency" {
            span.parent_span_id = CALLER.to_vec();
        }
    }
    let mut entry = sdk_entry("faas.invocation_id");
    entry.trace_id = PLATFORM_TRACE.to_vec();
    entry.parent_span_id = INVOCATION.to_vec();
    let mut function = sdk(vec![entry]);
    Joiner::new(TraceJoin::Sdk, None).apply(&mut platform, &mut [&mut function], false);
    assert_eq!(named(&function, "orders").parent_span_id, CALLER.to_vec());
    assert_eq!(named(&platform, "Init").parent_span_id, ENTRY.to_vec());
    assert!(spans(&platform).iter().all(|s| s.span_id != INVOCATION.to_vec()));
}

#[test]
fn link_mode_keeps_both_spans_linked_both_ways() {
    let mut platform = platform(StatusCode::Ok, None);
    let before = shape(&platform);
    let mut function = sdk(vec![sdk_entry("faas.invocation_id")]);
    Joiner::new(TraceJoin::Link, None).apply(&mut platform, &mut [&mut function], false);
    assert_eq!(shape(&platform), before);
    let invocation = named(&platform, "orders");
    let entry = named(&function, "orders");
    assert_eq!((invocation.links.len(), entry.links.len()), (1, 1));
    assert_eq!(
        (invocation.links[0].trace_id.as_slice(), invocation.links[0].span_id.as_slice()),
        (&SDK_TRACE[..], &ENTRY[..])
    );
    assert_eq!(
        (entry.links[0].trace_id.as_slice(), entry.links[0].span_id.as_slice()),
        (&PLATFORM_TRACE[..], &INVOCATION[..])
    );
    assert_eq!(log_ids(&platform), (SDK_TRACE.to_vec(), ENTRY.to_vec()));
}

#[test]
fn xray_mode_changes_nothing() {
    let mut platform = platform(StatusCode::Ok, None);
    let mut function = sdk(vec![sdk_entry("faas.invocation_id")]);
    let (platform_before, function_before) = (platform.clone(), function.clone());
    Joiner::new(TraceJoin::Xray, None).apply(&mut platform, &mut [&mut function], false);
    assert_eq!((platform, function), (platform_before, function_before));
}

#[test]
fn a_missing_entry_span_is_rebuilt_as_an_error_parent() {
    let missing = [9u8; 8];
    let mut platform = platform(StatusCode::Error, Some("Sandbox.Timedout"));
    let mut function = sdk(vec![span("charge-card", SDK_TRACE, [7; 8], Some(missing))]);
    Joiner::new(TraceJoin::Sdk, None).apply(&mut platform, &mut [&mut function], false);
    let rebuilt = named(&function, "orders");
    assert_eq!(
        (rebuilt.span_id.as_slice(), rebuilt.trace_id.as_slice(), rebuilt.parent_span_id.as_slice(), rebuilt.kind),
        (&missing[..], &SDK_TRACE[..], &[][..], SpanKind::Server as i32)
    );
    assert_eq!(rebuilt.status.as_ref().unwrap().code, StatusCode::Error as i32);
    assert_eq!(attribute(rebuilt, "error.type"), Some(&s("Sandbox.Timedout")));
    assert_eq!(attribute(rebuilt, "faas.invocation_id"), Some(&s(REQUEST)));
    assert_eq!(named(&platform, "responseLatency").parent_span_id, missing.to_vec());
    assert_eq!(log_ids(&platform), (SDK_TRACE.to_vec(), missing.to_vec()));
    assert!(spans(&platform).iter().all(|s| s.span_id != INVOCATION.to_vec()));
}

#[test]
fn a_parent_from_an_earlier_flush_or_a_remote_parent_is_no_orphan() {
    let mut joiner = Joiner::new(TraceJoin::Sdk, None);
    let mut earlier = sdk(vec![span("load", SDK_TRACE, [8; 8], None)]);
    joiner.apply(&mut Signals::default(), &mut [&mut earlier], false);
    let mut remote = span("consume", [3; 16], [10; 8], Some([11; 8]));
    remote.flags = 0x301;
    let mut function = sdk(vec![span("query", SDK_TRACE, [7; 8], Some([8; 8])), remote]);
    let before = function.clone();
    let mut platform = platform(StatusCode::Ok, None);
    joiner.apply(&mut platform, &mut [&mut function], false);
    assert_eq!(function, before);
    assert_eq!(named(&platform, "orders").span_id, INVOCATION.to_vec());
}

#[test]
fn without_an_sdk_span_the_trigger_and_its_caller_go_on_the_invocation_span() {
    let event = br#"{"version":"2.0","rawPath":"/orders","headers":{"traceparent":"00-03030303030303030303030303030303-0303030303030303-01"},"requestContext":{"http":{"method":"POST","path":"/orders"}}}"#;
    for (mode, caller_parent) in [(TraceJoin::Sdk, true), (TraceJoin::Xray, false)] {
        let triggers = TriggerStore::new(4);
        triggers.insert(REQUEST.into(), extract_trigger(event));
        let mut platform = platform(StatusCode::Ok, None);
        Joiner::new(mode, Some(triggers.clone())).apply(&mut platform, &mut [], false);
        assert!(triggers.is_empty(), "taken once");
        let invocation = named(&platform, "orders");
        assert_eq!(attribute(invocation, "faas.trigger"), Some(&s("http")));
        assert_eq!(attribute(invocation, "http.request.method"), Some(&s("POST")));
        if caller_parent {
            assert_eq!(
                shape(&platform),
                vec![
                    ("Init".into(), [3; 16], CALLER.to_vec()),
                    ("initRuntime".into(), [3; 16], vec![5; 8]),
                    ("orders".into(), [3; 16], CALLER.to_vec()),
                    ("responseLatency".into(), [3; 16], INVOCATION.to_vec()),
                ]
            );
            assert_eq!(invocation.flags & 0x300, 0x300, "a remote parent");
            assert_eq!(log_ids(&platform), ([3; 16].to_vec(), INVOCATION.to_vec()));
        } else {
            assert_eq!(invocation.trace_id, PLATFORM_TRACE.to_vec());
            assert_eq!((invocation.links.len(), invocation.links[0].span_id.as_slice()), (1, &CALLER[..]));
        }
    }
}

#[test]
fn an_orphan_waits_one_flush_for_its_invocation() {
    let missing = [9u8; 8];
    let mut joiner = Joiner::new(TraceJoin::Sdk, None);
    let mut first = sdk(vec![span("charge-card", SDK_TRACE, [7; 8], Some(missing))]);
    joiner.apply(&mut Signals::default(), &mut [&mut first], false);
    assert!(spans(&first).is_empty(), "held back");
    let mut platform = platform(StatusCode::Error, Some("Sandbox.Timedout"));
    let mut second = Signals::default();
    joiner.apply(&mut platform, &mut [&mut second], false);
    let mut names: Vec<_> = spans(&second).iter().map(|s| (s.name.clone(), s.span_id.clone())).collect();
    names.sort();
    assert_eq!(names, vec![("charge-card".to_string(), vec![7; 8]), ("orders".to_string(), missing.to_vec())]);
    // Held once only, and never at the last flush.
    let mut third = sdk(vec![span("late", SDK_TRACE, [12; 8], Some([13; 8]))]);
    joiner.apply(&mut Signals::default(), &mut [&mut third], true);
    assert_eq!(spans(&third).len(), 1);
}

#[test]
fn a_log_line_no_invocation_claimed_goes_to_the_entry_span_that_holds_it() {
    let mut platform = platform(StatusCode::Ok, None);
    let stray = |time| LogRecord { time_unix_nano: time, ..Default::default() };
    platform.logs[0].scope_logs[0].log_records.extend([stray(1_500_000_000), stray(3_000_000_000)]);
    let mut function = sdk(vec![sdk_entry("faas.invocation_id")]);
    Joiner::new(TraceJoin::Sdk, None).apply(&mut platform, &mut [&mut function], false);
    let records = &platform.logs[0].scope_logs[0].log_records;
    assert_eq!((records[1].trace_id.as_slice(), records[1].span_id.as_slice()), (&SDK_TRACE[..], &ENTRY[..]));
    assert_eq!(records[1].attributes, vec![kv("faas.invocation_id", s(REQUEST))]);
    assert!(records[2].trace_id.is_empty() && records[2].attributes.is_empty(), "outside every entry span");
}
