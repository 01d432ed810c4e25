//! A batch holding all three signals, the unit that moves between receivers, processors and exporters.

use opentelemetry_proto::tonic::{
    logs::v1::ResourceLogs,
    metrics::v1::{metric::Data, ResourceMetrics},
    trace::v1::ResourceSpans,
};

/// The three OpenTelemetry signals, named as in the Collector's `service.pipelines` keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SignalKind {
    Traces,
    Metrics,
    Logs,
}

impl SignalKind {
    pub const ALL: [SignalKind; 3] = [SignalKind::Traces, SignalKind::Metrics, SignalKind::Logs];

    pub fn as_str(self) -> &'static str {
        match self {
            SignalKind::Traces => "traces",
            SignalKind::Metrics => "metrics",
            SignalKind::Logs => "logs",
        }
    }
}

impl std::fmt::Display for SignalKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Spans, metrics and logs produced together (for example from one Telemetry API batch).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Signals {
    pub spans: Vec<ResourceSpans>,
    pub metrics: Vec<ResourceMetrics>,
    pub logs: Vec<ResourceLogs>,
}

impl Signals {
    pub fn is_empty(&self) -> bool {
        self.span_count() == 0 && self.data_point_count() == 0 && self.log_count() == 0
    }

    /// Moves everything from `other` to the end of `self`.
    pub fn append(&mut self, other: &mut Signals) {
        self.spans.append(&mut other.spans);
        self.metrics.append(&mut other.metrics);
        self.logs.append(&mut other.logs);
    }

    pub fn span_count(&self) -> usize {
        span_count(&self.spans)
    }

    pub fn data_point_count(&self) -> usize {
        data_point_count(&self.metrics)
    }

    pub fn log_count(&self) -> usize {
        log_count(&self.logs)
    }

    /// The number of items (spans, data points or log records) of one signal.
    pub fn count(&self, kind: SignalKind) -> usize {
        match kind {
            SignalKind::Traces => self.span_count(),
            SignalKind::Metrics => self.data_point_count(),
            SignalKind::Logs => self.log_count(),
        }
    }
}

pub fn span_count(spans: &[ResourceSpans]) -> usize {
    spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len()).sum()
}

pub fn log_count(logs: &[ResourceLogs]) -> usize {
    logs.iter().flat_map(|r| &r.scope_logs).map(|s| s.log_records.len()).sum()
}

/// Data points, the unit in which metric volume is counted (as the Collector does).
pub fn data_point_count(metrics: &[ResourceMetrics]) -> usize {
    metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(|m| match &m.data {
            Some(Data::Gauge(g)) => g.data_points.len(),
            Some(Data::Sum(s)) => s.data_points.len(),
            Some(Data::Histogram(h)) => h.data_points.len(),
            Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
            Some(Data::Summary(s)) => s.data_points.len(),
            None => 0,
        })
        .sum()
}
