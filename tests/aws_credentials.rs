//! Container credentials (what SnapStart and Managed Instances functions get) under the simulator: traces to
//! the X-Ray-shaped and logs to the CloudWatch-Logs-shaped endpoint, signed with credentials from a stub
//! container credentials endpoint that checks its authorization token, hands out credentials that expire
//! soon, then rotated ones. The backend verifies every signature with botocore. Skipped, saying so, when
//! python3 lacks botocore, boto3 or moto.

mod aws_fixtures;

use std::time::Duration;

use aws_fixtures::*;
use lambdatel_e2e::*;
use lambdatel_sim::{Invocation, ShutdownReason, SimConfig, Simulator};

/// Credentials are refreshed this long before they expire (the AWS SDKs' margin, lambdatel's default).
const REFRESH_MARGIN_S: u64 = 300;
/// How long the stub's credentials stay usable before the margin makes them due for a refresh.
const USABLE_S: u64 = 2;

/// Authorization token the stub credentials endpoint checks.
const TOKEN: &str = "container-authorization-token";

/// What one run needs kept alive: botocore's verifier accepting both key pairs, the container credentials
/// stub (handing out `first` usable for `usable_s` seconds, then `second`) and the simulator signing with them.
struct Run {
    verifier: Process,
    _credentials: Process,
    sim: Simulator,
}

async fn start(name: &str, first: (&str, &str), second: (&str, &str), usable_s: u64, snap_start: bool) -> Run {
    let verifier = start_fixture(
        "sigv4_verifier.py",
        &[&format!("{}={}", first.0, first.1), &format!("{}={}", second.0, second.1)],
    );
    let lifetime = (REFRESH_MARGIN_S + usable_s).to_string();
    let credentials =
        start_fixture("container_credentials.py", &[TOKEN, first.0, first.1, &lifetime, second.0, second.1]);
    let dir = TempDir::new(name);
    let config = dir.write("config.yaml", &signed_config(verifier.port));
    let sim = Simulator::start(SimConfig {
        snap_start,
        env: vec![
            ("LAMBDATEL_CONFIG".into(), config.display().to_string()),
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI".into(),
                format!("http://127.0.0.1:{}/v2/credentials", credentials.port),
            ),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN".into(), TOKEN.into()),
        ],
        ..lambdatel_with_config(&config)
    })
    .await
    .expect("the simulator starts");
    Run { verifier, _credentials: credentials, sim }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_credentials_are_refreshed_mid_run_and_every_signature_verifies() {
    if !python_ready("container_credentials_are_refreshed_mid_run_and_every_signature_verifies") {
        return;
    }
    let (first, second) = (("AKIDFIRSTCREDS", "first-secret-key"), ("AKIDROTATED", "rotated-secret-key"));
    let Run { verifier, _credentials, mut sim } = start("containercreds", first, second, USABLE_S, false).await;
    for round in 0..2 {
        if round == 1 {
            // Frozen past the first credentials' refresh time: the next flush fetches the rotated ones.
            tokio::time::sleep(Duration::from_secs(USABLE_S) + Duration::from_millis(500)).await;
        }
        for _ in 0..3 {
            assert_eq!(sim.invoke(Invocation::default()).await.unwrap().status, "success");
        }
    }
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    let lines = extension_lines(&report);

    let seen = get_json(verifier.port, "/__seen");
    assert_eq!(seen["rejected"], serde_json::json!({}), "no signature mismatch: {seen}\n{lines:#?}");
    let accepted = seen["accepted"].as_object().unwrap();
    let mut keys: Vec<&str> = accepted.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, [first.0, second.0], "requests signed with each credential set: {seen}");
    for (key, signal) in [("otlphttp/xray/traces", "traces"), ("otlphttp/logs/logs", "logs")] {
        let (exported, retried, rejected) = counters(&lines, key);
        assert!(exported > 0, "{signal} exported: {lines:#?}");
        assert_eq!((retried, rejected), (0, 0), "{signal}: {lines:#?}");
    }
    let total: u64 = accepted.values().map(|n| n.as_u64().unwrap()).sum();
    assert!(total >= 4, "traces and logs signed with both sets: {seen}");
    // No credential, token or authorization token in anything the extension wrote.
    for line in &lines {
        for secret in [first.0, first.1, second.0, second.1, TOKEN, "session-1", "session-2"] {
            assert!(!line.contains(secret), "{secret} in {line}");
        }
    }
}

/// The access key ids the verifier accepted requests from, over two invocations of a SnapStart sandbox with
/// credentials that stay fresh for an hour, and a restore between them when `restore`.
async fn keys_across_a_restore(restore: bool) -> Vec<String> {
    let (first, second) = (("AKIDSNAPSHOT", "snapshot-secret-key"), ("AKIDRESTORED", "restored-secret-key"));
    let Run { verifier, _credentials, mut sim } = start("restorecreds", first, second, 3600, true).await;
    assert_eq!(sim.invoke(Invocation::default()).await.unwrap().status, "success");
    if restore {
        sim.restore_snapshot().await;
    }
    assert_eq!(sim.invoke(Invocation::default()).await.unwrap().status, "success");
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    let lines = extension_lines(&report);
    let seen = get_json(verifier.port, "/__seen");
    assert_eq!(seen["rejected"], serde_json::json!({}), "no signature mismatch: {seen}\n{lines:#?}");
    for line in &lines {
        assert!(!line.contains(first.1) && !line.contains(second.1) && !line.contains(TOKEN), "{line}");
    }
    let mut keys: Vec<String> = seen["accepted"].as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_snap_start_restore_credentials_are_fetched_again() {
    if !python_ready("after_a_snap_start_restore_credentials_are_fetched_again") {
        return;
    }
    // Control: fresh for an hour, the first credentials sign everything.
    assert_eq!(keys_across_a_restore(false).await, ["AKIDSNAPSHOT"]);
    // The restore drops them: the flush after it signs with credentials fetched again.
    assert_eq!(keys_across_a_restore(true).await, ["AKIDRESTORED", "AKIDSNAPSHOT"]);
}
