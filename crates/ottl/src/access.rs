//! Reading resolved paths on a `Target`, and the item accessors that writing shares.

use std::borrow::Cow;

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, ExponentialHistogramDataPoint, HistogramDataPoint, Metric, NumberDataPoint,
    SummaryDataPoint,
};
use opentelemetry_proto::tonic::trace::v1::Span;

use crate::context::{Item, Target};
use crate::error::EvalError;
use crate::parser::Key;
use crate::paths::{Field, Path};
use crate::value::{encode_hex, value_of, Value};

enum Point<'a> {
    Number(&'a NumberDataPoint),
    Histogram(&'a HistogramDataPoint),
    Exponential(&'a ExponentialHistogramDataPoint),
    Summary(&'a SummaryDataPoint),
}

pub(crate) enum PointMut<'a> {
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

pub(crate) fn point_mut(metric: &mut Metric, index: usize) -> Option<PointMut<'_>> {
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

pub(crate) fn unavailable(path: &Path) -> EvalError {
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

    pub(crate) fn span_mut(&mut self) -> Option<&mut Span> {
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

    pub(crate) fn metric_mut(&mut self) -> Option<&mut Metric> {
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
                Some(Value::Str(s)) => Value::Str(s),
                Some(other) => owned_str(other.to_string_like().map(Cow::into_owned).unwrap_or_default()),
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
