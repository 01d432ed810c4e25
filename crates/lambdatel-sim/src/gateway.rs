//! A collector gateway between a fleet and its backend: a real `rotel-agent` (or an external
//! collector), reached through a counting TCP relay that gives every sandbox a port of its own, so
//! the connections each sandbox opens at the gateway are counted (collectors do not report them),
//! and that can take the gateway off the network for a while (an outage: open connections are cut
//! and new ones refused, as when a gateway task dies or is replaced).

use serde::Serialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Where relay ports listen (all of 127.0.0.0/8 is loopback on Linux).
const RELAY_ADDRESS: &str = "127.0.0.2:0";

/// What the gateway is.
#[derive(Debug, Clone, PartialEq)]
pub enum GatewayKind {
    /// A `rotel-agent` started for the run, exporting to the fleet's backend.
    Rotel {
        /// The `rotel-agent` binary.
        agent: PathBuf,
    },
    /// A collector already running at this plaintext OTLP/gRPC address; what it forwards to is its
    /// own business (the embedded backend sees nothing unless it exports there).
    External(SocketAddr),
}

/// The gateway taken off the network once during the run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outage {
    /// How long it stays away.
    pub duration: Duration,
    /// When it goes away: once this fraction of the invocations has been dispatched (0 to 1).
    pub at_fraction: f64,
}

impl std::str::FromStr for Outage {
    type Err = String;
    /// `10s@30%`: ten seconds, starting once 30% of the invocations were dispatched.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid outage `{s}` (use DURATION@PERCENT, e.g. 10s@30%)");
        let (duration, at) = s.split_once('@').ok_or_else(bad)?;
        let duration = crate::cli::parse_duration(duration).map_err(|_| bad())?;
        let percent: f64 = at.strip_suffix('%').ok_or_else(bad)?.trim().parse().map_err(|_| bad())?;
        if !(0.0..=100.0).contains(&percent) || duration.is_zero() {
            return Err(bad());
        }
        Ok(Outage { duration, at_fraction: percent / 100.0 })
    }
}

/// A gateway for a fleet run.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayConfig {
    /// Which gateway.
    pub kind: GatewayKind,
    /// An outage, if any.
    pub outage: Option<Outage>,
}

impl GatewayConfig {
    /// Parses the CLI's `--gateway` value: `rotel` (the binary of the `rotel` Python package on
    /// `python3`'s path), a path to a `rotel-agent` binary, or `http://HOST:PORT` of a running collector.
    pub fn parse_kind(value: &str) -> Result<GatewayKind, String> {
        if let Some(addr) = value.strip_prefix("http://") {
            use std::net::ToSocketAddrs;
            let addr = addr.trim_end_matches('/');
            return addr
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
                .map(GatewayKind::External)
                .ok_or_else(|| format!("--gateway {value}: cannot resolve `{addr}` (use http://HOST:PORT)"));
        }
        if value.starts_with("https://") {
            return Err(format!(
                "--gateway {value}: the relay that counts connections passes TCP through, so TLS would be checked \
                 against 127.0.0.1; use a plaintext http:// gateway"
            ));
        }
        let agent = if value == "rotel" { find_rotel_agent()? } else { PathBuf::from(value) };
        if !agent.is_file() {
            return Err(format!("--gateway {value}: `{}` is not a rotel-agent binary", agent.display()));
        }
        Ok(GatewayKind::Rotel { agent })
    }
}

/// The `rotel-agent` binary that the `rotel` Python package ships beside its module.
pub fn find_rotel_agent() -> Result<PathBuf, String> {
    let script = "import os, rotel; print(os.path.join(os.path.dirname(rotel.__file__), 'rotel-agent'))";
    let output = std::process::Command::new("python3")
        .args(["-c", script])
        .output()
        .map_err(|e| format!("cannot run python3 to find rotel: {e}"))?;
    let path = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    if output.status.success() && path.is_file() {
        Ok(path)
    } else {
        Err("rotel is not installed for python3 (`python3 -m pip install rotel`), or pass --gateway PATH".into())
    }
}

/// Figures of the gateway over the run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GatewayFigures {
    /// `rotel` or the external address.
    pub kind: String,
    /// Connections the sandboxes opened at the gateway.
    pub connections: usize,
    /// The most connections one sandbox opened.
    pub max_connections_per_sandbox: usize,
    /// Bytes the sandboxes sent to the gateway, as on the wire (compressed when they compress).
    pub bytes: u64,
    /// Connections that could not reach the gateway behind the relay (it was not listening).
    pub upstream_failures: usize,
    /// Connections cut when the outage began.
    pub connections_cut: usize,
    /// Of those, the ones whose last bytes had gone to the gateway without an answer back: a request may have
    /// reached it and its answer been lost, so the retry can deliver what it carried twice (OTLP has no
    /// idempotency). Bytes that need no answer (an HTTP/2 window update) count too, so this is an upper bound.
    pub connections_cut_awaiting_answer: usize,
    /// When the outage began, ms from the start of the run.
    pub outage_start_ms: Option<f64>,
    /// How long it lasted, ms.
    pub outage_ms: Option<f64>,
    /// Spans that ended while the gateway was away and arrived at the backend after it returned:
    /// what the extensions' queues (and pipelines) held over.
    pub outage_spans_delivered_after: Option<usize>,
}

/// The running gateway: the collector process (when started here) and the relay in front of it.
pub struct Gateway {
    kind: GatewayKind,
    upstream: SocketAddr,
    process: Option<tokio::process::Child>,
    /// True while the gateway is reachable.
    up: watch::Sender<bool>,
    counters: Arc<RelayCounters>,
    _dir: Option<TempDir>,
}

#[derive(Default)]
struct RelayCounters {
    connections: AtomicUsize,
    upstream_failures: AtomicUsize,
    cut: AtomicUsize,
    cut_awaiting_answer: AtomicUsize,
    bytes_in: AtomicU64,
}

/// One sandbox's entrance to the gateway; its listener closes when this is dropped.
pub struct RelayPort {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl RelayPort {
    /// The endpoint to export to (`http://127.0.0.1:PORT`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections opened through this port so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }
}

impl Drop for RelayPort {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Errors starting a gateway.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The collector could not start or did not listen.
    #[error("gateway: {0}")]
    Start(String),
}

impl Gateway {
    /// Starts the gateway; a rotel gateway exports to `backend_endpoint` (`http://HOST:PORT`).
    pub async fn start(kind: &GatewayKind, backend_endpoint: &str) -> Result<Gateway, GatewayError> {
        let (up, _) = watch::channel(true);
        let counters = Arc::new(RelayCounters::default());
        match kind {
            GatewayKind::External(addr) => {
                Ok(Gateway { kind: kind.clone(), upstream: *addr, process: None, up, counters, _dir: None })
            }
            GatewayKind::Rotel { agent } => {
                let dir = TempDir::new()?;
                let grpc = free_loopback_addr()?;
                let http = free_loopback_addr()?;
                let child = start_rotel(agent, grpc, http, backend_endpoint, dir.path())?;
                let mut gateway =
                    Gateway { kind: kind.clone(), upstream: grpc, process: Some(child), up, counters, _dir: Some(dir) };
                gateway.wait_listening(Duration::from_secs(15)).await?;
                Ok(gateway)
            }
        }
    }

    async fn wait_listening(&mut self, limit: Duration) -> Result<(), GatewayError> {
        let deadline = tokio::time::Instant::now() + limit;
        while TcpStream::connect(self.upstream).await.is_err() {
            if let Some(Ok(Some(status))) = self.process.as_mut().map(|p| p.try_wait()) {
                return Err(GatewayError::Start(format!("rotel-agent exited at start-up ({status})")));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(GatewayError::Start(format!("nothing listens on {} after {limit:?}", self.upstream)));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// Opens a relay port for one sandbox.
    pub async fn open_port(&self) -> std::io::Result<RelayPort> {
        // On a loopback address of its own where the host has one: a relay port held for a
        // sandbox's life cannot then be the free port another sandbox was just given for its
        // extension (SIM_FREE_PORT, on 127.0.0.1).
        let listener = match TcpListener::bind(RELAY_ADDRESS).await {
            Ok(l) => l,
            Err(_) => TcpListener::bind("127.0.0.1:0").await?,
        };
        let addr = listener.local_addr()?;
        let connections = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(serve_port(
            listener,
            addr,
            self.upstream,
            self.up.subscribe(),
            connections.clone(),
            self.counters.clone(),
        ));
        Ok(RelayPort { addr, connections, task })
    }

    /// Takes the gateway off the network (`false`) or brings it back (`true`).
    pub fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }

    /// What the relay counted; `ports` gives each sandbox's count.
    pub fn figures(&self, per_sandbox: impl Iterator<Item = usize>) -> GatewayFigures {
        GatewayFigures {
            kind: match &self.kind {
                GatewayKind::Rotel { .. } => "rotel".into(),
                GatewayKind::External(addr) => format!("http://{addr}"),
            },
            connections: self.counters.connections.load(Ordering::Relaxed),
            max_connections_per_sandbox: per_sandbox.max().unwrap_or(0),
            bytes: self.counters.bytes_in.load(Ordering::Relaxed),
            upstream_failures: self.counters.upstream_failures.load(Ordering::Relaxed),
            connections_cut: self.counters.cut.load(Ordering::Relaxed),
            connections_cut_awaiting_answer: self.counters.cut_awaiting_answer.load(Ordering::Relaxed),
            outage_start_ms: None,
            outage_ms: None,
            outage_spans_delivered_after: None,
        }
    }

    /// Stops the collector started for the run (SIGTERM, so it forwards what it batched), waiting
    /// up to `grace` before killing it.
    pub async fn stop(mut self, grace: Duration) {
        let Some(mut child) = self.process.take() else { return };
        if let Some(pid) = child.id() {
            // SAFETY: signalling a child we spawned and have not reaped.
            unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        }
        if tokio::time::timeout(grace, child.wait()).await.is_err() {
            let _ = child.kill().await;
        }
    }
}

fn start_rotel(
    agent: &Path,
    grpc: SocketAddr,
    http: SocketAddr,
    backend_endpoint: &str,
    dir: &Path,
) -> Result<tokio::process::Child, GatewayError> {
    tokio::process::Command::new(agent)
        .args(["start", "--otlp-grpc-endpoint", &grpc.to_string(), "--otlp-http-endpoint", &http.to_string()])
        .args(["--exporter", "otlp", "--otlp-exporter-endpoint", backend_endpoint])
        .args(["--pid-file", &dir.join("rotel.pid").display().to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| GatewayError::Start(format!("cannot start {}: {e}", agent.display())))
}

fn free_loopback_addr() -> Result<SocketAddr, GatewayError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| GatewayError::Start(format!("no free loopback port: {e}")))
}

/// Accepts on one sandbox's port while the gateway is up; while it is down the port is closed
/// (connections refused) and reopened on the same address when it returns.
async fn serve_port(
    listener: TcpListener,
    addr: SocketAddr,
    upstream: SocketAddr,
    mut up: watch::Receiver<bool>,
    connections: Arc<AtomicUsize>,
    counters: Arc<RelayCounters>,
) {
    let mut listener = Some(listener);
    loop {
        let Some(open) = listener.as_ref() else {
            if up.wait_for(|up| *up).await.is_err() {
                return;
            }
            // The port was ours a moment ago; retry briefly should the kernel still hold it.
            for _ in 0..50 {
                match TcpListener::bind(addr).await {
                    Ok(l) => {
                        listener = Some(l);
                        break;
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
            if listener.is_none() {
                return;
            }
            continue;
        };
        let for_connection = up.clone();
        tokio::select! {
            accepted = open.accept() => {
                let Ok((client, _)) = accepted else { continue };
                connections.fetch_add(1, Ordering::Relaxed);
                counters.connections.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(relay(client, upstream, for_connection, counters.clone()));
            }
            changed = up.wait_for(|up| !*up) => {
                if changed.is_err() {
                    return;
                }
                listener = None;
            }
        }
    }
}

/// Pipes one connection to the gateway until either side closes or the gateway goes down.
async fn relay(
    mut client: TcpStream,
    upstream: SocketAddr,
    mut up: watch::Receiver<bool>,
    counters: Arc<RelayCounters>,
) {
    let _ = client.set_nodelay(true);
    let mut server = match TcpStream::connect(upstream).await {
        Ok(s) => s,
        Err(_) => {
            counters.upstream_failures.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let _ = server.set_nodelay(true);
    let (mut client_read, mut client_write) = client.split();
    let (mut server_read, mut server_write) = server.split();
    // Whether the last bytes went to the gateway, with nothing back since.
    let awaiting_answer = std::sync::atomic::AtomicBool::new(false);
    let to_gateway = |n: usize| {
        awaiting_answer.store(true, Ordering::Relaxed);
        counters.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
    };
    let from_gateway = |_: usize| awaiting_answer.store(false, Ordering::Relaxed);
    let both_ways = async {
        tokio::join!(
            pump(&mut client_read, &mut server_write, to_gateway),
            pump(&mut server_read, &mut client_write, from_gateway)
        )
    };
    tokio::select! {
        _ = both_ways => {}
        _ = up.wait_for(|up| !*up) => {
            counters.cut.fetch_add(1, Ordering::Relaxed);
            if awaiting_answer.load(Ordering::Relaxed) {
                counters.cut_awaiting_answer.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Copies `from` to `to` until `from` ends (then ends `to` too), telling `relayed` each count of bytes copied.
async fn pump(
    from: &mut (impl tokio::io::AsyncRead + Unpin),
    to: &mut (impl tokio::io::AsyncWrite + Unpin),
    relayed: impl Fn(usize),
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
        relayed(n);
    }
    let _ = to.shutdown().await;
}

/// A private directory for the collector's pid file, removed afterwards.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir, GatewayError> {
        let path =
            std::env::temp_dir().join(format!("lambdatel-sim-gateway-{}-{}", std::process::id(), fastrand::u64(..)));
        std::fs::create_dir_all(&path).map_err(|e| GatewayError::Start(format!("{}: {e}", path.display())))?;
        Ok(TempDir(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn outages_parse() {
        let o: Outage = "10s@30%".parse().unwrap();
        assert_eq!(o, Outage { duration: Duration::from_secs(10), at_fraction: 0.3 });
        for bad in ["10s", "10s@30", "x@30%", "10s@130%", "0s@10%"] {
            assert_eq!(
                bad.parse::<Outage>().unwrap_err(),
                format!("invalid outage `{bad}` (use DURATION@PERCENT, e.g. 10s@30%)")
            );
        }
    }

    #[test]
    fn gateway_kinds_parse() {
        assert_eq!(
            GatewayConfig::parse_kind("http://127.0.0.1:4317").unwrap(),
            GatewayKind::External("127.0.0.1:4317".parse().unwrap())
        );
        assert!(GatewayConfig::parse_kind("https://gw:4317").unwrap_err().contains("plaintext"));
        assert_eq!(
            GatewayConfig::parse_kind("/nonexistent/rotel-agent").unwrap_err(),
            "--gateway /nonexistent/rotel-agent: `/nonexistent/rotel-agent` is not a rotel-agent binary"
        );
    }

    /// An upstream that answers each read with what `answer` makes of it, or stays silent on `None`.
    async fn upstream(answer: fn(&[u8]) -> Option<Vec<u8>>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    while let Ok(n @ 1..) = s.read(&mut buf).await {
                        if let Some(reply) = answer(&buf[..n]) {
                            let _ = s.write_all(&reply).await;
                        }
                    }
                });
            }
        });
        addr
    }

    /// An upstream that echoes what it reads.
    async fn echo_server() -> SocketAddr {
        upstream(|read| Some(read.to_vec())).await
    }

    /// One echo through the relay, closed from both ends before it returns: the relay has finished
    /// with the connection by then, so a later outage cannot count it as cut.
    async fn round_trip(addr: SocketAddr) -> std::io::Result<Vec<u8>> {
        let mut s = TcpStream::connect(addr).await?;
        s.write_all(b"ping").await?;
        s.shutdown().await?;
        let mut echo = Vec::new();
        s.read_to_end(&mut echo).await?;
        if echo.is_empty() {
            return Err(std::io::ErrorKind::ConnectionReset.into());
        }
        Ok(echo)
    }

    #[tokio::test]
    async fn a_connection_cut_before_its_answer_came_back_is_counted_apart() {
        // A gateway that answers `ask` and stays silent on anything else.
        let silent_but_for_ask = upstream(|read| (read == b"ask").then(|| b"ok".to_vec())).await;
        let gateway = Gateway::start(&GatewayKind::External(silent_but_for_ask), "unused").await.unwrap();
        let port = gateway.open_port().await.unwrap();
        let mut answered = TcpStream::connect(port.addr).await.unwrap();
        answered.write_all(b"ask").await.unwrap();
        let mut ok = [0u8; 2];
        answered.read_exact(&mut ok).await.unwrap();
        let mut unanswered = TcpStream::connect(port.addr).await.unwrap();
        unanswered.write_all(b"tell").await.unwrap();
        // Until the relay has passed `tell` on.
        while gateway.figures(std::iter::empty()).bytes < 7 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        gateway.set_up(false);
        for connection in [&mut answered, &mut unanswered] {
            let mut rest = Vec::new();
            assert!(matches!(connection.read_to_end(&mut rest).await, Ok(0) | Err(_)), "cut");
        }
        let figures = gateway.figures(std::iter::empty());
        assert_eq!((figures.connections_cut, figures.connections_cut_awaiting_answer), (2, 1));
    }

    #[tokio::test]
    async fn the_relay_counts_connections_per_port_and_refuses_them_during_an_outage() {
        let gateway = Gateway::start(&GatewayKind::External(echo_server().await), "unused").await.unwrap();
        let (a, b) = (gateway.open_port().await.unwrap(), gateway.open_port().await.unwrap());
        assert_eq!(round_trip(a.addr).await.unwrap(), b"ping");
        assert_eq!(round_trip(a.addr).await.unwrap(), b"ping");
        // An open connection through `b`, cut by the outage.
        let mut held = TcpStream::connect(b.addr).await.unwrap();
        held.write_all(b"x").await.unwrap();
        let mut one = [0u8; 1];
        held.read_exact(&mut one).await.unwrap();
        gateway.set_up(false);
        let mut rest = Vec::new();
        assert!(matches!(held.read_to_end(&mut rest).await, Ok(0) | Err(_)), "the held connection is cut");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(round_trip(a.addr).await.is_err(), "refused while down");
        gateway.set_up(true);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        let back = loop {
            match round_trip(a.addr).await {
                Ok(echo) => break echo,
                Err(_) if tokio::time::Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(20)).await,
                Err(e) => panic!("not back on the same port: {e}"),
            }
        };
        assert_eq!(back, b"ping");
        assert_eq!((a.connections(), b.connections()), (3, 1));
        let figures = gateway.figures([a.connections(), b.connections()].into_iter());
        assert_eq!((figures.connections, figures.max_connections_per_sandbox, figures.connections_cut), (4, 3, 1));
        assert_eq!(figures.connections_cut_awaiting_answer, 0, "the held connection had its echo");
        assert_eq!(figures.upstream_failures, 0);
        // "ping" three times through `a`, "x" once through `b`.
        assert_eq!(figures.bytes, 13);
    }
}
