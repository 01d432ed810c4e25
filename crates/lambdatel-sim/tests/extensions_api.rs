//! The Extensions API answered to a hand-driven client: name check, identifiers, error codes.

mod common;

use hyper::Method;
use lambdatel_sim::http::request;
use lambdatel_sim::*;
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;

async fn call(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, hyper::HeaderMap, Value) {
    let (status, h, b) =
        request(method, addr, path, headers, body.as_bytes().to_vec(), Duration::from_secs(10)).await.unwrap();
    (status, h, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

#[tokio::test]
async fn registration_rules_and_error_codes() {
    // The launched process never registers; the test registers under its file name instead.
    let ext = common::extension("hand-driven");
    let port = lambdatel_sim::ports::free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let cfg = SimConfig {
        extensions: vec![ext],
        env: vec![("SIM_EXT_MODE".into(), "never_register".into())],
        runtime_api_port: port,
        freeze: false,
        shutdown_budget: Duration::from_millis(300),
        ..SimConfig::default()
    };
    let sim = tokio::spawn(Simulator::start(cfg));
    // Wait for the API to come up.
    let mut up = false;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(up);
    let reg = "/2020-01-01/extension/register";
    let events = r#"{"events":["INVOKE","SHUTDOWN"]}"#;
    let (s, _, b) = call(addr, Method::POST, reg, &[], events).await;
    assert_eq!(s, 400, "{b}");
    let (s, _, b) = call(addr, Method::POST, reg, &[("Lambda-Extension-Name", "wrong-name")], events).await;
    assert_eq!((s, b["errorType"].as_str()), (403, Some("Extension.InvalidExtensionName")));
    let (s, _, b) =
        call(addr, Method::POST, reg, &[("Lambda-Extension-Name", "hand-driven")], r#"{"events":["BOGUS"]}"#).await;
    assert_eq!(s, 400, "{b}");
    let (s, h, b) = call(
        addr,
        Method::POST,
        reg,
        &[("Lambda-Extension-Name", "hand-driven"), ("Lambda-Extension-Accept-Feature", "accountId")],
        events,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        b,
        serde_json::json!({"functionName":"lambdatel-sim-function","functionVersion":"$LATEST",
                           "handler":"index.handler","accountId":"123456789012"})
    );
    let id = h.get("Lambda-Extension-Identifier").unwrap().to_str().unwrap().to_string();
    let (s, _, _) = call(addr, Method::POST, reg, &[("Lambda-Extension-Name", "hand-driven")], events).await;
    assert_eq!(s, 403, "a second registration under the same name");

    let next = "/2020-01-01/extension/event/next";
    let (s, _, _) = call(addr, Method::GET, next, &[], "").await;
    assert_eq!(s, 403);
    let (s, _, _) = call(addr, Method::GET, next, &[("Lambda-Extension-Identifier", "nope")], "").await;
    assert_eq!(s, 403);
    let (s, _, _) =
        call(addr, Method::POST, "/2020-01-01/extension/init/error", &[("Lambda-Extension-Identifier", &id)], "").await;
    assert_eq!(s, 400, "Lambda-Extension-Function-Error-Type is required");
    let (s, _, b) = call(
        addr,
        Method::PUT,
        "/2022-07-01/telemetry",
        &[("Lambda-Extension-Identifier", &id)],
        r#"{"schemaVersion":"2022-12-13","types":["platform"],"buffering":{"maxItems":10001},
            "destination":{"protocol":"HTTP","URI":"http://sandbox.localdomain:4243/"}}"#,
    )
    .await;
    assert_eq!((s, b["errorType"].as_str()), (400, Some("ValidationError")));
    assert!(b["errorMessage"].as_str().unwrap().contains("maxItems"));

    // The first next completes Init and receives INVOKE; the second ends the invoke phase and
    // receives SHUTDOWN.
    let id2 = id.clone();
    let poller = tokio::spawn(async move {
        let mut got = Vec::new();
        for _ in 0..2 {
            let (s, _, b) = call(addr, Method::GET, next, &[("Lambda-Extension-Identifier", &id2)], "").await;
            assert_eq!(s, 200);
            got.push(b);
        }
        got
    });
    let mut sim = sim.await.unwrap().unwrap();
    assert_eq!(sim.last_init().unwrap().status, "success");
    let out = sim.invoke(Invocation::default()).await.unwrap();
    assert_eq!(out.status, "success");
    let (s, _, _) = call(addr, Method::POST, reg, &[("Lambda-Extension-Name", "hand-driven")], events).await;
    assert_eq!(s, 403, "registration outside Init");
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    let got = poller.await.unwrap();
    assert_eq!(got[0]["eventType"], "INVOKE");
    assert_eq!(got[0]["requestId"], out.request_id.as_str());
    assert_eq!(got[1]["eventType"], "SHUTDOWN");
    assert_eq!(got[1]["shutdownReason"], "SPINDOWN");
    assert!(got[1]["deadlineMs"].as_u64().unwrap() > 0);
    // The sleeping process never exits by itself: killed at the deadline.
    assert!(report.extensions[0].killed);
}

#[tokio::test]
async fn runtime_api_rejects_unknown_requests() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let addr: SocketAddr = sim.runtime_api().parse().unwrap();
    let (s, _, b) = call(addr, Method::POST, "/2018-06-01/runtime/invocation/bogus/response", &[], "{}").await;
    assert_eq!((s, b["errorType"].as_str()), (400, Some("InvalidRequestID")));
    let (s, _, _) = call(addr, Method::POST, "/2018-06-01/runtime/init/error", &[], "{}").await;
    assert_eq!(s, 403, "init/error outside Init");
    let (s, _, _) = call(addr, Method::GET, "/2018-06-01/runtime/nothing", &[], "").await;
    assert_eq!(s, 404);
    let (s, _, b) = call(addr, Method::PUT, "/2022-07-01/telemetry", &[], "{}").await;
    assert_eq!((s, b["errorType"].as_str()), (403, Some("Extension.MissingExtensionIdentifier")));
    sim.shutdown(ShutdownReason::Spindown).await.unwrap();
}
