//! The `awsxray` exporter (ADOT's name): spans as OTLP/HTTP, signed with SigV4 (service `xray`), to X-Ray's
//! OTLP endpoint `https://xray.<region>.amazonaws.com/v1/traces` (or `AWS_ENDPOINT_URL_XRAY`, then
//! `AWS_ENDPOINT_URL`, as the AWS SDKs resolve it). The settings that still mean something
//! (`region`, `endpoint`, `role_arn`, `request_timeout_seconds`) are honoured; ADOT's others are warned about.

use std::{collections::BTreeMap, time::Duration};

use lambdatel_aws::{
    endpoints::{self, Service},
    http::HttpClient,
    AssumeRoleConfig, CredentialsProvider, Env, SigV4AuthConfig,
};
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
    /// The base URL instead of the resolved X-Ray endpoint (`/v1/traces` is appended).
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
            "" => endpoints::resolve(env, Service::XRay, &region).map_err(|e| at.error(e.to_string()))?.base,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn traces_url(settings: &str, env: &[(&str, &str)]) -> Result<String, String> {
        let at = ComponentConfig::from_yaml("exporters.awsxray", settings, &|_| None).expect("test YAML parses");
        let config: AwsXrayConfig = at.deserialize().map_err(|e| e.to_string())?;
        let http = HttpClient::new(lambdatel_aws::DEFAULT_TIMEOUT);
        let exporter = config.build(&Env::from_pairs(env.iter().copied()), &http, &at).map_err(|e| e.to_string())?;
        Ok(exporter.urls()[0].to_string())
    }

    #[test]
    fn the_endpoint_is_the_setting_then_the_sdk_variables_then_the_region() {
        let keys = [("AWS_ACCESS_KEY_ID", "AKID"), ("AWS_SECRET_ACCESS_KEY", "secret")];
        let with = |extra: &[(&'static str, &'static str)]| [&keys[..], extra].concat();
        assert_eq!(
            traces_url("{}", &with(&[("AWS_REGION", "eu-west-1")])).unwrap(),
            "https://xray.eu-west-1.amazonaws.com/v1/traces"
        );
        assert_eq!(
            traces_url("region: ap-south-1", &with(&[("AWS_REGION", "eu-west-1")])).unwrap(),
            "https://xray.ap-south-1.amazonaws.com/v1/traces"
        );
        let overridden = with(&[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_ENDPOINT_URL_XRAY", "http://127.0.0.1:4000/"),
        ]);
        assert_eq!(traces_url("{}", &overridden).unwrap(), "http://127.0.0.1:4000/v1/traces");
        assert_eq!(traces_url("{}", &overridden[..4]).unwrap(), "http://127.0.0.1:5000/v1/traces");
        assert_eq!(
            traces_url("endpoint: https://xray.example/v1/traces", &overridden).unwrap(),
            "https://xray.example/v1/traces"
        );
        let bad = with(&[("AWS_REGION", "eu-west-1"), ("AWS_ENDPOINT_URL_XRAY", "xray.local")]);
        assert_eq!(
            traces_url("{}", &bad).unwrap_err(),
            "<config>:1:1: exporters.awsxray: AWS_ENDPOINT_URL_XRAY: must be an http:// or https:// URL with a host"
        );
        assert_eq!(
            traces_url("{}", &keys).unwrap_err(),
            "<config>:1:1: exporters.awsxray.region: set region or AWS_REGION"
        );
    }
}
