//! Errors: `ParseError` at start-up (the caller adds the file and line), `EvalError` per item (the caller
//! applies its `error_mode`).

use thiserror::Error;

/// A statement or condition that cannot be used; `statement` is the text as written.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{kind} in `{statement}`")]
pub struct ParseError {
    pub statement: String,
    pub kind: ParseErrorKind,
}

#[derive(Debug, Clone, PartialEq, Error)]
pub enum ParseErrorKind {
    #[error("syntax error at offset {offset}: {message}")]
    Syntax { offset: usize, message: String },
    #[error("unsupported function `{0}`")]
    UnsupportedFunction(String),
    #[error("unsupported path `{path}` in context `{context}`")]
    UnsupportedPath { path: String, context: &'static str },
    #[error("unknown enum `{0}`")]
    UnknownEnum(String),
    #[error("unknown context `{0}` (expected resource, scope, span, spanevent, log, metric or datapoint)")]
    UnknownContext(String),
    #[error("cannot infer the context: {0}")]
    ContextInference(String),
    #[error("`{function}`: {message}")]
    InvalidArgument { function: String, message: String },
    #[error("path `{0}` is read-only")]
    ReadOnlyPath(String),
}

/// A failure while evaluating one item; nothing of the item was changed by the failing function.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum EvalError {
    #[error("`{function}`: expected {expected}, got {actual}")]
    Type { function: &'static str, expected: &'static str, actual: &'static str },
    #[error("`{function}`: {message}")]
    Invalid { function: &'static str, message: String },
    #[error("a `{statement}` statement was run on a `{given}` context")]
    WrongContext { statement: &'static str, given: &'static str },
}
