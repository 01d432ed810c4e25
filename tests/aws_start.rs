//! Start-up with config references, against moto as Secrets Manager, SSM and S3: a reference that cannot be
//! resolved fails open (or fails the init with `on_error: fail`), and the start-up cost of an S3 config with
//! 3 secrets and 1 parameter behind 50 ms of latency per AWS call, measured under the simulator (an ignored
//! test that prints the figures). Skipped, saying so, when python3 lacks botocore, boto3 or moto.

mod aws_fixtures;

use aws_fixtures::*;
use lambdatel_e2e::*;
use lambdatel_sim::{Invocation, ShutdownReason, Simulator};

const INVOCATIONS: usize = 5;

/// The config of `exporter_headers` (YAML lines under `headers:`) with the sink's endpoint.
fn config_with_headers(endpoint: &str, headers: &str) -> String {
    otlp_config(endpoint, &format!("    headers:\n{headers}"))
}

/// The environment of a function whose AWS calls go to `port` (moto, or the delay proxy before it).
fn aws_env(port: u16) -> Vec<(String, String)> {
    vec![
        ("AWS_REGION".into(), "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
        ("AWS_ENDPOINT_URL".into(), format!("http://127.0.0.1:{port}")),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unresolvable_secret_fails_open_naming_the_reference() {
    if !python_ready("an_unresolvable_secret_fails_open_naming_the_reference") {
        return;
    }
    let moto = start_moto();
    let present = "sk-present-6d1e";
    seed_moto(moto.port, &serde_json::json!({"region": "us-east-1", "secrets": {"vendor/present": present}}));
    let sink = lambdatel_sim::OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let dir = TempDir::new("open-secret");
    let headers = "      x-api-key: ${secretsmanager:vendor/present}\n      x-team: ${secretsmanager:vendor/missing}\n";
    let yaml = config_with_headers(&sink.grpc_endpoint(), headers);
    let config = dir.write("config.yaml", &yaml);

    // passthrough (the default): every invocation succeeds, one ERROR line, exit 0, no telemetry.
    let mut cfg = lambdatel_with_config(&config);
    cfg.env.extend(aws_env(moto.port));
    let mut sim = Simulator::start(cfg).await.expect("the simulator starts");
    assert_eq!(sim.last_init().unwrap().status, "success");
    for _ in 0..INVOCATIONS {
        assert_eq!(sim.invoke(Invocation::default()).await.unwrap().status, "success");
    }
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    let extension = &report.extensions[0];
    assert!(extension.errors.is_empty(), "no init/error: {:#?}", extension.errors);
    assert_eq!(extension.exit_status.as_ref().and_then(|s| s.code), Some(0));
    let lines = extension_lines(&report);
    let errors: Vec<&String> = lines.iter().filter(|l| l.starts_with("[lambdatel] ERROR")).collect();
    assert_eq!(
        errors,
        [&format!(
            "[lambdatel] ERROR invalid configuration: LAMBDATEL_CONFIG={path}: ${{secretsmanager:vendor/missing}}: secretsmanager BatchGetSecretValue vendor/missing: ResourceNotFoundException: Secrets Manager can't find the specified secret.; the function runs without telemetry (lambdatel.on_error: passthrough; set it to fail to fail the init instead)",
            path = config.display()
        )],
        "{lines:#?}"
    );
    assert!(!lines.iter().any(|l| l.contains(present)), "the resolved secret in {lines:#?}");
    assert_eq!(sink.request_count(), 0, "no telemetry without a config");

    // on_error: fail: the init fails with the same message.
    let config = dir.write("fail.yaml", &format!("lambdatel:\n  on_error: fail\n{yaml}"));
    let mut cfg = lambdatel_with_config(&config);
    cfg.env.extend(aws_env(moto.port));
    let sim = Simulator::start(cfg).await.expect("the simulator starts");
    assert_eq!(sim.last_init().unwrap().status, "error");
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    let errors = &report.extensions[0].errors;
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!((errors[0].kind.as_str(), errors[0].error_type.as_str()), ("init", "Extension.ConfigInvalid"));
    assert_eq!(
        errors[0].message.as_deref(),
        Some(
            format!(
                "invalid configuration:\nLAMBDATEL_CONFIG={path}: ${{secretsmanager:vendor/missing}}: secretsmanager BatchGetSecretValue vendor/missing: ResourceNotFoundException: Secrets Manager can't find the specified secret.",
                path = config.display()
            )
            .as_str()
        )
    );
    assert!(!extension_lines(&report).iter().any(|l| l.contains(present)));
}

/// Injected into every AWS call by the delay proxy.
const DELAY_MS: u64 = 50;
/// Runs of each kind, alternating; the median is reported.
const RUNS: usize = 5;

/// The extension's start-up (process start to its first `next`) under the simulator, in ms.
async fn start_up_ms(env: Vec<(String, String)>, config: &std::path::Path) -> f64 {
    let mut cfg = lambdatel_with_config(config);
    cfg.env.retain(|(name, _)| name != "LAMBDATEL_CONFIG");
    cfg.env.extend(env);
    let mut sim = Simulator::start(cfg).await.expect("the simulator starts");
    assert_eq!(sim.invoke(Invocation::default()).await.unwrap().status, "success");
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    let lines = extension_lines(&report);
    assert!(lines.iter().any(|l| l.contains("ready: config from")), "{lines:#?}");
    assert!(!lines.iter().any(|l| l.contains("ERROR")), "{lines:#?}");
    report.extensions[0].time_to_first_next_ms.expect("the extension called next")
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// `cargo test -p lambdatel-e2e --test aws_start -- --ignored --nocapture start_up_cost` prints the
/// extension's start-up with a local config without references and with `LAMBDATEL_CONFIG=s3://...` holding
/// 3 Secrets Manager and 1 SSM references, every AWS call 50 ms late. The budget is 2 round trips + 10 ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: prints figures, asserts none"]
async fn start_up_cost_of_an_s3_config_with_three_secrets_and_a_parameter() {
    if !python_ready("start_up_cost_of_an_s3_config_with_three_secrets_and_a_parameter") {
        return;
    }
    let moto = start_moto();
    let sink = lambdatel_sim::OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let headers = |a: &str, b: &str, c: &str, d: &str| {
        format!("      x-a: \"{a}\"\n      x-b: \"{b}\"\n      x-c: \"{c}\"\n      x-d: \"{d}\"\n")
    };
    let referencing = config_with_headers(
        &sink.grpc_endpoint(),
        &headers("${secretsmanager:one#key}", "${secretsmanager:two}", "${secretsmanager:three}", "${ssm:/four}"),
    );
    seed_moto(
        moto.port,
        &serde_json::json!({
            "region": "us-east-1",
            "secrets": {"one": r#"{"key":"v1"}"#, "two": "v2", "three": "v3"},
            "parameters": {"/four": "v4"},
            "objects": {"configs/lambdatel.yaml": referencing},
        }),
    );
    let proxy = start_fixture("delay_proxy.py", &[&moto.port.to_string(), &DELAY_MS.to_string()]);
    let dir = TempDir::new("startcost");
    let plain = dir.write("plain.yaml", &config_with_headers(&sink.grpc_endpoint(), &headers("v1", "v2", "v3", "v4")));

    let (mut local, mut remote) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let mut env = aws_env(proxy.port);
        env.push(("LAMBDATEL_CONFIG".into(), plain.display().to_string()));
        local.push(start_up_ms(env, &plain).await);
        let mut env = aws_env(proxy.port);
        env.push(("LAMBDATEL_CONFIG".into(), "s3://configs/lambdatel.yaml".into()));
        remote.push(start_up_ms(env, &plain).await);
    }
    let forwarded = get_json(proxy.port, "/__requests");
    let calls = forwarded.as_array().unwrap();
    assert_eq!(calls.len(), 3 * RUNS, "GetObject, BatchGetSecretValue, GetParameters per start-up: {forwarded}");
    let (local_ms, remote_ms) = (median(local.clone()), median(remote.clone()));
    let budget = 2.0 * DELAY_MS as f64 + 10.0;
    // A round trip is the injected latency plus the service's own time; moto's share on the critical path
    // (GetObject, then the slower of the two calls made side by side) stands for AWS's and is not lambdatel's.
    let mut net = Vec::new();
    for (run, three) in calls.chunks(3).enumerate() {
        let upstream = |call: &serde_json::Value| call[1].as_f64().unwrap();
        let get = three.iter().filter(|c| c[0].as_str().unwrap().starts_with("GET")).map(upstream).sum::<f64>();
        let side_by_side = three.iter().filter(|c| c[0].as_str().unwrap().starts_with("POST")).map(upstream);
        let moto = get + side_by_side.fold(0.0, f64::max);
        net.push(remote[run] - local[run] - moto);
    }
    let net_ms = median(net.clone());
    println!("start-up (process start to first next), median of {RUNS}, every AWS call {DELAY_MS} ms late:");
    println!("  local config, no references:           {local_ms:7.1} ms  (runs: {local:.1?})");
    println!("  s3:// config, 3 secrets + 1 parameter: {remote_ms:7.1} ms  (runs: {remote:.1?})");
    println!(
        "  added: {:.1} ms; without moto's own time on the critical path: {net_ms:.1} ms (runs: {net:.1?})",
        remote_ms - local_ms
    );
    println!("  budget: 2 round trips x {DELAY_MS} ms + 10 ms = {budget:.0} ms");
    println!("  AWS calls per start-up (call, ms moto took):");
    for call in &calls[..3] {
        println!("    {call}");
    }
}
