//! Failing open under the simulator: a broken config, a taken port, a disabled component and the kill switch
//! never fail the function. Every invocation succeeds, the extension says what is wrong in one ERROR line
//! and exits 0 at SHUTDOWN; what still works keeps sending telemetry.

use std::net::TcpListener;

use lambdatel_e2e::*;
use lambdatel_sim::{
    events::{EventRecord, LogRecord},
    Invocation, LogLine, OtlpSink, Report, Script, ShutdownReason, SimConfig, Simulator,
};

const INVOCATIONS: usize = 5;

/// Runs `INVOCATIONS` invocations under `cfg`; asserts every one succeeded and the extension ended cleanly
/// with no init error; returns the report and the extension's ERROR lines.
async fn run_all_succeed(cfg: SimConfig) -> (Report, Vec<String>) {
    let mut sim = Simulator::start(cfg).await.expect("the simulator starts");
    let init = sim.last_init().cloned().expect("an init ran");
    assert_eq!(init.status, "success", "{init:#?}");
    let mut outcomes = Vec::new();
    for i in 0..INVOCATIONS {
        let script = Script { logs: vec![LogLine::Text(format!("line {i}"))], ..Script::default() };
        outcomes.push(sim.invoke(Invocation { script, ..Invocation::default() }).await.unwrap());
    }
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    assert!(outcomes.iter().all(|o| o.status == "success"), "{outcomes:#?}");
    let extension = &report.extensions[0];
    assert!(extension.errors.is_empty(), "no init/error: {:#?}", extension.errors);
    assert!(!extension.killed);
    assert_eq!(extension.exit_status.as_ref().and_then(|s| s.code), Some(0));
    let errors = report
        .events
        .iter()
        .filter_map(|e| match &e.record {
            EventRecord::ExtensionLog(LogRecord::Text(line)) if line.starts_with("[lambdatel] ERROR") => {
                Some(line.trim_end().to_string())
            }
            _ => None,
        })
        .collect();
    (report, errors)
}

const PASSTHROUGH: &str =
    "; the function runs without telemetry (lambdatel.on_error: passthrough; set it to fail to fail the init instead)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_that_does_not_parse_leaves_the_function_running() {
    let dir = TempDir::new("open-yaml");
    let config = dir.write("config.yaml", "receivers:\n  telemetryapi: [\nexporters:\n");
    let (_, errors) = run_all_succeed(lambdatel_with_config(&config)).await;
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let line = &errors[0];
    assert!(
        line.starts_with(&format!(
            "[lambdatel] ERROR invalid configuration in LAMBDATEL_CONFIG={}: ",
            config.display()
        )),
        "{line}"
    );
    assert!(line.contains(&format!("{}:", config.display())) && line.ends_with(PASSTHROUGH), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_with_a_wrong_key_names_file_key_and_line() {
    let dir = TempDir::new("open-key");
    let yaml = otlp_config("http://127.0.0.1:4317", "").replace("otlp", "otlpx");
    let config = dir.write("config.yaml", &yaml);
    let (_, errors) = run_all_succeed(lambdatel_with_config(&config)).await;
    let path = config.display();
    assert_eq!(
        errors,
        [format!(
            "[lambdatel] ERROR invalid configuration in LAMBDATEL_CONFIG={path}: {path}:6:3: exporters.otlpx: unknown exporter type \"otlpx\" (lambdatel has: otlp, otlphttp, debug, logging, awsemf, awsxray){PASSTHROUGH}"
        )]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_port_that_is_taken_leaves_the_function_running() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = TempDir::new("open-port");
    let config = dir.write("config.yaml", &otlp_config_on_port(port, "http://127.0.0.1:4317", ""));
    let (_, errors) = run_all_succeed(lambdatel_with_config(&config)).await;
    assert_eq!(
        errors,
        [format!(
            "[lambdatel] ERROR receivers.telemetryapi: port {port} is already in use on 127.0.0.1; choose another with receivers.telemetryapi.port, or leave it out for any free port{PASSTHROUGH}"
        )]
    );
    drop(taken);
}

/// Without a configured port the listener takes any free one: the usual port held elsewhere is no matter,
/// and telemetry flows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_usual_listener_port_held_elsewhere_is_no_matter() {
    // Held by this test, or by another process already: either way it is not free.
    let _held = TcpListener::bind("127.0.0.1:4243");
    let sink = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let dir = TempDir::new("open-anyport");
    let yaml = otlp_config(&sink.grpc_endpoint(), "");
    let config = dir.write("config.yaml", &yaml);
    let (report, errors) = run_all_succeed(lambdatel_with_config(&config)).await;
    assert_eq!(errors, Vec::<String>::new());
    let subscription = report.extensions[0].subscription.as_ref().expect("subscribed");
    assert_eq!(subscription.schema_version, "2022-12-13");
    let ids = invocation_ids(&sink.received(), "orders");
    assert_eq!(ids.len(), INVOCATIONS, "{ids:?}");
}

/// An `otlp` receiver whose port is taken is disabled; the Telemetry API pipelines run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_that_cannot_start_is_disabled_and_the_rest_runs() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let otlp_port = taken.local_addr().unwrap().port();
    let sink = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let dir = TempDir::new("open-component");
    let yaml = format!(
        "receivers:
  telemetryapi:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{otlp_port}
exporters:
  otlp:
    endpoint: {sink}
service:
  pipelines:
    traces: {{receivers: [telemetryapi, otlp], exporters: [otlp]}}
",
        sink = sink.grpc_endpoint()
    );
    let config = dir.write("config.yaml", &yaml);
    let (_, errors) = run_all_succeed(lambdatel_with_config(&config)).await;
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(errors[0].starts_with("[lambdatel] ERROR receivers.otlp."), "{}", errors[0]);
    assert!(errors[0].ends_with("; receivers.otlp is disabled, the other pipelines run"), "{}", errors[0]);
    assert_eq!(invocation_ids(&sink.received(), "orders").len(), INVOCATIONS);
    drop(taken);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kill_switch_registers_and_idles() {
    let sink = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let dir = TempDir::new("open-disabled");
    let config = dir.write("config.yaml", &otlp_config(&sink.grpc_endpoint(), ""));
    let mut cfg = lambdatel_with_config(&config);
    cfg.env.push(("LAMBDATEL_DISABLED".into(), "true".into()));
    let (report, errors) = run_all_succeed(cfg).await;
    assert_eq!(errors, Vec::<String>::new());
    assert!(report.extensions[0].registered);
    assert!(report.extensions[0].subscription.is_none());
    let received = sink.received();
    assert_eq!((received.spans.len(), received.logs.len(), received.metrics.len()), (0, 0, 0));
}
