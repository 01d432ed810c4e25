//! The extension's own counters as OTLP metrics (`lambdatel.*`): what it received, exported, retried and
//! dropped (with the reason), per exporter and signal. They travel through the metrics pipelines of the
//! Telemetry API receiver, with its resource, so they land beside the function's own metrics.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambdatel_pipeline::{
    common::{any_value::Value, AnyValue, InstrumentationScope, KeyValue},
    metrics::{
        metric::Data, number_data_point, AggregationTemporality, Gauge, Metric, NumberDataPoint, ResourceMetrics,
        ScopeMetrics, Sum,
    },
    resource::Resource,
    Signals,
};
use tokio::time::Instant;

use lambdatel_pipeline::ExportCounters;

/// Everything counted, at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Per exporter and signal.
    pub exporters: Vec<(String, String, ExportCounters)>,
    /// Items waiting in each exporter's queue.
    pub queued: Vec<(String, u64)>,
    /// Milliseconds each exporter's circuit breaker has spent open (its backend found down).
    pub breaker_open_ms: Vec<(String, u64)>,
    /// Telemetry API events accepted and skipped (unusable), and log records dropped by the memory bound.
    pub events_accepted: u64,
    /// Telemetry API events skipped as malformed.
    pub events_skipped: u64,
    /// Log records dropped by the memory bound.
    pub logs_dropped_memory: u64,
}

/// Emits a snapshot when it changed, at most once per `period` (always at shutdown).
pub struct SelfTelemetry {
    start_unix_nano: u64,
    period: Duration,
    last_emit: Option<Instant>,
    last: Snapshot,
    /// Traces kept and dropped by `tail_sampling` at the last emit (process-wide counters).
    last_traces: (u64, u64),
}

impl SelfTelemetry {
    /// Collects at most once per `period`, unless forced.
    pub fn new(period: Duration) -> Self {
        SelfTelemetry {
            start_unix_nano: unix_nano(),
            period,
            last_emit: None,
            last: Snapshot::default(),
            last_traces: (0, 0),
        }
    }

    /// The metrics to send now, if any: `force` at shutdown.
    pub fn collect(&mut self, snapshot: Snapshot, resource: Resource, now: Instant, force: bool) -> Option<Signals> {
        let due = self.last_emit.is_none_or(|t| now.saturating_duration_since(t) >= self.period);
        let traces = lambdatel_components::processors::tail_sampling::trace_decisions();
        if (snapshot == self.last && traces == self.last_traces) || !(due || force) {
            return None;
        }
        self.last_emit = Some(now);
        let mut metrics = to_metrics(&snapshot, self.start_unix_nano, unix_nano());
        if traces != (0, 0) {
            metrics.push(sampled_traces(traces, self.start_unix_nano, unix_nano()));
        }
        self.last_traces = traces;
        self.last = snapshot;
        Some(Signals {
            metrics: vec![ResourceMetrics {
                resource: Some(resource),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope {
                        name: "lambdatel".into(),
                        version: env!("CARGO_PKG_VERSION").into(),
                        ..Default::default()
                    }),
                    metrics,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
            ..Default::default()
        })
    }
}

fn unix_nano() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

fn to_metrics(s: &Snapshot, start: u64, now: u64) -> Vec<Metric> {
    let point = |value: u64, attributes: Vec<KeyValue>| NumberDataPoint {
        attributes,
        start_time_unix_nano: start,
        time_unix_nano: now,
        value: Some(number_data_point::Value::AsInt(value as i64)),
        ..Default::default()
    };
    let counter = |name: &str, unit: &str, description: &str, points: Vec<NumberDataPoint>| Metric {
        name: name.into(),
        unit: unit.into(),
        description: description.into(),
        data: Some(Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    };
    let mut sent = Vec::new();
    let mut dropped = Vec::new();
    let mut retries = Vec::new();
    let mut late = Vec::new();
    for (exporter, signal, c) in &s.exporters {
        let attrs = || vec![kv("exporter", exporter), kv("signal", signal)];
        sent.push(point(c.exported, attrs()));
        for (outcome, value) in [("acknowledged", c.acknowledged_late), ("failed", c.failed_late)] {
            let mut a = attrs();
            a.push(kv("outcome", outcome));
            late.push(point(value, a));
        }
        retries.push(point(c.retries, attrs()));
        for (reason, value) in [
            ("rejected", c.dropped_rejected),
            ("queue_full", c.dropped_queue_full),
            ("memory_limit", c.dropped_memory_limit),
        ] {
            let mut a = attrs();
            a.push(kv("reason", reason));
            dropped.push(point(value, a));
        }
    }
    let queued: Vec<NumberDataPoint> =
        s.queued.iter().map(|(exporter, items)| point(*items, vec![kv("exporter", exporter)])).collect();
    vec![
        counter("lambdatel.exporter.sent", "{item}", "Items the backend acknowledged", sent),
        counter("lambdatel.exporter.dropped", "{item}", "Items given up on, by reason", dropped),
        counter("lambdatel.exporter.retries", "{retry}", "Export attempts retried", retries),
        counter(
            "lambdatel.exporter.late_answers",
            "{item}",
            "Items of requests left in flight at a flush deadline, by the answer that came later",
            late,
        ),
        counter(
            "lambdatel.exporter.breaker_open_time",
            "ms",
            "Time the exporter's circuit breaker spent open, its backend found down",
            s.breaker_open_ms.iter().map(|(exporter, ms)| point(*ms, vec![kv("exporter", exporter)])).collect(),
        ),
        Metric {
            name: "lambdatel.exporter.queued".into(),
            unit: "{item}".into(),
            description: "Items waiting for the next flush".into(),
            data: Some(Data::Gauge(Gauge { data_points: queued })),
            ..Default::default()
        },
        counter(
            "lambdatel.receiver.events",
            "{event}",
            "Telemetry API events received, by outcome",
            vec![
                point(s.events_accepted, vec![kv("outcome", "accepted")]),
                point(s.events_skipped, vec![kv("outcome", "skipped")]),
            ],
        ),
        counter(
            "lambdatel.receiver.dropped_logs",
            "{record}",
            "Log records dropped because the memory bound was reached",
            vec![point(s.logs_dropped_memory, vec![kv("reason", "memory_limit")])],
        ),
    ]
}

/// `lambdatel.processor.tail_sampling.traces`: traces kept and dropped, only once tail sampling decided.
fn sampled_traces((kept, dropped): (u64, u64), start: u64, now: u64) -> Metric {
    let point = |value: u64, decision: &str| NumberDataPoint {
        attributes: vec![kv("decision", decision)],
        start_time_unix_nano: start,
        time_unix_nano: now,
        value: Some(number_data_point::Value::AsInt(value as i64)),
        ..Default::default()
    };
    Metric {
        name: "lambdatel.processor.tail_sampling.traces".into(),
        unit: "{trace}".into(),
        description: "Traces the tail_sampling processor kept and dropped".into(),
        data: Some(Data::Sum(Sum {
            data_points: vec![point(kept, "kept"), point(dropped, "dropped")],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(Value::StringValue(value.into())) }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(exported: u64) -> Snapshot {
        Snapshot {
            exporters: vec![(
                "otlp".into(),
                "traces".into(),
                ExportCounters { exported, dropped_queue_full: 2, ..Default::default() },
            )],
            queued: vec![("otlp".into(), 5)],
            breaker_open_ms: vec![("otlp".into(), 1500)],
            events_accepted: 10,
            events_skipped: 1,
            logs_dropped_memory: 0,
        }
    }

    #[test]
    fn emits_changes_at_most_once_per_period_and_always_when_forced() {
        let mut t = SelfTelemetry::new(Duration::from_secs(10));
        let t0 = Instant::now();
        let out = t.collect(snapshot(1), Resource::default(), t0, false).expect("first snapshot");
        let metrics = &out.metrics[0].scope_metrics[0].metrics;
        let names: Vec<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "lambdatel.exporter.sent",
                "lambdatel.exporter.dropped",
                "lambdatel.exporter.retries",
                "lambdatel.exporter.late_answers",
                "lambdatel.exporter.breaker_open_time",
                "lambdatel.exporter.queued",
                "lambdatel.receiver.events",
                "lambdatel.receiver.dropped_logs"
            ]
        );
        let Some(Data::Sum(dropped)) = &metrics[1].data else { panic!("a sum") };
        let queue_full = &dropped.data_points[1];
        assert_eq!(queue_full.value, Some(number_data_point::Value::AsInt(2)));
        assert_eq!(queue_full.attributes[2], kv("reason", "queue_full"));
        let Some(Data::Sum(open)) = &metrics[4].data else { panic!("a sum") };
        assert_eq!(open.data_points[0].value, Some(number_data_point::Value::AsInt(1500)));
        assert_eq!(open.data_points[0].attributes, [kv("exporter", "otlp")]);
        // Unchanged: nothing. Changed but too soon: nothing. Forced: sent.
        assert!(t.collect(snapshot(1), Resource::default(), t0 + Duration::from_secs(20), false).is_none());
        assert!(t.collect(snapshot(2), Resource::default(), t0 + Duration::from_secs(1), false).is_none());
        assert!(t.collect(snapshot(2), Resource::default(), t0 + Duration::from_secs(2), true).is_some());
        assert!(t.collect(snapshot(3), Resource::default(), t0 + Duration::from_secs(12), false).is_some());
    }

    #[test]
    fn tail_sampling_decisions_become_a_counter() {
        let metric = sampled_traces((7, 93), 1, 2);
        assert_eq!(metric.name, "lambdatel.processor.tail_sampling.traces");
        let Some(Data::Sum(sum)) = &metric.data else { panic!("a sum") };
        let points: Vec<_> = sum.data_points.iter().map(|p| (p.attributes[0].clone(), p.value)).collect();
        assert_eq!(
            points,
            [
                (kv("decision", "kept"), Some(number_data_point::Value::AsInt(7))),
                (kv("decision", "dropped"), Some(number_data_point::Value::AsInt(93)))
            ]
        );
    }
}
