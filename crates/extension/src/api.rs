//! A small client for the Extensions API (and the subscription calls of the Telemetry and Logs APIs),
//! written on hyper so that the lifecycle decides exactly when `next` is called: never cancelled, never
//! duplicated, and never before the flush that must precede it.
//!
//! One keep-alive connection carries every call, as Lambda's own clients do: `next` is called once per
//! invocation, and a new TCP connection (plus its connection task) for each one was most of the extension's
//! CPU time in a quiet invocation.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{client::conn::http1::SendRequest, header::HeaderValue, Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// What went wrong talking to Lambda.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No connection to the API.
    #[error("cannot reach the Lambda API at {addr}: {source}")]
    Connect {
        /// The API's address.
        addr: String,
        /// The connection error.
        source: std::io::Error,
    },
    /// The HTTP exchange failed.
    #[error("{call}: {source}")]
    Http {
        /// The API call, e.g. `register`.
        call: &'static str,
        /// The HTTP error.
        source: hyper::Error,
    },
    /// Lambda answered with an error status.
    #[error("{call}: Lambda answered {status}: {body}")]
    Status {
        /// The API call.
        call: &'static str,
        /// The status.
        status: StatusCode,
        /// The answer's body.
        body: String,
    },
    /// The answer did not have the expected shape.
    #[error("{call}: unexpected answer: {detail}")]
    Protocol {
        /// The API call.
        call: &'static str,
        /// What was wrong.
        detail: String,
    },
}

/// The register response.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Registration {
    /// The id to send with every later call.
    pub extension_id: String,
    /// The function's name.
    pub function_name: Option<String>,
    /// The function's version.
    pub function_version: Option<String>,
    /// The account id, when `accountId` was asked for.
    pub account_id: Option<String>,
}

/// An event from `event/next`.
#[derive(Debug, Clone, PartialEq)]
pub enum NextEvent {
    /// An invocation started.
    Invoke {
        /// The invocation's request id.
        request_id: String,
        /// When the invocation times out, in epoch milliseconds.
        deadline_ms: Option<u64>,
        /// The ARN the function was invoked with.
        invoked_function_arn: Option<String>,
        /// The X-Ray tracing header value, when tracing is active.
        tracing_value: Option<String>,
    },
    /// The sandbox is shutting down.
    Shutdown {
        /// Why (`spindown`, `timeout`, `failure`).
        reason: String,
        /// When the extension is killed, in epoch milliseconds.
        deadline_ms: Option<u64>,
    },
}

/// The Extensions API client of one extension.
#[derive(Debug, Clone)]
pub struct ExtensionsApi {
    addr: String,
    extension_id: Option<String>,
    /// The idle keep-alive connection, taken by a call while it runs (a concurrent call opens its own).
    idle: Arc<Mutex<Option<SendRequest<Full<Bytes>>>>>,
}

impl ExtensionsApi {
    /// `addr` is `AWS_LAMBDA_RUNTIME_API`: a host and port, no scheme.
    pub fn new(addr: impl Into<String>) -> Self {
        ExtensionsApi { addr: addr.into(), extension_id: None, idle: Arc::default() }
    }

    /// The id Lambda gave at registration, once registered.
    pub fn extension_id(&self) -> Option<&str> {
        self.extension_id.as_deref()
    }

    /// Registers for INVOKE and SHUTDOWN, asking for the account id; on Lambda Managed Instances for
    /// SHUTDOWN only, the one event that exists there (registering for INVOKE is refused).
    pub async fn register(&mut self, name: &str, managed_instances: bool) -> Result<Registration, ApiError> {
        const CALL: &str = "register";
        let body = register_body(managed_instances).to_vec();
        let (status, headers, body) = self
            .call(
                CALL,
                Method::POST,
                "/2020-01-01/extension/register",
                &[("Lambda-Extension-Name", name), ("Lambda-Extension-Accept-Feature", "accountId")],
                Some(body),
            )
            .await?;
        expect_status(CALL, status, &body, &[StatusCode::OK])?;
        let extension_id = headers
            .get("lambda-extension-identifier")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ApiError::Protocol { call: CALL, detail: "no Lambda-Extension-Identifier header".into() })?
            .to_string();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let field = |key: &str| json.get(key).and_then(|v| v.as_str()).map(str::to_string);
        self.extension_id = Some(extension_id.clone());
        Ok(Registration {
            extension_id,
            function_name: field("functionName"),
            function_version: field("functionVersion"),
            account_id: field("accountId"),
        })
    }

    /// Subscribes to the Telemetry or Logs API with the given path and JSON body.
    pub async fn subscribe(&self, path: &'static str, body: &serde_json::Value) -> Result<(), ApiError> {
        const CALL: &str = "subscribe";
        let bytes = serde_json::to_vec(body).expect("a JSON value serialises");
        let (status, _, body) =
            self.call(CALL, Method::PUT, path, &[("Content-Type", "application/json")], Some(bytes)).await?;
        // 202 is what Lambda answers "in local testing".
        expect_status(CALL, status, &body, &[StatusCode::OK, StatusCode::ACCEPTED])
    }

    /// Blocks until the next event. No client timeout: the sandbox may be frozen while this waits.
    pub async fn next(&self) -> Result<NextEvent, ApiError> {
        const CALL: &str = "event/next";
        let (status, _, body) = self.call(CALL, Method::GET, "/2020-01-01/extension/event/next", &[], None).await?;
        expect_status(CALL, status, &body, &[StatusCode::OK])?;
        parse_event(&body).map_err(|detail| ApiError::Protocol { call: CALL, detail })
    }

    /// Reports a failed init; Lambda then answers no further calls, and the extension should exit.
    pub async fn init_error(&self, error_type: &str, message: &str) -> Result<(), ApiError> {
        self.report_error("init/error", "/2020-01-01/extension/init/error", error_type, message).await
    }

    /// Reports a failure after init, before exiting.
    pub async fn exit_error(&self, error_type: &str, message: &str) -> Result<(), ApiError> {
        self.report_error("exit/error", "/2020-01-01/extension/exit/error", error_type, message).await
    }

    async fn report_error(
        &self,
        call: &'static str,
        path: &'static str,
        error_type: &str,
        message: &str,
    ) -> Result<(), ApiError> {
        let body = serde_json::json!({"errorMessage": message, "errorType": error_type, "stackTrace": []});
        let (status, _, body) = self
            .call(
                call,
                Method::POST,
                path,
                &[("Lambda-Extension-Function-Error-Type", error_type), ("Content-Type", "application/json")],
                Some(serde_json::to_vec(&body).expect("a JSON value serialises")),
            )
            .await?;
        expect_status(call, status, &body, &[StatusCode::ACCEPTED, StatusCode::OK])
    }

    async fn call(
        &self,
        call: &'static str,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, hyper::HeaderMap, Bytes), ApiError> {
        let mut request = Request::builder().method(method).uri(path).header("Host", self.addr.as_str());
        if let Some(id) = &self.extension_id {
            request = request.header("Lambda-Extension-Identifier", id.as_str());
        }
        for (name, value) in headers {
            let value = HeaderValue::from_str(value).map_err(|_| ApiError::Protocol {
                call,
                detail: format!("header {name} has characters HTTP forbids"),
            })?;
            request = request.header(*name, value);
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| ApiError::Protocol { call, detail: e.to_string() })?;
        let pooled = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        let mut sender = match pooled {
            Some(mut sender) => match sender.ready().await {
                Ok(()) => sender,
                // Lambda closed the idle connection.
                Err(_) => self.connect(call).await?,
            },
            None => self.connect(call).await?,
        };
        let response = match sender.try_send_request(request).await {
            Ok(response) => response,
            Err(mut e) => match e.take_message() {
                // The connection closed before the request was written: nothing reached Lambda, so the
                // request goes out on a new connection, once.
                Some(request) => {
                    sender = self.connect(call).await?;
                    sender.send_request(request).await.map_err(|source| ApiError::Http { call, source })?
                }
                None => return Err(ApiError::Http { call, source: e.into_error() }),
            },
        };
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.map_err(|source| ApiError::Http { call, source })?.to_bytes();
        // Only a connection whose answer was read whole can carry the next call.
        let mut idle = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if idle.is_none() {
            *idle = Some(sender);
        }
        Ok((status, headers, body))
    }

    /// A new connection to the API, its connection task spawned.
    async fn connect(&self, call: &'static str) -> Result<SendRequest<Full<Bytes>>, ApiError> {
        let stream = TcpStream::connect(&self.addr)
            .await
            .map_err(|source| ApiError::Connect { addr: self.addr.clone(), source })?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|source| ApiError::Http { call, source })?;
        tokio::spawn(connection);
        Ok(sender)
    }
}

/// The register request's body.
fn register_body(managed_instances: bool) -> &'static [u8] {
    if managed_instances {
        br#"{"events":["SHUTDOWN"]}"#
    } else {
        br#"{"events":["INVOKE","SHUTDOWN"]}"#
    }
}

fn expect_status(call: &'static str, status: StatusCode, body: &[u8], ok: &[StatusCode]) -> Result<(), ApiError> {
    if ok.contains(&status) {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned();
    Err(ApiError::Status { call, status, body: text })
}

/// Parses an INVOKE or SHUTDOWN event, tolerating missing optional fields and unknown shutdown reasons.
pub fn parse_event(body: &[u8]) -> Result<NextEvent, String> {
    let json: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("event is not JSON: {e}"))?;
    let text = |key: &str| json.get(key).and_then(|v| v.as_str()).map(str::to_string);
    // deadlineMs is an integer in practice; accept a float rather than lose the event.
    let deadline_ms = json.get("deadlineMs").and_then(|v| v.as_u64().or_else(|| v.as_f64().map(|f| f as u64)));
    match json.get("eventType").and_then(|v| v.as_str()) {
        Some(t) if t.eq_ignore_ascii_case("INVOKE") => Ok(NextEvent::Invoke {
            request_id: text("requestId").ok_or("INVOKE without requestId")?,
            deadline_ms,
            invoked_function_arn: text("invokedFunctionArn"),
            tracing_value: json.pointer("/tracing/value").and_then(|v| v.as_str()).map(str::to_string),
        }),
        Some(t) if t.eq_ignore_ascii_case("SHUTDOWN") => {
            Ok(NextEvent::Shutdown { reason: text("shutdownReason").unwrap_or_else(|| "unknown".into()), deadline_ms })
        }
        other => Err(format!("unknown eventType {other:?}")),
    }
}

/// Milliseconds left until an epoch-ms deadline (zero when it has passed).
pub fn until_epoch_ms(deadline_ms: u64) -> Duration {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis() as u64;
    Duration::from_millis(deadline_ms.saturating_sub(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invoke_event() {
        let body = br#"{"eventType":"INVOKE","deadlineMs":1700000003000,"requestId":"r-1","invokedFunctionArn":"arn:aws:lambda:eu-west-1:123456789012:function:f","tracing":{"type":"X-Amzn-Trace-Id","value":"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"}}"#;
        assert_eq!(
            parse_event(body).unwrap(),
            NextEvent::Invoke {
                request_id: "r-1".into(),
                deadline_ms: Some(1_700_000_003_000),
                invoked_function_arn: Some("arn:aws:lambda:eu-west-1:123456789012:function:f".into()),
                tracing_value: Some(
                    "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".into()
                ),
            }
        );
    }

    #[test]
    fn invoke_without_tracing_as_the_emulator_sends_it() {
        let event = parse_event(br#"{"eventType":"INVOKE","deadlineMs":5.0e3,"requestId":"r"}"#).unwrap();
        assert_eq!(
            event,
            NextEvent::Invoke {
                request_id: "r".into(),
                deadline_ms: Some(5000),
                invoked_function_arn: None,
                tracing_value: None
            }
        );
    }

    #[test]
    fn shutdown_reasons_in_any_case() {
        for reason in ["SPINDOWN", "spindown", "SandboxTerminated"] {
            let body = format!(r#"{{"eventType":"SHUTDOWN","shutdownReason":"{reason}","deadlineMs":42}}"#);
            assert_eq!(
                parse_event(body.as_bytes()).unwrap(),
                NextEvent::Shutdown { reason: reason.into(), deadline_ms: Some(42) }
            );
        }
    }

    #[test]
    fn malformed_events_are_errors_not_panics() {
        assert!(parse_event(b"not json").unwrap_err().starts_with("event is not JSON"));
        assert_eq!(parse_event(br#"{"eventType":"PAUSE"}"#).unwrap_err(), "unknown eventType Some(\"PAUSE\")");
        assert_eq!(parse_event(br#"{"eventType":"INVOKE"}"#).unwrap_err(), "INVOKE without requestId");
    }

    #[test]
    fn managed_instances_register_for_shutdown_only() {
        assert_eq!(register_body(true), br#"{"events":["SHUTDOWN"]}"#);
        assert_eq!(register_body(false), br#"{"events":["INVOKE","SHUTDOWN"]}"#);
    }

    /// A minimal HTTP/1.1 server answering every request with an INVOKE event: `close` adds
    /// `Connection: close` and closes after each answer, as a server without keep-alive does. Returns its
    /// address and the number of connections it accepted so far.
    async fn event_server(close: bool) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut served = 0;
                    let mut buffer = Vec::new();
                    let mut chunk = [0u8; 1024];
                    loop {
                        // Requests without a body (GET event/next): one ends at the blank line.
                        while let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                            buffer.drain(..end + 4);
                            served += 1;
                            let body = format!(r#"{{"eventType":"INVOKE","requestId":"r-{served}"}}"#);
                            let connection = if close { "Connection: close\r\n" } else { "" };
                            let answer =
                                format!("HTTP/1.1 200 OK\r\n{connection}Content-Length: {}\r\n\r\n{body}", body.len());
                            stream.write_all(answer.as_bytes()).await.unwrap();
                            if close {
                                return;
                            }
                        }
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                        }
                    }
                });
            }
        });
        (addr, accepted)
    }

    fn invoke(request_id: &str) -> NextEvent {
        NextEvent::Invoke {
            request_id: request_id.into(),
            deadline_ms: None,
            invoked_function_arn: None,
            tracing_value: None,
        }
    }

    #[tokio::test]
    async fn calls_share_one_keep_alive_connection() {
        let (addr, accepted) = event_server(false).await;
        let api = ExtensionsApi::new(addr);
        for n in 1..=3 {
            assert_eq!(api.next().await.unwrap(), invoke(&format!("r-{n}")));
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_closed_connection_is_replaced() {
        let (addr, accepted) = event_server(true).await;
        let api = ExtensionsApi::new(addr);
        // Each connection serves one request: its counter restarts at 1.
        for _ in 0..3 {
            assert_eq!(api.next().await.unwrap(), invoke("r-1"));
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn unreachable_api_is_a_connect_error() {
        let api = ExtensionsApi::new("127.0.0.1:9");
        assert!(matches!(api.next().await, Err(ApiError::Connect { .. })));
    }
}
