//! The grammar: statements as the transform and filter processors' configurations write them,
//! condition semantics (comparisons, nil, int/float, precedence), and the parse-time errors.

mod common;

use common::*;
use lambdatel_ottl::{Condition, ContextKind, SpanContext, Statement};
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{Span, Status};

fn span() -> Span {
    Span {
        name: "operationA".into(),
        kind: 1,
        trace_id: (1..=16).collect(),
        span_id: (1..=8).collect(),
        start_time_unix_nano: 100,
        end_time_unix_nano: 500,
        dropped_attributes_count: 1,
        status: Some(Status { code: 2, message: "boom".into() }),
        attributes: attrs(vec![
            ("http.method", s("get")),
            ("http.path", s("/health")),
            ("http.status_code", i(503)),
            ("ratio", d(0.5)),
            ("flag", b(true)),
            ("total", s("12")),
            ("m", map(vec![("a", i(1))])),
        ]),
        ..Default::default()
    }
}

fn resource() -> Resource {
    Resource { attributes: attrs(vec![("host.name", s("localhost"))]), ..Default::default() }
}

fn evaluate(condition: &str) -> bool {
    let condition = Condition::parse(condition, Some(ContextKind::Span)).unwrap_or_else(|e| panic!("{e}"));
    let (mut resource, mut scope, mut span) =
        (resource(), InstrumentationScope { name: "lib".into(), ..Default::default() }, span());
    condition
        .evaluate(&mut SpanContext { resource: &mut resource, scope: &mut scope, span: &mut span })
        .unwrap_or_else(|e| panic!("{}: {e}", condition.text()))
}

#[test]
fn conditions_evaluate_as_the_collector_does() {
    let table = [
        // From the filter processor's configurations.
        (r#"name == "operationA""#, true),
        (r#"attributes["http.method"] == "get" and attributes["http.path"] == "/health""#, true),
        (r#"resource.attributes["host.name"] == "localhost""#, true),
        (r#"kind == SPAN_KIND_INTERNAL"#, true),
        (r#"kind == SPAN_KIND_SERVER"#, false),
        (r#"status.code == STATUS_CODE_ERROR"#, true),
        (r#"status.message == "boom""#, true),
        (r#"IsMatch(name, "operation[AC]")"#, true),
        (r#"trace_id == TraceID(0x0102030405060708090a0b0c0d0e0f10)"#, true),
        (r#"span_id == SpanID(0x0102030405060708)"#, true),
        (r#"span_id == SpanID(0x0102030405060709)"#, false),
        (r#"trace_id.string == "0102030405060708090a0b0c0d0e0f10""#, true),
        (r#"span_id.string == "0102030405060708""#, true),
        (r#"dropped_attributes_count == 1"#, true),
        (r#"instrumentation_scope.name == "lib""#, true),
        (r#"scope.name == "lib""#, true),
        // nil: equal only to nil.
        (r#"attributes["doesnt exist"] == nil"#, true),
        (r#"attributes["doesnt exist"] != nil"#, false),
        (r#"attributes["http.method"] == nil"#, false),
        (r#"attributes["http.method"] != nil"#, true),
        (r#"nil == nil"#, true),
        (r#"attributes["doesnt exist"] < 1"#, false),
        (r#"attributes["doesnt exist"] >= 1"#, false),
        // Numbers compare across int and double.
        (r#"attributes["http.status_code"] >= 500"#, true),
        (r#"attributes["http.status_code"] > 503"#, false),
        (r#"attributes["http.status_code"] <= 503"#, true),
        (r#"attributes["http.status_code"] == 503.0"#, true),
        (r#"attributes["ratio"] < 1"#, true),
        (r#"attributes["ratio"] == 0.5"#, true),
        (r#"1 < 1.5"#, true),
        (r#"-1 < 0"#, true),
        // Strings order lexically; a string never equals a number.
        (r#""a" < "b""#, true),
        (r#""abc" >= "abd""#, false),
        (r#"attributes["total"] == 12"#, false),
        (r#"attributes["total"] != 12"#, true),
        (r#"attributes["total"] < 13"#, false),
        (r#"Int(attributes["total"]) == 12"#, true),
        // Booleans only (in)equal.
        (r#"attributes["flag"] == true"#, true),
        (r#"attributes["flag"] != false"#, true),
        (r#"attributes["flag"] > false"#, false),
        (r#"true"#, true),
        (r#"false"#, false),
        // Bytes order.
        (r#"0x01 < 0x02"#, true),
        (r#"0x0102 == 0x0102"#, true),
        // Maps compare by content.
        (r#"attributes["m"] == ParseJSON("{\"a\":1}")"#, false),
        (r#"attributes["m"] == attributes["m"]"#, true),
        // Precedence: not > and > or; parentheses.
        (r#"true or false and false"#, true),
        (r#"(true or false) and false"#, false),
        (r#"not false and false"#, false),
        (r#"not (false and false)"#, true),
        (r#"not name == "operationB""#, true),
        (r#"name == "x" or name == "y" or kind == 1"#, true),
        (r#"IsString(name) and not IsMap(name)"#, true),
    ];
    for (condition, expected) in table {
        assert_eq!(evaluate(condition), expected, "{condition}");
    }
}

#[test]
fn statements_from_the_collectors_configurations_parse() {
    let span_statements = [
        r#"set(name, "bear") where attributes["http.path"] == "/animal""#,
        r#"keep_keys(attributes, ["http.method", "http.path"])"#,
        r#"set(attributes["test"], "pass") where name == "operationA""#,
        r#"set(attributes["test"], "pass") where resource.attributes["host.name"] == "localhost""#,
        r#"set(status.code, STATUS_CODE_OK) where attributes["http.status_code"] < 400"#,
        r#"replace_pattern(name, "^(GET|POST) /users/\\d+", "$1 /users/{id}")"#,
        r#"set(attributes["summary"], Concat([name, attributes["http.method"]], " "))"#,
        r#"limit(attributes, 100, [])"#,
        r#"truncate_all(attributes, 4096)"#,
        r#"delete_matching_keys(attributes, "(?i).*password.*")"#,
        r#"set(attributes["env"], "prod") where attributes["env"] == nil"#,
        r#"set(kind, SPAN_KIND_SERVER) where name == "handler" and (kind == SPAN_KIND_INTERNAL or kind == SPAN_KIND_UNSPECIFIED)"#,
        r#"set(name, "op") where IsMatch(name, "op") == true"#,
        r#"merge_maps(attributes, ParseJSON("{}"), "insert")"#,
        r#"set(attributes["x"], Split(name, "A")[0])"#,
    ];
    for statement in span_statements {
        Statement::parse(statement, Some(ContextKind::Span)).unwrap_or_else(|e| panic!("{e}"));
    }
    let log_statements = [
        r#"set(body, "bear") where attributes["http.path"] == "/animal""#,
        r#"set(severity_text, "FAIL") where severity_number < SEVERITY_NUMBER_WARN"#,
        r#"merge_maps(attributes, ParseJSON(body), "upsert") where IsMatch(body, "^\\{")"#,
        r#"set(attributes["level"], body["level"]) where IsMap(body)"#,
        r#"flatten(attributes["parsed"], "p", depth = 2)"#,
        r#"set(trace_id.string, "0102030405060708090a0b0c0d0e0f10")"#,
    ];
    for statement in log_statements {
        Statement::parse(statement, Some(ContextKind::Log)).unwrap_or_else(|e| panic!("{e}"));
    }
    let datapoint_statements = [
        r#"set(metric.name, "bear") where attributes["http.path"] == "/animal""#,
        r#"set(attributes["type"], "sum") where metric.type == METRIC_DATA_TYPE_SUM"#,
        r#"set(value_double, 1.5) where value_double > 1000.0"#,
    ];
    for statement in datapoint_statements {
        Statement::parse(statement, Some(ContextKind::DataPoint)).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn parse_errors_name_what_is_wrong() {
    let span = Some(ContextKind::Span);
    let table = [
        (
            r#"set(name, "bear" where attributes["http.path"] == "/animal""#,
            span,
            "syntax error at offset 17: expected `)` or `,`, found `where`",
        ),
        (r#"not_a_function(attributes, "http.method", "http.path")"#, span, "unsupported function `not_a_function`"),
        (r#"set(attributes["x"], NotAConverter(1))"#, span, "unsupported function `NotAConverter`"),
        (r#"set(attributes["x"], 1) where NotAConverter(name)"#, span, "unsupported function `NotAConverter`"),
        (r#"set(attributes["x"], 1) where foo == 1"#, span, "unsupported path `foo` in context `span`"),
        (r#"set(attributes["x"], body)"#, span, "unsupported path `body` in context `span`"),
        (r#"set(attributes["x"], log.body)"#, span, "unsupported path `log.body` in context `span`"),
        (r#"set(attributes["x"], name["k"])"#, span, "unsupported path `name[\"k\"]` in context `span`"),
        (r#"set(kind, SPAN_KIND_NOPE)"#, span, "unknown enum `SPAN_KIND_NOPE`"),
        (r#"set(kind, SEVERITY_NUMBER_WARN)"#, span, "unknown enum `SEVERITY_NUMBER_WARN`"),
        (r#"set(attributes["x"], 1 + 2)"#, span, "syntax error at offset 23: expected `)` or `,`, found `+`"),
        (
            r#"set(attributes["x"], 1) where end_time_unix_nano - start_time_unix_nano > 0"#,
            span,
            "syntax error at offset 49: arithmetic (`-`) is not supported",
        ),
        (r#"set(attributes["x"], {"a": 1})"#, span, "syntax error at offset 21: map literals are not supported"),
        (r#"set("x", 1)"#, span, "`set`: the target must be a path"),
        (r#"set(attributes["x"])"#, span, "`set`: missing argument `value`"),
        (r#"set(attributes["x"], 1, 2)"#, span, "`set`: takes at most 2 arguments"),
        (r#"set(attributes["x"], value = 1, value = 2)"#, span, "`set`: argument `value` is given twice"),
        (r#"set(attributes["x"], valeu = 1)"#, span, "`set`: has no argument named `valeu`"),
        (
            r#"set(target = attributes["x"], 1)"#,
            span,
            "syntax error at offset 30: positional arguments must come before named ones",
        ),
        (
            r#"Concat(["a"], "")"#,
            span,
            "`Concat`: a statement calls an editor (such as `set`); converters only give values",
        ),
        (
            r#"set(attributes["x"], delete_key(attributes, "a"))"#,
            span,
            "`delete_key`: is an editor; only converters (capitalised names) return a value",
        ),
        (
            r#"set(attributes["x"], 1) where name"#,
            span,
            "syntax error at offset 30: expected a comparison, a boolean or a converter returning one",
        ),
        (
            r#"replace_pattern(name, "(", "y")"#,
            span,
            "`replace_pattern`: invalid regex `(`: regex parse error:\n    (\n    ^\nerror: unclosed group",
        ),
        (r#"delete_key(attributes, name)"#, span, "`delete_key`: `key` must be a string literal"),
        (r#"keep_keys(attributes, "a")"#, span, "`keep_keys`: `keys` must be a list of string literals"),
        (
            r#"replace_all_patterns(attributes, "both", "a", "b")"#,
            span,
            "`replace_all_patterns`: invalid mode `both`, expected `key` or `value`",
        ),
        (r#"replace_match(name, "[a", "b")"#, span, "`replace_match`: invalid glob pattern: unclosed `[`"),
        (
            r#"IsMatch(name, name)"#,
            span,
            "`IsMatch`: a statement calls an editor (such as `set`); converters only give values",
        ),
        (r#"set(name, 1) where IsMatch(name, name)"#, span, "`IsMatch`: `pattern` must be a string literal"),
        (r#"set(name, Concat(name, ""))"#, span, "`Concat`: `vals` must be a list such as `[a, b]`"),
        (r#"set(name, 1) trailing"#, span, "syntax error at offset 13: unexpected `trailing`"),
        (
            r#"set(attributes[name], 1)"#,
            span,
            "syntax error at offset 15: a key must be a string or an integer literal",
        ),
        (r#"set(attributes["x"], "unterminated)"#, span, "syntax error at offset 21: unterminated string"),
        (r#"set(type, 1)"#, Some(ContextKind::Metric), "path `type` is read-only"),
        (r#"set(value_int, 1)"#, Some(ContextKind::Metric), "unsupported path `value_int` in context `metric`"),
        (r#"set(span.name, "x")"#, Some(ContextKind::Log), "unsupported path `span.name` in context `log`"),
        (
            r#"set(attributes["x"], 1)"#,
            None,
            "cannot infer the context: path `attributes[\"x\"]` has no context prefix (such as `span.` or `resource.`)",
        ),
        (
            r#"set(span.name, "x") where log.body == "y""#,
            None,
            "cannot infer the context: paths of `span` and `log` cannot be used together",
        ),
        (
            r#"set(span.attributes["a"], 1) where spanevent.name == "e" and metric.name == "m""#,
            None,
            "cannot infer the context: paths of `spanevent` and `metric` cannot be used together",
        ),
    ];
    for (statement, context, expected) in table {
        assert_eq!(parse_error(statement, context), expected, "{statement}");
    }
    let error = Statement::parse("nope(attributes)", Some(ContextKind::Log)).err().unwrap();
    assert_eq!(error.to_string(), "unsupported function `nope` in `nope(attributes)`");
    assert_eq!(error.statement, "nope(attributes)");
    let error = Condition::parse("name ==", Some(ContextKind::Span)).err().unwrap();
    assert_eq!(error.to_string(), "syntax error at offset 7: expected a value, found the end in `name ==`");
}

#[test]
fn nesting_is_bounded_so_a_deep_statement_is_an_error_not_a_stack_overflow() {
    let span = Some(ContextKind::Span);
    let parens = |n: usize| format!("set(name, \"x\") where {}name == \"a\"{}", "(".repeat(n), ")".repeat(n));
    assert!(Statement::parse(&parens(60), span).is_ok());
    assert_eq!(parse_error(&parens(100_000), span), "syntax error at offset 85: nested more than 64 levels deep");
    let nots = format!("set(name, \"x\") where {}true", "not ".repeat(100_000));
    assert_eq!(parse_error(&nots, span), "syntax error at offset 277: nested more than 64 levels deep");
    let calls = format!("set(name, {}name{})", "ToLowerCase(".repeat(100_000), ")".repeat(100_000));
    assert_eq!(parse_error(&calls, span), "syntax error at offset 766: nested more than 64 levels deep");
    let lists = format!("set(attributes[\"x\"], {}1{})", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(parse_error(&lists, span), "syntax error at offset 84: nested more than 64 levels deep");
}

#[test]
fn context_is_inferred_from_path_prefixes() {
    let table = [
        (r#"set(span.attributes["x"], resource.attributes["y"])"#, ContextKind::Span),
        (r#"set(resource.attributes["x"], "y")"#, ContextKind::Resource),
        (r#"set(scope.attributes["x"], resource.attributes["y"])"#, ContextKind::Scope),
        (r#"set(datapoint.attributes["x"], metric.name)"#, ContextKind::DataPoint),
        (r#"set(metric.description, "d") where metric.name == "m""#, ContextKind::Metric),
        (r#"set(log.body, "x") where log.severity_number > 1"#, ContextKind::Log),
        (r#"set(spanevent.name, span.name)"#, ContextKind::SpanEvent),
        (r#"set(resource.attributes["x"], "y") where span.name == "a""#, ContextKind::Span),
    ];
    for (statement, expected) in table {
        let parsed = Statement::parse(statement, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.context(), expected, "{statement}");
        assert_eq!(parsed.text(), statement);
    }
    for (condition, expected) in [
        ("span.status.code == STATUS_CODE_ERROR", ContextKind::Span),
        (r#"scope.name == "x""#, ContextKind::Scope),
        (r#"instrumentation_scope.version == "1""#, ContextKind::Scope),
        ("datapoint.value_int > 1", ContextKind::DataPoint),
        ("log.severity_number >= SEVERITY_NUMBER_ERROR", ContextKind::Log),
    ] {
        assert_eq!(Condition::parse(condition, None).unwrap().context(), expected, "{condition}");
    }
}

#[test]
fn filter_processor_conditions() {
    for context in [ContextKind::Span, ContextKind::SpanEvent, ContextKind::DataPoint, ContextKind::Log] {
        Condition::parse(r#"attributes["test"] == "pass""#, Some(context)).unwrap_or_else(|e| panic!("{e}"));
        let error = Condition::parse(r#"attributes[test] == "pass""#, Some(context)).err().unwrap();
        assert_eq!(
            error.to_string(),
            "syntax error at offset 11: a key must be a string or an integer literal in `attributes[test] == \"pass\"`"
        );
    }
    Condition::parse(r#"name == "pass""#, Some(ContextKind::Metric)).unwrap();
    let error = Condition::parse(r#"resource.attributes[test] == "pass""#, Some(ContextKind::Metric)).err().unwrap();
    assert!(error.to_string().starts_with("syntax error at offset 20: a key must be"), "{error}");
    // A YAML folded scalar keeps line breaks inside the condition.
    let multiline = "\n    attributes[\"test\"] == \"pass\" or\n    attributes[\"test\"] == \"also pass\"";
    assert!(!evaluate(multiline), "the fixture has no `test` attribute");
    let mut span = span();
    span.attributes = attrs(vec![("test", s("also pass"))]);
    let condition = Condition::parse(multiline, Some(ContextKind::Span)).unwrap();
    let (mut resource, mut scope) = (resource(), InstrumentationScope::default());
    assert_eq!(
        condition.evaluate(&mut SpanContext { resource: &mut resource, scope: &mut scope, span: &mut span }),
        Ok(true)
    );
    span.attributes = attrs(vec![("test", s("fail"))]);
    assert_eq!(
        condition.evaluate(&mut SpanContext { resource: &mut resource, scope: &mut scope, span: &mut span }),
        Ok(false)
    );
}
