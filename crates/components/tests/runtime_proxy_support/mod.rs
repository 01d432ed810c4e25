//! A fake Runtime API that records the raw bytes it receives, a raw HTTP/1.1 client, and a proxy running on
//! its own thread: the pieces of the Runtime API proxy's end-to-end tests. Raw sockets on both ends, so the
//! tests see exactly what went over the wire (header case, chunking, trailers).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use lambdatel_components::runtime_proxy::{ProxyConfig, ProxyStats, RuntimeProxy, TriggerStore};

/// One HTTP message as read off a socket.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RawMessage {
    /// Start line and header lines, each with its `\r\n`, and the blank line.
    pub head: String,
    /// The body, de-chunked.
    pub body: Vec<u8>,
    /// The trailer lines of a chunked body, as sent.
    pub trailers: Vec<String>,
    /// Every byte of the message as it arrived.
    pub wire: Vec<u8>,
}

impl RawMessage {
    /// A header's value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    /// The trailers as lowercase name and value (HTTP field names are case-insensitive).
    pub fn trailer_fields(&self) -> Vec<(String, String)> {
        self.trailers
            .iter()
            .filter_map(|line| line.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect()
    }
}

/// Reads one message; `has_body` says whether a message without length headers has a body (responses to a
/// request that expects none are not read here). `on_chunk` is told the size of each chunk as it arrives.
pub fn read_message(reader: &mut BufReader<TcpStream>, mut on_chunk: impl FnMut(usize)) -> Option<RawMessage> {
    let mut message = RawMessage::default();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        message.head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    message.wire.extend_from_slice(message.head.as_bytes());
    let chunked = message.header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    if chunked {
        loop {
            let mut size_line = String::new();
            reader.read_line(&mut size_line).ok()?;
            message.wire.extend_from_slice(size_line.as_bytes());
            let size = usize::from_str_radix(size_line.trim().split(';').next()?, 16).ok()?;
            if size == 0 {
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).ok()?;
                    message.wire.extend_from_slice(line.as_bytes());
                    if line == "\r\n" {
                        return Some(message);
                    }
                    message.trailers.push(line);
                }
            }
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            message.wire.extend_from_slice(&chunk);
            message.body.extend_from_slice(&chunk[..size]);
            on_chunk(size);
        }
    }
    let length: usize = message.header("content-length").map(|v| v.parse().unwrap()).unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    message.wire.extend_from_slice(&body);
    message.body = body;
    Some(message)
}

/// What the fake Runtime API received, in order.
pub type Received = Arc<Mutex<Vec<RawMessage>>>;

/// A fake Runtime API on a loopback port. `invocation/next` serves the event named by the request's
/// `Test-Event` header (a file of tests/fixtures/triggers) with request id `req-<name>`; when the header
/// `Test-Pause` is present it sends the head and the first half of the event, then waits for `resume`.
/// After a response or error call with the header `Test-Close`, it closes the connection.
pub struct FakeRuntimeApi {
    pub address: SocketAddr,
    pub received: Received,
    /// The size of each request chunk, as the fake receives it.
    pub chunks: mpsc::Receiver<usize>,
    pub resume: mpsc::Sender<()>,
}

impl FakeRuntimeApi {
    pub fn start() -> FakeRuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let received: Received = Arc::default();
        let (chunk_tx, chunks) = mpsc::channel();
        let (resume, resume_rx) = mpsc::channel::<()>();
        let resume_rx = Arc::new(Mutex::new(resume_rx));
        let log = received.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (log, chunk_tx, resume_rx) = (log.clone(), chunk_tx.clone(), resume_rx.clone());
                thread::spawn(move || serve_connection(stream, log, chunk_tx, resume_rx));
            }
        });
        FakeRuntimeApi { address, received, chunks, resume }
    }

    pub fn last_received(&self) -> RawMessage {
        self.received.lock().unwrap().last().cloned().expect("the fake Runtime API received nothing")
    }
}

fn serve_connection(
    stream: TcpStream,
    log: Received,
    chunk_tx: mpsc::Sender<usize>,
    resume: Arc<Mutex<mpsc::Receiver<()>>>,
) {
    // Like a real server: no Nagle delay between a head and a body written apart.
    stream.set_nodelay(true).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_message(&mut reader, |size| {
        let _ = chunk_tx.send(size);
    }) {
        log.lock().unwrap().push(request.clone());
        let path = request.head.split(' ').nth(1).unwrap_or_default().to_string();
        if path == "/2018-06-01/runtime/invocation/next" {
            let name = request.header("test-event").unwrap_or("lambda-urls-request.json");
            let event = fixture(name);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: req-{name}\r\n\
                 Lambda-Runtime-Deadline-Ms: 1700000000000\r\n\
                 Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:f\r\n\
                 Lambda-Runtime-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1\r\n\
                 Content-Length: {}\r\n\r\n",
                event.len()
            );
            writer.write_all(head.as_bytes()).unwrap();
            if request.header("test-pause").is_some() {
                let half = event.len() / 2;
                writer.write_all(&event[..half]).unwrap();
                writer.flush().unwrap();
                resume.lock().unwrap().recv_timeout(Duration::from_secs(10)).expect("the test never resumed");
                writer.write_all(&event[half..]).unwrap();
            } else {
                writer.write_all(&event).unwrap();
            }
        } else if path.ends_with("/response") || path.ends_with("/error") {
            writer
                .write_all(b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"status\":\"OK\"}\n")
                .unwrap();
            if request.header("test-close").is_some() {
                let _ = writer.shutdown(std::net::Shutdown::Both);
                return;
            }
        } else {
            let body = format!("{{\"errorMessage\":\"no route for {path}\",\"errorType\":\"InvalidRequest\"}}");
            let head = format!(
                "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            writer.write_all(head.as_bytes()).unwrap();
            writer.write_all(body.as_bytes()).unwrap();
        }
    }
}

pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/triggers/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A runtime's connection: raw bytes out, parsed responses in.
pub struct RawClient {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
}

impl RawClient {
    pub fn connect(address: SocketAddr) -> std::io::Result<RawClient> {
        let stream = TcpStream::connect(address)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_nodelay(true)?;
        Ok(RawClient { writer: stream.try_clone()?, reader: BufReader::new(stream) })
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
        self.writer.flush().unwrap();
    }

    pub fn read_response(&mut self) -> Option<RawMessage> {
        read_message(&mut self.reader, |_| {})
    }

    /// Reads exactly `n` bytes as they come, for tests that look at a message before it is complete.
    pub fn read_exact(&mut self, n: usize) -> Vec<u8> {
        let mut bytes = vec![0; n];
        self.reader.read_exact(&mut bytes).unwrap();
        bytes
    }

    pub fn round_trip(&mut self, request: &[u8]) -> RawMessage {
        self.send(request);
        self.read_response().expect("no response")
    }
}

/// A proxy serving on a thread of its own; dropping `stop` (or calling [`RunningProxy::stop`]) ends it.
pub struct RunningProxy {
    pub address: SocketAddr,
    /// The Linux thread id of the proxy's thread (its CPU time is in `/proc/self/task/<tid>/schedstat`).
    pub thread_id: Option<String>,
    pub triggers: TriggerStore,
    pub stats: Arc<ProxyStats>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl RunningProxy {
    pub fn start(config: ProxyConfig, upstream: SocketAddr) -> RunningProxy {
        let (bound_info_tx, bound_info_rx) = mpsc::channel();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let bound = RuntimeProxy::bind(config).await.unwrap();
                let thread_id = std::fs::read_link("/proc/thread-self")
                    .ok()
                    .and_then(|link| link.file_name().map(|tid| tid.to_string_lossy().into_owned()));
                bound_info_tx.send((bound.local_addr(), bound.triggers(), bound.stats(), thread_id)).unwrap();
                let upstream = upstream.to_string();
                tokio::select! {
                    result = bound.serve(&upstream) => panic!("the proxy stopped: {result:?}"),
                    _ = stop_rx => {}
                }
            });
        });
        let (address, triggers, stats, thread_id) = bound_info_rx.recv().expect("the proxy did not bind");
        RunningProxy { address, triggers, stats, thread_id, stop: Some(stop), thread: Some(thread) }
    }

    /// CPU time the proxy's thread has used so far, where Linux tells it.
    pub fn cpu_time(&self) -> Option<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/self/task/{}/schedstat", self.thread_id.as_ref()?)).ok()?;
        Some(Duration::from_nanos(stat.split_whitespace().next()?.parse().ok()?))
    }

    /// Stops the proxy as a killed lambdatel would: its port closes and open connections drop.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

impl Drop for RunningProxy {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A proxy config that writes its address file into `dir` (or nowhere).
pub fn config_with_file(dir: Option<&std::path::Path>) -> ProxyConfig {
    ProxyConfig { address_file: dir.map(|d| d.join("runtime-proxy")), ..ProxyConfig::default() }
}

/// A fresh, empty directory under the system's temporary folder.
pub fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("lambdatel-proxy-{tag}-{}-{}", std::process::id(), fastrand::u64(..)));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
