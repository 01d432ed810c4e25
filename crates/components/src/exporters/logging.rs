//! The `logging` exporter: the Collector's former name for `debug`, still in many Lambda layer configs.
//!
//! It builds a `debug` exporter. Its `loglevel` maps onto `verbosity` as the Collector mapped it (`debug`
//! is `detailed`, `info` is `normal`, `warn` and `error` are `basic`); `verbosity` may be written instead,
//! not both.

use lambdatel_config::{ComponentConfig, ConfigError};
use serde::Deserialize;

use super::{
    debug::{DebugConfig, Verbosity},
    DebugExporter, Exporter,
};
use crate::ExporterFactory;

/// Configuration of the `logging` exporter, with the Collector's keys.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingConfig {
    /// The Collector's older setting: `debug`, `info`, `warn` or `error`.
    pub loglevel: Option<LogLevel>,
    /// As for `debug`: `basic`, `normal` (the default) or `detailed`.
    pub verbosity: Option<Verbosity>,
    /// Accepted and ignored, as for `debug`.
    pub sampling_initial: Option<u64>,
    /// Accepted and ignored, as for `debug`.
    pub sampling_thereafter: Option<u64>,
}

/// The `loglevel` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Every attribute: `verbosity: detailed`.
    Debug,
    /// One line per item: `verbosity: normal`.
    Info,
    /// Counts only: `verbosity: basic`.
    Warn,
    /// Counts only: `verbosity: basic`.
    Error,
}

impl LoggingConfig {
    /// The `debug` exporter settings this config stands for.
    pub fn to_debug(&self) -> DebugConfig {
        let verbosity = match (self.verbosity, self.loglevel) {
            (Some(verbosity), _) => verbosity,
            (None, Some(LogLevel::Debug)) => Verbosity::Detailed,
            (None, Some(LogLevel::Info)) => Verbosity::Normal,
            (None, Some(LogLevel::Warn | LogLevel::Error)) => Verbosity::Basic,
            (None, None) => Verbosity::default(),
        };
        DebugConfig {
            verbosity,
            sampling_initial: self.sampling_initial,
            sampling_thereafter: self.sampling_thereafter,
        }
    }
}

/// The `logging` exporter type; it builds a [`DebugExporter`].
pub struct LoggingExporter;

impl ExporterFactory for LoggingExporter {
    const TYPE: &'static str = "logging";
    const EXAMPLE: &'static str = "loglevel: debug";
    type Config = LoggingConfig;

    fn validate(config: &LoggingConfig, at: &ComponentConfig) -> Result<(), ConfigError> {
        match (config.loglevel, config.verbosity) {
            (Some(_), Some(_)) => Err(at.error_at("verbosity", "write loglevel or verbosity, not both")),
            _ => Ok(()),
        }
    }

    fn warnings(config: &LoggingConfig, at: &ComponentConfig) -> Vec<ConfigError> {
        let verbosity = format!("{:?}", config.to_debug().verbosity).to_lowercase();
        vec![at.error(format!(
            "logging is the Collector's former name for debug: mapped to debug with verbosity: {verbosity}"
        ))]
    }

    fn create(config: LoggingConfig, _at: &ComponentConfig) -> Result<Exporter, ConfigError> {
        Ok(Exporter::Debug(DebugExporter::new(&config.to_debug())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(yaml: &str) -> Result<LoggingConfig, String> {
        let at = ComponentConfig::from_yaml("exporters.logging", yaml, &|_| None).unwrap();
        let config: LoggingConfig = at.deserialize().map_err(|e| e.to_string())?;
        LoggingExporter::validate(&config, &at).map_err(|e| e.to_string())?;
        Ok(config)
    }

    #[test]
    fn loglevel_maps_onto_verbosity() {
        let verbosity = |yaml: &str| settings(yaml).unwrap().to_debug().verbosity;
        assert_eq!(verbosity("loglevel: debug"), Verbosity::Detailed);
        assert_eq!(verbosity("loglevel: info"), Verbosity::Normal);
        assert_eq!(verbosity("loglevel: warn"), Verbosity::Basic);
        assert_eq!(verbosity("loglevel: error"), Verbosity::Basic);
        assert_eq!(verbosity("verbosity: basic"), Verbosity::Basic);
        assert_eq!(verbosity(""), Verbosity::Normal);
        assert_eq!(
            settings("verbosity: detailed\nsampling_initial: 5\nsampling_thereafter: 200").unwrap().to_debug(),
            DebugConfig { verbosity: Verbosity::Detailed, sampling_initial: Some(5), sampling_thereafter: Some(200) }
        );
    }

    #[test]
    fn warns_that_it_is_a_mapping() {
        let at = ComponentConfig::from_yaml("exporters.logging", "loglevel: debug", &|_| None).unwrap();
        assert_eq!(
            LoggingExporter::warnings(&at.deserialize().unwrap(), &at)[0].to_string(),
            "<config>:1:9: exporters.logging: logging is the Collector's former name for debug: mapped to debug with verbosity: detailed"
        );
    }

    #[test]
    fn config_errors() {
        assert_eq!(
            settings("loglevel: debug\nverbosity: basic").unwrap_err(),
            "<config>:2:1: exporters.logging.verbosity: write loglevel or verbosity, not both"
        );
        assert_eq!(
            settings("loglevel: trace").unwrap_err(),
            "<config>:1:1: exporters.logging.loglevel: unknown variant `trace`, expected one of `debug`, `info`, `warn`, `error`"
        );
    }
}
