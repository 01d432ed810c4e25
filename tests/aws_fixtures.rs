//! The AWS fixtures of the end-to-end tests (crates/aws/tests/fixtures): moto, the botocore-verifying
//! backend, the container credentials endpoint, the delay proxy, each a python3 process killed on drop.
#![allow(dead_code)] // Each test file uses some of them.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use lambdatel_e2e::free_port;

/// A started fixture process, killed on drop.
pub struct Process {
    child: Child,
    /// Where it listens.
    pub port: u16,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crates/aws/tests/fixtures").join(name)
}

pub fn python_ready(test: &str) -> bool {
    let ready = Command::new("python3")
        .args(["-c", "import botocore, boto3, moto.server"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ready {
        eprintln!("SKIPPED {test}: python3 with botocore, boto3 and moto[server] is needed");
    }
    ready
}

/// The botocore-verifying backend, accepting `access_key`/`secret_key`.
pub fn start_verifier(access_key: &str, secret_key: &str) -> Process {
    start_printing_port("sigv4_verifier.py", &[format!("{access_key}={secret_key}")])
}

pub fn start_moto() -> Process {
    let port = free_port();
    let child = Command::new("python3")
        .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto did not listen within 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    Process { child, port }
}

pub fn seed_moto(port: u16, seed: &serde_json::Value) {
    let mut child = Command::new("python3")
        .arg(fixture("seed_moto.py"))
        .arg(format!("http://127.0.0.1:{port}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("seed_moto.py starts");
    child.stdin.take().unwrap().write_all(seed.to_string().as_bytes()).unwrap();
    assert!(child.wait_with_output().unwrap().status.success(), "seeding moto failed");
}

/// A fixture that prints `PORT <n>` once listening, started with `args`.
pub fn start_printing_port(name: &str, args: &[String]) -> Process {
    let mut child =
        Command::new("python3").arg(fixture(name)).args(args).stdout(Stdio::piped()).spawn().expect("python3 starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port = line.trim().strip_prefix("PORT ").and_then(|p| p.parse().ok()).expect("the fixture prints its port");
    Process { child, port }
}

/// `GET http://127.0.0.1:port/path`'s JSON body (a fixture's account of what it saw).
pub fn get_json(port: u16, path: &str) -> serde_json::Value {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let (_, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// The counters of `exporter/signal` in the shutdown summary: (exported, retried, rejected).
pub fn counters(lines: &[String], key: &str) -> (u64, u64, u64) {
    let stopped = lines.iter().find(|l| l.contains("stopped: ")).unwrap_or_else(|| panic!("a summary in {lines:#?}"));
    let part = stopped
        .split("; ")
        .find_map(|p| p.split_once(&format!("{key}: ")).map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("{key} in {stopped}"));
    let numbers: Vec<u64> =
        part.split(|c: char| !c.is_ascii_digit()).filter(|n| !n.is_empty()).map(|n| n.parse().unwrap()).collect();
    (numbers[0], numbers[1], numbers[3])
}

pub fn signed_config(port: u16) -> String {
    format!(
        "extensions:
  sigv4auth/xray:
    service: xray
  sigv4auth/logs:
    service: logs
receivers:
  telemetryapi:
    port: {listen}
processors:
  batch:
exporters:
  otlphttp/xray:
    traces_endpoint: http://127.0.0.1:{port}/v1/traces
    retry_on_failure:
      enabled: true
    auth:
      authenticator: sigv4auth/xray
  otlphttp/logs:
    logs_endpoint: http://127.0.0.1:{port}/v1/logs
    headers:
      x-aws-log-group: /aws/lambda/orders-telemetry
      x-aws-log-stream: lambdatel
    auth:
      authenticator: sigv4auth/logs
service:
  extensions: [sigv4auth/xray, sigv4auth/logs]
  pipelines:
    traces: {{receivers: [telemetryapi], processors: [batch], exporters: [otlphttp/xray]}}
    logs: {{receivers: [telemetryapi], processors: [batch], exporters: [otlphttp/logs]}}
",
        listen = free_port()
    )
}
