//! A batch holding all three signals, the unit that moves between receivers, processors and exporters.

use opentelemetry_proto::tonic::{
    logs::v1::ResourceLogs,
    metrics::v1::{metric::Data, ResourceMetrics},
    trace::v1::ResourceSpans,
};

pub use lambdatel_config::Signal;

/// Every signal, in the order pipelines are listed.
pub const SIGNALS: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

/// Spans, metrics and logs produced together (for example from one Telemetry API batch).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Signals {
    /// Spans, grouped by resource and scope.
    pub spans: Vec<ResourceSpans>,
    /// Metrics, grouped by resource and scope.
    pub metrics: Vec<ResourceMetrics>,
    /// Log records, grouped by resource and scope.
    pub logs: Vec<ResourceLogs>,
}

impl Signals {
    /// True when no signal holds an item (empty resource or scope envelopes count as empty).
    pub fn is_empty(&self) -> bool {
        self.span_count() == 0 && self.data_point_count() == 0 && self.log_count() == 0
    }

    /// Moves everything from `other` to the end of `self`.
    pub fn append(&mut self, other: &mut Signals) {
        self.spans.append(&mut other.spans);
        self.metrics.append(&mut other.metrics);
        self.logs.append(&mut other.logs);
    }

    /// The number of spans.
    pub fn span_count(&self) -> usize {
        span_count(&self.spans)
    }

    /// The number of metric data points.
    pub fn data_point_count(&self) -> usize {
        data_point_count(&self.metrics)
    }

    /// The number of log records.
    pub fn log_count(&self) -> usize {
        log_count(&self.logs)
    }

    /// The number of items (spans, data points or log records) of one signal.
    pub fn count(&self, kind: Signal) -> usize {
        match kind {
            Signal::Traces => self.span_count(),
            Signal::Metrics => self.data_point_count(),
            Signal::Logs => self.log_count(),
        }
    }

    /// The number of items of all three signals.
    pub fn total_count(&self) -> usize {
        self.span_count() + self.data_point_count() + self.log_count()
    }

    /// A copy of one signal's data, the other two left empty: what a fan-out gives each consumer but the
    /// last.
    pub fn part(&self, signal: Signal) -> Signals {
        match signal {
            Signal::Traces => Signals { spans: self.spans.clone(), ..Default::default() },
            Signal::Metrics => Signals { metrics: self.metrics.clone(), ..Default::default() },
            Signal::Logs => Signals { logs: self.logs.clone(), ..Default::default() },
        }
    }

    /// Moves one signal's data out, leaving it empty here: what the last consumer of a fan-out takes.
    pub fn take_part(&mut self, signal: Signal) -> Signals {
        match signal {
            Signal::Traces => Signals { spans: std::mem::take(&mut self.spans), ..Default::default() },
            Signal::Metrics => Signals { metrics: std::mem::take(&mut self.metrics), ..Default::default() },
            Signal::Logs => Signals { logs: std::mem::take(&mut self.logs), ..Default::default() },
        }
    }

    /// The protobuf size of the batch: what it costs in memory, near enough, and what it costs on the wire.
    pub fn encoded_size(&self) -> usize {
        use prost::Message;
        self.spans.iter().map(Message::encoded_len).sum::<usize>()
            + self.metrics.iter().map(Message::encoded_len).sum::<usize>()
            + self.logs.iter().map(Message::encoded_len).sum::<usize>()
    }

    /// Removes up to `n` of the oldest items of one signal and returns them (in order), leaving the rest.
    ///
    /// Used both to cut export requests to a size bound and to drop the oldest data when a queue is full.
    pub fn take_front(&mut self, kind: Signal, n: usize) -> Signals {
        let mut taken = Signals::default();
        match kind {
            Signal::Traces => {
                taken.spans = take_groups(&mut self.spans, n, |r| &mut r.scope_spans, |s| &mut s.spans);
            }
            Signal::Metrics => {
                // A metric's data points stay together: cutting inside one would split its identity.
                taken.metrics = take_groups(&mut self.metrics, n, |r| &mut r.scope_metrics, |s| &mut s.metrics);
            }
            Signal::Logs => {
                taken.logs = take_groups(&mut self.logs, n, |r| &mut r.scope_logs, |s| &mut s.log_records);
            }
        }
        taken
    }
}

/// The number of spans in a batch.
pub fn span_count(spans: &[ResourceSpans]) -> usize {
    spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len()).sum()
}

/// The number of log records in a batch.
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

/// Moves the first `n` leaf items (spans, metrics, log records) out of nested resource/scope groups,
/// cloning a group's envelope (resource, scope) only when the group is split.
fn take_groups<R: Clone, S: Clone, I>(
    groups: &mut Vec<R>,
    mut n: usize,
    scopes: impl Fn(&mut R) -> &mut Vec<S>,
    items: impl Fn(&mut S) -> &mut Vec<I>,
) -> Vec<R> {
    let mut out = Vec::new();
    while n > 0 && !groups.is_empty() {
        let total: usize = scopes(&mut groups[0]).iter_mut().map(|s| items(s).len()).sum();
        if total <= n {
            n -= total;
            out.push(groups.remove(0));
            continue;
        }
        // Split the first group: an envelope copy with the first n items goes out.
        let first = &mut groups[0];
        let mut head_scopes = Vec::new();
        let group_scopes = scopes(first);
        while n > 0 {
            let len = items(&mut group_scopes[0]).len();
            if len <= n {
                n -= len;
                head_scopes.push(group_scopes.remove(0));
            } else {
                let mut head = clone_envelope(&mut group_scopes[0], &items);
                *items(&mut head) = items(&mut group_scopes[0]).drain(..n).collect();
                head_scopes.push(head);
                n = 0;
            }
        }
        let mut head = clone_envelope(first, &scopes);
        *scopes(&mut head) = head_scopes;
        out.push(head);
    }
    out
}

/// Copies a group without its children (the copy's children vector is empty).
fn clone_envelope<T: Clone, C>(group: &mut T, children: &impl Fn(&mut T) -> &mut Vec<C>) -> T {
    let taken = std::mem::take(children(group));
    let copy = group.clone();
    *children(group) = taken;
    copy
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ScopeLogs};

    fn logs(groups: &[&[&[u64]]]) -> Signals {
        Signals {
            logs: groups
                .iter()
                .map(|scopes| ResourceLogs {
                    scope_logs: scopes
                        .iter()
                        .map(|records| ScopeLogs {
                            log_records: records
                                .iter()
                                .map(|t| LogRecord { time_unix_nano: *t, ..Default::default() })
                                .collect(),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    fn times(signals: &Signals) -> Vec<Vec<Vec<u64>>> {
        signals
            .logs
            .iter()
            .map(|r| r.scope_logs.iter().map(|s| s.log_records.iter().map(|l| l.time_unix_nano).collect()).collect())
            .collect()
    }

    #[test]
    fn take_front_splits_groups_in_order() {
        let mut all = logs(&[&[&[1, 2], &[3]], &[&[4, 5, 6]]]);
        let head = all.take_front(Signal::Logs, 4);
        assert_eq!(times(&head), vec![vec![vec![1, 2], vec![3]], vec![vec![4]]]);
        assert_eq!(times(&all), vec![vec![vec![5, 6]]]);
        assert_eq!(head.log_count() + all.log_count(), 6);
        let rest = all.take_front(Signal::Logs, 10);
        assert_eq!(rest.log_count(), 2);
        assert!(all.is_empty());
        assert!(all.take_front(Signal::Logs, 3).is_empty());
    }
}
