//! Helpers for turning function and extension log records into OTLP: severities, the level, request id and
//! message that the common runtimes print in text lines, and JSON values as OTLP values.

use opentelemetry_proto::tonic::{
    common::v1::{any_value::Value as Av, AnyValue, ArrayValue, KeyValue, KeyValueList},
    logs::v1::SeverityNumber,
};
use serde_json::Value;

/// The OTLP severity of a level name (case-insensitive); `None` for an unknown name.
///
/// Besides the common names, .NET's (`Information`, and `trce`, `dbug`, `fail`, `crit` in its text lines).
pub fn severity_number(level: &str) -> Option<SeverityNumber> {
    use SeverityNumber::{Debug, Error, Fatal, Info, Trace, Warn};
    const LEVELS: [(&str, SeverityNumber); 13] = [
        ("TRACE", Trace),
        ("DEBUG", Debug),
        ("INFO", Info),
        ("WARN", Warn),
        ("WARNING", Warn),
        ("ERROR", Error),
        ("FATAL", Fatal),
        ("CRITICAL", Fatal),
        ("INFORMATION", Info),
        ("TRCE", Trace),
        ("DBUG", Debug),
        ("FAIL", Error),
        ("CRIT", Fatal),
    ];
    LEVELS.iter().find(|(name, _)| name.eq_ignore_ascii_case(level)).map(|(_, n)| *n)
}

/// What a text line says about itself.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TextLine<'a> {
    /// The level name as printed (`ERROR`), with its severity.
    pub level: Option<(&'a str, SeverityNumber)>,
    /// The request id printed in the line.
    pub request_id: Option<&'a str>,
    /// The text after the runtime's whole prefix (time, request id, level), when the line has one: the
    /// prefix's values live in the record's own fields, so the body need not repeat them.
    pub message: Option<&'a str>,
}

/// Recognizes the line formats of the managed runtimes:
/// - Python: `[ERROR]\t2024-05-01T12:00:00.123Z\t<request id>\tmessage` (and `[ERROR] Runtime.Error: ...`),
/// - Node.js (and .NET, and Managed Instances' runtimes): `2024-05-01T12:00:00.123Z\t<request id>\tERROR\tmessage`,
/// - Java (log4j2 layout of the Lambda docs): `2024-05-01 12:00:00 <request id> ERROR Handler - message`.
///
/// The message is given only when the whole prefix was recognized: a known level, a timestamp, and in the
/// request id's place an id, nothing, or Node.js's `undefined` (outside an invocation). Anything else gives
/// an empty [`TextLine`].
pub fn parse_text_line(line: &str) -> TextLine<'_> {
    if let Some(rest) = line.strip_prefix('[') {
        let Some((level, rest)) = rest.split_once(']') else { return TextLine::default() };
        let Some(sev) = severity_number(level) else { return TextLine::default() };
        let mut parsed = TextLine { level: Some((level, sev)), ..TextLine::default() };
        if let Some(rest) = rest.strip_prefix('\t') {
            let mut fields = rest.splitn(3, '\t');
            let (timestamp, id, message) = (fields.next(), fields.next(), fields.next());
            parsed.request_id = id.filter(|id| is_request_id(id));
            if timestamp.is_some_and(starts_with_date) && id.is_some_and(id_or_placeholder) {
                parsed.message = message;
            }
        }
        return parsed;
    }
    if !starts_with_date(line) || line.len() < 20 {
        return TextLine::default();
    }
    match line.as_bytes()[10] {
        // Node.js: timestamp, request id, level, message, separated by tabs.
        b'T' => {
            let mut fields = line.splitn(4, '\t');
            let (_, id, level, message) = (fields.next(), fields.next(), fields.next(), fields.next());
            let level = level.and_then(|l| Some((l, severity_number(l)?)));
            let whole_prefix = level.is_some() && id.is_some_and(id_or_placeholder);
            TextLine { level, request_id: id.filter(|id| is_request_id(id)), message: message.filter(|_| whole_prefix) }
        }
        // Java: date, time, request id, level, then the logger and message, separated by spaces.
        b' ' => {
            let mut fields = line.splitn(5, ' ');
            let (_, _, id, level, rest) = (fields.next(), fields.next(), fields.next(), fields.next(), fields.next());
            let Some(id) = id.filter(|id| is_request_id(id)) else { return TextLine::default() };
            let level = level.and_then(|l| Some((l, severity_number(l)?)));
            // The layout pads the level (`%-5p`): `INFO  Handler - ...`.
            let message = rest.filter(|_| level.is_some()).map(str::trim_start);
            TextLine { level, request_id: Some(id), message }
        }
        _ => TextLine::default(),
    }
}

/// `2024-05-01` at the start of `text`.
fn starts_with_date(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() >= 10 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-'
}

/// What a runtime prints where the request id goes: the id, or nothing / `undefined` outside an invocation.
fn id_or_placeholder(field: &str) -> bool {
    field.is_empty() || field == "undefined" || is_request_id(field)
}

/// Lambda request ids are UUIDs: 8-4-4-4-12 hex digits.
pub fn is_request_id(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Converts a JSON value to an OTLP value: integers that fit `i64` stay integers, `null` is an empty value.
pub fn json_to_any(value: Value) -> AnyValue {
    let value = match value {
        Value::Null => None,
        Value::Bool(b) => Some(Av::BoolValue(b)),
        Value::Number(n) => Some(match n.as_i64() {
            Some(i) => Av::IntValue(i),
            None => Av::DoubleValue(n.as_f64().unwrap_or(f64::NAN)),
        }),
        Value::String(s) => Some(Av::StringValue(s)),
        Value::Array(items) => {
            Some(Av::ArrayValue(ArrayValue { values: items.into_iter().map(json_to_any).collect() }))
        }
        Value::Object(map) => Some(Av::KvlistValue(KeyValueList {
            values: map
                .into_iter()
                .map(|(key, value)| KeyValue { key, value: Some(json_to_any(value)), ..Default::default() })
                .collect(),
        })),
    };
    AnyValue { value }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ID: &str = "6d68ca91-49c9-448d-89b8-7ca3e6dc66aa";

    #[test]
    fn severities() {
        use SeverityNumber::{Debug, Error, Fatal, Info, Trace, Warn};
        let names = ["TRACE", "debug", "Info", "WARN", "WARNING", "ERROR", "FATAL", "CRITICAL", "Information"];
        let got: Vec<_> = names.iter().map(|n| severity_number(n)).collect();
        let expected = [Trace, Debug, Info, Warn, Warn, Error, Fatal, Fatal, Info].map(Some);
        assert_eq!(got, expected);
        let dotnet: Vec<_> = ["trce", "dbug", "fail", "crit"].iter().map(|n| severity_number(n)).collect();
        assert_eq!(dotnet, [Trace, Debug, Error, Fatal].map(Some));
        assert_eq!(severity_number("NOTICE"), None);
        assert_eq!(severity_number(""), None);
        assert_eq!(severity_number("ERROR").map(|s| s as i32), Some(17));
    }

    fn line<'a>(
        level: Option<(&'a str, SeverityNumber)>,
        request_id: Option<&'a str>,
        message: Option<&'a str>,
    ) -> TextLine<'a> {
        TextLine { level, request_id, message }
    }

    const ERROR: SeverityNumber = SeverityNumber::Error;

    #[test]
    fn python_lines() {
        let text = format!("[ERROR]\t2024-05-01T12:00:00.123Z\t{ID}\tboom\n");
        assert_eq!(parse_text_line(&text), line(Some(("ERROR", ERROR)), Some(ID), Some("boom\n")));
        // Outside an invocation (init) Python prints no request id: still the runtime's prefix.
        let text = "[INFO]\t2024-05-01T12:00:00.123Z\t\tloading tables";
        assert_eq!(parse_text_line(text), line(Some(("INFO", SeverityNumber::Info)), None, Some("loading tables")));
        // Something else where the id goes: the line is kept whole.
        let text = "[WARNING]\t2024-05-01T12:00:00.123Z\tnot-a-request-id\tmsg";
        assert_eq!(parse_text_line(text), line(Some(("WARNING", SeverityNumber::Warn)), None, None));
        let text = "[ERROR] Runtime.ImportModuleError: Unable to import module 'app'";
        assert_eq!(parse_text_line(text), line(Some(("ERROR", ERROR)), None, None));
        let text = format!("[ERROR]\tnot a time\t{ID}\tboom");
        assert_eq!(parse_text_line(&text), line(Some(("ERROR", ERROR)), Some(ID), None));
        assert_eq!(parse_text_line("[not a level] x"), TextLine::default());
        assert_eq!(parse_text_line("[ERROR"), TextLine::default());
    }

    #[test]
    fn node_lines() {
        let text = format!("2024-05-01T12:00:00.123Z\t{ID}\tINFO\thello\tworld\n");
        assert_eq!(
            parse_text_line(&text),
            line(Some(("INFO", SeverityNumber::Info)), Some(ID), Some("hello\tworld\n"))
        );
        let text = "2024-05-01T12:00:00.123Z\tundefined\tERROR\tUncaught Exception";
        assert_eq!(parse_text_line(text), line(Some(("ERROR", ERROR)), None, Some("Uncaught Exception")));
        // .NET writes the same layout with its own level names.
        let text = format!("2024-05-01T12:00:00.123Z\t{ID}\tfail\tunhandled");
        assert_eq!(parse_text_line(&text), line(Some(("fail", ERROR)), Some(ID), Some("unhandled")));
        // Without a known level the prefix is not the runtime's: nothing is cut.
        let text = format!("2024-05-01T12:00:00.123Z\t{ID}\tNOTICE\tx");
        assert_eq!(parse_text_line(&text), line(None, Some(ID), None));
        let text = format!("2024-05-01T12:00:00.123Z\t{ID}");
        assert_eq!(parse_text_line(&text), line(None, Some(ID), None));
        let text = format!("2024-05-01T12:00:00.123Z\t{ID}\tINFO");
        assert_eq!(parse_text_line(&text), line(Some(("INFO", SeverityNumber::Info)), Some(ID), None));
        let text = "2024-05-01T12:00:00.123Z\tsomeone\tINFO\tx";
        assert_eq!(parse_text_line(text), line(Some(("INFO", SeverityNumber::Info)), None, None));
    }

    #[test]
    fn java_lines() {
        let text = format!("2024-05-01 12:00:00 {ID} WARN Handler - slow");
        assert_eq!(
            parse_text_line(&text),
            line(Some(("WARN", SeverityNumber::Warn)), Some(ID), Some("Handler - slow"))
        );
        let text = format!("2024-05-01 12:00:00 {ID} INFO  Handler - padded");
        assert_eq!(
            parse_text_line(&text),
            line(Some(("INFO", SeverityNumber::Info)), Some(ID), Some("Handler - padded"))
        );
        let text = format!("2024-05-01 12:00:00 {ID} TALK Handler - x");
        assert_eq!(parse_text_line(&text), line(None, Some(ID), None));
        assert_eq!(parse_text_line("2024-05-01 12:00:00 something else"), TextLine::default());
    }

    #[test]
    fn plain_lines() {
        for text in ["", "hello", "ERROR something", "2024", "2024-05-01X12:00:00.123Z\tx\tERROR", "é[ERROR]"] {
            assert_eq!(parse_text_line(text), TextLine::default(), "{text:?}");
        }
    }

    #[test]
    fn request_ids() {
        assert!(is_request_id(ID));
        assert!(!is_request_id("6d68ca91-49c9-448d-89b8-7ca3e6dc66a"));
        assert!(!is_request_id("6d68ca91x49c9-448d-89b8-7ca3e6dc66aa"));
        assert!(!is_request_id("6d68ca91-49c9-448d-89b8-7ca3e6dc66ag"));
    }

    #[test]
    fn json_values() {
        let v = json_to_any(json!({"a": [1, -2, 1.5, u64::MAX], "b": null, "c": true, "d": "s"}));
        let expected = AnyValue {
            value: Some(Av::KvlistValue(KeyValueList {
                values: vec![
                    KeyValue {
                        key: "a".into(),
                        value: Some(AnyValue {
                            value: Some(Av::ArrayValue(ArrayValue {
                                values: vec![
                                    AnyValue { value: Some(Av::IntValue(1)) },
                                    AnyValue { value: Some(Av::IntValue(-2)) },
                                    AnyValue { value: Some(Av::DoubleValue(1.5)) },
                                    AnyValue { value: Some(Av::DoubleValue(u64::MAX as f64)) },
                                ],
                            })),
                        }),
                        ..Default::default()
                    },
                    KeyValue { key: "b".into(), value: Some(AnyValue { value: None }), ..Default::default() },
                    KeyValue {
                        key: "c".into(),
                        value: Some(AnyValue { value: Some(Av::BoolValue(true)) }),
                        ..Default::default()
                    },
                    KeyValue {
                        key: "d".into(),
                        value: Some(AnyValue { value: Some(Av::StringValue("s".into())) }),
                        ..Default::default()
                    },
                ],
            })),
        };
        assert_eq!(v, expected);
    }
}
