//! Functions switched to lambdatel by changing the layer only, with their collector YAML from the
//! compatibility corpus used as it is, found through the variable the layer's documentation names, while
//! the function's SDK sends to the Collector's default OTLP/HTTP port:
//! - from the ADOT Java layer (`elastic-adot-java.yaml`, with the `logging` exporter, named by
//!   `OPENTELEMETRY_COLLECTOR_CONFIG_FILE`): the backend (the simulator's OTLP sink) must receive exactly
//!   what the YAML's pipelines ask for: traces and metrics, no logs;
//! - from the OpenTelemetry Lambda layer, its documented custom configuration (`otel-lambda-docs-awsxray.yaml`,
//!   named by `OPENTELEMETRY_COLLECTOR_CONFIG_URI` as that page says): traces to X-Ray, SigV4-signed and
//!   verified by botocore, and metrics to the `debug` exporter's lines.

mod aws_fixtures;

use std::path::{Path, PathBuf};

use aws_fixtures::*;
use lambdatel_e2e::*;
use lambdatel_sim::{
    FunctionSpec, Invocation, OtlpSink, ProcessFunction, Received, ShutdownReason, SimConfig, Simulator,
};
use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest, metrics::v1::metric::Data, resource::v1::Resource,
    trace::v1::ResourceSpans,
};
use prost::Message;

/// Both functions' SDKs send to the Collector's default ports, which each config binds: one at a time.
static DEFAULT_PORTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The interpreter with `awslambdaric` and the OpenTelemetry metrics SDK (and botocore, for the verifier).
fn python_with_otel_sdk() -> PathBuf {
    python_with(&[
        "awslambdaric",
        "botocore",
        "opentelemetry.sdk.metrics",
        "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    ])
}

/// Two spans and one counter increment per call, sent with the SDK's defaults (OTLP/HTTP to
/// localhost:4318) and flushed before returning. The periodic reader's interval is long so that only
/// the flushes export.
const APP: &str = r#"
from opentelemetry import metrics, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

resource = Resource.create({"service.name": "java-shop"})
tracer_provider = TracerProvider(resource=resource)
tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
tracer = tracer_provider.get_tracer("shop")
meter_provider = MeterProvider(
    resource=resource,
    metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter(), export_interval_millis=3_600_000)],
)
orders = meter_provider.get_meter("shop").create_counter("shop.orders")

def handler(event, context):
    with tracer.start_as_current_span("checkout"):
        with tracer.start_as_current_span("charge"):
            orders.add(1)
    return {"traces": tracer_provider.force_flush(5000), "metrics": meter_provider.force_flush(5000)}
"#;

fn corpus_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/compat").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn of_function(resource: Option<&Resource>) -> bool {
    resource.and_then(|r| attr(&r.attributes, "service.name")).as_deref() == Some("java-shop")
}

/// The function's spans in `requests`, each with its trace id.
fn function_spans(requests: &[ResourceSpans]) -> Vec<(Vec<u8>, String)> {
    requests
        .iter()
        .filter(|r| of_function(r.resource.as_ref()))
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| (s.trace_id.clone(), s.name.clone()))
        .collect()
}

/// (function spans, the function's counter data points, log records) received so far.
fn counts(received: &Received) -> (usize, usize, usize) {
    let spans = function_spans(&received.spans).len();
    let points = received
        .metrics
        .iter()
        .filter(|r| of_function(r.resource.as_ref()))
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .filter(|m| m.name == "shop.orders")
        .map(|m| match &m.data {
            Some(Data::Sum(sum)) => sum.data_points.len(),
            _ => 0,
        })
        .sum();
    let logs = received.logs.iter().flat_map(|r| &r.scope_logs).map(|s| s.log_records.len()).sum();
    (spans, points, logs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adot_layer_config_exports_what_it_asks_for() {
    let _ports = DEFAULT_PORTS.lock().await;
    let python = python_with_otel_sdk();
    let sink = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let dir = TempDir::new("dropin");
    dir.write("app.py", APP);
    let config = dir.write("opentelemetry-collector.yaml", &corpus_file("elastic-adot-java.yaml"));
    // Set up as the OpenTelemetry Lambda layer's README says: its variable names the config.
    let mut setup = lambdatel_with_config(&config);
    setup.env.retain(|(k, _)| k != "LAMBDATEL_CONFIG");
    setup.env.push(("OPENTELEMETRY_COLLECTOR_CONFIG_FILE".into(), config.display().to_string()));
    setup.env.push(("ELASTIC_OTLP_ENDPOINT".into(), sink.grpc_endpoint()));
    setup.env.push(("ELASTIC_OTLP_TOKEN".into(), "elastic-token".into()));
    let lines = run_three_invocations(python, &dir, setup).await;
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("config from OPENTELEMETRY_COLLECTOR_CONFIG_FILE={}", config.display()))),
        "{lines:#?}"
    );
    // Without a telemetryapi receiver nothing marks an invocation's end, so an invocation's data may go
    // out at the next flush (the next INVOKE or shutdown): the totals are what the YAML asks for. Two
    // spans and one data point per call, each once, and no logs (the YAML has no logs pipeline).
    assert_eq!(counts(&sink.received()), (6, 3, 0));
}

/// Runs the function of `APP` in `dir` under `setup` three times and shuts down, checking that each call
/// and the extension succeeded; the extension's lines.
async fn run_three_invocations(python: PathBuf, dir: &TempDir, setup: SimConfig) -> Vec<String> {
    let mut sim = Simulator::start(SimConfig {
        function: FunctionSpec::Process(ProcessFunction {
            command: python,
            args: vec!["-m".into(), "awslambdaric".into(), "app.handler".into()],
            working_dir: Some(dir.path().to_path_buf()),
        }),
        handler: "app.handler".into(),
        echo_output: std::env::var_os("SIM_ECHO").is_some(),
        ..setup
    })
    .await
    .expect("the simulator starts");
    assert_eq!(sim.last_init().unwrap().status, "success", "{:?}", sim.last_init());
    for _ in 0..3 {
        let outcome = sim.invoke(Invocation { payload: "{}".into(), ..Invocation::default() }).await.unwrap();
        assert_eq!(outcome.status, "success", "{outcome:?}");
        assert_eq!(String::from_utf8_lossy(outcome.response.as_ref().unwrap()), r#"{"traces": true, "metrics": true}"#);
    }
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    assert!(report.extensions[0].errors.is_empty(), "{:#?}", report.extensions[0]);
    assert_eq!(report.extensions[0].exit_status.as_ref().and_then(|s| s.code), Some(0));
    extension_lines(&report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_opentelemetry_lambda_layers_documented_config_sends_signed_traces_to_xray() {
    let _ports = DEFAULT_PORTS.lock().await;
    let python = python_with_otel_sdk();
    let verifier = start_verifier("AKIDEXAMPLE", "layer-secret");
    let dir = TempDir::new("dropin-xray");
    dir.write("app.py", APP);
    // "Set an environment variable 'OPENTELEMETRY_COLLECTOR_CONFIG_URI' to '/var/task/collector.yaml'":
    // the function's directory, as /var/task is in Lambda.
    let config = dir.write("collector.yaml", &corpus_file("otel-lambda-docs-awsxray.yaml"));
    let mut setup = lambdatel_with_config(&config);
    setup.env = vec![
        ("OPENTELEMETRY_COLLECTOR_CONFIG_URI".into(), config.display().to_string()),
        ("AWS_REGION".into(), "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID".into(), "AKIDEXAMPLE".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "layer-secret".into()),
        ("AWS_SESSION_TOKEN".into(), "layer-session".into()),
        // Where the AWS SDKs, and lambdatel, reach X-Ray instead of https://xray.us-east-1.amazonaws.com.
        ("AWS_ENDPOINT_URL_XRAY".into(), format!("http://127.0.0.1:{}", verifier.port)),
    ];
    let lines = run_three_invocations(python, &dir, setup).await;
    assert!(
        lines.iter().any(|l| l.contains(&format!("ready: config from OPENTELEMETRY_COLLECTOR_CONFIG_URI={}", config.display()))),
        "{lines:#?}"
    );

    // Traces: every request verified by botocore as signed for X-Ray in the function's region.
    assert_eq!(get_json(verifier.port, "/__seen")["rejected"], serde_json::json!({}), "{lines:#?}");
    let accepted = get_json(verifier.port, "/__accepted");
    let mut requests = Vec::new();
    for request in accepted.as_array().expect("a list") {
        assert_eq!(
            (&request["path"], &request["service"], &request["region"]),
            (&"/v1/traces".into(), &"xray".into(), &"us-east-1".into())
        );
        let body = hex_bytes(request["body"].as_str().unwrap());
        requests.extend(ExportTraceServiceRequest::decode(body.as_slice()).expect("OTLP protobuf").resource_spans);
    }
    let mut spans = function_spans(&requests);
    spans.sort();
    let traces: std::collections::BTreeSet<&Vec<u8>> = spans.iter().map(|(trace, _)| trace).collect();
    assert_eq!(spans.len(), 6, "{spans:?}");
    assert_eq!(traces.len(), 3, "one trace per call: {spans:?}");
    for trace in traces {
        let names: Vec<&str> = spans.iter().filter(|(t, _)| t == trace).map(|(_, name)| name.as_str()).collect();
        assert_eq!(names, ["charge", "checkout"]);
    }

    // Metrics: to `debug`, at its default verbosity one line per metric, the counter's cumulative value.
    let counter: Vec<&str> =
        lines.iter().filter(|l| l.contains("lambdatel.debug metric shop.orders")).map(|l| l.as_str()).collect();
    assert_eq!(
        counter,
        [
            "lambdatel.debug metric shop.orders () value=1",
            "lambdatel.debug metric shop.orders () value=2",
            "lambdatel.debug metric shop.orders () value=3"
        ]
    );
    assert!(!lines.iter().any(|l| l.contains("layer-secret") || l.contains("layer-session")), "{lines:#?}");
}

fn hex_bytes(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}
