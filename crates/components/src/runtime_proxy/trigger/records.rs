//! Batched event-source triggers (`Records`: SQS, SNS, Kinesis, S3, DynamoDB Streams) and EventBridge events.

use serde_json::{Map, Value};

use super::context::{parse_traceparent, parse_xray_context, RemoteContext};
use super::{int_attr, str_array_attr, str_at, str_attr, FaasTrigger, TriggerInfo, MAX_LINKS};
use crate::receivers::telemetry_api::xray::decode_hex_bytes;

/// A `Records` event, by the first record's source (a batch never mixes sources).
pub(super) fn from_records(records: &[Value]) -> TriggerInfo {
    let Some(first) = records.first().and_then(Value::as_object) else {
        return TriggerInfo::other();
    };
    // SNS spells it `EventSource`, the others `eventSource`.
    let source = str_at(first, "eventSource").or_else(|| str_at(first, "EventSource"));
    match source {
        Some("aws:sqs") => sqs(records, first),
        Some("aws:sns") => sns(records, first),
        Some("aws:kinesis") => kinesis(records, first),
        Some("aws:s3") => s3(first),
        Some("aws:dynamodb") => dynamodb(records, first),
        _ => TriggerInfo::other(),
    }
}

/// An EventBridge (CloudWatch Events) event; `Scheduled Event` is what both EventBridge rules and EventBridge
/// Scheduler's templated targets send on a schedule.
pub(super) fn from_eventbridge(event: &Map<String, Value>, detail_type: &str) -> TriggerInfo {
    if detail_type == "Scheduled Event" {
        let mut info = TriggerInfo::new(FaasTrigger::Timer);
        if let Some(time) = str_at(event, "time") {
            info.attributes.push(str_attr("faas.time", time));
        }
        return info;
    }
    let mut info = TriggerInfo::new(FaasTrigger::Pubsub);
    info.attributes.push(str_attr("messaging.system", "aws.eventbridge"));
    info.attributes.push(str_attr("messaging.operation.type", "process"));
    if let Some(id) = str_at(event, "id") {
        info.attributes.push(str_attr("messaging.message.id", id));
    }
    info
}

fn sqs(records: &[Value], first: &Map<String, Value>) -> TriggerInfo {
    let queue = str_at(first, "eventSourceARN").and_then(arn_last_segment);
    let message_id = str_at(first, "messageId");
    let mut info = messaging("aws_sqs", queue, records.len(), message_id);
    info.links = links(records, |record| {
        let attributes = record.get("messageAttributes").and_then(Value::as_object);
        let attribute = |name: &str| attributes?.get(name)?.get("stringValue")?.as_str();
        if let Some(context) = attribute("traceparent").and_then(|tp| parse_traceparent(tp, attribute("tracestate"))) {
            return Some(context);
        }
        parse_xray_context(record.get("attributes")?.get("AWSTraceHeader")?.as_str()?)
    });
    info
}

fn sns(records: &[Value], first: &Map<String, Value>) -> TriggerInfo {
    let message = first.get("Sns").and_then(Value::as_object);
    let topic_arn = message.and_then(|m| str_at(m, "TopicArn"));
    let message_id = message.and_then(|m| str_at(m, "MessageId"));
    let mut info = messaging("aws.sns", topic_arn.and_then(arn_last_segment), records.len(), message_id);
    if let Some(arn) = topic_arn {
        info.attributes.push(str_attr("aws.sns.topic.arn", arn));
    }
    info.links = links(records, |record| {
        let attributes = record.get("Sns")?.get("MessageAttributes")?.as_object()?;
        let attribute = |name: &str| attributes.get(name)?.get("Value")?.as_str();
        parse_traceparent(attribute("traceparent")?, attribute("tracestate"))
    });
    info
}

fn kinesis(records: &[Value], first: &Map<String, Value>) -> TriggerInfo {
    // arn:aws:kinesis:<region>:<account>:stream/<name>
    let stream = str_at(first, "eventSourceARN").and_then(|arn| arn.split_once(":stream/")).map(|(_, name)| name);
    let mut info = messaging("aws.kinesis", stream, records.len(), None);
    if let Some(stream) = stream {
        info.attributes.push(str_attr("aws.kinesis.stream_name", stream));
    }
    info
}

/// The attributes every message trigger shares: the invocation processes the batch it was given.
fn messaging(system: &str, destination: Option<&str>, count: usize, message_id: Option<&str>) -> TriggerInfo {
    let mut info = TriggerInfo::new(FaasTrigger::Pubsub);
    info.attributes.push(str_attr("messaging.system", system));
    if let Some(destination) = destination {
        info.attributes.push(str_attr("messaging.destination.name", destination));
    }
    info.attributes.push(str_attr("messaging.operation.type", "process"));
    info.attributes.push(int_attr("messaging.batch.message_count", i64::try_from(count).unwrap_or(i64::MAX)));
    // The conventions name the message only when the operation is about exactly one.
    if count == 1 {
        if let Some(id) = message_id {
            info.attributes.push(str_attr("messaging.message.id", id));
        }
    }
    info
}

fn links(records: &[Value], context_of: impl Fn(&Value) -> Option<RemoteContext>) -> Vec<RemoteContext> {
    records.iter().filter_map(context_of).take(MAX_LINKS).collect()
}

fn s3(first: &Map<String, Value>) -> TriggerInfo {
    let mut info = TriggerInfo::new(FaasTrigger::Datasource);
    let s3 = first.get("s3");
    let bucket = s3.and_then(|s| s.get("bucket")?.get("name")?.as_str());
    // Keys arrive URL-encoded (`+` for a space), as in S3's notification format.
    let key = s3.and_then(|s| s.get("object")?.get("key")?.as_str()).map(decode_s3_key);
    let operation = str_at(first, "eventName").and_then(|name| {
        if name.starts_with("ObjectCreated:") {
            Some("insert")
        } else if name.starts_with("ObjectRemoved:") {
            Some("delete")
        } else {
            None
        }
    });
    if let Some(bucket) = bucket {
        info.attributes.push(str_attr("aws.s3.bucket", bucket));
    }
    if let Some(key) = &key {
        info.attributes.push(str_attr("aws.s3.key", key));
    }
    if let Some(bucket) = bucket {
        info.attributes.push(str_attr("faas.document.collection", bucket));
    }
    if let Some(key) = &key {
        info.attributes.push(str_attr("faas.document.name", key));
    }
    if let Some(operation) = operation {
        info.attributes.push(str_attr("faas.document.operation", operation));
    }
    if let Some(time) = str_at(first, "eventTime") {
        info.attributes.push(str_attr("faas.document.time", time));
    }
    info
}

fn dynamodb(records: &[Value], first: &Map<String, Value>) -> TriggerInfo {
    let mut info = TriggerInfo::new(FaasTrigger::Datasource);
    // arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>
    let table = str_at(first, "eventSourceARN")
        .and_then(|arn| arn.split_once(":table/"))
        .and_then(|(_, rest)| rest.split('/').next())
        .filter(|name| !name.is_empty());
    if let Some(table) = table {
        info.attributes.push(str_array_attr("aws.dynamodb.table_names", &[table]));
        info.attributes.push(str_attr("faas.document.collection", table));
    }
    // One operation only when every record of the batch did the same.
    let operation_of = |record: &Value| match record.get("eventName")?.as_str()? {
        "INSERT" => Some("insert"),
        "MODIFY" => Some("edit"),
        "REMOVE" => Some("delete"),
        _ => None,
    };
    if let Some(operation) = records.first().and_then(operation_of) {
        if records.iter().all(|record| operation_of(record) == Some(operation)) {
            info.attributes.push(str_attr("faas.document.operation", operation));
        }
    }
    info
}

/// `arn:aws:sqs:us-west-2:123456789012:MyQueue` -> `MyQueue`.
fn arn_last_segment(arn: &str) -> Option<&str> {
    arn.rsplit(':').next().filter(|segment| !segment.is_empty())
}

/// S3's key encoding: `+` is a space, `%XX` a byte; a malformed escape stays as written.
fn decode_s3_key(key: &str) -> String {
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let mut byte = [0u8; 1];
                if decode_hex_bytes(&bytes[i + 1..i + 3], &mut byte) {
                    out.push(byte[0]);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::super::extract_trigger;
    use super::*;

    #[test]
    fn s3_keys_are_decoded() {
        assert_eq!(decode_s3_key("photos/Happy+Face%21.jpg"), "photos/Happy Face!.jpg");
        assert_eq!(decode_s3_key("100%"), "100%");
        assert_eq!(decode_s3_key("a%zzb%4"), "a%zzb%4");
        assert_eq!(decode_s3_key("%E2%82%AC"), "€");
    }

    #[test]
    fn a_dynamodb_batch_names_its_table_and_a_common_operation() {
        let arn = "arn:aws:dynamodb:us-east-1:123456789012:table/Example-Table/stream/2016-12-01T00:00:00.000";
        let event = format!(
            r#"{{"Records":[{{"eventSource":"aws:dynamodb","eventName":"MODIFY","eventSourceARN":"{arn}"}},
                           {{"eventSource":"aws:dynamodb","eventName":"MODIFY","eventSourceARN":"{arn}"}}]}}"#
        );
        let info = extract_trigger(event.as_bytes());
        assert_eq!(info.trigger, FaasTrigger::Datasource);
        assert_eq!(
            info.attributes,
            vec![
                str_array_attr("aws.dynamodb.table_names", &["Example-Table"]),
                str_attr("faas.document.collection", "Example-Table"),
                str_attr("faas.document.operation", "edit"),
            ]
        );
    }

    #[test]
    fn sqs_links_prefer_traceparent_and_skip_malformed_headers() {
        let event = br#"{"Records":[
            {"eventSource":"aws:sqs","messageId":"a","eventSourceARN":"arn:aws:sqs:us-east-1:1:orders",
             "attributes":{"AWSTraceHeader":"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"},
             "messageAttributes":{"traceparent":{"stringValue":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","dataType":"String"}}},
            {"eventSource":"aws:sqs","messageId":"b","attributes":{"AWSTraceHeader":"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"}},
            {"eventSource":"aws:sqs","messageId":"c","attributes":{"AWSTraceHeader":"Root=1-garbage;Parent=53995c3f42cd8ad8"}},
            {"eventSource":"aws:sqs","messageId":"d"}]}"#;
        let info = extract_trigger(event);
        let span_ids: Vec<[u8; 8]> = info.links.iter().map(|l| l.span_id).collect();
        assert_eq!(
            span_ids,
            [[0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7], [0x53, 0x99, 0x5c, 0x3f, 0x42, 0xcd, 0x8a, 0xd8]]
        );
        assert_eq!(info.parent, None);
        assert_eq!(info.attribute("messaging.message.id"), None);
        assert_eq!(info.attributes[3], int_attr("messaging.batch.message_count", 4));
    }

    #[test]
    fn sns_links_come_from_traceparent_message_attributes() {
        let event = br#"{"Records":[
            {"EventSource":"aws:sns","Sns":{"TopicArn":"arn:aws:sns:us-east-1:1:orders","MessageId":"m1",
             "MessageAttributes":{"traceparent":{"Type":"String","Value":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"},
                                  "tracestate":{"Type":"String","Value":"k=v"}}}},
            {"EventSource":"aws:sns","Sns":{"MessageAttributes":{"traceparent":{"Type":"String","Value":"garbage"}}}}]}"#;
        let info = extract_trigger(event);
        assert_eq!(info.links.len(), 1);
        assert_eq!(
            (info.links[0].span_id, info.links[0].trace_state.as_str(), info.links[0].sampled),
            ([0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7], "k=v", Some(false))
        );
        assert_eq!(info.attribute("messaging.destination.name"), str_attr("x", "orders").value.as_ref());
        assert_eq!(info.attribute("messaging.batch.message_count"), int_attr("x", 2).value.as_ref());
    }

    #[test]
    fn links_stop_at_the_limit() {
        let record = r#"{"eventSource":"aws:sqs","attributes":{"AWSTraceHeader":"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8"}}"#;
        let event = format!(r#"{{"Records":[{}]}}"#, vec![record; MAX_LINKS + 5].join(","));
        let info = extract_trigger(event.as_bytes());
        assert_eq!(info.links.len(), MAX_LINKS);
        assert_eq!(info.attribute("messaging.batch.message_count"), int_attr("x", 133).value.as_ref());
    }

    #[test]
    fn unknown_or_empty_records_are_other() {
        assert_eq!(extract_trigger(br#"{"Records":[]}"#), TriggerInfo::other());
        assert_eq!(extract_trigger(br#"{"Records":[{"eventSource":"aws:codecommit"}]}"#), TriggerInfo::other());
        assert_eq!(extract_trigger(br#"{"Records":[17]}"#), TriggerInfo::other());
        assert_eq!(extract_trigger(b"not json"), TriggerInfo::other());
        assert_eq!(extract_trigger(b"[1,2]"), TriggerInfo::other());
    }
}
