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
        .arg("--no-events")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["invocations"].as_array().unwrap().len(), 25);
    assert_eq!(report["extensions"][0]["name"], "cli-ext");
    assert_eq!(report["freeze"], false);
    assert_eq!(report["events"], serde_json::json!([]));
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

#[test]
fn otlp_mode_prints_what_the_extension_exported() {
    let ext = common::extension("otlp-ext");
    let port = lambdatel_sim::ports::free_port().to_string();
    let out = sim()
        .args(["run", "--quiet", "--no-freeze", "--otlp", "--otlp-http-port", &port, "--invocations", "2"])
        .args(["--extension", ext.to_str().unwrap(), "--env", &format!("SIM_OTLP_HTTP=http://127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let received = stdout.split("OTLP received:\n").nth(1).unwrap_or_else(|| panic!("{stdout}"));
    let lines: Vec<&str> = received.lines().collect();
    assert_eq!(lines.iter().filter(|l| l.starts_with("trace ")).count(), 2, "{received}");
    // Each trace is named after the invocation it came from.
    assert!(lines.iter().any(|l| l.starts_with("trace ") && l.contains(" invocation 2 ")), "{received}");
    assert!(lines.iter().any(|l| l.ends_with("| invoke 5.0 ms UNSET")), "{received}");
    assert!(lines.contains(&"  invocations: 1"), "{received}");
    assert_eq!(lines.iter().filter(|l| l.starts_with("  INFO  handled ")).count(), 2, "{received}");
    // urllib opens a connection per request: 3 signals x 2 invocations.
    assert!(stdout.contains("\nOTLP receiver: 6 export request(s) on 6 connection(s), "), "{stdout}");
}

#[test]
fn scenario_repeats_with_invocations() {
    let ext = common::extension("repeat-ext");
    let scenario = ext.parent().unwrap().join("twice.yaml");
    std::fs::write(&scenario, "invocations:\n  - repeat: 2\n  - result: {error: {type: ValueError, message: bad}}\n")
        .unwrap();
    let out = sim()
        .args(["run", "--quiet", "--no-freeze", "--extension", ext.to_str().unwrap(), "--invocations", "3"])
        .args(["--scenario", scenario.to_str().unwrap(), "--report", "-", "--no-events"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let errors: Vec<bool> =
        report["invocations"].as_array().unwrap().iter().map(|i| i["error_type"] == "ValueError").collect();
    assert_eq!(errors, [false, false, true, false, false, true, false, false, true]);
}

#[test]
fn a_missing_backend_is_named_in_the_summary() {
    let ext = common::extension("lonely-ext");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let endpoint = format!("http://127.0.0.1:{closed}");
    let out = sim()
        .args(["run", "--quiet", "--no-freeze", "--extension", ext.to_str().unwrap()])
        .args(["--env", &format!("OTEL_EXPORTER_OTLP_ENDPOINT={endpoint}")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let warning = format!(
        "warning: nothing listens at {endpoint} (OTEL_EXPORTER_OTLP_ENDPOINT): the extensions' exports fail and \
         their retries count as post-runtime time; --otlp starts an embedded receiver\n"
    );
    assert!(stdout.contains(&warning), "{stdout}");

    let out =
        sim().args(["run", "--quiet", "--no-freeze", "--otlp", "--extension", ext.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("\nOTLP receiver: no export arrived\n"));
}

#[test]
fn managed_instances_run_concurrently() {
    let ext = common::extension("lmi-cli-ext");
    let out = sim()
        .args(["run", "--quiet", "--managed-instances", "--concurrency", "4", "--invocations", "8"])
        .args(["--duration-ms", "50", "--extension", ext.to_str().unwrap(), "--env", "SIM_EXT_EVENTS=SHUTDOWN"])
        .args(["--report", "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((report["managed_instances"].as_u64(), report["freeze"].as_bool()), (Some(4), Some(false)));
    assert_eq!(report["invocations"].as_array().unwrap().len(), 8);
    assert_eq!(report["extensions"][0]["events"], serde_json::json!(["SHUTDOWN"]));
    let init_types: Vec<&str> = report["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "platform.initStart")
        .map(|e| e["record"]["initializationType"].as_str().unwrap())
        .collect();
    assert_eq!(init_types, ["lambda-managed-instances"]);

    // Init may take max(floor, timeout) on Managed Instances, --init-timeout on-demand.
    let init = |extra: &[&str]| {
        let out = sim()
            .args(["run", "--quiet", "--init-duration-ms", "600", "--report", "-", "--no-events"])
            .args(extra)
            .output()
            .unwrap();
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.code(), report["inits"][0]["status"].as_str().unwrap().to_string())
    };
    assert_eq!(init(&["--init-timeout", "300ms"]), (Some(2), "timeout".to_string()));
    assert_eq!(
        init(&["--managed-instances", "--init-timeout", "300ms", "--timeout", "1s"]),
        (Some(0), "success".to_string())
    );
    assert_eq!(
        init(&["--managed-instances", "--init-timeout", "300ms", "--timeout", "500ms"]),
        (Some(2), "timeout".to_string())
    );

    let refused = |args: &[&str]| {
        let out = sim().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(64));
        String::from_utf8_lossy(&out.stderr).lines().next().unwrap_or_default().to_string()
    };
    assert_eq!(
        refused(&["run", "--concurrency", "2"]),
        "lambdatel-sim: --concurrency needs --managed-instances (on-demand sandboxes run one invocation at a time)"
    );
    assert_eq!(
        refused(&["run", "--managed-instances", "--concurrency", "0"]),
        "lambdatel-sim: --concurrency must be at least 1"
    );
    assert_eq!(refused(&["run", "--otlp-nagle"]), "lambdatel-sim: --otlp-nagle needs --otlp");
}

#[test]
fn serve_answers_curl_style_invokes_until_interrupted() {
    let port = lambdatel_sim::ports::free_port();
    let child = sim()
        .args(["serve", "--quiet", "--port", &port.to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let (status, body) = rt.block_on(async {
        for _ in 0..500 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        lambdatel_sim::http::post(
            addr,
            "/2015-03-31/functions/function/invocations",
            &[("Content-Type", "application/json")],
            br#"{"hello":"world"}"#.to_vec(),
            std::time::Duration::from_secs(10),
        )
        .await
        .unwrap()
    });
    assert_eq!(status, 200);
    assert_eq!(&body[..], br#"{"hello":"world"}"#);
    // SAFETY: interrupting our own child process.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    // Never hang the suite: give the server 10 s to wind down.
    let mut child = child;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("serve did not stop on SIGINT");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("1 invocation(s) (1 success)"));
}

#[test]
fn fleet_reports_fan_in_and_losses() {
    let ext = common::extension("fleet-cli-ext");
    // The fixture exports over OTLP/HTTP to the port given; the fleet's receiver listens there.
    let port = lambdatel_sim::ports::free_port().to_string();
    let out = sim()
        .args(["fleet", "--quiet", "--extension", ext.to_str().unwrap(), "--otlp-http-port", &port])
        .args(["--env", &format!("SIM_OTLP_HTTP=http://127.0.0.1:{port}")])
        .args(["--sandboxes", "2", "--invocations", "6", "--pattern", "bursty", "--rate", "20"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("6 invocation(s) (6 success), 0 not run, in "), "{stdout}");
    assert!(lines[0].ends_with("; 2 sandbox(es) created, at most 2 at once, 2 cold start(s)"), "{stdout}");
    assert!(lines[2].starts_with("backend: 18 connection(s), 18 request(s) (3.00 per invocation), "), "{stdout}");
    assert_eq!(lines[3], "spans: 6 received, 0 duplicate(s), 0 invocation(s) without a span");
    assert_eq!(lines[4], "function log lines: 6 written, 6 lost, 0 duplicate(s)");
    assert_eq!(lines[5], "metric series: 1 (invocations 1)");
    assert_eq!(lines.iter().filter(|l| l.starts_with("sandbox ")).count(), 2, "{stdout}");

    let out = sim().args(["fleet", "--pattern", "spiky"]).output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr)
        .starts_with("lambdatel-sim: unknown traffic pattern `spiky` (steady, bursty, steady-then-bursty or diurnal)"));
}
