//! The compatibility corpus (`config/compat/*.yaml`): configs published for the OpenTelemetry Lambda layer,
//! ADOT and vendors' layers, each loaded the way `lambdatel validate` loads a file and held to the
//! expectation in its header (`# expect: load` or `# expect: error <component id> <reason>`).

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

use lambdatel::{config_source::ConfigSource, Registry};
use lambdatel_config::ConfigError;

/// Files whose expectation needs a feature that is not here yet: each must still miss its expectation
/// (so that the entry is removed as soon as the feature makes it pass).
const PENDING: &[(&str, &str)] = &[];

/// For `error` files where several components fail (the README's "also rejected"): every other
/// component the errors name. Each error names one of these or the header's component, and each is named.
const ALSO_REJECTED: &[(&str, &[&str])] = &[
    ("logzio-default.yaml", &["logzio/logs", "prometheusremotewrite", "telemetryapireceiver"]),
    ("cubeapm-telemetryapi.yaml", &["otlphttp/metrics", "otlphttp/traces"]),
    ("helloextend-coralogix-arize-s3.yaml", &["awss3", "otlp/mastra"]),
    // `types: ${SW_APM_TELEMETRY_API_SUBSCRIPTION}`: a variable's value is a scalar here, never parsed as a list.
    ("solarwinds-default.yaml", &["telemetryapi"]),
];

/// The stand-in values the compat README lists; any other variable a file names gets [`STAND_IN`], except
/// lambdatel's own AWS variables.
const ENVIRONMENT: &[(&str, &str)] = &[
    ("AWS_REGION", "us-east-1"),
    ("SPLUNK_REALM", "us1"),
    ("GRAFANA_CLOUD_OTLP_ENDPOINT", "https://otlp-gateway-prod-eu-west-2.grafana.net/otlp"),
    ("ELASTIC_OTLP_ENDPOINT", "apm.example.com:443"),
    ("CX_SECRET", "cx/api-key"),
    ("SW_APM_DATA_CENTER", "na-01"),
];
const STAND_IN: &str = "stand-in";

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/compat")
}

fn corpus() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("config/compat is readable")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn env(name: &str) -> Option<String> {
    match ENVIRONMENT.iter().find(|(k, _)| *k == name) {
        Some((_, value)) => Some(value.to_string()),
        // The AWS variables lambdatel reads on its own (credentials, endpoint overrides) stay unset, as in a
        // function's environment; a stand-in there would be an endpoint override that is not a URL.
        None if lambdatel_aws::env::VARIABLES.contains(&name) => None,
        None => Some(STAND_IN.to_owned()),
    }
}

#[derive(Debug, PartialEq)]
enum Expectation {
    Load,
    Error(String),
}

fn expectation(path: &Path) -> Expectation {
    let text = std::fs::read_to_string(path).unwrap();
    let line = text.lines().find_map(|l| l.strip_prefix("# expect: ")).expect("a `# expect:` header");
    match line.split_once(' ') {
        None if line == "load" => Expectation::Load,
        Some(("error", rest)) => Expectation::Error(rest.split(' ').next().unwrap().to_owned()),
        _ => panic!("{}: unknown expectation {line:?}", path.display()),
    }
}

/// Loads a file as `lambdatel validate FILE` does: the warnings, or every error.
fn load(path: &Path) -> Result<Vec<String>, Vec<ConfigError>> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let _guard = runtime.enter();
    let source = ConfigSource::File(path.to_owned());
    let aws_env = lambdatel_aws::Env::snapshot(&env);
    match lambdatel::check(lambdatel::config_source::load_partial(&source, &env), &Registry::builtin(), &aws_env) {
        Ok(checked) => Ok(checked.config.warnings),
        Err(errors) => Err(errors.0),
    }
}

/// The component an error is about: `exporters.otlp/x.endpoint` is about `otlp/x`.
fn component_of(error: &ConfigError) -> Option<&str> {
    let (_, rest) = error.path.split_once('.')?;
    Some(rest.split(['.', '[']).next().unwrap_or(rest))
}

/// Why a file misses its expectation, or `None` when it meets it.
fn check(path: &Path) -> Option<String> {
    let name = path.file_name().unwrap().to_str().unwrap();
    match (expectation(path), load(path)) {
        (Expectation::Load, Ok(_)) => None,
        (Expectation::Load, Err(errors)) => Some(format!("expected to load, got:\n{}", lines(&errors))),
        (Expectation::Error(id), Ok(_)) => Some(format!("expected an error naming {id}, but it loads")),
        (Expectation::Error(id), Err(errors)) => {
            let also = ALSO_REJECTED.iter().find(|(f, _)| *f == name).map_or(&[][..], |(_, ids)| ids);
            let expected: BTreeSet<&str> = also.iter().copied().chain([id.as_str()]).collect();
            let named: Vec<Option<&str>> = errors.iter().map(component_of).collect();
            let named_set: BTreeSet<&str> = named.iter().flatten().copied().collect();
            let unlocated = errors.iter().any(|e| e.line.is_none());
            if named.len() != expected.len() || named_set != expected || unlocated {
                Some(format!("expected one located error for each of {expected:?}, got:\n{}", lines(&errors)))
            } else {
                None
            }
        }
    }
}

fn lines(errors: &[ConfigError]) -> String {
    errors.iter().map(|e| format!("  {e}\n")).collect()
}

#[test]
fn every_corpus_file_meets_its_expectation_or_is_pending() {
    let files = corpus();
    assert_eq!(files.len(), 22, "the corpus README lists 22 files");
    let mut failures = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_str().unwrap();
        let pending = PENDING.iter().find(|(f, _)| *f == name);
        match (check(path), pending) {
            (None, None) | (Some(_), Some(_)) => {}
            (Some(why), None) => failures.push(format!("{name}: {why}")),
            (None, Some((_, feature))) => failures.push(format!(
                "{name} is listed as pending (needs {feature}) but meets its expectation: remove it from PENDING"
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for file in PENDING.iter().map(|(f, _)| *f).chain(ALSO_REJECTED.iter().map(|(f, _)| *f)) {
        assert!(files.iter().any(|p| p.ends_with(file)), "{file} is not in the corpus");
    }
}

#[test]
fn error_lines_name_the_component_and_its_line() {
    let errors = load(&corpus_dir().join("sumologic-readme-sample.yaml")).unwrap_err();
    assert_eq!(
        lines(&errors).trim_start().trim_end(),
        format!(
            "{}:10:3: exporters.otlphttp: traces_endpoint: \"$SUMOLOGIC_HTTP_TRACES_ENDPOINT_URL\" must start with http:// or https://",
            corpus_dir().join("sumologic-readme-sample.yaml").display()
        )
    );
}

#[test]
fn mapped_names_load_with_one_warning_each() {
    let warnings = load(&corpus_dir().join("otel-lambda-nodejs-sample-coralogix.yaml")).unwrap();
    let mapped: Vec<&String> = warnings.iter().filter(|w| w.contains("exporters.logging")).collect();
    assert_eq!(mapped.len(), 1, "{warnings:?}");
    assert!(
        mapped[0].ends_with(
            ":10:3: exporters.logging: logging is the Collector's former name for debug: mapped to debug with verbosity: detailed"
        ),
        "{}",
        mapped[0]
    );
}

/// The pre-`tls:` exporter key: `insecure: true` next to a bare `host:port` means plaintext gRPC, as
/// `tls.insecure: true` does; without it the exporter speaks TLS, which a plaintext backend refuses.
#[tokio::test]
async fn exporter_level_insecure_means_plaintext() {
    let sink = lambdatel_sim::OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let host_port = sink.grpc_endpoint().trim_start_matches("http://").to_owned();
    let export = |insecure: &'static str| {
        let yaml = format!(
            "receivers:\n  telemetryapi:\nexporters:\n  otlp:\n    endpoint: {host_port}\n{insecure}service:\n  \
             pipelines:\n    logs: {{receivers: [telemetryapi], exporters: [otlp]}}\n"
        );
        let config = lambdatel_config::parse(&yaml, None, &|_| None).unwrap();
        let mut graph = Registry::builtin().build_graph(&config).unwrap();
        let mut logs = lambdatel_pipeline::Signals::default();
        logs.logs.push(lambdatel_pipeline::logs::ResourceLogs {
            scope_logs: vec![lambdatel_pipeline::logs::ScopeLogs {
                log_records: vec![Default::default(); 3],
                ..Default::default()
            }],
            ..Default::default()
        });
        graph.dispatch(0, logs);
        async move { graph.export(tokio::time::Instant::now() + std::time::Duration::from_secs(2)).await.exported }
    };
    assert_eq!(export("    insecure: true\n").await, 3);
    assert_eq!(sink.received().log_count(), 3);
    assert_eq!(export("").await, 0, "TLS to a plaintext backend must fail");
    assert_eq!(sink.received().log_count(), 3);
}
