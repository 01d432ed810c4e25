//! Fan-out: one pipeline with two exporters, one of them down. The live one must get everything in every
//! flush, the function must wait no longer than the flush budget, and the one that was down must get what
//! it missed once it is back. The two exporters are `otlp` (gRPC) and `otlphttp`, so this also runs the
//! OTLP/HTTP exporter against a real server.

use std::{net::SocketAddr, time::Duration};

use lambdatel_e2e::*;
use lambdatel_sim::{Invocation, OtlpSink, Outcome, ShutdownReason, Simulator};

/// The flush budget the test configures, and the slack allowed on top for scheduling on a busy machine.
const BUDGET_MS: f64 = 300.0;
const SLACK_MS: f64 = 700.0;

fn config(live_grpc: &str, down_http: &str) -> String {
    format!(
        "lambdatel:
  flush_budget: {BUDGET_MS}ms
receivers:
  telemetryapi:
processors:
  batch:
exporters:
  otlp/live:
    endpoint: {live_grpc}
  otlphttp/down:
    endpoint: {down_http}
service:
  pipelines:
    traces: {{receivers: [telemetryapi], processors: [batch], exporters: [otlp/live, otlphttp/down]}}
    metrics: {{receivers: [telemetryapi], processors: [batch], exporters: [otlp/live, otlphttp/down]}}
    logs: {{receivers: [telemetryapi], processors: [batch], exporters: [otlp/live, otlphttp/down]}}
"
    )
}

fn post_runtime(outcome: &Outcome) -> f64 {
    outcome.post_runtime_ms.iter().find(|(name, _)| name == "lambdatel").map(|(_, ms)| *ms).expect("lambdatel ran")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_exporter_holds_back_neither_the_other_nor_the_function_and_catches_up() {
    let live = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let http_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let down = OtlpSink::start_with_http("127.0.0.1:0".parse().unwrap(), Some(http_addr)).await.unwrap();
    let down_endpoint = down.http_endpoint().unwrap();
    down.stop().await;

    let dir = TempDir::new("fanout");
    let config = dir.write("config.yaml", &config(&live.grpc_endpoint(), &down_endpoint));
    let mut sim = Simulator::start(lambdatel_with_config(&config)).await.expect("the simulator starts");

    let mut request_ids = Vec::new();
    for _ in 0..3 {
        let outcome = sim.invoke(Invocation::default()).await.unwrap();
        assert_eq!(outcome.status, "success");
        assert!(post_runtime(&outcome) <= BUDGET_MS + SLACK_MS, "{outcome:#?}");
        // The live backend has this invocation already, before the next one starts.
        let ids = invocation_ids(&live.received(), "orders");
        assert_eq!(ids.iter().filter(|i| **i == outcome.request_id).count(), 1, "{ids:?}");
        request_ids.push(outcome.request_id);
    }

    // The other backend comes back on the same address: what it missed goes out with the next flush.
    let back = OtlpSink::start_with_http("127.0.0.1:0".parse().unwrap(), Some(http_addr)).await.unwrap();
    // The first flush found it down and opened its circuit breaker; the first probe is due within 625 ms
    // (500 ms ±25%), and the probe that gets through drains the queue in the same flush.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let outcome = sim.invoke(Invocation::default()).await.unwrap();
    request_ids.push(outcome.request_id);
    let caught_up = invocation_ids(&back.received(), "orders");
    let live_ids = invocation_ids(&live.received(), "orders");
    for id in &request_ids {
        assert_eq!(caught_up.iter().filter(|i| *i == id).count(), 1, "{id} once in {caught_up:?}");
        assert_eq!(live_ids.iter().filter(|i| *i == id).count(), 1, "{id} once in {live_ids:?}");
    }
    // Metrics and logs went both ways too.
    assert!(!back.received().metrics.is_empty());
    assert!(!back.received().logs.is_empty());

    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    assert!(!report.extensions[0].killed);
    assert_eq!(report.extensions[0].exit_status.as_ref().and_then(|s| s.code), Some(0));
}
