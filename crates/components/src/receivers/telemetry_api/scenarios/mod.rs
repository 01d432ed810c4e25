//! Scenario tests of the converter: whole batches in, exact spans, metrics and log records out.

mod managed_instances;
mod on_demand;
mod on_demand_phases_and_logs;
mod snapstart;

use super::{
    convert::{ConvertOptions, Converter, IngestStats, InvokeContext, ResourceInfo, Temporality},
    events::parse_timestamp,
    xray::decode_hex,
};
use lambdatel_pipeline::Signals;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point, Metric};
use opentelemetry_proto::tonic::{
    common::v1::{any_value::Value as Av, KeyValue},
    logs::v1::LogRecord,
    trace::v1::{span::SpanKind, status::StatusCode, Span, Status},
};

const A: &str = "6d68ca91-49c9-448d-89b8-7ca3e6dc66aa";
const B: &str = "0e7fa3a1-21cd-4bfa-9f0a-3e4b4c7d9a11";
const C: &str = "3f2d9a4e-8b71-4c2e-a0f5-6b1c7d8e9f00";
const D: &str = "9b8c7d6e-5f4a-4b3c-8d2e-1f0a9b8c7d6e";
const ARN: &str = "arn:aws:lambda:eu-west-1:123456789012:function:orders-api";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn info() -> ResourceInfo {
    ResourceInfo {
        function_name: Some("orders-api".into()),
        function_version: Some("$LATEST".into()),
        region: Some("eu-west-1".into()),
        memory_mb: Some(128),
        ..Default::default()
    }
}

fn converter() -> Converter {
    Converter::new(info(), ConvertOptions::default())
}

fn ts(text: &str) -> u64 {
    parse_timestamp(text).unwrap()
}

fn hex(text: &str) -> Vec<u8> {
    let mut out = vec![0; text.len() / 2];
    assert!(decode_hex(text, &mut out));
    out
}

fn spans(s: &Signals) -> Vec<&Span> {
    assert!(s.spans.len() <= 1, "one ResourceSpans per drain");
    s.spans.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans).collect()
}

fn span<'a>(s: &'a Signals, name: &str) -> &'a Span {
    let found: Vec<_> = spans(s).into_iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "{name}: {found:?}");
    found[0]
}

fn logs(s: &Signals) -> Vec<&LogRecord> {
    assert!(s.logs.len() <= 1, "one ResourceLogs per drain");
    s.logs.iter().flat_map(|r| &r.scope_logs).flat_map(|s| &s.log_records).collect()
}

fn metric<'a>(s: &'a Signals, name: &str) -> Option<&'a Metric> {
    assert!(s.metrics.len() <= 1, "one ResourceMetrics per drain");
    s.metrics.iter().flat_map(|r| &r.scope_metrics).flat_map(|s| &s.metrics).find(|m| m.name == name)
}

fn counter(s: &Signals, name: &str) -> Option<i64> {
    match &metric(s, name)?.data {
        Some(Data::Sum(sum)) => match sum.data_points[0].value {
            Some(number_data_point::Value::AsInt(v)) => Some(v),
            ref other => panic!("{other:?}"),
        },
        other => panic!("{name}: {other:?}"),
    }
}

/// (count, sum) of a histogram.
fn histogram(s: &Signals, name: &str) -> Option<(u64, f64)> {
    match &metric(s, name)?.data {
        Some(Data::Histogram(h)) => Some((h.data_points[0].count, h.data_points[0].sum.unwrap())),
        other => panic!("{name}: {other:?}"),
    }
}

fn av(kv: &KeyValue) -> Av {
    kv.value.clone().and_then(|v| v.value).expect("a value")
}

fn attrs(list: &[KeyValue]) -> Vec<(&str, Av)> {
    list.iter().map(|kv| (kv.key.as_str(), av(kv))).collect()
}

fn s(text: &str) -> Av {
    Av::StringValue(text.into())
}

fn body(record: &LogRecord) -> Av {
    record.body.clone().and_then(|b| b.value).expect("a body")
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}
