//! The replacement of the `replace_*` editors: a `$1`-style template, optionally passed through a
//! converter (`SHA256`, `ToLowerCase`, `ToUpperCase`) and a `%s` format, as the Collector's optional
//! `function` and `replacementFormat` arguments do.

use std::borrow::Cow;

use regex::Regex;
use sha2::{Digest, Sha256};

use crate::compile::{invalid_argument, literal_str, CompileResult};
use crate::parser::ValueAst;
use crate::value::encode_hex;

#[derive(Debug, Clone, Copy)]
enum Function {
    Sha256,
    ToLowerCase,
    ToUpperCase,
}

impl Function {
    fn apply(self, input: &str) -> String {
        match self {
            Function::Sha256 => encode_hex(&Sha256::digest(input.as_bytes())),
            Function::ToLowerCase => input.to_lowercase(),
            Function::ToUpperCase => input.to_uppercase(),
        }
    }
}

pub(crate) struct Replacement {
    template: String,
    function: Option<Function>,
    /// The format's text before and after its `%s`.
    format: Option<(String, String)>,
}

impl Replacement {
    pub(crate) fn compile(
        editor: &str,
        template: &ValueAst,
        function: Option<&ValueAst>,
        format: Option<&ValueAst>,
    ) -> CompileResult<Self> {
        let template = literal_str(editor, "replacement", template)?.to_string();
        let function = match function {
            None => None,
            Some(ValueAst::Enum(name)) => Some(match name.as_str() {
                "SHA256" => Function::Sha256,
                "ToLowerCase" => Function::ToLowerCase,
                "ToUpperCase" => Function::ToUpperCase,
                other => {
                    return Err(invalid_argument(
                        editor,
                        format!("`function` `{other}` is not supported (SHA256, ToLowerCase or ToUpperCase)"),
                    ))
                }
            }),
            Some(_) => return Err(invalid_argument(editor, "`function` must be a converter name such as SHA256")),
        };
        let format = match format {
            None => None,
            Some(_) if function.is_none() => {
                return Err(invalid_argument(editor, "`replacementFormat` needs `function`"));
            }
            Some(format) => {
                let format = literal_str(editor, "replacementFormat", format)?;
                let (before, after) = format
                    .split_once("%s")
                    .filter(|(before, after)| !before.contains('%') && !after.contains('%'))
                    .ok_or_else(|| {
                        invalid_argument(
                            editor,
                            "`replacementFormat` must contain one `%s` and no other format specifier",
                        )
                    })?;
                Some((before.to_string(), after.to_string()))
            }
        };
        Ok(Replacement { template, function, format })
    }

    /// The constant a glob-matching editor writes: the function applies to the replacement itself.
    pub(crate) fn constant(&self) -> String {
        self.finish(&self.template)
    }

    fn finish(&self, expanded: &str) -> String {
        let Some(function) = self.function else { return expanded.to_string() };
        let value = function.apply(expanded);
        match &self.format {
            Some((before, after)) => format!("{before}{value}{after}"),
            None => value,
        }
    }

    /// Replaces every match of `pattern` in `text`; `None` when nothing matched. With a function, each
    /// match's expanded template goes through it and every occurrence of the matched text is replaced,
    /// as the Collector does.
    pub(crate) fn replace_all(&self, pattern: &Regex, text: &str) -> Option<String> {
        if self.function.is_none() {
            return match pattern.replace_all(text, self.template.as_str()) {
                Cow::Owned(replaced) => Some(replaced),
                Cow::Borrowed(_) => None,
            };
        }
        let mut updated: Option<String> = None;
        for captures in pattern.captures_iter(text) {
            let matched = captures.get(0).map_or("", |m| m.as_str());
            let mut expanded = String::new();
            captures.expand(&self.template, &mut expanded);
            let value = self.finish(&expanded);
            let current = updated.as_deref().unwrap_or(text);
            updated = Some(current.replace(matched, &value));
        }
        updated
    }
}
