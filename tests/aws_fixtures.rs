//! The AWS fixtures of the end-to-end tests (crates/aws/tests/fixtures): moto, the botocore-verifying
//! backend, the container credentials endpoint, the delay proxy, each a python3 process killed on drop.
#![allow(dead_code)] // Each test file uses some of them.

use std::{
    io::{Read, Write},
    net::TcpStream,
};

#[path = "../crates/aws/tests/common/mod.rs"]
mod common;
pub use common::*;

/// The botocore-verifying backend, accepting `access_key`/`secret_key`.
pub fn start_verifier(access_key: &str, secret_key: &str) -> Process {
    start_fixture("sigv4_verifier.py", &[&format!("{access_key}={secret_key}")])
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
"
    )
}
