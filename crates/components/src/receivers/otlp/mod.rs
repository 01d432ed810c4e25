//! The `otlp` receiver: OTLP over gRPC and over HTTP (protobuf or JSON bodies, gzip or not) for the function's
//! own OpenTelemetry SDK, on loopback by default.
//!
//! What arrives is buffered, each request with its own resource, until the lifecycle drains it into the
//! pipelines. Requests in flight are counted so a flush at the end of an invocation can wait for what the
//! function is still sending ([`OtlpReceiver::wait_idle`]). The buffer is bounded: past the bound, items are
//! dropped, counted and reported to the sender as a partial success (never as a retryable error, which
//! would make the SDK retry inside the function's time).
//!
//! gRPC is served by tonic's generated services on a plain hyper HTTP/2 connection (no tonic router), which
//! keeps the in-flight count exact and the binary small.
//!
//! Files: `config.rs` (settings), `buffer.rs` (what is held until a flush), `grpc.rs` and `http.rs` (the two
//! transports and their decoding); this file binds, starts, drains and stops the receiver.

mod buffer;
mod config;
mod grpc;
mod http;

use std::{
    net::SocketAddr,
    sync::{atomic::Ordering, Arc},
};

use lambdatel_pipeline::Signals;
use tokio::{net::TcpListener, sync::watch, time::Instant};

pub use buffer::OtlpReceiverStats;
use buffer::Shared;
pub use config::*;
use grpc::{serve_grpc, GrpcServices};
use http::serve_http;

/// Why a port of the `otlp` receiver could not be bound; each names the key that sets it.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The endpoint is not an address to listen on.
    #[error("{key}: {message}")]
    Endpoint {
        /// The key, e.g. `protocols.http.endpoint`.
        key: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// Something else listens there.
    #[error("{key}: {addr} is already in use (by another extension or the function?); choose another port")]
    InUse {
        /// The key.
        key: &'static str,
        /// The address.
        addr: SocketAddr,
    },
    /// Listening failed otherwise.
    #[error("{key}: cannot listen on {addr}: {source}")]
    Listen {
        /// The key.
        key: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
}

/// The receiver's ports, bound before the extension registers (so a clash fails the init, not later).
pub struct BoundOtlp {
    config: OtlpReceiverConfig,
    grpc: Option<TcpListener>,
    http: Option<TcpListener>,
}

impl BoundOtlp {
    /// Binds the configured protocols' ports; an error names the key that sets the port.
    pub async fn bind(config: &OtlpReceiverConfig) -> Result<Self, BindError> {
        async fn listen(key: &'static str, endpoint: &str) -> Result<TcpListener, BindError> {
            let addr = parse_endpoint(endpoint).map_err(|message| BindError::Endpoint { key, message })?;
            TcpListener::bind(addr).await.map_err(|source| match source.kind() {
                std::io::ErrorKind::AddrInUse => BindError::InUse { key, addr },
                _ => BindError::Listen { key, addr, source },
            })
        }
        let grpc = match &config.protocols.grpc {
            Some(grpc) => Some(listen("protocols.grpc.endpoint", &grpc.endpoint).await?),
            None => None,
        };
        let http = match &config.protocols.http {
            Some(http) => Some(listen("protocols.http.endpoint", &http.endpoint).await?),
            None => None,
        };
        Ok(BoundOtlp { config: config.clone(), grpc, http })
    }

    /// The gRPC port's address, when gRPC is on.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The HTTP port's address, when HTTP is on.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Starts serving on the current Tokio runtime.
    pub fn start(self) -> OtlpReceiver {
        let shared = Arc::new(Shared::new(self.config.max_buffered_items));
        let (stop, stopped) = watch::channel(false);
        let grpc_addr = self.grpc_addr();
        let http_addr = self.http_addr();
        if let (Some(listener), Some(grpc)) = (self.grpc, &self.config.protocols.grpc) {
            let limit = grpc.max_recv_msg_size_mib.saturating_mul(MIB);
            tokio::spawn(serve_grpc(listener, GrpcServices::new(shared.clone(), limit), stopped.clone()));
        }
        if let (Some(listener), Some(http)) = (self.http, &self.config.protocols.http) {
            tokio::spawn(serve_http(listener, shared.clone(), http.max_request_body_size, stopped));
        }
        OtlpReceiver { config: self.config, shared, grpc_addr, http_addr, _stop: stop }
    }
}

/// A serving `otlp` receiver. Dropping it stops accepting connections.
pub struct OtlpReceiver {
    config: OtlpReceiverConfig,
    shared: Arc<Shared>,
    grpc_addr: Option<SocketAddr>,
    http_addr: Option<SocketAddr>,
    _stop: watch::Sender<bool>,
}

impl OtlpReceiver {
    /// The receiver's settings.
    pub fn config(&self) -> &OtlpReceiverConfig {
        &self.config
    }

    /// The gRPC address served, when gRPC is on.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc_addr
    }

    /// The HTTP address served, when HTTP is on.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// Takes everything buffered so far.
    pub fn drain(&self) -> Signals {
        let mut buffer = self.shared.buffer.lock().unwrap_or_else(|e| e.into_inner());
        buffer.items = 0;
        std::mem::take(&mut buffer.data)
    }

    /// Waits until no request is being received, or until `deadline`.
    pub async fn wait_idle(&self, deadline: Instant) {
        loop {
            let notified = self.shared.idle.notified();
            tokio::pin!(notified);
            // Registered before the check, so a request finishing in between still wakes this wait.
            notified.as_mut().enable();
            if self.shared.in_flight.load(Ordering::SeqCst) == 0 {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return;
            }
        }
    }

    /// Requests being received right now.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::SeqCst)
    }

    /// Counters since start.
    pub fn stats(&self) -> OtlpReceiverStats {
        self.shared.buffer.lock().unwrap_or_else(|e| e.into_inner()).stats
    }
}

fn dropped_message(dropped: usize) -> String {
    format!("lambdatel's buffer is full (receivers.otlp.max_buffered_items): {dropped} items dropped")
}

// ---- gRPC ----

/// The next connection of `listener`, with TCP_NODELAY set as real collectors do; `None` once `stopped`
/// changes. Accept errors (out of file descriptors and the like) back off instead of spinning.
async fn accept(listener: &TcpListener, stopped: &mut watch::Receiver<bool>) -> Option<tokio::net::TcpStream> {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    return Some(stream);
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            },
            _ = stopped.changed() => return None,
        }
    }
}

#[cfg(test)]
mod tests;
