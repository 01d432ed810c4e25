//! The concrete pipeline graph of the extension (the built-in receiver, processor and exporter types)
//! and how a config becomes one: every component a pipeline names is created through the registry, and
//! every error of every component is collected.

use std::collections::BTreeMap;

use lambdatel_config::{ComponentConfig, ComponentId, Config, ConfigError, ConfigErrors};
use lambdatel_pipeline::GraphBuilder;

use crate::{exporters::Exporter, extensions::Authenticator, processors::ProcessorInstance, ReceiverConfig, Registry};

/// The pipeline graph over the components this crate provides.
pub type Graph = lambdatel_pipeline::Graph<ReceiverConfig, ProcessorInstance, Exporter>;

impl Registry {
    /// Builds every component named by a pipeline into a graph, in the process's environment; all errors are
    /// collected.
    pub fn build_graph(&self, config: &Config) -> Result<Graph, ConfigErrors> {
        self.build_graph_in(config, &lambdatel_aws::Env::from_process())
    }

    /// Builds every component named by a pipeline into a graph; all errors are collected. `env` is the
    /// environment the config was read in (the one its `${env:...}` references see): `sigv4auth` and
    /// `awsxray` take their default region and their credentials from it.
    pub fn build_graph_in(&self, config: &Config, env: &lambdatel_aws::Env) -> Result<Graph, ConfigErrors> {
        let mut errors: Vec<ConfigError> = self.registration_errors();
        let mut builder = GraphBuilder::default();
        // `None` marks an id that failed to build: its error is reported once, not once per pipeline.
        let mut receiver_index: BTreeMap<&ComponentId, Option<usize>> = BTreeMap::new();
        let mut exporter_index: BTreeMap<&ComponentId, Option<usize>> = BTreeMap::new();
        let http = lambdatel_aws::http::HttpClient::new(lambdatel_aws::DEFAULT_TIMEOUT);
        let (authenticators, extension_errors) = crate::extensions::authenticators(config, env, &http);
        errors.extend(extension_errors);

        for (pipeline_id, pipeline) in &config.pipelines {
            let mut receivers = Vec::new();
            for id in &pipeline.receivers {
                let Some(component) = config.receivers.get(id) else { continue };
                let index = *receiver_index.entry(id).or_insert_with(|| match self.build_receiver(id, component) {
                    Ok(receiver) => Some(builder.add_receiver(id.clone(), receiver)),
                    Err(e) => {
                        errors.push(e);
                        None
                    }
                });
                receivers.extend(index);
            }
            // Each pipeline gets its own processor instances, as in the Collector.
            let mut processors = Vec::new();
            for id in &pipeline.processors {
                let Some(component) = config.processors.get(id) else { continue };
                match self.build_processor(id, component) {
                    Ok(p) => processors.push(p),
                    Err(e) if !errors.contains(&e) => errors.push(e),
                    Err(_) => {}
                }
            }
            let mut exporters = Vec::new();
            for id in &pipeline.exporters {
                let Some(component) = config.exporters.get(id) else { continue };
                let built = self
                    .build_exporter_in(id, component, env, &http)
                    .map_err(Some)
                    .and_then(|exporter| with_auth(exporter, component, config, &authenticators, env, &http));
                let index = *exporter_index.entry(id).or_insert_with(|| match built {
                    Ok(exporter) => Some(builder.add_exporter(id.clone(), exporter)),
                    Err(e) => {
                        errors.extend(e);
                        None
                    }
                });
                exporters.extend(index);
            }
            let max_request = processors.iter().filter_map(ProcessorInstance::max_request_items).min();
            builder.add_pipeline(pipeline_id.clone(), receivers, processors, exporters, max_request);
        }

        // Lambda accepts one subscription per extension, so one telemetryapi receiver can be fed.
        let telemetry: Vec<&ComponentId> = builder
            .receivers()
            .iter()
            .filter(|(_, r)| matches!(r, ReceiverConfig::TelemetryApi(_)))
            .map(|(id, _)| id)
            .collect();
        if telemetry.len() > 1 {
            let component = &config.receivers[telemetry[1]];
            errors.push(component.error(format!(
                "only one telemetryapi receiver can be used (Lambda allows one subscription per extension), and {} is already in use",
                telemetry[0]
            )));
        }
        errors.dedup();
        if errors.is_empty() {
            Ok(builder.build())
        } else {
            Err(ConfigErrors(errors))
        }
    }
}

impl Registry {
    /// Builds an exporter; `awsxray` reads its region and credentials from `env`, which factories do not see.
    fn build_exporter_in(
        &self,
        id: &ComponentId,
        component: &ComponentConfig,
        env: &lambdatel_aws::Env,
        http: &lambdatel_aws::http::HttpClient,
    ) -> Result<Exporter, ConfigError> {
        match id.type_name.as_str() {
            // The type is the built-in's: a registry refuses to register a built-in's name again.
            <crate::exporters::AwsXrayExporter as crate::ExporterFactory>::TYPE => {
                crate::exporters::AwsXrayExporter::build_in(component, env, http)
            }
            _ => self.build_exporter(id, component),
        }
    }
}

/// `exporter` with the authenticator its `auth.authenticator` names, if any; errors point at that key.
/// `Err(None)`: the authenticator is defined but failed to build, an error already reported at its
/// definition, so the exporter is left out without a second message.
fn with_auth(
    mut exporter: Exporter,
    at: &ComponentConfig,
    config: &Config,
    authenticators: &BTreeMap<ComponentId, Authenticator>,
    env: &lambdatel_aws::Env,
    http: &lambdatel_aws::http::HttpClient,
) -> Result<Exporter, Option<ConfigError>> {
    let settings = at.to_json();
    let Some(name) = settings.get("auth").and_then(|a| a.get("authenticator")).and_then(|n| n.as_str()) else {
        return Ok(exporter);
    };
    let key = "auth.authenticator";
    let id = ComponentId::parse(name.trim()).map_err(|m| Some(at.error_at(key, m)))?;
    let Some(authenticator) = authenticators.get(&id) else {
        return Err(match config.extensions.contains_key(&id) {
            true if !crate::extensions::AUTHENTICATORS.contains(&id.type_name.as_str())
                && crate::extensions::IGNORED_EXTENSIONS.contains(&id.type_name.as_str()) =>
            {
                Some(at.error_at(key, format!("extension \"{id}\" is not an authenticator")))
            }
            true => None,
            false => Some(at.error_at(key, format!("extension \"{id}\" is not defined in extensions"))),
        });
    };
    exporter.attach_auth(authenticator, env, http).map_err(|e| Some(at.error_at(key, e.to_string())))?;
    Ok(exporter)
}
