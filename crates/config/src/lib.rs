//! lambdatel's configuration: the OpenTelemetry Collector's YAML shape, knowing no concrete
//! component.
//!
//! [`parse`] and [`load_file`] read `receivers`, `processors`, `exporters` (maps of
//! `type[/name]` ids to settings), `service.pipelines` (named `traces`, `metrics`, `logs`,
//! optionally `type/name`), `service.telemetry` and the extension's own top-level `lambdatel`
//! section; `extensions` are accepted and ignored with a warning. They expand `${env:VAR}` references, check the pipeline graph, and collect every
//! error with its file, key path, line and column. Each component's settings stay a
//! [`ComponentConfig`] that the registry deserializes into the component's own `Config` type.
//!
//! # Scalar typing
//!
//! Plain YAML scalars follow the YAML 1.2 core schema (`42` is a number, `true` a boolean,
//! `~`/`null`/empty is null); quoted, block (`|`, `>`) and `!!str` scalars are strings.
//! After `${...}` expansion, a plain scalar that was exactly one reference (`port: ${env:PORT}`)
//! is typed from its expanded text, so it can become a number or boolean; an empty expansion
//! stays the empty string rather than null. A scalar with a reference inside other text
//! (`endpoint: host:${env:PORT}`) is always a string. Keys are never expanded.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use lambdatel_config::{parse, ComponentId};
//!
//! /// A component's own settings: defaults overlaid by the YAML, unknown keys rejected.
//! #[derive(Debug, Default, serde::Deserialize)]
//! #[serde(default, deny_unknown_fields)]
//! struct OtlpExporter {
//!     endpoint: String,
//!     #[serde(with = "lambdatel_config::duration_serde")]
//!     timeout: Duration,
//! }
//!
//! let yaml = "
//! receivers:
//!   telemetryapi:
//! exporters:
//!   otlp:
//!     endpoint: ${env:ENDPOINT:-localhost:4317}
//!     timeout: 2s
//! service:
//!   pipelines:
//!     traces:
//!       receivers: [telemetryapi]
//!       exporters: [otlp]
//! ";
//! let config = parse(yaml, Some("config.yaml"), &|_| None).unwrap();
//! let otlp = &config.exporters[&ComponentId::parse("otlp").unwrap()];
//! let settings: OtlpExporter = otlp.deserialize().unwrap();
//! assert_eq!(settings.endpoint, "localhost:4317");
//! assert_eq!(settings.timeout, Duration::from_secs(2));
//!
//! // Errors are collected and located.
//! let errors = parse("service:\n  pipelines:\n    traces:\n      receivers: [nope]\n", Some("config.yaml"), &|_| None)
//!     .unwrap_err();
//! assert_eq!(
//!     errors.to_string(),
//!     "config.yaml:3:5: service.pipelines.traces: pipeline has no exporters; list at least one under exporters\n\
//!      config.yaml:4:19: service.pipelines.traces.receivers[0]: receiver \"nope\" is not defined in receivers"
//! );
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod component;
mod duration;
mod env;
pub use env::{no_references, ReferenceResolver, SECRET_PROVIDERS};
mod error;
mod id;
mod yaml;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

pub use component::ComponentConfig;
pub use duration::{duration_serde, format_duration, parse_duration};
pub use error::{ConfigError, ConfigErrors};
pub use id::{ComponentId, PipelineId, Signal};

use yaml::{Mark, Node, NodeValue};

/// A parsed and checked configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Receivers by id, with their raw settings.
    pub receivers: BTreeMap<ComponentId, ComponentConfig>,
    /// Processors by id, with their raw settings.
    pub processors: BTreeMap<ComponentId, ComponentConfig>,
    /// Exporters by id, with their raw settings.
    pub exporters: BTreeMap<ComponentId, ComponentConfig>,
    /// Pipelines by id; every component they name is defined above.
    pub pipelines: BTreeMap<PipelineId, PipelineConfig>,
    /// Extensions (authenticators and the Collector's ignored ones) by id, with their raw settings.
    pub extensions: BTreeMap<ComponentId, ComponentConfig>,
    /// `service.extensions`: the extensions switched on, each defined in `extensions`.
    pub service_extensions: Vec<ComponentId>,
    /// The `service.telemetry` section (the extension's own logging), if written.
    pub telemetry: Option<ComponentConfig>,
    /// The top-level `lambdatel` section (the extension's own settings, which this crate does
    /// not interpret), if written.
    pub settings: Option<ComponentConfig>,
    /// Problems that do not stop loading (unused components, unset variables, ignored
    /// sections), formatted like errors: `file:line:column: key.path: message`.
    pub warnings: Vec<String>,
    /// The file the configuration came from, when known.
    pub source: Option<String>,
    /// `${env:NAME}` references to unset variables (expanded to nothing), with the key path where each
    /// is written, so an error they cause can name them.
    pub unset_variables: Vec<UnsetVariable>,
}

/// An `${env:NAME}` reference to a variable that is not set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsetVariable {
    /// The key path of the value that references it, e.g. `exporters.otlp.endpoint`.
    pub path: String,
    /// The variable's name.
    pub name: String,
}

impl Config {
    /// Adds the unset variables behind an error to its message: an error about a key, or about the
    /// component or section that holds it, names every unset variable written there.
    pub fn explain(&self, mut error: ConfigError) -> ConfigError {
        let related = |path: &str| {
            !error.path.is_empty()
                && (path == error.path
                    || path.strip_prefix(error.path.as_str()).is_some_and(|rest| rest.starts_with(['.', '[']))
                    || error.path.strip_prefix(path).is_some_and(|rest| rest.starts_with(['.', '['])))
        };
        let names: Vec<String> = self
            .unset_variables
            .iter()
            .filter(|v| related(&v.path))
            .map(|v| format!("\"{}\" (at {})", v.name, v.path))
            .collect();
        if !names.is_empty() {
            error.message = format!("{}; unset environment variable {}", error.message, names.join(", "));
        }
        error
    }
}

/// One pipeline: where data enters, how it is processed (in order), and where it goes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PipelineConfig {
    /// Receivers feeding the pipeline (at least one).
    pub receivers: Vec<ComponentId>,
    /// Processors applied in order (possibly none).
    pub processors: Vec<ComponentId>,
    /// Exporters receiving the processed data (at least one).
    pub exporters: Vec<ComponentId>,
}

/// Parses and checks a configuration text.
///
/// `source` names the file in errors and warnings; `env` looks up environment variables (pass
/// `&|name| std::env::var(name).ok()` for the process environment). All problems found are
/// returned together, sorted by position.
pub fn parse(yaml: &str, source: Option<&str>, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigErrors> {
    match parse_partial(yaml, source, env) {
        (Some(config), errors) if errors.0.is_empty() => Ok(config),
        (_, errors) => Err(errors),
    }
}

/// [`parse`], but also returning the configuration as far as it could be read when it has errors, so
/// that later stages (component settings) can be checked in the same pass and every error reported at
/// once. The config is `None` only when the text is not a YAML document at all.
pub fn parse_partial(
    yaml: &str,
    source: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> (Option<Config>, ConfigErrors) {
    parse_partial_with(yaml, source, env, &no_references)
}

/// [`parse_partial`] with `${secretsmanager:...}` and `${ssm:...}` references resolved by `resolver`. Values
/// from a reference are secrets: errors about them and `Debug` output never show them.
pub fn parse_partial_with(
    yaml: &str,
    source: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
    resolver: ReferenceResolver,
) -> (Option<Config>, ConfigErrors) {
    let mut ctx = Ctx {
        source: source.map(str::to_owned),
        errors: Vec::new(),
        warnings: Vec::new(),
        unset_variables: Vec::new(),
        broken_sections: BTreeSet::new(),
    };
    let mut root = match yaml::load(yaml) {
        Ok(Some(root)) => root,
        Ok(None) => {
            ctx.error("", None, "the configuration is empty; it needs receivers, exporters and service.pipelines");
            return (None, ConfigErrors(ctx.errors));
        }
        Err(e) => {
            ctx.error("", Some(e.mark), format!("invalid YAML: {}", e.message));
            return (None, ConfigErrors(ctx.errors));
        }
    };
    expand_tree(&mut root, "", env, resolver, &mut ctx);
    let mut config = build(&root, &mut ctx);
    config.warnings = std::mem::take(&mut ctx.warnings);
    config.unset_variables = std::mem::take(&mut ctx.unset_variables);
    let mut errors = ConfigErrors(ctx.errors);
    errors.sort();
    (Some(config), errors)
}

/// Reads and parses a configuration file; errors name the file as given in `path`.
pub fn load_file(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigErrors> {
    match load_file_partial(path, env) {
        (Some(config), errors) if errors.0.is_empty() => Ok(config),
        (_, errors) => Err(errors),
    }
}

/// [`load_file`] as [`parse_partial`] does it: the configuration as far as it could be read, and every
/// error found.
pub fn load_file_partial(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> (Option<Config>, ConfigErrors) {
    let name = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => parse_partial(&text, Some(&name), env),
        Err(e) => (
            None,
            ConfigError {
                file: Some(name),
                path: String::new(),
                line: None,
                column: None,
                message: format!("cannot read the configuration file: {e}"),
            }
            .into(),
        ),
    }
}

impl ComponentConfig {
    /// Parses one component's settings on their own, e.g. for a component's YAML-snippet tests
    /// or a tool: `ComponentConfig::from_yaml("exporters.otlp", "endpoint: x:4317\n", &|_| None)`.
    ///
    /// `key_path` prefixes error paths; `yaml` is the component's settings map (or empty for
    /// none); `${...}` references are expanded with `env`. Lines count from the snippet's start.
    pub fn from_yaml(
        key_path: &str,
        yaml: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ComponentConfig, ConfigErrors> {
        let mut ctx = Ctx {
            source: None,
            errors: Vec::new(),
            warnings: Vec::new(),
            broken_sections: BTreeSet::new(),
            unset_variables: Vec::new(),
        };
        let mut node = match yaml::load(yaml) {
            Ok(node) => node,
            Err(e) => {
                ctx.error(key_path, Some(e.mark), format!("invalid YAML: {}", e.message));
                return Err(ConfigErrors(ctx.errors));
            }
        };
        if let Some(node) = &mut node {
            if !matches!(node.value, NodeValue::Map(_)) {
                ctx.error(key_path, Some(node.mark), format!("expected a map of settings, found {}", node.kind()));
            }
            expand_tree(node, key_path, env, &no_references, &mut ctx);
        }
        if !ctx.errors.is_empty() {
            return Err(ConfigErrors(ctx.errors));
        }
        let mark = node.as_ref().map(|n| n.mark);
        Ok(ComponentConfig::new(node, key_path.to_owned(), mark, None))
    }
}

struct Ctx {
    source: Option<String>,
    errors: Vec<ConfigError>,
    warnings: Vec<String>,
    unset_variables: Vec<UnsetVariable>,
    /// Component sections that are not maps (already reported).
    broken_sections: BTreeSet<String>,
}

impl Ctx {
    fn located(&self, path: &str, mark: Option<Mark>, message: String) -> ConfigError {
        ConfigError {
            file: self.source.clone(),
            path: path.to_owned(),
            line: mark.map(|m| m.line),
            column: mark.map(|m| m.col),
            message,
        }
    }

    fn error(&mut self, path: &str, mark: Option<Mark>, message: impl Into<String>) {
        let e = self.located(path, mark, message.into());
        self.errors.push(e);
    }

    fn warn(&mut self, path: &str, mark: Option<Mark>, message: impl Into<String>) {
        let w = self.located(path, mark, message.into()).to_string();
        self.warnings.push(w);
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Expands `${...}` in every scalar value and checks map keys (strings, no duplicates).
fn expand_tree(
    node: &mut Node,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
    resolver: ReferenceResolver,
    ctx: &mut Ctx,
) {
    let mark = node.mark;
    match &mut node.value {
        NodeValue::Scalar { text, typed, from_env, secret } => {
            if !text.contains('$') {
                return;
            }
            match env::expand(text, env, resolver) {
                Ok(expanded) => {
                    for name in &expanded.unset {
                        ctx.unset_variables.push(UnsetVariable { path: path.to_owned(), name: name.clone() });
                        ctx.warn(
                            path,
                            Some(mark),
                            format!("environment variable \"{name}\" is not set; using an empty string"),
                        );
                    }
                    *typed =
                        *typed && (expanded.references == 0 || (expanded.whole_reference && !expanded.text.is_empty()));
                    *from_env = *typed && expanded.whole_reference;
                    *secret = expanded.secret;
                    *text = expanded.text;
                }
                Err(message) => ctx.error(path, Some(mark), message),
            }
        }
        NodeValue::Seq(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                expand_tree(item, &format!("{path}[{i}]"), env, resolver, ctx);
            }
        }
        NodeValue::Map(entries) => {
            let mut seen = BTreeSet::new();
            for (key, value) in entries.iter_mut() {
                let Some(key_text) = key.as_text().map(str::to_owned) else {
                    ctx.error(path, Some(key.mark), format!("map keys must be strings, found {}", key.kind()));
                    continue;
                };
                let child = join(path, &key_text);
                if !seen.insert(key_text.clone()) {
                    ctx.error(
                        &child,
                        Some(key.mark),
                        format!("duplicate key \"{key_text}\"; each key may appear only once"),
                    );
                }
                expand_tree(value, &child, env, resolver, ctx);
            }
        }
    }
}

/// Component sections in the order they are checked and reported.
const SECTIONS: [(&str, &str); 3] = [("receivers", "receiver"), ("processors", "processor"), ("exporters", "exporter")];

fn entries(node: &Node) -> &[(Node, Node)] {
    match &node.value {
        NodeValue::Map(entries) => entries,
        _ => &[],
    }
}

fn build(root: &Node, ctx: &mut Ctx) -> Config {
    let mut config = Config {
        receivers: BTreeMap::new(),
        processors: BTreeMap::new(),
        exporters: BTreeMap::new(),
        pipelines: BTreeMap::new(),
        extensions: BTreeMap::new(),
        service_extensions: Vec::new(),
        telemetry: None,
        settings: None,
        warnings: Vec::new(),
        source: ctx.source.clone(),
        unset_variables: Vec::new(),
    };
    if !matches!(root.value, NodeValue::Map(_)) {
        ctx.error(
            "",
            Some(root.mark),
            format!("the configuration must be a map with receivers, exporters and service, found {}", root.kind()),
        );
        return config;
    }
    let mut service = None;
    for (key, value) in entries(root) {
        let Some(name) = key.as_text() else { continue };
        match name {
            "receivers" => config.receivers = components(value, key.mark, "receiver", name, ctx),
            "processors" => {
                config.processors = components(value, key.mark, "processor", name, ctx)
            }
            "exporters" => config.exporters = components(value, key.mark, "exporter", name, ctx),
            "extensions" => config.extensions = components(value, key.mark, "extension", name, ctx),
            "service" => service = Some((key, value)),
            "lambdatel" => config.settings = settings_section(key, value, name.to_owned(), ctx),
            "connectors" => ctx.error(
                name,
                Some(key.mark),
                "connectors are not supported by lambdatel",
            ),
            other => ctx.error(
                other,
                Some(key.mark),
                format!(
                    "unknown top-level key \"{other}\"; expected receivers, processors, exporters, extensions, service or lambdatel"
                ),
            ),
        }
    }
    let mut used = BTreeSet::new();
    match service {
        None => ctx.error("service", None, "missing; define service.pipelines with at least one pipeline"),
        Some((key, value)) => {
            let service = service_section(key, value, &config, &mut used, ctx);
            config.pipelines = service.pipelines;
            config.telemetry = service.telemetry;
            config.service_extensions = service.extensions;
        }
    }
    for ((section, singular), map) in SECTIONS.iter().zip([&config.receivers, &config.processors, &config.exporters]) {
        for (id, component) in map {
            if !used.contains(&(*section, id.clone())) {
                ctx.warn(
                    component.key_path(),
                    component.mark(),
                    format!("{singular} \"{id}\" is defined but not used in any pipeline"),
                );
            }
        }
    }
    config
}

fn components(
    node: &Node,
    key_mark: Mark,
    singular: &str,
    section: &str,
    ctx: &mut Ctx,
) -> BTreeMap<ComponentId, ComponentConfig> {
    let mut out = BTreeMap::new();
    if node.is_null() {
        return out;
    }
    if !matches!(node.value, NodeValue::Map(_)) {
        ctx.error(
            section,
            Some(key_mark),
            format!("expected a map of {singular} ids to their settings, found {}", node.kind()),
        );
        // Its ids are unknown: checking pipeline references against it would only add noise.
        ctx.broken_sections.insert(section.to_owned());
        return out;
    }
    for (key, value) in entries(node) {
        let Some(text) = key.as_text() else { continue };
        let path = join(section, text);
        let id = match ComponentId::parse_as(text, &format!("{singular} id")) {
            Ok(id) => id,
            Err(message) => {
                ctx.error(&path, Some(key.mark), message);
                continue;
            }
        };
        let settings = if value.is_null() {
            None
        } else if matches!(value.value, NodeValue::Map(_)) {
            Some(value.clone())
        } else {
            ctx.error(
                &path,
                Some(value.mark),
                format!("expected a map of settings (or nothing), found {}", value.kind()),
            );
            // Still defined: pipelines naming it should not also report it as missing.
            None
        };
        let component = ComponentConfig::new(settings, path, Some(key.mark), ctx.source.clone());
        out.entry(id).or_insert(component);
    }
    out
}

type Used = BTreeSet<(&'static str, ComponentId)>;

/// What the `service` section holds.
#[derive(Default)]
struct Service {
    pipelines: BTreeMap<PipelineId, PipelineConfig>,
    telemetry: Option<ComponentConfig>,
    extensions: Vec<ComponentId>,
}

fn service_section(key: &Node, node: &Node, config: &Config, used: &mut Used, ctx: &mut Ctx) -> Service {
    let mut service = Service::default();
    if !matches!(node.value, NodeValue::Map(_)) {
        let message = if node.is_null() {
            "is empty; define service.pipelines with at least one pipeline".to_owned()
        } else {
            format!("expected a map with pipelines, found {}", node.kind())
        };
        ctx.error("service", Some(key.mark), message);
        return service;
    }
    let mut saw_pipelines = false;
    for (k, value) in entries(node) {
        let Some(name) = k.as_text() else { continue };
        let path = join("service", name);
        match name {
            "pipelines" => {
                saw_pipelines = true;
                service.pipelines = pipelines_section(k, value, config, used, ctx);
            }
            "telemetry" => service.telemetry = settings_section(k, value, path, ctx),
            "extensions" => {
                let mut listed = Vec::new();
                id_list(value, k.mark, &path, "extensions", "extension", &config.extensions, &mut listed, used, ctx);
                service.extensions = listed;
            }
            other => ctx.error(
                &path,
                Some(k.mark),
                format!("unknown key \"{other}\" in service; expected pipelines, telemetry or extensions"),
            ),
        }
    }
    if !saw_pipelines {
        ctx.error("service", Some(key.mark), "has no pipelines; define at least one under service.pipelines");
    }
    service
}

/// A section of settings interpreted by someone else (a map, or nothing).
fn settings_section(key: &Node, value: &Node, path: String, ctx: &mut Ctx) -> Option<ComponentConfig> {
    if value.is_null() || matches!(value.value, NodeValue::Map(_)) {
        let settings = (!value.is_null()).then(|| value.clone());
        Some(ComponentConfig::new(settings, path, Some(key.mark), ctx.source.clone()))
    } else {
        ctx.error(&path, Some(value.mark), format!("expected a map of settings, found {}", value.kind()));
        None
    }
}

fn pipelines_section(
    key: &Node,
    node: &Node,
    config: &Config,
    used: &mut Used,
    ctx: &mut Ctx,
) -> BTreeMap<PipelineId, PipelineConfig> {
    let mut out = BTreeMap::new();
    let path = "service.pipelines";
    if !matches!(node.value, NodeValue::Map(_)) {
        let message = if node.is_null() {
            "no pipelines are defined; define at least one, e.g. traces".to_owned()
        } else {
            format!("expected a map of pipeline ids to pipelines, found {}", node.kind())
        };
        ctx.error(path, Some(key.mark), message);
        return out;
    }
    if entries(node).is_empty() {
        ctx.error(path, Some(key.mark), "no pipelines are defined; define at least one, e.g. traces");
    }
    for (k, value) in entries(node) {
        let Some(name) = k.as_text() else { continue };
        let pipeline_path = join(path, name);
        let id = match PipelineId::parse(name) {
            Ok(id) => id,
            Err(message) => {
                ctx.error(&pipeline_path, Some(k.mark), message);
                continue;
            }
        };
        if let Some(pipeline) = pipeline(k, value, &pipeline_path, config, used, ctx) {
            out.entry(id).or_insert(pipeline);
        }
    }
    out
}

fn pipeline(
    key: &Node,
    node: &Node,
    path: &str,
    config: &Config,
    used: &mut Used,
    ctx: &mut Ctx,
) -> Option<PipelineConfig> {
    if !node.is_null() && !matches!(node.value, NodeValue::Map(_)) {
        ctx.error(
            path,
            Some(node.mark),
            format!("expected a map with receivers, processors and exporters, found {}", node.kind()),
        );
        return None;
    }
    let mut pipeline = PipelineConfig::default();
    let mut written = [0usize; 3];
    for (k, value) in entries(node) {
        let Some(name) = k.as_text() else { continue };
        let list_path = join(path, name);
        let (index, list) = match name {
            "receivers" => (0, &mut pipeline.receivers),
            "processors" => (1, &mut pipeline.processors),
            "exporters" => (2, &mut pipeline.exporters),
            other => {
                ctx.error(
                    &list_path,
                    Some(k.mark),
                    format!("unknown key \"{other}\" in pipeline; expected receivers, processors or exporters"),
                );
                continue;
            }
        };
        let (section, singular) = SECTIONS[index];
        let defined = [&config.receivers, &config.processors, &config.exporters][index];
        written[index] = id_list(value, k.mark, &list_path, section, singular, defined, list, used, ctx);
    }
    if written[0] == 0 {
        ctx.error(path, Some(key.mark), "pipeline has no receivers; list at least one under receivers");
    }
    if written[2] == 0 {
        ctx.error(path, Some(key.mark), "pipeline has no exporters; list at least one under exporters");
    }
    Some(pipeline)
}

/// Reads a list of component references, checking each is valid, defined and not repeated.
/// Returns how many entries were written, valid or not.
#[allow(clippy::too_many_arguments)]
fn id_list(
    node: &Node,
    key_mark: Mark,
    path: &str,
    section: &'static str,
    singular: &str,
    defined: &BTreeMap<ComponentId, ComponentConfig>,
    out: &mut Vec<ComponentId>,
    used: &mut Used,
    ctx: &mut Ctx,
) -> usize {
    let items = match &node.value {
        NodeValue::Seq(items) => items,
        _ if node.is_null() => return 0,
        _ => {
            ctx.error(path, Some(key_mark), format!("expected a list of {singular} ids, found {}", node.kind()));
            // Something was written; do not also report the list as missing.
            return 1;
        }
    };
    for (i, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{i}]");
        let Some(text) = item.as_text() else {
            ctx.error(&item_path, Some(item.mark), format!("expected a {singular} id, found {}", item.kind()));
            continue;
        };
        let id = match ComponentId::parse_as(text, &format!("{singular} id")) {
            Ok(id) => id,
            Err(message) => {
                ctx.error(&item_path, Some(item.mark), message);
                continue;
            }
        };
        if !defined.contains_key(&id) {
            if ctx.broken_sections.contains(section) {
                continue;
            }
            ctx.error(&item_path, Some(item.mark), format!("{singular} \"{id}\" is not defined in {section}"));
        } else if out.contains(&id) {
            ctx.error(
                &item_path,
                Some(item.mark),
                format!(
                    "{singular} \"{id}\" is listed more than once in {}",
                    if section == "extensions" { "service.extensions" } else { "this pipeline" }
                ),
            );
            continue;
        }
        used.insert((section, id.clone()));
        out.push(id);
    }
    items.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn test_env(name: &str) -> Option<String> {
        match name {
            "PORT" => Some("4317".to_owned()),
            "ENDPOINT" => Some("https://api.example.com".to_owned()),
            "API_KEY" => Some("secret".to_owned()),
            "ENABLED" => Some("true".to_owned()),
            "NUM" => Some("12345".to_owned()),
            "BIG" => Some("70000".to_owned()),
            _ => None,
        }
    }

    fn ok(yaml: &str) -> Config {
        match parse(yaml, Some("c.yaml"), &test_env) {
            Ok(config) => config,
            Err(e) => panic!("unexpected errors:\n{e}"),
        }
    }

    fn errors(yaml: &str) -> String {
        match parse(yaml, Some("c.yaml"), &test_env) {
            Ok(config) => panic!("expected errors, got {config:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn id(s: &str) -> ComponentId {
        ComponentId::parse(s).unwrap()
    }

    fn pid(s: &str) -> PipelineId {
        PipelineId::parse(s).unwrap()
    }

    const MINIMAL: &str = "\
receivers:
  otlp:
exporters:
  debug:
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug]
";

    #[test]
    fn minimal_config() {
        let config = ok(MINIMAL);
        assert_eq!(config.receivers.keys().collect::<Vec<_>>(), [&id("otlp")]);
        assert!(config.processors.is_empty());
        assert_eq!(config.exporters.keys().collect::<Vec<_>>(), [&id("debug")]);
        assert_eq!(
            config.pipelines,
            BTreeMap::from([(
                pid("traces"),
                PipelineConfig { receivers: vec![id("otlp")], processors: vec![], exporters: vec![id("debug")] }
            )])
        );
        assert_eq!(config.telemetry, None);
        assert_eq!(config.warnings, Vec::<String>::new());
        assert_eq!(config.source.as_deref(), Some("c.yaml"));
        let otlp = &config.receivers[&id("otlp")];
        assert_eq!(otlp.key_path(), "receivers.otlp");
        assert_eq!(otlp.line(), Some(2));
        assert!(otlp.is_empty());
    }

    /// The default configuration shipped with the OpenTelemetry Lambda layer, plus the
    /// customisations its documentation shows (env-driven endpoint and headers, decouple).
    const LAMBDA_LAYER: &str = r#"
receivers:
  telemetryapi:
  otlp:
    protocols:
      grpc:
        endpoint: "localhost:4317"
      http:
        endpoint: "localhost:4318"

processors:
  batch:
  decouple:

exporters:
  debug:
    verbosity: detailed
  otlphttp/backend:
    endpoint: "${env:ENDPOINT}"
    headers:
      api-key: ${env:API_KEY}

extensions:
  health_check:

service:
  extensions: [health_check]
  pipelines:
    traces:
      receivers: [otlp, telemetryapi]
      processors: [batch, decouple]
      exporters: [debug, otlphttp/backend]
    metrics:
      receivers: [otlp]
      exporters: [debug]
    logs/platform:
      receivers: [telemetryapi]
      processors: [decouple]
      exporters: [otlphttp/backend]
  telemetry:
    metrics:
      address: localhost:8888
    logs:
      level: ${env:LOG_LEVEL:-info}
"#;

    #[test]
    fn lambda_layer_config_loads() {
        let config = ok(LAMBDA_LAYER);
        assert_eq!(config.receivers.keys().map(ToString::to_string).collect::<Vec<_>>(), ["otlp", "telemetryapi"]);
        assert_eq!(config.processors.keys().map(ToString::to_string).collect::<Vec<_>>(), ["batch", "decouple"]);
        assert_eq!(config.exporters.keys().map(ToString::to_string).collect::<Vec<_>>(), ["debug", "otlphttp/backend"]);
        assert_eq!(
            config.pipelines.keys().map(ToString::to_string).collect::<Vec<_>>(),
            ["traces", "metrics", "logs/platform"]
        );
        assert_eq!(
            config.pipelines[&pid("traces")],
            PipelineConfig {
                receivers: vec![id("otlp"), id("telemetryapi")],
                processors: vec![id("batch"), id("decouple")],
                exporters: vec![id("debug"), id("otlphttp/backend")],
            }
        );
        assert_eq!(
            config.exporters[&id("otlphttp/backend")].to_json(),
            json!({"endpoint": "https://api.example.com", "headers": {"api-key": "secret"}})
        );
        assert_eq!(
            config.receivers[&id("otlp")].to_json(),
            json!({"protocols": {"grpc": {"endpoint": "localhost:4317"},
                                 "http": {"endpoint": "localhost:4318"}}})
        );
        let telemetry = config.telemetry.as_ref().unwrap();
        assert_eq!(telemetry.key_path(), "service.telemetry");
        assert_eq!(telemetry.to_json(), json!({"metrics": {"address": "localhost:8888"}, "logs": {"level": "info"}}));
        // Which extension types are used or ignored is the registry's business; here they are just read.
        assert_eq!(config.warnings, Vec::<String>::new());
        assert_eq!(config.extensions.keys().map(ToString::to_string).collect::<Vec<_>>(), ["health_check"]);
        assert_eq!(config.service_extensions, [id("health_check")]);
    }

    #[test]
    fn service_extensions_must_be_defined_once() {
        let yaml = format!(
            "extensions:\n  sigv4auth:\n    region: eu-west-1\n{MINIMAL}  extensions: [sigv4auth, sigv4auth, basicauth/x]\n"
        );
        assert_eq!(
            errors(&yaml),
            "c.yaml:13:27: service.extensions[1]: extension \"sigv4auth\" is listed more than once in service.extensions\n\
             c.yaml:13:38: service.extensions[2]: extension \"basicauth/x\" is not defined in extensions"
        );
        let config =
            ok(&format!("extensions:\n  sigv4auth:\n    region: eu-west-1\n{MINIMAL}  extensions: [sigv4auth]\n"));
        assert_eq!(config.extensions[&id("sigv4auth")].to_json(), json!({"region": "eu-west-1"}));
        assert_eq!(config.extensions[&id("sigv4auth")].line(), Some(2));
    }

    #[test]
    fn secret_store_references_are_resolved_and_never_shown() {
        let yaml = "exporters:\n  otlphttp:\n    endpoint: https://x\n    headers:\n      api-key: ${secretsmanager:vendor#key}\n      team: ${ssm:/team}\nreceivers:\n  otlp:\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [otlphttp]\n";
        let resolver = |scheme: &str, argument: &str| match (scheme, argument) {
            ("secretsmanager", "vendor#key") => Ok("k-123".to_string()),
            ("ssm", "/team") => Ok("payments".to_string()),
            _ => Err(format!("{scheme}:{argument} not found")),
        };
        let (config, errors) = parse_partial_with(yaml, Some("c.yaml"), &test_env, &resolver);
        assert_eq!(errors.to_string(), "");
        let config = config.unwrap();
        let otlphttp = &config.exporters[&id("otlphttp")];
        assert_eq!(otlphttp.to_json()["headers"], json!({"api-key": "k-123", "team": "payments"}));
        let debug = format!("{config:?}");
        assert!(!debug.contains("k-123") && !debug.contains("payments"), "{debug}");
        assert!(debug.contains("Scalar(<secret>)"));
        // Without a resolver (a plain parse), or when it fails: a located error naming the reference only.
        assert_eq!(
            parse_partial(yaml, Some("c.yaml"), &test_env).1.to_string().lines().next().unwrap(),
            "c.yaml:5:16: exporters.otlphttp.headers.api-key: config provider \"secretsmanager\" is resolved by the extension at start-up and cannot be used here"
        );
        let failing = |scheme: &str, argument: &str| Err(format!("{scheme}:{argument} not found"));
        assert_eq!(
            parse_partial_with(yaml, Some("c.yaml"), &test_env, &failing).1.to_string(),
            "c.yaml:5:16: exporters.otlphttp.headers.api-key: secretsmanager:vendor#key not found\n\
             c.yaml:6:13: exporters.otlphttp.headers.team: ssm:/team not found"
        );
    }

    #[test]
    fn env_expansion_types_whole_references() {
        let config = ok(r#"
receivers:
  otlp:
    port: ${env:PORT}
    quoted: "${env:PORT}"
    inside: localhost:${env:PORT}
    enabled: ${ENABLED}
    fallback: ${env:MISSING:-12}
    unset: ${env:MISSING}
    unset_inside: a${env:MISSING}b
    escaped: $${env:PORT}
    literal: "cost: $5"
    block: |
      port ${PORT}
exporters:
  debug:
service:
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [debug]
"#);
        assert_eq!(
            config.receivers[&id("otlp")].to_json(),
            json!({
                "port": 4317,
                "quoted": "4317",
                "inside": "localhost:4317",
                "enabled": true,
                "fallback": 12,
                "unset": "",
                "unset_inside": "ab",
                "escaped": "${env:PORT}",
                "literal": "cost: $5",
                "block": "port 4317\n",
            })
        );
        assert_eq!(
            config.warnings,
            [
                "c.yaml:9:12: receivers.otlp.unset: environment variable \"MISSING\" is not set; using an empty string",
                "c.yaml:10:19: receivers.otlp.unset_inside: environment variable \"MISSING\" is not set; using an empty string",
            ]
        );
    }

    #[test]
    fn keys_are_not_expanded() {
        let config = ok("receivers:\n  otlp:\n    ${PORT}: 1\nexporters:\n  debug:\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [debug]\n");
        assert_eq!(config.receivers[&id("otlp")].to_json(), json!({"${PORT}": 1}));
    }

    #[test]
    fn env_expansion_feeds_component_deserialization() {
        #[derive(Debug, Default, PartialEq, serde::Deserialize)]
        #[serde(default, deny_unknown_fields)]
        struct Otlp {
            port: u16,
            endpoint: String,
        }
        let config = ok("receivers:\n  otlp:\n    port: ${env:PORT}\n    endpoint: ${env:ENDPOINT}\n  otlp/b:\n    port: ${env:ENDPOINT}\nexporters:\n  debug:\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp, otlp/b]\n      exporters: [debug]\n");
        assert_eq!(
            config.receivers[&id("otlp")].deserialize::<Otlp>().unwrap(),
            Otlp { port: 4317, endpoint: "https://api.example.com".into() }
        );
        assert_eq!(
            config.receivers[&id("otlp/b")].deserialize::<Otlp>().unwrap_err().to_string(),
            "c.yaml:6:5: receivers.otlp/b.port: invalid type: string \"https://api.example.com\", expected u16"
        );
    }

    #[derive(Debug, Default, PartialEq, serde::Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Exporter {
        api_key: String,
        team: Option<String>,
        tags: Vec<String>,
        port: u16,
        compress: bool,
    }

    fn exporter(settings: &str) -> Result<Exporter, String> {
        let yaml = format!(
            "receivers:\n  otlp:\nexporters:\n  x:\n{settings}service:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [x]\n"
        );
        ok(&yaml).exporters[&id("x")].deserialize::<Exporter>().map_err(|e| e.to_string())
    }

    #[test]
    fn env_numbers_still_fill_string_fields() {
        assert_eq!(
            exporter("    api_key: ${env:NUM}\n    team: ${NUM}\n    tags:\n      - ${NUM}\n      - x\n      - ${ENABLED}\n    port: ${PORT}\n    compress: ${ENABLED}\n"),
            Ok(Exporter {
                api_key: "12345".into(),
                team: Some("12345".into()),
                tags: vec!["12345".into(), "x".into(), "true".into()],
                port: 4317,
                compress: true,
            })
        );
    }

    #[test]
    fn env_fallback_keeps_real_type_errors() {
        // Out of range for u16: the number's error is kept, not a "found a string" one.
        assert_eq!(
            exporter("    port: ${env:BIG}\n").unwrap_err(),
            "c.yaml:5:5: exporters.x.port: invalid value: integer `70000`, expected u16"
        );
        // A number written in the file is not from env: it must be quoted for a string field.
        assert_eq!(
            exporter("    api_key: 12345\n").unwrap_err(),
            "c.yaml:5:5: exporters.x.api_key: invalid type: integer `12345`, expected a string"
        );
        // A string from env where a number is wanted.
        assert_eq!(
            exporter("    api_key: ${NUM}\n    port: ${env:ENDPOINT}\n").unwrap_err(),
            "c.yaml:6:5: exporters.x.port: invalid type: string \"https://api.example.com\", expected u16"
        );
        // A quoted reference stays a string, so a number field rejects it.
        assert_eq!(
            exporter("    port: \"${PORT}\"\n").unwrap_err(),
            "c.yaml:5:5: exporters.x.port: invalid type: string \"4317\", expected u16"
        );
    }

    #[test]
    fn lambdatel_section_is_kept_for_the_extension() {
        let config = ok(&format!("lambdatel:\n  flush_budget: 2s\n{MINIMAL}"));
        let settings = config.settings.unwrap();
        assert_eq!(settings.key_path(), "lambdatel");
        assert_eq!(settings.line(), Some(1));
        assert_eq!(settings.to_json(), json!({"flush_budget": "2s"}));
        let config = ok(&format!("{MINIMAL}lambdatel:\n"));
        assert!(config.settings.unwrap().is_empty());
        assert_eq!(ok(MINIMAL).settings, None);
        assert_eq!(
            errors(&format!("{MINIMAL}lambdatel: fast\n")),
            "c.yaml:10:12: lambdatel: expected a map of settings, found a string"
        );
    }

    #[test]
    fn component_config_from_a_snippet() {
        let c = ComponentConfig::from_yaml("exporters.x", "api_key: ${NUM}\nport: 80\n", &test_env).unwrap();
        assert_eq!(c.key_path(), "exporters.x");
        assert_eq!(c.line(), Some(1));
        assert_eq!(
            c.deserialize::<Exporter>().unwrap(),
            Exporter { api_key: "12345".into(), port: 80, ..Exporter::default() }
        );
        let c = ComponentConfig::from_yaml("exporters.x", "port: 80\ncompress: maybe\n", &test_env).unwrap();
        assert_eq!(
            c.deserialize::<Exporter>().unwrap_err().to_string(),
            "<config>:2:1: exporters.x.compress: invalid type: string \"maybe\", expected a boolean"
        );
        let c = ComponentConfig::from_yaml("", "port: x\n", &test_env).unwrap();
        assert_eq!(
            c.deserialize::<Exporter>().unwrap_err().to_string(),
            "<config>:1:1: port: invalid type: string \"x\", expected u16"
        );
        let c = ComponentConfig::from_yaml("exporters.x", "", &test_env).unwrap();
        assert!(c.is_empty());
        assert_eq!(c.line(), None);
        assert_eq!(c.deserialize::<Exporter>().unwrap(), Exporter::default());
        assert_eq!(
            ComponentConfig::from_yaml("exporters.x", "- a\n", &test_env).unwrap_err().to_string(),
            "<config>:1:1: exporters.x: expected a map of settings, found a list"
        );
        assert_eq!(
            ComponentConfig::from_yaml("exporters.x", "a: [\n", &test_env).unwrap_err().to_string(),
            "<config>:2:1: exporters.x: invalid YAML: while parsing a node, did not find expected node content"
        );
        assert_eq!(
            ComponentConfig::from_yaml("exporters.x", "a: 1\na: 2\n", &test_env).unwrap_err().to_string(),
            "<config>:2:1: exporters.x.a: duplicate key \"a\"; each key may appear only once"
        );
    }

    #[test]
    fn unused_components_are_warnings() {
        let config = ok("receivers:\n  otlp:\n  otlp/2:\nprocessors:\n  batch:\nexporters:\n  debug:\n  otlp:\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [debug]\n");
        assert_eq!(
            config.warnings,
            [
                "c.yaml:3:3: receivers.otlp/2: receiver \"otlp/2\" is defined but not used in any pipeline",
                "c.yaml:5:3: processors.batch: processor \"batch\" is defined but not used in any pipeline",
                "c.yaml:8:3: exporters.otlp: exporter \"otlp\" is defined but not used in any pipeline",
            ]
        );
    }

    #[test]
    fn yaml_syntax_error() {
        assert_eq!(errors("receivers:\n  otlp: {\nexporters: [\n"), "c.yaml:3:1: invalid YAML: invalid indentation");
        assert_eq!(
            errors("receivers:\n  otlp: 1\n   bad: 2\n"),
            "c.yaml:3:7: invalid YAML: mapping values are not allowed in this context"
        );
    }

    #[test]
    fn empty_and_non_map_documents() {
        assert_eq!(
            errors(""),
            "c.yaml: the configuration is empty; it needs receivers, exporters and service.pipelines"
        );
        assert_eq!(
            errors("# nothing\n"),
            "c.yaml: the configuration is empty; it needs receivers, exporters and service.pipelines"
        );
        assert_eq!(
            errors("- a\n- b\n"),
            "c.yaml:1:1: the configuration must be a map with receivers, exporters and service, found a list"
        );
        assert_eq!(
            errors("hello\n"),
            "c.yaml:1:1: the configuration must be a map with receivers, exporters and service, found a string"
        );
    }

    #[test]
    fn unknown_top_level_keys() {
        assert_eq!(
            errors(&format!("{MINIMAL}recievers:\n  x:\nconnectors:\n  count:\n")),
            "c.yaml:10:1: recievers: unknown top-level key \"recievers\"; expected receivers, processors, exporters, extensions, service or lambdatel\n\
             c.yaml:12:1: connectors: connectors are not supported by lambdatel"
        );
    }

    #[test]
    fn section_shapes() {
        assert_eq!(
            errors("receivers: [otlp]\nprocessors: 3\nexporters:\n  debug: verbose\n  otlp: [a]\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [debug]\n"),
            "c.yaml:1:1: receivers: expected a map of receiver ids to their settings, found a list\n\
             c.yaml:2:1: processors: expected a map of processor ids to their settings, found a number\n\
             c.yaml:4:10: exporters.debug: expected a map of settings (or nothing), found a string\n\
             c.yaml:5:9: exporters.otlp: expected a map of settings (or nothing), found a list"
        );
    }

    #[test]
    fn invalid_component_ids() {
        assert_eq!(
            errors("receivers:\n  1otlp:\n  otlp/:\n  ok:\nexporters:\n  \"\":\n  debug:\nservice:\n  pipelines:\n    traces:\n      receivers: [ok, bad-id, 7]\n      exporters: [debug]\n"),
            "c.yaml:2:3: receivers.1otlp: invalid receiver id \"1otlp\": the type must start with a letter and contain only letters, digits and underscores\n\
             c.yaml:3:3: receivers.otlp/: invalid receiver id \"otlp/\": the name after \"/\" must not be empty\n\
             c.yaml:6:3: exporters.: invalid exporter id \"\": the type must not be empty\n\
             c.yaml:11:23: service.pipelines.traces.receivers[1]: invalid receiver id \"bad-id\": the type must start with a letter and contain only letters, digits and underscores\n\
             c.yaml:11:31: service.pipelines.traces.receivers[2]: invalid receiver id \"7\": the type must start with a letter and contain only letters, digits and underscores"
        );
    }

    #[test]
    fn service_shapes() {
        assert_eq!(
            errors("receivers:\n  otlp:\n"),
            "c.yaml: service: missing; define service.pipelines with at least one pipeline"
        );
        assert_eq!(
            errors("service:\n"),
            "c.yaml:1:1: service: is empty; define service.pipelines with at least one pipeline"
        );
        assert_eq!(errors("service: [a]\n"), "c.yaml:1:1: service: expected a map with pipelines, found a list");
        assert_eq!(
            errors("service:\n  telemetry: loud\n  pipeline:\n"),
            "c.yaml:1:1: service: has no pipelines; define at least one under service.pipelines\n\
             c.yaml:2:14: service.telemetry: expected a map of settings, found a string\n\
             c.yaml:3:3: service.pipeline: unknown key \"pipeline\" in service; expected pipelines, telemetry or extensions"
        );
    }

    #[test]
    fn pipelines_shapes() {
        assert_eq!(
            errors("service:\n  pipelines:\n"),
            "c.yaml:2:3: service.pipelines: no pipelines are defined; define at least one, e.g. traces"
        );
        assert_eq!(
            errors("service:\n  pipelines: {}\n"),
            "c.yaml:2:3: service.pipelines: no pipelines are defined; define at least one, e.g. traces"
        );
        assert_eq!(
            errors("service:\n  pipelines: [traces]\n"),
            "c.yaml:2:3: service.pipelines: expected a map of pipeline ids to pipelines, found a list"
        );
    }

    #[test]
    fn pipeline_errors() {
        let yaml = "\
receivers:
  otlp:
processors:
  batch:
exporters:
  debug:
service:
  pipelines:
    spans:
      receivers: [otlp]
      exporters: [debug]
    traces/:
    metrics: 5
    logs:
      receiver: [otlp]
    traces:
      receivers: otlp
      processors: [batch, [x], batch]
      exporters: [debug, otlp/x]
    metrics/empty:
      receivers: []
      exporters:
";
        assert_eq!(
            errors(yaml),
            "c.yaml:9:5: service.pipelines.spans: unknown pipeline type \"spans\"; expected traces, metrics or logs\n\
             c.yaml:12:5: service.pipelines.traces/: invalid pipeline id \"traces/\": the name after \"/\" must not be empty\n\
             c.yaml:13:14: service.pipelines.metrics: expected a map with receivers, processors and exporters, found a number\n\
             c.yaml:14:5: service.pipelines.logs: pipeline has no receivers; list at least one under receivers\n\
             c.yaml:14:5: service.pipelines.logs: pipeline has no exporters; list at least one under exporters\n\
             c.yaml:15:7: service.pipelines.logs.receiver: unknown key \"receiver\" in pipeline; expected receivers, processors or exporters\n\
             c.yaml:17:7: service.pipelines.traces.receivers: expected a list of receiver ids, found a string\n\
             c.yaml:18:27: service.pipelines.traces.processors[1]: expected a processor id, found a list\n\
             c.yaml:18:32: service.pipelines.traces.processors[2]: processor \"batch\" is listed more than once in this pipeline\n\
             c.yaml:19:26: service.pipelines.traces.exporters[1]: exporter \"otlp/x\" is not defined in exporters\n\
             c.yaml:20:5: service.pipelines.metrics/empty: pipeline has no receivers; list at least one under receivers\n\
             c.yaml:20:5: service.pipelines.metrics/empty: pipeline has no exporters; list at least one under exporters"
        );
    }

    #[test]
    fn a_null_pipeline_has_nothing() {
        assert_eq!(
            errors("service:\n  pipelines:\n    traces:\n"),
            "c.yaml:3:5: service.pipelines.traces: pipeline has no receivers; list at least one under receivers\n\
             c.yaml:3:5: service.pipelines.traces: pipeline has no exporters; list at least one under exporters"
        );
    }

    #[test]
    fn duplicate_and_non_string_keys() {
        assert_eq!(
            errors(&format!("{MINIMAL}receivers:\n  otlp:\n  ? [a]\n  : 1\n")),
            "c.yaml:10:1: receivers: duplicate key \"receivers\"; each key may appear only once\n\
             c.yaml:12:5: receivers: map keys must be strings, found a list"
        );
    }

    #[test]
    fn env_errors_are_located() {
        assert_eq!(
            errors(&format!("{MINIMAL}  telemetry:\n    logs:\n      level: ${{file:/x}}\n      other: \"${{env:1}}\"\n      open: ${{env:X\n")),
            "c.yaml:12:14: service.telemetry.logs.level: unsupported config provider \"file\" in \"${file:/x}\"; use ${env:NAME}, ${secretsmanager:NAME_OR_ARN} or ${ssm:/name}\n\
             c.yaml:13:14: service.telemetry.logs.other: invalid environment variable name \"1\" in \"${env:1}\"; names are letters, digits and underscores, not starting with a digit\n\
             c.yaml:14:13: service.telemetry.logs.open: unclosed \"${\" in \"${env:X\"; write \"$$\" for a literal \"$\""
        );
    }

    #[test]
    fn all_errors_are_collected_in_source_order() {
        let yaml = "\
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp/x]
receivers:
  otlp:
    endpoint: ${nope:x}
exporter:
  debug:
";
        assert_eq!(
            errors(yaml),
            "c.yaml:5:19: service.pipelines.traces.exporters[0]: exporter \"otlp/x\" is not defined in exporters\n\
             c.yaml:8:15: receivers.otlp.endpoint: unsupported config provider \"nope\" in \"${nope:x}\"; use ${env:NAME}, ${secretsmanager:NAME_OR_ARN} or ${ssm:/name}\n\
             c.yaml:9:1: exporter: unknown top-level key \"exporter\"; expected receivers, processors, exporters, extensions, service or lambdatel"
        );
        let errs = parse(yaml, None, &test_env).unwrap_err();
        assert_eq!(errs.errors().len(), 3);
        assert_eq!(
            errs.errors()[0],
            ConfigError {
                file: None,
                path: "service.pipelines.traces.exporters[0]".into(),
                line: Some(5),
                column: Some(19),
                message: "exporter \"otlp/x\" is not defined in exporters".into(),
            }
        );
    }

    #[test]
    fn load_file_names_the_file() {
        let dir = std::env::temp_dir().join(format!("lambdatel-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.yaml");
        std::fs::write(&good, MINIMAL).unwrap();
        let config = load_file(&good, &test_env).unwrap();
        assert_eq!(config.source, Some(good.display().to_string()));
        assert_eq!(config.pipelines.len(), 1);

        let bad = dir.join("bad.yaml");
        std::fs::write(&bad, "receivers:\n  otlp:\n").unwrap();
        assert_eq!(
            load_file(&bad, &test_env).unwrap_err().to_string(),
            format!("{}: service: missing; define service.pipelines with at least one pipeline", bad.display())
        );

        let missing = dir.join("missing.yaml");
        assert_eq!(
            load_file(&missing, &test_env).unwrap_err().to_string(),
            format!(
                "{}: cannot read the configuration file: No such file or directory (os error 2)",
                missing.display()
            )
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
