//! The example extension, built as its own binary, under the simulator: the tenant id the function logs
//! arrives on its log records and on the spans of that invocation and the ones that follow.

use std::{path::PathBuf, time::Duration};

use lambdatel_pipeline::common::{any_value::Value, KeyValue};
use lambdatel_sim::{Invocation, LogLine, OtlpSink, Script, ShutdownReason, SimConfig, Simulator};

fn attr(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
        Value::StringValue(s) => Some(s.clone()),
        _ => None,
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A config file in a folder of its own, removed at the end.
struct ConfigFile(PathBuf);

impl ConfigFile {
    fn new(contents: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("lambdatel-tenant-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.yaml");
        std::fs::write(&path, contents).unwrap();
        ConfigFile(path)
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_and_logs_carry_the_tenant() {
    let sink = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let config = ConfigFile::new(&format!(
        "receivers:
  telemetryapi:
processors:
  tenant:
    attribute: tenant.id
  batch:
exporters:
  otlp:
    endpoint: {endpoint}
service:
  pipelines:
    traces: {{receivers: [telemetryapi], processors: [tenant, batch], exporters: [otlp]}}
    logs: {{receivers: [telemetryapi], processors: [tenant, batch], exporters: [otlp]}}
",
        endpoint = sink.grpc_endpoint(),
    ));
    let mut sim = Simulator::start(SimConfig {
        extensions: vec![PathBuf::from(env!("CARGO_BIN_EXE_lambdatel-tenant"))],
        env: vec![("LAMBDATEL_CONFIG".into(), config.0.display().to_string())],
        function_name: "orders".into(),
        timeout: Duration::from_secs(3),
        // The extension's own lines reach the test's output, which the harness shows when the test fails.
        echo_extension_output: true,
        ..SimConfig::default()
    })
    .await
    .expect("the simulator starts");

    let script = |lines: &[&str]| Script {
        logs: lines.iter().map(|l| LogLine::Text(l.to_string())).collect(),
        ..Script::default()
    };
    let first = sim.invoke(Invocation { script: script(&["loading tenant=acme config"]), ..Invocation::default() });
    let first = first.await.unwrap();
    let second = sim.invoke(Invocation { script: script(&["order placed"]), ..Invocation::default() }).await.unwrap();
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    assert_eq!([first.status.as_str(), second.status.as_str()], ["success", "success"]);
    // Collecting at all: a start-up error would leave it registered but idle, with no subscription.
    for extension in &report.extensions {
        assert!(extension.errors.is_empty(), "{extension:#?}");
        assert!(extension.subscription.as_ref().is_some_and(|s| s.delivered > 0 && s.dropped == 0), "{extension:#?}");
        assert_eq!(extension.exit_status.as_ref().and_then(|s| s.code), Some(0), "{extension:#?}");
    }

    let received = sink.received();
    let logs: Vec<_> = received.logs.iter().flat_map(|r| &r.scope_logs).flat_map(|s| &s.log_records).collect();
    let tenant_of_line = |line: &str| {
        let record = logs
            .iter()
            .find(|r| matches!(r.body.as_ref().and_then(|b| b.value.as_ref()), Some(Value::StringValue(s)) if s.contains(line)))
            .unwrap_or_else(|| panic!("a log record for {line:?} in {logs:#?}"));
        attr(&record.attributes, "tenant.id")
    };
    assert_eq!(tenant_of_line("loading tenant=acme config").as_deref(), Some("acme"));
    assert_eq!(tenant_of_line("order placed").as_deref(), Some("acme"));

    let spans: Vec<_> = received.spans.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans).collect();
    let second_span = spans
        .iter()
        .find(|s| attr(&s.attributes, "faas.invocation_id").as_deref() == Some(second.request_id.as_str()))
        .unwrap_or_else(|| panic!("the second invocation's span in {spans:#?}"));
    assert_eq!(attr(&second_span.attributes, "tenant.id").as_deref(), Some("acme"));
    // Not one invocation late: the invocation that logs the tenant has it on its own span.
    let first_span = spans
        .iter()
        .find(|s| attr(&s.attributes, "faas.invocation_id").as_deref() == Some(first.request_id.as_str()))
        .unwrap_or_else(|| panic!("the first invocation's span in {spans:#?}"));
    assert_eq!(attr(&first_span.attributes, "tenant.id").as_deref(), Some("acme"));
}
