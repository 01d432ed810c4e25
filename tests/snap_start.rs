//! SnapStart under the simulator: two sandboxes restored from one snapshot. A fixed id seed
//! (`LAMBDATEL_TEST_ID_SEED`) stands for the generator state they share; after the restore their ids and
//! `service.instance.id` differ, and the restore is not counted as a cold start.

use lambdatel_e2e::*;
use lambdatel_sim::{Invocation, OtlpSink, ShutdownReason, SimConfig, Simulator};

/// One sandbox's run: (the span id of its Init or Restore span, which the extension makes up (the
/// invocation's own ids come from the simulator's X-Ray header), service.instance.id, coldstarts counted,
/// the invocation span's faas.coldstart).
async fn one_sandbox(snap_start: bool) -> (String, String, Option<i64>, String) {
    let sink = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let dir = TempDir::new("snap");
    let config = dir.write("config.yaml", &otlp_config(&sink.grpc_endpoint(), ""));
    let mut cfg = SimConfig { snap_start, ..lambdatel_with_config(&config) };
    cfg.env.push(("LAMBDATEL_TEST_ID_SEED".into(), "20240501".into()));
    let mut sim = Simulator::start(cfg).await.expect("the simulator starts");
    let outcome = sim.invoke(Invocation::default()).await.unwrap();
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    assert_eq!(outcome.status, "success");
    assert_eq!(report.extensions[0].exit_status.as_ref().and_then(|s| s.code), Some(0));
    let received = sink.received();
    let (resource, span) = received
        .spans
        .iter()
        .flat_map(|r| r.scope_spans.iter().flat_map(move |s| s.spans.iter().map(move |span| (r, span))))
        .find(|(_, s)| s.name == "orders")
        .expect("the invocation span arrived");
    let instance = attr(&resource.resource.as_ref().unwrap().attributes, "service.instance.id").unwrap();
    let coldstarts = counter_value(&all_metrics(&received), "faas.coldstarts");
    let coldstart = attr(&span.attributes, "faas.coldstart").unwrap_or_default();
    let phase = if snap_start { "Restore" } else { "Init" };
    let phase_span = all_spans(&received).into_iter().find(|s| s.name == phase).expect("the phase span arrived");
    assert_eq!(phase_span.trace_id, span.trace_id, "{phase} is in the first invocation's trace");
    (hex(&phase_span.span_id), instance, coldstarts, coldstart)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_restores_of_one_snapshot_make_different_ids_and_no_cold_start() {
    // Control: without a restore, two sandboxes with the same seed repeat each other's ids, as copies
    // of one snapshot would.
    let (a, b) = (one_sandbox(false).await, one_sandbox(false).await);
    assert_eq!((&a.0, &a.1), (&b.0, &b.1), "the seed fixes the ids");
    assert_eq!((a.2, a.3.as_str()), (Some(1), "true"), "an on-demand init is a cold start");

    let (a, b) = (one_sandbox(true).await, one_sandbox(true).await);
    assert_ne!(a.0, b.0, "span ids differ after the restore");
    assert_ne!(a.1, b.1, "service.instance.id differs after the restore");
    for run in [&a, &b] {
        assert_eq!(run.3, "false", "the restored sandbox's first invocation is not a cold start");
        assert!(matches!(run.2, None | Some(0)), "no cold start counted: {:?}", run.2);
    }
}

/// Connections the backend accepted over a run of three invocations, with a restore from a snapshot
/// before the second and the third when `restores`; the extension exports over gRPC (every signal) and
/// OTLP/HTTP (traces only: one request per flush, so one pooled connection).
async fn connections_over_three_invocations(restores: bool) -> (Vec<usize>, usize) {
    let sink =
        OtlpSink::start_with_http("127.0.0.1:0".parse().unwrap(), Some("127.0.0.1:0".parse().unwrap())).await.unwrap();
    let dir = TempDir::new("snap-conn");
    let yaml = otlp_config(&sink.grpc_endpoint(), "")
        .replace("service:", &format!("  otlphttp:\n    endpoint: {}\nservice:", sink.http_endpoint().unwrap()));
    let yaml = yaml.replace("exporters: [otlp]}\n    metrics", "exporters: [otlp, otlphttp]}\n    metrics");
    let config = dir.write("config.yaml", &yaml);
    let mut sim = Simulator::start(SimConfig { snap_start: true, ..lambdatel_with_config(&config) })
        .await
        .expect("the simulator starts");
    let mut after_each = Vec::new();
    for i in 0..3 {
        if restores && i > 0 {
            sim.restore_snapshot().await;
        }
        assert_eq!(sim.invoke(Invocation::default()).await.unwrap().status, "success");
        after_each.push(sink.connections_accepted());
    }
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    assert_eq!(report.extensions[0].exit_status.as_ref().and_then(|s| s.code), Some(0));
    let ids = invocation_ids(&sink.received(), "orders");
    assert_eq!(ids.len(), 6, "every invocation span arrived over both exporters: {ids:?}");
    (after_each, sink.connections_accepted())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_each_restore_the_backend_sees_new_connections() {
    // Control: one sandbox's exporters keep their connections (one gRPC, one HTTP) from flush to flush.
    assert_eq!(connections_over_three_invocations(false).await, (vec![2, 2, 2], 2));
    // Each restore drops them: the flush after it opens one of each again.
    assert_eq!(connections_over_three_invocations(true).await, (vec![2, 4, 6], 6));
}
