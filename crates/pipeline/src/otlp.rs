//! Small functions for working with OTLP data, shared by the built-in components and offered to custom
//! processors (re-exported as `lambdatel::otlp`): attribute builders, JSON to `AnyValue`, mutable walks over
//! spans, log records and data points with their resource and scope, and severity numbers.

use opentelemetry_proto::tonic::{
    common::v1::{any_value::Value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList},
    logs::v1::{LogRecord, ResourceLogs},
    metrics::v1::{metric::Data, Metric, ResourceMetrics},
    resource::v1::Resource,
    trace::v1::{ResourceSpans, Span},
};

pub use opentelemetry_proto::tonic::logs::v1::SeverityNumber;

/// A string value.
pub fn string_value(value: impl Into<String>) -> AnyValue {
    AnyValue { value: Some(Value::StringValue(value.into())) }
}

/// An integer value.
pub fn int_value(value: i64) -> AnyValue {
    AnyValue { value: Some(Value::IntValue(value)) }
}

/// A boolean value.
pub fn bool_value(value: bool) -> AnyValue {
    AnyValue { value: Some(Value::BoolValue(value)) }
}

/// A floating-point value.
pub fn double_value(value: f64) -> AnyValue {
    AnyValue { value: Some(Value::DoubleValue(value)) }
}

/// An attribute with a string value.
pub fn string_attribute(key: impl Into<String>, value: impl Into<String>) -> KeyValue {
    KeyValue { key: key.into(), value: Some(string_value(value)), ..Default::default() }
}

/// An attribute with an integer value.
pub fn int_attribute(key: impl Into<String>, value: i64) -> KeyValue {
    KeyValue { key: key.into(), value: Some(int_value(value)), ..Default::default() }
}

/// An attribute with a boolean value.
pub fn bool_attribute(key: impl Into<String>, value: bool) -> KeyValue {
    KeyValue { key: key.into(), value: Some(bool_value(value)), ..Default::default() }
}

/// An attribute with a floating-point value.
pub fn double_attribute(key: impl Into<String>, value: f64) -> KeyValue {
    KeyValue { key: key.into(), value: Some(double_value(value)), ..Default::default() }
}

/// The value of attribute `key`, if present.
pub fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.as_ref())
}

/// Replaces the value of attribute `key`, or appends the attribute.
pub fn set_attribute(attributes: &mut Vec<KeyValue>, key: &str, value: AnyValue) {
    match attributes.iter_mut().find(|kv| kv.key == key) {
        Some(kv) => kv.value = Some(value),
        None => attributes.push(KeyValue { key: key.to_owned(), value: Some(value), ..Default::default() }),
    }
}

/// Converts a JSON value to an OTLP value: integers that fit `i64` stay integers, other numbers become
/// doubles, arrays and objects become array and key-value list values, and `null` is an empty value.
pub fn json_to_any_value(value: serde_json::Value) -> AnyValue {
    use serde_json::Value as Json;
    let value = match value {
        Json::Null => None,
        Json::Bool(b) => Some(Value::BoolValue(b)),
        Json::Number(n) => Some(match n.as_i64() {
            Some(i) => Value::IntValue(i),
            None => Value::DoubleValue(n.as_f64().unwrap_or(f64::NAN)),
        }),
        Json::String(s) => Some(Value::StringValue(s)),
        Json::Array(items) => {
            Some(Value::ArrayValue(ArrayValue { values: items.into_iter().map(json_to_any_value).collect() }))
        }
        Json::Object(map) => Some(Value::KvlistValue(KeyValueList {
            values: map
                .into_iter()
                .map(|(key, value)| KeyValue { key, value: Some(json_to_any_value(value)), ..Default::default() })
                .collect(),
        })),
    };
    AnyValue { value }
}

/// One item of a batch with the resource and scope it belongs to.
pub struct InContext<'a, T> {
    /// The item's resource, when the group has one.
    pub resource: Option<&'a Resource>,
    /// The item's instrumentation scope, when the group has one.
    pub scope: Option<&'a InstrumentationScope>,
    /// The item itself.
    pub item: &'a mut T,
}

/// Every span of a batch, mutably, with its resource and scope.
pub fn spans_mut(batch: &mut [ResourceSpans]) -> impl Iterator<Item = InContext<'_, Span>> {
    batch.iter_mut().flat_map(|r| {
        let resource = r.resource.as_ref();
        r.scope_spans.iter_mut().flat_map(move |s| {
            let scope = s.scope.as_ref();
            s.spans.iter_mut().map(move |item| InContext { resource, scope, item })
        })
    })
}

/// Every log record of a batch, mutably, with its resource and scope.
pub fn log_records_mut(batch: &mut [ResourceLogs]) -> impl Iterator<Item = InContext<'_, LogRecord>> {
    batch.iter_mut().flat_map(|r| {
        let resource = r.resource.as_ref();
        r.scope_logs.iter_mut().flat_map(move |s| {
            let scope = s.scope.as_ref();
            s.log_records.iter_mut().map(move |item| InContext { resource, scope, item })
        })
    })
}

/// Every metric of a batch, mutably, with its resource and scope.
pub fn metrics_mut(batch: &mut [ResourceMetrics]) -> impl Iterator<Item = InContext<'_, Metric>> {
    batch.iter_mut().flat_map(|r| {
        let resource = r.resource.as_ref();
        r.scope_metrics.iter_mut().flat_map(move |s| {
            let scope = s.scope.as_ref();
            s.metrics.iter_mut().map(move |item| InContext { resource, scope, item })
        })
    })
}

/// Calls `f` with the attribute list of every data point of a metric, whatever its kind.
pub fn for_each_data_point_attributes(data: &mut Data, mut f: impl FnMut(&mut Vec<KeyValue>)) {
    match data {
        Data::Gauge(g) => g.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
        Data::Sum(s) => s.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
        Data::Histogram(h) => h.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
        Data::ExponentialHistogram(h) => h.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
        Data::Summary(s) => s.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
    }
}

/// The severity text OTLP pairs with a severity number's range (`INFO` for 9-12, and so on).
pub fn severity_text(severity: SeverityNumber) -> &'static str {
    match severity as i32 {
        1..=4 => "TRACE",
        5..=8 => "DEBUG",
        9..=12 => "INFO",
        13..=16 => "WARN",
        17..=20 => "ERROR",
        21..=24 => "FATAL",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{logs::ScopeLogs, resource::Resource};

    #[test]
    fn json_becomes_typed_values() {
        let value = json_to_any_value(serde_json::json!({"n": 3, "f": 1.5, "b": true, "s": "x", "a": [null]}));
        let Some(Value::KvlistValue(list)) = value.value else { panic!("an object becomes a key-value list") };
        let by_key = |k: &str| list.values.iter().find(|kv| kv.key == k).unwrap().value.clone().unwrap();
        assert_eq!(by_key("n"), int_value(3));
        assert_eq!(by_key("f"), double_value(1.5));
        assert_eq!(by_key("b"), bool_value(true));
        assert_eq!(by_key("s"), string_value("x"));
        assert_eq!(
            by_key("a"),
            AnyValue { value: Some(Value::ArrayValue(ArrayValue { values: vec![AnyValue::default()] })) }
        );
    }

    #[test]
    fn log_records_come_with_their_resource() {
        let mut batch = vec![ResourceLogs {
            resource: Some(Resource { attributes: vec![string_attribute("service.name", "a")], ..Default::default() }),
            scope_logs: vec![ScopeLogs { log_records: vec![LogRecord::default(); 2], ..Default::default() }],
            ..Default::default()
        }];
        for record in log_records_mut(&mut batch) {
            let service = attribute(&record.resource.unwrap().attributes, "service.name").cloned().unwrap();
            set_attribute(&mut record.item.attributes, "service", service);
            set_attribute(&mut record.item.attributes, "service", string_value("b"));
        }
        let records = &batch[0].scope_logs[0].log_records;
        assert!(records.iter().all(|r| r.attributes == vec![string_attribute("service", "b")]));
    }

    #[test]
    fn severity_texts_follow_the_number_ranges() {
        assert_eq!(severity_text(SeverityNumber::Info), "INFO");
        assert_eq!(severity_text(SeverityNumber::Error3), "ERROR");
        assert_eq!(severity_text(SeverityNumber::Unspecified), "");
    }
}
