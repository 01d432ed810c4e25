//! Delivery under the simulator with freezing, against a backend that answers late and one that is not
//! there at all: the function is never held past the flush budget, written requests survive the freeze, and
//! a dead backend costs the invocations almost nothing while its data waits in the queue.

use std::{collections::HashMap, net::SocketAddr, time::Duration};

use lambdatel_e2e::*;
use lambdatel_sim::{Invocation, LogLine, OtlpSink, Outcome, Script, ShutdownReason, Simulator, SinkBehaviour};

const INVOCATIONS: usize = 25;
const LINES_PER_INVOCATION: usize = 4;
/// Pause between one invocation's end and the next invocation, spent frozen.
const GAP: Duration = Duration::from_millis(20);

fn post_runtime(outcome: &Outcome) -> f64 {
    outcome.post_runtime_ms.iter().find(|(name, _)| name == "lambdatel").map(|(_, ms)| *ms).expect("lambdatel ran")
}

fn invocation(i: usize) -> Invocation {
    let logs = (0..LINES_PER_INVOCATION).map(|k| LogLine::Text(format!("delivery line {i}.{k}"))).collect();
    Invocation { script: Script { logs, ..Script::default() }, ..Invocation::default() }
}

/// How many times each function log line arrived.
fn line_arrivals(sink: &OtlpSink) -> HashMap<String, usize> {
    let mut arrivals = HashMap::new();
    for record in all_logs(&sink.received()) {
        let body = record.body.as_ref().map(text).unwrap_or_default();
        if let Some(line) = body.strip_prefix("delivery line ") {
            *arrivals.entry(line.trim_end().to_string()).or_default() += 1;
        }
    }
    arrivals
}

async fn start(config_yaml: &str, dir: &TempDir) -> Simulator {
    let config = dir.write("config.yaml", config_yaml);
    Simulator::start(lambdatel_with_config(&config)).await.expect("the simulator starts")
}

/// Runs the invocations `range`, `GAP` apart; returns their request ids and post-runtime times.
async fn run(sim: &mut Simulator, range: std::ops::Range<usize>) -> (Vec<String>, Vec<f64>) {
    let (mut ids, mut times) = (Vec::new(), Vec::new());
    for i in range {
        let outcome = sim.invoke(invocation(i)).await.unwrap();
        assert_eq!(outcome.status, "success", "{outcome:#?}");
        ids.push(outcome.request_id.clone());
        times.push(post_runtime(&outcome));
        tokio::time::sleep(GAP).await;
    }
    (ids, times)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_that_come_after_the_budget_are_read_after_the_thaw() {
    let sink = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    sink.set_behaviour(SinkBehaviour::Delay(Duration::from_secs(3)));
    let dir = TempDir::new("late-answers");
    // The default flush budget (1 s), flushing after every invocation: the hardest case for a slow backend.
    let config = format!("lambdatel:\n  flush:\n    strategy: end\n{}", otlp_config(&sink.grpc_endpoint(), ""));
    let mut sim = start(&config, &dir).await;
    let (ids, times) = run(&mut sim, 0..INVOCATIONS).await;
    sim.shutdown(ShutdownReason::Spindown).await.unwrap();

    let worst = times.iter().cloned().fold(0.0, f64::max);
    assert!(worst <= 1000.0 + 250.0, "post-runtime past the budget: {times:?}");
    let arrivals = line_arrivals(&sink);
    let spans = invocation_ids(&sink.received(), "orders");
    let lines_arrived = arrivals.len();
    let spans_arrived = ids.iter().filter(|id| spans.contains(id)).count();
    let duplicate_lines: usize = arrivals.values().map(|n| n - 1).sum();
    let duplicate_spans = spans.len() - spans_arrived.min(spans.len());
    println!(
        "late backend: {lines_arrived}/{} lines, {spans_arrived}/{INVOCATIONS} invocation spans arrived; \
         duplicates: {duplicate_lines} lines, {duplicate_spans} spans; worst post-runtime {worst:.0} ms",
        INVOCATIONS * LINES_PER_INVOCATION
    );
    assert!(lines_arrived * 10 >= INVOCATIONS * LINES_PER_INVOCATION * 9, "{lines_arrived} lines arrived");
    assert!(spans_arrived * 10 >= INVOCATIONS * 9, "{spans_arrived} invocation spans arrived");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_backend_costs_next_to_nothing_and_gets_the_queued_data_when_back() {
    let sink = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr: SocketAddr = sink.grpc_addr();
    let endpoint = sink.grpc_endpoint();
    sink.stop().await;
    let dir = TempDir::new("dead-backend");
    // Probes every 100 ms at first, so the backend's return is noticed within this short run.
    let breaker = "    circuit_breaker: {initial_interval: 100ms, max_interval: 400ms}\n";
    let config = format!("lambdatel:\n  flush:\n    strategy: end\n{}", otlp_config(&endpoint, breaker));
    let mut sim = start(&config, &dir).await;

    let (mut ids, times) = run(&mut sim, 0..INVOCATIONS).await;
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    println!("dead backend: mean post-runtime {mean:.1} ms over {INVOCATIONS} invocations: {times:?}");
    // A flush that waited on the dead backend (retrying it within the flush) would cost up to the flush budget,
    // 1 s, per invocation. Waiting for runtimeDone's delivery alone takes up to ~30 ms, more on a loaded machine
    // (the mean was 8-12 ms alone and 21 ms beside the rest of the suite), so the bound sits between the two.
    assert!(mean <= 200.0, "mean post-runtime {mean:.1} ms: {times:?}");

    // The backend comes back on the same address; within a few probe intervals the queue drains, before
    // any shutdown.
    let sink = OtlpSink::start(addr).await.unwrap();
    let (more, _) = run(&mut sim, INVOCATIONS..INVOCATIONS + 10).await;
    ids.extend(more);
    let mut waited = 0;
    while invocation_ids(&sink.received(), "orders").len() < INVOCATIONS && waited < 20 {
        let (more, _) = run(&mut sim, INVOCATIONS + 10 + waited..INVOCATIONS + 11 + waited).await;
        ids.extend(more);
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    let spans = invocation_ids(&sink.received(), "orders");
    let queued_while_down = ids[..INVOCATIONS].iter().filter(|id| spans.contains(id)).count();
    assert_eq!(queued_while_down, INVOCATIONS, "spans queued while the backend was down, delivered before shutdown");
    let lines = line_arrivals(&sink);
    let first_lines = (0..INVOCATIONS).flat_map(|i| (0..LINES_PER_INVOCATION).map(move |k| format!("{i}.{k}")));
    assert!(first_lines.clone().all(|l| lines.contains_key(&l)), "every line queued while down arrived");

    sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    let spans = invocation_ids(&sink.received(), "orders");
    for id in &ids {
        assert!(spans.contains(id), "{id} delivered");
    }
    let breaker_open = counter_where(&all_metrics(&sink.received()), "lambdatel.exporter.breaker_open_time", &[]);
    assert!(breaker_open.is_some_and(|ms| ms > 0), "time spent open is reported: {breaker_open:?}");
}
