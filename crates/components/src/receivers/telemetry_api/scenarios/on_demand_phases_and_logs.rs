//! On-demand sandboxes, continued: init placement, restores, the Logs API, log attribution and resources.

use super::*;
use crate::debug_line::{DEBUG_LINE_PREFIX, EMF_LINE_PREFIX};
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, AggregationTemporality};

#[test]
fn provisioned_init_stands_alone() {
    let mut c = converter();
    c.ingest(&fixture("telemetry_provisioned.json"));
    let out = c.drain();
    let init = span(&out, "Init");
    assert_eq!(spans(&out).len(), 1);
    assert_eq!(init.parent_span_id, Vec::<u8>::new());
    assert_eq!(init.trace_id.len(), 16);
    assert_ne!(init.trace_id, vec![0; 16]);
    assert_eq!(init.flags, 0x101);
    assert_eq!(init.start_time_unix_nano, ts("2024-05-01T11:00:00.000Z"));
    assert_eq!(init.end_time_unix_nano, ts("2024-05-01T11:00:00.800Z"));
    assert!(attrs(&init.attributes).contains(&("aws.lambda.initialization_type", s("provisioned-concurrency"))));
    assert_eq!(counter(&out, "faas.coldstarts"), None);
    assert_eq!(histogram(&out, "faas.init_duration"), Some((1, 0.802)));
    // The first invocation after a provisioned init is not a cold start.
    let body = format!(
        r#"[{{"time":"2024-05-01T11:30:00.000Z","type":"platform.start","record":{{"requestId":"{A}"}}}},
           {{"time":"2024-05-01T11:30:00.100Z","type":"platform.runtimeDone","record":{{"requestId":"{A}","status":"success"}}}}]"#
    );
    c.ingest(body.as_bytes());
    let out = c.drain();
    assert!(attrs(&span(&out, "orders-api").attributes).contains(&("faas.coldstart", Av::BoolValue(false))));
}

#[test]
fn snapstart_restore_joins_the_invocation() {
    let mut c = Converter::new(ResourceInfo::default(), ConvertOptions::default());
    let stats = c.ingest(&fixture("telemetry_snapstart.json"));
    assert_eq!(stats, IngestStats { events: 7, ..IngestStats::default() });
    let out = c.drain();
    // Without AWS_LAMBDA_FUNCTION_NAME, the name comes from restoreStart.
    let inv = span(&out, "orders-api");
    let restore = span(&out, "Restore");
    assert_eq!(restore.trace_id, hex("66323a08aabbccddeeff001122334455"));
    assert_eq!(restore.parent_span_id, hex("1112131415161718"));
    assert_eq!(inv.parent_span_id, hex("1112131415161718"));
    assert_eq!(restore.start_time_unix_nano, ts("2024-05-01T12:30:00.000Z"));
    assert_eq!(restore.end_time_unix_nano, ts("2024-05-01T12:30:00.200Z"));
    assert!(attrs(&inv.attributes).contains(&("faas.coldstart", Av::BoolValue(false))));
    assert_eq!(histogram(&out, "aws.lambda.restore_duration"), Some((1, 0.21)));
    let r = attrs(&c.resource().attributes);
    assert!(r.contains(&("faas.name", s("orders-api"))));
    assert!(r.contains(&("service.name", s("orders-api"))));
    assert!(r.contains(&("faas.version", s("3"))));
    let line = logs(&out)[0];
    assert_eq!((line.severity_number, line.trace_id.clone()), (9, inv.trace_id.clone()));
    // Java's layout: date, time, request id and level are the record's; the logger name stays in the body.
    assert_eq!(body(line), s("Handler - restored and serving"));
}

#[test]
fn managed_instances_reports_close_concurrent_invocations() {
    let mut c = converter();
    let stats = c.ingest(&fixture("telemetry_managed_instances.json"));
    assert_eq!(stats, IngestStats { events: 9, ..IngestStats::default() });
    assert!(c.runtime_done_seen("aaaaaaaa-1111-4222-8333-444444444444"));
    let out = c.drain();
    let all = spans(&out);
    assert_eq!(all.iter().filter(|s| s.name == "Init").count(), 1);
    let invs: Vec<_> = all.iter().filter(|s| s.name == "orders-api").collect();
    assert_eq!(invs.len(), 2);
    let (first, second) = (invs[0], invs[1]);
    assert_eq!(first.trace_id, hex("67c2cc84000000000000000000000001"));
    assert_eq!(first.end_time_unix_nano, ts("2025-03-01T09:01:00.050Z"));
    assert!(attrs(&first.attributes)
        .contains(&("aws.lambda.invoked_arn", s("arn:aws:lambda:us-east-1:123456789012:function:orders-api:4"))));
    assert_eq!(all.iter().filter(|s| s.parent_span_id == first.span_id).count(), 2);
    assert_eq!(second.status, Some(Status { message: "timeout".into(), code: StatusCode::Error as i32 }));
    assert!(attrs(&second.attributes).contains(&("error.type", s("timeout"))));
    let records = logs(&out);
    assert_eq!(records[0].trace_id, first.trace_id);
    assert_eq!(records[1].trace_id, second.trace_id);
    assert_eq!(records[1].severity_number, 13);
    assert_eq!(counter(&out, "faas.invocations"), Some(1));
    assert_eq!(counter(&out, "faas.timeouts"), Some(1));
    assert_eq!(counter(&out, "faas.coldstarts"), None);
    assert_eq!(histogram(&out, "faas.invoke_duration"), Some((2, 0.11)));
}

#[test]
fn malformed_input_keeps_the_good_parts() {
    let mut c = converter();
    assert_eq!(c.ingest(b"{not json"), IngestStats { malformed_batches: 1, ..IngestStats::default() });
    let stats = c.ingest(&fixture("telemetry_malformed.json"));
    // Skipped: the unknown type, the function without record, 42, the runtimeDone without requestId.
    // Fields: the bad trace header, the bad time, durationMs, producedBytes, billedDurationMs.
    assert_eq!(stats, IngestStats { events: 6, skipped_events: 4, skipped_fields: 5, malformed_batches: 0 });
    let out = c.drain();
    let inv = span(&out, "orders-api");
    assert_eq!(inv.trace_id.len(), 16);
    assert_eq!(inv.parent_span_id, Vec::<u8>::new());
    assert_eq!(inv.end_time_unix_nano, ts("2024-05-01T12:00:30.050Z"));
    let bodies: Vec<_> = logs(&out).into_iter().map(|r| (body(r), r.observed_time_unix_nano)).collect();
    let last = ts("2024-05-01T12:00:30.000Z");
    assert_eq!(
        bodies,
        vec![
            (s("a line without a time"), last),
            (s("a line with a bad time"), last),
            (s("still here"), ts("2024-05-01T12:00:30.003Z")),
        ]
    );
    assert_eq!(histogram(&out, "aws.lambda.billed_duration"), None);
    assert_eq!(histogram(&out, "aws.lambda.duration"), Some((1, 0.06)));
    // The runtimeDone's duration was unusable: the span's own times give it.
    assert_eq!(histogram(&out, "faas.invoke_duration"), Some((1, 0.05)));
}

#[test]
fn invoke_event_gives_trace_context_and_platform_start_wins() {
    let body = format!(
        r#"[{{"time":"2024-05-01T12:00:00.000Z","type":"platform.start","record":{{"requestId":"{A}"}}}},
           {{"time":"2024-05-01T12:00:00.100Z","type":"platform.runtimeDone","record":{{"requestId":"{A}","status":"success"}}}}]"#
    );
    let mut c = converter();
    c.on_invoke(InvokeContext {
        request_id: A.into(),
        invoked_function_arn: None,
        tracing_value: Some("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".into()),
        deadline_ms: None,
    });
    c.ingest(body.as_bytes());
    let out = c.drain();
    let inv = span(&out, "orders-api");
    assert_eq!(inv.trace_id, hex("5759e988bd862e3fe1be46a994272793"));
    assert_eq!(inv.parent_span_id, hex("53995c3f42cd8ad8"));
    assert_eq!(inv.span_id.len(), 8);

    // INVOKE arriving after platform.start does not replace platform.start's context.
    let body = format!(
        r#"[{{"time":"2024-05-01T12:00:00.000Z","type":"platform.start","record":{{"requestId":"{A}",
            "tracing":{{"type":"X-Amzn-Trace-Id","value":"Root=1-66323100-b1f9e2a8c7d64e0f9a1b2c3d;Parent=2f4a8c1e9b7d3a60;Sampled=1"}}}}}}]"#
    );
    let mut c = converter();
    c.ingest(body.as_bytes());
    c.on_invoke(InvokeContext {
        request_id: A.into(),
        tracing_value: Some("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".into()),
        ..Default::default()
    });
    let done = format!(
        r#"[{{"time":"2024-05-01T12:00:00.100Z","type":"platform.runtimeDone","record":{{"requestId":"{A}","status":"success"}}}}]"#
    );
    c.ingest(done.as_bytes());
    assert_eq!(span(&c.drain(), "orders-api").trace_id, hex("66323100b1f9e2a8c7d64e0f9a1b2c3d"));
}

#[test]
fn ids_used_by_logs_stay_fixed() {
    let mut c = converter();
    let body = format!(
        r#"[{{"time":"2024-05-01T12:00:00.000Z","type":"platform.start","record":{{"requestId":"{A}"}}}},
           {{"time":"2024-05-01T12:00:00.001Z","type":"function","record":"hello"}}]"#
    );
    c.ingest(body.as_bytes());
    let log_trace = logs(&c.drain())[0].trace_id.clone();
    let done = format!(
        r#"[{{"time":"2024-05-01T12:00:00.100Z","type":"platform.runtimeDone","record":{{"requestId":"{A}","status":"success",
            "tracing":{{"type":"X-Amzn-Trace-Id","value":"Root=1-66323100-b1f9e2a8c7d64e0f9a1b2c3d;Sampled=1"}}}}}}]"#
    );
    c.ingest(done.as_bytes());
    assert_eq!(span(&c.drain(), "orders-api").trace_id, log_trace);
}

#[test]
fn out_of_memory_counted_once_and_timeouts() {
    let body = format!(
        r#"[{{"time":"2024-05-01T12:00:00.000Z","type":"platform.start","record":{{"requestId":"{A}"}}}},
           {{"time":"2024-05-01T12:00:00.100Z","type":"platform.runtimeDone","record":{{"requestId":"{A}","status":"error","errorType":"Runtime.OutOfMemory"}}}},
           {{"time":"2024-05-01T12:00:00.110Z","type":"platform.report","record":{{"requestId":"{A}","status":"error","errorType":"Runtime.OutOfMemory","metrics":{{"durationMs":110,"billedDurationMs":110,"memorySizeMB":128,"maxMemoryUsedMB":128}}}}}},
           {{"time":"2024-05-01T12:00:01.000Z","type":"platform.start","record":{{"requestId":"{B}"}}}},
           {{"time":"2024-05-01T12:00:04.000Z","type":"platform.runtimeDone","record":{{"requestId":"{B}","status":"timeout"}}}}]"#
    );
    let mut c = converter();
    c.ingest(body.as_bytes());
    let out = c.drain();
    assert_eq!(counter(&out, "aws.lambda.out_of_memory"), Some(1));
    assert_eq!(counter(&out, "faas.errors"), Some(1));
    assert_eq!(counter(&out, "faas.timeouts"), Some(1));
    let oom = spans(&out).into_iter().find(|s| s.attributes.iter().any(|kv| av(kv) == s_(A))).unwrap();
    assert_eq!(oom.status.as_ref().unwrap().message, "Runtime.OutOfMemory");
    let timeout = spans(&out).into_iter().find(|s| s.attributes.iter().any(|kv| av(kv) == s_(B))).unwrap();
    assert_eq!(timeout.status, Some(Status { message: "timeout".into(), code: StatusCode::Error as i32 }));
    assert_eq!(timeout.end_time_unix_nano - timeout.start_time_unix_nano, 3_000_000_000);
}

fn s_(text: &str) -> Av {
    s(text)
}

#[test]
fn init_errors_count_and_a_retried_init_keeps_the_failed_one() {
    let body = r#"[
        {"time":"2024-05-01T12:00:00.000Z","type":"platform.initStart","record":{"initializationType":"on-demand","phase":"init"}},
        {"time":"2024-05-01T12:00:01.000Z","type":"platform.initRuntimeDone","record":{"initializationType":"on-demand","phase":"init","status":"error","errorType":"Runtime.ExitError"}},
        {"time":"2024-05-01T12:00:01.001Z","type":"platform.initReport","record":{"initializationType":"on-demand","phase":"init","status":"error","errorType":"Runtime.ExitError","metrics":{"durationMs":1001}}},
        {"time":"2024-05-01T12:00:02.000Z","type":"platform.initStart","record":{"initializationType":"on-demand","phase":"invoke"}}
    ]"#;
    let mut c = converter();
    c.ingest(body.as_bytes());
    let out = c.drain();
    let init = span(&out, "Init");
    assert_eq!(init.status, Some(Status { message: "Runtime.ExitError".into(), code: StatusCode::Error as i32 }));
    assert!(attrs(&init.attributes).contains(&("error.type", s("Runtime.ExitError"))));
    assert_eq!(init.parent_span_id, Vec::<u8>::new());
    assert_eq!(counter(&out, "faas.errors"), Some(1));
    assert_eq!(counter(&out, "faas.coldstarts"), Some(2));
}

#[test]
fn suppressed_init_inside_an_invocation_marks_it_cold() {
    let body = format!(
        r#"[{{"time":"2024-05-01T12:00:00.000Z","type":"platform.start","record":{{"requestId":"{A}"}}}},
           {{"time":"2024-05-01T12:00:00.001Z","type":"platform.initStart","record":{{"initializationType":"on-demand","phase":"invoke"}}}},
           {{"time":"2024-05-01T12:00:00.200Z","type":"platform.initRuntimeDone","record":{{"initializationType":"on-demand","phase":"invoke","status":"success"}}}},
           {{"time":"2024-05-01T12:00:00.300Z","type":"platform.runtimeDone","record":{{"requestId":"{A}","status":"success"}}}},
           {{"time":"2024-05-01T12:00:01.000Z","type":"platform.start","record":{{"requestId":"{B}"}}}},
           {{"time":"2024-05-01T12:00:01.100Z","type":"platform.runtimeDone","record":{{"requestId":"{B}","status":"success"}}}}]"#
    );
    let mut c = converter();
    c.ingest(body.as_bytes());
    let out = c.drain();
    let cold: Vec<_> = spans(&out)
        .into_iter()
        .filter(|s| s.name == "orders-api")
        .map(|s| attrs(&s.attributes).contains(&("faas.coldstart", Av::BoolValue(true))))
        .collect();
    assert_eq!(cold, [true, false]);
    let init = span(&out, "Init");
    assert_eq!(init.trace_id, spans(&out).into_iter().find(|s| s.name == "orders-api").unwrap().trace_id);
    assert!(attrs(&init.attributes).contains(&("aws.lambda.init_phase", s("invoke"))));
}

#[test]
fn max_memory_from_init_start_when_the_environment_lacks_it() {
    let mut c = Converter::new(ResourceInfo::default(), ConvertOptions::default());
    c.ingest(&fixture("telemetry_provisioned.json"));
    let r = attrs(&c.resource().attributes);
    assert!(r.contains(&("faas.max_memory", Av::IntValue(268_435_456))));
    assert!(r.contains(&("faas.version", s("12"))));
    // A value in MB, as in AWS's documentation example.
    let mut c = Converter::new(ResourceInfo::default(), ConvertOptions::default());
    c.ingest(
        br#"[{"time":"2024-05-01T11:00:00.000Z","type":"platform.initStart","record":{"instanceMaxMemory":256}}]"#,
    );
    assert!(attrs(&c.resource().attributes).contains(&("faas.max_memory", Av::IntValue(268_435_456))));
    // The environment's value is kept.
    let mut c = converter();
    c.ingest(&fixture("telemetry_provisioned.json"));
    assert!(attrs(&c.resource().attributes).contains(&("faas.max_memory", Av::IntValue(134_217_728))));
}

#[test]
fn finish_flushes_what_is_held() {
    let body = format!(
        r#"[{{"time":"2024-05-01T12:00:00.000Z","type":"platform.initStart","record":{{"initializationType":"on-demand","phase":"init"}}}},
           {{"time":"2024-05-01T12:00:00.300Z","type":"platform.initRuntimeDone","record":{{"initializationType":"on-demand","phase":"init","status":"success"}}}},
           {{"time":"2024-05-01T12:00:00.400Z","type":"platform.start","record":{{"requestId":"{A}"}}}},
           {{"time":"2024-05-01T12:00:02.000Z","type":"function","record":"still working"}}]"#
    );
    let mut c = converter();
    c.ingest(body.as_bytes());
    let out = c.drain();
    assert!(spans(&out).is_empty(), "the invocation is open and the init waits for it");
    assert!(!c.runtime_done_seen(A));
    let out = c.finish();
    let inv = span(&out, "orders-api");
    assert_eq!(inv.status, None);
    assert_eq!(inv.start_time_unix_nano, ts("2024-05-01T12:00:00.400Z"));
    assert_eq!(inv.end_time_unix_nano, ts("2024-05-01T12:00:02.000Z"));
    assert!(attrs(&inv.attributes).contains(&("faas.coldstart", Av::BoolValue(true))));
    let init = span(&out, "Init");
    assert_eq!(init.trace_id, inv.trace_id);
    assert_eq!(init.end_time_unix_nano, ts("2024-05-01T12:00:00.300Z"));
    assert!(c.finish().is_empty());
}

#[test]
fn finish_emits_an_unplaced_init_alone() {
    let body = r#"[
        {"time":"2024-05-01T12:00:00.000Z","type":"platform.initStart","record":{"initializationType":"on-demand","phase":"init"}},
        {"time":"2024-05-01T12:00:00.250Z","type":"platform.initReport","record":{"initializationType":"on-demand","phase":"init","status":"success","metrics":{"durationMs":250.5}}}
    ]"#;
    let mut c = converter();
    c.ingest(body.as_bytes());
    assert!(spans(&c.drain()).is_empty());
    let out = c.finish();
    let init = span(&out, "Init");
    assert_eq!(init.end_time_unix_nano, ts("2024-05-01T12:00:00.2505Z"), "start + initReport durationMs");
    assert_eq!(init.parent_span_id, Vec::<u8>::new());
}

#[test]
fn delta_temporality() {
    let mut c = Converter::new(info(), ConvertOptions { temporality: Temporality::Delta, ..Default::default() });
    c.ingest(&fixture("telemetry_cold_start.json"));
    let first = c.drain();
    assert_eq!(counter(&first, "faas.invocations"), Some(1));
    c.ingest(&fixture("telemetry_warm_invoke.json"));
    let second = c.drain();
    assert_eq!(counter(&second, "faas.invocations"), None, "unchanged in this interval");
    assert_eq!(counter(&second, "faas.errors"), Some(1));
    assert_eq!(histogram(&second, "faas.init_duration"), None);
    let Some(Data::Sum(sum)) = &metric(&second, "faas.errors").unwrap().data else { panic!() };
    assert_eq!(sum.aggregation_temporality, AggregationTemporality::Delta as i32);
    assert_eq!(sum.data_points[0].start_time_unix_nano, ts("2024-05-01T12:00:00.512Z"));
    assert_eq!(sum.data_points[0].time_unix_nano, ts("2024-05-01T12:00:05.140Z"));
}

#[test]
fn temporality_serde() {
    assert_eq!(serde_json::from_str::<Temporality>("\"delta\"").unwrap(), Temporality::Delta);
    assert_eq!(serde_json::from_str::<Temporality>("\"cumulative\"").unwrap(), Temporality::Cumulative);
    assert!(serde_json::from_str::<Temporality>("\"Delta\"").is_err());
    assert_eq!(Temporality::default(), Temporality::Cumulative);
}

#[test]
fn logs_outside_any_invocation_are_not_attributed() {
    let body = format!(
        r#"[{{"time":"2024-05-01T12:00:00.000Z","type":"platform.start","record":{{"requestId":"{A}"}}}},
           {{"time":"2024-05-01T12:00:00.100Z","type":"platform.runtimeDone","record":{{"requestId":"{A}","status":"success"}}}},
           {{"time":"2024-05-01T12:00:00.150Z","type":"extension","record":"flushing"}},
           {{"time":"2024-05-01T12:00:00.100Z","type":"function","record":"last words"}}]"#
    );
    let mut c = converter();
    c.ingest(body.as_bytes());
    let out = c.drain();
    let records = logs(&out);
    assert_eq!(attrs(&records[0].attributes), vec![("aws.lambda.log.type", s("extension"))]);
    assert!(records[0].trace_id.is_empty());
    assert_eq!(records[1].trace_id, span(&out, "orders-api").trace_id, "runtimeDone's instant still belongs");
}

#[test]
fn busy_invocation_batches_text_and_json() {
    for name in ["telemetry_text_logs_batch.json", "telemetry_json_logs_batch.json"] {
        let mut c = converter();
        let stats = c.ingest(&fixture(name));
        assert_eq!(stats, IngestStats { events: 102, ..IngestStats::default() }, "{name}");
        let out = c.drain();
        let inv = span(&out, "orders-api");
        assert_eq!(inv.trace_id, hex("663240005e4d3c2b1a0f9e8d7c6b5a49"), "{name}");
        let records = logs(&out);
        assert_eq!(records.len(), 100, "{name}");
        let mut by_severity = std::collections::BTreeMap::new();
        for r in &records {
            assert_eq!((&r.trace_id, &r.span_id), (&inv.trace_id, &inv.span_id), "{name}");
            assert_eq!(r.attributes[0].key, "faas.invocation_id");
            *by_severity.entry(r.severity_number).or_insert(0) += 1;
        }
        assert_eq!(by_severity.into_iter().collect::<Vec<_>>(), [(5, 17), (9, 51), (13, 16), (17, 16)], "{name}");
        let Av::StringValue(first) = body(records[0]) else { panic!() };
        assert_eq!(first, "handled item 0 of batch: sku=SKU-00000 qty=1", "{name}");
    }
}

#[test]
fn a_retried_post_is_not_counted_twice() {
    let mut c = converter();
    c.ingest(&fixture("telemetry_cold_start.json"));
    c.ingest(&fixture("telemetry_warm_invoke.json"));
    let once = c.drain();
    let mut again = converter();
    for _ in 0..2 {
        again.ingest(&fixture("telemetry_cold_start.json"));
        again.ingest(&fixture("telemetry_warm_invoke.json"));
    }
    let twice = again.drain();
    assert_eq!(spans(&twice).len(), spans(&once).len());
    for name in ["faas.invocations", "faas.errors", "faas.coldstarts"] {
        assert_eq!(counter(&twice, name), counter(&once, name), "{name}");
    }
    for name in
        ["faas.invoke_duration", "faas.init_duration", "aws.lambda.duration", "aws.lambda.post_runtime_duration"]
    {
        assert_eq!(histogram(&twice, name), histogram(&once, name), "{name}");
    }
}

#[test]
fn extreme_values_do_not_panic() {
    let body = format!(
        r#"[{{"time":"2500-12-31T23:59:59.999999999Z","type":"platform.start","record":{{"requestId":"{A}"}}}},
           {{"type":"platform.runtimeDone","record":{{"requestId":"{A}","status":"success","metrics":{{"durationMs":1e300,"producedBytes":18446744073709551615}},
             "spans":[{{"name":"responseLatency","start":"2500-12-31T23:59:59.999Z","durationMs":1e308}}]}}}},
           {{"type":"platform.report","record":{{"requestId":"{A}","metrics":{{"durationMs":1e308,"billedDurationMs":1e308,"memorySizeMB":1e308,"maxMemoryUsedMB":1e308}}}}}},
           {{"type":"platform.logsDropped","record":{{"droppedRecords":18446744073709551615,"droppedBytes":1}}}},
           {{"type":"platform.logsDropped","record":{{"droppedRecords":18446744073709551615,"droppedBytes":1}}}},
           {{"type":"platform.initReport","record":{{"initializationType":"provisioned-concurrency","metrics":{{"durationMs":1e308}}}}}}]"#
    );
    let mut c = converter();
    let stats = c.ingest(body.as_bytes());
    assert_eq!(stats, IngestStats { events: 6, ..IngestStats::default() });
    let out = c.finish();
    assert_eq!(counter(&out, "aws.lambda.logs_dropped"), Some(i64::MAX));
    let inv = span(&out, "orders-api");
    assert_eq!(inv.end_time_unix_nano, u64::MAX);
    assert_eq!(span(&out, "responseLatency").end_time_unix_nano, u64::MAX);
    assert!(attrs(&inv.attributes).contains(&("aws.lambda.produced_bytes", Av::IntValue(i64::MAX))));
}

#[test]
fn empty_drain_is_empty() {
    let mut c = converter();
    assert_eq!(c.drain(), Signals::default());
    assert_eq!(c.ingest(b"[]"), IngestStats::default());
    assert_eq!(c.finish(), Signals::default());
}

#[test]
fn the_debug_exporters_own_lines_do_not_come_back() {
    let mut c = Converter::new(ResourceInfo::default(), ConvertOptions::default());
    let body = format!(
        r#"[{{"time":"2026-01-01T00:00:00.000Z","type":"extension","record":"{}traces: 1 items\n"}},
           {{"time":"2026-01-01T00:00:00.001Z","type":"extension","record":"another extension speaks\n"}}]"#,
        DEBUG_LINE_PREFIX
    );
    c.ingest(body.as_bytes());
    let out = c.drain();
    assert_eq!(out.log_count(), 1);
    assert_eq!(c.skipped_self_lines(), 1);
}

#[test]
fn the_awsemf_exporters_own_lines_do_not_come_back() {
    let mut c = Converter::new(ResourceInfo::default(), ConvertOptions::default());
    let emf = format!(r#"{EMF_LINE_PREFIX}"_aws":{{"Timestamp":1,"CloudWatchMetrics":[]}},"m":1}}"#);
    let text = serde_json::to_string(&format!("{emf}\n")).unwrap();
    let body = format!(
        r#"[{{"time":"2026-01-01T00:00:00.000Z","type":"extension","record":{text}}},
           {{"time":"2026-01-01T00:00:00.001Z","type":"extension","record":{emf}}},
           {{"time":"2026-01-01T00:00:00.002Z","type":"extension","record":{{"_aws":{{"Timestamp":1}},"m":2}}}},
           {{"time":"2026-01-01T00:00:00.003Z","type":"extension","record":"{{\"_aws\":{{}}}}"}}]"#
    );
    c.ingest(body.as_bytes());
    // The text and JSON forms of this extension's EMF lines are skipped; another extension's EMF is kept.
    assert_eq!(c.skipped_self_lines(), 2);
    assert_eq!(c.drain().log_count(), 2);
}

#[test]
fn log_records_past_the_memory_budget_are_dropped_and_counted() {
    let mut c = Converter::new(ResourceInfo::default(), ConvertOptions::default());
    c.set_log_budget(1_000);
    let line = "x".repeat(300);
    let events: Vec<String> = (0..10)
        .map(|i| format!(r#"{{"time":"2026-01-01T00:00:00.{i:03}Z","type":"function","record":"{line}"}}"#))
        .collect();
    c.ingest(format!("[{}]", events.join(",")).as_bytes());
    // 300 bytes of body + 128 of overhead + attributes: two records fit in 1,000 bytes.
    assert_eq!(c.drain().log_count(), 2);
    assert_eq!(c.dropped_logs(), 8);
    // A drain frees the budget.
    c.ingest(format!("[{}]", events[0]).as_bytes());
    assert_eq!(c.drain().log_count(), 1);
}

/// The resource attribute keys of what one drain made, per signal.
fn resource_keys(s: &Signals) -> [Vec<String>; 3] {
    let keys = |r: Option<&opentelemetry_proto::tonic::resource::v1::Resource>| {
        r.unwrap().attributes.iter().map(|kv| kv.key.clone()).collect::<Vec<_>>()
    };
    [keys(s.spans[0].resource.as_ref()), keys(s.metrics[0].resource.as_ref()), keys(s.logs[0].resource.as_ref())]
}

#[test]
fn metrics_leave_the_instance_out_by_default_only_with_delta() {
    use crate::receivers::telemetry_api::resource::INSTANCE_KEYS;
    let run = |temporality, instance_id_attribute, info: ResourceInfo| {
        let options = ConvertOptions { temporality, instance_id_attribute, ..Default::default() };
        let mut c = Converter::new(info, options);
        c.on_invoke(InvokeContext { request_id: A.into(), ..Default::default() });
        c.ingest(&fixture("telemetry_cold_start.json"));
        resource_keys(&c.drain())
    };
    // The fixture's init start names the instance, so both instance attributes are set.
    let instance = |keys: &Vec<String>| keys.iter().filter(|k| INSTANCE_KEYS.contains(&k.as_str())).count();
    let others =
        |keys: &Vec<String>| keys.iter().filter(|k| !INSTANCE_KEYS.contains(&k.as_str())).cloned().collect::<Vec<_>>();
    for (temporality, setting, on_metrics) in [
        (Temporality::Cumulative, None, 2),
        (Temporality::Cumulative, Some(true), 2),
        (Temporality::Delta, None, 0),
        (Temporality::Delta, Some(false), 0),
        (Temporality::Delta, Some(true), 2),
    ] {
        let [spans, metrics, logs] = run(temporality, setting, info());
        assert_eq!(
            (instance(&spans), instance(&metrics), instance(&logs)),
            (2, on_metrics, 2),
            "{temporality:?} {setting:?}"
        );
        assert_eq!(others(&metrics), others(&spans), "nothing else differs");
    }
    // One the user set on purpose (OTEL_RESOURCE_ATTRIBUTES) stays.
    let mine = ResourceInfo { extra: vec![("service.instance.id".into(), "mine".into())], ..info() };
    let [_, metrics, _] = run(Temporality::Delta, None, mine);
    assert_eq!(
        metrics.iter().filter(|k| INSTANCE_KEYS.contains(&k.as_str())).collect::<Vec<_>>(),
        ["service.instance.id"]
    );
}
