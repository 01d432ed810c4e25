//! What an invocation's event and response say about its trigger, as semantic-convention attributes.
//!
//! Pure functions over bytes the Runtime API proxy copied on the way: [`extract_trigger`] reads the event of
//! `invocation/next`, [`TriggerInfo::record_response`] the first bytes of `invocation/{id}/response`. Events
//! are untrusted and arrive in shapes AWS adds to over time: anything unrecognised or malformed is
//! `faas.trigger = other` with no further attributes, never an error.
//!
//! | source | `faas.trigger` | attributes |
//! | --- | --- | --- |
//! | API Gateway REST (v1), HTTP API (v2), ALB, Function URL | `http` | `http.request.method`, `url.path`, `http.route`, `url.scheme`, `user_agent.original`, `client.address`, `server.address`, `http.response.status_code` |
//! | SQS | `pubsub` | `messaging.system` = `aws_sqs`, `messaging.destination.name` (queue), `messaging.operation.type` = `process`, `messaging.batch.message_count`, `messaging.message.id` (single message) |
//! | SNS | `pubsub` | `messaging.system` = `aws.sns`, `messaging.destination.name` (topic), `aws.sns.topic.arn`, ... |
//! | Kinesis | `pubsub` | `messaging.system` = `aws.kinesis`, `messaging.destination.name` and `aws.kinesis.stream_name` (stream), ... |
//! | EventBridge | `pubsub` | `messaging.system` = `aws.eventbridge`, `messaging.message.id`, `messaging.operation.type` |
//! | S3 | `datasource` | `aws.s3.bucket`, `aws.s3.key`, `faas.document.collection`, `faas.document.name`, `faas.document.operation`, `faas.document.time` |
//! | DynamoDB Streams | `datasource` | `aws.dynamodb.table_names`, `faas.document.collection`, `faas.document.operation` |
//! | scheduled events (EventBridge rules and Scheduler) | `timer` | `faas.time` |
//!
//! `aws_sqs` and `aws.sns` are the conventions' `messaging.system` values; they define none for Kinesis and
//! EventBridge, so `aws.kinesis` and `aws.eventbridge` are this project's own (in the style of `aws.sns`).

mod context;
mod http;
mod records;

pub use context::{parse_traceparent, parse_xray_context, RemoteContext};

use opentelemetry_proto::tonic::common::v1::{any_value::Value as AnyValueKind, AnyValue, ArrayValue, KeyValue};
use serde_json::{Map, Value};

/// The `faas.trigger` values of the semantic conventions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaasTrigger {
    /// An HTTP request: API Gateway, ALB, Function URLs.
    Http,
    /// A message: SQS, SNS, Kinesis, EventBridge.
    Pubsub,
    /// A change to stored data: S3, DynamoDB Streams.
    Datasource,
    /// A schedule.
    Timer,
    /// Anything else, including direct invocations.
    Other,
}

impl FaasTrigger {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            FaasTrigger::Http => "http",
            FaasTrigger::Pubsub => "pubsub",
            FaasTrigger::Datasource => "datasource",
            FaasTrigger::Timer => "timer",
            FaasTrigger::Other => "other",
        }
    }
}

/// How an HTTP trigger reads the function's response, which decides `http.response.status_code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResponseFormat {
    /// Not an HTTP trigger: the response says nothing the conventions name.
    None,
    /// API Gateway REST and ALB: the status is the response's `statusCode`; nothing else is valid.
    StatusCodeRequired,
    /// Payload format 2.0 (HTTP APIs, Function URLs): without a `statusCode` the whole response is the body
    /// of a 200.
    StatusCodeOr200,
}

/// What the proxy learned about one invocation's trigger.
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerInfo {
    /// `faas.trigger`.
    pub trigger: FaasTrigger,
    /// The trigger's attributes (semantic-convention names), `faas.trigger` not included.
    pub attributes: Vec<KeyValue>,
    /// The caller's span, from an HTTP event's `traceparent` (preferred) or `X-Amzn-Trace-Id` header.
    pub parent: Option<RemoteContext>,
    /// One link per message of a batch that carries a trace header (at most [`MAX_LINKS`]).
    pub links: Vec<RemoteContext>,
    response: ResponseFormat,
}

/// Most span links kept from one batch: the OpenTelemetry SDKs' default span link limit. An SQS batch can hold
/// 10,000 messages; more links than this make a span few backends accept.
pub const MAX_LINKS: usize = 128;

impl TriggerInfo {
    /// `faas.trigger = other` and nothing else.
    pub fn other() -> Self {
        TriggerInfo::new(FaasTrigger::Other)
    }

    fn new(trigger: FaasTrigger) -> Self {
        TriggerInfo { trigger, attributes: Vec::new(), parent: None, links: Vec::new(), response: ResponseFormat::None }
    }

    /// Adds `http.response.status_code` from the function's response body: `prefix` is its first bytes,
    /// `complete` whether that is the whole body. A streamed HTTP response starts with its JSON prelude
    /// (`{"statusCode":...,"headers":...}` then eight NUL bytes), which this reads the same way.
    /// Does nothing for a trigger that is not HTTP, or when the status cannot be told from the bytes.
    pub fn record_response(&mut self, prefix: &[u8], complete: bool) {
        if self.response == ResponseFormat::None || self.attribute("http.response.status_code").is_some() {
            return;
        }
        if let Some(status) = response_status(prefix, complete, self.response) {
            self.attributes.push(int_attr("http.response.status_code", status));
        }
    }

    /// The value of an attribute, by key.
    pub fn attribute(&self, key: &str) -> Option<&AnyValue> {
        self.attributes.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.as_ref())
    }
}

/// Reads an invocation's event (the body of `invocation/next`).
pub fn extract_trigger(event: &[u8]) -> TriggerInfo {
    let Ok(Value::Object(event)) = serde_json::from_slice::<Value>(event) else {
        return TriggerInfo::other();
    };
    if let Some(records) = event.get("Records").and_then(Value::as_array) {
        return records::from_records(records);
    }
    if let Some(context) = event.get("requestContext").and_then(Value::as_object) {
        if let Some(info) = http::from_http_event(&event, context) {
            return info;
        }
    }
    if let (Some(detail_type), Some(_)) = (str_at(&event, "detail-type"), str_at(&event, "source")) {
        return records::from_eventbridge(&event, detail_type);
    }
    TriggerInfo::other()
}

/// The status of an HTTP response body, per the integration's rules.
fn response_status(prefix: &[u8], complete: bool, format: ResponseFormat) -> Option<i64> {
    let first = prefix.iter().copied().find(|b| !b.is_ascii_whitespace());
    if first != Some(b'{') {
        // Not a JSON object: payload format 2.0 returns it as the body of a 200. An empty body too.
        return (format == ResponseFormat::StatusCodeOr200 && (first.is_some() || complete)).then_some(200);
    }
    // A streamed response's prelude ends at the first NUL; the body after it is not JSON.
    let json = prefix.split(|&b| b == 0).next().unwrap_or_default();
    let whole = complete || json.len() < prefix.len();
    if whole {
        if let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(json) {
            return match object.get("statusCode") {
                Some(code) => status_number(code),
                None => (format == ResponseFormat::StatusCodeOr200).then_some(200),
            };
        }
    }
    // A cut (or odd) body: look for a top-level-looking `"statusCode":` key. Inside a JSON string a quote is
    // escaped, so a match there is preceded by a backslash and skipped.
    scan_status_code(json)
}

fn status_number(code: &Value) -> Option<i64> {
    let status = match code {
        Value::Number(n) => n.as_i64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    (100..=599).contains(&status).then_some(status)
}

fn scan_status_code(json: &[u8]) -> Option<i64> {
    const KEY: &[u8] = b"\"statusCode\"";
    let mut from = 0;
    while let Some(at) = json[from..].windows(KEY.len()).position(|w| w == KEY) {
        let start = from + at;
        from = start + KEY.len();
        if start > 0 && json[start - 1] == b'\\' {
            continue;
        }
        let rest = &json[from..];
        let rest = trim_ascii_start(rest);
        let Some(rest) = rest.strip_prefix(b":") else { continue };
        let rest = trim_ascii_start(rest);
        let digits: Vec<u8> = rest.iter().copied().take_while(u8::is_ascii_digit).collect();
        if digits.len() == 3 && rest.get(3).is_some_and(|b| !b.is_ascii_alphanumeric()) {
            let text = std::str::from_utf8(&digits).ok()?;
            return status_number(&Value::String(text.to_string()));
        }
    }
    None
}

fn trim_ascii_start(bytes: &[u8]) -> &[u8] {
    let skip = bytes.iter().take_while(|b| b.is_ascii_whitespace()).count();
    &bytes[skip..]
}

pub(crate) fn str_at<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    object.get(key).and_then(Value::as_str)
}

pub(crate) fn str_attr(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(AnyValueKind::StringValue(value.to_string())) }),
        ..Default::default()
    }
}

pub(crate) fn int_attr(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(AnyValueKind::IntValue(value)) }),
        ..Default::default()
    }
}

pub(crate) fn str_array_attr(key: &str, values: &[&str]) -> KeyValue {
    let values =
        values.iter().map(|v| AnyValue { value: Some(AnyValueKind::StringValue(v.to_string())) }).collect::<Vec<_>>();
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(AnyValueKind::ArrayValue(ArrayValue { values })) }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(body: &str, complete: bool, format: ResponseFormat) -> Option<i64> {
        response_status(body.as_bytes(), complete, format)
    }

    #[test]
    fn status_code_from_a_whole_response() {
        let v1 = ResponseFormat::StatusCodeRequired;
        let v2 = ResponseFormat::StatusCodeOr200;
        assert_eq!(status(r#"{"statusCode": 404, "body": "no"}"#, true, v1), Some(404));
        assert_eq!(status(r#"{"statusCode": "503"}"#, true, v2), Some(503));
        assert_eq!(status(r#"{"body": "x"}"#, true, v1), None);
        assert_eq!(status(r#"{"body": "x"}"#, true, v2), Some(200));
        assert_eq!(status(r#""just a string""#, true, v2), Some(200));
        assert_eq!(status("plain text", true, v2), Some(200));
        assert_eq!(status("", true, v2), Some(200));
        assert_eq!(status("plain text", true, v1), None);
        assert_eq!(status(r#"{"statusCode": 99}"#, true, v1), None);
        assert_eq!(status(r#"{"statusCode": true}"#, true, v1), None);
    }

    #[test]
    fn status_code_from_the_first_bytes_only() {
        let v2 = ResponseFormat::StatusCodeOr200;
        // Cut inside the body: the key before it is enough.
        assert_eq!(status(r#"{"statusCode": 201, "body": "aaaa"#, false, v2), Some(201));
        // The key only appears escaped inside a string: not the status.
        assert_eq!(status(r#"{"body": "{\"statusCode\": 500, \"x\": 1"#, false, v2), None);
        // Nothing yet: unknown, not 200, since `statusCode` may come later.
        assert_eq!(status(r#"{"body": "aaaa"#, false, v2), None);
        assert_eq!(status("", false, v2), None);
    }

    #[test]
    fn status_code_from_a_streamed_prelude() {
        let mut body = br#"{"statusCode":418,"headers":{"Content-Type":"text/plain"}}"#.to_vec();
        body.extend_from_slice(&[0; 8]);
        body.extend_from_slice(b"streamed body {\"statusCode\": 200}");
        assert_eq!(response_status(&body, false, ResponseFormat::StatusCodeOr200), Some(418));
    }
}
