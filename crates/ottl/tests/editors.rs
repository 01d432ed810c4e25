//! The editors, table by table, with the cases of the Collector's function tests for this subset.

mod common;

use common::*;
use lambdatel_ottl::EvalError;
use opentelemetry_proto::tonic::common::v1::AnyValue;

type Attrs = Vec<(&'static str, AnyValue)>;

/// Runs each `(statement, input attributes, expected attributes)` on a log record's attributes.
fn check_table(table: Vec<(&str, Attrs, Attrs)>) {
    for (statement, input, expected) in table {
        let mut log = log_with(input);
        run_log(statement, &mut log).unwrap_or_else(|e| panic!("{statement}: {e}"));
        assert_eq!(pairs(&log.attributes), expect_pairs(expected), "{statement}");
    }
}

fn fixture() -> Attrs {
    vec![("test", s("hello world")), ("test2", s("hello")), ("test3", s("goodbye")), ("int", i(1))]
}

#[test]
fn set() {
    check_table(vec![
        (r#"set(attributes["test"], "new")"#, fixture(), {
            let mut f = fixture();
            f[0].1 = s("new");
            f
        }),
        (r#"set(attributes["new"], 5)"#, vec![("a", s("b"))], vec![("a", s("b")), ("new", i(5))]),
        (r#"set(attributes["f"], 1.5)"#, vec![], vec![("f", d(1.5))]),
        (r#"set(attributes["t"], true)"#, vec![], vec![("t", b(true))]),
        (r#"set(attributes["id"], 0x0102)"#, vec![], vec![("id", bytes(&[1, 2]))]),
        // Setting nil changes nothing, even where the key exists.
        (r#"set(attributes["a"], nil)"#, vec![("a", s("b"))], vec![("a", s("b"))]),
        (r#"set(attributes["a"], attributes["missing"])"#, vec![("a", s("b"))], vec![("a", s("b"))]),
        (r#"set(attributes["copy"], attributes["a"])"#, vec![("a", s("b"))], vec![("a", s("b")), ("copy", s("b"))]),
        (r#"set(attributes["l"], ["a", 1])"#, vec![], vec![("l", list(vec![s("a"), i(1)]))]),
        (
            r#"set(attributes["m"]["inner"]["deep"], "x")"#,
            vec![],
            vec![("m", map(vec![("inner", map(vec![("deep", s("x"))]))]))],
        ),
        (
            r#"set(attributes["m"]["b"], 2)"#,
            vec![("m", map(vec![("a", i(1))]))],
            vec![("m", map(vec![("a", i(1)), ("b", i(2))]))],
        ),
        (
            r#"set(attributes["l"][1], "z")"#,
            vec![("l", list(vec![s("a"), s("b")]))],
            vec![("l", list(vec![s("a"), s("z")]))],
        ),
        (r#"set(attributes, ParseJSON("{\"k\":\"v\"}"))"#, vec![("old", s("x"))], vec![("k", s("v"))]),
    ]);
}

#[test]
fn set_into_a_non_map_or_out_of_range_fails() {
    let mut log = log_with(vec![("a", s("b")), ("l", list(vec![s("x")]))]);
    let error = run_log(r#"set(attributes["a"]["b"], 1)"#, &mut log).unwrap_err();
    assert_eq!(error.to_string(), "`path`: `attributes[\"a\"][\"b\"]`: a string cannot be indexed by a string");
    let error = run_log(r#"set(attributes["l"][3], 1)"#, &mut log).unwrap_err();
    assert_eq!(error.to_string(), "`path`: index 3 out of range for a slice of 1 in `attributes[\"l\"][3]`");
    assert_eq!(pairs(&log.attributes), expect_pairs(vec![("a", s("b")), ("l", list(vec![s("x")]))]));
}

#[test]
fn delete_key_and_delete_matching_keys() {
    check_table(vec![
        (
            r#"delete_key(attributes, "test")"#,
            fixture(),
            vec![("test2", s("hello")), ("test3", s("goodbye")), ("int", i(1))],
        ),
        (r#"delete_key(attributes, "not there")"#, fixture(), fixture()),
        (r#"delete_matching_keys(attributes, "test.*")"#, fixture(), vec![("int", i(1))]),
        (
            r#"delete_matching_keys(attributes, "^test$")"#,
            fixture(),
            vec![("test2", s("hello")), ("test3", s("goodbye")), ("int", i(1))],
        ),
        (r#"delete_matching_keys(attributes, "nothing")"#, fixture(), fixture()),
        (
            r#"delete_key(attributes["m"], "a")"#,
            vec![("m", map(vec![("a", i(1)), ("b", i(2))]))],
            vec![("m", map(vec![("b", i(2))]))],
        ),
    ]);
}

#[test]
fn keep_keys_and_keep_matching_keys() {
    check_table(vec![
        (r#"keep_keys(attributes, ["test"])"#, fixture(), vec![("test", s("hello world"))]),
        (r#"keep_keys(attributes, ["test", "int"])"#, fixture(), vec![("test", s("hello world")), ("int", i(1))]),
        (r#"keep_keys(attributes, ["none"])"#, fixture(), vec![]),
        (r#"keep_keys(attributes, [])"#, fixture(), vec![]),
        (r#"keep_matching_keys(attributes, "^test")"#, fixture(), {
            let mut f = fixture();
            f.pop();
            f
        }),
        (r#"keep_matching_keys(attributes, "^nothing$")"#, fixture(), vec![]),
    ]);
}

#[test]
fn map_editors_reject_non_maps() {
    for statement in [
        r#"delete_key(attributes["test"], "a")"#,
        r#"keep_keys(attributes["int"], ["a"])"#,
        r#"limit(attributes["test"], 1, [])"#,
        r#"flatten(attributes["test"])"#,
        r#"truncate_all(attributes["missing"], 1)"#,
    ] {
        let mut log = log_with(fixture());
        let error = run_log(statement, &mut log).unwrap_err();
        assert!(matches!(error, EvalError::Type { expected: "map", .. }), "{statement}: {error}");
        assert_eq!(pairs(&log.attributes), expect_pairs(fixture()), "{statement}");
    }
}

#[test]
fn replace_pattern() {
    check_table(vec![
        (
            r#"replace_pattern(attributes["test"], "hello", "hello {universe}")"#,
            vec![("test", s("hello world"))],
            vec![("test", s("hello {universe} world"))],
        ),
        (
            r#"replace_pattern(attributes["test"], "nothing", "x")"#,
            vec![("test", s("hello world"))],
            vec![("test", s("hello world"))],
        ),
        (
            r#"replace_pattern(attributes["test"], "^(\\w+) (\\w+)$", "$2 $1")"#,
            vec![("test", s("hello world"))],
            vec![("test", s("world hello"))],
        ),
        (
            r#"replace_pattern(attributes["test"], "(?P<first>\\w+) ", "${first}-")"#,
            vec![("test", s("a b c"))],
            vec![("test", s("a-b-c"))],
        ),
        (
            r#"replace_pattern(attributes["test"], "o", "0")"#,
            vec![("test", s("foo boo"))],
            vec![("test", s("f00 b00"))],
        ),
        // Only strings are replaced.
        (r#"replace_pattern(attributes["int"], "1", "2")"#, vec![("int", i(1))], vec![("int", i(1))]),
        (r#"replace_pattern(attributes["missing"], "1", "2")"#, vec![], vec![]),
    ]);
    let mut log = common::log_with(vec![]);
    log.body = Some(s("password=secret user=x"));
    run_log(r#"replace_pattern(body, "password=[^ ]+", "password=***")"#, &mut log).unwrap();
    assert_eq!(log.body, Some(s("password=*** user=x")));
}

#[test]
fn replace_all_patterns() {
    let input = || vec![("test", s("hello world")), ("test2", s("hello")), ("test3", s("goodbye")), ("int", i(1))];
    check_table(vec![
        (
            r#"replace_all_patterns(attributes, "value", "hello", "hello {universe}")"#,
            input(),
            vec![
                ("test", s("hello {universe} world")),
                ("test2", s("hello {universe}")),
                ("test3", s("goodbye")),
                ("int", i(1)),
            ],
        ),
        (r#"replace_all_patterns(attributes, "value", "nothing", "x")"#, input(), input()),
        (
            r#"replace_all_patterns(attributes, "value", "^(\\w+) (\\w+)$", "$2 $1")"#,
            input(),
            vec![("test", s("world hello")), ("test2", s("hello")), ("test3", s("goodbye")), ("int", i(1))],
        ),
        (
            r#"replace_all_patterns(attributes, "key", "test", "foo")"#,
            input(),
            vec![("foo", s("hello world")), ("foo2", s("hello")), ("foo3", s("goodbye")), ("int", i(1))],
        ),
        (
            r#"replace_all_patterns(attributes, "key", "^test(\\d)$", "x$1")"#,
            input(),
            vec![("test", s("hello world")), ("x2", s("hello")), ("x3", s("goodbye")), ("int", i(1))],
        ),
        // Two keys renamed to one: the later value wins, at the first one's place.
        (
            r#"replace_all_patterns(attributes, "key", "\\d", "")"#,
            vec![("a1", i(1)), ("b", i(2)), ("a2", i(3))],
            vec![("a", i(3)), ("b", i(2))],
        ),
    ]);
}

#[test]
fn replace_match_and_replace_all_matches() {
    check_table(vec![
        (
            r#"replace_match(attributes["test"], "hello*", "hello {universe}")"#,
            vec![("test", s("hello world"))],
            vec![("test", s("hello {universe}"))],
        ),
        (
            r#"replace_match(attributes["test"], "goodbye*", "x")"#,
            vec![("test", s("hello world"))],
            vec![("test", s("hello world"))],
        ),
        (
            r#"replace_match(attributes["test"], "/user/*/list", "/user/{id}/list")"#,
            vec![("test", s("/user/123/list"))],
            vec![("test", s("/user/{id}/list"))],
        ),
        (r#"replace_match(attributes["int"], "*", "x")"#, vec![("int", i(1))], vec![("int", i(1))]),
        (
            r#"replace_all_matches(attributes, "hello*", "hello {universe}")"#,
            vec![("test", s("hello world")), ("test2", s("hello")), ("test3", s("goodbye")), ("int", i(1))],
            vec![
                ("test", s("hello {universe}")),
                ("test2", s("hello {universe}")),
                ("test3", s("goodbye")),
                ("int", i(1)),
            ],
        ),
    ]);
}

#[test]
fn truncate_all() {
    let input = || vec![("test", s("hello world")), ("test2", i(3)), ("test3", b(true))];
    check_table(vec![
        (r#"truncate_all(attributes, 1)"#, input(), vec![("test", s("h")), ("test2", i(3)), ("test3", b(true))]),
        (r#"truncate_all(attributes, 0)"#, input(), vec![("test", s("")), ("test2", i(3)), ("test3", b(true))]),
        (r#"truncate_all(attributes, 100)"#, input(), input()),
        (r#"truncate_all(attributes, 11)"#, input(), input()),
        // A multi-byte character is never split.
        (r#"truncate_all(attributes, 2)"#, vec![("u", s("héllo"))], vec![("u", s("h"))]),
        (r#"truncate_all(attributes, 3)"#, vec![("u", s("héllo"))], vec![("u", s("hé"))]),
    ]);
    assert_eq!(
        parse_error(r#"truncate_all(attributes, -1)"#, Some(lambdatel_ottl::ContextKind::Log)),
        "`truncate_all`: `limit` cannot be negative: -1"
    );
}

#[test]
fn limit() {
    let input = || vec![("test", s("hello world")), ("test2", i(3)), ("test3", b(true))];
    check_table(vec![
        (r#"limit(attributes, 1, [])"#, input(), vec![("test", s("hello world"))]),
        (r#"limit(attributes, 0, [])"#, input(), vec![]),
        (r#"limit(attributes, 100, [])"#, input(), input()),
        (r#"limit(attributes, 3, [])"#, input(), input()),
        (r#"limit(attributes, 1, ["test3"])"#, input(), vec![("test3", b(true))]),
        (r#"limit(attributes, 2, ["test3"])"#, input(), vec![("test", s("hello world")), ("test3", b(true))]),
        (r#"limit(attributes, 2, ["test2", "test3"])"#, input(), vec![("test2", i(3)), ("test3", b(true))]),
        // Priority keys that are absent leave room for others.
        (r#"limit(attributes, 2, ["none"])"#, input(), vec![("test", s("hello world")), ("test2", i(3))]),
    ]);
    let log = Some(lambdatel_ottl::ContextKind::Log);
    assert_eq!(parse_error(r#"limit(attributes, -1, [])"#, log), "`limit`: `limit` cannot be negative: -1");
    assert_eq!(
        parse_error(r#"limit(attributes, 1, ["a", "b"])"#, log),
        "`limit`: limit 1 is less than the number of priority keys (2)"
    );
}

#[test]
fn merge_maps() {
    let input = || vec![("attr1", s("value1")), ("src", map(vec![("attr1", s("new")), ("attr2", s("value2"))]))];
    check_table(vec![
        (
            r#"merge_maps(attributes, attributes["src"], "upsert")"#,
            input(),
            vec![
                ("attr1", s("new")),
                ("src", map(vec![("attr1", s("new")), ("attr2", s("value2"))])),
                ("attr2", s("value2")),
            ],
        ),
        (
            r#"merge_maps(attributes, attributes["src"], "insert")"#,
            input(),
            vec![
                ("attr1", s("value1")),
                ("src", map(vec![("attr1", s("new")), ("attr2", s("value2"))])),
                ("attr2", s("value2")),
            ],
        ),
        (
            r#"merge_maps(attributes, attributes["src"], "update")"#,
            input(),
            vec![("attr1", s("new")), ("src", map(vec![("attr1", s("new")), ("attr2", s("value2"))]))],
        ),
        (r#"merge_maps(attributes, ParseJSON("{\"a\":\"b\"}"), "upsert")"#, vec![], vec![("a", s("b"))]),
    ]);
    let mut log = log_with(input());
    let error = run_log(r#"merge_maps(attributes, attributes["attr1"], "upsert")"#, &mut log).unwrap_err();
    assert_eq!(error.to_string(), "`merge_maps`: expected map, got string");
    assert_eq!(
        parse_error(r#"merge_maps(attributes, attributes["src"], "replace")"#, Some(lambdatel_ottl::ContextKind::Log)),
        "`merge_maps`: invalid strategy `replace`, expected insert, update or upsert"
    );
}

#[test]
fn append() {
    check_table(vec![
        (r#"append(attributes["l"], "b")"#, vec![("l", list(vec![s("a")]))], vec![("l", list(vec![s("a"), s("b")]))]),
        (
            r#"append(attributes["l"], values = ["b", 3])"#,
            vec![("l", list(vec![s("a")]))],
            vec![("l", list(vec![s("a"), s("b"), i(3)]))],
        ),
        (r#"append(attributes["l"], "b", ["c"])"#, vec![("l", list(vec![]))], vec![("l", list(vec![s("b"), s("c")]))]),
        // A scalar target becomes a slice holding it; a missing one a new slice.
        (r#"append(attributes["x"], 2)"#, vec![("x", s("one"))], vec![("x", list(vec![s("one"), i(2)]))]),
        (r#"append(attributes["new"], true)"#, vec![], vec![("new", list(vec![b(true)]))]),
    ]);
    assert_eq!(
        parse_error(r#"append(attributes["l"])"#, Some(lambdatel_ottl::ContextKind::Log)),
        "`append`: one of the optional arguments `value` or `values` is required"
    );
    let mut log = log_with(vec![("m", map(vec![]))]);
    assert_eq!(
        run_log(r#"append(attributes["m"], 1)"#, &mut log).unwrap_err().to_string(),
        "`append`: expected a scalar or slice, got map"
    );
}

#[test]
fn flatten() {
    let nested = || map(vec![("street", s("first")), ("house", i(1234))]);
    check_table(vec![
        (r#"flatten(attributes)"#, vec![("name", s("test"))], vec![("name", s("test"))]),
        (
            r#"flatten(attributes)"#,
            vec![("address", nested())],
            vec![("address.street", s("first")), ("address.house", i(1234))],
        ),
        (
            r#"flatten(attributes)"#,
            vec![("occupants", list(vec![s("user 1"), s("user 2")]))],
            vec![("occupants.0", s("user 1")), ("occupants.1", s("user 2"))],
        ),
        (
            r#"flatten(attributes, "app")"#,
            vec![("name", s("test")), ("address", nested()), ("occupants", list(vec![s("user 1")]))],
            vec![
                ("app.name", s("test")),
                ("app.address.street", s("first")),
                ("app.address.house", i(1234)),
                ("app.occupants.0", s("user 1")),
            ],
        ),
        (
            r#"flatten(attributes, "", 2)"#,
            vec![("0", map(vec![("1", map(vec![("2", map(vec![("3", s("value"))]))]))]))],
            vec![("0.1.2", map(vec![("3", s("value"))]))],
        ),
        (r#"flatten(attributes, depth = 0)"#, vec![("a", map(vec![("b", i(1))]))], vec![("a", map(vec![("b", i(1))]))]),
        (
            r#"flatten(attributes, resolveConflicts = true)"#,
            vec![("address", nested()), ("address.street", s("second"))],
            vec![("address.street", s("first")), ("address.house", i(1234)), ("address.street.1", s("second"))],
        ),
        // Without conflict resolution the later value wins.
        (
            r#"flatten(attributes)"#,
            vec![("address", nested()), ("address.street", s("second"))],
            vec![("address.street", s("second")), ("address.house", i(1234))],
        ),
        (
            r#"flatten(attributes["m"])"#,
            vec![("m", map(vec![("a", map(vec![("b", i(1))]))]))],
            vec![("m", map(vec![("a.b", i(1))]))],
        ),
    ]);
    assert_eq!(
        parse_error(r#"flatten(attributes, "", -1)"#, Some(lambdatel_ottl::ContextKind::Log)),
        "`flatten`: invalid depth -1: cannot be negative"
    );
}

const SHA256_HELLO: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
const SHA256_X: &str = "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881";

#[test]
fn replace_editors_with_a_function_and_a_format() {
    let hashed = |prefix: &str, hash: &str| s(&format!("{prefix}{hash}"));
    check_table(vec![
        (
            r#"replace_pattern(attributes["test"], "^(\\w+) world$", "$1", SHA256)"#,
            vec![("test", s("hello world"))],
            vec![("test", s(SHA256_HELLO))],
        ),
        (
            r#"replace_pattern(attributes["test"], "^(\\w+) world$", "$1", SHA256, "h:%s")"#,
            vec![("test", s("hello world"))],
            vec![("test", hashed("h:", SHA256_HELLO))],
        ),
        (
            r#"replace_pattern(attributes["test"], "user=(\\w+)", "$1", function = SHA256, replacementFormat = "user=%s")"#,
            vec![("test", s("login user=hello ok"))],
            vec![("test", s(&format!("login user={SHA256_HELLO} ok")))],
        ),
        (
            r#"replace_pattern(attributes["test"], "o", "o", ToUpperCase)"#,
            vec![("test", s("foo boo"))],
            vec![("test", s("fOO bOO"))],
        ),
        (
            r#"replace_pattern(attributes["test"], "nothing", "$1", SHA256)"#,
            vec![("test", s("foo"))],
            vec![("test", s("foo"))],
        ),
        (
            r#"replace_all_patterns(attributes, "value", "^hello$", "$0", SHA256)"#,
            vec![("a", s("hello")), ("b", s("bye")), ("c", i(1))],
            vec![("a", s(SHA256_HELLO)), ("b", s("bye")), ("c", i(1))],
        ),
        (
            r#"replace_all_patterns(attributes, "key", "^(\\w+)$", "$1", ToUpperCase)"#,
            vec![("a", s("hello")), ("b.c", s("bye"))],
            vec![("A", s("hello")), ("b.c", s("bye"))],
        ),
        // Glob editors apply the function to the replacement itself.
        (
            r#"replace_match(attributes["test"], "hello*", "x", SHA256)"#,
            vec![("test", s("hello world"))],
            vec![("test", s(SHA256_X))],
        ),
        (
            r#"replace_all_matches(attributes, "hello*", "x", SHA256, "%s!")"#,
            vec![("a", s("hello")), ("b", s("bye"))],
            vec![("a", hashed("", &format!("{SHA256_X}!"))), ("b", s("bye"))],
        ),
    ]);
    let log = Some(lambdatel_ottl::ContextKind::Log);
    for (statement, expected) in [
        (
            r#"replace_pattern(attributes["t"], "a", "b", SHA1)"#,
            "`replace_pattern`: `function` `SHA1` is not supported (SHA256, ToLowerCase or ToUpperCase)",
        ),
        (
            r#"replace_pattern(attributes["t"], "a", "b", "SHA256")"#,
            "`replace_pattern`: `function` must be a converter name such as SHA256",
        ),
        (
            r#"replace_pattern(attributes["t"], "a", "b", SHA256, "%d")"#,
            "`replace_pattern`: `replacementFormat` must contain one `%s` and no other format specifier",
        ),
        (
            r#"replace_pattern(attributes["t"], "a", "b", SHA256, "%s-%s")"#,
            "`replace_pattern`: `replacementFormat` must contain one `%s` and no other format specifier",
        ),
        (
            r#"replace_match(attributes["t"], "a", "b", replacementFormat = "%s")"#,
            "`replace_match`: `replacementFormat` needs `function`",
        ),
    ] {
        assert_eq!(parse_error(statement, log), expected, "{statement}");
    }
}
