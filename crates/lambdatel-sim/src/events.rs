//! The simulator's own model of the Telemetry API events (schema 2022-07-01 .. 2025-01-29) and
//! their rendering for Logs API (2020-08-15 / 2021-03-18) subscribers.
//!
//! These types are written from the AWS documentation, independently of any parser in the
//! project, so that a drift between a parser and the documented shapes shows up as a failing test.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

/// One Telemetry API event: `{time, type, record}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TelemetryEvent {
    /// ISO 8601 time at which the platform generated the event.
    pub time: String,
    /// The event type and its record.
    #[serde(flatten)]
    pub record: EventRecord,
}

/// The `type` of an event together with its `record`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "record")]
pub enum EventRecord {
    /// `platform.initStart`.
    #[serde(rename = "platform.initStart")]
    InitStart(InitStart),
    /// `platform.initRuntimeDone`.
    #[serde(rename = "platform.initRuntimeDone")]
    InitRuntimeDone(PhaseDone),
    /// `platform.initReport`.
    #[serde(rename = "platform.initReport")]
    InitReport(InitReport),
    /// `platform.restoreStart`.
    #[serde(rename = "platform.restoreStart")]
    RestoreStart(RestoreStart),
    /// `platform.restoreRuntimeDone`.
    #[serde(rename = "platform.restoreRuntimeDone")]
    RestoreRuntimeDone(PhaseDone),
    /// `platform.restoreReport`.
    #[serde(rename = "platform.restoreReport")]
    RestoreReport(RestoreReport),
    /// `platform.start`.
    #[serde(rename = "platform.start")]
    Start(Start),
    /// `platform.runtimeDone`.
    #[serde(rename = "platform.runtimeDone")]
    RuntimeDone(RuntimeDone),
    /// `platform.report`.
    #[serde(rename = "platform.report")]
    Report(Report),
    /// `platform.extension`.
    #[serde(rename = "platform.extension")]
    Extension(ExtensionState),
    /// `platform.telemetrySubscription`.
    #[serde(rename = "platform.telemetrySubscription")]
    TelemetrySubscription(Subscription),
    /// `platform.logsDropped`.
    #[serde(rename = "platform.logsDropped")]
    LogsDropped(LogsDropped),
    /// A line the function wrote.
    #[serde(rename = "function")]
    Function(LogRecord),
    /// A line an extension wrote.
    #[serde(rename = "extension")]
    ExtensionLog(LogRecord),
}

/// Which stream of the subscription an event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// `platform.*` events.
    Platform,
    /// Function log lines.
    Function,
    /// Extension log lines.
    Extension,
}

impl EventRecord {
    /// The subscription type (`platform`, `function`, `extension`) that receives this record.
    pub fn category(&self) -> Category {
        match self {
            EventRecord::Function(_) => Category::Function,
            EventRecord::ExtensionLog(_) => Category::Extension,
            _ => Category::Platform,
        }
    }

    /// The `type` string of the event.
    pub fn type_name(&self) -> &'static str {
        match self {
            EventRecord::InitStart(_) => "platform.initStart",
            EventRecord::InitRuntimeDone(_) => "platform.initRuntimeDone",
            EventRecord::InitReport(_) => "platform.initReport",
            EventRecord::RestoreStart(_) => "platform.restoreStart",
            EventRecord::RestoreRuntimeDone(_) => "platform.restoreRuntimeDone",
            EventRecord::RestoreReport(_) => "platform.restoreReport",
            EventRecord::Start(_) => "platform.start",
            EventRecord::RuntimeDone(_) => "platform.runtimeDone",
            EventRecord::Report(_) => "platform.report",
            EventRecord::Extension(_) => "platform.extension",
            EventRecord::TelemetrySubscription(_) => "platform.telemetrySubscription",
            EventRecord::LogsDropped(_) => "platform.logsDropped",
            EventRecord::Function(_) => "function",
            EventRecord::ExtensionLog(_) => "extension",
        }
    }
}

/// `platform.initStart` record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitStart {
    /// `on-demand`, `provisioned-concurrency` or `snap-start`.
    pub initialization_type: String,
    /// `init`, `invoke` (suppressed init) or `snap-start`.
    pub phase: String,
    /// Function name.
    pub function_name: String,
    /// Function version (`$LATEST`).
    pub function_version: String,
    /// Execution environment id.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub instance_id: Option<String>,
    /// Memory of the environment in MB.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub instance_max_memory: Option<u64>,
    /// Runtime version string.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub runtime_version: Option<String>,
    /// Runtime version ARN.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub runtime_version_arn: Option<String>,
}

/// A `spans[]` entry of a platform event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlatformSpan {
    /// Span name, e.g. `responseLatency`.
    pub name: String,
    /// ISO 8601 start time.
    pub start: String,
    /// Duration in milliseconds.
    pub duration_ms: f64,
}

/// `platform.initRuntimeDone` / `platform.restoreRuntimeDone` record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseDone {
    /// Init type (absent for restore events).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub initialization_type: Option<String>,
    /// Phase (absent for restore events).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub phase: Option<String>,
    /// `success`, `failure`, `error` or `timeout`.
    pub status: String,
    /// Present when status is not success.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error_type: Option<String>,
    /// Spans, when the platform has them.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub spans: Option<Vec<PlatformSpan>>,
}

/// `{durationMs}` metrics of init and restore reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DurationMetrics {
    /// Duration of the phase in ms.
    pub duration_ms: f64,
}

/// `platform.initReport` record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitReport {
    /// Init type.
    pub initialization_type: String,
    /// Phase.
    pub phase: String,
    /// Status of the init.
    pub status: String,
    /// Present when status is not success.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error_type: Option<String>,
    /// `{durationMs}`.
    pub metrics: DurationMetrics,
    /// Spans, when the platform has them.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub spans: Option<Vec<PlatformSpan>>,
}

/// `platform.restoreStart` record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreStart {
    /// Function name.
    pub function_name: String,
    /// Function version.
    pub function_version: String,
    /// Execution environment id.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub instance_id: Option<String>,
    /// Memory in MB.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub instance_max_memory: Option<u64>,
}

/// `platform.restoreReport` record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreReport {
    /// Status of the restore.
    pub status: String,
    /// Present when status is not success.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error_type: Option<String>,
    /// `{durationMs}`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub metrics: Option<DurationMetrics>,
}

/// X-Ray trace context attached to invoke-phase events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceContext {
    /// Span id of the phase span.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub span_id: Option<String>,
    /// Always `X-Amzn-Trace-Id`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The X-Ray header value.
    pub value: String,
}

/// `platform.start` record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Start {
    /// Request id.
    pub request_id: String,
    /// Function version.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub version: Option<String>,
    /// Function ARN (sent on Lambda Managed Instances).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub function_arn: Option<String>,
    /// Trace context.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tracing: Option<TraceContext>,
}

/// Metrics of `platform.runtimeDone`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeDoneMetrics {
    /// Time from invoke to the runtime's next call, in ms.
    pub duration_ms: f64,
    /// Bytes of the response.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub produced_bytes: Option<u64>,
}

/// `platform.runtimeDone` record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeDone {
    /// Request id.
    pub request_id: String,
    /// `success`, `failure`, `error` or `timeout`.
    pub status: String,
    /// Present when status is not success.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error_type: Option<String>,
    /// Metrics.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub metrics: Option<RuntimeDoneMetrics>,
    /// `responseLatency`, `responseDuration`, `runtimeOverhead`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub spans: Option<Vec<PlatformSpan>>,
    /// Trace context.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tracing: Option<TraceContext>,
}

/// Metrics of `platform.report`. On Lambda Managed Instances only `durationMs` is sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportMetrics {
    /// Invoke phase duration in ms.
    pub duration_ms: f64,
    /// Billed duration (rounded up to the ms).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub billed_duration_ms: Option<u64>,
    /// Configured memory.
    #[serde(rename = "memorySizeMB", skip_serializing_if = "Option::is_none", default)]
    pub memory_size_mb: Option<u64>,
    /// Peak memory used.
    #[serde(rename = "maxMemoryUsedMB", skip_serializing_if = "Option::is_none", default)]
    pub max_memory_used_mb: Option<u64>,
    /// Duration of the init that preceded this first invoke.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub init_duration_ms: Option<f64>,
    /// Duration of the restore that preceded this first invoke.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub restore_duration_ms: Option<f64>,
}

/// `platform.report` record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Request id.
    pub request_id: String,
    /// Status of the invocation.
    pub status: String,
    /// Present when status is not success.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error_type: Option<String>,
    /// Metrics.
    pub metrics: ReportMetrics,
    /// `extensionOverhead`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub spans: Option<Vec<PlatformSpan>>,
    /// Trace context.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tracing: Option<TraceContext>,
}

/// `platform.extension` record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtensionState {
    /// Extension name.
    pub name: String,
    /// `Ready` once the extension finished its init.
    pub state: String,
    /// Events it registered for.
    pub events: Vec<String>,
}

/// `platform.telemetrySubscription` / `platform.logsSubscription` record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    /// Extension name.
    pub name: String,
    /// `Subscribed`.
    pub state: String,
    /// Subscribed types.
    pub types: Vec<String>,
}

/// `platform.logsDropped` record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogsDropped {
    /// Bytes dropped.
    pub dropped_bytes: u64,
    /// Records dropped.
    pub dropped_records: u64,
    /// Why.
    pub reason: String,
}

/// A function or extension log line, before rendering for a schema version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LogRecord {
    /// A plain text line (always a string on the wire).
    Text(String),
    /// A structured (JSON log format) line.
    Json(JsonLogRecord),
}

/// A JSON-format log line: from schema 2022-12-13 on it is delivered as an object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JsonLogRecord {
    /// ISO 8601 time.
    pub timestamp: String,
    /// Level, e.g. `INFO`.
    pub level: String,
    /// Request id of the invocation that logged it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub request_id: Option<String>,
    /// The message.
    pub message: String,
}

/// Which API a subscriber used, with the schema it asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schema {
    /// Telemetry API, schema `2022-07-01`, `2022-12-13` or `2025-01-29`.
    Telemetry(String),
    /// Logs API, schema `2020-08-15` or `2021-03-18`.
    Logs(String),
}

impl TelemetryEvent {
    /// Builds an event stamped with the given time.
    pub fn at(time: SystemTime, record: EventRecord) -> TelemetryEvent {
        TelemetryEvent { time: iso8601(time), record }
    }

    /// Renders the event as the JSON items a subscriber of `schema` receives (zero, one or more).
    pub fn render(&self, schema: &Schema) -> Vec<Value> {
        match schema {
            Schema::Telemetry(version) => vec![self.render_telemetry(version)],
            Schema::Logs(version) => self.render_logs(version),
        }
    }

    fn render_telemetry(&self, version: &str) -> Value {
        // Before 2022-12-13 a JSON log line is still delivered as a string.
        let record = match &self.record {
            EventRecord::Function(LogRecord::Json(j)) | EventRecord::ExtensionLog(LogRecord::Json(j))
                if version == "2022-07-01" =>
            {
                Value::String(serde_json::to_string(j).unwrap_or_default())
            }
            _ => return serde_json::to_value(self).unwrap_or(Value::Null),
        };
        json!({"time": self.time, "type": self.record.type_name(), "record": record})
    }

    fn render_logs(&self, version: &str) -> Vec<Value> {
        let item = |ty: &str, record: Value| json!({"time": self.time, "type": ty, "record": record});
        match &self.record {
            EventRecord::Start(s) => {
                vec![item("platform.start", json!({"requestId": s.request_id, "version": s.version}))]
            }
            EventRecord::RuntimeDone(r) if version == "2021-03-18" => {
                vec![item("platform.runtimeDone", json!({"requestId": r.request_id, "status": r.status}))]
            }
            EventRecord::RuntimeDone(_) => vec![],
            EventRecord::Report(r) => {
                let mut metrics = json!({
                    "durationMs": r.metrics.duration_ms,
                    "billedDurationMs": r.metrics.billed_duration_ms,
                    "memorySizeMB": r.metrics.memory_size_mb,
                    "maxMemoryUsedMB": r.metrics.max_memory_used_mb,
                });
                if let Some(init) = r.metrics.init_duration_ms {
                    metrics["initDurationMs"] = json!(init);
                }
                let mut report = json!({"requestId": r.request_id, "metrics": metrics});
                if let Some(t) = &r.tracing {
                    report["tracing"] = json!({"type": t.kind, "value": t.value});
                }
                // The Logs API marks the end of the invocation with platform.end before the report.
                vec![item("platform.end", json!({"requestId": r.request_id})), item("platform.report", report)]
            }
            EventRecord::Extension(e) => vec![item("platform.extension", serde_json::to_value(e).unwrap_or_default())],
            EventRecord::TelemetrySubscription(s) => {
                vec![item("platform.logsSubscription", serde_json::to_value(s).unwrap_or_default())]
            }
            EventRecord::LogsDropped(d) => {
                vec![item("platform.logsDropped", serde_json::to_value(d).unwrap_or_default())]
            }
            EventRecord::Function(l) | EventRecord::ExtensionLog(l) => {
                let text = match l {
                    LogRecord::Text(t) => t.clone(),
                    LogRecord::Json(j) => serde_json::to_string(j).unwrap_or_default(),
                };
                vec![item(self.record.type_name(), Value::String(text))]
            }
            EventRecord::RestoreStart(_) => vec![item("platform.restoreStart", json!({}))],
            EventRecord::RestoreRuntimeDone(r) => {
                vec![item("platform.restoreRuntimeDone", json!({"status": r.status}))]
            }
            EventRecord::RestoreReport(r) => {
                let d = r.metrics.as_ref().map(|m| m.duration_ms).unwrap_or(0.0);
                vec![item(
                    "platform.restoreReport",
                    json!({"metrics": {"durationMs": d, "billedDurationMs": d.ceil() as u64}}),
                )]
            }
            EventRecord::InitRuntimeDone(r) if r.phase.as_deref() == Some("snap-start") => {
                vec![item("platform.initRuntimeDone", json!({"status": r.status}))]
            }
            EventRecord::InitReport(r) if r.phase == "snap-start" => vec![item(
                "platform.initReport",
                json!({"initializationType": r.initialization_type,
                       "metrics": {"durationMs": r.metrics.duration_ms,
                                   "billedDurationMs": r.metrics.duration_ms.ceil() as u64}}),
            )],
            // The Logs API has no other init events.
            EventRecord::InitStart(_) | EventRecord::InitRuntimeDone(_) | EventRecord::InitReport(_) => vec![],
        }
    }
}

/// Formats a time as ISO 8601 UTC with milliseconds, e.g. `2022-10-12T00:00:15.064Z`.
pub fn iso8601(time: SystemTime) -> String {
    let d = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let (y, m, day) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn iso8601_formats_known_instants() {
        assert_eq!(iso8601(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_665_532_815_064);
        assert_eq!(iso8601(t), "2022-10-12T00:00:15.064Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(iso8601(leap), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn envelope_shape_and_round_trip() {
        let ev = TelemetryEvent::at(
            UNIX_EPOCH,
            EventRecord::Start(Start {
                request_id: "r1".into(),
                version: Some("$LATEST".into()),
                function_arn: None,
                tracing: None,
            }),
        );
        let v = serde_json::to_value(&ev).unwrap();
        assert_eq!(
            v,
            json!({"time":"1970-01-01T00:00:00.000Z","type":"platform.start",
                   "record":{"requestId":"r1","version":"$LATEST"}})
        );
        let back: TelemetryEvent = serde_json::from_value(v).unwrap();
        assert_eq!(back, ev);
    }

    #[test]
    fn json_log_record_is_a_string_before_2022_12_13() {
        let ev = TelemetryEvent::at(
            UNIX_EPOCH,
            EventRecord::Function(LogRecord::Json(JsonLogRecord {
                timestamp: "t".into(),
                level: "INFO".into(),
                request_id: Some("r".into()),
                message: "hi".into(),
            })),
        );
        let old = ev.render(&Schema::Telemetry("2022-07-01".into()));
        assert!(old[0]["record"].is_string());
        let new = ev.render(&Schema::Telemetry("2022-12-13".into()));
        assert_eq!(new[0]["record"], json!({"timestamp":"t","level":"INFO","requestId":"r","message":"hi"}));
    }

    #[test]
    fn logs_api_report_is_preceded_by_end_and_runtime_done_needs_2021_schema() {
        let report = TelemetryEvent::at(
            UNIX_EPOCH,
            EventRecord::Report(Report {
                request_id: "r".into(),
                status: "success".into(),
                error_type: None,
                metrics: ReportMetrics {
                    duration_ms: 1.5,
                    billed_duration_ms: Some(2),
                    memory_size_mb: Some(128),
                    max_memory_used_mb: Some(30),
                    init_duration_ms: None,
                    restore_duration_ms: None,
                },
                spans: None,
                tracing: None,
            }),
        );
        let items = report.render(&Schema::Logs("2020-08-15".into()));
        assert_eq!(items.len(), 2);
        assert_eq!(items[0]["type"], "platform.end");
        assert_eq!(items[1]["record"]["metrics"]["billedDurationMs"], 2);
        let done = TelemetryEvent::at(
            UNIX_EPOCH,
            EventRecord::RuntimeDone(RuntimeDone {
                request_id: "r".into(),
                status: "success".into(),
                error_type: None,
                metrics: None,
                spans: None,
                tracing: None,
            }),
        );
        assert!(done.render(&Schema::Logs("2020-08-15".into())).is_empty());
        assert_eq!(
            done.render(&Schema::Logs("2021-03-18".into()))[0]["record"],
            json!({"requestId":"r","status":"success"})
        );
    }
}
