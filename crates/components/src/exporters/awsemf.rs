//! The `awsemf` exporter (ADOT's name): metrics as CloudWatch Embedded Metric Format lines on the extension's
//! stdout, which Lambda ships to the function's log group, where CloudWatch turns them into metrics with no
//! network call from the function. Each line starts with [`EMF_LINE_PREFIX`] so the Telemetry API receiver
//! never feeds it back.

use std::{collections::BTreeMap, io::Write, sync::Arc, sync::Mutex, time::SystemTime};

use lambdatel_aws::{emf::DimensionRollup, EmfConfig, EmfEncoder};
use lambdatel_config::{ComponentConfig, ConfigError};
use lambdatel_pipeline::{Signal, Signals};
use serde::Deserialize;

use crate::debug_line::EMF_LINE_PREFIX;

/// ADOT `awsemf` settings that have no meaning for EMF on a function's stdout: accepted, warned about once.
pub const IGNORED_SETTINGS: [&str; 20] = [
    "log_group_name",
    "log_stream_name",
    "region",
    "endpoint",
    "role_arn",
    "no_verify_ssl",
    "proxy_address",
    "local_mode",
    "max_retries",
    "request_timeout_seconds",
    "metric_declarations",
    "metric_descriptors",
    "parse_json_encoded_attr_values",
    "detailed_metrics",
    "version",
    "retain_initial_value_of_delta_metric",
    "log_retention",
    "tags",
    "eks_fargate_container_insights_enabled",
    "certificate_file_path",
];

/// `resource_to_telemetry_conversion`, in the Collector's shape.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResourceToTelemetry {
    /// Resource attributes become dimensions too.
    pub enabled: bool,
}

/// Configuration of the `awsemf` exporter.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct AwsEmfConfig {
    /// CloudWatch namespace; from the resource's `service.namespace`/`service.name` when empty.
    pub namespace: String,
    /// Dimension sets declared besides the one of all labels: `NoDimensionRollup`,
    /// `SingleDimensionRollupOnly`, `ZeroAndSingleDimensionRollup` (default).
    pub dimension_rollup_option: DimensionRollup,
    /// Resource attributes become dimensions too.
    pub resource_to_telemetry_conversion: ResourceToTelemetry,
    /// `stdout` (what happens in Lambda whatever is written here) or `cloudwatch` (warned: Lambda's own log
    /// shipping replaces PutLogEvents).
    pub output_destination: String,
    /// Any other key: ADOT settings in [`IGNORED_SETTINGS`] are warned about, the rest are errors.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

impl AwsEmfConfig {
    /// Keys that are neither honoured nor known ADOT settings, as an error at the first.
    pub fn check(&self, at: &ComponentConfig) -> Result<(), ConfigError> {
        match self.other.keys().find(|k| !IGNORED_SETTINGS.contains(&k.as_str())) {
            Some(key) => Err(at.error_at(key, format!("unknown awsemf setting \"{key}\""))),
            None if !matches!(self.output_destination.as_str(), "" | "stdout" | "cloudwatch") => Err(at.error_at(
                "output_destination",
                format!("\"{}\" is not stdout or cloudwatch", self.output_destination),
            )),
            None => Ok(()),
        }
    }

    /// One line per setting written that has no effect here.
    pub fn warnings(&self, at: &ComponentConfig) -> Vec<String> {
        let mut warnings: Vec<String> = self
            .other
            .keys()
            .map(|key| {
                at.error_at(key, "has no meaning for EMF written to the function's log and is ignored").to_string()
            })
            .collect();
        if self.output_destination == "cloudwatch" {
            warnings.push(
                at.error_at("output_destination", "EMF goes to stdout, which Lambda ships to the function's log group")
                    .to_string(),
            );
        }
        warnings
    }
}

/// A configured `awsemf` exporter. Cloning shares the encoder (its memory of cumulative series).
#[derive(Clone, Debug)]
pub struct AwsEmfExporter {
    encoder: Arc<Mutex<EmfEncoder>>,
}

impl AwsEmfExporter {
    /// An exporter with `config`.
    pub fn new(config: &AwsEmfConfig) -> Self {
        let emf = EmfConfig {
            namespace: config.namespace.clone(),
            dimension_rollup_option: config.dimension_rollup_option,
            resource_to_telemetry_conversion: config.resource_to_telemetry_conversion.enabled,
        };
        AwsEmfExporter { encoder: Arc::new(Mutex::new(EmfEncoder::new(emf))) }
    }

    /// The lines of `data`'s metrics, each marked, without newlines; other signals have none.
    pub fn lines(&self, kind: Signal, data: &Signals, now: SystemTime) -> Vec<String> {
        if kind != Signal::Metrics || data.metrics.is_empty() {
            return Vec::new();
        }
        let mut encoder = self.encoder.lock().unwrap_or_else(|e| e.into_inner());
        encoder
            .encode(&data.metrics, now)
            .into_iter()
            .map(|line| match line.strip_prefix('{') {
                Some(members) if members.starts_with('}') => format!("{}}}", EMF_LINE_PREFIX.trim_end_matches(',')),
                Some(members) => format!("{EMF_LINE_PREFIX}{members}"),
                None => line,
            })
            .collect()
    }

    /// Writes the EMF lines of `data` to stdout, one write per batch so lines of concurrent writers do not mix.
    pub fn export(&self, kind: Signal, data: &Signals) {
        let lines = self.lines(kind, data, SystemTime::now());
        if lines.is_empty() {
            return;
        }
        let mut text = lines.join("\n");
        text.push('\n');
        // A closed stdout loses the lines, as it would for the function's own output.
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
    }
}

#[cfg(test)]
mod tests;
