//! Parsing never panics: arbitrary text, and every prefix of valid statements, give a statement or an
//! error; a parsed statement runs on an empty log record without panicking.

use lambdatel_ottl::{Condition, ContextKind, LogContext, Statement};
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::resource::v1::Resource;
use proptest::prelude::*;

const VALID: [&str; 6] = [
    r#"set(attributes["a"]["b"], Concat([body, "x"], "-")) where severity_number >= SEVERITY_NUMBER_WARN"#,
    r#"replace_pattern(body, "(\\d+)", "$1", SHA256, "id:%s") where IsMatch(body, "^a") or not (1 < 2.5)"#,
    r#"flatten(attributes, "p", depth = 2, resolveConflicts = true)"#,
    r#"limit(attributes, 2, ["k"]) where attributes["x"] != nil and trace_id == TraceID(0x0102030405060708090a0b0c0d0e0f10)"#,
    r#"set(attributes["l"], Split(ParseJSON("{\"a\":\"b,c\"}")["a"], ","))"#,
    r#"set(log.attributes["x"], resource.attributes["y"])"#,
];

fn run_on_empty_log(statement: &Statement) {
    let (mut resource, mut scope, mut log) =
        (Resource::default(), InstrumentationScope::default(), LogRecord::default());
    let _ = statement.execute(&mut LogContext { resource: &mut resource, scope: &mut scope, log: &mut log });
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,80}") {
        let _ = Statement::parse(&text, Some(ContextKind::Log));
        let _ = Statement::parse(&text, None);
        let _ = Condition::parse(&text, Some(ContextKind::Span));
    }

    #[test]
    fn statement_like_text_never_panics(text in r#"[a-zA-Z_\[\]\(\)" ,.=<>!0-9x\\-]{0,60}"#) {
        if let Ok(statement) = Statement::parse(&text, Some(ContextKind::Log)) {
            run_on_empty_log(&statement);
        }
        let _ = Condition::parse(&text, None);
    }

    #[test]
    fn truncated_and_spliced_statements_never_panic(which in 0..VALID.len(), cut in 0usize..200, other in 0..VALID.len(), at in 0usize..200) {
        let text = VALID[which];
        let cut = cut.min(text.len());
        let spliced = format!("{}{}", &text[..cut], &VALID[other][at.min(VALID[other].len())..]);
        for candidate in [&text[..cut], spliced.as_str()] {
            if let Ok(statement) = Statement::parse(candidate, Some(ContextKind::Log)) {
                run_on_empty_log(&statement);
            }
        }
    }
}

#[test]
fn the_valid_statements_parse_and_run() {
    for text in VALID {
        let statement = Statement::parse(text, Some(ContextKind::Log)).unwrap_or_else(|e| panic!("{e}"));
        run_on_empty_log(&statement);
    }
}
