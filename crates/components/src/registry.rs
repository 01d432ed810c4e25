//! The registry of component factories, keyed by type name.
//!
//! Built-in and user components are wired the same way: a user's extension binary is
//! `lambdatel::main_with(Registry::builtin().with_processor::<MyProcessor>())`; see [`ProcessorFactory`].

use std::{collections::BTreeMap, error::Error};

use lambdatel_config::{ComponentConfig, ComponentId, ConfigError};
use lambdatel_pipeline::Processor;
use serde::de::DeserializeOwned;

use crate::{
    exporters::{
        DebugConfig, DebugExporter, Exporter, OtlpGrpcConfig, OtlpGrpcExporter, OtlpHttpConfig, OtlpHttpExporter,
    },
    processors::{
        AttributesProcessor, BatchConfig, BatchProcessor, DecoupleConfig, DecoupleProcessor, FilterProcessor,
        ProbabilisticSamplerProcessor, ProcessorInstance, RedactionProcessor, ResourceProcessor,
    },
    receivers::{otlp::OtlpReceiverConfig, telemetry_api::listener::TelemetryApiConfig},
};

/// A processor that can be configured by type name in the YAML config: the custom processor API.
///
/// Write a type that implements [`Processor`] (the signals it cares about; the others pass through) and
/// this trait (its type name, its settings, how to build it), then build your own extension binary
/// whose `main` is `lambdatel::main_with(Registry::builtin().with_processor::<MyProcessor>())`. The
/// processor is then configured in the same YAML as the built-ins, by `TYPE` or `TYPE/name`, and config
/// errors in its settings are reported with their key path and line like any other.
///
/// Processors run on the extension's flush path, which the function waits for: keep them CPU-only,
/// without I/O or blocking. A new instance is created for each use of the processor in a pipeline.
///
/// # Example
///
/// ```
/// use lambdatel_components::{ProcessorFactory, Registry};
/// use lambdatel_config::{ComponentConfig, ComponentId};
/// use lambdatel_pipeline::{common::{any_value::Value, AnyValue, KeyValue}, trace::ResourceSpans, Processor};
///
/// /// Adds `team` to every span.
/// struct Team {
///     team: String,
/// }
///
/// /// The settings, e.g. `processors: {team: {name: payments}}`.
/// #[derive(Default, serde::Deserialize)]
/// #[serde(default, deny_unknown_fields)]
/// struct TeamConfig {
///     /// The team's name.
///     name: String,
/// }
///
/// impl Processor for Team {
///     fn process_traces(&mut self, batch: &mut Vec<ResourceSpans>) {
///         for span in batch.iter_mut().flat_map(|r| &mut r.scope_spans).flat_map(|s| &mut s.spans) {
///             span.attributes.push(KeyValue {
///                 key: "team".into(),
///                 value: Some(AnyValue { value: Some(Value::StringValue(self.team.clone())) }),
///                 ..Default::default()
///             });
///         }
///     }
/// }
///
/// impl ProcessorFactory for Team {
///     const TYPE: &'static str = "team";
///     type Config = TeamConfig;
///
///     fn validate(config: &TeamConfig) -> Result<(), String> {
///         if config.name.is_empty() { Err("name is required".into()) } else { Ok(()) }
///     }
///
///     fn create(config: TeamConfig) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
///         Ok(Team { team: config.name })
///     }
/// }
///
/// // In a binary: `fn main() -> ExitCode { lambdatel::main_with(Registry::builtin().with_processor::<Team>()) }`
/// let registry = Registry::builtin().with_processor::<Team>();
/// assert!(registry.processor_types().contains(&"team"));
///
/// // What the extension does with `processors: {team/a: {name: payments}}`:
/// let id = ComponentId::parse("team/a").unwrap();
/// let settings = ComponentConfig::from_yaml("processors.team/a", "name: payments", &|_| None).unwrap();
/// let mut team = registry.build_processor(&id, &settings).unwrap();
/// let mut batch = vec![ResourceSpans {
///     scope_spans: vec![Default::default()],
///     ..Default::default()
/// }];
/// batch[0].scope_spans[0].spans.push(Default::default());
/// team.process_traces(&mut batch);
/// assert_eq!(batch[0].scope_spans[0].spans[0].attributes[0].key, "team");
///
/// // Settings errors carry the key path.
/// let empty = ComponentConfig::from_yaml("processors.team/a", "", &|_| None).unwrap();
/// let error = registry.build_processor(&id, &empty).err().unwrap();
/// assert_eq!(error.to_string(), "<config>: processors.team/a: name is required");
/// ```
pub trait ProcessorFactory: Processor + Sized + 'static {
    /// The name used in the config file, e.g. `tenant`.
    const TYPE: &'static str;
    /// The processor's settings. Missing keys keep `Default` values; mark it
    /// `#[serde(default, deny_unknown_fields)]` so typos are reported.
    type Config: DeserializeOwned + Default;
    /// Checks a config beyond its types; the message is shown with the component's key path and line.
    fn validate(_config: &Self::Config) -> Result<(), String> {
        Ok(())
    }
    /// Builds the processor.
    fn create(config: Self::Config) -> Result<Self, Box<dyn Error + Send + Sync>>;
}

type ProcessorBuilder = Box<dyn Fn(&ComponentConfig) -> Result<ProcessorInstance, ConfigError> + Send + Sync>;

/// A receiver's validated settings; the extension binds it (receivers need the network, built later).
#[derive(Debug, Clone, PartialEq)]
pub enum ReceiverConfig {
    TelemetryApi(TelemetryApiConfig),
    Otlp(OtlpReceiverConfig),
}

impl ReceiverConfig {
    /// The Telemetry API receiver's settings, when this is one.
    pub fn as_telemetry_api(&self) -> Option<&TelemetryApiConfig> {
        match self {
            ReceiverConfig::TelemetryApi(config) => Some(config),
            ReceiverConfig::Otlp(_) => None,
        }
    }
}

/// Every component type the extension can build.
pub struct Registry {
    processors: BTreeMap<&'static str, ProcessorBuilder>,
}

/// Receiver types, always built in (they own network listeners and lifecycle hooks).
pub const RECEIVER_TYPES: &[&str] = &["telemetryapi", "otlp"];
/// Exporter types, always built in.
pub const EXPORTER_TYPES: &[&str] = &["otlp", "otlphttp", "debug"];

impl Registry {
    /// The built-in components.
    pub fn builtin() -> Self {
        let mut registry = Registry { processors: BTreeMap::new() };
        registry.processors.insert(
            "batch",
            Box::new(|config: &ComponentConfig| {
                let batch: BatchConfig = config.deserialize()?;
                batch.validate().map_err(|message| config.error(message))?;
                Ok(ProcessorInstance::Batch(BatchProcessor::new(batch)))
            }),
        );
        registry.processors.insert(
            "attributes",
            Box::new(|config: &ComponentConfig| {
                Ok(ProcessorInstance::Attributes(Box::new(AttributesProcessor::from_config(config)?)))
            }),
        );
        registry.processors.insert(
            "resource",
            Box::new(|config: &ComponentConfig| {
                Ok(ProcessorInstance::Resource(ResourceProcessor::from_config(config)?))
            }),
        );
        registry.processors.insert(
            "decouple",
            Box::new(|config: &ComponentConfig| {
                let _: DecoupleConfig = config.deserialize()?;
                Ok(ProcessorInstance::Decouple(DecoupleProcessor))
            }),
        );
        registry.processors.insert(
            "filter",
            Box::new(|config: &ComponentConfig| {
                Ok(ProcessorInstance::Filter(Box::new(FilterProcessor::from_config(config)?)))
            }),
        );
        registry.processors.insert(
            "redaction",
            Box::new(|config: &ComponentConfig| {
                Ok(ProcessorInstance::Redaction(Box::new(RedactionProcessor::from_config(config)?)))
            }),
        );
        registry.processors.insert(
            "probabilistic_sampler",
            Box::new(|config: &ComponentConfig| {
                let sampler = ProbabilisticSamplerProcessor::from_config(config)?;
                Ok(ProcessorInstance::ProbabilisticSampler(Box::new(sampler)))
            }),
        );
        registry
    }

    /// Adds a user's processor type. A type registered twice keeps the later one, so a user may replace a
    /// built-in on purpose.
    pub fn with_processor<P: ProcessorFactory>(mut self) -> Self {
        self.processors.insert(
            P::TYPE,
            Box::new(|config: &ComponentConfig| {
                let settings: P::Config = config.deserialize()?;
                P::validate(&settings).map_err(|message| config.error(message))?;
                let processor = P::create(settings).map_err(|e| config.error(format!("cannot be created: {e}")))?;
                Ok(ProcessorInstance::Custom(Box::new(processor)))
            }),
        );
        self
    }

    /// The processor type names known to this registry, sorted.
    pub fn processor_types(&self) -> Vec<&'static str> {
        self.processors.keys().copied().collect()
    }

    pub fn build_processor(
        &self,
        id: &ComponentId,
        config: &ComponentConfig,
    ) -> Result<ProcessorInstance, ConfigError> {
        match self.processors.get(id.type_name.as_str()) {
            Some(build) => build(config),
            None => Err(unknown_type(config, "processor", id, &self.processor_types())),
        }
    }

    pub fn build_exporter(&self, id: &ComponentId, config: &ComponentConfig) -> Result<Exporter, ConfigError> {
        match id.type_name.as_str() {
            "otlp" => {
                let settings: OtlpGrpcConfig = config.deserialize()?;
                settings.retry_on_failure.validate().map_err(|message| config.error(message))?;
                let exporter = OtlpGrpcExporter::new(&settings).map_err(|message| config.error(message))?;
                Ok(Exporter::OtlpGrpc {
                    exporter: Box::new(exporter),
                    retry: settings.retry_on_failure,
                    queue: settings.sending_queue,
                })
            }
            "otlphttp" => {
                let settings: OtlpHttpConfig = config.deserialize()?;
                settings.retry_on_failure.validate().map_err(|message| config.error(message))?;
                let exporter = OtlpHttpExporter::new(&settings).map_err(|message| config.error(message))?;
                Ok(Exporter::OtlpHttp {
                    exporter: Box::new(exporter),
                    retry: settings.retry_on_failure,
                    queue: settings.sending_queue,
                })
            }
            "debug" => {
                let settings: DebugConfig = config.deserialize()?;
                Ok(Exporter::Debug(DebugExporter::new(&settings)))
            }
            _ => Err(unknown_type(config, "exporter", id, EXPORTER_TYPES)),
        }
    }

    pub fn build_receiver(&self, id: &ComponentId, config: &ComponentConfig) -> Result<ReceiverConfig, ConfigError> {
        match id.type_name.as_str() {
            "telemetryapi" => {
                let settings: TelemetryApiConfig = config.deserialize()?;
                settings.validate().map_err(|message| config.error(message))?;
                Ok(ReceiverConfig::TelemetryApi(settings))
            }
            "otlp" => {
                let settings: OtlpReceiverConfig = config.deserialize()?;
                settings.validate().map_err(|(key, message)| config.error_at(key, message))?;
                Ok(ReceiverConfig::Otlp(settings))
            }
            _ => Err(unknown_type(config, "receiver", id, RECEIVER_TYPES)),
        }
    }
}

fn unknown_type(config: &ComponentConfig, kind: &str, id: &ComponentId, known: &[&str]) -> ConfigError {
    config.error(format!("unknown {kind} type {:?} (lambdatel has: {})", id.type_name, known.join(", ")))
}
