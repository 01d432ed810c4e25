//! The exporters' authentication hook: `auth: {authenticator: ID}` names an extension (see
//! [`crate::extensions`]), and each request is authenticated just before it is sent, with its body exactly as
//! sent (after compression) for SigV4.

use super::SetupError;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{
    header::{HeaderName, HeaderValue},
    Request, Uri,
};
use lambdatel_aws::{http::HttpClient, CredentialsProvider, Env, SigV4Signer};
use lambdatel_pipeline::{ExportError, Signal};
use serde::Deserialize;

use crate::extensions::Authenticator;

/// `auth:` of an exporter, as in the Collector.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// The id of the authenticator extension, e.g. `sigv4auth` or `bearertokenauth/vendor`.
    pub authenticator: String,
}

/// How an exporter's requests are authenticated. Cloning shares the signers.
#[derive(Clone, Debug)]
pub enum RequestAuth {
    /// A fixed header, marked sensitive.
    Header(HeaderName, HeaderValue),
    /// SigV4 signing.
    SigV4 {
        /// One signer per signal URL (traces, metrics, logs): the service and region may differ by host. A
        /// URL no signer can be made for (an unused default, say) fails its exports with the reason.
        signers: Arc<[Result<SigV4Signer, String>; 3]>,
        /// The credentials the signers share.
        credentials: CredentialsProvider,
        /// The environment the credentials were read from, read again after a SnapStart restore.
        env: Env,
        /// The client fetching credentials (container endpoint, STS).
        http: HttpClient,
    },
}

impl RequestAuth {
    /// The authentication of requests to `urls` (traces, metrics, logs) with `authenticator`; fails (without
    /// network) when no URL's signer can tell its region or service.
    pub fn new(
        authenticator: &Authenticator,
        urls: &[Uri; 3],
        env: &Env,
        http: &HttpClient,
    ) -> Result<Self, SetupError> {
        match authenticator {
            Authenticator::Header(name, value) => Ok(RequestAuth::Header(name.clone(), value.clone())),
            Authenticator::SigV4 { config, credentials } => {
                let signer = |url: &Uri| {
                    SigV4Signer::new(config, url, env, http.clone())
                        .map(|s| SigV4Signer::with_credentials(credentials.clone(), s.region(), s.service()))
                        .map_err(|e| e.to_string())
                };
                let signers = [signer(&urls[0]), signer(&urls[1]), signer(&urls[2])];
                if let [Err(first), Err(_), Err(_)] = &signers {
                    return Err(SetupError::Auth(first.clone()));
                }
                Ok(RequestAuth::SigV4 {
                    signers: Arc::new(signers),
                    credentials: credentials.clone(),
                    env: env.clone(),
                    http: http.clone(),
                })
            }
        }
    }

    /// After a SnapStart restore: the snapshot's credentials (and the connection they came over) belong to
    /// the environment the snapshot was taken in, so the credential variables are read again and the next
    /// signature fetches fresh credentials over a new connection.
    pub fn after_restore(&self) {
        if let RequestAuth::SigV4 { credentials, env, http, .. } = self {
            http.reset_connections();
            credentials.reload(&env.reread());
        }
    }

    /// Authenticates `request` of `kind`, whose body is `body` as sent. A credentials failure is retryable:
    /// the credentials endpoint may be back by the next attempt.
    pub async fn apply(
        &self,
        kind: Signal,
        request: &mut Request<Full<Bytes>>,
        body: &[u8],
    ) -> Result<(), ExportError> {
        match self {
            RequestAuth::Header(name, value) => {
                request.headers_mut().insert(name.clone(), value.clone());
                Ok(())
            }
            RequestAuth::SigV4 { signers, .. } => {
                let signer = signers[kind.index()]
                    .as_ref()
                    .map_err(|message| ExportError::Permanent { message: message.clone() })?;
                signer.sign(request, body).await.map_err(|e| ExportError::Retryable {
                    message: format!("SigV4 signing for {}: {e}", signer.service()),
                    retry_after: None,
                })
            }
        }
    }
}
