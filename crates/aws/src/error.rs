//! Errors of AWS calls. None holds a credential or a fetched value: they name the call and what went wrong.

use crate::sigv4::SigningError;

/// Why an AWS call, or getting what it needs, failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AwsError {
    /// The request did not complete: connection, TLS, timeout.
    #[error("{call}: {message}")]
    Transport {
        /// The call, e.g. `secretsmanager BatchGetSecretValue`.
        call: String,
        /// What failed.
        message: String,
    },
    /// The service answered with an error status.
    #[error("{call}: HTTP {status} {code}{}", if message.is_empty() { String::new() } else { format!(": {message}") })]
    Service {
        /// The call.
        call: String,
        /// The HTTP status.
        status: u16,
        /// AWS's error code (`ResourceNotFoundException`, `AccessDenied`, ...), or empty.
        code: String,
        /// AWS's message, shortened.
        message: String,
    },
    /// A batch call succeeded but could not return one of its items.
    #[error("{call}: {code}{}", if message.is_empty() { String::new() } else { format!(": {message}") })]
    Item {
        /// The call and the item, e.g. `ssm GetParameters /a/b`.
        call: String,
        /// AWS's error code for the item (`ParameterNotFound`, `ResourceNotFoundException`, ...).
        code: String,
        /// AWS's message, shortened.
        message: String,
    },
    /// The answer was not what the API documents.
    #[error("{call}: unexpected answer: {message}")]
    Malformed {
        /// The call.
        call: String,
        /// What was wrong with it.
        message: String,
    },
    /// No credential source is configured or the configured one cannot be used.
    #[error("no AWS credentials: {0}")]
    NoCredentials(String),
    /// No region could be found for a call that needs one.
    #[error("no AWS region for {0}: set AWS_REGION")]
    NoRegion(String),
    /// An endpoint variable or URL is not usable.
    #[error("{variable}: {message}")]
    Endpoint {
        /// The variable or setting holding it.
        variable: String,
        /// What is wrong.
        message: String,
    },
    /// The request could not be signed.
    #[error(transparent)]
    Signing(#[from] SigningError),
}

impl AwsError {
    /// The HTTP status of a service error, if it is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            AwsError::Service { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// AWS's error code of a service or item error.
    pub fn code(&self) -> Option<&str> {
        match self {
            AwsError::Service { code, .. } | AwsError::Item { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// Characters of a service's error message kept in an error.
const MAX_MESSAGE: usize = 200;

/// A service error from a JSON (`__type`, `message`) or XML (`<Code>`, `<Message>`) error body.
pub(crate) fn service_error(call: &str, status: u16, body: &[u8]) -> AwsError {
    let text = String::from_utf8_lossy(body);
    let (code, message) = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(json) => {
            let field = |names: &[&str]| {
                names.iter().find_map(|n| json.get(*n).and_then(|v| v.as_str())).unwrap_or_default().to_string()
            };
            let code = field(&["__type", "code", "Code"]);
            // `__type` may be `namespace#Code`.
            let code = code.rsplit('#').next().unwrap_or_default().to_string();
            (code, field(&["message", "Message"]))
        }
        Err(_) => (
            crate::xml::element(&text, "Code").unwrap_or_default(),
            crate::xml::element(&text, "Message").unwrap_or_default(),
        ),
    };
    AwsError::Service { call: call.to_string(), status, code, message: message.chars().take(MAX_MESSAGE).collect() }
}
