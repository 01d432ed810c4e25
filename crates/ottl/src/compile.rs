//! Resolution of a parsed tree for one context: paths to fields, enums to numbers, function names to
//! enums with their arguments bound. Everything that can fail on the text fails here, once.

use crate::converters::{compile_converter, ConverterCall};
use crate::error::ParseErrorKind;
use crate::lexer::CmpOp;
use crate::parser::{ArgAst, BoolAst, CallAst, Literal, ValueAst};
use crate::paths::{enum_value, path_text, prefix_context, resolve, ContextKind, Path};
use crate::value::Value;

pub(crate) enum Expr {
    Literal(Value<'static>),
    List(Vec<Expr>),
    Path(Path),
    Call(Box<ConverterCall>),
}

pub(crate) enum BoolExpr {
    Literal(bool),
    Or(Vec<BoolExpr>),
    And(Vec<BoolExpr>),
    Not(Box<BoolExpr>),
    Compare(Expr, CmpOp, Expr),
    Call(Box<ConverterCall>),
}

pub(crate) type CompileResult<T> = Result<T, ParseErrorKind>;

pub(crate) fn literal_value(literal: &Literal) -> Value<'static> {
    match literal {
        Literal::Nil => Value::Nil,
        Literal::Bool(b) => Value::Bool(*b),
        Literal::Int(i) => Value::Int(*i),
        Literal::Float(f) => Value::Double(*f),
        Literal::Str(s) => Value::Str(s.clone().into()),
        Literal::Bytes(b) => Value::Bytes(b.clone().into()),
    }
}

pub(crate) fn compile_expr(context: ContextKind, ast: &ValueAst) -> CompileResult<Expr> {
    Ok(match ast {
        ValueAst::Literal(literal) => Expr::Literal(literal_value(literal)),
        ValueAst::List(items) => {
            Expr::List(items.iter().map(|item| compile_expr(context, item)).collect::<Result<_, _>>()?)
        }
        ValueAst::Path { .. } => Expr::Path(compile_path(context, ast)?),
        ValueAst::Enum(name) => Expr::Literal(Value::Int(
            enum_value(context, name).ok_or_else(|| ParseErrorKind::UnknownEnum(name.clone()))?,
        )),
        ValueAst::Call(call) => Expr::Call(Box::new(compile_converter(context, call)?)),
    })
}

pub(crate) fn compile_path(context: ContextKind, ast: &ValueAst) -> CompileResult<Path> {
    match ast {
        ValueAst::Path { segments, keys } => resolve(context, segments, keys).ok_or_else(|| {
            ParseErrorKind::UnsupportedPath { path: path_text(segments, keys), context: context.name() }
        }),
        _ => Err(ParseErrorKind::Syntax { offset: 0, message: "expected a path".into() }),
    }
}

pub(crate) fn compile_condition(context: ContextKind, ast: &BoolAst) -> CompileResult<BoolExpr> {
    let all = |items: &[BoolAst]| -> CompileResult<Vec<BoolExpr>> {
        items.iter().map(|item| compile_condition(context, item)).collect()
    };
    Ok(match ast {
        BoolAst::Literal(b) => BoolExpr::Literal(*b),
        BoolAst::Or(items) => BoolExpr::Or(all(items)?),
        BoolAst::And(items) => BoolExpr::And(all(items)?),
        BoolAst::Not(inner) => BoolExpr::Not(Box::new(compile_condition(context, inner)?)),
        BoolAst::Compare(left, op, right) => {
            BoolExpr::Compare(compile_expr(context, left)?, *op, compile_expr(context, right)?)
        }
        BoolAst::Call(call) => BoolExpr::Call(Box::new(compile_converter(context, call)?)),
    })
}

/// A function's parameters: name and whether it may be left out.
pub(crate) type Params = &'static [(&'static str, bool)];

/// Binds positional then named arguments to `params`; `None` for optional ones left out.
pub(crate) fn bind_args(call: &CallAst, params: Params) -> CompileResult<Vec<Option<&ValueAst>>> {
    let invalid = |message: String| ParseErrorKind::InvalidArgument { function: call.name.clone(), message };
    let mut bound: Vec<Option<&ValueAst>> = vec![None; params.len()];
    for (position, ArgAst { name, value }) in call.args.iter().enumerate() {
        let index = match name {
            None if position < params.len() => position,
            None => return Err(invalid(format!("takes at most {} arguments", params.len()))),
            Some(name) => params
                .iter()
                .position(|(param, _)| param == name)
                .ok_or_else(|| invalid(format!("has no argument named `{name}`")))?,
        };
        if bound[index].replace(value).is_some() {
            return Err(invalid(format!("argument `{}` is given twice", params[index].0)));
        }
    }
    for ((param, optional), value) in params.iter().zip(&bound) {
        if value.is_none() && !optional {
            return Err(invalid(format!("missing argument `{param}`")));
        }
    }
    Ok(bound)
}

pub(crate) fn invalid_argument(function: &str, message: impl Into<String>) -> ParseErrorKind {
    ParseErrorKind::InvalidArgument { function: function.to_string(), message: message.into() }
}

/// A string literal argument (patterns, replacements, modes: fixed at parse time so regexes compile once).
pub(crate) fn literal_str<'a>(function: &str, name: &str, ast: &'a ValueAst) -> CompileResult<&'a str> {
    match ast {
        ValueAst::Literal(Literal::Str(s)) => Ok(s),
        _ => Err(invalid_argument(function, format!("`{name}` must be a string literal"))),
    }
}

pub(crate) fn literal_int(function: &str, name: &str, ast: &ValueAst) -> CompileResult<i64> {
    match ast {
        ValueAst::Literal(Literal::Int(i)) => Ok(*i),
        _ => Err(invalid_argument(function, format!("`{name}` must be an integer literal"))),
    }
}

pub(crate) fn literal_strings(function: &str, name: &str, ast: &ValueAst) -> CompileResult<Vec<String>> {
    match ast {
        ValueAst::List(items) => {
            items.iter().map(|item| literal_str(function, name, item).map(str::to_string)).collect()
        }
        _ => Err(invalid_argument(function, format!("`{name}` must be a list of string literals"))),
    }
}

pub(crate) fn compile_regex(function: &str, pattern: &str) -> CompileResult<regex::Regex> {
    regex::Regex::new(pattern).map_err(|e| invalid_argument(function, format!("invalid regex `{pattern}`: {e}")))
}

/// The context a statement written in the inferred form runs in: the most specific context among its
/// path prefixes (`span.attributes` and `resource.attributes` together run per span).
pub(crate) fn infer_context<'a>(paths: impl Iterator<Item = &'a ValueAst>) -> CompileResult<ContextKind> {
    let mut inferred: Option<ContextKind> = None;
    for path in paths {
        let ValueAst::Path { segments, keys } = path else { continue };
        let context = prefix_context(segments).ok_or_else(|| {
            ParseErrorKind::ContextInference(format!(
                "path `{}` has no context prefix (such as `span.` or `resource.`)",
                path_text(segments, keys)
            ))
        })?;
        inferred = Some(match inferred {
            None => context,
            Some(current) if current.can_access(context) => current,
            Some(current) if context.can_access(current) => context,
            Some(current) => {
                return Err(ParseErrorKind::ContextInference(format!(
                    "paths of `{}` and `{}` cannot be used together",
                    current.name(),
                    context.name()
                )))
            }
        });
    }
    inferred.ok_or_else(|| ParseErrorKind::ContextInference("no path to infer it from".into()))
}

/// Every path in a value tree, converter arguments included.
pub(crate) fn collect_paths<'a>(ast: &'a ValueAst, out: &mut Vec<&'a ValueAst>) {
    match ast {
        ValueAst::Path { .. } => out.push(ast),
        ValueAst::List(items) => items.iter().for_each(|item| collect_paths(item, out)),
        ValueAst::Call(call) => call.args.iter().for_each(|arg| collect_paths(&arg.value, out)),
        ValueAst::Literal(_) | ValueAst::Enum(_) => {}
    }
}

pub(crate) fn collect_condition_paths<'a>(ast: &'a BoolAst, out: &mut Vec<&'a ValueAst>) {
    match ast {
        BoolAst::Or(items) | BoolAst::And(items) => items.iter().for_each(|item| collect_condition_paths(item, out)),
        BoolAst::Not(inner) => collect_condition_paths(inner, out),
        BoolAst::Compare(left, _, right) => {
            collect_paths(left, out);
            collect_paths(right, out);
        }
        BoolAst::Call(call) => call.args.iter().for_each(|arg| collect_paths(&arg.value, out)),
        BoolAst::Literal(_) => {}
    }
}
