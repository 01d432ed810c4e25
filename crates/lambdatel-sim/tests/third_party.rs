//! Conformance with clients we did not write: an extension on the `lambda-extension` crate, a
//! function on the `lambda_runtime` crate, and a Python handler run by `awslambdaric` (PyPI).

mod common;

use lambdatel_sim::events::{EventRecord, LogRecord};
use lambdatel_sim::*;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// Path of an example binary of this package (built by `cargo test`).
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().join("examples");
    let path = dir.join(name);
    assert!(path.exists(), "{} is missing: run `cargo test -p lambdatel-sim` (it builds examples)", path.display());
    path
}

fn lines(events: &[TelemetryEvent], extension: bool) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match (&e.record, extension) {
            (EventRecord::ExtensionLog(LogRecord::Text(t)), true)
            | (EventRecord::Function(LogRecord::Text(t)), false) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn rust_lambda_extension_and_lambda_runtime_crates() {
    let port = lambdatel_sim::ports::free_port();
    let mut sim = Simulator::start(SimConfig {
        extensions: vec![example("conformance_extension")],
        function: FunctionSpec::Process(ProcessFunction {
            command: example("conformance_function"),
            ..ProcessFunction::default()
        }),
        env: vec![("CONFORMANCE_TELEMETRY_PORT".into(), port.to_string())],
        echo_output: std::env::var_os("SIM_ECHO").is_some(),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    assert_eq!(sim.last_init().unwrap().status, "success", "{:?}", sim.last_init());
    let trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    let mut ids = Vec::new();
    for n in 0..3 {
        let out = sim
            .invoke(Invocation {
                payload: format!(r#"{{"n":{n}}}"#).into(),
                trace_header: Some(trace.into()),
                ..Invocation::default()
            })
            .await
            .unwrap();
        assert_eq!(out.status, "success", "{out:?}");
        let body: Value = serde_json::from_slice(out.response.as_ref().unwrap()).unwrap();
        assert_eq!(body["echo"]["n"], n);
        assert_eq!(body["requestId"], out.request_id.as_str());
        assert_eq!(body["xray"], trace);
        assert_eq!(body["functionName"], "lambdatel-sim-function");
        assert_eq!(body["memory"], 128);
        assert_eq!(body["arn"], "arn:aws:lambda:us-east-1:123456789012:function:lambdatel-sim-function");
        ids.push(out.request_id);
        // Frozen past the default 1 s buffering timeout: the batch goes out at the next thaw.
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    let failed = sim.invoke(Invocation { payload: r#"{"fail":true}"#.into(), ..Invocation::default() }).await.unwrap();
    assert_eq!(failed.status, "error");
    let err: Value = serde_json::from_slice(failed.response.as_ref().unwrap()).unwrap();
    assert_eq!(err["errorMessage"], "asked to fail");
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();

    let ext = lines(&report.events, true);
    for id in &ids {
        assert!(ext.iter().any(|l| l.starts_with(&format!("invoke {id} {trace} "))), "{ext:?}");
    }
    assert!(ext.iter().any(|l| l.starts_with("shutdown SPINDOWN ")), "{ext:?}");
    // Every type the crate parsed is printed; a shape it rejects would never show up.
    for ty in [
        "platform.initStart",
        "platform.initRuntimeDone",
        "platform.initReport",
        "platform.start",
        "platform.runtimeDone",
        "platform.report",
        "function",
    ] {
        assert!(ext.contains(&format!("telemetry {ty}")), "{ty} missing from {ext:?}");
    }
    let e = &report.extensions[0];
    assert_eq!(e.exit_status.as_ref().unwrap().code, Some(0), "{e:?}");
    assert!(!e.killed);
    let sub = e.subscription.as_ref().unwrap();
    assert_eq!((sub.api.as_str(), sub.schema_version.as_str()), ("telemetry", "2022-07-01"));
    // The crate answers 400 to a batch it cannot parse.
    assert_eq!(sub.rejected_attempts, 0);
    assert!(sub.delivered > 0);
    assert!(lines(&report.events, false).contains(&format!("handling {}", ids[0])));
}

/// The interpreter that has `awslambdaric`, resolved to a real path (the simulator gives
/// processes a clean environment, which version-manager shims do not survive).
fn python_with_awslambdaric() -> PathBuf {
    let out = std::process::Command::new("python3")
        .args(["-c", "import awslambdaric, sys; print(sys.executable)"])
        .output()
        .expect("python3 is required for this test");
    assert!(
        out.status.success(),
        "awslambdaric is not installed: run `python3 -m pip install awslambdaric` ({})",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

#[tokio::test]
async fn python_handler_under_awslambdaric() {
    let python = python_with_awslambdaric();
    let dir = common::extension("unused").parent().unwrap().to_path_buf();
    std::fs::write(
        dir.join("app.py"),
        r#"import os

def handler(event, context):
    print("handler log line")
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"echo": event, "requestId": context.aws_request_id,
            "trace": os.environ.get("_X_AMZN_TRACE_ID"),
            "remaining": context.get_remaining_time_in_millis() > 0,
            "arn": context.invoked_function_arn}
"#,
    )
    .unwrap();
    let mut sim = Simulator::start(SimConfig {
        function: FunctionSpec::Process(ProcessFunction {
            command: python,
            args: vec!["-m".into(), "awslambdaric".into(), "app.handler".into()],
            working_dir: Some(dir),
        }),
        handler: "app.handler".into(),
        echo_output: std::env::var_os("SIM_ECHO").is_some(),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    assert_eq!(sim.last_init().unwrap().status, "success", "{:?}", sim.last_init());
    let trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    let out = sim
        .invoke(Invocation {
            payload: r#"{"k":"v"}"#.into(),
            trace_header: Some(trace.into()),
            ..Invocation::default()
        })
        .await
        .unwrap();
    assert_eq!(out.status, "success", "{out:?}");
    let body: Value = serde_json::from_slice(out.response.as_ref().unwrap()).unwrap();
    assert_eq!(body["echo"]["k"], "v");
    assert_eq!(body["requestId"], out.request_id.as_str());
    assert_eq!(body["trace"], trace);
    assert_eq!(body["remaining"], true);
    let failed = sim.invoke(Invocation { payload: r#"{"fail":true}"#.into(), ..Invocation::default() }).await.unwrap();
    assert_eq!(failed.status, "error");
    let err: Value = serde_json::from_slice(failed.response.as_ref().unwrap()).unwrap();
    assert_eq!(err["errorType"], "ValueError");
    assert_eq!(err["errorMessage"], "asked to fail");
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    assert!(
        lines(&report.events, false).iter().any(|l| l.contains("handler log line")),
        "{:?}",
        lines(&report.events, false)
    );
}
