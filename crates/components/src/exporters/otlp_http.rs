//! The `otlphttp` exporter: OTLP over HTTP/1.1 (`POST /v1/traces`, `/v1/metrics`, `/v1/logs`) with protobuf or
//! JSON bodies, gzip, custom headers and TLS, as the OTLP/HTTP specification describes it.
//!
//! Connections are made lazily by the first export (never at start-up) and kept alive between flushes; a
//! connection that died while the sandbox was frozen fails fast and the shared retry loop tries again.

use super::SetupError;
use std::{
    collections::BTreeMap,
    sync::{Arc, RwLock},
    time::{Duration, SystemTime},
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{
    header::{HeaderName, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER},
    Method, Request, StatusCode, Uri,
};
use hyper_rustls::HttpsConnector;
use hyper_util::{
    client::legacy::{connect::HttpConnector, Client},
    rt::{TokioExecutor, TokioTimer},
};
use lambdatel_pipeline::{ExportError, Signal, Signals, WriteFlag};
use serde::Deserialize;

use super::{
    auth::{AuthConfig, RequestAuth},
    encoded::EncodedRequest,
    otlp_grpc::{Compression, QueueConfig, TlsConfig},
    retry::{CircuitBreakerConfig, RetryConfig},
    write_tracking::TrackedBody,
};

/// Configuration of the `otlphttp` exporter, with the OpenTelemetry Collector's keys.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtlpHttpConfig {
    /// Base URL; `/v1/traces`, `/v1/metrics` and `/v1/logs` are appended to it. `http://` means plaintext,
    /// `https://` TLS.
    pub endpoint: String,
    /// Full URL for traces, used as given instead of `endpoint` + `/v1/traces`.
    pub traces_endpoint: Option<String>,
    /// Full URL for metrics, used as given instead of `endpoint` + `/v1/metrics`.
    pub metrics_endpoint: Option<String>,
    /// Full URL for logs, used as given instead of `endpoint` + `/v1/logs`.
    pub logs_endpoint: Option<String>,
    /// Body encoding: `proto` (default) or `json`.
    pub encoding: Encoding,
    /// `gzip` (default) or `none`.
    pub compression: Compression,
    /// HTTP headers sent with every request (API keys and the like). Values never appear in logs.
    pub headers: super::Headers,
    /// Limit of a single export attempt; the flush deadline caps it further.
    #[serde(with = "lambdatel_config::duration_serde")]
    pub timeout: Duration,
    /// Transport security for `https://` URLs (`insecure` has no effect here: the URL's scheme decides).
    pub tls: TlsConfig,
    /// The Collector's pre-`tls:` key: `insecure: true` is `tls.insecure: true`.
    pub insecure: Option<bool>,
    /// Retries of retryable failures (429, 502, 503, 504 and connection failures).
    pub retry_on_failure: RetryConfig,
    /// What is kept for the next flush when the backend cannot take it now.
    pub sending_queue: QueueConfig,
    /// Skipping a backend found down instead of spending every flush's budget on it.
    pub circuit_breaker: CircuitBreakerConfig,
    /// A pooled connection unused for this long (typically spent frozen) is replaced by a fresh one rather
    /// than trusted: it may have died without a word while the sandbox was frozen.
    #[serde(with = "lambdatel_config::duration_serde")]
    pub reconnect_after_idle: Duration,
    /// The authenticator extension that authenticates each request (`sigv4auth`, `bearertokenauth`, ...).
    pub auth: Option<AuthConfig>,
}

impl Default for OtlpHttpConfig {
    fn default() -> Self {
        OtlpHttpConfig {
            endpoint: "http://localhost:4318".into(),
            traces_endpoint: None,
            metrics_endpoint: None,
            logs_endpoint: None,
            encoding: Encoding::Proto,
            compression: Compression::Gzip,
            headers: Default::default(),
            timeout: Duration::from_secs(5),
            tls: TlsConfig::default(),
            insecure: None,
            retry_on_failure: RetryConfig::default(),
            reconnect_after_idle: Duration::from_secs(20),
            sending_queue: QueueConfig::default(),
            auth: None,
            circuit_breaker: CircuitBreakerConfig::default(),
        }
    }
}

/// OTLP/HTTP body encoding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// Binary protobuf, `application/x-protobuf`.
    #[default]
    Proto,
    /// OTLP/JSON, `application/json`.
    Json,
}

/// Largest error body read from a backend, for the message; the rest is not needed.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// Characters of a backend's error body quoted in a message.
const MAX_QUOTED: usize = 200;

type HttpsClient = Client<HttpsConnector<HttpConnector>, TrackedBody<Full<Bytes>>>;

/// The connection pool, shared by the exporter's clones and replaced for all of them by a reset.
#[derive(Clone)]
struct Pool {
    client: Arc<RwLock<Option<HttpsClient>>>,
    connector: HttpsConnector<HttpConnector>,
    idle: Duration,
}

impl Pool {
    /// The client to send with now.
    fn client(&self) -> HttpsClient {
        let client = self.client.read().unwrap_or_else(|e| e.into_inner()).clone();
        client.unwrap_or_else(|| self.reset())
    }

    /// A new client with an empty pool, in place of the old one; requests in flight keep their connection.
    fn reset(&self) -> HttpsClient {
        let client = Client::builder(TokioExecutor::new())
            // A pooled connection idle past this is dropped when next checked out; a fresh one is cheaper than
            // an attempt on a connection that died while the sandbox was frozen.
            .pool_idle_timeout(self.idle)
            .pool_timer(TokioTimer::new())
            .pool_max_idle_per_host(4)
            .build(self.connector.clone());
        *self.client.write().unwrap_or_else(|e| e.into_inner()) = Some(client.clone());
        client
    }
}

/// A configured OTLP/HTTP exporter. Cloning shares the connection pool.
#[derive(Clone)]
pub struct OtlpHttpExporter {
    pool: Pool,
    urls: Arc<[Uri; 3]>,
    headers: Arc<Vec<(HeaderName, HeaderValue)>>,
    encoding: Encoding,
    /// The compressor, kept across requests; `None` for `compression: none`.
    gzip: Option<Arc<super::gzip::Gzip>>,
    timeout: Duration,
    auth: Option<RequestAuth>,
}

impl OtlpHttpExporter {
    /// Builds the exporter without touching the network; errors name the key at fault.
    pub fn new(config: &OtlpHttpConfig) -> Result<Self, SetupError> {
        let base = config.endpoint.trim().trim_end_matches('/');
        let url = |key: &'static str, own: &Option<String>, path: &str| -> Result<Uri, SetupError> {
            let (key, text) = match own.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
                Some(own) => (key, own.to_string()),
                None if base.is_empty() => return Err(SetupError::MissingEndpoint(key)),
                None => ("endpoint", format!("{base}{path}")),
            };
            parse_url(key, &text)
        };
        let urls = [
            url("traces_endpoint", &config.traces_endpoint, "/v1/traces")?,
            url("metrics_endpoint", &config.metrics_endpoint, "/v1/metrics")?,
            url("logs_endpoint", &config.logs_endpoint, "/v1/logs")?,
        ];
        let mut headers = Vec::new();
        for (key, value) in config.headers.iter() {
            let name = HeaderName::from_bytes(key.trim().as_bytes())
                .map_err(|_| SetupError::HeaderName { name: key.clone(), kind: "HTTP header" })?;
            // The value is a secret as often as not: say what is wrong with it, never what it is.
            let mut value = HeaderValue::from_str(value).map_err(|_| SetupError::HeaderValue(key.clone()))?;
            value.set_sensitive(true);
            headers.push((name, value));
        }
        let connector =
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls_client_config(&config.tls)?).https_or_http();
        let connector = match config.tls.server_name_override.as_deref().filter(|n| !n.is_empty()) {
            Some(name) => {
                let name = rustls::pki_types::ServerName::try_from(name.to_string())
                    .map_err(|_| SetupError::ServerName(name.to_string()))?;
                connector.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name))
            }
            None => connector,
        };
        let mut http = HttpConnector::new();
        // hyper's plain connector refuses https:// unless told the TLS layer above handles it.
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(2)));
        let connector = connector.enable_http1().wrap_connector(http);
        let pool = Pool { client: Arc::default(), connector, idle: config.reconnect_after_idle };
        pool.reset();
        Ok(OtlpHttpExporter {
            pool,
            urls: Arc::new(urls),
            headers: Arc::new(headers),
            encoding: config.encoding,
            gzip: (config.compression == Compression::Gzip).then(Arc::default),
            timeout: config.timeout,
            auth: None,
        })
    }

    /// Drops the pooled connections (the next export opens a new one) and has the authenticator re-read its
    /// credentials: after a SnapStart restore both belong to the snapshot.
    pub fn reset_connections(&self) {
        self.pool.reset();
        if let Some(auth) = &self.auth {
            auth.after_restore();
        }
    }

    /// The URLs of traces, metrics and logs.
    pub fn urls(&self) -> &[Uri; 3] {
        &self.urls
    }

    /// Authenticates every request with `auth` from now on.
    pub fn set_auth(&mut self, auth: RequestAuth) {
        self.auth = Some(auth);
    }

    /// The URL that `kind` is posted to.
    pub fn url(&self, kind: Signal) -> &Uri {
        let [traces, metrics, logs] = &*self.urls;
        match kind {
            Signal::Traces => traces,
            Signal::Metrics => metrics,
            Signal::Logs => logs,
        }
    }

    /// One export attempt of one signal, bounded by the attempt timeout; `written` is set once the request
    /// has been fully handed to the connection.
    pub async fn export_once(&self, kind: Signal, data: &Signals, written: &WriteFlag) -> Result<(), ExportError> {
        let limit = self.timeout;
        let EncodedRequest { bytes, gzipped } = encode_request(kind, data, self.encoding, self.gzip.as_deref())
            .map_err(|message| ExportError::Permanent { message })?;
        let body = Bytes::from(bytes);
        let url = self.url(kind).clone();
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(url.clone())
            .header(CONTENT_TYPE, self.content_type())
            .body(Full::new(body.clone()))
            .map_err(|e| ExportError::Permanent { message: format!("cannot build the request: {e}") })?;
        if gzipped {
            request.headers_mut().insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        for (name, value) in self.headers.iter() {
            request.headers_mut().insert(name.clone(), value.clone());
        }
        // Last, so that a signature covers every header set above and the body as sent.
        if let Some(auth) = &self.auth {
            auth.apply(kind, &mut request, &body).await?;
        }
        let request = request.map(|full| TrackedBody::new(full, written.clone()));
        let client = self.pool.client();
        let attempt = async {
            let response = client.request(request).await.map_err(|e| {
                let message = format!("POST {url}: {}", error_chain(&e));
                // A failed connect (refused, name not resolved, timed out) or a reset: the backend is out of
                // reach, unlike a request that failed on an established connection.
                if e.is_connect() || super::is_unreachable(&e) {
                    ExportError::Unreachable { message }
                } else {
                    ExportError::Retryable { message, retry_after: None }
                }
            })?;
            let status = response.status();
            let retry_after = response.headers().get(RETRY_AFTER).and_then(|v| parse_retry_after(v, SystemTime::now()));
            // Read the body in every case so the connection can be reused; on errors it explains the failure.
            let body = Limited::new(response.into_body(), MAX_ERROR_BODY).collect().await.map(|b| b.to_bytes());
            if status.is_success() {
                return Ok(());
            }
            let detail = body.map(|b| quote_body(&b)).unwrap_or_default();
            Err(classify(status, retry_after, &format!("POST {url}: {status}{detail}")))
        };
        match tokio::time::timeout(limit, attempt).await {
            Ok(result) => result,
            Err(_) => Err(ExportError::Retryable {
                message: format!("POST {url}: no answer within {} ms", limit.as_millis()),
                retry_after: None,
            }),
        }
    }

    fn content_type(&self) -> &'static str {
        match self.encoding {
            Encoding::Proto => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// The OTLP export request of one signal, in `encoding`, gzipped when `gzip` is given and the request is long
/// enough (see [`MIN_GZIP_LEN`](super::gzip::MIN_GZIP_LEN)).
pub(crate) fn encode_request(
    kind: Signal,
    data: &Signals,
    encoding: Encoding,
    gzip: Option<&super::gzip::Gzip>,
) -> Result<EncodedRequest, String> {
    // Encoded from the batch in place: the request types own their data, and a copy of the batch per attempt
    // costs more than the encoding.
    match encoding {
        Encoding::Proto => match kind {
            Signal::Traces => EncodedRequest::new(&data.spans, gzip),
            Signal::Metrics => EncodedRequest::new(&data.metrics, gzip),
            Signal::Logs => EncodedRequest::new(&data.logs, gzip),
        },
        Encoding::Json => {
            // A request's JSON is one camelCase key holding the resource entries.
            let json = match kind {
                Signal::Traces => serde_json::to_vec(&BTreeMap::from([("resourceSpans", &data.spans)])),
                Signal::Metrics => serde_json::to_vec(&BTreeMap::from([("resourceMetrics", &data.metrics)])),
                Signal::Logs => serde_json::to_vec(&BTreeMap::from([("resourceLogs", &data.logs)])),
            }
            .map_err(|e| format!("cannot encode OTLP/JSON: {e}"))?;
            let compressed = match gzip {
                Some(gzip) => gzip.encode_if_worthwhile(&json).map_err(|e| format!("gzip: {e}"))?,
                None => None,
            };
            Ok(match compressed {
                Some(bytes) => EncodedRequest { bytes, gzipped: true },
                None => EncodedRequest { bytes: json, gzipped: false },
            })
        }
    }
}

/// Parses an `http://` or `https://` URL; other schemes and relative forms are refused with the key's name.
fn parse_url(key: &'static str, text: &str) -> Result<Uri, SetupError> {
    if !(text.starts_with("http://") || text.starts_with("https://")) {
        return Err(SetupError::UrlScheme { key, text: text.to_string() });
    }
    let uri: Uri =
        text.parse().map_err(|e| SetupError::InvalidUrl { key, text: text.to_string(), reason: format!("{e}") })?;
    match uri.host() {
        Some(host) if !host.is_empty() => Ok(uri),
        _ => Err(SetupError::NoHost { key, text: text.to_string() }),
    }
}

/// The rustls client settings: Mozilla's roots, plus the configured CA file for private backends.
fn tls_client_config(tls: &TlsConfig) -> Result<rustls::ClientConfig, SetupError> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(path) = &tls.ca_file {
        use rustls::pki_types::{pem::PemObject, CertificateDer};
        let ca_file = |reason: String| SetupError::CaFile { path: path.clone(), reason };
        let pem = std::fs::read(path).map_err(|e| ca_file(format!("cannot be read: {e}")))?;
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| ca_file(format!("not a PEM certificate: {e}")))?;
            roots.add(cert).map_err(|e| ca_file(e.to_string()))?;
            added += 1;
        }
        if added == 0 {
            return Err(ca_file("holds no PEM certificate".into()));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SetupError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

/// Maps an HTTP status to retryable or permanent, as the OTLP/HTTP specification lists them.
pub fn classify(status: StatusCode, retry_after: Option<Duration>, message: &str) -> ExportError {
    let message = message.to_string();
    match status.as_u16() {
        502..=504 => ExportError::Unavailable { message, retry_after },
        429 => ExportError::Retryable { message, retry_after },
        _ => ExportError::Permanent { message },
    }
}

/// A `Retry-After` value: delay-seconds or an HTTP date, relative to `now`.
pub fn parse_retry_after(value: &HeaderValue, now: SystemTime) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds)).filter(|d| !d.is_zero());
    }
    let at = parse_http_date(text)?;
    at.duration_since(now).ok().filter(|d| !d.is_zero())
}

/// Parses the IMF-fixdate form of an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`), the only one senders
/// may generate.
fn parse_http_date(text: &str) -> Option<SystemTime> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else { return None };
    let day: u64 = day.parse().ok()?;
    let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        .iter()
        .position(|m| m == month)? as u64
        + 1;
    let year: u64 = year.parse().ok()?;
    let hms: Vec<u64> = time.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else { return None };
    if !(1..=31).contains(&day) || year < 1970 || *h > 23 || *m > 59 || *s > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm), March-based years.
    let (y, mo) = if month <= 2 { (year - 1, month + 9) } else { (year, month - 3) };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * mo + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(days * 86_400 + h * 3600 + m * 60 + s))
}

/// A backend's error body, shortened, for the message (`: ...`), or nothing when empty or binary.
fn quote_body(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() || text.contains('\u{fffd}') {
        return String::new();
    }
    let mut quoted: String = text.chars().take(MAX_QUOTED).collect();
    if quoted.len() < text.len() {
        quoted.push('…');
    }
    format!(": {}", quoted.replace('\n', " "))
}

/// An error with its causes, which is where hyper puts "connection refused".
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use std::{convert::Infallible, io::Read, net::SocketAddr};

    use http_body_util::BodyExt;
    use hyper::{body::Incoming, server::conn::http1, service::service_fn, Response};
    use hyper_util::rt::TokioIo;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use prost::Message;
    use tokio::{net::TcpListener, sync::mpsc};

    use super::*;

    fn spans(names: &[&str]) -> Signals {
        let spans = names
            .iter()
            .map(|n| Span { name: n.to_string(), trace_id: vec![1; 16], span_id: vec![2; 8], ..Default::default() })
            .collect();
        Signals {
            spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
                ..Default::default()
            }],
            ..Signals::default()
        }
    }

    /// What the test server saw of one request.
    #[derive(Debug)]
    struct Seen {
        path: String,
        headers: hyper::HeaderMap,
        body: Vec<u8>,
    }

    /// An HTTP server answering every request with `status`, an optional `Retry-After` and `body`.
    async fn server(
        status: u16,
        retry_after: Option<&'static str>,
        body: &'static str,
    ) -> (SocketAddr, mpsc::UnboundedReceiver<Seen>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let tx = tx.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let tx = tx.clone();
                        async move {
                            let path = req.uri().path().to_string();
                            let headers = req.headers().clone();
                            let body_in = req.into_body().collect().await.unwrap().to_bytes().to_vec();
                            let _ = tx.send(Seen { path, headers, body: body_in });
                            let mut response = Response::builder().status(status);
                            if let Some(value) = retry_after {
                                response = response.header(RETRY_AFTER, value);
                            }
                            Ok::<_, Infallible>(response.body(Full::new(Bytes::from_static(body.as_bytes()))).unwrap())
                        }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        (addr, rx)
    }

    fn config(endpoint: String) -> OtlpHttpConfig {
        OtlpHttpConfig { endpoint, ..OtlpHttpConfig::default() }
    }

    fn unwritten() -> WriteFlag {
        WriteFlag::default()
    }

    #[test]
    fn urls_are_built_from_the_base_or_taken_as_given() {
        let mut c = config("https://otlp.example.com:4318/".into());
        c.logs_endpoint = Some("https://logs.example.com/custom/path".into());
        let e = OtlpHttpExporter::new(&c).unwrap();
        assert_eq!(e.url(Signal::Traces).to_string(), "https://otlp.example.com:4318/v1/traces");
        assert_eq!(e.url(Signal::Metrics).to_string(), "https://otlp.example.com:4318/v1/metrics");
        assert_eq!(e.url(Signal::Logs).to_string(), "https://logs.example.com/custom/path");
        let e = OtlpHttpExporter::new(&config("http://collector/otlp".into())).unwrap();
        assert_eq!(e.url(Signal::Traces).to_string(), "http://collector/otlp/v1/traces");
    }

    #[test]
    fn bad_urls_and_headers_name_the_key() {
        let err = OtlpHttpExporter::new(&config("collector:4318".into())).err().unwrap().to_string();
        assert_eq!(err, "endpoint: \"collector:4318/v1/traces\" must start with http:// or https://");
        let mut c = config(String::new());
        c.traces_endpoint = Some("grpc://x".into());
        assert_eq!(
            OtlpHttpExporter::new(&c).err().unwrap().to_string(),
            "traces_endpoint: \"grpc://x\" must start with http:// or https://"
        );
        c.traces_endpoint = Some("http://bad host/".into());
        assert_eq!(
            OtlpHttpExporter::new(&c).err().unwrap().to_string(),
            "traces_endpoint: \"http://bad host/\" is not a valid URL: invalid uri character"
        );
        c.traces_endpoint = Some("http://x/v1/traces".into());
        assert_eq!(OtlpHttpExporter::new(&c).err().unwrap().to_string(), "metrics_endpoint or endpoint is needed");
        let mut c = config("http://x".into());
        c.headers.0.insert("x-api-key".into(), "sec\nret".into());
        let err = OtlpHttpExporter::new(&c).err().unwrap().to_string();
        assert_eq!(err, "headers.x-api-key: the value holds characters not allowed in a header");
        let mut c = config("http://x".into());
        c.headers.0.insert("bad header".into(), "v".into());
        assert_eq!(
            OtlpHttpExporter::new(&c).err().unwrap().to_string(),
            "headers: \"bad header\" is not a valid HTTP header name"
        );
    }

    #[test]
    fn unreadable_or_empty_ca_files_are_reported() {
        let mut c = config("https://x".into());
        c.tls.ca_file = Some("/nonexistent/ca.pem".into());
        assert!(OtlpHttpExporter::new(&c)
            .err()
            .unwrap()
            .to_string()
            .starts_with("tls.ca_file /nonexistent/ca.pem: cannot be read"));
        let path = std::env::temp_dir().join(format!("lambdatel-empty-ca-{}.pem", std::process::id()));
        std::fs::write(&path, "not a certificate").unwrap();
        c.tls.ca_file = Some(path.clone());
        let err = OtlpHttpExporter::new(&c).err().unwrap().to_string();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(err, format!("tls.ca_file {}: holds no PEM certificate", path.display()));
        let mut c = config("https://x".into());
        c.tls.server_name_override = Some("bad name!".into());
        assert_eq!(
            OtlpHttpExporter::new(&c).err().unwrap().to_string(),
            "tls.server_name_override: \"bad name!\" is not a valid server name"
        );
    }

    #[test]
    fn statuses_are_classified_as_the_specification_says() {
        for code in [429, 502, 503, 504] {
            assert!(classify(StatusCode::from_u16(code).unwrap(), None, "m").is_retryable(), "{code}");
        }
        for code in [400, 401, 403, 404, 413, 500, 501] {
            assert!(!classify(StatusCode::from_u16(code).unwrap(), None, "m").is_retryable(), "{code}");
        }
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_770); // Sun, 06 Nov 1994 08:49:30 GMT
        let v = |s: &'static str| parse_retry_after(&HeaderValue::from_static(s), now);
        assert_eq!(v("7"), Some(Duration::from_secs(7)));
        assert_eq!(v("Sun, 06 Nov 1994 08:49:37 GMT"), Some(Duration::from_secs(7)));
        assert_eq!(v("Sun, 06 Nov 1994 08:49:00 GMT"), None, "a date in the past");
        assert_eq!(v("0"), None);
        assert_eq!(v("soon"), None);
        assert_eq!(v("Sun, 06 Foo 1994 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(SystemTime::UNIX_EPOCH));
        assert_eq!(
            parse_http_date("Tue, 29 Feb 2028 12:00:01 GMT"),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_835_438_401))
        );
    }

    #[test]
    fn error_bodies_are_quoted_short_and_binary_ones_left_out() {
        assert_eq!(quote_body(b"  bad spans\n here "), ": bad spans  here");
        assert_eq!(quote_body(b""), "");
        assert_eq!(quote_body(&[0xff, 0xfe, 0x00]), "");
        let long = "x".repeat(500);
        assert_eq!(quote_body(long.as_bytes()), format!(": {}…", "x".repeat(MAX_QUOTED)));
    }

    #[tokio::test]
    async fn posts_gzipped_protobuf_with_headers_to_the_signal_path() {
        let (addr, mut seen) = server(200, None, "").await;
        let mut c = config(format!("http://{addr}"));
        c.headers.0.insert("X-Api-Key".into(), "secret".into());
        let exporter = OtlpHttpExporter::new(&c).unwrap();
        let long = "a span name long enough that the request passes the gzip threshold ".repeat(70);
        exporter.export_once(Signal::Traces, &spans(&[&long, "b"]), &unwritten()).await.unwrap();
        let request = seen.recv().await.unwrap();
        assert_eq!(request.path, "/v1/traces");
        assert_eq!(request.headers["content-type"], "application/x-protobuf");
        assert_eq!(request.headers["content-encoding"], "gzip");
        assert_eq!(request.headers["x-api-key"], "secret");
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(&request.body[..]).read_to_end(&mut raw).unwrap();
        assert!(raw.len() >= super::super::gzip::MIN_GZIP_LEN && request.body.len() < raw.len() / 4);
        let decoded = ExportTraceServiceRequest::decode(&raw[..]).unwrap();
        assert_eq!(decoded.resource_spans, spans(&[&long, "b"]).spans);

        // A short request goes out as it is, without Content-Encoding.
        exporter.export_once(Signal::Traces, &spans(&["a", "b"]), &unwritten()).await.unwrap();
        let request = seen.recv().await.unwrap();
        assert!(request.headers.get("content-encoding").is_none());
        let decoded = ExportTraceServiceRequest::decode(&request.body[..]).unwrap();
        assert_eq!(decoded.resource_spans, spans(&["a", "b"]).spans);
    }

    #[tokio::test]
    async fn posts_plain_json_when_asked() {
        let (addr, mut seen) = server(200, None, "{}").await;
        let mut c = config(format!("http://{addr}"));
        c.encoding = Encoding::Json;
        c.compression = Compression::None;
        let exporter = OtlpHttpExporter::new(&c).unwrap();
        exporter.export_once(Signal::Traces, &spans(&["a"]), &unwritten()).await.unwrap();
        let request = seen.recv().await.unwrap();
        assert_eq!(request.headers["content-type"], "application/json");
        assert!(request.headers.get("content-encoding").is_none());
        let json: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        let span = &json["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(span["name"], "a");
        // OTLP/JSON ids are hex strings, not base64.
        assert_eq!(span["traceId"], "01010101010101010101010101010101");
        assert_eq!(span["spanId"], "0202020202020202");
    }

    #[test]
    fn requests_are_the_bytes_of_the_generated_request_types() {
        use opentelemetry_proto::tonic::{
            collector::{logs::v1::ExportLogsServiceRequest, metrics::v1::ExportMetricsServiceRequest},
            logs::v1::{LogRecord, ResourceLogs, ScopeLogs},
            metrics::v1::{Metric, ResourceMetrics, ScopeMetrics},
        };
        let mut data = spans(&["a", "b"]);
        data.metrics = vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric { name: "m".into(), ..Default::default() }],
                ..Default::default()
            }],
            ..Default::default()
        }];
        data.logs = vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord { severity_number: 9, ..Default::default() }],
                ..Default::default()
            }],
            ..Default::default()
        }];
        let traces = ExportTraceServiceRequest { resource_spans: data.spans.clone() };
        let metrics = ExportMetricsServiceRequest { resource_metrics: data.metrics.clone() };
        let logs = ExportLogsServiceRequest { resource_logs: data.logs.clone() };
        let encode = |kind, encoding| encode_request(kind, &data, encoding, None).unwrap().bytes;
        assert_eq!(encode(Signal::Traces, Encoding::Proto), traces.encode_to_vec());
        assert_eq!(encode(Signal::Metrics, Encoding::Proto), metrics.encode_to_vec());
        assert_eq!(encode(Signal::Logs, Encoding::Proto), logs.encode_to_vec());
        assert_eq!(encode(Signal::Traces, Encoding::Json), serde_json::to_vec(&traces).unwrap());
        assert_eq!(encode(Signal::Metrics, Encoding::Json), serde_json::to_vec(&metrics).unwrap());
        assert_eq!(encode(Signal::Logs, Encoding::Json), serde_json::to_vec(&logs).unwrap());
    }

    #[tokio::test]
    async fn throttling_is_retryable_and_bad_requests_are_not() {
        let (addr, _seen) = server(503, Some("3"), "overloaded").await;
        let exporter = OtlpHttpExporter::new(&config(format!("http://{addr}"))).unwrap();
        let err = exporter.export_once(Signal::Logs, &spans(&["a"]), &unwritten()).await.unwrap_err();
        assert_eq!(
            err,
            ExportError::Unavailable {
                message: format!("POST http://{addr}/v1/logs: 503 Service Unavailable: overloaded"),
                retry_after: Some(Duration::from_secs(3))
            }
        );
        let (addr, _seen) = server(400, None, "bad spans").await;
        let exporter = OtlpHttpExporter::new(&config(format!("http://{addr}"))).unwrap();
        let err = exporter.export_once(Signal::Traces, &spans(&["a"]), &unwritten()).await.unwrap_err();
        assert_eq!(
            err,
            ExportError::Permanent { message: format!("POST http://{addr}/v1/traces: 400 Bad Request: bad spans") }
        );
    }

    #[tokio::test]
    async fn refused_connections_make_the_backend_unreachable() {
        // Port 9 on loopback: nothing listens there.
        let exporter = OtlpHttpExporter::new(&config("http://127.0.0.1:9".into())).unwrap();
        let written = unwritten();
        let err = exporter.export_once(Signal::Traces, &spans(&["a"]), &written).await.unwrap_err();
        assert!(matches!(&err, ExportError::Unreachable { message } if message.contains("refused")), "{err:?}");
        assert!(!written.is_set());
    }

    #[tokio::test]
    async fn a_delivered_request_was_written() {
        let (addr, _seen) = server(200, None, "").await;
        let exporter = OtlpHttpExporter::new(&config(format!("http://{addr}"))).unwrap();
        let written = unwritten();
        exporter.export_once(Signal::Traces, &spans(&["a"]), &written).await.unwrap();
        assert!(written.is_set());
    }

    /// A test CA and a server certificate it signed for `otlp.test` (P-256, valid 2000 to 2100).
    const TEST_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBazCCARGgAwIBAgIBATAKBggqhkjOPQQDAjAcMRowGAYDVQQDDBFsYW1iZGF0
ZWwgdGVzdCBDQTAgFw0wMDAxMDEwMDAwMDBaGA8yMTAwMDEwMTAwMDAwMFowHDEa
MBgGA1UEAwwRbGFtYmRhdGVsIHRlc3QgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMB
BwNCAATQvpJ50I5Lm5BRPQDWmEj8dbDjMaZea5VbHntdr7PStVD0TVm98ravOGL2
X36w9dT/d1NtET4uqwoLpYX63k4po0IwQDAPBgNVHRMBAf8EBTADAQH/MA4GA1Ud
DwEB/wQEAwICBDAdBgNVHQ4EFgQUVioK8xKh6hTe58cS87jHIGE0MP0wCgYIKoZI
zj0EAwIDSAAwRQIgDJ+1xSDFuFGJLRmZr/9+ZNcgorxoEoP1pBbwc67oSvYCIQDL
qTcFTO7AWCUPj/T36qfxwdaaK5BXh41RTnGENw5DIQ==
-----END CERTIFICATE-----\n";
    const TEST_SERVER_CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBmTCCAT+gAwIBAgIBAjAKBggqhkjOPQQDAjAcMRowGAYDVQQDDBFsYW1iZGF0
ZWwgdGVzdCBDQTAgFw0wMDAxMDEwMDAwMDBaGA8yMTAwMDEwMTAwMDAwMFowFDES
MBAGA1UEAwwJb3RscC50ZXN0MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE+gyv
ROnQsc9Sk9R0x3Lz5DcrtQT7bj3T0oa31SCBOe1NuTP5Cbx84hSXBZbAwri5WsXT
eJgmOP5CqXjLPhJ2IKN4MHYwCQYDVR0TBAIwADAUBgNVHREEDTALgglvdGxwLnRl
c3QwEwYDVR0lBAwwCgYIKwYBBQUHAwEwHwYDVR0jBBgwFoAUVioK8xKh6hTe58cS
87jHIGE0MP0wHQYDVR0OBBYEFGx89KEVQYayGtj/W8jCOpJrOEaaMAoGCCqGSM49
BAMCA0gAMEUCIGBQ9D+irzDe1M/q0YG4PGgoAVDXL6h5MoHeFIRg8YRgAiEA40hP
8A2dkhuubGGNS/hA2FwCRKTyiBCjcyiZshTJFns=
-----END CERTIFICATE-----\n";
    const TEST_SERVER_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg10q76Uc0wll1uOLb
+aj7flYvWh8t16DZSsZufbZssuGhRANCAAT6DK9E6dCxz1KT1HTHcvPkNyu1BPtu
PdPShrfVIIE57U25M/kJvHziFJcFlsDCuLlaxdN4mCY4/kKpeMs+EnYg
-----END PRIVATE KEY-----\n";

    /// An HTTPS server presenting the `otlp.test` certificate and answering 200 to everything.
    async fn tls_server() -> SocketAddr {
        use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
        let cert = CertificateDer::from_pem_slice(TEST_SERVER_CERT.as_bytes()).unwrap();
        let key = PrivateKeyDer::from_pem_slice(TEST_SERVER_KEY.as_bytes()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(stream).await else { return };
                    let service = service_fn(|_req: Request<Incoming>| async {
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn https_with_a_private_ca_and_a_server_name_override() {
        let addr = tls_server().await;
        let ca = std::env::temp_dir().join(format!("lambdatel-test-ca-{}.pem", std::process::id()));
        std::fs::write(&ca, TEST_CA).unwrap();
        let mut c = config(format!("https://{addr}"));
        c.tls.server_name_override = Some("otlp.test".into());
        // Without the CA, the certificate is not trusted.
        let exporter = OtlpHttpExporter::new(&c).unwrap();
        let err = exporter.export_once(Signal::Traces, &spans(&["a"]), &unwritten()).await.unwrap_err();
        assert!(err.to_string().contains("invalid peer certificate: UnknownIssuer"), "{err}");
        c.tls.ca_file = Some(ca.clone());
        let exporter = OtlpHttpExporter::new(&c);
        std::fs::remove_file(&ca).unwrap();
        exporter.unwrap().export_once(Signal::Traces, &spans(&["a"]), &unwritten()).await.unwrap();
        // The name checked is the override's, not the address's.
        c.tls.server_name_override = Some("other.test".into());
        std::fs::write(&ca, TEST_CA).unwrap();
        let exporter = OtlpHttpExporter::new(&c);
        std::fs::remove_file(&ca).unwrap();
        let err = exporter.unwrap().export_once(Signal::Traces, &spans(&["a"]), &unwritten()).await.unwrap_err();
        assert!(err.to_string().contains("certificate not valid for name \"other.test\""), "{err}");
    }
}
