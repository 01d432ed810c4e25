//! The attribute action engine shared by the `attributes` processor (span, log record and data point
//! attributes) and the `resource` processor (resource attributes): the Collector's `insert`, `update`,
//! `upsert`, `delete`, `hash`, `extract` and `convert`, compiled once from the config.

use lambdatel_config::{ComponentConfig, ConfigError};
use lambdatel_pipeline::common::{any_value::Value, AnyValue, KeyValue};
use lambdatel_pipeline::otlp::{set_attribute as set, string_value};
use regex::Regex;
use serde::Deserialize;

use sha2::{Digest, Sha256};

use super::matching::{any_value_text, compile_regex, json_to_any_value};

/// What an action does to its attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    /// Adds the attribute when it is absent.
    Insert,
    /// Changes the attribute when it is present.
    Update,
    /// Adds or changes the attribute.
    Upsert,
    /// Removes the attribute (`key`) or every attribute whose key matches `pattern`.
    Delete,
    /// Replaces the value by its SHA-256 hex digest (`key`, or every key matching `pattern`).
    Hash,
    /// Applies `pattern` to the string value of `key` and upserts one attribute per named group.
    Extract,
    /// Changes the value's type to `converted_type`; values that do not convert are left as they are.
    Convert,
}

/// The target type of a `convert` action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConvertedType {
    /// A 64-bit integer (strings are parsed, doubles truncated, booleans become 1 or 0).
    Int,
    /// A 64-bit float (strings are parsed, integers widened, booleans become 1 or 0).
    Double,
    /// A string (numbers in their shortest form, booleans as `true`/`false`).
    String,
}

/// One entry of `actions` (or of the `resource` processor's `attributes`), with the Collector's keys.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ActionConfig {
    /// The attribute acted on.
    pub key: String,
    /// What to do; required.
    pub action: Option<ActionKind>,
    /// The value for `insert`, `update` and `upsert` (string, number, boolean, list or map).
    pub value: Option<serde_json::Value>,
    /// For `insert`, `update` and `upsert`: copy the value of this attribute instead of `value`.
    pub from_attribute: Option<String>,
    /// For `extract`: the regex with named groups; for `delete` and `hash`: a regex over attribute keys,
    /// used instead of or as well as `key`.
    pub pattern: Option<String>,
    /// For `convert`: `int`, `double` or `string`.
    pub converted_type: Option<ConvertedType>,
}

#[derive(Debug, Clone)]
enum Source {
    Value(AnyValue),
    Attribute(String),
}

#[derive(Debug, Clone)]
enum Op {
    Insert(Source),
    Update(Source),
    Upsert(Source),
    Delete,
    Hash,
    Extract(Regex),
    Convert(ConvertedType),
}

#[derive(Debug, Clone)]
struct Action {
    /// Empty when only `key_pattern` selects keys.
    key: String,
    key_pattern: Option<Regex>,
    op: Op,
}

/// A compiled list of actions, applied in order to an attribute list.
#[derive(Debug, Clone, Default)]
pub struct Actions(Vec<Action>);

impl Actions {
    /// Compiles the actions written at `path` (e.g. `actions`), reporting the first problem there.
    pub fn compile(config: &ComponentConfig, path: &str, entries: &[ActionConfig]) -> Result<Actions, ConfigError> {
        let mut actions = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            let at = format!("{path}[{i}]");
            let err = |sub: &str, message: String| config.error_at(&format!("{at}{sub}"), message);
            let Some(kind) = entry.action else {
                return Err(err(
                    "",
                    "action is missing; use insert, update, upsert, delete, hash, extract or convert".into(),
                ));
            };
            let name = format!("{kind:?}").to_ascii_lowercase();
            let source = || -> Result<Source, ConfigError> {
                if entry.key.is_empty() {
                    return Err(err(".key", format!("{name} needs a key")));
                }
                match (&entry.value, &entry.from_attribute) {
                    (Some(_), Some(_)) => {
                        Err(err("", format!("{name} takes either value or from_attribute, not both")))
                    }
                    (Some(value), None) => json_to_any_value(value)
                        .map(Source::Value)
                        .ok_or_else(|| err(".value", format!("{name} needs a non-null value"))),
                    (None, Some(from)) if !from.is_empty() => Ok(Source::Attribute(from.clone())),
                    _ => Err(err("", format!("{name} needs a value or from_attribute"))),
                }
            };
            // Settings the action would silently ignore are mistakes, as in the Collector.
            let unused: &[(&str, bool)] = match kind {
                ActionKind::Insert | ActionKind::Update | ActionKind::Upsert => {
                    &[("pattern", entry.pattern.is_some()), ("converted_type", entry.converted_type.is_some())]
                }
                ActionKind::Delete | ActionKind::Hash | ActionKind::Extract => &[
                    ("value", entry.value.is_some()),
                    ("from_attribute", entry.from_attribute.is_some()),
                    ("converted_type", entry.converted_type.is_some()),
                ],
                ActionKind::Convert => &[
                    ("value", entry.value.is_some()),
                    ("from_attribute", entry.from_attribute.is_some()),
                    ("pattern", entry.pattern.is_some()),
                ],
            };
            if let Some((field, _)) = unused.iter().find(|(_, written)| *written) {
                return Err(err(&format!(".{field}"), format!("{name} does not use {field}")));
            }
            let mut key_pattern = None;
            let op = match kind {
                ActionKind::Insert => Op::Insert(source()?),
                ActionKind::Update => Op::Update(source()?),
                ActionKind::Upsert => Op::Upsert(source()?),
                ActionKind::Delete | ActionKind::Hash => {
                    match &entry.pattern {
                        Some(p) => key_pattern = Some(compile_regex(config, &format!("{at}.pattern"), p)?),
                        None if entry.key.is_empty() => {
                            return Err(err(".key", format!("{name} needs a key or a pattern")))
                        }
                        None => {}
                    }
                    if kind == ActionKind::Delete {
                        Op::Delete
                    } else {
                        Op::Hash
                    }
                }
                ActionKind::Extract => {
                    if entry.key.is_empty() {
                        return Err(err(".key", "extract needs a key".into()));
                    }
                    let Some(pattern) = &entry.pattern else {
                        return Err(err(".pattern", "extract needs a pattern with named groups".into()));
                    };
                    let regex = compile_regex(config, &format!("{at}.pattern"), pattern)?;
                    if regex.capture_names().flatten().next().is_none() {
                        return Err(err(
                            ".pattern",
                            format!("extract pattern {pattern:?} has no named group such as (?P<name>...)"),
                        ));
                    }
                    Op::Extract(regex)
                }
                ActionKind::Convert => {
                    if entry.key.is_empty() {
                        return Err(err(".key", "convert needs a key".into()));
                    }
                    match entry.converted_type {
                        Some(t) => Op::Convert(t),
                        None => {
                            return Err(err(
                                ".converted_type",
                                "convert needs converted_type: int, double or string".into(),
                            ))
                        }
                    }
                }
            };
            actions.push(Action { key: entry.key.clone(), key_pattern, op });
        }
        Ok(Actions(actions))
    }

    /// True when there is no action.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Applies every action, in order, to `attributes`.
    pub fn apply(&self, attributes: &mut Vec<KeyValue>) {
        for action in &self.0 {
            action.apply(attributes);
        }
    }
}

impl Action {
    fn selects(&self, key: &str) -> bool {
        (!self.key.is_empty() && key == self.key) || self.key_pattern.as_ref().is_some_and(|p| p.is_match(key))
    }

    fn apply(&self, attributes: &mut Vec<KeyValue>) {
        let position = attributes.iter().position(|kv| kv.key == self.key);
        let resolve = |source: &Source, attributes: &[KeyValue]| match source {
            Source::Value(value) => Some(value.clone()),
            Source::Attribute(from) => attributes.iter().find(|kv| &kv.key == from).and_then(|kv| kv.value.clone()),
        };
        match &self.op {
            Op::Insert(source) => {
                if position.is_none() {
                    if let Some(value) = resolve(source, attributes) {
                        attributes.push(KeyValue { key: self.key.clone(), value: Some(value), ..Default::default() });
                    }
                }
            }
            Op::Update(source) => {
                if let Some(i) = position {
                    if let Some(value) = resolve(source, attributes) {
                        attributes[i].value = Some(value);
                    }
                }
            }
            Op::Upsert(source) => {
                if let Some(value) = resolve(source, attributes) {
                    set(attributes, &self.key, value);
                }
            }
            Op::Delete => attributes.retain(|kv| !self.selects(&kv.key)),
            Op::Hash => {
                for kv in attributes.iter_mut().filter(|kv| self.selects(&kv.key)) {
                    if let Some(value) = kv.value.as_mut() {
                        hash_value(value);
                    }
                }
            }
            Op::Extract(regex) => {
                let Some(Value::StringValue(text)) = position.and_then(|i| attributes[i].value.as_ref()?.value.clone())
                else {
                    return;
                };
                let Some(captures) = regex.captures(&text) else {
                    return;
                };
                for name in regex.capture_names().flatten() {
                    if let Some(found) = captures.name(name) {
                        set(attributes, name, string_value(found.as_str()));
                    }
                }
            }
            Op::Convert(target) => {
                if let Some(value) = position.and_then(|i| attributes[i].value.as_mut()) {
                    convert(value, *target);
                }
            }
        }
    }
}

/// Replaces a value by the SHA-256 hex digest of its bytes, as the Collector does: strings as UTF-8,
/// integers and doubles as 8 little-endian bytes, booleans as one byte 1 or 0. Other kinds become the
/// empty string, so nothing readable is left behind.
pub(crate) fn hash_value(value: &mut AnyValue) {
    let bytes: Vec<u8> = match value.value.as_ref() {
        Some(Value::StringValue(s)) => s.as_bytes().to_vec(),
        Some(Value::BoolValue(b)) => vec![u8::from(*b)],
        Some(Value::IntValue(i)) => i.to_le_bytes().to_vec(),
        Some(Value::DoubleValue(d)) => d.to_bits().to_le_bytes().to_vec(),
        _ => Vec::new(),
    };
    let hashed = if bytes.is_empty() {
        String::new()
    } else {
        Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect()
    };
    value.value = Some(Value::StringValue(hashed));
}

fn convert(value: &mut AnyValue, target: ConvertedType) {
    let Some(current) = value.value.as_ref() else { return };
    let converted = match (target, current) {
        (ConvertedType::Int, Value::StringValue(s)) => s.parse::<i64>().ok().map(Value::IntValue),
        (ConvertedType::Int, Value::DoubleValue(d)) if d.is_finite() => Some(Value::IntValue(*d as i64)),
        (ConvertedType::Int, Value::BoolValue(b)) => Some(Value::IntValue(i64::from(*b))),
        (ConvertedType::Double, Value::StringValue(s)) => s.parse::<f64>().ok().map(Value::DoubleValue),
        (ConvertedType::Double, Value::IntValue(i)) => Some(Value::DoubleValue(*i as f64)),
        (ConvertedType::Double, Value::BoolValue(b)) => Some(Value::DoubleValue(if *b { 1.0 } else { 0.0 })),
        (ConvertedType::String, Value::StringValue(_)) => None,
        (ConvertedType::String, _) => any_value_text(value).map(|t| Value::StringValue(t.into_owned())),
        _ => None,
    };
    if let Some(converted) = converted {
        value.value = Some(converted);
    }
}
