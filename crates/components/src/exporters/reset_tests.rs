//! After [`Export::reset_connections`] (a SnapStart restore), the next export of the `otlp` and `otlphttp`
//! exporters opens a new TCP connection, counted where the test server accepts it; and a SigV4 authenticator
//! signs with the credentials its environment holds after the restore.

use std::sync::{atomic::Ordering, Arc, Mutex};

use lambdatel_aws::{env::Lookup, http::HttpClient, Env, SigV4AuthConfig};
use lambdatel_pipeline::{Export, Signal, Signals};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

use super::{
    auth::RequestAuth,
    otlp_grpc::OtlpGrpcConfig,
    test_support::{server, Seen},
    Exporter, OtlpGrpcExporter, OtlpHttpConfig, OtlpHttpExporter,
};
use crate::extensions::Authenticator;

fn spans() -> Signals {
    let span = Span { name: "s".into(), trace_id: vec![1; 16], span_id: vec![2; 8], ..Default::default() };
    Signals {
        spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans { spans: vec![span], ..Default::default() }],
            ..Default::default()
        }],
        ..Signals::default()
    }
}

async fn export_ok(exporter: &Exporter) {
    let attempts = lambdatel_pipeline::Attempts::until(tokio::time::Instant::now() + std::time::Duration::from_secs(5));
    let (_, result) = exporter.export(Signal::Traces, &spans(), attempts).await;
    assert_eq!(result, Ok(()));
}

/// The exporter as the graph holds it, with default retry, queue and breaker settings.
fn held_grpc(exporter: OtlpGrpcExporter) -> Exporter {
    let (retry, queue, breaker) = Default::default();
    Exporter::OtlpGrpc { exporter: Box::new(exporter), retry, queue, breaker }
}

/// See [`held_grpc`].
fn held_http(exporter: OtlpHttpExporter) -> Exporter {
    let (retry, queue, breaker) = Default::default();
    Exporter::OtlpHttp { exporter: Box::new(exporter), retry, queue, breaker }
}

/// The connections `seen` has accepted after two exports, then after each of `resets` resets followed by two
/// exports.
async fn connections_across_resets(exporter: &Exporter, seen: &Seen, resets: usize) -> Vec<usize> {
    let mut counts = Vec::new();
    for round in 0..=resets {
        if round > 0 {
            exporter.reset_connections();
        }
        export_ok(exporter).await;
        export_ok(exporter).await;
        counts.push(seen.connections.load(Ordering::SeqCst));
    }
    counts
}

#[tokio::test]
async fn otlp_grpc_opens_a_new_connection_after_a_reset() {
    let (url, seen) = server(true).await;
    let exporter = OtlpGrpcExporter::new(&OtlpGrpcConfig { endpoint: url, ..OtlpGrpcConfig::default() }).unwrap();
    let exporter = held_grpc(exporter);
    // Reused between exports; one new connection after each reset, then reused.
    assert_eq!(connections_across_resets(&exporter, &seen, 2).await, [1, 2, 3]);
}

#[tokio::test]
async fn otlp_http_opens_a_new_connection_after_a_reset() {
    let (url, seen) = server(false).await;
    let exporter = OtlpHttpExporter::new(&OtlpHttpConfig { endpoint: url, ..OtlpHttpConfig::default() }).unwrap();
    let exporter = held_http(exporter);
    assert_eq!(connections_across_resets(&exporter, &seen, 2).await, [1, 2, 3]);
}

#[tokio::test]
async fn a_reset_makes_sigv4_read_the_credentials_of_the_restored_environment() {
    let (url, seen) = server(false).await;
    // The environment as the config was read, and as it reads after the restore.
    let key = Arc::new(Mutex::new("AKIDSNAPSHOT"));
    let current = key.clone();
    let lookup: Lookup = Arc::new(move |name| match name {
        "AWS_ACCESS_KEY_ID" => Some(current.lock().unwrap().to_string()),
        "AWS_SECRET_ACCESS_KEY" => Some("secret".into()),
        "AWS_REGION" => Some("eu-west-1".into()),
        _ => None,
    });
    let env = Env::from_lookup(lookup);
    let http = HttpClient::new(std::time::Duration::from_secs(1));
    let credentials = lambdatel_aws::CredentialsProvider::from_env(&env, http.clone());
    let authenticator =
        Authenticator::SigV4 { config: SigV4AuthConfig { service: "xray".into(), ..Default::default() }, credentials };
    let mut exporter = OtlpHttpExporter::new(&OtlpHttpConfig { endpoint: url, ..OtlpHttpConfig::default() }).unwrap();
    exporter.set_auth(RequestAuth::new(&authenticator, exporter.urls(), &env, &http).unwrap());
    let exporter = held_http(exporter);
    export_ok(&exporter).await;
    *key.lock().unwrap() = "AKIDRESTORED";
    export_ok(&exporter).await;
    exporter.reset_connections();
    export_ok(&exporter).await;
    let scopes: Vec<String> = seen
        .authorizations
        .lock()
        .unwrap()
        .iter()
        .map(|a| a.split(", ").next().unwrap().trim_start_matches("AWS4-HMAC-SHA256 Credential=").to_string())
        .map(|credential| credential.split('/').next().unwrap().to_string())
        .collect();
    // Cached until the restore, the restored environment's key after it.
    assert_eq!(scopes, ["AKIDSNAPSHOT", "AKIDSNAPSHOT", "AKIDRESTORED"]);
    assert_eq!(seen.connections.load(Ordering::SeqCst), 2);
}
