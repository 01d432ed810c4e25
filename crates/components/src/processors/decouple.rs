//! The `decouple` processor of the OpenTelemetry Lambda collector, accepted so that its configs load,
//! and doing nothing.
//!
//! In the Lambda collector it moves exports off the invocation's path with a queue. lambdatel already
//! exports at flush points chosen so the function's response is never held up (see the architecture),
//! so there is nothing left for it to do; its `max_queue_size` key is accepted and ignored.

use lambdatel_config::{ComponentConfig, ConfigError};
use lambdatel_pipeline::Processor;
use serde::Deserialize;

use crate::ProcessorFactory;

/// Configuration of the `decouple` processor, with the Lambda collector's key.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecoupleConfig {
    /// Accepted for compatibility and ignored: lambdatel's exporter queues are sized by their own
    /// `sending_queue` settings.
    pub max_queue_size: Option<u64>,
}

/// The `decouple` processor: passes every batch through unchanged.
#[derive(Debug, Clone, Default)]
pub struct DecoupleProcessor;

impl Processor for DecoupleProcessor {}

impl ProcessorFactory for DecoupleProcessor {
    const TYPE: &'static str = "decouple";
    type Config = DecoupleConfig;

    fn create(_config: DecoupleConfig, _at: &ComponentConfig) -> Result<Self, ConfigError> {
        Ok(DecoupleProcessor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processors::matching::test_support::*;
    use lambdatel_pipeline::trace::{ResourceSpans, ScopeSpans, Span};

    #[test]
    fn accepts_the_lambda_collector_key_and_passes_data_through() {
        let config = component("processors.decouple", "max_queue_size: 20");
        assert_eq!(config.deserialize::<DecoupleConfig>().unwrap(), DecoupleConfig { max_queue_size: Some(20) });
        let batch = vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span { name: "x".into(), ..Default::default() }],
                ..Default::default()
            }],
            ..Default::default()
        }];
        let mut processed = batch.clone();
        DecoupleProcessor.process_traces(&mut processed);
        assert_eq!(processed, batch);
    }

    #[test]
    fn rejects_unknown_keys() {
        let config = component("processors.decouple", "queue: 1");
        assert_eq!(
            config.deserialize::<DecoupleConfig>().unwrap_err().to_string(),
            "<config>:1:1: processors.decouple.queue: unknown field `queue`, expected `max_queue_size`"
        );
    }
}
