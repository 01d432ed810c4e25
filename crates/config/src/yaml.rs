//! A YAML node tree that remembers where every node came from.
//!
//! `yaml-rust2`'s own `Yaml` type drops source positions, so this module drives its event parser
//! and builds a small tree whose nodes carry their line and column. Scalars keep their raw text
//! and whether YAML typing applies (plain style) so that `${env:...}` expansion can run before
//! typing, and conversion to `serde_json::Value` follows YAML 1.2 core-schema rules.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Deepest nesting accepted; a guard against stack exhaustion on hostile input.
const MAX_DEPTH: usize = 128;

/// Most nodes a document may expand to, counting alias copies; stops "billion laughs" inputs.
const MAX_NODES: usize = 100_000;

/// A 1-based source position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mark {
    pub line: usize,
    pub col: usize,
}

impl Mark {
    fn from_marker(m: &Marker) -> Self {
        // yaml-rust2 reports 1-based lines and 0-based columns.
        Mark { line: m.line(), col: m.col() + 1 }
    }
}

/// One YAML node and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub value: NodeValue,
    pub mark: Mark,
}

/// The content of a node.
#[derive(Clone, PartialEq)]
pub(crate) enum NodeValue {
    /// `typed` is true when YAML typing applies (plain scalars without a `!!str` tag); otherwise
    /// the text is always a string.
    Scalar {
        text: String,
        typed: bool,
        /// True when `text` is the typed expansion of a whole `${...}` reference; such a value
        /// may still be read as a string by a field that wants one.
        from_env: bool,
        /// True when `text` holds a value from a secret store reference: never shown.
        secret: bool,
    },
    Seq(Vec<Node>),
    /// Entries in source order; keys are nodes so duplicates and their positions can be reported.
    Map(Vec<(Node, Node)>),
}

// Written out so that a value from a secret store never reaches a debug print of a config.
impl std::fmt::Debug for NodeValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NodeValue::Scalar { secret: true, .. } => f.write_str("Scalar(<secret>)"),
            NodeValue::Scalar { text, typed, from_env, .. } => {
                f.debug_struct("Scalar").field("text", text).field("typed", typed).field("from_env", from_env).finish()
            }
            NodeValue::Seq(items) => f.debug_tuple("Seq").field(items).finish(),
            NodeValue::Map(entries) => f.debug_tuple("Map").field(entries).finish(),
        }
    }
}

/// A YAML syntax error with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub mark: Mark,
    pub message: String,
}

impl Node {
    /// A short description of the node's kind for error messages ("a map", "a string", ...).
    pub fn kind(&self) -> &'static str {
        match &self.value {
            NodeValue::Map(_) => "a map",
            NodeValue::Seq(_) => "a list",
            NodeValue::Scalar { .. } => match self.to_json() {
                serde_json::Value::Null => "nothing (null)",
                serde_json::Value::Bool(_) => "a boolean",
                serde_json::Value::Number(_) => "a number",
                _ => "a string",
            },
        }
    }

    /// True for a null scalar (`~`, `null`, or an empty value).
    pub fn is_null(&self) -> bool {
        matches!(&self.value, NodeValue::Scalar { .. }) && self.to_json().is_null()
    }

    /// The text of a scalar node, whatever its YAML type.
    pub fn as_text(&self) -> Option<&str> {
        match &self.value {
            NodeValue::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// Looks up a map entry by key text, returning the key node and the value node.
    pub fn get(&self, key: &str) -> Option<(&Node, &Node)> {
        match &self.value {
            NodeValue::Map(entries) => entries.iter().find(|(k, _)| k.as_text() == Some(key)).map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    /// Converts the tree to JSON. Map keys become their text; YAML typing applies to typed scalars.
    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            NodeValue::Scalar { text, typed, .. } => scalar_to_json(text, *typed),
            NodeValue::Seq(items) => serde_json::Value::Array(items.iter().map(Node::to_json).collect()),
            NodeValue::Map(entries) => {
                let mut map = serde_json::Map::new();
                for (k, v) in entries {
                    let key = match &k.value {
                        NodeValue::Scalar { text, .. } => text.clone(),
                        // Non-scalar keys are reported during validation; keep something stable.
                        _ => k.to_json().to_string(),
                    };
                    map.insert(key, v.to_json());
                }
                serde_json::Value::Object(map)
            }
        }
    }
}

/// Converts a scalar following the YAML 1.2 core schema when `typed`, else keeps it a string.
///
/// Floats that JSON cannot hold (`.inf`, `.nan`) stay strings so no information is lost silently.
pub(crate) fn scalar_to_json(text: &str, typed: bool) -> serde_json::Value {
    use serde_json::Value;
    if !typed {
        return Value::String(text.to_owned());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Some(n) = parse_int(text) {
        return n;
    }
    if is_float(text) {
        if let Ok(f) = text.parse::<f64>() {
            if let Some(n) = serde_json::Number::from_f64(f) {
                return Value::Number(n);
            }
        }
    }
    Value::String(text.to_owned())
}

fn parse_int(text: &str) -> Option<serde_json::Value> {
    let (neg, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() {
        return None;
    }
    let (radix, body) = if let Some(hex) = text.strip_prefix("0x") {
        (16, hex)
    } else if let Some(oct) = text.strip_prefix("0o") {
        (8, oct)
    } else {
        (10, digits)
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    if radix != 10 {
        return u64::from_str_radix(body, radix).ok().map(Into::into);
    }
    if neg {
        text.parse::<i64>().ok().map(Into::into)
    } else if let Ok(u) = digits.parse::<u64>() {
        Some(u.into())
    } else {
        // Too large for u64: keep it as a float like most YAML loaders do.
        digits.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map(serde_json::Value::Number)
    }
}

/// `[-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?`
fn is_float(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    let mut frac_digits = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let s = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = i - s;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        let s = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == s {
            return false;
        }
    }
    i == b.len()
}

/// Parses a single-document YAML text into a marked tree; `Ok(None)` for an empty document.
pub(crate) fn load(text: &str) -> Result<Option<Node>, SyntaxError> {
    let mut loader = Loader { parser: Parser::new_from_str(text), anchors: HashMap::new(), nodes: 0 };
    loader.document()
}

struct Loader<'a> {
    parser: Parser<std::str::Chars<'a>>,
    anchors: HashMap<usize, Node>,
    /// Nodes built so far, alias copies included.
    nodes: usize,
}

impl Loader<'_> {
    fn next(&mut self) -> Result<(Event, Mark), SyntaxError> {
        self.parser
            .next_token()
            .map(|(ev, m)| (ev, Mark::from_marker(&m)))
            .map_err(|e| SyntaxError { mark: Mark::from_marker(e.marker()), message: e.info().to_owned() })
    }

    fn document(&mut self) -> Result<Option<Node>, SyntaxError> {
        let mut root = None;
        let mut documents = 0;
        loop {
            let (ev, mark) = self.next()?;
            match ev {
                Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
                Event::StreamEnd => return Ok(root),
                Event::DocumentStart => {
                    documents += 1;
                    if documents > 1 {
                        return Err(SyntaxError { mark, message: "only one YAML document is allowed".to_owned() });
                    }
                }
                ev => {
                    let node = self.node(ev, mark, 0)?;
                    // An explicitly empty document (e.g. only comments) parses as a null scalar.
                    root = if node.is_null() { None } else { Some(node) };
                }
            }
        }
    }

    fn node(&mut self, ev: Event, mark: Mark, depth: usize) -> Result<Node, SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(SyntaxError { mark, message: format!("nesting is deeper than {MAX_DEPTH} levels") });
        }
        self.count(1, mark)?;
        let (node, anchor) = match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let typed = style == TScalarStyle::Plain && !is_str_tag(tag.as_ref());
                let node = Node { value: NodeValue::Scalar { text, typed, from_env: false, secret: false }, mark };
                (node, anchor)
            }
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                loop {
                    let (ev, m) = self.next()?;
                    if ev == Event::SequenceEnd {
                        break;
                    }
                    items.push(self.node(ev, m, depth + 1)?);
                }
                let node = Node { value: NodeValue::Seq(items), mark };
                (node, anchor)
            }
            Event::MappingStart(anchor, _) => {
                let mut entries = Vec::new();
                loop {
                    let (ev, m) = self.next()?;
                    if ev == Event::MappingEnd {
                        break;
                    }
                    let key = self.node(ev, m, depth + 1)?;
                    let (ev, m) = self.next()?;
                    let value = self.node(ev, m, depth + 1)?;
                    entries.push((key, value));
                }
                let node = Node { value: NodeValue::Map(merge_keys(entries)?), mark };
                (node, anchor)
            }
            Event::Alias(id) => {
                let Some(node) = self.anchors.get(&id) else {
                    return Err(SyntaxError { mark, message: "alias refers to an unknown anchor".to_owned() });
                };
                // The copy reports the anchor's position: that is where its text is written.
                let node = node.clone();
                self.count(node_count(&node), mark)?;
                return Ok(node);
            }
            other => return Err(SyntaxError { mark, message: format!("unexpected YAML event {other:?}") }),
        };
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }
}

impl Loader<'_> {
    fn count(&mut self, nodes: usize, mark: Mark) -> Result<(), SyntaxError> {
        self.nodes += nodes;
        if self.nodes > MAX_NODES {
            return Err(SyntaxError {
                mark,
                message: format!("the document expands to more than {MAX_NODES} nodes (check aliases)"),
            });
        }
        Ok(())
    }
}

fn node_count(node: &Node) -> usize {
    1 + match &node.value {
        NodeValue::Scalar { .. } => 0,
        NodeValue::Seq(items) => items.iter().map(node_count).sum(),
        NodeValue::Map(entries) => entries.iter().map(|(k, v)| node_count(k) + node_count(v)).sum(),
    }
}

/// Applies YAML merge keys (`<<: *defaults` or `<<: [*a, *b]`): the merged maps' entries are
/// added unless the map sets the key itself; with a list, earlier maps win.
fn merge_keys(entries: Vec<(Node, Node)>) -> Result<Vec<(Node, Node)>, SyntaxError> {
    let is_merge = |k: &Node| matches!(&k.value, NodeValue::Scalar { text, typed: true, .. } if text == "<<");
    if !entries.iter().any(|(k, _)| is_merge(k)) {
        return Ok(entries);
    }
    let mut own = Vec::with_capacity(entries.len());
    let mut merged = Vec::new();
    for (key, value) in entries {
        if !is_merge(&key) {
            own.push((key, value));
            continue;
        }
        let sources = match value.value {
            NodeValue::Seq(items) => items,
            _ => vec![value],
        };
        for source in sources {
            match source.value {
                NodeValue::Map(source_entries) => merged.extend(source_entries),
                _ => {
                    return Err(SyntaxError {
                        mark: source.mark,
                        message: "a merge key \"<<\" needs a map or a list of maps".to_owned(),
                    })
                }
            }
        }
    }
    for (key, value) in merged {
        let taken = own.iter().any(|(k, _)| k.as_text().is_some() && k.as_text() == key.as_text());
        if !taken {
            own.push((key, value));
        }
    }
    Ok(own)
}

fn is_str_tag(tag: Option<&Tag>) -> bool {
    tag.is_some_and(|t| (t.handle == "!!" || t.handle == "tag:yaml.org,2002:") && t.suffix == "str")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn json_of(text: &str) -> serde_json::Value {
        load(text).unwrap().unwrap().to_json()
    }

    #[test]
    fn marks_are_one_based_lines_and_columns() {
        let root = load("a:\n  b: 1\n  c: [x, y]\n").unwrap().unwrap();
        let (ka, va) = root.get("a").unwrap();
        assert_eq!(ka.mark, Mark { line: 1, col: 1 });
        let (kb, vb) = va.get("b").unwrap();
        assert_eq!(kb.mark, Mark { line: 2, col: 3 });
        assert_eq!(vb.mark, Mark { line: 2, col: 6 });
        let (_, vc) = va.get("c").unwrap();
        let NodeValue::Seq(items) = &vc.value else { panic!("not a list") };
        assert_eq!(items[1].mark, Mark { line: 3, col: 10 });
    }

    #[test]
    fn core_schema_typing() {
        assert_eq!(
            json_of("a: 1\nb: -2\nc: 1.5\nd: true\ne: ~\nf: null\ng: hello\nh: 0x1F\ni: 0o17\nj: 1e3\nk: False\nl:\n"),
            json!({"a": 1, "b": -2, "c": 1.5, "d": true, "e": null, "f": null, "g": "hello",
                   "h": 31, "i": 15, "j": 1000.0, "k": false, "l": null})
        );
    }

    #[test]
    fn quoted_and_tagged_scalars_stay_strings() {
        assert_eq!(
            json_of("a: \"1\"\nb: 'true'\nc: !!str 5\nd: |\n  12\n"),
            json!({"a": "1", "b": "true", "c": "5", "d": "12\n"})
        );
    }

    #[test]
    fn odd_numbers_stay_strings_or_floats() {
        assert_eq!(scalar_to_json(".inf", true), json!(".inf"));
        assert_eq!(scalar_to_json("1.2.3", true), json!("1.2.3"));
        assert_eq!(scalar_to_json("-", true), json!("-"));
        assert_eq!(scalar_to_json("0x", true), json!("0x"));
        assert_eq!(scalar_to_json("1e", true), json!("1e"));
        assert_eq!(scalar_to_json(".5", true), json!(0.5));
        assert_eq!(scalar_to_json("18446744073709551615", true), json!(18446744073709551615u64));
        assert_eq!(scalar_to_json("-9223372036854775808", true), json!(-9223372036854775808i64));
        assert_eq!(scalar_to_json("99999999999999999999", true), json!(1e20));
    }

    #[test]
    fn anchors_and_aliases_copy_nodes() {
        assert_eq!(json_of("a: &x {k: 1}\nb: *x\n"), json!({"a": {"k": 1}, "b": {"k": 1}}));
    }

    #[test]
    fn merge_keys_fill_in_missing_entries() {
        assert_eq!(
            json_of("base: &b {x: 1, y: 2}\nother: &o {y: 3, z: 4}\nm:\n  <<: *b\n  x: 9\nl:\n  <<: [*b, *o]\n"),
            json!({"base": {"x": 1, "y": 2}, "other": {"y": 3, "z": 4},
                   "m": {"x": 9, "y": 2}, "l": {"x": 1, "y": 2, "z": 4}})
        );
        // A quoted "<<" is an ordinary key.
        assert_eq!(json_of("'<<': 1\n"), json!({"<<": 1}));
        let err = load("a: &a 1\nm:\n  <<: *a\n").unwrap_err();
        assert_eq!(
            err,
            SyntaxError {
                mark: Mark { line: 1, col: 7 },
                message: "a merge key \"<<\" needs a map or a list of maps".to_owned()
            }
        );
    }

    #[test]
    fn alias_expansion_is_bounded() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let err = load(&text).unwrap_err();
        assert_eq!(err.message, "the document expands to more than 100000 nodes (check aliases)");
        assert_eq!(err.mark.line, 5);
    }

    #[test]
    fn empty_documents_are_none() {
        assert_eq!(load("").unwrap(), None);
        assert_eq!(load("# only a comment\n").unwrap(), None);
        assert_eq!(load("---\n").unwrap(), None);
    }

    #[test]
    fn syntax_errors_carry_position() {
        let err = load("a: 1\nb: [1, 2\n").unwrap_err();
        assert_eq!(err.mark.line, 3);
        let err = load("a: 1\n  b: 2\n").unwrap_err();
        assert_eq!(
            err,
            SyntaxError {
                mark: Mark { line: 2, col: 4 },
                message: "mapping values are not allowed in this context".to_owned()
            }
        );
    }

    #[test]
    fn multiple_documents_are_rejected() {
        let err = load("a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(err.message, "only one YAML document is allowed");
        assert_eq!(err.mark.line, 2);
    }

    #[test]
    fn deep_nesting_is_rejected() {
        let text = "[".repeat(200) + &"]".repeat(200);
        let err = load(&text).unwrap_err();
        assert_eq!(err.message, "nesting is deeper than 128 levels");
    }
}
