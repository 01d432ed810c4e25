//! The HTTP client of every AWS call: hyper 1 with the legacy pooled client and rustls (ring, Mozilla
//! roots), the same stack as the `otlphttp` exporter.

use std::{
    sync::{Arc, RwLock},
    time::Duration,
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{HeaderMap, Request, StatusCode};
use hyper_rustls::HttpsConnector;
use hyper_util::{
    client::legacy::{connect::HttpConnector, Client},
    rt::{TokioExecutor, TokioTimer},
};

use crate::AwsError;

/// Largest response body read: config files and secrets are small; this keeps a wrong URL from eating the
/// function's memory.
pub const MAX_RESPONSE_BODY: usize = 16 * 1024 * 1024;

/// A response read in full.
#[derive(Debug)]
pub struct Response {
    /// The HTTP status.
    pub status: StatusCode,
    /// The response headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

type Pooled = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A pooled HTTP/HTTPS client. Cloning shares the pool, and [`reset_connections`](Self::reset_connections)
/// replaces it for every clone.
#[derive(Clone)]
pub struct HttpClient {
    client: Arc<RwLock<Pooled>>,
    connector: HttpsConnector<HttpConnector>,
    timeout: Duration,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient").field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A client whose every request (connect, send, read the body) is bounded by `timeout`.
    pub fn new(timeout: Duration) -> Self {
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        let tls = rustls::ClientConfig::builder_with_provider(rustls::crypto::ring::default_provider().into())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        // The plain connector refuses https:// unless told the TLS layer above handles it.
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(timeout.min(Duration::from_secs(2))));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        HttpClient { client: Arc::new(RwLock::new(pool(&connector))), connector, timeout }
    }

    /// Drops the pooled connections: the next request opens a new one. After a SnapStart restore the
    /// snapshot's connections are dead (the peer never saw the restored copy), and a request on one would
    /// fail or hang. Requests in flight keep their connection.
    pub fn reset_connections(&self) {
        *self.client.write().unwrap_or_else(|e| e.into_inner()) = pool(&self.connector);
    }

    /// Sends `request` and reads the whole answer; any status is a response, only transport failures and the
    /// timeout are errors. `what` names the call in errors (never a secret).
    pub async fn send(&self, request: Request<Full<Bytes>>, what: &str) -> Result<Response, AwsError> {
        let client = self.client.read().unwrap_or_else(|e| e.into_inner()).clone();
        let attempt = async {
            let response = client
                .request(request)
                .await
                .map_err(|e| AwsError::Transport { call: what.to_string(), message: error_chain(&e) })?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_RESPONSE_BODY).collect().await.map_err(|e| AwsError::Transport {
                call: what.to_string(),
                message: format!("reading the response: {e}"),
            })?;
            Ok(Response { status: parts.status, headers: parts.headers, body: body.to_bytes() })
        };
        tokio::time::timeout(self.timeout, attempt).await.unwrap_or_else(|_| {
            Err(AwsError::Transport {
                call: what.to_string(),
                message: format!("no answer within {} ms", self.timeout.as_millis()),
            })
        })
    }
}

/// A client with an empty pool over `connector`.
fn pool(connector: &HttpsConnector<HttpConnector>) -> Pooled {
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(20))
        .pool_timer(TokioTimer::new())
        .build(connector.clone())
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
