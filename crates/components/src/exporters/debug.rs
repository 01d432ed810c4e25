//! The `debug` exporter: a readable account of what passes through a pipeline, written to stdout.
//!
//! In Lambda, an extension's stdout becomes CloudWatch log lines and also `extension` records on the
//! Telemetry API, so each line starts with [`DEBUG_LINE_PREFIX`]: the Telemetry API receiver drops records
//! that carry it, which keeps the exporter from feeding on its own output.

use std::{fmt::Write as _, io::Write as _};

use lambdatel_pipeline::{
    common::{any_value::Value, AnyValue, KeyValue},
    metrics::metric::Data,
    Signal, Signals,
};
use serde::Deserialize;

use crate::debug_line::DEBUG_LINE_PREFIX;

/// Configuration of the `debug` exporter.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DebugConfig {
    /// `basic` (counts per batch), `normal` (one line per span, data point and log record, the default) or
    /// `detailed` (every attribute too).
    pub verbosity: Verbosity,
    /// Accepted and ignored: the Collector's log sampling (the first `sampling_initial` lines of each
    /// second, then one in `sampling_thereafter`). lambdatel writes every line, since a flush is small
    /// and its output is what one reads the exporter for.
    pub sampling_initial: Option<u64>,
    /// Accepted and ignored, like `sampling_initial`.
    pub sampling_thereafter: Option<u64>,
}

/// How much the `debug` exporter writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verbosity {
    /// One line per batch with its item count.
    Basic,
    /// Also one line per item.
    #[default]
    Normal,
    /// Also every attribute.
    Detailed,
}

#[derive(Debug, Clone)]
/// The `debug` exporter.
pub struct DebugExporter {
    verbosity: Verbosity,
}

impl DebugExporter {
    /// An exporter with these settings.
    pub fn new(config: &DebugConfig) -> Self {
        DebugExporter { verbosity: config.verbosity }
    }

    /// Writes one signal of `data` to stdout. A closed stdout is not an export failure worth retrying.
    pub fn export(&self, kind: Signal, data: &Signals) {
        let text = render(kind, data, self.verbosity);
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}

/// The text the exporter writes for one signal of a batch.
pub fn render(kind: Signal, data: &Signals, verbosity: Verbosity) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{DEBUG_LINE_PREFIX}{kind}: {} items", data.count(kind));
    if verbosity == Verbosity::Basic {
        return out;
    }
    let detailed = verbosity == Verbosity::Detailed;
    match kind {
        Signal::Traces => {
            for span in data.spans.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans) {
                let status = span.status.as_ref().map_or(0, |s| s.code);
                let _ = write!(
                    out,
                    "{DEBUG_LINE_PREFIX}span {:?} trace={} id={} parent={} duration={:.3}ms status={}",
                    span.name,
                    hex(&span.trace_id),
                    hex(&span.span_id),
                    hex(&span.parent_span_id),
                    span.end_time_unix_nano.saturating_sub(span.start_time_unix_nano) as f64 / 1e6,
                    ["unset", "ok", "error"].get(status as usize).unwrap_or(&"?"),
                );
                if detailed {
                    write_attributes(&mut out, &span.attributes);
                }
                out.push('\n');
            }
        }
        Signal::Metrics => {
            for metric in data.metrics.iter().flat_map(|r| &r.scope_metrics).flat_map(|s| &s.metrics) {
                let _ = write!(out, "{DEBUG_LINE_PREFIX}metric {} ({})", metric.name, metric.unit);
                match &metric.data {
                    Some(Data::Sum(sum)) => {
                        for p in &sum.data_points {
                            let _ = write!(out, " value={}", number(p.value));
                            if detailed {
                                write_attributes(&mut out, &p.attributes);
                            }
                        }
                    }
                    Some(Data::Gauge(gauge)) => {
                        for p in &gauge.data_points {
                            let _ = write!(out, " value={}", number(p.value));
                        }
                    }
                    Some(Data::Histogram(h)) => {
                        for p in &h.data_points {
                            let _ = write!(out, " count={} sum={}", p.count, p.sum.unwrap_or_default());
                            if detailed {
                                let _ = write!(out, " buckets={:?}", p.bucket_counts);
                            }
                        }
                    }
                    _ => {}
                }
                out.push('\n');
            }
        }
        Signal::Logs => {
            for record in data.logs.iter().flat_map(|r| &r.scope_logs).flat_map(|s| &s.log_records) {
                let body = record.body.as_ref().map(any_value_text).unwrap_or_default();
                let severity = if record.severity_text.is_empty() { "-" } else { &record.severity_text };
                let _ = write!(out, "{DEBUG_LINE_PREFIX}log {severity} {body:?}");
                if detailed {
                    write_attributes(&mut out, &record.attributes);
                }
                out.push('\n');
            }
        }
    }
    out
}

fn write_attributes(out: &mut String, attributes: &[KeyValue]) {
    for kv in attributes {
        let value = kv.value.as_ref().map(any_value_text).unwrap_or_default();
        let _ = write!(out, " {}={value}", kv.key);
    }
}

fn number(value: Option<lambdatel_pipeline::metrics::number_data_point::Value>) -> String {
    use lambdatel_pipeline::metrics::number_data_point::Value as N;
    match value {
        Some(N::AsInt(i)) => i.to_string(),
        Some(N::AsDouble(d)) => d.to_string(),
        None => "-".into(),
    }
}

/// A short text form of an attribute value or log body.
pub fn any_value_text(value: &AnyValue) -> String {
    match &value.value {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        Some(Value::BytesValue(b)) => hex(b),
        Some(Value::ArrayValue(a)) => {
            let items: Vec<String> = a.values.iter().map(any_value_text).collect();
            format!("[{}]", items.join(", "))
        }
        Some(Value::KvlistValue(kv)) => {
            let items: Vec<String> = kv
                .values
                .iter()
                .map(|kv| format!("{}: {}", kv.key, kv.value.as_ref().map(any_value_text).unwrap_or_default()))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        // Dictionary references (profiles only) and empty values have no text of their own.
        Some(Value::StringValueStrindex(_)) | None => String::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambdatel_pipeline::{
        logs::{LogRecord, ResourceLogs, ScopeLogs},
        trace::{status::StatusCode, ResourceSpans, ScopeSpans, Span, Status},
    };

    fn sample() -> Signals {
        let span = Span {
            name: "my-function".into(),
            trace_id: vec![0xab; 16],
            span_id: vec![0x01; 8],
            start_time_unix_nano: 1_000_000_000,
            end_time_unix_nano: 1_012_500_000,
            status: Some(Status { code: StatusCode::Error as i32, message: "boom".into() }),
            attributes: vec![KeyValue {
                key: "faas.invocation_id".into(),
                value: Some(AnyValue { value: Some(Value::StringValue("req-1".into())) }),
                ..Default::default()
            }],
            ..Default::default()
        };
        let log = LogRecord {
            severity_text: "ERROR".into(),
            body: Some(AnyValue { value: Some(Value::StringValue("it broke".into())) }),
            ..Default::default()
        };
        Signals {
            spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans { spans: vec![span], ..Default::default() }],
                ..Default::default()
            }],
            logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs { log_records: vec![log], ..Default::default() }],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn basic_counts_only() {
        assert_eq!(render(Signal::Traces, &sample(), Verbosity::Basic), "lambdatel.debug traces: 1 items\n");
    }

    #[test]
    fn normal_lists_each_span_and_log() {
        let text = render(Signal::Traces, &sample(), Verbosity::Normal);
        assert_eq!(
            text,
            format!(
                "lambdatel.debug traces: 1 items\nlambdatel.debug span \"my-function\" trace={} id=0101010101010101 parent= duration=12.500ms status=error\n",
                "ab".repeat(16)
            )
        );
        let text = render(Signal::Logs, &sample(), Verbosity::Normal);
        assert_eq!(text, "lambdatel.debug logs: 1 items\nlambdatel.debug log ERROR \"it broke\"\n");
    }

    #[test]
    fn detailed_adds_attributes() {
        let text = render(Signal::Traces, &sample(), Verbosity::Detailed);
        assert!(text.ends_with("status=error faas.invocation_id=req-1\n"), "{text}");
    }
}
