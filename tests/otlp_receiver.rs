//! The `otlp` receiver end to end: a Python function run by `awslambdaric` sends spans with the
//! OpenTelemetry Python SDK's OTLP/HTTP exporter to lambdatel on loopback during each invocation, and the
//! backend receives them in the same flush as lambdatel's own invocation span.

use std::path::PathBuf;

use lambdatel_e2e::*;
use lambdatel_sim::{
    FunctionSpec, Invocation, OtlpSink, ProcessFunction, Received, ShutdownReason, SimConfig, Simulator,
};

/// The interpreter with `awslambdaric` and the OpenTelemetry SDK.
fn python_with_otel_sdk() -> PathBuf {
    python_with(&["awslambdaric", "opentelemetry.sdk.trace", "opentelemetry.exporter.otlp.proto.http.trace_exporter"])
}

/// A handler that records two spans per call (a parent and a child) under its own service name and
/// flushes them before returning, as a function using the SDK in Lambda must.
const APP: &str = r#"
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

provider = TracerProvider(resource=Resource.create({"service.name": "py-orders"}))
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint="http://127.0.0.1:OTLP_PORT/v1/traces")))
tracer = provider.get_tracer("app")

def handler(event, context):
    with tracer.start_as_current_span("handle-order") as span:
        span.set_attribute("app.request_id", context.aws_request_id)
        with tracer.start_as_current_span("charge-card") as child:
            child.set_attribute("app.request_id", context.aws_request_id)
    flushed = provider.force_flush(5000)
    return {"flushed": flushed}
"#;

/// Names of the function's spans carrying `request_id`, sorted, and whether their resource is the
/// function's own.
fn function_spans(received: &Received, request_id: &str) -> Vec<String> {
    let mut names: Vec<String> = received
        .spans
        .iter()
        .filter(|r| {
            r.resource.as_ref().and_then(|res| attr(&res.attributes, "service.name")).as_deref() == Some("py-orders")
        })
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .filter(|s| attr(&s.attributes, "app.request_id").as_deref() == Some(request_id))
        .map(|s| s.name.clone())
        .collect();
    names.sort();
    names
}

fn invocation_spans(received: &Received, request_id: &str) -> usize {
    all_spans(received)
        .iter()
        .filter(|s| s.name == "orders" && attr(&s.attributes, "faas.invocation_id").as_deref() == Some(request_id))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_spans_arrive_with_the_invocation_span_in_the_same_flush() {
    let python = python_with_otel_sdk();
    let sink = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let dir = TempDir::new("otlp-receiver");
    let otlp_port = free_port();
    dir.write("app.py", &APP.replace("OTLP_PORT", &otlp_port.to_string()));
    let config = dir.write("config.yaml", &sdk_receiver_config(otlp_port, &sink.grpc_endpoint()));
    let mut sim = Simulator::start(SimConfig {
        function: FunctionSpec::Process(ProcessFunction {
            command: python,
            args: vec!["-m".into(), "awslambdaric".into(), "app.handler".into()],
            working_dir: Some(dir.path().to_path_buf()),
        }),
        handler: "app.handler".into(),
        echo_output: std::env::var_os("SIM_ECHO").is_some(),
        ..lambdatel_with_config(&config)
    })
    .await
    .expect("the simulator starts");
    assert_eq!(sim.last_init().unwrap().status, "success", "{:?}", sim.last_init());

    for round in 0..3 {
        let outcome =
            sim.invoke(Invocation { payload: r#"{"order": 1}"#.into(), ..Invocation::default() }).await.unwrap();
        assert_eq!(outcome.status, "success", "{outcome:?}");
        assert_eq!(String::from_utf8_lossy(outcome.response.as_ref().unwrap()), r#"{"flushed": true}"#);
        // Before the next invocation: the backend holds the function's spans and ours, each once.
        let received = sink.received();
        assert_eq!(
            function_spans(&received, &outcome.request_id),
            ["charge-card", "handle-order"],
            "round {round}: {:?}",
            received.span_names()
        );
        assert_eq!(invocation_spans(&received, &outcome.request_id), 1, "round {round}: {:?}", received.span_names());
    }
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    assert!(!report.extensions[0].killed);
    assert_eq!(report.extensions[0].exit_status.as_ref().and_then(|s| s.code), Some(0));
    // Nothing sent twice: three invocations, two function spans each.
    let function_total = sink
        .received()
        .spans
        .iter()
        .filter(|r| {
            r.resource.as_ref().and_then(|res| attr(&res.attributes, "service.name")).as_deref() == Some("py-orders")
        })
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum::<usize>();
    assert_eq!(function_total, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_on_error_fail_a_taken_otlp_port_fails_the_init_with_the_key_to_change() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = TempDir::new("otlp-taken");
    let yaml =
        sdk_receiver_config(port, "http://127.0.0.1:9").replacen("lambdatel:\n", "lambdatel:\n  on_error: fail\n", 1);
    let config = dir.write("config.yaml", &yaml);
    let sim = Simulator::start(lambdatel_with_config(&config)).await.expect("the simulator starts");
    assert_eq!(sim.last_init().unwrap().status, "error");
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    let errors = &report.extensions[0].errors;
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].error_type, "Extension.ListenerFailed");
    assert_eq!(
        errors[0].message.as_deref().unwrap_or_default(),
        format!(
            "receivers.otlp.protocols.http.endpoint: 127.0.0.1:{port} is already in use (by another extension or the function?); choose another port"
        )
    );
}
