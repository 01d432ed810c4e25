//! Failure paths under the simulator: a backend that is down, slow or rejecting, a bad config and a taken
//! port. The function must never wait on the extension longer than the flush budget, the extension must
//! survive, and data must arrive once the backend is back (or be dropped only when the backend refuses it).

use std::{net::SocketAddr, time::Duration};

use lambdatel_e2e::*;
use lambdatel_sim::{Invocation, OtlpSink, Outcome, ShutdownReason, Simulator, SinkBehaviour};

/// The flush budget the tests configure, and the slack allowed on top for scheduling on a busy machine.
const BUDGET_MS: f64 = 300.0;
const SLACK_MS: f64 = 700.0;

async fn start(config_yaml: &str, dir: &TempDir) -> Simulator {
    let config = dir.write("config.yaml", config_yaml);
    Simulator::start(lambdatel_with_config(&config)).await.expect("the simulator starts")
}

fn config(endpoint: &str) -> String {
    format!("lambdatel:\n  flush_budget: {BUDGET_MS}ms\n{}", otlp_config(endpoint, ""))
}

fn post_runtime(outcome: &Outcome) -> f64 {
    outcome.post_runtime_ms.iter().find(|(name, _)| name == "lambdatel").map(|(_, ms)| *ms).expect("lambdatel ran")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_down_costs_at_most_the_budget_and_loses_nothing() {
    let sink = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr: SocketAddr = sink.grpc_addr();
    let endpoint = sink.grpc_endpoint();
    sink.stop().await;
    let dir = TempDir::new("down");
    let mut sim = start(&config(&endpoint), &dir).await;

    let mut request_ids = Vec::new();
    for _ in 0..3 {
        let outcome = sim.invoke(Invocation::default()).await.unwrap();
        assert_eq!(outcome.status, "success");
        assert!(post_runtime(&outcome) <= BUDGET_MS + SLACK_MS, "{outcome:#?}");
        request_ids.push(outcome.request_id);
    }
    // The backend comes back on the same address: what was held goes out with the next flush.
    let sink = OtlpSink::start(addr).await.unwrap();
    // The first flush found it down and opened its circuit breaker; the first probe is due within 625 ms
    // (500 ms ±25%), and the probe that gets through drains the queue in the same flush.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let outcome = sim.invoke(Invocation::default()).await.unwrap();
    request_ids.push(outcome.request_id);
    let received = sink.received();
    let ids = invocation_ids(&received, "orders");
    for id in &request_ids {
        assert_eq!(ids.iter().filter(|i| *i == id).count(), 1, "{id} exactly once in {ids:?}");
    }
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    assert_eq!(report.extensions.len(), 1);
    assert!(!report.extensions[0].killed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_backend_costs_at_most_the_budget_and_data_arrives_later() {
    let sink = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    sink.set_behaviour(SinkBehaviour::Delay(Duration::from_secs(2)));
    let dir = TempDir::new("slow");
    let mut sim = start(&config(&sink.grpc_endpoint()), &dir).await;

    let mut request_ids = Vec::new();
    for _ in 0..2 {
        let outcome = sim.invoke(Invocation::default()).await.unwrap();
        assert!(post_runtime(&outcome) <= BUDGET_MS + SLACK_MS, "{outcome:#?}");
        request_ids.push(outcome.request_id);
    }
    sink.set_behaviour(SinkBehaviour::Accept);
    // The requests sent so far were written in full, so they stay in flight past their flushes; their
    // answers come 2 s after they were sent, and the next flush accounts them.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let outcome = sim.invoke(Invocation::default()).await.unwrap();
    request_ids.push(outcome.request_id);
    sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    // A request answered too late for the exporter's timeout is sent again: duplicates are possible, losses
    // are not.
    let ids = invocation_ids(&sink.received(), "orders");
    for id in &request_ids {
        assert!(ids.contains(id), "{id} in {ids:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_data_is_dropped_and_the_extension_carries_on() {
    let sink = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    sink.set_behaviour(SinkBehaviour::Fail(tonic::Code::InvalidArgument));
    let dir = TempDir::new("rejected");
    let mut sim = start(&config(&sink.grpc_endpoint()), &dir).await;
    let rejected = sim.invoke(Invocation::default()).await.unwrap();
    // A permanent error is not retried: the flush ends at once.
    assert!(post_runtime(&rejected) <= BUDGET_MS + SLACK_MS);
    sink.set_behaviour(SinkBehaviour::Accept);
    let accepted = sim.invoke(Invocation::default()).await.unwrap();
    sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    let ids = invocation_ids(&sink.received(), "orders");
    assert_eq!(ids.iter().filter(|i| **i == accepted.request_id).count(), 1, "{ids:?}");
    assert!(!ids.contains(&rejected.request_id), "rejected data is not resent: {ids:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_on_error_fail_a_bad_config_is_reported_through_init_error() {
    let dir = TempDir::new("badconfig");
    let yaml =
        format!("lambdatel:\n  on_error: fail\n{}", otlp_config("http://127.0.0.1:4317", "")).replace("otlp", "otlpx");
    let sim = start(&yaml, &dir).await;
    let init = sim.last_init().cloned().expect("an init ran");
    assert_eq!(init.status, "error", "{init:#?}");
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    let errors = &report.extensions[0].errors;
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].kind, "init");
    assert_eq!(errors[0].error_type, "Extension.ConfigInvalid");
    let message = errors[0].message.as_deref().unwrap_or_default();
    let file = dir.path().join("config.yaml");
    // Which file, which key, what was wrong, on which line.
    assert_eq!(
        message,
        format!(
            "invalid configuration in LAMBDATEL_CONFIG={path}:\n{path}:8:3: exporters.otlpx: unknown exporter type \"otlpx\" (lambdatel has: otlp, otlphttp, debug, logging, awsemf, awsxray)",
            path = file.display()
        )
    );
    assert_ne!(report.extensions[0].exit_status.as_ref().and_then(|s| s.code), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_on_error_fail_a_taken_listener_port_is_reported_through_init_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = TempDir::new("port");
    let yaml = format!("lambdatel:\n  on_error: fail\n{}", otlp_config_on_port(port, "http://127.0.0.1:4317", ""));
    let sim = start(&yaml, &dir).await;
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    let errors = &report.extensions[0].errors;
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].error_type, "Extension.ListenerFailed");
    assert_eq!(
        errors[0].message.as_deref(),
        Some(
            format!(
                "receivers.telemetryapi: port {port} is already in use on 127.0.0.1; choose another with receivers.telemetryapi.port, or leave it out for any free port"
            )
            .as_str()
        )
    );
    drop(taken);
}
