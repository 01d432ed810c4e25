//! A custom lambdatel processor, `tenant`: it reads the tenant id from the function's log lines (for
//! example `tenant=acme`, logged when the function learns whom it serves) and adds it as an attribute to
//! every log record and span processed afterwards.
//!
//! It shows the three things a custom processor needs: a config type read from the YAML by the
//! processor's type name, an implementation of [`Processor`] for the signals it changes, and an
//! implementation of [`ProcessorFactory`] to register it with
//! `lambdatel::main_with(Registry::builtin().with_processor::<TenantProcessor>())`.
//!
//! Each pipeline gets its own processor instance, so the instance in the logs pipeline shares what it
//! learns with the one in the traces pipeline through process-wide state. Within one Telemetry API
//! batch spans are processed before logs, so a span is tagged once the tenant has been seen in an
//! earlier batch: in practice from the invocation after the one that logged it (lambdatel flushes
//! between invocations). A function serving a different tenant on each invocation would need a
//! per-invocation key instead (`faas.invocation_id`) and a way to hold spans back, which this example
//! does not attempt.
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

use std::sync::Mutex;

use lambdatel::{Processor, ProcessorFactory};
use lambdatel_pipeline::{
    common::{any_value::Value, AnyValue, KeyValue},
    logs::ResourceLogs,
    trace::ResourceSpans,
};
use serde::Deserialize;

/// The tenant id last seen in a log line, shared by every `tenant` processor instance of the process.
static TENANT: Mutex<Option<String>> = Mutex::new(None);

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
        attributes.push(KeyValue {
            key: self.config.attribute.clone(),
            value: Some(AnyValue { value: Some(Value::StringValue(tenant.to_owned())) }),
            ..Default::default()
        });
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
    fn process_traces(&mut self, batch: &mut Vec<ResourceSpans>) {
        let Some(tenant) = TENANT.lock().unwrap_or_else(|e| e.into_inner()).clone() else { return };
        for span in batch.iter_mut().flat_map(|r| &mut r.scope_spans).flat_map(|s| &mut s.spans) {
            self.tag(&mut span.attributes, &tenant);
        }
    }

    fn process_logs(&mut self, batch: &mut Vec<ResourceLogs>) {
        let mut known = TENANT.lock().unwrap_or_else(|e| e.into_inner());
        for record in batch.iter_mut().flat_map(|r| &mut r.scope_logs).flat_map(|s| &mut s.log_records) {
            if let Some(found) = record.body.as_ref().and_then(body_text).and_then(|line| self.find_tenant(line)) {
                *known = Some(found.to_owned());
            }
            if let Some(tenant) = known.as_deref() {
                self.tag(&mut record.attributes, tenant);
            }
        }
    }
}

impl ProcessorFactory for TenantProcessor {
    const TYPE: &'static str = "tenant";
    type Config = TenantConfig;

    fn validate(config: &TenantConfig) -> Result<(), String> {
        if config.marker.is_empty() {
            return Err("marker must not be empty".into());
        }
        if config.attribute.is_empty() {
            return Err("attribute must not be empty".into());
        }
        Ok(())
    }

    fn create(config: TenantConfig) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(TenantProcessor { config })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambdatel::Registry;
    use lambdatel_config::{ComponentConfig, ComponentId};
    use lambdatel_pipeline::{
        logs::{LogRecord, ScopeLogs},
        trace::{ScopeSpans, Span},
    };

    fn text(s: &str) -> Option<AnyValue> {
        Some(AnyValue { value: Some(Value::StringValue(s.into())) })
    }

    #[test]
    fn finds_the_tenant_in_a_line() {
        let p = TenantProcessor { config: TenantConfig::default() };
        assert_eq!(p.find_tenant("serving tenant=acme now"), Some("acme"));
        assert_eq!(p.find_tenant("{\"msg\":\"x\",\"tenant=globex\"}"), Some("globex"));
        assert_eq!(p.find_tenant("tenant=initech;"), Some("initech"));
        assert_eq!(p.find_tenant("tenant= nobody"), None);
        assert_eq!(p.find_tenant("no marker"), None);
    }

    // One test drives the process-wide state, so tests cannot interfere with each other.
    #[test]
    fn logs_teach_the_tenant_to_spans_through_the_registry() {
        let registry = Registry::builtin().with_processor::<TenantProcessor>();
        let id = ComponentId::parse("tenant").unwrap();
        let settings = ComponentConfig::from_yaml("processors.tenant", "attribute: tenant", &|_| None).unwrap();
        let mut for_traces = registry.build_processor(&id, &settings).unwrap();
        let mut for_logs = registry.build_processor(&id, &settings).unwrap();

        let spans = || {
            vec![ResourceSpans {
                scope_spans: vec![ScopeSpans { spans: vec![Span::default()], ..Default::default() }],
                ..Default::default()
            }]
        };
        let mut before = spans();
        for_traces.process_traces(&mut before);
        assert!(before[0].scope_spans[0].spans[0].attributes.is_empty(), "no tenant known yet");

        let record = |body: &str| LogRecord { body: text(body), ..Default::default() };
        let mut logs = vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![record("starting"), record("tenant=acme"), record("done")],
                ..Default::default()
            }],
            ..Default::default()
        }];
        for_logs.process_logs(&mut logs);
        let tags: Vec<usize> = logs[0].scope_logs[0].log_records.iter().map(|r| r.attributes.len()).collect();
        assert_eq!(tags, vec![0, 1, 1]);
        assert_eq!(logs[0].scope_logs[0].log_records[2].attributes[0].key, "tenant");

        let mut after = spans();
        for_traces.process_traces(&mut after);
        let attributes = &after[0].scope_spans[0].spans[0].attributes;
        assert_eq!(attributes.len(), 1);
        assert_eq!((attributes[0].key.as_str(), attributes[0].value.clone()), ("tenant", text("acme")));
    }

    #[test]
    fn config_errors_name_the_processor() {
        let registry = Registry::builtin().with_processor::<TenantProcessor>();
        let id = ComponentId::parse("tenant/x").unwrap();
        let build = |yaml: &str| {
            let settings = ComponentConfig::from_yaml("processors.tenant/x", yaml, &|_| None).unwrap();
            registry.build_processor(&id, &settings).err().map(|e| e.to_string())
        };
        assert_eq!(build("marker: ''").as_deref(), Some("<config>:1:7: processors.tenant/x: marker must not be empty"));
        assert_eq!(
            build("atribute: x").as_deref(),
            Some("<config>:1:1: processors.tenant/x.atribute: unknown field `atribute`, expected `marker` or `attribute`")
        );
    }
}
