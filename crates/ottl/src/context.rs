//! What a statement runs on: one item with its scope and resource, borrowed mutably from the batch.

use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::Metric;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;

use crate::paths::ContextKind;

pub struct ResourceContext<'a> {
    pub resource: &'a mut Resource,
}

pub struct ScopeContext<'a> {
    pub resource: &'a mut Resource,
    pub scope: &'a mut InstrumentationScope,
}

pub struct SpanContext<'a> {
    pub resource: &'a mut Resource,
    pub scope: &'a mut InstrumentationScope,
    pub span: &'a mut Span,
}

/// One event of `span`: `span.events[event_index]`; statements can read and write the span too.
pub struct SpanEventContext<'a> {
    pub resource: &'a mut Resource,
    pub scope: &'a mut InstrumentationScope,
    pub span: &'a mut Span,
    pub event_index: usize,
}

pub struct LogContext<'a> {
    pub resource: &'a mut Resource,
    pub scope: &'a mut InstrumentationScope,
    pub log: &'a mut LogRecord,
}

pub struct MetricContext<'a> {
    pub resource: &'a mut Resource,
    pub scope: &'a mut InstrumentationScope,
    pub metric: &'a mut Metric,
}

/// One data point of `metric` (of whichever data type it has), by index; statements can read and write
/// the metric too.
pub struct DataPointContext<'a> {
    pub resource: &'a mut Resource,
    pub scope: &'a mut InstrumentationScope,
    pub metric: &'a mut Metric,
    pub point_index: usize,
}

/// The item a path resolves against, below resource and scope. Public only so that the sealed
/// `EvalContext` can name it; the crate does not export it.
pub enum Item<'a> {
    None,
    Span(&'a mut Span),
    SpanEvent(&'a mut Span, usize),
    Log(&'a mut LogRecord),
    Metric(&'a mut Metric),
    DataPoint(&'a mut Metric, usize),
}

#[doc(hidden)]
pub struct Target<'a> {
    pub(crate) resource: &'a mut Resource,
    pub(crate) scope: Option<&'a mut InstrumentationScope>,
    pub(crate) item: Item<'a>,
}

mod sealed {
    pub trait Sealed {}
}

/// Implemented by the context types above; `Statement::execute` and `Condition::evaluate` take any of them.
pub trait EvalContext: sealed::Sealed {
    const KIND: ContextKind;
    #[doc(hidden)]
    fn target(&mut self) -> Target<'_>;
}

macro_rules! eval_context {
    ($ty:ident, $kind:ident, |$ctx:ident| $target:expr) => {
        impl sealed::Sealed for $ty<'_> {}
        impl EvalContext for $ty<'_> {
            const KIND: ContextKind = ContextKind::$kind;
            fn target(&mut self) -> Target<'_> {
                let $ctx = self;
                $target
            }
        }
    };
}

eval_context!(ResourceContext, Resource, |c| Target { resource: c.resource, scope: None, item: Item::None });
eval_context!(ScopeContext, Scope, |c| Target { resource: c.resource, scope: Some(c.scope), item: Item::None });
eval_context!(SpanContext, Span, |c| Target { resource: c.resource, scope: Some(c.scope), item: Item::Span(c.span) });
eval_context!(SpanEventContext, SpanEvent, |c| Target {
    resource: c.resource,
    scope: Some(c.scope),
    item: Item::SpanEvent(c.span, c.event_index),
});
eval_context!(LogContext, Log, |c| Target { resource: c.resource, scope: Some(c.scope), item: Item::Log(c.log) });
eval_context!(MetricContext, Metric, |c| Target {
    resource: c.resource,
    scope: Some(c.scope),
    item: Item::Metric(c.metric),
});
eval_context!(DataPointContext, DataPoint, |c| Target {
    resource: c.resource,
    scope: Some(c.scope),
    item: Item::DataPoint(c.metric, c.point_index),
});
