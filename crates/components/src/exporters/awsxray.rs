//! The `awsxray` exporter (ADOT's name): spans as OTLP/HTTP, signed with SigV4 (service `xray`), to X-Ray's
//! OTLP endpoint `https://xray.<region>.amazonaws.com/v1/traces`. The settings that still mean something
//! (`region`, `endpoint`, `role_arn`, `request_timeout_seconds`) are honoured; ADOT's others are warned about.

use std::{collections::BTreeMap, time::Duration};

use lambdatel_aws::{http::HttpClient, AssumeRoleConfig, CredentialsProvider, Env, SigV4AuthConfig};
use serde::Deserialize;

use super::{
    auth::RequestAuth,
    otlp_http::{OtlpHttpConfig, OtlpHttpExporter},
};
use crate::extensions::Authenticator;
use lambdatel_config::{ComponentConfig, ConfigError};

/// ADOT `awsxray` settings without an effect on OTLP to X-Ray: accepted, warned about once.
pub const IGNORED_SETTINGS: [&str; 12] = [
    "index_all_attributes",
    "indexed_attributes",
    "aws_log_groups",
    "local_mode",
    "resource_arn",
    "no_verify_ssl",
    "proxy_address",
    "telemetry",
    "transit_spans_in_otlp_format",
    "max_retries",
    "num_workers",
    "certificate_file_path",
];

/// Configuration of the `awsxray` exporter.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct AwsXrayConfig {
    /// The region; `AWS_REGION` when empty.
    pub region: String,
    /// The base URL instead of `https://xray.<region>.amazonaws.com` (`/v1/traces` is appended).
    pub endpoint: String,
    /// A role to assume for signing.
    pub role_arn: String,
    /// Limit of one export attempt, in seconds (5 when 0).
    pub request_timeout_seconds: u64,
    /// Any other key: ADOT settings in [`IGNORED_SETTINGS`] are warned about, the rest are errors.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

impl AwsXrayConfig {
    /// Keys that are neither honoured nor known ADOT settings, as an error at the first.
    pub fn check(&self, at: &ComponentConfig) -> Result<(), ConfigError> {
        match self.other.keys().find(|k| !IGNORED_SETTINGS.contains(&k.as_str())) {
            Some(key) => Err(at.error_at(key, format!("unknown awsxray setting \"{key}\""))),
            None => Ok(()),
        }
    }

    /// One line per setting written that has no effect here.
    pub fn warnings(&self, at: &ComponentConfig) -> Vec<String> {
        let message = "has no meaning for OTLP to X-Ray and is ignored";
        self.other.keys().map(|key| at.error_at(key, message).to_string()).collect()
    }

    /// The OTLP/HTTP exporter that sends to X-Ray, signing each request; `env` gives the region and
    /// credentials. Fails without network when no region is known.
    pub fn build(&self, env: &Env, http: &HttpClient, at: &ComponentConfig) -> Result<OtlpHttpExporter, ConfigError> {
        let region = match self.region.trim() {
            "" => env.region().map(str::to_string).ok_or_else(|| at.error_at("region", "set region or AWS_REGION"))?,
            region => region.to_string(),
        };
        let base = match self.endpoint.trim().trim_end_matches('/') {
            "" => format!("https://xray.{region}.amazonaws.com"),
            given => given.trim_end_matches("/v1/traces").to_string(),
        };
        let timeout =
            Duration::from_secs(if self.request_timeout_seconds == 0 { 5 } else { self.request_timeout_seconds });
        let http_config = OtlpHttpConfig { endpoint: base, timeout, ..OtlpHttpConfig::default() };
        let mut exporter = OtlpHttpExporter::new(&http_config).map_err(|e| at.error_at("endpoint", e.to_string()))?;
        let assume_role = (!self.role_arn.trim().is_empty())
            .then(|| AssumeRoleConfig { arn: self.role_arn.trim().to_string(), ..AssumeRoleConfig::default() });
        let credentials = match &assume_role {
            Some(role) => CredentialsProvider::assuming_role(env, http.clone(), role.clone()),
            None => CredentialsProvider::from_env(env, http.clone()),
        };
        let config = SigV4AuthConfig { region, service: "xray".into(), assume_role };
        let auth = RequestAuth::new(&Authenticator::SigV4 { config, credentials }, exporter.urls(), env, http)
            .map_err(|e| at.error(e.to_string()))?;
        exporter.set_auth(auth);
        Ok(exporter)
    }
}
