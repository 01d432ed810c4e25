//! Every flush strategy loses nothing: whatever the mode, each invocation's span and log lines reach the
//! backend by the end (flushes during the run, and the full flush at SHUTDOWN).

use std::{collections::BTreeMap, time::Duration};

use lambdatel_e2e::*;
use lambdatel_sim::{Invocation, LogLine, OtlpSink, Script, ShutdownReason, Simulator};

async fn run(strategy: &str, invocations: usize, duration: Duration) -> (Vec<String>, lambdatel_sim::Received) {
    let sink = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let dir = TempDir::new(strategy);
    let settings = format!(
        "lambdatel:\n  flush:\n    strategy: {strategy}\n    interval: 50ms\n    max_age: 1s\n    frequent_invocations: 3\n"
    );
    let config = dir.write("config.yaml", &(settings + &otlp_config(&sink.grpc_endpoint(), "")));
    let mut sim = Simulator::start(lambdatel_with_config(&config)).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..invocations {
        let script = Script { duration, logs: vec![LogLine::Text(format!("line {i}"))], ..Script::default() };
        let outcome = sim.invoke(Invocation { script, ..Invocation::default() }).await.unwrap();
        assert_eq!(outcome.status, "success", "{strategy}: {outcome:#?}");
        ids.push(outcome.request_id);
    }
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    assert!(!report.extensions[0].killed, "{strategy}: exits within the shutdown budget");
    (ids, sink.received())
}

fn assert_nothing_lost(strategy: &str, ids: &[String], received: &lambdatel_sim::Received) {
    let mut spans: BTreeMap<String, usize> = BTreeMap::new();
    for span in all_spans(received).iter().filter(|s| s.name == "orders") {
        *spans.entry(attr(&span.attributes, "faas.invocation_id").unwrap()).or_default() += 1;
    }
    for id in ids {
        assert_eq!(spans.get(id), Some(&1), "{strategy}: the span of {id} exactly once");
    }
    let bodies: Vec<String> = all_logs(received).iter().filter_map(|l| l.body.as_ref().map(text)).collect();
    for i in 0..ids.len() {
        let line = format!("line {i}");
        assert_eq!(bodies.iter().filter(|b| **b == line).count(), 1, "{strategy}: {line:?} exactly once");
    }
    assert_eq!(counter_total(received, "faas.invocations"), ids.len() as i64, "{strategy}");
}

/// The latest cumulative value of a counter.
fn counter_total(received: &lambdatel_sim::Received, name: &str) -> i64 {
    counter_value(&all_metrics(received), name).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end() {
    let (ids, received) = run("end", 8, Duration::ZERO).await;
    assert_nothing_lost("end", &ids, &received);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic() {
    let (ids, received) = run("periodic", 12, Duration::from_millis(20)).await;
    assert_nothing_lost("periodic", &ids, &received);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continuous() {
    // Invocations longer than the interval, so flushes run while the function does.
    let (ids, received) = run("continuous", 6, Duration::from_millis(150)).await;
    assert_nothing_lost("continuous", &ids, &received);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive() {
    // Three invocations make traffic frequent: the rest no longer flush at their end.
    let (ids, received) = run("adaptive", 15, Duration::from_millis(5)).await;
    assert_nothing_lost("adaptive", &ids, &received);
}

/// A chatty function under the default strategy, with traffic frequent enough for its non-blocking mode:
/// heavy invocations make it wait for Lambda's delivery before the freeze, and data piling up is flushed
/// early, so nothing runs into the memory bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_with_a_chatty_function_loses_nothing() {
    let sink = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let dir = TempDir::new("chatty-adaptive");
    let config = dir.write(
        "config.yaml",
        &format!(
            "lambdatel:\n  memory_limit_mib: 4\n  flush:\n    frequent_invocations: 3\n{}",
            otlp_config(&sink.grpc_endpoint(), "")
        ),
    );
    let mut sim = Simulator::start(lambdatel_with_config(&config)).await.unwrap();
    const INVOCATIONS: usize = 12;
    const LINES: usize = 1_500;
    let padding = "x".repeat(250);
    for i in 0..INVOCATIONS {
        let logs = (0..LINES).map(|n| LogLine::Text(format!("{i}/{n} {padding}"))).collect();
        let outcome = sim.invoke(Invocation { script: Script { logs, ..Script::default() }, ..Invocation::default() });
        assert_eq!(outcome.await.unwrap().status, "success");
    }
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    assert_eq!(report.events_dropped, 0, "Lambda's buffer never overflowed");
    let function_logs = all_logs(&sink.received())
        .iter()
        .filter(|l| attr(&l.attributes, "aws.lambda.log.type").as_deref() == Some("function"))
        .count();
    assert_eq!(function_logs, INVOCATIONS * LINES);
}
