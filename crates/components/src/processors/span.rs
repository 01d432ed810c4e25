//! The `span` processor, with the Collector's keys: renames spans from their attributes
//! (`name.from_attributes`), extracts attributes from their names (`name.to_attributes`) and sets their
//! status (`status`), for the spans selected by optional `include`/`exclude` match properties.
//!
//! One difference from the Collector: an unnamed capture group in a `to_attributes` rule extracts nothing
//! and leaves its text in the name (the Collector stores it under an empty attribute key).

use lambdatel_config::{ComponentConfig, ConfigError};
use lambdatel_pipeline::otlp::{set_attribute, string_value};
use lambdatel_pipeline::trace::{status::StatusCode, ResourceSpans, Span, Status};
use lambdatel_pipeline::{common::any_value::Value, common::AnyValue, Processor};
use regex::Regex;
use serde::Deserialize;

use super::match_properties::{selector, MatchProperties, SignalKind};
use super::matching::Selector;
use crate::ProcessorFactory;

/// Configuration of the `span` processor.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpanConfig {
    /// Renaming rules.
    pub name: NameConfig,
    /// The status set on every selected span.
    pub status: Option<StatusConfig>,
    /// Only spans matching these properties are changed.
    pub include: Option<MatchProperties>,
    /// Spans matching these properties are left alone.
    pub exclude: Option<MatchProperties>,
}

/// `name`: the new name from attributes, then attributes from the name.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NameConfig {
    /// Attribute keys whose values, in this order, form the new name; a span lacking any keeps its name.
    pub from_attributes: Vec<String>,
    /// Put between the values of `from_attributes`.
    pub separator: String,
    /// Regular expressions whose named groups become attributes, replaced in the name by `{group}`.
    pub to_attributes: Option<ToAttributesConfig>,
}

/// `name.to_attributes`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ToAttributesConfig {
    /// Tried in order, each on the name the previous one left.
    pub rules: Vec<String>,
    /// Stop after the first rule that matches.
    pub break_after_match: bool,
    /// Extract the attributes but keep the name as it was.
    pub keep_original_name: bool,
}

/// `status`: `code` is `Ok`, `Error` or `Unset`; a `description` only goes with `Error`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StatusConfig {
    /// `Ok`, `Error` or `Unset`.
    pub code: String,
    /// The status message of an `Error`.
    pub description: String,
}

/// The `span` processor.
#[derive(Debug, Clone)]
pub struct SpanProcessor {
    from_attributes: Vec<String>,
    separator: String,
    rules: Vec<Regex>,
    break_after_match: bool,
    keep_original_name: bool,
    status: Option<Status>,
    spans: Selector,
}

impl ProcessorFactory for SpanProcessor {
    const TYPE: &'static str = "span";
    const EXAMPLE: &'static str = "name: {from_attributes: [http.request.method, http.route], separator: ' '}";
    type Config = SpanConfig;

    fn validate(config: &SpanConfig, at: &ComponentConfig) -> Result<(), ConfigError> {
        let renames = !config.name.from_attributes.is_empty();
        let extracts = config.name.to_attributes.as_ref().is_some_and(|t| !t.rules.is_empty());
        if !renames && !extracts && config.status.is_none() {
            return Err(at.error("the span processor needs name.from_attributes, name.to_attributes.rules or status"));
        }
        if let Some(status) = &config.status {
            status_code(&status.code).ok_or_else(|| {
                at.error_at("status.code", format!("unknown status code {:?} (use Ok, Error or Unset)", status.code))
            })?;
            if !status.description.is_empty() && status.code != "Error" {
                return Err(at.error_at("status.description", "a status description goes only with code Error"));
            }
        }
        Ok(())
    }

    fn create(config: SpanConfig, at: &ComponentConfig) -> Result<Self, ConfigError> {
        let to_attributes = config.name.to_attributes.unwrap_or_default();
        let rules = to_attributes
            .rules
            .iter()
            .enumerate()
            .map(|(i, rule)| {
                Regex::new(rule).map_err(|e| {
                    at.error_at(&format!("name.to_attributes.rules[{i}]"), format!("invalid regular expression: {e}"))
                })
            })
            .collect::<Result<_, _>>()?;
        let status = config.status.map(|s| {
            let code = status_code(&s.code).unwrap_or(StatusCode::Unset);
            Status { code: code as i32, message: s.description }
        });
        Ok(SpanProcessor {
            from_attributes: config.name.from_attributes,
            separator: config.name.separator,
            rules,
            break_after_match: to_attributes.break_after_match,
            keep_original_name: to_attributes.keep_original_name,
            status,
            spans: selector(at, &config.include, &config.exclude, SignalKind::Spans)?,
        })
    }
}

fn status_code(code: &str) -> Option<StatusCode> {
    match code {
        "Ok" => Some(StatusCode::Ok),
        "Error" => Some(StatusCode::Error),
        "Unset" => Some(StatusCode::Unset),
        _ => None,
    }
}

impl SpanProcessor {
    fn rename_from_attributes(&self, span: &mut Span) {
        if self.from_attributes.is_empty() {
            return;
        }
        let mut name = String::new();
        for (i, key) in self.from_attributes.iter().enumerate() {
            let Some(value) = span.attributes.iter().find(|kv| &kv.key == key) else { return };
            if i > 0 {
                name.push_str(&self.separator);
            }
            push_value(&mut name, value.value.as_ref());
        }
        span.name = name;
    }

    fn extract_to_attributes(&self, span: &mut Span) {
        for rule in &self.rules {
            if span.name.is_empty() {
                return;
            }
            let Some(captures) = rule.captures(&span.name) else { continue };
            let mut renamed = String::with_capacity(span.name.len());
            let mut copied_to = 0;
            let mut extracted = Vec::new();
            for (group, name) in captures.iter().zip(rule.capture_names()).skip(1) {
                let (Some(group), Some(name)) = (group, name) else { continue };
                renamed.push_str(&span.name[copied_to..group.start()]);
                renamed.push('{');
                renamed.push_str(name);
                renamed.push('}');
                copied_to = group.end();
                extracted.push((name, group.as_str().to_string()));
            }
            renamed.push_str(&span.name[copied_to..]);
            for (key, value) in extracted {
                set_attribute(&mut span.attributes, key, string_value(value));
            }
            if !self.keep_original_name {
                span.name = renamed;
            }
            if self.break_after_match {
                return;
            }
        }
    }
}

/// An attribute value as the Collector writes it into a name.
fn push_value(name: &mut String, value: Option<&AnyValue>) {
    use std::fmt::Write;
    match value.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => name.push_str(s),
        Some(Value::BoolValue(b)) => name.push_str(if *b { "true" } else { "false" }),
        Some(Value::IntValue(i)) => _ = write!(name, "{i}"),
        Some(Value::DoubleValue(d)) => _ = write!(name, "{d}"),
        _ => name.push_str("<unknown-attribute-type>"),
    }
}

impl Processor for SpanProcessor {
    fn process_traces(&mut self, batch: &mut Vec<ResourceSpans>) {
        self.spans.for_each_span(batch, |span| {
            self.rename_from_attributes(span);
            self.extract_to_attributes(span);
            if let Some(status) = &self.status {
                span.status = Some(status.clone());
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processors::matching::test_support::*;
    use lambdatel_pipeline::common::KeyValue;
    use lambdatel_pipeline::trace::ScopeSpans;

    fn processor(yaml: &str) -> Result<SpanProcessor, String> {
        SpanProcessor::from_config(&component("processors.span", yaml)).map_err(|e| e.to_string())
    }

    fn run(p: &mut SpanProcessor, name: &str, attributes: Vec<KeyValue>) -> Span {
        let span = Span { name: name.into(), attributes, ..Default::default() };
        let mut batch = vec![ResourceSpans {
            scope_spans: vec![ScopeSpans { spans: vec![span], ..Default::default() }],
            ..Default::default()
        }];
        p.process_traces(&mut batch);
        batch.remove(0).scope_spans.remove(0).spans.remove(0)
    }

    #[test]
    fn the_name_is_built_from_every_listed_attribute_or_left_alone() {
        let mut p = processor("name: {from_attributes: [db.svc, operation, id, ok, ratio], separator: '::'}").unwrap();
        let attributes = vec![
            kv("db.svc", s("location")),
            kv("operation", s("get")),
            kv("id", i(1234)),
            kv("ok", Some(AnyValue { value: Some(Value::BoolValue(true)) })),
            kv("ratio", Some(AnyValue { value: Some(Value::DoubleValue(0.25)) })),
        ];
        assert_eq!(run(&mut p, "serviceA", attributes.clone()).name, "location::get::1234::true::0.25");
        assert_eq!(run(&mut p, "serviceA", attributes[..4].to_vec()).name, "serviceA");
        let mut bytes = processor("name: {from_attributes: [b]}").unwrap();
        let value = Some(AnyValue { value: Some(Value::BytesValue(vec![1])) });
        assert_eq!(run(&mut bytes, "x", vec![kv("b", value)]).name, "<unknown-attribute-type>");
    }

    #[test]
    fn named_groups_become_attributes_and_placeholders_rule_after_rule() {
        let yaml =
            "name:\n  to_attributes:\n    rules:\n      - '^/api/v1/document/(?P<documentId>[^/]+)/update$'\n      \
                    - '^/api/(?P<version>v\\d)/'\n";
        let span = run(&mut processor(yaml).unwrap(), "/api/v1/document/321083210/update", vec![]);
        assert_eq!(span.name, "/api/{version}/document/{documentId}/update");
        assert_eq!(span.attributes, vec![kv("documentId", s("321083210")), kv("version", s("v1"))]);

        let stop = format!("{yaml}    break_after_match: true\n");
        let span = run(&mut processor(&stop).unwrap(), "/api/v1/document/321083210/update", vec![]);
        assert_eq!(span.name, "/api/v1/document/{documentId}/update");
        assert_eq!(span.attributes, vec![kv("documentId", s("321083210"))]);

        let keep = format!("{yaml}    keep_original_name: true\n");
        let span = run(&mut processor(&keep).unwrap(), "/api/v1/document/7/update", vec![kv("version", s("old"))]);
        assert_eq!(span.name, "/api/v1/document/7/update");
        assert_eq!(span.attributes, vec![kv("version", s("v1")), kv("documentId", s("7"))]);

        let unnamed = "name: {to_attributes: {rules: ['^(GET|POST) /users/(?P<user>\\d+)']}}";
        let span = run(&mut processor(unnamed).unwrap(), "GET /users/42", vec![]);
        assert_eq!((span.name.as_str(), span.attributes), ("GET /users/{user}", vec![kv("user", s("42"))]));
    }

    #[test]
    fn status_is_set_on_selected_spans_only() {
        let yaml = "status: {code: Error, description: upstream failed}\ninclude: {match_type: strict, span_names: [checkout]}";
        let mut p = processor(yaml).unwrap();
        let error = Status { code: StatusCode::Error as i32, message: "upstream failed".into() };
        assert_eq!(run(&mut p, "checkout", vec![]).status, Some(error));
        assert_eq!(run(&mut p, "cart", vec![]).status, None);
    }

    #[test]
    fn bad_configs_name_the_key() {
        assert_eq!(
            processor("").unwrap_err(),
            "<config>: processors.span: the span processor needs name.from_attributes, name.to_attributes.rules or status"
        );
        assert_eq!(
            processor("status: {code: error}").unwrap_err(),
            "<config>:1:10: processors.span.status.code: unknown status code \"error\" (use Ok, Error or Unset)"
        );
        assert_eq!(
            processor("status: {code: Ok, description: fine}").unwrap_err(),
            "<config>:1:20: processors.span.status.description: a status description goes only with code Error"
        );
        let bad = processor("name: {to_attributes: {rules: ['(?P<a>']}}").unwrap_err();
        assert!(
            bad.starts_with("<config>:1:32: processors.span.name.to_attributes.rules[0]: invalid regular expression: ")
                && bad.ends_with("error: unclosed group"),
            "{bad}"
        );
    }
}
