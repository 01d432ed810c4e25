//! Running OTTL over a batch: every item of a context (resource, scope, span, span event, log record,
//! metric, data point) visited with its scope and resource, and the Collector's `error_mode` applied to
//! what fails.

use std::time::{Duration, Instant};

use lambdatel_ottl::{
    DataPointContext, EvalContext, EvalError, LogContext, MetricContext, ResourceContext, ScopeContext, SpanContext,
    SpanEventContext,
};
use lambdatel_pipeline::{
    logs::ResourceLogs,
    metrics::{metric::Data, Metric, ResourceMetrics},
    trace::ResourceSpans,
};

use crate::processors::filter::ErrorMode;

/// Lines of one processor's evaluation errors printed per [`WARN_PERIOD`] (`error_mode: ignore`): a
/// statement that fails on every record must not turn into a line per record.
const WARN_PERIOD: Duration = Duration::from_secs(60);

/// The first evaluation error that `error_mode: propagate` turns into the loss of the batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// The statement or condition as written.
    pub statement: String,
    pub error: EvalError,
}

/// Applies `error_mode` to evaluation errors, and rate-limits the lines `ignore` prints.
#[derive(Debug)]
pub struct ErrorSink {
    component: &'static str,
    last_warned: Option<Instant>,
    held_back: u64,
    /// Every error seen, whatever the mode (for tests and for the line printed).
    pub errors: u64,
}

impl ErrorSink {
    pub fn new(component: &'static str) -> Self {
        ErrorSink { component, last_warned: None, held_back: 0, errors: 0 }
    }

    /// Records one error under `mode`: `Err` for `propagate`, which stops the batch.
    pub fn handle(&mut self, mode: ErrorMode, statement: &str, error: EvalError) -> Result<(), Failure> {
        self.errors += 1;
        match mode {
            ErrorMode::Propagate => Err(Failure { statement: statement.to_owned(), error }),
            ErrorMode::Silent => Ok(()),
            ErrorMode::Ignore => {
                self.warn(&format!("failed to evaluate `{statement}`: {error}"));
                Ok(())
            }
        }
    }

    /// Reports a batch lost to `propagate` (always printed: data was dropped).
    pub fn report_dropped_batch(&mut self, signal: &str, failure: &Failure) {
        eprintln!(
            "[lambdatel] ERROR {}: dropped a batch of {signal} (error_mode: propagate): failed to evaluate `{}`: {}",
            self.component, failure.statement, failure.error
        );
    }

    fn warn(&mut self, message: &str) {
        let now = Instant::now();
        if self.last_warned.is_some_and(|t| now.duration_since(t) < WARN_PERIOD) {
            self.held_back += 1;
            return;
        }
        self.last_warned = Some(now);
        let held_back = std::mem::take(&mut self.held_back);
        if held_back > 0 {
            eprintln!("[lambdatel] WARN {}: {message} (and {held_back} similar errors)", self.component);
        } else {
            eprintln!("[lambdatel] WARN {}: {message}", self.component);
        }
    }
}

/// Something run on each visited item, whatever its context type.
pub trait ContextFn {
    fn run<C: EvalContext>(&mut self, context: &mut C) -> Result<(), Failure>;
}

/// Which items of a batch a pass visits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Resource,
    Scope,
    Item,
    /// Span events, data points.
    SubItem,
}

/// Visits every item of `level` in `batch`, stopping at the first `Failure`.
pub fn visit_spans(batch: &mut [ResourceSpans], level: Level, v: &mut impl ContextFn) -> Result<(), Failure> {
    for rs in batch {
        let resource = rs.resource.get_or_insert_with(Default::default);
        if level == Level::Resource {
            v.run(&mut ResourceContext { resource })?;
            continue;
        }
        for ss in &mut rs.scope_spans {
            let scope = ss.scope.get_or_insert_with(Default::default);
            match level {
                Level::Resource => {}
                Level::Scope => v.run(&mut ScopeContext { resource: &mut *resource, scope })?,
                Level::Item => {
                    for span in &mut ss.spans {
                        v.run(&mut SpanContext { resource: &mut *resource, scope: &mut *scope, span })?;
                    }
                }
                Level::SubItem => {
                    for span in &mut ss.spans {
                        let mut event_index = 0;
                        while event_index < span.events.len() {
                            v.run(&mut SpanEventContext {
                                resource: &mut *resource,
                                scope: &mut *scope,
                                span: &mut *span,
                                event_index,
                            })?;
                            event_index += 1;
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// The number of data points of a metric, whatever its type.
pub fn point_count(metric: &Metric) -> usize {
    match &metric.data {
        Some(Data::Gauge(g)) => g.data_points.len(),
        Some(Data::Sum(s)) => s.data_points.len(),
        Some(Data::Histogram(h)) => h.data_points.len(),
        Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
        Some(Data::Summary(s)) => s.data_points.len(),
        None => 0,
    }
}

/// Visits every item of `level` in `batch`, stopping at the first `Failure`.
pub fn visit_metrics(batch: &mut [ResourceMetrics], level: Level, v: &mut impl ContextFn) -> Result<(), Failure> {
    for rm in batch {
        let resource = rm.resource.get_or_insert_with(Default::default);
        if level == Level::Resource {
            v.run(&mut ResourceContext { resource })?;
            continue;
        }
        for sm in &mut rm.scope_metrics {
            let scope = sm.scope.get_or_insert_with(Default::default);
            match level {
                Level::Resource => {}
                Level::Scope => v.run(&mut ScopeContext { resource: &mut *resource, scope })?,
                Level::Item => {
                    for metric in &mut sm.metrics {
                        v.run(&mut MetricContext { resource: &mut *resource, scope: &mut *scope, metric })?;
                    }
                }
                Level::SubItem => {
                    for metric in &mut sm.metrics {
                        let mut point_index = 0;
                        while point_index < point_count(metric) {
                            v.run(&mut DataPointContext {
                                resource: &mut *resource,
                                scope: &mut *scope,
                                metric: &mut *metric,
                                point_index,
                            })?;
                            point_index += 1;
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// Visits every item of `level` in `batch` (`SubItem` means log records too), stopping at the first `Failure`.
pub fn visit_logs(batch: &mut [ResourceLogs], level: Level, v: &mut impl ContextFn) -> Result<(), Failure> {
    for rl in batch {
        let resource = rl.resource.get_or_insert_with(Default::default);
        if level == Level::Resource {
            v.run(&mut ResourceContext { resource })?;
            continue;
        }
        for sl in &mut rl.scope_logs {
            let scope = sl.scope.get_or_insert_with(Default::default);
            match level {
                Level::Resource => {}
                Level::Scope => v.run(&mut ScopeContext { resource: &mut *resource, scope })?,
                Level::Item | Level::SubItem => {
                    for log in &mut sl.log_records {
                        v.run(&mut LogContext { resource: &mut *resource, scope: &mut *scope, log })?;
                    }
                }
            }
        }
    }
    Ok(())
}
