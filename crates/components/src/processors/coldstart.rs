//! The `coldstart` processor of the OpenTelemetry Lambda layer (Go collector), accepted so that its
//! configs load, and doing nothing.
//!
//! In the Go layer it sets `faas.coldstart` on the first invocation's span. lambdatel marks cold starts
//! itself (from the Telemetry API's `platform.initStart`), so the processor would only repeat that.

use lambdatel_config::{ComponentConfig, ConfigError};
use lambdatel_pipeline::Processor;
use serde::Deserialize;

use crate::ProcessorFactory;

/// Configuration of the `coldstart` processor: the Go layer's takes no settings.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ColdStartConfig {}

/// The `coldstart` processor: passes every batch through unchanged.
#[derive(Debug, Clone, Default)]
pub struct ColdStartProcessor;

impl Processor for ColdStartProcessor {}

impl ProcessorFactory for ColdStartProcessor {
    const TYPE: &'static str = "coldstart";
    type Config = ColdStartConfig;

    fn warnings(_config: &ColdStartConfig, at: &ComponentConfig) -> Vec<ConfigError> {
        vec![at.error("coldstart does nothing in lambdatel, which marks cold starts itself (faas.coldstart)")]
    }

    fn create(_config: ColdStartConfig, _at: &ComponentConfig) -> Result<Self, ConfigError> {
        Ok(ColdStartProcessor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processors::matching::test_support::*;
    use lambdatel_pipeline::trace::{ResourceSpans, ScopeSpans, Span};

    #[test]
    fn passes_data_through_and_says_it_does_nothing() {
        let config = component("processors.coldstart", "");
        assert_eq!(
            ColdStartProcessor::warnings(&ColdStartConfig {}, &config)[0].to_string(),
            "<config>: processors.coldstart: coldstart does nothing in lambdatel, which marks cold starts itself (faas.coldstart)"
        );
        let batch = vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span { name: "x".into(), ..Default::default() }],
                ..Default::default()
            }],
            ..Default::default()
        }];
        let mut processed = batch.clone();
        ColdStartProcessor::from_config(&config).unwrap().process_traces(&mut processed);
        assert_eq!(processed, batch);
    }

    #[test]
    fn rejects_settings() {
        let config = component("processors.coldstart", "enabled: true");
        assert_eq!(
            ColdStartProcessor::from_config(&config).err().unwrap().to_string(),
            "<config>:1:1: processors.coldstart.enabled: unknown field `enabled`, there are no fields"
        );
    }
}
