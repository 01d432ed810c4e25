//! Where a config comes from: `s3://bucket/key` and `s3://bucket.s3.region.amazonaws.com/key`,
//! `https://...` / `http://...`, `env:VAR_NAME` (the whole YAML in a variable), `file:path` and plain paths:
//! the forms of `LAMBDATEL_CONFIG` and the OpenTelemetry Lambda layer's `OPENTELEMETRY_COLLECTOR_CONFIG_URI`.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Uri};

use crate::{client::AwsClient, env::Env, sigv4::region_from_host, AwsError};

/// A config's text and where it came from, for the start-up line.
#[derive(Clone, PartialEq, Eq)]
pub struct ConfigText {
    /// The YAML.
    pub text: String,
    /// A human-readable description of the source (no credentials, no query string).
    pub source: String,
}

// The text may hold literal secrets: Debug shows its size only.
impl std::fmt::Debug for ConfigText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigText").field("source", &self.source).field("bytes", &self.text.len()).finish()
    }
}

/// Why a config could not be read. It names the source, never the content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigSourceError {
    /// The location is empty.
    #[error("the config location is empty")]
    Empty,
    /// A URI scheme that is not supported.
    #[error("{location}: unsupported scheme (use a path, file:, env:, s3://, http:// or https://)")]
    UnsupportedScheme {
        /// The location as given.
        location: String,
    },
    /// An `http(s)://` location that is not a valid URL.
    #[error("{location}: not a valid URL")]
    BadUrl {
        /// The location, without its query.
        location: String,
    },
    /// An `s3://` location without bucket or key.
    #[error("{location}: expected s3://bucket/key or s3://bucket.s3.region.amazonaws.com/key")]
    BadS3Location {
        /// The location as given.
        location: String,
    },
    /// The file cannot be read.
    #[error("file {path}: {message}")]
    File {
        /// The path.
        path: String,
        /// The I/O error.
        message: String,
    },
    /// `env:NAME` names an unset or empty variable.
    #[error("environment variable {name} is not set or empty")]
    EnvUnset {
        /// The variable.
        name: String,
    },
    /// An HTTP(S) server answered with an error status.
    #[error("{location}: HTTP {status}")]
    HttpStatus {
        /// The described source.
        location: String,
        /// The status.
        status: u16,
    },
    /// The content is not UTF-8.
    #[error("{location}: the config is not UTF-8 text")]
    NotUtf8 {
        /// The described source.
        location: String,
    },
    /// An AWS or transport failure.
    #[error(transparent)]
    Aws(#[from] AwsError),
}

/// The variables that name a config, in the order they are read: lambdatel's own, then the OpenTelemetry
/// Lambda layer's current and older one.
pub const CONFIG_VARIABLES: [&str; 3] =
    ["LAMBDATEL_CONFIG", "OPENTELEMETRY_COLLECTOR_CONFIG_URI", "OPENTELEMETRY_COLLECTOR_CONFIG_FILE"];

/// The first of [`CONFIG_VARIABLES`] that is set, with its value: (variable, location).
pub fn config_location(env: &Env) -> Option<(&'static str, &str)> {
    CONFIG_VARIABLES
        .iter()
        .find_map(|variable| Some((*variable, env.get(variable)?.trim())).filter(|(_, v)| !v.is_empty()))
}

/// Reads a config from `location`. `env:` reads the client's environment snapshot; `s3://` signs with its
/// credentials; `http(s)://` is a plain GET over the same connection pool.
pub async fn fetch_config(location: &str, client: &AwsClient) -> Result<ConfigText, ConfigSourceError> {
    let location = location.trim();
    if location.is_empty() {
        return Err(ConfigSourceError::Empty);
    }
    if let Some(rest) = location.strip_prefix("s3://") {
        let (bucket, key, region) =
            parse_s3(rest).ok_or_else(|| ConfigSourceError::BadS3Location { location: location.into() })?;
        let source = match region {
            Some(region) => format!("S3 object s3://{bucket}/{key} ({region})"),
            None => format!("S3 object s3://{bucket}/{key}"),
        };
        let body = client.get_object(bucket, key, region).await?;
        return text(body, source);
    }
    if location.starts_with("https://") || location.starts_with("http://") {
        return fetch_http(location, client).await;
    }
    if let Some(name) = location.strip_prefix("env:") {
        let source = format!("environment variable {name}");
        let value = client.env.get(name).ok_or_else(|| ConfigSourceError::EnvUnset { name: name.into() })?;
        return Ok(ConfigText { text: value.to_string(), source });
    }
    let path = match location.strip_prefix("file:") {
        Some(path) => path.strip_prefix("//").unwrap_or(path),
        None if has_scheme(location) => {
            return Err(ConfigSourceError::UnsupportedScheme { location: describe_url(location) })
        }
        None => location,
    };
    // A blocking read: a local config is small, read once at start-up, and tokio's fs would cost binary size.
    let bytes =
        std::fs::read(path).map_err(|e| ConfigSourceError::File { path: path.into(), message: e.to_string() })?;
    text(Bytes::from(bytes), format!("file {path}"))
}

/// `scheme:` followed by something, where the scheme is a URI scheme (a Windows-free world: a path never
/// has one).
fn has_scheme(location: &str) -> bool {
    location.split_once(':').is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && scheme.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
            && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
            && !scheme.contains('/')
    })
}

/// (bucket, key, region) of `bucket/key` or `bucket.s3.region.amazonaws.com/key`.
fn parse_s3(rest: &str) -> Option<(&str, &str, Option<&str>)> {
    let (authority, key) = rest.split_once('/')?;
    if key.is_empty() || authority.is_empty() {
        return None;
    }
    if authority.ends_with(".amazonaws.com") || authority.ends_with(".amazonaws.com.cn") {
        let at = authority.rfind(".s3.").or_else(|| authority.rfind(".s3-"))?;
        let bucket = &authority[..at];
        return (!bucket.is_empty()).then_some((bucket, key, region_from_host(authority)));
    }
    Some((authority, key, None))
}

async fn fetch_http(location: &str, client: &AwsClient) -> Result<ConfigText, ConfigSourceError> {
    let uri: Uri = location.parse().map_err(|_| ConfigSourceError::BadUrl { location: describe_url(location) })?;
    // A presigned URL's query is a credential: it stays out of the description.
    let source = describe_url(location);
    let request = Request::builder()
        .method(Method::GET)
        .uri(uri)
        .body(Full::new(Bytes::new()))
        .map_err(|e| AwsError::Malformed { call: source.clone(), message: e.to_string() })?;
    let response = client.http.send(request, &source).await?;
    if !response.status.is_success() {
        return Err(ConfigSourceError::HttpStatus { location: source, status: response.status.as_u16() });
    }
    text(response.body, source)
}

/// The URL without its query, fragment and user info.
fn describe_url(location: &str) -> String {
    let without_query = location.split(['?', '#']).next().unwrap_or_default();
    match without_query.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
            let host = authority.rsplit('@').next().unwrap_or(authority);
            if path.is_empty() {
                format!("{scheme}://{host}")
            } else {
                format!("{scheme}://{host}/{path}")
            }
        }
        None => without_query.to_string(),
    }
}

fn text(body: Bytes, source: String) -> Result<ConfigText, ConfigSourceError> {
    match String::from_utf8(body.to_vec()) {
        Ok(text) => Ok(ConfigText { text, source }),
        Err(_) => Err(ConfigSourceError::NotUtf8 { location: source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_variables_in_order() {
        let all = Env::from_pairs([
            ("OPENTELEMETRY_COLLECTOR_CONFIG_FILE", "/opt/old.yaml"),
            ("OPENTELEMETRY_COLLECTOR_CONFIG_URI", "s3://b.s3.eu-west-1.amazonaws.com/c.yaml"),
            ("LAMBDATEL_CONFIG", "env:YAML"),
        ]);
        assert_eq!(config_location(&all), Some(("LAMBDATEL_CONFIG", "env:YAML")));
        let layer = Env::from_pairs([
            ("OPENTELEMETRY_COLLECTOR_CONFIG_FILE", "/opt/old.yaml"),
            ("OPENTELEMETRY_COLLECTOR_CONFIG_URI", " s3://b/c.yaml "),
            ("LAMBDATEL_CONFIG", ""),
        ]);
        assert_eq!(config_location(&layer), Some(("OPENTELEMETRY_COLLECTOR_CONFIG_URI", "s3://b/c.yaml")));
        let old = Env::from_pairs([("OPENTELEMETRY_COLLECTOR_CONFIG_FILE", "/opt/old.yaml")]);
        assert_eq!(config_location(&old), Some(("OPENTELEMETRY_COLLECTOR_CONFIG_FILE", "/opt/old.yaml")));
        assert_eq!(config_location(&Env::default()), None);
    }

    #[test]
    fn s3_locations() {
        assert_eq!(parse_s3("bucket/dir/config.yaml"), Some(("bucket", "dir/config.yaml", None)));
        assert_eq!(
            parse_s3("my.bucket.s3.eu-west-1.amazonaws.com/config.yaml"),
            Some(("my.bucket", "config.yaml", Some("eu-west-1")))
        );
        assert_eq!(parse_s3("bucket.s3.amazonaws.com/k"), Some(("bucket", "k", None)));
        assert_eq!(parse_s3("bucket/"), None);
        assert_eq!(parse_s3("bucket"), None);
        assert_eq!(parse_s3("/key"), None);
    }

    #[test]
    fn url_descriptions_drop_credentials() {
        assert_eq!(describe_url("https://user:pw@host:8443/a/b?X-Amz-Signature=abc#f"), "https://host:8443/a/b");
        assert_eq!(describe_url("http://host"), "http://host");
    }

    #[tokio::test]
    async fn env_file_and_errors() {
        let dir = std::env::temp_dir().join(format!("lambdatel-aws-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.yaml");
        std::fs::write(&path, "receivers: {}\n").unwrap();
        let client = AwsClient::from_env(Env::from_pairs([("WHOLE_CONFIG", "exporters: {}\n")]));
        let from_env = fetch_config("env:WHOLE_CONFIG", &client).await.unwrap();
        assert_eq!(
            (from_env.text.as_str(), from_env.source.as_str()),
            ("exporters: {}\n", "environment variable WHOLE_CONFIG")
        );
        let path_text = path.display().to_string();
        for location in [path_text.clone(), format!("file:{path_text}"), format!("file://{path_text}")] {
            let read = fetch_config(&location, &client).await.unwrap();
            assert_eq!((read.text.as_str(), read.source), ("receivers: {}\n", format!("file {path_text}")));
        }
        let error = |location: &'static str| {
            let client = client.clone();
            async move { fetch_config(location, &client).await.unwrap_err().to_string() }
        };
        assert_eq!(error("env:NOT_SET").await, "environment variable NOT_SET is not set or empty");
        assert_eq!(error("https://bad host/x?token=1").await, "https://bad host/x: not a valid URL");
        assert_eq!(error("  ").await, "the config location is empty");
        assert_eq!(
            error("ftp://host/config.yaml").await,
            "ftp://host/config.yaml: unsupported scheme (use a path, file:, env:, s3://, http:// or https://)"
        );
        assert_eq!(
            error("s3://bucket").await,
            "s3://bucket: expected s3://bucket/key or s3://bucket.s3.region.amazonaws.com/key"
        );
        assert_eq!(
            error("/nonexistent/lambdatel.yaml").await,
            "file /nonexistent/lambdatel.yaml: No such file or directory (os error 2)"
        );
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert_eq!(
            fetch_config(&path_text, &client).await.unwrap_err().to_string(),
            format!("file {path_text}: the config is not UTF-8 text")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
