//! AWS credentials: the execution role's environment variables, else the container credentials endpoint
//! (SnapStart, Lambda Managed Instances), optionally exchanged for a role's through STS AssumeRole. Fetched
//! credentials are cached and refreshed ahead of their expiration.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{header::AUTHORIZATION, Method, Request, Uri};
use serde::Deserialize;

use crate::{env::Env, http::HttpClient, secret::Secret, time::parse_iso8601, AwsError};

/// One set of AWS credentials. `Debug` shows none of it but whether a session token and an expiration exist.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The access key id (not secret by AWS's rules, but it identifies the account: kept out of output too).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: Secret,
    /// The session token of temporary credentials.
    pub session_token: Option<Secret>,
    /// When temporary credentials stop working.
    pub expiration: Option<SystemTime>,
}

impl Credentials {
    /// Long-lived or externally managed credentials.
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
    ) -> Self {
        Credentials {
            access_key_id: access_key_id.into(),
            secret_access_key: Secret::new(secret_access_key),
            session_token: session_token.map(Secret::new),
            expiration: None,
        }
    }

    fn fresh_at(&self, now: SystemTime, margin: Duration) -> bool {
        self.expiration.is_none_or(|expiration| now + margin < expiration)
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &"<redacted>")
            .field("secret_access_key", &self.secret_access_key)
            .field("session_token", &self.session_token.as_ref().map(|_| "<redacted>"))
            .field("expiration", &self.expiration)
            .finish()
    }
}

/// The `assume_role` settings of `sigv4auth`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AssumeRoleConfig {
    /// The role to assume.
    pub arn: String,
    /// The region of the STS endpoint; the function's region when empty.
    pub sts_region: Option<String>,
    /// The role session name; `lambdatel` when empty.
    pub session_name: Option<String>,
}

/// Where base credentials come from, decided from the environment.
#[derive(Clone)]
enum BaseSource {
    Static(Credentials),
    Container { uri: Uri, token: ContainerToken },
    Missing,
}

#[derive(Clone)]
enum ContainerToken {
    None,
    Value(Secret),
    /// Re-read at every fetch: the platform rotates it.
    File(PathBuf),
}

impl BaseSource {
    fn from_env(env: &Env) -> Result<Self, AwsError> {
        if let (Some(id), Some(secret)) = (env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")) {
            return Ok(BaseSource::Static(Credentials::new(
                id,
                secret,
                env.get("AWS_SESSION_TOKEN").map(str::to_string),
            )));
        }
        let uri =
            match (env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI"), env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")) {
                (Some(full), _) => container_uri("AWS_CONTAINER_CREDENTIALS_FULL_URI", full)?,
                (None, Some(relative)) => container_uri(
                    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                    &format!("http://169.254.170.2/{}", relative.trim_start_matches('/')),
                )?,
                (None, None) => return Ok(BaseSource::Missing),
            };
        let token =
            match (env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"), env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN")) {
                (Some(file), _) => ContainerToken::File(PathBuf::from(file)),
                (None, Some(token)) => ContainerToken::Value(Secret::new(token)),
                (None, None) => ContainerToken::None,
            };
        Ok(BaseSource::Container { uri, token })
    }
}

/// The container endpoint must be HTTPS or a local address: credentials never cross a network in clear.
fn container_uri(variable: &str, text: &str) -> Result<Uri, AwsError> {
    let invalid = |message: &str| AwsError::Endpoint { variable: variable.to_string(), message: message.to_string() };
    let uri: Uri = text.trim().parse().map_err(|_| invalid("not a URL"))?;
    let host = uri.host().ok_or_else(|| invalid("the URL has no host"))?;
    let local = matches!(host, "localhost" | "169.254.170.2" | "169.254.170.23" | "[fd00:ec2::23]" | "[::1]")
        || host.starts_with("127.");
    match uri.scheme_str() {
        Some("https") => Ok(uri),
        Some("http") if local => Ok(uri),
        Some("http") => Err(invalid("plain http is allowed only to a loopback or the container credentials address")),
        _ => Err(invalid("must be an http:// or https:// URL")),
    }
}

/// Credentials with their cache, shared by every signer and client of the process. Cloning shares the cache.
#[derive(Clone)]
pub struct CredentialsProvider {
    inner: Arc<Inner>,
    refresh_margin: Duration,
}

struct Inner {
    source: Mutex<Result<BaseSource, AwsError>>,
    assume_role: Option<AssumeRole>,
    http: HttpClient,
    base: Cache,
    assumed: Cache,
}

struct AssumeRole {
    config: AssumeRoleConfig,
    env: Env,
    default_region: Option<String>,
}

/// Default time before expiration at which credentials are refreshed, as AWS's SDKs do it.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

impl CredentialsProvider {
    /// Credentials as `env` describes them; nothing is fetched until [`credentials`](Self::credentials).
    /// A misconfigured source is reported by every call.
    pub fn from_env(env: &Env, http: HttpClient) -> Self {
        Self::build(env, http, None)
    }

    /// Credentials of the role `config.arn`, assumed with the credentials `env` describes.
    pub fn assuming_role(env: &Env, http: HttpClient, config: AssumeRoleConfig) -> Self {
        let assume_role = AssumeRole { config, env: env.clone(), default_region: env.region().map(str::to_string) };
        Self::build(env, http, Some(assume_role))
    }

    fn build(env: &Env, http: HttpClient, assume_role: Option<AssumeRole>) -> Self {
        CredentialsProvider {
            inner: Arc::new(Inner {
                source: Mutex::new(BaseSource::from_env(env)),
                assume_role,
                http,
                base: Cache::default(),
                assumed: Cache::default(),
            }),
            refresh_margin: DEFAULT_REFRESH_MARGIN,
        }
    }

    /// This handle refreshes `margin` before expiration instead of [`DEFAULT_REFRESH_MARGIN`] (the cache stays
    /// shared with its clones).
    pub fn with_refresh_margin(self, margin: Duration) -> Self {
        CredentialsProvider { refresh_margin: margin, ..self }
    }

    /// Current credentials, from the cache while they are fresh. Concurrent callers share one fetch.
    pub async fn credentials(&self) -> Result<Credentials, AwsError> {
        let inner = &self.inner;
        let base = inner.base.get(self.refresh_margin, || self.fetch_base()).await?;
        match &inner.assume_role {
            None => Ok(base),
            Some(role) => {
                inner
                    .assumed
                    .get(self.refresh_margin, || crate::sts::assume_role(&inner.http, role_args(role), base))
                    .await
            }
        }
    }

    /// Forgets cached credentials; the next call fetches new ones.
    pub fn invalidate(&self) {
        self.inner.base.clear();
        self.inner.assumed.clear();
    }

    /// Re-reads the credential variables from `env` and forgets cached credentials: after a SnapStart
    /// restore, the snapshot's credentials belong to another environment.
    pub fn reload(&self, env: &Env) {
        *self.inner.source.lock().unwrap_or_else(|e| e.into_inner()) = BaseSource::from_env(env);
        self.invalidate();
    }

    async fn fetch_base(&self) -> Result<Credentials, AwsError> {
        let source = self.inner.source.lock().unwrap_or_else(|e| e.into_inner()).clone()?;
        match source {
            BaseSource::Static(credentials) => Ok(credentials),
            BaseSource::Container { uri, token } => fetch_container(&self.inner.http, &uri, &token).await,
            BaseSource::Missing => Err(AwsError::NoCredentials(
                "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_CONTAINER_CREDENTIALS_FULL_URI".into(),
            )),
        }
    }
}

impl std::fmt::Debug for CredentialsProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = match &*self.inner.source.lock().unwrap_or_else(|e| e.into_inner()) {
            Ok(BaseSource::Static(_)) => "environment",
            Ok(BaseSource::Container { .. }) => "container endpoint",
            Ok(BaseSource::Missing) => "none",
            Err(_) => "invalid",
        };
        f.debug_struct("CredentialsProvider")
            .field("source", &source)
            .field("assume_role", &self.inner.assume_role.as_ref().map(|r| &r.config.arn))
            .finish()
    }
}

fn role_args(role: &AssumeRole) -> crate::sts::AssumeRoleArgs<'_> {
    crate::sts::AssumeRoleArgs {
        env: &role.env,
        role_arn: &role.config.arn,
        region: role.config.sts_region.as_deref().or(role.default_region.as_deref()).unwrap_or_default(),
        session_name: role.config.session_name.as_deref().filter(|n| !n.is_empty()).unwrap_or("lambdatel"),
    }
}

/// One cached credential set with single-flight refresh.
#[derive(Default)]
struct Cache {
    value: Mutex<Option<Credentials>>,
    fetching: tokio::sync::Mutex<()>,
}

impl Cache {
    fn fresh(&self, margin: Duration) -> Option<Credentials> {
        let value = self.value.lock().unwrap_or_else(|e| e.into_inner());
        value.as_ref().filter(|c| c.fresh_at(SystemTime::now(), margin)).cloned()
    }

    async fn get<F, Fut>(&self, margin: Duration, fetch: F) -> Result<Credentials, AwsError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Credentials, AwsError>>,
    {
        if let Some(credentials) = self.fresh(margin) {
            return Ok(credentials);
        }
        let _one_fetch = self.fetching.lock().await;
        // Another caller may have refreshed while this one waited.
        if let Some(credentials) = self.fresh(margin) {
            return Ok(credentials);
        }
        let credentials = fetch().await?;
        *self.value.lock().unwrap_or_else(|e| e.into_inner()) = Some(credentials.clone());
        Ok(credentials)
    }

    fn clear(&self) {
        *self.value.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ContainerAnswer {
    access_key_id: String,
    secret_access_key: String,
    token: Option<String>,
    expiration: Option<String>,
}

async fn fetch_container(http: &HttpClient, uri: &Uri, token: &ContainerToken) -> Result<Credentials, AwsError> {
    const CALL: &str = "container credentials endpoint";
    let token = match token {
        ContainerToken::None => None,
        ContainerToken::Value(token) => Some(token.clone()),
        ContainerToken::File(path) => Some(Secret::new(
            // A small local file (tmpfs in Lambda): a blocking read costs microseconds.
            std::fs::read_to_string(path)
                .map_err(|e| {
                    AwsError::NoCredentials(format!("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE {}: {e}", path.display()))
                })?
                .trim(),
        )),
    };
    let mut request = Request::builder().method(Method::GET).uri(uri.clone());
    if let Some(token) = &token {
        let mut value = hyper::header::HeaderValue::from_str(token.expose()).map_err(|_| {
            AwsError::NoCredentials("the container authorization token is not a valid header value".into())
        })?;
        value.set_sensitive(true);
        request = request.header(AUTHORIZATION, value);
    }
    let request = request
        .body(Full::new(Bytes::new()))
        .map_err(|e| AwsError::Malformed { call: CALL.into(), message: e.to_string() })?;
    let response = http.send(request, CALL).await?;
    if !response.status.is_success() {
        return Err(crate::error::service_error(CALL, response.status.as_u16(), &response.body));
    }
    // The body holds the secret: a parse error must not quote it.
    let answer: ContainerAnswer = serde_json::from_slice(&response.body).map_err(|e| AwsError::Malformed {
        call: CALL.into(),
        message: format!("not the credentials JSON (line {}, column {})", e.line(), e.column()),
    })?;
    let expiration = match answer.expiration.as_deref() {
        None => None,
        Some(text) => Some(parse_iso8601(text).ok_or_else(|| AwsError::Malformed {
            call: CALL.into(),
            message: format!("Expiration {text:?} is not an ISO 8601 time"),
        })?),
    };
    Ok(Credentials {
        access_key_id: answer.access_key_id,
        secret_access_key: Secret::new(answer.secret_access_key),
        session_token: answer.token.map(Secret::new),
        expiration,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_holds_no_credential() {
        let credentials =
            Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", Some("SESSIONTOKEN".into()));
        let printed = format!("{credentials:?} {credentials:#?}");
        for needle in ["AKIDEXAMPLE", "wJalrXUtnFEMI", "SESSIONTOKEN"] {
            assert!(!printed.contains(needle), "{needle} in {printed}");
        }
        assert!(printed.contains("<redacted>"));
        let env = Env::from_pairs([("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"), ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI")]);
        let provider = CredentialsProvider::from_env(&env, HttpClient::new(Duration::from_secs(1)));
        let printed = format!("{provider:?} {env:?}");
        assert!(!printed.contains("wJalrXUtnFEMI") && !printed.contains("AKIDEXAMPLE"), "{printed}");
        assert_eq!(format!("{provider:?}"), r#"CredentialsProvider { source: "environment", assume_role: None }"#);
    }

    #[test]
    fn container_uri_must_be_local_or_https() {
        assert!(container_uri("V", "http://127.0.0.1:9000/creds").is_ok());
        assert!(container_uri("V", "http://169.254.170.2/v2/credentials").is_ok());
        assert!(container_uri("V", "https://creds.example.com/x").is_ok());
        assert_eq!(
            container_uri("V", "http://creds.example.com/x").unwrap_err().to_string(),
            "V: plain http is allowed only to a loopback or the container credentials address"
        );
    }

    #[tokio::test]
    async fn missing_source_is_a_clear_error() {
        let provider = CredentialsProvider::from_env(&Env::default(), HttpClient::new(Duration::from_secs(1)));
        assert_eq!(
            provider.credentials().await.unwrap_err().to_string(),
            "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_CONTAINER_CREDENTIALS_FULL_URI"
        );
    }

    #[tokio::test]
    async fn environment_credentials_and_reload() {
        let http = HttpClient::new(Duration::from_secs(1));
        let env = Env::from_pairs([
            ("AWS_ACCESS_KEY_ID", "A1"),
            ("AWS_SECRET_ACCESS_KEY", "S1"),
            ("AWS_SESSION_TOKEN", "T1"),
        ]);
        let provider = CredentialsProvider::from_env(&env, http);
        assert_eq!(provider.credentials().await.unwrap(), Credentials::new("A1", "S1", Some("T1".into())));
        provider.reload(&Env::from_pairs([("AWS_ACCESS_KEY_ID", "A2"), ("AWS_SECRET_ACCESS_KEY", "S2")]));
        assert_eq!(provider.credentials().await.unwrap(), Credentials::new("A2", "S2", None));
    }
}
