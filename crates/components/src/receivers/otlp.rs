//! The `otlp` receiver: OTLP over gRPC and over HTTP (protobuf or JSON bodies, gzip or not) for the function's
//! own OpenTelemetry SDK, on loopback by default.
//!
//! What arrives is buffered, each request with its own resource, until the lifecycle drains it into the
//! pipelines. Requests in flight are counted so a flush at the end of an invocation can wait for what the
//! function is still sending ([`OtlpReceiver::wait_idle`]). The buffer is bounded: past the bound, items are
//! dropped, counted and reported to the sender as a partial success (never as a retryable error, which
//! would make the SDK retry inside the function's time).
//!
//! gRPC is served by tonic's generated services on a plain hyper HTTP/2 connection (no tonic router), which
//! keeps the in-flight count exact and the binary small.

use std::{
    convert::Infallible,
    io::Read,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use bytes::{BufMut, Bytes};
use http_body_util::{BodyExt, Full, Limited};
use hyper::{
    body::Incoming,
    header::{HeaderValue, ALLOW, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE},
    server::conn::{http1, http2},
    service::service_fn,
    Method, Request, Response, StatusCode,
};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use lambdatel_pipeline::{Signal, Signals};
use opentelemetry_proto::tonic::collector::{
    logs::v1::{
        logs_service_server::{LogsService, LogsServiceServer},
        ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
    },
    metrics::v1::{
        metrics_service_server::{MetricsService, MetricsServiceServer},
        ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
    },
    trace::v1::{
        trace_service_server::{TraceService, TraceServiceServer},
        ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
    },
};
use prost::Message;
use serde::{Deserialize, Deserializer};
use tokio::{
    net::TcpListener,
    sync::{watch, Notify},
    time::Instant,
};
use tonic::{codec::CompressionEncoding, codegen::Service};

const MIB: usize = 1024 * 1024;

/// Configuration of the `otlp` receiver, with the OpenTelemetry Collector's keys.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtlpReceiverConfig {
    /// The protocols to serve; only those listed start (`grpc:` or `http:` with no settings means defaults).
    pub protocols: Protocols,
    /// Most items (spans + data points + log records) held between flushes; past it, items are dropped,
    /// counted and reported to the sender as rejected.
    pub max_buffered_items: usize,
    /// How long a flush at the end of an invocation waits for the function's requests still in flight.
    #[serde(with = "lambdatel_config::duration_serde")]
    pub flush_wait: Duration,
}

impl Default for OtlpReceiverConfig {
    fn default() -> Self {
        OtlpReceiverConfig {
            protocols: Protocols::default(),
            max_buffered_items: 50_000,
            flush_wait: Duration::from_millis(100),
        }
    }
}

/// The protocols block. Absent means off; present (even empty) means on.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Protocols {
    /// OTLP/gRPC server settings.
    #[serde(deserialize_with = "listed")]
    pub grpc: Option<GrpcServerConfig>,
    /// OTLP/HTTP server settings.
    #[serde(deserialize_with = "listed")]
    pub http: Option<HttpServerConfig>,
}

/// A protocol key that is present turns the protocol on, with defaults when it has no value.
fn listed<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(deserializer: D) -> Result<Option<T>, D::Error> {
    Ok(Some(Option::<T>::deserialize(deserializer)?.unwrap_or_default()))
}

/// The gRPC server's settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrpcServerConfig {
    /// `ip:port` to listen on (`localhost` means 127.0.0.1). Loopback by default: other addresses are
    /// reachable from outside the sandbox and must be written explicitly.
    pub endpoint: String,
    /// Largest request message accepted, in MiB (decompressed).
    pub max_recv_msg_size_mib: usize,
}

impl Default for GrpcServerConfig {
    fn default() -> Self {
        GrpcServerConfig { endpoint: "127.0.0.1:4317".into(), max_recv_msg_size_mib: 4 }
    }
}

/// The HTTP server's settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpServerConfig {
    /// `ip:port` to listen on (`localhost` means 127.0.0.1). Loopback by default: other addresses are
    /// reachable from outside the sandbox and must be written explicitly.
    pub endpoint: String,
    /// Largest request body accepted, in bytes, both as sent and after gzip decompression; larger ones get
    /// 413.
    pub max_request_body_size: usize,
}

impl Default for HttpServerConfig {
    fn default() -> Self {
        HttpServerConfig { endpoint: "127.0.0.1:4318".into(), max_request_body_size: 4 * MIB }
    }
}

impl OtlpReceiverConfig {
    /// Checks the settings; an error comes with the sub-key it is about.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let p = &self.protocols;
        if p.grpc.is_none() && p.http.is_none() {
            return Err(("protocols", "at least one of grpc, http is needed".into()));
        }
        if let Some(grpc) = &p.grpc {
            parse_endpoint(&grpc.endpoint).map_err(|e| ("protocols.grpc.endpoint", e))?;
            if grpc.max_recv_msg_size_mib == 0 {
                return Err(("protocols.grpc.max_recv_msg_size_mib", "must be at least 1".into()));
            }
        }
        if let Some(http) = &p.http {
            parse_endpoint(&http.endpoint).map_err(|e| ("protocols.http.endpoint", e))?;
            if http.max_request_body_size == 0 {
                return Err(("protocols.http.max_request_body_size", "must be at least 1".into()));
            }
        }
        if let (Some(grpc), Some(http)) = (&p.grpc, &p.http) {
            if parse_endpoint(&grpc.endpoint) == parse_endpoint(&http.endpoint) {
                return Err(("protocols.http.endpoint", format!("{} is also the grpc endpoint", http.endpoint)));
            }
        }
        if self.max_buffered_items == 0 {
            return Err(("max_buffered_items", "must be at least 1".into()));
        }
        Ok(())
    }
}

/// `ip:port`, `[ipv6]:port` or `localhost:port`. Host names are refused: resolving one at start-up could
/// hang or pick an address nobody meant.
pub fn parse_endpoint(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    if let Some(port) = text.strip_prefix("localhost:") {
        let port: u16 = port.parse().map_err(|_| format!("{text:?}: {port:?} is not a port"))?;
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    text.parse().map_err(|_| format!("{text:?} is not ip:port (for example 127.0.0.1:4317)"))
}

/// Counters of what the receiver got, for self-telemetry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OtlpReceiverStats {
    /// Export requests accepted (wholly or in part).
    pub requests: u64,
    /// Requests refused as malformed, oversized or unsupported.
    pub rejected_requests: u64,
    /// Items buffered.
    pub items: u64,
    /// Items dropped because the buffer was full.
    pub dropped_items: u64,
}

struct Buffer {
    data: Signals,
    items: usize,
    stats: OtlpReceiverStats,
}

struct Shared {
    buffer: Mutex<Buffer>,
    max_items: usize,
    in_flight: AtomicUsize,
    idle: Notify,
}

impl Shared {
    fn new(max_items: usize) -> Self {
        Shared {
            buffer: Mutex::new(Buffer { data: Signals::default(), items: 0, stats: OtlpReceiverStats::default() }),
            max_items,
            in_flight: AtomicUsize::new(0),
            idle: Notify::new(),
        }
    }

    /// Buffers what fits of one request's `kind`; returns how many items were dropped.
    fn accept(&self, kind: Signal, mut incoming: Signals) -> usize {
        let mut buffer = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
        let total = incoming.count(kind);
        let room = self.max_items.saturating_sub(buffer.items);
        let mut kept = if total > room { incoming.take_front(kind, room) } else { incoming };
        let kept_items = kept.count(kind);
        buffer.items += kept_items;
        buffer.data.append(&mut kept);
        buffer.stats.requests += 1;
        buffer.stats.items += kept_items as u64;
        buffer.stats.dropped_items += (total - kept_items) as u64;
        total - kept_items
    }

    fn reject(&self) {
        self.buffer.lock().unwrap_or_else(|e| e.into_inner()).stats.rejected_requests += 1;
    }

    fn start_request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(self.clone())
    }
}

/// One request being received; dropping it (answered or abandoned) wakes [`OtlpReceiver::wait_idle`].
struct InFlight(Arc<Shared>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// The receiver's ports, bound before the extension registers (so a clash fails the init, not later).
pub struct BoundOtlp {
    config: OtlpReceiverConfig,
    grpc: Option<TcpListener>,
    http: Option<TcpListener>,
}

impl BoundOtlp {
    /// Binds the configured protocols' ports; an error names the key that sets the port.
    pub async fn bind(config: &OtlpReceiverConfig) -> Result<Self, String> {
        async fn listen(key: &str, endpoint: &str) -> Result<TcpListener, String> {
            let addr = parse_endpoint(endpoint).map_err(|e| format!("{key}: {e}"))?;
            TcpListener::bind(addr).await.map_err(|e| {
                if e.kind() == std::io::ErrorKind::AddrInUse {
                    format!(
                        "{key}: {addr} is already in use (by another extension or the function?); choose another port"
                    )
                } else {
                    format!("{key}: cannot listen on {addr}: {e}")
                }
            })
        }
        let grpc = match &config.protocols.grpc {
            Some(grpc) => Some(listen("protocols.grpc.endpoint", &grpc.endpoint).await?),
            None => None,
        };
        let http = match &config.protocols.http {
            Some(http) => Some(listen("protocols.http.endpoint", &http.endpoint).await?),
            None => None,
        };
        Ok(BoundOtlp { config: config.clone(), grpc, http })
    }

    /// The gRPC port's address, when gRPC is on.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The HTTP port's address, when HTTP is on.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Starts serving on the current Tokio runtime.
    pub fn start(self) -> OtlpReceiver {
        let shared = Arc::new(Shared::new(self.config.max_buffered_items));
        let (stop, stopped) = watch::channel(false);
        let grpc_addr = self.grpc_addr();
        let http_addr = self.http_addr();
        if let (Some(listener), Some(grpc)) = (self.grpc, &self.config.protocols.grpc) {
            let limit = grpc.max_recv_msg_size_mib.saturating_mul(MIB);
            tokio::spawn(serve_grpc(listener, GrpcServices::new(shared.clone(), limit), stopped.clone()));
        }
        if let (Some(listener), Some(http)) = (self.http, &self.config.protocols.http) {
            tokio::spawn(serve_http(listener, shared.clone(), http.max_request_body_size, stopped));
        }
        OtlpReceiver { config: self.config, shared, grpc_addr, http_addr, _stop: stop }
    }
}

/// A serving `otlp` receiver. Dropping it stops accepting connections.
pub struct OtlpReceiver {
    config: OtlpReceiverConfig,
    shared: Arc<Shared>,
    grpc_addr: Option<SocketAddr>,
    http_addr: Option<SocketAddr>,
    _stop: watch::Sender<bool>,
}

impl OtlpReceiver {
    /// The receiver's settings.
    pub fn config(&self) -> &OtlpReceiverConfig {
        &self.config
    }

    /// The gRPC address served, when gRPC is on.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc_addr
    }

    /// The HTTP address served, when HTTP is on.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// Takes everything buffered so far.
    pub fn drain(&self) -> Signals {
        let mut buffer = self.shared.buffer.lock().unwrap_or_else(|e| e.into_inner());
        buffer.items = 0;
        std::mem::take(&mut buffer.data)
    }

    /// Waits until no request is being received, or until `deadline`.
    pub async fn wait_idle(&self, deadline: Instant) {
        loop {
            let notified = self.shared.idle.notified();
            tokio::pin!(notified);
            // Registered before the check, so a request finishing in between still wakes this wait.
            notified.as_mut().enable();
            if self.shared.in_flight.load(Ordering::SeqCst) == 0 {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return;
            }
        }
    }

    /// Requests being received right now.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::SeqCst)
    }

    /// Counters since start.
    pub fn stats(&self) -> OtlpReceiverStats {
        self.shared.buffer.lock().unwrap_or_else(|e| e.into_inner()).stats
    }
}

fn dropped_message(dropped: usize) -> String {
    format!("lambdatel's buffer is full (receivers.otlp.max_buffered_items): {dropped} items dropped")
}

// ---- gRPC ----

/// The three generated OTLP services over one shared buffer.
#[derive(Clone)]
struct GrpcServices {
    /// Where the in-flight count lives (the services' Sink holds the same).
    shared: Arc<Shared>,
    traces: TraceServiceServer<Sink>,
    metrics: MetricsServiceServer<Sink>,
    logs: LogsServiceServer<Sink>,
}

impl GrpcServices {
    fn new(shared: Arc<Shared>, max_message: usize) -> Self {
        let sink = Sink(shared.clone());
        GrpcServices {
            shared,
            traces: TraceServiceServer::new(sink.clone())
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(max_message),
            metrics: MetricsServiceServer::new(sink.clone())
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(max_message),
            logs: LogsServiceServer::new(sink)
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(max_message),
        }
    }

    async fn call(mut self, request: Request<Incoming>) -> Result<Response<tonic::body::Body>, Infallible> {
        let path = request.uri().path();
        if path.starts_with("/opentelemetry.proto.collector.trace.v1.TraceService/") {
            self.traces.call(request).await
        } else if path.starts_with("/opentelemetry.proto.collector.metrics.v1.MetricsService/") {
            self.metrics.call(request).await
        } else if path.starts_with("/opentelemetry.proto.collector.logs.v1.LogsService/") {
            self.logs.call(request).await
        } else {
            let status = tonic::Status::unimplemented(format!("{path} is not an OTLP export service"));
            Ok(status.into_http())
        }
    }
}

#[derive(Clone)]
struct Sink(Arc<Shared>);

#[tonic::async_trait]
impl TraceService for Sink {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let data = Signals { spans: request.into_inner().resource_spans, ..Signals::default() };
        let dropped = self.0.accept(Signal::Traces, data);
        let partial_success = (dropped > 0).then(|| ExportTracePartialSuccess {
            rejected_spans: dropped as i64,
            error_message: dropped_message(dropped),
        });
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success }))
    }
}

#[tonic::async_trait]
impl MetricsService for Sink {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let data = Signals { metrics: request.into_inner().resource_metrics, ..Signals::default() };
        let dropped = self.0.accept(Signal::Metrics, data);
        let partial_success = (dropped > 0).then(|| ExportMetricsPartialSuccess {
            rejected_data_points: dropped as i64,
            error_message: dropped_message(dropped),
        });
        Ok(tonic::Response::new(ExportMetricsServiceResponse { partial_success }))
    }
}

#[tonic::async_trait]
impl LogsService for Sink {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        let data = Signals { logs: request.into_inner().resource_logs, ..Signals::default() };
        let dropped = self.0.accept(Signal::Logs, data);
        let partial_success = (dropped > 0).then(|| ExportLogsPartialSuccess {
            rejected_log_records: dropped as i64,
            error_message: dropped_message(dropped),
        });
        Ok(tonic::Response::new(ExportLogsServiceResponse { partial_success }))
    }
}

async fn serve_grpc(listener: TcpListener, services: GrpcServices, mut stopped: watch::Receiver<bool>) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors and the like: back off instead of spinning.
                Err(_) => { tokio::time::sleep(Duration::from_millis(50)).await; continue }
            },
            _ = stopped.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let services = services.clone();
        let shared = services.shared.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                // Counted from the headers on, so a flush also waits for a body still arriving.
                let guard = shared.start_request();
                let services = services.clone();
                async move {
                    let response = services.call(request).await;
                    drop(guard);
                    response
                }
            });
            let _ = http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

// ---- HTTP ----

async fn serve_http(listener: TcpListener, shared: Arc<Shared>, max_body: usize, mut stopped: watch::Receiver<bool>) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => { tokio::time::sleep(Duration::from_millis(50)).await; continue }
            },
            _ = stopped.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let shared = shared.clone();
                async move {
                    let guard = shared.start_request();
                    let response = handle_http(&shared, request, max_body).await;
                    drop(guard);
                    Ok::<_, Infallible>(response)
                }
            });
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The body encodings of OTLP/HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// An error answer: the status, and a message sent as a `google.rpc.Status` in the request's encoding.
struct Refusal(StatusCode, String);

async fn handle_http(shared: &Shared, request: Request<Incoming>, max_body: usize) -> Response<Full<Bytes>> {
    let content_type = request.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let encoding = match content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase().as_str() {
        "application/x-protobuf" => Some(Encoding::Protobuf),
        "application/json" => Some(Encoding::Json),
        _ => None,
    };
    match receive_http(shared, request, encoding, max_body).await {
        Ok(body) => {
            let encoding = encoding.unwrap_or(Encoding::Protobuf);
            let mut response = Response::new(Full::new(body));
            response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(encoding.content_type()));
            response
        }
        Err(Refusal(status, message)) => {
            shared.reject();
            let mut response = Response::new(Full::new(status_body(encoding, status, &message)));
            *response.status_mut() = status;
            let content_type = encoding.map(Encoding::content_type).unwrap_or("text/plain; charset=utf-8");
            response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
            if status == StatusCode::METHOD_NOT_ALLOWED {
                response.headers_mut().insert(ALLOW, HeaderValue::from_static("POST"));
            }
            response
        }
    }
}

/// Reads, checks and buffers one OTLP/HTTP request; returns the success body in the request's encoding.
async fn receive_http(
    shared: &Shared,
    request: Request<Incoming>,
    encoding: Option<Encoding>,
    max_body: usize,
) -> Result<Bytes, Refusal> {
    let kind = match request.uri().path() {
        "/v1/traces" => Signal::Traces,
        "/v1/metrics" => Signal::Metrics,
        "/v1/logs" => Signal::Logs,
        other => {
            return Err(Refusal(
                StatusCode::NOT_FOUND,
                format!("{other} is not an OTLP path (/v1/traces, /v1/metrics, /v1/logs)"),
            ))
        }
    };
    if request.method() != Method::POST {
        return Err(Refusal(StatusCode::METHOD_NOT_ALLOWED, format!("{} is not allowed, use POST", request.method())));
    }
    let Some(encoding) = encoding else {
        let given = request.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("none");
        return Err(Refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Type {given} is not supported (use application/x-protobuf or application/json)"),
        ));
    };
    let gzip =
        match request.headers().get(CONTENT_ENCODING).map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase()) {
            None => false,
            Some(e) if e.is_empty() || e == "identity" => false,
            Some(e) if e == "gzip" => true,
            Some(e) => {
                return Err(Refusal(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    format!("Content-Encoding {e} is not supported (use gzip or none)"),
                ))
            }
        };
    let too_large = || Refusal(StatusCode::PAYLOAD_TOO_LARGE, format!("the body is larger than {max_body} bytes"));
    let declared = request.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max_body as u64) {
        return Err(too_large());
    }
    let body = match Limited::new(request.into_body(), max_body).collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(too_large()),
        Err(e) => return Err(Refusal(StatusCode::BAD_REQUEST, format!("the body could not be read: {e}"))),
    };
    let body = if gzip { gunzip(&body, max_body)? } else { body };
    let data = decode(kind, encoding, &body).map_err(|message| Refusal(StatusCode::BAD_REQUEST, message))?;
    let dropped = shared.accept(kind, data);
    Ok(success_body(kind, encoding, dropped))
}

/// Decompresses at most `max` bytes; more is a 413 (a small gzip body can expand enormously).
fn gunzip(body: &[u8], max: usize) -> Result<Bytes, Refusal> {
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(max));
    let read = flate2::read::GzDecoder::new(body).take(max as u64 + 1).read_to_end(&mut out);
    match read {
        Err(e) => Err(Refusal(StatusCode::BAD_REQUEST, format!("the body is not valid gzip: {e}"))),
        Ok(n) if n > max => Err(Refusal(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {max} bytes once decompressed"),
        )),
        Ok(_) => Ok(Bytes::from(out)),
    }
}

/// Decodes an export request of `kind`.
fn decode(kind: Signal, encoding: Encoding, body: &[u8]) -> Result<Signals, String> {
    fn proto<T: Message + Default>(name: &str, body: &[u8]) -> Result<T, String> {
        T::decode(body).map_err(|e| format!("the body is not a protobuf {name}: {e}"))
    }
    fn json<T: serde::de::DeserializeOwned>(name: &str, body: &[u8]) -> Result<T, String> {
        serde_json::from_slice(body).map_err(|e| format!("the body is not an OTLP/JSON {name}: {e}"))
    }
    const TRACE: &str = "ExportTraceServiceRequest";
    const METRICS: &str = "ExportMetricsServiceRequest";
    const LOGS: &str = "ExportLogsServiceRequest";
    Ok(match (kind, encoding) {
        (Signal::Traces, Encoding::Protobuf) => {
            Signals { spans: proto::<ExportTraceServiceRequest>(TRACE, body)?.resource_spans, ..Signals::default() }
        }
        (Signal::Traces, Encoding::Json) => {
            Signals { spans: json::<ExportTraceServiceRequest>(TRACE, body)?.resource_spans, ..Signals::default() }
        }
        (Signal::Metrics, Encoding::Protobuf) => Signals {
            metrics: proto::<ExportMetricsServiceRequest>(METRICS, body)?.resource_metrics,
            ..Signals::default()
        },
        (Signal::Metrics, Encoding::Json) => Signals {
            metrics: json::<ExportMetricsServiceRequest>(METRICS, body)?.resource_metrics,
            ..Signals::default()
        },
        (Signal::Logs, Encoding::Protobuf) => {
            Signals { logs: proto::<ExportLogsServiceRequest>(LOGS, body)?.resource_logs, ..Signals::default() }
        }
        (Signal::Logs, Encoding::Json) => {
            Signals { logs: json::<ExportLogsServiceRequest>(LOGS, body)?.resource_logs, ..Signals::default() }
        }
    })
}

/// The export response of `kind`, with a partial success when items were dropped.
fn success_body(kind: Signal, encoding: Encoding, dropped: usize) -> Bytes {
    if dropped == 0 {
        // A full success is the empty message: no bytes in protobuf, `{}` in JSON.
        return match encoding {
            Encoding::Protobuf => Bytes::new(),
            Encoding::Json => Bytes::from_static(b"{}"),
        };
    }
    let message = dropped_message(dropped);
    let rejected = dropped as i64;
    macro_rules! encode {
        ($response:expr) => {
            match encoding {
                Encoding::Protobuf => Bytes::from($response.encode_to_vec()),
                Encoding::Json => Bytes::from(serde_json::to_vec(&$response).unwrap_or_default()),
            }
        };
    }
    match kind {
        Signal::Traces => encode!(ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess { rejected_spans: rejected, error_message: message })
        }),
        Signal::Metrics => encode!(ExportMetricsServiceResponse {
            partial_success: Some(ExportMetricsPartialSuccess {
                rejected_data_points: rejected,
                error_message: message
            })
        }),
        Signal::Logs => encode!(ExportLogsServiceResponse {
            partial_success: Some(ExportLogsPartialSuccess { rejected_log_records: rejected, error_message: message })
        }),
    }
}

/// A `google.rpc.Status` (code, message) as the OTLP/HTTP specification asks for error bodies, in the
/// request's encoding; plain text when the encoding is unknown.
fn status_body(encoding: Option<Encoding>, status: StatusCode, message: &str) -> Bytes {
    // The gRPC code closest to the HTTP status, as the Collector maps them.
    let code: i32 = match status {
        StatusCode::BAD_REQUEST => 3,         // INVALID_ARGUMENT
        StatusCode::NOT_FOUND => 5,           // NOT_FOUND
        StatusCode::PAYLOAD_TOO_LARGE => 8,   // RESOURCE_EXHAUSTED
        StatusCode::METHOD_NOT_ALLOWED => 12, // UNIMPLEMENTED
        StatusCode::UNSUPPORTED_MEDIA_TYPE => 12,
        _ => 2, // UNKNOWN
    };
    match encoding {
        Some(Encoding::Protobuf) => {
            let mut out = Vec::with_capacity(message.len() + 8);
            prost::encoding::int32::encode(1, &code, &mut out);
            prost::encoding::string::encode(2, &message.to_string(), &mut out);
            Bytes::from(out)
        }
        Some(Encoding::Json) => Bytes::from(serde_json::json!({"code": code, "message": message}).to_string()),
        None => {
            let mut out = Vec::with_capacity(message.len() + 1);
            out.put_slice(message.as_bytes());
            out.put_u8(b'\n');
            Bytes::from(out)
        }
    }
}

#[cfg(test)]
mod tests {
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

    use super::*;
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
            .map(|n| Span {
                name: n.to_string(),
                trace_id: vec![0xab; 16],
                span_id: vec![0xcd; 8],
                ..Default::default()
            })
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
            err,
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
        assert_eq!(
            receiver.stats(),
            OtlpReceiverStats { requests: 2, rejected_requests: 0, items: 3, dropped_items: 0 }
        );
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
        let (status, content_type, answer) =
            post(addr, "POST", "/v1/traces", &[PROTOBUF], vec![0xff, 0xff, 0xff]).await;
        assert_eq!((status, content_type.as_str()), (400, "application/x-protobuf"));
        let (code, message) = rpc_status(&answer);
        assert_eq!(code, 3);
        assert!(message.starts_with("the body is not a protobuf ExportTraceServiceRequest: "), "{message}");

        let (status, _, answer) = post(addr, "POST", "/v1/logs", &[JSON], b"{\"resourceLogs\": 5}".to_vec()).await;
        assert_eq!(status, 400);
        let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
        assert_eq!(answer["code"], 3);
        let message = answer["message"].as_str().unwrap();
        assert!(
            message.starts_with("the body is not an OTLP/JSON ExportLogsServiceRequest: invalid type"),
            "{message}"
        );

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
        let (status, _, answer) =
            post(addr, "POST", "/v1/traces", &[PROTOBUF, ("content-encoding", "gzip")], bomb).await;
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
        let (status, _, answer) =
            post(addr, "POST", "/v1/traces", &[PROTOBUF, ("content-encoding", "br")], vec![]).await;
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
        let mut client =
            TraceServiceClient::connect(endpoint).await.unwrap().send_compressed(CompressionEncoding::Gzip);
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
}
