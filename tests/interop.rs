//! Interoperability with an OTLP collector we did not write: lambdatel exports to rotel's OTLP/gRPC
//! receiver (the `rotel` package on PyPI, which `.ci/run` installs), rotel forwards to our sink, and the
//! spans, metrics and logs arrive intact.

use std::{path::PathBuf, process::Stdio, time::Duration};

use lambdatel_e2e::*;
use lambdatel_sim::{Invocation, LogLine, OtlpSink, Script, ShutdownReason, Simulator};

/// The collector binary that the `rotel` Python package ships beside its module.
fn rotel_agent() -> PathBuf {
    let output = std::process::Command::new("python3")
        .args(["-c", "import os, rotel; print(os.path.join(os.path.dirname(rotel.__file__), 'rotel-agent'))"])
        .output()
        .expect("python3 runs");
    let path = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    assert!(
        output.status.success() && path.is_file(),
        "rotel is not installed: `source .ci/python-env` (the pinned packages of .ci/requirements.txt in a virtual environment) ({})",
        String::from_utf8_lossy(&output.stderr)
    );
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotel_accepts_and_forwards_everything_lambdatel_sends() {
    let sink = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let rotel_port = free_port();
    let dir = TempDir::new("rotel");
    let mut rotel = tokio::process::Command::new(rotel_agent())
        .args(["start", "--otlp-grpc-endpoint", &format!("127.0.0.1:{rotel_port}")])
        .args(["--otlp-http-endpoint", &format!("127.0.0.1:{}", free_port())])
        .args(["--exporter", "otlp", "--otlp-exporter-endpoint", &sink.grpc_endpoint()])
        .args(["--batch-timeout", "10ms"])
        .args(["--pid-file", &dir.path().join("rotel.pid").display().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("rotel starts");
    // Wait for rotel's receiver to listen before the extension's first flush.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", rotel_port)).await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "rotel did not listen on {rotel_port}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let config = dir.write("config.yaml", &otlp_config(&format!("http://127.0.0.1:{rotel_port}"), ""));
    let mut sim = Simulator::start(lambdatel_with_config(&config)).await.unwrap();
    let outcome = sim
        .invoke(Invocation {
            script: Script { logs: vec![LogLine::Text("hello through rotel".into())], ..Script::default() },
            ..Invocation::default()
        })
        .await
        .unwrap();
    sim.shutdown(ShutdownReason::Spindown).await.unwrap();

    let arrived = sink
        .wait_for(
            |r| {
                let spans = all_spans(r);
                let logs = all_logs(r);
                spans.iter().any(|s| attr(&s.attributes, "faas.invocation_id").as_deref() == Some(&outcome.request_id))
                    && logs.iter().any(|l| l.body.as_ref().map(text).as_deref() == Some("hello through rotel"))
                    && all_metrics(r).iter().any(|m| m.name == "faas.invocations")
            },
            Duration::from_secs(10),
        )
        .await;
    let _ = rotel.kill().await;
    assert!(arrived, "rotel forwarded: {:#?}", sink.received());
    let received = sink.received();
    // The resource lambdatel built survives the trip.
    let resource = received.spans[0].resource.as_ref().unwrap();
    assert_eq!(attr(&resource.attributes, "cloud.provider").as_deref(), Some("aws"));
    assert_eq!(attr(&resource.attributes, "faas.name").as_deref(), Some("orders"));
}
