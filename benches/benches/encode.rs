//! OTLP encoding of export requests as the exporters send them: prost protobuf, without and with gzip
//! (flate2 at its default level, as tonic's gzip codec uses).

mod common;

use std::hint::black_box;
use std::io::Write;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flate2::{write::GzEncoder, Compression};
use opentelemetry_proto::tonic::collector::{
    logs::v1::ExportLogsServiceRequest, metrics::v1::ExportMetricsServiceRequest, trace::v1::ExportTraceServiceRequest,
};
use prost::Message;

fn gzip(bytes: &[u8], out: Vec<u8>) -> Vec<u8> {
    let mut encoder = GzEncoder::new(out, Compression::default());
    encoder.write_all(bytes).expect("writing to a Vec cannot fail");
    encoder.finish().expect("writing to a Vec cannot fail")
}

fn bench_request<M: Message>(c: &mut Criterion, name: &str, items: u64, request: &M) {
    let plain = request.encode_to_vec();
    let zipped = gzip(&plain, Vec::new());
    // Sizes give the benches' numbers a scale (and show what gzip saves on the wire).
    eprintln!("{name}: {items} items, {} bytes protobuf, {} bytes gzipped", plain.len(), zipped.len());
    let mut group = c.benchmark_group(format!("encode/{name}"));
    group.throughput(Throughput::Elements(items));
    let mut buf = Vec::with_capacity(plain.len());
    group.bench_function("protobuf", |b| {
        b.iter(|| {
            buf.clear();
            black_box(request).encode(&mut buf).expect("a Vec grows");
            black_box(buf.len())
        })
    });
    let mut out = Vec::with_capacity(plain.len());
    group.bench_function("protobuf_gzip", |b| {
        b.iter(|| {
            buf.clear();
            black_box(request).encode(&mut buf).expect("a Vec grows");
            out.clear();
            out = gzip(&buf, std::mem::take(&mut out));
            black_box(out.len())
        })
    });
    group.finish();
}

fn encode(c: &mut Criterion) {
    let logs = common::convert(&[common::full_log_batch()]);
    let items = logs.log_count() as u64;
    bench_request(c, "logs_full_batch", items, &ExportLogsServiceRequest { resource_logs: logs.logs });

    let platform = common::convert(&[common::many_invocations(200)]);
    let points = platform.data_point_count() as u64;
    let items = platform.span_count() as u64;
    bench_request(c, "traces_200_invocations", items, &ExportTraceServiceRequest { resource_spans: platform.spans });
    bench_request(
        c,
        "metrics_200_invocations",
        points,
        &ExportMetricsServiceRequest { resource_metrics: platform.metrics },
    );
}

criterion_group! {
    name = benches;
    // Short runs: `cargo bench` must finish in minutes on a shared 2-core machine.
    config = Criterion::default().sample_size(20).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = encode
}
criterion_main!(benches);
