//! Tables after the Collector's tail sampling policy evaluator tests, and the flush-wide decision.

use super::*;
use crate::processors::matching::test_support::*;
use lambdatel_pipeline::{
    common::{any_value::Value, AnyValue, KeyValue},
    logs::{LogRecord, ResourceLogs, ScopeLogs},
    resource::Resource,
    trace::{status::StatusCode, ScopeSpans, Span, Status},
    Signals,
};

fn processor(yaml: &str) -> Result<TailSamplingProcessor, String> {
    TailSamplingProcessor::from_config(&component("processors.tail_sampling", yaml)).map_err(|e| e.to_string())
}

fn span(trace: u8, id: u8, start_ms: u64, end_ms: u64, status: StatusCode, attributes: Vec<KeyValue>) -> Span {
    Span {
        trace_id: vec![trace; 16],
        span_id: vec![id; 8],
        name: format!("span {id}"),
        start_time_unix_nano: start_ms * 1_000_000,
        end_time_unix_nano: end_ms * 1_000_000,
        status: Some(Status { code: status as i32, ..Default::default() }),
        attributes,
        ..Default::default()
    }
}

fn batch(spans: Vec<Span>) -> Vec<ResourceSpans> {
    vec![ResourceSpans {
        resource: Some(Resource { attributes: attrs(&[("service.name", "fn")]), ..Default::default() }),
        scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
        ..Default::default()
    }]
}

fn value(v: Value) -> Option<AnyValue> {
    Some(AnyValue { value: Some(v) })
}

/// The trace ids (first byte) a policy keeps out of one batch, decided without a flush view.
fn kept(policy_yaml: &str, spans: Vec<Span>) -> Vec<u8> {
    let mut p = processor(&format!("policies:\n  - {policy_yaml}")).unwrap_or_else(|e| panic!("{policy_yaml}: {e}"));
    let mut b = batch(spans);
    p.process_traces(&mut b);
    let mut ids: Vec<u8> =
        b.iter().flat_map(|rs| &rs.scope_spans).flat_map(|ss| &ss.spans).map(|s| s.trace_id[0]).collect();
    ids.dedup();
    ids
}

#[test]
fn policy_table() {
    let ok = StatusCode::Ok;
    let attr = |k: &str, v: Value| vec![kv(k, value(v))];
    let int = |k: &str, v: i64| attr(k, Value::IntValue(v));
    let text = |k: &str, v: &str| attr(k, Value::StringValue(v.into()));
    let spans = || {
        vec![
            // Trace 1: 4,999 ms over two spans, OK, example=50.
            span(1, 1, 0, 4_000, ok, int("example", 50)),
            span(1, 2, 1_000, 4_999, StatusCode::Unset, text("http.route", "/v1")),
            // Trace 2: 5,000 ms, an error, example=101.
            span(2, 3, 0, 5_000, StatusCode::Error, int("example", 101)),
            // Trace 3: 12,000 ms, three spans, flag=true.
            span(3, 4, 0, 1, ok, attr("flag", Value::BoolValue(true))),
            span(3, 5, 0, 12_000, ok, text("http.route", "/admin")),
            span(3, 6, 2, 3, ok, vec![]),
        ]
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("{name: all, type: always_sample}", vec![1, 2, 3]),
        ("{name: slow, type: latency, latency: {threshold_ms: 5000}}", vec![2, 3]),
        ("{name: band, type: latency, latency: {threshold_ms: 4999, upper_threshold_ms: 5000}}", vec![1, 2]),
        ("{name: errors, type: status_code, status_code: {status_codes: [ERROR]}}", vec![2]),
        ("{name: unset, type: status_code, status_code: {status_codes: [UNSET, ERROR]}}", vec![1, 2]),
        ("{name: n, type: numeric_attribute, numeric_attribute: {key: example, min_value: 0, max_value: 100}}", vec![1]),
        ("{name: n, type: numeric_attribute, numeric_attribute: {key: example, min_value: 100}}", vec![2]),
        (
            "{name: n, type: numeric_attribute, numeric_attribute: {key: example, min_value: 0, max_value: 100, invert_match: true}}",
            vec![2, 3],
        ),
        ("{name: s, type: string_attribute, string_attribute: {key: http.route, values: [/admin]}}", vec![3]),
        ("{name: s, type: string_attribute, string_attribute: {key: service.name, values: [fn]}}", vec![1, 2, 3]),
        (
            "{name: s, type: string_attribute, string_attribute: {key: http.route, values: ['^/v[0-9]+$'], enabled_regex_matching: true}}",
            vec![1],
        ),
        (
            "{name: s, type: string_attribute, string_attribute: {key: http.route, values: [/admin], invert_match: true}}",
            vec![1, 2],
        ),
        ("{name: b, type: boolean_attribute, boolean_attribute: {key: flag, value: true}}", vec![3]),
        ("{name: b, type: boolean_attribute, boolean_attribute: {key: flag, value: false}}", vec![]),
        ("{name: c, type: span_count, span_count: {min_spans: 2}}", vec![1, 3]),
        ("{name: c, type: span_count, span_count: {min_spans: 1, max_spans: 2}}", vec![1, 2]),
        ("{name: p, type: probabilistic, probabilistic: {sampling_percentage: 0}}", vec![]),
        ("{name: p, type: probabilistic, probabilistic: {sampling_percentage: 100}}", vec![1, 2, 3]),
        ("{name: o, type: ottl_condition, ottl_condition: {span: ['attributes[\"example\"] > 60']}}", vec![2]),
        (
            "{name: o, type: ottl_condition, ottl_condition: {spanevent: ['name == \"exception\"'], span: ['name == \"span 6\"']}}",
            vec![3],
        ),
        (
            "{name: a, type: and, and: {and_sub_policy: [{name: slow, type: latency, latency: {threshold_ms: 5000}}, {name: ok, type: status_code, status_code: {status_codes: [OK]}}]}}",
            vec![3],
        ),
        (
            "{name: c, type: composite, composite: {max_total_spans_per_second: 100, policy_order: [errors], composite_sub_policy: [{name: errors, type: status_code, status_code: {status_codes: [ERROR]}}]}}",
            vec![2],
        ),
        // The only sub-policy may sample 2 spans per second: trace 1 (2 spans) fits, trace 3 (3) does not.
        (
            "{name: c, type: composite, composite: {max_total_spans_per_second: 4, policy_order: [any], composite_sub_policy: [{name: any, type: span_count, span_count: {min_spans: 2}}, {name: none, type: boolean_attribute, boolean_attribute: {key: x, value: true}}], rate_allocation: [{policy: any, percent: 50}]}}",
            vec![1],
        ),
    ];
    for (policy, want) in cases {
        let mut got = kept(policy, spans());
        got.sort();
        assert_eq!(got, want, "{policy}");
    }
}

#[test]
fn an_inverted_match_vetoes_the_other_policies() {
    let mut p = processor(
        "policies:\n  - {name: all, type: always_sample}\n  - {name: no-health, type: string_attribute, string_attribute: {key: http.route, values: [/health], invert_match: true}}",
    )
    .unwrap();
    let route = |r: &str| vec![kv("http.route", s(r))];
    let mut b = batch(vec![
        span(1, 1, 0, 1, StatusCode::Ok, route("/health")),
        span(2, 2, 0, 1, StatusCode::Ok, route("/api")),
    ]);
    p.process_traces(&mut b);
    assert_eq!(b[0].scope_spans[0].spans.iter().map(|s| s.trace_id[0]).collect::<Vec<_>>(), [2]);
}

#[test]
fn probabilistic_keeps_its_share_of_random_traces() {
    let mut p =
        processor("policies: [{name: p, type: probabilistic, probabilistic: {sampling_percentage: 10}}]").unwrap();
    let spans: Vec<Span> = (0..20_000u32)
        .map(|n| Span {
            trace_id: (0..16).map(|_| fastrand::u8(..)).collect(),
            span_id: n.to_be_bytes().to_vec(),
            ..Default::default()
        })
        .collect();
    let mut b = batch(spans);
    p.process_traces(&mut b);
    let kept = b.first().map_or(0, |rs| rs.scope_spans[0].spans.len());
    // 10% of 20,000, within 5 standard deviations (about 212).
    assert!((1_788..=2_212).contains(&kept), "{kept}");
}

#[test]
fn the_decision_sees_the_whole_flush_and_keeps_or_drops_whole_traces() {
    // This pipeline receives only the platform span; the function's SDK span, with the error, came in
    // through another receiver of the same flush.
    let mut p =
        processor("policies: [{name: errors, type: status_code, status_code: {status_codes: [ERROR]}}]").unwrap();
    let sdk = Signals { spans: batch(vec![span(1, 2, 0, 1, StatusCode::Error, vec![])]), ..Default::default() };
    let platform =
        || batch(vec![span(1, 1, 0, 2, StatusCode::Unset, vec![]), span(2, 3, 0, 2, StatusCode::Unset, vec![])]);
    let inputs = vec![(0, Signals { spans: platform(), ..Default::default() }), (1, sdk)];
    let (kept_before, dropped_before) = trace_decisions();
    p.observe_flush(&FlushView::new(&inputs, &[], &[]));
    let mut b = platform();
    p.process_traces(&mut b);
    let left: Vec<(u8, u8)> = b[0].scope_spans[0].spans.iter().map(|s| (s.trace_id[0], s.span_id[0])).collect();
    assert_eq!(left, [(1, 1)], "trace 1 is kept for its SDK span's error, trace 2 dropped");
    let (kept_after, dropped_after) = trace_decisions();
    // Other tests run in parallel and count too: at least this one's.
    assert!(kept_after > kept_before && dropped_after > dropped_before);
    // The next flush decides afresh.
    p.observe_flush(&FlushView::new(&[], &[], &[]));
    let mut b = platform();
    p.process_traces(&mut b);
    assert!(b.is_empty(), "without the error, nothing is kept");
}

#[test]
fn logs_of_dropped_traces_are_dropped_when_asked() {
    let record =
        |trace: u8| LogRecord { trace_id: if trace == 0 { vec![] } else { vec![trace; 16] }, ..Default::default() };
    let mut logs = vec![ResourceLogs {
        scope_logs: vec![ScopeLogs { log_records: vec![record(1), record(2), record(0)], ..Default::default() }],
        ..Default::default()
    }];
    let mut p = DropLogsOfDroppedTraces::default();
    let dropped = vec![vec![2; 16]];
    p.observe_flush(&FlushView::new(&[], &[], &dropped));
    p.process_logs(&mut logs);
    let left: Vec<Vec<u8>> = logs[0].scope_logs[0].log_records.iter().map(|r| r.trace_id.clone()).collect();
    assert_eq!(left, [vec![1; 16], vec![]]);
}

#[test]
fn config_errors() {
    let cases = [
        ("", "<config>: processors.tail_sampling: the tail_sampling processor needs at least one policy"),
        (
            "policies:\n  - {name: x, type: rate_limiting}",
            "<config>:2:15: processors.tail_sampling.policies[0].type: unsupported policy type `rate_limiting` (supported: always_sample, latency, status_code, numeric_attribute, string_attribute, boolean_attribute, probabilistic, span_count, ottl_condition, and, composite)",
        ),
        (
            "policies:\n  - name: x\n    type: latency",
            "<config>:2:9: processors.tail_sampling.policies[0]: a `latency` policy needs its `latency` settings",
        ),
        (
            "policies:\n  - name: x\n    type: status_code\n    status_code: {status_codes: [FAILED]}",
            "<config>:4:34: processors.tail_sampling.policies[0].status_code.status_codes[0]: unknown status code `FAILED` (expected OK, ERROR or UNSET)",
        ),
        (
            "policies:\n  - name: x\n    type: ottl_condition\n    ottl_condition:\n      span:\n        - 'Foo(name)'",
            "<config>:6:11: processors.tail_sampling.policies[0].ottl_condition.span[0]: unsupported function `Foo` in `Foo(name)`",
        ),
        (
            "policies:\n  - name: x\n    type: probabilistic\n    probabilistic: {sampling_percentage: 120}",
            "<config>:4:21: processors.tail_sampling.policies[0].probabilistic.sampling_percentage: must be between 0 and 100",
        ),
        (
            "policies:\n  - name: c\n    type: composite\n    composite: {policy_order: [b], composite_sub_policy: [{name: a, type: always_sample}]}",
            "<config>:4:32: processors.tail_sampling.policies[0].composite.policy_order[0]: no sub-policy is named `b`",
        ),
    ];
    for (yaml, want) in cases {
        assert_eq!(processor(yaml).err().as_deref(), Some(want), "{yaml}");
    }
    // The Collector's settings without meaning here load.
    assert!(processor(
        "decision_wait: 10s\nnum_traces: 100\nexpected_new_traces_per_sec: 10\npolicies: [{name: a, type: always_sample}]"
    )
    .is_ok());
}
