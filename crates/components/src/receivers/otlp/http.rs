//! OTLP over HTTP: protobuf or JSON bodies, gzip or not, answered in the request's encoding.

use std::{convert::Infallible, io::Read, sync::Arc, time::Duration};

use bytes::{BufMut, Bytes};
use http_body_util::{BodyExt, Full, Limited};
use hyper::{
    body::Incoming,
    header::{HeaderValue, ALLOW, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE},
    server::conn::http1,
    service::service_fn,
    Method, Request, Response, StatusCode,
};
use hyper_util::rt::{TokioIo, TokioTimer};
use lambdatel_pipeline::{Signal, Signals};
use opentelemetry_proto::tonic::collector::{
    logs::v1::{ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse},
    metrics::v1::{ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse},
    trace::v1::{ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse},
};
use prost::Message;
use tokio::{net::TcpListener, sync::watch};

use super::{buffer::*, *};

pub(super) async fn serve_http(
    listener: TcpListener,
    shared: Arc<Shared>,
    max_body: usize,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let Some(stream) = accept(&listener, &mut stopped).await else { return };
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
pub(super) enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    pub(super) fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// An error answer: the status, and a message sent as a `google.rpc.Status` in the request's encoding.
pub(super) struct Refusal(pub(super) StatusCode, pub(super) String);

pub(super) async fn handle_http(shared: &Shared, request: Request<Incoming>, max_body: usize) -> Response<Full<Bytes>> {
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
pub(super) async fn receive_http(
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
pub(super) fn gunzip(body: &[u8], max: usize) -> Result<Bytes, Refusal> {
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
pub(super) fn decode(kind: Signal, encoding: Encoding, body: &[u8]) -> Result<Signals, String> {
    pub(super) fn proto<T: Message + Default>(name: &str, body: &[u8]) -> Result<T, String> {
        T::decode(body).map_err(|e| format!("the body is not a protobuf {name}: {e}"))
    }
    pub(super) fn json<T: serde::de::DeserializeOwned>(name: &str, body: &[u8]) -> Result<T, String> {
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
pub(super) fn success_body(kind: Signal, encoding: Encoding, dropped: usize) -> Bytes {
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
pub(super) fn status_body(encoding: Option<Encoding>, status: StatusCode, message: &str) -> Bytes {
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
