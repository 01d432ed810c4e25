//! Faults from Lambda's side: register or subscribe refused, `event/next` failing, SHUTDOWN with a short
//! deadline, and a chatty function while the backend is down under a small memory limit. The API faults
//! run the real binary against a fake Extensions API (the simulator answers correctly by design); the
//! others run under `lambdatel-sim`.

use std::{
    net::SocketAddr,
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use hyper::StatusCode;
use lambdatel_e2e::*;
use lambdatel_sim::{
    http::{body_bytes, response, serve},
    Invocation, LogLine, OtlpSink, Script, ShutdownReason, SimConfig, Simulator, SinkBehaviour,
};

/// One request the fake Lambda API received.
#[derive(Debug, Clone, PartialEq)]
struct Call {
    method: String,
    path: String,
    body: String,
}

/// How the fake API answers: status and body for a method and path.
type Answer = fn(&str, &str) -> (u16, &'static str);

/// A fake Extensions/Telemetry API that records every call and answers as told.
struct FakeLambda {
    addr: SocketAddr,
    calls: Arc<Mutex<Vec<Call>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeLambda {
    async fn start(answer: Answer) -> FakeLambda {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let recorded = calls.clone();
        let task = serve(listener, move |req| {
            let calls = recorded.clone();
            async move {
                let method = req.method().to_string();
                let path = req.uri().path().to_string();
                let body = String::from_utf8_lossy(&body_bytes(req.into_body()).await).into_owned();
                calls.lock().unwrap().push(Call { method: method.clone(), path: path.clone(), body });
                let (status, body) = answer(&method, &path);
                let headers = [("Lambda-Extension-Identifier", "ext-1234".to_string())];
                response(StatusCode::from_u16(status).unwrap(), &headers, body)
            }
        });
        FakeLambda { addr, calls, task }
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    fn paths(&self) -> Vec<String> {
        self.calls().into_iter().map(|c| format!("{} {}", c.method, c.path)).collect()
    }
}

impl Drop for FakeLambda {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const REGISTER: &str = "/2020-01-01/extension/register";
const SUBSCRIBE: &str = "/2022-07-01/telemetry";
const NEXT: &str = "/2020-01-01/extension/event/next";
const INIT_ERROR: &str = "/2020-01-01/extension/init/error";
const EXIT_ERROR: &str = "/2020-01-01/extension/exit/error";
const REGISTERED: &str = r#"{"functionName":"orders","functionVersion":"$LATEST","handler":"index.handler"}"#;

/// Runs the binary against the fake API with `lambdatel.on_error` set to `on_error`; returns its exit code
/// and stderr.
async fn run_against(api: &FakeLambda, dir: &TempDir, on_error: &str) -> (Option<i32>, String) {
    let yaml = format!("lambdatel:\n  on_error: {on_error}\n{}", otlp_config("http://127.0.0.1:9", ""));
    let config = dir.write("config.yaml", &yaml);
    let child = tokio::process::Command::new(binary("lambdatel"))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
        .env("LAMBDATEL_CONFIG", &config)
        .env("AWS_LAMBDA_FUNCTION_NAME", "orders")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("lambdatel starts");
    let output = tokio::time::timeout(Duration::from_secs(15), child.wait_with_output())
        .await
        .expect("lambdatel exits on its own")
        .unwrap();
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_registration_exits_with_a_clear_message() {
    let api = FakeLambda::start(|_, path| match path {
        REGISTER => (403, r#"{"errorType":"Extension.Forbidden","errorMessage":"too late to register"}"#),
        _ => (500, "unexpected"),
    })
    .await;
    let dir = TempDir::new("register");
    let (code, stderr) = run_against(&api, &dir, "passthrough").await;
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        "[lambdatel] ERROR cannot register with Lambda: register: Lambda answered 403 Forbidden: \
         {\"errorType\":\"Extension.Forbidden\",\"errorMessage\":\"too late to register\"}"
    );
    // Without an extension id there is nothing else it may call.
    assert_eq!(api.paths(), [format!("POST {REGISTER}")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_on_error_fail_a_refused_subscription_is_reported_through_init_error() {
    let api = FakeLambda::start(|_, path| match path {
        REGISTER => (200, REGISTERED),
        SUBSCRIBE => (400, r#"{"errorType":"ValidationError","errorMessage":"bad buffering"}"#),
        INIT_ERROR => (202, r#"{"status":"OK"}"#),
        _ => (500, "unexpected"),
    })
    .await;
    let dir = TempDir::new("subscribe");
    let (code, stderr) = run_against(&api, &dir, "fail").await;
    assert_eq!(code, Some(1), "{stderr}");
    let message = format!(
        "the subscription to {SUBSCRIBE} was refused: subscribe: Lambda answered 400 Bad Request: \
         {{\"errorType\":\"ValidationError\",\"errorMessage\":\"bad buffering\"}}"
    );
    assert!(stderr.contains(&format!("[lambdatel] ERROR {message}")), "{stderr}");
    assert_eq!(api.paths(), [format!("POST {REGISTER}"), format!("PUT {SUBSCRIBE}"), format!("POST {INIT_ERROR}")]);
    let posted = &api.calls()[2];
    let body: serde_json::Value = serde_json::from_str(&posted.body).unwrap_or_default();
    assert_eq!(body["errorMessage"], message.as_str(), "{}", posted.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_a_refused_subscription_is_one_error_line_and_the_extension_idles_until_shutdown() {
    let api = FakeLambda::start(|_, path| match path {
        REGISTER => (200, REGISTERED),
        SUBSCRIBE => (400, r#"{"errorType":"ValidationError","errorMessage":"bad buffering"}"#),
        NEXT => (200, r#"{"eventType":"SHUTDOWN","shutdownReason":"spindown","deadlineMs":1}"#),
        _ => (500, "unexpected"),
    })
    .await;
    let dir = TempDir::new("subscribe-open");
    let (code, stderr) = run_against(&api, &dir, "passthrough").await;
    assert_eq!(code, Some(0), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("[lambdatel] ERROR")).collect();
    assert_eq!(
        errors,
        [format!(
            "[lambdatel] ERROR the subscription to {SUBSCRIBE} was refused: subscribe: Lambda answered 400 Bad Request: \
             {{\"errorType\":\"ValidationError\",\"errorMessage\":\"bad buffering\"}}; the function runs without telemetry \
             (lambdatel.on_error: passthrough; set it to fail to fail the init instead)"
        )]
    );
    assert_eq!(api.paths(), [format!("POST {REGISTER}"), format!("PUT {SUBSCRIBE}"), format!("GET {NEXT}")]);
}

/// `event/next` answering `status`: the extension stops at once, posts exit/error and exits non-zero.
async fn next_failing_with(answer: Answer, status_line: &str) {
    let api = FakeLambda::start(answer).await;
    let dir = TempDir::new("next");
    let (code, stderr) = run_against(&api, &dir, "passthrough").await;
    assert_eq!(code, Some(1), "{stderr}");
    let error = format!("event/next: Lambda answered {status_line}: {{\"errorType\":\"Extension.Failure\"}}");
    assert!(stderr.contains(&format!("[lambdatel] ERROR stopping: {error}")), "{stderr}");
    let paths = api.paths();
    assert_eq!(
        paths,
        [format!("POST {REGISTER}"), format!("PUT {SUBSCRIBE}"), format!("GET {NEXT}"), format!("POST {EXIT_ERROR}")],
        "one next call, no retry of a definite answer"
    );
    let body: serde_json::Value = serde_json::from_str(&api.calls()[3].body).unwrap_or_default();
    assert_eq!(body["errorMessage"], error.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_answering_500_stops_the_extension_with_exit_error() {
    next_failing_with(
        |_, path| match path {
            REGISTER => (200, REGISTERED),
            SUBSCRIBE => (200, "OK"),
            NEXT => (500, r#"{"errorType":"Extension.Failure"}"#),
            EXIT_ERROR => (202, r#"{"status":"OK"}"#),
            _ => (404, "unexpected"),
        },
        "500 Internal Server Error",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_answering_403_stops_the_extension_with_exit_error() {
    next_failing_with(
        |_, path| match path {
            REGISTER => (200, REGISTERED),
            SUBSCRIBE => (200, "OK"),
            NEXT => (403, r#"{"errorType":"Extension.Failure"}"#),
            EXIT_ERROR => (202, r#"{"status":"OK"}"#),
            _ => (404, "unexpected"),
        },
        "403 Forbidden",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_shutdown_deadline_is_met_with_the_backend_hanging() {
    let sink = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let dir = TempDir::new("shortshutdown");
    // The periodic strategy holds data until SHUTDOWN, so the shutdown has something to send.
    let config = format!(
        "lambdatel:\n  flush: {{strategy: periodic, interval: 1h, max_age: 1h}}\n{}",
        otlp_config(&sink.grpc_endpoint(), "")
    );
    let config = dir.write("config.yaml", &config);
    let mut sim =
        Simulator::start(SimConfig { shutdown_budget: Duration::from_millis(500), ..lambdatel_with_config(&config) })
            .await
            .expect("the simulator starts");
    for _ in 0..3 {
        sim.invoke(Invocation::default()).await.unwrap();
    }
    sink.set_behaviour(SinkBehaviour::Delay(Duration::from_secs(10)));
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    let extension = &report.extensions[0];
    assert!(!extension.killed, "exits before SIGKILL: {extension:#?}");
    assert_eq!(extension.exit_status.as_ref().and_then(|s| s.code), Some(0));
    assert!(extension.shutdown_ms.unwrap_or(f64::MAX) < 500.0, "{extension:#?}");
    let lines = extension_lines(&report);
    let stopped = lines.iter().find(|l| l.contains("stopped:")).unwrap_or_else(|| panic!("a summary in {lines:#?}"));
    // What was not confirmed in time is said, not silently lost: here the requests were written in full
    // and the backend never answered.
    assert!(stopped.ends_with("stopped: 50 items still awaiting the backend's answer at the deadline"), "{stopped}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chatty_function_with_the_backend_down_stays_within_the_memory_limit() {
    const INVOCATIONS: usize = 30;
    const LINES: usize = 200;
    let line = "x".repeat(1000);
    let sink = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    sink.set_behaviour(SinkBehaviour::Fail(tonic::Code::Unavailable));
    let dir = TempDir::new("memory");
    // Only the function's lines are log records: lambdatel's own warnings about the backend would be dropped
    // and counted beside them.
    let config = format!(
        "lambdatel:\n  flush_budget: 100ms\n  flush: {{strategy: end}}\n  memory_limit_mib: 2\n{}",
        otlp_config(&sink.grpc_endpoint(), "")
            .replace("  telemetryapi:\n", "  telemetryapi:\n    types: [platform, function]\n")
    );
    let config = dir.write("config.yaml", &config);
    let mut sim = Simulator::start(SimConfig { function_name: "chatty".into(), ..lambdatel_with_config(&config) })
        .await
        .expect("the simulator starts");
    // About 6 MB of log lines while nothing can be delivered: three times the limit.
    for i in 0..INVOCATIONS {
        let logs = (0..LINES).map(|k| LogLine::Text(format!("chatty {i}.{k} {line}"))).collect();
        let outcome =
            sim.invoke(Invocation { script: Script { logs, ..Script::default() }, ..Invocation::default() }).await;
        assert_eq!(outcome.unwrap().status, "success");
    }
    // The backend comes back for the end, so the final counters arrive.
    sink.set_behaviour(SinkBehaviour::Accept);
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    let extension = &report.extensions[0];
    assert!(!extension.killed);

    let received = sink.received();
    let emitted = (INVOCATIONS * LINES) as i64;
    let delivered = all_logs(&received)
        .iter()
        .filter(|r| r.body.as_ref().map(text).is_some_and(|t| t.starts_with("chatty ")))
        .count() as i64;
    let metrics = all_metrics(&received);
    let dropped_by_receiver =
        counter_where(&metrics, "lambdatel.receiver.dropped_logs", &[("reason", "memory_limit")]).unwrap_or(0);
    let dropped_by_exporter =
        counter_where(&metrics, "lambdatel.exporter.dropped", &[("signal", "logs"), ("reason", "memory_limit")])
            .unwrap_or(0);
    let dropped_other =
        counter_where(&metrics, "lambdatel.exporter.dropped", &[("signal", "logs")]).unwrap_or(0) - dropped_by_exporter;
    let dropped_by_lambda = report.events_dropped as i64;
    println!(
        "memory bound: {emitted} lines emitted, {delivered} delivered, dropped: {dropped_by_receiver} by the receiver \
         and {dropped_by_exporter} by the exporter queue (memory_limit), {dropped_other} otherwise, \
         {dropped_by_lambda} events by Lambda; peak RSS {} KiB",
        extension.peak_rss_kb
    );
    assert!(dropped_by_receiver + dropped_by_exporter > 0, "the bound was exceeded, so something was dropped");
    assert_eq!(dropped_other, 0, "drops have the memory_limit reason");
    assert_eq!(
        delivered + dropped_by_receiver + dropped_by_exporter + dropped_by_lambda,
        emitted,
        "every line is delivered or counted as dropped"
    );
    // 2 MiB of held telemetry; the rest is the process itself (a debug build), well below 128 MB.
    assert!(extension.peak_rss_kb < 48 * 1024, "peak RSS {} KiB", extension.peak_rss_kb);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_tokens_never_reach_the_extension_output() {
    const TOKEN: &str = "Bearer t0p-s3cret-0f-the-tenant";
    let sink = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    // A backend that refuses the credentials: the failure is logged, the credentials must not be.
    sink.set_behaviour(SinkBehaviour::Fail(tonic::Code::Unauthenticated));
    let dir = TempDir::new("secrets");
    let yaml = otlp_config(
        &sink.grpc_endpoint(),
        "    headers:\n      authorization: ${env:BACKEND_TOKEN}\n      x-api-key: ${env:BACKEND_TOKEN}\n",
    );
    let config = dir.write("config.yaml", &yaml);
    let env = vec![
        ("LAMBDATEL_CONFIG".to_string(), config.display().to_string()),
        ("BACKEND_TOKEN".to_string(), TOKEN.to_string()),
    ];

    // `lambdatel validate` prints the pipelines, not the settings.
    let validate = tokio::process::Command::new(binary("lambdatel"))
        .args(["validate", &config.display().to_string()])
        .env("BACKEND_TOKEN", TOKEN)
        .output()
        .await
        .unwrap();
    let printed = format!("{}{}", String::from_utf8_lossy(&validate.stdout), String::from_utf8_lossy(&validate.stderr));
    assert!(validate.status.success(), "{printed}");
    assert!(!printed.contains("t0p-s3cret"), "{printed}");

    let mut sim = Simulator::start(SimConfig {
        extensions: vec![binary("lambdatel")],
        env,
        function_name: "orders".into(),
        ..SimConfig::default()
    })
    .await
    .expect("the simulator starts");
    for _ in 0..2 {
        sim.invoke(Invocation::default()).await.unwrap();
    }
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    let lines = extension_lines(&report);
    assert!(lines.iter().any(|l| l.contains("Unauthenticated")), "the failure is reported: {lines:#?}");
    for line in &lines {
        assert!(!line.contains("t0p-s3cret"), "{line}");
    }
    // The token did reach the backend as a header (the sink stores nothing of a refused request, so the
    // check is that the exporter sent requests at all).
    assert!(sink.request_count() > 0);
}

/// Sends raw bytes to `addr` and returns the HTTP status of the answer.
async fn raw_status(addr: SocketAddr, request: &[u8]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(answer.get(9..12).unwrap_or_default()).parse().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_telemetry_listener_takes_only_lambda_batches_within_its_size_limit() {
    let sink = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let dir = TempDir::new("listener");
    let port = free_port();
    let config = dir.write("config.yaml", &otlp_config_on_port(port, &sink.grpc_endpoint(), ""));
    // Not frozen between invocations, so the listener answers the test at any time.
    let mut sim = Simulator::start(SimConfig { freeze: false, ..lambdatel_with_config(&config) })
        .await
        .expect("the simulator starts");
    let listener: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();

    let get = format!("GET / HTTP/1.1\r\nHost: sandbox.localdomain:{port}\r\nConnection: close\r\n\r\n");
    assert_eq!(raw_status(listener, get.as_bytes()).await, 405);
    // Lambda's largest batch is 2 × maxBytes (256 KiB by default) plus metadata; the limit is that plus 1 MiB.
    let limit = 2 * 262_144 + 1024 * 1024;
    let huge = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        limit + 1
    );
    let mut request = huge.into_bytes();
    request.extend(std::iter::repeat_n(b' ', limit + 1));
    assert_eq!(raw_status(listener, &request).await, 413);
    // Garbage is answered 200 (Lambda would only resend the same bytes) and changes nothing.
    let garbage = b"[{\"type\": 5}, 17, \"x\"";
    let post = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        garbage.len()
    );
    assert_eq!(raw_status(listener, &[post.as_bytes(), garbage].concat()).await, 200);

    let outcome = sim.invoke(Invocation::default()).await.unwrap();
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    assert!(!report.extensions[0].killed);
    let ids: Vec<String> = all_spans(&sink.received())
        .iter()
        .filter(|s| s.name == "orders")
        .filter_map(|s| attr(&s.attributes, "faas.invocation_id"))
        .collect();
    assert_eq!(ids, [outcome.request_id], "the extension works on after the bad requests");
}
