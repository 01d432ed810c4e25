//! Inputs shared by the criterion benches: the converter's fixture batches (as Lambda delivers them) and
//! larger batches built from them, so every bench measures the same data.

#![allow(dead_code)] // Each bench uses a different part of this module.

use std::path::PathBuf;

use lambdatel_components::receivers::telemetry_api::{ConvertOptions, Converter, ResourceInfo};
use lambdatel_pipeline::Signals;

/// A fixture batch of `crates/components/tests/fixtures/`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crates/components/tests/fixtures").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// Number of events (records) in a Telemetry API batch: the unit of the converter's throughput.
pub fn record_count(body: &[u8]) -> u64 {
    serde_json::from_slice::<Vec<serde_json::Value>>(body).expect("a fixture is a JSON array").len() as u64
}

/// The converter as the extension builds it from a typical environment.
pub fn converter() -> Converter {
    let info = ResourceInfo {
        service_name: None,
        function_name: Some("orders-api".into()),
        function_version: Some("$LATEST".into()),
        region: Some("eu-west-1".into()),
        account_id: Some("123456789012".into()),
        memory_mb: Some(128),
        extra: Vec::new(),
        initialization_type: Some("on-demand".into()),
    };
    Converter::new(info, ConvertOptions::default())
}

/// Platform-heavy: an on-demand init with its first invocation, then the next batch (its report and a second,
/// failing invocation), as one sandbox receives them.
pub fn platform_heavy() -> Vec<Vec<u8>> {
    vec![fixture("telemetry_cold_start.json"), fixture("telemetry_warm_invoke.json")]
}

/// Log-heavy: one busy invocation with 100 text lines, or with 100 JSON records.
pub fn log_heavy_text() -> Vec<u8> {
    fixture("telemetry_text_logs_batch.json")
}

/// See [`log_heavy_text`].
pub fn log_heavy_json() -> Vec<u8> {
    fixture("telemetry_json_logs_batch.json")
}

/// A full Lambda batch (1,000 items, Lambda's default `maxItems`) of a chatty invocation: platform.start,
/// then 999 Python text lines of about 200 bytes, each with its request id.
pub fn full_log_batch() -> Vec<u8> {
    const REQUEST: &str = "7c1e5b2a-93d4-4f60-b8a7-2d9e0f1c3b45";
    let mut events = vec![format!(
        r#"{{"time":"2024-05-01T13:00:00.000Z","type":"platform.start","record":{{"requestId":"{REQUEST}","version":"$LATEST"}}}}"#
    )];
    for i in 1..1000 {
        let time = format!("2024-05-01T13:00:{:02}.{:03}Z", i / 1000, i % 1000);
        events.push(format!(
            r#"{{"time":"{time}","type":"function","record":"[INFO]\t{time}\t{REQUEST}\tprocessed item {i} of batch 42: sku=SKU-{i:05} qty=3 warehouse=eu-west-1c carrier=standard status=reserved elapsed_ms=0.42\n"}}"#
        ));
    }
    format!("[{}]", events.join(",\n")).into_bytes()
}

/// `invocations` warm invocations (start, two JSON log records, runtimeDone, report), each with its own
/// request id, in one batch: many spans and metric updates, few logs.
pub fn many_invocations(invocations: usize) -> Vec<u8> {
    let template = String::from_utf8(fixture("telemetry_warm_invoke.json")).expect("fixtures are UTF-8");
    let template: Vec<serde_json::Value> = serde_json::from_str(&template).expect("a fixture is a JSON array");
    // Drop the first event: it is the report of the previous batch's invocation.
    let one = serde_json::to_string(&template[1..]).expect("JSON serialises");
    let mut events: Vec<serde_json::Value> = Vec::new();
    for i in 0..invocations {
        let id = format!("0e7fa3a1-21cd-4bfa-9f0a-{i:012x}");
        let text = one.replace("0e7fa3a1-21cd-4bfa-9f0a-3e4b4c7d9a11", &id);
        events.extend(serde_json::from_str::<Vec<serde_json::Value>>(&text).expect("still JSON"));
    }
    serde_json::to_vec(&events).expect("JSON serialises")
}

/// What the converter makes of `batches`, drained once at the end.
pub fn convert(batches: &[Vec<u8>]) -> Signals {
    let mut converter = converter();
    for body in batches {
        converter.ingest(body);
    }
    converter.drain()
}
