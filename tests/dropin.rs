//! A function switched from the ADOT Java layer to lambdatel by changing the layer only: its collector
//! YAML from the compatibility corpus (`config/compat/elastic-adot-java.yaml`, with the `logging`
//! exporter) is used as it is, the backend endpoint comes from the variable that YAML reads, and the
//! function's SDK sends to the Collector's default OTLP/HTTP port. The backend (the simulator's OTLP
//! sink) must receive exactly what the YAML's pipelines ask for: traces and metrics, no logs.

use std::path::{Path, PathBuf};

use lambdatel_e2e::*;
use lambdatel_sim::{
    FunctionSpec, Invocation, OtlpSink, ProcessFunction, Received, ShutdownReason, SimConfig, Simulator,
};
use opentelemetry_proto::tonic::{metrics::v1::metric::Data, resource::v1::Resource};

/// The interpreter with `awslambdaric` and the OpenTelemetry metrics SDK.
fn python_with_otel_sdk() -> PathBuf {
    python_with(&[
        "awslambdaric",
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

/// (function spans, the function's counter data points, log records) received so far.
fn counts(received: &Received) -> (usize, usize, usize) {
    let spans = received
        .spans
        .iter()
        .filter(|r| of_function(r.resource.as_ref()))
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum();
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
    // Without a telemetryapi receiver nothing marks an invocation's end, so an invocation's data may go
    // out at the next flush (the next INVOKE or shutdown): the totals are what the YAML asks for. Two
    // spans and one data point per call, each once, and no logs (the YAML has no logs pipeline).
    assert_eq!(counts(&sink.received()), (6, 3, 0));
}
