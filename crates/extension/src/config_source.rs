//! Where the configuration comes from: `LAMBDATEL_CONFIG`, else the OpenTelemetry Lambda layer's
//! `OPENTELEMETRY_COLLECTOR_CONFIG_URI`, else its older `OPENTELEMETRY_COLLECTOR_CONFIG_FILE` (each a path,
//! `file:`, `env:VAR`, `s3://...` or `http(s)://...`), else `/opt/lambdatel/config.yaml` when present, else
//! an embedded default driven by the standard `OTEL_*` variables. A variable that is set but cannot be read
//! is an error, never a fall back to the default.
//!
//! `${secretsmanager:...}` and `${ssm:...}` references are resolved at start-up, all at once; their values
//! are secrets, scrubbed from every message.

use std::path::{Path, PathBuf};

use lambdatel_aws::{references, AwsClient, Env, Reference, Secret};
use lambdatel_components::receivers::telemetry_api::resource::percent_decode;
use lambdatel_config::{Config, ConfigError, ConfigErrors};

/// The config file a layer may ship, at the documented place.
pub const LAYER_CONFIG_PATH: &str = "/opt/lambdatel/config.yaml";

/// Which configuration was chosen, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// A YAML file.
    File(PathBuf),
    /// The location a config variable names (a path, `file:`, `env:`, `s3://`, `http(s)://`).
    Location {
        /// The variable that named it.
        variable: &'static str,
        /// Its value.
        location: String,
    },
    /// The default built into the binary, driven by `OTEL_*` variables.
    Embedded,
}

impl std::fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigSource::File(path) => write!(f, "{}", path.display()),
            // A URL's query and user info may hold credentials: they are not shown.
            ConfigSource::Location { variable, location } => {
                write!(
                    f,
                    "{variable}={}",
                    location.split(['?', '#']).next().unwrap_or_default().rsplit('@').next().unwrap_or_default()
                )
            }
            ConfigSource::Embedded => f.write_str("the embedded default configuration"),
        }
    }
}

/// Picks the configuration source from the environment.
pub fn choose(env: &dyn Fn(&str) -> Option<String>) -> ConfigSource {
    for variable in lambdatel_aws::config_source::CONFIG_VARIABLES {
        if let Some(location) = env(variable).map(|l| l.trim().to_string()).filter(|l| !l.is_empty()) {
            return ConfigSource::Location { variable, location };
        }
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
        ConfigSource::File(path) => match std::fs::read_to_string(path) {
            Ok(text) => parse_offline(&text, &path.display().to_string(), env),
            Err(_) => lambdatel_config::load_file_partial(path, env),
        },
        ConfigSource::Location { location, .. } => match read_local(location, env) {
            Ok((text, name)) => parse_offline(&text, &name, env),
            Err(message) => (None, source_error(source, message)),
        },
        ConfigSource::Embedded => match embedded_default(env) {
            Ok(yaml) => lambdatel_config::parse_partial(&yaml, Some("<embedded default>"), env),
            Err(message) => (
                None,
                ConfigErrors(vec![ConfigError { file: None, path: String::new(), line: None, column: None, message }]),
            ),
        },
    }
}

/// A config read without the network: `env:`, `file:` and paths. `s3://` and `http(s)://` need the running
/// extension.
fn read_local(location: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<(String, String), String> {
    if let Some(name) = location.strip_prefix("env:") {
        let text =
            env(name).filter(|t| !t.is_empty()).ok_or(format!("environment variable {name} is not set or empty"))?;
        return Ok((text, format!("environment variable {name}")));
    }
    if location.starts_with("s3://") || location.starts_with("http://") || location.starts_with("https://") {
        return Err(
            "a remote config is read at start-up only: check a local copy with `lambdatel validate FILE`".into()
        );
    }
    let path = location.strip_prefix("file:").map(|p| p.strip_prefix("//").unwrap_or(p)).unwrap_or(location);
    std::fs::read_to_string(path).map(|text| (text, path.to_string())).map_err(|e| format!("file {path}: {e}"))
}

/// Parses `text` checking each secret store reference's syntax without fetching it: a placeholder stands
/// for the value.
fn parse_offline(text: &str, name: &str, env: &dyn Fn(&str) -> Option<String>) -> (Option<Config>, ConfigErrors) {
    let offline = |scheme: &str, argument: &str| reference(scheme, argument).map(|r| format!("<{r}>"));
    lambdatel_config::parse_partial_with(text, Some(name), env, &offline)
}

/// The reference `${scheme:argument}` parsed, or why it is malformed (naming it, never a value).
fn reference(scheme: &str, argument: &str) -> Result<Reference, String> {
    let written = format!("${{{scheme}:{argument}}}");
    match references::validate(&written) {
        Ok(found) if found.len() == 1 => Ok(found.into_iter().next().expect("one reference")),
        Ok(_) => Err(format!("{written}: not a single reference")),
        Err(references::ReferenceError::Syntax { text, message, .. }) => Err(format!("{text}: {message}")),
        Err(other) => Err(other.to_string()),
    }
}

/// What is reported when the configuration cannot be used: "invalid configuration in SOURCE:" and every
/// error, one per line. Errors that are about the source itself (unreadable, a reference that cannot be
/// resolved) already begin with its name, which is then not said twice.
pub fn invalid_message(source: &ConfigSource, errors: &ConfigErrors) -> String {
    let name = source.to_string();
    if errors.0.iter().all(|e| e.file.as_deref() == Some(name.as_str()) && e.line.is_none()) {
        format!("invalid configuration:\n{errors}")
    } else {
        format!("invalid configuration in {name}:\n{errors}")
    }
}

fn source_error(source: &ConfigSource, message: String) -> ConfigErrors {
    ConfigErrors(vec![ConfigError {
        file: Some(source.to_string()),
        path: String::new(),
        line: None,
        column: None,
        message,
    }])
}

/// A loaded configuration with the secret values it holds, for scrubbing messages.
pub struct Loaded {
    /// The configuration as far as it could be read, and every error.
    pub parsed: (Option<Config>, ConfigErrors),
    /// Where it was read, for the start-up line.
    pub described: String,
    /// The resolved values of its references.
    pub secrets: Vec<Secret>,
}

/// Reads the chosen configuration (fetching a remote one) and resolves its secret store references, each
/// fetched once, all concurrently. A source that cannot be read, or a reference that cannot be resolved,
/// is an error naming the source or the reference, never a value.
pub async fn load_resolved(source: &ConfigSource, env: &dyn Fn(&str) -> Option<String>) -> Loaded {
    let client = AwsClient::from_env(Env::from_process());
    let (text, name) = match source {
        ConfigSource::Location { location, .. } => match lambdatel_aws::fetch_config(location, &client).await {
            // A local file is named by its path in errors, as everywhere else.
            Ok(fetched) => {
                let name = fetched.source.strip_prefix("file ").unwrap_or(&fetched.source).to_string();
                (fetched.text.clone(), name)
            }
            Err(e) => return failed(source, e.to_string()),
        },
        ConfigSource::File(path) => match std::fs::read_to_string(path) {
            Ok(text) => (text, path.display().to_string()),
            Err(e) => return failed(source, format!("cannot read the configuration file: {e}")),
        },
        ConfigSource::Embedded => {
            return Loaded { parsed: load_partial(source, env), described: source.to_string(), secrets: Vec::new() }
        }
    };
    // First pass: find every reference (placeholders stand for the values); then fetch them all at once.
    let found = std::sync::Mutex::new(Vec::new());
    let collect = |scheme: &str, argument: &str| {
        let reference = reference(scheme, argument)?;
        let placeholder = format!("<{reference}>");
        found.lock().expect("not poisoned").push(reference);
        Ok(placeholder)
    };
    let first = lambdatel_config::parse_partial_with(&text, Some(&name), env, &collect);
    let mut wanted = found.into_inner().expect("not poisoned");
    if wanted.is_empty() || !first.1 .0.is_empty() {
        return Loaded { parsed: first, described: name, secrets: Vec::new() };
    }
    wanted.sort();
    wanted.dedup();
    let resolved = match references::resolve(&client, &wanted).await {
        Ok(resolved) => resolved,
        Err(e) => return failed(source, e.to_string()),
    };
    let lookup = |scheme: &str, argument: &str| {
        let reference = reference(scheme, argument)?;
        resolved.get(&reference).map(|v| v.expose().to_string()).ok_or(format!("{reference}: not resolved"))
    };
    let parsed = lambdatel_config::parse_partial_with(&text, Some(&name), env, &lookup);
    let secrets = wanted.iter().filter_map(|r| resolved.get(r).cloned()).collect();
    Loaded { parsed, described: name, secrets }
}

fn failed(source: &ConfigSource, message: String) -> Loaded {
    Loaded { parsed: (None, source_error(source, message)), described: source.to_string(), secrets: Vec::new() }
}

/// `message` with every secret value replaced, for anything printed or reported.
pub fn scrub(message: &str, secrets: &[Secret]) -> String {
    let mut out = message.to_string();
    // Longest first, so a value that contains another is replaced whole.
    let mut values: Vec<&str> = secrets.iter().map(Secret::expose).filter(|v| !v.is_empty()).collect();
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    for value in values {
        out = out.replace(value, "<secret>");
    }
    out
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
    fn config_variables_in_order() {
        let e = env(&[("LAMBDATEL_CONFIG", "/var/task/otel.yaml"), ("OPENTELEMETRY_COLLECTOR_CONFIG_URI", "s3://b/k")]);
        let source = choose(&e);
        assert_eq!(
            source,
            ConfigSource::Location { variable: "LAMBDATEL_CONFIG", location: "/var/task/otel.yaml".into() }
        );
        assert_eq!(source.to_string(), "LAMBDATEL_CONFIG=/var/task/otel.yaml");
        let e =
            env(&[("LAMBDATEL_CONFIG", " "), ("OPENTELEMETRY_COLLECTOR_CONFIG_URI", "https://u:p@h/c.yaml?token=t")]);
        assert_eq!(choose(&e).to_string(), "OPENTELEMETRY_COLLECTOR_CONFIG_URI=h/c.yaml");
        let e = env(&[("OPENTELEMETRY_COLLECTOR_CONFIG_FILE", "/var/task/collector.yaml")]);
        assert_eq!(choose(&e).to_string(), "OPENTELEMETRY_COLLECTOR_CONFIG_FILE=/var/task/collector.yaml");
    }

    #[test]
    fn a_set_but_unreadable_variable_is_an_error() {
        let e = env(&[("OPENTELEMETRY_COLLECTOR_CONFIG_URI", "env:NOT_SET")]);
        assert_eq!(
            load(&choose(&e), &e).unwrap_err().to_string(),
            "OPENTELEMETRY_COLLECTOR_CONFIG_URI=env:NOT_SET: environment variable NOT_SET is not set or empty"
        );
        let e = env(&[("LAMBDATEL_CONFIG", "file:/nonexistent/c.yaml")]);
        assert_eq!(
            load(&choose(&e), &e).unwrap_err().to_string(),
            "LAMBDATEL_CONFIG=file:/nonexistent/c.yaml: file /nonexistent/c.yaml: No such file or directory (os error 2)"
        );
        // Reported with the source named once; errors inside the text are reported under the source.
        let source = choose(&e);
        assert_eq!(
            invalid_message(&source, &load(&source, &e).unwrap_err()),
            "invalid configuration:\nLAMBDATEL_CONFIG=file:/nonexistent/c.yaml: file /nonexistent/c.yaml: No such file or directory (os error 2)"
        );
        let e = env(&[("LAMBDATEL_CONFIG", "env:YAML"), ("YAML", "receivers: [")]);
        let source = choose(&e);
        let message = invalid_message(&source, &load(&source, &e).unwrap_err());
        assert!(
            message.starts_with(
                "invalid configuration in LAMBDATEL_CONFIG=env:YAML:\nenvironment variable YAML:2:1: invalid YAML"
            ),
            "{message}"
        );
    }

    #[test]
    fn offline_loading_checks_references_without_fetching() {
        let yaml = "receivers:\n  telemetryapi:\nexporters:\n  otlphttp:\n    endpoint: http://x\n    headers:\n      k: ${secretsmanager:${env:NAME}#key}\n      p: ${ssm:/team/token}\nservice:\n  pipelines:\n    logs:\n      receivers: [telemetryapi]\n      exporters: [otlphttp]\n";
        let vars: &'static [(&str, &str)] = Box::leak(Box::new([
            ("LAMBDATEL_CONFIG", "env:YAML"),
            ("YAML", &*Box::leak(yaml.to_string().into_boxed_str())),
            ("NAME", "vendor/api"),
        ]));
        let e = env(vars);
        let config = load(&choose(&e), &e).unwrap();
        assert_eq!(
            config.exporters[&"otlphttp".parse().unwrap()].to_json()["headers"],
            serde_json::json!({"k": "<${secretsmanager:vendor/api#key}>", "p": "<${ssm:/team/token}>"})
        );
        let bad = yaml.replace("${ssm:/team/token}", "${ssm:/bad name}");
        let bad: &'static str = Box::leak(bad.into_boxed_str());
        let vars: &'static [(&str, &str)] =
            Box::leak(Box::new([("LAMBDATEL_CONFIG", "env:YAML"), ("YAML", bad), ("NAME", "vendor/api")]));
        let e = env(vars);
        assert_eq!(
            load(&choose(&e), &e).unwrap_err().to_string(),
            "environment variable YAML:8:10: exporters.otlphttp.headers.p: ${ssm:/bad name}: a parameter name or ARN holds only letters, digits and /_.-:"
        );
    }

    #[test]
    fn scrub_replaces_every_secret_longest_first() {
        let secrets = [Secret::new("abc"), Secret::new("abcdef"), Secret::new("")];
        assert_eq!(scrub("x abcdef y abc z", &secrets), "x <secret> y <secret> z");
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
