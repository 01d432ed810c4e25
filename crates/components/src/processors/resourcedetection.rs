//! The Collector's `resourcedetection` processor with the detectors that mean something in Lambda:
//! `env` (`OTEL_RESOURCE_ATTRIBUTES`), `lambda` (the function, as the Collector's lambda detector
//! describes it) and `system` (the sandbox's host name, architecture and OS type).
//!
//! Detection reads the environment once, when the processor is built; the detected attributes are then
//! added to every resource. As in the Collector, the first detector listed wins when two set the same
//! key, and `override: false` keeps attributes a resource already has. `timeout` has no meaning here
//! (nothing is fetched) and is ignored. Any other detector (`ec2`, `ecs`, `gcp`, ...) is an error.

use std::time::Duration;

use lambdatel_config::{ComponentConfig, ConfigError};
use lambdatel_pipeline::{
    common::{any_value::Value, AnyValue, ArrayValue, KeyValue},
    logs::ResourceLogs,
    metrics::ResourceMetrics,
    resource::Resource,
    trace::ResourceSpans,
    Processor,
};
use serde::Deserialize;

use crate::{receivers::telemetry_api::resource::parse_resource_attributes, ProcessorFactory};

/// The detectors lambdatel has.
const DETECTORS: [&str; 3] = ["env", "lambda", "system"];

/// Configuration of the `resourcedetection` processor, with the Collector's keys.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResourceDetectionConfig {
    /// The detectors, in order of precedence: `env`, `lambda`, `system`.
    pub detectors: Vec<String>,
    /// Whether detected attributes replace ones a resource already has (default `true`, as in the
    /// Collector).
    #[serde(rename = "override")]
    pub override_existing: bool,
    /// Accepted and ignored: detection only reads the environment.
    #[serde(with = "lambdatel_config::duration_serde")]
    pub timeout: Duration,
}

impl Default for ResourceDetectionConfig {
    fn default() -> Self {
        ResourceDetectionConfig { detectors: Vec::new(), override_existing: true, timeout: Duration::from_secs(5) }
    }
}

/// What the detectors read, so that tests can supply it.
pub struct Sources<'a> {
    /// Environment variables.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// The host name, when it can be read.
    pub host_name: Option<String>,
}

impl Sources<'_> {
    /// The process's environment and the kernel's host name.
    pub fn from_process() -> Sources<'static> {
        let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|h| h.trim().to_owned());
        Sources { env: &|k| std::env::var(k).ok(), host_name: host_name.filter(|h| !h.is_empty()) }
    }
}

/// The `resourcedetection` processor.
#[derive(Debug, Clone)]
pub struct ResourceDetectionProcessor {
    detected: Vec<KeyValue>,
    override_existing: bool,
}

impl ResourceDetectionProcessor {
    /// Runs the configured detectors over `sources`.
    pub fn detect(config: &ResourceDetectionConfig, sources: &Sources<'_>) -> Self {
        let mut detected: Vec<KeyValue> = Vec::new();
        for detector in &config.detectors {
            let found = match detector.as_str() {
                "env" => env_detector(sources),
                "lambda" => lambda_detector(sources),
                "system" => system_detector(sources),
                _ => Vec::new(),
            };
            // The first detector to set a key wins.
            for attribute in found {
                if !detected.iter().any(|d| d.key == attribute.key) {
                    detected.push(attribute);
                }
            }
        }
        ResourceDetectionProcessor { detected, override_existing: config.override_existing }
    }

    /// The detected attributes, in order.
    pub fn detected(&self) -> &[KeyValue] {
        &self.detected
    }

    fn apply(&self, resource: &mut Option<Resource>) {
        let attributes = &mut resource.get_or_insert_with(Resource::default).attributes;
        for attribute in &self.detected {
            match attributes.iter_mut().find(|a| a.key == attribute.key) {
                Some(existing) if self.override_existing => existing.value = attribute.value.clone(),
                Some(_) => {}
                None => attributes.push(attribute.clone()),
            }
        }
    }
}

fn string(key: &str, value: impl Into<String>) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(Value::StringValue(value.into())) }),
        ..Default::default()
    }
}

fn string_list(key: &str, value: String) -> KeyValue {
    let item = AnyValue { value: Some(Value::StringValue(value)) };
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(Value::ArrayValue(ArrayValue { values: vec![item] })) }),
        ..Default::default()
    }
}

fn env_detector(sources: &Sources<'_>) -> Vec<KeyValue> {
    let text = (sources.env)("OTEL_RESOURCE_ATTRIBUTES").unwrap_or_default();
    parse_resource_attributes(&text).into_iter().map(|(k, v)| string(&k, v)).collect()
}

/// The attributes the Collector's lambda detector sets, from the variables Lambda defines.
fn lambda_detector(sources: &Sources<'_>) -> Vec<KeyValue> {
    let env = |name: &str| (sources.env)(name).filter(|v| !v.is_empty());
    // Outside Lambda (AWS_LAMBDA_FUNCTION_NAME unset) the Collector's detector finds nothing.
    let Some(function_name) = env("AWS_LAMBDA_FUNCTION_NAME") else { return Vec::new() };
    let mut found = vec![string("cloud.provider", "aws"), string("cloud.platform", "aws_lambda")];
    found.extend(env("AWS_REGION").map(|v| string("cloud.region", v)));
    found.push(string("faas.name", function_name));
    found.extend(env("AWS_LAMBDA_FUNCTION_VERSION").map(|v| string("faas.version", v)));
    found.extend(env("AWS_LAMBDA_LOG_STREAM_NAME").map(|v| string("faas.instance", v)));
    found.extend(env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").map(|v| string("faas.max_memory", v)));
    found.extend(env("AWS_LAMBDA_LOG_GROUP_NAME").map(|v| string_list("aws.log.group.names", v)));
    found.extend(env("AWS_LAMBDA_LOG_STREAM_NAME").map(|v| string_list("aws.log.stream.names", v)));
    found
}

/// Host name, architecture and OS type, named as the semantic conventions name them.
fn system_detector(sources: &Sources<'_>) -> Vec<KeyValue> {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "x86",
        "arm" => "arm32",
        other => other,
    };
    let mut found: Vec<KeyValue> = sources.host_name.iter().map(|h| string("host.name", h.as_str())).collect();
    found.push(string("host.arch", arch));
    found.push(string("os.type", std::env::consts::OS));
    found
}

impl ProcessorFactory for ResourceDetectionProcessor {
    const TYPE: &'static str = "resourcedetection";
    const EXAMPLE: &'static str = "detectors: [env, lambda, system]";
    type Config = ResourceDetectionConfig;

    fn validate(config: &ResourceDetectionConfig, at: &ComponentConfig) -> Result<(), ConfigError> {
        if config.detectors.is_empty() {
            return Err(at.error_at("detectors", "resourcedetection needs at least one detector (env, lambda, system)"));
        }
        match config.detectors.iter().position(|d| !DETECTORS.contains(&d.as_str())) {
            Some(i) => Err(at.error_at(
                &format!("detectors[{i}]"),
                format!("unknown detector {:?} (lambdatel has: {})", config.detectors[i], DETECTORS.join(", ")),
            )),
            None => Ok(()),
        }
    }

    fn warnings(config: &ResourceDetectionConfig, at: &ComponentConfig) -> Vec<ConfigError> {
        vec![at.error(format!(
            "resourcedetection is mapped: detectors {} read the environment once at start-up; timeout is ignored",
            config.detectors.join(", ")
        ))]
    }

    fn create(config: ResourceDetectionConfig, _at: &ComponentConfig) -> Result<Self, ConfigError> {
        Ok(Self::detect(&config, &Sources::from_process()))
    }
}

impl Processor for ResourceDetectionProcessor {
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

    fn lambda_env(name: &str) -> Option<String> {
        let value = match name {
            "AWS_LAMBDA_FUNCTION_NAME" => "orders",
            "AWS_REGION" => "eu-west-1",
            "AWS_LAMBDA_FUNCTION_VERSION" => "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE" => "512",
            "AWS_LAMBDA_LOG_GROUP_NAME" => "/aws/lambda/orders",
            "AWS_LAMBDA_LOG_STREAM_NAME" => "2026/12/05/[$LATEST]abc",
            "OTEL_RESOURCE_ATTRIBUTES" => "team=payments,cloud.region=override%2D1",
            _ => return None,
        };
        Some(value.into())
    }

    fn processor(yaml: &str) -> Result<ResourceDetectionProcessor, String> {
        let at = component("processors.resourcedetection", yaml);
        let config: ResourceDetectionConfig = at.deserialize().map_err(|e| e.to_string())?;
        ResourceDetectionProcessor::validate(&config, &at).map_err(|e| e.to_string())?;
        Ok(ResourceDetectionProcessor::detect(
            &config,
            &Sources { env: &lambda_env, host_name: Some("169.254.1.1".into()) },
        ))
    }

    fn list(v: &str) -> Option<AnyValue> {
        Some(AnyValue { value: Some(Value::ArrayValue(ArrayValue { values: vec![s(v).unwrap()] })) })
    }

    #[test]
    fn lambda_detector_sets_what_the_collector_sets() {
        let p = processor("detectors: [lambda]").unwrap();
        assert_eq!(
            p.detected(),
            vec![
                kv("cloud.provider", s("aws")),
                kv("cloud.platform", s("aws_lambda")),
                kv("cloud.region", s("eu-west-1")),
                kv("faas.name", s("orders")),
                kv("faas.version", s("$LATEST")),
                kv("faas.instance", s("2026/12/05/[$LATEST]abc")),
                kv("faas.max_memory", s("512")),
                kv("aws.log.group.names", list("/aws/lambda/orders")),
                kv("aws.log.stream.names", list("2026/12/05/[$LATEST]abc")),
            ]
        );
        let outside = ResourceDetectionProcessor::detect(
            &ResourceDetectionConfig { detectors: vec!["lambda".into()], ..Default::default() },
            &Sources { env: &|_| None, host_name: None },
        );
        assert_eq!(outside.detected(), Vec::<KeyValue>::new());
    }

    #[test]
    fn first_detector_wins_and_system_names_the_host() {
        let p = processor("detectors: [env, system, lambda]\ntimeout: 1s").unwrap();
        let keys: Vec<(&str, Option<AnyValue>)> =
            p.detected().iter().map(|a| (a.key.as_str(), a.value.clone())).collect();
        assert_eq!(keys[0], ("team", s("payments")));
        assert_eq!(keys[1], ("cloud.region", s("override-1")));
        assert_eq!(keys[2], ("host.name", s("169.254.1.1")));
        let arch = if cfg!(target_arch = "x86_64") { "amd64" } else { "arm64" };
        assert_eq!(keys[3], ("host.arch", s(arch)));
        assert_eq!(keys[4], ("os.type", s("linux")));
        // cloud.region from env is kept: lambda's comes later.
        assert_eq!(keys.iter().filter(|(k, _)| *k == "cloud.region").count(), 1);
        assert_eq!(keys.len(), 5 + 8);
    }

    #[test]
    fn override_decides_who_wins_over_existing_attributes() {
        let existing = || {
            vec![ResourceSpans {
                resource: Some(Resource { attributes: attrs(&[("team", "orders")]), ..Default::default() }),
                ..Default::default()
            }]
        };
        let mut spans = existing();
        processor("detectors: [env]").unwrap().process_traces(&mut spans);
        assert_eq!(
            spans[0].resource.as_ref().unwrap().attributes,
            attrs(&[("team", "payments"), ("cloud.region", "override-1")])
        );
        let mut spans = existing();
        processor("detectors: [env]\noverride: false").unwrap().process_traces(&mut spans);
        assert_eq!(
            spans[0].resource.as_ref().unwrap().attributes,
            attrs(&[("team", "orders"), ("cloud.region", "override-1")])
        );
        let mut logs = vec![ResourceLogs::default()];
        processor("detectors: [env]").unwrap().process_logs(&mut logs);
        assert_eq!(
            logs[0].resource.as_ref().unwrap().attributes,
            attrs(&[("team", "payments"), ("cloud.region", "override-1")])
        );
        let mut metrics = vec![ResourceMetrics::default()];
        processor("detectors: [env]").unwrap().process_metrics(&mut metrics);
        assert_eq!(metrics[0].resource.as_ref().unwrap().attributes.len(), 2);
    }

    #[test]
    fn warns_that_it_is_a_mapping() {
        let at = component("processors.resourcedetection", "detectors: [env, lambda]");
        let config: ResourceDetectionConfig = at.deserialize().unwrap();
        assert_eq!(
            ResourceDetectionProcessor::warnings(&config, &at)[0].to_string(),
            "<config>:1:10: processors.resourcedetection: resourcedetection is mapped: detectors env, lambda read the \
             environment once at start-up; timeout is ignored"
        );
    }

    #[test]
    fn config_errors() {
        assert_eq!(
            processor("detectors: [env, ec2]").err().unwrap(),
            "<config>:1:18: processors.resourcedetection.detectors[1]: unknown detector \"ec2\" (lambdatel has: env, lambda, system)"
        );
        assert_eq!(
            processor("").err().unwrap(),
            "<config>: processors.resourcedetection.detectors: resourcedetection needs at least one detector (env, lambda, system)"
        );
        assert_eq!(
            processor("detectors: [env]\nattributes: [a]").err().unwrap(),
            "<config>:2:1: processors.resourcedetection.attributes: unknown field `attributes`, expected one of `detectors`, `override`, `timeout`"
        );
    }
}
