//! Component and pipeline identifiers: `type[/name]`, as in the Collector.

use std::fmt;
use std::str::FromStr;

/// A component id such as `otlp` or `otlp/honeycomb`: the component type and an optional name
/// that distinguishes several instances of the same type.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ComponentId {
    /// The component type, which selects the implementation (`otlp`, `batch`, ...).
    pub type_name: String,
    /// The instance name after the `/`, if any.
    pub name: Option<String>,
}

impl ComponentId {
    /// Parses and validates `type[/name]`; the error explains what is wrong with the id.
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::parse_as(text, "id")
    }

    /// Like [`ComponentId::parse`], naming the id in errors as `noun` (e.g. "exporter id").
    pub(crate) fn parse_as(text: &str, noun: &str) -> Result<Self, String> {
        let (type_name, name) = split_id(text, noun)?;
        validate_type(text, type_name, noun)?;
        Ok(ComponentId { type_name: type_name.to_owned(), name: name.map(str::to_owned) })
    }
}

impl FromStr for ComponentId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ComponentId::parse(s)
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_id(f, &self.type_name, self.name.as_deref())
    }
}

/// The telemetry signal a pipeline carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Signal {
    /// Spans.
    Traces,
    /// Metric data points.
    Metrics,
    /// Log records.
    Logs,
}

impl Signal {
    /// The signal's name as written in configs: `traces`, `metrics` or `logs`.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }

    /// The signal's position in processing order (traces 0, metrics 1, logs 2), for per-signal arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A pipeline id such as `traces` or `logs/audit`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PipelineId {
    /// The signal the pipeline carries.
    pub signal: Signal,
    /// The pipeline's name after the `/`, if any.
    pub name: Option<String>,
}

impl PipelineId {
    /// Parses `signal[/name]`; the error explains what is wrong with the id.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (type_name, name) = split_id(text, "pipeline id")?;
        let signal = match type_name {
            "traces" => Signal::Traces,
            "metrics" => Signal::Metrics,
            "logs" => Signal::Logs,
            other => return Err(format!("unknown pipeline type \"{other}\"; expected traces, metrics or logs")),
        };
        Ok(PipelineId { signal, name: name.map(str::to_owned) })
    }
}

impl FromStr for PipelineId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PipelineId::parse(s)
    }
}

impl fmt::Display for PipelineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_id(f, self.signal.as_str(), self.name.as_deref())
    }
}

fn write_id(f: &mut fmt::Formatter<'_>, type_name: &str, name: Option<&str>) -> fmt::Result {
    match name {
        Some(name) => write!(f, "{type_name}/{name}"),
        None => f.write_str(type_name),
    }
}

/// Splits at the first `/` and validates the name part (non-empty, no whitespace or control
/// characters, as the Collector requires).
fn split_id<'a>(text: &'a str, noun: &str) -> Result<(&'a str, Option<&'a str>), String> {
    match text.split_once('/') {
        None => Ok((text, None)),
        Some((_, "")) => Err(format!("invalid {noun} \"{text}\": the name after \"/\" must not be empty")),
        Some((_, name)) if name.chars().any(|c| c.is_whitespace() || c.is_control()) => Err(format!(
            "invalid {noun} \"{text}\": the name after \"/\" must not contain spaces or control characters"
        )),
        Some((type_name, name)) => Ok((type_name, Some(name))),
    }
}

fn validate_type(text: &str, type_name: &str, noun: &str) -> Result<(), String> {
    let mut chars = type_name.chars();
    match chars.next() {
        None => Err(format!("invalid {noun} \"{text}\": the type must not be empty")),
        Some(c) if c.is_ascii_alphabetic() && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') => {
            Ok(())
        }
        Some(_) => Err(format!(
            "invalid {noun} \"{text}\": the type must start with a letter and contain only letters, digits and underscores"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_ids_parse_and_display() {
        let id = ComponentId::parse("otlp").unwrap();
        assert_eq!(id, ComponentId { type_name: "otlp".into(), name: None });
        assert_eq!(id.to_string(), "otlp");
        let id: ComponentId = "otlp/honeycomb".parse().unwrap();
        assert_eq!(id.type_name, "otlp");
        assert_eq!(id.name.as_deref(), Some("honeycomb"));
        assert_eq!(id.to_string(), "otlp/honeycomb");
        // Only the first slash separates type and name.
        let id = ComponentId::parse("otlp_http2/a/b").unwrap();
        assert_eq!(id.name.as_deref(), Some("a/b"));
        assert_eq!(id.to_string(), "otlp_http2/a/b");
    }

    #[test]
    fn component_id_errors() {
        assert_eq!(ComponentId::parse("").unwrap_err(), "invalid id \"\": the type must not be empty");
        assert_eq!(ComponentId::parse("/x").unwrap_err(), "invalid id \"/x\": the type must not be empty");
        assert_eq!(
            ComponentId::parse("otlp/").unwrap_err(),
            "invalid id \"otlp/\": the name after \"/\" must not be empty"
        );
        assert_eq!(
            ComponentId::parse("1otlp").unwrap_err(),
            "invalid id \"1otlp\": the type must start with a letter and contain only letters, digits and underscores"
        );
        assert_eq!(
            ComponentId::parse("ot-lp").unwrap_err(),
            "invalid id \"ot-lp\": the type must start with a letter and contain only letters, digits and underscores"
        );
        assert_eq!(
            ComponentId::parse("otlp/a b").unwrap_err(),
            "invalid id \"otlp/a b\": the name after \"/\" must not contain spaces or control characters"
        );
    }

    #[test]
    fn ids_order_by_type_then_name() {
        let mut ids: Vec<ComponentId> =
            ["otlp/b", "debug", "otlp", "otlp/a"].iter().map(|s| s.parse().unwrap()).collect();
        ids.sort();
        let shown: Vec<String> = ids.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["debug", "otlp", "otlp/a", "otlp/b"]);
    }

    #[test]
    fn pipeline_ids() {
        assert_eq!(PipelineId::parse("traces").unwrap(), PipelineId { signal: Signal::Traces, name: None });
        let id = PipelineId::parse("logs/audit").unwrap();
        assert_eq!(id.signal, Signal::Logs);
        assert_eq!(id.to_string(), "logs/audit");
        assert_eq!(PipelineId::parse("metrics").unwrap().to_string(), "metrics");
        assert_eq!(
            PipelineId::parse("spans").unwrap_err(),
            "unknown pipeline type \"spans\"; expected traces, metrics or logs"
        );
        assert_eq!(
            PipelineId::parse("traces/").unwrap_err(),
            "invalid pipeline id \"traces/\": the name after \"/\" must not be empty"
        );
    }
}
