//! The `otlp` receiver's settings, with the Collector's keys.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::Duration,
};

use serde::{Deserialize, Deserializer};

pub(super) const MIB: usize = 1024 * 1024;

/// Configuration of the `otlp` receiver, with the OpenTelemetry Collector's keys.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtlpReceiverConfig {
    /// The protocols to serve; only those listed start (`grpc:` or `http:` with no settings means defaults).
    pub protocols: Protocols,
    /// Most items (spans + data points + log records) held between flushes; past it, items are dropped,
    /// counted and reported to the sender as rejected.
    pub max_buffered_items: usize,
    /// How long a flush at the end of an invocation waits for the function's requests still in flight.
    #[serde(with = "lambdatel_config::duration_serde")]
    pub flush_wait: Duration,
}

impl Default for OtlpReceiverConfig {
    fn default() -> Self {
        OtlpReceiverConfig {
            protocols: Protocols::default(),
            max_buffered_items: 50_000,
            flush_wait: Duration::from_millis(100),
        }
    }
}

/// The protocols block. Absent means off; present (even empty) means on.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Protocols {
    /// OTLP/gRPC server settings.
    #[serde(deserialize_with = "listed")]
    pub grpc: Option<GrpcServerConfig>,
    /// OTLP/HTTP server settings.
    #[serde(deserialize_with = "listed")]
    pub http: Option<HttpServerConfig>,
}

/// A protocol key that is present turns the protocol on, with defaults when it has no value.
fn listed<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(deserializer: D) -> Result<Option<T>, D::Error> {
    Ok(Some(Option::<T>::deserialize(deserializer)?.unwrap_or_default()))
}

/// The gRPC server's settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrpcServerConfig {
    /// `ip:port` to listen on (`localhost` means 127.0.0.1). Loopback by default: other addresses are
    /// reachable from outside the sandbox and must be written explicitly.
    pub endpoint: String,
    /// Largest request message accepted, in MiB (decompressed).
    pub max_recv_msg_size_mib: usize,
}

impl Default for GrpcServerConfig {
    fn default() -> Self {
        GrpcServerConfig { endpoint: "127.0.0.1:4317".into(), max_recv_msg_size_mib: 4 }
    }
}

/// The HTTP server's settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpServerConfig {
    /// `ip:port` to listen on (`localhost` means 127.0.0.1). Loopback by default: other addresses are
    /// reachable from outside the sandbox and must be written explicitly.
    pub endpoint: String,
    /// Largest request body accepted, in bytes, both as sent and after gzip decompression; larger ones get
    /// 413.
    pub max_request_body_size: usize,
}

impl Default for HttpServerConfig {
    fn default() -> Self {
        HttpServerConfig { endpoint: "127.0.0.1:4318".into(), max_request_body_size: 4 * MIB }
    }
}

/// A setting of the `otlp` receiver that cannot work, with the key it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct InvalidSetting {
    /// The key under the receiver's own, e.g. `protocols.http.endpoint`.
    pub key: &'static str,
    /// What is wrong.
    pub message: String,
}

impl OtlpReceiverConfig {
    /// Checks the settings; an error comes with the sub-key it is about.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        let invalid = |key: &'static str, message: String| Err(InvalidSetting { key, message });
        let p = &self.protocols;
        if p.grpc.is_none() && p.http.is_none() {
            return invalid("protocols", "at least one of grpc, http is needed".into());
        }
        if let Some(grpc) = &p.grpc {
            parse_endpoint(&grpc.endpoint)
                .map_err(|message| InvalidSetting { key: "protocols.grpc.endpoint", message })?;
            if grpc.max_recv_msg_size_mib == 0 {
                return invalid("protocols.grpc.max_recv_msg_size_mib", "must be at least 1".into());
            }
        }
        if let Some(http) = &p.http {
            parse_endpoint(&http.endpoint)
                .map_err(|message| InvalidSetting { key: "protocols.http.endpoint", message })?;
            if http.max_request_body_size == 0 {
                return invalid("protocols.http.max_request_body_size", "must be at least 1".into());
            }
        }
        if let (Some(grpc), Some(http)) = (&p.grpc, &p.http) {
            if parse_endpoint(&grpc.endpoint) == parse_endpoint(&http.endpoint) {
                return invalid("protocols.http.endpoint", format!("{} is also the grpc endpoint", http.endpoint));
            }
        }
        if self.max_buffered_items == 0 {
            return invalid("max_buffered_items", "must be at least 1".into());
        }
        Ok(())
    }
}

/// `ip:port`, `[ipv6]:port` or `localhost:port`. Host names are refused: resolving one at start-up could
/// hang or pick an address nobody meant.
pub fn parse_endpoint(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    if let Some(port) = text.strip_prefix("localhost:") {
        let port: u16 = port.parse().map_err(|_| format!("{text:?}: {port:?} is not a port"))?;
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    text.parse().map_err(|_| format!("{text:?} is not ip:port (for example 127.0.0.1:4317)"))
}
