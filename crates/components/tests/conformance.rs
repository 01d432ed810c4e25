//! One conformance test over every registered component, built-in or not: a component registered
//! without meeting it fails here.
//!
//! For each type: its default config either builds or fails with an error located at the component's
//! key; its `EXAMPLE` config builds; processors pass an empty batch through as empty and never add items
//! to a full one (all three signals, after seeing the whole flush); exporters return from an empty and a
//! full export of every signal within the deadline, twice (the second as a final flush after the first
//! gave up), whether or not a backend answers.

use std::time::Duration;

use lambdatel_components::{Kind, Registry};
use lambdatel_config::{ComponentConfig, ComponentId};
use lambdatel_pipeline::{
    common::{any_value::Value, AnyValue},
    logs::{LogRecord, ResourceLogs, ScopeLogs},
    metrics::{metric::Data, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics},
    trace::{ResourceSpans, ScopeSpans, Span},
    Attempts, Export, FlushView, Processor, Signals, SIGNALS,
};
use tokio::time::Instant;

const KINDS: [Kind; 3] = [Kind::Receiver, Kind::Processor, Kind::Exporter];

fn full_batch() -> Signals {
    let text = |s: &str| Some(AnyValue { value: Some(Value::StringValue(s.into())) });
    let span = |t: u8| Span { trace_id: vec![t; 16], span_id: vec![t; 8], name: format!("s{t}"), ..Default::default() };
    let point = |v: f64| NumberDataPoint {
        value: Some(lambdatel_pipeline::metrics::number_data_point::Value::AsDouble(v)),
        ..Default::default()
    };
    Signals {
        spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans { spans: vec![span(1), span(2)], ..Default::default() }],
            ..Default::default()
        }],
        metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "m".into(),
                    data: Some(Data::Gauge(Gauge { data_points: vec![point(1.0), point(2.0)] })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
        logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    LogRecord { body: text("one"), trace_id: vec![1; 16], ..Default::default() },
                    LogRecord { body: text("two"), severity_number: 17, ..Default::default() },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn settings(kind: Kind, type_name: &str, yaml: &str) -> (ComponentId, ComponentConfig) {
    let key = format!("{}s.{type_name}", kind.as_str());
    let config = ComponentConfig::from_yaml(&key, yaml, &|_| None)
        .unwrap_or_else(|e| panic!("{key}: the example config does not parse: {e}"));
    (ComponentId::parse(type_name).unwrap(), config)
}

fn build(registry: &Registry, kind: Kind, id: &ComponentId, config: &ComponentConfig) -> Result<(), String> {
    let result = match kind {
        Kind::Receiver => registry.build_receiver(id, config).map(drop),
        Kind::Processor => registry.build_processor(id, config).map(drop),
        Kind::Exporter => registry.build_exporter(id, config).map(drop),
    };
    result.map_err(|e| e.to_string())
}

/// Checks every component of `registry`; returns one line per failure.
async fn check(registry: &Registry) -> Vec<String> {
    let mut failures = Vec::new();
    for kind in KINDS {
        for type_name in registry.types(kind) {
            let key = format!("{}s.{type_name}", kind.as_str());
            let (id, default) = settings(kind, type_name, "");
            if let Err(error) = build(registry, kind, &id, &default) {
                if !error.contains(&format!(": {key}")) {
                    failures.push(format!("{key}: the default config's error does not name the component: {error}"));
                }
            }
            let example = registry.example(kind, type_name).unwrap();
            let (_, example) = settings(kind, type_name, example);
            if let Err(error) = build(registry, kind, &id, &example) {
                failures.push(format!("{key}: the example config does not build: {error}"));
                continue;
            }
            match kind {
                Kind::Receiver => {}
                Kind::Processor => failures.extend(check_processor(registry, &key, &id, &example)),
                Kind::Exporter => failures.extend(check_exporter(registry, &key, &id, &example).await),
            }
        }
    }
    failures
}

fn check_processor(registry: &Registry, key: &str, id: &ComponentId, config: &ComponentConfig) -> Vec<String> {
    let mut failures = Vec::new();
    let mut processor = registry.build_processor(id, config).unwrap();
    let mut empty = Signals::default();
    let no_drops: Vec<Vec<u8>> = Vec::new();
    processor.observe_flush(&FlushView::new(&[], &[], &no_drops));
    processor.process_traces(&mut empty.spans);
    processor.process_metrics(&mut empty.metrics);
    processor.process_logs(&mut empty.logs);
    if !empty.is_empty() {
        failures.push(format!("{key}: an empty batch came out with items: {empty:?}"));
    }
    let flush = [(0, full_batch())];
    let mut full = full_batch();
    processor.observe_flush(&FlushView::new(&flush, &[], &no_drops));
    processor.process_traces(&mut full.spans);
    processor.process_metrics(&mut full.metrics);
    processor.process_logs(&mut full.logs);
    for signal in SIGNALS {
        if full.count(signal) > flush[0].1.count(signal) {
            failures.push(format!("{key}: {signal} grew from {} to {}", flush[0].1.count(signal), full.count(signal)));
        }
    }
    failures
}

async fn check_exporter(registry: &Registry, key: &str, id: &ComponentId, config: &ComponentConfig) -> Vec<String> {
    let mut failures = Vec::new();
    let exporter = registry.build_exporter(id, config).unwrap();
    for round in ["first", "final"] {
        for data in [Signals::default(), full_batch()] {
            for signal in SIGNALS {
                let deadline = Instant::now() + Duration::from_millis(300);
                let _ = exporter.export(signal, &data, Attempts::until(deadline)).await;
                // Connection set-up is bounded separately (2 s); past that, the deadline was ignored.
                if Instant::now() > deadline + Duration::from_secs(3) {
                    failures.push(format!("{key}: the {round} export of {signal} overran its deadline"));
                }
            }
        }
    }
    failures
}

#[tokio::test]
async fn every_builtin_component_conforms() {
    let registry = Registry::builtin();
    for kind in KINDS {
        assert!(!registry.types(kind).is_empty(), "no {} registered", kind.as_str());
    }
    assert_eq!(check(&registry).await, Vec::<String>::new());
}

#[test]
fn a_type_registered_twice_is_refused() {
    use lambdatel_components::{processors::DecoupleProcessor, ProcessorFactory};
    use lambdatel_config::{ComponentConfig as At, ConfigError};

    /// A user's processor that reuses a built-in's name.
    struct Batch;
    impl Processor for Batch {}
    impl ProcessorFactory for Batch {
        const TYPE: &'static str = "batch";
        type Config = <DecoupleProcessor as ProcessorFactory>::Config;
        fn create(_: Self::Config, _: &At) -> Result<Self, ConfigError> {
            Ok(Batch)
        }
    }
    let registry = Registry::builtin().with_processor::<Batch>();
    let errors: Vec<String> = registry.registration_errors().iter().map(ToString::to_string).collect();
    assert_eq!(
        errors,
        ["<config>: processor type \"batch\" is registered twice: a type name cannot be reused (rename the custom one)"]
    );
    let yaml = "receivers:\n  telemetryapi:\nexporters:\n  debug:\nservice:\n  pipelines:\n    logs: {receivers: [telemetryapi], exporters: [debug]}\n";
    let config = lambdatel_config::parse(yaml, None, &|_| None).unwrap();
    let refused = registry.build_graph(&config).err().expect("a registry with a duplicate builds no graph");
    assert_eq!(refused.to_string(), errors[0]);
}
