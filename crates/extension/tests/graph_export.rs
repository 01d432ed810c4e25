//! The pipeline graph with the built-in exporters against a real OTLP server: fan-out, request sizes,
//! the queue bound, refused data and the memory budget.
use std::time::Duration;

use lambdatel::Registry;
use lambdatel_components::Graph;
use lambdatel_config::Config;
use lambdatel_pipeline::{
    logs::{LogRecord, ResourceLogs, ScopeLogs},
    ExportCounters, ExportReport, Signal, Signals,
};
use lambdatel_sim::{OtlpSink, SinkBehaviour};
use tokio::time::Instant;

fn config(yaml: &str) -> Config {
    lambdatel_config::parse(yaml, None, &|_| None).expect("valid test config")
}

fn graph(exporters: &str, pipeline_exporters: &str, processors: &str) -> Graph {
    let yaml = format!(
        "receivers:\n  telemetryapi:\nprocessors:\n  batch:\n    send_batch_size: 1\n    send_batch_max_size: 2\nexporters:\n{exporters}service:\n  pipelines:\n    logs: {{receivers: [telemetryapi], processors: [{processors}], exporters: [{pipeline_exporters}]}}\n"
    );
    Registry::builtin().build_graph(&config(&yaml)).expect("graph builds")
}

fn logs(n: u64) -> Signals {
    Signals {
        logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: (0..n).map(|t| LogRecord { time_unix_nano: t, ..Default::default() }).collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn counters(graph: &Graph, exporter: &str) -> ExportCounters {
    graph.counters().into_iter().find(|(e, s, _)| e == exporter && *s == Signal::Logs).unwrap().2
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(2)
}

#[tokio::test]
async fn fan_out_delivers_to_every_exporter_in_requests_of_the_batch_size() {
    let a = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let b = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let exporters =
        format!("  otlp/a:\n    endpoint: {}\n  otlp/b:\n    endpoint: {}\n", a.grpc_endpoint(), b.grpc_endpoint());
    let mut graph = graph(&exporters, "otlp/a, otlp/b", "batch");
    graph.dispatch(0, logs(5));
    let report = graph.export(soon()).await;
    assert_eq!(report, ExportReport { exported: 10, pending: 0, in_flight: 0, problems: vec![] });
    for sink in [&a, &b] {
        assert_eq!(sink.received().log_count(), 5);
        // send_batch_max_size: 2 cuts five records into three requests.
        assert_eq!(sink.request_count(), 3);
    }
    assert_eq!(counters(&graph, "otlp/a").exported, 5);
}

#[tokio::test]
async fn undelivered_data_waits_for_the_next_flush_within_the_queue_bound() {
    let sink = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let exporters = format!(
        "  otlp:\n    endpoint: {}\n    retry_on_failure: {{enabled: false}}\n    sending_queue: {{queue_size: 4}}\n",
        sink.grpc_endpoint()
    );
    let mut graph = graph(&exporters, "otlp", "");
    sink.set_behaviour(SinkBehaviour::Fail(tonic::Code::Unavailable));
    graph.dispatch(0, logs(3));
    let report = graph.export(soon()).await;
    assert_eq!((report.exported, report.pending), (0, 3));
    assert_eq!(report.problems.len(), 1);
    assert!(report.problems[0].error.contains("Unavailable"), "{report:?}");
    assert_eq!((report.problems[0].held, report.problems[0].rejected), (3, 0));
    graph.dispatch(0, logs(3));
    let report = graph.export(soon()).await;
    // Six held, four kept: the two oldest are dropped and counted.
    assert_eq!(report.pending, 4);
    assert_eq!(counters(&graph, "otlp").dropped_queue_full, 2);
    sink.set_behaviour(SinkBehaviour::Accept);
    let report = graph.export(soon()).await;
    assert_eq!((report.exported, report.pending), (4, 0));
    let times: Vec<u64> = sink
        .received()
        .logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
        .map(|l| l.time_unix_nano)
        .collect();
    assert_eq!(times, [2, 0, 1, 2], "the newest four, oldest first");
}

#[tokio::test]
async fn rejected_data_is_dropped_and_counted() {
    let sink = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    sink.set_behaviour(SinkBehaviour::Fail(tonic::Code::InvalidArgument));
    let mut graph = graph(&format!("  otlp:\n    endpoint: {}\n", sink.grpc_endpoint()), "otlp", "");
    graph.dispatch(0, logs(3));
    let report = graph.export(soon()).await;
    assert_eq!((report.exported, report.pending), (0, 0));
    // Nothing is held, but the refusal is reported.
    assert_eq!(report.problems.len(), 1, "{report:?}");
    assert!(report.problems[0].error.contains("InvalidArgument"), "{report:?}");
    assert_eq!((report.problems[0].held, report.problems[0].rejected), (0, 3));
    assert!(report.problems[0].to_string().ends_with("; 3 items refused and dropped"), "{report:?}");
    let c = counters(&graph, "otlp");
    assert_eq!((c.dropped_rejected, c.retries), (3, 0));
}

#[tokio::test]
async fn past_the_memory_budget_new_data_is_dropped_and_counted() {
    let mut graph = graph("  debug:\n    verbosity: basic\n", "debug", "");
    let one = logs(10).encoded_size();
    graph.set_queue_budget(one + one / 2);
    graph.dispatch(0, logs(10));
    graph.dispatch(0, logs(10));
    assert_eq!(graph.pending_items(), 10);
    assert_eq!(counters(&graph, "debug").dropped_memory_limit, 10);
    // The extension's own counters pass a full budget, and the budget still holds afterwards.
    graph.dispatch_exempt(0, logs(10));
    assert_eq!(graph.pending_items(), 20);
    graph.dispatch(0, logs(1));
    assert_eq!((graph.pending_items(), counters(&graph, "debug").dropped_memory_limit), (20, 11));
    graph.export(soon()).await;
    // Delivered data frees the budget.
    graph.dispatch(0, logs(10));
    assert_eq!(graph.pending_items(), 10);
}

#[test]
fn two_telemetry_receivers_are_refused() {
    let yaml = "receivers:\n  telemetryapi:\n  telemetryapi/2:\nexporters:\n  debug:\nservice:\n  pipelines:\n    logs: {receivers: [telemetryapi, telemetryapi/2], exporters: [debug]}\n";
    let errors = Registry::builtin().build_graph(&config(yaml)).err().unwrap();
    assert_eq!(errors.0.len(), 1);
    assert_eq!(
        errors.0[0].message,
        "only one telemetryapi receiver can be used (Lambda allows one subscription per extension), and telemetryapi is already in use"
    );
}
