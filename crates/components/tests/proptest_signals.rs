//! Property tests of the batch operations every queue and request cut relies on: `take_front` and
//! `Signals::append` neither lose, duplicate nor reorder items, whatever the resource/scope nesting.

use lambdatel_pipeline::{
    logs::{LogRecord, ResourceLogs, ScopeLogs},
    metrics::{metric::Data, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics},
    trace::{ResourceSpans, ScopeSpans, Span},
    Signal, Signals,
};
use proptest::prelude::*;

/// Nesting of one signal: resources, each with scopes, each with this many items.
type Shape = Vec<Vec<usize>>;

fn shape() -> impl Strategy<Value = Shape> {
    proptest::collection::vec(proptest::collection::vec(0usize..6, 0..4), 0..5)
}

/// Builds all three signals from shapes, numbering items in order from `first` (spans by name, log
/// records by time, metrics by name with `points` data points each).
fn build(spans: &Shape, metrics: &Shape, logs: &Shape, points: usize, first: u64) -> Signals {
    let mut next = first;
    let mut id = || {
        next += 1;
        next
    };
    Signals {
        spans: spans
            .iter()
            .map(|scopes| ResourceSpans {
                scope_spans: scopes
                    .iter()
                    .map(|&n| ScopeSpans {
                        spans: (0..n).map(|_| Span { name: id().to_string(), ..Default::default() }).collect(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        metrics: metrics
            .iter()
            .map(|scopes| ResourceMetrics {
                scope_metrics: scopes
                    .iter()
                    .map(|&n| ScopeMetrics {
                        metrics: (0..n)
                            .map(|_| Metric {
                                name: id().to_string(),
                                data: Some(Data::Gauge(Gauge {
                                    data_points: vec![NumberDataPoint::default(); points],
                                })),
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        logs: logs
            .iter()
            .map(|scopes| ResourceLogs {
                scope_logs: scopes
                    .iter()
                    .map(|&n| ScopeLogs {
                        log_records: (0..n).map(|_| LogRecord { time_unix_nano: id(), ..Default::default() }).collect(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
    }
}

/// The item ids of one signal, in order.
fn ids(signals: &Signals, signal: Signal) -> Vec<u64> {
    match signal {
        Signal::Traces => signals
            .spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .map(|s| s.name.parse().unwrap())
            .collect(),
        Signal::Metrics => signals
            .metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .map(|m| m.name.parse().unwrap())
            .collect(),
        Signal::Logs => signals
            .logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
            .map(|l| l.time_unix_nano)
            .collect(),
    }
}

fn any_signal() -> impl Strategy<Value = Signal> {
    prop_oneof![Just(Signal::Traces), Just(Signal::Metrics), Just(Signal::Logs)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn take_front_conserves_items_and_their_order(
        spans in shape(), metrics in shape(), logs in shape(), points in 1usize..4,
        signal in any_signal(), n in 0usize..40,
    ) {
        let original = build(&spans, &metrics, &logs, points, 0);
        let mut rest = original.clone();
        let taken = rest.take_front(signal, n);
        let before = ids(&original, signal);
        let (front, back) = (ids(&taken, signal), ids(&rest, signal));
        // n counts spans and log records; for metrics it counts whole metrics (their points stay together).
        prop_assert_eq!(front.len(), n.min(before.len()));
        prop_assert_eq!([front, back].concat(), before);
        prop_assert_eq!(taken.count(signal) + rest.count(signal), original.count(signal));
        if signal == Signal::Metrics {
            prop_assert_eq!(taken.count(signal) % points, 0);
        }
        // The other signals are not touched.
        for other in [Signal::Traces, Signal::Metrics, Signal::Logs].into_iter().filter(|s| *s != signal) {
            prop_assert_eq!(taken.count(other), 0);
            prop_assert_eq!(ids(&rest, other), ids(&original, other));
        }
    }

    #[test]
    fn repeated_cuts_drain_everything_in_order(spans in shape(), logs in shape(), n in 1usize..7) {
        let original = build(&spans, &Shape::new(), &logs, 1, 0);
        for signal in [Signal::Traces, Signal::Logs] {
            let mut rest = original.clone();
            let mut cut = Vec::new();
            while rest.count(signal) > 0 {
                let request = rest.take_front(signal, n);
                prop_assert!(request.count(signal) >= 1 && request.count(signal) <= n);
                cut.extend(ids(&request, signal));
            }
            prop_assert_eq!(cut, ids(&original, signal));
        }
    }

    #[test]
    fn append_keeps_both_batches_in_order(
        a in (shape(), shape(), shape()), b in (shape(), shape(), shape()), points in 1usize..3,
    ) {
        let first = build(&a.0, &a.1, &a.2, points, 0);
        let second = build(&b.0, &b.1, &b.2, points, 10_000);
        let mut merged = first.clone();
        let mut moved = second.clone();
        merged.append(&mut moved);
        prop_assert!(moved.is_empty());
        for signal in [Signal::Traces, Signal::Metrics, Signal::Logs] {
            prop_assert_eq!(merged.count(signal), first.count(signal) + second.count(signal));
            prop_assert_eq!(ids(&merged, signal), [ids(&first, signal), ids(&second, signal)].concat());
        }
    }
}
