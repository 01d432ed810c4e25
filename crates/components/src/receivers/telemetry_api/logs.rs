//! Helpers for turning function and extension log records into OTLP: severities, the level and request id
//! that the common runtimes print in text lines, and JSON values as OTLP values.

use opentelemetry_proto::tonic::common::v1::{any_value::Value as Av, AnyValue, ArrayValue, KeyValue, KeyValueList};
use serde_json::Value;

/// The OTLP severity number of a level name (case-insensitive); `None` for an unknown name.
///
/// Besides the common names, .NET's (`Information`, and `trce`, `dbug`, `fail`, `crit` in its text lines).
pub fn severity_number(level: &str) -> Option<i32> {
    const LEVELS: [(&str, i32); 13] = [
        ("TRACE", 1),
        ("DEBUG", 5),
        ("INFO", 9),
        ("WARN", 13),
        ("WARNING", 13),
        ("ERROR", 17),
        ("FATAL", 21),
        ("CRITICAL", 21),
        ("INFORMATION", 9),
        ("TRCE", 1),
        ("DBUG", 5),
        ("FAIL", 17),
        ("CRIT", 21),
    ];
    LEVELS.iter().find(|(name, _)| name.eq_ignore_ascii_case(level)).map(|(_, n)| *n)
}

/// What a text line says about itself.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TextLine<'a> {
    /// The level name as printed (`ERROR`), with its severity number.
    pub level: Option<(&'a str, i32)>,
    /// The request id printed in the line.
    pub request_id: Option<&'a str>,
}

/// Recognizes the line formats of the managed runtimes:
/// - Python: `[ERROR]\t2024-05-01T12:00:00.123Z\t<request id>\tmessage` (and `[ERROR] Runtime.Error: ...`),
/// - Node.js: `2024-05-01T12:00:00.123Z\t<request id>\tERROR\tmessage`,
/// - Java (log4j2 layout of the Lambda docs): `2024-05-01 12:00:00 <request id> ERROR Handler - message`.
///
/// Anything else gives an empty [`TextLine`].
pub fn parse_text_line(line: &str) -> TextLine<'_> {
    if let Some(rest) = line.strip_prefix('[') {
        let Some((level, rest)) = rest.split_once(']') else { return TextLine::default() };
        let Some(sev) = severity_number(level) else { return TextLine::default() };
        let request_id = rest.strip_prefix('\t').and_then(|rest| {
            let mut fields = rest.splitn(3, '\t');
            let _timestamp = fields.next()?;
            fields.next().filter(|id| is_request_id(id))
        });
        return TextLine { level: Some((level, sev)), request_id };
    }
    let b = line.as_bytes();
    if b.len() < 20 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return TextLine::default();
    }
    if b[10] == b'T' {
        // Node.js: timestamp, request id, level, message, separated by tabs.
        let mut fields = line.splitn(4, '\t');
        let (_, id, level) = (fields.next(), fields.next(), fields.next());
        let request_id = id.filter(|id| is_request_id(id));
        let level = level.and_then(|l| Some((l, severity_number(l)?)));
        return TextLine { level, request_id };
    }
    if b[10] == b' ' {
        // Java: date, time, request id, level, separated by spaces.
        let mut fields = line.splitn(5, ' ');
        let (_, _, id, level) = (fields.next(), fields.next(), fields.next(), fields.next());
        if let Some(id) = id.filter(|id| is_request_id(id)) {
            let level = level.and_then(|l| Some((l, severity_number(l)?)));
            return TextLine { level, request_id: Some(id) };
        }
    }
    TextLine::default()
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
        assert_eq!(severity_number("TRACE"), Some(1));
        assert_eq!(severity_number("debug"), Some(5));
        assert_eq!(severity_number("Info"), Some(9));
        assert_eq!(severity_number("WARN"), Some(13));
        assert_eq!(severity_number("WARNING"), Some(13));
        assert_eq!(severity_number("ERROR"), Some(17));
        assert_eq!(severity_number("FATAL"), Some(21));
        assert_eq!(severity_number("CRITICAL"), Some(21));
        assert_eq!(severity_number("Information"), Some(9));
        assert_eq!(severity_number("trce"), Some(1));
        assert_eq!(severity_number("dbug"), Some(5));
        assert_eq!(severity_number("fail"), Some(17));
        assert_eq!(severity_number("crit"), Some(21));
        assert_eq!(severity_number("NOTICE"), None);
        assert_eq!(severity_number(""), None);
    }

    #[test]
    fn python_lines() {
        let line = format!("[ERROR]\t2024-05-01T12:00:00.123Z\t{ID}\tboom\n");
        assert_eq!(parse_text_line(&line), TextLine { level: Some(("ERROR", 17)), request_id: Some(ID) });
        let line = "[WARNING]\t2024-05-01T12:00:00.123Z\tnot-a-request-id\tmsg";
        assert_eq!(parse_text_line(line), TextLine { level: Some(("WARNING", 13)), request_id: None });
        let line = "[ERROR] Runtime.ImportModuleError: Unable to import module 'app'";
        assert_eq!(parse_text_line(line), TextLine { level: Some(("ERROR", 17)), request_id: None });
        assert_eq!(parse_text_line("[not a level] x"), TextLine::default());
        assert_eq!(parse_text_line("[ERROR"), TextLine::default());
    }

    #[test]
    fn node_lines() {
        let line = format!("2024-05-01T12:00:00.123Z\t{ID}\tINFO\thello\tworld\n");
        assert_eq!(parse_text_line(&line), TextLine { level: Some(("INFO", 9)), request_id: Some(ID) });
        let line = "2024-05-01T12:00:00.123Z\tundefined\tERROR\tUncaught Exception";
        assert_eq!(parse_text_line(line), TextLine { level: Some(("ERROR", 17)), request_id: None });
        // .NET writes the same layout with its own level names.
        let line = format!("2024-05-01T12:00:00.123Z\t{ID}\tfail\tunhandled");
        assert_eq!(parse_text_line(&line), TextLine { level: Some(("fail", 17)), request_id: Some(ID) });
        let line = format!("2024-05-01T12:00:00.123Z\t{ID}");
        assert_eq!(parse_text_line(&line), TextLine { level: None, request_id: Some(ID) });
    }

    #[test]
    fn java_lines() {
        let line = format!("2024-05-01 12:00:00 {ID} WARN Handler - slow");
        assert_eq!(parse_text_line(&line), TextLine { level: Some(("WARN", 13)), request_id: Some(ID) });
        assert_eq!(parse_text_line("2024-05-01 12:00:00 something else"), TextLine::default());
    }

    #[test]
    fn plain_lines() {
        for line in ["", "hello", "ERROR something", "2024", "2024-05-01X12:00:00.123Z\tx\tERROR", "é[ERROR]"] {
            assert_eq!(parse_text_line(line), TextLine::default(), "{line:?}");
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
