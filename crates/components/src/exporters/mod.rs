//! Exporters: where telemetry leaves a pipeline. A closed enum of the built-ins (static dispatch) with the
//! retry loop they share.

pub mod auth;
pub mod awsemf;
pub mod awsxray;
pub mod debug;
mod encoded;
mod grpc_body;
mod gzip;
pub mod logging;
pub mod otlp_grpc;
pub mod otlp_http;
pub mod retry;
pub mod setup_error;
mod write_tracking;

use std::future::Future;

use lambdatel_config::{ComponentConfig, ConfigError};
use lambdatel_pipeline::{Attempts, BreakerConfig, Export, ExportError, ExportOutcome, Signal, Signals};
use tokio::time::Instant;

pub use awsemf::{AwsEmfConfig, AwsEmfExporter};
pub use awsxray::AwsXrayConfig;
pub use debug::{DebugConfig, DebugExporter};
pub use logging::{LoggingConfig, LoggingExporter};
pub use otlp_grpc::{OtlpGrpcConfig, OtlpGrpcExporter};
pub use otlp_http::{OtlpHttpConfig, OtlpHttpExporter};
pub use retry::{CircuitBreakerConfig, RetryConfig};
pub use setup_error::SetupError;

use crate::ExporterFactory;

/// A built exporter instance, shared by every pipeline that names its id.
#[derive(Clone)]
pub enum Exporter {
    /// `otlp`: OTLP over gRPC.
    OtlpGrpc {
        /// The client.
        exporter: Box<OtlpGrpcExporter>,
        /// Its `retry_on_failure` settings.
        retry: RetryConfig,
        /// Its `sending_queue` settings.
        queue: otlp_grpc::QueueConfig,
        /// Its `circuit_breaker` settings.
        breaker: BreakerConfig,
    },
    /// `otlphttp`: OTLP over HTTP.
    OtlpHttp {
        /// The client.
        exporter: Box<OtlpHttpExporter>,
        /// Its `retry_on_failure` settings.
        retry: RetryConfig,
        /// Its `sending_queue` settings.
        queue: otlp_grpc::QueueConfig,
        /// Its `circuit_breaker` settings.
        breaker: BreakerConfig,
    },
    /// `debug`: a readable account on stdout.
    Debug(DebugExporter),
    /// `awsemf`: metrics as CloudWatch EMF lines on stdout.
    AwsEmf(AwsEmfExporter),
}

impl Exporter {
    /// Authenticates this exporter's requests with `authenticator` (an exporter's `auth:`); the message says
    /// why it cannot.
    pub fn attach_auth(
        &mut self,
        authenticator: &crate::extensions::Authenticator,
        env: &lambdatel_aws::Env,
        http: &lambdatel_aws::http::HttpClient,
    ) -> Result<(), SetupError> {
        use crate::extensions::Authenticator;
        match (self, authenticator) {
            (Exporter::OtlpHttp { exporter, .. }, _) => {
                let auth = auth::RequestAuth::new(authenticator, exporter.urls(), env, http)?;
                exporter.set_auth(auth);
                Ok(())
            }
            (Exporter::OtlpGrpc { exporter, .. }, Authenticator::Header(name, value)) => {
                exporter.set_auth_header(name, value)
            }
            (Exporter::OtlpGrpc { .. }, Authenticator::SigV4 { .. }) => Err(SetupError::SigV4NeedsHttp),
            (Exporter::Debug(_) | Exporter::AwsEmf(_), _) => Err(SetupError::NothingToAuthenticate),
        }
    }
}

impl Export for Exporter {
    /// Exports one signal of `data`, retrying retryable failures with backoff as `attempts` allows.
    ///
    /// Returns the last error when the data could not be delivered; the caller decides whether to keep it.
    async fn export(
        &self,
        kind: Signal,
        data: &Signals,
        attempts: Attempts,
    ) -> (ExportOutcome, Result<(), ExportError>) {
        match self {
            Exporter::Debug(debug) => {
                debug.export(kind, data);
                (ExportOutcome::default(), Ok(()))
            }
            Exporter::AwsEmf(emf) => {
                emf.export(kind, data);
                (ExportOutcome::default(), Ok(()))
            }
            Exporter::OtlpGrpc { exporter, retry, .. } => {
                with_retries(retry, &attempts, || exporter.export_once(kind, data, &attempts.written)).await
            }
            Exporter::OtlpHttp { exporter, retry, .. } => {
                with_retries(retry, &attempts, || exporter.export_once(kind, data, &attempts.written)).await
            }
        }
    }

    fn queue_limit(&self) -> usize {
        match self {
            Exporter::OtlpGrpc { queue, .. } | Exporter::OtlpHttp { queue, .. } if queue.enabled => queue.queue_size,
            _ => 0,
        }
    }

    fn reset_connections(&self) {
        match self {
            Exporter::OtlpGrpc { exporter, .. } => exporter.reset_connections(),
            Exporter::OtlpHttp { exporter, .. } => exporter.reset_connections(),
            // Stdout holds no connection.
            Exporter::Debug(_) | Exporter::AwsEmf(_) => {}
        }
    }

    fn breaker(&self) -> BreakerConfig {
        match self {
            Exporter::OtlpGrpc { breaker, .. } | Exporter::OtlpHttp { breaker, .. } => *breaker,
            // Writing to stdout cannot be down.
            Exporter::Debug(_) | Exporter::AwsEmf(_) => BreakerConfig { enabled: false, ..BreakerConfig::default() },
        }
    }
}

/// Consecutive `UNAVAILABLE` answers (HTTP 502/503/504) after which a backend counts as down.
const UNAVAILABLE_IS_DOWN: u32 = 3;
/// Consecutive unreachable attempts after which a backend counts as down. The first may be a pooled
/// connection that died while the sandbox was frozen, so it is retried at once on a fresh one.
const UNREACHABLE_IS_DOWN: u32 = 2;

/// The retry loop every network exporter shares: retryable failures are retried with backoff (honouring a
/// server's retry-after) while the next attempt would start before `attempts.start_by` and
/// `max_elapsed_time`. A backend found down (unreachable twice in a row, or unavailable three times) ends
/// the loop early with `backend_down` set, so the circuit breaker spares later flushes.
async fn with_retries<F, Fut>(
    retry: &RetryConfig,
    attempts: &Attempts,
    mut attempt: F,
) -> (ExportOutcome, Result<(), ExportError>)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), ExportError>>,
{
    let mut outcome = ExportOutcome::default();
    let start = Instant::now();
    if start >= attempts.start_by {
        return (outcome, Err(ExportError::Retryable { message: "flush deadline reached".into(), retry_after: None }));
    }
    let give_up = attempts.start_by.min(start + retry.max_elapsed_time);
    let mut backoff = retry.backoff();
    let (mut unavailable, mut unreachable) = (0u32, 0u32);
    loop {
        let result = attempt().await;
        attempts.written.clear();
        let error = match result {
            Ok(()) => return (outcome, Ok(())),
            Err(error) => error,
        };
        let retry_after = match &error {
            ExportError::Permanent { .. } => return (outcome, Err(error)),
            ExportError::Retryable { retry_after, .. } => {
                (unavailable, unreachable) = (0, 0);
                *retry_after
            }
            ExportError::Unavailable { retry_after, .. } => {
                (unavailable, unreachable) = (unavailable + 1, 0);
                *retry_after
            }
            ExportError::Unreachable { .. } => {
                (unavailable, unreachable) = (0, unreachable + 1);
                None
            }
        };
        if unavailable >= UNAVAILABLE_IS_DOWN || unreachable >= UNREACHABLE_IS_DOWN {
            outcome.backend_down = true;
            return (outcome, Err(error));
        }
        if !(retry.enabled && attempts.retry) {
            outcome.backend_down = unreachable > 0;
            return (outcome, Err(error));
        }
        let wake = match unreachable {
            1 => Instant::now(),
            _ => Instant::now() + backoff.next_delay(retry_after),
        };
        // Sleeping past the deadline cannot lead to a delivered attempt: stop now.
        if wake >= give_up {
            return (outcome, Err(error));
        }
        tokio::time::sleep_until(wake).await;
        outcome.retries += 1;
    }
}

/// True when `error` or one of its sources says the backend could not be reached at all: the connection
/// was refused, reset or aborted, or the name did not resolve.
pub fn is_unreachable(error: &(dyn std::error::Error + 'static)) -> bool {
    use std::io::ErrorKind;
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                ErrorKind::ConnectionRefused
                    | ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::NotConnected
                    | ErrorKind::AddrNotAvailable
                    | ErrorKind::HostUnreachable
                    | ErrorKind::NetworkUnreachable
            ) {
                return true;
            }
        }
        // Name resolution failures carry no error kind of their own; hyper-util's resolver names them.
        let text = error.to_string();
        if text.starts_with("dns error") || text.contains("failed to lookup address") {
            return true;
        }
        cause = error.source();
    }
    false
}

/// Header (or gRPC metadata) names and values of an exporter. Its `Debug` shows names only: values are API
/// keys as often as not, and must not reach a log line through a debug print.
#[derive(Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Headers(pub std::collections::BTreeMap<String, String>);

impl std::ops::Deref for Headers {
    type Target = std::collections::BTreeMap<String, String>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::fmt::Debug for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.0.keys().map(|k| (k, "<redacted>"))).finish()
    }
}

impl ExporterFactory for OtlpGrpcExporter {
    const TYPE: &'static str = "otlp";
    const EXAMPLE: &'static str = "endpoint: http://127.0.0.1:4317";
    type Config = OtlpGrpcConfig;

    fn validate(config: &OtlpGrpcConfig, at: &ComponentConfig) -> Result<(), ConfigError> {
        config.retry_on_failure.validate().map_err(|message| at.error_at("retry_on_failure", message))?;
        config.circuit_breaker.validate().map_err(|message| at.error_at("circuit_breaker", message))
    }

    fn warnings(config: &OtlpGrpcConfig, at: &ComponentConfig) -> Vec<ConfigError> {
        insecure_warning(config.insecure, at)
    }

    fn create(mut config: OtlpGrpcConfig, at: &ComponentConfig) -> Result<Exporter, ConfigError> {
        config.tls.insecure |= config.insecure.unwrap_or(false);
        let exporter = OtlpGrpcExporter::new(&config).map_err(|e| at.error(e.to_string()))?;
        Ok(Exporter::OtlpGrpc {
            exporter: Box::new(exporter),
            retry: config.retry_on_failure,
            queue: config.sending_queue,
            breaker: config.circuit_breaker.into(),
        })
    }
}

impl ExporterFactory for OtlpHttpExporter {
    const TYPE: &'static str = "otlphttp";
    const EXAMPLE: &'static str = "endpoint: http://127.0.0.1:4318";
    type Config = OtlpHttpConfig;

    fn validate(config: &OtlpHttpConfig, at: &ComponentConfig) -> Result<(), ConfigError> {
        config.retry_on_failure.validate().map_err(|message| at.error_at("retry_on_failure", message))?;
        config.circuit_breaker.validate().map_err(|message| at.error_at("circuit_breaker", message))
    }

    fn warnings(config: &OtlpHttpConfig, at: &ComponentConfig) -> Vec<ConfigError> {
        insecure_warning(config.insecure, at)
    }

    fn create(mut config: OtlpHttpConfig, at: &ComponentConfig) -> Result<Exporter, ConfigError> {
        config.tls.insecure |= config.insecure.unwrap_or(false);
        let exporter = OtlpHttpExporter::new(&config).map_err(|e| at.error(e.to_string()))?;
        Ok(Exporter::OtlpHttp {
            exporter: Box::new(exporter),
            retry: config.retry_on_failure,
            queue: config.sending_queue,
            breaker: config.circuit_breaker.into(),
        })
    }
}

impl ExporterFactory for AwsEmfExporter {
    const TYPE: &'static str = "awsemf";
    type Config = AwsEmfConfig;

    fn validate(config: &AwsEmfConfig, at: &ComponentConfig) -> Result<(), ConfigError> {
        config.check(at)
    }

    fn create(config: AwsEmfConfig, _at: &ComponentConfig) -> Result<Exporter, ConfigError> {
        Ok(Exporter::AwsEmf(AwsEmfExporter::new(&config)))
    }
}

/// The `awsxray` type: an OTLP/HTTP exporter to X-Ray, signed.
pub struct AwsXrayExporter;

impl ExporterFactory for AwsXrayExporter {
    const TYPE: &'static str = "awsxray";
    const EXAMPLE: &'static str = "region: us-east-1";
    type Config = AwsXrayConfig;

    fn validate(config: &AwsXrayConfig, at: &ComponentConfig) -> Result<(), ConfigError> {
        config.check(at)
    }

    /// In the process's environment; a graph builds it with [`AwsXrayExporter::build_in`] instead.
    fn create(config: AwsXrayConfig, at: &ComponentConfig) -> Result<Exporter, ConfigError> {
        let http = lambdatel_aws::http::HttpClient::new(lambdatel_aws::DEFAULT_TIMEOUT);
        Self::exporter(&config, &lambdatel_aws::Env::from_process(), &http, at)
    }
}

impl AwsXrayExporter {
    /// Reads, checks and builds the exporter at `at`, with the region and credentials of `env` (the
    /// environment the config was read in).
    pub fn build_in(
        at: &ComponentConfig,
        env: &lambdatel_aws::Env,
        http: &lambdatel_aws::http::HttpClient,
    ) -> Result<Exporter, ConfigError> {
        let config: AwsXrayConfig = at.deserialize()?;
        Self::validate(&config, at)?;
        Self::exporter(&config, env, http, at)
    }

    fn exporter(
        config: &AwsXrayConfig,
        env: &lambdatel_aws::Env,
        http: &lambdatel_aws::http::HttpClient,
        at: &ComponentConfig,
    ) -> Result<Exporter, ConfigError> {
        Ok(Exporter::OtlpHttp {
            exporter: Box::new(config.build(env, http, at)?),
            retry: RetryConfig::default(),
            queue: otlp_grpc::QueueConfig::default(),
            breaker: BreakerConfig::default(),
        })
    }
}

/// Warnings about ADOT settings of `awsemf` and `awsxray` exporters that are accepted without effect.
pub fn awsemf_awsxray_warnings(config: &lambdatel_config::Config) -> Vec<String> {
    let mut warnings = Vec::new();
    for (id, at) in &config.exporters {
        match id.type_name.as_str() {
            "awsemf" => warnings.extend(at.deserialize::<AwsEmfConfig>().map(|c| c.warnings(at)).unwrap_or_default()),
            "awsxray" => warnings.extend(at.deserialize::<AwsXrayConfig>().map(|c| c.warnings(at)).unwrap_or_default()),
            _ => {}
        }
    }
    warnings
}

impl ExporterFactory for DebugExporter {
    const TYPE: &'static str = "debug";
    type Config = DebugConfig;

    fn warnings(config: &DebugConfig, at: &ComponentConfig) -> Vec<ConfigError> {
        match (config.sampling_initial, config.sampling_thereafter) {
            (None, None) => Vec::new(),
            _ => vec![at.error("sampling_initial and sampling_thereafter are ignored: every item is written")],
        }
    }

    fn create(config: DebugConfig, _at: &ComponentConfig) -> Result<Exporter, ConfigError> {
        Ok(Exporter::Debug(DebugExporter::new(&config)))
    }
}

/// The exporter-level `insecure` key, which Collector configs from before the `tls:` block still carry.
fn insecure_warning(insecure: Option<bool>, at: &ComponentConfig) -> Vec<ConfigError> {
    match insecure {
        Some(value) => {
            vec![at.error_at(
                "insecure",
                format!("insecure: {value} is the Collector's older key, mapped to tls.insecure"),
            )]
        }
        None => Vec::new(),
    }
}

#[cfg(test)]
mod headers_tests {
    use super::Headers;

    #[test]
    fn debug_output_names_headers_but_hides_their_values() {
        let headers = Headers([("x-api-key".to_string(), "s3cr3t".to_string())].into());
        assert_eq!(format!("{headers:?}"), r#"{"x-api-key": "<redacted>"}"#);
    }
}

#[cfg(test)]
mod reset_tests;
#[cfg(test)]
mod test_support;
