//! At scale, through a real collector gateway: a fleet of lambdatel sandboxes (config/gateway.yaml)
//! exports to `rotel-agent` (the `rotel` package on PyPI, which `.ci/run` installs), which forwards to
//! the simulator's receiver. Checked: nothing lost, one gateway connection per sandbox, the series a
//! backend keeps for `faas.invocations` with delta (one per function) and cumulative (one per
//! sandbox) temporality, and a gateway outage that costs the function no more than the flush budget
//! while what the queue bound kept is delivered once the gateway returns, the rest counted as dropped.
//!
//! These are the CI-sized runs; the README's "At scale" figures come from `lambdatel-sim fleet
//! --gateway rotel` at full size (`cargo test -p lambdatel-e2e --test gateway -- --nocapture` prints
//! the summaries of these).

use std::path::{Path, PathBuf};
use std::time::Duration;

use lambdatel_e2e::*;
use lambdatel_sim::fleet::{run, FleetConfig, FleetReport, TrafficPattern};
use lambdatel_sim::gateway::{find_rotel_agent, GatewayConfig, GatewayKind, Outage};
use lambdatel_sim::summary::fleet_summary;
use lambdatel_sim::Script;

fn gateway_yaml() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config/gateway.yaml");
    std::fs::read_to_string(&path).expect("config/gateway.yaml")
}

/// `config/gateway.yaml` with `replacements` (exact lines of it) applied.
fn config(dir: &TempDir, replacements: &[(&str, &str)]) -> PathBuf {
    let mut yaml = gateway_yaml();
    for (from, to) in replacements {
        assert!(yaml.contains(from), "config/gateway.yaml no longer has `{from}`");
        yaml = yaml.replace(from, to);
    }
    dir.write("config.yaml", &yaml)
}

struct Run {
    sandboxes: usize,
    invocations: usize,
    rate: f64,
    pattern: TrafficPattern,
    outage: Option<Outage>,
}

async fn fleet(config: &Path, r: Run) -> FleetReport {
    let agent = find_rotel_agent().unwrap_or_else(|e| {
        panic!("{e}: `source .ci/python-env` (the pinned packages of .ci/requirements.txt in a virtual environment)")
    });
    let cfg = FleetConfig {
        sandbox: lambdatel_with_config(config),
        max_sandboxes: r.sandboxes,
        invocations: r.invocations,
        rate: r.rate,
        pattern: r.pattern,
        // Longer than the run: sandboxes stay warm, as Lambda keeps them for minutes.
        idle_shutdown: Duration::from_secs(60),
        script: Script { duration: Duration::from_millis(5), ..Script::default() },
        gateway: Some(GatewayConfig { kind: GatewayKind::Rotel { agent }, outage: r.outage }),
    };
    let report = run(cfg).await.expect("the fleet runs");
    println!("{}", fleet_summary(&report));
    report
}

/// Every invocation ran, in a sandbox that shut down in time.
fn assert_ran(r: &FleetReport, invocations: usize) {
    assert_eq!(r.statuses.get("success"), Some(&invocations), "{r:?}");
    assert_eq!(r.not_run, 0);
    assert!(r.sandboxes.iter().all(|s| s.killed_extensions == 0 && s.shutdown_ms.is_some()), "{:?}", r.sandboxes);
}

fn series(r: &FleetReport, name: &str) -> usize {
    r.backend.metric_series_by_name.get(name).copied().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_rotel_nothing_is_lost_and_delta_keeps_one_series_per_function() {
    let dir = TempDir::new("gateway-delta");
    let invocations = 60;
    let r = fleet(
        &config(&dir, &[]),
        Run { sandboxes: 4, invocations, rate: 30.0, pattern: TrafficPattern::Bursty, outage: None },
    )
    .await;
    assert_ran(&r, invocations);
    let b = &r.backend;
    assert_eq!((b.invocations_without_span, b.duplicate_spans), (0, 0), "{b:?}");
    assert_eq!((b.log_lines_written, b.log_lines_lost, b.log_lines_duplicated), (invocations, 0, 0));
    assert_eq!(b.extension_drops.values().sum::<u64>(), 0, "{:?}", b.extension_drops);
    // Bursts as large as the fleet: every sandbox started, each kept one connection to the gateway.
    assert_eq!(r.sandboxes_created, 4);
    let g = r.gateway.as_ref().unwrap();
    assert_eq!((g.connections, g.max_connections_per_sandbox, g.upstream_failures), (4, 1, 0), "{g:?}");
    assert!(r.sandboxes.iter().all(|s| s.gateway_connections == 1));
    // One function, four sandboxes: one series.
    assert_eq!(series(&r, "faas.invocations"), 1);
    // lambdatel's own counters are cumulative: one series per sandbox and attribute set.
    assert!(series(&r, "lambdatel.exporter.sent") >= 4, "{:?}", b.metric_series_by_name);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cumulative_metrics_keep_one_series_per_sandbox() {
    let dir = TempDir::new("gateway-cumulative");
    let invocations = 40;
    let config = config(&dir, &[("    temporality: delta\n", "    temporality: cumulative\n")]);
    let r =
        fleet(&config, Run { sandboxes: 4, invocations, rate: 30.0, pattern: TrafficPattern::Bursty, outage: None })
            .await;
    assert_ran(&r, invocations);
    assert_eq!((r.backend.invocations_without_span, r.backend.log_lines_lost), (0, 0));
    assert_eq!(series(&r, "faas.invocations"), r.sandboxes_created);
    assert_eq!(r.sandboxes_created, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_outage_costs_at_most_the_flush_budget_and_losses_are_the_counted_drops() {
    let dir = TempDir::new("gateway-outage");
    let invocations = 90;
    // Every invocation flushes at its end, so each one meets the outage; a queue too small for it, so that
    // some of what waits is dropped (oldest first), yet holding several invocations' spans; and a breaker
    // that probes often, so the newest of the outage's spans are still queued when the gateway is back.
    let config = config(
        &dir,
        &[
            (
                "      queue_size: 10000\n",
                "      queue_size: 48\n    circuit_breaker: {initial_interval: 200ms, max_interval: 400ms}\n",
            ),
            ("  flush_budget: 500ms\n", "  flush_budget: 500ms\n  flush: {strategy: end}\n"),
            // lambdatel's own log lines (warnings about the outage) would be log records too, and their drops
            // counted beside the function's lines: only the function's lines are log records here.
            ("    temporality: delta\n", "    temporality: delta\n    types: [platform, function]\n"),
        ],
    );
    let outage = Outage { duration: Duration::from_secs(3), at_fraction: 0.3 };
    let r = fleet(
        &config,
        Run { sandboxes: 3, invocations, rate: 15.0, pattern: TrafficPattern::Steady, outage: Some(outage) },
    )
    .await;
    assert_ran(&r, invocations);
    let g = r.gateway.as_ref().unwrap();
    assert!(g.outage_ms.unwrap() >= 3000.0, "{g:?}");
    // The flush budget (500 ms) and a margin for a loaded machine: the function never waits longer.
    let slowest = r.post_runtime_ms().into_iter().fold(0.0, f64::max);
    assert!(slowest < 500.0 + 250.0, "post-runtime up to {slowest} ms");
    let b = &r.backend;
    let dropped = |signal: &str| b.extension_drops.get(signal).copied().unwrap_or(0) as usize;
    // What the outage held back beyond the bound was dropped and counted...
    assert!(
        dropped("traces") > 0 && dropped("metrics") > 0,
        "the queue bound was not reached: {:?}",
        b.extension_drops
    );
    // ...and nothing else is missing: every span was received or counted, four per invocation (the
    // invocation and its phases) and a sandbox's init span; every log line likewise.
    assert_eq!(b.spans + dropped("traces"), 4 * invocations + r.sandboxes_created, "{b:?}");
    assert!(b.invocations_without_span <= dropped("traces"), "{b:?}");
    assert_eq!(b.log_lines_lost, dropped("logs"), "{b:?}");
    // What the queues kept through the outage arrived after it.
    assert!(g.outage_spans_delivered_after.unwrap() > 0, "{g:?}");
    // Twice only what went out on a connection the outage cut before its answer came back: the gateway may
    // have taken that request, and OTLP has no way to tell the retry apart.
    if (b.duplicate_spans, b.log_lines_duplicated) != (0, 0) {
        assert!(g.connections_cut_awaiting_answer > 0, "duplicates with no request cut in flight: {b:?} {g:?}");
    }
}
