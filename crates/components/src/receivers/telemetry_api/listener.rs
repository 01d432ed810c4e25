//! The `telemetryapi` receiver's network side: its settings, the subscription it asks Lambda for, and the
//! HTTP listener that Lambda POSTs event batches to.
//!
//! The listener answers Lambda as soon as a batch is parsed (conversion is CPU-only and quick), never after
//! an export, so Lambda's delivery is never held up by a slow backend.

use std::{
    convert::Infallible,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{body::Incoming, server::conn::http1, service::service_fn, Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use lambdatel_pipeline::Signals;
use serde::Deserialize;
use tokio::{net::TcpListener, sync::watch, time::Instant};

use super::convert::{ConvertOptions, Converter, IngestStats, InvokeContext, ResourceInfo, Temporality};

/// Which Lambda API to subscribe to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    /// The Telemetry API (schema 2022-12-13, or 2025-01-29 on Lambda Managed Instances): spans, metrics and
    /// structured logs.
    #[default]
    Telemetry,
    /// The older Logs API (schema 2021-03-18), for environments that lack the Telemetry API.
    Logs,
}

/// Buffering that Lambda applies before each POST, within the limits Lambda documents.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Buffering {
    /// Longest time Lambda holds events before a POST (25 to 30,000 ms).
    pub timeout_ms: u32,
    /// Most bytes in one POST (262,144 to 1,048,576).
    pub max_bytes: u32,
    /// Most events in one POST (1,000 to 10,000).
    pub max_items: u32,
}

impl Default for Buffering {
    fn default() -> Self {
        Buffering { timeout_ms: 25, max_bytes: 262_144, max_items: 1_000 }
    }
}

/// Configuration of the `telemetryapi` receiver.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryApiConfig {
    /// Port of the listener Lambda delivers to. By default any free port (the subscription names the port
    /// bound), so another process holding a port cannot stop the extension; a port set here that is taken
    /// is a start-up error. 9001 is Lambda's own and not allowed.
    pub port: Option<u16>,
    /// Address to listen on. By default the address `sandbox.localdomain` resolves to (where Lambda
    /// delivers), or loopback where that name does not resolve.
    pub listen_address: Option<IpAddr>,
    /// `telemetry` (default) or `logs`.
    pub api: Api,
    /// Event types to subscribe to: any of `platform`, `function`, `extension`.
    pub types: Vec<String>,
    /// Lambda's buffering of deliveries.
    pub buffering: Buffering,
    /// Also emit platform events as CloudWatch-style text log lines (`START RequestId: ...`).
    pub platform_logs: bool,
    /// Temporality of the metrics made from platform events: `cumulative` (default) or `delta`.
    pub temporality: Temporality,
    /// Put the sandbox's `service.instance.id` (and `faas.instance`) on the metrics' resource. Default:
    /// true for cumulative (each sandbox's running totals must stay a series of their own), false for
    /// delta (the points of every sandbox add up into the function's series, so the series count does
    /// not grow with concurrency). Spans and logs always carry it.
    pub instance_id_attribute: Option<bool>,
}

impl Default for TelemetryApiConfig {
    fn default() -> Self {
        TelemetryApiConfig {
            port: None,
            listen_address: None,
            api: Api::Telemetry,
            types: vec!["platform".into(), "function".into(), "extension".into()],
            buffering: Buffering::default(),
            platform_logs: false,
            temporality: Temporality::default(),
            instance_id_attribute: None,
        }
    }
}

impl TelemetryApiConfig {
    /// Checks values against Lambda's documented limits, so a bad value fails at start-up with a message
    /// that names the key instead of as a refused subscription.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(port @ (0 | 9001)) = self.port {
            return Err(format!(
                "port {port} is not allowed (9001 is reserved by Lambda; leave port out for any free port)"
            ));
        }
        for t in &self.types {
            if !["platform", "function", "extension"].contains(&t.as_str()) {
                return Err(format!("types: unknown type {t:?} (expected platform, function or extension)"));
            }
        }
        if self.types.is_empty() {
            return Err("types: at least one of platform, function, extension is needed".into());
        }
        if self.temporality == Temporality::Cumulative && self.instance_id_attribute == Some(false) {
            return Err("instance_id_attribute: false needs `temporality: delta`: cumulative totals of several \
                        sandboxes in one series read as counter resets"
                .into());
        }
        let b = &self.buffering;
        let ranges: [(&str, u32, u32, u32); 3] = [
            ("timeout_ms", b.timeout_ms, 25, 30_000),
            ("max_bytes", b.max_bytes, 262_144, 1_048_576),
            ("max_items", b.max_items, 1_000, 10_000),
        ];
        for (key, value, min, max) in ranges {
            if value < min || value > max {
                return Err(format!("buffering.{key}: {value} is outside Lambda's limits ({min} to {max})"));
            }
        }
        Ok(())
    }

    /// Whether platform events are subscribed to (without them no `runtimeDone` ever arrives).
    pub fn wants_platform(&self) -> bool {
        self.types.iter().any(|t| t == "platform")
    }

    /// The API path and body of the subscription request for a listener on `port`. Lambda Managed Instances
    /// accept only the Telemetry API with schema 2025-01-29; asking them for the Logs API is an error that
    /// names the key.
    pub fn subscription(
        &self,
        port: u16,
        managed_instances: bool,
    ) -> Result<(&'static str, serde_json::Value), String> {
        let (path, schema) = match (self.api, managed_instances) {
            (Api::Telemetry, false) => ("/2022-07-01/telemetry", "2022-12-13"),
            (Api::Telemetry, true) => ("/2022-07-01/telemetry", "2025-01-29"),
            (Api::Logs, false) => ("/2020-08-15/logs", "2021-03-18"),
            (Api::Logs, true) => {
                return Err("api: the Logs API does not exist on Lambda Managed Instances; use api: telemetry".into())
            }
        };
        let body = serde_json::json!({
            "schemaVersion": schema,
            "types": self.types,
            "buffering": {
                "timeoutMs": self.buffering.timeout_ms,
                "maxBytes": self.buffering.max_bytes,
                "maxItems": self.buffering.max_items,
            },
            "destination": {"protocol": "HTTP", "URI": format!("http://sandbox.localdomain:{port}/")},
        });
        Ok((path, body))
    }

    /// Largest POST body accepted: Lambda's documented worst case (2 × maxBytes plus metadata), with room.
    fn max_body_bytes(&self) -> usize {
        self.buffering.max_bytes as usize * 2 + 1024 * 1024
    }
}

/// Counters of what the listener received, for self-telemetry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListenerStats {
    pub batches: u64,
    /// Bytes of the POST bodies accepted.
    pub bytes: u64,
    pub rejected_batches: u64,
    pub ingest: IngestTotals,
}

/// Running totals of [`IngestStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestTotals {
    pub events: u64,
    pub skipped_events: u64,
    pub skipped_fields: u64,
    pub malformed_batches: u64,
}

impl IngestTotals {
    fn add(&mut self, s: IngestStats) {
        self.events += s.events as u64;
        self.skipped_events += s.skipped_events as u64;
        self.skipped_fields += s.skipped_fields as u64;
        self.malformed_batches += s.malformed_batches as u64;
    }
}

/// The listener's port, bound before the extension registers and subscribes.
pub struct BoundListener {
    listener: TcpListener,
    config: TelemetryApiConfig,
}

impl BoundListener {
    /// Binds the listener, to any free port unless one is configured. A taken port is reported with the port
    /// and the key that sets it.
    pub async fn bind(config: &TelemetryApiConfig) -> Result<Self, String> {
        let ip = match config.listen_address {
            Some(ip) => ip,
            None => sandbox_address(),
        };
        let addr = SocketAddr::new(ip, config.port.unwrap_or(0));
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::AddrInUse {
                format!(
                    "port {} is already in use on {ip}; choose another with receivers.telemetryapi.port, or leave it out for any free port",
                    addr.port()
                )
            } else {
                format!("cannot listen on {addr}: {e}")
            }
        })?;
        Ok(BoundListener { listener, config: config.clone() })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Starts serving, converting what arrives with a converter built for `resource`.
    pub fn start(self, resource: ResourceInfo) -> TelemetryApiReceiver {
        let options = ConvertOptions {
            platform_logs: self.config.platform_logs,
            temporality: self.config.temporality,
            instance_id_attribute: self.config.instance_id_attribute,
        };
        let (batches, _) = watch::channel(0u64);
        let shared = Arc::new(Shared {
            converter: Mutex::new(Converter::new(resource, options)),
            batches,
            stats: Mutex::new(ListenerStats::default()),
            max_body_bytes: self.config.max_body_bytes(),
        });
        let local_addr = self.local_addr();
        tokio::spawn(serve(self.listener, shared.clone()));
        TelemetryApiReceiver { shared, local_addr, config: self.config }
    }
}

/// Where Lambda delivers: the address of `sandbox.localdomain`, else loopback (outside Lambda).
///
/// Lambda writes the name into the sandbox's /etc/hosts, so reading that file finds it without a resolver:
/// no DNS query that fails slowly outside Lambda, and no resolver thread started for one lookup.
fn sandbox_address() -> IpAddr {
    std::fs::read_to_string(HOSTS_FILE)
        .ok()
        .and_then(|hosts| address_in_hosts(&hosts, SANDBOX_HOST))
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

const HOSTS_FILE: &str = "/etc/hosts";
const SANDBOX_HOST: &str = "sandbox.localdomain";

/// The first IPv4 address that a hosts file (`address name [aliases...]`, `#` comments) gives `name`; names
/// compare case-insensitively, as resolvers do.
fn address_in_hosts(hosts: &str, name: &str) -> Option<IpAddr> {
    hosts.lines().find_map(|line| {
        let line = line.split('#').next().unwrap_or_default();
        let mut fields = line.split_ascii_whitespace();
        let address: IpAddr = fields.next()?.parse().ok()?;
        (address.is_ipv4() && fields.any(|host| host.eq_ignore_ascii_case(name))).then_some(address)
    })
}

struct Shared {
    converter: Mutex<Converter>,
    /// Counts accepted batches, so waiters wake on each one.
    batches: watch::Sender<u64>,
    stats: Mutex<ListenerStats>,
    max_body_bytes: usize,
}

/// The running receiver: the listener and the converter it feeds.
pub struct TelemetryApiReceiver {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    config: TelemetryApiConfig,
}

impl TelemetryApiReceiver {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn config(&self) -> &TelemetryApiConfig {
        &self.config
    }

    /// Tells the converter about an INVOKE event (request id, ARN, X-Ray header).
    pub fn on_invoke(&self, ctx: InvokeContext) {
        self.converter().on_invoke(ctx);
    }

    /// Waits until `platform.runtimeDone` of `request_id` has arrived, or `deadline`. Returns whether it did.
    pub async fn wait_runtime_done(&self, request_id: &str, deadline: Instant) -> bool {
        let mut batches = self.shared.batches.subscribe();
        loop {
            if self.converter().runtime_done_seen(request_id) {
                return true;
            }
            match tokio::time::timeout_at(deadline, batches.changed()).await {
                Ok(Ok(())) => continue,
                _ => return self.converter().runtime_done_seen(request_id),
            }
        }
    }

    /// Waits until an invocation has ended since the last drain, or `deadline`. Returns whether one has:
    /// on Lambda Managed Instances, where nothing waits for `event/next`, a background flush loop drains then.
    pub async fn wait_ended(&self, deadline: Instant) -> bool {
        let mut batches = self.shared.batches.subscribe();
        loop {
            if self.converter().ended_since_drain() > 0 {
                return true;
            }
            match tokio::time::timeout_at(deadline, batches.changed()).await {
                Ok(Ok(())) => continue,
                _ => return self.converter().ended_since_drain() > 0,
            }
        }
    }

    /// Declares the sandbox a Lambda Managed Instances one (see [`Converter::set_managed_instances`]).
    pub fn set_managed_instances(&self, managed_instances: bool) {
        self.converter().set_managed_instances(managed_instances);
    }

    /// SnapStart restores (`platform.restoreStart`) received so far.
    pub fn restores(&self) -> u64 {
        self.converter().counters().restores
    }

    /// Whether a SnapStart restore happened since the previous call (see [`Converter::take_restored`]).
    pub fn take_restored(&self) -> bool {
        self.converter().take_restored()
    }

    /// Waits until no batch has arrived for `quiet`, or `deadline`: at shutdown, Lambda sends what it still
    /// buffers within one buffering period.
    pub async fn wait_quiet(&self, quiet: Duration, deadline: Instant) {
        let mut batches = self.shared.batches.subscribe();
        loop {
            let until = (Instant::now() + quiet).min(deadline);
            match tokio::time::timeout_at(until, batches.changed()).await {
                Ok(Ok(())) if Instant::now() < deadline => continue,
                _ => return,
            }
        }
    }

    /// Takes everything converted and complete so far.
    pub fn drain(&self) -> Signals {
        self.converter().drain()
    }

    /// Takes everything, including what is still held (at shutdown).
    pub fn finish(&self) -> Signals {
        self.converter().finish()
    }

    /// Bounds the log records held between flushes (see [`Converter::set_log_budget`]).
    pub fn set_log_budget(&self, bytes: usize) {
        self.converter().set_log_budget(bytes);
    }

    /// Approximate bytes of log records held until the next flush.
    pub fn held_log_bytes(&self) -> usize {
        self.converter().held_log_bytes()
    }

    /// Log records dropped because of the memory bound.
    pub fn dropped_logs(&self) -> u64 {
        self.converter().dropped_logs()
    }

    /// The resource the converter stamps on everything (patched once `platform.initStart` arrives).
    pub fn resource(&self) -> lambdatel_pipeline::resource::Resource {
        self.converter().resource().clone()
    }

    pub fn stats(&self) -> ListenerStats {
        *self.shared.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn converter(&self) -> std::sync::MutexGuard<'_, Converter> {
        // A panic while holding the lock cannot leave the converter half-updated in a way worth dying for.
        self.shared.converter.lock().unwrap_or_else(|e| e.into_inner())
    }
}

async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(conn) => conn,
            // Out of file descriptors and the like: back off instead of spinning.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| handle(request, shared.clone()));
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(request: Request<Incoming>, shared: Arc<Shared>) -> Result<Response<Full<Bytes>>, Infallible> {
    // The Logs API may deliver by PUT; the Telemetry API uses POST.
    if request.method() != Method::POST && request.method() != Method::PUT {
        return Ok(reply(StatusCode::METHOD_NOT_ALLOWED, "POST a JSON array of events"));
    }
    let body = match tokio::time::timeout(
        Duration::from_secs(10),
        Limited::new(request.into_body(), shared.max_body_bytes).collect(),
    )
    .await
    {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(_)) | Err(_) => {
            shared.stats.lock().unwrap_or_else(|e| e.into_inner()).rejected_batches += 1;
            return Ok(reply(StatusCode::PAYLOAD_TOO_LARGE, "body too large or too slow"));
        }
    };
    let stats = {
        let mut converter = shared.converter.lock().unwrap_or_else(|e| e.into_inner());
        converter.ingest(&body)
    };
    {
        let mut totals = shared.stats.lock().unwrap_or_else(|e| e.into_inner());
        totals.batches += 1;
        totals.bytes += body.len() as u64;
        totals.ingest.add(stats);
    }
    shared.batches.send_modify(|n| *n += 1);
    // A malformed batch is answered 200 too: Lambda would only resend the same bytes.
    Ok(reply(StatusCode::OK, "OK"))
}

fn reply(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sandbox_address_comes_from_the_hosts_file() {
        let hosts = "# comment sandbox.localdomain\n127.0.0.1 localhost\n\
                     ::1 sandbox.localdomain\n\
                     bogus sandbox.localdomain\n\
                     169.254.100.1\tsandbox SANDBOX.localdomain # Lambda's\n\
                     169.254.100.2 sandbox.localdomain\n";
        assert_eq!(address_in_hosts(hosts, SANDBOX_HOST), Some(IpAddr::V4(Ipv4Addr::new(169, 254, 100, 1))));
        assert_eq!(address_in_hosts("127.0.0.1 localhost\n", SANDBOX_HOST), None);
        assert_eq!(address_in_hosts("127.0.0.1 localhost # sandbox.localdomain\n", SANDBOX_HOST), None);
        assert_eq!(address_in_hosts("", SANDBOX_HOST), None);
    }

    #[test]
    fn defaults_match_the_documented_subscription() {
        let config = TelemetryApiConfig::default();
        assert!(config.validate().is_ok());
        let (path, body) = config.subscription(4243, false).unwrap();
        assert_eq!(path, "/2022-07-01/telemetry");
        assert_eq!(
            body,
            serde_json::json!({
                "schemaVersion": "2022-12-13",
                "types": ["platform", "function", "extension"],
                "buffering": {"timeoutMs": 25, "maxBytes": 262144, "maxItems": 1000},
                "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain:4243/"},
            })
        );
        let logs = TelemetryApiConfig { api: Api::Logs, ..TelemetryApiConfig::default() };
        let (path, body) = logs.subscription(1, false).unwrap();
        assert_eq!(path, "/2020-08-15/logs");
        assert_eq!(body["schemaVersion"], "2021-03-18");
        assert_eq!(
            logs.subscription(1, true).unwrap_err(),
            "api: the Logs API does not exist on Lambda Managed Instances; use api: telemetry"
        );
        let (path, body) = config.subscription(50_000, true).unwrap();
        assert_eq!(path, "/2022-07-01/telemetry");
        assert_eq!(body["schemaVersion"], "2025-01-29");
        assert_eq!(body["destination"]["URI"], "http://sandbox.localdomain:50000/");
    }

    #[test]
    fn limits_are_checked_with_the_key_named() {
        let mut config = TelemetryApiConfig::default();
        config.buffering.timeout_ms = 10;
        assert_eq!(config.validate().unwrap_err(), "buffering.timeout_ms: 10 is outside Lambda's limits (25 to 30000)");
        config.buffering.timeout_ms = 25;
        config.buffering.max_items = 20_000;
        assert_eq!(
            config.validate().unwrap_err(),
            "buffering.max_items: 20000 is outside Lambda's limits (1000 to 10000)"
        );
        let config = TelemetryApiConfig { port: Some(9001), ..TelemetryApiConfig::default() };
        assert!(config.validate().unwrap_err().contains("reserved"));
        let config = TelemetryApiConfig { instance_id_attribute: Some(false), ..TelemetryApiConfig::default() };
        assert_eq!(
            config.validate().unwrap_err(),
            "instance_id_attribute: false needs `temporality: delta`: cumulative totals of several sandboxes in one \
             series read as counter resets"
        );
        for (temporality, instance_id_attribute) in
            [(Temporality::Delta, Some(false)), (Temporality::Delta, Some(true)), (Temporality::Cumulative, Some(true))]
        {
            let config = TelemetryApiConfig { temporality, instance_id_attribute, ..TelemetryApiConfig::default() };
            assert_eq!(config.validate(), Ok(()));
        }
        let config = TelemetryApiConfig { types: vec!["platfrom".into()], ..TelemetryApiConfig::default() };
        assert_eq!(
            config.validate().unwrap_err(),
            "types: unknown type \"platfrom\" (expected platform, function or extension)"
        );
    }

    #[tokio::test]
    async fn a_taken_port_names_the_key() {
        let first = BoundListener::bind(&TelemetryApiConfig {
            port: None,
            listen_address: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            ..TelemetryApiConfig::default()
        })
        .await
        .unwrap();
        let port = first.local_addr().port();
        let config = TelemetryApiConfig {
            port: Some(port),
            listen_address: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            ..TelemetryApiConfig::default()
        };
        let err = BoundListener::bind(&config).await.err().unwrap();
        assert_eq!(
            err,
            format!(
                "port {port} is already in use on 127.0.0.1; choose another with receivers.telemetryapi.port, or leave it out for any free port"
            )
        );
    }
    #[tokio::test]
    async fn wait_ended_wakes_when_a_posted_report_ends_an_invocation() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let config = TelemetryApiConfig {
            port: None,
            listen_address: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            ..TelemetryApiConfig::default()
        };
        let receiver = BoundListener::bind(&config).await.unwrap().start(ResourceInfo::default());
        receiver.set_managed_instances(true);
        let soon = Instant::now() + Duration::from_millis(20);
        assert!(!receiver.wait_ended(soon).await, "nothing has ended");
        let id = "6d68ca91-49c9-448d-89b8-7ca3e6dc66aa";
        let body = format!(
            r#"[{{"time":"2025-03-01T09:01:00.000Z","type":"platform.start","record":{{"requestId":"{id}"}}}},
               {{"time":"2025-03-01T09:01:00.050Z","type":"platform.report","record":{{"requestId":"{id}","status":"success","metrics":{{"durationMs":50.0}}}}}}]"#
        );
        let mut stream = tokio::net::TcpStream::connect(receiver.local_addr()).await.unwrap();
        let request = format!(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(receiver.wait_ended(Instant::now() + Duration::from_secs(5)).await);
        assert_eq!(receiver.drain().span_count(), 1);
        assert!(!receiver.wait_ended(Instant::now() + Duration::from_millis(20)).await, "the drain took it");
        assert!(!receiver.take_restored());
    }
}
