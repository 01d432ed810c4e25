//! Evaluation allocates nothing per record for statements that build no string: reads borrow, literals
//! are written into existing buffers, map edits work in place. Counted with a per-thread allocator.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::*;
use lambdatel_ottl::{Condition, ContextKind, LogContext, Statement};
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::resource::v1::Resource;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(work: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    work();
    ALLOCATIONS.with(Cell::get) - before
}

fn record(n: usize) -> LogRecord {
    LogRecord {
        severity_number: 13 + (n % 8) as i32,
        severity_text: "warning".into(),
        attributes: attrs(vec![
            ("env", s("staging")),
            ("password", s("hunter2")),
            ("http.route", s("/api/users/list")),
            ("http.status_code", i(500 + (n % 5) as i64)),
            ("message", s(&"x".repeat(100))),
            ("a", i(1)),
            ("b", i(2)),
            ("c", i(3)),
        ]),
        ..Default::default()
    }
}

const STATEMENTS: [&str; 8] = [
    r#"set(severity_text, "WARN") where severity_number >= SEVERITY_NUMBER_WARN and severity_number < SEVERITY_NUMBER_ERROR"#,
    r#"delete_key(attributes, "password")"#,
    r#"set(attributes["env"], "prod") where resource.attributes["service.name"] == "checkout""#,
    r#"set(attributes["http.status_code"], 599) where attributes["http.status_code"] >= 503"#,
    r#"replace_pattern(attributes["http.route"], "/\\d+", "/{id}")"#,
    r#"truncate_all(attributes, 64)"#,
    r#"limit(attributes, 6, ["env"])"#,
    r#"keep_matching_keys(attributes, "^(env|http\\..*|message|a|b)$") where IsMatch(attributes["http.route"], "^/api")"#,
];

#[test]
fn statements_without_string_building_allocate_nothing_per_record() {
    let statements: Vec<Statement> =
        STATEMENTS.iter().map(|text| Statement::parse(text, Some(ContextKind::Log)).unwrap()).collect();
    let mut resource = Resource { attributes: attrs(vec![("service.name", s("checkout"))]), ..Default::default() };
    let mut scope = InstrumentationScope::default();
    let mut records: Vec<LogRecord> = (0..200).map(record).collect();
    // The regex engines' per-thread caches fill on first use; that is per process, not per record.
    let mut warm_up = record(0);
    for statement in &statements {
        statement.execute(&mut LogContext { resource: &mut resource, scope: &mut scope, log: &mut warm_up }).unwrap();
    }

    let count = allocations_during(|| {
        for log in &mut records {
            for statement in &statements {
                statement.execute(&mut LogContext { resource: &mut resource, scope: &mut scope, log }).unwrap();
            }
        }
    });
    assert_eq!(count, 0);

    // The statements did their work.
    let first = &records[0];
    assert_eq!(first.severity_text, "WARN");
    assert_eq!(
        pairs(&first.attributes),
        expect_pairs(vec![
            ("env", s("prod")),
            ("http.route", s("/api/users/list")),
            ("http.status_code", i(500)),
            ("message", s(&"x".repeat(64))),
            ("a", i(1)),
            ("b", i(2)),
        ])
    );
    assert_eq!(records[3].attributes[2].value, Some(i(599)));
    assert_eq!(records[5].severity_text, "warning", "severity 18 is ERROR2, left alone");
}

#[test]
fn conditions_allocate_nothing() {
    let conditions: Vec<Condition> = [
        r#"attributes["http.route"] == "/api/users/list" and not (severity_number < 13)"#,
        r#"IsMatch(attributes["http.route"], "^/api/") or attributes["missing"] != nil"#,
        r#"attributes["http.status_code"] >= 500.0 and Len(attributes["message"]) > 10"#,
        r#"IsString(attributes["env"]) and Substring(attributes["env"], 0, 3) == "sta""#,
    ]
    .iter()
    .map(|text| Condition::parse(text, Some(ContextKind::Log)).unwrap())
    .collect();
    let mut resource = Resource::default();
    let mut scope = InstrumentationScope::default();
    let mut log = record(0);
    let mut results = Vec::new();
    for condition in &conditions {
        results.push(
            condition.evaluate(&mut LogContext { resource: &mut resource, scope: &mut scope, log: &mut log }).unwrap(),
        );
    }
    assert_eq!(results, [true, true, true, true]);
    let count = allocations_during(|| {
        for _ in 0..100 {
            for condition in &conditions {
                let mut context = LogContext { resource: &mut resource, scope: &mut scope, log: &mut log };
                assert!(condition.evaluate(&mut context).unwrap());
            }
        }
    });
    assert_eq!(count, 0);
}

#[test]
fn string_building_allocates_only_when_it_changes_something() {
    let statement =
        Statement::parse(r#"replace_pattern(attributes["http.route"], "/\\d+", "/{id}")"#, Some(ContextKind::Log))
            .unwrap();
    let (mut resource, mut scope) = (Resource::default(), InstrumentationScope::default());
    // The regex's per-thread cache grows to the longest value searched so far: warm it up first.
    let mut warm_up = log_with(vec![("http.route", s(&"/api/users".repeat(10)))]);
    statement.execute(&mut LogContext { resource: &mut resource, scope: &mut scope, log: &mut warm_up }).unwrap();
    let mut log = log_with(vec![("http.route", s("/api/users/42"))]);
    let count = allocations_during(|| {
        statement.execute(&mut LogContext { resource: &mut resource, scope: &mut scope, log: &mut log }).unwrap();
    });
    assert!(count > 0);
    assert_eq!(pairs(&log.attributes), expect_pairs(vec![("http.route", s("/api/users/{id}"))]));
    let count = allocations_during(|| {
        statement.execute(&mut LogContext { resource: &mut resource, scope: &mut scope, log: &mut log }).unwrap();
    });
    assert_eq!(count, 0, "no match, no allocation");
}
