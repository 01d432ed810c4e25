//! Where the configuration comes from: `LAMBDATEL_CONFIG` (a path), else `/opt/lambdatel/config.yaml` when
//! present, else an embedded default driven by the standard `OTEL_*` variables.

use std::path::{Path, PathBuf};

use lambdatel_components::receivers::telemetry_api::resource::percent_decode;
use lambdatel_config::{Config, ConfigError, ConfigErrors};

/// The config file a layer may ship, at the documented place.
pub const LAYER_CONFIG_PATH: &str = "/opt/lambdatel/config.yaml";

/// Which configuration was chosen, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// A YAML file.
    File(PathBuf),
    /// The default built into the binary, driven by `OTEL_*` variables.
    Embedded,
}

impl std::fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigSource::File(path) => write!(f, "{}", path.display()),
            ConfigSource::Embedded => f.write_str("the embedded default configuration"),
        }
    }
}

/// Picks the configuration source from the environment.
pub fn choose(env: &dyn Fn(&str) -> Option<String>) -> ConfigSource {
    if let Some(path) = env("LAMBDATEL_CONFIG").filter(|p| !p.is_empty()) {
        return ConfigSource::File(PathBuf::from(path));
    }
    if Path::new(LAYER_CONFIG_PATH).is_file() {
        return ConfigSource::File(PathBuf::from(LAYER_CONFIG_PATH));
    }
    ConfigSource::Embedded
}

/// Loads and parses the chosen configuration.
pub fn load(source: &ConfigSource, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigErrors> {
    match load_partial(source, env) {
        (Some(config), errors) if errors.0.is_empty() => Ok(config),
        (_, errors) => Err(errors),
    }
}

/// Loads and parses the chosen configuration as far as it can be read, with every error found; see
/// [`crate::check`], which carries on with the later stages.
pub fn load_partial(source: &ConfigSource, env: &dyn Fn(&str) -> Option<String>) -> (Option<Config>, ConfigErrors) {
    match source {
        ConfigSource::File(path) => lambdatel_config::load_file_partial(path, env),
        ConfigSource::Embedded => match embedded_default(env) {
            Ok(yaml) => lambdatel_config::parse_partial(&yaml, Some("<embedded default>"), env),
            Err(message) => (
                None,
                ConfigErrors(vec![ConfigError { file: None, path: String::new(), line: None, column: None, message }]),
            ),
        },
    }
}

/// The default pipelines: Telemetry API in, batched, out over OTLP to `OTEL_EXPORTER_OTLP_ENDPOINT`
/// with `OTEL_EXPORTER_OTLP_HEADERS`. `OTEL_EXPORTER_OTLP_PROTOCOL` picks the exporter: `grpc` (default,
/// `otlp`, a local collector on 4317 when no endpoint is set) or `http/protobuf` / `http/json` (`otlphttp`,
/// 4318; the endpoint is the base URL that `/v1/traces` etc. are appended to, as the specification says).
pub fn embedded_default(env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let (exporter, default_endpoint, encoding) = match env("OTEL_EXPORTER_OTLP_PROTOCOL").as_deref().map(str::trim) {
        None | Some("") | Some("grpc") => ("otlp", "http://localhost:4317", ""),
        Some("http/protobuf") => ("otlphttp", "http://localhost:4318", "    encoding: proto\n"),
        Some("http/json") => ("otlphttp", "http://localhost:4318", "    encoding: json\n"),
        Some(other) => {
            return Err(format!(
                "OTEL_EXPORTER_OTLP_PROTOCOL={other:?} is not supported (use grpc, http/protobuf or http/json, or a config file)"
            ))
        }
    };
    let endpoint =
        env("OTEL_EXPORTER_OTLP_ENDPOINT").filter(|e| !e.trim().is_empty()).unwrap_or_else(|| default_endpoint.into());
    let mut headers = String::new();
    for (index, pair) in env("OTEL_EXPORTER_OTLP_HEADERS").unwrap_or_default().split(',').enumerate() {
        if pair.trim().is_empty() {
            continue;
        }
        // The entry is not echoed: a malformed one (`Authorization: Bearer ...`, say) is usually a credential.
        let (key, value) = pair.split_once('=').ok_or_else(|| {
            format!(
                "OTEL_EXPORTER_OTLP_HEADERS: entry {} is not key=value (its text is not shown: it may hold a secret)",
                index + 1
            )
        })?;
        let key = percent_decode(key.trim());
        let value = percent_decode(value.trim());
        headers.push_str(&format!("      {}: {}\n", yaml_string(&key), yaml_string(&value)));
    }
    let headers = if headers.is_empty() { String::new() } else { format!("    headers:\n{headers}") };
    Ok(format!(
        "receivers:
  telemetryapi:
processors:
  batch:
exporters:
  {exporter}:
    endpoint: {endpoint}
{encoding}{headers}service:
  pipelines:
    traces:
      receivers: [telemetryapi]
      processors: [batch]
      exporters: [{exporter}]
    metrics:
      receivers: [telemetryapi]
      processors: [batch]
      exporters: [{exporter}]
    logs:
      receivers: [telemetryapi]
      processors: [batch]
      exporters: [{exporter}]
",
        endpoint = yaml_string(endpoint.trim())
    ))
}

/// A YAML double-quoted scalar whose `$` cannot start an expansion (values come from the environment already).
fn yaml_string(text: &str) -> String {
    serde_json::to_string(&text.replace('$', "$$")).expect("strings serialise")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    #[test]
    fn lambdatel_config_wins() {
        let e = env(&[("LAMBDATEL_CONFIG", "/var/task/otel.yaml")]);
        assert_eq!(choose(&e), ConfigSource::File("/var/task/otel.yaml".into()));
    }

    #[test]
    fn embedded_default_uses_the_otel_variables() {
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://api.honeycomb.io:443"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-honeycomb-team=abc%3D%3D,x-dataset=$lambda"),
        ]);
        let config = load(&ConfigSource::Embedded, &e).unwrap();
        let otlp = &config.exporters[&"otlp".parse().unwrap()];
        let json = otlp.to_json();
        assert_eq!(json["endpoint"], "https://api.honeycomb.io:443");
        assert_eq!(json["headers"]["x-honeycomb-team"], "abc==");
        assert_eq!(json["headers"]["x-dataset"], "$lambda");
        assert_eq!(config.pipelines.len(), 3);
    }

    #[test]
    fn embedded_default_without_variables_targets_a_local_collector() {
        let config = load(&ConfigSource::Embedded, &env(&[])).unwrap();
        assert_eq!(config.exporters[&"otlp".parse().unwrap()].to_json()["endpoint"], "http://localhost:4317");
    }

    #[test]
    fn bad_variables_are_named() {
        let err = embedded_default(&env(&[("OTEL_EXPORTER_OTLP_HEADERS", "x-team=a,Authorization: Bearer s3cret")]))
            .unwrap_err();
        assert_eq!(
            err,
            "OTEL_EXPORTER_OTLP_HEADERS: entry 2 is not key=value (its text is not shown: it may hold a secret)"
        );
        let err = embedded_default(&env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "thrift")])).unwrap_err();
        assert_eq!(
            err,
            "OTEL_EXPORTER_OTLP_PROTOCOL=\"thrift\" is not supported (use grpc, http/protobuf or http/json, or a config file)"
        );
    }

    #[test]
    fn http_protocols_select_the_otlphttp_exporter() {
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://otlp.example.com"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=k"),
        ]);
        let config = load(&ConfigSource::Embedded, &e).unwrap();
        assert_eq!(config.exporters.keys().map(|k| k.to_string()).collect::<Vec<_>>(), ["otlphttp"]);
        let json = config.exporters[&"otlphttp".parse().unwrap()].to_json();
        assert_eq!(
            json,
            serde_json::json!({"endpoint": "https://otlp.example.com", "encoding": "proto", "headers": {"api-key": "k"}})
        );
        for pipeline in config.pipelines.values() {
            assert_eq!(pipeline.exporters.iter().map(|k| k.to_string()).collect::<Vec<_>>(), ["otlphttp"]);
        }
        // The whole default builds, so the keys written are the exporter's.
        lambdatel_components::Registry::builtin().build_graph(&config).unwrap();

        let config = load(&ConfigSource::Embedded, &env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")])).unwrap();
        let json = config.exporters[&"otlphttp".parse().unwrap()].to_json();
        assert_eq!(json, serde_json::json!({"endpoint": "http://localhost:4318", "encoding": "json"}));
        lambdatel_components::Registry::builtin().build_graph(&config).unwrap();
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b%2Cc"), "a b,c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
