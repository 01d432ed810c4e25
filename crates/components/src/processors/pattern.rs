//! A compiled `regexp` pattern with a fast path for the shapes written most: plain text (`healthcheck`),
//! text at the start or end (`^START RequestId`, `\.png$`), a whole string (`^GET$`) and alternatives of
//! plain text (`timeout|refused`). Those are answered by substring search, which skips through the text
//! several bytes at a time; the binary's regex engine is built without its literal optimisations (they cost
//! more size than this), so it would run its automaton over every byte.
//!
//! Replacement and captures always go through the regex; the fast path then only rules texts out.

use regex::Regex;
use regex_syntax::hir::{Hir, HirKind, Look};

/// A regex and, when its shape allows, the substring test that decides it.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    regex: Regex,
    shape: Option<Shape>,
}

/// Shapes of patterns decided by plain string comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Shape {
    /// Matches when the text contains any of these.
    Contains(Vec<String>),
    /// `^text`.
    StartsWith(String),
    /// `text$`.
    EndsWith(String),
    /// `^text$`.
    Equals(String),
}

impl Pattern {
    /// Compiles `pattern`; the error is the regex crate's, for the caller to locate.
    pub(crate) fn new(pattern: &str) -> Result<Pattern, regex::Error> {
        let regex = Regex::new(pattern)?;
        // The regex parsed, so the same parser accepts it; a failure would only cost the fast path.
        let shape = regex_syntax::parse(pattern).ok().and_then(|hir| shape_of(&hir));
        Ok(Pattern { regex, shape })
    }

    /// True when the pattern matches anywhere in `text`.
    pub(crate) fn is_match(&self, text: &str) -> bool {
        match &self.shape {
            Some(Shape::Contains(needles)) => needles.iter().any(|needle| text.contains(needle.as_str())),
            Some(Shape::StartsWith(prefix)) => text.starts_with(prefix.as_str()),
            Some(Shape::EndsWith(suffix)) => text.ends_with(suffix.as_str()),
            Some(Shape::Equals(whole)) => text == whole,
            None => self.regex.is_match(text),
        }
    }

    /// `text` with every match replaced by `with` (taken literally); `None` when nothing matches.
    pub(crate) fn replace_all(&self, text: &str, with: &str) -> Option<String> {
        if !self.is_match(text) {
            return None;
        }
        Some(self.regex.replace_all(text, regex::NoExpand(with)).into_owned())
    }
}

/// The shape of a parsed pattern, when it is one of the [`Shape`]s.
fn shape_of(hir: &Hir) -> Option<Shape> {
    match hir.kind() {
        HirKind::Literal(_) => Some(Shape::Contains(vec![literal(hir)?])),
        HirKind::Alternation(alternatives) => {
            alternatives.iter().map(literal).collect::<Option<Vec<_>>>().map(Shape::Contains)
        }
        HirKind::Concat(parts) => match parts.as_slice() {
            [start, text] if is_look(start, Look::Start) => Some(Shape::StartsWith(literal(text)?)),
            [text, end] if is_look(end, Look::End) => Some(Shape::EndsWith(literal(text)?)),
            [start, text, end] if is_look(start, Look::Start) && is_look(end, Look::End) => {
                Some(Shape::Equals(literal(text)?))
            }
            _ => None,
        },
        _ => None,
    }
}

/// The text of a literal node (the parser joins adjacent characters into one).
fn literal(hir: &Hir) -> Option<String> {
    match hir.kind() {
        HirKind::Literal(literal) => String::from_utf8(literal.0.to_vec()).ok(),
        _ => None,
    }
}

fn is_look(hir: &Hir, look: Look) -> bool {
    matches!(hir.kind(), HirKind::Look(found) if *found == look)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(pattern: &str) -> Option<Shape> {
        Pattern::new(pattern).unwrap().shape
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn plain_shapes_are_recognised() {
        assert_eq!(shape("healthcheck"), Some(Shape::Contains(strings(&["healthcheck"]))));
        assert_eq!(shape(r"GET /health\.json"), Some(Shape::Contains(strings(&["GET /health.json"]))));
        assert_eq!(shape("timeout|refused"), Some(Shape::Contains(strings(&["timeout", "refused"]))));
        assert_eq!(shape("^START RequestId"), Some(Shape::StartsWith("START RequestId".into())));
        assert_eq!(shape(r"\Aorders"), Some(Shape::StartsWith("orders".into())));
        assert_eq!(shape(r"\.png$"), Some(Shape::EndsWith(".png".into())));
        assert_eq!(shape("^GET$"), Some(Shape::Equals("GET".into())));
        assert_eq!(shape("é✓"), Some(Shape::Contains(strings(&["é✓"]))));
    }

    #[test]
    fn other_shapes_go_to_the_regex() {
        for pattern in [
            "",
            "a|b",
            "(?i)healthcheck",
            "(?m)^START",
            "(?m)done$",
            r"\bword\b",
            "health.*check",
            "(health)",
            "^$",
            r"\d{4}",
            "^a|b$",
        ] {
            // `a|b` is parsed as the class `[ab]`, not as alternatives.
            assert_eq!(shape(pattern), None, "{pattern:?} should go to the regex");
        }
    }

    /// Every fast answer equals the regex's, on texts chosen to hit each edge.
    #[test]
    fn fast_answers_equal_the_regex() {
        let patterns = [
            "healthcheck",
            "timeout|refused",
            "^START RequestId",
            r"\.png$",
            "^GET$",
            "(?i)healthcheck",
            "(?m)^START",
            "a",
            "é✓",
        ];
        let texts = [
            "",
            "healthcheck",
            "GET /healthcheck HTTP/1.1",
            "HealthCheck",
            "connection refused",
            "read timeout",
            "START RequestId: 1",
            " START RequestId",
            "x\nSTART",
            "logo.png",
            "logo.png\n",
            "logo.pngs",
            "GET",
            "GET ",
            "a",
            "xé✓y",
        ];
        for pattern in patterns {
            let compiled = Pattern::new(pattern).unwrap();
            let regex = Regex::new(pattern).unwrap();
            for text in texts {
                assert_eq!(compiled.is_match(text), regex.is_match(text), "{pattern:?} on {text:?}");
            }
        }
    }

    #[test]
    fn replacement_is_literal_and_none_without_a_match() {
        let card = Pattern::new(r"\b\d{4}[- ]?\d{4}[- ]?\d{4}[- ]?\d{4}\b").unwrap();
        assert_eq!(card.replace_all("card 4111-1111-1111-1111 ok", "$1****"), Some("card $1**** ok".into()));
        assert_eq!(card.replace_all("order 42", "****"), None);
        let word = Pattern::new("secret|token").unwrap();
        assert_eq!(word.replace_all("a secret and a token", "***"), Some("a *** and a ***".into()));
        assert_eq!(word.replace_all("nothing here", "***"), None);
    }

    #[test]
    fn a_bad_pattern_is_the_regex_error() {
        let error = Pattern::new("(?<x").unwrap_err().to_string();
        assert!(error.contains("unclosed capture group name"), "{error}");
    }
}
