//! Extensions: the Collector's `extensions:` section. The authenticators (`sigv4auth`, `bearertokenauth`,
//! `basicauth`) are built here and attached to the exporters that name them with `auth: {authenticator: ID}`;
//! the Collector's service extensions that mean nothing in Lambda (`health_check`, `pprof`, ...) are accepted
//! and ignored with a warning; any other type is an error naming it.

use std::collections::BTreeMap;

use hyper::header::{HeaderName, HeaderValue, AUTHORIZATION};
use lambdatel_aws::{CredentialsProvider, Env, SigV4AuthConfig};
use lambdatel_config::{ComponentConfig, ComponentId, Config, ConfigError};
use serde::Deserialize;

/// Extension types accepted and ignored: they serve a long-running Collector (health, profiling, debug pages,
/// storage), not a Lambda extension.
pub const IGNORED_EXTENSIONS: [&str; 8] =
    ["health_check", "healthcheckv2", "pprof", "zpages", "memory_ballast", "file_storage", "opamp", "awsproxy"];

/// The authenticator types.
pub const AUTHENTICATORS: [&str; 3] = ["sigv4auth", "bearertokenauth", "basicauth"];

/// A built authenticator, shared by every exporter that names it.
#[derive(Clone, Debug)]
pub enum Authenticator {
    /// SigV4 signing with these settings and one credentials cache for the extension.
    SigV4 {
        /// The settings; the region and service are resolved per endpoint.
        config: SigV4AuthConfig,
        /// The credentials every signer of this authenticator shares.
        credentials: CredentialsProvider,
    },
    /// A fixed header (`Authorization: Bearer ...` or `Basic ...`), marked sensitive.
    Header(HeaderName, HeaderValue),
}

/// `bearertokenauth`, as the Collector's `bearertokenauthextension` reads it.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BearerTokenConfig {
    /// The header carrying the token.
    pub header: Option<String>,
    /// The scheme before the token; `Bearer` when not written.
    pub scheme: Option<String>,
    /// The token.
    pub token: String,
    /// A file holding the token (read at start-up), instead of `token`.
    pub filename: String,
}

/// `basicauth`: only `client_auth` means something for an exporter.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BasicAuthConfig {
    /// The credentials sent by exporters.
    pub client_auth: Option<ClientAuth>,
    /// A receiver's password file: lambdatel's receivers take no authenticator.
    pub htpasswd: Option<serde_json::Value>,
}

/// `basicauth.client_auth`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientAuth {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

/// Every authenticator of `config` by id, built; errors for unknown types and bad settings, located.
pub fn authenticators(
    config: &Config,
    env: &Env,
    http: &lambdatel_aws::http::HttpClient,
) -> (BTreeMap<ComponentId, Authenticator>, Vec<ConfigError>) {
    let mut built = BTreeMap::new();
    let mut errors = Vec::new();
    // One cache of the function's own credentials for every authenticator: one fetch from the container
    // endpoint, one refresh, however many exporters sign.
    let credentials = CredentialsProvider::from_env(env, http.clone());
    for (id, at) in &config.extensions {
        match build(&id.type_name, at, env, http, &credentials) {
            Ok(Some(authenticator)) => {
                built.insert(id.clone(), authenticator);
            }
            Ok(None) => {}
            Err(error) => errors.push(error),
        }
    }
    (built, errors)
}

/// One warning per ignored extension.
pub fn warnings(config: &Config) -> Vec<String> {
    config
        .extensions
        .iter()
        .filter(|(id, _)| IGNORED_EXTENSIONS.contains(&id.type_name.as_str()))
        .map(|(id, at)| {
            at.error(format!("extension type \"{}\" has no meaning in Lambda and is ignored", id.type_name)).to_string()
        })
        .collect()
}

fn build(
    type_name: &str,
    at: &ComponentConfig,
    env: &Env,
    http: &lambdatel_aws::http::HttpClient,
    credentials: &CredentialsProvider,
) -> Result<Option<Authenticator>, ConfigError> {
    match type_name {
        "sigv4auth" => {
            let config: SigV4AuthConfig = at.deserialize()?;
            let credentials = match &config.assume_role {
                Some(role) if !role.arn.trim().is_empty() => {
                    CredentialsProvider::assuming_role(env, http.clone(), role.clone())
                }
                Some(_) => return Err(at.error_at("assume_role.arn", "is needed to assume a role")),
                None => credentials.clone(),
            };
            Ok(Some(Authenticator::SigV4 { config, credentials }))
        }
        "bearertokenauth" => {
            let config: BearerTokenConfig = at.deserialize()?;
            let token = match (config.token.trim(), config.filename.trim()) {
                ("", "") => return Err(at.error("token or filename is needed")),
                (token, "") => token.to_string(),
                ("", path) => std::fs::read_to_string(path)
                    .map_err(|e| at.error_at("filename", format!("{path}: cannot be read: {e}")))?
                    .trim()
                    .to_string(),
                _ => return Err(at.error("token and filename are exclusive: write one")),
            };
            let header = config.header.as_deref().map(str::trim).filter(|h| !h.is_empty());
            let name = match header {
                None => AUTHORIZATION,
                Some(h) => HeaderName::from_bytes(h.as_bytes())
                    .map_err(|_| at.error_at("header", format!("{h:?} is not a valid header name")))?,
            };
            let scheme = config.scheme.as_deref().unwrap_or("Bearer").trim();
            let value = if scheme.is_empty() { token } else { format!("{scheme} {token}") };
            Ok(Some(Authenticator::Header(name, sensitive(&value, at)?)))
        }
        "basicauth" => {
            let config: BasicAuthConfig = at.deserialize()?;
            let Some(client) = config.client_auth else {
                return Err(at.error(
                    "client_auth (username, password) is needed: htpasswd authenticates incoming requests, and lambdatel's receivers take no authenticator",
                ));
            };
            let value = format!("Basic {}", base64(format!("{}:{}", client.username, client.password).as_bytes()));
            Ok(Some(Authenticator::Header(AUTHORIZATION, sensitive(&value, at)?)))
        }
        ignored if IGNORED_EXTENSIONS.contains(&ignored) => Ok(None),
        other => Err(at.error(format!(
            "unknown extension type \"{other}\"; lambdatel has {} (and accepts and ignores {})",
            AUTHENTICATORS.join(", "),
            IGNORED_EXTENSIONS.join(", ")
        ))),
    }
}

fn sensitive(value: &str, at: &ComponentConfig) -> Result<HeaderValue, ConfigError> {
    // The value is a credential: say what is wrong, never what it is.
    let mut value = HeaderValue::from_str(value)
        .map_err(|_| at.error("the credential holds characters not allowed in a header (it is not shown)"))?;
    value.set_sensitive(true);
    Ok(value)
}

/// Standard base64 with padding (RFC 4648), for `Basic` credentials.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
