//! The metric instruments derived from platform events, their aggregation, and their OTLP snapshot.

use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    Sum,
};

use super::convert::Temporality;

/// Histogram boundaries for durations, in seconds (otlp-mapping.md).
pub const SECONDS_BOUNDS: [f64; 14] = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0];
/// Histogram boundaries for memory use: Lambda's common memory sizes from 128 MB to 10,240 MB, in bytes.
pub const MEMORY_BOUNDS: [f64; 10] = [
    134_217_728.0,
    268_435_456.0,
    536_870_912.0,
    1_073_741_824.0,
    1_610_612_736.0,
    2_147_483_648.0,
    3_221_225_472.0,
    4_294_967_296.0,
    6_442_450_944.0,
    10_737_418_240.0,
];
/// Histogram boundaries for response sizes, in bytes, up to the 6 MB buffered and 20 MB streamed limits.
pub const PAYLOAD_BOUNDS: [f64; 9] =
    [256.0, 1_024.0, 4_096.0, 16_384.0, 65_536.0, 262_144.0, 1_048_576.0, 6_291_456.0, 20_971_520.0];

/// Every instrument, in the order of the mapping's table (which is also the export order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Instrument {
    Invocations,
    Errors,
    Timeouts,
    Coldstarts,
    InvokeDuration,
    InitDuration,
    MemUsage,
    Duration,
    BilledDuration,
    PostRuntimeDuration,
    ProducedBytes,
    RestoreDuration,
    OutOfMemory,
    LogsDropped,
}

struct Spec {
    name: &'static str,
    unit: &'static str,
    description: &'static str,
    /// `None` for a counter.
    bounds: Option<&'static [f64]>,
}

const SPECS: [Spec; 14] = [
    counter("faas.invocations", "{invocation}", "Invocations that completed successfully"),
    counter("faas.errors", "{error}", "Invocations and inits that ended with status error or failure"),
    counter("faas.timeouts", "{timeout}", "Invocations that timed out"),
    counter("faas.coldstarts", "{coldstart}", "On-demand initializations of an execution environment"),
    histogram("faas.invoke_duration", "s", "Time the runtime spent on an invocation", &SECONDS_BOUNDS),
    histogram("faas.init_duration", "s", "Duration of the init phase", &SECONDS_BOUNDS),
    histogram("faas.mem_usage", "By", "Maximum memory used by an invocation", &MEMORY_BOUNDS),
    histogram("aws.lambda.duration", "s", "Duration of the whole invoke phase, extensions included", &SECONDS_BOUNDS),
    histogram("aws.lambda.billed_duration", "s", "Billed duration of an invocation", &SECONDS_BOUNDS),
    histogram(
        "aws.lambda.post_runtime_duration",
        "s",
        "Time extensions kept an invocation open after the runtime finished",
        &SECONDS_BOUNDS,
    ),
    histogram("aws.lambda.produced_bytes", "By", "Size of the response the function produced", &PAYLOAD_BOUNDS),
    histogram("aws.lambda.restore_duration", "s", "Duration of a SnapStart restore", &SECONDS_BOUNDS),
    counter("aws.lambda.out_of_memory", "{event}", "Invocations that ran out of memory"),
    counter("aws.lambda.logs_dropped", "{record}", "Log records Lambda dropped before delivering them"),
];

const fn counter(name: &'static str, unit: &'static str, description: &'static str) -> Spec {
    Spec { name, unit, description, bounds: None }
}

const fn histogram(name: &'static str, unit: &'static str, description: &'static str, b: &'static [f64]) -> Spec {
    Spec { name, unit, description, bounds: Some(b) }
}

#[derive(Debug, Clone, Default)]
struct Aggregate {
    /// Counter value, or histogram count.
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    buckets: Vec<u64>,
    /// Recorded since the last snapshot.
    changed: bool,
    /// Recorded at least once since start (cumulative snapshots repeat every such instrument).
    seen: bool,
}

/// The aggregation state of all instruments of one sandbox.
#[derive(Debug)]
pub(crate) struct MetricState {
    temporality: Temporality,
    aggregates: Vec<Aggregate>,
    /// Start of the cumulative series: the first event time seen, fixed for the sandbox's life.
    start_time: Option<u64>,
    /// Start of the next delta interval: the previous snapshot's time.
    interval_start: Option<u64>,
    /// Latest event time seen; the time of the next snapshot.
    now: u64,
    dirty: bool,
}

impl MetricState {
    pub(crate) fn new(temporality: Temporality) -> Self {
        MetricState {
            temporality,
            aggregates: vec![Aggregate::default(); SPECS.len()],
            start_time: None,
            interval_start: None,
            now: 0,
            dirty: false,
        }
    }

    /// Starts every series over, as a new instance (after a SnapStart restore): totals from zero, the
    /// start time taken from the next event.
    pub(crate) fn restart(&mut self) {
        *self = MetricState::new(self.temporality);
    }

    /// Moves the clock to an event's time (never backwards).
    pub(crate) fn observe_time(&mut self, time: u64) {
        self.start_time.get_or_insert(time);
        self.interval_start.get_or_insert(time);
        self.now = self.now.max(time);
    }

    /// Adds `by` to a counter.
    pub(crate) fn add(&mut self, instrument: Instrument, by: u64) {
        let agg = &mut self.aggregates[instrument as usize];
        agg.count = agg.count.saturating_add(by);
        agg.changed = true;
        agg.seen = true;
        self.dirty = true;
    }

    /// Records one histogram value.
    pub(crate) fn record(&mut self, instrument: Instrument, value: f64) {
        let Some(bounds) = SPECS[instrument as usize].bounds else { return };
        if !value.is_finite() || value < 0.0 {
            return;
        }
        let agg = &mut self.aggregates[instrument as usize];
        if agg.buckets.is_empty() || agg.count == 0 {
            agg.buckets = vec![0; bounds.len() + 1];
            agg.min = value;
            agg.max = value;
        }
        // Bucket i holds (bounds[i-1], bounds[i]]; the last one everything above.
        let index = bounds.iter().position(|b| value <= *b).unwrap_or(bounds.len());
        agg.buckets[index] += 1;
        agg.count += 1;
        agg.sum += value;
        agg.min = agg.min.min(value);
        agg.max = agg.max.max(value);
        agg.changed = true;
        agg.seen = true;
        self.dirty = true;
    }

    /// The metrics to export, when anything was recorded since the last snapshot; `None` otherwise.
    ///
    /// Cumulative: every instrument ever recorded, from the sandbox's first event. Delta: the instruments
    /// recorded since the last snapshot, from its time, after which they start again from zero.
    pub(crate) fn snapshot(&mut self) -> Option<Vec<Metric>> {
        if !self.dirty {
            return None;
        }
        self.dirty = false;
        let now = self.now;
        let (temporality, start) = match self.temporality {
            Temporality::Cumulative => (AggregationTemporality::Cumulative, self.start_time.unwrap_or(now)),
            Temporality::Delta => (AggregationTemporality::Delta, self.interval_start.unwrap_or(now)),
        };
        let delta = self.temporality == Temporality::Delta;
        let mut out = Vec::new();
        for (spec, agg) in SPECS.iter().zip(self.aggregates.iter_mut()) {
            let changed = std::mem::take(&mut agg.changed);
            if !(if delta { changed } else { agg.seen }) {
                continue;
            }
            let data = match spec.bounds {
                None => Data::Sum(Sum {
                    data_points: vec![NumberDataPoint {
                        start_time_unix_nano: start,
                        time_unix_nano: now,
                        value: Some(number_data_point::Value::AsInt(i64::try_from(agg.count).unwrap_or(i64::MAX))),
                        ..Default::default()
                    }],
                    aggregation_temporality: temporality as i32,
                    is_monotonic: true,
                }),
                Some(bounds) => Data::Histogram(Histogram {
                    data_points: vec![HistogramDataPoint {
                        start_time_unix_nano: start,
                        time_unix_nano: now,
                        count: agg.count,
                        sum: Some(agg.sum),
                        bucket_counts: agg.buckets.clone(),
                        explicit_bounds: bounds.to_vec(),
                        min: Some(agg.min),
                        max: Some(agg.max),
                        ..Default::default()
                    }],
                    aggregation_temporality: temporality as i32,
                }),
            };
            out.push(Metric {
                name: spec.name.to_owned(),
                description: spec.description.to_owned(),
                unit: spec.unit.to_owned(),
                data: Some(data),
                ..Default::default()
            });
            if delta {
                *agg = Aggregate { seen: agg.seen, ..Aggregate::default() };
            }
        }
        self.interval_start = Some(now);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(m: &Metric) -> &HistogramDataPoint {
        match &m.data {
            Some(Data::Histogram(h)) => &h.data_points[0],
            other => panic!("{other:?}"),
        }
    }

    fn sum(m: &Metric) -> (&Sum, i64) {
        match &m.data {
            Some(Data::Sum(s)) => match s.data_points[0].value {
                Some(number_data_point::Value::AsInt(v)) => (s, v),
                ref other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn nothing_recorded_no_snapshot() {
        let mut m = MetricState::new(Temporality::Cumulative);
        m.observe_time(5);
        assert!(m.snapshot().is_none());
    }

    #[test]
    fn histogram_buckets_are_upper_inclusive() {
        let mut m = MetricState::new(Temporality::Cumulative);
        m.observe_time(10);
        for v in [0.005, 0.0051, 0.2, 10.0, 12.5] {
            m.record(Instrument::InvokeDuration, v);
        }
        let out = m.snapshot().unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].name, "faas.invoke_duration");
        assert_eq!(out[0].unit, "s");
        let p = hist(&out[0]);
        assert_eq!(p.count, 5);
        assert_eq!(p.bucket_counts, vec![1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1]);
        assert_eq!(p.explicit_bounds, SECONDS_BOUNDS.to_vec());
        assert_eq!((p.min, p.max), (Some(0.005), Some(12.5)));
        assert!((p.sum.unwrap() - 22.7101).abs() < 1e-9);
        assert_eq!((p.start_time_unix_nano, p.time_unix_nano), (10, 10));
    }

    #[test]
    fn cumulative_keeps_counting_from_a_fixed_start() {
        let mut m = MetricState::new(Temporality::Cumulative);
        m.observe_time(100);
        m.add(Instrument::Invocations, 1);
        let first = m.snapshot().unwrap();
        assert_eq!(sum(&first[0]).1, 1);
        assert!(m.snapshot().is_none(), "unchanged state exports nothing");
        m.observe_time(200);
        m.add(Instrument::Errors, 1);
        m.add(Instrument::Invocations, 2);
        let second = m.snapshot().unwrap();
        let names: Vec<_> = second.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["faas.invocations", "faas.errors"]);
        let (s, v) = sum(&second[0]);
        assert_eq!(v, 3);
        assert!(s.is_monotonic);
        assert_eq!(s.aggregation_temporality, AggregationTemporality::Cumulative as i32);
        assert_eq!((s.data_points[0].start_time_unix_nano, s.data_points[0].time_unix_nano), (100, 200));
    }

    #[test]
    fn delta_resets_and_moves_the_start() {
        let mut m = MetricState::new(Temporality::Delta);
        m.observe_time(100);
        m.add(Instrument::Invocations, 1);
        m.record(Instrument::Duration, 0.3);
        m.observe_time(150);
        assert_eq!(m.snapshot().unwrap().len(), 2);
        m.observe_time(300);
        m.add(Instrument::Invocations, 1);
        let out = m.snapshot().unwrap();
        assert_eq!(out.len(), 1, "only what changed");
        let (s, v) = sum(&out[0]);
        assert_eq!(v, 1);
        assert_eq!(s.aggregation_temporality, AggregationTemporality::Delta as i32);
        assert_eq!((s.data_points[0].start_time_unix_nano, s.data_points[0].time_unix_nano), (150, 300));
        m.record(Instrument::Duration, 0.7);
        let out = m.snapshot().unwrap();
        let p = hist(&out[0]);
        assert_eq!((p.count, p.min, p.max), (1, Some(0.7), Some(0.7)));
    }

    #[test]
    fn invalid_values_are_ignored() {
        let mut m = MetricState::new(Temporality::Cumulative);
        m.record(Instrument::Duration, -1.0);
        m.record(Instrument::Duration, f64::NAN);
        m.record(Instrument::Invocations, 1.0);
        assert!(m.snapshot().is_none());
    }
}
