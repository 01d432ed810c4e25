//! The `resource` processor: the Collector's attribute actions applied to resource attributes, for
//! example to set `deployment.environment` or drop a resource attribute a backend bills for.
//!
//! Its config key is `attributes` as in the Collector (`actions` is accepted as another name for it).

use lambdatel_config::{ComponentConfig, ConfigError};
use lambdatel_pipeline::{
    logs::ResourceLogs, metrics::ResourceMetrics, resource::Resource, trace::ResourceSpans, Processor,
};
use serde::Deserialize;

use crate::ProcessorFactory;

use super::actions::{ActionConfig, Actions};

/// Configuration of the `resource` processor, with the Collector's keys.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResourceConfig {
    /// The actions (`insert`, `update`, `upsert`, `delete`, `hash`, `extract`, `convert`), applied in order
    /// to every resource's attributes.
    #[serde(alias = "actions")]
    pub attributes: Vec<ActionConfig>,
}

/// The `resource` processor.
#[derive(Debug, Clone)]
pub struct ResourceProcessor {
    actions: Actions,
}

impl ResourceProcessor {
    fn apply(&self, resource: &mut Option<Resource>) {
        // A batch without a resource gets one, so that insert and upsert have somewhere to write.
        let resource = resource.get_or_insert_with(Resource::default);
        self.actions.apply(&mut resource.attributes);
    }
}

impl ProcessorFactory for ResourceProcessor {
    const TYPE: &'static str = "resource";
    const EXAMPLE: &'static str = "attributes: [{key: deployment, value: prod, action: upsert}]";
    type Config = ResourceConfig;

    fn create(settings: ResourceConfig, config: &ComponentConfig) -> Result<Self, ConfigError> {
        if settings.attributes.is_empty() {
            return Err(config.error_at("attributes", "the resource processor needs at least one action"));
        }
        Ok(ResourceProcessor { actions: Actions::compile(config, "attributes", &settings.attributes)? })
    }
}

impl Processor for ResourceProcessor {
    fn process_traces(&mut self, batch: &mut Vec<ResourceSpans>) {
        batch.iter_mut().for_each(|r| self.apply(&mut r.resource));
    }

    fn process_metrics(&mut self, batch: &mut Vec<ResourceMetrics>) {
        batch.iter_mut().for_each(|r| self.apply(&mut r.resource));
    }

    fn process_logs(&mut self, batch: &mut Vec<ResourceLogs>) {
        batch.iter_mut().for_each(|r| self.apply(&mut r.resource));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processors::matching::test_support::*;

    fn processor(yaml: &str) -> Result<ResourceProcessor, String> {
        ResourceProcessor::from_config(&component("processors.resource", yaml)).map_err(|e| e.to_string())
    }

    #[test]
    fn actions_apply_to_every_signal_resource() {
        let yaml = "attributes:\n  - {key: deployment.environment, value: prod, action: upsert}\n  \
                    - {key: cloud.account.id, action: delete}\n  - {key: service.name, action: hash}\n";
        let mut p = processor(yaml).unwrap();
        let resource = || {
            Some(Resource {
                attributes: attrs(&[("service.name", "x"), ("cloud.account.id", "123")]),
                ..Default::default()
            })
        };
        let expected = vec![
            kv("service.name", s("2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881")),
            kv("deployment.environment", s("prod")),
        ];
        let mut spans = vec![ResourceSpans { resource: resource(), ..Default::default() }];
        p.process_traces(&mut spans);
        assert_eq!(spans[0].resource.as_ref().unwrap().attributes, expected);
        let mut metrics = vec![ResourceMetrics { resource: resource(), ..Default::default() }];
        p.process_metrics(&mut metrics);
        assert_eq!(metrics[0].resource.as_ref().unwrap().attributes, expected);
        let mut logs = vec![ResourceLogs { resource: None, ..Default::default() }];
        p.process_logs(&mut logs);
        assert_eq!(logs[0].resource.as_ref().unwrap().attributes, vec![kv("deployment.environment", s("prod"))]);
    }

    #[test]
    fn actions_is_another_name_for_attributes() {
        let mut p = processor("actions: [{key: team, value: payments, action: insert}]").unwrap();
        let mut logs = vec![ResourceLogs::default()];
        p.process_logs(&mut logs);
        assert_eq!(logs[0].resource.as_ref().unwrap().attributes, attrs(&[("team", "payments")]));
    }

    #[test]
    fn config_errors() {
        assert_eq!(
            processor("").err().unwrap(),
            "<config>: processors.resource.attributes: the resource processor needs at least one action"
        );
        assert_eq!(
            processor("attributes: [{key: a, action: insert}]").err().unwrap(),
            "<config>:1:14: processors.resource.attributes[0]: insert needs a value or from_attribute"
        );
        assert_eq!(
            processor("attribute: []").err().unwrap(),
            "<config>:1:1: processors.resource.attribute: unknown field `attribute`, expected `actions` or `attributes`"
        );
    }
}
