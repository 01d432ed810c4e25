//! Why an exporter cannot be built from its settings. Each message names the key at fault and never a
//! header's value, which is a secret as often as not.

use std::path::PathBuf;

/// An exporter's settings that cannot make an exporter (found before any network use).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    /// `endpoint:` is empty.
    #[error("endpoint is empty")]
    EmptyEndpoint,
    /// A gRPC endpoint with a scheme other than `http://` or `https://`.
    #[error("endpoint {0:?}: only http:// and https:// are supported")]
    UnsupportedScheme(String),
    /// A gRPC endpoint that is not a URL.
    #[error("endpoint {endpoint:?} is not a valid URL: {reason}")]
    InvalidEndpoint {
        /// The endpoint as written.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Neither a signal's own endpoint nor `endpoint` is set.
    #[error("{0} or endpoint is needed")]
    MissingEndpoint(&'static str),
    /// An OTLP/HTTP URL without `http://` or `https://`.
    #[error("{key}: {text:?} must start with http:// or https://")]
    UrlScheme {
        /// The key the URL comes from.
        key: &'static str,
        /// The URL.
        text: String,
    },
    /// An OTLP/HTTP URL that does not parse.
    #[error("{key}: {text:?} is not a valid URL: {reason}")]
    InvalidUrl {
        /// The key the URL comes from.
        key: &'static str,
        /// The URL.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An OTLP/HTTP URL without a host.
    #[error("{key}: {text:?} has no host")]
    NoHost {
        /// The key the URL comes from.
        key: &'static str,
        /// The URL.
        text: String,
    },
    /// A `headers:` key that is not a header (or gRPC metadata) name.
    #[error("headers: {name:?} is not a valid {kind} name")]
    HeaderName {
        /// The key as written.
        name: String,
        /// `HTTP header` or `gRPC metadata`.
        kind: &'static str,
    },
    /// A `headers:` value with characters a header cannot carry.
    #[error("headers.{0}: the value holds characters not allowed in a header")]
    HeaderValue(String),
    /// `tls.ca_file` cannot be used.
    #[error("tls.ca_file {}: {reason}", path.display())]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why not.
        reason: String,
    },
    /// The TLS settings are refused.
    #[error("tls: {0}")]
    Tls(String),
    /// `tls.server_name_override` is not a server name.
    #[error("tls.server_name_override: {0:?} is not a valid server name")]
    ServerName(String),
    /// An authenticator that cannot sign requests to any of the exporter's URLs.
    #[error("{0}")]
    Auth(String),
    /// An authenticator's header that gRPC metadata cannot carry.
    #[error("{0} is not valid gRPC metadata")]
    AuthMetadataName(String),
    /// An authenticator's header value that gRPC metadata cannot carry.
    #[error("the value of {0} is not valid gRPC metadata")]
    AuthMetadataValue(String),
    /// An authenticator attached after the exporter was shared.
    #[error("the exporter is already in use")]
    InUse,
    /// `sigv4auth` on the gRPC exporter.
    #[error("sigv4auth signs OTLP/HTTP requests: use the otlphttp exporter")]
    SigV4NeedsHttp,
    /// An authenticator on an exporter that sends no requests.
    #[error("this exporter sends nothing to authenticate")]
    NothingToAuthenticate,
}
