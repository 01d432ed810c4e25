//! Tail sampling decided per invocation under the simulator: errors, timeouts and 10% of the rest. Every
//! error and timeout trace arrives complete, the rest arrive at their rate, no trace arrives in part, and
//! with `drop_logs_of_dropped_traces` the logs of an invocation arrive exactly when its trace does.
//!
//! 200 invocations by default; `LAMBDATEL_TAIL_SAMPLING_INVOCATIONS=1000` runs the full acceptance count.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use lambdatel_e2e::*;
use lambdatel_sim::{Invocation, LogLine, OtlpSink, Script, ScriptResult, ShutdownReason, SimConfig, Simulator};
use opentelemetry_proto::tonic::trace::v1::{status::StatusCode, Span};

/// OTLP span flag: the parent span is in another process.
const REMOTE_PARENT: u32 = 0x200;

fn config(endpoint: &str) -> String {
    format!(
        "lambdatel:
  tail_sampling:
    drop_logs_of_dropped_traces: true
receivers:
  telemetryapi:
processors:
  tail_sampling:
    decision_wait: 10s
    policies:
      - {{name: errors, type: status_code, status_code: {{status_codes: [ERROR]}}}}
      - {{name: slow, type: latency, latency: {{threshold_ms: 1000}}}}
      - {{name: rest, type: probabilistic, probabilistic: {{sampling_percentage: 10}}}}
exporters:
  otlp:
    endpoint: {endpoint}
service:
  pipelines:
    traces: {{receivers: [telemetryapi], processors: [tail_sampling], exporters: [otlp]}}
    metrics: {{receivers: [telemetryapi], exporters: [otlp]}}
    logs: {{receivers: [telemetryapi], exporters: [otlp]}}
"
    )
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Error,
    Timeout,
    Ok,
}

/// 5% errors and 3% timeouts, spread evenly.
fn kind(i: usize) -> Kind {
    match i % 100 {
        0..5 => Kind::Error,
        5..8 => Kind::Timeout,
        _ => Kind::Ok,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_timeouts_and_a_tenth_of_the_rest_arrive_whole() {
    let invocations: usize =
        std::env::var("LAMBDATEL_TAIL_SAMPLING_INVOCATIONS").ok().and_then(|n| n.parse().ok()).unwrap_or(200);
    let sink = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let dir = TempDir::new("tail-sampling");
    let config_path = dir.write("config.yaml", &config(&sink.grpc_endpoint()));
    let sim_config = SimConfig { timeout: Duration::from_millis(1_200), ..lambdatel_with_config(&config_path) };
    let mut sim = Simulator::start(sim_config).await.unwrap();
    let started = std::time::Instant::now();
    let mut kinds: BTreeMap<String, (Kind, usize)> = BTreeMap::new();
    for i in 0..invocations {
        let result = match kind(i) {
            Kind::Error => ScriptResult::Error { error_type: "ValueError".into(), message: "bad order".into() },
            Kind::Timeout => ScriptResult::Timeout,
            Kind::Ok => ScriptResult::Ok("{}".into()),
        };
        let script = Script { logs: vec![LogLine::Text(format!("line {i}"))], result, ..Script::default() };
        let outcome = sim.invoke(Invocation { script, ..Invocation::default() }).await.unwrap();
        kinds.insert(outcome.request_id, (kind(i), i));
    }
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    assert!(!report.extensions.iter().any(|e| e.killed), "lambdatel exits within the shutdown budget");
    eprintln!("{invocations} invocations in {:.1} s", started.elapsed().as_secs_f64());
    let received = sink.received();

    // Every trace that arrives is whole: one invocation span, and every span with a local parent has it
    // there (the invocation span's parent is the caller's, remote; an `Init` phase span has none).
    let mut traces: BTreeMap<Vec<u8>, Vec<Span>> = BTreeMap::new();
    for span in all_spans(&received) {
        traces.entry(span.trace_id.clone()).or_default().push(span);
    }
    let mut kept: BTreeSet<String> = BTreeSet::new();
    for (trace_id, spans) in &traces {
        let roots: Vec<&Span> = spans.iter().filter(|s| s.name == "orders").collect();
        assert_eq!(roots.len(), 1, "trace {} has one invocation span: {spans:#?}", hex(trace_id));
        let ids: BTreeSet<&[u8]> = spans.iter().map(|s| s.span_id.as_slice()).collect();
        let local_parent = |s: &&Span| !s.parent_span_id.is_empty() && s.flags & REMOTE_PARENT == 0;
        for span in spans.iter().filter(local_parent) {
            assert!(ids.contains(span.parent_span_id.as_slice()), "trace {} is partial: {spans:#?}", hex(trace_id));
        }
        let id = attr(&roots[0].attributes, "faas.invocation_id").expect("the invocation span names its request");
        assert!(kept.insert(id.clone()), "{id} arrives once");
        let (kind, _) = kinds[&id];
        let status = roots[0].status.as_ref().map_or(0, |s| s.code);
        assert_eq!(status == StatusCode::Error as i32, kind != Kind::Ok, "{id}: {kind:?}, status {status}");
    }

    // Every error and timeout trace arrives; 10 ± 3% of the rest (wider when few: 4 standard deviations).
    for (id, (kind, i)) in &kinds {
        if *kind != Kind::Ok {
            assert!(kept.contains(id), "the {kind:?} invocation {i} ({id}) is kept");
        }
    }
    let rest = kinds.values().filter(|(k, _)| *k == Kind::Ok).count() as f64;
    let rest_kept = kept.iter().filter(|id| kinds[*id].0 == Kind::Ok).count() as f64;
    let share = rest_kept / rest;
    let tolerance = f64::max(0.03, 4.0 * (0.1 * 0.9 / rest).sqrt());
    eprintln!("kept {rest_kept} of {rest} successful invocations ({:.1}%)", share * 100.0);
    assert!(
        (share - 0.10).abs() <= tolerance,
        "kept {:.1}% of the rest, expected 10 ± {:.1}%",
        share * 100.0,
        tolerance * 100.0
    );

    // Logs follow their trace: a line arrives exactly when its invocation's trace does.
    let bodies: BTreeSet<String> = all_logs(&received).iter().filter_map(|l| l.body.as_ref().map(text)).collect();
    for (id, (_, i)) in &kinds {
        assert_eq!(bodies.contains(&format!("line {i}")), kept.contains(id), "the log line of invocation {i}");
    }

    // Self-telemetry counts the decisions. Each execution environment counts from zero, and a timeout's
    // reset can end one before its last snapshot is sent: the totals add up the last value each sent,
    // which is at most what happened.
    let metrics = all_metrics(&received);
    let counted = |decision: &str| {
        let values = metrics
            .iter()
            .filter(|m| m.name == "lambdatel.processor.tail_sampling.traces")
            .map(|m| counter_where(std::slice::from_ref(m), &m.name, &[("decision", decision)]).unwrap_or(0));
        let (mut total, mut last) = (0, 0);
        for value in values {
            if value < last {
                total += last;
            }
            last = value;
        }
        total + last
    };
    let (kept_counted, dropped_counted) = (counted("kept"), counted("dropped"));
    eprintln!("self-telemetry: {kept_counted} kept, {dropped_counted} dropped");
    assert!((1..=kept.len() as i64).contains(&kept_counted), "{kept_counted} kept counted");
    let dropped = (invocations - kept.len()) as i64;
    assert!((1..=dropped).contains(&dropped_counted), "{dropped_counted} dropped counted");
}
