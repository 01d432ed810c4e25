//! Telemetry API batch parse + conversion to OTLP (`Converter::ingest` then `drain`), in records per
//! second, for platform-heavy and log-heavy batches; and the whole path of a log batch from the listener's
//! body to encoded OTLP request bytes (what the ≥ 200,000 records/s/core target is about).

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use lambdatel_components::processors::{BatchConfig, BatchProcessor};
use lambdatel_pipeline::Processor;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use prost::Message;

fn convert(c: &mut Criterion) {
    let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
        ("platform_heavy_fixtures", common::platform_heavy()),
        ("platform_heavy_200_invocations", vec![common::many_invocations(200)]),
        ("log_heavy_text_fixture", vec![common::log_heavy_text()]),
        ("log_heavy_json_fixture", vec![common::log_heavy_json()]),
        ("log_heavy_full_batch", vec![common::full_log_batch()]),
    ];
    let mut group = c.benchmark_group("convert");
    for (name, batches) in &cases {
        group.throughput(Throughput::Elements(batches.iter().map(|b| common::record_count(b)).sum()));
        // A fresh converter per iteration: the same batch fed twice would be taken for a retried POST.
        group.bench_function(*name, |b| {
            b.iter_batched(
                common::converter,
                |mut converter| {
                    for body in batches {
                        black_box(converter.ingest(black_box(body)));
                    }
                    converter.drain()
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn listener_to_encoded(c: &mut Criterion) {
    let body = common::full_log_batch();
    let mut group = c.benchmark_group("listener_to_encoded");
    group.throughput(Throughput::Elements(common::record_count(&body)));
    group.bench_function("log_heavy_full_batch", |b| {
        let mut batch = BatchProcessor::new(BatchConfig::default());
        let mut buf = Vec::with_capacity(512 * 1024);
        b.iter_batched(
            common::converter,
            |mut converter| {
                converter.ingest(black_box(&body));
                let mut signals = converter.drain();
                batch.process_logs(&mut signals.logs);
                buf.clear();
                ExportLogsServiceRequest { resource_logs: signals.logs }.encode(&mut buf).expect("a Vec grows");
                black_box(buf.len())
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group! {
    name = benches;
    // Short runs: `cargo bench` must finish in minutes on a shared 2-core machine.
    config = Criterion::default().sample_size(20).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = convert, listener_to_encoded
}
criterion_main!(benches);
