//! The proxy's HTTP side: accepts the runtime's connections, forwards each request to the real Runtime API
//! and its response back, and taps the two bodies the trigger facts come from.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::http::uri::Authority;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::store::TriggerStore;
use super::tap::TapBody;
use super::trigger::extract_trigger;
use super::upstream::UpstreamSlot;
use super::{ProxyError, PROBE_HEADER, PROBE_PATH};

const INVOCATION_PREFIX: &str = "/2018-06-01/runtime/invocation/";
const NEXT_PATH: &str = "/2018-06-01/runtime/invocation/next";
const REQUEST_ID_HEADER: &str = "lambda-runtime-aws-request-id";

type ProxyBody = UnsyncBoxBody<Bytes, hyper::Error>;

/// Counters of what the proxy did since it started.
#[derive(Debug, Default)]
pub struct ProxyStats {
    /// Requests forwarded and answered by the Runtime API.
    pub forwarded: AtomicU64,
    /// Calls that failed between the proxy and the Runtime API (unreachable, or a connection or body broken
    /// midway): answered 502 to the runtime.
    pub upstream_errors: AtomicU64,
    /// Events read for their trigger.
    pub events_read: AtomicU64,
    /// Events larger than the copy limit, forwarded but not read (their trigger is unknown).
    pub events_too_large: AtomicU64,
}

/// What every connection shares.
pub(super) struct Shared {
    pub(super) upstream: Authority,
    pub(super) triggers: TriggerStore,
    pub(super) stats: Arc<ProxyStats>,
    pub(super) max_event_bytes: usize,
    pub(super) max_response_bytes: usize,
}

/// Accepts connections until the listener fails. Dropping the future closes every connection it opened.
pub(super) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) -> Result<(), ProxyError> {
    let mut connections = JoinSet::new();
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted.map_err(ProxyError::Accept)?,
            // Reap finished connections so the set stays as small as the open ones.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        connections.spawn(async move {
            let upstream = Arc::new(UpstreamSlot::default());
            let service = service_fn(move |request| handle(request, shared.clone(), upstream.clone()));
            // No header timeout: the runtime's `next` call waits as long as the sandbox is idle, frozen included.
            let _ = http1::Builder::new()
                .preserve_header_case(true)
                // The Runtime API's own `Date` passes through; the proxy adds none.
                .auto_date_header(false)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(
    request: Request<Incoming>,
    shared: Arc<Shared>,
    upstream: Arc<UpstreamSlot>,
) -> Result<Response<ProxyBody>, Infallible> {
    if request.uri().path() == PROBE_PATH {
        return Ok(probe_answer());
    }
    let is_next = request.method() == Method::GET && request.uri().path() == NEXT_PATH;
    let (parts, body) = request.into_parts();
    let body = match response_request_id(&parts.method, parts.uri.path()) {
        Some(request_id) => {
            let triggers = shared.triggers.clone();
            let request_id = request_id.to_string();
            TapBody::tapped(
                body,
                shared.max_response_bytes,
                Box::new(move |prefix, complete| triggers.record_response(&request_id, prefix, complete)),
            )
        }
        None => TapBody::plain(body),
    };
    let response = match upstream.send(&shared.upstream, Request::from_parts(parts, body)).await {
        Ok(response) => response,
        Err(e) => {
            shared.stats.upstream_errors.fetch_add(1, Ordering::Relaxed);
            return Ok(bad_gateway(e.to_string()));
        }
    };
    shared.stats.forwarded.fetch_add(1, Ordering::Relaxed);
    let (parts, body) = response.into_parts();
    let request_id = parts.headers.get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string);
    let body = match (is_next && parts.status == StatusCode::OK, request_id) {
        (true, Some(request_id)) => {
            let shared = shared.clone();
            TapBody::tapped(
                body,
                shared.max_event_bytes,
                Box::new(move |event, complete| read_event(&shared, request_id, event, complete)),
            )
        }
        _ => TapBody::plain(body),
    };
    Ok(Response::from_parts(parts, UnsyncBoxBody::new(body)))
}

/// Parses an event off the forwarding path: the bytes have already been handed on to the runtime.
fn read_event(shared: &Arc<Shared>, request_id: String, event: Vec<u8>, complete: bool) {
    if !complete {
        shared.stats.events_too_large.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let shared = shared.clone();
    let parse = move || {
        shared.triggers.insert(request_id, extract_trigger(&event));
        shared.stats.events_read.fetch_add(1, Ordering::Relaxed);
    };
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => drop(runtime.spawn(async move { parse() })),
        Err(_) => parse(),
    }
}

/// `POST /2018-06-01/runtime/invocation/{id}/response` -> `{id}`.
fn response_request_id<'a>(method: &Method, path: &'a str) -> Option<&'a str> {
    if method != Method::POST {
        return None;
    }
    let id = path.strip_prefix(INVOCATION_PREFIX)?.strip_suffix("/response")?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

fn probe_answer() -> Response<ProxyBody> {
    let mut response = Response::new(full_body("lambdatel runtime proxy\n"));
    response.headers_mut().insert(PROBE_HEADER, HeaderValue::from_static("1"));
    response
}

fn bad_gateway(why: String) -> Response<ProxyBody> {
    let body = Full::new(Bytes::from(why)).map_err(|never: Infallible| match never {});
    let mut response = Response::new(UnsyncBoxBody::new(body));
    *response.status_mut() = StatusCode::BAD_GATEWAY;
    response
}

fn full_body(text: &'static str) -> ProxyBody {
    UnsyncBoxBody::new(Full::new(Bytes::from_static(text.as_bytes())).map_err(|never: Infallible| match never {}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_response_post_is_tapped_for_its_status() {
        let path = "/2018-06-01/runtime/invocation/8476a536-e9f4-11e8-9739-2dfe598c3fcd/response";
        assert_eq!(response_request_id(&Method::POST, path), Some("8476a536-e9f4-11e8-9739-2dfe598c3fcd"));
        assert_eq!(response_request_id(&Method::GET, path), None);
        assert_eq!(response_request_id(&Method::POST, "/2018-06-01/runtime/invocation/x/error"), None);
        assert_eq!(response_request_id(&Method::POST, "/2018-06-01/runtime/invocation//response"), None);
        assert_eq!(response_request_id(&Method::POST, "/2018-06-01/runtime/invocation/a/b/response"), None);
    }
}
