//! Lambda Managed Instances under the simulator: 500 invocations, 8 at a time, with interleaved text and
//! JSON logs. The extension registers for SHUTDOWN only, subscribes with schema 2025-01-29, flushes in the
//! background, and delivers every span and log line exactly once, with the right `faas.invocation_id`
//! wherever a record names its request. Prints the delay from each invocation's end to its span's arrival.

use std::{collections::HashMap, time::Duration, time::UNIX_EPOCH};

use lambdatel_e2e::*;
use lambdatel_sim::{Invocation, LogLine, ManagedInstances, OtlpSink, Script, ShutdownReason, SimConfig, Simulator};

const INVOCATIONS: usize = 500;
const CONCURRENCY: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_concurrent_invocations_arrive_once_each_with_their_ids() {
    let sink = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let dir = TempDir::new("lmi");
    let yaml = otlp_config(&sink.grpc_endpoint(), "");
    let config = dir.write("config.yaml", &yaml);
    let mut sim = Simulator::start(SimConfig {
        managed_instances: Some(ManagedInstances::new(CONCURRENCY)),
        json_logs: true,
        record_events: false,
        ..lambdatel_with_config(&config)
    })
    .await
    .expect("the simulator starts");
    let init = sim.last_init().cloned().expect("an init ran");
    assert_eq!(init.status, "success", "{init:#?}");

    let invocations = (0..INVOCATIONS)
        .map(|i| Invocation {
            script: Script {
                duration: Duration::from_millis(2 + (i % 7) as u64 * 3),
                logs: vec![
                    LogLine::Text(format!("text {i}")),
                    LogLine::Json { level: "INFO".into(), message: format!("json {i}") },
                ],
                ..Script::default()
            },
            ..Invocation::default()
        })
        .collect();
    let outcomes = sim.invoke_concurrently(invocations).await.unwrap();
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    assert!(outcomes.iter().all(|o| o.status == "success"), "every invocation succeeds");
    let extension = &report.extensions[0];
    assert_eq!(extension.events, ["SHUTDOWN"]);
    assert!(extension.errors.is_empty(), "{:#?}", extension.errors);
    assert!(!extension.killed);
    assert_eq!(extension.exit_status.as_ref().and_then(|s| s.code), Some(0));
    let subscription = extension.subscription.as_ref().expect("subscribed");
    assert_eq!(subscription.schema_version, "2025-01-29");

    let received = sink.received();
    // Spans: exactly one per invocation.
    let mut ids = invocation_ids(&received, "orders");
    ids.sort();
    let mut expected: Vec<String> = outcomes.iter().map(|o| o.request_id.clone()).collect();
    expected.sort();
    assert_eq!(ids, expected, "one invocation span per invocation");

    // Logs: every line once; a JSON record names its invocation, a text line (no request id of its own,
    // and invocations overlap) names none.
    let request_of: HashMap<String, String> =
        outcomes.iter().enumerate().map(|(i, o)| (i.to_string(), o.request_id.clone())).collect();
    let mut lines: HashMap<String, Vec<Option<String>>> = HashMap::new();
    for record in all_logs(&received) {
        if attr(&record.attributes, "aws.lambda.log.type").as_deref() == Some("function") {
            let body = record.body.as_ref().map(text).unwrap_or_default();
            lines.entry(body).or_default().push(attr(&record.attributes, "faas.invocation_id"));
        }
    }
    assert_eq!(lines.len(), 2 * INVOCATIONS, "every line arrived");
    for (i, request_id) in &request_of {
        assert_eq!(lines[&format!("text {i}")], [None], "text {i}");
        assert_eq!(lines[&format!("json {i}")], [Some(request_id.clone())], "json {i}");
    }

    // Metrics per invocation, as on demand (cumulative: the highest point is the total).
    let metrics = all_metrics(&received);
    assert_eq!(counter_value(&metrics, "faas.invocations"), Some(INVOCATIONS as i64));
    assert_eq!(histogram_count(&metrics, "faas.invoke_duration"), Some(INVOCATIONS as u64));

    // From each invocation's end to its span's arrival.
    let arrival: HashMap<String, f64> = received
        .spans_with_arrival()
        .filter(|(_, s, _)| s.name == "orders")
        .filter_map(|(_, s, at)| {
            let id = attr(&s.attributes, "faas.invocation_id")?;
            Some((id, at.duration_since(UNIX_EPOCH).ok()?.as_secs_f64() * 1000.0))
        })
        .collect();
    let mut delays: Vec<f64> = outcomes.iter().map(|o| arrival[&o.request_id] - o.end_unix_ms).collect();
    delays.sort_by(f64::total_cmp);
    let pct = |p: f64| delays[((delays.len() - 1) as f64 * p).round() as usize];
    println!(
        "managed instances, {INVOCATIONS} invocations x{CONCURRENCY}: end-to-span-arrival p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; extension peak RSS {} KiB, CPU {:.0} ms",
        pct(0.5),
        pct(0.99),
        pct(1.0),
        extension.peak_rss_kb,
        extension.cpu_ms
    );
    // Background flushes follow invocations closely: well under the 10 s interval.
    assert!(pct(0.99) < 2000.0, "p99 {:.0} ms", pct(0.99));
}
