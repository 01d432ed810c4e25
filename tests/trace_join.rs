//! One trace per request, end to end: a Python function run by `awslambdaric`, instrumented with
//! `opentelemetry-instrumentation-aws-lambda` and the OTLP/HTTP exporter pointed at lambdatel's `otlp`
//! receiver, under the simulator. The backend must see each invocation as one trace: the SDK's spans,
//! lambdatel's phase spans and `Init` under the SDK's entry span, the log records pointing at it, and no
//! span whose parent is missing but the caller's.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use lambdatel_e2e::*;
use lambdatel_sim::{
    FunctionSpec, Invocation, OtlpSink, ProcessFunction, Received, ShutdownReason, SimConfig, Simulator,
};
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode, Span};
use serde_json::Value;

/// The interpreter with `awslambdaric` and the OpenTelemetry packages.
fn python_with_instrumentation() -> PathBuf {
    python_with(&[
        "awslambdaric",
        "opentelemetry.instrumentation.aws_lambda",
        "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    ])
}

/// The instrumentation's entry point, as the OpenTelemetry Lambda layer's `otel_wrapper.py` does it: set
/// the SDK up, instrument the handler named by `ORIG_HANDLER`, then call it.
const OTEL_WRAPPER: &str = r#"
import os
from importlib import import_module
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.aws_lambda import AwsLambdaInstrumentor

provider = TracerProvider(resource=Resource.create({"service.name": "orders-sdk"}))
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=os.environ["OTLP_TRACES_URL"])))
trace.set_tracer_provider(provider)
AwsLambdaInstrumentor().instrument()

module_name, handler_name = os.environ["ORIG_HANDLER"].rsplit(".", 1)
handler = getattr(import_module(module_name), handler_name)

def lambda_handler(event, context):
    return handler(event, context)
"#;

/// The function: a text line through `print`, one through `logging` (the runtime's prefix), a child span,
/// and on request a sleep past the timeout after its child span has been exported.
const FUNCTION: &str = r#"
import logging, time
from opentelemetry import trace

logger = logging.getLogger()
logger.setLevel(logging.INFO)
tracer = trace.get_tracer("orders")

def handler(event, context):
    print(f"handling {context.aws_request_id}")
    logger.info("charging %s", context.aws_request_id)
    with tracer.start_as_current_span("charge-card"):
        pass
    if event.get("sleep"):
        trace.get_tracer_provider().force_flush()
        time.sleep(event["sleep"])
    return {"statusCode": 201, "body": "ok"}
"#;

/// An API Gateway REST event (AWS's sample) whose request carries `traceparent`.
fn api_gateway_event(traceparent: &str, extra: Option<(&str, Value)>) -> Vec<u8> {
    let path = repository().join("crates/components/tests/fixtures/triggers/apigw-request.json");
    let mut event: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    event["headers"]["traceparent"] = traceparent.into();
    event["multiValueHeaders"]["traceparent"] = serde_json::json!([traceparent]);
    if let Some((key, value)) = extra {
        event[key] = value;
    }
    serde_json::to_vec(&event).unwrap()
}

fn random_hex(bytes: usize) -> String {
    (0..bytes).map(|_| format!("{:02x}", fastrand::u8(..))).collect()
}

struct Function {
    sim: Simulator,
    sink: OtlpSink,
    _dir: TempDir,
}

async fn start(propagators: &str, aws_propagation_disabled: bool, timeout_ms: u64) -> Function {
    let python = python_with_instrumentation();
    let sink = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let dir = TempDir::new("trace-join");
    let otlp_port = free_port();
    dir.write("otel_wrapper.py", OTEL_WRAPPER);
    dir.write("function.py", FUNCTION);
    let config = dir.write("config.yaml", &sdk_receiver_config(otlp_port, &sink.grpc_endpoint()));
    let mut base = lambdatel_with_config(&config);
    base.env.extend([
        ("ORIG_HANDLER".to_string(), "function.handler".to_string()),
        ("OTLP_TRACES_URL".into(), format!("http://127.0.0.1:{otlp_port}/v1/traces")),
        ("OTEL_PROPAGATORS".into(), propagators.into()),
    ]);
    if aws_propagation_disabled {
        base.env.push(("OTEL_LAMBDA_DISABLE_AWS_CONTEXT_PROPAGATION".into(), "true".into()));
    }
    let sim = Simulator::start(SimConfig {
        function: FunctionSpec::Process(ProcessFunction {
            command: python,
            args: vec!["-m".into(), "awslambdaric".into(), "otel_wrapper.lambda_handler".into()],
            working_dir: Some(dir.path().to_path_buf()),
        }),
        handler: "otel_wrapper.lambda_handler".into(),
        timeout: std::time::Duration::from_millis(timeout_ms),
        echo_output: std::env::var_os("SIM_ECHO").is_some(),
        ..base
    })
    .await
    .expect("the simulator starts");
    assert_eq!(sim.last_init().unwrap().status, "success", "{:?}", sim.last_init());
    Function { sim, sink, _dir: dir }
}

/// One invocation as sent: its request id, the caller's trace and span, and the X-Ray header Lambda gave.
struct Sent {
    request_id: String,
    caller_trace: String,
    caller_span: String,
    xray_root: String,
    xray_parent: String,
}

async fn invoke(function: &mut Function, extra: Option<(&str, Value)>) -> (Sent, String) {
    let (caller_trace, caller_span) = (random_hex(16), random_hex(8));
    let epoch = random_hex(4);
    let random = random_hex(12);
    let xray_parent = random_hex(8);
    let header = format!("Root=1-{epoch}-{random};Parent={xray_parent};Sampled=1");
    let outcome = function
        .sim
        .invoke(Invocation {
            payload: api_gateway_event(&format!("00-{caller_trace}-{caller_span}-01"), extra).into(),
            trace_header: Some(header),
            ..Invocation::default()
        })
        .await
        .unwrap();
    let sent = Sent {
        request_id: outcome.request_id.clone(),
        caller_trace,
        caller_span,
        xray_root: format!("{epoch}{random}"),
        xray_parent,
    };
    (sent, outcome.status)
}

fn spans_by_id(received: &Received) -> HashMap<String, Span> {
    all_spans(received).into_iter().map(|s| (hex(&s.span_id), s)).collect()
}

/// The spans that carry `request_id` in `faas.invocation_id`.
fn tagged<'a>(spans: &'a HashMap<String, Span>, request_id: &str) -> Vec<&'a Span> {
    spans.values().filter(|s| attr(&s.attributes, "faas.invocation_id").as_deref() == Some(request_id)).collect()
}

/// Checks one successful invocation; `trace` and `remote_parent` are where the SDK's entry span must be.
fn assert_one_trace(received: &Received, sent: &Sent, trace: &str, remote_parent: &str, first: bool) {
    let spans = spans_by_id(received);
    let id = &sent.request_id;
    let entries = tagged(&spans, id);
    assert_eq!(entries.len(), 1, "{id}: one span stands for the invocation: {entries:#?}");
    let entry = entries[0];
    assert_eq!(
        (entry.name.as_str(), entry.kind, hex(&entry.trace_id), hex(&entry.parent_span_id)),
        ("orders", SpanKind::Server as i32, trace.to_string(), remote_parent.to_string()),
        "{id}"
    );
    // The platform facts lambdatel adds to the SDK's span.
    assert_eq!(attr(&entry.attributes, "faas.coldstart").as_deref(), Some(if first { "true" } else { "false" }));
    assert_eq!(attr(&entry.attributes, "faas.trigger").as_deref(), Some("http"));
    assert_eq!(entry.status.as_ref().map(|s| s.code), Some(StatusCode::Ok as i32), "{id}: from runtimeDone");
    let mut children: Vec<&str> = spans
        .values()
        .filter(|s| s.parent_span_id == entry.span_id)
        .inspect(|s| assert_eq!(s.trace_id, entry.trace_id, "{id}: {} in the same trace", s.name))
        .map(|s| s.name.as_str())
        .collect();
    children.sort_unstable();
    let mut expected = vec!["charge-card", "responseLatency", "responseDuration", "runtimeOverhead"];
    if first {
        expected.push("Init");
    }
    expected.sort_unstable();
    let found: Vec<&str> = children.iter().copied().filter(|n| expected.contains(n)).collect();
    assert_eq!(found, expected, "{id}: children {children:?}");
    // Every log line of the invocation points at the entry span, and its body is the bare message.
    let logs = all_logs(received);
    for message in [format!("handling {id}"), format!("charging {id}")] {
        let matching: Vec<_> =
            logs.iter().filter(|r| r.body.as_ref().map(text).as_deref() == Some(message.as_str())).collect();
        assert_eq!(matching.len(), 1, "{id}: {message:?} once, without the runtime's prefix");
        assert_eq!((hex(&matching[0].trace_id), hex(&matching[0].span_id)), (trace.to_string(), hex(&entry.span_id)));
    }
}

/// No span's parent is missing from the backend, other than the allowed remote parents.
fn assert_no_orphans(received: &Received, remote_parents: &HashSet<String>) {
    let spans = spans_by_id(received);
    for span in spans.values().filter(|s| !s.parent_span_id.is_empty()) {
        let parent = hex(&span.parent_span_id);
        assert!(
            spans.contains_key(&parent) || remote_parents.contains(&parent),
            "{} ({}) points at a parent nobody sent: {parent}",
            span.name,
            hex(&span.span_id)
        );
    }
}

/// The two fifty-invocation runs take turns: side by side they starve each other's log readers on 2 cores.
static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn fifty_invocations_are_fifty_traces(propagators: &str, aws_propagation_disabled: bool, follow_xray: bool) {
    let _turn = HEAVY.lock().await;
    let mut function = start(propagators, aws_propagation_disabled, 10_000).await;
    let mut sent = Vec::new();
    for _ in 0..50 {
        let (invocation, status) = invoke(&mut function, None).await;
        assert_eq!(status, "success");
        sent.push(invocation);
    }
    let report = function.sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    assert_eq!(report.extensions[0].exit_status.as_ref().and_then(|s| s.code), Some(0));
    let received = function.sink.received();
    let mut remote_parents = HashSet::new();
    for (n, invocation) in sent.iter().enumerate() {
        let (trace, parent) = if follow_xray {
            (&invocation.xray_root, &invocation.xray_parent)
        } else {
            (&invocation.caller_trace, &invocation.caller_span)
        };
        assert_one_trace(&received, invocation, trace, parent, n == 0);
        remote_parents.insert(parent.clone());
    }
    assert_no_orphans(&received, &remote_parents);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn w3c_only_each_invocation_is_one_trace() {
    fifty_invocations_are_fifty_traces("tracecontext", true, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_xray_propagation_each_invocation_is_one_trace() {
    // The Lambda X-Ray propagator follows `_X_AMZN_TRACE_ID`, the header Lambda gives the invocation. (Listed
    // with `tracecontext`, it yields to the event's `traceparent`: that case is the W3C one above.)
    fifty_invocations_are_fifty_traces("xray-lambda", false, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_invocation_gets_one_error_parent_and_no_orphans() {
    let mut function = start("tracecontext", true, 1_500).await;
    let (timed_out, status) = invoke(&mut function, Some(("sleep", 5.into()))).await;
    assert_eq!(status, "timeout");
    let report = function.sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    assert_eq!(report.extensions[0].exit_status.as_ref().and_then(|s| s.code), Some(0));
    let received = function.sink.received();
    let spans = spans_by_id(&received);
    let charge = spans.values().find(|s| s.name == "charge-card").expect("the exported child span");
    let parent = spans.get(&hex(&charge.parent_span_id)).expect("the missing entry span, rebuilt");
    assert_eq!(
        (
            parent.name.as_str(),
            hex(&parent.trace_id),
            hex(&parent.parent_span_id),
            parent.status.as_ref().map(|s| s.code),
            attr(&parent.attributes, "faas.invocation_id"),
            attr(&parent.attributes, "error.type"),
        ),
        (
            "orders",
            timed_out.caller_trace.clone(),
            // Without the Runtime API proxy nothing tells the caller's span: the rebuilt parent is the root.
            String::new(),
            Some(StatusCode::Error as i32),
            Some(timed_out.request_id.clone()),
            Some("Sandbox.Timedout".to_string()),
        )
    );
    assert_eq!(tagged(&spans, &timed_out.request_id).len(), 1, "only the rebuilt parent stands for it");
    let under: HashSet<&str> =
        spans.values().filter(|s| s.parent_span_id == parent.span_id).map(|s| s.name.as_str()).collect();
    assert!(under.contains("charge-card") && under.contains("Init"), "{under:?}");
    assert_no_orphans(&received, &HashSet::new());
}

/// `faas.trigger`, the event, and the attributes the invocation span must carry.
type TriggerCase = (&'static str, Vec<u8>, &'static [(&'static str, &'static str)]);

/// A function without an OpenTelemetry SDK: lambdatel's own invocation span stands for each invocation.
const PLAIN_FUNCTION: &str = r#"
def handler(event, context):
    print(f"handling {context.aws_request_id}")
    return {"statusCode": 201, "body": "ok"}
"#;

/// Through the layer's wrapper, the real lambdatel's proxy (on by itself, since `AWS_LAMBDA_EXEC_WRAPPER`
/// names the wrapper) puts each trigger's attributes on the invocation span, and an HTTP caller's
/// `traceparent` becomes its parent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wrapper_puts_each_trigger_on_the_invocation_span() {
    let python = python_with_instrumentation();
    let sink = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let dir = TempDir::new("trace-join-wrapper");
    dir.write("app.py", PLAIN_FUNCTION);
    let config = dir.write("config.yaml", &sdk_receiver_config(free_port(), &sink.grpc_endpoint()));
    let mut base = lambdatel_with_config(&config);
    base.env.extend([
        ("AWS_LAMBDA_EXEC_WRAPPER".to_string(), "/opt/lambdatel-wrapper".to_string()),
        ("LAMBDATEL_RUNTIME_PROXY_FILE".into(), dir.path().join("proxy-address").display().to_string()),
    ]);
    let mut sim = Simulator::start(SimConfig {
        // Lambda runs `<wrapper> <runtime bootstrap>`.
        function: FunctionSpec::Process(ProcessFunction {
            command: repository().join("layer/lambdatel-wrapper"),
            args: vec![python.display().to_string(), "-m".into(), "awslambdaric".into(), "app.handler".into()],
            working_dir: Some(dir.path().to_path_buf()),
        }),
        handler: "app.handler".into(),
        echo_output: std::env::var_os("SIM_ECHO").is_some(),
        ..base
    })
    .await
    .expect("the simulator starts");
    assert_eq!(sim.last_init().unwrap().status, "success", "{:?}", sim.last_init());

    let caller = (random_hex(16), random_hex(8));
    let http_event = api_gateway_event(&format!("00-{}-{}-01", caller.0, caller.1), None);
    let sqs_path = repository().join("crates/components/tests/fixtures/triggers/sqs-event.json");
    let cases: [TriggerCase; 2] = [
        (
            "http",
            http_event,
            &[
                ("http.request.method", "POST"),
                ("url.path", "/hello/world"),
                ("http.route", "/{proxy+}"),
                ("http.response.status_code", "201"),
            ],
        ),
        (
            "pubsub",
            std::fs::read(sqs_path).unwrap(),
            &[("messaging.system", "aws_sqs"), ("messaging.destination.name", "SQSQueue")],
        ),
    ];
    let mut sent = Vec::new();
    // Without a caller's context (SQS), the invocation keeps Lambda's X-Ray parent, a remote one.
    let xray_parent = random_hex(8);
    let trace_header = format!("Root=1-{}-{};Parent={xray_parent};Sampled=1", random_hex(4), random_hex(12));
    for (trigger, event, _) in &cases {
        let outcome = sim
            .invoke(Invocation {
                payload: event.clone().into(),
                trace_header: Some(trace_header.clone()),
                ..Invocation::default()
            })
            .await
            .unwrap();
        assert_eq!(outcome.status, "success", "{trigger}: {outcome:?}");
        sent.push(outcome.request_id);
    }
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    assert_eq!(report.extensions[0].exit_status.as_ref().and_then(|s| s.code), Some(0));
    let received = sink.received();
    let spans = spans_by_id(&received);
    for ((trigger, _, attributes), request_id) in cases.iter().zip(&sent) {
        let invocation = tagged(&spans, request_id);
        assert_eq!(invocation.len(), 1, "{trigger}");
        let invocation = invocation[0];
        assert_eq!(attr(&invocation.attributes, "faas.trigger").as_deref(), Some(*trigger));
        for (key, value) in *attributes {
            assert_eq!(attr(&invocation.attributes, key).as_deref(), Some(*value), "{trigger}: {key}");
        }
        if *trigger == "http" {
            assert_eq!((hex(&invocation.trace_id), hex(&invocation.parent_span_id)), caller.clone());
        }
    }
    assert_no_orphans(&received, &HashSet::from([caller.1.clone(), xray_parent]));
}
