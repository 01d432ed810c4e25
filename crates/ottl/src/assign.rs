//! Writing resolved paths on a `Target`. Setters follow the Collector: a value of the wrong type for a
//! typed field (a string for `kind`, say) is ignored, and setting nil does nothing.

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue, KeyValueList};
use opentelemetry_proto::tonic::metrics::v1::number_data_point;
use opentelemetry_proto::tonic::trace::v1::Status;

use crate::access::{point_mut, unavailable, PointMut};
use crate::context::{Item, Target};
use crate::error::EvalError;
use crate::lexer::decode_hex;
use crate::parser::Key;
use crate::paths::{Field, Path};
use crate::value::Value;

impl Target<'_> {
    /// Writes a path. With keys, missing map entries (and maps on the way) are created.
    pub(crate) fn set(&mut self, path: &Path, value: &Value<'_>) -> Result<(), EvalError> {
        if matches!(value, Value::Nil) {
            return Ok(());
        }
        if !path.keys.is_empty() {
            let slot = self.keyed_slot(path)?;
            value.assign_to(slot);
            return Ok(());
        }
        if let Some(attributes) = self.attributes_mut(path.field) {
            if let Value::Map(map) = value {
                attributes.clear();
                attributes.extend_from_slice(map);
            }
            return Ok(());
        }
        self.set_field(path, value)
    }

    fn set_field(&mut self, path: &Path, value: &Value<'_>) -> Result<(), EvalError> {
        let missing = || unavailable(path);
        let int = match value {
            Value::Int(i) => Some(*i),
            _ => None,
        };
        let text = match value {
            Value::Str(s) => Some(s.as_ref()),
            _ => None,
        };
        let bytes = match value {
            Value::Bytes(b) => Some(b.as_ref()),
            _ => None,
        };
        let put_str = |field: &mut String| {
            if let Some(s) = text {
                field.clear();
                field.push_str(s);
            }
        };
        match path.field {
            Field::ResourceDroppedAttributesCount => {
                set_u32(&mut self.resource.dropped_attributes_count, int);
            }
            Field::ScopeName | Field::ScopeVersion | Field::ScopeDroppedAttributesCount => {
                let scope = self.scope.as_deref_mut().ok_or_else(missing)?;
                match path.field {
                    Field::ScopeName => put_str(&mut scope.name),
                    Field::ScopeVersion => put_str(&mut scope.version),
                    _ => set_u32(&mut scope.dropped_attributes_count, int),
                }
            }
            Field::EventName | Field::EventTime | Field::EventDroppedAttributesCount => {
                let event = match &mut self.item {
                    Item::SpanEvent(span, index) => span.events.get_mut(*index).ok_or_else(missing)?,
                    _ => return Err(missing()),
                };
                match path.field {
                    Field::EventName => put_str(&mut event.name),
                    Field::EventTime => set_u64(&mut event.time_unix_nano, int),
                    _ => set_u32(&mut event.dropped_attributes_count, int),
                }
            }
            field @ (Field::SpanTraceId
            | Field::SpanTraceIdString
            | Field::SpanSpanId
            | Field::SpanSpanIdString
            | Field::SpanParentSpanId
            | Field::SpanParentSpanIdString
            | Field::SpanTraceState
            | Field::SpanName
            | Field::SpanKind
            | Field::SpanStartTime
            | Field::SpanEndTime
            | Field::SpanDroppedAttributesCount
            | Field::SpanStatusCode
            | Field::SpanStatusMessage) => {
                let span = self.span_mut().ok_or_else(missing)?;
                match field {
                    Field::SpanTraceId => set_id(&mut span.trace_id, bytes, 16),
                    Field::SpanSpanId => set_id(&mut span.span_id, bytes, 8),
                    Field::SpanParentSpanId => set_id(&mut span.parent_span_id, bytes, 8),
                    Field::SpanTraceIdString => set_hex_id(&mut span.trace_id, text, 16)?,
                    Field::SpanSpanIdString => set_hex_id(&mut span.span_id, text, 8)?,
                    Field::SpanParentSpanIdString => set_hex_id(&mut span.parent_span_id, text, 8)?,
                    Field::SpanTraceState => put_str(&mut span.trace_state),
                    Field::SpanName => put_str(&mut span.name),
                    Field::SpanKind => set_i32(&mut span.kind, int),
                    Field::SpanStartTime => set_u64(&mut span.start_time_unix_nano, int),
                    Field::SpanEndTime => set_u64(&mut span.end_time_unix_nano, int),
                    Field::SpanDroppedAttributesCount => set_u32(&mut span.dropped_attributes_count, int),
                    Field::SpanStatusCode if int.is_some() => {
                        set_i32(&mut span.status.get_or_insert_with(Status::default).code, int)
                    }
                    Field::SpanStatusMessage if text.is_some() => {
                        put_str(&mut span.status.get_or_insert_with(Status::default).message)
                    }
                    _ => {}
                }
            }
            field @ (Field::LogTime
            | Field::LogObservedTime
            | Field::LogSeverityNumber
            | Field::LogSeverityText
            | Field::LogBody
            | Field::LogBodyString
            | Field::LogTraceId
            | Field::LogTraceIdString
            | Field::LogSpanId
            | Field::LogSpanIdString
            | Field::LogFlags
            | Field::LogDroppedAttributesCount) => {
                let log = match &mut self.item {
                    Item::Log(log) => log,
                    _ => return Err(missing()),
                };
                match field {
                    Field::LogTime => set_u64(&mut log.time_unix_nano, int),
                    Field::LogObservedTime => set_u64(&mut log.observed_time_unix_nano, int),
                    Field::LogSeverityNumber => set_i32(&mut log.severity_number, int),
                    Field::LogSeverityText => put_str(&mut log.severity_text),
                    Field::LogBody => value.assign_to(&mut log.body.get_or_insert_with(AnyValue::default).value),
                    Field::LogBodyString if text.is_some() => {
                        value.assign_to(&mut log.body.get_or_insert_with(AnyValue::default).value)
                    }
                    Field::LogTraceId => set_id(&mut log.trace_id, bytes, 16),
                    Field::LogSpanId => set_id(&mut log.span_id, bytes, 8),
                    Field::LogTraceIdString => set_hex_id(&mut log.trace_id, text, 16)?,
                    Field::LogSpanIdString => set_hex_id(&mut log.span_id, text, 8)?,
                    Field::LogFlags => set_u32(&mut log.flags, int),
                    Field::LogDroppedAttributesCount => set_u32(&mut log.dropped_attributes_count, int),
                    _ => {}
                }
            }
            Field::MetricName | Field::MetricDescription | Field::MetricUnit => {
                let metric = self.metric_mut().ok_or_else(missing)?;
                match path.field {
                    Field::MetricName => put_str(&mut metric.name),
                    Field::MetricDescription => put_str(&mut metric.description),
                    _ => put_str(&mut metric.unit),
                }
            }
            Field::PointStartTime
            | Field::PointTime
            | Field::PointFlags
            | Field::PointValueInt
            | Field::PointValueDouble
            | Field::PointCount
            | Field::PointSum => {
                let point = match &mut self.item {
                    Item::DataPoint(metric, index) => point_mut(metric, *index).ok_or_else(missing)?,
                    _ => return Err(missing()),
                };
                set_point_field(point, path.field, value);
            }
            Field::MetricType
            | Field::ResourceAttributes
            | Field::ScopeAttributes
            | Field::SpanAttributes
            | Field::EventAttributes
            | Field::LogAttributes
            | Field::PointAttributes => return Err(missing()),
        }
        Ok(())
    }

    /// The value slot of a path holding an `AnyValue` (the body, or a keyed path).
    pub(crate) fn slot_mut(&mut self, path: &Path) -> Result<&mut Option<any_value::Value>, EvalError> {
        if !path.keys.is_empty() {
            return self.keyed_slot(path);
        }
        match (&mut self.item, path.field) {
            (Item::Log(log), Field::LogBody) => Ok(&mut log.body.get_or_insert_with(AnyValue::default).value),
            _ => Err(unavailable(path)),
        }
    }

    /// The value slot `path` with keys names, creating map entries on the way.
    fn keyed_slot(&mut self, path: &Path) -> Result<&mut Option<any_value::Value>, EvalError> {
        let (first, rest) = path.keys.split_first().ok_or_else(|| unavailable(path))?;
        let mut slot: &mut Option<any_value::Value> = if path.field == Field::LogBody {
            let log = match &mut self.item {
                Item::Log(log) => log,
                _ => return Err(unavailable(path)),
            };
            let body = &mut log.body.get_or_insert_with(AnyValue::default).value;
            step_into(body, first, &path.text)?
        } else {
            let attributes = self.attributes_mut(path.field).ok_or_else(|| unavailable(path))?;
            match first {
                Key::Str(key) => entry(attributes, key),
                Key::Int(_) => return Err(index_error(&path.text, "map", "an integer")),
            }
        };
        for key in rest {
            slot = step_into(slot, key, &path.text)?;
        }
        Ok(slot)
    }
}

fn set_point_field(point: PointMut<'_>, field: Field, value: &Value<'_>) {
    let int = match value {
        Value::Int(i) => Some(*i),
        _ => None,
    };
    let double = match value {
        Value::Double(d) => Some(*d),
        _ => None,
    };
    let (start, time, flags) = match point {
        PointMut::Number(p) => {
            match (field, int, double) {
                (Field::PointValueInt, Some(i), _) => p.value = Some(number_data_point::Value::AsInt(i)),
                (Field::PointValueDouble, _, Some(d)) => p.value = Some(number_data_point::Value::AsDouble(d)),
                _ => {}
            }
            (&mut p.start_time_unix_nano, &mut p.time_unix_nano, &mut p.flags)
        }
        PointMut::Histogram(p) => {
            match (field, int, double) {
                (Field::PointCount, Some(i), _) => p.count = i as u64,
                (Field::PointSum, _, Some(d)) => p.sum = Some(d),
                _ => {}
            }
            (&mut p.start_time_unix_nano, &mut p.time_unix_nano, &mut p.flags)
        }
        PointMut::Exponential(p) => {
            match (field, int, double) {
                (Field::PointCount, Some(i), _) => p.count = i as u64,
                (Field::PointSum, _, Some(d)) => p.sum = Some(d),
                _ => {}
            }
            (&mut p.start_time_unix_nano, &mut p.time_unix_nano, &mut p.flags)
        }
        PointMut::Summary(p) => {
            match (field, int, double) {
                (Field::PointCount, Some(i), _) => p.count = i as u64,
                (Field::PointSum, _, Some(d)) => p.sum = d,
                _ => {}
            }
            (&mut p.start_time_unix_nano, &mut p.time_unix_nano, &mut p.flags)
        }
    };
    match field {
        Field::PointStartTime => set_u64(start, int),
        Field::PointTime => set_u64(time, int),
        Field::PointFlags => set_u32(flags, int),
        _ => {}
    }
}

fn set_u64(field: &mut u64, value: Option<i64>) {
    if let Some(v) = value {
        *field = v as u64;
    }
}

fn set_u32(field: &mut u32, value: Option<i64>) {
    if let Some(v) = value {
        *field = v as u32;
    }
}

fn set_i32(field: &mut i32, value: Option<i64>) {
    if let Some(v) = value {
        *field = v as i32;
    }
}

fn set_id(field: &mut Vec<u8>, value: Option<&[u8]>, len: usize) {
    if let Some(id) = value.filter(|id| id.len() == len) {
        field.clear();
        field.extend_from_slice(id);
    }
}

fn set_hex_id(field: &mut Vec<u8>, value: Option<&str>, len: usize) -> Result<(), EvalError> {
    let Some(text) = value else { return Ok(()) };
    match decode_hex(text).filter(|id| id.len() == len) {
        Some(id) => {
            *field = id;
            Ok(())
        }
        None => Err(EvalError::Invalid { function: "set", message: format!("`{text}` is not a {len}-byte hex id") }),
    }
}

/// The value of `key` in `attributes`, inserted empty at the end if absent.
pub(crate) fn entry<'m>(attributes: &'m mut Vec<KeyValue>, key: &str) -> &'m mut Option<any_value::Value> {
    let index = match attributes.iter().position(|kv| kv.key == key) {
        Some(index) => index,
        None => {
            attributes.push(KeyValue { key: key.to_string(), value: None, ..Default::default() });
            attributes.len() - 1
        }
    };
    &mut attributes[index].value.get_or_insert_with(AnyValue::default).value
}

fn step_into<'v>(
    slot: &'v mut Option<any_value::Value>,
    key: &Key,
    path: &str,
) -> Result<&'v mut Option<any_value::Value>, EvalError> {
    match key {
        Key::Str(name) => {
            if slot.is_none() {
                *slot = Some(any_value::Value::KvlistValue(KeyValueList::default()));
            }
            match slot {
                Some(any_value::Value::KvlistValue(map)) => Ok(entry(&mut map.values, name)),
                other => Err(index_error(path, type_of(other.as_ref()), "a string")),
            }
        }
        Key::Int(index) => match slot {
            Some(any_value::Value::ArrayValue(list)) => {
                let len = list.values.len();
                let item = usize::try_from(*index).ok().and_then(|i| list.values.get_mut(i));
                match item {
                    Some(item) => Ok(&mut item.value),
                    None => Err(EvalError::Invalid {
                        function: "path",
                        message: format!("index {index} out of range for a slice of {len} in `{path}`"),
                    }),
                }
            }
            other => Err(index_error(path, type_of(other.as_ref()), "an integer")),
        },
    }
}

fn type_of(value: Option<&any_value::Value>) -> &'static str {
    value.map_or("nil", |v| Value::from_any_inner(v).type_name())
}

fn index_error(path: &str, container: &str, key: &str) -> EvalError {
    EvalError::Invalid { function: "path", message: format!("`{path}`: a {container} cannot be indexed by {key}") }
}
