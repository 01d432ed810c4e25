//! A custom lambdatel processor, `tenant`: it reads the tenant id from the function's log lines (for
//! example `tenant=acme`, logged when the function learns whom it serves) and adds it as an attribute to
//! every log record and span of the same flush and the ones after it.
//!
//! It shows the three things a custom processor needs: a config type read from the YAML by the
//! processor's type name, an implementation of [`Processor`] for the signals it changes, and an
//! implementation of [`ProcessorFactory`] to register it with
//! `lambdatel::main_with(Registry::builtin().with_processor::<TenantProcessor>())`.
//!
//! The tenant is found through [`Processor::observe_flush`], which shows every processor the whole flush
//! (spans, metrics and logs of all receivers) before its own signal is processed. With lambdatel's
//! default end-of-invocation flush, a flush is one invocation, so the spans of the invocation that logs
//! the tenant already carry it. A flush without a tenant line keeps the tenant last seen, for functions
//! that log it once per sandbox (at init, say).
//!
//! ```yaml
//! processors:
//!   tenant:
//!     marker: "tenant="        # the text before the id in a log line
//!     attribute: tenant.id     # the attribute written on spans and log records
//! service:
//!   pipelines:
//!     traces: {receivers: [telemetryapi], processors: [tenant, batch], exporters: [otlp]}
//!     logs: {receivers: [telemetryapi], processors: [tenant, batch], exporters: [otlp]}
//! ```

use lambdatel::{ComponentConfig, ConfigError, FlushView, Processor, ProcessorFactory};
use lambdatel_pipeline::{
    common::{any_value::Value, AnyValue, KeyValue},
    logs::ResourceLogs,
    otlp::{log_records_mut, spans_mut, string_attribute},
    trace::ResourceSpans,
};
use serde::Deserialize;

/// Settings of the `tenant` processor.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantConfig {
    /// The text that precedes the tenant id in a log line; the id runs to the next space, quote, comma
    /// or semicolon.
    pub marker: String,
    /// The attribute key written on spans and log records.
    pub attribute: String,
}

impl Default for TenantConfig {
    fn default() -> Self {
        TenantConfig { marker: "tenant=".into(), attribute: "tenant.id".into() }
    }
}

/// The `tenant` processor.
#[derive(Debug)]
pub struct TenantProcessor {
    config: TenantConfig,
    /// The tenant of the current flush, or the last one seen.
    tenant: Option<String>,
}

impl TenantProcessor {
    /// The tenant id in `line`, if the marker is there and followed by an id.
    pub fn find_tenant<'a>(&self, line: &'a str) -> Option<&'a str> {
        let start = line.find(&self.config.marker)? + self.config.marker.len();
        let rest = &line[start..];
        let end = rest.find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | ';')).unwrap_or(rest.len());
        Some(&rest[..end]).filter(|id| !id.is_empty())
    }

    fn tag(&self, attributes: &mut Vec<KeyValue>, tenant: &str) {
        if attributes.iter().any(|kv| kv.key == self.config.attribute) {
            return;
        }
        attributes.push(string_attribute(self.config.attribute.clone(), tenant));
    }
}

/// The text of a log body: a string body, or the `message` of a structured (JSON) one.
fn body_text(body: &AnyValue) -> Option<&str> {
    match body.value.as_ref()? {
        Value::StringValue(s) => Some(s),
        Value::KvlistValue(list) => list.values.iter().find(|kv| kv.key == "message").and_then(|kv| {
            match kv.value.as_ref()?.value.as_ref()? {
                Value::StringValue(s) => Some(s.as_str()),
                _ => None,
            }
        }),
        _ => None,
    }
}

impl Processor for TenantProcessor {
    fn observe_flush(&mut self, flush: &FlushView<'_>) {
        let lines = flush.logs().flat_map(|r| &r.scope_logs).flat_map(|s| &s.log_records);
        let found =
            lines.filter_map(|record| record.body.as_ref().and_then(body_text)).find_map(|line| self.find_tenant(line));
        if let Some(tenant) = found {
            self.tenant = Some(tenant.to_owned());
        }
    }

    fn process_traces(&mut self, batch: &mut Vec<ResourceSpans>) {
        let Some(tenant) = self.tenant.as_deref() else { return };
        for span in spans_mut(batch) {
            self.tag(&mut span.item.attributes, tenant);
        }
    }

    fn process_logs(&mut self, batch: &mut Vec<ResourceLogs>) {
        let Some(tenant) = self.tenant.as_deref() else { return };
        for record in log_records_mut(batch) {
            self.tag(&mut record.item.attributes, tenant);
        }
    }
}

impl ProcessorFactory for TenantProcessor {
    const TYPE: &'static str = "tenant";
    type Config = TenantConfig;

    fn validate(config: &TenantConfig, at: &ComponentConfig) -> Result<(), ConfigError> {
        if config.marker.is_empty() {
            return Err(at.error_at("marker", "marker must not be empty"));
        }
        if config.attribute.is_empty() {
            return Err(at.error_at("attribute", "attribute must not be empty"));
        }
        Ok(())
    }

    fn create(config: TenantConfig, _at: &ComponentConfig) -> Result<Self, ConfigError> {
        Ok(TenantProcessor { config, tenant: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambdatel::Registry;
    use lambdatel_config::ComponentId;
    use lambdatel_pipeline::{
        logs::{LogRecord, ScopeLogs},
        trace::{ScopeSpans, Span},
        Signals,
    };

    fn text(s: &str) -> Option<AnyValue> {
        Some(AnyValue { value: Some(Value::StringValue(s.into())) })
    }

    #[test]
    fn finds_the_tenant_in_a_line() {
        let p = TenantProcessor { config: TenantConfig::default(), tenant: None };
        assert_eq!(p.find_tenant("serving tenant=acme now"), Some("acme"));
        assert_eq!(p.find_tenant("{\"msg\":\"x\",\"tenant=globex\"}"), Some("globex"));
        assert_eq!(p.find_tenant("tenant=initech;"), Some("initech"));
        assert_eq!(p.find_tenant("tenant= nobody"), None);
        assert_eq!(p.find_tenant("no marker"), None);
    }

    #[test]
    fn spans_carry_the_tenant_logged_in_the_same_flush() {
        let registry = Registry::builtin().with_processor::<TenantProcessor>();
        let yaml = "receivers:\n  telemetryapi:\nprocessors:\n  tenant:\n    attribute: tenant\nexporters:\n  debug:\nservice:\n  pipelines:\n    traces: {receivers: [telemetryapi], processors: [tenant], exporters: [debug]}\n    logs: {receivers: [telemetryapi], processors: [tenant], exporters: [debug]}\n";
        let config = lambdatel_config::parse(yaml, None, &|_| None).unwrap();
        let mut graph = registry.build_graph(&config).unwrap();

        let spans = vec![ResourceSpans {
            scope_spans: vec![ScopeSpans { spans: vec![Span::default()], ..Default::default() }],
            ..Default::default()
        }];
        let record = |body: &str| LogRecord { body: text(body), ..Default::default() };
        let logs = |lines: &[&str]| {
            vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records: lines.iter().map(|l| record(l)).collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }]
        };
        let tenants = |graph: &mut lambdatel_components::Graph, lines: &[&str]| {
            let flush = Signals { spans: spans.clone(), logs: logs(lines), ..Default::default() };
            let mut found = Vec::new();
            for (_, data) in graph.process(0, flush) {
                let attributes =
                    data.spans.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans).map(|s| &s.attributes);
                let log_attributes =
                    data.logs.iter().flat_map(|r| &r.scope_logs).flat_map(|s| &s.log_records).map(|r| &r.attributes);
                for attributes in attributes.chain(log_attributes) {
                    found.push(attributes.first().map(|kv| (kv.key.clone(), kv.value.clone())));
                }
            }
            found
        };
        let acme = Some(("tenant".to_string(), text("acme")));
        assert_eq!(tenants(&mut graph, &["starting"]), vec![None, None], "no tenant known yet");
        // The span of the flush that logs the tenant already carries it, as does every log record.
        assert_eq!(tenants(&mut graph, &["starting", "tenant=acme", "done"]), vec![acme.clone(); 4]);
        // A later flush without a tenant line keeps it.
        assert_eq!(tenants(&mut graph, &["order placed"]), vec![acme.clone(); 2]);
        let globex = Some(("tenant".to_string(), text("globex")));
        assert_eq!(tenants(&mut graph, &["tenant=globex"]), vec![globex; 2]);
    }

    #[test]
    fn config_errors_name_the_processor() {
        let registry = Registry::builtin().with_processor::<TenantProcessor>();
        let id = ComponentId::parse("tenant/x").unwrap();
        let build = |yaml: &str| {
            let settings = ComponentConfig::from_yaml("processors.tenant/x", yaml, &|_| None).unwrap();
            registry.build_processor(&id, &settings).err().map(|e| e.to_string())
        };
        assert_eq!(
            build("marker: ''").as_deref(),
            Some("<config>:1:1: processors.tenant/x.marker: marker must not be empty")
        );
        assert_eq!(
            build("atribute: x").as_deref(),
            Some("<config>:1:1: processors.tenant/x.atribute: unknown field `atribute`, expected `marker` or `attribute`")
        );
    }
}
