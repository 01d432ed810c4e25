//! An external runtime process speaking the Runtime API, the Invoke API, and X-Ray propagation.

mod common;

use common::extension;
use lambdatel_sim::events::EventRecord;
use lambdatel_sim::*;
use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn runtime() -> FunctionSpec {
    FunctionSpec::Process(ProcessFunction {
        command: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/runtime.py")),
        ..ProcessFunction::default()
    })
}

fn config(exts: Vec<PathBuf>, env: Vec<(&str, &str)>) -> SimConfig {
    SimConfig {
        extensions: exts,
        function: runtime(),
        env: env.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        echo_output: std::env::var_os("SIM_ECHO").is_some(),
        ..SimConfig::default()
    }
}

fn invoke_payloads(events: &[TelemetryEvent]) -> Vec<Value> {
    events
        .iter()
        .filter_map(|e| match &e.record {
            EventRecord::ExtensionLog(lambdatel_sim::events::LogRecord::Text(t)) => t.strip_prefix("payload "),
            _ => None,
        })
        .map(|p| serde_json::from_str(p).unwrap())
        .collect()
}

#[tokio::test]
async fn external_runtime_gets_headers_and_trace_reaches_everyone() {
    let ext = extension("trace-ext");
    let mut sim = Simulator::start(config(vec![ext], vec![])).await.unwrap();
    assert_eq!(sim.last_init().unwrap().status, "success");
    let trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    let out = sim
        .invoke(Invocation { payload: r#"{"a":1}"#.into(), trace_header: Some(trace.into()), ..Invocation::default() })
        .await
        .unwrap();
    assert_eq!(out.status, "success", "{out:?}");
    let body: Value = serde_json::from_slice(out.response.as_ref().unwrap()).unwrap();
    assert_eq!(body["echo"], serde_json::json!({"a": 1}));
    assert_eq!(body["trace"], trace);
    assert_eq!(body["contentType"], "application/json");
    assert_eq!(body["handler"], "index.handler");
    assert_eq!(body["function"], "lambdatel-sim-function");
    assert_eq!(body["arn"], "arn:aws:lambda:us-east-1:123456789012:function:lambdatel-sim-function");
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    let payloads = invoke_payloads(&report.events);
    let invoke = &payloads[0];
    assert_eq!(invoke["eventType"], "INVOKE");
    assert_eq!(invoke["requestId"], out.request_id.as_str());
    assert_eq!(invoke["tracing"], serde_json::json!({"type": "X-Amzn-Trace-Id", "value": trace}));
    assert_eq!(invoke["deadlineMs"], body["deadline"]);
    let shutdown = &payloads[1];
    assert_eq!(shutdown["eventType"], "SHUTDOWN");
    assert_eq!(shutdown["shutdownReason"], "SPINDOWN");
    for e in &report.events {
        let tracing = match &e.record {
            EventRecord::Start(s) => &s.tracing,
            EventRecord::RuntimeDone(r) => &r.tracing,
            EventRecord::Report(r) => &r.tracing,
            _ => continue,
        };
        assert_eq!(tracing.as_ref().unwrap().value, trace);
    }
    // The runtime's own output is function log.
    assert!(report.events.iter().any(|e| matches!(&e.record,
        EventRecord::Function(lambdatel_sim::events::LogRecord::Text(t)) if t == &format!("handling {}", out.request_id))));
    assert!(report.runtime_exit.is_some());
}

#[tokio::test]
async fn runtime_errors_crashes_and_init_errors() {
    let mut sim = Simulator::start(config(vec![], vec![])).await.unwrap();
    let err = sim.invoke(Invocation { payload: r#"{"error":true}"#.into(), ..Invocation::default() }).await.unwrap();
    assert_eq!((err.status.as_str(), err.error_type.as_deref()), ("error", Some("Function.Failed")));
    let crash = sim.invoke(Invocation { payload: r#"{"crash":true}"#.into(), ..Invocation::default() }).await.unwrap();
    assert_eq!((crash.status.as_str(), crash.error_type.as_deref()), ("failure", Some("Runtime.ExitError")));
    let again = sim.invoke(Invocation { payload: "{}".into(), ..Invocation::default() }).await.unwrap();
    assert!(again.suppressed_init);
    assert_eq!(again.status, "success");
    sim.shutdown(ShutdownReason::Spindown).await.unwrap();

    let sim = Simulator::start(config(vec![], vec![("SIM_RT_MODE", "init_error")])).await.unwrap();
    let init = sim.last_init().unwrap();
    assert_eq!((init.status.as_str(), init.error_type.as_deref()), ("error", Some("Runtime.ImportModuleError")));
    sim.shutdown(ShutdownReason::Spindown).await.unwrap();
}

#[tokio::test]
async fn invoke_api_answers_before_extensions_finish() {
    let ext = extension("slow-after-ext");
    let mut cfg = config(vec![ext], vec![("SIM_EXT_POST_MS", "500")]);
    cfg.invoke_api = true;
    let mut sim = Simulator::start(cfg).await.unwrap();
    let mut requests = sim.take_invoke_requests().unwrap();
    assert!(sim.take_invoke_requests().is_none());
    let addr: std::net::SocketAddr = sim.runtime_api().parse().unwrap();
    let client = tokio::spawn(async move {
        let (status, body) = lambdatel_sim::http::post(
            addr,
            "/2015-03-31/functions/function/invocations",
            &[("Content-Type", "application/json")],
            br#"{"from":"curl"}"#.to_vec(),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        (status, body, Instant::now())
    });
    let req = requests.recv().await.unwrap();
    let out =
        sim.invoke_with(Invocation { payload: req.payload, ..Invocation::default() }, Some(req.respond)).await.unwrap();
    let phase_end = Instant::now();
    let (status, body, answered) = client.await.unwrap();
    assert_eq!(status, 200);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["echo"]["from"], "curl");
    assert!(answered < phase_end, "the caller waited for the extension");
    assert!(out.invoke_phase_ms >= 450.0);
    sim.shutdown(ShutdownReason::Spindown).await.unwrap();
}

#[tokio::test]
async fn invoke_api_is_unavailable_unless_enabled() {
    let mut sim = Simulator::start(SimConfig::default()).await.unwrap();
    assert!(sim.take_invoke_requests().is_none());
    let addr: std::net::SocketAddr = sim.runtime_api().parse().unwrap();
    let (status, _) = lambdatel_sim::http::post(
        addr,
        "/2015-03-31/functions/function/invocations",
        &[],
        b"{}".to_vec(),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(status, 503);
    sim.shutdown(ShutdownReason::Spindown).await.unwrap();
}

#[tokio::test]
async fn json_log_format_gives_structured_function_records() {
    let mut cfg = config(vec![], vec![]);
    cfg.json_logs = true;
    let mut sim = Simulator::start(cfg).await.unwrap();
    let out = sim.invoke(Invocation { payload: "{}".into(), ..Invocation::default() }).await.unwrap();
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    let json: Vec<_> = report
        .events
        .iter()
        .filter_map(|e| match &e.record {
            EventRecord::Function(lambdatel_sim::events::LogRecord::Json(j)) => Some(j.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(json.len(), 1, "{:?}", report.events);
    assert_eq!((json[0].level.as_str(), json[0].message.as_str()), ("WARN", "handling"));
    assert_eq!(json[0].request_id.as_deref(), Some(out.request_id.as_str()));
}

#[tokio::test]
async fn output_written_before_the_next_call_comes_before_runtime_done() {
    // Lines the runtime writes right before its `next` are still in the pipe when `next` arrives; Lambda
    // delivers them before that invocation's runtimeDone, stamped no later.
    const TAIL: usize = 2000;
    let mut sim = Simulator::start(config(vec![], vec![])).await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let out = sim.invoke(Invocation { payload: format!(r#"{{"tail":{TAIL}}}"#).into(), ..Invocation::default() });
        let out = out.await.unwrap();
        assert_eq!(out.status, "success", "{out:?}");
        ids.push(out.request_id);
    }
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    for id in &ids {
        let done = report
            .events
            .iter()
            .position(|e| matches!(&e.record, EventRecord::RuntimeDone(r) if &r.request_id == id))
            .expect("a runtimeDone");
        let tail: Vec<(usize, &TelemetryEvent)> = report
            .events
            .iter()
            .enumerate()
            .filter(|(_, e)| matches!(&e.record,
                EventRecord::Function(lambdatel_sim::events::LogRecord::Text(t)) if t.starts_with(&format!("tail {id} "))))
            .collect();
        assert_eq!(tail.len(), TAIL);
        let last = tail.last().unwrap();
        assert_eq!(
            last.1.record,
            EventRecord::Function(lambdatel_sim::events::LogRecord::Text(format!("tail {id} {}", TAIL - 1)))
        );
        assert!(last.0 < done, "the last line of {id} is event {}, its runtimeDone event {done}", last.0);
        let done_time = &report.events[done].time;
        assert!(tail.iter().all(|(_, e)| &e.time <= done_time), "a line of {id} is stamped after {done_time}");
    }
}
