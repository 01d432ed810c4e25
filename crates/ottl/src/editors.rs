//! Editors: the functions a statement calls to change the item (`set`, `delete_key`, `limit`, ...).

use std::borrow::Cow;

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use regex::Regex;

use crate::compile::{
    bind_args, compile_expr, compile_path, compile_regex, invalid_argument, literal_int, literal_str, literal_strings,
    CompileResult, Expr, Params,
};
use crate::context::Target;
use crate::error::{EvalError, ParseErrorKind};
use crate::glob;
use crate::parser::{CallAst, ValueAst};
use crate::paths::{ContextKind, Path};
use crate::replace::Replacement;
use crate::value::Value;

pub(crate) enum MergeStrategy {
    Insert,
    Update,
    Upsert,
}

pub(crate) enum Editor {
    Set { target: Path, value: Expr },
    DeleteKey { target: Path, key: String },
    DeleteMatchingKeys { target: Path, pattern: Regex },
    KeepKeys { target: Path, keys: Vec<String> },
    KeepMatchingKeys { target: Path, pattern: Regex },
    ReplacePattern { target: Path, pattern: Regex, replacement: Replacement },
    ReplaceAllPatterns { target: Path, keys: bool, pattern: Regex, replacement: Replacement },
    ReplaceMatch { target: Path, glob: Regex, replacement: String },
    ReplaceAllMatches { target: Path, glob: Regex, replacement: String },
    TruncateAll { target: Path, limit: usize },
    Limit { target: Path, limit: usize, priority_keys: Vec<String> },
    MergeMaps { target: Path, source: Expr, strategy: MergeStrategy },
    Append { target: Path, values: Vec<Expr> },
    Flatten { target: Path, prefix: String, depth: Option<u64>, resolve_conflicts: bool },
}

const REPLACE_OPTIONALS: [(&str, bool); 2] = [("function", true), ("replacementFormat", true)];

fn signature(name: &str) -> Option<(&'static str, Params)> {
    const REPLACE_PATTERN: [(&str, bool); 5] =
        [("target", false), ("regex", false), ("replacement", false), REPLACE_OPTIONALS[0], REPLACE_OPTIONALS[1]];
    const REPLACE_ALL_PATTERNS: [(&str, bool); 6] = [
        ("target", false),
        ("mode", false),
        ("regex", false),
        ("replacement", false),
        REPLACE_OPTIONALS[0],
        REPLACE_OPTIONALS[1],
    ];
    const REPLACE_MATCH: [(&str, bool); 5] =
        [("target", false), ("pattern", false), ("replacement", false), REPLACE_OPTIONALS[0], REPLACE_OPTIONALS[1]];
    Some(match name {
        "set" => ("set", &[("target", false), ("value", false)]),
        "delete_key" => ("delete_key", &[("target", false), ("key", false)]),
        "delete_matching_keys" => ("delete_matching_keys", &[("target", false), ("pattern", false)]),
        "keep_keys" => ("keep_keys", &[("target", false), ("keys", false)]),
        "keep_matching_keys" => ("keep_matching_keys", &[("target", false), ("pattern", false)]),
        "replace_pattern" => ("replace_pattern", &REPLACE_PATTERN),
        "replace_all_patterns" => ("replace_all_patterns", &REPLACE_ALL_PATTERNS),
        "replace_match" => ("replace_match", &REPLACE_MATCH),
        "replace_all_matches" => ("replace_all_matches", &REPLACE_MATCH),
        "truncate_all" => ("truncate_all", &[("target", false), ("limit", false)]),
        "limit" => ("limit", &[("target", false), ("limit", false), ("priority_keys", false)]),
        "merge_maps" => ("merge_maps", &[("target", false), ("source", false), ("strategy", false)]),
        "append" => ("append", &[("target", false), ("value", true), ("values", true)]),
        "flatten" => ("flatten", &[("target", false), ("prefix", true), ("depth", true), ("resolveConflicts", true)]),
        _ => return None,
    })
}

pub(crate) fn editor_name(editor: &Editor) -> &'static str {
    match editor {
        Editor::Set { .. } => "set",
        Editor::DeleteKey { .. } => "delete_key",
        Editor::DeleteMatchingKeys { .. } => "delete_matching_keys",
        Editor::KeepKeys { .. } => "keep_keys",
        Editor::KeepMatchingKeys { .. } => "keep_matching_keys",
        Editor::ReplacePattern { .. } => "replace_pattern",
        Editor::ReplaceAllPatterns { .. } => "replace_all_patterns",
        Editor::ReplaceMatch { .. } => "replace_match",
        Editor::ReplaceAllMatches { .. } => "replace_all_matches",
        Editor::TruncateAll { .. } => "truncate_all",
        Editor::Limit { .. } => "limit",
        Editor::MergeMaps { .. } => "merge_maps",
        Editor::Append { .. } => "append",
        Editor::Flatten { .. } => "flatten",
    }
}

pub(crate) fn compile_editor(context: ContextKind, call: &CallAst) -> CompileResult<Editor> {
    if !call.keys.is_empty() || call.name.starts_with(|c: char| c.is_ascii_uppercase()) {
        let message = "a statement calls an editor (such as `set`); converters only give values";
        return Err(invalid_argument(&call.name, message));
    }
    let (name, params) = signature(&call.name).ok_or_else(|| ParseErrorKind::UnsupportedFunction(call.name.clone()))?;
    let args = bind_args(call, params)?;
    let arg = |index: usize| args[index].expect("required argument bound");
    let target = compile_path(context, arg(0)).map_err(|e| match e {
        ParseErrorKind::Syntax { .. } => invalid_argument(name, "the target must be a path"),
        other => other,
    })?;
    if target.field.read_only() {
        return Err(ParseErrorKind::ReadOnlyPath(target.text));
    }
    let pattern = |index: usize, what: &str| compile_regex(name, literal_str(name, what, arg(index))?);
    let string = |index: usize, what: &str| literal_str(name, what, arg(index)).map(str::to_string);
    let non_negative = |index: usize, what: &str| {
        let value = literal_int(name, what, arg(index))?;
        usize::try_from(value).map_err(|_| invalid_argument(name, format!("`{what}` cannot be negative: {value}")))
    };
    // The `replace_*` editors end with the optional `function` and `replacementFormat`.
    let replacement = |index: usize| {
        let optional = &args[args.len() - 2..];
        Replacement::compile(name, arg(index), optional[0], optional[1])
    };
    Ok(match name {
        "set" => Editor::Set { target, value: compile_expr(context, arg(1))? },
        "delete_key" => Editor::DeleteKey { target, key: string(1, "key")? },
        "delete_matching_keys" => Editor::DeleteMatchingKeys { target, pattern: pattern(1, "pattern")? },
        "keep_keys" => Editor::KeepKeys { target, keys: literal_strings(name, "keys", arg(1))? },
        "keep_matching_keys" => Editor::KeepMatchingKeys { target, pattern: pattern(1, "pattern")? },
        "replace_pattern" => {
            Editor::ReplacePattern { target, pattern: pattern(1, "regex")?, replacement: replacement(2)? }
        }
        "replace_all_patterns" => Editor::ReplaceAllPatterns {
            target,
            keys: match literal_str(name, "mode", arg(1))? {
                "key" => true,
                "value" => false,
                other => {
                    return Err(invalid_argument(name, format!("invalid mode `{other}`, expected `key` or `value`")))
                }
            },
            pattern: pattern(2, "regex")?,
            replacement: replacement(3)?,
        },
        "replace_match" | "replace_all_matches" => {
            let glob = glob::compile(literal_str(name, "pattern", arg(1))?)
                .map_err(|e| invalid_argument(name, format!("invalid glob pattern: {e}")))?;
            let replacement = replacement(2)?.constant();
            if name == "replace_match" {
                Editor::ReplaceMatch { target, glob, replacement }
            } else {
                Editor::ReplaceAllMatches { target, glob, replacement }
            }
        }
        "truncate_all" => Editor::TruncateAll { target, limit: non_negative(1, "limit")? },
        "limit" => {
            let limit = non_negative(1, "limit")?;
            let priority_keys = literal_strings(name, "priority_keys", arg(2))?;
            if limit < priority_keys.len() {
                return Err(invalid_argument(
                    name,
                    format!("limit {limit} is less than the number of priority keys ({})", priority_keys.len()),
                ));
            }
            Editor::Limit { target, limit, priority_keys }
        }
        "merge_maps" => Editor::MergeMaps {
            target,
            source: compile_expr(context, arg(1))?,
            strategy: match literal_str(name, "strategy", arg(2))? {
                "insert" => MergeStrategy::Insert,
                "update" => MergeStrategy::Update,
                "upsert" => MergeStrategy::Upsert,
                other => {
                    return Err(invalid_argument(
                        name,
                        format!("invalid strategy `{other}`, expected insert, update or upsert"),
                    ))
                }
            },
        },
        "append" => {
            let mut values = Vec::new();
            if let Some(value) = args[1] {
                values.push(compile_expr(context, value)?);
            }
            match args[2] {
                Some(ValueAst::List(items)) => {
                    for item in items {
                        values.push(compile_expr(context, item)?);
                    }
                }
                Some(_) => return Err(invalid_argument(name, "`values` must be a list")),
                None => {}
            }
            if args[1].is_none() && args[2].is_none() {
                return Err(invalid_argument(name, "one of the optional arguments `value` or `values` is required"));
            }
            Editor::Append { target, values }
        }
        _ => {
            Editor::Flatten {
                target,
                prefix: match args[1] {
                    Some(prefix) => literal_str(name, "prefix", prefix)?.to_string(),
                    None => String::new(),
                },
                depth: match args[2] {
                    Some(depth) => {
                        let depth = literal_int(name, "depth", depth)?;
                        Some(u64::try_from(depth).map_err(|_| {
                            invalid_argument(name, format!("invalid depth {depth}: cannot be negative"))
                        })?)
                    }
                    None => None,
                },
                resolve_conflicts: match args[3] {
                    Some(ValueAst::Literal(crate::parser::Literal::Bool(b))) => *b,
                    Some(_) => return Err(invalid_argument(name, "`resolveConflicts` must be true or false")),
                    None => false,
                },
            }
        }
    })
}

/// The map a map editor works on; anything else (nil included) is a type error, as the Collector's
/// `PMapGetter` gives.
fn map_mut<'t>(
    target: &'t mut Target<'_>,
    path: &Path,
    function: &'static str,
) -> Result<&'t mut Vec<KeyValue>, EvalError> {
    let not_a_map = |actual: &'static str| EvalError::Type { function, expected: "map", actual };
    if path.keys.is_empty() && target.is_attributes(path.field) {
        return target.attributes_mut(path.field).ok_or_else(|| not_a_map("nil"));
    }
    // Read first: reaching the slot for writing would create a missing entry.
    let actual = match target.get(path)? {
        Value::Map(_) => None,
        other => Some(other.type_name()),
    };
    if let Some(actual) = actual {
        return Err(not_a_map(actual));
    }
    match target.slot_mut(path)? {
        Some(any_value::Value::KvlistValue(map)) => Ok(&mut map.values),
        other => Err(not_a_map(other.as_ref().map_or("nil", |v| Value::from_any_inner(v).type_name()))),
    }
}

/// Puts `value` under `key`: in place if the key exists (as pdata's `PutEmpty`), else at the end.
fn put(map: &mut Vec<KeyValue>, key: String, value: Option<AnyValue>) {
    match map.iter_mut().find(|kv| kv.key == key) {
        Some(existing) => existing.value = value,
        None => map.push(KeyValue { key, value, ..Default::default() }),
    }
}

fn string_value_mut(kv: &mut KeyValue) -> Option<&mut String> {
    match kv.value.as_mut()?.value.as_mut()? {
        any_value::Value::StringValue(s) => Some(s),
        _ => None,
    }
}

impl Editor {
    pub(crate) fn run(&self, target: &mut Target<'_>) -> Result<(), EvalError> {
        let function = editor_name(self);
        match self {
            Editor::Set { target: path, value } => match value {
                // Literals borrow from the statement, not the item: no copy before writing.
                Expr::Literal(literal) => target.set(path, literal),
                value => {
                    let value = value.eval(target)?.into_owned();
                    target.set(path, &value)
                }
            },
            Editor::DeleteKey { target: path, key } => {
                map_mut(target, path, function)?.retain(|kv| kv.key != *key);
                Ok(())
            }
            Editor::DeleteMatchingKeys { target: path, pattern } => {
                map_mut(target, path, function)?.retain(|kv| !pattern.is_match(&kv.key));
                Ok(())
            }
            Editor::KeepKeys { target: path, keys } => {
                map_mut(target, path, function)?.retain(|kv| keys.contains(&kv.key));
                Ok(())
            }
            Editor::KeepMatchingKeys { target: path, pattern } => {
                map_mut(target, path, function)?.retain(|kv| pattern.is_match(&kv.key));
                Ok(())
            }
            Editor::ReplacePattern { target: path, pattern, replacement } => {
                let replaced = match target.get(path)? {
                    Value::Str(text) => replacement.replace_all(pattern, &text),
                    _ => None,
                };
                match replaced {
                    Some(replaced) => target.set(path, &Value::Str(Cow::Owned(replaced))),
                    None => Ok(()),
                }
            }
            Editor::ReplaceMatch { target: path, glob, replacement } => {
                let matched = matches!(target.get(path)?, Value::Str(text) if glob.is_match(&text));
                if matched {
                    target.set(path, &Value::str(replacement))?;
                }
                Ok(())
            }
            Editor::ReplaceAllMatches { target: path, glob, replacement } => {
                for kv in map_mut(target, path, function)? {
                    if let Some(text) = string_value_mut(kv).filter(|text| glob.is_match(text)) {
                        text.clear();
                        text.push_str(replacement);
                    }
                }
                Ok(())
            }
            Editor::ReplaceAllPatterns { target: path, keys, pattern, replacement } => {
                let map = map_mut(target, path, function)?;
                if *keys {
                    if map.iter().any(|kv| pattern.is_match(&kv.key)) {
                        let mut renamed = Vec::with_capacity(map.len());
                        for kv in map.drain(..) {
                            let key = replacement.replace_all(pattern, &kv.key).unwrap_or(kv.key);
                            put(&mut renamed, key, kv.value);
                        }
                        *map = renamed;
                    }
                } else {
                    for kv in map.iter_mut() {
                        if let Some(text) = string_value_mut(kv) {
                            if let Some(replaced) = replacement.replace_all(pattern, text) {
                                *text = replaced;
                            }
                        }
                    }
                }
                Ok(())
            }
            Editor::TruncateAll { target: path, limit } => {
                for kv in map_mut(target, path, function)? {
                    if let Some(text) = string_value_mut(kv).filter(|text| text.len() > *limit) {
                        // Never split a UTF-8 character: cut at the last boundary within the limit.
                        let cut = (0..=*limit).rev().find(|at| text.is_char_boundary(*at)).unwrap_or(0);
                        text.truncate(cut);
                    }
                }
                Ok(())
            }
            Editor::Limit { target: path, limit, priority_keys } => {
                let map = map_mut(target, path, function)?;
                if map.len() > *limit {
                    let mut kept = map.iter().filter(|kv| priority_keys.contains(&kv.key)).count();
                    map.retain(|kv| {
                        if priority_keys.contains(&kv.key) {
                            return true;
                        }
                        kept += 1;
                        kept <= *limit
                    });
                }
                Ok(())
            }
            Editor::MergeMaps { target: path, source, strategy } => {
                let source = match source.eval(target)?.into_owned() {
                    Value::Map(map) => map.into_owned(),
                    other => return Err(EvalError::Type { function, expected: "map", actual: other.type_name() }),
                };
                let map = map_mut(target, path, function)?;
                for KeyValue { key, value, .. } in source {
                    let exists = map.iter().any(|kv| kv.key == key);
                    let write = match strategy {
                        MergeStrategy::Insert => !exists,
                        MergeStrategy::Update => exists,
                        MergeStrategy::Upsert => true,
                    };
                    if write {
                        put(map, key, value);
                    }
                }
                Ok(())
            }
            Editor::Append { target: path, values } => {
                let mut items: Vec<AnyValue> = match target.get(path)? {
                    Value::Nil => Vec::new(),
                    Value::List(list) => list.into_owned(),
                    Value::Map(_) => {
                        return Err(EvalError::Type { function, expected: "a scalar or slice", actual: "map" })
                    }
                    scalar => vec![AnyValue { value: scalar.into_owned().into_any() }],
                };
                for value in values {
                    items.push(AnyValue { value: value.eval(target)?.into_owned().into_any() });
                }
                target.set(path, &Value::List(Cow::Owned(items)))
            }
            Editor::Flatten { target: path, prefix, depth, resolve_conflicts } => {
                let map = map_mut(target, path, function)?;
                let mut flat = Vec::with_capacity(map.len());
                let mut seen: Vec<(String, usize)> = Vec::new();
                let options =
                    FlattenOptions { max_depth: depth.unwrap_or(u64::MAX), resolve_conflicts: *resolve_conflicts };
                flatten_into(std::mem::take(map), prefix, 0, &options, &mut flat, &mut seen);
                *map = flat;
                Ok(())
            }
        }
    }
}

struct FlattenOptions {
    max_depth: u64,
    resolve_conflicts: bool,
}

fn flatten_into(
    map: Vec<KeyValue>,
    prefix: &str,
    depth: u64,
    options: &FlattenOptions,
    out: &mut Vec<KeyValue>,
    seen: &mut Vec<(String, usize)>,
) {
    let join = |key: &str| if prefix.is_empty() { key.to_string() } else { format!("{prefix}.{key}") };
    for KeyValue { key, value, .. } in map {
        let key = join(&key);
        match value.and_then(|v| v.value) {
            Some(any_value::Value::KvlistValue(inner)) if depth < options.max_depth => {
                flatten_into(inner.values, &key, depth + 1, options, out, seen);
            }
            Some(any_value::Value::ArrayValue(list)) => {
                for (index, item) in list.values.into_iter().enumerate() {
                    put(out, format!("{key}.{index}"), Some(item));
                }
            }
            other => {
                let value = Some(AnyValue { value: other });
                if !options.resolve_conflicts {
                    put(out, key, value);
                    continue;
                }
                // A repeated key gets `.1`, `.2`, ... appended, in the order the keys come.
                match seen.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, count)) => {
                        let renamed = format!("{key}.{count}");
                        *count += 1;
                        put(out, renamed, value);
                    }
                    None => {
                        seen.push((key.clone(), 1));
                        put(out, key, value);
                    }
                }
            }
        }
    }
}
