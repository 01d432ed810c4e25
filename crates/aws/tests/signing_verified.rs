//! Requests signed by this crate, checked by botocore (fixtures/sigv4_verifier.py) over real HTTP: with
//! environment credentials, with a wrong secret key (403), and with container-endpoint credentials across a
//! refresh.

mod common;

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{header::CONTENT_ENCODING, HeaderMap, Method, Request, Uri};
use lambdatel_aws::{http::HttpClient, sign, Credentials, CredentialsProvider, Env, SigningParams};

const ACCESS_KEY: &str = "AKIDEXAMPLE";
const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const CONTAINER_ACCESS_KEY: &str = "ASIACONTAINEREXAMPLE";
const CONTAINER_SECRET_KEY: &str = "container/Secret+Key";

/// POSTs an OTLP-shaped gzip body signed as `service`, returning the status and the verifier's answer.
async fn post_signed(
    http: &HttpClient,
    url: &str,
    service: &str,
    credentials: &Credentials,
) -> (u16, serde_json::Value) {
    // Any bytes stand for the compressed protobuf: what matters is that they are signed as sent.
    let body = Bytes::from_static(b"\x1f\x8b\x08\x00\xff compressed OTLP as sent");
    let uri: Uri = url.parse().unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("content-type", "application/x-protobuf".parse().unwrap());
    headers.insert(CONTENT_ENCODING, "gzip".parse().unwrap());
    headers.insert("x-aws-log-group", "/aws/lambda/fn".parse().unwrap());
    let params = SigningParams { credentials, region: "us-east-1", service, time: std::time::SystemTime::now() };
    sign(&Method::POST, &uri, &mut headers, &body, &params).unwrap();
    let mut request = Request::builder().method(Method::POST).uri(uri).body(Full::new(body)).unwrap();
    *request.headers_mut() = headers;
    let response = http.send(request, "verifier").await.unwrap();
    (response.status.as_u16(), serde_json::from_slice(&response.body).unwrap())
}

#[tokio::test]
async fn botocore_verifies_env_credentials_and_rejects_a_wrong_secret() {
    if !common::python_ready("botocore_verifies_env_credentials_and_rejects_a_wrong_secret") {
        return;
    }
    let verifier = common::start_fixture("sigv4_verifier.py", &[&format!("{ACCESS_KEY}={SECRET_KEY}")]);
    let http = HttpClient::new(Duration::from_secs(5));
    let env = Env::from_pairs([
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
        ("AWS_SESSION_TOKEN", "tok/en+1"),
    ]);
    let credentials = CredentialsProvider::from_env(&env, http.clone()).credentials().await.unwrap();
    let base = format!("http://127.0.0.1:{}", verifier.port);

    let (status, answer) = post_signed(&http, &format!("{base}/v1/traces"), "xray", &credentials).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["service"], "xray");
    assert_eq!(answer["path"], "/v1/traces");
    assert_eq!(answer["session_token"], "tok/en+1");
    assert_eq!(
        answer["signed_headers"],
        "content-encoding;content-type;host;x-amz-date;x-amz-security-token;x-aws-log-group"
    );
    let (status, answer) = post_signed(&http, &format!("{base}/v1/logs?a=1&b=%2F"), "logs", &credentials).await;
    assert_eq!((status, answer["service"].as_str()), (200, Some("logs")), "{answer}");

    // S3 signs the path as sent (no second encoding) and the payload hash header.
    let uri: Uri = format!("{base}/bucket/dir/with%20space%2B.yaml?versionId=3").parse().unwrap();
    let mut headers = HeaderMap::new();
    let params = SigningParams {
        credentials: &credentials,
        region: "eu-west-1",
        service: "s3",
        time: std::time::SystemTime::now(),
    };
    sign(&Method::GET, &uri, &mut headers, b"", &params).unwrap();
    let mut request = Request::builder().method(Method::GET).uri(uri).body(Full::new(Bytes::new())).unwrap();
    *request.headers_mut() = headers;
    let response = http.send(request, "verifier").await.unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!((response.status.as_u16(), answer["service"].as_str()), (200, Some("s3")), "{answer}");

    let wrong = Credentials::new(ACCESS_KEY, "not-the-secret-key", None);
    let (status, answer) = post_signed(&http, &format!("{base}/v1/traces"), "xray", &wrong).await;
    assert_eq!((status, answer["message"].as_str()), (403, Some("signature mismatch")));
}

#[tokio::test]
async fn container_credentials_are_checked_cached_and_refreshed() {
    if !common::python_ready("container_credentials_are_checked_cached_and_refreshed") {
        return;
    }
    let verifier =
        common::start_fixture("sigv4_verifier.py", &[&format!("{CONTAINER_ACCESS_KEY}={CONTAINER_SECRET_KEY}")]);
    // Credentials that expire 3 s after each answer, refreshed 2 s ahead: cached for about 1 s.
    let endpoint = common::start_fixture(
        "container_credentials.py",
        &["Bearer good-token", CONTAINER_ACCESS_KEY, CONTAINER_SECRET_KEY, "3"],
    );
    let http = HttpClient::new(Duration::from_secs(5));
    let token_file = std::env::temp_dir().join(format!("lambdatel-aws-token-{}", std::process::id()));
    std::fs::write(&token_file, "Bearer good-token\n").unwrap();
    let url = format!("http://127.0.0.1:{}/v2/credentials", endpoint.port);
    let env = Env::from_pairs([
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", url.clone()),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token_file.display().to_string()),
    ]);
    let provider = CredentialsProvider::from_env(&env, http.clone()).with_refresh_margin(Duration::from_secs(2));
    let target = format!("http://127.0.0.1:{}/v1/traces", verifier.port);

    let first = provider.credentials().await.unwrap();
    assert_eq!(first.session_token.as_ref().unwrap().expose(), "session-1");
    assert!(first.expiration.is_some());
    assert_eq!(post_signed(&http, &target, "xray", &first).await.0, 200);
    // Still fresh: served from the cache.
    let cached = provider.credentials().await.unwrap();
    assert_eq!(cached.session_token.as_ref().unwrap().expose(), "session-1");

    tokio::time::sleep(Duration::from_millis(1300)).await;
    let refreshed = provider.credentials().await.unwrap();
    assert_eq!(refreshed.session_token.as_ref().unwrap().expose(), "session-2");
    let (status, answer) = post_signed(&http, &target, "xray", &refreshed).await;
    assert_eq!((status, answer["session_token"].as_str()), (200, Some("session-2")));

    // A SnapStart restore: invalidate, and the next call fetches again.
    provider.invalidate();
    assert_eq!(provider.credentials().await.unwrap().session_token.unwrap().expose(), "session-3");

    // A wrong token is refused by the endpoint, and the error shows neither token nor credentials.
    std::fs::write(&token_file, "Bearer wrong-token").unwrap();
    provider.invalidate();
    let error = provider.credentials().await.unwrap_err().to_string();
    assert_eq!(error, "container credentials endpoint: HTTP 401 InvalidToken: authorization token rejected");
    let direct = Env::from_pairs([
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", url),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer good-token".into()),
    ]);
    let direct = CredentialsProvider::from_env(&direct, http).credentials().await.unwrap();
    assert_eq!(direct.access_key_id, CONTAINER_ACCESS_KEY);
    let printed = format!("{direct:?} {provider:?}");
    for secret in [CONTAINER_ACCESS_KEY, CONTAINER_SECRET_KEY, "session-", "good-token"] {
        assert!(!printed.contains(secret), "{secret} printed: {printed}");
    }
    std::fs::remove_file(&token_file).unwrap();
}
