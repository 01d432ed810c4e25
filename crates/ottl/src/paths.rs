//! Contexts and the paths each one can read and write, resolved to enums at parse time.

use crate::parser::Key;

/// Where a statement runs: once per resource, scope, span, span event, log record, metric or data point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContextKind {
    Resource,
    Scope,
    Span,
    SpanEvent,
    Log,
    Metric,
    DataPoint,
}

impl ContextKind {
    /// Parses a context name as written in `context:` blocks and path prefixes.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "resource" => ContextKind::Resource,
            "scope" | "instrumentation_scope" => ContextKind::Scope,
            "span" => ContextKind::Span,
            "spanevent" => ContextKind::SpanEvent,
            "log" => ContextKind::Log,
            "metric" => ContextKind::Metric,
            "datapoint" => ContextKind::DataPoint,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            ContextKind::Resource => "resource",
            ContextKind::Scope => "scope",
            ContextKind::Span => "span",
            ContextKind::SpanEvent => "spanevent",
            ContextKind::Log => "log",
            ContextKind::Metric => "metric",
            ContextKind::DataPoint => "datapoint",
        }
    }

    /// The context one level up; a context can read and write its own fields and its ancestors'.
    pub fn parent(self) -> Option<ContextKind> {
        match self {
            ContextKind::Resource => None,
            ContextKind::Scope => Some(ContextKind::Resource),
            ContextKind::Span | ContextKind::Log | ContextKind::Metric => Some(ContextKind::Scope),
            ContextKind::SpanEvent => Some(ContextKind::Span),
            ContextKind::DataPoint => Some(ContextKind::Metric),
        }
    }

    pub fn can_access(self, owner: ContextKind) -> bool {
        let mut current = Some(self);
        while let Some(kind) = current {
            if kind == owner {
                return true;
            }
            current = kind.parent();
        }
        false
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    ResourceAttributes,
    ResourceDroppedAttributesCount,
    ScopeName,
    ScopeVersion,
    ScopeAttributes,
    ScopeDroppedAttributesCount,
    SpanTraceId,
    SpanTraceIdString,
    SpanSpanId,
    SpanSpanIdString,
    SpanParentSpanId,
    SpanParentSpanIdString,
    SpanTraceState,
    SpanName,
    SpanKind,
    SpanStartTime,
    SpanEndTime,
    SpanAttributes,
    SpanDroppedAttributesCount,
    SpanStatusCode,
    SpanStatusMessage,
    EventName,
    EventTime,
    EventAttributes,
    EventDroppedAttributesCount,
    LogTime,
    LogObservedTime,
    LogSeverityNumber,
    LogSeverityText,
    LogBody,
    LogBodyString,
    LogAttributes,
    LogTraceId,
    LogTraceIdString,
    LogSpanId,
    LogSpanIdString,
    LogFlags,
    LogDroppedAttributesCount,
    MetricName,
    MetricDescription,
    MetricUnit,
    MetricType,
    PointAttributes,
    PointStartTime,
    PointTime,
    PointValueInt,
    PointValueDouble,
    PointCount,
    PointSum,
    PointFlags,
}

impl Field {
    fn lookup(owner: ContextKind, name: &[&str]) -> Option<Field> {
        use ContextKind as C;
        use Field as F;
        Some(match (owner, name) {
            (C::Resource, ["attributes"]) => F::ResourceAttributes,
            (C::Resource, ["dropped_attributes_count"]) => F::ResourceDroppedAttributesCount,
            (C::Scope, ["name"]) => F::ScopeName,
            (C::Scope, ["version"]) => F::ScopeVersion,
            (C::Scope, ["attributes"]) => F::ScopeAttributes,
            (C::Scope, ["dropped_attributes_count"]) => F::ScopeDroppedAttributesCount,
            (C::Span, ["trace_id"]) => F::SpanTraceId,
            (C::Span, ["trace_id", "string"]) => F::SpanTraceIdString,
            (C::Span, ["span_id"]) => F::SpanSpanId,
            (C::Span, ["span_id", "string"]) => F::SpanSpanIdString,
            (C::Span, ["parent_span_id"]) => F::SpanParentSpanId,
            (C::Span, ["parent_span_id", "string"]) => F::SpanParentSpanIdString,
            (C::Span, ["trace_state"]) => F::SpanTraceState,
            (C::Span, ["name"]) => F::SpanName,
            (C::Span, ["kind"]) => F::SpanKind,
            (C::Span, ["start_time_unix_nano"]) => F::SpanStartTime,
            (C::Span, ["end_time_unix_nano"]) => F::SpanEndTime,
            (C::Span, ["attributes"]) => F::SpanAttributes,
            (C::Span, ["dropped_attributes_count"]) => F::SpanDroppedAttributesCount,
            (C::Span, ["status", "code"]) => F::SpanStatusCode,
            (C::Span, ["status", "message"]) => F::SpanStatusMessage,
            (C::SpanEvent, ["name"]) => F::EventName,
            (C::SpanEvent, ["time_unix_nano"]) => F::EventTime,
            (C::SpanEvent, ["attributes"]) => F::EventAttributes,
            (C::SpanEvent, ["dropped_attributes_count"]) => F::EventDroppedAttributesCount,
            (C::Log, ["time_unix_nano"]) => F::LogTime,
            (C::Log, ["observed_time_unix_nano"]) => F::LogObservedTime,
            (C::Log, ["severity_number"]) => F::LogSeverityNumber,
            (C::Log, ["severity_text"]) => F::LogSeverityText,
            (C::Log, ["body"]) => F::LogBody,
            (C::Log, ["body", "string"]) => F::LogBodyString,
            (C::Log, ["attributes"]) => F::LogAttributes,
            (C::Log, ["trace_id"]) => F::LogTraceId,
            (C::Log, ["trace_id", "string"]) => F::LogTraceIdString,
            (C::Log, ["span_id"]) => F::LogSpanId,
            (C::Log, ["span_id", "string"]) => F::LogSpanIdString,
            (C::Log, ["flags"]) => F::LogFlags,
            (C::Log, ["dropped_attributes_count"]) => F::LogDroppedAttributesCount,
            (C::Metric, ["name"]) => F::MetricName,
            (C::Metric, ["description"]) => F::MetricDescription,
            (C::Metric, ["unit"]) => F::MetricUnit,
            (C::Metric, ["type"]) => F::MetricType,
            (C::DataPoint, ["attributes"]) => F::PointAttributes,
            (C::DataPoint, ["start_time_unix_nano"]) => F::PointStartTime,
            (C::DataPoint, ["time_unix_nano"]) => F::PointTime,
            (C::DataPoint, ["value_int"]) => F::PointValueInt,
            (C::DataPoint, ["value_double"]) => F::PointValueDouble,
            (C::DataPoint, ["count"]) => F::PointCount,
            (C::DataPoint, ["sum"]) => F::PointSum,
            (C::DataPoint, ["flags"]) => F::PointFlags,
            _ => return None,
        })
    }

    /// Whether `[key]` indexes may follow: only on values that can hold maps or slices.
    fn indexable(self) -> bool {
        matches!(
            self,
            Field::ResourceAttributes
                | Field::ScopeAttributes
                | Field::SpanAttributes
                | Field::EventAttributes
                | Field::LogAttributes
                | Field::LogBody
                | Field::PointAttributes
        )
    }

    pub(crate) fn read_only(self) -> bool {
        matches!(self, Field::MetricType)
    }
}

/// A resolved path: a field and the `[key]` indexes into its value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Path {
    pub field: Field,
    pub keys: Box<[Key]>,
    /// As written, for error messages.
    pub text: String,
}

/// The context named by a path's first segment, if it is a context prefix.
pub(crate) fn prefix_context(segments: &[String]) -> Option<ContextKind> {
    let first = segments.first()?;
    // `log.body` is prefixed, but a lone `body` in a log context is not.
    if segments.len() < 2 {
        return None;
    }
    ContextKind::from_name(first)
}

pub(crate) fn path_text(segments: &[String], keys: &[Key]) -> String {
    let mut text = segments.join(".");
    for key in keys {
        match key {
            Key::Str(s) => text.push_str(&format!("[{s:?}]")),
            Key::Int(i) => text.push_str(&format!("[{i}]")),
        }
    }
    text
}

/// Resolves a path for `context`. A leading context name (`resource.`, `span.`, ...) selects that
/// context's fields, which must be `context` itself or an ancestor; otherwise the path names a field of
/// `context`.
pub(crate) fn resolve(context: ContextKind, segments: &[String], keys: &[Key]) -> Option<Path> {
    let names: Vec<&str> = segments.iter().map(String::as_str).collect();
    let (owner, rest) = match prefix_context(segments) {
        Some(owner) => (owner, &names[1..]),
        None => (context, &names[..]),
    };
    if !context.can_access(owner) {
        return None;
    }
    let field = Field::lookup(owner, rest)?;
    if !keys.is_empty() && !field.indexable() {
        return None;
    }
    Some(Path { field, keys: keys.to_vec().into_boxed_slice(), text: path_text(segments, keys) })
}

/// The enum names valid in a context, with their values.
pub(crate) fn enum_value(context: ContextKind, name: &str) -> Option<i64> {
    const SPAN_KINDS: [&str; 6] = ["UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"];
    const STATUS_CODES: [&str; 3] = ["UNSET", "OK", "ERROR"];
    const METRIC_TYPES: [&str; 6] = ["NONE", "GAUGE", "SUM", "HISTOGRAM", "EXPONENTIAL_HISTOGRAM", "SUMMARY"];
    let position = |prefix: &str, names: &[&str]| {
        let suffix = name.strip_prefix(prefix)?;
        names.iter().position(|n| *n == suffix).map(|i| i as i64)
    };
    if context.can_access(ContextKind::Span) {
        if let Some(v) = position("SPAN_KIND_", &SPAN_KINDS).or_else(|| position("STATUS_CODE_", &STATUS_CODES)) {
            return Some(v);
        }
    }
    if context == ContextKind::Log {
        return severity_number(name);
    }
    if context.can_access(ContextKind::Metric) {
        return position("METRIC_DATA_TYPE_", &METRIC_TYPES);
    }
    None
}

fn severity_number(name: &str) -> Option<i64> {
    const LEVELS: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
    let suffix = name.strip_prefix("SEVERITY_NUMBER_")?;
    if suffix == "UNSPECIFIED" {
        return Some(0);
    }
    let (level, step) = match suffix.char_indices().find(|(_, c)| c.is_ascii_digit()) {
        Some((at, _)) => (&suffix[..at], suffix[at..].parse::<i64>().ok().filter(|n| (2..=4).contains(n))?),
        None => (suffix, 1),
    };
    let base = LEVELS.iter().position(|l| *l == level)? as i64;
    Some(base * 4 + step)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_per_context() {
        use ContextKind as C;
        for (context, name, expected) in [
            (C::Span, "SPAN_KIND_SERVER", Some(2)),
            (C::SpanEvent, "STATUS_CODE_ERROR", Some(2)),
            (C::Log, "SPAN_KIND_SERVER", None),
            (C::Log, "SEVERITY_NUMBER_UNSPECIFIED", Some(0)),
            (C::Log, "SEVERITY_NUMBER_TRACE", Some(1)),
            (C::Log, "SEVERITY_NUMBER_DEBUG4", Some(8)),
            (C::Log, "SEVERITY_NUMBER_WARN", Some(13)),
            (C::Log, "SEVERITY_NUMBER_ERROR", Some(17)),
            (C::Log, "SEVERITY_NUMBER_FATAL4", Some(24)),
            (C::Log, "SEVERITY_NUMBER_FATAL5", None),
            (C::Metric, "METRIC_DATA_TYPE_SUM", Some(2)),
            (C::DataPoint, "METRIC_DATA_TYPE_SUMMARY", Some(5)),
            (C::Resource, "METRIC_DATA_TYPE_SUM", None),
        ] {
            assert_eq!(enum_value(context, name), expected, "{name} in {context:?}");
        }
    }
}
