//! What a fleet run measured: per sandbox, and at the shared backend checked against what was
//! invoked (lost and duplicated spans and log lines, metric series, the drops the extensions counted).

use crate::otlp::{OtlpSink, Received};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

/// Figures of one sandbox over its life.
#[derive(Debug, Clone, Serialize)]
pub struct SandboxFigures {
    /// Sandbox number, in creation order.
    pub id: usize,
    /// Invocations it served.
    pub invocations: usize,
    /// Its init (cold start), ms.
    pub init_ms: Option<f64>,
    /// Its extensions' post-runtime time per invocation (the slowest extension), ms.
    pub post_runtime_ms: Vec<f64>,
    /// Peak RSS of its extensions, KiB (summed over extensions).
    pub extension_peak_rss_kb: u64,
    /// CPU time of its extensions, ms.
    pub extension_cpu_ms: f64,
    /// Its shutdown, ms.
    pub shutdown_ms: Option<f64>,
    /// Extensions SIGKILLed at the shutdown deadline.
    pub killed_extensions: usize,
    /// Connections it opened at the gateway (0 without one).
    pub gateway_connections: usize,
}

/// What the shared backend saw, checked against what was invoked.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BackendFigures {
    /// Connections accepted.
    pub connections: usize,
    /// Export requests.
    pub requests: usize,
    /// Protobuf bytes of those requests.
    pub bytes: u64,
    /// Spans received.
    pub spans: usize,
    /// Spans received more than once (same trace and span id), counting each extra copy.
    pub duplicate_spans: usize,
    /// Invocations no span arrived for (matched by the X-Ray trace id of the invocation).
    pub invocations_without_span: usize,
    /// Function log lines the fleet wrote.
    pub log_lines_written: usize,
    /// Of those, lines that never arrived.
    pub log_lines_lost: usize,
    /// Extra copies of lines that arrived more than once.
    pub log_lines_duplicated: usize,
    /// Distinct metric series (name, resource attributes, point attributes).
    pub metric_series: usize,
    /// Distinct series per metric name.
    pub metric_series_by_name: BTreeMap<String, usize>,
    /// Items the extensions say they dropped, by signal: the latest `lambdatel.exporter.dropped`
    /// of each sandbox (lambdatel's self-telemetry, `lambdatel: {self_telemetry: true}`), summed,
    /// with `lambdatel.receiver.dropped_logs` under `logs`. Empty when none arrived.
    pub extension_drops: BTreeMap<String, u64>,
}

pub(crate) fn backend_figures(backend: &OtlpSink, trace_headers: &[String]) -> BackendFigures {
    let received = backend.received();
    let (spans, duplicate_spans, traces_seen) = span_figures(&received);
    let invocations_without_span = trace_headers
        .iter()
        .filter(|h| crate::render::xray_trace_id(h).is_none_or(|id| !traces_seen.contains(&id)))
        .count();
    let (log_lines_lost, log_lines_duplicated) = log_line_figures(&received, trace_headers.len());
    let metric_series_by_name = metric_series(&received);
    BackendFigures {
        connections: backend.connections_accepted(),
        requests: backend.request_count(),
        bytes: backend.request_bytes(),
        spans,
        duplicate_spans,
        invocations_without_span,
        log_lines_written: trace_headers.len(),
        log_lines_lost,
        log_lines_duplicated,
        metric_series: metric_series_by_name.values().sum(),
        metric_series_by_name,
        extension_drops: extension_drops(&received),
    }
}

/// Spans received, extra copies of a (trace id, span id), and the trace ids seen (hex).
fn span_figures(received: &Received) -> (usize, usize, HashSet<String>) {
    let mut seen = HashSet::new();
    let (mut spans, mut duplicates) = (0, 0);
    let mut traces = HashSet::new();
    for span in received.spans.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans) {
        spans += 1;
        if !seen.insert((span.trace_id.clone(), span.span_id.clone())) {
            duplicates += 1;
        }
        traces.insert(span.trace_id.iter().map(|b| format!("{b:02x}")).collect::<String>());
    }
    (spans, duplicates, traces)
}

/// Of the `written` lines `fleet-line <n>`: lines that never arrived, and extra copies.
fn log_line_figures(received: &Received, written: usize) -> (usize, usize) {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    let mut counts: HashMap<usize, usize> = HashMap::new();
    for record in received.logs.iter().flat_map(|r| &r.scope_logs).flat_map(|s| &s.log_records) {
        let Some(Value::StringValue(body)) = record.body.as_ref().and_then(|b| b.value.as_ref()) else { continue };
        if let Some(n) = body.strip_prefix("fleet-line ").and_then(|n| n.trim().parse::<usize>().ok()) {
            *counts.entry(n).or_insert(0) += 1;
        }
    }
    let lost = (0..written).filter(|n| !counts.contains_key(n)).count();
    let duplicated = counts.values().map(|c| c - 1).sum();
    (lost, duplicated)
}

/// The drops lambdatel's self-telemetry reports, by signal. Its counters are cumulative per sandbox
/// (the resource carries the instance), so the latest point of each series is its total.
fn extension_drops(received: &Received) -> BTreeMap<String, u64> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point};
    let text = |attrs: &[opentelemetry_proto::tonic::common::v1::KeyValue], key: &str| {
        attrs.iter().find(|kv| kv.key == key).and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.clone()),
            _ => None,
        })
    };
    // (resource, point attributes) -> (time, value, signal)
    let mut latest: HashMap<String, (u64, u64, String)> = HashMap::new();
    for rm in &received.metrics {
        let resource = rm.resource.as_ref().map(|r| format!("{:?}", r.attributes)).unwrap_or_default();
        for metric in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
            let signal_of = |attrs: &[_]| match metric.name.as_str() {
                "lambdatel.exporter.dropped" => text(attrs, "signal"),
                "lambdatel.receiver.dropped_logs" => Some("logs".to_string()),
                _ => None,
            };
            let Some(Data::Sum(sum)) = &metric.data else { continue };
            for p in &sum.data_points {
                let Some(signal) = signal_of(&p.attributes) else { continue };
                let value = match p.value {
                    Some(number_data_point::Value::AsInt(v)) => u64::try_from(v).unwrap_or(0),
                    Some(number_data_point::Value::AsDouble(v)) => v.max(0.0) as u64,
                    None => 0,
                };
                let key = format!("{resource}|{}|{:?}", metric.name, p.attributes);
                let entry = latest.entry(key).or_insert((0, 0, signal));
                if p.time_unix_nano >= entry.0 {
                    (entry.0, entry.1) = (p.time_unix_nano, value);
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    for (_, value, signal) in latest.into_values() {
        *out.entry(signal).or_insert(0) += value;
    }
    out
}

/// Spans that ended within `window` (wall clock) and arrived after it.
pub(crate) fn spans_held_over(backend: &OtlpSink, window: (SystemTime, SystemTime)) -> usize {
    let nanos = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let (from, to) = (nanos(window.0), nanos(window.1));
    let received = backend.received();
    received
        .spans_with_arrival()
        .filter(|(_, span, arrived)| (from..to).contains(&span.end_time_unix_nano) && *arrived >= window.1)
        .count()
}

/// Distinct series per metric name: a series is the metric name with its resource's attributes
/// and the data point's attributes, as a backend keys it.
fn metric_series(received: &Received) -> BTreeMap<String, usize> {
    use opentelemetry_proto::tonic::common::v1::KeyValue;
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    let key = |attrs: &[KeyValue]| {
        let mut parts: Vec<String> = attrs.iter().map(|kv| format!("{}={:?}", kv.key, kv.value)).collect();
        parts.sort();
        parts.join(",")
    };
    let mut series: BTreeMap<String, HashSet<String>> = BTreeMap::new();
    for rm in &received.metrics {
        let resource = rm.resource.as_ref().map(|r| key(&r.attributes)).unwrap_or_default();
        for metric in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
            let points: Vec<String> = match &metric.data {
                Some(Data::Gauge(g)) => g.data_points.iter().map(|p| key(&p.attributes)).collect(),
                Some(Data::Sum(s)) => s.data_points.iter().map(|p| key(&p.attributes)).collect(),
                Some(Data::Histogram(h)) => h.data_points.iter().map(|p| key(&p.attributes)).collect(),
                Some(Data::ExponentialHistogram(h)) => h.data_points.iter().map(|p| key(&p.attributes)).collect(),
                Some(Data::Summary(s)) => s.data_points.iter().map(|p| key(&p.attributes)).collect(),
                None => Vec::new(),
            };
            let entry = series.entry(metric.name.clone()).or_default();
            for p in points {
                entry.insert(format!("{resource}|{p}"));
            }
        }
    }
    series.into_iter().map(|(name, s)| (name, s.len())).collect()
}
