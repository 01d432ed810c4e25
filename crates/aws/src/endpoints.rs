//! Where each AWS API is reached: `AWS_ENDPOINT_URL_<SERVICE>`, then `AWS_ENDPOINT_URL`, then the regional
//! public endpoint, as every AWS SDK resolves it.

use hyper::Uri;

use crate::{env::Env, AwsError};

/// The AWS APIs this crate calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// AWS Secrets Manager.
    SecretsManager,
    /// AWS Systems Manager Parameter Store.
    Ssm,
    /// Amazon S3.
    S3,
    /// AWS Security Token Service.
    Sts,
    /// AWS X-Ray's OTLP endpoint, which the `awsxray` exporter sends to.
    XRay,
}

impl Service {
    /// The SigV4 signing name, which is also the endpoint prefix of each.
    pub fn signing_name(self) -> &'static str {
        match self {
            Service::SecretsManager => "secretsmanager",
            Service::Ssm => "ssm",
            Service::S3 => "s3",
            Service::Sts => "sts",
            Service::XRay => "xray",
        }
    }

    /// The service-specific endpoint variable (the SDKs' service id, upper snake case).
    pub fn endpoint_variable(self) -> &'static str {
        match self {
            Service::SecretsManager => "AWS_ENDPOINT_URL_SECRETS_MANAGER",
            Service::Ssm => "AWS_ENDPOINT_URL_SSM",
            Service::S3 => "AWS_ENDPOINT_URL_S3",
            Service::Sts => "AWS_ENDPOINT_URL_STS",
            Service::XRay => "AWS_ENDPOINT_URL_XRAY",
        }
    }
}

/// A resolved endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Scheme and authority, plus a base path when an override has one; no trailing `/`.
    pub base: String,
    /// Set by an `AWS_ENDPOINT_URL*` variable (a local fake, a VPC endpoint) rather than derived: S3 is then
    /// addressed path-style.
    pub overridden: bool,
}

/// The endpoint of `service` in `region`.
pub fn resolve(env: &Env, service: Service, region: &str) -> Result<Endpoint, AwsError> {
    for variable in [service.endpoint_variable(), "AWS_ENDPOINT_URL"] {
        if let Some(url) = env.get(variable) {
            return Ok(Endpoint { base: validate_base(variable, url)?, overridden: true });
        }
    }
    if region.is_empty() {
        return Err(AwsError::NoRegion(service.signing_name().to_string()));
    }
    let suffix = if region.starts_with("cn-") { "amazonaws.com.cn" } else { "amazonaws.com" };
    Ok(Endpoint { base: format!("https://{}.{region}.{suffix}", service.signing_name()), overridden: false })
}

fn validate_base(variable: &str, url: &str) -> Result<String, AwsError> {
    let invalid = |message: &str| AwsError::Endpoint { variable: variable.to_string(), message: message.to_string() };
    let trimmed = url.trim().trim_end_matches('/');
    let uri: Uri = trimmed.parse().map_err(|_| invalid("not a URL"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err(invalid("must be an http:// or https:// URL with a host"));
    }
    if uri.query().is_some() {
        return Err(invalid("must not have a query"));
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_variable_then_global_then_regional() {
        let env = Env::from_pairs([
            ("AWS_ENDPOINT_URL_SSM", "http://127.0.0.1:4566/"),
            ("AWS_ENDPOINT_URL", "http://localhost:5000"),
        ]);
        let resolved = |service| resolve(&env, service, "eu-west-1").unwrap();
        assert_eq!(resolved(Service::Ssm), Endpoint { base: "http://127.0.0.1:4566".into(), overridden: true });
        assert_eq!(resolved(Service::S3), Endpoint { base: "http://localhost:5000".into(), overridden: true });
        let plain = Env::default();
        assert_eq!(
            resolve(&plain, Service::SecretsManager, "eu-west-1").unwrap(),
            Endpoint { base: "https://secretsmanager.eu-west-1.amazonaws.com".into(), overridden: false }
        );
        assert_eq!(
            resolve(&plain, Service::Sts, "cn-north-1").unwrap().base,
            "https://sts.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(resolve(&plain, Service::Sts, ""), Err(AwsError::NoRegion("sts".into())));
        assert_eq!(resolve(&plain, Service::XRay, "us-west-2").unwrap().base, "https://xray.us-west-2.amazonaws.com");
        let xray = Env::from_pairs([("AWS_ENDPOINT_URL_XRAY", "http://127.0.0.1:9/")]);
        assert_eq!(resolve(&xray, Service::XRay, "us-west-2").unwrap().base, "http://127.0.0.1:9");
    }

    #[test]
    fn bad_override_names_the_variable() {
        let env = Env::from_pairs([("AWS_ENDPOINT_URL_S3", "ftp://files")]);
        assert_eq!(
            resolve(&env, Service::S3, "us-east-1").unwrap_err().to_string(),
            "AWS_ENDPOINT_URL_S3: must be an http:// or https:// URL with a host"
        );
    }
}
