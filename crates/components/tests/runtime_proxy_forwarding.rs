//! The Runtime API proxy end to end between a raw runtime client and a fake Runtime API: what each side sends
//! and receives must be the same bytes with and without the proxy, streams must flow unbuffered, and each
//! invocation's trigger must land in the store.

mod runtime_proxy_support;

mod runtime_proxy {
    use std::time::Duration;

    use super::runtime_proxy_support::*;
    use lambdatel_components::runtime_proxy::{
        FaasTrigger, ProxyConfig, ProxyError, RuntimeProxy, PROBE_HEADER, PROBE_PATH,
    };

    fn next_request(event: &str, extra: &str) -> Vec<u8> {
        format!(
            "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: 127.0.0.1:9001\r\nUser-Agent: aws-lambda-rie/1\r\nTest-Event: {event}\r\n{extra}\r\n"
        )
        .into_bytes()
    }

    fn response_request(request_id: &str, body: &[u8]) -> Vec<u8> {
        let mut request = format!(
            "POST /2018-06-01/runtime/invocation/{request_id}/response HTTP/1.1\r\nHost: 127.0.0.1:9001\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        request
    }

    /// Sends `request` straight to the fake and through the proxy: both must reach the fake as the same bytes,
    /// and both answers must reach the runtime as the same bytes.
    fn assert_forwarded_unchanged(fake: &FakeRuntimeApi, proxy: &RunningProxy, request: &[u8]) {
        let direct = RawClient::connect(fake.address).unwrap().round_trip(request);
        let direct_received = fake.last_received();
        let proxied = RawClient::connect(proxy.address).unwrap().round_trip(request);
        let proxied_received = fake.last_received();
        assert_eq!(String::from_utf8_lossy(&proxied_received.wire), String::from_utf8_lossy(&direct_received.wire));
        assert_eq!(proxied_received.wire, request);
        assert_eq!(String::from_utf8_lossy(&proxied.wire), String::from_utf8_lossy(&direct.wire));
    }

    #[test]
    fn a_normal_invocation_passes_byte_for_byte_and_yields_its_trigger() {
        let fake = FakeRuntimeApi::start();
        let proxy = RunningProxy::start(config_with_file(None), fake.address);

        assert_forwarded_unchanged(&fake, &proxy, &next_request("lambda-urls-request.json", ""));
        let response = fixture("lambda-urls-response.json");
        assert_forwarded_unchanged(&fake, &proxy, &response_request("req-lambda-urls-request.json", &response));
        // An error report and an unknown path are forwarded the same way, with the Runtime API's answer.
        let error = b"POST /2018-06-01/runtime/invocation/req-x/error HTTP/1.1\r\nHost: 127.0.0.1:9001\r\nLambda-Runtime-Function-Error-Type: Unhandled\r\nContent-Length: 2\r\n\r\n{}";
        assert_forwarded_unchanged(&fake, &proxy, error);
        assert_forwarded_unchanged(&fake, &proxy, b"GET /2018-06-01/nowhere?x=1 HTTP/1.1\r\nHost: h\r\n\r\n");

        let info = proxy.triggers.take("req-lambda-urls-request.json").expect("no trigger for the invocation");
        assert_eq!(info.trigger, FaasTrigger::Http);
        let status = info.attribute("http.response.status_code").and_then(|v| v.value.clone());
        assert_eq!(status, Some(opentelemetry_proto::tonic::common::v1::any_value::Value::IntValue(201)));
        assert!(proxy.triggers.is_empty());
    }

    #[test]
    fn a_streamed_response_passes_unbuffered_with_its_trailers() {
        let fake = FakeRuntimeApi::start();
        let proxy = RunningProxy::start(config_with_file(None), fake.address);
        let mut runtime = RawClient::connect(proxy.address).unwrap();
        runtime.round_trip(&next_request("lambda-urls-request.json", ""));

        let head = "POST /2018-06-01/runtime/invocation/req-lambda-urls-request.json/response HTTP/1.1\r\n\
                    Host: 127.0.0.1:9001\r\n\
                    Lambda-Runtime-Function-Response-Mode: streaming\r\n\
                    Content-Type: application/vnd.awslambda.http-integration-response\r\n\
                    Transfer-Encoding: chunked\r\n\
                    Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n\r\n";
        let mut prelude = br#"{"statusCode":206,"headers":{"Content-Type":"text/plain"}}"#.to_vec();
        prelude.extend_from_slice(&[0; 8]);
        let parts: [&[u8]; 3] = [&prelude, b"first part of the stream, ", b"\x00\xff binary tail"];
        runtime.send(head.as_bytes());
        for part in parts {
            runtime.send(format!("{:x}\r\n", part.len()).as_bytes());
            runtime.send(part);
            runtime.send(b"\r\n");
            // Each chunk must reach the Runtime API before the runtime writes the next one: no buffering.
            let seen = fake.chunks.recv_timeout(Duration::from_secs(5)).expect("a chunk was held back by the proxy");
            assert_eq!(seen, part.len());
        }
        let trailers = "Lambda-Runtime-Function-Error-Type: Runtime.StreamError\r\n\
                        Lambda-Runtime-Function-Error-Body: eyJlcnJvck1lc3NhZ2UiOiJib29tIn0=\r\n";
        runtime.send(format!("0\r\n{trailers}\r\n").as_bytes());
        let answer = runtime.read_response().unwrap();
        assert!(answer.head.starts_with("HTTP/1.1 202 Accepted\r\n"), "{}", answer.head);

        let received = fake.last_received();
        assert_eq!(received.head, head);
        assert_eq!(received.body, parts.concat());
        assert_eq!(
            received.trailer_fields(),
            [
                ("lambda-runtime-function-error-type".to_string(), "Runtime.StreamError".to_string()),
                ("lambda-runtime-function-error-body".to_string(), "eyJlcnJvck1lc3NhZ2UiOiJib29tIn0=".to_string()),
            ]
        );
        let info = proxy.triggers.take("req-lambda-urls-request.json").unwrap();
        let status = info.attribute("http.response.status_code").and_then(|v| v.value.clone());
        assert_eq!(status, Some(opentelemetry_proto::tonic::common::v1::any_value::Value::IntValue(206)));
    }

    #[test]
    fn an_event_reaches_the_runtime_while_the_runtime_api_is_still_sending_it() {
        let fake = FakeRuntimeApi::start();
        let proxy = RunningProxy::start(config_with_file(None), fake.address);
        let mut runtime = RawClient::connect(proxy.address).unwrap();
        runtime.send(&next_request("sqs-event.json", "Test-Pause: 1\r\n"));
        let event = fixture("sqs-event.json");
        // The head, then the first half of the event, arrive before the fake sends the rest.
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.extend(runtime.read_exact(1));
        }
        let first_half = runtime.read_exact(event.len() / 2);
        assert_eq!(first_half, event[..event.len() / 2]);
        assert!(proxy.triggers.is_empty(), "the trigger was read before the event was whole");
        fake.resume.send(()).unwrap();
        assert_eq!(runtime.read_exact(event.len() - event.len() / 2), event[event.len() / 2..]);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while proxy.triggers.is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(proxy.triggers.take("req-sqs-event.json").map(|i| i.trigger), Some(FaasTrigger::Pubsub));
    }

    #[test]
    fn the_probe_is_answered_by_the_proxy_itself() {
        let fake = FakeRuntimeApi::start();
        let proxy = RunningProxy::start(config_with_file(None), fake.address);
        let answer = RawClient::connect(proxy.address)
            .unwrap()
            .round_trip(format!("GET {PROBE_PATH} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        assert!(answer.head.starts_with("HTTP/1.1 200 OK\r\n"), "{}", answer.head);
        assert_eq!(answer.header(PROBE_HEADER), Some("1"));
        assert!(fake.received.lock().unwrap().is_empty());
    }

    #[test]
    fn a_runtime_api_connection_closed_between_calls_is_replaced() {
        let fake = FakeRuntimeApi::start();
        let proxy = RunningProxy::start(config_with_file(None), fake.address);
        let mut runtime = RawClient::connect(proxy.address).unwrap();
        let first = runtime.round_trip(&next_request("sqs-event.json", ""));
        assert!(first.head.starts_with("HTTP/1.1 200 OK\r\n"), "{}", first.head);
        // The fake answers this one, then closes the proxy's connection to it.
        let closing = b"POST /2018-06-01/runtime/invocation/req-sqs-event.json/response HTTP/1.1\r\nHost: 127.0.0.1:9001\r\nTest-Close: 1\r\nContent-Length: 2\r\n\r\n{}";
        let answered = runtime.round_trip(closing);
        assert!(answered.head.starts_with("HTTP/1.1 202 Accepted\r\n"), "{}", answered.head);
        // Time for the proxy to see the close (it would otherwise send on the dying connection and get a 502).
        std::thread::sleep(Duration::from_millis(200));
        let again = runtime.round_trip(&next_request("apigw-request.json", ""));
        assert!(again.head.starts_with("HTTP/1.1 200 OK\r\n"), "{}", again.head);
        assert_eq!(fake.received.lock().unwrap().len(), 3);
        assert_eq!(proxy.stats.upstream_errors.load(std::sync::atomic::Ordering::Relaxed), 0);
    }

    #[test]
    fn an_unreachable_runtime_api_is_a_502_and_counted() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let proxy = RunningProxy::start(config_with_file(None), closed);
        let answer = RawClient::connect(proxy.address).unwrap().round_trip(&next_request("sqs-event.json", ""));
        assert!(answer.head.starts_with("HTTP/1.1 502 Bad Gateway\r\n"), "{}", answer.head);
        let body = String::from_utf8(answer.body).unwrap();
        assert!(body.starts_with("no connection to the Runtime API: Connection refused"), "{body}");
        assert_eq!(proxy.stats.upstream_errors.load(std::sync::atomic::Ordering::Relaxed), 1);
    }

    #[test]
    fn an_event_over_the_limit_is_forwarded_but_not_read() {
        let fake = FakeRuntimeApi::start();
        let config = ProxyConfig { max_event_bytes: 100, ..config_with_file(None) };
        let proxy = RunningProxy::start(config, fake.address);
        let answer = RawClient::connect(proxy.address).unwrap().round_trip(&next_request("sqs-event.json", ""));
        assert_eq!(answer.body, fixture("sqs-event.json"));
        std::thread::sleep(Duration::from_millis(50));
        assert!(proxy.triggers.is_empty());
        assert_eq!(proxy.stats.events_too_large.load(std::sync::atomic::Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn bind_publishes_its_address_and_rejects_bad_settings() {
        let dir = temp_dir("bind");
        let bound = RuntimeProxy::bind(config_with_file(Some(&dir))).await.unwrap();
        let written = std::fs::read_to_string(dir.join("runtime-proxy")).unwrap();
        assert_eq!(written, format!("{}\n", bound.local_addr()));
        assert!(bound.local_addr().ip().is_loopback() && bound.local_addr().port() != 0);

        let outside = ProxyConfig { listen: "0.0.0.0:0".parse().unwrap(), ..config_with_file(None) };
        let err = RuntimeProxy::bind(outside).await.err().unwrap();
        assert!(matches!(err, ProxyError::NotLoopback(_)), "{err}");

        let unwritable = ProxyConfig { address_file: Some(dir.join("missing/dir/file")), ..ProxyConfig::default() };
        let err = RuntimeProxy::bind(unwritable).await.err().unwrap();
        assert!(err.to_string().starts_with("cannot write the Runtime API proxy's address to "), "{err}");

        for upstream in ["http://127.0.0.1:9001", "127.0.0.1", "", "127.0.0.1:9001/x"] {
            let bound = RuntimeProxy::bind(config_with_file(None)).await.unwrap();
            let err = bound.serve(upstream).await.err().unwrap();
            assert_eq!(err.to_string(), format!("the Runtime API address '{upstream}' is not a host:port"));
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
