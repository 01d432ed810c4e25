//! Cost of a 5-statement transform over 1,000 log records (acceptance: at most 1 ms), with and without
//! a statement that builds strings, and of a filter condition over the same records. Each is measured
//! twice: wall time (`wall/...`) and the benchmark thread's CPU time (`cpu/...`), which other processes
//! on a busy machine do not inflate.

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use lambdatel_ottl::{Condition, ContextKind, LogContext, Statement};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::resource::v1::Resource;

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue { key: key.to_string(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

fn records() -> Vec<LogRecord> {
    (0..1000)
        .map(|n| LogRecord {
            severity_number: 9 + (n % 12) as i32,
            severity_text: "warning".into(),
            body: Some(AnyValue { value: Some(any_value::Value::StringValue(format!("request {n} done"))) }),
            attributes: vec![
                kv("env", any_value::Value::StringValue("staging".into())),
                kv("password", any_value::Value::StringValue("hunter2".into())),
                kv("http.route", any_value::Value::StringValue(format!("/api/users/{n}"))),
                kv("http.status_code", any_value::Value::IntValue(200 + (n % 4) * 100)),
                kv("message", any_value::Value::StringValue("x".repeat(50 + (n % 100) as usize))),
                kv("retries", any_value::Value::IntValue(n % 3)),
            ],
            ..Default::default()
        })
        .collect()
}

const WITH_STRING_BUILDING: [&str; 5] = [
    r#"set(severity_text, "WARN") where severity_number >= SEVERITY_NUMBER_WARN and severity_number < SEVERITY_NUMBER_ERROR"#,
    r#"delete_key(attributes, "password")"#,
    r#"set(attributes["env"], "prod") where resource.attributes["service.name"] == "checkout""#,
    r#"replace_pattern(attributes["http.route"], "/\\d+", "/{id}")"#,
    r#"truncate_all(attributes, 64)"#,
];

const WITHOUT_STRING_BUILDING: [&str; 5] = [
    WITH_STRING_BUILDING[0],
    WITH_STRING_BUILDING[1],
    WITH_STRING_BUILDING[2],
    r#"set(attributes["http.status_code"], 599) where attributes["http.status_code"] >= 500 and IsMatch(attributes["http.route"], "^/api/")"#,
    WITH_STRING_BUILDING[4],
];

fn run(statements: &[Statement], records: &mut [LogRecord], resource: &mut Resource, scope: &mut InstrumentationScope) {
    for log in records {
        for statement in statements {
            let mut context = LogContext { resource: &mut *resource, scope: &mut *scope, log };
            black_box(statement.execute(&mut context).expect("statement runs"));
        }
    }
}

/// CPU time of the calling thread, from `CLOCK_THREAD_CPUTIME_ID`.
struct ThreadCpuTime;

fn thread_cpu_nanos() -> u64 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid, writable timespec; the clock id is a constant Linux supports.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(status, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

static WALL_TIME: WallTime = WallTime;

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = Duration;

    fn start(&self) -> u64 {
        thread_cpu_nanos()
    }
    fn end(&self, start: u64) -> Duration {
        Duration::from_nanos(thread_cpu_nanos() - start)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        // Nanoseconds, printed as durations like wall time.
        WALL_TIME.formatter()
    }
}

fn wall(c: &mut Criterion) {
    transform(c, "wall");
}

fn cpu(c: &mut Criterion<ThreadCpuTime>) {
    transform(c, "cpu");
}

fn transform<M: Measurement + 'static>(c: &mut Criterion<M>, measurement: &str) {
    let input = records();
    let mut resource = Resource {
        attributes: vec![kv("service.name", any_value::Value::StringValue("checkout".into()))],
        ..Default::default()
    };
    let mut scope = InstrumentationScope::default();
    for (name, texts) in [
        ("transform_5_statements_1000_logs", WITH_STRING_BUILDING),
        ("transform_5_statements_1000_logs_no_string_building", WITHOUT_STRING_BUILDING),
    ] {
        let statements: Vec<Statement> =
            texts.iter().map(|text| Statement::parse(text, Some(ContextKind::Log)).expect("parses")).collect();
        c.bench_function(&format!("{measurement}/{name}"), |b| {
            b.iter_batched_ref(
                || input.clone(),
                |records| run(&statements, records, &mut resource, &mut scope),
                BatchSize::LargeInput,
            )
        });
    }

    let condition = Condition::parse(
        r#"severity_number >= SEVERITY_NUMBER_ERROR or (attributes["http.status_code"] >= 500 and IsMatch(attributes["http.route"], "^/api/"))"#,
        Some(ContextKind::Log),
    )
    .expect("parses");
    let mut records = input.clone();
    c.bench_function(&format!("{measurement}/filter_condition_1000_logs"), |b| {
        b.iter(|| {
            let mut kept = 0usize;
            for log in &mut records {
                let mut context = LogContext { resource: &mut resource, scope: &mut scope, log };
                kept += usize::from(!condition.evaluate(&mut context).expect("evaluates"));
            }
            black_box(kept)
        })
    });
}

criterion_group!(wall_time, wall);
criterion_group! {
    name = cpu_time;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = cpu
}
criterion_main!(wall_time, cpu_time);
