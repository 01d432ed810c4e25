//! The built Lambda layer, unpacked into a folder laid out like `/opt`, run end to end under the simulator:
//! Lambda starts whatever is in `/opt/extensions`, so the simulator does the same with the unpacked
//! `extensions/` folder, and the OTLP server must receive the function's spans.
//!
//! Ignored by default: they need a layer build. `.ci/layer` builds the zips, unpacks the x86_64 one and runs
//! `LAMBDATEL_LAYER_DIR=<unpacked> cargo test -p lambdatel-e2e --test layer -- --ignored`.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use lambdatel_e2e::*;
use lambdatel_sim::{Invocation, OtlpSink, Script, ShutdownReason, SimConfig, Simulator};

/// The unpacked layer (the folder that stands for `/opt`).
fn layer_dir() -> PathBuf {
    let dir = std::env::var_os("LAMBDATEL_LAYER_DIR")
        .map(PathBuf::from)
        .expect("LAMBDATEL_LAYER_DIR must name the folder the layer zip was unpacked into");
    let extension = dir.join("extensions/lambdatel");
    assert!(extension.is_file(), "{} is missing: is LAMBDATEL_LAYER_DIR an unpacked layer?", extension.display());
    dir
}

/// Starts the simulator with every extension of the layer, invokes twice, shuts down, and checks that the
/// layer's one extension lived a clean life. Returns the request ids.
async fn run_layer(layer: &Path, env: Vec<(String, String)>) -> Vec<String> {
    let mut sim = Simulator::start(SimConfig {
        extensions_dir: Some(layer.join("extensions")),
        env,
        function_name: "layer-check".into(),
        timeout: Duration::from_secs(3),
        ..SimConfig::default()
    })
    .await
    .expect("the simulator starts the layer's extensions");
    let mut ids = Vec::new();
    for _ in 0..2 {
        let script = Script { duration: Duration::from_millis(20), ..Script::default() };
        let outcome = sim.invoke(Invocation { script, ..Invocation::default() }).await.unwrap();
        assert_eq!(outcome.status, "success", "{outcome:#?}");
        ids.push(outcome.request_id);
    }
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();

    assert_eq!(report.extensions.len(), 1, "the layer holds exactly one extension: {:#?}", report.extensions);
    let extension = &report.extensions[0];
    assert_eq!(extension.name, "lambdatel", "Lambda names an extension after its file");
    assert!(extension.registered, "{extension:#?}");
    assert!(!extension.killed, "it must exit within the shutdown budget: {extension:#?}");
    assert!(extension.errors.is_empty(), "{extension:#?}");
    assert_eq!(extension.exit_status.as_ref().and_then(|s| s.code), Some(0), "{extension:#?}");
    // Figures for the README, not assertions: they depend on the machine.
    eprintln!(
        "layer extension: first event/next after {:?} ms, peak RSS {} KiB, CPU {:.1} ms, shutdown {:?} ms",
        extension.time_to_first_next_ms, extension.peak_rss_kb, extension.cpu_ms, extension.shutdown_ms
    );
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs an unpacked layer in LAMBDATEL_LAYER_DIR (.ci/layer runs it)"]
async fn the_unpacked_layer_exports_every_invocation_span() {
    let layer = layer_dir();
    let sink = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let dir = TempDir::new("layer");
    let config = dir.write("config.yaml", &otlp_config(&sink.grpc_endpoint(), ""));

    let mut want = run_layer(&layer, vec![("LAMBDATEL_CONFIG".into(), config.display().to_string())]).await;

    let mut got = invocation_ids(&sink.received(), "layer-check");
    got.sort();
    want.sort();
    assert_eq!(got, want, "one span per invocation, flushed before shutdown ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs an unpacked layer in LAMBDATEL_LAYER_DIR (.ci/layer runs it)"]
async fn the_layer_without_a_config_follows_the_otel_variables() {
    let layer = layer_dir();
    // With no config the receiver listens on any free port, as it does in Lambda: even the port it once
    // took by default may be held.
    let _held = std::net::TcpListener::bind("127.0.0.1:4243");
    let sink = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();

    let env = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT".into(), sink.grpc_endpoint()),
        ("OTEL_SERVICE_NAME".into(), "checkout".into()),
        ("OTEL_RESOURCE_ATTRIBUTES".into(), "deployment.environment=layer-test".into()),
    ];
    let mut want = run_layer(&layer, env).await;

    let mut got = invocation_ids(&sink.received(), "layer-check");
    got.sort();
    want.sort();
    assert_eq!(got, want, "one span per invocation, to OTEL_EXPORTER_OTLP_ENDPOINT");
    let received = sink.received();
    let resource = received.spans[0].resource.as_ref().expect("spans carry a resource");
    assert_eq!(attr(&resource.attributes, "service.name").as_deref(), Some("checkout"));
    assert_eq!(attr(&resource.attributes, "deployment.environment").as_deref(), Some("layer-test"));
}
