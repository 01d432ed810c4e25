//! The binary's offline commands: `convert` prints OTLP/JSON for Telemetry API batches, `validate` checks a
//! config, and run without Lambda around it refuses with a message that says what to do.

use std::process::Command;

use lambdatel_e2e::*;

fn fixture(name: &str) -> String {
    format!("{}/../crates/components/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn lambdatel(args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(binary("lambdatel"));
    command.args(args).env_remove("LAMBDATEL_CONFIG").env_remove("AWS_LAMBDA_RUNTIME_API");
    for (k, v) in envs {
        command.env(k, v);
    }
    command.output().expect("lambdatel runs")
}

#[test]
fn convert_prints_otlp_json_with_hex_ids_and_integer_enums() {
    let out = lambdatel(
        &["convert", &fixture("telemetry_cold_start.json"), &fixture("telemetry_warm_invoke.json")],
        &[("OTEL_SERVICE_NAME", "checkout")],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("OTLP/JSON");
    let resource_spans = &json["traces"]["resourceSpans"][0];
    let service = resource_spans["resource"]["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == "service.name")
        .unwrap();
    assert_eq!(service["value"]["stringValue"], "checkout");
    let spans = resource_spans["scopeSpans"][0]["spans"].as_array().unwrap();
    let invocation = spans
        .iter()
        .find(|s| {
            s["attributes"].as_array().unwrap().iter().any(|a| {
                a["key"] == "faas.invocation_id" && a["value"]["stringValue"] == "6d68ca91-49c9-448d-89b8-7ca3e6dc66aa"
            }) && s["kind"] == 2
        })
        .expect("the first invocation's span");
    // The X-Ray root joined into a 32-hex trace id; enums as integers.
    assert_eq!(invocation["traceId"], "66323100b1f9e2a8c7d64e0f9a1b2c3d");
    assert_eq!(invocation["status"]["code"], 1);
    assert_eq!(invocation["spanId"].as_str().unwrap().len(), 16);
    let init = spans.iter().find(|s| s["name"] == "Init").expect("the init span");
    assert_eq!(init["traceId"], invocation["traceId"]);
    assert!(json["metrics"]["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["name"] == "faas.coldstarts"));
    assert!(!json["logs"]["resourceLogs"][0]["scopeLogs"][0]["logRecords"].as_array().unwrap().is_empty());
}

#[test]
fn convert_keeps_the_good_events_of_a_malformed_batch_and_says_what_it_skipped() {
    let out = lambdatel(&["convert", &fixture("telemetry_malformed.json")], &[]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("skipped"), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json.as_object().is_some_and(|o| !o.is_empty()), "{json}");
}

#[test]
fn validate_prints_the_pipelines_or_every_error_with_its_line() {
    let dir = TempDir::new("validate");
    let good = dir.write("good.yaml", &otlp_config_on_port(4243, "http://127.0.0.1:4317", ""));
    let out = lambdatel(&["validate", good.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "{}: valid\n  traces: telemetryapi -> 1 processor(s) -> otlp\n  metrics: telemetryapi -> 1 processor(s) -> otlp\n  logs: telemetryapi -> 1 processor(s) -> otlp\n",
            good.display()
        )
    );

    let bad = dir.write(
        "bad.yaml",
        "receivers:\n  telemetryapi:\n    port: seven\nexporters:\n  otlp:\n    compression: zstd\nservice:\n  pipelines:\n    traces: {receivers: [telemetryapi], exporters: [otlp]}\n",
    );
    let out = lambdatel(&["validate", bad.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines[0], format!("invalid configuration in {}:", bad.display()));
    // Every error, each with file, line, column and key.
    assert_eq!(
        lines[1..],
        [
            format!("{}:3:5: receivers.telemetryapi.port: invalid type: string \"seven\", expected u16", bad.display()),
            format!(
                "{}:6:5: exporters.otlp.compression: unknown variant `zstd`, expected `gzip` or `none`",
                bad.display()
            ),
        ]
    );
}

#[test]
fn validate_checks_every_file_given() {
    let dir = TempDir::new("validate-many");
    let good = dir.write("good.yaml", &otlp_config_on_port(4243, "http://127.0.0.1:4317", ""));
    let unset = dir.write(
        "unset.yaml",
        "receivers:\n  telemetryapi:\nexporters:\n  otlp:\n    endpoint: ${env:LAMBDATEL_TEST_UNSET_ENDPOINT}\nservice:\n  pipelines:\n    logs: {receivers: [telemetryapi], exporters: [otlp]}\n",
    );
    let out = lambdatel(&["validate", unset.to_str().unwrap(), good.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1));
    // The bad file does not hide the good one after it.
    assert!(String::from_utf8_lossy(&out.stdout).starts_with(&format!("{}: valid\n", good.display())));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("warning: ")).collect();
    assert_eq!(
        lines,
        [
            format!("invalid configuration in {}:", unset.display()),
            format!(
                "{}:4:3: exporters.otlp: endpoint is empty; unset environment variable \"LAMBDATEL_TEST_UNSET_ENDPOINT\" (at exporters.otlp.endpoint)",
                unset.display()
            ),
            "1 of 2 configurations are invalid".to_string(),
        ]
    );
    let out = lambdatel(&["validate", good.to_str().unwrap(), good.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).matches(": valid\n").count(), 2);
}

#[test]
fn convert_into_a_closed_pipe_ends_quietly() {
    let mut child = Command::new(binary("lambdatel"))
        .args(["convert", &fixture("telemetry_cold_start.json")])
        .env_remove("LAMBDATEL_CONFIG")
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("lambdatel runs");
    // Like `| head -0`: the reader is gone before anything is written.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn outside_lambda_the_extension_says_what_to_do() {
    let out = lambdatel(&[], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("AWS_LAMBDA_RUNTIME_API is not set"));
}
