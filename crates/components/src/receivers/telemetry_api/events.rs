//! The events Lambda posts to a Telemetry API (schemas 2022-07-01, 2022-12-13, 2025-01-29) or Logs API
//! (2020-08-15, 2021-03-18) subscriber, and their lenient parser.
//!
//! A body is parsed as a JSON array of envelopes first (only their `record` becomes a JSON tree), then each
//! event on its own, so one bad event (or one bad field) costs only itself: unknown types and events missing a
//! required field are skipped, wrong-typed, unknown or unparsable fields are dropped, and everything skipped is
//! counted in [`IngestStats`]. Values are moved out of the parsed JSON, never cloned, because function logs are
//! the hot path.

use serde_json::{Map, Value};

use super::envelope::{self, Envelope, Item, Text};

/// What one body contributed, for the receiver's own diagnostics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IngestStats {
    /// Events understood and used (including known types that carry nothing to convert).
    pub events: usize,
    /// Events dropped: unknown type, not an object, or missing a required field.
    pub skipped_events: usize,
    /// Fields dropped or defaulted in events that were kept: wrong type, bad value, or unknown name.
    pub skipped_fields: usize,
    /// Bodies that were not a JSON array (or object) at all; nothing of them was used.
    pub malformed_batches: usize,
}

impl IngestStats {
    /// Adds `other`'s counts to `self`.
    pub fn add(&mut self, other: IngestStats) {
        self.events += other.events;
        self.skipped_events += other.skipped_events;
        self.skipped_fields += other.skipped_fields;
        self.malformed_batches += other.malformed_batches;
    }
}

/// One event: the envelope's `time` and its typed record.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The envelope's `time` in unix nanoseconds; `None` when missing or unparsable.
    pub time: Option<u64>,
    /// The typed record.
    pub body: EventBody,
}

/// The record of each known event type.
#[derive(Debug, Clone, PartialEq)]
pub enum EventBody {
    /// `platform.initStart`.
    InitStart(PhaseStart),
    /// `platform.initRuntimeDone`.
    InitRuntimeDone(PhaseDone),
    /// `platform.initReport`.
    InitReport(PhaseDone),
    /// `platform.restoreStart` (SnapStart).
    RestoreStart(PhaseStart),
    /// `platform.restoreRuntimeDone`.
    RestoreRuntimeDone(PhaseDone),
    /// `platform.restoreReport`.
    RestoreReport(PhaseDone),
    /// `platform.start`.
    Start(Start),
    /// `platform.runtimeDone`.
    RuntimeDone(InvokeDone),
    /// `platform.report`.
    Report(InvokeDone),
    /// `platform.end` (Logs API only).
    End {
        /// The request that ended.
        request_id: String,
    },
    /// `platform.fault` (Logs API only): a text record.
    Fault(String),
    /// `platform.logsDropped`.
    LogsDropped(LogsDropped),
    /// `platform.extension`, `platform.telemetrySubscription`, `platform.logsSubscription`: informational,
    /// nothing to convert.
    Notice,
    /// A `function` log record.
    FunctionLog(LogPayload),
    /// An `extension` log record.
    ExtensionLog(LogPayload),
}

/// `platform.initStart` / `platform.restoreStart`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PhaseStart {
    /// `initializationType`: `on-demand`, `provisioned-concurrency`, `snap-start`, `lambda-managed-instances`.
    pub initialization_type: Option<String>,
    /// `phase`: `init`, `invoke` (a suppressed init after a reset) or `snap-start`.
    pub phase: Option<String>,
    /// `functionName`.
    pub function_name: Option<String>,
    /// `functionVersion`.
    pub function_version: Option<String>,
    /// `instanceId`: identifies the execution environment.
    pub instance_id: Option<String>,
    /// `instanceMaxMemory`, as sent: bytes from Lambda itself, MB in AWS's documentation example.
    pub instance_max_memory: Option<u64>,
    /// `runtimeVersion`.
    pub runtime_version: Option<String>,
    /// `runtimeVersionArn`.
    pub runtime_version_arn: Option<String>,
}

/// A child phase inside a done or report event (`responseLatency`, `runtimeOverhead`, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseSpan {
    /// `name`.
    pub name: String,
    /// `start`, unix nanoseconds.
    pub start: u64,
    /// `durationMs`.
    pub duration_ms: f64,
}

/// The `tracing` object of an event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tracing {
    /// `spanId`: the id Lambda gave the span of this phase.
    pub span_id: Option<String>,
    /// `value`: the X-Ray header.
    pub value: Option<String>,
}

/// `platform.initRuntimeDone`, `platform.initReport`, `platform.restoreRuntimeDone`, `platform.restoreReport`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PhaseDone {
    /// `initializationType`.
    pub initialization_type: Option<String>,
    /// `phase`.
    pub phase: Option<String>,
    /// `status`: `success`, `failure`, `error` or `timeout`.
    pub status: Option<String>,
    /// `errorType`.
    pub error_type: Option<String>,
    /// `metrics.durationMs` (reports only).
    pub duration_ms: Option<f64>,
    /// `spans[]`.
    pub spans: Vec<PhaseSpan>,
}

/// `platform.start`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Start {
    /// `requestId`.
    pub request_id: String,
    /// `version`.
    pub version: Option<String>,
    /// `functionArn` (Lambda Managed Instances).
    pub function_arn: Option<String>,
    /// `tracing`.
    pub tracing: Option<Tracing>,
}

/// `platform.runtimeDone` and `platform.report`, which share their shape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InvokeDone {
    /// `requestId`.
    pub request_id: String,
    /// `status` (absent in the Logs API's report).
    pub status: Option<String>,
    /// `errorType`.
    pub error_type: Option<String>,
    /// `metrics.durationMs`.
    pub duration_ms: Option<f64>,
    /// `metrics.producedBytes` (runtimeDone).
    pub produced_bytes: Option<u64>,
    /// `metrics.billedDurationMs` (report).
    pub billed_duration_ms: Option<f64>,
    /// `metrics.memorySizeMB` (report).
    pub memory_size_mb: Option<f64>,
    /// `metrics.maxMemoryUsedMB` (report).
    pub max_memory_used_mb: Option<f64>,
    /// `metrics.initDurationMs` (report of the first invocation).
    pub init_duration_ms: Option<f64>,
    /// `metrics.restoreDurationMs` (report of the first invocation after a restore).
    pub restore_duration_ms: Option<f64>,
    /// `spans[]`.
    pub spans: Vec<PhaseSpan>,
    /// `tracing`.
    pub tracing: Option<Tracing>,
}

/// `platform.logsDropped`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogsDropped {
    /// `droppedRecords`.
    pub dropped_records: Option<u64>,
    /// `droppedBytes`.
    pub dropped_bytes: Option<u64>,
    /// `reason`.
    pub reason: Option<String>,
}

/// The record of a `function` or `extension` event.
#[derive(Debug, Clone, PartialEq)]
pub enum LogPayload {
    /// A text line, as the process wrote it (trailing newline included).
    Text(String),
    /// A JSON record (schema 2022-12-13 and later, function log format JSON).
    Json(Map<String, Value>),
}

/// Parses one POST body of either API and hands each usable event to `each`, in order.
pub fn parse_batch(body: &[u8], stats: &mut IngestStats, mut each: impl FnMut(Event)) {
    let Some(items) = envelope::parse_items(body) else {
        stats.malformed_batches += 1;
        return;
    };
    for item in items {
        let event = match item {
            Item::Event(envelope) => parse_event(envelope, &mut stats.skipped_fields),
            Item::NotAnObject => None,
        };
        match event {
            Some(event) => {
                stats.events += 1;
                each(event);
            }
            None => stats.skipped_events += 1,
        }
    }
}

/// Parses one event; `None` when it cannot be used at all. Dropped fields are added to `skipped_fields`.
fn parse_event(envelope: Envelope<'_>, skipped_fields: &mut usize) -> Option<Event> {
    let Text::Str(kind) = envelope.kind else { return None };
    let sk = skipped_fields;
    let time = match envelope.time {
        Text::Str(text) => parse_timestamp(&text).or_else(|| skip(sk)),
        Text::Absent => None,
        Text::Other => skip(sk),
    };
    let record = envelope.record;
    *sk += envelope.unknown_fields;
    let body = match kind.as_ref() {
        "function" => EventBody::FunctionLog(log_payload(record?)),
        "extension" => EventBody::ExtensionLog(log_payload(record?)),
        "platform.fault" => match record? {
            Value::String(text) => EventBody::Fault(text),
            other => EventBody::Fault(other.to_string()),
        },
        kind => {
            // Platform records are objects; the Logs API's restoreStart may have an empty one or none.
            let mut rec = match record {
                Some(Value::Object(map)) => map,
                None | Some(Value::Null) => Map::new(),
                Some(_) => return None,
            };
            let body = platform_body(kind, &mut rec, sk)?;
            *sk += rec.len();
            body
        }
    };
    Some(Event { time, body })
}

fn platform_body(kind: &str, rec: &mut Map<String, Value>, sk: &mut usize) -> Option<EventBody> {
    Some(match kind {
        "platform.initStart" => EventBody::InitStart(phase_start(rec, sk)),
        "platform.restoreStart" => EventBody::RestoreStart(phase_start(rec, sk)),
        "platform.initRuntimeDone" => EventBody::InitRuntimeDone(phase_done(rec, sk)),
        "platform.initReport" => EventBody::InitReport(phase_done(rec, sk)),
        "platform.restoreRuntimeDone" => EventBody::RestoreRuntimeDone(phase_done(rec, sk)),
        "platform.restoreReport" => EventBody::RestoreReport(phase_done(rec, sk)),
        "platform.start" => EventBody::Start(Start {
            request_id: take_str(rec, "requestId", sk)?,
            version: take_str(rec, "version", sk),
            function_arn: take_str(rec, "functionArn", sk),
            tracing: take_tracing(rec, sk),
        }),
        "platform.runtimeDone" => EventBody::RuntimeDone(invoke_done(rec, sk)?),
        "platform.report" => EventBody::Report(invoke_done(rec, sk)?),
        "platform.end" => EventBody::End { request_id: take_str(rec, "requestId", sk)? },
        "platform.logsDropped" => EventBody::LogsDropped(LogsDropped {
            dropped_records: take_u64(rec, "droppedRecords", sk),
            dropped_bytes: take_u64(rec, "droppedBytes", sk),
            reason: take_str(rec, "reason", sk),
        }),
        "platform.extension" | "platform.telemetrySubscription" | "platform.logsSubscription" => {
            // Nothing of these is converted; their fields are expected, not unknown.
            rec.clear();
            EventBody::Notice
        }
        _ => return None,
    })
}

fn log_payload(record: Value) -> LogPayload {
    match record {
        Value::String(text) => LogPayload::Text(text),
        Value::Object(map) => LogPayload::Json(map),
        other => LogPayload::Text(other.to_string()),
    }
}

fn phase_start(rec: &mut Map<String, Value>, sk: &mut usize) -> PhaseStart {
    PhaseStart {
        initialization_type: take_str(rec, "initializationType", sk),
        phase: take_str(rec, "phase", sk),
        function_name: take_str(rec, "functionName", sk),
        function_version: take_str(rec, "functionVersion", sk),
        instance_id: take_str(rec, "instanceId", sk),
        instance_max_memory: take_u64(rec, "instanceMaxMemory", sk),
        runtime_version: take_str(rec, "runtimeVersion", sk),
        runtime_version_arn: take_str(rec, "runtimeVersionArn", sk),
    }
}

fn phase_done(rec: &mut Map<String, Value>, sk: &mut usize) -> PhaseDone {
    let mut done = PhaseDone {
        initialization_type: take_str(rec, "initializationType", sk),
        phase: take_str(rec, "phase", sk),
        status: take_str(rec, "status", sk),
        error_type: take_str(rec, "errorType", sk),
        duration_ms: None,
        spans: take_spans(rec, sk),
    };
    if let Some(mut metrics) = take_object(rec, "metrics", sk) {
        done.duration_ms = take_f64(&mut metrics, "durationMs", sk);
        // The Logs API's SnapStart reports add billedDurationMs, which no metric uses.
        metrics.remove("billedDurationMs");
        *sk += metrics.len();
    }
    done
}

fn invoke_done(rec: &mut Map<String, Value>, sk: &mut usize) -> Option<InvokeDone> {
    let mut done = InvokeDone {
        request_id: take_str(rec, "requestId", sk)?,
        status: take_str(rec, "status", sk),
        error_type: take_str(rec, "errorType", sk),
        spans: take_spans(rec, sk),
        tracing: take_tracing(rec, sk),
        ..InvokeDone::default()
    };
    if let Some(mut m) = take_object(rec, "metrics", sk) {
        done.duration_ms = take_f64(&mut m, "durationMs", sk);
        done.produced_bytes = take_u64(&mut m, "producedBytes", sk);
        done.billed_duration_ms = take_f64(&mut m, "billedDurationMs", sk);
        done.memory_size_mb = take_f64(&mut m, "memorySizeMB", sk);
        done.max_memory_used_mb = take_f64(&mut m, "maxMemoryUsedMB", sk);
        done.init_duration_ms = take_f64(&mut m, "initDurationMs", sk);
        done.restore_duration_ms = take_f64(&mut m, "restoreDurationMs", sk);
        *sk += m.len();
    }
    Some(done)
}

fn take_spans(rec: &mut Map<String, Value>, sk: &mut usize) -> Vec<PhaseSpan> {
    let spans = match rec.remove("spans") {
        Some(Value::Array(spans)) => spans,
        None | Some(Value::Null) => return Vec::new(),
        Some(_) => {
            *sk += 1;
            return Vec::new();
        }
    };
    let mut out = Vec::with_capacity(spans.len());
    for span in spans {
        let Value::Object(mut span) = span else {
            *sk += 1;
            continue;
        };
        let name = take_str(&mut span, "name", sk);
        let start = match span.remove("start") {
            Some(Value::String(text)) => parse_timestamp(&text).or_else(|| skip(sk)),
            None => None,
            Some(_) => skip(sk),
        };
        let duration_ms = take_f64(&mut span, "durationMs", sk);
        *sk += span.len();
        match (name, start, duration_ms) {
            (Some(name), Some(start), Some(duration_ms)) => out.push(PhaseSpan { name, start, duration_ms }),
            // A span without its name, start or duration cannot be drawn: that one span is dropped.
            _ => *sk += 1,
        }
    }
    out
}

fn take_tracing(rec: &mut Map<String, Value>, sk: &mut usize) -> Option<Tracing> {
    let mut map = take_object(rec, "tracing", sk)?;
    let tracing = Tracing { span_id: take_str(&mut map, "spanId", sk), value: take_str(&mut map, "value", sk) };
    map.remove("type");
    *sk += map.len();
    Some(tracing)
}

/// Counts one dropped field; returns `None` so that it reads as the field's value.
fn skip<T>(sk: &mut usize) -> Option<T> {
    *sk += 1;
    None
}

fn take_object(rec: &mut Map<String, Value>, key: &str, sk: &mut usize) -> Option<Map<String, Value>> {
    match rec.remove(key)? {
        Value::Object(map) => Some(map),
        Value::Null => None,
        _ => skip(sk),
    }
}

fn take_str(rec: &mut Map<String, Value>, key: &str, sk: &mut usize) -> Option<String> {
    match rec.remove(key)? {
        Value::String(text) => Some(text),
        Value::Null => None,
        _ => skip(sk),
    }
}

/// A non-negative number; integers and floats alike, since Lambda sends both.
fn take_f64(rec: &mut Map<String, Value>, key: &str, sk: &mut usize) -> Option<f64> {
    match rec.remove(key)? {
        Value::Number(n) => match n.as_f64() {
            Some(v) if v.is_finite() && v >= 0.0 => Some(v),
            _ => skip(sk),
        },
        Value::Null => None,
        _ => skip(sk),
    }
}

/// A non-negative integer; a float is accepted only when it has no fractional part.
fn take_u64(rec: &mut Map<String, Value>, key: &str, sk: &mut usize) -> Option<u64> {
    match rec.remove(key)? {
        Value::Number(n) => {
            if let Some(v) = n.as_u64() {
                return Some(v);
            }
            match n.as_f64() {
                Some(v) if v >= 0.0 && v.fract() == 0.0 && v < u64::MAX as f64 => Some(v as u64),
                _ => skip(sk),
            }
        }
        Value::Null => None,
        _ => skip(sk),
    }
}

/// Parses an RFC 3339 / ISO 8601 date-time (`2022-10-12T00:00:15.064Z`, `2022-10-12T02:00:15+02:00`,
/// `2022-10-12 00:00:15.064123456z`) into unix nanoseconds.
///
/// Fractional seconds may have any number of digits (beyond nanoseconds they are truncated); the offset is `Z`,
/// `±HH:MM`, `±HHMM` or `±HH`. Returns `None` for anything else, for impossible dates and for times before 1970.
pub fn parse_timestamp(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    // 60 is a leap second; it is counted as the first second of the next minute.
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &b[19..];
    let mut nanos: u64 = 0;
    if let Some((b'.' | b',', frac)) = rest.split_first() {
        let len = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if len == 0 {
            return None;
        }
        for (i, c) in frac[..len].iter().enumerate() {
            if i < 9 {
                nanos = nanos * 10 + u64::from(c - b'0');
            }
        }
        nanos *= 10u64.pow(9u32.saturating_sub(len as u32));
        rest = &frac[len..];
    }
    let offset_secs: i64 = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), tail @ ..] => {
            let (h, m) = match tail {
                [h1, h2] => (digits(&[*h1, *h2])?, 0),
                [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let secs = (h * 3600 + m * 60) as i64;
            if *sign == b'-' {
                -secs
            } else {
                secs
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year as i64, month, day);
    let secs = days * 86_400 + (hour * 3600 + minute * 60 + second) as i64 - offset_secs;
    let secs = u64::try_from(secs).ok()?;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, c| c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0')))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year.rem_euclid(4) == 0 && year.rem_euclid(100) != 0) || year.rem_euclid(400) == 0 => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(body: &str) -> (Vec<Event>, IngestStats) {
        let mut stats = IngestStats::default();
        let mut events = Vec::new();
        parse_batch(body.as_bytes(), &mut stats, |e| events.push(e));
        (events, stats)
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_timestamp("2022-10-12T00:00:15.064Z"), Some(1_665_532_815_064_000_000));
        assert_eq!(parse_timestamp("2022-10-12T00:00:15Z"), Some(1_665_532_815_000_000_000));
        assert_eq!(parse_timestamp("2022-10-12T02:00:15.064+02:00"), Some(1_665_532_815_064_000_000));
        assert_eq!(parse_timestamp("2022-10-11T19:30:15.064-0430"), Some(1_665_532_815_064_000_000));
        assert_eq!(parse_timestamp("2022-10-12T01:00:15.064+01"), Some(1_665_532_815_064_000_000));
        assert_eq!(parse_timestamp("2022-10-12 00:00:15.064123456789z"), Some(1_665_532_815_064_123_456));
        assert_eq!(parse_timestamp("2022-10-12t00:00:15.5Z"), Some(1_665_532_815_500_000_000));
        assert_eq!(parse_timestamp("2024-02-29T23:59:59.999999999Z"), Some(1_709_251_199_999_999_999));
        assert_eq!(parse_timestamp("2000-03-01T00:00:00Z"), Some(951_868_800_000_000_000));
        assert_eq!(parse_timestamp("2016-12-31T23:59:60Z"), Some(1_483_228_800_000_000_000));
        // u64 nanoseconds end in 2554.
        assert_eq!(parse_timestamp("2554-07-21T23:34:33.709551615Z"), Some(u64::MAX));
        assert_eq!(parse_timestamp("2554-07-21T23:34:33.709551616Z"), None);
        assert_eq!(parse_timestamp("9999-12-31T23:59:59Z"), None);
    }

    #[test]
    fn bad_timestamps() {
        for bad in [
            "",
            "2022-10-12",
            "2022-10-12T00:00:15",
            "2022-10-12T00:00:15.Z",
            "2022-13-12T00:00:15Z",
            "2023-02-29T00:00:15Z",
            "2022-10-12T24:00:15Z",
            "2022-10-12T00:60:15Z",
            "2022-10-12T00:00:15+2400",
            "2022-10-12T00:00:15+02:0",
            "2022-10-12T00:00:15Zjunk",
            "1969-12-31T23:59:59Z",
            "2022/10/12T00:00:15Z",
            "2022-10-12T00:00:1éZ",
            "20é2-10-12T00:00:15Z",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn malformed_bodies() {
        for body in ["", "not json", "42", "\"OK\"", "[1, 2", "null"] {
            let (events, stats) = parse(body);
            assert!(events.is_empty());
            assert_eq!(stats, IngestStats { malformed_batches: 1, ..IngestStats::default() }, "{body:?}");
        }
    }

    #[test]
    fn a_bare_object_is_a_batch_of_one() {
        let (events, stats) = parse(r#"{"time":"2022-10-12T00:00:15.064Z","type":"function","record":"hi\n"}"#);
        assert_eq!(stats.events, 1);
        assert_eq!(events[0].body, EventBody::FunctionLog(LogPayload::Text("hi\n".into())));
    }

    #[test]
    fn bad_events_are_skipped_and_the_rest_kept() {
        let body = json!([
            {"time": "2022-10-12T00:00:15.064Z", "type": "function", "record": "one"},
            {"time": "2022-10-12T00:00:15.064Z", "type": "platform.somethingNew", "record": {}},
            "not an object",
            {"time": "2022-10-12T00:00:15.064Z", "record": "no type"},
            {"time": "2022-10-12T00:00:15.064Z", "type": "platform.start", "record": {"version": "$LATEST"}},
            {"time": "2022-10-12T00:00:15.064Z", "type": "platform.start", "record": "not an object"},
            {"time": "2022-10-12T00:00:15.064Z", "type": "function"},
            {"time": "yesterday", "type": "extension", "record": "two"},
        ]);
        let (events, stats) = parse(&body.to_string());
        assert_eq!(stats, IngestStats { events: 2, skipped_events: 6, skipped_fields: 1, malformed_batches: 0 });
        assert_eq!(events[0].time, Some(1_665_532_815_064_000_000));
        assert_eq!(events[1], Event { time: None, body: EventBody::ExtensionLog(LogPayload::Text("two".into())) });
    }

    #[test]
    fn wrong_typed_and_unknown_fields_are_dropped_and_counted() {
        let body = json!([{
            "time": "2022-10-12T00:00:15.064Z",
            "type": "platform.runtimeDone",
            "newEnvelopeField": 1,
            "record": {
                "requestId": "6d68ca91-49c9-448d-89b8-7ca3e6dc66aa",
                "status": 7,
                "metrics": {"durationMs": "12", "producedBytes": 12.5, "futureMetric": 1},
                "spans": [
                    {"name": "responseLatency", "start": "2022-10-12T00:00:15.064Z", "durationMs": 23.02},
                    {"name": "responseDuration", "start": "bad", "durationMs": 1},
                    5
                ],
                "tracing": {"spanId": 17, "type": "X-Amzn-Trace-Id", "value": "Root=x"},
                "unknown": true
            }
        }]);
        let (events, stats) = parse(&body.to_string());
        // newEnvelopeField, status, durationMs, producedBytes, futureMetric, the bad start and its span, 5, spanId,
        // unknown
        assert_eq!(stats, IngestStats { events: 1, skipped_events: 0, skipped_fields: 10, malformed_batches: 0 });
        let EventBody::RuntimeDone(done) = &events[0].body else { panic!("{events:?}") };
        assert_eq!(
            *done,
            InvokeDone {
                request_id: "6d68ca91-49c9-448d-89b8-7ca3e6dc66aa".into(),
                spans: vec![PhaseSpan {
                    name: "responseLatency".into(),
                    start: 1_665_532_815_064_000_000,
                    duration_ms: 23.02
                }],
                tracing: Some(Tracing { span_id: None, value: Some("Root=x".into()) }),
                ..InvokeDone::default()
            }
        );
    }

    #[test]
    fn report_accepts_integers_and_floats() {
        let body = json!([{"time": "2022-10-12T00:00:15.064Z", "type": "platform.report", "record": {
            "requestId": "r1", "status": "success",
            "metrics": {"durationMs": 10, "billedDurationMs": 11.0, "memorySizeMB": 128, "maxMemoryUsedMB": 64.5,
                        "initDurationMs": 100.25, "restoreDurationMs": 3, "producedBytes": 12.0}
        }}]);
        let (events, stats) = parse(&body.to_string());
        assert_eq!(stats.skipped_fields, 0);
        let EventBody::Report(report) = &events[0].body else { panic!() };
        assert_eq!(report.duration_ms, Some(10.0));
        assert_eq!(report.billed_duration_ms, Some(11.0));
        assert_eq!(report.memory_size_mb, Some(128.0));
        assert_eq!(report.max_memory_used_mb, Some(64.5));
        assert_eq!(report.init_duration_ms, Some(100.25));
        assert_eq!(report.restore_duration_ms, Some(3.0));
        assert_eq!(report.produced_bytes, Some(12));
    }

    #[test]
    fn every_platform_type_parses() {
        let t = "2022-10-12T00:00:15.064Z";
        let body = json!([
            {"time": t, "type": "platform.initStart", "record": {"initializationType": "on-demand", "phase": "init",
              "functionName": "f", "functionVersion": "$LATEST", "instanceId": "i-1", "instanceMaxMemory": 134217728,
              "runtimeVersion": "python:3.12.v1", "runtimeVersionArn": "arn:rv"}},
            {"time": t, "type": "platform.initRuntimeDone", "record": {"initializationType": "on-demand",
              "phase": "init", "status": "error", "errorType": "Runtime.Crash", "spans": []}},
            {"time": t, "type": "platform.initReport", "record": {"initializationType": "on-demand",
              "phase": "init", "status": "success", "metrics": {"durationMs": 125.5}}},
            {"time": t, "type": "platform.restoreStart", "record": {}},
            {"time": t, "type": "platform.restoreRuntimeDone", "record": {"status": "success"}},
            {"time": t, "type": "platform.restoreReport", "record": {"status": "success",
              "metrics": {"durationMs": 4, "billedDurationMs": 5}}},
            {"time": t, "type": "platform.start", "record": {"requestId": "r", "version": "1",
              "functionArn": "arn:f", "tracing": {"spanId": "0123456789abcdef", "type": "X-Amzn-Trace-Id", "value": "v"}}},
            {"time": t, "type": "platform.end", "record": {"requestId": "r"}},
            {"time": t, "type": "platform.fault", "record": "RequestId: r Process exited"},
            {"time": t, "type": "platform.logsDropped", "record": {"droppedBytes": 1000, "droppedRecords": 3,
              "reason": "Consumer seems to have fallen behind"}},
            {"time": t, "type": "platform.extension", "record": {"name": "x", "state": "Ready", "events": ["INVOKE"]}},
            {"time": t, "type": "platform.telemetrySubscription", "record": {"name": "x", "state": "Subscribed",
              "types": ["platform"]}},
            {"time": t, "type": "platform.logsSubscription", "record": {"name": "x", "state": "Subscribed",
              "types": ["platform"]}},
            {"time": t, "type": "function", "record": {"timestamp": t, "level": "INFO", "requestId": "r", "message": "m"}},
        ]);
        let (events, stats) = parse(&body.to_string());
        assert_eq!(stats, IngestStats { events: 14, ..IngestStats::default() });
        let bodies: Vec<_> = events.into_iter().map(|e| e.body).collect();
        assert_eq!(
            bodies[0],
            EventBody::InitStart(PhaseStart {
                initialization_type: Some("on-demand".into()),
                phase: Some("init".into()),
                function_name: Some("f".into()),
                function_version: Some("$LATEST".into()),
                instance_id: Some("i-1".into()),
                instance_max_memory: Some(134_217_728),
                runtime_version: Some("python:3.12.v1".into()),
                runtime_version_arn: Some("arn:rv".into()),
            })
        );
        assert_eq!(
            bodies[1],
            EventBody::InitRuntimeDone(PhaseDone {
                initialization_type: Some("on-demand".into()),
                phase: Some("init".into()),
                status: Some("error".into()),
                error_type: Some("Runtime.Crash".into()),
                ..PhaseDone::default()
            })
        );
        assert!(matches!(&bodies[2], EventBody::InitReport(d) if d.duration_ms == Some(125.5)));
        assert_eq!(bodies[3], EventBody::RestoreStart(PhaseStart::default()));
        assert!(matches!(&bodies[4], EventBody::RestoreRuntimeDone(d) if d.status.as_deref() == Some("success")));
        assert!(matches!(&bodies[5], EventBody::RestoreReport(d) if d.duration_ms == Some(4.0)));
        assert_eq!(
            bodies[6],
            EventBody::Start(Start {
                request_id: "r".into(),
                version: Some("1".into()),
                function_arn: Some("arn:f".into()),
                tracing: Some(Tracing { span_id: Some("0123456789abcdef".into()), value: Some("v".into()) }),
            })
        );
        assert_eq!(bodies[7], EventBody::End { request_id: "r".into() });
        assert_eq!(bodies[8], EventBody::Fault("RequestId: r Process exited".into()));
        assert_eq!(
            bodies[9],
            EventBody::LogsDropped(LogsDropped {
                dropped_records: Some(3),
                dropped_bytes: Some(1000),
                reason: Some("Consumer seems to have fallen behind".into()),
            })
        );
        assert_eq!(&bodies[10..13], &[EventBody::Notice, EventBody::Notice, EventBody::Notice]);
        assert!(matches!(&bodies[13], EventBody::FunctionLog(LogPayload::Json(m)) if m.len() == 4));
    }
}
