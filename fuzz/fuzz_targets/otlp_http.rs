//! The OTLP receiver's HTTP side, end to end: any body, as protobuf or JSON, gzip or not, to any of the three
//! paths of a receiver listening on loopback. Its body decoders are private, so the target drives the real
//! server: nothing may panic, every answer must be one of the documented ones, and the server must keep
//! answering.

#![no_main]

use std::sync::OnceLock;

use lambdatel_components::receivers::otlp::{BoundOtlp, HttpServerConfig, OtlpReceiver, OtlpReceiverConfig, Protocols};
use libfuzzer_sys::fuzz_target;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    runtime::Runtime,
};

/// Small enough that gzip bombs and long bodies reach the size limit quickly.
const MAX_BODY: usize = 64 * 1024;

struct Server {
    runtime: Runtime,
    receiver: OtlpReceiver,
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        let config = OtlpReceiverConfig {
            protocols: Protocols {
                grpc: None,
                http: Some(HttpServerConfig { endpoint: "127.0.0.1:0".into(), max_request_body_size: MAX_BODY }),
            },
            max_buffered_items: 1000,
            ..OtlpReceiverConfig::default()
        };
        let receiver = runtime.block_on(async { BoundOtlp::bind(&config).await.expect("binds").start() });
        Server { runtime, receiver }
    })
}

async fn post(addr: std::net::SocketAddr, head: &str, body: &[u8]) -> u16 {
    let mut stream = TcpStream::connect(addr).await.expect("the receiver accepts connections");
    stream.write_all(head.as_bytes()).await.expect("writes the head");
    // The server may answer (413, 415) and close before reading the whole body.
    let _ = stream.write_all(body).await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let status = response.get(9..12).and_then(|s| std::str::from_utf8(s).ok()).and_then(|s| s.parse().ok());
    status.unwrap_or_else(|| panic!("no HTTP status in {:?}", String::from_utf8_lossy(&response)))
}

fuzz_target!(|data: &[u8]| {
    let server = server();
    let (selector, body) = data.split_first().unwrap_or((&0, data));
    let path = ["/v1/traces", "/v1/metrics", "/v1/logs", "/v1/other"][usize::from(selector & 3)];
    let content_type = ["application/x-protobuf", "application/json", "text/plain", "application/json"]
        [usize::from((selector >> 2) & 3)];
    let encoding = if selector & 16 == 16 { "Content-Encoding: gzip\r\n" } else { "" };
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: {content_type}\r\n\
         {encoding}Content-Length: {}\r\n\r\n",
        body.len()
    );
    let addr = server.receiver.http_addr().expect("HTTP is on");
    let status = server.runtime.block_on(post(addr, &head, body));
    assert!(matches!(status, 200 | 400 | 404 | 413 | 415), "{status} for {path} {content_type} {encoding:?}");
    if path == "/v1/other" {
        assert_eq!(status, 404);
    }
    if content_type == "text/plain" && path != "/v1/other" {
        assert_eq!(status, 415);
    }
    // Keep the bounded buffer from filling, as flushes do.
    let _ = server.receiver.drain();
});
