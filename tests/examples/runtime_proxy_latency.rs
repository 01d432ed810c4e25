//! What lambdatel's Runtime API proxy adds to each Runtime API call, as the function's runtime sees it: the
//! same runtime under the same lambdatel, started through the layer's wrapper (every call through the proxy)
//! and without it (calls straight to the Runtime API), in alternating rounds of one run.
//!
//! The runtime (tests/fixtures/raw_runtime.py, one keep-alive connection as Lambda's runtime clients keep)
//! records when each event was in its hands and how long its response call took. Two figures per call:
//! - `next`: from the invoke to the event in the runtime's hands (the runtime waits in `next` before the
//!   invoke, so that wait is not counted; the simulator's own dispatch is in both columns alike);
//! - `response`: the round trip of `POST .../response` until Lambda's 202.
//!
//! Run (a release lambdatel; the simulator and this driver as built for tests):
//!   cargo build --release -p lambdatel && cargo build -p lambdatel-sim
//!   LAMBDATEL_BIN_DIR=target/release cargo run -p lambdatel-e2e --example runtime_proxy_latency -- [ROUNDS] [PER_ROUND]

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use lambdatel_e2e::{otlp_config, raw_runtime_behind_lambdatel, repository, TempDir};
use lambdatel_sim::{Invocation, OtlpSink, ShutdownReason, Simulator};

/// Invocations of each environment before measuring (process start, first connections, caches).
const WARM_UP: usize = 20;

struct Environment {
    label: &'static str,
    sim: Simulator,
    times: PathBuf,
    /// Invoke times (Unix ns) of the measured invocations, and of the warm-up (None).
    invoked: Vec<Option<u128>>,
}

async fn start(label: &'static str, through_wrapper: bool, sink: &OtlpSink, dir: &TempDir) -> Environment {
    let config = dir.write(&format!("{label}.yaml"), &otlp_config(&sink.grpc_endpoint(), ""));
    let times = dir.path().join(format!("{label}.times"));
    // Behind the wrapper lambdatel starts its proxy; without it, lambdatel runs all the same.
    let mut sim_config =
        raw_runtime_behind_lambdatel(&config, &dir.path().join(format!("{label}.proxy")), through_wrapper);
    sim_config.env.push(("RAW_RUNTIME_TIMES".into(), times.display().to_string()));
    let sim = Simulator::start(sim_config).await.expect("the simulator starts");
    assert_eq!(sim.last_init().unwrap().status, "success", "{label}: {:?}", sim.last_init());
    Environment { label, sim, times, invoked: Vec::new() }
}

impl Environment {
    async fn invoke(&mut self, payload: &[u8], measured: bool) {
        let at = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
        let outcome =
            self.sim.invoke(Invocation { payload: payload.to_vec().into(), ..Invocation::default() }).await.unwrap();
        assert_eq!(outcome.status, "success", "{}: {outcome:?}", self.label);
        assert_eq!(outcome.response.as_deref(), Some(payload), "{}", self.label);
        self.invoked.push(measured.then_some(at));
    }

    /// (next, response) in microseconds, sorted, of the measured invocations.
    fn figures(&self) -> (Vec<f64>, Vec<f64>) {
        let text = std::fs::read_to_string(&self.times).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), self.invoked.len(), "{}: one line per invocation", self.label);
        let (mut next, mut response) = (Vec::new(), Vec::new());
        for (line, invoked) in lines.iter().zip(&self.invoked) {
            let Some(invoked) = invoked else { continue };
            let (received, response_us) = line.split_once(' ').unwrap();
            let received: u128 = received.parse().unwrap();
            next.push((received as f64 - *invoked as f64) / 1000.0);
            response.push(response_us.parse().unwrap());
        }
        next.sort_by(f64::total_cmp);
        response.sort_by(f64::total_cmp);
        (next, response)
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>().expect("ROUNDS and PER_ROUND are numbers"));
    let rounds = args.next().unwrap_or(10);
    let per_round = args.next().unwrap_or(100);
    let payload = std::fs::read(repository().join("crates/components/tests/fixtures/triggers/sqs-event.json")).unwrap();
    let sink = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let dir = TempDir::new("runtime-proxy-latency");
    let mut proxied = start("proxied", true, &sink, &dir).await;
    let mut direct = start("direct", false, &sink, &dir).await;
    for env in [&mut proxied, &mut direct] {
        for _ in 0..WARM_UP {
            env.invoke(&payload, false).await;
        }
    }
    for _ in 0..rounds {
        for env in [&mut proxied, &mut direct] {
            for _ in 0..per_round {
                env.invoke(&payload, true).await;
            }
        }
    }
    let (proxied_next, proxied_response) = proxied.figures();
    let (direct_next, direct_response) = direct.figures();
    proxied.sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    direct.sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    println!(
        "Runtime API calls as the runtime sees them, µs ({} invocations each way, {rounds} alternating rounds)",
        rounds * per_round
    );
    println!();
    println!(
        "| call | direct p50 | direct p99 | through the proxy p50 | through the proxy p99 | added p50 | added p99 |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (call, direct, proxied) in [
        ("next (invoke to event)", &direct_next, &proxied_next),
        ("response (POST to 202)", &direct_response, &proxied_response),
    ] {
        let (d50, d99, p50, p99) =
            (percentile(direct, 0.5), percentile(direct, 0.99), percentile(proxied, 0.5), percentile(proxied, 0.99));
        println!("| {call} | {d50:.0} | {d99:.0} | {p50:.0} | {p99:.0} | {:.0} | {:.0} |", p50 - d50, p99 - d99);
    }
}
