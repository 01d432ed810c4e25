//! Each processor on a log batch and on a trace batch, built from YAML through the registry exactly as the
//! extension builds them. Adding a processor to the bench is one line in `CASES`.

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use lambdatel_components::Registry;
use lambdatel_config::{ComponentConfig, ComponentId};
use lambdatel_pipeline::{logs::ResourceLogs, trace::ResourceSpans, Processor};

/// (processor type, its settings): a typical configuration of each processor.
const CASES: &[(&str, &str)] = &[
    ("batch", "send_batch_max_size: 8192"),
    ("decouple", ""),
    ("attributes", "actions: [{key: deployment.environment, action: insert, value: prod}, {key: faas.invocation_id, action: hash}, {pattern: '^user\\.', action: delete}]"),
    ("resource", "attributes: [{key: team, action: upsert, value: orders}, {key: cloud.account.id, action: delete}]"),
    ("filter", "logs: {exclude: {match_type: regexp, bodies: ['healthcheck']}}\nspans: {exclude: {match_type: strict, span_names: [ignored]}}"),
    ("probabilistic_sampler", "sampling_percentage: 25"),
    ("redaction", "allow_all_keys: true\nblocked_values: ['\\b\\d{4}[- ]?\\d{4}[- ]?\\d{4}[- ]?\\d{4}\\b']"),
    // Five statements, as in the OTTL engine's own bench; error_mode ignore so no batch is dropped.
    ("transform", "error_mode: ignore\nlog_statements:\n  - context: log\n    statements:\n      - set(severity_text, \"WARN\") where severity_number >= SEVERITY_NUMBER_WARN and severity_number < SEVERITY_NUMBER_ERROR\n      - delete_key(attributes, \"password\")\n      - set(attributes[\"env\"], \"prod\") where resource.attributes[\"service.name\"] == \"checkout\"\n      - replace_pattern(attributes[\"http.route\"], \"/\\\\d+\", \"/{id}\")\n      - truncate_all(attributes, 64)"),
    ("tail_sampling", "policies: [{name: errors, type: status_code, status_code: {status_codes: [ERROR]}}, {name: rest, type: probabilistic, probabilistic: {sampling_percentage: 10}}]"),
];

/// Splits the converter's single group into groups of `per_group` items, as several drains held by a
/// pipeline look before the batch processor merges them.
fn split<R, I: Clone>(
    group: &R,
    items: impl Fn(&R) -> &Vec<I>,
    with_items: impl Fn(&R, Vec<I>) -> R,
    per_group: usize,
) -> Vec<R> {
    items(group).chunks(per_group).map(|chunk| with_items(group, chunk.to_vec())).collect()
}

fn logs_input() -> Vec<ResourceLogs> {
    let logs = common::convert(&[common::full_log_batch()]).logs;
    split(
        &logs[0],
        |r| &r.scope_logs[0].log_records,
        |r, records| {
            let mut r = r.clone();
            r.scope_logs[0].log_records = records;
            r
        },
        100,
    )
}

fn traces_input() -> Vec<ResourceSpans> {
    let spans = common::convert(&[common::many_invocations(200)]).spans;
    split(
        &spans[0],
        |r| &r.scope_spans[0].spans,
        |r, items| {
            let mut r = r.clone();
            r.scope_spans[0].spans = items;
            r
        },
        20,
    )
}

fn processors(c: &mut Criterion) {
    let registry = Registry::builtin();
    let logs = logs_input();
    let traces = traces_input();
    let log_count = lambdatel_pipeline::log_count(&logs) as u64;
    let span_count = lambdatel_pipeline::span_count(&traces) as u64;
    for (type_name, yaml) in CASES {
        let id = ComponentId::parse(type_name).expect("a valid component id");
        let config = ComponentConfig::from_yaml(&format!("processors.{type_name}"), yaml, &|_| None)
            .unwrap_or_else(|e| panic!("{type_name}: {e}"));
        let mut processor = match registry.build_processor(&id, &config) {
            Ok(p) => p,
            // A type another build does not have yet: say so rather than fail the whole run.
            Err(e) => {
                eprintln!("processors/{type_name}: skipped: {e}");
                continue;
            }
        };
        let mut group = c.benchmark_group(format!("processors/{type_name}"));
        group.throughput(Throughput::Elements(log_count));
        group.bench_function("logs", |b| {
            b.iter_batched(
                || logs.clone(),
                |mut data| {
                    processor.process_logs(&mut data);
                    black_box(data)
                },
                BatchSize::SmallInput,
            )
        });
        group.throughput(Throughput::Elements(span_count));
        group.bench_function("traces", |b| {
            b.iter_batched(
                || traces.clone(),
                |mut data| {
                    processor.process_traces(&mut data);
                    black_box(data)
                },
                BatchSize::SmallInput,
            )
        });
        group.finish();
    }
    for type_name in registry.processor_types() {
        if !CASES.iter().any(|(t, _)| *t == type_name) {
            eprintln!("processors/{type_name}: not benchmarked: add it to CASES in benches/benches/processors.rs");
        }
    }
}

criterion_group! {
    name = benches;
    // Short runs: `cargo bench` must finish in minutes on a shared 2-core machine.
    config = Criterion::default().sample_size(20).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2));
    targets = processors
}
criterion_main!(benches);
