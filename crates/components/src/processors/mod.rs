//! Processors: each built-in is one file here plus its line in `builtin_processors!` below;
//! built-ins and a user's processors are held alike, as a [`ProcessorInstance`].

// The shared machinery the built-ins use.
pub mod actions;
pub mod filter_conditions;
pub mod match_properties;
pub(crate) mod matching;
pub(crate) mod pattern;

/// Declares each built-in processor's module and registers its type, so that a new built-in processor is
/// its file plus one line in the list below.
macro_rules! builtin_processors {
    ($($module:ident::$processor:ident),+ $(,)?) => {
        $(pub mod $module;)+

        /// Adds every built-in processor type to `registry`.
        pub(crate) fn register_builtins(registry: crate::Registry) -> crate::Registry {
            registry$(.with_processor::<$module::$processor>())+
        }
    };
}

builtin_processors! {
    attributes::AttributesProcessor,
    batch::BatchProcessor,
    coldstart::ColdStartProcessor,
    decouple::DecoupleProcessor,
    filter::FilterProcessor,
    memory_limiter::MemoryLimiterProcessor,
    probabilistic_sampler::ProbabilisticSamplerProcessor,
    redaction::RedactionProcessor,
    resource::ResourceProcessor,
    resourcedetection::ResourceDetectionProcessor,
    span::SpanProcessor,
    tail_sampling::TailSamplingProcessor,
    transform::TransformProcessor,
}

use crate::ProcessorFactory;
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

/// A processor in a pipeline's chain, built-in or a user's: one virtual call per batch, not per item.
pub struct ProcessorInstance {
    processor: Box<dyn Processor>,
    max_request_items: Option<usize>,
}

impl ProcessorInstance {
    /// Holds a processor that bounds no request (one the extension adds itself, say).
    pub fn new(processor: impl Processor + 'static) -> Self {
        ProcessorInstance { processor: Box::new(processor), max_request_items: None }
    }

    /// Holds a processor built by its factory, with the request bound the factory declares.
    pub fn from_factory<P: ProcessorFactory>(processor: P) -> Self {
        let max_request_items = processor.max_request_items();
        ProcessorInstance { processor: Box::new(processor), max_request_items }
    }

    /// The largest export request this processor allows downstream, if it bounds it.
    pub fn max_request_items(&self) -> Option<usize> {
        self.max_request_items
    }
}

impl Processor for ProcessorInstance {
    fn observe_flush(&mut self, flush: &FlushView<'_>) {
        self.processor.observe_flush(flush);
    }

    fn process_traces(&mut self, spans: &mut Vec<ResourceSpans>) {
        self.processor.process_traces(spans);
    }

    fn process_metrics(&mut self, metrics: &mut Vec<ResourceMetrics>) {
        self.processor.process_metrics(metrics);
    }

    fn process_logs(&mut self, logs: &mut Vec<ResourceLogs>) {
        self.processor.process_logs(logs);
    }
}
