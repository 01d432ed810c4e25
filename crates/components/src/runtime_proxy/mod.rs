//! The opt-in Runtime API proxy: learns each invocation's trigger from the event and the function's response.
//!
//! Lambda runs a managed runtime's bootstrap through the script named by `AWS_LAMBDA_EXEC_WRAPPER`. The layer
//! ships `/opt/lambdatel-wrapper`; with `AWS_LAMBDA_EXEC_WRAPPER=/opt/lambdatel-wrapper` it points the
//! runtime's `AWS_LAMBDA_RUNTIME_API` at this proxy, which forwards every Runtime API call to Lambda unchanged
//! (method, path, headers with their case, bodies streamed both ways, trailers) and copies, off to the side,
//! the event of `invocation/next` and the first bytes of `invocation/{id}/response`. From them
//! [`trigger::extract_trigger`] makes a [`TriggerInfo`] per request id, kept in a bounded [`TriggerStore`].
//!
//! What "unchanged" means on the wire: the request line, header names (with their case), values and order,
//! the body bytes and the trailers all arrive as sent; chunk boundaries may differ (HTTP/1.1 does not preserve
//! them), trailer names arrive lowercased, and, as in any HTTP/1.1 implementation that follows RFC 9110,
//! trailers are passed on only when the message declares them in a `Trailer` header, as Lambda's runtime
//! clients do for `Lambda-Runtime-Function-Error-Type` and `-Body`. Memory: each event being delivered holds a
//! copy of at most [`ProxyConfig::max_event_bytes`], each response at most
//! [`ProxyConfig::max_response_bytes`].
//!
//! OS-only runtimes (`provided.al2`, `provided.al2023`, and custom runtimes in general) ignore
//! `AWS_LAMBDA_EXEC_WRAPPER`: there the proxy sees nothing and every invocation keeps `faas.trigger = other`.
//!
//! How the wrapper finds the proxy: the proxy binds a free loopback port (port 0: no clash with the function's
//! own listeners or another vendor's proxy on a fixed port), then [`RuntimeProxy::bind`] writes
//! `127.0.0.1:<port>` to an address file ([`DEFAULT_ADDRESS_FILE`], shared with the runtime through `/tmp`),
//! replacing it atomically. Extensions start before the runtime, and the proxy is bound before lambdatel
//! registers, so the file is there when the wrapper runs. The wrapper then asks the address for
//! [`PROBE_PATH`] and switches the variable only when the answer carries [`PROBE_HEADER`]: a missing file, a
//! stale one (lambdatel crashed or was stopped), or a port now used by something else all leave
//! `AWS_LAMBDA_RUNTIME_API` untouched, so the function never depends on lambdatel. When lambdatel dies
//! mid-run, the runtime's next call fails and the sandbox is reset (an extension's death resets it anyway);
//! the wrapper's next run points the runtime at whatever answers then: the restarted proxy, or Lambda itself.
//!
//! Lifecycle (for the extension that embeds it): [`RuntimeProxy::bind`] before `register`, then
//! [`Bound::serve_on_own_thread`] with the real `AWS_LAMBDA_RUNTIME_API` (or spawn [`Bound::serve`] on a
//! runtime that keeps running while the extension waits in `event/next`); [`TriggerStore::take`] each request id once its
//! invocation is done (after `platform.runtimeDone`), and put [`TriggerInfo::trigger`] as `faas.trigger`, its
//! attributes, parent and links on the invocation span.

mod server;
mod store;
mod tap;
pub mod trigger;
mod upstream;

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hyper::http::uri::Authority;
use tokio::net::TcpListener;

pub use server::ProxyStats;
pub use store::TriggerStore;
pub use trigger::{FaasTrigger, RemoteContext, TriggerInfo};

/// Where the proxy's address is written for the wrapper, unless configured otherwise.
pub const DEFAULT_ADDRESS_FILE: &str = "/tmp/lambdatel-runtime-proxy";
/// The variable through which the wrapper (and an extension that honours it) is told another address file.
pub const ADDRESS_FILE_ENV: &str = "LAMBDATEL_RUNTIME_PROXY_FILE";
/// The path the proxy answers itself (every other path is forwarded), for the wrapper's probe.
pub const PROBE_PATH: &str = "/lambdatel-runtime-proxy";
/// The header that marks the probe's answer as the proxy's own.
pub const PROBE_HEADER: &str = "x-lambdatel-runtime-proxy";

/// Settings of the Runtime API proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    /// Address to listen on; port 0 takes any free port. Loopback only: the runtime is on the same host, and
    /// nothing else should reach the Runtime API through us.
    pub listen: SocketAddr,
    /// The file the listening address is written to for the wrapper; `None` writes nothing.
    pub address_file: Option<PathBuf>,
    /// Largest event read for its trigger (Lambda's synchronous payload limit is 6 MB). Larger events are
    /// forwarded all the same, unread.
    pub max_event_bytes: usize,
    /// How many first bytes of a response are read for the HTTP status (the status or a streamed response's
    /// prelude comes first in practice; a response cut before it gets no status).
    pub max_response_bytes: usize,
    /// Most invocations whose trigger is held before the oldest untaken one is dropped.
    pub max_pending: usize,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            listen: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)),
            address_file: Some(PathBuf::from(DEFAULT_ADDRESS_FILE)),
            max_event_bytes: 6 * 1024 * 1024,
            max_response_bytes: 64 * 1024,
            max_pending: 1024,
        }
    }
}

/// What can go wrong with the proxy. None of it touches the function: without a listening proxy the wrapper
/// leaves the runtime on Lambda's own Runtime API.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The listen address is not a loopback address.
    #[error("the Runtime API proxy must listen on a loopback address, not {0}")]
    NotLoopback(SocketAddr),
    /// The port could not be bound.
    #[error("cannot listen on {address} for the Runtime API proxy: {source}")]
    Bind {
        /// The configured address.
        address: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The address file could not be written.
    #[error("cannot write the Runtime API proxy's address to {path}: {source}")]
    AddressFile {
        /// The configured file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The upstream is not a `host:port` like `AWS_LAMBDA_RUNTIME_API`.
    #[error("the Runtime API address '{0}' is not a host:port")]
    Upstream(String),
    /// Accepting connections failed.
    #[error("the Runtime API proxy stopped accepting connections: {0}")]
    Accept(io::Error),
    /// The proxy's own thread or runtime could not be started.
    #[error("cannot start the Runtime API proxy's thread: {0}")]
    Thread(io::Error),
}

/// The Runtime API proxy.
pub struct RuntimeProxy;

impl RuntimeProxy {
    /// Binds the listening port and publishes its address to the configured file. Call it before the
    /// extension registers, so the proxy exists when the runtime (and the wrapper) start.
    pub async fn bind(config: ProxyConfig) -> Result<Bound, ProxyError> {
        if !config.listen.ip().is_loopback() {
            return Err(ProxyError::NotLoopback(config.listen));
        }
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| ProxyError::Bind { address: config.listen, source })?;
        let address = listener.local_addr().map_err(|source| ProxyError::Bind { address: config.listen, source })?;
        if let Some(path) = &config.address_file {
            write_address_file(path, address)
                .map_err(|source| ProxyError::AddressFile { path: path.clone(), source })?;
        }
        Ok(Bound { listener, address, triggers: TriggerStore::new(config.max_pending), stats: Arc::default(), config })
    }
}

/// A bound proxy, not yet serving.
pub struct Bound {
    listener: TcpListener,
    address: SocketAddr,
    triggers: TriggerStore,
    stats: Arc<ProxyStats>,
    config: ProxyConfig,
}

impl Bound {
    /// The address the proxy listens on (what the wrapper gives the runtime as `AWS_LAMBDA_RUNTIME_API`).
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// The shared map the proxy fills: take each invocation's [`TriggerInfo`] from it by request id.
    pub fn triggers(&self) -> TriggerStore {
        self.triggers.clone()
    }

    /// The proxy's counters.
    pub fn stats(&self) -> Arc<ProxyStats> {
        self.stats.clone()
    }

    /// Forwards every call to `upstream`, the real Runtime API as `AWS_LAMBDA_RUNTIME_API` gives it
    /// (`127.0.0.1:9001`: host and port, no scheme). Runs until accepting fails; dropping the future stops
    /// the proxy and closes its connections.
    pub async fn serve(self, upstream: &str) -> Result<(), ProxyError> {
        let upstream_authority = upstream
            .parse::<Authority>()
            .ok()
            .filter(|a| a.port_u16().is_some() && a.as_str() == upstream)
            .ok_or_else(|| ProxyError::Upstream(upstream.to_string()))?;
        let shared = Arc::new(server::Shared {
            upstream: upstream_authority,
            triggers: self.triggers,
            stats: self.stats,
            max_event_bytes: self.config.max_event_bytes,
            max_response_bytes: self.config.max_response_bytes,
        });
        server::accept_loop(self.listener, shared).await
    }

    /// Like [`Bound::serve`], on a thread of its own with its own single-threaded runtime: the function's
    /// runtime waits on every Runtime API call, so the extension's other work (conversions, exports) must
    /// never queue in front of one, as it would on a shared single-threaded runtime. `on_stop` gets the
    /// error that ends serving. Call it within the runtime the proxy was bound on.
    pub fn serve_on_own_thread(
        self,
        upstream: &str,
        on_stop: impl FnOnce(ProxyError) + Send + 'static,
    ) -> Result<(), ProxyError> {
        let Bound { listener, address: _, triggers, stats, config } = self;
        let listener = listener.into_std().map_err(ProxyError::Thread)?;
        let upstream = upstream.to_string();
        std::thread::Builder::new()
            .name("runtime-proxy".into())
            .spawn(move || {
                let served = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(ProxyError::Thread)
                    .and_then(|runtime| {
                        runtime.block_on(async move {
                            let listener = TcpListener::from_std(listener).map_err(ProxyError::Thread)?;
                            let address = listener.local_addr().map_err(ProxyError::Thread)?;
                            Bound { listener, address, triggers, stats, config }.serve(&upstream).await
                        })
                    });
                if let Err(e) = served {
                    on_stop(e);
                }
            })
            .map(drop)
            .map_err(ProxyError::Thread)
    }
}

/// Writes `address` to `path` through a temporary file and a rename, so the wrapper never reads half of it.
fn write_address_file(path: &Path, address: SocketAddr) -> io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{}.tmp", std::process::id()));
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, format!("{address}\n"))?;
    std::fs::rename(&temporary, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temporary);
    })
}
