//! The converters, through `set(attributes["out"], <converter>)` on a log record: what they return,
//! and how they fail.

mod common;

use common::*;
use opentelemetry_proto::tonic::common::v1::AnyValue;

fn fixture() -> Vec<(&'static str, AnyValue)> {
    vec![
        ("str", s("Hello World")),
        ("int", i(42)),
        ("dbl", d(2.75)),
        ("bool", b(true)),
        ("bytes", bytes(&[0xab, 0x01])),
        ("map", map(vec![("a", i(1)), ("b", s("x"))])),
        ("list", list(vec![s("a"), i(2)])),
        ("num", s("123")),
        ("csv", s("a,b,,c")),
        ("json", s(r#"{"name":"n","count":2,"tags":["t"],"nested":{"ok":true},"none":null}"#)),
    ]
}

/// The value `expression` gives on the fixture; `None` for nil.
fn eval(expression: &str) -> Result<Option<AnyValue>, String> {
    let mut log = log_with(fixture());
    run_log(&format!(r#"set(attributes["out"], {expression})"#), &mut log).map_err(|e| e.to_string())?;
    Ok(log.attributes.iter().find(|kv| kv.key == "out").and_then(|kv| kv.value.clone()))
}

#[test]
fn converters_return_the_collectors_values() {
    let table: Vec<(&str, Option<AnyValue>)> = vec![
        // Concat: string forms of each value; nil as "<nil>".
        (r#"Concat(["a", "b"], "")"#, Some(s("ab"))),
        (r#"Concat(["a", "b", "c"], ", ")"#, Some(s("a, b, c"))),
        (
            r#"Concat([attributes["str"], attributes["int"], attributes["dbl"], attributes["bool"]], "|")"#,
            Some(s("Hello World|42|2.75|true")),
        ),
        (r#"Concat([attributes["missing"], "x"], "-")"#, Some(s("<nil>-x"))),
        (r#"Concat([attributes["bytes"]], "")"#, Some(s("ab01"))),
        (r#"Concat([attributes["map"]], "")"#, Some(s(r#"{"a":1,"b":"x"}"#))),
        (r#"Concat([], "-")"#, Some(s(""))),
        // Split: a slice of strings, as Go's strings.Split.
        (r#"Split(attributes["csv"], ",")"#, Some(list(vec![s("a"), s("b"), s(""), s("c")]))),
        (r#"Split("no delimiter", "|")"#, Some(list(vec![s("no delimiter")]))),
        (r#"Split("", ",")"#, Some(list(vec![s("")]))),
        (r#"Split("ab", "")"#, Some(list(vec![s("a"), s("b")]))),
        // IsMatch on string forms; nil never matches.
        (r#"IsMatch(attributes["str"], "^Hello")"#, Some(b(true))),
        (r#"IsMatch(attributes["str"], "^World")"#, Some(b(false))),
        (r#"IsMatch(attributes["int"], "^\\d+$")"#, Some(b(true))),
        (r#"IsMatch(attributes["missing"], ".*")"#, Some(b(false))),
        (r#"IsString(attributes["str"])"#, Some(b(true))),
        (r#"IsString(attributes["int"])"#, Some(b(false))),
        (r#"IsInt(attributes["int"])"#, Some(b(true))),
        (r#"IsInt(attributes["dbl"])"#, Some(b(false))),
        (r#"IsMap(attributes["map"])"#, Some(b(true))),
        (r#"IsMap(attributes["list"])"#, Some(b(false))),
        (r#"IsMap(attributes["missing"])"#, Some(b(false))),
        // ParseJSON: numbers decode as doubles, null as an empty value; keys come sorted (Go's map
        // order is unspecified).
        (
            r#"ParseJSON(attributes["json"])"#,
            Some(map(vec![
                ("count", d(2.0)),
                ("name", s("n")),
                ("nested", map(vec![("ok", b(true))])),
                ("none", AnyValue::default()),
                ("tags", list(vec![s("t")])),
            ])),
        ),
        (r#"ParseJSON("[1, \"a\"]")"#, Some(list(vec![d(1.0), s("a")]))),
        (r#"ParseJSON(attributes["json"])["name"]"#, Some(s("n"))),
        // Int, Double, String: conversions, nil for what does not parse.
        (r#"Int(attributes["num"])"#, Some(i(123))),
        (r#"Int(attributes["dbl"])"#, Some(i(2))),
        (r#"Int(-2.9)"#, Some(i(-2))),
        (r#"Int(attributes["bool"])"#, Some(i(1))),
        (r#"Int(false)"#, Some(i(0))),
        (r#"Int(attributes["str"])"#, None),
        (r#"Int(attributes["missing"])"#, None),
        (r#"Double(attributes["int"])"#, Some(d(42.0))),
        (r#"Double("1.5")"#, Some(d(1.5))),
        (r#"Double(true)"#, Some(d(1.0))),
        (r#"Double("abc")"#, None),
        (r#"String(attributes["int"])"#, Some(s("42"))),
        (r#"String(attributes["dbl"])"#, Some(s("2.75"))),
        (r#"String(attributes["bool"])"#, Some(s("true"))),
        (r#"String(attributes["bytes"])"#, Some(s("ab01"))),
        (r#"String(attributes["list"])"#, Some(s(r#"["a",2]"#))),
        (r#"String(attributes["missing"])"#, None),
        (r#"ToLowerCase(attributes["str"])"#, Some(s("hello world"))),
        (r#"ToUpperCase(attributes["str"])"#, Some(s("HELLO WORLD"))),
        (r#"Substring(attributes["str"], 3, 3)"#, Some(s("lo "))),
        (r#"Substring("abc", 0, 3)"#, Some(s("abc"))),
        (r#"SHA256("test")"#, Some(s("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"))),
        (r#"Len(attributes["str"])"#, Some(i(11))),
        (r#"Len(attributes["map"])"#, Some(i(2))),
        (r#"Len(attributes["list"])"#, Some(i(2))),
        (r#"Len("")"#, Some(i(0))),
        (
            r#"TraceID(0x0102030405060708090a0b0c0d0e0f10)"#,
            Some(bytes(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16])),
        ),
        (r#"SpanID(0x0102030405060708)"#, Some(bytes(&[1, 2, 3, 4, 5, 6, 7, 8]))),
        (r#"attributes["map"]["b"]"#, Some(s("x"))),
        (r#"attributes["list"][1]"#, Some(i(2))),
    ];
    for (expression, expected) in table {
        assert_eq!(eval(expression), Ok(expected), "{expression}");
    }
}

#[test]
fn converter_errors_name_the_function_and_leave_the_item() {
    let table = [
        (r#"Split(attributes["int"], ",")"#, "`Split`: expected string, got int"),
        (r#"Split(attributes["missing"], ",")"#, "`Split`: expected string, got nil"),
        (r#"ParseJSON("not json")"#, "`ParseJSON`: invalid JSON: expected ident at line 1 column 2"),
        (r#"ParseJSON("1")"#, "`ParseJSON`: `1` is neither a JSON object nor an array"),
        (r#"ToLowerCase(attributes["int"])"#, "`ToLowerCase`: expected string, got int"),
        (r#"Substring("abc", 2, 5)"#, "`Substring`: invalid range 2..7 for a string of 3 bytes"),
        (r#"Substring("abc", -1, 1)"#, "`Substring`: invalid start -1: cannot be negative"),
        (r#"Substring("abc", 0, 0)"#, "`Substring`: invalid length 0: must be positive"),
        (r#"Substring("é", 0, 1)"#, "`Substring`: range 0..1 splits a UTF-8 character"),
        (r#"SHA256(attributes["int"])"#, "`SHA256`: expected string, got int"),
        (r#"Len(attributes["int"])"#, "`Len`: expected string, map or slice, got int"),
        (r#"Int(attributes["map"])"#, "`Int`: expected int, double, bool or string, got map"),
        (r#"TraceID(0x0102)"#, "`TraceID`: expected 16 bytes, got 2"),
        (r#"SpanID("abc")"#, "`SpanID`: expected bytes, got string"),
        (r#"attributes["str"]["k"]"#, "`path`: expected map, got string"),
        (r#"attributes["list"][5]"#, "`path`: index 5 out of range for a slice of 2"),
    ];
    for (expression, expected) in table {
        let mut log = log_with(fixture());
        let error = run_log(&format!(r#"set(attributes["out"], {expression})"#), &mut log).unwrap_err();
        assert_eq!(error.to_string(), expected, "{expression}");
        assert_eq!(pairs(&log.attributes), expect_pairs(fixture()), "{expression}");
    }
}

#[test]
fn now_is_the_current_time_in_nanoseconds() {
    let before = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64;
    let now = match eval("Now()").unwrap().and_then(|v| v.value) {
        Some(opentelemetry_proto::tonic::common::v1::any_value::Value::IntValue(now)) => now,
        other => panic!("Now() gave {other:?}"),
    };
    let after = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64;
    assert!((before..=after).contains(&now), "{before} <= {now} <= {after}");
}
