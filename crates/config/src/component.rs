//! One component's (or section's) raw settings, kept as a marked YAML node so a component can
//! deserialize them into its own `Config` type and still report errors with key paths and lines.

use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;

use crate::error::ConfigError;
use crate::yaml::{Mark, Node, NodeValue};

/// The settings of one component (e.g. `exporters.otlp/honeycomb`), not yet interpreted.
///
/// The config crate knows no concrete component; the registry turns this into a component's
/// own `Config` with [`ComponentConfig::deserialize`].
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentConfig {
    /// `None` when the component was written without settings (`debug:` or `debug: ~`).
    node: Option<Node>,
    key_path: String,
    /// Where the component's key is written.
    mark: Option<Mark>,
    source: Option<String>,
}

impl ComponentConfig {
    pub(crate) fn new(node: Option<Node>, key_path: String, mark: Option<Mark>, source: Option<String>) -> Self {
        ComponentConfig { node, key_path, mark, source }
    }

    /// The key path of the component, e.g. `exporters.otlp/honeycomb`.
    pub fn key_path(&self) -> &str {
        &self.key_path
    }

    /// The 1-based line of the component's key, when known.
    pub fn line(&self) -> Option<usize> {
        self.mark.map(|m| m.line)
    }

    /// Where the component's key is written.
    pub(crate) fn mark(&self) -> Option<Mark> {
        self.mark
    }

    /// True when the component was written without any settings.
    pub fn is_empty(&self) -> bool {
        match &self.node {
            None => true,
            Some(node) => matches!(&node.value, NodeValue::Map(entries) if entries.is_empty()),
        }
    }

    /// The settings as JSON (after `${env:...}` expansion); `null` when there are none.
    pub fn to_json(&self) -> serde_json::Value {
        self.node.as_ref().map_or(serde_json::Value::Null, Node::to_json)
    }

    /// Deserializes the settings into the component's `Config` type.
    ///
    /// A component written without settings gets `T::default()`. Otherwise keys missing from the
    /// YAML keep their defaults when `T` uses `#[serde(default)]`, and unknown keys are errors
    /// when `T` uses `#[serde(deny_unknown_fields)]`. Errors name the full key path (e.g.
    /// `receivers.otlp.protocols.grpc.endpoint`) and the line of the offending key.
    ///
    /// A value that came from a whole `${env:...}` reference is typed (`port: ${env:PORT}` is a
    /// number), but a field that wants a string still gets the variable's text, as in the
    /// Collector: `api_key: ${env:KEY}` works when `KEY` happens to be `12345`.
    pub fn deserialize<T: DeserializeOwned + Default>(&self) -> Result<T, ConfigError> {
        let mut value = None;
        self.deserialize_with(&mut |node| {
            value = Some(attempt::<T>(node)?);
            Ok(())
        })?;
        Ok(value.unwrap_or_default())
    }

    /// The retry loop of [`ComponentConfig::deserialize`], written once rather than for every `T`
    /// (config types are many, and each copy costs binary size): `attempt` deserializes one node.
    fn deserialize_with(&self, attempt: &mut dyn FnMut(&Node) -> Result<(), Failure>) -> Result<(), ConfigError> {
        let Some(node) = &self.node else {
            return Ok(());
        };
        let mut failure = match attempt(node) {
            Ok(()) => return Ok(()),
            Err(failure) => failure,
        };
        // Retry with the failing env-typed value read as text. Each retry turns one typed
        // value into text, so this ends; a retry failing at the same place keeps that place's
        // first error (e.g. "expected u16" rather than "expected u16, found a string").
        let mut work = node.clone();
        loop {
            let Some(typed) = env_typed_at(&mut work, &failure.0) else {
                return Err(self.error_at_parts(&failure.0, failure.1));
            };
            *typed = false;
            match attempt(&work) {
                Ok(()) => return Ok(()),
                Err(next) if next.0 == failure.0 => return Err(self.error_at_parts(&failure.0, failure.1)),
                Err(next) => failure = next,
            }
        }
    }

    /// An error about the component as a whole (e.g. from its own `validate`), located at its key.
    pub fn error(&self, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.source.clone(),
            path: self.key_path.clone(),
            line: self.mark.map(|m| m.line),
            column: self.mark.map(|m| m.col),
            message: message.into(),
        }
    }

    /// An error about one setting, located at that setting's key.
    ///
    /// `sub_key` is a path below the component such as `endpoint`, `protocols.grpc.endpoint` or
    /// `headers[0]`. When the key is not written in the YAML (a default value is at fault), the
    /// error points at the deepest part of the path that is written.
    pub fn error_at(&self, sub_key: &str, message: impl Into<String>) -> ConfigError {
        self.error_at_parts(&parse_sub_key(sub_key), message.into())
    }

    fn error_at_parts(&self, parts: &[PathPart], message: String) -> ConfigError {
        let mut path = self.key_path.clone();
        for part in parts {
            match part {
                PathPart::Key(key) => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                }
                PathPart::Index(i) => path.push_str(&format!("[{i}]")),
            }
        }
        let mut mark = self.mark;
        let mut node = self.node.as_ref();
        for part in parts {
            let next = match (part, node) {
                (PathPart::Key(key), Some(n)) => n.get(key).map(|(k, v)| (k.mark, v)),
                (PathPart::Index(i), Some(Node { value: NodeValue::Seq(items), .. })) => {
                    items.get(*i).map(|item| (item.mark, item))
                }
                _ => None,
            };
            match next {
                Some((m, child)) => {
                    mark = Some(m);
                    node = Some(child);
                }
                None => break,
            }
        }
        ConfigError {
            file: self.source.clone(),
            path,
            line: mark.map(|m| m.line),
            column: mark.map(|m| m.col),
            message,
        }
    }
}

/// Where (in YAML terms) and why a deserialization attempt failed.
type Failure = (Vec<PathPart>, String);

/// One deserialization attempt; on failure, where and why.
fn attempt<T: DeserializeOwned>(node: &Node) -> Result<T, Failure> {
    serde_path_to_error::deserialize::<_, T>(node.to_json()).map_err(located)
}

/// The failure of an attempt, whatever type it was for.
fn located(err: serde_path_to_error::Error<serde_json::Error>) -> Failure {
    let mut parts: Vec<PathPart> = err
        .path()
        .iter()
        .filter_map(|segment| match segment {
            Segment::Map { key } => Some(PathPart::Key(key.clone())),
            Segment::Seq { index } => Some(PathPart::Index(*index)),
            Segment::Enum { .. } | Segment::Unknown => None,
        })
        .collect();
    let message = err.into_inner().to_string();
    // serde reports an unknown key at its parent; point at the key itself.
    if let Some(key) = unknown_field(&message) {
        if !matches!(parts.last(), Some(PathPart::Key(last)) if last == key) {
            parts.push(PathPart::Key(key.to_owned()));
        }
    }
    (parts, message)
}

/// The `typed` flag of the scalar at `parts`, if it is a typed value from a whole env reference.
fn env_typed_at<'a>(node: &'a mut Node, parts: &[PathPart]) -> Option<&'a mut bool> {
    let mut node = node;
    for part in parts {
        node = match (part, &mut node.value) {
            (PathPart::Key(key), NodeValue::Map(entries)) => {
                entries.iter_mut().find(|(k, _)| k.as_text() == Some(key)).map(|(_, v)| v)?
            }
            (PathPart::Index(i), NodeValue::Seq(items)) => items.get_mut(*i)?,
            _ => return None,
        };
    }
    match &mut node.value {
        NodeValue::Scalar { typed, from_env: true, .. } if *typed => Some(typed),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PathPart {
    Key(String),
    Index(usize),
}

/// Splits `a.b[2].c` into key and index parts.
fn parse_sub_key(sub_key: &str) -> Vec<PathPart> {
    let mut parts = Vec::new();
    for piece in sub_key.split('.').filter(|p| !p.is_empty()) {
        let (key, mut rest) = match piece.find('[') {
            Some(i) => (&piece[..i], &piece[i..]),
            None => (piece, ""),
        };
        if !key.is_empty() {
            parts.push(PathPart::Key(key.to_owned()));
        }
        while let Some(inner) = rest.strip_prefix('[') {
            let Some(end) = inner.find(']') else { break };
            match inner[..end].parse() {
                Ok(i) => parts.push(PathPart::Index(i)),
                Err(_) => parts.push(PathPart::Key(inner[..end].to_owned())),
            }
            rest = &inner[end + 1..];
        }
    }
    parts
}

/// The key named by serde's "unknown field `x`, expected ..." message, if that is the error.
fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split_once('`').map(|(key, _)| key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::load;
    use std::time::Duration;

    #[derive(Debug, Default, PartialEq, serde::Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Grpc {
        endpoint: String,
        max_recv_msg_size_mib: u32,
    }

    #[derive(Debug, Default, PartialEq, serde::Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Protocols {
        grpc: Option<Grpc>,
    }

    #[derive(Debug, PartialEq, serde::Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Sample {
        protocols: Protocols,
        headers: Vec<String>,
        port: u16,
        #[serde(with = "crate::duration_serde")]
        timeout: Duration,
    }

    impl Default for Sample {
        fn default() -> Self {
            Sample { protocols: Protocols::default(), headers: Vec::new(), port: 4317, timeout: Duration::from_secs(5) }
        }
    }

    /// A component whose settings start at line 2 of a file (line 1 holds the component key).
    fn component(settings: &str) -> ComponentConfig {
        let text = format!("otlp:\n{settings}");
        let root = load(&text).unwrap().unwrap();
        let (key, value) = root.get("otlp").unwrap();
        let node = if value.is_null() { None } else { Some(value.clone()) };
        ComponentConfig::new(node, "receivers.otlp".into(), Some(key.mark), Some("c.yaml".into()))
    }

    #[test]
    fn no_settings_gives_defaults() {
        let c = component("");
        assert!(c.is_empty());
        assert_eq!(c.to_json(), serde_json::Value::Null);
        assert_eq!(c.deserialize::<Sample>().unwrap(), Sample::default());
        assert_eq!(c.line(), Some(1));
        assert_eq!(c.key_path(), "receivers.otlp");
    }

    #[test]
    fn yaml_overlays_defaults() {
        let c = component("  port: 9\n  protocols:\n    grpc:\n      endpoint: x:1\n  timeout: 250ms\n");
        assert!(!c.is_empty());
        let s: Sample = c.deserialize().unwrap();
        assert_eq!(
            s,
            Sample {
                protocols: Protocols { grpc: Some(Grpc { endpoint: "x:1".into(), max_recv_msg_size_mib: 0 }) },
                headers: vec![],
                port: 9,
                timeout: Duration::from_millis(250),
            }
        );
    }

    #[test]
    fn type_errors_name_path_and_line() {
        let c = component("  port: 9\n  protocols:\n    grpc:\n      max_recv_msg_size_mib: lots\n");
        assert_eq!(
            c.deserialize::<Sample>().unwrap_err().to_string(),
            "c.yaml:5:7: receivers.otlp.protocols.grpc.max_recv_msg_size_mib: invalid type: string \"lots\", expected u32"
        );
        let c = component("  port: 70000\n");
        assert_eq!(
            c.deserialize::<Sample>().unwrap_err().to_string(),
            "c.yaml:2:3: receivers.otlp.port: invalid value: integer `70000`, expected u16"
        );
        let c = component("  headers: [a, [b]]\n");
        assert_eq!(
            c.deserialize::<Sample>().unwrap_err().to_string(),
            "c.yaml:2:16: receivers.otlp.headers[1]: invalid type: sequence, expected a string"
        );
        let c = component("  timeout: soon\n");
        assert_eq!(
            c.deserialize::<Sample>().unwrap_err().to_string(),
            "c.yaml:2:3: receivers.otlp.timeout: invalid duration \"soon\": unknown unit \"soon\"; use ns, us, ms, s, m or h"
        );
    }

    #[test]
    fn unknown_keys_point_at_the_key() {
        let c = component("  port: 9\n  protocols:\n    grcp:\n      endpoint: x\n");
        assert_eq!(
            c.deserialize::<Sample>().unwrap_err().to_string(),
            "c.yaml:4:5: receivers.otlp.protocols.grcp: unknown field `grcp`, expected `grpc`"
        );
        let c = component("  bogus: 1\n");
        assert_eq!(
            c.deserialize::<Sample>().unwrap_err().to_string(),
            "c.yaml:2:3: receivers.otlp.bogus: unknown field `bogus`, expected one of `protocols`, `headers`, `port`, `timeout`"
        );
    }

    #[test]
    fn a_scalar_where_a_map_is_expected() {
        let c = component("  just a string\n");
        assert_eq!(
            c.deserialize::<Sample>().unwrap_err().to_string(),
            "c.yaml:1:1: receivers.otlp: invalid type: string \"just a string\", expected struct Sample"
        );
    }

    #[test]
    fn component_errors_point_at_keys() {
        let c = component("  port: 9\n  headers:\n    - a\n    - b\n");
        assert_eq!(c.error("needs an endpoint").to_string(), "c.yaml:1:1: receivers.otlp: needs an endpoint");
        assert_eq!(
            c.error_at("port", "port 9 is reserved").to_string(),
            "c.yaml:2:3: receivers.otlp.port: port 9 is reserved"
        );
        assert_eq!(
            c.error_at("headers[1]", "bad header").to_string(),
            "c.yaml:5:7: receivers.otlp.headers[1]: bad header"
        );
        // A default value at fault: point at the deepest written key.
        assert_eq!(
            c.error_at("protocols.grpc.endpoint", "missing").to_string(),
            "c.yaml:1:1: receivers.otlp.protocols.grpc.endpoint: missing"
        );
        assert_eq!(c.error_at("headers[7]", "x").to_string(), "c.yaml:3:3: receivers.otlp.headers[7]: x");
    }

    #[test]
    fn sub_keys_parse() {
        assert_eq!(
            parse_sub_key("a.b[2][3].c"),
            vec![
                PathPart::Key("a".into()),
                PathPart::Key("b".into()),
                PathPart::Index(2),
                PathPart::Index(3),
                PathPart::Key("c".into()),
            ]
        );
        assert_eq!(parse_sub_key(""), vec![]);
        assert_eq!(parse_sub_key("[x]"), vec![PathPart::Key("x".into())]);
    }
}
