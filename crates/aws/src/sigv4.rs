//! AWS Signature Version 4 for HTTP requests, header form, as AWS documents it ("Create a signed AWS API
//! request") and its published test suite exercises it.
//!
//! The signature covers the body exactly as it is sent (compressed bodies are signed compressed).

use std::time::SystemTime;

use hmac::{Hmac, Mac};
use hyper::{
    header::{HeaderName, HeaderValue, AUTHORIZATION, HOST},
    HeaderMap, Method, Uri,
};
use sha2::{Digest, Sha256};

use crate::{credentials::Credentials, time::amz_date};

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const X_AMZ_DATE: HeaderName = HeaderName::from_static("x-amz-date");
const X_AMZ_SECURITY_TOKEN: HeaderName = HeaderName::from_static("x-amz-security-token");
const X_AMZ_CONTENT_SHA256: HeaderName = HeaderName::from_static("x-amz-content-sha256");
/// Headers a proxy or the HTTP stack may change on the way; AWS's SDKs leave them unsigned too.
const UNSIGNED_HEADERS: [&str; 4] = ["authorization", "user-agent", "expect", "x-amzn-trace-id"];

/// What a signature is made for: the scope and the moment.
#[derive(Debug, Clone, Copy)]
pub struct SigningParams<'a> {
    /// The credentials signing the request.
    pub credentials: &'a Credentials,
    /// The region of the endpoint, e.g. `us-east-1`.
    pub region: &'a str,
    /// The signing name of the service, e.g. `xray`, `logs`, `s3`.
    pub service: &'a str,
    /// The request time (`X-Amz-Date`); AWS rejects signatures more than 5 minutes off.
    pub time: SystemTime,
}

/// Why a request could not be signed. It never holds credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    /// The URI has no host to sign.
    #[error("the request URI {0:?} has no host")]
    NoHost(String),
    /// A header value is not visible ASCII, which SigV4 cannot canonicalise.
    #[error("header {0} holds bytes that cannot be signed")]
    UnsignableHeader(String),
}

/// Signs a request in place: sets `Host` (when absent), `X-Amz-Date`, `X-Amz-Security-Token` (with session
/// credentials), `X-Amz-Content-SHA256` (for S3, which requires it) and `Authorization`. Every header already
/// present, except the few the HTTP stack may alter, is signed; `body` must be the bytes as sent.
pub fn sign(
    method: &Method,
    uri: &Uri,
    headers: &mut HeaderMap,
    body: &[u8],
    params: &SigningParams<'_>,
) -> Result<(), SigningError> {
    let host = match (uri.host(), uri.port_u16()) {
        (None, _) => return Err(SigningError::NoHost(uri.to_string())),
        // The default port is left out of Host by HTTP clients, so it must be left out of the signature too.
        (Some(host), Some(port)) if !is_default_port(uri.scheme_str(), port) => format!("{host}:{port}"),
        (Some(host), _) => host.to_string(),
    };
    if !headers.contains_key(HOST) {
        headers.insert(HOST, header_value(&host, "host")?);
    }
    let date = amz_date(params.time);
    headers.insert(X_AMZ_DATE, header_value(&date, "x-amz-date")?);
    headers.remove(X_AMZ_SECURITY_TOKEN);
    if let Some(token) = &params.credentials.session_token {
        let mut value = header_value(token.expose(), "x-amz-security-token")?;
        value.set_sensitive(true);
        headers.insert(X_AMZ_SECURITY_TOKEN, value);
    }
    let payload_hash = hex(&Sha256::digest(body));
    if params.service == "s3" {
        headers.insert(X_AMZ_CONTENT_SHA256, header_value(&payload_hash, "x-amz-content-sha256")?);
    }
    let (canonical_headers, signed_headers) = canonical_headers(headers)?;
    let canonical_request = format!(
        "{method}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{payload_hash}",
        canonical_uri(uri.path(), params.service != "s3"),
        canonical_query(uri.query().unwrap_or("")),
    );
    let scope = format!("{}/{}/{}/aws4_request", &date[..8], params.region, params.service);
    let string_to_sign =
        format!("{ALGORITHM}\n{date}\n{scope}\n{}", hex(&Sha256::digest(canonical_request.as_bytes())));
    let key = signing_key(params.credentials.secret_access_key.expose(), &date[..8], params.region, params.service);
    let signature = hex(&hmac(&key, string_to_sign.as_bytes()));
    let authorization = format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        params.credentials.access_key_id
    );
    let mut value = header_value(&authorization, "authorization")?;
    value.set_sensitive(true);
    headers.insert(AUTHORIZATION, value);
    Ok(())
}

fn is_default_port(scheme: Option<&str>, port: u16) -> bool {
    matches!((scheme, port), (Some("https"), 443) | (Some("http"), 80))
}

fn header_value(value: &str, name: &str) -> Result<HeaderValue, SigningError> {
    HeaderValue::from_str(value).map_err(|_| SigningError::UnsignableHeader(name.to_string()))
}

/// Lower-cased names in order, each with its values joined by `,` and inner runs of spaces collapsed.
fn canonical_headers(headers: &HeaderMap) -> Result<(String, String), SigningError> {
    let mut names: Vec<&str> =
        headers.keys().map(HeaderName::as_str).filter(|name| !UNSIGNED_HEADERS.contains(name)).collect();
    names.sort_unstable();
    let mut canonical = String::new();
    for name in &names {
        canonical.push_str(name);
        canonical.push(':');
        for (i, value) in headers.get_all(*name).iter().enumerate() {
            let value = value.to_str().map_err(|_| SigningError::UnsignableHeader(name.to_string()))?;
            if i > 0 {
                canonical.push(',');
            }
            canonical.push_str(&value.split_whitespace().collect::<Vec<_>>().join(" "));
        }
        canonical.push('\n');
    }
    Ok((canonical, names.join(";")))
}

/// The path as sent for S3; for every other service normalised (RFC 3986 dot segments and empty segments
/// removed) and percent-encoded once more.
fn canonical_uri(path: &str, normalize: bool) -> String {
    if !normalize {
        return if path.is_empty() { "/".to_string() } else { path.to_string() };
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut out = String::with_capacity(path.len() + 1);
    for segment in &segments {
        out.push('/');
        percent_encode_into(segment.as_bytes(), &mut out);
    }
    if out.is_empty() || (path.ends_with('/') && !segments.is_empty()) {
        out.push('/');
    }
    out
}

/// Parameters decoded, re-encoded with SigV4's unreserved set, and sorted by name then value.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_encode(&percent_decode(name)), percent_encode(&percent_decode(value)))
        })
        .collect();
    pairs.sort_unstable();
    pairs.iter().map(|(name, value)| format!("{name}={value}")).collect::<Vec<_>>().join("&")
}

/// RFC 3986 encoding with SigV4's unreserved set (`A-Z a-z 0-9 - _ . ~`), for paths and query parts.
pub fn percent_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    percent_encode_into(bytes, &mut out);
    out
}

fn percent_encode_into(bytes: &[u8], out: &mut String) {
    for &byte in bytes {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
}

fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex_digit = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).and_then(|b| hex_digit(*b)), bytes.get(i + 2).and_then(|b| hex_digit(*b))) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

fn signing_key(secret: &str, day: &str, region: &str, service: &str) -> [u8; 32] {
    let key = hmac(format!("AWS4{secret}").as_bytes(), day.as_bytes());
    let key = hmac(&key, region.as_bytes());
    let key = hmac(&key, service.as_bytes());
    hmac(&key, b"aws4_request")
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 15)] as char);
    }
    out
}

/// The signing name of the service behind an AWS endpoint host: `xray.us-east-1.amazonaws.com` -> `xray`,
/// `logs.eu-west-1.amazonaws.com` -> `logs`, `bucket.s3.us-east-1.amazonaws.com` -> `s3`. `None` when the
/// host is not an AWS endpoint (a local fake, a proxy): the service must then be configured.
pub fn service_from_host(host: &str) -> Option<&'static str> {
    let labels = aws_labels(host)?;
    if labels.iter().any(|label| *label == "s3" || label.starts_with("s3-")) {
        return Some("s3");
    }
    let endpoint_prefix = *labels.first()?;
    let endpoint_prefix = endpoint_prefix.strip_suffix("-fips").unwrap_or(endpoint_prefix);
    // Endpoint prefixes that differ from the signing name.
    Some(match endpoint_prefix {
        "aps-workspaces" => "aps",
        "email" => "ses",
        "data-ats.iot" | "data.iot" => "iotdata",
        other => KNOWN_SERVICES.iter().find(|known| **known == other)?,
    })
}

/// Services whose endpoint prefix is their signing name, and which a telemetry pipeline or its config may
/// reach.
const KNOWN_SERVICES: [&str; 14] = [
    "xray",
    "logs",
    "monitoring",
    "secretsmanager",
    "ssm",
    "sts",
    "firehose",
    "kinesis",
    "lambda",
    "es",
    "aoss",
    "sqs",
    "sns",
    "events",
];

/// The region named by an AWS endpoint host (`xray.us-east-1.amazonaws.com` -> `us-east-1`), if any.
pub fn region_from_host(host: &str) -> Option<&str> {
    let labels = aws_labels(host)?;
    labels.iter().rev().copied().find(|label| looks_like_region(label))
}

fn looks_like_region(label: &str) -> bool {
    let parts: Vec<&str> = label.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1].iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

/// The labels of an AWS endpoint host before its `amazonaws.com` (or `.com.cn`) suffix.
fn aws_labels(host: &str) -> Option<Vec<&str>> {
    let host = host.trim_end_matches('.');
    let stem = host.strip_suffix(".amazonaws.com").or_else(|| host.strip_suffix(".amazonaws.com.cn"))?;
    Some(stem.split('.').collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_and_region_from_endpoint_hosts() {
        let cases = [
            ("xray.us-east-1.amazonaws.com", Some("xray"), Some("us-east-1")),
            ("logs.eu-west-1.amazonaws.com", Some("logs"), Some("eu-west-1")),
            ("monitoring.ap-southeast-2.amazonaws.com", Some("monitoring"), Some("ap-southeast-2")),
            ("bucket.s3.us-west-2.amazonaws.com", Some("s3"), Some("us-west-2")),
            ("s3.amazonaws.com", Some("s3"), None),
            ("aps-workspaces.us-east-1.amazonaws.com", Some("aps"), Some("us-east-1")),
            ("xray-fips.us-gov-west-1.amazonaws.com", Some("xray"), Some("us-gov-west-1")),
            ("logs.cn-north-1.amazonaws.com.cn", Some("logs"), Some("cn-north-1")),
            ("secretsmanager.us-east-1.amazonaws.com", Some("secretsmanager"), Some("us-east-1")),
            ("otlp.example.com", None, None),
            ("localhost", None, None),
            ("unknownservice.us-east-1.amazonaws.com", None, Some("us-east-1")),
        ];
        for (host, service, region) in cases {
            assert_eq!(service_from_host(host), service, "{host}");
            assert_eq!(region_from_host(host), region, "{host}");
        }
    }

    #[test]
    fn canonical_query_sorts_and_reencodes() {
        assert_eq!(canonical_query("b=2&a=1&a=0"), "a=0&a=1&b=2");
        assert_eq!(canonical_query("k=a%20b&x=%7e&flag"), "flag=&k=a%20b&x=~");
        assert_eq!(canonical_query(""), "");
    }

    #[test]
    fn canonical_uri_normalises_and_encodes_twice_except_for_s3() {
        assert_eq!(canonical_uri("/a%20b/c", true), "/a%2520b/c");
        assert_eq!(canonical_uri("/a%20b/c", false), "/a%20b/c");
        assert_eq!(canonical_uri("", true), "/");
        assert_eq!(canonical_uri("/a/./b/../c//d/", true), "/a/c/d/");
        assert_eq!(canonical_uri("/a/./b//", false), "/a/./b//");
    }
}
