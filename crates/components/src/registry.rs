//! The registry of component factories, keyed by type name.
//!
//! Every component, built-in or a user's, is registered through a factory trait: [`ReceiverFactory`],
//! [`ProcessorFactory`] or [`ExporterFactory`]. A factory names its type, its settings (a `Default`
//! overlaid by the YAML), an optional `validate` and `create`; both get the component's place in the
//! config so an error can point at a nested key with its file, line and column. `Registry::builtin()` is
//! one registration line per built-in, and the conformance test runs over everything registered.

use std::collections::{BTreeMap, BTreeSet};

use lambdatel_config::{ComponentConfig, ComponentId, Config, ConfigError};
use lambdatel_pipeline::Processor;
use serde::de::DeserializeOwned;

use crate::{
    exporters::{
        AwsEmfExporter, AwsXrayExporter, DebugExporter, Exporter, LoggingExporter, OtlpGrpcExporter, OtlpHttpExporter,
    },
    processors::ProcessorInstance,
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
/// without I/O or blocking, and never panic (see [`lambdatel_pipeline::processor`]: a panic ends the
/// extension). A new instance is created for each use of the processor in a pipeline. The built-in
/// processors implement this same trait; a type name already registered (a built-in's, say) is refused.
///
/// # Example
///
/// ```
/// use lambdatel_components::{ProcessorFactory, Registry};
/// use lambdatel_config::{ComponentConfig, ComponentId, Config, ConfigError};
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
///     fn validate(config: &TeamConfig, at: &ComponentConfig) -> Result<(), ConfigError> {
///         // `error_at` points at a nested key, with its line and column.
///         if config.name.is_empty() { Err(at.error_at("name", "name is required")) } else { Ok(()) }
///     }
///
///     fn create(config: TeamConfig, _at: &ComponentConfig) -> Result<Self, ConfigError> {
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
/// assert_eq!(error.to_string(), "<config>: processors.team/a.name: name is required");
/// ```
pub trait ProcessorFactory: Processor + Sized + 'static {
    /// The name used in the config file, e.g. `tenant`.
    const TYPE: &'static str;
    /// A config under which the processor does its work, for documentation and the conformance test;
    /// empty when the defaults do.
    const EXAMPLE: &'static str = "";
    /// The processor's settings. Missing keys keep `Default` values; mark it
    /// `#[serde(default, deny_unknown_fields)]` so typos are reported.
    type Config: DeserializeOwned + Default;
    /// Checks a config beyond its types. `at` is the component's place in the config: `at.error(..)`
    /// reports at the component, `at.error_at("key.sub[0]", ..)` at a nested key.
    fn validate(_config: &Self::Config, _at: &ComponentConfig) -> Result<(), ConfigError> {
        Ok(())
    }
    /// Warnings about a config that loads but does not mean exactly what it says in the Collector (a
    /// mapped name, an ignored key). Reported once per component each time a config is loaded.
    fn warnings(_config: &Self::Config, _at: &ComponentConfig) -> Vec<ConfigError> {
        Vec::new()
    }
    /// Builds the processor; errors are reported like `validate`'s.
    fn create(config: Self::Config, at: &ComponentConfig) -> Result<Self, ConfigError>;
    /// Reads, validates and creates the processor from its place in the config.
    fn from_config(at: &ComponentConfig) -> Result<Self, ConfigError> {
        let config: Self::Config = at.deserialize()?;
        Self::validate(&config, at)?;
        Self::create(config, at)
    }
    /// The largest export request, in items, the pipelines using this processor may send (the `batch`
    /// processor's `send_batch_max_size`); `None` leaves requests unbounded.
    fn max_request_items(&self) -> Option<usize> {
        None
    }
}

/// A receiver type: its settings and how they are checked. Receivers own network listeners and lifecycle
/// hooks, so `create` returns the validated settings as a [`ReceiverConfig`] variant, which the receiver
/// runtime binds and starts.
pub trait ReceiverFactory: Sized + 'static {
    /// The name used in the config file.
    const TYPE: &'static str;
    /// A config under which the receiver works, for the conformance test; empty when the defaults do.
    const EXAMPLE: &'static str = "";
    /// The receiver's settings.
    type Config: DeserializeOwned + Default;
    /// Checks a config beyond its types (see [`ProcessorFactory::validate`]).
    fn validate(_config: &Self::Config, _at: &ComponentConfig) -> Result<(), ConfigError> {
        Ok(())
    }
    /// Warnings about a config that loads but does not mean exactly what it says in the Collector (a
    /// mapped name, an ignored key). Reported once per component each time a config is loaded.
    fn warnings(_config: &Self::Config, _at: &ComponentConfig) -> Vec<ConfigError> {
        Vec::new()
    }
    /// The receiver's validated settings.
    fn create(config: Self::Config, at: &ComponentConfig) -> Result<ReceiverConfig, ConfigError>;
}

/// An exporter type: its settings, how they are checked and how the exporter is built.
pub trait ExporterFactory: Sized + 'static {
    /// The name used in the config file.
    const TYPE: &'static str;
    /// A config under which the exporter works, for the conformance test; empty when the defaults do.
    const EXAMPLE: &'static str = "";
    /// The exporter's settings.
    type Config: DeserializeOwned + Default;
    /// Checks a config beyond its types (see [`ProcessorFactory::validate`]).
    fn validate(_config: &Self::Config, _at: &ComponentConfig) -> Result<(), ConfigError> {
        Ok(())
    }
    /// Warnings about a config that loads but does not mean exactly what it says in the Collector (a
    /// mapped name, an ignored key). Reported once per component each time a config is loaded.
    fn warnings(_config: &Self::Config, _at: &ComponentConfig) -> Vec<ConfigError> {
        Vec::new()
    }
    /// Builds the exporter (connections are made lazily, at the first export).
    fn create(config: Self::Config, at: &ComponentConfig) -> Result<Exporter, ConfigError>;
}

/// Deserializes, validates and creates through a factory's three steps.
macro_rules! builder {
    ($factory:ty, $into:expr) => {
        Entry {
            order: 0,
            example: <$factory>::EXAMPLE,
            build: Box::new(|at: &ComponentConfig| {
                let config = at.deserialize()?;
                <$factory>::validate(&config, at)?;
                <$factory>::create(config, at).map($into)
            }),
            // A config that does not deserialize has an error reported by `build` instead.
            warnings: Box::new(|at: &ComponentConfig| {
                at.deserialize().map(|config| <$factory>::warnings(&config, at)).unwrap_or_default()
            }),
        }
    };
}

type Build<T> = Box<dyn Fn(&ComponentConfig) -> Result<T, ConfigError> + Send + Sync>;
type Warn = Box<dyn Fn(&ComponentConfig) -> Vec<ConfigError> + Send + Sync>;

/// One registered type: how to build it and the config its conformance test uses.
struct Entry<T> {
    /// Registration order, in which receiver and exporter types are listed.
    order: usize,
    example: &'static str,
    build: Build<T>,
    warnings: Warn,
}

/// A receiver's validated settings; the extension binds it (receivers need the network, built later).
#[derive(Debug, Clone, PartialEq)]
pub enum ReceiverConfig {
    /// `telemetryapi`: the Lambda Telemetry API (or Logs API) listener.
    TelemetryApi(TelemetryApiConfig),
    /// `otlp`: an OTLP gRPC and/or HTTP listener for the function's own SDK.
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

/// The kinds of component, for messages and the conformance test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Receivers.
    Receiver,
    /// Processors.
    Processor,
    /// Exporters.
    Exporter,
}

impl Kind {
    /// `receiver`, `processor` or `exporter`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Receiver => "receiver",
            Kind::Processor => "processor",
            Kind::Exporter => "exporter",
        }
    }
}

/// Every component type the extension can build.
pub struct Registry {
    receivers: BTreeMap<&'static str, Entry<ReceiverConfig>>,
    processors: BTreeMap<&'static str, Entry<ProcessorInstance>>,
    exporters: BTreeMap<&'static str, Entry<Exporter>>,
    /// Types registered twice, refused when a graph is built.
    duplicates: Vec<(Kind, &'static str)>,
}

impl Registry {
    /// The built-in components: receivers and exporters one line each here, processors one line each in
    /// `processors/mod.rs`.
    pub fn builtin() -> Self {
        let registry = Registry::empty().with_receiver::<TelemetryApiConfig>().with_receiver::<OtlpReceiverConfig>();
        crate::processors::register_builtins(registry)
            .with_exporter::<OtlpGrpcExporter>()
            .with_exporter::<OtlpHttpExporter>()
            .with_exporter::<DebugExporter>()
            .with_exporter::<LoggingExporter>()
            .with_exporter::<AwsEmfExporter>()
            .with_exporter::<AwsXrayExporter>()
    }

    /// A registry without any component.
    pub fn empty() -> Self {
        Registry {
            receivers: BTreeMap::new(),
            processors: BTreeMap::new(),
            exporters: BTreeMap::new(),
            duplicates: Vec::new(),
        }
    }

    /// Adds a user's processor type. A type name already registered (a built-in's, say) is refused: the
    /// extension then reports it and does not start, rather than silently replacing a built-in.
    pub fn with_processor<P: ProcessorFactory>(mut self) -> Self {
        if self.processors.contains_key(P::TYPE) {
            self.duplicates.push((Kind::Processor, P::TYPE));
        } else {
            let order = self.processors.len();
            self.processors.insert(P::TYPE, Entry { order, ..builder!(P, ProcessorInstance::from_factory) });
        }
        self
    }

    /// Adds a receiver type (refused like a duplicate processor type).
    pub fn with_receiver<R: ReceiverFactory>(mut self) -> Self {
        if self.receivers.contains_key(R::TYPE) {
            self.duplicates.push((Kind::Receiver, R::TYPE));
        } else {
            let order = self.receivers.len();
            self.receivers.insert(R::TYPE, Entry { order, ..builder!(R, std::convert::identity) });
        }
        self
    }

    /// Adds an exporter type (refused like a duplicate processor type).
    pub fn with_exporter<E: ExporterFactory>(mut self) -> Self {
        if self.exporters.contains_key(E::TYPE) {
            self.duplicates.push((Kind::Exporter, E::TYPE));
        } else {
            let order = self.exporters.len();
            self.exporters.insert(E::TYPE, Entry { order, ..builder!(E, std::convert::identity) });
        }
        self
    }

    /// Types registered more than once, as errors; empty for a sound registry.
    pub fn registration_errors(&self) -> Vec<ConfigError> {
        self.duplicates
            .iter()
            .map(|(kind, name)| ConfigError {
                file: None,
                path: String::new(),
                line: None,
                column: None,
                message: format!(
                    "{} type {name:?} is registered twice: a type name cannot be reused (rename the custom one)",
                    kind.as_str()
                ),
            })
            .collect()
    }

    /// The type names of one kind known to this registry: processors sorted by name, receivers and
    /// exporters in registration order (the built-ins first, as the documentation lists them).
    pub fn types(&self, kind: Kind) -> Vec<&'static str> {
        match kind {
            Kind::Receiver => in_order(&self.receivers),
            Kind::Processor => self.processors.keys().copied().collect(),
            Kind::Exporter => in_order(&self.exporters),
        }
    }

    /// The config a type's conformance test uses (its `EXAMPLE`), if the type is registered.
    pub fn example(&self, kind: Kind, type_name: &str) -> Option<&'static str> {
        match kind {
            Kind::Receiver => self.receivers.get(type_name).map(|e| e.example),
            Kind::Processor => self.processors.get(type_name).map(|e| e.example),
            Kind::Exporter => self.exporters.get(type_name).map(|e| e.example),
        }
    }

    /// The processor type names known to this registry, sorted.
    pub fn processor_types(&self) -> Vec<&'static str> {
        self.types(Kind::Processor)
    }

    /// Builds a processor instance from its place in the config.
    pub fn build_processor(
        &self,
        id: &ComponentId,
        config: &ComponentConfig,
    ) -> Result<ProcessorInstance, ConfigError> {
        build(&self.processors, Kind::Processor, id, config)
    }

    /// Builds an exporter instance from its place in the config.
    pub fn build_exporter(&self, id: &ComponentId, config: &ComponentConfig) -> Result<Exporter, ConfigError> {
        build(&self.exporters, Kind::Exporter, id, config)
    }

    /// The warnings of every component a pipeline uses (see [`ProcessorFactory::warnings`]), each once
    /// however many pipelines use it, in the config's order of kinds and ids.
    pub fn warnings(&self, config: &Config) -> Vec<ConfigError> {
        let used = |pick: fn(&lambdatel_config::PipelineConfig) -> &Vec<ComponentId>| {
            config.pipelines.values().flat_map(pick).collect::<BTreeSet<&ComponentId>>()
        };
        let mut warnings = Vec::new();
        for id in used(|p| &p.receivers) {
            warnings.extend(warnings_of(&self.receivers, id, config.receivers.get(id)));
        }
        for id in used(|p| &p.processors) {
            warnings.extend(warnings_of(&self.processors, id, config.processors.get(id)));
        }
        for id in used(|p| &p.exporters) {
            warnings.extend(warnings_of(&self.exporters, id, config.exporters.get(id)));
        }
        warnings
    }

    /// Checks a receiver's settings from its place in the config.
    pub fn build_receiver(&self, id: &ComponentId, config: &ComponentConfig) -> Result<ReceiverConfig, ConfigError> {
        build(&self.receivers, Kind::Receiver, id, config)
    }
}

fn in_order<T>(entries: &BTreeMap<&'static str, Entry<T>>) -> Vec<&'static str> {
    let mut types: Vec<(usize, &'static str)> = entries.iter().map(|(name, e)| (e.order, *name)).collect();
    types.sort_unstable();
    types.into_iter().map(|(_, name)| name).collect()
}

fn warnings_of<T>(
    entries: &BTreeMap<&'static str, Entry<T>>,
    id: &ComponentId,
    config: Option<&ComponentConfig>,
) -> Vec<ConfigError> {
    match (entries.get(id.type_name.as_str()), config) {
        (Some(entry), Some(config)) => (entry.warnings)(config),
        _ => Vec::new(),
    }
}

fn build<T>(
    entries: &BTreeMap<&'static str, Entry<T>>,
    kind: Kind,
    id: &ComponentId,
    config: &ComponentConfig,
) -> Result<T, ConfigError> {
    match entries.get(id.type_name.as_str()) {
        Some(entry) => (entry.build)(config),
        None => {
            let known = match kind {
                Kind::Processor => entries.keys().copied().collect(),
                Kind::Receiver | Kind::Exporter => in_order(entries),
            };
            Err(config.error(format!(
                "unknown {} type {:?} (lambdatel has: {})",
                kind.as_str(),
                id.type_name,
                known.join(", ")
            )))
        }
    }
}
