//! The embedded OTLP receiver: gRPC and HTTP intake, fault injection, stop and restart.

use lambdatel_sim::otlp::{OtlpSink, SinkBehaviour, SinkOptions};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use std::io::Write;
use std::time::Duration;

fn request(name: &str) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    name: name.into(),
                    trace_id: vec![1; 16],
                    span_id: vec![2; 8],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

async fn export(endpoint: String, name: &str) -> Result<(), tonic::Status> {
    let mut client =
        TraceServiceClient::connect(endpoint).await.map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    client.export(request(name)).await.map(|_| ())
}

#[tokio::test]
async fn grpc_accepts_fails_on_demand_and_survives_restart() {
    let sink = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = sink.grpc_addr();
    assert_eq!(sink.grpc_endpoint(), format!("http://{addr}"));
    export(sink.grpc_endpoint(), "one").await.unwrap();
    assert_eq!(sink.received().span_names(), vec!["one"]);

    sink.set_behaviour(SinkBehaviour::Fail(tonic::Code::Unavailable));
    let err = export(sink.grpc_endpoint(), "two").await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable);
    assert_eq!(sink.request_count(), 2);
    assert_eq!(sink.received().span_count(), 1);

    sink.set_behaviour(SinkBehaviour::FailNext(1, tonic::Code::ResourceExhausted));
    assert_eq!(export(sink.grpc_endpoint(), "three").await.unwrap_err().code(), tonic::Code::ResourceExhausted);
    export(sink.grpc_endpoint(), "four").await.unwrap();
    assert_eq!(sink.received().span_names(), vec!["one", "four"]);

    sink.stop().await;
    assert!(export(format!("http://{addr}"), "down").await.is_err());
    let again = OtlpSink::start(addr).await.unwrap();
    export(again.grpc_endpoint(), "back").await.unwrap();
    assert!(again.wait_for(|r| r.span_names() == ["back"], Duration::from_secs(2)).await);
}

#[tokio::test]
async fn wait_for_times_out_when_nothing_arrives() {
    let sink = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    assert!(!sink.wait_for(|r| r.span_count() > 0, Duration::from_millis(50)).await);
}

#[tokio::test]
async fn http_accepts_protobuf_gzip_and_json_and_maps_failures() {
    let sink =
        OtlpSink::start_with_http("127.0.0.1:0".parse().unwrap(), Some("127.0.0.1:0".parse().unwrap())).await.unwrap();
    let http: std::net::SocketAddr = sink.http_endpoint().unwrap().trim_start_matches("http://").parse().unwrap();
    let post = |headers: Vec<(&'static str, &'static str)>, body: Vec<u8>| async move {
        lambdatel_sim::http::post(http, "/v1/traces", &headers, body, Duration::from_secs(5)).await.unwrap().0
    };
    assert_eq!(post(vec![("Content-Type", "application/x-protobuf")], request("pb").encode_to_vec()).await, 200);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&request("gz").encode_to_vec()).unwrap();
    let gz = gz.finish().unwrap();
    assert_eq!(post(vec![("Content-Type", "application/x-protobuf"), ("Content-Encoding", "gzip")], gz).await, 200);
    let json = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"js","traceId":"01010101010101010101010101010101","spanId":"0202020202020202"}]}]}]}"#;
    assert_eq!(post(vec![("Content-Type", "application/json")], json.to_vec()).await, 200);
    assert_eq!(sink.received().span_names(), vec!["pb", "gz", "js"]);
    assert_eq!(post(vec![("Content-Type", "application/x-protobuf")], b"\xff\xff".to_vec()).await, 400);
    sink.set_behaviour(SinkBehaviour::Fail(tonic::Code::Unavailable));
    assert_eq!(post(vec![("Content-Type", "application/x-protobuf")], request("x").encode_to_vec()).await, 503);
    sink.set_behaviour(SinkBehaviour::Fail(tonic::Code::ResourceExhausted));
    assert_eq!(post(vec![("Content-Type", "application/x-protobuf")], request("x").encode_to_vec()).await, 429);
}

#[tokio::test]
async fn throttle_answers_resource_exhausted_with_retry_info_and_http_retry_after() {
    use tonic_types::StatusExt;
    let sink =
        OtlpSink::start_with_http("127.0.0.1:0".parse().unwrap(), Some("127.0.0.1:0".parse().unwrap())).await.unwrap();
    sink.set_behaviour(SinkBehaviour::Throttle(Duration::from_millis(1500)));
    let status = export(sink.grpc_endpoint(), "throttled").await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    assert_eq!(status.get_details_retry_info().and_then(|i| i.retry_delay), Some(Duration::from_millis(1500)));
    let http: std::net::SocketAddr = sink.http_endpoint().unwrap().trim_start_matches("http://").parse().unwrap();
    let body = request("throttled").encode_to_vec();
    let headers = [("Content-Type", "application/x-protobuf")];
    let (status, _) =
        lambdatel_sim::http::post(http, "/v1/traces", &headers, body, Duration::from_secs(5)).await.unwrap();
    assert_eq!(status, 429);
    assert!(sink.received().is_empty());
    sink.set_behaviour(SinkBehaviour::Accept);
    export(sink.grpc_endpoint(), "accepted").await.unwrap();
    assert_eq!(sink.received().span_names(), vec!["accepted"]);
}

/// Sends one trace export over gRPC and one over HTTP, each on a new connection.
async fn export_both_ways(sink: &OtlpSink) {
    export(sink.grpc_endpoint(), "grpc").await.unwrap();
    let http: std::net::SocketAddr = sink.http_endpoint().unwrap().trim_start_matches("http://").parse().unwrap();
    let headers = [("Content-Type", "application/x-protobuf")];
    let body = request("http").encode_to_vec();
    let (status, _) =
        lambdatel_sim::http::post(http, "/v1/traces", &headers, body, Duration::from_secs(5)).await.unwrap();
    assert_eq!(status, 200);
}

#[tokio::test]
async fn accepted_connections_have_nodelay_like_real_servers_unless_asked_for_nagle() {
    let any = || Some("127.0.0.1:0".parse().unwrap());
    let real =
        OtlpSink::start_with("127.0.0.1:0".parse().unwrap(), SinkOptions { http: any(), nodelay: true }).await.unwrap();
    export_both_ways(&real).await;
    assert_eq!((real.connections_accepted(), real.connections_with_nodelay()), (2, 2));

    let nagle = OtlpSink::start_with("127.0.0.1:0".parse().unwrap(), SinkOptions { http: any(), nodelay: false })
        .await
        .unwrap();
    export_both_ways(&nagle).await;
    assert_eq!((nagle.connections_accepted(), nagle.connections_with_nodelay()), (2, 0));
    assert_eq!(nagle.received().span_names(), vec!["grpc", "http"]);
}

#[tokio::test]
async fn records_request_bytes_and_span_arrival_times() {
    let sink = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let before = std::time::SystemTime::now();
    export(sink.grpc_endpoint(), "timed").await.unwrap();
    let after = std::time::SystemTime::now();
    assert_eq!(sink.request_bytes(), request("timed").encoded_len() as u64);
    let got = sink.received();
    let arrivals: Vec<_> = got.spans_with_arrival().map(|(_, span, at)| (span.name.clone(), at)).collect();
    assert_eq!(arrivals.len(), 1);
    assert_eq!(arrivals[0].0, "timed");
    assert!(arrivals[0].1 >= before && arrivals[0].1 <= after);
}

#[tokio::test]
async fn delay_answers_every_export_late_like_a_remote_backend() {
    let sink = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    sink.set_behaviour(SinkBehaviour::Delay(Duration::from_millis(20)));
    let mut client = TraceServiceClient::connect(sink.grpc_endpoint()).await.unwrap();
    for name in ["a", "b"] {
        let t0 = std::time::Instant::now();
        client.export(request(name)).await.unwrap();
        assert!(t0.elapsed() >= Duration::from_millis(20), "{name} answered after {:?}", t0.elapsed());
    }
    assert_eq!(sink.connections_accepted(), 1);
    assert_eq!(sink.received().span_names(), vec!["a", "b"]);
}
