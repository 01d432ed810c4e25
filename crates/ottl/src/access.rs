//! Reading and writing resolved paths on a `Target`. Setters follow the Collector: a value of the wrong
//! type for a typed field (a string for `kind`, say) is ignored, and setting nil does nothing.

use std::borrow::Cow;

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue, KeyValueList};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, ExponentialHistogramDataPoint, HistogramDataPoint, Metric, NumberDataPoint,
    SummaryDataPoint,
};
use opentelemetry_proto::tonic::trace::v1::{Span, Status};

use crate::context::{Item, Target};
use crate::error::EvalError;
use crate::lexer::decode_hex;
use crate::parser::Key;
use crate::paths::{Field, Path};
use crate::value::{encode_hex, value_of, Value};

enum Point<'a> {
    Number(&'a NumberDataPoint),
    Histogram(&'a HistogramDataPoint),
    Exponential(&'a ExponentialHistogramDataPoint),
    Summary(&'a SummaryDataPoint),
}

enum PointMut<'a> {
    Number(&'a mut NumberDataPoint),
    Histogram(&'a mut HistogramDataPoint),
    Exponential(&'a mut ExponentialHistogramDataPoint),
    Summary(&'a mut SummaryDataPoint),
}

fn point(metric: &Metric, index: usize) -> Option<Point<'_>> {
    Some(match metric.data.as_ref()? {
        metric::Data::Gauge(g) => Point::Number(g.data_points.get(index)?),
        metric::Data::Sum(s) => Point::Number(s.data_points.get(index)?),
        metric::Data::Histogram(h) => Point::Histogram(h.data_points.get(index)?),
        metric::Data::ExponentialHistogram(e) => Point::Exponential(e.data_points.get(index)?),
        metric::Data::Summary(s) => Point::Summary(s.data_points.get(index)?),
    })
}

fn point_mut(metric: &mut Metric, index: usize) -> Option<PointMut<'_>> {
    Some(match metric.data.as_mut()? {
        metric::Data::Gauge(g) => PointMut::Number(g.data_points.get_mut(index)?),
        metric::Data::Sum(s) => PointMut::Number(s.data_points.get_mut(index)?),
        metric::Data::Histogram(h) => PointMut::Histogram(h.data_points.get_mut(index)?),
        metric::Data::ExponentialHistogram(e) => PointMut::Exponential(e.data_points.get_mut(index)?),
        metric::Data::Summary(s) => PointMut::Summary(s.data_points.get_mut(index)?),
    })
}

/// The Collector's `METRIC_DATA_TYPE_*` number of a metric.
fn metric_type(metric: &Metric) -> i64 {
    match metric.data {
        None => 0,
        Some(metric::Data::Gauge(_)) => 1,
        Some(metric::Data::Sum(_)) => 2,
        Some(metric::Data::Histogram(_)) => 3,
        Some(metric::Data::ExponentialHistogram(_)) => 4,
        Some(metric::Data::Summary(_)) => 5,
    }
}

fn unavailable(path: &Path) -> EvalError {
    EvalError::Invalid { function: "path", message: format!("`{}` is not available on this item", path.text) }
}

fn nanos(value: u64) -> Value<'static> {
    Value::Int(value as i64)
}

fn owned_str(s: String) -> Value<'static> {
    Value::Str(Cow::Owned(s))
}

impl Target<'_> {
    fn span(&self) -> Option<&Span> {
        match &self.item {
            Item::Span(span) | Item::SpanEvent(span, _) => Some(span),
            _ => None,
        }
    }

    fn span_mut(&mut self) -> Option<&mut Span> {
        match &mut self.item {
            Item::Span(span) | Item::SpanEvent(span, _) => Some(span),
            _ => None,
        }
    }

    fn metric(&self) -> Option<&Metric> {
        match &self.item {
            Item::Metric(metric) | Item::DataPoint(metric, _) => Some(metric),
            _ => None,
        }
    }

    fn metric_mut(&mut self) -> Option<&mut Metric> {
        match &mut self.item {
            Item::Metric(metric) | Item::DataPoint(metric, _) => Some(metric),
            _ => None,
        }
    }

    /// The attribute list a field names, for fields that are one.
    fn attributes(&self, field: Field) -> Option<&Vec<KeyValue>> {
        Some(match field {
            Field::ResourceAttributes => &self.resource.attributes,
            Field::ScopeAttributes => &self.scope.as_ref()?.attributes,
            Field::SpanAttributes => &self.span()?.attributes,
            Field::EventAttributes => match &self.item {
                Item::SpanEvent(span, index) => &span.events.get(*index)?.attributes,
                _ => return None,
            },
            Field::LogAttributes => match &self.item {
                Item::Log(log) => &log.attributes,
                _ => return None,
            },
            Field::PointAttributes => match &self.item {
                Item::DataPoint(metric, index) => match point(metric, *index)? {
                    Point::Number(p) => &p.attributes,
                    Point::Histogram(p) => &p.attributes,
                    Point::Exponential(p) => &p.attributes,
                    Point::Summary(p) => &p.attributes,
                },
                _ => return None,
            },
            _ => return None,
        })
    }

    pub(crate) fn is_attributes(&self, field: Field) -> bool {
        self.attributes(field).is_some()
    }

    pub(crate) fn attributes_mut(&mut self, field: Field) -> Option<&mut Vec<KeyValue>> {
        Some(match field {
            Field::ResourceAttributes => &mut self.resource.attributes,
            Field::ScopeAttributes => &mut self.scope.as_mut()?.attributes,
            Field::SpanAttributes => &mut self.span_mut()?.attributes,
            Field::EventAttributes => match &mut self.item {
                Item::SpanEvent(span, index) => &mut span.events.get_mut(*index)?.attributes,
                _ => return None,
            },
            Field::LogAttributes => match &mut self.item {
                Item::Log(log) => &mut log.attributes,
                _ => return None,
            },
            Field::PointAttributes => match &mut self.item {
                Item::DataPoint(metric, index) => match point_mut(metric, *index)? {
                    PointMut::Number(p) => &mut p.attributes,
                    PointMut::Histogram(p) => &mut p.attributes,
                    PointMut::Exponential(p) => &mut p.attributes,
                    PointMut::Summary(p) => &mut p.attributes,
                },
                _ => return None,
            },
            _ => return None,
        })
    }

    /// Reads a path; a missing map key or slice index reads as nil.
    pub(crate) fn get<'s>(&'s self, path: &'s Path) -> Result<Value<'s>, EvalError> {
        let base = self.get_field(path)?;
        index_value(base, &path.keys)
    }

    fn get_field<'s>(&'s self, path: &Path) -> Result<Value<'s>, EvalError> {
        let missing = || unavailable(path);
        if let Some(attributes) = self.attributes(path.field) {
            return Ok(Value::Map(Cow::Borrowed(attributes)));
        }
        let scope = || self.scope.as_deref().ok_or_else(missing);
        let span = || self.span().ok_or_else(missing);
        let log = || match &self.item {
            Item::Log(log) => Ok(&**log),
            _ => Err(missing()),
        };
        let event = || match &self.item {
            Item::SpanEvent(span, index) => span.events.get(*index).ok_or_else(missing),
            _ => Err(missing()),
        };
        let metric = || self.metric().ok_or_else(missing);
        let point = || match &self.item {
            Item::DataPoint(metric, index) => point(metric, *index).ok_or_else(missing),
            _ => Err(missing()),
        };
        Ok(match path.field {
            Field::ResourceDroppedAttributesCount => Value::Int(self.resource.dropped_attributes_count.into()),
            Field::ScopeName => Value::str(&scope()?.name),
            Field::ScopeVersion => Value::str(&scope()?.version),
            Field::ScopeDroppedAttributesCount => Value::Int(scope()?.dropped_attributes_count.into()),
            Field::SpanTraceId => Value::Bytes(Cow::Borrowed(&span()?.trace_id)),
            Field::SpanTraceIdString => owned_str(encode_hex(&span()?.trace_id)),
            Field::SpanSpanId => Value::Bytes(Cow::Borrowed(&span()?.span_id)),
            Field::SpanSpanIdString => owned_str(encode_hex(&span()?.span_id)),
            Field::SpanParentSpanId => Value::Bytes(Cow::Borrowed(&span()?.parent_span_id)),
            Field::SpanParentSpanIdString => owned_str(encode_hex(&span()?.parent_span_id)),
            Field::SpanTraceState => Value::str(&span()?.trace_state),
            Field::SpanName => Value::str(&span()?.name),
            Field::SpanKind => Value::Int(span()?.kind.into()),
            Field::SpanStartTime => nanos(span()?.start_time_unix_nano),
            Field::SpanEndTime => nanos(span()?.end_time_unix_nano),
            Field::SpanDroppedAttributesCount => Value::Int(span()?.dropped_attributes_count.into()),
            Field::SpanStatusCode => Value::Int(span()?.status.as_ref().map_or(0, |s| s.code).into()),
            Field::SpanStatusMessage => Value::str(span()?.status.as_ref().map_or("", |s| s.message.as_str())),
            Field::EventName => Value::str(&event()?.name),
            Field::EventTime => nanos(event()?.time_unix_nano),
            Field::EventDroppedAttributesCount => Value::Int(event()?.dropped_attributes_count.into()),
            Field::LogTime => nanos(log()?.time_unix_nano),
            Field::LogObservedTime => nanos(log()?.observed_time_unix_nano),
            Field::LogSeverityNumber => Value::Int(log()?.severity_number.into()),
            Field::LogSeverityText => Value::str(&log()?.severity_text),
            Field::LogBody => value_of(log()?.body.as_ref()),
            Field::LogBodyString => match log()?.body.as_ref().map(Value::from_any) {
                // An empty body reads as "", as pdata's AsString gives.
                None | Some(Value::Nil) => Value::str(""),
                Some(Value::Bytes(b)) => owned_str(base64(&b)),
                Some(other) => match other.to_string_like() {
                    Some(Cow::Owned(s)) => owned_str(s),
                    _ => other,
                },
            },
            Field::LogTraceId => Value::Bytes(Cow::Borrowed(&log()?.trace_id)),
            Field::LogTraceIdString => owned_str(encode_hex(&log()?.trace_id)),
            Field::LogSpanId => Value::Bytes(Cow::Borrowed(&log()?.span_id)),
            Field::LogSpanIdString => owned_str(encode_hex(&log()?.span_id)),
            Field::LogFlags => Value::Int(log()?.flags.into()),
            Field::LogDroppedAttributesCount => Value::Int(log()?.dropped_attributes_count.into()),
            Field::MetricName => Value::str(&metric()?.name),
            Field::MetricDescription => Value::str(&metric()?.description),
            Field::MetricUnit => Value::str(&metric()?.unit),
            Field::MetricType => Value::Int(metric_type(metric()?)),
            Field::PointStartTime => nanos(match point()? {
                Point::Number(p) => p.start_time_unix_nano,
                Point::Histogram(p) => p.start_time_unix_nano,
                Point::Exponential(p) => p.start_time_unix_nano,
                Point::Summary(p) => p.start_time_unix_nano,
            }),
            Field::PointTime => nanos(match point()? {
                Point::Number(p) => p.time_unix_nano,
                Point::Histogram(p) => p.time_unix_nano,
                Point::Exponential(p) => p.time_unix_nano,
                Point::Summary(p) => p.time_unix_nano,
            }),
            Field::PointFlags => Value::Int(
                match point()? {
                    Point::Number(p) => p.flags,
                    Point::Histogram(p) => p.flags,
                    Point::Exponential(p) => p.flags,
                    Point::Summary(p) => p.flags,
                }
                .into(),
            ),
            // pdata reads the other representation's zero value, never an error.
            Field::PointValueInt => Value::Int(match point()? {
                Point::Number(NumberDataPoint { value: Some(number_data_point::Value::AsInt(i)), .. }) => *i,
                _ => 0,
            }),
            Field::PointValueDouble => Value::Double(match point()? {
                Point::Number(NumberDataPoint { value: Some(number_data_point::Value::AsDouble(d)), .. }) => *d,
                _ => 0.0,
            }),
            Field::PointCount => match point()? {
                Point::Histogram(p) => nanos(p.count),
                Point::Exponential(p) => nanos(p.count),
                Point::Summary(p) => nanos(p.count),
                Point::Number(_) => Value::Nil,
            },
            Field::PointSum => match point()? {
                Point::Histogram(p) => p.sum.map_or(Value::Nil, Value::Double),
                Point::Exponential(p) => p.sum.map_or(Value::Nil, Value::Double),
                Point::Summary(p) => Value::Double(p.sum),
                Point::Number(_) => Value::Nil,
            },
            Field::ResourceAttributes
            | Field::ScopeAttributes
            | Field::SpanAttributes
            | Field::EventAttributes
            | Field::LogAttributes
            | Field::PointAttributes => return Err(missing()),
        })
    }

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

/// Applies `[key]` indexes to a value read from a path or returned by a converter.
pub(crate) fn index_value<'v>(mut value: Value<'v>, keys: &[Key]) -> Result<Value<'v>, EvalError> {
    for key in keys {
        value = match (value, key) {
            (Value::Map(Cow::Borrowed(map)), Key::Str(name)) => {
                value_of(map.iter().find(|kv| kv.key == *name).and_then(|kv| kv.value.as_ref()))
            }
            (Value::Map(Cow::Owned(map)), Key::Str(name)) => map
                .into_iter()
                .find(|kv| kv.key == *name)
                .and_then(|kv| kv.value)
                .and_then(|v| v.value)
                .map_or(Value::Nil, |v| Value::from_any_inner(&v).into_owned()),
            (Value::List(list), Key::Int(index)) => {
                let item = usize::try_from(*index).ok().filter(|i| *i < list.len());
                match (item, list) {
                    (None, list) => {
                        return Err(EvalError::Invalid {
                            function: "path",
                            message: format!("index {index} out of range for a slice of {}", list.len()),
                        })
                    }
                    (Some(i), Cow::Borrowed(list)) => Value::from_any(&list[i]),
                    (Some(i), Cow::Owned(list)) => Value::from_any(&list[i]).into_owned(),
                }
            }
            (Value::Nil, _) => Value::Nil,
            (other, key) => {
                return Err(EvalError::Type {
                    function: "path",
                    expected: match key {
                        Key::Str(_) => "map",
                        Key::Int(_) => "slice",
                    },
                    actual: other.type_name(),
                })
            }
        };
    }
    Ok(value)
}

pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
