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
    assert_eq!(ext.subscription.as_ref().unwrap().dropped, 0);
}
