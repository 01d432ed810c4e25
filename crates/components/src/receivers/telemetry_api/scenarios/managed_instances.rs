//! Lambda Managed Instances: concurrent invocations in one environment, their events and log records
//! interleaved, each carrying its own request id, no `platform.runtimeDone`, reports with `durationMs` only.

use super::*;
use serde_json::{json, Value};

const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:orders-api:4";
/// Milliseconds after 2025-03-01T09:00:00Z.
const BASE: &str = "2025-03-01T09:00:00.000Z";

fn at(ms: u64) -> String {
    format!("2025-03-01T09:{:02}:{:02}.{:03}Z", ms / 60_000, ms / 1000 % 60, ms % 1000)
}

fn nanos(ms: u64) -> u64 {
    ts(BASE) + ms * 1_000_000
}

fn request_id(i: usize) -> String {
    format!("{i:08x}-1111-4222-8333-{i:012x}")
}

fn trace_hex(i: usize) -> String {
    format!("67c2cc84{i:024x}")
}

fn span_hex(i: usize) -> String {
    format!("a{i:015x}")
}

/// Invocation i starts at 1000 + 10 i ms and lasts 50 + 7 i ms; its report ends it.
fn start_ms(i: usize) -> u64 {
    1000 + 10 * i as u64
}

fn duration_ms(i: usize) -> u64 {
    50 + 7 * i as u64
}

fn status(i: usize) -> (&'static str, Option<&'static str>) {
    match i {
        5 => ("error", Some("Function.Unhandled")),
        6 => ("timeout", None),
        _ => ("success", None),
    }
}

fn event(ms: u64, kind: &str, record: Value) -> Value {
    json!({"time": at(ms), "type": kind, "record": record})
}

fn init_events() -> Vec<Value> {
    let init = |kind: &str, ms: u64, extra: Value| {
        let mut record = json!({"initializationType": "lambda-managed-instances", "phase": "init"});
        record.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        event(ms, kind, record)
    };
    vec![
        init("platform.initStart", 0, json!({"functionName": "orders-api", "functionVersion": "4"})),
        init("platform.initRuntimeDone", 400, json!({"status": "success"})),
        init("platform.initReport", 401, json!({"status": "success", "metrics": {"durationMs": 401.0}})),
    ]
}

fn start_event(i: usize) -> Value {
    let tracing = json!({
        "spanId": span_hex(i),
        "type": "X-Amzn-Trace-Id",
        "value": format!("Root=1-67c2cc84-{i:024x};Parent=b{i:015x};Sampled=1"),
    });
    event(
        start_ms(i),
        "platform.start",
        json!({"requestId": request_id(i), "version": "4", "functionArn": FUNCTION_ARN, "tracing": tracing}),
    )
}

fn report_event(i: usize) -> Value {
    let (status, error_type) = status(i);
    let mut record = json!({
        "requestId": request_id(i),
        "status": status,
        "metrics": {"durationMs": duration_ms(i) as f64},
        "spans": [
            {"name": "responseLatency", "start": at(start_ms(i)), "durationMs": (duration_ms(i) - 5) as f64},
            {"name": "responseDuration", "start": at(start_ms(i) + duration_ms(i) - 5), "durationMs": 5.0},
        ],
    });
    if let Some(error_type) = error_type {
        record["errorType"] = json!(error_type);
    }
    event(start_ms(i) + duration_ms(i), "platform.report", record)
}

/// Three records per invocation: a Node.js-style text line, a JSON record, and for odd i a Python-style line.
fn log_events(i: usize) -> Vec<Value> {
    let id = request_id(i);
    let t = start_ms(i) + 3;
    let mut events = vec![
        event(t, "function", json!(format!("{}\t{id}\tINFO\ttext from {i}\n", at(t)))),
        event(
            t + 1,
            "function",
            json!({"timestamp": at(t + 1), "level": "WARN", "requestId": id, "message": format!("json from {i}")}),
        ),
    ];
    if i % 2 == 1 {
        events.push(event(t + 2, "function", json!(format!("[ERROR]\t{}\t{id}\tpython from {i}\n", at(t + 2)))));
    }
    events
}

fn batch(events: &[Value]) -> Vec<u8> {
    serde_json::to_vec(events).unwrap()
}

fn managed_converter() -> Converter {
    let mut c = converter();
    c.set_managed_instances(true);
    c
}

/// A log record as the tests compare it: body, severity, `faas.invocation_id`, trace id, span id.
type Attributed = (Av, i32, Option<Av>, Vec<u8>, Vec<u8>);

fn attribution(out: &Signals) -> Vec<Attributed> {
    logs(out)
        .into_iter()
        .map(|r| {
            let id = r.attributes.iter().find(|kv| kv.key == "faas.invocation_id").map(av);
            (body(r), r.severity_number, id, r.trace_id.clone(), r.span_id.clone())
        })
        .collect()
}

#[test]
fn eight_interleaved_invocations_each_keep_their_own_spans_logs_and_metrics() {
    let mut c = converter();
    // The environment says it is Managed Instances through initStart alone.
    let stats = c.ingest(&batch(&init_events()));
    assert_eq!(stats, IngestStats { events: 3, ..IngestStats::default() });

    // First POST: every start, then the logs of all eight interleaved (text, JSON and Python lines mixed).
    let mut first: Vec<Value> = (0..8).map(start_event).collect();
    let per_invocation: Vec<Vec<Value>> = (0..8).map(log_events).collect();
    for round in 0..3 {
        for logs in per_invocation.iter().rev() {
            first.extend(logs.get(round).cloned());
        }
    }
    // Two records without a request id while five invocations are open (0 to 2 end before 1090 ms): nobody's.
    first.push(event(1090, "extension", json!("extension heartbeat")));
    first.push(event(1091, "function", json!("a bare line")));
    c.ingest(&batch(&first));
    assert_eq!((c.open_invocations(), c.ended_since_drain()), (8, 0));
    let open = c.drain();
    assert!(spans(&open).iter().all(|s| s.name == "Init"), "no invocation has ended");

    // The reports arrive in an order of their own, over two POSTs.
    let order = [3, 0, 7, 1, 5, 2, 6, 4];
    c.ingest(&batch(&order[..4].iter().map(|&i| report_event(i)).collect::<Vec<_>>()));
    assert_eq!((c.open_invocations(), c.ended_since_drain()), (4, 4));
    for i in 0..8 {
        assert_eq!(c.invocation_ended(&request_id(i)), order[..4].contains(&i), "{i}");
        assert!(c.runtime_done_seen(&request_id(i)) == order[..4].contains(&i), "{i}");
    }
    let mut rest: Vec<Value> = order[4..].iter().map(|&i| report_event(i)).collect();
    // At 1160 ms only invocation 7 is open (it ends last, at 1169 ms), yet a line without a request id is
    // nobody's: another invocation may have started and not reported yet.
    rest.push(event(1160, "function", json!("late line of the last one")));
    c.ingest(&batch(&rest));
    assert_eq!((c.open_invocations(), c.ended_since_drain()), (0, 8));
    let mut out = c.drain();
    assert_eq!(c.ended_since_drain(), 0);

    // Spans: one per invocation, from platform.start to platform.report, with the report's two phases.
    let invs: Vec<&Span> = spans(&out).into_iter().filter(|s| s.name == "orders-api").collect();
    let ended: Vec<_> = invs.iter().map(|s| s.span_id.clone()).collect();
    assert_eq!(ended, order.map(|i| hex(&span_hex(i))), "spans in the order their invocations ended");
    for i in 0..8 {
        let inv = invs.iter().find(|s| s.span_id == hex(&span_hex(i))).unwrap();
        assert_eq!(inv.trace_id, hex(&trace_hex(i)), "{i}");
        assert_eq!(inv.parent_span_id, hex(&format!("b{i:015x}")), "{i}");
        assert_eq!(inv.flags, 0x301, "{i}");
        assert_eq!(
            (inv.start_time_unix_nano, inv.end_time_unix_nano),
            (nanos(start_ms(i)), nanos(start_ms(i) + duration_ms(i))),
            "{i}"
        );
        let mut expected = vec![
            ("faas.invocation_id", s(&request_id(i))),
            ("faas.coldstart", Av::BoolValue(false)),
            ("faas.trigger", s("other")),
            ("cloud.resource_id", s(FUNCTION_ARN)),
            ("aws.lambda.invoked_arn", s(FUNCTION_ARN)),
        ];
        let (status, error_type) = status(i);
        let want_status = match status {
            "success" => Status { message: String::new(), code: StatusCode::Ok as i32 },
            other => {
                let error = error_type.unwrap_or(other);
                expected.push(("error.type", s(error)));
                Status { message: error.into(), code: StatusCode::Error as i32 }
            }
        };
        assert_eq!(attrs(&inv.attributes), expected, "{i}");
        assert_eq!(inv.status, Some(want_status), "{i}");
        let children: Vec<_> = spans(&out)
            .into_iter()
            .filter(|s| s.parent_span_id == inv.span_id)
            .map(|s| (s.name.as_str(), s.trace_id.clone(), s.start_time_unix_nano, s.end_time_unix_nano))
            .collect();
        let end = nanos(start_ms(i) + duration_ms(i));
        assert_eq!(
            children,
            vec![
                ("responseLatency", inv.trace_id.clone(), nanos(start_ms(i)), end - 5_000_000),
                ("responseDuration", inv.trace_id.clone(), end - 5_000_000, end),
            ],
            "{i}"
        );
    }
    assert_eq!(spans(&out).len(), 8 * 3);

    // Metrics: what the report gives; nothing LMI does not send (billed duration, memory, post-runtime).
    let total: u64 = (0..8).map(duration_ms).sum();
    assert_eq!(counter(&out, "faas.invocations"), Some(6));
    assert_eq!(counter(&out, "faas.errors"), Some(1));
    assert_eq!(counter(&out, "faas.timeouts"), Some(1));
    assert_eq!(counter(&out, "faas.coldstarts"), None);
    for name in ["faas.invoke_duration", "aws.lambda.duration"] {
        let (n, sum) = histogram(&out, name).unwrap();
        assert!(n == 8 && close(sum, total as f64 / 1000.0), "{name}: {n} {sum}");
    }
    assert_eq!(histogram(&out, "faas.init_duration"), Some((1, 0.401)));
    for name in [
        "aws.lambda.billed_duration",
        "faas.mem_usage",
        "aws.lambda.post_runtime_duration",
        "aws.lambda.produced_bytes",
        "aws.lambda.out_of_memory",
    ] {
        assert!(metric(&out, name).is_none(), "{name} is left out, not zero");
    }

    // Logs (drained with the open invocations and at the end): every record names its own invocation.
    let mut records = attribution(&open);
    records.append(&mut attribution(&out));
    let ids = |i: usize| (Some(s(&request_id(i))), hex(&trace_hex(i)), hex(&span_hex(i)));
    let mut expected = Vec::new();
    for round in 0..3 {
        for i in (0..8).rev() {
            let (id, trace, span) = ids(i);
            match round {
                0 => expected.push((s(&format!("text from {i}")), 9, id, trace, span)),
                1 => expected.push((s(&format!("json from {i}")), 13, id, trace, span)),
                _ if i % 2 == 1 => expected.push((s(&format!("python from {i}")), 17, id, trace, span)),
                _ => {}
            }
        }
    }
    expected.push((s("extension heartbeat"), 0, None, vec![], vec![]));
    expected.push((s("a bare line"), 0, None, vec![], vec![]));
    expected.push((s("late line of the last one"), 0, None, vec![], vec![]));
    assert_eq!(records, expected);
    out = c.finish();
    assert!(out.is_empty(), "shutdown finds nothing held: {out:?}");
}

#[test]
fn a_late_runtime_done_after_the_report_counts_nothing_twice() {
    let mut c = managed_converter();
    c.ingest(&batch(&[start_event(1), report_event(1)]));
    let done = event(
        start_ms(1) + 40,
        "platform.runtimeDone",
        json!({"requestId": request_id(1), "status": "success", "metrics": {"durationMs": 40.0}}),
    );
    c.ingest(&batch(&[done]));
    let out = c.drain();
    assert_eq!(spans(&out).iter().filter(|s| s.name == "orders-api").count(), 1);
    assert_eq!(counter(&out, "faas.invocations"), Some(1));
    assert_eq!(histogram(&out, "faas.invoke_duration").map(|(n, _)| n), Some(1));
}

#[test]
fn a_runtime_done_when_one_arrives_ends_the_span() {
    let mut c = managed_converter();
    let done = event(
        start_ms(2) + 30,
        "platform.runtimeDone",
        json!({"requestId": request_id(2), "status": "success", "metrics": {"durationMs": 30.0}}),
    );
    c.ingest(&batch(&[start_event(2), done]));
    assert_eq!(c.ended_since_drain(), 1);
    let out = c.drain();
    assert_eq!(span(&out, "orders-api").end_time_unix_nano, nanos(start_ms(2) + 30));
}

#[test]
fn a_record_without_request_id_stays_unattributed_even_with_one_invocation_open() {
    let mut c = managed_converter();
    c.ingest(&batch(&[start_event(0)]));
    c.ingest(&batch(&[event(start_ms(0) + 1, "function", json!("only one open"))]));
    c.ingest(&batch(&[start_event(1)]));
    c.ingest(&batch(&[event(start_ms(1) + 1, "function", json!("two open"))]));
    let out = c.drain();
    let got: Vec<_> = attribution(&out).into_iter().map(|(body, _, id, _, _)| (body, id)).collect();
    assert_eq!(got, vec![(s("only one open"), None), (s("two open"), None)]);
    // The same records on demand go to the invocation running when they were written.
    let mut c = converter();
    c.ingest(&batch(&[start_event(0), event(start_ms(0) + 1, "function", json!("only one open"))]));
    let got: Vec<_> = attribution(&c.drain()).into_iter().map(|(body, _, id, _, _)| (body, id)).collect();
    assert_eq!(got, vec![(s("only one open"), Some(s(&request_id(0))))]);
}

#[test]
fn sustained_concurrency_stays_within_the_memory_bounds() {
    let mut c = managed_converter();
    c.set_log_budget(1000);
    let mut dropped_before = 0;
    for round in 0..100usize {
        // Eight invocations at a time, ids never repeating, each writing two records; drained each round.
        let ids: Vec<usize> = (round * 8..round * 8 + 8).collect();
        let mut events: Vec<Value> = ids.iter().map(|&i| start_event(i)).collect();
        for &i in &ids {
            events.extend(log_events(i).into_iter().take(2));
        }
        events.extend(ids.iter().map(|&i| report_event(i)));
        c.ingest(&batch(&events));
        assert!(c.held_log_bytes() <= 1000, "round {round}");
        let out = c.drain();
        assert_eq!(spans(&out).iter().filter(|s| s.name == "orders-api").count(), 8, "round {round}");
        // 16 records of about 140 bytes each: the budget keeps 7 and drops (and counts) the other 9.
        assert_eq!((out.log_count(), c.dropped_logs() - dropped_before), (7, 9), "round {round}");
        dropped_before = c.dropped_logs();
        assert!(c.invocations.tracked() <= 256, "round {round}");
    }
    assert_eq!(c.open_invocations(), 0);
    assert_eq!(c.invocations.tracked(), 256, "ended invocations are forgotten past the bound");
}

#[test]
fn the_environment_says_managed_instances_before_any_event() {
    let env = ResourceInfo { initialization_type: Some("lambda-managed-instances".into()), ..info() };
    let mut c = Converter::new(env, ConvertOptions::default());
    // Invocation 0 has no end yet and invocation 1 has started: a bare line is nobody's.
    c.ingest(&batch(&[start_event(0), start_event(1), event(start_ms(1) + 1, "function", json!("bare"))]));
    let out = c.drain();
    assert_eq!(attribution(&out), vec![(s("bare"), 0, None, vec![], vec![])]);
    // The same events on demand: the latest started invocation takes it (the on-demand rule).
    let mut c = converter();
    c.ingest(&batch(&[start_event(0), start_event(1), event(start_ms(1) + 1, "function", json!("bare"))]));
    let out = c.drain();
    let got: Vec<_> = attribution(&out).into_iter().map(|(_, _, id, _, _)| id).collect();
    assert_eq!(got, vec![Some(s(&request_id(1)))]);
}
