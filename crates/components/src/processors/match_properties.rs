//! The `include`/`exclude` match properties of the `attributes` processor, with the Collector's keys,
//! and the severity bound the `filter` processor shares.

use lambdatel_config::{ComponentConfig, ConfigError};
use serde::Deserialize;

use super::matching::{
    compile_span_kinds, parse_severity, AttributeConfig, AttributeMatcher, Criteria, LibraryConfig, LibraryMatcher,
    MatchType, Selector, SeverityNumberConfig, StringMatcher,
};

/// `include`/`exclude` match properties of the `attributes` processor, with the Collector's keys. Each
/// signal uses the properties that exist for it; an `include` naming a property a signal lacks (e.g.
/// `span_names` in a logs pipeline) selects none of that signal's items.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MatchProperties {
    /// `strict` (default) or `regexp` (unanchored) comparison of the string properties below.
    pub match_type: MatchType,
    /// `service.name` values of the resource.
    pub services: Vec<String>,
    /// Span names (spans only).
    pub span_names: Vec<String>,
    /// Conditions on the span, log record or data point attributes; all must hold.
    pub attributes: Vec<AttributeConfig>,
    /// Conditions on the resource attributes; all must hold.
    pub resource_attributes: Vec<AttributeConfig>,
    /// Log bodies, as text (logs only).
    pub log_bodies: Vec<String>,
    /// Log severity texts (logs only).
    pub log_severity_texts: Vec<String>,
    /// Minimum log severity (logs only).
    pub log_severity_number: Option<SeverityNumberConfig>,
    /// Metric names (metrics only).
    pub metric_names: Vec<String>,
    /// Span kinds, e.g. `SPAN_KIND_SERVER` (spans only).
    pub span_kinds: Vec<String>,
    /// Instrumentation scopes (`{name, version}`), any of which matches.
    pub libraries: Vec<LibraryConfig>,
}

/// Which signal a selector is compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignalKind {
    Spans,
    Metrics,
    Logs,
}

impl MatchProperties {
    /// Compiles the properties (written at `path`) for one signal; the flag is true when a property
    /// foreign to the signal is written.
    fn compile(
        &self,
        config: &ComponentConfig,
        path: &str,
        signal: SignalKind,
    ) -> Result<(Criteria, bool), ConfigError> {
        let t = self.match_type;
        if t == MatchType::Expr {
            return Err(config
                .error_at(&format!("{path}.match_type"), "match_type expr is not supported; use strict or regexp"));
        }
        let at = |key: &str| format!("{path}.{key}");
        let strings = |key: &str, items: &[String]| StringMatcher::compile(config, &at(key), t, items);
        let mut criteria = Criteria {
            services: strings("services", &self.services)?,
            attributes: AttributeMatcher::compile_all(config, &at("attributes"), t, &self.attributes)?,
            resource_attributes: AttributeMatcher::compile_all(
                config,
                &at("resource_attributes"),
                t,
                &self.resource_attributes,
            )?,
            libraries: LibraryMatcher::compile_all(config, &at("libraries"), t, &self.libraries)?,
            ..Criteria::default()
        };
        let span_kinds = compile_span_kinds(config, &at("span_kinds"), &self.span_kinds)?;
        let span_names = strings("span_names", &self.span_names)?;
        let metric_names = strings("metric_names", &self.metric_names)?;
        let bodies = strings("log_bodies", &self.log_bodies)?;
        let severity_texts = strings("log_severity_texts", &self.log_severity_texts)?;
        let severity_number = match &self.log_severity_number {
            Some(s) => Some(severity_min(config, &at("log_severity_number"), s)?),
            None => None,
        };
        let foreign = match signal {
            SignalKind::Spans => {
                criteria.names = span_names;
                criteria.span_kinds = span_kinds;
                metric_names.is_some() || bodies.is_some() || severity_texts.is_some() || severity_number.is_some()
            }
            SignalKind::Metrics => {
                criteria.names = metric_names;
                span_names.is_some()
                    || span_kinds.is_some()
                    || bodies.is_some()
                    || severity_texts.is_some()
                    || severity_number.is_some()
            }
            SignalKind::Logs => {
                criteria.bodies = bodies;
                criteria.severity_texts = severity_texts;
                criteria.severity_number = severity_number;
                span_names.is_some() || span_kinds.is_some() || metric_names.is_some()
            }
        };
        Ok((criteria, foreign))
    }
}

/// Reads `severity_number: {min, match_undefined}` written at `path`.
pub(crate) fn severity_min(
    config: &ComponentConfig,
    path: &str,
    s: &SeverityNumberConfig,
) -> Result<(i32, bool), ConfigError> {
    let Some(min) = &s.min else {
        return Err(config.error_at(&format!("{path}.min"), "severity_number needs min, e.g. WARN"));
    };
    let min = parse_severity(min).ok_or_else(|| {
        config.error_at(
            &format!("{path}.min"),
            format!("unknown severity {min}; use TRACE, DEBUG, INFO, WARN, ERROR or FATAL (optionally 2 to 4, e.g. ERROR2) or 1 to 24"),
        )
    })?;
    Ok((min, s.match_undefined))
}

/// Builds a selector for one signal from `include` and `exclude` (written under `base`, e.g. `""` or
/// `spans`).
pub(crate) fn selector(
    config: &ComponentConfig,
    include: &Option<MatchProperties>,
    exclude: &Option<MatchProperties>,
    signal: SignalKind,
) -> Result<Selector, ConfigError> {
    let mut selector = Selector::default();
    let mut never = false;
    if let Some(include) = include {
        let (criteria, foreign) = include.compile(config, "include", signal)?;
        if criteria.is_empty() && !foreign {
            return Err(config.error_at("include", "include needs at least one match property"));
        }
        never = foreign;
        selector.include = Some(criteria);
    }
    if let Some(exclude) = exclude {
        let (criteria, foreign) = exclude.compile(config, "exclude", signal)?;
        if criteria.is_empty() && !foreign {
            return Err(config.error_at("exclude", "exclude needs at least one match property"));
        }
        // An exclude naming a property this signal lacks excludes none of its items.
        selector.exclude = (!foreign).then_some(criteria);
    }
    if never {
        selector.include = Some(Criteria { names: Some(StringMatcher::Strict(Vec::new())), ..Criteria::default() });
    }
    Ok(selector)
}
