//! On-demand sandboxes (and the Logs API): the behaviour every existing deployment relies on.

use super::*;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, AggregationTemporality};

#[test]
fn cold_start_invocation_span() {
    let mut c = converter();
    c.on_invoke(InvokeContext {
        request_id: A.into(),
        invoked_function_arn: Some(ARN.into()),
        tracing_value: None,
        deadline_ms: Some(1_714_564_803_360),
    });
    let stats = c.ingest(&fixture("telemetry_cold_start.json"));
    assert_eq!(stats, IngestStats { events: 12, ..IngestStats::default() });
    assert!(c.runtime_done_seen(A));
    assert!(!c.runtime_done_seen(B));
    let out = c.drain();
    assert_eq!(spans(&out).len(), 5);

    let inv = span(&out, "orders-api");
    assert_eq!(inv.kind, SpanKind::Server as i32);
    assert_eq!(inv.trace_id, hex("66323100b1f9e2a8c7d64e0f9a1b2c3d"));
    assert_eq!(inv.span_id, hex("8a3c60f7d188f8fa"));
    assert_eq!(inv.parent_span_id, hex("2f4a8c1e9b7d3a60"));
    assert_eq!(inv.flags, 0x301);
    assert_eq!(inv.start_time_unix_nano, ts("2024-05-01T12:00:00.360Z"));
    assert_eq!(inv.end_time_unix_nano, ts("2024-05-01T12:00:00.512Z"));
    assert_eq!(
        attrs(&inv.attributes),
        vec![
            ("faas.invocation_id", s(A)),
            ("faas.coldstart", Av::BoolValue(true)),
            ("faas.trigger", s("other")),
            ("cloud.resource_id", s(ARN)),
            ("aws.lambda.invoked_arn", s(ARN)),
            ("aws.lambda.produced_bytes", Av::IntValue(48)),
        ]
    );
    assert_eq!(inv.status, Some(Status { message: String::new(), code: StatusCode::Ok as i32 }));

    let children: Vec<_> = spans(&out).into_iter().filter(|s| s.parent_span_id == inv.span_id).collect();
    let shape: Vec<_> = children
        .iter()
        .map(|s| (s.name.as_str(), s.kind, s.start_time_unix_nano, s.end_time_unix_nano, s.flags))
        .collect();
    let internal = SpanKind::Internal as i32;
    assert_eq!(
        shape,
        vec![
            ("responseLatency", internal, ts("2024-05-01T12:00:00.360Z"), ts("2024-05-01T12:00:00.5102Z"), 0x101),
            ("responseDuration", internal, ts("2024-05-01T12:00:00.510Z"), ts("2024-05-01T12:00:00.5113Z"), 0x101),
            ("runtimeOverhead", internal, ts("2024-05-01T12:00:00.511Z"), ts("2024-05-01T12:00:00.5115Z"), 0x101),
        ]
    );
    for child in &children {
        assert_eq!(child.trace_id, inv.trace_id);
        assert_eq!(child.span_id.len(), 8);
        assert_ne!(child.span_id, inv.span_id);
    }
}

#[test]
fn on_demand_init_span_joins_the_first_invocation_trace() {
    let mut c = converter();
    c.ingest(&fixture("telemetry_cold_start.json"));
    let out = c.drain();
    let inv = span(&out, "orders-api");
    let init = span(&out, "Init");
    assert_eq!(init.kind, SpanKind::Internal as i32);
    assert_eq!(init.trace_id, inv.trace_id);
    assert_eq!(init.parent_span_id, inv.parent_span_id);
    assert_ne!(init.span_id, inv.span_id);
    assert_eq!(init.flags, 0x301);
    assert_eq!(init.start_time_unix_nano, ts("2024-05-01T12:00:00.000Z"));
    assert_eq!(init.end_time_unix_nano, ts("2024-05-01T12:00:00.350Z"));
    assert_eq!(
        attrs(&init.attributes),
        vec![
            ("faas.coldstart", Av::BoolValue(true)),
            ("aws.lambda.initialization_type", s("on-demand")),
            ("aws.lambda.init_phase", s("init")),
        ]
    );
    assert_eq!(init.status.as_ref().map(|s| s.code), Some(StatusCode::Ok as i32));
}

#[test]
fn init_span_is_held_until_the_invocation_is_known() {
    let mut c = converter();
    let body = fixture("telemetry_cold_start.json");
    let events: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap();
    // Up to and including initReport: nothing to export yet, the init waits for its trace.
    let init_only = serde_json::to_vec(&events[..7]).unwrap();
    c.ingest(&init_only);
    assert!(spans(&c.drain()).is_empty());
    c.ingest(&serde_json::to_vec(&events[7..]).unwrap());
    let out = c.drain();
    assert_eq!(span(&out, "Init").trace_id, span(&out, "orders-api").trace_id);
}

#[test]
fn resource_takes_the_instance_id_from_init_start() {
    let mut c = converter();
    let before = attrs(&c.resource().attributes);
    let (_, random_id) = before.iter().find(|(k, _)| *k == "service.instance.id").unwrap().clone();
    let Av::StringValue(random_id) = random_id else { panic!() };
    assert_eq!(random_id.len(), 36);
    assert!(before.iter().all(|(k, _)| *k != "faas.instance"));
    c.ingest(&fixture("telemetry_cold_start.json"));
    let instance = s("2024/05/01/orders-api[$LATEST]0b7fa3c1d2e44f5a8b9c0d1e2f3a4b5c");
    assert_eq!(
        attrs(&c.resource().attributes),
        vec![
            ("service.name", s("orders-api")),
            ("service.instance.id", instance.clone()),
            ("cloud.provider", s("aws")),
            ("cloud.platform", s("aws_lambda")),
            ("cloud.region", s("eu-west-1")),
            ("faas.name", s("orders-api")),
            ("faas.version", s("$LATEST")),
            ("faas.max_memory", Av::IntValue(134_217_728)),
            ("faas.instance", instance),
        ]
    );
    let out = c.drain();
    assert_eq!(out.spans[0].resource.as_ref(), Some(c.resource()));
    assert_eq!(out.logs[0].resource.as_ref(), Some(c.resource()));
    assert_eq!(out.metrics[0].resource.as_ref(), Some(c.resource()));
    let scope = out.spans[0].scope_spans[0].scope.as_ref().unwrap();
    assert_eq!((scope.name.as_str(), scope.version.as_str()), ("lambdatel", env!("CARGO_PKG_VERSION")));
}

#[test]
fn user_resource_attributes_are_not_patched() {
    let info = ResourceInfo { extra: vec![("service.instance.id".into(), "mine".into())], ..info() };
    let mut c = Converter::new(info, ConvertOptions::default());
    c.ingest(&fixture("telemetry_cold_start.json"));
    let r = attrs(&c.resource().attributes);
    assert!(r.contains(&("service.instance.id", s("mine"))));
    assert!(r.contains(&("faas.instance", s("2024/05/01/orders-api[$LATEST]0b7fa3c1d2e44f5a8b9c0d1e2f3a4b5c"))));
}

#[test]
fn text_logs_severity_request_id_and_trace() {
    let mut c = converter();
    c.ingest(&fixture("telemetry_cold_start.json"));
    let out = c.drain();
    let trace = hex("66323100b1f9e2a8c7d64e0f9a1b2c3d");
    let span_id = hex("8a3c60f7d188f8fa");
    let got: Vec<_> = logs(&out)
        .into_iter()
        .map(|r| {
            (
                body(r),
                r.time_unix_nano,
                r.observed_time_unix_nano,
                r.severity_number,
                r.severity_text.as_str(),
                attrs(&r.attributes),
                r.trace_id.clone(),
                r.span_id.clone(),
                r.flags,
            )
        })
        .collect();
    let t = |x: &str| ts(x);
    let ext = vec![("aws.lambda.log.type", s("extension"))];
    let func = vec![("aws.lambda.log.type", s("function"))];
    let func_a = vec![("faas.invocation_id", s(A)), ("aws.lambda.log.type", s("function"))];
    let start = t("2024-05-01T12:00:00.050Z");
    // The runtime's prefix (level, time, request id) is in the record's fields: the body is the message.
    let info_line = "processing order 42";
    let error_line = "payment service slow, retrying";
    let t1 = t("2024-05-01T12:00:00.362Z");
    let t2 = t("2024-05-01T12:00:00.480Z");
    let t3 = t("2024-05-01T12:00:00.501Z");
    let t0 = t("2024-05-01T12:00:00.210Z");
    assert_eq!(
        got,
        vec![
            (s("lambdatel: listening on sandbox.localdomain:4323"), start, start, 0, "", ext, vec![], vec![], 0),
            (s("Loading pricing tables"), t0, t0, 0, "", func, vec![], vec![], 0),
            (s(info_line), t1, t1, 9, "INFO", func_a.clone(), trace.clone(), span_id.clone(), 1),
            (s(error_line), t2, t2, 17, "ERROR", func_a.clone(), trace.clone(), span_id.clone(), 1),
            // No request id in the line: attributed to the invocation running at that time.
            (s("order 42 stored"), t3, t3, 0, "", func_a, trace, span_id, 1),
        ]
    );
}

#[test]
fn report_metrics_arrive_after_the_span() {
    let mut c = converter();
    c.ingest(&fixture("telemetry_cold_start.json"));
    let first = c.drain();
    assert_eq!(counter(&first, "faas.coldstarts"), Some(1));
    assert_eq!(counter(&first, "faas.invocations"), Some(1));
    assert_eq!(histogram(&first, "faas.init_duration"), Some((1, 0.35218)));
    let (n, sum) = histogram(&first, "faas.invoke_duration").unwrap();
    assert!(n == 1 && close(sum, 0.1524), "{sum}");
    assert_eq!(histogram(&first, "aws.lambda.produced_bytes"), Some((1, 48.0)));
    assert_eq!(histogram(&first, "aws.lambda.duration"), None);

    let stats = c.ingest(&fixture("telemetry_warm_invoke.json"));
    assert_eq!(stats, IngestStats { events: 6, ..IngestStats::default() });
    let second = c.drain();
    assert_eq!(histogram(&second, "aws.lambda.duration").map(|(n, s)| (n, close(s, 0.17 + 0.1405))), Some((2, true)));
    assert_eq!(histogram(&second, "aws.lambda.billed_duration").map(|(n, s)| (n, close(s, 0.312))), Some((2, true)));
    assert_eq!(histogram(&second, "faas.mem_usage"), Some((2, (81.0 + 85.0) * 1_048_576.0)));
    let (n, sum) = histogram(&second, "aws.lambda.post_runtime_duration").unwrap();
    assert!(n == 2 && close(sum, (170.0 - 152.4 + 140.5 - 90.5) / 1000.0), "{sum}");
    // initDurationMs of the first report is not counted again: initReport gave it.
    assert_eq!(histogram(&second, "faas.init_duration"), Some((1, 0.35218)));
    assert_eq!(counter(&second, "faas.invocations"), Some(1));
    assert_eq!(counter(&second, "faas.errors"), Some(1));
    assert_eq!(counter(&second, "faas.coldstarts"), Some(1));
    assert_eq!(counter(&second, "faas.timeouts"), None);
    assert_eq!(counter(&second, "aws.lambda.out_of_memory"), None);
    let m = metric(&second, "faas.errors").unwrap();
    let Some(Data::Sum(sum)) = &m.data else { panic!() };
    assert_eq!(sum.aggregation_temporality, AggregationTemporality::Cumulative as i32);
    assert_eq!(sum.data_points[0].start_time_unix_nano, ts("2024-05-01T12:00:00.000Z"));
    assert_eq!(sum.data_points[0].time_unix_nano, ts("2024-05-01T12:00:05.140Z"));
    assert_eq!(m.unit, "{error}");
    assert!(c.drain().is_empty(), "nothing new, nothing out");
}

#[test]
fn error_invocation_json_logs_and_unsampled_trace() {
    let mut c = converter();
    c.ingest(&fixture("telemetry_cold_start.json"));
    c.drain();
    c.ingest(&fixture("telemetry_warm_invoke.json"));
    let out = c.drain();
    assert_eq!(spans(&out).len(), 1, "the report's extensionOverhead is not a span");
    let inv = span(&out, "orders-api");
    assert_eq!(inv.trace_id, hex("663231050a1b2c3d4e5f60718293a4b5"));
    assert_eq!(inv.flags, 0x300, "Sampled=0");
    assert_eq!(inv.status, Some(Status { message: "KeyError".into(), code: StatusCode::Error as i32 }));
    assert_eq!(
        attrs(&inv.attributes),
        vec![
            ("faas.invocation_id", s(B)),
            ("faas.coldstart", Av::BoolValue(false)),
            ("faas.trigger", s("other")),
            ("aws.lambda.produced_bytes", Av::IntValue(120)),
            ("error.type", s("KeyError")),
        ]
    );
    let records = logs(&out);
    assert_eq!(records.len(), 2);
    let r = records[0];
    assert_eq!(body(r), s("fetching order"));
    assert_eq!(
        (r.time_unix_nano, r.observed_time_unix_nano),
        (ts("2024-05-01T12:00:05.009Z"), ts("2024-05-01T12:00:05.010Z"))
    );
    assert_eq!((r.severity_number, r.severity_text.as_str()), (9, "INFO"));
    assert_eq!(
        attrs(&r.attributes),
        vec![
            ("faas.invocation_id", s(B)),
            ("aws.lambda.log.type", s("function")),
            ("logger", s("app")),
            ("orderId", Av::IntValue(43)),
        ]
    );
    assert_eq!((r.trace_id.clone(), r.span_id.clone(), r.flags), (inv.trace_id.clone(), inv.span_id.clone(), 0));
    let r = records[1];
    assert_eq!((r.severity_number, r.severity_text.as_str()), (17, "ERROR"));
    let Av::KvlistValue(whole) = body(r) else { panic!("{r:?}") };
    let keys: Vec<_> = whole.values.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["level", "message", "requestId", "timestamp"]);
    assert_eq!(attrs(&r.attributes), vec![("faas.invocation_id", s(B)), ("aws.lambda.log.type", s("function"))]);
}

#[test]
fn java_json_logs_name_the_request_id_differently() {
    let batch = format!(
        r#"[{{"time":"2024-05-01T12:00:00.000Z","type":"platform.start","record":{{"requestId":"{A}"}}}},
           {{"time":"2024-05-01T12:00:00.100Z","type":"platform.runtimeDone","record":{{"requestId":"{A}","status":"success"}}}},
           {{"time":"2024-05-01T12:00:01.000Z","type":"function","record":{{"timestamp":"2024-05-01T12:00:00.050Z","message":"late","level":"UNDEFINED","AWSRequestId":"{A}"}}}},
           {{"time":"2024-05-01T12:00:01.001Z","type":"function","record":{{"message":{{"k":1}},"AWSRequestId":"{A}"}}}}]"#
    );
    let mut c = converter();
    c.ingest(batch.as_bytes());
    let out = c.drain();
    let records = logs(&out);
    let inv = span(&out, "orders-api");
    assert_eq!((records[0].severity_number, records[0].severity_text.as_str()), (0, "UNDEFINED"));
    assert_eq!(
        attrs(&records[0].attributes),
        vec![("faas.invocation_id", s(A)), ("aws.lambda.log.type", s("function"))]
    );
    assert_eq!(records[0].trace_id, inv.trace_id);
    let Av::KvlistValue(whole) = body(records[1]) else { panic!() };
    let keys: Vec<_> = whole.values.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["AWSRequestId", "message"]);
    assert_eq!(records[1].trace_id, inv.trace_id);
}

#[test]
fn logs_api_2021_03_18_with_platform_lines() {
    let mut c = Converter::new(info(), ConvertOptions { platform_logs: true, ..Default::default() });
    let stats = c.ingest(&fixture("logs_api_2021_03_18.json"));
    assert_eq!(stats, IngestStats { events: 7, ..IngestStats::default() });
    assert!(c.runtime_done_seen(C));
    let out = c.drain();
    let inv = span(&out, "orders-api");
    assert_eq!(spans(&out).len(), 1);
    assert_eq!(inv.start_time_unix_nano, ts("2024-05-01T12:00:10.000Z"));
    assert_eq!(inv.end_time_unix_nano, ts("2024-05-01T12:00:10.020Z"));
    assert_eq!(inv.status.as_ref().map(|s| s.code), Some(StatusCode::Ok as i32));
    assert_eq!(inv.trace_id.len(), 16);
    assert_eq!(inv.parent_span_id, Vec::<u8>::new());
    assert_eq!(inv.flags, 0x101);
    let lines: Vec<_> = logs(&out).into_iter().map(|r| (body(r), r.severity_number)).collect();
    assert_eq!(
        lines,
        vec![
            (s(&format!("START RequestId: {C} Version: $LATEST")), 9),
            (s("hello from node"), 9),
            (s("cache miss"), 13),
            (s(&format!("END RequestId: {C}")), 9),
            (
                s(&format!(
                    "REPORT RequestId: {C}\tDuration: 25.71 ms\tBilled Duration: 26 ms\tMemory Size: 256 MB\tMax Memory Used: 60 MB"
                )),
                9
            ),
            (
                s("Lambda dropped 12 log records (4096 bytes): Consumer seems to have fallen behind as it has not acknowledged receipt of logs."),
                13
            ),
        ]
    );
    for r in &logs(&out)[..5] {
        assert_eq!(r.trace_id, inv.trace_id);
        assert!(r.attributes.iter().any(|kv| kv.key == "faas.invocation_id" && av(kv) == s(C)));
    }
    let dropped = logs(&out)[5];
    assert_eq!(dropped.severity_text, "WARN");
    assert_eq!(attrs(&dropped.attributes), vec![("aws.lambda.log.type", s("platform"))]);
    assert_eq!(counter(&out, "aws.lambda.logs_dropped"), Some(12));
    assert_eq!(counter(&out, "faas.invocations"), Some(1));
    let (n, sum) = histogram(&out, "aws.lambda.post_runtime_duration").unwrap();
    assert!(n == 1 && close(sum, (25.71 - 20.0) / 1000.0), "{sum}");
    assert_eq!(histogram(&out, "faas.invoke_duration"), Some((1, 0.02)));
}

#[test]
fn platform_lines_are_off_by_default() {
    let mut c = converter();
    c.ingest(&fixture("logs_api_2021_03_18.json"));
    let out = c.drain();
    assert_eq!(logs(&out).len(), 3, "two function lines and the logsDropped warning");
}

#[test]
fn logs_api_2020_08_15_ends_at_platform_end() {
    let mut c = converter();
    let stats = c.ingest(&fixture("logs_api_2020_08_15.json"));
    assert_eq!(stats, IngestStats { events: 7, ..IngestStats::default() });
    assert!(c.runtime_done_seen(D));
    let out = c.drain();
    let inv = span(&out, "orders-api");
    assert_eq!(inv.start_time_unix_nano, ts("2024-05-01T12:00:20.100Z"));
    assert_eq!(inv.end_time_unix_nano, ts("2024-05-01T12:00:20.310Z"));
    assert_eq!(inv.status, None, "no status in this schema");
    let records = logs(&out);
    assert_eq!(records.len(), 2);
    assert_eq!(body(records[0]), s("working"));
    assert_eq!(records[0].trace_id, inv.trace_id);
    let fault = records[1];
    assert_eq!((fault.severity_number, fault.severity_text.as_str()), (17, "ERROR"));
    assert_eq!(attrs(&fault.attributes), vec![("faas.invocation_id", s(D)), ("aws.lambda.log.type", s("platform"))]);
    // The report's initDurationMs stands in for a missed initReport; 512 of 512 MB is out of memory.
    assert_eq!(histogram(&out, "faas.init_duration"), Some((1, 0.0955)));
    assert_eq!(counter(&out, "aws.lambda.out_of_memory"), Some(1));
    assert_eq!(counter(&out, "faas.invocations"), None);
    assert_eq!(histogram(&out, "faas.mem_usage"), Some((1, 536_870_912.0)));
}
