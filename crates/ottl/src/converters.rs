//! Converters: functions that return a value (`Concat`, `IsMatch`, ...), usable as arguments and in
//! conditions.

use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

use regex::Regex;
use sha2::{Digest, Sha256};

use crate::access::index_value;
use crate::compile::{
    bind_args, compile_expr, compile_regex, invalid_argument, literal_str, CompileResult, Expr, Params,
};
use crate::context::Target;
use crate::error::{EvalError, ParseErrorKind};
use crate::parser::{CallAst, Key, ValueAst};
use crate::paths::ContextKind;
use crate::value::{encode_hex, Value};

#[derive(Debug)]
pub(crate) enum Converter {
    Concat,
    Split,
    IsMatch(Regex),
    IsString,
    IsInt,
    IsMap,
    ParseJson,
    Int,
    Double,
    String,
    ToLowerCase,
    ToUpperCase,
    Substring,
    Sha256,
    Len,
    Now,
    TraceId,
    SpanId,
}

pub(crate) struct ConverterCall {
    pub converter: Converter,
    pub name: &'static str,
    pub args: Vec<Expr>,
    pub keys: Box<[Key]>,
}

const TARGET: Params = &[("target", false)];
const VALUE: Params = &[("value", false)];

fn signature(name: &str) -> Option<(&'static str, Params)> {
    Some(match name {
        "Concat" => ("Concat", &[("vals", false), ("delimiter", false)]),
        "Split" => ("Split", &[("target", false), ("delimiter", false)]),
        "IsMatch" => ("IsMatch", &[("target", false), ("pattern", false)]),
        "IsString" => ("IsString", VALUE),
        "IsInt" => ("IsInt", VALUE),
        "IsMap" => ("IsMap", VALUE),
        "ParseJSON" => ("ParseJSON", TARGET),
        "Int" => ("Int", TARGET),
        "Double" => ("Double", TARGET),
        "String" => ("String", TARGET),
        "ToLowerCase" => ("ToLowerCase", TARGET),
        "ToUpperCase" => ("ToUpperCase", TARGET),
        "Substring" => ("Substring", &[("target", false), ("start", false), ("length", false)]),
        "SHA256" => ("SHA256", TARGET),
        "Len" => ("Len", TARGET),
        "Now" => ("Now", &[]),
        "TraceID" => ("TraceID", &[("bytes", false)]),
        "SpanID" => ("SpanID", &[("bytes", false)]),
        _ => return None,
    })
}

pub(crate) fn compile_converter(context: ContextKind, call: &CallAst) -> CompileResult<ConverterCall> {
    if !call.name.starts_with(|c: char| c.is_ascii_uppercase()) {
        return Err(invalid_argument(&call.name, "is an editor; only converters (capitalised names) return a value"));
    }
    let (name, params) = signature(&call.name).ok_or_else(|| ParseErrorKind::UnsupportedFunction(call.name.clone()))?;
    let bound = bind_args(call, params)?;
    let mut args: Vec<&ValueAst> = bound.into_iter().flatten().collect();
    let converter = match name {
        "Concat" => {
            // The Collector takes the values as a list literal only.
            let ValueAst::List(items) = args[0] else {
                return Err(invalid_argument(name, "`vals` must be a list such as `[a, b]`"));
            };
            let delimiter = args[1];
            args = items.iter().chain(std::iter::once(delimiter)).collect();
            Converter::Concat
        }
        "Split" => Converter::Split,
        "IsMatch" => {
            let regex = compile_regex(name, literal_str(name, "pattern", args[1])?)?;
            args.truncate(1);
            Converter::IsMatch(regex)
        }
        "IsString" => Converter::IsString,
        "IsInt" => Converter::IsInt,
        "IsMap" => Converter::IsMap,
        "ParseJSON" => Converter::ParseJson,
        "Int" => Converter::Int,
        "Double" => Converter::Double,
        "String" => Converter::String,
        "ToLowerCase" => Converter::ToLowerCase,
        "ToUpperCase" => Converter::ToUpperCase,
        "Substring" => Converter::Substring,
        "SHA256" => Converter::Sha256,
        "Len" => Converter::Len,
        "Now" => Converter::Now,
        "TraceID" => Converter::TraceId,
        _ => Converter::SpanId,
    };
    Ok(ConverterCall {
        converter,
        name,
        args: args.into_iter().map(|arg| compile_expr(context, arg)).collect::<Result<_, _>>()?,
        keys: call.keys.clone().into_boxed_slice(),
    })
}

impl Expr {
    pub(crate) fn eval<'s>(&'s self, target: &'s Target<'_>) -> Result<Value<'s>, EvalError> {
        match self {
            Expr::Literal(value) => Ok(value.reborrow()),
            Expr::Path(path) => target.get(path),
            Expr::Call(call) => call.eval(target),
            Expr::List(items) => {
                let values = items
                    .iter()
                    .map(|item| {
                        let value = item.eval(target)?.into_owned();
                        Ok(opentelemetry_proto::tonic::common::v1::AnyValue { value: value.into_any() })
                    })
                    .collect::<Result<Vec<_>, EvalError>>()?;
                Ok(Value::List(Cow::Owned(values)))
            }
        }
    }
}

fn type_error(function: &'static str, expected: &'static str, actual: &Value<'_>) -> EvalError {
    EvalError::Type { function, expected, actual: actual.type_name() }
}

/// The Collector's `StringGetter`: a string, nothing else (nil included).
fn expect_str<'v>(function: &'static str, value: Value<'v>) -> Result<Cow<'v, str>, EvalError> {
    match value {
        Value::Str(s) => Ok(s),
        other => Err(type_error(function, "string", &other)),
    }
}

fn expect_int(function: &'static str, value: Value<'_>) -> Result<i64, EvalError> {
    match value {
        Value::Int(i) => Ok(i),
        other => Err(type_error(function, "int", &other)),
    }
}

fn owned(s: String) -> Value<'static> {
    Value::Str(Cow::Owned(s))
}

impl ConverterCall {
    pub(crate) fn eval<'s>(&'s self, target: &'s Target<'_>) -> Result<Value<'s>, EvalError> {
        let value = self.call(target)?;
        index_value(value, &self.keys)
    }

    fn arg<'s>(&'s self, index: usize, target: &'s Target<'_>) -> Result<Value<'s>, EvalError> {
        self.args[index].eval(target)
    }

    fn call<'s>(&'s self, target: &'s Target<'_>) -> Result<Value<'s>, EvalError> {
        let name = self.name;
        Ok(match &self.converter {
            Converter::Concat => {
                let (delimiter, values) = self.args.split_last().expect("delimiter bound at parse time");
                let delimiter = expect_str(name, delimiter.eval(target)?)?;
                let mut out = String::new();
                for (i, value) in values.iter().enumerate() {
                    if i > 0 {
                        out.push_str(&delimiter);
                    }
                    match value.eval(target)?.to_string_like() {
                        Some(s) => out.push_str(&s),
                        None => out.push_str("<nil>"),
                    }
                }
                owned(out)
            }
            Converter::Split => {
                let text = expect_str(name, self.arg(0, target)?)?;
                let delimiter = expect_str(name, self.arg(1, target)?)?;
                let to_value = |part: &str| opentelemetry_proto::tonic::common::v1::AnyValue {
                    value: Some(opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(
                        part.to_string(),
                    )),
                };
                // Go's strings.Split: an empty separator splits after each UTF-8 character.
                let parts: Vec<_> = if delimiter.is_empty() {
                    text.char_indices().map(|(at, c)| to_value(&text[at..at + c.len_utf8()])).collect()
                } else {
                    text.split(delimiter.as_ref()).map(to_value).collect()
                };
                Value::List(Cow::Owned(parts))
            }
            Converter::IsMatch(regex) => match self.arg(0, target)?.to_string_like() {
                None => Value::Bool(false),
                Some(text) => Value::Bool(regex.is_match(&text)),
            },
            Converter::IsString => Value::Bool(matches!(self.arg(0, target)?, Value::Str(_))),
            Converter::IsInt => Value::Bool(matches!(self.arg(0, target)?, Value::Int(_))),
            Converter::IsMap => Value::Bool(matches!(self.arg(0, target)?, Value::Map(_))),
            Converter::ParseJson => {
                let text = expect_str(name, self.arg(0, target)?)?;
                let json: serde_json::Value = serde_json::from_str(&text)
                    .map_err(|e| EvalError::Invalid { function: name, message: format!("invalid JSON: {e}") })?;
                match json {
                    serde_json::Value::Object(_) | serde_json::Value::Array(_) => Value::from_json(json),
                    other => {
                        return Err(EvalError::Invalid {
                            function: name,
                            message: format!("`{other}` is neither a JSON object nor an array"),
                        })
                    }
                }
            }
            Converter::Int => match self.arg(0, target)? {
                Value::Nil => Value::Nil,
                Value::Int(i) => Value::Int(i),
                // Go's int64(float64): truncation toward zero.
                Value::Double(d) => Value::Int(d as i64),
                Value::Bool(b) => Value::Int(i64::from(b)),
                Value::Str(s) => s.parse::<i64>().map_or(Value::Nil, Value::Int),
                other => return Err(type_error(name, "int, double, bool or string", &other)),
            },
            Converter::Double => match self.arg(0, target)? {
                Value::Nil => Value::Nil,
                Value::Int(i) => Value::Double(i as f64),
                Value::Double(d) => Value::Double(d),
                Value::Bool(b) => Value::Double(if b { 1.0 } else { 0.0 }),
                Value::Str(s) => s.parse::<f64>().map_or(Value::Nil, Value::Double),
                other => return Err(type_error(name, "int, double, bool or string", &other)),
            },
            Converter::String => {
                let value = self.arg(0, target)?;
                match value {
                    Value::Str(s) => Value::Str(s),
                    other => other.to_string_like().map_or(Value::Nil, |s| owned(s.into_owned())),
                }
            }
            Converter::ToLowerCase => owned(expect_str(name, self.arg(0, target)?)?.to_lowercase()),
            Converter::ToUpperCase => owned(expect_str(name, self.arg(0, target)?)?.to_uppercase()),
            Converter::Substring => {
                let text = expect_str(name, self.arg(0, target)?)?;
                let start = expect_int(name, self.arg(1, target)?)?;
                let length = expect_int(name, self.arg(2, target)?)?;
                let invalid = |message: String| EvalError::Invalid { function: name, message };
                if start < 0 {
                    return Err(invalid(format!("invalid start {start}: cannot be negative")));
                }
                if length <= 0 {
                    return Err(invalid(format!("invalid length {length}: must be positive")));
                }
                let (start, end) = (start as usize, start as usize + length as usize);
                if end > text.len() {
                    return Err(invalid(format!("invalid range {start}..{end} for a string of {} bytes", text.len())));
                }
                if !text.is_char_boundary(start) || !text.is_char_boundary(end) {
                    return Err(invalid(format!("range {start}..{end} splits a UTF-8 character")));
                }
                match text {
                    Cow::Borrowed(s) => Value::Str(Cow::Borrowed(&s[start..end])),
                    Cow::Owned(s) => owned(s[start..end].to_string()),
                }
            }
            Converter::Sha256 => {
                let text = expect_str(name, self.arg(0, target)?)?;
                owned(encode_hex(&Sha256::digest(text.as_bytes())))
            }
            Converter::Len => match self.arg(0, target)? {
                Value::Str(s) => Value::Int(s.len() as i64),
                Value::Map(m) => Value::Int(m.len() as i64),
                Value::List(l) => Value::Int(l.len() as i64),
                other => return Err(type_error(name, "string, map or slice", &other)),
            },
            Converter::Now => {
                let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
                Value::Int(i64::try_from(now.as_nanos()).unwrap_or(i64::MAX))
            }
            Converter::TraceId | Converter::SpanId => {
                let expected = if matches!(self.converter, Converter::TraceId) { 16 } else { 8 };
                match self.arg(0, target)? {
                    Value::Bytes(b) if b.len() == expected => Value::Bytes(b),
                    Value::Bytes(b) => {
                        return Err(EvalError::Invalid {
                            function: name,
                            message: format!("expected {expected} bytes, got {}", b.len()),
                        })
                    }
                    other => return Err(type_error(name, "bytes", &other)),
                }
            }
        })
    }
}
