//! AWS-native destinations under the simulator, against real components: SigV4-signed OTLP/HTTP to an
//! X-Ray-shaped and a CloudWatch-Logs-shaped endpoint played by a backend that verifies every signature with
//! botocore (403 on a mismatch), and a config read from S3 with secrets from Secrets Manager and SSM, served by
//! moto. Skipped, saying so, when python3 lacks botocore, boto3 or moto.

mod aws_fixtures;

use aws_fixtures::*;
use lambdatel_e2e::*;
use lambdatel_sim::{Invocation, OtlpSink, ShutdownReason, SimConfig, Simulator};

async fn run_signed(secret_key: &str, tag: &str) -> Vec<String> {
    let verifier = start_verifier("AKIDEXAMPLE", "right-secret");
    let dir = TempDir::new(tag);
    let config = dir.write("config.yaml", &signed_config(verifier.port));
    let mut sim = Simulator::start(SimConfig {
        env: vec![
            ("LAMBDATEL_CONFIG".into(), config.display().to_string()),
            ("AWS_REGION".into(), "eu-west-1".into()),
            ("AWS_ACCESS_KEY_ID".into(), "AKIDEXAMPLE".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), secret_key.into()),
            ("AWS_SESSION_TOKEN".into(), "session-token".into()),
        ],
        ..lambdatel_with_config(&config)
    })
    .await
    .expect("the simulator starts");
    for _ in 0..3 {
        assert_eq!(sim.invoke(Invocation::default()).await.unwrap().status, "success");
    }
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    extension_lines(&report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_and_logs_are_signed_so_that_botocore_verifies_them() {
    if !python_ready("traces_and_logs_are_signed_so_that_botocore_verifies_them") {
        return;
    }
    let lines = run_signed("right-secret", "sigv4ok").await;
    let (traces, retried, rejected) = counters(&lines, "otlphttp/xray/traces");
    assert!(traces > 0, "{lines:#?}");
    assert_eq!((retried, rejected), (0, 0), "{lines:#?}");
    let (logs, retried, rejected) = counters(&lines, "otlphttp/logs/logs");
    assert!(logs > 0, "{lines:#?}");
    assert_eq!((retried, rejected), (0, 0), "{lines:#?}");
    // Not a bare "403": the temporary directory in the start-up line may contain those digits.
    assert!(!lines.iter().any(|l| l.contains(": 403 Forbidden")), "{lines:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_key_is_a_permanent_403_not_retried() {
    if !python_ready("a_wrong_secret_key_is_a_permanent_403_not_retried") {
        return;
    }
    let lines = run_signed("wrong-secret", "sigv4bad").await;
    let (exported, retried, rejected) = counters(&lines, "otlphttp/xray/traces");
    assert_eq!((exported, retried), (0, 0), "{lines:#?}");
    assert!(rejected > 0, "{lines:#?}");
    assert!(lines.iter().any(|l| l.contains(": 403 Forbidden") && l.contains("signature mismatch")), "{lines:#?}");
    assert!(!lines.iter().any(|l| l.contains("wrong-secret")), "{lines:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_from_s3_gets_its_secrets_resolved_and_never_printed() {
    if !python_ready("a_config_from_s3_gets_its_secrets_resolved_and_never_printed") {
        return;
    }
    let moto = start_moto();
    let sink = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let config = format!(
        "receivers:
  telemetryapi:
processors:
  resource:
    attributes:
      - {{key: vendor.key, value: \"${{secretsmanager:vendor/api#api_key}}\", action: upsert}}
      - {{key: team.token, value: \"${{ssm:/team/token}}\", action: upsert}}
exporters:
  otlp:
    endpoint: {endpoint}
    headers:
      x-api-key: ${{secretsmanager:${{env:VENDOR_SECRET}}#api_key}}
service:
  pipelines:
    traces: {{receivers: [telemetryapi], processors: [resource], exporters: [otlp]}}
",
        endpoint = sink.grpc_endpoint()
    );
    let secret_value = "sk-live-5f0c1d2e";
    let token_value = "tok-7a8b9c0d";
    seed_moto(
        moto.port,
        &serde_json::json!({
            "region": "us-east-1",
            "secrets": {"vendor/api": format!("{{\"api_key\":\"{secret_value}\"}}")},
            "parameters": {"/team/token": token_value},
            "objects": {"configs/lambdatel.yaml": config},
        }),
    );
    let dir = TempDir::new("s3config");
    let unused = dir.write("unused.yaml", "");
    let mut sim = Simulator::start(SimConfig {
        env: vec![
            ("LAMBDATEL_CONFIG".into(), "s3://configs/lambdatel.yaml".into()),
            ("VENDOR_SECRET".into(), "vendor/api".into()),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
            ("AWS_ENDPOINT_URL".into(), format!("http://127.0.0.1:{}", moto.port)),
        ],
        ..lambdatel_with_config(&unused)
    })
    .await
    .expect("the simulator starts");
    for _ in 0..2 {
        assert_eq!(sim.invoke(Invocation::default()).await.unwrap().status, "success");
    }
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    let received = sink.received();
    let resource = &received.spans[0].resource.as_ref().expect("a resource").attributes;
    assert_eq!(attr(resource, "vendor.key").as_deref(), Some(secret_value));
    assert_eq!(attr(resource, "team.token").as_deref(), Some(token_value));
    let lines = extension_lines(&report);
    assert!(
        lines.iter().any(|l| l.contains("ready: config from LAMBDATEL_CONFIG=s3://configs/lambdatel.yaml")),
        "{lines:#?}"
    );
    // The values never appear in anything the extension writes.
    for line in &lines {
        assert!(!line.contains(secret_value) && !line.contains(token_value), "a secret in {line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_opentelemetry_layer_config_uri_is_honoured_in_every_form() {
    if !python_ready("the_opentelemetry_layer_config_uri_is_honoured_in_every_form") {
        return;
    }
    let moto = start_moto();
    let sink = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let config = otlp_config(&sink.grpc_endpoint(), "");
    seed_moto(
        moto.port,
        &serde_json::json!({
            "region": "us-east-1",
            "objects": {"layer/collector.yaml": config},
            "public_objects": {"public/collector.yaml": config},
        }),
    );
    let dir = TempDir::new("layeruri");
    let file = dir.write("collector.yaml", &config);
    let uris = [
        ("OPENTELEMETRY_COLLECTOR_CONFIG_URI", file.display().to_string()),
        ("OPENTELEMETRY_COLLECTOR_CONFIG_URI", format!("file:{}", file.display())),
        ("OPENTELEMETRY_COLLECTOR_CONFIG_URI", "s3://layer/collector.yaml".to_string()),
        ("OPENTELEMETRY_COLLECTOR_CONFIG_URI", "s3://layer.s3.us-east-1.amazonaws.com/collector.yaml".to_string()),
        ("OPENTELEMETRY_COLLECTOR_CONFIG_URI", format!("http://127.0.0.1:{}/public/collector.yaml", moto.port)),
        ("OPENTELEMETRY_COLLECTOR_CONFIG_FILE", file.display().to_string()),
    ];
    for (variable, uri) in uris {
        sink.clear();
        let mut env = vec![
            (variable.to_string(), uri.clone()),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
            ("AWS_ENDPOINT_URL".into(), format!("http://127.0.0.1:{}", moto.port)),
        ];
        env.retain(|(name, _)| name != "LAMBDATEL_CONFIG");
        let mut sim = Simulator::start(SimConfig { env, ..lambdatel_with_config(&file) }).await.expect("starts");
        let outcome = sim.invoke(Invocation::default()).await.unwrap();
        assert_eq!(outcome.status, "success", "{variable}={uri}");
        let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
        let lines = extension_lines(&report);
        let shown = uri.split('?').next().unwrap();
        assert!(
            lines.iter().any(|l| l.contains(&format!("ready: config from {variable}={shown}"))),
            "{variable}={uri}: {lines:#?}"
        );
        let ids = invocation_ids(&sink.received(), "orders");
        assert!(ids.contains(&outcome.request_id), "{variable}={uri}: {ids:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_but_unreadable_config_variable_is_a_start_up_error_never_the_default() {
    let dir = TempDir::new("unreadable");
    let unused = dir.write("unused.yaml", "");
    let env = vec![("OPENTELEMETRY_COLLECTOR_CONFIG_URI".into(), "/nonexistent/collector.yaml".into())];
    let mut sim = Simulator::start(SimConfig { env, ..lambdatel_with_config(&unused) }).await.expect("starts");
    // on_error: passthrough (the default, since the config cannot be read): the function runs.
    let outcome = sim.invoke(Invocation::default()).await.unwrap();
    assert_eq!(outcome.status, "success");
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    assert!(report.extensions[0].errors.is_empty(), "{report:#?}");
    let lines = extension_lines(&report);
    let errors: Vec<&String> = lines.iter().filter(|l| l.starts_with("[lambdatel] ERROR")).collect();
    assert_eq!(errors.len(), 1, "{lines:#?}");
    // Named, and not the embedded default in its place.
    assert!(
        errors[0].starts_with(
            "[lambdatel] ERROR invalid configuration: OPENTELEMETRY_COLLECTOR_CONFIG_URI=/nonexistent/collector.yaml: file /nonexistent/collector.yaml: No such file or directory (os error 2)"
        ),
        "{}",
        errors[0]
    );
    assert!(!lines.iter().any(|l| l.contains("ready")), "{lines:#?}");
}
