//! Renders what the OTLP sink received as plain text for a terminal: per trace a waterfall of
//! spans (name, duration, status), then metric values, then log lines.

use crate::otlp::Received;
use opentelemetry_proto::tonic::common::v1::{any_value::Value as AV, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point::Value as NV};
use opentelemetry_proto::tonic::trace::v1::{status::StatusCode, Span};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

/// Width of the waterfall bar column.
const BAR: usize = 30;

/// The OTel trace id (lowercase hex) of an X-Ray header `Root=1-<8 hex>-<24 hex>;...`.
pub fn xray_trace_id(header: &str) -> Option<String> {
    let root = header.split(';').find_map(|p| p.trim().strip_prefix("Root="))?;
    let mut parts = root.split('-');
    let (version, time, id) = (parts.next()?, parts.next()?, parts.next()?);
    (version == "1" && time.len() == 8 && id.len() == 24).then(|| format!("{time}{id}").to_ascii_lowercase())
}

/// Renders an attribute value compactly.
pub fn any_value(v: &AnyValue) -> String {
    match &v.value {
        Some(AV::StringValue(s)) => s.clone(),
        Some(AV::BoolValue(b)) => b.to_string(),
        Some(AV::IntValue(i)) => i.to_string(),
        Some(AV::DoubleValue(d)) => format!("{d}"),
        Some(AV::BytesValue(b)) => format!("<{} bytes>", b.len()),
        Some(AV::ArrayValue(a)) => format!("[{}]", a.values.iter().map(any_value).collect::<Vec<_>>().join(", ")),
        Some(AV::KvlistValue(kv)) => format!("{{{}}}", attrs(&kv.values)),
        _ => String::new(),
    }
}

fn attrs(kvs: &[KeyValue]) -> String {
    kvs.iter()
        .map(|kv| format!("{}={}", kv.key, kv.value.as_ref().map(any_value).unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(" ")
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Renders everything received.
pub fn render(r: &Received) -> String {
    render_labeled(r, &HashMap::new())
}

/// Like [`render`], naming each trace whose id (lowercase hex) is in `labels`, e.g. with the
/// invocation it belongs to.
pub fn render_labeled(r: &Received, labels: &HashMap<String, String>) -> String {
    let mut out = String::new();
    render_traces(r, labels, &mut out);
    render_metrics(r, &mut out);
    render_logs(r, &mut out);
    if out.is_empty() {
        out.push_str("(nothing received)\n");
    }
    out
}

fn render_traces(r: &Received, labels: &HashMap<String, String>, out: &mut String) {
    let mut traces: BTreeMap<Vec<u8>, Vec<&Span>> = BTreeMap::new();
    for span in r.spans.iter().flat_map(|rs| &rs.scope_spans).flat_map(|ss| &ss.spans) {
        traces.entry(span.trace_id.clone()).or_default().push(span);
    }
    let mut ordered: Vec<_> = traces.into_iter().collect();
    ordered.sort_by_key(|(_, spans)| spans.iter().map(|s| s.start_time_unix_nano).min().unwrap_or(0));
    for (trace_id, spans) in ordered {
        let t0 = spans.iter().map(|s| s.start_time_unix_nano).min().unwrap_or(0);
        let t1 = spans.iter().map(|s| s.end_time_unix_nano).max().unwrap_or(t0).max(t0 + 1);
        let id = hex(&trace_id);
        let label = labels.get(&id).map(|l| format!(" {l}")).unwrap_or_default();
        let _ = writeln!(out, "trace {id}{label} ({:.1} ms)", (t1 - t0) as f64 / 1e6);
        // Depth-first from roots (spans whose parent is not in this trace), children by start time.
        let ids: Vec<&[u8]> = spans.iter().map(|s| s.span_id.as_slice()).collect();
        let mut roots: Vec<&Span> =
            spans.iter().copied().filter(|s| !ids.contains(&s.parent_span_id.as_slice())).collect();
        roots.sort_by_key(|s| s.start_time_unix_nano);
        let mut stack: Vec<(&Span, usize)> = roots.into_iter().rev().map(|s| (s, 0)).collect();
        while let Some((s, depth)) = stack.pop() {
            let start = s.start_time_unix_nano.saturating_sub(t0);
            let dur = s.end_time_unix_nano.saturating_sub(s.start_time_unix_nano);
            let span_total = (t1 - t0) as f64;
            let off = ((start as f64 / span_total) * BAR as f64).round() as usize;
            let len = (((dur as f64 / span_total) * BAR as f64).round() as usize).max(1);
            let off = off.min(BAR - 1);
            let len = len.min(BAR - off);
            let bar = format!("{}{}{}", " ".repeat(off), "█".repeat(len), " ".repeat(BAR - off - len));
            let status = match s.status.as_ref().map(|st| st.code) {
                Some(c) if c == StatusCode::Error as i32 => {
                    let msg = s.status.as_ref().map(|st| st.message.as_str()).unwrap_or("");
                    if msg.is_empty() {
                        "ERROR".to_string()
                    } else {
                        format!("ERROR: {msg}")
                    }
                }
                Some(c) if c == StatusCode::Ok as i32 => "OK".into(),
                _ => "UNSET".into(),
            };
            let _ = writeln!(out, "  |{bar}| {}{} {:.1} ms {status}", "  ".repeat(depth), s.name, dur as f64 / 1e6);
            let mut children: Vec<&Span> =
                spans.iter().copied().filter(|c| c.parent_span_id == s.span_id && !s.span_id.is_empty()).collect();
            children.sort_by_key(|c| std::cmp::Reverse(c.start_time_unix_nano));
            stack.extend(children.into_iter().map(|c| (c, depth + 1)));
        }
    }
}

/// A series' value as it accumulates.
#[derive(Clone, Copy)]
enum Val {
    Int(i64),
    Float(f64),
    CountSum(u64, f64),
    Missing,
}

impl Val {
    /// Combines a newer point: delta points add up, anything else replaces.
    fn merge(self, newer: Val, delta: bool) -> Val {
        match (delta, self, newer) {
            (true, Val::Int(a), Val::Int(b)) => Val::Int(a.saturating_add(b)),
            (true, Val::Float(a), Val::Float(b)) => Val::Float(a + b),
            (true, Val::CountSum(c1, s1), Val::CountSum(c2, s2)) => Val::CountSum(c1 + c2, s1 + s2),
            _ => newer,
        }
    }

    fn show(self) -> String {
        match self {
            Val::Int(i) => i.to_string(),
            Val::Float(f) => float(f),
            Val::CountSum(c, s) => format!("count={c} sum={}", float(s)),
            Val::Missing => "-".into(),
        }
    }
}

fn number(v: &Option<NV>) -> Val {
    match v {
        Some(NV::AsDouble(d)) => Val::Float(*d),
        Some(NV::AsInt(i)) => Val::Int(*i),
        None => Val::Missing,
    }
}

fn render_metrics(r: &Received, out: &mut String) {
    use opentelemetry_proto::tonic::metrics::v1::AggregationTemporality;
    // Exporters send a series again on every flush: show each series (metric name and attribute
    // set) once, in the order series first appeared, with its cumulative value (delta points are
    // summed, cumulative and gauge points replace).
    let delta_t = AggregationTemporality::Delta as i32;
    let mut names: Vec<(String, String)> = Vec::new();
    let mut series: HashMap<String, Vec<(String, Val)>> = HashMap::new();
    for m in r.metrics.iter().flat_map(|rm| &rm.scope_metrics).flat_map(|sm| &sm.metrics) {
        // "1" is OTel's dimensionless unit: nothing worth printing.
        let unit = if m.unit.is_empty() || m.unit == "1" { String::new() } else { format!(" {}", m.unit) };
        let count_sum = |a: &[KeyValue], c: u64, s: f64| (attrs(a), Val::CountSum(c, s));
        let (points, delta): (Vec<(String, Val)>, bool) = match &m.data {
            Some(Data::Gauge(g)) => {
                (g.data_points.iter().map(|p| (attrs(&p.attributes), number(&p.value))).collect(), false)
            }
            Some(Data::Sum(s)) => (
                s.data_points.iter().map(|p| (attrs(&p.attributes), number(&p.value))).collect(),
                s.aggregation_temporality == delta_t,
            ),
            Some(Data::Histogram(h)) => (
                h.data_points.iter().map(|p| count_sum(&p.attributes, p.count, p.sum.unwrap_or(0.0))).collect(),
                h.aggregation_temporality == delta_t,
            ),
            Some(Data::ExponentialHistogram(h)) => (
                h.data_points.iter().map(|p| count_sum(&p.attributes, p.count, p.sum.unwrap_or(0.0))).collect(),
                h.aggregation_temporality == delta_t,
            ),
            Some(Data::Summary(s)) => {
                (s.data_points.iter().map(|p| count_sum(&p.attributes, p.count, p.sum)).collect(), false)
            }
            None => (vec![], false),
        };
        if !series.contains_key(&m.name) {
            names.push((m.name.clone(), unit));
        }
        let known = series.entry(m.name.clone()).or_default();
        for (a, v) in points {
            match known.iter_mut().find(|(ka, _)| *ka == a) {
                Some(slot) => slot.1 = slot.1.merge(v, delta),
                None => known.push((a, v)),
            }
        }
    }
    if names.is_empty() {
        return;
    }
    let _ = writeln!(out, "metrics (one line per metric, one value per attribute set)");
    for (name, unit) in names {
        let values: Vec<String> = series[&name]
            .iter()
            .map(|(a, v)| if a.is_empty() { v.show() } else { format!("{} {{{a}}}", v.show()) })
            .collect();
        let _ = writeln!(out, "  {name}{unit}: {}", values.join(", "));
    }
}

/// A float without binary noise: at most six decimals, trailing zeros trimmed.
fn float(d: f64) -> String {
    let s = format!("{d:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

fn render_logs(r: &Received, out: &mut String) {
    let logs: Vec<_> = r.logs.iter().flat_map(|rl| &rl.scope_logs).flat_map(|sl| &sl.log_records).collect();
    if logs.is_empty() {
        return;
    }
    let _ = writeln!(out, "logs");
    for l in logs {
        let sev = if l.severity_text.is_empty() { "-".to_string() } else { l.severity_text.clone() };
        let body = l.body.as_ref().map(any_value).unwrap_or_default();
        let _ = writeln!(out, "  {sev:<5} {body}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::metrics::v1::{
        AggregationTemporality, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    };
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Status};

    fn span(name: &str, id: u8, parent: u8, start: u64, end: u64, error: bool) -> Span {
        Span {
            trace_id: vec![1; 16],
            span_id: vec![id; 8],
            parent_span_id: if parent == 0 { vec![] } else { vec![parent; 8] },
            name: name.into(),
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            status: Some(Status {
                code: if error { StatusCode::Error as i32 } else { StatusCode::Unset as i32 },
                message: if error { "boom".into() } else { String::new() },
            }),
            ..Default::default()
        }
    }

    #[test]
    fn renders_waterfall_metrics_and_logs() {
        let r = Received {
            spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![
                        span("child", 2, 1, 15_000_000, 20_000_000, true),
                        span("invoke", 1, 0, 10_000_000, 40_000_000, false),
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            span_arrivals: vec![std::time::UNIX_EPOCH],
            metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![Metric {
                        name: "mem".into(),
                        unit: "MB".into(),
                        data: Some(Data::Gauge(Gauge {
                            data_points: vec![NumberDataPoint { value: Some(NV::AsInt(64)), ..Default::default() }],
                        })),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records: vec![LogRecord {
                        severity_text: "INFO".into(),
                        body: Some(AnyValue { value: Some(AV::StringValue("hello".into())) }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let text = render(&r);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "trace 01010101010101010101010101010101 (30.0 ms)");
        assert_eq!(lines[1], format!("  |{}| invoke 30.0 ms UNSET", "█".repeat(30)));
        assert_eq!(
            lines[2],
            format!("  |{}{}{}|   child 5.0 ms ERROR: boom", " ".repeat(5), "█".repeat(5), " ".repeat(20))
        );
        assert_eq!(lines[3], "metrics (one line per metric, one value per attribute set)");
        assert_eq!(lines[4], "  mem MB: 64");
        assert_eq!(lines[5], "logs");
        assert_eq!(lines[6], "  INFO  hello");
        assert_eq!(render(&Received::default()), "(nothing received)\n");
        let labels = HashMap::from([("01".repeat(16), "invocation 1".to_string())]);
        assert!(
            render_labeled(&r, &labels).starts_with("trace 01010101010101010101010101010101 invocation 1 (30.0 ms)\n")
        );
    }

    #[test]
    fn metrics_keep_the_latest_value_per_series() {
        let gauge = |v: f64, attr: &str| Metric {
            name: "lat".into(),
            unit: "s".into(),
            data: Some(Data::Gauge(Gauge {
                data_points: vec![NumberDataPoint {
                    value: Some(NV::AsDouble(v)),
                    attributes: vec![KeyValue {
                        key: "k".into(),
                        value: Some(AnyValue { value: Some(AV::StringValue(attr.into())) }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            })),
            ..Default::default()
        };
        let r = Received {
            metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![gauge(0.1, "a"), gauge(2.5, "b"), gauge(0.022914999999999998, "a")],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(
            render(&r),
            "metrics (one line per metric, one value per attribute set)\n  lat s: 0.022915 {k=a}, 2.5 {k=b}\n"
        );
        assert_eq!(float(3.0), "3");
        // Delta sums add up; cumulative ones replace.
        let sum = |v: i64, temporality: AggregationTemporality| Metric {
            name: "n".into(),
            data: Some(Data::Sum(Sum {
                data_points: vec![NumberDataPoint { value: Some(NV::AsInt(v)), ..Default::default() }],
                aggregation_temporality: temporality as i32,
                is_monotonic: true,
            })),
            ..Default::default()
        };
        let received = |metrics: Vec<Metric>| Received {
            metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics { metrics, ..Default::default() }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let delta = AggregationTemporality::Delta;
        let cumulative = AggregationTemporality::Cumulative;
        assert!(render(&received(vec![sum(1, delta), sum(2, delta)])).ends_with("  n: 3\n"));
        assert!(render(&received(vec![sum(1, cumulative), sum(2, cumulative)])).ends_with("  n: 2\n"));
        assert_eq!(float(-0.0000001), "0");
    }

    #[test]
    fn xray_root_to_trace_id() {
        assert_eq!(
            xray_trace_id("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1").as_deref(),
            Some("5759e988bd862e3fe1be46a994272793")
        );
        assert_eq!(
            xray_trace_id("Parent=1;Root=1-5759E988-BD862E3FE1BE46A994272793").as_deref(),
            Some("5759e988bd862e3fe1be46a994272793")
        );
        assert_eq!(xray_trace_id("Root=2-5759e988-bd862e3fe1be46a994272793"), None);
        assert_eq!(xray_trace_id("Sampled=1"), None);
    }
}
