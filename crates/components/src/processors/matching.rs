//! Match properties shared by the `attributes`, `filter` and `redaction` processors: string matchers
//! (strict or regexp), attribute matchers, and the `include`/`exclude` criteria of the Collector's
//! structured (pre-OTTL) filter config.
//!
//! Semantics follow the Collector: within one property (e.g. `span_names`) any entry may match; across
//! properties all that are written must match; every listed attribute must match. `regexp` patterns are
//! unanchored (`foo` matches `a foo b`); write `^...$` for a whole-string match.

use std::borrow::Cow;

use lambdatel_config::{ComponentConfig, ConfigError};
use lambdatel_pipeline::common::{any_value::Value, AnyValue, InstrumentationScope, KeyValue};
use lambdatel_pipeline::trace::{ResourceSpans, Span};
use serde::Deserialize;

use super::pattern::Pattern;

/// How strings in match properties are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchType {
    /// Exact, case-sensitive equality.
    #[default]
    Strict,
    /// Regular expression, unanchored.
    Regexp,
    /// The Collector's `expr` language: accepted by the parser only to report that it is not supported.
    Expr,
}

/// One `{key, value}` entry of `attributes`, `resource_attributes` or `record_attributes`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AttributeConfig {
    /// The attribute's key.
    pub key: String,
    /// The value to compare with (strict: equal value and type; regexp: a pattern for string values).
    /// Without a value, the attribute only has to be present.
    pub value: Option<serde_json::Value>,
}

/// Compiles a regex, reporting a bad pattern at `path`.
pub(crate) fn compile_regex(config: &ComponentConfig, path: &str, pattern: &str) -> Result<regex::Regex, ConfigError> {
    regex::Regex::new(pattern).map_err(|e| bad_pattern(config, path, pattern, e))
}

/// Compiles a pattern that is only matched or replaced (no captures), reporting a bad one at `path`.
pub(crate) fn compile_pattern(config: &ComponentConfig, path: &str, pattern: &str) -> Result<Pattern, ConfigError> {
    Pattern::new(pattern).map_err(|e| bad_pattern(config, path, pattern, e))
}

fn bad_pattern(config: &ComponentConfig, path: &str, pattern: &str, e: regex::Error) -> ConfigError {
    config.error_at(path, format!("invalid regular expression {pattern:?}: {e}"))
}

/// A list of strings to compare with, compiled.
#[derive(Debug, Clone)]
pub(crate) enum StringMatcher {
    Strict(Vec<String>),
    Regexp(Vec<Pattern>),
}

impl StringMatcher {
    /// Compiles `items` (written at `path`); `None` when the list is empty, i.e. not a criterion.
    pub(crate) fn compile(
        config: &ComponentConfig,
        path: &str,
        match_type: MatchType,
        items: &[String],
    ) -> Result<Option<StringMatcher>, ConfigError> {
        if items.is_empty() {
            return Ok(None);
        }
        Ok(Some(match match_type {
            MatchType::Regexp => StringMatcher::Regexp(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, p)| compile_pattern(config, &format!("{path}[{i}]"), p))
                    .collect::<Result<_, _>>()?,
            ),
            _ => StringMatcher::Strict(items.to_vec()),
        }))
    }

    /// True when any entry matches `text`.
    pub(crate) fn matches(&self, text: &str) -> bool {
        match self {
            StringMatcher::Strict(items) => items.iter().any(|s| s == text),
            StringMatcher::Regexp(patterns) => patterns.iter().any(|p| p.is_match(text)),
        }
    }
}

/// One compiled attribute condition.
#[derive(Debug, Clone)]
pub(crate) struct AttributeMatcher {
    key: String,
    value: ValueMatcher,
}

#[derive(Debug, Clone)]
enum ValueMatcher {
    Present,
    Equals(AnyValue),
    Pattern(Pattern),
}

impl AttributeMatcher {
    /// Compiles the entries written at `path`.
    pub(crate) fn compile_all(
        config: &ComponentConfig,
        path: &str,
        match_type: MatchType,
        entries: &[AttributeConfig],
    ) -> Result<Vec<AttributeMatcher>, ConfigError> {
        let mut out = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            let at = format!("{path}[{i}]");
            if entry.key.is_empty() {
                return Err(config.error_at(&format!("{at}.key"), "an attribute condition needs a key"));
            }
            let value = match (&entry.value, match_type) {
                (None, _) => ValueMatcher::Present,
                (Some(serde_json::Value::String(pattern)), MatchType::Regexp) => {
                    ValueMatcher::Pattern(compile_pattern(config, &format!("{at}.value"), pattern)?)
                }
                (Some(_), MatchType::Regexp) => {
                    return Err(config.error_at(
                        &format!("{at}.value"),
                        "match_type regexp needs a string pattern as the attribute value",
                    ))
                }
                (Some(value), _) => ValueMatcher::Equals(json_to_any_value(value).ok_or_else(|| {
                    config.error_at(&format!("{at}.value"), "the attribute value must be a string, number or boolean")
                })?),
            };
            out.push(AttributeMatcher { key: entry.key.clone(), value });
        }
        Ok(out)
    }

    /// True when `attributes` satisfy this condition.
    pub(crate) fn matches(&self, attributes: &[KeyValue]) -> bool {
        let Some(found) = attributes.iter().find(|kv| kv.key == self.key) else {
            return false;
        };
        match &self.value {
            ValueMatcher::Present => true,
            ValueMatcher::Equals(expected) => found.value.as_ref() == Some(expected),
            ValueMatcher::Pattern(pattern) => {
                matches!(found.value.as_ref().and_then(|v| v.value.as_ref()), Some(Value::StringValue(s)) if pattern.is_match(s))
            }
        }
    }
}

/// One entry of `libraries`: an instrumentation scope by name and, optionally, version.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LibraryConfig {
    /// The scope (instrumentation library) name.
    pub name: String,
    /// The scope version; any version matches when absent.
    pub version: Option<String>,
}

/// One compiled `libraries` entry.
#[derive(Debug, Clone)]
pub(crate) struct LibraryMatcher {
    name: StringMatcher,
    version: Option<StringMatcher>,
}

impl LibraryMatcher {
    /// Compiles the entries written at `path`.
    pub(crate) fn compile_all(
        config: &ComponentConfig,
        path: &str,
        match_type: MatchType,
        entries: &[LibraryConfig],
    ) -> Result<Vec<LibraryMatcher>, ConfigError> {
        let mut out = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            let at = format!("{path}[{i}]");
            let Some(name) =
                StringMatcher::compile(config, &format!("{at}.name"), match_type, std::slice::from_ref(&entry.name))?
                    .filter(|_| !entry.name.is_empty())
            else {
                return Err(config.error_at(&format!("{at}.name"), "a library condition needs a name"));
            };
            let version = match &entry.version {
                Some(v) => {
                    StringMatcher::compile(config, &format!("{at}.version"), match_type, std::slice::from_ref(v))?
                }
                None => None,
            };
            out.push(LibraryMatcher { name, version });
        }
        Ok(out)
    }

    fn matches(&self, scope: Option<&InstrumentationScope>) -> bool {
        let (name, version) = scope.map_or(("", ""), |s| (s.name.as_str(), s.version.as_str()));
        self.name.matches(name) && self.version.as_ref().is_none_or(|v| v.matches(version))
    }
}

/// Parses `span_kinds` entries (`SPAN_KIND_SERVER`, `Server` or `server`) into OTLP kind numbers.
pub(crate) fn compile_span_kinds(
    config: &ComponentConfig,
    path: &str,
    kinds: &[String],
) -> Result<Option<Vec<i32>>, ConfigError> {
    if kinds.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(kinds.len());
    for (i, kind) in kinds.iter().enumerate() {
        let upper = kind.trim().to_ascii_uppercase();
        let number = match upper.strip_prefix("SPAN_KIND_").unwrap_or(&upper) {
            "UNSPECIFIED" => 0,
            "INTERNAL" => 1,
            "SERVER" => 2,
            "CLIENT" => 3,
            "PRODUCER" => 4,
            "CONSUMER" => 5,
            _ => {
                return Err(config.error_at(
                    &format!("{path}[{i}]"),
                    format!("unknown span kind {kind:?}; use SPAN_KIND_INTERNAL, _SERVER, _CLIENT, _PRODUCER, _CONSUMER or _UNSPECIFIED"),
                ))
            }
        };
        out.push(number);
    }
    Ok(Some(out))
}

/// The minimum `severity_number` a log record must have to match.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeverityNumberConfig {
    /// The lowest severity that matches: a name (`TRACE`..`FATAL4`, e.g. `WARN`, `ERROR2`, any case) or
    /// a number from 1 to 24.
    pub min: Option<serde_json::Value>,
    /// Whether records without a severity number (0, unspecified) match too.
    pub match_undefined: bool,
}

/// Parses a severity name or number into OTLP's 1..=24 severity numbers.
pub(crate) fn parse_severity(value: &serde_json::Value) -> Option<i32> {
    match value {
        serde_json::Value::Number(n) => n.as_i64().filter(|n| (1..=24).contains(n)).map(|n| n as i32),
        serde_json::Value::String(text) => {
            let upper = text.trim().to_ascii_uppercase();
            let (base, level) = match upper.find(|c: char| c.is_ascii_digit()) {
                Some(i) => (&upper[..i], upper[i..].parse::<i32>().ok().filter(|l| (1..=4).contains(l))?),
                None => (upper.as_str(), 1),
            };
            let start = match base {
                "TRACE" => 1,
                "DEBUG" => 5,
                "INFO" => 9,
                "WARN" | "WARNING" => 13,
                "ERROR" => 17,
                "FATAL" => 21,
                _ => return None,
            };
            Some(start + level - 1)
        }
        _ => None,
    }
}

/// Everything an item can be matched on; fields an item does not have stay `None`/empty.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Item<'a> {
    /// The resource's attributes (also the source of `services`, from `service.name`).
    pub resource: &'a [KeyValue],
    /// The span, span event, metric or log record name, where the item has one.
    pub name: Option<&'a str>,
    /// The item's own attributes (span, event, data point or log record).
    pub attributes: &'a [KeyValue],
    /// A log record's body.
    pub body: Option<&'a AnyValue>,
    /// A log record's severity text.
    pub severity_text: Option<&'a str>,
    /// A log record's severity number.
    pub severity_number: Option<i32>,
    /// A span's kind.
    pub kind: Option<i32>,
    /// The instrumentation scope the item belongs to.
    pub scope: Option<&'a InstrumentationScope>,
}

impl<'a> Item<'a> {
    /// A span as the match properties see it: its name, attributes and kind, with its resource and scope.
    pub(crate) fn span(resource: &'a [KeyValue], scope: Option<&'a InstrumentationScope>, span: &'a Span) -> Self {
        Item {
            resource,
            name: Some(&span.name),
            attributes: &span.attributes,
            kind: Some(span.kind),
            scope,
            ..Item::default()
        }
    }
}

/// A compiled set of match properties; an item matches when every property that was written matches.
#[derive(Debug, Clone, Default)]
pub(crate) struct Criteria {
    pub services: Option<StringMatcher>,
    pub names: Option<StringMatcher>,
    pub bodies: Option<StringMatcher>,
    pub severity_texts: Option<StringMatcher>,
    /// Minimum severity number and whether unspecified severities match.
    pub severity_number: Option<(i32, bool)>,
    pub attributes: Vec<AttributeMatcher>,
    pub resource_attributes: Vec<AttributeMatcher>,
    /// Span kinds, any of which matches.
    pub span_kinds: Option<Vec<i32>>,
    /// Instrumentation scopes, any of which matches.
    pub libraries: Vec<LibraryMatcher>,
}

impl Criteria {
    /// True when no property was written (which the processors report as a config error).
    pub(crate) fn is_empty(&self) -> bool {
        self.services.is_none()
            && self.names.is_none()
            && self.bodies.is_none()
            && self.severity_texts.is_none()
            && self.severity_number.is_none()
            && self.attributes.is_empty()
            && self.resource_attributes.is_empty()
            && self.span_kinds.is_none()
            && self.libraries.is_empty()
    }

    /// True when `item` satisfies every written property.
    pub(crate) fn matches(&self, item: &Item) -> bool {
        if let Some(services) = &self.services {
            match string_attribute(item.resource, "service.name") {
                Some(service) if services.matches(service) => {}
                _ => return false,
            }
        }
        if let Some(names) = &self.names {
            if !item.name.is_some_and(|n| names.matches(n)) {
                return false;
            }
        }
        if let Some(bodies) = &self.bodies {
            if !item.body.and_then(any_value_text).is_some_and(|b| bodies.matches(&b)) {
                return false;
            }
        }
        if let Some(texts) = &self.severity_texts {
            if !item.severity_text.is_some_and(|t| texts.matches(t)) {
                return false;
            }
        }
        if let Some((min, match_undefined)) = self.severity_number {
            match item.severity_number {
                Some(0) | None => {
                    if !match_undefined {
                        return false;
                    }
                }
                Some(n) if n < min => return false,
                Some(_) => {}
            }
        }
        if let Some(kinds) = &self.span_kinds {
            if !item.kind.is_some_and(|k| kinds.contains(&k)) {
                return false;
            }
        }
        if !self.libraries.is_empty() && !self.libraries.iter().any(|l| l.matches(item.scope)) {
            return false;
        }
        self.attributes.iter().all(|a| a.matches(item.attributes))
            && self.resource_attributes.iter().all(|a| a.matches(item.resource))
    }
}

/// `include` and `exclude` criteria: an item is selected when it matches `include` (or there is none)
/// and does not match `exclude`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Selector {
    pub include: Option<Criteria>,
    pub exclude: Option<Criteria>,
}

impl Selector {
    /// Whether `item` is selected.
    pub(crate) fn selects(&self, item: &Item) -> bool {
        self.include.as_ref().is_none_or(|c| c.matches(item)) && !self.exclude.as_ref().is_some_and(|c| c.matches(item))
    }

    /// Calls `change` on every span of `batch` this selector selects.
    pub(crate) fn for_each_span(&self, batch: &mut [ResourceSpans], mut change: impl FnMut(&mut Span)) {
        for rs in batch {
            let resource = rs.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
            for scope in rs.scope_spans.iter_mut() {
                let library = scope.scope.as_ref();
                for span in scope.spans.iter_mut() {
                    if self.selects(&Item::span(resource, library, span)) {
                        change(span);
                    }
                }
            }
        }
    }
}

/// The string value of attribute `key`, if it is a string.
pub(crate) fn string_attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
        Value::StringValue(s) => Some(s.as_str()),
        _ => None,
    })
}

/// A scalar value as text, as the Collector's `AsString` renders it (numbers in shortest form);
/// `None` for bytes, arrays, maps and empty values, which no string pattern is meant to see.
pub(crate) fn any_value_text(value: &AnyValue) -> Option<Cow<'_, str>> {
    match value.value.as_ref()? {
        Value::StringValue(s) => Some(Cow::Borrowed(s)),
        Value::BoolValue(b) => Some(Cow::Owned(b.to_string())),
        Value::IntValue(i) => Some(Cow::Owned(i.to_string())),
        Value::DoubleValue(d) => Some(Cow::Owned(d.to_string())),
        _ => None,
    }
}

/// A YAML scalar (as JSON) as an OTLP value: strings, integers, floats and booleans; lists and maps
/// become array and key-value list values. `None` for null.
pub(crate) fn json_to_any_value(value: &serde_json::Value) -> Option<AnyValue> {
    use lambdatel_pipeline::common::{ArrayValue, KeyValueList};
    let value = match value {
        serde_json::Value::Null => return None,
        serde_json::Value::Bool(b) => Value::BoolValue(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::IntValue(i),
            None => Value::DoubleValue(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::StringValue(s.clone()),
        serde_json::Value::Array(items) => {
            Value::ArrayValue(ArrayValue { values: items.iter().filter_map(json_to_any_value).collect() })
        }
        serde_json::Value::Object(entries) => Value::KvlistValue(KeyValueList {
            values: entries
                .iter()
                .map(|(k, v)| KeyValue { key: k.clone(), value: json_to_any_value(v), ..Default::default() })
                .collect(),
        }),
    };
    Some(AnyValue { value: Some(value) })
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Builders for processor tests.
    use super::*;

    pub fn s(v: &str) -> Option<AnyValue> {
        Some(AnyValue { value: Some(Value::StringValue(v.into())) })
    }

    pub fn i(v: i64) -> Option<AnyValue> {
        Some(AnyValue { value: Some(Value::IntValue(v)) })
    }

    pub fn kv(key: &str, value: Option<AnyValue>) -> KeyValue {
        KeyValue { key: key.into(), value, ..Default::default() }
    }

    pub fn attrs(pairs: &[(&str, &str)]) -> Vec<KeyValue> {
        pairs.iter().map(|(k, v)| kv(k, s(v))).collect()
    }

    pub fn component(key_path: &str, yaml: &str) -> ComponentConfig {
        ComponentConfig::from_yaml(key_path, yaml, &|_| None).expect("test YAML parses")
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;

    fn criteria(yaml: &str) -> Result<Criteria, ConfigError> {
        #[derive(Default, Deserialize)]
        #[serde(default)]
        struct Props {
            match_type: MatchType,
            services: Vec<String>,
            attributes: Vec<AttributeConfig>,
        }
        let config = component("p", yaml);
        let props: Props = config.deserialize()?;
        Ok(Criteria {
            services: StringMatcher::compile(&config, "services", props.match_type, &props.services)?,
            attributes: AttributeMatcher::compile_all(&config, "attributes", props.match_type, &props.attributes)?,
            ..Criteria::default()
        })
    }

    #[test]
    fn strict_and_regexp_strings() {
        let resource = attrs(&[("service.name", "orders-api")]);
        let item = Item { resource: &resource, ..Item::default() };
        assert!(criteria("services: [orders-api]").unwrap().matches(&item));
        assert!(!criteria("services: [orders]").unwrap().matches(&item));
        assert!(criteria("match_type: regexp\nservices: [orders]").unwrap().matches(&item));
        assert!(!criteria("match_type: regexp\nservices: ['^orders$']").unwrap().matches(&item));
        // No service.name: a services criterion cannot match.
        assert!(!criteria("services: [orders-api]").unwrap().matches(&Item::default()));
        assert!(criteria("").unwrap().is_empty());
    }

    #[test]
    fn attribute_conditions() {
        let attributes = vec![kv("http.status_code", i(500)), kv("env", s("prod"))];
        let item = Item { attributes: &attributes, ..Item::default() };
        assert!(criteria("attributes: [{key: http.status_code, value: 500}]").unwrap().matches(&item));
        assert!(!criteria("attributes: [{key: http.status_code, value: '500'}]").unwrap().matches(&item));
        assert!(criteria("attributes: [{key: env}]").unwrap().matches(&item));
        assert!(!criteria("attributes: [{key: env}, {key: region}]").unwrap().matches(&item));
        assert!(criteria("match_type: regexp\nattributes: [{key: env, value: '^pr'}]").unwrap().matches(&item));
        // Regexps only see string values.
        assert!(!criteria("match_type: regexp\nattributes: [{key: http.status_code, value: '5'}]")
            .unwrap()
            .matches(&item));
    }

    #[test]
    fn config_errors() {
        assert_eq!(
            criteria("match_type: regexp\nservices: [ok, '(']").unwrap_err().to_string(),
            "<config>:2:16: p.services[1]: invalid regular expression \"(\": regex parse error:\n    (\n    ^\nerror: unclosed group"
        );
        assert_eq!(
            criteria("attributes: [{value: 1}]").unwrap_err().to_string(),
            "<config>:1:14: p.attributes[0].key: an attribute condition needs a key"
        );
        assert_eq!(
            criteria("match_type: regexp\nattributes: [{key: a, value: 1}]").unwrap_err().to_string(),
            "<config>:2:23: p.attributes[0].value: match_type regexp needs a string pattern as the attribute value"
        );
        assert_eq!(
            criteria("attributes: [{key: a, value: null}]").unwrap().attributes.len(),
            1,
            "a null value means presence"
        );
    }

    #[test]
    fn span_kinds_and_libraries() {
        let config = component("p", "x: 1");
        let kinds = compile_span_kinds(&config, "span_kinds", &["SPAN_KIND_SERVER".into(), "client".into()]).unwrap();
        assert_eq!(kinds, Some(vec![2, 3]));
        assert_eq!(
            compile_span_kinds(&config, "span_kinds", &["SERVERLESS".into()]).unwrap_err().to_string(),
            "<config>:1:2: p.span_kinds[0]: unknown span kind \"SERVERLESS\"; use SPAN_KIND_INTERNAL, _SERVER, _CLIENT, _PRODUCER, _CONSUMER or _UNSPECIFIED"
        );
        let by_kind = Criteria { span_kinds: kinds, ..Criteria::default() };
        assert!(by_kind.matches(&Item { kind: Some(2), ..Item::default() }));
        assert!(!by_kind.matches(&Item { kind: Some(1), ..Item::default() }));

        let libraries = |yaml: &str| {
            let config = component("p", yaml);
            #[derive(Default, Deserialize)]
            #[serde(default)]
            struct Props {
                match_type: MatchType,
                libraries: Vec<LibraryConfig>,
            }
            let props: Props = config.deserialize().unwrap();
            LibraryMatcher::compile_all(&config, "libraries", props.match_type, &props.libraries)
                .map(|libraries| Criteria { libraries, ..Criteria::default() })
                .map_err(|e| e.to_string())
        };
        let scope = InstrumentationScope { name: "lambdatel".into(), version: "0.1.0".into(), ..Default::default() };
        let item = Item { scope: Some(&scope), ..Item::default() };
        assert!(libraries("libraries: [{name: other}, {name: lambdatel}]").unwrap().matches(&item));
        assert!(!libraries("libraries: [{name: lambdatel, version: 0.2.0}]").unwrap().matches(&item));
        assert!(libraries("match_type: regexp\nlibraries: [{name: ^lambda, version: ^0\\.}]").unwrap().matches(&item));
        assert!(!libraries("libraries: [{name: lambdatel}]").unwrap().matches(&Item::default()));
        assert_eq!(
            libraries("libraries: [{version: '1'}]").unwrap_err(),
            "<config>:1:13: p.libraries[0].name: a library condition needs a name"
        );
    }

    #[test]
    fn severities() {
        use serde_json::json;
        assert_eq!(parse_severity(&json!("info")), Some(9));
        assert_eq!(parse_severity(&json!("WARN")), Some(13));
        assert_eq!(parse_severity(&json!("Error3")), Some(19));
        assert_eq!(parse_severity(&json!("FATAL4")), Some(24));
        assert_eq!(parse_severity(&json!(17)), Some(17));
        assert_eq!(parse_severity(&json!("ERROR5")), None);
        assert_eq!(parse_severity(&json!("LOUD")), None);
        assert_eq!(parse_severity(&json!(25)), None);
        let criteria = Criteria { severity_number: Some((13, false)), ..Criteria::default() };
        let at = |n| Item { severity_number: Some(n), ..Item::default() };
        assert!(criteria.matches(&at(13)));
        assert!(criteria.matches(&at(21)));
        assert!(!criteria.matches(&at(9)));
        assert!(!criteria.matches(&at(0)));
        let lenient = Criteria { severity_number: Some((13, true)), ..Criteria::default() };
        assert!(lenient.matches(&at(0)));
    }

    #[test]
    fn values_as_text_and_from_yaml() {
        use serde_json::json;
        assert_eq!(any_value_text(&AnyValue { value: Some(Value::DoubleValue(3.0)) }).unwrap(), "3");
        assert_eq!(any_value_text(&AnyValue { value: Some(Value::DoubleValue(1.5)) }).unwrap(), "1.5");
        assert_eq!(any_value_text(&AnyValue { value: Some(Value::BoolValue(true)) }).unwrap(), "true");
        assert_eq!(any_value_text(&AnyValue { value: None }), None);
        assert_eq!(json_to_any_value(&json!(7)), i(7));
        assert_eq!(json_to_any_value(&json!(2.5)), Some(AnyValue { value: Some(Value::DoubleValue(2.5)) }));
        assert_eq!(json_to_any_value(&json!(null)), None);
    }
}
