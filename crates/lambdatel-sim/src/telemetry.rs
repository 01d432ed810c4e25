//! The telemetry hub: validates Telemetry/Logs API subscriptions, buffers events per subscriber
//! according to its buffering settings, and delivers batches to its destination the way Lambda
//! does (HTTP POST of a JSON array or NDJSON over TCP, retry with backoff, `platform.logsDropped`
//! when the subscriber falls behind, nothing delivered while the sandbox is frozen).

use crate::events::{EventRecord, LogsDropped, Schema, TelemetryEvent};
use crate::http::post_json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::io::AsyncWriteExt;
use tokio::sync::{watch, Notify};

/// Buffering of a subscription after defaults are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Buffering {
    /// Flush when the oldest buffered event is this old.
    pub timeout_ms: u64,
    /// Flush when this many bytes are buffered.
    pub max_bytes: u64,
    /// Flush when this many events are buffered.
    pub max_items: u64,
}

/// Where a subscriber wants its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// HTTP POST to `addr` with this path (and the original host for the Host header).
    Http {
        /// Resolved socket address (`sandbox.localdomain` is loopback).
        addr: SocketAddr,
        /// Path and query.
        path: String,
        /// Host header value as the subscriber wrote it.
        host: String,
    },
    /// NDJSON written over TCP to loopback.
    Tcp {
        /// Port on loopback.
        port: u16,
    },
}

/// A validated subscription request.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionRequest {
    /// API and schema version.
    pub schema: Schema,
    /// Subscribed types: `platform`, `function`, `extension`.
    pub types: Vec<String>,
    /// Buffering with defaults applied.
    pub buffering: Buffering,
    /// Destination.
    pub destination: Destination,
}

/// Telemetry API schema versions the simulator accepts.
pub const TELEMETRY_SCHEMAS: [&str; 3] = ["2022-07-01", "2022-12-13", "2025-01-29"];
/// Logs API schema versions the simulator accepts.
pub const LOGS_SCHEMAS: [&str; 2] = ["2020-08-15", "2021-03-18"];

/// Validates a subscription body. `logs_api` selects the Logs API rules (schema optional,
/// maxItems default 10,000). The error is the `errorMessage` of a 400 answer.
pub fn parse_subscription(body: &[u8], logs_api: bool) -> Result<SubscriptionRequest, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("invalid JSON body: {e}"))?;
    let obj = v.as_object().ok_or("body must be a JSON object")?;
    let schema = match obj.get("schemaVersion") {
        None if logs_api => Schema::Logs("2020-08-15".into()),
        None => return Err("schemaVersion is required".into()),
        Some(Value::String(s)) if logs_api && LOGS_SCHEMAS.contains(&s.as_str()) => Schema::Logs(s.clone()),
        Some(Value::String(s)) if !logs_api && TELEMETRY_SCHEMAS.contains(&s.as_str()) => Schema::Telemetry(s.clone()),
        Some(other) => return Err(format!("unsupported schemaVersion {other}")),
    };
    let types: Vec<String> = match obj.get("types") {
        Some(Value::Array(a)) if !a.is_empty() => a
            .iter()
            .map(|t| match t.as_str() {
                Some(s @ ("platform" | "function" | "extension")) => Ok(s.to_string()),
                _ => Err(format!("invalid type {t}")),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err("types must be a non-empty array".into()),
    };
    let b = obj.get("buffering").cloned().unwrap_or(Value::Object(Default::default()));
    let field = |name: &str, min: u64, max: u64, default: u64| -> Result<u64, String> {
        match b.get(name) {
            None | Some(Value::Null) => Ok(default),
            Some(n) => match n.as_u64() {
                Some(x) if (min..=max).contains(&x) => Ok(x),
                _ => Err(format!("buffering.{name} must be an integer between {min} and {max}, got {n}")),
            },
        }
    };
    let buffering = Buffering {
        timeout_ms: field("timeoutMs", 25, 30_000, 1_000)?,
        max_bytes: field("maxBytes", 262_144, 1_048_576, 262_144)?,
        max_items: field("maxItems", 1_000, 10_000, if logs_api { 10_000 } else { 1_000 })?,
    };
    let dest = obj.get("destination").ok_or("destination is required")?;
    let destination = match dest.get("protocol").and_then(Value::as_str) {
        Some("HTTP") => {
            let uri = dest.get("URI").and_then(Value::as_str).ok_or("destination.URI is required")?;
            parse_http_destination(uri)?
        }
        Some("TCP") => match dest.get("port").and_then(Value::as_u64) {
            Some(p @ 1..=65_535) => Destination::Tcp { port: p as u16 },
            _ => return Err("destination.port must be between 1 and 65535".into()),
        },
        _ => return Err("destination.protocol must be HTTP or TCP".into()),
    };
    Ok(SubscriptionRequest { schema, types, buffering, destination })
}

/// Parses `http://sandbox.localdomain:PORT/path`; the host must be `sandbox.localdomain` or a
/// loopback name, and is delivered to 127.0.0.1. HTTPS is refused, as in Lambda.
fn parse_http_destination(uri: &str) -> Result<Destination, String> {
    let rest = uri.strip_prefix("http://").ok_or("destination.URI must be plain http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| format!("invalid port in {uri}"))?),
        None => (authority, 80),
    };
    if !matches!(host, "sandbox.localdomain" | "sandbox" | "localhost" | "127.0.0.1") {
        return Err(format!("destination host must be sandbox.localdomain, got {host}"));
    }
    if port == 9001 {
        return Err("port 9001 is reserved".into());
    }
    Ok(Destination::Http {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        path: path.to_string(),
        host: authority.to_string(),
    })
}

/// Delivery counters of one subscriber.
#[derive(Debug, Default)]
pub struct SubscriberStats {
    /// Events delivered (acknowledged with a 2xx for HTTP).
    pub delivered: AtomicU64,
    /// Events dropped because the subscriber fell behind or never accepted them.
    pub dropped: AtomicU64,
    /// Batches delivered.
    pub batches: AtomicU64,
    /// Delivery attempts that failed (no listener, connection error, or a non-2xx answer).
    pub failed_attempts: AtomicU64,
    /// Of those, attempts the listener answered with a non-2xx status (e.g. it could not parse
    /// the batch).
    pub rejected_attempts: AtomicU64,
}

struct Queue {
    items: VecDeque<(Value, usize)>,
    bytes: usize,
    dropped_records: u64,
    dropped_bytes: u64,
    flush: bool,
    closed: bool,
}

/// One subscriber: its settings, queue and counters.
pub struct Subscriber {
    /// Name of the subscribing extension.
    pub extension: String,
    /// The validated request.
    pub request: SubscriptionRequest,
    /// Counters.
    pub stats: SubscriberStats,
    queue: Mutex<Queue>,
    notify: Notify,
    queue_limit_bytes: usize,
}

impl Subscriber {
    fn wants(&self, record: &EventRecord) -> bool {
        use crate::events::Category::*;
        let want = match record.category() {
            Platform => "platform",
            Function => "function",
            Extension => "extension",
        };
        self.request.types.iter().any(|t| t == want)
    }

    fn push(&self, ev: &TelemetryEvent) {
        let rendered = ev.render(&self.request.schema);
        let mut q = self.queue.lock().unwrap();
        if q.closed {
            return;
        }
        for item in rendered {
            let size = item.to_string().len();
            if q.bytes + size > self.queue_limit_bytes {
                // The subscriber is not keeping up: Lambda drops and reports it with logsDropped.
                q.dropped_records += 1;
                q.dropped_bytes += size as u64;
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            q.bytes += size;
            q.items.push_back((item, size));
        }
        drop(q);
        self.notify.notify_one();
    }

    /// Number of events waiting for delivery.
    pub fn pending(&self) -> usize {
        self.queue.lock().unwrap().items.len()
    }
}

/// Fans platform, function and extension events out to the subscribers.
pub struct Hub {
    subscribers: Mutex<Vec<Arc<Subscriber>>>,
    /// Events of the current init phase, replayed to subscribers that subscribe during init.
    backlog: Mutex<Option<Vec<TelemetryEvent>>>,
    frozen: watch::Sender<bool>,
    /// Every event emitted, kept for reports and tests.
    log: Mutex<Vec<TelemetryEvent>>,
    record: bool,
    queue_limit_bytes: usize,
    /// Deliveries on the wire right now (a freeze lets them finish first).
    in_flight: Arc<AtomicUsize>,
}

impl Hub {
    /// Creates a hub; `queue_limit_bytes` is how much a subscriber may have pending before
    /// events are dropped. It keeps every event for [`Hub::events`] unless `record` is false
    /// (long benchmark runs).
    pub fn new(queue_limit_bytes: usize, record: bool) -> Arc<Hub> {
        Arc::new(Hub {
            subscribers: Mutex::new(Vec::new()),
            backlog: Mutex::new(None),
            frozen: watch::channel(false).0,
            log: Mutex::new(Vec::new()),
            record,
            queue_limit_bytes,
            in_flight: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Starts recording an init backlog (at the start of an init phase).
    pub fn open_backlog(&self) {
        *self.backlog.lock().unwrap() = Some(Vec::new());
    }

    /// Stops recording the init backlog (at the end of an init phase).
    pub fn close_backlog(&self) {
        *self.backlog.lock().unwrap() = None;
    }

    /// Emits an event now.
    pub fn emit(&self, record: EventRecord) {
        self.emit_at(SystemTime::now(), record)
    }

    /// Emits an event stamped with `time`.
    pub fn emit_at(&self, time: SystemTime, record: EventRecord) {
        let ev = TelemetryEvent::at(time, record);
        if let Some(b) = self.backlog.lock().unwrap().as_mut() {
            b.push(ev.clone());
        }
        for s in self.subscribers.lock().unwrap().iter() {
            if s.wants(&ev.record) {
                s.push(&ev);
            }
        }
        if self.record {
            self.log.lock().unwrap().push(ev);
        }
    }

    /// Every event emitted so far.
    pub fn events(&self) -> Vec<TelemetryEvent> {
        self.log.lock().unwrap().clone()
    }

    /// Registers (or replaces) the subscription of `extension` and starts its delivery task.
    pub fn subscribe(self: &Arc<Self>, extension: &str, request: SubscriptionRequest) -> Arc<Subscriber> {
        let sub = Arc::new(Subscriber {
            extension: extension.to_string(),
            request,
            stats: SubscriberStats::default(),
            queue: Mutex::new(Queue {
                items: VecDeque::new(),
                bytes: 0,
                dropped_records: 0,
                dropped_bytes: 0,
                flush: false,
                closed: false,
            }),
            notify: Notify::new(),
            queue_limit_bytes: self.queue_limit_bytes,
        });
        {
            let mut subs = self.subscribers.lock().unwrap();
            if let Some(old) = subs.iter().position(|s| s.extension == extension) {
                let old = subs.remove(old);
                old.queue.lock().unwrap().closed = true;
                old.notify.notify_one();
            }
            subs.push(sub.clone());
        }
        if let Some(backlog) = self.backlog.lock().unwrap().as_ref() {
            for ev in backlog.iter().filter(|e| sub.wants(&e.record)) {
                sub.push(ev);
            }
        }
        tokio::spawn(deliver_loop(sub.clone(), self.frozen.subscribe(), self.in_flight.clone()));
        sub
    }

    /// The subscribers.
    pub fn subscribers(&self) -> Vec<Arc<Subscriber>> {
        self.subscribers.lock().unwrap().clone()
    }

    /// Drops every subscription (when the environment is reset or shut down). Events still
    /// queued can no longer reach anyone and are counted as dropped.
    pub fn clear(&self) {
        for s in self.subscribers.lock().unwrap().drain(..) {
            let mut q = s.queue.lock().unwrap();
            q.closed = true;
            s.stats.dropped.fetch_add(q.items.len() as u64, Ordering::Relaxed);
            q.items.clear();
            q.bytes = 0;
            drop(q);
            s.notify.notify_one();
        }
    }

    /// Asks every subscriber to send what it has buffered now (an input stream closed).
    pub fn flush_all(&self) {
        for s in self.subscribers.lock().unwrap().iter() {
            let mut q = s.queue.lock().unwrap();
            // A flag left on an empty queue would wrongly flush the next lone event.
            if !q.items.is_empty() {
                q.flush = true;
                drop(q);
                s.notify.notify_one();
            }
        }
    }

    /// Stops (true) or resumes (false) all delivery.
    pub fn set_frozen(&self, frozen: bool) {
        self.frozen.send_replace(frozen);
    }

    /// Waits until no delivery is on the wire, or `timeout` passes (before a freeze, so that a
    /// request the subscriber already read is not cut off and later retried as a duplicate).
    pub async fn quiesce(&self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while self.in_flight.load(Ordering::SeqCst) > 0 {
            if Instant::now() >= end {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        true
    }

    /// Waits until no subscriber has events pending, or `timeout` passes. Returns true if drained.
    pub async fn drained(&self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if self.subscribers().iter().all(|s| s.pending() == 0) {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Total events delivered and dropped over all subscribers.
    pub fn totals(&self) -> (u64, u64) {
        self.subscribers().iter().fold((0, 0), |(d, x), s| {
            (d + s.stats.delivered.load(Ordering::Relaxed), x + s.stats.dropped.load(Ordering::Relaxed))
        })
    }
}

async fn wait_thawed(frozen: &mut watch::Receiver<bool>) {
    // An error means the hub is gone; then delivery stops anyway.
    let _ = frozen.wait_for(|f| !*f).await;
}

/// Per-subscriber delivery: buffer until one of the buffering limits is hit, then send.
async fn deliver_loop(sub: Arc<Subscriber>, mut frozen: watch::Receiver<bool>, in_flight: Arc<AtomicUsize>) {
    let b = sub.request.buffering;
    loop {
        // Wait for the first event of a batch.
        loop {
            {
                let q = sub.queue.lock().unwrap();
                if q.closed {
                    return;
                }
                if !q.items.is_empty() || q.dropped_records > 0 {
                    break;
                }
            }
            sub.notify.notified().await;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_millis(b.timeout_ms);
        loop {
            {
                let mut q = sub.queue.lock().unwrap();
                if q.closed {
                    return;
                }
                if q.flush || q.items.len() as u64 >= b.max_items || q.bytes as u64 >= b.max_bytes {
                    q.flush = false;
                    break;
                }
            }
            tokio::select! {
                _ = sub.notify.notified() => {}
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        wait_thawed(&mut frozen).await;
        let batch = take_batch(&sub, b);
        if batch.is_empty() {
            continue;
        }
        send_with_retry(&sub, batch, &mut frozen, &in_flight).await;
    }
}

fn take_batch(sub: &Subscriber, b: Buffering) -> Vec<Value> {
    let mut q = sub.queue.lock().unwrap();
    let mut batch = Vec::new();
    if q.dropped_records > 0 && sub.request.types.iter().any(|t| t == "platform") {
        let ev = TelemetryEvent::at(
            SystemTime::now(),
            EventRecord::LogsDropped(LogsDropped {
                dropped_bytes: q.dropped_bytes,
                dropped_records: q.dropped_records,
                reason: "Some logs were dropped because the downstream consumer is slower than the logs \
                         production rate"
                    .into(),
            }),
        );
        batch.extend(ev.render(&sub.request.schema));
    }
    q.dropped_records = 0;
    q.dropped_bytes = 0;
    let mut bytes = 0usize;
    while let Some((_, size)) = q.items.front() {
        // A payload may reach 2*maxBytes; never split below one item.
        if !batch.is_empty() && (batch.len() as u64 >= b.max_items || (bytes + size) as u64 > 2 * b.max_bytes) {
            break;
        }
        let (item, size) = q.items.pop_front().unwrap();
        q.bytes -= size;
        bytes += size;
        batch.push(item);
    }
    batch
}

/// Attempts before a batch is given up (and counted as dropped).
const MAX_ATTEMPTS: u32 = 12;

async fn send_with_retry(
    sub: &Subscriber,
    batch: Vec<Value>,
    frozen: &mut watch::Receiver<bool>,
    in_flight: &AtomicUsize,
) {
    let mut backoff = Duration::from_millis(50);
    for attempt in 1..=MAX_ATTEMPTS {
        if sub.queue.lock().unwrap().closed {
            return;
        }
        wait_thawed(frozen).await;
        in_flight.fetch_add(1, Ordering::SeqCst);
        let ok = match &sub.request.destination {
            Destination::Http { addr, path, host } => {
                let body = serde_json::to_vec(&batch).unwrap_or_default();
                match post_json(*addr, host, path, body, Duration::from_secs(5)).await {
                    Ok(status) if (200..300).contains(&status) => true,
                    Ok(_) => {
                        sub.stats.rejected_attempts.fetch_add(1, Ordering::Relaxed);
                        false
                    }
                    Err(_) => false,
                }
            }
            Destination::Tcp { port } => send_tcp(*port, &batch).await.is_ok(),
        };
        in_flight.fetch_sub(1, Ordering::SeqCst);
        if ok {
            sub.stats.delivered.fetch_add(batch.len() as u64, Ordering::Relaxed);
            sub.stats.batches.fetch_add(1, Ordering::Relaxed);
            return;
        }
        sub.stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
        if attempt < MAX_ATTEMPTS {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(1));
        }
    }
    sub.stats.dropped.fetch_add(batch.len() as u64, Ordering::Relaxed);
}

async fn send_tcp(port: u16, batch: &[Value]) -> std::io::Result<()> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let mut buf = Vec::new();
    for item in batch {
        serde_json::to_writer(&mut buf, item)?;
        buf.push(b'\n');
    }
    s.write_all(&buf).await?;
    s.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(buffering: &str) -> Vec<u8> {
        format!(
            r#"{{"schemaVersion":"2022-12-13","types":["platform","function"],{buffering}
               "destination":{{"protocol":"HTTP","URI":"http://sandbox.localdomain:4243/lambda"}}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn defaults_and_destination() {
        let r = parse_subscription(&body(""), false).unwrap();
        assert_eq!(r.buffering, Buffering { timeout_ms: 1000, max_bytes: 262_144, max_items: 1000 });
        assert_eq!(r.schema, Schema::Telemetry("2022-12-13".into()));
        assert_eq!(
            r.destination,
            Destination::Http {
                addr: "127.0.0.1:4243".parse().unwrap(),
                path: "/lambda".into(),
                host: "sandbox.localdomain:4243".into()
            }
        );
        let logs = parse_subscription(br#"{"types":["platform"],"destination":{"protocol":"TCP","port":9999}}"#, true)
            .unwrap();
        assert_eq!(logs.schema, Schema::Logs("2020-08-15".into()));
        assert_eq!(logs.buffering.max_items, 10_000);
        assert_eq!(logs.destination, Destination::Tcp { port: 9999 });
    }

    #[test]
    fn every_documented_schema_is_accepted() {
        for v in TELEMETRY_SCHEMAS {
            let b = format!(
                r#"{{"schemaVersion":"{v}","types":["platform"],
                    "destination":{{"protocol":"HTTP","URI":"http://sandbox.localdomain:1234/"}}}}"#
            );
            assert_eq!(parse_subscription(b.as_bytes(), false).unwrap().schema, Schema::Telemetry(v.into()));
        }
        for v in LOGS_SCHEMAS {
            let b = format!(
                r#"{{"schemaVersion":"{v}","types":["platform"],
                    "destination":{{"protocol":"HTTP","URI":"http://sandbox.localdomain:1234/"}}}}"#
            );
            assert_eq!(parse_subscription(b.as_bytes(), true).unwrap().schema, Schema::Logs(v.into()));
        }
    }

    #[test]
    fn buffering_limits_are_enforced_at_both_ends() {
        for (bad, field) in [
            (r#""buffering":{"timeoutMs":24},"#, "timeoutMs"),
            (r#""buffering":{"timeoutMs":30001},"#, "timeoutMs"),
            (r#""buffering":{"maxBytes":262143},"#, "maxBytes"),
            (r#""buffering":{"maxBytes":1048577},"#, "maxBytes"),
            (r#""buffering":{"maxItems":999},"#, "maxItems"),
            (r#""buffering":{"maxItems":10001},"#, "maxItems"),
            (r#""buffering":{"maxItems":"5000"},"#, "maxItems"),
        ] {
            let err = parse_subscription(&body(bad), false).unwrap_err();
            assert!(err.contains(field), "{bad}: {err}");
        }
        let ok =
            parse_subscription(&body(r#""buffering":{"timeoutMs":25,"maxBytes":1048576,"maxItems":10000},"#), false)
                .unwrap();
        assert_eq!(ok.buffering, Buffering { timeout_ms: 25, max_bytes: 1_048_576, max_items: 10_000 });
    }

    #[test]
    fn rejects_bad_schema_types_and_destinations() {
        let cases: [(&[u8], bool); 7] = [
            (br#"{"types":["platform"],"destination":{"protocol":"HTTP","URI":"http://sandbox.localdomain:1/"}}"#, false),
            (br#"{"schemaVersion":"2020-08-15","types":["platform"],"destination":{"protocol":"HTTP","URI":"http://sandbox.localdomain:1/"}}"#, false),
            (br#"{"schemaVersion":"2022-07-01","types":["platform","bogus"],"destination":{"protocol":"HTTP","URI":"http://sandbox.localdomain:1/"}}"#, false),
            (br#"{"schemaVersion":"2022-07-01","types":["platform"],"destination":{"protocol":"HTTP","URI":"https://sandbox.localdomain:1/"}}"#, false),
            (br#"{"schemaVersion":"2022-07-01","types":["platform"],"destination":{"protocol":"HTTP","URI":"http://example.com:1/"}}"#, false),
            (br#"{"schemaVersion":"2022-07-01","types":["platform"],"destination":{"protocol":"TCP","port":0}}"#, false),
            (br#"{"schemaVersion":"2022-07-01","types":["platform"],"destination":{"protocol":"HTTP","URI":"http://sandbox.localdomain:1/"}}"#, true),
        ];
        for (b, logs) in cases {
            assert!(parse_subscription(b, logs).is_err(), "{}", String::from_utf8_lossy(b));
        }
    }

    #[tokio::test]
    async fn tcp_destination_receives_ndjson() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hub = Hub::new(1 << 20, true);
        let body = format!(
            r#"{{"schemaVersion":"2022-12-13","types":["function"],"buffering":{{"timeoutMs":25}},
                "destination":{{"protocol":"TCP","port":{port}}}}}"#
        );
        let sub = hub.subscribe("ext", parse_subscription(body.as_bytes(), false).unwrap());
        hub.emit(EventRecord::Function(crate::events::LogRecord::Text("one".into())));
        hub.emit(EventRecord::Function(crate::events::LogRecord::Text("two".into())));
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut text = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut conn, &mut text).await.unwrap();
        let records: Vec<Value> =
            text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["record"].clone()).collect();
        assert_eq!(records, vec![Value::from("one"), Value::from("two")]);
        assert!(hub.drained(Duration::from_secs(1)).await);
        // The counter is bumped right after the write completes.
        for _ in 0..100 {
            if sub.stats.delivered.load(Ordering::Relaxed) == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(sub.stats.delivered.load(Ordering::Relaxed), 2);
    }

    #[tokio::test]
    async fn queue_limit_drops_and_reports_logs_dropped() {
        let hub = Hub::new(300, true);
        let req = parse_subscription(&body(""), false).unwrap();
        let sub = hub.subscribe("ext", req);
        hub.set_frozen(true);
        for i in 0..20 {
            hub.emit(EventRecord::Function(crate::events::LogRecord::Text(format!("line {i}"))));
        }
        assert!(sub.stats.dropped.load(Ordering::Relaxed) > 0);
        let batch = take_batch(&sub, sub.request.buffering);
        assert_eq!(batch[0]["type"], "platform.logsDropped");
        assert_eq!(batch[0]["record"]["droppedRecords"].as_u64().unwrap(), sub.stats.dropped.load(Ordering::Relaxed));
        assert!(batch.len() > 1);
    }
}
