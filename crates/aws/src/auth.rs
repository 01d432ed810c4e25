//! The `sigv4auth` authenticator: its Collector-shaped settings and a signer bound to one endpoint, for the
//! OTLP/HTTP exporters (X-Ray, CloudWatch Logs and other SigV4 endpoints).

use std::time::SystemTime;

use hyper::{Request, Uri};
use serde::Deserialize;

use crate::{
    credentials::{AssumeRoleConfig, CredentialsProvider},
    env::Env,
    http::HttpClient,
    sigv4::{self, region_from_host, service_from_host, SigningParams},
    AwsError,
};

/// `extensions: {sigv4auth: {...}}` as the Collector's `sigv4authextension` reads it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SigV4AuthConfig {
    /// The signing region; from the endpoint host, else `AWS_REGION`, when empty.
    pub region: String,
    /// The signing name; inferred from the endpoint host when empty.
    pub service: String,
    /// A role to assume with the function's credentials.
    pub assume_role: Option<AssumeRoleConfig>,
}

/// Signs requests to one endpoint with a resolved region and service. Cloning shares the credentials cache.
#[derive(Debug, Clone)]
pub struct SigV4Signer {
    credentials: CredentialsProvider,
    region: String,
    service: String,
}

impl SigV4Signer {
    /// The signer of `endpoint` with `config`; fails (without network) when no region or service can be
    /// found, naming the setting to write.
    pub fn new(config: &SigV4AuthConfig, endpoint: &Uri, env: &Env, http: HttpClient) -> Result<Self, AwsError> {
        let host = endpoint.host().unwrap_or_default();
        let service = match config.service.trim() {
            "" => service_from_host(host).map(str::to_string).ok_or_else(|| AwsError::Endpoint {
                variable: "sigv4auth.service".into(),
                message: format!("cannot be inferred from the host {host:?}: set it (xray, logs, ...)"),
            })?,
            given => given.to_string(),
        };
        let region = match config.region.trim() {
            "" => region_from_host(host)
                .or(env.region())
                .map(str::to_string)
                .ok_or_else(|| AwsError::NoRegion(format!("sigv4auth signing for {host}")))?,
            given => given.to_string(),
        };
        let credentials = match &config.assume_role {
            Some(role) if !role.arn.is_empty() => CredentialsProvider::assuming_role(env, http, role.clone()),
            _ => CredentialsProvider::from_env(env, http),
        };
        Ok(SigV4Signer { credentials, region, service })
    }

    /// A signer with its parts given.
    pub fn with_credentials(
        credentials: CredentialsProvider,
        region: impl Into<String>,
        service: impl Into<String>,
    ) -> Self {
        SigV4Signer { credentials, region: region.into(), service: service.into() }
    }

    /// The signing region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The signing name of the service.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The credentials, e.g. to [`invalidate`](CredentialsProvider::invalidate) them after a SnapStart
    /// restore.
    pub fn credentials(&self) -> &CredentialsProvider {
        &self.credentials
    }

    /// Signs `request`, whose body is `body` exactly as it will be sent (after compression).
    pub async fn sign<B>(&self, request: &mut Request<B>, body: &[u8]) -> Result<(), AwsError> {
        let credentials = self.credentials.credentials().await?;
        let params = SigningParams {
            credentials: &credentials,
            region: &self.region,
            service: &self.service,
            time: SystemTime::now(),
        };
        let (method, uri) = (request.method().clone(), request.uri().clone());
        sigv4::sign(&method, &uri, request.headers_mut(), body, &params)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn signer(config: SigV4AuthConfig, endpoint: &str, env: &Env) -> Result<SigV4Signer, String> {
        SigV4Signer::new(&config, &endpoint.parse().unwrap(), env, HttpClient::new(Duration::from_secs(1)))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn region_and_service_from_settings_host_or_environment() {
        let env = Env::from_pairs([("AWS_REGION", "eu-central-1")]);
        let xray = signer(SigV4AuthConfig::default(), "https://xray.us-west-2.amazonaws.com/v1/traces", &env).unwrap();
        assert_eq!((xray.region(), xray.service()), ("us-west-2", "xray"));
        let local = SigV4AuthConfig { service: "logs".into(), ..Default::default() };
        let local = signer(local, "http://127.0.0.1:4318/v1/logs", &env).unwrap();
        assert_eq!((local.region(), local.service()), ("eu-central-1", "logs"));
        let given = SigV4AuthConfig { region: "ap-south-1".into(), service: "aps".into(), ..Default::default() };
        let given = signer(given, "https://xray.us-west-2.amazonaws.com", &env).unwrap();
        assert_eq!((given.region(), given.service()), ("ap-south-1", "aps"));
        assert_eq!(
            signer(SigV4AuthConfig::default(), "http://collector:4318", &env).unwrap_err(),
            "sigv4auth.service: cannot be inferred from the host \"collector\": set it (xray, logs, ...)"
        );
        let no_region = SigV4AuthConfig { service: "logs".into(), ..Default::default() };
        assert_eq!(
            signer(no_region, "http://collector:4318", &Env::default()).unwrap_err(),
            "no AWS region for sigv4auth signing for collector: set AWS_REGION"
        );
    }

    #[test]
    fn collector_shaped_settings() {
        let config: SigV4AuthConfig = serde_json::from_value(serde_json::json!({
            "region": "us-east-1",
            "assume_role": { "arn": "arn:aws:iam::123456789012:role/r", "sts_region": "us-east-1", "session_name": "s" }
        }))
        .unwrap();
        assert_eq!(config.assume_role.unwrap().session_name.as_deref(), Some("s"));
        let unknown = serde_json::from_value::<SigV4AuthConfig>(serde_json::json!({ "regoin": "x" })).unwrap_err();
        assert!(unknown.to_string().starts_with("unknown field `regoin`"), "{unknown}");
    }

    #[tokio::test]
    async fn signs_a_request_in_place() {
        let env = Env::from_pairs([("AWS_ACCESS_KEY_ID", "AKID"), ("AWS_SECRET_ACCESS_KEY", "secret")]);
        let signer = signer(
            SigV4AuthConfig { region: "us-east-1".into(), ..Default::default() },
            "https://logs.us-east-1.amazonaws.com",
            &env,
        )
        .unwrap();
        let mut request = Request::post("https://logs.us-east-1.amazonaws.com/v1/logs").body(()).unwrap();
        signer.sign(&mut request, b"body").await.unwrap();
        let authorization = request.headers()["authorization"].to_str().unwrap();
        assert!(authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKID/"), "{authorization}");
        assert!(authorization.contains("/us-east-1/logs/aws4_request, SignedHeaders=host;x-amz-date, Signature="));
        assert!(request.headers()["authorization"].is_sensitive());
    }
}
