//! Processors: the built-ins in one enum (static dispatch, one `match` that shows them all); a user's own
//! processors are boxed, which costs one virtual call per batch, not per item.

pub mod actions;
pub mod attributes;
pub mod batch;
pub mod coldstart;
pub mod decouple;
pub mod filter;
pub mod filter_conditions;
pub mod match_properties;
pub(crate) mod matching;
pub mod memory_limiter;
pub(crate) mod pattern;
pub mod probabilistic_sampler;
pub mod redaction;
pub mod resource;
pub mod resourcedetection;
pub mod tail_sampling;
pub mod transform;

use lambdatel_pipeline::{logs::ResourceLogs, metrics::ResourceMetrics, trace::ResourceSpans, FlushView, Processor};

pub use attributes::{AttributesConfig, AttributesProcessor};
pub use batch::{BatchConfig, BatchProcessor};
pub use coldstart::{ColdStartConfig, ColdStartProcessor};
pub use decouple::{DecoupleConfig, DecoupleProcessor};
pub use filter::{FilterConfig, FilterProcessor};
pub use memory_limiter::{MemoryLimit, MemoryLimiterConfig, MemoryLimiterProcessor};
pub use probabilistic_sampler::{ProbabilisticSamplerConfig, ProbabilisticSamplerProcessor};
pub use redaction::{RedactionConfig, RedactionProcessor};
pub use resource::{ResourceConfig, ResourceProcessor};
pub use resourcedetection::{ResourceDetectionConfig, ResourceDetectionProcessor};
pub use tail_sampling::{TailSamplingConfig, TailSamplingProcessor};
pub use transform::{TransformConfig, TransformProcessor};

/// A processor instance in a pipeline's chain.
pub enum ProcessorInstance {
    /// `attributes`: attribute actions on spans, log records and data points.
    Attributes(Box<AttributesProcessor>),
    /// `batch`: merging and request size limits.
    Batch(BatchProcessor),
    /// `coldstart`: accepted for the Lambda layer's configs; passes data through.
    ColdStart(ColdStartProcessor),
    /// `decouple`: accepted for the Lambda collector's configs; passes data through.
    Decouple(DecoupleProcessor),
    /// `filter`: drops spans, span events, metrics, data points and log records.
    Filter(Box<FilterProcessor>),
    /// `memory_limiter`: passes data through; its limit tightens the extension's memory bound.
    MemoryLimiter(MemoryLimiterProcessor),
    /// `probabilistic_sampler`: keeps a percentage of traces, decided by trace id.
    ProbabilisticSampler(Box<ProbabilisticSamplerProcessor>),
    /// `redaction`: deletes attributes not allowed and masks blocked values.
    Redaction(Box<RedactionProcessor>),
    /// `resource`: attribute actions on resource attributes.
    Resource(ResourceProcessor),
    /// `resourcedetection`: detected resource attributes (environment, Lambda, system).
    ResourceDetection(Box<ResourceDetectionProcessor>),
    /// `tail_sampling`: keeps whole traces by policy, decided at the flush.
    TailSampling(Box<TailSamplingProcessor>),
    /// `transform`: OTTL statements on spans, span events, metrics, data points and log records.
    Transform(Box<TransformProcessor>),
    /// A user's processor, registered with `Registry::with_processor`.
    Custom(Box<dyn Processor>),
}

impl ProcessorInstance {
    /// The largest export request this processor allows downstream, if it bounds it.
    pub fn max_request_items(&self) -> Option<usize> {
        match self {
            ProcessorInstance::Batch(batch) => batch.max_request_items(),
            _ => None,
        }
    }
}

impl Processor for ProcessorInstance {
    fn observe_flush(&mut self, flush: &FlushView<'_>) {
        // Tail sampling decides on the whole flush; of the other built-ins none looks at it.
        match self {
            ProcessorInstance::TailSampling(p) => p.observe_flush(flush),
            ProcessorInstance::Custom(p) => p.observe_flush(flush),
            _ => {}
        }
    }

    fn process_traces(&mut self, spans: &mut Vec<ResourceSpans>) {
        match self {
            ProcessorInstance::Attributes(p) => p.process_traces(spans),
            ProcessorInstance::Batch(p) => p.process_traces(spans),
            ProcessorInstance::Decouple(p) => p.process_traces(spans),
            ProcessorInstance::Filter(p) => p.process_traces(spans),
            ProcessorInstance::ProbabilisticSampler(p) => p.process_traces(spans),
            ProcessorInstance::Redaction(p) => p.process_traces(spans),
            ProcessorInstance::Resource(p) => p.process_traces(spans),
            ProcessorInstance::ResourceDetection(p) => p.process_traces(spans),
            ProcessorInstance::ColdStart(_) | ProcessorInstance::MemoryLimiter(_) => {}
            ProcessorInstance::TailSampling(p) => p.process_traces(spans),
            ProcessorInstance::Transform(p) => p.process_traces(spans),
            ProcessorInstance::Custom(p) => p.process_traces(spans),
        }
    }

    fn process_metrics(&mut self, metrics: &mut Vec<ResourceMetrics>) {
        match self {
            ProcessorInstance::Attributes(p) => p.process_metrics(metrics),
            ProcessorInstance::Batch(p) => p.process_metrics(metrics),
            ProcessorInstance::Decouple(p) => p.process_metrics(metrics),
            ProcessorInstance::Filter(p) => p.process_metrics(metrics),
            ProcessorInstance::ProbabilisticSampler(p) => p.process_metrics(metrics),
            ProcessorInstance::Redaction(p) => p.process_metrics(metrics),
            ProcessorInstance::Resource(p) => p.process_metrics(metrics),
            ProcessorInstance::ResourceDetection(p) => p.process_metrics(metrics),
            ProcessorInstance::ColdStart(_) | ProcessorInstance::MemoryLimiter(_) => {}
            ProcessorInstance::TailSampling(p) => p.process_metrics(metrics),
            ProcessorInstance::Transform(p) => p.process_metrics(metrics),
            ProcessorInstance::Custom(p) => p.process_metrics(metrics),
        }
    }

    fn process_logs(&mut self, logs: &mut Vec<ResourceLogs>) {
        match self {
            ProcessorInstance::Attributes(p) => p.process_logs(logs),
            ProcessorInstance::Batch(p) => p.process_logs(logs),
            ProcessorInstance::Decouple(p) => p.process_logs(logs),
            ProcessorInstance::Filter(p) => p.process_logs(logs),
            ProcessorInstance::ProbabilisticSampler(p) => p.process_logs(logs),
            ProcessorInstance::Redaction(p) => p.process_logs(logs),
            ProcessorInstance::Resource(p) => p.process_logs(logs),
            ProcessorInstance::ResourceDetection(p) => p.process_logs(logs),
            ProcessorInstance::ColdStart(_) | ProcessorInstance::MemoryLimiter(_) => {}
            ProcessorInstance::TailSampling(p) => p.process_logs(logs),
            ProcessorInstance::Transform(p) => p.process_logs(logs),
            ProcessorInstance::Custom(p) => p.process_logs(logs),
        }
    }
}
