//! The `lambdatel-sim` binary end to end: runs, scenarios, the JSON report and clear errors.

mod common;

use std::process::Command;

fn sim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lambdatel-sim"))
}

#[test]
fn run_prints_summary_progress_and_report() {
    let ext = common::extension("cli-ext");
    let out = sim()
        .args(["run", "--extension", ext.to_str().unwrap(), "--invocations", "25", "--report", "-", "--no-freeze"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["invocations"].as_array().unwrap().len(), 25);
    assert_eq!(report["extensions"][0]["name"], "cli-ext");
    assert_eq!(report["freeze"], false);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // 25 invocations: progress every 1/20th, and the last one.
    assert!(stderr.contains("[25/25]"), "{stderr}");
    assert!(!stderr.contains("[3/25]"), "{stderr}");
}

#[test]
fn scenario_file_and_human_summary() {
    let ext = common::extension("scenario-ext");
    let dir = ext.parent().unwrap();
    let scenario = dir.join("scenario.yaml");
    std::fs::write(
        &scenario,
        "invocations:\n  - repeat: 2\n    logs: [hello]\n  - result: {error: {type: ValueError, message: bad}}\n",
    )
    .unwrap();
    let report_path = dir.join("report.json");
    let out = sim()
        .args(["run", "--extension", ext.to_str().unwrap(), "--scenario", scenario.to_str().unwrap()])
        .args(["--report", report_path.to_str().unwrap(), "--quiet"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.starts_with("3 invocation(s) (1 error, 2 success), 1 extension process(es)"), "{summary}");
    assert!(summary.contains("extension scenario-ext"), "{summary}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();
    assert_eq!(report["invocations"][2]["error_type"], "ValueError");
}

#[test]
fn clear_errors() {
    let out = sim().args(["run", "--extension", "/nonexistent/my-ext"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "lambdatel-sim: extension /nonexistent/my-ext: No such file or directory (os error 2)"
    );
    let silent = common::extension("silent-cli-ext");
    let out = sim()
        .args(["run", "--quiet", "--init-timeout", "1s", "--extension", silent.to_str().unwrap()])
        .args(["--env", "SIM_EXT_MODE=never_register"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[\"silent-cli-ext\"] never registered within the 1000 ms"));
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = sim().args(["run", "--quiet", "--port", &port]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is the port in use?"));
    let out = sim().args(["run", "--frobnicate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("lambdatel-sim: unknown option `--frobnicate`"));
}
