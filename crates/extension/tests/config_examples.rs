//! Every example in `config/` loads and builds into the pipelines it promises, and configs written for
//! the OpenTelemetry Lambda collector load unchanged when they use only components lambdatel has, or
//! fail naming each component it lacks.

use std::{collections::BTreeMap, path::PathBuf};

use lambdatel::{settings_from, Registry};

fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config")
}

/// The variables the examples read, with stand-in values.
fn env(name: &str) -> Option<String> {
    let value = match name {
        "OTLP_ENDPOINT" => "collector.example.com:4317",
        "OTLP_AUTHORIZATION" => "Bearer example",
        "HONEYCOMB_API_KEY" => "hcaik_example",
        "GRAFANA_OTLP_ENDPOINT" => "https://otlp-gateway-prod-eu-west-2.grafana.net/otlp",
        "GRAFANA_OTLP_AUTH" => "MTIzNDU2OmdsY19leGFtcGxl",
        "DD_OTLP_TRACES_URL" => "https://traces.example.datadoghq.com/v1/traces",
        "DD_OTLP_METRICS_URL" => "https://metrics.example.datadoghq.com/v1/metrics",
        "DD_OTLP_LOGS_URL" => "https://logs.example.datadoghq.com/v1/logs",
        "DD_API_KEY" => "0123456789abcdef",
        "DD_OTLP_SOURCE" => "example",
        "OTEL_EXPORTER_OTLP_ENDPOINT" => "http://otel-gateway.internal:4317",
        "AWS_REGION" => "eu-west-1",
        "LAMBDATEL_LOG_GROUP" => "/aws/lambda/example-telemetry",
        "VENDOR_OTLP_ENDPOINT" => "https://otlp.vendor.example.com",
        "VENDOR_SECRET_ARN" => "arn:aws:secretsmanager:eu-west-1:123456789012:secret:vendor-AbCdEf",
        _ => return None,
    };
    Some(value.to_owned())
}

/// Loads and builds a config file; the graph's description, or every error.
fn build_file(path: &std::path::Path) -> Result<(Vec<String>, Vec<String>), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    // Secret store references stand for a value here: they are fetched by the running extension only.
    let references = |scheme: &str, argument: &str| Ok(format!("<{scheme}:{argument}>"));
    let (config, errors) = lambdatel_config::parse_partial_with(&text, Some("config.yaml"), &env, &references);
    let config = config.filter(|_| errors.0.is_empty()).ok_or_else(|| errors.to_string())?;
    settings_from(&config).map_err(|e| e.to_string())?;
    let graph = Registry::builtin().build_graph(&config).map_err(|e| e.to_string())?;
    Ok((graph.describe(), config.warnings.clone()))
}

fn build_text(yaml: &str) -> Result<Vec<String>, String> {
    let config = lambdatel_config::parse(yaml, Some("config.yaml"), &env).map_err(|e| e.to_string())?;
    settings_from(&config).map_err(|e| e.to_string())?;
    Registry::builtin().build_graph(&config).map(|g| g.describe()).map_err(|e| e.to_string())
}

fn pipelines(lines: &[&str]) -> Vec<String> {
    lines.iter().map(|l| l.to_string()).collect()
}

// Exporters connect lazily, but their clients need a runtime to exist.
#[tokio::test]
async fn every_example_builds() {
    let mut expected: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    expected.insert(
        "aws-native.yaml",
        pipelines(&[
            "traces: telemetryapi -> 1 processor(s) -> otlphttp/xray",
            "metrics: telemetryapi -> 1 processor(s) -> awsemf",
            "logs: telemetryapi -> 1 processor(s) -> otlphttp/logs",
        ]),
    );
    expected.insert(
        "secrets-manager-key.yaml",
        pipelines(&[
            "traces: telemetryapi -> 1 processor(s) -> otlphttp",
            "metrics: telemetryapi -> 1 processor(s) -> otlphttp",
            "logs: telemetryapi -> 1 processor(s) -> otlphttp",
        ]),
    );
    expected.insert(
        "datadog.yaml",
        pipelines(&[
            "traces: telemetryapi -> 1 processor(s) -> otlphttp",
            "metrics: telemetryapi -> 1 processor(s) -> otlphttp",
            "logs: telemetryapi -> 1 processor(s) -> otlphttp",
        ]),
    );
    expected.insert(
        "gateway.yaml",
        pipelines(&[
            "traces: telemetryapi -> 1 processor(s) -> otlp",
            "metrics: telemetryapi -> 1 processor(s) -> otlp",
            "logs: telemetryapi -> 1 processor(s) -> otlp",
        ]),
    );
    expected.insert(
        "grafana-cloud.yaml",
        pipelines(&[
            "traces: telemetryapi -> 2 processor(s) -> otlphttp",
            "metrics: telemetryapi -> 2 processor(s) -> otlphttp",
            "logs: telemetryapi -> 2 processor(s) -> otlphttp",
        ]),
    );
    expected.insert(
        "honeycomb.yaml",
        pipelines(&[
            "traces: telemetryapi -> 2 processor(s) -> otlp",
            "metrics: telemetryapi -> 1 processor(s) -> otlp/metrics",
            "logs: telemetryapi -> 1 processor(s) -> otlp",
        ]),
    );
    expected.insert(
        "local-collector.yaml",
        pipelines(&[
            "traces: telemetryapi -> 1 processor(s) -> otlp, debug",
            "metrics: telemetryapi -> 1 processor(s) -> otlp",
            "logs: telemetryapi -> 1 processor(s) -> otlp",
        ]),
    );
    expected.insert(
        "otlp-collector.yaml",
        pipelines(&[
            "traces: telemetryapi -> 3 processor(s) -> otlp",
            "metrics: telemetryapi -> 2 processor(s) -> otlp",
            "logs: telemetryapi -> 4 processor(s) -> otlp",
        ]),
    );

    let mut found = BTreeMap::new();
    for entry in std::fs::read_dir(examples_dir()).expect("the config folder") {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let (described, warnings) = build_file(&path).unwrap_or_else(|e| panic!("{name} does not build:\n{e}"));
        assert_eq!(warnings, Vec::<String>::new(), "{name}");
        found.insert(name, described);
    }
    let found: BTreeMap<&str, Vec<String>> = found.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    assert_eq!(found, expected, "every example is listed here, and builds into these pipelines");
}

#[tokio::test]
async fn an_unset_variable_is_reported() {
    let config = lambdatel_config::load_file(&examples_dir().join("honeycomb.yaml"), &|_| None).unwrap();
    assert!(
        config.warnings.iter().any(|w| w.contains("HONEYCOMB_API_KEY")),
        "an unset API key is worth a warning: {:?}",
        config.warnings
    );
}

/// The OpenTelemetry Lambda collector's own default configuration, plus processors from its layer that
/// lambdatel has (decouple with its queue size, attributes, filter, resource, probabilistic_sampler).
const LAMBDA_COLLECTOR_CONFIG: &str = r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: "localhost:4317"
      http:
        endpoint: "localhost:4318"
  telemetryapi:

processors:
  batch:
  decouple:
    max_queue_size: 20
  attributes:
    actions:
      - key: environment
        value: production
        action: insert
      - key: http.request.header.authorization
        action: delete
  filter:
    spans:
      exclude:
        match_type: strict
        span_names: ["GET /health"]
  resource:
    attributes:
      - key: cloud.account.id
        action: hash
  probabilistic_sampler:
    sampling_percentage: 50
    hash_seed: 22

exporters:
  debug:
    verbosity: detailed
  otlp:
    endpoint: "collector.example.com:4317"
    headers:
      api-key: ${env:OTLP_AUTHORIZATION}

service:
  pipelines:
    traces:
      receivers: [otlp, telemetryapi]
      processors: [attributes, filter, resource, probabilistic_sampler, batch, decouple]
      exporters: [debug, otlp]
    metrics:
      receivers: [otlp, telemetryapi]
      processors: [resource, batch, decouple]
      exporters: [otlp]
    logs:
      receivers: [telemetryapi]
      processors: [attributes, batch, decouple]
      exporters: [otlp]
"#;

#[tokio::test]
async fn a_lambda_collector_config_loads_unchanged() {
    assert_eq!(
        build_text(LAMBDA_COLLECTOR_CONFIG).unwrap(),
        pipelines(&[
            "traces: otlp, telemetryapi -> 6 processor(s) -> debug, otlp",
            "metrics: otlp, telemetryapi -> 3 processor(s) -> otlp",
            "logs: telemetryapi -> 3 processor(s) -> otlp",
        ])
    );
}

#[tokio::test]
async fn components_lambdatel_lacks_are_each_named() {
    let yaml = r#"
receivers:
  telemetryapi:
  prometheus:
    config: {}
processors:
  batch:
  memory_limiter:
    check_interval: 1s
  groupbyattrs:
    keys: []
  decouple:
exporters:
  otlp:
    endpoint: "collector.example.com:4317"
  awsxray:
  prometheusremotewrite:
    endpoint: "https://prometheus.example.com/api/v1/write"
service:
  pipelines:
    traces:
      receivers: [telemetryapi]
      processors: [memory_limiter, groupbyattrs, batch, decouple]
      exporters: [otlp, awsxray]
    metrics:
      receivers: [telemetryapi, prometheus]
      processors: [batch]
      exporters: [prometheusremotewrite]
"#;
    // Every unknown component is named, pipeline by pipeline (traces, then metrics).
    let error = build_text(yaml).unwrap_err();
    let processors = Registry::builtin().processor_types().join(", ");
    assert_eq!(
        error,
        format!(
            "config.yaml:8:3: processors.memory_limiter: memory_limiter needs limit_mib or limit_percentage above zero\n\
             config.yaml:10:3: processors.groupbyattrs: unknown processor type \"groupbyattrs\" (lambdatel has: {processors})\n\
             config.yaml:16:3: exporters.awsxray.region: set region or AWS_REGION\n\
             config.yaml:4:3: receivers.prometheus: unknown receiver type \"prometheus\" (lambdatel has: {receivers})\n\
             config.yaml:17:3: exporters.prometheusremotewrite: unknown exporter type \"prometheusremotewrite\" (lambdatel has: {exporters})",
            receivers = Registry::builtin().types(lambdatel_components::registry::Kind::Receiver).join(", "),
            exporters = Registry::builtin().types(lambdatel_components::registry::Kind::Exporter).join(", "),
        )
    );
    assert_eq!(
        processors,
        "attributes, batch, coldstart, decouple, filter, memory_limiter, probabilistic_sampler, redaction, resource, \
         resourcedetection, span, tail_sampling, transform",
        "the processors a Lambda collector config may use"
    );
}

#[tokio::test]
async fn ottl_conditions_load_and_a_function_outside_the_subset_is_refused_by_name_and_line() {
    let yaml = r#"
receivers:
  telemetryapi:
processors:
  filter/ottl:
    error_mode: ignore
    traces:
      span:
        - 'attributes["http.route"] == "/health"'
        - 'IsRootSpan()'
exporters:
  otlp:
    endpoint: "collector.example.com:4317"
service:
  pipelines:
    traces: {receivers: [telemetryapi], processors: [filter/ottl], exporters: [otlp]}
"#;
    assert_eq!(
        build_text(yaml).unwrap_err(),
        "config.yaml:10:11: processors.filter/ottl.traces.span[1]: unsupported function `IsRootSpan` in `IsRootSpan()`"
    );
    let supported = yaml.replace("        - 'IsRootSpan()'\n", "");
    assert_eq!(build_text(&supported).unwrap(), ["traces: telemetryapi -> 1 processor(s) -> otlp"]);
}

/// The generic example's processors do what its comments say, run through the service graph as the
/// extension runs them.
#[tokio::test]
async fn the_generic_example_redacts_filters_and_tags() {
    use lambdatel_pipeline::{
        common::{any_value::Value, AnyValue, KeyValue},
        logs::{LogRecord, ResourceLogs, ScopeLogs},
        resource::Resource,
        trace::{ResourceSpans, ScopeSpans, Span},
        Signals,
    };
    let text = |s: &str| Some(AnyValue { value: Some(Value::StringValue(s.into())) });
    let kv = |k: &str, v: &str| KeyValue { key: k.into(), value: text(v), ..Default::default() };
    let resource = || Some(Resource { attributes: vec![kv("service.name", "orders")], ..Default::default() });

    let config = lambdatel_config::load_file(&examples_dir().join("otlp-collector.yaml"), &env).unwrap();
    let mut graph = Registry::builtin().build_graph(&config).unwrap();
    let signals = Signals {
        spans: vec![ResourceSpans {
            resource: resource(),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    name: "checkout".into(),
                    attributes: vec![kv("user.email", "alice@example.com"), kv("db.password", "hunter2")],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
        metrics: vec![],
        logs: vec![ResourceLogs {
            resource: resource(),
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    LogRecord { body: text("START RequestId: 1 Version: $LATEST"), ..Default::default() },
                    LogRecord { body: text("paid with 4111 1111 1111 1111"), ..Default::default() },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let out = graph.process(0, signals);
    assert_eq!(out.len(), 2, "traces and logs");
    let environment = vec![kv("service.name", "orders"), kv("deployment.environment", "production")];
    for (_, data) in &out {
        let resources: Vec<_> = data
            .spans
            .iter()
            .map(|r| &r.resource)
            .chain(data.logs.iter().map(|r| &r.resource))
            .map(|r| r.as_ref().unwrap().attributes.clone())
            .collect();
        assert_eq!(resources, vec![environment.clone()]);
    }
    let spans: Vec<&Span> =
        out.iter().flat_map(|(_, d)| &d.spans).flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans).collect();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].attributes, vec![kv("user.email", "****"), kv("db.password", "****")]);
    let bodies: Vec<Option<AnyValue>> = out
        .iter()
        .flat_map(|(_, d)| &d.logs)
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
        .map(|r| r.body.clone())
        .collect();
    assert_eq!(bodies, vec![text("paid with ****")]);
}

fn check(yaml: &str, env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let parsed = lambdatel_config::parse_partial(yaml, Some("c.yaml"), env);
    match lambdatel::check(parsed, &Registry::builtin(), &lambdatel_aws::Env::snapshot(env)) {
        Ok(_) => vec![],
        Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn graph_errors_and_component_settings_are_reported_together() {
    let yaml = "receivers:
  telemetryapi:
    buffering:
      timeout_ms: soon
exporters:
  debug:
service:
  pipelines:
    logs: {receivers: [telemetryapi], exporters: [debug, otlp/missing]}
";
    assert_eq!(
        check(yaml, &|_| None),
        [
            "c.yaml:4:7: receivers.telemetryapi.buffering.timeout_ms: invalid type: string \"soon\", expected u32",
            "c.yaml:9:58: service.pipelines.logs.exporters[1]: exporter \"otlp/missing\" is not defined in exporters",
        ]
    );
}

#[test]
fn an_error_names_the_unset_variable_behind_it() {
    let yaml = "receivers:
  telemetryapi:
exporters:
  otlp:
    endpoint: ${env:BACKEND_URL}
service:
  pipelines:
    logs: {receivers: [telemetryapi], exporters: [otlp]}
";
    assert_eq!(
        check(yaml, &|_| None),
        ["c.yaml:4:3: exporters.otlp: endpoint is empty; unset environment variable \"BACKEND_URL\" (at exporters.otlp.endpoint)"]
    );
    let set = |name: &str| (name == "BACKEND_URL").then(|| "http://127.0.0.1:4317".to_string());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let _guard = rt.enter();
    assert_eq!(check(yaml, &set), Vec::<String>::new());
}
