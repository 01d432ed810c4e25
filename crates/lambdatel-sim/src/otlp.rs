//! An embedded OTLP receiver (gRPC, and HTTP with protobuf or JSON bodies, gzip or not) on
//! loopback, with fault injection, used as the backend of end-to-end tests and by the CLI's
//! `--otlp` mode, plus a readable rendering of what arrived.

use crate::http::{body_bytes, response, Resp};
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{LogsService, LogsServiceServer};
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::logs::v1::ResourceLogs;
use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use std::io::Read;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tonic::codec::CompressionEncoding;

/// How the sink answers export requests. Applies to requests arriving after it is set.
#[derive(Debug, Clone, PartialEq)]
pub enum SinkBehaviour {
    /// Accept and store everything.
    Accept,
    /// Reject every request with this gRPC code (HTTP: the matching status) and store nothing.
    Fail(tonic::Code),
    /// Reject the next `n` requests with the code, then accept.
    FailNext(usize, tonic::Code),
    /// Wait, then accept.
    Delay(Duration),
    /// Accept, store, and answer with a partial success rejecting this many items.
    PartialSuccess(i64),
    /// Throttle every request: `RESOURCE_EXHAUSTED` with a `google.rpc.RetryInfo` of this delay (HTTP: 429
    /// with `Retry-After` in whole seconds, rounded up), and store nothing.
    Throttle(Duration),
}

/// How the sink's listeners treat connections.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkOptions {
    /// Also accept OTLP/HTTP on this address.
    pub http: Option<SocketAddr>,
    /// Set `TCP_NODELAY` on accepted connections, as the Collector (Go) and gRPC C-core servers
    /// do (the default). Off leaves Nagle's algorithm on: a small write that follows an
    /// unacknowledged one waits for the client's delayed ACK (up to ~40 ms on Linux), which
    /// penalises clients that send several requests at once on one connection.
    pub nodelay: bool,
}

impl Default for SinkOptions {
    fn default() -> Self {
        SinkOptions { http: None, nodelay: true }
    }
}

/// Everything the sink accepted, in arrival order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Received {
    /// Resource spans.
    pub spans: Vec<ResourceSpans>,
    /// When each entry of `spans` arrived (same index).
    pub span_arrivals: Vec<SystemTime>,
    /// Resource metrics.
    pub metrics: Vec<ResourceMetrics>,
    /// Resource logs.
    pub logs: Vec<ResourceLogs>,
}

impl Received {
    /// Number of spans.
    pub fn span_count(&self) -> usize {
        self.spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len()).sum()
    }

    /// Names of all spans in arrival order.
    pub fn span_names(&self) -> Vec<String> {
        self.spans.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans).map(|s| s.name.clone()).collect()
    }

    /// Names of all metrics in arrival order.
    pub fn metric_names(&self) -> Vec<String> {
        self.metrics.iter().flat_map(|r| &r.scope_metrics).flat_map(|s| &s.metrics).map(|m| m.name.clone()).collect()
    }

    /// Number of log records.
    pub fn log_count(&self) -> usize {
        self.logs.iter().flat_map(|r| &r.scope_logs).map(|s| s.log_records.len()).sum()
    }

    fn add_spans(&mut self, spans: Vec<ResourceSpans>) {
        let now = SystemTime::now();
        self.span_arrivals.extend(std::iter::repeat_n(now, spans.len()));
        self.spans.extend(spans);
    }

    /// Every span with its resource and arrival time.
    pub fn spans_with_arrival(&self) -> impl Iterator<Item = (&ResourceSpans, &Span, SystemTime)> {
        self.spans.iter().enumerate().flat_map(move |(i, r)| {
            let at = self.span_arrivals.get(i).copied().unwrap_or(UNIX_EPOCH);
            r.scope_spans.iter().flat_map(|s| &s.spans).map(move |span| (r, span, at))
        })
    }

    /// True when nothing arrived.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty() && self.metrics.is_empty() && self.logs.is_empty()
    }
}

struct Inner {
    behaviour: Mutex<SinkBehaviour>,
    received: Mutex<Received>,
    requests: AtomicUsize,
    request_bytes: AtomicU64,
    connections: AtomicUsize,
    connections_nodelay: AtomicUsize,
    changed: watch::Sender<u64>,
}

impl Inner {
    /// Applies the socket options to an accepted connection and counts it; the option is read
    /// back from the socket so that the count reflects what the kernel actually uses.
    fn accepted(&self, stream: &TcpStream, nodelay: bool) {
        let _ = stream.set_nodelay(nodelay);
        self.connections.fetch_add(1, Ordering::SeqCst);
        if stream.nodelay().unwrap_or(false) {
            self.connections_nodelay.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Counts the protobuf size of an export request (uncompressed, whatever the transport).
    fn count_bytes(&self, request: &impl Message) {
        self.request_bytes.fetch_add(request.encoded_len() as u64, Ordering::SeqCst);
    }

    /// Applies the behaviour to one request: Ok(rejected items for partial success) or a status.
    async fn admit(&self) -> Result<i64, tonic::Status> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        self.changed.send_modify(|v| *v += 1);
        let b = {
            let mut b = self.behaviour.lock().unwrap();
            let current = b.clone();
            if let SinkBehaviour::FailNext(n, code) = current {
                *b = if n <= 1 { SinkBehaviour::Accept } else { SinkBehaviour::FailNext(n - 1, code) };
            }
            current
        };
        match b {
            SinkBehaviour::Accept => Ok(0),
            SinkBehaviour::Fail(code) | SinkBehaviour::FailNext(_, code) => {
                Err(tonic::Status::new(code, "rejected by the test sink"))
            }
            SinkBehaviour::Delay(d) => {
                tokio::time::sleep(d).await;
                Ok(0)
            }
            SinkBehaviour::PartialSuccess(n) => Ok(n),
            SinkBehaviour::Throttle(delay) => {
                use tonic_types::{ErrorDetails, StatusExt};
                Err(tonic::Status::with_error_details(
                    tonic::Code::ResourceExhausted,
                    "throttled by the test sink",
                    ErrorDetails::with_retry_info(Some(delay)),
                ))
            }
        }
    }

    fn store(&self, f: impl FnOnce(&mut Received)) {
        f(&mut self.received.lock().unwrap());
        self.changed.send_modify(|v| *v += 1);
    }
}

#[derive(Clone)]
struct Svc(Arc<Inner>);

#[tonic::async_trait]
impl TraceService for Svc {
    async fn export(
        &self,
        req: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.count_bytes(req.get_ref());
        let rejected = self.0.admit().await?;
        self.0.store(|r| r.add_spans(req.into_inner().resource_spans));
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: (rejected > 0).then(|| ExportTracePartialSuccess {
                rejected_spans: rejected,
                error_message: "partially rejected by the test sink".into(),
            }),
        }))
    }
}

#[tonic::async_trait]
impl MetricsService for Svc {
    async fn export(
        &self,
        req: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsPartialSuccess;
        self.0.count_bytes(req.get_ref());
        let rejected = self.0.admit().await?;
        self.0.store(|r| r.metrics.extend(req.into_inner().resource_metrics));
        Ok(tonic::Response::new(ExportMetricsServiceResponse {
            partial_success: (rejected > 0).then(|| ExportMetricsPartialSuccess {
                rejected_data_points: rejected,
                error_message: "partially rejected by the test sink".into(),
            }),
        }))
    }
}

#[tonic::async_trait]
impl LogsService for Svc {
    async fn export(
        &self,
        req: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsPartialSuccess;
        self.0.count_bytes(req.get_ref());
        let rejected = self.0.admit().await?;
        self.0.store(|r| r.logs.extend(req.into_inner().resource_logs));
        Ok(tonic::Response::new(ExportLogsServiceResponse {
            partial_success: (rejected > 0).then(|| ExportLogsPartialSuccess {
                rejected_log_records: rejected,
                error_message: "partially rejected by the test sink".into(),
            }),
        }))
    }
}

/// The embedded OTLP receiver.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use lambdatel_sim::otlp::{OtlpSink, SinkBehaviour};
/// use std::time::Duration;
/// let sink = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await?;
/// // Point the extension at sink.grpc_endpoint(), invoke, then:
/// sink.set_behaviour(SinkBehaviour::Fail(tonic::Code::Unavailable));
/// let arrived = sink.wait_for(|r| r.span_count() >= 1, Duration::from_secs(5)).await;
/// sink.stop().await; // "backend down"; OtlpSink::start on the same address brings it back
/// # Ok(()) }
/// ```
pub struct OtlpSink {
    inner: Arc<Inner>,
    grpc_addr: SocketAddr,
    http_addr: Option<SocketAddr>,
    grpc_stop: Option<oneshot::Sender<()>>,
    grpc_task: JoinHandle<()>,
    http_task: Option<JoinHandle<()>>,
}

impl OtlpSink {
    /// Starts the gRPC receiver on `addr` (port 0 picks a free port).
    pub async fn start(addr: SocketAddr) -> std::io::Result<OtlpSink> {
        Self::start_with_http(addr, None).await
    }

    /// Starts the gRPC receiver on `grpc`, and OTLP/HTTP on `http` when given.
    pub async fn start_with_http(grpc: SocketAddr, http: Option<SocketAddr>) -> std::io::Result<OtlpSink> {
        Self::start_with(grpc, SinkOptions { http, ..SinkOptions::default() }).await
    }

    /// Starts the gRPC receiver on `grpc` with these options.
    pub async fn start_with(grpc: SocketAddr, options: SinkOptions) -> std::io::Result<OtlpSink> {
        let inner = Arc::new(Inner {
            behaviour: Mutex::new(SinkBehaviour::Accept),
            received: Mutex::new(Received::default()),
            requests: AtomicUsize::new(0),
            request_bytes: AtomicU64::new(0),
            connections: AtomicUsize::new(0),
            connections_nodelay: AtomicUsize::new(0),
            changed: watch::channel(0).0,
        });
        let nodelay = options.nodelay;
        let listener = tokio::net::TcpListener::bind(grpc).await?;
        let grpc_addr = listener.local_addr()?;
        let svc = Svc(inner.clone());
        let accept_inner = inner.clone();
        let (tx, rx) = oneshot::channel::<()>();
        // Generous limits: a Lambda extension may send large batches at shutdown.
        let limit = 64 * 1024 * 1024;
        let grpc_task = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(
                    TraceServiceServer::new(svc.clone())
                        .accept_compressed(CompressionEncoding::Gzip)
                        .max_decoding_message_size(limit),
                )
                .add_service(
                    MetricsServiceServer::new(svc.clone())
                        .accept_compressed(CompressionEncoding::Gzip)
                        .max_decoding_message_size(limit),
                )
                .add_service(
                    LogsServiceServer::new(svc)
                        .accept_compressed(CompressionEncoding::Gzip)
                        .max_decoding_message_size(limit),
                )
                .serve_with_incoming_shutdown(Accepting { listener, inner: accept_inner, nodelay }, async {
                    let _ = rx.await;
                })
                .await;
        });
        let (http_addr, http_task) = match options.http {
            Some(addr) => {
                let l = tokio::net::TcpListener::bind(addr).await?;
                let a = l.local_addr()?;
                let (i, counter) = (inner.clone(), inner.clone());
                let on_accept = move |stream: &TcpStream| counter.accepted(stream, nodelay);
                (Some(a), Some(crate::http::serve_with(l, on_accept, move |req| handle_http(i.clone(), req))))
            }
            None => (None, None),
        };
        Ok(OtlpSink { inner, grpc_addr, http_addr, grpc_stop: Some(tx), grpc_task, http_task })
    }

    /// `http://127.0.0.1:PORT` of the gRPC receiver.
    pub fn grpc_endpoint(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    /// `http://127.0.0.1:PORT` of the HTTP receiver (paths `/v1/traces`, `/v1/metrics`, `/v1/logs`).
    pub fn http_endpoint(&self) -> Option<String> {
        self.http_addr.map(|a| format!("http://{a}"))
    }

    /// The gRPC listening address.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// Sets how subsequent requests are answered.
    pub fn set_behaviour(&self, b: SinkBehaviour) {
        *self.inner.behaviour.lock().unwrap() = b;
    }

    /// A copy of everything accepted so far.
    pub fn received(&self) -> Received {
        self.inner.received.lock().unwrap().clone()
    }

    /// Forgets what was received (the request count is kept).
    pub fn clear(&self) {
        *self.inner.received.lock().unwrap() = Received::default();
    }

    /// Export requests seen, rejected ones included.
    pub fn request_count(&self) -> usize {
        self.inner.requests.load(Ordering::SeqCst)
    }

    /// Connections accepted (gRPC and HTTP): with a client that reuses its connection, one per
    /// client lifetime plus reconnects.
    pub fn connections_accepted(&self) -> usize {
        self.inner.connections.load(Ordering::SeqCst)
    }

    /// Of those, connections whose socket has `TCP_NODELAY` set (read back from the socket).
    pub fn connections_with_nodelay(&self) -> usize {
        self.inner.connections_nodelay.load(Ordering::SeqCst)
    }

    /// Protobuf bytes of the export requests seen (uncompressed size, rejected ones included).
    pub fn request_bytes(&self) -> u64 {
        self.inner.request_bytes.load(Ordering::SeqCst)
    }

    /// Waits until `pred` holds on what was received, up to `timeout`. Returns whether it held.
    pub async fn wait_for(&self, pred: impl Fn(&Received) -> bool, timeout: Duration) -> bool {
        let mut rx = self.inner.changed.subscribe();
        let fut = async {
            loop {
                if pred(&self.inner.received.lock().unwrap()) {
                    return;
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(timeout, fut).await;
        let held = pred(&self.inner.received.lock().unwrap());
        held
    }

    /// Stops listening and closes open connections (a backend outage). A new
    /// [`OtlpSink::start`] on the same address brings a receiver back.
    pub async fn stop(mut self) {
        if let Some(tx) = self.grpc_stop.take() {
            let _ = tx.send(());
        }
        // Graceful shutdown waits for clients to hang up; a client holding its connection open
        // must not keep the "outage" from starting, so cut it short.
        let _ = tokio::time::timeout(Duration::from_millis(500), &mut self.grpc_task).await;
        self.grpc_task.abort();
        if let Some(t) = self.http_task.take() {
            t.abort();
        }
    }
}

impl Drop for OtlpSink {
    fn drop(&mut self) {
        self.grpc_task.abort();
        if let Some(t) = &self.http_task {
            t.abort();
        }
    }
}

/// The gRPC listener's stream of accepted connections, each set up by [`Inner::accepted`].
struct Accepting {
    listener: tokio::net::TcpListener,
    inner: Arc<Inner>,
    nodelay: bool,
}

impl tokio_stream::Stream for Accepting {
    type Item = std::io::Result<TcpStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.listener.poll_accept(cx) {
            Poll::Ready(Ok((stream, _))) => {
                self.inner.accepted(&stream, self.nodelay);
                Poll::Ready(Some(Ok(stream)))
            }
            // tonic logs an accept error and keeps serving.
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Pending => Poll::Pending,
        }
    }
}

fn http_status(code: tonic::Code) -> StatusCode {
    use tonic::Code::*;
    match code {
        InvalidArgument | FailedPrecondition | OutOfRange => StatusCode::BAD_REQUEST,
        Unauthenticated => StatusCode::UNAUTHORIZED,
        PermissionDenied => StatusCode::FORBIDDEN,
        NotFound => StatusCode::NOT_FOUND,
        ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The whole seconds (rounded up) of a status's `RetryInfo`, for an HTTP `Retry-After` header.
fn retry_after_seconds(status: &tonic::Status) -> Option<u64> {
    use tonic_types::StatusExt;
    let delay = status.get_details_retry_info()?.retry_delay?;
    Some(delay.as_millis().div_ceil(1000) as u64)
}

/// Decodes an OTLP/HTTP body: protobuf or JSON, optionally gzip-compressed.
fn decode<T: Message + Default + serde_like::MaybeJson>(body: &[u8], json: bool, gzip: bool) -> Result<T, String> {
    let raw: std::borrow::Cow<[u8]> = if gzip {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(body).read_to_end(&mut out).map_err(|e| format!("bad gzip body: {e}"))?;
        out.into()
    } else {
        body.into()
    };
    if json {
        T::from_json(&raw)
    } else {
        T::decode(raw.as_ref()).map_err(|e| format!("bad protobuf body: {e}"))
    }
}

/// JSON decoding of the request types, available with the `otlp-http-json` feature.
mod serde_like {
    pub trait MaybeJson: Sized {
        fn from_json(body: &[u8]) -> Result<Self, String>;
    }
    #[cfg(feature = "otlp-http-json")]
    impl<T: serde::de::DeserializeOwned> MaybeJson for T {
        fn from_json(body: &[u8]) -> Result<Self, String> {
            serde_json::from_slice(body).map_err(|e| format!("bad JSON body: {e}"))
        }
    }
    #[cfg(not(feature = "otlp-http-json"))]
    impl<T> MaybeJson for T {
        fn from_json(_: &[u8]) -> Result<Self, String> {
            Err("JSON bodies need the otlp-http-json feature".into())
        }
    }
}

async fn handle_http(inner: Arc<Inner>, req: Request<Incoming>) -> Resp {
    let path = req.uri().path().to_string();
    let header = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    let json = header("content-type").starts_with("application/json");
    let gzip = header("content-encoding") == "gzip";
    let body = body_bytes(req.into_body()).await;
    let content_type = if json { "application/json" } else { "application/x-protobuf" };
    let ok = |bytes: Vec<u8>| {
        let body: Bytes = if json { Bytes::from_static(b"{}") } else { bytes.into() };
        response(StatusCode::OK, &[("Content-Type", content_type.into())], body)
    };
    let bad = |msg: String| response(StatusCode::BAD_REQUEST, &[], msg);
    if !matches!(path.as_str(), "/v1/traces" | "/v1/metrics" | "/v1/logs") {
        return response(StatusCode::NOT_FOUND, &[], "unknown OTLP path");
    }
    if let Err(status) = inner.admit().await {
        let retry_after = retry_after_seconds(&status).map(|s| ("Retry-After", s.to_string()));
        return response(http_status(status.code()), retry_after.as_slice(), status.message().to_string());
    }
    match path.as_str() {
        "/v1/traces" => match decode::<ExportTraceServiceRequest>(&body, json, gzip) {
            Ok(r) => {
                inner.count_bytes(&r);
                inner.store(|rec| rec.add_spans(r.resource_spans));
                ok(ExportTraceServiceResponse::default().encode_to_vec())
            }
            Err(e) => bad(e),
        },
        "/v1/metrics" => match decode::<ExportMetricsServiceRequest>(&body, json, gzip) {
            Ok(r) => {
                inner.count_bytes(&r);
                inner.store(|rec| rec.metrics.extend(r.resource_metrics));
                ok(ExportMetricsServiceResponse::default().encode_to_vec())
            }
            Err(e) => bad(e),
        },
        _ => match decode::<ExportLogsServiceRequest>(&body, json, gzip) {
            Ok(r) => {
                inner.count_bytes(&r);
                inner.store(|rec| rec.logs.extend(r.resource_logs));
                ok(ExportLogsServiceResponse::default().encode_to_vec())
            }
            Err(e) => bad(e),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_the_retry_info_delay_rounded_up_to_seconds() {
        let throttled = |delay| {
            <tonic::Status as tonic_types::StatusExt>::with_error_details(
                tonic::Code::ResourceExhausted,
                "slow down",
                tonic_types::ErrorDetails::with_retry_info(Some(delay)),
            )
        };
        assert_eq!(retry_after_seconds(&throttled(Duration::from_millis(1500))), Some(2));
        assert_eq!(retry_after_seconds(&throttled(Duration::from_secs(3))), Some(3));
        assert_eq!(retry_after_seconds(&tonic::Status::unavailable("down")), None);
    }
}
