//! Lambda Managed Instances mode: the refusals Lambda answers with (INVOKE registration, other
//! Telemetry schemas, the Logs API), concurrent invocations with interleaved logs that each end
//! with their own `platform.report`, no freezing, SHUTDOWN at the end and the longer Init limit.

mod common;

use hyper::Method;
use lambdatel_sim::http::request;
use lambdatel_sim::*;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

async fn call(addr: SocketAddr, method: Method, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, Value) {
    let (status, _, body) = call_with_headers(addr, method, path, headers, body).await;
    (status, body)
}

async fn call_with_headers(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, hyper::HeaderMap, Value) {
    let (status, h, b) =
        request(method, addr, path, headers, body.as_bytes().to_vec(), Duration::from_secs(10)).await.unwrap();
    (status, h, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

fn subscription(schema: &str, port: u16) -> String {
    json!({"schemaVersion": schema, "types": ["platform", "function"], "buffering": {"timeoutMs": 25},
           "destination": {"protocol": "HTTP", "URI": format!("http://sandbox.localdomain:{port}/t")}})
    .to_string()
}

fn managed(concurrency: usize) -> Option<ManagedInstances> {
    Some(ManagedInstances::new(concurrency))
}

#[tokio::test]
async fn refuses_invoke_registration_other_schemas_and_the_logs_api() {
    // The launched process prints its environment's init type and never registers; the test
    // registers under its file name instead.
    let dir = std::env::temp_dir().join(format!("lambdatel-sim-lmi-{}-{}", std::process::id(), fastrand::u64(..)));
    std::fs::create_dir_all(&dir).unwrap();
    let ext = dir.join("hand-driven");
    std::fs::write(&ext, "#!/bin/sh\necho \"init type $AWS_LAMBDA_INITIALIZATION_TYPE\"\nexec sleep 60\n").unwrap();
    std::fs::set_permissions(&ext, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let port = lambdatel_sim::ports::free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let cfg = SimConfig {
        extensions: vec![ext],
        runtime_api_port: port,
        shutdown_budget: Duration::from_millis(300),
        managed_instances: managed(2),
        ..SimConfig::default()
    };
    let sim = tokio::spawn(Simulator::start(cfg));
    let mut up = false;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(up);
    let reg = "/2020-01-01/extension/register";
    let name = [("Lambda-Extension-Name", "hand-driven")];
    let (s, b) = call(addr, Method::POST, reg, &name, r#"{"events":["INVOKE","SHUTDOWN"]}"#).await;
    assert_eq!(
        (s, b),
        (403, json!({"errorType": "Extension.InvalidEventType", "errorMessage": "INVOKE: ErrorInvalidEventType"}))
    );
    let (s, h, b) = call_with_headers(addr, Method::POST, reg, &name, r#"{"events":["SHUTDOWN"]}"#).await;
    assert_eq!(s, 200, "{b}");
    let id = h.get("Lambda-Extension-Identifier").unwrap().to_str().unwrap().to_string();
    let listener = common::Listener::start().await;
    let ident = [("Lambda-Extension-Identifier", id.as_str())];
    for old in ["2022-07-01", "2022-12-13"] {
        let (s, b) = call(addr, Method::PUT, "/2022-07-01/telemetry", &ident, &subscription(old, listener.port)).await;
        assert_eq!(s, 400, "{b}");
        assert_eq!(b["errorType"], "ValidationError");
        assert_eq!(
            b["errorMessage"],
            format!("schemaVersion {old} is not supported on Lambda Managed Instances; use 2025-01-29")
        );
    }
    let logs = json!({"types": ["platform"], "destination": {"protocol": "HTTP", "URI": format!("http://sandbox.localdomain:{}/t", listener.port)}});
    let (s, b) = call(addr, Method::PUT, "/2020-08-15/logs", &ident, &logs.to_string()).await;
    assert_eq!((s, b["errorType"].as_str()), (404, Some("InvalidRequest")));
    let (s, b) =
        call(addr, Method::PUT, "/2022-07-01/telemetry", &ident, &subscription("2025-01-29", listener.port)).await;
    assert_eq!((s, b), (200, json!("OK")));

    // `next` completes Init and then blocks until SHUTDOWN: invocations never reach extensions.
    let id2 = id.clone();
    let poller = tokio::spawn(async move {
        call(addr, Method::GET, "/2020-01-01/extension/event/next", &[("Lambda-Extension-Identifier", &id2)], "").await
    });
    let mut sim = sim.await.unwrap().unwrap();
    assert_eq!(sim.last_init().unwrap().status, "success");
    let outcomes = sim.invoke_concurrently(vec![Invocation::default(), Invocation::default()]).await.unwrap();
    assert_eq!(outcomes.iter().map(|o| o.status.as_str()).collect::<Vec<_>>(), ["success", "success"]);
    assert!(!sim.is_frozen());
    assert!(!poller.is_finished(), "an extension on Managed Instances gets no INVOKE");
    let events = sim.events();
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    let (s, ev) = poller.await.unwrap();
    assert_eq!(s, 200);
    assert_eq!((ev["eventType"].as_str(), ev["shutdownReason"].as_str()), (Some("SHUTDOWN"), Some("SPINDOWN")));
    assert_eq!(report.extensions[0].events, ["SHUTDOWN"]);
    let init_type = events.iter().find_map(|e| match &e.record {
        events::EventRecord::InitStart(s) => Some(s.initialization_type.clone()),
        _ => None,
    });
    assert_eq!(init_type.as_deref(), Some("lambda-managed-instances"));
    assert!(events.iter().any(|e| matches!(&e.record,
        events::EventRecord::ExtensionLog(events::LogRecord::Text(t)) if t == "init type lambda-managed-instances")));
}

#[tokio::test]
async fn concurrent_invocations_interleave_and_each_ends_with_its_own_report() {
    let listener = common::Listener::start().await;
    let cfg = SimConfig {
        extensions: vec![common::extension("lmi-ext")],
        env: vec![
            ("SIM_EXT_EVENTS".into(), "SHUTDOWN".into()),
            ("SIM_TEL_PORT".into(), listener.port.to_string()),
            ("SIM_TEL_BODY".into(), subscription("2025-01-29", listener.port)),
        ],
        json_logs: true,
        managed_instances: managed(4),
        ..SimConfig::default()
    };
    let mut sim = Simulator::start(cfg).await.unwrap();
    assert_eq!(sim.last_init().unwrap().status, "success");
    let invocations: Vec<Invocation> = (0..8)
        .map(|i| Invocation {
            script: Script {
                duration: Duration::from_millis(80),
                logs: vec![
                    LogLine::Text(format!("text {i}")),
                    LogLine::Json { level: "INFO".into(), message: format!("json {i} a") },
                    LogLine::Json { level: "WARN".into(), message: format!("json {i} b") },
                ],
                ..Script::default()
            },
            ..Invocation::default()
        })
        .collect();
    let t0 = std::time::SystemTime::now();
    let outcomes = sim.invoke_concurrently(invocations).await.unwrap();
    assert!(outcomes.iter().all(|o| o.status == "success"), "{outcomes:?}");
    assert!(!sim.is_frozen());
    let events = sim.events();
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();

    // At most `concurrency` at once, and that many did overlap.
    let (mut open, mut most) = (0i32, 0i32);
    for e in &events {
        match &e.record {
            events::EventRecord::Start(_) => open += 1,
            events::EventRecord::Report(_) => open -= 1,
            _ => {}
        }
        most = most.max(open);
    }
    assert_eq!(most, 4);
    assert!(!events.iter().any(|e| matches!(e.record, events::EventRecord::RuntimeDone(_))));

    // Every JSON record carries the request id of the invocation that logged it, and the lines of
    // different invocations interleave.
    let id_of: HashMap<String, String> =
        outcomes.iter().enumerate().map(|(i, o)| (i.to_string(), o.request_id.clone())).collect();
    let mut json_owners = Vec::new();
    for e in &events {
        if let events::EventRecord::Function(events::LogRecord::Json(j)) = &e.record {
            let i = j.message.split(' ').nth(1).unwrap();
            assert_eq!(j.request_id.as_ref(), Some(&id_of[i]), "{j:?}");
            json_owners.push(i.to_string());
        }
    }
    assert_eq!(json_owners.len(), 16);
    let grouped = json_owners.chunks(2).all(|pair| pair[0] == pair[1]);
    assert!(!grouped, "the lines of concurrent invocations interleave: {json_owners:?}");

    // What a subscriber receives: per invocation a report with durationMs only and the two spans.
    assert!(listener.wait_for("platform.report", Duration::from_secs(2)).await);
    let delivered = listener.events();
    let reports: Vec<&Value> = delivered.iter().filter(|e| e["type"] == "platform.report").collect();
    assert_eq!(reports.len(), 8);
    for r in &reports {
        let rec = &r["record"];
        assert_eq!(rec["status"], "success");
        let metrics = rec["metrics"].as_object().unwrap();
        assert_eq!(metrics.keys().collect::<Vec<_>>(), ["durationMs"]);
        let spans: Vec<&str> = rec["spans"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
        assert_eq!(spans, ["responseLatency", "responseDuration"]);
        assert!(outcomes.iter().any(|o| o.request_id == rec["requestId"].as_str().unwrap()));
        assert_eq!(rec["tracing"]["type"], "X-Amzn-Trace-Id");
    }
    let starts: Vec<&Value> = delivered.iter().filter(|e| e["type"] == "platform.start").collect();
    assert_eq!(starts.len(), 8);
    assert!(
        starts
            .iter()
            .all(|s| s["record"]["functionArn"]
                == "arn:aws:lambda:us-east-1:123456789012:function:lambdatel-sim-function")
    );
    let json_records = delivered.iter().filter(|e| e["type"] == "function" && e["record"].is_object()).count();
    assert_eq!(json_records, 16);

    // Each invocation's end time is in the report, between the start of the run and now.
    let (start_ms, now_ms) = (unix_ms(t0), unix_ms(std::time::SystemTime::now()));
    for (o, rec) in outcomes.iter().zip(&report.invocations) {
        assert_eq!(o.request_id, rec.request_id);
        assert_eq!(o.end_unix_ms, rec.end_unix_ms);
        assert!(rec.end_unix_ms > start_ms + 80.0 && rec.end_unix_ms <= now_ms, "{rec:?}");
        assert!(rec.post_runtime_ms.is_empty());
    }
    let ext = &report.extensions[0];
    assert_eq!(ext.events, ["SHUTDOWN"]);
    assert!(!ext.killed, "the extension exits on SHUTDOWN within the budget");
    assert_eq!(ext.subscription.as_ref().unwrap().schema_version, "2025-01-29");
}

fn unix_ms(t: std::time::SystemTime) -> f64 {
    t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64() * 1000.0
}

#[tokio::test]
async fn an_extension_that_registers_for_invoke_fails_init() {
    let cfg = SimConfig {
        extensions: vec![common::extension("classic-ext")],
        managed_instances: managed(2),
        ..SimConfig::default()
    };
    let mut sim = Simulator::start(cfg).await.unwrap();
    let init = sim.last_init().unwrap().clone();
    assert_eq!((init.status.as_str(), init.error_type.as_deref()), ("failure", Some("Extension.Crash")));
    let out = sim.invoke(Invocation::default()).await.unwrap();
    assert_eq!((out.status.as_str(), out.error_type.as_deref()), ("failure", Some("Extension.Crash")));
    assert!(out.suppressed_init);
}

#[tokio::test]
async fn init_may_take_the_longer_of_the_floor_and_the_function_timeout() {
    let slow_init = |ms| {
        FunctionSpec::Scripted(ScriptedFunction { init_duration: Duration::from_millis(ms), ..Default::default() })
    };
    let lmi = |init_ms| SimConfig {
        function: slow_init(init_ms),
        timeout: Duration::from_millis(1000),
        managed_instances: Some(ManagedInstances { concurrency: 2, init_timeout_floor: Duration::from_millis(300) }),
        ..SimConfig::default()
    };
    // On-demand, a 600 ms init passes a 300 ms limit: timeout.
    let on_demand =
        SimConfig { function: slow_init(600), init_timeout: Duration::from_millis(300), ..SimConfig::default() };
    let sim = Simulator::start(on_demand).await.unwrap();
    assert_eq!(sim.last_init().unwrap().status, "timeout");
    // On Managed Instances the limit is max(300 ms floor, 1 s timeout): the same init succeeds...
    let sim = Simulator::start(lmi(600)).await.unwrap();
    assert_eq!(sim.last_init().unwrap().status, "success");
    // ...and one longer than the function timeout does not.
    let sim = Simulator::start(lmi(1300)).await.unwrap();
    let init = sim.last_init().unwrap();
    assert_eq!((init.status.as_str(), init.error_type.as_deref()), ("timeout", Some("Sandbox.Timedout")));
    assert!(init.duration_ms >= 1000.0 && init.duration_ms < 1300.0, "{init:?}");
}

#[tokio::test]
async fn a_timeout_resets_the_environment_after_the_invocations_in_flight_end() {
    let cfg = SimConfig { timeout: Duration::from_millis(300), managed_instances: managed(2), ..SimConfig::default() };
    let mut sim = Simulator::start(cfg).await.unwrap();
    let work = Invocation {
        script: Script { duration: Duration::from_millis(200), ..Script::default() },
        ..Invocation::default()
    };
    let hang =
        Invocation { script: Script { result: ScriptResult::Timeout, ..Script::default() }, ..Invocation::default() };
    // Slot 1: the hang (times out at 300 ms). Slot 2: work 0-200 ms, then work 200-400 ms, still
    // in flight at the timeout: it completes, then the reset, then the last one after a
    // suppressed init.
    let outcomes = sim.invoke_concurrently(vec![hang, work.clone(), work.clone(), work]).await.unwrap();
    let statuses: Vec<(&str, bool)> = outcomes.iter().map(|o| (o.status.as_str(), o.suppressed_init)).collect();
    assert_eq!(statuses, [("timeout", false), ("success", false), ("success", false), ("success", true)]);
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    let phases: Vec<(&str, &str)> = report.inits.iter().map(|i| (i.phase.as_str(), i.status.as_str())).collect();
    assert_eq!(phases, [("init", "success"), ("invoke", "success")]);
    assert_eq!(outcomes[0].error_type.as_deref(), Some("Sandbox.Timedout"));
}
