//! Fleet mode: sandboxes created on demand, reused while warm and shut down when idle, all
//! exporting to one backend whose fan-in and completeness are measured.

mod common;

use lambdatel_sim::fleet::{run_with_backend, FleetConfig, FleetReport, TrafficPattern};
use lambdatel_sim::*;
use std::time::Duration;

async fn fleet(pattern: TrafficPattern, invocations: usize, rate: f64, idle_shutdown: Duration) -> FleetReport {
    let backend =
        OtlpSink::start_with_http("127.0.0.1:0".parse().unwrap(), Some("127.0.0.1:0".parse().unwrap())).await.unwrap();
    // The fixture extension exports a span (in the invocation's X-Ray trace), a gauge and a log
    // line per INVOKE over OTLP/HTTP, each request on a new connection.
    let sandbox = SimConfig {
        extensions: vec![common::extension("fleet-ext")],
        env: vec![("SIM_OTLP_HTTP".into(), backend.http_endpoint().unwrap())],
        shutdown_budget: Duration::from_millis(500),
        ..SimConfig::default()
    };
    let cfg = FleetConfig {
        sandbox,
        max_sandboxes: 3,
        invocations,
        rate,
        pattern,
        idle_shutdown,
        script: Script { duration: Duration::from_millis(10), ..Script::default() },
        gateway: None,
    };
    run_with_backend(cfg, &backend).await.unwrap()
}

fn assert_complete(r: &FleetReport, invocations: usize) {
    assert_eq!(r.statuses.get("success"), Some(&invocations), "{r:?}");
    assert_eq!(r.not_run, 0);
    assert_eq!(r.sandboxes.iter().map(|s| s.invocations).sum::<usize>(), invocations);
    assert_eq!(r.post_runtime_ms().len(), invocations);
    assert_eq!(r.cold_starts, r.sandboxes_created);
    assert_eq!(r.sandboxes.len(), r.sandboxes_created);
    let b = &r.backend;
    assert_eq!((b.spans, b.duplicate_spans, b.invocations_without_span), (invocations, 0, 0));
    assert_eq!((b.requests, b.connections), (3 * invocations, 3 * invocations));
    assert!(b.bytes > 0);
    // The fixture forwards no function lines: every line the fleet wrote is counted as lost.
    assert_eq!((b.log_lines_written, b.log_lines_lost, b.log_lines_duplicated), (invocations, invocations, 0));
    // One gauge without attributes: one series whatever the number of sandboxes.
    assert_eq!(b.metric_series, 1);
    assert_eq!(b.metric_series_by_name.get("invocations"), Some(&1));
    assert!(r.sandboxes.iter().all(|s| s.killed_extensions == 0 && s.shutdown_ms.is_some()));
    assert!(r.gateway.is_none() && r.sandboxes.iter().all(|s| s.gateway_connections == 0));
    assert!(b.extension_drops.is_empty());
}

#[tokio::test]
async fn a_burst_scales_out_to_the_fleet_size_then_reuses_warm_sandboxes() {
    let r = fleet(TrafficPattern::Bursty, 9, 15.0, Duration::from_secs(10)).await;
    assert_complete(&r, 9);
    assert_eq!((r.sandboxes_created, r.max_live_sandboxes), (3, 3));
}

#[tokio::test]
async fn idle_sandboxes_are_shut_down_and_later_traffic_starts_new_ones() {
    // One invocation every 2 s (far longer than a sandbox takes to start and serve one), and
    // sandboxes reclaimed after 100 ms idle: every invocation is cold, never two sandboxes at once.
    let r = fleet(TrafficPattern::Steady, 3, 0.5, Duration::from_millis(100)).await;
    assert_complete(&r, 3);
    assert_eq!((r.sandboxes_created, r.max_live_sandboxes), (3, 1));
}
