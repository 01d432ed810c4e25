//! The signed-call plumbing shared by the Secrets Manager, SSM, S3 and STS clients.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::Poll,
    time::{Duration, SystemTime},
};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{header::HeaderName, HeaderMap, Method, Request, Uri};

use crate::{
    credentials::{Credentials, CredentialsProvider},
    endpoints::{self, Endpoint, Service},
    env::Env,
    http::{HttpClient, Response},
    sigv4::{self, SigningParams},
    AwsError,
};

/// Default bound of one AWS call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A client of the AWS APIs this crate uses, for one process: the environment (region, endpoint
/// overrides), the credentials and the connection pool. Cloning shares all three.
#[derive(Clone, Debug)]
pub struct AwsClient {
    pub(crate) http: HttpClient,
    pub(crate) credentials: CredentialsProvider,
    pub(crate) env: Arc<Env>,
}

impl AwsClient {
    /// A client with the credentials `env` describes.
    pub fn from_env(env: Env) -> Self {
        let http = HttpClient::new(DEFAULT_TIMEOUT);
        let credentials = CredentialsProvider::from_env(&env, http.clone());
        AwsClient { http, credentials, env: Arc::new(env) }
    }

    /// A client with its parts given (a shared pool, role credentials).
    pub fn new(env: Env, http: HttpClient, credentials: CredentialsProvider) -> Self {
        AwsClient { http, credentials, env: Arc::new(env) }
    }

    /// The credentials this client signs with.
    pub fn credentials(&self) -> &CredentialsProvider {
        &self.credentials
    }

    /// The HTTP client.
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// The function's region (`AWS_REGION`), if set.
    pub fn region(&self) -> Option<&str> {
        self.env.region()
    }

    pub(crate) fn endpoint(&self, service: Service, region: &str) -> Result<Endpoint, AwsError> {
        endpoints::resolve(&self.env, service, region)
    }

    /// Signs and sends one call; a non-2xx answer becomes [`AwsError::Service`].
    pub(crate) async fn call(&self, call: &SignedCall<'_>) -> Result<Response, AwsError> {
        let credentials = self.credentials.credentials().await?;
        send_signed(&self.http, &credentials, call).await
    }
}

/// One request to sign: which service and region sign it, and what is sent.
pub(crate) struct SignedCall<'a> {
    pub name: &'a str,
    pub service: Service,
    pub region: &'a str,
    pub method: Method,
    pub uri: Uri,
    pub headers: Vec<(HeaderName, String)>,
    pub body: Bytes,
}

impl SignedCall<'_> {
    /// An AWS JSON 1.1 protocol call (`X-Amz-Target`), as Secrets Manager and SSM speak it.
    pub(crate) fn json<'a>(
        name: &'a str,
        service: Service,
        region: &'a str,
        endpoint: &Endpoint,
        target: &str,
        body: Vec<u8>,
    ) -> Result<SignedCall<'a>, AwsError> {
        Ok(SignedCall {
            name,
            service,
            region,
            method: Method::POST,
            uri: parse_uri(&format!("{}/", endpoint.base), name)?,
            headers: vec![
                (HeaderName::from_static("x-amz-target"), target.to_string()),
                (hyper::header::CONTENT_TYPE, "application/x-amz-json-1.1".to_string()),
            ],
            body: Bytes::from(body),
        })
    }
}

pub(crate) fn parse_uri(text: &str, call: &str) -> Result<Uri, AwsError> {
    text.parse()
        .map_err(|_| AwsError::Malformed { call: call.to_string(), message: format!("{text:?} is not a valid URL") })
}

pub(crate) async fn send_signed(
    http: &HttpClient,
    credentials: &Credentials,
    call: &SignedCall<'_>,
) -> Result<Response, AwsError> {
    let mut headers = HeaderMap::new();
    for (name, value) in &call.headers {
        let value = value.parse().map_err(|_| AwsError::Malformed {
            call: call.name.to_string(),
            message: format!("header {name} cannot hold the value"),
        })?;
        headers.insert(name.clone(), value);
    }
    let params = SigningParams {
        credentials,
        region: call.region,
        service: call.service.signing_name(),
        time: SystemTime::now(),
    };
    sigv4::sign(&call.method, &call.uri, &mut headers, &call.body, &params)?;
    let mut request = Request::builder()
        .method(call.method.clone())
        .uri(call.uri.clone())
        .body(Full::new(call.body.clone()))
        .map_err(|e| AwsError::Malformed { call: call.name.to_string(), message: e.to_string() })?;
    *request.headers_mut() = headers;
    let response = http.send(request, call.name).await?;
    if !response.status.is_success() {
        return Err(crate::error::service_error(call.name, response.status.as_u16(), &response.body));
    }
    Ok(response)
}

/// A future this crate runs concurrently with others of the same call.
pub(crate) type Concurrent<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs `futures` concurrently on the current task and returns their outputs in order. Polling them in place
/// rather than spawning tasks keeps borrowing simple and adds no task types to the binary; every pending one
/// is polled on each wake-up, which is nothing for the few calls of a start-up.
pub(crate) async fn join_all<T>(futures: Vec<Concurrent<'_, T>>) -> Vec<T> {
    let mut futures: Vec<Option<Concurrent<'_, T>>> = futures.into_iter().map(Some).collect();
    let mut outputs: Vec<Option<T>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if let Some(future) = slot {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => {
                        *output = Some(value);
                        *slot = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(|output| output.expect("every future completed")).collect()
}

/// The region of an ARN (`arn:partition:service:region:account:...`), if it names one.
pub(crate) fn arn_region(id: &str) -> Option<&str> {
    let mut parts = id.strip_prefix("arn:")?.split(':');
    let region = parts.nth(2)?;
    (!region.is_empty()).then_some(region)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_holds_no_credential() {
        let client = AwsClient::from_env(Env::from_pairs([
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI"),
            ("AWS_SESSION_TOKEN", "SESSIONTOKEN"),
        ]));
        let printed = format!("{client:?}");
        for secret in ["AKIDEXAMPLE\"", "wJalrXUtnFEMI", "SESSIONTOKEN"] {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn join_all_runs_concurrently_and_keeps_order() {
        let started = tokio::time::Instant::now();
        let delayed = |ms: u64, value: u32| -> Concurrent<'static, u32> {
            Box::pin(async move {
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                value
            })
        };
        let outputs = join_all(vec![delayed(30, 1), delayed(10, 2), delayed(20, 3)]).await;
        assert_eq!(outputs, [1, 2, 3]);
        assert_eq!(started.elapsed(), std::time::Duration::from_millis(30));
        assert_eq!(join_all(Vec::<Concurrent<'static, u32>>::new()).await, Vec::<u32>::new());
    }

    #[test]
    fn regions_of_arns() {
        assert_eq!(arn_region("arn:aws:secretsmanager:eu-west-1:123456789012:secret:x"), Some("eu-west-1"));
        assert_eq!(arn_region("arn:aws:iam::123456789012:role/r"), None);
        assert_eq!(arn_region("plain/name"), None);
    }
}
