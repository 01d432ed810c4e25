//! Small HTTP/1.1 plumbing on hyper: a loopback server loop and a one-shot JSON POST client.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The response type of every handler.
pub type Resp = Response<Full<Bytes>>;

/// Builds a response with a status, extra headers and a body.
pub fn response(status: StatusCode, headers: &[(&str, String)], body: impl Into<Bytes>) -> Resp {
    let mut b = Response::builder().status(status);
    for (k, v) in headers {
        b = b.header(*k, v.as_str());
    }
    b.body(Full::new(body.into())).unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// A JSON response.
pub fn json(status: StatusCode, value: &serde_json::Value) -> Resp {
    response(status, &[("Content-Type", "application/json".into())], value.to_string())
}

/// An AWS-style error answer `{errorType, errorMessage}`.
pub fn error(status: StatusCode, error_type: &str, message: &str) -> Resp {
    json(status, &serde_json::json!({"errorType": error_type, "errorMessage": message}))
}

/// Serves HTTP/1.1 on `listener`, calling `handler` for every request, until the task is aborted.
/// Accepted connections have Nagle's algorithm off, as real servers do.
pub fn serve<H, F>(listener: TcpListener, handler: H) -> JoinHandle<()>
where
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Resp> + Send + 'static,
{
    serve_with(
        listener,
        |stream: &TcpStream| {
            let _ = stream.set_nodelay(true);
        },
        handler,
    )
}

/// Like [`serve`], with `on_accept` setting up each accepted connection (socket options,
/// connection counting) before its first request is read.
pub fn serve_with<A, H, F>(listener: TcpListener, on_accept: A, handler: H) -> JoinHandle<()>
where
    A: Fn(&TcpStream) + Send + 'static,
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Resp> + Send + 'static,
{
    let handler = Arc::new(handler);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                // Accept errors (e.g. too many open files) are transient; keep serving.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            on_accept(&stream);
            let handler = handler.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let fut = handler(req);
                    async move { Ok::<_, std::convert::Infallible>(fut.await) }
                });
                // Lambda (Go net/http) sends canonical Title-Case header names; some clients depend on it.
                let _ = hyper::server::conn::http1::Builder::new()
                    .title_case_headers(true)
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    })
}

/// Reads a whole request body.
pub async fn body_bytes(body: Incoming) -> Bytes {
    body.collect().await.map(|c| c.to_bytes()).unwrap_or_default()
}

/// POSTs a JSON body to `addr` and returns the status code.
pub async fn post_json(
    addr: SocketAddr,
    host: &str,
    path: &str,
    body: Vec<u8>,
    timeout: Duration,
) -> std::io::Result<u16> {
    let headers = [("Host", host), ("Content-Type", "application/json")];
    post(addr, path, &headers, body, timeout).await.map(|(status, _)| status)
}

/// POSTs `body` with `headers` to `addr` and returns the status code and response body.
pub async fn post(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
    timeout: Duration,
) -> std::io::Result<(u16, Bytes)> {
    request(Method::POST, addr, path, headers, body, timeout).await.map(|(s, _, b)| (s, b))
}

/// Sends one request and returns the status, response headers and body.
pub async fn request(
    method: Method,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
    timeout: Duration,
) -> std::io::Result<(u16, hyper::HeaderMap, Bytes)> {
    let fut = async {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(std::io::Error::other)?;
        tokio::spawn(conn);
        let mut req = Request::builder().method(method).uri(path);
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            req = req.header("Host", addr.to_string());
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(Bytes::from(body))).map_err(std::io::Error::other)?;
        let resp = sender.send_request(req).await.map_err(std::io::Error::other)?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.map(|c| c.to_bytes()).unwrap_or_default();
        Ok((status, headers, body))
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "request timed out"))?
}
