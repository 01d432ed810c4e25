//! Builders shared by the table tests: attribute values, a fixture log record, and running one statement.
#![allow(dead_code)]

use lambdatel_ottl::{ContextKind, EvalError, LogContext, ParseError, Statement};
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::resource::v1::Resource;

pub fn s(v: &str) -> AnyValue {
    AnyValue { value: Some(any_value::Value::StringValue(v.to_string())) }
}
pub fn i(v: i64) -> AnyValue {
    AnyValue { value: Some(any_value::Value::IntValue(v)) }
}
pub fn d(v: f64) -> AnyValue {
    AnyValue { value: Some(any_value::Value::DoubleValue(v)) }
}
pub fn b(v: bool) -> AnyValue {
    AnyValue { value: Some(any_value::Value::BoolValue(v)) }
}
pub fn bytes(v: &[u8]) -> AnyValue {
    AnyValue { value: Some(any_value::Value::BytesValue(v.to_vec())) }
}
pub fn list(items: Vec<AnyValue>) -> AnyValue {
    AnyValue { value: Some(any_value::Value::ArrayValue(ArrayValue { values: items })) }
}
pub fn map(entries: Vec<(&str, AnyValue)>) -> AnyValue {
    AnyValue { value: Some(any_value::Value::KvlistValue(KeyValueList { values: attrs(entries) })) }
}
pub fn attrs(entries: Vec<(&str, AnyValue)>) -> Vec<KeyValue> {
    entries
        .into_iter()
        .map(|(key, value)| KeyValue { key: key.to_string(), value: Some(value), ..Default::default() })
        .collect()
}

/// Attributes as (key, value) pairs in order, for exact comparisons.
pub fn pairs(attributes: &[KeyValue]) -> Vec<(String, AnyValue)> {
    attributes.iter().map(|kv| (kv.key.clone(), kv.value.clone().unwrap_or_default())).collect()
}

pub fn expect_pairs(entries: Vec<(&str, AnyValue)>) -> Vec<(String, AnyValue)> {
    entries.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Parses `statement` for the log context and runs it on `log` with an empty resource and scope.
pub fn run_log(statement: &str, log: &mut LogRecord) -> Result<bool, EvalError> {
    let statement = Statement::parse(statement, Some(ContextKind::Log)).unwrap_or_else(|e| panic!("{e}"));
    let (mut resource, mut scope) = (Resource::default(), InstrumentationScope::default());
    statement.execute(&mut LogContext { resource: &mut resource, scope: &mut scope, log })
}

pub fn log_with(attributes: Vec<(&str, AnyValue)>) -> LogRecord {
    LogRecord { attributes: attrs(attributes), ..Default::default() }
}

pub fn parse_error(statement: &str, context: Option<ContextKind>) -> String {
    match Statement::parse(statement, context) {
        Ok(_) => panic!("`{statement}` parsed"),
        Err(ParseError { kind, .. }) => kind.to_string(),
    }
}
