//! The extension's whole life under the simulator with freezing on: cold start, successes with text and
//! JSON logs, an error, a timeout (with the reset and suppressed init that follow), and a shutdown; the
//! OTLP server must receive exactly the spans, metrics and logs the mapping promises.

use std::time::Duration;

use lambdatel_e2e::*;
use lambdatel_sim::{
    Invocation, LogLine, OtlpSink, Received, Script, ScriptResult, ShutdownReason, SimConfig, Simulator,
};
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode, Span};

const TRACE_1: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
const TRACE_2: &str = "Root=1-6759e988-0d862e3fe1be46a994272794;Parent=1111111111111111;Sampled=0";

fn invocation(trace: Option<&str>, script: Script) -> Invocation {
    Invocation { trace_header: trace.map(str::to_string), script, ..Invocation::default() }
}

fn invocation_span<'a>(spans: &'a [Span], request_id: &str) -> &'a Span {
    let matching: Vec<&Span> = spans
        .iter()
        .filter(|s| s.name == "orders" && attr(&s.attributes, "faas.invocation_id").as_deref() == Some(request_id))
        .collect();
    assert_eq!(matching.len(), 1, "one invocation span for {request_id}, got {matching:#?}");
    matching[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_in_the_life_of_a_function() {
    let sink = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let dir = TempDir::new("life");
    let config = dir.write("config.yaml", &otlp_config(&sink.grpc_endpoint(), ""));
    let mut sim = Simulator::start(SimConfig { timeout: Duration::from_secs(2), ..lambdatel_with_config(&config) })
        .await
        .expect("the simulator starts");

    let first = sim
        .invoke(invocation(
            Some(TRACE_1),
            Script {
                duration: Duration::from_millis(30),
                logs: vec![LogLine::Text("processing order 1".into()), LogLine::Stderr("order 1 done".into())],
                ..Script::default()
            },
        ))
        .await
        .unwrap();
    let second = sim
        .invoke(invocation(
            Some(TRACE_2),
            Script {
                duration: Duration::from_millis(10),
                logs: vec![
                    LogLine::Json { level: "INFO".into(), message: "order 2 accepted".into() },
                    LogLine::Json { level: "ERROR".into(), message: "order 2 payment slow".into() },
                ],
                ..Script::default()
            },
        ))
        .await
        .unwrap();
    let failed = sim
        .invoke(invocation(
            None,
            Script {
                result: ScriptResult::Error { error_type: "ValueError".into(), message: "bad order".into() },
                ..Script::default()
            },
        ))
        .await
        .unwrap();
    let timed_out =
        sim.invoke(invocation(None, Script { result: ScriptResult::Timeout, ..Script::default() })).await.unwrap();
    let after_reset = sim.invoke(invocation(None, Script::default())).await.unwrap();
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();

    assert_eq!(
        [&first, &second, &failed, &timed_out, &after_reset].map(|o| o.status.as_str()),
        ["success", "success", "error", "timeout", "success"],
        "{:#?}",
        [&first, &second, &failed, &timed_out, &after_reset]
    );
    assert!(after_reset.suppressed_init, "a timeout resets the sandbox");
    // Both extension processes (before and after the reset) ended cleanly, within the shutdown budget.
    assert_eq!(report.extensions.len(), 2, "{:#?}", report.extensions);
    for extension in &report.extensions {
        assert!(!extension.killed, "{extension:#?}");
        assert!(extension.errors.is_empty(), "{extension:#?}");
    }

    let received: Received = sink.received();
    let spans = all_spans(&received);

    // The cold start: an invocation span joined to the X-Ray trace, with the init span in the same trace.
    let span = invocation_span(&spans, &first.request_id);
    assert_eq!(hex(&span.trace_id), "5759e988bd862e3fe1be46a994272793");
    assert_eq!(hex(&span.parent_span_id), "53995c3f42cd8ad8");
    assert_eq!(span.kind, SpanKind::Server as i32);
    assert_eq!(attr(&span.attributes, "faas.coldstart").as_deref(), Some("true"));
    assert_eq!(attr(&span.attributes, "faas.trigger").as_deref(), Some("other"));
    assert_eq!(span.status.as_ref().unwrap().code, StatusCode::Ok as i32);
    let inits: Vec<&Span> = spans.iter().filter(|s| s.name == "Init").collect();
    assert_eq!(inits.len(), 2, "the first init and the suppressed init after the timeout");
    assert_eq!(hex(&inits[0].trace_id), "5759e988bd862e3fe1be46a994272793");
    assert_eq!(inits[0].parent_span_id, span.parent_span_id);

    let span = invocation_span(&spans, &second.request_id);
    assert_eq!(hex(&span.trace_id), "6759e9880d862e3fe1be46a994272794");
    assert_eq!(attr(&span.attributes, "faas.coldstart").as_deref(), Some("false"));

    let span = invocation_span(&spans, &failed.request_id);
    assert_eq!(span.status.as_ref().unwrap().code, StatusCode::Error as i32);
    assert_eq!(attr(&span.attributes, "error.type"), failed.error_type.clone().or(Some("error".into())));

    let span = invocation_span(&spans, &timed_out.request_id);
    assert_eq!(span.status.as_ref().unwrap().code, StatusCode::Error as i32);
    // Lambda names the timeout in errorType, which wins over the status.
    assert_eq!(attr(&span.attributes, "error.type").as_deref(), Some("Sandbox.Timedout"));

    let span = invocation_span(&spans, &after_reset.request_id);
    assert_eq!(attr(&span.attributes, "faas.coldstart").as_deref(), Some("true"));

    // Metrics: cumulative per extension process; the two processes' series add up.
    let metrics = all_metrics(&received);
    assert_eq!(counter_total(&received, "faas.invocations"), 3);
    assert_eq!(counter_total(&received, "faas.errors"), 1);
    assert_eq!(counter_total(&received, "faas.timeouts"), 1);
    assert_eq!(counter_total(&received, "faas.coldstarts"), 2);
    assert!(histogram_count(&metrics, "faas.invoke_duration").is_some());

    // Logs: every line, attributed to its invocation and correlated with its span.
    let logs = all_logs(&received);
    let body = |l: &opentelemetry_proto::tonic::logs::v1::LogRecord| l.body.as_ref().map(text).unwrap_or_default();
    let function_logs: Vec<_> =
        logs.iter().filter(|l| attr(&l.attributes, "aws.lambda.log.type").as_deref() == Some("function")).collect();
    let bodies: Vec<String> = function_logs.iter().map(|l| body(l)).collect();
    for expected in ["processing order 1", "order 1 done", "order 2 accepted", "order 2 payment slow"] {
        assert_eq!(bodies.iter().filter(|b| *b == expected).count(), 1, "{expected:?} once in {bodies:#?}");
    }
    let line = function_logs.iter().find(|l| body(l) == "processing order 1").unwrap();
    assert_eq!(attr(&line.attributes, "faas.invocation_id"), Some(first.request_id.clone()));
    let first_span = invocation_span(&spans, &first.request_id);
    assert_eq!(line.trace_id, first_span.trace_id);
    assert_eq!(line.span_id, first_span.span_id);
    let error_line = function_logs.iter().find(|l| body(l) == "order 2 payment slow").unwrap();
    assert_eq!(error_line.severity_number, 17);
    assert_eq!(error_line.severity_text, "ERROR");
    assert_eq!(attr(&error_line.attributes, "faas.invocation_id"), Some(second.request_id.clone()));
}

/// Sums a counter over extension processes: each process's cumulative series has its own start time.
fn counter_total(received: &Received, name: &str) -> i64 {
    use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point::Value};
    let mut latest: std::collections::BTreeMap<u64, i64> = Default::default();
    for metric in all_metrics(received).iter().filter(|m| m.name == name) {
        if let Some(Data::Sum(sum)) = &metric.data {
            for p in &sum.data_points {
                let v = match p.value {
                    Some(Value::AsInt(i)) => i,
                    Some(Value::AsDouble(d)) => d as i64,
                    None => 0,
                };
                let entry = latest.entry(p.start_time_unix_nano).or_default();
                *entry = (*entry).max(v);
            }
        }
    }
    latest.values().sum()
}

/// The older Logs API (schema 2021-03-18) feeds the same spans, metrics and logs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_logs_api_feeds_the_same_pipelines() {
    let sink = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let dir = TempDir::new("logsapi");
    let yaml = otlp_config(&sink.grpc_endpoint(), "").replace("  telemetryapi:\n", "  telemetryapi:\n    api: logs\n");
    let config = dir.write("config.yaml", &yaml);
    let mut sim = Simulator::start(lambdatel_with_config(&config)).await.unwrap();
    let outcome = sim
        .invoke(invocation(
            Some(TRACE_1),
            Script { logs: vec![LogLine::Text("via the logs api".into())], ..Script::default() },
        ))
        .await
        .unwrap();
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    let subscription = report.extensions[0].subscription.as_ref().expect("subscribed");
    assert_eq!((subscription.api.as_str(), subscription.schema_version.as_str()), ("logs", "2021-03-18"));

    let received = sink.received();
    let spans = all_spans(&received);
    let span = invocation_span(&spans, &outcome.request_id);
    assert_eq!(hex(&span.trace_id), "5759e988bd862e3fe1be46a994272793");
    assert_eq!(span.status.as_ref().unwrap().code, StatusCode::Ok as i32);
    let logs = all_logs(&received);
    let line = logs.iter().find(|l| l.body.as_ref().map(text).as_deref() == Some("via the logs api")).unwrap();
    assert_eq!(attr(&line.attributes, "faas.invocation_id"), Some(outcome.request_id.clone()));
    assert_eq!(counter_total(&received, "faas.invocations"), 1);
}
