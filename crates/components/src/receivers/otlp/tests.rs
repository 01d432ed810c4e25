//! Tests of the `otlp` receiver: settings, gRPC and HTTP requests, limits and partial success.

use std::io::Write;

use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1 as client;
use lambdatel_config::{ComponentConfig, ComponentId};
use opentelemetry_proto::tonic::{
    collector::trace::v1::trace_service_client::TraceServiceClient,
    common::v1::{any_value, AnyValue, KeyValue},
    resource::v1::Resource,
    trace::v1::{ResourceSpans, ScopeSpans, Span},
};
use tokio::{io::AsyncWriteExt, net::TcpStream};

use std::time::Duration;

use prost::Message;

use bytes::Bytes;
use hyper::{header::CONTENT_TYPE, Request};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use tonic::codec::CompressionEncoding;

use super::{buffer::*, *};
use crate::{registry::Registry, ReceiverConfig};

fn build(yaml: &str) -> Result<OtlpReceiverConfig, String> {
    let component = ComponentConfig::from_yaml("receivers.otlp", yaml, &|_| None).map_err(|e| e.to_string())?;
    let id: ComponentId = "otlp".parse().unwrap();
    match Registry::builtin().build_receiver(&id, &component) {
        Ok(ReceiverConfig::Otlp(config)) => Ok(config),
        Ok(other) => panic!("not an otlp receiver: {other:?}"),
        Err(e) => Err(format!("{}: {}", e.path, e.message)),
    }
}

/// Both protocols on ephemeral loopback ports.
fn loopback(max_items: usize, max_body: usize) -> OtlpReceiverConfig {
    OtlpReceiverConfig {
        protocols: Protocols {
            grpc: Some(GrpcServerConfig { endpoint: "127.0.0.1:0".into(), max_recv_msg_size_mib: 1 }),
            http: Some(HttpServerConfig { endpoint: "127.0.0.1:0".into(), max_request_body_size: max_body }),
        },
        max_buffered_items: max_items,
        ..OtlpReceiverConfig::default()
    }
}

async fn start(max_items: usize, max_body: usize) -> OtlpReceiver {
    BoundOtlp::bind(&loopback(max_items, max_body)).await.unwrap().start()
}

fn request(service: &str, names: &[&str]) -> ExportTraceServiceRequest {
    let spans = names
        .iter()
        .map(|n| Span { name: n.to_string(), trace_id: vec![0xab; 16], span_id: vec![0xcd; 8], ..Default::default() })
        .collect();
    let attribute = KeyValue {
        key: "service.name".into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(service.into())) }),
        ..Default::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource { attributes: vec![attribute], ..Default::default() }),
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            ..Default::default()
        }],
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// POSTs `body` and returns the status, content type and body of the answer.
async fn post(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, String, Vec<u8>) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = client::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    let mut request = Request::builder().method(method).uri(path).header("host", addr.to_string());
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = sender.send_request(request.body(Full::new(Bytes::from(body))).unwrap()).await.unwrap();
    let status = response.status().as_u16();
    let content_type =
        response.headers().get(CONTENT_TYPE).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (status, content_type, response.into_body().collect().await.unwrap().to_bytes().to_vec())
}

const PROTOBUF: (&str, &str) = ("content-type", "application/x-protobuf");
const JSON: (&str, &str) = ("content-type", "application/json");

/// Decodes a protobuf `google.rpc.Status` body into (code, message).
fn rpc_status(body: &[u8]) -> (i32, String) {
    #[derive(Clone, PartialEq, Default)]
    struct Status {
        code: i32,
        message: String,
    }
    let mut buf = body;
    let mut status = Status::default();
    while !buf.is_empty() {
        let (tag, wire) = prost::encoding::decode_key(&mut buf).unwrap();
        let ctx = prost::encoding::DecodeContext::default();
        match tag {
            1 => prost::encoding::int32::merge(wire, &mut status.code, &mut buf, ctx).unwrap(),
            2 => prost::encoding::string::merge(wire, &mut status.message, &mut buf, ctx).unwrap(),
            _ => prost::encoding::skip_field(wire, tag, &mut buf, ctx).unwrap(),
        }
    }
    (status.code, status.message)
}

#[test]
fn listed_protocols_start_with_defaults() {
    let config = build("protocols:\n  grpc:\n  http:\n").unwrap();
    assert_eq!(config.protocols.grpc, Some(GrpcServerConfig::default()));
    assert_eq!(config.protocols.http, Some(HttpServerConfig::default()));
    assert_eq!(config.protocols.grpc.unwrap().endpoint, "127.0.0.1:4317");
    assert_eq!(config.protocols.http.unwrap().endpoint, "127.0.0.1:4318");
    let config = build("protocols:\n  http:\n    endpoint: localhost:14318\n").unwrap();
    assert_eq!(config.protocols.grpc, None);
    assert_eq!(config.protocols.http.unwrap().endpoint, "localhost:14318");
    let config =
        build("protocols:\n  grpc: {endpoint: \"0.0.0.0:4317\", max_recv_msg_size_mib: 8}\nflush_wait: 250ms\n")
            .unwrap();
    assert_eq!(config.protocols.grpc.unwrap().max_recv_msg_size_mib, 8);
    assert_eq!(config.flush_wait, Duration::from_millis(250));
}

#[test]
fn config_errors_name_the_key() {
    assert_eq!(build("").unwrap_err(), "receivers.otlp.protocols: at least one of grpc, http is needed");
    assert_eq!(
        build("protocols:\n  grpc:\n    endpoint: collector:4317\n").unwrap_err(),
        "receivers.otlp.protocols.grpc.endpoint: \"collector:4317\" is not ip:port (for example 127.0.0.1:4317)"
    );
    assert_eq!(
        build("protocols:\n  http:\n    endpoint: localhost:http\n").unwrap_err(),
        "receivers.otlp.protocols.http.endpoint: \"localhost:http\": \"http\" is not a port"
    );
    assert_eq!(
        build("protocols:\n  grpc:\n    max_recv_msg_size_mib: 0\n").unwrap_err(),
        "receivers.otlp.protocols.grpc.max_recv_msg_size_mib: must be at least 1"
    );
    assert_eq!(
        build("protocols:\n  http:\n    max_request_body_size: 0\n").unwrap_err(),
        "receivers.otlp.protocols.http.max_request_body_size: must be at least 1"
    );
    assert_eq!(
        build("protocols:\n  grpc:\n    endpoint: 127.0.0.1:5000\n  http:\n    endpoint: localhost:5000\n")
            .unwrap_err(),
        "receivers.otlp.protocols.http.endpoint: localhost:5000 is also the grpc endpoint"
    );
    assert_eq!(
        build("protocols:\n  http:\nmax_buffered_items: 0\n").unwrap_err(),
        "receivers.otlp.max_buffered_items: must be at least 1"
    );
    let err = build("protocols:\n  http:\n    cors: {}\n").unwrap_err();
    assert!(err.contains("cors"), "{err}");
    let err = build("protocols:\n  thrift:\n").unwrap_err();
    assert!(err.contains("thrift"), "{err}");
}

#[test]
fn endpoints() {
    assert_eq!(parse_endpoint("127.0.0.1:4317"), Ok("127.0.0.1:4317".parse().unwrap()));
    assert_eq!(parse_endpoint("localhost:4318"), Ok("127.0.0.1:4318".parse().unwrap()));
    assert_eq!(parse_endpoint("[::1]:4317"), Ok("[::1]:4317".parse().unwrap()));
    assert!(parse_endpoint("4317").is_err());
}

#[tokio::test]
async fn a_taken_port_names_the_key() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let mut config = loopback(10, 100);
    config.protocols.http.as_mut().unwrap().endpoint = addr.to_string();
    let err = BoundOtlp::bind(&config).await.err().unwrap();
    assert_eq!(
        err.to_string(),
        format!("protocols.http.endpoint: {addr} is already in use (by another extension or the function?); choose another port")
    );
}

#[tokio::test]
async fn http_protobuf_is_buffered_with_its_resource_until_drained() {
    let receiver = start(100, MIB).await;
    let addr = receiver.http_addr().unwrap();
    let body = request("checkout", &["a", "b"]).encode_to_vec();
    let (status, content_type, answer) = post(addr, "POST", "/v1/traces", &[PROTOBUF], body).await;
    assert_eq!((status, content_type.as_str()), (200, "application/x-protobuf"));
    assert_eq!(ExportTraceServiceResponse::decode(&answer[..]).unwrap(), ExportTraceServiceResponse::default());
    let body = request("payments", &["c"]).encode_to_vec();
    assert_eq!(post(addr, "POST", "/v1/traces", &[PROTOBUF], body).await.0, 200);
    let drained = receiver.drain();
    let mut expected = request("checkout", &["a", "b"]).resource_spans;
    expected.extend(request("payments", &["c"]).resource_spans);
    assert_eq!(drained.spans, expected);
    assert!(receiver.drain().is_empty());
    assert_eq!(receiver.stats(), OtlpReceiverStats { requests: 2, rejected_requests: 0, items: 3, dropped_items: 0 });
}

#[tokio::test]
async fn http_gzip_json_is_decoded() {
    let receiver = start(100, MIB).await;
    let addr = receiver.http_addr().unwrap();
    // The specification's own example shape: hex ids, integers as strings, enums as numbers.
    let json = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"web"}}]},
        "scopeSpans":[{"scope":{"name":"sdk"},"spans":[{"traceId":"5b8efff798038103d269b633813fc60c",
        "spanId":"eee19b7ec3c1b174","name":"GET /","kind":2,"startTimeUnixNano":"1544712660000000000",
        "endTimeUnixNano":"1544712661000000000"}]}]}]}"#;
    let (status, content_type, answer) =
        post(addr, "POST", "/v1/traces", &[JSON, ("content-encoding", "gzip")], gzip(json.as_bytes())).await;
    assert_eq!((status, content_type.as_str()), (200, "application/json"), "{}", String::from_utf8_lossy(&answer));
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&answer).unwrap(), serde_json::json!({}));
    let spans = receiver.drain().spans;
    let span = &spans[0].scope_spans[0].spans[0];
    assert_eq!(span.name, "GET /");
    assert_eq!(
        span.trace_id,
        [0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c]
    );
    assert_eq!(span.start_time_unix_nano, 1_544_712_660_000_000_000);
    assert_eq!(span.kind, 2);
}

#[tokio::test]
async fn malformed_bodies_get_400_with_a_message_in_the_request_encoding() {
    let receiver = start(100, MIB).await;
    let addr = receiver.http_addr().unwrap();
    let (status, content_type, answer) = post(addr, "POST", "/v1/traces", &[PROTOBUF], vec![0xff, 0xff, 0xff]).await;
    assert_eq!((status, content_type.as_str()), (400, "application/x-protobuf"));
    let (code, message) = rpc_status(&answer);
    assert_eq!(code, 3);
    assert!(message.starts_with("the body is not a protobuf ExportTraceServiceRequest: "), "{message}");

    let (status, _, answer) = post(addr, "POST", "/v1/logs", &[JSON], b"{\"resourceLogs\": 5}".to_vec()).await;
    assert_eq!(status, 400);
    let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer["code"], 3);
    let message = answer["message"].as_str().unwrap();
    assert!(message.starts_with("the body is not an OTLP/JSON ExportLogsServiceRequest: invalid type"), "{message}");

    let (status, _, answer) =
        post(addr, "POST", "/v1/metrics", &[JSON, ("content-encoding", "gzip")], b"not gzip".to_vec()).await;
    assert_eq!(status, 400);
    let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    assert!(answer["message"].as_str().unwrap().starts_with("the body is not valid gzip"), "{answer}");
    assert!(receiver.drain().is_empty());
    assert_eq!(receiver.stats().rejected_requests, 3);
}

#[tokio::test]
async fn oversized_bodies_get_413_also_once_decompressed() {
    let receiver = start(100, 1000).await;
    let addr = receiver.http_addr().unwrap();
    let (status, _, answer) = post(addr, "POST", "/v1/traces", &[PROTOBUF], vec![0; 1001]).await;
    assert_eq!(status, 413);
    assert_eq!(rpc_status(&answer), (8, "the body is larger than 1000 bytes".to_string()));
    // 100 kB of zeros compresses far below the limit but expands past it.
    let bomb = gzip(&vec![0; 100_000]);
    assert!(bomb.len() < 1000);
    let (status, _, answer) = post(addr, "POST", "/v1/traces", &[PROTOBUF, ("content-encoding", "gzip")], bomb).await;
    assert_eq!(status, 413);
    assert_eq!(rpc_status(&answer), (8, "the body is larger than 1000 bytes once decompressed".to_string()));
    // A valid body under the limit is accepted.
    let body = request("svc", &["a"]).encode_to_vec();
    assert_eq!(post(addr, "POST", "/v1/traces", &[PROTOBUF], body).await.0, 200);
}

#[tokio::test]
async fn wrong_path_method_type_and_encoding_are_refused() {
    let receiver = start(100, MIB).await;
    let addr = receiver.http_addr().unwrap();
    let (status, content_type, answer) = post(addr, "POST", "/v1/profiles", &[PROTOBUF], vec![]).await;
    assert_eq!((status, content_type.as_str()), (404, "application/x-protobuf"));
    assert_eq!(rpc_status(&answer).1, "/v1/profiles is not an OTLP path (/v1/traces, /v1/metrics, /v1/logs)");
    let (status, _, answer) = post(addr, "GET", "/v1/traces", &[PROTOBUF], vec![]).await;
    assert_eq!(status, 405);
    assert_eq!(rpc_status(&answer).1, "GET is not allowed, use POST");
    let (status, content_type, answer) =
        post(addr, "POST", "/v1/traces", &[("content-type", "text/plain")], b"hi".to_vec()).await;
    assert_eq!((status, content_type.as_str()), (415, "text/plain; charset=utf-8"));
    assert_eq!(
        String::from_utf8(answer).unwrap(),
        "Content-Type text/plain is not supported (use application/x-protobuf or application/json)\n"
    );
    let (status, _, answer) = post(addr, "POST", "/v1/traces", &[PROTOBUF, ("content-encoding", "br")], vec![]).await;
    assert_eq!(status, 415);
    assert_eq!(rpc_status(&answer).1, "Content-Encoding br is not supported (use gzip or none)");
    // An empty protobuf body is a valid, empty request.
    let (status, _, _) =
        post(addr, "POST", "/v1/traces", &[("content-type", "application/x-protobuf; proto=x")], vec![]).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_full_buffer_keeps_what_fits_and_reports_the_rest_as_rejected() {
    let receiver = start(3, MIB).await;
    let addr = receiver.http_addr().unwrap();
    let body = request("svc", &["a", "b"]).encode_to_vec();
    assert_eq!(post(addr, "POST", "/v1/traces", &[PROTOBUF], body.clone()).await.0, 200);
    let (status, _, answer) = post(addr, "POST", "/v1/traces", &[PROTOBUF], body).await;
    assert_eq!(status, 200);
    let partial = ExportTraceServiceResponse::decode(&answer[..]).unwrap().partial_success.unwrap();
    assert_eq!(partial.rejected_spans, 1);
    assert_eq!(
        partial.error_message,
        "lambdatel's buffer is full (receivers.otlp.max_buffered_items): 1 items dropped"
    );
    let names: Vec<String> =
        receiver.drain().spans.iter().flat_map(|r| &r.scope_spans[0].spans).map(|s| s.name.clone()).collect();
    assert_eq!(names, ["a", "b", "a"]);
    assert_eq!(receiver.stats().dropped_items, 1);
    // Draining makes room again.
    let body = request("svc", &["c"]).encode_to_vec();
    assert_eq!(post(addr, "POST", "/v1/traces", &[PROTOBUF], body).await.0, 200);
    assert_eq!(receiver.drain().spans.len(), 1);
}

#[tokio::test]
async fn grpc_with_gzip_is_buffered_and_oversize_is_refused() {
    let receiver = start(100, MIB).await;
    let endpoint = format!("http://{}", receiver.grpc_addr().unwrap());
    let mut client = TraceServiceClient::connect(endpoint).await.unwrap().send_compressed(CompressionEncoding::Gzip);
    let response = client.export(request("grpc-svc", &["x", "y"])).await.unwrap().into_inner();
    assert_eq!(response, ExportTraceServiceResponse::default());
    assert_eq!(receiver.drain().spans, request("grpc-svc", &["x", "y"]).resource_spans);
    // max_recv_msg_size_mib is 1 here; this request is larger.
    let big = request("grpc-svc", &[&"n".repeat(2 * MIB)]);
    let mut plain = TraceServiceClient::connect(format!("http://{}", receiver.grpc_addr().unwrap())).await.unwrap();
    let status = plain.export(big).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::OutOfRange, "{status:?}");
    assert!(receiver.drain().is_empty());
}

#[tokio::test]
async fn wait_idle_waits_for_a_request_still_arriving() {
    let receiver = Arc::new(start(100, MIB).await);
    let addr = receiver.http_addr().unwrap();
    let body = request("slow", &["late"]).encode_to_vec();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..5]).await.unwrap();
    // The request counts as soon as its headers are in.
    while receiver.in_flight() == 0 {
        tokio::task::yield_now().await;
    }
    let waiter = {
        let receiver = receiver.clone();
        tokio::spawn(async move { receiver.wait_idle(Instant::now() + Duration::from_secs(30)).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!waiter.is_finished(), "wait_idle returned while a request was in flight");
    stream.write_all(&body[5..]).await.unwrap();
    waiter.await.unwrap();
    assert_eq!(receiver.drain().spans, request("slow", &["late"]).resource_spans);
    // A deadline bounds the wait when a request never completes.
    stream.write_all(head.as_bytes()).await.unwrap();
    while receiver.in_flight() == 0 {
        tokio::task::yield_now().await;
    }
    receiver.wait_idle(Instant::now() + Duration::from_millis(20)).await;
    assert_eq!(receiver.in_flight(), 1);
}

#[tokio::test]
async fn wait_idle_returns_at_once_when_nothing_is_in_flight() {
    let receiver = start(100, MIB).await;
    // A deadline far away: returning at all shows it did not wait for it.
    tokio::time::timeout(Duration::from_secs(5), receiver.wait_idle(Instant::now() + Duration::from_secs(3600)))
        .await
        .expect("wait_idle returns when idle");
}
