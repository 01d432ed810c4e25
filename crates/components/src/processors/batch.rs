//! The `batch` processor: the pipeline's buffer.
//!
//! Inside Lambda a wall-clock timer means nothing (the sandbox is frozen between invocations), so batches
//! are released at Lambda's flush points, not on timers. What the processor does is make requests fewer and
//! larger: it merges data that share a resource and scope into one group, and it bounds the size of each
//! export request (`send_batch_max_size`). The Collector's `timeout` key is accepted for compatibility.

use std::time::Duration;

use lambdatel_config::{ComponentConfig, ConfigError};
use lambdatel_pipeline::{logs::ResourceLogs, metrics::ResourceMetrics, trace::ResourceSpans, Processor};
use serde::Deserialize;

use crate::ProcessorFactory;

/// Configuration of the `batch` processor, with the Collector's keys.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BatchConfig {
    /// Accepted for Collector compatibility; sizes only matter through `send_batch_max_size` here, since
    /// everything held is sent at each flush point.
    pub send_batch_size: usize,
    /// Most items (spans, data points or log records) in one export request; 0 means no limit.
    pub send_batch_max_size: usize,
    /// Accepted for Collector compatibility and ignored: timers do not run in a frozen sandbox.
    #[serde(with = "lambdatel_config::duration_serde")]
    pub timeout: Duration,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig { send_batch_size: 8192, send_batch_max_size: 0, timeout: Duration::from_millis(200) }
    }
}

impl BatchConfig {
    /// Checks the sizes against each other.
    pub fn validate(&self) -> Result<(), String> {
        if self.send_batch_max_size != 0 && self.send_batch_max_size < self.send_batch_size {
            return Err(format!(
                "send_batch_max_size ({}) must be 0 or at least send_batch_size ({})",
                self.send_batch_max_size, self.send_batch_size
            ));
        }
        Ok(())
    }
}

/// The `batch` processor: merges groups with the same resource and scope and bounds export requests.
#[derive(Debug, Clone)]
pub struct BatchProcessor {
    config: BatchConfig,
}

impl ProcessorFactory for BatchProcessor {
    const TYPE: &'static str = "batch";
    type Config = BatchConfig;

    fn validate(config: &BatchConfig, at: &ComponentConfig) -> Result<(), ConfigError> {
        config.validate().map_err(|message| at.error(message))
    }

    fn create(config: BatchConfig, _at: &ComponentConfig) -> Result<Self, ConfigError> {
        Ok(BatchProcessor::new(config))
    }

    fn max_request_items(&self) -> Option<usize> {
        (self.config.send_batch_max_size > 0).then_some(self.config.send_batch_max_size)
    }
}

impl BatchProcessor {
    /// A batch processor with these settings.
    pub fn new(config: BatchConfig) -> Self {
        BatchProcessor { config }
    }
}

impl Processor for BatchProcessor {
    fn process_traces(&mut self, spans: &mut Vec<ResourceSpans>) {
        merge(spans, |r| &r.resource, |r| &mut r.scope_spans, |s| &s.scope, |s| &mut s.spans);
    }

    fn process_metrics(&mut self, metrics: &mut Vec<ResourceMetrics>) {
        merge(metrics, |r| &r.resource, |r| &mut r.scope_metrics, |s| &s.scope, |s| &mut s.metrics);
    }

    fn process_logs(&mut self, logs: &mut Vec<ResourceLogs>) {
        merge(logs, |r| &r.resource, |r| &mut r.scope_logs, |s| &s.scope, |s| &mut s.log_records);
    }
}

/// Folds groups with equal resource (and, within them, equal scope) into the first such group, keeping
/// the order in which items arrived. Resources are few, so a linear search beats hashing them.
fn merge<R, S, Res: PartialEq, Scope: PartialEq, Item>(
    groups: &mut Vec<R>,
    resource: impl Fn(&R) -> &Res,
    scopes: impl Fn(&mut R) -> &mut Vec<S>,
    scope: impl Fn(&S) -> &Scope,
    items: impl Fn(&mut S) -> &mut Vec<Item>,
) {
    if groups.len() < 2 && groups.first_mut().is_none_or(|g| scopes(g).len() < 2) {
        return;
    }
    let mut merged: Vec<R> = Vec::with_capacity(groups.len());
    for mut group in groups.drain(..) {
        let target = match merged.iter().position(|m| resource(m) == resource(&group)) {
            Some(i) => &mut merged[i],
            None => {
                let incoming = std::mem::take(scopes(&mut group));
                merged.push(group);
                let last = merged.last_mut().expect("just pushed");
                for s in incoming {
                    push_scope(scopes(last), s, &scope, &items);
                }
                continue;
            }
        };
        for s in std::mem::take(scopes(&mut group)) {
            push_scope(scopes(target), s, &scope, &items);
        }
    }
    *groups = merged;
}

fn push_scope<S, Scope: PartialEq, Item>(
    into: &mut Vec<S>,
    mut incoming: S,
    scope: &impl Fn(&S) -> &Scope,
    items: &impl Fn(&mut S) -> &mut Vec<Item>,
) {
    match into.iter_mut().find(|s| scope(s) == scope(&incoming)) {
        Some(existing) => {
            let moved = std::mem::take(items(&mut incoming));
            items(existing).extend(moved);
        }
        None => into.push(incoming),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambdatel_pipeline::{
        common::{any_value::Value, AnyValue, InstrumentationScope, KeyValue},
        resource::Resource,
        trace::{ScopeSpans, Span},
    };

    fn resource(name: &str) -> Option<Resource> {
        Some(Resource {
            attributes: vec![KeyValue {
                key: "service.name".into(),
                value: Some(AnyValue { value: Some(Value::StringValue(name.into())) }),
                ..Default::default()
            }],
            ..Default::default()
        })
    }

    fn group(service: &str, scope: &str, spans: &[&str]) -> ResourceSpans {
        ResourceSpans {
            resource: resource(service),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope { name: scope.into(), ..Default::default() }),
                spans: spans.iter().map(|n| Span { name: n.to_string(), ..Default::default() }).collect(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn names(groups: &[ResourceSpans]) -> Vec<Vec<(String, Vec<String>)>> {
        groups
            .iter()
            .map(|g| {
                g.scope_spans
                    .iter()
                    .map(|s| (s.scope.as_ref().unwrap().name.clone(), s.spans.iter().map(|s| s.name.clone()).collect()))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn merges_equal_resources_and_scopes_in_arrival_order() {
        let mut spans = vec![
            group("a", "lambdatel", &["1"]),
            group("b", "sdk", &["2"]),
            group("a", "sdk", &["3"]),
            group("a", "lambdatel", &["4", "5"]),
        ];
        BatchProcessor::new(BatchConfig::default()).process_traces(&mut spans);
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[0].resource, resource("a"));
        assert_eq!(
            names(&spans),
            vec![
                vec![
                    ("lambdatel".to_string(), vec!["1".to_string(), "4".into(), "5".into()]),
                    ("sdk".to_string(), vec!["3".to_string()])
                ],
                vec![("sdk".to_string(), vec!["2".to_string()])],
            ]
        );
    }

    #[test]
    fn max_size_must_not_undercut_batch_size() {
        let config = BatchConfig { send_batch_size: 100, send_batch_max_size: 10, ..BatchConfig::default() };
        assert_eq!(
            config.validate().unwrap_err(),
            "send_batch_max_size (10) must be 0 or at least send_batch_size (100)"
        );
        assert_eq!(BatchProcessor::new(BatchConfig::default()).max_request_items(), None);
    }
}
