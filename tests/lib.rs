//! Shared helpers for the end-to-end tests: where the binaries are, temporary config files, free ports,
//! and readers for what the OTLP sink received.

use std::path::{Path, PathBuf};

use lambdatel_sim::Received;
use opentelemetry_proto::tonic::{
    common::v1::{any_value::Value, AnyValue, KeyValue},
    logs::v1::LogRecord,
    metrics::v1::{metric::Data, number_data_point, Metric},
    trace::v1::Span,
};

/// The workspace's target folder (honours `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
    }
}

/// A binary built from this workspace: `LAMBDATEL_BIN_DIR` when set (to test release or layer builds),
/// else the debug build that `scripts/test` makes first.
pub fn binary(name: &str) -> PathBuf {
    let dir = std::env::var_os("LAMBDATEL_BIN_DIR").map(PathBuf::from).unwrap_or_else(|| target_dir().join("debug"));
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build it first with `cargo build -p lambdatel -p lambdatel-sim` (scripts/test does)",
        path.display()
    );
    path
}

/// A folder removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let path = std::env::temp_dir().join(format!("lambdatel-e2e-{tag}-{}-{}", std::process::id(), fastrand_u64()));
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes a file in the folder and returns its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).expect("write temp file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fastrand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64);
    h.finish()
}

/// A loopback port that was free a moment ago, from below the ephemeral range so that no connection made before
/// its listener binds it can take it ([`lambdatel_sim::ports`]).
pub fn free_port() -> u16 {
    lambdatel_sim::ports::free_port()
}

/// The repository's root, where the layer's wrapper and every fixture live.
pub fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The built `lambdatel` (config at `config`, proxy address file at `proxy_file`) with tests/fixtures/raw_runtime.py
/// as the function's runtime: started through the layer's wrapper when `through_wrapper` (lambdatel then runs its
/// Runtime API proxy and the wrapper points the runtime at it), else directly, as a function that did not opt in.
pub fn raw_runtime_behind_lambdatel(
    config: &Path,
    proxy_file: &Path,
    through_wrapper: bool,
) -> lambdatel_sim::SimConfig {
    let base = lambdatel_with_config(config);
    let mut env = base.env.clone();
    env.push(("LAMBDATEL_RUNTIME_PROXY_FILE".into(), proxy_file.display().to_string()));
    let wrapper = repository().join("layer/lambdatel-wrapper");
    let runtime = repository().join("tests/fixtures/raw_runtime.py");
    let function = if through_wrapper {
        env.push(("AWS_LAMBDA_EXEC_WRAPPER".into(), wrapper.display().to_string()));
        lambdatel_sim::ProcessFunction {
            command: wrapper,
            args: vec![runtime.display().to_string()],
            working_dir: None,
        }
    } else {
        lambdatel_sim::ProcessFunction { command: runtime, args: Vec::new(), working_dir: None }
    };
    lambdatel_sim::SimConfig { function: lambdatel_sim::FunctionSpec::Process(function), env, ..base }
}

/// The simulator set up to run the built `lambdatel` with the config file at `config`, for a function
/// named `orders`; tests override the rest with struct update syntax.
pub fn lambdatel_with_config(config: &Path) -> lambdatel_sim::SimConfig {
    lambdatel_sim::SimConfig {
        extensions: vec![binary("lambdatel")],
        env: vec![("LAMBDATEL_CONFIG".into(), config.display().to_string())],
        function_name: "orders".into(),
        // The extension's own lines reach the test's output, which the harness shows when the test fails.
        echo_extension_output: true,
        ..lambdatel_sim::SimConfig::default()
    }
}

/// A config with the telemetryapi receiver, batch, and one otlp exporter to `endpoint`. The receiver has no
/// `port`: the extension binds any free one itself, which no other process can take in between.
pub fn otlp_config(endpoint: &str, extra_exporter_settings: &str) -> String {
    format!(
        "receivers:
  telemetryapi:
processors:
  batch:
exporters:
  otlp:
    endpoint: {endpoint}
{extra_exporter_settings}
service:
  pipelines:
    traces: {{receivers: [telemetryapi], processors: [batch], exporters: [otlp]}}
    metrics: {{receivers: [telemetryapi], processors: [batch], exporters: [otlp]}}
    logs: {{receivers: [telemetryapi], processors: [batch], exporters: [otlp]}}
"
    )
}

/// [`otlp_config`] with the telemetryapi receiver on `listen_port`, for tests about the port itself.
pub fn otlp_config_on_port(listen_port: u16, endpoint: &str, extra_exporter_settings: &str) -> String {
    otlp_config(endpoint, extra_exporter_settings).replacen(
        "  telemetryapi:\n",
        &format!("  telemetryapi:\n    port: {listen_port}\n"),
        1,
    )
}

/// A config with the `telemetryapi` receiver on any free port and the `otlp` receiver (OTLP/HTTP) on
/// `otlp_port` for the function's own SDK, whose spans join lambdatel's; everything goes to `sink` (gRPC).
pub fn sdk_receiver_config(otlp_port: u16, sink: &str) -> String {
    format!(
        "lambdatel:
  flush_budget: 2s
receivers:
  telemetryapi:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{otlp_port}
processors:
  batch:
exporters:
  otlp:
    endpoint: {sink}
service:
  pipelines:
    traces: {{receivers: [telemetryapi, otlp], processors: [batch], exporters: [otlp]}}
    metrics: {{receivers: [telemetryapi], processors: [batch], exporters: [otlp]}}
    logs: {{receivers: [telemetryapi], processors: [batch], exporters: [otlp]}}
"
    )
}

pub fn all_spans(received: &Received) -> Vec<Span> {
    received.spans.iter().flat_map(|r| &r.scope_spans).flat_map(|s| s.spans.clone()).collect()
}

pub fn all_logs(received: &Received) -> Vec<LogRecord> {
    received.logs.iter().flat_map(|r| &r.scope_logs).flat_map(|s| s.log_records.clone()).collect()
}

pub fn all_metrics(received: &Received) -> Vec<Metric> {
    received.metrics.iter().flat_map(|r| &r.scope_metrics).flat_map(|s| s.metrics.clone()).collect()
}

/// An attribute's value as text (strings as they are, other values in their natural form).
pub fn attr(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.as_ref()).map(text)
}

pub fn text(value: &AnyValue) -> String {
    match &value.value {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The latest value of a counter (cumulative sums: the highest point seen), summed over its data points.
pub fn counter_value(metrics: &[Metric], name: &str) -> Option<i64> {
    counter_where(metrics, name, &[])
}

/// Like [`counter_value`], over the data points whose attributes include all of `with`.
pub fn counter_where(metrics: &[Metric], name: &str, with: &[(&str, &str)]) -> Option<i64> {
    metrics
        .iter()
        .filter(|m| m.name == name)
        .filter_map(|m| match &m.data {
            Some(Data::Sum(sum)) => Some(
                sum.data_points
                    .iter()
                    .filter(|p| with.iter().all(|(k, v)| attr(&p.attributes, k).as_deref() == Some(*v)))
                    .map(|p| match p.value {
                        Some(number_data_point::Value::AsInt(i)) => i,
                        Some(number_data_point::Value::AsDouble(d)) => d as i64,
                        None => 0,
                    })
                    .sum::<i64>(),
            ),
            _ => None,
        })
        .max()
}

/// The `faas.invocation_id` of every invocation span (named after `function`) received, duplicates included.
pub fn invocation_ids(received: &Received, function: &str) -> Vec<String> {
    all_spans(received)
        .iter()
        .filter(|s| s.name == function)
        .filter_map(|s| attr(&s.attributes, "faas.invocation_id"))
        .collect()
}

/// The largest histogram count seen for a metric (cumulative: the count of all observations).
pub fn histogram_count(metrics: &[Metric], name: &str) -> Option<u64> {
    metrics
        .iter()
        .filter(|m| m.name == name)
        .filter_map(|m| match &m.data {
            Some(Data::Histogram(h)) => Some(h.data_points.iter().map(|p| p.count).sum::<u64>()),
            _ => None,
        })
        .max()
}

/// The Python interpreter that can import every module of `modules` (besides `sys`), resolved to a real path:
/// the simulator gives processes a clean environment, which version-manager shims do not survive. Fails the
/// test with the way to install the pinned fixtures when one is missing.
pub fn python_with(modules: &[&str]) -> std::path::PathBuf {
    let script = format!("import {}, sys; print(sys.executable)", modules.join(", "));
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("python3 is required for this test");
    assert!(
        out.status.success(),
        "the Python test dependencies are missing: run `source .ci/python-env` (the pinned packages of \
         .ci/requirements.txt in a virtual environment) ({})",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    std::path::PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// The extension's own text lines, as Lambda's Telemetry API delivered them to the simulator.
pub fn extension_lines(report: &lambdatel_sim::Report) -> Vec<String> {
    use lambdatel_sim::events::{EventRecord, LogRecord};
    report
        .events
        .iter()
        .filter_map(|e| match &e.record {
            EventRecord::ExtensionLog(LogRecord::Text(line)) => Some(line.trim_end().to_string()),
            _ => None,
        })
        .collect()
}
