//! Function and extension log lines as OTLP log records, and their attribution to an invocation.

use opentelemetry_proto::tonic::{
    common::v1::{AnyValue, KeyValue},
    logs::v1::{LogRecord, SeverityNumber},
};
use serde_json::{Map, Value};

use super::{
    convert::Converter,
    events::{parse_timestamp, LogPayload},
    logs::{json_to_any, parse_text_line, severity_number},
    resource::{kv_str, string},
};

/// Who wrote a record: the `aws.lambda.log.type` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LogType {
    Function,
    Extension,
    /// Records lambdatel writes for platform events (CloudWatch-style lines, faults, logsDropped).
    Platform,
}

impl LogType {
    fn as_str(self) -> &'static str {
        match self {
            LogType::Function => "function",
            LogType::Extension => "extension",
            LogType::Platform => "platform",
        }
    }
}

impl Converter {
    pub(super) fn on_log(&mut self, observed: u64, payload: LogPayload, log_type: LogType) {
        match payload {
            LogPayload::Text(mut text) => {
                let trimmed = text.trim_end_matches(['\n', '\r']).len();
                text.truncate(trimmed);
                let line = parse_text_line(&text);
                let (severity, severity_text) = match line.level {
                    Some((name, number)) => (number, name.to_owned()),
                    None => (SeverityNumber::Unspecified, String::new()),
                };
                let request_id = line.request_id.map(str::to_owned);
                // The runtime's prefix is in the record's fields already: the body is the message after it.
                let body = match line.message {
                    Some(message) => message.to_owned(),
                    None => text,
                };
                let record = new_record(observed, observed, string(body), severity, severity_text);
                self.push_log(record, request_id, log_type);
            }
            LogPayload::Json(map) => self.on_json_log(observed, map, log_type),
        }
    }

    fn on_json_log(&mut self, observed: u64, mut map: Map<String, Value>, log_type: LogType) {
        let timestamp = take_string(&mut map, "timestamp");
        let time = match timestamp.as_deref().map(parse_timestamp) {
            Some(Some(t)) => t,
            Some(None) => {
                self.counters.skipped_fields += 1;
                observed
            }
            None => observed,
        };
        let level = take_string(&mut map, "level");
        // Python and Node.js write `requestId`; Java's JSON format writes `AWSRequestId`.
        let (id_key, request_id) = match take_string(&mut map, "requestId") {
            Some(id) => ("requestId", Some(id)),
            None => ("AWSRequestId", take_string(&mut map, "AWSRequestId")),
        };
        let (severity, severity_text) = match &level {
            Some(level) => (severity_number(level).unwrap_or(SeverityNumber::Unspecified), level.clone()),
            None => (SeverityNumber::Unspecified, String::new()),
        };
        let (body, attributes) = match map.remove("message") {
            Some(Value::String(message)) => {
                let attrs = map
                    .into_iter()
                    .map(|(key, value)| KeyValue { key, value: Some(json_to_any(value)), ..Default::default() })
                    .collect();
                (string(message), attrs)
            }
            other => {
                // No text message: the record itself, complete, is the body.
                if let Some(message) = other {
                    map.insert("message".into(), message);
                }
                let restore = [("timestamp", timestamp), ("level", level), (id_key, request_id.clone())];
                for (key, value) in restore {
                    if let Some(value) = value {
                        map.insert(key.into(), Value::String(value));
                    }
                }
                (json_to_any(Value::Object(map)), Vec::new())
            }
        };
        let record = LogRecord { attributes, ..new_record(time, observed, body, severity, severity_text) };
        self.push_log(record, request_id, log_type);
    }

    /// Attributes `record` to its invocation, correlates it with the invocation span, and queues it.
    /// `record.attributes` come after ours.
    ///
    /// A record names its invocation by its request id (JSON `requestId`, or the id a text line carries).
    /// A record without one is attributed by time, to the invocation running when it was written; never on
    /// Lambda Managed Instances, where invocations overlap and even a lone open one may not be the writer
    /// (another may have started and not yet reported). There it keeps no `faas.invocation_id` rather than
    /// risk a wrong one.
    pub(super) fn push_log(&mut self, mut record: LogRecord, request_id: Option<String>, log_type: LogType) {
        if !self.logs.reserve(&record) {
            return;
        }
        let idx = match &request_id {
            Some(id) => self.invocations.find(id),
            None if self.managed_instances => None,
            None => self.invocations.running_at(record.time_unix_nano),
        };
        let request_id = match idx {
            Some(idx) => {
                let inv = &mut self.invocations[idx];
                let ids = inv.fix_ids();
                record.trace_id = ids.trace_id.to_vec();
                record.span_id = ids.span_id.to_vec();
                record.flags = u32::from(ids.sampled);
                request_id.or_else(|| Some(inv.request_id.clone()))
            }
            None => request_id,
        };
        let extra = std::mem::take(&mut record.attributes);
        let mut attributes = Vec::with_capacity(2 + extra.len());
        if let Some(id) = request_id {
            attributes.push(kv_str("faas.invocation_id", id));
        }
        attributes.push(kv_str("aws.lambda.log.type", log_type.as_str()));
        attributes.extend(extra);
        record.attributes = attributes;
        self.logs.push(record);
    }
}

/// A log record with its times, body and severity.
pub(super) fn new_record(
    time: u64,
    observed: u64,
    body: AnyValue,
    severity: SeverityNumber,
    severity_text: impl Into<String>,
) -> LogRecord {
    LogRecord {
        time_unix_nano: time,
        observed_time_unix_nano: observed,
        severity_number: severity as i32,
        severity_text: severity_text.into(),
        body: Some(body),
        ..Default::default()
    }
}

fn take_string(map: &mut Map<String, Value>, key: &str) -> Option<String> {
    match map.remove(key)? {
        Value::String(s) => Some(s),
        // Not the expected string: it stays in the record as an ordinary key.
        other => {
            map.insert(key.to_owned(), other);
            None
        }
    }
}
