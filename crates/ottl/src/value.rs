//! Runtime values. Reads borrow from the item (or the statement's literals), so conditions and copies
//! that need no new string allocate nothing.

use std::borrow::Cow;
use std::cmp::Ordering;

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, ArrayValue, KeyValue, KeyValueList};

use crate::lexer::CmpOp;

#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Nil,
    Bool(bool),
    Int(i64),
    Double(f64),
    Str(Cow<'a, str>),
    Bytes(Cow<'a, [u8]>),
    Map(Cow<'a, [KeyValue]>),
    List(Cow<'a, [AnyValue]>),
}

impl<'a> Value<'a> {
    pub fn from_any(value: &'a AnyValue) -> Self {
        match &value.value {
            None => Value::Nil,
            Some(v) => Self::from_any_inner(v),
        }
    }

    pub(crate) fn from_any_inner(value: &'a any_value::Value) -> Self {
        match value {
            any_value::Value::StringValue(s) => Value::Str(Cow::Borrowed(s)),
            any_value::Value::BoolValue(b) => Value::Bool(*b),
            any_value::Value::IntValue(i) => Value::Int(*i),
            any_value::Value::DoubleValue(d) => Value::Double(*d),
            any_value::Value::ArrayValue(a) => Value::List(Cow::Borrowed(&a.values)),
            any_value::Value::KvlistValue(kv) => Value::Map(Cow::Borrowed(&kv.values)),
            any_value::Value::BytesValue(b) => Value::Bytes(Cow::Borrowed(b)),
            // An index into a profile's string table, which OTLP traces, logs and metrics do not carry.
            any_value::Value::StringValueStrindex(_) => Value::Nil,
        }
    }

    pub fn str(s: &'a str) -> Self {
        Value::Str(Cow::Borrowed(s))
    }

    /// A view of this value borrowing from it: how literals are handed out without copying.
    pub fn reborrow(&self) -> Value<'_> {
        match self {
            Value::Nil => Value::Nil,
            Value::Bool(b) => Value::Bool(*b),
            Value::Int(i) => Value::Int(*i),
            Value::Double(d) => Value::Double(*d),
            Value::Str(s) => Value::Str(Cow::Borrowed(s)),
            Value::Bytes(b) => Value::Bytes(Cow::Borrowed(b)),
            Value::Map(m) => Value::Map(Cow::Borrowed(m)),
            Value::List(l) => Value::List(Cow::Borrowed(l)),
        }
    }

    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Nil => Value::Nil,
            Value::Bool(b) => Value::Bool(b),
            Value::Int(i) => Value::Int(i),
            Value::Double(d) => Value::Double(d),
            Value::Str(s) => Value::Str(Cow::Owned(s.into_owned())),
            Value::Bytes(b) => Value::Bytes(Cow::Owned(b.into_owned())),
            Value::Map(m) => Value::Map(Cow::Owned(m.into_owned())),
            Value::List(l) => Value::List(Cow::Owned(l.into_owned())),
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Double(_) => "double",
            Value::Str(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::Map(_) => "map",
            Value::List(_) => "slice",
        }
    }

    /// The OTLP value to store; `None` for nil.
    pub fn into_any(self) -> Option<any_value::Value> {
        Some(match self {
            Value::Nil => return None,
            Value::Bool(b) => any_value::Value::BoolValue(b),
            Value::Int(i) => any_value::Value::IntValue(i),
            Value::Double(d) => any_value::Value::DoubleValue(d),
            Value::Str(s) => any_value::Value::StringValue(s.into_owned()),
            Value::Bytes(b) => any_value::Value::BytesValue(b.into_owned()),
            Value::Map(m) => any_value::Value::KvlistValue(KeyValueList { values: m.into_owned() }),
            Value::List(l) => any_value::Value::ArrayValue(ArrayValue { values: l.into_owned() }),
        })
    }

    /// Stores this value into `slot`, reusing the slot's string buffer when both are strings, so that
    /// re-setting a string attribute allocates nothing once it has the capacity.
    pub fn assign_to(&self, slot: &mut Option<any_value::Value>) {
        match (self, slot.as_mut()) {
            (Value::Str(new), Some(any_value::Value::StringValue(old))) => {
                old.clear();
                old.push_str(new);
            }
            (Value::Nil, _) => *slot = None,
            _ => *slot = self.reborrow().into_any(),
        }
    }

    /// The Collector's string form of a value (`StringLikeGetter`): bytes as hex, maps and slices as
    /// JSON, doubles as JavaScript would print them. `None` for nil.
    pub fn to_string_like(&self) -> Option<Cow<'_, str>> {
        Some(match self {
            Value::Nil => return None,
            Value::Str(s) => Cow::Borrowed(s.as_ref()),
            Value::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            Value::Int(i) => Cow::Owned(i.to_string()),
            Value::Double(d) => Cow::Owned(format_double(*d)),
            Value::Bytes(b) => Cow::Owned(encode_hex(b)),
            Value::Map(_) | Value::List(_) => Cow::Owned(self.to_json().to_string()),
        })
    }

    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Nil => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Double(d) => serde_json::Number::from_f64(*d).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.to_string()),
            Value::Bytes(b) => J::String(encode_hex(b)),
            Value::Map(m) => {
                J::Object(m.iter().map(|kv| (kv.key.clone(), value_of(kv.value.as_ref()).to_json())).collect())
            }
            Value::List(l) => J::Array(l.iter().map(|v| Value::from_any(v).to_json()).collect()),
        }
    }

    pub fn from_json(json: serde_json::Value) -> Value<'static> {
        use serde_json::Value as J;
        match json {
            J::Null => Value::Nil,
            J::Bool(b) => Value::Bool(b),
            // encoding/json decodes every number as float64, and the Collector stores what it decoded.
            J::Number(n) => Value::Double(n.as_f64().unwrap_or(f64::NAN)),
            J::String(s) => Value::Str(Cow::Owned(s)),
            J::Array(items) => Value::List(Cow::Owned(
                items.into_iter().map(|item| AnyValue { value: Value::from_json(item).into_any() }).collect(),
            )),
            J::Object(fields) => Value::Map(Cow::Owned(
                fields
                    .into_iter()
                    .map(|(key, item)| KeyValue {
                        key,
                        value: Some(AnyValue { value: Value::from_json(item).into_any() }),
                        ..Default::default()
                    })
                    .collect(),
            )),
        }
    }
}

/// The value of an attribute entry; an entry without a value reads as nil.
pub(crate) fn value_of(value: Option<&AnyValue>) -> Value<'_> {
    value.map_or(Value::Nil, Value::from_any)
}

pub(crate) fn encode_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// ES6 number-to-string, as pdata's `AsString` and jsoniter print doubles: exponent form below 1e-6 and
/// from 1e21 on, the shortest round-tripping digits otherwise.
pub(crate) fn format_double(d: f64) -> String {
    let abs = d.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{d:e}");
        match s.split_once('e') {
            Some((mantissa, exp)) if !exp.starts_with('-') => format!("{mantissa}e+{exp}"),
            _ => s,
        }
    } else {
        format!("{d}")
    }
}

/// The Collector's comparison rules: numbers compare across int and double, strings and bytes order
/// lexically, booleans only (in)equal, maps and slices only (in)equal; any other pairing, nil included,
/// is unequal to everything (so only `!=` holds), except nil equals nil.
pub fn compare(left: &Value<'_>, op: CmpOp, right: &Value<'_>) -> bool {
    let ordering = match (left, right) {
        (Value::Nil, Value::Nil) => Some(Ordering::Equal),
        (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
        (Value::Int(a), Value::Double(b)) => (*a as f64).partial_cmp(b),
        (Value::Double(a), Value::Int(b)) => a.partial_cmp(&(*b as f64)),
        (Value::Double(a), Value::Double(b)) => a.partial_cmp(b),
        (Value::Str(a), Value::Str(b)) => Some(a.as_ref().cmp(b.as_ref())),
        (Value::Bytes(a), Value::Bytes(b)) => Some(a.as_ref().cmp(b.as_ref())),
        (Value::Bool(a), Value::Bool(b)) => return equality_only(op, a == b),
        (Value::Map(a), Value::Map(b)) => return equality_only(op, maps_equal(a, b)),
        (Value::List(a), Value::List(b)) => return equality_only(op, a == b),
        _ => return op == CmpOp::Ne,
    };
    match ordering {
        // NaN: unordered, so only `!=` holds.
        None => op == CmpOp::Ne,
        Some(ordering) => match op {
            CmpOp::Eq => ordering == Ordering::Equal,
            CmpOp::Ne => ordering != Ordering::Equal,
            CmpOp::Lt => ordering == Ordering::Less,
            CmpOp::Le => ordering != Ordering::Greater,
            CmpOp::Gt => ordering == Ordering::Greater,
            CmpOp::Ge => ordering != Ordering::Less,
        },
    }
}

fn equality_only(op: CmpOp, equal: bool) -> bool {
    match op {
        CmpOp::Eq => equal,
        CmpOp::Ne => !equal,
        _ => false,
    }
}

/// Maps are equal when they hold the same keys and values, in any order.
fn maps_equal(a: &[KeyValue], b: &[KeyValue]) -> bool {
    a.len() == b.len()
        && a.iter()
            .all(|entry| b.iter().find(|other| other.key == entry.key).is_some_and(|other| other.value == entry.value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_as_the_collector_prints_them() {
        for (value, expected) in [
            (1.0, "1"),
            (1.5, "1.5"),
            (-0.25, "-0.25"),
            (1e21, "1e+21"),
            (1e-7, "1e-7"),
            (123456789.0, "123456789"),
            (0.0, "0"),
        ] {
            assert_eq!(format_double(value), expected, "{value}");
        }
    }
}
