//! AWS building blocks for lambdatel, with no AWS SDK: SigV4 request signing, credentials (environment,
//! container endpoint, STS AssumeRole), minimal Secrets Manager / SSM / S3 clients over the workspace's
//! hyper + rustls stack, `${secretsmanager:...}` / `${ssm:...}` config references, config sources
//! (`s3://`, `https://`, `env:`, files) and CloudWatch Embedded Metric Format encoding.
//!
//! Nothing here prints a credential or a fetched value: they are [`Secret`]s or redacting types, and errors
//! name the call or reference, never the value.
//!
//! How the pieces are used:
//! - start-up: [`config_location`] picks the variable naming the config, [`fetch_config`] reads it, the
//!   loader runs [`references::validate`] over the config's values (also what an offline `validate` needs),
//!   [`references::resolve`] fetches them all at once, and [`Resolved::expand`] substitutes each value;
//! - exporters: a [`SigV4Signer`] per endpoint from the `sigv4auth` settings ([`SigV4AuthConfig`]), then
//!   [`SigV4Signer::sign`] on each request with its body as sent; an [`EmfEncoder`] per `awsemf` exporter;
//! - after a SnapStart restore: [`CredentialsProvider::reload`] with the new environment.
#![forbid(unsafe_code)]

pub mod auth;
mod client;
pub mod config_source;
pub mod credentials;
pub mod emf;
pub mod endpoints;
pub mod env;
mod error;
pub mod http;
pub mod references;
mod s3;
mod secret;
mod secrets_manager;
pub mod sigv4;
mod ssm;
mod sts;
mod time;
mod xml;

pub use auth::{SigV4AuthConfig, SigV4Signer};
pub use client::{AwsClient, DEFAULT_TIMEOUT};
pub use config_source::{config_location, fetch_config, ConfigSourceError, ConfigText};
pub use credentials::{AssumeRoleConfig, Credentials, CredentialsProvider};
pub use emf::{EmfConfig, EmfEncoder};
pub use env::Env;
pub use error::AwsError;
pub use references::{Reference, ReferenceError, Resolved};
pub use secret::Secret;
pub use sigv4::{service_from_host, sign, SigningError, SigningParams};
