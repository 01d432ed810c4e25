//! A subset of the OpenTelemetry Transformation Language (OTTL), as the Collector's `transform` and
//! `filter` processors use it.
//!
//! Statements and conditions are parsed once, at start-up, into resolved enums (paths, functions,
//! compiled regexes); evaluation then works in place on the OTLP types of `opentelemetry-proto`, and
//! allocates only where a statement builds a new string or copies a value.
//!
//! ```
//! use lambdatel_ottl::{ContextKind, LogContext, Statement};
//! use opentelemetry_proto::tonic::{common::v1::InstrumentationScope, logs::v1::LogRecord, resource::v1::Resource};
//!
//! let statement = Statement::parse(r#"set(severity_text, "WARN") where severity_number >= 13"#, Some(ContextKind::Log)).unwrap();
//! let (mut resource, mut scope) = (Resource::default(), InstrumentationScope::default());
//! let mut log = LogRecord { severity_number: 13, ..Default::default() };
//! let mut context = LogContext { resource: &mut resource, scope: &mut scope, log: &mut log };
//! assert!(statement.execute(&mut context).unwrap());
//! assert_eq!(log.severity_text, "WARN");
//! ```
//!
//! Where this differs from the Collector, and why:
//! - patterns, replacements, key lists, modes and strategies must be literals, so that regexes compile
//!   once; a path there is a parse error;
//! - map literals (`{...}`), arithmetic and functions outside the subset are parse errors naming them;
//! - `truncate_all` and `Substring` never split a UTF-8 character (Go strings may hold invalid UTF-8,
//!   OTLP strings may not): `truncate_all` cuts at the last boundary within the limit, `Substring` fails;
//! - `ParseJSON` returns object keys sorted (Go's map order is unspecified);
//! - `Now()` returns Unix nanoseconds, fit for the `*_unix_nano` paths (there is no time type here);
//! - the `function` argument of the `replace_*` editors takes `SHA256`, `ToLowerCase` or `ToUpperCase`.
#![forbid(unsafe_code)]

mod access;
mod assign;
mod compile;
mod context;
mod converters;
mod editors;
mod error;
mod glob;
mod lexer;
mod parser;
mod paths;
mod replace;
mod value;

use compile::{collect_condition_paths, collect_paths, compile_condition, infer_context, BoolExpr};
use editors::{compile_editor, editor_name, Editor};
use value::Value;

pub use context::{
    DataPointContext, EvalContext, LogContext, MetricContext, ResourceContext, ScopeContext, SpanContext,
    SpanEventContext,
};
pub use error::{EvalError, ParseError, ParseErrorKind};
pub use paths::ContextKind;

/// An editor call with an optional `where` clause, such as
/// `set(attributes["env"], "prod") where resource.attributes["service.name"] == "api"`.
pub struct Statement {
    text: String,
    context: ContextKind,
    editor: Editor,
    condition: Option<BoolExpr>,
}

/// A boolean expression, as the `filter` processor and `where` clauses use them.
pub struct Condition {
    text: String,
    context: ContextKind,
    condition: BoolExpr,
}

fn syntax_error(text: &str, (offset, message): (usize, String)) -> ParseError {
    ParseError { statement: text.to_string(), kind: ParseErrorKind::Syntax { offset, message } }
}

fn located(text: &str) -> impl Fn(ParseErrorKind) -> ParseError + '_ {
    move |kind| ParseError { statement: text.to_string(), kind }
}

impl Statement {
    /// Parses a statement for `context`, or, with `None`, for the context its path prefixes name (the
    /// most specific one: `set(span.attributes["x"], resource.attributes["y"])` runs per span).
    pub fn parse(text: &str, context: Option<ContextKind>) -> Result<Self, ParseError> {
        let ast = parser::parse_statement(text).map_err(|e| syntax_error(text, e))?;
        let context = match context {
            Some(context) => context,
            None => {
                let mut paths = Vec::new();
                ast.editor.args.iter().for_each(|arg| collect_paths(&arg.value, &mut paths));
                if let Some(condition) = &ast.condition {
                    collect_condition_paths(condition, &mut paths);
                }
                infer_context(paths.into_iter()).map_err(located(text))?
            }
        };
        let editor = compile_editor(context, &ast.editor).map_err(located(text))?;
        let condition = match &ast.condition {
            Some(condition) => Some(compile_condition(context, condition).map_err(located(text))?),
            None => None,
        };
        Ok(Statement { text: text.to_string(), context, editor, condition })
    }

    pub fn context(&self) -> ContextKind {
        self.context
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Runs the statement on one item: `Ok(true)` if its condition held and the editor ran, `Ok(false)`
    /// if the condition did not hold. On error the item is as the failing function found it.
    pub fn execute<C: EvalContext>(&self, context: &mut C) -> Result<bool, EvalError> {
        check_context(self.context, C::KIND, editor_name(&self.editor))?;
        let mut target = context.target();
        if let Some(condition) = &self.condition {
            if !condition.eval(&target)? {
                return Ok(false);
            }
        }
        self.editor.run(&mut target)?;
        Ok(true)
    }
}

impl Condition {
    /// Parses a condition for `context`, or, with `None`, for the context its path prefixes name.
    pub fn parse(text: &str, context: Option<ContextKind>) -> Result<Self, ParseError> {
        let ast = parser::parse_condition(text).map_err(|e| syntax_error(text, e))?;
        let context = match context {
            Some(context) => context,
            None => {
                let mut paths = Vec::new();
                collect_condition_paths(&ast, &mut paths);
                infer_context(paths.into_iter()).map_err(located(text))?
            }
        };
        let condition = compile_condition(context, &ast).map_err(located(text))?;
        Ok(Condition { text: text.to_string(), context, condition })
    }

    pub fn context(&self) -> ContextKind {
        self.context
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Evaluates the condition on one item; the item is not changed.
    pub fn evaluate<C: EvalContext>(&self, context: &mut C) -> Result<bool, EvalError> {
        check_context(self.context, C::KIND, "condition")?;
        self.condition.eval(&context.target())
    }
}

fn check_context(expected: ContextKind, given: ContextKind, statement: &'static str) -> Result<(), EvalError> {
    if expected == given {
        Ok(())
    } else {
        Err(EvalError::WrongContext { statement, given: given.name() })
    }
}

impl BoolExpr {
    fn eval(&self, target: &context::Target<'_>) -> Result<bool, EvalError> {
        Ok(match self {
            BoolExpr::Literal(b) => *b,
            BoolExpr::Or(items) => {
                for item in items {
                    if item.eval(target)? {
                        return Ok(true);
                    }
                }
                false
            }
            BoolExpr::And(items) => {
                for item in items {
                    if !item.eval(target)? {
                        return Ok(false);
                    }
                }
                true
            }
            BoolExpr::Not(inner) => !inner.eval(target)?,
            BoolExpr::Compare(left, op, right) => value::compare(&left.eval(target)?, *op, &right.eval(target)?),
            BoolExpr::Call(call) => match call.eval(target)? {
                Value::Bool(b) => b,
                other => {
                    return Err(EvalError::Type { function: call.name, expected: "bool", actual: other.type_name() })
                }
            },
        })
    }
}
