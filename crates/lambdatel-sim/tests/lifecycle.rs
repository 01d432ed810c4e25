//! Lifecycle rules of the simulator, pinned with real extension processes.

mod common;

use common::{extension, Listener};
use lambdatel_sim::*;
use std::time::Duration;

fn config(exts: Vec<std::path::PathBuf>, env: Vec<(&str, String)>) -> SimConfig {
    SimConfig {
        extensions: exts,
        env: env.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        timeout: Duration::from_secs(3),
        echo_output: std::env::var_os("SIM_ECHO").is_some(),
        ..SimConfig::default()
    }
}

#[tokio::test]
async fn full_cycle_delivers_events_in_order() {
    let listener = Listener::start().await;
    let ext = extension("telemetry-ext");
    let mut cfg = config(vec![ext], vec![("SIM_TEL_PORT", listener.port.to_string())]);
    cfg.freeze = false;
    let mut sim = Simulator::start(cfg).await.unwrap();
    assert_eq!(sim.last_init().unwrap().status, "success", "{:?}", sim.last_init());
    let out = sim
        .invoke(Invocation {
            payload: "{\"k\":1}".into(),
            script: Script {
                logs: vec![LogLine::Text("hello".into())],
                result: ScriptResult::Ok("{\"ok\":true}".into()),
                ..Script::default()
            },
            ..Invocation::default()
        })
        .await
        .unwrap();
    assert_eq!(out.status, "success");
    assert_eq!(out.response.as_deref(), Some(&b"{\"ok\":true}"[..]));
    assert!(listener.wait_for("platform.report", Duration::from_secs(3)).await, "{:?}", listener.types());
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    let types = listener.types();
    let platform: Vec<&str> = types.iter().map(String::as_str).filter(|t| t.starts_with("platform.")).collect();
    assert_eq!(
        platform,
        [
            "platform.initStart",
            "platform.telemetrySubscription",
            "platform.extension",
            "platform.initRuntimeDone",
            "platform.initReport",
            "platform.start",
            "platform.runtimeDone",
            "platform.report"
        ]
    );
    assert!(listener.events().iter().any(|e| e["type"] == "function" && e["record"] == "hello"));
    let ext = &report.extensions[0];
    assert_eq!(ext.name, "telemetry-ext");
    assert_eq!(ext.exit_status.as_ref().unwrap().code, Some(0));
    assert!(!ext.killed);
    assert_eq!(ext.post_runtime_ms.len(), 1);
    assert!(ext.time_to_first_next_ms.is_some());
    // Lines the extension prints while exiting may stay undelivered; nothing may be rejected.
    let sub = ext.subscription.as_ref().unwrap();
    assert_eq!((sub.rejected_attempts, sub.failed_attempts), (0, 0));
    assert!(sub.delivered >= 8);
}

fn ext_lines(events: &[TelemetryEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match &e.record {
            lambdatel_sim::events::EventRecord::ExtensionLog(lambdatel_sim::events::LogRecord::Text(t)) => {
                Some(t.clone())
            }
            _ => None,
        })
        .collect()
}

fn scripted(result: ScriptResult, duration_ms: u64) -> Invocation {
    Invocation {
        payload: "{}".into(),
        script: Script { duration: Duration::from_millis(duration_ms), result, ..Script::default() },
        ..Invocation::default()
    }
}

#[tokio::test]
async fn report_waits_for_every_extension_next_and_response_comes_first() {
    let slow = extension("slow-ext");
    let mut sim = Simulator::start(config(vec![slow], vec![("SIM_EXT_POST_MS", "400".into())])).await.unwrap();
    let out = sim.invoke(scripted(ScriptResult::Ok("\"done\"".into()), 0)).await.unwrap();
    assert_eq!(out.status, "success");
    let post = out.post_runtime_ms.iter().find(|(n, _)| n == "slow-ext").unwrap().1;
    // The extension starts its 400 ms from INVOKE, slightly before the runtime is done.
    assert!(post >= 350.0, "post-runtime {post}");
    // The caller had its answer long before the extension let the invoke phase end.
    assert!(out.response_ms.unwrap() + 300.0 < out.invoke_phase_ms, "{out:?}");
    let events = sim.events();
    let t = |ty: &str| {
        let e = events.iter().rev().find(|e| e.record.type_name() == ty).unwrap();
        let lambdatel_sim::events::EventRecord::Report(r) = &e.record else {
            return None;
        };
        Some((r.metrics.duration_ms, r.spans.clone().unwrap()))
    };
    let (duration, spans) = t("platform.report").unwrap();
    assert!(duration >= 400.0);
    assert_eq!(spans[0].name, "extensionOverhead");
    assert!(spans[0].duration_ms >= 350.0);
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    assert_eq!(report.invocations.len(), 1);
    assert!(report.invocations[0].post_runtime_ms["slow-ext"] >= 350.0);
}

fn proc_state(pid: i32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    stat.rsplit(')').next().unwrap().trim().chars().next().unwrap()
}

#[tokio::test]
async fn freeze_stops_processes_and_delivery_until_the_next_invoke() {
    let listener = Listener::start().await;
    let ext = extension("frozen-ext");
    let mut sim = Simulator::start(config(vec![ext], vec![("SIM_TEL_PORT", listener.port.to_string())])).await.unwrap();
    let first = sim.invoke(scripted(ScriptResult::Ok("1".into()), 0)).await.unwrap();
    assert!(sim.is_frozen());
    let pid = sim.extension_pids()[0].1;
    assert_eq!(proc_state(pid), 'T');
    // Buffering timeout is 25 ms: unfrozen, the report would arrive well within this wait.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let delivered_report = |l: &Listener, id: &str| {
        l.events().iter().any(|e| e["type"] == "platform.report" && e["record"]["requestId"] == id)
    };
    assert!(!delivered_report(&listener, &first.request_id), "{:?}", listener.types());
    sim.invoke(scripted(ScriptResult::Ok("2".into()), 0)).await.unwrap();
    // Thawed during the second invoke, the first report went out.
    let end = std::time::Instant::now() + Duration::from_secs(3);
    while !delivered_report(&listener, &first.request_id) && std::time::Instant::now() < end {
        sim.invoke(scripted(ScriptResult::Ok("n".into()), 50)).await.unwrap();
    }
    assert!(delivered_report(&listener, &first.request_id));
    sim.shutdown(ShutdownReason::Spindown).await.unwrap();
}

#[tokio::test]
async fn without_freeze_delivery_continues_between_invokes() {
    let listener = Listener::start().await;
    let ext = extension("thawed-ext");
    let mut cfg = config(vec![ext], vec![("SIM_TEL_PORT", listener.port.to_string())]);
    cfg.freeze = false;
    let mut sim = Simulator::start(cfg).await.unwrap();
    let first = sim.invoke(scripted(ScriptResult::Ok("1".into()), 0)).await.unwrap();
    assert!(!sim.is_frozen());
    assert_ne!(proc_state(sim.extension_pids()[0].1), 'T');
    assert!(listener.wait_for("platform.report", Duration::from_secs(3)).await);
    assert!(listener.events().iter().any(|e| e["record"]["requestId"] == first.request_id.as_str()));
    sim.shutdown(ShutdownReason::Spindown).await.unwrap();
}

#[tokio::test]
async fn shutdown_sends_event_and_sigkills_after_the_deadline() {
    let good = extension("good-ext");
    let stubborn = extension("stubborn-ext");
    let mut cfg = config(vec![good.clone()], vec![]);
    cfg.shutdown_budget = Duration::from_millis(600);
    let sim = Simulator::start(cfg.clone()).await.unwrap();
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    let g = &report.extensions[0];
    assert_eq!(g.exit_status.as_ref().unwrap().code, Some(0));
    assert!(!g.killed);
    assert!(ext_lines(&report.events).contains(&"event SHUTDOWN".to_string()));

    cfg.extensions = vec![stubborn];
    cfg.env = vec![("SIM_EXT_MODE".into(), "ignore_shutdown".into())];
    let sim = Simulator::start(cfg).await.unwrap();
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    let s = &report.extensions[0];
    assert!(s.killed);
    assert_eq!(s.exit_status.as_ref().unwrap().signal, Some(9));
    assert!(s.shutdown_ms.unwrap() >= 600.0, "{s:?}");
    assert!(report.shutdown_ms.unwrap() >= 600.0);
}

#[tokio::test]
async fn init_error_is_reported_and_next_invoke_reruns_init() {
    let ext = extension("bad-config-ext");
    let mut sim = Simulator::start(config(vec![ext], vec![("SIM_EXT_MODE", "init_error".into())])).await.unwrap();
    let init = sim.last_init().unwrap().clone();
    assert_eq!(init.status, "error");
    assert_eq!(init.error_type.as_deref(), Some("Extension.ConfigInvalid"));
    let out = sim.invoke(scripted(ScriptResult::Ok("1".into()), 0)).await.unwrap();
    assert!(out.suppressed_init);
    assert_eq!(out.status, "failure");
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    assert_eq!(report.inits.len(), 2);
    assert_eq!(report.inits[1].phase, "invoke");
    let errors = &report.extensions[0].errors;
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].kind, "init");
    assert_eq!(errors[0].error_type, "Extension.ConfigInvalid");
    assert_eq!(errors[0].message.as_deref(), Some("bad config: exporters.otlp"));
    let phases: Vec<String> = report
        .events
        .iter()
        .filter_map(|e| match &e.record {
            lambdatel_sim::events::EventRecord::InitReport(r) => Some(format!("{}:{}", r.phase, r.status)),
            _ => None,
        })
        .collect();
    assert_eq!(phases, ["init:error", "invoke:error"]);
}

#[tokio::test]
async fn extension_that_never_registers_is_a_clear_error() {
    let ext = extension("silent-ext");
    let mut cfg = config(vec![ext], vec![("SIM_EXT_MODE", "never_register".into())]);
    cfg.init_timeout = Duration::from_millis(500);
    let err = Simulator::start(cfg).await.err().unwrap();
    assert!(matches!(&err, SimError::NeverRegistered { names, .. } if names == &["silent-ext".to_string()]), "{err}");
    assert!(err.to_string().contains("never registered within the 500 ms"));
}

#[tokio::test]
async fn missing_or_non_executable_extension_is_rejected_before_start() {
    let err = Simulator::start(config(vec!["/nonexistent/ext".into()], vec![])).await.err().unwrap();
    assert!(matches!(err, SimError::BadExtension { .. }), "{err}");
    let plain = extension("plain-file");
    std::fs::set_permissions(&plain, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let err = Simulator::start(config(vec![plain], vec![])).await.err().unwrap();
    assert!(err.to_string().contains("not executable"), "{err}");
}

#[tokio::test]
async fn port_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut cfg = config(vec![], vec![]);
    cfg.runtime_api_port = taken.local_addr().unwrap().port();
    let err = Simulator::start(cfg).await.err().unwrap();
    assert!(matches!(err, SimError::Bind { .. }));
    assert!(err.to_string().contains("in use"));
}

#[tokio::test]
async fn timeout_covers_extension_time_and_resets_with_suppressed_init() {
    let ext = extension("lingering-ext");
    let mut cfg = config(vec![ext], vec![("SIM_EXT_POST_MS", "5000".into())]);
    cfg.timeout = Duration::from_millis(500);
    cfg.shutdown_budget = Duration::from_millis(300);
    let mut sim = Simulator::start(cfg).await.unwrap();
    // The function itself is fast; the extension keeps the invoke phase open past the timeout.
    let out = sim.invoke(scripted(ScriptResult::Ok("1".into()), 0)).await.unwrap();
    assert_eq!(out.status, "timeout");
    assert!(out.response.is_some());
    let out2 = sim.invoke(scripted(ScriptResult::Timeout, 0)).await.unwrap();
    assert!(out2.suppressed_init);
    assert_eq!(out2.status, "timeout");
    assert_eq!(out2.error_type.as_deref(), Some("Sandbox.Timedout"));
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    let init_phases: Vec<String> = report
        .events
        .iter()
        .filter_map(|e| match &e.record {
            lambdatel_sim::events::EventRecord::InitStart(s) => Some(s.phase.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(init_phases, ["init", "invoke"]);
    // Still busy after INVOKE, the extension never reads SHUTDOWN and is killed at the deadline.
    assert_eq!(report.extensions.len(), 2);
    assert!(report.extensions.iter().all(|e| e.killed), "{:?}", report.extensions);
    assert!(report.extensions.iter().all(|e| e.exit_status.is_some()));
}

#[tokio::test]
async fn crash_is_a_failure_and_shutdown_reason_reaches_extensions() {
    let ext = extension("watching-ext");
    let mut sim = Simulator::start(config(vec![ext], vec![])).await.unwrap();
    let out = sim.invoke(scripted(ScriptResult::Crash, 0)).await.unwrap();
    assert_eq!(out.status, "failure");
    assert_eq!(out.error_type.as_deref(), Some("Runtime.ExitError"));
    assert!(out.response.is_none());
    let ok = sim.invoke(scripted(ScriptResult::Ok("again".into()), 0)).await.unwrap();
    assert!(ok.suppressed_init);
    assert_eq!(ok.status, "success");
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    assert_eq!(report.extensions.len(), 2);
    assert_eq!(report.extensions[0].generation, 1);
    assert_eq!(report.extensions[1].generation, 2);
    let done: Vec<String> = report
        .events
        .iter()
        .filter_map(|e| match &e.record {
            lambdatel_sim::events::EventRecord::RuntimeDone(r) => {
                Some(format!("{}:{}", r.status, r.error_type.clone().unwrap_or_default()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(done, ["failure:Runtime.ExitError", "success:"]);
}

#[tokio::test]
async fn function_error_is_reported_without_reset() {
    let mut sim = Simulator::start(config(vec![], vec![])).await.unwrap();
    let out = sim
        .invoke(scripted(ScriptResult::Error { error_type: "ValueError".into(), message: "bad input".into() }, 0))
        .await
        .unwrap();
    assert_eq!(out.status, "error");
    assert_eq!(out.error_type.as_deref(), Some("ValueError"));
    let body: serde_json::Value = serde_json::from_slice(out.response.as_ref().unwrap()).unwrap();
    assert_eq!(body["errorMessage"], "bad input");
    let next = sim.invoke(scripted(ScriptResult::Ok("1".into()), 0)).await.unwrap();
    assert!(!next.suppressed_init);
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    assert_eq!(report.inits.len(), 1);
}

#[tokio::test]
async fn buffering_limits_and_api_mutual_exclusion_are_enforced() {
    let listener = Listener::start().await;
    let body = format!(
        r#"{{"schemaVersion":"2022-12-13","types":["platform"],"buffering":{{"timeoutMs":10}},
            "destination":{{"protocol":"HTTP","URI":"http://sandbox.localdomain:{}/t"}}}}"#,
        listener.port
    );
    let bad = extension("bad-buffering-ext");
    let sim =
        Simulator::start(config(vec![bad], vec![("SIM_TEL_PORT", listener.port.to_string()), ("SIM_TEL_BODY", body)]))
            .await
            .unwrap();
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    let lines = ext_lines(&report.events);
    let line = lines.iter().find(|l| l.starts_with("subscribe")).unwrap();
    assert!(line.starts_with("subscribe 2022-07-01/telemetry 400 "), "{line}");
    let err: serde_json::Value = serde_json::from_str(line.splitn(4, ' ').nth(3).unwrap()).unwrap();
    assert_eq!(err["errorType"], "ValidationError");
    assert!(err["errorMessage"].as_str().unwrap().contains("timeoutMs"));
    assert!(report.extensions[0].subscription.is_none());

    let both = extension("both-apis-ext");
    let sim = Simulator::start(config(
        vec![both],
        vec![("SIM_TEL_PORT", listener.port.to_string()), ("SIM_TEL_SECOND", "2020-08-15/logs".into())],
    ))
    .await
    .unwrap();
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    let lines = ext_lines(&report.events);
    let subs: Vec<&String> = lines.iter().filter(|l| l.starts_with("subscribe")).collect();
    assert!(subs[0].starts_with("subscribe 2022-07-01/telemetry 200 \"OK\""), "{subs:?}");
    assert!(subs[1].starts_with("subscribe 2020-08-15/logs 400 "), "{subs:?}");
    assert!(subs[1].contains("Logs.ValidationError"));
    assert_eq!(report.extensions[0].subscription.as_ref().unwrap().api, "telemetry");
}

#[tokio::test]
async fn logs_api_subscriber_gets_logs_api_shapes() {
    let listener = Listener::start().await;
    let body = format!(
        r#"{{"schemaVersion":"2021-03-18","types":["platform","function"],"buffering":{{"timeoutMs":25}},
            "destination":{{"protocol":"HTTP","URI":"http://sandbox.localdomain:{}/logs"}}}}"#,
        listener.port
    );
    let ext = extension("logs-ext");
    let mut cfg = config(
        vec![ext],
        vec![
            ("SIM_TEL_PORT", listener.port.to_string()),
            ("SIM_TEL_BODY", body),
            ("SIM_TEL_API", "2020-08-15/logs".into()),
        ],
    );
    cfg.freeze = false;
    let mut sim = Simulator::start(cfg).await.unwrap();
    let mut inv = scripted(ScriptResult::Ok("1".into()), 0);
    inv.script.logs = vec![LogLine::Json { level: "INFO".into(), message: "structured".into() }];
    sim.invoke(inv).await.unwrap();
    assert!(listener.wait_for("platform.report", Duration::from_secs(3)).await);
    sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    let t = listener.types();
    let platform: Vec<&str> = t.iter().map(String::as_str).filter(|t| t.starts_with("platform.")).collect();
    assert_eq!(
        platform,
        [
            "platform.logsSubscription",
            "platform.extension",
            "platform.start",
            "platform.runtimeDone",
            "platform.end",
            "platform.report"
        ]
    );
    let f = listener.events().into_iter().find(|e| e["type"] == "function").unwrap();
    assert!(f["record"].as_str().unwrap().contains("\"message\":\"structured\""));
}

#[tokio::test]
async fn delivery_retries_until_the_listener_appears() {
    // Reserve a port, then free it so nothing listens there at first.
    let port = lambdatel_sim::ports::free_port();
    let ext = extension("late-listener-ext");
    let mut cfg = config(vec![ext], vec![("SIM_TEL_PORT", port.to_string())]);
    cfg.freeze = false;
    let mut sim = Simulator::start(cfg).await.unwrap();
    sim.invoke(scripted(ScriptResult::Ok("1".into()), 0)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let listener = Listener::on(port).await;
    assert!(listener.wait_for("platform.report", Duration::from_secs(5)).await, "{:?}", listener.types());
    assert_eq!(listener.types()[0], "platform.initStart");
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    let sub = report.extensions[0].subscription.as_ref().unwrap();
    assert!(sub.failed_attempts > 0);
    assert_eq!(sub.rejected_attempts, 0);
}

#[tokio::test]
async fn slow_subscriber_gets_logs_dropped() {
    let listener = Listener::start().await;
    *listener.status.lock().unwrap() = 500;
    let ext = extension("slow-subscriber-ext");
    let mut cfg = config(vec![ext], vec![("SIM_TEL_PORT", listener.port.to_string())]);
    cfg.freeze = false;
    cfg.subscriber_queue_limit_bytes = 4096;
    let mut sim = Simulator::start(cfg).await.unwrap();
    let mut inv = scripted(ScriptResult::Ok("1".into()), 0);
    inv.script.logs = (0..200).map(|i| LogLine::Text(format!("log line number {i} with some padding"))).collect();
    sim.invoke(inv).await.unwrap();
    // Reject at least one delivery before accepting.
    let end = std::time::Instant::now() + Duration::from_secs(5);
    while listener.hits.load(std::sync::atomic::Ordering::SeqCst) == 0 && std::time::Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    *listener.status.lock().unwrap() = 200;
    assert!(listener.wait_for("platform.logsDropped", Duration::from_secs(5)).await, "{:?}", listener.types());
    let dropped = listener.events().into_iter().find(|e| e["type"] == "platform.logsDropped").unwrap();
    assert!(dropped["record"]["droppedRecords"].as_u64().unwrap() > 0);
    assert!(dropped["record"]["droppedBytes"].as_u64().unwrap() > 0);
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    assert!(report.events_dropped > 0);
    let sub = report.extensions[0].subscription.as_ref().unwrap();
    assert!(sub.rejected_attempts > 0, "the listener answered 500 at first: {sub:?}");
}

#[tokio::test]
async fn snap_start_emits_restore_events_before_the_first_invoke() {
    let mut cfg = config(vec![], vec![]);
    cfg.snap_start = true;
    let mut sim = Simulator::start(cfg).await.unwrap();
    sim.invoke(scripted(ScriptResult::Ok("1".into()), 0)).await.unwrap();
    sim.invoke(scripted(ScriptResult::Ok("2".into()), 0)).await.unwrap();
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    use lambdatel_sim::events::EventRecord as R;
    let names: Vec<&str> = report.events.iter().map(|e| e.record.type_name()).collect();
    assert_eq!(
        names,
        [
            "platform.initStart",
            "platform.initRuntimeDone",
            "platform.initReport",
            "platform.restoreStart",
            "platform.restoreRuntimeDone",
            "platform.restoreReport",
            "platform.start",
            "platform.runtimeDone",
            "platform.report",
            "platform.start",
            "platform.runtimeDone",
            "platform.report"
        ]
    );
    let R::InitStart(init) = &report.events[0].record else { panic!() };
    assert_eq!((init.initialization_type.as_str(), init.phase.as_str()), ("snap-start", "snap-start"));
    let reports: Vec<_> = report
        .events
        .iter()
        .filter_map(|e| match &e.record {
            R::Report(r) => Some((r.metrics.init_duration_ms.is_some(), r.metrics.restore_duration_ms.is_some())),
            _ => None,
        })
        .collect();
    // Only the first invocation after an init/restore carries their durations.
    assert_eq!(reports, [(true, true), (false, false)]);
}

#[tokio::test]
async fn report_measures_processes() {
    let ext = extension("measured-ext");
    let mut sim = Simulator::start(config(vec![ext], vec![])).await.unwrap();
    sim.invoke(scripted(ScriptResult::Ok("1".into()), 0)).await.unwrap();
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    let e = &report.extensions[0];
    // A Python interpreter needs a few MiB and some CPU to start.
    assert!(e.peak_rss_kb > 1024, "{e:?}");
    assert!(e.cpu_ms > 0.0, "{e:?}");
    assert!(e.time_to_first_next_ms.unwrap() > 0.0);
    assert!(e.shutdown_ms.is_some());
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["extensions"][0]["exit_status"], serde_json::json!({"code": 0, "signal": null}));
    assert_eq!(json["shutdown_reason"], "Spindown");
}

#[tokio::test]
async fn caller_gets_lambda_error_body_when_no_response_is_posted() {
    let mut cfg = config(vec![], vec![]);
    cfg.timeout = Duration::from_millis(200);
    let mut sim = Simulator::start(cfg).await.unwrap();
    for (result, error_type, ending) in [
        (ScriptResult::Timeout, "Sandbox.Timedout", "Error: Task timed out after 0.20 seconds"),
        (ScriptResult::Crash, "Runtime.ExitError", "Error: Runtime exited without providing a reason"),
    ] {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let out = sim.invoke_with(scripted(result, 0), Some(tx)).await.unwrap();
        let answer = rx.await.unwrap();
        assert_eq!(answer.function_error.as_deref(), Some("Unhandled"));
        let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(body["errorType"], error_type);
        assert_eq!(body["errorMessage"], format!("RequestId: {} {ending}", out.request_id));
    }
    sim.shutdown(ShutdownReason::Spindown).await.unwrap();
}

#[tokio::test]
async fn extensions_dir_starts_every_executable_in_name_order() {
    let b = extension("b-ext");
    let dir = b.parent().unwrap().to_path_buf();
    std::fs::copy(&b, dir.join("a-ext")).unwrap();
    std::fs::write(dir.join("README"), "not an extension").unwrap();
    assert_eq!(extensions_in_dir(&dir).unwrap(), vec![dir.join("a-ext"), dir.join("b-ext")]);
    let mut cfg = config(vec![], vec![]);
    cfg.extensions_dir = Some(dir);
    let sim = Simulator::start(cfg).await.unwrap();
    let names: Vec<String> = sim.extension_pids().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["a-ext", "b-ext"]);
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    assert!(report.extensions.iter().all(|e| e.registered && e.exit_status.as_ref().unwrap().code == Some(0)));
    let err = extensions_in_dir(std::path::Path::new("/nonexistent/extensions")).unwrap_err();
    assert!(err.to_string().starts_with("extensions folder /nonexistent/extensions: "), "{err}");
}

/// The peak RSS reported is the extension's own: a simulator holding 256 MiB must not lend them to the
/// child it forks (`wait4`'s figure would, through the pages mapped between fork and exec).
#[tokio::test]
async fn peak_rss_is_the_extensions_own() {
    let ballast: Vec<u8> = vec![1; 256 << 20];
    let ext = extension("telemetry-ext");
    let listener = Listener::start().await;
    let mut sim = Simulator::start(config(vec![ext], vec![("SIM_TEL_PORT", listener.port.to_string())])).await.unwrap();
    sim.invoke(scripted(ScriptResult::Ok("{}".into()), 0)).await.unwrap();
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    let peak_kb = report.extensions[0].peak_rss_kb;
    assert!(peak_kb > 1024 && peak_kb < 128 * 1024, "peak RSS {peak_kb} KiB");
    assert_eq!(ballast.iter().map(|b| *b as usize).sum::<usize>(), 256 << 20);
}
